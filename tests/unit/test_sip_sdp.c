/*
 * test_sip_sdp: the SDP parser (valid offers of every keying kind, port-0 and
 * multiple streams, malformed lines, every truncation of a valid body, each
 * limit, LF-only line ends) and the SRTP policy check with its reasons.
 */
#include "check.h"
#include "sip/sip.h"

#include <errno.h>
#include <stdlib.h>

#define HEAD "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n" \
	     "c=IN IP4 192.0.2.10\r\nt=0 0\r\n"

#define CRYPTO "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\n"

#define FP "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:" \
	   "19:E5:7C:AB:3A:8B:4F:2E:11:9E:2A:8F:0C:7D:9B:1E\r\n"

/* The copy behind the last parse(): its slices stay valid until the next. */
static char *held;

/* Parse a C string in an exactly sized heap copy, so ASan sees any read
 * past the end. */
static int parse(struct sdp *s, const char *text, const struct sdp_limits *lim, size_t *off)
{
	size_t n = strlen(text);

	free(held);
	held = malloc(n ? n : 1);
	if (!held)
		abort();
	memcpy(held, text, n);
	return sdp_parse(s, held, n, lim, off);
}

/* Offset of the last occurrence of needle in text (the test's own data). */
static size_t last_off(const char *text, const char *needle)
{
	size_t off = (size_t)-1;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		off = (size_t)(p - text);
	return off;
}

static void plain_rtp(void)
{
	static const char t[] = HEAD "m=audio 49170 RTP/AVP 0 8 101\r\n"
				     "a=rtpmap:101 telephone-event/8000\r\n"
				     "a=sendrecv\r\n";
	/* a parse keeps its slices into the buffer, so parse t itself */
	struct sdp s;
	struct slice bad;

	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, NULL, NULL), 0);
	CHECK_INT(s.nmedia, 1);
	CHECK_SLICE(s.media[0].line, "audio 49170 RTP/AVP 0 8 101");
	CHECK_SLICE(s.media[0].media, "audio");
	CHECK_SLICE(s.media[0].port, "49170");
	CHECK_INT(s.media[0].port_num, 49170);
	CHECK_SLICE(s.media[0].proto, "RTP/AVP");
	CHECK_SLICE(s.media[0].fmts, "0 8 101");
	CHECK(!s.media[0].port_zero);
	CHECK(!s.media[0].has_crypto);
	CHECK(!s.media[0].has_fingerprint);
	CHECK(!s.session_fingerprint);
	CHECK_INT(sdp_srtp_check(&s, &bad), SDP_SRTP_NONE);
	CHECK_SLICE(bad, "audio 49170 RTP/AVP 0 8 101");
	CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_NONE);
}

static void sdes_savp(void)
{
	static const char t[] = HEAD "m=audio 49170 RTP/SAVP 0\r\n" CRYPTO
				     "m=video 51372 RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n"
				     "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\n";
	struct sdp s;
	struct slice bad;

	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, NULL, NULL), 0);
	CHECK_INT(s.nmedia, 2);
	CHECK(s.media[0].has_crypto);
	CHECK(s.media[1].has_crypto);
	CHECK_SLICE(s.media[1].proto, "RTP/SAVPF");
	CHECK_INT(sdp_srtp_check(&s, &bad), SDP_SRTP_OK);
	CHECK_INT(bad.len, 0);

	/* SAVP on the second stream without keys: that stream is named */
	static const char t2[] = HEAD "m=audio 49170 RTP/SAVP 0\r\n" CRYPTO
				      "m=video 51372 RTP/SAVP 96\r\n";
	CHECK_INT(sdp_parse(&s, t2, sizeof(t2) - 1, NULL, NULL), 0);
	CHECK(!s.media[1].has_crypto);
	CHECK_INT(sdp_srtp_check(&s, &bad), SDP_SRTP_NO_KEYS);
	CHECK_SLICE(bad, "video 51372 RTP/SAVP 96");

	/* a=crypto at session level does not key a stream (RFC 4568 9.1) */
	static const char t3[] = HEAD CRYPTO "m=audio 49170 RTP/SAVP 0\r\n";
	CHECK_INT(sdp_parse(&s, t3, sizeof(t3) - 1, NULL, NULL), 0);
	CHECK(!s.media[0].has_crypto);
	CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_NO_KEYS);

	/* a malformed a=crypto parses but is no key */
	static const char *const badcrypto[] = {
		"a=crypto:\r\n",
		"a=crypto\r\n",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80\r\n",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:\r\n",
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 key:abc\r\n",
		"a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:abc\r\n",
		"a=crypto:1234567890 AES_CM_128_HMAC_SHA1_80 inline:abc\r\n",
		"a=crypto:1  inline:abc\r\n",
		"a=Crypto:1 AES_CM_128_HMAC_SHA1_80 inline:abc\r\n",
	};
	for (size_t k = 0; k < ARRAY_SIZE(badcrypto); k++) {
		char buf[512];
		snprintf(buf, sizeof(buf), "%sm=audio 1 RTP/SAVP 0\r\n%s", HEAD, badcrypto[k]);
		CHECK_INT(parse(&s, buf, NULL, NULL), 0);
		if (s.media[0].has_crypto)
			check_fail(__FILE__, __LINE__, "counted as keys: %s", badcrypto[k]);
		CHECK(!s.media[0].has_crypto);
		CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_NO_KEYS);
	}
	/* and the smallest well-formed one counts */
	CHECK_INT(parse(&s, HEAD "m=audio 1 RTP/SAVP 0\r\na=crypto:1 X INLINE:k\r\n", NULL, NULL),
		  0);
	CHECK(s.media[0].has_crypto);
}

static void dtls_session_fingerprint(void)
{
	static const char t[] = HEAD FP "a=setup:actpass\r\n"
				     "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtcp-mux\r\n"
				     "m=video 9 UDP/TLS/RTP/SAVP 96\r\n";
	struct sdp s;

	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, NULL, NULL), 0);
	CHECK(s.session_fingerprint);
	CHECK_INT(s.nmedia, 2);
	CHECK(s.media[0].has_fingerprint);
	CHECK(s.media[1].has_fingerprint);
	CHECK(!s.media[0].has_crypto);
	CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_OK);
}

static void dtls_media_fingerprint(void)
{
	static const char t[] = HEAD "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" FP
				     "m=video 9 TCP/DTLS/RTP/SAVPF 96\r\n" FP;
	struct sdp s;
	struct slice bad;

	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, NULL, NULL), 0);
	CHECK(!s.session_fingerprint);
	CHECK(s.media[0].has_fingerprint);
	CHECK(s.media[1].has_fingerprint);
	CHECK_INT(sdp_srtp_check(&s, &bad), SDP_SRTP_OK);

	/* the fingerprint of one stream does not cover the next */
	static const char t2[] = HEAD "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" FP
				      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
	CHECK_INT(sdp_parse(&s, t2, sizeof(t2) - 1, NULL, NULL), 0);
	CHECK(!s.media[1].has_fingerprint);
	CHECK_INT(sdp_srtp_check(&s, &bad), SDP_SRTP_NO_KEYS);
	CHECK_SLICE(bad, "video 9 UDP/TLS/RTP/SAVPF 96");

	/* a=crypto does not key a DTLS-SRTP stream, a fingerprint no SDES one */
	CHECK_INT(parse(&s, HEAD "m=audio 9 UDP/TLS/RTP/SAVP 0\r\n" CRYPTO, NULL, NULL), 0);
	CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_NO_KEYS);
	CHECK_INT(parse(&s, HEAD "m=audio 9 RTP/SAVP 0\r\n" FP, NULL, NULL), 0);
	CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_NO_KEYS);

	/* malformed fingerprints are no fingerprint */
	static const char *const badfp[] = {
		"a=fingerprint:sha-256\r\n",
		"a=fingerprint:sha-256 \r\n",
		"a=fingerprint:sha-256 4A:A\r\n",
		"a=fingerprint:sha-256 4A:AD:\r\n",
		"a=fingerprint:sha-256 4A-AD\r\n",
		"a=fingerprint:sha-256 4G:AD\r\n",
		"a=fingerprint: 4A:AD\r\n",
	};
	for (size_t k = 0; k < ARRAY_SIZE(badfp); k++) {
		char buf[512];
		snprintf(buf, sizeof(buf), "%sm=audio 9 UDP/TLS/RTP/SAVP 0\r\n%s", HEAD, badfp[k]);
		CHECK_INT(parse(&s, buf, NULL, NULL), 0);
		if (s.media[0].has_fingerprint)
			check_fail(__FILE__, __LINE__, "counted as fingerprint: %s", badfp[k]);
		CHECK(!s.media[0].has_fingerprint);
		CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_NO_KEYS);
	}
	CHECK_INT(parse(&s, HEAD "m=audio 9 UDP/TLS/RTP/SAVP 0\r\na=fingerprint:sha-1 ab\r\n",
			NULL, NULL),
		  0);
	CHECK(s.media[0].has_fingerprint);
}

static void port_zero(void)
{
	static const char t[] = HEAD "m=audio 49170 RTP/SAVP 0\r\n" CRYPTO
				     "m=video 0 RTP/AVP 31\r\n"
				     "m=audio 0 RTP/SAVP 0\r\n";
	struct sdp s;

	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, NULL, NULL), 0);
	CHECK_INT(s.nmedia, 3);
	CHECK(!s.media[0].port_zero);
	CHECK(s.media[1].port_zero);
	CHECK_INT(s.media[1].port_num, 0);
	CHECK(s.media[2].port_zero);
	/* disabled plain RTP and key-less SAVP streams are no concern */
	CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_OK);
}

static void multiple_media(void)
{
	static const char t[] = HEAD "b=AS:256\r\n"
				     "m=audio 49170/2 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 192.0.2.11\r\n"
				     "b=AS:64\r\nk=prompt\r\na=ptime:20\r\n"
				     "m=video 51372 RTP/AVPF 96 97\r\n"
				     "m=application 5000 UDP/BFCP *\r\na=floorctrl:c-s\r\n"
				     "m=image 6000 udptl t38\r\n"
				     "m=message 7000 TCP/MSRP *\r\n";
	struct sdp s;

	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, NULL, NULL), 0);
	CHECK_INT(s.nmedia, 5);
	CHECK_SLICE(s.media[0].port, "49170/2");
	CHECK_INT(s.media[0].port_num, 49170);
	CHECK_SLICE(s.media[1].fmts, "96 97");
	CHECK_SLICE(s.media[2].media, "application");
	CHECK_SLICE(s.media[2].proto, "UDP/BFCP");
	CHECK_SLICE(s.media[2].fmts, "*");
	CHECK_SLICE(s.media[3].proto, "udptl");
	CHECK_SLICE(s.media[4].line, "message 7000 TCP/MSRP *");
	struct slice bad;
	CHECK_INT(sdp_srtp_check(&s, &bad), SDP_SRTP_NONE);
	CHECK_SLICE(bad, "audio 49170/2 RTP/AVP 0");
}

/* Streams that are not RTP are outside the SRTP check; anything naming RTP
 * that is not a known secure profile counts as plain. */
static void srtp_protos(void)
{
	static const struct {
		const char *m;
		enum sdp_srtp want;
	} cases[] = {
		{ "m=application 5000 UDP/BFCP *\r\n", SDP_SRTP_OK },
		{ "m=image 6000 udptl t38\r\n", SDP_SRTP_OK },
		{ "m=message 7000 TCP/TLS/MSRP *\r\n", SDP_SRTP_OK },
		{ "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", SDP_SRTP_OK },
		{ "m=audio 4000 RTP/AVP 0\r\n", SDP_SRTP_NONE },
		{ "m=audio 4000 RTP/AVPF 0\r\n", SDP_SRTP_NONE },
		{ "m=audio 4000 TCP/RTP/AVP 0\r\n", SDP_SRTP_NONE },
		{ "m=audio 4000 rtp/avp 0\r\n", SDP_SRTP_NONE },
		{ "m=audio 4000 RTP/SAVPX 0\r\n" CRYPTO, SDP_SRTP_NONE },
		{ "m=audio 4000 SRTP/AVP 0\r\n" CRYPTO, SDP_SRTP_NONE },
		{ "m=audio 4000 UDP/SRTP 0\r\n" CRYPTO, SDP_SRTP_NONE },
		{ "m=audio 4000 UDP/TLS/RTP/AVP 0\r\n" FP, SDP_SRTP_NONE },
		{ "m=audio 4000 rtp/savp 0\r\n" CRYPTO, SDP_SRTP_OK },
		{ "m=audio 4000 rtp/savp 0\r\n", SDP_SRTP_NO_KEYS },
		{ "m=audio 4000 udp/tls/rtp/savpf 0\r\n" FP, SDP_SRTP_OK },
		{ "m=audio 4000 TCP/DTLS/RTP/SAVP 0\r\n", SDP_SRTP_NO_KEYS },
		{ "m=audio 4000 TCP/DTLS/RTP/SAVP 0\r\n" FP, SDP_SRTP_OK },
		{ "", SDP_SRTP_OK }, /* no m= lines at all */
	};
	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		char buf[512];
		struct sdp s;
		snprintf(buf, sizeof(buf), "%s%s", HEAD, cases[k].m);
		CHECK_INT(parse(&s, buf, NULL, NULL), 0);
		enum sdp_srtp got = sdp_srtp_check(&s, NULL);
		if (got != cases[k].want)
			check_fail(__FILE__, __LINE__, "%s: got %d, want %d", cases[k].m, (int)got,
				   (int)cases[k].want);
		CHECK_INT(got, cases[k].want);
	}
	/* the first offending stream is reported, whatever its kind */
	struct sdp s;
	struct slice bad;
	CHECK_INT(parse(&s, HEAD "m=application 5000 UDP/BFCP *\r\nm=audio 1 RTP/SAVP 0\r\n"
				 "m=audio 2 RTP/AVP 0\r\n", NULL, NULL), 0);
	CHECK_INT(sdp_srtp_check(&s, &bad), SDP_SRTP_NO_KEYS);
	CHECK_SLICE(bad, "audio 1 RTP/SAVP 0");
}

static void malformed(void)
{
	static const struct {
		const char *text;
		const char *at; /* fault reported at its last occurrence; NULL: at the end */
	} cases[] = {
		/* no v=0 first */
		{ "", NULL },
		{ "\r\n", NULL },
		{ "o=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "o=" },
		{ "\r\nv=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "\r\nv=" },
		{ "v=1\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "v=1" },
		{ "V=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "V=0" },
		{ "v =0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "v =0" },
		{ "v=00\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "v=00" },
		{ " v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", " v=0" },
		/* garbage, unknown letters, a second v= */
		{ HEAD "hello\r\n", "hello" },
		{ HEAD "a\r\n", "a\r\n" },
		{ HEAD "=x\r\n", "=x" },
		{ HEAD "x=1\r\n", "x=1" },
		{ HEAD "A=sendrecv\r\n", "A=sendrecv" },
		{ HEAD "v=0\r\n", "v=0" },
		/* a blank line in the middle */
		{ "v=0\r\no=a 1 1 IN IP4 h\r\n\r\ns=-\r\nt=0 0\r\n", "\r\ns=" },
		{ HEAD "m=audio 1 RTP/AVP 0\n\na=x\n", "\na=x" },
		{ HEAD "m=audio 1 RTP/AVP 0\r\n \r\n", " \r\n" },
		/* required session lines missing or repeated */
		{ "v=0\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n", "m=" },
		{ "v=0\r\no=a 1 1 IN IP4 h\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n", "m=" },
		{ "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n", "m=" },
		{ "v=0\r\no=a 1 1 IN IP4 h\r\nt=0 0\r\n", NULL },
		{ "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\n", NULL },
		{ "v=0\r\n", NULL },
		{ "v=0\r\no=a 1 1 IN IP4 h\r\no=b 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n", "o=b" },
		{ "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\ns=x\r\nt=0 0\r\n", "s=x" },
		{ "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nr=7d 1h 0 25h\r\nt=0 0\r\n", "r=" },
		/* session-only lines inside a media section */
		{ HEAD "m=audio 1 RTP/AVP 0\r\nt=0 0\r\n", "t=" },
		{ HEAD "m=audio 1 RTP/AVP 0\r\no=a 1 1 IN IP4 h\r\n", "o=" },
		{ HEAD "m=audio 1 RTP/AVP 0\r\ns=x\r\n", "s=" },
		{ HEAD "m=audio 1 RTP/AVP 0\r\nz=0 0\r\n", "z=" },
		{ HEAD "m=audio 1 RTP/AVP 0\r\nu=http://x\r\n", "u=" },
		/* bad m= lines */
		{ HEAD "m=audio 49170 RTP/AVP\r\n", "m=" },
		{ HEAD "m=audio 49170 RTP/AVP \r\n", "m=" },
		{ HEAD "m=audio 49170 RTP/AVP 0 \r\n", "m=" },
		{ HEAD "m=audio  49170 RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio 49170  RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio 49170 RTP/AVP 0  8\r\n", "m=" },
		{ HEAD "m=audio\t49170 RTP/AVP 0\r\n", "m=" },
		{ HEAD "m= 49170 RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=\r\n", "m=" },
		{ HEAD "m=audio\r\n", "m=" },
		{ HEAD "m=audio 65536 RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio 4294967296 RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio -1 RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio 49l70 RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio 49170/0 RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio 49170/ RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio 49170/2/2 RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio /2 RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio 49170 RTP//AVP 0\r\n", "m=" },
		{ HEAD "m=audio 49170 /RTP/AVP 0\r\n", "m=" },
		{ HEAD "m=audio 49170 RTP/AVP/ 0\r\n", "m=" },
		{ HEAD "m=audio 49170 RTP/AVP 0 \"8\"\r\n", "m=" },
		{ HEAD "m=aud(io 49170 RTP/AVP 0\r\n", "m=" },
		/* bad attribute names */
		{ HEAD "a=\r\n", "a=" },
		{ HEAD "a=:x\r\n", "a=" },
		{ HEAD "a=send recv\r\n", "a=" },
		{ HEAD "m=audio 1 RTP/AVP 0\r\na=rtp map:0 PCMU/8000\r\n", "a=" },
		/* a CR must end a line */
		{ HEAD "a=x\ry\r\n", "\ry" },
		{ HEAD "a=tool:x\r", "\r" },
		{ HEAD "a=tool:x\r\r\n", "\r\r\n" },
	};
	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		const char *t = cases[k].text;
		size_t want = cases[k].at ? last_off(t, cases[k].at) : strlen(t);
		size_t off = 12345;
		struct sdp s;
		int rc = parse(&s, t, NULL, &off);
		if (rc != EBADMSG || off != want)
			check_fail(__FILE__, __LINE__, "case %zu \"%s\": rc %d off %zu, want %zu", k, t,
				   rc, off, want);
		CHECK_INT(rc, EBADMSG);
		CHECK_INT(off, want);
	}

	/* a NUL byte anywhere, even inside a value nobody reads */
	static const char nul[] = HEAD "s=a\0b\r\n";
	static const char nul2[] = HEAD "m=audio 1 RTP/AVP 0\r\na=tool:x\0\r\n";
	struct sdp s;
	size_t off;
	CHECK_INT(sdp_parse(&s, nul, sizeof(nul) - 1, NULL, &off), EBADMSG);
	CHECK_INT(off, sizeof(HEAD) - 1 + 3);
	CHECK_INT(sdp_parse(&s, nul2, sizeof(nul2) - 1, NULL, &off), EBADMSG);
	CHECK_INT(off, sizeof(nul2) - 4);
	/* a NULL err_off is allowed */
	CHECK_INT(sdp_parse(&s, nul, sizeof(nul) - 1, NULL, NULL), EBADMSG);
}

/* Every prefix of a valid offer, in an exactly sized buffer: no crash, no
 * read past the end (ASan), and a clean 0 or EBADMSG with an offset inside
 * the prefix. Prefixes that stop before "t=" cannot parse. */
static void truncated(void)
{
	static const char t[] = HEAD FP "a=group:BUNDLE 0 1\r\n"
				     "m=audio 49170 RTP/SAVP 0 8\r\n" CRYPTO "a=mid:0\r\n"
				     "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n";
	const size_t full = sizeof(t) - 1;
	/* values of t= are not interpreted, so "t=" is the earliest parsable end */
	const size_t t_end = last_off(t, "t=0 0\r\n") + 2;
	size_t ok = 0;

	for (size_t n = 0; n <= full; n++) {
		char *b = malloc(n ? n : 1);
		struct sdp s;
		size_t off = SIZE_MAX;
		if (!b)
			abort();
		memcpy(b, t, n);
		int rc = sdp_parse(&s, b, n, NULL, &off);
		if (rc == 0)
			(void)sdp_srtp_check(&s, NULL); /* reads the slices: before free */
		free(b);
		if (rc != 0 && rc != EBADMSG)
			check_fail(__FILE__, __LINE__, "prefix %zu: rc %d", n, rc);
		CHECK(rc == 0 || rc == EBADMSG);
		if (rc == EBADMSG)
			CHECK(off <= n);
		if (n < t_end)
			CHECK_INT(rc, EBADMSG);
		if (rc == 0) {
			ok++;
			CHECK(s.nmedia <= 2);
		}
	}
	/* the whole and the whole but its last line end parse alike */
	struct sdp s;
	CHECK_INT(sdp_parse(&s, t, full, NULL, NULL), 0);
	CHECK_INT(s.nmedia, 2);
	CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_OK);
	CHECK_INT(sdp_parse(&s, t, full - 2, NULL, NULL), 0);
	CHECK_SLICE(s.media[1].line, "video 0 UDP/TLS/RTP/SAVPF 96");
	/* with the last line end optional, many prefixes end on a whole line */
	CHECK(ok > 10);
}

static void limits(void)
{
	static const char t[] = HEAD "a=tool:x\r\na=recvonly\r\n"
				     "m=audio 1 RTP/AVP 0\r\na=ptime:20\r\na=sendrecv\r\na=x\r\n"
				     "m=video 2 RTP/AVP 96\r\na=y\r\n";
	/* 5 + 2 + 4 + 2 lines, 2 media, at most 3 attributes in one section */
	struct sdp_limits lim = { .max_lines = 13, .max_media = 2, .max_attrs = 3 };
	struct sdp s;
	size_t off;

	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, &lim, &off), 0);
	CHECK_INT(s.nmedia, 2);

	lim.max_lines = 12;
	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, &lim, &off), EOVERFLOW);
	CHECK_INT(off, last_off(t, "a=y"));
	lim.max_lines = 0;
	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, &lim, &off), EOVERFLOW);
	CHECK_INT(off, 0);
	lim.max_lines = 13;

	lim.max_media = 1;
	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, &lim, &off), EOVERFLOW);
	CHECK_INT(off, last_off(t, "m=video"));
	lim.max_media = 0;
	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, &lim, &off), EOVERFLOW);
	CHECK_INT(off, last_off(t, "m=audio"));
	lim.max_media = 2;

	/* per section: 3 in the first media section is over 2 ... */
	lim.max_attrs = 2;
	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, &lim, &off), EOVERFLOW);
	CHECK_INT(off, last_off(t, "a=x"));
	/* ... and at session level 2 is over 1 */
	lim.max_attrs = 1;
	CHECK_INT(sdp_parse(&s, t, sizeof(t) - 1, &lim, &off), EOVERFLOW);
	CHECK_INT(off, last_off(t, "a=recvonly"));

	/* max_media beyond the array is capped at SDP_MAX_MEDIA */
	char big[8192];
	size_t n = (size_t)snprintf(big, sizeof(big), "%s", HEAD);
	for (int k = 0; k <= SDP_MAX_MEDIA; k++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "m=audio %d RTP/AVP 0\r\n", k + 1);
	CHECK(n < sizeof(big));
	struct sdp_limits wide = { .max_lines = 1000, .max_media = 1000, .max_attrs = 64 };
	CHECK_INT(sdp_parse(&s, big, n, &wide, &off), EOVERFLOW);
	CHECK_INT(off, last_off(big, "m=audio"));
	CHECK_INT(s.nmedia, SDP_MAX_MEDIA);
	/* one m= fewer fits exactly */
	CHECK_INT(sdp_parse(&s, big, last_off(big, "m=audio"), &wide, &off), 0);
	CHECK_INT(s.nmedia, SDP_MAX_MEDIA);

	/* the defaults */
	struct sdp_limits def = SDP_LIMITS_DEFAULT;
	CHECK_INT(def.max_lines, 256);
	CHECK_INT(def.max_media, 16);
	CHECK_INT(def.max_attrs, 64);
	CHECK(def.max_media <= SDP_MAX_MEDIA);
	/* NULL limits are the defaults: 17 m= lines overflow */
	CHECK_INT(sdp_parse(&s, big, n, NULL, &off), EOVERFLOW);
	CHECK_INT(s.nmedia, 16);
	CHECK_INT(off, last_off(big, "m=audio 17 "));
	/* 257 lines overflow by default */
	n = (size_t)snprintf(big, sizeof(big), "%s", HEAD);
	for (int k = 0; k < 256 - 5; k++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "b=AS:%d\r\n", k);
	CHECK(n < sizeof(big));
	CHECK_INT(sdp_parse(&s, big, n, NULL, &off), 0);
	memcpy(big + n, "i=x\r\n", 5);
	CHECK_INT(sdp_parse(&s, big, n + 5, NULL, &off), EOVERFLOW);
	CHECK_INT(off, n);
}

static void line_ends(void)
{
	static const char lf[] = "v=0\no=alice 1 1 IN IP4 192.0.2.10\ns=-\nt=0 0\n"
				 "m=audio 49170 RTP/SAVP 0\n"
				 "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:abc\n"
				 "m=video 0 RTP/AVP 31\n";
	struct sdp s;

	CHECK_INT(sdp_parse(&s, lf, sizeof(lf) - 1, NULL, NULL), 0);
	CHECK_INT(s.nmedia, 2);
	CHECK_SLICE(s.media[0].line, "audio 49170 RTP/SAVP 0");
	CHECK_SLICE(s.media[1].fmts, "31");
	CHECK(s.media[0].has_crypto);
	CHECK(s.media[1].port_zero);
	CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_OK);

	/* mixed CRLF and LF; no line end on the last line */
	CHECK_INT(parse(&s, "v=0\r\no=a 1 1 IN IP4 h\ns=-\r\nt=0 0\nm=audio 1 RTP/AVP 0 8", NULL,
			NULL),
		  0);
	CHECK_SLICE(s.media[0].fmts, "0 8");
	/* trailing blank lines are padding */
	CHECK_INT(parse(&s, HEAD "m=audio 1 RTP/AVP 0\r\n\r\n", NULL, NULL), 0);
	CHECK_INT(parse(&s, HEAD "m=audio 1 RTP/AVP 0\n\n\r\n\n", NULL, NULL), 0);
	CHECK_INT(s.nmedia, 1);
	/* other control bytes inside text are bytes (RFC 8866 byte-string) */
	CHECK_INT(parse(&s, HEAD "i=a\tb\x01" "c\r\n", NULL, NULL), 0);
	/* the session alone is a description with no streams */
	CHECK_INT(parse(&s, HEAD, NULL, NULL), 0);
	CHECK_INT(s.nmedia, 0);
	CHECK_INT(sdp_srtp_check(&s, NULL), SDP_SRTP_OK);
}

static void args(void)
{
	struct sdp s;

	CHECK_INT(sdp_parse(NULL, HEAD, sizeof(HEAD) - 1, NULL, NULL), EINVAL);
	CHECK_INT(sdp_parse(&s, NULL, 5, NULL, NULL), EINVAL);
	CHECK_INT(sdp_parse(&s, NULL, 0, NULL, NULL), EBADMSG);
	/* a failed parse leaves no stale streams behind */
	CHECK_INT(parse(&s, HEAD "m=audio 1 RTP/AVP 0\r\n", NULL, NULL), 0);
	CHECK_INT(s.nmedia, 1);
	CHECK_INT(parse(&s, "junk", NULL, NULL), EBADMSG);
	CHECK_INT(s.nmedia, 0);
}

static void reasons(void)
{
	static const enum sdp_srtp all[] = { SDP_SRTP_OK, SDP_SRTP_NONE, SDP_SRTP_NO_KEYS };

	for (size_t k = 0; k < ARRAY_SIZE(all); k++) {
		const char *r = sdp_srtp_reason(all[k]);
		CHECK(r != NULL && *r != '\0');
		/* usable as a SIP reason phrase: printable, no line end */
		for (const char *c = r; *c; c++)
			CHECK(*c >= 0x20 && *c < 0x7f);
		for (size_t j = 0; j < k; j++)
			CHECK(strcmp(r, sdp_srtp_reason(all[j])) != 0);
	}
	CHECK(strcmp(sdp_srtp_reason(SDP_SRTP_NONE), "SRTP Required: Plain RTP Stream Refused") == 0);
	CHECK(sdp_srtp_reason((enum sdp_srtp)99) != NULL);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(plain_rtp),      CASE(sdes_savp),	   CASE(dtls_session_fingerprint),
		CASE(dtls_media_fingerprint), CASE(port_zero), CASE(multiple_media),
		CASE(srtp_protos),    CASE(malformed),	   CASE(truncated),
		CASE(limits),	      CASE(line_ends),	   CASE(args),
		CASE(reasons),
	};
	int rc = check_main("sip_sdp", cases, ARRAY_SIZE(cases), argc, argv);

	free(held);
	return rc;
}
