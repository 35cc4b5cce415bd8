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
 * Set key to the escaped, truncated (LOG_EVENT_FIELD_MAX input bytes) and
 * scrubbed value of s: a value that looks like a digest credential becomes
 * "[redacted]" and *redacted is incremented. An empty s sets nothing unless
 * keep_empty, which sets "". Returns 0 or ENOMEM.
 */
int log_json_set_str(json_t *obj, const char *key, struct slice s, bool keep_empty,
		     uint64_t *redacted);

/* Dump obj compactly (keys in insertion order) into line, newline-terminated.
 * Returns the length, or 0 when out of memory or longer than cap - 1. */
size_t log_json_line(char *line, size_t cap, json_t *obj);

/*
 * Write the n bytes of line with one write(2) (retried on EINTR only: a
 * short write is not completed, which would split the line between other
 * writers' lines). Returns 0, the errno of write, or ENOSPC for a short write.
 */
int log_write_line(int fd, const char *line, size_t n);

#endif
