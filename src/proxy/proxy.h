/*
 * proxy: stateful proxying (RFC 3261 16).
 *
 * This header has two parts: the pure message builders (forwarded requests
 * and responses, and the answers the server writes itself), and the proxy
 * core (struct proxy): calls, their branches and forking, the best-response
 * choice (16.7), CANCEL, timer C, confirmed dialogs, the call detail record
 * of every attempt, and the ACK, BYE and Via it builds itself. server/ authenticates and decides who may call whom,
 * then hands the request and its targets to the core; the transaction
 * layer's callbacks drive it from there.
 *
 * The core owns no socket and no clock: it sends, answers, records and
 * reports through struct proxy_ops, and its checks return values (struct
 * proxy_verdict) that the caller turns into answers, so unit tests drive it
 * with a real transaction layer and no network (tests/unit/test_proxy_core.c).
 *
 * Every piece of state is reached by its key, never by walking a list on a
 * request path: a call through its transactions (txn/ matches by branch), a
 * dialog through a keyed hash table on Call-ID (base/hash, bounded by
 * max_dialogs), and the calls of a dialog through the dialog. Timer C and the
 * dialog lifetime are FIFO queues (every entry has the same timeout), so a
 * tick costs what is due. That keeps the cost of a request flat however many
 * calls and dialogs are held, and lets several workers each own a shard
 * (by Call-ID) later.
 */
#ifndef BASTION_PROXY_H
#define BASTION_PROXY_H

#include "../net/net.h"
#include "../sip/sip.h"
#include "../store/store.h"
#include "../txn/txn.h"

/* ---- building forwarded messages (pure) ------------------------------------ */

/* What changes when a request is forwarded (RFC 3261 16.6). */
struct proxy_fwd {
	struct slice ruri;          /* the new Request-URI, or empty to keep it */
	struct slice via;           /* our Via value, "SIP/2.0/UDP host:port;branch=..." */
	struct slice record_route;  /* our Record-Route lines (each ending CRLF), or empty */
	uint32_t skip_routes;       /* leading Route values that name us: removed */
	uint32_t max_forwards;      /* the decremented value to write */
	bool strip_identity;        /* drop P-Asserted-Identity, P-Preferred-Identity, Remote-Party-ID */
	struct slice drop_credentials_realm; /* drop Proxy-Authorization for this realm (22.3) */
	uint32_t credentials_hdr;   /* 1 + the index in m->hdrs of a Proxy-Authorization known
				       to be for that realm (the one authentication consumed):
				       dropped without parsing it again; 0: none */
	struct slice extra;         /* header lines to add (e.g. P-Asserted-Identity), CRLF each */
	bool replace_body;          /* send body with content_type instead of m's body; m's
				       Content-Type, Content-Encoding, Geolocation and
				       Geolocation-Routing are dropped */
	struct slice body, content_type;
	int32_t cseq_delta;         /* added to the CSeq number (a request we resubmitted
				       with credentials, and its dialog); 0 keeps it */
};

/*
 * Write request m as forwarded per f: start line with the new Request-URI,
 * our Via on top, then m's headers in order with Max-Forwards rewritten, our
 * Record-Route before any existing one, the Route values we consume and the
 * headers f asks to drop removed, f->extra, Content-Length, body. Returns 0
 * or EOVERFLOW.
 */
int proxy_build_request(struct sip_buf *b, const struct sip_msg *m, const struct proxy_fwd *f);

/* Write response m without its top Via value (ours), for sending upstream
 * (16.7 step 3). Returns 0, EOVERFLOW, or EPROTO when m has a single Via. */
int proxy_build_response(struct sip_buf *b, const struct sip_msg *m);
/* The same with cseq_delta added to the CSeq number (the inverse of the
 * request's proxy_fwd.cseq_delta, so the caller sees its own numbers). */
int proxy_build_response_cseq(struct sip_buf *b, const struct sip_msg *m, int32_t cseq_delta);

/*
 * The loop-detection hash of request m (16.6 step 8): SipHash under k of
 * the fields that identify the request as it arrived (Request-URI, From
 * tag, Call-ID, CSeq number, top Via, Proxy-Require, Route), as 16 hex
 * digits in out. Two arrivals of the same request have the same hash; under
 * a secret key nobody can make two different requests collide on purpose.
 */
void proxy_loop_hash(const struct hash_key *k, const struct sip_msg *m, char out[17]);

/* ---- answers of our own (pure, answer.c) ------------------------------------ */

/* Room for the header lines an answer adds (Allow, Unsupported, the
 * caller's): more is refused, not cut. */
#define PROXY_ANSWER_EXTRA_MAX 8192

/* A response the server writes itself to a request it does not forward. */
struct proxy_answer {
	uint16_t status;
	const char *reason;
	struct slice more;              /* more header lines, each ending in CRLF, or empty */
	const struct net_addr *src;     /* the request's source: received= and rport= */
	const struct hash_key *tag_key; /* keys our To-tag */
	const char *server;             /* Server header value, or NULL for none */
};

/* The To-tags of an answer. to_tag may point into ours: keep them together. */
struct proxy_answer_tag {
	char ours[17];       /* ours, 16 hex digits: the same for every
				retransmission of the request (8.2.6.2) and
				unpredictable without the key */
	struct slice to_tag; /* the tag the answer's To carries: the request's,
				else ours (empty for a 100) */
};

/*
 * Write the answer a to request m (which has SIP_HAVE_REPLY) into b:
 * sip_reply_build with an Allow header (POLICY_ALLOW) on 405, 501 and a 200
 * to OPTIONS, Unsupported on 420 listing every option of Proxy-Require, and
 * of Require when the request was for us (policy_request_is_ours), then
 * a->more; our To-tag on a To without one unless the status is 100. Fills
 * *tag. Returns 0; EMSGSIZE when the added header lines exceed
 * PROXY_ANSWER_EXTRA_MAX (b untouched); EOVERFLOW when the answer does not
 * fit in b; EINVAL from sip_reply_build. No I/O, no allocation: the caller
 * sends b (net_reply_addr says where, over UDP).
 */
int proxy_build_answer(struct sip_buf *b, struct proxy_answer_tag *tag, const struct sip_msg *m,
		       const struct proxy_answer *a);

/* ---- the proxy core ------------------------------------------------------------ */

struct proxy;

struct proxy_conf {
	uint32_t max_dialogs;        /* confirmed dialogs held at once */
	uint32_t reserved_dialogs;   /* more that only emergency calls' dialogs may use
					([emergency] reserved_dialogs) */
	uint32_t invite_timeout_s;   /* timer C */
	bool srtp_required;          /* media = srtp-required (policy_media) */
	char realm[256];             /* our digest realm: its credentials stay here */
	struct net_listen_spec listeners[NET_MAX_LISTEN]; /* Via and Record-Route sent-by */
	size_t nlisteners;
	struct sip_limits lim;
	uint32_t hold_max;           /* answers held for their commit at most (group
					commit: proxy_durable); past it a new call gets
					503 and an answer's batch is committed at once */
};

struct conf;

/* pc from the server's configuration c: [proxy] max_dialogs and
 * invite_timeout, [emergency] reserved_dialogs, srtp_required from [policy]
 * media, the digest realm (conf_realm), the listeners, [limits], and
 * hold_max from [store] queue_max. Pure; every field of pc is set. */
void proxy_conf_from(struct proxy_conf *pc, const struct conf *c);

/* A side of a dialog to be reached again (proxy_ops.reach). */
struct proxy_reach {
	int side;                    /* 0 the caller, 1 the callee */
	const char *auth_user;       /* the caller's authenticated user ("" unknown) */
	const char *callee;          /* the callee's Request-URI ("" unknown) */
	const char *contact;         /* what the owner gave as this side's registered
					contact (its key) before, or NULL */
};

/* What the core asks of its owner (server/). arg is proxy_new's. */
struct proxy_ops {
	/* Answer request m, which came from `from`, with a generated response:
	 * through st when not NULL, else statelessly. */
	void (*answer)(void *arg, const struct txn_peer *from, struct txn_server *st,
		       const struct sip_msg *m, uint16_t status, const char *reason);
	/* Send bytes statelessly (ACK and 2xx retransmissions along a dialog,
	 * the ACK and BYE that end a refused leg). */
	int (*send)(void *arg, const struct txn_peer *to, const char *buf, size_t len);
	/* A call attempt ended: its record (valid during the call). Returns
	 * the number of the batch the record is stored in when the answer
	 * that tells a peer about the end (the final response to the BYE)
	 * must wait until that batch is durable (proxy_durable), else 0. */
	uint64_t (*record)(void *arg, const struct store_cdr *rec);
	/* A security event about m, received as `in`. */
	void (*event)(void *arg, const char *kind, const struct net_msg *in,
		      const struct sip_msg *m, struct slice user, struct slice aor,
		      const char *reason, int status);
	/* Traffic from src proved to be part of admitted work (guard refund). */
	void (*refund)(void *arg, const struct net_addr *src);
	/* Is host ours (the domain, or an address we listen on)? */
	bool (*ours)(void *arg, struct slice host);
	uint64_t (*now_ms)(void *arg);   /* monotonic milliseconds */
	int64_t (*wall_ms)(void *arg);   /* unix milliseconds, for records */
	/* Optional (both NULL: dialogs live in memory only): a dialog was
	 * confirmed, in its stored form (valid during the call); a dialog
	 * ended. With them, proxy_free leaves the dialogs up for the next run
	 * (proxy_restore) instead of closing their records. dialog_up returns
	 * the batch the dialog's row goes in: the 2xx that confirms it waits
	 * until that batch is durable (0: it goes at once). */
	uint64_t (*dialog_up)(void *arg, const struct store_dialog *d);
	void (*dialog_down)(void *arg, const char *call_id, const char *tag0, const char *tag1);
	/* Optional: commit what was handed over now and report it
	 * (proxy_durable or proxy_not_stored) before returning. Used when an
	 * answer cannot be held (hold_max reached): its batch is committed at
	 * once instead of the answer going out before it. */
	void (*commit)(void *arg);
	/* Optional: side r->side of a dialog is reached over TCP or TLS and its
	 * connection is gone (the server restarted, or the phone's connection
	 * closed), and a request must go to it. Find that side again: replace
	 * *way and return 0, or return an errno (the request then fails
	 * there: 503). Either way contact (cap bytes) may be given the
	 * registered contact the side was found at, which the core passes back
	 * as r->contact next time (the phone may register a new flow meanwhile). */
	int (*reach)(void *arg, const struct proxy_reach *r, struct net_msg *way, char *contact,
		     size_t cap);
	/* Optional: a serial call (Call-ID call_id) is about to fail over to a
	 * target labelled label (a peer's name) other than the label the
	 * owner counts it against (the first target's, or the last one this
	 * said yes to). True: try it (the owner counts the call against label
	 * from now on); false: that target is not tried (its status is 503,
	 * as for one that could not be sent) and the next one is asked. */
	bool (*failover)(void *arg, struct slice call_id, const char *label);
};

/* A refusal as a value: status 0 means the core took the request. The
 * caller records event (when set) and answers status/reason. */
struct proxy_verdict {
	uint16_t status;
	const char *reason;
	const char *event;
	char detail[192];
};

/* A place to fork to: how it is reached, and the Request-URI it gets. */
struct proxy_target {
	struct net_msg way;          /* UDP ways carry a socket (udp_fd >= 0) */
	const char *contact;
	const char *label;           /* a peer's name for the call record, or NULL */
	const struct proxy_cred *cred; /* a peer's credentials, or NULL (copied) */
};

/* Credentials for a target that challenges us (a carrier's trunk): a
 * serial call's INVITE that gets 401 or 407 from it is sent once more with
 * our answer (RFC 3261 22.2), its CSeq one higher; the dialog it makes
 * shifts the caller's later CSeqs by one on the way (and back in responses). */
struct proxy_cred {
	const char *user, *password;
	const char *realm;           /* answer only this realm's challenges; NULL or "": any */
};

struct proxy_stats {
	size_t calls, dialogs;
	uint64_t dialog_probes;      /* dialog table entries examined by lookups */
	uint64_t dialogs_refused;    /* not tracked: the table was full */
	uint64_t dialogs_reserve_used; /* emergency dialogs tracked beyond max_dialogs */
	size_t holding;              /* answers held for their commit now */
	uint64_t held, released;     /* answers held; sent once durable */
	uint64_t hold_full;          /* calls refused (503) and answers whose batch
					was committed at once: hold_max reached */
	uint64_t unstored;           /* calls refused because their dialog's row was
					not stored (proxy_not_stored) */
	uint64_t loop_hashes;        /* requests' loop hashes computed (proxy_loop_hash),
					counted so that tests show each request is hashed
					at most once, and one answered here not at all */
};

/* A core over transaction layer txn (which the caller owns and drives).
 * Returns 0, ENOMEM, EINVAL, or EIO (no random key). */
int proxy_new(struct proxy **pp, const struct proxy_conf *c, const struct proxy_ops *ops,
	      void *arg, struct txn_layer *txn);
/*
 * The dialog table's decision (issue 13: an emergency call never loses its
 * dialog to a table full of ordinary calls): with n dialogs held, may a new
 * one be tracked? An ordinary call's while n < max; an emergency call's
 * while n < max + reserve. A pure function of its arguments.
 */
bool proxy_dialog_room(size_t n, uint32_t max, uint32_t reserve, bool emergency);

/* Is m a request inside a confirmed emergency call's dialog (restored ones
 * too), from the address of one of its sides (src)? Such a request (the BYE)
 * may use the emergency reserves: a caller can hang up whatever the load. */
bool proxy_emergency_in_dialog(struct proxy *p, const struct sip_msg *m,
			       const struct net_addr *src);

/* SIGHUP: new settings; a smaller max_dialogs refuses new dialogs until
 * enough have ended, and a shorter invite_timeout applies to new calls. */
void proxy_set_conf(struct proxy *p, const struct proxy_conf *c);
/* End every call and dialog (dialogs get their record, hangup "server") and
 * free the core. Call before freeing the transaction layer. */
void proxy_free(struct proxy **pp);

/* What the steps before the fork learnt of request m, so that forwarding it
 * does not work it out again (each was a re-parse or a hash a call). */
struct proxy_checked {
	char loop_hash[17];          /* proxy_check's proxy_loop_hash of m; "": not
					computed (proxy_fork computes it) */
	const struct sip_hdr *credentials; /* the Proxy-Authorization of m that the server's
					      authentication consumed (credentials for our
					      realm: dropped, 22.3, without parsing it again),
					      or NULL */
};

/*
 * The checks of 16.3 before anything else is spent on an out-of-dialog
 * request: Max-Forwards (483) and loops (482). Also fills *own_routes with
 * the leading Route values naming us and *beyond with whether m has routes
 * past them, and ck->loop_hash with m's loop hash when the loop check had to
 * compute it (a Via of ours with a branch long enough to carry one), else
 * "": for proxy_fork (proxy_fork_opts.checked), which computes it only when
 * it is still missing. A request answered here (a challenge, a refusal)
 * computes none. Each out-parameter may be NULL.
 */
struct proxy_verdict proxy_check(struct proxy *p, const struct sip_msg *m, uint32_t *own_routes,
				 bool *beyond, struct proxy_checked *ck);

/* What the record of a call beyond the building says besides (store_cdr:
 * peer, class, numbers); NULL strings are empty. */
struct proxy_outside {
	const char *peer;            /* inbound: the peer it came from (outbound: the
					target's label that answered, else the last tried) */
	const char *klass;
	const char *dialed;
	const char *number;
};

/* Who placed an out-of-dialog request, for its record. */
struct proxy_caller {
	struct slice user;           /* the authenticated user */
	const struct net_msg *in;    /* where it came from */
	const struct proxy_outside *outside; /* NULL: a call between local users */
};

/* media = srtp-required (policy_media) for request m: 488 with its event
 * when m offers plain RTP. The caller checks an out-of-dialog request before
 * looking for targets (and records the refused attempt). */
struct proxy_verdict proxy_media(const struct proxy *p, const struct sip_msg *m);

/* A body that replaces the request's: its Content-Type value and bytes
 * (content_type empty: the request's own body goes on). */
struct proxy_body {
	struct slice content_type;
	struct slice body;
	bool any_media;              /* answers are not held to the media policy (an
					emergency call is never refused for its media) */
	bool emergency;              /* the call's record is marked emergency, */
	const char *location;        /* with this location (copied; may be NULL) */
};

/* How proxy_fork forks a request (zero-initialise, then set what applies). */
struct proxy_fork_opts {
	bool serial;                 /* one target after another (below), else all at once */
	struct slice extra;          /* header lines to add, each ending CRLF: the
					P-Asserted-Identity we vouch for (RFC 3325), an
					emergency call's Geolocation; empty: none */
	const struct proxy_body *body;       /* replaces the request's body, or NULL */
	const struct proxy_checked *checked; /* what proxy_check and authentication
						learnt of m (its loop hash, the consumed
						Proxy-Authorization), or NULL: the fork
						works the loop hash out itself */
	const struct proxy_caller *who;      /* who placed it, for its record (not NULL) */
};

/*
 * Fork request m (server transaction st, from `from`) to targets t[0..n),
 * 1 <= n <= 100, as o says. The one way a request out of a dialog leaves
 * the core.
 *
 * - All at once (o->serial false): a branch per target (16.6), the best
 *   final response goes upstream (16.7), a 2xx cancels the others.
 * - Serial (o->serial, sequential search, 16.6): the next target starts
 *   only when the one before ended with 408, a 5xx, a transaction timeout,
 *   or could not be sent; any other final response (2xx, 3xx, another 4xx,
 *   6xx), a CANCEL or timer C ends the search, and the best response so far
 *   goes upstream. For peers (gateways, trunks): one call never rings two
 *   of them at once. A later target labelled with another peer is tried
 *   only when ops->failover (when set) says yes. The targets' contacts, credentials and o->extra are
 *   copied (later targets are started from the transaction's copy of m).
 * - o->body with its content_type set: the request's body is replaced by
 *   it (copied) on every branch, the emergency INVITE's multipart SDP and
 *   PIDF-LO (RFC 6442); m's Content-Type, Content-Encoding, Geolocation and
 *   Geolocation-Routing do not go out (o->extra carries the new
 *   Geolocation). Its any_media, emergency and location apply either way.
 * - o->checked with a loop hash: every branch's Via carries that hash (16.6
 *   step 8), so it is computed once a call; with credentials, that
 *   Proxy-Authorization is dropped without parsing it again (22.3).
 *
 * An INVITE gets timer C and a call record. Refused (the caller answers,
 * and records an event when the verdict names one) with 500 when n is out
 * of range or memory ran out, 503 when hold_max answers are held or no
 * branch could be started (the record of an INVITE is written).
 */
struct proxy_verdict proxy_fork(struct proxy *p, struct txn_server *st, const struct sip_msg *m,
				const struct txn_peer *from, const struct proxy_target *t,
				size_t n, const struct proxy_fork_opts *o);

/* An authenticated INVITE that goes nowhere: write its record with status. */
void proxy_record_refused(struct proxy *p, const struct sip_msg *m,
			  const struct proxy_caller *who, uint16_t status);

/*
 * A request inside a dialog (To tag): it must name a dialog we confirmed
 * (481), come from where that side is (403, call.foreign_in_dialog), pass
 * Max-Forwards, SIPS and media policy; then it is relayed to the other side.
 */
struct proxy_verdict proxy_in_dialog(struct proxy *p, struct txn_server *st,
				     const struct sip_msg *m, const struct txn_peer *from);

/* The transaction layer's callbacks, passed on. */
void proxy_cancel(struct proxy *p, struct txn_server *st);
void proxy_response(struct proxy *p, struct txn_client *ct, const struct sip_msg *m);
void proxy_timeout(struct proxy *p, struct txn_client *ct);
void proxy_terminated(struct proxy *p, struct txn_server *st, struct txn_client *ct);

/* An ACK for a 2xx (matching no transaction), received as `in`: relayed
 * along its dialog. False when it belongs to none (dropped). */
bool proxy_ack(struct proxy *p, const struct sip_msg *m, const struct net_msg *in);
/* A 2xx to an INVITE matching no transaction (a retransmission from the
 * callee): relayed to the caller. False when dropped. */
bool proxy_stray_2xx(struct proxy *p, const struct sip_msg *m);

/* Fire timer C of INVITEs unanswered for invite_timeout (their branches
 * are cancelled), and end dialogs nobody ended within their lifetime. The
 * cost is what is due. */
void proxy_tick(struct proxy *p, uint64_t now_ms);

void proxy_stats(const struct proxy *p, struct proxy_stats *out);

/*
 * Group commit (like registrar_hold for REGISTER). An answer that tells a
 * peer about a change the owner stores - the 2xx confirming a dialog
 * (ops->dialog_up), the final response to a BYE that ended a call
 * (ops->record) - is held until the batch the op named is durable; until
 * then a retransmitted 2xx from the callee is absorbed. The owner reports
 * each batch: proxy_durable(durable) once every batch up to `durable` is
 * durable (the answers that waited on them go out, in order), and
 * proxy_not_stored(seq) when batch seq failed: a dialog whose row may not be
 * stored is not confirmed - the callee's leg is ended (ACK, BYE) and the
 * caller gets 500 "Call Not Stored", with a record of that - while a BYE's
 * answer goes out (its record is in the CDR log; the call is over either
 * way). A new INVITE finds hold_max answers held: 503.
 */
void proxy_durable(struct proxy *p, uint64_t durable);
void proxy_not_stored(struct proxy *p, uint64_t seq);

/*
 * The two ways of stored dialog d (the text ops->dialog_up was handed, as
 * "udp:1.2.3.4:5060") back as net_msgs: transport, address and local
 * address, no socket (udp_fd -1) and no connection. A way that does not
 * parse has no transport and no address (the side is not reached until it
 * sends); a local address that does not parse is left empty. Pure: the
 * caller gives a UDP way a socket of its family before proxy_restore.
 */
void proxy_dialog_ways(struct net_msg way[2], const struct store_dialog *d);

/*
 * A dialog kept by an earlier run (ops->dialog_up), with its two ways
 * rebuilt by the caller (UDP ways with a socket) and, for a side reached
 * over TCP or TLS, the registered contact of that side if the caller knows
 * it (contact[k] NULL or "": not known; see ops->reach). One whose lifetime
 * is over gets its record (hangup "timeout") and ops->dialog_down;
 * otherwise it is confirmed again, so its in-dialog requests are routed and
 * its BYE ends both sides and writes the record with the real end. An
 * emergency call's dialog (d->emergency) keeps its mark and location for
 * its record and may use the reserve (proxy_dialog_room). Returns
 * 0, EEXIST (it is here already), EOVERFLOW (the table is full), ENOMEM.
 */
int proxy_restore(struct proxy *p, const struct store_dialog *d, const struct net_msg way[2],
		  const char *const contact[2]);

#endif
