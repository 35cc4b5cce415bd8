/*
 * server/nodes.c: the server's side of several nodes sharing one PostgreSQL
 * store (docs/scaling.md). Each tick it lets the registrar take in the
 * bindings other nodes changed, and it reports the store's connection: an
 * event and a warning when the database becomes unreachable (the node then
 * serves from its caches and queues its writes), another when it is back
 * and the queue is written. With SQLite there is nothing to do.
 *
 * With several nodes it also owns the node's nonce epochs (nodes/: their
 * leases, the takeover of a dead node's epoch), ticked here.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#define NODE_ID_FILE "node-id"
#define JOURNAL_FILE "store-queue.journal"
#define NODE_ID_BYTES 8

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
	struct nodes_epochs_conf ec;
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
	ec = (struct nodes_epochs_conf){ .store = s->store, .nc = s->nc, .key = s->key,
					 .key_file = s->key_file,
					 .nonce_lifetime_s = s->conf.nonce_lifetime,
					 .capacity = s->conf.nonce_table_size };
	if ((e = nodes_epochs_new(&s->epochs, &ec, server_now_ms())) != 0) {
		snprintf(err, errlen, "nonce epochs: %s", strerror(e));
		return e;
	}
	s->auth.others = nodes_epochs_others(s->epochs);
	log_info("store: node %s makes its nonces under epoch %u%s", id,
		 auth_nc_table_epoch(s->nc),
		 nodes_epochs_leased(s->epochs) ? "" : " (lease not yet stored)");
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
	nodes_epochs_tick(s->epochs, server_now_ms());
	rc = registrar_sync(s->reg, (int64_t)time(NULL), &full);
	if (rc)
		log_warn("bindings of other nodes not taken in: %s", strerror(rc));
	else if (full)
		log_info("bindings reread from the store (changes of other nodes may have been "
			 "missed)");
}

void server_nodes_free(struct server *s)
{
	nodes_epochs_free(&s->epochs);
	s->auth.others = NULL;
}
