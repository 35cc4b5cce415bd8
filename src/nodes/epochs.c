/*
 * nodes/epochs.c: nonce epochs and their leases (nodes.h, docs/scaling.md).
 */
#include "nodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "../log/log.h"

#define PREV_MAX 4  /* this node's earlier epochs, whose counts are trimmed */
#define MARKS 8     /* a sequence number a minute, to trim counts by age */

struct nodes_epochs {
	struct nodes_epochs_conf c;
	struct auth_epochs *others;
	bool leased;                  /* the store has the running epoch's lease */
	bool holding;                 /* leased, or holding epochs taken over */
	bool used_unleased;           /* the running epoch took counts before its lease was
					 stored: it is never stored (see nodes_epochs_used) */
	uint64_t valid_until_ms;      /* while holding: every lease holds until then */
	uint64_t next_sync_ms;
	struct store_nonce_use uses[NODES_EPOCH_USES_MAX];
	size_t nuses;
	struct { uint32_t epoch; int64_t retired; } prev[PREV_MAX];
	struct { int64_t at; uint64_t seq; } marks[MARKS]; /* a ring */
	size_t mark_i;
	int64_t next_mark;
	uint64_t rotations, takeovers;
};

static void stop_holding(struct nodes_epochs *ep, const char *why);

static uint32_t fresh_epoch(uint32_t not)
{
	uint32_t e = 0;

	while (e == 0 || e == not)
		if (RAND_bytes((unsigned char *)&e, sizeof(e)) != 1)
			e = (uint32_t)time(NULL) ^ (uint32_t)getpid() ^ (not * 2654435761u);
	return e;
}

int nodes_epochs_new(struct nodes_epochs **ep, const struct nodes_epochs_conf *c,
		     uint64_t now_ms)
{
	struct nodes_epochs *e;
	int err;

	if (!ep || !c || !c->store || !c->nc || !c->key || !c->key_file)
		return EINVAL;
	if (!(e = calloc(1, sizeof(*e))))
		return ENOMEM;
	if ((err = auth_epochs_new(&e->others, c->capacity)) != 0) {
		free(e);
		return err;
	}
	e->c = *c;
	auth_nc_table_set_epoch(c->nc, fresh_epoch(0));
	nodes_epochs_tick(e, now_ms);
	*ep = e;
	return 0;
}

void nodes_epochs_free(struct nodes_epochs **ep)
{
	if (!ep || !*ep)
		return;
	auth_epochs_free(&(*ep)->others);
	OPENSSL_cleanse(*ep, sizeof(**ep));
	free(*ep);
	*ep = NULL;
}

struct auth_epochs *nodes_epochs_others(struct nodes_epochs *ep)
{
	return ep ? ep->others : NULL;
}

bool nodes_epochs_leased(const struct nodes_epochs *ep)
{
	return ep && ep->leased;
}

void nodes_epochs_set_lifetime(struct nodes_epochs *ep, uint32_t lifetime_s)
{
	if (ep)
		ep->c.nonce_lifetime_s = lifetime_s;
}

void nodes_epochs_rotate(struct nodes_epochs *ep, const char *why)
{
	uint32_t old;
	uint8_t k[AUTH_KEY_LEN];

	if (!ep)
		return;
	old = auth_nc_table_epoch(ep->c.nc);
	memcpy(k, ep->c.key_file, AUTH_KEY_LEN);
	if (auth_key_derive(k) != 0) {
		/* the old nonces still carry the old number, which now names
		 * another epoch: they do not verify as the new one's */
		log_error("nonce epoch: no new key could be derived; keeping the old key");
		memcpy(k, ep->c.key, AUTH_KEY_LEN);
	}
	/* its nonces get stale=true here until the store forgets the epoch */
	(void)auth_epochs_put(ep->others, old, ep->c.key, false, NULL);
	memmove(ep->prev + 1, ep->prev, sizeof(ep->prev) - sizeof(ep->prev[0]));
	ep->prev[0].epoch = old;
	ep->prev[0].retired = (int64_t)time(NULL);
	memcpy(ep->c.key, k, AUTH_KEY_LEN);
	OPENSSL_cleanse(k, sizeof(k));
	auth_nc_table_set_epoch(ep->c.nc, fresh_epoch(old));
	ep->leased = false;
	ep->used_unleased = false;
	ep->rotations++;
	log_notice("nonce epoch %u started (%s); epoch %u's nonces get a fresh challenge",
		   auth_nc_table_epoch(ep->c.nc), why, old);
}

/*
 * Stop accepting every epoch whose counts another node may need: the
 * running one (a new epoch starts) and those taken over (given up: their
 * nonces get a fresh challenge). Called when a lease may lapse before this
 * node can renew it, or when the counts it accepts cannot reach the
 * database before another node would take the epoch over.
 */
static void stop_holding(struct nodes_epochs *ep, const char *why)
{
	size_t n;

	ep->holding = false;
	if (ep->leased)
		nodes_epochs_rotate(ep, why);
	if ((n = auth_epochs_drop_held(ep->others)) != 0)
		log_warn("%zu nonce epochs taken over from other nodes given up (%s): their "
			 "nonces get a fresh challenge",
			 n, why);
}

void nodes_epochs_check(struct nodes_epochs *ep, uint64_t now_ms)
{
	if (ep && ep->holding && now_ms >= ep->valid_until_ms)
		stop_holding(ep, "its lease lapsed: the database was not reached in time");
}

/*
 * The running epoch before the database has its lease (the database was
 * away when it started): its counts are not written, and it is never
 * stored; the next round that reaches the database starts another epoch
 * and stores that one. Nobody else can take over an epoch the database
 * does not know, so those counts are needed nowhere but here, and the
 * write queue keeps its room for what phones were promised.
 */
void nodes_epochs_used(struct nodes_epochs *ep, uint32_t epoch, uint64_t seq, uint32_t nc)
{
	if (!ep)
		return;
	if (epoch == auth_nc_table_epoch(ep->c.nc) && !ep->leased) {
		ep->used_unleased = true;
		return;
	}
	if (ep->nuses == NODES_EPOCH_USES_MAX)
		nodes_epochs_flush(ep);
	if (ep->nuses == NODES_EPOCH_USES_MAX)
		return;
	ep->uses[ep->nuses].epoch = epoch;
	ep->uses[ep->nuses].seq = seq;
	ep->uses[ep->nuses].nc = nc;
	ep->nuses++;
}

void nodes_epochs_flush(struct nodes_epochs *ep)
{
	struct store_backend_stats bs;
	struct store *st;
	bool batch;
	int rc = 0, end = 0;

	if (!ep || ep->nuses == 0)
		return;
	st = ep->c.store;
	batch = store_batch_begin(st) == 0;
	rc = store_nonce_uses_put(st, ep->uses, ep->nuses);
	if (batch)
		end = store_batch_end(st, rc == 0);
	if (rc || end)
		log_warn("nonce counts not stored: %s", store_errmsg(st));
	ep->nuses = 0; /* a queue full of refused writes is not retried forever */
	if (rc || end || (store_backend_stats(st, &bs) == 0 && !bs.connected))
		stop_holding(ep, "the database is away: its nonce-counts cannot be written");
}

/* ---- the round --------------------------------------------------------------------------- */

struct sync_ctx {
	struct store_epoch rows[AUTH_EPOCHS_MAX];
	size_t n;
};

static int collect(void *arg, const struct store_epoch *e)
{
	struct sync_ctx *c = arg;

	if (c->n < AUTH_EPOCHS_MAX)
		c->rows[c->n++] = *e;
	return 0;
}

static bool in_rows(const struct sync_ctx *c, uint32_t epoch)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->rows[i].epoch == epoch)
			return true;
	return false;
}

struct load_ctx {
	struct auth_epochs *set;
	uint32_t epoch;
	uint64_t lowest;
	size_t n;
};

static int load_use(void *arg, uint64_t seq, uint32_t nc)
{
	struct load_ctx *l = arg;

	if (auth_epochs_load_use(l->set, l->epoch, seq, nc) != 0)
		return EOVERFLOW;
	l->lowest = seq;
	l->n++;
	return 0;
}

/* An epoch just taken over: its node's counts, or, when they cannot all be
 * read, a floor that refuses the rest (stale=true, never a replay). */
static void take(struct nodes_epochs *ep, const struct store_epoch *e)
{
	struct load_ctx l = { ep->others, e->epoch, UINT64_MAX, 0 };
	bool more = false;
	int rc = store_nonce_uses_list(ep->c.store, e->epoch, ep->c.capacity, &more, load_use, &l);

	if (rc) {
		auth_epochs_set_floor(ep->others, e->epoch, UINT64_MAX);
		log_warn("nonce epoch %u of node %s taken over, but its counts were not read "
			 "(%s): its nonces get a fresh challenge",
			 e->epoch, e->node, strerror(rc));
	} else {
		if (more)
			auth_epochs_set_floor(ep->others, e->epoch, l.lowest);
		log_notice("nonce epoch %u of node %s taken over (its lease lapsed): %zu counts "
			   "loaded%s; its phones' nonces are accepted here",
			   e->epoch, e->node, l.n, more ? ", older ones refused" : "");
	}
	ep->takeovers++;
}

/* Once a minute: forget this node's recorded counts older than a nonce
 * lifetime and a minute, the running epoch's by sequence number, earlier
 * epochs' whole. */
static void trim(struct nodes_epochs *ep, int64_t now)
{
	int64_t old = now - (int64_t)ep->c.nonce_lifetime_s - 60;
	uint64_t below = 0;

	if (now < ep->next_mark)
		return;
	ep->next_mark = now + 60;
	ep->marks[ep->mark_i].at = now;
	ep->marks[ep->mark_i].seq = auth_nc_table_next(ep->c.nc);
	ep->mark_i = (ep->mark_i + 1) % MARKS;
	for (size_t j = 0; j < MARKS; j++)
		if (ep->marks[j].at && ep->marks[j].at <= old && ep->marks[j].seq > below)
			below = ep->marks[j].seq;
	if (below)
		(void)store_nonce_uses_trim(ep->c.store, auth_nc_table_epoch(ep->c.nc), below);
	for (size_t i = 0; i < PREV_MAX; i++)
		if (ep->prev[i].epoch && ep->prev[i].retired <= old) {
			(void)store_nonce_uses_trim(ep->c.store, ep->prev[i].epoch, UINT64_MAX);
			ep->prev[i].epoch = 0;
		}
}

/* The store's list of epochs becomes the set of others; the running one's
 * row says whether this node still holds it. */
static void take_in(struct nodes_epochs *ep, const struct sync_ctx *c, uint64_t sent_ms)
{
	uint32_t own = auth_nc_table_epoch(ep->c.nc);
	bool own_seen = false, lost = false;
	size_t known, held;

	auth_epochs_begin(ep->others);
	for (size_t i = 0; i < c->n; i++) {
		const struct store_epoch *e = &c->rows[i];
		bool fresh = false;

		if (e->epoch == own) {
			own_seen = true;
			lost = !e->held;
			continue;
		}
		if (auth_epochs_put(ep->others, e->epoch, e->key, e->held, &fresh) != 0)
			continue; /* the set is full: its nonces get a fresh challenge */
		if (fresh)
			take(ep, e);
	}
	for (size_t i = 0; i < PREV_MAX; i++) {
		const uint8_t *key;

		/* earlier epochs that never reached the store stay known */
		if (ep->prev[i].epoch && !in_rows(c, ep->prev[i].epoch) &&
		    auth_epochs_find(ep->others, ep->prev[i].epoch, &key) != AUTH_EPOCH_NONE)
			(void)auth_epochs_put(ep->others, ep->prev[i].epoch, key, false, NULL);
	}
	auth_epochs_end(ep->others);
	if (lost || !own_seen)
		nodes_epochs_rotate(ep, lost ? "its lease was not renewed in time"
					     : "the database forgot it");
	/* every lease this round renewed or took holds until sent + lease */
	auth_epochs_count(ep->others, &known, &held);
	ep->holding = ep->leased || held > 0;
	ep->valid_until_ms = sent_ms + NODES_EPOCH_LEASE_MS;
}

void nodes_epochs_tick(struct nodes_epochs *ep, uint64_t now_ms)
{
	struct sync_ctx *c;
	uint32_t mine[STORE_EPOCHS_MINE_MAX];
	size_t nmine = 0, known, held;
	int rc;

	if (!ep || now_ms < ep->next_sync_ms)
		return;
	ep->next_sync_ms = now_ms + NODES_EPOCH_SYNC_MS;
	nodes_epochs_check(ep, now_ms); /* never renew what already ran out here */
	if (!ep->leased) {
		struct store_backend_stats bs;

		/* the queue first: counts written while the database was away
		 * precede the lease that lets another node read them */
		if (store_backend_stats(ep->c.store, &bs) == 0 && (!bs.connected || bs.queued))
			return;
		if (ep->used_unleased)
			nodes_epochs_rotate(ep, "the running one was used while the database was away");
		rc = store_epoch_start(ep->c.store, auth_nc_table_epoch(ep->c.nc), ep->c.key,
				       NODES_EPOCH_LEASE_MS);
		if (rc == EEXIST) {
			nodes_epochs_rotate(ep, "its number was taken");
			return;
		}
		if (rc)
			return; /* the store is away: accepted here only, as before */
		ep->leased = true;
		/* until this round's renewal says more */
		if (!ep->holding || ep->valid_until_ms > now_ms + NODES_EPOCH_LEASE_MS)
			ep->valid_until_ms = now_ms + NODES_EPOCH_LEASE_MS;
		ep->holding = true;
	}
	mine[nmine++] = auth_nc_table_epoch(ep->c.nc);
	nmine += auth_epochs_held(ep->others, mine + nmine, STORE_EPOCHS_MINE_MAX - nmine);
	auth_epochs_count(ep->others, &known, &held);
	if (!(c = calloc(1, sizeof(*c))))
		return;
	rc = store_epochs_sync(ep->c.store, mine, nmine, NODES_EPOCH_LEASE_MS,
			       ep->c.nonce_lifetime_s,
			       held < AUTH_EPOCHS_HELD_MAX ? AUTH_EPOCHS_HELD_MAX - (uint32_t)held : 0,
			       collect, c);
	if (rc == 0) {
		take_in(ep, c, now_ms);
		trim(ep, (int64_t)time(NULL));
	}
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

void nodes_epochs_stats(const struct nodes_epochs *ep, struct nodes_epochs_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!ep)
		return;
	out->epoch = auth_nc_table_epoch(ep->c.nc);
	out->leased = ep->leased;
	auth_epochs_count(ep->others, &out->known, &out->held);
	out->rotations = ep->rotations;
	out->takeovers = ep->takeovers;
}
