/*
 * sip/internal.h: character classes and small scanners shared by the sip
 * layer's parsers. Not for other layers.
 */
#ifndef BASTION_SIP_INTERNAL_H
#define BASTION_SIP_INTERNAL_H

#include "sip.h"

enum {
	SIP_C_ALNUM = 1u << 0,
	SIP_C_TOKEN = 1u << 1,    /* token: alphanum - . ! % * _ + ` ' ~ */
	SIP_C_UNRES = 1u << 2,    /* unreserved: alphanum - _ . ! ~ * ' ( ) */
	SIP_C_USER = 1u << 3,     /* user-unreserved: & = + $ , ; ? / */
	SIP_C_PARAM = 1u << 4,    /* param-unreserved: [ ] / : & + $ */
	SIP_C_HNV = 1u << 5,      /* hnv-unreserved: [ ] / ? : + $ */
	SIP_C_WORD = 1u << 6,     /* Call-ID word */
	SIP_C_HEX = 1u << 7,
};

extern const uint8_t sip_ctype[256];

static inline bool sip_is(char c, unsigned cls)
{
	return (sip_ctype[(unsigned char)c] & cls) != 0;
}

static inline bool sip_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* LWS inside a header value: folded lines keep their CR LF. */
static inline bool sip_is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline struct slice sip_sub(struct slice s, size_t from, size_t to)
{
	return slice_make(s.p + from, to - from);
}

/* True when s is 1*token-char. */
bool sip_is_token(struct slice s);

/* Parse "host[:port]" (IPv6 in brackets) occupying all of s. Returns 0 or
 * EBADMSG. */
int sip_hostport_parse(struct slice s, struct slice *host, enum sip_host_type *type,
		       uint16_t *port, bool *has_port);

/* Length of a quoted-string starting at s.p[0] == '"', closing quote included.
 * Returns 0 when unterminated within s. */
size_t sip_quoted_len(struct slice s);

#endif
