/*
 * server/register.c: the REGISTER path. Every REGISTER is challenged and
 * verified (guide, Access Control for IPT Clients > Authentication and
 * Authorization: phones authenticate with HTTP digest); the authenticated
 * user must own the address of record it registers (Cookbook: registration
 * cloning; a valid user registering another's AOR is a hijack: 403 and an
 * event); only users in the store exist (guide: Automatic Registration of End
 * Points: none). Unknown users get the same challenge and the same 403 as a
 * wrong password, so SIPVicious svwar cannot enumerate extensions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/crypto.h>

#include "internal.h"

/* auth_lookup_fn over the credential cache (no SQL on this path). */
int server_lookup_user(void *arg, struct slice user, enum auth_algo algo, uint8_t *ha1,
		       size_t cap, size_t *len)
{
	struct server *s = arg;
	struct store_cache_entry e;
	int rc;

	if (store_cache_lookup(s->cache, &e, user, slice_cstr(s->conf.domain)) != 0)
		return ENOENT;
	if (!e.enabled)
		rc = EACCES;
	else if (strcmp(e.realm, s->realm) != 0)
		rc = ENOENT; /* HA1 made for another realm cannot verify here */
	else {
		struct slice hex = slice_cstr(algo == AUTH_ALGO_SHA256 ? e.ha1_sha256 : e.ha1_md5);
		*len = hex.len / 2;
		rc = hex.len == 0 ? ENODATA
				  : *len > cap || !hex_decode(ha1, *len, hex) ? EINVAL : 0;
	}
	OPENSSL_cleanse(&e, sizeof(e));
	return rc;
}

unsigned server_offer_user(void *arg, struct slice user)
{
	struct server *s = arg;
	struct store_cache_entry e;
	unsigned have = 0, offer;

	if (store_cache_lookup(s->cache, &e, user, slice_cstr(s->conf.domain)) != 0)
		return 0;
	if (e.ha1_md5[0])
		have |= AUTH_ALGO_BIT(AUTH_ALGO_MD5);
	if (e.ha1_sha256[0])
		have |= AUTH_ALGO_BIT(AUTH_ALGO_SHA256);
	offer = auth_offer(s->auth.algos, (enum auth_digest)e.digest, have);
	OPENSSL_cleanse(&e, sizeof(e));
	return offer;
}

void server_auth_watch(struct server *s, const struct net_msg *in, const struct sip_msg *m,
		       const struct auth_outcome *ao)
{
	enum auth_watch_note n = AUTH_WATCH_NONE;

	if (!ao->offer_known)
		return; /* only known users: names a scanner sends are not tracked */
	if (ao->action == AUTH_ACT_CHALLENGE)
		n = auth_watch_challenged(s->watch, ao->offer_user, ao->offer,
					  s->conf.sha256_unanswered);
	else if (ao->action == AUTH_ACT_OK)
		n = auth_watch_ok(s->watch, ao->offer_user, ao->verdict.algo, ao->offer);
	if (n == AUTH_WATCH_SHA256_UNANSWERED)
		server_event(s, "auth.sha256_unanswered", in, m, ao->offer_user, SLICE_NULL,
			     "the device never answered a SHA-256 challenge: if it is an MD5-only "
			     "phone, set the user to md5 (bastion user set, docs/users.md)",
			     0);
	else if (n == AUTH_WATCH_MD5_ANSWER)
		server_event(s, "auth.md5_answer", in, m, ao->offer_user, SLICE_NULL,
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

/* 401 with one WWW-Authenticate (407: Proxy-Authenticate) per offered
 * algorithm: in the order of [auth] algorithms (SHA-256 first by default,
 * RFC 8760 2.4), then any the site does not list (a user's own setting),
 * SHA-256 first. */
void server_challenge(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		      bool proxy, bool stale, unsigned offer)
{
	char nonce[AUTH_NONCE_LEN + 1], lines[1024], value[512];
	struct sip_buf b;
	int order[4];
	size_t len, n = conf_algorithms(&s->conf, order, 2);

	order[n++] = AUTH_ALGO_SHA256;
	order[n++] = AUTH_ALGO_MD5;

	if (auth_nonce_make(s->key, (uint64_t)time(NULL), nonce) != 0) {
		server_answer(s, x, m, 500, "Nonce Failure", SLICE_NULL);
		return;
	}
	sip_buf_init(&b, lines, sizeof(lines));
	for (size_t i = 0; i < n; i++) {
		unsigned bit = AUTH_ALGO_BIT((enum auth_algo)order[i]);

		if (!(offer & bit))
			continue;
		offer &= ~bit; /* each once */
		if (auth_challenge_write(value, sizeof(value), &len, s->auth.realm, slice_cstr(nonce),
					 (enum auth_algo)order[i], stale, SLICE_NULL) != 0)
			continue;
		sip_buf_str(&b, proxy ? "Proxy-Authenticate: " : "WWW-Authenticate: ");
		sip_buf_put(&b, value, len);
		sip_buf_str(&b, "\r\n");
	}
	server_answer(s, x, m, proxy ? 407 : 401,
		      proxy ? "Proxy Authentication Required" : "Unauthorized",
		      slice_make(b.p, b.overflow ? 0 : b.len));
}

/* Does a Supported or Require header of m list option tag `tag`? */
static bool lists_option(const struct sip_msg *m, const char *tag)
{
	static const enum sip_hdr_id ids[] = { SIP_H_SUPPORTED, SIP_H_REQUIRE };

	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		for (const struct sip_hdr *h = sip_msg_hdr(m, ids[i]); h;
		     h = sip_msg_hdr_next(m, h)) {
			struct slice rest = h->value, item;

			while (sip_list_next(&item, &rest) == 0)
				if (slice_caseeq_cstr(item, tag))
					return true;
		}
	}
	return false;
}

/* RFC 5626 6: a 2xx to a REGISTER that asked for outbound and bound a flow
 * (a reg-id) says Require: outbound, and how often to send keep-alives. */
static void outbound_headers(const struct server *s, const struct sip_msg *m,
			     const struct registrar_result *res, struct sip_buf *b)
{
	uint32_t ft = s->conf.flow_timer;

	if (!res->outbound_reg || !lists_option(m, "outbound"))
		return;
	sip_buf_str(b, "Require: outbound\r\n");
	if (ft == 0)
		return;
	if (ft >= s->conf.idle_timeout)
		ft = s->conf.idle_timeout / 2 ? s->conf.idle_timeout / 2 : 1; /* before we cut it */
	sip_buf_str(b, "Flow-Timer: ");
	sip_buf_u32(b, ft);
	sip_buf_str(b, "\r\n");
}

bool server_host_is_ours(const struct server *s, struct slice host)
{
	if (slice_caseeq_cstr(host, s->conf.domain))
		return true;
	for (size_t i = 0; i < s->n_own; i++)
		if (slice_caseeq_cstr(host, s->own_host[i]))
			return true;
	return false;
}

void server_register(struct server *s, const struct server_ctx *x, const struct sip_msg *m)
{
	const struct net_msg *in = x->in;
	struct auth_outcome ao;
	struct store_cache_entry e;
	struct registrar_req rq;
	struct registrar_result res;
	const struct sip_uri *to = &m->to.uri;
	char aor[STORE_URI_MAX], contacts[8192];
	struct sip_buf b;
	int n, rc;

	/* RFC 3261 10.3 step 1: a domain we serve. */
	if (!server_host_is_ours(s, m->ruri.host)) {
		server_answer(s, x, m, 403, "Domain Not Served Here", SLICE_NULL);
		return;
	}
	if ((to->scheme != SIP_SCHEME_SIP && to->scheme != SIP_SCHEME_SIPS) || to->user.len == 0 ||
	    !server_host_is_ours(s, to->host)) {
		server_answer(s, x, m, 403, "Address of Record Not Served Here", SLICE_NULL);
		return;
	}
	rc = auth_request(&ao, &s->auth, m, SIP_H_AUTHORIZATION, server_lookup_user,
			  server_offer_user, s, (uint64_t)time(NULL));
	if (rc) {
		log_error("digest verification failed internally: %s", strerror(rc));
		server_answer(s, x, m, 500, "Authentication Failure", SLICE_NULL);
		return;
	}
	server_auth_watch(s, in, m, &ao);
	switch (ao.action) {
	case AUTH_ACT_CHALLENGE:
		if (ao.had_credentials && ao.verdict.result == AUTH_REPLAY)
			server_event(s, "auth.replay", in, m, ao.user, to->raw, ao.reason, 401);
		else if (ao.had_credentials && ao.verdict.result == AUTH_BAD_NONCE)
			server_event(s, "auth.bad_nonce", in, m, ao.user, to->raw, ao.reason, 401);
		server_challenge(s, x, m, false, false, ao.offer);
		return;
	case AUTH_ACT_STALE:
		server_challenge(s, x, m, false, true, ao.offer);
		return;
	case AUTH_ACT_FAIL:
		server_event(s, ao.unknown_user ? "register.unknown_user" : "auth.failure", in, m,
			     ao.user, to->raw, ao.reason, 403);
		if (ao.verdict.result == AUTH_WRONG_RESPONSE)
			server_guard_auth_failed(s, in, m, ao.user, to->raw, !ao.unknown_user);
		server_answer(s, x, m, 403, "Forbidden", SLICE_NULL);
		return;
	case AUTH_ACT_OK:
		break;
	}
	/* A locked user is refused from anywhere but its last good address,
	 * right password or not, exactly like a wrong one (docs/guard.md). */
	if (server_guard_locked(s, in, ao.user)) {
		server_event(s, "auth.failure", in, m, ao.user, to->raw, "user locked", 403);
		server_guard_auth_failed(s, in, m, ao.user, to->raw, true);
		server_answer(s, x, m, 403, "Forbidden", SLICE_NULL);
		return;
	}
	/* A user bound to its client certificate registers only with it
	 * (per-user mutual TLS); before auth_ok, so that a refused source does
	 * not become the user's last good address. */
	if (!server_client_cert_ok(s, x, m, ao.user, to->raw))
		return;
	server_guard_auth_ok(s, in, ao.user, SIP_M_REGISTER);
	/* The authenticated user must own the AOR (registration hijacking). */
	if (!slice_eq(ao.user, to->user)) {
		server_event(s, "register.hijack", in, m, ao.user, to->raw,
			     "authenticated user does not own the address of record", 403);
		server_answer(s, x, m, 403, "Forbidden", SLICE_NULL);
		return;
	}
	if (store_cache_lookup(s->cache, &e, ao.user, slice_cstr(s->conf.domain)) != 0) {
		server_answer(s, x, m, 403, "Forbidden", SLICE_NULL); /* deleted meanwhile */
		return;
	}
	n = snprintf(aor, sizeof(aor), "sip:%.*s@%s", (int)to->user.len, to->user.p,
		     s->conf.domain);
	if (n < 0 || (size_t)n >= sizeof(aor)) {
		server_answer(s, x, m, 400, "Address of Record Too Long", SLICE_NULL);
		return;
	}
	rq = (struct registrar_req){ m, slice_make(aor, (size_t)n), e.user_id, in,
				     (int64_t)time(NULL) };
	rc = registrar_register(s->reg, &rq, &res);
	if (rc)
		log_error("registration of %s not stored: %s", aor, strerror(rc));
	sip_buf_init(&b, contacts, sizeof(contacts));
	if (res.status == 200) {
		registrar_print_contacts(s->reg, rq.aor, rq.now, &b);
		outbound_headers(s, m, &res, &b);
		/* a binding added or removed is an event; a refresh of what is
		 * there already (every phone, every few minutes) is not */
		if (res.added || res.removed)
			server_event(s, "register.ok", in, m, ao.user, rq.aor,
				     res.added && res.removed ? "replaced"
				     : res.added	      ? "registered"
							      : "unregistered",
				     200);
	} else if (res.status == 423) {
		sip_buf_str(&b, "Min-Expires: ");
		sip_buf_u32(&b, res.min_expires);
		sip_buf_str(&b, "\r\n");
	} else if (res.status == 503) {
		sip_buf_str(&b, "Retry-After: 60\r\n");
	}
	server_answer(s, x, m, res.status, res.reason, slice_make(b.p, b.overflow ? 0 : b.len));
}
