/*
 * sqlite.c: the SQLite backend of the store interface.
 *
 * One connection per handle, configured for a server and an admin tool that
 * write the same file at once: WAL journal (readers never block the writer),
 * busy_timeout 5 s (a writer waits for the other instead of failing),
 * synchronous=NORMAL by default (durable across process crashes; a power cut
 * may lose the last commits but never corrupts; [store] durability = power
 * sets FULL through store_set_durability), foreign_keys=ON (registrations die
 * with their user), defensive mode and untrusted schema (a tampered file
 * cannot make us run its SQL functions or break the b-trees through SQL).
 *
 * The schema is versioned by PRAGMA user_version. migrations[i] brings a
 * database from version i to i+1, in one IMMEDIATE transaction that re-reads
 * the version first, so two processes opening a fresh file at once migrate it
 * exactly once. A database with a version above ours is refused: its meaning
 * is unknown to this build and writing to it could corrupt it.
 *
 * Every statement is prepared once at open with bound parameters; the only
 * SQL run as text is the constant migration and pragma strings below.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#define BUSY_TIMEOUT_MS 5000

/* ---- schema --------------------------------------------------------------- */

/* Append only: never edit a migration that has shipped, add the next one.
 * Each must end by setting user_version to its index + 1. */
static const char *const migrations[] = {
	/* 0 -> 1: users, registrations, meta; the users change counter. */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  value NOT NULL"
	");"
	"INSERT INTO meta(key, value) VALUES ('users_gen', 0);"
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 127),"
	"  domain TEXT NOT NULL COLLATE NOCASE CHECK (length(domain) BETWEEN 1 AND 255),"
	"  realm TEXT NOT NULL CHECK (length(realm) BETWEEN 1 AND 255),"
	"  ha1_md5 TEXT NOT NULL CHECK (ha1_md5 = '' OR (length(ha1_md5) = 32"
	"    AND ha1_md5 NOT GLOB '*[^0-9a-f]*')),"
	"  ha1_sha256 TEXT NOT NULL CHECK (ha1_sha256 = '' OR (length(ha1_sha256) = 64"
	"    AND ha1_sha256 NOT GLOB '*[^0-9a-f]*')),"
	"  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
	"  password_strength TEXT NOT NULL CHECK (password_strength IN ('checked', 'unknown')),"
	"  created_at INTEGER NOT NULL,"
	"  changed_at INTEGER NOT NULL,"
	"  CHECK (ha1_md5 <> '' OR ha1_sha256 <> ''),"
	"  UNIQUE (name, domain)"
	");"
	"CREATE TABLE registrations ("
	"  id INTEGER PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  aor TEXT NOT NULL,"
	"  contact TEXT NOT NULL,"
	"  received TEXT NOT NULL,"
	"  transport TEXT NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  call_id TEXT NOT NULL,"
	"  cseq INTEGER NOT NULL CHECK (cseq BETWEEN 0 AND 4294967295),"
	"  user_agent TEXT NOT NULL DEFAULT '',"
	"  instance TEXT NOT NULL DEFAULT '',"
	"  q INTEGER NOT NULL DEFAULT 1000 CHECK (q BETWEEN 0 AND 1000),"
	"  UNIQUE (aor, contact)"
	");"
	"CREATE INDEX registrations_user ON registrations(user_id);"
	"CREATE INDEX registrations_expires ON registrations(expires_at);"
	"CREATE TRIGGER users_gen_insert AFTER INSERT ON users BEGIN"
	"  UPDATE meta SET value = value + 1 WHERE key = 'users_gen'; END;"
	"CREATE TRIGGER users_gen_update AFTER UPDATE ON users BEGIN"
	"  UPDATE meta SET value = value + 1 WHERE key = 'users_gen'; END;"
	"CREATE TRIGGER users_gen_delete AFTER DELETE ON users BEGIN"
	"  UPDATE meta SET value = value + 1 WHERE key = 'users_gen'; END;"
	"PRAGMA user_version = 1;",
	/* 1 -> 2: extra identities a user may put in From (policy/identity.c);
	 * they count as a change of users, so credential caches reload them. */
	"CREATE TABLE identities ("
	"  id INTEGER PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  uri TEXT NOT NULL CHECK (length(uri) BETWEEN 1 AND 1023),"
	"  UNIQUE (user_id, uri)"
	");"
	"CREATE TRIGGER identities_gen_insert AFTER INSERT ON identities BEGIN"
	"  UPDATE meta SET value = value + 1 WHERE key = 'users_gen'; END;"
	"CREATE TRIGGER identities_gen_update AFTER UPDATE ON identities BEGIN"
	"  UPDATE meta SET value = value + 1 WHERE key = 'users_gen'; END;"
	"CREATE TRIGGER identities_gen_delete AFTER DELETE ON identities BEGIN"
	"  UPDATE meta SET value = value + 1 WHERE key = 'users_gen'; END;"
	"PRAGMA user_version = 2;",
	/* 2 -> 3: call detail records, one row per call attempt, never updated.
	 * Times in unix milliseconds. Not unique on call_id: a Call-ID may carry
	 * several attempts (a retry after a challenge, a re-INVITE). */
	"CREATE TABLE cdrs ("
	"  id INTEGER PRIMARY KEY,"
	"  call_id TEXT NOT NULL CHECK (length(call_id) BETWEEN 1 AND 255),"
	"  caller TEXT NOT NULL CHECK (length(caller) BETWEEN 1 AND 1023),"
	"  auth_user TEXT NOT NULL DEFAULT '' CHECK (length(auth_user) <= 127),"
	"  callee TEXT NOT NULL CHECK (length(callee) BETWEEN 1 AND 1023),"
	"  src TEXT NOT NULL CHECK (length(src) BETWEEN 1 AND 63),"
	"  transport TEXT NOT NULL CHECK (length(transport) BETWEEN 1 AND 7),"
	"  start_at INTEGER NOT NULL CHECK (start_at > 0),"
	"  answer_at INTEGER NOT NULL DEFAULT 0,"
	"  end_at INTEGER NOT NULL,"
	"  final_status INTEGER NOT NULL CHECK (final_status BETWEEN 200 AND 699),"
	"  duration_s INTEGER NOT NULL DEFAULT 0 CHECK (duration_s >= 0),"
	"  hangup TEXT NOT NULL"
	"    CHECK (hangup IN ('caller', 'callee', 'none', 'timeout', 'server')),"
	"  CHECK (end_at >= start_at),"
	"  CHECK (answer_at = 0 OR answer_at BETWEEN start_at AND end_at),"
	"  CHECK ((answer_at = 0) = (hangup = 'none'))"
	");"
	"CREATE INDEX cdrs_start ON cdrs(start_at);"
	"CREATE INDEX cdrs_user ON cdrs(auth_user, start_at);"
	"PRAGMA user_version = 3;",
	/* 3 -> 4: the guard's bans, one row per source key (guard_key_parse's
	 * text), so they survive a restart and the CLI can change them while the
	 * server runs. Rows outlive their ban until expired, keeping the count. */
	"CREATE TABLE bans ("
	"  addr TEXT PRIMARY KEY NOT NULL CHECK (length(addr) BETWEEN 1 AND 63),"
	"  until INTEGER NOT NULL,"
	"  count INTEGER NOT NULL CHECK (count >= 1),"
	"  reason TEXT NOT NULL CHECK (length(reason) <= 63),"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE INDEX bans_until ON bans(until);"
	"PRAGMA user_version = 4;",
	/* 4 -> 5: per-user mutual TLS (docs/tls.md): a user bound to its client
	 * certificate may register and call only over TLS with that certificate.
	 * Existing users stay unbound. An UPDATE of the flag fires
	 * users_gen_update, so credential caches reload it. */
	"ALTER TABLE users ADD COLUMN require_client_cert INTEGER NOT NULL DEFAULT 0"
	"  CHECK (require_client_cert IN (0, 1));"
	"PRAGMA user_version = 5;",
	/* 5 -> 6: confirmed dialogs, so that a restart keeps the calls in
	 * progress (docs/proxy.md). One row per dialog, written when the 2xx
	 * confirms it, deleted when a BYE ends it. */
	"CREATE TABLE dialogs ("
	"  call_id TEXT NOT NULL CHECK (length(call_id) BETWEEN 1 AND 255),"
	"  tag0 TEXT NOT NULL CHECK (length(tag0) BETWEEN 1 AND 127),"
	"  tag1 TEXT NOT NULL CHECK (length(tag1) BETWEEN 1 AND 127),"
	"  way0 TEXT NOT NULL, way1 TEXT NOT NULL,"
	"  local0 TEXT NOT NULL, local1 TEXT NOT NULL,"
	"  caller TEXT NOT NULL, auth_user TEXT NOT NULL, callee TEXT NOT NULL,"
	"  src TEXT NOT NULL, transport TEXT NOT NULL,"
	"  start_at INTEGER NOT NULL, answer_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  PRIMARY KEY (call_id, tag0, tag1)"
	");"
	"PRAGMA user_version = 6;",
	/* 6 -> 7: the digest algorithms each user is challenged with (`bastion
	 * user set NAME --digest`): 0 the site's [auth] algorithms, 1 MD5, 2
	 * SHA-256, 3 both. Existing users follow the site. The UPDATE fires
	 * users_gen_update, so credential caches reload it. */
	"ALTER TABLE users ADD COLUMN digest INTEGER NOT NULL DEFAULT 0"
	"  CHECK (digest BETWEEN 0 AND 3);"
	/* and the RFC 5626 reg-id of a binding (0: none), which with its
	 * +sip.instance names one flow of one device. */
	"ALTER TABLE registrations ADD COLUMN reg_id INTEGER NOT NULL DEFAULT 0"
	"  CHECK (reg_id BETWEEN 0 AND 2147483647);"
	"PRAGMA user_version = 7;",
	/* 7 -> 8: calls beyond the building (docs/trunks.md). A user's calling
	 * class ('' follows bastion.conf) and toll-fraud hold (a reason, '' for
	 * none) live with the user, so every node agrees and a restart keeps a
	 * hold; an UPDATE fires users_gen_update, so caches reload them. Call
	 * records (and the dialogs that carry one) gain the peer, the number's
	 * class, the number as dialed and in E.164. */
	"ALTER TABLE users ADD COLUMN calling TEXT NOT NULL DEFAULT ''"
	"  CHECK (calling IN ('', 'internal', 'local', 'national', 'international', 'premium'));"
	"ALTER TABLE users ADD COLUMN fraud_hold TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(fraud_hold) <= 255);"
	"ALTER TABLE users ADD COLUMN fraud_hold_at INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE cdrs ADD COLUMN peer TEXT NOT NULL DEFAULT '' CHECK (length(peer) <= 31);"
	"ALTER TABLE cdrs ADD COLUMN class TEXT NOT NULL DEFAULT '' CHECK (length(class) <= 15);"
	"ALTER TABLE cdrs ADD COLUMN dialed TEXT NOT NULL DEFAULT '' CHECK (length(dialed) <= 127);"
	"ALTER TABLE cdrs ADD COLUMN number TEXT NOT NULL DEFAULT '' CHECK (length(number) <= 23);"
	"ALTER TABLE dialogs ADD COLUMN peer TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE dialogs ADD COLUMN class TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE dialogs ADD COLUMN dialed TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE dialogs ADD COLUMN number TEXT NOT NULL DEFAULT '';"
	/* a dialog whose INVITE we resubmitted with a carrier's credentials
	 * shifts the caller's CSeqs by this much toward the callee */
	"ALTER TABLE dialogs ADD COLUMN cseq_delta INTEGER NOT NULL DEFAULT 0"
	"  CHECK (cseq_delta BETWEEN 0 AND 1000);"
	"PRAGMA user_version = 8;",
	/* 8 -> 9: password rotation with a deadline (`bastion rotate --passwords
	 * --deadline`): the password before the rotation (old_*), accepted until
	 * pw_deadline; without an old HA1, the current password must be changed
	 * by pw_deadline. 0: no deadline. The UPDATEs fire users_gen_update, so
	 * credential caches reload them. */
	"ALTER TABLE users ADD COLUMN old_realm TEXT NOT NULL DEFAULT ''"
	"  CHECK (length(old_realm) <= 255);"
	"ALTER TABLE users ADD COLUMN old_ha1_md5 TEXT NOT NULL DEFAULT ''"
	"  CHECK (old_ha1_md5 = '' OR (length(old_ha1_md5) = 32"
	"    AND old_ha1_md5 NOT GLOB '*[^0-9a-f]*'));"
	"ALTER TABLE users ADD COLUMN old_ha1_sha256 TEXT NOT NULL DEFAULT ''"
	"  CHECK (old_ha1_sha256 = '' OR (length(old_ha1_sha256) = 64"
	"    AND old_ha1_sha256 NOT GLOB '*[^0-9a-f]*'));"
	"ALTER TABLE users ADD COLUMN pw_deadline INTEGER NOT NULL DEFAULT 0"
	"  CHECK (pw_deadline >= 0);"
	"PRAGMA user_version = 9;",
	/* 9 -> 10: several nodes, in step with pg.c (one node here): a dialog's
	 * owning node (always '' here), the guard's user locks (kept across a
	 * restart), and the journal marks of a remote store's on-disk queue
	 * (unused here). */
	"ALTER TABLE dialogs ADD COLUMN node TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE locks ("
	"  name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 127),"
	"  until INTEGER NOT NULL CHECK (until > 0),"
	"  created_at INTEGER NOT NULL"
	");"
	"CREATE TABLE journal_marks ("
	"  node TEXT PRIMARY KEY CHECK (length(node) BETWEEN 1 AND 64),"
	"  done INTEGER NOT NULL CHECK (done >= 0)"
	");"
	"PRAGMA user_version = 10;",
	/* 10 -> 11: emergency calls (docs/emergency.md): each user's civic
	 * location (`bastion user set NAME --location`), and the call records
	 * of emergency calls marked, with the location that was sent. */
	"ALTER TABLE users ADD COLUMN location TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE cdrs ADD COLUMN emergency INTEGER NOT NULL DEFAULT 0"
	"  CHECK (emergency IN (0, 1));"
	"ALTER TABLE cdrs ADD COLUMN location TEXT NOT NULL DEFAULT '';"
	"PRAGMA user_version = 11;",
	/* 11 -> 12: a kept dialog of an emergency call keeps its mark and the
	 * location sent, so the call restored after a restart is still an
	 * emergency call (its record, [emergency] max_calls, the dialog reserve). */
	"ALTER TABLE dialogs ADD COLUMN emergency INTEGER NOT NULL DEFAULT 0"
	"  CHECK (emergency IN (0, 1));"
	"ALTER TABLE dialogs ADD COLUMN location TEXT NOT NULL DEFAULT '';"
	"PRAGMA user_version = 12;",
	/* 12 -> 13: the toll-fraud counters of users and peers (calls per
	 * hour, minutes per day; docs/trunks.md, Limits), kept across a
	 * restart: one row per key and node ('' here), the counts as text
	 * (trunk_usage_encode), written behind in the call records' batches. */
	"CREATE TABLE fraud_counts ("
	"  key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 159),"
	"  node TEXT NOT NULL DEFAULT '' CHECK (length(node) <= 64),"
	"  counts TEXT NOT NULL CHECK (length(counts) BETWEEN 1 AND 1023),"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (key, node)"
	");"
	"PRAGMA user_version = 13;",
	/* 13 -> 14: nothing here. pg.c's 14 adds the nonce epochs of several
	 * nodes (store_epoch*), which one SQLite file never has; the number
	 * moves so that both backends count the same versions. */
	"PRAGMA user_version = 14;",
	/* 14 -> 15: the call records' table again, with the same columns, rows
	 * and rules, but its hangup CHECK spelt as five comparisons instead of
	 * "hangup IN (five names)". SQLite checks an IN list of more than two
	 * constants by building a temporary b-tree of the list, once per
	 * INSERT: 34,000 of the 56,000 instructions of a call record's
	 * insert. SQLite cannot change a CHECK in place, so the
	 * rows move to a new table (once, at the first start of this build). */
	"CREATE TABLE cdrs_15 ("
	"  id INTEGER PRIMARY KEY,"
	"  call_id TEXT NOT NULL CHECK (length(call_id) BETWEEN 1 AND 255),"
	"  caller TEXT NOT NULL CHECK (length(caller) BETWEEN 1 AND 1023),"
	"  auth_user TEXT NOT NULL DEFAULT '' CHECK (length(auth_user) <= 127),"
	"  callee TEXT NOT NULL CHECK (length(callee) BETWEEN 1 AND 1023),"
	"  src TEXT NOT NULL CHECK (length(src) BETWEEN 1 AND 63),"
	"  transport TEXT NOT NULL CHECK (length(transport) BETWEEN 1 AND 7),"
	"  start_at INTEGER NOT NULL CHECK (start_at > 0),"
	"  answer_at INTEGER NOT NULL DEFAULT 0,"
	"  end_at INTEGER NOT NULL,"
	"  final_status INTEGER NOT NULL CHECK (final_status BETWEEN 200 AND 699),"
	"  duration_s INTEGER NOT NULL DEFAULT 0 CHECK (duration_s >= 0),"
	"  hangup TEXT NOT NULL"
	"    CHECK (hangup = 'caller' OR hangup = 'callee' OR hangup = 'none'"
	"      OR hangup = 'timeout' OR hangup = 'server'),"
	"  peer TEXT NOT NULL DEFAULT '' CHECK (length(peer) <= 31),"
	"  class TEXT NOT NULL DEFAULT '' CHECK (length(class) <= 15),"
	"  dialed TEXT NOT NULL DEFAULT '' CHECK (length(dialed) <= 127),"
	"  number TEXT NOT NULL DEFAULT '' CHECK (length(number) <= 23),"
	"  emergency INTEGER NOT NULL DEFAULT 0 CHECK (emergency IN (0, 1)),"
	"  location TEXT NOT NULL DEFAULT '',"
	"  CHECK (end_at >= start_at),"
	"  CHECK (answer_at = 0 OR answer_at BETWEEN start_at AND end_at),"
	"  CHECK ((answer_at = 0) = (hangup = 'none'))"
	");"
	"INSERT INTO cdrs_15 (id, call_id, caller, auth_user, callee, src, transport, start_at,"
	"  answer_at, end_at, final_status, duration_s, hangup, peer, class, dialed, number,"
	"  emergency, location)"
	" SELECT id, call_id, caller, auth_user, callee, src, transport, start_at,"
	"  answer_at, end_at, final_status, duration_s, hangup, peer, class, dialed, number,"
	"  emergency, location FROM cdrs;"
	"DROP TABLE cdrs;"
	"ALTER TABLE cdrs_15 RENAME TO cdrs;"
	"CREATE INDEX cdrs_start ON cdrs(start_at);"
	"CREATE INDEX cdrs_user ON cdrs(auth_user, start_at);"
	"PRAGMA user_version = 15;",
	/* 15 -> 16: nothing here. pg.c's 16 adds the CHECKs this file's 9 gave
	 * the password-rotation columns; the number moves so that both
	 * backends count the same versions. */
	"PRAGMA user_version = 16;",
};

int store_sqlite_schema_latest(void)
{
	return (int)ARRAY_SIZE(migrations);
}

/* ---- prepared statements ----------------------------------------------------- */

enum stmt_id {
	ST_BEGIN_READ,
	ST_BEGIN_WRITE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_USER_VERSION,
	ST_DATA_VERSION,
	ST_USERS_GEN,
	ST_USER_ADD,
	ST_USER_GET,
	ST_USERS_LIST,
	ST_USER_SET_PASSWORD,
	ST_USER_ROTATE,
	ST_USER_MUST_CHANGE,
	ST_USERS_MOVE_DEADLINE,
	ST_USER_SET_ENABLED,
	ST_USER_SET_CLIENT_CERT,
	ST_USER_SET_DIGEST,
	ST_USER_SET_LOCATION,
	ST_USER_GET_LOCATION,
	ST_USER_SET_CALLING,
	ST_USER_SET_FRAUD_HOLD,
	ST_USER_DELETE,
	ST_REG_UPSERT,
	ST_REG_DELETE,
	ST_REG_DELETE_AOR,
	ST_REG_LIST_AOR,
	ST_REG_LIST_ALL,
	ST_REG_EXPIRE,
	ST_ID_ADD,
	ST_ID_DELETE,
	ST_ID_LIST,
	ST_ID_LIST_ALL,
	ST_CDR_ADD,
	ST_CDR_LIST,
	ST_CDR_LIST_USER,
	ST_BAN_PUT,
	ST_BAN_DELETE,
	ST_BAN_LIST,
	ST_BAN_EXPIRE,
	ST_DLG_PUT,
	ST_DLG_DELETE,
	ST_DLG_LIST,
	ST_LOCK_PUT,
	ST_LOCK_LIST,
	ST_LOCK_EXPIRE,
	ST_FRAUD_PUT,
	ST_FRAUD_LIST,
	ST_FRAUD_EXPIRE,
	ST__COUNT
};

/* the columns of each kind of record: internal.h, read by row.c */
#define CDR_COLS STORE_CDR_COLS
#define USER_COLS STORE_USER_COLS
#define REG_COLS STORE_REG_COLS

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN_READ] = "BEGIN DEFERRED",
	[ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_USER_VERSION] = "PRAGMA user_version",
	[ST_DATA_VERSION] = "PRAGMA data_version",
	[ST_USERS_GEN] = "SELECT value FROM meta WHERE key = 'users_gen'",
	[ST_USER_ADD] = "INSERT INTO users (name, domain, realm, ha1_md5, ha1_sha256, enabled,"
			" password_strength, created_at, changed_at, require_client_cert, digest)"
			" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
	[ST_USER_GET] = "SELECT " USER_COLS " FROM users WHERE name = ?1 AND domain = ?2",
	[ST_USERS_LIST] = "SELECT " USER_COLS " FROM users ORDER BY domain, name",
	[ST_USER_SET_PASSWORD] = "UPDATE users SET realm = ?3, ha1_md5 = ?4, ha1_sha256 = ?5,"
				 " password_strength = ?6, changed_at = ?7, old_realm = '',"
				 " old_ha1_md5 = '', old_ha1_sha256 = '', pw_deadline = 0"
				 " WHERE name = ?1 AND domain = ?2",
	/* the right-hand sides read the row as it was: old_* get the password
	 * being replaced */
	[ST_USER_ROTATE] = "UPDATE users SET old_realm = realm, old_ha1_md5 = ha1_md5,"
			   " old_ha1_sha256 = ha1_sha256, realm = ?3, ha1_md5 = ?4,"
			   " ha1_sha256 = ?5, password_strength = ?6, changed_at = ?7,"
			   " pw_deadline = ?8 WHERE name = ?1 AND domain = ?2",
	[ST_USER_MUST_CHANGE] = "UPDATE users SET old_realm = '', old_ha1_md5 = '',"
				" old_ha1_sha256 = '', pw_deadline = ?8"
				" WHERE name = ?1 AND domain = ?2",
	[ST_USERS_MOVE_DEADLINE] = "UPDATE users SET pw_deadline = ?1 WHERE pw_deadline <> 0",
	[ST_USER_SET_ENABLED] = "UPDATE users SET enabled = ?3 WHERE name = ?1 AND domain = ?2",
	[ST_USER_SET_CLIENT_CERT] = "UPDATE users SET require_client_cert = ?3"
				    " WHERE name = ?1 AND domain = ?2",
	[ST_USER_SET_DIGEST] = "UPDATE users SET digest = ?3 WHERE name = ?1 AND domain = ?2",
	[ST_USER_SET_LOCATION] = "UPDATE users SET location = ?3 WHERE name = ?1 AND domain = ?2",
	[ST_USER_GET_LOCATION] = "SELECT location FROM users WHERE name = ?1 AND domain = ?2",
	[ST_USER_SET_CALLING] = "UPDATE users SET calling = ?3 WHERE name = ?1 AND domain = ?2",
	[ST_USER_SET_FRAUD_HOLD] = "UPDATE users SET fraud_hold = ?3, fraud_hold_at = ?4"
				   " WHERE name = ?1 AND domain = ?2",
	[ST_USER_DELETE] = "DELETE FROM users WHERE name = ?1 AND domain = ?2",
	[ST_REG_UPSERT] = "INSERT INTO registrations (user_id, aor, contact, received, transport,"
			  " expires_at, call_id, cseq, user_agent, instance, q, reg_id)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
			  " ON CONFLICT (aor, contact) DO UPDATE SET"
			  " user_id = excluded.user_id, received = excluded.received,"
			  " transport = excluded.transport, expires_at = excluded.expires_at,"
			  " call_id = excluded.call_id, cseq = excluded.cseq,"
			  " user_agent = excluded.user_agent, instance = excluded.instance,"
			  " reg_id = excluded.reg_id,"
			  " q = excluded.q"
			  " RETURNING id",
	[ST_REG_DELETE] = "DELETE FROM registrations WHERE aor = ?1 AND contact = ?2",
	[ST_REG_DELETE_AOR] = "DELETE FROM registrations WHERE aor = ?1",
	[ST_REG_LIST_AOR] = "SELECT " REG_COLS " FROM registrations WHERE aor = ?1"
			    " ORDER BY q DESC, expires_at DESC, id",
	[ST_REG_LIST_ALL] = "SELECT " REG_COLS " FROM registrations ORDER BY id",
	[ST_REG_EXPIRE] = "DELETE FROM registrations WHERE expires_at <= ?1",
	[ST_ID_ADD] = "INSERT INTO identities (user_id, uri)"
		      " SELECT id, ?3 FROM users WHERE name = ?1 AND domain = ?2",
	[ST_ID_DELETE] = "DELETE FROM identities WHERE uri = ?3 AND user_id ="
			 " (SELECT id FROM users WHERE name = ?1 AND domain = ?2)",
	[ST_ID_LIST] = "SELECT " STORE_IDENTITY_COLS " FROM identities i"
		       " JOIN users u ON u.id = i.user_id"
		       " WHERE u.name = ?1 AND u.domain = ?2 ORDER BY i.uri",
	[ST_ID_LIST_ALL] = "SELECT " STORE_IDENTITY_COLS " FROM identities i"
			   " JOIN users u ON u.id = i.user_id ORDER BY i.user_id, i.uri",
	[ST_CDR_ADD] = "INSERT INTO cdrs (call_id, caller, auth_user, callee, src, transport,"
		       " start_at, answer_at, end_at, final_status, duration_s, hangup, peer, class,"
		       " dialed, number, emergency, location)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
		       " ?16, ?17, ?18)",
	/* Two statements rather than "(?2 IS NULL OR auth_user = ?2)", so that
	 * each can use its index. */
	[ST_CDR_LIST] = "SELECT " CDR_COLS " FROM cdrs WHERE start_at >= ?1"
			" ORDER BY start_at, id",
	[ST_CDR_LIST_USER] = "SELECT " CDR_COLS " FROM cdrs WHERE auth_user = ?2"
			     " AND start_at >= ?1 ORDER BY start_at, id",
	[ST_BAN_PUT] = "INSERT INTO bans (addr, until, count, reason, created_at)"
		       " VALUES (?1, ?2, ?3, ?4, ?5)"
		       " ON CONFLICT (addr) DO UPDATE SET until = excluded.until,"
		       " count = excluded.count, reason = excluded.reason,"
		       " created_at = excluded.created_at",
	[ST_BAN_DELETE] = "DELETE FROM bans WHERE addr = ?1",
	[ST_BAN_LIST] = "SELECT " STORE_BAN_COLS " FROM bans"
			" WHERE until > ?1 ORDER BY until, addr",
	[ST_BAN_EXPIRE] = "DELETE FROM bans WHERE until <= ?1",
	[ST_DLG_PUT] = "INSERT OR REPLACE INTO dialogs (call_id, tag0, tag1, way0, way1, local0,"
		       " local1, caller, auth_user, callee, src, transport, start_at, answer_at,"
		       " expires_at, peer, class, dialed, number, cseq_delta, emergency, location)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
		       " ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
	[ST_DLG_DELETE] = "DELETE FROM dialogs WHERE call_id = ?1 AND tag0 = ?2 AND tag1 = ?3",
	[ST_DLG_LIST] = "SELECT " STORE_DIALOG_COLS " FROM dialogs ORDER BY expires_at",
	[ST_LOCK_PUT] = "INSERT INTO locks (name, until, created_at) VALUES (?1, ?2, ?3)"
			" ON CONFLICT (name) DO UPDATE SET until = excluded.until"
			" WHERE locks.until < excluded.until",
	[ST_LOCK_LIST] = "SELECT name, until FROM locks WHERE until > ?1 ORDER BY name",
	[ST_LOCK_EXPIRE] = "DELETE FROM locks WHERE until <= ?1",
	[ST_FRAUD_PUT] = "INSERT INTO fraud_counts (key, node, counts, updated_at)"
			 " VALUES (?1, '', ?2, ?3) ON CONFLICT (key, node) DO UPDATE SET"
			 " counts = excluded.counts, updated_at = excluded.updated_at",
	[ST_FRAUD_LIST] = "SELECT key, node = '', counts FROM fraud_counts WHERE updated_at > ?1"
			  " AND (?2 = 0 OR node <> '') ORDER BY key, node",
	[ST_FRAUD_EXPIRE] = "DELETE FROM fraud_counts WHERE updated_at <= ?1",
};

struct sqlite_store {
	struct store base; /* first: the dispatcher casts between the two */
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	/* store_users_version() fast path; see store.h. */
	int64_t data_version;
	uint64_t users_gen;
	bool gen_valid; /* false after a write through this handle */
};

static struct sqlite_store *sq(struct store *s)
{
	return (struct sqlite_store *)s;
}

/* ---- errors ------------------------------------------------------------------ */

/* Map an SQLite result code to our errno values and keep SQLite's words. */
static int map_err(struct sqlite_store *ss, int rc)
{
	int e;

	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		e = EEXIST;
		break;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		e = ENOENT;
		break;
	case SQLITE_NOMEM:
		e = ENOMEM;
		break;
	case SQLITE_FULL:
		e = ENOSPC;
		break;
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_CANTOPEN:
		e = EACCES;
		break;
	default:
		switch (rc & 0xff) {
		case SQLITE_CONSTRAINT:
		case SQLITE_MISMATCH:
		case SQLITE_RANGE:
			e = EINVAL;
			break;
		case SQLITE_BUSY:
		case SQLITE_LOCKED:
			e = EBUSY;
			break;
		case SQLITE_READONLY:
			e = EROFS;
			break;
		case SQLITE_NOMEM:
			e = ENOMEM;
			break;
		case SQLITE_FULL:
			e = ENOSPC;
			break;
		case SQLITE_CANTOPEN:
		case SQLITE_PERM:
			e = EACCES;
			break;
		default:
			e = EIO;
		}
	}
	store_set_err(&ss->base, "sqlite: %s", ss->db ? sqlite3_errmsg(ss->db) : sqlite3_errstr(rc));
	return e;
}

/* Reset a statement after use so it holds no read lock and no stale bindings. */
static void done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Run a statement that returns no rows. */
static int exec_st(struct sqlite_store *ss, enum stmt_id id)
{
	sqlite3_stmt *st = ss->st[id];
	int rc = sqlite3_step(st);
	int err = 0;

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	done(st);
	return err;
}

static int begin_write(struct sqlite_store *ss)
{
	return exec_st(ss, ST_BEGIN_WRITE);
}

static int begin_read(struct sqlite_store *ss)
{
	return exec_st(ss, ST_BEGIN_READ);
}

static int commit(struct sqlite_store *ss)
{
	return exec_st(ss, ST_COMMIT);
}

/* Roll back if a transaction is still open (SQLite rolls back by itself
 * after some errors); keeps the error message of the original failure. */
static void rollback(struct sqlite_store *ss)
{
	char keep[STORE_ERR_MAX];

	if (sqlite3_get_autocommit(ss->db))
		return;
	memcpy(keep, ss->base.errmsg, sizeof(keep));
	(void)exec_st(ss, ST_ROLLBACK);
	memcpy(ss->base.errmsg, keep, sizeof(keep));
}

/* Read a single integer row (pragmas, the counter). */
static int read_int(struct sqlite_store *ss, enum stmt_id id, int64_t *out)
{
	sqlite3_stmt *st = ss->st[id];
	int rc = sqlite3_step(st);
	int err = 0;

	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		err = ENOENT;
	else
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	done(st);
	if (err == ENOENT)
		store_set_err(&ss->base, "sqlite: %s returned no row", stmt_sql[id]);
	return err;
}

/* Copy a text column into a fixed array; EOVERFLOW if it does not fit. */
static int col_str(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
	const unsigned char *p = sqlite3_column_text(st, col);
	size_t len = (size_t)sqlite3_column_bytes(st, col);

	if (!p) {
		if (sqlite3_column_type(st, col) != SQLITE_NULL)
			return ENOMEM;
		dst[0] = '\0';
		return 0;
	}
	if (len >= cap || memchr(p, '\0', len))
		return EOVERFLOW;
	memcpy(dst, p, len);
	dst[len] = '\0';
	return 0;
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* ---- rows: row.c's getters over a stepped statement ---------------------------- */

struct sq_rows {
	struct sqlite_store *ss;
	sqlite3_stmt *st;
};

static int rows_next(void *ctx, bool *have)
{
	struct sq_rows *r = ctx;
	int rc = sqlite3_step(r->st);

	*have = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return 0;
	return map_err(r->ss, sqlite3_extended_errcode(r->ss->db));
}

static int rows_text(void *ctx, int col, char *dst, size_t cap)
{
	return col_str(dst, cap, ((struct sq_rows *)ctx)->st, col);
}

static int rows_i64(void *ctx, int col, int64_t *out)
{
	*out = sqlite3_column_int64(((struct sq_rows *)ctx)->st, col);
	return 0;
}

static const char *rows_name(void *ctx, int col)
{
	sqlite3_stmt *st = ((struct sq_rows *)ctx)->st;

	return col < sqlite3_column_count(st) ? sqlite3_column_name(st, col) : NULL;
}

static const struct store_row_ops sq_row_ops = { rows_next, rows_text, rows_i64, rows_name };

/* Walk the rows of st (bound) as records of kind into fn, then reset st. */
static int walk(struct sqlite_store *ss, sqlite3_stmt *st, enum store_rec kind,
		union store_rec_fn fn, void *arg)
{
	struct sq_rows r = { ss, st };
	int err = store_row_walk(&ss->base, kind, &sq_row_ops, &r, fn, arg);

	done(st);
	return err;
}

static const char *strength_name(enum store_pw_strength s)
{
	return s == STORE_PW_UNKNOWN ? "unknown" : "checked";
}

/* ---- schema and version ------------------------------------------------------ */

static int sq_schema_version(struct store *s, int *version)
{
	int64_t v = 0;
	int err = read_int(sq(s), ST_USER_VERSION, &v);

	if (!err)
		*version = (int)v;
	return err;
}

/* ---- users ------------------------------------------------------------------ */

static int bind_user_add(sqlite3_stmt *st, const struct store_user *u, int64_t now)
{
	int rc = SQLITE_OK;

	rc |= bind_text(st, 1, u->name);
	rc |= bind_text(st, 2, u->domain);
	rc |= bind_text(st, 3, u->cred.realm);
	rc |= bind_text(st, 4, u->cred.ha1_md5);
	rc |= bind_text(st, 5, u->cred.ha1_sha256);
	rc |= sqlite3_bind_int(st, 6, u->enabled ? 1 : 0);
	rc |= bind_text(st, 7, strength_name(u->cred.strength));
	rc |= sqlite3_bind_int64(st, 8, now);
	rc |= sqlite3_bind_int(st, 9, u->require_client_cert ? 1 : 0);
	rc |= sqlite3_bind_int(st, 10, u->digest & 3);
	return rc;
}

/* Insert one user with the prepared add statement. */
static int user_insert(struct sqlite_store *ss, int64_t *id, const struct store_user *u,
		       int64_t now)
{
	sqlite3_stmt *st = ss->st[ST_USER_ADD];
	int err = 0;

	ss->gen_valid = false;
	if (bind_user_add(st, u, now) != SQLITE_OK) {
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
		goto out;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
		goto out;
	}
	if (id)
		*id = sqlite3_last_insert_rowid(ss->db);
out:
	done(st);
	return err;
}

static int sq_users_add(struct store *s, int64_t *id, const struct store_user *u, int64_t now)
{
	return user_insert(sq(s), id, u, u->created_at > 0 ? u->created_at : now);
}

static int sq_users_get(struct store *s, struct store_user *out, const char *name,
			const char *domain)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_USER_GET];
	int err = 0, rc;

	bind_text(st, 1, name);
	bind_text(st, 2, domain);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		struct sq_rows r = { ss, st };

		if (!(err = store_row_check_columns(s, STORE_REC_USER, &sq_row_ops, &r)) &&
		    (err = store_row_fill(STORE_REC_USER, out, &sq_row_ops, &r)) == EOVERFLOW)
			store_set_err(s, "user row %s@%s has a field too long", name, domain);
	} else if (rc == SQLITE_DONE) {
		err = ENOENT;
	} else {
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	}
	done(st);
	return err;
}

static int read_gen(struct sqlite_store *ss, uint64_t *gen)
{
	int64_t v = 0;
	int err = read_int(ss, ST_USERS_GEN, &v);

	if (!err)
		*gen = (uint64_t)v;
	return err;
}

static int sq_users_list(struct store *s, uint64_t *version, store_user_fn *fn, void *arg)
{
	struct sqlite_store *ss = sq(s);
	int err = 0;

	if (version) {
		/* One snapshot for the counter and the rows. */
		if ((err = begin_read(ss)) || (err = read_gen(ss, version)))
			goto out;
	}
	err = walk(ss, ss->st[ST_USERS_LIST], STORE_REC_USER, (union store_rec_fn){ .user = fn },
		   arg);
	if (version && !err)
		err = commit(ss);
out:
	if (err && version)
		rollback(ss);
	return err;
}

/* Run a write statement keyed by (name, domain) in ?1, ?2; ENOENT when it
 * touched no row. The caller has bound the other parameters. */
static int step_user_write(struct sqlite_store *ss, sqlite3_stmt *st, const char *name,
			   const char *domain)
{
	int err = 0;

	ss->gen_valid = false;
	bind_text(st, 1, name);
	bind_text(st, 2, domain);
	if (sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	else if (sqlite3_changes(ss->db) == 0)
		err = ENOENT;
	done(st);
	return err;
}

static int sq_users_set_password(struct store *s, const char *name, const char *domain,
				 const struct store_cred *cred, int64_t now)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_USER_SET_PASSWORD];

	bind_text(st, 3, cred->realm);
	bind_text(st, 4, cred->ha1_md5);
	bind_text(st, 5, cred->ha1_sha256);
	bind_text(st, 6, strength_name(cred->strength));
	sqlite3_bind_int64(st, 7, now);
	return step_user_write(ss, st, name, domain);
}

static int sq_users_rotate_password(struct store *s, const char *name, const char *domain,
				    const struct store_cred *cred, int64_t deadline, int64_t now)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[cred ? ST_USER_ROTATE : ST_USER_MUST_CHANGE];

	if (cred) {
		bind_text(st, 3, cred->realm);
		bind_text(st, 4, cred->ha1_md5);
		bind_text(st, 5, cred->ha1_sha256);
		bind_text(st, 6, strength_name(cred->strength));
		sqlite3_bind_int64(st, 7, now);
	}
	sqlite3_bind_int64(st, 8, deadline);
	return step_user_write(ss, st, name, domain);
}

static int sq_users_move_deadline(struct store *s, size_t *n, int64_t deadline)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_USERS_MOVE_DEADLINE];
	int err = 0;

	ss->gen_valid = false;
	sqlite3_bind_int64(st, 1, deadline);
	if (sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	else if (n)
		*n = (size_t)sqlite3_changes(ss->db);
	done(st);
	return err;
}

static int sq_users_set_enabled(struct store *s, const char *name, const char *domain,
				bool enabled)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_USER_SET_ENABLED];

	sqlite3_bind_int(st, 3, enabled ? 1 : 0);
	return step_user_write(ss, st, name, domain);
}

static int sq_users_set_client_cert(struct store *s, const char *name, const char *domain,
				    bool on)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_USER_SET_CLIENT_CERT];

	sqlite3_bind_int(st, 3, on ? 1 : 0);
	return step_user_write(ss, st, name, domain);
}

static int sq_users_set_digest(struct store *s, const char *name, const char *domain,
			       unsigned digest)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_USER_SET_DIGEST];

	sqlite3_bind_int(st, 3, (int)digest);
	return step_user_write(ss, st, name, domain);
}

static int sq_users_set_location(struct store *s, const char *name, const char *domain,
				 const char *location)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_USER_SET_LOCATION];

	bind_text(st, 3, location);
	return step_user_write(ss, st, name, domain);
}

static int sq_users_get_location(struct store *s, char *out, size_t cap, const char *name,
				 const char *domain)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_USER_GET_LOCATION];
	int rc, err = 0;

	bind_text(st, 1, name);
	bind_text(st, 2, domain);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = col_str(out, cap, st, 0);
	else if (rc == SQLITE_DONE)
		err = ENOENT;
	else
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	done(st);
	return err;
}

static int sq_users_set_calling(struct store *s, const char *name, const char *domain,
				const char *calling)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_USER_SET_CALLING];

	bind_text(st, 3, calling);
	return step_user_write(ss, st, name, domain);
}

static int sq_users_set_fraud_hold(struct store *s, const char *name, const char *domain,
				   const char *reason, int64_t at)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_USER_SET_FRAUD_HOLD];

	bind_text(st, 3, reason);
	sqlite3_bind_int64(st, 4, at);
	return step_user_write(ss, st, name, domain);
}

static int sq_users_delete(struct store *s, const char *name, const char *domain)
{
	struct sqlite_store *ss = sq(s);

	return step_user_write(ss, ss->st[ST_USER_DELETE], name, domain);
}

static int sq_users_import(struct store *s, size_t *failed_at, const struct store_user *users,
			   size_t n, int64_t now)
{
	struct sqlite_store *ss = sq(s);
	size_t i = n;
	int err;

	if ((err = begin_write(ss)))
		goto out;
	for (i = 0; i < n; i++) {
		const struct store_user *u = &users[i];

		if ((err = user_insert(ss, NULL, u, u->created_at > 0 ? u->created_at : now))) {
			char why[STORE_ERR_MAX];

			memcpy(why, s->errmsg, sizeof(why));
			store_set_err(s, "import row %zu (%.64s@%.64s): %.150s", i, u->name,
				      u->domain, why);
			goto out;
		}
	}
	err = commit(ss);
out:
	if (err) {
		rollback(ss);
		if (failed_at)
			*failed_at = i;
	}
	return err;
}

static int sq_users_version(struct store *s, uint64_t *version)
{
	struct sqlite_store *ss = sq(s);
	int64_t dv = 0;
	int err;

	/* data_version first: a commit by another connection after this read
	 * makes the next call re-read the counter, so none is missed. */
	if ((err = read_int(ss, ST_DATA_VERSION, &dv)))
		return err;
	if (!ss->gen_valid || dv != ss->data_version) {
		if ((err = read_gen(ss, &ss->users_gen)))
			return err;
		ss->data_version = dv;
		ss->gen_valid = true;
	}
	*version = ss->users_gen;
	return 0;
}

/* ---- registrations ------------------------------------------------------------ */

static int sq_regs_upsert(struct store *s, int64_t *id, const struct store_reg *r)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_REG_UPSERT];
	int64_t rid = 0;
	int err = 0, rc;

	sqlite3_bind_int64(st, 1, r->user_id);
	bind_text(st, 2, r->aor);
	bind_text(st, 3, r->contact);
	bind_text(st, 4, r->received);
	bind_text(st, 5, r->transport);
	sqlite3_bind_int64(st, 6, r->expires_at);
	bind_text(st, 7, r->call_id);
	sqlite3_bind_int64(st, 8, r->cseq);
	bind_text(st, 9, r->user_agent);
	bind_text(st, 10, r->instance);
	sqlite3_bind_int64(st, 12, r->reg_id);
	sqlite3_bind_int(st, 11, r->q);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		rid = sqlite3_column_int64(st, 0);
	if (rc != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	else if (id)
		*id = rid;
	done(st);
	if (err == ENOENT)
		store_set_err(s, "registration for %.200s: no user with id %lld", r->aor,
			      (long long)r->user_id);
	return err;
}

static int sq_regs_delete(struct store *s, const char *aor, const char *contact)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_REG_DELETE];
	int err = 0;

	bind_text(st, 1, aor);
	bind_text(st, 2, contact);
	if (sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	else if (sqlite3_changes(ss->db) == 0)
		err = ENOENT;
	done(st);
	return err;
}

/* Run a DELETE and report the number of rows it removed. */
static int delete_count(struct sqlite_store *ss, sqlite3_stmt *st, size_t *n)
{
	int err = 0;

	if (sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	else
		*n = (size_t)sqlite3_changes64(ss->db);
	done(st);
	return err;
}

static int sq_regs_delete_aor(struct store *s, size_t *n, const char *aor)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_REG_DELETE_AOR];

	bind_text(st, 1, aor);
	return delete_count(ss, st, n);
}

static int sq_regs_expire(struct store *s, size_t *n, int64_t now)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_REG_EXPIRE];

	sqlite3_bind_int64(st, 1, now);
	return delete_count(ss, st, n);
}

static int sq_regs_list(struct store *s, const char *aor, store_reg_fn *fn, void *arg)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[aor ? ST_REG_LIST_AOR : ST_REG_LIST_ALL];

	if (aor)
		bind_text(st, 1, aor);
	return walk(ss, st, STORE_REC_REG, (union store_rec_fn){ .reg = fn }, arg);
}

/* ---- extra identities -------------------------------------------------------- */

static int sq_ids_add(struct store *s, const char *name, const char *domain, const char *uri)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_ID_ADD];

	/* INSERT ... SELECT adds no row for an unknown user: ENOENT. */
	bind_text(st, 3, uri);
	return step_user_write(ss, st, name, domain);
}

static int sq_ids_delete(struct store *s, const char *name, const char *domain,
			 const char *uri)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_ID_DELETE];

	bind_text(st, 3, uri);
	return step_user_write(ss, st, name, domain);
}

static int sq_ids_list(struct store *s, const char *name, const char *domain,
		       store_identity_fn *fn, void *arg)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[name ? ST_ID_LIST : ST_ID_LIST_ALL];
	int err = 0;

	if (name) {
		bind_text(st, 1, name);
		bind_text(st, 2, domain);
	} else if ((err = begin_read(ss))) {
		goto out;
	}
	err = walk(ss, st, STORE_REC_IDENTITY, (union store_rec_fn){ .identity = fn }, arg);
	if (!name && !err)
		err = commit(ss);
out:
	if (err && !name)
		rollback(ss);
	return err;
}

/* ---- open and close -------------------------------------------------------------- */

static void sq_close(struct store *s)
{
	struct sqlite_store *ss = sq(s);
	size_t i;

	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(ss->st[i]);
	/* Closing the last connection checkpoints the WAL and removes it. */
	sqlite3_close_v2(ss->db);
	free(ss);
}

/* ---- call detail records ------------------------------------------------------- */

static int sq_cdr_add(struct store *s, int64_t *id, const struct store_cdr *c)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_CDR_ADD];
	int err = 0, rc = SQLITE_OK;

	rc |= bind_text(st, 1, c->call_id);
	rc |= bind_text(st, 2, c->caller);
	rc |= bind_text(st, 3, c->auth_user);
	rc |= bind_text(st, 4, c->callee);
	rc |= bind_text(st, 5, c->src);
	rc |= bind_text(st, 6, c->transport);
	rc |= sqlite3_bind_int64(st, 7, c->start_at);
	rc |= sqlite3_bind_int64(st, 8, c->answer_at);
	rc |= sqlite3_bind_int64(st, 9, c->end_at);
	rc |= sqlite3_bind_int(st, 10, c->final_status);
	rc |= sqlite3_bind_int64(st, 11, c->duration_s);
	rc |= bind_text(st, 12, c->hangup);
	rc |= bind_text(st, 13, c->peer);
	rc |= bind_text(st, 14, c->klass);
	rc |= bind_text(st, 15, c->dialed);
	rc |= bind_text(st, 16, c->number);
	rc |= sqlite3_bind_int(st, 17, c->emergency ? 1 : 0);
	rc |= bind_text(st, 18, c->location);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	else if (id)
		*id = sqlite3_last_insert_rowid(ss->db);
	done(st);
	return err;
}

static int sq_cdr_list(struct store *s, int64_t since, const char *user, store_cdr_fn *fn,
		       void *arg)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[user ? ST_CDR_LIST_USER : ST_CDR_LIST];

	sqlite3_bind_int64(st, 1, since);
	if (user)
		bind_text(st, 2, user);
	return walk(ss, st, STORE_REC_CDR, (union store_rec_fn){ .cdr = fn }, arg);
}

/* ---- bans -------------------------------------------------------------------------- */

static int sq_bans_put(struct store *s, const struct store_ban *b)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_BAN_PUT];
	int err = 0, rc = SQLITE_OK;

	rc |= bind_text(st, 1, b->addr);
	rc |= sqlite3_bind_int64(st, 2, b->until);
	rc |= sqlite3_bind_int64(st, 3, b->count);
	rc |= bind_text(st, 4, b->reason);
	rc |= sqlite3_bind_int64(st, 5, b->created_at);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	done(st);
	return err;
}

static int sq_bans_delete(struct store *s, const char *addr)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_BAN_DELETE];
	int err = 0;

	bind_text(st, 1, addr);
	if (sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	else if (sqlite3_changes(ss->db) == 0)
		err = ENOENT;
	done(st);
	return err;
}

static int sq_bans_list(struct store *s, int64_t now, store_ban_fn *fn, void *arg)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_BAN_LIST];

	sqlite3_bind_int64(st, 1, now);
	return walk(ss, st, STORE_REC_BAN, (union store_rec_fn){ .ban = fn }, arg);
}

static int sq_dialogs_put(struct store *s, const struct store_dialog *d)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_DLG_PUT];
	int err = 0, rc = SQLITE_OK;

	for (int i = 0; i < STORE_DIALOG_TEXTS; i++)
		rc |= bind_text(st, i + 1, (const char *)d + store_dialog_texts[i].off);
	rc |= sqlite3_bind_int64(st, 13, d->start_at);
	rc |= sqlite3_bind_int64(st, 14, d->answer_at);
	rc |= sqlite3_bind_int64(st, 15, d->expires_at);
	rc |= bind_text(st, 16, d->peer);
	rc |= bind_text(st, 17, d->klass);
	rc |= bind_text(st, 18, d->dialed);
	rc |= bind_text(st, 19, d->number);
	rc |= sqlite3_bind_int(st, 20, d->cseq_delta);
	rc |= sqlite3_bind_int(st, 21, d->emergency ? 1 : 0);
	rc |= bind_text(st, 22, d->location);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	done(st);
	return err;
}

static int sq_dialogs_delete(struct store *s, const char *call_id, const char *tag0,
			     const char *tag1)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_DLG_DELETE];
	int err = 0;

	bind_text(st, 1, call_id);
	bind_text(st, 2, tag0);
	bind_text(st, 3, tag1);
	if (sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	done(st);
	return err;
}

static int sq_dialogs_list(struct store *s, store_dialog_fn *fn, void *arg)
{
	struct sqlite_store *ss = sq(s);

	return walk(ss, ss->st[ST_DLG_LIST], STORE_REC_DIALOG, (union store_rec_fn){ .dialog = fn },
		    arg);
}

static int sq_locks_put(struct store *s, const char *name, int64_t until, int64_t now)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_LOCK_PUT];
	int err = 0, rc = SQLITE_OK;

	rc |= bind_text(st, 1, name);
	rc |= sqlite3_bind_int64(st, 2, until);
	rc |= sqlite3_bind_int64(st, 3, now);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	done(st);
	return err;
}

#define LOCK_KEEP_S 3600 /* an ended lock stays this long before it is deleted */

static int sq_locks_list(struct store *s, int64_t now, store_lock_fn *fn, void *arg)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_LOCK_EXPIRE];
	char name[STORE_NAME_MAX];
	int err = 0, rc;

	sqlite3_bind_int64(st, 1, now - LOCK_KEEP_S);
	(void)sqlite3_step(st);
	done(st);
	st = ss->st[ST_LOCK_LIST];
	sqlite3_bind_int64(st, 1, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = col_str(name, sizeof(name), st, 0)) != 0) {
			store_set_err(s, "a lock row has a field out of range");
			break;
		}
		if ((err = fn(arg, name, sqlite3_column_int64(st, 1))))
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	done(st);
	return err;
}

static int sq_fraud_put(struct store *s, const char *key, const char *counts, int64_t now)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_FRAUD_PUT];
	int err = 0, rc = SQLITE_OK;

	rc |= bind_text(st, 1, key);
	rc |= bind_text(st, 2, counts);
	rc |= sqlite3_bind_int64(st, 3, now);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	done(st);
	return err;
}

static int sq_fraud_list(struct store *s, int64_t now, bool others_only, store_fraud_fn *fn,
			 void *arg)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_FRAUD_EXPIRE];
	char key[STORE_FRAUD_KEY_MAX], counts[STORE_FRAUD_COUNTS_MAX];
	int err = 0, rc;

	sqlite3_bind_int64(st, 1, now - STORE_FRAUD_KEEP_S);
	(void)sqlite3_step(st);
	done(st);
	st = ss->st[ST_FRAUD_LIST];
	sqlite3_bind_int64(st, 1, now - STORE_FRAUD_KEEP_S);
	sqlite3_bind_int(st, 2, others_only);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = col_str(key, sizeof(key), st, 0)) != 0 ||
		    (err = col_str(counts, sizeof(counts), st, 2)) != 0) {
			store_set_err(s, "a fraud_counts row has a field out of range");
			break;
		}
		if ((err = fn(arg, key, sqlite3_column_int64(st, 1) != 0, counts)))
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	done(st);
	return err;
}

static int sq_bans_expire(struct store *s, size_t *n, int64_t now)
{
	struct sqlite_store *ss = sq(s);
	sqlite3_stmt *st = ss->st[ST_BAN_EXPIRE];

	sqlite3_bind_int64(st, 1, now);
	return delete_count(ss, st, n);
}

static int sq_data_version(struct store *s, int64_t *v)
{
	/* Per connection by definition: SQLite bumps it for commits made by
	 * other connections only, which is exactly what a poller wants. */
	return read_int(sq(s), ST_DATA_VERSION, v);
}

/* ---- transactions ----------------------------------------------------------------- */

static int sq_batch_begin(struct store *s)
{
	return begin_write(sq(s));
}

static int sq_batch_end(struct store *s, bool commit_it)
{
	struct sqlite_store *ss = sq(s);

	int rc = 0;

	/* A COMMIT that fails (SQLITE_BUSY, an I/O error) leaves the
	 * transaction open: roll it back, so that a failed batch is gone as a
	 * whole and the next one can begin. */
	if (commit_it)
		rc = commit(ss);
	rollback(ss);
	return rc;
}

static int sq_set_durability(struct store *s, enum store_durability d)
{
	struct sqlite_store *ss = sq(s);
	int rc = sqlite3_exec(ss->db,
			      d == STORE_DURABLE_POWER ? "PRAGMA synchronous = FULL"
						       : "PRAGMA synchronous = NORMAL",
			      NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : map_err(ss, sqlite3_extended_errcode(ss->db));
}

static const struct store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sq_close,
	.schema_version = sq_schema_version,
	.users_add = sq_users_add,
	.users_get = sq_users_get,
	.users_list = sq_users_list,
	.users_set_password = sq_users_set_password,
	.users_rotate_password = sq_users_rotate_password,
	.users_move_deadline = sq_users_move_deadline,
	.users_set_enabled = sq_users_set_enabled,
	.users_set_client_cert = sq_users_set_client_cert,
	.users_set_digest = sq_users_set_digest,
	.users_set_location = sq_users_set_location,
	.users_get_location = sq_users_get_location,
	.users_set_calling = sq_users_set_calling,
	.users_set_fraud_hold = sq_users_set_fraud_hold,
	.users_delete = sq_users_delete,
	.users_import = sq_users_import,
	.users_version = sq_users_version,
	.batch_begin = sq_batch_begin,
	.batch_end = sq_batch_end,
	.regs_upsert = sq_regs_upsert,
	.regs_delete = sq_regs_delete,
	.regs_delete_aor = sq_regs_delete_aor,
	.regs_list = sq_regs_list,
	.regs_expire = sq_regs_expire,
	.ids_add = sq_ids_add,
	.ids_delete = sq_ids_delete,
	.ids_list = sq_ids_list,
	.cdr_add = sq_cdr_add,
	.cdr_list = sq_cdr_list,
	.bans_put = sq_bans_put,
	.bans_delete = sq_bans_delete,
	.bans_list = sq_bans_list,
	.bans_expire = sq_bans_expire,
	.data_version = sq_data_version,
	.set_durability = sq_set_durability,
	.dialogs_put = sq_dialogs_put,
	.dialogs_delete = sq_dialogs_delete,
	.dialogs_list = sq_dialogs_list,
	.locks_put = sq_locks_put,
	.locks_list = sq_locks_list,
	.fraud_put = sq_fraud_put,
	.fraud_list = sq_fraud_list,
};

/* One-row text pragma, e.g. journal_mode's answer, into buf. */
static int pragma_text(struct sqlite_store *ss, const char *sql, char *buf, size_t cap)
{
	sqlite3_stmt *st = NULL;
	int err = 0, rc;

	buf[0] = '\0';
	rc = sqlite3_prepare_v2(ss->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_err(ss, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = col_str(buf, cap, st, 0);
	else if (rc != SQLITE_DONE)
		err = map_err(ss, sqlite3_extended_errcode(ss->db));
	sqlite3_finalize(st);
	return err;
}

/* Bring the schema up to migrations' length; refuse a newer one. */
static int migrate(struct sqlite_store *ss, const char *path, int *from)
{
	bool first = true;

	int latest = store_sqlite_schema_latest();
	int v = 0, v2 = 0;
	int err = 0;
	char *msg = NULL;

	for (;;) {
		if ((err = begin_write(ss)))
			return err;
		/* Read inside the write lock: another process may have just migrated. */
		if ((err = sq_schema_version(&ss->base, &v)))
			goto out;
		if (first && from)
			*from = v;
		first = false;
		if (v > latest) {
			store_set_err(&ss->base,
				      "%s: database schema version %d is newer than this build "
				      "supports (%d); upgrade bastion, do not downgrade it",
				      path, v, latest);
			err = EPROTO;
			goto out;
		}
		if (v < 0) {
			store_set_err(&ss->base, "%s: invalid schema version %d", path, v);
			err = EPROTO;
			goto out;
		}
		if (v == latest)
			return commit(ss);
		if (sqlite3_exec(ss->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK) {
			store_set_err(&ss->base, "%s: migration %d -> %d failed: %s", path, v,
				      v + 1, msg ? msg : "?");
			sqlite3_free(msg);
			err = EIO;
			goto out;
		}
		if ((err = sq_schema_version(&ss->base, &v2)))
			goto out;
		if (v2 != v + 1) {
			store_set_err(&ss->base, "migration %d did not set user_version", v);
			err = EIO;
			goto out;
		}
		if ((err = commit(ss)))
			goto out;
	}
out:
	rollback(ss);
	return err;
}

int store_sqlite_open(struct store **sp, const char *path, int *from_version, char *err,
		      size_t errlen)
{
	struct sqlite_store *ss;
	char mode[16];
	int64_t fk = 0;
	int e = 0, rc, fd;
	size_t i;

	ss = calloc(1, sizeof(*ss));
	if (!ss) {
		if (err && errlen)
			snprintf(err, errlen, "store: out of memory");
		return ENOMEM;
	}
	ss->base.ops = &sqlite_ops;

	/* Create the file ourselves so that it starts life 0600 whatever the
	 * umask; SQLite gives the -wal and -shm files the same mode. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		e = errno;
		store_set_err(&ss->base, "%s: %s", path, strerror(e));
		goto out;
	}
	close(fd);

	rc = sqlite3_open_v2(path, &ss->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		e = map_err(ss, rc);
		goto out;
	}
	sqlite3_busy_timeout(ss->db, BUSY_TIMEOUT_MS);
	sqlite3_db_config(ss->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	sqlite3_db_config(ss->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
	sqlite3_db_config(ss->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);

	rc = sqlite3_exec(ss->db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		e = map_err(ss, sqlite3_extended_errcode(ss->db));
		goto out;
	}
	if ((e = pragma_text(ss, "PRAGMA journal_mode = WAL", mode, sizeof(mode))))
		goto out;
	if (strcmp(mode, "wal") != 0) {
		store_set_err(&ss->base, "%s: cannot switch to WAL journal (mode %s)", path, mode);
		e = EIO;
		goto out;
	}
	for (i = 0; i < ST__COUNT; i++) {
		/* Prepare the transaction and pragma statements now, the rest after
		 * migration, when their tables exist. */
		if (i > ST_DATA_VERSION)
			break;
		rc = sqlite3_prepare_v3(ss->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&ss->st[i], NULL);
		if (rc != SQLITE_OK) {
			e = map_err(ss, rc);
			goto out;
		}
	}
	if ((e = migrate(ss, path, from_version)))
		goto out;
	for (; i < ST__COUNT; i++) {
		rc = sqlite3_prepare_v3(ss->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&ss->st[i], NULL);
		if (rc != SQLITE_OK) {
			e = map_err(ss, rc);
			goto out;
		}
	}
	/* foreign_keys is silently ignored by builds without it: check. */
	if ((e = pragma_text(ss, "PRAGMA foreign_keys", mode, sizeof(mode))))
		goto out;
	fk = strtoll(mode, NULL, 10);
	if (fk != 1) {
		store_set_err(&ss->base, "%s: foreign keys could not be enabled", path);
		e = EIO;
		goto out;
	}
	*sp = &ss->base;
	return 0;
out:
	if (err && errlen)
		snprintf(err, errlen, "store: %s", ss->base.errmsg);
	sq_close(&ss->base);
	return e;
}
