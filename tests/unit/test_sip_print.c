/*
 * test_sip_print: the bounded buffer, printing a parsed message back out
 * (round trip through the parser), and building responses with received,
 * rport and a To tag, which are then parsed again.
 */
#include "check.h"
#include "sip/sip.h"

#include <errno.h>
#include <stdio.h>

static const char req[] =
	"REGISTER sip:registrar.example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKnashds7\r\n"
	"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKa, SIP/2.0/TCP p2.example.com;branch=z9hG4bKb\r\n"
	"Max-Forwards: 70\r\n"
	"To: Bob <sip:bob@example.com>\r\n"
	"From: Bob <sip:bob@example.com>;tag=456248\r\n"
	"Call-ID: 843817637684230@998sdasdh09\r\n"
	"CSeq: 1826 REGISTER\r\n"
	"Contact: <sip:bob@192.0.2.4>\r\n"
	"X-Folded: a\r\n b\r\n"
	"Content-Length: 999\r\n"
	"\r\n";

static struct sip_hdr hdrs[50], hdrs2[50];
static struct sip_msg m, m2;

static void buf_basics(void)
{
	char mem[8];
	struct sip_buf b;

	sip_buf_init(&b, mem, sizeof(mem));
	sip_buf_str(&b, "abc");
	sip_buf_u32(&b, 0);
	sip_buf_u32(&b, 4096);
	CHECK(!b.overflow);
	CHECK_INT(b.len, 8);
	CHECK(memcmp(mem, "abc04096", 8) == 0);
	sip_buf_put(&b, "x", 1);
	CHECK(b.overflow);
	CHECK_INT(b.len, 8);
	sip_buf_init(&b, mem, sizeof(mem));
	sip_buf_u32(&b, 4294967295u);
	CHECK(b.overflow);
	CHECK_INT(b.len, 0);
	sip_buf_init(&b, NULL, 0);
	sip_buf_slice(&b, SLICE_NULL);
	CHECK(!b.overflow);
	sip_buf_str(&b, "a");
	CHECK(b.overflow);
}

static void print_roundtrip(void)
{
	char out[2048];
	struct sip_buf b;
	char body_req[sizeof(req) + 8];

	/* datagram with no body but a lying Content-Length would fail: fix it */
	snprintf(body_req, sizeof(body_req), "%s", req);
	memcpy(strstr(body_req, "999"), "  0", 3);
	CHECK_INT(sip_msg_parse(&m, hdrs, 50, body_req, strlen(body_req), false, NULL), 0);
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(sip_msg_print(&b, &m), 0);
	CHECK_INT(sip_msg_parse(&m2, hdrs2, 50, b.p, b.len, true, NULL), 0);
	CHECK_INT(m2.nhdrs, m.nhdrs);
	for (uint32_t k = 0; k < m.nhdrs; k++) {
		CHECK(slice_eq(m.hdrs[k].name, m2.hdrs[k].name));
		if (m.hdrs[k].id != SIP_H_CONTENT_LENGTH)
			CHECK(slice_eq(m.hdrs[k].value, m2.hdrs[k].value));
	}
	CHECK(slice_eq(m.ruri_raw, m2.ruri_raw));
	CHECK_INT(m2.content_length, 0);
	CHECK(strstr(out, "X-Folded: a\r\n b\r\n") != NULL);

	/* the body and a rewritten Content-Length; a datagram without one */
	static const char d[] = "MESSAGE sip:a@b.example SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
				"f: <sip:x@y>;tag=1\r\nt: <sip:a@b.example>\r\ni: c\r\nCSeq: 3 MESSAGE\r\n"
				"c: text/plain\r\n\r\nhi there";
	CHECK_INT(sip_msg_parse(&m, hdrs, 50, d, sizeof(d) - 1, false, NULL), 0);
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(sip_msg_print(&b, &m), 0);
	CHECK_INT(sip_msg_parse(&m2, hdrs2, 50, b.p, b.len, true, NULL), 0);
	CHECK_SLICE(m2.body, "hi there");
	CHECK_INT(m2.content_length, 8);
	CHECK_SLICE(m2.via.branch, "z9hG4bK1");

	/* responses, and overflow at every size */
	static const char r[] = "SIP/2.0 404 Not Here\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
				"f: <sip:x@y>;tag=1\r\nt: <sip:a@b.example>;tag=9\r\ni: c\r\nCSeq: 3 MESSAGE\r\n"
				"l: 0\r\n\r\n";
	CHECK_INT(sip_msg_parse(&m, hdrs, 50, r, sizeof(r) - 1, false, NULL), 0);
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(sip_msg_print(&b, &m), 0);
	size_t full = b.len;
	CHECK_INT(sip_msg_parse(&m2, hdrs2, 50, b.p, b.len, true, NULL), 0);
	CHECK_INT(m2.status, 404);
	CHECK_SLICE(m2.reason, "Not Here");
	for (size_t cap = 0; cap < full; cap++) {
		sip_buf_init(&b, out, cap);
		CHECK_INT(sip_msg_print(&b, &m), EOVERFLOW);
		CHECK(b.len <= cap);
	}
}

static void reply(void)
{
	char out[2048];
	struct sip_buf b;
	struct sip_reply_opts o = {
		.to_tag = SLICE_LIT("srv1"),
		.src_ip = "192.0.2.99",
		.src_port = 34567,
		.server = "Bastion/0.1",
		.extra = SLICE_LIT("Expires: 3600\r\n"),
		.body = SLICE_LIT(""),
	};
	char r2[sizeof(req)];

	memcpy(r2, req, sizeof(req));
	memcpy(strstr(r2, "999"), "  0", 3);
	CHECK_INT(sip_msg_parse(&m, hdrs, 50, r2, sizeof(r2) - 1, false, NULL), 0);
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(sip_reply_build(&b, &m, 200, "OK", &o), 0);
	out[b.len] = '\0';
	static const char want[] =
		"SIP/2.0 200 OK\r\n"
		"Via: SIP/2.0/UDP 10.0.0.5:5060;rport=34567;branch=z9hG4bKnashds7;received=192.0.2.99\r\n"
		"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKa, SIP/2.0/TCP p2.example.com;branch=z9hG4bKb\r\n"
		"From: Bob <sip:bob@example.com>;tag=456248\r\n"
		"To: Bob <sip:bob@example.com>;tag=srv1\r\n"
		"Call-ID: 843817637684230@998sdasdh09\r\n"
		"CSeq: 1826 REGISTER\r\n"
		"Expires: 3600\r\n"
		"Server: Bastion/0.1\r\n"
		"Content-Length: 0\r\n\r\n";
	if (strcmp(out, want) != 0) {
		check_fail(__FILE__, __LINE__, "reply:\n%s", out);
		return;
	}
	CHECK_INT(sip_msg_parse(&m2, hdrs2, 50, b.p, b.len, true, NULL), 0);
	CHECK(!m2.request);
	CHECK_INT(m2.status, 200);
	CHECK_SLICE(m2.via.rport, "34567");
	CHECK_SLICE(m2.via.received, "192.0.2.99");
	CHECK_SLICE(m2.to.tag, "srv1");
	CHECK_SLICE(m2.from.tag, "456248");
	CHECK(slice_eq(m2.call_id, m.call_id));
	CHECK_INT(m2.cseq.num, 1826);
	CHECK_INT(m2.count[SIP_H_VIA], 2);

	/* no rport asked, source equals sent-by: Via untouched; To tag kept */
	static const char q[] = "OPTIONS sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1\r\n"
				"From: <sip:x@y.example>;tag=1\r\nTo: <sip:a@b.example>;tag=old\r\nCall-ID: c\r\n"
				"CSeq: 3 OPTIONS\r\n\r\n";
	CHECK_INT(sip_msg_parse(&m, hdrs, 50, q, sizeof(q) - 1, false, NULL), 0);
	o.src_ip = "192.0.2.7";
	o.server = NULL;
	o.extra = SLICE_NULL;
	o.body = SLICE_LIT("body!");
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(sip_reply_build(&b, &m, 486, "Busy Here", &o), 0);
	out[b.len] = '\0';
	CHECK(strstr(out, "Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1\r\n") != NULL);
	CHECK(strstr(out, "To: <sip:a@b.example>;tag=old\r\n") != NULL);
	CHECK(strstr(out, "srv1") == NULL);
	CHECK(strstr(out, "Server:") == NULL);
	CHECK(strstr(out, "Content-Length: 5\r\n\r\nbody!") != NULL);
	CHECK_INT(sip_msg_parse(&m2, hdrs2, 50, b.p, b.len, true, NULL), 0);
	CHECK_SLICE(m2.body, "body!");

	/* different source: received added, no rport */
	o.src_ip = "198.51.100.1";
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(sip_reply_build(&b, &m, 486, "Busy Here", &o), 0);
	out[b.len] = '\0';
	CHECK(strstr(out, "Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK1;received=198.51.100.1\r\n") != NULL);
	/* no source at all */
	o.src_ip = NULL;
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(sip_reply_build(&b, &m, 486, "Busy Here", &o), 0);
	out[b.len] = '\0';
	CHECK(strstr(out, "received") == NULL);

	/* overflow and refusals */
	sip_buf_init(&b, out, 40);
	CHECK_INT(sip_reply_build(&b, &m, 486, "Busy Here", &o), EOVERFLOW);
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(sip_reply_build(&b, &m, 99, "x", &o), EINVAL);
	CHECK_INT(sip_reply_build(&b, &m, 700, "x", &o), EINVAL);
	m.have &= ~(unsigned)SIP_HAVE_CSEQ;
	CHECK_INT(sip_reply_build(&b, &m, 400, "x", &o), EINVAL);
}

/* A 400 for a broken request, from what the parser could still read. */
static void reply_to_broken(void)
{
	char out[2048];
	struct sip_buf b;
	static const char bad[] = "INVITE sip:a@b.example SIP/2.0\r\nVia: SIP/2.0/UDP h.example;rport;branch=z9hG4bK1\r\n"
				  "From: <sip:x@y.example>;tag=1\r\nTo: <sip:a@b.example>\r\nCall-ID: c\r\n"
				  "CSeq: 3 INVITE\r\nMax-Forwards: 300\r\nContent-Length: 0\r\n\r\n";
	struct sip_reply_opts o = { .to_tag = SLICE_LIT("t"), .src_ip = "192.0.2.1", .src_port = 9 };

	CHECK_INT(sip_msg_parse(&m, hdrs, 50, bad, sizeof(bad) - 1, false, NULL), EBADMSG);
	CHECK_INT(m.err, SIP_E_MAX_FORWARDS);
	sip_buf_init(&b, out, sizeof(out));
	CHECK_INT(sip_reply_build(&b, &m, sip_err_status(m.err), sip_err_reason(m.err), &o), 0);
	CHECK_INT(sip_msg_parse(&m2, hdrs2, 50, b.p, b.len, true, NULL), 0);
	CHECK_INT(m2.status, 400);
	CHECK_SLICE(m2.reason, "Malformed Max-Forwards");
	CHECK_SLICE(m2.via.rport, "9");
	CHECK_SLICE(m2.via.received, "192.0.2.1");
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(buf_basics),
		CASE(print_roundtrip),
		CASE(reply),
		CASE(reply_to_broken),
	};
	return check_main("sip_print", cases, ARRAY_SIZE(cases), argc, argv);
}
