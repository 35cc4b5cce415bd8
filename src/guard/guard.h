/*
 * guard: cheap admission checks that run before parsing, hashing or storage
 * (issue 6, items 1-4). A pure module: no sockets, no clock (the caller passes
 * now_ms, a monotonic millisecond time), no allocation after guard_new().
 *
 * Sources. Every request's source address maps to one entry of a bounded
 * table (conf.table_size, preallocated): IPv4 by the whole address (an
 * IPv4-mapped IPv6 address counts as IPv4), IPv6 by its first conf.v6_prefix
 * bits (default /64: one customer's network is one source). Lookups hash the
 * key with SipHash-2-4 under a key drawn from getrandom() at creation, so a
 * sender cannot aim collisions at one chain. A full table evicts its least
 * recently used entry; banned entries are skipped (moved to the front) for
 * up to GUARD_EVICT_SCAN candidates, so a ban only escapes by eviction when
 * the GUARD_EVICT_SCAN oldest entries are all banned (counted as
 * evictions_banned). Memory per source: an 88-byte entry (with its node of
 * base/hash's table: chain and 64-bit hash), an 8-byte LRU link and an
 * 8-byte bucket, 104 bytes: 6.5 MiB at the default 65536 sources; per user
 * name 120 + 8 + 8 bytes: 0.53 MiB at the default 4096 users. All of it is
 * allocated by guard_new().
 *
 * Budgets. Each source has three token buckets (rates in requests per
 * second, burst = 2 x rate): every request against the overall bucket, and
 * an INVITE or REGISTER also against its own. guard_admit() runs before
 * parsing, so it cannot tell a challenged request from an authenticated one;
 * instead guard_auth_ok() (a digest that verified) gives conf.auth_credit
 * tokens back to the overall bucket and the method's bucket, up to a larger
 * ceiling (conf.auth_ceiling x rate), and marks the source as having
 * authenticated users for conf.trust_window. A challenge and its
 * authenticated retry therefore cost nothing net, which is what lets
 * hundreds of phones behind one NAT address re-register at once.
 * A request over budget is dropped (GUARD_DROP_RATE). A source that keeps
 * going over budget (conf.ban_drops drops since its buckets were last full,
 * over at least conf.ban_grace seconds) is banned, but only when it has no
 * recent successful authentication. The grace lets the first authenticated
 * REGISTERs of a NAT address whose phones all start at once (after a power
 * cut) arrive and earn trust before the wave of challenges bans it. A
 * flood from the NAT address of working phones loses its excess and no more,
 * so the phones keep working. A banned source is dropped silently; bans last
 * conf.ban_time, doubling with each repeat up to conf.ban_max (the entry
 * remembers how often it was banned). Allow-listed prefixes are never
 * limited nor banned.
 *
 * Brute force. guard_auth_failure() (a digest response that was wrong; the
 * caller decides) counts failures per source and per user name in fixed
 * windows of conf.fail_window. More than conf.source_fail_limit failures
 * from one source within a window ban it. More than conf.user_fail_limit
 * failures for one user lock that user for conf.lock_time, EXCEPT from the
 * source the user last authenticated from (recorded by guard_auth_ok()).
 * Trade-off: without the exception anybody who knows a user name could lock
 * its phone out with ten wrong guesses; with it, an attacker sharing that
 * phone's address (same NAT, same IPv6 /64) can keep guessing, held back only
 * by the per-source limit, and a user whose address changes while locked
 * waits out the lock. A user entry with a good address or a running lock is
 * skipped by eviction like a banned source, so spraying made-up names does
 * not erase the exception (bounded by GUARD_EVICT_SCAN as above; escapes are
 * counted in user_evictions only). User names longer than GUARD_USER_MAX bytes are not
 * tracked per user (no account has one; the per-source count still applies).
 *
 * Scanners. guard_scanner() matches case-insensitive substrings (well-known
 * scanner fingerprints by default) in User-Agent and From/To; the caller
 * drops the request silently and calls guard_ban(g, src, now, 0).
 */
#ifndef BASTION_GUARD_H
#define BASTION_GUARD_H

#include "../base/base.h"

struct net_addr;
struct guard;

#define GUARD_EVICT_SCAN 8    /* LRU candidates examined to avoid evicting a ban */
#define GUARD_USER_MAX 64     /* longest user name tracked per user */
#define GUARD_ALLOW_MAX 64    /* allow-list prefixes */
#define GUARD_SCANNER_MAX 64  /* scanner fingerprints */
#define GUARD_RATE_MAX 10000  /* highest rate, requests per second */

struct guard_conf {
	uint32_t table_size;        /* sources tracked (>= 1) */
	uint32_t user_table_size;   /* user names tracked for brute force (>= 1) */
	uint32_t v6_prefix;         /* IPv6 grouping, 1..128 bits */
	uint32_t rate_all;          /* requests/s per source, all methods; 0: unlimited */
	uint32_t rate_invite;       /* INVITE/s per source; 0: unlimited */
	uint32_t rate_register;     /* REGISTER/s per source; 0: unlimited */
	uint32_t auth_credit;       /* tokens a successful authentication returns */
	uint32_t auth_ceiling;      /* credited buckets hold up to this x rate (>= 2) */
	uint32_t trust_window;      /* s: a source with a good auth this recent is not banned for rate */
	uint32_t ban_drops;         /* rate drops (since buckets were full) that ban; >= 1 */
	uint32_t ban_grace;         /* s: ...and only once the drops have lasted this long */
	uint32_t ban_time;          /* s: first ban */
	uint32_t ban_max;           /* s: longest ban (doubling stops here) */
	uint32_t fail_window;       /* s: brute-force counting window */
	uint32_t source_fail_limit; /* failures per source tolerated per window */
	uint32_t user_fail_limit;   /* failures per user tolerated per window */
	uint32_t lock_time;         /* s: user lock */
	const char *const *allow;   /* CIDR strings ("192.0.2.0/24", "2001:db8::/32", "::1") */
	size_t allow_n;
	const char *const *scanners; /* fingerprints; NULL: the defaults */
	size_t scanners_n;
};

/* The module's baseline, which its unit tests are written against. The
 * server takes its values from [guard] in bastion.conf, whose defaults
 * (docs/configuration.md) may differ: auth_credit is 3 there. */
#define GUARD_CONF_DEFAULT \
	((struct guard_conf){ .table_size = 65536, .user_table_size = 4096, .v6_prefix = 64, \
			      .rate_all = 20, .rate_invite = 5, .rate_register = 10, \
			      .auth_credit = 2, .auth_ceiling = 20, .trust_window = 300, \
			      .ban_drops = 50, .ban_grace = 2, .ban_time = 60, .ban_max = 86400, \
			      .fail_window = 300, .source_fail_limit = 10, \
			      .user_fail_limit = 10, .lock_time = 600 })

enum guard_req { GUARD_REQ_REGISTER = 0, GUARD_REQ_INVITE, GUARD_REQ_OTHER };

enum guard_verdict { GUARD_PASS = 0, GUARD_DROP_BANNED, GUARD_DROP_RATE };

/* Bits returned by guard_auth_failure(): what started now (log once). */
#define GUARD_EV_BAN 1u  /* the source was banned: log guard.ban */
#define GUARD_EV_LOCK 2u /* the user was locked: log auth.lockout */

struct guard_stats {
	uint32_t sources;           /* entries in use */
	uint32_t bans_active;
	uint32_t users;             /* user entries in use */
	uint32_t locks_active;
	uint64_t passed, passed_allowed;
	uint64_t drop_banned, drop_rate;
	uint64_t bans;              /* bans started, all causes */
	uint64_t locks;             /* user locks started */
	uint64_t auth_failures;
	uint64_t scanners;          /* guard_scanner() matches */
	uint64_t evictions;         /* source entries reused */
	uint64_t evictions_banned;  /* of which still banned (ban escaped) */
	uint64_t user_evictions;
	uint64_t probes;            /* entries examined by source and user lookups
				       (base/hash's probes: tests show they stay few) */
};

/* One ban for guard_list_bans(). addr is the source's key as text: an IPv4
 * address, or an IPv6 prefix ("2001:db8:1:2::/64"). */
struct guard_ban_info {
	char addr[64];
	uint64_t until_ms;
	uint32_t count;             /* bans of this source so far */
};

typedef void(guard_ban_fn)(void *arg, const struct guard_ban_info *ban);

/*
 * Create a guard from conf (copied; the allow and scanner strings are parsed
 * or copied, the caller keeps its own). Returns 0 and *gp, or EINVAL for a
 * setting out of range or a bad CIDR (errbuf says which, may be NULL),
 * EOVERFLOW for more than GUARD_ALLOW_MAX / GUARD_SCANNER_MAX entries,
 * ENOMEM, or getrandom()'s errno. *gp is untouched on failure.
 */
int guard_new(struct guard **gp, const struct guard_conf *conf, char *errbuf, size_t errlen);
/* Free the guard; *gp becomes NULL. NULL is accepted. */
void guard_free(struct guard **gp);

/*
 * Add one allow-list prefix (e.g. a trusted peer) after creation. Returns 0,
 * EINVAL for a bad CIDR, EOVERFLOW when the list is full. Existing bans of
 * sources it covers stay in the table but no longer apply.
 */
int guard_allow_add(struct guard *g, const char *cidr);

/*
 * Admit one request from src. Returns GUARD_PASS (tokens spent),
 * GUARD_DROP_BANNED (src is banned: drop silently) or GUARD_DROP_RATE (over
 * budget: drop). *new_ban (may be NULL) is set true only on the request that
 * started a ban, so the caller logs one guard.ban per ban, not per packet.
 * Allow-listed sources, and addresses of neither IPv4 nor IPv6 family,
 * pass uncounted (passed_allowed).
 */
enum guard_verdict guard_admit(struct guard *g, const struct net_addr *src, enum guard_req req,
			       uint64_t now_ms, bool *new_ban);

/*
 * A digest authentication by user from src verified, for a request of kind
 * req. Credits src's overall and req's buckets, marks src trusted for
 * trust_window, and records src as the user's last good address.
 * user may be empty (then only the source is credited).
 */
void guard_auth_ok(struct guard *g, const struct net_addr *src, struct slice user,
		   enum guard_req req, uint64_t now_ms);

/*
 * A digest response for user from src was wrong. Counts it per source and
 * per user; returns GUARD_EV_BAN when this failure banned src,
 * GUARD_EV_LOCK when it locked user, both, or 0.
 */
unsigned guard_auth_failure(struct guard *g, const struct net_addr *src, struct slice user,
			    uint64_t now_ms);

/*
 * A request or response from src proved to belong to work already admitted
 * and authenticated: a response that matched a client transaction, an ACK or
 * in-dialog request that matched a dialog from the right side. Gives back the
 * overall token guard_admit() took (up to the credited ceiling), so the
 * traffic of authenticated calls never eats the unauthenticated budget.
 */
void guard_refund(struct guard *g, const struct net_addr *src, uint64_t now_ms);

/*
 * The ban key of an address typed by an operator or read back from the
 * store: `in` is an IPv4 or IPv6 address, optionally with "/bits" (only
 * v6_prefix for IPv6, 32 for IPv4). Sets *out to an address of that source
 * and text to its key as guard_ban_info.addr spells it ("192.0.2.1",
 * "2001:db8:1:2::/64"), so a ban is found under one name whatever address
 * of the prefix was typed. An IPv4-mapped address ("::ffff:192.0.2.1")
 * without "/bits" is that IPv4 address. Returns 0 or EINVAL.
 */
int guard_key_parse(struct net_addr *out, char *text, size_t cap, const char *in,
		    uint32_t v6_prefix);

/* True when src is on the allow-list (never limited nor banned). */
bool guard_allowed(const struct guard *g, const struct net_addr *src);

/* 0 when cidr is an address or prefix the allow-list accepts ("192.0.2.0/24",
 * "2001:db8::/32", "::1"), else EINVAL. */
int guard_cidr_check(const char *cidr);

/* True when cidr (as guard_cidr_check accepts) covers address a, with the
 * allow-list's answer: IPv4 sits at ::ffff:0:0/96, so an IPv4 prefix covers
 * the IPv4-mapped form of its addresses and "::/0" covers every IPv4 address.
 * False for a bad cidr or an address of another family. Pure: for tools that
 * check an address against the configured allow list without a guard. */
bool guard_cidr_contains(const char *cidr, const struct net_addr *a);

/* A lock read back from the store (another node's, or an earlier run's):
 * user locked for seconds from now_ms, or longer if it already is; the
 * exception for the user's last good address (as this guard knows it) holds
 * as for a lock of its own. Returns true when the user was not locked. */
bool guard_lock_restore(struct guard *g, struct slice user, uint64_t now_ms, uint32_t seconds);

/* True when user is locked and src is not the user's last good address. */
bool guard_user_locked(struct guard *g, struct slice user, const struct net_addr *src,
		       uint64_t now_ms);

/* True when user_agent or from_or_to contains a scanner fingerprint (ASCII
 * case-insensitive). Either may be empty. */
bool guard_scanner(struct guard *g, struct slice user_agent, struct slice from_or_to);

/*
 * Ban src from now for seconds, or, with seconds 0, for the escalating time
 * (ban_time doubled per earlier ban, at most ban_max). Returns true when a
 * new ban started; false when src is allow-listed or already banned (an
 * existing ban is left alone with seconds 0, else extended to the later end).
 */
bool guard_ban(struct guard *g, const struct net_addr *src, uint64_t now_ms, uint32_t seconds);

/* A stored ban read back (restart, CLI): src banned for seconds from now
 * (or longer if it already is), its ban count at least count, so that the
 * next ban doubles from where the last run left off. */
void guard_ban_restore(struct guard *g, const struct net_addr *src, uint64_t now_ms,
		       uint32_t seconds, uint32_t count);

/* The ban of src active at now_ms into *out; false when src is not banned. */
bool guard_ban_of(struct guard *g, const struct net_addr *src, uint64_t now_ms,
		  struct guard_ban_info *out);

/* Lift src's ban and forget its ban count. Returns true when it was banned. */
bool guard_unban(struct guard *g, const struct net_addr *src, uint64_t now_ms);

/* Call fn for every ban active at now_ms, in no particular order. */
void guard_list_bans(const struct guard *g, uint64_t now_ms, guard_ban_fn *fn, void *arg);

/* Counters; the active counts are computed at now_ms (a walk of the table). */
void guard_stats(const struct guard *g, uint64_t now_ms, struct guard_stats *out);

#endif
