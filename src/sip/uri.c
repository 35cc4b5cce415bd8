/*
 * sip/uri.c: sip:, sips: and tel: URIs (RFC 3261 19.1, 25.1; RFC 3966), the
 * host[:port] grammar shared with Via sent-by, and parameter lookup.
 *
 * The parser validates every byte against the grammar's character classes
 * and every escape (%HH); it never looks outside the given slice. A password
 * in userinfo is refused outright: no legitimate client sends one and it
 * would end up in logs.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>

/* The bytes no URI holds anywhere: controls, SP, DEL, non-ASCII and
 * < > " \\ { } | ^ ` (RFC 3261 25.1 has none of them outside quoted
 * strings). A bitmap, one test a byte: every URI of a message is scanned. */
static const uint64_t uri_refused_map[4] = {
	0x50000005ffffffffULL, /* 0x00-0x20, '"', '<', '>' */
	0xb800000150000000ULL, /* '\\', '^', '`', '{', '|', '}', 0x7f */
	UINT64_MAX, UINT64_MAX, /* 0x80-0xff */
};

static inline bool uri_refused(char ch)
{
	unsigned char c = (unsigned char)ch;

	return (uri_refused_map[c >> 6] >> (c & 63)) & 1;
}

/* Validate s as 1*(class / escaped). */
static bool chars_ok(struct slice s, unsigned cls, bool allow_empty)
{
	if (s.len == 0)
		return allow_empty;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c == '%') {
			if (i + 2 >= s.len || !sip_is(s.p[i + 1], SIP_C_HEX) ||
			    !sip_is(s.p[i + 2], SIP_C_HEX))
				return false;
			i += 2;
			continue;
		}
		if (!sip_is(c, cls))
			return false;
	}
	return true;
}

static bool ipv4_ok(struct slice s)
{
	unsigned parts = 0;
	size_t i = 0;

	while (i <= s.len) {
		size_t j = i;
		unsigned v = 0;
		while (j < s.len && s.p[j] >= '0' && s.p[j] <= '9' && j - i < 3) {
			v = v * 10 + (unsigned)(s.p[j] - '0');
			j++;
		}
		if (j == i || v > 255)
			return false;
		parts++;
		if (j == s.len)
			break;
		if (s.p[j] != '.' || parts == 4)
			return false;
		i = j + 1;
	}
	return parts == 4;
}

static bool ipv6_ok(struct slice s)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];

	if (s.len == 0 || s.len >= sizeof(tmp))
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!sip_is(s.p[i], SIP_C_HEX) && s.p[i] != ':' && s.p[i] != '.')
			return false;
	memcpy(tmp, s.p, s.len);
	tmp[s.len] = '\0';
	return inet_pton(AF_INET6, tmp, addr) == 1;
}

/* hostname = *( domainlabel "." ) toplabel [ "." ]; labels alphanum with
 * inner hyphens. */
static bool hostname_ok(struct slice s)
{
	size_t i = 0, start = 0;
	bool last_alpha = false;

	if (s.len == 0 || s.len > 255)
		return false;
	if (s.p[s.len - 1] == '.')
		s.len--;
	if (s.len == 0)
		return false;
	for (i = 0; i <= s.len; i++) {
		if (i == s.len || s.p[i] == '.') {
			if (i == start || s.p[start] == '-' || s.p[i - 1] == '-')
				return false;
			last_alpha = !(s.p[start] >= '0' && s.p[start] <= '9');
			start = i + 1;
			continue;
		}
		if (!sip_is(s.p[i], SIP_C_ALNUM) && s.p[i] != '-')
			return false;
	}
	return last_alpha;
}

/* Classify and validate host (IPv6 with brackets, which are dropped in
 * *host), then the optional port. Returns 0 or EBADMSG. */
int sip_hostport_parse(struct slice s, struct slice *host, enum sip_host_type *type,
		       uint16_t *port, bool *has_port)
{
	struct slice h, p = SLICE_NULL;
	bool with_port = false;

	if (s.len == 0)
		return EBADMSG;
	if (s.p[0] == '[') {
		const char *rb = slice_chr(s, ']');
		if (!rb)
			return EBADMSG;
		size_t hl = (size_t)(rb - s.p) + 1;
		h = sip_sub(s, 1, hl - 1);
		if (!ipv6_ok(h))
			return EBADMSG;
		*type = SIP_HOST_IPV6;
		if (hl < s.len) {
			if (s.p[hl] != ':')
				return EBADMSG;
			p = sip_sub(s, hl + 1, s.len);
			with_port = true;
		}
	} else {
		const char *colon = slice_chr(s, ':');
		size_t hl = colon ? (size_t)(colon - s.p) : s.len;
		h = sip_sub(s, 0, hl);
		if (colon) {
			p = sip_sub(s, hl + 1, s.len);
			with_port = true;
		}
		/* ipv4_ok accepts digits and dots only: a name fails it at
		 * its first letter */
		if (ipv4_ok(h))
			*type = SIP_HOST_IPV4;
		else if (hostname_ok(h))
			*type = SIP_HOST_NAME;
		else
			return EBADMSG;
	}
	*host = h;
	*has_port = with_port;
	*port = 0;
	if (with_port) {
		uint32_t v;
		if (p.len == 0 || p.len > 5 || slice_to_u32(p, &v) != 0 || v > 65535)
			return EBADMSG;
		*port = (uint16_t)v;
	}
	return 0;
}

/* ;name[=value] where both are paramchar (RFC 3261 uri-parameter). */
static bool uri_params_ok(struct slice s)
{
	size_t i = 0;

	while (i < s.len) {
		if (s.p[i] != ';')
			return false;
		size_t j = i + 1;
		while (j < s.len && s.p[j] != ';')
			j++;
		struct slice prm = sip_sub(s, i + 1, j);
		const char *eq = slice_chr(prm, '=');
		unsigned cls = SIP_C_UNRES | SIP_C_PARAM;
		if (eq) {
			struct slice n = slice_make(prm.p, (size_t)(eq - prm.p));
			struct slice v = slice_make(eq + 1, prm.len - n.len - 1);
			if (!chars_ok(n, cls, false) || !chars_ok(v, cls, false))
				return false;
		} else if (!chars_ok(prm, cls, false)) {
			return false;
		}
		i = j;
	}
	return true;
}

static bool uri_headers_ok(struct slice s)
{
	size_t i = 0;

	if (s.len == 0)
		return false;
	while (i <= s.len) {
		size_t j = i;
		while (j < s.len && s.p[j] != '&')
			j++;
		struct slice h = sip_sub(s, i, j);
		const char *eq = slice_chr(h, '=');
		if (!eq)
			return false;
		struct slice n = slice_make(h.p, (size_t)(eq - h.p));
		struct slice v = slice_make(eq + 1, h.len - n.len - 1);
		unsigned cls = SIP_C_UNRES | SIP_C_HNV;
		if (!chars_ok(n, cls, false) || !chars_ok(v, cls | SIP_C_USER, true))
			return false;
		if (j == s.len)
			break;
		i = j + 1;
	}
	return true;
}

static bool scheme_ok(struct slice s)
{
	if (s.len == 0 || !((s.p[0] | 0x20) >= 'a' && (s.p[0] | 0x20) <= 'z'))
		return false;
	for (size_t i = 1; i < s.len; i++)
		if (!sip_is(s.p[i], SIP_C_ALNUM) && s.p[i] != '+' && s.p[i] != '-' &&
		    s.p[i] != '.')
			return false;
	return true;
}

static int parse_sip(struct sip_uri *uri, struct slice rest, enum sip_err *err)
{
	const char *at = slice_chr(rest, '@');
	struct slice hp;

	if (at) {
		struct slice ui = slice_make(rest.p, (size_t)(at - rest.p));
		bool is_userinfo = ui.len > 0, colon = false, pct = false;
		for (size_t i = 0; i < ui.len && is_userinfo; i++) {
			char c = ui.p[i];
			if (sip_is(c, SIP_C_UNRES | SIP_C_USER))
				continue;
			if (c == '%')
				pct = true;
			else if (c == ':')
				colon = true;
			else
				is_userinfo = false;
		}
		if (is_userinfo) {
			if (colon) {
				*err = SIP_E_URI_PASSWORD;
				return EBADMSG;
			}
			/* every byte is of the class already: only escapes
			 * are left to check */
			if (pct && !chars_ok(ui, SIP_C_UNRES | SIP_C_USER, false))
				return EBADMSG;
			uri->user = ui;
			rest = slice_make(at + 1, rest.len - ui.len - 1);
		} else if (ui.len == 0) {
			return EBADMSG;
		}
	}
	/* host[:port] ends at ';' or '?' */
	size_t i = 0;
	while (i < rest.len && rest.p[i] != ';' && rest.p[i] != '?')
		i++;
	hp = sip_sub(rest, 0, i);
	if (sip_hostport_parse(hp, &uri->host, &uri->host_type, &uri->port, &uri->has_port))
		return EBADMSG;
	size_t q = i;
	while (q < rest.len && rest.p[q] != '?')
		q++;
	uri->params = sip_sub(rest, i, q);
	if (!uri_params_ok(uri->params))
		return EBADMSG;
	if (q < rest.len) {
		uri->headers = sip_sub(rest, q + 1, rest.len);
		if (!uri_headers_ok(uri->headers))
			return EBADMSG;
	}
	return 0;
}

static int parse_tel(struct sip_uri *uri, struct slice rest)
{
	size_t i = 0;

	while (i < rest.len && rest.p[i] != ';')
		i++;
	uri->user = sip_sub(rest, 0, i);
	if (uri->user.len == 0)
		return EBADMSG;
	for (size_t k = 0; k < uri->user.len; k++) {
		char c = uri->user.p[k];
		if (!sip_is(c, SIP_C_HEX) && !strchr("*#+-.()pwPW", c))
			return EBADMSG;
		if (c == '+' && k != 0)
			return EBADMSG;
	}
	uri->params = sip_sub(rest, i, rest.len);
	return uri_params_ok(uri->params) ? 0 : EBADMSG;
}

/* See sip.h. Never reads outside `in`; on failure *uri is partly filled and
 * must not be used. */
int sip_uri_parse(struct sip_uri *uri, struct slice in, const struct sip_limits *lim,
		  enum sip_err *err)
{
	int rc = EBADMSG;
	enum sip_err e = SIP_E_REQUEST_URI;

	memset(uri, 0, sizeof(*uri));
	uri->raw = in;
	if (lim && in.len > lim->max_uri) {
		rc = EOVERFLOW;
		e = SIP_E_URI_TOO_LONG;
		goto out;
	}
	for (size_t i = 0; i < in.len; i++)
		if (uri_refused(in.p[i]))
			goto out;
	const char *colon = slice_chr(in, ':');
	if (!colon)
		goto out;
	uri->scheme_s = slice_make(in.p, (size_t)(colon - in.p));
	if (!scheme_ok(uri->scheme_s))
		goto out;
	struct slice rest = slice_make(colon + 1, in.len - uri->scheme_s.len - 1);
	if (rest.len == 0)
		goto out;
	if (slice_caseeq_cstr(uri->scheme_s, "sip") || slice_caseeq_cstr(uri->scheme_s, "sips")) {
		uri->scheme = uri->scheme_s.len == 3 ? SIP_SCHEME_SIP : SIP_SCHEME_SIPS;
		rc = parse_sip(uri, rest, &e);
	} else if (slice_caseeq_cstr(uri->scheme_s, "tel")) {
		uri->scheme = SIP_SCHEME_TEL;
		rc = parse_tel(uri, rest);
	} else {
		uri->scheme = SIP_SCHEME_OTHER;
		rc = 0;
		/* opaque part: uric = reserved / unreserved / escaped */
		for (size_t i = 0; i < rest.len && rc == 0; i++) {
			char c = rest.p[i];
			if (c == '%') {
				if (i + 2 >= rest.len || !sip_is(rest.p[i + 1], SIP_C_HEX) ||
				    !sip_is(rest.p[i + 2], SIP_C_HEX))
					rc = EBADMSG;
				i += 2;
			} else if (!sip_is(c, SIP_C_UNRES | SIP_C_USER | SIP_C_PARAM | SIP_C_HNV) &&
				   c != '@' && c != '#' && c != '=') {
				rc = EBADMSG;
			}
		}
	}
out:
	if (rc && err)
		*err = e;
	if (rc == 0 && err)
		*err = SIP_E_NONE;
	return rc;
}

/* Length of the quoted-string at the start of s (which begins with '"'),
 * including both quotes; 0 when not terminated inside s. */
size_t sip_quoted_len(struct slice s)
{
	size_t i = 1;

	/* memchr for the closing quote and for an escape before it: nonces
	 * and responses are long and hold neither */
	while (i < s.len) {
		const char *q = memchr(s.p + i, '"', s.len - i);
		size_t run = q ? (size_t)(q - (s.p + i)) : s.len - i;
		const char *bs = run ? memchr(s.p + i, '\\', run) : NULL;

		if (!bs)
			return q ? (size_t)(q - s.p) + 1 : 0;
		i = (size_t)(bs - s.p) + 2; /* the escaped byte is skipped, whatever it is */
	}
	return 0;
}

/* See sip.h. Parameters are split at ';' outside quotes; LWS around names,
 * '=' and values is ignored. */
bool sip_param_get(struct slice params, const char *name, struct slice *value)
{
	size_t i = 0;

	while (i < params.len) {
		size_t j = i;
		while (j < params.len && params.p[j] != ';') {
			if (params.p[j] == '"') {
				size_t q = sip_quoted_len(sip_sub(params, j, params.len));
				if (q == 0)
					return false;
				j += q;
				continue;
			}
			j++;
		}
		struct slice prm = slice_trim(sip_sub(params, i, j));
		const char *eq = slice_chr(prm, '=');
		struct slice n = eq ? slice_trim(slice_make(prm.p, (size_t)(eq - prm.p))) : prm;
		if (n.len && slice_caseeq_cstr(n, name)) {
			struct slice v = SLICE_NULL;
			if (eq) {
				v = slice_trim(slice_make(eq + 1, prm.len - (size_t)(eq + 1 - prm.p)));
				if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"')
					v = slice_make(v.p + 1, v.len - 2);
			} else {
				v = slice_make(prm.p + prm.len, 0);
			}
			if (value)
				*value = v;
			return true;
		}
		i = j + 1;
	}
	return false;
}
