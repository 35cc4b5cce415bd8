/*
 * Unit tests of the call detail records in the store: add and read back
 * every field, the derived duration, ordering by start time, the --since and
 * user filters, the refusals of inconsistent records (nothing written), the
 * migration of a version-1 database, that of a version-14 one (the hangup
 * CHECK without an IN list, which SQLite evaluated with a temporary b-tree on
 * every insert), and a callback stopping the walk.
 */
#include <errno.h>
#include <sqlite3.h>

#include "check.h"
#include "store/store.h"
#include "store_tmp.h"

#define T0 1795000000000LL /* 2026-11-18T11:06:40Z in unix ms */

static void make_cdr(struct store_cdr *c, const char *call_id, const char *user, int64_t start,
		     int64_t answer, int64_t end, int status, const char *hangup)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->call_id, sizeof(c->call_id), "%s", call_id);
	snprintf(c->caller, sizeof(c->caller), "sip:%s@example.test", user[0] ? user : "anon");
	snprintf(c->auth_user, sizeof(c->auth_user), "%s", user);
	snprintf(c->callee, sizeof(c->callee), "sip:1002@example.test");
	snprintf(c->src, sizeof(c->src), "udp:192.0.2.1:5060");
	snprintf(c->transport, sizeof(c->transport), "udp");
	c->start_at = start;
	c->answer_at = answer;
	c->end_at = end;
	c->final_status = status;
	snprintf(c->hangup, sizeof(c->hangup), "%s", hangup);
}

/* Collects what store_cdr_list reports. */
struct got {
	size_t n;
	struct store_cdr rec[8];
	char ids[256]; /* call ids in order, comma-separated */
	int stop_at;   /* return 42 at this (1-based) record; 0 never */
};

static int collect(void *arg, const struct store_cdr *c)
{
	struct got *g = arg;
	size_t len = strlen(g->ids);

	if (g->n < ARRAY_SIZE(g->rec))
		g->rec[g->n] = *c;
	g->n++;
	snprintf(g->ids + len, sizeof(g->ids) - len, "%s%s", len ? "," : "", c->call_id);
	return g->stop_at && (int)g->n == g->stop_at ? 42 : 0;
}

static int list(struct store *s, struct got *g, int64_t since, const char *user)
{
	memset(g, 0, sizeof(*g));
	return store_cdr_list(s, since, user, collect, g);
}

static void add_and_read_back(void)
{
	char path[256];
	struct store *s = NULL;
	struct store_cdr c;
	struct got g;
	int64_t id1 = 0, id2 = 0;

	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	/* Answered call: 65.999 s connected -> 65 s; a bogus duration_s is ignored. */
	make_cdr(&c, "a@h", "alice", T0, T0 + 3000, T0 + 68999, 200, "callee");
	c.duration_s = 999999;
	snprintf(c.transport, sizeof(c.transport), "tcp");
	snprintf(c.src, sizeof(c.src), "tcp:[2001:db8::1]:5070");
	/* an outside call: its peer, class, and the number as dialed and normalised */
	snprintf(c.peer, sizeof(c.peer), "gw1");
	snprintf(c.klass, sizeof(c.klass), "international");
	snprintf(c.dialed, sizeof(c.dialed), "011442079460000");
	snprintf(c.number, sizeof(c.number), "+442079460000");
	CHECK_INT(store_cdr_add(s, &id1, &c), 0);
	CHECK(id1 > 0);
	/* Unanswered, unauthenticated. */
	make_cdr(&c, "b@h", "", T0 + 10, 0, T0 + 20, 486, "none");
	c.duration_s = 5;
	c.emergency = true; /* an emergency call, with the location sent */
	snprintf(c.location, sizeof(c.location), "country=US;ROOM=101");
	CHECK_INT(store_cdr_add(s, &id2, &c), 0);
	c.emergency = false;
	c.location[0] = '\0';
	CHECK(id2 > id1);
	CHECK_INT(store_cdr_add(s, NULL, &c), 0); /* a second attempt, same Call-ID: fine */

	CHECK_INT(list(s, &g, 0, NULL), 0);
	CHECK_INT(g.n, 3);
	CHECK_INT(g.rec[0].id, id1);
	CHECK(strcmp(g.rec[0].call_id, "a@h") == 0);
	CHECK(strcmp(g.rec[0].caller, "sip:alice@example.test") == 0);
	CHECK(strcmp(g.rec[0].auth_user, "alice") == 0);
	CHECK(strcmp(g.rec[0].callee, "sip:1002@example.test") == 0);
	CHECK(strcmp(g.rec[0].src, "tcp:[2001:db8::1]:5070") == 0);
	CHECK(strcmp(g.rec[0].transport, "tcp") == 0);
	CHECK_INT(g.rec[0].start_at, T0);
	CHECK_INT(g.rec[0].answer_at, T0 + 3000);
	CHECK_INT(g.rec[0].end_at, T0 + 68999);
	CHECK_INT(g.rec[0].final_status, 200);
	CHECK_INT(g.rec[0].duration_s, 65);
	CHECK(strcmp(g.rec[0].hangup, "callee") == 0);
	CHECK(!g.rec[0].emergency && !g.rec[0].location[0]);
	CHECK(strcmp(g.rec[0].peer, "gw1") == 0 && strcmp(g.rec[0].klass, "international") == 0);
	CHECK(strcmp(g.rec[0].dialed, "011442079460000") == 0);
	CHECK(strcmp(g.rec[0].number, "+442079460000") == 0);
	CHECK(g.rec[1].peer[0] == '\0' && g.rec[1].number[0] == '\0'); /* a local call */
	CHECK_INT(g.rec[1].id, id2);
	CHECK(g.rec[1].emergency && strcmp(g.rec[1].location, "country=US;ROOM=101") == 0);
	CHECK(!g.rec[2].emergency);
	CHECK(strcmp(g.rec[1].auth_user, "") == 0);
	CHECK_INT(g.rec[1].answer_at, 0);
	CHECK_INT(g.rec[1].duration_s, 0);
	CHECK_INT(g.rec[1].final_status, 486);
	CHECK(strcmp(g.rec[1].hangup, "none") == 0);
	store_close(&s);
}

static void ordering_and_filters(void)
{
	char path[256];
	struct store *s = NULL;
	struct store_cdr c;
	struct got g;

	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	/* Inserted out of start order; two share a start time (then by id). */
	make_cdr(&c, "c3", "bob", T0 + 3000, 0, T0 + 4000, 408, "none");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	make_cdr(&c, "c1", "alice", T0 + 1000, T0 + 1500, T0 + 9000, 200, "caller");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	make_cdr(&c, "c4", "alice", T0 + 3000, 0, T0 + 3100, 487, "none");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	make_cdr(&c, "c2", "", T0 + 2000, 0, T0 + 2000, 403, "none");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	make_cdr(&c, "c0", "alice", T0, T0 + 1, T0 + 2, 200, "timeout");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);

	CHECK_INT(list(s, &g, 0, NULL), 0);
	CHECK(strcmp(g.ids, "c0,c1,c2,c3,c4") == 0);
	CHECK_INT(list(s, &g, -5, NULL), 0);
	CHECK(strcmp(g.ids, "c0,c1,c2,c3,c4") == 0);
	/* since is inclusive, in ms. */
	CHECK_INT(list(s, &g, T0 + 2000, NULL), 0);
	CHECK(strcmp(g.ids, "c2,c3,c4") == 0);
	CHECK_INT(list(s, &g, T0 + 2001, NULL), 0);
	CHECK(strcmp(g.ids, "c3,c4") == 0);
	CHECK_INT(list(s, &g, T0 + 3001, NULL), 0);
	CHECK_INT(g.n, 0);
	/* user: exact, and combined with since. */
	CHECK_INT(list(s, &g, 0, "alice"), 0);
	CHECK(strcmp(g.ids, "c0,c1,c4") == 0);
	CHECK_INT(list(s, &g, T0 + 1, "alice"), 0);
	CHECK(strcmp(g.ids, "c1,c4") == 0);
	CHECK_INT(list(s, &g, 0, "bob"), 0);
	CHECK(strcmp(g.ids, "c3") == 0);
	CHECK_INT(list(s, &g, 0, "Alice"), 0);
	CHECK_INT(g.n, 0);
	CHECK_INT(list(s, &g, 0, "ali"), 0);
	CHECK_INT(g.n, 0);
	CHECK_INT(list(s, &g, 0, ""), 0);
	CHECK(strcmp(g.ids, "c2") == 0);
	/* A callback's non-zero return stops the walk and comes back as is. */
	memset(&g, 0, sizeof(g));
	g.stop_at = 2;
	CHECK_INT(store_cdr_list(s, 0, NULL, collect, &g), 42);
	CHECK_INT(g.n, 2);
	/* Bad arguments. */
	CHECK_INT(store_cdr_list(s, 0, NULL, NULL, NULL), EINVAL);
	CHECK_INT(store_cdr_list(NULL, 0, NULL, collect, &g), EINVAL);
	CHECK_INT(store_cdr_list(s, 0, "a\nb", collect, &g), EINVAL);
	store_close(&s);
}

static int count_rows(struct store *s)
{
	struct got g;

	return list(s, &g, 0, NULL) == 0 ? (int)g.n : -1;
}

static void refusals(void)
{
	char path[256];
	struct store *s = NULL;
	struct store_cdr good, c;

	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	make_cdr(&good, "x@h", "alice", T0, T0 + 100, T0 + 200, 200, "caller");
	CHECK_INT(store_cdr_add(s, NULL, NULL), EINVAL);
	CHECK_INT(store_cdr_add(NULL, NULL, &good), EINVAL);

#define REFUSE(mutation) \
	do { \
		c = good; \
		mutation; \
		if (store_cdr_add(s, NULL, &c) != EINVAL) \
			CHECK(!"refused: " #mutation); \
	} while (0)

	REFUSE(c.call_id[0] = '\0');
	REFUSE(c.caller[0] = '\0');
	REFUSE(c.callee[0] = '\0');
	REFUSE(c.src[0] = '\0');
	REFUSE(c.transport[0] = '\0');
	REFUSE(c.hangup[0] = '\0');
	REFUSE(memset(c.call_id, 'a', sizeof(c.call_id)));     /* not NUL-terminated */
	REFUSE(memset(c.auth_user, 'a', sizeof(c.auth_user)));
	REFUSE(memset(c.transport, 'u', sizeof(c.transport)));
	REFUSE(snprintf(c.caller, sizeof(c.caller), "sip:a@b\r\nX: y"));
	REFUSE(snprintf(c.auth_user, sizeof(c.auth_user), "al\x7fice"));
	REFUSE(snprintf(c.call_id, sizeof(c.call_id), "a\tb"));
	REFUSE(c.start_at = 0);
	REFUSE(c.start_at = -1);
	REFUSE(c.end_at = T0 - 1);                           /* ends before it starts */
	REFUSE(c.answer_at = T0 - 1);                        /* answered before start */
	REFUSE(c.answer_at = T0 + 201);                      /* answered after end */
	REFUSE(c.final_status = 0);
	REFUSE(c.final_status = 180);                        /* not final */
	REFUSE(c.final_status = 700);
	REFUSE(c.final_status = 486);                        /* answered but not 2xx */
	REFUSE((c.answer_at = 0, snprintf(c.hangup, sizeof(c.hangup), "none"))); /* 2xx, no answer */
	REFUSE(snprintf(c.hangup, sizeof(c.hangup), "none")); /* answered: someone hung up */
	REFUSE(snprintf(c.hangup, sizeof(c.hangup), "Caller"));
	REFUSE(snprintf(c.hangup, sizeof(c.hangup), "nobody"));
	REFUSE((c.answer_at = 0, c.final_status = 404));     /* unanswered: hangup must be none */
	REFUSE(memset(c.hangup, 'c', sizeof(c.hangup)));
	REFUSE(memset(c.peer, 'p', sizeof(c.peer)));          /* not NUL-terminated */
	REFUSE(memset(c.number, '1', sizeof(c.number)));
	REFUSE(snprintf(c.dialed, sizeof(c.dialed), "1\r\n2"));
#undef REFUSE
	CHECK_INT(count_rows(s), 0);

	/* The edges that are fine. */
	c = good;
	c.answer_at = c.start_at;
	c.end_at = c.answer_at;
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	c = good;
	c.final_status = 699;
	c.answer_at = 0;
	snprintf(c.hangup, sizeof(c.hangup), "none");
	c.auth_user[0] = '\0';
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	c = good;
	c.final_status = 299;
	snprintf(c.hangup, sizeof(c.hangup), "server");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	CHECK_INT(count_rows(s), 3);
	store_close(&s);
}

/* A database made before CDRs (schema 1) gains the table and keeps its users. */
static void migrates_version_1(void)
{
	char path[256];
	struct store *s = NULL;
	struct store_user u, out;
	struct store_cdr c;
	sqlite3 *db = NULL;
	int v = 0, rc;

	SQLITE_ONLY();

	CHECK(store_schema_latest() >= 2);
	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "alice");
	snprintf(u.domain, sizeof(u.domain), "example.test");
	snprintf(u.cred.realm, sizeof(u.cred.realm), "example.test");
	snprintf(u.cred.ha1_md5, sizeof(u.cred.ha1_md5), "0123456789abcdef0123456789abcdef");
	u.enabled = true;
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	store_close(&s);
	/* Turn it back into a version-1 database. */
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	rc = sqlite3_exec(db, "DROP TABLE bans; DROP TABLE cdrs; DROP TABLE identities;"
			  "ALTER TABLE users DROP COLUMN require_client_cert;"
			  "ALTER TABLE users DROP COLUMN digest;"
			  "ALTER TABLE users DROP COLUMN location;"
			  "ALTER TABLE users DROP COLUMN calling;"
			  "ALTER TABLE users DROP COLUMN fraud_hold;"
			  "ALTER TABLE users DROP COLUMN fraud_hold_at;"
			  "ALTER TABLE users DROP COLUMN old_realm;"
			  "ALTER TABLE users DROP COLUMN old_ha1_md5;"
			  "ALTER TABLE users DROP COLUMN old_ha1_sha256;"
			  "ALTER TABLE users DROP COLUMN pw_deadline;"
			  "ALTER TABLE registrations DROP COLUMN reg_id;"
			  "DROP TABLE IF EXISTS dialogs; DROP TABLE IF EXISTS locks;"
				 "DROP TABLE IF EXISTS journal_marks; DROP TABLE IF EXISTS fraud_counts;"
			  "PRAGMA user_version = 1;", NULL, NULL, NULL);
	sqlite3_close(db);
	CHECK_INT(rc, SQLITE_OK);

	CHECK_INT(store_open(&s, path, NULL, 0), 0);
	CHECK_INT(store_schema_version(s, &v), 0);
	CHECK_INT(v, store_schema_latest());
	CHECK_INT(store_users_get(s, &out, "alice", "example.test"), 0);
	make_cdr(&c, "m@h", "alice", T0, 0, T0, 404, "none");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	CHECK_INT(count_rows(s), 1);
	store_close(&s);
}

/* The temporary b-trees (OpenEphemeral) that SQLite's program for a call
 * record's INSERT opens, on the file at path; -1 when it cannot tell. */
static int insert_ephemerals(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1, rc;

	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "EXPLAIN INSERT INTO cdrs (call_id, caller, callee, src, transport,"
			       " start_at, end_at, final_status, hangup)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n += strcmp((const char *)sqlite3_column_text(st, 1), "OpenEphemeral") == 0;
	if (rc != SQLITE_DONE)
		n = -1;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Run sql on the file at path; SQLite's result code. */
static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(path, &db);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

/* A version-14 database (its hangup CHECK an IN list) keeps every record,
 * id and field through migration 15, whose table opens no temporary b-tree
 * on insert and still refuses a hangup that is not one of the five. */
static void migrates_version_14(void)
{
	char path[256];
	struct store *s = NULL;
	struct store_cdr c;
	struct got before, after;
	int64_t id = 0;
	int v = 0;

	SQLITE_ONLY();

	CHECK(store_schema_latest() >= 15);
	CHECK_INT(store_open(&s, tmp_db(path, sizeof(path)), NULL, 0), 0);
	CHECK_INT(insert_ephemerals(path), 0); /* a new database has the new table */
	make_cdr(&c, "a@h", "alice", T0, T0 + 3000, T0 + 68999, 200, "callee");
	snprintf(c.peer, sizeof(c.peer), "gw1");
	snprintf(c.klass, sizeof(c.klass), "international");
	snprintf(c.dialed, sizeof(c.dialed), "011442079460000");
	snprintf(c.number, sizeof(c.number), "+442079460000");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	make_cdr(&c, "b@h", "", T0 + 10, 0, T0 + 20, 486, "none");
	c.emergency = true;
	snprintf(c.location, sizeof(c.location), "country=US;ROOM=101");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	make_cdr(&c, "c@h", "bob", T0 + 30, T0 + 40, T0 + 50, 200, "timeout");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	CHECK_INT(list(s, &before, 0, NULL), 0);
	CHECK_INT(before.n, 3);
	store_close(&s);

	/* Back to version 14: the same table with the CHECK as it was. */
	CHECK_INT(raw_exec(path, "PRAGMA writable_schema = ON;"
				 "UPDATE sqlite_schema SET sql = replace(sql,"
				 " 'CHECK (hangup = ''caller'' OR hangup = ''callee'' OR hangup = ''none''"
				 "      OR hangup = ''timeout'' OR hangup = ''server'')',"
				 " 'CHECK (hangup IN (''caller'', ''callee'', ''none'', ''timeout'',"
				 " ''server''))') WHERE type = 'table' AND name = 'cdrs';"
				 "PRAGMA writable_schema = OFF;"
				 "PRAGMA user_version = 14;"),
		  SQLITE_OK);
	CHECK_INT(insert_ephemerals(path), 1); /* the version-14 table, as it was */

	CHECK_INT(store_open(&s, path, NULL, 0), 0);
	CHECK_INT(store_schema_version(s, &v), 0);
	CHECK_INT(v, store_schema_latest());
	CHECK_INT(list(s, &after, 0, NULL), 0);
	CHECK_INT(after.n, before.n);
	CHECK(strcmp(after.ids, before.ids) == 0);
	for (size_t i = 0; i < before.n; i++)
		CHECK(memcmp(&after.rec[i], &before.rec[i], sizeof(before.rec[i])) == 0);
	make_cdr(&c, "d@h", "alice", T0 + 60, 0, T0 + 70, 408, "none");
	CHECK_INT(store_cdr_add(s, &id, &c), 0);
	CHECK(id > before.rec[2].id);
	CHECK_INT(list(s, &after, 0, "alice"), 0);
	CHECK(strcmp(after.ids, "a@h,d@h") == 0); /* the index on the user is back */
	store_close(&s);

	CHECK_INT(insert_ephemerals(path), 0);
	/* the table's own rule, past the store's checks */
	CHECK_INT(raw_exec(path, "INSERT INTO cdrs (call_id, caller, callee, src, transport,"
				 " start_at, end_at, final_status, hangup) VALUES ('e@h', 'sip:a@h',"
				 " 'sip:b@h', 'udp:192.0.2.1:5060', 'udp', 1, 2, 404, 'nobody')"),
		  SQLITE_CONSTRAINT);
	CHECK_INT(raw_exec(path, "INSERT INTO cdrs (call_id, caller, callee, src, transport,"
				 " start_at, end_at, final_status, hangup) VALUES ('e@h', 'sip:a@h',"
				 " 'sip:b@h', 'udp:192.0.2.1:5060', 'udp', 1, 2, 404, 'none')"),
		  SQLITE_OK);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(add_and_read_back),
		CASE(ordering_and_filters),
		CASE(refusals),
		CASE(migrates_version_1),
		CASE(migrates_version_14),
	};
	int rc;

	if (tmp_init())
		return 1;
	rc = check_main("store_cdr", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
