/*
 * server/call.c: admission of requests to the proxy core (proxy/).
 *
 * A dialog-forming or content-carrying request from outside a dialog passes
 * the checks of 16.3 (proxy_check), is authenticated with 407 (the one
 * authentication step, server/auth.c; guide: every phone authenticates),
 * its From must be the authenticated user's (policy/identity: else 403 and
 * call.spoofed_from; Cookbook: caller-ID manipulation), injected identity
 * headers are removed and P-Asserted-Identity added, and it goes to the
 * callee's contacts from the registrar, each the way it registered. Every
 * attempt that passed authentication gets a call record, refused or not.
 * In-dialog requests go straight to the core, which checks them against the
 * dialog they claim.
 *
 * This file also adapts the core's needs (struct proxy_ops) to the server:
 * answers, sends, records (to the store through the calls' batch,
 * store_calls, and to the CDR log), events, the guard's refunds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

/* ---- what the core asks of the server ------------------------------------------- */

static void op_answer(void *arg, const struct txn_peer *from, struct txn_server *st,
		      const struct sip_msg *m, uint16_t status, const char *reason)
{
	struct server_ctx x = { &from->via, st };

	server_answer(arg, &x, m, status, reason, SLICE_NULL);
}

static int op_send(void *arg, const struct txn_peer *to, const char *buf, size_t len)
{
	struct server *s = arg;

	return net_send(s->net, &to->via, &to->dst, buf, len);
}

/* Do answers wait for the batch of what they tell about (group commit)? */
static bool commit_waits(const struct server *s)
{
	return s->store && s->conf.durability != CONF_DURABLE_NONE;
}

/* Room in calls' batch for one more row: a batch is committed first when
 * its queue is full or holds batch_max rows, so that the new row (and the
 * answer that waits for it) always goes in the next one. */
static void cdr_room(struct server *s)
{
	if (store_calls_full(s->calls, s->conf.batch_max))
		server_cdr_flush(s, SERVER_BATCH_FULL);
}

/* Confirmed dialogs are stored in calls' batch (store_calls): a put when
 * the 2xx confirms one (the 2xx waits for the batch: the proxy holds it), a
 * delete when it ends; a dialog that ends within the batch it began in
 * never reaches the store. */
static uint64_t op_dialog_up(void *arg, const struct store_dialog *d)
{
	struct server *s = arg;
	uint64_t k;

	cdr_room(s);
	k = store_calls_dialog_put(s->calls, d);
	return commit_waits(s) ? k : 0;
}

static void op_dialog_down(void *arg, const char *call_id, const char *tag0, const char *tag1)
{
	struct server *s = arg;

	if (store_calls_dialog_forget(s->calls, call_id, tag0, tag1))
		return; /* never stored */
	cdr_room(s);
	(void)store_calls_dialog_delete(s->calls, call_id, tag0, tag1); /* room made */
}

/* Send the answers the proxy held for the batches the store made durable. */
static void cdr_release(struct server *s)
{
	proxy_durable(s->proxy, store_calls_durable(s->calls, s->store));
}

static void dialog_failed(void *arg, const struct store_dialog *d, bool put, int rc)
{
	struct server *s = arg;

	if (log_limit_allow(&s->cdr_store_limit, (uint64_t)time(NULL)))
		log_error("dialog %s not %s: %s", d->call_id, put ? "stored" : "removed",
			  strerror(rc));
}

static void record_failed(void *arg, const struct store_cdr *c, int rc)
{
	struct server *s = arg;
	char cid[80];

	if (log_limit_allow(&s->cdr_store_limit, (uint64_t)time(NULL)))
		log_error("call record %s not stored: %s%s%s",
			  slice_repr(cid, sizeof(cid), slice_cstr(c->call_id), 16), strerror(rc),
			  store_errmsg(s->store)[0] ? ": " : "", store_errmsg(s->store));
}

static void fraud_inside(void *arg)
{
	server_trunk_fraud_write(arg); /* the toll-fraud counters ride in the same batch */
}

static const struct store_calls_ops calls_ops = { dialog_failed, record_failed, fraud_inside };

/* Dialogs and call records are written in batches, like bindings: queued as
 * calls are confirmed and end, and written in one transaction once the
 * oldest has waited [store] batch_wait (server.c's on_round; durability
 * none: at the tick) or when batch_max are waiting (cdr_room); each
 * record is then appended to the CDR log with the row id the store gave.
 * One commit per call was a sixth of a call's cost. The answers that tell
 * about a dialog or a BYE-ended call wait for their batch (group commit:
 * proxy_durable); a batch whose dialogs may not be stored is reported to
 * the proxy (proxy_not_stored), which refuses those calls. The queue, the
 * transaction and the batch numbers are store_calls'. */
void server_cdr_flush(struct server *s, enum server_batch_why why)
{
	struct store_calls_result r;

	s->cdr_since_ms = 0;
	if (!store_calls_pending(s->calls) && !server_trunk_fraud_pending(s)) {
		cdr_release(s); /* a backend that becomes durable later */
		return;
	}
	s->batches[1][why]++;
	r = store_calls_commit(s->calls, s->store, &calls_ops, s);
	if (r.rc)
		log_error("%zu call records and dialogs not stored: %s", r.nrecords,
			  strerror(r.rc));
	/* the line is written even when the store failed: that copy survives */
	for (size_t i = 0; i < r.nrecords; i++)
		log_cdr(&r.records[i]);
	/* the queues are empty again: what the proxy does now may queue more */
	if (r.dialogs_failed)
		proxy_not_stored(s->proxy, r.k);
	cdr_release(s);
}

/* A finished call attempt: for the store (`bastion cdr list`) and the CDR
 * log (billing and audit tools; the copy that survives when the database
 * cannot be written), in calls' batch. A call that ended with a BYE is
 * the one whose end a peer is told about: the answer to the BYE waits until
 * the record's batch is durable (the proxy holds it), so that a crash after
 * that answer cannot lose the record (issue 18; docs/registrar.md,
 * Durability) while many calls still share one commit. */
static uint64_t op_record(void *arg, const struct store_cdr *rec)
{
	struct server *s = arg;
	struct store_cdr *c;

	server_trunk_ended(s, rec);

	cdr_room(s);
	if ((c = store_calls_record(s->calls, rec)) != NULL)
		server_emerg_ended(s, c); /* marks an emergency call's record */
	if (commit_waits(s) &&
	    (strcmp(rec->hangup, "caller") == 0 || strcmp(rec->hangup, "callee") == 0))
		return store_calls_next(s->calls);
	return 0;
}

/* The proxy cannot hold an answer (hold_max): commit its batch now. */
static void op_commit(void *arg)
{
	server_cdr_flush(arg, SERVER_BATCH_FULL);
}

/* ---- reaching a dialog's TCP or TLS side again ----------------------------------- */

/* The registered binding of a dialog's side (registrar_flow_find): by the
 * key found before when known, else the binding registered over the way the
 * dialog used (old, as a binding's received). The side's AOR: the caller's
 * authenticated user, or the callee URI's user, in our domain. False when
 * that side is no registered phone. */
static bool side_find(struct server *s, struct reg_flow *f, int side, const char *auth_user,
		      const char *callee, const char *want, const char *old)
{
	char aor[STORE_URI_MAX];
	struct sip_uri u;
	struct sip_buf b;
	enum sip_err e;

	sip_buf_init(&b, aor, sizeof(aor));
	sip_buf_str(&b, "sip:");
	if (side == 0) {
		if (!auth_user[0])
			return false;
		sip_buf_str(&b, auth_user);
	} else {
		if (sip_uri_parse(&u, slice_cstr(callee), &s->conf.lim, &e) != 0 || !u.user.len)
			return false;
		sip_buf_slice(&b, u.user);
	}
	sip_buf_str(&b, "@");
	sip_buf_str(&b, s->conf.domain);
	return !b.overflow &&
	       registrar_flow_find(s->reg, slice_make(aor, b.len), want, old, f);
}

/*
 * A dialog's side over TCP or TLS whose connection is gone (after a
 * restart, every one). RFC 5626 5.3 and RFC 3261 18.1.1, in that order:
 * - the phone's registered flow, when it is open again (a phone that lost
 *   its connection re-registers over a new one; outbound phones at once);
 * - over TCP, a new connection to the registered contact's address, where
 *   the phone listens (RFC 3261 18.1.1), unless that contact carries `ob`
 *   (RFC 5626: it is reached only through its flow);
 * - over TLS not: a phone is no TLS server whose certificate we could
 *   check, so its side is reached once it registers again.
 * docs/proxy.md, Restarts.
 */
static int op_reach(void *arg, const struct proxy_reach *r, struct net_msg *way, char *contact,
		    size_t cap)
{
	struct server *s = arg;
	struct reg_flow *f = malloc(sizeof(*f));
	char old[STORE_RECEIVED_MAX];
	struct net_listen_spec spec;
	struct sip_uri u;
	struct slice v;
	enum sip_err e;
	char host[INET6_ADDRSTRLEN + 2], text[INET6_ADDRSTRLEN + 16], err[128];
	size_t n;
	int rc = ENOENT;

	if (!f)
		return ENOMEM;
	net_addr_fmt(old, sizeof(old), way->tp, &way->src);
	if (!side_find(s, f, r->side, r->auth_user, r->callee, r->contact, old))
		goto out;
	snprintf(contact, cap, "%s", f->key);
	if (f->alive && f->way.tp == way->tp) {
		*way = f->way; /* its flow is back */
		rc = 0;
		goto out;
	}
	rc = ENOTCONN;
	if (way->tp != NET_TCP ||
	    sip_uri_parse(&u, slice_cstr(f->contact), &s->conf.lim, &e) != 0 ||
	    (u.host_type != SIP_HOST_IPV4 && u.host_type != SIP_HOST_IPV6) ||
	    sip_param_get(u.params, "ob", &v) || u.host.len >= INET6_ADDRSTRLEN)
		goto out;
	snprintf(host, sizeof(host), u.host_type == SIP_HOST_IPV6 ? "[%.*s]" : "%.*s",
		 (int)u.host.len, u.host.p);
	snprintf(text, sizeof(text), "tcp:%s:%u", host, u.has_port ? u.port : 5060);
	if (net_listen_parse(&spec, 1, &n, text, err, sizeof(err)) != 0 || n != 1)
		goto out;
	rc = net_connect(s->net, NET_TCP, &spec.addr, NULL, way);
	if (rc == 0)
		log_info("a restored call's %s reached at its contact %s", r->side ? "callee" : "caller",
			 text);
out:
	free(f);
	return rc;
}

static void op_event(void *arg, const char *kind, const struct net_msg *in,
		     const struct sip_msg *m, struct slice user, struct slice aor,
		     const char *reason, int status)
{
	server_event(arg, kind, in, m, user, aor, reason, status);
}

static void op_refund(void *arg, const struct net_addr *src)
{
	server_guard_refund(arg, src);
}

static bool op_ours(void *arg, struct slice host)
{
	return server_host_is_ours(arg, host);
}

static uint64_t op_now_ms(void *arg)
{
	(void)arg;
	return server_now_ms();
}

static int64_t op_wall_ms(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct proxy_ops proxy_ops = {
	.answer = op_answer,
	.send = op_send,
	.record = op_record,
	.event = op_event,
	.refund = op_refund,
	.ours = op_ours,
	.now_ms = op_now_ms,
	.wall_ms = op_wall_ms,
	.dialog_up = op_dialog_up,
	.dialog_down = op_dialog_down,
	.commit = op_commit,
	.reach = op_reach,
	.failover = server_trunk_failover,
};

/* A UDP way from the store (a dialog's, a binding's) has no socket yet:
 * one of ours of its family. A TCP or TLS side is reached again once it
 * reconnects. */
static void udp_socket(const struct server *s, struct net_msg *way)
{
	if (way->tp == NET_UDP && way->udp_fd < 0 && way->src.ss.ss_family)
		way->udp_fd = net_udp_fd(s->net, way->src.ss.ss_family);
}

static int restore_dialog(void *arg, const struct store_dialog *d)
{
	struct server *s = arg;
	struct net_msg way[2];
	struct reg_flow *f = malloc(2 * sizeof(*f));
	const char *contact[2] = { NULL, NULL };
	bool counted;
	int rc;

	proxy_dialog_ways(way, d);
	udp_socket(s, &way[0]);
	udp_socket(s, &way[1]);
	/* a TCP or TLS side: its registered contact now, while its binding
	 * still names the way the dialog used (the phone may register a new
	 * flow before the call's next request) */
	for (int k = 0; k < 2 && f; k++)
		if (way[k].tp != NET_UDP &&
		    side_find(s, &f[k], k, d->auth_user, d->callee, NULL, d->way[k]))
			contact[k] = f[k].key;
	/* an emergency call counts again, and an outside call against its
	 * peer's caps (its record, when written at once because its lifetime
	 * ran out, ends that) */
	server_emerg_restored(s, d);
	counted = server_trunk_restored(s, d);
	rc = proxy_restore(s->proxy, d, way, contact);
	free(f);
	if (rc != 0 && rc != EEXIST && d->emergency)
		server_emerg_forget(s, d->call_id);
	if (rc != 0 && rc != EEXIST && counted)
		server_trunk_forget(s, d->call_id);
	if (rc == 0)
		s->restored_dialogs++;
	else if (rc != EEXIST)
		log_warn("dialog %s not restored: %s", d->call_id, strerror(rc));
	return 0;
}

int server_proxy_start(struct server *s, const struct conf *c, char *err, size_t errlen)
{
	struct proxy_conf pc;
	int rc;

	proxy_conf_from(&pc, c);
	rc = proxy_new(&s->proxy, &pc, &proxy_ops, s, s->txn);
	if (rc) {
		snprintf(err, errlen, "proxy: %s", strerror(rc));
		return rc;
	}
	return 0;
}

void server_dialogs_restore(struct server *s)
{
	int rc = store_dialogs_list(s->store, restore_dialog, s);

	if (rc == ENOSYS)
		store_calls_no_dialogs(s->calls); /* the 2xx of a call has nothing to wait for */
	if (rc && rc != ENOSYS)
		log_warn("dialogs not restored: %s", strerror(rc));
	else if (s->restored_dialogs)
		log_info("%zu calls in progress restored", s->restored_dialogs);
	server_cdr_flush(s, SERVER_BATCH_TICK); /* the ones that ended meanwhile */
}

/* ---- out-of-dialog requests ---------------------------------------------------------- */

static void collect_target(void *arg, const struct reg_binding_view *v)
{
	struct server_targets *t = arg;
	struct proxy_target *pt;

	if (t->n == ARRAY_SIZE(t->t) || (v->way->tp != NET_UDP && !net_msg_conn_alive(v->way)))
		return; /* a TCP phone is reachable only on its connection */
	/* RFC 5630: no bid-down. A sips: request, or a contact registered as
	 * sips:, is reached over TLS or not at all. */
	if (!policy_target_ok(t->sips, strncasecmp(v->contact, "sips:", 5) ? SIP_SCHEME_SIP
									 : SIP_SCHEME_SIPS,
			      v->way->tp == NET_TLS)) {
		t->refused++;
		return;
	}
	pt = &t->t[t->n];
	pt->way = *v->way;
	udp_socket(t->s, &pt->way); /* a binding restored from the store */
	pt->label = NULL;
	pt->cred = NULL;
	pt->contact = strdup(v->contact);
	if (pt->contact)
		t->n++;
}

void server_collect_targets(struct server *s, struct server_targets *t, struct slice aor, bool sips)
{
	t->s = s;
	t->n = t->refused = 0;
	t->sips = sips;
	registrar_lookup(s->reg, aor, collect_target, t);
}

void server_targets_free(struct server_targets *t)
{
	for (size_t i = 0; i < t->n; i++)
		free((char *)t->t[i].contact);
	t->n = 0;
}

/* Answer an authenticated request that goes nowhere, and record the attempt. */
void server_refuse_attempt(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			   struct slice user, uint16_t status, const char *reason)
{
	struct proxy_caller who = { user, x->in, NULL };

	proxy_record_refused(s->proxy, m, &who, status);
	server_answer(s, x, m, status, reason, SLICE_NULL);
}

/* policy/identity: From must be the user's, PAI asserted, injected identity
 * headers removed. No trusted peers yet: every source and destination is
 * untrusted. False when refused (answered, recorded). */
static bool identity_ok(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			struct slice user)
{
	struct policy_identity_verdict *idv = s->idv;
	const char *allowed[32];
	struct policy_identity_in pin = {
		.req = m,
		.auth_user = user,
		.domain = slice_cstr(s->conf.domain),
		.allowed = allowed,
		.nallowed = server_idents_of(s, user, allowed, ARRAY_SIZE(allowed)),
		.own_hosts = s->own_host_slices,
		.nown_hosts = s->n_own,
	};

	if (policy_identity(idv, &pin) == 0 && idv->v.allow)
		return true;
	if (idv->v.event)
		server_event(s, idv->v.event, x->in, m, user, m->from.uri.raw, idv->v.detail,
			     idv->v.status ? idv->v.status : 403);
	server_refuse_attempt(s, x, m, user, idv->v.status ? idv->v.status : 403,
		       idv->v.reason ? idv->v.reason : "Forbidden");
	return false;
}

static void out_of_dialog(struct server *s, struct txn_server *st, const struct sip_msg *m,
			  const struct txn_peer *from)
{
	struct server_ctx x = { &from->via, st };
	struct auth_step a;
	struct proxy_verdict v;
	struct store_cache_entry e;
	struct server_targets t; /* 30 KB of targets: not zeroed, filled as found */
	struct proxy_caller who;
	char aor[STORE_URI_MAX], pai[POLICY_PAI_MAX + 32];
	struct proxy_checked ck = { "", NULL };
	struct sip_buf b;
	bool beyond;

	v = proxy_check(s->proxy, m, NULL, &beyond, &ck);
	if (v.status) {
		server_answer(s, &x, m, v.status, v.reason, SLICE_NULL);
		return;
	}
	/* RFC 3261 17.2.1: a 100 (Trying) unless the answer comes within
	 * 200 ms. A challenge or a refusal comes at once, so an INVITE gets
	 * its 100 only once it may be forwarded: a peer's before its routing,
	 * a user's once authenticated (one datagram less per challenged call) */
	if (m->mid == SIP_M_INVITE && s->conf.trunk.npeers &&
	    trunk_peer_of(&s->conf.trunk, &from->via.src) >= 0)
		server_answer(s, &x, m, 100, "Trying", SLICE_NULL);
	/* a peer (gateway, trunk): not challenged, to local users only */
	if (server_trunk_inbound(s, st, &x, m, from, beyond, &ck))
		return;
	/* an emergency number: always connected (docs/emergency.md) */
	if (server_emerg_call(s, st, &x, m, from, beyond, &ck))
		return;
	server_authenticate(s, &a, &x, m, true, m->from.uri.raw);
	if (a.kind != AUTH_STEP_ALLOW) {
		server_auth_refuse(s, &x, m, &a, m->from.uri.raw);
		return;
	}
	ck.credentials = a.credentials; /* the loop hash and credentials once a call */
	server_auth_note(s, &x, m, &a, m->from.uri.raw);
	if (m->mid == SIP_M_INVITE)
		server_answer(s, &x, m, 100, "Trying", SLICE_NULL);
	if (!identity_ok(s, &x, m, a.user))
		return;
	/* no gateway bypass: a peer is reached through the dial plan only */
	if (server_trunk_bypass(s, &x, m, a.user))
		return;
	/* routes beyond this server: only the dial plan picks a next hop */
	if (beyond) {
		server_refuse_attempt(s, &x, m, a.user, 403, "Routing Beyond This Server Not Allowed");
		return;
	}
	if ((m->ruri.scheme != SIP_SCHEME_TEL && !server_host_is_ours(s, m->ruri.host)) ||
	    m->ruri.user.len == 0 ||
	    store_cache_lookup(s->cache, &e, m->ruri.user, slice_cstr(s->conf.domain)) != 0) {
		/* not a local user: a number beyond the building, through the
		 * dial plan, or nobody */
		if (server_trunk_outbound(s, st, &x, m, from, a.user, &ck))
			return;
		server_refuse_attempt(s, &x, m, a.user, 404, "Not Found");
		return;
	}
	/* piece by piece (snprintf costs about a thousand instructions a call) */
	sip_buf_init(&b, aor, sizeof(aor) - 1);
	sip_buf_str(&b, "sip:");
	sip_buf_slice(&b, m->ruri.user);
	sip_buf_put(&b, "@", 1);
	sip_buf_str(&b, s->conf.domain);
	if (b.overflow) {
		server_answer(s, &x, m, 414, "Request-URI Too Long", SLICE_NULL);
		return;
	}
	aor[b.len] = '\0';
	v = proxy_media(s->proxy, m);
	if (v.status) {
		server_event(s, v.event, x.in, m, a.user, m->from.uri.raw, v.detail, v.status);
		server_refuse_attempt(s, &x, m, a.user, v.status, v.reason);
		return;
	}
	server_collect_targets(s, &t, slice_make(aor, b.len), m->ruri.scheme == SIP_SCHEME_SIPS);
	if (t.n == 0 && t.refused) {
		server_event(s, POLICY_EVENT_SIPS_DOWNGRADE, x.in, m, a.user, m->ruri_raw,
			     "the callee can be reached only over a transport that is not TLS", 480);
		server_refuse_attempt(s, &x, m, a.user, 480, "No TLS Route to the Callee");
		return;
	}
	if (t.n == 0) {
		server_refuse_attempt(s, &x, m, a.user, 480, "Temporarily Unavailable");
		return;
	}
	/* RFC 3325: the identity we vouch for */
	pai[0] = '\0';
	if (s->idv->add_pai) {
		sip_buf_init(&b, pai, sizeof(pai) - 1);
		sip_buf_str(&b, "P-Asserted-Identity: ");
		sip_buf_str(&b, s->idv->pai);
		sip_buf_str(&b, "\r\n");
		pai[b.overflow ? 0 : b.len] = '\0';
	}
	who = (struct proxy_caller){ a.user, x.in, NULL };
	v = proxy_fork(s->proxy, st, m, from, t.t, t.n,
		       &(struct proxy_fork_opts){ .extra = slice_cstr(pai), .checked = &ck,
						  .who = &who });
	if (v.status) {
		if (v.event)
			server_event(s, v.event, x.in, m, a.user, m->from.uri.raw, v.detail, v.status);
		server_answer(s, &x, m, v.status, v.reason,
			      v.status == 503 ? SLICE_LIT("Retry-After: 5\r\n") : SLICE_NULL);
	}
	server_targets_free(&t);
}

void server_call_request(struct server *s, struct txn_server *st, const struct sip_msg *m,
			 const struct txn_peer *from)
{
	struct server_ctx x = { &from->via, st };
	struct proxy_verdict v;

	if (!m->to.has_tag) {
		out_of_dialog(s, st, m, from);
		return;
	}
	v = proxy_in_dialog(s->proxy, st, m, from);
	if (!v.status)
		return;
	if (v.event)
		server_event(s, v.event, x.in, m, SLICE_NULL,
			     v.status == 480 ? m->ruri_raw : m->from.uri.raw, v.detail, v.status);
	server_answer(s, &x, m, v.status, v.reason, SLICE_NULL);
}
