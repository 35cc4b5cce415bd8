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
 * own JSON-lines file, written with the same care; cdr_record() puts a record
 * in the store and in that file at once.
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
 * left out; "time" and "kind" are always present.
 *
 * Untrusted bytes: every string value goes through slice_repr, so bytes
 * outside printable ASCII (NUL, CR, LF, invalid or even valid UTF-8) and the
 * backslash appear as the four characters \xNN, and at most
 * LOG_EVENT_FIELD_MAX input bytes of a value are kept ("..." marks the cut).
 * The value is therefore always valid UTF-8 for Jansson and the line always
 * one line.
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
};

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
 * Call detail records (CDRs): one JSON object per line, one line per call
 * attempt, in a file of its own (mode 0600, O_APPEND, one write(2) a line):
 *   {"time":"2026-11-23T10:01:05.120Z","call_id":"a84b4c76e66710",
 *    "caller":"sip:1001@example.org","auth_user":"1001",
 *    "callee":"sip:1002@example.org","src":"udp:192.0.2.7:5060",
 *    "transport":"udp","start":"2026-11-23T10:00:00.000Z",
 *    "answer":"2026-11-23T10:00:03.500Z","end":"2026-11-23T10:01:05.100Z",
 *    "status":200,"duration_s":61,"hangup":"caller","id":17}
 * Every key but "id" is always present: auth_user is "" for an attempt that
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


#endif
