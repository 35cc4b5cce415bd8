/*
 * Unit tests of the store interface on its SQLite backend: schema creation,
 * migrations and refusal of newer schemas, file mode, WAL, the users and
 * registrations operations, bulk import, the users change counter, the
 * client certificate flag and the upgrade that brought it. Each
 * case works on a real database file in a scratch directory under /tmp.
 * The cases that do not look at the file itself (SQLITE_ONLY) run again on
 * PostgreSQL (the _pg run, store_tmp.h), so the two backends are held to
 * the same answers; raw_int and raw_exec then speak to that database.
 */
#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"
#include "store/store.h"
#include "store_tmp.h"

#define MD5_A "0123456789abcdef0123456789abcdef"
#define MD5_B "fedcba9876543210fedcba9876543210"
#define SHA_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SHA_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static void make_user(struct store_user *u, const char *name, const char *domain)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->domain, sizeof(u->domain), "%s", domain);
	snprintf(u->cred.realm, sizeof(u->cred.realm), "%s", domain);
	snprintf(u->cred.ha1_md5, sizeof(u->cred.ha1_md5), "%s", MD5_A);
	snprintf(u->cred.ha1_sha256, sizeof(u->cred.ha1_sha256), "%s", SHA_A);
	u->cred.strength = STORE_PW_CHECKED;
	u->enabled = true;
	u->created_at = 1700000000;
}

static void make_reg(struct store_reg *r, int64_t user_id, const char *aor, const char *contact,
		     int64_t expires_at, uint16_t q)
{
	memset(r, 0, sizeof(*r));
	r->user_id = user_id;
	snprintf(r->aor, sizeof(r->aor), "%s", aor);
	snprintf(r->contact, sizeof(r->contact), "%s", contact);
	snprintf(r->received, sizeof(r->received), "udp:192.0.2.1:5060");
	snprintf(r->transport, sizeof(r->transport), "udp");
	snprintf(r->call_id, sizeof(r->call_id), "call-%s", contact);
	snprintf(r->user_agent, sizeof(r->user_agent), "test/1.0");
	r->expires_at = expires_at;
	r->cseq = 1;
	r->q = q;
}

/* Raw access to inspect what the store wrote, or to write what our code
 * would not: SQLite's file, or the test's PostgreSQL database (the _pg run;
 * the SQL of these cases is valid in both). */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (tmp_pg())
		return tmp_pg_int(tmp_pg_dbname(path), sql);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	if (tmp_pg())
		return tmp_pg_exec(tmp_pg_dbname(path), sql) == 0 ? SQLITE_OK : SQLITE_ERROR;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

static int count_row(void *arg, const struct store_user *u)
{
	(void)u;
	++*(size_t *)arg;
	return 0;
}

static int count_reg(void *arg, const struct store_reg *r)
{
	(void)r;
	++*(size_t *)arg;
	return 0;
}

static void schema_create_and_reopen(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	int v = -1;

	SQLITE_ONLY(); /* the file itself, its locks or its pragmas */

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	CHECK(s != NULL);
	CHECK_INT(store_schema_version(s, &v), 0);
	CHECK(store_schema_latest() >= 1);
	CHECK_INT(v, store_schema_latest());
	store_close(&s);
	CHECK(s == NULL);
	store_close(&s); /* no-op on NULL */
	CHECK_INT(raw_int(path, "PRAGMA user_version"), store_schema_latest());
	CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
				"name IN ('users', 'registrations', 'meta')"),
		  3);

	/* Reopening does not migrate again (would fail: tables exist) and keeps data. */
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	CHECK_INT(store_schema_version(s, &v), 0);
	CHECK_INT(v, store_schema_latest());
	struct store_user u;
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	store_close(&s);
	char url[160];
	snprintf(url, sizeof(url), "sqlite://%s", path); /* sqlite:///abs/path */
	CHECK_INT(store_open(&s, url, err, sizeof(err)), 0);
	CHECK_INT(store_users_get(s, &u, "alice", "example.com"), 0);
	store_close(&s);
}

static void refuse_newer_schema(void)
{
	char path[128], err[256], sql[64];
	struct store *s = NULL;

	SQLITE_ONLY(); /* the file itself, its locks or its pragmas */

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	store_close(&s);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_latest() + 1);
	CHECK_INT(raw_exec(path, sql), SQLITE_OK);
	err[0] = '\0';
	CHECK_INT(store_open(&s, path, err, sizeof(err)), EPROTO);
	CHECK(s == NULL);
	CHECK(strstr(err, "newer") != NULL);
	printf("  refused as expected: %s\n", err);
	/* Refusing did not touch it. */
	CHECK_INT(raw_int(path, "PRAGMA user_version"), store_schema_latest() + 1);
}

static void bad_urls_and_files(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	FILE *f;

	SQLITE_ONLY(); /* the file itself, its locks or its pragmas */

	CHECK_INT(store_open(&s, "", err, sizeof(err)), EINVAL);
	CHECK_INT(store_open(&s, "sqlite:", err, sizeof(err)), EINVAL);
	/* PostgreSQL URLs go to that backend: nobody listens on port 1. */
	CHECK_INT(store_open(&s, "postgres://bastion@127.0.0.1:1/bastion", err, sizeof(err)),
		  ENOTCONN);
	CHECK_INT(store_open(&s, "mysql://db/bastion", err, sizeof(err)), ENOTSUP);
	CHECK(s == NULL);
	CHECK(store_open(&s, "/nonexistent-dir/x/db.sqlite", err, sizeof(err)) != 0);
	CHECK(s == NULL);
	CHECK(err[0] != '\0');

	/* A file that is not a database. */
	tmp_db(path, sizeof(path));
	f = fopen(path, "w");
	CHECK(f != NULL);
	for (int i = 0; i < 200; i++)
		fputs("this is not an sqlite database\n", f);
	fclose(f);
	CHECK(store_open(&s, path, err, sizeof(err)) != 0);
	CHECK(s == NULL);
	printf("  garbage file refused: %s\n", err);
}

static void file_mode_0600_and_wal(void)
{
	char path[128], wal[160], err[256];
	struct store *s = NULL;
	struct store_user u;
	struct stat stbuf;
	mode_t old;

	SQLITE_ONLY(); /* the file itself, its locks or its pragmas */
	old = umask(0);

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	umask(old);
	make_user(&u, "bob", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(stat(path, &stbuf), 0);
	CHECK_INT(stbuf.st_mode & 0777, 0600);
	/* WAL: the -wal file exists while the handle is open, and has the mode too. */
	snprintf(wal, sizeof(wal), "%s-wal", path);
	CHECK_INT(stat(wal, &stbuf), 0);
	CHECK_INT(stbuf.st_mode & 0777, 0600);
	store_close(&s);
	/* journal_mode=WAL is persistent in the file header. */
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	CHECK_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_step(st), SQLITE_ROW);
	int is_wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	CHECK(is_wal);
}

struct names {
	char got[8][64];
	size_t n;
};

static int collect_names(void *arg, const struct store_user *u)
{
	struct names *nm = arg;

	if (nm->n < 8)
		snprintf(nm->got[nm->n], sizeof(nm->got[0]), "%.30s@%.30s", u->name, u->domain);
	nm->n++;
	return 0;
}

static int stop_at_first(void *arg, const struct store_user *u)
{
	(void)u;
	++*(size_t *)arg;
	return 42;
}

static void users_crud(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	struct store_user u, g;
	struct store_cred c;
	struct names nm = { .n = 0 };
	int64_t id = 0, id2 = 0;
	size_t n = 0;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, &id, &u), 0);
	CHECK(id > 0);
	CHECK_INT(store_users_add(s, NULL, &u), EEXIST);
	/* Domains compare case-insensitively, names do not. */
	make_user(&u, "alice", "EXAMPLE.com");
	CHECK_INT(store_users_add(s, NULL, &u), EEXIST);
	make_user(&u, "Alice", "example.com");
	CHECK_INT(store_users_add(s, &id2, &u), 0);
	CHECK(id2 != id);
	make_user(&u, "carol", "another.org");
	u.cred.strength = STORE_PW_UNKNOWN;
	u.cred.ha1_sha256[0] = '\0'; /* import with MD5 only */
	u.enabled = false;
	CHECK_INT(store_users_add(s, NULL, &u), 0);

	/* Refused input. */
	make_user(&u, "dave", "example.com");
	u.cred.ha1_md5[5] = 'X';
	CHECK_INT(store_users_add(s, NULL, &u), EINVAL);
	make_user(&u, "dave", "example.com");
	u.cred.ha1_md5[5] = 'A'; /* uppercase hex */
	CHECK_INT(store_users_add(s, NULL, &u), EINVAL);
	make_user(&u, "dave", "example.com");
	u.cred.ha1_md5[31] = '\0'; /* too short */
	CHECK_INT(store_users_add(s, NULL, &u), EINVAL);
	make_user(&u, "dave", "example.com");
	u.cred.ha1_md5[0] = u.cred.ha1_sha256[0] = '\0';
	CHECK_INT(store_users_add(s, NULL, &u), EINVAL);
	make_user(&u, "", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), EINVAL);
	make_user(&u, "da\nve", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), EINVAL);
	make_user(&u, "dave", "example.com");
	memset(u.name, 'a', sizeof(u.name)); /* not NUL-terminated */
	CHECK_INT(store_users_add(s, NULL, &u), EINVAL);
	make_user(&u, "dave", "example.com");
	u.cred.realm[0] = '\0';
	CHECK_INT(store_users_add(s, NULL, &u), EINVAL);

	/* Get returns every field. */
	CHECK_INT(store_users_get(s, &g, "alice", "Example.COM"), 0);
	CHECK_INT(g.id, id);
	CHECK(strcmp(g.name, "alice") == 0);
	CHECK(strcmp(g.domain, "example.com") == 0);
	CHECK(strcmp(g.cred.realm, "example.com") == 0);
	CHECK(strcmp(g.cred.ha1_md5, MD5_A) == 0);
	CHECK(strcmp(g.cred.ha1_sha256, SHA_A) == 0);
	CHECK(g.enabled);
	CHECK_INT(g.cred.strength, STORE_PW_CHECKED);
	CHECK_INT(g.created_at, 1700000000);
	CHECK_INT(g.changed_at, 1700000000);
	CHECK_INT(store_users_get(s, &g, "carol", "another.org"), 0);
	CHECK(!g.enabled);
	CHECK_INT(g.cred.strength, STORE_PW_UNKNOWN);
	CHECK(g.cred.ha1_sha256[0] == '\0');
	CHECK_INT(store_users_get(s, &g, "nobody", "example.com"), ENOENT);
	CHECK_INT(store_users_get(s, &g, "ALICE", "example.com"), ENOENT);

	/* List: every row once, ordered by domain then name. */
	CHECK_INT(store_users_list(s, collect_names, &nm), 0);
	CHECK_INT(nm.n, 3);
	CHECK(strcmp(nm.got[0], "carol@another.org") == 0);
	CHECK(strcmp(nm.got[1], "Alice@example.com") == 0);
	CHECK(strcmp(nm.got[2], "alice@example.com") == 0);
	CHECK_INT(store_users_list(s, stop_at_first, &n), 42);
	CHECK_INT(n, 1);

	/* Password change. */
	memset(&c, 0, sizeof(c));
	snprintf(c.realm, sizeof(c.realm), "sip.example.com");
	snprintf(c.ha1_md5, sizeof(c.ha1_md5), MD5_B);
	snprintf(c.ha1_sha256, sizeof(c.ha1_sha256), SHA_B);
	c.strength = STORE_PW_UNKNOWN;
	CHECK_INT(store_users_set_password(s, "alice", "example.com", &c, 1800000000), 0);
	CHECK_INT(store_users_get(s, &g, "alice", "example.com"), 0);
	CHECK(strcmp(g.cred.ha1_md5, MD5_B) == 0);
	CHECK(strcmp(g.cred.ha1_sha256, SHA_B) == 0);
	CHECK(strcmp(g.cred.realm, "sip.example.com") == 0);
	CHECK_INT(g.cred.strength, STORE_PW_UNKNOWN);
	CHECK_INT(g.changed_at, 1800000000);
	CHECK_INT(g.created_at, 1700000000);
	/* Other user untouched. */
	CHECK_INT(store_users_get(s, &g, "Alice", "example.com"), 0);
	CHECK(strcmp(g.cred.ha1_md5, MD5_A) == 0);
	CHECK_INT(store_users_set_password(s, "nobody", "example.com", &c, 0), ENOENT);
	c.ha1_md5[0] = 'z';
	CHECK_INT(store_users_set_password(s, "alice", "example.com", &c, 0), EINVAL);

	/* Enable / disable. */
	CHECK_INT(store_users_set_enabled(s, "alice", "example.com", false), 0);
	CHECK_INT(store_users_get(s, &g, "alice", "example.com"), 0);
	CHECK(!g.enabled);
	CHECK_INT(store_users_set_enabled(s, "alice", "example.com", true), 0);
	CHECK_INT(store_users_get(s, &g, "alice", "example.com"), 0);
	CHECK(g.enabled);
	CHECK_INT(store_users_set_enabled(s, "nobody", "example.com", true), ENOENT);

	/* Delete. */
	CHECK_INT(store_users_delete(s, "alice", "example.com"), 0);
	CHECK_INT(store_users_get(s, &g, "alice", "example.com"), ENOENT);
	CHECK_INT(store_users_delete(s, "alice", "example.com"), ENOENT);
	CHECK_INT(store_users_get(s, &g, "Alice", "example.com"), 0);
	n = 0;
	CHECK_INT(store_users_list(s, count_row, &n), 0);
	CHECK_INT(n, 2);
	store_close(&s);
}

static void delete_cascades_registrations(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	struct store_user u;
	struct store_reg r;
	int64_t alice = 0, bob = 0;
	size_t n = 0;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, &alice, &u), 0);
	make_user(&u, "bob", "example.com");
	CHECK_INT(store_users_add(s, &bob, &u), 0);
	make_reg(&r, alice, "sip:alice@example.com", "sip:alice@192.0.2.1", 2000000000, 1000);
	CHECK_INT(store_regs_upsert(s, NULL, &r), 0);
	make_reg(&r, alice, "sip:alice@example.com", "sip:alice@192.0.2.2", 2000000000, 500);
	CHECK_INT(store_regs_upsert(s, NULL, &r), 0);
	make_reg(&r, bob, "sip:bob@example.com", "sip:bob@192.0.2.3", 2000000000, 1000);
	CHECK_INT(store_regs_upsert(s, NULL, &r), 0);
	CHECK_INT(store_regs_list_all(s, count_reg, &n), 0);
	CHECK_INT(n, 3);
	CHECK_INT(store_users_delete(s, "alice", "example.com"), 0);
	n = 0;
	CHECK_INT(store_regs_list_all(s, count_reg, &n), 0);
	CHECK_INT(n, 1);
	n = 0;
	CHECK_INT(store_regs_list_aor(s, "sip:alice@example.com", count_reg, &n), 0);
	CHECK_INT(n, 0);
	/* A binding for a user that does not exist is refused. */
	make_reg(&r, alice, "sip:alice@example.com", "sip:alice@192.0.2.1", 2000000000, 1000);
	CHECK_INT(store_regs_upsert(s, NULL, &r), ENOENT);
	store_close(&s);
}

static struct store_user *make_many(size_t n, const char *prefix)
{
	struct store_user *users = calloc(n, sizeof(*users));
	char name[64];

	if (!users)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%zu", prefix, i);
		make_user(&users[i], name, "example.com");
		users[i].cred.strength = STORE_PW_UNKNOWN;
	}
	return users;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void import_10k_fast(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	struct store_user *users = make_many(10000, "user");
	struct store_user g;
	size_t failed = 12345, n = 0;
	uint64_t v0 = 0, v1 = 0;
	double t0, t1;

	CHECK(users != NULL);
	tmp_db(path, sizeof(path));
	if (store_open(&s, path, err, sizeof(err)) != 0) {
		free(users);
		CHECK(!"open");
	}
	CHECK_INT(store_users_version(s, &v0), 0);
	t0 = now_s();
	int rc = store_users_import(s, &failed, users, 10000);
	t1 = now_s();
	free(users);
	printf("  imported 10000 users in %.1f ms\n", (t1 - t0) * 1e3);
	CHECK_INT(rc, 0);
	CHECK_INT(failed, 12345); /* untouched on success */
	CHECK_INT(store_users_list(s, count_row, &n), 0);
	CHECK_INT(n, 10000);
	CHECK_INT(store_users_get(s, &g, "user9999", "example.com"), 0);
	CHECK_INT(g.cred.strength, STORE_PW_UNKNOWN);
	CHECK_INT(store_users_version(s, &v1), 0);
	CHECK(v1 != v0);
	store_close(&s);
}

static void import_rolls_back_on_bad_row(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	struct store_user *users = make_many(100, "imp");
	struct store_user u;
	size_t failed = 0, n = 0;
	uint64_t v0 = 0, v1 = 0;

	CHECK(users != NULL);
	tmp_db(path, sizeof(path));
	if (store_open(&s, path, err, sizeof(err)) != 0) {
		free(users);
		CHECK(!"open");
	}
	make_user(&u, "existing", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(store_users_version(s, &v0), 0);

	/* A duplicate within the batch: found by the database mid-transaction. */
	users[60] = users[10];
	int rc = store_users_import(s, &failed, users, 100);
	CHECK_INT(rc, EEXIST);
	CHECK_INT(failed, 60);
	printf("  %s\n", store_errmsg(s));
	/* A duplicate of a row already stored. */
	snprintf(users[60].name, sizeof(users[60].name), "existing");
	rc = store_users_import(s, &failed, users, 100);
	CHECK_INT(rc, EEXIST);
	CHECK_INT(failed, 60);
	/* An invalid row: refused before the transaction. */
	snprintf(users[60].name, sizeof(users[60].name), "fresh60");
	users[70].cred.ha1_md5[0] = 'Q';
	rc = store_users_import(s, &failed, users, 100);
	CHECK_INT(rc, EINVAL);
	CHECK_INT(failed, 70);
	free(users);

	CHECK_INT(store_users_list(s, count_row, &n), 0);
	CHECK_INT(n, 1); /* only "existing" */
	CHECK_INT(store_users_get(s, &u, "imp0", "example.com"), ENOENT);
	/* Rolled back: the change counter did not move either. */
	CHECK_INT(store_users_version(s, &v1), 0);
	CHECK_INT(v1, v0);
	/* The handle still works after the rollbacks. */
	make_user(&u, "after", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	store_close(&s);
}

struct regs {
	struct store_reg r[4];
	size_t n;
};

static int collect_reg(void *arg, const struct store_reg *r)
{
	struct regs *rs = arg;

	if (rs->n < 4)
		rs->r[rs->n] = *r;
	rs->n++;
	return 0;
}

static void registrations(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	struct store_user u;
	struct store_reg r;
	struct regs rs;
	int64_t uid = 0, id1 = 0, id1b = 0, id2 = 0;
	size_t n = 0;
	const char *aor = "sip:alice@example.com";

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, &uid, &u), 0);

	make_reg(&r, uid, aor, "sip:alice@192.0.2.1:5060", 1000, 500);
	CHECK_INT(store_regs_upsert(s, &id1, &r), 0);
	CHECK(id1 > 0);
	make_reg(&r, uid, aor, "sip:alice@192.0.2.2:5060;transport=tcp", 3000, 900);
	snprintf(r.instance, sizeof(r.instance), "<urn:uuid:00000000-0000-1000-8000-000000000001>");
	snprintf(r.transport, sizeof(r.transport), "tcp");
	snprintf(r.received, sizeof(r.received), "tcp:[2001:db8::1]:40000");
	r.cseq = 4000000000u;
	CHECK_INT(store_regs_upsert(s, &id2, &r), 0);
	CHECK(id2 != id1);

	/* Upsert of the same (aor, contact) updates in place. */
	make_reg(&r, uid, aor, "sip:alice@192.0.2.1:5060", 2000, 500);
	r.cseq = 7;
	snprintf(r.call_id, sizeof(r.call_id), "new-call-id");
	CHECK_INT(store_regs_upsert(s, &id1b, &r), 0);
	CHECK_INT(id1b, id1);

	memset(&rs, 0, sizeof(rs));
	CHECK_INT(store_regs_list_aor(s, aor, collect_reg, &rs), 0);
	CHECK_INT(rs.n, 2);
	/* Highest q first. */
	CHECK_INT(rs.r[0].id, id2);
	CHECK_INT(rs.r[0].q, 900);
	CHECK_INT(rs.r[0].cseq, 4000000000u);
	CHECK_INT(rs.r[0].expires_at, 3000);
	CHECK_INT(rs.r[0].user_id, uid);
	CHECK(strcmp(rs.r[0].contact, "sip:alice@192.0.2.2:5060;transport=tcp") == 0);
	CHECK(strcmp(rs.r[0].received, "tcp:[2001:db8::1]:40000") == 0);
	CHECK(strcmp(rs.r[0].transport, "tcp") == 0);
	CHECK(strcmp(rs.r[0].instance, "<urn:uuid:00000000-0000-1000-8000-000000000001>") == 0);
	CHECK(strcmp(rs.r[0].user_agent, "test/1.0") == 0);
	CHECK_INT(rs.r[1].id, id1);
	CHECK_INT(rs.r[1].expires_at, 2000);
	CHECK_INT(rs.r[1].cseq, 7);
	CHECK(strcmp(rs.r[1].call_id, "new-call-id") == 0);
	CHECK(rs.r[1].instance[0] == '\0');

	/* Another AOR, then list all. */
	make_reg(&r, uid, "sip:alice2@example.com", "sip:x@192.0.2.9", 500, 1000);
	CHECK_INT(store_regs_upsert(s, NULL, &r), 0);
	memset(&rs, 0, sizeof(rs));
	CHECK_INT(store_regs_list_all(s, collect_reg, &rs), 0);
	CHECK_INT(rs.n, 3);
	CHECK(rs.r[0].id < rs.r[1].id && rs.r[1].id < rs.r[2].id);

	/* Refused input. */
	make_reg(&r, uid, aor, "sip:y@192.0.2.9", 500, 1001);
	CHECK_INT(store_regs_upsert(s, NULL, &r), EINVAL);
	make_reg(&r, uid, aor, "", 500, 100);
	CHECK_INT(store_regs_upsert(s, NULL, &r), EINVAL);

	/* Expire: only bindings with expires_at <= now. */
	CHECK_INT(store_regs_expire(s, &n, 499), 0);
	CHECK_INT(n, 0);
	CHECK_INT(store_regs_expire(s, &n, 500), 0);
	CHECK_INT(n, 1);
	memset(&rs, 0, sizeof(rs));
	CHECK_INT(store_regs_list_all(s, collect_reg, &rs), 0);
	CHECK_INT(rs.n, 2);

	/* Delete one. */
	CHECK_INT(store_regs_delete(s, aor, "sip:alice@192.0.2.1:5060"), 0);
	CHECK_INT(store_regs_delete(s, aor, "sip:alice@192.0.2.1:5060"), ENOENT);
	memset(&rs, 0, sizeof(rs));
	CHECK_INT(store_regs_list_aor(s, aor, collect_reg, &rs), 0);
	CHECK_INT(rs.n, 1);
	CHECK_INT(rs.r[0].id, id2);

	/* Delete all of an AOR. */
	make_reg(&r, uid, aor, "sip:alice@192.0.2.5", 9000, 100);
	CHECK_INT(store_regs_upsert(s, NULL, &r), 0);
	CHECK_INT(store_regs_delete_aor(s, &n, aor), 0);
	CHECK_INT(n, 2);
	CHECK_INT(store_regs_delete_aor(s, &n, aor), 0);
	CHECK_INT(n, 0);
	n = 0;
	CHECK_INT(store_regs_list_all(s, count_reg, &n), 0);
	CHECK_INT(n, 0);
	store_close(&s);
}

/* The users version of s once it differs from old (PostgreSQL hears of
 * another connection's commit by notification, a moment later; SQLite at
 * once). Bounded: 10 s. */
static uint64_t version_after(struct store *s, uint64_t old)
{
	uint64_t v = old;

	for (int i = 0; i < 1000 && v == old; i++) {
		if (store_users_version(s, &v) != 0)
			return old;
		if (v == old)
			usleep(10 * 1000);
	}
	return v;
}

static void users_version_tracks_changes(void)
{
	char path[128], err[256];
	struct store *a = NULL, *b = NULL;
	struct store_user u;
	struct store_reg r;
	uint64_t v0 = 0, v1 = 0, v2 = 0, v3 = 0, v4 = 0;
	int64_t uid = 0;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&a, path, err, sizeof(err)), 0);
	CHECK_INT(store_open(&b, path, err, sizeof(err)), 0);
	CHECK_INT(store_users_version(a, &v0), 0);
	CHECK_INT(store_users_version(a, &v1), 0);
	CHECK_INT(v1, v0); /* stable without changes */

	/* A write through the same handle. */
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(a, &uid, &u), 0);
	CHECK_INT(store_users_version(a, &v1), 0);
	CHECK(v1 != v0);

	/* A write through another connection (the CLI). */
	CHECK_INT(store_users_set_enabled(b, "alice", "example.com", false), 0);
	v2 = version_after(a, v1);
	CHECK(v2 != v1);

	/* A registration write elsewhere does not move it. */
	make_reg(&r, uid, "sip:alice@example.com", "sip:alice@192.0.2.1", 100, 1000);
	CHECK_INT(store_regs_upsert(b, NULL, &r), 0);
	CHECK_INT(store_users_version(a, &v3), 0);
	CHECK_INT(v3, v2);

	/* A change made outside our code (the sqlite3 shell) is seen too. */
	CHECK_INT(raw_exec(path, "UPDATE users SET enabled = 1"), SQLITE_OK);
	v4 = version_after(a, v3);
	CHECK(v4 != v3);
	store_close(&a);
	store_close(&b);
}

/* Two processes writing at once: while another connection holds the write
 * lock, a store in a child process waits (busy timeout) instead of failing. */
static void concurrent_writer_waits(void)
{
	char path[128], err[256];
	struct store *a = NULL;
	struct store_user u;
	sqlite3 *db = NULL;
	size_t n = 0;
	int status = 0, go[2];
	pid_t pid;

	SQLITE_ONLY(); /* the file itself, its locks or its pragmas */

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&a, path, err, sizeof(err)), 0);
	store_close(&a);
	/* Fork before any connection exists in this process: SQLite's lock
	 * bookkeeping must not be inherited across fork(). */
	CHECK_INT(pipe(go), 0);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct store *c = NULL;
		char byte;
		int rc = EIO;

		close(go[1]);
		if (read(go[0], &byte, 1) == 1)
			rc = store_open(&c, path, err, sizeof(err));
		if (rc == 0) {
			make_user(&u, "child", "example.com");
			rc = store_users_add(c, NULL, &u);
		}
		if (rc)
			fprintf(stderr, "child: %d %s %s\n", rc, err, c ? store_errmsg(c) : "");
		store_close(&c);
		_exit(rc);
	}
	close(go[0]);
	CHECK_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO users (name, domain, realm,"
				   " ha1_md5, ha1_sha256, password_strength, created_at, changed_at)"
				   " VALUES ('held', 'example.com', 'r', '', '" SHA_A "', 'checked', 1, 1)",
				   NULL, NULL, NULL),
		  SQLITE_OK);
	CHECK_INT(write(go[1], "x", 1), 1);
	close(go[1]);
	CHECK(pid > 0);
	usleep(300 * 1000); /* the child is now waiting on the lock */
	CHECK_INT(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	CHECK_INT(store_open(&a, path, err, sizeof(err)), 0);
	CHECK_INT(store_users_list(a, count_row, &n), 0);
	CHECK_INT(n, 2);
	store_close(&a);
}

/* A row written by other means with a value longer than our arrays is
 * reported (EOVERFLOW), never truncated or overrun. */
static void oversized_row_refused_on_read(void)
{
	char path[128], err[256], sql[3000];
	struct store *s = NULL;
	struct store_user u;
	int64_t uid = 0;
	size_t n = 0;
	int len;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, &uid, &u), 0);
	len = snprintf(sql, sizeof(sql),
		       "INSERT INTO registrations (user_id, aor, contact, received, transport,"
		       " expires_at, call_id, cseq) VALUES (%lld, 'sip:alice@example.com', 'sip:",
		       (long long)uid);
	while (len < 2000)
		sql[len++] = 'x';
	snprintf(sql + len, sizeof(sql) - (size_t)len, "', 'udp:1.2.3.4:5', 'udp', 9, 'c', 1)");
	CHECK_INT(raw_exec(path, sql), SQLITE_OK);
	CHECK_INT(store_regs_list_all(s, count_reg, &n), EOVERFLOW);
	CHECK_INT(n, 0);
	CHECK(store_errmsg(s)[0] != '\0');
	CHECK_INT(store_regs_list_aor(s, "sip:alice@example.com", count_reg, &n), EOVERFLOW);
	/* The handle is still usable. */
	CHECK_INT(store_regs_delete_aor(s, &n, "sip:alice@example.com"), 0);
	CHECK_INT(n, 1);
	CHECK_INT(store_regs_list_all(s, count_reg, &n), 0);
	store_close(&s);
}

static int find_flag(void *arg, const struct store_user *u)
{
	int *flags = arg; /* [0]: alice's, [1]: bob's; -1 when unseen */

	if (strcmp(u->name, "alice") == 0)
		flags[0] = u->require_client_cert;
	else if (strcmp(u->name, "bob") == 0)
		flags[1] = u->require_client_cert;
	return 0;
}

static void client_cert_flag(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	struct store_user u;
	uint64_t v0 = 0, v1 = 0;
	int flags[2] = { -1, -1 };

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	make_user(&u, "bob", "example.com");
	u.require_client_cert = true;
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(store_users_get(s, &u, "alice", "example.com"), 0);
	CHECK(!u.require_client_cert); /* the default */
	CHECK_INT(store_users_get(s, &u, "bob", "example.com"), 0);
	CHECK(u.require_client_cert);

	CHECK_INT(store_users_version(s, &v0), 0);
	CHECK_INT(store_users_set_client_cert(s, "alice", "EXAMPLE.COM", true), 0);
	CHECK_INT(store_users_version(s, &v1), 0);
	CHECK(v1 != v0); /* the update trigger moved the counter */
	CHECK_INT(store_users_get(s, &u, "alice", "example.com"), 0);
	CHECK(u.require_client_cert);
	CHECK(strcmp(u.cred.ha1_md5, MD5_A) == 0); /* nothing else changed */
	CHECK_INT(store_users_set_client_cert(s, "bob", "example.com", false), 0);
	CHECK_INT(store_users_list(s, find_flag, flags), 0);
	CHECK_INT(flags[0], 1);
	CHECK_INT(flags[1], 0);
	flags[0] = flags[1] = -1;
	CHECK_INT(store_users_load_all(s, &v1, find_flag, flags), 0);
	CHECK_INT(flags[0], 1);
	CHECK_INT(flags[1], 0);

	CHECK_INT(store_users_set_client_cert(s, "carol", "example.com", true), ENOENT);
	CHECK_INT(store_users_set_client_cert(s, "alice", "other.org", true), ENOENT);
	CHECK_INT(store_users_set_client_cert(s, "", "example.com", true), EINVAL);
	CHECK_INT(store_users_set_client_cert(s, "alice", NULL, true), EINVAL);
	CHECK_INT(store_users_set_client_cert(NULL, "alice", "example.com", true), EINVAL);
	/* the column takes 0 and 1 only, whoever writes it */
	store_close(&s);
	CHECK(raw_exec(path, "UPDATE users SET require_client_cert = 2") != SQLITE_OK);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM users WHERE require_client_cert = 1"), 1);
}

/* The per-user digest setting: default site, set and read back through the
 * store and the credential cache, counted as a change of users, 0..3 only. */
static void location_setting(void)
{
	char path[128], err[256], loc[STORE_LOCATION_MAX], big[STORE_LOCATION_MAX + 1];
	struct store *s = NULL;
	struct store_user u;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(store_users_get_location(s, loc, sizeof(loc), "alice", "example.com"), 0);
	CHECK(loc[0] == '\0');
	CHECK_INT(store_users_set_location(s, "alice", "example.com", "country=US;ROOM=12"), 0);
	CHECK_INT(store_users_get_location(s, loc, sizeof(loc), "alice", "example.com"), 0);
	CHECK(strcmp(loc, "country=US;ROOM=12") == 0);
	CHECK_INT(store_users_get_location(s, loc, 5, "alice", "example.com"), EOVERFLOW);
	CHECK_INT(store_users_set_location(s, "nobody", "example.com", "ROOM=1"), ENOENT);
	CHECK_INT(store_users_get_location(s, loc, sizeof(loc), "nobody", "example.com"), ENOENT);
	CHECK_INT(store_users_set_location(s, "alice", "example.com", "ROOM=1\n"), EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(store_users_set_location(s, "alice", "example.com", big), EINVAL);
	CHECK_INT(store_users_set_location(s, "alice", "example.com", ""), 0);
	CHECK_INT(store_users_get_location(s, loc, sizeof(loc), "alice", "example.com"), 0);
	CHECK(loc[0] == '\0');
	store_close(&s);
}

static void digest_setting(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	struct store_cache *c = NULL;
	struct store_cache_entry e;
	struct store_user u;
	uint64_t v0 = 0, v1 = 0;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	make_user(&u, "bob", "example.com");
	u.digest = STORE_DIGEST_SHA256;
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(store_users_get(s, &u, "alice", "example.com"), 0);
	CHECK_INT(u.digest, STORE_DIGEST_SITE);
	CHECK_INT(store_users_get(s, &u, "bob", "example.com"), 0);
	CHECK_INT(u.digest, STORE_DIGEST_SHA256);
	CHECK_INT(store_users_version(s, &v0), 0);
	CHECK_INT(store_users_set_digest(s, "alice", "example.com", STORE_DIGEST_MD5), 0);
	CHECK_INT(store_users_version(s, &v1), 0);
	CHECK(v1 != v0);
	CHECK_INT(store_cache_new(&c, 10), 0);
	CHECK_INT(store_cache_refresh(c, s, NULL), 0);
	CHECK_INT(store_cache_lookup(c, &e, SLICE_LIT("alice"), SLICE_LIT("example.com")), 0);
	CHECK_INT(e.digest, STORE_DIGEST_MD5);
	CHECK_INT(store_cache_lookup(c, &e, SLICE_LIT("bob"), SLICE_LIT("example.com")), 0);
	CHECK_INT(e.digest, STORE_DIGEST_SHA256);
	store_cache_free(&c);
	CHECK_INT(store_users_set_digest(s, "alice", "example.com", 4), EINVAL);
	CHECK_INT(store_users_set_digest(s, "carol", "example.com", 1), ENOENT);
	CHECK_INT(store_users_set_digest(NULL, "alice", "example.com", 1), EINVAL);
	store_close(&s);
	CHECK(raw_exec(path, "UPDATE users SET digest = 4") != SQLITE_OK);
}

/* A database of schema version 4 (before the flag) with users, a
 * registration and an identity: the upgrade adds the column, unset, and
 * keeps every row. */
static void upgrades_version_4(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	struct store_user u;
	struct store_reg r;
	int64_t alice = 0;
	size_t n = 0;
	int v = 0;

	SQLITE_ONLY(); /* the file itself, its locks or its pragmas */

	CHECK(store_schema_latest() >= 5);
	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, &alice, &u), 0);
	make_user(&u, "bob", "example.com");
	u.enabled = false;
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	make_reg(&r, alice, "sip:alice@example.com", "sip:alice@192.0.2.1", 2000000000, 1000);
	CHECK_INT(store_regs_upsert(s, NULL, &r), 0);
	CHECK_INT(store_identities_add(s, "alice", "example.com", "tel:+15551230000"), 0);
	store_close(&s);
	/* What version 4 made: the same, without the columns of 5 and 6. */
	CHECK_INT(raw_exec(path, "ALTER TABLE users DROP COLUMN require_client_cert;"
				 "ALTER TABLE users DROP COLUMN digest;"
				 "ALTER TABLE users DROP COLUMN location;"
				 "ALTER TABLE cdrs DROP COLUMN emergency;"
				 "ALTER TABLE cdrs DROP COLUMN location;"
				 "ALTER TABLE users DROP COLUMN calling;"
				 "ALTER TABLE users DROP COLUMN fraud_hold;"
				 "ALTER TABLE users DROP COLUMN fraud_hold_at;"
				 "ALTER TABLE cdrs DROP COLUMN peer; ALTER TABLE cdrs DROP COLUMN class;"
				 "ALTER TABLE cdrs DROP COLUMN dialed; ALTER TABLE cdrs DROP COLUMN number;"
				 "ALTER TABLE users DROP COLUMN old_realm;"
				 "ALTER TABLE users DROP COLUMN old_ha1_md5;"
				 "ALTER TABLE users DROP COLUMN old_ha1_sha256;"
				 "ALTER TABLE users DROP COLUMN pw_deadline;"
				 "ALTER TABLE registrations DROP COLUMN reg_id;"
				 "DROP TABLE IF EXISTS dialogs; DROP TABLE IF EXISTS locks;"
				 "DROP TABLE IF EXISTS journal_marks; DROP TABLE IF EXISTS fraud_counts;"
				 "PRAGMA user_version = 4;"),
		  SQLITE_OK);
	CHECK_INT(raw_int(path, "SELECT count(*) FROM pragma_table_info('users')"
				" WHERE name = 'require_client_cert'"),
		  0);

	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	CHECK_INT(store_schema_version(s, &v), 0);
	CHECK_INT(v, store_schema_latest());
	CHECK_INT(store_users_get(s, &u, "alice", "example.com"), 0);
	CHECK(!u.require_client_cert && u.enabled && u.id == alice);
	CHECK_INT(u.digest, STORE_DIGEST_SITE); /* 5 -> 6: existing users follow the site */
	CHECK(strcmp(u.cred.ha1_sha256, SHA_A) == 0 && u.created_at == 1700000000);
	CHECK_INT(store_users_get(s, &u, "bob", "example.com"), 0);
	CHECK(!u.require_client_cert && !u.enabled);
	CHECK_INT(store_regs_list_all(s, count_reg, &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(store_identities_add(s, "alice", "example.com", "tel:+15551230000"), EEXIST);
	CHECK_INT(store_users_set_client_cert(s, "alice", "example.com", true), 0);
	CHECK_INT(store_users_get(s, &u, "alice", "example.com"), 0);
	CHECK(u.require_client_cert);
	store_close(&s);
}

/* A kept dialog carries its record's outside-call fields and the CSeq
 * shift of an INVITE resubmitted with a carrier's credentials (schema 8). */
static int got_dialog(void *arg, const struct store_dialog *d)
{
	*(struct store_dialog *)arg = *d;
	return 0;
}

static void dialogs_keep_outside_fields(void)
{
	char path[128], err[256];
	struct store *s = NULL;
	static struct store_dialog d, back;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	memset(&d, 0, sizeof(d));
	snprintf(d.call_id, sizeof(d.call_id), "c1");
	snprintf(d.tag[0], sizeof(d.tag[0]), "t0");
	snprintf(d.tag[1], sizeof(d.tag[1]), "t1");
	snprintf(d.way[0], sizeof(d.way[0]), "udp:127.0.0.1:5062");
	snprintf(d.way[1], sizeof(d.way[1]), "udp:127.0.0.2:5060");
	snprintf(d.peer, sizeof(d.peer), "carrier");
	snprintf(d.klass, sizeof(d.klass), "national");
	snprintf(d.dialed, sizeof(d.dialed), "2125550100");
	snprintf(d.number, sizeof(d.number), "+12125550100");
	d.start_at = 1000;
	d.answer_at = 2000;
	d.expires_at = 4000000000000LL;
	d.cseq_delta = 1;
	CHECK_INT(store_dialogs_put(s, &d), 0);
	memset(&back, 0, sizeof(back));
	CHECK_INT(store_dialogs_list(s, got_dialog, &back), 0);
	CHECK(strcmp(back.peer, "carrier") == 0 && strcmp(back.klass, "national") == 0);
	CHECK(strcmp(back.dialed, "2125550100") == 0 && strcmp(back.number, "+12125550100") == 0);
	CHECK_INT(back.cseq_delta, 1);
	CHECK(!back.emergency && back.location[0] == '\0');
	/* schema 12: an emergency call's dialog keeps its mark and location */
	d.emergency = true;
	snprintf(d.location, sizeof(d.location), "country=US;ROOM=2<0>1");
	CHECK_INT(store_dialogs_put(s, &d), 0);
	memset(&back, 0, sizeof(back));
	CHECK_INT(store_dialogs_list(s, got_dialog, &back), 0);
	CHECK(back.emergency && strcmp(back.location, "country=US;ROOM=2<0>1") == 0);
	memset(d.location, 'l', sizeof(d.location)); /* not NUL-terminated */
	CHECK_INT(store_dialogs_put(s, &d), EINVAL);
	d.location[0] = '\0';
	d.emergency = false;
	d.cseq_delta = -1;
	CHECK_INT(store_dialogs_put(s, &d), EINVAL);
	d.cseq_delta = 0;
	memset(d.peer, 'p', sizeof(d.peer));
	CHECK_INT(store_dialogs_put(s, &d), EINVAL);
	store_close(&s);
}

/* The password-rotation columns written by other means with what no
 * rotation writes (an old HA1 that is not lowercase hex of its length, a
 * negative deadline) never reach a caller, on either backend: the CHECKs
 * refuse the write (SQLite's since schema 9, PostgreSQL's since 16); and
 * where they are gone (dropped by hand on PostgreSQL), the shared row
 * reader (row.c) refuses the row (EOVERFLOW, the row named). */
static void bad_rotation_columns_refused(void)
{
	static const char *const bad[] = {
		"UPDATE users SET old_ha1_md5 = 'not hex at all, but 32 chars....'",
		"UPDATE users SET old_ha1_md5 = '0123456789ABCDEF0123456789ABCDEF'",
		"UPDATE users SET old_ha1_sha256 = 'abc'",
		"UPDATE users SET pw_deadline = -5",
	};
	char path[128], err[256];
	struct store *s = NULL;
	struct store_user u;
	size_t n = 0;

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.com");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK(raw_exec(path, bad[i]) != SQLITE_OK);
	if (tmp_pg())
		CHECK_INT(raw_exec(path, "ALTER TABLE users DROP CONSTRAINT users_old_realm_check,"
					 " DROP CONSTRAINT users_old_ha1_md5_check,"
					 " DROP CONSTRAINT users_old_ha1_sha256_check,"
					 " DROP CONSTRAINT users_pw_deadline_check"), SQLITE_OK);
	for (size_t i = 0; tmp_pg() && i < ARRAY_SIZE(bad); i++) {
		CHECK_INT(raw_exec(path, bad[i]), SQLITE_OK);
		CHECK_INT(store_users_get(s, &u, "alice", "example.com"), EOVERFLOW);
		CHECK(strstr(store_errmsg(s), "alice@example.com") != NULL);
		n = 0;
		CHECK_INT(store_users_list(s, count_row, &n), EOVERFLOW);
		CHECK_INT(n, 0);
		CHECK(strstr(store_errmsg(s), "user row") != NULL);
		CHECK_INT(raw_exec(path, "UPDATE users SET old_ha1_md5 = '', old_ha1_sha256 = '',"
					 " pw_deadline = 0"), SQLITE_OK);
	}
	/* what a rotation writes is read back whole */
	CHECK_INT(raw_exec(path, "UPDATE users SET old_ha1_md5 = '" MD5_A "', pw_deadline = 7"),
		  SQLITE_OK);
	CHECK_INT(store_users_get(s, &u, "alice", "example.com"), 0);
	CHECK(strcmp(u.old_cred.ha1_md5, MD5_A) == 0);
	CHECK_INT(u.pw_deadline, 7);
	store_close(&s);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(schema_create_and_reopen),
		CASE(refuse_newer_schema),
		CASE(bad_urls_and_files),
		CASE(file_mode_0600_and_wal),
		CASE(users_crud),
		CASE(delete_cascades_registrations),
		CASE(import_10k_fast),
		CASE(import_rolls_back_on_bad_row),
		CASE(registrations),
		CASE(users_version_tracks_changes),
		CASE(concurrent_writer_waits),
		CASE(oversized_row_refused_on_read),
		CASE(client_cert_flag),
		CASE(upgrades_version_4),
		CASE(dialogs_keep_outside_fields),
		CASE(digest_setting), CASE(location_setting),
		CASE(bad_rotation_columns_refused),
	};
	int rc;

	if (tmp_init())
		return 1;
	rc = check_main("store_sqlite", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
