/*
 * test_admin_tls: the local CA of admin/tls.c. Certificates it makes verify
 * against it for the purpose they are for and carry the names asked for,
 * nothing more; keys are written 0600 and never over an existing file;
 * an encrypted key opens with its passphrase only; admin_tls_setup makes
 * what is missing of a state and keeps what is there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "admin/internal.h"
#include "check.h"
#include "conf/conf.h"

static char dir[64];

static const char *path(char *buf, const char *name)
{
	snprintf(buf, 128, "%s/%s", dir, name);
	return buf;
}

static X509 *read_cert(const char *p)
{
	FILE *f = fopen(p, "r");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return x;
}

/* Does x verify against ca for purpose (X509_PURPOSE_SSL_CLIENT/SERVER)? */
static bool verifies(X509 *x, X509 *ca, int purpose)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;

	if (st && ctx && X509_STORE_add_cert(st, ca) == 1 &&
	    X509_STORE_CTX_init(ctx, st, x, NULL) == 1 &&
	    X509_STORE_CTX_set_purpose(ctx, purpose) == 1)
		ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return ok;
}

/* The subjectAltName entries of x as "DNS:a,IP:b,URI:c". */
static void sans(X509 *x, char *out, size_t cap)
{
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t len = 0;

	out[0] = '\0';
	for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
		GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
		char v[128] = "";
		const char *kind = "?";

		if (n->type == GEN_DNS || n->type == GEN_URI) {
			const ASN1_IA5STRING *s = n->type == GEN_DNS ? n->d.dNSName
								     : n->d.uniformResourceIdentifier;
			kind = n->type == GEN_DNS ? "DNS" : "URI";
			snprintf(v, sizeof(v), "%.*s", ASN1_STRING_length(s),
				 (const char *)ASN1_STRING_get0_data(s));
		} else if (n->type == GEN_IPADD) {
			const unsigned char *a = ASN1_STRING_get0_data(n->d.iPAddress);
			int alen = ASN1_STRING_length(n->d.iPAddress);
			kind = "IP";
			inet_ntop(alen == 16 ? AF_INET6 : AF_INET, a, v, sizeof(v));
		}
		len += (size_t)snprintf(out + len, cap - len, "%s%s:%s", i ? "," : "", kind, v);
		if (len >= cap)
			break;
	}
	GENERAL_NAMES_free(g);
}

static void test_issue_and_verify(void)
{
	static const char *const uri[] = { "sip:1001@example.test" };
	static const char *const dns[] = { "pbx.example.test", "192.0.2.5" };
	static const char *const ip[] = { "127.0.0.1", "::1" };
	struct admin_cert_spec ca = { .kind = ADMIN_CERT_CA, .cn = "CA", .org = "Bastion",
				      .days = 10 };
	struct admin_cert_spec srv = { .kind = ADMIN_CERT_SERVER, .cn = "pbx.example.test",
				       .days = 10, .dns = dns, .ndns = 2, .ip = ip, .nip = 2 };
	/* a name with a comma must stay one name */
	struct admin_cert_spec cli = { .kind = ADMIN_CERT_CLIENT, .cn = "1001,DNS:evil.example",
				       .days = 10, .uri = uri, .nuri = 1 };
	EVP_PKEY *cak = NULL, *sk = NULL, *ck = NULL;
	X509 *cax = NULL, *sx = NULL, *cx = NULL;
	char names[512], cn[128];

	CHECK_INT(admin_tls_key_new(&cak), 0);
	CHECK_INT(EVP_PKEY_get_bits(cak), 256);
	CHECK(EVP_PKEY_is_a(cak, "EC"));
	CHECK_INT(admin_tls_cert_new(&cax, cak, &ca, NULL, NULL), 0);
	CHECK_INT(admin_tls_key_new(&sk), 0);
	CHECK_INT(admin_tls_cert_new(&sx, sk, &srv, cax, cak), 0);
	CHECK_INT(admin_tls_key_new(&ck), 0);
	CHECK_INT(admin_tls_cert_new(&cx, ck, &cli, cax, cak), 0);
	/* each for its purpose */
	CHECK(verifies(sx, cax, X509_PURPOSE_SSL_SERVER));
	CHECK(verifies(cx, cax, X509_PURPOSE_SSL_CLIENT));
	CHECK(!verifies(cx, cax, X509_PURPOSE_SSL_SERVER));
	CHECK(!verifies(cx, sx, X509_PURPOSE_SSL_CLIENT)); /* a leaf is no CA */
	CHECK(X509_check_ca(cax) == 1);
	CHECK(X509_check_ca(sx) == 0);
	/* names */
	sans(sx, names, sizeof(names));
	CHECK(strcmp(names, "DNS:pbx.example.test,IP:192.0.2.5,IP:127.0.0.1,IP:::1") ==
	      0);
	CHECK(X509_check_host(sx, "pbx.example.test", 0, 0, NULL) == 1);
	CHECK(X509_check_ip_asc(sx, "127.0.0.1", 0) == 1);
	CHECK(X509_check_host(sx, "other.example.test", 0, 0, NULL) != 1);
	sans(cx, names, sizeof(names));
	CHECK(strcmp(names, "URI:sip:1001@example.test") == 0);
	X509_NAME_get_text_by_NID(X509_get_subject_name(cx), NID_commonName, cn, sizeof(cn));
	CHECK(strcmp(cn, "1001,DNS:evil.example") == 0);
	/* serials differ, validity as asked */
	CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(sx), X509_get0_serialNumber(cx)) != 0);
	{
		int days = 0, secs = 0;
		CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cx), X509_get0_notAfter(cx)));
		CHECK(days == 10 && secs == 3600);
	}
	/* refused: no CN, no issuer for a leaf */
	{
		X509 *x = NULL;
		struct admin_cert_spec bad = cli;
		bad.cn = "";
		CHECK(admin_tls_cert_new(&x, ck, &bad, cax, cak) != 0);
		CHECK(admin_tls_cert_new(&x, ck, &cli, NULL, NULL) != 0);
		CHECK(x == NULL);
	}
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ck);
	X509_free(cax);
	X509_free(sx);
	X509_free(cx);
}

static void test_key_files(void)
{
	char p[128], q[128];
	EVP_PKEY *k = NULL, *back = NULL;
	struct stat st;
	bool needs = false;
	mode_t old = umask(0);

	CHECK_INT(admin_tls_key_new(&k), 0);
	CHECK_INT(admin_tls_write_key(path(p, "plain.key"), k, NULL), 0);
	umask(old);
	CHECK(stat(p, &st) == 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(admin_tls_write_key(p, k, NULL), EEXIST);
	CHECK_INT(admin_tls_read_key(&back, p, NULL, &needs), 0);
	CHECK(EVP_PKEY_eq(k, back) == 1);
	EVP_PKEY_free(back);
	back = NULL;
	/* encrypted: needs the passphrase, refuses a wrong one */
	CHECK_INT(admin_tls_write_key(path(q, "locked.key"), k, "correct horse battery"), 0);
	CHECK(stat(q, &st) == 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(admin_tls_read_key(&back, q, NULL, &needs), EACCES);
	CHECK(needs);
	CHECK_INT(admin_tls_read_key(&back, q, "wrong horse battery", &needs), EACCES);
	CHECK(!needs);
	CHECK(back == NULL);
	CHECK_INT(admin_tls_read_key(&back, q, "correct horse battery", &needs), 0);
	CHECK(EVP_PKEY_eq(k, back) == 1);
	{
		char line[64] = "";
		FILE *f = fopen(q, "r");
		CHECK(f && fgets(line, sizeof(line), f));
		fclose(f);
		CHECK(strstr(line, "BEGIN ENCRYPTED PRIVATE KEY") != NULL);
	}
	EVP_PKEY_free(back);
	EVP_PKEY_free(k);
	unlink(p);
	unlink(q);
}

/* setup makes a CA and a server certificate for the domain, keys 0600;
 * run again it keeps them; with an encrypted CA key a missing server
 * certificate needs the passphrase. */
static void test_setup(void)
{
	char st[128], p[128], names[512];
	struct conf c;
	struct stat sb;
	X509 *ca, *srv;
	static const char *const files[] = { "ca.crt", "ca.key", "server.crt", "server.key" };

	conf_defaults(&c);
	snprintf(c.domain, sizeof(c.domain), "pbx.example.test");
	snprintf(st, sizeof(st), "%s", dir);
	CHECK_INT(admin_tls_setup(st, &c, NULL, false), 0);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		CHECK(stat(path(p, files[i]), &sb) == 0);
	CHECK_INT(stat(path(p, "ca.key"), &sb), 0);
	CHECK_INT(sb.st_mode & 07777, 0600);
	CHECK_INT(stat(path(p, "server.key"), &sb), 0);
	CHECK_INT(sb.st_mode & 07777, 0600);
	ca = read_cert(path(p, "ca.crt"));
	srv = read_cert(path(p, "server.crt"));
	CHECK(ca && srv);
	CHECK(verifies(srv, ca, X509_PURPOSE_SSL_SERVER));
	sans(srv, names, sizeof(names));
	CHECK(strcmp(names, "DNS:pbx.example.test,IP:127.0.0.1,IP:::1") == 0);
	X509_free(srv);
	/* again: nothing changes */
	CHECK_INT(admin_tls_setup(st, &c, NULL, false), 0);
	srv = read_cert(path(p, "ca.crt"));
	CHECK(srv && X509_cmp(srv, ca) == 0);
	X509_free(srv);
	X509_free(ca);
	/* only the server certificate missing: issued again by the same CA */
	unlink(path(p, "server.crt"));
	CHECK_INT(admin_tls_setup(st, &c, NULL, false), 1); /* server.key alone: refused */
	unlink(path(p, "server.key"));
	CHECK_INT(admin_tls_setup(st, &c, NULL, false), 0);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		unlink(path(p, files[i]));
	/* an encrypted CA key */
	CHECK_INT(admin_tls_setup(st, &c, "a long CA passphrase", false), 0);
	unlink(path(p, "server.crt"));
	unlink(path(p, "server.key"));
	CHECK_INT(admin_tls_setup(st, &c, NULL, false), 1);
	CHECK(stat(path(p, "server.key"), &sb) != 0); /* nothing half made */
	CHECK_INT(admin_tls_setup(st, &c, "a long CA passphrase", false), 0);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		unlink(path(p, files[i]));
	/* a domain longer than a CN may be: the CN says so, the name is in SAN */
	memset(c.domain, 'a', 70);
	snprintf(c.domain + 70, sizeof(c.domain) - 70, ".example.test");
	CHECK_INT(admin_tls_setup(st, &c, NULL, false), 0);
	srv = read_cert(path(p, "server.crt"));
	CHECK(srv != NULL);
	X509_NAME_get_text_by_NID(X509_get_subject_name(srv), NID_commonName, names, sizeof(names));
	CHECK(strcmp(names, "Bastion SIP server") == 0);
	CHECK(X509_check_host(srv, c.domain, 0, 0, NULL) == 1);
	X509_free(srv);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		unlink(path(p, files[i]));
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_issue_and_verify),
		CASE(test_key_files),
		CASE(test_setup),
	};
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/bastion-ca-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = check_main("admin_tls", cases, ARRAY_SIZE(cases), argc, argv);
	rmdir(dir);
	return rc;
}
