/*
 * cdr: the call detail record log, one JSON object per line (log.h has the
 * format), for billing and audit tools that tail it, and as the copy that
 * survives when the database cannot be written. The proxy hands each record
 * to the store and to log_cdr() (server/call.c); log/ never writes the
 * store.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../store/store.h" /* struct store_cdr: the record's shape */

/* Seven strings of at most LOG_EVENT_FIELD_MAX input bytes, each at most 5
 * characters once escaped ("\xNN", its backslash doubled by JSON), plus keys,
 * four stamps and numbers: about 9 KiB, well under 16 KiB. */
#define CDR_LINE_MAX 16384

static struct log_chain cdr_chain = LOG_CHAIN_INIT;
static uint64_t cdr_attempts[7];
static struct log_cdr_stats cdr_stats;
static struct log_limit cdr_fail_limit = { .per_sec = 1, .what = "CDR log failure" };

int log_cdr_reopen(const char *path)
{
	cdr_chain.exclusive = true; /* only the server writes call records */
	return log_chain_swap(&cdr_chain, path);
}

int log_cdr_open(const char *path)
{
	return log_cdr_reopen(path);
}

void log_cdr_close(void)
{
	log_chain_close(&cdr_chain);
}

void log_tick(void)
{
	int64_t now = log_now_ms();

	log_chain_tick(&cdr_chain, now);
	log_events_tick(now);
}

void log_cdr_stats(struct log_cdr_stats *out)
{
	*out = cdr_stats;
}

void log_cdr_attempts(uint64_t out[7])
{
	memcpy(out, cdr_attempts, sizeof(cdr_attempts));
}

/* A string array of the record as a slice, never past the array. */
#define ARR(a) slice_make((a), strnlen((a), sizeof(a)))

/* The record as an open JSON object in w (the chain adds seq and prev). */
static void build_line(struct log_jw *w, const struct store_cdr *c)
{
	uint64_t *red = &cdr_stats.redacted;

	log_jw_time(w, "time", log_now_ms());
	log_jw_str(w, "call_id", ARR(c->call_id), red);
	log_jw_str(w, "caller", ARR(c->caller), red);
	log_jw_str(w, "auth_user", ARR(c->auth_user), red);
	log_jw_str(w, "callee", ARR(c->callee), red);
	log_jw_str(w, "src", ARR(c->src), red);
	log_jw_str(w, "transport", ARR(c->transport), red);
	log_jw_time(w, "start", c->start_at);
	log_jw_time(w, "answer", c->answer_at);
	log_jw_time(w, "end", c->end_at);
	log_jw_int(w, "status", c->final_status);
	log_jw_int(w, "duration_s", store_cdr_duration_s(c));
	log_jw_str(w, "hangup", ARR(c->hangup), red);
	/* a call beyond the building (docs/trunks.md) */
	if (c->peer[0] || c->number[0]) {
		log_jw_str(w, "peer", ARR(c->peer), red);
		log_jw_str(w, "class", ARR(c->klass), red);
		log_jw_str(w, "dialed", ARR(c->dialed), red);
		log_jw_str(w, "number", ARR(c->number), red);
	}
	if (c->emergency) {
		/* docs/emergency.md: the call and the location sent with it */
		log_jw_bool(w, "emergency", true);
		log_jw_str(w, "location", ARR(c->location), red);
	}
	if (c->id > 0)
		log_jw_int(w, "id", c->id);
}

static void lost(const char *why)
{
	cdr_stats.failed++;
	if (log_limit_allow(&cdr_fail_limit, (uint64_t)time(NULL)))
		log_error("call detail record lost: %s", why);
}

void log_cdr(const struct store_cdr *c)
{
	char line[CDR_LINE_MAX];
	struct log_jw w;
	size_t n = 0;
	int err;

	if (c)
		cdr_attempts[c->final_status >= 100 && c->final_status < 700 ? c->final_status / 100
									       : 0]++;
	if (cdr_chain.fd < 0)
		return;
	if (!c) {
		lost("no record given");
		return;
	}
	log_jw_begin(&w, line, sizeof(line));
	build_line(&w, c);
	if (w.err) {
		lost("JSON not built");
		return;
	}
	err = log_chain_write_jw(&cdr_chain, &w, &n);
	if (err) {
		lost(err == ENOMEM ? "JSON not built" : strerror(err));
		return;
	}
	cdr_stats.written++;
}
