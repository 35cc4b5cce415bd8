/*
 * store/calls.c: the calls' batch, the dialogs and call records waiting for
 * one transaction (store.h, "the calls' batch").
 *
 * Two bounded arrays: the dialog writes and the records, in the order they
 * were queued, written in that order. A dialog that ends while its put still
 * waits is forgotten rather than put and deleted (most calls that fail fast
 * never touch the store); that search walks the waiting writes, at most
 * STORE_CALLS_MAX, newest first. The batch numbers and their way to durable
 * (store_inflight) live here too, so the server keeps only the wiring: when
 * to commit, what rides along, and what to do with the result.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct calls_dlg_op {
	bool put; /* else delete (d's key only) */
	struct store_dialog d;
};

struct store_calls {
	struct calls_dlg_op *dlg; /* STORE_CALLS_MAX */
	size_t ndlg;
	struct store_cdr *cdr; /* STORE_CALLS_MAX */
	size_t ncdr;
	uint64_t k; /* the last batch committed */
	struct store_inflight inflight;
	bool unstored; /* the backend keeps no dialogs */
};

int store_calls_new(struct store_calls **qp)
{
	struct store_calls *q = calloc(1, sizeof(*q));

	if (!q)
		return ENOMEM;
	q->dlg = calloc(STORE_CALLS_MAX, sizeof(*q->dlg));
	q->cdr = calloc(STORE_CALLS_MAX, sizeof(*q->cdr));
	if (!q->dlg || !q->cdr) {
		store_calls_free(&q);
		return ENOMEM;
	}
	*qp = q;
	return 0;
}

void store_calls_free(struct store_calls **qp)
{
	struct store_calls *q = *qp;

	if (!q)
		return;
	free(q->dlg);
	free(q->cdr);
	free(q);
	*qp = NULL;
}

bool store_calls_full(const struct store_calls *q, uint32_t batch_max)
{
	return q->ncdr == STORE_CALLS_MAX || q->ndlg == STORE_CALLS_MAX ||
	       (batch_max && q->ncdr + q->ndlg >= batch_max);
}

size_t store_calls_pending(const struct store_calls *q)
{
	return q->ncdr + q->ndlg;
}

uint64_t store_calls_next(const struct store_calls *q)
{
	return q->k + 1;
}

uint64_t store_calls_dialog_put(struct store_calls *q, const struct store_dialog *d)
{
	if (q->ndlg == STORE_CALLS_MAX)
		return 0;
	q->dlg[q->ndlg].put = true;
	q->dlg[q->ndlg++].d = *d;
	return q->unstored ? 0 : q->k + 1;
}

bool store_calls_dialog_forget(struct store_calls *q, const char *call_id, const char *tag0,
			       const char *tag1)
{
	const struct calls_dlg_op *o;

	for (size_t i = q->ndlg; i-- > 0;) {
		o = &q->dlg[i];
		if (o->put && !strcmp(o->d.call_id, call_id) && !strcmp(o->d.tag[0], tag0) &&
		    !strcmp(o->d.tag[1], tag1)) {
			q->dlg[i] = q->dlg[--q->ndlg];
			return true;
		}
	}
	return false;
}

int store_calls_dialog_delete(struct store_calls *q, const char *call_id, const char *tag0,
			      const char *tag1)
{
	struct calls_dlg_op *o;

	if (q->ndlg == STORE_CALLS_MAX)
		return EOVERFLOW;
	o = &q->dlg[q->ndlg++];
	o->put = false;
	base_strcpy(o->d.call_id, sizeof(o->d.call_id), call_id);
	base_strcpy(o->d.tag[0], sizeof(o->d.tag[0]), tag0);
	base_strcpy(o->d.tag[1], sizeof(o->d.tag[1]), tag1);
	return 0;
}

struct store_cdr *store_calls_record(struct store_calls *q, const struct store_cdr *rec)
{
	if (q->ncdr == STORE_CALLS_MAX)
		return NULL;
	q->cdr[q->ncdr] = *rec;
	return &q->cdr[q->ncdr++];
}

void store_calls_no_dialogs(struct store_calls *q)
{
	q->unstored = true;
}

/* The dialog writes, in order; the queue of them is empty after. */
static void write_dialogs(struct store_calls *q, struct store *s, const struct store_calls_ops *ops,
			  void *arg, struct store_calls_result *r)
{
	const struct calls_dlg_op *o;
	int rc;

	for (size_t i = 0; s && i < q->ndlg; i++) {
		o = &q->dlg[i];
		rc = o->put ? store_dialogs_put(s, &o->d)
			    : store_dialogs_delete(s, o->d.call_id, o->d.tag[0], o->d.tag[1]);
		if (rc == ENOSYS)
			q->unstored = true; /* later 2xx do not wait */
		else if (rc && o->put)
			r->dialogs_failed = true;
		if (rc && rc != ENOSYS && ops->dialog_failed)
			ops->dialog_failed(arg, &o->d, o->put, rc);
	}
	q->ndlg = 0;
}

struct store_calls_result store_calls_commit(struct store_calls *q, struct store *s,
					     const struct store_calls_ops *ops, void *arg)
{
	struct store_calls_result r = { .k = ++q->k };
	bool batch = false;
	uint64_t store_seq = 0;
	int rc;

	if (s)
		batch = store_batch_begin(s) == 0; /* else: one transaction each */
	write_dialogs(q, s, ops, arg, &r);
	for (size_t i = 0; i < q->ncdr; i++) {
		struct store_cdr *c = &q->cdr[i];
		int64_t id = 0;

		rc = s ? store_cdr_add(s, &id, c) : 0;
		if (rc && ops->record_failed)
			ops->record_failed(arg, c, rc);
		c->id = rc ? 0 : id;
	}
	if (ops->inside)
		ops->inside(arg);
	if (batch) {
		store_seq = store_batch_next_seq(s); /* the number this commit gets */
		if ((r.rc = store_batch_end(s, true)) != 0) {
			r.dialogs_failed = true;
			for (size_t i = 0; i < q->ncdr; i++)
				q->cdr[i].id = 0;
		}
	}
	if (s && !r.dialogs_failed)
		store_inflight_push(&q->inflight, r.k, store_seq); /* 0: durable at once */
	r.dialogs_unstored = q->unstored;
	r.records = q->cdr;
	r.nrecords = q->ncdr;
	q->ncdr = 0; /* readable until the next record is queued */
	return r;
}

uint64_t store_calls_durable(struct store_calls *q, struct store *s)
{
	return store_inflight_durable(&q->inflight, s ? store_durable_seq(s) : 0);
}
