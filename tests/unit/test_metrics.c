/*
 * test_metrics: the Prometheus text rendering (names checked, label values
 * escaped whatever their bytes, families announced once, histograms
 * cumulative, the buffer bound) and the HTTP request decisions of the
 * metrics listener (only GET /metrics, 404/405/400/505, 431 at the size
 * bound, ENODATA until the header section is complete).
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
		CASE(render_bounded),         CASE(http_get_metrics),
		CASE(http_refusals),          CASE(http_incomplete_and_oversized),
	};

	return check_main("metrics", cases, ARRAY_SIZE(cases), argc, argv);
}
