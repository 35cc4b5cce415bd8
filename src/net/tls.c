/*
 * tls: the TLS stream transport (OpenSSL 3), the server context it uses,
 * session ticket keys, client certificate names, and the library guard.
 *
 * A TLS connection is a TCP connection whose net_stream_ops pump bytes
 * through SSL_read/SSL_write: tcp.c does the rest (framing, deadlines, caps,
 * buffer bounds), so TLS cannot get a looser rule than TCP by accident.
 * SSL_ERROR_WANT_READ/WANT_WRITE become EAGAIN, with rd_wants_out /
 * wr_wants_in telling the loop which readiness the retry waits for. The
 * handshake runs inside the first reads; until it finishes the connection
 * sits on the loop's partial list, so header_timeout bounds it as it bounds
 * a started message.
 *
 * The context allows TLS 1.2 and 1.3 only; for 1.2 ECDHE with AES-GCM or
 * ChaCha20-Poly1305 only (forward secrecy, AEAD: no RSA key exchange, no
 * CBC, no RC4, no 3DES, no export or anonymous suites), for 1.3 its three
 * standard AEAD suites; no compression (CRIME), no renegotiation, no 0-RTT
 * data. There is no server-side session cache: resumption is by stateless
 * session tickets, encrypted under a key that rotates every
 * ticket_lifetime (the previous key still decrypts for one more period, and
 * its tickets are re-issued), generated in memory at start and never
 * written anywhere, and renewed outright when the certificate is reloaded.
 *
 * A reload builds a whole new SSL_CTX and only then swaps it in; each SSL
 * holds a reference on the context it was made from, so connections that
 * are open keep working on the old certificate until they close.
 *
 * Outbound connections (net_connect) use a client context built at the
 * same time from the same policy: the peer's chain is verified against the
 * peer CAs, and a verify callback refuses, before any byte of ours is
 * sent, a leaf certificate that does not name the host dialled (RFC 5922
 * 7.1: SIP URI or DNS subjectAltName, no wildcards, CN only without
 * subjectAltName).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "internal.h"

/* TLS 1.2: ECDHE key exchange, AEAD ciphers only (ECDSA and RSA
 * certificates). The order is the server's (SSL_OP_CIPHER_SERVER_PREFERENCE),
 * with ChaCha20 moved up for clients that prefer it (no AES hardware). */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* TLS 1.3: the standard suites, all AEAD with ephemeral key exchange. */
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:P-256:P-384"
#define TLS_VERIFY_DEPTH 4
#define TLS_SESSION_ID_CTX "bastion-sip"

struct net_tls {
	SSL_CTX *ctx;                   /* for new connections */
	SSL_CTX *client_ctx;            /* for outbound connections (net_connect) */
	struct net_tls_keys keys;       /* shared by every context of this loop */
};

/* ---- session ticket keys ----------------------------------------------------- */

int net_tls_keys_rotate(struct net_tls_keys *k, uint64_t now_ms, bool renew)
{
	struct net_tls_ticket_key fresh;

	if (RAND_bytes(fresh.name, sizeof(fresh.name)) != 1 ||
	    RAND_bytes(fresh.aes, sizeof(fresh.aes)) != 1 ||
	    RAND_bytes(fresh.hmac, sizeof(fresh.hmac)) != 1) {
		OPENSSL_cleanse(&fresh, sizeof(fresh));
		return EIO;
	}
	fresh.set = true;
	if (renew)
		OPENSSL_cleanse(&k->prev, sizeof(k->prev));
	else
		k->prev = k->cur;
	k->cur = fresh;
	OPENSSL_cleanse(&fresh, sizeof(fresh));
	k->next_rotate_ms = now_ms + k->period_ms;
	return 0;
}

int net_tls_keys_find(const struct net_tls_keys *k, const unsigned char *name,
		      const struct net_tls_ticket_key **out)
{
	if (k->cur.set && CRYPTO_memcmp(k->cur.name, name, NET_TLS_TICKET_NAME_LEN) == 0) {
		*out = &k->cur;
		return 1;
	}
	if (k->prev.set && CRYPTO_memcmp(k->prev.name, name, NET_TLS_TICKET_NAME_LEN) == 0) {
		*out = &k->prev;
		return 2;
	}
	return 0;
}

/* OpenSSL's ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb): encrypt
 * new tickets under the current key; decrypt under the current (1) or the
 * previous key (2: valid, but issue a fresh ticket); 0 for an unknown key
 * (a full handshake follows); -1 on an error. */
static int ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
		     EVP_MAC_CTX *hctx, int enc)
{
	const struct net_tls_keys *k = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const struct net_tls_ticket_key *key = NULL;
	OSSL_PARAM params[3];
	int found = 1;

	if (!k)
		return enc ? 0 : -1;
	if (enc) {
		if (!k->cur.set)
			return 0; /* no ticket */
		key = &k->cur;
		memcpy(name, key->name, NET_TLS_TICKET_NAME_LEN);
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
			return -1;
	} else {
		found = net_tls_keys_find(k, name, &key);
		if (!found)
			return 0;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key->hmac,
						      sizeof(key->hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, params))
		return -1;
	if (enc)
		return EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, key->aes, iv) == 1 ? 1 : -1;
	if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, key->aes, iv) != 1)
		return -1;
	return found;
}

void net_tls_tick(struct net *n)
{
	struct net_tls_keys *k = &n->tls->keys;

	if (k->period_ms && n->now_ms >= k->next_rotate_ms)
		(void)net_tls_keys_rotate(k, n->now_ms, false); /* on failure: retry next time */
}

/* ---- building a context -------------------------------------------------------- */

/* The OpenSSL error queue as text after `what`, into err; clears the queue. */
static void ssl_err(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_peek_last_error();
	char reason[256] = "";

	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(err, errlen, "%s%s%s%s%s", file ? file : "", file ? ": " : "", what,
		 e ? ": " : "", reason);
}

struct pass_ctx {
	const char *pass;
	bool asked;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_ctx *p = u;
	size_t len;

	(void)rwflag;
	p->asked = true;
	if (!p->pass)
		return -1;
	len = strlen(p->pass);
	if (size < 0 || len > (size_t)size)
		return -1;
	memcpy(buf, p->pass, len);
	return (int)len;
}

/* The first line of the passphrase file, which others must not read. */
static int read_passphrase(char *out, size_t cap, const char *path, char *err, size_t errlen)
{
	struct stat st;
	ssize_t r;
	size_t n = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(rc));
		return rc;
	}
	if (fstat(fd, &st) != 0 || (st.st_mode & S_IRWXO)) {
		rc = EACCES;
		snprintf(err, errlen, "%s: passphrase file readable by others; chmod 600 it", path);
		goto out;
	}
	while (n + 1 < cap && (r = read(fd, out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (!*out) {
		rc = EINVAL;
		snprintf(err, errlen, "%s: empty passphrase", path);
	}
out:
	close(fd);
	return rc;
}

/* Read the private key; refuse one whose file others may read. */
static int load_key(EVP_PKEY **out, const struct net_tls_conf *conf, char *err, size_t errlen)
{
	struct pass_ctx pc = { conf->passphrase, false };
	struct stat st;
	EVP_PKEY *key;
	BIO *b;

	if (stat(conf->key_file, &st) != 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", conf->key_file, strerror(e));
		return e == ENOENT ? EINVAL : e;
	}
	if (st.st_mode & S_IRWXO) {
		snprintf(err, errlen, "%s: private key readable by others (mode %04o); chmod 600 it",
			 conf->key_file, (unsigned)(st.st_mode & 07777));
		return EACCES;
	}
	b = BIO_new_file(conf->key_file, "r");
	if (!b) {
		ssl_err(err, errlen, "cannot open the private key", conf->key_file);
		return EINVAL;
	}
	key = PEM_read_bio_PrivateKey(b, NULL, pass_cb, &pc);
	BIO_free(b);
	if (!key) {
		if (pc.asked && !conf->passphrase) {
			ERR_clear_error();
			snprintf(err, errlen,
				 "%s: the private key is encrypted and no passphrase is configured "
				 "([tls] key_passphrase_file)",
				 conf->key_file);
		} else {
			ssl_err(err, errlen,
				pc.asked ? "cannot decrypt the private key (wrong passphrase?)"
					 : "not a PEM private key",
				conf->key_file);
		}
		return EINVAL;
	}
	*out = key;
	return 0;
}

/* The certificate must be valid now: an expired one would fail every
 * client, silently, until someone looks. */
static int check_validity(SSL_CTX *ctx, const char *file, char *err, size_t errlen)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);

	if (!x) {
		snprintf(err, errlen, "%s: no certificate", file);
		return EINVAL;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
		snprintf(err, errlen, "%s: certificate not valid yet (check the clock)", file);
		return EINVAL;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		snprintf(err, errlen, "%s: certificate expired", file);
		return EINVAL;
	}
	return 0;
}

/* Everything but the files: versions, suites, options, tickets (keys NULL:
 * a client context, without tickets). */
static int ctx_policy(SSL_CTX *ctx, const struct net_tls_conf *conf, struct net_tls_keys *keys,
		      char *err, size_t errlen)
{
	uint64_t opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
			SSL_OP_IGNORE_UNEXPECTED_EOF;

	if (conf->ticket_lifetime_s == 0 || !keys)
		opts |= SSL_OP_NO_TICKET;
	SSL_CTX_set_security_level(ctx, 2);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1 ||
	    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)TLS_SESSION_ID_CTX,
					   sizeof(TLS_SESSION_ID_CTX) - 1) != 1 ||
	    SSL_CTX_set_max_early_data(ctx, 0) != 1) {
		ssl_err(err, errlen, "TLS policy", NULL);
		return EINVAL;
	}
	SSL_CTX_set_options(ctx, opts);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!keys)
		return 0;
	if (conf->ticket_lifetime_s) {
		SSL_CTX_set_timeout(ctx, (long)conf->ticket_lifetime_s);
		SSL_CTX_set_num_tickets(ctx, 1);
		SSL_CTX_set_app_data(ctx, keys);
		if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1) {
			ssl_err(err, errlen, "session tickets", NULL);
			return EINVAL;
		}
	} else {
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	return 0;
}

/* Ask clients for a certificate that chains to ca_file. */
static int ctx_verify(SSL_CTX *ctx, const struct net_tls_conf *conf, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names;
	int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;

	if (conf->verify == NET_TLS_VERIFY_NONE) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	if (!conf->ca_file || !*conf->ca_file) {
		snprintf(err, errlen, "verifying client certificates needs a CA file ([tls] ca)");
		return EINVAL;
	}
	if (SSL_CTX_load_verify_locations(ctx, conf->ca_file, NULL) != 1) {
		ssl_err(err, errlen, "cannot load the CA certificates", conf->ca_file);
		return EINVAL;
	}
	names = SSL_load_client_CA_file(conf->ca_file);
	if (!names) {
		ssl_err(err, errlen, "no CA certificate", conf->ca_file);
		return EINVAL;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	/* revoked client certificates: checked for the leaf when a list is given */
	if (conf->crl_file && *conf->crl_file) {
		X509_STORE *st = SSL_CTX_get_cert_store(ctx);
		X509_LOOKUP *lk = st ? X509_STORE_add_lookup(st, X509_LOOKUP_file()) : NULL;
		if (!lk || X509_load_crl_file(lk, conf->crl_file, X509_FILETYPE_PEM) < 1 ||
		    X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK) != 1) {
			ssl_err(err, errlen, "cannot load the revocation list", conf->crl_file);
			return EINVAL;
		}
	}
	if (conf->verify == NET_TLS_VERIFY_REQUIRE)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, mode, NULL);
	SSL_CTX_set_verify_depth(ctx, TLS_VERIFY_DEPTH);
	return 0;
}

/* The peer's certificate at depth 0 must name the host we dialled. */
static int client_verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	const struct net_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;

	if (!ok || X509_STORE_CTX_get_error_depth(xs) != 0)
		return ok;
	if (!c || !c->peer_name || !net_tls_name_matches(X509_STORE_CTX_get_current_cert(xs),
							  c->peer_name)) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_HOSTNAME_MISMATCH);
		return 0;
	}
	return 1;
}

/* The context of outbound connections: the same versions and suites, the
 * server's certificate for mutual TLS, peers verified for chain and name. */
static int client_ctx_new(SSL_CTX **out, const struct net_tls_conf *conf, EVP_PKEY *key,
			  char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int rc;

	if (!ctx) {
		ssl_err(err, errlen, "SSL_CTX_new", NULL);
		return ENOMEM;
	}
	if ((rc = ctx_policy(ctx, conf, NULL, err, errlen)) != 0)
		goto fail;
	rc = EINVAL;
	if (conf->peer_ca_file ? SSL_CTX_load_verify_locations(ctx, conf->peer_ca_file, NULL) != 1
			       : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		ssl_err(err, errlen, "cannot load the CAs of TLS peers", conf->peer_ca_file);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		ssl_err(err, errlen, "client certificate", conf->cert_file);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, client_verify_cb);
	SSL_CTX_set_verify_depth(ctx, TLS_VERIFY_DEPTH);
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return rc;
}

static int load(struct net *n, const struct net_tls_conf *conf, char *err, size_t errlen)
{
	SSL_CTX *client = NULL;
	struct net_tls *t = n->tls;
	bool fresh = false;
	EVP_PKEY *key = NULL;
	SSL_CTX *ctx = NULL;
	int rc;

	if (errlen)
		err[0] = '\0';
	if (!conf || !conf->cert_file || !conf->key_file) {
		snprintf(err, errlen, "no certificate or key file given");
		return EINVAL;
	}
	ERR_clear_error();
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t) {
			snprintf(err, errlen, "out of memory");
			return ENOMEM;
		}
		fresh = true;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		rc = ENOMEM;
		ssl_err(err, errlen, "SSL_CTX_new", NULL);
		goto fail;
	}
	if ((rc = ctx_policy(ctx, conf, &t->keys, err, errlen)) != 0)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->cert_file) != 1) {
		rc = EINVAL;
		ssl_err(err, errlen, "cannot use the certificate", conf->cert_file);
		goto fail;
	}
	if ((rc = check_validity(ctx, conf->cert_file, err, errlen)) != 0 ||
	    (rc = load_key(&key, conf, err, errlen)) != 0)
		goto fail;
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		rc = EINVAL;
		ssl_err(err, errlen, "the private key does not match the certificate (or is too weak)",
			conf->key_file);
		goto fail;
	}
	if ((rc = ctx_verify(ctx, conf, err, errlen)) != 0 ||
	    (rc = client_ctx_new(&client, conf, key, err, errlen)) != 0)
		goto fail;
	/* Committed: fresh ticket keys, the new contexts for new connections. */
	t->keys.period_ms = conf->ticket_lifetime_s * 1000u;
	if ((rc = net_tls_keys_rotate(&t->keys, net_now_ms(), true)) != 0) {
		snprintf(err, errlen, "session ticket keys: no random bytes");
		goto fail;
	}
	SSL_CTX_free(t->ctx);
	SSL_CTX_free(t->client_ctx);
	t->ctx = ctx;
	t->client_ctx = client;
	n->tls = t;
	EVP_PKEY_free(key);
	return 0;
fail:
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	SSL_CTX_free(client);
	if (fresh)
		free(t);
	ERR_clear_error();
	return rc;
}

int net_tls_load(struct net *n, const struct net_tls_conf *conf, char *err, size_t errlen)
{
	char pass[NET_TLS_PASSPHRASE_MAX];
	struct net_tls_conf c;
	int rc;

	if (!conf || !conf->passphrase_file)
		return load(n, conf, err, errlen);
	c = *conf;
	if ((rc = read_passphrase(pass, sizeof(pass), conf->passphrase_file, err, errlen)) == 0) {
		c.passphrase = pass;
		rc = load(n, &c, err, errlen);
	}
	OPENSSL_cleanse(pass, sizeof(pass));
	return rc;
}

void net_tls_free(struct net *n)
{
	struct net_tls *t = n->tls;

	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	SSL_CTX_free(t->client_ctx);
	OPENSSL_cleanse(&t->keys, sizeof(t->keys));
	free(t);
	n->tls = NULL;
}

void net_tls_describe(const struct net *n, char *buf, size_t cap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char subject[256], fp[3 * 8 + 1], until[64] = "?";
	X509 *x = n->tls ? SSL_CTX_get0_certificate(n->tls->ctx) : NULL;
	BIO *b;

	if (!x) {
		snprintf(buf, cap, "none");
		return;
	}
	X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
	b = BIO_new(BIO_s_mem());
	if (b && ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1) {
		int l = BIO_read(b, until, (int)sizeof(until) - 1);
		until[l > 0 ? l : 0] = '\0';
	}
	BIO_free(b);
	fp[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1)
		for (unsigned i = 0; i < 8 && i < mdlen; i++)
			snprintf(fp + 3 * i, sizeof(fp) - 3 * i, "%02X%s", md[i], i < 7 ? ":" : "");
	snprintf(buf, cap, "%s, valid until %s, SHA-256 %s...", subject, until, fp);
}

/* ---- connections ------------------------------------------------------------- */

static void handshake_done(struct net *n, struct net_conn *c)
{
	c->tls_done = true;
	n->st.tls_handshakes++;
	if (SSL_session_reused(c->ssl))
		n->st.tls_resumed++;
	/* The handshake deadline is over; a message deadline starts with
	 * the first byte of a message (conn_process). */
	if (c->in_len == 0)
		net_link_del(&c->partial);
}

/* A fatal error: count it while handshaking; no close_notify after it. */
static void tls_fatal(struct net *n, struct net_conn *c)
{
	if (!c->tls_done)
		n->st.tls_handshake_failed++;
	if (c->peer_name && SSL_get_verify_result(c->ssl) != X509_V_OK) {
		long v = SSL_get_verify_result(c->ssl);
		n->st.tls_peer_refused++;
		n->last_refusal.addr = c->peer;
		snprintf(n->last_refusal.name, sizeof(n->last_refusal.name), "%s", c->peer_name);
		snprintf(n->last_refusal.why, sizeof(n->last_refusal.why), "%s",
			 X509_verify_cert_error_string(v));
	}
	SSL_set_quiet_shutdown(c->ssl, 1);
	ERR_clear_error();
}

static ssize_t tls_read(struct net *n, struct net_conn *c, void *buf, size_t len)
{
	size_t got = 0;
	int rc, e, sys;

	ERR_clear_error();
	errno = 0;
	rc = SSL_read_ex(c->ssl, buf, len, &got);
	sys = errno;
	if (!c->tls_done && SSL_is_init_finished(c->ssl))
		handshake_done(n, c);
	if (rc == 1)
		return (ssize_t)got;
	switch ((e = SSL_get_error(c->ssl, rc))) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		c->rd_wants_out = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN: /* close_notify, or EOF (IGNORE_UNEXPECTED_EOF) */
		if (!c->tls_done)
			n->st.tls_handshake_failed++;
		return 0;
	default:
		tls_fatal(n, c);
		errno = e == SSL_ERROR_SYSCALL && sys ? sys : EPROTO;
		return -1;
	}
}

static ssize_t tls_write(struct net *n, struct net_conn *c, const void *buf, size_t len)
{
	size_t put = 0;
	int rc, e, sys;

	ERR_clear_error();
	errno = 0;
	rc = SSL_write_ex(c->ssl, buf, len, &put);
	sys = errno;
	if (rc == 1)
		return (ssize_t)put;
	switch ((e = SSL_get_error(c->ssl, rc))) {
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_READ:
		c->wr_wants_in = true;
		errno = EAGAIN;
		return -1;
	default:
		tls_fatal(n, c);
		errno = e == SSL_ERROR_SYSCALL && sys ? sys : EPIPE;
		return -1;
	}
}

static void tls_close(struct net *n, struct net_conn *c)
{
	(void)n;
	if (!c->ssl)
		return;
	if (c->tls_done) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl); /* one close_notify, never waited for */
	}
	SSL_free(c->ssl);
	c->ssl = NULL;
	free(c->peer_name);
	c->peer_name = NULL;
	ERR_clear_error();
}

static size_t tls_pending(const struct net_conn *c)
{
	int p = c->ssl ? SSL_pending(c->ssl) : 0;

	return p > 0 ? (size_t)p : 0;
}

static const struct net_stream_ops tls_ops = {
	.tp = NET_TLS, .read = tls_read, .write = tls_write, .close = tls_close,
	.pending = tls_pending
};

int net_tls_conn_start(struct net *n, struct net_conn *c)
{
	SSL *ssl;

	if (!n->tls || !n->tls->ctx)
		return EINVAL;
	ssl = SSL_new(n->tls->ctx);
	if (!ssl) {
		ERR_clear_error();
		return ENOMEM;
	}
	if (SSL_set_fd(ssl, c->io.fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return ENOMEM;
	}
	SSL_set_accept_state(ssl);
	c->ssl = ssl;
	c->ops = &tls_ops;
	c->tls_done = false;
	/* The handshake deadline: header_timeout from now. */
	c->msg_start_ms = n->now_ms;
	net_link_tail(&n->partial, &c->partial);
	return 0;
}

static bool is_ip_literal(const char *h)
{
	unsigned char b[16];

	return inet_pton(AF_INET, h, b) == 1 || inet_pton(AF_INET6, h, b) == 1;
}

int net_tls_client_start(struct net *n, struct net_conn *c, const char *host)
{
	SSL *ssl;

	if (!n->tls || !n->tls->client_ctx)
		return EINVAL;
	c->peer_name = strdup(host);
	ssl = c->peer_name ? SSL_new(n->tls->client_ctx) : NULL;
	if (!ssl || SSL_set_fd(ssl, c->io.fd) != 1 ||
	    (!is_ip_literal(host) && SSL_set_tlsext_host_name(ssl, host) != 1)) {
		SSL_free(ssl);
		free(c->peer_name);
		c->peer_name = NULL;
		ERR_clear_error();
		return ENOMEM;
	}
	SSL_set_connect_state(ssl);
	SSL_set_app_data(ssl, c);
	c->ssl = ssl;
	c->ops = &tls_ops;
	c->tls_done = false;
	return 0;
}

/* RFC 5922 7.1, see net_connect. */
bool net_tls_name_matches(const struct x509_st *x, const char *host)
{
	size_t hl = strlen(host);
	GENERAL_NAMES *gens;
	bool any = false, match = false;

	if (hl == 0 || strchr(host, '*'))
		return false;
	if (is_ip_literal(host)) {
		match = X509_check_ip_asc((X509 *)(uintptr_t)x, host, 0) == 1;
		ERR_clear_error();
		return match;
	}
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && !match; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *p;
		size_t len, skip;

		if (g->type == GEN_DNS) {
			p = ASN1_STRING_get0_data(g->d.dNSName);
			len = (size_t)ASN1_STRING_length(g->d.dNSName);
			skip = 0;
		} else if (g->type == GEN_URI) {
			p = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
			len = (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier);
			if (len > 4 && strncasecmp((const char *)p, "sip:", 4) == 0)
				skip = 4;
			else if (len > 5 && strncasecmp((const char *)p, "sips:", 5) == 0)
				skip = 5;
			else {
				any = true; /* a subjectAltName: the CN no longer counts */
				continue;
			}
		} else {
			continue;
		}
		any = true;
		match = len - skip == hl && strncasecmp((const char *)p + skip, host, hl) == 0 &&
			!memchr(p + skip, '\0', hl);
	}
	GENERAL_NAMES_free(gens);
	if (!any && !match) {
		struct net_peer_cert pc;

		memset(&pc, 0, sizeof(pc));
		net_tls_cert_names(x, &pc);
		match = pc.cn[0] && strcasecmp(pc.cn, host) == 0;
	}
	return match;
}

/* ---- client certificates ------------------------------------------------------ */

/* Copy a name if it is printable ASCII and fits; else count it skipped. */
static bool copy_name(char *dst, const unsigned char *p, int len, unsigned *skipped)
{
	if (!p || len <= 0 || (size_t)len >= NET_CERT_NAME_MAX)
		goto skip;
	for (int i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			goto skip;
	memcpy(dst, p, (size_t)len);
	dst[len] = '\0';
	return true;
skip:
	(*skipped)++;
	return false;
}

void net_tls_cert_names(const struct x509_st *x, struct net_peer_cert *out)
{
	const X509_NAME *nm = X509_get_subject_name(x);
	GENERAL_NAMES *gens;
	int idx = -1, last = -1;

	while ((idx = X509_NAME_get_index_by_NID(nm, NID_commonName, idx)) >= 0)
		last = idx;
	if (last >= 0) {
		const ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, last));
		unsigned char *utf = NULL;
		int len = ASN1_STRING_to_UTF8(&utf, d);

		if (len >= 0)
			(void)copy_name(out->cn, utf, len, &out->skipped);
		else
			out->skipped++;
		OPENSSL_free(utf);
	}
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_IA5STRING *s;
		char(*slot)[NET_CERT_NAME_MAX];
		size_t *count;

		if (g->type == GEN_URI) {
			s = g->d.uniformResourceIdentifier;
			slot = out->uri;
			count = &out->n_uri;
		} else if (g->type == GEN_DNS) {
			s = g->d.dNSName;
			slot = out->dns;
			count = &out->n_dns;
		} else {
			continue;
		}
		if (*count >= NET_CERT_MAX_SANS) {
			out->skipped++;
			continue;
		}
		if (copy_name(slot[*count], ASN1_STRING_get0_data(s), ASN1_STRING_length(s),
			      &out->skipped))
			(*count)++;
	}
	GENERAL_NAMES_free(gens);
}

int net_msg_peer_cert(const struct net_msg *m, struct net_peer_cert *out)
{
	const X509 *x;

	memset(out, 0, sizeof(*out));
	if (!m || m->tp != NET_TLS || !m->conn)
		return EINVAL;
	if (!net_msg_conn_alive(m) || !m->conn->ssl)
		return EPIPE;
	x = SSL_get0_peer_certificate(m->conn->ssl);
	if (!x || SSL_get_verify_result(m->conn->ssl) != X509_V_OK)
		return 0;
	out->present = true;
	net_tls_cert_names(x, out);
	return 0;
}

/* ---- the library guard --------------------------------------------------------- */

/*
 * Releases with a flaw that exposes keys or memory, or lets a peer take the
 * process over or hang it with one handshake. Ranges are inclusive
 * OpenSSL_version_num() values: 0xMNNFFPPS before 3.0 (S = f for a release;
 * the patch letter is PP: a = 1 ... z = 26), 0xMNN00PP0 since.
 */
struct tls_flaw {
	unsigned long lo, hi;
	const char *cve, *what;
};

static const struct tls_flaw tls_flaws[] = {
	{ 0x10001000UL, 0x1000106fUL, "CVE-2014-0160",
	  "Heartbleed (1.0.1 to 1.0.1f): a heartbeat request reads up to 64 KiB of process "
	  "memory: private keys, passwords, calls" },
	{ 0x00908000UL, 0x0090819fUL, "CVE-2014-0224",
	  "CCS injection (0.9.8 before 0.9.8za): a man in the middle forces weak keys" },
	{ 0x10000000UL, 0x100000cfUL, "CVE-2014-0224",
	  "CCS injection (1.0.0 before 1.0.0m): a man in the middle forces weak keys" },
	{ 0x10001000UL, 0x1000107fUL, "CVE-2014-0224",
	  "CCS injection (1.0.1 before 1.0.1h): a man in the middle forces weak keys" },
	{ 0x10001000UL, 0x100010efUL, "CVE-2016-2108",
	  "ASN.1 negative zero (1.0.1 before 1.0.1o): memory corruption from a certificate" },
	{ 0x10002000UL, 0x1000202fUL, "CVE-2016-2108",
	  "ASN.1 negative zero (1.0.2 before 1.0.2c): memory corruption from a certificate" },
	{ 0x10100010UL, 0x1010001fUL, "CVE-2016-6309",
	  "use after free on a large message (1.1.0a), rated critical" },
	{ 0x10101000UL, 0x101010dfUL, "CVE-2022-0778",
	  "BN_mod_sqrt loops forever on a crafted certificate (1.1.1 before 1.1.1n)" },
	{ 0x30000000UL, 0x3000001fUL, "CVE-2022-0778",
	  "BN_mod_sqrt loops forever on a crafted certificate (3.0.0 before 3.0.2)" },
	{ 0x30000000UL, 0x3000006fUL, "CVE-2022-3602",
	  "buffer overflow in X.509 e-mail name checks (3.0.0 to 3.0.6), from a client "
	  "certificate" },
};

#define TLS_LIB_FLOOR 0x10101000UL /* 1.1.1: TLS 1.3, still maintained for some */

int net_tls_library_check(unsigned long num, char *why, size_t cap)
{
	for (size_t i = 0; i < ARRAY_SIZE(tls_flaws); i++) {
		if (num >= tls_flaws[i].lo && num <= tls_flaws[i].hi) {
			snprintf(why, cap, "%s: %s", tls_flaws[i].cve, tls_flaws[i].what);
			return EPROTO;
		}
	}
	if (num < TLS_LIB_FLOOR) {
		snprintf(why, cap, "older than 1.1.1: no TLS 1.3, and no longer fixed");
		return EPROTO;
	}
	if (cap)
		why[0] = '\0';
	return 0;
}

unsigned long net_tls_library_version(void)
{
	return OpenSSL_version_num();
}

const char *net_tls_library_name(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}

void net_tls_last_refusal(const struct net *n, struct net_tls_refusal *out)
{
	*out = n->last_refusal;
}
