/*
 * conf/emerg_rows.c: the settings rows of [emergency]: emergency numbers and
 * the bounds that keep them reachable (emerg/, struct emerg_conf).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const struct conf_row conf_emergency_rows[] = {
	STR("emergency", "numbers", emerg.numbers_text, CONF_STR, "911, 112, 933",
	    "Comma-separated emergency numbers (digits, at most 8 numbers of 7 digits). Each is "
	    "recognised in every form the dial plan reads (with the outside-line prefix, as + "
	    "country code and number, tel:, %-escaped) and routed by [emergency_routes] "
	    "(docs/emergency.md). 933 is the US test number."),
	{ "emergency", "allow_unauthenticated", CONF_ENUM,
	  offsetof(struct conf, emerg.allow_unauthenticated), 0, 0, 0, conf_yes_no, "no", NULL,
	  "`yes`: a device that does not authenticate may still call an emergency number (its "
	  "source address picks the location; no callback number but the location's ELIN). "
	  "`no`: emergency calls need a user's digest like any other call; `bastion audit` "
	  "reports the choice.", NOPROF },
	{ "emergency", "geolocation_routing", CONF_ENUM,
	  offsetof(struct conf, emerg.geolocation_routing), 0, 0, 0, conf_yes_no, "yes", NULL,
	  "The Geolocation-Routing header of the emergency INVITE (RFC 6442): `yes` lets the "
	  "peers route on the location sent.", NOPROF },
	U32("emergency", "reserved_slots", emerg.reserved_slots, 0, 1000, "2", "calls",
	    "Call slots of each peer on an emergency route that ordinary calls may not take: such a "
	    "peer takes at most max_calls_out minus this many ordinary calls; emergency calls "
	    "ignore the cap."),
	U32("emergency", "max_calls", emerg.max_calls, 1, 10000, "10", "calls",
	    "Emergency calls in progress at once, server-wide; one more gets 503 Emergency Capacity "
	    "Reached and event emergency.refused. Bounds what a flood of emergency calls from "
	    "authenticated accounts can hold (each account: one at a time)."),
	U32("emergency", "rate", emerg.rate, 0, 1000, "10", "INVITE/s",
	    "Emergency INVITEs per second, server-wide (burst twice that), admitted past the "
	    "guard's per-source budgets and bans. Beyond it they go through the budgets like any "
	    "request. 0: no bypass."),
	U32("emergency", "reserved_transactions", emerg.reserved_transactions, 0, 100000, "64",
	    "transactions",
	    "Transactions beyond [proxy] max_transactions that only emergency calls may open, so "
	    "a full table never refuses one. Needs a restart."),
	U32("emergency", "reserved_dialogs", emerg.reserved_dialogs, 0, 100000, "10", "dialogs",
	    "Dialogs beyond [proxy] max_dialogs that only emergency calls may use, so an emergency "
	    "call answered while the dialog table is full of ordinary calls is still tracked (its "
	    "BYE routed, its record written). The default covers [emergency] max_calls' default."),
	STR("emergency", "notify", emerg.notify_text, CONF_STR, "",
	    "Comma-separated local users told of each emergency call by a SIP MESSAGE (RFC 3428) "
	    "to their registered phones, e.g. the front desk and security (at most 8)."),
};
const size_t conf_emergency_rows_n = ARRAY_SIZE(conf_emergency_rows);
