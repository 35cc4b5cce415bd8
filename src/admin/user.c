/*
 * admin/user: the commands `bastion user ...` (with `user identity ...`, the
 * extra identities a user may put in From, and `user cert ...`, the binding of
 * a user to its client certificate) and `bastion reg list`, and the demo
 * users of `bastion init --demo`.
 *
 * They talk to the same store as the server (SQLite in WAL mode), so they
 * work while it runs: the server notices a change of the users table by
 * itself (store_users_version) and reloads its credential cache.
 *
 * Passwords are held only as long as it takes to compute the two HA1 values
 * and are wiped afterwards; the HA1 values are stored and never printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../auth/auth.h"
#include "../conf/conf.h"
#include "../sip/sip.h"
#include "../store/store.h"
#include "internal.h"

#define IMPORT_MAX_USERS 200000  /* about 150 MB of records in memory */
#define IMPORT_LINE_MAX 4096

/* ---- shared with admin.c ---------------------------------------------------- */

int admin_open_state(struct conf *c, struct store **sp, const char *state)
{
	char path[4200], db[4200], err[600];

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
	if (store_location(db, sizeof(db), state, c->database) != 0) {
		fprintf(stderr, "bastion: database path too long\n");
		return 1;
	}
	if (store_open(sp, db, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: cannot open the database %s: %s\n",
			store_is_remote(db) ? "(PostgreSQL)" : db, err);
		return 1;
	}
	/* What a command reports done is durable as [store] durability says,
	 * like the server's answers (a commit returns once it is). */
	if (store_set_durability(*sp, c->durability == CONF_DURABLE_POWER ? STORE_DURABLE_POWER
									   : STORE_DURABLE_PROCESS) != 0) {
		fprintf(stderr, "bastion: cannot set the database's durability: %s\n",
			store_errmsg(*sp));
		store_close(sp);
		return 1;
	}
	return 0;
}

const char *admin_realm(const struct conf *c)
{
	return c->realm[0] ? c->realm : c->domain;
}

/* ---- helpers ------------------------------------------------------------------ */

static const char *fmt_time(char *buf, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, cap, "@%lld", (long long)t);
	return buf;
}

static const char *strength_name(enum store_pw_strength st)
{
	return st == STORE_PW_CHECKED ? "checked" : "unknown";
}

/* Validate a domain as the configuration does. Returns 0 or EINVAL (why). */
static int domain_check(const char *domain, char *why, size_t cap)
{
	struct conf tmp;

	conf_defaults(&tmp);
	return conf_set(&tmp, "server", "domain", domain, why, cap);
}

/* The credentials of name for password pw in realm: both HA1 values in hex.
 * Returns 0 or the error of auth_ha1/auth_hex. */
int admin_make_cred(struct store_cred *cred, const char *name, const char *realm,
		     const char *pw)
{
	uint8_t ha1[AUTH_HASH_MAX];
	size_t len;
	int rc;

	memset(cred, 0, sizeof(*cred));
	snprintf(cred->realm, sizeof(cred->realm), "%s", realm);
	cred->strength = STORE_PW_CHECKED;
	rc = auth_ha1(ha1, sizeof(ha1), &len, AUTH_ALGO_MD5, slice_cstr(name), slice_cstr(realm),
		      slice_cstr(pw));
	if (!rc)
		rc = auth_hex(cred->ha1_md5, sizeof(cred->ha1_md5), ha1, len);
	if (!rc)
		rc = auth_ha1(ha1, sizeof(ha1), &len, AUTH_ALGO_SHA256, slice_cstr(name),
			      slice_cstr(realm), slice_cstr(pw));
	if (!rc)
		rc = auth_hex(cred->ha1_sha256, sizeof(cred->ha1_sha256), ha1, len);
	OPENSSL_cleanse(ha1, sizeof(ha1));
	return rc;
}

struct user_args {
	const char *cmd;        /* "user" or "reg" */
	const char *sub;        /* "add", "passwd", ... */
	const char *name;
	const char *domain;
	bool generate, pw_stdin;
};

/* Parse NAME [--domain D] [--generate | --password-stdin] after the
 * subcommand. want_pw: the password options are allowed and one is required.
 * Returns 0 or the usage exit status. */
static int parse_user_args(struct user_args *ua, int argc, char **argv, bool want_pw)
{
	char msg[128];

	memset(ua, 0, sizeof(*ua));
	ua->cmd = argv[0];
	ua->sub = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--domain"))) {
			ua->domain = v;
		} else if (want_pw && strcmp(argv[i], "--generate") == 0) {
			ua->generate = true;
		} else if (want_pw && strcmp(argv[i], "--password-stdin") == 0) {
			ua->pw_stdin = true;
		} else if (argv[i][0] != '-' && !ua->name) {
			ua->name = argv[i];
		} else {
			snprintf(msg, sizeof(msg), "%s %s: unexpected argument", ua->cmd, ua->sub);
			return admin_usage_error(ua->cmd, msg, argv[i]);
		}
	}
	if (!ua->name) {
		snprintf(msg, sizeof(msg), "%s %s: a user NAME is needed", ua->cmd, ua->sub);
		return admin_usage_error(ua->cmd, msg, NULL);
	}
	if (want_pw && ua->generate == ua->pw_stdin) {
		snprintf(msg, sizeof(msg), "user %s: give one of --generate or --password-stdin",
			 ua->sub);
		return admin_usage_error("user", msg, NULL);
	}
	return 0;
}

/* Check the name and the domain (defaulting to c->domain). Returns 0 or 1
 * with a message printed. */
static int check_target(struct user_args *ua, const struct conf *c)
{
	char why[300];

	if (!ua->domain)
		ua->domain = c->domain;
	if (admin_name_check(ua->name, why, sizeof(why)) != 0 ||
	    domain_check(ua->domain, why, sizeof(why)) != 0) {
		fprintf(stderr, "bastion: %s %s: %s\n", ua->cmd, ua->sub, why);
		return 1;
	}
	return 0;
}

/* Get the password (generated or from stdin, checked) into pw. Returns 0 or
 * 1 with a message printed; pw is wiped on failure. */
static int get_password(char *pw, size_t cap, const struct user_args *ua)
{
	char why[200];
	int rc;

	if (ua->generate) {
		rc = admin_pw_generate(pw, cap);
		if (rc) {
			fprintf(stderr, "bastion: user %s: cannot generate a password: %s\n", ua->sub,
				strerror(rc));
			return 1;
		}
		return 0;
	}
	rc = admin_pw_read_line(pw, cap, STDIN_FILENO);
	if (rc == ENODATA) {
		fprintf(stderr, "bastion: user %s: no password on standard input\n", ua->sub);
		return 1;
	}
	if (rc == EOVERFLOW) {
		fprintf(stderr, "bastion: user %s: the password is longer than %zu bytes\n", ua->sub,
			cap - 1);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "bastion: user %s: reading standard input: %s\n", ua->sub,
			strerror(rc));
		return 1;
	}
	if (admin_pw_check(pw, ua->name, why, sizeof(why)) != 0) {
		OPENSSL_cleanse(pw, cap);
		fprintf(stderr, "bastion: user %s: password refused: %s\n", ua->sub, why);
		return 1;
	}
	return 0;
}

static int store_failed(const char *what, const struct user_args *ua, struct store *s, int rc)
{
	if (rc == ENOENT)
		fprintf(stderr, "bastion: user %s@%s does not exist\n", ua->name, ua->domain);
	else if (rc == EEXIST)
		fprintf(stderr, "bastion: user %s@%s already exists\n", ua->name, ua->domain);
	else
		fprintf(stderr, "bastion: %s %s: %s: %s\n", ua->cmd, what, strerror(rc),
			store_errmsg(s));
	return 1;
}

/* ---- user add / passwd ------------------------------------------------------ */

static int user_set_password(struct store *s, const struct conf *c, struct user_args *ua,
			     bool add)
{
	char pw[ADMIN_PW_MAX + 1];
	struct store_user u;
	int rc, status = 1;

	memset(&u, 0, sizeof(u));
	if (check_target(ua, c))
		return 1;
	if (!add) {
		/* Say "does not exist" before asking for a password. */
		rc = store_users_get(s, &u, ua->name, ua->domain);
		if (rc)
			return store_failed(ua->sub, ua, s, rc);
	}
	if (get_password(pw, sizeof(pw), ua))
		return 1;
	rc = admin_make_cred(&u.cred, ua->name, admin_realm(c), pw);
	if (rc) {
		fprintf(stderr, "bastion: user %s: computing HA1: %s\n", ua->sub, strerror(rc));
		goto out;
	}
	if (add) {
		snprintf(u.name, sizeof(u.name), "%s", ua->name);
		snprintf(u.domain, sizeof(u.domain), "%s", ua->domain);
		u.enabled = true;
		rc = store_users_add(s, NULL, &u);
	} else {
		rc = store_users_set_password(s, ua->name, ua->domain, &u.cred, 0);
	}
	if (rc) {
		store_failed(ua->sub, ua, s, rc);
		goto out;
	}
	printf("%s %s@%s.\n", add ? "Added user" : "Changed the password of", ua->name,
	       ua->domain);
	if (ua->generate)
		printf("Generated password (shown only this once): %s\n", pw);
	status = 0;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	OPENSSL_cleanse(&u.cred, sizeof(u.cred));
	return status;
}

/* ---- user list / show ------------------------------------------------------- */

static int print_user_line(void *arg, const struct store_user *u)
{
	char cr[40], ch[40];
	size_t *n = arg;

	/* client-cert last: scripts read the fields before it by position */
	printf("%s@%s  %s  password %s  created %s  changed %s  client-cert %s", u->name,
	       u->domain, u->enabled ? "enabled" : "disabled", strength_name(u->cred.strength),
	       fmt_time(cr, sizeof(cr), u->created_at), fmt_time(ch, sizeof(ch), u->changed_at),
	       u->require_client_cert ? "required" : "off");
	/* a password rotation still pending for this user (rotate --deadline) */
	if (u->pw_deadline > 0)
		printf("  %s %s", u->old_cred.ha1_md5[0] || u->old_cred.ha1_sha256[0]
					  ? "old-password-until" : "change-password-by",
		       fmt_time(cr, sizeof(cr), u->pw_deadline));
	printf("\n");
	++*n;
	return 0;
}

static int user_list(struct store *s)
{
	size_t n = 0;
	int rc = store_users_list(s, print_user_line, &n);

	if (rc) {
		fprintf(stderr, "bastion: user list: %s: %s\n", strerror(rc), store_errmsg(s));
		return 1;
	}
	if (n == 0)
		printf("No users.\n");
	return 0;
}

struct reg_walk {
	int64_t user_id;        /* only this user's bindings; 0 for all */
	int64_t now;
	size_t n;
	const char *indent;
};

static int print_reg(void *arg, const struct store_reg *r)
{
	struct reg_walk *w = arg;
	char aor[600], contact[600], ua[300], exp[40];

	if (w->user_id && r->user_id != w->user_id)
		return 0;
	/* Contact and User-Agent came from a SIP peer: print them escaped. */
	slice_repr(aor, sizeof(aor), slice_cstr(r->aor), 512);
	slice_repr(contact, sizeof(contact), slice_cstr(r->contact), 512);
	slice_repr(ua, sizeof(ua), slice_cstr(r->user_agent), 200);
	if (r->expires_at > w->now)
		snprintf(exp, sizeof(exp), "expires in %lld s", (long long)(r->expires_at - w->now));
	else
		snprintf(exp, sizeof(exp), "expired");
	printf("%s%s  contact %s  received %s  transport %s  %s  user-agent \"%s\"\n", w->indent,
	       aor, contact, r->received, r->transport, exp, ua);
	w->n++;
	return 0;
}

struct id_walk {
	size_t n;
	const char *indent;
};

static int print_identity(void *arg, const struct store_identity *id)
{
	struct id_walk *w = arg;

	/* Validated by identity_canon before it was stored: no control bytes;
	 * the store refuses those in any case. */
	printf("%s%s\n", w->indent, id->uri);
	w->n++;
	return 0;
}

/* The "identities:" part of user show. */
static int user_show_identities(struct store *s, const struct user_args *ua)
{
	struct id_walk w = { .indent = "  " };
	int rc;

	printf("identities (besides its own address):\n");
	rc = store_identities_list(s, ua->name, ua->domain, print_identity, &w);
	if (rc) {
		fprintf(stderr, "bastion: user show: %s: %s\n", strerror(rc), store_errmsg(s));
		return 1;
	}
	if (w.n == 0)
		printf("  none\n");
	return 0;
}

static int user_show(struct store *s, const struct conf *c, struct user_args *ua)
{
	struct reg_walk w = { .now = (int64_t)time(NULL), .indent = "  " };
	struct store_user u;
	char t[40];
	int rc;

	if (check_target(ua, c))
		return 1;
	rc = store_users_get(s, &u, ua->name, ua->domain);
	if (rc)
		return store_failed(ua->sub, ua, s, rc);
	printf("user      %s@%s\n", u.name, u.domain);
	printf("status    %s\n", u.enabled ? "enabled" : "disabled");
	printf("password  %s\n", u.cred.strength == STORE_PW_CHECKED
				       ? "strength checked (set with bastion user add/passwd)"
				       : "strength unknown (imported HA1)");
	printf("realm     %s\n", u.cred.realm);
	printf("hashes    %s%s\n", u.cred.ha1_md5[0] ? "MD5 " : "",
	       u.cred.ha1_sha256[0] ? "SHA-256" : "");
	printf("digest    %s\n", auth_digest_name((enum auth_digest)u.digest)
					? auth_digest_name((enum auth_digest)u.digest)
					: "?");
	printf("cert      %s\n",
	       u.require_client_cert
		       ? "required (registers and calls only over TLS with its own certificate)"
		       : "not required (bastion user cert NAME require binds it)");
	printf("calling   %s\n", u.calling[0] ? u.calling
					   : "bastion.conf's ([calling] line, else [dialplan] calling)");
	if (u.fraud_hold[0])
		printf("hold      outside calling on hold since %s: %s (bastion fraud clear %s)\n",
		       fmt_time(t, sizeof(t), u.fraud_hold_at), u.fraud_hold, u.name);
	{
		char loc[STORE_LOCATION_MAX];
		if (store_users_get_location(s, loc, sizeof(loc), ua->name, ua->domain) == 0)
			printf("location  %s\n", loc[0] ? loc : "none (placed by the network it registers "
							     "from)");
	}
	printf("created   %s\n", fmt_time(t, sizeof(t), u.created_at));
	printf("changed   %s\n", fmt_time(t, sizeof(t), u.changed_at));
	if (u.pw_deadline > 0 && (u.old_cred.ha1_md5[0] || u.old_cred.ha1_sha256[0]))
		printf("rotation  the password before the last rotation works until %s "
		       "(bastion rotate --passwords --deadline)\n",
		       fmt_time(t, sizeof(t), u.pw_deadline));
	else if (u.pw_deadline > 0)
		printf("rotation  the password must be changed by %s (bastion user passwd %s)\n",
		       fmt_time(t, sizeof(t), u.pw_deadline), u.name);
	OPENSSL_cleanse(&u.cred, sizeof(u.cred));
	OPENSSL_cleanse(&u.old_cred, sizeof(u.old_cred));
	printf("bindings:\n");
	w.user_id = u.id;
	rc = store_regs_list_all(s, print_reg, &w);
	if (rc) {
		fprintf(stderr, "bastion: user show: %s: %s\n", strerror(rc), store_errmsg(s));
		return 1;
	}
	if (w.n == 0)
		printf("  none\n");
	return user_show_identities(s, ua);
}

/* ---- user enable / disable / del ------------------------------------------- */

static int user_simple(struct store *s, const struct conf *c, struct user_args *ua)
{
	bool del = strcmp(ua->sub, "del") == 0;
	bool enable = strcmp(ua->sub, "enable") == 0;
	int rc;

	if (check_target(ua, c))
		return 1;
	rc = del ? store_users_delete(s, ua->name, ua->domain)
		 : store_users_set_enabled(s, ua->name, ua->domain, enable);
	if (rc)
		return store_failed(ua->sub, ua, s, rc);
	if (del)
		printf("Deleted user %s@%s and its registrations.\n", ua->name, ua->domain);
	else
		printf("User %s@%s is %s.\n", ua->name, ua->domain, enable ? "enabled" : "disabled");
	return 0;
}

/* ---- user cert ------------------------------------------------------------- */

/* bastion user cert NAME require|off [--domain D]. argv[0] is "user",
 * argv[1] "cert". */
static int user_cert(const char *state, int argc, char **argv)
{
	const char *mode = NULL;
	struct store *s = NULL;
	struct user_args ua;
	struct conf c;
	bool on;
	int rc, status = 1;

	memset(&ua, 0, sizeof(ua));
	ua.cmd = "user";
	ua.sub = "cert";
	for (int i = 2; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--domain")))
			ua.domain = v;
		else if (argv[i][0] != '-' && !ua.name)
			ua.name = argv[i];
		else if (argv[i][0] != '-' && !mode)
			mode = argv[i];
		else
			return admin_usage_error("user", "user cert: unexpected argument", argv[i]);
	}
	if (!ua.name || !mode)
		return admin_usage_error("user", "user cert: expected NAME and require or off",
					 NULL);
	if (strcmp(mode, "require") != 0 && strcmp(mode, "off") != 0)
		return admin_usage_error("user", "user cert: expected require or off", mode);
	on = strcmp(mode, "require") == 0;
	if (admin_open_state(&c, &s, state))
		return 1;
	if (check_target(&ua, &c))
		goto out;
	rc = store_users_set_client_cert(s, ua.name, ua.domain, on);
	if (rc) {
		store_failed("cert", &ua, s, rc);
		goto out;
	}
	if (on && c.tls_verify_client == CONF_TLS_VERIFY_NONE)
		fprintf(stderr, "bastion: warning: [tls] verify_client = none: the server asks "
				"for no client certificates, so %s@%s can register and call from "
				"nowhere until it is optional or require\n",
			ua.name, ua.domain);
	if (on)
		printf("User %s@%s now registers and calls only over TLS with a client certificate "
		       "naming it\n(CN=%s or URI sip:%s@%s; make one with 'bastion tls issue "
		       "%s').\n",
		       ua.name, ua.domain, ua.name, ua.name, ua.domain, ua.name);
	else
		printf("User %s@%s no longer needs a client certificate.\n", ua.name, ua.domain);
	status = 0;
out:
	store_close(&s);
	return status;
}

/* ---- user set --digest ---------------------------------------------------------- */

/* bastion user set NAME --digest sha256|md5|both|site [--domain D]. argv[0]
 * is "user", argv[1] "set". */
static int user_set(const char *state, int argc, char **argv)
{
	const char *digest = NULL, *location = NULL;
	struct store *s = NULL;
	struct user_args ua;
	enum auth_digest d = AUTH_DIGEST_SITE;
	struct emerg_civic civ;
	char loc[EMERG_LOC_TEXT_MAX], err[256];
	struct conf c;
	int rc, status = 1;

	memset(&ua, 0, sizeof(ua));
	ua.cmd = "user";
	ua.sub = "set";
	for (int i = 2; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--domain")))
			ua.domain = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--digest")))
			digest = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--location")))
			location = v;
		else if (argv[i][0] != '-' && !ua.name)
			ua.name = argv[i];
		else
			return admin_usage_error("user", "user set: unexpected argument", argv[i]);
	}
	if (!ua.name || (!digest && !location))
		return admin_usage_error("user", "user set: expected NAME and --digest or --location",
					 NULL);
	if (digest && auth_digest_from(&d, slice_cstr(digest)) != 0)
		return admin_usage_error("user", "user set: --digest takes sha256, md5, both or site",
					 digest);
	/* a location is checked as a whole before anything is written: field
	 * limits, control characters, UTF-8 (docs/emergency.md) */
	if (location && strcmp(location, "none") != 0 &&
	    (emerg_civic_parse(&civ, location, err, sizeof(err)) != 0 ||
	     emerg_civic_format(loc, sizeof(loc), &civ) != 0)) {
		fprintf(stderr, "bastion: user set: --location: %s\n", err);
		return 2;
	}
	if (location && strcmp(location, "none") == 0)
		loc[0] = '\0';
	if (admin_open_state(&c, &s, state))
		return 1;
	if (check_target(&ua, &c))
		goto out;
	if (location) {
		rc = store_users_set_location(s, ua.name, ua.domain, loc);
		if (rc) {
			store_failed("set", &ua, s, rc);
			goto out;
		}
		if (loc[0])
			printf("User %s@%s is located at %s (sent with emergency calls).\n", ua.name,
			       ua.domain, loc);
		else
			printf("User %s@%s has no location of its own: the network it registers from "
			       "([location] prefixes) places it.\n", ua.name, ua.domain);
		if (!digest) {
			status = 0;
			goto out;
		}
	}
	rc = store_users_set_digest(s, ua.name, ua.domain, (unsigned)d);
	if (rc) {
		store_failed("set", &ua, s, rc);
		goto out;
	}
	printf("User %s@%s is now challenged with %s.\n", ua.name, ua.domain,
	       d == AUTH_DIGEST_MD5      ? "MD5 only"
	       : d == AUTH_DIGEST_SHA256 ? "SHA-256 only"
	       : d == AUTH_DIGEST_BOTH   ? "SHA-256, then MD5"
					 : "the site's [auth] algorithms");
	if (d != AUTH_DIGEST_SITE)
		fprintf(stderr, "bastion: note: a user whose challenge differs from the site's "
				"can be told apart from an unknown name by a scanner (docs/users.md)\n");
	status = 0;
out:
	store_close(&s);
	return status;
}

/* ---- user import ------------------------------------------------------------- */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Lowercase hex of exactly n digits, in place. */
static bool hex_lower(char *s, size_t n)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		char ch = s[i];
		if (ch >= 'A' && ch <= 'F')
			s[i] = (char)(ch - 'A' + 'a');
		else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	return i == n;
}

/* Parse one CSV line into *u. Returns 0 or EINVAL with the reason in why. */
static int import_parse(struct store_user *u, char *line, const struct conf *c, char *why,
			size_t cap)
{
	const char *domain;
	char *f[5];
	size_t n = 0;
	char *p = line;

	for (;;) {
		char *comma = strchr(p, ',');
		if (n == ARRAY_SIZE(f)) {
			n++;
			break;
		}
		if (comma)
			*comma = '\0';
		f[n++] = trim(p);
		if (!comma)
			break;
		p = comma + 1;
	}
	if (n < 3 || n > 4) {
		snprintf(why, cap, "expected name,domain,ha1_md5[,ha1_sha256] (%zu fields)", n);
		return EINVAL;
	}
	memset(u, 0, sizeof(*u));
	if (admin_name_check(f[0], why, cap))
		return EINVAL;
	domain = *f[1] ? f[1] : c->domain;
	if (domain_check(domain, why, cap))
		return EINVAL;
	if (!hex_lower(f[2], STORE_HA1_MD5_LEN)) {
		snprintf(why, cap, "ha1_md5 must be %d hex digits", STORE_HA1_MD5_LEN);
		return EINVAL;
	}
	if (n == 4 && *f[3] && !hex_lower(f[3], STORE_HA1_SHA256_LEN)) {
		snprintf(why, cap, "ha1_sha256 must be %d hex digits", STORE_HA1_SHA256_LEN);
		return EINVAL;
	}
	snprintf(u->name, sizeof(u->name), "%s", f[0]);
	snprintf(u->domain, sizeof(u->domain), "%s", domain);
	snprintf(u->cred.realm, sizeof(u->cred.realm), "%s", admin_realm(c));
	memcpy(u->cred.ha1_md5, f[2], STORE_HA1_MD5_LEN + 1);
	if (n == 4 && *f[3])
		memcpy(u->cred.ha1_sha256, f[3], STORE_HA1_SHA256_LEN + 1);
	u->cred.strength = STORE_PW_UNKNOWN;
	u->enabled = true;
	return 0;
}

static int user_import(struct store *s, const struct conf *c, const char *file)
{
	struct store_user *users = NULL;
	size_t n = 0, alloc = 0, linecap = 0, lineno = 0, failed_at = 0;
	size_t *lines = NULL;
	char *line = NULL, why[300];
	int status = 1, rc;
	ssize_t len;
	FILE *f;

	f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "bastion: user import: cannot open %s: %s\n", file, strerror(errno));
		return 1;
	}
	while ((len = getline(&line, &linecap, f)) >= 0) {
		char *l;
		lineno++;
		if (len > IMPORT_LINE_MAX) {
			fprintf(stderr, "bastion: %s:%zu: line longer than %d bytes\n", file, lineno,
				IMPORT_LINE_MAX);
			goto out;
		}
		if ((size_t)len != strlen(line)) {
			fprintf(stderr, "bastion: %s:%zu: NUL byte in line\n", file, lineno);
			goto out;
		}
		l = trim(line);
		if (*l == '\0' || *l == '#')
			continue;
		if (n == IMPORT_MAX_USERS) {
			fprintf(stderr, "bastion: %s:%zu: more than %d users in one file; split it\n",
				file, lineno, IMPORT_MAX_USERS);
			goto out;
		}
		if (n == alloc) {
			size_t na = alloc ? 2 * alloc : 256;
			struct store_user *nu = realloc(users, na * sizeof(*users));
			size_t *nl = nu ? realloc(lines, na * sizeof(*lines)) : NULL;
			if (nu)
				users = nu;
			if (!nu || !nl) {
				fprintf(stderr, "bastion: user import: out of memory\n");
				goto out;
			}
			lines = nl;
			alloc = na;
		}
		if (import_parse(&users[n], l, c, why, sizeof(why)) != 0) {
			fprintf(stderr, "bastion: %s:%zu: %s\n", file, lineno, why);
			goto out;
		}
		lines[n++] = lineno;
	}
	if (ferror(f)) {
		fprintf(stderr, "bastion: user import: reading %s: %s\n", file, strerror(errno));
		goto out;
	}
	if (n == 0) {
		printf("No users in %s; nothing imported.\n", file);
		status = 0;
		goto out;
	}
	rc = store_users_import(s, &failed_at, users, n);
	if (rc) {
		if (failed_at < n && rc == EEXIST)
			fprintf(stderr, "bastion: %s:%zu: user %s@%s already exists; nothing imported\n",
				file, lines[failed_at], users[failed_at].name, users[failed_at].domain);
		else if (failed_at < n)
			fprintf(stderr, "bastion: %s:%zu: %s: %s; nothing imported\n", file,
				lines[failed_at], strerror(rc), store_errmsg(s));
		else
			fprintf(stderr, "bastion: user import: %s: %s; nothing imported\n",
				strerror(rc), store_errmsg(s));
		goto out;
	}
	printf("Imported %zu users from %s (password strength unknown; their HA1 must have "
	       "been computed for realm \"%s\").\n",
	       n, file, admin_realm(c));
	status = 0;
out:
	if (users)
		OPENSSL_cleanse(users, alloc * sizeof(*users));
	free(users);
	free(lines);
	free(line);
	fclose(f);
	return status;
}

/* ---- user identity add / del / list --------------------------------------------- */

/*
 * Validate an identity URI and write its canonical form into out: sip: or
 * sips: user@host with scheme and host in lowercase (the user part as
 * given: it compares case-sensitively), or tel:NUMBER without visual
 * separators, letters in lowercase. Ports, parameters
 * and headers are refused rather than dropped, so that what is stored is
 * what the operator typed. Returns 0 or EINVAL with the reason in why.
 */
static int identity_canon(char *out, size_t cap, const char *in, char *why, size_t whycap)
{
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	struct sip_uri u;
	enum sip_err e;
	bool v6;
	int n;

	if (sip_uri_parse(&u, slice_cstr(in), &lim, &e) != 0) {
		snprintf(why, whycap, "not a valid URI (%s)", sip_err_reason(e));
		return EINVAL;
	}
	if (u.scheme != SIP_SCHEME_SIP && u.scheme != SIP_SCHEME_SIPS &&
	    u.scheme != SIP_SCHEME_TEL) {
		snprintf(why, whycap, "only sip:, sips: and tel: URIs can be identities");
		return EINVAL;
	}
	if (u.has_port || u.params.len || u.headers.len) {
		snprintf(why, whycap, "give the identity alone (sip:user@host or tel:+number), "
				      "without port, parameters or headers");
		return EINVAL;
	}
	if (u.scheme == SIP_SCHEME_TEL) {
		/* Visual separators carry nothing (RFC 3966 5.1.1) and the policy
		 * ignores them: drop them, so that one number is stored once. */
		size_t k = 4;
		n = snprintf(out, cap, "tel:");
		for (size_t i = 0; i < u.user.len && k + 1 < cap; i++) {
			char ch = u.user.p[i];
			if (ch == '-' || ch == '.' || ch == '(' || ch == ')')
				continue;
			out[k++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
		}
		out[k] = '\0';
		if (k == 4 || (k == 5 && out[4] == '+')) {
			snprintf(why, whycap, "a tel: identity needs digits");
			return EINVAL;
		}
		n = (int)k;
	} else {
		if (u.user.len == 0) {
			snprintf(why, whycap, "a sip: identity needs a user part (sip:user@host)");
			return EINVAL;
		}
		v6 = u.host_type == SIP_HOST_IPV6;
		n = snprintf(out, cap, "%s:%.*s@%s%.*s%s",
			     u.scheme == SIP_SCHEME_SIPS ? "sips" : "sip", (int)u.user.len, u.user.p,
			     v6 ? "[" : "", (int)u.host.len, u.host.p, v6 ? "]" : "");
		/* the host after '@' in lowercase */
		for (char *p = strrchr(out, '@'); p && *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	if (n < 0 || (size_t)n >= cap) {
		snprintf(why, whycap, "longer than %zu bytes", cap - 1);
		return EINVAL;
	}
	return 0;
}

/* bastion user identity add|del NAME URI [--domain D], list NAME [--domain D].
 * argv[0] is "user", argv[1] "identity". */
static int user_identity(const char *state, int argc, char **argv)
{
	const char *sub = argc > 2 ? argv[2] : NULL, *uri = NULL;
	char canon[STORE_URI_MAX], why[300], msg[128];
	struct store *s = NULL;
	struct store_user u;
	struct user_args ua;
	struct conf c;
	bool list;
	int rc, status = 1;

	if (!sub || (strcmp(sub, "add") && strcmp(sub, "del") && strcmp(sub, "list")))
		return admin_usage_error("user", "user identity: expected add, del or list", sub);
	list = strcmp(sub, "list") == 0;
	memset(&ua, 0, sizeof(ua));
	ua.cmd = "user";
	ua.sub = "identity";
	for (int i = 3; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--domain"))) {
			ua.domain = v;
		} else if (argv[i][0] != '-' && !ua.name) {
			ua.name = argv[i];
		} else if (argv[i][0] != '-' && !list && !uri) {
			uri = argv[i];
		} else {
			snprintf(msg, sizeof(msg), "user identity %s: unexpected argument", sub);
			return admin_usage_error("user", msg, argv[i]);
		}
	}
	if (!ua.name || (!list && !uri)) {
		snprintf(msg, sizeof(msg), "user identity %s: expected NAME%s", sub,
			 list ? "" : " and URI");
		return admin_usage_error("user", msg, NULL);
	}
	if (uri && identity_canon(canon, sizeof(canon), uri, why, sizeof(why)) != 0) {
		fprintf(stderr, "bastion: user identity %s: %s\n", sub, why);
		return 1;
	}
	if (admin_open_state(&c, &s, state))
		return 1;
	if (check_target(&ua, &c))
		goto out;
	/* Say "does not exist" for the user before anything about the URI. */
	rc = store_users_get(s, &u, ua.name, ua.domain);
	if (rc) {
		store_failed(sub, &ua, s, rc);
		goto out;
	}
	OPENSSL_cleanse(&u.cred, sizeof(u.cred));
	if (list) {
		struct id_walk w = { .indent = "" };
		rc = store_identities_list(s, ua.name, ua.domain, print_identity, &w);
		if (rc) {
			fprintf(stderr, "bastion: user identity list: %s: %s\n", strerror(rc),
				store_errmsg(s));
			goto out;
		}
		if (w.n == 0)
			printf("No extra identities for %s@%s.\n", ua.name, ua.domain);
		status = 0;
		goto out;
	}
	if (strcmp(sub, "add") == 0)
		rc = store_identities_add(s, ua.name, ua.domain, canon);
	else
		rc = store_identities_delete(s, ua.name, ua.domain, canon);
	if (rc == EEXIST) {
		fprintf(stderr, "bastion: user %s@%s already has identity %s\n", ua.name, ua.domain,
			canon);
	} else if (rc == ENOENT) {
		fprintf(stderr, "bastion: user %s@%s has no identity %s\n", ua.name, ua.domain,
			canon);
	} else if (rc) {
		fprintf(stderr, "bastion: user identity %s: %s: %s\n", sub, strerror(rc),
			store_errmsg(s));
	} else {
		printf("User %s@%s may %s use identity %s.\n", ua.name, ua.domain,
		       strcmp(sub, "add") == 0 ? "now" : "no longer", canon);
		status = 0;
	}
out:
	store_close(&s);
	return status;
}

/* ---- the commands ------------------------------------------------------------ */

/* `user set` with --calling (the dial plan's classes, admin/peer.c) rather
 * than --digest (the store). */
static bool has_calling(int argc, char **argv)
{
	for (int i = 3; i < argc; i++)
		if (strcmp(argv[i], "--calling") == 0 || strncmp(argv[i], "--calling=", 10) == 0)
			return true;
	return false;
}

int admin_cmd_user(const char *state, int argc, char **argv)
{
	struct store *s = NULL;
	struct user_args ua;
	struct conf c;
	const char *sub = argc > 1 ? argv[1] : NULL;
	bool pw_cmd, simple;
	int rc;

	if (!sub)
		return admin_usage_error("user", "user: a subcommand is needed", NULL);
	if (strcmp(sub, "identity") == 0)
		return user_identity(state, argc, argv);
	if (strcmp(sub, "cert") == 0)
		return user_cert(state, argc, argv);
	if (strcmp(sub, "set") == 0)
		return has_calling(argc, argv) ? admin_user_set(state, argc, argv)
					       : user_set(state, argc, argv);
	pw_cmd = strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0;
	simple = strcmp(sub, "enable") == 0 || strcmp(sub, "disable") == 0 ||
		 strcmp(sub, "del") == 0;
	if (strcmp(sub, "list") == 0) {
		if (argc > 2)
			return admin_usage_error("user", "user list: unexpected argument", argv[2]);
	} else if (strcmp(sub, "import") == 0) {
		if (argc != 3)
			return admin_usage_error("user", "user import: expected one FILE", NULL);
	} else if (pw_cmd || simple || strcmp(sub, "show") == 0) {
		rc = parse_user_args(&ua, argc, argv, pw_cmd);
		if (rc)
			return rc;
	} else {
		return admin_usage_error("user", "user: unknown subcommand", sub);
	}
	if (admin_open_state(&c, &s, state))
		return 1;
	if (strcmp(sub, "list") == 0)
		rc = user_list(s);
	else if (strcmp(sub, "import") == 0)
		rc = user_import(s, &c, argv[2]);
	else if (pw_cmd)
		rc = user_set_password(s, &c, &ua, strcmp(sub, "add") == 0);
	else if (simple)
		rc = user_simple(s, &c, &ua);
	else
		rc = user_show(s, &c, &ua);
	store_close(&s);
	return rc;
}

int admin_cmd_reg(const char *state, int argc, char **argv)
{
	struct reg_walk w = { .now = (int64_t)time(NULL), .indent = "" };
	struct store *s = NULL;
	struct store_user u;
	struct user_args ua;
	struct conf c;
	int rc, status = 1;

	if (argc < 2 || strcmp(argv[1], "list") != 0)
		return admin_usage_error("reg", "reg: expected 'list'", argc > 1 ? argv[1] : NULL);
	memset(&ua, 0, sizeof(ua));
	ua.cmd = "reg";
	ua.sub = "list";
	if (argc > 2) {
		rc = parse_user_args(&ua, argc, argv, false);
		if (rc)
			return rc;
	}
	if (admin_open_state(&c, &s, state))
		return 1;
	if (ua.name) {
		if (check_target(&ua, &c))
			goto out;
		rc = store_users_get(s, &u, ua.name, ua.domain);
		if (rc) {
			store_failed("list", &ua, s, rc);
			goto out;
		}
		OPENSSL_cleanse(&u.cred, sizeof(u.cred));
		w.user_id = u.id;
	}
	rc = store_regs_list_all(s, print_reg, &w);
	if (rc) {
		fprintf(stderr, "bastion: reg list: %s: %s\n", strerror(rc), store_errmsg(s));
		goto out;
	}
	if (w.n == 0)
		printf("No registrations.\n");
	status = 0;
out:
	store_close(&s);
	return status;
}

/* ---- demo -------------------------------------------------------------------- */

int admin_demo_users(struct store *s, const struct conf *c, const char *demo_path)
{
	static const char *const names[] = { "1001", "1002" };
	char pw[ARRAY_SIZE(names)][ADMIN_PW_GEN_LEN + 1], text[1024], addr[80];
	struct store_user u;
	char *host;
	size_t len = 0;
	int rc, status = 1;

	memset(&u, 0, sizeof(u));
	if (access(demo_path, F_OK) == 0) { /* refused before any user is added */
		fprintf(stderr, "bastion: init: cannot create %s: %s\n", demo_path,
			strerror(EEXIST));
		return 1;
	}
	/* At most 2 * (4 + 1 + 255 + 10 + 20 + 1) + 90 bytes: fits text. */
	len = (size_t)snprintf(text, sizeof(text),
			       "# Demo users made by 'bastion init --demo'. Delete this file "
			       "once you have noted them.\n");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		rc = admin_pw_generate(pw[i], sizeof(pw[i]));
		if (!rc)
			rc = admin_make_cred(&u.cred, names[i], admin_realm(c), pw[i]);
		if (rc) {
			fprintf(stderr, "bastion: init: demo password: %s\n", strerror(rc));
			goto out;
		}
		snprintf(u.name, sizeof(u.name), "%s", names[i]);
		snprintf(u.domain, sizeof(u.domain), "%s", c->domain);
		u.enabled = true;
		rc = store_users_add(s, NULL, &u);
		if (rc) {
			fprintf(stderr, "bastion: init: adding demo user %s: %s: %s\n", names[i],
				strerror(rc), store_errmsg(s));
			goto out;
		}
		if (len < sizeof(text))
			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"%s@%s password=%s\n", names[i], c->domain, pw[i]);
	}
	/* created in one piece: a crash never leaves half of it */
	rc = len >= sizeof(text) ? EOVERFLOW : base_file_create(demo_path, text, len, 0600);
	if (rc) {
		fprintf(stderr, "bastion: init: cannot create %s: %s\n", demo_path, strerror(rc));
		goto out;
	}
	status = 0;
out:
	if (!status) {
		/* "udp:127.0.0.1:5060" -> transport and address */
		net_addr_fmt(addr, sizeof(addr), c->listeners[0].tp, &c->listeners[0].addr);
		host = strchr(addr, ':');
		if (host)
			*host++ = '\0';
		printf("Demo users (passwords shown once; also in %s, mode 0600):\n", demo_path);
		for (size_t i = 0; i < ARRAY_SIZE(names); i++)
			printf("%s@%s password=%s\n", names[i], c->domain, pw[i]);
		printf("To register a softphone: server %s (transport %s), domain %s, realm %s,\n"
		       "user 1001 (or 1002), password as above. Remove the demo users with\n"
		       "'bastion user del 1001' and 'bastion user del 1002' before real use.\n",
		       host ? host : addr, addr, c->domain, admin_realm(c));
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(&u.cred, sizeof(u.cred));
	return status;
}
