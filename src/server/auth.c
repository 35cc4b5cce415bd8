/*
 * server/auth.c: one authentication step for every method.
 *
 * REGISTER (401, Authorization) and the proxy's out-of-dialog requests (407,
 * Proxy-Authorization) go through server_authenticate(), which turns the
 * digest outcome, the brute-force lock, per-user mutual TLS and the guard's
 * bookkeeping into one value: allow (with the user's id), challenge (stale or
 * not, with the algorithms the user's digest setting offers), or deny
 * (status and reason). Every refusal carries
 * the security event to record, so both paths log the same events
 * (auth.replay, auth.bad_nonce, auth.failure, register.unknown_user,
 * tls.client_cert_refused). The credential cache is read once per request:
 * the digest lookup keeps the entry it found for the later checks.
 *
 * Guide: Access Control for IPT Clients > Authentication and Authorization
 * (digest for every phone); brute force (docs/guard.md); per-user mutual TLS
 * (docs/tls.md).
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include <openssl/crypto.h>

#include "internal.h"

/* The one cache lookup of a request, kept for the checks after the digest. */
struct lookup_ctx {
	struct server *s;
	struct store_cache_entry e;
	struct slice user;
	bool found;
};

/* auth_lookup_fn over the credential cache (no SQL on this path); looks the
 * user up once and answers a second algorithm from the same entry. */
static int lookup_user(void *arg, struct slice user, enum auth_algo algo,
		       enum auth_cred_slot slot, uint8_t *ha1, size_t cap, size_t *len)
{
	struct lookup_ctx *lc = arg;
	struct server *s = lc->s;
	struct slice hex;

	if (!lc->found || !slice_eq(lc->user, user)) {
		lc->found = store_cache_lookup(s->cache, &lc->e, user,
					       slice_cstr(s->conf.domain)) == 0;
		lc->user = user;
	}
	if (!lc->found)
		return ENOENT;
	if (!lc->e.enabled)
		return EACCES;
	if (strcmp(lc->e.realm, s->realm) != 0)
		return ENOENT; /* HA1 made for another realm cannot verify here */
	if (slot == AUTH_CRED_OLD)
		hex = slice_cstr(algo == AUTH_ALGO_SHA256 ? lc->e.old_ha1_sha256 : lc->e.old_ha1_md5);
	else
		hex = slice_cstr(algo == AUTH_ALGO_SHA256 ? lc->e.ha1_sha256 : lc->e.ha1_md5);
	*len = hex.len / 2;
	return hex.len == 0 ? ENODATA : *len > cap || !hex_decode(ha1, *len, hex) ? EINVAL : 0;
}

/* auth_offer_fn over the same cache lookup: the algorithms the user's
 * digest setting offers (auth_offer), 0 for an unknown name. */
static unsigned offer_user(void *arg, struct slice user)
{
	struct lookup_ctx *lc = arg;
	struct server *s = lc->s;
	unsigned have = 0;

	if (!lc->found || !slice_eq(lc->user, user)) {
		lc->found = store_cache_lookup(s->cache, &lc->e, user,
					       slice_cstr(s->conf.domain)) == 0;
		lc->user = user;
	}
	if (!lc->found)
		return 0;
	if (lc->e.ha1_md5[0])
		have |= AUTH_ALGO_BIT(AUTH_ALGO_MD5);
	if (lc->e.ha1_sha256[0])
		have |= AUTH_ALGO_BIT(AUTH_ALGO_SHA256);
	return auth_offer(s->auth.algos, (enum auth_digest)lc->e.digest, have);
}

/* Note, once per user and run, phones that do not take SHA-256
 * (auth/watch.c): events auth.sha256_unanswered and auth.md5_answer. */
static void watch(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		  const struct auth_outcome *ao)
{
	enum auth_watch_note n = AUTH_WATCH_NONE;

	if (!ao->offer_known)
		return; /* only known users: names a scanner sends are not tracked */
	if (ao->action == AUTH_ACT_CHALLENGE)
		n = auth_watch_challenged(s->watch, ao->offer_user, ao->offer,
					  s->conf.sha256_unanswered);
	else if (ao->action == AUTH_ACT_OK)
		/* with MD5 listed first ([auth] algorithms = MD5,SHA-256) an MD5
		 * answer is what RFC 8760 asks for: no news */
		n = auth_watch_ok(s->watch, ao->offer_user, ao->verdict.algo,
				  s->conf.nalgos && s->conf.algos[0] == AUTH_ALGO_MD5
					  ? ao->offer & ~AUTH_ALGO_BIT(AUTH_ALGO_SHA256)
					  : ao->offer);
	if (n == AUTH_WATCH_SHA256_UNANSWERED)
		server_event(s, "auth.sha256_unanswered", x->in, m, ao->offer_user, SLICE_NULL,
			     "the device never answered a SHA-256 challenge: if it is an MD5-only "
			     "phone, set the user to md5 (bastion user set, docs/users.md)",
			     0);
	else if (n == AUTH_WATCH_MD5_ANSWER)
		server_event(s, "auth.md5_answer", x->in, m, ao->offer_user, SLICE_NULL,
			     "offered SHA-256, the device answered with MD5", 0);
}

void server_event(struct server *s, const char *kind, const struct net_msg *in,
		  const struct sip_msg *m, struct slice user, struct slice aor,
		  const char *reason, int status)
{
	const struct sip_hdr *ua = sip_msg_hdr(m, SIP_H_USER_AGENT);
	struct log_event e = {
		.kind = kind,
		.src = &in->src,
		.tp = in->tp,
		.has_src = true,
		.user = user,
		.aor = aor,
		.call_id = (m->have & SIP_HAVE_CALL_ID) ? m->call_id : SLICE_NULL,
		.user_agent = ua ? ua->value : SLICE_NULL,
		.reason = reason,
		.status = status,
	};

	log_event(&e);
}

/* Per-user mutual TLS (policy_client_cert) for a user whose entry says
 * require_client_cert. Fills v; true when allowed. */
static bool client_cert_ok(struct server *s, const struct server_ctx *x, struct slice user,
			   bool required, struct policy_verdict *v)
{
	const char *uris[NET_CERT_MAX_SANS];
	struct net_peer_cert *pc = s->peer_cert;
	struct policy_client_cert_in in = {
		.user = user,
		.domain = slice_cstr(s->conf.domain),
		.over_tls = x->in->tp == NET_TLS,
		.uris = uris,
		.required = required,
	};

	if (!required)
		return true;
	/* EPIPE (the connection closed since) leaves pc empty: no certificate */
	memset(pc, 0, sizeof(*pc));
	if (in.over_tls && net_msg_peer_cert(x->in, pc) == 0 && pc->present) {
		in.present = true;
		in.cn = pc->cn;
		for (size_t i = 0; i < pc->n_uri && i < NET_CERT_MAX_SANS; i++)
			uris[in.n_uri++] = pc->uri[i];
	}
	policy_client_cert(v, &in);
	return v->allow;
}

static void deny(struct server_auth *v, uint16_t status, const char *reason, const char *event,
		 const char *detail)
{
	v->kind = SERVER_AUTH_DENY;
	v->status = status;
	v->reason = reason;
	v->event = event;
	v->detail = detail;
}

static void authenticate(struct server *s, struct server_auth *v, const struct server_ctx *x,
			 const struct sip_msg *m, bool proxy, struct slice aor, bool lock_applies)
{
	struct lookup_ctx lc = { .s = s };
	struct auth_outcome ao;
	struct auth_deadline_verdict dv;
	struct policy_verdict pv;
	int rc;

	memset(v, 0, sizeof(*v));
	v->proxy = proxy;
	nodes_epochs_check(s->epochs, server_now_ms());
	rc = auth_request(&ao, &s->auth, m, proxy ? SIP_H_PROXY_AUTHORIZATION : SIP_H_AUTHORIZATION,
			  lookup_user, offer_user, &lc, (uint64_t)time(NULL));
	if (rc) {
		log_error("digest verification failed internally: %s", strerror(rc));
		deny(v, 500, "Authentication Failure", NULL, NULL);
		goto out;
	}
	watch(s, x, m, &ao);
	v->user = ao.user;
	v->credentials = ao.credentials;
	v->offer = ao.offer;
	switch (ao.action) {
	case AUTH_ACT_CHALLENGE:
		v->kind = SERVER_AUTH_CHALLENGE;
		v->status = proxy ? 407 : 401;
		if (ao.had_credentials && ao.verdict.result == AUTH_REPLAY)
			v->event = "auth.replay";
		else if (ao.had_credentials && ao.verdict.result == AUTH_BAD_NONCE)
			v->event = "auth.bad_nonce";
		v->detail = ao.reason;
		goto out;
	case AUTH_ACT_STALE:
		v->kind = SERVER_AUTH_CHALLENGE;
		v->status = proxy ? 407 : 401;
		v->stale = true;
		goto out;
	case AUTH_ACT_FAIL:
		deny(v, 403, "Forbidden",
		     ao.unknown_user && m->mid == SIP_M_REGISTER ? "register.unknown_user"
								   : "auth.failure",
		     ao.reason);
		if (ao.verdict.result == AUTH_WRONG_RESPONSE)
			server_guard_auth_failed(s, x->in, m, ao.user, aor, !ao.unknown_user);
		goto out;
	case AUTH_ACT_OK:
		break;
	}
	/* the count was taken: another node must know it (several nodes) */
	nodes_epochs_used(s->epochs, ao.verdict.epoch, ao.verdict.seq, ao.verdict.nc);
	/* A locked user is refused from anywhere but its last good address,
	 * right password or not, exactly like a wrong one (docs/guard.md). */
	if (lock_applies && server_guard_locked(s, x->in, ao.user)) {
		deny(v, 403, "Forbidden", "auth.failure", "user locked");
		server_guard_auth_failed(s, x->in, m, ao.user, aor, true);
		goto out;
	}
	if (!lc.found) { /* proved a password a moment ago, gone now */
		deny(v, 403, "Forbidden", NULL, NULL);
		goto out;
	}
	/* a password rotation's deadline (auth/deadline.c) */
	auth_deadline_check(&dv, lc.e.pw_deadline,
			    lc.e.old_ha1_md5[0] != '\0' || lc.e.old_ha1_sha256[0] != '\0',
			    ao.old_password, (int64_t)time(NULL));
	if (dv.action == AUTH_DEADLINE_EXPIRED) {
		deny(v, 403, dv.phrase, dv.event, dv.detail);
		goto out;
	}
	/* A user bound to its client certificate authenticates only with it;
	 * checked before auth_ok, so that a refused source does not become the
	 * user's last good address. */
	if (!client_cert_ok(s, x, ao.user, lc.e.require_client_cert, &pv)) {
		deny(v, pv.status, pv.reason, pv.event, pv.detail);
		goto out;
	}
	server_guard_auth_ok(s, x->in, ao.user, m->mid);
	v->kind = SERVER_AUTH_ALLOW;
	v->user_id = lc.e.user_id;
	if (dv.action == AUTH_DEADLINE_WARN) {
		/* allowed, and told: the event now, a Warning on the REGISTER's 200 */
		v->event = dv.event;
		v->detail = dv.detail;
		v->pw_deadline = lc.e.pw_deadline;
	}
out:
	OPENSSL_cleanse(&lc.e, sizeof(lc.e));
}

void server_authenticate(struct server *s, struct server_auth *v, const struct server_ctx *x,
			 const struct sip_msg *m, bool proxy, struct slice aor)
{
	authenticate(s, v, x, m, proxy, aor, true);
}

void server_authenticate_emergency(struct server *s, struct server_auth *v,
				   const struct server_ctx *x, const struct sip_msg *m,
				   struct slice aor)
{
	authenticate(s, v, x, m, true, aor, false);
}

/* 401 with one WWW-Authenticate (407: Proxy-Authenticate) per algorithm in
 * v->offer: in the order of [auth] algorithms (SHA-256 first by default,
 * RFC 8760 2.4), then any the site does not list (a user's own setting),
 * SHA-256 first. */
static void challenge(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		      const struct server_auth *v)
{
	char nonce[AUTH_NONCE_LEN + 1], lines[1024], value[512];
	enum auth_algo order[4];
	unsigned offer = v->offer;
	struct sip_buf b;
	size_t len, n = 0;

	for (size_t i = 0; i < s->conf.nalgos && i < 2; i++)
		order[n++] = (enum auth_algo)s->conf.algos[i];
	order[n++] = AUTH_ALGO_SHA256;
	order[n++] = AUTH_ALGO_MD5;

	nodes_epochs_check(s->epochs, server_now_ms());
	if (auth_nonce_make(s->key, s->nc, (uint64_t)time(NULL), nonce) != 0) {
		server_answer(s, x, m, 500, "Nonce Failure", SLICE_NULL);
		return;
	}
	sip_buf_init(&b, lines, sizeof(lines));
	for (size_t i = 0; i < n; i++) {
		enum auth_algo a = order[i];

		if (!(offer & AUTH_ALGO_BIT(a)))
			continue;
		offer &= ~AUTH_ALGO_BIT(a); /* each once */
		if (auth_challenge_write(value, sizeof(value), &len, s->auth.realm, slice_cstr(nonce),
					 a, v->stale, SLICE_NULL) != 0)
			continue;
		sip_buf_str(&b, v->proxy ? "Proxy-Authenticate: " : "WWW-Authenticate: ");
		sip_buf_put(&b, value, len);
		sip_buf_str(&b, "\r\n");
	}
	server_answer(s, x, m, v->status,
		      v->proxy ? "Proxy Authentication Required" : "Unauthorized",
		      slice_make(b.p, b.overflow ? 0 : b.len));
}

void server_auth_refuse(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			const struct server_auth *v, struct slice aor)
{
	if (v->event)
		server_event(s, v->event, x->in, m, v->user, aor, v->detail, v->status);
	if (v->kind == SERVER_AUTH_CHALLENGE)
		challenge(s, x, m, v);
	else
		server_answer(s, x, m, v->status, v->reason, SLICE_NULL);
}

void server_auth_note(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		      const struct server_auth *v, struct slice aor)
{
	if (v->kind == SERVER_AUTH_ALLOW && v->event)
		server_event(s, v->event, x->in, m, v->user, aor, v->detail, 0);
}

int server_auth_warning(char *out, size_t cap, const struct server *s,
			const struct server_auth *v)
{
	char when[32];
	time_t t = (time_t)v->pw_deadline;
	struct tm tm;
	int n;

	if (v->kind != SERVER_AUTH_ALLOW || v->pw_deadline <= 0 || !gmtime_r(&t, &tm) ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return 0;
	/* RFC 3261 20.43: warn-code 399 (miscellaneous), our domain as agent */
	n = snprintf(out, cap, "Warning: 399 %s \"This password stops working at %s: ask the "
		     "administrator for the new one\"\r\n", s->conf.domain, when);
	return n > 0 && (size_t)n < cap ? n : 0;
}
