/*
 * auth replay table: nonce-count parsing, increasing counts, replays, and
 * what happens when the table is full (LRU eviction within a bucket, then
 * the evicted nonce is UNKNOWN, never accepted afresh).
 */
#include "auth/auth.h"
#include "check.h"

#include <errno.h>

static const uint8_t key[AUTH_KEY_LEN] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
#define T0 1700000000u

static void test_nc_parse(void)
{
	uint32_t v = 77;
	const char *bad[] = { "", "1", "0000001", "000000001", "00000000", "0000000g", "+0000001",
			      " 0000001", "0000001 ", "0x000001" };

	CHECK_INT(auth_nc_parse(&v, SLICE_LIT("00000001")), 0);
	CHECK_INT(v, 1);
	CHECK_INT(auth_nc_parse(&v, SLICE_LIT("0000abcd")), 0);
	CHECK_INT(v, 0xabcd);
	CHECK_INT(auth_nc_parse(&v, SLICE_LIT("FFFFFFFF")), 0);
	CHECK_INT(v, 0xffffffffu);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		v = 77;
		if (auth_nc_parse(&v, slice_cstr(bad[i])) != EBADMSG || v != 77) {
			check_fail(__FILE__, __LINE__, "nc \"%s\" accepted", bad[i]);
			return;
		}
	}
	CHECK_INT(auth_nc_parse(&v, SLICE_NULL), EBADMSG);
}

static void test_table_new_bounds(void)
{
	struct auth_nc_table *t = NULL;
	struct auth_nc_stats st;

	CHECK_INT(auth_nc_table_new(&t, 0, T0), EINVAL);
	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_CAPACITY_MIN - 1, T0), EINVAL);
	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_CAPACITY_MAX + 1, T0), EINVAL);
	CHECK(t == NULL);
	CHECK_INT(auth_nc_table_new(&t, 100, T0), 0);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.capacity, 128);
	CHECK_INT(st.used, 0);
	CHECK_INT(st.floor, T0);
	auth_nc_table_free(&t);
	CHECK(t == NULL);
	auth_nc_table_free(&t);
	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_CAPACITY_DEFAULT, T0), 0);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.capacity, AUTH_NC_CAPACITY_DEFAULT);
	auth_nc_table_free(&t);
}

static void test_increasing_and_replay(void)
{
	struct auth_nc_table *t = NULL;
	char n[AUTH_NONCE_LEN + 1], m[AUTH_NONCE_LEN + 1];
	struct auth_nc_stats st;

	CHECK_INT(auth_nc_table_new(&t, 64, T0), 0);
	CHECK_INT(auth_nonce_make(key, T0 + 1, n), 0);
	CHECK_INT(auth_nonce_make(key, T0 + 1, m), 0);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 1), AUTH_NC_OK);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 1), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 2), AUTH_NC_OK);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 10), AUTH_NC_OK);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 9), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 10), AUTH_NC_REPLAY);
	/* Counts are per nonce. */
	CHECK_INT(auth_nc_use(t, slice_cstr(m), 1), AUTH_NC_OK);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 11), AUTH_NC_OK);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 0), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use(t, SLICE_LIT("not a nonce"), 1), AUTH_NC_UNKNOWN);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.used, 2);
	CHECK_INT(st.replays, 3);
	CHECK_INT(st.evictions, 0);
	auth_nc_table_free(&t);
}

static void test_older_than_table(void)
{
	struct auth_nc_table *t = NULL;
	char n[AUTH_NONCE_LEN + 1];

	CHECK_INT(auth_nc_table_new(&t, 8, T0), 0);
	/* Made before the table existed (e.g. before a restart). */
	CHECK_INT(auth_nonce_make(key, T0 - 100, n), 0);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 1000), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nonce_make(key, T0, n), 0);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nonce_make(key, T0 + 1, n), 0);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 1), AUTH_NC_OK);
	auth_nc_table_free(&t);
}

/* Capacity 8 is one bucket of 8 slots, so every nonce shares it. */
static void test_full_table_evicts_lru(void)
{
	struct auth_nc_table *t = NULL;
	char n[10][AUTH_NONCE_LEN + 1];
	struct auth_nc_stats st;

	CHECK_INT(auth_nc_table_new(&t, 8, T0), 0);
	for (int i = 0; i < 10; i++)
		CHECK_INT(auth_nonce_make(key, T0 + 1 + (uint64_t)i, n[i]), 0);
	for (int i = 0; i < 8; i++)
		CHECK_INT(auth_nc_use(t, slice_cstr(n[i]), 1), AUTH_NC_OK);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.used, 8);
	CHECK_INT(st.evictions, 0);
	/* Touch n[0]; n[1] becomes least recently used. */
	CHECK_INT(auth_nc_use(t, slice_cstr(n[0]), 2), AUTH_NC_OK);
	CHECK_INT(auth_nc_use(t, slice_cstr(n[8]), 1), AUTH_NC_OK);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.used, 8);
	CHECK_INT(st.evictions, 1);
	CHECK_INT(st.floor, T0 + 2); /* creation time of n[1] */
	/* n[0] kept its count; n[1] is forgotten and must not start over. */
	CHECK_INT(auth_nc_use(t, slice_cstr(n[0]), 2), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use(t, slice_cstr(n[0]), 3), AUTH_NC_OK);
	CHECK_INT(auth_nc_use(t, slice_cstr(n[1]), 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use(t, slice_cstr(n[1]), 2), AUTH_NC_UNKNOWN);
	/* Still in the table: replays are still seen. */
	CHECK_INT(auth_nc_use(t, slice_cstr(n[2]), 1), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use(t, slice_cstr(n[8]), 1), AUTH_NC_REPLAY);
	/* A nonce newer than the floor is welcome. */
	CHECK_INT(auth_nc_use(t, slice_cstr(n[9]), 1), AUTH_NC_OK);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.evictions, 2);
	CHECK_INT(st.used, 8);
	auth_nc_table_free(&t);
}

/* Fill a bigger table far past capacity: no nonce that was used once is
 * ever accepted again with the same count, evicted or not. */
static void test_overfill_never_accepts_replay(void)
{
	enum { N = 5000, CAP = 1024 };
	static char n[N][AUTH_NONCE_LEN + 1];
	struct auth_nc_table *t = NULL;
	struct auth_nc_stats st;
	unsigned unknown = 0, replay = 0;

	CHECK_INT(auth_nc_table_new(&t, CAP, T0), 0);
	for (int i = 0; i < N; i++) {
		CHECK_INT(auth_nonce_make(key, T0 + 1 + (uint64_t)i / 10, n[i]), 0);
		CHECK_INT(auth_nc_use(t, slice_cstr(n[i]), 1), AUTH_NC_OK);
	}
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.capacity, CAP);
	CHECK(st.used <= CAP);
	CHECK(st.used > CAP / 2);
	CHECK_INT(st.evictions, N - st.used);
	for (int i = 0; i < N; i++) {
		enum auth_nc_status s = auth_nc_use(t, slice_cstr(n[i]), 1);

		CHECK(s != AUTH_NC_OK);
		unknown += s == AUTH_NC_UNKNOWN;
		replay += s == AUTH_NC_REPLAY;
	}
	CHECK(unknown >= N - CAP);
	CHECK(replay > 0);
	auth_nc_table_free(&t);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_nc_parse),
		CASE(test_table_new_bounds),
		CASE(test_increasing_and_replay),
		CASE(test_older_than_table),
		CASE(test_full_table_evicts_lru),
		CASE(test_overfill_never_accepts_replay),
	};

	return check_main("auth_replay", cases, ARRAY_SIZE(cases), argc, argv);
}
