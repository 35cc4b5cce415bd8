/*
 * fuzz_sdp_parse: libFuzzer harness for the SDP parser. Each input is copied
 * into an exactly sized buffer (so ASan sees any read past its end) and
 * parsed with default and with tiny limits; a parsed description goes
 * through the SRTP check. Aborts on a broken invariant: a slice outside the
 * input, an m= line whose fields are not in it in order, an error offset
 * past the end, an outcome other than the four documented, or limits that
 * change whether the input is well formed.
 */
#include "sip/sip.h"

#include <errno.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(struct slice s, const char *buf, size_t size)
{
	if (s.len && (s.p < buf || s.p + s.len > buf + size))
		abort();
}

/* s lies within outer, starting at or after *from; advances *from past it. */
static void within(struct slice s, struct slice outer, const char **from)
{
	if (s.p < *from || s.p + s.len > outer.p + outer.len)
		abort();
	*from = s.p + s.len;
}

static void check_parsed(const struct sdp *s, const char *buf, size_t size)
{
	struct slice bad;

	if (s->nmedia > SDP_MAX_MEDIA)
		abort();
	for (size_t k = 0; k < s->nmedia; k++) {
		const struct sdp_media *m = &s->media[k];
		const char *from = m->line.p;
		inside(m->line, buf, size);
		within(m->media, m->line, &from);
		within(m->port, m->line, &from);
		within(m->proto, m->line, &from);
		within(m->fmts, m->line, &from);
		if (!m->media.len || !m->port.len || !m->proto.len || !m->fmts.len)
			abort();
		if (m->port_zero != (m->port_num == 0))
			abort();
		if (s->session_fingerprint && !m->has_fingerprint)
			abort();
	}
	enum sdp_srtp r = sdp_srtp_check(s, &bad);
	switch (r) {
	case SDP_SRTP_OK:
		if (bad.len)
			abort();
		break;
	case SDP_SRTP_NONE:
	case SDP_SRTP_NO_KEYS:
		inside(bad, buf, size);
		if (!bad.len)
			abort();
		break;
	default:
		abort();
	}
	if (!sdp_srtp_reason(r))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sdp_limits def = SDP_LIMITS_DEFAULT;
	struct sdp_limits tiny = { .max_lines = 12, .max_media = 2, .max_attrs = 3 };
	static struct sdp s, t;
	char *buf = malloc(size ? size : 1);
	size_t off = SIZE_MAX;
	int rc, rt;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);

	rc = sdp_parse(&s, buf, size, &def, &off);
	if (rc == 0)
		check_parsed(&s, buf, size);
	else if ((rc != EBADMSG && rc != EOVERFLOW) || off > size)
		abort();

	off = SIZE_MAX;
	rt = sdp_parse(&t, buf, size, &tiny, &off);
	if (rt == 0)
		check_parsed(&t, buf, size);
	else if ((rt != EBADMSG && rt != EOVERFLOW) || off > size)
		abort();

	/* Tighter limits can only add EOVERFLOW: what parses under them
	 * parses the same under the defaults, and what is well formed under the
	 * defaults is not malformed under them. */
	if (rt == 0 && (rc != 0 || s.nmedia != t.nmedia))
		abort();
	if (rc == 0 && rt == EBADMSG)
		abort();
	for (size_t k = 0; rt == 0 && k < t.nmedia; k++)
		if (!slice_eq(s.media[k].line, t.media[k].line) ||
		    s.media[k].has_crypto != t.media[k].has_crypto ||
		    s.media[k].has_fingerprint != t.media[k].has_fingerprint)
			abort();

	(void)sdp_parse(&t, buf, size, NULL, NULL);
	free(buf);
	return 0;
}
