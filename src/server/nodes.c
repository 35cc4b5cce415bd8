/*
 * server/nodes.c: the server's side of several nodes sharing one PostgreSQL
 * store (docs/scaling.md). Each tick it lets the registrar take in the
 * bindings other nodes changed, and it reports the store's connection: an
 * event and a warning when the database becomes unreachable (the node then
 * serves from its caches and queues its writes), another when it is back
 * and the queue is written. With SQLite there is nothing to do.
 *
 * With several nodes it also owns the node's nonce epochs (nodes/: their
 * leases, the takeover of a dead node's epoch), ticked here. The node's id,
 * its write queue and the decision on the store's connection are nodes/'s
 * (node.c); this file carries them to the auth step, the log and the
 * registrar.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

int server_nodes_attach(struct server *s, const char *store_path, char *err, size_t errlen)
{
	char id[NODES_ID_MAX];
	struct nodes_epochs_conf ec;
	int e;

	if (!store_is_remote(store_path))
		return 0;
	if ((e = nodes_attach(s->store, s->state, id, err, errlen)) != 0)
		return e;
	ec = (struct nodes_epochs_conf){ .store = s->store, .nc = s->site->nc,
					 .key = s->site->key, .key_file = s->site->key_file,
					 .nonce_lifetime_s = s->conf.nonce_lifetime,
					 .capacity = s->conf.nonce_table_size };
	if ((e = nodes_epochs_new(&s->epochs, &ec, server_now_ms())) != 0) {
		snprintf(err, errlen, "nonce epochs: %s", strerror(e));
		return e;
	}
	s->site->srv.others = nodes_epochs_others(s->epochs);
	log_info("store: node %s makes its nonces under epoch %u%s", id,
		 auth_nc_table_epoch(s->site->nc),
		 nodes_epochs_leased(s->epochs) ? "" : " (lease not yet stored)");
	return 0;
}

void server_nodes_tick(struct server *s)
{
	struct store_backend_stats st;
	struct log_event e = { 0 };
	bool full = false;
	int rc;

	if (store_backend_stats(s->store, &st) != 0 || st.queue_max == 0)
		return; /* one node (SQLite) */
	switch (nodes_store_watch(&s->store_down, &st)) {
	case NODES_STORE_LOST:
		e.kind = "store.failure";
		e.reason = "database unreachable; serving from caches, writes queued";
		log_event(&e);
		log_warn("store: %s; serving from caches, %zu writes queued (at most %zu)",
			 store_errmsg(s->store), st.queued, st.queue_max);
		break;
	case NODES_STORE_BACK:
		e.kind = "store.recovered";
		e.reason = "database reachable again; queued writes stored";
		log_event(&e);
		log_notice("store: reconnected; %llu queued writes stored, %llu refused, %llu "
			   "refused for lack of room",
			   (unsigned long long)st.writes_done, (unsigned long long)st.writes_refused,
			   (unsigned long long)st.writes_dropped);
		break;
	case NODES_STORE_SAME:
		break;
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
	if (s->site)
		s->site->srv.others = NULL;
}
