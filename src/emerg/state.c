/*
 * emerg/state.c: the emergency calls in progress and the decisions on a new
 * one (emerg.h, struct emerg_state): the bypass bucket past the guard, the
 * server-wide cap and one call at a time per caller, the route's targets,
 * where the caller is, and what goes to the emergency service (the body
 * with the PIDF-LO, Geolocation, the callback number, Priority) and to the
 * on-site phones (the MESSAGE, to each phone's AOR, with our sent-by for
 * its way); who the caller is once authentication has spoken, and the
 * number as dialed for the record. No I/O, no clock: server/emerg.c hands in
 * the time, the store's location of the user and the address its phone
 * registered from, and sends what is built here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "../base/hash.h"
#include "emerg.h"

#define EMERG_TABLE_MAX 10000 /* [emergency] max_calls' upper bound */

/* An emergency call in progress. */
struct ecall {
	struct htab_node node;       /* by Call-ID */
	struct ecall *prev, *next;   /* all of them (at most max_calls) */
	char *call_id;
	char who[TRUNK_USER_MAX + 2]; /* "u:NAME" or "a:ADDRESS" */
};

struct emerg_state {
	struct emerg_env env;
	struct htab calls;
	struct ecall *head;
	size_t n;
	struct emerg_bucket bucket;
	bool mark_next;              /* the record written next is a refused emergency call's */
	uint64_t seq;                /* Content-IDs, MESSAGE branches and Call-IDs */
	uint64_t admitted, refused;  /* past the guard; refused for capacity */
};

int emerg_state_new(struct emerg_state **sp, const struct emerg_env *env)
{
	struct emerg_state *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return ENOMEM;
	if ((rc = htab_init(&st->calls, EMERG_TABLE_MAX)) != 0) {
		free(st);
		return rc;
	}
	st->env = *env;
	*sp = st;
	return 0;
}

static void ecall_free(struct ecall *c)
{
	free(c->call_id);
	free(c);
}

void emerg_state_free(struct emerg_state **sp)
{
	struct emerg_state *st = *sp;

	if (!st)
		return;
	while (st->head) {
		struct ecall *c = st->head;
		st->head = c->next;
		ecall_free(c);
	}
	htab_fini(&st->calls);
	free(st);
	*sp = NULL;
}

bool emerg_state_admit(struct emerg_state *st, const char *buf, size_t len, uint64_t now_ms)
{
	if (!emerg_request_line(st->env.conf, st->env.trunk, buf, len) ||
	    !emerg_bucket_take(&st->bucket, st->env.conf->rate, now_ms))
		return false;
	st->admitted++;
	return true;
}

static struct ecall *ecall_find(const struct emerg_state *st, const char *call_id, size_t len)
{
	if (!call_id || !len || !st->n)
		return NULL;
	for (struct htab_node *n = htab_find(&st->calls, htab_hash(&st->calls, call_id, len)); n;
	     n = htab_next(&st->calls, n)) {
		struct ecall *c = (struct ecall *)n;
		if (strlen(c->call_id) == len && memcmp(c->call_id, call_id, len) == 0)
			return c;
	}
	return NULL;
}

bool emerg_state_has(const struct emerg_state *st, struct slice call_id)
{
	return ecall_find(st, call_id.p, call_id.len) != NULL;
}

size_t emerg_state_calls(const struct emerg_state *st)
{
	return st->n;
}

static void ecall_remove(struct emerg_state *st, struct ecall *c)
{
	htab_remove(&st->calls, &c->node);
	if (c->prev)
		c->prev->next = c->next;
	else
		st->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	st->n--;
	ecall_free(c);
}

void emerg_state_add(struct emerg_state *st, struct slice call_id, const char *who)
{
	struct ecall *c = calloc(1, sizeof(*c));

	if (!c || !(c->call_id = malloc(call_id.len + 1))) {
		free(c);
		return;
	}
	memcpy(c->call_id, call_id.p, call_id.len);
	c->call_id[call_id.len] = '\0';
	snprintf(c->who, sizeof(c->who), "%s", who);
	if (htab_insert(&st->calls, &c->node, htab_hash(&st->calls, c->call_id, call_id.len))) {
		ecall_free(c);
		return;
	}
	c->next = st->head;
	if (st->head)
		st->head->prev = c;
	st->head = c;
	st->n++;
}

void emerg_state_refusing(struct emerg_state *st, bool on)
{
	st->mark_next = on;
	if (on)
		st->refused++;
}

bool emerg_state_ended(struct emerg_state *st, const char *call_id, bool emergency)
{
	struct ecall *c;

	if (st->mark_next) {
		/* a refused emergency call: marked, never counted */
		st->mark_next = false;
		return true;
	}
	/* only the records of the calls we sent carry the mark: a refused
	 * INVITE that reuses a Call-ID cannot release a call's count */
	if (emergency && (c = ecall_find(st, call_id, strlen(call_id))) != NULL)
		ecall_remove(st, c);
	return false;
}

void emerg_state_forget(struct emerg_state *st, const char *call_id)
{
	struct ecall *c = ecall_find(st, call_id, strlen(call_id));

	if (c)
		ecall_remove(st, c);
}

void emerg_state_restored(struct emerg_state *st, const char *call_id, const char *auth_user,
			  const char *src)
{
	struct net_listen_spec spec;
	char who[TRUNK_USER_MAX + 2], host[INET6_ADDRSTRLEN], err[128];
	size_t n, len = strlen(call_id), ulen = strlen(auth_user);

	if (ecall_find(st, call_id, len))
		return;
	/* who placed it, as emerg_state_decide names the caller */
	if (auth_user[0]) {
		snprintf(who, sizeof(who), "u:%.*s", (int)(ulen < TRUNK_USER_MAX ? ulen : 0), auth_user);
	} else if (net_listen_parse(&spec, 1, &n, src, err, sizeof(err)) == 0 && n == 1) {
		net_addr_host(&spec.addr, host, sizeof(host));
		snprintf(who, sizeof(who), "a:%s", host);
	} else {
		snprintf(who, sizeof(who), "a:?");
	}
	emerg_state_add(st, slice_make(call_id, len), who);
}

static bool busy(const struct emerg_state *st, const char *who)
{
	for (const struct ecall *c = st->head; c; c = c->next)
		if (strcmp(c->who, who) == 0)
			return true;
	return false;
}

static void refuse(struct emerg_decision *d, uint16_t status, const char *reason,
		   const char *detail)
{
	d->status = status;
	d->reason = reason;
	d->detail = detail;
}

void emerg_state_decide(struct emerg_state *st, struct emerg_decision *d, int number,
			struct slice user, const struct net_addr *src, bool beyond,
			const bool down[TRUNK_MAX_PEERS])
{
	const struct emerg_conf *ec = st->env.conf;
	const struct trunk_conf *tc = st->env.trunk;
	char host[INET6_ADDRSTRLEN];
	uint8_t route[TRUNK_MAX_PEERS];
	size_t nroute;

	memset(d, 0, sizeof(*d));
	d->first = -1;
	if (beyond) {
		refuse(d, 403, "Routing Beyond This Server Not Allowed",
		       "an emergency INVITE with Route headers beyond this server");
		return;
	}
	if (user.len) {
		snprintf(d->who, sizeof(d->who), "u:%.*s",
			 (int)(user.len < TRUNK_USER_MAX ? user.len : 0), user.p);
	} else {
		net_addr_host(src, host, sizeof(host));
		snprintf(d->who, sizeof(d->who), "a:%s", host);
	}
	if (st->n >= ec->max_calls) {
		refuse(d, 503, "Emergency Capacity Reached",
		       "[emergency] max_calls emergency calls are in progress");
		return;
	}
	if (busy(st, d->who)) {
		refuse(d, 486, "Emergency Call In Progress",
		       "this caller has an emergency call in progress already");
		return;
	}
	nroute = emerg_route(ec, tc, (size_t)number, down, route);
	for (size_t i = 0; i < nroute; i++) {
		const struct trunk_peer *p = &tc->peer[route[i]];
		for (size_t j = 0; j < p->naddr && d->n < EMERG_MAX_TARGETS; j++) {
			const struct net_listen_spec *ad = &p->addr[j];
			struct emerg_target *t = &d->t[d->n];
			bool v6 = ad->addr.ss.ss_family == AF_INET6;
			if (st->env.way(st->env.arg, p, ad, &t->way) != 0)
				continue;
			net_addr_host(&ad->addr, host, sizeof(host));
			snprintf(t->contact, sizeof(t->contact), "sip:%s@%s%s%s:%u;user=phone%s",
				 ec->numbers[number], v6 ? "[" : "", host, v6 ? "]" : "",
				 net_addr_port(&ad->addr),
				 ad->tp == NET_TCP ? ";transport=tcp"
				 : ad->tp == NET_TLS ? ";transport=tls" : "");
			t->label = p->name;     /* the call record names the peer */
			if (d->first < 0)
				d->first = route[i];
			d->n++;
		}
	}
	if (d->n == 0) {
		refuse(d, 503, "No Emergency Route", "no peer on the emergency route nor any gateway");
		d->event = EMERG_EVENT_NO_PEER;
		d->event_detail = "an emergency call and no peer to send it to: configure "
				  "[emergency_routes] and peers (docs/emergency.md)";
	}
}

const char *emerg_locate(const struct emerg_conf *ec, const char *user_text,
			 const struct net_addr *reg_src, const struct net_addr *src,
			 struct emerg_civic *civ, char *elin, size_t elin_cap)
{
	const struct emerg_location *l;
	const char *how = "none";
	char err[160];

	memset(civ, 0, sizeof(*civ));
	elin[0] = '\0';
	if (user_text && user_text[0] && emerg_civic_parse(civ, user_text, err, sizeof(err)) == 0 &&
	    !emerg_civic_empty(civ))
		how = "user";
	else
		memset(civ, 0, sizeof(*civ));
	l = emerg_location_of(ec, reg_src ? reg_src : src);
	if (!l && reg_src)
		l = emerg_location_of(ec, src);
	if (strcmp(how, "user") == 0) {
		snprintf(elin, elin_cap, "%s", !civ->elin[0] && l ? l->civic.elin : civ->elin);
	} else if (l) {
		*civ = l->civic;
		snprintf(elin, elin_cap, "%s", l->civic.elin);
		how = "network";
	}
	return how;
}

int emerg_state_compose(struct emerg_state *st, struct emerg_send *o, int number,
			struct slice user, const char *how, const struct emerg_civic *civ,
			const char *elin, struct slice sdp_type, struct slice sdp, uint64_t now_ms,
			int64_t now)
{
	const struct emerg_conf *ec = st->env.conf;
	const char *d = st->env.domain;
	char cid[320], entity[320], tuple[32], pidf[EMERG_PIDF_MAX], when[32];
	size_t pidf_len = 0, l;
	time_t t = (time_t)now;
	struct tm tm;

	memset(o, 0, sizeof(*o));
	o->body_cap = sdp.len + EMERG_PIDF_MAX + 1024;
	if (!(o->body = malloc(o->body_cap)))
		return ENOMEM;
	if (user.len && (o->callback = trunk_user_did(st->env.trunk, user)) == NULL && elin[0])
		o->callback = elin;
	else if (!user.len && elin[0])
		o->callback = elin;
	if (emerg_civic_format(o->loc_text, sizeof(o->loc_text), civ) != 0)
		o->loc_text[0] = '\0';
	st->seq++;
	snprintf(cid, sizeof(cid), "loc%llx.%llx@%s", (unsigned long long)st->seq,
		 (unsigned long long)now_ms, d);
	snprintf(tuple, sizeof(tuple), "loc%llx", (unsigned long long)st->seq);
	snprintf(entity, sizeof(entity), "pres:%.*s@%s", user.len ? (int)user.len : 9,
		 user.len ? user.p : "anonymous", d);
	if (strcmp(how, "none") != 0 &&
	    emerg_pidf(pidf, sizeof(pidf), &pidf_len, civ, entity, tuple, now) == 0) {
		if (emerg_multipart(o->body, o->body_cap, &o->body_len, o->ctype, sizeof(o->ctype),
				    sdp_type, sdp, cid, slice_make(pidf, pidf_len),
				    st->seq ^ now_ms) != 0)
			o->body_len = 0, o->ctype[0] = '\0';
		else
			snprintf(o->extra, sizeof(o->extra),
				 "Geolocation: <cid:%s>\r\nGeolocation-Routing: %s\r\n", cid,
				 ec->geolocation_routing ? "yes" : "no");
	}
	if (o->callback) {
		l = strlen(o->extra);
		snprintf(o->extra + l, sizeof(o->extra) - l, "P-Asserted-Identity: <tel:%s>\r\n",
			 o->callback);
	}
	l = strlen(o->extra);
	snprintf(o->extra + l, sizeof(o->extra) - l, "Priority: emergency\r\n");
	snprintf(o->detail, sizeof(o->detail), "number %s; callback %s; location (%s) %s",
		 ec->numbers[number], o->callback ? o->callback : "none", how,
		 o->loc_text[0] ? o->loc_text : "unknown");
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(o->notify, sizeof(o->notify),
		 "EMERGENCY CALL to %s by %.*s at %s. Callback: %s. Location: %s\r\n",
		 ec->numbers[number], user.len ? (int)(user.len < 64 ? user.len : 64) : 25,
		 user.len ? user.p : "an unauthenticated device", when,
		 o->callback ? o->callback : "none", o->loc_text[0] ? o->loc_text : "unknown");
	return 0;
}

void emerg_send_fini(struct emerg_send *o)
{
	free(o->body);
	o->body = NULL;
}

int emerg_state_notify(struct emerg_state *st, char *buf, size_t cap, size_t *len,
		       char branch[64], const char *contact, const struct net_msg *way,
		       const char *aor, const char *text)
{
	char via[INET6_ADDRSTRLEN + 8];
	enum net_transport tp = way->tp;
	const char *d = st->env.domain;
	unsigned long long seq;
	int n;

	if (!trunk_sent_by(via, sizeof(via), st->env.listeners, st->env.nlisteners, tp,
			   way->src.ss.ss_family))
		return ENOENT;
	seq = (unsigned long long)++st->seq;
	snprintf(branch, 64, "z9hG4bKemerg%llx", seq);
	n = snprintf(buf, cap,
		     "MESSAGE %s SIP/2.0\r\n"
		     "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: \"Emergency\" <sip:emergency@%s>;tag=em%llx\r\n"
		     "To: <%s>\r\n"
		     "Call-ID: emerg.%llx@%s\r\n"
		     "CSeq: 1 MESSAGE\r\n"
		     "Content-Type: text/plain;charset=UTF-8\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     contact, tp == NET_TCP ? "TCP" : tp == NET_TLS ? "TLS" : "UDP", via, branch, d,
		     seq, aor, seq, d, strlen(text), text);
	if (n < 0 || (size_t)n >= cap)
		return EOVERFLOW;
	*len = (size_t)n;
	return 0;
}

int emerg_state_aor(const struct emerg_state *st, char *out, size_t cap, size_t *len,
		    struct slice user)
{
	int n;

	if (!user.len)
		return EOVERFLOW;
	n = snprintf(out, cap, "sip:%.*s@%s", (int)user.len, user.p, st->env.domain);
	if (n < 0 || (size_t)n >= cap)
		return EOVERFLOW;
	*len = (size_t)n;
	return 0;
}

void emerg_dialed(char *out, size_t cap, const struct sip_uri *ruri)
{
	size_t n = ruri->user.len < cap ? ruri->user.len : 0;

	if (n)
		memcpy(out, ruri->user.p, n);
	out[n] = '\0';
}

void emerg_caller_decide(struct emerg_caller_verdict *v, const struct emerg_conf *ec,
			 bool authenticated, bool denied)
{
	memset(v, 0, sizeof(*v));
	if (authenticated) {
		v->who = EMERG_CALLER_USER;
	} else if (ec->allow_unauthenticated) {
		/* wrong credentials, or none: connected as an unauthenticated
		 * device, the wrong ones still recorded */
		v->who = EMERG_CALLER_DEVICE;
		v->auth_event = denied;
	} else {
		v->who = EMERG_CALLER_REFUSE;
		if (denied)
			v->refused = "an emergency call whose caller did not authenticate "
				     "([emergency] allow_unauthenticated = no)";
	}
}
