/*
 * test_policy_transport: policy_transport() (sips: only over TLS, signaling
 * = tls-required for REGISTER and dialog-forming requests only),
 * policy_target_ok() (no bid-down toward a contact) and policy_media()
 * (srtp-required: plain RTP, SAVP without keys, malformed SDP, non-SDP
 * bodies, answers in responses).
 */
#include "check.h"
#include "policy/policy.h"
#include "sip/sip.h"

#include <stdio.h>

static struct sip_hdr hdrs[64];
static struct sip_msg m;
static char buf[4096];

#define PLAIN_SDP \
	"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" \
	"m=audio 4000 RTP/AVP 0\r\n"
#define SDES_SDP \
	"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" \
	"m=audio 4000 RTP/SAVP 0\r\n" \
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
#define NOKEY_SDP \
	"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" \
	"m=audio 4000 RTP/SAVP 0\r\n"

/* Parse a request (method, Request-URI, To tag or not) or, with status, a
 * response, carrying body with content type ctype (NULL: none). */
static int parse(const char *start, const char *totag, const char *cseq, const char *ctype,
		 const char *body)
{
	struct sip_limits l = SIP_LIMITS_DEFAULT;
	char ct[128] = "";
	int n;

	if (ctype)
		snprintf(ct, sizeof(ct), "Content-Type: %s\r\n", ctype);
	n = snprintf(buf, sizeof(buf),
		     "%s\r\n"
		     "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: <sip:1001@example.test>;tag=abc\r\n"
		     "To: <sip:1002@example.test>%s\r\n"
		     "Call-ID: 1@test\r\n"
		     "CSeq: %s\r\n"
		     "%s"
		     "Content-Length: %zu\r\n\r\n%s",
		     start, totag, cseq, ct, strlen(body), body);
	return sip_msg_parse(&m, hdrs, ARRAY_SIZE(hdrs), buf, (size_t)n, false, &l);
}

static void test_sips_only_over_tls(void)
{
	struct policy_verdict v;

	CHECK_INT(parse("INVITE sips:1002@example.test SIP/2.0", "", "1 INVITE", NULL, ""), 0);
	policy_transport(&v, &m, false, false);
	CHECK(!v.allow);
	CHECK_INT(v.status, 416);
	CHECK(strcmp(v.event, POLICY_EVENT_SIPS_DOWNGRADE) == 0);
	policy_transport(&v, &m, true, false);
	CHECK(v.allow);
	/* sip: over UDP is fine without tls-required */
	CHECK_INT(parse("INVITE sip:1002@example.test SIP/2.0", "", "1 INVITE", NULL, ""), 0);
	policy_transport(&v, &m, false, false);
	CHECK(v.allow);
}

static void test_tls_required(void)
{
	struct policy_verdict v;

	CHECK_INT(parse("REGISTER sip:example.test SIP/2.0", "", "1 REGISTER", NULL, ""), 0);
	policy_transport(&v, &m, false, true);
	CHECK(!v.allow);
	CHECK_INT(v.status, 403);
	CHECK(strcmp(v.reason, "TLS Required") == 0);
	policy_transport(&v, &m, true, true);
	CHECK(v.allow);
	CHECK_INT(parse("INVITE sip:1002@example.test SIP/2.0", "", "1 INVITE", NULL, ""), 0);
	policy_transport(&v, &m, false, true);
	CHECK_INT(v.status, 403);
	/* in-dialog, ACK and CANCEL follow what their dialog or INVITE did */
	CHECK_INT(parse("BYE sip:1002@192.0.2.2 SIP/2.0", ";tag=x", "2 BYE", NULL, ""), 0);
	policy_transport(&v, &m, false, true);
	CHECK(v.allow);
	CHECK_INT(parse("CANCEL sip:1002@example.test SIP/2.0", "", "1 CANCEL", NULL, ""), 0);
	policy_transport(&v, &m, false, true);
	CHECK(v.allow);
	CHECK_INT(parse("OPTIONS sip:example.test SIP/2.0", "", "1 OPTIONS", NULL, ""), 0);
	policy_transport(&v, &m, false, true);
	CHECK(v.allow);
	CHECK_INT(parse("MESSAGE sip:1002@example.test SIP/2.0", "", "1 MESSAGE", NULL, ""), 0);
	policy_transport(&v, &m, false, true);
	CHECK_INT(v.status, 403);
	/* responses are not requests to refuse */
	CHECK_INT(parse("SIP/2.0 200 OK", ";tag=x", "1 INVITE", NULL, ""), 0);
	policy_transport(&v, &m, false, true);
	CHECK(v.allow);
}

static void test_target(void)
{
	CHECK(policy_target_ok(false, SIP_SCHEME_SIP, false));
	CHECK(policy_target_ok(false, SIP_SCHEME_SIP, true));
	CHECK(!policy_target_ok(true, SIP_SCHEME_SIP, false));
	CHECK(policy_target_ok(true, SIP_SCHEME_SIP, true));
	CHECK(!policy_target_ok(false, SIP_SCHEME_SIPS, false));
	CHECK(policy_target_ok(false, SIP_SCHEME_SIPS, true));
}

static void test_media(void)
{
	struct policy_verdict v;
	struct slice bad;

	CHECK_INT(parse("INVITE sip:1002@example.test SIP/2.0", "", "1 INVITE", "application/sdp",
			PLAIN_SDP), 0);
	policy_media(&v, &m, false, &bad);
	CHECK(v.allow); /* media = any */
	policy_media(&v, &m, true, &bad);
	CHECK(!v.allow);
	CHECK_INT(v.status, 488);
	CHECK(strcmp(v.event, POLICY_EVENT_SRTP_REFUSED) == 0);
	CHECK_SLICE(bad, "audio 4000 RTP/AVP 0");
	CHECK_INT(parse("INVITE sip:1002@example.test SIP/2.0", "", "1 INVITE",
			"Application/SDP; charset=utf-8", SDES_SDP), 0);
	policy_media(&v, &m, true, &bad);
	CHECK(v.allow);
	CHECK_INT(parse("INVITE sip:1002@example.test SIP/2.0", "", "1 INVITE", "application/sdp",
			NOKEY_SDP), 0);
	policy_media(&v, &m, true, NULL);
	CHECK(!v.allow);
	CHECK_INT(v.status, 488);
	/* malformed SDP */
	CHECK_INT(parse("INVITE sip:1002@example.test SIP/2.0", "", "1 INVITE", "application/sdp",
			"hello"), 0);
	policy_media(&v, &m, true, NULL);
	CHECK(!v.allow);
	CHECK(strcmp(v.reason, "Malformed Session Description") == 0);
	/* not SDP, or no body: nothing to check */
	CHECK_INT(parse("MESSAGE sip:1002@example.test SIP/2.0", "", "1 MESSAGE", "text/plain",
			"m=audio 4000 RTP/AVP 0"), 0);
	policy_media(&v, &m, true, NULL);
	CHECK(v.allow);
	CHECK_INT(parse("INVITE sip:1002@example.test SIP/2.0", "", "1 INVITE", NULL, ""), 0);
	policy_media(&v, &m, true, NULL);
	CHECK(v.allow);
	/* an answer in a response */
	CHECK_INT(parse("SIP/2.0 200 OK", ";tag=x", "1 INVITE", "application/sdp", PLAIN_SDP), 0);
	policy_media(&v, &m, true, NULL);
	CHECK(!v.allow);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_sips_only_over_tls),
		CASE(test_tls_required),
		CASE(test_target),
		CASE(test_media),
	};

	return check_main("policy_transport", cases, ARRAY_SIZE(cases), argc, argv);
}
