/*
 * server/auth.c: one authentication step for every method, carried out.
 *
 * REGISTER (401, Authorization) and the proxy's out-of-dialog requests (407,
 * Proxy-Authorization) go through server_authenticate(). What the digest
 * outcome, the brute-force lock, the user's entry, a password deadline and
 * per-user mutual TLS come to is auth/'s value (auth_step_decide); this file
 * does the I/O around it: the credential cache, read once per request (the
 * digest lookup keeps the entry it found for the later checks), the lock
 * and the guard's counting, the peer's certificate, events, and the answer
 * with its challenge block (auth_challenge_block).
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
	bool looked, found;
};

/* The user's entry, looked up once per name (found or not). */
static bool lookup_once(struct lookup_ctx *lc, struct slice user)
{
	if (!lc->looked || !slice_eq(lc->user, user)) {
		lc->found = store_cache_lookup(lc->s->cache, &lc->e, user,
					       slice_cstr(lc->s->conf.domain)) == 0;
		lc->user = user;
		lc->looked = true;
	}
	return lc->found;
}

/* auth_lookup_fn over the credential cache (no SQL on this path); looks the
 * user up once and answers a second algorithm from the same entry. */
static int lookup_user(void *arg, struct slice user, enum auth_algo algo,
		       enum auth_cred_slot slot, uint8_t *ha1, size_t cap, size_t *len)
{
	struct lookup_ctx *lc = arg;
	struct server *s = lc->s;
	struct slice hex;

	if (!lookup_once(lc, user))
		return ENOENT;
	if (!lc->e.enabled)
		return EACCES;
	if (strcmp(lc->e.realm, s->site->realm) != 0)
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

	if (!lookup_once(lc, user))
		return 0;
	if (lc->e.ha1_md5[0])
		have |= AUTH_ALGO_BIT(AUTH_ALGO_MD5);
	if (lc->e.ha1_sha256[0])
		have |= AUTH_ALGO_BIT(AUTH_ALGO_SHA256);
	return auth_offer(s->site->srv.algos, (enum auth_digest)lc->e.digest, have);
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
		n = auth_watch_challenged(s->site->watch, ao->offer_user, ao->offer,
					  s->conf.sha256_unanswered);
	else if (ao->action == AUTH_ACT_OK)
		/* with MD5 listed first ([auth] algorithms = MD5,SHA-256) an MD5
		 * answer is what RFC 8760 asks for: no news */
		n = auth_watch_ok(s->site->watch, ao->offer_user, ao->verdict.algo,
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
 * require_client_cert: the peer's certificate read, the verdict into c. */
static void client_cert(struct server *s, const struct server_ctx *x, struct slice user,
			struct auth_step_cert *c)
{
	const char *uris[NET_CERT_MAX_SANS];
	struct net_peer_cert *pc = s->peer_cert;
	struct policy_verdict v;
	struct policy_client_cert_in in = {
		.user = user,
		.domain = slice_cstr(s->conf.domain),
		.over_tls = x->in->tp == NET_TLS,
		.uris = uris,
		.required = true,
	};

	/* EPIPE (the connection closed since) leaves pc empty: no certificate */
	memset(pc, 0, sizeof(*pc));
	if (in.over_tls && net_msg_peer_cert(x->in, pc) == 0 && pc->present) {
		in.present = true;
		in.cn = pc->cn;
		for (size_t i = 0; i < pc->n_uri && i < NET_CERT_MAX_SANS; i++)
			uris[in.n_uri++] = pc->uri[i];
	}
	policy_client_cert(&v, &in);
	*c = (struct auth_step_cert){ true, v.allow, v.status, v.reason, v.event, v.detail };
}

static void authenticate(struct server *s, struct auth_step *v, const struct server_ctx *x,
			 const struct sip_msg *m, bool proxy, struct slice aor, bool lock_applies)
{
	struct lookup_ctx lc = { .s = s };
	struct auth_outcome ao;
	struct auth_step_in in = { .proxy = proxy, .is_register = m->mid == SIP_M_REGISTER };
	int rc;

	nodes_epochs_check(s->epochs, server_now_ms());
	rc = auth_request(&ao, &s->site->srv, m,
			  proxy ? SIP_H_PROXY_AUTHORIZATION : SIP_H_AUTHORIZATION, lookup_user,
			  offer_user, &lc, (uint64_t)time(NULL));
	if (rc) {
		log_error("digest verification failed internally: %s", strerror(rc));
	} else {
		in.ao = &ao;
		watch(s, x, m, &ao);
	}
	if (!rc && ao.action == AUTH_ACT_OK) {
		/* the count was taken: another node must know it (several nodes) */
		nodes_epochs_used(s->epochs, ao.verdict.epoch, ao.verdict.seq, ao.verdict.nc);
		in.locked = lock_applies && server_guard_locked(s, x->in, ao.user);
		if (lc.found) {
			in.entry = (struct auth_step_entry){
				.found = true,
				.user_id = lc.e.user_id,
				.pw_deadline = lc.e.pw_deadline,
				.has_old = lc.e.old_ha1_md5[0] != '\0' || lc.e.old_ha1_sha256[0] != '\0',
				.require_client_cert = lc.e.require_client_cert,
			};
			/* a password rotation's deadline (auth/deadline.c) */
			auth_deadline_check(&in.deadline, in.entry.pw_deadline, in.entry.has_old,
					    ao.old_password, (int64_t)time(NULL));
		}
		if (auth_step_wants_cert(&in))
			client_cert(s, x, ao.user, &in.cert);
	}
	auth_step_decide(v, &in);
	if (v->guard == AUTH_STEP_GUARD_FAILED)
		server_guard_auth_failed(s, x->in, m, v->user, aor, v->guard_known);
	else if (v->guard == AUTH_STEP_GUARD_OK)
		server_guard_auth_ok(s, x->in, v->user, m->mid);
	OPENSSL_cleanse(&lc.e, sizeof(lc.e));
}

void server_authenticate(struct server *s, struct auth_step *v, const struct server_ctx *x,
			 const struct sip_msg *m, bool proxy, struct slice aor)
{
	authenticate(s, v, x, m, proxy, aor, true);
}

void server_authenticate_emergency(struct server *s, struct auth_step *v,
				   const struct server_ctx *x, const struct sip_msg *m,
				   struct slice aor)
{
	authenticate(s, v, x, m, true, aor, false);
}

/* 401 with one WWW-Authenticate (407: Proxy-Authenticate) per algorithm
 * the step offers (auth_challenge_block: the site's order first). */
static void challenge(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		      const struct auth_step *v)
{
	char nonce[AUTH_NONCE_LEN + 1], lines[1024];
	struct auth_challenge_in in = { s->site->order, s->site->n_order, v->offer, v->proxy,
					v->stale, s->site->srv.realm, SLICE_NULL };
	size_t len;

	nodes_epochs_check(s->epochs, server_now_ms());
	if (auth_nonce_make(s->site->key, s->site->nc, (uint64_t)time(NULL), nonce) != 0) {
		server_answer(s, x, m, 500, "Nonce Failure", SLICE_NULL);
		return;
	}
	in.nonce = slice_make(nonce, AUTH_NONCE_LEN);
	(void)auth_challenge_block(lines, sizeof(lines), &len, &in); /* len 0 on failure */
	server_answer(s, x, m, v->status,
		      v->proxy ? "Proxy Authentication Required" : "Unauthorized",
		      slice_make(lines, len));
}

void server_auth_refuse(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			const struct auth_step *v, struct slice aor)
{
	if (v->event)
		server_event(s, v->event, x->in, m, v->user, aor, v->detail, v->status);
	if (v->kind == AUTH_STEP_CHALLENGE)
		challenge(s, x, m, v);
	else
		server_answer(s, x, m, v->status, v->reason, SLICE_NULL);
}

void server_auth_note(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		      const struct auth_step *v, struct slice aor)
{
	if (v->kind == AUTH_STEP_ALLOW && v->event)
		server_event(s, v->event, x->in, m, v->user, aor, v->detail, 0);
}

int server_auth_warning(char *out, size_t cap, const struct server *s,
			const struct auth_step *v)
{
	if (v->kind != AUTH_STEP_ALLOW)
		return 0;
	return auth_deadline_warning(out, cap, slice_cstr(s->conf.domain), v->pw_deadline);
}
