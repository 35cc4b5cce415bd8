/*
 * check: runs the cases of one suite, reports failures with file and line,
 * optionally writes JUnit XML for CI's pass/fail count.
 */
#include "check.h"

#include <stdarg.h>
#include <stdlib.h>

bool check_failed;
static char check_msg[1024];

void check_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(check_msg, sizeof(check_msg), "%s:%d: ", file, line);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(check_msg))
		vsnprintf(check_msg + n, sizeof(check_msg) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "  FAIL %s\n", check_msg);
	check_failed = true;
}

static void xml_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\n')
				fputc(*s, f);
		}
	}
}

int check_main(const char *suite, const struct check_case *cases, size_t n, int argc,
	       char **argv)
{
	size_t failed = 0, run = 0;
	const char *only = argc > 1 ? argv[1] : NULL;
	const char *dir = getenv("BASTION_JUNIT_DIR");
	FILE *xml = NULL;
	char path[1024], tmp[1100];

	if (dir && *dir) {
		/* Until the suite finishes, its file says it failed: a crash or a
		 * sanitizer abort must count as a failure, not vanish. */
		snprintf(path, sizeof(path), "%s/unit-%s.xml", dir, suite);
		xml = fopen(path, "w");
		if (xml) {
			fprintf(xml, "<testsuite name=\"%s\"><testcase classname=\"unit.%s\" "
				     "name=\"suite_finished\"><failure message=\"the suite did "
				     "not finish (crash or abort)\"/></testcase></testsuite>\n",
				suite, suite);
			fclose(xml);
		}
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		xml = fopen(tmp, "w");
		if (xml)
			fprintf(xml, "<testsuite name=\"%s\">\n", suite);
	}
	for (size_t i = 0; i < n; i++) {
		if (only && strcmp(only, cases[i].name) != 0)
			continue;
		check_failed = false;
		check_msg[0] = '\0';
		cases[i].fn();
		run++;
		if (check_failed)
			failed++;
		printf("%s %s.%s\n", check_failed ? "FAIL" : "ok  ", suite, cases[i].name);
		if (xml) {
			fprintf(xml, "  <testcase classname=\"unit.%s\" name=\"%s\">", suite,
				cases[i].name);
			if (check_failed) {
				fputs("<failure message=\"", xml);
				xml_escaped(xml, check_msg);
				fputs("\"/>", xml);
			}
			fputs("</testcase>\n", xml);
		}
	}
	if (xml) {
		fputs("</testsuite>\n", xml);
		if (fclose(xml) == 0)
			rename(tmp, path);
	}
	printf("%s: %zu run, %zu failed\n", suite, run, failed);
	return failed || run == 0 ? 1 : 0;
}

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

size_t check_fnv_collisions(char (*out)[32], size_t n)
{
	uint64_t target = 0;
	size_t made = 0;

	for (unsigned long i = 0; made < n && i < 100000000ul; i++) {
		int len = snprintf(out[made], 32, "%lx@evil", i);
		uint64_t h = fnv1a(out[made], (size_t)len) & 4095;
		if (made == 0)
			target = h;
		if (h == target)
			made++;
	}
	return made;
}

char *check_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long sz;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)sz + 1);
		if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
			free(buf);
			buf = NULL;
		} else if (buf) {
			buf[sz] = '\0';
			*len = (size_t)sz;
		}
	}
	fclose(f);
	return buf;
}

const char *check_data_path(char *buf, size_t cap, const char *rel)
{
	const char *dir = getenv("BASTION_TESTDATA");

	snprintf(buf, cap, "%s/%s", dir && *dir ? dir : "tests/data", rel);
	return buf;
}
