/*
 * registrar/hold.c: answers held until the batch that holds their changes is
 * durable (group commit).
 *
 * The registrar queues binding changes and commits them in one transaction
 * per tick or per batch_max changes. A REGISTER that changed something is
 * answered only once its change is durable: the server builds the 200 OK
 * and hands its bytes, the way back and the destination to reg_hold_push,
 * tagged with the number of the batch its changes will be committed in
 * (store_batch_next_seq). After a commit, reg_hold_release sends every
 * answer whose batch number is now durable; after a failed batch,
 * reg_hold_drop forgets the answers that waited on it (the phone was told
 * nothing and retries, which is honest; a 200 for a binding that is not
 * stored is not).
 *
 * Batch numbers only grow, so the list is ordered by them: release takes
 * from the head, drop cuts the tail. Each entry is one allocation (the bytes
 * inline). The list is bounded by a count given at creation; the registrar
 * keeps it no longer than its queue of pending changes, since every held
 * answer waits on at least one of them.
 */
#include "registrar.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

struct held {
	struct held *next;
	uint64_t seq;
	struct net_msg way;     /* buf unused */
	struct net_addr dst;
	uint16_t status;
	size_t len, note_len;   /* buf holds the answer, then the note */
	char buf[];
};

struct reg_hold {
	struct held *head, **tail;
	size_t n, max;
	size_t bytes;           /* of answers held now */
	uint64_t last_seq;      /* of the newest entry */
};

int reg_hold_new(struct reg_hold **hp, size_t max)
{
	struct reg_hold *h;

	if (!hp || max == 0)
		return EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return ENOMEM;
	h->tail = &h->head;
	h->max = max;
	*hp = h;
	return 0;
}

static void cut_from(struct reg_hold *h, struct held **pp, size_t *n)
{
	struct held *e = *pp, *next;

	*pp = NULL;
	h->tail = pp;
	for (; e; e = next) {
		next = e->next;
		h->n--;
		h->bytes -= e->len + e->note_len;
		free(e);
		(*n)++;
	}
}

void reg_hold_free(struct reg_hold **hp)
{
	size_t n = 0;

	if (!hp || !*hp)
		return;
	cut_from(*hp, &(*hp)->head, &n);
	free(*hp);
	*hp = NULL;
}

int reg_hold_push(struct reg_hold *h, uint64_t seq, uint16_t status, const struct net_msg *way,
		  const struct net_addr *dst, const char *buf, size_t len, const void *note,
		  size_t note_len)
{
	struct held *e;

	if (!h || !way || !dst || (!buf && len) || (!note && note_len) || seq == 0 ||
	    len > SIZE_MAX / 2 || note_len > SIZE_MAX / 2 - sizeof(*e) - len)
		return EINVAL;
	if (h->head && seq < h->last_seq)
		return EINVAL;
	/* bounded in count, and in bytes: REG_HOLD_AVG_MAX per answer on
	 * average (an answer echoes the request's Vias: up to 64 KiB each) */
	if (h->n >= h->max || len + note_len > h->max * REG_HOLD_AVG_MAX - h->bytes)
		return EOVERFLOW;
	e = malloc(sizeof(*e) + len + note_len);
	if (!e)
		return ENOMEM;
	e->next = NULL;
	e->seq = seq;
	e->way = *way;
	e->way.buf = NULL;
	e->way.len = 0;
	e->dst = *dst;
	e->status = status;
	e->len = len;
	e->note_len = note_len;
	if (len)
		memcpy(e->buf, buf, len);
	if (note_len)
		memcpy(e->buf + len, note, note_len);
	*h->tail = e;
	h->tail = &e->next;
	h->n++;
	h->bytes += len + note_len;
	h->last_seq = seq;
	return 0;
}

size_t reg_hold_release(struct reg_hold *h, uint64_t durable, reg_hold_send_fn *fn, void *arg)
{
	size_t n = 0;

	while (h && h->head && h->head->seq <= durable) {
		struct held *e = h->head;

		h->head = e->next;
		if (!h->head)
			h->tail = &h->head;
		h->n--;
		h->bytes -= e->len + e->note_len;
		if (fn)
			fn(arg, e->status, &e->way, &e->dst, e->buf, e->len, e->buf + e->len,
			   e->note_len);
		free(e);
		n++;
	}
	return n;
}

size_t reg_hold_notes(struct reg_hold *h, uint64_t seq, reg_hold_note_fn *fn, void *arg)
{
	size_t n = 0;

	for (struct held *e = h ? h->head : NULL; e; e = e->next) {
		if (e->seq != seq || e->note_len == 0)
			continue;
		if (fn)
			fn(arg, e->buf + e->len, e->note_len);
		h->bytes -= e->note_len;
		e->note_len = 0;
		n++;
	}
	return n;
}

size_t reg_hold_drop(struct reg_hold *h, uint64_t from_seq)
{
	struct held **pp;
	size_t n = 0;

	if (!h)
		return 0;
	for (pp = &h->head; *pp && (*pp)->seq < from_seq; pp = &(*pp)->next)
		;
	cut_from(h, pp, &n);
	return n;
}

size_t reg_hold_count(const struct reg_hold *h)
{
	return h ? h->n : 0;
}

void reg_hold_set_max(struct reg_hold *h, size_t max)
{
	if (h && max)
		h->max = max;
}

size_t reg_hold_bytes(const struct reg_hold *h)
{
	return h ? h->bytes : 0;
}
