/*
 * fuzz_log_inputs: libFuzzer harness for the two parsers of observability
 * input that a stranger can write: the metrics listener's HTTP request
 * decision (bytes from any client that reaches the port) and the log
 * verifier's line check (a log file someone edited). Each input is copied
 * into an exactly sized buffer. Aborts on a broken invariant: an outcome
 * other than the documented ones, a status outside the documented set, or
 * a verifier that forgets a problem once found.
 */
#include "log/log.h"
#include "metrics/metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	free(buf);
	return 0;
}
