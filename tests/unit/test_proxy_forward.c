/*
 * Unit tests of proxy/forward.c: the forwarded request (16.6) and response
 * (16.7), checked by parsing what was built.
 */
#include <errno.h>

#include "check.h"
#include "proxy/proxy.h"

static struct sip_hdr h1[64], h2[64];
static struct sip_msg in, out;
static char buf[8192];

static const char invite[] =
	"INVITE sip:1002@example.test SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1;rport\r\n"
	"Max-Forwards: 70\r\n"
	"Route: <sip:127.0.0.1:5060;lr>, <sip:next.example:5070;lr>\r\n"
	"Record-Route: <sip:upstream.example;lr>\r\n"
	"From: \"Alice\" <sip:1001@example.test>;tag=f1\r\n"
	"To: <sip:1002@example.test>\r\n"
	"Call-ID: c1@test\r\n"
	"CSeq: 2 INVITE\r\n"
	"P-Asserted-Identity: <sip:ceo@example.test>\r\n"
	"Remote-Party-ID: <sip:ceo@example.test>;party=calling\r\n"
	"Proxy-Authorization: Digest username=\"1001\", realm=\"example.test\", nonce=\"n\", "
	"uri=\"sip:1002@example.test\", response=\"00\"\r\n"
	"Proxy-Authorization: Digest username=\"x\", realm=\"other.example\", nonce=\"n\", "
	"uri=\"sip:1002@example.test\", response=\"00\"\r\n"
	"Contact: <sip:1001@192.0.2.1:5060>\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: 4\r\n\r\nv=0\n";

static int parse_in(void)
{
	return sip_msg_parse(&in, h1, 64, invite, sizeof(invite) - 1, false, NULL);
}

static void forwarded_request(void)
{
	struct sip_buf b;
	struct proxy_fwd f = {
		.ruri = SLICE_LIT("sip:1002@192.0.2.9:5062"),
		.via = SLICE_LIT("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbst.1"),
		.record_route = SLICE_LIT("Record-Route: <sip:127.0.0.1:5060;lr>\r\n"),
		.skip_routes = 1,
		.max_forwards = 69,
		.strip_identity = true,
		.drop_credentials_realm = SLICE_LIT("example.test"),
		.extra = SLICE_LIT("P-Asserted-Identity: <sip:1001@example.test>\r\n"),
	};
	const struct sip_hdr *h;

	CHECK_INT(parse_in(), 0);
	sip_buf_init(&b, buf, sizeof(buf));
	CHECK_INT(proxy_build_request(&b, &in, &f), 0);
	CHECK_INT(sip_msg_parse(&out, h2, 64, b.p, b.len, true, NULL), 0);
	CHECK_SLICE(out.ruri_raw, "sip:1002@192.0.2.9:5062");
	CHECK_INT(out.count[SIP_H_VIA], 2);
	CHECK_SLICE(out.via.branch, "z9hG4bKbst.1");
	CHECK_INT(out.max_forwards, 69);
	CHECK_INT(out.count[SIP_H_MAX_FORWARDS], 1);
	/* our Route value consumed, the next one kept */
	CHECK_INT(out.count[SIP_H_ROUTE], 1);
	CHECK_SLICE(sip_msg_hdr(&out, SIP_H_ROUTE)->value, "<sip:next.example:5070;lr>");
	/* our Record-Route on top of the existing one */
	h = sip_msg_hdr(&out, SIP_H_RECORD_ROUTE);
	CHECK_SLICE(h->value, "<sip:127.0.0.1:5060;lr>");
	CHECK_SLICE(sip_msg_hdr_next(&out, h)->value, "<sip:upstream.example;lr>");
	/* identity: injected ones gone, ours added */
	CHECK_INT(out.count[SIP_H_REMOTE_PARTY_ID], 0);
	CHECK_INT(out.count[SIP_H_P_ASSERTED_IDENTITY], 1);
	CHECK_SLICE(sip_msg_hdr(&out, SIP_H_P_ASSERTED_IDENTITY)->value, "<sip:1001@example.test>");
	/* our credentials consumed, another realm's kept */
	CHECK_INT(out.count[SIP_H_PROXY_AUTHORIZATION], 1);
	CHECK(strstr(b.p, "other.example") != NULL);
	CHECK_INT(out.content_length, 4);
	CHECK_SLICE(out.body, "v=0\n");
}

/* The Proxy-Authorization that authentication consumed (credentials_hdr)
 * is dropped without parsing it again: named by its index, even one whose
 * realm would not be ours is taken at its word; the others still by their
 * realm. An index that names another header drops nothing. */
static void consumed_credentials_by_index(void)
{
	struct sip_buf b;
	struct proxy_fwd f = {
		.via = SLICE_LIT("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbst.1"),
		.max_forwards = 69,
		.drop_credentials_realm = SLICE_LIT("example.test"),
	};
	uint32_t ours = 0, other = 0;

	CHECK_INT(parse_in(), 0);
	for (uint32_t i = 0; i < in.nhdrs; i++) {
		if (in.hdrs[i].id != SIP_H_PROXY_AUTHORIZATION)
			continue;
		if (!ours)
			ours = i + 1;
		else
			other = i + 1;
	}
	CHECK(ours && other);
	/* the one authentication used: the same forward as by realm */
	f.credentials_hdr = ours;
	sip_buf_init(&b, buf, sizeof(buf));
	CHECK_INT(proxy_build_request(&b, &in, &f), 0);
	CHECK_INT(sip_msg_parse(&out, h2, 64, b.p, b.len, true, NULL), 0);
	CHECK_INT(out.count[SIP_H_PROXY_AUTHORIZATION], 1);
	CHECK(strstr(b.p, "other.example") != NULL);
	/* the index is believed, not parsed; the realm check drops ours */
	f.credentials_hdr = other;
	sip_buf_init(&b, buf, sizeof(buf));
	CHECK_INT(proxy_build_request(&b, &in, &f), 0);
	CHECK_INT(sip_msg_parse(&out, h2, 64, b.p, b.len, true, NULL), 0);
	CHECK_INT(out.count[SIP_H_PROXY_AUTHORIZATION], 0);
	/* an index of a header that is no Proxy-Authorization: by realm only */
	f.credentials_hdr = 1;
	sip_buf_init(&b, buf, sizeof(buf));
	CHECK_INT(proxy_build_request(&b, &in, &f), 0);
	CHECK_INT(sip_msg_parse(&out, h2, 64, b.p, b.len, true, NULL), 0);
	CHECK_INT(out.count[SIP_H_PROXY_AUTHORIZATION], 1);
	CHECK_INT(out.count[SIP_H_VIA], in.count[SIP_H_VIA] + 1);
	/* no realm to drop: nothing dropped, whatever the index */
	f.drop_credentials_realm = SLICE_NULL;
	f.credentials_hdr = ours;
	sip_buf_init(&b, buf, sizeof(buf));
	CHECK_INT(proxy_build_request(&b, &in, &f), 0);
	CHECK_INT(sip_msg_parse(&out, h2, 64, b.p, b.len, true, NULL), 0);
	CHECK_INT(out.count[SIP_H_PROXY_AUTHORIZATION], 2);
}

/* The emergency INVITE (issue 13): the body replaced (multipart with the
 * PIDF-LO), the request's own Content-Type and location headers gone, the
 * new Content-Type and length written. */
static void body_replaced(void)
{
	static const char req[] =
		"INVITE sip:911@example.test SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1;rport\r\n"
		"From: <sip:1001@example.test>;tag=f1\r\n"
		"To: <sip:911@example.test>\r\n"
		"Call-ID: c1@test\r\n"
		"CSeq: 2 INVITE\r\n"
		"Geolocation: <https://evil.example/loc>\r\n"
		"geolocation-routing: no\r\n"
		"Content-Type: application/sdp\r\n"
		"Content-Length: 4\r\n\r\nv=0\n";
	struct sip_buf b;
	struct proxy_fwd f = {
		.via = SLICE_LIT("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbst.1"),
		.max_forwards = 69,
		.extra = SLICE_LIT("Geolocation: <cid:x@y>\r\n"),
		.replace_body = true,
		.content_type = SLICE_LIT("multipart/mixed;boundary=b1"),
		.body = SLICE_LIT("--b1\r\n\r\nx\r\n--b1--\r\n"),
	};
	const struct sip_hdr *h;
	int geo = 0;

	CHECK_INT(sip_msg_parse(&in, h1, 64, req, sizeof(req) - 1, false, NULL), 0);
	sip_buf_init(&b, buf, sizeof(buf));
	CHECK_INT(proxy_build_request(&b, &in, &f), 0);
	CHECK_INT(sip_msg_parse(&out, h2, 64, b.p, b.len, true, NULL), 0);
	CHECK_INT(out.count[SIP_H_CONTENT_TYPE], 1);
	CHECK_SLICE(sip_msg_hdr(&out, SIP_H_CONTENT_TYPE)->value, "multipart/mixed;boundary=b1");
	CHECK_SLICE(out.body, "--b1\r\n\r\nx\r\n--b1--\r\n");
	CHECK_INT(out.content_length, out.body.len);
	for (uint32_t i = 0; i < out.nhdrs; i++) {
		h = &out.hdrs[i];
		if (slice_caseeq_cstr(h->name, "Geolocation")) {
			geo++;
			CHECK_SLICE(h->value, "<cid:x@y>");
		}
		CHECK(!slice_caseeq_cstr(h->name, "Geolocation-Routing"));
	}
	CHECK_INT(geo, 1);
}

static void no_record_route_yet(void)
{
	static const char opt[] = "MESSAGE sip:1002@example.test SIP/2.0\r\n"
				  "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKx\r\n"
				  "From: <sip:1001@example.test>;tag=a\r\nTo: <sip:1002@example.test>\r\n"
				  "Call-ID: m@x\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
	struct sip_buf b;
	struct proxy_fwd f = { .via = SLICE_LIT("SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKq"),
			       .record_route = SLICE_LIT("Record-Route: <sip:127.0.0.1;transport=tcp;lr>\r\n"
							 "Record-Route: <sip:127.0.0.1;lr>\r\n"),
			       .max_forwards = 70 };

	CHECK_INT(sip_msg_parse(&in, h1, 64, opt, sizeof(opt) - 1, false, NULL), 0);
	sip_buf_init(&b, buf, sizeof(buf));
	CHECK_INT(proxy_build_request(&b, &in, &f), 0);
	CHECK_INT(sip_msg_parse(&out, h2, 64, b.p, b.len, true, NULL), 0);
	CHECK_SLICE(out.ruri_raw, "sip:1002@example.test"); /* kept */
	CHECK_INT(out.count[SIP_H_RECORD_ROUTE], 2);
	CHECK_INT(out.count[SIP_H_P_ASSERTED_IDENTITY], 0);
}

static void overflow_reported(void)
{
	struct sip_buf b;
	struct proxy_fwd f = { .via = SLICE_LIT("SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKq"),
			       .max_forwards = 1 };

	CHECK_INT(parse_in(), 0);
	for (size_t cap = 0; cap < 200; cap += 7) {
		sip_buf_init(&b, buf, cap);
		CHECK_INT(proxy_build_request(&b, &in, &f), EOVERFLOW);
	}
}

static void response_without_our_via(void)
{
	static const char r1[] = "SIP/2.0 180 Ringing\r\n"
				 "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbst.1, "
				 "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1\r\n"
				 "Via: SIP/2.0/UDP 192.0.2.0;branch=z9hG4bKz\r\n"
				 "From: <sip:1001@example.test>;tag=f1\r\nTo: <sip:1002@example.test>;tag=t2\r\n"
				 "Call-ID: c1@test\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";
	static const char r2[] = "SIP/2.0 200 OK\r\n"
				 "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbst.1\r\n"
				 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1\r\n"
				 "From: <sip:1001@example.test>;tag=f1\r\nTo: <sip:1002@example.test>;tag=t2\r\n"
				 "Call-ID: c1@test\r\nCSeq: 2 INVITE\r\nContent-Length: 3\r\n\r\nabc";
	static const char r3[] = "SIP/2.0 200 OK\r\n"
				 "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbst.1\r\n"
				 "From: <sip:1001@example.test>;tag=f1\r\nTo: <sip:1002@example.test>;tag=t2\r\n"
				 "Call-ID: c1@test\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";
	struct sip_buf b;

	CHECK_INT(sip_msg_parse(&in, h1, 64, r1, sizeof(r1) - 1, false, NULL), 0);
	sip_buf_init(&b, buf, sizeof(buf));
	CHECK_INT(proxy_build_response(&b, &in), 0);
	CHECK_INT(sip_msg_parse(&out, h2, 64, b.p, b.len, true, NULL), 0);
	CHECK_SLICE(out.via.branch, "z9hG4bKa1");
	CHECK_INT(out.count[SIP_H_VIA], 2);

	CHECK_INT(sip_msg_parse(&in, h1, 64, r2, sizeof(r2) - 1, false, NULL), 0);
	sip_buf_init(&b, buf, sizeof(buf));
	CHECK_INT(proxy_build_response(&b, &in), 0);
	CHECK_INT(sip_msg_parse(&out, h2, 64, b.p, b.len, true, NULL), 0);
	CHECK_INT(out.count[SIP_H_VIA], 1);
	CHECK_SLICE(out.via.branch, "z9hG4bKa1");
	CHECK_SLICE(out.body, "abc");

	/* a response with only our Via has nowhere to go */
	CHECK_INT(sip_msg_parse(&in, h1, 64, r3, sizeof(r3) - 1, false, NULL), 0);
	sip_buf_init(&b, buf, sizeof(buf));
	CHECK_INT(proxy_build_response(&b, &in), EPROTO);
}

static void loop_hash_stable(void)
{
	char a[17], b2[17];
	const struct hash_key key = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL };

	CHECK_INT(parse_in(), 0);
	proxy_loop_hash(&key, &in, a);
	proxy_loop_hash(&key, &in, b2);
	CHECK(strcmp(a, b2) == 0);
	CHECK_INT(strlen(a), 16);
	static char other[sizeof(invite)];
	memcpy(other, invite, sizeof(invite));
	other[strlen("INVITE sip:100")] = '3'; /* another Request-URI */
	CHECK_INT(sip_msg_parse(&in, h1, 64, other, sizeof(invite) - 1, false, NULL), 0);
	proxy_loop_hash(&key, &in, b2);
	CHECK(strcmp(a, b2) != 0);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(forwarded_request), CASE(body_replaced), CASE(no_record_route_yet), CASE(overflow_reported),
		CASE(response_without_our_via), CASE(loop_hash_stable),
		CASE(consumed_credentials_by_index),
	};
	return check_main("proxy_forward", cases, ARRAY_SIZE(cases), argc, argv);
}
