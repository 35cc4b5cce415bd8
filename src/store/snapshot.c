/*
 * store snapshot: a consistent copy of an SQLite database while others
 * (the running server) write to it, through SQLite's online backup API, for
 * `bastion backup`; and the integrity check `bastion backup verify` runs on
 * a restored copy. Kept apart from sqlite.c: it works on files, not on an
 * open store.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAPSHOT_BUSY_MS 5000
#define SNAPSHOT_PAGES 256      /* pages per step: a writer gets a turn between steps */
#define SNAPSHOT_MAX_STEPS 1000000

int store_snapshot(const char *src_path, const char *dst_path, char *err, size_t errlen)
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	int rc, fd, e = 0;

	/* the copy holds every secret of the database: create it 0600 first */
	fd = open(dst_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s", dst_path, strerror(e));
		return e;
	}
	close(fd);
	if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(dst_path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(src && dst ? dst : src ? src : dst));
		e = EIO;
		goto out;
	}
	sqlite3_busy_timeout(src, SNAPSHOT_BUSY_MS);
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(dst));
		e = EIO;
		goto out;
	}
	/* Copy in steps; if a writer changes the source between steps the
	 * backup restarts by itself, so the copy is one consistent snapshot. */
	rc = SQLITE_OK;
	for (int i = 0; i < SNAPSHOT_MAX_STEPS && (rc == SQLITE_OK || rc == SQLITE_BUSY ||
						    rc == SQLITE_LOCKED); i++) {
		rc = sqlite3_backup_step(b, SNAPSHOT_PAGES);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(10);
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "copying the database: %s", sqlite3_errstr(rc));
		e = rc == SQLITE_NOMEM ? ENOMEM : EIO;
	}
out:
	if (b && sqlite3_backup_finish(b) != SQLITE_OK && !e) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(dst));
		e = EIO;
	}
	sqlite3_close(src);
	if (dst && sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK &&
	    !e) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(dst));
		e = EIO;
	}
	sqlite3_close(dst);
	if (e)
		unlink(dst_path);
	return e;
}

int store_integrity_check(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int e = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", db ? sqlite3_errmsg(db) : "out of memory");
		e = EBADMSG;
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		e = EBADMSG;
		goto out;
	}
	if (!sqlite3_column_text(st, 0) ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		snprintf(err, errlen, "%s", sqlite3_column_text(st, 0)
						    ? (const char *)sqlite3_column_text(st, 0)
						    : "no answer");
		e = EBADMSG;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return e;
}
