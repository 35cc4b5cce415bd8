/*
 * trunk/calls.c: the decisions on an outside call (docs/trunks.md), as
 * values for server/trunk.c to carry out.
 *
 * - Outbound: a phone's call to a number is normalised to E.164,
 *   classified, checked against the caller's calling class (403,
 *   call.class_denied), its hold and limits (403, fraud.limit), routed by the
 *   dial plan, and sent to the route's peers one after another (the caller
 *   forks serially: failover on 408, 5xx and timeouts; a 6xx ends it).
 * - No bypass: a phone's request whose Request-URI or Route names a peer's
 *   address is refused (SIP security paper: the gateway-bypass ACL; guide,
 *   PSTN gateway: signaling only from the call server).
 * - Inbound: a request from a peer's address (and transport) reaches a
 *   local user through the DID map only, never another peer (no transit).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "internal.h"

static void refuse(struct trunk_verdict *v, uint16_t status, const char *reason,
		   const char *event, const char *detail)
{
	memset(v, 0, sizeof(*v));
	v->status = status;
	v->reason = reason;
	v->event = event;
	v->detail = detail;
}

static const struct trunk_limits *peer_limits(const struct trunk_peer *p)
{
	_Static_assert(offsetof(struct trunk_peer, minutes_per_day) ==
			       offsetof(struct trunk_peer, calls_per_hour) + sizeof(uint32_t) &&
		       offsetof(struct trunk_peer, intl_minutes_per_day) ==
			       offsetof(struct trunk_peer, minutes_per_day) + sizeof(uint32_t),
		       "a peer's limits are laid out as struct trunk_limits");
	return (const struct trunk_limits *)(const void *)&p->calls_per_hour;
}

/*
 * The user's side of an outside call's limits (docs/trunks.md, Limits): the
 * fraud hold, the calls in progress ([dialplan] max_calls_per_user), calls
 * per hour and minutes per day ([fraud]). One verdict, in one place.
 */
static void user_limits(struct trunk_state *st, struct trunk_verdict *v, const struct trunk_call *c,
			bool intl)
{
	char ukey[TRUNK_USER_MAX + 2];
	struct tusage *u;

	if (c->user.len >= TRUNK_USER_MAX) {
		trunk_cap(v, 1, 1, "the caller's name is too long to count its calls");
		return;
	}
	snprintf(ukey, sizeof(ukey), "u:%.*s", (int)c->user.len, c->user.p ? c->user.p : "");
	u = trunk_usage_of(st, ukey, true);
	if (trunk_held(st, u, c->hold, c->cache_version)) {
		refuse(v, 403, "Outside Calling Suspended", TRUNK_EVENT_FRAUD_LIMIT,
		       "the caller's outside calling is on hold after a fraud.alert "
		       "(bastion fraud clear NAME lifts it)");
		return;
	}
	trunk_cap(v, trunk_count_of(st, ukey), st->env.conf->max_calls_per_user,
		  "the caller's outside calls in progress reached [dialplan] max_calls_per_user");
	if (!v->allow)
		return;
	if (!u) {
		trunk_cap(v, 1, 1, "the toll-fraud counters are full ([auth] max_users)");
		return;
	}
	trunk_limits_check(v, &u->u, &st->env.fraud->user, intl, c->now, false);
}

bool trunk_state_peer_down(const struct trunk_state *st, size_t i)
{
	return i < TRUNK_MAX_PEERS && i < st->env.conf->npeers && st->ps[i].down &&
	       strcmp(st->ps[i].name, st->env.conf->peer[i].name) == 0;
}

/* The targets of the peers of route[0..nroute) that may take the call. */
static void targets(struct trunk_state *st, struct trunk_outbound *o, const struct trunk_call *c,
		    const uint8_t *route, size_t nroute, bool *at_cap, bool *at_rate,
		    uint32_t *rate_wait, const char **limit_detail, bool *all_trusted)
{
	const struct trunk_conf *tc = st->env.conf;
	struct trunk_verdict v;
	char pkey[TRUNK_NAME_MAX + 2];

	for (size_t i = 0; i < nroute; i++) {
		const struct trunk_peer *p = &tc->peer[route[i]];
		char user_part[TRUNK_NUM_MAX + TRUNK_PATTERN_MAX], host[INET6_ADDRSTRLEN];
		uint32_t used, keep = c->keep ? c->keep[route[i]] : 0;
		const struct trunk_secret *sec;
		struct tusage *pu;

		snprintf(pkey, sizeof(pkey), "o:%s", p->name);
		used = trunk_count_of(st, pkey);
		/* the last slots of a peer on an emergency route are not for us */
		if (!trunk_peer_room(used, p->max_calls_out, keep)) {
			*at_cap = true;
			*limit_detail = "every peer of the route is at its max_calls_out";
			continue;
		}
		snprintf(pkey, sizeof(pkey), "p:%s", p->name);
		pu = trunk_usage_of(st, pkey, false);
		trunk_limits_check(&v, pu ? &pu->u : NULL, peer_limits(p), o->intl, c->now, true);
		if (!v.allow) {
			*at_cap = true;
			*limit_detail = v.detail;
			continue;
		}
		/* its new calls a second: over it, the peer is passed over like
		 * one that is down (its token is taken once it gets the INVITE) */
		if (route[i] < TRUNK_MAX_PEERS) {
			uint32_t w = trunk_bucket_check(&st->ps[route[i]].cps_out,
							p->calls_per_second, c->now_ms, false);
			if (w) {
				*at_rate = true;
				*rate_wait = *rate_wait && *rate_wait < w ? *rate_wait : w;
				continue;
			}
		}
		if (trunk_rewrite(user_part, sizeof(user_part), p, o->e164) != 0)
			continue;
		sec = trunk_secret_of(&st->secrets, p->name);
		for (size_t a = 0; a < p->naddr && o->n < TRUNK_MAX_ROUTE_PEERS * TRUNK_MAX_ADDRS; a++) {
			const struct net_listen_spec *ad = &p->addr[a];
			struct trunk_target *t = &o->t[o->n];
			bool v6 = ad->addr.ss.ss_family == AF_INET6;
			if (c->tls_only && ad->tp != NET_TLS)
				continue;
			if (st->env.way(st->env.arg, p, ad, &t->way) != 0)
				continue;
			net_addr_host(&ad->addr, host, sizeof(host));
			snprintf(t->contact, sizeof(t->contact), "sip:%s@%s%s%s:%u;user=phone%s",
				 user_part, v6 ? "[" : "", host, v6 ? "]" : "",
				 net_addr_port(&ad->addr),
				 ad->tp == NET_TCP ? ";transport=tcp"
				 : ad->tp == NET_TLS ? ";transport=tls" : "");
			t->label = p->name;
			t->cred = sec && sec->user[0] ? sec : NULL;
			if (o->first < 0)
				o->first = route[i];
			*all_trusted &= p->trust_pai;
			o->n++;
		}
	}
}

int trunk_state_outbound(struct trunk_state *st, struct trunk_outbound *o,
			 const struct trunk_call *c)
{
	const struct trunk_conf *tc = st->env.conf;
	uint8_t route[TRUNK_MAX_ROUTE_PEERS], kept[TRUNK_MAX_ROUTE_PEERS];
	const char *limit_detail = NULL;
	bool at_cap = false, at_rate = false, all_trusted = true;
	uint32_t rate_wait = 0;
	enum trunk_level lv;
	size_t nroute, up = 0;
	int rc;

	memset(o, 0, sizeof(*o));
	o->first = -1;
	rc = trunk_normalise(o->e164, c->ruri, tc);
	if (rc == ENOENT)
		return ENOENT;
	trunk_dialed(o->rec.dialed, sizeof(o->rec.dialed), c->ruri->user);
	if (rc) {
		o->e164[0] = '\0';
		refuse(&o->v, 484, "Address Incomplete", NULL, NULL);
		return 0;
	}
	o->classified = true;
	o->klass = trunk_classify(tc, o->e164);
	o->rec.klass = trunk_class_name(o->klass);
	o->rec.number = o->e164;
	o->intl = trunk_class_intl(o->klass);
	/* the calling class: the user's in the store, else its [calling] line
	 * in bastion.conf (kept as a fallback), else [dialplan] calling */
	if (!c->calling || !c->calling[0] || trunk_level_parse(&lv, c->calling) != 0)
		lv = trunk_user_level(tc, c->user);
	trunk_cos(&o->v, lv, o->klass);
	if (!o->v.allow) {
		snprintf(o->detail, sizeof(o->detail), "%s is %s; the caller's calling class is %s",
			 o->e164, trunk_class_name(o->klass), trunk_level_name(lv));
		o->v.detail = o->detail;
		return 0;
	}
	user_limits(st, &o->v, c, o->intl);
	if (!o->v.allow)
		return 0;
	nroute = trunk_route(tc, o->e164, route);
	/* peers marked down (OPTIONS) are left out, unless all are */
	for (size_t i = 0; i < nroute; i++)
		if (!trunk_state_peer_down(st, route[i]))
			kept[up++] = route[i];
	if (up) {
		memcpy(route, kept, up);
		nroute = up;
	}
	if (nroute == 0) {
		snprintf(o->detail, sizeof(o->detail), "no route in the dial plan for %s", o->e164);
		refuse(&o->v, 404, "No Route to the Number", TRUNK_EVENT_NO_ROUTE, o->detail);
		return 0;
	}
	targets(st, o, c, route, nroute, &at_cap, &at_rate, &rate_wait, &limit_detail,
		&all_trusted);
	if (o->n == 0) {
		if (at_rate) {
			/* a rate passes within the second: 503, try again (RFC 3261 21.5.4) */
			snprintf(o->detail, sizeof(o->detail), "every peer of the route for %s left "
				 "is at its calls_per_second", o->e164);
			refuse(&o->v, 503, "Peer Call Rate Reached", TRUNK_EVENT_PEER_RATE, o->detail);
			o->retry_after = (rate_wait + 999) / 1000;
		} else if (at_cap) {
			refuse(&o->v, 403, "Outside Call Limit Reached", TRUNK_EVENT_FRAUD_LIMIT,
			       limit_detail);
		} else if (c->tls_only) {
			refuse(&o->v, 480, "No TLS Route to the Number", TRUNK_EVENT_SIPS_DOWNGRADE,
			       "a sips: or tls-required call and no TLS peer on its route");
		} else {
			refuse(&o->v, 503, "No Peer Reachable", NULL, NULL);
		}
		return 0;
	}
	/* RFC 3325: our assertion of the caller, as its external number (DID),
	 * to peers that are trusted with it only; Privacy travels with it. */
	if (all_trusted) {
		const char *did = trunk_user_did(tc, c->user);
		if (did)
			snprintf(o->pai, sizeof(o->pai), "P-Asserted-Identity: <tel:%s>\r\n", did);
	}
	memset(&o->v, 0, sizeof(o->v));
	o->v.allow = true;
	return 0;
}

void trunk_state_placed(struct trunk_state *st, const struct trunk_outbound *o,
			const struct trunk_call *c, struct slice call_id, struct trunk_alert *alert)
{
	const struct trunk_conf *tc = st->env.conf;
	const struct trunk_peer *p = &tc->peer[o->first];
	char ukey[TRUNK_USER_MAX + 2], pkey[TRUNK_NAME_MAX + 2];
	uint64_t dh = hash_siphash(&st->dest_key, o->e164, strlen(o->e164));
	struct tusage *u;

	memset(alert, 0, sizeof(*alert));
	snprintf(ukey, sizeof(ukey), "u:%.*s",
		 (int)(c->user.len < TRUNK_USER_MAX ? c->user.len : 0), c->user.p ? c->user.p : "");
	snprintf(pkey, sizeof(pkey), "o:%s", p->name);
	trunk_track(st, call_id, c->user.len < TRUNK_USER_MAX ? ukey : "", pkey, o->intl);
	/* counted: the call per hour and its destination, to the caller and
	 * the first peer (which got the INVITE) */
	if (c->user.len < TRUNK_USER_MAX && (u = trunk_usage_of(st, ukey, false)) != NULL) {
		trunk_usage_placed(&u->u, dh, c->now, st->env.fraud->alert_window);
		trunk_usage_dirty(st, u);
		trunk_burst_check(st, u, c->user, c->now, c->cache_version, alert);
	}
	snprintf(pkey, sizeof(pkey), "p:%s", p->name);
	if ((u = trunk_usage_of(st, pkey, true)) != NULL) {
		trunk_usage_placed(&u->u, dh, c->now, st->env.fraud->alert_window);
		trunk_usage_dirty(st, u);
	}
	if (o->first < TRUNK_MAX_PEERS) {
		st->ps[o->first].calls_out++;
		(void)trunk_bucket_check(&st->ps[o->first].cps_out, p->calls_per_second, c->now_ms,
					 true);
	}
}

/* ---- inbound ------------------------------------------------------------------------ */

void trunk_state_inbound(struct trunk_state *st, struct trunk_inbound *o, const struct sip_msg *m,
			 const struct net_addr *src, enum net_transport tp, bool beyond,
			 uint64_t now_ms)
{
	const struct trunk_conf *tc = st->env.conf;
	const struct trunk_peer *p;
	char pkey[TRUNK_NAME_MAX + 2];
	bool tp_ok = false;
	int pi, rc;

	memset(o, 0, sizeof(*o));
	o->peer = -1;
	if (!tc->npeers || (pi = trunk_peer_of(tc, src)) < 0)
		return;
	p = &tc->peer[pi];
	/* the address alone is not the peer: it also speaks the transport we
	 * have for it (a spoofed UDP datagram does not pass for a TLS peer) */
	for (size_t i = 0; i < p->naddr; i++)
		tp_ok |= p->addr[i].tp == tp;
	if (!tp_ok)
		return;
	o->peer = pi;
	o->rec.peer = p->name;
	trunk_dialed(o->rec.dialed, sizeof(o->rec.dialed), m->ruri.user);
	if (beyond) {
		refuse(&o->v, 403, "No Transit", NULL, NULL);
		return;
	}
	/* its new calls a second (calls_per_second): each INVITE it sends
	 * takes a token, whatever becomes of it */
	if (m->mid == SIP_M_INVITE && pi < TRUNK_MAX_PEERS) {
		uint32_t w = trunk_bucket_check(&st->ps[pi].cps_in, p->calls_per_second, now_ms, true);
		if (w) {
			refuse(&o->v, 503, "Peer Call Rate Reached", TRUNK_EVENT_PEER_RATE,
			       "the peer's new calls reached its calls_per_second");
			o->record = true;
			o->retry_after = (w + 999) / 1000;
			return;
		}
	}
	if (trunk_normalise(o->e164, &m->ruri, tc) != 0 || !(o->local = trunk_did_user(tc, o->e164))) {
		/* no transit: a peer reaches our users through their DIDs only */
		o->e164[0] = '\0';
		refuse(&o->v, 404, "Not Found", NULL, NULL);
		o->record = true;
		return;
	}
	o->rec.number = o->e164;
	snprintf(pkey, sizeof(pkey), "i:%s", p->name);
	trunk_cap(&o->v, trunk_count_of(st, pkey), p->max_calls_in, "peer max_calls_in");
	if (!o->v.allow) {
		refuse(&o->v, 503, "Peer Call Limit Reached", o->v.event,
		       "the peer's calls in progress reached its max_calls_in");
		o->record = true;
		return;
	}
	rc = snprintf(o->aor, sizeof(o->aor), "sip:%s@%s", o->local, st->env.domain);
	if (rc < 0 || (size_t)rc >= sizeof(o->aor)) {
		o->aor[0] = '\0';
		refuse(&o->v, 500, "Server Internal Error", NULL, NULL);
		return;
	}
	/* RFC 3325: a trusted peer's assertion is passed on; an untrusted one's
	 * is dropped */
	if (p->trust_pai) {
		const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_P_ASSERTED_IDENTITY);
		bool clean = h != NULL;
		for (size_t i = 0; h && i < h->value.len; i++)
			clean &= (unsigned char)h->value.p[i] >= 0x20 || h->value.p[i] == '\t';
		if (clean && h->value.len < sizeof(o->pai) - 32)
			snprintf(o->pai, sizeof(o->pai), "P-Asserted-Identity: %.*s\r\n",
				 (int)h->value.len, h->value.p);
	}
}

void trunk_state_inbound_placed(struct trunk_state *st, int peer, const struct sip_msg *m)
{
	char pkey[TRUNK_NAME_MAX + 2];

	if (peer < 0 || (size_t)peer >= st->env.conf->npeers)
		return;
	snprintf(pkey, sizeof(pkey), "i:%s", st->env.conf->peer[peer].name);
	if (m->mid == SIP_M_INVITE)
		trunk_track(st, m->call_id, "", pkey, false);
	if (peer < TRUNK_MAX_PEERS)
		st->ps[peer].calls_in++;
}

/* ---- no bypass ------------------------------------------------------------------- */

bool trunk_bypass(const struct trunk_conf *tc, const struct sip_msg *m,
		  const struct sip_limits *lim)
{
	bool names = tc->npeers && m->ruri.scheme != SIP_SCHEME_TEL &&
		     trunk_names_peer(tc, m->ruri.host);

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_ROUTE); h && !names && tc->npeers;
	     h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value, item;
		while (!names && sip_list_next(&item, &rest) == 0) {
			struct sip_nameaddr na;
			enum sip_err e;
			if (sip_nameaddr_parse(&na, item, lim, &e) == 0 &&
			    trunk_names_peer(tc, na.uri.host))
				names = true;
		}
	}
	return names;
}
