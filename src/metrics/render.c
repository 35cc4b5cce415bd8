/*
 * render: Prometheus' text exposition format into a bounded buffer
 * (metrics.h). Names are checked, label values and help text escaped, so
 * the output parses whatever the values hold.
 */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_BUF_FIRST 4096

int metrics_buf_init(struct metrics_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max < METRICS_BUF_FIRST ? METRICS_BUF_FIRST : max;
	b->p = malloc(METRICS_BUF_FIRST);
	if (!b->p)
		return ENOMEM;
	b->cap = METRICS_BUF_FIRST;
	b->p[0] = '\0';
	return 0;
}

void metrics_buf_free(struct metrics_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Room for n more bytes (and a NUL); false (overflow set) past max. */
static bool reserve(struct metrics_buf *b, size_t n)
{
	size_t want = b->len + n + 1, cap = b->cap;
	char *p;

	if (b->overflow)
		return false;
	if (want <= cap)
		return true;
	if (want > b->max) {
		b->overflow = true;
		return false;
	}
	while (cap < want)
		cap = cap * 2 > b->max ? b->max : cap * 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->overflow = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void put(struct metrics_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct metrics_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct metrics_buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->overflow = true;
		return;
	}
	put(b, tmp, (size_t)n);
}

static bool name_ok(const char *s, bool label)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			     (!label && c == ':');
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

/* Escape v: in a label value `\`, `"` and newline (quoted); in help text
 * `\` and newline. Bytes outside printable ASCII become the text \xNN
 * (its backslash escaped), so the output is ASCII. */
static void put_escaped(struct metrics_buf *b, struct slice v, bool quote)
{
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];
		char tmp[8];

		if (c == '\\')
			puts_(b, "\\\\");
		else if (c == '\n')
			puts_(b, "\\n");
		else if (c == '"' && quote)
			puts_(b, "\\\"");
		else if (c < 0x20 || c >= 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\\\x%02x", c);
			puts_(b, tmp);
		} else
			put(b, (const char *)&v.p[i], 1);
	}
}

static const char *const type_names[] = { "counter", "gauge", "histogram" };

void metrics_family(struct metrics_buf *b, const char *name, enum metrics_type type,
		    const char *help)
{
	if (!name_ok(name, false) || (unsigned)type >= ARRAY_SIZE(type_names)) {
		b->overflow = true;
		return;
	}
	if (strcmp(b->family, name) == 0)
		return;
	snprintf(b->family, sizeof(b->family), "%s", name);
	puts_(b, "# HELP ");
	puts_(b, name);
	puts_(b, " ");
	put_escaped(b, slice_cstr(help ? help : ""), false);
	puts_(b, "\n# TYPE ");
	puts_(b, name);
	puts_(b, " ");
	puts_(b, type_names[type]);
	puts_(b, "\n");
}

static bool put_head(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
		     size_t nlabels)
{
	if (!name_ok(name, false)) {
		b->overflow = true;
		return false;
	}
	for (size_t i = 0; i < nlabels; i++) {
		if (!name_ok(labels[i].name, true) || strncmp(labels[i].name, "__", 2) == 0) {
			b->overflow = true;
			return false;
		}
	}
	puts_(b, name);
	if (nlabels) {
		puts_(b, "{");
		for (size_t i = 0; i < nlabels; i++) {
			if (i)
				puts_(b, ",");
			puts_(b, labels[i].name);
			puts_(b, "=\"");
			put_escaped(b, labels[i].value, true);
			puts_(b, "\"");
		}
		puts_(b, "}");
	}
	return true;
}

void metrics_sample(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
		    size_t nlabels, uint64_t value)
{
	if (put_head(b, name, labels, nlabels))
		putf(b, " %llu\n", (unsigned long long)value);
}

static void put_double(struct metrics_buf *b, double v)
{
	if (isnan(v))
		puts_(b, "NaN");
	else if (isinf(v))
		puts_(b, v > 0 ? "+Inf" : "-Inf");
	else
		putf(b, "%.15g", v);
}

void metrics_sample_f(struct metrics_buf *b, const char *name,
		      const struct metrics_label *labels, size_t nlabels, double value)
{
	if (!put_head(b, name, labels, nlabels))
		return;
	puts_(b, " ");
	put_double(b, value);
	puts_(b, "\n");
}

void metrics_one(struct metrics_buf *b, const char *name, enum metrics_type type,
		 const char *help, uint64_t value)
{
	metrics_family(b, name, type, help);
	metrics_sample(b, name, NULL, 0, value);
}

void metrics_histogram(struct metrics_buf *b, const char *name, const char *help,
		       const uint32_t *bounds, size_t nbounds, const uint64_t *counts,
		       uint64_t sum, double scale)
{
	char sname[160], le[48];
	uint64_t cum = 0;
	struct metrics_label l = { "le", SLICE_NULL };

	if (scale <= 0)
		scale = 1;
	metrics_family(b, name, METRICS_HISTOGRAM, help);
	snprintf(sname, sizeof(sname), "%s_bucket", name);
	for (size_t i = 0; i <= nbounds; i++) {
		cum += counts[i];
		if (i < nbounds)
			snprintf(le, sizeof(le), "%.15g", bounds[i] / scale);
		else
			snprintf(le, sizeof(le), "+Inf");
		l.value = slice_cstr(le);
		metrics_sample(b, sname, &l, 1, cum);
	}
	snprintf(sname, sizeof(sname), "%s_sum", name);
	metrics_sample_f(b, sname, NULL, 0, (double)sum / scale);
	snprintf(sname, sizeof(sname), "%s_count", name);
	metrics_sample(b, sname, NULL, 0, cum);
}
