/*
 * registrar: REGISTER handling (RFC 3261 10.3) and the location service.
 *
 * Bindings live in memory (a hash of addresses of record, each with its
 * contacts), bounded per AOR and in total, and are written to the store in
 * batches (group commit) so that they survive a restart (registrar_restore);
 * the answer to a REGISTER that changed them waits for its batch
 * (registrar_hold). The request path
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
	uint32_t batch_max;     /* changes in one transaction: the next REGISTER
				   that finds this many waiting commits them
				   first, else the next registrar_flush (tick)
				   does; 0 means only at the tick */
	uint32_t queue_max;     /* changes waiting for the store (and answers held):
				   past it REGISTERs get 503; 0 means
				   REGISTRAR_PENDING_MAX */
	bool write_behind;      /* answers do not wait for the commit ([store]
				   durability = none): a crash loses what the
				   last tick had not stored */
};

struct registrar;
struct conf;

/* rc from the server's configuration c: [registrar]'s bounds and
 * flow_grace, [store] batch_max and queue_max, and write_behind when [store]
 * durability is none. Pure; every field of rc is set. */
void registrar_conf_from(struct registrar_conf *rc, const struct conf *c);

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

/*
 * Create a registrar writing to st (which it does not own; st may be NULL
 * for unit tests, then nothing is persisted and nothing waits). Writes are
 * queued and applied by registrar_flush in one transaction (group commit):
 * the caller flushes every tick, and the registrar itself when a REGISTER
 * finds batch_max changes waiting. An answer that tells a phone about a change is
 * held (registrar_hold) until the batch holding the change is durable, so a
 * crash loses only changes nobody was told about.
 */
int registrar_new(struct registrar **rp, const struct registrar_conf *c, struct store *st);
/* Flush what is pending (sending the answers that become durable), drop the
 * answers still held, then free; *rp becomes NULL. */
void registrar_free(struct registrar **rp);

/*
 * Apply the queued binding changes to the store in one transaction, then
 * send the held answers whose batch is durable (store_durable_seq), through
 * the function given to registrar_set_sender. Called with nothing queued it
 * only releases (for a backend that becomes durable later). Returns 0, or
 * the store's errno: EBUSY at the start (another writer held the database)
 * keeps the queue and the answers for the next call; any other failure
 * drops the batch and the answers that waited on it (counted in
 * registrar_stats: those phones hear nothing and retry, while their bindings
 * in memory stay right). A row that fails inside a batch does not stop the
 * others, but the batch's answers are dropped too: none of them is sent
 * for a change that may not be stored. At most queue_max changes wait; a
 * REGISTER that would queue more gets 503 "Registrar Busy".
 */
int registrar_flush(struct registrar *r);
size_t registrar_pending(const struct registrar *r);

#define REGISTRAR_PENDING_MAX 200000

/* ---- group commit: answers held until their change is durable ---------------- */

/* Send one answer: buf (len bytes) to dst the way `way` names (a
 * connection that closed meanwhile makes net_send refuse it). note
 * (note_len bytes) is what the caller attached to it, when it was not given
 * to the note function already (an answer sent without waiting). */
typedef void(reg_hold_send_fn)(void *arg, uint16_t status, const struct net_msg *way,
			       const struct net_addr *dst, const char *buf, size_t len,
			       const void *note, size_t note_len);

/* Record one note (the server: the security event of a change). */
typedef void(reg_hold_note_fn)(void *arg, const void *note, size_t note_len);

/* Where released answers go (the server: net_send), and where the notes of
 * a batch's answers go just before the batch is committed (the server: the
 * security log), so that the log names every change the store has; a kill
 * during the commit can leave an event whose change was not stored, never
 * the other way round. Without them answers and notes are dropped. */
void registrar_set_sender(struct registrar *r, reg_hold_send_fn *fn, reg_hold_note_fn *note,
			  void *arg);

/*
 * Answer a REGISTER: when seq (registrar_result.seq) is 0 or already durable,
 * send buf (with note) now through the sender; else copy both and hold them
 * until batch seq is durable. Returns 0 (sent or held), EOVERFLOW (queue_max
 * answers, or queue_max KiB of them, are held: nothing is sent, the phone
 * retries), ENOMEM, EINVAL.
 */
int registrar_hold(struct registrar *r, uint64_t seq, uint16_t status, const struct net_msg *way,
		   const struct net_addr *dst, const char *buf, size_t len, const void *note,
		   size_t note_len);

/* Is batch seq (registrar_result.seq; 0 is) durable already? */
bool registrar_is_durable(struct registrar *r, uint64_t seq);

struct registrar_stats {
	uint64_t batches;         /* committed */
	uint64_t batches_full;    /* of those, committed because batch_max waited */
	uint64_t batch_failures;  /* batches that failed (other than EBUSY at the start) */
	uint64_t held, released;  /* answers held; sent once durable */
	uint64_t dropped;         /* held answers never sent: their batch failed, or at exit */
	uint64_t refused_full;    /* REGISTERs refused: queue_max changes waited */
	size_t holding;           /* answers held now */
};
void registrar_stats(const struct registrar *r, struct registrar_stats *out);

/*
 * The list behind registrar_hold (hold.c), usable on its own: answers
 * tagged with non-decreasing batch numbers; release sends, in order, those
 * whose number is <= durable; drop forgets those whose number is >=
 * from_seq (the failed batch and later). push returns 0, EINVAL (seq 0, or
 * lower than the last one pushed), EOVERFLOW (max entries, or
 * max * REG_HOLD_AVG_MAX bytes, held), ENOMEM.
 */
struct reg_hold;
int reg_hold_new(struct reg_hold **hp, size_t max);
void reg_hold_free(struct reg_hold **hp);
int reg_hold_push(struct reg_hold *h, uint64_t seq, uint16_t status, const struct net_msg *way,
		  const struct net_addr *dst, const char *buf, size_t len, const void *note,
		  size_t note_len);
size_t reg_hold_release(struct reg_hold *h, uint64_t durable, reg_hold_send_fn *fn, void *arg);
/* Give fn the notes of the answers of batch seq, once each: release then
 * passes those answers without their note. Returns how many. */
size_t reg_hold_notes(struct reg_hold *h, uint64_t seq, reg_hold_note_fn *fn, void *arg);
size_t reg_hold_drop(struct reg_hold *h, uint64_t from_seq);
size_t reg_hold_count(const struct reg_hold *h);
/* Bytes held (answers and notes): at most max * REG_HOLD_AVG_MAX, so that
 * large answers cannot make the bound on their number a bound of gigabytes;
 * push refuses (EOVERFLOW) past it. */
#define REG_HOLD_AVG_MAX 1024

/* Change the bound (held answers over a lowered one stay until released). */
void reg_hold_set_max(struct reg_hold *h, size_t max);
size_t reg_hold_bytes(const struct reg_hold *h);
void registrar_set_conf(struct registrar *r, const struct registrar_conf *c);

/* Load unexpired bindings from the store (at startup). Returns 0 or an errno;
 * *n is the number restored. */
int registrar_restore(struct registrar *r, int64_t now, size_t *n);

/*
 * Several nodes on one PostgreSQL store (docs/scaling.md): take in the
 * bindings other nodes changed. The location service stays in memory, kept
 * fresh by notification rather than read through on every lookup, so calls
 * are routed without a query and go on while the database is away. For
 * each AOR the store names (store_regs_changes) the stored rows replace the
 * bindings in memory; when the store asks for everything (after a lost
 * connection) every binding is reread and those no longer stored dropped.
 * Nothing happens while this node's own writes are still pending or queued
 * (they would be undone): the changes wait in the store until then. *full
 * (may be NULL) tells whether everything was reread. Call it each tick,
 * after registrar_flush. Returns 0 or the store's errno.
 */
int registrar_sync(struct registrar *r, int64_t now, bool *full);

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
	uint64_t seq;              /* the registrar's batch the changes wait on
				      (registrar_hold); 0: nothing to wait for */
	bool outbound_reg;         /* a binding with a reg-id (RFC 5626) was added or
				      refreshed: the 200 says Require: outbound */
};

/*
 * Process an authenticated REGISTER for q->aor: Contact '*' with Expires 0
 * removes all; each contact is added, refreshed or removed by its expiry
 * (contact param, else Expires header, else default), with Call-ID/CSeq
 * ordering; expiry below min_expires is 423, above max_expires shortened;
 * more than max_contacts for the AOR is 403, more than max_bindings in all
 * 503 (and 503 too when queue_max changes wait for the store). A contact
 * with a +sip.instance (and reg-id, RFC 5626) that no binding has under its
 * URI takes over, or with expiry 0 removes, the binding of the same instance
 * and reg-id: one binding per device flow. A reg-id that is not a number
 * 1..2^31-1 is 400; without an instance it is ignored.
 * Either the whole request applies or none of it. Returns 0 with *res
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

/* A binding found again for one side of a dialog (registrar_flow_find). */
struct reg_flow {
	struct net_msg way;          /* its way back (udp_fd -1 when restored) */
	bool alive;                  /* over TCP or TLS, with its connection open */
	char contact[STORE_URI_MAX];
	char key[STORE_URI_MAX + 2]; /* what finds it again: "i:" and its +sip.instance
					(which stays when the phone registers a new flow
					with a new contact, RFC 5626), else "c:" and the
					contact URI */
};

/*
 * The binding of aor that is a dialog's side: the one named by want (a key
 * from an earlier reg_flow) when want is not NULL or "", else the one registered
 * over received (a binding's received, "tcp:1.2.3.4:5070": the way the
 * dialog used). Of several, the first whose connection is alive, else the
 * first. A want that is neither "i:" nor "c:" matches nothing. True and *out
 * filled when found; false (and *out zeroed) when that side is no registered
 * phone now. Pure: reads the bindings, no I/O.
 */
bool registrar_flow_find(const struct registrar *r, struct slice aor, const char *want,
			 const char *received, struct reg_flow *out);

/* Totals, for logs and tests. */
void registrar_counts(const struct registrar *r, size_t *aors, size_t *bindings);

#endif
