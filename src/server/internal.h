/*
 * server/internal.h: what the request path's files share. Not for other layers.
 */
#ifndef BASTION_SERVER_INTERNAL_H
#define BASTION_SERVER_INTERNAL_H

#include <netinet/in.h>

#include "../auth/auth.h"
#include "../guard/guard.h"
#include "../policy/policy.h"
#include "../log/log.h"
#include "../metrics/metrics.h"
#include "../net/net.h"
#include "../nodes/nodes.h"
#include "../proxy/proxy.h"
#include "../registrar/registrar.h"
#include "../store/store.h"
#include "../txn/txn.h"
#include "server.h"

/* Why a batch of the store was committed (bastion_store_batches_total). */
enum server_batch_why {
	SERVER_BATCH_WAITED, /* its oldest change waited [store] batch_wait */
	SERVER_BATCH_FULL,   /* batch_max changes waited, or an answer found hold_max held */
	SERVER_BATCH_TICK,   /* the tick: durability none's write-behind, drain, exit */
	SERVER_BATCH_WHYS
};

/* Room for any response we build: the request's Vias and headers are bounded
 * by max_message (<= 65535) and we add a few hundred bytes. */
#define SERVER_OUT_CAP (65536 + 2048)

/* A security event waiting to travel with a held answer (server.c):
 * packed by log_event_pack. */
#define SERVER_EV_NOTE_MAX LOG_EVENT_PACKED_MAX

struct server {
	struct conf conf;
	struct net *net;
	struct sip_hdr *hdrs;          /* conf.lim.max_headers entries */
	uint32_t hdr_cap;
	char *out;
	struct hash_key tag_key;       /* keys the To-tags of stateless replies */
	struct server_stats stats;
	struct log_limit refusal_log;

	char state[1024];
	struct store *store;
	struct store_cache *cache;
	struct registrar *reg;
	struct auth_site *site;        /* nonce key, nonce-count table, watch, digest settings */
	struct nodes_epochs *epochs;   /* several nodes: nonce epochs and their leases (nodes/) */
	struct net_peer_cert *peer_cert; /* scratch for per-user mutual TLS (about 4 KB) */
	char realm[256];
	/* this server's addresses as "host" and "host:port", for AOR checks and
	 * the relaxed digest-uri check */
	char own_host[NET_MAX_LISTEN][INET6_ADDRSTRLEN];
	char own_hostport[NET_MAX_LISTEN][INET6_ADDRSTRLEN + 8];
	struct slice own_slices[NET_MAX_LISTEN];      /* "host:port" */
	struct slice own_host_slices[NET_MAX_LISTEN]; /* "host" */
	size_t n_own;
	uint64_t next_expiry_ms, next_cache_ms;
	uint64_t batch_since_ms;        /* when the registrar's batch began waiting; 0: none */
	uint64_t cdr_since_ms;          /* when calls' batch (calls) did; 0: none */
	/* Batches committed, registrations' [0] and calls' [1], by why (the
	 * registrar counts its batch_max ones itself) */
	uint64_t batches[2][SERVER_BATCH_WHYS];
	bool store_down;               /* nodes.c: the last tick saw the store unreachable */
	bool draining;                 /* SIGTERM: finishing what is in progress */
	uint64_t drain_until_ms;
	volatile sig_atomic_t drain_done; /* set by the tick: nothing left */

	struct store_idents *idents;   /* extra identities of users (reloaded with the cache) */

	struct txn_layer *txn;
	struct proxy *proxy;           /* calls and dialogs (proxy/) */
	struct policy_identity_verdict *idv; /* scratch of server/call.c (large) */
	struct server_trunks *trunks;  /* outside calls in progress, for the caps (trunk.c) */
	/* calls' batch: dialogs and records waiting, their batch numbers that
	 * answers held by the proxy wait on (proxy_durable); call.c commits it */
	struct store_calls *calls;
	size_t restored_dialogs;
	struct log_limit cdr_store_limit;

	struct guard *guard;           /* admission, bans, brute force (server/guard.c) */
	uint32_t guard_prefix;         /* its IPv6 grouping, for ban keys */
	char guard_err[256];           /* why the last reload kept the old guard */
	struct nodes_bans *bans;       /* the guard's bans and locks to and from the store */

	unsigned char ev_note[SERVER_EV_NOTE_MAX]; /* server_event_durable -> the held answer */
	size_t ev_note_len;
	struct metrics_server *metrics; /* [metrics] listen, or NULL (server/observe.c) */
	struct emerg_state *emerg;     /* emergency calls in progress (emerg/state.c) */
};

/* How to answer a request: through its server transaction when it has one,
 * else statelessly, the way it came. */
struct server_ctx {
	const struct net_msg *in;      /* where it came from (buf may be unused) */
	struct txn_server *st;         /* NULL: stateless */
};

uint64_t server_now_ms(void);

/* The extra identities user `name` may present in From (policy/identity):
 * at most cap URI strings into out; returns how many. */
static inline size_t server_idents_of(const struct server *s, struct slice name,
				      const char **out, size_t cap)
{
	return store_idents_of(s->idents, name, out, cap);
}


/* Answer request m (which has SIP_HAVE_REPLY) with `extra` header lines
 * (each ending in CRLF) besides those the status implies. */
void server_answer(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		   uint16_t status, const char *reason, struct slice extra);

/* As server_answer, but when seq is not 0 (registrar_result.seq) the answer
 * is held until the batch holding the request's changes is durable (group
 * commit, registrar_hold); requests with a server transaction are answered
 * at once. */
void server_answer_durable(struct server *s, const struct server_ctx *x,
			   const struct sip_msg *m, uint16_t status, const char *reason,
			   struct slice extra, uint64_t seq);

/* Is host one of ours: the domain, or an address we listen on? */
bool server_host_is_ours(const struct server *s, struct slice host);

/* ---- auth.c: one authentication step for every method ---- */
/* The step's value is auth/'s (struct auth_step, auth_step_decide). */

/*
 * Authenticate request m (as a registrar: 401, Authorization; as a proxy:
 * 407, Proxy-Authorization) into v: digest verification over the
 * credential cache (read once), the brute-force lock, per-user mutual TLS,
 * and the guard's failure and success counting. aor names the address the
 * request is about, for the guard and events. Pure of answers: the caller
 * sends server_auth_refuse() for anything but ALLOW.
 */
void server_authenticate(struct server *s, struct auth_step *v, const struct server_ctx *x,
			 const struct sip_msg *m, bool proxy, struct slice aor);
/* The same for an emergency call (server/emerg.c): a brute-force lock of
 * the user does not refuse it (the digest must still be right). */
void server_authenticate_emergency(struct server *s, struct auth_step *v,
				   const struct server_ctx *x, const struct sip_msg *m,
				   struct slice aor);
/* For an ALLOW: record the password deadline's warning event, if any. */
void server_auth_note(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		      const struct auth_step *v, struct slice aor);
/* For an ALLOW whose user must change its password: the Warning header line
 * (CRLF included) telling it by when, into out; returns its length, 0 when
 * there is nothing to say (or it does not fit). */
int server_auth_warning(char *out, size_t cap, const struct server *s,
			const struct auth_step *v);
/* Record v's event (if any) and answer: the challenge, or the refusal. */
void server_auth_refuse(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			const struct auth_step *v, struct slice aor);

/* ---- guard.c ---- */
enum guard_req server_guard_kind(const char *p, size_t len);
/* Before parsing: false when the message is to be dropped (banned source,
 * over budget); a ban that starts is logged and queued for the store. */
bool server_guard_admit(struct server *s, const struct net_msg *in, uint64_t now_ms);
/* The message from src proved to belong to authenticated work. */
void server_guard_refund(struct server *s, const struct net_addr *src);
/* After parsing a request: true when it carries a scanner fingerprint; its
 * source is banned and the caller drops it silently. */
bool server_guard_scanner(struct server *s, const struct net_msg *in, const struct sip_msg *m);
void server_guard_auth_ok(struct server *s, const struct net_msg *in, struct slice user,
			  enum sip_method mid);
/* user is locked and in does not come from the user's last good address. */
bool server_guard_locked(struct server *s, const struct net_msg *in, struct slice user);
/* A wrong digest response (known_user false: the name is not an account). */
void server_guard_auth_failed(struct server *s, const struct net_msg *in, const struct sip_msg *m,
			      struct slice user, struct slice aor, bool known_user);
/* Store the bans of this tick; pick up the CLI's changes (about every second). */
void server_guard_tick(struct server *s, uint64_t now_ms);

/* nodes.c: each tick, after the registrar's flush: take in the bindings other
 * nodes changed (shared PostgreSQL store), and say when the store goes away
 * and comes back (events store.failure / store.recovered, log lines). */
void server_nodes_tick(struct server *s);
/* With a remote store: name this node (the id in STATE/node-id, made on
 * first start) and open its on-disk write queue (STATE/store-queue.journal),
 * replaying what an earlier run left there. Nothing with SQLite. */
int server_nodes_attach(struct server *s, const char *store_path, char *err, size_t errlen);
void server_nodes_free(struct server *s);

/* Store the bans started since the last tick now (at exit). */
void server_guard_flush(struct server *s);
/* Create the guard from c and load the stored bans. */
int server_guard_start(struct server *s, const struct conf *c, char *err, size_t errlen);
/* SIGHUP: a new guard when its settings changed (bans carried over through
 * the store); on failure the old one stays and s->guard_err says why. */
int server_guard_reload(struct server *s, const struct conf *c);

/* REGISTER: authenticate, check ownership of the AOR, hand to the registrar,
 * answer. */
void server_register(struct server *s, const struct server_ctx *x, const struct sip_msg *m);

/* ---- call.c ---- */
/* Requests other than REGISTER and OPTIONS: dialog-forming ones are
 * authenticated and forked to the callee's contacts; in-dialog ones follow
 * their dialog (proxy/). */
void server_call_request(struct server *s, struct txn_server *st, const struct sip_msg *m,
			 const struct txn_peer *from);
/* Start the proxy core over s->txn with c's settings (proxy_conf_from). */
int server_proxy_start(struct server *s, const struct conf *c, char *err, size_t errlen);
/* The contacts of aor from the registrar as proxy targets (each the way it
 * registered; a sips: request or contact over TLS only, else counted in
 * refused). Free the contacts with server_targets_free. */
struct server_targets {
	const struct server *s;
	struct proxy_target t[100];
	size_t n;
	bool sips;                 /* a sips: request: TLS targets only */
	size_t refused;            /* targets left out: no TLS way to them */
};
void server_collect_targets(struct server *s, struct server_targets *t, struct slice aor,
			    bool sips);
void server_targets_free(struct server_targets *t);
/* Answer an authenticated request that goes nowhere, and record the attempt. */
void server_refuse_attempt(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			   struct slice user, uint16_t status, const char *reason);

/* ---- trunk.c: peers, the dial plan, class of service (trunk/) ---- */
struct server_trunks;
int server_trunk_start(struct server *s);
void server_trunk_free(struct server *s);
/* A request out of dialog from a peer's address: routed to a local user by
 * its DID, never challenged, never on to another peer. True when m came
 * from a peer (and was handled); false: not a peer, carry on. ck is what
 * proxy_check left (its loop hash, when it computed one), handed to the fork: here and in
 * server_trunk_outbound and server_emerg_call. */
bool server_trunk_inbound(struct server *s, struct txn_server *st, const struct server_ctx *x,
			  const struct sip_msg *m, const struct txn_peer *from, bool beyond,
			  const struct proxy_checked *ck);
/* A phone's request whose Request-URI or Route names a peer: refused (403,
 * call.gateway_bypass). True when refused. */
bool server_trunk_bypass(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			 struct slice user);
/* An authenticated request for something that is no local user: when its
 * Request-URI is an outside number, class of service, caps and the dial
 * plan decide, and it goes to the peers in order. False when it is no
 * outside number (the caller answers 404). */
bool server_trunk_outbound(struct server *s, struct txn_server *st, const struct server_ctx *x,
			   const struct sip_msg *m, const struct txn_peer *from, struct slice user,
			   const struct proxy_checked *ck);
/* A call ended (its record rec was written): release its caps, count its
 * minutes to the caller and the peer, look for a burst of short calls. */
void server_trunk_ended(struct server *s, const struct store_cdr *rec);
/* The toll-fraud counters that changed since the last write: any? Write
 * them (inside the caller's batch; server_cdr_flush). */
bool server_trunk_fraud_pending(const struct server *s);
void server_trunk_fraud_write(struct server *s);
/* Per-peer metrics (server/observe.c): calls out and in, failed calls out,
 * up or down, for peer i of the configuration. False past the last. */
bool server_trunk_peer_stats(const struct server *s, size_t i, struct trunk_peer_stats *out);
/* OPTIONS pings of the peers (ping_interval): sent from the tick; the
 * transaction callbacks hand them here first (true: it was a ping). A peer
 * that stops answering is marked down (event peer.down) and left out of
 * routes while another peer of the route is up; peer.up when it answers. */
void server_trunk_tick(struct server *s, uint64_t now_ms);
bool server_trunk_response(struct server *s, struct txn_client *ct, const struct sip_msg *m);
bool server_trunk_timeout(struct server *s, struct txn_client *ct);
bool server_trunk_terminated(struct server *s, struct txn_client *ct);

/* Peer i is marked down by its OPTIONS pings. */
bool server_trunk_peer_down(const struct server *s, size_t i);
/* The way to reach address a of peer p (UDP socket, or a connection of
 * ours; TLS checks tls_name); arg is the server. Returns 0 or an errno. */
int server_trunk_way(void *arg, const struct trunk_peer *p, const struct net_listen_spec *a,
		     struct net_msg *way);
/* Count emergency INVITE m (proxy_fork took it) against peer's
 * max_calls_out until its record is written. */
void server_trunk_track(struct server *s, const struct sip_msg *m, const char *peer);
/* proxy_ops.failover (arg is the server): may serial call call_id fail
 * over to peer? trunk_state_failover with the slots the peer keeps for
 * emergency calls; a refusal is logged. */
bool server_trunk_failover(void *arg, struct slice call_id, const char *peer);
/* A kept dialog is being restored after a restart (call.c, before
 * proxy_restore): an outside call counts again against its peer's
 * max_calls_out (or max_calls_in) and its caller's max_calls_per_user until
 * its record is written (server_trunk_ended; at once when its lifetime ran
 * out). True when it now counts: then server_trunk_forget undoes it if the
 * restore fails. */
bool server_trunk_restored(struct server *s, const struct store_dialog *d);
void server_trunk_forget(struct server *s, const char *call_id);

/* ---- emerg.c: emergency calls (emerg/, docs/emergency.md) ---- */
int server_emerg_start(struct server *s);
void server_emerg_free(struct server *s);
/* At start and on SIGHUP: a warning for each emergency number with no peer
 * to go to (audit check emergency.routes). */
void server_emerg_check(const struct server *s);
/* Before parsing, for a message the guard would drop: true when it is an
 * emergency INVITE and the server-wide emergency bucket has a token. */
bool server_emerg_admit(struct server *s, const struct net_msg *in, uint64_t now_ms);
/* Is m (received as in) an INVITE out of a dialog to an emergency number,
 * the CANCEL of one in progress, or a request inside an emergency call's
 * dialog from one of its sides? All may use the transaction reserve. */
bool server_emerg_is(const struct server *s, const struct sip_msg *m, const struct net_msg *in);
/* Emergency calls are in progress (their failover may use the reserve). */
bool server_emerg_active(const struct server *s);
/* An out-of-dialog request: when it is an emergency INVITE, authenticate,
 * route, send and notify (true: handled, answered). ck is proxy_check's
 * (not NULL): the fork takes its loop hash (computes it when empty), with the credentials
 * authentication consumed set here. */
bool server_emerg_call(struct server *s, struct txn_server *st, const struct server_ctx *x,
		       const struct sip_msg *m, const struct txn_peer *from, bool beyond,
		       struct proxy_checked *ck);
/* A call record is being written: an emergency call's is marked with the
 * location sent, and the call no longer counts. */
void server_emerg_ended(struct server *s, struct store_cdr *rec);
/* A kept dialog is being restored after a restart (call.c, before
 * proxy_restore): an emergency call's counts again against [emergency]
 * max_calls and its caller's one-at-a-time, until its record is written
 * (server_emerg_ended; at once when its lifetime ran out). */
void server_emerg_restored(struct server *s, const struct store_dialog *d);
/* server_emerg_ended's counterpart when the restore failed: it no longer
 * counts. */
void server_emerg_forget(struct server *s, const char *call_id);

/* Write the dialogs and call records of this tick: the store in one
 * transaction, then the CDR log. */
void server_cdr_flush(struct server *s, enum server_batch_why why);
/* At start: the dialogs an earlier run kept, back in the proxy. */
void server_dialogs_restore(struct server *s);

/* TLS (server/tls.c). The library guard: log the OpenSSL in use and refuse
 * one with a known critical flaw (EPROTO, err says which). */
int server_tls_library_check(char *err, size_t errlen);
/* Load [tls] certificate and key into s->net when a tls: listener is
 * configured (before net_listen). Returns 0 or an errno with err. */
int server_tls_start(struct server *s, const struct conf *c, char *err, size_t errlen);
/* SIGHUP: load c's certificate and key; a failure is logged and the running
 * ones kept. */
void server_tls_reload(struct server *s, const struct conf *c);
void server_tls_log_stats(const struct server *s);
/* The metrics listener (server/observe.c): start it when [metrics] listen
 * is set (after the SIP listeners); apply new limits on SIGHUP; close it. */
int server_metrics_start(struct server *s, const struct conf *c, char *err, size_t errlen);
void server_metrics_reload(struct server *s, const struct conf *c);
void server_metrics_free(struct server *s);
/* Start the remote log sender when [log] remote is set (server/observe.c).
 * Returns 0 or an errno with err naming the setting at fault. */
int server_remote_log_start(struct server *s, const struct conf *c, char *err, size_t errlen);

/* Record a security event. */
void server_event(struct server *s, const char *kind, const struct net_msg *in,
		  const struct sip_msg *m, struct slice user, struct slice aor,
		  const char *reason, int status);

/* Record a security event about a change that waits for batch seq
 * (registrar_result.seq): at once when seq is 0 or durable, else with the
 * answer that server_answer_durable holds next, just before its batch is
 * committed, so that the log and the store agree (registrar_set_sender).
 * kind and reason must be string literals (they travel as pointers). */
void server_event_durable(struct server *s, uint64_t seq, const char *kind,
			  const struct net_msg *in, const struct sip_msg *m, struct slice user,
			  struct slice aor, const char *reason, int status);

#endif
