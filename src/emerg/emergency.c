/*
 * emerg/emergency.c: the emergency numbers, their routes, the network
 * locations, and the bypass budget (see emerg.h). Pure: every decision is a
 * function of the configuration and the values handed in.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "emerg.h"

/* ---- configuration ------------------------------------------------------------ */

void emerg_conf_init(struct emerg_conf *c)
{
	c->nnumbers = c->nnotify = c->nroutes = c->nlocs = 0;
	memset(c->route, 0, sizeof(c->route));
	memset(c->loc, 0, sizeof(c->loc));
}

bool emerg_section(const char *section)
{
	return strcmp(section, "emergency_routes") == 0 || strncmp(section, "location ", 9) == 0;
}

/* The next comma-separated word of *p, trimmed; false at the end. */
static bool next_word(const char **p, struct slice *w)
{
	const char *s = *p, *e;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return false;
	e = s;
	while (*e && *e != ',')
		e++;
	*p = *e ? e + 1 : e;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*w = slice_make(s, (size_t)(e - s));
	return true;
}

static bool all_digits(struct slice w)
{
	if (w.len == 0)
		return false;
	for (size_t i = 0; i < w.len; i++)
		if (w.p[i] < '0' || w.p[i] > '9')
			return false;
	return true;
}

static bool name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len >= TRUNK_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = n[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

static struct emerg_location *location_get(struct emerg_conf *c, const char *name, unsigned line,
					   char *err, size_t errlen)
{
	struct emerg_location *l;

	for (size_t i = 0; i < c->nlocs; i++)
		if (strcmp(c->loc[i].name, name) == 0)
			return &c->loc[i];
	if (!name_ok(name)) {
		snprintf(err, errlen, "location name \"%.40s\": letters, digits, - _ . (at most %d)",
			 name, TRUNK_NAME_MAX - 1);
		return NULL;
	}
	if (c->nlocs == EMERG_MAX_LOCATIONS) {
		snprintf(err, errlen, "more than %d locations", EMERG_MAX_LOCATIONS);
		return NULL;
	}
	l = &c->loc[c->nlocs++];
	memset(l, 0, sizeof(*l));
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->line = line;
	return l;
}

static int location_set(struct emerg_conf *c, const char *name, const char *key, const char *value,
			unsigned line, char *err, size_t errlen)
{
	struct emerg_location *l = location_get(c, name, line, err, errlen);
	const char *p = value;
	struct slice w;
	char one[64];

	if (!l)
		return EINVAL;
	if (strcasecmp(key, "prefix") != 0)
		return emerg_civic_set(&l->civic, key, value, err, errlen) ? EINVAL : 0;
	l->nprefixes = 0;
	while (next_word(&p, &w)) {
		if (w.len == 0 || w.len >= sizeof(one)) {
			snprintf(err, errlen, "prefix: empty or overlong entry");
			return EINVAL;
		}
		if (l->nprefixes == EMERG_MAX_PREFIXES) {
			snprintf(err, errlen, "prefix: more than %d prefixes", EMERG_MAX_PREFIXES);
			return EINVAL;
		}
		memcpy(one, w.p, w.len);
		one[w.len] = '\0';
		if (trunk_prefix_parse(&l->prefix[l->nprefixes], one) != 0) {
			snprintf(err, errlen, "prefix: \"%s\" is not an address or prefix", one);
			return EINVAL;
		}
		l->nprefixes++;
	}
	return 0;
}

int emerg_conf_set(struct emerg_conf *c, const char *section, const char *key, const char *value,
		   unsigned line, char *err, size_t errlen)
{
	struct trunk_route *r;
	const char *p = value;
	struct slice w;

	if (strncmp(section, "location ", 9) == 0)
		return location_set(c, section + 9, key, value, line, err, errlen);
	if (strcmp(section, "emergency_routes") != 0) {
		snprintf(err, errlen, "unknown section [%s]", section);
		return EINVAL;
	}
	if (!all_digits(slice_cstr(key)) || strlen(key) >= EMERG_NUMBER_MAX) {
		snprintf(err, errlen, "emergency route \"%.40s\": an emergency number (digits) "
			 "from [emergency] numbers", key);
		return EINVAL;
	}
	if (trunk_route_new(&r, c->route, c->nroutes, EMERG_MAX_NUMBERS, "emergency route", key,
			    line, err, errlen) != 0)
		return EINVAL;
	while (next_word(&p, &w)) {
		if (w.len == 0 || w.len >= TRUNK_NAME_MAX) {
			snprintf(err, errlen, "emergency route %s: empty or overlong peer name", key);
			return EINVAL;
		}
		if (r->npeers == TRUNK_MAX_ROUTE_PEERS) {
			snprintf(err, errlen, "emergency route %s: more than %d peers", key,
				 TRUNK_MAX_ROUTE_PEERS);
			return EINVAL;
		}
		memcpy(r->peer_names[r->npeers], w.p, w.len);
		r->peer_names[r->npeers++][w.len] = '\0';
	}
	if (r->npeers == 0) {
		snprintf(err, errlen, "emergency route %s names no peer", key);
		return EINVAL;
	}
	c->nroutes++;
	return 0;
}

static bool prefixes_overlap(const struct trunk_prefix *a, const struct trunk_prefix *b)
{
	unsigned bits = a->bits < b->bits ? a->bits : b->bits;

	if (a->family != b->family)
		return false;
	for (unsigned i = 0; i < bits; i++) {
		unsigned byte = i / 8, bit = 7 - i % 8;
		if (((a->addr[byte] >> bit) & 1) != ((b->addr[byte] >> bit) & 1))
			return false;
	}
	return true;
}

int emerg_conf_check(struct emerg_conf *c, const struct trunk_conf *tc, unsigned *line, char *err,
		     size_t errlen)
{
	const char *p = c->numbers_text;
	struct slice w;

	*line = 0;
	c->nnumbers = 0;
	while (next_word(&p, &w)) {
		if (!all_digits(w) || w.len >= EMERG_NUMBER_MAX) {
			snprintf(err, errlen, "[emergency] numbers: \"%.*s\" is not a short number "
				 "(digits, at most %d)", (int)(w.len > 40 ? 40 : w.len), w.p,
				 EMERG_NUMBER_MAX - 1);
			return EINVAL;
		}
		if (c->nnumbers == EMERG_MAX_NUMBERS) {
			snprintf(err, errlen, "[emergency] numbers: more than %d", EMERG_MAX_NUMBERS);
			return EINVAL;
		}
		memcpy(c->numbers[c->nnumbers], w.p, w.len);
		c->numbers[c->nnumbers++][w.len] = '\0';
	}
	p = c->notify_text;
	c->nnotify = 0;
	while (next_word(&p, &w)) {
		if (w.len == 0 || w.len >= TRUNK_USER_MAX) {
			snprintf(err, errlen, "[emergency] notify: empty or overlong user name");
			return EINVAL;
		}
		for (size_t i = 0; i < w.len; i++) {
			if ((unsigned char)w.p[i] <= 0x20 || (unsigned char)w.p[i] >= 0x7f ||
			    w.p[i] == '@' || w.p[i] == ';' || w.p[i] == '<' || w.p[i] == '>') {
				snprintf(err, errlen, "[emergency] notify: \"%.*s\" is not a user name",
					 (int)(w.len > 40 ? 40 : w.len), w.p);
				return EINVAL;
			}
		}
		if (c->nnotify == EMERG_MAX_NOTIFY) {
			snprintf(err, errlen, "[emergency] notify: more than %d users", EMERG_MAX_NOTIFY);
			return EINVAL;
		}
		memcpy(c->notify[c->nnotify], w.p, w.len);
		c->notify[c->nnotify++][w.len] = '\0';
	}
	for (size_t i = 0; i < c->nroutes; i++) {
		struct trunk_route *r = &c->route[i];
		bool known = false;

		for (size_t k = 0; k < c->nnumbers; k++)
			known |= strcmp(c->numbers[k], r->key) == 0;
		if (!known) {
			*line = r->line;
			snprintf(err, errlen, "emergency route %s: not one of [emergency] numbers",
				 r->key);
			return EINVAL;
		}
		if (trunk_route_resolve(r, tc, "emergency route", line, err, errlen) != 0)
			return EINVAL;
	}
	for (size_t i = 0; i < c->nlocs; i++) {
		for (size_t j = i + 1; j < c->nlocs; j++) {
			for (size_t a = 0; a < c->loc[i].nprefixes; a++) {
				for (size_t b = 0; b < c->loc[j].nprefixes; b++) {
					if (prefixes_overlap(&c->loc[i].prefix[a], &c->loc[j].prefix[b])) {
						*line = c->loc[j].line;
						snprintf(err, errlen, "locations %s and %s have overlapping "
							 "prefixes: an address names one place",
							 c->loc[i].name, c->loc[j].name);
						return EINVAL;
					}
				}
			}
		}
	}
	return 0;
}

/* ---- recognition ----------------------------------------------------------------- */

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

/* user unescaped, separators removed, into out (cap). False: not a number. */
static bool clean_number(char *out, size_t cap, struct slice user)
{
	size_t n = 0;

	for (size_t i = 0; i < user.len; i++) {
		char ch = user.p[i];
		if (ch == '%') {
			int hi, lo;
			if (i + 2 >= user.len)
				return false;
			hi = hexval(user.p[i + 1]);
			lo = hexval(user.p[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			ch = (char)(hi * 16 + lo);
			i += 2;
		}
		if (ch == '-' || ch == '.' || ch == '(' || ch == ')' || ch == ' ')
			continue;
		if (!((ch >= '0' && ch <= '9') || (ch == '+' && n == 0)))
			return false;
		if (n + 1 >= cap)
			return false;
		out[n++] = ch;
	}
	out[n] = '\0';
	return n > 0;
}

static int number_index(const struct emerg_conf *c, const char *d)
{
	for (size_t i = 0; i < c->nnumbers; i++)
		if (strcmp(c->numbers[i], d) == 0)
			return (int)i;
	return -1;
}

int emerg_match_user(const struct emerg_conf *c, const struct trunk_conf *tc, struct slice user)
{
	char num[32];
	const char *d = num;
	size_t cc = strlen(tc->country_code), op = strlen(tc->outside_prefix);
	int k;

	if (!c->nnumbers || !clean_number(num, sizeof(num), user))
		return -1;
	if (d[0] == '+') {
		/* "+1911": the country code, then the short number */
		if (cc == 0 || strncmp(d + 1, tc->country_code, cc) != 0)
			return -1;
		return number_index(c, d + 1 + cc);
	}
	if ((k = number_index(c, d)) >= 0)
		return k;
	/* "9911" (9-911): the outside-line prefix, then the number */
	if (op && strncmp(d, tc->outside_prefix, op) == 0)
		return number_index(c, d + op);
	return -1;
}

int emerg_match(const struct emerg_conf *c, const struct trunk_conf *tc, const struct sip_uri *uri)
{
	if (uri->scheme != SIP_SCHEME_SIP && uri->scheme != SIP_SCHEME_SIPS &&
	    uri->scheme != SIP_SCHEME_TEL)
		return -1;
	return emerg_match_user(c, tc, uri->user);
}

bool emerg_request_line(const struct emerg_conf *c, const struct trunk_conf *tc, const char *p,
			size_t len)
{
	size_t i = 0, s, e, lim = len < 512 ? len : 512;

	if (!c->nnumbers)
		return false;
	while (i < lim && i < 8 && (p[i] == '\r' || p[i] == '\n'))
		i++;
	if (lim - i < 8 || memcmp(p + i, "INVITE ", 7) != 0)
		return false;
	s = i + 7;
	/* the user part: after "sip:", "sips:" or "tel:" up to '@', ';' or ' ' */
	if (lim - s > 4 && strncasecmp(p + s, "sip:", 4) == 0)
		s += 4;
	else if (lim - s > 5 && strncasecmp(p + s, "sips:", 5) == 0)
		s += 5;
	else if (lim - s > 4 && strncasecmp(p + s, "tel:", 4) == 0)
		s += 4;
	else
		return false;
	for (e = s; e < lim && p[e] != '@' && p[e] != ';' && p[e] != ' ' && p[e] != '?' &&
		    p[e] != '\r' && p[e] != '>'; e++)
		;
	if (e == lim || e == s)
		return false;
	return emerg_match_user(c, tc, slice_make(p + s, e - s)) >= 0;
}

/* ---- routes ------------------------------------------------------------------------- */

static bool in_list(const uint8_t *l, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] == v)
			return true;
	return false;
}

size_t emerg_route(const struct emerg_conf *c, const struct trunk_conf *tc, size_t n,
		   const bool down[TRUNK_MAX_PEERS], uint8_t out[TRUNK_MAX_PEERS])
{
	const struct trunk_route *r = NULL;
	size_t k = 0;

	if (n < c->nnumbers)
		for (size_t i = 0; i < c->nroutes; i++)
			if (strcmp(c->route[i].key, c->numbers[n]) == 0)
				r = &c->route[i];
	for (size_t i = 0; r && i < r->npeers && k < TRUNK_MAX_PEERS; i++)
		if (!down[r->peers[i]] && !in_list(out, k, r->peers[i]))
			out[k++] = r->peers[i];
	for (size_t i = 0; i < tc->npeers && k < TRUNK_MAX_PEERS; i++)
		if (tc->peer[i].role == TRUNK_ROLE_GATEWAY && !down[i] && !in_list(out, k, (uint8_t)i))
			out[k++] = (uint8_t)i;
	if (k)
		return k;
	/* nothing is up: try them all the same */
	for (size_t i = 0; r && i < r->npeers && k < TRUNK_MAX_PEERS; i++)
		if (!in_list(out, k, r->peers[i]))
			out[k++] = r->peers[i];
	for (size_t i = 0; i < tc->npeers && k < TRUNK_MAX_PEERS; i++)
		if (tc->peer[i].role == TRUNK_ROLE_GATEWAY && !in_list(out, k, (uint8_t)i))
			out[k++] = (uint8_t)i;
	return k;
}

static size_t usable_addrs(const struct trunk_peer *p, const struct net_listen_spec *l, size_t nl)
{
	size_t k = 0;

	for (size_t j = 0; j < p->naddr; j++) {
		bool ok = p->addr[j].tp != NET_UDP;
		for (size_t i = 0; !ok && i < nl; i++)
			ok = l[i].tp == NET_UDP && l[i].addr.ss.ss_family == p->addr[j].addr.ss.ss_family;
		k += ok;
	}
	return k;
}

bool emerg_reachable(const struct emerg_conf *c, const struct trunk_conf *tc, size_t n,
		     const struct net_listen_spec *l, size_t nl)
{
	bool down[TRUNK_MAX_PEERS] = { false };
	uint8_t route[TRUNK_MAX_PEERS];
	size_t nr = emerg_route(c, tc, n, down, route), usable = 0;

	for (size_t i = 0; i < nr; i++)
		usable += usable_addrs(&tc->peer[route[i]], l, nl);
	if (!usable)
		return false;
	for (size_t r = 0; n < c->nnumbers && r < c->nroutes; r++) {
		size_t own = 0;
		if (strcmp(c->route[r].key, c->numbers[n]) != 0)
			continue;
		for (size_t i = 0; i < c->route[r].npeers; i++)
			own += usable_addrs(&tc->peer[c->route[r].peers[i]], l, nl);
		return own > 0;
	}
	return true;
}

bool emerg_peer_reserved(const struct emerg_conf *c, size_t i)
{
	for (size_t r = 0; r < c->nroutes; r++)
		for (size_t j = 0; j < c->route[r].npeers; j++)
			if (c->route[r].peers[j] == i)
				return true;
	return false;
}

void emerg_reserved_slots(const struct emerg_conf *c, uint32_t keep[TRUNK_MAX_PEERS],
			  size_t npeers)
{
	for (size_t i = 0; i < npeers && i < TRUNK_MAX_PEERS; i++)
		keep[i] = emerg_peer_reserved(c, i) ? c->reserved_slots : 0;
}

const struct emerg_location *emerg_location_of(const struct emerg_conf *c, const struct net_addr *a)
{
	for (size_t i = 0; i < c->nlocs; i++)
		for (size_t j = 0; j < c->loc[i].nprefixes; j++)
			if (trunk_prefix_contains(&c->loc[i].prefix[j], a))
				return &c->loc[i];
	return NULL;
}

/* ---- the bypass budget ----------------------------------------------------------------- */

bool emerg_bucket_take(struct emerg_bucket *b, uint32_t rate, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)rate * 2000u;

	if (rate == 0)
		return false;
	if (!b->started) {
		b->started = true;
		b->milli = cap;
		b->last_ms = now_ms;
	}
	if (now_ms > b->last_ms) {
		uint64_t add = (now_ms - b->last_ms) * rate;
		b->milli = b->milli + add > cap ? cap : b->milli + add;
		b->last_ms = now_ms;
	}
	if (b->milli > cap)
		b->milli = cap;
	if (b->milli < 1000)
		return false;
	b->milli -= 1000;
	return true;
}
