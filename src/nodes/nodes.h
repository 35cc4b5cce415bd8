/*
 * nodes/: what one node of several does so that they act as one, above the
 * store and auth layers (docs/scaling.md). For now: nonce epochs.
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

/* ---- this node: its id, its write queue, its store's connection (node.c) ----
 *
 * A node of several is named by the id in STATE/node-id (made on its first
 * start: a copied state directory must not keep the file) and keeps the
 * writes the database has not taken yet in STATE/store-queue.journal.
 */
#define NODES_ID_FILE "node-id"
#define NODES_JOURNAL_FILE "store-queue.journal"
#define NODES_ID_MAX 64              /* an id and its NUL */
#define NODES_ID_DIGITS "63"         /* the longest id, for messages */

/*
 * Read STATE/node-id into out (cap bytes), or make it: 16 lowercase hex
 * digits from the CSPRNG, written crash-safe (base_file_create; a node
 * starting at the same time wins, and its id is read). Returns 0,
 * ENAMETOOLONG (the path), EINVAL (the file's first line is not 1 to
 * NODES_ID_MAX - 1 lowercase hex digits, or does not fit out), EIO (no
 * random bytes), or the errno of open(2) (a link is refused: ELOOP) or of
 * the write.
 */
int nodes_id(char *out, size_t cap, const char *state);

/*
 * Make store st (a remote one) this node's: nodes_id into id (NODES_ID_MAX
 * bytes), then store_node_attach with the write queue STATE/store-queue.
 * journal, whose writes left by an earlier run are replayed (a log line
 * says how many). Returns 0, also when the database went away during the
 * replay (logged: the rest is written when it is back); else an errno with
 * err naming the file or the node.
 */
int nodes_attach(struct store *st, const char *state, char *id, char *err, size_t errlen);

/* The store's connection as the tick sees it: */
enum nodes_store_change {
	NODES_STORE_SAME = 0,
	NODES_STORE_LOST,             /* it became unreachable: serving from caches,
					 writes queued */
	NODES_STORE_BACK,             /* reachable again, and the queue is written */
};

/*
 * Pure: the change since the last call, from bs (store_backend_stats) and
 * *down (false at start; kept by the caller, updated here). Each change is
 * reported once: LOST when bs says disconnected while *down is false, BACK
 * when connected with nothing queued while *down is true.
 */
enum nodes_store_change nodes_store_watch(bool *down, const struct store_backend_stats *bs);

#endif
