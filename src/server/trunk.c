/*
 * server/trunk.c: the request path's side of trunk/ (docs/trunks.md). The
 * decisions and the state they need (calls in progress and the caps, the
 * toll-fraud counters, the peers' health and registration) are trunk/'s
 * (struct trunk_state, trunk.h); this file carries them out:
 * - reads the message and the store's word on the caller (its calling class
 *   and fraud hold, through the credential cache) and hands them in;
 * - turns a refusal into its event, its call record and the answer, an
 *   allowed call into proxy_fork, serial (outbound) or parallel (inbound),
 *   with proxy_check's value (server/call.c: its loop hash, when it
 *   computed one; else the fork computes it once); a serial call fails
 *   over to another peer only when trunk/ moves its count there
 *   (server_trunk_failover, the core's proxy_ops.failover);
 * - starts the OPTIONS pings and REGISTERs trunk/ builds as client
 *   transactions and hands their outcome back; logs the peers' events;
 * - owns nodes/fraud.c's object, which keeps the toll-fraud counters in
 *   step with the store: written with the next batch of call records
 *   (server_trunk_fraud_write, from server_cdr_flush), read back at
 *   startup, the other nodes' reread when trunk/ says, a burst's hold
 *   stored with the user;
 * - logs what trunk_state_secrets_load says of the [trunks] secrets file
 *   (its content never).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "internal.h"

/* trunk/'s records and addresses go to the store as they are */
_Static_assert(TRUNK_DIALED_MAX == STORE_DIALED_MAX, "trunk_record.dialed is store_cdr.dialed");
_Static_assert(TRUNK_AOR_MAX == STORE_URI_MAX, "trunk_inbound.aor is an address of record");

struct server_trunks {
	struct trunk_state *st;
	struct nodes_fraud *fraud; /* the counters in the store (nodes/fraud.c) */
	bool shared;               /* PostgreSQL: other nodes count too */
};

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

static int op_answer(void *arg, char *out, size_t cap, struct slice chal, struct slice uri,
		     const struct trunk_secret *sec, uint32_t nc)
{
	uint8_t cn[16];
	char cn_hex[33];
	size_t len = 0;

	(void)arg;
	if (RAND_bytes(cn, sizeof(cn)) != 1 || auth_hex(cn_hex, sizeof(cn_hex), cn, sizeof(cn)) != 0)
		return EIO;
	return auth_client_answer(out, cap, &len, chal, SLICE_LIT("REGISTER"), uri,
				  slice_cstr(sec->user), slice_cstr(sec->password),
				  slice_cstr(sec->realm), slice_cstr(cn_hex), nc);
}

/* Look at the secrets file (trunk_state_secrets_load: when it changed, or
 * first) and log what came of it; nothing of its content is logged. */
static void secrets_load(struct server *s)
{
	const struct trunk_secret *u = NULL;
	enum trunk_secrets_result res;
	char path[1100], msg[1600];

	if (!s->conf.trunk_secrets[0] ||
	    conf_state_path(path, sizeof(path), s->state, s->conf.trunk_secrets) != 0 ||
	    trunk_state_secrets_load(s->trunks->st, &res, path, msg, sizeof(msg)) != 0)
		return;
	if (res == TRUNK_SECRETS_GONE)
		log_notice("%s", msg);
	else if (res == TRUNK_SECRETS_FAILED)
		log_error("%s", msg);
	else if (res == TRUNK_SECRETS_LOADED)
		log_info("%s", msg);
	while (res == TRUNK_SECRETS_LOADED &&
	       (u = trunk_secrets_unknown(trunk_state_secrets(s->trunks->st), &s->conf.trunk, u)))
		log_warn("%s: [%s] names no peer of bastion.conf", path, u->peer);
}

int server_trunk_start(struct server *s)
{
	struct server_trunks *t = calloc(1, sizeof(*t));
	struct trunk_env env = {
		.conf = &s->conf.trunk,
		.fraud = &s->conf.fraud,
		.listeners = s->conf.listeners,
		.nlisteners = s->conf.nlisteners,
		.domain = s->conf.domain,
		.max_calls = s->conf.max_dialogs,
		.max_usage = (size_t)s->conf.max_users + TRUNK_MAX_PEERS,
		.way = server_trunk_way,
		.answer = op_answer,
		.arg = s,
	};
	int rc;

	if (!t)
		return ENOMEM;
	if ((rc = trunk_state_new(&t->st, &env)) != 0 ||
	    (rc = nodes_fraud_new(&t->fraud, &(struct nodes_fraud_conf){
					  s->store, t->st, s->conf.domain, &s->cdr_store_limit })) != 0) {
		trunk_state_free(&t->st);
		free(t);
		return rc;
	}
	s->trunks = t;
	secrets_load(s);
	t->shared = store_is_remote(s->conf.database);
	nodes_fraud_read(t->fraud, true, wall_s());
	return 0;
}

void server_trunk_free(struct server *s)
{
	if (!s->trunks)
		return;
	nodes_fraud_free(&s->trunks->fraud);
	trunk_state_free(&s->trunks->st);
	free(s->trunks);
	s->trunks = NULL;
}

/* A fraud.alert on a user's counters (in and m NULL at a call's end): the
 * event, and with [fraud] suspend the hold, stored with the user. */
static void alert(struct server *s, const struct trunk_alert *a, const struct net_msg *in,
		  const struct sip_msg *m)
{
	if (!a->raised)
		return;
	if (in && m) {
		server_event(s, TRUNK_EVENT_FRAUD_ALERT, in, m, slice_cstr(a->user), m->ruri_raw,
			     a->full, 0);
	} else {
		struct log_event e = { .kind = TRUNK_EVENT_FRAUD_ALERT, .user = slice_cstr(a->user),
				       .reason = a->full };
		log_event(&e);
	}
	log_warn("fraud alert for %.64s: %s", a->user, a->full);
	nodes_fraud_hold(s->trunks->fraud, a);
}

bool server_trunk_fraud_pending(const struct server *s)
{
	return s->trunks && nodes_fraud_pending(s->trunks->fraud);
}

void server_trunk_fraud_write(struct server *s)
{
	if (s->trunks)
		nodes_fraud_write(s->trunks->fraud, wall_s());
}

void server_trunk_track(struct server *s, const struct sip_msg *m, const char *peer)
{
	if (s->trunks && m->mid == SIP_M_INVITE)
		trunk_state_track(s->trunks->st, m->call_id, peer);
}

bool server_trunk_failover(void *arg, struct slice call_id, const char *peer)
{
	struct server *s = arg;
	uint32_t keep[TRUNK_MAX_PEERS] = { 0 };

	if (!s->trunks)
		return true;
	/* the last slots of a peer on an emergency route, as for the routing */
	emerg_reserved_slots(&s->conf.emerg, keep, s->conf.trunk.npeers);
	if (trunk_state_failover(s->trunks->st, call_id, peer, keep))
		return true;
	log_notice("call %.*s not failed over to peer %s: no room under its max_calls_out",
		   (int)(call_id.len < 64 ? call_id.len : 64), call_id.p ? call_id.p : "", peer);
	return false;
}

bool server_trunk_restored(struct server *s, const struct store_dialog *d)
{
	return s->trunks &&
	       trunk_state_restored(s->trunks->st,
				    &(struct trunk_kept){ d->call_id, d->peer, d->klass,
							  d->auth_user, d->emergency });
}

void server_trunk_forget(struct server *s, const char *call_id)
{
	if (s->trunks)
		trunk_state_forget(s->trunks->st, call_id);
}

void server_trunk_ended(struct server *s, const struct store_cdr *rec)
{
	struct trunk_alert a;

	if (!s->trunks)
		return;
	trunk_state_ended(s->trunks->st, rec->call_id, rec->peer, rec->final_status,
			  (uint64_t)store_cdr_duration_s(rec), wall_s(), store_cache_version(s->cache),
			  &a);
	alert(s, &a, NULL, NULL);
}

/* ---- peers: pings and registration -------------------------------------------- */

static void peer_event(struct server *s, const struct trunk_event *ev)
{
	const struct trunk_peer *p = &s->conf.trunk.peer[ev->peer];
	struct log_event e = {
		.kind = ev->kind,
		.src = &p->addr[0].addr,
		.tp = p->addr[0].tp,
		.has_src = true,
		.user = slice_cstr(p->name),
		.reason = ev->reason,
	};

	if (!ev->kind || ev->peer >= s->conf.trunk.npeers)
		return;
	log_event(&e);
	log_notice("peer %s: %s", p->name, ev->reason);
}

/* Start msg as a client transaction; trunk/ keeps its handle. */
static void send_msg(struct server *s, const struct trunk_msg *msg, uint64_t now)
{
	struct txn_peer to = { msg->way, msg->dst };
	struct txn_client *ct = NULL;

	if (txn_client_start(&ct, s->txn, msg->buf, msg->len,
			     msg->reg ? SLICE_LIT("REGISTER") : SLICE_LIT("OPTIONS"),
			     slice_cstr(msg->branch), &to, msg->user, now) != 0)
		ct = NULL;
	trunk_state_sent(s->trunks->st, msg, ct);
}

/* A TLS peer whose certificate was refused since the last tick
 * (trunk_state_tls_refused): event peer.tls_refused naming it. Nothing was
 * sent to it; the call's transaction times out and fails over to the
 * route's next peer. */
static void tls_refusals(struct server *s)
{
	struct net_stats ns;
	struct net_tls_refusal r;
	struct trunk_event ev;

	net_stats(s->net, &ns);
	net_tls_last_refusal(s->net, &r);
	if (!trunk_state_tls_refused(s->trunks->st, &ev, ns.tls_peer_refused, &r))
		return;
	if (ev.kind)
		peer_event(s, &ev);
	else
		log_warn("outbound TLS connection refused: %s", ev.reason);
}

void server_trunk_tick(struct server *s, uint64_t now)
{
	struct server_trunks *t = s->trunks;
	struct trunk_tick tk;
	struct trunk_event ev;
	struct trunk_msg *msg;

	if (!t)
		return;
	trunk_state_tick(t->st, &tk, now, wall_s(), t->shared);
	if (tk.sync)
		nodes_fraud_read(t->fraud, false, wall_s());
	tls_refusals(s);
	if (tk.secrets)
		secrets_load(s);
	if ((!tk.nping && !tk.nreg) || !(msg = malloc(sizeof(*msg))))
		return;
	for (size_t k = 0; k < tk.nping + tk.nreg; k++) {
		bool reg = k >= tk.nping;
		if (trunk_state_request(t->st, msg, &ev, reg ? tk.reg[k - tk.nping] : tk.ping[k], reg,
					now) == 0)
			send_msg(s, msg, now);
		peer_event(s, &ev);
	}
	OPENSSL_cleanse(msg, sizeof(*msg));
	free(msg);
}

/* A ping's or REGISTER's final response m, or its timeout (m NULL). */
static bool outcome(struct server *s, struct txn_client *ct, const struct sip_msg *m)
{
	struct trunk_event ev = { NULL, 0, "" };
	struct trunk_msg *msg = NULL;
	uint64_t now = server_now_ms();
	bool reg, cur;
	int i = s->trunks && ct ? trunk_state_txn(s->trunks->st, ct, txn_client_user(ct), &reg, &cur)
				: -1;

	if (i < 0)
		return false;
	if (cur && (msg = malloc(sizeof(*msg))) != NULL &&
	    trunk_state_outcome(s->trunks->st, msg, &ev, (size_t)i, reg, m, now))
		send_msg(s, msg, now);
	if (msg) {
		OPENSSL_cleanse(msg, sizeof(*msg));
		free(msg);
	}
	peer_event(s, &ev);
	return true;
}

bool server_trunk_response(struct server *s, struct txn_client *ct, const struct sip_msg *m)
{
	return outcome(s, ct, m);
}

bool server_trunk_timeout(struct server *s, struct txn_client *ct)
{
	return outcome(s, ct, NULL);
}

bool server_trunk_terminated(struct server *s, struct txn_client *ct)
{
	return s->trunks && ct && trunk_state_txn_ended(s->trunks->st, ct, txn_client_user(ct));
}

bool server_trunk_peer_down(const struct server *s, size_t i)
{
	return s->trunks && trunk_state_peer_down(s->trunks->st, i);
}

int server_trunk_way(void *arg, const struct trunk_peer *p, const struct net_listen_spec *a,
		     struct net_msg *way)
{
	struct server *s = arg;

	memset(way, 0, sizeof(*way));
	if (a->tp == NET_UDP) {
		way->tp = NET_UDP;
		way->src = a->addr;
		way->udp_fd = net_udp_fd(s->net, a->addr.ss.ss_family);
		return way->udp_fd >= 0 ? 0 : EAFNOSUPPORT;
	}
	way->udp_fd = -1;
	return net_connect(s->net, a->tp, &a->addr, a->tp == NET_TLS ? p->tls_name : NULL, way);
}

bool server_trunk_peer_stats(const struct server *s, size_t i, struct trunk_peer_stats *out)
{
	return s->trunks && trunk_state_peer_stats(s->trunks->st, i, out);
}

/* ---- calls ---------------------------------------------------------------------- */

bool server_trunk_bypass(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			 struct slice user)
{
	if (!trunk_bypass(&s->conf.trunk, m, &s->conf.lim))
		return false;
	server_event(s, TRUNK_EVENT_BYPASS, x->in, m, user, m->ruri_raw,
		     "a phone named a peer's address: peers are reached through the dial plan",
		     403);
	server_refuse_attempt(s, x, m, user, 403, "Peers Are Reached Through the Dial Plan");
	return true;
}

/* Refuse an outside call: the event, the record (when asked, with its
 * class and numbers, so that refused attempts show in `bastion cdr list`),
 * the answer (with Retry-After when retry_after). */
static void refuse(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		   const struct proxy_caller *who, const struct trunk_verdict *v,
		   uint32_t retry_after, bool record)
{
	char ra[40] = "";

	if (v->event)
		server_event(s, v->event, x->in, m, who->user, m->ruri_raw, v->detail, v->status);
	if (record)
		proxy_record_refused(s->proxy, m, who, v->status);
	if (retry_after)
		snprintf(ra, sizeof(ra), "Retry-After: %u\r\n", retry_after);
	server_answer(s, x, m, v->status, v->reason, slice_cstr(ra));
}

bool server_trunk_outbound(struct server *s, struct txn_server *st, const struct server_ctx *x,
			   const struct sip_msg *m, const struct txn_peer *from, struct slice user,
			   const struct proxy_checked *ck)
{
	uint32_t keep[TRUNK_MAX_PEERS] = { 0 };
	struct trunk_outbound *o;
	struct proxy_target t[TRUNK_MAX_ROUTE_PEERS * TRUNK_MAX_ADDRS];
	struct proxy_cred cred[TRUNK_MAX_ROUTE_PEERS * TRUNK_MAX_ADDRS];
	struct proxy_outside out;
	struct proxy_caller who = { user, x->in, &out };
	struct store_cache_entry e;
	struct trunk_alert a;
	struct proxy_verdict pv;
	struct trunk_call c;

	/* calls only: a MESSAGE or SUBSCRIBE to a number is not sent out
	 * through a gateway (nothing would count or cap it) */
	if (m->mid != SIP_M_INVITE || !s->trunks)
		return false;
	if (store_cache_lookup(s->cache, &e, user, slice_cstr(s->conf.domain)) != 0)
		memset(&e, 0, sizeof(e));
	/* the last slots of a peer on an emergency route are kept for them */
	emerg_reserved_slots(&s->conf.emerg, keep, s->conf.trunk.npeers);
	c = (struct trunk_call){ &m->ruri, user, e.calling, e.fraud_hold,
				 store_cache_version(s->cache),
				 m->ruri.scheme == SIP_SCHEME_SIPS ||
					 s->conf.signaling == CONF_SIGNALING_TLS,
				 keep, wall_s(), server_now_ms() };
	if (!(o = malloc(sizeof(*o)))) {
		server_answer(s, x, m, 500, "Server Internal Error", SLICE_NULL);
		return true;
	}
	if (trunk_state_outbound(s->trunks->st, o, &c) == ENOENT) {
		free(o);
		return false;
	}
	out = (struct proxy_outside){ o->rec.peer, o->rec.klass, o->rec.dialed, o->rec.number };
	if (!o->v.allow) {
		refuse(s, x, m, &who, &o->v, o->retry_after, true);
		goto out;
	}
	for (size_t i = 0; i < o->n; i++) {
		const struct trunk_secret *sec = o->t[i].cred;
		cred[i] = (struct proxy_cred){ sec ? sec->user : NULL, sec ? sec->password : NULL,
					       sec ? sec->realm : NULL };
		t[i] = (struct proxy_target){ o->t[i].way, o->t[i].contact, o->t[i].label,
					      sec ? &cred[i] : NULL };
	}
	pv = proxy_fork(s->proxy, st, m, from, t, o->n,
			&(struct proxy_fork_opts){ .serial = true, .extra = slice_cstr(o->pai),
						   .checked = ck, .who = &who });
	if (pv.status) {
		if (pv.event)
			server_event(s, pv.event, x->in, m, user, m->from.uri.raw, pv.detail, pv.status);
		server_answer(s, x, m, pv.status, pv.reason, SLICE_NULL);
		goto out;
	}
	trunk_state_placed(s->trunks->st, o, &c, m->call_id, &a);
	alert(s, &a, x->in, m);
	log_info("outside call %s (%s) by %.*s to peer %s", o->e164, trunk_class_name(o->klass),
		 (int)(user.len < 64 ? user.len : 64), user.p ? user.p : "",
		 s->conf.trunk.peer[o->first].name);
out:
	free(o);
	return true;
}

bool server_trunk_inbound(struct server *s, struct txn_server *st, const struct server_ctx *x,
			  const struct sip_msg *m, const struct txn_peer *from, bool beyond,
			  const struct proxy_checked *ck)
{
	struct server_targets *t = NULL;
	struct proxy_verdict pv;
	struct proxy_outside out;
	struct proxy_caller who = { SLICE_NULL, x->in, &out };
	struct trunk_inbound o; /* 4.4 KB */

	if (!s->trunks)
		return false;
	trunk_state_inbound(s->trunks->st, &o, m, &from->via.src, from->via.tp, beyond,
			    server_now_ms());
	if (o.peer < 0)
		return false;
	/* a peer's traffic is admitted work: the guard gives its cost back, so
	 * a busy gateway is not banned for its call rate (its caps limit it) */
	server_guard_refund(s, &from->via.src);
	out = (struct proxy_outside){ o.rec.peer, o.rec.klass, o.rec.dialed, o.rec.number };
	if (!o.v.allow) {
		refuse(s, x, m, &who, &o.v, o.retry_after, o.record);
		return true;
	}
	if (!(t = malloc(sizeof(*t)))) {
		server_answer(s, x, m, 500, "Server Internal Error", SLICE_NULL);
		return true;
	}
	pv = proxy_media(s->proxy, m);
	if (pv.status) {
		server_event(s, pv.event, x->in, m, SLICE_NULL, m->from.uri.raw, pv.detail, pv.status);
		proxy_record_refused(s->proxy, m, &who, pv.status);
		server_answer(s, x, m, pv.status, pv.reason, SLICE_NULL);
		goto out;
	}
	server_collect_targets(s, t, slice_cstr(o.aor), m->ruri.scheme == SIP_SCHEME_SIPS);
	if (t->n == 0) {
		proxy_record_refused(s->proxy, m, &who, 480);
		server_answer(s, x, m, 480, "Temporarily Unavailable", SLICE_NULL);
		goto out;
	}
	pv = proxy_fork(s->proxy, st, m, from, t->t, t->n,
			&(struct proxy_fork_opts){ .extra = slice_cstr(o.pai), .checked = ck,
						   .who = &who });
	if (pv.status) {
		server_answer(s, x, m, pv.status, pv.reason, SLICE_NULL);
	} else {
		trunk_state_inbound_placed(s->trunks->st, o.peer, m);
		log_info("inbound call from peer %s to %s (DID %s)", o.rec.peer, o.local, o.e164);
	}
	server_targets_free(t);
out:
	free(t);
	return true;
}
