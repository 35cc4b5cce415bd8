/*
 * auth: SIP digest authentication (RFC 3261 22, RFC 7616, RFC 8760), the
 * server side: nonces, the replay table, verification, challenges, key file.
 *
 * What is stored per user is only HA1 = H(user ":" realm ":" password), one
 * per algorithm; auth_ha1() computes it for the command-line tool. A request
 * is verified from the digest parameters already extracted from its
 * Authorization / Proxy-Authorization header (struct auth_params, slices
 * into the receive buffer), so this layer does not depend on the header
 * parser. Decisions are values: auth_digest_verify() fills a struct
 * auth_verdict and the caller turns it into 401/407 (with a fresh challenge,
 * stale=true for AUTH_STALE) or 400 (AUTH_BAD_PARAMS).
 *
 * Only qop=auth is accepted. Requests without qop (RFC 2069, kept by RFC
 * 2617 for compatibility) are refused on purpose: without qop there is no
 * cnonce and no nonce-count, so the only replay protection would be making
 * every nonce single-use, and a client chosen cnonce is what stops a
 * chosen-plaintext attacker from precomputing responses. Every SIP client in
 * use today sends qop=auth when the challenge offers it. The "-sess"
 * algorithms and qop=auth-int are refused too.
 *
 * Nonces are base64url of time(8) | sequence(8) | HMAC-SHA256 tag (16), the
 * tag keyed with a 32-byte server key (auth_key_load), the sequence number
 * issued by the replay table. Their age is checked against a caller-given
 * clock, so tests drive time. The replay table remembers, per nonce, the
 * highest nonce-count accepted, exactly for the last `window` nonces issued;
 * it records only requests whose response was correct. See
 * auth_nc_table_new() for its bounds.
 *
 * Not thread-safe: one event loop owns an auth_nc_table.
 */
#ifndef BASTION_AUTH_H
#define BASTION_AUTH_H

#include "../base/base.h"
#include "../sip/sip.h"

/* ---- algorithms and digest maths --------------------------------------- */

enum auth_algo {
	AUTH_ALGO_NONE = 0,
	AUTH_ALGO_MD5,      /* RFC 2617 / 3261; still what most phones send */
	AUTH_ALGO_SHA256,   /* RFC 7616 / RFC 8760 "SHA-256" */
};

#define AUTH_ALGO_BIT(a) (1u << (a))
#define AUTH_HASH_MAX 32               /* bytes of the longest digest (SHA-256) */
#define AUTH_HEX_MAX (2 * AUTH_HASH_MAX + 1) /* lowercase hex plus NUL */

/* Digest length in bytes (16, 32), 0 for AUTH_ALGO_NONE or junk. */
size_t auth_algo_len(enum auth_algo a);
/* Token as written in headers: "MD5", "SHA-256"; NULL for an unknown value. */
const char *auth_algo_name(enum auth_algo a);
/*
 * Map an algorithm parameter (case-insensitive) to its value. An empty
 * slice means MD5, the default of RFC 2617 and RFC 7616 3.3. Returns 0, or
 * EPROTO for anything else ("MD5-sess", "SHA-512-256", junk); *out is left
 * untouched on failure.
 */
int auth_algo_from(enum auth_algo *out, struct slice s);

/*
 * HA1 = H(user ":" realm ":" password), binary, into ha1 (cap bytes);
 * *len is set to auth_algo_len(algo). The caller stores this, never the
 * password, and should wipe the password afterwards. Returns 0, EINVAL (bad
 * algo, NULL pointers), EOVERFLOW (cap too small) or ENOMEM/EIO (OpenSSL).
 */
int auth_ha1(uint8_t *ha1, size_t cap, size_t *len, enum auth_algo algo, struct slice user,
	     struct slice realm, struct slice password);

/*
 * The expected qop=auth response as lowercase hex with a NUL into out (cap
 * >= 2 * auth_algo_len(algo) + 1):
 *   HA2 = H(method ":" uri), response = H(hex(HA1) ":" nonce ":" nc ":"
 *   cnonce ":" qop ":" hex(HA2)).
 * `uri` is the digest uri parameter as received, nc and qop as received
 * (they are hashed byte for byte). ha1_len must equal auth_algo_len(algo).
 * Returns 0, EINVAL, EOVERFLOW or ENOMEM/EIO.
 */
int auth_response_hex(char *out, size_t cap, enum auth_algo algo, const uint8_t *ha1,
		      size_t ha1_len, struct slice method, struct slice uri, struct slice nonce,
		      struct slice nc, struct slice cnonce, struct slice qop);

/*
 * The RFC 2069 response (RFC 2617 3.2.2.1, a challenge without qop), for
 * the client side only: response = H(hex(HA1) ":" nonce ":" hex(HA2)),
 * lowercase hex with a NUL into out (cap >= 2 * auth_algo_len(algo) + 1).
 * The server side never accepts it (see the top of this file). Returns 0,
 * EINVAL, EOVERFLOW or ENOMEM/EIO.
 */
int auth_response_noqop_hex(char *out, size_t cap, enum auth_algo algo, const uint8_t *ha1,
			    size_t ha1_len, struct slice method, struct slice uri,
			    struct slice nonce);

/*
 * The client side (auth/client.c): our answer to a peer's challenge (the
 * value of a WWW-Authenticate or Proxy-Authenticate header) for a request
 * of method to uri, with user and password: the credentials value
 * ("Digest username=..., response=...") into out (NUL-terminated, *len its
 * length), qop=auth with cnonce and nonce-count nc. A challenge without qop
 * (a carrier still on RFC 2069, RFC 2617 3.2.2.1) is answered in that
 * form: no cnonce, nc or qop in the answer. Returns 0; EPROTO for a
 * challenge we do not answer (not Digest, a qop list without auth, an unknown
 * or -sess algorithm, a parameter with quotes, backslashes or control
 * bytes); EACCES when realm_wanted is not empty and the challenge's realm
 * is another; EOVERFLOW; ENOMEM/EIO. The password is not kept.
 */
int auth_client_answer(char *out, size_t cap, size_t *len, struct slice challenge,
		       struct slice method, struct slice uri, struct slice user,
		       struct slice password, struct slice realm_wanted, struct slice cnonce,
		       uint32_t nc);

/* Lowercase hex of n bytes into out (cap >= 2n + 1, NUL-terminated).
 * Returns 0 or EOVERFLOW. */
int auth_hex(char *out, size_t cap, const uint8_t *p, size_t n);

/* ---- server key ---------------------------------------------------------- */

#define AUTH_KEY_LEN 32

/*
 * Write AUTH_KEY_LEN bytes from RAND_bytes to a new file `path`, created
 * with mode 0600 (O_CREAT | O_EXCL | O_NOFOLLOW: an existing file or link
 * is never overwritten) and fsync'd. Returns 0, EEXIST, EIO (RAND_bytes
 * failed), or the errno of open/write/fsync; on failure after creation the
 * file is removed.
 */
int auth_key_generate(const char *path);

/*
 * Read the key from `path` into key. Refuses: a symlink (O_NOFOLLOW: ELOOP),
 * anything but a regular file (EINVAL), a file with any group or other
 * permission bit, or owned by another user than us or root (EACCES), a
 * size other than AUTH_KEY_LEN (EBADMSG). Other errors are open/read's
 * errno. key is wiped on failure.
 */
int auth_key_load(uint8_t key[AUTH_KEY_LEN], const char *path);

/*
 * Replace key (the stored key on entry) by a key for this run:
 * HMAC-SHA256(stored key, 16 fresh random bytes). Nonces are made with it,
 * so a nonce from before a restart fails verification and gets a fresh
 * challenge: its counts were never seen by this run's replay table. Several
 * nodes derive one per nonce epoch (nodes/). Returns 0, or EIO with key
 * unchanged.
 */
int auth_key_derive(uint8_t key[AUTH_KEY_LEN]);

/* ---- nonces -------------------------------------------------------------- */

struct auth_nc_table;

#define AUTH_NONCE_LEN 48       /* base64url, no padding, of 36 bytes */
#define AUTH_NONCE_SKEW_S 5     /* a nonce up to this far in the future is OK */
#define AUTH_NONCE_LIFETIME_DEFAULT 300

enum auth_nonce_status {
	AUTH_NONCE_OK = 0,
	AUTH_NONCE_STALE,       /* genuine but older than the lifetime */
	AUTH_NONCE_BAD,         /* not ours: length, alphabet, tag, or future time */
};

/*
 * Make a fresh nonce for time `now` (seconds of the wall clock) into out,
 * which receives AUTH_NONCE_LEN characters and a NUL. The replay table t
 * issues its sequence number, so t must be the table that will check the
 * answers (auth_server.nc), and its epoch. Layout before encoding:
 * be64(now) | be32(epoch) | be64(seq) | HMAC-SHA256(key, "bastion-nonce-3" |
 * be64(now) | be32(epoch) | be64(seq))[0..16).
 * Returns 0, EINVAL (NULL argument) or EIO (HMAC failed; the sequence
 * number is then used up, which is harmless).
 */
int auth_nonce_make(const uint8_t key[AUTH_KEY_LEN], struct auth_nc_table *t, uint64_t now,
		    char out[AUTH_NONCE_LEN + 1]);

/*
 * Check a nonce received back from a client. Decoding is strict: exactly
 * AUTH_NONCE_LEN characters of the base64url alphabet in canonical form,
 * then a constant-time tag comparison, then time: more than
 * AUTH_NONCE_SKEW_S in the future is BAD, older than lifetime_s is STALE.
 * *age (may be NULL) is set to now - created (0 for a future nonce) unless
 * the result is BAD.
 */
enum auth_nonce_status auth_nonce_check(const uint8_t key[AUTH_KEY_LEN], struct slice nonce,
					uint64_t now, uint32_t lifetime_s, uint64_t *age);

/* ---- replay table (nonce-count) ----------------------------------------- */

#define AUTH_NC_WINDOW_DEFAULT (1u << 23)  /* 2 MiB: 20,000 nonces/s for 419 s */
#define AUTH_NC_WINDOW_MIN 1024u
#define AUTH_NC_WINDOW_MAX (1u << 28)      /* 64 MiB */
#define AUTH_NC_CAPACITY_DEFAULT 65536u    /* 1.5 MiB */
#define AUTH_NC_CAPACITY_MIN 8u
#define AUTH_NC_CAPACITY_MAX (1u << 22)    /* 96 MiB */
#define AUTH_NC_WAYS 8u         /* slots per reuse-table bucket */

/*
 * Two fixed-size parts, allocated here and never after:
 *
 * The window: 2 bits for each of the last `window` nonces issued
 * (auth_nonce_make takes a sequence number from the table), rounded up to
 * a power of two: never answered, answered with nc 1, with nc 2, or with a
 * higher nc held in the reuse table. A nonce answered for the first time
 * is therefore accepted however busy the server is, as long as fewer than
 * `window` nonces were issued after it; an older one is UNKNOWN (the caller
 * answers stale=true, the client retries with a fresh nonce), never
 * accepted afresh. Size it at least challenges per second times the nonce
 * lifetime: the default, 8,388,608 (2 MiB), covers 20,000 per second for
 * 419 s. Every challenge issues a nonce, answered or not, so a peer that
 * asks for many challenges shortens how long the window lasts, but cannot
 * make a replay succeed.
 *
 * The reuse table: for nonces answered with nc above 2 (clients reusing a
 * nonce), their highest nc; `capacity` slots of 24 bytes (rounded up to a
 * power of two number of buckets of AUTH_NC_WAYS slots). A full bucket
 * forgets its least recently used nonce, whose next use is UNKNOWN; no
 * other nonce is affected. The bucket comes from the sequence number mixed
 * with a random per-table secret, so buckets cannot be aimed at.
 *
 * Sequence numbers start at a random value, so a nonce of another table
 * (same key) is UNKNOWN here too. Each lookup touches one 2-bit state and
 * at most one bucket: O(AUTH_NC_WAYS).
 *
 * Returns 0, EINVAL (window or capacity outside MIN..MAX), ENOMEM or EIO
 * (RAND_bytes); *tp is untouched on failure.
 */
int auth_nc_table_new(struct auth_nc_table **tp, uint32_t window, uint32_t capacity);
/* Free the table and set *tp to NULL; NULL or *tp NULL is a no-op. */
void auth_nc_table_free(struct auth_nc_table **tp);

enum auth_nc_status {
	AUTH_NC_OK = 0,         /* nc is greater than any accepted before; recorded */
	AUTH_NC_REPLAY,         /* nc not greater than the highest accepted */
	AUTH_NC_UNKNOWN,        /* out of the window, evicted, not this table's, not a nonce */
};

/*
 * The epoch written into the nonces made with t from now on (0 at
 * creation). A server with one key per run can leave it at 0; several
 * nodes give each run, and each lapse of a node's lease, a new epoch
 * (struct auth_epochs below), so that another node can tell whose nonce it
 * holds.
 */
void auth_nc_table_set_epoch(struct auth_nc_table *t, uint32_t epoch);
uint32_t auth_nc_table_epoch(const struct auth_nc_table *t);
/* The sequence number the next nonce will carry (every earlier one is
 * below it): what lets a store forget the counts of nonces older than
 * their lifetime. */
uint64_t auth_nc_table_next(const struct auth_nc_table *t);

/* The epoch and sequence number a nonce carries (no key: not verified).
 * Returns 0 or EBADMSG. */
int auth_nonce_id(uint32_t *epoch, uint64_t *seq, struct slice nonce);

/* ---- other epochs (several nodes) ------------------------------------------ */

/*
 * Nonces of epochs other than the table's own: another node's, or this
 * node's before its lease lapsed (docs/scaling.md). For each epoch the set
 * knows its key, so a genuine nonce is told from a forged one, and whether
 * this node HOLDS its nonce-counts:
 * - KNOWN (not held): another node answers for its counts; a right
 *   response gets STALE (stale=true, the phone answers a fresh challenge of
 *   ours), never OK, since the counts it accepted are not here.
 * - HELD: its node died and this node took the epoch over (the store's
 *   lease says so). The counts that node accepted were loaded
 *   (auth_epochs_load_use); a use is OK when nc is above the count known for
 *   its sequence number, REPLAY when not, UNKNOWN (stale) below the floor
 *   (counts not loaded) or when the held table is full.
 * At most AUTH_EPOCHS_MAX epochs, of which AUTH_EPOCHS_HELD_MAX held, each
 * held one with room for `capacity` counts allocated when it is taken.
 */
#define AUTH_EPOCHS_MAX 64
#define AUTH_EPOCHS_HELD_MAX 8

struct auth_epochs;

enum auth_epoch_kind {
	AUTH_EPOCH_NONE = 0,    /* not known: its nonce is not ours (BAD_NONCE) */
	AUTH_EPOCH_KNOWN,
	AUTH_EPOCH_HELD,
};

/* capacity: counts per held epoch, AUTH_NC_CAPACITY_MIN..MAX. Returns 0,
 * EINVAL or ENOMEM. */
int auth_epochs_new(struct auth_epochs **ep, uint32_t capacity);
void auth_epochs_free(struct auth_epochs **ep);

/*
 * Replace the set: auth_epochs_begin, then auth_epochs_put for every epoch
 * that is to stay or come, then auth_epochs_end, which drops the others. A
 * held epoch put again as held keeps its counts; one put as held for the
 * first time starts empty, with *fresh set, and the caller loads its counts
 * (auth_epochs_load_use, auth_epochs_set_floor) before any request. Returns
 * 0, EOVERFLOW (AUTH_EPOCHS_MAX known or AUTH_EPOCHS_HELD_MAX held already
 * put: the epoch stays unknown, its nonces get a fresh challenge) or
 * ENOMEM.
 */
void auth_epochs_begin(struct auth_epochs *ep);
int auth_epochs_put(struct auth_epochs *ep, uint32_t epoch, const uint8_t key[AUTH_KEY_LEN],
		    bool held, bool *fresh);
void auth_epochs_end(struct auth_epochs *ep);
/* A count the epoch's old node accepted (held epochs only; the highest
 * count per sequence number stays). EOVERFLOW when the table is full:
 * set the floor above what was loaded instead. */
int auth_epochs_load_use(struct auth_epochs *ep, uint32_t epoch, uint64_t seq, uint32_t nc);
/* Sequence numbers below `seq` are UNKNOWN: their counts were not loaded. */
void auth_epochs_set_floor(struct auth_epochs *ep, uint32_t epoch, uint64_t seq);

/* What the set knows of epoch; *key its key unless NONE. */
enum auth_epoch_kind auth_epochs_find(const struct auth_epochs *ep, uint32_t epoch,
				      const uint8_t **key);
/* Record use nc of (epoch, seq) in a held epoch: OK, REPLAY or UNKNOWN. */
enum auth_nc_status auth_epochs_use(struct auth_epochs *ep, uint32_t epoch, uint64_t seq,
				    uint32_t nc);
/* Epochs known and held now. */
void auth_epochs_count(const struct auth_epochs *ep, size_t *known, size_t *held);
/* The held epochs' numbers into out (at most cap); returns how many. */
size_t auth_epochs_held(const struct auth_epochs *ep, uint32_t *out, size_t cap);
/* Give up every held epoch (it stays known: stale); returns how many. */
size_t auth_epochs_drop_held(struct auth_epochs *ep);

/*
 * Record the use of nonce-count nc (>= 1) with `nonce` (which the caller
 * has checked with auth_nonce_check). Call it only after the response was
 * verified. Cost O(AUTH_NC_WAYS), no allocation.
 */
enum auth_nc_status auth_nc_use(struct auth_nc_table *t, struct slice nonce, uint32_t nc);

struct auth_nc_stats {
	uint32_t window;        /* nonces the window holds, after rounding */
	uint32_t capacity;      /* reuse-table slots, after rounding */
	uint32_t used;          /* reuse-table slots holding a nonce */
	uint64_t issued;        /* sequence numbers issued */
	uint64_t evictions;     /* reuse-table slots taken from a nonce still in the window */
	uint64_t replays;       /* AUTH_NC_REPLAY answers */
	uint64_t unknown;       /* AUTH_NC_UNKNOWN answers, of which: */
	uint64_t outside;       /*   not in the window (slid out, or not issued here) */
	uint64_t forgotten;     /*   evicted from the reuse table */
	size_t bytes;           /* memory the table holds; fixed at creation */
};

/* Counters for monitoring and tests; all zero for a NULL table. */
void auth_nc_table_stats(const struct auth_nc_table *t, struct auth_nc_stats *st);

/*
 * Parse a nonce-count: exactly 8 hexadecimal digits (RFC 7616 nc-value;
 * upper case is accepted since the digits are hashed as received), value
 * >= 1. Returns 0 or EBADMSG; *out untouched on failure.
 */
int auth_nc_parse(uint32_t *out, struct slice s);

/* ---- verification ---------------------------------------------------------- */

/*
 * How the digest uri parameter must relate to the Request-URI.
 *
 * AUTH_URI_STRICT: equal under RFC 3261 19.1.4, as far as implemented:
 * byte-equal, or same scheme and host (case-insensitive), same userinfo
 * (byte-equal, escapes not decoded), same port (an absent port differs from
 * an explicit 5060), the parameters transport, user, ttl, method and maddr
 * present in both or neither, any parameter present in both equal
 * (case-insensitive), and the same headers. This binds the response to the
 * request: a man in the middle cannot send the credentials of an INVITE to
 * alice on to bob.
 *
 * AUTH_URI_RELAXED: only host[:port] counts (an absent port is 5060, 5061
 * for sips): the digest uri's host[:port] must equal the Request-URI's, or
 * one of the server's own addresses. SIPp 3.6's [authentication] puts
 * "sip:HOST:PORT" of the server there, whatever the Request-URI, and some
 * phones do the same for REGISTER. The price: the response no longer binds
 * the user part, so a man in the middle who holds back a request can
 * redirect it to another user on this server (nonce-count still stops a
 * second use). Use it only for such clients.
 */
enum auth_uri_mode { AUTH_URI_STRICT = 0, AUTH_URI_RELAXED };

/* The server's side of verification; set once from configuration. */
struct auth_server {
	const uint8_t *key;              /* AUTH_KEY_LEN bytes */
	struct auth_nc_table *nc;        /* replay table, required; its epoch is the running one */
	struct auth_epochs *others;      /* other epochs' nonces (several nodes); NULL: none */
	struct slice realm;              /* must equal the realm parameter exactly */
	uint32_t nonce_lifetime_s;       /* e.g. AUTH_NONCE_LIFETIME_DEFAULT */
	unsigned algos;                  /* AUTH_ALGO_BIT(...) of the allowed algorithms */
	enum auth_uri_mode uri_mode;
	const struct slice *own_addrs;   /* relaxed mode: "host[:port]" of this server */
	size_t n_own_addrs;
	struct slice opaque;             /* when non-empty, the client must echo it */
};

/* The digest parameters of one Authorization header, without quotes;
 * empty slices for absent ones. */
struct auth_params {
	struct slice username, realm, nonce, uri, response, algorithm, cnonce, nc, qop, opaque;
};

/* Limit on the length of any parameter above (they are slices of an
 * untrusted message; the header parser has its own limit too). */
#define AUTH_PARAM_MAX 512

enum auth_result {
	AUTH_OK = 0,
	AUTH_STALE,             /* right response, nonce expired or forgotten: stale=true */
	AUTH_BAD_NONCE,         /* nonce not made by us (or mangled) */
	AUTH_REPLAY,            /* nonce-count not increasing */
	AUTH_WRONG_RESPONSE,    /* wrong password (or HA1) */
	AUTH_BAD_PARAMS,        /* missing/invalid field, qop, algorithm, realm, opaque */
	AUTH_URI_MISMATCH,      /* digest uri does not match the Request-URI */
};

struct auth_verdict {
	enum auth_result result;
	const char *reason;     /* static text for logs and counters, no secrets */
	enum auth_algo algo;    /* algorithm of the request, once known */
	uint32_t nc;            /* parsed nonce-count, once known */
	uint64_t nonce_age;     /* seconds, once the nonce was found genuine */
	uint32_t epoch;         /* the nonce's epoch and sequence number, once decoded: */
	uint64_t seq;           /* with nc, what a shared store records of an OK use */
};

/* Stable short name of a result ("ok", "stale", ...), for counters. */
const char *auth_result_name(enum auth_result r);

/*
 * Verify one request. The caller has looked up the user by p->username and
 * p->realm, and passes the stored HA1 for algorithm `ha1_algo`, which must be
 * the request's algorithm (auth_algo_from(p->algorithm)); NULL ha1 means the
 * user is unknown, and the verdict is AUTH_WRONG_RESPONSE after the same
 * checks, so the two cases look alike to the peer. `now` is the wall clock
 * in seconds.
 *
 * Order: parameters (BAD_PARAMS), uri (URI_MISMATCH), nonce (BAD_NONCE),
 * response (WRONG_RESPONSE, compared in constant time), nonce age (STALE),
 * nonce-count (REPLAY, or STALE when the table does not know the nonce).
 * A nonce of another epoch than srv->nc's is checked with that epoch's key
 * from srv->others (BAD_NONCE when unknown) and is STALE unless the epoch
 * is held here, whose counts then decide (auth_epochs_use).
 * The replay table is touched only once the response is right.
 *
 * Returns 0 with *out filled, or EINVAL (NULL arguments, server without key
 * or table, ha1_len wrong for ha1_algo) or ENOMEM/EIO (OpenSSL) with
 * out->result = AUTH_BAD_PARAMS; never "OK" on an error.
 */
int auth_digest_verify(struct auth_verdict *out, const struct auth_server *srv,
		       const struct auth_params *p, struct slice method, struct slice request_uri,
		       const uint8_t *ha1, size_t ha1_len, enum auth_algo ha1_algo, uint64_t now);

/*
 * Is digest uri `duri` acceptable for `ruri` under `mode` (see enum
 * auth_uri_mode)? own_addrs are "host[:port]" slices, used in relaxed mode.
 */
bool auth_uri_match(struct slice duri, struct slice ruri, enum auth_uri_mode mode,
		    const struct slice *own_addrs, size_t n_own_addrs);

/* ---- challenges ------------------------------------------------------------ */

/*
 * Write the value of one WWW-Authenticate / Proxy-Authenticate header:
 *   Digest realm="R", nonce="N", algorithm=A, qop="auth"[, opaque="O"][, stale=true]
 * into buf (cap bytes, NUL-terminated), *len = bytes written without the NUL
 * (len may be NULL). The caller emits one header per allowed algorithm,
 * SHA-256 first (RFC 8760 2.4: the client uses the first it supports).
 * realm, nonce and opaque must not contain '"', '\\' or control bytes
 * (EINVAL; configuration should refuse such a realm). Returns 0, EINVAL or
 * EOVERFLOW.
 */
int auth_challenge_write(char *buf, size_t cap, size_t *len, struct slice realm,
			 struct slice nonce, enum auth_algo algo, bool stale, struct slice opaque);

/* ---- per-user algorithms --------------------------------------------------- */

/*
 * Which digest algorithms a user is challenged with (`bastion user set NAME
 * --digest`). AUTH_DIGEST_SITE follows [auth] algorithms. Stored as these
 * numbers, so the order is fixed.
 *
 * The trade-off (docs/users.md): the first challenge for a REGISTER or INVITE
 * names the user only in To/From, before any password. A user set to md5 or
 * sha256 gets a different challenge than an unknown name, which gets the site's
 * set, so a scanner can tell such users exist. Users left at the site default
 * (every user, by default) answer exactly like unknown names; set only the
 * phones that need it.
 */
enum auth_digest {
	AUTH_DIGEST_SITE = 0,
	AUTH_DIGEST_MD5 = 1,
	AUTH_DIGEST_SHA256 = 2,
	AUTH_DIGEST_BOTH = 3,
};

/* "site", "md5", "sha256", "both"; NULL for junk. */
const char *auth_digest_name(enum auth_digest d);
/* Parse one of the names above (case-insensitive, "default" = "site").
 * Returns 0 or EINVAL; *out untouched on failure. */
int auth_digest_from(enum auth_digest *out, struct slice s);

/*
 * The algorithms to offer a user, as AUTH_ALGO_BIT()s (challenges list
 * SHA-256 first, RFC 8760 2.4). `site` is the server's set, `pref` the
 * user's setting, `have` the AUTH_ALGO_BIT()s of the HA1 values stored for
 * the user. The preference picks the set (SITE: site); algorithms the user
 * has no HA1 for are dropped (an MD5-only import is challenged with MD5);
 * when nothing is left, the site's set, so the answer is that of an unknown
 * name. Pure: unit-tested.
 */
unsigned auth_offer(unsigned site, enum auth_digest pref, unsigned have);

/* ---- phones that do not take SHA-256 (watch.c) ------------------------------ */

struct auth_watch;

#define AUTH_WATCH_SLOTS 4096u  /* users tracked at once (a power of two), 24 B each */

enum auth_watch_note {
	AUTH_WATCH_NONE = 0,
	AUTH_WATCH_SHA256_UNANSWERED, /* `limit` SHA-256 challenges in a row, no success */
	AUTH_WATCH_MD5_ANSWER,        /* offered SHA-256, authenticated with MD5 */
};

/* Make (ENOMEM, EINVAL, EIO when no random hash key could be drawn) and
 * free (NULL-safe; *wp becomes NULL) the table. */
int auth_watch_new(struct auth_watch **wp);
void auth_watch_free(struct auth_watch **wp);

/*
 * A challenge offering `offer` went to the known user `user` (no credentials,
 * or none usable). Returns AUTH_WATCH_SHA256_UNANSWERED once when `limit`
 * (>= 1) such challenges offering SHA-256 came in a row without a success;
 * else AUTH_WATCH_NONE (also for limit 0, which turns the note off).
 */
enum auth_watch_note auth_watch_challenged(struct auth_watch *w, struct slice user,
					   unsigned offer, uint32_t limit);

/*
 * `user` authenticated with `algo` after being offered `offer`: resets its
 * count; returns AUTH_WATCH_MD5_ANSWER the first time (per process) it
 * chose MD5 though SHA-256 was offered, else AUTH_WATCH_NONE.
 */
enum auth_watch_note auth_watch_ok(struct auth_watch *w, struct slice user, enum auth_algo algo,
				   unsigned offer);

/* ---- requests ------------------------------------------------------------ */


/* Which of a user's passwords a lookup asks for: the current one, or the
 * one a password rotation replaced, still accepted until its deadline. */
enum auth_cred_slot { AUTH_CRED_CURRENT = 0, AUTH_CRED_OLD };

/*
 * Where the credentials of a user come from (the in-memory cache, never SQL):
 * fill ha1 (binary) for `algo` and `slot` and return 0; ENOENT for an
 * unknown user, EACCES for a disabled one, ENODATA when the user has no HA1
 * for that algorithm (e.g. imported with MD5 only) or slot (no rotation).
 */
typedef int(auth_lookup_fn)(void *arg, struct slice user, enum auth_algo algo,
			    enum auth_cred_slot slot, uint8_t *ha1, size_t cap, size_t *len);

/*
 * The algorithms to offer the user named `user` (auth_offer() of its
 * setting), or 0 when the name is unknown: the site's set is offered then.
 */
typedef unsigned(auth_offer_fn)(void *arg, struct slice user);

/* What the request path does after auth_request. A challenge offers
 * outcome.offer. */
enum auth_action {
	AUTH_ACT_CHALLENGE = 0, /* no usable credentials: 401/407 with a fresh challenge */
	AUTH_ACT_STALE,         /* good response on an old nonce: challenge with stale=true */
	AUTH_ACT_FAIL,          /* wrong password, unknown or disabled user: 403 */
	AUTH_ACT_OK,            /* authenticated as `user` */
};

struct auth_outcome {
	enum auth_action action;
	struct auth_verdict verdict;
	struct slice user;      /* the digest username (as sent; valid with the message) */
	bool had_credentials;   /* credentials for our realm were present, */
	const struct sip_hdr *credentials; /* in this header of m (else NULL): the proxy
					      drops it without parsing it again (22.3) */
	bool unknown_user, disabled_user;
	bool old_password;      /* OK or STALE with the password a rotation replaced
				   (AUTH_CRED_OLD): the caller checks its deadline */
	const char *reason;     /* for logs: no secrets */
	unsigned offer;         /* AUTH_ALGO_BIT()s to challenge with, never 0 */
	bool offer_known;       /* offer_user is a known user (the callback answered) */
	struct slice offer_user; /* whose setting chose `offer`: the digest username,
				    else the To (REGISTER) or From (proxy) user */
};

/*
 * Authenticate request m with the credentials in its Authorization (which =
 * SIP_H_AUTHORIZATION, registrar) or Proxy-Authorization (proxy) headers for
 * srv->realm; other schemes and realms are ignored (RFC 4475 3.3.7). An
 * unknown or disabled user costs the same work and ends the same way as a
 * wrong password, so a scanner cannot tell them apart. out->offer is what a
 * challenge must offer: offer(arg, user) for the digest username (or, with
 * no credentials, the To user for a REGISTER, the From user otherwise),
 * srv->algos when that is 0 (unknown) or when offer is NULL. Credentials in
 * an algorithm outside out->offer are answered with a fresh challenge.
 * A response that does not verify with the current password is tried with
 * the user's old one (slot AUTH_CRED_OLD; out->old_password when it
 * verifies); that second verification is done for every wrong response,
 * with a stand-in HA1 when there is no old password, so the work does not
 * tell which users are in a rotation's grace.
 * Returns 0 with *out set, or an errno on an internal failure (OpenSSL).
 */
int auth_request(struct auth_outcome *out, const struct auth_server *srv,
		 const struct sip_msg *m, enum sip_hdr_id which, auth_lookup_fn *lookup,
		 auth_offer_fn *offer, void *arg, uint64_t now);

/* ---- password deadlines (deadline.c) ---------------------------------------- */

/*
 * What a password rotation's deadline (`bastion rotate --passwords
 * --deadline`, docs/operations.md) means for a request that authenticated.
 * deadline 0: none. has_old: the user has an old password (new ones were
 * generated; the old one is accepted until the deadline); without one, the
 * current password itself must be changed by the deadline. used_old: the
 * request proved the old password. Pure: unit-tested.
 */
enum auth_deadline_action {
	AUTH_DEADLINE_OK = 0,   /* nothing to say */
	AUTH_DEADLINE_WARN,     /* allowed, and the user is told to change (event, Warning) */
	AUTH_DEADLINE_EXPIRED,  /* refused: 403 with reason, event */
};

struct auth_deadline_verdict {
	enum auth_deadline_action action;
	const char *event;      /* the security event, NULL for OK */
	const char *detail;     /* its reason text, no secrets */
	const char *phrase;     /* EXPIRED: the 403's reason phrase */
};

void auth_deadline_check(struct auth_deadline_verdict *v, int64_t deadline, bool has_old,
			 bool used_old, int64_t now);

/*
 * The Warning header line (CRLF included) that tells a user who
 * authenticated with a password under a rotation's deadline (a verdict of
 * AUTH_DEADLINE_WARN) by when it stops working:
 *   Warning: 399 DOMAIN "This password stops working at YYYY-MM-DDTHH:MM:SSZ: ask
 *   the administrator for the new one"
 * (RFC 3261 20.43: warn-code 399, miscellaneous; our domain as the agent).
 * Returns its length, written into out with a NUL; 0 when there is nothing
 * to say (deadline <= 0) or it does not fit in cap.
 */
int auth_deadline_warning(char *out, size_t cap, struct slice domain, int64_t deadline);

/* ---- the authentication step's decision (step.c) ----------------------------- */

/*
 * What one request's authentication comes to, for the registrar (401,
 * Authorization) and the proxy (407, Proxy-Authorization) alike: allow (as
 * the user's row), challenge (stale or not, offering `offer`), or deny
 * (status and reason). Every refusal carries the security event to record
 * (auth.replay, auth.bad_nonce, auth.failure, register.unknown_user,
 * auth.password_expired, tls.client_cert_refused, ...), so both paths log
 * the same events. The caller does the I/O around it: the credential cache
 * (one lookup per request, through auth_request's callbacks), the
 * brute-force lock, the peer's certificate, the guard (`guard` below),
 * events and the answer.
 */
enum auth_step_kind {
	AUTH_STEP_DENY = 0,        /* answer status/reason */
	AUTH_STEP_CHALLENGE,       /* 401/407 with a fresh nonce (stale, offer) */
	AUTH_STEP_ALLOW,           /* authenticated as user (user_id) */
};

/* What the brute-force guard is to be told of this request. */
enum auth_step_guard {
	AUTH_STEP_GUARD_NONE = 0,
	AUTH_STEP_GUARD_FAILED,    /* a wrong response (or a locked user's): count it;
				      guard_known says whether the name is an account */
	AUTH_STEP_GUARD_OK,        /* proved: the source becomes the user's last good one */
};

struct auth_step {
	enum auth_step_kind kind;
	bool proxy;                /* 407 and Proxy-Authorization, else 401 */
	struct slice user;         /* the digest username (valid with the message) */
	const struct sip_hdr *credentials; /* the header they were in (in the message), or NULL */
	int64_t user_id;           /* ALLOW: the user's row */
	bool stale;                /* CHALLENGE */
	unsigned offer;            /* CHALLENGE: AUTH_ALGO_BIT()s, from the user's setting */
	uint16_t status;           /* the answer's status */
	const char *reason;        /* DENY: its reason phrase */
	const char *event, *detail; /* a security event to record, or NULL; with ALLOW, the
				       password deadline's warning (the caller records it) */
	int64_t pw_deadline;       /* ALLOW: > 0 when the user must be told to change its
				      password by then (auth_deadline_warning) */
	enum auth_step_guard guard;
	bool guard_known;
};

/* The facts of the user's cache entry the step needs, read by the caller
 * from the same lookup auth_request's callbacks made. */
struct auth_step_entry {
	bool found;                /* still there after the digest (else: gone since) */
	int64_t user_id;
	int64_t pw_deadline;       /* 0: none */
	bool has_old;              /* an old password (a rotation's) is stored */
	bool require_client_cert;  /* per-user mutual TLS */
};

/* The verdict on the peer's client certificate (policy_client_cert), for
 * a user whose entry requires one. */
struct auth_step_cert {
	bool checked;              /* the caller looked (auth_step_wants_cert) */
	bool allow;
	uint16_t status;           /* !allow: the refusal */
	const char *reason, *event, *detail;
};

struct auth_step_in {
	const struct auth_outcome *ao; /* auth_request's; NULL: it failed internally */
	bool proxy;
	bool is_register;          /* an unknown user's event is register.unknown_user */
	bool locked;               /* brute-force lock from this source (the caller leaves
				      it false where a lock does not apply: emergency) */
	struct auth_step_entry entry;     /* looked at for an OK outcome */
	struct auth_deadline_verdict deadline; /* auth_deadline_check of the entry */
	struct auth_step_cert cert;       /* when auth_step_wants_cert */
};

/*
 * Does the decision reach the client certificate? True for an OK outcome
 * of a user not locked, still in the cache, whose deadline has not passed
 * and whose entry requires a certificate: only then does the caller read
 * the peer's certificate and fill in->cert (so a refused source never
 * becomes a user's last good address, and no other request pays for it).
 */
bool auth_step_wants_cert(const struct auth_step_in *in);

/*
 * The step's verdict, in this order (pure; every row is unit-tested):
 * - no outcome (internal failure): DENY 500 "Authentication Failure";
 * - CHALLENGE: 401/407, event auth.replay or auth.bad_nonce when credentials
 *   came with a replayed count or a nonce not ours, detail the outcome's reason;
 * - STALE: 401/407 with stale=true, no event;
 * - FAIL: DENY 403 "Forbidden", event register.unknown_user (unknown name on
 *   a REGISTER) or auth.failure; a wrong response is counted by the guard;
 * - OK, locked: DENY 403 auth.failure "user locked", counted as a failure of
 *   a known user;
 * - OK, entry gone: DENY 403, no event;
 * - OK, deadline EXPIRED: DENY 403 with the deadline's phrase and event;
 * - OK, certificate required and refused (or not looked at: fail closed):
 *   DENY with the certificate verdict's status, reason, event;
 * - else ALLOW as entry.user_id, the guard told of the success; with a
 *   deadline WARN, its event and pw_deadline for the Warning line.
 * user, credentials and offer come from the outcome.
 */
void auth_step_decide(struct auth_step *v, const struct auth_step_in *in);

/* The site's challenge order and what one challenge offers. */
struct auth_challenge_in {
	const enum auth_algo *order; /* [auth] algorithms in their order (at most 2 used) */
	size_t n_order;
	unsigned offer;            /* AUTH_ALGO_BIT()s (auth_step.offer) */
	bool proxy;                /* Proxy-Authenticate, else WWW-Authenticate */
	bool stale;
	struct slice realm, nonce;
};

/*
 * The header block of a 401/407: one "WWW-Authenticate: <value>\r\n"
 * ("Proxy-Authenticate: " for the proxy) per algorithm in in->offer, each
 * once, in the order of in->order (SHA-256 first by default, RFC 8760 2.4),
 * then any the site does not list (a user's own setting), SHA-256 first;
 * each value as auth_challenge_write. Written into buf (cap bytes, with a
 * NUL), *len its length. No snprintf: it runs for every challenge. Returns
 * 0, EINVAL (a realm or nonce auth_challenge_write refuses) or EOVERFLOW;
 * *len is 0 on failure.
 */
int auth_challenge_block(char *buf, size_t cap, size_t *len, const struct auth_challenge_in *in);

/* ---- the site's authentication state (site.c) -------------------------------- */

/*
 * What a server authenticates with: the nonce key of this run (derived
 * from the state's key file), the key file's own bytes (a reload that finds
 * another one derives anew), the nonce-count table, the watch for phones
 * that do not take SHA-256, the digest settings (struct auth_server srv,
 * which auth_request takes) and the challenge order. The fields are read
 * by the caller; nodes/ replaces key and sets srv.others with several
 * nodes; everything else changes through the functions below.
 */
#define AUTH_REALM_MAX 256

struct auth_site {
	uint8_t key[AUTH_KEY_LEN];       /* the run's nonce key (auth_key_derive) */
	uint8_t key_file[AUTH_KEY_LEN];  /* the stored key it came from */
	struct auth_nc_table *nc;
	struct auth_watch *watch;
	struct auth_server srv;          /* key, nc, realm, ... point into this struct */
	char realm[AUTH_REALM_MAX];
	enum auth_algo order[2];         /* [auth] algorithms, in order */
	size_t n_order;
};

struct auth_site_conf {
	struct slice realm;              /* copied; at most AUTH_REALM_MAX - 1 bytes */
	uint32_t nonce_lifetime_s;
	enum auth_uri_mode uri_mode;
	const uint8_t *algos;            /* enum auth_algo values, in order ([auth] algorithms) */
	size_t nalgos;                   /* at most 2 are kept */
	const struct slice *own_addrs;   /* "host:port" of this server (relaxed uri check); */
	size_t n_own_addrs;              /*   the caller's, alive as long as the site */
	uint32_t nonce_window, nonce_table_size; /* the table's bounds (at _new only) */
};

struct conf;

/*
 * ac from the server's configuration c ([auth]: the realm, or the domain
 * when it is empty, the nonce lifetime, uri_check, the algorithms, the
 * nonce-count table's bounds) and this server's own "host:port" addresses
 * (own, n_own: the caller's, alive as long as the site). ac's realm and
 * algorithms point into c, which auth_site_new and auth_site_set_conf copy.
 * Pure; every field of ac is set.
 */
void auth_site_conf_from(struct auth_site_conf *ac, const struct conf *c,
			 const struct slice *own, size_t n_own);

/*
 * Load the key file key_path (auth_key_load's checks), derive the run's
 * key, make the nonce-count table and the watch, apply c. Returns 0, or an
 * errno with a message naming the problem in err (the key file's path, and
 * that 'bastion init' makes one); *sp untouched on failure.
 */
int auth_site_new(struct auth_site **sp, const struct auth_site_conf *c, const char *key_path,
		  char *err, size_t errlen);
/* Wipe the keys and free; NULL-safe, *sp becomes NULL. */
void auth_site_free(struct auth_site **sp);
/* The settings a reload may change (realm, lifetime, uri mode, algorithms,
 * own addresses); the table's bounds stay. */
void auth_site_set_conf(struct auth_site *s, const struct auth_site_conf *c);

enum auth_key_reload_what {
	AUTH_KEY_SAME = 0,         /* the file holds the key already in use */
	AUTH_KEY_UNREAD,           /* not read (err): the running key stays */
	AUTH_KEY_CHANGED,          /* another key: key_file taken; the caller (several
				      nodes) starts a new epoch, which derives */
	AUTH_KEY_REPLACED,         /* another key: the run's key derived from it */
	AUTH_KEY_DERIVE_FAILED,    /* another key, its derivation failed: the running key
				      stays (key_file is the new one) */
};

struct auth_key_reload {
	enum auth_key_reload_what what;
	int err;                   /* UNREAD: auth_key_load's errno */
	char msg[1200];            /* UNREAD, REPLACED, DERIVE_FAILED: the log line */
};

/*
 * SIGHUP: reread the key file (bastion rotate --nonce-key). A changed key
 * gives a new run key at once (derive true; with several nodes, derive
 * false: the caller's new epoch does it), and every outstanding nonce then
 * fails its HMAC and gets a fresh challenge. A file that cannot be read
 * keeps the running key. The outcome and its log line come back in *r.
 */
void auth_site_reload_key(struct auth_site *s, const char *key_path, bool derive,
			  struct auth_key_reload *r);

#endif
