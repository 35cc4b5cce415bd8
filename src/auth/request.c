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

/* The first Digest credentials whose realm is ours, or false. */
static bool find_credentials(struct sip_auth *a, const struct sip_msg *m, enum sip_hdr_id which,
			     struct slice realm)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, which); h; h = sip_msg_hdr_next(m, h)) {
		struct slice r;

		if (sip_auth_parse(a, h->value) != 0 || !slice_caseeq_cstr(a->scheme, "Digest"))
			continue;
		if (sip_auth_param(a, "realm", &r) && slice_eq(r, realm))
			return true;
	}
	return false;
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

int auth_request(struct auth_outcome *out, const struct auth_server *srv,
		 const struct sip_msg *m, enum sip_hdr_id which, auth_lookup_fn *lookup,
		 void *arg, uint64_t now)
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
	if (!find_credentials(&a, m, which, srv->realm))
		return 0;
	out->had_credentials = true;
	get_params(&p, &a);
	out->user = p.username;

	if (auth_algo_from(&algo, p.algorithm) != 0 || !(srv->algos & AUTH_ALGO_BIT(algo))) {
		out->reason = "algorithm not offered";
		return 0; /* a fresh challenge names the ones we take */
	}
	found = p.username.len && p.username.len <= AUTH_PARAM_MAX
			? lookup(arg, p.username, algo, ha1, sizeof(ha1), &ha1_len)
			: ENOENT;
	if (found == ENODATA && algo == AUTH_ALGO_SHA256 && (srv->algos & AUTH_ALGO_BIT(AUTH_ALGO_MD5))) {
		/* Imported from a server that kept MD5 only: ask for MD5. */
		out->action = AUTH_ACT_MD5_ONLY;
		out->reason = "no SHA-256 credentials for this user";
		return 0;
	}
	out->unknown_user = found == ENOENT || found == ENODATA;
	out->disabled_user = found == EACCES;
	rc = auth_digest_verify(&out->verdict, srv, &p, m->method, m->ruri_raw,
				found == 0 ? ha1 : NULL, found == 0 ? ha1_len : 0, algo, now);
	OPENSSL_cleanse(ha1, sizeof(ha1));
	if (rc)
		return rc;
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
