/*
 * auth replay table: nonce-count parsing, increasing counts, replays, both
 * limits (a nonce that left the window, a reused nonce evicted from the
 * reuse table: UNKNOWN, never accepted afresh, no other nonce affected),
 * and the issue 11 target on a simulated clock: 20,000 authentications per
 * second for 600 s with the default sizes, no stale answer for a nonce
 * answered within its lifetime, every replay refused, memory fixed.
 * Everything here counts; nothing is timed.
 */
#include "auth/auth.h"
#include "auth/internal.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>

static const uint8_t key[AUTH_KEY_LEN] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
#define T0 1700000000u
#define LIFETIME 300u

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

	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN, 0), EINVAL);
	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN, AUTH_NC_CAPACITY_MIN - 1), EINVAL);
	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN, AUTH_NC_CAPACITY_MAX + 1), EINVAL);
	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN - 1, 64), EINVAL);
	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MAX + 1, 64), EINVAL);
	CHECK_INT(auth_nc_table_new(NULL, AUTH_NC_WINDOW_MIN, 64), EINVAL);
	CHECK(t == NULL);
	/* Both sizes round up to powers of two. */
	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN + 1, 100), 0);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.window, 2 * AUTH_NC_WINDOW_MIN);
	CHECK_INT(st.capacity, 128);
	CHECK_INT(st.used, 0);
	CHECK_INT(st.issued, 0);
	auth_nc_table_free(&t);
	CHECK(t == NULL);
	auth_nc_table_free(&t);
	auth_nc_table_free(NULL);
	/* The defaults: 2 bits per nonce of the window, 24 bytes per reuse slot. */
	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_DEFAULT, AUTH_NC_CAPACITY_DEFAULT), 0);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.window, AUTH_NC_WINDOW_DEFAULT);
	CHECK_INT(st.capacity, AUTH_NC_CAPACITY_DEFAULT);
	CHECK(st.bytes >= AUTH_NC_WINDOW_DEFAULT / 4 + AUTH_NC_CAPACITY_DEFAULT * 24u);
	CHECK(st.bytes <= AUTH_NC_WINDOW_DEFAULT / 4 + AUTH_NC_CAPACITY_DEFAULT * 24u + 4096);
	auth_nc_table_free(&t);
	/* A NULL table is all zeros, and knows no nonce. */
	auth_nc_table_stats(NULL, &st);
	CHECK_INT(st.window, 0);
	CHECK_INT(auth_nc_use(NULL, SLICE_LIT("x"), 1), AUTH_NC_UNKNOWN);
}

static void test_increasing_and_replay(void)
{
	struct auth_nc_table *t = NULL;
	char n[AUTH_NONCE_LEN + 1], m[AUTH_NONCE_LEN + 1];
	struct auth_nc_stats st;

	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN, 64), 0);
	CHECK_INT(auth_nonce_make(key, t, T0 + 1, n), 0);
	CHECK_INT(auth_nonce_make(key, t, T0 + 1, m), 0);
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
	CHECK_INT(st.issued, 2);
	CHECK_INT(st.used, 1); /* only n went above nc 2 */
	CHECK_INT(st.replays, 3);
	CHECK_INT(st.evictions, 0);
	CHECK_INT(st.unknown, 2);
	auth_nc_table_free(&t);
}

/* Every way through the 2-bit states: 0 -> 1 -> 2 -> table, 0 -> 2,
 * 0 -> table, and a replay refused from each. */
static void test_state_transitions(void)
{
	struct auth_nc_table *t = NULL;
	uint64_t a, b, c, d;
	struct auth_nc_stats st;

	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN, 64), 0);
	a = auth_nc_issue(t);
	b = auth_nc_issue(t);
	c = auth_nc_issue(t);
	d = auth_nc_issue(t);
	CHECK(b == a + 1 && c == b + 1 && d == c + 1);
	CHECK_INT(auth_nc_use_seq(t, a, 1), AUTH_NC_OK);
	CHECK_INT(auth_nc_use_seq(t, a, 1), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, a, 2), AUTH_NC_OK);
	CHECK_INT(auth_nc_use_seq(t, a, 1), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, a, 2), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, a, 3), AUTH_NC_OK);
	CHECK_INT(auth_nc_use_seq(t, a, 3), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, a, 2), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, a, 4), AUTH_NC_OK);
	/* A count may skip ahead; it never goes back. */
	CHECK_INT(auth_nc_use_seq(t, b, 2), AUTH_NC_OK);
	CHECK_INT(auth_nc_use_seq(t, b, 1), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, b, 2), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, c, 0xffffffffu), AUTH_NC_OK);
	CHECK_INT(auth_nc_use_seq(t, c, 0xffffffffu), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, c, 1), AUTH_NC_REPLAY);
	/* Not issued yet, or never by this table. */
	CHECK_INT(auth_nc_use_seq(t, d + 1, 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use_seq(t, a - 1, 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use_seq(t, d, 1), AUTH_NC_OK);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.used, 2);
	CHECK_INT(st.outside, 2);
	CHECK_INT(st.replays, 9);
	auth_nc_table_free(&t);
}

/* A nonce made for one table (same key) is not another table's: a second
 * table, as after a restart, knows nothing of it and accepts nothing. */
static void test_other_table_unknown(void)
{
	struct auth_nc_table *t = NULL, *u = NULL;
	char n[AUTH_NONCE_LEN + 1], m[AUTH_NONCE_LEN + 1];

	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN, 64), 0);
	CHECK_INT(auth_nc_table_new(&u, AUTH_NC_WINDOW_MIN, 64), 0);
	CHECK_INT(auth_nonce_make(key, t, T0, n), 0);
	for (int i = 0; i < 10; i++)
		CHECK_INT(auth_nonce_make(key, u, T0, m), 0);
	CHECK_INT(auth_nc_use(u, slice_cstr(n), 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use(t, slice_cstr(m), 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 1), AUTH_NC_OK);
	CHECK_INT(auth_nc_use(u, slice_cstr(m), 1), AUTH_NC_OK);
	auth_nc_table_free(&t);
	auth_nc_table_free(&u);
}

/*
 * The window limit (nonce_window): the nonce issued `window` nonces ago is
 * still known, the one before it is not. Once out, a nonce is UNKNOWN
 * whether it was answered (a replay is refused) or not (stale).
 */
static void test_window_limit(void)
{
	enum { W = AUTH_NC_WINDOW_MIN };
	struct auth_nc_table *t = NULL;
	char n[AUTH_NONCE_LEN + 1], old[AUTH_NONCE_LEN + 1];
	struct auth_nc_stats st;
	uint64_t first, answered, edge;

	CHECK_INT(auth_nc_table_new(&t, W, 8), 0);
	first = auth_nc_issue(t);
	answered = auth_nc_issue(t);
	CHECK_INT(auth_nc_use_seq(t, answered, 1), AUTH_NC_OK);
	CHECK_INT(auth_nonce_make(key, t, T0, old), 0);
	CHECK_INT(auth_nc_use(t, slice_cstr(old), 1), AUTH_NC_OK);
	/* W - 3 more: `first` is now exactly W nonces back. */
	for (int i = 0; i < W - 4; i++)
		(void)auth_nc_issue(t);
	edge = auth_nc_issue(t);
	CHECK(edge - first == W - 1);
	CHECK_INT(auth_nc_use_seq(t, first, 1), AUTH_NC_OK);
	CHECK_INT(auth_nc_use_seq(t, answered, 1), AUTH_NC_REPLAY);
	/* One more issued: `first` leaves the window. */
	(void)auth_nc_issue(t);
	CHECK_INT(auth_nc_use_seq(t, first, 2), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use_seq(t, answered, 1), AUTH_NC_REPLAY);
	(void)auth_nc_issue(t);
	CHECK_INT(auth_nc_use_seq(t, answered, 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use_seq(t, answered, 2), AUTH_NC_UNKNOWN);
	(void)auth_nc_issue(t);
	CHECK_INT(auth_nc_use(t, slice_cstr(old), 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use(t, slice_cstr(old), 2), AUTH_NC_UNKNOWN);
	/* The newest nonces are unaffected. */
	CHECK_INT(auth_nonce_make(key, t, T0 + 1, n), 0);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 1), AUTH_NC_OK);
	CHECK_INT(auth_nc_use(t, slice_cstr(n), 1), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, edge, 1), AUTH_NC_OK);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.outside, 5);
	CHECK_INT(st.issued, W + 4);
	auth_nc_table_free(&t);
}

/*
 * The reuse-table limit (nonce_table_size): capacity 8 is one bucket, so
 * the ninth nonce answered with nc 3 evicts the least recently used. That
 * nonce is then UNKNOWN (never accepted again, whatever its count); every
 * other nonce keeps its count.
 */
static void test_reuse_table_limit(void)
{
	enum { K = 9 };
	struct auth_nc_table *t = NULL;
	uint64_t s[K], low;
	struct auth_nc_stats st;

	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN, 8), 0);
	low = auth_nc_issue(t);
	CHECK_INT(auth_nc_use_seq(t, low, 1), AUTH_NC_OK);
	for (int i = 0; i < K; i++)
		s[i] = auth_nc_issue(t);
	for (int i = 0; i < K - 1; i++)
		CHECK_INT(auth_nc_use_seq(t, s[i], 3), AUTH_NC_OK);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.used, 8);
	CHECK_INT(st.evictions, 0);
	/* Touch s[0]; s[1] becomes least recently used. */
	CHECK_INT(auth_nc_use_seq(t, s[0], 4), AUTH_NC_OK);
	CHECK_INT(auth_nc_use_seq(t, s[K - 1], 3), AUTH_NC_OK);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.used, 8);
	CHECK_INT(st.evictions, 1);
	CHECK_INT(auth_nc_use_seq(t, s[1], 3), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use_seq(t, s[1], 4), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_nc_use_seq(t, s[1], 1), AUTH_NC_UNKNOWN);
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.forgotten, 3);
	/* Everyone else kept their count. */
	CHECK_INT(auth_nc_use_seq(t, s[0], 4), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, s[0], 5), AUTH_NC_OK);
	for (int i = 2; i < K; i++) {
		CHECK_INT(auth_nc_use_seq(t, s[i], 3), AUTH_NC_REPLAY);
		CHECK_INT(auth_nc_use_seq(t, s[i], 4), AUTH_NC_OK);
	}
	/* A nonce answered once needs no slot, and is not affected either. */
	CHECK_INT(auth_nc_use_seq(t, low, 1), AUTH_NC_REPLAY);
	CHECK_INT(auth_nc_use_seq(t, low, 2), AUTH_NC_OK);
	auth_nc_table_free(&t);
}

/* A slot whose nonce left the window is free again: no eviction counted,
 * nothing forgotten. */
static void test_reuse_slot_freed_by_window(void)
{
	enum { W = AUTH_NC_WINDOW_MIN };
	struct auth_nc_table *t = NULL;
	struct auth_nc_stats st;
	uint64_t s;

	CHECK_INT(auth_nc_table_new(&t, W, 8), 0);
	for (int i = 0; i < 8; i++)
		CHECK_INT(auth_nc_use_seq(t, auth_nc_issue(t), 3), AUTH_NC_OK);
	for (int i = 0; i < W; i++)
		(void)auth_nc_issue(t);
	for (int i = 0; i < 8; i++) {
		s = auth_nc_issue(t);
		CHECK_INT(auth_nc_use_seq(t, s, 3), AUTH_NC_OK);
		CHECK_INT(auth_nc_use_seq(t, s, 4), AUTH_NC_OK);
	}
	auth_nc_table_stats(t, &st);
	CHECK_INT(st.used, 8);
	CHECK_INT(st.evictions, 0);
	CHECK_INT(st.forgotten, 0);
	auth_nc_table_free(&t);
}

/* Far past the window: no nonce used once is ever accepted again with the
 * same count, in the window or not. */
static void test_overfill_never_accepts_replay(void)
{
	enum { N = 5000, W = AUTH_NC_WINDOW_MIN };
	static char n[N][AUTH_NONCE_LEN + 1];
	struct auth_nc_table *t = NULL;
	struct auth_nc_stats st;
	unsigned unknown = 0, replay = 0;

	CHECK_INT(auth_nc_table_new(&t, W, 8), 0);
	for (int i = 0; i < N; i++) {
		CHECK_INT(auth_nonce_make(key, t, T0 + 1 + (uint64_t)i / 10, n[i]), 0);
		CHECK_INT(auth_nc_use(t, slice_cstr(n[i]), 1 + (uint32_t)i % 4), AUTH_NC_OK);
	}
	for (int i = 0; i < N; i++) {
		enum auth_nc_status s = auth_nc_use(t, slice_cstr(n[i]), 1 + (uint32_t)i % 4);

		CHECK(s != AUTH_NC_OK);
		unknown += s == AUTH_NC_UNKNOWN;
		replay += s == AUTH_NC_REPLAY;
	}
	auth_nc_table_stats(t, &st);
	CHECK_INT(unknown, N - W + st.forgotten);
	CHECK(replay > 0);
	auth_nc_table_free(&t);
}

/* A table's life under allocation failure: made, used, freed. */
static int table_life(void *arg)
{
	struct auth_nc_table *t = NULL;
	char n[AUTH_NONCE_LEN + 1];
	int rc;

	(void)arg;
	if ((rc = auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN, 64)) != 0)
		return rc;
	if ((rc = auth_nonce_make(key, t, T0, n)) == 0 &&
	    auth_nc_use(t, slice_cstr(n), 3) != AUTH_NC_OK)
		rc = EPROTO;
	auth_nc_table_free(&t);
	return rc;
}

static void test_allocation_failures(void)
{
	struct auth_nc_table *t = NULL;
	bool allocated;

	/* Creation allocates three blocks; each may fail, leaving nothing behind. */
	CHECK(CHECK_OOM_SWEEP(table_life, NULL, 20) == 4);
	/* After creation the table allocates nothing, whatever it is asked. */
	CHECK_INT(auth_nc_table_new(&t, AUTH_NC_WINDOW_MIN, 8), 0);
	check_oom_arm(1);
	for (uint32_t i = 0; i < 5 * AUTH_NC_WINDOW_MIN; i++) {
		uint64_t s = auth_nc_issue(t);

		(void)auth_nc_use_seq(t, s, 3 + i % 5);
		(void)auth_nc_use_seq(t, s - 100, 1);
	}
	allocated = check_oom_fired();
	check_oom_arm(0);
	auth_nc_table_free(&t);
	CHECK(!allocated);
}

/* ---- the issue 11 target, on a simulated clock ----------------------------- */

/* Deterministic pseudo-random numbers (xorshift64*): the same run every time. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rng(uint32_t n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1du) >> 32) % n;
}

/* Something to do with an earlier nonce at a later second. */
struct sim_ev {
	uint64_t seq;
	uint32_t nc;
	uint32_t created;       /* simulated second the nonce was made */
	uint8_t replay;         /* 1: a copy of an accepted request, must be refused */
	uint8_t more;           /* further reuses of this nonce still to schedule */
};

struct sim_slot {
	struct sim_ev *ev;
	size_t n, cap;
};

struct sim {
	struct auth_nc_table *t;
	struct sim_slot when[LIFETIME + 1]; /* ring: events due at second s */
	uint64_t answers, first_answers, false_stale, replays_sent, replays_accepted;
	uint64_t real_nonces, alloc_failed;
};

static void sim_at(struct sim *sm, uint32_t due, struct sim_ev ev)
{
	struct sim_slot *sl = &sm->when[due % (LIFETIME + 1)];

	if (sl->n == sl->cap) {
		size_t cap = sl->cap ? 2 * sl->cap : 1024;
		struct sim_ev *p = realloc(sl->ev, cap * sizeof(*p));

		if (!p) {
			sm->alloc_failed++;
			return;
		}
		sl->ev = p;
		sl->cap = cap;
	}
	sl->ev[sl->n++] = ev;
}

/*
 * A legitimate answer (nc one above the last) at second `now`, then what the
 * client does next: a captured copy replayed later, more reuses later, all
 * within the nonce's lifetime (age <= LIFETIME, as auth_nonce_check allows).
 */
static void sim_answer(struct sim *sm, struct sim_ev ev, uint32_t now)
{
	uint32_t left = ev.created + LIFETIME - now;

	sm->answers++;
	sm->first_answers += ev.nc == 1;
	if (auth_nc_use_seq(sm->t, ev.seq, ev.nc) != AUTH_NC_OK) {
		sm->false_stale++;
		return;
	}
	/* One accepted request in 50 is replayed by an attacker, now and later. */
	if (rng(50) == 0) {
		struct sim_ev r = ev;

		r.replay = 1;
		sm->replays_sent++;
		if (auth_nc_use_seq(sm->t, ev.seq, ev.nc) == AUTH_NC_OK)
			sm->replays_accepted++;
		if (left > 0)
			sim_at(sm, now + 1 + rng(left), r);
	}
	if (ev.more > 0 && left > 0) {
		struct sim_ev nx = ev;

		nx.nc++;
		nx.more--;
		sim_at(sm, now + 1 + rng(left), nx);
	}
}

static void sim_due(struct sim *sm, struct sim_ev ev, uint32_t now)
{
	if (!ev.replay) {
		sim_answer(sm, ev, now);
		return;
	}
	sm->replays_sent++;
	if (auth_nc_use_seq(sm->t, ev.seq, ev.nc) == AUTH_NC_OK)
		sm->replays_accepted++;
}

/*
 * 20,000 authentications per second for 600 simulated seconds, the default
 * window and reuse table (the server's defaults), nonce lifetime 300 s. Each
 * second issues 20,000 nonces; clients answer them in a closed loop of 200
 * in flight, except: 1 in 50 answers at a random later second up to the end
 * of its lifetime (a slow or retransmitting phone; some exactly at 300 s);
 * 1 in 100 reuses its nonce once more (nc 2) later within the lifetime, and
 * 1 in 5,000 four more times (nc 2 to 5, in the reuse table). One accepted
 * request in 50 is replayed, at once and at a random later second. Every
 * 1,000th nonce goes through the real nonce text (auth_nonce_make,
 * auth_nonce_check at its simulated second, auth_nc_use).
 *
 * Counted, not timed: no legitimate answer refused, no replay accepted,
 * 12,000,000 nonces issued, the memory the table holds unchanged from
 * creation.
 */
static void test_sustained_20000_per_s_for_600_s(void)
{
	enum { RATE = 20000, SECONDS = 600, IN_FLIGHT = 200 };
	static struct sim sm;
	static struct sim_ev loop[IN_FLIGHT];
	struct auth_nc_stats st0, st;
	uint64_t expected_first = 0;

	memset(&sm, 0, sizeof(sm));
	memset(loop, 0, sizeof(loop));
	rng_state = 0x9e3779b97f4a7c15u;
	CHECK_INT(auth_nc_table_new(&sm.t, AUTH_NC_WINDOW_DEFAULT, AUTH_NC_CAPACITY_DEFAULT), 0);
	auth_nc_table_stats(sm.t, &st0);

	for (uint32_t now = 0; now < SECONDS; now++) {
		struct sim_slot *due = &sm.when[now % (LIFETIME + 1)];
		size_t di = 0, dn = due->n;

		for (uint32_t i = 0; i < RATE; i++) {
			struct sim_ev ev = { 0, 1, now, 0, 0 };
			uint32_t r = rng(5000);

			/* Events due this second, spread over it. */
			for (; di < dn && di * RATE < (size_t)i * dn; di++)
				sim_due(&sm, due->ev[di], now);

			if (i % 1000 == 0) {
				char n[AUTH_NONCE_LEN + 1];
				struct auth_nonce_raw raw;

				/* The real text: made, decoded, checked at this second. */
				if (auth_nonce_make(key, sm.t, T0 + now, n) != 0 ||
				    auth_nonce_decode(&raw, slice_cstr(n)) != 0 ||
				    auth_nonce_check(key, slice_cstr(n), T0 + now, LIFETIME, NULL) !=
					    AUTH_NONCE_OK) {
					check_fail(__FILE__, __LINE__, "real nonce failed at %u", now);
					goto out;
				}
				ev.seq = raw.seq;
				sm.real_nonces++;
			} else {
				ev.seq = auth_nc_issue(sm.t);
			}
			expected_first++;
			if (r < 100) {
				/* Answered later, up to its last second of life. */
				sim_at(&sm, now + (r < 10 ? LIFETIME : 1 + rng(LIFETIME)), ev);
				continue;
			}
			if (r < 150)
				ev.more = 1;
			else if (r == 150)
				ev.more = 4;
			/* The closed loop: answered once 200 newer nonces are out. */
			if (loop[i % IN_FLIGHT].nc != 0) /* the loop's slot is in use */
				sim_answer(&sm, loop[i % IN_FLIGHT], now);
			loop[i % IN_FLIGHT] = ev;
		}
		for (; di < dn; di++)
			sim_due(&sm, due->ev[di], now);
		due->n = 0;
	}
	/* The last 200 of the loop. */
	for (uint32_t i = 0; i < IN_FLIGHT; i++)
		if (loop[i].nc != 0)
			sim_answer(&sm, loop[i], SECONDS - 1);

	auth_nc_table_stats(sm.t, &st);
	CHECK_INT(sm.alloc_failed, 0);
	CHECK_INT(st.issued, (uint64_t)RATE * SECONDS);
	CHECK_INT(sm.real_nonces, (uint64_t)RATE * SECONDS / 1000);
	/* Every nonce made in the first 300 s was answered (the later ones are
	 * partly still pending when the simulation stops), and more. */
	CHECK(sm.first_answers >= (uint64_t)RATE * (SECONDS - LIFETIME));
	CHECK(sm.answers > sm.first_answers);
	CHECK(sm.replays_sent > (uint64_t)RATE * SECONDS / 50);
	/* The target. */
	CHECK_INT(sm.false_stale, 0);
	CHECK_INT(sm.replays_accepted, 0);
	CHECK_INT(st.unknown, 0);
	CHECK_INT(st.replays, sm.replays_sent);
	CHECK_INT(st.bytes, st0.bytes);
	CHECK(st.bytes <= 4u << 20);
	CHECK(expected_first == (uint64_t)RATE * SECONDS);
out:
	for (size_t i = 0; i <= LIFETIME; i++)
		free(sm.when[i].ev);
	auth_nc_table_free(&sm.t);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_nc_parse),
		CASE(test_table_new_bounds),
		CASE(test_increasing_and_replay),
		CASE(test_state_transitions),
		CASE(test_other_table_unknown),
		CASE(test_window_limit),
		CASE(test_reuse_table_limit),
		CASE(test_reuse_slot_freed_by_window),
		CASE(test_overfill_never_accepts_replay),
		CASE(test_allocation_failures),
		CASE(test_sustained_20000_per_s_for_600_s),
	};

	return check_main("auth_replay", cases, ARRAY_SIZE(cases), argc, argv);
}
