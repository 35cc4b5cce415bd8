/*
 * Comparing the digest uri parameter with the Request-URI (see enum
 * auth_uri_mode in auth.h), on the sip/ URI parser: strict is RFC 3261
 * 19.1.4 equality (scheme, user, host, port, the parameters that must match,
 * headers); relaxed compares host and port only, against the Request-URI or
 * one of this server's own addresses. A URI that does not parse never matches.
 */
#include "internal.h"

#include <stdio.h>

static bool parse(struct sip_uri *u, struct slice s)
{
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	enum sip_err e;

	lim.max_uri = AUTH_PARAM_MAX;
	return sip_uri_parse(u, slice_trim(s), &lim, &e) == 0 &&
	       (u->scheme == SIP_SCHEME_SIP || u->scheme == SIP_SCHEME_SIPS);
}

/* Next ";name[=value]" of a parameter string; false at the end. */
static bool param_next(struct slice *rest, struct slice *name, struct slice *value)
{
	const char *p, *end, *semi, *eq;

	while (rest->len && rest->p[0] == ';') {
		rest->p++;
		rest->len--;
	}
	if (!rest->len)
		return false;
	p = rest->p;
	end = p + rest->len;
	semi = memchr(p, ';', rest->len);
	if (!semi)
		semi = end;
	eq = memchr(p, '=', (size_t)(semi - p));
	*name = slice_make(p, (size_t)((eq ? eq : semi) - p));
	*value = eq ? slice_make(eq + 1, (size_t)(semi - eq - 1)) : SLICE_NULL;
	*rest = slice_make(semi, (size_t)(end - semi));
	return true;
}

static const char *const special_params[] = { "transport", "user", "ttl", "method", "maddr" };

/* Every parameter of a also in b must be equal; the special ones must be in both. */
static bool params_match_one_way(struct slice a, struct slice b)
{
	struct slice name, va, vb;
	char key[64];

	while (param_next(&a, &name, &va)) {
		bool special = false;

		for (size_t i = 0; i < ARRAY_SIZE(special_params); i++)
			special |= slice_caseeq_cstr(name, special_params[i]);
		if (name.len >= sizeof(key))
			return false;
		memcpy(key, name.p, name.len);
		key[name.len] = '\0';
		if (!sip_param_get(b, key, &vb)) {
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
	struct sip_uri ua, ub;

	if (slice_eq(slice_trim(a), slice_trim(b)))
		return true;
	if (!parse(&ua, a) || !parse(&ub, b))
		return false;
	return ua.scheme == ub.scheme && slice_eq(ua.user, ub.user) &&
	       slice_caseeq(ua.host, ub.host) && ua.has_port == ub.has_port && ua.port == ub.port &&
	       params_match_one_way(ua.params, ub.params) &&
	       params_match_one_way(ub.params, ua.params) && slice_eq(ua.headers, ub.headers);
}

static unsigned port_or_default(const struct sip_uri *u, bool sips)
{
	return u->has_port ? u->port : (sips ? 5061u : 5060u);
}

static bool hostport_equal(const struct sip_uri *a, const struct sip_uri *b, bool sips)
{
	return slice_caseeq(a->host, b->host) && port_or_default(a, sips) == port_or_default(b, sips);
}

bool auth_uri_match(struct slice duri, struct slice ruri, enum auth_uri_mode mode,
		    const struct slice *own_addrs, size_t n_own_addrs)
{
	struct sip_uri d, r, own;
	char buf[300];
	bool sips;

	if (mode == AUTH_URI_STRICT)
		return uri_equal(duri, ruri);
	if (!parse(&d, duri))
		return false;
	sips = d.scheme == SIP_SCHEME_SIPS;
	if (parse(&r, ruri) && hostport_equal(&d, &r, sips))
		return true;
	for (size_t i = 0; own_addrs && i < n_own_addrs; i++) {
		struct slice a = slice_trim(own_addrs[i]);
		int n = snprintf(buf, sizeof(buf), "sip:%.*s", (int)a.len, a.p);

		if (n > 0 && (size_t)n < sizeof(buf) && parse(&own, slice_make(buf, (size_t)n)) &&
		    hostport_equal(&d, &own, sips))
			return true;
	}
	return false;
}
