/*
 * The nonce-count replay table: per nonce, the highest nc accepted.
 *
 * Set-associative: 2^k buckets of AUTH_NC_WAYS slots in one allocation made
 * at creation. A nonce's bucket is chosen by the first bytes of its HMAC tag
 * (uniform and not chosen by any peer) and it is found by comparing the
 * full 128-bit tag. A full bucket evicts its least recently used slot and
 * raises the floor, so that an evicted nonce comes back as UNKNOWN rather
 * than as a new nonce whose old counts could be replayed.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

#include <openssl/rand.h>

struct nc_slot {
	uint8_t id[AUTH_NONCE_TAG];
	uint64_t created;   /* nonce creation time, seconds */
	uint64_t stamp;     /* table tick of last use; 0 = empty slot */
	uint32_t last_nc;
};

struct auth_nc_table {
	struct nc_slot *slots;
	uint32_t nbuckets;  /* power of two */
	uint32_t used;
	uint64_t secret;
	uint64_t tick;
	uint64_t floor;
	uint64_t evictions, replays, unknown;
};

int auth_nc_table_new(struct auth_nc_table **tp, uint32_t capacity, uint64_t now)
{
	struct auth_nc_table *t;
	uint32_t nb = 1;

	if (!tp || capacity < AUTH_NC_CAPACITY_MIN || capacity > AUTH_NC_CAPACITY_MAX)
		return EINVAL;
	while ((uint64_t)nb * AUTH_NC_WAYS < capacity)
		nb <<= 1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return ENOMEM;
	t->slots = calloc((size_t)nb * AUTH_NC_WAYS, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return ENOMEM;
	}
	if (RAND_bytes((unsigned char *)&t->secret, sizeof(t->secret)) != 1) {
		free(t->slots);
		free(t);
		return EIO;
	}
	t->nbuckets = nb;
	t->floor = now;
	*tp = t;
	return 0;
}

void auth_nc_table_free(struct auth_nc_table **tp)
{
	if (!tp || !*tp)
		return;
	free((*tp)->slots);
	free(*tp);
	*tp = NULL;
}

enum auth_nc_status auth_nc_use(struct auth_nc_table *t, struct slice nonce, uint32_t nc)
{
	struct auth_nonce_raw raw;
	struct nc_slot *b, *victim = NULL;
	uint64_t h = 0;

	if (!t || nc == 0 || auth_nonce_decode(&raw, nonce) != 0) {
		if (t)
			t->unknown++;
		return AUTH_NC_UNKNOWN;
	}
	for (int i = 0; i < 8; i++)
		h = h << 8 | raw.tag[8 + i];
	h = (h ^ t->secret) * 0x9e3779b97f4a7c15u;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 32;
	b = &t->slots[(size_t)(h & (t->nbuckets - 1)) * AUTH_NC_WAYS];

	for (uint32_t i = 0; i < AUTH_NC_WAYS; i++) {
		struct nc_slot *s = &b[i];

		if (s->stamp == 0) {
			if (!victim || victim->stamp != 0)
				victim = s;
			continue;
		}
		if (memcmp(s->id, raw.tag, AUTH_NONCE_TAG) == 0) {
			if (nc <= s->last_nc) {
				t->replays++;
				return AUTH_NC_REPLAY;
			}
			s->last_nc = nc;
			s->stamp = ++t->tick;
			return AUTH_NC_OK;
		}
		if (!victim || (victim->stamp != 0 && s->stamp < victim->stamp))
			victim = s;
	}

	/* Not in the table: new, or forgotten. */
	if (raw.created <= t->floor) {
		t->unknown++;
		return AUTH_NC_UNKNOWN;
	}
	if (victim->stamp != 0) {
		t->evictions++;
		if (victim->created > t->floor)
			t->floor = victim->created;
	} else {
		t->used++;
	}
	memcpy(victim->id, raw.tag, AUTH_NONCE_TAG);
	victim->created = raw.created;
	victim->last_nc = nc;
	victim->stamp = ++t->tick;
	return AUTH_NC_OK;
}

void auth_nc_table_stats(const struct auth_nc_table *t, struct auth_nc_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!t)
		return;
	st->capacity = t->nbuckets * AUTH_NC_WAYS;
	st->used = t->used;
	st->evictions = t->evictions;
	st->replays = t->replays;
	st->unknown = t->unknown;
	st->floor = t->floor;
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
