/*
 * server/nodes.c: the server's side of several nodes sharing one PostgreSQL
 * store (docs/scaling.md). Each tick it lets the registrar take in the
 * bindings other nodes changed, and it reports the store's connection: an
 * event and a warning when the database becomes unreachable (the node then
 * serves from its caches and queues its writes), another when it is back
 * and the queue is written. With SQLite there is nothing to do.
 *
 * Nonces across nodes (store.h's nonce epochs, auth.h's struct
 * auth_epochs). This node makes its nonces under an epoch whose lease in the
 * database it renews every EPOCH_SYNC_MS, for EPOCH_LEASE_MS; it accepts
 * them only while the lease holds by its own clock, measured from before
 * the renewal was sent, and starts a new epoch (number, key) the moment it
 * does not. Each accepted nonce-count is written in the next batch. Every
 * round also takes over the epochs of nodes whose lease lapsed (their
 * counts loaded from the database: accepted from now on here, a replay
 * still refused) and learns the keys of the others' live epochs (a right
 * answer to one gets stale=true, not a prompt). An epoch whose lease has
 * not yet reached the database (started while it was away) is accepted
 * here only: no other node can take an epoch it does not know.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define NODE_ID_FILE "node-id"
#define JOURNAL_FILE "store-queue.journal"
#define NODE_ID_BYTES 8
#define EPOCH_LEASE_MS 4000   /* a lease's length; another node takes over after it */
#define EPOCH_SYNC_MS 1000    /* renewal, takeover and the others' epochs: every second */
#define EPOCH_USES_MAX 4096   /* accepted counts waiting for a batch (full: written at once) */
#define EPOCH_PREV_MAX 4      /* this node's earlier epochs, whose counts are trimmed */
#define EPOCH_MARKS 8         /* sequence numbers per minute, to trim counts by age */

static int epochs_start(struct server *s);
static void epochs_sync(struct server *s, uint64_t now_ms);

struct server_epochs {
	struct auth_epochs *others;
	bool leased;                  /* the database has our epoch's lease */
	uint64_t valid_until_ms;      /* while leased: the lease holds until then */
	uint64_t next_sync_ms;
	struct { uint32_t epoch; uint64_t seq; uint32_t nc; } uses[EPOCH_USES_MAX];
	size_t nuses;
	struct { uint32_t epoch; int64_t retired; } prev[EPOCH_PREV_MAX];
	struct { int64_t at; uint64_t seq; } marks[EPOCH_MARKS]; /* one a minute, a ring */
	size_t mark_i;
	int64_t next_mark;
	uint64_t rotations, takeovers;
	struct server *s;
};

/* Read STATE/node-id, or make it: 16 lowercase hex digits, written
 * crash-safe (base_file_create). A node's id must differ from every other
 * node's: `bastion init` on each node makes its own; a copied state
 * directory must not keep the file. */
static int node_id(char *out, size_t cap, const char *state)
{
	char path[1100], buf[64];
	uint8_t raw[NODE_ID_BYTES];
	ssize_t n;
	int fd, e;

	if (snprintf(path, sizeof(path), "%s/%s", state, NODE_ID_FILE) >= (int)sizeof(path))
		return ENAMETOOLONG;
	for (int attempt = 0; attempt < 2; attempt++) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n < 1)
				return EINVAL;
			buf[n] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			if (strlen(buf) + 1 > cap || strspn(buf, "0123456789abcdef") != strlen(buf) ||
			    !buf[0])
				return EINVAL;
			memcpy(out, buf, strlen(buf) + 1);
			return 0;
		}
		if (errno != ENOENT)
			return errno;
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return EIO;
		for (size_t i = 0; i < sizeof(raw); i++)
			snprintf(buf + 2 * i, 3, "%02x", raw[i]);
		buf[2 * sizeof(raw)] = '\n';
		e = base_file_create(path, buf, 2 * sizeof(raw) + 1, 0600);
		if (e && e != EEXIST)
			return e;
	}
	return EIO;
}

int server_nodes_attach(struct server *s, const char *store_path, char *err, size_t errlen)
{
	char id[64], journal[1100];
	size_t replayed = 0;
	int e;

	if (!store_is_remote(store_path))
		return 0;
	if ((e = node_id(id, sizeof(id), s->state)) != 0) {
		snprintf(err, errlen, "%s/%s: cannot read or make the node id: %s", s->state,
			 NODE_ID_FILE, e == EINVAL ? "not 1 to 32 lowercase hex digits" : strerror(e));
		return e;
	}
	if (snprintf(journal, sizeof(journal), "%s/%s", s->state, JOURNAL_FILE) >=
	    (int)sizeof(journal))
		return ENAMETOOLONG;
	e = store_node_attach(s->store, id, journal, &replayed);
	if (e == ENOTCONN) {
		log_warn("store: node %s: the database went away while the write queue of the "
			 "last run was replayed; the rest is written when it is back", id);
		return 0;
	}
	if (e) {
		snprintf(err, errlen, "store: node %s: %s", id, store_errmsg(s->store));
		return e;
	}
	if (replayed)
		log_notice("store: node %s: %zu queued writes of the last run written to the "
			   "database (from %s)",
			   id, replayed, journal);
	else
		log_info("store: node %s, write queue %s", id, journal);
	if ((e = epochs_start(s)) != 0) {
		snprintf(err, errlen, "nonce epochs: %s", strerror(e));
		return e;
	}
	log_info("store: node %s makes its nonces under epoch %u%s", id,
		 auth_nc_table_epoch(s->nc), s->epochs->leased ? "" : " (lease not yet stored)");
	return 0;
}

void server_nodes_tick(struct server *s)
{
	struct store_backend_stats st;
	bool full = false;
	int rc;

	if (store_backend_stats(s->store, &st) != 0 || st.queue_max == 0)
		return; /* one node (SQLite) */
	if (!st.connected && !s->store_down) {
		struct log_event e = { .kind = "store.failure",
				       .reason = "database unreachable; serving from caches, "
						 "writes queued" };

		s->store_down = true;
		log_event(&e);
		log_warn("store: %s; serving from caches, %zu writes queued (at most %zu)",
			 store_errmsg(s->store), st.queued, st.queue_max);
	} else if (st.connected && s->store_down && st.queued == 0) {
		struct log_event e = { .kind = "store.recovered",
				       .reason = "database reachable again; queued writes stored" };

		s->store_down = false;
		log_event(&e);
		log_notice("store: reconnected; %llu queued writes stored, %llu refused, %llu "
			   "refused for lack of room",
			   (unsigned long long)st.writes_done, (unsigned long long)st.writes_refused,
			   (unsigned long long)st.writes_dropped);
	}
	if (s->epochs)
		epochs_sync(s, server_now_ms());
	rc = registrar_sync(s->reg, (int64_t)time(NULL), &full);
	if (rc)
		log_warn("bindings of other nodes not taken in: %s", strerror(rc));
	else if (full)
		log_info("bindings reread from the store (changes of other nodes may have been "
			 "missed)");
}

/* ---- nonce epochs ------------------------------------------------------------------------- */

static uint32_t fresh_epoch(uint32_t not)
{
	uint32_t e = 0;

	while (e == 0 || e == not)
		if (RAND_bytes((unsigned char *)&e, sizeof(e)) != 1)
			e = (uint32_t)server_now_ms() ^ (uint32_t)getpid();
	return e;
}

/* A new epoch (number, run key): the old one's nonces get stale=true here
 * (its key is kept among the others until the database forgets it). */
void server_epochs_rotate(struct server *s, const char *why)
{
	struct server_epochs *ep = s->epochs;
	uint32_t old = auth_nc_table_epoch(s->nc);
	uint8_t k[AUTH_KEY_LEN];

	memcpy(k, s->key_file, AUTH_KEY_LEN);
	if (server_run_key(k) != 0) {
		/* without a new key the old epoch's nonces would verify under the
		 * new number's... they carry the old number, so they still do not */
		log_error("nonce epoch: no new key could be derived; keeping the old key");
		memcpy(k, s->key, AUTH_KEY_LEN);
	}
	(void)auth_epochs_put(ep->others, old, s->key, false, NULL);
	memmove(ep->prev + 1, ep->prev, sizeof(ep->prev) - sizeof(ep->prev[0]));
	ep->prev[0].epoch = old;
	ep->prev[0].retired = (int64_t)time(NULL);
	memcpy(s->key, k, AUTH_KEY_LEN);
	OPENSSL_cleanse(k, sizeof(k));
	auth_nc_table_set_epoch(s->nc, fresh_epoch(old));
	ep->leased = false;
	ep->rotations++;
	log_notice("nonce epoch %u started (%s); epoch %u's nonces get a fresh challenge",
		   auth_nc_table_epoch(s->nc), why, old);
}

void server_epochs_check(struct server *s)
{
	struct server_epochs *ep = s->epochs;

	if (ep && ep->leased && server_now_ms() >= ep->valid_until_ms)
		server_epochs_rotate(s, "its lease lapsed: the database was not reached in time");
}

void server_epochs_used(struct server *s, uint32_t epoch, uint64_t seq, uint32_t nc)
{
	struct server_epochs *ep = s->epochs;

	if (!ep)
		return;
	if (ep->nuses == EPOCH_USES_MAX)
		server_epochs_flush(s);
	if (ep->nuses == EPOCH_USES_MAX)
		return; /* could not even be queued: counted as refused by the store */
	ep->uses[ep->nuses].epoch = epoch;
	ep->uses[ep->nuses].seq = seq;
	ep->uses[ep->nuses].nc = nc;
	ep->nuses++;
}

void server_epochs_flush(struct server *s)
{
	struct server_epochs *ep = s->epochs;
	bool batch;
	int rc = 0;

	if (!ep || ep->nuses == 0)
		return;
	batch = store_batch_begin(s->store) == 0;
	for (size_t i = 0; i < ep->nuses && !rc; i++)
		rc = store_nonce_use_put(s->store, ep->uses[i].epoch, ep->uses[i].seq,
					 ep->uses[i].nc);
	if (batch && (rc = store_batch_end(s->store, rc == 0)) != 0)
		log_warn("nonce counts not stored: %s", store_errmsg(s->store));
	ep->nuses = 0;
}

struct epoch_row {
	struct store_epoch e;
};

struct sync_ctx {
	struct epoch_row rows[AUTH_EPOCHS_MAX];
	size_t n;
};

static int collect(void *arg, const struct store_epoch *e)
{
	struct sync_ctx *c = arg;

	if (c->n == AUTH_EPOCHS_MAX)
		return 0;
	c->rows[c->n++].e = *e;
	return 0;
}

static bool in_rows(const struct sync_ctx *c, uint32_t epoch)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->rows[i].e.epoch == epoch)
			return true;
	return false;
}

static int load_use(void *arg, uint64_t seq, uint32_t nc)
{
	struct { struct auth_epochs *ep; uint32_t epoch; uint64_t lowest; size_t n; } *l = arg;

	if (auth_epochs_load_use(l->ep, l->epoch, seq, nc) != 0)
		return EOVERFLOW;
	l->lowest = seq;
	l->n++;
	return 0;
}

/* An epoch just taken over: its node's counts, or, if they cannot all be
 * read, a floor that refuses what was not (stale=true, never a replay). */
static void take(struct server *s, const struct store_epoch *e)
{
	struct { struct auth_epochs *ep; uint32_t epoch; uint64_t lowest; size_t n; } l = {
		s->epochs->others, e->epoch, UINT64_MAX, 0
	};
	bool more = false;
	int rc = store_nonce_uses_list(s->store, e->epoch, s->conf.nonce_table_size, &more,
				       load_use, &l);

	if (rc) {
		auth_epochs_set_floor(l.ep, e->epoch, UINT64_MAX);
		log_warn("nonce epoch %u of node %s taken over, but its counts were not read "
			 "(%s): its nonces get a fresh challenge",
			 e->epoch, e->node, strerror(rc));
	} else {
		if (more)
			auth_epochs_set_floor(l.ep, e->epoch, l.lowest);
		log_notice("nonce epoch %u of node %s taken over (its lease lapsed): %zu counts "
			   "loaded%s; its phones' nonces are accepted here",
			   e->epoch, e->node, l.n, more ? ", older ones refused" : "");
	}
	s->epochs->takeovers++;
}

/* Trim this node's recorded counts older than a nonce lifetime (and a
 * minute): the current epoch's by sequence number, earlier epochs' whole. */
static void trim(struct server *s, int64_t now)
{
	struct server_epochs *ep = s->epochs;
	int64_t old = now - (int64_t)s->conf.nonce_lifetime - 60;
	uint64_t below = 0;

	if (now < ep->next_mark)
		return;
	ep->next_mark = now + 60;
	ep->marks[ep->mark_i].at = now;
	ep->marks[ep->mark_i].seq = auth_nc_table_next(s->nc);
	ep->mark_i = (ep->mark_i + 1) % EPOCH_MARKS;
	/* the newest mark at or before `old` bounds what may go */
	for (size_t j = 0; j < EPOCH_MARKS; j++)
		if (ep->marks[j].at && ep->marks[j].at <= old && ep->marks[j].seq > below)
			below = ep->marks[j].seq;
	if (below)
		(void)store_nonce_uses_trim(s->store, auth_nc_table_epoch(s->nc), below);
	for (size_t i = 0; i < EPOCH_PREV_MAX; i++)
		if (ep->prev[i].epoch && ep->prev[i].retired <= old) {
			(void)store_nonce_uses_trim(s->store, ep->prev[i].epoch, UINT64_MAX);
			ep->prev[i].epoch = 0;
		}
}

static void epochs_sync(struct server *s, uint64_t now_ms)
{
	struct server_epochs *ep = s->epochs;
	struct sync_ctx *c;
	uint32_t own = auth_nc_table_epoch(s->nc);
	bool own_seen = false, lost = false;
	int rc;

	if (now_ms < ep->next_sync_ms)
		return;
	ep->next_sync_ms = now_ms + EPOCH_SYNC_MS;
	if (!ep->leased) {
		rc = store_epoch_start(s->store, own, s->key, EPOCH_LEASE_MS);
		if (rc == 0) {
			ep->leased = true;
			ep->valid_until_ms = now_ms + EPOCH_LEASE_MS;
		} else if (rc == EEXIST) {
			server_epochs_rotate(s, "its number was taken");
			return;
		} else {
			return; /* the database is away: accepted here only, as it is */
		}
	}
	if (!(c = calloc(1, sizeof(*c))))
		return;
	rc = store_epochs_sync(s->store, EPOCH_LEASE_MS, s->conf.nonce_lifetime,
			       AUTH_EPOCHS_HELD_MAX, collect, c);
	if (rc == 0) {
		auth_epochs_begin(ep->others);
		for (size_t i = 0; i < c->n; i++) {
			const struct store_epoch *e = &c->rows[i].e;
			bool fresh = false;

			if (e->epoch == own) {
				own_seen = true;
				if (e->held)
					ep->valid_until_ms = now_ms + EPOCH_LEASE_MS;
				else
					lost = true;
				continue;
			}
			if (auth_epochs_put(ep->others, e->epoch, e->key, e->held, &fresh) != 0)
				continue; /* full: its nonces get a fresh challenge */
			if (fresh)
				take(s, e);
		}
		for (size_t i = 0; i < EPOCH_PREV_MAX; i++) {
			const uint8_t *key;

			/* earlier epochs that never reached the database stay known */
			if (ep->prev[i].epoch && !in_rows(c, ep->prev[i].epoch) &&
			    auth_epochs_find(ep->others, ep->prev[i].epoch, &key) != AUTH_EPOCH_NONE)
				(void)auth_epochs_put(ep->others, ep->prev[i].epoch, key, false, NULL);
		}
		auth_epochs_end(ep->others);
		if (lost || !own_seen)
			server_epochs_rotate(s, lost ? "another node took it over" : "the database forgot it");
		trim(s, (int64_t)time(NULL));
	}
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static int epochs_start(struct server *s)
{
	struct server_epochs *ep = calloc(1, sizeof(*ep));
	int e;

	if (!ep)
		return ENOMEM;
	if ((e = auth_epochs_new(&ep->others, s->conf.nonce_table_size)) != 0) {
		free(ep);
		return e;
	}
	ep->s = s;
	s->epochs = ep;
	s->auth.others = ep->others;
	auth_nc_table_set_epoch(s->nc, fresh_epoch(0));
	epochs_sync(s, server_now_ms());
	return 0;
}

void server_nodes_free(struct server *s)
{
	if (!s->epochs)
		return;
	auth_epochs_free(&s->epochs->others);
	s->auth.others = NULL;
	OPENSSL_cleanse(s->epochs, sizeof(*s->epochs));
	free(s->epochs);
	s->epochs = NULL;
}
