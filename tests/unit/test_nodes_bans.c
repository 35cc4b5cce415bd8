/*
 * Unit tests of nodes/bans.c, the guard's bans and user locks kept in step
 * with a real store (a SQLite file; a fresh PostgreSQL database in the _pg
 * run). Another handle on the same store plays `bastion ban` or another
 * node. The clocks are plain variables handed to every call.
 * - a ban started in the guard is written on the flush (and on the tick),
 *   with its end, count and reason, and comes back into a new guard;
 * - a ban added to the store by another writer is applied on the next
 *   sync (not before NODES_BAN_SYNC_MS), an IPv6 one to its whole prefix;
 * - a ban deleted in the store is lifted, the others stay;
 * - a user lock stored elsewhere is applied;
 * - ended bans are deleted from the store every NODES_BAN_EXPIRE_MS;
 * - the queues' bounds: a full queue is written at once, none dropped;
 * - a batch the store refuses is counted as unsaved, and not retried;
 * - the allocation-failure sweep over start, load and sync.
 */
#include <errno.h>
#include <time.h>

#include "check.h"
#include "guard/guard.h"
#include "net/net.h"
#include "nodes/nodes.h"
#include "store_tmp.h"

#define NOW_S 1795000000LL /* 2026-11-18T11:06:40Z */

/* An address of source s, as guard/ reads one back from the store. */
static struct net_addr addr(const char *s)
{
	struct net_addr a;
	char key[STORE_BAN_ADDR_MAX];

	if (guard_key_parse(&a, key, sizeof(key), s, 64) != 0)
		abort();
	return a;
}

/* 10.x.y.z for n, distinct for n < 2^24. */
static struct net_addr addr_n(uint32_t n)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "10.%u.%u.%u", (n >> 16) & 255, (n >> 8) & 255, n & 255);
	return addr(buf);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* One node: its store handle, guard and queue; `other` is a second handle
 * on the same store (the CLI, another node). */
struct node {
	struct store *st, *other;
	struct guard *g;
	struct nodes_bans *b;
	uint64_t ms;                    /* the guard's clock */
	int64_t s;                      /* unix seconds */
};

/* Bans of 7,200 s (a wait on PostgreSQL's NOTIFY moves the clock by at most
 * 1,000 s, so no ban ends by itself during a test). */
static struct guard_conf conf(void)
{
	struct guard_conf gc = GUARD_CONF_DEFAULT;

	gc.ban_time = 7200;
	return gc;
}

/* Up on a fresh database. */
static bool node_up(struct node *n)
{
	struct guard_conf gc = conf();
	char url[512];

	memset(n, 0, sizeof(*n));
	n->ms = 1000000;
	n->s = NOW_S;
	tmp_db(url, sizeof(url));
	return store_open(&n->st, url, NULL, 0) == 0 && store_open(&n->other, url, NULL, 0) == 0 &&
	       guard_new(&n->g, &gc, NULL, 0) == 0 && nodes_bans_new(&n->b) == 0 &&
	       nodes_bans_load(n->b, n->st, n->g, gc.v6_prefix, n->ms, n->s) == 0;
}

static void node_down(struct node *n)
{
	nodes_bans_free(&n->b);
	guard_free(&n->g);
	store_close(&n->other);
	store_close(&n->st);
}

static void tick(struct node *n)
{
	nodes_bans_tick(n->b, n->st, n->g, 64, n->ms, n->s);
}

/* Run the node's ticks, a sync apart each, until cond holds: at once on
 * SQLite; on PostgreSQL once the other handle's NOTIFY has arrived (a
 * bounded wait). */
#define TICK_UNTIL(n, cond) \
	do { \
		for (int tries_ = 0; tries_ < 1000; tries_++) { \
			(n)->ms += NODES_BAN_SYNC_MS; \
			tick(n); \
			if (cond) \
				break; \
			sleep_ms(10); \
		} \
	} while (0)

struct got {
	size_t n;
	struct store_ban last;
	char want[STORE_BAN_ADDR_MAX];
	bool found;
	struct store_ban rec;
};

static int collect(void *arg, const struct store_ban *b)
{
	struct got *g = arg;

	g->n++;
	g->last = *b;
	if (strcmp(b->addr, g->want) == 0) {
		g->found = true;
		g->rec = *b;
	}
	return 0;
}

/* The store's ban rows (ended ones too), and the one of want, if any. */
static size_t stored(struct store *st, const char *want, struct got *g)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->want, sizeof(g->want), "%s", want ? want : "");
	if (store_bans_list(st, 0, collect, g) != 0)
		return (size_t)-1;
	return g->n;
}

static int count_lock(void *arg, const char *name, int64_t until)
{
	(*(size_t *)arg)++;
	return 0;
}

static size_t stored_locks(struct store *st, int64_t now_s)
{
	size_t n = 0;

	if (store_locks_list(st, now_s, count_lock, &n) != 0)
		return (size_t)-1;
	return n;
}

/* src banned by the guard now, and handed to nodes/ as the server does. */
static bool ban_here(struct node *n, const struct net_addr *src, const char *reason)
{
	struct guard_ban_info bi;

	if (!guard_ban(n->g, src, n->ms, 0) || !guard_ban_of(n->g, src, n->ms, &bi))
		return false;
	nodes_bans_started(n->b, n->st, &bi, reason, n->ms, n->s);
	return true;
}

static void started_ban_written_on_flush(void)
{
	struct node n;
	struct net_addr a = addr("192.0.2.1"), c = addr("192.0.2.2");
	struct guard_ban_info bi;
	struct got g;

	CHECK(node_up(&n));
	CHECK(ban_here(&n, &a, "scanner"));
	CHECK_INT(stored(n.st, "192.0.2.1", &g), 0); /* queued, not written yet */
	CHECK_INT(nodes_bans_flush(n.b, n.st), 0);
	CHECK_INT(stored(n.st, "192.0.2.1", &g), 1);
	CHECK(g.found);
	CHECK_INT(g.rec.until, NOW_S + 7200); /* the first ban: ban_time */
	CHECK_INT(g.rec.count, 1);
	CHECK(strcmp(g.rec.reason, "scanner") == 0);
	CHECK_INT(nodes_bans_flush(n.b, n.st), 0); /* nothing left */
	CHECK_INT(stored(n.st, NULL, &g), 1);

	/* the tick flushes too; a ban's rest is rounded up to whole seconds */
	CHECK(guard_ban(n.g, &c, n.ms, 0));
	CHECK(guard_ban_of(n.g, &c, n.ms + 500, &bi));
	nodes_bans_started(n.b, n.st, &bi, "rate", n.ms + 500, n.s); /* 7,199.5 s left */
	tick(&n);
	CHECK_INT(stored(n.st, "192.0.2.2", &g), 2);
	CHECK_INT(g.rec.until, NOW_S + 7200);

	/* a user lock started here goes the same way */
	nodes_bans_locked(n.b, n.st, slice_cstr("alice"), NOW_S + 600);
	CHECK_INT(stored_locks(n.st, NOW_S), 0);
	CHECK_INT(nodes_bans_flush(n.b, n.st), 0);
	CHECK_INT(stored_locks(n.st, NOW_S), 1);
	CHECK_INT(nodes_bans_unsaved(n.b), 0);

	/* a restart: a new guard loads the ban, its lock and its count, so the
	 * next ban of the source doubles */
	guard_free(&n.g);
	{
		struct guard_conf gc = conf();

		CHECK_INT(guard_new(&n.g, &gc, NULL, 0), 0);
	}
	n.ms = 5000; /* a new process: another monotonic origin */
	n.s = NOW_S + 10;
	CHECK_INT(nodes_bans_load(n.b, n.st, n.g, 64, n.ms, n.s), 0);
	CHECK(guard_ban_of(n.g, &a, n.ms, &bi));
	CHECK_INT(bi.until_ms, n.ms + 7190 * 1000);
	CHECK_INT(bi.count, 1);
	CHECK(guard_user_locked(n.g, slice_cstr("alice"), &a, n.ms));
	n.ms += 7190 * 1000; /* the ban ended; the source comes back and is banned again */
	CHECK(!guard_ban_of(n.g, &a, n.ms, &bi));
	CHECK(guard_ban(n.g, &a, n.ms, 0));
	CHECK(guard_ban_of(n.g, &a, n.ms, &bi));
	CHECK_INT(bi.count, 2);
	CHECK_INT(bi.until_ms, n.ms + 14400 * 1000);
	node_down(&n);
}

static void ban_added_elsewhere_applied(void)
{
	struct node n;
	struct store_ban sb;
	struct net_addr a = addr("192.0.2.7"), v6 = addr("2001:db8:1:2::99");
	struct guard_ban_info bi;

	CHECK(node_up(&n));
	tick(&n); /* the first sync: next one NODES_BAN_SYNC_MS later */
	/* `bastion ban add 192.0.2.7 --for 300` (its third ban) */
	memset(&sb, 0, sizeof(sb));
	snprintf(sb.addr, sizeof(sb.addr), "192.0.2.7");
	snprintf(sb.reason, sizeof(sb.reason), "operator");
	sb.until = NOW_S + 300;
	sb.count = 3;
	CHECK_INT(store_bans_put(n.other, &sb), 0);
	snprintf(sb.addr, sizeof(sb.addr), "2001:db8:1:2::/64");
	CHECK_INT(store_bans_put(n.other, &sb), 0);
	/* a key this configuration cannot parse is ignored, not fatal */
	snprintf(sb.addr, sizeof(sb.addr), "not-an-address");
	CHECK_INT(store_bans_put(n.other, &sb), 0);
	/* not before the sync is due */
	n.ms += NODES_BAN_SYNC_MS - 1;
	tick(&n);
	CHECK(!guard_ban_of(n.g, &a, n.ms, &bi));
	TICK_UNTIL(&n, guard_ban_of(n.g, &a, n.ms, &bi));
	CHECK(guard_ban_of(n.g, &a, n.ms, &bi));
	CHECK_INT(bi.count, 3);
	CHECK_INT(bi.until_ms, n.ms + 300 * 1000);
	CHECK_INT(guard_admit(n.g, &a, GUARD_REQ_REGISTER, n.ms, NULL), GUARD_DROP_BANNED);
	/* the IPv6 ban covers its /64 */
	CHECK_INT(guard_admit(n.g, &v6, GUARD_REQ_REGISTER, n.ms, NULL), GUARD_DROP_BANNED);
	node_down(&n);
}

static void ban_deleted_elsewhere_lifted(void)
{
	struct node n;
	struct net_addr a = addr("192.0.2.10"), c = addr("192.0.2.11");
	struct guard_ban_info bi;
	struct got g;

	CHECK(node_up(&n));
	CHECK(ban_here(&n, &a, "brute force"));
	CHECK(ban_here(&n, &c, "brute force"));
	tick(&n);
	CHECK_INT(stored(n.st, NULL, &g), 2);
	/* `bastion ban del 192.0.2.10` */
	CHECK_INT(store_bans_delete(n.other, "192.0.2.10"), 0);
	TICK_UNTIL(&n, !guard_ban_of(n.g, &a, n.ms, &bi));
	CHECK(!guard_ban_of(n.g, &a, n.ms, &bi));
	CHECK_INT(guard_admit(n.g, &a, GUARD_REQ_OTHER, n.ms, NULL), GUARD_PASS);
	/* the ban still stored stays */
	CHECK(guard_ban_of(n.g, &c, n.ms, &bi));
	node_down(&n);
}

static void lock_stored_elsewhere_applied(void)
{
	struct node n;
	struct net_addr a = addr("192.0.2.20");

	CHECK(node_up(&n));
	tick(&n);
	CHECK(!guard_user_locked(n.g, slice_cstr("bob"), &a, n.ms));
	/* another node locked bob for 600 s */
	CHECK_INT(store_locks_put(n.other, "bob", NOW_S + 600), 0);
	TICK_UNTIL(&n, guard_user_locked(n.g, slice_cstr("bob"), &a, n.ms));
	CHECK(guard_user_locked(n.g, slice_cstr("bob"), &a, n.ms));
	/* until its end by this node's clocks */
	CHECK(guard_user_locked(n.g, slice_cstr("bob"), &a, n.ms + 599 * 1000));
	CHECK(!guard_user_locked(n.g, slice_cstr("bob"), &a, n.ms + 601 * 1000));
	CHECK(!guard_user_locked(n.g, slice_cstr("carol"), &a, n.ms));
	node_down(&n);
}

static void ended_bans_expire_from_the_store(void)
{
	struct node n;
	struct store_ban sb;
	struct got g;

	CHECK(node_up(&n));
	memset(&sb, 0, sizeof(sb));
	snprintf(sb.addr, sizeof(sb.addr), "192.0.2.30");
	sb.until = NOW_S - 1;
	sb.count = 1;
	CHECK_INT(store_bans_put(n.st, &sb), 0);
	tick(&n); /* the first tick expires */
	CHECK_INT(stored(n.st, NULL, &g), 0);
	CHECK_INT(store_bans_put(n.st, &sb), 0);
	n.ms += NODES_BAN_SYNC_MS;
	tick(&n);
	CHECK_INT(stored(n.st, NULL, &g), 1); /* not yet: once a minute */
	n.ms += NODES_BAN_EXPIRE_MS;
	tick(&n);
	CHECK_INT(stored(n.st, NULL, &g), 0);
	node_down(&n);
}

/* NODES_BAN_QUEUE + 1 bans within one tick: the full queue is written at
 * once, the rest on the flush, none lost; the same for user locks. */
static void full_queues_are_written_at_once(void)
{
	char name[32];
	struct node n;
	struct got g;
	struct net_addr a;

	CHECK(node_up(&n));
	for (uint32_t i = 0; i < NODES_BAN_QUEUE; i++) {
		a = addr_n(i);
		CHECK(ban_here(&n, &a, "rate"));
	}
	CHECK_INT(stored(n.st, NULL, &g), 0);
	a = addr_n(NODES_BAN_QUEUE);
	CHECK(ban_here(&n, &a, "rate"));
	CHECK_INT(stored(n.st, NULL, &g), NODES_BAN_QUEUE);
	CHECK_INT(nodes_bans_flush(n.b, n.st), 0);
	CHECK_INT(stored(n.st, NULL, &g), NODES_BAN_QUEUE + 1);

	for (unsigned i = 0; i <= NODES_LOCK_QUEUE; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		nodes_bans_locked(n.b, n.st, slice_cstr(name), NOW_S + 600);
		CHECK_INT(stored_locks(n.st, NOW_S), i < NODES_LOCK_QUEUE ? 0 : NODES_LOCK_QUEUE);
	}
	CHECK_INT(nodes_bans_flush(n.b, n.st), 0);
	CHECK_INT(stored_locks(n.st, NOW_S), NODES_LOCK_QUEUE + 1);
	CHECK_INT(nodes_bans_unsaved(n.b), 0);

	/* a name too long for the store holds on this node only */
	{
		char longname[STORE_NAME_MAX + 1];

		memset(longname, 'x', STORE_NAME_MAX);
		longname[STORE_NAME_MAX] = '\0';
		nodes_bans_locked(n.b, n.st, slice_cstr(longname), NOW_S + 600);
		CHECK_INT(nodes_bans_flush(n.b, n.st), 0);
		CHECK_INT(stored_locks(n.st, NOW_S), NODES_LOCK_QUEUE + 1);
	}
	node_down(&n);
}

/* A batch the store refuses (here: a ban with no address) drops the whole
 * batch; its bans are counted as unsaved and not retried. */
static void refused_batch_counted_unsaved(void)
{
	struct node n;
	struct guard_ban_info bi;
	struct net_addr a = addr("192.0.2.40");
	struct got g;

	CHECK(node_up(&n));
	CHECK(ban_here(&n, &a, "rate"));
	memset(&bi, 0, sizeof(bi));
	bi.until_ms = n.ms + 60000;
	bi.count = 1;
	nodes_bans_started(n.b, n.st, &bi, "rate", n.ms, n.s);
	CHECK_INT(nodes_bans_flush(n.b, n.st), EINVAL);
	CHECK_INT(nodes_bans_unsaved(n.b), 2);
	CHECK_INT(stored(n.st, NULL, &g), 0);
	CHECK_INT(nodes_bans_flush(n.b, n.st), 0);
	CHECK_INT(nodes_bans_unsaved(n.b), 2);
	node_down(&n);
}

static void null_and_bad_arguments(void)
{
	struct node n;
	struct guard_ban_info bi = { .addr = "192.0.2.1", .until_ms = 1, .count = 1 };

	CHECK_INT(nodes_bans_new(NULL), EINVAL);
	nodes_bans_free(NULL);
	CHECK_INT(nodes_bans_unsaved(NULL), 0);
	CHECK(node_up(&n));
	CHECK_INT(nodes_bans_load(NULL, n.st, n.g, 64, 0, 0), EINVAL);
	CHECK_INT(nodes_bans_load(n.b, NULL, n.g, 64, 0, 0), EINVAL);
	CHECK_INT(nodes_bans_load(n.b, n.st, NULL, 64, 0, 0), EINVAL);
	CHECK_INT(nodes_bans_flush(NULL, n.st), EINVAL);
	nodes_bans_started(NULL, n.st, &bi, "rate", 0, 0);
	nodes_bans_started(n.b, NULL, &bi, "rate", 0, 0);
	nodes_bans_started(n.b, n.st, NULL, "rate", 0, 0);
	nodes_bans_locked(NULL, n.st, slice_cstr("a"), 1);
	nodes_bans_tick(NULL, n.st, n.g, 64, 0, 0);
	nodes_bans_tick(n.b, n.st, NULL, 64, 0, 0);
	CHECK_INT(nodes_bans_flush(n.b, n.st), 0);
	node_down(&n);
}

/* ---- allocation failures ---------------------------------------------------------------- */

struct oom_ctx {
	struct store *st, *other;
	struct guard *g;
	unsigned run;
};

/* A start (queue, load of 100 stored bans: the key set grows twice) and a
 * sync after another writer deleted one: every ban but that one is in the
 * guard afterwards. */
static int oom_scenario(void *arg)
{
	struct oom_ctx *c = arg;
	struct nodes_bans *b = NULL;
	struct guard_ban_info bi;
	struct net_addr a = addr_n(0);
	struct store_ban sb;
	uint64_t ms = 1000000 + c->run * 10000ull;
	int rc;

	c->run++;
	memset(&sb, 0, sizeof(sb));
	snprintf(sb.addr, sizeof(sb.addr), "10.0.0.0");
	sb.until = NOW_S + 600;
	sb.count = 1;
	if (store_bans_put(c->other, &sb) != 0) /* back after the last run's delete */
		return EIO;
	if ((rc = nodes_bans_new(&b)) != 0)
		return rc;
	if ((rc = nodes_bans_load(b, c->st, c->g, 64, ms, NOW_S)) != 0)
		goto out;
	if (!guard_ban_of(c->g, &a, ms, &bi)) {
		rc = EIO;
		goto out;
	}
	nodes_bans_tick(b, c->st, c->g, 64, ms, NOW_S); /* the first sync: nothing new */
	if ((rc = store_bans_delete(c->other, "10.0.0.0")) != 0)
		goto out;
	nodes_bans_tick(b, c->st, c->g, 64, ms + NODES_BAN_SYNC_MS, NOW_S);
	rc = guard_ban_of(c->g, &a, ms + NODES_BAN_SYNC_MS, &bi) ? EAGAIN : 0;
	for (uint32_t i = 1; i < 100 && !rc; i++) {
		struct net_addr x = addr_n(i);

		if (!guard_ban_of(c->g, &x, ms + NODES_BAN_SYNC_MS, &bi))
			rc = EIO;
	}
out:
	nodes_bans_free(&b);
	return rc;
}

static void oom_sweep(void)
{
	char url[512];
	struct guard_conf gc = conf();
	struct oom_ctx c = { 0 };
	struct store_ban sb;

	SQLITE_ONLY(); /* the same code on both; PostgreSQL's NOTIFY would need waits */
	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&c.st, url, NULL, 0), 0);
	CHECK_INT(store_open(&c.other, url, NULL, 0), 0);
	CHECK_INT(guard_new(&c.g, &gc, NULL, 0), 0);
	memset(&sb, 0, sizeof(sb));
	sb.until = NOW_S + 600;
	sb.count = 1;
	for (uint32_t i = 1; i < 100; i++) {
		snprintf(sb.addr, sizeof(sb.addr), "10.0.%u.%u", i >> 8, i & 255);
		CHECK_INT(store_bans_put(c.other, &sb), 0);
	}
	CHECK(CHECK_OOM_SWEEP(oom_scenario, &c, 200) > 1);
	guard_free(&c.g);
	store_close(&c.other);
	store_close(&c.st);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(null_and_bad_arguments),
		CASE(started_ban_written_on_flush),
		CASE(ban_added_elsewhere_applied),
		CASE(ban_deleted_elsewhere_lifted),
		CASE(lock_stored_elsewhere_applied),
		CASE(ended_bans_expire_from_the_store),
		CASE(full_queues_are_written_at_once),
		CASE(refused_batch_counted_unsaved),
		CASE(oom_sweep),
	};
	int rc;

	if (tmp_init() != 0)
		return 1;
	rc = check_main("nodes_bans", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
