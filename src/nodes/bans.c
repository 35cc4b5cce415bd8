/*
 * nodes/bans.c: the guard's bans and user locks kept in step with the store
 * (nodes.h, docs/guard.md, docs/scaling.md).
 *
 * Bans and locks started here go to the store on the next tick, so they
 * survive a restart and reach the other nodes; what another process
 * committed (`bastion ban add` / `delete`, another node's bans and locks) is
 * picked up within NODES_BAN_SYNC_MS: bans it added are applied, bans it
 * deleted are lifted, locks it stored are applied.
 */
#include "nodes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"
#include "../net/net.h"

struct nodes_bans {
	struct store_ban ban_q[NODES_BAN_QUEUE]; /* until in unix seconds */
	size_t nban_q;
	struct {
		char name[STORE_NAME_MAX];
		int64_t until;                   /* unix seconds */
	} lock_q[NODES_LOCK_QUEUE];
	size_t nlock_q;
	int64_t data_version;                    /* store_data_version at the last sync */
	uint64_t next_sync_ms, next_expire_ms;
	uint64_t unsaved;
};

int nodes_bans_new(struct nodes_bans **bp)
{
	struct nodes_bans *b;

	if (!bp)
		return EINVAL;
	if (!(b = calloc(1, sizeof(*b))))
		return ENOMEM;
	*bp = b;
	return 0;
}

void nodes_bans_free(struct nodes_bans **bp)
{
	if (!bp || !*bp)
		return;
	free(*bp);
	*bp = NULL;
}

uint64_t nodes_bans_unsaved(const struct nodes_bans *b)
{
	return b ? b->unsaved : 0;
}

/* ---- this node's bans and locks to the store ------------------------------------------ */

int nodes_bans_flush(struct nodes_bans *b, struct store *st)
{
	int rc = 0;

	if (!b || !st)
		return EINVAL;
	if (!b->nban_q && !b->nlock_q)
		return 0;
	if (store_batch_begin(st) == 0) {
		for (size_t i = 0; i < b->nlock_q && !rc; i++)
			if ((rc = store_locks_put(st, b->lock_q[i].name, b->lock_q[i].until)) ==
			    ENOSYS)
				rc = 0;
		for (size_t i = 0; i < b->nban_q && !rc; i++)
			rc = store_bans_put(st, &b->ban_q[i]);
		if (store_batch_end(st, rc == 0) != 0 && !rc)
			rc = EIO;
	} else {
		rc = EIO;
	}
	if (rc) {
		log_warn("%zu bans and %zu user locks not stored (they hold on this node until "
			 "restart): %s",
			 b->nban_q, b->nlock_q, strerror(rc));
		b->unsaved += b->nban_q;
	}
	b->nban_q = 0; /* a queue of refused writes is not retried forever */
	b->nlock_q = 0;
	return rc;
}

void nodes_bans_started(struct nodes_bans *b, struct store *st, const struct guard_ban_info *bi,
			const char *reason, uint64_t now_ms, int64_t now_s)
{
	struct store_ban *q;
	uint64_t left_ms;

	if (!b || !st || !bi)
		return;
	if (b->nban_q == NODES_BAN_QUEUE)
		(void)nodes_bans_flush(b, st);
	q = &b->ban_q[b->nban_q++];
	memset(q, 0, sizeof(*q));
	snprintf(q->addr, sizeof(q->addr), "%s", bi->addr);
	snprintf(q->reason, sizeof(q->reason), "%s", reason ? reason : "");
	q->count = bi->count;
	left_ms = bi->until_ms > now_ms ? bi->until_ms - now_ms : 0;
	q->until = now_s + (int64_t)((left_ms + 999) / 1000);
}

void nodes_bans_locked(struct nodes_bans *b, struct store *st, struct slice user, int64_t until)
{
	if (!b || !st)
		return;
	if (user.len >= STORE_NAME_MAX) {
		log_warn("user lock not stored (it holds on this node only)");
		return;
	}
	if (b->nlock_q == NODES_LOCK_QUEUE)
		(void)nodes_bans_flush(b, st);
	if (user.len)
		memcpy(b->lock_q[b->nlock_q].name, user.p, user.len);
	b->lock_q[b->nlock_q].name[user.len] = '\0';
	b->lock_q[b->nlock_q++].until = until;
}

/* ---- the store's bans and locks to the guard ------------------------------------------ */

struct sync_ctx {
	struct guard *g;
	uint32_t v6_prefix;
	uint64_t now_ms;
	int64_t now_s;
	char (*addr)[STORE_BAN_ADDR_MAX]; /* the stored keys, sorted before lifting */
	size_t n, cap;
	size_t lifted;
};

/* Apply one stored user lock to the guard. */
static int apply_lock(void *arg, const char *name, int64_t until)
{
	struct sync_ctx *c = arg;
	int64_t left = until - c->now_s;

	if (left > 0 &&
	    guard_lock_restore(c->g, slice_cstr(name), c->now_ms,
			       left > UINT32_MAX ? UINT32_MAX : (uint32_t)left))
		log_notice("user %s locked for %lld s (a lock from the store)", name,
			   (long long)left);
	return 0;
}

/* Take in the user locks of the store (other nodes', or an earlier run's). */
static int sync_locks(struct store *st, struct sync_ctx *c)
{
	int rc = store_locks_list(st, c->now_s, apply_lock, c);

	return rc == ENOSYS ? 0 : rc;
}

static int cmp_addr(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Apply one stored ban to the guard and remember its key. */
static int apply_stored(void *arg, const struct store_ban *b)
{
	struct sync_ctx *c = arg;
	int64_t left = b->until - c->now_s;
	struct net_addr a;
	char key[STORE_BAN_ADDR_MAX];

	if (guard_key_parse(&a, key, sizeof(key), b->addr, c->v6_prefix) != 0) {
		log_warn("stored ban of \"%s\" ignored: not an address of this configuration",
			 b->addr);
		return 0;
	}
	if (left > 0)
		guard_ban_restore(c->g, &a, c->now_ms,
				  left > UINT32_MAX ? UINT32_MAX : (uint32_t)left, b->count);
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		void *p = realloc(c->addr, cap * sizeof(*c->addr));

		if (!p)
			return ENOMEM;
		c->addr = p;
		c->cap = cap;
	}
	memcpy(c->addr[c->n++], key, sizeof(key));
	return 0;
}

/* Lift one of the guard's bans when the store no longer has it. */
static void lift_if_deleted(void *arg, const struct guard_ban_info *bi)
{
	struct sync_ctx *c = arg;
	struct net_addr a;
	char key[STORE_BAN_ADDR_MAX];

	if (c->n && bsearch(bi->addr, c->addr, c->n, sizeof(*c->addr), cmp_addr))
		return;
	if (guard_key_parse(&a, key, sizeof(key), bi->addr, c->v6_prefix) == 0 &&
	    guard_unban(c->g, &a, c->now_ms))
		c->lifted++;
}

/* Make the guard's bans those of the store: apply every stored ban; with
 * lift, also lift the bans the store no longer has (deleted by the CLI).
 * Every ban of this node has been flushed before. */
static int sync_bans(struct store *st, struct sync_ctx *c, bool lift)
{
	int rc = store_bans_list(st, c->now_s, apply_stored, c);

	if (rc == 0 && lift) {
		if (c->n) /* (never hand qsort a NULL array) */
			qsort(c->addr, c->n, sizeof(*c->addr), cmp_addr);
		guard_list_bans(c->g, c->now_ms, lift_if_deleted, c);
		if (c->lifted)
			log_notice("%zu bans lifted from the store", c->lifted);
	}
	free(c->addr);
	c->addr = NULL;
	c->n = c->cap = 0;
	return rc;
}

int nodes_bans_load(struct nodes_bans *b, struct store *st, struct guard *g,
		    uint32_t v6_prefix, uint64_t now_ms, int64_t now_s)
{
	struct sync_ctx c = { .g = g, .v6_prefix = v6_prefix, .now_ms = now_ms, .now_s = now_s };
	int rc;

	if (!b || !st || !g)
		return EINVAL;
	if ((rc = store_data_version(st, &b->data_version)) == 0 &&
	    (rc = sync_bans(st, &c, false)) == 0)
		rc = sync_locks(st, &c);
	return rc;
}

void nodes_bans_tick(struct nodes_bans *b, struct store *st, struct guard *g,
		     uint32_t v6_prefix, uint64_t now_ms, int64_t now_s)
{
	struct sync_ctx c = { .g = g, .v6_prefix = v6_prefix, .now_ms = now_ms, .now_s = now_s };
	int64_t dv;
	int rc;

	if (!b || !st || !g)
		return;
	(void)nodes_bans_flush(b, st);
	if (now_ms < b->next_sync_ms)
		return;
	b->next_sync_ms = now_ms + NODES_BAN_SYNC_MS;
	if (now_ms >= b->next_expire_ms) {
		b->next_expire_ms = now_ms + NODES_BAN_EXPIRE_MS;
		if ((rc = store_bans_expire(st, NULL, now_s)) != 0)
			log_warn("ended bans not removed from the store: %s", strerror(rc));
	}
	if (store_data_version(st, &dv) != 0 || dv == b->data_version)
		return;
	b->data_version = dv;
	if ((rc = sync_bans(st, &c, true)) != 0)
		log_warn("bans not reloaded from the store: %s", strerror(rc));
	if ((rc = sync_locks(st, &c)) != 0)
		log_warn("user locks not reloaded from the store: %s", strerror(rc));
}
