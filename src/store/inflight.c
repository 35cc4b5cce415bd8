/*
 * store/inflight.c: a writer's own batches on their way to durable.
 *
 * A writer that holds answers until their batch is durable (group commit:
 * the registrar's REGISTER answers, the server's calls' batch) numbers its
 * batches k = 1, 2, ... (the numbers its held answers wait on) and learns,
 * at each commit, the store's number for it (store_batch_next_seq). The
 * store only says "durable up to store_seq N" (store_durable_seq); this
 * turns that back into "durable up to my k". Both numbers only grow, so the
 * entries are in order: durable ones leave from the head. Pure: no store,
 * no allocation.
 */
#include "store.h"

#include <string.h>

bool store_inflight_full(const struct store_inflight *f)
{
	return f->n == STORE_INFLIGHT_MAX;
}

void store_inflight_push(struct store_inflight *f, uint64_t k, uint64_t store_seq)
{
	if (f->n == STORE_INFLIGHT_MAX) {
		/* the newest entry stands for both: the older batch's answers
		 * wait a little longer, never less */
		f->e[f->n - 1].k = k;
		f->e[f->n - 1].store_seq = store_seq;
		return;
	}
	f->e[f->n].k = k;
	f->e[f->n++].store_seq = store_seq;
}

uint64_t store_inflight_durable(struct store_inflight *f, uint64_t durable_seq)
{
	size_t i = 0;

	while (i < f->n && f->e[i].store_seq <= durable_seq)
		f->durable_k = f->e[i++].k;
	if (i) {
		memmove(f->e, f->e + i, (f->n - i) * sizeof(f->e[0]));
		f->n -= i;
	}
	return f->durable_k;
}
