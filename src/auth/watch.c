/*
 * auth/watch.c: which users' phones do not take SHA-256 digest.
 *
 * RFC 8760 2.4 asks a client to use the first challenge it supports, and many
 * deployed phones support MD5 only; some (baresip 1.0 with libre 1.1) even give
 * up on the whole 401 when one of its challenges is SHA-256. The operator
 * finds them by two notes, each given once per user and process:
 *   - a user offered SHA-256 authenticated with MD5 (the phone skipped SHA-256);
 *   - `limit` challenges offering SHA-256 went to a known user in a row without
 *     a successful authentication (the phone never answers them).
 * Either means: `bastion user set NAME --digest md5` (docs/users.md).
 *
 * Only known users are tracked (the caller checks), so a scanner sending
 * names cannot fill the table; a known user's name in To/From is not proof
 * of anything, so these are hints for the operator, never decisions. The
 * table is direct-mapped with AUTH_WATCH_SLOTS slots: a colliding user takes
 * the slot over, which at worst delays or repeats a note. The slot is chosen
 * by base's SipHash under a key of the table's: the peer chooses which known
 * name it sends, and under an unkeyed hash it could pick names that share a
 * slot and keep every phone's count from ever reaching its note.
 */
#include "auth.h"

#include <errno.h>
#include <stdlib.h>

struct watch_slot {
	uint64_t hash;        /* 0: empty */
	uint32_t unanswered;  /* SHA-256 challenges since the last success */
	bool noted_unanswered, noted_md5;
};

struct auth_watch {
	struct hash_key key;
	struct watch_slot slot[AUTH_WATCH_SLOTS];
};

int auth_watch_new(struct auth_watch **wp)
{
	struct auth_watch *w;

	if (!wp)
		return EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return ENOMEM;
	if (hash_key_random(&w->key) != 0) {
		free(w);
		return EIO;
	}
	*wp = w;
	return 0;
}

void auth_watch_free(struct auth_watch **wp)
{
	if (!wp || !*wp)
		return;
	free(*wp);
	*wp = NULL;
}

/* Keyed SipHash, never 0 (0 marks an empty slot). */
static uint64_t name_hash(const struct auth_watch *w, struct slice user)
{
	uint64_t h = hash_siphash(&w->key, user.p, user.len);

	return h ? h : 1;
}

static struct watch_slot *slot_for(struct auth_watch *w, struct slice user)
{
	uint64_t h = name_hash(w, user);
	struct watch_slot *s = &w->slot[h & (AUTH_WATCH_SLOTS - 1)];

	if (s->hash != h)
		*s = (struct watch_slot){ .hash = h };
	return s;
}

enum auth_watch_note auth_watch_challenged(struct auth_watch *w, struct slice user,
					   unsigned offer, uint32_t limit)
{
	struct watch_slot *s;

	if (!w || !user.len || !(offer & AUTH_ALGO_BIT(AUTH_ALGO_SHA256)) || limit == 0)
		return AUTH_WATCH_NONE;
	s = slot_for(w, user);
	if (s->unanswered < UINT32_MAX)
		s->unanswered++;
	if (s->unanswered >= limit && !s->noted_unanswered) {
		s->noted_unanswered = true;
		return AUTH_WATCH_SHA256_UNANSWERED;
	}
	return AUTH_WATCH_NONE;
}

enum auth_watch_note auth_watch_ok(struct auth_watch *w, struct slice user, enum auth_algo algo,
				   unsigned offer)
{
	struct watch_slot *s;

	if (!w || !user.len)
		return AUTH_WATCH_NONE;
	s = slot_for(w, user);
	s->unanswered = 0;
	s->noted_unanswered = false; /* a phone that stops answering later is noted again */
	if (algo == AUTH_ALGO_MD5 && (offer & AUTH_ALGO_BIT(AUTH_ALGO_SHA256)) && !s->noted_md5) {
		s->noted_md5 = true;
		return AUTH_WATCH_MD5_ANSWER;
	}
	return AUTH_WATCH_NONE;
}
