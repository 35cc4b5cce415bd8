/*
 * fuzz_log_inputs: libFuzzer harness for the parsers of observability
 * input that a stranger can write: the metrics listener's HTTP request
 * decision (bytes from any client that reaches the port), the log
 * verifier's line check (a log file someone edited: `bastion log verify`,
 * `bastion events`), and RFC 5425 octet-counting framing (log/frame.c):
 * the same bytes parsed as a stream of frames, and framed as queued lines
 * then parsed back. Each input is copied into an exactly sized buffer.
 * Aborts on a broken invariant: an outcome other than the documented ones,
 * a status outside the documented set, a verifier that forgets a problem
 * once found, a frame beyond its input, or a framed batch that does not
 * parse back into exactly its lines.
 */
#include "log/log.h"
#include "metrics/metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes as a stream of octet-counted frames, then as queued lines
 * framed (into a small buffer, so batches split) and parsed back. */
static void frames(const char *buf, size_t size)
{
	struct log_frame f;
	size_t off = 0, cap = 1 + size % 97, i = 0;
	char *out;
	int rc;

	while (off < size) {
		rc = log_frame_parse(&f, buf + off, size - off);
		if (rc == ENODATA || rc == EBADMSG || rc == EOVERFLOW) {
			if (rc != ENODATA && f.error_at >= size - off)
				abort();
			break;
		}
		if (rc != 0 || f.consumed == 0 || f.consumed > size - off || f.msg.len == 0 ||
		    f.msg.p + f.msg.len != buf + off + f.consumed)
			abort();
		off += f.consumed;
	}
	out = malloc(cap);
	if (!out)
		return;
	while (i < size) {
		size_t olen, used, n, o = 0, k = 0;

		rc = log_frame_lines(out, cap, &olen, &used, &n, buf + i, size - i);
		if (rc == EBADMSG) { /* an empty or over-long first line: skipped */
			const char *nl = memchr(buf + i, '\n', size - i);
			if (!nl || used != 0)
				abort();
			i += (size_t)(nl - (buf + i)) + 1;
			continue;
		}
		if (rc != 0 || olen > cap || used > size - i)
			abort();
		if (used == 0)
			break;
		for (size_t m = 0; m < n; m++) {
			const char *nl = memchr(buf + i + k, '\n', used - k);
			if (!nl || log_frame_parse(&f, out + o, olen - o) != 0 ||
			    f.msg.len != (size_t)(nl - (buf + i + k)) ||
			    memcmp(f.msg.p, buf + i + k, f.msg.len) != 0)
				abort();
			o += f.consumed;
			k += f.msg.len + 1;
		}
		if (o != olen || k != used)
			abort();
		i += used;
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metrics_http_verdict v;
	struct log_verify lv;
	static const uint8_t key[LOG_KEY_LEN] = { 1 };
	char *buf = malloc(size ? size : 1);
	size_t max = size / 2 + 64, start = 0;
	int rc;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	rc = metrics_http_parse(&v, buf, size, max);
	if (rc == 0) {
		if (v.status != 200 && v.status != 400 && v.status != 404 && v.status != 405 &&
		    v.status != 505)
			abort();
	} else if (rc == EOVERFLOW) {
		if (v.status != 431 || size < max)
			abort();
	} else if (rc != ENODATA || size >= max) {
		abort();
	}
	/* the same bytes as log lines */
	log_verify_init(&lv, key, sizeof(key));
	for (size_t i = 0; i <= size; i++) {
		if (i < size && buf[i] != '\n')
			continue;
		rc = log_verify_line(&lv, buf + start, i - start);
		if (rc != 0 && (rc != EBADMSG || lv.problem == LOG_VERIFY_OK))
			abort();
		start = i + 1;
	}
	if (lv.problem && log_verify_line(&lv, "", 0) != EBADMSG)
		abort();
	frames(buf, size);
	free(buf);
	return 0;
}
