/*
 * http: what to answer to one HTTP/1.x request for the metrics listener
 * (metrics.h). A pure function of the bytes received so far; the listener
 * (server.c) calls it after every read.
 */
#include "metrics.h"

#include <errno.h>
#include <string.h>

/* The end of the header section: the offset after CRLF CRLF or LF LF, or 0. */
static size_t header_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static bool is_tchar(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int verdict(struct metrics_http_verdict *v, int status, const char *reason)
{
	v->status = status;
	v->reason = reason;
	return 0;
}

int metrics_http_parse(struct metrics_http_verdict *v, const char *buf, size_t len, size_t max)
{
	const char *eol, *sp1, *sp2, *end;
	struct slice method, target, version, path;
	size_t hend, line_len;

	memset(v, 0, sizeof(*v));
	hend = header_end(buf, len > max ? max : len);
	if (!hend) {
		if (len < max)
			return ENODATA;
		verdict(v, 431, "Request Header Fields Too Large");
		return EOVERFLOW;
	}
	eol = memchr(buf, '\n', hend);
	line_len = (size_t)(eol - buf);
	if (line_len && buf[line_len - 1] == '\r')
		line_len--;
	end = buf + line_len;
	sp1 = memchr(buf, ' ', line_len);
	if (!sp1)
		return verdict(v, 400, "Bad Request");
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (!sp2 || memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1)))
		return verdict(v, 400, "Bad Request");
	method = slice_make(buf, (size_t)(sp1 - buf));
	target = slice_make(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	version = slice_make(sp2 + 1, (size_t)(end - sp2 - 1));
	if (method.len == 0 || target.len == 0)
		return verdict(v, 400, "Bad Request");
	for (size_t i = 0; i < method.len; i++)
		if (!is_tchar(method.p[i]))
			return verdict(v, 400, "Bad Request");
	for (size_t i = 0; i < target.len; i++)
		if ((unsigned char)target.p[i] <= 0x20 || (unsigned char)target.p[i] >= 0x7f)
			return verdict(v, 400, "Bad Request");
	if (version.len != 8 || memcmp(version.p, "HTTP/1.", 7) != 0 || version.p[7] < '0' ||
	    version.p[7] > '9')
		return verdict(v, version.len >= 5 && memcmp(version.p, "HTTP/", 5) == 0 ? 505 : 400,
			       version.len >= 5 && memcmp(version.p, "HTTP/", 5) == 0
				       ? "HTTP Version Not Supported"
				       : "Bad Request");
	path = target;
	{
		const char *q = memchr(target.p, '?', target.len);
		if (q)
			path.len = (size_t)(q - target.p);
	}
	if (!slice_eq(path, SLICE_LIT("/metrics")))
		return verdict(v, 404, "Not Found");
	if (slice_eq(method, SLICE_LIT("HEAD")))
		v->head = true;
	else if (!slice_eq(method, SLICE_LIT("GET")))
		return verdict(v, 405, "Method Not Allowed");
	return verdict(v, 200, "OK");
}
