/*
 * test_nodes_fraud: trunk/'s toll-fraud counters kept in step with a real
 * store (nodes/fraud.c): on SQLite, and on PostgreSQL in the _pg run.
 * - the counters a placed call changed are written with a batch (none left
 *   pending), and a restarted node reads its own rows back and goes on
 *   counting (a peer at its calls_per_hour stays there);
 * - on a shared store another node's rows count here, this node's own are
 *   not read again as another's;
 * - a burst's hold is stored with the user (users.fraud_hold), an unknown
 *   user's is refused, and without a store nothing is written;
 * - the allocation-failure sweep.
 */
#include "check.h"
#include "nodes/nodes.h"
#include "store_tmp.h"

#include <errno.h>

#define NOW 1700000000

static struct trunk_conf tc;
static struct trunk_fraud_conf fraud;
static struct net_listen_spec listeners[1];
static struct log_limit limit = { .per_sec = 1, .what = "test" };
static char err[256];

static int way(void *arg, const struct trunk_peer *p, const struct net_listen_spec *a,
	       struct net_msg *w)
{
	(void)arg;
	(void)p;
	memset(w, 0, sizeof(*w));
	w->tp = a->tp;
	w->udp_fd = 3;
	return 0;
}

/* Two gateways on +1, gw1 first. */
static int trunk_up(struct trunk_state **st)
{
	unsigned line;
	size_t n;
	struct trunk_env env = { &tc, &fraud, listeners, 1, "example.test", 100, 100, way,
				 NULL, NULL };

	trunk_conf_init(&tc);
	memset(&fraud, 0, sizeof(fraud));
	fraud.alert_window = 600;
	if (net_listen_parse(listeners, 1, &n, "udp:127.0.0.1:5060", err, sizeof(err)) != 0 ||
	    trunk_conf_set(&tc, "peer gw1", "address", "udp:127.0.0.2:5060", 1, err, sizeof(err)) ||
	    trunk_conf_set(&tc, "peer gw2", "address", "udp:127.0.0.3:5060", 1, err, sizeof(err)) ||
	    trunk_conf_set(&tc, "routes", "+1", "gw1, gw2", 1, err, sizeof(err)) ||
	    trunk_conf_check(&tc, &line, err, sizeof(err)))
		return EINVAL;
	return trunk_state_new(st, &env);
}

/* alice's call to +1 212 555 0100: the peer it goes to first (placed when
 * place). */
static int call(struct trunk_state *st, bool place)
{
	static struct sip_uri ruri;
	struct trunk_outbound *o = malloc(sizeof(*o));
	struct trunk_alert a;
	struct trunk_call c;
	int first = -1;

	memset(&ruri, 0, sizeof(ruri));
	ruri.scheme = SIP_SCHEME_SIP;
	ruri.user = slice_cstr("2125550100");
	ruri.host = slice_cstr("example.test");
	c = (struct trunk_call){ &ruri, slice_cstr("alice"), "", false, 1, false, NULL, NOW,
				 (uint64_t)NOW * 1000 };
	if (o && trunk_state_outbound(st, o, &c) == 0 && o->v.allow) {
		first = o->first;
		if (place)
			trunk_state_placed(st, o, &c, slice_cstr("call-1"), &a);
	}
	free(o);
	return first;
}

static int count_rows(void *arg, const char *key, bool own, const char *counts)
{
	(void)key;
	(void)counts;
	((int *)arg)[own ? 0 : 1]++;
	return 0;
}

static bool up(struct store **s, struct trunk_state **st, struct nodes_fraud **f, const char *url,
	       const char *node)
{
	struct nodes_fraud_conf c;

	*s = NULL;
	*st = NULL;
	*f = NULL;
	if (store_open(s, url, err, sizeof(err)) != 0 || store_node_attach(*s, node, NULL, NULL) ||
	    trunk_up(st) != 0)
		return false;
	c = (struct nodes_fraud_conf){ *s, *st, "example.test", &limit };
	return nodes_fraud_new(f, &c) == 0;
}

static void down(struct store **s, struct trunk_state **st, struct nodes_fraud **f)
{
	nodes_fraud_free(f);
	trunk_state_free(st);
	store_close(s);
}

static void written_and_read_back(void)
{
	char url[512];
	struct store *s;
	struct trunk_state *st;
	struct nodes_fraud *f;
	int rows[2] = { 0, 0 };

	tmp_db(url, sizeof(url));
	CHECK(up(&s, &st, &f, url, "node-a"));
	CHECK_INT(nodes_fraud_read(f, true, NOW), 0);
	CHECK(!nodes_fraud_pending(f));
	CHECK_INT(call(st, true), 0);
	CHECK(nodes_fraud_pending(f));
	CHECK_INT(store_batch_begin(s), 0);
	CHECK_INT(nodes_fraud_write(f, NOW), 0);
	CHECK_INT(store_batch_end(s, true), 0);
	CHECK(!nodes_fraud_pending(f));
	CHECK_INT(store_fraud_list(s, NOW + 1, false, count_rows, rows), 0);
	CHECK_INT(rows[0], 2); /* u:alice, p:gw1: ours */
	CHECK_INT(rows[1], 0);
	down(&s, &st, &f);
	/* restarted: its own rows go on counting, gw1 is at calls_per_hour 1 */
	CHECK(up(&s, &st, &f, url, "node-a"));
	tc.peer[0].calls_per_hour = 1;
	CHECK_INT(call(st, false), 0); /* nothing read yet: gw1 */
	CHECK_INT(nodes_fraud_read(f, true, NOW + 1), 0);
	CHECK_INT(call(st, false), 1); /* gw1 full: gw2 */
	down(&s, &st, &f);
}

static void others_count(void)
{
	char url[512];
	struct store *s, *s2;
	struct trunk_state *st, *st2;
	struct nodes_fraud *f, *f2;

	if (!tmp_pg())
		return; /* one node on SQLite */
	tmp_db(url, sizeof(url));
	CHECK(up(&s, &st, &f, url, "node-a"));
	CHECK(up(&s2, &st2, &f2, url, "node-b"));
	CHECK_INT(call(st, true), 0);
	CHECK_INT(store_batch_begin(s), 0);
	CHECK_INT(nodes_fraud_write(f, NOW), 0);
	CHECK_INT(store_batch_end(s, true), 0);
	tc.peer[0].calls_per_hour = 1;
	/* b's reread of the others (not its own) counts a's call to gw1 */
	CHECK_INT(nodes_fraud_read(f2, false, NOW + 1), 0);
	CHECK_INT(call(st2, false), 1);
	/* a's reread of the others: none, so a's own count is not doubled */
	CHECK_INT(nodes_fraud_read(f, false, NOW + 1), 0);
	tc.peer[0].calls_per_hour = 2;
	CHECK_INT(call(st, false), 0);
	down(&s2, &st2, &f2);
	down(&s, &st, &f);
}

static void hold_stored(void)
{
	char url[512];
	struct store *s;
	struct trunk_state *st;
	struct nodes_fraud *f, *none = NULL;
	struct store_user u, out;
	struct trunk_alert a = { .raised = true, .hold = true, .user = "alice",
				 .why = "12 calls in 10 minutes", .full = "" };

	tmp_db(url, sizeof(url));
	CHECK(up(&s, &st, &f, url, "node-a"));
	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "alice");
	snprintf(u.domain, sizeof(u.domain), "example.test");
	snprintf(u.cred.realm, sizeof(u.cred.realm), "example.test");
	snprintf(u.cred.ha1_md5, sizeof(u.cred.ha1_md5), "0123456789abcdef0123456789abcdef");
	u.enabled = true;
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(nodes_fraud_hold(f, &a), 0);
	CHECK_INT(store_users_get(s, &out, "alice", "example.test"), 0);
	CHECK(strcmp(out.fraud_hold, "12 calls in 10 minutes") == 0);
	/* no hold asked: nothing stored; an unknown user: refused */
	a.hold = false;
	snprintf(a.user, sizeof(a.user), "bob");
	CHECK_INT(nodes_fraud_hold(f, &a), 0);
	a.hold = true;
	CHECK_INT(nodes_fraud_hold(f, &a), ENOENT);
	/* without a store: nothing read or written, the counters drained */
	CHECK_INT(nodes_fraud_new(&none, &(struct nodes_fraud_conf){ NULL, st, "example.test",
								     &limit }),
		  0);
	CHECK_INT(nodes_fraud_hold(none, &a), EINVAL);
	CHECK_INT(nodes_fraud_read(none, true, NOW), 0);
	CHECK_INT(call(st, true), 0);
	CHECK(nodes_fraud_pending(none));
	CHECK_INT(nodes_fraud_write(none, NOW), 0);
	CHECK(!nodes_fraud_pending(none));
	CHECK_INT(nodes_fraud_new(&none, &(struct nodes_fraud_conf){ NULL, NULL, "x", &limit }),
		  EINVAL);
	nodes_fraud_free(&none);
	CHECK(none == NULL);
	down(&s, &st, &f);
}

static struct store *oom_store;

/* new, read, a call written, free: with the nth allocation failing */
static int oom_run(void *arg)
{
	struct trunk_state *st = NULL;
	struct nodes_fraud *f = NULL;
	int rc;

	(void)arg;
	if ((rc = trunk_up(&st)) != 0)
		return rc;
	if ((rc = nodes_fraud_new(&f, &(struct nodes_fraud_conf){ oom_store, st, "example.test",
								   &limit })) == 0 &&
	    (rc = nodes_fraud_read(f, true, NOW)) == 0) {
		(void)call(st, true);
		if ((rc = store_batch_begin(oom_store)) == 0) {
			nodes_fraud_write(f, NOW);
			rc = store_batch_end(oom_store, true);
		}
	}
	nodes_fraud_free(&f);
	trunk_state_free(&st);
	return rc;
}

static void oom(void)
{
	char url[512];

	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&oom_store, url, err, sizeof(err)), 0);
	CHECK(CHECK_OOM_SWEEP(oom_run, NULL, 200) > 1);
	store_close(&oom_store);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(written_and_read_back),
		CASE(others_count),
		CASE(hold_stored),
		CASE(oom),
	};
	int rc;

	if (tmp_init() != 0)
		return 1;
	rc = check_main("nodes_fraud", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
