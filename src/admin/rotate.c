/*
 * admin/rotate: `bastion rotate` replaces keys and credentials after a
 * compromise ("Heartbleed Bug and VoIP": after a library flaw, generate new
 * keys and certificates and change every credential, not just the
 * library). The parts combine:
 *   --server-key    a new server key and certificate from the CA, swapped in
 *                   by the running server on SIGHUP without dropping calls or
 *                   connections (open connections keep the old one);
 *   --ca            a new CA (and with it a new server certificate); the old
 *                   CA's revocation list goes, and the phone certificates to
 *                   reissue are listed;
 *   --nonce-key     a new nonce key: the running server derives a new run key
 *                   and every outstanding nonce is refused (fresh challenge);
 *   --ticket-keys   the running server's session ticket keys (memory only)
 *                   are renewed: no session resumes from an old ticket;
 *   --passwords     every user must change password: with --out FILE a new
 *                   generated password for every user, written to a new 0600
 *                   file for distribution; with --deadline T the old ones
 *                   keep working until T (the phone is told: event and
 *                   Warning), then get 403 "Password Expired"; without
 *                   --deadline they stop as soon as the server sees the
 *                   change (a second). --deadline without --out generates
 *                   nothing: each user's password must be changed (`user
 *                   passwd`) by T. --move-deadline T moves the deadline of
 *                   every user still pending (to the past: at once);
 *   --client-certs  every certificate issued to phones (issued/), or the one
 *                   of --cert NAME, is revoked in crl.pem, which the TLS
 *                   handshake checks ([tls] crl).
 * Files are replaced atomically (written beside, then renamed). Each part is
 * recorded in the history file (`bastion audit` shows the last of each
 * kind), and the command is an admin.rotate event.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../auth/auth.h"
#include "../conf/conf.h"
#include "../store/store.h"
#include "internal.h"

#define CRL_DAYS 3650 /* the list is re-signed at every rotation */

/* ---- the running server ----------------------------------------------------------- */

long admin_server_pid(const char *state)
{
	char path[4200], buf[4096];
	long pid = 0;
	FILE *f;
	size_t n;
	bool serve = false, bastion = false;

	if (conf_state_path(path, sizeof(path), state, STATE_PID_FILE) != 0 ||
	    !(f = fopen(path, "r")))
		return 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 1)
		pid = 0;
	fclose(f);
	if (!pid)
		return 0;
	/* a stale file may name a recycled pid: it must be a bastion serving */
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
		serve |= strcmp(buf + i, "serve") == 0;
		bastion |= strstr(buf + i, "bastion") != NULL && i == 0;
	}
	return serve && bastion ? pid : 0;
}

/* ---- files ---------------------------------------------------------------------- */

/* Replace path by what write_fn writes to path.new: the running server
 * never sees a half-written file. */
static int replace_key(const char *path, EVP_PKEY *k, const char *pass)
{
	char tmp[4300];
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	if ((rc = admin_tls_write_key(tmp, k, pass)) != 0)
		return rc;
	if (rename(tmp, path) != 0) {
		rc = errno;
		unlink(tmp);
	}
	return rc;
}

static int replace_cert(const char *path, X509 *x)
{
	char tmp[4300];
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	if ((rc = admin_tls_write_cert(tmp, x)) != 0)
		return rc;
	if (rename(tmp, path) != 0) {
		rc = errno;
		unlink(tmp);
	}
	return rc;
}

static int replace_bytes(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4300];
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return errno;
	if (write(fd, data, len) != (ssize_t)len)
		rc = EIO;
	if (!rc && (fchmod(fd, mode) != 0 || fsync(fd) != 0))
		rc = errno;
	if (close(fd) != 0 && !rc)
		rc = errno;
	if (!rc && rename(tmp, path) != 0)
		rc = errno;
	if (rc)
		unlink(tmp);
	return rc;
}

/* ---- the parts ------------------------------------------------------------------- */

struct rot {
	const char *state;
	struct conf c;
	const char *pass_file;     /* CA key passphrase; with --ca, the new CA key's */
	const char *ca_key_path;   /* --ca-key, else STATE/ca.key */
	char ca_key[4200], ca_crt[4200], srv_key[4200], srv_crt[4200], crl[4200];
	EVP_PKEY *cak;
	X509 *cax;
};

/* Load the CA certificate and key (asking for its passphrase if needed). */
static int load_ca(struct rot *r)
{
	char pass[ADMIN_PW_MAX + 1] = "";
	bool need = false;
	int rc;

	if (r->cak)
		return 0;
	if (admin_tls_read_cert(&r->cax, r->ca_crt) != 0) {
		fprintf(stderr, "bastion: rotate: cannot read the CA certificate %s\n", r->ca_crt);
		return 1;
	}
	if (access(r->ca_key, F_OK) != 0) {
		fprintf(stderr, "bastion: rotate: the CA key %s is not here (kept offline, as the "
				"guide asks); bring it back for this and give --ca-key PATH\n",
			r->ca_key);
		return 1;
	}
	if ((r->pass_file || admin_tls_key_encrypted(r->ca_key)) &&
	    admin_passphrase_get(pass, sizeof(pass), r->pass_file, "CA key passphrase: ", false))
		return 1;
	rc = admin_tls_read_key(&r->cak, r->ca_key, pass[0] ? pass : NULL, &need);
	OPENSSL_cleanse(pass, sizeof(pass));
	if (rc) {
		fprintf(stderr, "bastion: rotate: cannot read the CA key %s: %s\n", r->ca_key,
			need ? "it is encrypted; give --passphrase-file FILE"
			: rc == EACCES ? "wrong passphrase" : strerror(rc));
		return 1;
	}
	if (X509_check_private_key(r->cax, r->cak) != 1) {
		ERR_clear_error();
		fprintf(stderr, "bastion: rotate: %s does not belong to %s\n", r->ca_key, r->ca_crt);
		return 1;
	}
	return 0;
}

static int rotate_server_key(struct rot *r)
{
	char pass[ADMIN_PW_MAX + 1] = "", ppath[4200];
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	int rc, status = 1;

	if (load_ca(r) != 0)
		return 1;
	/* an encrypted server key stays encrypted, under the same passphrase file */
	if (r->c.tls_key_passphrase_file[0] &&
	    (conf_state_path(ppath, sizeof(ppath), r->state, r->c.tls_key_passphrase_file) ||
	     admin_passphrase_get(pass, sizeof(pass), ppath, "", false)))
		goto out;
	if ((rc = admin_tls_key_new(&k)) != 0 ||
	    (rc = admin_tls_issue_server(&x, k, &r->c, r->cax, r->cak)) != 0) {
		fprintf(stderr, "bastion: rotate: cannot issue the server certificate: %s\n",
			strerror(rc));
		goto out;
	}
	/* key first: a reload between the two renames finds them mismatched,
	 * refuses them and keeps the running pair; the SIGHUP after both loads
	 * the new one */
	if ((rc = replace_key(r->srv_key, k, pass[0] ? pass : NULL)) != 0 ||
	    (rc = replace_cert(r->srv_crt, x)) != 0) {
		fprintf(stderr, "bastion: rotate: cannot write %s / %s: %s\n", r->srv_key, r->srv_crt,
			strerror(rc));
		goto out;
	}
	admin_hist_add(r->state, ADMIN_HIST_SERVER_KEY, (int64_t)time(NULL));
	printf("server-key: new key %s and certificate %s from the CA.\n", r->srv_key, r->srv_crt);
	status = 0;
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	EVP_PKEY_free(k);
	X509_free(x);
	return status;
}

/* Print the phones that hold certificates from a CA that is gone. */
static void list_issued(const char *state, const char *why)
{
	char dir[4200];
	DIR *d;
	struct dirent *e;
	int n = 0;

	if (conf_state_path(dir, sizeof(dir), state, "issued") != 0 || !(d = opendir(dir)))
		return;
	while ((e = readdir(d)) && n < 100000) {
		size_t len = strlen(e->d_name);
		if (len > 4 && strcmp(e->d_name + len - 4, ".crt") == 0) {
			if (n++ == 0)
				printf("Phone certificates to reissue (%s):\n", why);
			printf("  %.*s: rm %s/%.*s.* && bastion tls issue %.*s\n", (int)(len - 4),
			       e->d_name, dir, (int)(len - 4), e->d_name, (int)(len - 4), e->d_name);
		}
	}
	closedir(d);
	if (n == 0)
		printf("No phone certificates were issued from the old CA (issued/ is empty).\n");
}

static int rotate_ca(struct rot *r)
{
	char pass[ADMIN_PW_MAX + 1] = "", cn[300];
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	int rc, status = 1;
	struct admin_cert_spec spec = { .kind = ADMIN_CERT_CA, .cn = cn, .org = "Bastion",
					.days = ADMIN_TLS_CA_DAYS };

	if (r->pass_file && admin_passphrase_get(pass, sizeof(pass), r->pass_file, "", false))
		goto out;
	snprintf(cn, sizeof(cn), "Bastion local CA for %s", r->c.domain);
	if (strlen(cn) > 64)
		snprintf(cn, sizeof(cn), "Bastion local CA");
	if ((rc = admin_tls_key_new(&k)) != 0 || (rc = admin_tls_cert_new(&x, k, &spec, NULL, NULL))) {
		fprintf(stderr, "bastion: rotate: cannot make the CA: %s\n", strerror(rc));
		goto out;
	}
	if ((rc = replace_key(r->ca_key, k, pass[0] ? pass : NULL)) != 0 ||
	    (rc = replace_cert(r->ca_crt, x)) != 0) {
		fprintf(stderr, "bastion: rotate: cannot write %s / %s: %s\n", r->ca_key, r->ca_crt,
			strerror(rc));
		goto out;
	}
	/* the old CA's revocation list cannot vouch for the new CA's certificates */
	if (unlink(r->crl) == 0)
		printf("ca: removed %s (it belonged to the old CA).\n", r->crl);
	EVP_PKEY_free(r->cak);
	X509_free(r->cax);
	r->cak = k;
	r->cax = x;
	k = NULL;
	x = NULL;
	admin_hist_add(r->state, ADMIN_HIST_CA, (int64_t)time(NULL));
	printf("ca: new CA %s (key %s%s). Phones must trust the new %s.\n", r->ca_crt, r->ca_key,
	       pass[0] ? ", encrypted" : "", r->ca_crt);
	list_issued(r->state, "signed by the old CA");
	status = 0;
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	EVP_PKEY_free(k);
	X509_free(x);
	return status;
}

static int rotate_nonce_key(struct rot *r)
{
	char path[4200];
	uint8_t key[AUTH_KEY_LEN];
	int rc;

	if (conf_state_path(path, sizeof(path), r->state, STATE_KEY_FILE) != 0)
		return 1;
	if (RAND_bytes(key, sizeof(key)) != 1 ||
	    (rc = replace_bytes(path, key, sizeof(key), 0600)) != 0) {
		fprintf(stderr, "bastion: rotate: cannot write %s\n", path);
		OPENSSL_cleanse(key, sizeof(key));
		return 1;
	}
	OPENSSL_cleanse(key, sizeof(key));
	admin_hist_add(r->state, ADMIN_HIST_NONCE_KEY, (int64_t)time(NULL));
	printf("nonce-key: new %s; outstanding nonces will be refused (phones are challenged "
	       "again).\n", path);
	return 0;
}

/* ---- passwords ------------------------------------------------------------------ */

struct pw_list {
	struct store_user *u;
	size_t n, cap;
};

static int on_user(void *arg, const struct store_user *u)
{
	struct pw_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct store_user *p = realloc(l->u, cap * sizeof(*p));
		if (!p)
			return ENOMEM;
		l->u = p;
		l->cap = cap;
	}
	l->u[l->n++] = *u;
	return 0;
}

/* A deadline: "now", "+N" with s, m, h or d (from now), or what --since
 * takes (unix seconds, 2026-12-20, 2026-12-20T10:00:00Z, -1h). */
static int parse_deadline(const char *v, int64_t now, int64_t *out, char *why, size_t cap)
{
	int64_t d;
	int rc;

	if (strcmp(v, "now") == 0) {
		*out = now;
		return 0;
	}
	if (v[0] == '+') {
		if ((rc = admin_parse_duration(v + 1, &d, why, cap)) != 0)
			return rc;
		*out = now + d;
		return 0;
	}
	if ((rc = admin_parse_since(v, now, out, why, cap)) != 0)
		return rc;
	if (*out <= 0) {
		snprintf(why, cap, "a deadline before 1970");
		return EINVAL;
	}
	return 0;
}

static const char *fmt_utc(char *buf, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "%lld", (long long)t);
	return buf;
}

/* --passwords --deadline T without --out: every user must change its
 * password by T; nothing is generated. */
static int mark_passwords(struct rot *r, int64_t deadline)
{
	struct pw_list l = { 0 };
	struct store *s = NULL;
	char when[40];
	int rc, status = 1;

	if (admin_open_state(&r->c, &s, r->state) != 0)
		return 1;
	if ((rc = store_users_list(s, on_user, &l)) != 0) {
		fprintf(stderr, "bastion: rotate: cannot list the users: %s\n", strerror(rc));
		goto out;
	}
	if ((rc = store_batch_begin(s)) != 0) {
		fprintf(stderr, "bastion: rotate: the database is busy (%s); nothing was changed\n",
			strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		rc = store_users_rotate_password(s, l.u[i].name, l.u[i].domain, NULL, deadline, 0);
		if (rc) {
			store_batch_end(s, false);
			fprintf(stderr, "bastion: rotate: %s@%s: %s; nothing was changed\n", l.u[i].name,
				l.u[i].domain, strerror(rc));
			goto out;
		}
	}
	if ((rc = store_batch_end(s, true)) != 0) {
		fprintf(stderr, "bastion: rotate: committing: %s; nothing was changed\n",
			strerror(rc));
		goto out;
	}
	admin_hist_add(r->state, ADMIN_HIST_PASSWORDS, (int64_t)time(NULL));
	printf("passwords: %zu users must change their password by %s. Until then each is "
	       "told when it registers (a Warning header, event auth.password_change_due); from "
	       "then on its password gets 403 \"Password Expired\" (event "
	       "auth.password_expired). Set each new one with 'bastion user passwd NAME'; "
	       "'bastion user list' shows who is still pending; 'bastion rotate --move-deadline "
	       "T' moves the deadline.\n",
	       l.n, fmt_utc(when, sizeof(when), deadline));
	status = 0;
out:
	free(l.u);
	store_close(&s);
	return status;
}

/* --move-deadline T: every user still in a rotation's grace. */
static int move_deadline(struct rot *r, int64_t deadline)
{
	struct store *s = NULL;
	char when[40];
	size_t n = 0;
	int rc, status = 1;

	if (admin_open_state(&r->c, &s, r->state) != 0)
		return 1;
	rc = store_users_move_deadline(s, &n, deadline);
	if (rc) {
		fprintf(stderr, "bastion: rotate: moving the deadline: %s\n", strerror(rc));
	} else if (n == 0) {
		fprintf(stderr, "bastion: rotate: no user has a password deadline (no 'rotate "
				"--passwords --deadline' is pending); nothing was changed\n");
	} else {
		printf("passwords: the deadline of %zu users is now %s%s.\n", n,
		       fmt_utc(when, sizeof(when), deadline),
		       deadline <= (int64_t)time(NULL)
			       ? " (passed: their old passwords are refused from now on)"
			       : "");
		status = 0;
	}
	store_close(&s);
	return status;
}

static int rotate_passwords(struct rot *r, const char *out, int64_t deadline)
{
	struct pw_list l = { 0 };
	struct store *s = NULL;
	char (*pw)[ADMIN_PW_GEN_LEN + 1] = NULL, when[40];
	FILE *f = NULL;
	int fd = -1, rc, status = 1;

	if (!out)
		return mark_passwords(r, deadline);
	if (admin_open_state(&r->c, &s, r->state) != 0)
		return 1;
	if ((rc = store_users_list(s, on_user, &l)) != 0) {
		fprintf(stderr, "bastion: rotate: cannot list the users: %s\n", strerror(rc));
		goto out;
	}
	pw = calloc(l.n ? l.n : 1, sizeof(*pw));
	if (!pw)
		goto out;
	for (size_t i = 0; i < l.n; i++)
		if (admin_pw_generate(pw[i], sizeof(pw[i])) != 0)
			goto out;
	/* the file first: no password changes before it can be distributed */
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		fprintf(stderr, "bastion: rotate: cannot create %s: %s (it must not exist)\n", out,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(f, "# new SIP passwords from 'bastion rotate --passwords'; name@domain password\n");
	for (size_t i = 0; i < l.n; i++)
		fprintf(f, "%s@%s %s\n", l.u[i].name, l.u[i].domain, pw[i]);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0) {
		f = NULL;
		fprintf(stderr, "bastion: rotate: cannot write %s\n", out);
		unlink(out);
		goto out;
	}
	f = NULL;
	/* one transaction: every user gets the password the file gives it, or
	 * none does (the file is then removed) */
	if ((rc = store_batch_begin(s)) != 0) {
		fprintf(stderr, "bastion: rotate: the database is busy (%s); no password was "
				"changed\n", strerror(rc));
		unlink(out);
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct store_cred cred;
		rc = admin_make_cred(&cred, l.u[i].name, admin_realm(&r->c), pw[i]);
		if (!rc)
			rc = deadline ? store_users_rotate_password(s, l.u[i].name, l.u[i].domain,
								    &cred, deadline, 0)
				      : store_users_set_password(s, l.u[i].name, l.u[i].domain,
								 &cred, 0);
		OPENSSL_cleanse(&cred, sizeof(cred));
		if (rc) {
			store_batch_end(s, false);
			fprintf(stderr, "bastion: rotate: %s@%s: %s; no password was changed\n",
				l.u[i].name, l.u[i].domain, strerror(rc));
			unlink(out);
			goto out;
		}
	}
	if ((rc = store_batch_end(s, true)) != 0) {
		fprintf(stderr, "bastion: rotate: committing the new passwords: %s; no password was "
				"changed\n", strerror(rc));
		unlink(out);
		goto out;
	}
	admin_hist_add(r->state, ADMIN_HIST_PASSWORDS, (int64_t)time(NULL));
	if (deadline)
		printf("passwords: %zu users have new generated passwords, listed in %s (mode "
		       "0600); they work now. The old passwords keep working until %s: a phone "
		       "that still uses one is told (a Warning header, event auth.old_password), "
		       "and from then on gets 403 \"Password Expired\" (event "
		       "auth.password_expired). Give each phone its line, then delete the file; "
		       "'bastion rotate --move-deadline now' ends the grace early.\n",
		       l.n, out, fmt_utc(when, sizeof(when), deadline));
	else
		printf("passwords: %zu users have new generated passwords, listed in %s (mode "
		       "0600). Their old passwords stop working as soon as the server sees the "
		       "change (about a second). Give each phone its line, then delete the "
		       "file.\n", l.n, out);
	status = 0;
out:
	if (f)
		fclose(f);
	if (pw)
		OPENSSL_cleanse(pw, (l.n ? l.n : 1) * sizeof(*pw));
	free(pw);
	free(l.u);
	store_close(&s);
	return status;
}

/* ---- client certificates: the revocation list ---------------------------------- */

/* Add every certificate in issued/ (only NAME.crt when only is not NULL)
 * to crl, and rename it NAME.crt.revoked-T with its key, so the name can be
 * issued again. Returns the count. */
static size_t revoke_issued(const char *state, X509_CRL *crl, int64_t now, const char *only)
{
	char dir[4200], p[4600], q[4700];
	DIR *d;
	struct dirent *e;
	size_t n = 0;

	if (conf_state_path(dir, sizeof(dir), state, "issued") != 0 || !(d = opendir(dir)))
		return 0;
	while ((e = readdir(d)) && n < 100000) {
		size_t len = strlen(e->d_name);
		X509 *x = NULL;
		X509_REVOKED *rv;
		ASN1_TIME *t;

		if (len <= 4 || strcmp(e->d_name + len - 4, ".crt") != 0)
			continue;
		if (only && (strlen(only) != len - 4 || strncmp(e->d_name, only, len - 4) != 0))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (admin_tls_read_cert(&x, p) != 0)
			continue;
		rv = X509_REVOKED_new();
		t = ASN1_TIME_set(NULL, (time_t)now);
		if (rv && t && X509_REVOKED_set_serialNumber(rv, X509_get_serialNumber(x)) == 1 &&
		    X509_REVOKED_set_revocationDate(rv, t) == 1 && X509_CRL_add0_revoked(crl, rv) == 1) {
			rv = NULL;
			n++;
			printf("  revoked %.*s (%s)\n", (int)(len - 4), e->d_name, p);
			snprintf(q, sizeof(q), "%s.revoked-%lld", p, (long long)now);
			rename(p, q);
			snprintf(p, sizeof(p), "%s/%.*s.key", dir, (int)(len - 4), e->d_name);
			snprintf(q, sizeof(q), "%s.revoked-%lld", p, (long long)now);
			rename(p, q);
		}
		X509_REVOKED_free(rv);
		ASN1_TIME_free(t);
		X509_free(x);
	}
	closedir(d);
	return n;
}

static int rotate_client_certs(struct rot *r, const char *only)
{
	X509_CRL *crl = NULL, *old = NULL;
	ASN1_TIME *t1 = NULL, *t2 = NULL;
	BIO *b = NULL;
	char *data = NULL;
	long len;
	size_t n;
	int64_t now = (int64_t)time(NULL);
	int status = 1;

	if (load_ca(r) != 0)
		return 1;
	crl = X509_CRL_new();
	t1 = ASN1_TIME_set(NULL, (time_t)now);
	t2 = ASN1_TIME_set(NULL, (time_t)(now + (int64_t)CRL_DAYS * 86400));
	if (!crl || !t1 || !t2 || X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(r->cax)) != 1 ||
	    X509_CRL_set1_lastUpdate(crl, t1) != 1 || X509_CRL_set1_nextUpdate(crl, t2) != 1)
		goto out;
	/* what the list already revoked stays revoked */
	if ((b = BIO_new_file(r->crl, "r")) && (old = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) &&
	    X509_CRL_verify(old, r->cak) == 1) {
		STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(old);
		for (int i = 0; i < sk_X509_REVOKED_num(rs); i++) {
			X509_REVOKED *rv = X509_REVOKED_dup(sk_X509_REVOKED_value(rs, i));
			if (!rv || X509_CRL_add0_revoked(crl, rv) != 1) {
				X509_REVOKED_free(rv);
				goto out;
			}
		}
	}
	BIO_free(b);
	b = NULL;
	ERR_clear_error();
	if (only)
		printf("client-certs: revoking the certificate issued to %s:\n", only);
	else
		printf("client-certs: revoking every certificate issued to phones:\n");
	n = revoke_issued(r->state, crl, now, only);
	if (only && n == 0) {
		fprintf(stderr, "bastion: rotate: no certificate %s/issued/%s.crt; nothing revoked\n",
			r->state, only);
		goto out;
	}
	if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, r->cak, EVP_sha256()) == 0 ||
	    !(b = BIO_new(BIO_s_mem())) || PEM_write_bio_X509_CRL(b, crl) != 1)
		goto out;
	len = BIO_get_mem_data(b, &data);
	if (len <= 0 || replace_bytes(r->crl, data, (size_t)len, 0644) != 0) {
		fprintf(stderr, "bastion: rotate: cannot write %s\n", r->crl);
		goto out;
	}
	admin_hist_add(r->state, ADMIN_HIST_CLIENT_CERTS, (int64_t)now);
	printf("client-certs: %zu newly revoked, %d in %s, which the TLS handshake checks "
	       "([tls] crl). Issue new ones with 'bastion tls issue NAME'.\n",
	       n, sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), r->crl);
	status = 0;
out:
	if (status)
		fprintf(stderr, "bastion: rotate: cannot build the revocation list\n");
	ERR_clear_error();
	BIO_free(b);
	X509_CRL_free(crl);
	X509_CRL_free(old);
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	return status;
}

/* ---- the command ---------------------------------------------------------------- */

int admin_cmd_rotate(const char *state, int argc, char **argv)
{
	bool server_key = false, ca = false, nonce = false, tickets = false, pws = false,
	     certs = false;
	const char *out = NULL, *only = NULL, *deadline_arg = NULL, *move_arg = NULL;
	struct rot r = { .state = state };
	char path[4200], err[600];
	int64_t deadline = 0, moved = 0, now = (int64_t)time(NULL);
	long pid;
	int status = 1;

	for (int i = 1; i < argc; i++) {
		const char *v;
		if (strcmp(argv[i], "--server-key") == 0)
			server_key = true;
		else if (strcmp(argv[i], "--ca") == 0)
			ca = true;
		else if (strcmp(argv[i], "--nonce-key") == 0)
			nonce = true;
		else if (strcmp(argv[i], "--ticket-keys") == 0)
			tickets = true;
		else if (strcmp(argv[i], "--passwords") == 0)
			pws = true;
		else if (strcmp(argv[i], "--client-certs") == 0)
			certs = true;
		else if ((v = admin_opt_value(argc, argv, &i, "--out")))
			out = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--passphrase-file")))
			r.pass_file = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--ca-key")))
			r.ca_key_path = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--cert")))
			only = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--deadline")))
			deadline_arg = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--move-deadline")))
			move_arg = v;
		else
			return admin_usage_error("rotate", "rotate: unknown argument", argv[i]);
	}
	if (deadline_arg && parse_deadline(deadline_arg, now, &deadline, err, sizeof(err)) != 0)
		return admin_usage_error("rotate", "rotate --deadline: bad time (now, +7d, "
				       "2026-12-20T10:00:00Z, unix seconds)", deadline_arg);
	if (move_arg && parse_deadline(move_arg, now, &moved, err, sizeof(err)) != 0)
		return admin_usage_error("rotate", "rotate --move-deadline: bad time (now, +7d, "
				       "2026-12-20T10:00:00Z, unix seconds)", move_arg);
	if (move_arg && (server_key || ca || nonce || tickets || pws || certs || deadline_arg))
		return admin_usage_error("rotate", "rotate --move-deadline T goes alone (it moves "
				       "the deadline of the last --passwords rotation)", NULL);
	if (!(server_key || ca || nonce || tickets || pws || certs || move_arg))
		return admin_usage_error("rotate", "rotate: name what to rotate: --server-key, --ca, "
				       "--nonce-key, --ticket-keys, --passwords, --client-certs", NULL);
	if (pws && !out && !deadline_arg)
		return admin_usage_error("rotate", "rotate --passwords needs --out FILE (new "
				       "generated passwords) and/or --deadline T (when the old ones "
				       "stop working)", NULL);
	if (deadline_arg && !pws)
		return admin_usage_error("rotate", "rotate: --deadline goes with --passwords", NULL);
	if (out && !pws)
		return admin_usage_error("rotate", "rotate: --out goes with --passwords", NULL);
	if (only && !certs)
		return admin_usage_error("rotate", "rotate: --cert NAME goes with --client-certs", NULL);
	snprintf(path, sizeof(path), "%s/%s", state, CONF_FILE_NAME);
	if (conf_load(&r.c, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: %s\n", err);
		return 1;
	}
	if (conf_state_path(r.ca_crt, sizeof(r.ca_crt), state, r.c.tls_ca[0] ? r.c.tls_ca : "ca.crt") ||
	    conf_state_path(r.ca_key, sizeof(r.ca_key), state,
			    r.ca_key_path ? r.ca_key_path : STATE_CA_KEY_FILE) ||
	    conf_state_path(r.srv_key, sizeof(r.srv_key), state, r.c.tls_key) ||
	    conf_state_path(r.srv_crt, sizeof(r.srv_crt), state, r.c.tls_certificate) ||
	    conf_state_path(r.crl, sizeof(r.crl), state, r.c.tls_crl[0] ? r.c.tls_crl : STATE_CRL_FILE))
		return 1;
	if (r.ca_key_path)
		snprintf(r.ca_key, sizeof(r.ca_key), "%s", r.ca_key_path);
	if (move_arg)
		return move_deadline(&r, moved);
	/* a new CA needs a new server certificate */
	if ((ca && rotate_ca(&r)) || ((server_key || ca) && rotate_server_key(&r)) ||
	    (certs && rotate_client_certs(&r, only)) || (nonce && rotate_nonce_key(&r)) ||
	    (pws && rotate_passwords(&r, out, deadline)))
		goto out;
	if (tickets)
		admin_hist_add(state, ADMIN_HIST_TICKET_KEYS, (int64_t)time(NULL));
	pid = admin_server_pid(state);
	if (server_key || ca || nonce || tickets || certs) {
		if (pid > 0 && kill((pid_t)pid, SIGHUP) == 0) {
			printf("Told the running server (pid %ld) to reload: its log says \"TLS "
			       "certificate reloaded\"%s. Open connections and calls keep going.\n",
			       pid, nonce ? " and \"nonce key replaced\"" : "");
		} else if (tickets && !(server_key || ca || nonce || certs)) {
			printf("ticket-keys: no running server found; session ticket keys live in its "
			       "memory only, and a start makes new ones.\n");
		} else {
			printf("No running server found (%s/%s); the new files are used when it "
			       "starts.%s\n", state, STATE_PID_FILE,
			       tickets ? " Session ticket keys are new at every start." : "");
		}
	}
	if (ca || server_key)
		printf("Next: 'bastion --state %s audit' shows the rotation; move the CA key "
		       "offline again if you brought it.\n", state);
	status = 0;
out:
	EVP_PKEY_free(r.cak);
	X509_free(r.cax);
	return status;
}
