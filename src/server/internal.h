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
#include "../net/net.h"
#include "../proxy/proxy.h"
#include "../registrar/registrar.h"
#include "../store/store.h"
#include "../txn/txn.h"
#include "server.h"

struct dialog;
struct call;

#define SERVER_BAN_QUEUE 4096 /* bans started in one tick, to be stored */

struct server_ban_q {
	char addr[STORE_BAN_ADDR_MAX];
	uint64_t until_ms;
	uint32_t count;
	char reason[STORE_BAN_REASON_MAX];
};

/* One extra identity a user may present in From (policy/identity). */
struct server_ident {
	char *name;  /* user name (the domain is the served one) */
	char *uri;
};

/* Reload the identities from the store (with the user cache). */
int server_idents_reload(struct server *s);
void server_idents_free(struct server *s);
/* The identities of user `name`: *n entries as an array of URI strings in
 * `out` (at most cap). */
size_t server_idents_of(const struct server *s, struct slice name, const char **out, size_t cap);

/* Room for any response we build: the request's Vias and headers are bounded
 * by max_message (<= 65535) and we add a few hundred bytes. */
#define SERVER_OUT_CAP (65536 + 2048)

struct server {
	struct conf conf;
	struct net *net;
	struct sip_hdr *hdrs;          /* conf.lim.max_headers entries */
	uint32_t hdr_cap;
	char *out;
	uint8_t tag_key[16];           /* keys the To-tags of stateless replies */
	struct server_stats stats;
	struct log_limit refusal_log;

	char state[1024];
	struct store *store;
	struct store_cache *cache;
	struct registrar *reg;
	uint8_t key[AUTH_KEY_LEN];     /* nonce HMAC key, from the state directory */
	struct auth_nc_table *nc;
	struct auth_watch *watch;      /* phones that do not take SHA-256 */
	struct auth_server auth;
	char realm[256];
	/* this server's addresses as "host" and "host:port", for AOR checks and
	 * the relaxed digest-uri check */
	char own_host[NET_MAX_LISTEN][INET6_ADDRSTRLEN];
	char own_hostport[NET_MAX_LISTEN][INET6_ADDRSTRLEN + 8];
	struct slice own_slices[NET_MAX_LISTEN];      /* "host:port" */
	struct slice own_host_slices[NET_MAX_LISTEN]; /* "host" */
	size_t n_own;
	uint64_t next_expiry_ms, next_cache_ms;

	struct server_ident *idents;   /* extra identities of users, sorted by name */
	size_t nidents;

	struct txn_layer *txn;
	struct call *calls;            /* requests being proxied */
	struct dialog **dialogs;       /* hash of confirmed dialogs by Call-ID */
	size_t ndialog_buckets, ndialogs;
	uint64_t branch_seq;           /* makes our Via branches unique */

	struct guard *guard;           /* admission, bans, brute force (server/guard.c) */
	uint32_t guard_prefix;         /* its IPv6 grouping, for ban keys */
	char guard_err[256];           /* why the last reload kept the old guard */
	struct server_ban_q ban_q[SERVER_BAN_QUEUE];
	size_t nban_q;
	int64_t ban_data_version;      /* store_data_version at the last ban sync */
	uint64_t next_ban_sync_ms, next_ban_expire_ms;
};

/* How to answer a request: through its server transaction when it has one,
 * else statelessly, the way it came. */
struct server_ctx {
	const struct net_msg *in;      /* where it came from (buf may be unused) */
	struct txn_server *st;         /* NULL: stateless */
};

uint64_t server_now_ms(void);


/* Answer request m (which has SIP_HAVE_REPLY) with `extra` header lines
 * (each ending in CRLF) besides those the status implies. */
void server_answer(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		   uint16_t status, const char *reason, struct slice extra);

/* Send a 401 or 407 challenge: one header per algorithm in `offer`
 * (AUTH_ALGO_BIT()s, auth_outcome.offer), SHA-256 first. */
void server_challenge(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		      bool proxy, bool stale, unsigned offer);

/* auth_offer_fn over the credential cache: the user's digest setting. */
unsigned server_offer_user(void *arg, struct slice user);

/* After auth_request: note (event auth.sha256_unanswered / auth.md5_answer,
 * once per user) phones that do not take SHA-256 (auth/watch.c). */
void server_auth_watch(struct server *s, const struct net_msg *in, const struct sip_msg *m,
		       const struct auth_outcome *ao);

/* Is host one of ours: the domain, or an address we listen on? */
bool server_host_is_ours(const struct server *s, struct slice host);

/* auth_lookup_fn over the credential cache. */
int server_lookup_user(void *arg, struct slice user, enum auth_algo algo, uint8_t *ha1,
		       size_t cap, size_t *len);

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

/* Requests other than REGISTER and OPTIONS: dialog-forming ones are
 * authenticated and forked to the callee's contacts; in-dialog ones follow
 * their dialog (server/call.c). */
void server_call_request(struct server *s, struct txn_server *st, const struct sip_msg *m,
			 const struct txn_peer *from);
void server_call_cancel(struct server *s, struct txn_server *st);
void server_call_response(struct server *s, struct txn_client *ct, const struct sip_msg *m);
void server_call_timeout(struct server *s, struct txn_client *ct);
void server_call_terminated(struct server *s, struct txn_server *st, struct txn_client *ct);
/* An ACK for a 2xx, or a stray 2xx to an INVITE: forwarded along the dialog. */
void server_call_ack(struct server *s, const struct sip_msg *m, const struct net_msg *in);
void server_call_stray_2xx(struct server *s, const struct sip_msg *m);
void server_dialogs_free(struct server *s);
/* Drop dialogs nobody ended within their lifetime; cancel INVITEs whose
 * timer C has fired. */
void server_dialogs_expire(struct server *s, uint64_t now_ms);
void server_calls_timer_c(struct server *s, uint64_t now_ms);

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
/*
 * Per-user mutual TLS, after user proved its password for request m: when
 * the user's cache entry says require_client_cert, m must have come over TLS
 * with a verified client certificate naming the user (policy_client_cert).
 * Returns true to go on. Otherwise the request has been answered (403
 * "Client Certificate Required", or 403 "Forbidden" for a user gone from the
 * cache meanwhile), the event tls.client_cert_refused recorded with aor, and
 * false is returned.
 */
bool server_client_cert_ok(struct server *s, const struct server_ctx *x,
			   const struct sip_msg *m, struct slice user, struct slice aor);

/* Record a security event. */
void server_event(struct server *s, const char *kind, const struct net_msg *in,
		  const struct sip_msg *m, struct slice user, struct slice aor,
		  const char *reason, int status);

#endif
