/*
 * sip/msg.c: one SIP message from a receive buffer (RFC 3261 7, 20).
 *
 * The parser makes one pass over the header section, checking every byte
 * (control characters, bare LF, CR not followed by LF), cutting header
 * fields with their folded continuation lines and storing them as slices in
 * the caller's array. A second, short pass over the stored fields parses the
 * routing headers in order of arrival. Errors that leave the framing intact
 * are recorded (the first one wins) and parsing goes on, so that m->have
 * still says which fields can address a 400; errors that break the framing
 * stop at once.
 */
#include "internal.h"

#include <errno.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static void note(struct sip_msg *m, enum sip_err e, const char *at)
{
	if (m->err != SIP_E_NONE)
		return;
	m->err = e;
	m->err_offset = at && at >= m->raw.p ? (size_t)(at - m->raw.p) : 0;
}

static bool err_is_limit(enum sip_err e)
{
	return e == SIP_E_MESSAGE_TOO_LARGE || e == SIP_E_TOO_MANY_HEADERS ||
	       e == SIP_E_HEADER_TOO_LONG || e == SIP_E_URI_TOO_LONG ||
	       e == SIP_E_BODY_TOO_LARGE;
}

/* Zero when none of the 8 bytes in x is below 0x20 or 0x7f: bytes the
 * scan below passes over without a second look. (Bit tricks of "Bit
 * Twiddling Hacks": a byte below 0x20 or equal to 0x7f sets its high bit in
 * lt or eq; a borrow may mark a clean byte too, but only one above a marked
 * byte, so the lowest mark is always a byte to look at.) */
static inline uint64_t word_marks(uint64_t x)
{
	uint64_t lt = (x - 0x2020202020202020ULL) & ~x & 0x8080808080808080ULL;
	uint64_t y = x ^ 0x7f7f7f7f7f7f7f7fULL;
	uint64_t eq = (y - 0x0101010101010101ULL) & ~y & 0x8080808080808080ULL;

	return lt | eq;
}

/* Bytes of the word loaded from p before its first marked byte (marks !=
 * 0): the clean ones the byte-by-byte path need not look at. */
static inline size_t clean_prefix(uint64_t marks)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size_t)__builtin_ctzll(marks) / 8;
#else
	(void)marks;
	return 0;
#endif
}

/* The end of the run of plain bytes (0x20..0x7e, 0x80..0xff) that starts
 * at i: the offset of the first byte the caller must look at, or of the
 * last few (fewer than a word) left for it to look at one by one. Sixteen
 * bytes a step with SSE2 (every x86-64), eight with the word tricks above
 * elsewhere and for what is left. */
static inline size_t plain_run(const char *p, size_t n, size_t i)
{
#if defined(__SSE2__)
	const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);

	while (i + 16 <= n) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		/* x >= 0x20 unsigned: max(x, 0x20) == x */
		unsigned ok = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(x, space), x));
		unsigned bad = ~ok | (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, del));

		if ((bad &= 0xffffu) != 0)
			return i + (size_t)__builtin_ctz(bad);
		i += 16;
	}
#endif
	while (i + 8 <= n) {
		uint64_t w, marks;

		memcpy(&w, p + i, sizeof(w));
		if ((marks = word_marks(w)) != 0)
			return i + clean_prefix(marks);
		i += 8;
	}
	return i;
}

/*
 * Find the CR of the CRLF ending the physical line that starts at i. Every
 * byte is checked. Returns SIP_E_NONE with *cr set, or a framing error
 * (bare LF, lone CR, no line end) with *bad set to the offending offset. A
 * control byte inside the line does not break the framing: it is reported
 * through *ctl (offset, or SIZE_MAX when none) and the scan goes on.
 */
static enum sip_err line_end(const char *p, size_t n, size_t i, size_t *cr, size_t *bad,
			     size_t *ctl)
{
	*ctl = SIZE_MAX;
	for (; i < n; i++) {
		unsigned char c;

		/* most of a line at once, then straight to the first byte that
		 * needs a look (the CR, mostly) */
		i = plain_run(p, n, i);
		if (i >= n)
			break;
		c = (unsigned char)p[i];
		if ((c >= 0x20 && c != 0x7f) || c == '\t')
			continue;
		if (c == '\r') {
			*bad = i;
			if (i + 1 == n)
				return SIP_E_INCOMPLETE;
			if (p[i + 1] != '\n')
				return SIP_E_CONTROL_CHAR;
			*cr = i;
			return SIP_E_NONE;
		}
		if (c == '\n') {
			*bad = i;
			return SIP_E_BARE_LF;
		}
		if (*ctl == SIZE_MAX)
			*ctl = i;
	}
	*bad = n;
	return SIP_E_INCOMPLETE;
}

static int version_check(struct slice v)
{
	/* SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT, case-insensitive */
	size_t i = 4, d1, d2;

	if (v.len == 7 && slice_caseeq_cstr(v, "SIP/2.0"))
		return SIP_E_NONE;
	if (v.len < 7 || !slice_caseeq_cstr(slice_make(v.p, 4), "SIP/"))
		return SIP_E_START_LINE;
	for (d1 = i; i < v.len && v.p[i] >= '0' && v.p[i] <= '9'; i++)
		;
	if (i == d1 || i == v.len || v.p[i] != '.')
		return SIP_E_START_LINE;
	for (d2 = ++i; i < v.len && v.p[i] >= '0' && v.p[i] <= '9'; i++)
		;
	if (i == d2 || i != v.len)
		return SIP_E_START_LINE;
	return SIP_E_VERSION;
}

static void parse_start(struct sip_msg *m, struct slice line, const struct sip_limits *lim)
{
	const char *sp1 = slice_chr(line, ' ');
	enum sip_err e;

	if (line.len >= 4 && slice_caseeq_cstr(slice_make(line.p, 4), "SIP/")) {
		m->request = false;
		if (!sp1) {
			note(m, SIP_E_START_LINE, line.p);
			return;
		}
		e = version_check(slice_make(line.p, (size_t)(sp1 - line.p)));
		if (e) {
			note(m, e, line.p);
			return;
		}
		struct slice rest = slice_make(sp1 + 1, line.len - (size_t)(sp1 + 1 - line.p));
		const char *sp2 = slice_chr(rest, ' ');
		struct slice code = sp2 ? slice_make(rest.p, (size_t)(sp2 - rest.p)) : rest;
		uint32_t v;
		if (code.len != 3 || slice_to_u32(code, &v) || v < 100 || v > 699) {
			note(m, SIP_E_STATUS_CODE, code.p);
			return;
		}
		m->status = (uint16_t)v;
		m->reason = sp2 ? slice_make(sp2 + 1, rest.len - code.len - 1) : slice_make(rest.p + rest.len, 0);
		m->have |= SIP_HAVE_START;
		return;
	}
	m->request = true;
	const char *sp2 = NULL;
	for (size_t i = line.len; i > 0; i--)
		if (line.p[i - 1] == ' ') {
			sp2 = line.p + i - 1;
			break;
		}
	if (!sp1 || sp1 == sp2) {
		note(m, SIP_E_START_LINE, line.p);
		return;
	}
	m->method = slice_make(line.p, (size_t)(sp1 - line.p));
	m->mid = sip_method_from(m->method);
	if (!sip_is_token(m->method)) {
		note(m, SIP_E_METHOD, line.p);
		return;
	}
	e = version_check(slice_make(sp2 + 1, line.len - (size_t)(sp2 + 1 - line.p)));
	if (e) {
		note(m, e, sp2 + 1);
		return;
	}
	m->ruri_raw = slice_make(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	int rc = sip_uri_parse(&m->ruri, m->ruri_raw, lim, &e);
	if (rc == 0 && m->ruri.headers.len) {
		rc = EBADMSG; /* RFC 3261 19.1.5: no headers in a Request-URI */
		e = SIP_E_REQUEST_URI;
	}
	if (rc) {
		note(m, e == SIP_E_NONE ? SIP_E_REQUEST_URI : e, m->ruri_raw.p);
		return;
	}
	m->have |= SIP_HAVE_START;
}

static bool call_id_ok(struct slice v)
{
	bool at = false;

	if (v.len == 0 || v.p[0] == '@' || v.p[v.len - 1] == '@')
		return false;
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] == '@') {
			if (at)
				return false;
			at = true;
		} else if (!sip_is(v.p[i], SIP_C_WORD)) {
			return false;
		}
	}
	return true;
}

static bool same_as_first(const struct sip_msg *m, uint32_t k)
{
	const struct sip_hdr *h = &m->hdrs[k];
	return slice_eq(h->value, m->hdrs[m->first[h->id]].value);
}

static void parse_nameaddr_hdr(struct sip_msg *m, const struct sip_hdr *h,
			       struct sip_nameaddr *na, unsigned bit, enum sip_err code,
			       const struct sip_limits *lim)
{
	enum sip_err e;

	if (sip_nameaddr_parse(na, h->value, lim, &e) == 0) {
		m->have |= bit;
		return;
	}
	note(m, e == SIP_E_URI_PASSWORD ? e : code, h->value.p);
}

/* The second pass: routing headers, in order of arrival. */
static void parse_typed(struct sip_msg *m, const struct sip_limits *lim)
{
	for (uint32_t k = 0; k < m->nhdrs; k++) {
		const struct sip_hdr *h = &m->hdrs[k];
		bool first = m->first[h->id] == (int32_t)k;
		struct slice rest;
		uint32_t v;

		switch (h->id) {
		case SIP_H_VIA:
			if (!first)
				break;
			rest = h->value;
			if (sip_via_next(&m->via, &rest, lim) == 0)
				m->have |= SIP_HAVE_VIA;
			else
				note(m, SIP_E_VIA, h->value.p);
			break;
		case SIP_H_FROM:
		case SIP_H_TO:
		case SIP_H_CALL_ID:
		case SIP_H_CSEQ:
		case SIP_H_MAX_FORWARDS:
		case SIP_H_EXPIRES:
		case SIP_H_CONTENT_TYPE:
			if (!first) {
				if (!same_as_first(m, k)) {
					note(m, SIP_E_DUPLICATE_HEADER, h->name.p);
					m->have &= ~(h->id == SIP_H_FROM	       ? SIP_HAVE_FROM
						     : h->id == SIP_H_TO	       ? SIP_HAVE_TO
						     : h->id == SIP_H_CALL_ID      ? SIP_HAVE_CALL_ID
						     : h->id == SIP_H_CSEQ	       ? SIP_HAVE_CSEQ
						     : h->id == SIP_H_MAX_FORWARDS ? SIP_HAVE_MAX_FORWARDS
						     : h->id == SIP_H_EXPIRES      ? SIP_HAVE_EXPIRES
										   : 0u);
				}
				break;
			}
			if (h->id == SIP_H_FROM) {
				parse_nameaddr_hdr(m, h, &m->from, SIP_HAVE_FROM, SIP_E_FROM, lim);
			} else if (h->id == SIP_H_TO) {
				parse_nameaddr_hdr(m, h, &m->to, SIP_HAVE_TO, SIP_E_TO, lim);
			} else if (h->id == SIP_H_CALL_ID) {
				if (call_id_ok(h->value)) {
					m->call_id = h->value;
					m->have |= SIP_HAVE_CALL_ID;
				} else {
					note(m, SIP_E_CALL_ID, h->value.p);
				}
			} else if (h->id == SIP_H_CSEQ) {
				if (sip_cseq_parse(&m->cseq, h->value) == 0)
					m->have |= SIP_HAVE_CSEQ;
				else
					note(m, SIP_E_CSEQ, h->value.p);
			} else if (h->id == SIP_H_MAX_FORWARDS) {
				if (slice_to_u32(h->value, &v) == 0 && v <= 255) {
					m->max_forwards = v;
					m->have |= SIP_HAVE_MAX_FORWARDS;
				} else {
					note(m, SIP_E_MAX_FORWARDS, h->value.p);
				}
			} else if (h->id == SIP_H_EXPIRES) {
				if (slice_to_u32(h->value, &v) == 0) {
					m->expires = v;
					m->have |= SIP_HAVE_EXPIRES;
				} else {
					note(m, SIP_E_EXPIRES, h->value.p);
				}
			}
			break;
		case SIP_H_CONTENT_LENGTH:
			/* any second Content-Length is a smuggling vector (RFC 4475 mcl01) */
			if (!first) {
				note(m, SIP_E_CONTENT_LENGTH, h->name.p);
				m->have &= ~(unsigned)SIP_HAVE_CONTENT_LENGTH;
				break;
			}
			if (slice_to_u32(h->value, &v) == 0) {
				m->content_length = v;
				m->have |= SIP_HAVE_CONTENT_LENGTH;
			} else {
				note(m, SIP_E_CONTENT_LENGTH, h->value.p);
			}
			break;
		default:
			break;
		}
	}
}

/* See sip.h. On failure the fields named by m->have are valid; m->request
 * tells a request from a response whenever the start line had any shape. */
int sip_msg_parse(struct sip_msg *m, struct sip_hdr *hdrs, uint32_t cap, const char *buf,
		  size_t len, bool stream, const struct sip_limits *lim)
{
	struct sip_limits deflim = SIP_LIMITS_DEFAULT;
	size_t off = 0, i, cr, bad, ctl, hend = 0;
	enum sip_err e;
	const char *p;
	size_t n;

	memset(m, 0, sizeof(*m));
	for (size_t k = 0; k < SIP_H__COUNT; k++)
		m->first[k] = -1;
	m->hdrs = hdrs;
	if (!lim)
		lim = &deflim;
	if (!buf || (!hdrs && cap)) {
		m->err = SIP_E_INCOMPLETE;
		return EINVAL;
	}
	while (off + 1 < len && buf[off] == '\r' && buf[off + 1] == '\n')
		off += 2;
	p = buf + off;
	n = len - off;
	m->raw = slice_make(p, n);
	if (n > lim->max_message)
		note(m, SIP_E_MESSAGE_TOO_LARGE, p + lim->max_message);

	/* start line */
	e = line_end(p, n, 0, &cr, &bad, &ctl);
	if (e) {
		note(m, e, p + bad);
		goto out;
	}
	if (ctl != SIZE_MAX)
		note(m, SIP_E_CONTROL_CHAR, p + ctl);
	else
		parse_start(m, slice_make(p, cr), lim);
	i = cr + 2;

	/* header fields */
	for (;;) {
		if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n') {
			hend = i + 2;
			break;
		}
		size_t fs = i, fctl = SIZE_MAX;
		for (;;) {
			e = line_end(p, n, i, &cr, &bad, &ctl);
			if (e) {
				note(m, e, p + bad);
				goto broken;
			}
			if (fctl == SIZE_MAX)
				fctl = ctl;
			i = cr + 2;
			if (i >= n || (p[i] != ' ' && p[i] != '\t'))
				break;
		}
		struct slice field = slice_make(p + fs, cr - fs);
		if (fctl != SIZE_MAX) {
			/* the field is dropped, the framing is intact */
			note(m, SIP_E_CONTROL_CHAR, p + fctl);
			continue;
		}
		if (field.len > lim->max_header_line) {
			note(m, SIP_E_HEADER_TOO_LONG, field.p + lim->max_header_line);
			continue;
		}
		const char *colon = slice_chr(field, ':');
		struct slice name = colon ? slice_make(field.p, (size_t)(colon - field.p)) : field;
		while (name.len && sip_is_wsp(name.p[name.len - 1]))
			name.len--;
		if (!colon || !sip_is_token(name)) {
			note(m, SIP_E_HEADER_SYNTAX, field.p);
			continue;
		}
		if (m->nhdrs >= cap) {
			note(m, SIP_E_TOO_MANY_HEADERS, field.p);
			goto broken;
		}
		struct sip_hdr *h = &hdrs[m->nhdrs];
		h->id = sip_hdr_lookup(name);
		h->name = name;
		h->value = slice_trim(slice_make(colon + 1, (size_t)(field.p + field.len - colon - 1)));
		if (m->first[h->id] < 0)
			m->first[h->id] = (int32_t)m->nhdrs;
		if (m->count[h->id] < UINT16_MAX)
			m->count[h->id]++;
		m->nhdrs++;
	}

	parse_typed(m, lim);
	if (m->have & SIP_HAVE_START || m->request) {
		static const struct {
			enum sip_hdr_id id;
			enum sip_err e;
		} need[] = {
			{ SIP_H_VIA, SIP_E_VIA_MISSING },   { SIP_H_FROM, SIP_E_FROM_MISSING },
			{ SIP_H_TO, SIP_E_TO_MISSING },	    { SIP_H_CALL_ID, SIP_E_CALL_ID_MISSING },
			{ SIP_H_CSEQ, SIP_E_CSEQ_MISSING },
		};
		for (size_t k = 0; k < ARRAY_SIZE(need); k++)
			if (m->count[need[k].id] == 0)
				note(m, need[k].e, p + hend);
	}
	if (m->request && (m->have & SIP_HAVE_START) && (m->have & SIP_HAVE_CSEQ) &&
	    !slice_eq(m->cseq.method, m->method))
		note(m, SIP_E_CSEQ_METHOD, m->cseq.method.p);

	/* body */
	size_t avail = n - hend;
	if (m->count[SIP_H_CONTENT_LENGTH] == 0) {
		if (stream) {
			note(m, SIP_E_CONTENT_LENGTH_MISSING, p + hend);
		} else if (avail > lim->max_body) {
			note(m, SIP_E_BODY_TOO_LARGE, p + hend);
		} else {
			m->body = slice_make(p + hend, avail);
		}
	} else if (m->have & SIP_HAVE_CONTENT_LENGTH) {
		/* a short datagram is truncated whatever its claimed size
		 * (RFC 4475 clerr); a stream's framer has checked max_body */
		if (m->content_length > avail)
			note(m, SIP_E_BODY_TRUNCATED, p + n);
		else if (m->content_length > lim->max_body)
			note(m, SIP_E_BODY_TOO_LARGE, p + hend);
		else
			m->body = slice_make(p + hend, m->content_length);
	}
	m->raw = slice_make(p, hend + m->body.len);
	goto out;
broken:
	/* the fields stored so far are whole: still tell what is usable */
	parse_typed(m, lim);
out:
	if (m->err == SIP_E_NONE)
		return 0;
	return err_is_limit(m->err) ? EOVERFLOW : EBADMSG;
}

/* See sip.h. */
const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id)
{
	if ((unsigned)id >= SIP_H__COUNT || m->first[id] < 0)
		return NULL;
	return &m->hdrs[m->first[id]];
}

/* See sip.h. prev must point into m->hdrs. */
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *prev)
{
	if (!prev || prev < m->hdrs || prev >= m->hdrs + m->nhdrs)
		return NULL;
	for (const struct sip_hdr *h = prev + 1; h < m->hdrs + m->nhdrs; h++)
		if (h->id == prev->id)
			return h;
	return NULL;
}

/* See sip.h. A known name (long or compact) finds its id's first field;
 * other names are compared case-insensitively as received. */
const struct sip_hdr *sip_msg_hdr_named(const struct sip_msg *m, struct slice name)
{
	enum sip_hdr_id id = sip_hdr_lookup(name);

	if (id != SIP_H_OTHER)
		return sip_msg_hdr(m, id);
	for (uint32_t k = 0; k < m->nhdrs; k++)
		if (slice_caseeq(m->hdrs[k].name, name))
			return &m->hdrs[k];
	return NULL;
}
