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

/* Where one of them may start: their first letters, in either case. */
static const char secret_starts[] = "rRnNdD";

static unsigned char fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Does s begin with mark, ASCII letters in either case? */
static bool starts_with_folded(const char *s, const char *mark)
{
	size_t k = 0;

	while (mark[k] && fold((unsigned char)s[k]) == fold((unsigned char)mark[k]))
		k++;
	return mark[k] == '\0';
}

/* Does s hold one of secret_marks anywhere, ASCII letters in either case?
 * The marks are compared only where strpbrk finds one could start: three
 * strcasestr calls per value cost more than building the rest of a call
 * record's line. */
static bool has_secret_mark(const char *s)
{
	for (const char *p = s; (p = strpbrk(p, secret_starts)) != NULL; p++)
		for (size_t i = 0; i < ARRAY_SIZE(secret_marks); i++)
			if (starts_with_folded(p, secret_marks[i]))
				return true;
	return false;
}

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

/* Two digits of v (0..99) at p. */
static char *two(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

/*
 * Written digit by digit (a call's record has four stamps; gmtime_r,
 * strftime and snprintf cost thousands of instructions each). The date is
 * the proleptic Gregorian calendar of the days since 1970-01-01, by the
 * usual era arithmetic (an era is 400 years, 146097 days); years 0 to 9999
 * only, else the "@<ms>" form as before.
 */
void log_stamp_ms(char *out, size_t cap, int64_t unix_ms)
{
	int64_t ms = unix_ms % 1000, secs = unix_ms / 1000, days, sod, z, era, doe, yoe, y, doy, mp;
	unsigned d, m;
	char buf[32], *p = buf;

	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	y += m <= 2;
	if (y < 0 || y > 9999 || cap < 25) {
		snprintf(out, cap, "@%lld", (long long)unix_ms);
		return;
	}
	p = two(p, (unsigned)(y / 100));
	p = two(p, (unsigned)(y % 100));
	*p++ = '-';
	p = two(p, m);
	*p++ = '-';
	p = two(p, d);
	*p++ = 'T';
	p = two(p, (unsigned)(sod / 3600));
	*p++ = ':';
	p = two(p, (unsigned)(sod / 60 % 60));
	*p++ = ':';
	p = two(p, (unsigned)(sod % 60));
	*p++ = '.';
	*p++ = (char)('0' + ms / 100);
	p = two(p, (unsigned)(ms % 100));
	*p++ = 'Z';
	*p = '\0';
	memcpy(out, buf, (size_t)(p - buf) + 1);
}

static void jw_put(struct log_jw *w, const char *s, size_t n)
{
	if (w->err || n > w->cap - w->len) {
		w->err = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void jw_key(struct log_jw *w, const char *key)
{
	if (w->len > 1)
		jw_put(w, ",", 1);
	jw_put(w, "\"", 1);
	jw_put(w, key, strlen(key)); /* keys are ours: plain ASCII */
	jw_put(w, "\":", 2);
}

void log_jw_begin(struct log_jw *w, char *buf, size_t cap)
{
	*w = (struct log_jw){ buf, cap, 0, cap == 0 };
	jw_put(w, "{", 1);
}

void log_jw_str(struct log_jw *w, const char *key, struct slice s, uint64_t *redacted)
{
	char buf[LOG_FIELD_REPR_CAP];
	const char *v = buf;

	buf[0] = '\0';
	if (s.len) {
		slice_repr(buf, sizeof(buf), s, LOG_EVENT_FIELD_MAX);
		if (has_secret_mark(buf)) {
			v = "[redacted]";
			if (redacted)
				++*redacted;
		}
	}
	jw_key(w, key);
	jw_put(w, "\"", 1);
	/* slice_repr leaves printable ASCII; of it JSON escapes " and \ */
	for (const char *q = v; *q; q++) {
		size_t run = strcspn(q, "\"\\");

		jw_put(w, q, run);
		q += run;
		if (!*q)
			break;
		jw_put(w, "\\", 1);
		jw_put(w, q, 1);
	}
	jw_put(w, "\"", 1);
}

void log_jw_time(struct log_jw *w, const char *key, int64_t unix_ms)
{
	char stamp[48];

	jw_key(w, key);
	if (unix_ms <= 0) {
		jw_put(w, "null", 4);
		return;
	}
	log_stamp_ms(stamp, sizeof(stamp), unix_ms);
	jw_put(w, "\"", 1);
	jw_put(w, stamp, strlen(stamp)); /* digits, '-', ':', 'T', '.', 'Z', '@' */
	jw_put(w, "\"", 1);
}

void log_jw_int(struct log_jw *w, const char *key, int64_t v)
{
	char d[24];
	size_t i = sizeof(d);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do
		d[--i] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		d[--i] = '-';
	jw_key(w, key);
	jw_put(w, d + i, sizeof(d) - i);
}

void log_jw_bool(struct log_jw *w, const char *key, bool v)
{
	jw_key(w, key);
	jw_put(w, v ? "true" : "false", v ? 4 : 5);
}

size_t log_jw_end(struct log_jw *w, uint64_t seq, const char *prev_hex)
{
	log_jw_int(w, "seq", (int64_t)seq);
	jw_key(w, "prev");
	jw_put(w, "\"", 1);
	jw_put(w, prev_hex, strlen(prev_hex));
	jw_put(w, "\"}\n", 3);
	return w->err ? 0 : w->len;
}

size_t log_jw_close(struct log_jw *w)
{
	jw_put(w, "}\n", 2);
	return w->err ? 0 : w->len;
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
