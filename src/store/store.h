/*
 * store: persistent state behind one interface, and the in-memory credential
 * cache that keeps SQL off the hot path.
 *
 * Callers see only struct store and the functions below; the backend sits
 * behind an operations table (internal.h): SQLite (sqlite.c) for one node,
 * PostgreSQL (pg.c) for several. store_open() picks the backend from its
 * argument: a plain path or "sqlite:PATH" opens SQLite, a postgresql:// URL
 * or a libpq connection string PostgreSQL.
 *
 * Records travel as typed structs whose strings are NUL-terminated fixed
 * arrays: a string that does not fit is refused with EOVERFLOW (on write, and
 * on read if somebody stored a longer value by other means), never truncated.
 * Every function validates its input before any backend sees it.
 *
 * Errors follow base.h, plus the ones storage needs: EEXIST a duplicate,
 * ENOENT no such row, EBUSY the database stayed locked past the busy timeout,
 * ENOTCONN the database server is unreachable (PostgreSQL; reads and user
 * changes fail, the server's writes wait in a queue: see "several nodes"),
 * ENOTSUP a backend or URL scheme not built in, EPROTO a schema newer than
 * this build knows, EIO any other database failure. store_errmsg() then holds
 * the backend's words for the operator.
 *
 * A store handle belongs to one thread at a time. Callbacks run inside a read
 * transaction and must not call back into the same store; a non-zero return
 * from a callback stops the walk and is returned as is.
 */
#ifndef BASTION_STORE_H
#define BASTION_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"

/* ---- limits (array sizes, terminating NUL included) -------------------- */

#define STORE_NAME_MAX 128     /* user name */
#define STORE_DOMAIN_MAX 256   /* domain (compared case-insensitively) */
#define STORE_LOCATION_MAX 512 /* a civic location as text (emerg/: EMERG_LOC_TEXT_MAX) */
#define STORE_REALM_MAX 256    /* digest realm the HA1 values were computed for */
#define STORE_HA1_MD5_LEN 32   /* hex digits of an MD5 HA1 */
#define STORE_HA1_SHA256_LEN 64
#define STORE_URI_MAX 1024     /* address of record, contact (matches sip_limits.max_uri) */
#define STORE_RECEIVED_MAX 64  /* "tcp:[ffff:...:ffff]:65535" */
#define STORE_TRANSPORT_MAX 8  /* "udp", "tcp", "tls" */
#define STORE_CALLID_MAX 256
#define STORE_TAG_MAX 128      /* a dialog's From or To tag */
#define STORE_UA_MAX 256
#define STORE_INSTANCE_MAX 256 /* +sip.instance, "<urn:uuid:...>" */
#define STORE_ERR_MAX 256
#define STORE_HANGUP_MAX 16    /* "caller", "callee", "none", "timeout", "server" */
#define STORE_CALLING_MAX 16   /* a calling class name, "" for the site's */
#define STORE_FRAUD_HOLD_MAX 256 /* why a user's outside calling is held */
#define STORE_PEER_MAX 32      /* a peer's name (trunk/) */
#define STORE_CLASS_MAX 16     /* a number's class */
#define STORE_DIALED_MAX 128   /* the number as dialed */
#define STORE_NUMBER_MAX 24    /* E.164: "+" and up to 15 digits */

/* ---- opening ------------------------------------------------------------ */

struct store;

/*
 * Open the store named by url_or_path and bring its schema up to date:
 * - "sqlite:PATH", "sqlite://PATH" or a plain PATH opens an SQLite file
 *   (created mode 0600 whatever the umask; an existing file keeps its mode),
 *   each migration in its own transaction;
 * - "postgresql://..." or "postgres://..." (a libpq URL), or a libpq
 *   "key=value ..." connection string, connects to PostgreSQL and runs the
 *   pending migrations in one transaction under an advisory lock (src/store/pg.c,
 *   docs/scaling.md). A password in the URL is refused (EINVAL): it comes from
 *   a pgpass file of mode 0600 (passfile=, PGPASSFILE or ~/.pgpass).
 * On success *sp owns the handle (release with store_close()). On failure
 * *sp is untouched and err (if errlen > 0) holds a one-line reason: EINVAL bad
 * argument, ENOTSUP unknown scheme, EPROTO the database has a newer schema
 * than this build, ENOTCONN the PostgreSQL server is unreachable or refused
 * the login, EACCES/EROFS/EBUSY/EIO from the file or database, ENOMEM.
 */
int store_open(struct store **sp, const char *url_or_path, char *err, size_t errlen);

/* store_open(), and *from_version (if not NULL) gets the schema version the
 * database had before this open migrated it (0 for a new one). */
int store_open_migrate(struct store **sp, const char *url_or_path, int *from_version, char *err,
		       size_t errlen);

/* Whether a [store] database setting names a server (a PostgreSQL URL or
 * connection string) rather than a file. */
bool store_is_remote(const char *url_or_path);

/* Resolve the [store] database setting against the state directory into
 * out: a remote name is copied as is, a relative SQLite path is joined to
 * dir. Returns 0 or ENAMETOOLONG. */
int store_location(char *out, size_t cap, const char *dir, const char *setting);

/* Close the handle and set *sp to NULL; NULL or *sp == NULL is a no-op. */
void store_close(struct store **sp);

/* The backend's message for the last failure on s ("" when none); valid until
 * the next call on s. For the operator, never for a SIP peer. */
const char *store_errmsg(const struct store *s);

/* The schema version of the open database, and the newest this build knows. */
int store_schema_version(struct store *s, int *version);
int store_schema_latest(void);

/* ---- users -------------------------------------------------------------- */

enum store_pw_strength {
	STORE_PW_CHECKED = 0, /* set through our tools, which check strength */
	STORE_PW_UNKNOWN = 1, /* imported HA1: the password was never seen */
};

/* The credential part of a user: digest HA1 values for one realm, in
 * lowercase hex. Either may be empty (an import may bring only MD5), not both. */
struct store_cred {
	char realm[STORE_REALM_MAX];
	char ha1_md5[STORE_HA1_MD5_LEN + 1];
	char ha1_sha256[STORE_HA1_SHA256_LEN + 1];
	enum store_pw_strength strength;
};

struct store_user {
	int64_t id;           /* assigned by the store; ignored on add */
	char name[STORE_NAME_MAX];
	char domain[STORE_DOMAIN_MAX];
	struct store_cred cred;
	bool enabled;
	int64_t created_at;   /* unix seconds; 0 on add means "now" */
	int64_t changed_at;   /* last password change; set = created_at on add */
	uint8_t digest;       /* STORE_DIGEST_*: the algorithms the user is challenged with */
	bool require_client_cert; /* mutual TLS: register and call only over TLS with a
				     client certificate naming this user (docs/tls.md) */
	char calling[STORE_CALLING_MAX]; /* calling class (docs/trunks.md); "" the site's */
	char fraud_hold[STORE_FRAUD_HOLD_MAX]; /* why outside calls are held; "" none */
	int64_t fraud_hold_at;  /* unix seconds the hold began; 0 with none */
	/* A password rotation with a deadline (`bastion rotate --passwords
	 * --deadline T`, docs/operations.md). pw_deadline 0: none. With an
	 * old_cred (an HA1 not empty): the password before the rotation, still
	 * accepted until pw_deadline, refused from then on. Without one: the
	 * current password must be changed by pw_deadline and is refused from
	 * then on. Read-only here: set with store_users_rotate_password. */
	struct store_cred old_cred;
	int64_t pw_deadline;  /* unix seconds */
};

/* Called once per row; a non-zero return stops the walk and is returned. */
typedef int(store_user_fn)(void *arg, const struct store_user *u);

/* Add a user. Returns 0 and sets *id (if id is not NULL), EEXIST when
 * (name, domain) exists (domain compared case-insensitively), EINVAL when a
 * field is empty, not NUL-terminated within its array or not lowercase hex,
 * EBUSY/EIO. */
int store_users_add(struct store *s, int64_t *id, const struct store_user *u);

/* Fetch one user into *out. Returns 0, ENOENT, EINVAL, EOVERFLOW (a stored
 * string too long for the struct), EBUSY/EIO. *out is undefined on failure. */
int store_users_get(struct store *s, struct store_user *out, const char *name,
		    const char *domain);

/* Call fn for every user, ordered by domain then name. */
int store_users_list(struct store *s, store_user_fn *fn, void *arg);

/* Replace the HA1 values, realm and strength of a user and set changed_at to
 * now (0 means time(NULL)). Returns 0, ENOENT, EINVAL, EBUSY/EIO. */
int store_users_set_password(struct store *s, const char *name, const char *domain,
			     const struct store_cred *cred, int64_t now);

/*
 * Start a password rotation with a deadline for one user.
 * - cred not NULL: the user's password becomes cred (changed_at = now), and
 *   the one it replaces is kept as old_cred, accepted until deadline;
 * - cred NULL: the password stays, and must be changed by deadline (a
 *   later store_users_set_password ends the mark).
 * deadline > 0. store_users_set_password clears both (old_cred and
 * pw_deadline): a password the administrator sets ends any grace.
 * Returns 0, ENOENT, EINVAL, EBUSY/EIO, ENOSYS for a backend without it.
 */
int store_users_rotate_password(struct store *s, const char *name, const char *domain,
				const struct store_cred *cred, int64_t deadline, int64_t now);

/* Move the deadline of every user whose pw_deadline is set to deadline
 * (> 0): earlier to end the grace now, later to give phones more time.
 * *n (may be NULL) gets how many users. Returns 0, EINVAL, EBUSY/EIO,
 * ENOSYS. */
int store_users_move_deadline(struct store *s, size_t *n, int64_t deadline);

/* Enable or disable a user. Returns 0, ENOENT, EINVAL, EBUSY/EIO. */
int store_users_set_enabled(struct store *s, const char *name, const char *domain,
			    bool enabled);

/* Bind a user to its client certificate (on) or release it (off): with the
 * flag set the server accepts the user's REGISTER and calls only over TLS
 * with a verified client certificate naming the user. Counts as a change of
 * users (store_users_version), so running servers pick it up. Returns 0,
 * ENOENT no such user, EINVAL, EBUSY/EIO. */
int store_users_set_client_cert(struct store *s, const char *name, const char *domain,
				bool on);

/* The digest algorithms a user is challenged with; the values are those of
 * auth.h's enum auth_digest. */
#define STORE_DIGEST_SITE 0    /* the server's [auth] algorithms */
#define STORE_DIGEST_MD5 1
#define STORE_DIGEST_SHA256 2
#define STORE_DIGEST_BOTH 3

/* A user's civic location for emergency calls, as emerg_civic_format
 * writes it ("" none; the caller checks it with emerg_civic_parse). Set:
 * 0, ENOENT, EINVAL (too long, a control character), EBUSY/EIO. Get: 0 with
 * out filled, ENOENT, EOVERFLOW, EBUSY/EIO. */
int store_users_set_location(struct store *s, const char *name, const char *domain,
			     const char *location);
int store_users_get_location(struct store *s, char *out, size_t cap, const char *name,
			     const char *domain);

/* Set a user's digest algorithms (STORE_DIGEST_*). Counts as a change of
 * users, so running servers pick it up. Returns 0, ENOENT no such user,
 * EINVAL (bad value or key), EBUSY/EIO. */
int store_users_set_digest(struct store *s, const char *name, const char *domain,
			   unsigned digest);

/* Set a user's calling class (docs/trunks.md): "internal", "local",
 * "national", "international", "premium", or "" for the site's default.
 * Counts as a change of users. Returns 0, ENOENT no such user, EINVAL (an
 * unknown class), EBUSY/EIO/ENOTCONN. */
int store_users_set_calling(struct store *s, const char *name, const char *domain,
			    const char *calling);

/* Put a user's outside calling on hold for reason (printable, non-empty,
 * < STORE_FRAUD_HOLD_MAX) from unix second at (0: now), or lift the hold
 * (reason ""). Counts as a change of users, so every server's cache sees it.
 * Returns 0, ENOENT no such user, EINVAL, EBUSY/EIO/ENOTCONN. */
int store_users_set_fraud_hold(struct store *s, const char *name, const char *domain,
			       const char *reason, int64_t at);

/* Delete a user and, by cascade, its registrations and identities. Returns 0, ENOENT,
 * EINVAL, EBUSY/EIO. */
int store_users_delete(struct store *s, const char *name, const char *domain);

/* Add n users in one transaction: all or nothing. On failure nothing is
 * added, *failed_at (if not NULL) is the index of the row that failed (n for
 * a failure at begin or commit), and the return value is that row's error
 * (EINVAL, EEXIST, ...). created_at 0 means now, as for add. */
int store_users_import(struct store *s, size_t *failed_at, const struct store_user *users,
		       size_t n);

/*
 * A number that changes whenever the users table (or a user's extra
 * identities) changes, from any process.
 * How: triggers on users bump the integer meta('users_gen') inside the very
 * transaction that changes a row, so the counter moves with every committed
 * change whoever made it (our tools, another server, the sqlite3 shell), and
 * never moves for a rolled-back one. Reading it is one indexed row; as a fast
 * path we first ask PRAGMA data_version, which changes only when another
 * connection committed, and re-read the counter only then or after a write
 * through this handle. A change to registrations alone costs one counter read
 * but leaves the value alone, so caches do not reload for REGISTERs.
 */
int store_users_version(struct store *s, uint64_t *version);

/* Call fn for every user and set *version to the store_users_version()
 * value of the same snapshot (one read transaction), so a cache built from
 * the rows can never be newer than the version it remembers. */
int store_users_load_all(struct store *s, uint64_t *version, store_user_fn *fn, void *arg);

/* ---- registrations (the location service) -------------------------------- */

struct store_reg {
	int64_t id;                         /* assigned by the store */
	int64_t user_id;                    /* owner; the binding dies with the user */
	char aor[STORE_URI_MAX];            /* address of record, canonical form */
	char contact[STORE_URI_MAX];        /* the Contact URI */
	char received[STORE_RECEIVED_MAX];  /* source "transport:ip:port" */
	char transport[STORE_TRANSPORT_MAX];
	int64_t expires_at;                 /* unix seconds */
	char call_id[STORE_CALLID_MAX];
	uint32_t cseq;
	char user_agent[STORE_UA_MAX];      /* may be empty */
	char instance[STORE_INSTANCE_MAX];  /* +sip.instance, may be empty */
	uint16_t q;                         /* thousandths, 0..1000 */
	uint32_t reg_id;                    /* RFC 5626 reg-id, 0 for none */
};

#define STORE_REG_ID_MAX 2147483647u

typedef int(store_reg_fn)(void *arg, const struct store_reg *r);

/*
 * Group registration writes (upsert, delete, delete_aor) into one write
 * transaction: store_batch_begin, the writes, store_batch_end(commit true to
 * keep them, false to drop them). One commit instead of one per REGISTER is
 * what lets the registrar write behind at thousands of registrations a
 * second. Returns 0 or an errno (EBUSY when another writer holds the
 * database past the busy timeout).
 * User changes made inside a batch (the CLI's `rotate --passwords`) commit or
 * roll back with it on both backends; PostgreSQL runs them at once, in one
 * transaction that store_batch_end ends first. Drop a batch in which a write
 * failed (store_batch_end(s, false)): on PostgreSQL the failure has spoilt
 * that transaction, so later user changes return the same error and
 * store_batch_end(s, true) drops the whole batch and returns it.
 */
int store_batch_begin(struct store *s);
int store_batch_end(struct store *s, bool commit);

/*
 * Durability of batches (group commit). The batches a handle commits are
 * numbered 1, 2, 3, ... in commit order; a batch that fails or is rolled
 * back takes no number. store_batch_next_seq() is the number the next
 * committed batch will get, so a caller can tag what waits on the writes it
 * is about to queue; store_durable_seq() is the highest number that is
 * durable under the handle's durability (store_set_durability): every batch
 * up to it survives a crash of the process (or a power cut with
 * STORE_DURABLE_POWER). A caller that promises something to a peer (a 200
 * OK for a REGISTER) waits until its batch's number is at most
 * store_durable_seq().
 *
 * SQLite commits synchronously: when store_batch_end(s, true) returns 0 the
 * batch is durable and store_durable_seq() has moved to it. A backend that
 * makes batches durable later (a remote database, a local on-disk queue)
 * moves store_durable_seq() later; callers poll it (the server does every
 * tick), and must not treat an in-memory queue as durable.
 */
enum store_durability {
	STORE_DURABLE_PROCESS = 0, /* survives a crash of the process: WAL, synchronous=NORMAL */
	STORE_DURABLE_POWER = 1,   /* survives a power cut: WAL, synchronous=FULL */
};

struct conf;
/* The durability of the server's configuration c ([store] durability):
 * power is STORE_DURABLE_POWER; process, and none (whose write-behind is
 * the registrar's: registrar_conf.write_behind), STORE_DURABLE_PROCESS. */
enum store_durability store_durability_from(const struct conf *c);

/*
 * A writer's own batches between commit and durable (inflight.c). The
 * writer numbers its batches k = 1, 2, ... (what its held answers wait on);
 * after committing batch k as the store's store_seq (store_batch_next_seq
 * before the commit) it pushes the pair, and store_inflight_durable(f,
 * store_durable_seq(s)) returns the highest k durable so far (0: none yet).
 * Zero-initialised it is empty. Both numbers must grow from push to push.
 * At STORE_INFLIGHT_MAX entries (a backend that far behind) a push replaces
 * the newest entry (its answers wait for the later batch: later, never
 * early); a writer that would rather not commit then asks
 * store_inflight_full first. Pure: no store, no allocation.
 */
#define STORE_INFLIGHT_MAX 64
struct store_inflight {
	struct {
		uint64_t k, store_seq;
	} e[STORE_INFLIGHT_MAX];
	size_t n;
	uint64_t durable_k;
};
bool store_inflight_full(const struct store_inflight *f);
void store_inflight_push(struct store_inflight *f, uint64_t k, uint64_t store_seq);
uint64_t store_inflight_durable(struct store_inflight *f, uint64_t durable_seq);

/* Set the durability of s's later commits. Returns 0, EINVAL, EBUSY/EIO. */
int store_set_durability(struct store *s, enum store_durability d);
uint64_t store_batch_next_seq(const struct store *s);
uint64_t store_durable_seq(struct store *s);

/*
 * When a batch of writes that began waiting at *since is due (group commit:
 * committed once its oldest change has waited wait_ms, so one commit is
 * shared by everything that arrived meanwhile). waiting: changes are queued.
 * Returns 0 when due now, else the ms left; -1 with nothing waiting. Keeps
 * the clock in *since (0: none): set on the first call that sees changes
 * waiting, cleared on one that sees none. Pure: the time is passed in.
 */
int store_batch_due(uint64_t *since, bool waiting, uint32_t wait_ms, uint64_t now_ms);

/* Insert or replace the binding (aor, contact); sets *id (if not NULL) to its
 * row id. Returns 0, ENOENT when user_id names no user, EINVAL (empty aor,
 * contact, received, transport or call_id; q > 1000), EBUSY/EIO. */
int store_regs_upsert(struct store *s, int64_t *id, const struct store_reg *r);

/* Delete one binding. Returns 0, ENOENT when absent, EINVAL, EBUSY/EIO. */
int store_regs_delete(struct store *s, const char *aor, const char *contact);

/* Delete every binding of aor; *n (if not NULL) is how many. 0 rows is not
 * an error. */
int store_regs_delete_aor(struct store *s, size_t *n, const char *aor);

/* Call fn for the bindings of aor, highest q first, then latest expiry. */
int store_regs_list_aor(struct store *s, const char *aor, store_reg_fn *fn, void *arg);

/* Call fn for every binding (startup restore), ordered by id. */
int store_regs_list_all(struct store *s, store_reg_fn *fn, void *arg);

/* Delete bindings with expires_at <= now; *n (if not NULL) is how many. */
int store_regs_expire(struct store *s, size_t *n, int64_t now);

/* ---- extra identities ------------------------------------------------------
 *
 * URIs besides its own AOR that a user may put in From (policy/identity.c):
 * a shared line "sip:sales@example.test", a number "tel:+15551230000". The
 * store keeps them as given (the admin tool validates and canonicalises
 * them) and deletes them with their user. Adding or deleting one bumps the
 * same counter as a change of users (store_users_version), so a cache that
 * reloads users when the version moves reloads identities with them.
 */

struct store_identity {
	int64_t user_id;
	char name[STORE_NAME_MAX];     /* the owner, for callers keyed by name */
	char domain[STORE_DOMAIN_MAX];
	char uri[STORE_URI_MAX];
};

typedef int(store_identity_fn)(void *arg, const struct store_identity *id);

/* Allow user (name, domain) the identity uri (non-empty, printable).
 * Returns 0, ENOENT no such user, EEXIST the user has it already, EINVAL,
 * EBUSY/EIO. */
int store_identities_add(struct store *s, const char *name, const char *domain,
			 const char *uri);

/* Withdraw it. Returns 0, ENOENT (no such user, or the user does not have
 * that identity), EINVAL, EBUSY/EIO. */
int store_identities_delete(struct store *s, const char *name, const char *domain,
			    const char *uri);

/* Call fn for the identities of (name, domain), ordered by uri; none for an
 * unknown user (check with store_users_get when it matters). */
int store_identities_list(struct store *s, const char *name, const char *domain,
			  store_identity_fn *fn, void *arg);

/* Call fn for every identity of every user, ordered by user id then uri, in
 * one read transaction (for a cache). */
int store_identities_load_all(struct store *s, store_identity_fn *fn, void *arg);

/*
 * The identities of one domain's users in memory (idents.c), for the call
 * path, which runs no SQL: a set sorted by user name, loaded whole from
 * store_identities_load_all and reloaded with the credential cache (the
 * same version counter moves for both). Users of other domains cannot call
 * through this one, so their identities are left out.
 */
struct store_idents;

/* Load the identities of the users of domain (ASCII case-insensitive) from
 * s into a new set and put it in *ip in place of the old one, which is
 * freed. Returns 0, ENOMEM, or a store error; on failure *ip is untouched
 * (the old set keeps serving). */
int store_idents_load(struct store_idents **ip, struct store *s, const char *domain);
/* Free the set and set *ip to NULL; NULL-safe. */
void store_idents_free(struct store_idents **ip);
/* The identities of user name (byte-exact), ordered by uri: at most
 * cap URI strings into out, valid until the set is freed or replaced.
 * Returns how many. A NULL set has none. */
size_t store_idents_of(const struct store_idents *set, struct slice name, const char **out,
		       size_t cap);
/* ---- call detail records ------------------------------------------------------
 *
 * One record per call attempt (an INVITE that got a final answer, or was
 * given up), written by the proxy when the attempt ends and never changed
 * afterwards. Times are unix milliseconds (UTC); duration_s is whole seconds.
 */

struct store_cdr {
	int64_t id;                         /* assigned by the store; ignored on add */
	char call_id[STORE_CALLID_MAX];
	char caller[STORE_URI_MAX];         /* From URI */
	char auth_user[STORE_NAME_MAX];     /* user name that authenticated; "" for none */
	char callee[STORE_URI_MAX];         /* Request-URI (or To URI) as routed */
	char src[STORE_RECEIVED_MAX];       /* "udp:127.0.0.1:5060", as store_reg.received */
	char transport[STORE_TRANSPORT_MAX];
	int64_t start_at;                   /* unix ms: INVITE received; > 0 */
	int64_t answer_at;                  /* unix ms: 2xx sent; 0 = never answered */
	int64_t end_at;                     /* unix ms: BYE, final failure or give-up */
	int final_status;                   /* final SIP status, 200..699 */
	int64_t duration_s;                 /* ignored on add: see store_cdr_duration_s() */
	char hangup[STORE_HANGUP_MAX];      /* "caller", "callee", "timeout", "server";
					       "none" exactly when never answered */
	/* calls beyond the building (docs/trunks.md); "" for a call between
	 * local users */
	char peer[STORE_PEER_MAX];          /* the peer it went to or came from */
	char klass[STORE_CLASS_MAX];        /* the number's class ("international", ...) */
	char dialed[STORE_DIALED_MAX];      /* the number as dialed (Request-URI user) */
	char number[STORE_NUMBER_MAX];      /* the same in E.164 */
	bool emergency;                     /* a call to an emergency number (docs/emergency.md) */
	char location[STORE_LOCATION_MAX];  /* emergency: the civic location sent, as
					       emerg_civic_format writes it; "" none */
};

typedef int(store_cdr_fn)(void *arg, const struct store_cdr *c);

/*
 * A confirmed dialog (docs/proxy.md), kept so that a restart does not break
 * the calls in progress: the proxy writes it behind when the 2xx confirms it
 * and deletes it when a BYE ends it. It carries the two sides (their tags and
 * the way each is reached, as store_reg.received text: "udp:1.2.3.4:5060",
 * and the local address that side was reached on) and the call record so
 * far, so that the BYE after a restart ends both sides and writes the record
 * with its real end.
 */
struct store_dialog {
	char call_id[STORE_CALLID_MAX];
	char tag[2][STORE_TAG_MAX];           /* [0] the caller's From tag, [1] the callee's */
	char way[2][STORE_RECEIVED_MAX];      /* how each side is reached */
	char local[2][STORE_RECEIVED_MAX];    /* the local address on that side ("" unknown) */
	char caller[STORE_URI_MAX];           /* the record so far (struct store_cdr) */
	char auth_user[STORE_NAME_MAX];
	char callee[STORE_URI_MAX];
	char src[STORE_RECEIVED_MAX];
	char transport[STORE_TRANSPORT_MAX];
	int64_t start_at, answer_at;          /* unix ms; answer_at > 0 */
	int64_t expires_at;                   /* unix ms: the lifetime cap */
	char peer[STORE_PEER_MAX];            /* the record's fields of an outside call */
	char klass[STORE_CLASS_MAX];
	char dialed[STORE_DIALED_MAX];
	char number[STORE_NUMBER_MAX];
	int32_t cseq_delta;                   /* added to the caller's CSeqs toward the callee
						 (a carrier's challenge answered), 0..1000 */
	bool emergency;                       /* an emergency call (schema 12): its record
						 stays marked after a restart */
	char location[STORE_LOCATION_MAX];    /* with the location that was sent ("" none) */
};

typedef int(store_dialog_fn)(void *arg, const struct store_dialog *d);

/* Insert or replace the dialog (call_id, tag[0], tag[1]). Returns 0, EINVAL
 * (an empty call_id, tag or way, a string not NUL-terminated in its array),
 * EBUSY/EIO, or ENOSYS for a backend without dialogs. */
int store_dialogs_put(struct store *s, const struct store_dialog *d);
/* Delete one dialog; 0 also when there was none. */
int store_dialogs_delete(struct store *s, const char *call_id, const char *tag0,
			 const char *tag1);
/* Every stored dialog, in one read transaction; fn's non-zero return stops
 * the walk and is returned. */
int store_dialogs_list(struct store *s, store_dialog_fn *fn, void *arg);

/* Whole seconds the call was connected: (end_at - answer_at) / 1000, rounded
 * down, when answered; else 0. The store and the CDR log both use this, so a
 * caller's duration_s can never disagree with the times. */
static inline int64_t store_cdr_duration_s(const struct store_cdr *c)
{
	return c->answer_at > 0 && c->end_at >= c->answer_at ? (c->end_at - c->answer_at) / 1000
							       : 0;
}

/*
 * Add one record; duration_s is computed (above), whatever the caller put
 * there. Sets *id (if not NULL). Returns 0, EBUSY/EIO, or EINVAL when:
 * call_id, caller, callee, src or transport is empty; a string is not
 * NUL-terminated within its array or holds a control byte; start_at <= 0;
 * end_at < start_at; answer_at is neither 0 nor within [start_at, end_at];
 * final_status is outside 200..699; a 2xx status without answer_at or an
 * answer_at without a 2xx; hangup is not one of the names above, or "none"
 * for an answered call, or not "none" for an unanswered one.
 */
int store_cdr_add(struct store *s, int64_t *id, const struct store_cdr *c);

/* Call fn for every record with start_at >= since (unix ms; 0 or less for
 * all), of auth_user == user only when user is not NULL (exact, byte-wise;
 * "" selects the unauthenticated attempts), ordered by start_at then id.
 * Returns 0, EINVAL, EOVERFLOW (a stored field too long for the struct),
 * EBUSY/EIO, or fn's non-zero return. */
int store_cdr_list(struct store *s, int64_t since, const char *user, store_cdr_fn *fn,
		   void *arg);

/* ---- the calls' batch -------------------------------------------------------------
 *
 * Confirmed dialogs and call records are written in batches (calls.c), like
 * bindings: queued as calls are confirmed and end, and written in one
 * transaction (group commit: one commit per call was a sixth of a call's
 * cost). struct store_calls is that queue and its batch numbers: a dialog's
 * put when a 2xx confirms it, its delete when it ends (a dialog that ends
 * within the batch it began in never reaches the store: the delete forgets
 * the put), each call record; store_calls_commit writes them all, and the
 * caller's own writes (the toll-fraud counters) through ops->inside, in one
 * transaction, and returns what became of them as a value. Its batches are
 * numbered k = 1, 2, ... in commit order (what held answers wait on); each
 * committed one is tracked to durable (store_inflight). At most
 * STORE_CALLS_MAX dialog writes and as many records wait: the caller asks
 * store_calls_full before queueing and commits first when it is. Every
 * operation costs at most STORE_CALLS_MAX steps, whatever the number of
 * calls in progress. No clock, no log: what failed goes to ops.
 */
#define STORE_CALLS_MAX 256

struct store_calls;

/* What store_calls_commit tells its caller while the transaction is open;
 * any may be NULL. */
struct store_calls_ops {
	/* dialog d's put (put) or delete failed with rc (never ENOSYS) */
	void (*dialog_failed)(void *arg, const struct store_dialog *d, bool put, int rc);
	/* record c failed with rc; store_errmsg says more, now */
	void (*record_failed)(void *arg, const struct store_cdr *c, int rc);
	/* the caller's writes that ride in the same transaction, after the
	 * batch's own (called without a store too) */
	void (*inside)(void *arg);
};

/* What a commit did. records and nrecords: the batch's records in the order
 * queued, each with the row id the store gave (0: not stored: no store, its
 * write failed, or the commit did); they stay readable until the next call
 * that queues or commits on the same queue. */
struct store_calls_result {
	uint64_t k;              /* this batch's number */
	int rc;                  /* the commit's: 0, or why none of the batch was kept */
	bool dialogs_failed;     /* a dialog's put failed, or the commit: its calls
				    may not wait for it (proxy_not_stored(k)) */
	bool dialogs_unstored;   /* the backend keeps no dialogs (ENOSYS), from now on */
	const struct store_cdr *records;
	size_t nrecords;
};

/* An empty queue (about 1.8 MB: the two arrays), batch 0 committed. 0 or
 * ENOMEM (*qp untouched). */
int store_calls_new(struct store_calls **qp);
/* Free it with whatever still waits (the caller commits first); NULL. */
void store_calls_free(struct store_calls **qp);

/* Full: either queue holds STORE_CALLS_MAX, or both hold batch_max (0: no
 * such bound) together. A full queue takes nothing more: commit first, so
 * that the new entry (and the answer that waits for it) goes in the next. */
bool store_calls_full(const struct store_calls *q, uint32_t batch_max);
/* Dialog writes and records waiting. */
size_t store_calls_pending(const struct store_calls *q);
/* The number the next commit gets: what an entry queued now waits on. */
uint64_t store_calls_next(const struct store_calls *q);

/* Queue a put of d (copied). Returns the batch it goes in, or 0 when the
 * backend keeps no dialogs (nothing to wait for) or the queue is full (not
 * queued). */
uint64_t store_calls_dialog_put(struct store_calls *q, const struct store_dialog *d);
/* A dialog ended: true when a put of (call_id, tag0, tag1) still waits, which
 * is forgotten (never stored, nothing to delete). */
bool store_calls_dialog_forget(struct store_calls *q, const char *call_id, const char *tag0,
			       const char *tag1);
/* Queue its delete (after store_calls_dialog_forget said false). The
 * strings are copied, truncated to their store_dialog arrays. 0 or
 * EOVERFLOW (full: not queued). */
int store_calls_dialog_delete(struct store_calls *q, const char *call_id, const char *tag0,
			      const char *tag1);
/* Queue a copy of rec; returns the copy (the caller may mark it before the
 * commit, until the next call on q), or NULL when full (not queued). */
struct store_cdr *store_calls_record(struct store_calls *q, const struct store_cdr *rec);
/* The backend keeps no dialogs (store_dialogs_list said ENOSYS): later puts
 * return 0. */
void store_calls_no_dialogs(struct store_calls *q);

/*
 * Write the batch to s (NULL: no store; the records come back with id 0)
 * in one transaction (each write its own when store_batch_begin fails):
 * the dialog writes in order, then the records in order, then ops->inside;
 * the queue is empty after it. Commits even an empty batch (ops->inside may
 * have writes). A committed batch whose dialogs were all kept is tracked
 * until durable (store_calls_durable).
 */
struct store_calls_result store_calls_commit(struct store_calls *q, struct store *s,
					     const struct store_calls_ops *ops, void *arg);
/* The highest batch durable on s now (0: none yet; NULL s: none but those
 * already known). */
uint64_t store_calls_durable(struct store_calls *q, struct store *s);

/* ---- bans ------------------------------------------------------------------------
 *
 * The guard's bans of source addresses (guard/guard.h), kept so that they
 * survive a restart and so that `bastion ban` can add and lift them while the
 * server runs. One row per source, keyed by the text guard_key_parse() makes
 * ("192.0.2.1", "2001:db8:1:2::/64"); the store does not parse it, it only
 * refuses empty, overlong or control-character keys. Expired rows stay until
 * store_bans_expire() removes them, so a source's count survives its ban.
 *
 * A server notices writes by other processes with store_data_version(): one
 * pragma read, no query, cheap enough to call every few hundred ms.
 */

#define STORE_BAN_ADDR_MAX 64    /* key text as guard_key_parse makes it */
#define STORE_BAN_REASON_MAX 64  /* "rate", "brute force", "scanner", "operator" */

struct store_ban {
	char addr[STORE_BAN_ADDR_MAX];
	int64_t until;                   /* unix seconds the ban ends; > 0 */
	uint32_t count;                  /* bans of this source so far (escalation); >= 1 */
	char reason[STORE_BAN_REASON_MAX]; /* may be empty */
	int64_t created_at;              /* unix seconds; 0 on put means now */
};

typedef int(store_ban_fn)(void *arg, const struct store_ban *b);

/* Insert or replace (every field) the ban of b->addr. Returns 0, EBUSY/EIO, or
 * EINVAL when addr is empty, a string is not NUL-terminated within its array
 * or holds a control byte, until <= 0, count is 0 or created_at < 0. */
int store_bans_put(struct store *s, const struct store_ban *b);

/* Remove the ban of addr (exact text). Returns 0, ENOENT when there is none,
 * EINVAL (NULL, empty, control bytes, or too long to be a key), EBUSY/EIO. */
int store_bans_delete(struct store *s, const char *addr);

/* Call fn for every ban with until > now, soonest end first (then by addr).
 * Returns 0, EINVAL, EOVERFLOW (a stored field does not fit the struct, or a
 * count outside 1..UINT32_MAX), EBUSY/EIO, or fn's non-zero return, which
 * stops the walk. */
int store_bans_list(struct store *s, int64_t now, store_ban_fn *fn, void *arg);

/* Delete the bans with until <= now; *n (may be NULL) gets how many. */
int store_bans_expire(struct store *s, size_t *n, int64_t now);

/* ---- change detection ---------------------------------------------------------- */

/* SQLite's PRAGMA data_version of this handle into *v: it changes exactly
 * when ANOTHER connection (the CLI, another server) committed since the last
 * call; this handle's own writes do not change it. Compare with the previous
 * value; the number itself means nothing. Returns 0, EINVAL, EBUSY/EIO. */
int store_data_version(struct store *s, int64_t *v);

/* ---- several nodes (PostgreSQL) ------------------------------------------------
 *
 * With PostgreSQL, nodes share the store and learn of each other's commits
 * through LISTEN/NOTIFY (src/store/pg.c): store_users_version() moves within
 * a poll of a change by any node, store_data_version() moves on users and
 * bans changes, and store_regs_changes() names the addresses of record whose
 * bindings another node changed. The server's writes (bindings, bans, call
 * records) are written behind: when the server is unreachable they wait in a
 * bounded queue, in order, and are written when the connection returns
 * (reconnect with backoff). SQLite serves one node: no changes to report,
 * nothing ever queued.
 */

typedef int(store_aor_fn)(void *arg, const char *aor);

/* Call fn once for each AOR whose bindings another node changed since the
 * last call (any order, each once). *all is set instead when changes could
 * not be followed one by one (the connection was lost, or too many at once):
 * the caller should reread every binding. Returns 0, EINVAL, or fn's
 * non-zero return. */
int store_regs_changes(struct store *s, bool *all, store_aor_fn *fn, void *arg);

struct store_backend_stats {
	bool connected;               /* false while the server is unreachable */
	size_t queued;                /* writes waiting for the server */
	size_t queue_max;             /* 0: no queue (SQLite writes at once) */
	size_t queued_on_disk;        /* of those, records in the on-disk queue (journal) */
	uint64_t down_ms;             /* how long it has been unreachable */
	uint64_t writes_queued;       /* writes that had to wait, in all */
	uint64_t writes_done;         /* queued writes written */
	uint64_t writes_refused;      /* queued writes the server refused (bad row) */
	uint64_t writes_dropped;      /* refused with ENOSPC: the queue was full */
	uint64_t disconnects, reconnects, reconnect_attempts;
};

/* The connection and queue state, for events and metrics; a plain read that
 * never talks to the server (cheap enough for every REGISTER). Returns 0 or
 * EINVAL. */
int store_backend_stats(struct store *s, struct store_backend_stats *out);

/* How many writes may wait for an unreachable server (> 0); beyond, a write
 * gets ENOSPC and the caller must refuse what it would have acknowledged.
 * No effect on SQLite. */
#define STORE_QUEUE_MAX_DEFAULT 100000
void store_set_queue_max(struct store *s, size_t n);

/* Whether n more writes fit in the queue: true when nothing is queued below
 * the bound (always with SQLite). The registrar asks before it acknowledges
 * a REGISTER, and answers 503 when they would not fit. */
bool store_write_room(struct store *s, size_t n);

/*
 * Name this handle's node and give it its on-disk queue (PostgreSQL;
 * docs/scaling.md). node is a stable id of the node, 1 to 64 characters of
 * [0-9a-z-]: the dialogs it writes are its own, and only its own are listed
 * (a restarting node takes in its calls, not those of the others).
 * journal is the path of a file (NULL: none) that makes the write queue
 * durable: while the database is unreachable, every write that waits is
 * appended there and fsynced before its batch counts as committed
 * (store_durable_seq), and the file is emptied once the database has them.
 * Attaching replays a journal left by an earlier run into the database, in
 * order and exactly once (the database keeps, per node, the last record it
 * committed, in the same transaction as the writes), before it returns;
 * *replayed (may be NULL) gets how many records it wrote.
 * Returns 0 (SQLite: nothing to do), EINVAL, EBUSY (another process has
 * the journal), EPROTO (a journal written by a build with other
 * statements), ENOTCONN (the database is unreachable and the journal holds
 * records: they are queued, and written on reconnection), EIO.
 */
int store_node_attach(struct store *s, const char *node, const char *journal, size_t *replayed);

/* ---- user locks --------------------------------------------------------------------
 *
 * The guard's lock of a user after too many wrong digest responses
 * (guard/guard.h), shared so that a lock on one node applies on every node
 * (docs/scaling.md): a node writes the lock when it starts, the others read
 * the locks when store_data_version() moves. Key: the user name.
 */
typedef int(store_lock_fn)(void *arg, const char *name, int64_t until);

/* Insert or extend the lock of name until `until` (unix seconds; the later
 * end wins). Returns 0, EINVAL (empty or overlong name, control bytes,
 * until <= 0), EBUSY/EIO, ENOSYS for a backend without locks. */
int store_locks_put(struct store *s, const char *name, int64_t until);

/* Call fn for every lock with until > now, by name; locks ended long ago
 * are removed on the way. */
int store_locks_list(struct store *s, int64_t now, store_lock_fn *fn, void *arg);

/* ---- toll-fraud counters ------------------------------------------------------------
 *
 * The calls per hour and minutes per day of each user and peer that places
 * outside calls (trunk/trunk.h, struct trunk_usage), kept so that a restart
 * or a second node does not hand a caller a fresh budget (docs/trunks.md,
 * Limits). One row per key ("u:NAME", "p:PEER") and node: each node writes
 * only its own counts (the handle's node, store_node_attach; '' on SQLite)
 * as trunk_usage_encode's text, and reads everyone's.
 */
#define STORE_FRAUD_KEY_MAX 160    /* with its NUL */
#define STORE_FRAUD_COUNTS_MAX 1024 /* with its NUL (TRUNK_USAGE_TEXT_MAX) */
#define STORE_FRAUD_KEEP_S 90000   /* a row not written for this long counts nothing: dropped */

/* One row: own is true for this handle's node. Return non-zero to stop. */
typedef int(store_fraud_fn)(void *arg, const char *key, bool own, const char *counts);

/* Insert or replace this node's counts of key, written at now (unix
 * seconds). Joins the open batch (store_batch_begin) like every write.
 * Returns 0, EINVAL (empty, overlong or unprintable key or counts),
 * EBUSY/EIO, ENOSPC (a remote store's queue is full), ENOSYS. */
int store_fraud_put(struct store *s, const char *key, const char *counts, int64_t now);

/* Call fn for every row written after now - STORE_FRAUD_KEEP_S (with
 * others_only, only the other nodes' rows), by key; older rows are deleted
 * on the way. Returns 0, fn's non-zero, or a store error; ENOSYS for a
 * backend without them. */
int store_fraud_list(struct store *s, int64_t now, bool others_only, store_fraud_fn *fn,
		     void *arg);

/* ---- nonce epochs (several nodes) -------------------------------------------
 *
 * How a nonce made by one node is accepted by another without letting a
 * replay through (docs/scaling.md, auth.h's struct auth_epochs). Each node
 * makes its nonces under an epoch: a number, a key, and a lease in the
 * database that names the node holding the epoch's nonce-counts. The node
 * renews its leases every second and accepts its nonces only while its
 * lease holds (measured on its own clock from before the renewal was sent,
 * so it stops before the database's clock ends the lease). When a lease
 * lapses, any other node may take the epoch over, atomically, and then
 * accepts its nonces against the counts the first node recorded
 * (store_nonce_use_put, written in the same batches as the requests they
 * answered). An epoch taken over ends `lifetime_s` after the lease lapsed:
 * its node made no nonce after that. PostgreSQL only (ENOSYS on SQLite).
 */
#define STORE_EPOCH_KEY_LEN 32
#define STORE_NODE_MAX 65            /* a node id (store_node_attach) and its NUL */

struct store_epoch {
	uint32_t epoch;
	uint8_t key[STORE_EPOCH_KEY_LEN];
	char node[STORE_NODE_MAX];   /* the node that made it */
	bool held;                   /* this node holds its counts, with a lease the
					round renewed or took */
};
typedef int(store_epoch_fn)(void *arg, const struct store_epoch *e);

/* Start this node's epoch, held by it for lease_ms (database clock).
 * Returns 0, EEXIST (the number is taken: draw another), EINVAL (epoch 0),
 * ENOTCONN, EIO, ENOSYS. */
int store_epoch_start(struct store *s, uint32_t epoch, const uint8_t key[STORE_EPOCH_KEY_LEN],
		      uint32_t lease_ms);

/* One round: renew the leases of `mine` (the epochs this process holds: its
 * own and those it took over; at most STORE_EPOCHS_MINE_MAX) unless they ran
 * out; take over at most max_take other epochs whose lease lapsed; delete
 * ended epochs and their counts; then call fn for every epoch not ended
 * (the 64 with the latest leases), held set for those whose lease this round
 * renewed or took (an epoch of `mine` that comes back not held is lost:
 * stop accepting it). Synchronous. Returns 0, fn's non-zero, EINVAL,
 * ENOTCONN, EIO, ENOSYS. */
#define STORE_EPOCHS_MINE_MAX 16
int store_epochs_sync(struct store *s, const uint32_t *mine, size_t nmine, uint32_t lease_ms,
		      uint32_t lifetime_s, uint32_t max_take, store_epoch_fn *fn, void *arg);

/* Record that nonce-count nc was accepted for (epoch, seq); the highest
 * stays. Joins the open batch like every write. Returns 0, EINVAL (nc 0),
 * ENOSPC (queue full), EIO, ENOSYS. */
int store_nonce_use_put(struct store *s, uint32_t epoch, uint64_t seq, uint32_t nc);

/* The same for n counts at once (the same (epoch, seq) may come more than
 * once: the highest stays), in few statements (STORE_NONCE_USES_PER_WRITE
 * counts each): what a node writes with each batch. */
#define STORE_NONCE_USES_PER_WRITE 256
struct store_nonce_use {
	uint32_t epoch;
	uint32_t nc;
	uint64_t seq;
};
int store_nonce_uses_put(struct store *s, const struct store_nonce_use *u, size_t n);

typedef int(store_nonce_use_fn)(void *arg, uint64_t seq, uint32_t nc);
/* The counts recorded for epoch, highest sequence numbers first, at most
 * max; *more is set when there were more (the caller refuses the older
 * ones). Returns 0, fn's non-zero, ENOTCONN, EIO, ENOSYS. */
int store_nonce_uses_list(struct store *s, uint32_t epoch, size_t max, bool *more,
			  store_nonce_use_fn *fn, void *arg);

/* Delete epoch's counts of sequence numbers below `below` (nonces older
 * than their lifetime). Returns 0 or a store error; ENOSYS. */
int store_nonce_uses_trim(struct store *s, uint32_t epoch, uint64_t below);

/* ---- credential cache ------------------------------------------------------
 *
 * A hash table (base/hash's htab, SipHash-keyed, bounded by max_users)
 * (name, domain) -> credentials built from
 * store_users_load_all(). Lookups never touch SQL. The server calls
 * store_cache_refresh() every ~200 ms; it costs one store_users_version()
 * and reloads the whole table only when the version moved, building the new
 * table aside and swapping it in, so a failed reload keeps the old one.
 *
 * Memory per user: one allocation of 160 bytes (link, hash, id, flags, calling
 * class, both HA1 hex strings, the password deadline, string lengths) plus the
 * lengths of name, domain and realm (and 98 bytes for the old HA1s of a user in
 * a password rotation's grace) and malloc's overhead, plus 8 to 16 bytes of
 * bucket array (a power of two
 * >= the number of users): about 200 bytes for typical names, so 100,000
 * users take about 20 MB. During a reload the old and the new table coexist
 * for a moment (twice that). The number of users is capped by max_users.
 */

struct store_cache;

struct store_cache_entry {
	int64_t user_id;
	bool enabled;
	bool fraud_hold;          /* store_user.fraud_hold is not empty */
	char calling[STORE_CALLING_MAX]; /* store_user.calling */
	bool require_client_cert; /* store_user.require_client_cert */
	uint8_t digest;           /* store_user.digest */
	char realm[STORE_REALM_MAX];
	char ha1_md5[STORE_HA1_MD5_LEN + 1];
	char ha1_sha256[STORE_HA1_SHA256_LEN + 1];
	/* store_user.old_cred's HA1s (empty: none; kept only when made for the
	 * same realm) and pw_deadline */
	char old_ha1_md5[STORE_HA1_MD5_LEN + 1];
	char old_ha1_sha256[STORE_HA1_SHA256_LEN + 1];
	int64_t pw_deadline;
};

/* Make an empty cache that will hold at most max_users users (> 0).
 * Returns 0, EINVAL, ENOMEM; *cp untouched on failure. */
int store_cache_new(struct store_cache **cp, size_t max_users);

/* Free the cache and set *cp to NULL; NULL-safe. */
void store_cache_free(struct store_cache **cp);

/* Reload from s if store_users_version() moved since the last load (or
 * nothing was loaded yet). *reloaded (if not NULL) tells whether it did.
 * Returns 0; EOVERFLOW when the store holds more than max_users; ENOMEM;
 * EIO when no random key could be drawn for the new table; store errors. On any failure the previous contents stay in place. */
int store_cache_refresh(struct store_cache *c, struct store *s, bool *reloaded);

/* Look up (name, domain); name byte-exact, domain ASCII case-insensitive.
 * Copies the credentials into *out. Returns 0 or ENOENT. Disabled users are
 * found (with enabled false) so the caller can tell "unknown" from
 * "disabled" in its logs. */
int store_cache_lookup(const struct store_cache *c, struct store_cache_entry *out,
		       struct slice name, struct slice domain);

/* Number of users held, and the store version they came from. */
size_t store_cache_count(const struct store_cache *c);
uint64_t store_cache_version(const struct store_cache *c);
/* Entries examined by lookups since the last load (base/hash's probes): lets
 * a test show that lookups stay short whatever names a peer sends. */
uint64_t store_cache_probes(const struct store_cache *c);

/* ---- snapshots (snapshot.c) ------------------------------------------------ */

/*
 * Copy the SQLite database src_path into the new file dst_path (created
 * mode 0600, O_EXCL) with SQLite's online backup API: one consistent
 * snapshot, safe while a server writes to the source. The copy is in
 * rollback-journal mode, one self-contained file. Returns 0, or an errno
 * with the reason in err (dst_path removed).
 */
int store_snapshot(const char *src_path, const char *dst_path, char *err, size_t errlen);

/* PRAGMA integrity_check on the SQLite file path (read-only). Returns 0, or
 * EBADMSG with SQLite's words in err. */
int store_integrity_check(const char *path, char *err, size_t errlen);

#endif
