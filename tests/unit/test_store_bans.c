/*
 * Unit tests of the bans in the store: put and replace every field, delete
 * and ENOENT, listing only active bans soonest end first, expiry with its
 * count, the refusals of bad input (nothing written) and of stored values
 * that do not fit, store_data_version() seeing another handle's commits but
 * not its own, and the upgrade of a version-3 database that keeps its data.
 */
#include <errno.h>
#include <sqlite3.h>
#include <time.h>

#include "check.h"
#include "store/store.h"
#include "store_tmp.h"

#define NOW 1795000000LL /* 2026-11-18T11:06:40Z */

static void make_ban(struct store_ban *b, const char *addr, int64_t until, uint32_t count,
		     const char *reason)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->addr, sizeof(b->addr), "%s", addr);
	b->until = until;
	b->count = count;
	snprintf(b->reason, sizeof(b->reason), "%s", reason);
	b->created_at = NOW - 10;
}

/* Collects what store_bans_list reports. */
struct got {
	size_t n;
	struct store_ban rec[8];
	char addrs[256]; /* in order, comma-separated */
	int stop_at;     /* return 42 at this (1-based) ban; 0 never */
};

static int collect(void *arg, const struct store_ban *b)
{
	struct got *g = arg;
	size_t len = strlen(g->addrs);

	if (g->n < ARRAY_SIZE(g->rec))
		g->rec[g->n] = *b;
	g->n++;
	snprintf(g->addrs + len, sizeof(g->addrs) - len, "%s%s", len ? "," : "", b->addr);
	return g->stop_at && (int)g->n == g->stop_at ? 42 : 0;
}

static int list(struct store *s, struct got *g, int64_t now)
{
	memset(g, 0, sizeof(*g));
	return store_bans_list(s, now, collect, g);
}

static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

static void put_and_replace(void)
{
	char path[256];
	struct store *s = NULL;
	struct store_ban b;
	struct got g;
	int64_t before, after;

	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	make_ban(&b, "192.0.2.1", NOW + 60, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "2001:db8:1:2::/64", NOW + 3600, 3, "brute force");
	CHECK_INT(store_bans_put(s, &b), 0);
	CHECK_INT(list(s, &g, NOW), 0);
	CHECK_INT(g.n, 2);
	CHECK(strcmp(g.rec[0].addr, "192.0.2.1") == 0);
	CHECK_INT(g.rec[0].until, NOW + 60);
	CHECK_INT(g.rec[0].count, 1);
	CHECK(strcmp(g.rec[0].reason, "rate") == 0);
	CHECK_INT(g.rec[0].created_at, NOW - 10);
	CHECK(strcmp(g.rec[1].addr, "2001:db8:1:2::/64") == 0);
	CHECK_INT(g.rec[1].until, NOW + 3600);
	CHECK_INT(g.rec[1].count, 3);
	CHECK(strcmp(g.rec[1].reason, "brute force") == 0);

	/* Same addr again: every field replaced, still one row; a shorter ban
	 * too (the caller decides), and created_at 0 means now. */
	make_ban(&b, "192.0.2.1", NOW + 30, 2, "operator");
	b.created_at = 0;
	before = (int64_t)time(NULL);
	CHECK_INT(store_bans_put(s, &b), 0);
	after = (int64_t)time(NULL);
	CHECK_INT(list(s, &g, NOW), 0);
	CHECK(strcmp(g.addrs, "192.0.2.1,2001:db8:1:2::/64") == 0);
	CHECK_INT(g.rec[0].until, NOW + 30);
	CHECK_INT(g.rec[0].count, 2);
	CHECK(strcmp(g.rec[0].reason, "operator") == 0);
	CHECK(g.rec[0].created_at >= before && g.rec[0].created_at <= after);

	/* The edges that are fine: empty reason, longest addr and reason,
	 * count UINT32_MAX. Keys are exact text: case matters to the store. */
	make_ban(&b, "", NOW + 5, UINT32_MAX, "");
	memset(b.addr, 'a', sizeof(b.addr) - 1);
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "2001:DB8:1:2::/64", NOW + 7200, 1, "");
	memset(b.reason, 'r', sizeof(b.reason) - 1);
	CHECK_INT(store_bans_put(s, &b), 0);
	CHECK_INT(list(s, &g, NOW), 0);
	CHECK_INT(g.n, 4);
	CHECK_INT(strlen(g.rec[0].addr), STORE_BAN_ADDR_MAX - 1);
	CHECK_INT(g.rec[0].count, UINT32_MAX);
	CHECK(strcmp(g.rec[0].reason, "") == 0);
	CHECK(strcmp(g.rec[3].addr, "2001:DB8:1:2::/64") == 0);
	CHECK_INT(strlen(g.rec[3].reason), STORE_BAN_REASON_MAX - 1);
	store_close(&s);
}

static void delete_and_enoent(void)
{
	char path[256];
	struct store *s = NULL;
	struct store_ban b;
	struct got g;

	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	make_ban(&b, "192.0.2.1", NOW + 60, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "192.0.2.2", NOW + 60, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	CHECK_INT(store_bans_delete(s, "192.0.2.1"), 0);
	CHECK_INT(store_bans_delete(s, "192.0.2.1"), ENOENT);
	CHECK_INT(store_bans_delete(s, "192.0.2.3"), ENOENT);
	CHECK_INT(store_bans_delete(s, "192.0.2."), ENOENT); /* exact, not a prefix */
	CHECK_INT(list(s, &g, NOW), 0);
	CHECK(strcmp(g.addrs, "192.0.2.2") == 0);
	/* An expired row is still a row: delete finds it. */
	make_ban(&b, "198.51.100.7", NOW - 60, 4, "scanner");
	CHECK_INT(store_bans_put(s, &b), 0);
	CHECK_INT(store_bans_delete(s, "198.51.100.7"), 0);
	CHECK_INT(store_bans_delete(s, "198.51.100.7"), ENOENT);
	store_close(&s);
}

static void list_active_ordered(void)
{
	char path[256];
	struct store *s = NULL;
	struct store_ban b;
	struct got g;

	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	CHECK_INT(list(s, &g, NOW), 0);
	CHECK_INT(g.n, 0);
	/* Put out of order; two end at the same second (then by addr). */
	make_ban(&b, "d", NOW + 400, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "past", NOW - 1, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "c", NOW + 300, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "a", NOW + 1, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "ends-now", NOW, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "b", NOW + 300, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);

	/* until > now: a ban ending exactly now is over. */
	CHECK_INT(list(s, &g, NOW), 0);
	CHECK(strcmp(g.addrs, "a,b,c,d") == 0);
	CHECK_INT(list(s, &g, NOW - 1), 0);
	CHECK(strcmp(g.addrs, "ends-now,a,b,c,d") == 0);
	CHECK_INT(list(s, &g, NOW + 300), 0);
	CHECK(strcmp(g.addrs, "d") == 0);
	CHECK_INT(list(s, &g, NOW + 400), 0);
	CHECK_INT(g.n, 0);
	CHECK_INT(list(s, &g, INT64_MIN), 0); /* every row */
	CHECK(strcmp(g.addrs, "past,ends-now,a,b,c,d") == 0);
	/* A callback's non-zero return stops the walk and comes back as is. */
	memset(&g, 0, sizeof(g));
	g.stop_at = 2;
	CHECK_INT(store_bans_list(s, NOW, collect, &g), 42);
	CHECK_INT(g.n, 2);
	store_close(&s);
}

static void expire_count(void)
{
	char path[256];
	struct store *s = NULL;
	struct store_ban b;
	struct got g;
	size_t n = 99;

	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	CHECK_INT(store_bans_expire(s, &n, NOW), 0);
	CHECK_INT(n, 0);
	make_ban(&b, "old1", NOW - 100, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "old2", NOW - 1, 2, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "edge", NOW, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	make_ban(&b, "live", NOW + 1, 1, "rate");
	CHECK_INT(store_bans_put(s, &b), 0);
	/* until <= now goes, the same boundary as the listing. */
	CHECK_INT(store_bans_expire(s, &n, NOW), 0);
	CHECK_INT(n, 3);
	CHECK_INT(list(s, &g, INT64_MIN), 0);
	CHECK(strcmp(g.addrs, "live") == 0);
	CHECK_INT(store_bans_expire(s, &n, NOW), 0);
	CHECK_INT(n, 0);
	CHECK_INT(store_bans_expire(s, NULL, NOW + 1), 0); /* n may be NULL */
	CHECK_INT(list(s, &g, INT64_MIN), 0);
	CHECK_INT(g.n, 0);
	CHECK_INT(store_bans_expire(NULL, &n, NOW), EINVAL);
	store_close(&s);
}

static void refusals(void)
{
	char path[256], longer[STORE_BAN_ADDR_MAX + 8];
	struct store *s = NULL;
	struct store_ban good, b;
	struct got g;
	int64_t v;

	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	make_ban(&good, "192.0.2.1", NOW + 60, 1, "operator");
	CHECK_INT(store_bans_put(s, NULL), EINVAL);
	CHECK_INT(store_bans_put(NULL, &good), EINVAL);

#define REFUSE(mutation) \
	do { \
		b = good; \
		mutation; \
		if (store_bans_put(s, &b) != EINVAL) \
			CHECK(!"refused: " #mutation); \
	} while (0)

	REFUSE(b.addr[0] = '\0');
	REFUSE(memset(b.addr, 'a', sizeof(b.addr)));     /* not NUL-terminated */
	REFUSE(memset(b.reason, 'r', sizeof(b.reason)));
	REFUSE(snprintf(b.addr, sizeof(b.addr), "192.0.2.1\n"));
	REFUSE(snprintf(b.addr, sizeof(b.addr), "\x1b[2J"));
	REFUSE(snprintf(b.reason, sizeof(b.reason), "rate\r\nX"));
	REFUSE(snprintf(b.reason, sizeof(b.reason), "del\x7f"));
	REFUSE(b.until = 0);
	REFUSE(b.until = -1);
	REFUSE(b.count = 0);
	REFUSE(b.created_at = -1);
#undef REFUSE
	CHECK_INT(list(s, &g, INT64_MIN), 0);
	CHECK_INT(g.n, 0);

	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	CHECK_INT(store_bans_delete(s, NULL), EINVAL);
	CHECK_INT(store_bans_delete(NULL, "192.0.2.1"), EINVAL);
	CHECK_INT(store_bans_delete(s, ""), EINVAL);
	CHECK_INT(store_bans_delete(s, "a\tb"), EINVAL);
	CHECK_INT(store_bans_delete(s, longer), EINVAL);
	longer[STORE_BAN_ADDR_MAX - 1] = '\0';
	CHECK_INT(store_bans_delete(s, longer), ENOENT); /* 63: a possible key */
	CHECK_INT(store_bans_list(s, NOW, NULL, NULL), EINVAL);
	CHECK_INT(store_bans_list(NULL, NOW, collect, &g), EINVAL);
	CHECK_INT(store_data_version(s, NULL), EINVAL);
	CHECK_INT(store_data_version(NULL, &v), EINVAL);
	store_close(&s);
}

/* Rows written behind the store's back (the sqlite3 shell) that do not fit
 * the struct are refused on read, never truncated. */
static void stored_values_that_do_not_fit(void)
{
	char path[256];
	struct store *s = NULL;
	struct got g;

	SQLITE_ONLY();

	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	/* The schema's own checks refuse what the C checks refuse. */
	CHECK(raw_exec(path, "INSERT INTO bans VALUES ('x', 1, 0, '', 1)") != SQLITE_OK);
	CHECK(raw_exec(path, "INSERT INTO bans VALUES ('', 1, 1, '', 1)") != SQLITE_OK);
	CHECK(raw_exec(path, "INSERT INTO bans VALUES (printf('%.64c', 'a'), 1, 1, '', 1)") !=
	      SQLITE_OK);
	CHECK(raw_exec(path, "INSERT INTO bans VALUES ('x', 1, 1, printf('%.64c', 'r'), 1)") !=
	      SQLITE_OK);
	CHECK_INT(raw_exec(path, "INSERT INTO bans VALUES ('a', 2000000000, 1, 'ok', 1)"),
		  SQLITE_OK);
	CHECK_INT(list(s, &g, NOW), 0);
	CHECK_INT(g.n, 1);
	/* 40 two-byte characters: 40 for length(), 80 bytes for the struct. */
	CHECK_INT(raw_exec(path, "INSERT INTO bans VALUES (replace(printf('%.40c', 'x'), 'x',"
				 " char(233)), 2000000001, 1, '', 1)"),
		  SQLITE_OK);
	CHECK_INT(list(s, &g, NOW), EOVERFLOW);
	CHECK_INT(g.n, 1); /* the good row came first */
	CHECK(store_errmsg(s)[0] != '\0');
	CHECK_INT(raw_exec(path, "DELETE FROM bans WHERE until = 2000000001;"
				 "INSERT INTO bans VALUES ('big', 2000000002, 4294967296, '', 1)"),
		  SQLITE_OK);
	CHECK_INT(list(s, &g, NOW), EOVERFLOW);
	store_close(&s);
}

static void data_version_sees_other_handles(void)
{
	char path[256];
	struct store *a = NULL, *b = NULL;
	struct store_ban ban;
	int64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0;

	SQLITE_ONLY();

	tmp_db(path, sizeof(path));
	CHECK_INT(store_open(&a, path, NULL, 0), 0);
	CHECK_INT(store_open(&b, path, NULL, 0), 0);
	CHECK_INT(store_data_version(a, &a0), 0);
	CHECK_INT(store_data_version(a, &a1), 0);
	CHECK_INT(a1, a0); /* stable without changes */
	CHECK_INT(store_data_version(b, &b0), 0);

	/* a's own write: a's version stays; b sees it. */
	make_ban(&ban, "192.0.2.1", NOW + 60, 1, "rate");
	CHECK_INT(store_bans_put(a, &ban), 0);
	CHECK_INT(store_data_version(a, &a1), 0);
	CHECK_INT(a1, a0);
	CHECK_INT(store_data_version(b, &b1), 0);
	CHECK(b1 != b0);

	/* b's write (the CLI): a sees it, once. */
	CHECK_INT(store_bans_delete(b, "192.0.2.1"), 0);
	CHECK_INT(store_data_version(a, &a2), 0);
	CHECK(a2 != a1);
	CHECK_INT(store_data_version(a, &a3), 0);
	CHECK_INT(a3, a2);
	/* Any table counts, not only bans: the caller re-reads what it cares about. */
	CHECK_INT(raw_exec(path, "UPDATE meta SET value = value + 1 WHERE key = 'users_gen'"),
		  SQLITE_OK);
	CHECK_INT(store_data_version(a, &a1), 0);
	CHECK(a1 != a3);
	store_close(&a);
	store_close(&b);
}

/* A database from before bans (schema 3) gains the table and keeps its data. */
/* The toll-fraud counters (store_fraud_*): one row per key and node,
 * replaced in place, written in a batch, listed with whether the row is the
 * handle's own node's; rows not written for a day are dropped. On
 * PostgreSQL two nodes write the same key apart; SQLite is one node. */
struct fraud_got {
	char rows[8][STORE_FRAUD_KEY_MAX + STORE_FRAUD_COUNTS_MAX + 8];
	size_t n;
};

static int keep_fraud(void *arg, const char *key, bool own, const char *counts)
{
	struct fraud_got *g = arg;

	if (g->n < 8)
		snprintf(g->rows[g->n], sizeof(g->rows[0]), "%s %s %s", key, own ? "own" : "other",
			 counts);
	g->n++;
	return 0;
}

static void fraud_counts(void)
{
	char path[256], err[256], longkey[STORE_FRAUD_KEY_MAX + 1];
	struct store *a = NULL, *b = NULL;
	struct fraud_got g;
	bool pg = tmp_pg() != NULL;

	CHECK_INT(store_open(&a, tmp_db(path, sizeof(path)), err, sizeof(err)), 0);
	CHECK_INT(store_open(&b, path, err, sizeof(err)), 0);
	CHECK_INT(store_node_attach(a, "node-a", NULL, NULL), 0);
	CHECK_INT(store_node_attach(b, "node-b", NULL, NULL), 0);
	CHECK_INT(store_batch_begin(a), 0);
	CHECK_INT(store_fraud_put(a, "u:alice", "1;1;a", NOW), 0);
	CHECK_INT(store_fraud_put(a, "p:gw1", "1;2;b", NOW), 0);
	CHECK_INT(store_fraud_put(a, "u:alice", "1;3;c", NOW + 1), 0); /* replaced */
	CHECK_INT(store_batch_end(a, true), 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(store_fraud_list(a, NOW + 2, false, keep_fraud, &g), 0);
	CHECK_INT(g.n, 2);
	CHECK(strcmp(g.rows[0], "p:gw1 own 1;2;b") == 0);
	CHECK(strcmp(g.rows[1], "u:alice own 1;3;c") == 0);
	if (pg) {
		/* another node: its own row apart, and a's seen as another's */
		CHECK_INT(store_fraud_put(b, "u:alice", "1;4;d", NOW + 2), 0);
		memset(&g, 0, sizeof(g));
		CHECK_INT(store_fraud_list(b, NOW + 2, false, keep_fraud, &g), 0);
		CHECK_INT(g.n, 3);
		CHECK(strcmp(g.rows[1], "u:alice other 1;3;c") == 0 ||
		      strcmp(g.rows[2], "u:alice other 1;3;c") == 0);
		CHECK(strcmp(g.rows[1], "u:alice own 1;4;d") == 0 ||
		      strcmp(g.rows[2], "u:alice own 1;4;d") == 0);
		/* the others' rows only: a's two, not b's own */
		memset(&g, 0, sizeof(g));
		CHECK_INT(store_fraud_list(b, NOW + 2, true, keep_fraud, &g), 0);
		CHECK_INT(g.n, 2);
		CHECK(strcmp(g.rows[0], "p:gw1 other 1;2;b") == 0);
		CHECK(strcmp(g.rows[1], "u:alice other 1;3;c") == 0);
	} else {
		/* one node: nothing is another's */
		memset(&g, 0, sizeof(g));
		CHECK_INT(store_fraud_list(a, NOW + 2, true, keep_fraud, &g), 0);
		CHECK_INT(g.n, 0);
	}
	/* a day and more later nothing is listed, and the rows are gone */
	memset(&g, 0, sizeof(g));
	CHECK_INT(store_fraud_list(a, NOW + 3 + STORE_FRAUD_KEEP_S, false, keep_fraud, &g), 0);
	CHECK_INT(g.n, 0);
	memset(&g, 0, sizeof(g));
	CHECK_INT(store_fraud_list(a, NOW, false, keep_fraud, &g), 0);
	CHECK_INT(g.n, 0);
	/* refused before the database: empty, overlong, control bytes */
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	CHECK_INT(store_fraud_put(a, "", "1", NOW), EINVAL);
	CHECK_INT(store_fraud_put(a, "u:x", "", NOW), EINVAL);
	CHECK_INT(store_fraud_put(a, longkey, "1", NOW), EINVAL);
	CHECK_INT(store_fraud_put(a, "u:\nx", "1", NOW), EINVAL);
	CHECK_INT(store_fraud_list(a, NOW, false, NULL, NULL), EINVAL);
	store_close(&b);
	store_close(&a);
}

static void upgrades_version_3(void)
{
	char path[256];
	struct store *s = NULL;
	struct store_user u, out;
	struct store_cdr c;
	struct store_ban b;
	struct got g;
	int v = 0;

	SQLITE_ONLY();

	CHECK(store_schema_latest() >= 4);
	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "alice");
	snprintf(u.domain, sizeof(u.domain), "example.test");
	snprintf(u.cred.realm, sizeof(u.cred.realm), "example.test");
	snprintf(u.cred.ha1_md5, sizeof(u.cred.ha1_md5), "0123456789abcdef0123456789abcdef");
	u.enabled = true;
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(store_identities_add(s, "alice", "example.test", "tel:+15551230000"), 0);
	memset(&c, 0, sizeof(c));
	snprintf(c.call_id, sizeof(c.call_id), "v3@h");
	snprintf(c.caller, sizeof(c.caller), "sip:alice@example.test");
	snprintf(c.auth_user, sizeof(c.auth_user), "alice");
	snprintf(c.callee, sizeof(c.callee), "sip:1002@example.test");
	snprintf(c.src, sizeof(c.src), "udp:192.0.2.1:5060");
	snprintf(c.transport, sizeof(c.transport), "udp");
	c.start_at = c.end_at = NOW * 1000;
	c.final_status = 486;
	snprintf(c.hangup, sizeof(c.hangup), "none");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	store_close(&s);
	/* What version 3 made: everything but the bans and the users' client
	 * certificate flag. */
	CHECK_INT(raw_exec(path, "DROP TABLE bans;"
			   "ALTER TABLE users DROP COLUMN require_client_cert;"
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
			   "PRAGMA user_version = 3;"), SQLITE_OK);

	CHECK_INT(store_open(&s, path, NULL, 0), 0);
	CHECK_INT(store_schema_version(s, &v), 0);
	CHECK_INT(v, store_schema_latest());
	CHECK_INT(store_users_get(s, &out, "alice", "example.test"), 0);
	CHECK(strcmp(out.cred.ha1_md5, "0123456789abcdef0123456789abcdef") == 0);
	make_ban(&b, "192.0.2.9", NOW + 60, 1, "operator");
	CHECK_INT(store_bans_put(s, &b), 0);
	CHECK_INT(list(s, &g, NOW), 0);
	CHECK(strcmp(g.addrs, "192.0.2.9") == 0);
	store_close(&s);
	/* The old rows are still there, and the index on until came with the table. */
	{
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		int64_t n = -1, idx = -1;

		CHECK_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM cdrs) +"
					   " (SELECT count(*) FROM identities),"
					   " (SELECT count(*) FROM sqlite_master WHERE type = 'index'"
					   " AND name = 'bans_until')",
					   -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW) {
			n = sqlite3_column_int64(st, 0);
			idx = sqlite3_column_int64(st, 1);
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
		CHECK_INT(n, 2);
		CHECK_INT(idx, 1);
	}
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(put_and_replace),
		CASE(delete_and_enoent),
		CASE(list_active_ordered),
		CASE(expire_count),
		CASE(refusals),
		CASE(stored_values_that_do_not_fit),
		CASE(data_version_sees_other_handles),
		CASE(upgrades_version_3),
		CASE(fraud_counts),
	};
	int rc;

	if (tmp_init())
		return 1;
	rc = check_main("store_bans", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
