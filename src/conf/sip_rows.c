/*
 * conf/sip_rows.c: the settings rows of [limits]: the message parser's limits
 * (sip/, struct sip_limits).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const struct conf_row conf_limits_rows[] = {
	U32("limits", "max_message", lim.max_message, 1024, 65535, "16384", "bytes",
	    "Largest message accepted, header section plus body. A UDP datagram over it is "
	    "answered 513 when it can be, a stream over it is closed."),
	U32("limits", "max_headers", lim.max_headers, 8, 1000, "100", "fields",
	    "Most header fields in one message; more gets 400 Too Many Header Fields."),
	U32("limits", "max_header_line", lim.max_header_line, 128, 65535, "4096", "bytes",
	    "Longest header field, folded continuation lines included; longer gets 400."),
	U32("limits", "max_uri", lim.max_uri, 64, 8192, "1024", "bytes",
	    "Longest URI (Request-URI: 414; in a header: 400)."),
	U32("limits", "max_body", lim.max_body, 0, 65535, "8192", "bytes",
	    "Largest message body (Content-Length); larger gets 413."),
};
const size_t conf_limits_rows_n = ARRAY_SIZE(conf_limits_rows);
