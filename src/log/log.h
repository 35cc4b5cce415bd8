/*
 * log: the diagnostic log (stderr, one line per event, UTC timestamp) and the
 * rate limiter that keeps floods of refusals from filling it.
 *
 * Untrusted bytes reach a log line only through slice_repr (escaped and
 * truncated). That is the operator's running commentary.
 *
 * The security event log (event.c) is the other half: one JSON object per line
 * in its own file (mode 0600), optionally copied to syslog (LOG_AUTH), for the
 * auditor and for tools like fail2ban. Call detail records (cdr.c) have their
 * own JSON-lines file, written with the same care (the server hands each
 * record to the store and to this file). log_files_open opens the files of a
 * run together, and reopens them on a reload (files.c).
 */
#ifndef BASTION_LOG_H
#define BASTION_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/base.h"
#include "../net/net.h"

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level lvl);
bool log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Life-cycle lines (listening, ready, reloaded, stopped): printed whatever
 * the level, since operators and scripts wait for them. */
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/*
 * A per-second budget of log lines. log_limit_allow() says whether one more
 * line may be written in the second `now_s`; lines refused are counted, and
 * the first allowed line of a later second is preceded by a summary
 * "N similar lines suppressed" (written by log_limit_allow itself).
 */
struct log_limit {
	uint32_t per_sec;
	uint64_t sec;
	uint32_t used;
	uint64_t suppressed;
	const char *what;  /* names the kind of line in the summary */
};

bool log_limit_allow(struct log_limit *l, uint64_t now_s);

/*
 * Security events.
 *
 * Each event is written as one line of compact JSON:
 *   {"time":"2024-05-01T12:00:00.123Z","kind":"auth.failure","src":"192.0.2.7",
 *    "port":5060,"transport":"udp","user":"alice","aor":"sip:alice@example.org",
 *    "call_id":"...","user_agent":"...","reason":"bad response","status":403}
 * Fields that are empty (NULL or zero-length, status 0, has_src false) are
 * left out; "time" and "kind" are always present. A line written to the
 * file ends with "seq" and "prev" (the hash chain, "Tamper-evident logs"
 * below); syslog gets the same line.
 *
 * Untrusted bytes: every string value goes through slice_repr, so bytes
 * outside printable ASCII (NUL, CR, LF, invalid or even valid UTF-8) and the
 * backslash appear as the four characters \xNN, and at most
 * LOG_EVENT_FIELD_MAX input bytes of a value are kept ("..." marks the cut).
 * The value is therefore always printable ASCII, of which JSON escapes only
 * the quote and the backslash, and the line always one line.
 *
 * Secrets never reach the log. There is no field for a password, a digest
 * response or a nonce, and as a second line of defence every value that looks
 * like a digest credential (contains "response=", "nonce=" or "Digest ",
 * ignoring case, after escaping and truncation) is replaced by "[redacted]"
 * and counted. Callers must still pass only the fields named here: a raw hash
 * without its "response=" label cannot be recognised.
 *
 * Each line is written with one write(2) on an O_APPEND descriptor, so lines
 * of concurrent processes (the server and the admin CLI) never interleave.
 * The state is per process and not locked: call these from one thread.
 */
#define LOG_EVENT_FIELD_MAX 256

struct log_event {
	const char *kind;              /* "auth.failure", "register.ok", ...: required */
	const struct net_addr *src;    /* the peer, used when has_src */
	enum net_transport tp;         /* used when has_src */
	bool has_src;
	struct slice user;             /* untrusted: escaped and truncated */
	struct slice aor;              /* untrusted */
	struct slice call_id;          /* untrusted */
	struct slice user_agent;       /* untrusted */
	const char *reason;            /* short text from the code, or NULL */
	int status;                    /* SIP status answered, 0: none */
	struct slice os_user;          /* admin.* events: the operating-system user */
	struct slice sudo_user;        /* admin.* events: $SUDO_USER, when set */
};

/* Room for a packed event (log_event_pack): a fixed part and four fields of
 * at most LOG_EVENT_FIELD_MAX + 1 bytes (one more than the log keeps, so that
 * the packed copy still marks a cut). */
#define LOG_EVENT_PACKED_MAX (256 + 4 * (LOG_EVENT_FIELD_MAX + 1))

/*
 * Pack e into out (LOG_EVENT_PACKED_MAX bytes, any alignment) to be recorded
 * later, when the change it reports is durable: kind and reason are kept as
 * pointers (string literals, which outlive the copy), the source address,
 * transport, has_src and status by value, and user, aor, call_id and
 * user_agent as bytes, each cut to LOG_EVENT_FIELD_MAX + 1. os_user and
 * sudo_user are not kept (admin events are never held). Returns the bytes
 * used. Pure.
 */
size_t log_event_pack(void *out, const struct log_event *e);

/*
 * The event packed in note[0..len) into *e, its strings pointing into note
 * and its source address copied to *src (e->src = src). Returns false, *e
 * untouched, when note is shorter than what its fixed part says it holds.
 * Pure; log_event(e) records it.
 */
bool log_event_unpack(struct log_event *e, struct net_addr *src, const void *note, size_t len);

struct log_event_stats {
	uint64_t written;   /* events recorded (file write done, or syslog only) */
	uint64_t failed;    /* events lost: JSON not built or write(2) failed/short */
	uint64_t redacted;  /* field values replaced by "[redacted]" */
};

/*
 * Start the security event log: open (create, append) `path` with
 * O_APPEND|O_CREAT|O_CLOEXEC and mode 0600 (an existing regular file with
 * wider permissions is narrowed to 0600), and when to_syslog also
 * openlog("bastion", LOG_PID|LOG_NDELAY, LOG_AUTH). path NULL or "" means no
 * file (syslog only, or nothing). If the log is already open this is
 * log_events_reopen(). Returns 0 or the errno of open(2).
 */
int log_events_open(const char *path, bool to_syslog);

/*
 * Switch to `path` and the syslog setting (SIGHUP, after logrotate moved the
 * file): the new file is opened before the old one is closed, and on failure
 * the old file and syslog setting stay in use and the errno is returned.
 */
int log_events_reopen(const char *path, bool to_syslog);

/* Close the file and syslog; later events are dropped silently (not counted). */
void log_events_close(void);

/*
 * Record one event (see above). Never fails visibly: a lost event is counted
 * in `failed` and reported on the diagnostic log (rate limited). e->kind NULL
 * counts as a failure. No-op when neither a file nor syslog is open.
 * Syslog priority is LOG_WARNING for log_event_is_warning() kinds, else
 * LOG_NOTICE.
 */
void log_event(const struct log_event *e);

/* True for kinds that report a failure or an attack: the kind contains
 * "failure", "hijack", "replay", "unknown", "spoof", "lockout" or "ban". */
bool log_event_is_warning(const char *kind);

void log_events_stats(struct log_event_stats *out);

/*
 * Events recorded so far by kind, and for "auth.*" kinds also by reason, for
 * the metrics: fn(arg, kind, reason, count) once per pair ("" when there is
 * no reason). At most LOG_EVENT_KINDS pairs are kept; later new pairs are
 * counted under kind "other". Counted whether or not a file is open.
 */
#define LOG_EVENT_KINDS 96
typedef void(log_event_count_fn)(void *arg, const char *kind, const char *reason, uint64_t n);
void log_event_counts(log_event_count_fn *fn, void *arg);

/*
 * Call detail records (CDRs): one JSON object per line, one line per call
 * attempt, in a file of its own (mode 0600, O_APPEND, one write(2) a line):
 *   {"time":"2026-11-23T10:01:05.120Z","call_id":"a84b4c76e66710",
 *    "caller":"sip:1001@example.org","auth_user":"1001",
 *    "callee":"sip:1002@example.org","src":"udp:192.0.2.7:5060",
 *    "transport":"udp","start":"2026-11-23T10:00:00.000Z",
 *    "answer":"2026-11-23T10:00:03.500Z","end":"2026-11-23T10:01:05.100Z",
 *    "status":200,"duration_s":61,"hangup":"caller","id":17}
 * followed by "seq" and "prev" (the hash chain). Every key but "id" is always present: auth_user is "" for an attempt that
 * did not authenticate, "answer" is null for one never answered, "id" (the
 * store's row id) appears only when > 0. duration_s is computed from the
 * times with store_cdr_duration_s(), whatever the record says. "time" is when
 * the line was written; start, answer and end are the record's unix ms as
 * UTC. String values are escaped, truncated and scrubbed exactly like the
 * security events' (LOG_EVENT_FIELD_MAX input bytes; a string array of the
 * record that lacks its NUL is read only up to its size).
 * The state is per process and not locked: call these from one thread.
 */
struct store;
struct store_cdr;

struct log_cdr_stats {
	uint64_t written;   /* lines written */
	uint64_t failed;    /* records lost: JSON not built or write(2) failed/short */
	uint64_t redacted;  /* field values replaced by "[redacted]" */
};

/* Open (create, append) the CDR file; if one is open, this is
 * log_cdr_reopen(). path NULL or "" means no file. Returns 0 or an errno. */
int log_cdr_open(const char *path);

/* Switch to path (after logrotate moved the file): the new file is opened
 * before the old one is closed; on failure the old one stays and the errno
 * is returned. path NULL or "" closes the file. */
int log_cdr_reopen(const char *path);

/* Close the file; later records are dropped silently (not counted). */
void log_cdr_close(void);

/* Append the line of c. Never fails visibly: a lost record is counted in
 * `failed` and reported on the diagnostic log (rate limited); c NULL counts
 * as lost. No-op when no file is open. */
void log_cdr(const struct store_cdr *c);

void log_cdr_stats(struct log_cdr_stats *out);

/* Call attempts passed to log_cdr() (whether or not a file is open), by
 * the class of their final status (index 1..6 for 1xx..6xx, 0 for anything
 * else), for the metrics. */
void log_cdr_attempts(uint64_t out[7]);

/*
 * Remote logging over TLS (remote.c): every security event also goes, as an
 * RFC 5424 message (facility auth; MSGID the kind; MSG the JSON line with
 * its seq and prev) with RFC 5425 octet-counting framing, to a log server
 * over mutual TLS, through a bounded queue on disk (see remote.c for the
 * guarantees). log_event() queues; a thread sends.
 */
#define LOG_REMOTE_QUEUE_MIN (256u * 1024u)

struct log_remote_conf {
	const char *host;              /* name or numeric address of the log server */
	uint16_t port;
	const char *name;              /* the name its certificate must carry; NULL: host */
	const char *ca_file;           /* PEM CAs its certificate must chain to */
	const char *cert_file;         /* our certificate (mutual TLS), PEM */
	const char *key_file;          /* its key, PEM, not encrypted */
	const char *queue_dir;         /* the queue (made 0700 when missing) */
	uint64_t queue_max;            /* bytes, at least LOG_REMOTE_QUEUE_MIN */
};

struct log_remote_stats {
	uint64_t queued;               /* messages queued */
	uint64_t sent;                 /* messages written to the log server */
	uint64_t dropped;              /* oldest messages dropped: queue full */
	uint64_t connects;             /* connections established */
	uint64_t connect_failures;     /* connect or handshake failed */
	uint64_t refused_cert;         /* the server's certificate did not verify or name */
	uint64_t garbage;              /* disconnected: the server sent data */
	uint64_t queue_bytes;          /* bytes on disk now */
	bool connected;
};

/* Check the files (CA, certificate, key), open the queue and start the
 * sender. Returns 0, or EINVAL/ENOMEM/an errno with err naming the setting
 * at fault. A running sender is stopped first. */
int log_remote_start(const struct log_remote_conf *c, char *err, size_t errlen);
/* Stop the sender (what is queued stays on disk for the next start). */
void log_remote_stop(void);
bool log_remote_running(void);
void log_remote_stats(struct log_remote_stats *out);
/* Drops since the last call (log_tick reports them as an event). */
uint64_t log_remote_take_dropped(void);
/* Queue one event line (log_event does this). */
void log_remote_send(bool warning, const char *kind, const char *line, size_t len);

/*
 * RFC 5425 octet-counting framing (frame.c), pure: "LEN SP MSG" per message.
 * LOG_FRAME_MSG_MAX bounds a message (the queue's lines are far shorter).
 */
#define LOG_FRAME_MSG_MAX 65536u

/* Frame the whole lines ("MSG\n", MSG not empty, at most LOG_FRAME_MSG_MAX)
 * at the start of in[0..len) into out[0..cap), as many as fit, in order.
 * *outlen gets the bytes written, *consumed the input bytes framed
 * (newlines included), *nmsgs how many. An unfinished last line is left.
 * Returns 0, EINVAL (NULL), or EBADMSG when the first line is empty or too
 * long (*consumed then 0: the caller must skip or drop it). */
int log_frame_lines(char *out, size_t cap, size_t *outlen, size_t *consumed, size_t *nmsgs,
		    const char *in, size_t len);

struct log_frame {
	struct slice msg;      /* the message, a slice of the input */
	size_t consumed;       /* bytes of the frame, header included */
	size_t error_at;       /* EBADMSG/EOVERFLOW: offset of the fault */
};

/* Parse the frame at the start of p[0..len). Returns 0 (f->msg,
 * f->consumed), ENODATA (a frame may follow with more bytes), EBADMSG (not
 * octet counting: a length without digits, with a leading zero, or not
 * followed by SP), EOVERFLOW (a length above LOG_FRAME_MSG_MAX), EINVAL.
 * Never reads beyond p + len. */
int log_frame_parse(struct log_frame *f, const char *p, size_t len);

/*
 * Tamper-evident logs (chain.c, verify.c).
 *
 * Each line of security.log and cdr.log ends with "seq" (its number in the
 * chain, continuing across rotated files) and "prev" (hex SHA-256 of the
 * previous line's bytes without the newline; 64 zeros before the first).
 * Checkpoint lines {"kind":"log.checkpoint","lines":N,"seq":S,"prev":H,
 * "mac":M} are written every checkpoint interval (when lines were written
 * since the last one), at each reopen and at close; M is
 * HMAC-SHA256(key, "bastion-log-v1|S|H"), hex.
 */
#define LOG_KEY_LEN 32
#define LOG_CHECKPOINT_KIND "log.checkpoint"

/* Load the checkpoint key (exactly LOG_KEY_LEN bytes, a regular file not
 * readable by group or others: EACCES; wrong size: EINVAL); with create, a
 * missing file is made with random bytes, mode 0600. Returns 0 or an errno.
 * Without a key, lines are still chained but no checkpoint is written. */
int log_key_load(const char *path, bool create);
/* Read a key file with the same checks into out (for the verifier). */
int log_key_read(uint8_t out[LOG_KEY_LEN], const char *path);
void log_key_forget(void);
void log_set_checkpoint_interval(uint32_t seconds);
/* Periodic work (the server's tick): checkpoints that are due. */
void log_tick(void);

/*
 * The log files of a run together (files.c): the checkpoints' key, the
 * security log and the CDR log, their paths resolved by the caller (server/,
 * against the state directory). A path the caller could not resolve has
 * that errno in err (ENAMETOOLONG) and in path its text as far as it went.
 */
struct log_file {
	const char *path;
	int err;
};
struct log_files {
	struct log_file key;           /* the checkpoints' key, made at first start */
	struct log_file events;        /* the security log */
	struct log_file cdr;           /* the call-record log; path "" for none */
	bool syslog;                   /* security events to syslog too */
	uint32_t checkpoint_interval;  /* seconds */
};
enum log_files_when { LOG_FILES_START = 0, LOG_FILES_RELOAD };

/*
 * Open the log files at start, or reopen them on a reload (SIGHUP: a path
 * may have changed, or logrotate moved the file).
 * - LOG_FILES_START: load the key (log_key_load, made when missing), set the
 *   checkpoint interval, open the security log, then the CDR log. The first
 *   failure stops: its errno is returned and err says "PATH: cannot load the
 *   log key: WHY" (with " (it must be mode 0600)" for EACCES), "PATH: cannot
 *   open the security log: WHY" or "PATH: cannot open the CDR log: WHY".
 *   What was opened stays so until log_files_close.
 * - LOG_FILES_RELOAD: the key stays. Each file is reopened on its own; one
 *   that cannot be keeps the old one and is logged as an error ("reload:
 *   security log PATH not reopened: WHY", "reload: CDR log PATH not
 *   reopened: WHY"); then the checkpoint interval is set. Returns 0.
 */
int log_files_open(const struct log_files *f, enum log_files_when when, char *err,
		   size_t errlen);
/* Close the security log and the CDR log (each with its last checkpoint)
 * and forget the key. Safe when none is open. */
void log_files_close(void);

/* Helpers shared with the verifier: the hash of a line (a trailing newline
 * is ignored), the checkpoint MAC (hex: base's hex_encode). */
void log_line_hash(uint8_t out[32], const char *line, size_t len);
int log_checkpoint_mac(char out[65], const uint8_t *key, size_t keylen, uint64_t seq,
		       const char *prev_hex);

enum log_verify_problem {
	LOG_VERIFY_OK = 0,
	LOG_VERIFY_ALTERED,    /* line bad_line was changed (or is not a chained line) */
	LOG_VERIFY_REMOVED,    /* `missing` lines were removed before line bad_line */
	LOG_VERIFY_INSERTED,   /* line bad_line was inserted */
	LOG_VERIFY_BAD_MAC,    /* the checkpoint at bad_line fails the key: a line before
	                          it (after the last good checkpoint) was rewritten */
	LOG_VERIFY_BROKEN,     /* a file does not continue the one before it */
};

/*
 * The verifier: feed it every line of a log, file after file (oldest first,
 * log_verify_next_file between files), and it stops at the first problem.
 * Lines before the first chained line of the first file (written before the
 * chain existed) are counted as legacy and not checked. With a key, every
 * checkpoint's MAC is checked; without one (keylen 0), only the hashes.
 */
struct log_verify {
	const uint8_t *key;
	size_t keylen;
	bool started;                  /* a chained line has been seen */
	uint64_t seq, seq2;            /* seq of the last line and of the one before */
	uint8_t h1[32], h2[32];        /* their hashes */
	bool have_h2;
	uint64_t line;                 /* line number in the current file */
	/* results */
	uint64_t lines, legacy, checkpoints, since_checkpoint;
	uint64_t first_seq;            /* seq of the first chained line */
	bool first_is_genesis;         /* ... and it starts a chain (prev all zeros) */
	uint64_t last_checkpoint_line; /* in the current file; 0: none */
	enum log_verify_problem problem;
	uint64_t bad_line, missing;
	char what[200];                /* the problem in words */
};

void log_verify_init(struct log_verify *v, const uint8_t *key, size_t keylen);
void log_verify_next_file(struct log_verify *v);
/* One line (len bytes, a trailing newline ignored). Returns 0, or EBADMSG
 * with v->problem set (and from then on EBADMSG without looking). */
int log_verify_line(struct log_verify *v, const char *line, size_t len);
/* Every line of the file at path; lines longer than 64 KiB count as altered.
 * Returns 0, EBADMSG (a problem: see v), or the errno of reading. */
int log_verify_file(struct log_verify *v, const char *path);

#endif
