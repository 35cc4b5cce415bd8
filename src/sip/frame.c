/*
 * frame: stream framing for TCP and TLS. Given the bytes a connection has
 * received so far, decide where the next message ends, using only the end of
 * the header section and the Content-Length header (long or compact form).
 * Nothing else of the message is interpreted here; the parser does that on
 * the framed bytes. Refusals are strict on purpose: a duplicated or
 * non-numeric Content-Length is the classic request-smuggling lever, so the
 * stream stops there instead of guessing.
 */
#include <errno.h>

#include "sip.h"

/* Index of the first "\r\n\r\n" in p[0..len), or len when there is none. */
static size_t find_hdr_end(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i + 3 < len; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
			return i;
	}
	return len;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * If the header line starting at p (at most `end` bytes, ending before the
 * header terminator) is a Content-Length line, set *value to its value (up to
 * the CRLF that is not followed by folding white space) and return true.
 */
static bool cl_line(const char *p, size_t end, struct slice *value)
{
	static const char long_name[] = "content-length";
	size_t i = 0, nlen = sizeof(long_name) - 1, v;

	if (end >= nlen && slice_caseeq_cstr(slice_make(p, nlen), long_name))
		i = nlen;
	else if (end >= 1 && (p[0] == 'l' || p[0] == 'L'))
		i = 1;
	else
		return false;
	while (i < end && is_wsp(p[i]))
		i++;
	if (i >= end || p[i] != ':')
		return false;
	i++;
	v = i;
	while (i < end) {
		if (p[i] == '\r' && i + 2 < end && p[i + 1] == '\n' && !is_wsp(p[i + 2]))
			break;
		i++;
	}
	*value = slice_trim(slice_make(p + v, i - v));
	return true;
}

int sip_frame(const char *buf, size_t len, const struct sip_limits *lim, size_t *skip,
	      size_t *msg_len, enum sip_err *err)
{
	size_t i = 0, rem, hdr_end, hdr_len, pos;
	const char *p;
	struct slice val;
	uint32_t cl = 0;
	bool have_cl = false;
	int rc = ENODATA;

	*err = SIP_E_NONE;
	*msg_len = 0;
	while (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
		i += 2;
	*skip = i;
	p = buf + i;
	rem = len - i;
	if (rem == 0)
		goto out;

	hdr_end = find_hdr_end(p, rem < lim->max_message ? rem : lim->max_message);
	if (hdr_end == (rem < lim->max_message ? rem : lim->max_message)) {
		if (rem >= lim->max_message) {
			*err = SIP_E_MESSAGE_TOO_LARGE;
			rc = EOVERFLOW;
		}
		goto out;
	}
	hdr_len = hdr_end + 4;

	/* Walk the header lines after the start line; hdr_end + 2 keeps the
	 * CRLF of the last line inside the range cl_line looks at. */
	pos = 0;
	for (;;) {
		const char *nl = NULL;
		size_t j;

		for (j = pos; j + 1 < hdr_end + 2; j++) {
			if (p[j] == '\r' && p[j + 1] == '\n') {
				nl = p + j;
				break;
			}
		}
		if (!nl)
			break;
		pos = (size_t)(nl - p) + 2;
		if (pos >= hdr_end + 2)
			break;
		if (!cl_line(p + pos, hdr_end + 2 - pos, &val))
			continue;
		if (have_cl || slice_to_u32(val, &cl) != 0) {
			*err = SIP_E_CONTENT_LENGTH;
			rc = EBADMSG;
			goto out;
		}
		have_cl = true;
	}
	if (!have_cl) {
		*err = SIP_E_CONTENT_LENGTH_MISSING;
		rc = EBADMSG;
		goto out;
	}
	if (cl > lim->max_body) {
		*err = SIP_E_BODY_TOO_LARGE;
		rc = EOVERFLOW;
		goto out;
	}
	if ((uint64_t)hdr_len + cl > lim->max_message) {
		*err = SIP_E_MESSAGE_TOO_LARGE;
		rc = EOVERFLOW;
		goto out;
	}
	if (rem < hdr_len + cl)
		goto out;
	*msg_len = hdr_len + cl;
	rc = 0;
out:
	return rc;
}
