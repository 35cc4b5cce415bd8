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

static int set_str(json_t *obj, const char *key, struct slice s)
{
	return log_json_set_str(obj, key, s, true, &cdr_stats.redacted);
}

static int set_time(json_t *obj, const char *key, int64_t unix_ms)
{
	char stamp[48];

	if (unix_ms <= 0)
		return json_object_set_new(obj, key, json_null()) == 0 ? 0 : ENOMEM;
	log_stamp_ms(stamp, sizeof(stamp), unix_ms);
	return json_object_set_new(obj, key, json_string(stamp)) == 0 ? 0 : ENOMEM;
}

static int set_int(json_t *obj, const char *key, int64_t v)
{
	return json_object_set_new(obj, key, json_integer((json_int_t)v)) == 0 ? 0 : ENOMEM;
}

/* The JSON object of c (the chain adds seq and prev), or NULL. */
static json_t *build_obj(const struct store_cdr *c)
{
	char stamp[48];
	json_t *obj;
	int err = 0;

	log_stamp_ms(stamp, sizeof(stamp), log_now_ms());
	obj = json_pack("{s:s}", "time", stamp);
	if (!obj)
		return NULL;
	err |= set_str(obj, "call_id", ARR(c->call_id));
	err |= set_str(obj, "caller", ARR(c->caller));
	err |= set_str(obj, "auth_user", ARR(c->auth_user));
	err |= set_str(obj, "callee", ARR(c->callee));
	err |= set_str(obj, "src", ARR(c->src));
	err |= set_str(obj, "transport", ARR(c->transport));
	err |= set_time(obj, "start", c->start_at);
	err |= set_time(obj, "answer", c->answer_at);
	err |= set_time(obj, "end", c->end_at);
	err |= set_int(obj, "status", c->final_status);
	err |= set_int(obj, "duration_s", store_cdr_duration_s(c));
	err |= set_str(obj, "hangup", ARR(c->hangup));
	/* a call beyond the building (docs/trunks.md) */
	if (c->peer[0] || c->number[0]) {
		err |= set_str(obj, "peer", ARR(c->peer));
		err |= set_str(obj, "class", ARR(c->klass));
		err |= set_str(obj, "dialed", ARR(c->dialed));
		err |= set_str(obj, "number", ARR(c->number));
	}
	if (c->id > 0)
		err |= set_int(obj, "id", c->id);
	if (err) {
		json_decref(obj);
		return NULL;
	}
	return obj;
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
	size_t n = 0;
	json_t *obj;
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
	obj = build_obj(c);
	if (!obj) {
		lost("JSON not built");
		return;
	}
	err = log_chain_write(&cdr_chain, obj, line, sizeof(line), &n);
	json_decref(obj);
	if (err) {
		lost(err == ENOMEM ? "JSON not built" : strerror(err));
		return;
	}
	cdr_stats.written++;
}
