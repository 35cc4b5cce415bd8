/*
 * Server nonces and the challenge header value.
 *
 * A nonce is 36 bytes: the creation time (big-endian seconds), the epoch
 * of the table that issued it (big-endian, see below), the sequence number
 * that table issued for it (big-endian), and the first 16 bytes of
 * HMAC-SHA256 over a domain label, the time, the epoch and the sequence
 * number, keyed with the epoch's key. The sequence number is what lets the
 * replay table remember every recent nonce exactly in 2 bits (replay.c);
 * the key is derived afresh for each run (and each epoch), so the nonce
 * needs no random bytes to be unpredictable or unique. The epoch names the
 * key and the nonce-count state that answers for the nonce: this node's, or,
 * with several nodes, the one another node held before it died (epochs.c,
 * docs/scaling.md). It is sent as 48 characters of unpadded base64url,
 * which is fixed-length, safe inside a quoted-string, and decoded here in
 * canonical form only, so one nonce has exactly one spelling.
 */
#include "internal.h"

#include <errno.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define NONCE_BODY 20 /* time 8 | epoch 4 | sequence 8: what the tag covers */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char nonce_label[] = "bastion-nonce-3";

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* 36 bytes -> 48 characters, 6 bits each, none left over. */
static void b64_encode(char out[AUTH_NONCE_LEN + 1], const uint8_t in[AUTH_NONCE_RAW])
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < AUTH_NONCE_RAW; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64url[(acc >> bits) & 63];
		}
	}
	out[o] = '\0';
}

int auth_nonce_decode(struct auth_nonce_raw *raw, struct slice nonce)
{
	uint8_t b[AUTH_NONCE_RAW];
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	if (nonce.len != AUTH_NONCE_LEN || !nonce.p)
		return EBADMSG;
	for (size_t i = 0; i < nonce.len; i++) {
		int v = b64_val((unsigned char)nonce.p[i]);

		if (v < 0)
			return EBADMSG;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			b[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* 48 * 6 = 288 bits = 36 bytes: no bits left over, so one spelling. */
	if (o != AUTH_NONCE_RAW || bits != 0)
		return EBADMSG;

	raw->created = 0;
	for (int i = 0; i < 8; i++)
		raw->created = (raw->created << 8) | b[i];
	raw->epoch = 0;
	for (int i = 8; i < 12; i++)
		raw->epoch = (raw->epoch << 8) | b[i];
	raw->seq = 0;
	for (int i = 12; i < NONCE_BODY; i++)
		raw->seq = (raw->seq << 8) | b[i];
	memcpy(raw->tag, b + NONCE_BODY, AUTH_NONCE_TAG);
	return 0;
}

int auth_nonce_id(uint32_t *epoch, uint64_t *seq, struct slice nonce)
{
	struct auth_nonce_raw raw;

	if (!epoch || !seq || auth_nonce_decode(&raw, nonce) != 0)
		return EBADMSG;
	*epoch = raw.epoch;
	*seq = raw.seq;
	return 0;
}

/*
 * HMAC-SHA256 keyed once: fetching the algorithm and setting the key cost
 * more than hashing 31 bytes, and every REGISTER and INVITE makes or checks
 * a nonce. The context is kept for the last key used (one loop thread; a
 * different key, as in the tests, re-keys it) and re-initialised per use.
 */
static EVP_MAC_CTX *mac_ctx;
static uint8_t mac_key[AUTH_KEY_LEN];

static EVP_MAC_CTX *keyed_mac(const uint8_t key[AUTH_KEY_LEN])
{
	if (mac_ctx && CRYPTO_memcmp(mac_key, key, AUTH_KEY_LEN) == 0)
		return EVP_MAC_init(mac_ctx, NULL, 0, NULL) ? mac_ctx : NULL;
	if (!mac_ctx) {
		EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		mac_ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
		EVP_MAC_free(mac);
		if (!mac_ctx)
			return NULL;
	}
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (!EVP_MAC_init(mac_ctx, key, AUTH_KEY_LEN, params)) {
		OPENSSL_cleanse(mac_key, sizeof(mac_key));
		return NULL;
	}
	memcpy(mac_key, key, AUTH_KEY_LEN);
	return mac_ctx;
}

static int nonce_tag(uint8_t tag[AUTH_NONCE_TAG], const uint8_t key[AUTH_KEY_LEN],
		     const uint8_t body[NONCE_BODY])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;
	EVP_MAC_CTX *ctx = keyed_mac(key);

	if (!ctx || !EVP_MAC_update(ctx, (const uint8_t *)nonce_label, sizeof(nonce_label) - 1) ||
	    !EVP_MAC_update(ctx, body, NONCE_BODY) || !EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) ||
	    mdlen < 32)
		return EIO;
	memcpy(tag, md, AUTH_NONCE_TAG);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void put_body(uint8_t b[NONCE_BODY], uint64_t created, uint32_t epoch, uint64_t seq)
{
	put_be64(b, created);
	for (int i = 0; i < 4; i++)
		b[8 + i] = (uint8_t)(epoch >> (24 - 8 * i));
	put_be64(b + 12, seq);
}

int auth_nonce_make(const uint8_t key[AUTH_KEY_LEN], struct auth_nc_table *t, uint64_t now,
		    char out[AUTH_NONCE_LEN + 1])
{
	uint8_t b[AUTH_NONCE_RAW];
	int err;

	if (!key || !t || !out)
		return EINVAL;
	put_body(b, now, auth_nc_table_epoch(t), auth_nc_issue(t));
	err = nonce_tag(b + NONCE_BODY, key, b);
	if (err)
		return err;
	b64_encode(out, b);
	return 0;
}

enum auth_nonce_status auth_nonce_check(const uint8_t key[AUTH_KEY_LEN], struct slice nonce,
					uint64_t now, uint32_t lifetime_s, uint64_t *age)
{
	struct auth_nonce_raw raw;
	uint8_t body[NONCE_BODY], tag[AUTH_NONCE_TAG];
	uint64_t a;

	if (!key || auth_nonce_decode(&raw, nonce) != 0)
		return AUTH_NONCE_BAD;
	put_body(body, raw.created, raw.epoch, raw.seq);
	if (nonce_tag(tag, key, body) != 0 || CRYPTO_memcmp(tag, raw.tag, AUTH_NONCE_TAG) != 0)
		return AUTH_NONCE_BAD;
	if (raw.created > now && raw.created - now > AUTH_NONCE_SKEW_S)
		return AUTH_NONCE_BAD;
	a = raw.created > now ? 0 : now - raw.created;
	if (age)
		*age = a;
	return a > lifetime_s ? AUTH_NONCE_STALE : AUTH_NONCE_OK;
}

/* Safe inside a quoted-string without escaping: no '"', '\\', controls. */
static bool quotable(struct slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

int auth_challenge_write(char *buf, size_t cap, size_t *len, struct slice realm,
			 struct slice nonce, enum auth_algo algo, bool stale, struct slice opaque)
{
	const char *an = auth_algo_name(algo);
	struct sip_buf b;

	if (!buf || !an || slice_empty(realm) || slice_empty(nonce) || !quotable(realm) ||
	    !quotable(nonce) || !quotable(opaque) || realm.len > AUTH_PARAM_MAX ||
	    nonce.len > AUTH_PARAM_MAX || opaque.len > AUTH_PARAM_MAX)
		return EINVAL;
	if (cap == 0)
		return EOVERFLOW;
	/* piece by piece: snprintf cost about 4,800 instructions a challenge */
	sip_buf_init(&b, buf, cap - 1); /* the last byte for the NUL */
	sip_buf_str(&b, "Digest realm=\"");
	sip_buf_slice(&b, realm);
	sip_buf_str(&b, "\", nonce=\"");
	sip_buf_slice(&b, nonce);
	sip_buf_str(&b, "\", algorithm=");
	sip_buf_str(&b, an);
	sip_buf_str(&b, ", qop=\"auth\"");
	if (opaque.len) {
		sip_buf_str(&b, ", opaque=\"");
		sip_buf_slice(&b, opaque);
		sip_buf_str(&b, "\"");
	}
	if (stale)
		sip_buf_str(&b, ", stale=true");
	if (b.overflow) {
		buf[0] = '\0';
		return EOVERFLOW;
	}
	buf[b.len] = '\0';
	if (len)
		*len = b.len;
	return 0;
}
