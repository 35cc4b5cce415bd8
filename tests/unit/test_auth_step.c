/*
 * The authentication step (auth/step.c, site.c, deadline.c): every row of
 * auth_step_decide's table from plain inputs, the challenge header block
 * byte for byte (the site's order, MD5 first or SHA-256 first, a user's own
 * algorithm the site does not list, stale, Proxy-Authenticate, overflow),
 * the password deadline's Warning line, and struct auth_site: made from a
 * key file, its key reloaded when the file changed, kept (with the message
 * word for word) when the file cannot be read, and the allocation-failure
 * sweep of auth_site_new.
 */
#include "auth/auth.h"
#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* a string equal to the one expected (both shown when not) */
#define CHECK_STR(a, b) \
	do { \
		const char *check_sa_ = (a), *check_sb_ = (b); \
		if (!check_sa_ || strcmp(check_sa_, check_sb_) != 0) { \
			check_fail(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b, \
				   check_sa_ ? check_sa_ : "(null)", check_sb_); \
			return; \
		} \
	} while (0)

/* ---- the decision's table ---------------------------------------------------- */

static struct auth_outcome outcome(enum auth_action act, enum auth_result r, bool creds)
{
	return (struct auth_outcome){
		.action = act,
		.verdict = { .result = r },
		.user = SLICE_LIT("alice"),
		.had_credentials = creds,
		.reason = "the outcome's reason",
		.offer = AUTH_ALGO_BIT(AUTH_ALGO_SHA256),
	};
}

static struct auth_step_in ok_in(const struct auth_outcome *ao)
{
	return (struct auth_step_in){
		.ao = ao,
		.entry = { .found = true, .user_id = 42 },
	};
}

static void internal_failure(void)
{
	struct auth_step_in in = { .proxy = true };
	struct auth_step v;

	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_DENY);
	CHECK_INT(v.status, 500);
	CHECK_STR(v.reason, "Authentication Failure");
	CHECK(v.event == NULL);
	CHECK(v.proxy);
	CHECK_INT(v.guard, AUTH_STEP_GUARD_NONE);
}

static void challenges(void)
{
	struct auth_outcome ao = outcome(AUTH_ACT_CHALLENGE, AUTH_BAD_PARAMS, false);
	struct auth_step_in in = { .ao = &ao };
	struct auth_step v;

	/* no credentials: 401, no event, the outcome's offer */
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_CHALLENGE);
	CHECK_INT(v.status, 401);
	CHECK(!v.stale);
	CHECK(v.event == NULL);
	CHECK_INT(v.offer, AUTH_ALGO_BIT(AUTH_ALGO_SHA256));
	CHECK_SLICE(v.user, "alice");
	/* the proxy: 407 */
	in.proxy = true;
	auth_step_decide(&v, &in);
	CHECK_INT(v.status, 407);
	CHECK(v.proxy);
	/* a replayed count */
	ao = outcome(AUTH_ACT_CHALLENGE, AUTH_REPLAY, true);
	auth_step_decide(&v, &in);
	CHECK_STR(v.event, "auth.replay");
	CHECK_STR(v.detail, "the outcome's reason");
	/* a nonce not ours */
	ao = outcome(AUTH_ACT_CHALLENGE, AUTH_BAD_NONCE, true);
	auth_step_decide(&v, &in);
	CHECK_STR(v.event, "auth.bad_nonce");
	/* the same results without credentials of our realm: no event */
	ao = outcome(AUTH_ACT_CHALLENGE, AUTH_REPLAY, false);
	auth_step_decide(&v, &in);
	CHECK(v.event == NULL);
	/* stale: a challenge with stale=true, no event */
	ao = outcome(AUTH_ACT_STALE, AUTH_STALE, true);
	in.proxy = false;
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_CHALLENGE);
	CHECK_INT(v.status, 401);
	CHECK(v.stale);
	CHECK(v.event == NULL);
	CHECK_INT(v.guard, AUTH_STEP_GUARD_NONE);
}

static void failures(void)
{
	struct auth_outcome ao = outcome(AUTH_ACT_FAIL, AUTH_WRONG_RESPONSE, true);
	struct auth_step_in in = { .ao = &ao, .is_register = true };
	struct auth_step v;

	/* a known user's wrong password: 403, auth.failure, counted as known */
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_DENY);
	CHECK_INT(v.status, 403);
	CHECK_STR(v.reason, "Forbidden");
	CHECK_STR(v.event, "auth.failure");
	CHECK_STR(v.detail, "the outcome's reason");
	CHECK_INT(v.guard, AUTH_STEP_GUARD_FAILED);
	CHECK(v.guard_known);
	/* an unknown name on a REGISTER: register.unknown_user, counted as unknown */
	ao.unknown_user = true;
	auth_step_decide(&v, &in);
	CHECK_STR(v.event, "register.unknown_user");
	CHECK_INT(v.guard, AUTH_STEP_GUARD_FAILED);
	CHECK(!v.guard_known);
	/* ... on any other request: auth.failure */
	in.is_register = false;
	auth_step_decide(&v, &in);
	CHECK_STR(v.event, "auth.failure");
	/* a failure that is no wrong response (bad parameters): not counted */
	ao = outcome(AUTH_ACT_FAIL, AUTH_BAD_PARAMS, true);
	auth_step_decide(&v, &in);
	CHECK_INT(v.status, 403);
	CHECK_INT(v.guard, AUTH_STEP_GUARD_NONE);
}

static void ok_rows(void)
{
	struct auth_outcome ao = outcome(AUTH_ACT_OK, AUTH_OK, true);
	struct auth_step_in in = ok_in(&ao);
	struct auth_step v;

	/* allowed as the entry's row, the guard told */
	CHECK(!auth_step_wants_cert(&in));
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_ALLOW);
	CHECK_INT(v.user_id, 42);
	CHECK(v.event == NULL);
	CHECK_INT(v.pw_deadline, 0);
	CHECK_INT(v.guard, AUTH_STEP_GUARD_OK);
	/* locked: 403 auth.failure "user locked", counted as a known user's failure */
	in.locked = true;
	in.entry.require_client_cert = true;
	CHECK(!auth_step_wants_cert(&in)); /* no certificate read for a locked user */
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_DENY);
	CHECK_INT(v.status, 403);
	CHECK_STR(v.reason, "Forbidden");
	CHECK_STR(v.event, "auth.failure");
	CHECK_STR(v.detail, "user locked");
	CHECK_INT(v.guard, AUTH_STEP_GUARD_FAILED);
	CHECK(v.guard_known);
	/* the entry gone since the digest: 403, no event, nothing counted */
	in = ok_in(&ao);
	in.entry.found = false;
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_DENY);
	CHECK_INT(v.status, 403);
	CHECK(v.event == NULL);
	CHECK_INT(v.guard, AUTH_STEP_GUARD_NONE);
	/* the deadline passed: its phrase and event */
	in = ok_in(&ao);
	in.entry.pw_deadline = 2000;
	auth_deadline_check(&in.deadline, 2000, false, false, 2500);
	in.entry.require_client_cert = true;
	CHECK(!auth_step_wants_cert(&in));
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_DENY);
	CHECK_INT(v.status, 403);
	CHECK_STR(v.reason, "Password Expired");
	CHECK_STR(v.event, "auth.password_expired");
	CHECK_INT(v.guard, AUTH_STEP_GUARD_NONE);
	/* before the deadline: allowed, with the warning's event and the deadline */
	in = ok_in(&ao);
	in.entry.pw_deadline = 2000;
	auth_deadline_check(&in.deadline, 2000, false, false, 1000);
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_ALLOW);
	CHECK_STR(v.event, "auth.password_change_due");
	CHECK_INT(v.pw_deadline, 2000);
}

static void client_certificates(void)
{
	struct auth_outcome ao = outcome(AUTH_ACT_OK, AUTH_OK, true);
	struct auth_step_in in = ok_in(&ao);
	struct auth_step v;

	in.entry.require_client_cert = true;
	CHECK(auth_step_wants_cert(&in));
	/* refused: the certificate verdict's status, reason, event; no success counted */
	in.cert = (struct auth_step_cert){ true, false, 403, "Client Certificate Required",
					   "tls.client_cert_refused", "presented none" };
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_DENY);
	CHECK_INT(v.status, 403);
	CHECK_STR(v.reason, "Client Certificate Required");
	CHECK_STR(v.event, "tls.client_cert_refused");
	CHECK_STR(v.detail, "presented none");
	CHECK_INT(v.guard, AUTH_STEP_GUARD_NONE);
	/* required but never looked at: closed */
	in.cert = (struct auth_step_cert){ 0 };
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_DENY);
	CHECK_INT(v.status, 403);
	CHECK_STR(v.event, "tls.client_cert_refused");
	/* allowed */
	in.cert = (struct auth_step_cert){ .checked = true, .allow = true };
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_ALLOW);
	CHECK_INT(v.guard, AUTH_STEP_GUARD_OK);
	/* not required: the certificate is not asked for */
	in.entry.require_client_cert = false;
	in.cert = (struct auth_step_cert){ 0 };
	CHECK(!auth_step_wants_cert(&in));
	auth_step_decide(&v, &in);
	CHECK_INT(v.kind, AUTH_STEP_ALLOW);
	/* not asked for any outcome but OK */
	ao = outcome(AUTH_ACT_FAIL, AUTH_WRONG_RESPONSE, true);
	in.entry.require_client_cert = true;
	CHECK(!auth_step_wants_cert(&in));
}

/* ---- the challenge block ------------------------------------------------------ */

#define NONCE "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define SHA_V "Digest realm=\"example.test\", nonce=\"" NONCE "\", algorithm=SHA-256, qop=\"auth\""
#define MD5_V "Digest realm=\"example.test\", nonce=\"" NONCE "\", algorithm=MD5, qop=\"auth\""

static void block(const enum auth_algo *order, size_t n, unsigned offer, bool proxy, bool stale,
		  const char *want)
{
	char buf[1024];
	size_t len = 99;
	struct auth_challenge_in in = { order, n, offer, proxy, stale, SLICE_LIT("example.test"),
					SLICE_LIT(NONCE) };

	CHECK_INT(auth_challenge_block(buf, sizeof(buf), &len, &in), 0);
	CHECK_INT(len, strlen(want));
	CHECK_STR(buf, want);
}

static void challenge_block(void)
{
	const enum auth_algo sha_first[] = { AUTH_ALGO_SHA256, AUTH_ALGO_MD5 };
	const enum auth_algo md5_first[] = { AUTH_ALGO_MD5, AUTH_ALGO_SHA256 };
	const enum auth_algo sha_only[] = { AUTH_ALGO_SHA256 };
	const enum auth_algo md5_only[] = { AUTH_ALGO_MD5 };
	const unsigned both = AUTH_ALGO_BIT(AUTH_ALGO_SHA256) | AUTH_ALGO_BIT(AUTH_ALGO_MD5);
	char small[100];
	size_t len = 99;
	struct auth_challenge_in in = { sha_first, 2, both, false, false, SLICE_LIT("example.test"),
					SLICE_LIT(NONCE) };

	/* the site's order, each once */
	block(sha_first, 2, both, false, false,
	      "WWW-Authenticate: " SHA_V "\r\nWWW-Authenticate: " MD5_V "\r\n");
	block(md5_first, 2, both, false, false,
	      "WWW-Authenticate: " MD5_V "\r\nWWW-Authenticate: " SHA_V "\r\n");
	/* a user's own algorithm the site does not list: after the site's */
	block(sha_only, 1, AUTH_ALGO_BIT(AUTH_ALGO_MD5), false, false,
	      "WWW-Authenticate: " MD5_V "\r\n");
	block(sha_only, 1, both, false, false,
	      "WWW-Authenticate: " SHA_V "\r\nWWW-Authenticate: " MD5_V "\r\n");
	/* not listed by the site at all: SHA-256 first */
	block(NULL, 0, both, false, false,
	      "WWW-Authenticate: " SHA_V "\r\nWWW-Authenticate: " MD5_V "\r\n");
	block(md5_only, 1, both, false, false,
	      "WWW-Authenticate: " MD5_V "\r\nWWW-Authenticate: " SHA_V "\r\n");
	/* only what is offered */
	block(md5_first, 2, AUTH_ALGO_BIT(AUTH_ALGO_SHA256), false, false,
	      "WWW-Authenticate: " SHA_V "\r\n");
	/* the proxy, stale */
	block(sha_first, 2, both, true, true,
	      "Proxy-Authenticate: " SHA_V ", stale=true\r\nProxy-Authenticate: " MD5_V
	      ", stale=true\r\n");
	/* too small: nothing, EOVERFLOW */
	CHECK_INT(auth_challenge_block(small, sizeof(small), &len, &in), EOVERFLOW);
	CHECK_INT(len, 0);
	CHECK_STR(small, "");
	/* one byte short of the whole block (its NUL) */
	{
		char exact[512];
		size_t want = strlen("WWW-Authenticate: " SHA_V "\r\nWWW-Authenticate: " MD5_V
				     "\r\n");

		CHECK_INT(auth_challenge_block(exact, want, &len, &in), EOVERFLOW);
		CHECK_INT(auth_challenge_block(exact, want + 1, &len, &in), 0);
		CHECK_INT(len, want);
	}
	/* a realm auth_challenge_write refuses: nothing, EINVAL */
	in.realm = SLICE_LIT("bad\"realm");
	CHECK_INT(auth_challenge_block(small, sizeof(small), &len, &in), EINVAL);
	CHECK_INT(len, 0);
}

/* ---- the Warning line ---------------------------------------------------------- */

static void warning_line(void)
{
	char out[300];

	/* 2026-01-02T03:04:05Z */
	CHECK_INT(auth_deadline_warning(out, sizeof(out), SLICE_LIT("example.test"), 1767323045),
		  (int)strlen(out));
	CHECK_STR(out, "Warning: 399 example.test \"This password stops working at "
		       "2026-01-02T03:04:05Z: ask the administrator for the new one\"\r\n");
	CHECK_INT(auth_deadline_warning(out, sizeof(out), SLICE_LIT("example.test"), 0), 0);
	CHECK_INT(auth_deadline_warning(out, 50, SLICE_LIT("example.test"), 1767323045), 0);
	CHECK_STR(out, "");
}

/* ---- the site ------------------------------------------------------------------- */

static char dir[64];

static void key_path(char *out, size_t cap)
{
	snprintf(out, cap, "%s/nonce.key", dir);
}

static struct auth_site_conf site_conf(void)
{
	static const uint8_t algos[] = { AUTH_ALGO_MD5, AUTH_ALGO_SHA256 };
	static struct slice own[1];

	own[0] = SLICE_LIT("127.0.0.1:5060");

	return (struct auth_site_conf){
		.realm = SLICE_LIT("example.test"),
		.nonce_lifetime_s = 300,
		.uri_mode = AUTH_URI_RELAXED,
		.algos = algos,
		.nalgos = 2,
		.own_addrs = own,
		.n_own_addrs = 1,
		.nonce_window = AUTH_NC_WINDOW_MIN,
		.nonce_table_size = AUTH_NC_CAPACITY_MIN,
	};
}

static void site_made(void)
{
	struct auth_site_conf c = site_conf();
	struct auth_site *s = NULL;
	char path[128], err[256], missing[160];
	uint8_t stored[AUTH_KEY_LEN];

	key_path(path, sizeof(path));
	unlink(path);
	CHECK_INT(auth_key_generate(path), 0);
	CHECK_INT(auth_key_load(stored, path), 0);
	CHECK_INT(auth_site_new(&s, &c, path, err, sizeof(err)), 0);
	/* the stored key kept, the run's derived from it */
	CHECK(memcmp(s->key_file, stored, AUTH_KEY_LEN) == 0);
	CHECK(memcmp(s->key, stored, AUTH_KEY_LEN) != 0);
	CHECK(s->srv.key == s->key && s->srv.nc == s->nc && s->nc && s->watch);
	CHECK_SLICE(s->srv.realm, "example.test");
	CHECK_INT(s->srv.algos, AUTH_ALGO_BIT(AUTH_ALGO_MD5) | AUTH_ALGO_BIT(AUTH_ALGO_SHA256));
	CHECK_INT(s->n_order, 2);
	CHECK_INT(s->order[0], AUTH_ALGO_MD5);
	CHECK_INT(s->srv.uri_mode, AUTH_URI_RELAXED);
	CHECK_INT(s->srv.n_own_addrs, 1);
	/* a reload's settings */
	c.realm = SLICE_LIT("other.test");
	c.nalgos = 1;
	c.algos = (const uint8_t[]){ AUTH_ALGO_SHA256 };
	auth_site_set_conf(s, &c);
	CHECK_SLICE(s->srv.realm, "other.test");
	CHECK_INT(s->srv.algos, AUTH_ALGO_BIT(AUTH_ALGO_SHA256));
	CHECK_INT(s->n_order, 1);
	auth_site_free(&s);
	CHECK(s == NULL);
	auth_site_free(&s);
	/* no key file: the message names it and 'bastion init' */
	snprintf(missing, sizeof(missing), "%s/none.key", dir);
	CHECK_INT(auth_site_new(&s, &c, missing, err, sizeof(err)), ENOENT);
	CHECK(s == NULL);
	{
		char want[300];

		snprintf(want, sizeof(want),
			 "%s: cannot load the nonce key (No such file or directory); a state "
			 "made by 'bastion init' has one", missing);
		CHECK_STR(err, want);
	}
}

static void site_reload(void)
{
	struct auth_site_conf c = site_conf();
	struct auth_site *s = NULL;
	struct auth_key_reload r;
	char path[128], err[256], want[300];
	uint8_t run[AUTH_KEY_LEN], file[AUTH_KEY_LEN];

	key_path(path, sizeof(path));
	unlink(path);
	CHECK_INT(auth_key_generate(path), 0);
	CHECK_INT(auth_site_new(&s, &c, path, err, sizeof(err)), 0);
	memcpy(run, s->key, AUTH_KEY_LEN);
	memcpy(file, s->key_file, AUTH_KEY_LEN);
	/* the same file: nothing changes, nothing to say */
	auth_site_reload_key(s, path, true, &r);
	CHECK_INT(r.what, AUTH_KEY_SAME);
	CHECK_STR(r.msg, "");
	CHECK(memcmp(s->key, run, AUTH_KEY_LEN) == 0);
	/* unreadable (group-readable): the running key stays, with the message */
	CHECK_INT(chmod(path, 0640), 0);
	auth_site_reload_key(s, path, true, &r);
	CHECK_INT(r.what, AUTH_KEY_UNREAD);
	CHECK_INT(r.err, EACCES);
	snprintf(want, sizeof(want),
		 "reload: nonce key %s not read, keeping the running one: Permission denied", path);
	CHECK_STR(r.msg, want);
	CHECK(memcmp(s->key, run, AUTH_KEY_LEN) == 0);
	CHECK(memcmp(s->key_file, file, AUTH_KEY_LEN) == 0);
	/* gone: the same */
	CHECK_INT(unlink(path), 0);
	auth_site_reload_key(s, path, true, &r);
	CHECK_INT(r.what, AUTH_KEY_UNREAD);
	CHECK_INT(r.err, ENOENT);
	CHECK(memcmp(s->key, run, AUTH_KEY_LEN) == 0);
	/* another key (bastion rotate --nonce-key): a new run key at once */
	CHECK_INT(auth_key_generate(path), 0);
	auth_site_reload_key(s, path, true, &r);
	CHECK_INT(r.what, AUTH_KEY_REPLACED);
	snprintf(want, sizeof(want), "nonce key replaced from %s: outstanding nonces are refused",
		 path);
	CHECK_STR(r.msg, want);
	CHECK(memcmp(s->key, run, AUTH_KEY_LEN) != 0);
	CHECK(memcmp(s->key_file, file, AUTH_KEY_LEN) != 0);
	CHECK(s->srv.key == s->key);
	/* and again with several nodes (no derivation here: the new epoch does it) */
	memcpy(run, s->key, AUTH_KEY_LEN);
	memcpy(file, s->key_file, AUTH_KEY_LEN);
	CHECK_INT(unlink(path), 0);
	CHECK_INT(auth_key_generate(path), 0);
	auth_site_reload_key(s, path, false, &r);
	CHECK_INT(r.what, AUTH_KEY_CHANGED);
	CHECK_STR(r.msg, "");
	CHECK(memcmp(s->key, run, AUTH_KEY_LEN) == 0);
	CHECK(memcmp(s->key_file, file, AUTH_KEY_LEN) != 0);
	/* once taken, the same file is SAME */
	auth_site_reload_key(s, path, false, &r);
	CHECK_INT(r.what, AUTH_KEY_SAME);
	auth_site_free(&s);
}

static unsigned oom_bad; /* runs that broke auth_site_new's contract */

static int oom_run(void *arg)
{
	struct auth_site_conf c = site_conf();
	struct auth_site *s = NULL;
	char err[256];
	int rc;

	err[0] = '\0';
	rc = auth_site_new(&s, &c, arg, err, sizeof(err));
	if ((rc == 0 && s == NULL) || (rc != 0 && (s != NULL || err[0] == '\0')))
		oom_bad++; /* success without a site; a failure that left one or said nothing */
	auth_site_free(&s);
	return rc;
}

static void site_oom(void)
{
	static char path[128];

	key_path(path, sizeof(path));
	unlink(path);
	CHECK_INT(auth_key_generate(path), 0);
	oom_bad = 0;
	CHECK(CHECK_OOM_SWEEP(oom_run, path, 50) > 1);
	CHECK_INT(oom_bad, 0);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(internal_failure),
		CASE(challenges),
		CASE(failures),
		CASE(ok_rows),
		CASE(client_certificates),
		CASE(challenge_block),
		CASE(warning_line),
		CASE(site_made),
		CASE(site_reload),
		CASE(site_oom),
	};
	char path[128];
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/bastion-authstep-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = check_main("auth_step", cases, ARRAY_SIZE(cases), argc, argv);
	key_path(path, sizeof(path));
	unlink(path);
	rmdir(dir);
	return rc;
}
