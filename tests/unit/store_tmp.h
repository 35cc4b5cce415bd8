/*
 * store_tmp: a scratch directory under /tmp for the store tests, one fresh
 * database path per case, everything removed when the suite ends (also after
 * failing cases, which return early).
 *
 * With BASTION_TEST_PG set (tests/tools/pgtmp.py run ... sets it to a server
 * it started, "postgresql://bastion@127.0.0.1:PORT/"), each case gets a fresh
 * PostgreSQL database instead, so the same cases test both backends. Cases
 * that look at SQLite's file directly start with SQLITE_ONLY().
 */
#ifndef BASTION_STORE_TMP_H
#define BASTION_STORE_TMP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

static char tmp_dir[64];
static unsigned tmp_seq;

static int tmp_init(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/bastion-store-XXXXXX");
	if (!mkdtemp(tmp_dir)) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

static const char *tmp_pg(void)
{
	const char *u = getenv("BASTION_TEST_PG");

	return u && *u ? u : NULL;
}

/* The case runs on SQLite only: it reads or changes the file directly. */
#define SQLITE_ONLY() \
	do { \
		if (tmp_pg()) \
			return; \
	} while (0)

/* Run SQL on the test server's database db; 0 or -1. */
static int tmp_pg_exec(const char *db, const char *sql)
{
	char url[512];
	PGconn *c;
	PGresult *r;
	int rc = -1;

	snprintf(url, sizeof(url), "%s%s", tmp_pg(), db);
	c = PQconnectdb(url);
	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, sql);
		rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK
			     ? 0
			     : -1;
		if (rc)
			fprintf(stderr, "tmp_pg_exec: %s", PQresultErrorMessage(r));
		PQclear(r);
	} else {
		fprintf(stderr, "tmp_pg_exec: %s", PQerrorMessage(c));
	}
	PQfinish(c);
	return rc;
}

/* One integer from SQL on the test server's database db; -1 on failure. */
__attribute__((unused)) static long long tmp_pg_int(const char *db, const char *sql)
{
	char url[512];
	PGconn *c;
	PGresult *r;
	long long v = -1;

	snprintf(url, sizeof(url), "%s%s", tmp_pg(), db);
	c = PQconnectdb(url);
	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	PQfinish(c);
	return v;
}

/* The database name at the end of a test URL from tmp_db(). */
__attribute__((unused)) static const char *tmp_pg_dbname(const char *url)
{
	const char *p = strrchr(url, '/');

	return p ? p + 1 : url;
}

/* A new database path in the scratch directory, or a new PostgreSQL
 * database (its URL) when testing that backend. */
static const char *tmp_db(char *buf, size_t cap)
{
	char sql[96], name[48];

	++tmp_seq;
	if (!tmp_pg()) {
		snprintf(buf, cap, "%s/db%u.sqlite", tmp_dir, tmp_seq);
		return buf;
	}
	snprintf(name, sizeof(name), "t%ld_%u", (long)getpid(), tmp_seq);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	if (tmp_pg_exec("postgres", sql) != 0)
		snprintf(name, sizeof(name), "cannot_create_database");
	snprintf(buf, cap, "%s%s", tmp_pg(), name);
	return buf;
}

static void tmp_cleanup(void)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmp_dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmp_dir);
}

#endif
