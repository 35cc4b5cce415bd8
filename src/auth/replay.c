/*
 * The nonce-count replay table: per nonce, the highest nc accepted.
 *
 * Every nonce carries a sequence number that this table issued
 * (auth_nc_issue, called by auth_nonce_make), covered by the nonce's HMAC
 * tag. The table keeps two things, both allocated once at creation:
 *
 * - The window: 2 bits of state for each of the last `window` sequence
 *   numbers issued, in a ring indexed by the low bits of the sequence number.
 *   0: issued, never answered; 1 or 2: answered, highest nc so far 1 or 2;
 *   3: answered with a higher nc, which the reuse table holds. Issuing a
 *   sequence number clears its ring position, which belonged to the number
 *   `window` before it: that older nonce is now outside the window, and is
 *   UNKNOWN from then on.
 * - The reuse table, for nonces answered with nc above 2 (a client that
 *   reuses a nonce): set-associative, 2^k buckets of AUTH_NC_WAYS slots,
 *   bucket chosen by the sequence number mixed with a random per-table
 *   secret, least recently used slot evicted from a full bucket. An evicted
 *   nonce stays in state 3 without a slot, so its next use is UNKNOWN.
 *
 * So a lookup is exact for every nonce inside the window: a nonce answered
 * for the first time is accepted however many others were answered since
 * (the old single "floor" marked every unseen nonce of an evicted nonce's
 * second as unknown, so phones got stale=true for fresh nonces as soon as
 * the table was full), and forgetting one nonce (reuse-table eviction) never
 * affects another. What is forgotten is always refused (UNKNOWN: the caller
 * answers stale=true), never accepted afresh.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

#include <openssl/rand.h>

#define NC_DIRECT_MAX 2u        /* highest nc held in the window itself */
#define NC_IN_TABLE 3u          /* window state: the reuse table holds the nc */
#define NC_PER_WORD 32u         /* 2-bit states in a uint64_t */

struct nc_slot {
	uint64_t seq;
	uint64_t stamp;         /* table tick of last use; 0 = empty slot */
	uint32_t last_nc;
};

struct auth_nc_table {
	uint64_t *bits;         /* the window: window / NC_PER_WORD words */
	struct nc_slot *slots;  /* the reuse table: nbuckets * AUTH_NC_WAYS */
	uint32_t window;        /* power of two */
	uint32_t nbuckets;      /* power of two */
	uint32_t used;
	uint64_t next;          /* the next sequence number to issue */
	uint64_t issued;
	uint64_t secret;
	uint64_t tick;
	uint32_t epoch;         /* written into the nonces made with this table */
	uint64_t evictions, replays, unknown, outside, forgotten;
};

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

int auth_nc_table_new(struct auth_nc_table **tp, uint32_t window, uint32_t capacity)
{
	struct auth_nc_table *t;
	uint32_t nb;
	uint64_t start;
	int err = ENOMEM;

	if (!tp || window < AUTH_NC_WINDOW_MIN || window > AUTH_NC_WINDOW_MAX ||
	    capacity < AUTH_NC_CAPACITY_MIN || capacity > AUTH_NC_CAPACITY_MAX)
		return EINVAL;
	nb = pow2_at_least((capacity + AUTH_NC_WAYS - 1) / AUTH_NC_WAYS);
	t = calloc(1, sizeof(*t));
	if (!t)
		return ENOMEM;
	t->window = pow2_at_least(window);
	t->nbuckets = nb;
	t->bits = calloc(t->window / NC_PER_WORD, sizeof(*t->bits));
	t->slots = calloc((size_t)nb * AUTH_NC_WAYS, sizeof(*t->slots));
	if (!t->bits || !t->slots)
		goto out;
	/*
	 * A random first sequence number: a nonce made with the same key for
	 * another table (tests do that; the server derives a key per run) lies
	 * outside this one's issued range, which use_seq checks anyway.
	 */
	if (RAND_bytes((unsigned char *)&t->secret, sizeof(t->secret)) != 1 ||
	    RAND_bytes((unsigned char *)&start, sizeof(start)) != 1) {
		err = EIO;
		goto out;
	}
	t->next = start >> 2;
	*tp = t;
	return 0;
out:
	free(t->bits);
	free(t->slots);
	free(t);
	return err;
}

void auth_nc_table_set_epoch(struct auth_nc_table *t, uint32_t epoch)
{
	t->epoch = epoch;
}

uint32_t auth_nc_table_epoch(const struct auth_nc_table *t)
{
	return t ? t->epoch : 0;
}

uint64_t auth_nc_table_next(const struct auth_nc_table *t)
{
	return t ? t->next : 0;
}

void auth_nc_table_free(struct auth_nc_table **tp)
{
	if (!tp || !*tp)
		return;
	free((*tp)->bits);
	free((*tp)->slots);
	free(*tp);
	*tp = NULL;
}

static unsigned state_get(const struct auth_nc_table *t, uint64_t seq)
{
	uint64_t i = seq & (t->window - 1);

	return (unsigned)(t->bits[i / NC_PER_WORD] >> (2 * (i % NC_PER_WORD))) & 3u;
}

static void state_set(struct auth_nc_table *t, uint64_t seq, unsigned v)
{
	uint64_t i = seq & (t->window - 1);
	unsigned sh = 2 * (unsigned)(i % NC_PER_WORD);
	uint64_t *w = &t->bits[i / NC_PER_WORD];

	*w = (*w & ~((uint64_t)3 << sh)) | ((uint64_t)v << sh);
}

uint64_t auth_nc_issue(struct auth_nc_table *t)
{
	uint64_t seq = t->next++;

	/* The position held the nonce `window` before this one. */
	state_set(t, seq, 0);
	t->issued++;
	return seq;
}

/* Issued by this table and not yet slid out of the window. */
static bool in_window(const struct auth_nc_table *t, uint64_t seq)
{
	uint64_t back = t->next - seq; /* 1 for the newest nonce */

	return back >= 1 && back <= t->window && back <= t->issued;
}

static struct nc_slot *bucket_of(const struct auth_nc_table *t, uint64_t seq)
{
	uint64_t h = (seq ^ t->secret) * 0x9e3779b97f4a7c15u;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 32;
	return &t->slots[(size_t)(h & (t->nbuckets - 1)) * AUTH_NC_WAYS];
}

/* A nonce in state NC_IN_TABLE: its slot, or NULL when it was evicted. */
static struct nc_slot *slot_find(const struct auth_nc_table *t, uint64_t seq)
{
	struct nc_slot *b = bucket_of(t, seq);

	for (uint32_t i = 0; i < AUTH_NC_WAYS; i++)
		if (b[i].stamp != 0 && b[i].seq == seq)
			return &b[i];
	return NULL;
}

/*
 * Give seq a slot: an empty one, else one whose nonce has left the window
 * (it can never be asked for again), else the least recently used one,
 * whose nonce is then forgotten (it stays in state NC_IN_TABLE without a
 * slot, so its next use is UNKNOWN).
 */
static void slot_insert(struct auth_nc_table *t, uint64_t seq, uint32_t nc)
{
	struct nc_slot *b = bucket_of(t, seq), *victim = NULL;

	for (uint32_t i = 0; i < AUTH_NC_WAYS; i++) {
		struct nc_slot *s = &b[i];

		if (s->stamp == 0 || !in_window(t, s->seq)) {
			victim = s;
			break;
		}
		if (!victim || s->stamp < victim->stamp)
			victim = s;
	}
	if (victim->stamp == 0)
		t->used++;
	else if (in_window(t, victim->seq))
		t->evictions++;
	victim->seq = seq;
	victim->last_nc = nc;
	victim->stamp = ++t->tick;
}

enum auth_nc_status auth_nc_use_seq(struct auth_nc_table *t, uint64_t seq, uint32_t nc)
{
	unsigned st;
	struct nc_slot *s;

	if (nc == 0) {
		t->unknown++;
		return AUTH_NC_UNKNOWN;
	}
	if (!in_window(t, seq)) {
		t->outside++;
		t->unknown++;
		return AUTH_NC_UNKNOWN;
	}
	st = state_get(t, seq);
	if (st != NC_IN_TABLE) {
		if (nc <= st) {
			t->replays++;
			return AUTH_NC_REPLAY;
		}
		if (nc <= NC_DIRECT_MAX) {
			state_set(t, seq, nc);
		} else {
			slot_insert(t, seq, nc);
			state_set(t, seq, NC_IN_TABLE);
		}
		return AUTH_NC_OK;
	}
	s = slot_find(t, seq);
	if (!s) {
		t->forgotten++;
		t->unknown++;
		return AUTH_NC_UNKNOWN;
	}
	if (nc <= s->last_nc) {
		t->replays++;
		return AUTH_NC_REPLAY;
	}
	s->last_nc = nc;
	s->stamp = ++t->tick;
	return AUTH_NC_OK;
}

enum auth_nc_status auth_nc_use(struct auth_nc_table *t, struct slice nonce, uint32_t nc)
{
	struct auth_nonce_raw raw;

	if (!t)
		return AUTH_NC_UNKNOWN;
	if (auth_nonce_decode(&raw, nonce) != 0) {
		t->unknown++;
		return AUTH_NC_UNKNOWN;
	}
	return auth_nc_use_seq(t, raw.seq, nc);
}

void auth_nc_table_stats(const struct auth_nc_table *t, struct auth_nc_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!t)
		return;
	st->window = t->window;
	st->capacity = t->nbuckets * AUTH_NC_WAYS;
	st->used = t->used;
	st->issued = t->issued;
	st->evictions = t->evictions;
	st->replays = t->replays;
	st->unknown = t->unknown;
	st->outside = t->outside;
	st->forgotten = t->forgotten;
	st->bytes = sizeof(*t) + (size_t)t->window / NC_PER_WORD * sizeof(*t->bits) +
		    (size_t)st->capacity * sizeof(*t->slots);
}

int auth_nc_parse(uint32_t *out, struct slice s)
{
	uint32_t v = 0;

	if (!s.p || s.len != 8)
		return EBADMSG;
	for (size_t i = 0; i < 8; i++) {
		int d = hex_digit((unsigned char)s.p[i]);

		if (d < 0)
			return EBADMSG;
		v = (v << 4) | (uint32_t)d;
	}
	if (v == 0)
		return EBADMSG;
	*out = v;
	return 0;
}
