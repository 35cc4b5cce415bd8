/*
 * txn: the RFC 3261 section 17 transaction layer. Client and server
 * transactions for INVITE and non-INVITE, timers A to K, retransmission
 * absorption, CANCEL matching (9.2), ACK for non-2xx final responses handled
 * hop by hop, branch matching (17.1.3, 17.2.3) with the RFC 2543 fallback.
 *
 * Pure of I/O and clocks: the caller passes `now_ms` into every entry point
 * and sends through ops->send, so unit tests drive the state machines with a
 * fake clock. The table is bounded (txn_conf.max_transactions); timers live
 * in one structure (a heap or wheel entry per transaction, nothing per tick).
 *
 * Ownership: the layer owns every transaction. The transaction user (the
 * proxy) may keep a txn pointer until ops->terminated reports it; after that
 * it must not touch it. Messages passed to callbacks are valid only during
 * the callback. Requests and responses handed to the layer as bytes are
 * copied when the layer needs them later (retransmission).
 */
#ifndef BASTION_TXN_H
#define BASTION_TXN_H

#include "../net/net.h"
#include "../sip/sip.h"

/* Where a message goes: the way a message arrived (socket or connection, as
 * kept in a net_msg copy; buf/len unused) and, for UDP, the destination. */
struct txn_peer {
	struct net_msg via;
	struct net_addr dst;
};

struct txn_conf {
	uint32_t t1_ms;            /* RTT estimate, 500 */
	uint32_t t2_ms;            /* max retransmit interval for non-INVITE, 4000 */
	uint32_t t4_ms;            /* max time a message stays in the network, 5000 */
	uint32_t max_transactions; /* server and client together */
	uint32_t reserve;          /* more that only priority work may open (txn_layer_priority) */
};

#define TXN_CONF_DEFAULT \
	((struct txn_conf){ .t1_ms = 500, .t2_ms = 4000, .t4_ms = 5000, .max_transactions = 65536 })

struct conf;

/* tc from the server's configuration c: RFC 3261's timers (T1, T2, T4 as
 * TXN_CONF_DEFAULT has them: not settings), [proxy] max_transactions, and
 * the reserve from [emergency] reserved_transactions. Pure; every field of
 * tc is set. */
void txn_conf_from(struct txn_conf *tc, const struct conf *c);

struct txn_layer;
struct txn_server;
struct txn_client;

struct txn_ops {
	/* Send bytes. Returns 0 or an errno; a failure on a reliable transport
	 * ends a client transaction like a timeout (17.1.4). */
	int (*send)(void *arg, const struct txn_peer *to, const char *buf, size_t len);
	/* A new request opened server transaction st (never a retransmission,
	 * never an ACK or a matched CANCEL). m is the message as received,
	 * valid during the call; txn_server_request(st) gives a copy (see there
	 * for how long). The user answers with txn_server_respond, now or later. */
	void (*request)(void *arg, struct txn_server *st, const struct sip_msg *m,
			const struct txn_peer *from);
	/* A CANCEL matched INVITE server transaction st (9.2). The layer has
	 * already answered the CANCEL with 200; the user cancels its branches
	 * and answers the INVITE (487) when it is done. */
	void (*cancel)(void *arg, struct txn_server *st);
	/* A response for client transaction ct. Provisional and final ones; for
	 * INVITE every 2xx (retransmissions too) is passed up, since a proxy
	 * forwards them statelessly (16.7 step 10, RFC 6026 semantics welcome). */
	void (*response)(void *arg, struct txn_client *ct, const struct sip_msg *m);
	/* Client transaction ct ended without a final response: timer B or F
	 * fired or its transport failed. The user treats it as a 408. */
	void (*timeout)(void *arg, struct txn_client *ct);
	/* A transaction is gone; pointers to it are now invalid. Called only
	 * from txn_tick, so a transaction never vanishes inside a call the user
	 * made (one that ends there, e.g. by a 2xx to an INVITE, leaves matching
	 * at once and is reported at the next tick). Reported once for every
	 * transaction the user was given (ops->request, txn_client_new); the
	 * layer's own CANCEL transactions end silently. */
	void (*terminated)(void *arg, struct txn_server *st, struct txn_client *ct);
};

int txn_layer_new(struct txn_layer **lp, const struct txn_conf *c, const struct txn_ops *ops,
		  void *arg);
/* Added: the limits messages handed to the layer may reach (default
 * SIP_LIMITS_DEFAULT); max_headers sizes the scratch header array used to
 * parse the requests and responses the user passes in (plus 32 for the Via
 * and Record-Route a proxy adds). Returns 0, EINVAL or ENOMEM. */
int txn_layer_set_limits(struct txn_layer *l, const struct sip_limits *lim);

/* Free every transaction (no callbacks) and the layer; *lp becomes NULL. */
void txn_layer_free(struct txn_layer **lp);

enum txn_recv {
	TXN_NEW = 0,           /* a new server transaction: ops->request was called */
	TXN_ABSORBED,          /* retransmission answered, ACK for non-2xx, matched CANCEL */
	TXN_RESPONSE,          /* a response matched a client transaction: ops->response */
	TXN_ACK_2XX,           /* an ACK matching no transaction (for a 2xx): the user forwards it */
	TXN_STRAY_RESPONSE,    /* a response matching no client transaction */
	TXN_CANCEL_UNMATCHED,  /* a CANCEL matching no INVITE transaction: the user answers 481 */
	TXN_FULL,              /* no room: the user answers 503 statelessly */
	TXN_SHED,              /* overload (txn_layer_shed): a new request outside any dialog
	                          was not taken; the user answers 503 statelessly */
};

/* While on, a request that would open a new server transaction and has no
 * To tag (outside a dialog) is not taken (TXN_SHED); retransmissions, ACK,
 * CANCEL, in-dialog requests and responses are handled as usual, so work in
 * progress finishes while new work is turned away. */
void txn_layer_shed(struct txn_layer *l, bool on);

/* While on, new transactions (server and client) may also take the
 * txn_conf.reserve slots beyond max_transactions, and a new request is not
 * shed: the owner turns it on around the work of an emergency call only,
 * so ordinary traffic never takes the last slots. */
void txn_layer_priority(struct txn_layer *l, bool on);

/*
 * Feed one parsed message (request or response) received from `from`.
 * Retransmitted requests are answered with the last response sent (or
 * absorbed when there is none yet); an ACK matching an INVITE server
 * transaction in Completed moves it to Confirmed. Returns what happened.
 */
enum txn_recv txn_receive(struct txn_layer *l, const struct sip_msg *m,
			  const struct txn_peer *from, uint64_t now_ms);

/*
 * Answer server transaction st with a complete response in buf (the user
 * built it: generated here, or forwarded with our Via removed). 1xx keep the
 * transaction Proceeding; a final response completes it (timers G/H for
 * INVITE over UDP, J for non-INVITE), except that a 2xx to an INVITE
 * terminates it at once (17.2.1). Returns 0, EINVAL (already final), or the
 * send error.
 */
int txn_server_respond(struct txn_server *st, uint16_t status, const char *buf, size_t len,
		       uint64_t now_ms);

/* txn_server_respond for a response whose To tag the caller knows (empty:
 * none), so the layer need not parse it to remember the tag. */
int txn_server_respond_tag(struct txn_server *st, uint16_t status, const char *buf, size_t len,
			   struct slice to_tag, uint64_t now_ms);

/*
 * Start a client transaction: send request buf (complete, with our top Via
 * carrying `branch`) to `to`, retransmit it (timers A/E on UDP), time it out
 * (B/F), match responses to it by branch and CSeq method, and for an INVITE
 * answer a non-2xx final response with an ACK built from the request
 * (17.1.1.3). `user` is the caller's pointer for callbacks. Returns 0 and
 * *ctp, ENOSPC when the table is full, or the send error.
 */
int txn_client_new(struct txn_client **ctp, struct txn_layer *l, const char *buf, size_t len,
		   const struct txn_peer *to, void *user, uint64_t now_ms);

/*
 * txn_client_new for a request whose method (its request line's, case
 * preserved) and top Via branch the caller knows because it built the
 * request: no parse. The caller guarantees they are buf's; an ACK or an
 * empty method or branch is EINVAL.
 */
int txn_client_start(struct txn_client **ctp, struct txn_layer *l, const char *buf, size_t len,
		     struct slice method, struct slice branch, const struct txn_peer *to,
		     void *user, uint64_t now_ms);

/*
 * Cancel INVITE client transaction ct (9.1): send a CANCEL built from the
 * request, at once if a provisional response has arrived, else as soon as
 * one does; if none does before timer B, ct just times out. Idempotent.
 */
void txn_client_cancel(struct txn_client *ct, uint64_t now_ms);

/* Run due timers (retransmissions, timeouts, cleanup). Call at least every
 * 50 ms; the cost is proportional to the timers due, not to the table. */
void txn_tick(struct txn_layer *l, uint64_t now_ms);

void *txn_client_user(const struct txn_client *ct);
void txn_server_set_user(struct txn_server *st, void *user);
void *txn_server_user(const struct txn_server *st);
/* The request that opened st, as received, parsed from the transaction's
 * copy on first use; NULL when that parse has no memory, or once a
 * non-INVITE st is past its final response and a tick (the copy is let go
 * then: txn/server.c). Valid until then. */
const struct sip_msg *txn_server_request(struct txn_server *st);
const struct txn_peer *txn_server_peer(const struct txn_server *st);

struct txn_stats {
	uint32_t servers, clients;         /* alive now */
	uint32_t settled;                  /* of those, with their final response: only
					      absorbing retransmissions, or ending */
	uint64_t retransmissions_absorbed, retransmissions_sent, timeouts, full, shed;
};
void txn_layer_stats(const struct txn_layer *l, struct txn_stats *out);

#endif
