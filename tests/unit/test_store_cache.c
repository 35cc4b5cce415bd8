/*
 * Unit tests of the credential cache: lookups after a load, case rules of the
 * key, reload only when the users table changed, changes made through a
 * second store handle (the CLI process) seen after refresh, the max_users
 * bound keeping the old contents, a table large enough to chain, and the
 * client certificate flag carried into the entries and reloaded when set.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "store/store.h"
#include "store_tmp.h"

#define MD5_A "0123456789abcdef0123456789abcdef"
#define MD5_B "fedcba9876543210fedcba9876543210"
#define SHA_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void make_user(struct store_user *u, const char *name, const char *domain)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->domain, sizeof(u->domain), "%s", domain);
	snprintf(u->cred.realm, sizeof(u->cred.realm), "realm-%s", domain);
	snprintf(u->cred.ha1_md5, sizeof(u->cred.ha1_md5), "%s", MD5_A);
	snprintf(u->cred.ha1_sha256, sizeof(u->cred.ha1_sha256), "%s", SHA_A);
	u->enabled = true;
}

static int lookup(const struct store_cache *c, struct store_cache_entry *e, const char *name,
		  const char *domain)
{
	return store_cache_lookup(c, e, slice_cstr(name), slice_cstr(domain));
}

static void loads_and_looks_up(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	struct store_cache *c = NULL;
	struct store_cache_entry e;
	struct store_user u;
	int64_t alice = 0;
	bool reloaded = false;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	CHECK_INT(store_cache_new(&c, 100), 0);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), ENOENT); /* nothing loaded yet */
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, &alice, &u), 0);
	make_user(&u, "bob", "example.com");
	u.enabled = false;
	u.cred.ha1_sha256[0] = '\0';
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	make_user(&u, "alice", "other.org");
	snprintf(u.cred.ha1_md5, sizeof(u.cred.ha1_md5), "%s", MD5_B);
	CHECK_INT(store_users_add(s, NULL, &u), 0);

	CHECK_INT(store_cache_refresh(c, s, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(store_cache_count(c), 3);

	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK_INT(e.user_id, alice);
	CHECK(e.enabled);
	CHECK(strcmp(e.realm, "realm-example.com") == 0);
	CHECK(strcmp(e.ha1_md5, MD5_A) == 0);
	CHECK(strcmp(e.ha1_sha256, SHA_A) == 0);
	CHECK_INT(lookup(c, &e, "alice", "EXAMPLE.Com"), 0); /* domain: any case */
	CHECK_INT(e.user_id, alice);
	CHECK_INT(lookup(c, &e, "Alice", "example.com"), ENOENT); /* name: exact */
	CHECK_INT(lookup(c, &e, "alic", "example.com"), ENOENT);
	CHECK_INT(lookup(c, &e, "alice", "example.co"), ENOENT);
	CHECK_INT(lookup(c, &e, "alice", "other.org"), 0);
	CHECK(strcmp(e.ha1_md5, MD5_B) == 0);
	CHECK(strcmp(e.realm, "realm-other.org") == 0);
	CHECK_INT(lookup(c, &e, "bob", "example.com"), 0);
	CHECK(!e.enabled);
	CHECK(e.ha1_sha256[0] == '\0');
	/* Slices need no NUL: a name inside a larger buffer. */
	CHECK_INT(store_cache_lookup(c, &e, slice_make("bobby", 3), slice_cstr("example.com")), 0);

	/* No change, no reload. */
	CHECK_INT(store_cache_refresh(c, s, &reloaded), 0);
	CHECK(!reloaded);
	store_cache_free(&c);
	CHECK(c == NULL);
	store_cache_free(&c);
	store_close(&s);
}

/* Refresh until the cache reloads (at once with SQLite; PostgreSQL's
 * notification of another handle's commit arrives asynchronously), within
 * a generous bound. */
static int refresh_wait(struct store_cache *c, struct store *s, bool *reloaded)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int rc = 0;

	for (int i = 0; i < 3000; i++) {
		rc = store_cache_refresh(c, s, reloaded);
		if (rc || *reloaded || !tmp_pg())
			return rc;
		nanosleep(&ts, NULL);
	}
	return rc;
}

static void sees_change_from_second_handle(void)
{
	char path[128], err[256];
	struct store *server = NULL, *cli = NULL;
	struct store_cache *c = NULL;
	struct store_cache_entry e;
	struct store_user u;
	struct store_cred cred;
	struct store_reg r;
	int64_t alice = 0;
	bool reloaded = false;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&server, path, err, sizeof(err)), 0);
	CHECK_INT(store_open(&cli, path, err, sizeof(err)), 0);
	CHECK_INT(store_cache_new(&c, 100), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(server, &alice, &u), 0);
	CHECK_INT(refresh_wait(c, server, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(strcmp(e.ha1_md5, MD5_A) == 0);

	/* The CLI changes the password: seen after refresh, not before. */
	memset(&cred, 0, sizeof(cred));
	snprintf(cred.realm, sizeof(cred.realm), "new-realm");
	snprintf(cred.ha1_md5, sizeof(cred.ha1_md5), "%s", MD5_B);
	CHECK_INT(store_users_set_password(cli, "alice", "example.com", &cred, 0), 0);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(strcmp(e.ha1_md5, MD5_A) == 0); /* lookup does not touch SQL */
	CHECK_INT(refresh_wait(c, server, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(strcmp(e.ha1_md5, MD5_B) == 0);
	CHECK(strcmp(e.realm, "new-realm") == 0);
	CHECK(e.ha1_sha256[0] == '\0');

	/* Disable, add, delete through the CLI. */
	CHECK_INT(store_users_set_enabled(cli, "alice", "example.com", false), 0);
	CHECK_INT(refresh_wait(c, server, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(!e.enabled);
	make_user(&u, "bob", "example.com");
	CHECK_INT(store_users_add(cli, NULL, &u), 0);
	CHECK_INT(refresh_wait(c, server, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(lookup(c, &e, "bob", "example.com"), 0);
	CHECK_INT(store_users_delete(cli, "bob", "example.com"), 0);
	CHECK_INT(refresh_wait(c, server, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(lookup(c, &e, "bob", "example.com"), ENOENT);
	CHECK_INT(store_cache_count(c), 1);

	/* A registration written by the other handle does not force a reload. */
	memset(&r, 0, sizeof(r));
	r.user_id = alice;
	snprintf(r.aor, sizeof(r.aor), "sip:alice@example.com");
	snprintf(r.contact, sizeof(r.contact), "sip:alice@192.0.2.1");
	snprintf(r.received, sizeof(r.received), "udp:192.0.2.1:5060");
	snprintf(r.transport, sizeof(r.transport), "udp");
	snprintf(r.call_id, sizeof(r.call_id), "abc");
	r.expires_at = 100;
	CHECK_INT(store_regs_upsert(cli, NULL, &r), 0);
	CHECK_INT(store_cache_refresh(c, server, &reloaded), 0);
	CHECK(!reloaded);

	store_cache_free(&c);
	store_close(&cli);
	store_close(&server);
}

static void max_users_keeps_old_contents(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	struct store_cache *c = NULL;
	struct store_cache_entry e;
	struct store_user u;
	bool reloaded = true;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	CHECK_INT(store_cache_new(&c, 2), 0);
	CHECK_INT(store_cache_new(&c, 0), EINVAL);
	make_user(&u, "a", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	make_user(&u, "b", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(store_cache_refresh(c, s, NULL), 0);
	CHECK_INT(store_cache_count(c), 2);
	uint64_t v = store_cache_version(c);

	make_user(&u, "c", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(store_cache_refresh(c, s, &reloaded), EOVERFLOW);
	CHECK(!reloaded);
	CHECK_INT(store_cache_count(c), 2);
	CHECK_INT(store_cache_version(c), v);
	CHECK_INT(lookup(c, &e, "a", "example.com"), 0);
	CHECK_INT(lookup(c, &e, "c", "example.com"), ENOENT);
	/* Still over the limit: refused again, not silently accepted. */
	CHECK_INT(store_cache_refresh(c, s, &reloaded), EOVERFLOW);
	CHECK_INT(store_users_delete(s, "a", "example.com"), 0);
	CHECK_INT(store_cache_refresh(c, s, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(lookup(c, &e, "a", "example.com"), ENOENT);
	CHECK_INT(lookup(c, &e, "c", "example.com"), 0);
	store_cache_free(&c);
	store_close(&s);
}

static void many_users(void)
{
	enum { N = 5000 };
	char path[128], err[256], name[32];
	struct store *s = NULL;
	struct store_cache *c = NULL;
	struct store_cache_entry e;
	struct store_user *users = calloc(N, sizeof(*users));

	CHECK(users != NULL);
	for (size_t i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "u%zu", i);
		make_user(&users[i], name, i % 2 ? "a.example" : "b.example");
	}
	tmp_db(path, sizeof(path));
	if (store_open(&s, path, err, sizeof(err)) == 0)
		(void)store_users_import(s, NULL, users, N);
	free(users);
	CHECK(s != NULL);
	CHECK_INT(store_cache_new(&c, N), 0);
	CHECK_INT(store_cache_refresh(c, s, NULL), 0);
	CHECK_INT(store_cache_count(c), N);
	for (size_t i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "u%zu", i);
		CHECK_INT(lookup(c, &e, name, i % 2 ? "a.example" : "b.example"), 0);
		CHECK_INT(lookup(c, &e, name, i % 2 ? "b.example" : "a.example"), ENOENT);
	}
	store_cache_free(&c);
	store_close(&s);
}

/* Thousands of users whose names collide under the old unkeyed hash (FNV-1a,
 * low 12 bits): each lookup, found or not, examines a handful of entries, not
 * a chain of all of them. Counted in probes (entries examined), not time. */
static void colliding_names_stay_short(void)
{
	enum { N = 2000 };
	char path[128], err[256];
	char (*names)[32] = calloc(N, 32);
	struct store *s = NULL;
	struct store_cache *c = NULL;
	struct store_cache_entry e;
	struct store_user *users = calloc(N, sizeof(*users));
	uint64_t before;

	CHECK(names && users);
	CHECK_INT(check_fnv_collisions(names, N), N);
	for (size_t i = 0; i < N; i++)
		make_user(&users[i], names[i], "example.com");
	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	CHECK_INT(store_users_import(s, NULL, users, N), 0);
	free(users);
	CHECK_INT(store_cache_new(&c, N), 0);
	CHECK_INT(store_cache_refresh(c, s, NULL), 0);
	CHECK_INT(store_cache_count(c), N);
	before = store_cache_probes(c);
	for (size_t i = 0; i < N; i++) {
		CHECK_INT(lookup(c, &e, names[i], "example.com"), 0);
		CHECK_INT(lookup(c, &e, names[i], "example.org"), ENOENT);
	}
	/* Chained on the old hash, each of the 2N lookups walked about N entries. */
	CHECK(store_cache_probes(c) - before < (uint64_t)N * 2 * 8);
	CHECK(store_cache_probes(c) - before >= (uint64_t)N); /* the found ones were examined */
	store_cache_free(&c);
	store_close(&s);
	free(names);
}

/* The calling class and the toll-fraud hold live with the user
 * (docs/trunks.md): another handle's change reaches the cache, a hold
 * survives closing the store, and bad values are refused. */
static void carries_calling_and_fraud_hold(void)
{
	char path[128], err[256];
	struct store *server = NULL, *cli = NULL;
	struct store_cache *c = NULL;
	struct store_cache_entry e;
	struct store_user u;
	bool reloaded = false;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&server, path, err, sizeof(err)), 0);
	CHECK_INT(store_open(&cli, path, err, sizeof(err)), 0);
	CHECK_INT(store_cache_new(&c, 100), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(server, NULL, &u), 0);
	CHECK_INT(refresh_wait(c, server, &reloaded), 0);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(e.calling[0] == '\0' && !e.fraud_hold); /* the site's class, no hold */

	CHECK_INT(store_users_set_calling(cli, "alice", "example.com", "international"), 0);
	CHECK_INT(store_users_set_fraud_hold(cli, "alice", "example.com",
					     "12 short international calls", 1700000000), 0);
	CHECK_INT(refresh_wait(c, server, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(strcmp(e.calling, "international") == 0);
	CHECK(e.fraud_hold);
	CHECK_INT(store_users_get(cli, &u, "alice", "example.com"), 0);
	CHECK(strcmp(u.fraud_hold, "12 short international calls") == 0);
	CHECK_INT(u.fraud_hold_at, 1700000000);

	/* refused: an unknown class, a reason with a control byte, nobody */
	CHECK_INT(store_users_set_calling(cli, "alice", "example.com", "galactic"), EINVAL);
	CHECK_INT(store_users_set_fraud_hold(cli, "alice", "example.com", "a\nb", 0), EINVAL);
	CHECK_INT(store_users_set_calling(cli, "nobody", "example.com", "local"), ENOENT);
	CHECK_INT(store_users_set_fraud_hold(cli, "nobody", "example.com", "x", 0), ENOENT);

	/* a restart keeps the hold; lifting it clears reason and time */
	store_close(&cli);
	CHECK_INT(store_open(&cli, path, err, sizeof(err)), 0);
	CHECK_INT(store_users_get(cli, &u, "alice", "example.com"), 0);
	CHECK(u.fraud_hold[0] != '\0');
	CHECK_INT(store_users_set_fraud_hold(cli, "alice", "example.com", "", 0), 0);
	CHECK_INT(store_users_set_calling(cli, "alice", "example.com", ""), 0);
	CHECK_INT(refresh_wait(c, server, &reloaded), 0);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(!e.fraud_hold && e.calling[0] == '\0');
	CHECK_INT(store_users_get(cli, &u, "alice", "example.com"), 0);
	CHECK(u.fraud_hold[0] == '\0' && u.fraud_hold_at == 0);
	store_cache_free(&c);
	store_close(&cli);
	store_close(&server);
}

static void carries_client_cert_flag(void)
{
	char path[128], err[256];
	struct store *s = NULL, *cli = NULL;
	struct store_cache *c = NULL;
	struct store_cache_entry e;
	struct store_user u;
	bool reloaded = false;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	CHECK_INT(store_open(&cli, path, err, sizeof(err)), 0);
	CHECK_INT(store_cache_new(&c, 10), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	make_user(&u, "bob", "example.com");
	u.require_client_cert = true; /* add keeps it */
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(store_cache_refresh(c, s, &reloaded), 0);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(!e.require_client_cert);
	CHECK_INT(lookup(c, &e, "bob", "EXAMPLE.com"), 0);
	CHECK(e.require_client_cert);

	/* set by another process (the CLI): the next refresh reloads it */
	CHECK_INT(store_users_set_client_cert(cli, "alice", "example.com", true), 0);
	CHECK_INT(store_users_set_client_cert(cli, "bob", "example.com", false), 0);
	CHECK_INT(refresh_wait(c, s, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(e.require_client_cert && e.enabled);
	CHECK_INT(lookup(c, &e, "bob", "example.com"), 0);
	CHECK(!e.require_client_cert);
	store_cache_free(&c);
	store_close(&cli);
	store_close(&s);
}

/* The rotation cases' start: a server handle s with its cache c (loaded),
 * a CLI handle cli on the same database, the users named, and nc a new
 * credential (MD5_B) for the same realm. */
static int rotation_setup(struct store **s, struct store **cli, struct store_cache **c,
			  struct store_cred *nc, const char *const *names, size_t n)
{
	char path[128], err[256];
	struct store_user u;
	bool reloaded = false;
	int rc;

	tmp_db(path, sizeof(path));
	if ((rc = store_open(s, path, err, sizeof(err))) ||
	    (rc = store_open(cli, path, err, sizeof(err))) || (rc = store_cache_new(c, 10)))
		return rc;
	for (size_t i = 0; i < n; i++) {
		make_user(&u, names[i], "example.com");
		if ((rc = store_users_add(*s, NULL, &u)))
			return rc;
	}
	memset(nc, 0, sizeof(*nc));
	snprintf(nc->realm, sizeof(nc->realm), "realm-example.com");
	snprintf(nc->ha1_md5, sizeof(nc->ha1_md5), "%s", MD5_B);
	return store_cache_refresh(*c, *s, &reloaded);
}

/* A rotation with a deadline: the old HA1s and the deadline reach the
 * entries; move_deadline moves every pending one; set_password ends it.
 * The same on both backends (the _pg run). */
static void carries_password_rotation(void)
{
	static const char *const names[] = { "alice", "bob", "carol" };
	struct store *s = NULL, *cli = NULL;
	struct store_cache *c = NULL;
	struct store_cache_entry e;
	struct store_user got;
	struct store_cred nc;
	bool reloaded = false;
	size_t n = 99;

	CHECK_INT(rotation_setup(&s, &cli, &c, &nc, names, ARRAY_SIZE(names)), 0);
	CHECK_INT(store_users_rotate_password(cli, "alice", "example.com", &nc, 0, 0), EINVAL);
	CHECK_INT(store_users_rotate_password(cli, "nobody", "example.com", &nc, 5000, 0), ENOENT);
	/* alice: a new password, the old one until 5000; bob: must change by 5000 */
	CHECK_INT(store_users_rotate_password(cli, "alice", "example.com", &nc, 5000, 0), 0);
	CHECK_INT(store_users_rotate_password(cli, "bob", "example.com", NULL, 5000, 0), 0);
	CHECK_INT(store_users_get(cli, &got, "alice", "example.com"), 0);
	CHECK(strcmp(got.cred.ha1_md5, MD5_B) == 0 && got.cred.ha1_sha256[0] == '\0');
	CHECK(strcmp(got.old_cred.ha1_md5, MD5_A) == 0);
	CHECK(strcmp(got.old_cred.ha1_sha256, SHA_A) == 0);
	CHECK(strcmp(got.old_cred.realm, "realm-example.com") == 0);
	CHECK_INT(got.pw_deadline, 5000);
	CHECK_INT(refresh_wait(c, s, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(strcmp(e.ha1_md5, MD5_B) == 0);
	CHECK(strcmp(e.old_ha1_md5, MD5_A) == 0 && strcmp(e.old_ha1_sha256, SHA_A) == 0);
	CHECK_INT(e.pw_deadline, 5000);
	CHECK_INT(lookup(c, &e, "bob", "example.com"), 0);
	CHECK(e.old_ha1_md5[0] == '\0' && e.old_ha1_sha256[0] == '\0');
	CHECK_INT(e.pw_deadline, 5000);
	CHECK_INT(lookup(c, &e, "carol", "example.com"), 0);
	CHECK(e.old_ha1_md5[0] == '\0');
	CHECK_INT(e.pw_deadline, 0);

	/* the deadline moves for the two pending users only */
	CHECK_INT(store_users_move_deadline(cli, &n, 42), 0);
	CHECK_INT(n, 2);
	CHECK_INT(store_users_move_deadline(cli, NULL, 0), EINVAL);
	/* bob changes his password: his mark ends */
	CHECK_INT(store_users_set_password(cli, "bob", "example.com", &nc, 0), 0);
	CHECK_INT(refresh_wait(c, s, &reloaded), 0);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK_INT(e.pw_deadline, 42);
	CHECK(strcmp(e.old_ha1_md5, MD5_A) == 0);
	CHECK_INT(lookup(c, &e, "bob", "example.com"), 0);
	CHECK_INT(e.pw_deadline, 0);
	CHECK_INT(lookup(c, &e, "carol", "example.com"), 0);
	CHECK_INT(e.pw_deadline, 0);
	/* an old HA1 of another realm cannot verify: not carried */
	snprintf(nc.realm, sizeof(nc.realm), "another-realm");
	CHECK_INT(store_users_rotate_password(cli, "carol", "example.com", &nc, 5000, 0), 0);
	CHECK_INT(refresh_wait(c, s, &reloaded), 0);
	CHECK_INT(lookup(c, &e, "carol", "example.com"), 0);
	CHECK(e.old_ha1_md5[0] == '\0' && e.old_ha1_sha256[0] == '\0');
	CHECK_INT(e.pw_deadline, 5000);
	store_cache_free(&c);
	store_close(&cli);
	store_close(&s);
}

/* `bastion rotate --passwords` rotates every user inside one batch: all or
 * nothing on both backends. A failure drops the rotations before it; a
 * committed batch keeps them all, and the other handle's cache sees them. */
static void password_rotation_in_a_batch_is_all_or_nothing(void)
{
	static const char *const names[] = { "alice", "bob" };
	struct store *s = NULL, *cli = NULL;
	struct store_cache *c = NULL;
	struct store_cache_entry e;
	struct store_user got;
	struct store_cred nc;
	bool reloaded = false;

	CHECK_INT(rotation_setup(&s, &cli, &c, &nc, names, ARRAY_SIZE(names)), 0);

	/* a failure half-way, then the batch is dropped: nothing changed */
	CHECK_INT(store_batch_begin(cli), 0);
	CHECK_INT(store_users_rotate_password(cli, "alice", "example.com", &nc, 5000, 0), 0);
	CHECK_INT(store_users_rotate_password(cli, "nobody", "example.com", NULL, 5000, 0), ENOENT);
	CHECK_INT(store_batch_end(cli, false), 0);
	CHECK_INT(store_users_get(cli, &got, "alice", "example.com"), 0);
	CHECK(strcmp(got.cred.ha1_md5, MD5_A) == 0);
	CHECK(got.old_cred.ha1_md5[0] == '\0');
	CHECK_INT(got.pw_deadline, 0);

	/* a rolled-back batch of good rotations: nothing changed either */
	CHECK_INT(store_batch_begin(cli), 0);
	CHECK_INT(store_users_rotate_password(cli, "alice", "example.com", NULL, 5000, 0), 0);
	CHECK_INT(store_batch_end(cli, false), 0);
	CHECK_INT(store_users_get(s, &got, "alice", "example.com"), 0);
	CHECK_INT(got.pw_deadline, 0);

	/* committed: every rotation of the batch, seen by the other handle */
	CHECK_INT(store_batch_begin(cli), 0);
	CHECK_INT(store_users_rotate_password(cli, "alice", "example.com", &nc, 5000, 0), 0);
	CHECK_INT(store_users_rotate_password(cli, "bob", "example.com", NULL, 6000, 0), 0);
	CHECK_INT(store_batch_end(cli, true), 0);
	CHECK_INT(refresh_wait(c, s, &reloaded), 0);
	CHECK(reloaded);
	CHECK_INT(lookup(c, &e, "alice", "example.com"), 0);
	CHECK(strcmp(e.ha1_md5, MD5_B) == 0 && strcmp(e.old_ha1_md5, MD5_A) == 0);
	CHECK_INT(e.pw_deadline, 5000);
	CHECK_INT(lookup(c, &e, "bob", "example.com"), 0);
	CHECK(strcmp(e.ha1_md5, MD5_A) == 0 && e.old_ha1_md5[0] == '\0');
	CHECK_INT(e.pw_deadline, 6000);
	store_cache_free(&c);
	store_close(&cli);
	store_close(&s);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(loads_and_looks_up),
		CASE(sees_change_from_second_handle),
		CASE(max_users_keeps_old_contents),
		CASE(many_users),
		CASE(colliding_names_stay_short),
		CASE(carries_client_cert_flag),
		CASE(carries_calling_and_fraud_hold),
		CASE(carries_password_rotation),
		CASE(password_rotation_in_a_batch_is_all_or_nothing),
	};
	int rc;

	if (tmp_init())
		return 1;
	rc = check_main("store_cache", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
