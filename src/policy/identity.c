/*
 * policy/identity.c: who a caller may claim to be, and what the proxy
 * asserts about it to the next hop (see policy.h and docs/identity.md).
 *
 * Caller-ID spoofing is the cheapest attack on a SIP service: any phone can
 * write any From. So From is checked against the authenticated user, the
 * network-asserted identity (RFC 3325 P-Asserted-Identity) is written only
 * by us or by a trusted peer, and whatever a phone sends in its place is
 * removed. Everything written here comes from validated parts (the user name
 * escaped, the domain checked, URIs re-parsed, the display name decoded and
 * re-quoted), never from raw request bytes, so a hostile From cannot inject
 * a header.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>

/* ---- small helpers ---------------------------------------------------------- */

static int hexval(char c)
{
	return hex_digit((unsigned char)c);
}

/* Next byte of an escaped SIP user part (%HH decoded); false at the end.
 * The URI parser has validated the escapes; a stray '%' stays a '%'. */
static bool unesc_next(struct slice s, size_t *i, char *out)
{
	if (*i >= s.len)
		return false;
	if (s.p[*i] == '%' && *i + 2 < s.len && hexval(s.p[*i + 1]) >= 0 &&
	    hexval(s.p[*i + 2]) >= 0) {
		*out = (char)(hexval(s.p[*i + 1]) * 16 + hexval(s.p[*i + 2]));
		*i += 3;
		return true;
	}
	*out = s.p[(*i)++];
	return true;
}

/* Are two user parts equal after unescaping (RFC 3261 19.1.4: the user
 * part compares case-sensitively, escapes decoded)? */
static bool user_eq(struct slice a, struct slice b)
{
	size_t i = 0, j = 0;
	char ca, cb;

	for (;;) {
		bool ha = unesc_next(a, &i, &ca), hb = unesc_next(b, &j, &cb);
		if (!ha || !hb)
			return ha == hb;
		if (ca != cb)
			return false;
	}
}

/* A copy of s without brackets around an IPv6 literal. */
static struct slice unbracket(struct slice s)
{
	if (s.len >= 2 && s.p[0] == '[' && s.p[s.len - 1] == ']')
		return slice_make(s.p + 1, s.len - 2);
	return s;
}

/* Parse an IPv6 literal (without brackets) into a. */
static bool ipv6_of(struct slice s, struct in6_addr *a)
{
	char buf[INET6_ADDRSTRLEN + 1];

	s = unbracket(s);
	if (s.len == 0 || s.len >= sizeof(buf) || !slice_chr(s, ':'))
		return false;
	memcpy(buf, s.p, s.len);
	buf[s.len] = '\0';
	return inet_pton(AF_INET6, buf, a) == 1;
}

/* Hosts equal: ASCII case-insensitive, IPv6 literals as addresses. */
static bool host_eq(struct slice a, struct slice b)
{
	struct in6_addr x, y;

	a = unbracket(a);
	b = unbracket(b);
	if (slice_caseeq(a, b))
		return true;
	return ipv6_of(a, &x) && ipv6_of(b, &y) && memcmp(&x, &y, sizeof(x)) == 0;
}

/* Does host stand for our domain? */
static bool host_ours(const struct policy_identity_in *in, struct slice host)
{
	if (host.len == 0)
		return false;
	if (host_eq(host, in->domain))
		return true;
	for (size_t i = 0; i < in->nown_hosts; i++)
		if (in->own_hosts[i].len && host_eq(host, in->own_hosts[i]))
			return true;
	return false;
}

static bool is_sip(enum sip_scheme s)
{
	return s == SIP_SCHEME_SIP || s == SIP_SCHEME_SIPS;
}

/* Is c a visual separator of a telephone number (RFC 3966 5.1.1)? */
static bool tel_visual(char c)
{
	return c == '-' || c == '.' || c == '(' || c == ')';
}

/* Telephone numbers equal, visual separators ignored, ASCII
 * case-insensitive (hex digits, p and w), escapes decoded. */
static bool tel_eq(struct slice a, struct slice b)
{
	size_t i = 0, j = 0;
	char ca = 0, cb = 0;
	bool ha, hb;

	for (;;) {
		while ((ha = unesc_next(a, &i, &ca)) && tel_visual(ca))
			;
		while ((hb = unesc_next(b, &j, &cb)) && tel_visual(cb))
			;
		if (!ha || !hb)
			return ha == hb;
		if (ca >= 'A' && ca <= 'Z')
			ca = (char)(ca - 'A' + 'a');
		if (cb >= 'A' && cb <= 'Z')
			cb = (char)(cb - 'A' + 'a');
		if (ca != cb)
			return false;
	}
}

/* The number of a sip: URI with user=phone (the user part up to any ';'
 * of its own parameters), or an empty slice. */
static struct slice sip_phone_number(const struct sip_uri *u)
{
	struct slice v;
	const char *semi;

	if (!is_sip(u->scheme) || !sip_param_get(u->params, "user", &v) ||
	    !slice_caseeq_cstr(v, "phone"))
		return SLICE_NULL;
	semi = slice_chr(u->user, ';');
	return semi ? slice_make(u->user.p, (size_t)(semi - u->user.p)) : u->user;
}

/* ---- From matching ------------------------------------------------------------ */

static bool from_is_aor(const struct policy_identity_in *in, const struct sip_uri *from)
{
	return is_sip(from->scheme) && from->user.len && user_eq(from->user, in->auth_user) &&
	       host_ours(in, from->host);
}

static bool from_is_anonymous(const struct sip_uri *from)
{
	return is_sip(from->scheme) && slice_caseeq_cstr(from->user, "anonymous") &&
	       slice_caseeq_cstr(from->host, "anonymous.invalid");
}

/* Does From name the allowed identity `id` (already parsed)? */
static bool from_is_allowed(const struct policy_identity_in *in, const struct sip_uri *from,
			    const struct sip_uri *id)
{
	if (id->scheme == SIP_SCHEME_TEL) {
		struct slice num;

		if (from->scheme == SIP_SCHEME_TEL)
			return tel_eq(from->user, id->user);
		num = sip_phone_number(from);
		return num.len && host_ours(in, from->host) && tel_eq(num, id->user);
	}
	if (!is_sip(id->scheme) || !is_sip(from->scheme) || id->user.len == 0 ||
	    !user_eq(from->user, id->user))
		return false;
	return host_eq(from->host, id->host) || (host_ours(in, id->host) && host_ours(in, from->host));
}

/* ---- building the P-Asserted-Identity value ---------------------------------- */

/* Bytes that may stand unescaped in a SIP user part: unreserved and
 * user-unreserved (RFC 3261 25.1). */
static bool user_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-_.!~*'()&=+$,;?/", c));
}

static void put_user_escaped(struct sip_buf *b, struct slice user)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < user.len; i++) {
		unsigned char c = (unsigned char)user.p[i];
		if (user_char(c)) {
			sip_buf_put(b, &user.p[i], 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			sip_buf_put(b, e, 3);
		}
	}
}

/* A domain we can write into a URI: a host name or IPv4 of [A-Za-z0-9.-],
 * or an IPv6 literal (written in brackets). */
static bool domain_ok(struct slice d, bool *v6)
{
	struct in6_addr a;

	*v6 = false;
	if (d.len == 0 || d.len > 255)
		return false;
	if (slice_chr(d, ':')) {
		*v6 = true;
		return ipv6_of(d, &a);
	}
	for (size_t i = 0; i < d.len; i++) {
		char c = d.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Length of the valid UTF-8 sequence at p[0..n), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1fu;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0fu;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07u;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/*
 * Decode From's display name into dst (POLICY_DISPLAY_MAX bytes): quoted
 * pairs resolved, then every byte checked. Returns its length (0: none), or
 * -1 when it must be left out: a control byte (CR and LF of a folded line
 * included, HTAB too), invalid UTF-8, or too long.
 */
static int display_decode(char *dst, const struct sip_nameaddr *na)
{
	bool quoted = na->raw.len && na->raw.p[0] == '"';
	struct slice d = na->display;
	size_t n = 0, i = 0;

	while (i < d.len) {
		char c = d.p[i++];
		if (quoted && c == '\\' && i < d.len)
			c = d.p[i++];
		if (n == POLICY_DISPLAY_MAX)
			return -1;
		dst[n++] = c;
	}
	/* Leading and trailing spaces carry nothing. */
	while (n && dst[n - 1] == ' ')
		n--;
	i = 0;
	while (i < n && dst[i] == ' ')
		i++;
	memmove(dst, dst + i, n - i);
	n -= i;
	for (i = 0; i < n;) {
		unsigned char c = (unsigned char)dst[i];
		size_t l;
		if (c < 0x20 || c == 0x7f)
			return -1;
		l = utf8_len((const unsigned char *)dst + i, n - i);
		if (l == 0)
			return -1;
		i += l;
	}
	return (int)n;
}

/* Write the URI of the identity: the allowed entry's scheme, user and host
 * (the parts the URI parser validated), or sip:USER@DOMAIN. */
static void put_identity_uri(struct sip_buf *b, const struct policy_identity_in *in,
			     const struct sip_uri *id, bool domain_v6)
{
	if (id && id->scheme == SIP_SCHEME_TEL) {
		sip_buf_str(b, "tel:");
		sip_buf_slice(b, id->user);
		return;
	}
	if (id) {
		sip_buf_str(b, id->scheme == SIP_SCHEME_SIPS ? "sips:" : "sip:");
		sip_buf_slice(b, id->user);
		sip_buf_str(b, "@");
		if (id->host_type == SIP_HOST_IPV6)
			sip_buf_str(b, "[");
		sip_buf_slice(b, id->host);
		if (id->host_type == SIP_HOST_IPV6)
			sip_buf_str(b, "]");
		return;
	}
	sip_buf_str(b, "sip:");
	put_user_escaped(b, in->auth_user);
	sip_buf_str(b, "@");
	sip_buf_str(b, domain_v6 ? "[" : "");
	sip_buf_slice(b, unbracket(in->domain));
	sip_buf_str(b, domain_v6 ? "]" : "");
}

/* Build out->pai. Returns 0 or EOVERFLOW. */
static int build_pai(struct policy_identity_verdict *out, const struct policy_identity_in *in,
		     const struct sip_uri *id, bool domain_v6)
{
	char disp[POLICY_DISPLAY_MAX];
	struct sip_buf b;
	int dlen = 0;

	if (out->match != POLICY_ID_ANONYMOUS) {
		dlen = display_decode(disp, &in->req->from);
		if (dlen < 0) {
			out->display_dropped = true;
			dlen = 0;
		}
	}
	sip_buf_init(&b, out->pai, sizeof(out->pai) - 1);
	if (dlen > 0) {
		sip_buf_str(&b, "\"");
		for (int i = 0; i < dlen; i++) {
			if (disp[i] == '"' || disp[i] == '\\')
				sip_buf_str(&b, "\\");
			sip_buf_put(&b, &disp[i], 1);
		}
		sip_buf_str(&b, "\" ");
	}
	sip_buf_str(&b, "<");
	put_identity_uri(&b, in, id, domain_v6);
	sip_buf_str(&b, ">");
	if (b.overflow) {
		out->pai[0] = '\0';
		return EOVERFLOW;
	}
	out->pai[b.len] = '\0';
	out->pai_len = b.len;
	/* Belt and braces: nothing below 0x20 ever leaves here. */
	for (size_t i = 0; i < b.len; i++) {
		if ((unsigned char)out->pai[i] < 0x20 || out->pai[i] == 0x7f) {
			out->pai[0] = '\0';
			out->pai_len = 0;
			return EINVAL;
		}
	}
	return 0;
}

/* ---- privacy -------------------------------------------------------------------- */

static unsigned priv_bit(struct slice v)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "none", POLICY_PRIV_NONE },       { "id", POLICY_PRIV_ID },
		{ "header", POLICY_PRIV_HEADER },   { "user", POLICY_PRIV_USER },
		{ "session", POLICY_PRIV_SESSION }, { "critical", POLICY_PRIV_CRITICAL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (slice_caseeq_cstr(v, names[i].name))
			return names[i].bit;
	return POLICY_PRIV_OTHER;
}

/* See policy.h. priv-values are separated by ';' (RFC 3323); ',' is taken as
 * well, since some phones send a list or several headers. */
unsigned policy_privacy(const struct sip_msg *m)
{
	unsigned bits = 0;

	if (!m)
		return 0;
	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_PRIVACY); h; h = sip_msg_hdr_next(m, h)) {
		size_t start = 0;
		for (size_t i = 0; i <= h->value.len; i++) {
			if (i < h->value.len && h->value.p[i] != ';' && h->value.p[i] != ',')
				continue;
			struct slice v = slice_trim(slice_make(h->value.p + start, i - start));
			if (v.len)
				bits |= priv_bit(v);
			start = i + 1;
		}
	}
	return bits;
}

/* ---- the decision ----------------------------------------------------------------- */

static void set_deny(struct policy_verdict *v, uint16_t status, const char *reason,
		     const char *event, const char *detail)
{
	v->allow = false;
	v->status = status;
	v->reason = reason;
	v->event = event;
	v->detail = detail;
}

static void set_allow(struct policy_verdict *v, const char *detail)
{
	v->allow = true;
	v->status = 0;
	v->reason = NULL;
	v->event = NULL;
	v->detail = detail;
}

static uint32_t count_hdrs(const struct sip_msg *m, unsigned strip)
{
	uint32_t n = 0;

	if (strip & POLICY_STRIP_PAI)
		n += m->count[SIP_H_P_ASSERTED_IDENTITY];
	if (strip & POLICY_STRIP_PPI)
		n += m->count[SIP_H_P_PREFERRED_IDENTITY];
	if (strip & POLICY_STRIP_RPID)
		n += m->count[SIP_H_REMOTE_PARTY_ID];
	return n;
}

/* Rule 1: who From may be. Sets out->match (and allowed_index, *id for an
 * allowed identity); returns false for a refusal. */
static bool check_from(struct policy_identity_verdict *out, const struct policy_identity_in *in,
		       struct sip_uri *id)
{
	const struct sip_uri *from = &in->req->from.uri;

	if (in->auth_user.len == 0) {
		if (in->source_trusted)
			return true;
		if ((is_sip(from->scheme) && host_ours(in, from->host))) {
			out->v.detail = "From names our domain without authentication";
			return false;
		}
		out->match = POLICY_ID_FOREIGN;
		return true;
	}
	if (from_is_aor(in, from)) {
		out->match = POLICY_ID_AOR;
		return true;
	}
	for (size_t i = 0; i < in->nallowed; i++) {
		if (sip_uri_parse(id, slice_cstr(in->allowed[i]), NULL, NULL) != 0)
			continue;
		if (from_is_allowed(in, from, id)) {
			out->match = POLICY_ID_ALLOWED;
			out->allowed_index = i;
			return true;
		}
	}
	if (from_is_anonymous(from)) {
		out->match = POLICY_ID_ANONYMOUS;
		return true;
	}
	out->v.detail = "From is not the authenticated user's identity";
	return false;
}

int policy_identity(struct policy_identity_verdict *out, const struct policy_identity_in *in)
{
	struct sip_uri id;
	bool domain_v6 = false, privacy_id;
	int err = EINVAL;

	if (!out)
		return EINVAL;
	memset(out, 0, sizeof(*out));
	set_deny(&out->v, 500, "Server Internal Error", NULL, "identity policy input invalid");
	if (!in || !in->req || !in->req->request || !(in->req->have & SIP_HAVE_FROM) ||
	    (in->nallowed && !in->allowed) || (in->nown_hosts && !in->own_hosts) ||
	    (in->auth_user.len && !in->auth_user.p) || !domain_ok(in->domain, &domain_v6))
		return EINVAL;
	for (size_t i = 0; i < in->nallowed; i++)
		if (!in->allowed[i])
			return EINVAL;

	out->privacy = policy_privacy(in->req);
	privacy_id = (out->privacy & POLICY_PRIV_ID) != 0;

	if (!check_from(out, in, &id)) {
		set_deny(&out->v, 403, "Forbidden", POLICY_EVENT_SPOOFED_FROM, out->v.detail);
		return 0;
	}

	/* Rule 2: nobody but a trusted peer asserts. */
	if (!in->source_trusted)
		out->strip = POLICY_STRIP_PAI | POLICY_STRIP_PPI | POLICY_STRIP_RPID;

	/* Rule 3: we assert the authenticated identity, unless a trusted peer
	 * already did. */
	if (in->auth_user.len &&
	    !(in->source_trusted && in->req->count[SIP_H_P_ASSERTED_IDENTITY] > 0)) {
		err = build_pai(out, in, out->match == POLICY_ID_ALLOWED ? &id : NULL, domain_v6);
		if (err) {
			memset(out, 0, sizeof(*out));
			set_deny(&out->v, 500, "Server Internal Error", NULL,
				 "cannot build P-Asserted-Identity");
			return err;
		}
		out->add_pai = true;
	}

	/* Rule 4: Privacy: id toward an untrusted destination. */
	if (privacy_id && !in->dest_trusted) {
		if (out->add_pai || in->req->count[SIP_H_P_ASSERTED_IDENTITY] ||
		    in->req->count[SIP_H_REMOTE_PARTY_ID])
			out->privacy_withheld = true;
		out->add_pai = false;
		out->pai[0] = '\0';
		out->pai_len = 0;
		out->strip |= POLICY_STRIP_PAI | POLICY_STRIP_RPID;
	}
	out->nstripped = count_hdrs(in->req, out->strip);

	switch (out->match) {
	case POLICY_ID_AOR:
		set_allow(&out->v, "From is the authenticated user's AOR");
		break;
	case POLICY_ID_ALLOWED:
		set_allow(&out->v, "From is an identity allowed to the user");
		break;
	case POLICY_ID_ANONYMOUS:
		set_allow(&out->v, "From is anonymous; the identity is asserted");
		break;
	case POLICY_ID_FOREIGN:
		set_allow(&out->v, "unauthenticated request from outside our domain");
		break;
	default:
		set_allow(&out->v, "trusted peer");
	}
	return 0;
}

bool policy_identity_keeps(const struct policy_identity_verdict *v, const struct sip_hdr *h)
{
	if (!v || !h)
		return true;
	switch (h->id) {
	case SIP_H_P_ASSERTED_IDENTITY:
		return !(v->strip & POLICY_STRIP_PAI);
	case SIP_H_P_PREFERRED_IDENTITY:
		return !(v->strip & POLICY_STRIP_PPI);
	case SIP_H_REMOTE_PARTY_ID:
		return !(v->strip & POLICY_STRIP_RPID);
	default:
		return true;
	}
}
