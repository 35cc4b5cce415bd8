/*
 * admin/backup: `bastion backup --to FILE`, `bastion backup verify FILE` and
 * `bastion restore --from FILE --state DIR` (guide, Service Availability >
 * Data Loss: "Backups are encrypted when not under physical control of the
 * organization"; "Backup and recovery processes are tested").
 *
 * What is saved: bastion.conf, a consistent snapshot of the database taken
 * with SQLite's online backup API (safe while the server runs), the nonce
 * key, the TLS certificate, key and CA certificate, the CA key when it is on
 * the server, the key passphrase file when it lives in the state directory,
 * the log checkpoint key, the remote log's certificate, key and CA, the
 * certificates issued to phones (issued/) and the history file. Logs are
 * not: call records are in the database, security events belong on a log
 * server.
 *
 * File format, version 1 (all integers big-endian):
 *   magic "BASTION-BACKUP" 0x00 0x01      16 bytes
 *   scrypt log2(N), r, p                  1 + 1 + 1 bytes, then 1 zero byte
 *   salt                                  16
 *   key check                             16  HMAC-SHA256(check key, label), cut
 *   nonce                                 12
 *   plaintext length                      8
 *   ciphertext (AES-256-GCM)              plaintext length
 *   tag                                   16
 * The 72 header bytes are the additional authenticated data. scrypt turns
 * the passphrase into 64 bytes: the AES key and the check key, so a wrong
 * passphrase is told apart from a file that was altered. The plaintext is
 * an archive: a 4-byte count, then per file a 2-byte name length, the name
 * (relative, no ".." part), a 4-byte mode and an 8-byte length and the
 * bytes.
 *
 * Version 2, encrypted to a public key (`backup --to-public-key PUB`), so
 * the server never holds what decrypts its backups:
 *   magic "BASTION-BACKUP" 0x00 0x02      16 bytes
 *   ephemeral X25519 public key           32
 *   recipient key id                      16  SHA-256(recipient's public key), cut
 *   nonce                                 12
 *   zero                                  4
 *   plaintext length                      8
 *   ciphertext (AES-256-GCM)              plaintext length
 *   tag                                   16
 * The 88 header bytes are the additional authenticated data. The AES key is
 * HKDF-SHA256 (RFC 5869) of the X25519 shared secret of a fresh ephemeral
 * key and the recipient's, salted with both public keys. The key id tells a
 * wrong private key apart from an altered file; the archive is version 1's.
 * The private key (PEM, X25519, encrypted or not) stays off the server: it
 * is needed only to verify or restore.
 *
 * Every refusal (foreign file, truncated, altered, wrong passphrase or key,
 * bad archive) happens before anything is written: restore decrypts and checks
 * the whole file first, then writes into a new directory next to DIR and
 * renames it into place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "../conf/conf.h"
#include "../store/store.h"
#include "internal.h"

#define MAGIC "BASTION-BACKUP\0\1"
#define MAGIC2 "BASTION-BACKUP\0\2"
#define MAGIC_LEN 16
#define HDR_LEN 72
#define HDR2_LEN 88
#define X25519_LEN 32
#define HKDF_INFO "bastion backup v2 AES-256-GCM"
#define TAG_LEN 16
#define CHECK_LABEL "bastion backup key check"

/* ---- archive ------------------------------------------------------------------- */

static int buf_put(struct admin_buf *b, const void *p, size_t n)
{
	if (n > SIZE_MAX - b->len)
		return EOVERFLOW;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *q;
		while (cap < b->len + n) {
			if (cap > SIZE_MAX / 2)
				return EOVERFLOW;
			cap *= 2;
		}
		q = realloc(b->p, cap);
		if (!q)
			return ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static void be_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t be_get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

void admin_buf_free(struct admin_buf *b)
{
	if (b->p)
		OPENSSL_clear_free(b->p, b->cap);
	memset(b, 0, sizeof(*b));
}

int admin_archive_name_ok(const char *name, size_t len)
{
	size_t seg = 0;

	if (len == 0 || len > ADMIN_ARCHIVE_NAME_MAX || name[0] == '/')
		return EINVAL;
	for (size_t i = 0; i <= len; i++) {
		char ch = i < len ? name[i] : '/';
		if (ch == '/') {
			/* no empty, "." or ".." component */
			if (seg == 0 || (seg == 1 && name[i - 1] == '.') ||
			    (seg == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
				return EINVAL;
			seg = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '-' || ch == '_'))
			return EINVAL;
		seg++;
	}
	return 0;
}

int admin_archive_add(struct admin_buf *b, const char *name, uint32_t mode, const uint8_t *data,
		      size_t len)
{
	uint8_t h[14];
	size_t n = strlen(name);
	int rc;

	if (admin_archive_name_ok(name, n) != 0)
		return EINVAL;
	if (b->len == 0 && (rc = buf_put(b, "\0\0\0\0", 4)) != 0)
		return rc;
	be_put(h, n, 2);
	if ((rc = buf_put(b, h, 2)) || (rc = buf_put(b, name, n)))
		return rc;
	be_put(h, mode & 07777, 4);
	be_put(h + 4, len, 8);
	if ((rc = buf_put(b, h, 12)) || (rc = buf_put(b, data, len)))
		return rc;
	be_put(b->p, be_get(b->p, 4) + 1, 4);
	return 0;
}

int admin_archive_walk(const uint8_t *p, size_t len, admin_archive_fn *fn, void *arg)
{
	size_t off = 4;
	uint64_t count;

	if (len < 4)
		return EBADMSG;
	count = be_get(p, 4);
	for (uint64_t i = 0; i < count; i++) {
		char name[ADMIN_ARCHIVE_NAME_MAX + 1];
		uint64_t n, dlen;
		uint32_t mode;
		int rc;

		if (len - off < 2)
			return EBADMSG;
		n = be_get(p + off, 2);
		off += 2;
		if (n > ADMIN_ARCHIVE_NAME_MAX || len - off < n + 12)
			return EBADMSG;
		memcpy(name, p + off, n);
		name[n] = '\0';
		if (admin_archive_name_ok(name, n) != 0)
			return EBADMSG;
		off += n;
		mode = (uint32_t)be_get(p + off, 4);
		dlen = be_get(p + off + 4, 8);
		off += 12;
		if (dlen > len - off)
			return EBADMSG;
		if (fn && (rc = fn(arg, name, mode, p + off, (size_t)dlen)) != 0)
			return rc;
		off += dlen;
	}
	return off == len ? 0 : EBADMSG;
}

/* ---- encryption ------------------------------------------------------------------ */

static int derive(uint8_t key[64], const char *pass, const uint8_t salt[16],
		  const struct admin_kdf *k)
{
	uint64_t n = (uint64_t)1 << k->log2n;
	/* scrypt needs 128 * N * r * p bytes and a little more */
	uint64_t maxmem = 128 * n * k->r * k->p + (1u << 20);

	if (EVP_PBE_scrypt(pass, strlen(pass), salt, 16, n, k->r, k->p, maxmem, key, 64) != 1) {
		ERR_clear_error();
		return ENOMEM;
	}
	return 0;
}

static void key_check(uint8_t out[16], const uint8_t check_key[32])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	HMAC(EVP_sha256(), check_key, 32, (const uint8_t *)CHECK_LABEL, strlen(CHECK_LABEL), md,
	     &len);
	memcpy(out, md, 16);
}

int admin_backup_seal(struct admin_buf *out, const uint8_t *plain, size_t plen,
		      const char *pass, const struct admin_kdf *kdf)
{
	uint8_t hdr[HDR_LEN] = { 0 }, key[64], tag[TAG_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, rc;

	if (kdf->log2n < ADMIN_KDF_LOG2N_MIN || kdf->log2n > ADMIN_KDF_LOG2N_MAX ||
	    kdf->r < 1 || kdf->r > ADMIN_KDF_R_MAX || kdf->p < 1 || kdf->p > ADMIN_KDF_P_MAX ||
	    plen > INT_MAX)
		return EINVAL;
	memcpy(hdr, MAGIC, MAGIC_LEN);
	hdr[16] = (uint8_t)kdf->log2n;
	hdr[17] = (uint8_t)kdf->r;
	hdr[18] = (uint8_t)kdf->p;
	if (RAND_bytes(hdr + 20, 16) != 1 || RAND_bytes(hdr + 52, 12) != 1)
		return EIO;
	if ((rc = derive(key, pass, hdr + 20, kdf)) != 0)
		return rc;
	key_check(hdr + 36, key + 32);
	be_put(hdr + 64, plen, 8);
	out->len = 0;
	if ((rc = buf_put(out, hdr, HDR_LEN)) != 0)
		goto out;
	/* room for the ciphertext, filled in place */
	if ((rc = buf_put(out, plain, plen)) != 0)
		goto out;
	rc = EIO;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, hdr + 52) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, hdr, HDR_LEN) != 1 ||
	    EVP_EncryptUpdate(ctx, out->p + HDR_LEN, &n, plain, (int)plen) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out->p + HDR_LEN + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto out;
	rc = buf_put(out, tag, TAG_LEN);
out:
	if (rc)
		ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* The AES-256-GCM body after a header of hdr_len bytes (authenticated as
 * associated data), its IV at in + iv_off, the tag after the plen bytes: into
 * plain, which must then be a well-formed archive. Both versions end so; on
 * failure plain is freed and why says what was wrong. */
static int open_body(const uint8_t *key, const uint8_t *in, size_t hdr_len, size_t iv_off,
		     size_t plen, struct admin_buf *plain, char *why, size_t cap)
{
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, rc;

	plain->len = 0;
	if ((rc = buf_put(plain, in + hdr_len, plen)) != 0) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	rc = EBADMSG;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, in + iv_off) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, in, (int)hdr_len) != 1 ||
	    EVP_DecryptUpdate(ctx, plain->p, &n, in + hdr_len, (int)plen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
				(void *)(in + hdr_len + plen)) != 1 ||
	    EVP_DecryptFinal_ex(ctx, plain->p + n, &n) != 1) {
		snprintf(why, cap, "altered or corrupted: the authentication tag does not match");
		OPENSSL_cleanse(plain->p, plain->len);
		plain->len = 0;
		goto out;
	}
	rc = admin_archive_walk(plain->p, plain->len, NULL, NULL);
	if (rc)
		snprintf(why, cap, "the archive inside is malformed");
out:
	if (rc)
		admin_buf_free(plain);
	ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int admin_backup_open(struct admin_buf *plain, const uint8_t *in, size_t len, const char *pass,
		      char *why, size_t cap)
{
	uint8_t key[64], check[16];
	struct admin_kdf kdf;
	uint64_t plen;
	int rc;

	if (len < MAGIC_LEN || memcmp(in, MAGIC, MAGIC_LEN - 1) != 0) {
		snprintf(why, cap, "not a Bastion backup (no BASTION-BACKUP header)");
		return ENOTSUP;
	}
	if (in[MAGIC_LEN - 1] != 1) {
		snprintf(why, cap, "backup format version %u%s", in[MAGIC_LEN - 1],
			 in[MAGIC_LEN - 1] == 2 ? ", encrypted to a public key: it takes "
						  "--private-key, not a passphrase"
						: "; this bastion reads versions 1 and 2");
		return ENOTSUP;
	}
	if (len < HDR_LEN + TAG_LEN) {
		snprintf(why, cap, "truncated: %zu bytes, shorter than a header", len);
		return EBADMSG;
	}
	kdf.log2n = in[16];
	kdf.r = in[17];
	kdf.p = in[18];
	if (kdf.log2n < ADMIN_KDF_LOG2N_MIN || kdf.log2n > ADMIN_KDF_LOG2N_MAX || kdf.r < 1 ||
	    kdf.r > ADMIN_KDF_R_MAX || kdf.p < 1 || kdf.p > ADMIN_KDF_P_MAX || in[19] != 0) {
		snprintf(why, cap, "altered: key derivation parameters out of range");
		return EBADMSG;
	}
	plen = be_get(in + 64, 8);
	if (plen != len - HDR_LEN - TAG_LEN) {
		snprintf(why, cap, "%s: the header announces %llu bytes of data, the file has %zu",
			 plen > len - HDR_LEN - TAG_LEN ? "truncated" : "altered or extended",
			 (unsigned long long)plen, len - HDR_LEN - TAG_LEN);
		return EBADMSG;
	}
	if (plen > INT_MAX) {
		snprintf(why, cap, "too large for this bastion (%llu bytes)", (unsigned long long)plen);
		return EOVERFLOW;
	}
	if ((rc = derive(key, pass, in + 20, &kdf)) != 0) {
		snprintf(why, cap, "out of memory deriving the key");
		return rc;
	}
	key_check(check, key + 32);
	if (CRYPTO_memcmp(check, in + 36, 16) != 0) {
		snprintf(why, cap, "wrong passphrase (or a header altered)");
		rc = EACCES;
		goto out;
	}
	rc = open_body(key, in, HDR_LEN, 52, (size_t)plen, plain, why, cap);
out:
	if (rc)
		admin_buf_free(plain);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* ---- encryption to a public key (version 2) ------------------------------------- */

int admin_backup_key_id(uint8_t id[ADMIN_KEY_ID_LEN], EVP_PKEY *k)
{
	uint8_t raw[X25519_LEN], md[32];
	size_t n = sizeof(raw);

	if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_X25519 ||
	    EVP_PKEY_get_raw_public_key(k, raw, &n) != 1 || n != X25519_LEN) {
		ERR_clear_error();
		return EINVAL;
	}
	if (EVP_Digest(raw, n, md, NULL, EVP_sha256(), NULL) != 1) {
		ERR_clear_error();
		return EIO;
	}
	memcpy(id, md, ADMIN_KEY_ID_LEN);
	return 0;
}

/* The AES key of our X25519 key `mine` and the peer's public key: HKDF of
 * the shared secret, salted with eph_pub | recipient_pub. */
static int derive_pub(uint8_t key[32], EVP_PKEY *mine, EVP_PKEY *peer, const uint8_t *eph_pub,
		      const uint8_t *rcpt_pub)
{
	uint8_t secret[X25519_LEN], salt[2 * X25519_LEN];
	size_t slen = sizeof(secret);
	EVP_PKEY_CTX *dc = NULL, *kc = NULL;
	int rc = EIO;

	memcpy(salt, eph_pub, X25519_LEN);
	memcpy(salt + X25519_LEN, rcpt_pub, X25519_LEN);
	/* OpenSSL refuses an all-zero secret (a low-order point) */
	if (!(dc = EVP_PKEY_CTX_new(mine, NULL)) || EVP_PKEY_derive_init(dc) != 1 ||
	    EVP_PKEY_derive_set_peer(dc, peer) != 1 || EVP_PKEY_derive(dc, secret, &slen) != 1 ||
	    slen != sizeof(secret))
		goto out;
	if (!(kc = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL)) || EVP_PKEY_derive_init(kc) != 1 ||
	    EVP_PKEY_CTX_set_hkdf_md(kc, EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_salt(kc, salt, sizeof(salt)) != 1 ||
	    EVP_PKEY_CTX_set1_hkdf_key(kc, secret, (int)slen) != 1 ||
	    EVP_PKEY_CTX_add1_hkdf_info(kc, (const unsigned char *)HKDF_INFO,
					 (int)strlen(HKDF_INFO)) != 1)
		goto out;
	slen = 32;
	if (EVP_PKEY_derive(kc, key, &slen) != 1 || slen != 32)
		goto out;
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_cleanse(secret, sizeof(secret));
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_CTX_free(kc);
	return rc;
}

int admin_backup_seal_pub(struct admin_buf *out, const uint8_t *plain, size_t plen,
			  EVP_PKEY *recipient)
{
	uint8_t hdr[HDR2_LEN] = { 0 }, key[32], tag[TAG_LEN], rpub[X25519_LEN];
	size_t n2 = sizeof(rpub);
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *kg = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, rc;

	if (plen > INT_MAX || (rc = admin_backup_key_id(hdr + 48, recipient)) != 0)
		return EINVAL;
	rc = EIO;
	if (EVP_PKEY_get_raw_public_key(recipient, rpub, &n2) != 1 ||
	    !(kg = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL)) || EVP_PKEY_keygen_init(kg) != 1 ||
	    EVP_PKEY_keygen(kg, &eph) != 1)
		goto out;
	n2 = X25519_LEN;
	memcpy(hdr, MAGIC2, MAGIC_LEN);
	if (EVP_PKEY_get_raw_public_key(eph, hdr + 16, &n2) != 1 || RAND_bytes(hdr + 64, 12) != 1)
		goto out;
	be_put(hdr + 80, plen, 8);
	if ((rc = derive_pub(key, eph, recipient, hdr + 16, rpub)) != 0)
		goto out;
	out->len = 0;
	if ((rc = buf_put(out, hdr, HDR2_LEN)) != 0 || (rc = buf_put(out, plain, plen)) != 0)
		goto out;
	rc = EIO;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, hdr + 64) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, hdr, HDR2_LEN) != 1 ||
	    EVP_EncryptUpdate(ctx, out->p + HDR2_LEN, &n, plain, (int)plen) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out->p + HDR2_LEN + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto out;
	rc = buf_put(out, tag, TAG_LEN);
out:
	ERR_clear_error();
	EVP_CIPHER_CTX_free(ctx);
	EVP_PKEY_CTX_free(kg);
	EVP_PKEY_free(eph);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int admin_backup_open_pub(struct admin_buf *plain, const uint8_t *in, size_t len, EVP_PKEY *priv,
			  char *why, size_t cap)
{
	uint8_t key[32], id[ADMIN_KEY_ID_LEN], rpub[X25519_LEN];
	size_t n2 = sizeof(rpub);
	EVP_PKEY *eph = NULL;
	uint64_t plen;
	int rc;

	if (plain->p) /* empty on every failure, whatever it held */
		OPENSSL_cleanse(plain->p, plain->len);
	plain->len = 0;
	if (len < MAGIC_LEN || memcmp(in, MAGIC2, MAGIC_LEN - 1) != 0) {
		snprintf(why, cap, "not a Bastion backup (no BASTION-BACKUP header)");
		return ENOTSUP;
	}
	if (in[MAGIC_LEN - 1] != 2) {
		snprintf(why, cap, "backup format version %u, not one encrypted to a public key "
			 "(version 2)%s", in[MAGIC_LEN - 1],
			 in[MAGIC_LEN - 1] == 1 ? ": it takes --passphrase-file, not --private-key" : "");
		return ENOTSUP;
	}
	if (len < HDR2_LEN + TAG_LEN) {
		snprintf(why, cap, "truncated: %zu bytes, shorter than a header", len);
		return EBADMSG;
	}
	if (admin_backup_key_id(id, priv) != 0 ||
	    EVP_PKEY_get_raw_public_key(priv, rpub, &n2) != 1) {
		ERR_clear_error();
		snprintf(why, cap, "the private key is not an X25519 key");
		return EINVAL;
	}
	if (CRYPTO_memcmp(id, in + 48, ADMIN_KEY_ID_LEN) != 0) {
		snprintf(why, cap, "wrong private key: the backup was encrypted to another key "
			 "(or its header was altered)");
		return EACCES;
	}
	if (in[76] | in[77] | in[78] | in[79]) {
		snprintf(why, cap, "altered: reserved header bytes are not zero");
		return EBADMSG;
	}
	plen = be_get(in + 80, 8);
	if (plen != len - HDR2_LEN - TAG_LEN) {
		snprintf(why, cap, "%s: the header announces %llu bytes of data, the file has %zu",
			 plen > len - HDR2_LEN - TAG_LEN ? "truncated" : "altered or extended",
			 (unsigned long long)plen, len - HDR2_LEN - TAG_LEN);
		return EBADMSG;
	}
	if (plen > INT_MAX) {
		snprintf(why, cap, "too large for this bastion (%llu bytes)", (unsigned long long)plen);
		return EOVERFLOW;
	}
	eph = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, in + 16, X25519_LEN);
	if (!eph || derive_pub(key, priv, eph, in + 16, rpub) != 0) {
		ERR_clear_error();
		EVP_PKEY_free(eph);
		snprintf(why, cap, "altered: the ephemeral key in the header is not usable");
		return EBADMSG;
	}
	EVP_PKEY_free(eph);
	rc = open_body(key, in, HDR2_LEN, 64, (size_t)plen, plain, why, cap);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* A PEM file holding only an X25519 public key, or why not. */
static EVP_PKEY *read_public_key(const char *path)
{
	char buf[8192];
	size_t n;
	FILE *f = fopen(path, "re");
	BIO *b;
	EVP_PKEY *k;

	if (!f) {
		fprintf(stderr, "bastion: backup: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (strstr(buf, "PRIVATE KEY")) {
		OPENSSL_cleanse(buf, sizeof(buf));
		fprintf(stderr, "bastion: backup: %s holds a private key; give its public half "
				"('openssl pkey -in KEY -pubout -out PUB') and keep the private key off "
				"this server\n", path);
		return NULL;
	}
	b = BIO_new_mem_buf(buf, (int)n);
	k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	ERR_clear_error();
	if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_X25519) {
		fprintf(stderr, "bastion: backup: %s: %s; make one with 'openssl genpkey -algorithm "
				"X25519 -out backup.key' and 'openssl pkey -in backup.key -pubout -out "
				"backup.pub'\n", path,
			k ? "not an X25519 public key" : "not a PEM public key");
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

/* The private key of --private-key (PEM; an encrypted one is unlocked with
 * the first line of pass_file, else the terminal). */
static EVP_PKEY *read_private_key(const char *path, const char *pass_file)
{
	char pass[ADMIN_PW_MAX + 1] = "";
	bool need = false;
	EVP_PKEY *k = NULL;
	int rc;

	if ((pass_file || admin_tls_key_encrypted(path)) &&
	    admin_passphrase_get(pass, sizeof(pass), pass_file, "Private key passphrase: ", false))
		return NULL;
	rc = admin_tls_read_key(&k, path, pass[0] ? pass : NULL, &need);
	OPENSSL_cleanse(pass, sizeof(pass));
	if (rc) {
		fprintf(stderr, "bastion: %s: cannot read the private key: %s\n", path,
			need ? "it is encrypted; give --passphrase-file FILE"
			: rc == EACCES ? "wrong passphrase" : strerror(rc));
		return NULL;
	}
	if (EVP_PKEY_get_id(k) != EVP_PKEY_X25519) {
		fprintf(stderr, "bastion: %s: not an X25519 private key\n", path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

/* ---- files ---------------------------------------------------------------------- */

/* Read a whole regular file (at most ADMIN_BACKUP_MAX bytes) into b. */
static int read_all(struct admin_buf *b, const char *path, uint32_t *mode)
{
	struct stat st;
	uint8_t chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;

	b->len = 0;
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return EINVAL;
	}
	if (mode)
		*mode = (uint32_t)(st.st_mode & 07777);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (b->len + (size_t)n > ADMIN_BACKUP_MAX) {
			rc = EFBIG;
			break;
		}
		if ((rc = buf_put(b, chunk, (size_t)n)) != 0)
			break;
	}
	if (n < 0 && !rc)
		rc = errno;
	OPENSSL_cleanse(chunk, sizeof(chunk));
	close(fd);
	return rc;
}

/* Write data to a new file path, mode, fsync'd. */
static int write_new(const char *path, const uint8_t *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode), rc = 0;
	size_t off = 0;

	if (fd < 0)
		return errno;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n <= 0) {
			rc = n < 0 ? errno : EIO;
			break;
		}
		off += (size_t)n;
	}
	if (!rc && fchmod(fd, mode) != 0)
		rc = errno;
	if (!rc && fsync(fd) != 0)
		rc = errno;
	if (close(fd) != 0 && !rc)
		rc = errno;
	if (rc)
		unlink(path);
	return rc;
}

/* The name a state file gets in the archive: the setting when it is a
 * relative path inside the state, else NULL (not saved). */
static const char *archive_name(const char *setting)
{
	return setting[0] && setting[0] != '/' && admin_archive_name_ok(setting, strlen(setting)) == 0
		       ? setting : NULL;
}

static int add_file(struct admin_buf *ar, const char *state, const char *name, bool required,
		    size_t *nfiles)
{
	char path[4200];
	struct admin_buf b = { 0 };
	uint32_t mode = 0600;
	int rc;

	if (conf_state_path(path, sizeof(path), state, name) != 0)
		return ENAMETOOLONG;
	rc = read_all(&b, path, &mode);
	if (rc == ENOENT && !required) {
		admin_buf_free(&b);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "bastion: backup: %s: %s\n", path, strerror(rc));
		admin_buf_free(&b);
		return rc;
	}
	rc = admin_archive_add(ar, name, mode, b.p, b.len);
	admin_buf_free(&b);
	if (rc)
		fprintf(stderr, "bastion: backup: %s: %s\n", path, strerror(rc));
	else
		(*nfiles)++;
	return rc;
}

/* The history file, with this backup on it (the restored state then knows
 * when its last backup was). */
static int add_history(struct admin_buf *ar, const char *state, size_t *nfiles)
{
	char path[4200], line[64];
	struct admin_buf b = { 0 };
	int n, rc;

	if (conf_state_path(path, sizeof(path), state, STATE_HISTORY_FILE) != 0)
		return ENAMETOOLONG;
	rc = read_all(&b, path, NULL);
	if (rc && rc != ENOENT) {
		fprintf(stderr, "bastion: backup: %s: %s\n", path, strerror(rc));
		admin_buf_free(&b);
		return rc;
	}
	n = snprintf(line, sizeof(line), "%lld %s\n", (long long)time(NULL),
		     admin_hist_name(ADMIN_HIST_BACKUP));
	rc = buf_put(&b, line, (size_t)n);
	if (!rc)
		rc = admin_archive_add(ar, STATE_HISTORY_FILE, 0600, b.p, b.len);
	admin_buf_free(&b);
	if (!rc)
		(*nfiles)++;
	return rc;
}

/* Every file of the state that a restore needs, into ar. */
static int collect(struct admin_buf *ar, const char *state, const struct conf *c, size_t *nfiles)
{
	char db[4200], snap[4300], err[600];
	struct admin_buf b = { 0 };
	const char *name;
	DIR *d;
	int rc;

	if ((rc = add_file(ar, state, CONF_FILE_NAME, true, nfiles)) != 0)
		return rc;
	/* the database: a snapshot through SQLite, never the live file */
	name = archive_name(c->database);
	if (!name) {
		fprintf(stderr, "bastion: backup: [store] database %s is outside the state "
				"directory; only a database inside it can be saved\n", c->database);
		return EINVAL;
	}
	if (conf_state_path(db, sizeof(db), state, c->database) != 0)
		return ENAMETOOLONG;
	snprintf(snap, sizeof(snap), "%s.backup-%ld", db, (long)getpid());
	unlink(snap);
	if ((rc = store_snapshot(db, snap, err, sizeof(err))) != 0) {
		fprintf(stderr, "bastion: backup: snapshot of %s: %s\n", db, err);
		return rc;
	}
	rc = read_all(&b, snap, NULL);
	unlink(snap);
	if (rc == 0)
		rc = admin_archive_add(ar, name, 0600, b.p, b.len);
	admin_buf_free(&b);
	if (rc) {
		fprintf(stderr, "bastion: backup: the database snapshot: %s\n", strerror(rc));
		return rc;
	}
	(*nfiles)++;
	if ((rc = add_file(ar, state, STATE_KEY_FILE, true, nfiles)) != 0)
		return rc;
	if ((rc = add_history(ar, state, nfiles)) != 0)
		return rc;
	/* every key and certificate a setting names: TLS, the log checkpoint key,
	 * the remote log's client pair and CA, the metrics clients' CA */
	const char *tls[] = { c->tls_certificate, c->tls_key, c->tls_ca, STATE_CA_KEY_FILE,
			      c->tls_key_passphrase_file, c->tls_crl, c->log_key,
			      c->remote_ca, c->remote_certificate, c->remote_key,
			      c->metrics_client_ca };
	for (size_t i = 0; i < ARRAY_SIZE(tls); i++) {
		bool seen = false;
		for (size_t k = 0; k < i; k++)
			seen |= strcmp(tls[k], tls[i]) == 0; /* client_ca is ca.crt by default */
		if (!tls[i][0] || seen)
			continue;
		if (!(name = archive_name(tls[i]))) {
			printf("Note: %s is outside the state directory; it is not in the backup.\n",
			       tls[i]);
			continue;
		}
		if ((rc = add_file(ar, state, name, false, nfiles)) != 0)
			return rc;
	}
	/* certificates issued to phones (issued/NAME.crt, .key) */
	if (conf_state_path(db, sizeof(db), state, "issued") == 0 && (d = opendir(db))) {
		struct dirent *e;
		int n = 0;
		while (!rc && (e = readdir(d)) && n++ < 100000) {
			char rel[300];
			if (e->d_name[0] == '.' || strlen(e->d_name) > 200)
				continue;
			snprintf(rel, sizeof(rel), "issued/%s", e->d_name);
			if (admin_archive_name_ok(rel, strlen(rel)) == 0)
				rc = add_file(ar, state, rel, false, nfiles);
		}
		closedir(d);
	}
	return rc;
}

static void kdf_default(struct admin_kdf *k)
{
	k->log2n = ADMIN_KDF_LOG2N;
	k->r = 8;
	k->p = 1;
}

/* The passphrase of a backup: the first line of file, else the terminal. */
static int backup_pass(char *out, size_t cap, const char *file, bool confirm)
{
	char why[200];

	if (admin_passphrase_get(out, cap, file, "Backup passphrase: ", confirm) != 0)
		return 1;
	if (confirm && admin_pw_check(out, NULL, why, sizeof(why)) != 0) {
		fprintf(stderr, "bastion: backup: passphrase refused: %s\n", why);
		return 1;
	}
	return 0;
}

static void hex_id(char out[2 * ADMIN_KEY_ID_LEN + 1], const uint8_t *id)
{
	for (size_t i = 0; i < ADMIN_KEY_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static int cmd_backup_to(const char *state, const char *to, const char *pass_file,
			 const char *pub_file)
{
	char tmp[4200], pass[ADMIN_PW_MAX + 1] = "", idhex[2 * ADMIN_KEY_ID_LEN + 1] = "";
	struct admin_buf ar = { 0 }, out = { 0 };
	struct admin_kdf kdf;
	struct store *s = NULL;
	struct conf c;
	EVP_PKEY *pub = NULL;
	uint8_t id[ADMIN_KEY_ID_LEN];
	size_t nfiles = 0;
	int fd = -1, rc, status = 1;

	if (access(to, F_OK) == 0) {
		fprintf(stderr, "bastion: backup: %s exists; choose a new name (nothing overwritten)\n",
			to);
		return 1;
	}
	if (admin_open_state(&c, &s, state) != 0)
		return 1;
	store_close(&s);
	if (pub_file) {
		if (!(pub = read_public_key(pub_file)) || admin_backup_key_id(id, pub) != 0)
			goto out;
		hex_id(idhex, id);
	} else if (backup_pass(pass, sizeof(pass), pass_file, true) != 0) {
		goto out;
	}
	if (collect(&ar, state, &c, &nfiles) != 0)
		goto out;
	kdf_default(&kdf);
	rc = pub ? admin_backup_seal_pub(&out, ar.p, ar.len, pub)
		 : admin_backup_seal(&out, ar.p, ar.len, pass, &kdf);
	if (rc) {
		fprintf(stderr, "bastion: backup: encryption failed: %s\n", strerror(rc));
		goto out;
	}
	/* atomic: a temporary file in the same directory, mode 0600, renamed */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", to) >= (int)sizeof(tmp)) {
		fprintf(stderr, "bastion: backup: %s: name too long\n", to);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "bastion: backup: cannot create %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	close(fd);
	unlink(tmp);
	if ((rc = write_new(tmp, out.p, out.len, 0600)) != 0 ||
	    (link(tmp, to) != 0 && (rc = errno) != 0)) {
		fprintf(stderr, "bastion: backup: cannot write %s: %s\n", to,
			strerror(rc ? rc : errno));
		unlink(tmp);
		goto out;
	}
	unlink(tmp);
	admin_hist_add(state, ADMIN_HIST_BACKUP, (int64_t)time(NULL));
	if (pub)
		printf("Wrote %s: %zu files of %s (database snapshot, configuration, keys and "
		       "certificates), %zu bytes, AES-256-GCM under a key agreed with the X25519 "
		       "public key %s (key id %s), mode 0600.\n"
		       "This server cannot decrypt it: only that key's private half can. Check it "
		       "where the private key is kept with: bastion backup verify %s --private-key "
		       "KEY\n",
		       to, nfiles, state, out.len, pub_file, idhex, to);
	else
		printf("Wrote %s: %zu files of %s (database snapshot, configuration, keys and "
		       "certificates), %zu bytes, AES-256-GCM, key from the passphrase by scrypt, "
		       "mode 0600.\n"
		       "Check it with: bastion backup verify %s%s%s\n"
		       "Keep the passphrase apart from the backup; without it nothing can be "
		       "restored.\n",
		       to, nfiles, state, out.len, to, pass_file ? " --passphrase-file " : "",
		       pass_file ? pass_file : "");
	status = 0;
out:
	EVP_PKEY_free(pub);
	OPENSSL_cleanse(pass, sizeof(pass));
	admin_buf_free(&ar);
	admin_buf_free(&out);
	return status;
}

/* Read FILE and open it with the passphrase (version 1) or the private key
 * (version 2); prints the reason on failure. */
static int load_backup(struct admin_buf *plain, const char *file, const char *pass_file,
		       const char *priv_file)
{
	char pass[ADMIN_PW_MAX + 1] = "", why[300];
	struct admin_buf raw = { 0 };
	EVP_PKEY *priv = NULL;
	int rc;

	if ((rc = read_all(&raw, file, NULL)) != 0) {
		fprintf(stderr, "bastion: %s: %s\n", file,
			rc == EFBIG ? "larger than a backup can be" : strerror(rc));
		return 1;
	}
	/* a foreign file is refused before asking anything */
	if (raw.len < MAGIC_LEN || memcmp(raw.p, MAGIC, MAGIC_LEN - 1) != 0) {
		fprintf(stderr, "bastion: %s: refused: not a Bastion backup (no BASTION-BACKUP "
				"header); nothing was written\n", file);
		admin_buf_free(&raw);
		return 1;
	}
	if (raw.p[MAGIC_LEN - 1] == 2 && !priv_file) {
		char idhex[2 * ADMIN_KEY_ID_LEN + 1] = "?";
		if (raw.len >= HDR2_LEN)
			hex_id(idhex, raw.p + 48);
		fprintf(stderr, "bastion: %s: refused: it is encrypted to a public key (key id %s); "
				"give --private-key FILE; nothing was written\n", file, idhex);
		admin_buf_free(&raw);
		return 1;
	}
	if (raw.p[MAGIC_LEN - 1] == 1 && priv_file) {
		fprintf(stderr, "bastion: %s: refused: it is encrypted with a passphrase, not to a "
				"public key; give --passphrase-file, not --private-key; nothing was "
				"written\n", file);
		admin_buf_free(&raw);
		return 1;
	}
	if (priv_file) {
		if (!(priv = read_private_key(priv_file, pass_file))) {
			admin_buf_free(&raw);
			return 1;
		}
		rc = admin_backup_open_pub(plain, raw.p, raw.len, priv, why, sizeof(why));
		EVP_PKEY_free(priv);
	} else {
		if (backup_pass(pass, sizeof(pass), pass_file, false) != 0) {
			admin_buf_free(&raw);
			return 1;
		}
		rc = admin_backup_open(plain, raw.p, raw.len, pass, why, sizeof(why));
		OPENSSL_cleanse(pass, sizeof(pass));
	}
	admin_buf_free(&raw);
	if (rc) {
		fprintf(stderr, "bastion: %s: refused: %s; nothing was written\n", file, why);
		return 1;
	}
	return 0;
}

struct verify_ctx {
	const char *tmpdir;
	const char *dbname;
	size_t files;
	uint64_t bytes;
	bool has_conf, has_db, has_key;
	int db_rc;
	char db_err[300];
};

static int on_verify(void *arg, const char *name, uint32_t mode, const uint8_t *data, size_t len)
{
	struct verify_ctx *v = arg;

	v->files++;
	v->bytes += len;
	printf("  %-32s %10zu bytes  mode %04o\n", name, len, (unsigned)mode);
	v->has_conf |= strcmp(name, CONF_FILE_NAME) == 0;
	v->has_key |= strcmp(name, STATE_KEY_FILE) == 0;
	if (v->dbname && strcmp(name, v->dbname) == 0) {
		char path[4200];
		v->has_db = true;
		snprintf(path, sizeof(path), "%s/db", v->tmpdir);
		v->db_rc = write_new(path, data, len, 0600);
		if (!v->db_rc)
			v->db_rc = store_integrity_check(path, v->db_err, sizeof(v->db_err));
		else
			snprintf(v->db_err, sizeof(v->db_err), "%s", strerror(v->db_rc));
		unlink(path);
	}
	return 0;
}

/* The [store] database of the archived bastion.conf. */
static int on_find_conf(void *arg, const char *name, uint32_t mode, const uint8_t *data,
			size_t len)
{
	struct conf *c = arg;
	char path[] = "/tmp/bastion-conf-XXXXXX", err[600];
	int fd;

	(void)mode;
	if (strcmp(name, CONF_FILE_NAME) != 0)
		return 0;
	fd = mkstemp(path);
	if (fd < 0)
		return errno;
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return EIO;
	}
	close(fd);
	fd = conf_load(c, path, err, sizeof(err));
	unlink(path);
	if (fd)
		fprintf(stderr, "bastion: the archived bastion.conf: %s\n", err);
	return fd ? EINVAL : 0;
}

static int cmd_backup_verify(const char *file, const char *pass_file, const char *priv_file)
{
	char tmpdir[] = "/tmp/bastion-verify-XXXXXX";
	struct admin_buf plain = { 0 };
	struct verify_ctx v = { .tmpdir = tmpdir };
	struct conf c;
	int status = 1;

	if (load_backup(&plain, file, pass_file, priv_file) != 0)
		return 1;
	if (admin_archive_walk(plain.p, plain.len, on_find_conf, &c) != 0) {
		fprintf(stderr, "bastion: %s: the archived configuration does not load\n", file);
		goto out;
	}
	v.dbname = archive_name(c.database);
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "bastion: %s: %s\n", tmpdir, strerror(errno));
		goto out;
	}
	printf("%s: authentic (AES-256-GCM tag verified with the %s). Contents:\n", file,
	       priv_file ? "private key" : "passphrase");
	admin_archive_walk(plain.p, plain.len, on_verify, &v);
	rmdir(tmpdir);
	if (!v.has_conf || !v.has_db || !v.has_key) {
		fprintf(stderr, "bastion: %s: incomplete: no %s\n", file,
			!v.has_conf ? CONF_FILE_NAME : !v.has_db ? "database" : STATE_KEY_FILE);
		goto out;
	}
	if (v.db_rc) {
		fprintf(stderr, "bastion: %s: the database snapshot fails SQLite's integrity check: "
				"%s\n", file, v.db_err);
		goto out;
	}
	printf("OK: %zu files, %llu bytes; the database passes SQLite's integrity check.\n"
	       "Restore it with: bastion restore --from %s --state NEW_DIR%s\n",
	       v.files, (unsigned long long)v.bytes, file, priv_file ? " --private-key KEY" : "");
	status = 0;
out:
	admin_buf_free(&plain);
	return status;
}

int admin_cmd_backup(const char *state, int argc, char **argv)
{
	const char *to = NULL, *pass_file = NULL, *file = NULL, *pub = NULL, *priv = NULL;
	bool verify = argc > 1 && strcmp(argv[1], "verify") == 0;

	for (int i = verify ? 2 : 1; i < argc; i++) {
		const char *v;
		if (!verify && (v = admin_opt_value(argc, argv, &i, "--to")))
			to = v;
		else if (!verify && (v = admin_opt_value(argc, argv, &i, "--to-public-key")))
			pub = v;
		else if (verify && (v = admin_opt_value(argc, argv, &i, "--private-key")))
			priv = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--passphrase-file")))
			pass_file = v;
		else if (verify && argv[i][0] != '-' && !file)
			file = argv[i];
		else
			return admin_usage_error("backup", "backup: unexpected argument", argv[i]);
	}
	if (verify)
		return file ? cmd_backup_verify(file, pass_file, priv)
			    : admin_usage_error("backup", "backup verify: which FILE?", NULL);
	if (!to)
		return admin_usage_error("backup", "backup: --to FILE is needed", NULL);
	if (pub && pass_file)
		return admin_usage_error("backup", "backup: --to-public-key and --passphrase-file "
				       "exclude each other (one way to encrypt)", NULL);
	return cmd_backup_to(state, to, pass_file, pub);
}

/* ---- restore -------------------------------------------------------------------- */

struct restore_ctx {
	const char *dir;
	int rc;
	size_t files;
};

static int on_restore(void *arg, const char *name, uint32_t mode, const uint8_t *data, size_t len)
{
	struct restore_ctx *r = arg;
	char path[4400];
	mode_t m = (mode_t)(mode & 0777);

	if (snprintf(path, sizeof(path), "%s/%s", r->dir, name) >= (int)sizeof(path))
		return ENAMETOOLONG;
	/* issued/... : the one sub-directory a state has */
	if (strchr(name, '/')) {
		char sub[4400];
		snprintf(sub, sizeof(sub), "%s/%.*s", r->dir, (int)(strchr(name, '/') - name), name);
		if (strchr(strchr(name, '/') + 1, '/'))
			return EINVAL;
		if (mkdir(sub, 0700) != 0 && errno != EEXIST)
			return errno;
	}
	/* nothing comes back wider than it left, and secrets stay 0600 */
	if ((r->rc = write_new(path, data, len, m & 0644)) != 0) {
		fprintf(stderr, "bastion: restore: %s: %s\n", path, strerror(r->rc));
		return r->rc;
	}
	r->files++;
	return 0;
}

static bool dir_empty_or_absent(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool empty = true;

	if (!d)
		return errno == ENOENT;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

/* rm -r of the directory restore made: files and one level of
 * sub-directories (issued/), never following a link. */
static void remove_tree(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char p[4400];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (depth < 1)
				remove_tree(p, depth + 1);
		} else {
			unlink(p);
		}
	}
	closedir(d);
	rmdir(dir);
}

int admin_cmd_restore(const char *state, int argc, char **argv)
{
	const char *from = NULL, *pass_file = NULL, *priv = NULL;
	char tmp[4300];
	struct admin_buf plain = { 0 };
	struct restore_ctx r = { 0 };
	int status = 1;

	for (int i = 1; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--from")))
			from = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--passphrase-file")))
			pass_file = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--private-key")))
			priv = v;
		else
			return admin_usage_error("restore", "restore: unexpected argument", argv[i]);
	}
	if (!from)
		return admin_usage_error("restore", "restore: --from FILE is needed", NULL);
	if (!dir_empty_or_absent(state)) {
		fprintf(stderr, "bastion: restore: %s is not empty; restore into a new or empty "
				"directory (--state DIR). Nothing was written.\n", state);
		return 1;
	}
	if (load_backup(&plain, from, pass_file, priv) != 0)
		return 1;
	/* everything into a new directory beside DIR, then one rename */
	if (snprintf(tmp, sizeof(tmp), "%s.restore-XXXXXX", state) >= (int)sizeof(tmp) ||
	    !mkdtemp(tmp)) {
		fprintf(stderr, "bastion: restore: cannot create a directory beside %s: %s\n", state,
			strerror(errno));
		goto out;
	}
	chmod(tmp, 0750);
	r.dir = tmp;
	if (admin_archive_walk(plain.p, plain.len, on_restore, &r) != 0) {
		remove_tree(tmp, 0);
		fprintf(stderr, "bastion: restore: %s was not written\n", state);
		goto out;
	}
	if (rename(tmp, state) != 0) {
		fprintf(stderr, "bastion: restore: cannot move %s to %s: %s\n", tmp, state,
			strerror(errno));
		remove_tree(tmp, 0);
		goto out;
	}
	admin_hist_add(state, ADMIN_HIST_RESTORE, (int64_t)time(NULL));
	printf("Restored %zu files from %s into %s.\n"
	       "Check it with 'bastion --state %s audit', then start it with "
	       "'bastion --state %s serve'.\n"
	       "If the old host was compromised, rotate now: 'bastion --state %s rotate "
	       "--server-key --nonce-key --ticket-keys --passwords --out FILE'.\n",
	       r.files, from, state, state, state, state);
	status = 0;
out:
	admin_buf_free(&plain);
	return status;
}
