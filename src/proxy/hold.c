/*
 * proxy/hold.c: answers held until the batch holding their change is
 * durable (group commit for calls, as registrar/hold.c is for REGISTER).
 *
 * The server writes confirmed dialogs and the records of ended calls in one
 * transaction per tick. The answers that tell a peer about such a change -
 * the 2xx that confirms a dialog (after it the caller believes the call
 * survives a restart) and the final response to the BYE that ended a call
 * (after it the call "has its record") - are copied here, tagged with the
 * number of the batch their row goes in, and sent by the core once that
 * batch is durable (proxy_durable). Many calls share one transaction, so a
 * call costs no commit of its own; an answer waits at most a tick.
 *
 * Batch numbers only grow, so the list is in batch order: release takes
 * from the head, a failed batch cuts the tail. Each entry is one allocation
 * with its bytes inline, bounded in count and in bytes.
 */
#include "internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

void proxy_hold_init(struct proxy_hold *h, size_t max)
{
	memset(h, 0, sizeof(*h));
	h->tail = &h->head;
	h->max = max;
}

size_t proxy_hold_fini(struct proxy_hold *h)
{
	size_t n = 0;

	while (h->head) {
		struct proxy_held *e = h->head;
		h->head = e->next;
		free(e);
		n++;
	}
	h->tail = &h->head;
	h->n = h->bytes = 0;
	return n;
}

void proxy_hold_set_max(struct proxy_hold *h, size_t max)
{
	h->max = max;
}

bool proxy_hold_full(const struct proxy_hold *h)
{
	return h->n >= h->max;
}

int proxy_hold_push(struct proxy_hold *h, uint64_t seq, void *owner, const struct txn_peer *to,
		    uint16_t status, const char *reason, struct slice tag, const char *buf,
		    size_t len, bool confirms)
{
	struct proxy_held *e;

	if (!to || seq == 0 || (!buf && len) || (len == 0 && !reason) ||
	    len > SIZE_MAX - sizeof(*e) || (h->head && seq < h->last_seq))
		return EINVAL;
	if (h->n >= h->max || len > h->max * PROXY_HOLD_AVG_MAX - h->bytes)
		return EOVERFLOW;
	e = malloc(sizeof(*e) + len);
	if (!e)
		return ENOMEM;
	e->next = NULL;
	e->seq = seq;
	e->owner = owner;
	e->to = *to;
	e->status = status;
	e->reason = reason;
	e->confirms = confirms;
	e->len = len;
	e->tag_len = tag.len;
	if (tag.len && tag.len <= sizeof(e->tag))
		memcpy(e->tag, tag.p, tag.len);
	if (len)
		memcpy(e->buf, buf, len);
	*h->tail = e;
	h->tail = &e->next;
	h->n++;
	h->bytes += len;
	h->last_seq = seq;
	return 0;
}

struct proxy_held *proxy_hold_take(struct proxy_hold *h, uint64_t durable)
{
	struct proxy_held *e = h->head;

	if (!e || e->seq > durable)
		return NULL;
	h->head = e->next;
	if (!h->head)
		h->tail = &h->head;
	h->n--;
	h->bytes -= e->len;
	e->next = NULL;
	return e;
}

struct proxy_held *proxy_hold_cut(struct proxy_hold *h, uint64_t from_seq)
{
	struct proxy_held **pp = &h->head, *list;

	while (*pp && (*pp)->seq < from_seq)
		pp = &(*pp)->next;
	list = *pp;
	*pp = NULL;
	h->tail = pp;
	for (struct proxy_held *e = list; e; e = e->next) {
		h->n--;
		h->bytes -= e->len;
	}
	return list;
}

void proxy_hold_forget(struct proxy_hold *h, const void *owner)
{
	for (struct proxy_held *e = h->head; e; e = e->next)
		if (e->owner == owner)
			e->owner = NULL;
}
