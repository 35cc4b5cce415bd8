/*
 * fraud.c: toll-fraud counters of users and peers in fixed time slots, the
 * limits over them and the burst alert (trunk.h says what each decides,
 * docs/trunks.md why). Pure: the caller hands in the time.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "trunk.h"

bool trunk_class_intl(enum trunk_class k)
{
	return k == TRUNK_CLASS_INTERNATIONAL || k == TRUNK_CLASS_PREMIUM;
}

void trunk_usage_init(struct trunk_usage *u)
{
	memset(u, 0, sizeof(*u));
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Bring each ring to the slot of now: the slots that passed are emptied
 * (at most a ring's length each, whatever the gap). A clock that stepped
 * back keeps the current slot. window 0 leaves the burst ring alone. */
static void advance(struct trunk_usage *u, int64_t now, uint32_t window)
{
	int64_t h = floor_div(now, TRUNK_HOUR_SLOT_S), d = floor_div(now, TRUNK_DAY_SLOT_S);
	int64_t bl = window >= TRUNK_BURST_SLOTS ? window / TRUNK_BURST_SLOTS : 1;
	int64_t b = window ? floor_div(now, bl) : u->burst_slot;

	if (b + TRUNK_BURST_SLOTS < u->burst_slot) {
		/* the window was made longer (SIGHUP): its slots are other ones */
		trunk_usage_forgive(u);
		u->burst_slot = b;
	}

	for (int64_t i = 0; h > u->hour_slot && i < TRUNK_HOUR_SLOTS; i++) {
		size_t k = (size_t)((u->hour_slot + 1 + i) % TRUNK_HOUR_SLOTS);
		if (u->hour_slot + 1 + i > h)
			break;
		u->calls_sum -= u->calls[k];
		u->calls[k] = 0;
	}
	if (h > u->hour_slot)
		u->hour_slot = h;
	for (int64_t i = 0; d > u->day_slot && i < TRUNK_DAY_SLOTS; i++) {
		size_t k = (size_t)((u->day_slot + 1 + i) % TRUNK_DAY_SLOTS);
		if (u->day_slot + 1 + i > d)
			break;
		for (int c = 0; c < 2; c++) {
			u->secs_sum[c] -= u->secs[k][c];
			u->secs[k][c] = 0;
		}
	}
	if (d > u->day_slot)
		u->day_slot = d;
	for (int64_t i = 0; b > u->burst_slot && i < TRUNK_BURST_SLOTS; i++) {
		size_t k = (size_t)((u->burst_slot + 1 + i) % TRUNK_BURST_SLOTS);
		if (u->burst_slot + 1 + i > b)
			break;
		u->short_sum -= u->short_intl[k];
		u->short_intl[k] = 0;
		memset(u->dest[k], 0, sizeof(u->dest[k]));
	}
	if (b > u->burst_slot)
		u->burst_slot = b;
}

void trunk_limits_check(struct trunk_verdict *v, struct trunk_usage *u,
			const struct trunk_limits *lim, bool intl, int64_t now, bool peer)
{
	uint32_t mins;

	memset(v, 0, sizeof(*v));
	v->allow = true;
	v->detail = "within the limits";
	if (!u)
		return;
	advance(u, now, 0);
	if (lim->calls_per_hour && (uint64_t)u->calls_sum + u->calls_ext >= lim->calls_per_hour) {
		v->detail = peer ? "the peer's calls in the last hour reached its calls_per_hour"
				 : "the caller's outside calls in the last hour reached [fraud] "
				   "calls_per_hour";
		goto refuse;
	}
	{
		uint64_t secs = u->secs_sum[intl] + u->secs_ext[intl];
		mins = (uint32_t)(secs / 60 > UINT32_MAX ? UINT32_MAX : secs / 60);
	}
	if (intl && lim->intl_minutes_per_day && mins >= lim->intl_minutes_per_day) {
		v->detail = peer ? "the peer's international minutes in the last day reached its "
				   "international_minutes_per_day"
				 : "the caller's international minutes in the last day reached "
				   "[fraud] international_minutes_per_day";
		goto refuse;
	}
	if (!intl && lim->minutes_per_day && mins >= lim->minutes_per_day) {
		v->detail = peer ? "the peer's minutes in the last day reached its minutes_per_day"
				 : "the caller's minutes in the last day reached [fraud] "
				   "minutes_per_day";
		goto refuse;
	}
	return;
refuse:
	v->allow = false;
	v->status = 403;
	v->reason = "Outside Call Limit Reached";
	v->event = TRUNK_EVENT_FRAUD_LIMIT;
}

void trunk_usage_placed(struct trunk_usage *u, uint64_t dest_hash, int64_t now, uint32_t window)
{
	size_t bit = (size_t)(dest_hash % (TRUNK_DEST_WORDS * 64));

	advance(u, now, window);
	if (u->calls[u->hour_slot % TRUNK_HOUR_SLOTS] < UINT16_MAX) {
		u->calls[u->hour_slot % TRUNK_HOUR_SLOTS]++;
		u->calls_sum++;
	}
	u->dest[u->burst_slot % TRUNK_BURST_SLOTS][bit / 64] |= (uint64_t)1 << (bit % 64);
}

void trunk_usage_ended(struct trunk_usage *u, bool intl, uint64_t connected_s, int64_t now,
		       uint32_t window, uint32_t short_call)
{
	size_t d, b;
	uint32_t add = connected_s > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)connected_s;

	advance(u, now, window);
	d = (size_t)(u->day_slot % TRUNK_DAY_SLOTS);
	b = (size_t)(u->burst_slot % TRUNK_BURST_SLOTS);
	if (u->secs[d][intl] <= UINT32_MAX - add) {
		u->secs[d][intl] += add;
		u->secs_sum[intl] += add;
	}
	if (intl && connected_s < short_call && u->short_intl[b] < UINT16_MAX) {
		u->short_intl[b]++;
		u->short_sum++;
	}
}

/* ln(y) for 0 < y <= 1, without libm: y = z / 2^k with z in [0.5, 1], and
 * ln z = 2 atanh((z - 1) / (z + 1)), whose series converges fast there. */
static double ln_unit(double y)
{
	double z = y, t, t2, term, sum = 0;
	int k = 0;

	while (z < 0.5 && k < 64) {
		z *= 2;
		k++;
	}
	t = (z - 1) / (z + 1);
	t2 = t * t;
	term = t;
	for (int i = 1; i < 40; i += 2) {
		sum += term / i;
		term *= t2;
	}
	return 2 * sum - k * 0.69314718055994530942;
}

uint32_t trunk_usage_destinations(struct trunk_usage *u, int64_t now, uint32_t window)
{
	const double m = TRUNK_DEST_WORDS * 64;
	unsigned set = 0;
	double est;

	advance(u, now, window);
	for (size_t w = 0; w < TRUNK_DEST_WORDS; w++) {
		uint64_t x = 0;
		for (size_t s = 0; s < TRUNK_BURST_SLOTS; s++)
			x |= u->dest[s][w];
		set += (unsigned)__builtin_popcountll(x);
	}
	if (set >= m)
		return (uint32_t)m * 8; /* saturated: far above any threshold */
	/* linear counting: n = -m ln(empty / m); never below the bits set */
	est = -m * ln_unit((m - set) / m);
	return est < set ? set : (uint32_t)(est + 0.5);
}

bool trunk_burst(struct trunk_usage *u, const struct trunk_fraud_conf *f, int64_t now,
		 char *why, size_t cap)
{
	uint32_t dests = trunk_usage_destinations(u, now, f->alert_window);
	bool shorts = f->alert_short_calls && u->short_sum >= f->alert_short_calls;
	bool many = f->alert_destinations && dests >= f->alert_destinations;

	if (!shorts && !many) {
		u->alerted = false; /* ebbed: the next burst is news again */
		return false;
	}
	if (u->alerted)
		return false;
	u->alerted = true;
	if (shorts)
		snprintf(why, cap, "%u short international calls (under %u s) within %u s reached "
			 "[fraud] alert_short_calls", u->short_sum, f->short_call, f->alert_window);
	else
		snprintf(why, cap, "about %u different destinations within %u s reached [fraud] "
			 "alert_destinations", dests, f->alert_window);
	return true;
}

void trunk_usage_forgive(struct trunk_usage *u)
{
	memset(u->short_intl, 0, sizeof(u->short_intl));
	u->short_sum = 0;
	memset(u->dest, 0, sizeof(u->dest));
	u->alerted = false;
}

bool trunk_usage_idle(struct trunk_usage *u, int64_t now, uint32_t window)
{
	advance(u, now, window);
	if (u->calls_sum || u->secs_sum[0] || u->secs_sum[1] || u->short_sum || u->alerted)
		return false;
	for (size_t s = 0; s < TRUNK_BURST_SLOTS; s++)
		for (size_t w = 0; w < TRUNK_DEST_WORDS; w++)
			if (u->dest[s][w])
				return false;
	return true;
}

uint32_t trunk_bucket_check(struct trunk_bucket *b, uint32_t rate, uint64_t now_ms, bool take)
{
	uint64_t cap = (uint64_t)rate * 1000u, need;

	if (!rate)
		return 0;
	if (!b->started || b->rate != rate) {
		b->started = true;
		b->rate = rate;
		b->milli = cap;
		b->at_ms = now_ms;
	}
	if (now_ms > b->at_ms) {
		/* rate calls a second is rate thousandths a millisecond */
		uint64_t dt = now_ms - b->at_ms;
		b->milli = dt >= 1000u ? cap : b->milli + dt * rate;
		if (b->milli > cap)
			b->milli = cap;
		b->at_ms = now_ms;
	}
	if (b->milli >= 1000u) {
		if (take)
			b->milli -= 1000u;
		return 0;
	}
	need = 1000u - b->milli;
	return (uint32_t)((need + rate - 1) / rate); /* >= 1: need > 0 */
}

int trunk_usage_encode(char *out, size_t cap, const struct trunk_usage *u)
{
	size_t used;
	int n;

	n = snprintf(out, cap, "1;%lld;", (long long)u->hour_slot);
	if (n < 0 || (size_t)n >= cap)
		return EOVERFLOW;
	used = (size_t)n;
	for (size_t i = 0; i < TRUNK_HOUR_SLOTS; i++) {
		n = snprintf(out + used, cap - used, "%s%u", i ? "," : "", u->calls[i]);
		if (n < 0 || (size_t)n >= cap - used)
			return EOVERFLOW;
		used += (size_t)n;
	}
	n = snprintf(out + used, cap - used, ";%lld", (long long)u->day_slot);
	if (n < 0 || (size_t)n >= cap - used)
		return EOVERFLOW;
	used += (size_t)n;
	for (size_t c = 0; c < 2; c++)
		for (size_t i = 0; i < TRUNK_DAY_SLOTS; i++) {
			n = snprintf(out + used, cap - used, "%s%u", i ? "," : ";", u->secs[i][c]);
			if (n < 0 || (size_t)n >= cap - used)
				return EOVERFLOW;
			used += (size_t)n;
		}
	return 0;
}

/* The next decimal field of *in up to sep (or the end when sep is 0) as an
 * integer in [lo, hi]; the separator is consumed. */
static bool next_num(struct slice *in, char sep, int64_t lo, int64_t hi, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0;

	if (i < in->len && in->p[i] == '-') {
		neg = true;
		i++;
	}
	if (i == in->len || in->p[i] < '0' || in->p[i] > '9')
		return false;
	for (; i < in->len && in->p[i] >= '0' && in->p[i] <= '9'; i++) {
		if (v > (uint64_t)INT64_MAX / 10)
			return false;
		v = v * 10 + (uint64_t)(in->p[i] - '0');
		if (v > (uint64_t)INT64_MAX)
			return false;
	}
	if (sep ? (i == in->len || in->p[i] != sep) : i != in->len)
		return false;
	*out = neg ? -(int64_t)v : (int64_t)v;
	if (*out < lo || *out > hi)
		return false;
	*in = slice_make(in->p + i + (sep ? 1 : 0), in->len - i - (sep ? 1 : 0));
	return true;
}

int trunk_usage_decode(struct trunk_usage *u, struct slice in, int64_t now)
{
	const int64_t slot_max = INT64_MAX / TRUNK_DAY_SLOT_S;
	int64_t v;

	trunk_usage_init(u);
	if (!in.p || !next_num(&in, ';', 1, 1, &v) ||
	    !next_num(&in, ';', 0, slot_max, &u->hour_slot))
		goto bad;
	for (size_t i = 0; i < TRUNK_HOUR_SLOTS; i++) {
		if (!next_num(&in, i + 1 < TRUNK_HOUR_SLOTS ? ',' : ';', 0, UINT16_MAX, &v))
			goto bad;
		u->calls[i] = (uint16_t)v;
		u->calls_sum += (uint32_t)v;
	}
	if (!next_num(&in, ';', 0, slot_max, &u->day_slot))
		goto bad;
	for (size_t c = 0; c < 2; c++)
		for (size_t i = 0; i < TRUNK_DAY_SLOTS; i++) {
			bool last = c == 1 && i + 1 == TRUNK_DAY_SLOTS;
			if (!next_num(&in, last ? 0 : i + 1 < TRUNK_DAY_SLOTS ? ',' : ';', 0,
				      UINT32_MAX / 2, &v))
				goto bad;
			u->secs[i][c] = (uint32_t)v;
			u->secs_sum[c] += (uint64_t)v;
		}
	/* a ring from the future (a clock that went back, another node's
	 * clock ahead) would hold its counts until now caught up: refused */
	if (u->hour_slot > floor_div(now, TRUNK_HOUR_SLOT_S) + 1 ||
	    u->day_slot > floor_div(now, TRUNK_DAY_SLOT_S) + 1)
		goto bad;
	advance(u, now, 0); /* window 0: the burst ring (not stored) stays empty */
	return 0;
bad:
	trunk_usage_init(u);
	return EBADMSG;
}
