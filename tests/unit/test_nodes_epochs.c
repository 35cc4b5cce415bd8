/*
 * nodes/ epochs on a real PostgreSQL (the _pg run; skipped without one):
 * - a lease that lapses by the node's own clock starts a new epoch at once,
 *   before the database could let anyone else take the old one (a fake
 *   clock, no waiting);
 * - another node learns a live node's epoch (known: stale, not accepted);
 * - a dead node's epoch is taken over once its lease lapsed on the
 *   database's clock (a bounded wait on that condition), with the counts the
 *   dead node wrote: its accepted counts refused, the next accepted;
 * - the node that lost its epoch starts another;
 * - a restarted node does not renew its previous run's epoch, which lapses
 *   and is taken over; a node that misses its rounds gives up all it held.
 */
#include "check.h"
#include "auth/internal.h"
#include "nodes/nodes.h"
#include "store_tmp.h"

#include <errno.h>
#include <time.h>

#define PG_ONLY() \
	do { \
		if (!tmp_pg()) \
			return; \
	} while (0)

struct node {
	struct store *st;
	struct auth_nc_table *nc;
	uint8_t key[AUTH_KEY_LEN], key_file[AUTH_KEY_LEN];
	struct nodes_epochs *ep;
};

static bool node_up(struct node *n, const char *url, const char *id, uint64_t now_ms)
{
	char err[256];
	struct nodes_epochs_conf c;

	memset(n, 0, sizeof(*n));
	memset(n->key_file, id[0], sizeof(n->key_file));
	memcpy(n->key, n->key_file, sizeof(n->key));
	if (store_open(&n->st, url, err, sizeof(err)) != 0 ||
	    store_node_attach(n->st, id, NULL, NULL) != 0 ||
	    auth_nc_table_new(&n->nc, AUTH_NC_WINDOW_MIN, 64) != 0 || auth_key_derive(n->key) != 0)
		return false;
	c = (struct nodes_epochs_conf){ .store = n->st, .nc = n->nc, .key = n->key,
					.key_file = n->key_file, .nonce_lifetime_s = 300,
					.capacity = 64 };
	return nodes_epochs_new(&n->ep, &c, now_ms) == 0;
}

static void node_down(struct node *n)
{
	nodes_epochs_free(&n->ep);
	auth_nc_table_free(&n->nc);
	store_close(&n->st);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A nonce of n's running epoch answered with count nc, written: its seq. */
static uint64_t record_use(struct node *n, uint32_t nc)
{
	uint64_t seq = auth_nc_table_next(n->nc);

	(void)auth_nc_issue(n->nc);
	nodes_epochs_used(n->ep, auth_nc_table_epoch(n->nc), seq, nc);
	nodes_epochs_flush(n->ep);
	return seq;
}

/* Run n's rounds (its clock *t a round further each time) until it holds
 * epoch, within a bounded wait on the database's clock. */
static bool wait_held(struct node *n, uint32_t epoch, uint64_t *t)
{
	for (int rounds = 0; rounds < 100; rounds++) {
		sleep_ms(200);
		*t += NODES_EPOCH_SYNC_MS;
		nodes_epochs_tick(n->ep, *t);
		if (auth_epochs_find(nodes_epochs_others(n->ep), epoch, NULL) == AUTH_EPOCH_HELD)
			return true;
	}
	return false;
}

static void lease_lapse_starts_a_new_epoch(void)
{
	char url[512];
	struct node a;
	struct nodes_epochs_stats st;
	uint32_t first;
	uint64_t t = 1000000;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK(node_up(&a, url, "node-a", t));
	nodes_epochs_stats(a.ep, &st);
	CHECK(st.leased);
	CHECK(st.epoch != 0);
	first = st.epoch;
	/* within the lease: nothing changes */
	nodes_epochs_check(a.ep, t + NODES_EPOCH_LEASE_MS - 1);
	CHECK_INT(auth_nc_table_epoch(a.nc), first);
	/* the clock reaches the end of the lease without a renewal: a new epoch,
	 * a new key, not leased until the next round stores it */
	nodes_epochs_check(a.ep, t + NODES_EPOCH_LEASE_MS);
	nodes_epochs_stats(a.ep, &st);
	CHECK(st.epoch != first);
	CHECK(!st.leased);
	CHECK_INT(st.rotations, 1);
	/* the old epoch's nonces are known (stale), not accepted */
	CHECK_INT(auth_epochs_find(nodes_epochs_others(a.ep), first, NULL), AUTH_EPOCH_KNOWN);
	nodes_epochs_tick(a.ep, t + NODES_EPOCH_LEASE_MS);
	CHECK(nodes_epochs_leased(a.ep));
	node_down(&a);
}

static void dead_node_taken_over_with_its_counts(void)
{
	char url[512];
	struct node a, b;
	struct nodes_epochs_stats st;
	uint32_t ea;
	uint64_t t = 5000000, seq;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK(node_up(&a, url, "node-a", t));
	CHECK(node_up(&b, url, "node-b", t));
	ea = auth_nc_table_epoch(a.nc);
	/* b knows a's live epoch, holds none */
	CHECK_INT(auth_epochs_find(nodes_epochs_others(b.ep), ea, NULL), AUTH_EPOCH_KNOWN);
	/* a accepted count 2 of one nonce and writes it */
	seq = record_use(&a, 2);
	/* a dies (no more rounds); b's rounds take its epoch once the lease
	 * lapsed on the database's clock */
	CHECK(wait_held(&b, ea, &t));
	nodes_epochs_stats(b.ep, &st);
	CHECK_INT(st.takeovers, 1);
	CHECK_INT(auth_epochs_use(nodes_epochs_others(b.ep), ea, seq, 2), AUTH_NC_REPLAY);
	CHECK_INT(auth_epochs_use(nodes_epochs_others(b.ep), ea, seq, 3), AUTH_NC_OK);
	/* a comes back: its round finds the epoch held by b and starts another */
	t += NODES_EPOCH_SYNC_MS;
	nodes_epochs_tick(a.ep, t);
	CHECK(auth_nc_table_epoch(a.nc) != ea);
	nodes_epochs_stats(a.ep, &st);
	CHECK_INT(st.rotations, 1);
	node_down(&a);
	node_down(&b);
}

/*
 * A restart: the node's new process names only its new epoch as its own,
 * so the previous run's epoch (same node id) is not renewed: it lapses and
 * is taken over (here by the same node, the only one), with its counts.
 * Then the node's clock passes the end of its leases without a round: it
 * gives up what it took over (known: stale) and starts a new epoch.
 */
static void restart_lets_the_old_epoch_lapse(void)
{
	char url[512];
	struct node a;
	uint32_t old;
	uint64_t t = 9000000, seq;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK(node_up(&a, url, "node-a", t));
	old = auth_nc_table_epoch(a.nc);
	seq = record_use(&a, 1);
	node_down(&a);
	CHECK(node_up(&a, url, "node-a", t));
	CHECK(auth_nc_table_epoch(a.nc) != old);
	CHECK(wait_held(&a, old, &t));
	CHECK_INT(auth_epochs_use(nodes_epochs_others(a.ep), old, seq, 1), AUTH_NC_REPLAY);
	/* no round for a whole lease: everything held is given up */
	nodes_epochs_check(a.ep, t + NODES_EPOCH_LEASE_MS);
	CHECK_INT(auth_epochs_find(nodes_epochs_others(a.ep), old, NULL), AUTH_EPOCH_KNOWN);
	CHECK(!nodes_epochs_leased(a.ep));
	node_down(&a);
}

/* Counts taken by an epoch whose lease is not stored yet are not written,
 * and that epoch is never stored: the next round starts and stores
 * another. */
static void unleased_epoch_never_stored(void)
{
	char url[512], sql[160];
	struct node a;
	struct nodes_epochs_stats st;
	uint32_t unleased;
	uint64_t t = 13000000;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK(node_up(&a, url, "node-a", t));
	nodes_epochs_rotate(a.ep, "test"); /* as after a lease lapsed */
	unleased = auth_nc_table_epoch(a.nc);
	CHECK(!nodes_epochs_leased(a.ep));
	(void)record_use(&a, 1);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM nonce_uses WHERE epoch = %u", unleased);
	CHECK(tmp_pg_int(tmp_pg_dbname(url), sql) == 0);
	t += NODES_EPOCH_SYNC_MS;
	nodes_epochs_tick(a.ep, t);
	nodes_epochs_stats(a.ep, &st);
	CHECK(st.leased);
	CHECK(st.epoch != unleased);
	CHECK_INT(st.rotations, 2);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM nonce_epochs WHERE epoch = %u", unleased);
	CHECK(tmp_pg_int(tmp_pg_dbname(url), sql) == 0);
	/* its nonces are still told apart from forged ones: stale here */
	CHECK_INT(auth_epochs_find(nodes_epochs_others(a.ep), unleased, NULL), AUTH_EPOCH_KNOWN);
	node_down(&a);
}

/* With one node there is no epochs object, and every call is a no-op. */
static void null_is_one_node(void)
{
	struct nodes_epochs_stats st;

	nodes_epochs_check(NULL, 1);
	nodes_epochs_used(NULL, 1, 2, 3);
	nodes_epochs_flush(NULL);
	nodes_epochs_tick(NULL, 1);
	nodes_epochs_rotate(NULL, "test");
	nodes_epochs_set_lifetime(NULL, 1);
	CHECK(nodes_epochs_others(NULL) == NULL);
	CHECK(!nodes_epochs_leased(NULL));
	nodes_epochs_stats(NULL, &st);
	CHECK_INT(st.epoch, 0);
	CHECK_INT(nodes_epochs_new(NULL, NULL, 0), EINVAL);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(null_is_one_node),
		CASE(lease_lapse_starts_a_new_epoch),
		CASE(dead_node_taken_over_with_its_counts),
		CASE(restart_lets_the_old_epoch_lapse),
		CASE(unleased_epoch_never_stored),
	};
	int rc;

	if (tmp_init() != 0)
		return 1;
	rc = check_main("nodes_epochs", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
