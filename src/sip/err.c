/*
 * sip/err.c: the table behind enum sip_err: a reason phrase for the
 * response, the status code that carries it and a stable key for counters.
 * One row per code, in enum order (checked by a static assertion). And
 * which of the refused messages get that answer (sip_refusal).
 */
#include "sip.h"

struct err_row {
	const char *name;
	const char *reason;
	uint16_t status;
};

static const struct err_row err_tab[] = {
	[SIP_E_NONE] = { "none", "OK", 200 },
	[SIP_E_MESSAGE_TOO_LARGE] = { "message_too_large", "Message Too Large", 513 },
	[SIP_E_TOO_MANY_HEADERS] = { "too_many_headers", "Too Many Header Fields", 400 },
	[SIP_E_HEADER_TOO_LONG] = { "header_too_long", "Header Field Too Long", 400 },
	[SIP_E_URI_TOO_LONG] = { "uri_too_long", "Request-URI Too Long", 414 },
	[SIP_E_BODY_TOO_LARGE] = { "body_too_large", "Request Entity Too Large", 413 },
	[SIP_E_INCOMPLETE] = { "incomplete", "Header Section Not Terminated", 400 },
	[SIP_E_CONTROL_CHAR] = { "control_char", "Control Character in Header Section", 400 },
	[SIP_E_BARE_LF] = { "bare_lf", "Line Not Ended by CRLF", 400 },
	[SIP_E_START_LINE] = { "start_line", "Malformed Start Line", 400 },
	[SIP_E_METHOD] = { "method", "Malformed Method", 400 },
	[SIP_E_VERSION] = { "version", "Version Not Supported", 505 },
	[SIP_E_STATUS_CODE] = { "status_code", "Malformed Status Code", 400 },
	[SIP_E_REQUEST_URI] = { "request_uri", "Malformed Request-URI", 400 },
	[SIP_E_URI_PASSWORD] = { "uri_password", "Password in URI refused", 400 },
	[SIP_E_HEADER_SYNTAX] = { "header_syntax", "Malformed Header Field", 400 },
	[SIP_E_VIA] = { "via", "Malformed Via", 400 },
	[SIP_E_VIA_MISSING] = { "via_missing", "Missing Via", 400 },
	[SIP_E_FROM] = { "from", "Malformed From", 400 },
	[SIP_E_FROM_MISSING] = { "from_missing", "Missing From", 400 },
	[SIP_E_TO] = { "to", "Malformed To", 400 },
	[SIP_E_TO_MISSING] = { "to_missing", "Missing To", 400 },
	[SIP_E_CALL_ID] = { "call_id", "Malformed Call-ID", 400 },
	[SIP_E_CALL_ID_MISSING] = { "call_id_missing", "Missing Call-ID", 400 },
	[SIP_E_CSEQ] = { "cseq", "Malformed CSeq", 400 },
	[SIP_E_CSEQ_MISSING] = { "cseq_missing", "Missing CSeq", 400 },
	[SIP_E_CSEQ_METHOD] = { "cseq_method", "CSeq Method Mismatch", 400 },
	[SIP_E_MAX_FORWARDS] = { "max_forwards", "Malformed Max-Forwards", 400 },
	[SIP_E_CONTENT_LENGTH] = { "content_length", "Negative or invalid Content-Length", 400 },
	[SIP_E_CONTENT_LENGTH_MISSING] = { "content_length_missing", "Missing Content-Length",
					   400 },
	[SIP_E_BODY_TRUNCATED] = { "body_truncated", "Body Shorter Than Content-Length", 400 },
	[SIP_E_DUPLICATE_HEADER] = { "duplicate_header", "Duplicate single-value header", 400 },
	[SIP_E_CONTACT] = { "contact", "Malformed Contact", 400 },
	[SIP_E_EXPIRES] = { "expires", "Malformed Expires", 400 },
};

_Static_assert(ARRAY_SIZE(err_tab) == SIP_E__COUNT, "err_tab out of step with enum sip_err");

static const struct err_row *err_row(enum sip_err e)
{
	if ((unsigned)e >= SIP_E__COUNT)
		return &err_tab[SIP_E_HEADER_SYNTAX];
	return &err_tab[e];
}

/* Reason phrase for a response refusing with e; never NULL. */
const char *sip_err_reason(enum sip_err e)
{
	return (unsigned)e >= SIP_E__COUNT ? "Bad Request" : err_row(e)->reason;
}

/* Status code of the response for e: 400 unless the code has its own. */
uint16_t sip_err_status(enum sip_err e)
{
	return (unsigned)e >= SIP_E__COUNT ? 400 : err_row(e)->status;
}

/* Short stable key for counters and logs; "unknown" out of range. */
const char *sip_err_name(enum sip_err e)
{
	return (unsigned)e >= SIP_E__COUNT ? "unknown" : err_row(e)->name;
}

bool sip_refusal(const struct sip_msg *m, enum sip_err err, uint16_t *status,
		 const char **reason)
{
	if (!m->request || (m->have & SIP_HAVE_REPLY) != SIP_HAVE_REPLY || m->mid == SIP_M_ACK)
		return false;
	if (m->method.len && m->err != SIP_E_METHOD && m->mid == SIP_M_OTHER) {
		*status = 501;
		*reason = "Not Implemented";
	} else {
		*status = sip_err_status(err);
		*reason = sip_err_reason(err);
	}
	return true;
}
