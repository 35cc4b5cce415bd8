/*
 * log/internal.h: the JSON-lines machinery that the security event log
 * (event.c) and the call detail record log (cdr.c) share: opening the file
 * 0600 for appending, UTC timestamps, escaped and scrubbed string values, and
 * the single write(2) that keeps a line whole. Nothing outside log/ uses it.
 */
#ifndef BASTION_LOG_INTERNAL_H
#define BASTION_LOG_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* slice_repr output for LOG_EVENT_FIELD_MAX input bytes: 4 per byte, "...", NUL. */
#define LOG_FIELD_REPR_CAP (LOG_EVENT_FIELD_MAX * 4 + 4)

/*
 * Open path with O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC|O_NOCTTY, mode 0600; an
 * existing regular file with wider permissions is narrowed to 0600. Returns 0
 * with *fdp set (the caller owns it), or the errno of open/fchmod.
 */
int log_file_open(const char *path, int *fdp);

/* Replace the descriptor *fdp by a new one for path (none when path is NULL
 * or empty), opening the new file before closing the old, so a failure
 * keeps the old file. Returns 0 or the errno of open(2). */
int log_file_swap(int *fdp, const char *path);

/* "2024-05-01T12:00:00.123Z" for unix_ms (UTC), into out (cap >= 32). */
void log_stamp_ms(char *out, size_t cap, int64_t unix_ms);

/* The current time (CLOCK_REALTIME) in unix milliseconds. */
int64_t log_now_ms(void);

/*
 * A JSON object written straight into a caller's buffer, for the lines
 * written once per call or request (the CDR, the security events): building
 * a jansson object and dumping it was a sixth of a call's instructions.
 * String values are escaped (slice_repr, then JSON's \" and \\), truncated
 * to LOG_EVENT_FIELD_MAX input bytes, and scrubbed: a value that looks like a
 * digest credential becomes "[redacted]". The object is left open: the
 * chain adds seq and prev and closes it (log_jw_end), or log_jw_close closes
 * it bare. Any overflow sets err and the line is not written.
 */
struct log_jw {
	char *p;
	size_t cap, len;
	bool err;
};
void log_jw_begin(struct log_jw *w, char *buf, size_t cap);
/* key: s escaped and scrubbed ("" when empty); *redacted counts scrubs */
void log_jw_str(struct log_jw *w, const char *key, struct slice s, uint64_t *redacted);
/* key: a timestamp (log_stamp_ms), or null for unix_ms <= 0 */
void log_jw_time(struct log_jw *w, const char *key, int64_t unix_ms);
void log_jw_int(struct log_jw *w, const char *key, int64_t v);
void log_jw_bool(struct log_jw *w, const char *key, bool v);
/* Add seq and prev, close the object and end the line; its length, or 0
 * when it did not fit (the chain calls it). */
size_t log_jw_end(struct log_jw *w, uint64_t seq, const char *prev_hex);
/* Close the object and end the line, without seq and prev (a line that no
 * file's chain carries: syslog or the remote log only); its length, or 0. */
size_t log_jw_close(struct log_jw *w);

/* Dump obj compactly (keys in insertion order) into line, newline-terminated.
 * Returns the length, or 0 when out of memory or longer than cap - 1. */
size_t log_json_line(char *line, size_t cap, json_t *obj);

/*
 * Write the n bytes of line with one write(2) (retried on EINTR only: a
 * short write is not completed, which would split the line between other
 * writers' lines). Returns 0, the errno of write, or ENOSPC for a short write.
 */
int log_write_line(int fd, const char *line, size_t n);

/* ---- the hash chain (chain.c) ---- */

/* One chained log file: its descriptor and where the chain stands. */
struct log_chain {
	int fd;                        /* -1: closed */
	uint64_t seq;                  /* seq of the last line (0: none yet) */
	uint8_t last[32];              /* SHA-256 of the last line (zeros: none) */
	bool have_last;                /* a line exists, in this file or the one before */
	bool torn;                     /* the file ended without a newline at open */
	char path[1024];               /* the file's path (to re-check a torn end) */
	off_t end;                     /* the file's size after our last line (-1: unknown) */
	uint64_t uncovered;            /* lines since the last checkpoint */
	int64_t first_uncovered_ms;    /* when the first of them was written */
	bool exclusive;                /* this process is the file's only writer: no lock
					  and no size check per line while the end is known */
	bool locked;                   /* this append holds the flock */
};

#define LOG_CHAIN_INIT { .fd = -1, .end = -1 }

/* Switch c to path (NULL or "": close), opening before closing so a failure
 * keeps the old file (and returns the errno). The old file gets a checkpoint
 * when it has uncovered lines. A file with lines resumes the chain from its
 * last line; an empty one continues the chain of the previous file. */
int log_chain_swap(struct log_chain *c, const char *path);
/* Checkpoint (when needed) and close; the chain state is reset (a later
 * open of a file with lines resumes from its last line). */
void log_chain_close(struct log_chain *c);
/* Add seq and prev to an open object written with log_jw (its buffer is the
 * line: seq, prev and the closing brace are added to it) and append it.
 * Returns 0 with *np the line length, ENOMEM (too long), EBADF (closed), or
 * the errno of write. */
int log_chain_write_jw(struct log_chain *c, struct log_jw *w, size_t *np);
/* Append a checkpoint line now. Returns 0, EBADF, ENOKEY (no key loaded) or
 * an errno. */
int log_chain_checkpoint(struct log_chain *c);
/* The security log's chain tick (event.c), called by log_tick. */
void log_events_tick(int64_t now_ms);
/* Checkpoint when the oldest uncovered line is checkpoint_interval old. */
void log_chain_tick(struct log_chain *c, int64_t now_ms);

#endif
