/*
 * trunk/peers.c: each peer's health by OPTIONS pings (a peer that stops
 * answering is marked down and left out of routes while another peer of the
 * route is up; peer.up when it answers again) and the outbound registration
 * to a carrier that wants one (RFC 3261 10.2, answering its challenge with
 * [trunks] secrets). The requests are built here as bytes with their
 * destination; the caller starts their client transactions and hands the
 * outcome back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "internal.h"

bool trunk_sent_by(char *out, size_t cap, const struct net_listen_spec *l, size_t nl,
		   enum net_transport tp, int fam)
{
	char host[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < nl; i++) {
		if (l[i].tp != tp || l[i].addr.ss.ss_family != fam)
			continue;
		net_addr_host(&l[i].addr, host, sizeof(host));
		snprintf(out, cap, fam == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
			 net_addr_port(&l[i].addr));
		return true;
	}
	return false;
}

static const char *tp_name(enum net_transport tp)
{
	return tp == NET_TCP ? "TCP" : tp == NET_TLS ? "TLS" : "UDP";
}

static void event(struct trunk_event *ev, size_t peer, const char *kind, const char *reason)
{
	ev->kind = kind;
	ev->peer = peer;
	snprintf(ev->reason, sizeof(ev->reason), "%s", reason);
}

/* Our sent-by toward peer p's first address, and the way there. */
static int reach(struct trunk_state *st, struct trunk_msg *msg, const struct trunk_peer *p,
		 char *via, size_t cap)
{
	const struct net_listen_spec *a = &p->addr[0];
	int rc;

	if (!trunk_sent_by(via, cap, st->env.listeners, st->env.nlisteners, a->tp,
			   a->addr.ss.ss_family))
		return EAFNOSUPPORT;
	if ((rc = st->env.way(st->env.arg, p, a, &msg->way)) != 0)
		return rc;
	msg->dst = a->addr;
	return 0;
}

int trunk_state_ping(struct trunk_state *st, struct trunk_msg *msg, size_t i, uint64_t now_ms)
{
	const struct trunk_peer *p = &st->env.conf->peer[i];
	struct pstate *ps = &st->ps[i];
	const struct net_listen_spec *a = &p->addr[0];
	char via[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];
	bool v6 = a->addr.ss.ss_family == AF_INET6;
	const char *d = st->env.domain;
	unsigned long long seq;
	int n, rc;

	ps->next_ms = now_ms + (uint64_t)p->ping_interval * 1000u;
	if ((rc = reach(st, msg, p, via, sizeof(via))) != 0)
		return rc;
	net_addr_host(&a->addr, host, sizeof(host));
	seq = (unsigned long long)++st->seq;
	snprintf(msg->branch, sizeof(msg->branch), "z9hG4bKping%llx.%zu", seq, i);
	n = snprintf(msg->buf, sizeof(msg->buf),
		     "OPTIONS sip:%s%s%s:%u SIP/2.0\r\n"
		     "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: <sip:bastion@%s>;tag=ping%llx\r\n"
		     "To: <sip:%s%s%s:%u>\r\n"
		     "Call-ID: ping.%llx.%zu@%s\r\n"
		     "CSeq: 1 OPTIONS\r\n"
		     "Content-Length: 0\r\n\r\n",
		     v6 ? "[" : "", host, v6 ? "]" : "", net_addr_port(&a->addr), tp_name(a->tp), via,
		     msg->branch, d, seq, v6 ? "[" : "", host, v6 ? "]" : "",
		     net_addr_port(&a->addr), seq, i, d);
	if (n < 0 || (size_t)n >= sizeof(msg->buf))
		return EOVERFLOW;
	msg->len = (size_t)n;
	msg->peer = i;
	msg->reg = false;
	msg->user = NULL;
	ps->answered = false;
	ps->ping_busy = true;
	return 0;
}

/* A ping's outcome: any final response means the peer is there. */
static void ping_result(struct trunk_state *st, size_t i, bool answered, int status,
			struct trunk_event *ev)
{
	struct pstate *ps = &st->ps[i];
	char why[96];

	memset(ev, 0, sizeof(*ev));
	if (i >= st->env.conf->npeers || strcmp(st->env.conf->peer[i].name, ps->name) != 0)
		return;
	if (answered && ps->down) {
		ps->down = false;
		snprintf(why, sizeof(why), "answers OPTIONS again (%d): up", status);
		event(ev, i, TRUNK_EVENT_PEER_UP, why);
	} else if (!answered && !ps->down) {
		ps->down = true;
		event(ev, i, TRUNK_EVENT_PEER_DOWN,
		      "does not answer OPTIONS: down, calls fail over to the next peer");
	}
}

void trunk_state_ping_answer(struct trunk_state *st, size_t i, int status, struct trunk_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (i >= TRUNK_MAX_PEERS || status < 200 || st->ps[i].answered)
		return;
	st->ps[i].answered = true;
	ping_result(st, i, true, status, ev);
}

void trunk_state_ping_timeout(struct trunk_state *st, size_t i, struct trunk_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (i < TRUNK_MAX_PEERS && !st->ps[i].answered)
		ping_result(st, i, false, 0, ev);
}

void trunk_state_done(struct trunk_state *st, size_t i, bool reg)
{
	if (i >= TRUNK_MAX_PEERS)
		return;
	if (reg)
		st->ps[i].reg.busy = false;
	else
		st->ps[i].ping_busy = false;
}

int trunk_state_request(struct trunk_state *st, struct trunk_msg *msg, struct trunk_event *ev,
			size_t i, bool reg, uint64_t now_ms)
{
	memset(ev, 0, sizeof(*ev));
	return reg ? trunk_state_register(st, msg, ev, i, now_ms) : trunk_state_ping(st, msg, i, now_ms);
}

void trunk_state_sent(struct trunk_state *st, const struct trunk_msg *msg, const void *txn)
{
	struct pstate *ps = &st->ps[msg->peer];

	if (!txn)
		trunk_state_done(st, msg->peer, msg->reg);
	if (msg->reg)
		ps->reg_txn = txn;
	else
		ps->ping_txn = txn;
}

int trunk_state_txn(const struct trunk_state *st, const void *txn, const void *user, bool *reg,
		    bool *current)
{
	for (size_t i = 0; txn && i < TRUNK_MAX_PEERS; i++) {
		const struct pstate *ps = &st->ps[i];
		if (user == (const void *)&ps->reg || txn == ps->ping_txn) {
			*reg = user == (const void *)&ps->reg;
			*current = txn == (*reg ? ps->reg_txn : ps->ping_txn);
			return (int)i;
		}
	}
	return -1;
}

bool trunk_state_outcome(struct trunk_state *st, struct trunk_msg *msg, struct trunk_event *ev,
			 size_t i, bool reg, const struct sip_msg *m, uint64_t now_ms)
{
	memset(ev, 0, sizeof(*ev));
	if (reg && m)
		return trunk_state_reg_response(st, msg, ev, i, m, now_ms);
	if (reg)
		trunk_state_reg_timeout(st, i, now_ms, ev);
	else if (m)
		trunk_state_ping_answer(st, i, m->status, ev);
	else
		trunk_state_ping_timeout(st, i, ev);
	return false;
}

void trunk_state_txn_end(struct trunk_state *st, size_t i, bool reg)
{
	if (i >= TRUNK_MAX_PEERS)
		return;
	if (reg)
		st->ps[i].reg_txn = NULL;
	else
		st->ps[i].ping_txn = NULL;
	trunk_state_done(st, i, reg);
}

bool trunk_state_txn_ended(struct trunk_state *st, const void *txn, const void *user)
{
	bool reg, cur;
	int i = trunk_state_txn(st, txn, user, &reg, &cur);

	if (i >= 0 && cur)
		trunk_state_txn_end(st, (size_t)i, reg);
	return i >= 0;
}

/* ---- outbound registration to a carrier ---------------------------------------- */

int trunk_state_register(struct trunk_state *st, struct trunk_msg *msg, struct trunk_event *ev,
			 size_t i, uint64_t now_ms)
{
	const struct trunk_peer *p = &st->env.conf->peer[i];
	struct pstate *ps = &st->ps[i];
	struct preg *r = &ps->reg;
	const struct net_listen_spec *a = &p->addr[0];
	const struct trunk_secret *sec = trunk_secret_of(&st->secrets, p->name);
	char via[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN + 2], ruri[INET6_ADDRSTRLEN + 16];
	char authz[1100], val[1024];
	int n, rc;

	memset(ev, 0, sizeof(*ev));
	r->next_ms = now_ms + TRUNK_REG_RETRY_MS;
	if (!sec) {
		if (!r->failed)
			event(ev, i, TRUNK_EVENT_PEER_REGISTER_FAILED,
			      "register = yes but no credentials for it in [trunks] secrets");
		r->failed = true;
		r->registered = false;
		return ENOENT;
	}
	if ((rc = reach(st, msg, p, via, sizeof(via))) != 0)
		return rc;
	net_addr_host(&a->addr, host + 1, sizeof(host) - 2);
	if (a->addr.ss.ss_family == AF_INET6) {
		host[0] = '[';
		strcat(host, "]");
	} else {
		memmove(host, host + 1, strlen(host + 1) + 1);
	}
	snprintf(ruri, sizeof(ruri), "sip:%s:%u", host, net_addr_port(&a->addr));
	authz[0] = '\0';
	r->auth_sent = false;
	if (r->chal[0] && st->env.answer(st->env.arg, val, sizeof(val), slice_cstr(r->chal),
					 slice_cstr(ruri), sec, r->nc + 1) == 0) {
		r->nc++;
		snprintf(authz, sizeof(authz), "%s: %s\r\n",
			 r->chal_proxy ? "Proxy-Authorization" : "Authorization", val);
		r->auth_sent = true;
	}
	OPENSSL_cleanse(val, sizeof(val));
	if (!r->call_id[0])
		snprintf(r->call_id, sizeof(r->call_id), "reg.%llx.%zu@%.32s",
			 (unsigned long long)++st->seq, i, st->env.domain);
	st->seq++;
	snprintf(msg->branch, sizeof(msg->branch), "z9hG4bKreg%llx.%zu", (unsigned long long)st->seq,
		 i);
	n = snprintf(msg->buf, sizeof(msg->buf),
		     "REGISTER %s SIP/2.0\r\n"
		     "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: <sip:%s@%s>;tag=reg%zu\r\n"
		     "To: <sip:%s@%s>\r\n"
		     "Call-ID: %s\r\n"
		     "CSeq: %u REGISTER\r\n"
		     "Contact: <sip:%s@%s>\r\n"
		     "Expires: %u\r\n"
		     "%s"
		     "Content-Length: 0\r\n\r\n",
		     ruri, tp_name(a->tp), via, msg->branch, sec->user, host, i, sec->user, host,
		     r->call_id, ++r->cseq, sec->user, via, p->register_expires, authz);
	OPENSSL_cleanse(authz, sizeof(authz));
	if (n < 0 || (size_t)n >= sizeof(msg->buf)) {
		OPENSSL_cleanse(msg->buf, sizeof(msg->buf));
		return EOVERFLOW;
	}
	msg->len = (size_t)n;
	msg->peer = i;
	msg->reg = true;
	msg->user = r;
	r->busy = true;
	return 0;
}

static void reg_failed(struct trunk_state *st, size_t i, uint64_t now_ms, const char *why,
		       struct trunk_event *ev)
{
	struct preg *r = &st->ps[i].reg;

	r->next_ms = now_ms + TRUNK_REG_RETRY_MS;
	if (!r->failed || r->registered)
		event(ev, i, TRUNK_EVENT_PEER_REGISTER_FAILED, why);
	r->failed = true;
	r->registered = false;
}

/* The expiry the registrar granted: our Contact's expires, else Expires. */
static uint32_t reg_granted(const struct sip_msg *m, uint32_t asked)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_EXPIRES);
	uint32_t v = asked;

	for (const struct sip_hdr *c = sip_msg_hdr(m, SIP_H_CONTACT); c; c = sip_msg_hdr_next(m, c)) {
		const char *e = memmem(c->value.p, c->value.len, "expires=", 8);
		if (e) {
			size_t off = (size_t)(e - c->value.p) + 8, k = off;
			while (k < c->value.len && c->value.p[k] >= '0' && c->value.p[k] <= '9')
				k++;
			if (slice_to_u32(slice_make(c->value.p + off, k - off), &v) == 0)
				return v;
		}
	}
	if (h && slice_to_u32(slice_trim(h->value), &v) == 0)
		return v;
	return asked;
}

/* Keep challenge h of response m for the next REGISTER. */
static bool keep_challenge(struct preg *r, const struct sip_hdr *h, bool proxy)
{
	if (!h || h->value.len >= sizeof(r->chal))
		return false;
	memcpy(r->chal, h->value.p, h->value.len);
	r->chal[h->value.len] = '\0';
	r->chal_proxy = proxy;
	r->nc = 0;
	return true;
}

bool trunk_state_reg_response(struct trunk_state *st, struct trunk_msg *msg,
			      struct trunk_event *ev, size_t i, const struct sip_msg *m,
			      uint64_t now_ms)
{
	const struct trunk_conf *tc = st->env.conf;
	struct preg *r;
	char why[160];

	memset(ev, 0, sizeof(*ev));
	if (i >= TRUNK_MAX_PEERS || m->status < 200 || i >= tc->npeers ||
	    strcmp(tc->peer[i].name, st->ps[i].name) != 0)
		return false;
	r = &st->ps[i].reg;
	if (m->status < 300) {
		uint32_t g = reg_granted(m, tc->peer[i].register_expires);
		uint64_t wait = g ? (uint64_t)g * 500u : TRUNK_REG_RETRY_MS; /* refresh at half */
		wait = wait < 1000 ? 1000 : wait;
		r->next_ms = now_ms + wait;
		if (!r->registered) {
			snprintf(why, sizeof(why), "registered for %u s; refreshed every %u s", g,
				 (unsigned)(wait / 1000));
			event(ev, i, TRUNK_EVENT_PEER_REGISTERED, why);
		}
		r->registered = true;
		r->failed = false;
		return false;
	}
	if (m->status == 401 || m->status == 407) {
		const struct sip_hdr *h = sip_msg_hdr(m, m->status == 401 ? SIP_H_WWW_AUTHENTICATE
									   : SIP_H_PROXY_AUTHENTICATE);
		if (!r->auth_sent) {
			/* the first challenge: answered at once */
			if (keep_challenge(r, h, m->status == 407) &&
			    trunk_state_register(st, msg, ev, i, now_ms) == 0) {
				if (r->auth_sent)
					return true;
				OPENSSL_cleanse(msg->buf, sizeof(msg->buf));
				r->busy = false;
			}
			reg_failed(st, i, now_ms, "the registrar's challenge could not be answered "
				   "(its realm, algorithm or qop)", ev);
			return false;
		}
		/* our credentials were refused, or the nonce went stale: one fresh try */
		if (h && memmem(h->value.p, h->value.len, "stale=true", 10) &&
		    keep_challenge(r, h, r->chal_proxy))
			return trunk_state_register(st, msg, ev, i, now_ms) == 0;
		r->chal[0] = '\0';
	}
	snprintf(why, sizeof(why), "the registrar answered %u: retried in %u s", m->status,
		 TRUNK_REG_RETRY_MS / 1000);
	reg_failed(st, i, now_ms, why, ev);
	return false;
}

void trunk_state_reg_timeout(struct trunk_state *st, size_t i, uint64_t now_ms,
			     struct trunk_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (i < TRUNK_MAX_PEERS && i < st->env.conf->npeers &&
	    strcmp(st->env.conf->peer[i].name, st->ps[i].name) == 0)
		reg_failed(st, i, now_ms, "the registrar did not answer (timer F)", ev);
}

bool trunk_state_peer_stats(const struct trunk_state *st, size_t i, struct trunk_peer_stats *out)
{
	const struct pstate *ps;

	if (i >= st->env.conf->npeers || i >= TRUNK_MAX_PEERS)
		return false;
	ps = &st->ps[i];
	out->name = st->env.conf->peer[i].name;
	/* counters of another peer a reload put here (before the tick noticed) are not its own */
	if (strcmp(ps->name, out->name) != 0) {
		out->calls_out = out->calls_in = out->failed_out = 0;
		out->up = true;
		return true;
	}
	out->calls_out = ps->calls_out;
	out->calls_in = ps->calls_in;
	out->failed_out = ps->failed_out;
	out->up = !ps->down;
	return true;
}

bool trunk_state_tls_refused(struct trunk_state *st, struct trunk_event *ev, uint64_t total,
			     const struct net_tls_refusal *r)
{
	int pi;

	if (total == st->tls_refused_seen)
		return false;
	snprintf(ev->reason, sizeof(ev->reason),
		 "certificate refused (%s; it must name %s)%s: nothing sent, calls fail over to the "
		 "next peer", r->why, r->name,
		 total - st->tls_refused_seen > 1 ? ", and earlier refusals" : "");
	st->tls_refused_seen = total;
	pi = trunk_peer_of(st->env.conf, &r->addr);
	ev->kind = pi < 0 ? NULL : TRUNK_EVENT_PEER_TLS_REFUSED;
	ev->peer = pi < 0 ? 0 : (size_t)pi;
	return true;
}
