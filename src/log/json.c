/*
 * json: the pieces of a JSON-lines log that the security event log and the
 * call detail record log share (internal.h): the 0600 append-only file,
 * UTC millisecond timestamps, escaped and scrubbed string values, and the one
 * write(2) per line.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Values that look like (part of) a digest credential. */
static const char *const secret_marks[] = { "response=", "nonce=", "Digest " };

int log_file_open(const char *path, int *fdp)
{
	struct stat st;
	int fd;

	do
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return errno;
	/* A file created by someone else, or before umask was set, may be wider. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07077) &&
	    fchmod(fd, 0600) != 0) {
		int err = errno;
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}

int64_t log_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void log_stamp_ms(char *out, size_t cap, int64_t unix_ms)
{
	int64_t ms = unix_ms % 1000, secs = unix_ms / 1000;
	time_t t;
	struct tm tm;
	char sec[32];

	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm) || strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, cap, "@%lld", (long long)unix_ms);
		return;
	}
	snprintf(out, cap, "%s.%03dZ", sec, (int)ms);
}

int log_json_set_str(json_t *obj, const char *key, struct slice s, bool keep_empty,
		     uint64_t *redacted)
{
	char buf[LOG_FIELD_REPR_CAP];

	if (s.len == 0) {
		if (!keep_empty)
			return 0;
		return json_object_set_new(obj, key, json_string("")) == 0 ? 0 : ENOMEM;
	}
	slice_repr(buf, sizeof(buf), s, LOG_EVENT_FIELD_MAX);
	for (size_t i = 0; i < ARRAY_SIZE(secret_marks); i++) {
		if (strcasestr(buf, secret_marks[i])) {
			snprintf(buf, sizeof(buf), "[redacted]");
			if (redacted)
				++*redacted;
			break;
		}
	}
	return json_object_set_new(obj, key, json_string(buf)) == 0 ? 0 : ENOMEM;
}

size_t log_json_line(char *line, size_t cap, json_t *obj)
{
	size_t n;

	if (cap < 2)
		return 0;
	n = json_dumpb(obj, line, cap - 1, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (n == 0 || n > cap - 1)
		return 0;
	line[n++] = '\n';
	return n;
}

int log_write_line(int fd, const char *line, size_t n)
{
	ssize_t w;

	/* One write: O_APPEND makes the line atomic against other writers. */
	do
		w = write(fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return errno;
	return (size_t)w == n ? 0 : ENOSPC;
}

int log_file_swap(int *fdp, const char *path)
{
	int fd = -1, err;

	if (path && path[0]) {
		err = log_file_open(path, &fd);
		if (err)
			return err;
	}
	if (*fdp >= 0)
		close(*fdp);
	*fdp = fd;
	return 0;
}
