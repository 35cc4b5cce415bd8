/*
 * sip/sdp.c: a bounded parser for the session descriptions SIP carries
 * (RFC 8866, which obsoletes RFC 4566), and the SRTP policy check on its
 * result.
 *
 * The parser makes one pass over the lines, checks every byte, and keeps
 * only what the policy needs: each m= line split into its fields, and
 * whether each media section carries keys (a=crypto, RFC 4568) or a DTLS
 * certificate fingerprint (a=fingerprint, RFC 8122). Everything else is
 * checked for framing and placement only, never interpreted. The structure
 * is the caller's and fixed in size; nothing is allocated.
 *
 * Where strictness costs nothing it is strict (one type letter, no blank
 * line in the middle, single spaces in m=), because the policy is only as
 * good as the agreement between this parser and the endpoint's: a line the
 * two could read differently is refused rather than guessed at.
 */
#include "internal.h"

#include <errno.h>

/* token-char of RFC 8866 9: %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 /
 * %x41-5A / %x5E-7E. */
static bool tok_char(char ch)
{
	unsigned char c = (unsigned char)ch;

	return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a || c == 0x2b ||
	       c == 0x2d || c == 0x2e || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) ||
	       (c >= 0x5e && c <= 0x7e);
}

static bool is_token(struct slice s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!tok_char(s.p[i]))
			return false;
	return true;
}

static bool is_digits(struct slice s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

/* Cut *rest at its first SP: the part before into *f, the part after stays
 * in *rest. False when there is no SP. */
static bool cut_sp(struct slice *rest, struct slice *f)
{
	const char *sp = slice_chr(*rest, ' ');
	size_t n;

	if (!sp)
		return false;
	n = (size_t)(sp - rest->p);
	*f = slice_make(rest->p, n);
	*rest = slice_make(sp + 1, rest->len - n - 1);
	return true;
}

/* proto = token *("/" token) */
static bool proto_ok(struct slice s)
{
	size_t start = 0;

	for (size_t i = 0; i <= s.len; i++) {
		if (i < s.len && s.p[i] != '/')
			continue;
		if (!is_token(slice_make(s.p + start, i - start)))
			return false;
		start = i + 1;
	}
	return true;
}

/* port ["/" integer], port at most 65535, integer 1*DIGIT and not 0. */
static bool port_ok(struct slice s, uint16_t *port)
{
	const char *slash = slice_chr(s, '/');
	struct slice num = s;
	uint32_t v, n;

	if (slash) {
		num = slice_make(s.p, (size_t)(slash - s.p));
		struct slice cnt = slice_make(slash + 1, s.len - num.len - 1);
		if (slice_to_u32(cnt, &n) != 0 || n == 0)
			return false;
	}
	if (slice_to_u32(num, &v) != 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* m=<media> <port>[/<n>] <proto> <fmt> ... with single spaces (RFC 8866 5.14). */
static int media_parse(struct sdp_media *m, struct slice v)
{
	struct slice rest = v, f;

	m->line = v;
	if (!cut_sp(&rest, &m->media) || !is_token(m->media))
		return EBADMSG;
	if (!cut_sp(&rest, &m->port) || !port_ok(m->port, &m->port_num))
		return EBADMSG;
	if (!cut_sp(&rest, &m->proto) || !proto_ok(m->proto))
		return EBADMSG;
	m->fmts = rest;
	m->port_zero = m->port_num == 0;
	while (cut_sp(&rest, &f))
		if (!is_token(f))
			return EBADMSG;
	return is_token(rest) ? 0 : EBADMSG;
}

/* a=crypto:<tag> <crypto-suite> <key-params> [<session-params>] (RFC 4568
 * 9.1): tag 1*9DIGIT, suite a token, the first key-param "inline:" and
 * something after it. The key itself is the endpoint's business. */
static bool crypto_ok(struct slice v)
{
	struct slice rest = v, tag, suite;
	static const char inl[] = "inline:";

	if (!cut_sp(&rest, &tag) || tag.len > 9 || !is_digits(tag))
		return false;
	if (!cut_sp(&rest, &suite) || !is_token(suite))
		return false;
	return rest.len > sizeof(inl) - 1 &&
	       slice_caseeq_cstr(slice_make(rest.p, sizeof(inl) - 1), inl) &&
	       rest.p[sizeof(inl) - 1] != ' ';
}

/* a=fingerprint:<hash-func> SP <fingerprint> (RFC 8122 5): hash-func a
 * token, fingerprint 2HEXDIG *(":" 2HEXDIG). Either case of hex is accepted;
 * RFC 8122 asks for upper case but lower case is common. */
static bool fingerprint_ok(struct slice v)
{
	struct slice rest = v, hash;

	if (!cut_sp(&rest, &hash) || !is_token(hash))
		return false;
	if (rest.len < 2 || rest.len % 3 != 2)
		return false;
	for (size_t i = 0; i < rest.len; i++) {
		bool colon = i % 3 == 2;
		if (colon ? rest.p[i] != ':' : hex_digit((unsigned char)rest.p[i]) < 0)
			return false;
	}
	return true;
}

/* a=<name>[:<value>] with name a token (RFC 8866 5.13). Names compare
 * case-sensitively, as the registry spells them. */
static int attr_parse(struct sdp *s, struct sdp_media *cur, struct slice v)
{
	const char *colon = slice_chr(v, ':');
	struct slice name = v, val = SLICE_NULL;

	if (colon) {
		name = slice_make(v.p, (size_t)(colon - v.p));
		val = slice_make(colon + 1, v.len - name.len - 1);
	}
	if (!is_token(name))
		return EBADMSG;
	if (slice_eq(name, SLICE_LIT("crypto"))) {
		/* media-level only (RFC 4568 9.1): a session-level one is ignored */
		if (cur && crypto_ok(val))
			cur->has_crypto = true;
	} else if (slice_eq(name, SLICE_LIT("fingerprint"))) {
		if (fingerprint_ok(val)) {
			if (cur)
				cur->has_fingerprint = true;
			else
				s->session_fingerprint = true;
		}
	}
	return 0;
}

/* True when buf[i..len) is nothing but line ends. */
static bool only_blank_lines(const char *buf, size_t i, size_t len)
{
	for (; i < len; i++) {
		if (buf[i] == '\n')
			continue;
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n')
			continue;
		return false;
	}
	return true;
}

int sdp_parse(struct sdp *out, const char *buf, size_t len, const struct sdp_limits *lim,
	      size_t *err_off)
{
	const struct sdp_limits deflim = SDP_LIMITS_DEFAULT;
	struct sdp_media *cur = NULL;
	uint32_t nlines = 0, nattrs = 0, max_media;
	bool have_o = false, have_s = false, have_t = false;
	size_t i = 0, at = 0;
	int err = 0;

	if (!out || (!buf && len))
		return EINVAL;
	memset(out, 0, sizeof(*out));
	if (!lim)
		lim = &deflim;
	max_media = lim->max_media < SDP_MAX_MEDIA ? lim->max_media : SDP_MAX_MEDIA;

	while (i < len) {
		size_t start = i, end = i;
		struct slice val;
		char type;

		/* Cut one line; check each byte. A CR must be followed by LF. */
		while (end < len && buf[end] != '\n' && buf[end] != '\r' && buf[end] != '\0')
			end++;
		if (end < len && buf[end] == '\0') {
			at = end;
			err = EBADMSG;
			goto out;
		}
		if (end < len && buf[end] == '\r' && (end + 1 == len || buf[end + 1] != '\n')) {
			at = end;
			err = EBADMSG;
			goto out;
		}
		i = end == len ? len : end + (buf[end] == '\r' ? 2 : 1);

		if (end == start) {
			/* an empty line: tolerated only as trailing padding */
			if (only_blank_lines(buf, i, len))
				break;
			at = start;
			err = EBADMSG;
			goto out;
		}
		if (nlines == lim->max_lines) {
			at = start;
			err = EOVERFLOW;
			goto out;
		}
		nlines++;
		at = start;
		if (end - start < 2 || buf[start + 1] != '=') {
			err = EBADMSG;
			goto out;
		}
		type = buf[start];
		val = slice_make(buf + start + 2, end - start - 2);
		if (nlines == 1 && (type != 'v' || !slice_eq(val, SLICE_LIT("0")))) {
			err = EBADMSG;
			goto out;
		}

		switch (type) {
		case 'v':
			if (nlines != 1)
				err = EBADMSG;
			break;
		case 'o':
		case 's':
		case 't':
		case 'r':
		case 'u':
		case 'e':
		case 'p':
		case 'z':
			/* session-level only */
			if (cur) {
				err = EBADMSG;
			} else if (type == 'o') {
				err = have_o ? EBADMSG : 0;
				have_o = true;
			} else if (type == 's') {
				err = have_s ? EBADMSG : 0;
				have_s = true;
			} else if (type == 't') {
				have_t = true;
			} else if (type == 'r' && !have_t) {
				err = EBADMSG;
			}
			break;
		case 'i':
		case 'c':
		case 'b':
		case 'k':
			break;
		case 'a':
			if (nattrs == lim->max_attrs) {
				err = EOVERFLOW;
				break;
			}
			nattrs++;
			err = attr_parse(out, cur, val);
			break;
		case 'm':
			if (!have_o || !have_s || !have_t) {
				err = EBADMSG;
				break;
			}
			if (out->nmedia == max_media) {
				err = EOVERFLOW;
				break;
			}
			cur = &out->media[out->nmedia++];
			nattrs = 0;
			err = media_parse(cur, val);
			break;
		default:
			/* RFC 8866 5: a description with a type letter the parser
			 * does not understand is to be ignored or rejected. */
			err = EBADMSG;
			break;
		}
		if (err)
			goto out;
	}

	at = len;
	if (nlines == 0 || !have_o || !have_s || !have_t) {
		err = EBADMSG;
		goto out;
	}
	for (size_t k = 0; k < out->nmedia; k++)
		out->media[k].has_fingerprint |= out->session_fingerprint;
out:
	if (err && err_off)
		*err_off = at;
	return err;
}

enum proto_kind { PROTO_NOT_RTP, PROTO_RTP_PLAIN, PROTO_SDES, PROTO_DTLS };

/* Case-insensitive substring test, bounded by s. */
static bool contains_ci(struct slice s, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= s.len; i++)
		if (slice_caseeq_cstr(slice_make(s.p + i, n), needle))
			return true;
	return false;
}

static enum proto_kind proto_kind(struct slice proto)
{
	static const char *const sdes[] = { "RTP/SAVP", "RTP/SAVPF" };
	static const char *const dtls[] = { "UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF",
					    "TCP/DTLS/RTP/SAVP", "TCP/DTLS/RTP/SAVPF" };

	if (!contains_ci(proto, "RTP"))
		return PROTO_NOT_RTP;
	for (size_t k = 0; k < ARRAY_SIZE(sdes); k++)
		if (slice_caseeq_cstr(proto, sdes[k]))
			return PROTO_SDES;
	for (size_t k = 0; k < ARRAY_SIZE(dtls); k++)
		if (slice_caseeq_cstr(proto, dtls[k]))
			return PROTO_DTLS;
	return PROTO_RTP_PLAIN;
}

enum sdp_srtp sdp_srtp_check(const struct sdp *s, struct slice *bad_media)
{
	enum sdp_srtp r = SDP_SRTP_OK;
	size_t k;

	for (k = 0; k < s->nmedia && r == SDP_SRTP_OK; k++) {
		const struct sdp_media *m = &s->media[k];
		if (m->port_zero)
			continue;
		switch (proto_kind(m->proto)) {
		case PROTO_NOT_RTP:
			break;
		case PROTO_RTP_PLAIN:
			r = SDP_SRTP_NONE;
			break;
		case PROTO_SDES:
			if (!m->has_crypto)
				r = SDP_SRTP_NO_KEYS;
			break;
		case PROTO_DTLS:
			if (!m->has_fingerprint && !s->session_fingerprint)
				r = SDP_SRTP_NO_KEYS;
			break;
		}
	}
	if (bad_media)
		*bad_media = r == SDP_SRTP_OK ? SLICE_NULL : s->media[k - 1].line;
	return r;
}

const char *sdp_srtp_reason(enum sdp_srtp r)
{
	switch (r) {
	case SDP_SRTP_OK:
		return "SRTP on every active RTP stream";
	case SDP_SRTP_NONE:
		return "SRTP Required: Plain RTP Stream Refused";
	case SDP_SRTP_NO_KEYS:
		return "SRTP Without Keys: No a=crypto or a=fingerprint";
	}
	return "Unknown SRTP Policy Outcome";
}
