/*
 * server/emerg.c: emergency calls on the request path (emerg/,
 * docs/emergency.md; guide: Service Availability > Emergency Services).
 *
 * An INVITE whose Request-URI is an emergency number ([emergency] numbers,
 * in any form the dial plan reads) is always connected:
 * - before parsing, the guard's budgets and bans do not drop it while the
 *   server-wide emergency bucket ([emergency] rate) has tokens;
 * - after parsing, the overload 503 does not shed it, and its transactions
 *   may use [emergency] reserved_transactions beyond the table's bound;
 * - the caller still authenticates (unless [emergency]
 *   allow_unauthenticated), but a brute-force lock of the account does not
 *   refuse it; class of service, the toll-fraud caps and the peers'
 *   max_calls_out do not apply; ordinary calls are kept off the last
 *   [emergency] reserved_slots of every peer on an emergency route
 *   (trunk/, from emerg_peer_reserved);
 * - what an attacker gains by dialing it in a flood is bounded: the bucket
 *   past the guard, [emergency] max_calls calls in progress server-wide,
 *   one at a time per account (or per source address when unauthenticated
 *   calls are allowed).
 * The INVITE goes to the number's emergency peers one after another, then
 * any gateway, with the caller's location as a PIDF-LO in a multipart body,
 * Geolocation and Geolocation-Routing (RFC 6442), and the callback number as
 * P-Asserted-Identity. Each call writes event emergency.call and sends a
 * MESSAGE (RFC 3428) to the registered phones of [emergency] notify; its
 * call record is marked emergency, with the location sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* An emergency call in progress. */
struct ecall {
	struct htab_node node;       /* by Call-ID */
	struct ecall *prev, *next;   /* all of them (at most max_calls) */
	char *call_id;
	char who[TRUNK_USER_MAX + 2]; /* "u:NAME" or "a:ADDRESS" */
};

struct server_emerg {
	struct htab calls;
	struct ecall *head;
	size_t n;
	struct emerg_bucket bucket;
	bool mark_next;              /* the record written next is a refused emergency call's */
	uint64_t seq;                /* Content-IDs, MESSAGE branches and Call-IDs */
	uint64_t admitted, refused;  /* past the guard; refused for capacity */
};

#define EMERG_TABLE_MAX 10000 /* [emergency] max_calls' upper bound */

int server_emerg_start(struct server *s)
{
	struct server_emerg *e = calloc(1, sizeof(*e));
	int rc;

	if (!e)
		return ENOMEM;
	if ((rc = htab_init(&e->calls, EMERG_TABLE_MAX)) != 0) {
		free(e);
		return rc;
	}
	s->emerg = e;
	return 0;
}

static void ecall_free(struct ecall *c)
{
	free(c->call_id);
	free(c);
}

void server_emerg_free(struct server *s)
{
	struct server_emerg *e = s->emerg;

	if (!e)
		return;
	while (e->head) {
		struct ecall *c = e->head;
		e->head = c->next;
		ecall_free(c);
	}
	htab_fini(&e->calls);
	free(e);
	s->emerg = NULL;
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
	struct server_emerg *e = s->emerg;

	if (!e || !emerg_request_line(&s->conf.emerg, &s->conf.trunk, in->buf, in->len) ||
	    !emerg_bucket_take(&e->bucket, s->conf.emerg.rate, now_ms))
		return false;
	e->admitted++;
	return true;
}

static struct ecall *ecall_find(struct server_emerg *e, const char *call_id, size_t len);
static void ecall_remove(struct server_emerg *e, struct ecall *c);

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
		return s->emerg->n && ecall_find(s->emerg, m->call_id.p, m->call_id.len) != NULL;
	return m->mid == SIP_M_INVITE && emerg_match(&s->conf.emerg, &s->conf.trunk, &m->ruri) >= 0;
}

bool server_emerg_active(const struct server *s)
{
	return s->emerg && s->emerg->n > 0;
}

static struct ecall *ecall_find(struct server_emerg *e, const char *call_id, size_t len)
{
	if (!call_id || !len)
		return NULL;
	for (struct htab_node *n = htab_find(&e->calls, htab_hash(&e->calls, call_id, len)); n;
	     n = htab_next(&e->calls, n)) {
		struct ecall *c = (struct ecall *)n;
		if (strlen(c->call_id) == len && memcmp(c->call_id, call_id, len) == 0)
			return c;
	}
	return NULL;
}

void server_emerg_ended(struct server *s, struct store_cdr *rec)
{
	struct server_emerg *e = s->emerg;
	struct ecall *c;

	if (!e)
		return;
	if (e->mark_next) {
		/* a refused emergency call (refuse() below): marked, never counted */
		e->mark_next = false;
		rec->emergency = true;
		return;
	}
	/* only the records of the calls we sent carry the mark (proxy/): a
	 * refused INVITE that reuses a Call-ID cannot release a call's count */
	if (!rec->emergency || !e->n || !(c = ecall_find(e, rec->call_id, strlen(rec->call_id))))
		return;
	ecall_remove(e, c);
}

void server_emerg_forget(struct server *s, const char *call_id)
{
	struct ecall *c;

	if (s->emerg && s->emerg->n && (c = ecall_find(s->emerg, call_id, strlen(call_id))))
		ecall_remove(s->emerg, c);
}

static void ecall_remove(struct server_emerg *e, struct ecall *c)
{
	htab_remove(&e->calls, &c->node);
	if (c->prev)
		c->prev->next = c->next;
	else
		e->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	e->n--;
	ecall_free(c);
}

static bool busy(const struct server_emerg *e, const char *who)
{
	for (const struct ecall *c = e->head; c; c = c->next)
		if (strcmp(c->who, who) == 0)
			return true;
	return false;
}

static void ecall_add(struct server_emerg *e, struct slice call_id, const char *who)
{
	struct ecall *c = calloc(1, sizeof(*c));

	if (!c || !(c->call_id = malloc(call_id.len + 1))) {
		free(c);
		return;
	}
	memcpy(c->call_id, call_id.p, call_id.len);
	c->call_id[call_id.len] = '\0';
	snprintf(c->who, sizeof(c->who), "%s", who);
	if (htab_insert(&e->calls, &c->node, htab_hash(&e->calls, c->call_id, call_id.len))) {
		ecall_free(c);
		return;
	}
	c->next = e->head;
	if (e->head)
		e->head->prev = c;
	e->head = c;
	e->n++;
}

void server_emerg_restored(struct server *s, const struct store_dialog *d)
{
	struct server_emerg *e = s->emerg;
	struct net_listen_spec spec;
	char who[TRUNK_USER_MAX + 2], host[INET6_ADDRSTRLEN], err[128];
	size_t n, len = strlen(d->call_id);

	if (!e || !d->emergency || ecall_find(e, d->call_id, len))
		return;
	/* who placed it, as server_emerg_call names the caller */
	if (d->auth_user[0]) {
		snprintf(who, sizeof(who), "u:%.*s", (int)(strlen(d->auth_user) < TRUNK_USER_MAX
							    ? strlen(d->auth_user) : 0),
			 d->auth_user);
	} else if (net_listen_parse(&spec, 1, &n, d->src, err, sizeof(err)) == 0 && n == 1) {
		net_addr_host(&spec.addr, host, sizeof(host));
		snprintf(who, sizeof(who), "a:%s", host);
	} else {
		snprintf(who, sizeof(who), "a:?");
	}
	ecall_add(e, slice_make(d->call_id, len), who);
}

/* ---- the on-site notification ---------------------------------------------------- */

static const char *tp_name(enum net_transport tp)
{
	return tp == NET_TCP ? "TCP" : tp == NET_TLS ? "TLS" : "UDP";
}

/* Our sent-by toward way: the listener of its transport and family. */
static bool sent_by(const struct server *s, const struct net_msg *way, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	int fam = way->src.ss.ss_family;

	for (size_t i = 0; i < s->conf.nlisteners; i++) {
		const struct net_listen_spec *l = &s->conf.listeners[i];
		if (l->tp != way->tp || l->addr.ss.ss_family != fam)
			continue;
		net_addr_host(&l->addr, host, sizeof(host));
		snprintf(out, cap, fam == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
			 net_addr_port(&l->addr));
		return true;
	}
	return false;
}

/* One MESSAGE to each registered phone of each [emergency] notify user.
 * Fire and forget: the transaction layer retransmits; its outcome is not
 * waited for (nothing could be done about a lost one but log it). */
static void notify(struct server *s, const char *text)
{
	struct server_emerg *e = s->emerg;
	struct server_targets *t = malloc(sizeof(*t));
	char *buf = malloc(4096);
	char aor[STORE_URI_MAX], via[INET6_ADDRSTRLEN + 8], branch[64];

	if (!t || !buf)
		goto out;
	for (size_t u = 0; u < s->conf.emerg.nnotify; u++) {
		const char *name = s->conf.emerg.notify[u];
		int n = snprintf(aor, sizeof(aor), "sip:%s@%s", name, s->conf.domain);

		if (n < 0 || (size_t)n >= sizeof(aor))
			continue;
		server_collect_targets(s, t, slice_make(aor, (size_t)n), false);
		if (t->n == 0)
			log_warn("emergency notification: %s has no registered phone", name);
		for (size_t i = 0; i < t->n; i++) {
			struct txn_peer to = { t->t[i].way, t->t[i].way.src };
			struct txn_client *ct;
			int len;

			if (!sent_by(s, &t->t[i].way, via, sizeof(via)))
				continue;
			e->seq++;
			snprintf(branch, sizeof(branch), "z9hG4bKemerg%llx",
				 (unsigned long long)e->seq);
			len = snprintf(buf, 4096,
				       "MESSAGE %s SIP/2.0\r\n"
				       "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
				       "Max-Forwards: 70\r\n"
				       "From: \"Emergency\" <sip:emergency@%s>;tag=em%llx\r\n"
				       "To: <%s>\r\n"
				       "Call-ID: emerg.%llx@%s\r\n"
				       "CSeq: 1 MESSAGE\r\n"
				       "Content-Type: text/plain;charset=UTF-8\r\n"
				       "Content-Length: %zu\r\n\r\n%s",
				       t->t[i].contact, tp_name(t->t[i].way.tp), via, branch,
				       s->conf.domain, (unsigned long long)e->seq, aor,
				       (unsigned long long)e->seq, s->conf.domain, strlen(text), text);
			if (len < 0 || len >= 4096)
				continue;
			txn_layer_priority(s->txn, true);
			if (txn_client_start(&ct, s->txn, buf, (size_t)len, SLICE_LIT("MESSAGE"),
					     slice_cstr(branch), &to, NULL, server_now_ms()) != 0)
				log_warn("emergency notification to %s not sent", name);
			txn_layer_priority(s->txn, false);
		}
		server_targets_free(t);
	}
out:
	free(buf);
	free(t);
}

/* ---- the call --------------------------------------------------------------------- */

/* Where the caller is: the user's own location, else the [location] of the
 * address its phone registered from (else the INVITE's source). */
static const char *locate(struct server *s, const struct sip_msg *m, const struct net_msg *in,
			  struct slice user, struct emerg_civic *civ, char *elin, size_t elin_cap)
{
	const struct emerg_location *l;
	const struct net_addr *src = &in->src;
	struct server_targets *t = NULL;
	const char *how = "none";
	char aor[STORE_URI_MAX], err[160], text[STORE_LOCATION_MAX];
	int n;

	(void)m;
	memset(civ, 0, sizeof(*civ));
	elin[0] = '\0';
	/* one read of the store: emergency calls are rare and bounded by
	 * [emergency] max_calls, so this is not worth a cache */
	if (user.len && user.len < STORE_NAME_MAX) {
		char name[STORE_NAME_MAX];
		memcpy(name, user.p, user.len);
		name[user.len] = '\0';
		if (s->store &&
		    store_users_get_location(s->store, text, sizeof(text), name, s->conf.domain) == 0 &&
		    text[0] && emerg_civic_parse(civ, text, err, sizeof(err)) == 0 &&
		    !emerg_civic_empty(civ))
			how = "user";
	}
	if (user.len && (t = malloc(sizeof(*t))) != NULL) {
		n = snprintf(aor, sizeof(aor), "sip:%.*s@%s", (int)user.len, user.p, s->conf.domain);
		if (n > 0 && (size_t)n < sizeof(aor)) {
			server_collect_targets(s, t, slice_make(aor, (size_t)n), false);
			if (t->n)
				src = &t->t[0].way.src;
		}
	}
	l = emerg_location_of(&s->conf.emerg, src);
	if (!l && src != &in->src)
		l = emerg_location_of(&s->conf.emerg, &in->src);
	if (strcmp(how, "user") == 0) {
		if (!civ->elin[0] && l)
			snprintf(elin, elin_cap, "%s", l->civic.elin);
		else
			snprintf(elin, elin_cap, "%s", civ->elin);
	} else if (l) {
		*civ = l->civic;
		snprintf(elin, elin_cap, "%s", l->civic.elin);
		how = "network";
	}
	if (t) {
		server_targets_free(t);
		free(t);
	}
	return how;
}

static void refuse(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		   struct slice user, uint16_t status, const char *reason, const char *detail)
{
	s->emerg->refused++;
	server_event(s, EMERG_EVENT_REFUSED, x->in, m, user, m->ruri_raw, detail, status);
	/* its record (written at once, by the call below) is marked too */
	s->emerg->mark_next = m->mid == SIP_M_INVITE;
	server_refuse_attempt(s, x, m, user, status, reason);
	s->emerg->mark_next = false;
}

bool server_emerg_call(struct server *s, struct txn_server *st, const struct server_ctx *x,
		       const struct sip_msg *m, const struct txn_peer *from, bool beyond)
{
	const struct emerg_conf *ec = &s->conf.emerg;
	const struct trunk_conf *tc = &s->conf.trunk;
	struct server_emerg *e = s->emerg;
	struct server_auth a;
	struct slice user = SLICE_NULL;
	struct emerg_civic civ;
	struct proxy_target t[TRUNK_MAX_PEERS * TRUNK_MAX_ADDRS];
	char contact[TRUNK_MAX_PEERS * TRUNK_MAX_ADDRS][160];
	bool down[TRUNK_MAX_PEERS] = { false };
	uint8_t route[TRUNK_MAX_PEERS];
	char who[TRUNK_USER_MAX + 2], loc_text[EMERG_LOC_TEXT_MAX], elin[TRUNK_NUM_MAX];
	char cid[320], ctype[96], entity[STORE_URI_MAX + 8], tuple[32], detail[EMERG_LOC_TEXT_MAX + 128];
	char *pidf = NULL, *body = NULL, *extra = NULL, host[INET6_ADDRSTRLEN];
	const char *how, *callback = NULL;
	size_t nroute, n = 0, pidf_len = 0, body_len = 0, body_cap;
	struct proxy_verdict pv;
	struct proxy_outside out;
	struct proxy_caller pc;
	char dialed[STORE_DIALED_MAX]; /* out.dialed: lives until the fork has copied it */
	int k, first = -1;

	if (!e || m->mid != SIP_M_INVITE || (k = emerg_match(ec, tc, &m->ruri)) < 0)
		return false;
	/* the caller is a user (a lock from brute-force counting does not
	 * refuse it); an unauthenticated device only when the site allows it */
	server_authenticate_emergency(s, &a, x, m, m->from.uri.raw);
	if (a.kind == SERVER_AUTH_ALLOW) {
		user = a.user;
	} else if (!ec->allow_unauthenticated || a.kind == SERVER_AUTH_DENY) {
		if (a.kind == SERVER_AUTH_DENY && ec->allow_unauthenticated) {
			/* wrong credentials: connected as an unauthenticated device */
			if (a.event)
				server_event(s, a.event, x->in, m, a.user, m->from.uri.raw, a.detail,
					     a.status);
		} else {
			if (a.kind == SERVER_AUTH_DENY)
				server_event(s, EMERG_EVENT_REFUSED, x->in, m, a.user, m->ruri_raw,
					     "an emergency call whose caller did not authenticate "
					     "([emergency] allow_unauthenticated = no)", a.status);
			server_auth_refuse(s, x, m, &a, m->from.uri.raw);
			return true;
		}
	}
	/* RFC 3261 17.2.1: it may be forwarded now (server/call.c does the same
	 * once a user is authenticated) */
	server_answer(s, x, m, 100, "Trying", SLICE_NULL);
	if (beyond) {
		refuse(s, x, m, user, 403, "Routing Beyond This Server Not Allowed",
		       "an emergency INVITE with Route headers beyond this server");
		return true;
	}
	if (user.len) {
		snprintf(who, sizeof(who), "u:%.*s", (int)(user.len < TRUNK_USER_MAX ? user.len : 0),
			 user.p);
	} else {
		net_addr_host(&x->in->src, host, sizeof(host));
		snprintf(who, sizeof(who), "a:%s", host);
	}
	if (e->n >= ec->max_calls) {
		refuse(s, x, m, user, 503, "Emergency Capacity Reached",
		       "[emergency] max_calls emergency calls are in progress");
		return true;
	}
	if (busy(e, who)) {
		refuse(s, x, m, user, 486, "Emergency Call In Progress",
		       "this caller has an emergency call in progress already");
		return true;
	}
	for (size_t i = 0; i < tc->npeers; i++)
		down[i] = server_trunk_peer_down(s, i);
	nroute = emerg_route(ec, tc, (size_t)k, down, route);
	for (size_t i = 0; i < nroute; i++) {
		const struct trunk_peer *p = &tc->peer[route[i]];
		for (size_t j = 0; j < p->naddr && n < ARRAY_SIZE(t); j++) {
			const struct net_listen_spec *ad = &p->addr[j];
			if (server_trunk_peer_way(s, p, ad, &t[n].way) != 0)
				continue;
			net_addr_host(&ad->addr, host, sizeof(host));
			snprintf(contact[n], sizeof(contact[n]), "sip:%s@%s%s%s:%u;user=phone%s",
				 ec->numbers[k], ad->addr.ss.ss_family == AF_INET6 ? "[" : "", host,
				 ad->addr.ss.ss_family == AF_INET6 ? "]" : "", net_addr_port(&ad->addr),
				 ad->tp == NET_TCP ? ";transport=tcp"
				 : ad->tp == NET_TLS ? ";transport=tls" : "");
			t[n].contact = contact[n];
			t[n].label = p->name;     /* the call record names the peer */
			t[n].cred = NULL;
			if (first < 0)
				first = route[i];
			n++;
		}
	}
	if (n == 0) {
		server_event(s, EMERG_EVENT_NO_PEER, x->in, m, user, m->ruri_raw,
			     "an emergency call and no peer to send it to: configure "
			     "[emergency_routes] and peers (docs/emergency.md)", 503);
		refuse(s, x, m, user, 503, "No Emergency Route",
		       "no peer on the emergency route nor any gateway");
		return true;
	}
	how = locate(s, m, x->in, user, &civ, elin, sizeof(elin));
	if (user.len && (callback = trunk_user_did(tc, user)) == NULL && elin[0])
		callback = elin;
	else if (!user.len && elin[0])
		callback = elin;
	if (emerg_civic_format(loc_text, sizeof(loc_text), &civ) != 0)
		loc_text[0] = '\0';
	e->seq++;
	snprintf(cid, sizeof(cid), "loc%llx.%llx@%s", (unsigned long long)e->seq,
		 (unsigned long long)server_now_ms(), s->conf.domain);
	snprintf(tuple, sizeof(tuple), "loc%llx", (unsigned long long)e->seq);
	snprintf(entity, sizeof(entity), "pres:%.*s@%s", user.len ? (int)user.len : 9,
		 user.len ? user.p : "anonymous", s->conf.domain);
	body_cap = m->body.len + EMERG_PIDF_MAX + 1024;
	pidf = malloc(EMERG_PIDF_MAX);
	body = malloc(body_cap);
	extra = malloc(1024);
	if (!pidf || !body || !extra) {
		server_answer(s, x, m, 500, "Out of Memory", SLICE_NULL);
		goto out;
	}
	extra[0] = '\0';
	if (strcmp(how, "none") != 0 &&
	    emerg_pidf(pidf, EMERG_PIDF_MAX, &pidf_len, &civ, entity, tuple, time(NULL)) == 0) {
		const struct sip_hdr *ct = sip_msg_hdr(m, SIP_H_CONTENT_TYPE);
		if (emerg_multipart(body, body_cap, &body_len, ctype, sizeof(ctype),
				    ct ? ct->value : SLICE_LIT("application/sdp"), m->body, cid,
				    slice_make(pidf, pidf_len), e->seq ^ server_now_ms()) != 0)
			body_len = 0, ctype[0] = '\0';
		else
			snprintf(extra, 1024, "Geolocation: <cid:%s>\r\nGeolocation-Routing: %s\r\n",
				 cid, ec->geolocation_routing ? "yes" : "no");
	} else {
		ctype[0] = '\0';
	}
	if (callback) {
		size_t l = strlen(extra);
		snprintf(extra + l, 1024 - l, "P-Asserted-Identity: <tel:%s>\r\n", callback);
	}
	{
		size_t l = strlen(extra);
		snprintf(extra + l, 1024 - l, "Priority: emergency\r\n");
	}
	{
		/* the record: class "emergency", the number as dialed and as routed */
		snprintf(dialed, sizeof(dialed), "%.*s",
			 (int)(m->ruri.user.len < sizeof(dialed) ? m->ruri.user.len : 0),
			 m->ruri.user.p ? m->ruri.user.p : "");
		out = (struct proxy_outside){ NULL, "emergency", dialed, ec->numbers[k] };
		pc = (struct proxy_caller){ user, x->in, &out };
	}
	{
		/* the location goes with the SDP (without a place: the phone's body
		 * as it is); the media policy does not refuse the service's answer */
		struct proxy_body pb = { slice_cstr(ctype), slice_make(body, body_len), true, true,
					 loc_text };
		pv = proxy_fork_serial_body(s->proxy, st, m, from, t, n, slice_cstr(extra), &pb, &pc);
	}
	if (pv.status) {
		if (pv.event)
			server_event(s, pv.event, x->in, m, user, m->from.uri.raw, pv.detail, pv.status);
		server_answer(s, x, m, pv.status, pv.reason, SLICE_NULL);
		goto out;
	}
	ecall_add(e, m->call_id, who);
	server_trunk_track(s, m, tc->peer[first].name);
	snprintf(detail, sizeof(detail), "number %s; callback %s; location (%s) %s", ec->numbers[k],
		 callback ? callback : "none", how, loc_text[0] ? loc_text : "unknown");
	server_event(s, EMERG_EVENT_CALL, x->in, m, user, m->ruri_raw, detail, 0);
	log_warn("emergency call to %s by %.*s, first peer %s, location (%s) %s", ec->numbers[k],
		 user.len ? (int)(user.len < 64 ? user.len : 64) : 13,
		 user.len ? user.p : "(unauthenticated)", tc->peer[first].name, how,
		 loc_text[0] ? loc_text : "unknown");
	{
		char text[1024], when[32];
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(text, sizeof(text),
			 "EMERGENCY CALL to %s by %.*s at %s. Callback: %s. Location: %s\r\n",
			 ec->numbers[k], user.len ? (int)(user.len < 64 ? user.len : 64) : 22,
			 user.len ? user.p : "an unauthenticated device", when,
			 callback ? callback : "none", loc_text[0] ? loc_text : "unknown");
		notify(s, text);
	}
out:
	free(pidf);
	free(body);
	free(extra);
	return true;
}
