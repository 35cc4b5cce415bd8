/*
 * trunk: calls beyond the building (docs/trunks.md). Peers (PSTN gateways and
 * carriers' SIP trunks), the dial plan that picks them, number classes and
 * the class of service that decides who may dial what, and the toll-fraud
 * caps on outside calls.
 *
 * Everything here is a decision over a struct trunk_conf (filled from
 * bastion.conf's [peer NAME], [routes], [classes], [dialplan], [dids] and
 * [calling] sections by conf/, line by line, then checked as a whole by
 * trunk_conf_check) and values the caller hands in: no I/O but the
 * [trunks] secrets file it reads when it changed (secrets.c), no clock. The
 * rules (trunk.c, fraud.c) allocate nothing; struct trunk_state (state.c,
 * calls.c, peers.c) owns the bounded tables of what is in progress and
 * returns its decisions as values. server/trunk.c turns them into answers,
 * events, proxy_fork targets, client transactions and log lines, and
 * nodes/fraud.c keeps the toll-fraud counters in step with the store; unit
 * tests drive every rule without a network (tests/unit/test_trunk.c,
 * test_trunk_state.c).
 *
 * Numbers: every form of a dialed number (sip: user part, tel: URI,
 * %-escapes, visual separators, the outside-line prefix, 00/011, national
 * and local dialing) is normalised to E.164 ("+" and up to 15 digits) before
 * anything is decided, so one number cannot slip past a rule by being
 * written another way.
 */
#ifndef BASTION_TRUNK_H
#define BASTION_TRUNK_H

#include "../base/base.h"
#include "../net/net.h"
#include "../sip/sip.h"

#define TRUNK_MAX_PEERS 16
#define TRUNK_MAX_ADDRS 4          /* addresses a peer is called at (failover in order) */
#define TRUNK_MAX_SOURCES 8        /* extra source prefixes of a peer */
#define TRUNK_MAX_ROUTES 32
#define TRUNK_MAX_ROUTE_PEERS 8
#define TRUNK_MAX_PATTERNS 32      /* per class */
#define TRUNK_PATTERN_MAX 17       /* "+" and 15 digits or X, NUL */
#define TRUNK_MAX_DIDS 64
#define TRUNK_MAX_CALLING 64       /* [calling] user grants */
#define TRUNK_NAME_MAX 32
#define TRUNK_NUM_MAX 24           /* a normalised number with its NUL ("+" 15 digits) */
#define TRUNK_USER_MAX 128
#define TRUNK_DIALED_MAX 128       /* the number as dialed, for a call record (the
				      store's STORE_DIALED_MAX) */
#define TRUNK_AOR_MAX 1024         /* a DID user's address of record (STORE_URI_MAX) */

#define TRUNK_EVENT_CLASS_DENIED "call.class_denied"
#define TRUNK_EVENT_FRAUD_LIMIT "fraud.limit"
#define TRUNK_EVENT_BYPASS "call.gateway_bypass"
#define TRUNK_EVENT_NO_ROUTE "call.no_route"
#define TRUNK_EVENT_PEER_DOWN "peer.down"
#define TRUNK_EVENT_PEER_UP "peer.up"
#define TRUNK_EVENT_FRAUD_ALERT "fraud.alert"
#define TRUNK_EVENT_PEER_TLS_REFUSED "peer.tls_refused"
#define TRUNK_EVENT_PEER_REGISTERED "peer.registered"
#define TRUNK_EVENT_PEER_REGISTER_FAILED "peer.register_failed"
#define TRUNK_EVENT_PEER_RATE "peer.rate_limit"
/* policy/'s POLICY_EVENT_SIPS_DOWNGRADE (a unit test holds them equal) */
#define TRUNK_EVENT_SIPS_DOWNGRADE "sips.downgrade_refused"

/* Number classes, in the order of the calling level needed to dial them. */
enum trunk_class {
	TRUNK_CLASS_INTERNAL = 0,
	TRUNK_CLASS_LOCAL,
	TRUNK_CLASS_TOLL_FREE,
	TRUNK_CLASS_NATIONAL,
	TRUNK_CLASS_MOBILE,
	TRUNK_CLASS_INTERNATIONAL,
	TRUNK_CLASS_PREMIUM,
	TRUNK_CLASS_COUNT
};

/* A user's calling level (bastion.conf [calling], default [policy] calling):
 * each grants the classes of the levels at and below it. */
enum trunk_level {
	TRUNK_LEVEL_INTERNAL = 0,  /* internal */
	TRUNK_LEVEL_LOCAL,         /* + local, toll-free */
	TRUNK_LEVEL_NATIONAL,      /* + national, mobile */
	TRUNK_LEVEL_INTERNATIONAL, /* + international */
	TRUNK_LEVEL_PREMIUM,       /* + premium */
	TRUNK_LEVEL_COUNT
};

enum trunk_role { TRUNK_ROLE_GATEWAY = 0, TRUNK_ROLE_TRUNK };

/* An address prefix (IPv4 or IPv6). */
struct trunk_prefix {
	int family;                /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t bits;
};

struct trunk_peer {
	char name[TRUNK_NAME_MAX];
	unsigned line;             /* of its [peer NAME] header, for errors */
	enum trunk_role role;
	struct net_listen_spec addr[TRUNK_MAX_ADDRS]; /* transport + address:port we call */
	size_t naddr;
	struct trunk_prefix src[TRUNK_MAX_ADDRS + TRUNK_MAX_SOURCES]; /* where it may send
				      * from: each address's host, then `sources` */
	size_t nsrc;
	bool trust_pai;            /* its P-Asserted-Identity is kept; ours goes to it */
	uint32_t max_calls_out, max_calls_in; /* concurrent; 0: no cap */
	uint32_t calls_per_second; /* new calls a second, each way apart (token
				      * bucket, burst one second's worth); 0: no cap */
	uint32_t strip;            /* leading characters of the E.164 number removed */
	char prepend[TRUNK_PATTERN_MAX]; /* then this put in front */
	char tls_name[128];        /* tls: addresses: the name its certificate must carry */
	uint32_t ping_interval;    /* seconds between OPTIONS pings; 0: not pinged */
	/* toll-fraud limits of calls to it (0: none): calls placed in the last
	 * hour, minutes of calls ended in the last day, domestic and
	 * international (with premium) apart */
	uint32_t calls_per_hour, minutes_per_day, intl_minutes_per_day;
	/* outbound registration to it (a carrier that wants one), with the
	 * credentials of [trunks] secrets */
	bool do_register;
	uint32_t register_expires;  /* seconds asked for */
};

/* A route: a [routes] pattern, or an [emergency_routes] number (emerg/
 * uses this type too), and the peers it goes to in order. */
struct trunk_route {
	char key[TRUNK_PATTERN_MAX];
	unsigned line;
	char peer_names[TRUNK_MAX_ROUTE_PEERS][TRUNK_NAME_MAX]; /* as written, checked later */
	uint8_t peers[TRUNK_MAX_ROUTE_PEERS];                   /* indices, after the check */
	size_t npeers;
};

struct trunk_did {
	char number[TRUNK_NUM_MAX];     /* E.164 */
	char user[TRUNK_USER_MAX];
};

struct trunk_grant {
	char user[TRUNK_USER_MAX];
	enum trunk_level level;
};

struct trunk_conf {
	/* [dialplan] */
	char country_code[4];        /* "1": NANP */
	char area_code[8];           /* "" none: local 7-digit dialing off */
	char outside_prefix[4];      /* "" none, else "9" or "0" */
	char international_prefix[5]; /* "" : 011 under country code 1, else 00 */
	char national_prefix[3];     /* "" : 1 under country code 1, else 0 */
	/* [classes]: per class, patterns; a class not written keeps its defaults */
	char patterns[TRUNK_CLASS_COUNT][TRUNK_MAX_PATTERNS][TRUNK_PATTERN_MAX];
	size_t npatterns[TRUNK_CLASS_COUNT];
	bool class_set[TRUNK_CLASS_COUNT];
	struct trunk_peer peer[TRUNK_MAX_PEERS];
	size_t npeers;
	struct trunk_route route[TRUNK_MAX_ROUTES];
	size_t nroutes;
	struct trunk_did did[TRUNK_MAX_DIDS];
	size_t ndids;
	struct trunk_grant grant[TRUNK_MAX_CALLING];
	size_t ngrants;
	/* [policy] / [trunks] */
	enum trunk_level default_level;
	uint32_t max_calls_per_user;  /* concurrent outside calls; 0: no cap */
};

/* ---- configuration ---------------------------------------------------------- */

/* Empty configuration: no peers, NANP defaults, national calling. */
void trunk_conf_init(struct trunk_conf *c);

/* Is section one of ours ("peer NAME", "routes", "classes", "dialplan",
 * "dids", "calling")? */
bool trunk_section(const char *section);

/*
 * One line of the file: key = value in section, at line. Returns 0, or
 * EINVAL with err saying what is wrong (the caller adds file:line). A new
 * "peer NAME" section starts a peer on its first key.
 */
int trunk_conf_set(struct trunk_conf *c, const char *section, const char *key, const char *value,
		   unsigned line, char *err, size_t errlen);

/*
 * The checks that need the whole file: a peer without an address; two peers
 * whose source prefixes overlap (a source must name one peer); a route to
 * an unknown peer. Fills the route peer indices and the class defaults.
 * Returns 0 or EINVAL with *line (may be 0) and err.
 */
int trunk_conf_check(struct trunk_conf *c, unsigned *line, char *err, size_t errlen);

/*
 * The shape [routes] and [emergency_routes] share, what ("route",
 * "emergency route") naming the table in the messages. trunk_route_new: a
 * route for key (checked by the caller) at line, in routes[0..n) with room
 * for max: *rp is routes[n], zeroed, with key and line, for the caller to
 * fill its peer_names and then count; EINVAL when key is set already
 * ("WHAT KEY is set twice"), there is no room ("more than MAX WHATs") or key
 * does not fit. trunk_route_resolve: r's peer names to indices into c's
 * peers; EINVAL with *line r's for a name that is no peer ("WHAT KEY:
 * unknown peer "NAME""). Both return 0 or EINVAL with err.
 */
int trunk_route_new(struct trunk_route **rp, struct trunk_route *routes, size_t n, size_t max,
		    const char *what, const char *key, unsigned line, char *err, size_t errlen);
int trunk_route_resolve(struct trunk_route *r, const struct trunk_conf *c, const char *what,
			unsigned *line, char *err, size_t errlen);

const char *trunk_class_name(enum trunk_class k);
const char *trunk_level_name(enum trunk_level l);
/* Parse a level name. Returns 0 or EINVAL. */
int trunk_level_parse(enum trunk_level *out, const char *name);
/* Parse "192.0.2.0/24", "2001:db8::/32" or a bare address. Returns 0 or EINVAL. */
int trunk_prefix_parse(struct trunk_prefix *out, const char *s);
bool trunk_prefix_contains(const struct trunk_prefix *p, const struct net_addr *a);
/* Does pattern ("+", digits, X for any digit) parse? */
bool trunk_pattern_ok(const char *pat);

/* ---- numbers ------------------------------------------------------------------ */

/*
 * Normalise the number a request dials: uri is the Request-URI. A tel: URI
 * gives its number; a sip:/sips: URI its user part, %-unescaped. Visual
 * separators (- . ( ) and space) are removed; then "+" digits is E.164; with
 * an outside-line prefix set, a number without it is not an outside number;
 * the international prefix gives "+"; the national prefix + number, or (with
 * country code 1) ten digits, the national number; (with an area code) a
 * seven-digit number, a local one.
 *
 * Returns 0 with out an E.164 number ("+" 1..15 digits, NUL-terminated),
 * ENOENT when it is not an outside number (a name, an extension, no
 * outside prefix), EBADMSG for a malformed escape or a number of the wrong
 * length.
 */
int trunk_normalise(char out[TRUNK_NUM_MAX], const struct sip_uri *uri, const struct trunk_conf *c);

/* Same, from the user part alone (already taken from a URI, still escaped). */
int trunk_normalise_user(char out[TRUNK_NUM_MAX], struct slice user, const struct trunk_conf *c);

/* A number as dialed (a Request-URI's user part) for a call record, into
 * out: printable bytes as they are, others as '?', cut to cap - 1. */
void trunk_dialed(char *out, size_t cap, struct slice user);

/* The class of an E.164 number: the class with the longest matching
 * pattern; on a tie the dearer class. International when nothing matches. */
enum trunk_class trunk_classify(const struct trunk_conf *c, const char *e164);

/* ---- decisions ---------------------------------------------------------------- */

struct trunk_verdict {
	bool allow;
	uint16_t status;
	const char *reason;
	const char *event;
	const char *detail;
};

/* The calling level of user (its [calling] grant, else the default). */
enum trunk_level trunk_user_level(const struct trunk_conf *c, struct slice user);

/* May a user of level lv dial a number of class k? Refused: 403 "Calling
 * Class Not Allowed", event call.class_denied. */
void trunk_cos(struct trunk_verdict *v, enum trunk_level lv, enum trunk_class k);

/*
 * The peers a number goes to, in failover order: the route with the
 * longest matching pattern; with no routes configured, every peer in file
 * order. Returns how many (0: no route).
 */
size_t trunk_route(const struct trunk_conf *c, const char *e164,
		   uint8_t out[TRUNK_MAX_ROUTE_PEERS]);

/* The Request-URI user for peer p: e164 with p's strip and prepend.
 * Returns 0 or EOVERFLOW. */
int trunk_rewrite(char *out, size_t cap, const struct trunk_peer *p, const char *e164);

/* The peer whose source prefixes hold address a, or -1. */
int trunk_peer_of(const struct trunk_conf *c, const struct net_addr *a);

/* Does host (an address literal from a Request-URI or Route, brackets
 * allowed) name one of the peers' addresses or prefixes? */
bool trunk_names_peer(const struct trunk_conf *c, struct slice host);

/* The local user a DID (E.164) reaches, or NULL. */
const char *trunk_did_user(const struct trunk_conf *c, const char *e164);
/* The first DID of user (its external number), or NULL. */
const char *trunk_user_did(const struct trunk_conf *c, struct slice user);

/* A concurrency cap: used calls against cap (0: none). Refused: 403
 * "Outside Call Limit Reached", event fraud.limit, detail what. */
void trunk_cap(struct trunk_verdict *v, uint32_t used, uint32_t cap, const char *what);

/* ---- a peer's new calls per second (calls_per_second) --------------------------------
 *
 * A token bucket: it holds up to rate calls (one second's worth, so a burst
 * of rate calls passes at once), refilled at rate a second, counted in
 * thousandths of a call so that rates below one a millisecond refill
 * exactly. O(1) and a fixed size per peer and way.
 */
struct trunk_bucket {
	uint64_t milli;            /* tokens * 1000 */
	uint64_t at_ms;            /* when milli was last brought up to date */
	uint32_t rate;             /* the rate milli was filled for (a reload resets) */
	bool started;
};

/*
 * May a new call pass peer's bucket b (rate calls a second; 0: no cap) at
 * monotonic now_ms? Returns 0 and takes a token when take; else the
 * milliseconds until a token is there (>= 1), and takes nothing. A bucket
 * first used, or whose rate changed, starts full. A clock that went back
 * refills nothing.
 */
uint32_t trunk_bucket_check(struct trunk_bucket *b, uint32_t rate, uint64_t now_ms, bool take);

/* ---- peers' credentials ([trunks] secrets) ---------------------------------------- */

#define TRUNK_SECRET_MAX 128

/* A peer's digest credentials for when it challenges us. */
struct trunk_secret {
	char peer[TRUNK_NAME_MAX];
	char user[TRUNK_SECRET_MAX];
	char password[TRUNK_SECRET_MAX];
	char realm[TRUNK_SECRET_MAX];  /* "" any */
};

struct trunk_secrets {
	struct trunk_secret s[TRUNK_MAX_PEERS];
	size_t n;
};

/*
 * One line of the secrets file: key (username, password, realm) = value in
 * section (a peer's name). Values must be printable without quotes or
 * backslashes and shorter than TRUNK_SECRET_MAX. Returns 0 or EINVAL with
 * err (which never repeats a password).
 */
int trunk_secret_set(struct trunk_secrets *t, const char *section, const char *key,
		     const char *value, char *err, size_t errlen);
/* Each section has username and password? Returns 0 or EINVAL with err. */
int trunk_secrets_check(const struct trunk_secrets *t, char *err, size_t errlen);
/* The credentials of peer name, or NULL. */
const struct trunk_secret *trunk_secret_of(const struct trunk_secrets *t, const char *name);
/* Wipe every password. */
void trunk_secrets_wipe(struct trunk_secrets *t);

/* ---- toll-fraud counters (fraud.c) -----------------------------------------------
 *
 * Per user and per peer, in fixed time slots so that counting costs the same
 * whatever the history (a step advances at most a slot ring's length) and a
 * counter has a fixed size: no per-call history list.
 * - calls placed in the last hour: 12 slots of 5 minutes;
 * - seconds of connected calls in the last day: 24 slots of an hour, the
 *   domestic classes (local, toll-free, national, mobile) and the
 *   international ones (international and premium) apart;
 * - the burst window ([fraud] alert_window) in 6 slices: short international
 *   calls, and the destinations as bits of a 512-bit map per slice (distinct
 *   destinations are estimated by linear counting over the union of the
 *   slices: two may share a bit, about 1 in 100 with 4, so a count may fall
 *   short by one or two; within a few percent at 200).
 */

#define TRUNK_HOUR_SLOTS 12
#define TRUNK_HOUR_SLOT_S 300
#define TRUNK_DAY_SLOTS 24
#define TRUNK_DAY_SLOT_S 3600
#define TRUNK_BURST_SLOTS 6
#define TRUNK_DEST_WORDS 8        /* 512 bits */
#define TRUNK_ALERT_MAX 200       /* largest alert threshold (the map's useful range) */

/* The limits of one user or peer; 0: none. */
struct trunk_limits {
	uint32_t calls_per_hour;
	uint32_t minutes_per_day;      /* domestic classes */
	uint32_t intl_minutes_per_day; /* international and premium */
};

/* [fraud]: the users' limits and the burst alert. */
struct trunk_fraud_conf {
	struct trunk_limits user;
	uint32_t alert_window;         /* seconds, divided in TRUNK_BURST_SLOTS */
	uint32_t alert_short_calls;    /* short international calls in the window; 0 off */
	uint32_t short_call;           /* seconds: a call connected for less is short */
	uint32_t alert_destinations;   /* distinct outside numbers in the window; 0 off */
	uint32_t suspend;              /* 1: an alert puts the user's outside calling on hold */
};

struct trunk_usage {
	int64_t hour_slot, day_slot, burst_slot;   /* the current slot of each ring */
	uint16_t calls[TRUNK_HOUR_SLOTS];
	uint32_t calls_sum;
	uint32_t secs[TRUNK_DAY_SLOTS][2];          /* [0] domestic, [1] international */
	uint64_t secs_sum[2];
	uint16_t short_intl[TRUNK_BURST_SLOTS];
	uint32_t short_sum;
	uint64_t dest[TRUNK_BURST_SLOTS][TRUNK_DEST_WORDS];
	bool alerted;                  /* an alert was raised and the burst has not ebbed */
	/* counted by other nodes (their rows in the store, as of the last
	 * reread): added to the sums above when the limits are checked */
	uint32_t calls_ext;
	uint64_t secs_ext[2];
};

/* Is a number of class k counted as international (with premium)? */
bool trunk_class_intl(enum trunk_class k);

/* Zero counters. */
void trunk_usage_init(struct trunk_usage *u);

/*
 * The limits of a new outside call of class intl (international budget or
 * domestic) at unix second now against u and lim. Refused: 403 "Outside
 * Call Limit Reached", event fraud.limit, detail naming the setting (a
 * [fraud] one for a user, a [peer] one when peer). Allowed when u is NULL.
 */
void trunk_limits_check(struct trunk_verdict *v, struct trunk_usage *u,
			const struct trunk_limits *lim, bool intl, int64_t now, bool peer);

/* A call was placed to the destination whose keyed hash is dest_hash. */
void trunk_usage_placed(struct trunk_usage *u, uint64_t dest_hash, int64_t now,
			uint32_t window);

/* A call ended after connected seconds (0: never answered). */
void trunk_usage_ended(struct trunk_usage *u, bool intl, uint64_t connected_s, int64_t now,
		       uint32_t window, uint32_t short_call);

/* The distinct destinations of the burst window (estimated; see above). */
uint32_t trunk_usage_destinations(struct trunk_usage *u, int64_t now, uint32_t window);

/*
 * Does u show a burst ([fraud] alert_short_calls, alert_destinations) at
 * now? True once per burst: the first time a threshold is reached, with why
 * (a sentence naming the threshold); false again until the counts fell
 * below the thresholds. Forget the burst with trunk_usage_forgive.
 */
bool trunk_burst(struct trunk_usage *u, const struct trunk_fraud_conf *f, int64_t now,
		 char *why, size_t cap);

/* An administrator cleared the user: the burst window starts empty. */
void trunk_usage_forgive(struct trunk_usage *u);

/*
 * The hour and day rings of u as text, for the store ("1;" hour slot ";" 12
 * counts ";" day slot ";" 24 domestic seconds ";" 24 international seconds,
 * counts comma-separated), NUL-terminated into out. The burst window and
 * the other nodes' counts are not in it. Returns 0 or EOVERFLOW.
 */
#define TRUNK_USAGE_TEXT_MAX 1024
int trunk_usage_encode(char *out, size_t cap, const struct trunk_usage *u);

/*
 * The inverse: u (initialised here) gets the hour and day rings of in,
 * brought to now (slots that have passed since are empty). Returns 0, or
 * EBADMSG for anything but exactly what trunk_usage_encode writes (a count
 * out of range, a missing or extra field), with u zeroed.
 */
int trunk_usage_decode(struct trunk_usage *u, struct slice in, int64_t now);

/* Nothing counted any more (the entry may be dropped). */
bool trunk_usage_idle(struct trunk_usage *u, int64_t now, uint32_t window);

/* ---- the state of outside calls (state.c, calls.c, peers.c) ----------------------
 *
 * struct trunk_state owns what the trunk side remembers between requests:
 * - the outside calls in progress (a table keyed by Call-ID, bounded by
 *   [proxy] max_dialogs) and their counts per user and per peer, for the
 *   caps (max_calls_per_user, max_calls_out, max_calls_in);
 * - the toll-fraud counters of each user and peer (struct trunk_usage, in a
 *   table bounded by [auth] max_users plus the peers; idle ones swept every
 *   five minutes), which of them changed since they were stored, and the
 *   other nodes' counts of the last reread;
 * - each peer's OPTIONS health (up or down), its calls-per-second buckets,
 *   its metrics, and the outbound registration state machine;
 * - the peers' credentials of [trunks] secrets, and what the file was
 *   when last looked at (trunk_state_secrets_load reads it when it changed:
 *   the one I/O here).
 * Every function returns its decision as a value: refuse with a status, a
 * reason and an event; fork serially to these targets with these headers;
 * send this OPTIONS or REGISTER to peer i now; peer i went down; this line
 * about the secrets file. It reads no clock: the caller passes the time, the
 * store's word (a user's calling class and fraud hold) and, through struct
 * trunk_env, the ways to reach a peer and the digest answer of a REGISTER;
 * it turns the values into answers, sends, events and log lines
 * (server/trunk.c); nodes/fraud.c writes and rereads the counters.
 * tests/unit/test_trunk_state.c drives it without a network.
 */
struct trunk_state;

struct trunk_env {
	const struct trunk_conf *conf;          /* reloaded in place (SIGHUP) */
	const struct trunk_fraud_conf *fraud;   /* [fraud], the same */
	const struct net_listen_spec *listeners; /* ours: the sent-by of pings, REGISTERs */
	size_t nlisteners;
	const char *domain;                     /* in their From and Call-ID */
	size_t max_calls;                       /* outside calls tracked at once */
	size_t max_usage;                       /* toll-fraud counters kept at once */
	/* The way to reach address a of peer p: a UDP socket, or a connection
	 * of ours (TLS checks tls_name). Returns 0, or an errno (skipped). */
	int (*way)(void *arg, const struct trunk_peer *p, const struct net_listen_spec *a,
		   struct net_msg *way);
	/* The Authorization value answering challenge chal for a REGISTER to
	 * uri with sec's credentials and nonce count nc (NUL-terminated into
	 * out). Returns 0, or an errno (the challenge cannot be answered). */
	int (*answer)(void *arg, char *out, size_t cap, struct slice chal, struct slice uri,
		      const struct trunk_secret *sec, uint32_t nc);
	void *arg;
};

/* A fraud.alert raised on a user's counters (a burst). */
struct trunk_alert {
	bool raised;
	bool hold;                 /* [fraud] suspend: store the user's hold (why) */
	char user[TRUNK_USER_MAX];
	char why[200];             /* the threshold reached */
	char full[300];            /* why, and what follows from it */
};

/* A peer's health changed: event kind (NULL: nothing) about peer, why. */
struct trunk_event {
	const char *kind;
	size_t peer;
	char reason[400];
};

/*
 * A new state for env (copied; the pointers in it must outlive the state).
 * Returns 0, ENOMEM, or the errno of the random key. *sp untouched on failure.
 */
int trunk_state_new(struct trunk_state **sp, const struct trunk_env *env);
/* Free it (the credentials wiped); *sp becomes NULL. NULL is fine. */
void trunk_state_free(struct trunk_state **sp);

/* The credentials of peers: take *from (wiped afterwards). */
void trunk_state_set_secrets(struct trunk_state *st, struct trunk_secrets *from);
const struct trunk_secrets *trunk_state_secrets(const struct trunk_state *st);

/*
 * Parse the text of a secrets file (INI: [PEER] username, password,
 * realm) into out (zeroed first). Returns 0, or EINVAL with *line (0: not
 * a line's fault) and err, which never repeats a value.
 */
int trunk_secrets_parse(struct trunk_secrets *out, const char *text, int *line, char *err,
			size_t errlen);

/* What looking at the secrets file came to (trunk_state_secrets_load). */
enum trunk_secrets_result {
	TRUNK_SECRETS_SAME,     /* nothing changed, or nothing new to say */
	TRUNK_SECRETS_GONE,     /* the file was removed: no credentials now (a notice) */
	TRUNK_SECRETS_FAILED,   /* not loaded; the credentials stay as they were (an error) */
	TRUNK_SECRETS_LOADED,   /* the file's credentials are st's now */
};

/*
 * Look at the [trunks] secrets file at path (the only file trunk/ reads)
 * and take its credentials when it changed since the last look (its
 * device, inode, size, mode and mtime) or on the first: a regular file of
 * at most TRUNK_SECRETS_FILE_MAX bytes that only its owner may read, never
 * through a link. A file that is refused or does not parse is not looked at
 * again until it changes, and keeps the credentials st had; an absent one
 * means none (GONE once, when one was loaded; an error opening it is said
 * once). *res says which; msg gets the line to log with it, naming path
 * (never a value of the file): "" for SAME. Returns 0, or ENOMEM (*res
 * SAME, and the file is not looked at again until it changes).
 */
#define TRUNK_SECRETS_FILE_MAX 65536
int trunk_state_secrets_load(struct trunk_state *st, enum trunk_secrets_result *res,
			     const char *path, char *msg, size_t cap);
/* The first credentials after *after (NULL: from the start) whose section
 * names no peer of c, or NULL: for a warning after a load. */
const struct trunk_secret *trunk_secrets_unknown(const struct trunk_secrets *t,
						 const struct trunk_conf *c,
						 const struct trunk_secret *after);

/* ---- an outside call ---- */

/* What the record of an outside call says of it besides the proxy's own
 * (proxy_outside; server/trunk.c hands these on as they are). */
struct trunk_record {
	const char *peer;               /* inbound: the peer's name; outbound NULL */
	const char *klass;              /* outbound, once classified: its class's name
					   (trunk_class_name), else NULL */
	char dialed[TRUNK_DIALED_MAX];  /* the Request-URI's user as dialed (trunk_dialed) */
	const char *number;             /* the number as routed (E.164: outbound once
					   normalised, inbound the DID), pointing into
					   the decision that holds it; NULL unknown */
};

struct trunk_target {
	struct net_msg way;
	char contact[200];
	const char *label;              /* the peer's name */
	const struct trunk_secret *cred; /* its credentials, or NULL */
};

/* What the outbound decision reads of a phone's INVITE and its caller. */
struct trunk_call {
	const struct sip_uri *ruri;
	struct slice user;              /* the authenticated caller */
	const char *calling;            /* the store's calling class of user; "" none */
	bool hold;                      /* the store has its outside calling on hold */
	uint64_t cache_version;         /* of the store's word (our own hold until it moves) */
	bool tls_only;                  /* sips:, or tls-required: TLS peers only */
	const uint32_t *keep;           /* per peer index: slots kept for emergency calls */
	int64_t now;                    /* unix seconds */
	uint64_t now_ms;                /* monotonic */
};

struct trunk_outbound {
	struct trunk_verdict v;         /* allow: fork serially to t[0..n); else refuse */
	uint32_t retry_after;           /* a refusal's Retry-After in seconds; 0 none */
	bool classified;                /* e164 and klass are known (for the record) */
	char e164[TRUNK_NUM_MAX];
	enum trunk_class klass;
	bool intl;
	int first;                      /* the peer that gets the INVITE first */
	struct trunk_target t[TRUNK_MAX_ROUTE_PEERS * TRUNK_MAX_ADDRS];
	size_t n;
	char pai[TRUNK_NUM_MAX + 64];   /* our P-Asserted-Identity header line, or "" */
	char detail[160];
	struct trunk_record rec;        /* for its record, allowed or refused */
};

/*
 * A phone's INVITE to an outside number: normalise, classify, the caller's
 * class of service, its hold and limits, the dial plan, the peers that are
 * up, under their caps and calls_per_second, and reachable (env.way).
 * Returns ENOENT when ruri is no outside number (not ours to decide), else 0
 * with o's verdict: refused (484, 403 class or limit, 404 no route, 503 rate
 * with retry_after, 480 no TLS peer, 503 none reachable) or allowed with the
 * targets; either way o->rec says what the call's record carries. An allowed
 * call is counted only by trunk_state_placed.
 */
int trunk_state_outbound(struct trunk_state *st, struct trunk_outbound *o,
			 const struct trunk_call *c);

/*
 * The proxy took o's call (Call-ID call_id): it counts against the caps
 * (the first peer's until trunk_state_failover moves it) until
 * trunk_state_ended, and to the caller's and the first peer's
 * counters (hour, destinations, the peer's rate). A burst on the caller's
 * counters fills *alert (and, with [fraud] suspend, holds the caller here).
 */
void trunk_state_placed(struct trunk_state *st, const struct trunk_outbound *o,
			const struct trunk_call *c, struct slice call_id, struct trunk_alert *alert);

/* policy/'s POLICY_PAI_MAX + 32 (a unit test holds them equal): the
 * largest P-Asserted-Identity header line a trusted peer's call carries on */
#define TRUNK_PAI_MAX 3376

struct trunk_inbound {
	int peer;                       /* the peer it came from; -1: not a peer */
	struct trunk_verdict v;         /* allow: to local's phones; else refuse */
	bool record;                    /* a refused attempt gets its record */
	uint32_t retry_after;           /* seconds; 0 none */
	char e164[TRUNK_NUM_MAX];       /* the DID */
	const char *local;              /* the user it reaches */
	char aor[TRUNK_AOR_MAX];        /* allowed: local's address of record, "sip:" local
					   "@" the domain (env.domain) */
	char pai[TRUNK_PAI_MAX];        /* a trusted peer's P-Asserted-Identity line, or "" */
	struct trunk_record rec;        /* a peer's request: for its record */
};

/*
 * A request out of a dialog from src over tp: a peer's (its address and a
 * transport it has)? Then: beyond this server 403 No Transit; a peer's new
 * INVITE takes a token of its calls_per_second (503 with retry_after); a
 * number that is no DID 404 (no transit); max_calls_in 503; an address of
 * record that does not fit 500; else allowed to the DID's user, with the
 * peer's P-Asserted-Identity when it is trusted with one (RFC 3325; the
 * proxy core removes every received one). A peer's request fills o->rec.
 */
void trunk_state_inbound(struct trunk_state *st, struct trunk_inbound *o, const struct sip_msg *m,
			 const struct net_addr *src, enum net_transport tp, bool beyond,
			 uint64_t now_ms);
/* The proxy took a peer's request m: an INVITE counts against its
 * max_calls_in; any counts in its metrics. */
void trunk_state_inbound_placed(struct trunk_state *st, int peer, const struct sip_msg *m);

/* An emergency call to peer (by name) counts against its max_calls_out. */
void trunk_state_track(struct trunk_state *st, struct slice call_id, const char *peer);

/*
 * A serial call out (Call-ID call_id) fails over to peer (by name), another
 * peer than the one it counts against: may that peer be tried? A call out
 * counts against the max_calls_out of the peer trying it or that took it
 * (docs/trunks.md, Limits), so:
 * - true, and the call now counts against peer (the one before gets its
 *   slot back), when peer has room under its max_calls_out less its entry
 *   of `keep` (the slots an ordinary call keeps off for emergency calls, by
 *   peer index as struct trunk_call's keep; NULL: none);
 * - false, nothing changed, when it has none, or is no peer of the
 *   configuration (its cap is not known), or the count cannot be kept (out
 *   of memory): the caller does not try that peer;
 * - an emergency call (trunk_state_track, or restored as one) is never
 *   refused: it moves past any cap (docs/emergency.md);
 * - a call trunk/ does not count as a call out, or the peer it already
 *   counts against: true, nothing changes.
 * Only the count of calls in progress moves: the call per hour and the
 * calls_per_second token stay with the first peer (trunk_state_placed).
 */
bool trunk_state_failover(struct trunk_state *st, struct slice call_id, const char *peer,
			  const uint32_t *keep);

/* What a kept dialog says of its call (store_dialog's record fields), for
 * trunk_state_restored. NULL strings are empty. */
struct trunk_kept {
	const char *call_id;
	const char *peer;               /* the peer that took it ("": no outside call) */
	const char *klass;              /* its class's name, "emergency", or "" for a
					   call in from the peer */
	const char *user;               /* the caller's name (outbound), "" none */
	bool emergency;
};

/*
 * A kept outside call restored after a restart counts again until its record
 * is written (trunk_state_ended, which also adds its minutes): a call out
 * against the max_calls_out of the peer that took it and, unless an
 * emergency call, its caller's max_calls_per_user; a call in (no class)
 * against the peer's max_calls_in. Returns true when it now counts; false
 * when it is no outside call (no peer), already counts (the same Call-ID
 * twice), or the table of calls is full or out of memory.
 */
bool trunk_state_restored(struct trunk_state *st, const struct trunk_kept *k);
/* A call counted by trunk_state_restored whose restore failed: it no longer
 * counts, and nothing goes to the counters. Unknown call_id: nothing. */
void trunk_state_forget(struct trunk_state *st, const char *call_id);

/*
 * A call's record was written: the call no longer counts; its connected
 * seconds go to the caller's and the peer's counters (peer "": none), a
 * failed one to the peer's metrics. A burst fills *alert.
 */
void trunk_state_ended(struct trunk_state *st, const char *call_id, const char *peer,
		       int final_status, uint64_t connected_s, int64_t now,
		       uint64_t cache_version, struct trunk_alert *alert);

/* Does a phone's m name a peer's address in its Request-URI or a Route? */
bool trunk_bypass(const struct trunk_conf *tc, const struct sip_msg *m,
		  const struct sip_limits *lim);

/* ---- the counters in the store ---- */

/* Counters changed since they were last handed out? */
bool trunk_state_dirty(const struct trunk_state *st);
/*
 * The next changed counter: *key (valid until the next call into st) and
 * its text (trunk_usage_encode), *rc that function's result. False when
 * none is left.
 */
bool trunk_state_dirty_next(struct trunk_state *st, const char **key,
			    char text[TRUNK_USAGE_TEXT_MAX], int *rc);

/* A reread of the stored counters: begin, each row, then end (ok: the
 * other nodes' counts become those read; else the last reread's stay). */
struct trunk_sync {
	int64_t now;
	bool own;                 /* this node's rows too (at startup: ours go on) */
	size_t bad;               /* rows not in this build's format */
	uint64_t others;          /* the other nodes' calls of the last hour */
};
void trunk_state_sync_begin(struct trunk_state *st);
void trunk_state_sync_row(struct trunk_state *st, struct trunk_sync *c, const char *key, bool own,
			  const char *counts);
void trunk_state_sync_end(struct trunk_state *st, bool ok);

/* ---- peers: pings, registration, the tick ---- */

struct trunk_tick {
	bool sync;                  /* reread the other nodes' counters now (shared) */
	bool secrets;               /* look at the secrets file now */
	size_t nping, nreg;
	uint8_t ping[TRUNK_MAX_PEERS], reg[TRUNK_MAX_PEERS]; /* peers to ping, register */
};
/* The periodic work at now_ms (unix now): sweep idle counters, and what is due. */
void trunk_state_tick(struct trunk_state *st, struct trunk_tick *out, uint64_t now_ms, int64_t now,
		      bool shared);

/* A request to send to a peer. */
struct trunk_msg {
	char buf[2048];
	size_t len;
	char branch[64];
	struct net_msg way;
	struct net_addr dst;
	size_t peer;
	bool reg;                   /* a REGISTER (else an OPTIONS ping) */
	void *user;                 /* the tag its client transaction carries */
};

/* Peer i's ping (reg false) or REGISTER, now: trunk_state_ping or
 * trunk_state_register. */
int trunk_state_request(struct trunk_state *st, struct trunk_msg *msg, struct trunk_event *ev,
			size_t i, bool reg, uint64_t now_ms);
/* msg went out as the caller's client transaction txn (opaque here; NULL:
 * it could not be started, nothing is in flight). */
void trunk_state_sent(struct trunk_state *st, const struct trunk_msg *msg, const void *txn);
/*
 * Is txn (whose tag is user) a peer's ping or REGISTER? Returns the peer,
 * or -1 (not ours: the proxy's). *reg: a REGISTER; *current: the one in
 * flight (a REGISTER replaced by its answered challenge is still ours, but
 * its outcome no longer counts).
 */
int trunk_state_txn(const struct trunk_state *st, const void *txn, const void *user, bool *reg,
		    bool *current);
/* The outcome of peer i's current ping or REGISTER: final response m, or
 * m NULL for a timeout. True when msg is a request to send now; *ev on a
 * change of the peer's health or registration. */
bool trunk_state_outcome(struct trunk_state *st, struct trunk_msg *msg, struct trunk_event *ev,
			 size_t i, bool reg, const struct sip_msg *m, uint64_t now_ms);
/* The current ping or REGISTER of peer i ended: nothing in flight. */
void trunk_state_txn_end(struct trunk_state *st, size_t i, bool reg);
/* Client transaction txn (tag user) ended: true when it was a peer's ping
 * or REGISTER (trunk_state_txn), and when it was the one in flight its
 * peer has nothing in flight now (trunk_state_txn_end); false: not ours. */
bool trunk_state_txn_ended(struct trunk_state *st, const void *txn, const void *user);

/* Peer i's OPTIONS ping, now (the next one due ping_interval later).
 * Returns 0 (in flight until trunk_state_done), or an errno: none sent. */
int trunk_state_ping(struct trunk_state *st, struct trunk_msg *msg, size_t i, uint64_t now_ms);
/* The ping got a final response with status, or timed out. */
void trunk_state_ping_answer(struct trunk_state *st, size_t i, int status, struct trunk_event *ev);
void trunk_state_ping_timeout(struct trunk_state *st, size_t i, struct trunk_event *ev);

/* Peer i's REGISTER (RFC 3261 10.2), answering the saved challenge when
 * there is one. Returns 0 (in flight until trunk_state_done), or an errno
 * (ENOENT: no credentials, with *ev once). */
int trunk_state_register(struct trunk_state *st, struct trunk_msg *msg, struct trunk_event *ev,
			 size_t i, uint64_t now_ms);
/* Its final response m: true when msg is a new REGISTER to send now (the
 * challenge answered); *ev on a change (registered, failed). */
bool trunk_state_reg_response(struct trunk_state *st, struct trunk_msg *msg,
			      struct trunk_event *ev, size_t i, const struct sip_msg *m,
			      uint64_t now_ms);
void trunk_state_reg_timeout(struct trunk_state *st, size_t i, uint64_t now_ms,
			     struct trunk_event *ev);
/* Peer i's ping (reg false) or REGISTER is no longer in flight. */
void trunk_state_done(struct trunk_state *st, size_t i, bool reg);

/* Peer i is marked down by its pings. */
bool trunk_state_peer_down(const struct trunk_state *st, size_t i);

/*
 * The outbound TLS refusals: total is net/'s count of refused peer
 * certificates (net_stats' tls_peer_refused), r the last one
 * (net_tls_last_refusal; RFC 5922 7.1: chain, or a name that is not the
 * peer's tls_name). False when total did not move since the last call;
 * else true with ev: kind TRUNK_EVENT_PEER_TLS_REFUSED and the peer r's
 * address belongs to, or kind NULL when it is no peer's; its reason says
 * why, the name it must carry, "and earlier refusals" when more than one,
 * and that calls fail over (nothing was sent to it).
 */
bool trunk_state_tls_refused(struct trunk_state *st, struct trunk_event *ev, uint64_t total,
			     const struct net_tls_refusal *r);

struct trunk_peer_stats {
	const char *name;
	uint64_t calls_out, calls_in, failed_out;
	bool up;
};
/* Peer i's metrics; false past the last peer. */
bool trunk_state_peer_stats(const struct trunk_state *st, size_t i, struct trunk_peer_stats *out);

/* Our sent-by ("host:port", "[v6]:port") for transport tp toward family
 * fam: the first of listeners l[0..nl) that fits. False: none. */
bool trunk_sent_by(char *out, size_t cap, const struct net_listen_spec *l, size_t nl,
		   enum net_transport tp, int fam);

#endif
