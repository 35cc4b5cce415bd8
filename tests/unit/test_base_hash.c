/*
 * Unit tests of base/hash: SipHash-2-4 against the reference vectors of its
 * paper, the streaming form equal to the one-shot form however the input is
 * split, and the bounded table: insert up to its bound (EOVERFLOW beyond),
 * find every entry, remove, grow without losing anything, and chains that
 * stay short for keys an attacker made collide under an unkeyed hash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/base.h"

static void siphash_vectors(void)
{
	uint8_t kb[16], msg[64];
	struct hash_key k;

	for (int i = 0; i < 16; i++)
		kb[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	k.k0 = 0x0706050403020100ULL;
	k.k1 = 0x0f0e0d0c0b0a0908ULL;
	(void)kb;
	CHECK(hash_siphash(&k, msg, 0) == 0x726fdb47dd0e0e31ULL);
	CHECK(hash_siphash(&k, msg, 15) == 0xa129ca6149be45e5ULL);
	CHECK(hash_siphash(&k, msg, 8) == 0x93f5f5799a932462ULL);
}

/* SipHash-2-4 the plain way, a byte at a time (the paper's description):
 * the reference for every tail length. */
#define REF_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
static void ref_round(uint64_t v[4])
{
	v[0] += v[1]; v[1] = REF_ROTL(v[1], 13); v[1] ^= v[0]; v[0] = REF_ROTL(v[0], 32);
	v[2] += v[3]; v[3] = REF_ROTL(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = REF_ROTL(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = REF_ROTL(v[1], 17); v[1] ^= v[2]; v[2] = REF_ROTL(v[2], 32);
}

static uint64_t ref_siphash(const struct hash_key *k, const uint8_t *p, size_t n)
{
	uint64_t v[4] = { k->k0 ^ 0x736f6d6570736575ULL, k->k1 ^ 0x646f72616e646f6dULL,
			  k->k0 ^ 0x6c7967656e657261ULL, k->k1 ^ 0x7465646279746573ULL };
	uint64_t m = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n)
			m |= (uint64_t)(n & 0xff) << 56;
		else
			m |= (uint64_t)p[i] << (8 * (i & 7));
		if (i == n || (i & 7) == 7) {
			v[3] ^= m;
			ref_round(v);
			ref_round(v);
			v[0] ^= m;
			m = 0;
		}
	}
	v[2] ^= 0xff;
	for (int r = 0; r < 4; r++)
		ref_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Every length from 0 to 64 (each tail length, whole words), against the
 * byte-at-a-time reference, itself checked against the paper's vectors. */
static void siphash_every_length(void)
{
	struct hash_key k = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	uint8_t msg[64];

	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	CHECK(ref_siphash(&k, msg, 0) == 0x726fdb47dd0e0e31ULL);
	CHECK(ref_siphash(&k, msg, 15) == 0xa129ca6149be45e5ULL);
	CHECK(ref_siphash(&k, msg, 8) == 0x93f5f5799a932462ULL);
	for (size_t n = 0; n <= sizeof(msg); n++)
		CHECK(hash_siphash(&k, msg, n) == ref_siphash(&k, msg, n));
}

/* hash_parts_hex: the hex of SipHash over each part's 32-bit length and
 * bytes; moving a byte between parts changes it. */
static void parts_hex(void)
{
	struct hash_key k = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	const struct slice ab_c[] = { SLICE_LIT("ab"), SLICE_LIT("c") };
	const struct slice a_bc[] = { SLICE_LIT("a"), SLICE_LIT("bc") };
	uint8_t flat[4 + 2 + 4 + 1] = { 2, 0, 0, 0, 'a', 'b', 1, 0, 0, 0, 'c' };
	char out[17], other[17], want[17];

	hash_parts_hex(&k, ab_c, 2, out);
	snprintf(want, sizeof(want), "%016llx",
		 (unsigned long long)hash_siphash(&k, flat, sizeof(flat)));
	CHECK(strcmp(out, want) == 0);
	hash_parts_hex(&k, a_bc, 2, other);
	CHECK(strlen(other) == 16 && strcmp(out, other) != 0);
	hash_parts_hex(&k, NULL, 0, out);
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)hash_siphash(&k, "", 0));
	CHECK(strcmp(out, want) == 0);
}

static void streaming_equals_one_shot(void)
{
	uint8_t msg[100];
	struct hash_key k = { 0x1234, 0x5678 };

	for (int i = 0; i < 100; i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(msg); n++) {
		uint64_t want = hash_siphash(&k, msg, n);
		for (size_t cut1 = 0; cut1 <= n; cut1 += 3) {
			for (size_t cut2 = cut1; cut2 <= n; cut2 += 5) {
				struct hash_state st;
				hash_begin(&st, &k);
				hash_feed(&st, msg, cut1);
				hash_feed(&st, msg + cut1, cut2 - cut1);
				hash_feed(&st, msg + cut2, n - cut2);
				CHECK(hash_end(&st) == want);
			}
		}
	}
}

struct item {
	struct htab_node node;
	char key[32];
	size_t len;
};

static struct item *find(struct htab *t, const char *key)
{
	size_t len = strlen(key);
	uint64_t h = htab_hash(t, key, len);

	for (struct htab_node *n = htab_find(t, h); n; n = htab_next(t, n)) {
		struct item *it = (struct item *)n;
		if (it->len == len && memcmp(it->key, key, len) == 0)
			return it;
	}
	return NULL;
}

static void count_node(struct htab_node *n, void *arg)
{
	(void)n;
	(*(size_t *)arg)++;
}

static void table_bound_find_remove_grow(void)
{
	enum { N = 5000 };
	struct htab t;
	struct item *items = calloc(N + 1, sizeof(*items));
	size_t seen = 0;

	CHECK(items);
	CHECK_INT(htab_init(&t, 0), EINVAL);
	CHECK_INT(htab_init(&t, N), 0);
	for (int i = 0; i < N; i++) {
		items[i].len = (size_t)snprintf(items[i].key, sizeof(items[i].key), "key-%d", i);
		CHECK_INT(htab_insert(&t, &items[i].node,
				      htab_hash(&t, items[i].key, items[i].len)), 0);
	}
	items[N].len = (size_t)snprintf(items[N].key, sizeof(items[N].key), "one-too-many");
	CHECK_INT(htab_insert(&t, &items[N].node, htab_hash(&t, items[N].key, items[N].len)),
		  EOVERFLOW);
	CHECK_INT(t.n, N);
	CHECK(t.mask + 1 >= 4096); /* it grew from 16 */
	for (int i = 0; i < N; i++) {
		char k[32];
		snprintf(k, sizeof(k), "key-%d", i);
		CHECK(find(&t, k) == &items[i]);
	}
	CHECK(find(&t, "key-absent") == NULL);
	for (int i = 0; i < N; i += 2)
		htab_remove(&t, &items[i].node);
	CHECK_INT(t.n, N / 2);
	CHECK(find(&t, "key-0") == NULL);
	CHECK(find(&t, "key-1") == &items[1]);
	htab_each(&t, count_node, &seen);
	CHECK_INT(seen, N / 2);
	seen = 0;
	htab_drain(&t, count_node, &seen);
	CHECK_INT(seen, N / 2);
	CHECK_INT(t.n, 0);
	CHECK(find(&t, "key-1") == NULL);
	htab_fini(&t);
	free(items);
}

static void colliding_keys_stay_short(void)
{
	enum { N = 3000 };
	struct htab t;
	struct item *items = calloc(N, sizeof(*items));
	char (*keys)[32] = calloc(N, 32);
	uint64_t probes;
	size_t made;

	CHECK(items && keys);
	made = check_fnv_collisions(keys, N);
	CHECK_INT(made, N);
	for (size_t i = 0; i < N; i++) {
		items[i].len = strlen(keys[i]);
		memcpy(items[i].key, keys[i], items[i].len + 1);
	}
	free(keys);
	CHECK_INT(htab_init(&t, 1000000), 0);
	for (size_t i = 0; i < N; i++)
		CHECK_INT(htab_insert(&t, &items[i].node,
				      htab_hash(&t, items[i].key, items[i].len)), 0);
	t.probes = 0;
	for (size_t i = 0; i < N; i++)
		CHECK(find(&t, items[i].key) == &items[i]);
	probes = t.probes;
	/* Under the old hash every lookup walked one chain of N entries (about
	 * N*N/2 probes in all). Keyed, buckets >= entries: a handful each. */
	CHECK(probes < (uint64_t)N * 8);
	htab_fini(&t);
	free(items);
}

/* htab_reserve sizes the buckets for the whole bound at once: filling the
 * table up to its bound then allocates nothing (the first allocation from
 * then on is armed to fail, and never fires), and every entry is found. */
static void reserve_allocates_once(void)
{
	enum { N = 1000 };
	struct htab t;
	struct item *items = calloc(N, sizeof(*items));

	CHECK(items);
	CHECK_INT(htab_init(&t, N), 0);
	CHECK_INT(t.mask + 1, 16);
	CHECK_INT(htab_reserve(&t), 0);
	CHECK_INT(t.mask + 1, 1024);
	CHECK_INT(htab_reserve(&t), 0); /* already there: nothing to do */
	check_oom_arm(1);
	for (int i = 0; i < N; i++) {
		items[i].len = (size_t)snprintf(items[i].key, sizeof(items[i].key), "r%d", i);
		CHECK_INT(htab_insert(&t, &items[i].node,
				      htab_hash(&t, items[i].key, items[i].len)), 0);
	}
	CHECK(!check_oom_fired());
	check_oom_arm(0);
	CHECK_INT(t.mask + 1, 1024);
	for (int i = 0; i < N; i++)
		CHECK(find(&t, items[i].key) == &items[i]);
	/* a failed reserve leaves the table as it was */
	htab_fini(&t);
	CHECK_INT(htab_init(&t, 4096), 0);
	CHECK_INT(htab_insert(&t, &items[0].node, htab_hash(&t, items[0].key, items[0].len)), 0);
	check_oom_arm(1);
	CHECK_INT(htab_reserve(&t), ENOMEM);
	check_oom_arm(0);
	CHECK_INT(t.mask + 1, 16);
	CHECK(find(&t, items[0].key) == &items[0]);
	htab_fini(&t);
	free(items);
}

/* One table's life under allocation failure: made, filled (growing), emptied. */
static int htab_life(void *arg)
{
	static struct item items[200];
	struct htab t;
	int rc;

	(void)arg;
	if ((rc = htab_init(&t, 1000)) != 0)
		return rc;
	for (int i = 0; i < 200; i++) {
		items[i].len = (size_t)snprintf(items[i].key, sizeof(items[i].key), "k%d", i);
		if ((rc = htab_insert(&t, &items[i].node, htab_hash(&t, items[i].key, items[i].len))))
			break;
	}
	htab_drain(&t, count_node, &(size_t){ 0 });
	htab_fini(&t);
	return rc;
}

static void allocation_failures(void)
{
	CHECK(CHECK_OOM_SWEEP(htab_life, NULL, 100) > 1);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(siphash_vectors),
		CASE(siphash_every_length),
		CASE(streaming_equals_one_shot),
		CASE(parts_hex),
		CASE(table_bound_find_remove_grow),
		CASE(colliding_keys_stay_short),
		CASE(reserve_allocates_once),
		CASE(allocation_failures),
	};

	return check_main("base_hash", cases, ARRAY_SIZE(cases), argc, argv);
}
