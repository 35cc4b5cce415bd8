/*
 * test_sip_msg: sip_msg_parse on valid messages (typed access field by
 * field), every limit at the limit and one past it, and malformed input:
 * truncation at every offset, bare LF, control bytes, bad numbers,
 * duplicated single-value headers, header floods, unterminated quotes.
 */
#include "check.h"
#include "sip/sip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static struct sip_hdr hdrs[200];
static struct sip_msg m;

static int parse_lim(const char *s, size_t len, bool stream, const struct sip_limits *l)
{
	return sip_msg_parse(&m, hdrs, l->max_headers, s, len, stream, l);
}

static int parse(const char *s, bool stream)
{
	struct sip_limits l = SIP_LIMITS_DEFAULT;
	return parse_lim(s, strlen(s), stream, &l);
}

#define INVITE_HDRS \
	"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n" \
	"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n" \
	"v: SIP/2.0/TCP [2001:db8::5]:5061;branch=z9hG4bKnashds8;received=192.0.2.3\r\n" \
	"Max-Forwards: 70\r\n" \
	"To: Bob <sip:bob@biloxi.example.com>\r\n" \
	"f: \"Alice \\\"Al\\\"\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n" \
	"i: a84b4c76e66710@pc33.atlanta.example.com\r\n" \
	"CSeq: 314159 INVITE\r\n" \
	"m: <sip:alice@pc33.atlanta.example.com>, <sip:alice@[2001:db8::7]:5070>;q=0.1\r\n" \
	"Expires: 120\r\n" \
	"Route: <sip:p1.example.com;lr>,\r\n <sip:p2.example.com;lr>\r\n" \
	"Route: <sip:p3.example.com;lr>\r\n" \
	"Subject: folded\r\n\tsubject line\r\n" \
	"X-Custom: \xc3\xa9t\xc3\xa9\r\n" \
	"c: application/sdp\r\n"

static const char invite[] = INVITE_HDRS "Content-Length: 4\r\n\r\nv=0\n";

static void valid_invite(void)
{
	CHECK_INT(parse(invite, false), 0);
	CHECK_INT(m.err, SIP_E_NONE);
	CHECK(m.request);
	CHECK_INT(m.have, SIP_HAVE_REPLY | SIP_HAVE_FROM | SIP_HAVE_TO | SIP_HAVE_START |
				  SIP_HAVE_MAX_FORWARDS | SIP_HAVE_CONTENT_LENGTH | SIP_HAVE_EXPIRES);
	CHECK_SLICE(m.method, "INVITE");
	CHECK_INT(m.mid, SIP_M_INVITE);
	CHECK_SLICE(m.ruri_raw, "sip:bob@biloxi.example.com");
	CHECK_SLICE(m.ruri.user, "bob");
	CHECK_SLICE(m.via.transport, "UDP");
	CHECK_SLICE(m.via.host, "pc33.atlanta.example.com");
	CHECK_SLICE(m.via.branch, "z9hG4bK776asdhds");
	CHECK(m.via.has_rport);
	CHECK_SLICE(m.to.display, "Bob");
	CHECK(!m.to.has_tag);
	CHECK_SLICE(m.from.display, "Alice \\\"Al\\\"");
	CHECK_SLICE(m.from.tag, "1928301774");
	CHECK_SLICE(m.from.uri.host, "atlanta.example.com");
	CHECK_SLICE(m.call_id, "a84b4c76e66710@pc33.atlanta.example.com");
	CHECK_INT(m.cseq.num, 314159);
	CHECK_INT(m.cseq.mid, SIP_M_INVITE);
	CHECK_INT(m.max_forwards, 70);
	CHECK_INT(m.expires, 120);
	CHECK_INT(m.content_length, 4);
	CHECK_SLICE(m.body, "v=0\n");
	CHECK_INT(m.raw.len, sizeof(invite) - 1);
	CHECK_INT(m.nhdrs, 15);
	CHECK_INT(m.count[SIP_H_VIA], 2);
	CHECK_INT(m.count[SIP_H_ROUTE], 2);
	CHECK_INT(m.count[SIP_H_OTHER], 1);
	CHECK_INT(m.first[SIP_H_VIA], 0);
	CHECK_INT(m.first[SIP_H_CONTENT_LENGTH], 14);
	CHECK_INT(m.first[SIP_H_ALLOW], -1);
	CHECK(sip_msg_hdr(&m, SIP_H_ALLOW) == NULL);

	const struct sip_hdr *v2 = sip_msg_hdr_next(&m, sip_msg_hdr(&m, SIP_H_VIA));
	CHECK(v2 != NULL);
	CHECK_SLICE(v2->name, "v");
	struct slice rest = v2->value;
	struct sip_via via;
	CHECK_INT(sip_via_next(&via, &rest, NULL), 0);
	CHECK_INT(via.host_type, SIP_HOST_IPV6);
	CHECK_SLICE(via.host, "2001:db8::5");
	CHECK_INT(via.port, 5061);
	CHECK_SLICE(via.received, "192.0.2.3");
	CHECK(sip_msg_hdr_next(&m, v2) == NULL);

	const struct sip_hdr *ct = sip_msg_hdr(&m, SIP_H_CONTACT);
	struct sip_contact c;
	rest = ct->value;
	CHECK_INT(sip_contact_next(&c, &rest, NULL), 0);
	CHECK_INT(sip_contact_next(&c, &rest, NULL), 0);
	CHECK_SLICE(c.na.uri.host, "2001:db8::7");
	CHECK_INT(c.na.uri.port, 5070);
	CHECK_SLICE(c.q, "0.1");
	CHECK_INT(sip_contact_next(&c, &rest, NULL), ENODATA);

	/* folded Route value keeps its CRLF as LWS, and splits */
	const struct sip_hdr *r = sip_msg_hdr(&m, SIP_H_ROUTE);
	CHECK_SLICE(r->value, "<sip:p1.example.com;lr>,\r\n <sip:p2.example.com;lr>");
	struct slice item;
	rest = r->value;
	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_SLICE(item, "<sip:p2.example.com;lr>");
	CHECK_SLICE(sip_msg_hdr(&m, SIP_H_SUBJECT)->value, "folded\r\n\tsubject line");
	CHECK(sip_msg_hdr_named(&m, SLICE_LIT("x-custom")) != NULL);
	CHECK_SLICE(sip_msg_hdr_named(&m, SLICE_LIT("x-custom"))->value, "\xc3\xa9t\xc3\xa9");
	CHECK(sip_msg_hdr_named(&m, SLICE_LIT("Call-ID")) == sip_msg_hdr(&m, SIP_H_CALL_ID));
	CHECK(sip_msg_hdr_named(&m, SLICE_LIT("nope")) == NULL);
	CHECK_SLICE(sip_msg_hdr(&m, SIP_H_CONTENT_TYPE)->value, "application/sdp");
}

static void valid_response(void)
{
	static const char r[] = "\r\n\r\nSIP/2.0 180 Ringing now\r\n"
				"Via: SIP/2.0/UDP h.example;branch=z9hG4bKx\r\n"
				"From: <sip:a@b.example>;tag=1\r\nTo: <sip:c@d.example>;tag=2\r\n"
				"Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
	CHECK_INT(parse(r, true), 0);
	CHECK(!m.request);
	CHECK_INT(m.status, 180);
	CHECK_SLICE(m.reason, "Ringing now");
	CHECK_INT(m.raw.len, sizeof(r) - 1 - 4);
	CHECK(m.raw.p == r + 4);
	CHECK_INT(m.body.len, 0);

	static const char *const codes[] = { "SIP/2.0 099 x", "SIP/2.0 700 x", "SIP/2.0 4294967301 x",
					     "SIP/2.0 20 x", "SIP/2.0 2000 x", "SIP/2.0 abc x",
					     "SIP/2.0 -20 x" };
	char buf[512];
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		snprintf(buf, sizeof(buf), "%s\r\n%s", codes[i], strstr(r, "Via:"));
		CHECK_INT(parse(buf, false), EBADMSG);
		CHECK_INT(m.err, SIP_E_STATUS_CODE);
		CHECK(!(m.have & SIP_HAVE_START));
	}
	snprintf(buf, sizeof(buf), "SIP/2.0 699\r\n%s", strstr(r, "Via:"));
	CHECK_INT(parse(buf, false), 0);
	CHECK_INT(m.status, 699);
	CHECK_INT(m.reason.len, 0);
	snprintf(buf, sizeof(buf), "SIP/3.0 200 OK\r\n%s", strstr(r, "Via:"));
	CHECK_INT(parse(buf, false), EBADMSG);
	CHECK_INT(m.err, SIP_E_VERSION);
}

/* Replace the first occurrence of `from` in invite by `to`, parse. */
static int parse_edit(const char *from, const char *to, bool stream)
{
	static char buf[8192];
	const char *at = strstr(invite, from);
	if (!at)
		return -1;
	size_t pre = (size_t)(at - invite);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)pre, invite, to, at + strlen(from));
	return parse(buf, stream);
}

#define EXPECT(from, to, code) \
	do { \
		int rc_ = parse_edit(from, to, false); \
		if (rc_ == 0 || m.err != (code)) { \
			check_fail(__FILE__, __LINE__, "%s -> %s: rc %d err %s, want %s", from, to, rc_, \
				   sip_err_name(m.err), sip_err_name(code)); \
			return; \
		} \
	} while (0)

static void malformed_start(void)
{
	EXPECT("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com", SIP_E_START_LINE);
	EXPECT("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE  sip:bob@biloxi.example.com SIP/2.0", SIP_E_REQUEST_URI);
	EXPECT("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com SIP/2.0 ", SIP_E_START_LINE);
	EXPECT("INVITE sip:bob@biloxi.example.com SIP/2.0", " INVITE sip:bob@biloxi.example.com SIP/2.0", SIP_E_METHOD);
	EXPECT("INVITE sip:bob@biloxi.example.com SIP/2.0", "INV<TE sip:bob@biloxi.example.com SIP/2.0", SIP_E_METHOD);
	EXPECT("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com SIP/7.0", SIP_E_VERSION);
	EXPECT("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com HTTP/1.1", SIP_E_START_LINE);
	EXPECT("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE <sip:bob@biloxi.example.com> SIP/2.0", SIP_E_REQUEST_URI);
	EXPECT("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob:pw@biloxi.example.com SIP/2.0", SIP_E_URI_PASSWORD);
	EXPECT("INVITE sip:bob@biloxi.example.com SIP/2.0", "INVITE sip:bob@biloxi.example.com?Route=x SIP/2.0", SIP_E_REQUEST_URI);
	/* a version error still leaves everything needed for the 505 */
	CHECK_INT(parse_edit("SIP/2.0\r\n", "SIP/2.1\r\n", false), EBADMSG);
	CHECK_INT(m.err, SIP_E_VERSION);
	CHECK_INT(sip_err_status(m.err), 505);
	CHECK((m.have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY);
	CHECK(m.request);
	/* unknown scheme parses: the caller answers 416 */
	CHECK_INT(parse_edit("INVITE sip:bob@biloxi.example.com", "INVITE urn:x-foo:bar", false), 0);
	CHECK_INT(m.ruri.scheme, SIP_SCHEME_OTHER);
}

static void malformed_headers(void)
{
	EXPECT("Max-Forwards: 70", "Max-Forwards: 256", SIP_E_MAX_FORWARDS);
	EXPECT("Max-Forwards: 70", "Max-Forwards: -1", SIP_E_MAX_FORWARDS);
	EXPECT("Max-Forwards: 70", "Max-Forwards: 7 0", SIP_E_MAX_FORWARDS);
	EXPECT("Max-Forwards: 70", "Max-Forwards: 99999999999999999999", SIP_E_MAX_FORWARDS);
	EXPECT("CSeq: 314159 INVITE", "CSeq: 314159 BYE", SIP_E_CSEQ_METHOD);
	EXPECT("CSeq: 314159 INVITE", "CSeq: 314159 invite", SIP_E_CSEQ_METHOD);
	EXPECT("CSeq: 314159 INVITE", "CSeq: 2147483648 INVITE", SIP_E_CSEQ);
	EXPECT("CSeq: 314159 INVITE", "CSeq: 4294967297 INVITE", SIP_E_CSEQ);
	EXPECT("CSeq: 314159 INVITE", "CSeq: INVITE", SIP_E_CSEQ);
	EXPECT("CSeq: 314159 INVITE", "X-CSeq: 1 INVITE", SIP_E_CSEQ_MISSING);
	EXPECT("Content-Length: 4", "Content-Length: -4", SIP_E_CONTENT_LENGTH);
	EXPECT("Content-Length: 4", "Content-Length: +4", SIP_E_CONTENT_LENGTH);
	EXPECT("Content-Length: 4", "Content-Length: 4 4", SIP_E_CONTENT_LENGTH);
	EXPECT("Content-Length: 4", "Content-Length: 0x4", SIP_E_CONTENT_LENGTH);
	EXPECT("Content-Length: 4", "Content-Length: ", SIP_E_CONTENT_LENGTH);
	EXPECT("Content-Length: 4", "Content-Length: 4294967300", SIP_E_CONTENT_LENGTH);
	EXPECT("Content-Length: 4", "Content-Length: 18446744073709551620", SIP_E_CONTENT_LENGTH);
	EXPECT("Content-Length: 4", "Content-Length: 4\r\nl: 4", SIP_E_CONTENT_LENGTH);
	EXPECT("Content-Length: 4", "Content-Length: 5", SIP_E_BODY_TRUNCATED);
}

static void malformed_headers2(void)
{
	EXPECT("Expires: 120", "Expires: 4294967296", SIP_E_EXPIRES);
	EXPECT("Expires: 120", "Expires: Thu, 01 Dec 1994", SIP_E_EXPIRES);
	EXPECT("i: a84b4c76e66710@pc33.atlanta.example.com", "i: a b", SIP_E_CALL_ID);
	EXPECT("i: a84b4c76e66710@pc33.atlanta.example.com", "i: a@b@c", SIP_E_CALL_ID);
	EXPECT("i: a84b4c76e66710@pc33.atlanta.example.com", "i:", SIP_E_CALL_ID);
	EXPECT("i: a84b4c76e66710@pc33.atlanta.example.com", "X: y", SIP_E_CALL_ID_MISSING);
	EXPECT("To: Bob <sip:bob@biloxi.example.com>", "To: \"Bob <sip:bob@biloxi.example.com>", SIP_E_TO);
	EXPECT("To: Bob <sip:bob@biloxi.example.com>", "To: Bob <sip:bob@biloxi.example.com", SIP_E_TO);
	EXPECT("To: Bob <sip:bob@biloxi.example.com>", "To: <sip:bob:x@biloxi.example.com>", SIP_E_URI_PASSWORD);
	EXPECT("To: Bob <sip:bob@biloxi.example.com>", "Tox: Bob", SIP_E_TO_MISSING);
	EXPECT("f: \"Alice", "f: Alice, \"Alice", SIP_E_FROM);
	EXPECT("f: \"Alice", "X: \"Alice", SIP_E_FROM_MISSING);
	EXPECT("Via: SIP/2.0/UDP pc33", "Via: SIP/2.0/UDP pc33:99999", SIP_E_VIA);
	EXPECT("Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\nv: SIP/2.0/TCP [2001:db8::5]:5061;branch=z9hG4bKnashds8;received=192.0.2.3",
	       "X: y", SIP_E_VIA_MISSING);
	EXPECT("Max-Forwards: 70", "Max-Forwards 70", SIP_E_HEADER_SYNTAX);
	EXPECT("Max-Forwards: 70", "Max Forwards: 70", SIP_E_HEADER_SYNTAX);
	EXPECT("Max-Forwards: 70", ": 70", SIP_E_HEADER_SYNTAX);
	EXPECT("Max-Forwards: 70", "Max-F\xc3\xb6rwards: 70", SIP_E_HEADER_SYNTAX);
	/* the malformed Max-Forwards leaves the reply fields usable */
	CHECK_INT(parse_edit("Max-Forwards: 70", "Max-Forwards: x", false), EBADMSG);
	CHECK((m.have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY);
	CHECK(!(m.have & SIP_HAVE_MAX_FORWARDS));
	/* first error wins, later fields still parsed */
	CHECK_INT(parse_edit("Max-Forwards: 70", "Max-Forwards: x\r\nExpires: y", false), EBADMSG);
	CHECK_INT(m.err, SIP_E_MAX_FORWARDS);
	CHECK(m.err_offset == (size_t)(strstr(invite, "Max-Forwards") - invite) + 14);
	CHECK((m.have & SIP_HAVE_CSEQ));
}

static void duplicates(void)
{
	static const char *const dups[] = {
		"To: <sip:other@example.com>", "From: <sip:x@y.example>;tag=2", "i: other@x",
		"CSeq: 1 INVITE", "Max-Forwards: 69", "Expires: 1", "Content-Type: text/plain",
	};
	char to[256];
	for (size_t i = 0; i < ARRAY_SIZE(dups); i++) {
		snprintf(to, sizeof(to), "Subject: x\r\n%s", dups[i]);
		EXPECT("Subject: folded\r\n\tsubject line", to, SIP_E_DUPLICATE_HEADER);
	}
	CHECK_INT(parse_edit("Subject: folded\r\n\tsubject line", "To: <sip:other@example.com>", false), EBADMSG);
	CHECK(!(m.have & SIP_HAVE_TO));
	CHECK((m.have & SIP_HAVE_FROM));
	/* an identical repeat is harmless, except for Content-Length */
	CHECK_INT(parse_edit("Subject: folded\r\n\tsubject line", "Max-Forwards: 70", false), 0);
	CHECK_INT(m.count[SIP_H_MAX_FORWARDS], 2);
	EXPECT("Subject: folded\r\n\tsubject line", "Content-Length: 4", SIP_E_CONTENT_LENGTH);
	/* repeated multi-value headers are fine */
	CHECK_INT(parse_edit("Subject: folded\r\n\tsubject line", "Via: SIP/2.0/UDP x.example", false), 0);
	CHECK_INT(m.count[SIP_H_VIA], 3);
}

static void lexical(void)
{
	char buf[4096];
	size_t n = sizeof(invite) - 1;

	/* bare LF ending a header line, the start line, the empty line */
	memcpy(buf, invite, n);
	char *p = strstr(buf, "\r\nMax-Forwards");
	memmove(p, p + 1, n - (size_t)(p - buf));
	CHECK_INT(parse_lim(buf, n - 1, false, &SIP_LIMITS_DEFAULT), EBADMSG);
	CHECK_INT(m.err, SIP_E_BARE_LF);
	CHECK_INT(parse("INVITE sip:a@b SIP/2.0\n", false), EBADMSG);
	CHECK_INT(m.err, SIP_E_BARE_LF);
	CHECK_INT(parse_edit("Content-Length: 4\r\n\r\n", "Content-Length: 4\r\n\n", false), EBADMSG);
	CHECK_INT(m.err, SIP_E_BARE_LF);
	/* lone CR */
	EXPECT("Max-Forwards: 70", "Max-Forwards: 7\r0", SIP_E_CONTROL_CHAR);
	/* NUL and other control bytes, in values and names */
	memcpy(buf, invite, n);
	p = strstr(buf, "X-Custom: ") + 10;
	*p = '\0';
	CHECK_INT(parse_lim(buf, n, false, &SIP_LIMITS_DEFAULT), EBADMSG);
	CHECK_INT(m.err, SIP_E_CONTROL_CHAR);
	CHECK_INT(m.err_offset, (size_t)(p - buf));
	CHECK((m.have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY); /* framing intact */
	EXPECT("Max-Forwards: 70", "Max-Forwards: 7\x01", SIP_E_CONTROL_CHAR);
	EXPECT("Max-Forwards: 70", "Max-Forwards: 7\x7f", SIP_E_CONTROL_CHAR);
	EXPECT("Max-Forwards: 70", "Max-Forwards: 7\x1b[0m", SIP_E_CONTROL_CHAR);
	EXPECT("INVITE sip", "INV\x01TE sip", SIP_E_CONTROL_CHAR);
	/* HT is fine */
	CHECK_INT(parse_edit("Max-Forwards: 70", "Max-Forwards:\t70\t", false), 0);
	/* NUL in the body is data */
	memcpy(buf, invite, n);
	buf[n - 2] = '\0';
	CHECK_INT(parse_lim(buf, n, false, &SIP_LIMITS_DEFAULT), 0);
	CHECK_INT(m.body.len, 4);
	CHECK(m.body.p[2] == '\0');
	/* header section never terminated */
	CHECK_INT(parse_lim(invite, (size_t)(strstr(invite, "\r\n\r\n") - invite) + 2, false,
			    &SIP_LIMITS_DEFAULT), EBADMSG);
	CHECK_INT(m.err, SIP_E_INCOMPLETE);
	/* continuation line right after the start line */
	EXPECT("Via: SIP/2.0/UDP", " Via: SIP/2.0/UDP", SIP_E_HEADER_SYNTAX);
	/* empty and keep-alive-only input */
	CHECK_INT(parse("", false), EBADMSG);
	CHECK_INT(m.err, SIP_E_INCOMPLETE);
	CHECK_INT(parse("\r\n\r\n", false), EBADMSG);
	CHECK_INT(m.err, SIP_E_INCOMPLETE);
}

static void body_modes(void)
{
	/* datagram: octets past Content-Length are ignored */
	CHECK_INT(parse_edit("v=0\n", "v=0\nJUNKJUNK", false), 0);
	CHECK_SLICE(m.body, "v=0\n");
	CHECK_INT(m.raw.len, sizeof(invite) - 1);
	/* datagram without Content-Length: the rest is the body */
	CHECK_INT(parse_edit("Content-Length: 4\r\n", "", false), 0);
	CHECK_SLICE(m.body, "v=0\n");
	CHECK(!(m.have & SIP_HAVE_CONTENT_LENGTH));
	/* stream: Content-Length is mandatory */
	CHECK_INT(parse_edit("Content-Length: 4\r\n", "", true), EBADMSG);
	CHECK_INT(m.err, SIP_E_CONTENT_LENGTH_MISSING);
	CHECK((m.have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY);
	CHECK_INT(parse(invite, true), 0);
	CHECK_SLICE(m.body, "v=0\n");
	/* compact l */
	CHECK_INT(parse_edit("Content-Length: 4", "l  :\r\n 4", true), 0);
	CHECK_INT(m.content_length, 4);
}

static void limits(void)
{
	static char buf[1 << 20];
	struct sip_limits l = SIP_LIMITS_DEFAULT;
	size_t n = sizeof(invite) - 1;

	/* max_message: at the limit fine, one more refused with 513 */
	l.max_message = (uint32_t)n;
	CHECK_INT(parse_lim(invite, n, false, &l), 0);
	l.max_message = (uint32_t)n - 1;
	CHECK_INT(parse_lim(invite, n, false, &l), EOVERFLOW);
	CHECK_INT(m.err, SIP_E_MESSAGE_TOO_LARGE);
	CHECK_INT(sip_err_status(m.err), 513);
	CHECK((m.have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY);

	/* max_body */
	l = SIP_LIMITS_DEFAULT;
	l.max_body = 4;
	CHECK_INT(parse_lim(invite, n, false, &l), 0);
	l.max_body = 3;
	CHECK_INT(parse_lim(invite, n, false, &l), EOVERFLOW);
	CHECK_INT(m.err, SIP_E_BODY_TOO_LARGE);
	CHECK_INT(sip_err_status(m.err), 413);
	/* without Content-Length on a datagram */
	const char *noc = strstr(invite, "Content-Length");
	size_t pre = (size_t)(noc - invite);
	memcpy(buf, invite, pre);
	memcpy(buf + pre, invite + pre + 19, n - pre - 19);
	CHECK_INT(parse_lim(buf, n - 19, false, &l), EOVERFLOW);
	CHECK_INT(m.err, SIP_E_BODY_TOO_LARGE);
	l.max_body = 4;
	CHECK_INT(parse_lim(buf, n - 19, false, &l), 0);

	/* max_headers: 15 fields */
	l = SIP_LIMITS_DEFAULT;
	l.max_headers = 15;
	CHECK_INT(parse_lim(invite, n, false, &l), 0);
	l.max_headers = 14;
	CHECK_INT(parse_lim(invite, n, false, &l), EOVERFLOW);
	CHECK_INT(m.err, SIP_E_TOO_MANY_HEADERS);
	CHECK_INT(m.nhdrs, 14);
	CHECK((m.have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY);

	/* max_header_line: longest field is the folded Route (49 + 2 + 25) */
	l = SIP_LIMITS_DEFAULT;
	size_t longest = 0;
	CHECK_INT(parse_lim(invite, n, false, &l), 0);
	for (uint32_t k = 0; k < m.nhdrs; k++) {
		size_t fl = (size_t)(m.hdrs[k].value.p + m.hdrs[k].value.len - m.hdrs[k].name.p);
		if (fl > longest)
			longest = fl;
	}
	CHECK_INT(longest, strlen("m: <sip:alice@pc33.atlanta.example.com>, <sip:alice@[2001:db8::7]:5070>;q=0.1"));
	l.max_header_line = (uint32_t)longest;
	CHECK_INT(parse_lim(invite, n, false, &l), 0);
	l.max_header_line = (uint32_t)longest - 1;
	CHECK_INT(parse_lim(invite, n, false, &l), EOVERFLOW);
	CHECK_INT(m.err, SIP_E_HEADER_TOO_LONG);
	CHECK((m.have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY);
	CHECK(sip_msg_hdr(&m, SIP_H_CONTACT) == NULL);

	/* max_uri: the Request-URI is 26 bytes */
	l = SIP_LIMITS_DEFAULT;
	l.max_uri = 26;
	CHECK_INT(parse_lim(invite, n, false, &l), EBADMSG); /* From URI is longer: 400 */
	CHECK_INT(m.err, SIP_E_FROM);
	l.max_uri = 36;
	CHECK_INT(parse_lim(invite, n, false, &l), 0);
	l.max_uri = 25;
	CHECK_INT(parse_lim(invite, n, false, &l), EOVERFLOW);
	CHECK_INT(m.err, SIP_E_URI_TOO_LONG);
	CHECK_INT(sip_err_status(m.err), 414);
}

static void header_flood(void)
{
	static char buf[200000];
	struct sip_limits l = SIP_LIMITS_DEFAULT;
	size_t n = 0;
	const char *end = strstr(invite, "Content-Length");

	l.max_message = sizeof(buf);
	memcpy(buf, invite, (size_t)(end - invite));
	n = (size_t)(end - invite);
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-H%d: v\r\n", i);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Content-Length: 0\r\n\r\n");
	CHECK_INT(parse_lim(buf, n, false, &l), EOVERFLOW);
	CHECK_INT(m.err, SIP_E_TOO_MANY_HEADERS);
	CHECK_INT(m.nhdrs, 100);
	CHECK((m.have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY);
	l.max_headers = 200;
	CHECK_INT(sip_msg_parse(&m, hdrs, 200, buf, n, false, &l), EOVERFLOW);
	CHECK_INT(m.nhdrs, 200);
}

/* Truncation at every offset: never a crash, never a read past the cut
 * (ASan checks, as each prefix is copied into its own allocation). */
static void truncation(void)
{
	size_t n = sizeof(invite) - 1;
	const char *hend = strstr(invite, "\r\n\r\n") + 4;

	for (size_t cut = 0; cut <= n; cut++) {
		char *b = malloc(cut ? cut : 1);
		CHECK(b != NULL);
		memcpy(b, invite, cut);
		for (int stream = 0; stream < 2; stream++) {
			int rc = sip_msg_parse(&m, hdrs, 100, b, cut, stream, &SIP_LIMITS_DEFAULT);
			if (cut == n) {
				CHECK_INT(rc, 0);
			} else if (rc == 0) {
				check_fail(__FILE__, __LINE__, "prefix %zu accepted", cut);
			} else if (cut < (size_t)(hend - invite)) {
				CHECK(m.err == SIP_E_INCOMPLETE || m.err == SIP_E_START_LINE ||
				      m.err == SIP_E_REQUEST_URI || m.err == SIP_E_VERSION);
			} else {
				CHECK_INT(m.err, SIP_E_BODY_TRUNCATED);
			}
		}
		free(b);
	}
}

static void non_ascii(void)
{
	/* UTF-8 and raw high bytes in values are data; in names a syntax error */
	CHECK_INT(parse_edit("Subject: folded", "Subject: \xff\xfe\x80", false), 0);
	EXPECT("X-Custom", "X-Cust\xc3\xb6m", SIP_E_HEADER_SYNTAX);
	EXPECT("INVITE sip:bob@", "INVITE sip:b\xc3\xb6" "b@", SIP_E_REQUEST_URI);
}

/* The line scan takes sixteen (SSE2) or eight plain bytes at a time: a
 * control byte, a lone CR, DEL or a bare LF at every position of a line,
 * and every alignment, is still found at its exact offset; a high byte
 * (UTF-8) and a tab are not faults. */
static void control_byte_every_offset(void)
{
	static const unsigned char bad[] = { 0x00, 0x01, 0x1f, 0x7f, '\r', '\n' };
	static char base[sizeof(invite) + 64], buf[sizeof(invite) + 64];
	const char *x = strstr(invite, "X-Custom: ") + 10, *eol = strstr(x, "\r\n");
	size_t at0 = (size_t)(x - invite), n;

	/* the X-Custom value becomes 48 plain bytes */
	memcpy(base, invite, at0);
	memset(base + at0, 'a', 48);
	memcpy(base + at0 + 48, eol, strlen(eol));
	n = at0 + 48 + strlen(eol);
	CHECK_INT(parse_lim(base, n, false, &SIP_LIMITS_DEFAULT), 0);
	for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
		for (size_t off = 0; off < 48; off++) {
			memcpy(buf, base, n);
			buf[at0 + off] = (char)bad[k];
			CHECK_INT(parse_lim(buf, n, false, &SIP_LIMITS_DEFAULT), EBADMSG);
			CHECK_INT(m.err_offset, at0 + off);
		}
	}
	for (size_t off = 0; off < 48; off++) {
		memcpy(buf, base, n);
		buf[at0 + off] = off % 2 ? '\t' : (char)0xc3;
		if (off % 2 == 0)
			buf[at0 + off + 1] = (char)0xa9; /* a whole UTF-8 character */
		CHECK_INT(parse_lim(buf, n, false, &SIP_LIMITS_DEFAULT), 0);
	}
}

/* Which refused messages are answered, and with what (sip_refusal). */
static void refusal(void)
{
	static const char base[] = "%s sip:bob@example.com SIP/2.0\r\n"
				   "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
				   "From: <sip:a@example.com>;tag=1\r\n"
				   "To: <sip:bob@example.com>\r\n"
				   "Call-ID: r@test\r\n"
				   "CSeq: 1 %s\r\n"
				   "%s"
				   "Content-Length: 0\r\n\r\n";
	char buf[1024];
	const char *reason = NULL;
	uint16_t status = 0;

	/* a known method with a bad header: the header's status */
	snprintf(buf, sizeof(buf), base, "INVITE", "INVITE", "Max-Forwards: 7x\r\n");
	CHECK(parse(buf, false) != 0);
	CHECK(sip_refusal(&m, m.err, &status, &reason));
	CHECK_INT(status, sip_err_status(m.err));
	CHECK(strcmp(reason, sip_err_reason(m.err)) == 0);
	/* a limit hit before parsing: that limit's status */
	CHECK(sip_refusal(&m, SIP_E_MESSAGE_TOO_LARGE, &status, &reason));
	CHECK_INT(status, 513);
	/* an unknown method is 501 however the rest is written */
	snprintf(buf, sizeof(buf), base, "FROB", "FROB", "Max-Forwards: 7x\r\n");
	CHECK(parse(buf, false) != 0);
	CHECK(sip_refusal(&m, m.err, &status, &reason));
	CHECK_INT(status, 501);
	CHECK(strcmp(reason, "Not Implemented") == 0);
	/* a method that is not a token is the parser's 400 */
	snprintf(buf, sizeof(buf), base, "FR\"OB", "FROB", "");
	CHECK(parse(buf, false) != 0);
	CHECK_INT(m.err, SIP_E_METHOD);
	CHECK(sip_refusal(&m, m.err, &status, &reason));
	CHECK_INT(status, sip_err_status(SIP_E_METHOD));
	CHECK(status != 501);
	/* an ACK is never answered */
	snprintf(buf, sizeof(buf), base, "ACK", "ACK", "Max-Forwards: 7x\r\n");
	CHECK(parse(buf, false) != 0);
	CHECK(!sip_refusal(&m, m.err, &status, &reason));
	/* nor a request without one Call-ID to answer with */
	snprintf(buf, sizeof(buf), base, "INVITE", "INVITE", "Call-ID: second@test\r\n");
	CHECK(parse(buf, false) != 0);
	CHECK(!sip_refusal(&m, m.err, &status, &reason));
	/* nor a response */
	CHECK(parse("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
		    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
		    "Call-ID: r@test\r\nCSeq: 1 INVITE\r\nContent-Length: x\r\n\r\n",
		    false) != 0);
	CHECK(!sip_refusal(&m, m.err, &status, &reason));
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(valid_invite),  CASE(valid_response), CASE(malformed_start),
		CASE(malformed_headers), CASE(malformed_headers2), CASE(duplicates),
		CASE(lexical),	     CASE(body_modes),	   CASE(limits),
		CASE(header_flood),  CASE(truncation),	   CASE(non_ascii),
		CASE(control_byte_every_offset), CASE(refusal),
	};
	return check_main("sip_msg", cases, ARRAY_SIZE(cases), argc, argv);
}
