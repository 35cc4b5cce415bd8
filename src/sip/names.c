/*
 * sip/names.c: character classes of the RFC 3261 grammar, method names and
 * header field names. sip_hdr_lookup runs once per header line, so it
 * switches on the name length and first letter before comparing.
 */
#include "internal.h"

const uint8_t sip_ctype[256] = {
	['!'] = SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['"'] = SIP_C_WORD,
	['$'] = SIP_C_USER | SIP_C_PARAM | SIP_C_HNV,
	['%'] = SIP_C_TOKEN | SIP_C_WORD,
	['&'] = SIP_C_USER | SIP_C_PARAM,
	['\''] = SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['('] = SIP_C_UNRES | SIP_C_WORD,
	[')'] = SIP_C_UNRES | SIP_C_WORD,
	['*'] = SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['+'] = SIP_C_TOKEN | SIP_C_USER | SIP_C_PARAM | SIP_C_HNV | SIP_C_WORD,
	[','] = SIP_C_USER,
	['-'] = SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['.'] = SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['/'] = SIP_C_USER | SIP_C_PARAM | SIP_C_HNV | SIP_C_WORD,
	['0'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['1'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['2'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['3'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['4'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['5'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['6'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['7'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['8'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['9'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	[':'] = SIP_C_PARAM | SIP_C_HNV | SIP_C_WORD,
	[';'] = SIP_C_USER,
	['<'] = SIP_C_WORD,
	['='] = SIP_C_USER,
	['>'] = SIP_C_WORD,
	['?'] = SIP_C_USER | SIP_C_HNV | SIP_C_WORD,
	['A'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['B'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['C'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['D'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['E'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['F'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['G'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['H'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['I'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['J'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['K'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['L'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['M'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['N'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['O'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['P'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['Q'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['R'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['S'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['T'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['U'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['V'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['W'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['X'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['Y'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['Z'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['['] = SIP_C_PARAM | SIP_C_HNV | SIP_C_WORD,
	['\\'] = SIP_C_WORD,
	[']'] = SIP_C_PARAM | SIP_C_HNV | SIP_C_WORD,
	['_'] = SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['`'] = SIP_C_TOKEN | SIP_C_WORD,
	['a'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['b'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['c'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['d'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['e'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['f'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD | SIP_C_HEX,
	['g'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['h'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['i'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['j'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['k'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['l'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['m'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['n'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['o'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['p'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['q'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['r'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['s'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['t'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['u'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['v'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['w'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['x'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['y'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['z'] = SIP_C_ALNUM | SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
	['{'] = SIP_C_WORD,
	['}'] = SIP_C_WORD,
	['~'] = SIP_C_TOKEN | SIP_C_UNRES | SIP_C_WORD,
};

/* True when s is a non-empty RFC 3261 token. */
bool sip_is_token(struct slice s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!sip_is(s.p[i], SIP_C_TOKEN))
			return false;
	return true;
}

static const char *const method_names[] = {
	[SIP_M_OTHER] = NULL,	       [SIP_M_INVITE] = "INVITE",
	[SIP_M_ACK] = "ACK",	       [SIP_M_BYE] = "BYE",
	[SIP_M_CANCEL] = "CANCEL",     [SIP_M_OPTIONS] = "OPTIONS",
	[SIP_M_REGISTER] = "REGISTER", [SIP_M_PRACK] = "PRACK",
	[SIP_M_SUBSCRIBE] = "SUBSCRIBE", [SIP_M_NOTIFY] = "NOTIFY",
	[SIP_M_PUBLISH] = "PUBLISH",   [SIP_M_INFO] = "INFO",
	[SIP_M_REFER] = "REFER",       [SIP_M_MESSAGE] = "MESSAGE",
	[SIP_M_UPDATE] = "UPDATE",
};

/* Method id of a method token, compared case-sensitively (RFC 3261 7.1);
 * SIP_M_OTHER for anything else, including an empty slice. */
enum sip_method sip_method_from(struct slice s)
{
	for (size_t i = 1; i < ARRAY_SIZE(method_names); i++)
		if (slice_eq(s, slice_cstr(method_names[i])))
			return (enum sip_method)i;
	return SIP_M_OTHER;
}

/* Canonical name of a method; NULL for SIP_M_OTHER or out of range. */
const char *sip_method_name(enum sip_method m)
{
	if ((unsigned)m >= ARRAY_SIZE(method_names))
		return NULL;
	return method_names[m];
}

static const char *const hdr_names[SIP_H__COUNT] = {
	[SIP_H_OTHER] = NULL,
	[SIP_H_VIA] = "Via",
	[SIP_H_FROM] = "From",
	[SIP_H_TO] = "To",
	[SIP_H_CALL_ID] = "Call-ID",
	[SIP_H_CSEQ] = "CSeq",
	[SIP_H_MAX_FORWARDS] = "Max-Forwards",
	[SIP_H_CONTACT] = "Contact",
	[SIP_H_EXPIRES] = "Expires",
	[SIP_H_MIN_EXPIRES] = "Min-Expires",
	[SIP_H_CONTENT_LENGTH] = "Content-Length",
	[SIP_H_CONTENT_TYPE] = "Content-Type",
	[SIP_H_CONTENT_ENCODING] = "Content-Encoding",
	[SIP_H_ROUTE] = "Route",
	[SIP_H_RECORD_ROUTE] = "Record-Route",
	[SIP_H_AUTHORIZATION] = "Authorization",
	[SIP_H_PROXY_AUTHORIZATION] = "Proxy-Authorization",
	[SIP_H_WWW_AUTHENTICATE] = "WWW-Authenticate",
	[SIP_H_PROXY_AUTHENTICATE] = "Proxy-Authenticate",
	[SIP_H_ALLOW] = "Allow",
	[SIP_H_SUPPORTED] = "Supported",
	[SIP_H_REQUIRE] = "Require",
	[SIP_H_PROXY_REQUIRE] = "Proxy-Require",
	[SIP_H_UNSUPPORTED] = "Unsupported",
	[SIP_H_USER_AGENT] = "User-Agent",
	[SIP_H_SERVER] = "Server",
	[SIP_H_ACCEPT] = "Accept",
	[SIP_H_EVENT] = "Event",
	[SIP_H_SUBJECT] = "Subject",
	[SIP_H_REFER_TO] = "Refer-To",
	[SIP_H_REFERRED_BY] = "Referred-By",
	[SIP_H_P_ASSERTED_IDENTITY] = "P-Asserted-Identity",
	[SIP_H_P_PREFERRED_IDENTITY] = "P-Preferred-Identity",
	[SIP_H_REMOTE_PARTY_ID] = "Remote-Party-ID",
	[SIP_H_PRIVACY] = "Privacy",
	[SIP_H_RETRY_AFTER] = "Retry-After",
};

/* Ids by name length, so a lookup compares against at most a few names. */
static const uint8_t hdr_by_len[][6] = {
	[2] = { SIP_H_TO },
	[3] = { SIP_H_VIA },
	[4] = { SIP_H_FROM, SIP_H_CSEQ },
	[5] = { SIP_H_ROUTE, SIP_H_ALLOW, SIP_H_EVENT },
	[6] = { SIP_H_SERVER, SIP_H_ACCEPT },
	[7] = { SIP_H_CALL_ID, SIP_H_CONTACT, SIP_H_EXPIRES, SIP_H_REQUIRE, SIP_H_SUBJECT,
		SIP_H_PRIVACY },
	[8] = { SIP_H_REFER_TO },
	[9] = { SIP_H_SUPPORTED },
	[10] = { SIP_H_USER_AGENT },
	[11] = { SIP_H_MIN_EXPIRES, SIP_H_UNSUPPORTED, SIP_H_REFERRED_BY, SIP_H_RETRY_AFTER },
	[12] = { SIP_H_MAX_FORWARDS, SIP_H_CONTENT_TYPE, SIP_H_RECORD_ROUTE },
	[13] = { SIP_H_AUTHORIZATION, SIP_H_PROXY_REQUIRE },
	[14] = { SIP_H_CONTENT_LENGTH },
	[15] = { SIP_H_REMOTE_PARTY_ID },
	[16] = { SIP_H_CONTENT_ENCODING, SIP_H_WWW_AUTHENTICATE },
	[18] = { SIP_H_PROXY_AUTHENTICATE },
	[19] = { SIP_H_PROXY_AUTHORIZATION, SIP_H_P_ASSERTED_IDENTITY },
	[20] = { SIP_H_P_PREFERRED_IDENTITY },
};

/* Header id of a field name, long or compact form, any case; SIP_H_OTHER
 * for names the server does not know. Compact forms without an id here
 * (u Allow-Events, x Session-Expires, y Identity) are SIP_H_OTHER too. */
enum sip_hdr_id sip_hdr_lookup(struct slice name)
{
	if (name.len == 1) {
		switch (name.p[0] | 0x20) {
		case 'i': return SIP_H_CALL_ID;
		case 'm': return SIP_H_CONTACT;
		case 'e': return SIP_H_CONTENT_ENCODING;
		case 'l': return SIP_H_CONTENT_LENGTH;
		case 'c': return SIP_H_CONTENT_TYPE;
		case 'f': return SIP_H_FROM;
		case 's': return SIP_H_SUBJECT;
		case 'k': return SIP_H_SUPPORTED;
		case 't': return SIP_H_TO;
		case 'v': return SIP_H_VIA;
		case 'o': return SIP_H_EVENT;
		case 'r': return SIP_H_REFER_TO;
		case 'b': return SIP_H_REFERRED_BY;
		default: return SIP_H_OTHER;
		}
	}
	if (name.len == 0 || name.len >= ARRAY_SIZE(hdr_by_len))
		return SIP_H_OTHER;
	unsigned char c0 = (unsigned char)(name.p[0] | 0x20);
	for (size_t i = 0; i < 6 && hdr_by_len[name.len][i]; i++) {
		enum sip_hdr_id id = (enum sip_hdr_id)hdr_by_len[name.len][i];
		const char *n = hdr_names[id];
		if ((unsigned char)(n[0] | 0x20) == c0 && slice_caseeq_cstr(name, n))
			return id;
	}
	return SIP_H_OTHER;
}

/* Canonical long name of a header id; NULL for SIP_H_OTHER or out of range. */
const char *sip_hdr_name(enum sip_hdr_id id)
{
	if ((unsigned)id >= SIP_H__COUNT)
		return NULL;
	return hdr_names[id];
}
