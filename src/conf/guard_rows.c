/*
 * conf/guard_rows.c: the settings rows of [guard]: admission before parsing:
 * budgets, bans, brute-force counts, scanners (guard/; conf_guard() hands
 * them over).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const struct conf_row conf_guard_rows[] = {
	U32("guard", "sources", guard_sources, 1, 16777216, "65536", "sources",
	    "Source addresses tracked for rates and bans (104 bytes each, allocated at start); "
	    "when full the least recently seen unbanned source is forgotten."),
	U32("guard", "users", guard_users, 1, 1048576, "4096", "users",
	    "User names tracked for brute-force counting and locks (136 bytes each)."),
	U32("guard", "ipv6_prefix", guard_v6_prefix, 1, 128, "64", "bits",
	    "IPv6 sources are grouped by this prefix: one /64 is one source, so an attacker "
	    "cannot escape a ban by changing the address inside its own network."),
	U32("guard", "rate", rate, 0, 10000, "20", "requests/s",
	    "Requests per second one source may send, all methods (burst twice that). A "
	    "message that turns out to belong to an authenticated call (a response to it, an "
	    "ACK or in-dialog request of its dialog) and an authenticated request give their "
	    "tokens back, so this budget binds unauthenticated traffic. 0: unlimited."),
	U32("guard", "invite_rate", invite_rate, 0, 10000, "5", "requests/s",
	    "INVITEs per second one source may send before authentication credits."),
	U32("guard", "register_rate", register_rate, 0, 10000, "10", "requests/s",
	    "REGISTERs per second one source may send before authentication credits."),
	U32("guard", "auth_credit", auth_credit, 0, 100, "3", "requests",
	    "Tokens a successful digest authentication gives back to its source: a challenge "
	    "and its authenticated retry cost 2, so authenticated work gains a token each "
	    "time, which absorbs retransmissions; hundreds of phones behind one NAT address "
	    "can register at once."),
	U32("guard", "auth_ceiling", auth_ceiling, 2, 100, "20", "x rate",
	    "Credited tokens accumulate up to this multiple of each rate."),
	U32("guard", "trust_window", trust_window, 0, 86400, "300", "seconds",
	    "A source where some user authenticated this recently is never banned for its "
	    "rate (its excess is still dropped): a NAT address of working phones is not cut "
	    "off because one device misbehaves."),
	U32("guard", "ban_drops", ban_drops, 1, 65535, "50", "requests",
	    "Requests dropped over budget (in a streak) that ban their source..."),
	U32("guard", "ban_grace", ban_grace, 0, 3600, "2", "seconds",
	    "...once the streak has lasted this long."),
	U32("guard", "ban_time", ban_time, 1, 31536000, "60", "seconds",
	    "First ban of a source; it doubles with every further ban of that source, up to "
	    "ban_max. A banned source is dropped silently; one guard.ban event per ban."),
	U32("guard", "ban_max", ban_max, 1, 31536000, "86400", "seconds",
	    "Longest ban; at least ban_time."),
	U32("guard", "fail_window", fail_window, 1, 86400, "300", "seconds",
	    "Window in which wrong digest responses are counted, per source and per user."),
	U32("guard", "source_fail_limit", source_fail_limit, 1, 65534, "10", "failures",
	    "Wrong digest responses from one source tolerated in a window; one more bans "
	    "the source (guard.ban). A challenge, a stale nonce or a request without "
	    "credentials is never a failure."),
	U32("guard", "user_fail_limit", user_fail_limit, 1, 65534, "10", "failures",
	    "Wrong digest responses for one user tolerated in a window; one more locks the "
	    "user for lock_time (auth.lockout), except from the address the user last "
	    "authenticated from (docs/guard.md explains the trade-off)."),
	U32("guard", "lock_time", lock_time, 1, 86400, "600", "seconds",
	    "How long a user stays locked."),
	U32("guard", "overload_delay", overload_delay, 0, 60000, "200", "ms",
	    "A new request that waited in the receive queue longer than this means the server "
	    "is not keeping up: it is answered 503 with Retry-After, statelessly, while "
	    "responses, ACKs, in-dialog requests and allow-listed sources are still served. "
	    "0: off."),
	{ "guard", "allow", CONF_CIDRS, offsetof(struct conf, allow), 1024, 0, 0, NULL, "", NULL,
	  "Comma-separated addresses and prefixes (`192.0.2.0/24,2001:db8::/32`) never limited "
	  "nor banned: trusted peers and monitoring. Empty: none.", NOPROF },
	{ "guard", "scanners", CONF_WORDS, offsetof(struct conf, scanners), 1024, 0, 0, NULL,
	  "friendly-scanner,sipcli,sipvicious,VaxSIPUserAgent,sundayddr,iWar,SIVuS,smap,pplsip",
	  NULL,
	  "Comma-separated fingerprints of known scanners, matched case-insensitively in "
	  "User-Agent, From and To; a match is dropped silently and its source banned. A "
	  "cheap first filter only (scanners can change them). Empty: off.", NOPROF },
};
const size_t conf_guard_rows_n = ARRAY_SIZE(conf_guard_rows);
