/*
 * conf/net_rows.c: the settings rows of [tcp]: connection caps and deadlines
 * of stream transports (net/).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const struct conf_row conf_tcp_rows[] = {
	U32("tcp", "max_connections", max_connections, 1, 1000000, "1024", "connections",
	    "Most TCP and TLS connections open at once, all sources together; a connection over "
	    "the cap is closed at once."),
	U32("tcp", "idle_timeout", idle_timeout, 1, 86400, "300", "seconds",
	    "A connection that sends nothing for this long is closed."),
	U32("tcp", "header_timeout", header_timeout, 1, 3600, "10", "seconds",
	    "Once the first byte of a message has arrived, the whole message must arrive "
	    "within this time, or the connection is closed (slow senders). A TLS handshake "
	    "must finish within it too. Every [tcp] setting applies to TLS connections too."),
	U32("tcp", "max_per_source", max_per_source, 1, 1000000, "32", "connections",
	    "Most TCP and TLS connections open at once from one IP address (an IPv6 address "
	    "counts alone); one over it is closed at once, so one host cannot take every slot."),
	U32("tcp", "min_rate", min_rate, 0, 1000000, "256", "bytes/s",
	    "A message being received must arrive at this average rate at least, measured "
	    "from its first byte once a second has passed; a slower sender is cut off before "
	    "header_timeout (slowloris). 0 leaves only header_timeout."),
};
const size_t conf_tcp_rows_n = ARRAY_SIZE(conf_tcp_rows);
