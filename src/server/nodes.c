/*
 * server/nodes.c: the server's side of several nodes sharing one PostgreSQL
 * store (docs/scaling.md). Each tick it lets the registrar take in the
 * bindings other nodes changed, and it reports the store's connection: an
 * event and a warning when the database becomes unreachable (the node then
 * serves from its caches and queues its writes), another when it is back
 * and the queue is written. With SQLite there is nothing to do.
 */
#include "internal.h"

#include <errno.h>
#include <time.h>

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
	rc = registrar_sync(s->reg, (int64_t)time(NULL), &full);
	if (rc)
		log_warn("bindings of other nodes not taken in: %s", strerror(rc));
	else if (full)
		log_info("bindings reread from the store (changes of other nodes may have been "
			 "missed)");
}
