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
 * answers, sends, records (to the store and the CDR log), events, the
 * guard's refunds.
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

/* Confirmed dialogs are written behind too: a put when the 2xx confirms
 * one, a delete when it ends; a dialog that ends within the tick it began
 * (a short call) never reaches the store. */
static void op_dialog_up(void *arg, const struct store_dialog *d)
{
	struct server *s = arg;

	if (s->ndlg_q == SERVER_CDR_BATCH)
		server_cdr_flush(s);
	s->dlg_q[s->ndlg_q].put = true;
	s->dlg_q[s->ndlg_q++].d = *d;
}

static void op_dialog_down(void *arg, const char *call_id, const char *tag0, const char *tag1)
{
	struct server *s = arg;
	struct server_dlg_op *o;

	for (size_t i = s->ndlg_q; i-- > 0;) {
		o = &s->dlg_q[i];
		if (o->put && !strcmp(o->d.call_id, call_id) && !strcmp(o->d.tag[0], tag0) &&
		    !strcmp(o->d.tag[1], tag1)) {
			/* never stored: forget the put */
			s->dlg_q[i] = s->dlg_q[--s->ndlg_q];
			return;
		}
	}
	if (s->ndlg_q == SERVER_CDR_BATCH)
		server_cdr_flush(s);
	o = &s->dlg_q[s->ndlg_q++];
	o->put = false;
	snprintf(o->d.call_id, sizeof(o->d.call_id), "%s", call_id);
	snprintf(o->d.tag[0], sizeof(o->d.tag[0]), "%s", tag0);
	snprintf(o->d.tag[1], sizeof(o->d.tag[1]), "%s", tag1);
}

/* Call records are written behind, like bindings: queued as the calls end
 * and written at the next tick (or when SERVER_CDR_BATCH are waiting), all of
 * a tick in one transaction, each then appended to the CDR log with the row
 * id the store gave. One commit per call was a sixth of a call's cost. */
void server_cdr_flush(struct server *s)
{
	bool batch = false;
	int rc;

	if (!s->ncdr_q && !s->ndlg_q)
		return;
	if (s->store)
		batch = store_batch_begin(s->store) == 0; /* else: one transaction each */
	for (size_t i = 0; s->store && i < s->ndlg_q; i++) {
		const struct store_dialog *d = &s->dlg_q[i].d;
		rc = s->dlg_q[i].put ? store_dialogs_put(s->store, d)
				     : store_dialogs_delete(s->store, d->call_id, d->tag[0], d->tag[1]);
		if (rc && rc != ENOSYS && log_limit_allow(&s->cdr_store_limit, (uint64_t)time(NULL)))
			log_error("dialog %s not %s: %s", d->call_id,
				  s->dlg_q[i].put ? "stored" : "removed", strerror(rc));
	}
	s->ndlg_q = 0;
	for (size_t i = 0; i < s->ncdr_q; i++) {
		struct store_cdr *c = &s->cdr_q[i];
		int64_t id = 0;

		rc = s->store ? store_cdr_add(s->store, &id, c) : 0;
		if (rc && log_limit_allow(&s->cdr_store_limit, (uint64_t)time(NULL))) {
			char cid[80];
			log_error("call record %s not stored: %s%s%s",
				  slice_repr(cid, sizeof(cid), slice_cstr(c->call_id), 16),
				  strerror(rc), store_errmsg(s->store)[0] ? ": " : "",
				  store_errmsg(s->store));
		}
		c->id = rc ? 0 : id;
	}
	if (batch && (rc = store_batch_end(s->store, true)) != 0) {
		log_error("%zu call records not stored: %s", s->ncdr_q, strerror(rc));
		for (size_t i = 0; i < s->ncdr_q; i++)
			s->cdr_q[i].id = 0;
	}
	/* the line is written even when the store failed: that copy survives */
	for (size_t i = 0; i < s->ncdr_q; i++)
		log_cdr(&s->cdr_q[i]);
	s->ncdr_q = 0;
}

/* A finished call attempt: for the store (`bastion cdr list`) and the CDR
 * log (billing and audit tools; the copy that survives when the database
 * cannot be written). A call that ended with a BYE is the one whose end a
 * peer is told about (the 200 to the BYE goes out right after this): its
 * record is committed now, with the ones waiting, so that a crash after
 * that 200 cannot lose it (issue 18; docs/registrar.md, Durability). */
static void op_record(void *arg, const struct store_cdr *rec)
{
	struct server *s = arg;

	server_trunk_ended(s, rec->call_id);

	if (s->ncdr_q == SERVER_CDR_BATCH)
		server_cdr_flush(s);
	s->cdr_q[s->ncdr_q++] = *rec;
	if (s->conf.durability != CONF_DURABLE_NONE &&
	    (strcmp(rec->hangup, "caller") == 0 || strcmp(rec->hangup, "callee") == 0))
		server_cdr_flush(s);
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
};

void server_proxy_conf(const struct server *s, const struct conf *c, struct proxy_conf *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->max_dialogs = c->max_dialogs;
	pc->invite_timeout_s = c->invite_timeout;
	pc->srtp_required = c->media == CONF_MEDIA_SRTP;
	snprintf(pc->realm, sizeof(pc->realm), "%s", s->realm);
	memcpy(pc->listeners, c->listeners, sizeof(pc->listeners));
	pc->nlisteners = c->nlisteners;
	pc->lim = c->lim;
}

/* A stored way ("udp:1.2.3.4:5060") back as a net_msg: address and
 * transport, a UDP socket of ours, no connection (a TCP or TLS side is
 * reached again once it reconnects). */
static void way_from_text(const struct server *s, struct net_msg *way, const char *text,
			  const char *local)
{
	struct net_listen_spec spec;
	size_t n;
	char err[128];

	memset(way, 0, sizeof(*way));
	way->udp_fd = -1;
	if (net_listen_parse(&spec, 1, &n, text, err, sizeof(err)) == 0 && n == 1) {
		way->tp = spec.tp;
		way->src = spec.addr;
	}
	if (local[0] && net_listen_parse(&spec, 1, &n, local, err, sizeof(err)) == 0 && n == 1)
		way->local = spec.addr;
	if (way->tp == NET_UDP && way->src.ss.ss_family)
		way->udp_fd = net_udp_fd(s->net, way->src.ss.ss_family);
}

static int restore_dialog(void *arg, const struct store_dialog *d)
{
	struct server *s = arg;
	struct net_msg way[2];
	int rc;

	way_from_text(s, &way[0], d->way[0], d->local[0]);
	way_from_text(s, &way[1], d->way[1], d->local[1]);
	rc = proxy_restore(s->proxy, d, way);
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

	server_proxy_conf(s, c, &pc);
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

	if (rc && rc != ENOSYS)
		log_warn("dialogs not restored: %s", strerror(rc));
	else if (s->restored_dialogs)
		log_info("%zu calls in progress restored", s->restored_dialogs);
	server_cdr_flush(s); /* the ones that ended meanwhile */
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
	/* a binding restored from the store has no socket yet */
	if (pt->way.tp == NET_UDP && pt->way.udp_fd < 0)
		pt->way.udp_fd = net_udp_fd(t->s->net, pt->way.src.ss.ss_family);
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
	struct proxy_caller who = { user, x->in };

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
	struct server_auth a;
	struct proxy_verdict v;
	struct store_cache_entry e;
	struct server_targets t; /* 30 KB of targets: not zeroed, filled as found */
	struct proxy_caller who;
	char aor[STORE_URI_MAX], pai[POLICY_PAI_MAX + 32];
	bool beyond;
	int n;

	if (m->mid == SIP_M_INVITE)
		server_answer(s, &x, m, 100, "Trying", SLICE_NULL);
	v = proxy_check(s->proxy, m, NULL, &beyond);
	if (v.status) {
		server_answer(s, &x, m, v.status, v.reason, SLICE_NULL);
		return;
	}
	/* a peer (gateway, trunk): not challenged, to local users only */
	if (server_trunk_inbound(s, st, &x, m, from, beyond))
		return;
	server_authenticate(s, &a, &x, m, true, m->from.uri.raw);
	if (a.kind != SERVER_AUTH_ALLOW) {
		server_auth_refuse(s, &x, m, &a, m->from.uri.raw);
		return;
	}
	server_auth_note(s, &x, m, &a, m->from.uri.raw);
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
		if (server_trunk_outbound(s, st, &x, m, from, a.user))
			return;
		server_refuse_attempt(s, &x, m, a.user, 404, "Not Found");
		return;
	}
	n = snprintf(aor, sizeof(aor), "sip:%.*s@%s", (int)m->ruri.user.len, m->ruri.user.p,
		     s->conf.domain);
	if (n < 0 || (size_t)n >= sizeof(aor)) {
		server_answer(s, &x, m, 414, "Request-URI Too Long", SLICE_NULL);
		return;
	}
	v = proxy_media(s->proxy, m);
	if (v.status) {
		server_event(s, v.event, x.in, m, a.user, m->from.uri.raw, v.detail, v.status);
		server_refuse_attempt(s, &x, m, a.user, v.status, v.reason);
		return;
	}
	server_collect_targets(s, &t, slice_make(aor, (size_t)n), m->ruri.scheme == SIP_SCHEME_SIPS);
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
	if (s->idv->add_pai)
		snprintf(pai, sizeof(pai), "P-Asserted-Identity: %s\r\n", s->idv->pai);
	else
		pai[0] = '\0';
	who = (struct proxy_caller){ a.user, x.in };
	v = proxy_fork(s->proxy, st, m, from, t.t, t.n, slice_cstr(pai), &who);
	if (v.status) {
		if (v.event)
			server_event(s, v.event, x.in, m, a.user, m->from.uri.raw, v.detail, v.status);
		server_answer(s, &x, m, v.status, v.reason, SLICE_NULL);
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
