/*
 * conf/proxy_rows.c: the settings rows of [proxy]: transaction and dialog
 * bounds and timer C (txn/, proxy/).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const struct conf_row conf_proxy_rows[] = {
	U32("proxy", "max_transactions", max_transactions, 16, 4000000, "65536", "transactions",
	    "Most SIP transactions (server and client together) in progress at once; a new "
	    "request beyond it gets 503 with Retry-After, statelessly."),
	U32("proxy", "max_dialogs", max_dialogs, 1, 4000000, "100000", "dialogs",
	    "Most confirmed calls tracked at once (in-dialog requests are checked against "
	    "them); a call answered beyond it is not tracked, so its in-dialog requests get 481."),
	U32("proxy", "invite_timeout", invite_timeout, 1, 3600, "180", "seconds",
	    "Timer C (RFC 3261 16.6): an INVITE with no final response this long after it was "
	    "forwarded is cancelled toward the callee and answered 408 Request Timeout, so a "
	    "phone that rings forever cannot hold a call (and its state) open."),
};
const size_t conf_proxy_rows_n = ARRAY_SIZE(conf_proxy_rows);
