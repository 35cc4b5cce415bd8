/*
 * auth/request.c: authenticate a SIP request. Picks the Digest credentials
 * for our realm out of the request, gets the user's HA1 from the caller's
 * lookup (the in-memory cache), verifies, and turns the verdict into what the
 * request path must do: challenge, challenge stale, fail, or proceed.
 *
 * Unknown and disabled users run through the same verification with no HA1
 * (auth_digest_verify then does the same work against a stand-in and refuses),
 * so the answer and its cost are those of a wrong password.
 */
#include "auth.h"

#include <errno.h>
#include <openssl/crypto.h>

/* The header of the first Digest credentials whose realm is ours, or NULL. */
static const struct sip_hdr *find_credentials(struct sip_auth *a, const struct sip_msg *m,
					      enum sip_hdr_id which, struct slice realm)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, which); h; h = sip_msg_hdr_next(m, h)) {
		struct slice r;

		if (sip_auth_parse(a, h->value) != 0 || !slice_caseeq_cstr(a->scheme, "Digest"))
			continue;
		if (sip_auth_param(a, "realm", &r) && slice_eq(r, realm))
			return h;
	}
	return NULL;
}

/* The digest parameters, in one pass over the credentials. */
static void get_params(struct auth_params *p, const struct sip_auth *a)
{
	static const struct {
		const char *name;
		size_t off;
	} names[] = {
		{ "username", offsetof(struct auth_params, username) },
		{ "realm", offsetof(struct auth_params, realm) },
		{ "nonce", offsetof(struct auth_params, nonce) },
		{ "uri", offsetof(struct auth_params, uri) },
		{ "response", offsetof(struct auth_params, response) },
		{ "algorithm", offsetof(struct auth_params, algorithm) },
		{ "cnonce", offsetof(struct auth_params, cnonce) },
		{ "nc", offsetof(struct auth_params, nc) },
		{ "qop", offsetof(struct auth_params, qop) },
		{ "opaque", offsetof(struct auth_params, opaque) },
	};
	struct slice rest = a->params, name, value;
	unsigned seen = 0;

	memset(p, 0, sizeof(*p));
	while (sip_auth_param_next(&rest, &name, &value)) {
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			/* the first occurrence counts, as with sip_auth_param */
			if (!(seen & (1u << i)) && slice_caseeq_cstr(name, names[i].name)) {
				*(struct slice *)(void *)((char *)p + names[i].off) = value;
				seen |= 1u << i;
				break;
			}
		}
	}
}

const char *auth_digest_name(enum auth_digest d)
{
	switch (d) {
	case AUTH_DIGEST_SITE:
		return "site";
	case AUTH_DIGEST_MD5:
		return "md5";
	case AUTH_DIGEST_SHA256:
		return "sha256";
	case AUTH_DIGEST_BOTH:
		return "both";
	}
	return NULL;
}

int auth_digest_from(enum auth_digest *out, struct slice s)
{
	static const enum auth_digest all[] = { AUTH_DIGEST_SITE, AUTH_DIGEST_MD5,
						AUTH_DIGEST_SHA256, AUTH_DIGEST_BOTH };

	if (!out)
		return EINVAL;
	if (slice_caseeq_cstr(s, "default")) {
		*out = AUTH_DIGEST_SITE;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		if (slice_caseeq_cstr(s, auth_digest_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	}
	return EINVAL;
}

unsigned auth_offer(unsigned site, enum auth_digest pref, unsigned have)
{
	const unsigned known = AUTH_ALGO_BIT(AUTH_ALGO_MD5) | AUTH_ALGO_BIT(AUTH_ALGO_SHA256);
	unsigned want;

	site &= known;
	switch (pref) {
	case AUTH_DIGEST_MD5:
		want = AUTH_ALGO_BIT(AUTH_ALGO_MD5);
		break;
	case AUTH_DIGEST_SHA256:
		want = AUTH_ALGO_BIT(AUTH_ALGO_SHA256);
		break;
	case AUTH_DIGEST_BOTH:
		want = known;
		break;
	case AUTH_DIGEST_SITE:
	default:
		want = site;
		break;
	}
	want &= have;
	return want ? want : site;
}

/* The user name a challenge is for when the request carries no credentials:
 * the To user of a REGISTER (the AOR being registered), else the From user
 * (the caller). Empty when the header did not parse. */
static struct slice challenge_user(const struct sip_msg *m, enum sip_hdr_id which)
{
	if (which == SIP_H_AUTHORIZATION)
		return (m->have & SIP_HAVE_TO) ? m->to.uri.user : SLICE_NULL;
	return (m->have & SIP_HAVE_FROM) ? m->from.uri.user : SLICE_NULL;
}

/* The offer for `user`: its own, else (unknown, no name, no callback) the
 * site's. */
static unsigned offer_for(const struct auth_server *srv, auth_offer_fn *offer, void *arg,
			  struct slice user, bool *known)
{
	unsigned o = offer && user.len && user.len <= AUTH_PARAM_MAX ? offer(arg, user) : 0;

	*known = o != 0;
	return o ? o : srv->algos;
}

int auth_request(struct auth_outcome *out, const struct auth_server *srv,
		 const struct sip_msg *m, enum sip_hdr_id which, auth_lookup_fn *lookup,
		 auth_offer_fn *offer, void *arg, uint64_t now)
{
	uint8_t ha1[AUTH_HASH_MAX];
	size_t ha1_len = 0;
	struct auth_params p;
	struct sip_auth a;
	enum auth_algo algo;
	int rc, found;

	memset(out, 0, sizeof(*out));
	out->action = AUTH_ACT_CHALLENGE;
	out->reason = "no credentials";
	out->offer = srv->algos;
	if (!(out->credentials = find_credentials(&a, m, which, srv->realm))) {
		out->offer_user = challenge_user(m, which);
		out->offer = offer_for(srv, offer, arg, out->offer_user, &out->offer_known);
		return 0;
	}
	out->had_credentials = true;
	get_params(&p, &a);
	out->user = p.username;
	out->offer_user = p.username;
	out->offer = offer_for(srv, offer, arg, p.username, &out->offer_known);

	if (auth_algo_from(&algo, p.algorithm) != 0 || !(out->offer & AUTH_ALGO_BIT(algo))) {
		out->reason = "algorithm not offered";
		return 0; /* a fresh challenge names the ones we take */
	}
	found = p.username.len && p.username.len <= AUTH_PARAM_MAX
			? lookup(arg, p.username, algo, AUTH_CRED_CURRENT, ha1, sizeof(ha1), &ha1_len)
			: ENOENT;
	out->unknown_user = found == ENOENT || found == ENODATA;
	out->disabled_user = found == EACCES;
	rc = auth_digest_verify(&out->verdict, srv, &p, m->method, m->ruri_raw,
				found == 0 ? ha1 : NULL, found == 0 ? ha1_len : 0, algo, now);
	OPENSSL_cleanse(ha1, sizeof(ha1));
	if (rc)
		return rc;
	if (out->verdict.result == AUTH_WRONG_RESPONSE) {
		/* the password a rotation replaced, until its deadline (the
		 * caller checks it); the same work whether there is one or not */
		struct auth_verdict v2;
		int old = found == 0 ? lookup(arg, p.username, algo, AUTH_CRED_OLD, ha1, sizeof(ha1),
					      &ha1_len)
				     : ENOENT;

		rc = auth_digest_verify(&v2, srv, &p, m->method, m->ruri_raw, old == 0 ? ha1 : NULL,
					old == 0 ? ha1_len : 0, algo, now);
		OPENSSL_cleanse(ha1, sizeof(ha1));
		if (rc)
			return rc;
		if (old == 0 && v2.result != AUTH_WRONG_RESPONSE) {
			out->verdict = v2;
			out->old_password = true;
		}
	}
	out->reason = out->verdict.reason;
	switch (out->verdict.result) {
	case AUTH_OK:
		out->action = found == 0 ? AUTH_ACT_OK : AUTH_ACT_FAIL;
		break;
	case AUTH_STALE:
		out->action = found == 0 ? AUTH_ACT_STALE : AUTH_ACT_FAIL;
		break;
	case AUTH_WRONG_RESPONSE:
	case AUTH_URI_MISMATCH:
		out->action = AUTH_ACT_FAIL;
		break;
	case AUTH_BAD_NONCE:
	case AUTH_REPLAY:
	case AUTH_BAD_PARAMS:
		out->action = AUTH_ACT_CHALLENGE;
		break;
	}
	if (out->unknown_user && out->action == AUTH_ACT_FAIL)
		out->reason = "unknown user";
	else if (out->disabled_user && out->action == AUTH_ACT_FAIL)
		out->reason = "user disabled";
	return 0;
}
