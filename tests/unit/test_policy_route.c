/*
 * test_policy_route: policy_route(), where a new request goes, as a table:
 * every method, a Request-URI scheme we do not serve, Require and
 * Proxy-Require with options we do not know, for a request for us (REGISTER,
 * OPTIONS outside a dialog) and for one we proxy; and
 * policy_request_is_ours().
 */
#include "check.h"
#include "policy/policy.h"
#include "sip/sip.h"

#include <errno.h>
#include <stdio.h>

static struct sip_hdr hdrs[64];
static struct sip_msg m;
static char buf[2048];

/* Parse method with Request-URI ruri, a To tag or not, and more header
 * lines (each ending in CRLF). */
static int parse(const char *method, const char *ruri, bool to_tag, const char *more)
{
	struct sip_limits l = SIP_LIMITS_DEFAULT;
	int n = snprintf(buf, sizeof(buf),
			 "%s %s SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1;rport\r\n"
			 "Max-Forwards: 70\r\n"
			 "From: <sip:1001@example.test>;tag=abc\r\n"
			 "To: <sip:1002@example.test>%s\r\n"
			 "Call-ID: 1@test\r\n"
			 "CSeq: 1 %s\r\n"
			 "%s"
			 "Content-Length: 0\r\n\r\n",
			 method, ruri, to_tag ? ";tag=t1" : "", method, more);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return EOVERFLOW;
	return sip_msg_parse(&m, hdrs, ARRAY_SIZE(hdrs), buf, (size_t)n, false, &l);
}

enum to { ANSWER, REGISTRAR, PROXY };

static const struct row {
	const char *method, *ruri;
	bool to_tag;
	const char *more;
	uint16_t status; /* with to == ANSWER; 0: nothing is sent */
	const char *reason;
	enum to to;
} rows[] = {
	/* every method, plainly */
	{ "INVITE", "sip:1002@example.test", false, "", 0, NULL, PROXY },
	{ "ACK", "sip:1002@example.test", true, "", 0, NULL, ANSWER },
	{ "BYE", "sip:1002@example.test", true, "", 0, NULL, PROXY },
	{ "CANCEL", "sip:1002@example.test", false, "", 481, "Call/Transaction Does Not Exist",
	  ANSWER },
	{ "OPTIONS", "sip:example.test", false, "", 200, "OK", ANSWER },
	{ "OPTIONS", "sip:1002@example.test", true, "", 0, NULL, PROXY },
	{ "REGISTER", "sip:example.test", false, "", 0, NULL, REGISTRAR },
	{ "PRACK", "sip:1002@example.test", true, "", 0, NULL, PROXY },
	{ "SUBSCRIBE", "sip:1002@example.test", false, "", 0, NULL, PROXY },
	{ "NOTIFY", "sip:1002@example.test", true, "", 0, NULL, PROXY },
	{ "PUBLISH", "sip:1002@example.test", false, "", 405, "Method Not Allowed", ANSWER },
	{ "INFO", "sip:1002@example.test", true, "", 0, NULL, PROXY },
	{ "REFER", "sip:1002@example.test", true, "", 0, NULL, PROXY },
	{ "MESSAGE", "sip:1002@example.test", false, "", 0, NULL, PROXY },
	{ "UPDATE", "sip:1002@example.test", true, "", 0, NULL, PROXY },
	{ "FROB", "sip:1002@example.test", false, "", 501, "Not Implemented", ANSWER },
	/* a scheme we do not serve: after the method, before everything else */
	{ "INVITE", "mailto:1002@example.test", false, "", 416, "Unsupported URI Scheme", ANSWER },
	{ "REGISTER", "mailto:example.test", false, "", 416, "Unsupported URI Scheme", ANSWER },
	{ "CANCEL", "mailto:1002@example.test", false, "", 416, "Unsupported URI Scheme", ANSWER },
	{ "FROB", "mailto:1002@example.test", false, "", 501, "Not Implemented", ANSWER },
	{ "PUBLISH", "mailto:1002@example.test", false, "", 405, "Method Not Allowed", ANSWER },
	{ "INVITE", "tel:+15551230000", false, "", 0, NULL, PROXY },
	/* Require: for us, an option we do not know is refused; proxied, it is
	 * the far end's business (16.3 step 2) */
	{ "REGISTER", "sip:example.test", false, "Require: frobnication\r\n", 420, "Bad Extension",
	  ANSWER },
	{ "OPTIONS", "sip:example.test", false, "Require: frob, nication\r\n", 420, "Bad Extension",
	  ANSWER },
	{ "OPTIONS", "sip:1002@example.test", true, "Require: frob\r\n", 0, NULL, PROXY },
	{ "INVITE", "sip:1002@example.test", false, "Require: 100rel, frob\r\n", 0, NULL, PROXY },
	{ "MESSAGE", "sip:1002@example.test", false, "Require: frob\r\n", 0, NULL, PROXY },
	/* Proxy-Require: refused for us and as a proxy */
	{ "REGISTER", "sip:example.test", false, "Proxy-Require: frob\r\n", 420, "Bad Extension",
	  ANSWER },
	{ "OPTIONS", "sip:example.test", false, "Proxy-Require: frob\r\n", 420, "Bad Extension",
	  ANSWER },
	{ "INVITE", "sip:1002@example.test", false, "Proxy-Require: frob\r\n", 420,
	  "Bad Extension", ANSWER },
	{ "BYE", "sip:1002@example.test", true, "Require: a\r\nProxy-Require: b\r\n", 420,
	  "Bad Extension", ANSWER },
	/* the method and the scheme come first; an ACK never gets an answer */
	{ "ACK", "sip:1002@example.test", true, "Proxy-Require: frob\r\n", 0, NULL, ANSWER },
	{ "PUBLISH", "sip:1002@example.test", false, "Proxy-Require: frob\r\n", 405,
	  "Method Not Allowed", ANSWER },
	{ "INVITE", "mailto:1002@example.test", false, "Proxy-Require: frob\r\n", 416,
	  "Unsupported URI Scheme", ANSWER },
	{ "CANCEL", "sip:1002@example.test", false, "Proxy-Require: frob\r\n", 481,
	  "Call/Transaction Does Not Exist", ANSWER },
};

static void test_route_table(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct row *w = &rows[i];
		struct policy_route r;

		if (parse(w->method, w->ruri, w->to_tag, w->more) != 0 || !m.request) {
			check_fail(__FILE__, __LINE__, "row %zu (%s %s) did not parse", i, w->method,
				   w->ruri);
			return;
		}
		policy_route(&r, &m);
		if (r.status != (w->to == ANSWER ? w->status : 0) ||
		    r.registrar != (w->to == REGISTRAR) || r.proxy != (w->to == PROXY) ||
		    (w->reason ? !r.reason || strcmp(r.reason, w->reason) != 0 : r.reason != NULL)) {
			check_fail(__FILE__, __LINE__,
				   "row %zu (%s %s %s): got %u \"%s\" registrar %d proxy %d", i,
				   w->method, w->ruri, w->more, r.status, r.reason ? r.reason : "",
				   r.registrar, r.proxy);
			return;
		}
	}
}

static void test_is_ours(void)
{
	CHECK_INT(parse("REGISTER", "sip:example.test", false, ""), 0);
	CHECK(policy_request_is_ours(&m));
	CHECK_INT(parse("OPTIONS", "sip:example.test", false, ""), 0);
	CHECK(policy_request_is_ours(&m));
	CHECK_INT(parse("OPTIONS", "sip:1002@example.test", true, ""), 0);
	CHECK(!policy_request_is_ours(&m));
	CHECK_INT(parse("INVITE", "sip:1002@example.test", false, ""), 0);
	CHECK(!policy_request_is_ours(&m));
	CHECK_INT(parse("MESSAGE", "sip:example.test", false, ""), 0);
	CHECK(!policy_request_is_ours(&m));
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_route_table),
		CASE(test_is_ours),
	};

	return check_main("policy_route", cases, ARRAY_SIZE(cases), argc, argv);
}
