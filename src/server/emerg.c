/*
 * server/emerg.c: emergency calls on the request path (docs/emergency.md;
 * guide: Service Availability > Emergency Services). The calls in progress
 * and the decisions are emerg/'s (struct emerg_state): the bypass bucket
 * past the guard, [emergency] max_calls and one call at a time per caller,
 * the route's peers, the location, the body and headers, the on-site
 * MESSAGE. This file carries them out: authentication (a brute-force lock
 * does not refuse an emergency call; [emergency] allow_unauthenticated lets
 * a device without credentials through), the store's location of the user,
 * the address its phone registered from, proxy_fork (serial, the body
 * replaced, with proxy_check's value: its loop hash when it computed one), the event
 * emergency.call, the log, and the MESSAGEs to the registered phones of
 * [emergency] notify. The overload 503 does not shed these calls and their
 * transactions may use a reserve (server.c, server_emerg_is); class of
 * service and the toll-fraud caps do not apply, and ordinary calls keep off
 * the last [emergency] reserved_slots of their peers (server/trunk.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

int server_emerg_start(struct server *s)
{
	struct emerg_env env = { &s->conf.emerg, &s->conf.trunk, s->conf.domain,
				 server_trunk_way, s, s->conf.listeners, s->conf.nlisteners };

	return emerg_state_new(&s->emerg, &env);
}

void server_emerg_free(struct server *s)
{
	emerg_state_free(&s->emerg);
}

void server_emerg_check(const struct server *s)
{
	const struct emerg_conf *ec = &s->conf.emerg;

	if (ec->nnumbers == 0)
		log_warn("[emergency] numbers is empty: no number is treated as an emergency call");
	for (size_t k = 0; k < ec->nnumbers; k++)
		if (!emerg_reachable(ec, &s->conf.trunk, k, s->conf.listeners, s->conf.nlisteners))
			log_warn("emergency number %s has no peer to go to: its [emergency_routes] "
				 "entry, or with none every gateway, has no address this server can "
				 "reach (a UDP peer needs a UDP listener of its family); such calls "
				 "fail (docs/emergency.md)", ec->numbers[k]);
}

bool server_emerg_admit(struct server *s, const struct net_msg *in, uint64_t now_ms)
{
	return s->emerg && emerg_state_admit(s->emerg, in->buf, in->len, now_ms);
}

bool server_emerg_is(const struct server *s, const struct sip_msg *m, const struct net_msg *in)
{
	if (!s->emerg || !m->request)
		return false;
	/* a request inside an emergency call's dialog from one of its sides
	 * (its BYE, a re-INVITE): hanging up must not wait for room in a full
	 * table either */
	if (m->to.has_tag)
		return s->proxy && proxy_emergency_in_dialog(s->proxy, m, &in->src);
	/* the CANCEL of an emergency INVITE being sent (matched by Call-ID only:
	 * the transaction layer then matches it to its INVITE or answers 481) */
	if (m->mid == SIP_M_CANCEL)
		return emerg_state_has(s->emerg, m->call_id);
	return m->mid == SIP_M_INVITE && emerg_match(&s->conf.emerg, &s->conf.trunk, &m->ruri) >= 0;
}

bool server_emerg_active(const struct server *s)
{
	return s->emerg && emerg_state_calls(s->emerg) > 0;
}

void server_emerg_ended(struct server *s, struct store_cdr *rec)
{
	if (s->emerg && emerg_state_ended(s->emerg, rec->call_id, rec->emergency))
		rec->emergency = true;
}

void server_emerg_forget(struct server *s, const char *call_id)
{
	if (s->emerg)
		emerg_state_forget(s->emerg, call_id);
}

void server_emerg_restored(struct server *s, const struct store_dialog *d)
{
	if (s->emerg && d->emergency)
		emerg_state_restored(s->emerg, d->call_id, d->auth_user, d->src);
}

/* One MESSAGE to each registered phone of each [emergency] notify user.
 * Fire and forget: the transaction layer retransmits; its outcome is not
 * waited for (nothing could be done about a lost one but log it). */
static void notify(struct server *s, const char *text)
{
	struct server_targets *t = malloc(sizeof(*t));
	char *buf = malloc(4096), aor[STORE_URI_MAX], branch[64];
	size_t n, len;

	for (size_t u = 0; t && buf && u < s->conf.emerg.nnotify; u++) {
		const char *name = s->conf.emerg.notify[u];

		if (emerg_state_aor(s->emerg, aor, sizeof(aor), &n, slice_cstr(name)) != 0)
			continue;
		server_collect_targets(s, t, slice_make(aor, n), false);
		if (t->n == 0)
			log_warn("emergency notification: %s has no registered phone", name);
		for (size_t i = 0; i < t->n; i++) {
			struct txn_peer to = { t->t[i].way, t->t[i].way.src };
			struct txn_client *ct;

			if (emerg_state_notify(s->emerg, buf, 4096, &len, branch, t->t[i].contact,
					       &t->t[i].way, aor, text) != 0)
				continue;
			txn_layer_priority(s->txn, true);
			if (txn_client_start(&ct, s->txn, buf, len, SLICE_LIT("MESSAGE"),
					     slice_cstr(branch), &to, NULL, server_now_ms()) != 0)
				log_warn("emergency notification to %s not sent", name);
			txn_layer_priority(s->txn, false);
		}
		server_targets_free(t);
	}
	free(buf);
	free(t);
}

/* Where user is (one read of the store: emergency calls are rare and
 * bounded by [emergency] max_calls, so not worth a cache) and where its
 * phone registered from. */
static const char *locate(struct server *s, const struct net_msg *in, struct slice user,
			  struct emerg_civic *civ, char *elin, size_t elin_cap)
{
	struct server_targets *t = NULL;
	struct net_addr reg;
	bool have_reg = false;
	char aor[STORE_URI_MAX], name[STORE_NAME_MAX], text[STORE_LOCATION_MAX] = "";
	size_t n;

	if (user.len && user.len < STORE_NAME_MAX && s->store) {
		memcpy(name, user.p, user.len);
		name[user.len] = '\0';
		if (store_users_get_location(s->store, text, sizeof(text), name, s->conf.domain) != 0)
			text[0] = '\0';
	}
	if (emerg_state_aor(s->emerg, aor, sizeof(aor), &n, user) == 0 &&
	    (t = malloc(sizeof(*t))) != NULL) {
		server_collect_targets(s, t, slice_make(aor, n), false);
		if ((have_reg = t->n > 0))
			reg = t->t[0].way.src;
		server_targets_free(t);
		free(t);
	}
	return emerg_locate(&s->conf.emerg, text, have_reg ? &reg : NULL, &in->src, civ, elin,
			    elin_cap);
}

static void refuse(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		   struct slice user, uint16_t status, const char *reason, const char *detail)
{
	server_event(s, EMERG_EVENT_REFUSED, x->in, m, user, m->ruri_raw, detail, status);
	/* its record (written at once, by the call below) is marked too */
	emerg_state_refusing(s->emerg, m->mid == SIP_M_INVITE);
	server_refuse_attempt(s, x, m, user, status, reason);
	emerg_state_refusing(s->emerg, false);
}

bool server_emerg_call(struct server *s, struct txn_server *st, const struct server_ctx *x,
		       const struct sip_msg *m, const struct txn_peer *from, bool beyond,
		       struct proxy_checked *ck)
{
	const struct emerg_conf *ec = &s->conf.emerg;
	struct auth_step a;
	struct slice user = SLICE_NULL;
	struct emerg_civic civ;
	struct emerg_decision *d = NULL;
	struct emerg_send o = { 0 };
	struct proxy_target t[EMERG_MAX_TARGETS];
	bool down[TRUNK_MAX_PEERS] = { false };
	char elin[TRUNK_NUM_MAX], dialed[STORE_DIALED_MAX];
	const char *how;
	struct proxy_verdict pv;
	struct proxy_outside out;
	struct proxy_caller pc;
	struct emerg_caller_verdict cv;
	int k;

	if (!s->emerg || m->mid != SIP_M_INVITE || (k = emerg_match(ec, &s->conf.trunk, &m->ruri)) < 0)
		return false;
	/* the caller is a user (a lock from brute-force counting does not
	 * refuse it); an unauthenticated device only when the site allows it */
	server_authenticate_emergency(s, &a, x, m, m->from.uri.raw);
	emerg_caller_decide(&cv, ec, a.kind == AUTH_STEP_ALLOW, a.kind == AUTH_STEP_DENY);
	if (cv.auth_event && a.event)
		server_event(s, a.event, x->in, m, a.user, m->from.uri.raw, a.detail, a.status);
	if (cv.refused)
		server_event(s, EMERG_EVENT_REFUSED, x->in, m, a.user, m->ruri_raw, cv.refused,
			     a.status);
	if (cv.who == EMERG_CALLER_REFUSE) {
		server_auth_refuse(s, x, m, &a, m->from.uri.raw);
		return true;
	}
	if (cv.who == EMERG_CALLER_USER)
		user = a.user;
	/* RFC 3261 17.2.1: it may be forwarded now (server/call.c does the same
	 * once a user is authenticated) */
	server_answer(s, x, m, 100, "Trying", SLICE_NULL);
	for (size_t i = 0; i < s->conf.trunk.npeers && i < TRUNK_MAX_PEERS; i++)
		down[i] = server_trunk_peer_down(s, i);
	if (!(d = malloc(sizeof(*d)))) {
		server_answer(s, x, m, 500, "Out of Memory", SLICE_NULL);
		return true;
	}
	emerg_state_decide(s->emerg, d, k, user, &x->in->src, beyond, down);
	if (d->event)
		server_event(s, d->event, x->in, m, user, m->ruri_raw, d->event_detail, d->status);
	if (d->status) {
		refuse(s, x, m, user, d->status, d->reason, d->detail);
		goto out;
	}
	how = locate(s, x->in, user, &civ, elin, sizeof(elin));
	{
		const struct sip_hdr *ct = sip_msg_hdr(m, SIP_H_CONTENT_TYPE);
		if (emerg_state_compose(s->emerg, &o, k, user, how, &civ, elin,
					ct ? ct->value : SLICE_LIT("application/sdp"), m->body,
					server_now_ms(), (int64_t)time(NULL)) != 0) {
			server_answer(s, x, m, 500, "Out of Memory", SLICE_NULL);
			goto out;
		}
	}
	/* the record: class "emergency", the number as dialed and as routed */
	emerg_dialed(dialed, sizeof(dialed), &m->ruri);
	out = (struct proxy_outside){ NULL, "emergency", dialed, ec->numbers[k] };
	pc = (struct proxy_caller){ user, x->in, &out };
	for (size_t i = 0; i < d->n; i++)
		t[i] = (struct proxy_target){ d->t[i].way, d->t[i].contact, d->t[i].label, NULL };
	{
		/* the location goes with the SDP (without a place: the phone's body
		 * as it is); the media policy does not refuse the service's answer;
		 * the loop hash is proxy_check's when it computed one (else the
		 * fork's), the credentials authentication's */
		struct proxy_body pb = { slice_cstr(o.ctype), slice_make(o.body, o.body_len), true,
					 true, o.loc_text };

		ck->credentials = a.credentials;
		pv = proxy_fork(s->proxy, st, m, from, t, d->n,
				&(struct proxy_fork_opts){ .serial = true,
							   .extra = slice_cstr(o.extra),
							   .body = &pb, .checked = ck, .who = &pc });
	}
	if (pv.status) {
		if (pv.event)
			server_event(s, pv.event, x->in, m, user, m->from.uri.raw, pv.detail, pv.status);
		server_answer(s, x, m, pv.status, pv.reason, SLICE_NULL);
		goto out;
	}
	emerg_state_add(s->emerg, m->call_id, d->who);
	server_trunk_track(s, m, s->conf.trunk.peer[d->first].name);
	server_event(s, EMERG_EVENT_CALL, x->in, m, user, m->ruri_raw, o.detail, 0);
	log_warn("emergency call to %s by %.*s, first peer %s, location (%s) %s", ec->numbers[k],
		 user.len ? (int)(user.len < 64 ? user.len : 64) : 13,
		 user.len ? user.p : "(unauthenticated)", s->conf.trunk.peer[d->first].name, how,
		 o.loc_text[0] ? o.loc_text : "unknown");
	notify(s, o.notify);
out:
	emerg_send_fini(&o);
	free(d);
	return true;
}
