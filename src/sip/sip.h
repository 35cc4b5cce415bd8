/*
 * sip: the RFC 3261 message model, parser and serializer. Pure: no sockets,
 * no clocks, no globals, no allocation while parsing.
 *
 * Parsing borrows: every parsed field is a struct slice into the caller's
 * receive buffer, valid as long as that buffer is. The header array is also
 * the caller's (sized by the header-count limit), so a parse costs no malloc.
 *
 * The parser is strict where leniency has been a vulnerability (lengths,
 * numbers, duplicated single-value headers, control bytes, bare LF) and
 * tolerant where RFC 4475 says a robust element should be (LWS, folding,
 * compact forms, unknown headers and parameters, RFC 2543 branches).
 *
 * Every failure has its own enum sip_err code, with a reason phrase that a
 * 400 (or 413, 414, 505, 513) response can carry, so a peer learns which
 * part of its message was refused.
 *
 * The SDP bodies that SIP carries are parsed here too, under the same rules
 * (sdp.c), together with the pure SRTP policy check the proxy applies to
 * them.
 */
#ifndef BASTION_SIP_H
#define BASTION_SIP_H

#include "../base/base.h"

/* ---- limits ----------------------------------------------------------- */

/* Size limits applied by the parser and the stream framer. Defaults are in
 * SIP_LIMITS_DEFAULT; the configuration layer sets them from [limits]. */
struct sip_limits {
	uint32_t max_message;     /* whole message, header section plus body */
	uint32_t max_headers;     /* header fields in one message */
	uint32_t max_header_line; /* one header field, folded lines included */
	uint32_t max_uri;         /* Request-URI and any URI inside a header */
	uint32_t max_body;        /* message body (Content-Length) */
};

#define SIP_LIMITS_DEFAULT \
	((struct sip_limits){ .max_message = 16384, .max_headers = 100, \
			      .max_header_line = 4096, .max_uri = 1024, \
			      .max_body = 8192 })

/* ---- errors ----------------------------------------------------------- */

/* One code per kind of refusal. sip_err_reason() gives the reason phrase,
 * sip_err_status() the response status, sip_err_name() a short stable key
 * for counters and logs. Keep the table in err.c in the same order. */
enum sip_err {
	SIP_E_NONE = 0,
	/* limits (EOVERFLOW) */
	SIP_E_MESSAGE_TOO_LARGE, /* 513 Message Too Large */
	SIP_E_TOO_MANY_HEADERS,  /* 400 Too Many Header Fields */
	SIP_E_HEADER_TOO_LONG,   /* 400 Header Field Too Long */
	SIP_E_URI_TOO_LONG,      /* 414 Request-URI Too Long (also URIs in headers: 400) */
	SIP_E_BODY_TOO_LARGE,    /* 413 Request Entity Too Large */
	/* framing and lexical (EBADMSG) */
	SIP_E_INCOMPLETE,        /* header section not terminated by an empty line */
	SIP_E_CONTROL_CHAR,      /* NUL or another control byte in the header section */
	SIP_E_BARE_LF,           /* line ended by LF without CR */
	SIP_E_START_LINE,        /* request or status line does not parse */
	SIP_E_METHOD,            /* method is not a token */
	SIP_E_VERSION,           /* SIP version other than SIP/2.0: 505 */
	SIP_E_STATUS_CODE,       /* status code not 100..699 */
	SIP_E_REQUEST_URI,       /* Request-URI does not parse */
	SIP_E_URI_PASSWORD,      /* a password in a URI's userinfo is refused */
	SIP_E_HEADER_SYNTAX,     /* header line without colon, or bad field name */
	/* routing headers (EBADMSG) */
	SIP_E_VIA,
	SIP_E_VIA_MISSING,
	SIP_E_FROM,
	SIP_E_FROM_MISSING,
	SIP_E_TO,
	SIP_E_TO_MISSING,
	SIP_E_CALL_ID,
	SIP_E_CALL_ID_MISSING,
	SIP_E_CSEQ,
	SIP_E_CSEQ_MISSING,
	SIP_E_CSEQ_METHOD,       /* CSeq method differs from the request method */
	SIP_E_MAX_FORWARDS,
	SIP_E_CONTENT_LENGTH,    /* not a number, negative, overflowing, or duplicated */
	SIP_E_CONTENT_LENGTH_MISSING, /* required on a stream */
	SIP_E_BODY_TRUNCATED,    /* fewer body bytes than Content-Length */
	SIP_E_DUPLICATE_HEADER,  /* a single-value header given twice */
	SIP_E_CONTACT,
	SIP_E_EXPIRES,
	SIP_E__COUNT
};

const char *sip_err_reason(enum sip_err e);
uint16_t sip_err_status(enum sip_err e);
const char *sip_err_name(enum sip_err e);

/* ---- methods, header names -------------------------------------------- */

enum sip_method {
	SIP_M_OTHER = 0,
	SIP_M_INVITE,
	SIP_M_ACK,
	SIP_M_BYE,
	SIP_M_CANCEL,
	SIP_M_OPTIONS,
	SIP_M_REGISTER,
	SIP_M_PRACK,
	SIP_M_SUBSCRIBE,
	SIP_M_NOTIFY,
	SIP_M_PUBLISH,
	SIP_M_INFO,
	SIP_M_REFER,
	SIP_M_MESSAGE,
	SIP_M_UPDATE,
};

/* Case-sensitive, as RFC 3261 7.1 says methods are. */
enum sip_method sip_method_from(struct slice s);
const char *sip_method_name(enum sip_method m); /* NULL for SIP_M_OTHER */

/* Header fields the server knows by name. Compact forms (RFC 3261 7.3.3 and
 * the IANA registry: i m e l c f s k t v o u r b x y) map onto the same ids.
 * Everything else is SIP_H_OTHER and stays a raw name/value pair. */
enum sip_hdr_id {
	SIP_H_OTHER = 0,
	SIP_H_VIA,
	SIP_H_FROM,
	SIP_H_TO,
	SIP_H_CALL_ID,
	SIP_H_CSEQ,
	SIP_H_MAX_FORWARDS,
	SIP_H_CONTACT,
	SIP_H_EXPIRES,
	SIP_H_MIN_EXPIRES,
	SIP_H_CONTENT_LENGTH,
	SIP_H_CONTENT_TYPE,
	SIP_H_CONTENT_ENCODING,
	SIP_H_ROUTE,
	SIP_H_RECORD_ROUTE,
	SIP_H_AUTHORIZATION,
	SIP_H_PROXY_AUTHORIZATION,
	SIP_H_WWW_AUTHENTICATE,
	SIP_H_PROXY_AUTHENTICATE,
	SIP_H_ALLOW,
	SIP_H_SUPPORTED,
	SIP_H_REQUIRE,
	SIP_H_PROXY_REQUIRE,
	SIP_H_UNSUPPORTED,
	SIP_H_USER_AGENT,
	SIP_H_SERVER,
	SIP_H_ACCEPT,
	SIP_H_EVENT,
	SIP_H_SUBJECT,
	SIP_H_REFER_TO,
	SIP_H_REFERRED_BY,
	SIP_H_P_ASSERTED_IDENTITY,
	SIP_H_P_PREFERRED_IDENTITY,
	SIP_H_REMOTE_PARTY_ID,
	SIP_H_PRIVACY,
	SIP_H_RETRY_AFTER,
	SIP_H__COUNT
};

/* Map a header field name (long or compact, any case) to its id. */
enum sip_hdr_id sip_hdr_lookup(struct slice name);
/* The canonical long name, e.g. "Call-ID"; NULL for SIP_H_OTHER. */
const char *sip_hdr_name(enum sip_hdr_id id);

/* ---- URIs ------------------------------------------------------------- */

enum sip_scheme { SIP_SCHEME_OTHER = 0, SIP_SCHEME_SIP, SIP_SCHEME_SIPS, SIP_SCHEME_TEL };
enum sip_host_type { SIP_HOST_NONE = 0, SIP_HOST_NAME, SIP_HOST_IPV4, SIP_HOST_IPV6 };

struct sip_uri {
	struct slice raw;       /* the whole URI as received */
	enum sip_scheme scheme;
	struct slice scheme_s;  /* as written, without ':' */
	struct slice user;      /* sip/sips user part (escaped as received); tel: the number */
	struct slice host;      /* IPv6 without the brackets */
	enum sip_host_type host_type;
	uint16_t port;          /* 0 when has_port is false */
	bool has_port;
	struct slice params;    /* ";a=b;lr" including the first ';', or empty */
	struct slice headers;   /* "a=b&c=d" without the '?', or empty */
};

/*
 * Parse a sip:, sips: or tel: URI occupying all of `in` (no surrounding LWS).
 * Any other scheme that is syntactically an absoluteURI parses with scheme
 * SIP_SCHEME_OTHER and only raw/scheme_s set, so the caller can answer 416.
 * Returns 0, EBADMSG (*err = SIP_E_REQUEST_URI or SIP_E_URI_PASSWORD), or
 * EOVERFLOW (*err = SIP_E_URI_TOO_LONG) when in.len > lim->max_uri.
 */
int sip_uri_parse(struct sip_uri *uri, struct slice in, const struct sip_limits *lim,
		  enum sip_err *err);

/*
 * Find parameter `name` (case-insensitive) in a ";a=b;c" parameter string as
 * kept in sip_uri.params, sip_via.params or sip_nameaddr.params. Returns true
 * and sets *value (empty for a parameter without '=') when present. A quoted
 * value is returned without its quotes.
 */
bool sip_param_get(struct slice params, const char *name, struct slice *value);

/* ---- typed header values ------------------------------------------------ */

struct sip_via {
	struct slice raw;       /* this via-parm, trimmed */
	struct slice transport; /* "UDP", "TCP", "TLS", "SCTP", ... */
	struct slice host;      /* sent-by host, IPv6 without brackets */
	enum sip_host_type host_type;
	uint16_t port;
	bool has_port;
	struct slice params;    /* ";branch=...;rport" raw, including the first ';' */
	struct slice branch, received, maddr, ttl, rport; /* values, or empty */
	bool has_branch, has_received, has_maddr, has_ttl, has_rport;
};

/*
 * Parse the first via-parm of the comma-separated list in *rest and advance
 * *rest past it and its comma. Returns 0, ENODATA when *rest holds nothing
 * more but LWS, or EBADMSG.
 */
int sip_via_next(struct sip_via *via, struct slice *rest, const struct sip_limits *lim);

/* name-addr or addr-spec with header parameters: From, To, Contact, Route,
 * Record-Route, Refer-To, P-Asserted-Identity ... */
struct sip_nameaddr {
	struct slice raw;
	struct slice display;   /* without quotes; escapes left as received */
	struct sip_uri uri;
	struct slice params;    /* header params after the URI, including the first ';' */
	struct slice tag;       /* value of ;tag=, or empty */
	bool has_tag;
};

/* Parse one name-addr / addr-spec occupying all of `in`. Returns 0 or
 * EBADMSG/EOVERFLOW with *err set to the URI error. */
int sip_nameaddr_parse(struct sip_nameaddr *na, struct slice in, const struct sip_limits *lim,
		       enum sip_err *err);

struct sip_contact {
	bool star;              /* "Contact: *" */
	struct sip_nameaddr na; /* unset when star */
	struct slice q, expires;
	bool has_q, has_expires;
	uint32_t expires_val;   /* valid when has_expires; refuses overflow */
};

/* Parse the next contact of the comma-separated list in *rest (as
 * sip_via_next). Returns 0, ENODATA at the end, EBADMSG or EOVERFLOW. */
int sip_contact_next(struct sip_contact *c, struct slice *rest, const struct sip_limits *lim);

struct sip_cseq {
	uint32_t num;           /* RFC 3261 8.1.1.5: less than 2**31 */
	struct slice method;
	enum sip_method mid;
};

int sip_cseq_parse(struct sip_cseq *cs, struct slice in);

/* Credentials or challenge: Authorization, Proxy-Authorization,
 * WWW-Authenticate, Proxy-Authenticate. */
struct sip_auth {
	struct slice scheme;    /* "Digest" */
	struct slice params;    /* the auth-param list after the scheme */
};

int sip_auth_parse(struct sip_auth *a, struct slice in);
/* Look up one auth-param by name (case-insensitive). A quoted value is
 * returned without its quotes but with escapes as received. */
bool sip_auth_param(const struct sip_auth *a, const char *name, struct slice *value);

/* Iterate the auth-params of a parsed credential or challenge: start with
 * *rest = a->params; each call gives the next name and value (as
 * sip_auth_param) and returns true, false at the end. One pass over the
 * header, for callers that want several parameters. */
bool sip_auth_param_next(struct slice *rest, struct slice *name, struct slice *value);

/*
 * Split a comma-separated header value: the next element of *rest (trimmed,
 * commas inside quotes or <> respected) into *item, advancing *rest.
 * Returns 0, ENODATA at the end, EBADMSG on an unterminated quote or bracket.
 */
int sip_list_next(struct slice *item, struct slice *rest);

/* ---- the message --------------------------------------------------------- */

struct sip_hdr {
	enum sip_hdr_id id;
	struct slice name;  /* as received */
	struct slice value; /* trimmed; folded lines stay inside (CRLF + WSP is LWS) */
};

/* Bits of sip_msg.have: the eagerly parsed fields that are valid. On a parse
 * failure the parser still fills what it could, so that a 400 can be routed
 * back: a response needs a readable top Via (where to send it), Call-ID and
 * CSeq (how the client matches it); From and To are echoed as received. */
enum {
	SIP_HAVE_VIA = 1u << 0,
	SIP_HAVE_FROM = 1u << 1,
	SIP_HAVE_TO = 1u << 2,
	SIP_HAVE_CALL_ID = 1u << 3,
	SIP_HAVE_CSEQ = 1u << 4,
	SIP_HAVE_MAX_FORWARDS = 1u << 5,
	SIP_HAVE_CONTENT_LENGTH = 1u << 6,
	SIP_HAVE_EXPIRES = 1u << 7,
	SIP_HAVE_START = 1u << 8, /* start line parsed (method or status valid) */
};

#define SIP_HAVE_REPLY (SIP_HAVE_VIA | SIP_HAVE_CALL_ID | SIP_HAVE_CSEQ)

struct sip_msg {
	struct slice raw;          /* exactly the bytes of this message */
	bool request;

	struct slice method;       /* requests */
	enum sip_method mid;
	struct slice ruri_raw;
	struct sip_uri ruri;

	uint16_t status;           /* responses */
	struct slice reason;

	struct sip_hdr *hdrs;      /* caller's array, in order of arrival */
	uint32_t nhdrs;
	int32_t first[SIP_H__COUNT]; /* index of the first header of each id, or -1 */
	uint16_t count[SIP_H__COUNT];

	unsigned have;             /* SIP_HAVE_* */
	struct sip_via via;        /* top Via value */
	struct sip_nameaddr from, to;
	struct slice call_id;
	struct sip_cseq cseq;
	uint32_t max_forwards;
	uint32_t content_length;
	uint32_t expires;

	struct slice body;

	enum sip_err err;          /* first error, SIP_E_NONE on success */
	size_t err_offset;         /* byte offset into raw where it was found */
};

/*
 * Parse one message from buf[0..len). `stream` is true for TCP/TLS, where
 * the framer (sip_frame) has cut exactly one message and Content-Length is
 * mandatory; on a datagram a missing Content-Length means "the rest is the
 * body", and octets beyond Content-Length are ignored (RFC 4475 3.1.1.8).
 * Leading CRLFs (keep-alives) are skipped.
 *
 * Up to `cap` header fields are stored in hdrs[]; more is SIP_E_TOO_MANY_HEADERS
 * (cap should be lim->max_headers). The eager part checks the start line and
 * parses top Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length and
 * Expires; single-value headers among them given twice are refused. Requests
 * must carry Via, From, To, Call-ID and CSeq (Max-Forwards is optional for
 * RFC 2543 peers); responses Via, From, To, Call-ID and CSeq.
 *
 * Returns 0, or EBADMSG / EOVERFLOW with m->err and m->err_offset set and
 * m->have telling which fields are still usable.
 */
int sip_msg_parse(struct sip_msg *m, struct sip_hdr *hdrs, uint32_t cap, const char *buf,
		  size_t len, bool stream, const struct sip_limits *lim);

/*
 * What a message m that failed with err (sip_msg_parse's m->err, or a limit
 * hit before parsing) gets: false when it cannot be answered (a response,
 * an ACK, or a request whose Via, Call-ID or CSeq did not parse): drop it.
 * Else true with the status and reason to answer: 501 when the method is
 * one we do not know however the rest is written (RFC 3261 8.2.1 inspects
 * the method first; RFC 4475 3.1.1.2, 3.1.2.18), else sip_err_status(err).
 * Pure.
 */
bool sip_refusal(const struct sip_msg *m, enum sip_err err, uint16_t *status,
		 const char **reason);

/* Header access. sip_msg_hdr returns the first field with id, or NULL;
 * sip_msg_hdr_next the next one after `prev` with the same id (for
 * SIP_H_OTHER, compare names yourself or use sip_msg_hdr_named). */
const struct sip_hdr *sip_msg_hdr(const struct sip_msg *m, enum sip_hdr_id id);
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *prev);
const struct sip_hdr *sip_msg_hdr_named(const struct sip_msg *m, struct slice name);

/*
 * Stream framing (TCP, TLS): given the bytes received so far on a connection,
 * decide whether buf holds a complete message. Leading CRLFs are skipped and
 * reported in *skip (RFC 5626 keep-alives). Returns 0 with *msg_len set to the
 * length of the message starting at buf + *skip; ENODATA when more bytes are
 * needed; EBADMSG (*err: SIP_E_CONTENT_LENGTH_MISSING, SIP_E_CONTENT_LENGTH,
 * SIP_E_CONTROL_CHAR ...) or EOVERFLOW (*err: SIP_E_MESSAGE_TOO_LARGE,
 * SIP_E_BODY_TOO_LARGE, SIP_E_HEADER_TOO_LONG) when the stream cannot go on.
 * Cost is linear in len; callers may call again as bytes arrive.
 */
int sip_frame(const char *buf, size_t len, const struct sip_limits *lim, size_t *skip,
	      size_t *msg_len, enum sip_err *err);

/* ---- serializing ---------------------------------------------------------- */

/* A bounded output buffer. Appends past cap set `overflow` and write nothing
 * more; check it once at the end. */
struct sip_buf {
	char *p;
	size_t len, cap;
	bool overflow;
};

void sip_buf_init(struct sip_buf *b, char *mem, size_t cap);
void sip_buf_put(struct sip_buf *b, const void *p, size_t n);
void sip_buf_slice(struct sip_buf *b, struct slice s);
/* s's bytes up to its NUL; NULL appends nothing. Inline, so that the length
 * of a string literal (most calls: the fixed parts of a message we build) is
 * known when compiling. */
static inline void sip_buf_str(struct sip_buf *b, const char *s)
{
	if (s)
		sip_buf_put(b, s, strlen(s));
}
void sip_buf_u32(struct sip_buf *b, uint32_t v);

/* Write m back out: start line, every header in order as "Name: value",
 * blank line, body; Content-Length rewritten to the real body length.
 * Returns 0 or EOVERFLOW. */
int sip_msg_print(struct sip_buf *b, const struct sip_msg *m);

/* What a response needs besides the request (RFC 3261 8.2.6). */
struct sip_reply_opts {
	struct slice to_tag;     /* added to To when the request's To has no tag */
	const char *src_ip;      /* packet source, for received= (RFC 3261 18.2.1) */
	uint16_t src_port;       /* for rport= when the request asked (RFC 3581) */
	const char *server;      /* Server header value, or NULL for none */
	struct slice extra;      /* extra header lines, each ending in CRLF */
	struct slice body;       /* body; Content-Type must be in extra */
};

/*
 * Build a response to request `req` into b: status line, every Via of the
 * request in order (the top one with received= and, if it carried rport,
 * rport=), From and To as received when present (to_tag added to a To that
 * parsed and has no tag), Call-ID, CSeq, the extra lines,
 * Server, Content-Length, body. `req` must have SIP_HAVE_REPLY. Returns 0 or
 * EOVERFLOW.
 */
int sip_reply_build(struct sip_buf *b, const struct sip_msg *req, uint16_t status,
		    const char *reason, const struct sip_reply_opts *opts);

/* ---- SDP (RFC 8866) ------------------------------------------------------- */

/* Size limits of one session description. Defaults in SDP_LIMITS_DEFAULT.
 * max_media is capped at SDP_MAX_MEDIA, the size of struct sdp's array. */
struct sdp_limits {
	uint32_t max_lines; /* lines in the whole description, v= included */
	uint32_t max_media; /* m= lines */
	uint32_t max_attrs; /* a= lines at session level, and in each media section */
};

#define SDP_MAX_MEDIA 32

#define SDP_LIMITS_DEFAULT \
	((struct sdp_limits){ .max_lines = 256, .max_media = 16, .max_attrs = 64 })

/* One media description: the m= line and what its attributes say about keys. */
struct sdp_media {
	struct slice line;      /* the m= value, e.g. "audio 49170 RTP/SAVP 0 8" */
	struct slice media;     /* "audio", "video", "application", ... */
	struct slice port;      /* as written, "49170" or "49170/2" */
	struct slice proto;     /* "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", ... */
	struct slice fmts;      /* the format list, e.g. "0 8 101" */
	uint16_t port_num;
	bool port_zero;         /* port 0: a rejected or disabled stream */
	bool has_crypto;        /* a well-formed a=crypto in this section (RFC 4568) */
	bool has_fingerprint;   /* a well-formed a=fingerprint here or at session
				   level (RFC 8122 5) */
};

struct sdp {
	struct sdp_media media[SDP_MAX_MEDIA];
	size_t nmedia;
	bool session_fingerprint; /* a=fingerprint before the first m= */
};

/*
 * Parse the session description in buf[0..len) (a message body) into *out.
 * Pure: no allocation, every slice points into buf, no byte past len is read
 * and no NUL terminator is needed. lim NULL means SDP_LIMITS_DEFAULT.
 *
 * Lines end in CRLF or a bare LF (RFC 8866 5 asks parsers to accept both);
 * the last line may lack its line end, and empty lines are tolerated only at
 * the very end. Each line must be "<letter>=<value>" with a letter RFC 8866
 * defines; v=0 comes first; o= and s= appear once and t= at least once
 * before the first m=; letters that belong to the session section (o s u e p
 * t r z) are refused inside a media section. Values are checked only where
 * the server uses them: m= fully (media, port[/n], proto, at least one fmt,
 * single spaces), a= names as tokens, and the shape of a=crypto and
 * a=fingerprint values (a malformed one is not an error, it just does not
 * count as keys). A NUL or a CR not followed by LF anywhere is malformed.
 *
 * Returns 0; EBADMSG when malformed; EOVERFLOW when a limit is hit (too many
 * lines, m= lines, or a= lines in one section); EINVAL when out is NULL or
 * buf is NULL with len > 0. On EBADMSG and EOVERFLOW *err_off (when err_off
 * is not NULL) is the offset in buf of the offending line or byte. *out is
 * zeroed first and only meaningful after 0.
 */
int sdp_parse(struct sdp *out, const char *buf, size_t len, const struct sdp_limits *lim,
	      size_t *err_off);

/* Outcome of the SRTP policy check, worst first found. */
enum sdp_srtp {
	SDP_SRTP_OK = 0,
	SDP_SRTP_NONE,    /* an active RTP stream is plain RTP (RTP/AVP, RTP/AVPF, ...) */
	SDP_SRTP_NO_KEYS, /* RTP/SAVP(F) without a=crypto, or a DTLS-SRTP proto
			     without a=fingerprint */
};

/*
 * The SRTP-only policy on a parsed description. Pure. Every m= line with a
 * non-zero port whose proto names RTP must be protected: RTP/SAVP or
 * RTP/SAVPF with a=crypto in its own section (SDES, RFC 4568: a session-level
 * a=crypto does not count), or UDP/TLS/RTP/SAVP(F) or TCP/DTLS/RTP/SAVP(F)
 * (RFC 5764, RFC 7850) with a=fingerprint at media or session level. Protos
 * are compared case-insensitively, and any proto containing "RTP" that is not
 * one of these counts as plain RTP, so a lax endpoint's reading cannot turn a
 * refused stream into an accepted one. Port-0 streams are ignored. Streams
 * whose proto does not contain "RTP" (UDP/BFCP, TCP/MSRP, udptl for T.38,
 * UDP/DTLS/SCTP) are not RTP media and are outside this check: a policy on
 * them is a separate decision. A description without m= lines passes.
 *
 * Returns the outcome for the first offending stream in m= order, and sets
 * *bad_media (when not NULL) to that stream's m= value, or to an empty slice
 * on SDP_SRTP_OK. The slice points into the parsed buffer: escape it
 * (slice_repr) before logging.
 */
enum sdp_srtp sdp_srtp_check(const struct sdp *s, struct slice *bad_media);

/* A short human reason for each outcome, usable as the reason phrase of a
 * 488 and in a log event. Never NULL. */
const char *sdp_srtp_reason(enum sdp_srtp r);

#endif
