/*
 * guard: source table, token buckets, bans, brute-force counting and scanner
 * fingerprints (see guard.h for the policy). Two bounded tables, one of
 * sources and one of user names, work alike: preallocated entries that embed
 * their node of base/hash's htab (SipHash-keyed, buckets reserved for the
 * whole bound by guard_new()), and an LRU order kept as 32-bit indices in a
 * side array of links, so nothing is allocated after guard_new().
 */
#include "guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "../net/net.h"

#define NIL UINT32_MAX
#define MILLI 1000u /* tokens are kept in thousandths */

enum { B_ALL = 0, B_INVITE, B_REGISTER, B_N };

struct link {
	uint32_t prev, next;
};

/* A bounded table with LRU order over entries 0..cap-1 kept elsewhere: the
 * entry i is at items + i * stride and starts with its htab_node. */
struct table {
	struct htab h;
	struct link *l;
	char *items;
	size_t stride;
	uint32_t head, tail; /* LRU: head most recent */
	uint32_t used, cap;
};

struct key {
	uint8_t b[16];
};

struct src {
	struct htab_node hn;    /* first: see struct table */
	struct key key;
	uint32_t tok[B_N];      /* millitokens */
	uint16_t drops;         /* rate drops since the buckets were last full */
	uint32_t drop_start;    /* (uint32_t)now_ms of the first of those drops */
	uint16_t fails;         /* auth failures in the current window */
	uint8_t ban_count;
	uint64_t refill_ms;
	uint64_t ban_until;     /* 0: never banned or lifted */
	uint64_t trust_until;
	uint64_t fail_start;
};

struct user {
	struct htab_node hn;    /* first: see struct table */
	char name[GUARD_USER_MAX];
	struct key good;        /* last address the user authenticated from */
	uint64_t fail_start;
	uint64_t lock_until;
	uint16_t fails;
	uint8_t len;
	bool has_good;
};

struct prefix {
	struct key net;
	uint32_t bits;
};

struct guard {
	struct guard_conf conf;         /* allow and scanners pointers cleared */
	uint32_t burst[B_N];            /* millitokens; 0: unlimited */
	uint32_t ceiling[B_N];
	struct table st, ut;
	struct src *src;
	struct user *user;
	struct prefix allow[GUARD_ALLOW_MAX];
	size_t allow_n;
	struct slice scan[GUARD_SCANNER_MAX];
	size_t scan_n;
	uint64_t scan_at[3][256];       /* [j][folded byte]: bit k set when name k has that
					   byte at j, or is shorter than j + 1 (a filter:
					   few places in a URI pass all three) */
	char *scan_buf;
	struct guard_stats stats;       /* counters only; active counts computed */
};

/* The per-source cost guard.h documents: entry (with its table node), LRU
 * link and a bucket (one pointer a source when the bound is a power of two). */
_Static_assert(sizeof(struct src) + sizeof(struct link) + sizeof(void *) <= 104,
	       "a source must stay small");

static const char *const default_scanners[] = {
	"friendly-scanner", "sipcli", "sipvicious", "VaxSIPUserAgent", "sundayddr",
	"iWar",             "SIVuS",  "smap",       "Ozeki",           "pplsip",
};


/* ---- the bounded table ---- */

static int table_init(struct table *t, void *items, size_t stride, uint32_t cap)
{
	int err;

	memset(t, 0, sizeof(*t));
	if ((err = htab_init(&t->h, cap)) != 0)
		return err;
	if ((err = htab_reserve(&t->h)) != 0)
		return err;
	t->l = calloc(cap, sizeof(*t->l));
	if (!t->l)
		return ENOMEM;
	t->items = items;
	t->stride = stride;
	t->head = t->tail = NIL;
	t->used = 0;
	t->cap = cap;
	return 0;
}

static void table_fini(struct table *t)
{
	htab_fini(&t->h);
	free(t->l);
}

static struct htab_node *table_node(const struct table *t, uint32_t i)
{
	return (struct htab_node *)(void *)(t->items + (size_t)i * t->stride);
}

static uint32_t table_index(const struct table *t, const struct htab_node *n)
{
	return (uint32_t)(((const char *)n - t->items) / t->stride);
}

static void lru_unlink(struct table *t, uint32_t i)
{
	struct link *e = &t->l[i];

	if (e->prev != NIL)
		t->l[e->prev].next = e->next;
	else
		t->head = e->next;
	if (e->next != NIL)
		t->l[e->next].prev = e->prev;
	else
		t->tail = e->prev;
}

static void lru_push(struct table *t, uint32_t i)
{
	t->l[i].prev = NIL;
	t->l[i].next = t->head;
	if (t->head != NIL)
		t->l[t->head].prev = i;
	t->head = i;
	if (t->tail == NIL)
		t->tail = i;
}

static void table_touch(struct table *t, uint32_t i)
{
	if (t->head == i)
		return;
	lru_unlink(t, i);
	lru_push(t, i);
}

typedef bool(keep_fn)(const struct guard *g, uint32_t i, uint64_t now);

/*
 * An entry index for a new key with this hash, linked in at the LRU front and
 * into the hash table:
 * a never-used one, or the least recently used entry that keep() does not
 * protect among the GUARD_EVICT_SCAN oldest (protected ones move to the
 * front); if all of those are protected the oldest goes anyway and
 * *escaped is set.
 */
static uint32_t table_take(struct guard *g, struct table *t, uint64_t hash, keep_fn *keep,
			   uint64_t now, bool *evicted, bool *escaped)
{
	uint32_t i;

	*evicted = *escaped = false;
	if (t->used < t->cap) {
		i = t->used++;
	} else {
		int n;

		for (n = 0; n < GUARD_EVICT_SCAN; n++) {
			i = t->tail;
			if (!keep || !keep(g, i, now))
				break;
			table_touch(t, i);
		}
		i = t->tail;
		*escaped = n == GUARD_EVICT_SCAN;
		*evicted = true;
		lru_unlink(t, i);
		htab_remove(&t->h, table_node(t, i));
	}
	/* never EOVERFLOW: at most cap entries, the table's bound, are linked */
	(void)htab_insert(&t->h, table_node(t, i), hash);
	lru_push(t, i);
	return i;
}

/* ---- keys and the allow-list ---- */

/* The table key of a: IPv4 (or IPv4-mapped) as ::ffff:a.b.c.d, IPv6 masked
 * to v6_prefix bits. Returns false for another family. */
static bool addr_key(const struct guard *g, const struct net_addr *a, struct key *k,
		     struct key *full)
{
	memset(k, 0, sizeof(*k));
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;

		k->b[10] = k->b[11] = 0xff;
		memcpy(k->b + 12, &s4->sin_addr, 4);
		*full = *k;
		return true;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
		uint32_t bits = g->conf.v6_prefix;

		memcpy(full->b, &s6->sin6_addr, 16);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			*k = *full;
			return true;
		}
		memcpy(k->b, full->b, bits / 8);
		if (bits % 8)
			k->b[bits / 8] = full->b[bits / 8] & (uint8_t)(0xff00u >> (bits % 8));
		return true;
	}
	return false;
}

static bool prefix_match(const struct prefix *p, const struct key *a)
{
	uint32_t whole = p->bits / 8, rest = p->bits % 8;

	if (memcmp(p->net.b, a->b, whole) != 0)
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff00u >> rest);

		return (a->b[whole] & m) == p->net.b[whole];
	}
	return true;
}

static bool allowed(const struct guard *g, const struct key *full)
{
	for (size_t i = 0; i < g->allow_n; i++)
		if (prefix_match(&g->allow[i], full))
			return true;
	return false;
}

static int parse_cidr(struct prefix *p, const char *s)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	uint32_t bits, maxbits;
	struct in_addr a4;
	struct in6_addr a6;

	if (alen == 0 || alen >= sizeof(buf))
		return EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		p->net.b[10] = p->net.b[11] = 0xff;
		memcpy(p->net.b + 12, &a4, 4);
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, &a6) == 1) {
		memcpy(p->net.b, &a6, 16);
		maxbits = 128;
	} else {
		return EINVAL;
	}
	bits = maxbits;
	if (slash && (slice_to_u32(slice_cstr(slash + 1), &bits) != 0 || bits > maxbits))
		return EINVAL;
	if (maxbits == 32)
		bits += 96;
	p->bits = bits;
	/* Clear host bits so prefix_match compares the network only. */
	for (uint32_t i = bits; i < 128; i++)
		p->net.b[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return 0;
}

static void key_fmt(char *buf, size_t cap, const struct key *k, uint32_t v6_prefix);

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int guard_key_parse(struct net_addr *out, char *text, size_t cap, const char *in,
		    uint32_t v6_prefix)
{
	struct prefix p;
	struct key k;
	struct sockaddr_in6 *s6;
	struct sockaddr_in *s4;
	bool v4;

	if (!in || v6_prefix < 1 || v6_prefix > 128 || parse_cidr(&p, in) != 0)
		return EINVAL;
	/* An IPv4-mapped address (::ffff:192.0.2.1) is the IPv4 source, as in
	 * addr_key(): parse_cidr() stored both forms alike. */
	v4 = !strchr(in, ':') || (!strchr(in, '/') && memcmp(p.net.b, v4_mapped, 12) == 0);
	if (strchr(in, '/') && p.bits != (v4 ? 128 : v6_prefix))
		return EINVAL;
	memset(out, 0, sizeof(*out));
	memset(&k, 0, sizeof(k));
	if (v4) {
		s4 = (struct sockaddr_in *)&out->ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, p.net.b + 12, 4);
		out->len = sizeof(*s4);
		k = p.net;
	} else {
		s6 = (struct sockaddr_in6 *)&out->ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, p.net.b, 16);
		out->len = sizeof(*s6);
		memcpy(k.b, p.net.b, v6_prefix / 8);
		if (v6_prefix % 8)
			k.b[v6_prefix / 8] = p.net.b[v6_prefix / 8] & (uint8_t)(0xff00u >> (v6_prefix % 8));
	}
	key_fmt(text, cap, &k, v6_prefix);
	return 0;
}

bool guard_allowed(const struct guard *g, const struct net_addr *src)
{
	struct key k, full;

	return !addr_key(g, src, &k, &full) || allowed(g, &full);
}

int guard_cidr_check(const char *cidr)
{
	struct prefix p;

	return cidr && parse_cidr(&p, cidr) == 0 ? 0 : EINVAL;
}

bool guard_cidr_contains(const char *cidr, const struct net_addr *a)
{
	struct prefix p;
	struct key full;

	if (!cidr || !a || parse_cidr(&p, cidr) != 0)
		return false;
	/* The full key of a, as addr_key() makes it, without the grouping. */
	memset(&full, 0, sizeof(full));
	if (a->ss.ss_family == AF_INET) {
		memcpy(full.b, v4_mapped, sizeof(v4_mapped));
		memcpy(full.b + 12, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
	} else if (a->ss.ss_family == AF_INET6) {
		memcpy(full.b, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
	} else {
		return false;
	}
	return prefix_match(&p, &full);
}

int guard_allow_add(struct guard *g, const char *cidr)
{
	struct prefix p;

	if (!cidr || parse_cidr(&p, cidr) != 0)
		return EINVAL;
	if (g->allow_n == GUARD_ALLOW_MAX)
		return EOVERFLOW;
	g->allow[g->allow_n++] = p;
	return 0;
}

/* ---- creation ---- */

static int conf_check(const struct guard_conf *c, const char **what)
{
#define RANGE(f, lo, hi) \
	do { \
		if (c->f < (lo) || c->f > (hi)) { \
			*what = #f; \
			return EINVAL; \
		} \
	} while (0)
#define MAX(f, hi) \
	do { \
		if (c->f > (hi)) { \
			*what = #f; \
			return EINVAL; \
		} \
	} while (0)
	RANGE(table_size, 1, 1u << 26);
	RANGE(user_table_size, 1, 1u << 24);
	RANGE(v6_prefix, 1, 128);
	MAX(rate_all, GUARD_RATE_MAX);
	MAX(rate_invite, GUARD_RATE_MAX);
	MAX(rate_register, GUARD_RATE_MAX);
	MAX(auth_credit, 1000);
	RANGE(auth_ceiling, 2, 100);
	MAX(trust_window, 86400);
	RANGE(ban_drops, 1, UINT16_MAX);
	MAX(ban_grace, 3600);
	RANGE(ban_time, 1, 365u * 86400);
	RANGE(ban_max, c->ban_time, 365u * 86400);
	RANGE(fail_window, 1, 86400);
	RANGE(source_fail_limit, 1, UINT16_MAX - 1);
	RANGE(user_fail_limit, 1, UINT16_MAX - 1);
	RANGE(lock_time, 1, 365u * 86400);
#undef RANGE
#undef MAX
	return 0;
}

static unsigned char fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int scanners_copy(struct guard *g, const char *const *list, size_t n)
{
	size_t total = 0, off = 0;

	if (!list) {
		list = default_scanners;
		n = ARRAY_SIZE(default_scanners);
	}
	if (n > GUARD_SCANNER_MAX)
		return EOVERFLOW;
	for (size_t i = 0; i < n; i++) {
		if (!list[i] || !list[i][0])
			return EINVAL;
		total += strlen(list[i]);
	}
	g->scan_buf = malloc(total + 1);
	if (!g->scan_buf)
		return ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(list[i]);

		memcpy(g->scan_buf + off, list[i], len);
		g->scan[i] = slice_make(g->scan_buf + off, len);
		for (size_t j = 0; j < 3; j++) {
			if (j < len) {
				g->scan_at[j][fold((unsigned char)list[i][j])] |= 1ULL << i;
				continue;
			}
			for (size_t c = 0; c < 256; c++)
				g->scan_at[j][c] |= 1ULL << i;
		}
		off += len;
	}
	g->scan_n = n;
	return 0;
}

static void set_rate(struct guard *g, int b, uint32_t rate)
{
	g->burst[b] = 2 * rate * MILLI;
	g->ceiling[b] = g->conf.auth_ceiling * rate * MILLI;
}

int guard_new(struct guard **gp, const struct guard_conf *conf, char *errbuf, size_t errlen)
{
	struct guard *g = NULL;
	const char *what = NULL;
	int err;

	if (!gp || !conf)
		return EINVAL;
	err = conf_check(conf, &what);
	if (err) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "guard: %s out of range", what);
		return err;
	}
	if (conf->allow_n > GUARD_ALLOW_MAX) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "guard: more than %d allow-list entries",
				 GUARD_ALLOW_MAX);
		return EOVERFLOW;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return ENOMEM;
	g->conf = *conf;
	g->conf.allow = NULL;
	g->conf.scanners = NULL;
	for (size_t i = 0; i < conf->allow_n; i++) {
		err = guard_allow_add(g, conf->allow[i]);
		if (err) {
			if (errbuf && errlen)
				snprintf(errbuf, errlen, "guard: bad allow-list entry \"%s\"",
					 conf->allow[i] ? conf->allow[i] : "(null)");
			goto fail;
		}
	}
	err = scanners_copy(g, conf->scanners, conf->scanners_n);
	if (err) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "guard: bad scanner list");
		goto fail;
	}
	set_rate(g, B_ALL, conf->rate_all);
	set_rate(g, B_INVITE, conf->rate_invite);
	set_rate(g, B_REGISTER, conf->rate_register);
	g->src = malloc((size_t)conf->table_size * sizeof(*g->src));
	g->user = malloc((size_t)conf->user_table_size * sizeof(*g->user));
	if (!g->src || !g->user) {
		err = ENOMEM;
		goto fail;
	}
	err = table_init(&g->st, g->src, sizeof(*g->src), conf->table_size);
	if (!err)
		err = table_init(&g->ut, g->user, sizeof(*g->user), conf->user_table_size);
	if (err)
		goto fail;
	*gp = g;
	return 0;
fail:
	guard_free(&g);
	return err;
}

void guard_free(struct guard **gp)
{
	struct guard *g;

	if (!gp || !*gp)
		return;
	g = *gp;
	table_fini(&g->st);
	table_fini(&g->ut);
	free(g->src);
	free(g->user);
	free(g->scan_buf);
	free(g);
	*gp = NULL;
}

/* ---- sources ---- */

static bool src_banned(const struct src *s, uint64_t now)
{
	return s->ban_until > now;
}

static bool keep_banned(const struct guard *g, uint32_t i, uint64_t now)
{
	return src_banned(&g->src[i], now);
}

static uint64_t src_hash(const struct guard *g, const struct key *k)
{
	return htab_hash(&g->st.h, k->b, sizeof(k->b));
}

static struct src *src_find(struct guard *g, const struct key *k)
{
	for (struct htab_node *n = htab_find(&g->st.h, src_hash(g, k)); n;
	     n = htab_next(&g->st.h, n)) {
		struct src *s = (struct src *)(void *)n;

		if (memcmp(s->key.b, k->b, 16) == 0) {
			table_touch(&g->st, table_index(&g->st, n));
			return s;
		}
	}
	return NULL;
}

static struct src *src_get(struct guard *g, const struct key *k, uint64_t now)
{
	struct src *s = src_find(g, k);
	bool evicted, escaped;
	uint32_t i;

	if (s)
		return s;
	i = table_take(g, &g->st, src_hash(g, k), keep_banned, now, &evicted, &escaped);
	g->stats.evictions += evicted;
	g->stats.evictions_banned += escaped;
	s = &g->src[i];
	memset((char *)s + sizeof(s->hn), 0, sizeof(*s) - sizeof(s->hn)); /* hn is linked */
	s->key = *k;
	memcpy(s->tok, g->burst, sizeof(s->tok));
	s->refill_ms = now;
	return s;
}

static void refill(const struct guard *g, struct src *s, uint64_t now)
{
	uint64_t el;
	bool full = true;

	if (now <= s->refill_ms)
		return;
	el = now - s->refill_ms;
	if (el > 1000000)
		el = 1000000;
	s->refill_ms = now;
	for (int b = 0; b < B_N; b++) {
		/* rate tokens per second = rate millitokens per millisecond */
		uint64_t add = el * (g->burst[b] / 2 / MILLI);

		if (s->tok[b] < g->burst[b])
			s->tok[b] = (uint32_t)(s->tok[b] + add > g->burst[b] ? g->burst[b]
									   : s->tok[b] + add);
		full = full && s->tok[b] >= g->burst[b];
	}
	if (full)
		s->drops = 0;
}

/* Start or extend a ban; true when a new one started. */
static bool ban(struct guard *g, struct src *s, uint64_t now, uint32_t seconds)
{
	bool fresh = !src_banned(s, now);
	uint64_t until;

	if (!fresh && !seconds)
		return false;
	if (!seconds) {
		uint64_t t = g->conf.ban_time;

		for (uint8_t n = 0; n < s->ban_count && t < g->conf.ban_max; n++)
			t *= 2;
		seconds = (uint32_t)(t < g->conf.ban_max ? t : g->conf.ban_max);
	}
	until = now + (uint64_t)seconds * 1000;
	if (fresh) {
		if (s->ban_count < UINT8_MAX)
			s->ban_count++;
		g->stats.bans++;
		s->drops = 0;
	}
	if (until > s->ban_until)
		s->ban_until = until;
	return fresh;
}

enum guard_verdict guard_admit(struct guard *g, const struct net_addr *src, enum guard_req req,
			       uint64_t now_ms, bool *new_ban)
{
	struct key k, full;
	struct src *s;
	int mb = req == GUARD_REQ_INVITE ? B_INVITE : req == GUARD_REQ_REGISTER ? B_REGISTER : -1;
	bool ok;

	if (new_ban)
		*new_ban = false;
	if (!addr_key(g, src, &k, &full) || allowed(g, &full)) {
		g->stats.passed_allowed++;
		return GUARD_PASS;
	}
	s = src_get(g, &k, now_ms);
	if (src_banned(s, now_ms)) {
		g->stats.drop_banned++;
		return GUARD_DROP_BANNED;
	}
	refill(g, s, now_ms);
	ok = (!g->burst[B_ALL] || s->tok[B_ALL] >= MILLI) &&
	     (mb < 0 || !g->burst[mb] || s->tok[mb] >= MILLI);
	if (ok) {
		if (g->burst[B_ALL])
			s->tok[B_ALL] -= MILLI;
		if (mb >= 0 && g->burst[mb])
			s->tok[mb] -= MILLI;
		g->stats.passed++;
		return GUARD_PASS;
	}
	g->stats.drop_rate++;
	if (s->drops == 0)
		s->drop_start = (uint32_t)now_ms;
	if (s->drops < UINT16_MAX)
		s->drops++;
	/* Modular difference: drop_start keeps 32 bits (49 days) to keep the
	 * entry small; a longer streak only makes it look shorter. */
	if (s->trust_until <= now_ms && s->drops >= g->conf.ban_drops &&
	    (uint32_t)now_ms - s->drop_start >= g->conf.ban_grace * 1000u) {
		bool fresh = ban(g, s, now_ms, 0);

		if (new_ban)
			*new_ban = fresh;
	}
	return GUARD_DROP_RATE;
}

bool guard_ban(struct guard *g, const struct net_addr *src, uint64_t now_ms, uint32_t seconds)
{
	struct key k, full;

	if (!addr_key(g, src, &k, &full) || allowed(g, &full))
		return false;
	return ban(g, src_get(g, &k, now_ms), now_ms, seconds);
}

bool guard_unban(struct guard *g, const struct net_addr *src, uint64_t now_ms)
{
	struct key k, full;
	struct src *s;
	bool was;

	if (!addr_key(g, src, &k, &full) || !(s = src_find(g, &k)))
		return false;
	was = src_banned(s, now_ms);
	s->ban_until = 0;
	s->ban_count = 0;
	s->drops = 0;
	return was;
}

static void key_fmt(char *buf, size_t cap, const struct key *k, uint32_t v6_prefix)
{
	static const uint8_t v4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char a[INET6_ADDRSTRLEN];

	if (memcmp(k->b, v4, 12) == 0) {
		inet_ntop(AF_INET, k->b + 12, a, sizeof(a));
		snprintf(buf, cap, "%s", a);
	} else {
		inet_ntop(AF_INET6, k->b, a, sizeof(a));
		snprintf(buf, cap, "%s/%u", a, (unsigned)v6_prefix);
	}
}

void guard_ban_restore(struct guard *g, const struct net_addr *src, uint64_t now_ms,
		       uint32_t seconds, uint32_t count)
{
	struct key k, full;
	struct src *s;

	if (!seconds || !addr_key(g, src, &k, &full) || allowed(g, &full))
		return;
	s = src_get(g, &k, now_ms);
	(void)ban(g, s, now_ms, seconds);
	if (count > s->ban_count)
		s->ban_count = count > UINT8_MAX ? UINT8_MAX : (uint8_t)count;
}

bool guard_ban_of(struct guard *g, const struct net_addr *src, uint64_t now_ms,
		  struct guard_ban_info *out)
{
	struct key k, full;
	const struct src *s;

	if (!addr_key(g, src, &k, &full) || !(s = src_find(g, &k)) || !src_banned(s, now_ms))
		return false;
	key_fmt(out->addr, sizeof(out->addr), &s->key, g->conf.v6_prefix);
	out->until_ms = s->ban_until;
	out->count = s->ban_count;
	return true;
}

void guard_list_bans(const struct guard *g, uint64_t now_ms, guard_ban_fn *fn, void *arg)
{
	for (uint32_t i = 0; i < g->st.used; i++) {
		const struct src *s = &g->src[i];
		struct guard_ban_info bi;

		if (!src_banned(s, now_ms))
			continue;
		key_fmt(bi.addr, sizeof(bi.addr), &s->key, g->conf.v6_prefix);
		bi.until_ms = s->ban_until;
		bi.count = s->ban_count;
		fn(arg, &bi);
	}
}

/* ---- users and brute force ---- */

/* A user's last good address and a running lock outlive a spray of made-up
 * names (within the same bounded search as bans). */
static bool keep_user(const struct guard *g, uint32_t i, uint64_t now)
{
	return g->user[i].has_good || g->user[i].lock_until > now;
}

static struct user *user_get(struct guard *g, struct slice name, bool create, uint64_t now)
{
	uint64_t h;
	uint32_t i;
	bool evicted, escaped;
	struct user *u;

	if (name.len == 0 || name.len > GUARD_USER_MAX)
		return NULL;
	h = htab_hash(&g->ut.h, name.p, name.len);
	for (struct htab_node *n = htab_find(&g->ut.h, h); n; n = htab_next(&g->ut.h, n)) {
		u = (struct user *)(void *)n;
		if (u->len == name.len && memcmp(u->name, name.p, name.len) == 0) {
			table_touch(&g->ut, table_index(&g->ut, n));
			return u;
		}
	}
	if (!create)
		return NULL;
	i = table_take(g, &g->ut, h, keep_user, now, &evicted, &escaped);
	g->stats.user_evictions += evicted;
	u = &g->user[i];
	memset((char *)u + sizeof(u->hn), 0, sizeof(*u) - sizeof(u->hn)); /* hn is linked */
	memcpy(u->name, name.p, name.len);
	u->len = (uint8_t)name.len;
	return u;
}

/* Count one failure in a fixed window; returns the count. */
static uint16_t count_fail(uint16_t *fails, uint64_t *start, uint64_t window_ms, uint64_t now)
{
	if (*fails == 0 || now - *start >= window_ms) {
		*fails = 0;
		*start = now;
	}
	if (*fails < UINT16_MAX)
		(*fails)++;
	return *fails;
}

void guard_auth_ok(struct guard *g, const struct net_addr *src, struct slice user,
		   enum guard_req req, uint64_t now_ms)
{
	struct key k, full;
	struct src *s;
	struct user *u;
	int mb = req == GUARD_REQ_INVITE ? B_INVITE : req == GUARD_REQ_REGISTER ? B_REGISTER : -1;

	if (!addr_key(g, src, &k, &full))
		return;
	u = user_get(g, user, true, now_ms);
	if (u) {
		u->good = k;
		u->has_good = true;
	}
	if (allowed(g, &full))
		return;
	s = src_get(g, &k, now_ms);
	refill(g, s, now_ms);
	for (int b = 0; b < B_N; b++) {
		uint64_t t;

		if (b != B_ALL && b != mb)
			continue;
		t = (uint64_t)s->tok[b] + (uint64_t)g->conf.auth_credit * MILLI;
		if (t > g->ceiling[b])
			t = s->tok[b] > g->ceiling[b] ? s->tok[b] : g->ceiling[b];
		s->tok[b] = (uint32_t)t;
	}
	s->trust_until = now_ms + (uint64_t)g->conf.trust_window * 1000;
}

void guard_refund(struct guard *g, const struct net_addr *src, uint64_t now_ms)
{
	struct key k, full;
	struct src *s;

	if (!addr_key(g, src, &k, &full) || !g->burst[B_ALL] || !(s = src_find(g, &k)))
		return;
	refill(g, s, now_ms);
	if (s->tok[B_ALL] + MILLI <= g->ceiling[B_ALL])
		s->tok[B_ALL] += MILLI;
}

unsigned guard_auth_failure(struct guard *g, const struct net_addr *src, struct slice user,
			    uint64_t now_ms)
{
	uint64_t win = (uint64_t)g->conf.fail_window * 1000;
	struct key k, full;
	struct user *u;
	unsigned ev = 0;

	g->stats.auth_failures++;
	if (!addr_key(g, src, &k, &full))
		return 0;
	u = user_get(g, user, true, now_ms);
	if (u && count_fail(&u->fails, &u->fail_start, win, now_ms) > g->conf.user_fail_limit &&
	    u->lock_until <= now_ms) {
		u->lock_until = now_ms + (uint64_t)g->conf.lock_time * 1000;
		g->stats.locks++;
		ev |= GUARD_EV_LOCK;
	}
	if (!allowed(g, &full)) {
		struct src *s = src_get(g, &k, now_ms);

		if (count_fail(&s->fails, &s->fail_start, win, now_ms) >
			    g->conf.source_fail_limit &&
		    ban(g, s, now_ms, 0))
			ev |= GUARD_EV_BAN;
	}
	return ev;
}

bool guard_lock_restore(struct guard *g, struct slice user, uint64_t now_ms, uint32_t seconds)
{
	struct user *u = user_get(g, user, true, now_ms);
	uint64_t until = now_ms + (uint64_t)seconds * 1000;
	bool fresh;

	if (!u || seconds == 0)
		return false;
	fresh = u->lock_until <= now_ms;
	if (u->lock_until < until)
		u->lock_until = until;
	return fresh;
}

bool guard_user_locked(struct guard *g, struct slice user, const struct net_addr *src,
		       uint64_t now_ms)
{
	struct user *u = user_get(g, user, false, now_ms);
	struct key k, full;

	if (!u || u->lock_until <= now_ms)
		return false;
	if (u->has_good && addr_key(g, src, &k, &full) && memcmp(k.b, u->good.b, 16) == 0)
		return false;
	return true;
}

/* ---- scanners ---- */


/* Does hay hold any scanner name (ASCII case folded)? One pass over hay:
 * the names whose first three bytes match at a place (scan_at, one table
 * look-up a byte) are the only ones compared there. */
static bool contains_any(const struct guard *g, struct slice hay)
{
	_Static_assert(GUARD_SCANNER_MAX <= 64, "scan_at holds a name a bit");
	for (size_t i = 0; i < hay.len; i++) {
		uint64_t cand = g->scan_at[0][fold((unsigned char)hay.p[i])];

		if (!cand)
			continue;
		/* past hay's end, only names too long to fit are left: the
		 * length check below drops them */
		if (i + 1 < hay.len)
			cand &= g->scan_at[1][fold((unsigned char)hay.p[i + 1])];
		if (i + 2 < hay.len)
			cand &= g->scan_at[2][fold((unsigned char)hay.p[i + 2])];
		for (; cand; cand &= cand - 1) {
			struct slice nd = g->scan[__builtin_ctzll(cand)];

			if (nd.len <= hay.len - i && slice_caseeq(slice_make(hay.p + i, nd.len), nd))
				return true;
		}
	}
	return false;
}

bool guard_scanner(struct guard *g, struct slice user_agent, struct slice from_or_to)
{
	if (contains_any(g, user_agent) || contains_any(g, from_or_to)) {
		g->stats.scanners++;
		return true;
	}
	return false;
}

void guard_stats(const struct guard *g, uint64_t now_ms, struct guard_stats *out)
{
	*out = g->stats;
	out->sources = g->st.used;
	out->users = g->ut.used;
	out->probes = g->st.h.probes + g->ut.h.probes;
	out->bans_active = 0;
	out->locks_active = 0;
	for (uint32_t i = 0; i < g->st.used; i++)
		out->bans_active += src_banned(&g->src[i], now_ms);
	for (uint32_t i = 0; i < g->ut.used; i++)
		out->locks_active += g->user[i].lock_until > now_ms;
}
