/*
 * conf/trunk_rows.c: the settings rows of [network], [trunks] and [fraud]:
 * the phone networks, the peers' secrets and the toll-fraud limits (trunk/,
 * struct trunk_fraud_conf). Peers and the dial plan ([peer NAME], [routes]
 * ...) are read by trunk_conf_set, not by rows.
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const struct conf_row conf_network_rows[] = {
	{ "network", "phones", CONF_CIDRS, offsetof(struct conf, phones), 1024, 0, 0, NULL, "",
	  NULL,
	  "Comma-separated addresses and prefixes of the phone networks. `bastion firewall` "
	  "lets them reach the SIP and TLS ports and stops them from reaching any peer "
	  "(gateway, trunk) directly (docs/trunks.md). Empty: no phone network rules.", NOPROF },
};
const size_t conf_network_rows_n = ARRAY_SIZE(conf_network_rows);

const struct conf_row conf_trunks_rows[] = {
	STR("trunks", "secrets", trunk_secrets, CONF_STR, "peers.secret",
	    "The file (relative to the state directory) with the digest credentials of "
	    "peers that challenge us: a `[NAME]` section per peer with `username`, "
	    "`password` and optionally `realm` (answer only that realm's challenges). It "
	    "must be a regular file that only its owner may read (0600), or it is refused; "
	    "a missing file means no credentials. Read again within a second of a change. "
	    "Never shown by `bastion peer show`, never logged (docs/trunks.md)."),
};
const size_t conf_trunks_rows_n = ARRAY_SIZE(conf_trunks_rows);

const struct conf_row conf_fraud_rows[] = {
	U32("fraud", "calls_per_hour", fraud.user.calls_per_hour, 0, 1000000, "60", "calls",
	    "Outside calls (through a peer) one user may place in any hour; beyond, new ones get "
	    "403 Outside Call Limit Reached and event fraud.limit. Counted in 5-minute slots. "
	    "0: no limit. A peer has its own `calls_per_hour` (docs/trunks.md)."),
	U32("fraud", "minutes_per_day", fraud.user.minutes_per_day, 0, 1000000, "480", "minutes",
	    "Minutes of connected outside calls to domestic classes (local, toll-free, national, "
	    "mobile) one user may make in any 24 hours; beyond, new domestic calls get 403 and "
	    "fraud.limit. A call counts when it ends; hourly slots. 0: no limit."),
	U32("fraud", "international_minutes_per_day", fraud.user.intl_minutes_per_day, 0, 1000000,
	    "60", "minutes",
	    "The same for international and premium numbers, counted on their own: a user "
	    "over this budget may still call national numbers. 0: no limit."),
	U32("fraud", "alert_window", fraud.alert_window, 60, 86400, "600", "seconds",
	    "The window the burst alert looks at (in six slices)."),
	U32("fraud", "alert_short_calls", fraud.alert_short_calls, 0, 200, "10", "calls",
	    "International (or premium) calls of one user shorter than `short_call` (unanswered "
	    "ones too) within `alert_window` that raise event fraud.alert. 0: off."),
	U32("fraud", "short_call", fraud.short_call, 1, 3600, "10", "seconds",
	    "A call connected for less than this is short (alert_short_calls)."),
	U32("fraud", "alert_destinations", fraud.alert_destinations, 0, 200, "20", "numbers",
	    "Different outside numbers one user calls within `alert_window` that raise event "
	    "fraud.alert (counted in a fixed-size map, where two numbers may share a bit: "
	    "the count may fall short by one or two, within a few percent near 200). 0: off."),
	{ "fraud", "suspend", CONF_ENUM, offsetof(struct conf, fraud.suspend), 0, 0, 0, conf_yes_no,
	  "no", NULL,
	  "`yes`: a fraud.alert also puts the user's outside calling on hold, stored with the "
	  "user (it survives restarts and holds on every node) until an administrator runs "
	  "`bastion fraud clear NAME`; held calls get 403 Outside Calling Suspended and "
	  "fraud.limit. Calls to local users go on.", NOPROF },
};
const size_t conf_fraud_rows_n = ARRAY_SIZE(conf_fraud_rows);
