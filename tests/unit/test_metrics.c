/*
 * test_metrics: the Prometheus text rendering (names checked, label values
 * escaped whatever their bytes, families announced once, histograms
 * cumulative, the buffer bound), Bastion's families rendered from a
 * snapshot (every field to its own line: the whole text against
 * tests/data/metrics/snapshot.prom; the PostgreSQL and several-nodes
 * families only when present; an allocation-failure sweep and the bound),
 * and the HTTP request decisions of the metrics listener (only GET
 * /metrics, 404/405/400/505, 431 at the size bound, ENODATA until the
 * header section is complete).
 */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "metrics/metrics.h"

static void render_family_once(void)
{
	struct metrics_buf b;
	struct metrics_label l = { "kind", SLICE_LIT("a") };

	CHECK(metrics_buf_init(&b, 1 << 16) == 0);
	metrics_family(&b, "x_total", METRICS_COUNTER, "Things.");
	metrics_sample(&b, "x_total", &l, 1, 3);
	metrics_family(&b, "x_total", METRICS_COUNTER, "Things.");
	l.value = SLICE_LIT("b");
	metrics_sample(&b, "x_total", &l, 1, 18446744073709551615ull);
	CHECK(!b.overflow);
	CHECK(strcmp(b.p, "# HELP x_total Things.\n# TYPE x_total counter\n"
			  "x_total{kind=\"a\"} 3\nx_total{kind=\"b\"} 18446744073709551615\n") == 0);
	metrics_buf_free(&b);
}

static void render_escapes_values(void)
{
	struct metrics_buf b;
	static const char hostile[] = "a\"b\\c\nd\x01\xff}";
	struct metrics_label l = { "v", { hostile, sizeof(hostile) - 1 } };

	CHECK(metrics_buf_init(&b, 1 << 16) == 0);
	metrics_family(&b, "g", METRICS_GAUGE, "line\nbreak \\ here");
	metrics_sample(&b, "g", &l, 1, 1);
	CHECK(!b.overflow);
	CHECK(strcmp(b.p, "# HELP g line\\nbreak \\\\ here\n# TYPE g gauge\n"
			  "g{v=\"a\\\"b\\\\c\\nd\\\\x01\\\\xff}\"} 1\n") == 0);
	metrics_buf_free(&b);
}

static void render_refuses_bad_names(void)
{
	struct metrics_buf b;
	struct metrics_label bad = { "1x", SLICE_LIT("v") }, reserved = { "__name__", SLICE_LIT("v") };

	CHECK(metrics_buf_init(&b, 1 << 16) == 0);
	metrics_family(&b, "bad-name", METRICS_GAUGE, "x");
	CHECK(b.overflow);
	CHECK(b.len == 0);
	b.overflow = false;
	metrics_sample(&b, "ok", &bad, 1, 1);
	CHECK(b.overflow);
	b.overflow = false;
	metrics_sample(&b, "ok", &reserved, 1, 1);
	CHECK(b.overflow);
	b.overflow = false;
	metrics_sample(&b, "", NULL, 0, 1);
	CHECK(b.overflow);
	CHECK(b.len == 0);
	metrics_buf_free(&b);
}

static void render_histogram(void)
{
	struct metrics_buf b;
	const uint32_t bounds[] = { 1, 10 };
	const uint64_t counts[] = { 2, 3, 4 };

	CHECK(metrics_buf_init(&b, 1 << 16) == 0);
	metrics_histogram(&b, "lag_seconds", "Lag.", bounds, 2, counts, 1500, 1000.0);
	CHECK(!b.overflow);
	CHECK(strcmp(b.p, "# HELP lag_seconds Lag.\n# TYPE lag_seconds histogram\n"
			  "lag_seconds_bucket{le=\"0.001\"} 2\n"
			  "lag_seconds_bucket{le=\"0.01\"} 5\n"
			  "lag_seconds_bucket{le=\"+Inf\"} 9\n"
			  "lag_seconds_sum 1.5\n"
			  "lag_seconds_count 9\n") == 0);
	metrics_buf_free(&b);
}

static void render_bounded(void)
{
	struct metrics_buf b;
	size_t before;

	CHECK(metrics_buf_init(&b, 4096) == 0);
	for (int i = 0; i < 1000; i++)
		metrics_one(&b, "some_counter_total", METRICS_COUNTER, "A counter.", (uint64_t)i);
	CHECK(b.overflow);
	CHECK(b.len < 4096);
	before = b.len;
	metrics_sample(&b, "x", NULL, 0, 1); /* nothing more once over */
	CHECK(b.len == before);
	CHECK(strlen(b.p) == b.len);
	metrics_buf_free(&b);
}

/* A snapshot whose every rendered field holds its own value, with two
 * peers and three event counts (one an auth.failure). */
static void fill(struct metrics_snapshot *m)
{
	static const struct metrics_event_count ev[] = {
		{ "auth.failure", "wrong response", 7001 },
		{ "auth.failure", "unknown user", 7002 },
		{ "register.ok", "", 7003 },
	};
	static const struct metrics_peer peers[] = {
		{ "gw1", 8001, 8002, 8003, true },
		{ "carrier-b.2", 8011, 8012, 8013, false },
	};
	uint64_t v = 100;

	memset(m, 0, sizeof(*m));
	m->sip.received = v++;
	for (size_t i = 0; i < METRICS_SIP_METHODS; i++)
		for (size_t t = 0; t < METRICS_TRANSPORTS; t++)
			m->sip.requests[i][t] = v++;
	for (size_t k = 0; k < 7; k++)
		m->sip.answered[k] = v++;
	m->sip.malformed_answered = v++;
	m->sip.malformed_dropped = v++;
	m->registrar.bindings = v++;
	m->registrar.bindings_limit = v++;
	m->registrar.aors = v++;
	for (size_t k = 0; k < 2; k++)
		for (size_t w = 0; w < METRICS_BATCH_WHYS; w++)
			m->registrar.batches[k][w] = v++;
	m->calls.dialogs = v++;
	m->calls.dialogs_limit = v++;
	m->calls.dialogs_refused = v++;
	m->calls.dialogs_reserve_used = v++;
	m->calls.proxied = v++;
	for (size_t k = 0; k < 7; k++)
		m->calls.attempts[k] = v++;
	m->txn.servers = (uint32_t)v++;
	m->txn.clients = (uint32_t)v++;
	m->txn.full = v++;
	m->txn_limit = v++;
	m->events = ev;
	m->nevents = ARRAY_SIZE(ev);
	m->guard.dropped_banned = v++;
	m->guard.dropped_rate = v++;
	m->guard.dropped_scanner = v++;
	m->guard.bans = v++;
	m->guard.bans_active = v++;
	m->guard.locks = v++;
	m->guard.locks_active = v++;
	m->guard.sources = v++;
	m->guard.sources_limit = v++;
	m->guard.shed = v++;
	m->net.conn_open = (uint32_t)v++;
	m->connections_limit = v++;
	m->net.conn_refused = v++;
	m->net.conn_refused_source = v++;
	m->net.conn_idle_closed = v++;
	m->net.conn_header_timeout = v++;
	m->net.conn_slow_closed = v++;
	m->net.conn_framing_error = v++;
	m->peers = peers;
	m->npeers = ARRAY_SIZE(peers);
	m->net.tls_handshakes = v++;
	m->net.tls_handshake_failed = v++;
	m->net.tls_handshake_timeout = v++;
	m->net.tls_peer_refused = v++;
	for (size_t k = 0; k < NET_LAG_BUCKETS; k++)
		m->lag.bucket[k] = k + 1;
	m->lag.sum_ms = 2500;
	m->events_log.written = v++;
	m->cdr_log.written = v++;
	m->events_log.failed = v++;
	m->cdr_log.failed = v++;
	m->store_remote = true;
	m->store.connected = true;
	m->store.queued = v++;
	m->store.queued_on_disk = v++;
	m->store.queue_max = v++;
	m->store.writes_dropped = v++;
	m->nodes = true;
	m->epochs.leased = true;
	m->epochs.known = 9005;
	m->epochs.held = 9002;
	m->epochs.rotations = v++;
	m->epochs.takeovers = v++;
	m->remote_log.connected = false;
	m->remote_log.sent = v++;
	m->remote_log.dropped = v++;
	m->remote_log.queue_bytes = v++;
	m->remote_log_limit = v++;
	m->remote_log.connect_failures = v++;
	m->remote_log.refused_cert = v++;
	m->remote_log.garbage = v++;
	m->listener.requests = v++;
	m->listener.refused = v++;
	m->listener.timeouts = v++;
	m->listener.tls_failed = v++;
}

/* The first line where got and want differ, reported at file:line. */
static bool same_text(const char *got, const char *want, int line)
{
	size_t n = 1;

	for (;;) {
		size_t a = strcspn(got, "\n"), b = strcspn(want, "\n");

		if (a != b || memcmp(got, want, a) != 0) {
			check_fail(__FILE__, line, "line %zu: got \"%.*s\", want \"%.*s\"", n, (int)a,
				   got, (int)b, want);
			return false;
		}
		if (!got[a] || !want[b])
			return got[a] == want[b];
		got += a + 1;
		want += b + 1;
		n++;
	}
}

static void snapshot_renders_every_family(void)
{
	struct metrics_snapshot m;
	struct metrics_buf b;
	char path[512], *want;
	size_t len;

	fill(&m);
	CHECK(metrics_buf_init(&b, 1 << 20) == 0);
	CHECK_INT(metrics_render(&b, &m), 0);
	want = check_read_file(check_data_path(path, sizeof(path), "metrics/snapshot.prom"), &len);
	CHECK(want != NULL);
	if (!same_text(b.p, want, __LINE__)) {
		free(want);
		metrics_buf_free(&b);
		return;
	}
	CHECK_INT(b.len, len);
	free(want);
	metrics_buf_free(&b);
}

static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0, pl = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, pl) == 0)
			n++;
	return n;
}

/* One node on SQLite: no store or nonce-epoch families; no peers and no
 * events: their families announced, without samples. */
static void snapshot_optional_families(void)
{
	struct metrics_snapshot m;
	struct metrics_buf b;

	fill(&m);
	m.store_remote = false;
	m.nodes = false;
	m.npeers = 0;
	m.nevents = 0;
	CHECK(metrics_buf_init(&b, 1 << 20) == 0);
	CHECK_INT(metrics_render(&b, &m), 0);
	CHECK_INT(count_lines(b.p, "bastion_store_connected"), 0);
	CHECK_INT(count_lines(b.p, "# HELP bastion_store_connected"), 0);
	CHECK_INT(count_lines(b.p, "bastion_nonce_"), 0);
	CHECK_INT(count_lines(b.p, "# TYPE bastion_nonce_"), 0);
	CHECK_INT(count_lines(b.p, "# TYPE bastion_peer_up gauge"), 1);
	CHECK_INT(count_lines(b.p, "bastion_peer_"), 0);
	CHECK_INT(count_lines(b.p, "# TYPE bastion_auth_failures_total counter"), 1);
	CHECK_INT(count_lines(b.p, "bastion_auth_failures_total{"), 0);
	CHECK_INT(count_lines(b.p, "bastion_security_events_total{"), 0);
	/* the rest as with them */
	CHECK_INT(count_lines(b.p, "bastion_remote_log_connected 0"), 1);
	CHECK_INT(count_lines(b.p, "bastion_sip_requests_total{"),
		  METRICS_SIP_METHODS * METRICS_TRANSPORTS);
	metrics_buf_free(&b);
}

/* Values a peer may have chosen never reach a label unescaped (a reason
 * is from the code, a peer's name from bastion.conf; still escaped). */
static void snapshot_escapes_labels(void)
{
	static const struct metrics_event_count ev[] = { { "auth.failure", "a\"b\nc", 1 } };
	struct metrics_snapshot m;
	struct metrics_buf b;

	fill(&m);
	m.events = ev;
	m.nevents = 1;
	CHECK(metrics_buf_init(&b, 1 << 20) == 0);
	CHECK_INT(metrics_render(&b, &m), 0);
	CHECK(strstr(b.p, "bastion_auth_failures_total{reason=\"a\\\"b\\nc\"} 1\n") != NULL);
	CHECK(strstr(b.p, "bastion_security_events_total{kind=\"auth.failure\","
			  "reason=\"a\\\"b\\nc\"} 1\n") != NULL);
	metrics_buf_free(&b);
}

static int render_once(void *arg)
{
	const struct metrics_snapshot *m = arg;
	struct metrics_buf b;
	int rc;

	if (metrics_buf_init(&b, 1 << 20) != 0)
		return ENOMEM;
	rc = metrics_render(&b, m);
	/* a failed growth keeps what fitted, NUL-terminated */
	if (rc && (!b.overflow || strlen(b.p) != b.len))
		rc = -2;
	metrics_buf_free(&b);
	return rc;
}

static void snapshot_out_of_memory(void)
{
	struct metrics_snapshot m;

	fill(&m);
	CHECK(CHECK_OOM_SWEEP(render_once, &m, 100) > 2); /* the buffer grows */
}

static void snapshot_bounded(void)
{
	struct metrics_snapshot m;
	struct metrics_buf b;

	fill(&m);
	CHECK(metrics_buf_init(&b, 8192) == 0);
	CHECK_INT(metrics_render(&b, &m), EOVERFLOW);
	CHECK(b.len < 8192);
	CHECK(strlen(b.p) == b.len);
	metrics_buf_free(&b);
}

static int parse(const char *req, struct metrics_http_verdict *v)
{
	return metrics_http_parse(v, req, strlen(req), 4096);
}

static void http_get_metrics(void)
{
	struct metrics_http_verdict v;

	CHECK_INT(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 200);
	CHECK(!v.head);
	CHECK_INT(parse("GET /metrics?name[]=x HTTP/1.0\n\n", &v), 0);
	CHECK_INT(v.status, 200);
	CHECK_INT(parse("HEAD /metrics HTTP/1.1\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 200);
	CHECK(v.head);
}

static void http_refusals(void)
{
	struct metrics_http_verdict v;

	CHECK_INT(parse("POST /metrics HTTP/1.1\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 405);
	CHECK_INT(parse("DELETE /metrics HTTP/1.1\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 405);
	CHECK_INT(parse("GET / HTTP/1.1\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 404);
	CHECK_INT(parse("GET /metrics/ HTTP/1.1\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 404);
	CHECK_INT(parse("GET /metricsx HTTP/1.1\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 404);
	CHECK_INT(parse("GET /../metrics HTTP/1.1\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 404);
	CHECK_INT(parse("GET /metrics HTTP/2.0\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 505);
	CHECK_INT(parse("GET /metrics\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 400);
	CHECK_INT(parse("GET  /metrics HTTP/1.1\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 400);
	CHECK_INT(parse("GET /metrics HTTP/1.1 x\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 400);
	CHECK_INT(parse("G\x01T /metrics HTTP/1.1\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 400);
	CHECK_INT(parse("\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 400);
	CHECK_INT(parse("SSH-2.0-OpenSSH\r\n\r\n", &v), 0);
	CHECK_INT(v.status, 400);
}

static void http_incomplete_and_oversized(void)
{
	struct metrics_http_verdict v;
	char *big;

	CHECK_INT(parse("GET /metrics HTTP/1.1\r\n", &v), ENODATA);
	CHECK_INT(parse("GET /metr", &v), ENODATA);
	CHECK_INT(parse("", &v), ENODATA);
	big = malloc(5000);
	CHECK(big != NULL);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memset(big + 26, 'a', 5000 - 26);
	CHECK_INT(metrics_http_parse(&v, big, 4096, 4096), EOVERFLOW);
	CHECK_INT(v.status, 431);
	CHECK_INT(metrics_http_parse(&v, big, 4095, 4096), ENODATA);
	/* an end of headers past the bound does not count */
	memcpy(big + 4096, "\r\n\r\n", 4);
	CHECK_INT(metrics_http_parse(&v, big, 4100, 4096), EOVERFLOW);
	free(big);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(render_family_once),     CASE(render_escapes_values),
		CASE(render_refuses_bad_names), CASE(render_histogram),
		CASE(render_bounded),         CASE(snapshot_renders_every_family),
		CASE(snapshot_optional_families), CASE(snapshot_escapes_labels),
		CASE(snapshot_out_of_memory), CASE(snapshot_bounded),
		CASE(http_get_metrics),
		CASE(http_refusals),          CASE(http_incomplete_and_oversized),
	};

	return check_main("metrics", cases, ARRAY_SIZE(cases), argc, argv);
}
