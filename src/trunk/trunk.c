/*
 * trunk.c: peers, numbers, classes, the dial plan and the caps, as pure
 * functions of struct trunk_conf (trunk.h says what each decides, and
 * docs/trunks.md why).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "trunk.h"

static const char *const class_names[TRUNK_CLASS_COUNT] = {
	"internal", "local", "toll-free", "national", "mobile", "international", "premium",
};

static const char *const level_names[TRUNK_LEVEL_COUNT] = {
	"internal", "local", "national", "international", "premium",
};

/* The level a class needs. */
static const enum trunk_level class_level[TRUNK_CLASS_COUNT] = {
	[TRUNK_CLASS_INTERNAL] = TRUNK_LEVEL_INTERNAL,
	[TRUNK_CLASS_LOCAL] = TRUNK_LEVEL_LOCAL,
	[TRUNK_CLASS_TOLL_FREE] = TRUNK_LEVEL_LOCAL,
	[TRUNK_CLASS_NATIONAL] = TRUNK_LEVEL_NATIONAL,
	[TRUNK_CLASS_MOBILE] = TRUNK_LEVEL_NATIONAL,
	[TRUNK_CLASS_INTERNATIONAL] = TRUNK_LEVEL_INTERNATIONAL,
	[TRUNK_CLASS_PREMIUM] = TRUNK_LEVEL_PREMIUM,
};

const char *trunk_class_name(enum trunk_class k)
{
	return (unsigned)k < TRUNK_CLASS_COUNT ? class_names[k] : "?";
}

const char *trunk_level_name(enum trunk_level l)
{
	return (unsigned)l < TRUNK_LEVEL_COUNT ? level_names[l] : "?";
}

int trunk_level_parse(enum trunk_level *out, const char *name)
{
	for (int i = 0; i < TRUNK_LEVEL_COUNT; i++) {
		if (strcmp(level_names[i], name) == 0) {
			*out = (enum trunk_level)i;
			return 0;
		}
	}
	return EINVAL;
}

static int class_parse(enum trunk_class *out, const char *name)
{
	for (int i = 0; i < TRUNK_CLASS_COUNT; i++) {
		if (strcmp(class_names[i], name) == 0) {
			*out = (enum trunk_class)i;
			return 0;
		}
	}
	return EINVAL;
}

/* ---- prefixes ------------------------------------------------------------------ */

int trunk_prefix_parse(struct trunk_prefix *out, const char *s)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	struct trunk_prefix p = { 0 };
	unsigned max;

	if (hl == 0 || hl >= sizeof(host))
		return EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, p.addr) == 1) {
		p.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, p.addr) == 1) {
		p.family = AF_INET6;
		max = 128;
	} else {
		return EINVAL;
	}
	p.bits = (uint8_t)max;
	if (slash) {
		uint32_t b;
		if (slice_to_u32(slice_cstr(slash + 1), &b) != 0 || b > max)
			return EINVAL;
		p.bits = (uint8_t)b;
	}
	*out = p;
	return 0;
}

/* Do the first bits of a and b agree? */
static bool bits_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (!rest)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* The address bytes of a (IPv4-mapped IPv6 counts as IPv4). */
static int addr_bytes(const struct net_addr *a, uint8_t out[16])
{
	if (a->ss.ss_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
		return AF_INET;
	}
	if (a->ss.ss_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(b, mapped, 12) == 0) {
			memcpy(out, b + 12, 4);
			return AF_INET;
		}
		memcpy(out, b, 16);
		return AF_INET6;
	}
	return 0;
}

bool trunk_prefix_contains(const struct trunk_prefix *p, const struct net_addr *a)
{
	uint8_t b[16];

	return addr_bytes(a, b) == p->family && bits_eq(p->addr, b, p->bits);
}

static bool prefixes_overlap(const struct trunk_prefix *a, const struct trunk_prefix *b)
{
	return a->family == b->family && bits_eq(a->addr, b->addr, a->bits < b->bits ? a->bits : b->bits);
}

/* ---- patterns ------------------------------------------------------------------- */

bool trunk_pattern_ok(const char *pat)
{
	size_t n = strlen(pat);

	if (n < 1 || n >= TRUNK_PATTERN_MAX || pat[0] != '+')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((pat[i] >= '0' && pat[i] <= '9') || pat[i] == 'X' || pat[i] == 'x'))
			return false;
	return true;
}

/* Does pattern pat match the start of e164? Returns its length, or 0. */
static size_t pattern_match(const char *pat, const char *e164)
{
	size_t i;

	for (i = 0; pat[i]; i++) {
		char p = pat[i], d = e164[i];
		if (!d)
			return 0;
		if (p == 'X' || p == 'x') {
			if (d < '0' || d > '9')
				return 0;
		} else if (p != d) {
			return 0;
		}
	}
	return i;
}

/* ---- configuration --------------------------------------------------------------- */

void trunk_conf_init(struct trunk_conf *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->country_code, "1");
	c->default_level = TRUNK_LEVEL_NATIONAL;
	c->max_calls_per_user = 2;
}

bool trunk_section(const char *section)
{
	return strncmp(section, "peer ", 5) == 0 || strcmp(section, "routes") == 0 ||
	       strcmp(section, "classes") == 0 || strcmp(section, "dialplan") == 0 ||
	       strcmp(section, "dids") == 0 || strcmp(section, "calling") == 0;
}

/* Split a comma-separated list into trimmed words; calls fn on each. Empty
 * words are an error. */
static int each_word(const char *list, int (*fn)(void *arg, const char *w), void *arg,
		     char *err, size_t errlen)
{
	const char *p = list;

	for (;;) {
		const char *comma = strchr(p, ',');
		struct slice w = slice_trim(slice_make(p, comma ? (size_t)(comma - p) : strlen(p)));
		char buf[128];
		int rc;

		if (w.len == 0 || w.len >= sizeof(buf)) {
			snprintf(err, errlen, "an empty or too long item in \"%.64s\"", list);
			return EINVAL;
		}
		memcpy(buf, w.p, w.len);
		buf[w.len] = '\0';
		if ((rc = fn(arg, buf)) != 0)
			return rc;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

struct word_ctx {
	struct trunk_conf *c;
	struct trunk_peer *peer;
	struct trunk_route *route;
	enum trunk_class cls;
	char *err;
	size_t errlen;
};

static int add_address(void *arg, const char *w)
{
	struct word_ctx *x = arg;
	struct trunk_peer *p = x->peer;
	size_t n = 0;
	char why[160];
	char host[INET6_ADDRSTRLEN];

	if (p->naddr == TRUNK_MAX_ADDRS) {
		snprintf(x->err, x->errlen, "peer %s: more than %d addresses", p->name, TRUNK_MAX_ADDRS);
		return EINVAL;
	}
	if (net_listen_parse(&p->addr[p->naddr], 1, &n, w, why, sizeof(why)) != 0 || n != 1) {
		snprintf(x->err, x->errlen, "peer %s: bad address \"%s\" (%s; expected "
			 "udp|tcp|tls:HOST:PORT)", p->name, w, why);
		return EINVAL;
	}
	if (net_addr_port(&p->addr[p->naddr].addr) == 0) {
		snprintf(x->err, x->errlen, "peer %s: address \"%s\" has no port", p->name, w);
		return EINVAL;
	}
	net_addr_host(&p->addr[p->naddr].addr, host, sizeof(host));
	if (trunk_prefix_parse(&p->src[p->nsrc], host) != 0) {
		snprintf(x->err, x->errlen, "peer %s: bad address \"%s\"", p->name, w);
		return EINVAL;
	}
	p->nsrc++;
	p->naddr++;
	return 0;
}

static int add_source(void *arg, const char *w)
{
	struct word_ctx *x = arg;
	struct trunk_peer *p = x->peer;

	if (p->nsrc == ARRAY_SIZE(p->src)) {
		snprintf(x->err, x->errlen, "peer %s: too many sources", p->name);
		return EINVAL;
	}
	if (trunk_prefix_parse(&p->src[p->nsrc], w) != 0) {
		snprintf(x->err, x->errlen, "peer %s: bad source prefix \"%s\"", p->name, w);
		return EINVAL;
	}
	p->nsrc++;
	return 0;
}

static int add_route_peer(void *arg, const char *w)
{
	struct word_ctx *x = arg;
	struct trunk_route *r = x->route;

	if (r->npeers == TRUNK_MAX_ROUTE_PEERS || strlen(w) >= TRUNK_NAME_MAX) {
		snprintf(x->err, x->errlen, "route %s: too many peers or a name too long", r->key);
		return EINVAL;
	}
	strcpy(r->peer_names[r->npeers++], w);
	return 0;
}

static int add_pattern(void *arg, const char *w)
{
	struct word_ctx *x = arg;
	struct trunk_conf *c = x->c;

	if (!trunk_pattern_ok(w)) {
		snprintf(x->err, x->errlen, "class %s: pattern \"%s\" does not parse (\"+\" then "
			 "digits or X, at most %d characters)", class_names[x->cls], w,
			 TRUNK_PATTERN_MAX - 1);
		return EINVAL;
	}
	if (c->npatterns[x->cls] == TRUNK_MAX_PATTERNS) {
		snprintf(x->err, x->errlen, "class %s: more than %d patterns", class_names[x->cls],
			 TRUNK_MAX_PATTERNS);
		return EINVAL;
	}
	strcpy(c->patterns[x->cls][c->npatterns[x->cls]++], w);
	return 0;
}

static int set_digits(char *out, size_t cap, const char *v, const char *what, char *err,
		      size_t errlen)
{
	size_t n = strlen(v);

	if (n >= cap || strspn(v, "0123456789") != n) {
		snprintf(err, errlen, "%s: \"%s\" is not a string of at most %zu digits", what, v,
			 cap - 1);
		return EINVAL;
	}
	memcpy(out, v, n + 1);
	return 0;
}

static bool yes_no(const char *v, bool *out)
{
	if (strcmp(v, "yes") == 0)
		*out = true;
	else if (strcmp(v, "no") == 0)
		*out = false;
	else
		return false;
	return true;
}

static int peer_set(struct trunk_conf *c, const char *name, const char *key, const char *value,
		    unsigned line, char *err, size_t errlen)
{
	struct trunk_peer *p = NULL;
	struct word_ctx x = { c, NULL, NULL, 0, err, errlen };
	uint32_t u;

	if (!*name || strlen(name) >= TRUNK_NAME_MAX || strspn(name, "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != strlen(name)) {
		snprintf(err, errlen, "bad peer name \"%.40s\" (letters, digits, - _ ., at most "
			 "%d)", name, TRUNK_NAME_MAX - 1);
		return EINVAL;
	}
	/* the section being read is the last peer; a name seen before is a
	 * second section of the same name */
	if (c->npeers && strcmp(c->peer[c->npeers - 1].name, name) == 0) {
		p = &c->peer[c->npeers - 1];
	} else {
		for (size_t i = 0; i < c->npeers; i++) {
			if (strcmp(c->peer[i].name, name) == 0) {
				snprintf(err, errlen, "peer %s is defined twice", name);
				return EINVAL;
			}
		}
		if (c->npeers == TRUNK_MAX_PEERS) {
			snprintf(err, errlen, "more than %d peers", TRUNK_MAX_PEERS);
			return EINVAL;
		}
		p = &c->peer[c->npeers++];
		memset(p, 0, sizeof(*p));
		strcpy(p->name, name);
		p->line = line;
		p->max_calls_out = p->max_calls_in = 30;
		p->ping_interval = 30;
		p->register_expires = 600;
	}
	x.peer = p;
	if (strcmp(key, "address") == 0)
		return each_word(value, add_address, &x, err, errlen);
	if (strcmp(key, "sources") == 0)
		return each_word(value, add_source, &x, err, errlen);
	if (strcmp(key, "role") == 0) {
		if (strcmp(value, "gateway") == 0)
			p->role = TRUNK_ROLE_GATEWAY;
		else if (strcmp(value, "trunk") == 0)
			p->role = TRUNK_ROLE_TRUNK;
		else
			goto bad_value;
		return 0;
	}
	if (strcmp(key, "register") == 0)
		return yes_no(value, &p->do_register) ? 0 : (snprintf(err, errlen, "peer %s: "
			"register must be yes or no", name), EINVAL);
	if (strcmp(key, "register_expires") == 0) {
		if (slice_to_u32(slice_cstr(value), &u) != 0 || u < 60 || u > 86400)
			goto bad_value;
		p->register_expires = u;
		return 0;
	}
	if (strcmp(key, "trust_pai") == 0)
		return yes_no(value, &p->trust_pai) ? 0 : (snprintf(err, errlen, "peer %s: "
			"trust_pai must be yes or no", name), EINVAL);
	if (strcmp(key, "ping_interval") == 0) {
		if (slice_to_u32(slice_cstr(value), &u) != 0 || u > 3600)
			goto bad_value;
		p->ping_interval = u;
		return 0;
	}
	if (strcmp(key, "max_calls_out") == 0 || strcmp(key, "max_calls_in") == 0 ||
	    strcmp(key, "strip") == 0) {
		if (slice_to_u32(slice_cstr(value), &u) != 0 || u > 100000)
			goto bad_value;
		*(key[0] == 's' ? &p->strip : key[10] == 'o' ? &p->max_calls_out : &p->max_calls_in) = u;
		return 0;
	}
	if (strcmp(key, "calls_per_second") == 0) {
		if (slice_to_u32(slice_cstr(value), &u) != 0 || u > 10000)
			goto bad_value;
		p->calls_per_second = u;
		return 0;
	}
	if (strcmp(key, "calls_per_hour") == 0 || strcmp(key, "minutes_per_day") == 0 ||
	    strcmp(key, "international_minutes_per_day") == 0) {
		if (slice_to_u32(slice_cstr(value), &u) != 0 || u > 1000000)
			goto bad_value;
		*(key[0] == 'c' ? &p->calls_per_hour : key[0] == 'm' ? &p->minutes_per_day
								      : &p->intl_minutes_per_day) = u;
		return 0;
	}
	if (strcmp(key, "tls_name") == 0) {
		if (!*value || strlen(value) >= sizeof(p->tls_name) ||
		    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:")
			    != strlen(value))
			goto bad_value;
		strcpy(p->tls_name, value);
		return 0;
	}
	if (strcmp(key, "prepend") == 0) {
		if (strlen(value) >= sizeof(p->prepend) ||
		    strspn(value, "+0123456789") != strlen(value))
			goto bad_value;
		strcpy(p->prepend, value);
		return 0;
	}
	snprintf(err, errlen, "unknown key \"%s\" in section [peer %s]", key, name);
	return EINVAL;
bad_value:
	snprintf(err, errlen, "peer %s: bad %s \"%.64s\"", name, key, value);
	return EINVAL;
}

int trunk_conf_set(struct trunk_conf *c, const char *section, const char *key, const char *value,
		   unsigned line, char *err, size_t errlen)
{
	struct word_ctx x = { c, NULL, NULL, 0, err, errlen };

	if (strncmp(section, "peer ", 5) == 0)
		return peer_set(c, section + 5, key, value, line, err, errlen);
	if (strcmp(section, "routes") == 0) {
		if (!trunk_pattern_ok(key)) {
			snprintf(err, errlen, "route pattern \"%.40s\" does not parse (\"+\" then "
				 "digits or X)", key);
			return EINVAL;
		}
		if (trunk_route_new(&x.route, c->route, c->nroutes, TRUNK_MAX_ROUTES, "route", key,
				    line, err, errlen) != 0 ||
		    each_word(value, add_route_peer, &x, err, errlen) != 0)
			return EINVAL;
		c->nroutes++;
		return 0;
	}
	if (strcmp(section, "classes") == 0) {
		if (class_parse(&x.cls, key) != 0 || x.cls == TRUNK_CLASS_INTERNAL) {
			snprintf(err, errlen, "unknown class \"%.40s\" (local, toll-free, national, "
				 "mobile, international, premium)", key);
			return EINVAL;
		}
		c->npatterns[x.cls] = 0;
		c->class_set[x.cls] = true;
		if (strcmp(value, "none") == 0)
			return 0;
		return each_word(value, add_pattern, &x, err, errlen);
	}
	if (strcmp(section, "dialplan") == 0) {
		if (strcmp(key, "country_code") == 0) {
			if (!*value)
				goto bad;
			return set_digits(c->country_code, sizeof(c->country_code), value, key, err,
					  errlen);
		}
		if (strcmp(key, "area_code") == 0)
			return set_digits(c->area_code, sizeof(c->area_code), value, key, err, errlen);
		if (strcmp(key, "outside_prefix") == 0)
			return set_digits(c->outside_prefix, sizeof(c->outside_prefix), value, key, err,
					  errlen);
		if (strcmp(key, "international_prefix") == 0)
			return set_digits(c->international_prefix, sizeof(c->international_prefix),
					  value, key, err, errlen);
		if (strcmp(key, "national_prefix") == 0)
			return set_digits(c->national_prefix, sizeof(c->national_prefix), value, key,
					  err, errlen);
		if (strcmp(key, "max_calls_per_user") == 0) {
			if (slice_to_u32(slice_cstr(value), &c->max_calls_per_user) != 0 ||
			    c->max_calls_per_user > 1000)
				goto bad;
			return 0;
		}
		if (strcmp(key, "calling") == 0) {
			if (trunk_level_parse(&c->default_level, value) != 0)
				goto bad_level;
			return 0;
		}
		snprintf(err, errlen, "unknown key \"%s\" in section [dialplan]", key);
		return EINVAL;
	}
	if (strcmp(section, "dids") == 0) {
		struct trunk_did *d;
		char num[TRUNK_NUM_MAX];
		if (trunk_normalise_user(num, slice_cstr(key), &(struct trunk_conf){ .country_code = "1" }) != 0 ||
		    key[0] != '+') {
			snprintf(err, errlen, "DID \"%.40s\" is not an E.164 number (+ and digits)", key);
			return EINVAL;
		}
		if (!*value || strlen(value) >= TRUNK_USER_MAX) {
			snprintf(err, errlen, "DID %s: bad user \"%.40s\"", key, value);
			return EINVAL;
		}
		if (trunk_did_user(c, num)) {
			snprintf(err, errlen, "DID %s is mapped twice", num);
			return EINVAL;
		}
		if (c->ndids == TRUNK_MAX_DIDS) {
			snprintf(err, errlen, "more than %d DIDs", TRUNK_MAX_DIDS);
			return EINVAL;
		}
		d = &c->did[c->ndids++];
		strcpy(d->number, num);
		strcpy(d->user, value);
		return 0;
	}
	if (strcmp(section, "calling") == 0) {
		struct trunk_grant *g;
		if (strlen(key) >= TRUNK_USER_MAX) {
			snprintf(err, errlen, "user name too long");
			return EINVAL;
		}
		if (c->ngrants == TRUNK_MAX_CALLING) {
			snprintf(err, errlen, "more than %d calling grants", TRUNK_MAX_CALLING);
			return EINVAL;
		}
		g = &c->grant[c->ngrants];
		if (trunk_level_parse(&g->level, value) != 0)
			goto bad_level;
		strcpy(g->user, key);
		c->ngrants++;
		return 0;
	}
	snprintf(err, errlen, "unknown section [%s]", section);
	return EINVAL;
bad_level:
	snprintf(err, errlen, "unknown calling class \"%.40s\" (internal, local, national, "
		 "international, premium)", value);
	return EINVAL;
bad:
	snprintf(err, errlen, "bad value \"%.40s\" for %s", value, key);
	return EINVAL;
}

/* NANP: numbers in +1 that are not in the US or Canada are billed as
 * international (the Caribbean "one-ring" and 809 scams rely on callers
 * thinking otherwise). */
static const char *const nanp_international[] = {
	"+1242", "+1246", "+1264", "+1268", "+1284", "+1340", "+1345", "+1441", "+1473",
	"+1649", "+1658", "+1664", "+1670", "+1671", "+1684", "+1721", "+1758", "+1767",
	"+1784", "+1809", "+1829", "+1849", "+1868", "+1869", "+1876", "+1939",
};
static const char *const nanp_toll_free[] = {
	"+1800", "+1833", "+1844", "+1855", "+1866", "+1877", "+1888",
};
static const char *const nanp_premium[] = { "+1900", "+1976" };

static void add_default(struct trunk_conf *c, enum trunk_class k, const char *pat)
{
	if (!c->class_set[k] && c->npatterns[k] < TRUNK_MAX_PATTERNS &&
	    strlen(pat) < TRUNK_PATTERN_MAX)
		snprintf(c->patterns[k][c->npatterns[k]++], TRUNK_PATTERN_MAX, "%s", pat);
}

static void class_defaults(struct trunk_conf *c)
{
	char pat[TRUNK_PATTERN_MAX];

	for (int k = 0; k < TRUNK_CLASS_COUNT; k++)
		if (!c->class_set[k])
			c->npatterns[k] = 0;
	snprintf(pat, sizeof(pat), "+%s", c->country_code);
	add_default(c, TRUNK_CLASS_NATIONAL, pat);
	add_default(c, TRUNK_CLASS_INTERNATIONAL, "+");
	if (c->area_code[0]) {
		snprintf(pat, sizeof(pat), "+%s%s", c->country_code, c->area_code);
		add_default(c, TRUNK_CLASS_LOCAL, pat);
	}
	if (strcmp(c->country_code, "1") != 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(nanp_international); i++)
		add_default(c, TRUNK_CLASS_INTERNATIONAL, nanp_international[i]);
	for (size_t i = 0; i < ARRAY_SIZE(nanp_toll_free); i++)
		add_default(c, TRUNK_CLASS_TOLL_FREE, nanp_toll_free[i]);
	for (size_t i = 0; i < ARRAY_SIZE(nanp_premium); i++)
		add_default(c, TRUNK_CLASS_PREMIUM, nanp_premium[i]);
}

int trunk_conf_check(struct trunk_conf *c, unsigned *line, char *err, size_t errlen)
{
	*line = 0;
	for (size_t i = 0; i < c->npeers; i++) {
		struct trunk_peer *p = &c->peer[i];
		if (p->naddr == 0) {
			*line = p->line;
			snprintf(err, errlen, "peer %s has no address (address = udp:HOST:PORT)",
				 p->name);
			return EINVAL;
		}
		for (size_t a = 0; a < p->naddr; a++) {
			if (p->addr[a].tp == NET_TLS && !p->tls_name[0]) {
				*line = p->line;
				snprintf(err, errlen, "peer %s: a tls: address needs tls_name (the "
					 "name its certificate must carry)", p->name);
				return EINVAL;
			}
		}
		for (size_t j = 0; j <= i; j++) {
			const struct trunk_peer *q = &c->peer[j];
			for (size_t a = 0; a < p->nsrc; a++) {
				for (size_t b = 0; b < q->nsrc; b++) {
					/* a peer's own addresses may share a host */
					if (i == j || !prefixes_overlap(&p->src[a], &q->src[b]))
						continue;
					*line = p->line;
					snprintf(err, errlen, "peer %s: its addresses overlap peer %s's "
						 "(a source address must name one peer)", p->name,
						 q->name);
					return EINVAL;
				}
			}
		}
	}
	for (size_t i = 0; i < c->nroutes; i++)
		if (trunk_route_resolve(&c->route[i], c, "route", line, err, errlen) != 0)
			return EINVAL;
	class_defaults(c);
	return 0;
}

int trunk_route_new(struct trunk_route **rp, struct trunk_route *routes, size_t n, size_t max,
		    const char *what, const char *key, unsigned line, char *err, size_t errlen)
{
	struct trunk_route *r;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(routes[i].key, key) == 0) {
			snprintf(err, errlen, "%s %s is set twice", what, key);
			return EINVAL;
		}
	}
	if (n >= max) {
		snprintf(err, errlen, "more than %zu %ss", max, what);
		return EINVAL;
	}
	r = &routes[n];
	if (strlen(key) >= sizeof(r->key)) {
		snprintf(err, errlen, "%s \"%.40s\" is too long", what, key);
		return EINVAL;
	}
	memset(r, 0, sizeof(*r));
	memcpy(r->key, key, strlen(key) + 1);
	r->line = line;
	*rp = r;
	return 0;
}

int trunk_route_resolve(struct trunk_route *r, const struct trunk_conf *c, const char *what,
			unsigned *line, char *err, size_t errlen)
{
	for (size_t k = 0; k < r->npeers; k++) {
		size_t j;
		for (j = 0; j < c->npeers; j++)
			if (strcmp(c->peer[j].name, r->peer_names[k]) == 0)
				break;
		if (j == c->npeers) {
			*line = r->line;
			snprintf(err, errlen, "%s %s: unknown peer \"%s\"", what, r->key,
				 r->peer_names[k]);
			return EINVAL;
		}
		r->peers[k] = (uint8_t)j;
	}
	return 0;
}

/* ---- numbers ------------------------------------------------------------------------- */

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

void trunk_dialed(char *out, size_t cap, struct slice user)
{
	size_t n = 0;

	for (size_t i = 0; i < user.len && n + 1 < cap; i++) {
		unsigned char ch = (unsigned char)user.p[i];
		out[n++] = ch > 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (cap)
		out[n] = '\0';
}

int trunk_normalise_user(char out[TRUNK_NUM_MAX], struct slice user, const struct trunk_conf *c)
{
	char d[TRUNK_NUM_MAX + 8];
	size_t n = 0, off = 0;
	bool plus = false;
	const char *intl = c->international_prefix[0] ? c->international_prefix
			 : strcmp(c->country_code, "1") == 0 ? "011" : "00";
	const char *natl = c->national_prefix[0] ? c->national_prefix
			 : strcmp(c->country_code, "1") == 0 ? "1" : "0";
	bool nanp = strcmp(c->country_code, "1") == 0;
	size_t il = strlen(intl), nl = strlen(natl), ol = strlen(c->outside_prefix);

	if (user.len == 0)
		return ENOENT;
	/* unescape and drop visual separators (RFC 3966 5.1.1) */
	for (size_t i = 0; i < user.len; i++) {
		char ch = user.p[i];
		if (ch == '%') {
			int hi, lo;
			if (i + 2 >= user.len)
				return EBADMSG;
			hi = hexval(user.p[i + 1]);
			lo = hexval(user.p[i + 2]);
			if (hi < 0 || lo < 0)
				return EBADMSG;
			ch = (char)(hi * 16 + lo);
			i += 2;
		}
		if (ch == '-' || ch == '.' || ch == '(' || ch == ')' || ch == ' ')
			continue;
		if (ch == '+' && n == 0 && !plus) {
			plus = true;
			continue;
		}
		if (ch < '0' || ch > '9')
			return ENOENT; /* a name, or something else that is no number */
		if (n == sizeof(d) - 1)
			return EBADMSG;
		d[n++] = ch;
	}
	d[n] = '\0';
	if (n == 0)
		return ENOENT;
	if (!plus) {
		if (ol) {
			if (n <= ol || strncmp(d, c->outside_prefix, ol) != 0)
				return ENOENT; /* an extension: not an outside number */
			off = ol;
		}
		if (n - off > il && strncmp(d + off, intl, il) == 0) {
			off += il;
		} else if (nanp && n - off == 10) {
			snprintf(out, TRUNK_NUM_MAX, "+1%s", d + off);
			return d[off] >= '2' ? 0 : EBADMSG;
		} else if (n - off > nl && strncmp(d + off, natl, nl) == 0 &&
			   (!nanp || n - off - nl == 10)) {
			if (strlen(c->country_code) + n - off - nl > 15)
				return EBADMSG;
			snprintf(out, TRUNK_NUM_MAX, "+%s%s", c->country_code, d + off + nl);
			return 0;
		} else if (c->area_code[0] && nanp && n - off == 7) {
			snprintf(out, TRUNK_NUM_MAX, "+1%s%s", c->area_code, d + off);
			return 0;
		} else if (ol) {
			return EBADMSG; /* 9 then something that is no number we can place */
		} else {
			return ENOENT;
		}
	}
	if (n - off < 3 || n - off > 15 || d[off] == '0')
		return EBADMSG;
	snprintf(out, TRUNK_NUM_MAX, "+%s", d + off);
	return 0;
}

int trunk_normalise(char out[TRUNK_NUM_MAX], const struct sip_uri *uri, const struct trunk_conf *c)
{
	if (uri->scheme != SIP_SCHEME_SIP && uri->scheme != SIP_SCHEME_SIPS &&
	    uri->scheme != SIP_SCHEME_TEL)
		return ENOENT;
	return trunk_normalise_user(out, uri->user, c);
}

enum trunk_class trunk_classify(const struct trunk_conf *c, const char *e164)
{
	enum trunk_class best = TRUNK_CLASS_INTERNATIONAL;
	size_t best_len = 0;

	for (int k = 0; k < TRUNK_CLASS_COUNT; k++) {
		for (size_t i = 0; i < c->npatterns[k]; i++) {
			size_t l = pattern_match(c->patterns[k][i], e164);
			if (l && (l > best_len || (l == best_len && (int)best < k))) {
				best = (enum trunk_class)k;
				best_len = l;
			}
		}
	}
	return best;
}

/* ---- decisions ------------------------------------------------------------------------ */

enum trunk_level trunk_user_level(const struct trunk_conf *c, struct slice user)
{
	for (size_t i = 0; i < c->ngrants; i++)
		if (slice_eq(user, slice_cstr(c->grant[i].user)))
			return c->grant[i].level;
	return c->default_level;
}

void trunk_cos(struct trunk_verdict *v, enum trunk_level lv, enum trunk_class k)
{
	memset(v, 0, sizeof(*v));
	v->detail = "calling class allows the number's class";
	if ((unsigned)k < TRUNK_CLASS_COUNT && lv >= class_level[k]) {
		v->allow = true;
		return;
	}
	v->status = 403;
	v->reason = "Calling Class Not Allowed";
	v->event = TRUNK_EVENT_CLASS_DENIED;
	v->detail = (unsigned)k < TRUNK_CLASS_COUNT ? class_names[k] : "unknown class";
}

size_t trunk_route(const struct trunk_conf *c, const char *e164, uint8_t out[TRUNK_MAX_ROUTE_PEERS])
{
	const struct trunk_route *best = NULL;
	size_t best_len = 0, n = 0;

	if (c->nroutes == 0) {
		for (size_t i = 0; i < c->npeers && n < TRUNK_MAX_ROUTE_PEERS; i++)
			out[n++] = (uint8_t)i;
		return n;
	}
	for (size_t i = 0; i < c->nroutes; i++) {
		size_t l = pattern_match(c->route[i].key, e164);
		if (l > best_len) {
			best = &c->route[i];
			best_len = l;
		}
	}
	if (!best)
		return 0;
	memcpy(out, best->peers, best->npeers);
	return best->npeers;
}

int trunk_rewrite(char *out, size_t cap, const struct trunk_peer *p, const char *e164)
{
	size_t len = strlen(e164), strip = p->strip < len ? p->strip : len;
	int n = snprintf(out, cap, "%s%s", p->prepend, e164 + strip);

	return n < 0 || (size_t)n >= cap ? EOVERFLOW : 0;
}

int trunk_peer_of(const struct trunk_conf *c, const struct net_addr *a)
{
	for (size_t i = 0; i < c->npeers; i++)
		for (size_t j = 0; j < c->peer[i].nsrc; j++)
			if (trunk_prefix_contains(&c->peer[i].src[j], a))
				return (int)i;
	return -1;
}

bool trunk_names_peer(const struct trunk_conf *c, struct slice host)
{
	char buf[INET6_ADDRSTRLEN + 2];
	struct net_addr a = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;

	if (host.len >= 2 && host.p[0] == '[' && host.p[host.len - 1] == ']')
		host = slice_make(host.p + 1, host.len - 2);
	if (host.len == 0 || host.len >= sizeof(buf))
		return false;
	memcpy(buf, host.p, host.len);
	buf[host.len] = '\0';
	if (inet_pton(AF_INET, buf, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		a.len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		a.len = sizeof(*s6);
	} else {
		return false; /* a name: we never resolve names on a request path */
	}
	return trunk_peer_of(c, &a) >= 0;
}

const char *trunk_did_user(const struct trunk_conf *c, const char *e164)
{
	for (size_t i = 0; i < c->ndids; i++)
		if (strcmp(c->did[i].number, e164) == 0)
			return c->did[i].user;
	return NULL;
}

const char *trunk_user_did(const struct trunk_conf *c, struct slice user)
{
	for (size_t i = 0; i < c->ndids; i++)
		if (slice_eq(user, slice_cstr(c->did[i].user)))
			return c->did[i].number;
	return NULL;
}

void trunk_cap(struct trunk_verdict *v, uint32_t used, uint32_t cap, const char *what)
{
	memset(v, 0, sizeof(*v));
	v->detail = what;
	if (cap == 0 || used < cap) {
		v->allow = true;
		return;
	}
	v->status = 403;
	v->reason = "Outside Call Limit Reached";
	v->event = TRUNK_EVENT_FRAUD_LIMIT;
}
