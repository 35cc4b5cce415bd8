/*
 * test_net_frame: the sip_frame contract as the net layer relies on it
 * (whichever implementation is linked): keep-alive skipping, framing by
 * Content-Length in long and compact form, ENODATA while incomplete, and the
 * refusals with their sip_err codes.
 */
#include <errno.h>

#include "check.h"
#include "sip/sip.h"

static struct sip_limits lim;
static size_t skip, mlen;
static enum sip_err err;

static int frame(const char *s)
{
	return sip_frame(s, strlen(s), &lim, &skip, &mlen, &err);
}

static void setup(void)
{
	lim = SIP_LIMITS_DEFAULT;
	lim.max_message = 256;
	lim.max_body = 64;
}

static void test_frame_complete(void)
{
	setup();
	CHECK_INT(frame("OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"), 0);
	CHECK_INT(skip, 0);
	CHECK_INT(mlen, strlen("OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"));
	CHECK_INT(frame("\r\n\r\nM sip:x SIP/2.0\r\ncontent-length:3\r\n\r\nabcNEXT"), 0);
	CHECK_INT(skip, 4);
	CHECK_INT(mlen, strlen("M sip:x SIP/2.0\r\ncontent-length:3\r\n\r\nabc"));
	CHECK_INT(frame("M sip:x SIP/2.0\r\nVia: a\r\nl : 2\r\n\r\nab"), 0);
	CHECK_INT(mlen, strlen("M sip:x SIP/2.0\r\nVia: a\r\nl : 2\r\n\r\nab"));
	CHECK_INT(frame("M sip:x SIP/2.0\r\nL: 1\r\nX-l: 9\r\n\r\na"), 0);
	CHECK_INT(frame("M sip:x SIP/2.0\r\nCONTENT-LENGTH:  0 \r\n\r\n"), 0);
}

static void test_frame_incomplete(void)
{
	setup();
	CHECK_INT(frame(""), ENODATA);
	CHECK_INT(frame("\r\n"), ENODATA);
	CHECK_INT(skip, 2);
	CHECK_INT(frame("\r"), ENODATA);
	CHECK_INT(frame("OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n"), ENODATA);
	CHECK_INT(frame("M sip:x SIP/2.0\r\nl: 5\r\n\r\nabc"), ENODATA);
}

static void test_frame_errors(void)
{
	char big[400];

	setup();
	CHECK_INT(frame("M sip:x SIP/2.0\r\nVia: a\r\n\r\n"), EBADMSG);
	CHECK_INT(err, SIP_E_CONTENT_LENGTH_MISSING);
	CHECK_INT(frame("M sip:x SIP/2.0\r\nl: -1\r\n\r\n"), EBADMSG);
	CHECK_INT(err, SIP_E_CONTENT_LENGTH);
	CHECK_INT(frame("M sip:x SIP/2.0\r\nl: 1x\r\n\r\n"), EBADMSG);
	CHECK_INT(err, SIP_E_CONTENT_LENGTH);
	CHECK_INT(frame("M sip:x SIP/2.0\r\nl: 99999999999\r\n\r\n"), EBADMSG);
	CHECK_INT(err, SIP_E_CONTENT_LENGTH);
	CHECK_INT(frame("M sip:x SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab"), EBADMSG);
	CHECK_INT(err, SIP_E_CONTENT_LENGTH);
	CHECK_INT(frame("M sip:x SIP/2.0\r\nl: 65\r\n\r\n"), EOVERFLOW);
	CHECK_INT(err, SIP_E_BODY_TOO_LARGE);
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(frame(big), EOVERFLOW);
	CHECK_INT(err, SIP_E_MESSAGE_TOO_LARGE);
	/* header section plus body over max_message */
	memcpy(big, "M sip:x SIP/2.0\r\nl: 60\r\nX: ", 27);
	memcpy(big + 200, "\r\n\r\n", 5);
	CHECK_INT(frame(big), EOVERFLOW);
	CHECK_INT(err, SIP_E_MESSAGE_TOO_LARGE);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_frame_complete),
		CASE(test_frame_incomplete),
		CASE(test_frame_errors),
	};

	return check_main("net_frame", cases, ARRAY_SIZE(cases), argc, argv);
}
