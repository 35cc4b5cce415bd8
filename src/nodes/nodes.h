/*
 * nodes/: what one node of several does so that they act as one, above the
 * store, auth and guard layers (docs/scaling.md): this node's in-memory state
 * kept in step with the shared store. Two parts: nonce epochs, and the
 * guard's bans and user locks (below), which the CLI (`bastion ban`) and the
 * other nodes write to the store too.
 *
 * A node makes its nonces under an epoch (auth.h: the number in every
 * nonce, and a key derived for it) whose lease in the shared store
 * (store.h, nonce epochs) it renews every NODES_EPOCH_SYNC_MS for
 * NODES_EPOCH_LEASE_MS. It accepts its own nonces only while the lease holds
 * by its own clock, counted from before the renewal was sent, so it stops
 * before the database lets anyone else start; the moment it does not hold,
 * it starts a new epoch (number and key), whose nonces it alone accepts
 * until the database knows its lease. Each accepted nonce-count is queued
 * and written with the next batch (nodes_epochs_flush). Each round also
 * takes over the epochs of nodes whose lease lapsed, loading the counts they
 * recorded (accepted from now on here, a replay still refused), and learns
 * the keys of the others' live epochs (a right answer to one gets
 * stale=true rather than a prompt). With one node (SQLite) there is no
 * epochs object: every function takes NULL and does nothing.
 */
#ifndef BASTION_NODES_H
#define BASTION_NODES_H

#include <stdbool.h>
#include <stdint.h>

#include "../auth/auth.h"
#include "../guard/guard.h"
#include "../store/store.h"

#define NODES_EPOCH_LEASE_MS 4000  /* a lease's length; another node takes over after it */
#define NODES_EPOCH_SYNC_MS 1000   /* renewal, takeover and the others' epochs */
#define NODES_EPOCH_USES_MAX 4096  /* accepted counts waiting for a batch (full: written now) */

struct nodes_epochs;

struct nodes_epochs_conf {
	struct store *store;            /* shared (store_node_attach done) */
	struct auth_nc_table *nc;       /* the running epoch is its epoch */
	uint8_t *key;                   /* the running key (auth_server.key): replaced
					   by each new epoch's */
	const uint8_t *key_file;        /* the stored key new ones are derived from */
	uint32_t nonce_lifetime_s;      /* [auth] nonce_lifetime */
	uint32_t capacity;              /* counts per held epoch ([auth] nonce_table_size) */
};

/*
 * Start: a fresh epoch for c->nc (the running key is kept: it was derived
 * for this run), its lease stored when the store answers, and the others'
 * epochs read. Returns 0, EINVAL, ENOMEM. *ep untouched on failure.
 */
int nodes_epochs_new(struct nodes_epochs **ep, const struct nodes_epochs_conf *c,
		     uint64_t now_ms);
void nodes_epochs_free(struct nodes_epochs **ep);

/* The set auth_server.others points at. */
struct auth_epochs *nodes_epochs_others(struct nodes_epochs *ep);
/* Whether the store holds the running epoch's lease now. */
bool nodes_epochs_leased(const struct nodes_epochs *ep);

/* Before a nonce is made or checked: a lease that lapsed starts a new
 * epoch at once. */
void nodes_epochs_check(struct nodes_epochs *ep, uint64_t now_ms);
/* A new epoch now (the nonce key file changed; its number was taken; the
 * store gave the lease to another node): the running one's nonces get
 * stale=true here from then on. */
void nodes_epochs_rotate(struct nodes_epochs *ep, const char *why);
/* Queue an accepted count (auth_verdict's epoch, seq, nc). */
void nodes_epochs_used(struct nodes_epochs *ep, uint32_t epoch, uint64_t seq, uint32_t nc);
/* Write the queued counts in one batch of their own. */
void nodes_epochs_flush(struct nodes_epochs *ep);
/* The round, at most every NODES_EPOCH_SYNC_MS: store the lease or renew
 * it, take over lapsed epochs, learn the others', trim old counts. */
void nodes_epochs_tick(struct nodes_epochs *ep, uint64_t now_ms);
/* [auth] nonce_lifetime changed (SIGHUP). */
void nodes_epochs_set_lifetime(struct nodes_epochs *ep, uint32_t lifetime_s);

struct nodes_epochs_stats {
	uint32_t epoch;                 /* the running one */
	bool leased;
	size_t known, held;             /* other epochs */
	uint64_t rotations, takeovers;
};
void nodes_epochs_stats(const struct nodes_epochs *ep, struct nodes_epochs_stats *out);

/* ---- the guard's bans and user locks (nodes/bans.c) ----------------------------------
 *
 * The guard (guard.h) keeps bans and user locks in memory; the store keeps
 * them so that they survive a restart and reach every node sharing it.
 * Bans and locks this node starts are queued (nodes_bans_started,
 * nodes_bans_locked) and written in one batch on the next tick
 * (nodes_bans_flush); a full queue is written at once, so none is dropped
 * for want of room. At most every NODES_BAN_SYNC_MS the tick asks the store
 * whether another process committed (store_data_version); when one did,
 * every stored ban is applied to the guard, the guard's bans the store no
 * longer has (`bastion ban delete`) are lifted, and every stored lock is
 * applied. Every NODES_BAN_EXPIRE_MS the tick deletes ended bans from the
 * store. A batch that fails is logged and counted (nodes_bans_unsaved): those
 * bans and locks hold on this node until it restarts.
 *
 * No clock is read here: now_ms is the guard's monotonic milliseconds, now_s
 * unix seconds (the store's time); the caller passes both. The guard, its
 * IPv6 grouping (v6_prefix, for ban keys) and the store are the caller's and
 * are handed in on each call, since a reload replaces the guard. Events
 * (guard.ban, auth.lockout) are the caller's too: one per ban or lock.
 */

#define NODES_BAN_QUEUE 4096      /* bans waiting for the tick (full: written now) */
#define NODES_LOCK_QUEUE 64       /* user locks waiting for the tick (full: written now) */
#define NODES_BAN_SYNC_MS 1000    /* the store is asked for others' changes this often */
#define NODES_BAN_EXPIRE_MS 60000 /* ended bans are deleted from the store this often */

struct nodes_bans;

/* An empty queue, its one allocation (NODES_BAN_QUEUE bans). Returns 0,
 * EINVAL, ENOMEM; *bp untouched on failure. */
int nodes_bans_new(struct nodes_bans **bp);
/* Free b (queued bans not written: flush first); *bp becomes NULL. NULL is
 * accepted. */
void nodes_bans_free(struct nodes_bans **bp);

/*
 * Start (and after a reload, into a new guard): note the store's data
 * version, then apply every stored ban and user lock still running at now_s
 * to g (none lifted). Returns 0, EINVAL, or the store's error (EBUSY/EIO,
 * ENOMEM); on failure g may hold part of them.
 */
int nodes_bans_load(struct nodes_bans *b, struct store *st, struct guard *g,
		    uint32_t v6_prefix, uint64_t now_ms, int64_t now_s);

/*
 * A ban g started here (bi from guard_ban_of at now_ms), queued for the
 * store with reason (a short code: "rate", "scanner", "brute force";
 * truncated to STORE_BAN_REASON_MAX). Its end is stored as unix seconds,
 * now_s plus what is left of it, rounded up. A full queue is flushed first.
 */
void nodes_bans_started(struct nodes_bans *b, struct store *st, const struct guard_ban_info *bi,
			const char *reason, uint64_t now_ms, int64_t now_s);

/*
 * A user lock g started here, until unix seconds `until`, queued for the
 * store (a full queue is flushed first). A name of STORE_NAME_MAX bytes or
 * more is not stored (logged: the lock holds on this node only).
 */
void nodes_bans_locked(struct nodes_bans *b, struct store *st, struct slice user, int64_t until);

/* Write the queued bans and locks in one batch of their own; the queue is
 * empty afterwards. Returns 0, or the error that dropped the batch (logged,
 * and its bans counted in nodes_bans_unsaved). */
int nodes_bans_flush(struct nodes_bans *b, struct store *st);

/*
 * The tick: flush; then, at most every NODES_BAN_SYNC_MS, delete ended bans
 * (every NODES_BAN_EXPIRE_MS) and, when another process committed since the
 * last look, make g's bans the store's (apply, and lift those deleted) and
 * apply the stored locks. Failures are logged and tried again on the next
 * change.
 */
void nodes_bans_tick(struct nodes_bans *b, struct store *st, struct guard *g,
		     uint32_t v6_prefix, uint64_t now_ms, int64_t now_s);

/* Bans started here that the store did not take (a failed batch), so far. */
uint64_t nodes_bans_unsaved(const struct nodes_bans *b);

#endif
