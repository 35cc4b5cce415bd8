/*
 * test_sip_frame: stream framing: incomplete input at every length,
 * pipelined messages, keep-alive CRLFs, missing/duplicated/bad
 * Content-Length, and the size limits.
 */
#include "check.h"
#include "sip/sip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const char msg1[] = "OPTIONS sip:a@b.example SIP/2.0\r\n"
			   "Via: SIP/2.0/TCP h.example;branch=z9hG4bK1\r\n"
			   "From: <sip:x@y.example>;tag=1\r\nTo: <sip:a@b.example>\r\n"
			   "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nl: 5\r\n\r\nhello";
static const char msg2[] = "BYE sip:a@b.example SIP/2.0\r\n"
			   "Via: SIP/2.0/TCP h.example;branch=z9hG4bK2\r\n"
			   "From: <sip:x@y.example>;tag=1\r\nTo: <sip:a@b.example>;tag=2\r\n"
			   "Call-ID: c1\r\nCSeq: 2 BYE\r\ncontent-LENGTH   :\r\n 0\r\n\r\n";

static int frame(const char *s, size_t len, size_t *skip, size_t *ml, enum sip_err *e)
{
	return sip_frame(s, len, &SIP_LIMITS_DEFAULT, skip, ml, e);
}

static void complete_and_incomplete(void)
{
	size_t n = sizeof(msg1) - 1, skip, ml;
	enum sip_err e;

	CHECK_INT(frame(msg1, n, &skip, &ml, &e), 0);
	CHECK_INT(skip, 0);
	CHECK_INT(ml, n);
	for (size_t cut = 0; cut < n; cut++) {
		char *b = malloc(cut ? cut : 1);
		memcpy(b, msg1, cut);
		int rc = frame(b, cut, &skip, &ml, &e);
		free(b);
		if (rc != ENODATA) {
			check_fail(__FILE__, __LINE__, "cut %zu: rc %d", cut, rc);
			return;
		}
	}
}

static void pipelined(void)
{
	char buf[1024];
	size_t n1 = sizeof(msg1) - 1, n2 = sizeof(msg2) - 1, skip, ml;
	enum sip_err e;
	struct sip_hdr hdrs[20];
	struct sip_msg m;

	memcpy(buf, "\r\n\r\n", 4);
	memcpy(buf + 4, msg1, n1);
	memcpy(buf + 4 + n1, "\r\n", 2);
	memcpy(buf + 6 + n1, msg2, n2);
	size_t total = 6 + n1 + n2, off = 0;

	CHECK_INT(frame(buf, total, &skip, &ml, &e), 0);
	CHECK_INT(skip, 4);
	CHECK_INT(ml, n1);
	CHECK_INT(sip_msg_parse(&m, hdrs, 20, buf + skip, ml, true, NULL), 0);
	CHECK_SLICE(m.body, "hello");
	off = skip + ml;
	CHECK_INT(frame(buf + off, total - off, &skip, &ml, &e), 0);
	CHECK_INT(skip, 2);
	CHECK_INT(ml, n2);
	CHECK_INT(sip_msg_parse(&m, hdrs, 20, buf + off + skip, ml, true, NULL), 0);
	CHECK_INT(m.mid, SIP_M_BYE);
	CHECK_INT(m.content_length, 0);
	off += skip + ml;
	CHECK_INT(off, total);
	CHECK_INT(frame(buf + off, 0, &skip, &ml, &e), ENODATA);
}

static void keepalives(void)
{
	size_t skip, ml;
	enum sip_err e;

	CHECK_INT(frame("\r\n\r\n", 4, &skip, &ml, &e), ENODATA);
	CHECK_INT(skip, 4);
	CHECK_INT(frame("\r\n\r", 3, &skip, &ml, &e), ENODATA);
	CHECK_INT(skip, 2);
	CHECK_INT(frame("", 0, &skip, &ml, &e), ENODATA);
	CHECK_INT(skip, 0);
}

static void bad_lengths(void)
{
	char buf[1024];
	size_t skip, ml;
	enum sip_err e;
	static const struct {
		const char *cl;
		int rc;
		enum sip_err e;
	} cases[] = {
		{ "X-Length: 5\r\n", EBADMSG, SIP_E_CONTENT_LENGTH_MISSING },
		{ "Content-Length: -5\r\n", EBADMSG, SIP_E_CONTENT_LENGTH },
		{ "Content-Length: 5x\r\n", EBADMSG, SIP_E_CONTENT_LENGTH },
		{ "Content-Length: \r\n", EBADMSG, SIP_E_CONTENT_LENGTH },
		{ "Content-Length: 4294967301\r\n", EBADMSG, SIP_E_CONTENT_LENGTH },
		{ "Content-Length: 5\r\nl: 5\r\n", EBADMSG, SIP_E_CONTENT_LENGTH },
		{ "Content-Length: 8193\r\n", EOVERFLOW, SIP_E_BODY_TOO_LARGE },
		{ "Content-Length: 8192\r\n", ENODATA, SIP_E_NONE },
		{ "L:5\r\n", 0, SIP_E_NONE },
		{ "X-Content-Length: 5\r\nContent-Length: 5\r\n", 0, SIP_E_NONE },
		{ "Subject: x\r\n Content-Length: 9\r\nContent-Length: 5\r\n", 0, SIP_E_NONE },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int n = snprintf(buf, sizeof(buf), "OPTIONS sip:a@b SIP/2.0\r\n%s\r\nhello", cases[i].cl);
		int rc = frame(buf, (size_t)n, &skip, &ml, &e);
		if (rc != cases[i].rc || e != cases[i].e) {
			check_fail(__FILE__, __LINE__, "%s: rc %d err %s", cases[i].cl, rc, sip_err_name(e));
			continue;
		}
		if (rc == 0)
			CHECK_INT(ml, (size_t)n);
	}
	CHECK_INT(frame("INVITE sip:a@b SIP/2.0\nl: 0\n\n", 29, &skip, &ml, &e), EBADMSG);
	CHECK_INT(e, SIP_E_BARE_LF);
	CHECK_INT(frame("INVITE sip:a@b SIP/2.0\r\nl: 0\0\r\n\r\n", 33, &skip, &ml, &e), EBADMSG);
	CHECK_INT(e, SIP_E_CONTROL_CHAR);
}

static void limits(void)
{
	size_t n = sizeof(msg1) - 1, skip, ml;
	enum sip_err e;
	struct sip_limits l = SIP_LIMITS_DEFAULT;

	l.max_message = (uint32_t)n;
	CHECK_INT(sip_frame(msg1, n, &l, &skip, &ml, &e), 0);
	l.max_message = (uint32_t)n - 1;
	CHECK_INT(sip_frame(msg1, n, &l, &skip, &ml, &e), EOVERFLOW);
	CHECK_INT(e, SIP_E_MESSAGE_TOO_LARGE);
	/* header section alone too long, with no end in sight */
	l.max_message = 40;
	CHECK_INT(sip_frame(msg1, 39, &l, &skip, &ml, &e), ENODATA);
	CHECK_INT(sip_frame(msg1, 40, &l, &skip, &ml, &e), EOVERFLOW);
	CHECK_INT(e, SIP_E_MESSAGE_TOO_LARGE);
	/* one physical line past max_header_line: refused before the end */
	l = SIP_LIMITS_DEFAULT;
	l.max_header_line = 42; /* the Via line is the longest, 42 bytes */
	CHECK_INT(sip_frame(msg1, n, &l, &skip, &ml, &e), 0);
	l.max_header_line = 41;
	CHECK_INT(sip_frame(msg1, n, &l, &skip, &ml, &e), EOVERFLOW);
	CHECK_INT(e, SIP_E_HEADER_TOO_LONG);
	l.max_header_line = 10;
	CHECK_INT(sip_frame(msg1, 11, &l, &skip, &ml, &e), ENODATA);
	CHECK_INT(sip_frame(msg1, 12, &l, &skip, &ml, &e), EOVERFLOW);
	CHECK_INT(e, SIP_E_HEADER_TOO_LONG);
	l = SIP_LIMITS_DEFAULT;
	l.max_body = 5;
	CHECK_INT(sip_frame(msg1, n, &l, &skip, &ml, &e), 0);
	l.max_body = 4;
	CHECK_INT(sip_frame(msg1, n, &l, &skip, &ml, &e), EOVERFLOW);
	CHECK_INT(e, SIP_E_BODY_TOO_LARGE);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(complete_and_incomplete), CASE(pipelined), CASE(keepalives),
		CASE(bad_lengths),	       CASE(limits),
	};
	return check_main("sip_frame", cases, ARRAY_SIZE(cases), argc, argv);
}
