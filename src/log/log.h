/*
 * log: the diagnostic log (stderr, one line per event, UTC timestamp) and the
 * rate limiter that keeps floods of refusals from filling it.
 *
 * Untrusted bytes reach a log line only through slice_repr (escaped and
 * truncated). Security events and call records get their own structured log
 * in a later layer; this is the operator's running commentary.
 */
#ifndef BASTION_LOG_H
#define BASTION_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level lvl);
bool log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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

#endif
