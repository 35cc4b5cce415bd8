/*
 * Unit tests of what only the PostgreSQL backend does (src/store/pg.c):
 * versioned migrations under an advisory lock and refusal of a newer schema,
 * the connection rules (no password in the URL, a 0600 password file, clear
 * errors for a wrong password or an unreachable server), change
 * notification between handles (the nodes of docs/scaling.md), and the
 * write-behind queue across a server restart with its bound.
 *
 * Runs under tests/tools/pgtmp.py, which starts a real server and sets
 * BASTION_TEST_PG and BASTION_TEST_PG_CTL; without them every case passes
 * vacuously on SQLite-only machines (the _pg CTest entry is what runs it).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"
#include "store/store.h"
#include "store_tmp.h"

#define MD5_A "0123456789abcdef0123456789abcdef"

#define PG_ONLY() \
	do { \
		if (!tmp_pg()) \
			return; \
	} while (0)

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void make_user(struct store_user *u, const char *name, const char *domain)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->domain, sizeof(u->domain), "%s", domain);
	snprintf(u->cred.realm, sizeof(u->cred.realm), "%s", domain);
	snprintf(u->cred.ha1_md5, sizeof(u->cred.ha1_md5), "%s", MD5_A);
	u->cred.strength = STORE_PW_CHECKED;
	u->enabled = true;
}

static void make_reg(struct store_reg *r, int64_t uid, const char *aor, const char *contact)
{
	memset(r, 0, sizeof(*r));
	r->user_id = uid;
	snprintf(r->aor, sizeof(r->aor), "%s", aor);
	snprintf(r->contact, sizeof(r->contact), "%s", contact);
	snprintf(r->received, sizeof(r->received), "udp:192.0.2.1:5060");
	snprintf(r->transport, sizeof(r->transport), "udp");
	snprintf(r->call_id, sizeof(r->call_id), "c-%s", contact);
	r->expires_at = 4000000000;
	r->cseq = 1;
	r->q = 1000;
}

static int count_reg(void *arg, const struct store_reg *r)
{
	(void)r;
	(*(size_t *)arg)++;
	return 0;
}

static int keep_reg(void *arg, const struct store_reg *r)
{
	**(struct store_reg **)arg = *r;
	return 0;
}

static int count_aor(void *arg, const char *aor)
{
	if (strcmp(aor, "sip:alice@example.test") == 0)
		(*(size_t *)arg)++;
	return 0;
}

/* The database name at the end of a test URL. */
static const char *db_name(const char *url)
{
	const char *p = strrchr(url, '/');

	return p ? p + 1 : url;
}

static void migrates_once_and_reopens(void)
{
	char url[512], err[512];
	struct store *s = NULL;
	int from = -1, v = 0;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	if (store_open_migrate(&s, url, &from, err, sizeof(err)) != 0)
		printf("  %s\n", err);
	CHECK(s != NULL);
	CHECK_INT(from, 0);
	CHECK_INT(store_schema_version(s, &v), 0);
	CHECK_INT(v, store_schema_latest());
	store_close(&s);
	CHECK_INT(store_open_migrate(&s, url, &from, err, sizeof(err)), 0);
	CHECK_INT(from, store_schema_latest());
	store_close(&s);
}

static void refuses_newer_schema(void)
{
	char url[512], err[512], sql[96];
	struct store *s = NULL;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&s, url, err, sizeof(err)), 0);
	store_close(&s);
	snprintf(sql, sizeof(sql), "UPDATE bastion_schema SET version = %d",
		 store_schema_latest() + 1);
	CHECK_INT(tmp_pg_exec(db_name(url), sql), 0);
	CHECK_INT(store_open(&s, url, err, sizeof(err)), EPROTO);
	CHECK(s == NULL);
	CHECK(strstr(err, "newer than this build") != NULL);
}

/* Several processes migrate a fresh database at once: the advisory lock
 * serialises them, every one succeeds, the schema is built once. */
static void concurrent_migrations_serialised(void)
{
	char url[512], err[512];
	struct store *s = NULL;
	pid_t kids[4];
	int v = 0, status;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	for (size_t i = 0; i < ARRAY_SIZE(kids); i++) {
		kids[i] = fork();
		CHECK(kids[i] >= 0);
		if (kids[i] == 0) {
			struct store *k = NULL;
			char e[512];
			int rc = store_open(&k, url, e, sizeof(e));

			if (rc)
				fprintf(stderr, "child: %s\n", e);
			store_close(&k);
			_exit(rc ? 1 : 0);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(kids); i++) {
		CHECK(waitpid(kids[i], &status, 0) == kids[i]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_INT(store_open(&s, url, err, sizeof(err)), 0);
	CHECK_INT(store_schema_version(s, &v), 0);
	CHECK_INT(v, store_schema_latest());
	store_close(&s);
}

static void connection_errors_are_clear(void)
{
	char url[600], err[512], pass[256], bad[300];
	const char *passfile = getenv("PGPASSFILE");
	struct store *s = NULL;
	int fd;

	PG_ONLY();
	CHECK(passfile != NULL);
	/* A password in the URL never gets to the server. */
	snprintf(url, sizeof(url), "postgresql://bastion:secret@127.0.0.1:1/x");
	CHECK_INT(store_open(&s, url, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "password file") != NULL);
	CHECK(strstr(err, "secret") == NULL);
	CHECK_INT(store_open(&s, "host=127.0.0.1 password=secret dbname=x", err, sizeof(err)),
		  EINVAL);
	/* Not a connection string libpq understands. */
	CHECK_INT(store_open(&s, "host=127.0.0.1 nonsense_key=1", err, sizeof(err)), EINVAL);
	/* A password file others can read is refused, naming it. */
	snprintf(pass, sizeof(pass), "%s/pgpass-open", tmp_dir);
	fd = open(pass, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, "*:*:*:bastion:wrong\n", 20) == 20);
	fchmod(fd, 0644);
	close(fd);
	snprintf(url, sizeof(url), "%spostgres?passfile=%s", tmp_pg(), pass);
	CHECK_INT(store_open(&s, url, err, sizeof(err)), EACCES);
	CHECK(strstr(err, "chmod 600") != NULL);
	/* 0600 but the wrong password: the server's words. */
	CHECK_INT(chmod(pass, 0600), 0);
	CHECK_INT(store_open(&s, url, err, sizeof(err)), ENOTCONN);
	CHECK(strstr(err, "password authentication failed") != NULL);
	unlink(pass);
	/* A missing password file named explicitly. */
	snprintf(bad, sizeof(bad), "%s/none", tmp_dir);
	snprintf(url, sizeof(url), "%spostgres?passfile=%s", tmp_pg(), bad);
	CHECK_INT(store_open(&s, url, err, sizeof(err)), ENOENT);
	/* Nobody listens on port 1. */
	CHECK_INT(store_open(&s, "postgresql://bastion@127.0.0.1:1/x", err, sizeof(err)), ENOTCONN);
	CHECK(strstr(err, "127.0.0.1") != NULL || strstr(err, "connect") != NULL);
	CHECK(s == NULL);
}

/* What another handle commits reaches this one through NOTIFY: the users
 * version, the data version (bans) and the AORs of changed bindings. Own
 * writes do not count. Notifications are asynchronous: wait, bounded. */
static void notifications_between_handles(void)
{
	char url[512], err[512];
	struct store *a = NULL, *b = NULL;
	struct store_user u;
	struct store_reg r;
	struct store_ban ban;
	uint64_t va0 = 0, va = 0, vb0 = 0, vb = 0;
	int64_t da0 = 0, da = 0, db0 = 0, db = 0, uid = 0;
	bool all = true;
	size_t n = 0;
	int i;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&a, url, err, sizeof(err)), 0);
	CHECK_INT(store_open(&b, url, err, sizeof(err)), 0);
	CHECK_INT(store_users_version(a, &va0), 0);
	CHECK_INT(store_users_version(b, &vb0), 0);
	CHECK_INT(store_data_version(a, &da0), 0);
	CHECK_INT(store_data_version(b, &db0), 0);

	make_user(&u, "alice", "example.test");
	CHECK_INT(store_users_add(a, &uid, &u), 0);
	CHECK_INT(store_users_version(a, &va), 0);
	CHECK(va != va0); /* own write: re-read at once */
	for (i = 0; i < 1000; i++) {
		CHECK_INT(store_users_version(b, &vb), 0);
		if (vb != vb0)
			break;
		sleep_ms(10);
	}
	CHECK_INT(vb, va);
	CHECK_INT(store_data_version(a, &da), 0);
	CHECK_INT(da, da0); /* own writes do not move it */

	/* A ban by b reaches a. */
	memset(&ban, 0, sizeof(ban));
	snprintf(ban.addr, sizeof(ban.addr), "192.0.2.9");
	ban.until = 4000000000;
	ban.count = 1;
	CHECK_INT(store_bans_put(b, &ban), 0);
	for (i = 0; i < 1000; i++) {
		CHECK_INT(store_data_version(a, &da), 0);
		if (da != da0)
			break;
		sleep_ms(10);
	}
	CHECK(da != da0);
	CHECK_INT(store_data_version(b, &db), 0);
	CHECK_INT(db, db0 + 1); /* b saw a's user change, not its own ban */

	/* A binding written by a (in a batch, as the registrar does) is named
	 * to b, once. */
	CHECK_INT(store_regs_changes(b, &all, count_aor, &n), 0);
	CHECK_INT(n, 0);
	make_reg(&r, uid, "sip:alice@example.test", "sip:alice@192.0.2.1");
	CHECK_INT(store_batch_begin(a), 0);
	CHECK_INT(store_regs_upsert(a, NULL, &r), 0);
	CHECK_INT(store_batch_end(a, true), 0);
	for (i = 0; i < 1000 && n == 0; i++) {
		CHECK_INT(store_regs_changes(b, &all, count_aor, &n), 0);
		CHECK(!all);
		if (!n)
			sleep_ms(10);
	}
	CHECK_INT(n, 1);
	n = 0;
	CHECK_INT(store_regs_list_aor(b, "sip:alice@example.test", count_reg, &n), 0);
	CHECK_INT(n, 1);
	store_close(&a);
	store_close(&b);
}

static int count_cdr(void *arg, const struct store_cdr *c)
{
	(void)c;
	(*(size_t *)arg)++;
	return 0;
}

static int pg_ctl(const char *what)
{
	char cmd[4096];
	const char *ctl = getenv("BASTION_TEST_PG_CTL");

	if (!ctl)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s %s >/dev/null 2>&1", ctl, what);
	return system(cmd);
}

/* The server stops: the server's writes wait in order in the bounded
 * queue (ENOSPC beyond it), reads and user changes say ENOTCONN, the users
 * version stays (caches keep serving). It starts again: the handle
 * reconnects by itself, writes the queue, and asks for a full reload of
 * bindings since notifications were lost meanwhile. */
static void write_behind_across_restart(void)
{
	char url[512], err[512];
	struct store *a = NULL, *b = NULL;
	struct store_backend_stats st;
	struct store_user u, got;
	struct store_reg r;
	struct store_cdr c;
	uint64_t v0 = 0, v = 0;
	int64_t uid = 0;
	bool all = false;
	size_t n = 0;
	int i;

	PG_ONLY();
	CHECK(getenv("BASTION_TEST_PG_CTL") != NULL);
	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&a, url, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.test");
	CHECK_INT(store_users_add(a, &uid, &u), 0);
	CHECK_INT(store_users_version(a, &v0), 0);
	store_set_queue_max(a, 3);
	CHECK_INT(store_backend_stats(a, &st), 0);
	CHECK(st.connected);
	CHECK_INT(st.queue_max, 3);

	CHECK_INT(pg_ctl("stop -m fast"), 0);
	make_reg(&r, uid, "sip:alice@example.test", "sip:alice@192.0.2.1");
	CHECK_INT(store_batch_begin(a), 0);
	CHECK_INT(store_regs_upsert(a, NULL, &r), 0);
	make_reg(&r, uid, "sip:alice@example.test", "sip:alice@192.0.2.2");
	CHECK_INT(store_regs_upsert(a, NULL, &r), 0);
	CHECK_INT(store_batch_end(a, true), 0);
	CHECK_INT(store_backend_stats(a, &st), 0);
	CHECK(!st.connected);
	CHECK_INT(st.queued, 2);
	CHECK(store_write_room(a, 1));
	CHECK(!store_write_room(a, 2));
	memset(&c, 0, sizeof(c));
	snprintf(c.call_id, sizeof(c.call_id), "call-1");
	snprintf(c.caller, sizeof(c.caller), "sip:alice@example.test");
	snprintf(c.callee, sizeof(c.callee), "sip:bob@example.test");
	snprintf(c.src, sizeof(c.src), "udp:192.0.2.1:5060");
	snprintf(c.transport, sizeof(c.transport), "udp");
	snprintf(c.hangup, sizeof(c.hangup), "none");
	c.start_at = 1700000000000;
	c.end_at = 1700000001000;
	c.final_status = 486;
	CHECK_INT(store_cdr_add(a, NULL, &c), 0);
	CHECK_INT(store_cdr_add(a, NULL, &c), ENOSPC); /* the bound */
	CHECK(strstr(store_errmsg(a), "queue full") != NULL);
	CHECK_INT(store_users_get(a, &got, "alice", "example.test"), ENOTCONN);
	CHECK_INT(store_users_version(a, &v), 0);
	CHECK_INT(v, v0);
	CHECK_INT(store_backend_stats(a, &st), 0);
	CHECK_INT(st.queued, 3);
	CHECK_INT(st.writes_dropped, 1);

	CHECK_INT(pg_ctl("start"), 0);
	for (i = 0; i < 6000; i++) { /* backoff is at most 8 s; bound 60 s */
		/* the server's 200 ms poll: reconnects when the backoff allows */
		CHECK_INT(store_users_version(a, &v), 0);
		CHECK_INT(store_backend_stats(a, &st), 0);
		if (st.connected && st.queued == 0)
			break;
		sleep_ms(10);
	}
	CHECK(st.connected);
	CHECK_INT(st.queued, 0);
	CHECK(st.reconnects >= 1);
	CHECK_INT(store_regs_changes(a, &all, count_aor, &n), 0);
	CHECK(all);

	CHECK_INT(store_open(&b, url, err, sizeof(err)), 0);
	n = 0;
	CHECK_INT(store_regs_list_aor(b, "sip:alice@example.test", count_reg, &n), 0);
	CHECK_INT(n, 2);
	n = 0;
	CHECK_INT(store_cdr_list(b, 0, NULL, count_cdr, &n), 0);
	CHECK_INT(n, 1);
	store_close(&b);
	store_close(&a);
}

/* A batch goes in one round trip (pipeline mode); a row the server refuses
 * (here a contact a constraint added for the test forbids: the store's own
 * checks let it through) is dropped alone and counted, and the rest of its
 * batch is written, in order. */
static void batch_with_a_refused_row(void)
{
	char url[512], err[512];
	struct store *a = NULL, *b = NULL;
	struct store_backend_stats st;
	struct store_user u;
	struct store_reg r;
	int64_t uid = 0;
	size_t n = 0;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&a, url, err, sizeof(err)), 0);
	make_user(&u, "carol", "example.test");
	CHECK_INT(store_users_add(a, &uid, &u), 0);
	CHECK_INT(tmp_pg_exec(db_name(url), "ALTER TABLE registrations ADD CONSTRAINT no_18 "
					    "CHECK (contact <> 'sip:carol@192.0.2.18')"),
		  0);
	CHECK_INT(store_batch_begin(a), 0);
	for (int i = 0; i < 40; i++) {
		char contact[64];

		snprintf(contact, sizeof(contact), "sip:carol@192.0.2.%d", i + 1);
		make_reg(&r, uid, "sip:carol@example.test", contact);
		CHECK_INT(store_regs_upsert(a, NULL, &r), 0);
	}
	CHECK_INT(store_batch_end(a, true), 0);
	CHECK_INT(store_backend_stats(a, &st), 0);
	CHECK(st.connected);
	CHECK_INT(st.queued, 0);
	CHECK_INT(st.writes_refused, 1);
	/* the connection is usable afterwards: no transaction left open */
	make_reg(&r, uid, "sip:carol@example.test", "sip:carol@192.0.2.200");
	CHECK_INT(store_batch_begin(a), 0);
	CHECK_INT(store_regs_upsert(a, NULL, &r), 0);
	CHECK_INT(store_batch_end(a, true), 0);
	CHECK_INT(store_open(&b, url, err, sizeof(err)), 0);
	CHECK_INT(store_regs_list_aor(b, "sip:carol@example.test", count_reg, &n), 0);
	CHECK_INT(n, 40); /* 39 of the batch and the one after it */
	store_close(&b);
	store_close(&a);
}

static int keep_cdr(void *arg, const struct store_cdr *c)
{
	*(struct store_cdr *)arg = *c;
	return 0;
}

/* The emergency columns (issue 13): a user's location and the emergency mark of a call
 * record, as on SQLite. */
static void emergency_columns(void)
{
	char url[512], err[512], loc[STORE_LOCATION_MAX];
	struct store *s = NULL;
	struct store_user u;
	struct store_cdr c, got;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&s, url, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.test");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	CHECK_INT(store_users_get_location(s, loc, sizeof(loc), "alice", "example.test"), 0);
	CHECK(loc[0] == '\0');
	CHECK_INT(store_users_set_location(s, "alice", "example.test", "country=US;ROOM=12"), 0);
	CHECK_INT(store_users_get_location(s, loc, sizeof(loc), "alice", "example.test"), 0);
	CHECK(strcmp(loc, "country=US;ROOM=12") == 0);
	CHECK_INT(store_users_set_location(s, "bob", "example.test", "ROOM=1"), ENOENT);
	CHECK_INT(store_users_get_location(s, loc, sizeof(loc), "bob", "example.test"), ENOENT);
	memset(&c, 0, sizeof(c));
	snprintf(c.call_id, sizeof(c.call_id), "e-1");
	snprintf(c.caller, sizeof(c.caller), "sip:alice@example.test");
	snprintf(c.callee, sizeof(c.callee), "sip:911@example.test");
	snprintf(c.src, sizeof(c.src), "udp:192.0.2.1:5060");
	snprintf(c.transport, sizeof(c.transport), "udp");
	snprintf(c.hangup, sizeof(c.hangup), "none");
	c.start_at = 1700000000000;
	c.end_at = 1700000001000;
	c.final_status = 486;
	c.emergency = true;
	snprintf(c.location, sizeof(c.location), "country=US;ROOM=12");
	CHECK_INT(store_cdr_add(s, NULL, &c), 0);
	memset(&got, 0, sizeof(got));
	CHECK_INT(store_cdr_list(s, 0, NULL, keep_cdr, &got), 0);
	CHECK(got.emergency && strcmp(got.location, "country=US;ROOM=12") == 0);
	store_close(&s);
}

static void make_cdr(struct store_cdr *c, const char *call_id)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->call_id, sizeof(c->call_id), "%s", call_id);
	snprintf(c->caller, sizeof(c->caller), "sip:alice@example.test");
	snprintf(c->callee, sizeof(c->callee), "sip:bob@example.test");
	snprintf(c->src, sizeof(c->src), "udp:192.0.2.1:5060");
	snprintf(c->transport, sizeof(c->transport), "udp");
	snprintf(c->hangup, sizeof(c->hangup), "none");
	c->start_at = 1700000000000;
	c->end_at = 1700000001000;
	c->final_status = 486;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	size_t n;
	int rc = 0;

	if (!in || !out)
		rc = -1;
	while (!rc && (n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			rc = -1;
	if (in)
		fclose(in);
	if (out && fclose(out) != 0)
		rc = -1;
	return rc;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * The on-disk queue: while the server is down a committed batch is durable
 * (store_durable_seq reaches it) only because it is in the journal; a
 * handle that ends without the server (a crash, as far as the database
 * knows) leaves it there; the next attach writes it, exactly once, even
 * when the file is replayed again after a crash between the database's
 * commit and the emptying of the file. Without a journal the same batch is
 * not durable until the server has it.
 */
static void journal_replayed_exactly_once(void)
{
	char url[512], err[512], jpath[600], copy[600];
	struct store *a = NULL, *b = NULL;
	struct store_user u;
	struct store_reg r;
	struct store_cdr c;
	int64_t uid = 0;
	uint64_t seq;
	size_t n = 0, replayed = 9;

	PG_ONLY();
	CHECK(getenv("BASTION_TEST_PG_CTL") != NULL);
	tmp_db(url, sizeof(url));
	snprintf(jpath, sizeof(jpath), "%s/queue.journal", tmp_dir);
	snprintf(copy, sizeof(copy), "%s/queue.copy", tmp_dir);
	CHECK_INT(store_open(&a, url, err, sizeof(err)), 0);
	CHECK_INT(store_node_attach(a, "Bad id", jpath, NULL), EINVAL);
	CHECK_INT(store_node_attach(a, "node-1", jpath, &replayed), 0);
	CHECK_INT(replayed, 0);
	CHECK_INT(file_size(jpath), 35); /* the header only */
	make_user(&u, "alice", "example.test");
	CHECK_INT(store_users_add(a, &uid, &u), 0);

	CHECK_INT(pg_ctl("stop -m fast"), 0);
	seq = store_batch_next_seq(a);
	CHECK_INT(store_batch_begin(a), 0);
	make_reg(&r, uid, "sip:alice@example.test", "sip:alice@192.0.2.1");
	CHECK_INT(store_regs_upsert(a, NULL, &r), 0);
	make_reg(&r, uid, "sip:alice@example.test", "sip:alice@192.0.2.2");
	r.reg_id = 7;
	CHECK_INT(store_regs_upsert(a, NULL, &r), 0);
	make_cdr(&c, "call-j");
	CHECK_INT(store_cdr_add(a, NULL, &c), 0);
	CHECK_INT(store_batch_end(a, true), 0);
	CHECK_INT(store_durable_seq(a), seq); /* in the journal, synced */
	CHECK(file_size(jpath) > 35);
	store_close(&a); /* the server is away: the queue stays on disk */
	CHECK(file_size(jpath) > 35);
	CHECK_INT(copy_file(jpath, copy), 0);

	CHECK_INT(pg_ctl("start"), 0);
	for (int i = 0; i < 300 && store_open(&b, url, err, sizeof(err)) != 0; i++)
		sleep_ms(100);
	CHECK(b != NULL);
	CHECK_INT(store_node_attach(b, "node-1", jpath, &replayed), 0);
	CHECK_INT(replayed, 3);
	CHECK_INT(file_size(jpath), 35); /* emptied once the database has it */
	n = 0;
	CHECK_INT(store_regs_list_aor(b, "sip:alice@example.test", count_reg, &n), 0);
	CHECK_INT(n, 2);
	n = 0;
	CHECK_INT(store_cdr_list(b, 0, NULL, count_cdr, &n), 0);
	CHECK_INT(n, 1);
	store_close(&b);

	/* A crash after the commit, before the file was emptied: the same
	 * records again are skipped (the call record is not doubled). */
	CHECK_INT(copy_file(copy, jpath), 0);
	CHECK_INT(store_open(&b, url, err, sizeof(err)), 0);
	CHECK_INT(store_node_attach(b, "node-1", jpath, &replayed), 0);
	CHECK_INT(replayed, 0);
	CHECK_INT(file_size(jpath), 35);
	n = 0;
	CHECK_INT(store_cdr_list(b, 0, NULL, count_cdr, &n), 0);
	CHECK_INT(n, 1);
	/* and new records are numbered past the mark, so a later replay of
	 * them is not mistaken for the old ones */
	CHECK_INT(pg_ctl("stop -m fast"), 0);
	make_cdr(&c, "call-k");
	CHECK_INT(store_batch_begin(b), 0);
	CHECK_INT(store_cdr_add(b, NULL, &c), 0);
	CHECK_INT(store_batch_end(b, true), 0);
	store_close(&b);
	CHECK_INT(pg_ctl("start"), 0);
	for (int i = 0; i < 300 && store_open(&b, url, err, sizeof(err)) != 0; i++)
		sleep_ms(100);
	CHECK(b != NULL);
	CHECK_INT(store_node_attach(b, "node-1", jpath, &replayed), 0);
	CHECK_INT(replayed, 1);
	n = 0;
	CHECK_INT(store_cdr_list(b, 0, NULL, count_cdr, &n), 0);
	CHECK_INT(n, 2);
	/* a second process may not share the journal */
	CHECK_INT(store_open(&a, url, err, sizeof(err)), 0);
	CHECK_INT(store_node_attach(a, "node-1", jpath, NULL), EBUSY);
	store_close(&a);
	store_close(&b);

	/* Without a journal, a batch queued in memory is not durable. */
	CHECK_INT(store_open(&a, url, err, sizeof(err)), 0);
	CHECK_INT(pg_ctl("stop -m fast"), 0);
	seq = store_batch_next_seq(a);
	CHECK_INT(store_batch_begin(a), 0);
	make_cdr(&c, "call-m");
	CHECK_INT(store_cdr_add(a, NULL, &c), 0);
	CHECK_INT(store_batch_end(a, true), 0);
	CHECK_INT(store_durable_seq(a), seq - 1);
	CHECK_INT(pg_ctl("start"), 0);
	for (int i = 0; i < 6000 && store_durable_seq(a) < seq; i++) {
		uint64_t v;

		(void)store_users_version(a, &v); /* the server's poll */
		sleep_ms(10);
	}
	CHECK_INT(store_durable_seq(a), seq);
	store_close(&a);
	unlink(jpath);
	unlink(copy);
}

static int keep_dialog(void *arg, const struct store_dialog *d)
{
	struct store_dialog *out = arg;

	*out = *d;
	out->start_at++; /* counts calls in start_at's spare room: see the caller */
	return 0;
}

static int count_dialog(void *arg, const struct store_dialog *d)
{
	(void)d;
	(*(size_t *)arg)++;
	return 0;
}

static int count_lock(void *arg, const char *name, int64_t until)
{
	if (strcmp(name, "alice") == 0 && until > 0)
		(*(size_t *)arg)++;
	return 0;
}

/* Per-user digest, reg-id, node-owned dialogs and shared user locks. */
static void digest_dialogs_and_locks(void)
{
	char url[512], err[512];
	struct store *a = NULL, *b = NULL;
	struct store_user u;
	struct store_reg r;
	struct store_dialog d, got;
	int64_t uid = 0, v0 = 0, v1 = 0;
	size_t n = 0;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&a, url, err, sizeof(err)), 0);
	CHECK_INT(store_open(&b, url, err, sizeof(err)), 0);
	CHECK_INT(store_node_attach(a, "node-a", NULL, NULL), 0);
	CHECK_INT(store_node_attach(b, "node-b", NULL, NULL), 0);
	make_user(&u, "alice", "example.test");
	u.digest = STORE_DIGEST_MD5;
	CHECK_INT(store_users_add(a, &uid, &u), 0);
	CHECK_INT(store_users_get(b, &u, "alice", "example.test"), 0);
	CHECK_INT(u.digest, STORE_DIGEST_MD5);
	CHECK_INT(store_users_set_digest(a, "alice", "example.test", STORE_DIGEST_SHA256), 0);
	CHECK_INT(store_users_get(b, &u, "alice", "example.test"), 0);
	CHECK_INT(u.digest, STORE_DIGEST_SHA256);
	CHECK_INT(store_users_set_digest(a, "nobody", "example.test", STORE_DIGEST_MD5), ENOENT);

	make_reg(&r, uid, "sip:alice@example.test", "sip:alice@192.0.2.9");
	r.reg_id = 2147483647u;
	CHECK_INT(store_regs_upsert(a, NULL, &r), 0);
	memset(&r, 0, sizeof(r));
	{
		struct store_reg *rp = &r;

		CHECK_INT(store_regs_list_aor(b, "sip:alice@example.test", keep_reg, &rp), 0);
	}
	CHECK_INT(r.reg_id, 2147483647u);

	memset(&d, 0, sizeof(d));
	snprintf(d.call_id, sizeof(d.call_id), "dlg-1");
	snprintf(d.tag[0], sizeof(d.tag[0]), "from-tag");
	snprintf(d.tag[1], sizeof(d.tag[1]), "to-tag");
	snprintf(d.way[0], sizeof(d.way[0]), "udp:192.0.2.1:5060");
	snprintf(d.way[1], sizeof(d.way[1]), "udp:192.0.2.2:5060");
	snprintf(d.caller, sizeof(d.caller), "sip:alice@example.test");
	snprintf(d.callee, sizeof(d.callee), "sip:bob@example.test");
	snprintf(d.src, sizeof(d.src), "udp:192.0.2.1:5060");
	snprintf(d.transport, sizeof(d.transport), "udp");
	d.start_at = 1700000000000;
	d.answer_at = 1700000001000;
	d.expires_at = 1700003600000;
	d.emergency = true; /* schema 12: an emergency call's mark and location */
	snprintf(d.location, sizeof(d.location), "country=US;ROOM=12");
	CHECK_INT(store_batch_begin(a), 0); /* queued with its batch */
	CHECK_INT(store_dialogs_put(a, &d), 0);
	CHECK_INT(store_batch_end(a, true), 0);
	memset(&got, 0, sizeof(got));
	CHECK_INT(store_dialogs_list(a, keep_dialog, &got), 0);
	CHECK_INT(got.start_at, d.start_at + 1); /* exactly one */
	CHECK(strcmp(got.way[1], d.way[1]) == 0 && got.expires_at == d.expires_at &&
	      got.answer_at == d.answer_at && strcmp(got.tag[1], "to-tag") == 0);
	CHECK(got.emergency && strcmp(got.location, "country=US;ROOM=12") == 0);
	n = 0;
	CHECK_INT(store_dialogs_list(b, count_dialog, &n), 0);
	CHECK_INT(n, 0); /* node-a's call: node-b does not take it in */
	CHECK_INT(store_dialogs_delete(a, "dlg-1", "from-tag", "to-tag"), 0);
	n = 0;
	CHECK_INT(store_dialogs_list(a, count_dialog, &n), 0);
	CHECK_INT(n, 0);

	CHECK_INT(store_data_version(b, &v0), 0);
	CHECK_INT(store_locks_put(a, "alice", (int64_t)time(NULL) + 600), 0);
	CHECK_INT(store_locks_put(a, "alice", (int64_t)time(NULL) + 60), 0); /* later end wins */
	CHECK_INT(store_locks_put(a, "", 5), EINVAL);
	for (int i = 0; i < 500; i++) {
		CHECK_INT(store_data_version(b, &v1), 0);
		if (v1 != v0)
			break;
		sleep_ms(10);
	}
	CHECK(v1 != v0); /* node-b heard of the lock */
	n = 0;
	CHECK_INT(store_locks_list(b, (int64_t)time(NULL), count_lock, &n), 0);
	CHECK_INT(n, 1);
	n = 0;
	CHECK_INT(store_locks_list(b, (int64_t)time(NULL) + 300, count_lock, &n), 0);
	CHECK_INT(n, 1); /* 600 s, not 60 */
	n = 0;
	CHECK_INT(store_locks_list(b, (int64_t)time(NULL) + 700, count_lock, &n), 0);
	CHECK_INT(n, 0);
	store_close(&b);
	store_close(&a);
}


/*
 * A COMMIT whose answer is lost with the connection may have happened:
 * after reconnecting, queued records of the on-disk queue up to the
 * database's mark are dropped, not written twice. Simulated: while the
 * server is down the batch waits (in the journal); the "lost commit" is
 * made by hand (the row and the mark) before the handle reconnects.
 */
static void reconnect_skips_what_the_mark_has(void)
{
	char url[512], err[512], jpath[600], sql[4096];
	struct store *a = NULL;
	struct store_backend_stats st;
	struct store_cdr c;
	size_t n = 0;

	PG_ONLY();
	CHECK(getenv("BASTION_TEST_PG_CTL") != NULL);
	tmp_db(url, sizeof(url));
	snprintf(jpath, sizeof(jpath), "%s/amb.journal", tmp_dir);
	CHECK_INT(store_open(&a, url, err, sizeof(err)), 0);
	CHECK_INT(store_node_attach(a, "node-amb", jpath, NULL), 0);
	CHECK_INT(pg_ctl("stop -m fast"), 0);
	make_cdr(&c, "call-amb");
	CHECK_INT(store_batch_begin(a), 0);
	CHECK_INT(store_cdr_add(a, NULL, &c), 0);
	CHECK_INT(store_batch_end(a, true), 0);
	CHECK_INT(pg_ctl("start"), 0);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO cdrs (call_id, caller, callee, src, transport, start_at, answer_at,"
		 " end_at, final_status, duration_s, hangup) VALUES ('call-amb', '%s', '%s', '%s',"
		 " 'udp', %lld, 0, %lld, 486, 0, 'none');"
		 "INSERT INTO journal_marks (node, done) VALUES ('node-amb', 1)",
		 c.caller, c.callee, c.src, (long long)c.start_at, (long long)c.end_at);
	for (int i = 0; i < 300 && tmp_pg_exec(db_name(url), sql) != 0; i++)
		sleep_ms(100);
	for (int i = 0; i < 6000; i++) {
		uint64_t v;

		(void)store_users_version(a, &v); /* the server's poll */
		CHECK_INT(store_backend_stats(a, &st), 0);
		if (st.connected && st.queued == 0)
			break;
		sleep_ms(10);
	}
	CHECK(st.connected && st.queued == 0);
	CHECK_INT(store_cdr_list(a, 0, NULL, count_cdr, &n), 0);
	CHECK_INT(n, 1);
	store_close(&a);
	unlink(jpath);
}

static int count_ban(void *arg, const struct store_ban *b)
{
	(void)b;
	(*(size_t *)arg)++;
	return 0;
}

/* User changes inside a batch are one transaction here: a statement the
 * server refuses spoils it, so the later ones fail with the same error, and
 * committing the batch drops everything in it (the rotation made before the
 * failure and the batch's other writes) and returns that error. The next
 * batch starts clean. */
static void user_writes_in_a_batch_share_one_transaction(void)
{
	char url[512], err[512];
	struct store *s = NULL;
	struct store_user u, got;
	struct store_ban b;
	size_t n = 0;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&s, url, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.test");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	make_user(&u, "bob", "example.test");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	/* a constraint of the site's own that no rotation here can meet */
	CHECK_INT(tmp_pg_exec(db_name(url), "ALTER TABLE users ADD CONSTRAINT site_limit"
					    " CHECK (pw_deadline < 100000)"), 0);
	memset(&b, 0, sizeof(b));
	snprintf(b.addr, sizeof(b.addr), "192.0.2.9");
	b.until = 4000000000;
	b.count = 1;
	CHECK_INT(store_batch_begin(s), 0);
	CHECK_INT(store_users_rotate_password(s, "alice", "example.test", NULL, 5000, 0), 0);
	CHECK_INT(store_bans_put(s, &b), 0);
	CHECK_INT(store_users_rotate_password(s, "bob", "example.test", NULL, 200000, 0), EINVAL);
	CHECK_INT(store_users_rotate_password(s, "bob", "example.test", NULL, 6000, 0), EINVAL);
	CHECK_INT(store_batch_end(s, true), EINVAL);
	CHECK_INT(store_users_get(s, &got, "alice", "example.test"), 0);
	CHECK_INT(got.pw_deadline, 0);
	CHECK_INT(store_bans_list(s, 0, count_ban, &n), 0);
	CHECK_INT(n, 0);
	/* a clean batch afterwards */
	CHECK_INT(store_batch_begin(s), 0);
	CHECK_INT(store_users_rotate_password(s, "bob", "example.test", NULL, 6000, 0), 0);
	CHECK_INT(store_bans_put(s, &b), 0);
	CHECK_INT(store_batch_end(s, true), 0);
	CHECK_INT(store_users_get(s, &got, "bob", "example.test"), 0);
	CHECK_INT(got.pw_deadline, 6000);
	CHECK_INT(store_bans_list(s, 0, count_ban, &n), 0);
	CHECK_INT(n, 1);
	store_close(&s);
}

/* The password-rotation columns carry SQLite's CHECKs (migration 16): a bad
 * old realm, old HA1 (not lowercase hex of its length) or a negative
 * deadline written around Bastion is refused by the database itself; good
 * ones pass. A database at 15 holding a bad row fails the migration with
 * PostgreSQL's word naming the constraint and stays at 15 (nothing is
 * rewritten); corrected, it migrates. */
static void rotation_columns_checked(void)
{
	static const char *const bad[] = {
		"old_realm = repeat('r', 256)",
		"old_ha1_md5 = '0123456789abcdef0123456789abcde'",       /* 31 */
		"old_ha1_md5 = '0123456789ABCDEF0123456789ABCDEF'",      /* not lowercase */
		"old_ha1_md5 = '0123456789abcdef0123456789abcdeg'",
		"old_ha1_sha256 = repeat('0', 63)",
		"old_ha1_sha256 = repeat('a', 63) || 'x'",
		"old_ha1_sha256 = repeat('0', 65)",
		"pw_deadline = -1",
	};
	static const char *const good[] = {
		"old_realm = repeat('r', 255)",
		"old_ha1_md5 = '" MD5_A "'",
		"old_ha1_sha256 = repeat('0123456789abcdef', 4)",
		"pw_deadline = 0",
		"old_realm = '', old_ha1_md5 = '', old_ha1_sha256 = '', pw_deadline = 5000",
	};
	char url[512], err[512], sql[256];
	struct store *s = NULL;
	struct store_user u, got;
	int from = -1, v = 0;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&s, url, err, sizeof(err)), 0);
	make_user(&u, "alice", "example.test");
	CHECK_INT(store_users_add(s, NULL, &u), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(sql, sizeof(sql), "UPDATE users SET %s WHERE name = 'alice'", bad[i]);
		if (tmp_pg_exec(db_name(url), sql) != -1)
			check_fail(__FILE__, __LINE__, "accepted: %s", bad[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		snprintf(sql, sizeof(sql), "UPDATE users SET %s WHERE name = 'alice'", good[i]);
		if (tmp_pg_exec(db_name(url), sql) != 0)
			check_fail(__FILE__, __LINE__, "refused: %s", good[i]);
	}
	CHECK_INT(store_users_get(s, &got, "alice", "example.test"), 0);
	CHECK_INT(got.pw_deadline, 5000);
	store_close(&s);

	/* back to 15 with a bad row: the migration is refused, as a whole */
	CHECK_INT(tmp_pg_exec(db_name(url),
			      "ALTER TABLE users DROP CONSTRAINT users_old_realm_check,"
			      " DROP CONSTRAINT users_old_ha1_md5_check,"
			      " DROP CONSTRAINT users_old_ha1_sha256_check,"
			      " DROP CONSTRAINT users_pw_deadline_check;"
			      "UPDATE bastion_schema SET version = 15;"
			      "UPDATE users SET old_ha1_md5 = 'NOT-HEX', pw_deadline = 7000"
			      " WHERE name = 'alice'"), 0);
	CHECK(store_open_migrate(&s, url, &from, err, sizeof(err)) != 0);
	CHECK(s == NULL);
	CHECK(strstr(err, "migration 15 -> 16 failed") != NULL);
	CHECK(strstr(err, "users_old_ha1_md5_check") != NULL);
	CHECK_INT(tmp_pg_int(db_name(url), "SELECT version FROM bastion_schema"), 15);
	CHECK_INT(tmp_pg_int(db_name(url), "SELECT count(*) FROM users WHERE"
					   " old_ha1_md5 = 'NOT-HEX' AND pw_deadline = 7000"), 1);
	/* corrected: it migrates, and the CHECKs are there again */
	CHECK_INT(tmp_pg_exec(db_name(url), "UPDATE users SET old_ha1_md5 = ''"), 0);
	CHECK_INT(store_open_migrate(&s, url, &from, err, sizeof(err)), 0);
	CHECK_INT(from, 15);
	CHECK_INT(store_schema_version(s, &v), 0);
	CHECK_INT(v, store_schema_latest());
	CHECK_INT(tmp_pg_exec(db_name(url), "UPDATE users SET pw_deadline = -1") == -1, 1);
	store_close(&s);
}

/* ---- nonce epochs ---------------------------------------------------------------------------- */

struct epochs_seen {
	uint32_t epoch[8];
	bool held[8];
	char node[8][STORE_NODE_MAX];
	size_t n;
};

static int seen_epoch(void *arg, const struct store_epoch *e)
{
	struct epochs_seen *es = arg;

	if (es->n < 8) {
		es->epoch[es->n] = e->epoch;
		es->held[es->n] = e->held;
		memcpy(es->node[es->n], e->node, sizeof(es->node[0]));
		es->n++;
	}
	return 0;
}

static int seen_use(void *arg, uint64_t seq, uint32_t nc)
{
	uint64_t *sum = arg;

	*sum += seq * 1000 + nc;
	return 0;
}

/* Is epoch listed (held by the handle's node when *held)? */
static bool listed(const struct epochs_seen *es, uint32_t epoch, bool *held)
{
	for (size_t i = 0; i < es->n; i++)
		if (es->epoch[i] == epoch) {
			*held = es->held[i];
			return true;
		}
	return false;
}

/*
 * Node a starts epoch 11 with a short lease and records counts; node b sees
 * it held by a. a stops renewing (it "dies"): once the database's clock
 * passes the lease, b's round takes it over, exactly once, and reads a's
 * counts; a's next round sees it lost. The number cannot be started twice.
 */
static void nonce_epochs_lease_and_takeover(void)
{
	static const uint8_t key[STORE_EPOCH_KEY_LEN] = { 7, 7, 7 };
	char url[512], err[512];
	struct store *a = NULL, *b = NULL;
	struct epochs_seen es;
	uint64_t sum = 0;
	const uint32_t e11 = 11;
	bool held = false, more = true;
	int rounds = 0;

	PG_ONLY();
	tmp_db(url, sizeof(url));
	CHECK_INT(store_open(&a, url, err, sizeof(err)), 0);
	CHECK_INT(store_open(&b, url, err, sizeof(err)), 0);
	CHECK_INT(store_node_attach(a, "node-a", NULL, NULL), 0);
	CHECK_INT(store_node_attach(b, "node-b", NULL, NULL), 0);
	CHECK_INT(store_epoch_start(a, 0, key, 300), EINVAL);
	CHECK_INT(store_epoch_start(a, 11, key, 300), 0);
	CHECK_INT(store_epoch_start(b, 11, key, 300), EEXIST);
	CHECK_INT(store_nonce_use_put(a, 11, 5, 2), 0);
	CHECK_INT(store_nonce_use_put(a, 11, 5, 1), 0); /* the highest stays */
	CHECK_INT(store_nonce_use_put(a, 11, 6, 1), 0);
	CHECK_INT(store_nonce_use_put(a, 11, 4, 0), EINVAL);
	{
		/* many at once: more than one statement's worth, and the same
		 * nonce twice in one statement (its highest count stays) */
		struct store_nonce_use many[STORE_NONCE_USES_PER_WRITE + 44];
		uint64_t total = 0;

		for (size_t i = 0; i < ARRAY_SIZE(many); i++)
			many[i] = (struct store_nonce_use){ .epoch = 12, .seq = 100 + i, .nc = 1 };
		many[7].seq = 100;
		many[7].nc = 3;
		CHECK_INT(store_nonce_uses_put(a, many, ARRAY_SIZE(many)), 0);
		CHECK_INT(store_nonce_uses_list(a, 12, 1000, &more, seen_use, &total), 0);
		CHECK(!more);
		/* seqs 100..399 but 107, each with count 1; seq 100 with 3 */
		sum = 0;
		for (size_t i = 0; i < ARRAY_SIZE(many); i++)
			if (i != 7)
				sum += (100 + i) * 1000 + (i == 0 ? 3 : 1);
		CHECK(total == sum);
		sum = 0;
	}

	memset(&es, 0, sizeof(es));
	CHECK_INT(store_epochs_sync(a, &e11, 1, 300, 300, 8, seen_epoch, &es), 0);
	CHECK(listed(&es, 11, &held) && held);
	CHECK_SLICE(slice_cstr(es.node[0]), "node-a");
	/* an epoch a does not name as its own is not renewed, so not held */
	memset(&es, 0, sizeof(es));
	CHECK_INT(store_epochs_sync(a, NULL, 0, 300, 300, 0, seen_epoch, &es), 0);
	CHECK(listed(&es, 11, &held) && !held);
	memset(&es, 0, sizeof(es));
	/* b takes nothing while a's lease holds */
	CHECK_INT(store_epochs_sync(b, NULL, 0, 300, 300, 8, seen_epoch, &es), 0);
	CHECK(listed(&es, 11, &held) && !held);

	/* a stops renewing: wait (bounded) until b's round takes the epoch */
	do {
		sleep_ms(100);
		memset(&es, 0, sizeof(es));
		CHECK_INT(store_epochs_sync(b, NULL, 0, 300, 1, 8, seen_epoch, &es), 0);
	} while (!(listed(&es, 11, &held) && held) && ++rounds < 100);
	CHECK(held);
	CHECK_INT(store_nonce_uses_list(b, 11, 10, &more, seen_use, &sum), 0);
	CHECK(!more);
	CHECK(sum == 5002 + 6001);
	sum = 0;
	CHECK_INT(store_nonce_uses_list(b, 11, 1, &more, seen_use, &sum), 0);
	CHECK(more); /* newest first: seq 6 only */
	CHECK(sum == 6001);
	/* b's next round renews it as b's */
	memset(&es, 0, sizeof(es));
	CHECK_INT(store_epochs_sync(b, &e11, 1, 300, 1, 8, seen_epoch, &es), 0);
	CHECK(listed(&es, 11, &held) && held);
	/* a's round: the epoch is b's now; a renews nothing of it */
	memset(&es, 0, sizeof(es));
	CHECK_INT(store_epochs_sync(a, &e11, 1, 300, 300, 0, seen_epoch, &es), 0);
	CHECK(listed(&es, 11, &held) && !held);
	/* trimming */
	CHECK_INT(store_nonce_uses_trim(b, 11, 6), 0);
	sum = 0;
	CHECK_INT(store_nonce_uses_list(b, 11, 10, &more, seen_use, &sum), 0);
	CHECK(sum == 6001);
	/* an epoch taken over ends a lifetime (here 1 s) after its lease
	 * lapsed, with its counts: wait (bounded) for a round that deletes it */
	rounds = 0;
	do {
		sleep_ms(100);
		memset(&es, 0, sizeof(es));
		CHECK_INT(store_epochs_sync(b, &e11, 1, 300, 1, 8, seen_epoch, &es), 0);
	} while (listed(&es, 11, &held) && ++rounds < 100);
	CHECK(!listed(&es, 11, &held));
	sum = 0;
	CHECK_INT(store_nonce_uses_list(b, 11, 10, &more, seen_use, &sum), 0);
	CHECK(sum == 0);
	store_close(&a);
	store_close(&b);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(migrates_once_and_reopens),
		CASE(refuses_newer_schema),
		CASE(concurrent_migrations_serialised),
		CASE(connection_errors_are_clear),
		CASE(notifications_between_handles),
		CASE(write_behind_across_restart),
		CASE(batch_with_a_refused_row),
		CASE(emergency_columns),
		CASE(journal_replayed_exactly_once),
		CASE(digest_dialogs_and_locks),
		CASE(reconnect_skips_what_the_mark_has),
		CASE(user_writes_in_a_batch_share_one_transaction),
		CASE(nonce_epochs_lease_and_takeover),
		CASE(rotation_columns_checked),
	};
	int rc;

	if (tmp_init() != 0)
		return 1;
	rc = check_main("store_pg", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
