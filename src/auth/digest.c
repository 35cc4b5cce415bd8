/*
 * Digest maths (RFC 7616 3.4.1 with qop=auth, MD5 and SHA-256) and the
 * verification of one request against the server's state.
 *
 * Hash inputs are fed to EVP piece by piece with ':' between them, so no
 * buffer is built from untrusted lengths. The response is decoded from hex
 * and compared with CRYPTO_memcmp, so timing does not tell how many leading
 * characters were right.
 */
#include "internal.h"

#include <errno.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

size_t auth_algo_len(enum auth_algo a)
{
	switch (a) {
	case AUTH_ALGO_MD5:
		return 16;
	case AUTH_ALGO_SHA256:
		return 32;
	default:
		return 0;
	}
}

const char *auth_algo_name(enum auth_algo a)
{
	switch (a) {
	case AUTH_ALGO_MD5:
		return "MD5";
	case AUTH_ALGO_SHA256:
		return "SHA-256";
	default:
		return NULL;
	}
}

int auth_algo_from(enum auth_algo *out, struct slice s)
{
	if (slice_empty(s) || slice_caseeq_cstr(s, "MD5"))
		*out = AUTH_ALGO_MD5;
	else if (slice_caseeq_cstr(s, "SHA-256"))
		*out = AUTH_ALGO_SHA256;
	else
		return EPROTO;
	return 0;
}

static const EVP_MD *algo_md(enum auth_algo a)
{
	switch (a) {
	case AUTH_ALGO_MD5:
		return EVP_md5();
	case AUTH_ALGO_SHA256:
		return EVP_sha256();
	default:
		return NULL;
	}
}

/* out = H(parts[0] ":" parts[1] ":" ... ), auth_algo_len(a) bytes. */
static int hash_parts(uint8_t *out, enum auth_algo a, const struct slice *parts, size_t n)
{
	const EVP_MD *md = algo_md(a);
	EVP_MD_CTX *ctx;
	unsigned int len = 0;
	int err = EIO;

	if (!md)
		return EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return ENOMEM;
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && EVP_DigestUpdate(ctx, ":", 1) != 1)
			goto out;
		if (parts[i].len && EVP_DigestUpdate(ctx, parts[i].p, parts[i].len) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != auth_algo_len(a))
		goto out;
	err = 0;
out:
	EVP_MD_CTX_free(ctx);
	return err;
}

int auth_hex(char *out, size_t cap, const uint8_t *p, size_t n)
{
	if (!out || cap < 2 * n + 1)
		return EOVERFLOW;
	hex_encode(out, p, n);
	return 0;
}

int auth_ha1(uint8_t *ha1, size_t cap, size_t *len, enum auth_algo algo, struct slice user,
	     struct slice realm, struct slice password)
{
	struct slice parts[3] = { user, realm, password };
	size_t n = auth_algo_len(algo);
	int err;

	if (!ha1 || !len || n == 0)
		return EINVAL;
	if (cap < n)
		return EOVERFLOW;
	err = hash_parts(ha1, algo, parts, 3);
	if (err == 0)
		*len = n;
	return err;
}

/* Binary response into out (auth_algo_len bytes). */
static int response_bin(uint8_t *out, enum auth_algo algo, const uint8_t *ha1, struct slice method,
			struct slice uri, struct slice nonce, struct slice nc, struct slice cnonce,
			struct slice qop)
{
	size_t n = auth_algo_len(algo);
	uint8_t ha2[AUTH_HASH_MAX];
	char ha1x[AUTH_HEX_MAX], ha2x[AUTH_HEX_MAX];
	struct slice a2[2] = { method, uri };
	int err;

	err = hash_parts(ha2, algo, a2, 2);
	if (err)
		goto out;
	auth_hex(ha1x, sizeof(ha1x), ha1, n);
	auth_hex(ha2x, sizeof(ha2x), ha2, n);
	{
		struct slice r[6] = { slice_make(ha1x, 2 * n), nonce, nc, cnonce, qop,
				      slice_make(ha2x, 2 * n) };

		err = hash_parts(out, algo, r, 6);
	}
out:
	OPENSSL_cleanse(ha1x, sizeof(ha1x));
	return err;
}

int auth_response_hex(char *out, size_t cap, enum auth_algo algo, const uint8_t *ha1,
		      size_t ha1_len, struct slice method, struct slice uri, struct slice nonce,
		      struct slice nc, struct slice cnonce, struct slice qop)
{
	size_t n = auth_algo_len(algo);
	uint8_t r[AUTH_HASH_MAX];
	int err;

	if (!out || !ha1 || n == 0 || ha1_len != n)
		return EINVAL;
	if (cap < 2 * n + 1)
		return EOVERFLOW;
	err = response_bin(r, algo, ha1, method, uri, nonce, nc, cnonce, qop);
	if (err)
		return err;
	return auth_hex(out, cap, r, n);
}

int auth_response_noqop_hex(char *out, size_t cap, enum auth_algo algo, const uint8_t *ha1,
			    size_t ha1_len, struct slice method, struct slice uri,
			    struct slice nonce)
{
	size_t n = auth_algo_len(algo);
	uint8_t ha2[AUTH_HASH_MAX], r[AUTH_HASH_MAX];
	char ha1x[AUTH_HEX_MAX], ha2x[AUTH_HEX_MAX];
	struct slice a2[2] = { method, uri };
	int err;

	if (!out || !ha1 || n == 0 || ha1_len != n)
		return EINVAL;
	if (cap < 2 * n + 1)
		return EOVERFLOW;
	err = hash_parts(ha2, algo, a2, 2);
	if (err)
		goto out;
	auth_hex(ha1x, sizeof(ha1x), ha1, n);
	auth_hex(ha2x, sizeof(ha2x), ha2, n);
	{
		/* RFC 2617 3.2.2.1, no qop: H(hex(HA1) ":" nonce ":" hex(HA2)) */
		struct slice rp[3] = { slice_make(ha1x, 2 * n), nonce, slice_make(ha2x, 2 * n) };

		err = hash_parts(r, algo, rp, 3);
	}
	if (!err)
		err = auth_hex(out, cap, r, n);
out:
	OPENSSL_cleanse(ha1x, sizeof(ha1x));
	OPENSSL_cleanse(r, sizeof(r));
	return err;
}

const char *auth_result_name(enum auth_result r)
{
	switch (r) {
	case AUTH_OK:
		return "ok";
	case AUTH_STALE:
		return "stale";
	case AUTH_BAD_NONCE:
		return "bad_nonce";
	case AUTH_REPLAY:
		return "replay";
	case AUTH_WRONG_RESPONSE:
		return "wrong_response";
	case AUTH_BAD_PARAMS:
		return "bad_params";
	case AUTH_URI_MISMATCH:
		return "uri_mismatch";
	}
	return "unknown";
}

static int verdict(struct auth_verdict *out, enum auth_result r, const char *reason)
{
	out->result = r;
	out->reason = reason;
	return 0;
}

/* A parameter a client must send: present, bounded, no control bytes. */
static bool param_ok(struct slice s)
{
	if (!s.p || s.len == 0 || s.len > AUTH_PARAM_MAX)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

int auth_digest_verify(struct auth_verdict *out, const struct auth_server *srv,
		       const struct auth_params *p, struct slice method, struct slice request_uri,
		       const uint8_t *ha1, size_t ha1_len, enum auth_algo ha1_algo, uint64_t now)
{
	/* Stands in for the HA1 of an unknown user, so that the work done is
	 * the same as for a known one. */
	static const uint8_t dummy_ha1[AUTH_HASH_MAX];
	enum auth_nonce_status ns;
	enum auth_epoch_kind kind = AUTH_EPOCH_NONE; /* NONE here: the running epoch */
	const uint8_t *key;
	enum auth_algo algo;
	uint8_t want[AUTH_HASH_MAX], got[AUTH_HASH_MAX];
	size_t n;
	int err, diff;

	if (!out)
		return EINVAL;
	memset(out, 0, sizeof(*out));
	out->result = AUTH_BAD_PARAMS;
	out->reason = "internal error";
	if (!srv || !p || !srv->key || !srv->nc)
		return EINVAL;
	if (ha1 && ha1_len != auth_algo_len(ha1_algo))
		return EINVAL;

	/* Parameters. */
	if (!param_ok(p->username))
		return verdict(out, AUTH_BAD_PARAMS, "username missing or invalid");
	if (!param_ok(p->realm) || !slice_eq(p->realm, srv->realm))
		return verdict(out, AUTH_BAD_PARAMS, "realm missing or not ours");
	if (!param_ok(p->nonce))
		return verdict(out, AUTH_BAD_PARAMS, "nonce missing");
	if (!param_ok(p->uri))
		return verdict(out, AUTH_BAD_PARAMS, "uri missing or invalid");
	if (!param_ok(p->response))
		return verdict(out, AUTH_BAD_PARAMS, "response missing");
	if (p->algorithm.len > AUTH_PARAM_MAX || auth_algo_from(&algo, p->algorithm) != 0)
		return verdict(out, AUTH_BAD_PARAMS, "algorithm not supported");
	out->algo = algo;
	if (!(srv->algos & AUTH_ALGO_BIT(algo)))
		return verdict(out, AUTH_BAD_PARAMS, "algorithm not allowed");
	if (ha1 && ha1_algo != algo)
		return verdict(out, AUTH_BAD_PARAMS, "HA1 for another algorithm");
	if (slice_empty(p->qop))
		return verdict(out, AUTH_BAD_PARAMS, "qop missing (RFC 2069 digest refused)");
	if (!slice_caseeq_cstr(p->qop, "auth"))
		return verdict(out, AUTH_BAD_PARAMS, "qop other than auth");
	if (!param_ok(p->cnonce))
		return verdict(out, AUTH_BAD_PARAMS, "cnonce missing or invalid");
	if (auth_nc_parse(&out->nc, p->nc) != 0)
		return verdict(out, AUTH_BAD_PARAMS, "nc missing or not 8 hex digits");
	if (!slice_empty(srv->opaque) && !slice_eq(p->opaque, srv->opaque))
		return verdict(out, AUTH_BAD_PARAMS, "opaque not echoed");
	n = auth_algo_len(algo);
	if (!hex_decode(got, n, p->response))
		return verdict(out, AUTH_BAD_PARAMS, "response not hex of the right length");

	/* The uri must be the request's. */
	if (!auth_uri_match(p->uri, request_uri, srv->uri_mode, srv->own_addrs, srv->n_own_addrs))
		return verdict(out, AUTH_URI_MISMATCH, "digest uri does not match Request-URI");

	/* The nonce must be ours: of the running epoch, or of one we know. */
	if (auth_nonce_id(&out->epoch, &out->seq, p->nonce) != 0)
		return verdict(out, AUTH_BAD_NONCE, "nonce not issued by us");
	key = srv->key;
	if (out->epoch != auth_nc_table_epoch(srv->nc)) {
		kind = auth_epochs_find(srv->others, out->epoch, &key);
		if (kind == AUTH_EPOCH_NONE)
			return verdict(out, AUTH_BAD_NONCE, "nonce not issued by us");
	}
	ns = auth_nonce_check(key, p->nonce, now, srv->nonce_lifetime_s, &out->nonce_age);
	if (ns == AUTH_NONCE_BAD)
		return verdict(out, AUTH_BAD_NONCE, "nonce not issued by us");

	/* The response must be right. */
	err = response_bin(want, algo, ha1 ? ha1 : dummy_ha1, method, p->uri, p->nonce, p->nc,
			   p->cnonce, p->qop);
	if (err)
		return err;
	diff = CRYPTO_memcmp(want, got, n);
	if (diff != 0 || !ha1)
		return verdict(out, AUTH_WRONG_RESPONSE, "wrong response");

	/* Then freshness and replay. */
	if (ns == AUTH_NONCE_STALE)
		return verdict(out, AUTH_STALE, "nonce expired");
	if (kind == AUTH_EPOCH_KNOWN)
		return verdict(out, AUTH_STALE, "nonce of another node, which keeps its counts");
	switch (kind == AUTH_EPOCH_HELD ? auth_epochs_use(srv->others, out->epoch, out->seq, out->nc)
					: auth_nc_use_seq(srv->nc, out->seq, out->nc)) {
	case AUTH_NC_OK:
		return verdict(out, AUTH_OK, "ok");
	case AUTH_NC_REPLAY:
		return verdict(out, AUTH_REPLAY, "nonce-count not increasing");
	case AUTH_NC_UNKNOWN:
		break;
	}
	return verdict(out, AUTH_STALE, "nonce forgotten by the replay table");
}
