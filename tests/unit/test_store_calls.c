/*
 * test_store_calls: the calls' batch (store/calls.c): confirmed dialogs and
 * call records queued and written in one transaction with what the caller
 * rides along, on a real store (a SQLite file; PostgreSQL through the _pg
 * run), and the queue's bounds without one. With the allocation-failure
 * sweep over a whole batch.
 *
 * ENOSYS (a backend without dialogs): both backends built here keep
 * dialogs, so store_dialogs_put never says it; the queue's side of it
 * (store_calls_no_dialogs, as the server calls it when the startup listing
 * says ENOSYS) is tested without a store.
 */
#include "check.h"
#include "store/store.h"
#include "store_tmp.h"

#include <errno.h>

#define T0 1700000000000LL

static void make_dialog(struct store_dialog *d, const char *call_id)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->call_id, sizeof(d->call_id), "%s", call_id);
	snprintf(d->tag[0], sizeof(d->tag[0]), "from-%s", call_id);
	snprintf(d->tag[1], sizeof(d->tag[1]), "to-%s", call_id);
	snprintf(d->way[0], sizeof(d->way[0]), "udp:192.0.2.1:5060");
	snprintf(d->way[1], sizeof(d->way[1]), "udp:192.0.2.2:5060");
	snprintf(d->caller, sizeof(d->caller), "sip:alice@example.test");
	snprintf(d->callee, sizeof(d->callee), "sip:bob@example.test");
	d->start_at = T0;
	d->answer_at = T0 + 1000;
	d->expires_at = T0 + 3600000;
}

static void make_cdr(struct store_cdr *c, const char *call_id)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->call_id, sizeof(c->call_id), "%s", call_id);
	snprintf(c->caller, sizeof(c->caller), "sip:alice@example.test");
	snprintf(c->auth_user, sizeof(c->auth_user), "alice");
	snprintf(c->callee, sizeof(c->callee), "sip:bob@example.test");
	snprintf(c->src, sizeof(c->src), "udp:192.0.2.1:5060");
	snprintf(c->transport, sizeof(c->transport), "udp");
	c->start_at = T0;
	c->answer_at = T0 + 1000;
	c->end_at = T0 + 5000;
	c->final_status = 200;
	snprintf(c->hangup, sizeof(c->hangup), "caller");
}

/* What the ops saw. */
struct seen {
	struct store *s;
	size_t dialog_failed, record_failed, inside;
	int last_rc;
	bool end_early; /* inside: end the batch first, so that its commit fails */
};

static void seen_dialog_failed(void *arg, const struct store_dialog *d, bool put, int rc)
{
	struct seen *w = arg;

	(void)d;
	(void)put;
	w->dialog_failed++;
	w->last_rc = rc;
}

static void seen_record_failed(void *arg, const struct store_cdr *c, int rc)
{
	struct seen *w = arg;

	(void)c;
	w->record_failed++;
	w->last_rc = rc;
}

/* The caller's own write in the batch's transaction: one more record. */
static void seen_inside(void *arg)
{
	struct seen *w = arg;
	struct store_cdr c;

	w->inside++;
	if (!w->s)
		return;
	make_cdr(&c, "inside");
	(void)store_cdr_add(w->s, NULL, &c);
	if (w->end_early)
		(void)store_batch_end(w->s, false);
}

static const struct store_calls_ops ops = { seen_dialog_failed, seen_record_failed, seen_inside };

static int count_dialog(void *arg, const struct store_dialog *d)
{
	(void)d;
	++*(size_t *)arg;
	return 0;
}

static size_t dialogs_stored(struct store *s)
{
	size_t n = 0;

	return store_dialogs_list(s, count_dialog, &n) == 0 ? n : (size_t)-1;
}

struct ids {
	size_t n;
	int64_t id[8];
	char call_id[8][STORE_CALLID_MAX];
};

static int collect(void *arg, const struct store_cdr *c)
{
	struct ids *g = arg;

	if (g->n < ARRAY_SIZE(g->id)) {
		g->id[g->n] = c->id;
		snprintf(g->call_id[g->n], sizeof(g->call_id[0]), "%s", c->call_id);
	}
	g->n++;
	return 0;
}

static size_t records_stored(struct store *s, struct ids *g)
{
	memset(g, 0, sizeof(*g));
	return store_cdr_list(s, 0, NULL, collect, g) == 0 ? g->n : (size_t)-1;
}

/* Bounded wait until batch k is durable on s (PostgreSQL writes behind). */
static uint64_t durable(struct store_calls *q, struct store *s, uint64_t k)
{
	for (int i = 0; i < 2000 && store_calls_durable(q, s) < k; i++)
		usleep(5000);
	return store_calls_durable(q, s);
}

static int open_both(struct store **s, struct store_calls **q)
{
	char path[256];
	int rc;

	*s = NULL;
	*q = NULL;
	if ((rc = store_open(s, tmp_db(path, sizeof(path)), NULL, 0)) != 0)
		return rc;
	if ((rc = store_calls_new(q)) != 0)
		store_close(s);
	return rc;
}

/* A dialog that ends within the batch it began in never reaches the store. */
static void put_then_delete_one_batch(void)
{
	struct store *s;
	struct store_calls *q;
	struct store_dialog d, e;
	struct store_calls_result r;
	struct seen w = { 0 };

	CHECK_INT(open_both(&s, &q), 0);
	w.s = s;
	make_dialog(&d, "c1");
	make_dialog(&e, "c2");
	CHECK_INT(store_calls_dialog_put(q, &d), 1); /* it goes in batch 1 */
	CHECK_INT(store_calls_dialog_put(q, &e), 1);
	CHECK(!store_calls_dialog_forget(q, "c1", "from-c1", "to-other")); /* not that one */
	CHECK(store_calls_dialog_forget(q, "c1", "from-c1", "to-c1"));
	CHECK(!store_calls_dialog_forget(q, "c1", "from-c1", "to-c1")); /* forgotten once */
	CHECK_INT(store_calls_pending(q), 1);
	r = store_calls_commit(q, s, &ops, &w);
	CHECK_INT(r.k, 1);
	CHECK_INT(r.rc, 0);
	CHECK(!r.dialogs_failed && !r.dialogs_unstored);
	CHECK_INT(store_calls_pending(q), 0);
	CHECK_INT(w.dialog_failed + w.record_failed, 0);
	CHECK_INT(dialogs_stored(s), 1); /* c2 only */
	store_calls_free(&q);
	CHECK(q == NULL);
	store_close(&s);
}

/* A dialog stored by one batch and ended in a later one: its row goes. */
static void put_then_delete_later_batch(void)
{
	struct store *s;
	struct store_calls *q;
	struct store_dialog d;
	struct store_calls_result r;
	struct seen w = { 0 };

	CHECK_INT(open_both(&s, &q), 0);
	w.s = s;
	make_dialog(&d, "c1");
	CHECK_INT(store_calls_dialog_put(q, &d), 1);
	r = store_calls_commit(q, s, &ops, &w);
	CHECK(r.rc == 0 && !r.dialogs_failed);
	CHECK_INT(dialogs_stored(s), 1);
	CHECK(!store_calls_dialog_forget(q, "c1", "from-c1", "to-c1")); /* already stored */
	CHECK_INT(store_calls_dialog_delete(q, "c1", "from-c1", "to-c1"), 0);
	CHECK_INT(store_calls_next(q), 2);
	r = store_calls_commit(q, s, &ops, &w);
	CHECK_INT(r.k, 2);
	CHECK(r.rc == 0 && !r.dialogs_failed);
	CHECK_INT(dialogs_stored(s), 0);
	CHECK_INT(w.inside, 2);
	CHECK_INT(durable(q, s, 2), 2);
	store_calls_free(&q);
	store_close(&s);
}

/* Records come back with the store's ids (PostgreSQL: 0, its batch is
 * queued), in the order queued, after the dialog writes; ops->inside writes
 * in the same batch; a record the store refuses has id 0 and is reported,
 * the others are kept. */
static void records_get_ids_in_order(void)
{
	struct store *s;
	struct store_calls *q;
	struct store_cdr c, *m;
	struct store_calls_result r;
	struct seen w = { 0 };
	struct ids g;

	CHECK_INT(open_both(&s, &q), 0);
	w.s = s;
	make_cdr(&c, "r1");
	CHECK(store_calls_record(q, &c) != NULL);
	make_cdr(&c, "r2");
	c.end_at = T0 - 1; /* refused: ends before it starts */
	CHECK(store_calls_record(q, &c) != NULL);
	make_cdr(&c, "r3");
	m = store_calls_record(q, &c);
	CHECK(m != NULL);
	m->emergency = true; /* the caller marks its copy before the commit */
	r = store_calls_commit(q, s, &ops, &w);
	CHECK_INT(r.rc, 0);
	CHECK_INT(r.nrecords, 3);
	CHECK(strcmp(r.records[0].call_id, "r1") == 0 && strcmp(r.records[2].call_id, "r3") == 0);
	CHECK_INT(r.records[1].id, 0);
	CHECK(r.records[2].emergency);
	CHECK_INT(w.record_failed, 1);
	CHECK_INT(w.last_rc, EINVAL);
	CHECK(!r.dialogs_failed); /* a record is no dialog */
	CHECK_INT(durable(q, s, 1), 1);
	CHECK_INT(records_stored(s, &g), 3);
	CHECK(strcmp(g.call_id[0], "r1") == 0 && strcmp(g.call_id[1], "r3") == 0);
	CHECK(strcmp(g.call_id[2], "inside") == 0);
	CHECK(g.id[0] > 0 && g.id[1] > g.id[0] && g.id[2] > g.id[1]);
	if (tmp_pg()) {
		/* PostgreSQL queues a batch's writes: the ids come later */
		CHECK_INT(r.records[0].id, 0);
		CHECK_INT(r.records[2].id, 0);
	} else {
		CHECK_INT(r.records[0].id, g.id[0]);
		CHECK_INT(r.records[2].id, g.id[1]);
	}
	store_calls_free(&q);
	store_close(&s);
}

/* A dialog the store refuses: reported, and the batch's dialogs failed
 * (its calls may not wait for it), so it is never counted durable. */
static void refused_dialog_fails_the_dialogs(void)
{
	struct store *s;
	struct store_calls *q;
	struct store_dialog d;
	struct store_calls_result r;
	struct seen w = { 0 };

	CHECK_INT(open_both(&s, &q), 0);
	w.s = s;
	make_dialog(&d, "c1");
	d.way[1][0] = '\0'; /* refused: no way to the callee */
	store_calls_dialog_put(q, &d);
	r = store_calls_commit(q, s, &ops, &w);
	CHECK_INT(r.rc, 0);
	CHECK(r.dialogs_failed);
	CHECK_INT(w.dialog_failed, 1);
	CHECK_INT(w.last_rc, EINVAL);
	CHECK_INT(store_calls_durable(q, s), 0);
	/* the next batch is counted again, and covers the one before */
	make_dialog(&d, "c2");
	CHECK_INT(store_calls_dialog_put(q, &d), 2);
	r = store_calls_commit(q, s, &ops, &w);
	CHECK(r.rc == 0 && !r.dialogs_failed);
	CHECK_INT(durable(q, s, 2), 2);
	store_calls_free(&q);
	store_close(&s);
}

/* A commit that fails keeps none of the batch: every record comes back with
 * id 0 and the dialogs failed, also the caller's own write is gone. */
static void failed_commit(void)
{
	struct store *s;
	struct store_calls *q;
	struct store_dialog d;
	struct store_cdr c;
	struct store_calls_result r;
	struct seen w = { 0 };
	struct ids g;

	CHECK_INT(open_both(&s, &q), 0);
	w.s = s;
	w.end_early = true;
	make_dialog(&d, "c1");
	store_calls_dialog_put(q, &d);
	make_cdr(&c, "r1");
	store_calls_record(q, &c);
	make_cdr(&c, "r2");
	store_calls_record(q, &c);
	r = store_calls_commit(q, s, &ops, &w);
	CHECK(r.rc != 0);
	CHECK(r.dialogs_failed);
	CHECK_INT(r.nrecords, 2);
	CHECK_INT(r.records[0].id, 0);
	CHECK_INT(r.records[1].id, 0);
	CHECK_INT(w.record_failed + w.dialog_failed, 0); /* each write was fine */
	CHECK_INT(records_stored(s, &g), 0);
	CHECK_INT(dialogs_stored(s), 0);
	CHECK_INT(store_calls_pending(q), 0);
	CHECK_INT(store_calls_durable(q, s), 0);
	store_calls_free(&q);
	store_close(&s);
}

/* Full at STORE_CALLS_MAX of either kind, or at batch_max of both; a full
 * queue takes nothing more. */
static void full_at_the_bound(void)
{
	struct store_calls *q = NULL;
	struct store_dialog d;
	struct store_cdr c;
	struct store_calls_result r;
	struct seen w = { 0 };

	CHECK_INT(store_calls_new(&q), 0);
	make_dialog(&d, "c1");
	make_cdr(&c, "r1");
	CHECK(!store_calls_full(q, 3));
	store_calls_dialog_put(q, &d);
	CHECK(store_calls_record(q, &c) != NULL);
	CHECK(!store_calls_full(q, 3));
	CHECK(!store_calls_full(q, 0));
	CHECK_INT(store_calls_dialog_delete(q, "c9", "a", "b"), 0);
	CHECK(store_calls_full(q, 3)); /* batch_max rows together */
	CHECK(!store_calls_full(q, 4));
	CHECK(!store_calls_full(q, 0));
	r = store_calls_commit(q, NULL, &ops, &w);
	for (size_t i = 0; i < STORE_CALLS_MAX; i++) {
		CHECK(!store_calls_full(q, 0));
		CHECK(store_calls_record(q, &c) != NULL);
	}
	CHECK(store_calls_full(q, 0));
	CHECK(store_calls_record(q, &c) == NULL);
	CHECK_INT(store_calls_pending(q), STORE_CALLS_MAX);
	r = store_calls_commit(q, NULL, &ops, &w);
	CHECK_INT(r.nrecords, STORE_CALLS_MAX);
	for (size_t i = 0; i < STORE_CALLS_MAX; i++) {
		CHECK(!store_calls_full(q, 0));
		CHECK_INT(store_calls_dialog_delete(q, "c9", "a", "b"), 0);
	}
	CHECK(store_calls_full(q, 0));
	CHECK_INT(store_calls_dialog_delete(q, "c9", "a", "b"), EOVERFLOW);
	CHECK_INT(store_calls_dialog_put(q, &d), 0);
	CHECK_INT(store_calls_pending(q), STORE_CALLS_MAX);
	store_calls_free(&q);
	store_calls_free(&q); /* twice: nothing */
}

/* Without a store: records come back with id 0 (the CDR log keeps them),
 * dialogs are dropped, batches still numbered, the caller's writes still
 * asked for; nothing is ever durable. And a backend without dialogs: puts
 * wait on nothing. */
static void no_store_and_no_dialogs(void)
{
	struct store_calls *q = NULL;
	struct store_dialog d;
	struct store_cdr c;
	struct store_calls_result r;
	struct seen w = { 0 };

	CHECK_INT(store_calls_new(&q), 0);
	make_dialog(&d, "c1");
	make_cdr(&c, "r1");
	CHECK_INT(store_calls_dialog_put(q, &d), 1);
	store_calls_record(q, &c);
	r = store_calls_commit(q, NULL, &ops, &w);
	CHECK_INT(r.k, 1);
	CHECK_INT(r.rc, 0);
	CHECK(!r.dialogs_failed);
	CHECK_INT(r.nrecords, 1);
	CHECK_INT(r.records[0].id, 0);
	CHECK_INT(w.inside, 1);
	CHECK_INT(store_calls_pending(q), 0);
	CHECK_INT(store_calls_durable(q, NULL), 0);
	store_calls_no_dialogs(q);
	CHECK_INT(store_calls_dialog_put(q, &d), 0); /* queued, but nothing to wait for */
	CHECK_INT(store_calls_pending(q), 1);
	r = store_calls_commit(q, NULL, &ops, &w);
	CHECK_INT(r.k, 2);
	CHECK(r.dialogs_unstored);
	store_calls_free(&q);
}

/* The whole of a batch with a store, for the sweep. */
static int one_batch(void *arg)
{
	struct store *s;
	struct store_calls *q;
	struct store_dialog d;
	struct store_cdr c;
	struct store_calls_result r;
	struct seen w = { 0 };
	int rc;

	(void)arg;
	if ((rc = open_both(&s, &q)) != 0)
		return rc;
	make_dialog(&d, "c1");
	make_cdr(&c, "r1");
	store_calls_dialog_put(q, &d);
	store_calls_record(q, &c);
	r = store_calls_commit(q, s, &ops, &w);
	rc = r.rc ? r.rc : r.dialogs_failed || w.record_failed ? EIO : 0;
	if (rc == 0)
		rc = durable(q, s, 1) == 1 && (tmp_pg() || r.records[0].id > 0) ? 0 : EPROTO;
	store_calls_free(&q);
	store_close(&s);
	return rc;
}

static void real_store(void)
{
	CHECK_INT(one_batch(NULL), 0);
}

static void allocation_failures(void)
{
	CHECK(CHECK_OOM_SWEEP(one_batch, NULL, 5000) > 1);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(put_then_delete_one_batch),
		CASE(put_then_delete_later_batch),
		CASE(records_get_ids_in_order),
		CASE(refused_dialog_fails_the_dialogs),
		CASE(failed_commit),
		CASE(full_at_the_bound),
		CASE(no_store_and_no_dialogs),
		CASE(real_store),
		CASE(allocation_failures),
	};
	int rc;

	if (tmp_init())
		return 1;
	rc = check_main("store_calls", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
