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
	int (*users_set_enabled)(struct store *s, const char *name, const char *domain,
				 bool enabled);
	int (*users_set_digest)(struct store *s, const char *name, const char *domain,
				unsigned digest);
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
};

/* The part of every handle the dispatcher sees; a backend's handle embeds it
 * as its first member. */
struct store {
	const struct store_ops *ops;
	char errmsg[STORE_ERR_MAX];
	uint64_t committed_seq; /* batches committed through this handle (store.c counts) */
};

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

#endif
