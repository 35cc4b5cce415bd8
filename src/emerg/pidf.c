/*
 * emerg/pidf.c: civic addresses (RFC 5139), checked when they are set and
 * kept as text; the PIDF-LO document (RFC 4119) that carries one; and the
 * multipart/mixed body (RFC 2046) that puts it next to the SDP (RFC 6442).
 *
 * A field is refused when it is set, not when the call is made: a value
 * over its limit, a control character (XML 1.0 cannot carry most of them),
 * or bytes that are not UTF-8. What is left is always written escaped
 * (& < > " '), so the document is well formed whatever was typed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "emerg.h"

static const char *const field_names[EMERG_FIELD_COUNT] = {
	[EMERG_COUNTRY] = "country", [EMERG_A1] = "A1",   [EMERG_A3] = "A3",
	[EMERG_RD] = "RD",           [EMERG_HNO] = "HNO", [EMERG_FLR] = "FLR",
	[EMERG_BLD] = "BLD",         [EMERG_ROOM] = "ROOM",
};

static const size_t field_limits[EMERG_FIELD_COUNT] = {
	[EMERG_COUNTRY] = 2, [EMERG_A1] = 64, [EMERG_A3] = 64, [EMERG_RD] = 64,
	[EMERG_HNO] = 16,    [EMERG_FLR] = 16, [EMERG_BLD] = 64, [EMERG_ROOM] = 32,
};

/* RFC 5139's schema is a sequence: the elements go out in this order. */
static const enum emerg_field xml_order[EMERG_FIELD_COUNT] = {
	EMERG_COUNTRY, EMERG_A1, EMERG_A3, EMERG_RD, EMERG_HNO, EMERG_FLR, EMERG_BLD, EMERG_ROOM,
};

const char *emerg_field_name(enum emerg_field f)
{
	return (unsigned)f < EMERG_FIELD_COUNT ? field_names[f] : NULL;
}

size_t emerg_field_limit(enum emerg_field f)
{
	return (unsigned)f < EMERG_FIELD_COUNT ? field_limits[f] : 0;
}

/* Valid UTF-8 (no overlongs, no surrogates) without control characters. */
static bool text_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		unsigned c = p[i], need, cp;
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= need)
			return false;
		for (unsigned k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
			return false;
		i += need + 1;
	}
	return true;
}

static bool e164_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 16 || s[0] != '+')
		return false;
	for (size_t i = 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

int emerg_civic_set(struct emerg_civic *c, const char *key, const char *value, char *err,
		    size_t errlen)
{
	size_t len = strlen(value);
	int f;

	if (strcasecmp(key, "elin") == 0) {
		if (len && !e164_ok(value)) {
			snprintf(err, errlen, "ELIN \"%.20s\" is not an E.164 number (+ and up to 15 "
				 "digits)", value);
			return EINVAL;
		}
		memset(c->elin, 0, sizeof(c->elin)); /* no bytes of an old value left */
		memcpy(c->elin, value, len + 1);
		return 0;
	}
	for (f = 0; f < EMERG_FIELD_COUNT; f++)
		if (strcasecmp(key, field_names[f]) == 0)
			break;
	if (f == EMERG_FIELD_COUNT) {
		snprintf(err, errlen, "unknown location field \"%.30s\" (country, A1 region, A3 city, "
			 "RD street, HNO number, FLR floor, BLD building, ROOM room, ELIN)", key);
		return EINVAL;
	}
	if (len > field_limits[f]) {
		snprintf(err, errlen, "location field %s is %zu bytes long, over its limit of %zu",
			 field_names[f], len, field_limits[f]);
		return EOVERFLOW;
	}
	if (!text_ok(value, len)) {
		snprintf(err, errlen, "location field %s has a control character or bytes that are "
			 "not UTF-8", field_names[f]);
		return EINVAL;
	}
	if (f == EMERG_COUNTRY && len &&
	    !(len == 2 && value[0] >= 'A' && value[0] <= 'Z' && value[1] >= 'A' && value[1] <= 'Z')) {
		snprintf(err, errlen, "location field country must be two capital letters "
			 "(ISO 3166, e.g. US)");
		return EINVAL;
	}
	memset(c->f[f], 0, sizeof(c->f[f]));
	memcpy(c->f[f], value, len + 1);
	return 0;
}

bool emerg_civic_empty(const struct emerg_civic *c)
{
	for (int f = 0; f < EMERG_FIELD_COUNT; f++)
		if (c->f[f][0])
			return false;
	return !c->elin[0];
}

/* Append s to out[*n..cap) with '%', ';', '=' escaped; false on overflow. */
static bool put_escaped(char *out, size_t cap, size_t *n, const char *s)
{
	for (; *s; s++) {
		const char *rep = *s == '%' ? "%25" : *s == ';' ? "%3B" : *s == '=' ? "%3D" : NULL;
		size_t l = rep ? 3 : 1;
		if (*n + l >= cap)
			return false;
		if (rep)
			memcpy(out + *n, rep, 3);
		else
			out[*n] = *s;
		*n += l;
	}
	out[*n] = '\0';
	return true;
}

static bool put_raw(char *out, size_t cap, size_t *n, const char *s)
{
	size_t l = strlen(s);

	if (*n + l >= cap)
		return false;
	memcpy(out + *n, s, l + 1);
	*n += l;
	return true;
}

int emerg_civic_format(char *out, size_t cap, const struct emerg_civic *c)
{
	size_t n = 0;

	if (!cap)
		return EOVERFLOW;
	out[0] = '\0';
	for (int i = 0; i <= EMERG_FIELD_COUNT; i++) {
		const char *name = i < EMERG_FIELD_COUNT ? field_names[i] : "ELIN";
		const char *v = i < EMERG_FIELD_COUNT ? c->f[i] : c->elin;
		if (!v[0])
			continue;
		if ((n && !put_raw(out, cap, &n, ";")) || !put_raw(out, cap, &n, name) ||
		    !put_raw(out, cap, &n, "=") || !put_escaped(out, cap, &n, v))
			return EOVERFLOW;
	}
	return 0;
}

int emerg_civic_parse(struct emerg_civic *c, const char *text, char *err, size_t errlen)
{
	struct emerg_civic tmp;
	const char *p = text;

	memset(&tmp, 0, sizeof(tmp));
	while (*p) {
		char key[16], val[EMERG_LOC_TEXT_MAX];
		size_t kn = 0, vn = 0;
		int rc;

		while (*p == ' ')
			p++;
		while (*p && *p != '=' && *p != ';') {
			if (kn + 1 >= sizeof(key)) {
				snprintf(err, errlen, "location: a field name is too long");
				return EINVAL;
			}
			key[kn++] = *p++;
		}
		key[kn] = '\0';
		if (*p != '=') {
			if (kn == 0 && *p == ';') {
				p++;
				continue;
			}
			snprintf(err, errlen, "location: \"%.20s\" is not NAME=VALUE", key);
			return EINVAL;
		}
		p++;
		while (*p && *p != ';') {
			char ch = *p++;
			if (ch == '%') {
				int hi = -1, lo = -1;
				if (p[0] && p[1]) {
					hi = (p[0] >= '0' && p[0] <= '9') ? p[0] - '0'
					     : (p[0] >= 'A' && p[0] <= 'F') ? p[0] - 'A' + 10
					     : (p[0] >= 'a' && p[0] <= 'f') ? p[0] - 'a' + 10 : -1;
					lo = (p[1] >= '0' && p[1] <= '9') ? p[1] - '0'
					     : (p[1] >= 'A' && p[1] <= 'F') ? p[1] - 'A' + 10
					     : (p[1] >= 'a' && p[1] <= 'f') ? p[1] - 'a' + 10 : -1;
				}
				if (hi < 0 || lo < 0) {
					snprintf(err, errlen, "location field %s: a bad %%-escape (write "
						 "%%25, %%3B, %%3D for %%, ;, =)", key);
					return EINVAL;
				}
				ch = (char)(hi * 16 + lo);
				p += 2;
			}
			if (vn + 1 >= sizeof(val)) {
				snprintf(err, errlen, "location field %s is over its limit", key);
				return EOVERFLOW;
			}
			val[vn++] = ch;
		}
		val[vn] = '\0';
		if (memchr(val, '\0', vn)) {
			snprintf(err, errlen, "location field %s has a control character", key);
			return EINVAL;
		}
		/* trailing spaces typed around ';' */
		while (vn && val[vn - 1] == ' ')
			val[--vn] = '\0';
		if ((rc = emerg_civic_set(&tmp, key, val, err, errlen)) != 0)
			return rc;
		if (*p == ';')
			p++;
	}
	*c = tmp;
	return 0;
}

/* ---- the PIDF-LO ------------------------------------------------------------------ */

struct out {
	char *p;
	size_t cap, n;
	bool over;
};

static void put(struct out *o, const char *s, size_t len)
{
	if (o->over || len >= o->cap - o->n) {
		o->over = true;
		return;
	}
	memcpy(o->p + o->n, s, len);
	o->n += len;
	o->p[o->n] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* XML character data or attribute value, escaped. Control characters,
 * which a checked field never has, are left out rather than written. */
static void put_xml(struct out *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': puts_(o, "&amp;"); break;
		case '<': puts_(o, "&lt;"); break;
		case '>': puts_(o, "&gt;"); break;
		case '"': puts_(o, "&quot;"); break;
		case '\'': puts_(o, "&apos;"); break;
		default:
			if ((unsigned char)*s >= 0x20 && *s != 0x7f)
				put(o, s, 1);
		}
	}
}

int emerg_pidf(char *out, size_t cap, size_t *len, const struct emerg_civic *c,
	       const char *entity, const char *id, int64_t when)
{
	struct out o = { out, cap, 0, cap == 0 };
	char ts[32];
	time_t t = (time_t)when;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return EINVAL;
	puts_(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		  "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"\n"
		  "    xmlns:gp=\"urn:ietf:params:xml:ns:pidf:geopriv10\"\n"
		  "    xmlns:ca=\"urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr\"\n"
		  "    entity=\"");
	put_xml(&o, entity);
	puts_(&o, "\">\n <tuple id=\"");
	put_xml(&o, id);
	puts_(&o, "\">\n  <status>\n   <gp:geopriv>\n    <gp:location-info>\n"
		  "     <ca:civicAddress xml:lang=\"en\">\n");
	for (int i = 0; i < EMERG_FIELD_COUNT; i++) {
		enum emerg_field f = xml_order[i];
		if (!c->f[f][0])
			continue;
		puts_(&o, "      <ca:");
		puts_(&o, field_names[f]);
		puts_(&o, ">");
		put_xml(&o, c->f[f]);
		puts_(&o, "</ca:");
		puts_(&o, field_names[f]);
		puts_(&o, ">\n");
	}
	puts_(&o, "     </ca:civicAddress>\n    </gp:location-info>\n"
		  "    <gp:usage-rules/>\n    <gp:method>Manual</gp:method>\n"
		  "   </gp:geopriv>\n  </status>\n  <timestamp>");
	puts_(&o, ts);
	puts_(&o, "</timestamp>\n </tuple>\n</presence>\n");
	if (o.over)
		return EOVERFLOW;
	*len = o.n;
	return 0;
}

/* ---- the multipart body ------------------------------------------------------------ */

static bool contains(struct slice hay, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; n && i + n <= hay.len; i++)
		if (memcmp(hay.p + i, needle, n) == 0)
			return true;
	return false;
}

static bool header_value_ok(struct slice v)
{
	if (v.len == 0 || v.len > 200)
		return false;
	for (size_t i = 0; i < v.len; i++)
		if ((unsigned char)v.p[i] < 0x20 || (unsigned char)v.p[i] >= 0x7f)
			return false;
	return true;
}

int emerg_multipart(char *out, size_t cap, size_t *len, char *ctype, size_t ctype_cap,
		    struct slice sdp_type, struct slice sdp, const char *cid, struct slice pidf,
		    uint64_t seed)
{
	struct out o = { out, cap, 0, cap == 0 };
	char boundary[40];
	int tries = 0;

	if ((sdp.len && !header_value_ok(sdp_type)) || !header_value_ok(slice_cstr(cid)) ||
	    strchr(cid, '<') || strchr(cid, '>'))
		return EINVAL;
	/* a boundary that is in neither part (RFC 2046 5.1.1); 64 tries of a
	 * mixed seed make a collision impossible in practice, and it is checked */
	do {
		uint64_t x = seed + (uint64_t)tries * 0x9e3779b97f4a7c15ull;
		x ^= x >> 31;
		x *= 0xbf58476d1ce4e5b9ull;
		x ^= x >> 29;
		snprintf(boundary, sizeof(boundary), "bastion-%016llx", (unsigned long long)x);
	} while ((contains(sdp, boundary) || contains(pidf, boundary)) && ++tries < 64);
	if (tries == 64)
		return EINVAL;
	if ((size_t)snprintf(ctype, ctype_cap, "multipart/mixed;boundary=%s", boundary) >= ctype_cap)
		return EOVERFLOW;
	if (sdp.len) {
		puts_(&o, "--");
		puts_(&o, boundary);
		puts_(&o, "\r\nContent-Type: ");
		put(&o, sdp_type.p, sdp_type.len);
		puts_(&o, "\r\n\r\n");
		put(&o, sdp.p, sdp.len);
		puts_(&o, "\r\n");
	}
	puts_(&o, "--");
	puts_(&o, boundary);
	puts_(&o, "\r\nContent-Type: application/pidf+xml\r\nContent-ID: <");
	puts_(&o, cid);
	puts_(&o, ">\r\n\r\n");
	put(&o, pidf.p, pidf.len);
	puts_(&o, "\r\n--");
	puts_(&o, boundary);
	puts_(&o, "--\r\n");
	if (o.over)
		return EOVERFLOW;
	*len = o.n;
	return 0;
}
