/*
 * Comparing the digest uri parameter with the Request-URI (see enum
 * auth_uri_mode in auth.h). A small splitter of sip:/sips: URIs lives here
 * so this layer does not wait on the sip/ URI parser; it only cuts the URI
 * into scheme, userinfo, host, port, parameters and headers, and refuses
 * what it cannot cut (which then simply does not match).
 */
#include "internal.h"

struct uparts {
	struct slice scheme, userinfo, host, params, headers;
	bool has_user, has_port;
	uint32_t port;
};

static bool hostport_split(struct uparts *u, struct slice hp)
{
	const char *p = hp.p, *end = hp.p + hp.len;
	const char *h_end;

	if (hp.len == 0)
		return false;
	if (*p == '[') {
		h_end = memchr(p, ']', hp.len);
		if (!h_end)
			return false;
		h_end++;
	} else {
		h_end = p;
		while (h_end < end && *h_end != ':')
			h_end++;
	}
	u->host = slice_make(p, (size_t)(h_end - p));
	if (u->host.len == 0)
		return false;
	u->has_port = false;
	u->port = 0;
	if (h_end < end) {
		struct slice port = slice_make(h_end + 1, (size_t)(end - h_end - 1));

		if (*h_end != ':' || port.len == 0 || port.len > 5 || slice_to_u32(port, &u->port) != 0 ||
		    u->port > 65535)
			return false;
		u->has_port = true;
	}
	return true;
}

static bool uri_split(struct uparts *u, struct slice s)
{
	const char *colon, *p, *end, *at, *hp_end;

	memset(u, 0, sizeof(*u));
	s = slice_trim(s);
	colon = slice_chr(s, ':');
	if (!colon || colon == s.p)
		return false;
	u->scheme = slice_make(s.p, (size_t)(colon - s.p));
	if (!slice_caseeq_cstr(u->scheme, "sip") && !slice_caseeq_cstr(u->scheme, "sips"))
		return false;
	p = colon + 1;
	end = s.p + s.len;
	/* '@' cannot appear unescaped in parameters or headers (RFC 3261 25.1). */
	at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		u->userinfo = slice_make(p, (size_t)(at - p));
		u->has_user = true;
		p = at + 1;
	}
	hp_end = p;
	if (hp_end < end && *hp_end == '[') {
		const char *rb = memchr(hp_end, ']', (size_t)(end - hp_end));

		if (!rb)
			return false;
		hp_end = rb;
	}
	while (hp_end < end && *hp_end != ';' && *hp_end != '?')
		hp_end++;
	if (!hostport_split(u, slice_make(p, (size_t)(hp_end - p))))
		return false;
	p = hp_end;
	if (p < end && *p == ';') {
		const char *q = memchr(p, '?', (size_t)(end - p));
		const char *pe = q ? q : end;

		u->params = slice_make(p, (size_t)(pe - p));
		p = pe;
	}
	if (p < end && *p == '?')
		u->headers = slice_make(p + 1, (size_t)(end - p - 1));
	return true;
}

/* Next ";name[=value]" of a parameter string; false at the end. */
static bool param_next(struct slice *rest, struct slice *name, struct slice *value)
{
	const char *p, *end, *semi, *eq;

	while (rest->len && rest->p[0] == ';') {
		rest->p++;
		rest->len--;
		if (rest->len == 0 || rest->p[0] != ';')
			break;
	}
	if (rest->len == 0)
		return false;
	p = rest->p;
	end = p + rest->len;
	semi = memchr(p, ';', rest->len);
	if (!semi)
		semi = end;
	eq = memchr(p, '=', (size_t)(semi - p));
	if (eq) {
		*name = slice_make(p, (size_t)(eq - p));
		*value = slice_make(eq + 1, (size_t)(semi - eq - 1));
	} else {
		*name = slice_make(p, (size_t)(semi - p));
		*value = slice_make(p, 0);
	}
	*rest = slice_make(semi, (size_t)(end - semi));
	return true;
}

static bool param_find(struct slice params, struct slice want, struct slice *value)
{
	struct slice name, v;

	while (param_next(&params, &name, &v)) {
		if (slice_caseeq(name, want)) {
			*value = v;
			return true;
		}
	}
	return false;
}

static const char *const special_params[] = { "transport", "user", "ttl", "method", "maddr" };

/* Every parameter of a also in b must be equal; the special ones must be in both. */
static bool params_match_one_way(struct slice a, struct slice b)
{
	struct slice name, va, vb;

	while (param_next(&a, &name, &va)) {
		bool special = false;

		for (size_t i = 0; i < ARRAY_SIZE(special_params); i++)
			special |= slice_caseeq_cstr(name, special_params[i]);
		if (!param_find(b, name, &vb)) {
			if (special)
				return false;
			continue;
		}
		if (!slice_caseeq(va, vb))
			return false;
	}
	return true;
}

static bool uri_equal(struct slice a, struct slice b)
{
	struct uparts ua, ub;

	if (slice_eq(slice_trim(a), slice_trim(b)))
		return true;
	if (!uri_split(&ua, a) || !uri_split(&ub, b))
		return false;
	return slice_caseeq(ua.scheme, ub.scheme) && ua.has_user == ub.has_user &&
	       slice_eq(ua.userinfo, ub.userinfo) && slice_caseeq(ua.host, ub.host) &&
	       ua.has_port == ub.has_port && ua.port == ub.port &&
	       params_match_one_way(ua.params, ub.params) &&
	       params_match_one_way(ub.params, ua.params) && slice_eq(ua.headers, ub.headers);
}

static uint32_t port_or_default(const struct uparts *u, bool sips)
{
	return u->has_port ? u->port : (sips ? 5061 : 5060);
}

static bool hostport_equal(const struct uparts *a, const struct uparts *b, bool sips)
{
	return slice_caseeq(a->host, b->host) && port_or_default(a, sips) == port_or_default(b, sips);
}

bool auth_uri_match(struct slice duri, struct slice ruri, enum auth_uri_mode mode,
		    const struct slice *own_addrs, size_t n_own_addrs)
{
	struct uparts d, r, own;
	bool sips;

	if (mode == AUTH_URI_STRICT)
		return uri_equal(duri, ruri);

	if (!uri_split(&d, duri))
		return false;
	sips = slice_caseeq_cstr(d.scheme, "sips");
	if (uri_split(&r, ruri) && hostport_equal(&d, &r, sips))
		return true;
	for (size_t i = 0; own_addrs && i < n_own_addrs; i++) {
		memset(&own, 0, sizeof(own));
		if (hostport_split(&own, slice_trim(own_addrs[i])) && hostport_equal(&d, &own, sips))
			return true;
	}
	return false;
}
