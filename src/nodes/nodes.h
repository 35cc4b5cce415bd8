/*
 * nodes/: what one node of several does so that they act as one, above the
 * store and auth layers (docs/scaling.md): nonce epochs (epochs.c), and
 * trunk/'s toll-fraud counters kept in step with the store (fraud.c).
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
#include "../log/log.h"
#include "../store/store.h"
#include "../trunk/trunk.h"

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


/* ---- toll-fraud counters in the store (fraud.c) ------------------------------------
 *
 * trunk/'s counters (struct trunk_state) written to and read from the store
 * (store.h, toll-fraud counters): the changed ones in the next batch of call
 * records, never on a call's path; this node's rows read back at startup
 * (a restart goes on counting where it stopped); on a shared store the other
 * nodes' rows reread when trunk_state_tick says; a burst's hold stored with
 * the user (users.fraud_hold), where the cache and every node see it. Each
 * failure is logged here, with the words the operator knows; the calls go
 * on (a failed reread keeps the last one's counts).
 */
struct nodes_fraud;

struct nodes_fraud_conf {
	struct store *store;            /* NULL: no store, nothing read or written */
	struct trunk_state *trunk;      /* the counters (outlives this) */
	const char *domain;             /* the users' domain, for a hold */
	struct log_limit *limit;        /* the budget of write-failure lines (shared
					   with the call records' store failures) */
};

/* Returns 0, EINVAL, ENOMEM; *fp untouched on failure. */
int nodes_fraud_new(struct nodes_fraud **fp, const struct nodes_fraud_conf *c);
/* *fp becomes NULL. NULL is fine. */
void nodes_fraud_free(struct nodes_fraud **fp);
/* Read the stored counters at now (unix seconds): with own (at startup)
 * this node's rows of an earlier run too, always the other nodes'. Returns
 * 0 or the store's error (logged once until a read works again; ENOSYS:
 * the backend keeps none). */
int nodes_fraud_read(struct nodes_fraud *f, bool own, int64_t now);
/* Counters changed since the last write? (NULL: false) */
bool nodes_fraud_pending(const struct nodes_fraud *f);
/* Write the changed counters at now into the open batch (store_batch_begin,
 * the caller's). Returns how many were not stored (logged within limit). */
size_t nodes_fraud_write(struct nodes_fraud *f, int64_t now);
/* Store the hold a's burst asked for (a->raised and a->hold), logged when
 * it fails: the server holds the user itself until its users change.
 * Returns 0, or the store's error (EINVAL without a store). */
int nodes_fraud_hold(struct nodes_fraud *f, const struct trunk_alert *a);

#endif
