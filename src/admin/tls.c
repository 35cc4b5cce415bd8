/*
 * admin/tls: the local certificate authority and the commands `bastion tls
 * init|issue|show`, with OpenSSL's C API (no openssl(1) behind the scenes).
 *
 * `bastion init` (and `tls init` for a state made before TLS) creates in the
 * state directory, each only when absent: a CA (ca.crt, ca.key) and a
 * server certificate for the domain issued by it (server.crt, server.key;
 * subjectAltName DNS = domain, IP = 127.0.0.1 and ::1, so loopback clients
 * verify it too). Keys are EC P-256, written mode 0600 with O_EXCL; the CA
 * key may be encrypted with a passphrase (PKCS#8, PBES2: AES-256-CBC with
 * PBKDF2-HMAC-SHA256), which comes from a file or the terminal, never from
 * bastion.conf: the guide asks that keys which sign certificates be
 * encrypted with a complex password, and exempts keys the server needs to
 * boot (the server key may be encrypted too: --protect-server-key).
 *
 * `tls issue NAME` signs a client certificate for a phone or peer: CN=NAME,
 * subjectAltName URI sip:NAME@domain, extended key usage clientAuth.
 *
 * Names that reach a certificate are set as values through the API (never
 * through OpenSSL's configuration-string syntax), so a name with a comma
 * cannot add a subjectAltName.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../conf/conf.h"
#include "internal.h"

#define KDF_ITERATIONS 600000   /* PBKDF2-HMAC-SHA256, as OWASP advises (2023) */
#define ADMIN_CN_MAX 64         /* ub-common-name (RFC 5280) */

/* ---- keys and certificates --------------------------------------------------- */

int admin_tls_key_new(EVP_PKEY **out)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (!k) {
		ERR_clear_error();
		return ENOMEM;
	}
	*out = k;
	return 0;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (!ext)
		return EINVAL;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : ENOMEM;
}

static int push_name(GENERAL_NAMES *gens, int type, const char *value)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_STRING *s = NULL;

	if (!g)
		return ENOMEM;
	if (type == GEN_IPADD) {
		s = a2i_IPADDRESS(value);
	} else {
		s = ASN1_IA5STRING_new();
		if (s && ASN1_STRING_set(s, value, (int)strlen(value)) != 1) {
			ASN1_IA5STRING_free(s);
			s = NULL;
		}
	}
	if (!s) {
		GENERAL_NAME_free(g);
		return EINVAL;
	}
	GENERAL_NAME_set0_value(g, type, s);
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return ENOMEM;
	}
	return 0;
}

/* subjectAltName from spec: DNS names (an IP address given as a DNS name
 * becomes an IP entry), IP addresses, URIs. */
static int add_sans(X509 *x, const struct admin_cert_spec *spec)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int rc = 0;

	if (!gens)
		return ENOMEM;
	for (size_t i = 0; i < spec->ndns && !rc; i++) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(spec->dns[i]);
		ERR_clear_error();
		rc = push_name(gens, ip ? GEN_IPADD : GEN_DNS, spec->dns[i]);
		ASN1_OCTET_STRING_free(ip);
	}
	for (size_t i = 0; i < spec->nip && !rc; i++)
		rc = push_name(gens, GEN_IPADD, spec->ip[i]);
	for (size_t i = 0; i < spec->nuri && !rc; i++)
		rc = push_name(gens, GEN_URI, spec->uri[i]);
	if (!rc && sk_GENERAL_NAME_num(gens) > 0 &&
	    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
		rc = ENOMEM;
	sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
	return rc;
}

static int set_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn;
	int rc = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return EIO;
	b[0] &= 0x7f; /* positive */
	b[0] |= 0x40; /* and 16 bytes long */
	bn = BN_bin2bn(b, sizeof(b), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		rc = ENOMEM;
	BN_free(bn);
	return rc;
}

int admin_tls_cert_new(X509 **out, EVP_PKEY *key, const struct admin_cert_spec *spec,
		       X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	X509V3_CTX v3;
	int rc = ENOMEM;

	if (!x || !nm || !spec->cn || !*spec->cn || spec->days <= 0 ||
	    (spec->kind != ADMIN_CERT_CA && (!issuer || !issuer_key)))
		goto out;
	rc = EINVAL;
	if (X509_set_version(x, X509_VERSION_3) != 1 || set_serial(x) != 0 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) || /* a little clock skew */
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)spec->days * 86400) ||
	    X509_set_pubkey(x, key) != 1 ||
	    (spec->org && *spec->org &&
	     X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8, (const unsigned char *)spec->org,
					-1, -1, 0) != 1) ||
	    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)spec->cn, -1,
				       -1, 0) != 1 ||
	    X509_set_subject_name(x, nm) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : nm) != 1)
		goto out;
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	switch (spec->kind) {
	case ADMIN_CERT_CA:
		rc = add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
		if (!rc)
			rc = add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
		if (!rc)
			rc = add_ext(x, &v3, NID_subject_key_identifier, "hash");
		break;
	case ADMIN_CERT_SERVER:
	case ADMIN_CERT_CLIENT:
		rc = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE");
		if (!rc)
			rc = add_ext(x, &v3, NID_key_usage, "critical,digitalSignature");
		if (!rc)
			rc = add_ext(x, &v3, NID_ext_key_usage,
				     spec->kind == ADMIN_CERT_SERVER ? "serverAuth,clientAuth"
								     : "clientAuth");
		if (!rc)
			rc = add_ext(x, &v3, NID_subject_key_identifier, "hash");
		if (!rc)
			rc = add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
		break;
	}
	if (!rc)
		rc = add_sans(x, spec);
	if (!rc && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0)
		rc = EINVAL;
out:
	X509_NAME_free(nm);
	if (rc) {
		X509_free(x);
		ERR_clear_error();
	} else {
		*out = x;
	}
	return rc;
}

/* ---- files ------------------------------------------------------------------- */

/* Write the bytes of b to a new file of exactly `mode`, crash-safely: a
 * crash never leaves half a key or certificate (base_file_create). */
static int write_new(const char *path, BIO *b, mode_t mode)
{
	char *data = NULL;
	long len = BIO_get_mem_data(b, &data);

	if (len < 0)
		return EIO;
	return base_file_create(path, data, (size_t)len, (unsigned)mode);
}

int admin_tls_write_key(const char *path, EVP_PKEY *key, const char *passphrase)
{
	BIO *b = BIO_new(BIO_s_mem());
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	X509_ALGOR *pbe = NULL;
	X509_SIG *sig = NULL;
	int rc = ENOMEM;

	if (!b)
		goto out;
	if (!passphrase) {
		if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1)
			goto out;
	} else {
		p8 = EVP_PKEY2PKCS8(key);
		pbe = PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), KDF_ITERATIONS, NULL, 0, NULL,
					NID_hmacWithSHA256);
		if (!p8 || !pbe)
			goto out;
		sig = PKCS8_set0_pbe(passphrase, (int)strlen(passphrase), p8, pbe);
		if (!sig)
			goto out;
		pbe = NULL; /* owned by sig */
		if (PEM_write_bio_PKCS8(b, sig) != 1)
			goto out;
	}
	rc = write_new(path, b, 0600);
out:
	X509_SIG_free(sig);
	X509_ALGOR_free(pbe);
	PKCS8_PRIV_KEY_INFO_free(p8);
	if (b) {
		char *data = NULL;
		long len = BIO_get_mem_data(b, &data);
		if (len > 0)
			OPENSSL_cleanse(data, (size_t)len);
		BIO_free(b);
	}
	ERR_clear_error();
	return rc;
}

int admin_tls_write_cert(const char *path, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc = ENOMEM;

	if (b && PEM_write_bio_X509(b, x) == 1)
		rc = write_new(path, b, 0644);
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

struct pass_src {
	const char *pass;
	bool asked;
};

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_src *p = u;
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

int admin_tls_read_key(EVP_PKEY **out, const char *path, const char *passphrase,
		       bool *needs_passphrase)
{
	struct pass_src ps = { passphrase, false };
	EVP_PKEY *k;
	BIO *b = BIO_new_file(path, "r");

	if (needs_passphrase)
		*needs_passphrase = false;
	if (!b) {
		ERR_clear_error();
		return errno ? errno : ENOENT;
	}
	k = PEM_read_bio_PrivateKey(b, NULL, pass_cb, &ps);
	BIO_free(b);
	ERR_clear_error();
	if (!k) {
		if (needs_passphrase)
			*needs_passphrase = ps.asked && !passphrase;
		return ps.asked ? EACCES : EINVAL;
	}
	*out = k;
	return 0;
}

static int read_cert(X509 **out, const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	if (!x)
		return EINVAL;
	*out = x;
	return 0;
}

/* Is the private key file encrypted (PKCS#8 "ENCRYPTED PRIVATE KEY" or a
 * legacy "Proc-Type: 4,ENCRYPTED" header)? */
static bool key_file_encrypted(const char *path)
{
	char line[256];
	bool enc = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!enc && fgets(line, sizeof(line), f))
		enc = strstr(line, "ENCRYPTED") != NULL;
	fclose(f);
	return enc;
}

/* ---- passphrases ------------------------------------------------------------- */

int admin_passphrase_get(char *out, size_t cap, const char *file, const char *prompt,
			 bool confirm)
{
	char again[ADMIN_PW_MAX + 1];
	struct termios old, quiet;
	int fd, rc;

	if (file) {
		struct stat st;
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = errno;
			fprintf(stderr, "bastion: %s: %s\n", file, strerror(rc));
			return rc;
		}
		if (fstat(fd, &st) == 0 && (st.st_mode & S_IRWXO))
			fprintf(stderr, "bastion: warning: %s is readable by others\n", file);
		rc = admin_pw_read_line(out, cap, fd);
		close(fd);
		if (rc) {
			fprintf(stderr, "bastion: %s: no passphrase on its first line\n", file);
			return rc;
		}
		return 0;
	}
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "bastion: no terminal to ask for the passphrase; give "
				"--passphrase-file FILE\n");
		return ENOTTY;
	}
	rc = tcgetattr(fd, &old) == 0 ? 0 : errno;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	if (!rc && tcsetattr(fd, TCSAFLUSH, &quiet) != 0)
		rc = errno;
	for (int round = 0; !rc && round < (confirm ? 2 : 1); round++) {
		const char *p = round ? "Again: " : prompt;
		if (write(fd, p, strlen(p)) < 0) {
			rc = errno;
			break;
		}
		rc = admin_pw_read_line(round ? again : out, round ? sizeof(again) : cap, fd);
		if (write(fd, "\n", 1) < 0 && !rc)
			rc = errno;
	}
	(void)tcsetattr(fd, TCSAFLUSH, &old);
	close(fd);
	if (!rc && confirm && strcmp(out, again) != 0) {
		fprintf(stderr, "bastion: the passphrases differ\n");
		rc = EINVAL;
	}
	OPENSSL_cleanse(again, sizeof(again));
	if (rc)
		OPENSSL_cleanse(out, cap);
	return rc;
}

/* A new passphrase must be long: it guards keys that outlive passwords. */
static int passphrase_check(const char *p)
{
	if (strlen(p) < ADMIN_PW_MIN) {
		fprintf(stderr, "bastion: the passphrase must have at least %d characters\n",
			ADMIN_PW_MIN);
		return EINVAL;
	}
	return 0;
}

/* ---- the local CA and the server certificate ---------------------------------- */

static int state_file(char *out, size_t cap, const char *state, const char *name)
{
	if (conf_state_path(out, cap, state, name) != 0) {
		fprintf(stderr, "bastion: path too long: %s/%s\n", state, name);
		return ENAMETOOLONG;
	}
	return 0;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

int admin_tls_setup(const char *state, const struct conf *c, const char *passphrase,
		    bool protect_server_key)
{
	char ca_crt[1100], ca_key[1100], srv_crt[1100], srv_key[1100];
	const char *created[4];
	size_t ncreated = 0;
	EVP_PKEY *cak = NULL, *sk = NULL;
	X509 *cax = NULL, *sx = NULL;
	bool need_pass = false;
	int rc;

	if ((rc = state_file(ca_crt, sizeof(ca_crt), state, c->tls_ca[0] ? c->tls_ca : "ca.crt")) ||
	    (rc = state_file(ca_key, sizeof(ca_key), state, STATE_CA_KEY_FILE)) ||
	    (rc = state_file(srv_crt, sizeof(srv_crt), state, c->tls_certificate)) ||
	    (rc = state_file(srv_key, sizeof(srv_key), state, c->tls_key)))
		return 1;
	if (exists(srv_crt) && exists(srv_key) && exists(ca_crt)) {
		printf("TLS: %s, %s and %s exist; kept.\n", ca_crt, srv_crt, srv_key);
		return 0;
	}
	if (exists(srv_crt) != exists(srv_key)) {
		fprintf(stderr, "bastion: %s or %s is missing; put both back or remove both\n",
			srv_crt, srv_key);
		return 1;
	}
	/* The CA: reuse one that is there, else make one. */
	if (exists(ca_crt)) {
		if (read_cert(&cax, ca_crt) != 0) {
			fprintf(stderr, "bastion: %s: not a PEM certificate\n", ca_crt);
			rc = EINVAL;
			goto out;
		}
	} else if (exists(ca_key)) {
		fprintf(stderr, "bastion: %s exists without %s; refusing to replace the CA key\n",
			ca_key, ca_crt);
		rc = EEXIST;
		goto out;
	} else {
		char cn[300];
		struct admin_cert_spec spec = { .kind = ADMIN_CERT_CA, .cn = cn, .org = "Bastion",
						.days = ADMIN_TLS_CA_DAYS };
		/* X.509 allows 64 characters in a CN; the names that matter are
		 * in subjectAltName */
		snprintf(cn, sizeof(cn), "Bastion local CA for %s", c->domain);
		if (strlen(cn) > ADMIN_CN_MAX)
			snprintf(cn, sizeof(cn), "Bastion local CA");
		if ((rc = admin_tls_key_new(&cak)) || (rc = admin_tls_cert_new(&cax, cak, &spec, NULL, NULL))) {
			fprintf(stderr, "bastion: cannot make the CA: %s\n", strerror(rc));
			goto out;
		}
		if ((rc = admin_tls_write_key(ca_key, cak, passphrase)) != 0) {
			fprintf(stderr, "bastion: cannot write %s: %s\n", ca_key, strerror(rc));
			goto out;
		}
		created[ncreated++] = ca_key;
		if ((rc = admin_tls_write_cert(ca_crt, cax)) != 0) {
			fprintf(stderr, "bastion: cannot write %s: %s\n", ca_crt, strerror(rc));
			goto out;
		}
		created[ncreated++] = ca_crt;
		printf("Created the local CA %s (key %s, mode 0600%s).\n", ca_crt, ca_key,
		       passphrase ? ", encrypted" : "");
	}
	if (exists(srv_crt))
		goto out; /* the operator's own server certificate */
	if (!cak) {
		rc = admin_tls_read_key(&cak, ca_key, passphrase, &need_pass);
		if (rc) {
			fprintf(stderr, "bastion: cannot read the CA key %s: %s\n", ca_key,
				need_pass ? "it is encrypted; give --passphrase-file or --ask-passphrase"
				: rc == EACCES ? "wrong passphrase" : strerror(rc));
			goto out;
		}
	}
	{
		const char *ips[2 + NET_MAX_LISTEN];
		char hosts[NET_MAX_LISTEN][INET6_ADDRSTRLEN];
		struct admin_cert_spec spec = { .kind = ADMIN_CERT_SERVER,
						.cn = strlen(c->domain) <= ADMIN_CN_MAX
							? c->domain : "Bastion SIP server",
						.days = ADMIN_TLS_CERT_DAYS,
						.dns = (const char *const[]){ c->domain }, .ndns = 1, .ip = ips, .nip = 2 };
		ips[0] = "127.0.0.1";
		ips[1] = "::1";
		/* the specific addresses it listens on, for clients that dial them */
		for (size_t i = 0; i < c->nlisteners; i++) {
			bool dup = false;
			net_addr_host(&c->listeners[i].addr, hosts[i], sizeof(hosts[i]));
			for (size_t k = 0; k < spec.nip; k++)
				dup |= strcmp(ips[k], hosts[i]) == 0;
			if (!dup && strcmp(hosts[i], "0.0.0.0") && strcmp(hosts[i], "::") &&
			    strcmp(hosts[i], c->domain))
				ips[spec.nip++] = hosts[i];
		}
		if ((rc = admin_tls_key_new(&sk)) || (rc = admin_tls_cert_new(&sx, sk, &spec, cax, cak))) {
			fprintf(stderr, "bastion: cannot issue the server certificate: %s\n",
				strerror(rc));
			goto out;
		}
	}
	if ((rc = admin_tls_write_key(srv_key, sk, protect_server_key ? passphrase : NULL)) != 0) {
		fprintf(stderr, "bastion: cannot write %s: %s\n", srv_key, strerror(rc));
		goto out;
	}
	created[ncreated++] = srv_key;
	if ((rc = admin_tls_write_cert(srv_crt, sx)) != 0) {
		fprintf(stderr, "bastion: cannot write %s: %s\n", srv_crt, strerror(rc));
		goto out;
	}
	created[ncreated++] = srv_crt;
	printf("Created the server certificate %s for %s (key %s, mode 0600%s).\n", srv_crt,
	       c->domain, srv_key, protect_server_key ? ", encrypted" : "");
out:
	if (rc)
		while (ncreated > 0)
			unlink(created[--ncreated]);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	X509_free(cax);
	X509_free(sx);
	return rc ? 1 : 0;
}

/* ---- bastion tls ... ----------------------------------------------------------- */

/* A certificate name: letters, digits, '.', '-', '_' (it names files too). */
static int issue_name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > ADMIN_NAME_MAX || name[0] == '.' || name[0] == '-')
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_'))
			goto bad;
	}
	return 0;
bad:
	fprintf(stderr, "bastion: tls issue: \"%s\" is not a name: 1 to %d letters, digits, '.', "
			"'-' or '_', not starting with '.' or '-'\n",
		name, ADMIN_NAME_MAX);
	return EINVAL;
}

static int load_conf(struct conf *c, const char *state)
{
	char path[4200], err[600];

	snprintf(path, sizeof(path), "%s/%s", state, CONF_FILE_NAME);
	if (access(path, F_OK) != 0) {
		fprintf(stderr, "bastion: no %s in %s; create it with 'bastion init --state %s'\n",
			CONF_FILE_NAME, state, state);
		return 1;
	}
	if (conf_load(c, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: %s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_issue(const char *state, int argc, char **argv)
{
	const char *name = NULL, *out_dir = NULL, *pass_file = NULL;
	char dir[4200], crt[4400], key[4400], ca_crt[1100], ca_key[1100], uri[400];
	char pass[ADMIN_PW_MAX + 1] = "";
	const char *uris[1] = { uri };
	EVP_PKEY *cak = NULL, *k = NULL;
	X509 *cax = NULL, *x = NULL;
	bool need_pass = false;
	uint32_t days = ADMIN_TLS_CERT_DAYS;
	struct conf c;
	int rc, status = 1;

	for (int i = 2; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--out")))
			out_dir = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--passphrase-file")))
			pass_file = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--days"))) {
			if (slice_to_u32(slice_cstr(v), &days) || days < 1 || days > ADMIN_TLS_CERT_DAYS)
				return admin_usage_error("tls", "tls issue: --days must be 1 to 825:", v);
		} else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else
			return admin_usage_error("tls", "tls issue: unexpected argument", argv[i]);
	}
	if (!name)
		return admin_usage_error("tls", "tls issue: which NAME?", NULL);
	if (issue_name_check(name) || load_conf(&c, state))
		return 1;
	if (state_file(ca_crt, sizeof(ca_crt), state, c.tls_ca) ||
	    state_file(ca_key, sizeof(ca_key), state, STATE_CA_KEY_FILE))
		return 1;
	snprintf(dir, sizeof(dir), "%s", out_dir ? out_dir : "");
	if (!out_dir && state_file(dir, sizeof(dir), state, "issued"))
		return 1;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "bastion: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	if (exists(crt) || exists(key)) {
		fprintf(stderr, "bastion: %s or %s exists; refusing to overwrite\n", crt, key);
		return 1;
	}
	if (read_cert(&cax, ca_crt) != 0) {
		fprintf(stderr, "bastion: cannot read the CA certificate %s\n", ca_crt);
		goto out;
	}
	if (pass_file || key_file_encrypted(ca_key)) {
		if (admin_passphrase_get(pass, sizeof(pass), pass_file, "CA key passphrase: ", false))
			goto out;
	}
	rc = admin_tls_read_key(&cak, ca_key, pass[0] ? pass : NULL, &need_pass);
	if (rc) {
		fprintf(stderr, "bastion: cannot read the CA key %s: %s\n", ca_key,
			need_pass ? "it is encrypted; give --passphrase-file FILE"
			: rc == EACCES ? "wrong passphrase" : strerror(rc));
		goto out;
	}
	if (X509_check_private_key(cax, cak) != 1) {
		ERR_clear_error();
		fprintf(stderr, "bastion: %s does not belong to %s\n", ca_key, ca_crt);
		goto out;
	}
	snprintf(uri, sizeof(uri), "sip:%s@%s", name, c.domain);
	{
		struct admin_cert_spec spec = { .kind = ADMIN_CERT_CLIENT, .cn = name,
						.days = (int)days, .uri = uris, .nuri = 1 };
		if ((rc = admin_tls_key_new(&k)) || (rc = admin_tls_cert_new(&x, k, &spec, cax, cak))) {
			fprintf(stderr, "bastion: cannot issue the certificate: %s\n", strerror(rc));
			goto out;
		}
	}
	if ((rc = admin_tls_write_key(key, k, NULL)) != 0) {
		fprintf(stderr, "bastion: cannot write %s: %s\n", key, strerror(rc));
		goto out;
	}
	if ((rc = admin_tls_write_cert(crt, x)) != 0) {
		fprintf(stderr, "bastion: cannot write %s: %s\n", crt, strerror(rc));
		unlink(key);
		goto out;
	}
	printf("Issued %s (CN=%s, URI %s, %u days) with its key %s (mode 0600).\n"
	       "Install both on the phone or peer, with %s to verify the server.\n",
	       crt, name, uri, (unsigned)days, key, ca_crt);
	status = 0;
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	EVP_PKEY_free(cak);
	EVP_PKEY_free(k);
	X509_free(cax);
	X509_free(x);
	return status;
}

static void show_cert(const char *label, const char *path)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char name[512];
	X509 *x = NULL;
	GENERAL_NAMES *gens;
	BIO *out = BIO_new_fp(stdout, BIO_NOCLOSE);

	printf("%s: %s\n", label, path);
	if (!out || read_cert(&x, path) != 0) {
		printf("  (missing or not a PEM certificate)\n");
		BIO_free(out);
		return;
	}
	X509_NAME_oneline(X509_get_subject_name(x), name, sizeof(name));
	printf("  subject   %s\n", name);
	X509_NAME_oneline(X509_get_issuer_name(x), name, sizeof(name));
	printf("  issuer    %s\n", name);
	BIO_printf(out, "  valid     ");
	ASN1_TIME_print(out, X509_get0_notBefore(x));
	BIO_printf(out, " to ");
	ASN1_TIME_print(out, X509_get0_notAfter(x));
	BIO_printf(out, "%s\n", X509_cmp_current_time(X509_get0_notAfter(x)) <= 0 ? " (EXPIRED)" : "");
	(void)BIO_flush(out);
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		BIO_printf(out, "  altname   ");
		GENERAL_NAME_print(out, g);
		BIO_printf(out, "\n");
	}
	GENERAL_NAMES_free(gens);
	(void)BIO_flush(out);
	if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
		printf("  SHA-256   ");
		for (unsigned i = 0; i < mdlen; i++)
			printf("%02X%s", md[i], i + 1 < mdlen ? ":" : "\n");
	}
	X509_free(x);
	BIO_free(out);
	ERR_clear_error();
}

static void show_key(const char *label, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		printf("%s: %s (missing)\n", label, path);
		return;
	}
	printf("%s: %s (mode %04o%s)\n", label, path, (unsigned)(st.st_mode & 07777),
	       key_file_encrypted(path) ? ", encrypted" : "");
}

static int cmd_show(const char *state, int argc, char **argv)
{
	static const char *const verify[] = { "none", "optional", "require" };
	char p[1100];
	struct conf c;

	if (argc > 2)
		return admin_usage_error("tls", "tls show: unexpected argument", argv[2]);
	if (load_conf(&c, state))
		return 1;
	if (!state_file(p, sizeof(p), state, c.tls_certificate))
		show_cert("server certificate", p);
	if (!state_file(p, sizeof(p), state, c.tls_key))
		show_key("server key", p);
	if (!state_file(p, sizeof(p), state, c.tls_ca))
		show_cert("CA certificate", p);
	if (!state_file(p, sizeof(p), state, STATE_CA_KEY_FILE))
		show_key("CA key", p);
	printf("client certificates: verify_client = %s\n",
	       c.tls_verify_client < 3 ? verify[c.tls_verify_client] : "?");
	printf("library: %s\n", OpenSSL_version(OPENSSL_VERSION));
	return 0;
}

static int cmd_tls_init(const char *state, int argc, char **argv)
{
	const char *pass_file = NULL;
	char pass[ADMIN_PW_MAX + 1] = "";
	bool ask = false;
	struct conf c;
	int status;

	for (int i = 2; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--passphrase-file")))
			pass_file = v;
		else if (strcmp(argv[i], "--ask-passphrase") == 0)
			ask = true;
		else
			return admin_usage_error("tls", "tls init: unexpected argument", argv[i]);
	}
	if (load_conf(&c, state))
		return 1;
	if ((pass_file || ask) &&
	    (admin_passphrase_get(pass, sizeof(pass), pass_file, "CA key passphrase: ",
				  !pass_file) ||
	     passphrase_check(pass))) {
		OPENSSL_cleanse(pass, sizeof(pass));
		return 1;
	}
	status = admin_tls_setup(state, &c, pass[0] ? pass : NULL, false);
	OPENSSL_cleanse(pass, sizeof(pass));
	return status;
}

int admin_cmd_tls(const char *state, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "issue") == 0)
		return cmd_issue(state, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "show") == 0)
		return cmd_show(state, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "init") == 0)
		return cmd_tls_init(state, argc, argv);
	return admin_usage_error("tls", "tls: expected 'init', 'issue' or 'show'", NULL);
}

int admin_init_passphrase(char *out, size_t cap, const char *file, bool ask)
{
	if (!file && !ask) {
		out[0] = '\0';
		return 0;
	}
	if (admin_passphrase_get(out, cap, file, "Passphrase for the CA key: ", !file) ||
	    passphrase_check(out)) {
		OPENSSL_cleanse(out, cap);
		return 1;
	}
	return 0;
}
