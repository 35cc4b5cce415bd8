/*
 * registrar: REGISTER handling (RFC 3261 10.3) and the location service.
 *
 * Bindings live in memory (a hash of addresses of record, each with its
 * contacts), bounded per AOR and in total, and are written through to the
 * store so that they survive a restart (registrar_restore). The request path
 * authenticates first; by the time registrar_register runs, the user is known
 * and owns the AOR. Everything here is a function of (request, current
 * bindings, time, settings); the store is only written after a decision.
 */
#ifndef BASTION_REGISTRAR_H
#define BASTION_REGISTRAR_H

#include "../net/net.h"
#include "../sip/sip.h"
#include "../store/store.h"

struct registrar_conf {
	uint32_t min_expires, max_expires, default_expires; /* seconds */
	uint32_t max_contacts;  /* per AOR */
	uint32_t max_bindings;  /* in all */
	uint32_t flow_grace;    /* seconds a TCP/TLS binding outlives its connection */
};

struct registrar;

/* A read-only view of one binding, for listings and (later) routing. */
struct reg_binding_view {
	const char *contact;    /* URI text */
	const char *call_id;
	const char *user_agent; /* "" when none */
	const char *instance;   /* "" when none */
	const char *received;   /* "udp:1.2.3.4:5060" */
	int64_t expires_at;     /* unix seconds */
	uint32_t cseq;
	uint16_t q;             /* thousandths */
	/* The way back to the phone: the socket or connection its REGISTER came
	 * on and its source address (buf unused). A binding restored after a
	 * restart has udp_fd -1 and no connection: UDP ones are reached from any
	 * UDP socket of the family, TCP ones only once the phone reconnects. */
	const struct net_msg *way;
};

/* Create a registrar writing to st (which it does not own; st may be NULL
 * for unit tests, then nothing is persisted). Writes are queued and applied
 * by registrar_flush in one transaction: a crash loses at most the changes
 * since the last flush (the caller flushes every tick), and phones
 * re-register anyway. */
int registrar_new(struct registrar **rp, const struct registrar_conf *c, struct store *st);
/* Flush what is pending, then free; *rp becomes NULL. */
void registrar_free(struct registrar **rp);

/*
 * Apply the queued binding changes to the store in one transaction. Returns
 * 0, or the store's errno: EBUSY (another writer held the database) keeps
 * the queue for the next call; any other failure drops the batch, since the
 * bindings in memory stay right and phones refresh them. At most
 * REGISTRAR_PENDING_MAX changes wait; beyond, the oldest are dropped.
 */
int registrar_flush(struct registrar *r);
size_t registrar_pending(const struct registrar *r);

#define REGISTRAR_PENDING_MAX 200000
void registrar_set_conf(struct registrar *r, const struct registrar_conf *c);

/* Load unexpired bindings from the store (at startup). Returns 0 or an errno;
 * *n is the number restored. */
int registrar_restore(struct registrar *r, int64_t now, size_t *n);

/* Drop bindings that expired by `now` (memory and store), and TCP/TLS
 * bindings whose connection has been closed for flow_grace seconds (RFC
 * 5626: a phone that reconnects and registers again within the grace
 * keeps its binding; a closed flow is never forked to meanwhile). Call it
 * about once a second. Returns how many. */
size_t registrar_expire(struct registrar *r, int64_t now);

struct registrar_req {
	const struct sip_msg *m;
	struct slice aor;          /* canonical "sip:user@domain" */
	int64_t user_id;           /* the authenticated owner */
	const struct net_msg *in;  /* how it came: source, transport, socket or connection */
	int64_t now;               /* unix seconds */
};

struct registrar_result {
	uint16_t status;
	const char *reason;
	uint32_t min_expires;      /* with 423 */
	uint32_t added, refreshed, removed; /* a device's binding taken over by a
					       new contact counts as added and removed */
	uint32_t count;            /* bindings of the AOR afterwards */
	bool outbound_reg;         /* a binding with a reg-id (RFC 5626) was added or
				      refreshed: the 200 says Require: outbound */
};

/*
 * Process an authenticated REGISTER for q->aor: Contact '*' with Expires 0
 * removes all; each contact is added, refreshed or removed by its expiry
 * (contact param, else Expires header, else default), with Call-ID/CSeq
 * ordering; expiry below min_expires is 423, above max_expires shortened;
 * more than max_contacts for the AOR is 403, more than max_bindings in all
 * 503. A contact with a +sip.instance (and reg-id, RFC 5626) that no
 * binding has under its URI takes over, or with expiry 0 removes, the
 * binding of the same instance and reg-id: one binding per device flow.
 * A reg-id that is not a number 1..2^31-1 is 400; without an instance it
 * is ignored. Either the whole request applies or none of it. Returns 0 with *res
 * (res->status is the response to send), or an errno on a store failure.
 */
int registrar_register(struct registrar *r, const struct registrar_req *q,
		       struct registrar_result *res);

/* Append "Contact: <uri>;expires=N" lines for every binding of aor to b
 * (the 200 OK lists current bindings, RFC 3261 10.3 step 8). */
void registrar_print_contacts(const struct registrar *r, struct slice aor, int64_t now,
			      struct sip_buf *b);

typedef void(registrar_binding_fn)(void *arg, const struct reg_binding_view *v);
/* Call fn for each binding of aor; returns how many. */
size_t registrar_lookup(const struct registrar *r, struct slice aor, registrar_binding_fn *fn,
			void *arg);

/* Totals, for logs and tests. */
void registrar_counts(const struct registrar *r, size_t *aors, size_t *bindings);

#endif
