/*
 * log/frame: RFC 5425 octet-counting framing (section 4.3), as pure
 * functions of byte ranges. The remote sender (remote.c) frames the queued
 * lines with log_frame_lines() and writes each batch at once; the parser,
 * log_frame_parse(), is the other side's view of the same bytes: the unit
 * tests and the fuzz harness (fuzz/fuzz_log_inputs.c) check that every
 * batch the framer makes parses back into exactly the lines it was given,
 * and that no input makes the parser read beyond its range.
 *
 *   SYSLOG-FRAME = MSG-LEN SP SYSLOG-MSG
 *   MSG-LEN      = NONZERO-DIGIT *DIGIT
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int log_frame_lines(char *out, size_t cap, size_t *outlen, size_t *consumed, size_t *nmsgs,
		    const char *in, size_t len)
{
	size_t i = 0, o = 0, n = 0;

	*outlen = *consumed = *nmsgs = 0;
	if (!out || !in)
		return EINVAL;
	while (i < len) {
		const char *nl = memchr(in + i, '\n', len - i);
		size_t mlen, hlen;
		char head[24];

		if (!nl)
			break; /* a line being written: not yet */
		mlen = (size_t)(nl - (in + i));
		if (mlen == 0 || mlen > LOG_FRAME_MSG_MAX) {
			if (n == 0 && o == 0) { /* say so rather than stall on it */
				*consumed = i;
				return EBADMSG;
			}
			break;
		}
		hlen = (size_t)snprintf(head, sizeof(head), "%zu ", mlen);
		if (hlen + mlen > cap - o)
			break;
		memcpy(out + o, head, hlen);
		memcpy(out + o + hlen, in + i, mlen);
		o += hlen + mlen;
		i += mlen + 1;
		n++;
	}
	*outlen = o;
	*consumed = i;
	*nmsgs = n;
	return 0;
}

int log_frame_parse(struct log_frame *f, const char *p, size_t len)
{
	size_t i = 0, mlen = 0;

	memset(f, 0, sizeof(*f));
	if (!p && len)
		return EINVAL;
	if (len == 0)
		return ENODATA;
	if (p[0] < '1' || p[0] > '9') {
		f->error_at = 0;
		return EBADMSG; /* NONZERO-DIGIT first */
	}
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		mlen = mlen * 10 + (size_t)(p[i] - '0');
		if (mlen > LOG_FRAME_MSG_MAX) {
			f->error_at = i;
			return EOVERFLOW;
		}
	}
	if (i == len)
		return ENODATA;
	if (p[i] != ' ') {
		f->error_at = i;
		return EBADMSG;
	}
	i++;
	if (mlen > len - i)
		return ENODATA;
	f->msg = slice_make(p + i, mlen);
	f->consumed = i + mlen;
	return 0;
}
