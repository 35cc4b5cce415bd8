/*
 * base: slice comparison, trimming, checked number conversion and escaped
 * rendering of untrusted bytes for logs.
 */
#include "base.h"

#include <errno.h>
#include <stdio.h>

bool slice_eq(struct slice a, struct slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline unsigned char ascii_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

bool slice_caseeq(struct slice a, struct slice b)
{
	if (a.len != b.len)
		return false;
	/* bytes that are equal need no folding: most names arrive spelt as
	 * we compare them, and this runs for every header line */
	for (size_t i = 0; i < a.len; i++) {
		unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];

		if (x != y && ascii_lower(x) != ascii_lower(y))
			return false;
	}
	return true;
}

/* Without strlen(s): a mismatch (most calls: a parameter or header name
 * against each name we know) ends at its first byte. */
bool slice_caseeq_cstr(struct slice a, const char *s)
{
	size_t i;

	for (i = 0; i < a.len; i++) {
		unsigned char x = (unsigned char)a.p[i], y = (unsigned char)s[i];

		if (y == '\0' || (x != y && ascii_lower(x) != ascii_lower(y)))
			return false;
	}
	return s[i] == '\0';
}

static inline bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct slice slice_trim(struct slice s)
{
	while (s.len && is_lws(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && is_lws(s.p[s.len - 1]))
		s.len--;
	return s;
}

const char *slice_chr(struct slice s, char c)
{
	return s.len ? memchr(s.p, c, s.len) : NULL;
}

int slice_to_u64(struct slice s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return EBADMSG;
	for (size_t i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (d > 9)
			return EBADMSG;
		if (v > (UINT64_MAX - d) / 10)
			return ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int slice_to_u32(struct slice s, uint32_t *out)
{
	uint64_t v;
	int err = slice_to_u64(s, &v);

	if (err)
		return err;
	if (v > UINT32_MAX)
		return ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool hex_decode(uint8_t *out, size_t n, struct slice s)
{
	if (s.len != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit((unsigned char)s.p[2 * i]);
		int lo = hex_digit((unsigned char)s.p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

void hex_encode(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

char *base_strcpy(char *dst, size_t cap, const char *src)
{
	size_t n;

	if (cap == 0)
		return dst;
	n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
	return dst;
}

char *slice_repr(char *dst, size_t cap, struct slice s, size_t max_in)
{
	size_t o = 0;
	size_t n = s.len < max_in ? s.len : max_in;

	if (cap == 0)
		return dst;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= cap)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= cap)
				break;
			snprintf(dst + o, cap - o, "\\x%02x", c);
			o += 4;
		}
	}
	if (n < s.len && o + 3 < cap) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}
