/*
 * base/hash: the one keyed hash and the one bounded hash table of the code
 * base.
 *
 * Every table keyed by something a peer chooses (Call-ID, branch, tag, user
 * name, source address) hashes it with SipHash-2-4 under a key drawn from
 * getrandom() when the table is made. An unkeyed hash (FNV, djb2) lets
 * anybody who knows the function choose keys that all land in one bucket and
 * turn every lookup into a walk of the whole table (hash flooding); with a
 * secret key the bucket of a key cannot be predicted. SipHash is what Redis,
 * Python and the Linux kernel use for exactly this.
 *
 * The table is intrusive: an entry embeds a struct htab_node and the table
 * never allocates entries. Buckets start small and double (load factor 1)
 * up to the power of two at or above the table's bound, so a sparse table of
 * a large bound stays small, and the bound itself is a setting: insert past
 * it fails with EOVERFLOW. Chains keep each node's full 64-bit hash, so a key
 * comparison happens only on a full hash match; `probes` counts the nodes a
 * lookup examined, which lets tests prove lookups stay short without timing.
 */
#ifndef BASTION_BASE_HASH_H
#define BASTION_BASE_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hash_key {
	uint64_t k0, k1;
};

/* A fresh random key (getrandom). Returns 0 or an errno (EIO). */
int hash_key_random(struct hash_key *k);

/* SipHash-2-4 of p[0..n) under k. */
uint64_t hash_siphash(const struct hash_key *k, const void *p, size_t n);

/* Streaming SipHash-2-4 for keys made of several parts: the result equals
 * hash_siphash of the concatenation of everything fed. */
struct hash_state {
	uint64_t v0, v1, v2, v3;
	uint64_t tail;     /* up to 7 bytes not yet compressed */
	size_t total;      /* bytes fed */
};
void hash_begin(struct hash_state *st, const struct hash_key *k);
void hash_feed(struct hash_state *st, const void *p, size_t n);
uint64_t hash_end(struct hash_state *st);

/* SipHash of n parts, each fed after its 32-bit length (so that no two
 * lists of parts feed the same bytes), as 16 lowercase hex digits and a
 * NUL: tags and loop-detection hashes a peer cannot predict. */
struct slice;
void hash_parts_hex(const struct hash_key *k, const struct slice *parts, size_t n, char out[17]);

struct htab_node {
	struct htab_node *next;
	uint64_t hash;
};

struct htab {
	struct htab_node **b;
	size_t mask;       /* buckets - 1 */
	size_t n;          /* entries */
	size_t max;        /* bound on entries */
	size_t max_buckets;
	struct hash_key key;
	uint64_t probes;   /* nodes examined by lookups (tests, metrics); a statistic that
			      lookups through a const table update too */
};

/* A table for at most max entries (max >= 1), with a random key. Returns 0,
 * EINVAL, ENOMEM, or EIO when no random key could be drawn. */
int htab_init(struct htab *t, size_t max);
/* A new bound (>= 1; SIGHUP): a smaller one refuses inserts until enough
 * entries are gone; the buckets may grow up to the new bound. */
void htab_set_max(struct htab *t, size_t max);

/* Allocate the buckets for the whole bound now (the power of two at or above
 * max), so that no later insert allocates: for a table that must not allocate
 * after it is made (the guard's, filled by floods). Returns 0 or ENOMEM (the
 * table is then unchanged and still usable). */
int htab_reserve(struct htab *t);

/* Free the buckets (not the entries); t may be zeroed or initialised. */
void htab_fini(struct htab *t);

/* The table's hash of a key: use it for insert and lookup. */
static inline uint64_t htab_hash(const struct htab *t, const void *p, size_t n)
{
	return hash_siphash(&t->key, p, n);
}

/* Insert node under hash h (duplicates allowed: the caller looks up
 * first when keys must be unique). Returns 0, or EOVERFLOW when the table
 * holds max entries. Growing the buckets may fail quietly (the table then
 * stays at its size, still correct). */
int htab_insert(struct htab *t, struct htab_node *node, uint64_t h);

/* Unlink node (which must be in t). Cost: the length of its chain. */
void htab_remove(struct htab *t, struct htab_node *node);

/* The first entry with hash h, or NULL; htab_next: the next entry after
 * `after` with the same hash. Walk all matches with
 *   for (n = htab_find(t, h); n; n = htab_next(t, n)) ...
 * Only nodes whose full hash equals h are returned; each node examined
 * counts as a probe. */
struct htab_node *htab_find(const struct htab *t, uint64_t h);
struct htab_node *htab_next(const struct htab *t, const struct htab_node *after);

/* Every entry, for periodic maintenance (never on a request path): call fn
 * on each; fn may remove the node it is given with htab_remove, and nothing
 * else (no insert, no other removal). */
void htab_each(struct htab *t, void (*fn)(struct htab_node *node, void *arg), void *arg);

/* Detach every entry, calling fn on each (fn may free it). */
void htab_drain(struct htab *t, void (*fn)(struct htab_node *node, void *arg), void *arg);

#endif
