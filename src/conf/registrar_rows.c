/*
 * conf/registrar_rows.c: the settings rows of [registrar]: expiry bounds,
 * binding limits and outbound flows (registrar/).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const struct conf_row conf_registrar_rows[] = {
	U32("registrar", "min_expires", min_expires, 1, 86400, "60", "seconds",
	    "Shortest registration accepted; shorter gets 423 Interval Too Brief with "
	    "Min-Expires."),
	U32("registrar", "max_expires", max_expires, 1, 604800, "3600", "seconds",
	    "Longest registration granted; longer requests are shortened to it."),
	U32("registrar", "default_expires", default_expires, 1, 604800, "3600", "seconds",
	    "Expiry of a binding whose REGISTER names none."),
	U32("registrar", "max_contacts", max_contacts, 1, 100, "10", "contacts",
	    "Most contacts bound to one address of record; more is refused (403)."),
	U32("registrar", "max_bindings", max_bindings, 1, 10000000, "200000", "bindings",
	    "Most bindings held in all, so registrations cannot exhaust memory; over it new "
	    "bindings get 503."),
	U32("registrar", "flow_grace", flow_grace, 0, 86400, "60", "seconds",
	    "How long a TCP or TLS binding outlives its connection (RFC 5626 flows): calls are "
	    "not forked to it meanwhile, and it is removed unless the phone connects and "
	    "registers again within this time. 0 removes it at the next second."),
	U32("registrar", "flow_timer", flow_timer, 0, 3600, "120", "seconds",
	    "Flow-Timer sent in the 200 to a REGISTER that asked for outbound (RFC 5626: "
	    "Supported: outbound and a reg-id): the phone sends a keep-alive (CRLF CRLF on TCP "
	    "and TLS, answered with CRLF) at least this often. Keep it below [tcp] idle_timeout. "
	    "0 sends none."),
};
const size_t conf_registrar_rows_n = ARRAY_SIZE(conf_registrar_rows);
