/*
 * fuzz_emerg_inputs: libFuzzer harness for what emerg/ reads from outside:
 * a civic location as typed or stored (emerg_civic_parse), a dialed number
 * (emerg_match_user) and a request line before parsing
 * (emerg_request_line). Each input is copied into an exactly sized buffer
 * (so ASan sees any read past its end). Aborts on a broken invariant: a
 * location that parses but does not survive its own text form unchanged, a
 * field over its limit or with a control character, a PIDF-LO of an
 * accepted location with a raw '<' or '&' inside a field (not escaped), a
 * match index out of range.
 */
#include "emerg/emerg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct trunk_conf tc;
static struct emerg_conf ec;
static bool ready;

static void setup(void)
{
	unsigned line;
	char err[256];

	trunk_conf_init(&tc);
	strcpy(tc.outside_prefix, "9");
	(void)trunk_conf_check(&tc, &line, err, sizeof(err));
	memset(&ec, 0, sizeof(ec));
	emerg_conf_init(&ec);
	strcpy(ec.numbers_text, "911, 112, 933");
	if (emerg_conf_check(&ec, &tc, &line, err, sizeof(err)) != 0)
		abort();
	ready = true;
}

static void check_civic(const struct emerg_civic *c)
{
	for (int f = 0; f < EMERG_FIELD_COUNT; f++) {
		size_t n = strnlen(c->f[f], sizeof(c->f[f]));
		if (n == sizeof(c->f[f]) || n > emerg_field_limit((enum emerg_field)f))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c->f[f][i] < 0x20 || c->f[f][i] == 0x7f)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), err[256], text[EMERG_LOC_TEXT_MAX];
	struct emerg_civic c, d;
	int k;

	if (!buf)
		return 0;
	if (!ready)
		setup();
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* the number and the request line: the bytes as they are */
	k = emerg_match_user(&ec, &tc, slice_make(buf, size));
	if (k < -1 || k >= (int)ec.nnumbers)
		abort();
	(void)emerg_request_line(&ec, &tc, buf, size);
	/* a location: text up to the first NUL */
	if (emerg_civic_parse(&c, buf, err, sizeof(err)) == 0) {
		char pidf[EMERG_PIDF_MAX];
		size_t len = 0;

		check_civic(&c);
		if (emerg_civic_format(text, sizeof(text), &c) == 0) {
			if (emerg_civic_parse(&d, text, err, sizeof(err)) != 0 ||
			    memcmp(&c, &d, sizeof(c)) != 0)
				abort();
		}
		if (emerg_pidf(pidf, sizeof(pidf), &len, &c, "pres:a@b", "t", 0) == 0) {
			/* between "<ca:X>" and "</ca:X>" no raw markup */
			const char *end = strstr(pidf, "</ca:civicAddress>");
			if (!end)
				abort();
			for (const char *p = strstr(pidf, "<ca:civicAddress"); p && p < end;) {
				const char *open = strchr(p, '>'), *close;
				if (!open || !(close = strchr(open, '<')) || close > end)
					break;
				for (const char *q = open + 1; q < close; q++)
					if (*q == '&' && strncmp(q, "&amp;", 5) && strncmp(q, "&lt;", 4) &&
					    strncmp(q, "&gt;", 4) && strncmp(q, "&quot;", 6) &&
					    strncmp(q, "&apos;", 6))
						abort();
				p = close + 1;
			}
		}
	}
	free(buf);
	return 0;
}
