/*
 * sip/frame.c: cutting messages out of a byte stream (RFC 3261 18.3). The
 * header section ends at the first empty line; its Content-Length (long or
 * compact name) says where the body ends, and is mandatory on a stream. A
 * physical line longer than max_header_line stops the stream early (the
 * parser checks whole folded fields). One linear scan, no allocation; a caller that gets ENODATA calls again when
 * more bytes have arrived.
 */
#include "internal.h"

#include <errno.h>

static bool is_cl_name(struct slice n)
{
	return (n.len == 1 && (n.p[0] | 0x20) == 'l') ||
	       (n.len == 14 && slice_caseeq_cstr(n, "Content-Length"));
}

/* See sip.h. */
int sip_frame(const char *buf, size_t len, const struct sip_limits *lim, size_t *skip,
	      size_t *msg_len, enum sip_err *err)
{
	struct sip_limits deflim = SIP_LIMITS_DEFAULT;
	enum sip_err e = SIP_E_NONE;
	size_t s = 0, i, hend = 0, line = 0;
	struct slice clv = SLICE_NULL;
	bool have_cl = false;
	int rc = ENODATA;

	if (!lim)
		lim = &deflim;
	*msg_len = 0;
	while (s + 1 < len && buf[s] == '\r' && buf[s + 1] == '\n')
		s += 2;
	*skip = s;
	const char *p = buf + s;
	size_t n = len - s;
	size_t scan = n < lim->max_message ? n : lim->max_message;

	/* line = start of the current physical line */
	for (i = 0; i < scan; i++) {
		char c = p[i];
		if (c == '\0') {
			e = SIP_E_CONTROL_CHAR;
			rc = EBADMSG;
			goto out;
		}
		if (c != '\n')
			continue;
		if (i == 0 || p[i - 1] != '\r') {
			e = SIP_E_BARE_LF;
			rc = EBADMSG;
			goto out;
		}
		if (i - 1 - line > lim->max_header_line)
			goto too_long;
		if (i - line == 1) { /* empty line: end of the header section */
			hend = i + 1;
			break;
		}
		if (line > 0 && p[line] != ' ' && p[line] != '\t') {
			/* a header line: name HCOLON value, continuation lines
			 * following it belong to the value */
			struct slice l = slice_make(p + line, i - 1 - line);
			const char *colon = slice_chr(l, ':');
			if (colon) {
				struct slice nm = slice_make(l.p, (size_t)(colon - l.p));
				while (nm.len && sip_is_wsp(nm.p[nm.len - 1]))
					nm.len--;
				if (is_cl_name(nm)) {
					if (have_cl) {
						e = SIP_E_CONTENT_LENGTH;
						rc = EBADMSG;
						goto out;
					}
					have_cl = true;
					clv = slice_make(colon + 1, (size_t)(l.p + l.len - colon - 1));
				}
			}
		} else if (line > 0 && have_cl && clv.p + clv.len == p + line - 2) {
			/* folded continuation of the Content-Length value */
			clv.len = (size_t)(p + i - 1 - clv.p);
		}
		line = i + 1;
	}
	if (hend == 0) {
		/* an unfinished physical line already past the limit */
		if (scan - line > (size_t)lim->max_header_line + 1)
			goto too_long;
		if (n >= lim->max_message) {
			e = SIP_E_MESSAGE_TOO_LARGE;
			rc = EOVERFLOW;
		}
		goto out;
	}
	if (!have_cl) {
		e = SIP_E_CONTENT_LENGTH_MISSING;
		rc = EBADMSG;
		goto out;
	}
	uint32_t cl;
	int r = slice_to_u32(slice_trim(clv), &cl);
	if (r) {
		e = SIP_E_CONTENT_LENGTH;
		rc = EBADMSG;
		goto out;
	}
	if (cl > lim->max_body) {
		e = SIP_E_BODY_TOO_LARGE;
		rc = EOVERFLOW;
		goto out;
	}
	if (hend + (size_t)cl > lim->max_message) {
		e = SIP_E_MESSAGE_TOO_LARGE;
		rc = EOVERFLOW;
		goto out;
	}
	if (n < hend + cl)
		goto out;
	*msg_len = hend + cl;
	rc = 0;
	goto out;
too_long:
	e = SIP_E_HEADER_TOO_LONG;
	rc = EOVERFLOW;
out:
	if (err)
		*err = e;
	return rc;
}
