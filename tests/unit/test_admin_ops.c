/*
 * test_admin_ops: the pure cores of the operations commands. The backup
 * format opens only with its passphrase and refuses every single flipped
 * byte, truncation and foreign data with the right reason; the archive
 * refuses names that would leave the state directory; the audit checks are
 * decisions over gathered facts (listener scopes, policy, users, files,
 * certificates, backups), each with the guide's section and a fix; the
 * history keeps the latest time of each kind.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "admin/internal.h"
#include "check.h"
#include "conf/conf.h"

static const struct admin_kdf fast = { .log2n = ADMIN_KDF_LOG2N_MIN, .r = 8, .p = 1 };

static int count_files(void *arg, const char *name, uint32_t mode, const uint8_t *data,
		       size_t len)
{
	(void)name;
	(void)mode;
	(void)data;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

static void test_archive(void)
{
	struct admin_buf b = { 0 };
	int n = 0;

	CHECK_INT(admin_archive_add(&b, "bastion.conf", 0640, (const uint8_t *)"x", 1), 0);
	CHECK_INT(admin_archive_add(&b, "issued/p.crt", 0644, (const uint8_t *)"", 0), 0);
	CHECK_INT(admin_archive_walk(b.p, b.len, count_files, &n), 0);
	CHECK_INT(n, 2);
	/* names that would leave the state, or are odd, are refused */
	CHECK_INT(admin_archive_add(&b, "../etc/passwd", 0600, NULL, 0), EINVAL);
	CHECK_INT(admin_archive_add(&b, "/etc/passwd", 0600, NULL, 0), EINVAL);
	CHECK_INT(admin_archive_add(&b, "a/./b", 0600, NULL, 0), EINVAL);
	CHECK_INT(admin_archive_add(&b, "a//b", 0600, NULL, 0), EINVAL);
	CHECK_INT(admin_archive_add(&b, "a/..", 0600, NULL, 0), EINVAL);
	CHECK_INT(admin_archive_add(&b, "sp ace", 0600, NULL, 0), EINVAL);
	CHECK_INT(admin_archive_name_ok("..x", 3), 0); /* a name, not a parent */
	/* trailing bytes and short archives are malformed */
	CHECK_INT(admin_archive_walk(b.p, b.len - 1, NULL, NULL), EBADMSG);
	CHECK_INT(admin_archive_walk(b.p, 3, NULL, NULL), EBADMSG);
	admin_buf_free(&b);
	/* a crafted archive naming ../x is refused on reading too */
	{
		uint8_t evil[] = { 0, 0, 0, 1, 0, 4, '.', '.', '/', 'x', 0, 0, 1, 0x80,
				   0, 0, 0, 0, 0, 0, 0, 0 };
		CHECK_INT(admin_archive_walk(evil, sizeof(evil), NULL, NULL), EBADMSG);
	}
}

static void test_seal_and_open(void)
{
	struct admin_buf ar = { 0 }, sealed = { 0 }, plain = { 0 };
	char why[300];
	const char *pass = "a long enough passphrase";

	CHECK_INT(admin_archive_add(&ar, "nonce.key", 0600, (const uint8_t *)"0123456789abcdef", 16),
		  0);
	CHECK_INT(admin_backup_seal(&sealed, ar.p, ar.len, pass, &fast), 0);
	CHECK(sealed.len == ar.len + 72 + 16);
	CHECK(memmem(sealed.p, sealed.len, "0123456789abcdef", 16) == NULL); /* encrypted */
	CHECK_INT(admin_backup_open(&plain, sealed.p, sealed.len, pass, why, sizeof(why)), 0);
	CHECK(plain.len == ar.len && memcmp(plain.p, ar.p, ar.len) == 0);

	CHECK_INT(admin_backup_open(&plain, sealed.p, sealed.len, "another passphrase", why,
				    sizeof(why)), EACCES);
	CHECK(strstr(why, "wrong passphrase") != NULL);
	CHECK(plain.len == 0);
	/* every single flipped bit after the magic is refused */
	for (size_t i = 16; i < sealed.len; i++) {
		int rc;
		sealed.p[i] ^= 0x01;
		rc = admin_backup_open(&plain, sealed.p, sealed.len, pass, why, sizeof(why));
		sealed.p[i] ^= 0x01;
		if (rc == 0) {
			check_fail(__FILE__, __LINE__, "flipped byte %zu accepted", i);
			return;
		}
		CHECK(plain.len == 0);
	}
	/* every truncation is refused */
	for (size_t n = 0; n < sealed.len; n++)
		CHECK(admin_backup_open(&plain, sealed.p, n, pass, why, sizeof(why)) != 0);
	CHECK_INT(admin_backup_open(&plain, sealed.p, sealed.len - 1, pass, why, sizeof(why)),
		  EBADMSG);
	CHECK(strstr(why, "truncated") != NULL);
	/* foreign data and another version */
	CHECK_INT(admin_backup_open(&plain, (const uint8_t *)"SQLite format 3\0 and more bytes",
				    32, pass, why, sizeof(why)), ENOTSUP);
	CHECK(strstr(why, "not a Bastion backup") != NULL);
	sealed.p[15] = 2;
	CHECK_INT(admin_backup_open(&plain, sealed.p, sealed.len, pass, why, sizeof(why)), ENOTSUP);
	sealed.p[15] = 1;
	/* key derivation parameters a file may not ask for */
	sealed.p[16] = 30;
	CHECK_INT(admin_backup_open(&plain, sealed.p, sealed.len, pass, why, sizeof(why)), EBADMSG);
	sealed.p[16] = ADMIN_KDF_LOG2N_MIN;
	{
		struct admin_kdf bad = { .log2n = 40, .r = 8, .p = 1 };
		CHECK_INT(admin_backup_seal(&plain, ar.p, ar.len, pass, &bad), EINVAL);
	}
	admin_buf_free(&ar);
	admin_buf_free(&sealed);
	admin_buf_free(&plain);
}

static EVP_PKEY *x25519_new(void)
{
	EVP_PKEY *k = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);

	if (!c || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &k) != 1)
		k = NULL; /* the caller checks */
	EVP_PKEY_CTX_free(c);
	return k;
}

/* Version 2: encrypted to an X25519 public key; opens only with its private
 * half, and refuses every flipped byte and truncation. */
static void test_seal_and_open_public_key(void)
{
	struct admin_buf ar = { 0 }, sealed = { 0 }, plain = { 0 }, v1 = { 0 };
	EVP_PKEY *k = x25519_new(), *other = x25519_new(), *pub = NULL, *ec = NULL;
	uint8_t raw[32], id[ADMIN_KEY_ID_LEN], id2[ADMIN_KEY_ID_LEN];
	size_t n = sizeof(raw);
	char why[300];

	CHECK(k && other);
	/* the recipient is given only the public half */
	CHECK(EVP_PKEY_get_raw_public_key(k, raw, &n) == 1);
	pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, raw, n);
	CHECK(pub != NULL);
	CHECK_INT(admin_backup_key_id(id, pub), 0);
	CHECK_INT(admin_backup_key_id(id2, k), 0);
	CHECK(memcmp(id, id2, sizeof(id)) == 0);
	CHECK_INT(admin_archive_add(&ar, "nonce.key", 0600, (const uint8_t *)"0123456789abcdef", 16),
		  0);
	CHECK_INT(admin_backup_seal_pub(&sealed, ar.p, ar.len, pub), 0);
	CHECK(sealed.len == ar.len + 88 + 16);
	CHECK(memmem(sealed.p, sealed.len, "0123456789abcdef", 16) == NULL);
	CHECK_INT(admin_backup_open_pub(&plain, sealed.p, sealed.len, k, why, sizeof(why)), 0);
	CHECK(plain.len == ar.len && memcmp(plain.p, ar.p, ar.len) == 0);
	/* another key: refused as such */
	CHECK_INT(admin_backup_open_pub(&plain, sealed.p, sealed.len, other, why, sizeof(why)),
		  EACCES);
	CHECK(strstr(why, "wrong private key") != NULL);
	CHECK(plain.len == 0);
	/* every single flipped bit after the magic is refused */
	for (size_t i = 16; i < sealed.len; i++) {
		int rc;
		sealed.p[i] ^= 0x01;
		rc = admin_backup_open_pub(&plain, sealed.p, sealed.len, k, why, sizeof(why));
		sealed.p[i] ^= 0x01;
		if (rc == 0) {
			check_fail(__FILE__, __LINE__, "flipped byte %zu accepted", i);
			break;
		}
		CHECK(plain.len == 0);
	}
	for (size_t m = 0; m < sealed.len; m++)
		CHECK(admin_backup_open_pub(&plain, sealed.p, m, k, why, sizeof(why)) != 0);
	CHECK_INT(admin_backup_open_pub(&plain, sealed.p, sealed.len - 1, k, why, sizeof(why)),
		  EBADMSG);
	CHECK(strstr(why, "truncated") != NULL);
	/* a passphrase backup is not one for a key, and the other way round */
	CHECK_INT(admin_backup_seal(&v1, ar.p, ar.len, "a long enough passphrase", &fast), 0);
	CHECK_INT(admin_backup_open_pub(&plain, v1.p, v1.len, k, why, sizeof(why)), ENOTSUP);
	CHECK(strstr(why, "--passphrase-file") != NULL);
	CHECK_INT(admin_backup_open(&plain, sealed.p, sealed.len, "a long enough passphrase", why,
				    sizeof(why)), ENOTSUP);
	CHECK(strstr(why, "--private-key") != NULL);
	/* foreign data; a key of another type */
	CHECK_INT(admin_backup_open_pub(&plain, (const uint8_t *)"SQLite format 3\0 and more",
				    26, k, why, sizeof(why)), ENOTSUP);
	ec = EVP_EC_gen("P-256");
	CHECK(ec != NULL);
	CHECK_INT(admin_backup_seal_pub(&plain, ar.p, ar.len, ec), EINVAL);
	CHECK_INT(admin_backup_open_pub(&plain, sealed.p, sealed.len, ec, why, sizeof(why)),
		  EINVAL);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(ec);
	admin_buf_free(&ar);
	admin_buf_free(&sealed);
	admin_buf_free(&plain);
	admin_buf_free(&v1);
}

static void test_addr_scope(void)
{
	struct net_listen_spec l[8];
	size_t n = 0;
	char why[200];

	CHECK_INT(net_listen_parse(l, 8, &n,
				   "udp:127.0.0.1:5060,udp:10.1.2.3:5060,udp:192.0.2.1:5060,"
				   "udp:0.0.0.0:5060,udp:[::1]:5060,udp:[fd00::1]:5060,"
				   "udp:[2001:db8::1]:5060,udp:[::]:5060",
				   why, sizeof(why)), 0);
	CHECK_INT(n, 8);
	CHECK_INT(audit_addr_scope(&l[0].addr), 0);
	CHECK_INT(audit_addr_scope(&l[1].addr), 1);
	CHECK_INT(audit_addr_scope(&l[2].addr), 2);
	CHECK_INT(audit_addr_scope(&l[3].addr), 3);
	CHECK_INT(audit_addr_scope(&l[4].addr), 0);
	CHECK_INT(audit_addr_scope(&l[5].addr), 1);
	CHECK_INT(audit_addr_scope(&l[6].addr), 2);
	CHECK_INT(audit_addr_scope(&l[7].addr), 3);
}

static const struct audit_check *find(const char *id)
{
	for (size_t i = 0; i < audit_checks_count; i++)
		if (strcmp(audit_checks[i].id, id) == 0)
			return &audit_checks[i];
	return NULL;
}

static enum audit_status run(const char *id, const struct audit_facts *f, struct audit_result *r)
{
	const struct audit_check *a = find(id);

	memset(r, 0, sizeof(*r));
	if (!a)
		return (enum audit_status)99;
	a->run(f, r);
	return r->status;
}

/* Facts of a fresh, healthy state under c. */
static void healthy(struct audit_facts *f, const struct conf *c)
{
	memset(f, 0, sizeof(*f));
	f->c = c;
	f->now = 1800000000;
	f->store_ok = true;
	f->state_mode = 0750;
	f->have_server_cert = f->have_ca_cert = true;
	f->server_not_before = f->now - 86400;
	f->server_not_after = f->now + 800 * 86400LL;
	f->ca_not_after = f->now + 3000 * 86400LL;
	f->library_ok = true;
	f->created = f->now - 3600;
	snprintf(f->library, sizeof(f->library), "OpenSSL 3");
}

static void test_audit_checks(void)
{
	struct audit_facts f;
	struct audit_result r;
	struct conf c;
	char err[200];

	/* every check has an id, a level, a section, words and a decision */
	for (size_t i = 0; i < audit_checks_count; i++) {
		const struct audit_check *a = &audit_checks[i];
		CHECK(a->id && a->section && a->mitigation && a->checks && a->run);
		CHECK(a->level < CONF_PROFILE__COUNT);
		for (size_t k = 0; k < i; k++)
			CHECK(strcmp(audit_checks[k].id, a->id) != 0);
	}
	conf_defaults(&c);
	healthy(&f, &c);
	/* the defaults on loopback: minimum checks pass or warn, never fail */
	for (size_t i = 0; i < audit_checks_count; i++) {
		if (audit_checks[i].level != CONF_PROFILE_MINIMUM)
			continue;
		memset(&r, 0, sizeof(r));
		audit_checks[i].run(&f, &r);
		CHECK(r.status != AUDIT_FAIL);
		CHECK(r.found[0]);
	}
	CHECK_INT(run("policy.signaling", &f, &r), AUDIT_FAIL);
	CHECK(strstr(r.fix, "tls-required") != NULL);
	CHECK_INT(run("policy.media", &f, &r), AUDIT_FAIL);
	CHECK_INT(run("tls.two_way", &f, &r), AUDIT_FAIL);
	CHECK_INT(run("auth.md5", &f, &r), AUDIT_FAIL);
	/* peers: none passes; plain on public fails, on private warns; TLS passes */
	CHECK_INT(run("peers.tls", &f, &r), AUDIT_PASS);
	CHECK(strstr(r.found, "no peers") != NULL);
	CHECK_INT(conf_set(&c, "peer gw1", "address", "tls:192.0.2.9:5061", err, sizeof(err)), 0);
	CHECK_INT(conf_set(&c, "peer gw1", "tls_name", "gw1.example.net", err, sizeof(err)), 0);
	CHECK_INT(run("peers.tls", &f, &r), AUDIT_PASS);
	CHECK(strstr(r.found, "1 of 1 addresses over TLS") != NULL);
	CHECK_INT(conf_set(&c, "peer gw2", "address", "udp:127.0.0.1:5999", err, sizeof(err)), 0);
	CHECK_INT(run("peers.tls", &f, &r), AUDIT_PASS); /* loopback */
	CHECK_INT(conf_set(&c, "peer gw3", "address", "udp:10.1.2.3:5060", err, sizeof(err)), 0);
	CHECK_INT(run("peers.tls", &f, &r), AUDIT_WARN);
	CHECK(strstr(r.found, "gw3") != NULL && strstr(r.fix, "[peer gw3]") != NULL);
	CHECK_INT(conf_set(&c, "peer gw4", "address", "tcp:198.51.100.7:5060", err, sizeof(err)),
		  0);
	CHECK_INT(run("peers.tls", &f, &r), AUDIT_FAIL);
	CHECK(strstr(r.found, "tcp:198.51.100.7:5060") != NULL);
	CHECK(strstr(r.found, "1 of 4 peer addresses are TLS") != NULL);
	c.trunk.npeers = 0;

	/* durability: the choice is shown; none fails */
	CHECK_INT(run("store.durability", &f, &r), AUDIT_PASS);
	CHECK(strstr(r.found, "durability = process") != NULL);
	c.durability = CONF_DURABLE_POWER;
	CHECK_INT(run("store.durability", &f, &r), AUDIT_PASS);
	CHECK(strstr(r.found, "power cut") != NULL);
	c.durability = CONF_DURABLE_NONE;
	CHECK_INT(run("store.durability", &f, &r), AUDIT_FAIL);
	CHECK(strstr(r.fix, "durability = process") != NULL);
	c.durability = CONF_DURABLE_PROCESS;

	/* a public plain listener with signaling any fails minimum; tls-required mends it */
	CHECK_INT(conf_set(&c, "server", "listen", "udp:192.0.2.1:5060,tls:192.0.2.1:5061", err,
			   sizeof(err)), 0);
	CHECK_INT(run("net.public_plain", &f, &r), AUDIT_FAIL);
	CHECK(strstr(r.found, "udp:192.0.2.1:5060") != NULL);
	CHECK_INT(run("net.plain_beyond_loopback", &f, &r), AUDIT_FAIL);
	c.signaling = CONF_SIGNALING_TLS;
	CHECK_INT(run("net.public_plain", &f, &r), AUDIT_PASS);
	CHECK_INT(run("net.plain_beyond_loopback", &f, &r), AUDIT_WARN);
	CHECK_INT(run("policy.signaling", &f, &r), AUDIT_PASS);
	CHECK_INT(conf_set(&c, "server", "listen", "udp:127.0.0.1:5060", err, sizeof(err)), 0);
	CHECK_INT(run("policy.signaling", &f, &r), AUDIT_FAIL); /* no tls: listener */

	/* users */
	f.users = 3;
	f.users_no_cert = 1;
	snprintf(f.first_no_cert, sizeof(f.first_no_cert), "1001@example.org");
	CHECK_INT(run("users.client_certs", &f, &r), AUDIT_FAIL);
	CHECK(strstr(r.found, "1001@example.org") && strstr(r.fix, "user cert NAME require"));
	f.users_unknown = 2;
	CHECK_INT(run("users.password_strength", &f, &r), AUDIT_WARN);
	f.users_md5_only = 1;
	snprintf(c.algorithms, sizeof(c.algorithms), "SHA-256");
	CHECK_INT(run("auth.md5", &f, &r), AUDIT_FAIL);
	f.users_md5_only = 0;
	CHECK_INT(run("auth.md5", &f, &r), AUDIT_PASS);
	f.store_ok = false;
	CHECK_INT(run("users.client_certs", &f, &r), AUDIT_FAIL);

	/* files */
	f.nfiles = 2;
	f.files[0] = (struct audit_file){ .what = "nonce key", .path = "s/nonce.key",
					  .exists = true, .mode = 0640, .secret = true };
	f.files[1] = (struct audit_file){ .what = "configuration", .path = "s/bastion.conf",
					  .exists = true, .mode = 0640, .secret = false };
	CHECK_INT(run("files.modes", &f, &r), AUDIT_FAIL);
	CHECK(strstr(r.found, "nonce key s/nonce.key is 0640") != NULL);
	CHECK(strstr(r.found, "bastion.conf") == NULL);
	f.files[0].mode = 0600;
	CHECK_INT(run("files.modes", &f, &r), AUDIT_PASS);
	f.state_mode = 0777;
	CHECK_INT(run("files.modes", &f, &r), AUDIT_FAIL);
	f.state_mode = 0750;

	/* keys */
	f.ca_key_present = true;
	CHECK_INT(run("keys.ca_offline", &f, &r), AUDIT_FAIL);
	CHECK_INT(run("keys.encrypted", &f, &r), AUDIT_WARN);
	f.ca_key_encrypted = true;
	CHECK_INT(run("keys.encrypted", &f, &r), AUDIT_PASS);

	/* certificates */
	f.server_not_after = f.now + 10 * 86400;
	CHECK_INT(run("tls.expiry", &f, &r), AUDIT_WARN);
	f.server_not_after = f.now - 1;
	CHECK_INT(run("tls.expiry", &f, &r), AUDIT_FAIL);
	f.have_server_cert = false;
	CHECK_INT(run("tls.expiry", &f, &r), AUDIT_FAIL);
	f.have_server_cert = true;
	f.server_not_after = f.now + 800 * 86400LL;
	f.ca_not_after = f.now + 5 * 86400;
	CHECK_INT(run("tls.expiry", &f, &r), AUDIT_WARN);
	CHECK(strstr(r.fix, "--ca") != NULL);

	/* the library */
	f.library_ok = false;
	snprintf(f.library, sizeof(f.library), "OpenSSL 1.0.1f: CVE-2014-0160 (Heartbleed)");
	CHECK_INT(run("software.openssl", &f, &r), AUDIT_FAIL);
	CHECK(strstr(r.found, "CVE-2014-0160") && strstr(r.fix, "rotate"));

	/* backups: a new state has a week; then weekly */
	CHECK_INT(run("backup.age", &f, &r), AUDIT_WARN);
	f.created = f.now - 8 * 86400;
	CHECK_INT(run("backup.age", &f, &r), AUDIT_FAIL);
	f.hist[ADMIN_HIST_BACKUP] = f.now - 86400;
	CHECK_INT(run("backup.age", &f, &r), AUDIT_PASS);
	f.hist[ADMIN_HIST_BACKUP] = f.now - 7 * 86400;
	CHECK_INT(run("backup.age", &f, &r), AUDIT_FAIL);

	/* rotation: the server key's age, from the history or the certificate */
	CHECK_INT(run("keys.rotation", &f, &r), AUDIT_PASS);
	CHECK(strstr(r.found, "server-key never") != NULL);
	f.server_not_before = f.now - 400 * 86400LL;
	CHECK_INT(run("keys.rotation", &f, &r), AUDIT_WARN);
	f.hist[ADMIN_HIST_SERVER_KEY] = f.now - 86400;
	CHECK_INT(run("keys.rotation", &f, &r), AUDIT_PASS);
	CHECK(strstr(r.found, "server-key never") == NULL);

	/* logging */
	CHECK_INT(run("log.off_host", &f, &r), AUDIT_WARN); /* syslog: cannot be seen */
	snprintf(c.remote, sizeof(c.remote), "tls:127.0.0.1:6514");
	CHECK_INT(run("log.off_host", &f, &r), AUDIT_PASS);
	CHECK(strstr(r.found, "RFC 5425") != NULL);
	c.remote[0] = '\0';
	c.syslog = CONF_NO;
	CHECK_INT(run("log.off_host", &f, &r), AUDIT_FAIL);
	CHECK(strstr(r.fix, "[log] remote") != NULL);
	c.security_log[0] = '\0';
	CHECK_INT(run("log.enabled", &f, &r), AUDIT_FAIL);
	f.demo_credentials = true;
	CHECK_INT(run("users.default_passwords", &f, &r), AUDIT_FAIL);
}

static void test_history(void)
{
	char dir[] = "/tmp/bastion-hist-XXXXXX", path[128];
	int64_t last[ADMIN_HIST__COUNT];
	FILE *f;
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(admin_hist_read(dir, last), 0);
	CHECK_INT(last[ADMIN_HIST_BACKUP], 0);
	CHECK_INT(admin_hist_add(dir, ADMIN_HIST_BACKUP, 100), 0);
	CHECK_INT(admin_hist_add(dir, ADMIN_HIST_BACKUP, 300), 0);
	CHECK_INT(admin_hist_add(dir, ADMIN_HIST_BACKUP, 200), 0);
	CHECK_INT(admin_hist_add(dir, ADMIN_HIST_CA, 50), 0);
	CHECK_INT(admin_hist_add(dir, ADMIN_HIST__COUNT, 50), EINVAL);
	snprintf(path, sizeof(path), "%s/history", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* junk lines are skipped */
	f = fopen(path, "a");
	fputs("garbage\n-5 backup\n999 nonsense\n", f);
	fclose(f);
	CHECK_INT(admin_hist_read(dir, last), 0);
	CHECK_INT(last[ADMIN_HIST_BACKUP], 300);
	CHECK_INT(last[ADMIN_HIST_CA], 50);
	CHECK_INT(last[ADMIN_HIST_NONCE_KEY], 0);
	CHECK(strcmp(admin_hist_name(ADMIN_HIST_SERVER_KEY), "server-key") == 0);
	unlink(path);
	rmdir(dir);
}

static void test_event_selection(void)
{
	char *add[] = { "user", "add", "1001" }, *list[] = { "user", "list" },
	     *idl[] = { "user", "identity", "list", "1001" }, *rot[] = { "rotate", "--ca" },
	     *ver[] = { "backup", "verify", "f" }, *bak[] = { "backup", "--to", "f" },
	     *aud[] = { "audit" }, *cfg[] = { "config", "show" },
	     *padd[] = { "peer", "add", "gw1" }, *plist[] = { "peer", "list" },
	     *pshow[] = { "peer", "show", "gw1" }, *mig[] = { "store", "migrate" },
	     *uset[] = { "user", "set", "1001", "--digest", "md5" };

	CHECK(admin_event_wanted(3, add));
	CHECK(!admin_event_wanted(2, list));
	CHECK(!admin_event_wanted(4, idl));
	CHECK(admin_event_wanted(2, rot));
	CHECK(!admin_event_wanted(3, ver));
	CHECK(admin_event_wanted(3, bak));
	CHECK(!admin_event_wanted(1, aud));
	CHECK(!admin_event_wanted(2, cfg));
	/* peers change the configuration, store migrate/copy the database */
	CHECK(admin_event_wanted(3, padd));
	CHECK(!admin_event_wanted(2, plist));
	CHECK(!admin_event_wanted(3, pshow));
	CHECK(admin_event_wanted(2, mig));
	CHECK(admin_event_wanted(5, uset));
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_archive),     CASE(test_seal_and_open), CASE(test_addr_scope),
		CASE(test_seal_and_open_public_key),
		CASE(test_audit_checks), CASE(test_history),      CASE(test_event_selection),
	};

	return check_main("admin_ops", cases, ARRAY_SIZE(cases), argc, argv);
}
