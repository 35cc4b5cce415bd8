/*
 * sip/hdr.c: parsers for the header values the server reads: comma lists,
 * generic parameters, Via, name-addr (From, To, Route ...), Contact, CSeq
 * and the credentials/challenge headers.
 *
 * Header values may hold folded lines (CR LF followed by SP or HT), so every
 * scanner here treats CR and LF like SP as linear white space. Nothing reads
 * outside the slice it was given, even on an unterminated quote.
 */
#include "internal.h"

#include <errno.h>

static size_t skip_lws(struct slice s, size_t i)
{
	while (i < s.len && sip_is_lws(s.p[i]))
		i++;
	return i;
}

/* The bytes that end a list element or start a part it skips whole. */
static const bool list_special[256] = { [','] = true, ['"'] = true, ['<'] = true };

/* See sip.h. Empty elements (",,") are skipped. */
int sip_list_next(struct slice *item, struct slice *rest)
{
	struct slice s = *rest;
	size_t i = 0;

	for (;;) {
		i = skip_lws(s, i);
		if (i == s.len) {
			*rest = slice_make(s.p + s.len, 0);
			return ENODATA;
		}
		if (s.p[i] != ',')
			break;
		i++;
	}
	size_t start = i;
	while (i < s.len && s.p[i] != ',') {
		/* one table look-up a byte for the plain run (this scans every
		 * Via, credential and Route value) */
		while (i < s.len && !list_special[(unsigned char)s.p[i]])
			i++;
		if (i == s.len || s.p[i] == ',')
			break;
		if (s.p[i] == '"') {
			size_t q = sip_quoted_len(sip_sub(s, i, s.len));
			if (q == 0)
				return EBADMSG;
			i += q;
		} else { /* '<': to its '>' */
			const char *gt = slice_chr(sip_sub(s, i, s.len), '>');
			if (!gt)
				return EBADMSG;
			i = (size_t)(gt - s.p) + 1;
		}
	}
	*item = slice_trim(sip_sub(s, start, i));
	*rest = i < s.len ? sip_sub(s, i + 1, s.len) : slice_make(s.p + s.len, 0);
	return 0;
}

/* Next ";name[=value]" of a parameter string. *rest must start (after LWS)
 * with ';' or be empty. Values are token / host / quoted-string; a quoted
 * value is returned with its quotes. */
static int param_next(struct slice *rest, struct slice *name, struct slice *value,
		      bool *has_eq)
{
	struct slice s = *rest;
	size_t i = skip_lws(s, 0);

	if (i == s.len)
		return ENODATA;
	if (s.p[i] != ';')
		return EBADMSG;
	i = skip_lws(s, i + 1);
	size_t ns = i;
	while (i < s.len && sip_is(s.p[i], SIP_C_TOKEN))
		i++;
	*name = sip_sub(s, ns, i);
	if (name->len == 0)
		return EBADMSG;
	i = skip_lws(s, i);
	*has_eq = false;
	*value = slice_make(s.p + i, 0);
	if (i < s.len && s.p[i] == '=') {
		*has_eq = true;
		i = skip_lws(s, i + 1);
		size_t vs = i;
		if (i < s.len && s.p[i] == '"') {
			size_t q = sip_quoted_len(sip_sub(s, i, s.len));
			if (q == 0)
				return EBADMSG;
			i += q;
		} else {
			while (i < s.len && (sip_is(s.p[i], SIP_C_TOKEN) || s.p[i] == ':' ||
					     s.p[i] == '[' || s.p[i] == ']'))
				i++;
		}
		*value = sip_sub(s, vs, i);
		if (value->len == 0)
			return EBADMSG;
		i = skip_lws(s, i);
	}
	if (i < s.len && s.p[i] != ';')
		return EBADMSG;
	*rest = sip_sub(s, i, s.len);
	return 0;
}

static bool digits_max(struct slice v, uint32_t max, uint32_t *out)
{
	uint32_t x;

	if (slice_to_u32(v, &x) != 0 || x > max)
		return false;
	if (out)
		*out = x;
	return true;
}

/* sent-by: host [ SWS ":" SWS port ] */
static int via_sent_by(struct sip_via *via, struct slice s)
{
	const char *colon = NULL;
	size_t from = 0;

	if (s.len && s.p[0] == '[') {
		const char *rb = slice_chr(s, ']');
		if (!rb)
			return EBADMSG;
		from = (size_t)(rb - s.p);
	}
	colon = slice_chr(sip_sub(s, from, s.len), ':');
	struct slice host = colon ? slice_trim(slice_make(s.p, (size_t)(colon - s.p))) : s;
	struct slice port = colon ? slice_trim(slice_make(colon + 1, s.len - (size_t)(colon + 1 - s.p)))
				  : SLICE_NULL;
	bool hp;
	uint16_t dummy;
	if (sip_hostport_parse(host, &via->host, &via->host_type, &dummy, &hp) || hp)
		return EBADMSG;
	via->has_port = colon != NULL;
	if (colon) {
		uint32_t v;
		if (port.len > 5 || !digits_max(port, 65535, &v))
			return EBADMSG;
		via->port = (uint16_t)v;
	}
	return 0;
}

static struct slice token_at(struct slice s, size_t *i)
{
	size_t st = *i;
	while (*i < s.len && sip_is(s.p[*i], SIP_C_TOKEN))
		(*i)++;
	return sip_sub(s, st, *i);
}

/* See sip.h. */
int sip_via_next(struct sip_via *via, struct slice *rest, const struct sip_limits *lim)
{
	struct slice item, s;
	size_t i = 0;
	int rc;

	memset(via, 0, sizeof(*via));
	rc = sip_list_next(&item, rest);
	if (rc)
		return rc;
	rc = EBADMSG;
	s = item;
	via->raw = item;
	/* sent-protocol = name SLASH version SLASH transport */
	if (token_at(s, &i).len == 0)
		goto out;
	for (int k = 0; k < 2; k++) {
		i = skip_lws(s, i);
		if (i >= s.len || s.p[i] != '/')
			goto out;
		i = skip_lws(s, i + 1);
		struct slice t = token_at(s, &i);
		if (t.len == 0)
			goto out;
		if (k == 1)
			via->transport = t;
	}
	size_t ws = i;
	i = skip_lws(s, i);
	if (i == ws || i == s.len)
		goto out;
	size_t hs = i;
	while (i < s.len && s.p[i] != ';')
		i++;
	if (via_sent_by(via, slice_trim(sip_sub(s, hs, i))))
		goto out;
	via->params = sip_sub(s, i, s.len);
	struct slice prest = via->params, n, v;
	bool eq;
	while ((rc = param_next(&prest, &n, &v, &eq)) == 0) {
		rc = EBADMSG;
		if (slice_caseeq_cstr(n, "branch")) {
			if (!eq || v.p[0] == '"')
				goto out;
			via->branch = v;
			via->has_branch = true;
		} else if (slice_caseeq_cstr(n, "received")) {
			if (!eq || v.p[0] == '"')
				goto out;
			via->received = v;
			via->has_received = true;
		} else if (slice_caseeq_cstr(n, "maddr")) {
			if (!eq || v.p[0] == '"')
				goto out;
			via->maddr = v;
			via->has_maddr = true;
		} else if (slice_caseeq_cstr(n, "ttl")) {
			if (!eq || !digits_max(v, 255, NULL))
				goto out;
			via->ttl = v;
			via->has_ttl = true;
		} else if (slice_caseeq_cstr(n, "rport")) {
			if (eq && !digits_max(v, 65535, NULL))
				goto out;
			/* without a value, rport.p marks where "=port" goes */
			via->rport = eq ? v : slice_make(n.p + n.len, 0);
			via->has_rport = true;
		}
	}
	rc = rc == ENODATA ? 0 : EBADMSG;
out:
	(void)lim;
	return rc;
}

/* display-name = *(token LWS) / quoted-string; here the unquoted form. */
static bool display_tokens_ok(struct slice d)
{
	for (size_t i = 0; i < d.len; i++)
		if (!sip_is(d.p[i], SIP_C_TOKEN) && !sip_is_lws(d.p[i]))
			return false;
	return true;
}

static int uri_in_header(struct sip_uri *uri, struct slice u, const struct sip_limits *lim,
			 enum sip_err *err)
{
	return sip_uri_parse(uri, u, lim, err);
}

/* See sip.h. *err is the URI's error (SIP_E_REQUEST_URI, SIP_E_URI_PASSWORD,
 * SIP_E_URI_TOO_LONG) or SIP_E_HEADER_SYNTAX for the rest of the grammar. */
int sip_nameaddr_parse(struct sip_nameaddr *na, struct slice in, const struct sip_limits *lim,
		       enum sip_err *err)
{
	enum sip_err e = SIP_E_HEADER_SYNTAX;
	int rc = EBADMSG;
	size_t i = 0, lt;
	struct slice after;

	memset(na, 0, sizeof(*na));
	in = slice_trim(in);
	na->raw = in;
	if (in.len == 0)
		goto out;
	if (in.p[0] == '"') {
		size_t q = sip_quoted_len(in);
		if (q == 0)
			goto out;
		na->display = sip_sub(in, 1, q - 1);
		i = skip_lws(in, q);
		if (i >= in.len || in.p[i] != '<')
			goto out;
		lt = i;
	} else {
		const char *p = slice_chr(in, '<');
		if (p) {
			lt = (size_t)(p - in.p);
			na->display = slice_trim(sip_sub(in, 0, lt));
			if (!display_tokens_ok(na->display))
				goto out;
		} else {
			/* addr-spec: the URI ends at the first ';' */
			size_t semi = 0;
			while (semi < in.len && in.p[semi] != ';')
				semi++;
			struct slice u = slice_trim(sip_sub(in, 0, semi));
			rc = uri_in_header(&na->uri, u, lim, &e);
			if (rc)
				goto out;
			rc = EBADMSG;
			after = sip_sub(in, semi, in.len);
			goto params;
		}
	}
	{
		const char *gt = slice_chr(sip_sub(in, lt, in.len), '>');
		if (!gt)
			goto out;
		size_t g = (size_t)(gt - in.p);
		rc = uri_in_header(&na->uri, sip_sub(in, lt + 1, g), lim, &e);
		if (rc)
			goto out;
		rc = EBADMSG;
		size_t a = skip_lws(in, g + 1);
		after = sip_sub(in, a, in.len);
	}
params:
	e = SIP_E_HEADER_SYNTAX;
	na->params = after;
	{
		struct slice prest = after, n, v;
		bool eq;
		int r;
		while ((r = param_next(&prest, &n, &v, &eq)) == 0) {
			if (slice_caseeq_cstr(n, "tag")) {
				if (!eq || v.p[0] == '"' || na->has_tag)
					goto out;
				na->tag = v;
				na->has_tag = true;
			}
		}
		if (r != ENODATA)
			goto out;
	}
	rc = 0;
	e = SIP_E_NONE;
out:
	if (err)
		*err = e;
	return rc;
}

static bool qvalue_ok(struct slice v)
{
	/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
	if (v.len == 0 || v.len > 5 || (v.p[0] != '0' && v.p[0] != '1'))
		return false;
	if (v.len == 1)
		return true;
	if (v.p[1] != '.')
		return false;
	for (size_t i = 2; i < v.len; i++)
		if (v.p[i] < '0' || v.p[i] > (v.p[0] == '1' ? '0' : '9'))
			return false;
	return true;
}

/* See sip.h. An expires value beyond 2^32-1 is EOVERFLOW, junk EBADMSG. */
int sip_contact_next(struct sip_contact *c, struct slice *rest, const struct sip_limits *lim)
{
	struct slice item, prest, n, v;
	enum sip_err e;
	bool eq;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = sip_list_next(&item, rest);
	if (rc)
		return rc;
	if (item.len == 1 && item.p[0] == '*') {
		c->star = true;
		return 0;
	}
	rc = sip_nameaddr_parse(&c->na, item, lim, &e);
	if (rc)
		return rc;
	prest = c->na.params;
	while (param_next(&prest, &n, &v, &eq) == 0) {
		if (slice_caseeq_cstr(n, "q")) {
			if (!eq || !qvalue_ok(v))
				return EBADMSG;
			c->q = v;
			c->has_q = true;
		} else if (slice_caseeq_cstr(n, "expires")) {
			if (!eq)
				return EBADMSG;
			rc = slice_to_u32(v, &c->expires_val);
			if (rc)
				return rc == ERANGE ? EOVERFLOW : EBADMSG;
			c->expires = v;
			c->has_expires = true;
		}
	}
	return 0;
}

/* See sip.h. Returns 0 or EBADMSG (not "number LWS method", or the number
 * is 2^31 or more). */
int sip_cseq_parse(struct sip_cseq *cs, struct slice in)
{
	size_t i = 0;
	uint32_t n;

	in = slice_trim(in);
	while (i < in.len && !sip_is_lws(in.p[i]))
		i++;
	if (slice_to_u32(sip_sub(in, 0, i), &n) != 0 || n >= 0x80000000u)
		return EBADMSG;
	i = skip_lws(in, i);
	struct slice m = sip_sub(in, i, in.len);
	if (i == 0 || !sip_is_token(m))
		return EBADMSG;
	cs->num = n;
	cs->method = m;
	cs->mid = sip_method_from(m);
	return 0;
}

/* name LWS? "=" LWS? ( token / quoted-string ); splits one auth-param. */
static int auth_split(struct slice item, struct slice *name, struct slice *value)
{
	const char *eq = slice_chr(item, '=');

	if (!eq)
		return EBADMSG;
	*name = slice_trim(slice_make(item.p, (size_t)(eq - item.p)));
	*value = slice_trim(slice_make(eq + 1, item.len - (size_t)(eq + 1 - item.p)));
	if (!sip_is_token(*name) || value->len == 0)
		return EBADMSG;
	if (value->p[0] == '"') {
		if (sip_quoted_len(*value) != value->len)
			return EBADMSG;
		*value = slice_make(value->p + 1, value->len - 2);
	} else {
		for (size_t i = 0; i < value->len; i++)
			if (!sip_is(value->p[i], SIP_C_TOKEN) && value->p[i] != '/' &&
			    value->p[i] != '=' && value->p[i] != ':')
				return EBADMSG;
	}
	return 0;
}

/* See sip.h. Returns 0 or EBADMSG; every auth-param is checked. */
int sip_auth_parse(struct sip_auth *a, struct slice in)
{
	size_t i = 0;
	struct slice rest, item, n, v;
	int rc;

	in = slice_trim(in);
	while (i < in.len && sip_is(in.p[i], SIP_C_TOKEN))
		i++;
	if (i == 0 || (i < in.len && !sip_is_lws(in.p[i])))
		return EBADMSG;
	a->scheme = sip_sub(in, 0, i);
	a->params = slice_trim(sip_sub(in, i, in.len));
	rest = a->params;
	while ((rc = sip_list_next(&item, &rest)) == 0)
		if (auth_split(item, &n, &v))
			return EBADMSG;
	return rc == ENODATA ? 0 : EBADMSG;
}

/* See sip.h. */
bool sip_auth_param_next(struct slice *rest, struct slice *name, struct slice *value)
{
	struct slice item;

	while (sip_list_next(&item, rest) == 0)
		if (auth_split(item, name, value) == 0)
			return true;
	return false;
}

bool sip_auth_param(const struct sip_auth *a, const char *name, struct slice *value)
{
	struct slice rest = a->params, item, n, v;

	while (sip_list_next(&item, &rest) == 0) {
		if (auth_split(item, &n, &v) == 0 && slice_caseeq_cstr(n, name)) {
			if (value)
				*value = v;
			return true;
		}
	}
	return false;
}
