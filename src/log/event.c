/*
 * event: the security event log. One JSON object per line, written
 * straight into the line's buffer (log_jw: building and dumping a Jansson
 * object was a fifth of a REGISTER's instructions), appended with a single
 * write(2) to a file of mode 0600 and optionally copied to syslog; the
 * file, JSON and write helpers are shared with the CDR log (internal.h,
 * json.c). Every string value is escaped with slice_repr and truncated,
 * then scrubbed of anything that looks like a digest credential; log.h
 * describes the format and the guarantees.
 */
#include "internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/*
 * Longest line: six string fields of at most LOG_FIELD_REPR_CAP characters,
 * each backslash of \xNN doubled by JSON (5 characters per input byte), plus keys,
 * time, numbers and the newline; 16 KiB is well above that.
 */
#define LINE_MAX_BYTES 16384

static struct log_chain ev_chain = LOG_CHAIN_INIT;
static bool ev_syslog;
static struct log_event_stats ev_stats;
static struct log_limit ev_fail_limit = { .per_sec = 1, .what = "security log failure" };

struct ev_count {
	char kind[40], reason[48];
	uint64_t n;
};
static struct ev_count ev_counts[LOG_EVENT_KINDS];
static size_t ev_ncounts;

/* Count e under (kind, reason); reasons only for auth.* kinds, whose
 * reasons are a short fixed set. */
static void count_event(const char *kind, const char *reason)
{
	const char *r = strncmp(kind, "auth.", 5) == 0 && reason ? reason : "";
	size_t i;

	for (i = 0; i < ev_ncounts; i++) {
		if (strncmp(ev_counts[i].kind, kind, sizeof(ev_counts[i].kind) - 1) == 0 &&
		    strncmp(ev_counts[i].reason, r, sizeof(ev_counts[i].reason) - 1) == 0) {
			ev_counts[i].n++;
			return;
		}
	}
	if (ev_ncounts == LOG_EVENT_KINDS - 1) {
		kind = "other";
		r = "";
		for (i = 0; i < ev_ncounts; i++) {
			if (strcmp(ev_counts[i].kind, "other") == 0) {
				ev_counts[i].n++;
				return;
			}
		}
	}
	if (ev_ncounts >= LOG_EVENT_KINDS)
		return;
	snprintf(ev_counts[ev_ncounts].kind, sizeof(ev_counts[0].kind), "%s", kind);
	snprintf(ev_counts[ev_ncounts].reason, sizeof(ev_counts[0].reason), "%s", r);
	ev_counts[ev_ncounts++].n = 1;
}

void log_event_counts(log_event_count_fn *fn, void *arg)
{
	for (size_t i = 0; i < ev_ncounts; i++)
		fn(arg, ev_counts[i].kind, ev_counts[i].reason, ev_counts[i].n);
}

static const char *const warning_words[] = {
	"failure", "hijack", "replay", "unknown", "spoof", "lockout", "ban",
};

bool log_event_is_warning(const char *kind)
{
	if (!kind)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(warning_words); i++)
		if (strstr(kind, warning_words[i]))
			return true;
	return false;
}

int log_events_reopen(const char *path, bool to_syslog)
{
	int err = log_chain_swap(&ev_chain, path);

	if (err)
		return err;
	if (to_syslog && !ev_syslog)
		openlog("bastion", LOG_PID | LOG_NDELAY, LOG_AUTH);
	else if (!to_syslog && ev_syslog)
		closelog();
	ev_syslog = to_syslog;
	return 0;
}

int log_events_open(const char *path, bool to_syslog)
{
	return log_events_reopen(path, to_syslog);
}

void log_events_close(void)
{
	log_chain_close(&ev_chain);
	if (ev_syslog)
		closelog();
	ev_syslog = false;
}

void log_events_tick(int64_t now_ms)
{
	uint64_t dropped = log_remote_take_dropped();

	if (dropped) {
		char why[96];

		snprintf(why, sizeof(why), "%llu event(s) dropped: the remote log queue was full",
			 (unsigned long long)dropped);
		log_event(&(struct log_event){ .kind = "log.remote_dropped", .reason = why });
	}
	log_chain_tick(&ev_chain, now_ms);
}

void log_events_stats(struct log_event_stats *out)
{
	*out = ev_stats;
}

/* key: s escaped and scrubbed; an empty s is left out */
static void put_str(struct log_jw *w, const char *key, struct slice s)
{
	if (s.len)
		log_jw_str(w, key, s, &ev_stats.redacted);
}

/* The object of e written into w's buffer, left open: the chain adds seq and
 * prev and closes it (log_jw_end), or log_jw_close does. */
static void build_line(struct log_jw *w, const struct log_event *e, char *line, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	log_jw_begin(w, line, cap);
	log_jw_time(w, "time", log_now_ms());
	put_str(w, "kind", slice_cstr(e->kind));
	if (e->has_src && e->src) {
		net_addr_host(e->src, host, sizeof(host));
		put_str(w, "src", slice_cstr(host));
		log_jw_int(w, "port", net_addr_port(e->src));
		put_str(w, "transport", slice_cstr(net_transport_name(e->tp)));
	}
	put_str(w, "user", e->user);
	put_str(w, "aor", e->aor);
	put_str(w, "call_id", e->call_id);
	put_str(w, "user_agent", e->user_agent);
	put_str(w, "reason", slice_cstr(e->reason));
	put_str(w, "os_user", e->os_user);
	put_str(w, "sudo_user", e->sudo_user);
	if (e->status)
		log_jw_int(w, "status", e->status);
}

static void lost(const char *kind, const char *why)
{
	char k[64];

	ev_stats.failed++;
	if (log_limit_allow(&ev_fail_limit, (uint64_t)time(NULL)))
		log_error("security event %s lost: %s",
			  kind ? slice_repr(k, sizeof(k), slice_cstr(kind), 32) : "(no kind)", why);
}

void log_event(const struct log_event *e)
{
	char line[LINE_MAX_BYTES];
	struct log_jw w;
	size_t n = 0;
	int err = 0;

	if (e && e->kind && e->kind[0])
		count_event(e->kind, e->reason);
	if (ev_chain.fd < 0 && !ev_syslog && !log_remote_running())
		return;
	if (!e || !e->kind || !e->kind[0]) {
		lost(NULL, "no kind given");
		return;
	}
	build_line(&w, e, line, sizeof(line));
	/* the file's line carries the chain; syslog gets the same line */
	if (ev_chain.fd >= 0)
		err = log_chain_write_jw(&ev_chain, &w, &n);
	else
		n = log_jw_close(&w);
	if (n == 0 && !err)
		err = ENOMEM;
	if (n)
		log_remote_send(log_event_is_warning(e->kind), e->kind, line, n);
	if (n && ev_syslog)
		syslog(log_event_is_warning(e->kind) ? LOG_WARNING : LOG_NOTICE, "%.*s",
		       (int)(n - 1), line);
	if (err) {
		lost(e->kind, err == ENOMEM ? "JSON not built" : strerror(err));
		return;
	}
	ev_stats.written++;
}

/* ---- events held for later (log_event_pack) ---------------------------------- */

/* The fixed part of a packed event; user, aor, call_id and user_agent follow. */
struct packed_hdr {
	const char *kind, *reason; /* string literals */
	struct net_addr src;
	enum net_transport tp;
	int status;
	bool has_src;
	uint16_t len[4];
};

_Static_assert(sizeof(struct packed_hdr) <= 256, "LOG_EVENT_PACKED_MAX leaves 256 for the header");

size_t log_event_pack(void *out, const struct log_event *e)
{
	struct packed_hdr h = { .kind = e->kind, .reason = e->reason, .tp = e->tp,
				.status = e->status, .has_src = e->has_src };
	const struct slice f[4] = { e->user, e->aor, e->call_id, e->user_agent };
	unsigned char *p = (unsigned char *)out + sizeof(h);

	if (e->has_src && e->src)
		h.src = *e->src;
	for (size_t i = 0; i < 4; i++) {
		h.len[i] = (uint16_t)(f[i].len > LOG_EVENT_FIELD_MAX ? LOG_EVENT_FIELD_MAX + 1
								      : f[i].len);
		if (h.len[i])
			memcpy(p, f[i].p, h.len[i]);
		p += h.len[i];
	}
	memcpy(out, &h, sizeof(h));
	return (size_t)(p - (unsigned char *)out);
}

bool log_event_unpack(struct log_event *e, struct net_addr *src, const void *note, size_t len)
{
	struct packed_hdr h;
	const char *p = (const char *)note + sizeof(h);
	size_t need = sizeof(h);

	if (len < sizeof(h))
		return false;
	memcpy(&h, note, sizeof(h));
	for (size_t i = 0; i < 4; i++)
		need += h.len[i];
	if (need > len)
		return false;
	*e = (struct log_event){ 0 };
	*src = h.src;
	e->kind = h.kind;
	e->reason = h.reason;
	e->src = src;
	e->tp = h.tp;
	e->has_src = h.has_src;
	e->status = h.status;
	e->user = slice_make(p, h.len[0]);
	p += h.len[0];
	e->aor = slice_make(p, h.len[1]);
	p += h.len[1];
	e->call_id = slice_make(p, h.len[2]);
	p += h.len[2];
	e->user_agent = slice_make(p, h.len[3]);
	return true;
}
