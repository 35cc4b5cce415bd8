/*
 * test_store_inflight: a writer's batches between commit and durable
 * (store/inflight.c), shared by the registrar's REGISTER batches and the
 * server's calls' batch. Pure cases, then the same numbers from a real
 * SQLite store (a file; on PostgreSQL through the _pg run), with the
 * allocation-failure sweep over the store's part.
 */
#include "check.h"
#include "store/store.h"
#include "store_tmp.h"

#include <errno.h>

/* Durable batches leave from the head, in order; a batch the store
 * numbered 0 (each write its own transaction) is durable at once. */
static void in_order(void)
{
	struct store_inflight f = { 0 };

	CHECK_INT(store_inflight_durable(&f, 100), 0); /* nothing yet */
	store_inflight_push(&f, 1, 10);
	store_inflight_push(&f, 2, 11);
	store_inflight_push(&f, 3, 12);
	CHECK_INT(f.n, 3);
	CHECK_INT(store_inflight_durable(&f, 9), 0);
	CHECK_INT(store_inflight_durable(&f, 11), 2);
	CHECK_INT(f.n, 1);
	CHECK_INT(store_inflight_durable(&f, 11), 2); /* asked again: the same */
	CHECK_INT(store_inflight_durable(&f, 12), 3);
	CHECK_INT(f.n, 0);
	CHECK_INT(store_inflight_durable(&f, 0), 3); /* never goes back */
	store_inflight_push(&f, 4, 0);
	CHECK_INT(store_inflight_durable(&f, 0), 4);
}

/* The bound: full at STORE_INFLIGHT_MAX; one more push takes the newest
 * entry's place, so that batch's answers wait for the later one (later,
 * never early). */
static void full_replaces_the_newest(void)
{
	struct store_inflight f = { 0 };
	uint64_t k;

	for (k = 1; k <= STORE_INFLIGHT_MAX; k++) {
		CHECK(!store_inflight_full(&f));
		store_inflight_push(&f, k, 100 + k);
	}
	CHECK(store_inflight_full(&f));
	store_inflight_push(&f, k, 100 + k); /* k = MAX + 1 */
	CHECK_INT(f.n, STORE_INFLIGHT_MAX);
	CHECK_INT(store_inflight_durable(&f, 100 + STORE_INFLIGHT_MAX - 1), STORE_INFLIGHT_MAX - 1);
	/* the replaced batch MAX is not durable on its own number */
	CHECK_INT(store_inflight_durable(&f, 100 + STORE_INFLIGHT_MAX), STORE_INFLIGHT_MAX - 1);
	CHECK_INT(store_inflight_durable(&f, 100 + k), k);
	CHECK(!store_inflight_full(&f));
}

/* A writer's three batches on a real store: each committed batch's number
 * from store_batch_next_seq, durable once store_durable_seq reaches it
 * (SQLite: at commit; PostgreSQL: when its queue has written it). */
static int with_store(void *arg)
{
	struct store_inflight f = { 0 };
	struct store *s = NULL;
	char path[256];
	uint64_t seq[3], k;
	int rc;

	(void)arg;
	if ((rc = store_open(&s, tmp_db(path, sizeof(path)), NULL, 0)) != 0)
		return rc;
	for (k = 1; k <= 3; k++) {
		if ((rc = store_batch_begin(s)) != 0)
			goto out;
		seq[k - 1] = store_batch_next_seq(s);
		if ((rc = store_batch_end(s, true)) != 0)
			goto out;
		store_inflight_push(&f, k, seq[k - 1]);
	}
	rc = EPROTO;
	if (seq[0] >= seq[1] || seq[1] >= seq[2])
		goto out;
	/* bounded: a backend that writes behind gets time to catch up */
	for (int i = 0; i < 2000 && store_inflight_durable(&f, store_durable_seq(s)) < 3; i++)
		usleep(5000);
	rc = store_inflight_durable(&f, store_durable_seq(s)) == 3 && f.n == 0 ? 0 : EPROTO;
out:
	store_close(&s);
	return rc;
}

static void real_store(void)
{
	CHECK_INT(with_store(NULL), 0);
}

static void allocation_failures(void)
{
	CHECK(CHECK_OOM_SWEEP(with_store, NULL, 5000) > 1);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(in_order),
		CASE(full_replaces_the_newest),
		CASE(real_store),
		CASE(allocation_failures),
	};
	int rc;

	if (tmp_init())
		return 1;
	rc = check_main("store_inflight", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
