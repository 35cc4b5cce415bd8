/*
 * test_proxy_answer: proxy_build_answer(), the answers the server writes
 * itself, checked by parsing what was built: Allow on 405, 501 and the 200
 * to OPTIONS; Unsupported on 420 listing what we were required to support
 * (Require counts only for a request for us); the caller's lines; our
 * To-tag (stable across retransmissions, keyed, absent on 100, never over
 * the request's); received= and rport=; Server; and each refusal (lines
 * over PROXY_ANSWER_EXTRA_MAX, an answer over the buffer, a request that
 * cannot be answered).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>

#include "check.h"
#include "policy/policy.h"
#include "proxy/proxy.h"

static struct sip_hdr h1[64], h2[64];
static struct sip_msg req, resp;
static char in[4096], out[16384], big[PROXY_ANSWER_EXTRA_MAX + 64];
static const struct hash_key key = { 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull };
static struct net_addr src;

/* Parse method with branch, a To tag or not, and more header lines. */
static int parse(const char *method, const char *branch, bool to_tag, const char *more)
{
	int n = snprintf(in, sizeof(in),
			 "%s sip:%s SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 198.51.100.7:5062;branch=%s;rport\r\n"
			 "Via: SIP/2.0/TCP 203.0.113.1;branch=z9hG4bKup\r\n"
			 "Max-Forwards: 70\r\n"
			 "From: <sip:1001@example.test>;tag=abc\r\n"
			 "To: <sip:1002@example.test>%s\r\n"
			 "Call-ID: 1@test\r\n"
			 "CSeq: 1 %s\r\n"
			 "%s"
			 "Content-Length: 0\r\n\r\n",
			 method, strcmp(method, "REGISTER") && strcmp(method, "OPTIONS")
					 ? "1002@example.test"
					 : "example.test",
			 branch, to_tag ? ";tag=t1" : "", method, more);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&src.ss;

	memset(&src, 0, sizeof(src));
	s4->sin_family = AF_INET;
	s4->sin_port = htons(6000);
	inet_pton(AF_INET, "192.0.2.50", &s4->sin_addr);
	src.len = sizeof(*s4);
	if (n < 0 || (size_t)n >= sizeof(in))
		return EOVERFLOW;
	return sip_msg_parse(&req, h1, ARRAY_SIZE(h1), in, (size_t)n, false, NULL);
}

/* Build the answer status to req into out (cap bytes) and parse it. */
static int answer(uint16_t status, const char *reason, struct slice more, const char *server,
		  size_t cap, struct proxy_answer_tag *tag, struct sip_buf *b)
{
	const struct proxy_answer a = { status, reason, more, &src, &key, server };
	int rc;

	sip_buf_init(b, out, cap);
	if ((rc = proxy_build_answer(b, tag, &req, &a)) != 0)
		return rc;
	return sip_msg_parse(&resp, h2, ARRAY_SIZE(h2), b->p, b->len, false, NULL);
}

/* The value of the one header id of resp, or an empty slice. */
static struct slice value(enum sip_hdr_id id)
{
	const struct sip_hdr *h = sip_msg_hdr(&resp, id);

	return h ? h->value : SLICE_NULL;
}

static void test_allow(void)
{
	struct proxy_answer_tag tag;
	struct sip_buf b;

	CHECK_INT(parse("PUBLISH", "z9hG4bK1", false, ""), 0);
	CHECK_INT(answer(405, "Method Not Allowed", SLICE_NULL, NULL, sizeof(out), &tag, &b), 0);
	CHECK_INT(resp.status, 405);
	CHECK_SLICE(value(SIP_H_ALLOW), POLICY_ALLOW);
	CHECK_INT(parse("FROB", "z9hG4bK1", false, ""), 0);
	CHECK_INT(answer(501, "Not Implemented", SLICE_NULL, NULL, sizeof(out), &tag, &b), 0);
	CHECK_SLICE(value(SIP_H_ALLOW), POLICY_ALLOW);
	CHECK_INT(parse("OPTIONS", "z9hG4bK1", false, ""), 0);
	CHECK_INT(answer(200, "OK", SLICE_NULL, NULL, sizeof(out), &tag, &b), 0);
	CHECK_SLICE(value(SIP_H_ALLOW), POLICY_ALLOW);
	/* not on other answers */
	CHECK_INT(parse("REGISTER", "z9hG4bK1", false, ""), 0);
	CHECK_INT(answer(200, "OK", SLICE_NULL, NULL, sizeof(out), &tag, &b), 0);
	CHECK_INT(resp.count[SIP_H_ALLOW], 0);
	CHECK_INT(parse("OPTIONS", "z9hG4bK1", false, ""), 0);
	CHECK_INT(answer(403, "Forbidden", SLICE_NULL, NULL, sizeof(out), &tag, &b), 0);
	CHECK_INT(resp.count[SIP_H_ALLOW], 0);
	CHECK_INT(resp.count[SIP_H_UNSUPPORTED], 0);
}

static void test_unsupported(void)
{
	struct proxy_answer_tag tag;
	struct sip_buf b;

	/* for us: Require and Proxy-Require, every option, in order */
	CHECK_INT(parse("REGISTER", "z9hG4bK1", false,
			"Require: frob, nic\r\nProxy-Require: baz\r\nRequire: qux\r\n"),
		  0);
	CHECK_INT(answer(420, "Bad Extension", SLICE_NULL, NULL, sizeof(out), &tag, &b), 0);
	CHECK_SLICE(value(SIP_H_UNSUPPORTED), "frob, nic, qux, baz");
	/* proxied: Proxy-Require only */
	CHECK_INT(parse("INVITE", "z9hG4bK1", false,
			"Require: 100rel\r\nProxy-Require: frob ,  nic\r\n"),
		  0);
	CHECK_INT(answer(420, "Bad Extension", SLICE_NULL, NULL, sizeof(out), &tag, &b), 0);
	CHECK_SLICE(value(SIP_H_UNSUPPORTED), "frob, nic");
	CHECK_INT(resp.count[SIP_H_ALLOW], 0);
}

static void test_more_and_server(void)
{
	struct proxy_answer_tag tag;
	struct sip_buf b;

	CHECK_INT(parse("INVITE", "z9hG4bK1", false, ""), 0);
	CHECK_INT(answer(503, "Service Unavailable", SLICE_LIT("Retry-After: 5\r\n"), "Bastion",
			 sizeof(out), &tag, &b),
		  0);
	CHECK_INT(resp.status, 503);
	CHECK_SLICE(resp.reason, "Service Unavailable");
	CHECK_SLICE(value(SIP_H_RETRY_AFTER), "5");
	CHECK_SLICE(value(SIP_H_SERVER), "Bastion");
	/* every Via back, the top one with where the request really came from */
	CHECK_INT(resp.count[SIP_H_VIA], 2);
	CHECK_SLICE(resp.via.received, "192.0.2.50");
	CHECK_SLICE(resp.via.rport, "6000");
	CHECK_SLICE(resp.call_id, "1@test");
	CHECK_INT(answer(503, "Service Unavailable", SLICE_NULL, NULL, sizeof(out), &tag, &b), 0);
	CHECK_INT(resp.count[SIP_H_SERVER], 0);
}

static void test_to_tag(void)
{
	struct proxy_answer_tag t1, t2, t3;
	struct sip_buf b;
	char first[17];

	CHECK_INT(parse("INVITE", "z9hG4bK1", false, ""), 0);
	CHECK_INT(answer(486, "Busy Here", SLICE_NULL, NULL, sizeof(out), &t1, &b), 0);
	CHECK_INT(strlen(t1.ours), 16);
	CHECK(t1.to_tag.p == t1.ours && t1.to_tag.len == 16);
	CHECK_SLICE(resp.to.tag, t1.ours);
	memcpy(first, t1.ours, sizeof(first));
	/* a retransmission gets the same tag */
	CHECK_INT(parse("INVITE", "z9hG4bK1", false, ""), 0);
	CHECK_INT(answer(486, "Busy Here", SLICE_NULL, NULL, sizeof(out), &t2, &b), 0);
	CHECK(strcmp(t2.ours, first) == 0);
	/* another request (another branch) another */
	CHECK_INT(parse("INVITE", "z9hG4bK2", false, ""), 0);
	CHECK_INT(answer(486, "Busy Here", SLICE_NULL, NULL, sizeof(out), &t3, &b), 0);
	CHECK(strcmp(t3.ours, first) != 0);
	/* a 100 carries none */
	CHECK_INT(parse("INVITE", "z9hG4bK1", false, ""), 0);
	CHECK_INT(answer(100, "Trying", SLICE_NULL, NULL, sizeof(out), &t2, &b), 0);
	CHECK_INT(t2.to_tag.len, 0);
	CHECK(!resp.to.has_tag);
	/* the request's tag is kept */
	CHECK_INT(parse("BYE", "z9hG4bK1", true, ""), 0);
	CHECK_INT(answer(481, "Call/Transaction Does Not Exist", SLICE_NULL, NULL, sizeof(out),
			 &t2, &b),
		  0);
	CHECK_SLICE(t2.to_tag, "t1");
	CHECK_SLICE(resp.to.tag, "t1");
}

/* Another key, another tag for the same request. */
static void test_tag_keyed(void)
{
	const struct hash_key other = { 1, 2 };
	struct proxy_answer_tag t1, t2;
	struct proxy_answer a = { 486, "Busy Here", SLICE_NULL, NULL, &key, NULL };
	struct sip_buf b;

	CHECK_INT(parse("INVITE", "z9hG4bK1", false, ""), 0);
	a.src = &src;
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(proxy_build_answer(&b, &t1, &req, &a), 0);
	a.tag_key = &other;
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(proxy_build_answer(&b, &t2, &req, &a), 0);
	CHECK(strcmp(t1.ours, t2.ours) != 0);
}

static void test_refusals(void)
{
	static const char allow[] = "Allow: " POLICY_ALLOW "\r\n";
	struct proxy_answer a = { 200, "OK", SLICE_NULL, NULL, &key, NULL };
	struct proxy_answer_tag tag;
	struct sip_buf b;
	size_t room = PROXY_ANSWER_EXTRA_MAX - (sizeof(allow) - 1);

	CHECK_INT(parse("OPTIONS", "z9hG4bK1", false, ""), 0);
	a.src = &src;
	/* the added lines fill PROXY_ANSWER_EXTRA_MAX exactly: built */
	memset(big, 'a', sizeof(big));
	memcpy(big, "X-Pad: ", 7);
	memcpy(big + room - 2, "\r\n", 2);
	a.more = slice_make(big, room);
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(proxy_build_answer(&b, &tag, &req, &a), 0);
	CHECK(b.len > PROXY_ANSWER_EXTRA_MAX);
	/* one byte more: refused, nothing written */
	memcpy(big + room - 1, "\r\n", 2);
	a.more = slice_make(big, room + 1);
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(proxy_build_answer(&b, &tag, &req, &a), EMSGSIZE);
	CHECK_INT(b.len, 0);
	CHECK(!b.overflow);
	/* an answer over the buffer */
	a.more = SLICE_NULL;
	sip_buf_init(&b, out, 100);
	CHECK_INT(proxy_build_answer(&b, &tag, &req, &a), EOVERFLOW);
	CHECK(b.overflow);
	CHECK(b.len <= 100);
	/* a status out of range */
	a.status = 700;
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(proxy_build_answer(&b, &tag, &req, &a), EINVAL);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_allow),
		CASE(test_unsupported),
		CASE(test_more_and_server),
		CASE(test_to_tag),
		CASE(test_tag_keyed),
		CASE(test_refusals),
	};

	return check_main("proxy_answer", cases, ARRAY_SIZE(cases), argc, argv);
}
