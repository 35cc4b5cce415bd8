/*
 * log: timestamped diagnostic lines on stderr, and the rate limiter.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static enum log_level current = LOG_LEVEL_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level lvl)
{
	current = lvl;
}

bool log_enabled(enum log_level lvl)
{
	return lvl <= current;
}

__attribute__((format(printf, 2, 0))) static void vlog(const char *label, const char *fmt,
							   va_list ap)
{
	char line[1024], stamp[32];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ bastion[%d] %s: ", stamp, ts.tv_nsec / 1000000,
		     (int)getpid(), label);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line so that concurrent writers do not interleave. */
	fprintf(stderr, "%s\n", line);
}

void log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("notice", fmt, ap);
	va_end(ap);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vlog(level_names[lvl], fmt, ap);
	va_end(ap);
}

bool log_limit_allow(struct log_limit *l, uint64_t now_s)
{
	if (now_s != l->sec) {
		l->sec = now_s;
		l->used = 0;
	}
	if (l->used >= l->per_sec) {
		l->suppressed++;
		return false;
	}
	l->used++;
	if (l->suppressed) {
		log_warn("%llu similar %s lines suppressed", (unsigned long long)l->suppressed,
			 l->what ? l->what : "log");
		l->suppressed = 0;
	}
	return true;
}
