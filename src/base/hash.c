/*
 * base/hash.c: SipHash-2-4 (Aumasson and Bernstein, 2012) and the bounded
 * intrusive hash table. See hash.h.
 */
#include "hash.h"
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline void sipround(struct hash_state *s)
{
	s->v0 += s->v1; s->v1 = ROTL64(s->v1, 13); s->v1 ^= s->v0; s->v0 = ROTL64(s->v0, 32);
	s->v2 += s->v3; s->v3 = ROTL64(s->v3, 16); s->v3 ^= s->v2;
	s->v0 += s->v3; s->v3 = ROTL64(s->v3, 21); s->v3 ^= s->v0;
	s->v2 += s->v1; s->v1 = ROTL64(s->v1, 17); s->v1 ^= s->v2; s->v2 = ROTL64(s->v2, 32);
}

static inline uint64_t le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
	       (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline void compress(struct hash_state *s, uint64_t m)
{
	s->v3 ^= m;
	sipround(s);
	sipround(s);
	s->v0 ^= m;
}

int hash_key_random(struct hash_key *k)
{
	uint8_t b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return EIO;
	k->k0 = le64(b);
	k->k1 = le64(b + 8);
	return 0;
}

void hash_begin(struct hash_state *st, const struct hash_key *k)
{
	st->v0 = k->k0 ^ 0x736f6d6570736575ULL;
	st->v1 = k->k1 ^ 0x646f72616e646f6dULL;
	st->v2 = k->k0 ^ 0x6c7967656e657261ULL;
	st->v3 = k->k1 ^ 0x7465646279746573ULL;
	st->tail = 0;
	st->total = 0;
}

/* The first n (< 8) bytes at p as the low bytes of a little-endian word:
 * the tail of a message, or what completes a pending word. */
static inline uint64_t le64_part(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	switch (n) {
	case 7: v |= (uint64_t)p[6] << 48; /* fall through */
	case 6: v |= (uint64_t)p[5] << 40; /* fall through */
	case 5: v |= (uint64_t)p[4] << 32; /* fall through */
	case 4: v |= (uint64_t)p[3] << 24; /* fall through */
	case 3: v |= (uint64_t)p[2] << 16; /* fall through */
	case 2: v |= (uint64_t)p[1] << 8; /* fall through */
	case 1: v |= (uint64_t)p[0]; /* fall through */
	default: break;
	}
	return v;
}

void hash_feed(struct hash_state *st, const void *p, size_t n)
{
	const uint8_t *in = p;
	size_t have = st->total & 7, i = 0;

	st->total += n;
	/* complete a pending word (parts of hash_parts_hex: a 4-byte length,
	 * then bytes) */
	if (have) {
		i = 8 - have < n ? 8 - have : n;
		st->tail |= le64_part(in, i) << (8 * have);
		if (have + i < 8)
			return;
		compress(st, st->tail);
		st->tail = 0;
	}
	for (; i + 8 <= n; i += 8)
		compress(st, le64(in + i));
	if (i < n)
		st->tail = le64_part(in + i, n - i);
}

uint64_t hash_end(struct hash_state *st)
{
	uint64_t b = ((uint64_t)st->total << 56) | st->tail;

	compress(st, b);
	st->v2 ^= 0xff;
	sipround(st);
	sipround(st);
	sipround(st);
	sipround(st);
	return st->v0 ^ st->v1 ^ st->v2 ^ st->v3;
}

void hash_parts_hex(const struct hash_key *k, const struct slice *parts, size_t n, char out[17])
{
	static const char digits[] = "0123456789abcdef";
	struct hash_state st;
	uint64_t h;

	hash_begin(&st, k);
	for (size_t i = 0; i < n; i++) {
		uint32_t len = (uint32_t)parts[i].len;
		hash_feed(&st, &len, sizeof(len));
		hash_feed(&st, parts[i].p, parts[i].len);
	}
	h = hash_end(&st);
	for (int i = 15; i >= 0; i--, h >>= 4)
		out[i] = digits[h & 15];
	out[16] = '\0';
}

uint64_t hash_siphash(const struct hash_key *k, const void *p, size_t n)
{
	struct hash_state st;

	hash_begin(&st, k);
	hash_feed(&st, p, n);
	return hash_end(&st);
}

/* ---- the table ------------------------------------------------------------------- */

#define HTAB_MIN_BUCKETS 16u

int htab_init(struct htab *t, size_t max)
{
	size_t cap = HTAB_MIN_BUCKETS;
	int rc;

	if (max == 0)
		return EINVAL;
	*t = (struct htab){ 0 };
	if ((rc = hash_key_random(&t->key)) != 0)
		return rc;
	t->max_buckets = HTAB_MIN_BUCKETS;
	htab_set_max(t, max);
	if (cap > t->max_buckets)
		cap = t->max_buckets;
	t->b = calloc(cap, sizeof(*t->b));
	if (!t->b)
		return ENOMEM;
	t->mask = cap - 1;
	return 0;
}

void htab_set_max(struct htab *t, size_t max)
{
	if (max == 0)
		return;
	t->max = max;
	while (t->max_buckets < max && t->max_buckets < ((size_t)1 << 30))
		t->max_buckets <<= 1;
}

void htab_fini(struct htab *t)
{
	free(t->b);
	t->b = NULL;
	t->n = 0;
	t->mask = 0;
}

/* Rehash every chain into a new array of cap buckets (a power of two). */
static int resize(struct htab *t, size_t cap)
{
	struct htab_node **nb = calloc(cap, sizeof(*nb));

	if (!nb)
		return ENOMEM;
	for (size_t i = 0; i <= t->mask; i++) {
		struct htab_node *n = t->b[i], *next;
		for (; n; n = next) {
			next = n->next;
			n->next = nb[n->hash & (cap - 1)];
			nb[n->hash & (cap - 1)] = n;
		}
	}
	free(t->b);
	t->b = nb;
	t->mask = cap - 1;
	return 0;
}

/* Double the buckets, up to max_buckets. */
static void grow(struct htab *t)
{
	size_t cap = (t->mask + 1) * 2;

	if (cap <= t->max_buckets)
		(void)resize(t, cap); /* on failure: stay at this size, longer chains, still correct */
}

int htab_reserve(struct htab *t)
{
	return t->mask + 1 >= t->max_buckets ? 0 : resize(t, t->max_buckets);
}

int htab_insert(struct htab *t, struct htab_node *node, uint64_t h)
{
	struct htab_node **head;

	if (t->n >= t->max)
		return EOVERFLOW;
	if (t->n >= t->mask + 1)
		grow(t);
	node->hash = h;
	head = &t->b[h & t->mask];
	node->next = *head;
	*head = node;
	t->n++;
	return 0;
}

void htab_remove(struct htab *t, struct htab_node *node)
{
	for (struct htab_node **pp = &t->b[node->hash & t->mask]; *pp; pp = &(*pp)->next) {
		if (*pp == node) {
			*pp = node->next;
			node->next = NULL;
			t->n--;
			return;
		}
	}
}

static struct htab_node *scan(const struct htab *t, uint64_t h, struct htab_node *n)
{
	uint64_t *probes = &((struct htab *)t)->probes; /* never a const object: see hash.h */

	for (; n; n = n->next) {
		(*probes)++;
		if (n->hash == h)
			return n;
	}
	return NULL;
}

struct htab_node *htab_find(const struct htab *t, uint64_t h)
{
	return t->b ? scan(t, h, t->b[h & t->mask]) : NULL;
}

struct htab_node *htab_next(const struct htab *t, const struct htab_node *after)
{
	return scan(t, after->hash, after->next);
}

void htab_each(struct htab *t, void (*fn)(struct htab_node *node, void *arg), void *arg)
{
	for (size_t i = 0; t->b && i <= t->mask; i++) {
		struct htab_node *n = t->b[i], *next;
		for (; n; n = next) {
			next = n->next; /* fn may remove n */
			fn(n, arg);
		}
	}
}

void htab_drain(struct htab *t, void (*fn)(struct htab_node *node, void *arg), void *arg)
{
	for (size_t i = 0; t->b && i <= t->mask; i++) {
		struct htab_node *n = t->b[i], *next;
		t->b[i] = NULL;
		for (; n; n = next) {
			next = n->next;
			n->next = NULL;
			fn(n, arg);
		}
	}
	t->n = 0;
}
