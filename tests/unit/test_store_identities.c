/*
 * Unit tests of the users' extra identities in the store (SQLite backend):
 * add, duplicates, unknown users, list per user and load_all, delete, the
 * cascade when the user is deleted, the users change counter, argument
 * checks, and the migration of a version-1 database that has users. And the
 * in-memory set the call path reads (struct store_idents): one domain's
 * users only, looked up by exact name whatever their neighbours, reloaded
 * in place, the old set kept when a reload fails for lack of memory.
 */
#include <errno.h>
#include <time.h>
#include <sqlite3.h>

#include "check.h"
#include "store/store.h"
#include "store_tmp.h"

#define MD5_A "0123456789abcdef0123456789abcdef"

static void make_user(struct store_user *u, const char *name, const char *domain)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->domain, sizeof(u->domain), "%s", domain);
	snprintf(u->cred.realm, sizeof(u->cred.realm), "%s", domain);
	snprintf(u->cred.ha1_md5, sizeof(u->cred.ha1_md5), "%s", MD5_A);
	u->cred.strength = STORE_PW_CHECKED;
	u->enabled = true;
	u->created_at = 1700000000;
}

/* Collects what a walk returns: "name@domain uri" lines joined by '|'. */
struct seen {
	char text[4096];
	size_t n;
	int64_t last_user;
};

static int collect(void *arg, const struct store_identity *id)
{
	struct seen *w = arg;
	size_t len = strlen(w->text);

	snprintf(w->text + len, sizeof(w->text) - len, "%s%s@%s %s", w->n ? "|" : "", id->name,
		 id->domain, id->uri);
	w->n++;
	w->last_user = id->user_id;
	return 0;
}

static int stop_at_first(void *arg, const struct store_identity *id)
{
	(void)arg;
	(void)id;
	return 42;
}

static struct store *open_with_users(char *path, size_t cap, int64_t *id1, int64_t *id2)
{
	struct store *s = NULL;
	struct store_user u;
	char err[300];

	if (store_open(&s, tmp_db(path, cap), err, sizeof(err)) != 0)
		return NULL;
	make_user(&u, "1001", "example.test");
	if (store_users_add(s, id1, &u) != 0)
		store_close(&s);
	make_user(&u, "1002", "example.test");
	if (s && store_users_add(s, id2, &u) != 0)
		store_close(&s);
	return s;
}

static void add_list_and_duplicates(void)
{
	struct store *s;
	struct seen w;
	char path[128];
	int64_t id1 = 0, id2 = 0;

	s = open_with_users(path, sizeof(path), &id1, &id2);
	CHECK(s != NULL);
	CHECK_INT(store_identities_add(s, "1001", "example.test", "tel:+15551230000"), 0);
	CHECK_INT(store_identities_add(s, "1001", "example.test", "sip:sales@example.test"), 0);
	/* the domain of a user compares case-insensitively, as everywhere */
	CHECK_INT(store_identities_add(s, "1002", "EXAMPLE.test", "sip:sales@example.test"), 0);
	/* the same identity twice for one user */
	CHECK_INT(store_identities_add(s, "1001", "example.test", "sip:sales@example.test"), EEXIST);
	/* unknown user, unknown domain */
	CHECK_INT(store_identities_add(s, "1009", "example.test", "sip:x@example.test"), ENOENT);
	CHECK_INT(store_identities_add(s, "1001", "other.test", "sip:x@example.test"), ENOENT);

	memset(&w, 0, sizeof(w));
	CHECK_INT(store_identities_list(s, "1001", "example.test", collect, &w), 0);
	CHECK_INT(w.n, 2);
	CHECK_SLICE(slice_cstr(w.text),
		    "1001@example.test sip:sales@example.test|1001@example.test tel:+15551230000");
	CHECK_INT(w.last_user, id1);

	memset(&w, 0, sizeof(w));
	CHECK_INT(store_identities_list(s, "1002", "example.test", collect, &w), 0);
	CHECK_SLICE(slice_cstr(w.text), "1002@example.test sip:sales@example.test");
	CHECK_INT(w.last_user, id2);

	memset(&w, 0, sizeof(w));
	CHECK_INT(store_identities_list(s, "1009", "example.test", collect, &w), 0);
	CHECK_INT(w.n, 0);

	memset(&w, 0, sizeof(w));
	CHECK_INT(store_identities_load_all(s, collect, &w), 0);
	CHECK_INT(w.n, 3);
	CHECK_SLICE(slice_cstr(w.text),
		    "1001@example.test sip:sales@example.test|1001@example.test tel:+15551230000|"
		    "1002@example.test sip:sales@example.test");
	/* a non-zero return stops the walk and comes back as is, and the read
	 * transaction is closed: a write works afterwards */
	CHECK_INT(store_identities_load_all(s, stop_at_first, NULL), 42);
	CHECK_INT(store_identities_list(s, "1001", "example.test", stop_at_first, NULL), 42);
	CHECK_INT(store_identities_add(s, "1002", "example.test", "tel:+15550000001"), 0);
	store_close(&s);
}

static void delete_identity(void)
{
	struct store *s;
	struct seen w;
	char path[128];
	int64_t id1, id2;

	s = open_with_users(path, sizeof(path), &id1, &id2);
	CHECK(s != NULL);
	CHECK_INT(store_identities_add(s, "1001", "example.test", "sip:sales@example.test"), 0);
	CHECK_INT(store_identities_add(s, "1002", "example.test", "sip:sales@example.test"), 0);
	CHECK_INT(store_identities_delete(s, "1001", "example.test", "sip:sales@example.test"), 0);
	CHECK_INT(store_identities_delete(s, "1001", "example.test", "sip:sales@example.test"),
		  ENOENT);
	CHECK_INT(store_identities_delete(s, "1009", "example.test", "sip:sales@example.test"),
		  ENOENT);
	/* exact URI only */
	CHECK_INT(store_identities_delete(s, "1002", "example.test", "sip:SALES@example.test"),
		  ENOENT);
	memset(&w, 0, sizeof(w));
	CHECK_INT(store_identities_load_all(s, collect, &w), 0);
	CHECK_SLICE(slice_cstr(w.text), "1002@example.test sip:sales@example.test");
	store_close(&s);
}

static void cascade_on_user_delete(void)
{
	struct store *s;
	struct store_user u;
	struct seen w;
	char path[128];
	int64_t id1, id2;

	s = open_with_users(path, sizeof(path), &id1, &id2);
	CHECK(s != NULL);
	CHECK_INT(store_identities_add(s, "1001", "example.test", "sip:sales@example.test"), 0);
	CHECK_INT(store_identities_add(s, "1001", "example.test", "tel:+15551230000"), 0);
	CHECK_INT(store_identities_add(s, "1002", "example.test", "tel:+15551230002"), 0);
	CHECK_INT(store_users_delete(s, "1001", "example.test"), 0);
	memset(&w, 0, sizeof(w));
	CHECK_INT(store_identities_load_all(s, collect, &w), 0);
	CHECK_SLICE(slice_cstr(w.text), "1002@example.test tel:+15551230002");
	/* a new user of the same name does not inherit them */
	make_user(&u, "1001", "example.test");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	memset(&w, 0, sizeof(w));
	CHECK_INT(store_identities_list(s, "1001", "example.test", collect, &w), 0);
	CHECK_INT(w.n, 0);
	store_close(&s);
}

/* The users version of s once it differs from before (at once with
 * SQLite; PostgreSQL notifies another handle asynchronously): bounded wait. */
static int version_after(struct store *s, uint64_t before, uint64_t *v)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int rc = 0;

	for (int i = 0; i < 3000; i++) {
		if ((rc = store_users_version(s, v)) != 0 || *v != before || !tmp_pg())
			return rc;
		nanosleep(&ts, NULL);
	}
	return rc;
}

static void changes_move_users_version(void)
{
	struct store *s, *other = NULL;
	char path[128], err[300];
	uint64_t v0 = 0, v1 = 0, v2 = 0, v3 = 0;
	int64_t id1, id2;

	s = open_with_users(path, sizeof(path), &id1, &id2);
	CHECK(s != NULL);
	CHECK_INT(store_open(&other, path, err, sizeof(err)), 0);
	CHECK_INT(store_users_version(other, &v0), 0);
	CHECK_INT(store_identities_add(s, "1001", "example.test", "sip:sales@example.test"), 0);
	CHECK_INT(version_after(other, v0, &v1), 0);
	CHECK(v1 != v0);
	/* a failed add changes nothing */
	CHECK_INT(store_identities_add(s, "1001", "example.test", "sip:sales@example.test"), EEXIST);
	CHECK_INT(store_users_version(other, &v2), 0);
	CHECK(v2 == v1);
	CHECK_INT(store_identities_delete(s, "1001", "example.test", "sip:sales@example.test"), 0);
	CHECK_INT(store_users_version(s, &v3), 0);
	CHECK(v3 != v2);
	store_close(&other);
	store_close(&s);
}

static void bad_arguments(void)
{
	struct store *s;
	char path[128], big[STORE_URI_MAX + 10];
	int64_t id1, id2;

	s = open_with_users(path, sizeof(path), &id1, &id2);
	CHECK(s != NULL);
	CHECK_INT(store_identities_add(NULL, "1001", "example.test", "sip:a@b"), EINVAL);
	CHECK_INT(store_identities_add(s, NULL, "example.test", "sip:a@b"), EINVAL);
	CHECK_INT(store_identities_add(s, "1001", "", "sip:a@b"), EINVAL);
	CHECK_INT(store_identities_add(s, "1001", "example.test", ""), EINVAL);
	CHECK_INT(store_identities_add(s, "1001", "example.test", NULL), EINVAL);
	CHECK_INT(store_identities_add(s, "1001", "example.test", "sip:a@b\r\nX: y"), EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(store_identities_add(s, "1001", "example.test", big), EINVAL);
	big[STORE_URI_MAX - 1] = '\0'; /* the longest that fits */
	CHECK_INT(store_identities_add(s, "1001", "example.test", big), 0);
	CHECK_INT(store_identities_delete(s, "1001", "example.test", ""), EINVAL);
	CHECK_INT(store_identities_list(s, "1001", "example.test", NULL, NULL), EINVAL);
	CHECK_INT(store_identities_load_all(s, NULL, NULL), EINVAL);
	CHECK_INT(store_identities_load_all(NULL, stop_at_first, NULL), EINVAL);
	store_close(&s);
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

static void migrates_version_1(void)
{
	struct store *s;
	struct store_user u;
	struct seen w;
	char path[128], err[300];
	int64_t id1, id2;
	int v = 0;

	SQLITE_ONLY();

	CHECK(store_schema_latest() >= 2);
	s = open_with_users(path, sizeof(path), &id1, &id2);
	CHECK(s != NULL);
	store_close(&s);
	/* Turn the file back into what version 1 made. */
	CHECK_INT(raw_exec(path, "DROP TRIGGER identities_gen_insert;"
				 "DROP TRIGGER identities_gen_update;"
				 "DROP TRIGGER identities_gen_delete;"
				 "DROP TABLE identities; DROP TABLE cdrs; DROP TABLE bans;"
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
				 "PRAGMA user_version = 1;"),
		  SQLITE_OK);
	CHECK_INT(store_open(&s, path, err, sizeof(err)), 0);
	CHECK_INT(store_schema_version(s, &v), 0);
	CHECK_INT(v, store_schema_latest());
	CHECK_INT(store_users_get(s, &u, "1001", "example.test"), 0);
	CHECK_INT(store_identities_add(s, "1001", "example.test", "tel:+15551230000"), 0);
	memset(&w, 0, sizeof(w));
	CHECK_INT(store_identities_load_all(s, collect, &w), 0);
	CHECK_SLICE(slice_cstr(w.text), "1001@example.test tel:+15551230000");
	/* the cascade works on a migrated file too */
	CHECK_INT(store_users_delete(s, "1001", "example.test"), 0);
	memset(&w, 0, sizeof(w));
	CHECK_INT(store_identities_load_all(s, collect, &w), 0);
	CHECK_INT(w.n, 0);
	store_close(&s);
}

/* The URIs store_idents_of finds for name, joined by '|', into out. */
static const char *idents_of(char *out, size_t cap, const struct store_idents *set,
			     const char *name, size_t max)
{
	const char *v[8];
	size_t n = store_idents_of(set, slice_cstr(name), v, max < 8 ? max : 8);

	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "|" : "", v[i]);
	return out;
}

/* Users 100, 1001, 10010, 1002 in example.test, 1001 in other.test, with
 * identities; *s open. */
static bool idents_fixture(struct store **s, char *path, size_t cap)
{
	static const char *const rows[][3] = {
		{ "1001", "example.test", "tel:+15551230000" },
		{ "1001", "example.test", "sip:sales@example.test" },
		{ "1002", "EXAMPLE.test", "sip:sales@example.test" },
		{ "100", "example.test", "sip:short@example.test" },
		{ "10010", "example.test", "sip:long@example.test" },
		{ "1001", "other.test", "sip:elsewhere@other.test" },
	};
	struct store_user u;
	int64_t id1, id2;

	if (!(*s = open_with_users(path, cap, &id1, &id2)))
		return false;
	make_user(&u, "100", "example.test");
	if (store_users_add(*s, NULL, &u) != 0)
		return false;
	make_user(&u, "10010", "example.test");
	if (store_users_add(*s, NULL, &u) != 0)
		return false;
	make_user(&u, "1001", "other.test");
	if (store_users_add(*s, NULL, &u) != 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		if (store_identities_add(*s, rows[i][0], rows[i][1], rows[i][2]) != 0)
			return false;
	return true;
}

static void idents_set_lookup(void)
{
	struct store *s = NULL;
	struct store_idents *set = NULL;
	char path[128], got[512];
	const char *one[1];

	CHECK(idents_fixture(&s, path, sizeof(path)));
	CHECK_INT(store_idents_of(NULL, SLICE_LIT("1001"), one, 1), 0);
	CHECK_INT(store_idents_load(&set, s, "Example.Test"), 0);
	/* exact names, ordered by uri; other.test's 1001 left out */
	CHECK_SLICE(slice_cstr(idents_of(got, sizeof(got), set, "1001", 8)),
		    "sip:sales@example.test|tel:+15551230000");
	CHECK_SLICE(slice_cstr(idents_of(got, sizeof(got), set, "100", 8)),
		    "sip:short@example.test");
	CHECK_SLICE(slice_cstr(idents_of(got, sizeof(got), set, "10010", 8)),
		    "sip:long@example.test");
	CHECK_SLICE(slice_cstr(idents_of(got, sizeof(got), set, "1002", 8)),
		    "sip:sales@example.test");
	/* at most cap; unknown names, prefixes and the empty name find none */
	CHECK_SLICE(slice_cstr(idents_of(got, sizeof(got), set, "1001", 1)),
		    "sip:sales@example.test");
	CHECK_INT(store_idents_of(set, SLICE_LIT("1001"), one, 0), 0);
	CHECK_INT(store_idents_of(set, SLICE_LIT("10"), one, 1), 0);
	CHECK_INT(store_idents_of(set, SLICE_LIT("1003"), one, 1), 0);
	CHECK_INT(store_idents_of(set, SLICE_LIT("100100"), one, 1), 0);
	CHECK_INT(store_idents_of(set, (struct slice){ NULL, 0 }, one, 1), 0);
	CHECK_INT(store_idents_of(set, SLICE_LIT("1001\0"), one, 1), 0);

	/* another domain's set */
	CHECK_INT(store_idents_load(&set, s, "other.test"), 0);
	CHECK_SLICE(slice_cstr(idents_of(got, sizeof(got), set, "1001", 8)),
		    "sip:elsewhere@other.test");
	CHECK_INT(store_idents_of(set, SLICE_LIT("1002"), one, 1), 0);
	/* a reload sees a deletion */
	CHECK_INT(store_identities_delete(s, "1001", "other.test", "sip:elsewhere@other.test"), 0);
	CHECK_INT(store_idents_load(&set, s, "other.test"), 0);
	CHECK(set != NULL);
	CHECK_INT(store_idents_of(set, SLICE_LIT("1001"), one, 1), 0);
	store_idents_free(&set);
	CHECK(set == NULL);
	store_idents_free(&set);
	store_close(&s);
}

struct idents_oom {
	struct store *s;
	struct store_idents *set;      /* the set in place before each run */
	bool broken;                   /* a run broke the contract (the sweep takes
					  any result from a run that failed) */
};

/* A reload with one allocation failing: ENOMEM and the old set in place,
 * unchanged; or, with none failing, the new set. */
static int idents_reload_once(void *arg)
{
	struct idents_oom *o = arg;
	struct store_idents *before = o->set;
	const char *v[2];
	int rc = store_idents_load(&o->set, o->s, "example.test");

	if (rc) {
		if (rc != ENOMEM || o->set != before ||
		    store_idents_of(o->set, SLICE_LIT("1001"), v, 2) != 2)
			o->broken = true;
		return rc;
	}
	if (store_idents_of(o->set, SLICE_LIT("10010"), v, 2) != 1)
		o->broken = true;
	return 0;
}

static void idents_reload_out_of_memory(void)
{
	struct idents_oom o = { 0 };
	char path[128];

	CHECK(idents_fixture(&o.s, path, sizeof(path)));
	CHECK_INT(store_idents_load(&o.set, o.s, "example.test"), 0);
	CHECK(CHECK_OOM_SWEEP(idents_reload_once, &o, 200) > 1);
	CHECK(!o.broken);
	store_idents_free(&o.set);
	store_close(&o.s);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(add_list_and_duplicates),
		CASE(delete_identity),
		CASE(cascade_on_user_delete),
		CASE(changes_move_users_version),
		CASE(bad_arguments),
		CASE(migrates_version_1),
		CASE(idents_set_lookup),
		CASE(idents_reload_out_of_memory),
	};
	int rc;

	if (tmp_init() != 0)
		return 1;
	rc = check_main("store_identities", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
