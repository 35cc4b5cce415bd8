/*
 * proxy/internal.h: what the proxy layer's files share. Not for other layers.
 */
#ifndef BASTION_PROXY_INTERNAL_H
#define BASTION_PROXY_INTERNAL_H

#include "proxy.h"

/* ---- hold.c: answers held until their batch is durable (group commit) ---- */

/*
 * One answer that tells a peer about a change (the 2xx that confirms a
 * dialog, the final response to a BYE that ended a call) and so waits until
 * the batch holding that change is durable. Either bytes (a response
 * forwarded upstream, len > 0) or a generated answer (len 0: status and
 * reason, built when released from the request its call still holds).
 */
struct proxy_held {
	struct proxy_held *next;
	uint64_t seq;            /* the batch it waits on */
	void *owner;             /* the call it answers; NULL once that call is gone */
	struct txn_peer to;      /* where it goes statelessly when the owner is gone */
	uint16_t status;
	const char *reason;      /* generated: its reason phrase (a string literal) */
	bool confirms;           /* the 2xx that confirms a dialog */
	size_t len;
	size_t tag_len;          /* its To tag (tag_len > sizeof(tag): not kept) */
	char tag[64];
	char buf[];
};

/* The list: in push order, which is batch order (numbers only grow). */
struct proxy_hold {
	struct proxy_held *head, **tail;
	size_t n, max;           /* entries held, and the bound on them */
	size_t bytes;            /* of bytes held */
	uint64_t last_seq;
};

/* Average bytes per held answer that the bound allows (a 2xx carries SDP,
 * and echoes the request's Vias): max * PROXY_HOLD_AVG_MAX in all. */
#define PROXY_HOLD_AVG_MAX 4096

void proxy_hold_init(struct proxy_hold *h, size_t max);
/* Free every entry; returns how many were dropped. */
size_t proxy_hold_fini(struct proxy_hold *h);
void proxy_hold_set_max(struct proxy_hold *h, size_t max);
/* Is there room for one more (count only)? */
bool proxy_hold_full(const struct proxy_hold *h);

/*
 * Copy one answer in, waiting on batch seq (> 0, not below the last one
 * pushed). tag: its To tag (empty for a generated answer). Returns 0,
 * EINVAL, EOVERFLOW (max entries or max * PROXY_HOLD_AVG_MAX bytes held),
 * ENOMEM.
 */
int proxy_hold_push(struct proxy_hold *h, uint64_t seq, void *owner, const struct txn_peer *to,
		    uint16_t status, const char *reason, struct slice tag, const char *buf,
		    size_t len, bool confirms);

/* Unlink and return the first entry when its batch is <= durable, else
 * NULL; the caller frees it. One at a time, so that what the caller does
 * with it may push or take again. */
struct proxy_held *proxy_hold_take(struct proxy_hold *h, uint64_t durable);

/* Unlink and return (as a list) the entries waiting on batch from_seq or a
 * later one: their batch failed. The caller frees them. */
struct proxy_held *proxy_hold_cut(struct proxy_hold *h, uint64_t from_seq);

/* The call `owner` is gone: its entries go on without it. Walks the list
 * (only a call with entries held pays it). */
void proxy_hold_forget(struct proxy_hold *h, const void *owner);

#endif
