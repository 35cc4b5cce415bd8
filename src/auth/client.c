/*
 * auth/client.c: the client side of digest (RFC 3261 22.2, RFC 7616, RFC
 * 8760), for a peer that challenges us (a carrier's trunk asking for the
 * account's credentials, docs/trunks.md). Pure: the caller hands in the
 * challenge, the request's method and URI, the credentials and a cnonce.
 *
 * A challenge offering qop=auth is answered with it. A challenge without any
 * qop (a carrier still on RFC 2069) is answered the RFC 2617 3.2.2.1 way,
 * H(HA1:nonce:HA2) with no cnonce or nc: the weakness of that form (no
 * client nonce) is the challenger's to accept, and our password is no more
 * exposed than with qop=auth (the hash is keyed by it either way). A qop
 * list without auth, the -sess algorithms and auth-int are refused; MD5 or
 * SHA-256, as the challenge says. The server side never accepts RFC 2069.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth.h"

/* A challenge parameter we echo inside quotes: printable, no quote or
 * backslash (an escape we would have to reproduce byte for byte). */
static bool echo_ok(struct slice v)
{
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* Does the qop list ("auth,auth-int") offer auth? */
static bool offers_auth(struct slice qop)
{
	struct slice rest = qop, item;

	while (sip_list_next(&item, &rest) == 0)
		if (slice_caseeq(slice_trim(item), SLICE_LIT("auth")))
			return true;
	return false;
}

int auth_client_answer(char *out, size_t cap, size_t *len, struct slice challenge,
		       struct slice method, struct slice uri, struct slice user,
		       struct slice password, struct slice realm_wanted, struct slice cnonce,
		       uint32_t nc)
{
	struct sip_auth a;
	struct slice realm, nonce, opaque = SLICE_NULL, algo_s = SLICE_NULL, qop = SLICE_NULL;
	enum auth_algo algo = AUTH_ALGO_MD5;
	uint8_t ha1[AUTH_HASH_MAX];
	size_t ha1_len = 0;
	char resp[AUTH_HEX_MAX], ncs[9];
	int n, rc;
	bool has_qop;

	if (!out || !len || !cap)
		return EINVAL;
	if (sip_auth_parse(&a, challenge) != 0 || !slice_caseeq(a.scheme, SLICE_LIT("Digest")) ||
	    !sip_auth_param(&a, "realm", &realm) || !sip_auth_param(&a, "nonce", &nonce))
		return EPROTO;
	has_qop = sip_auth_param(&a, "qop", &qop);
	(void)sip_auth_param(&a, "opaque", &opaque);
	(void)sip_auth_param(&a, "algorithm", &algo_s);
	if ((has_qop && !offers_auth(qop)) || auth_algo_from(&algo, algo_s) != 0)
		return EPROTO;
	if (!echo_ok(realm) || !echo_ok(nonce) || !echo_ok(opaque) || !echo_ok(user) ||
	    !echo_ok(uri) || nonce.len == 0 || (has_qop && (!echo_ok(cnonce) || cnonce.len == 0)))
		return EPROTO;
	if (realm_wanted.len && !slice_eq(realm, realm_wanted))
		return EACCES; /* not the realm the credentials are for */
	snprintf(ncs, sizeof(ncs), "%08x", nc);
	rc = auth_ha1(ha1, sizeof(ha1), &ha1_len, algo, user, realm, password);
	if (!rc && has_qop)
		rc = auth_response_hex(resp, sizeof(resp), algo, ha1, ha1_len, method, uri, nonce,
				       slice_cstr(ncs), cnonce, SLICE_LIT("auth"));
	else if (!rc)
		rc = auth_response_noqop_hex(resp, sizeof(resp), algo, ha1, ha1_len, method, uri,
					     nonce);
	OPENSSL_cleanse(ha1, sizeof(ha1));
	if (rc)
		return rc;
	if (!has_qop)
		n = snprintf(out, cap,
			     "Digest username=\"%.*s\", realm=\"%.*s\", nonce=\"%.*s\", uri=\"%.*s\", "
			     "response=\"%s\", algorithm=%s%s%.*s%s",
			     (int)user.len, user.p, (int)realm.len, realm.p, (int)nonce.len,
			     nonce.p, (int)uri.len, uri.p, resp, auth_algo_name(algo),
			     opaque.len ? ", opaque=\"" : "", (int)opaque.len,
			     opaque.p ? opaque.p : "", opaque.len ? "\"" : "");
	else
		n = snprintf(out, cap,
			     "Digest username=\"%.*s\", realm=\"%.*s\", nonce=\"%.*s\", uri=\"%.*s\", "
			     "response=\"%s\", algorithm=%s, cnonce=\"%.*s\", qop=auth, nc=%s%s%.*s%s",
			     (int)user.len, user.p, (int)realm.len, realm.p, (int)nonce.len,
			     nonce.p, (int)uri.len, uri.p, resp, auth_algo_name(algo),
			     (int)cnonce.len, cnonce.p, ncs, opaque.len ? ", opaque=\"" : "",
			     (int)opaque.len, opaque.p ? opaque.p : "", opaque.len ? "\"" : "");
	OPENSSL_cleanse(resp, sizeof(resp));
	if (n < 0 || (size_t)n >= cap)
		return EOVERFLOW;
	*len = (size_t)n;
	return 0;
}
