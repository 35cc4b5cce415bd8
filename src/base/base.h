/*
 * base: the few primitives every layer shares.
 *
 * A slice is a borrowed byte range (pointer plus length) into a buffer that
 * somebody else owns; parsers hand out slices into the receive buffer instead
 * of copying, and nothing here ever relies on a NUL terminator. The checked
 * converters turn untrusted digits into numbers and refuse junk, signs and
 * overflow instead of wrapping (RFC 4475 3.1.2.4 and 3.1.2.19 test exactly this).
 *
 * Error convention for the whole code base: fallible functions return 0 or a
 * positive errno value: EINVAL bad argument, EBADMSG malformed input, EPROTO
 * protocol violation, ENODATA need more bytes, EOVERFLOW a limit hit, ERANGE a
 * number out of range, ENOMEM out of memory.
 */
#ifndef BASTION_BASE_H
#define BASTION_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hash.h"

struct slice {
	const char *p;
	size_t len;
};

#define SLICE_LIT(s) ((struct slice){ (s), sizeof(s) - 1 })
#define SLICE_NULL ((struct slice){ NULL, 0 })
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline struct slice slice_make(const char *p, size_t len)
{
	return (struct slice){ p, len };
}

static inline struct slice slice_cstr(const char *s)
{
	return (struct slice){ s, s ? strlen(s) : 0 };
}

static inline bool slice_empty(struct slice s)
{
	return s.len == 0;
}

/* Byte-exact comparison. */
bool slice_eq(struct slice a, struct slice b);
/* ASCII case-insensitive comparison (SIP tokens, header names, hosts). */
bool slice_caseeq(struct slice a, struct slice b);
bool slice_caseeq_cstr(struct slice a, const char *s);

/* Drop leading and trailing SP, HTAB, CR and LF (linear white space, which
 * includes the CRLF of a folded header line). */
struct slice slice_trim(struct slice s);

/* Pointer to the first occurrence of c in s, or NULL. */
const char *slice_chr(struct slice s, char c);

/*
 * Checked decimal converters. The whole slice must be 1*DIGIT (no sign, no
 * space); leading zeros are accepted. Return 0 and set *out, EBADMSG on a
 * non-digit or empty input, ERANGE when the value does not fit. *out is left
 * untouched on failure.
 */
int slice_to_u32(struct slice s, uint32_t *out);
int slice_to_u64(struct slice s, uint64_t *out);

/*
 * Write a whole file so that a crash at any moment leaves path either as it
 * was (absent) or complete, never a part of it (file.c): the bytes go to a
 * temporary file beside it (".NAME.tmp-XXXXXX", created exclusively), which
 * gets exactly `mode`, is written, fsynced and closed, then linked to path
 * (which must not exist: EEXIST, and a symbolic link there is never
 * followed), unlinked, and the directory is fsynced so that the name
 * survives a power cut too. On any failure the temporary file is removed and
 * path is untouched. Returns 0, EINVAL, EEXIST, ENAMETOOLONG, or the errno
 * of the failing call.
 */
int base_file_create(const char *path, const void *data, size_t len, unsigned mode);

/* Value of one hex digit (either case), or -1. */
int hex_digit(unsigned char c);

/* Decode exactly n bytes from the 2n hex digits (either case) of s. Returns
 * true, or false (out partly written) when s is not exactly that. */
bool hex_decode(uint8_t *out, size_t n, struct slice s);

/* The 2n lowercase hex digits of in[0..n) and a NUL into out (2n + 1
 * bytes). */
void hex_encode(char *out, const uint8_t *in, size_t n);

/*
 * Copy the C string src into dst (of size cap) as snprintf(dst, cap, "%s",
 * src) does: at most cap - 1 bytes, always NUL-terminated when cap > 0.
 * Returns dst. For the copies on the call path: snprintf costs about a
 * thousand instructions each, and a call's record copies dozens of strings.
 */
char *base_strcpy(char *dst, size_t cap, const char *src);

/*
 * Copy s into dst (of size cap) as a printable, escaped and truncated C string
 * for logs: bytes outside printable ASCII become \xNN, and the copy stops at
 * max_in input bytes with "..." appended. Always NUL-terminates when cap > 0.
 * Returns dst.
 */
char *slice_repr(char *dst, size_t cap, struct slice s, size_t max_in);

#endif
