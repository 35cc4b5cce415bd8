/*
 * store/internal.h: what the store layer keeps to itself, the operations
 * table every backend fills in. store.c validates arguments and dispatches
 * through it; a backend may assume its inputs are valid (strings
 * NUL-terminated within their arrays, hex lowercase, q <= 1000).
 */
#ifndef BASTION_STORE_INTERNAL_H
#define BASTION_STORE_INTERNAL_H

#include "store.h"

struct store_ops {
	const char *name;
	void (*close)(struct store *s);
	int (*schema_version)(struct store *s, int *version);
	int (*users_add)(struct store *s, int64_t *id, const struct store_user *u, int64_t now);
	int (*users_get)(struct store *s, struct store_user *out, const char *name,
			 const char *domain);
	int (*users_list)(struct store *s, uint64_t *version, store_user_fn *fn, void *arg);
	int (*users_set_password)(struct store *s, const char *name, const char *domain,
				  const struct store_cred *cred, int64_t now);
	/* optional (NULL: ENOSYS): password rotation with a deadline */
	int (*users_rotate_password)(struct store *s, const char *name, const char *domain,
				     const struct store_cred *cred, int64_t deadline, int64_t now);
	int (*users_move_deadline)(struct store *s, size_t *n, int64_t deadline);
	int (*users_set_enabled)(struct store *s, const char *name, const char *domain,
				 bool enabled);
	int (*users_set_digest)(struct store *s, const char *name, const char *domain,
				unsigned digest);
	int (*users_set_location)(struct store *s, const char *name, const char *domain,
				  const char *location);
	int (*users_get_location)(struct store *s, char *out, size_t cap, const char *name,
				  const char *domain);
	int (*users_set_client_cert)(struct store *s, const char *name, const char *domain,
				     bool on);
	int (*users_set_calling)(struct store *s, const char *name, const char *domain,
				 const char *calling);
	int (*users_set_fraud_hold)(struct store *s, const char *name, const char *domain,
				    const char *reason, int64_t at);
	int (*users_delete)(struct store *s, const char *name, const char *domain);
	int (*users_import)(struct store *s, size_t *failed_at, const struct store_user *users,
			    size_t n, int64_t now);
	int (*users_version)(struct store *s, uint64_t *version);
	/* one write transaction around several registration writes */
	int (*batch_begin)(struct store *s);
	int (*batch_end)(struct store *s, bool commit);
	int (*regs_upsert)(struct store *s, int64_t *id, const struct store_reg *r);
	int (*regs_delete)(struct store *s, const char *aor, const char *contact);
	int (*regs_delete_aor)(struct store *s, size_t *n, const char *aor);
	int (*regs_list)(struct store *s, const char *aor, store_reg_fn *fn, void *arg);
	int (*regs_expire)(struct store *s, size_t *n, int64_t now);
	int (*ids_add)(struct store *s, const char *name, const char *domain, const char *uri);
	int (*ids_delete)(struct store *s, const char *name, const char *domain, const char *uri);
	/* name and domain NULL: every user's, in one read transaction */
	int (*ids_list)(struct store *s, const char *name, const char *domain,
			store_identity_fn *fn, void *arg);
	/* duration_s of c is already the computed value */
	int (*cdr_add)(struct store *s, int64_t *id, const struct store_cdr *c);
	int (*cdr_list)(struct store *s, int64_t since, const char *user, store_cdr_fn *fn,
			void *arg);
	/* created_at of b is already resolved (never 0) */
	int (*bans_put)(struct store *s, const struct store_ban *b);
	int (*bans_delete)(struct store *s, const char *addr);
	int (*bans_list)(struct store *s, int64_t now, store_ban_fn *fn, void *arg);
	int (*bans_expire)(struct store *s, size_t *n, int64_t now);
	int (*data_version)(struct store *s, int64_t *v);
	/* synchronous = NORMAL (process) or FULL (power); NULL: not settable */
	int (*set_durability)(struct store *s, enum store_durability d);
	/* The highest batch number that is durable, for a backend that makes
	 * commits durable after batch_end returns; NULL means batch_end(commit)
	 * returning 0 makes the batch durable (store.c then counts). The batch
	 * being committed in batch_end has number s->committed_seq + 1. */
	uint64_t (*durable_seq)(struct store *s);
	/* optional: NULL means the backend keeps no dialogs (ENOSYS) */
	int (*dialogs_put)(struct store *s, const struct store_dialog *d);
	int (*dialogs_delete)(struct store *s, const char *call_id, const char *tag0,
			      const char *tag1);
	int (*dialogs_list)(struct store *s, store_dialog_fn *fn, void *arg);
	/* NULL in a backend that serves one node (SQLite): no changes from
	 * elsewhere, nothing queued */
	int (*regs_changes)(struct store *s, bool *all, store_aor_fn *fn, void *arg);
	int (*backend_stats)(struct store *s, struct store_backend_stats *out);
	void (*set_queue_max)(struct store *s, size_t n);
	/* optional (NULL: one node, nothing to do): name the node, open and
	 * replay its on-disk queue (store_node_attach) */
	int (*node_attach)(struct store *s, const char *node, const char *journal,
			   size_t *replayed);
	/* user locks (store_locks_*) */
	int (*locks_put)(struct store *s, const char *name, int64_t until, int64_t now);
	int (*locks_list)(struct store *s, int64_t now, store_lock_fn *fn, void *arg);
	/* toll-fraud counters (store_fraud_*) */
	int (*fraud_put)(struct store *s, const char *key, const char *counts, int64_t now);
	int (*fraud_list)(struct store *s, int64_t now, bool others_only, store_fraud_fn *fn,
			  void *arg);
	/* nonce epochs (store_epoch*, store_nonce_use*; NULL: one node) */
	int (*epoch_start)(struct store *s, uint32_t epoch, const uint8_t *key, uint32_t lease_ms);
	int (*epochs_sync)(struct store *s, const uint32_t *mine, size_t nmine, uint32_t lease_ms,
			   uint32_t lifetime_s, uint32_t max_take, store_epoch_fn *fn, void *arg);
	int (*nonce_uses_put)(struct store *s, const struct store_nonce_use *u, size_t n);
	int (*nonce_uses_list)(struct store *s, uint32_t epoch, size_t max, bool *more,
			       store_nonce_use_fn *fn, void *arg);
	int (*nonce_uses_trim)(struct store *s, uint32_t epoch, uint64_t below);
};

/* The part of every handle the dispatcher sees; a backend's handle embeds it
 * as its first member. */
struct store {
	const struct store_ops *ops;
	char errmsg[STORE_ERR_MAX];
	uint64_t committed_seq; /* batches committed through this handle (store.c counts) */
};

/* The text columns of a dialog, in the order both backends' statements
 * bind and read them: call_id, tag0, tag1, way0, way1, local0, local1,
 * caller, auth_user, callee, src, transport (then start_at, answer_at,
 * expires_at as integers). Offset and array size in struct store_dialog. */
#define STORE_DIALOG_TEXTS 12
struct store_field {
	size_t off, cap;
};
extern const struct store_field store_dialog_texts[STORE_DIALOG_TEXTS];

/* ---- rows (row.c) -------------------------------------------------------------
 *
 * One mapping from a result row to a record for both backends. Each kind's
 * SELECTs list exactly these columns, in this order (row.c holds the same
 * list with each column's struct field and range, and checks the names on
 * the first row of a walk). The names are plain SQL, valid in both
 * dialects; a statement that joins (identities) must keep them as they are.
 */
#define STORE_USER_COLS \
	"id, name, domain, realm, ha1_md5, ha1_sha256, enabled, password_strength, " \
	"created_at, changed_at, require_client_cert, digest, calling, fraud_hold, fraud_hold_at, " \
	"old_realm, old_ha1_md5, old_ha1_sha256, pw_deadline"
#define STORE_REG_COLS \
	"id, user_id, aor, contact, received, transport, expires_at, call_id, cseq, " \
	"user_agent, instance, q, reg_id"
#define STORE_IDENTITY_COLS \
	"i.user_id AS user_id, u.name AS name, u.domain AS domain, i.uri AS uri"
#define STORE_CDR_COLS \
	"id, call_id, caller, auth_user, callee, src, transport, start_at, answer_at, " \
	"end_at, final_status, duration_s, hangup, peer, class, dialed, number, emergency, location"
#define STORE_BAN_COLS "addr, until, count, reason, created_at"
#define STORE_DIALOG_COLS \
	"call_id, tag0, tag1, way0, way1, local0, local1, caller, auth_user, callee, src, " \
	"transport, start_at, answer_at, expires_at, peer, class, dialed, number, cseq_delta, " \
	"emergency, location"

enum store_rec {
	STORE_REC_USER,     /* struct store_user, STORE_USER_COLS */
	STORE_REC_REG,      /* struct store_reg, STORE_REG_COLS */
	STORE_REC_IDENTITY, /* struct store_identity, STORE_IDENTITY_COLS */
	STORE_REC_CDR,      /* struct store_cdr, STORE_CDR_COLS */
	STORE_REC_BAN,      /* struct store_ban, STORE_BAN_COLS */
	STORE_REC_DIALOG,   /* struct store_dialog, STORE_DIALOG_COLS */
};

/* The callback of a walk, as the kind's type. */
union store_rec_fn {
	store_user_fn *user;
	store_reg_fn *reg;
	store_identity_fn *identity;
	store_cdr_fn *cdr;
	store_ban_fn *ban;
	store_dialog_fn *dialog;
};

/* A backend's access to the current row of its result (ctx: the backend's
 * cursor). Each returns 0 or an errno. */
struct store_row_ops {
	/* step to the next row: *have false at the end */
	int (*next)(void *ctx, bool *have);
	/* column col as text into dst[cap], NUL-terminated; EOVERFLOW when it
	 * does not fit or holds a NUL byte */
	int (*text)(void *ctx, int col, char *dst, size_t cap);
	/* column col as an integer; EOVERFLOW when it is not one */
	int (*i64)(void *ctx, int col, int64_t *out);
	/* the name of column col; NULL past the last one */
	const char *(*name)(void *ctx, int col);
};

/* Fill rec (a struct of kind, zeroed first) from the current row. Returns
 * 0, EOVERFLOW (a string that does not fit, a number out of its range, an
 * HA1 that is not lowercase hex of its length), or a getter's errno. */
int store_row_fill(enum store_rec kind, void *rec, const struct store_row_ops *ops, void *ctx);

/* Whether the current row's columns are kind's, by name and count: 0, or
 * EIO with the difference in s's message (a statement and row.c apart). */
int store_row_check_columns(struct store *s, enum store_rec kind,
			    const struct store_row_ops *ops, void *ctx);

/* For every row (ops->next), fill a record of kind and call fn with it.
 * Stops at the first failure: a getter's or next's errno, EIO (columns not
 * kind's), EOVERFLOW (with s's message naming the row), ENOMEM, or fn's
 * non-zero return, which is returned as is. The backend resets or frees its
 * result afterwards. */
int store_row_walk(struct store *s, enum store_rec kind, const struct store_row_ops *ops,
		   void *ctx, union store_rec_fn fn, void *arg);

/* Record an operator-facing message on s. */
void store_set_err(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The SQLite backend: open or create path. Same contract as store_open();
 * *from_version (if not NULL) gets the schema version found before migrating. */
int store_sqlite_open(struct store **sp, const char *path, int *from_version, char *err,
		      size_t errlen);

/* The PostgreSQL backend (pg.c): connect with a libpq URL or connection
 * string and migrate. Same contract as store_open(), plus ENOTCONN when the
 * server cannot be reached or refuses us; *from_version as above. */
int store_pg_open(struct store **sp, const char *conninfo, int *from_version, char *err,
		  size_t errlen);

/* The newest schema version the PostgreSQL backend knows (equal to SQLite's). */
int store_pg_schema_latest(void);

/* The newest schema version the SQLite backend knows. */
int store_sqlite_schema_latest(void);

/* ---- the on-disk queue (journal.c) -------------------------------------------
 *
 * An append-only file of writes waiting for a remote database: records of
 * (sequence number, statement number, text parameters), each appended with
 * one write() and made durable by store_journal_sync() (fdatasync). Replay
 * returns them in order and cuts a torn tail (an append a crash
 * interrupted, which was never synced, so never acknowledged). One process
 * at a time (flock: EBUSY for the second).
 */
#define STORE_JOURNAL_PARAMS_MAX 24

struct store_journal;

typedef int(store_journal_fn)(void *arg, uint64_t seq, unsigned st, int n,
			      const char *const *params);

/* Open or create path (mode 0600). stamp identifies the statement set of
 * the build: a file with another stamp is refused (EPROTO) rather than
 * replayed into the wrong statements. Call store_journal_replay() before the
 * first append. Returns 0, EBUSY (locked by another process), EPROTO,
 * ENOMEM, or open()'s errno; err gets a one-line reason. */
int store_journal_open(struct store_journal **jp, const char *path, uint64_t stamp, char *err,
		       size_t errlen);
void store_journal_close(struct store_journal **jp);
/* Call fn for every complete record in order; a non-zero return stops the
 * walk and is returned. Later appends continue after the last good record
 * with the next sequence number. */
int store_journal_replay(struct store_journal *j, store_journal_fn *fn, void *arg);
/* Append one record (written, not yet synced); *seq gets its number. */
int store_journal_append(struct store_journal *j, uint64_t *seq, unsigned st, int n,
			 const char *const *params);
/* fdatasync what was appended since the last sync. */
int store_journal_sync(struct store_journal *j);
/* Empty the file (every record is in the database). Sequence numbers go on. */
int store_journal_reset(struct store_journal *j);
/* Number the next append seq or higher: the numbers must keep growing
 * across runs (an emptied file starts again at 1), so the caller raises
 * them past the last one the database has (pg.c's journal mark). */
void store_journal_seq_at_least(struct store_journal *j, uint64_t seq);
/* Records in the file. */
size_t store_journal_records(const struct store_journal *j);

#endif
