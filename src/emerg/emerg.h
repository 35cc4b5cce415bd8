/*
 * emerg: emergency calls (docs/emergency.md; guide: Service Availability >
 * Emergency Services; issue 13).
 *
 * Pure decisions and builders, no I/O, no clock (callers pass the time):
 * - recognition: is a dialed number (a sip:/sips: user part or a tel:
 *   number, %-escaped or not, with visual separators, with the outside-line
 *   prefix, as "+" country code and number) one of the configured emergency
 *   numbers ([emergency] numbers, default 911, 112, 933);
 * - route choice: the route of that number ([emergency_routes]), its peers
 *   that are up first, then any gateway as the last resort;
 * - location: civic addresses (RFC 5139 elements) of users and of the
 *   networks phones register from ([location NAME] sections: prefixes, the
 *   address, an ELIN), checked when they are set (field limits, no control
 *   characters, valid UTF-8), kept as one line of text in the store;
 * - the PIDF-LO document (RFC 4119, civic per RFC 5139), XML-escaped, and
 *   the multipart/mixed body (RFC 2046) that carries it next to the SDP,
 *   referenced by the Geolocation header (RFC 6442);
 * - a token bucket that bounds what emergency INVITEs may take past the
 *   guard's budgets.
 *
 * struct emerg_state (state.c, below) owns the calls in progress and
 * allocates; the rest allocates nothing. server/emerg.c does the sending;
 * tests/unit/test_emerg.c and test_emerg_state.c drive all of it.
 */
#ifndef BASTION_EMERG_H
#define BASTION_EMERG_H

#include "../base/base.h"
#include "../net/net.h"
#include "../sip/sip.h"
#include "../trunk/trunk.h"

#define EMERG_MAX_NUMBERS 8        /* [emergency] numbers */
#define EMERG_NUMBER_MAX 8         /* digits of one emergency number, with NUL */
#define EMERG_MAX_LOCATIONS 64     /* [location NAME] sections */
#define EMERG_MAX_PREFIXES 8       /* prefixes of one location */
#define EMERG_MAX_NOTIFY 8         /* [emergency] notify users */
#define EMERG_LOC_TEXT_MAX 512     /* a civic address as stored text, with NUL */
#define EMERG_PIDF_MAX 2048        /* the PIDF-LO document */

#define EMERG_EVENT_CALL "emergency.call"
#define EMERG_EVENT_REFUSED "emergency.refused"
#define EMERG_EVENT_NO_PEER "emergency.no_peer"

/* The civic elements kept (RFC 5139 names), in the schema's order. */
enum emerg_field {
	EMERG_COUNTRY = 0, /* country: ISO 3166 alpha-2, two letters */
	EMERG_A1,          /* region, state */
	EMERG_A3,          /* city */
	EMERG_RD,          /* street */
	EMERG_HNO,         /* house number */
	EMERG_FLR,         /* floor */
	EMERG_BLD,         /* building */
	EMERG_ROOM,        /* room */
	EMERG_FIELD_COUNT
};

/* A civic address; "" for a field not set. Sizes are the field limits. */
struct emerg_civic {
	char f[EMERG_FIELD_COUNT][72];
	char elin[TRUNK_NUM_MAX];  /* callback number for this place (E.164), or "" */
};

struct emerg_location {
	char name[TRUNK_NAME_MAX];
	unsigned line;
	struct trunk_prefix prefix[EMERG_MAX_PREFIXES];
	size_t nprefixes;
	struct emerg_civic civic;
};

struct emerg_conf {
	/* [emergency], from the settings table (conf/) */
	char numbers_text[128];    /* "911, 112, 933" */
	char notify_text[512];     /* local users told of each call */
	uint32_t allow_unauthenticated; /* 0 no, 1 yes */
	uint32_t geolocation_routing;   /* 0 no, 1 yes */
	uint32_t reserved_slots;   /* per emergency peer, kept from ordinary calls */
	uint32_t max_calls;        /* emergency calls in progress at once */
	uint32_t rate;             /* emergency INVITEs/s admitted past the guard */
	uint32_t reserved_transactions; /* transactions only emergency calls may use */
	uint32_t reserved_dialogs; /* dialogs beyond [proxy] max_dialogs only emergency calls use */
	/* filled by emerg_conf_check from the texts */
	char numbers[EMERG_MAX_NUMBERS][EMERG_NUMBER_MAX];
	size_t nnumbers;
	char notify[EMERG_MAX_NOTIFY][TRUNK_USER_MAX];
	size_t nnotify;
	/* [emergency_routes] and [location NAME] */
	struct trunk_route route[EMERG_MAX_NUMBERS]; /* key: the number */
	size_t nroutes;
	struct emerg_location loc[EMERG_MAX_LOCATIONS];
	size_t nlocs;
};

/* ---- configuration ---------------------------------------------------------- */

/* No routes, no locations (the settings table fills the rest). */
void emerg_conf_init(struct emerg_conf *c);

/* Is section one of ours ("emergency_routes", "location NAME")? */
bool emerg_section(const char *section);

/* One line: key = value in section, at line. Returns 0 or EINVAL with err. */
int emerg_conf_set(struct emerg_conf *c, const char *section, const char *key, const char *value,
		   unsigned line, char *err, size_t errlen);

/*
 * The checks of the whole file, after trunk_conf_check: the numbers and
 * notify lists parse; a route is for a configured number and names known
 * peers (filled as indices); two locations' prefixes do not overlap.
 * Returns 0 or EINVAL with *line (may be 0) and err.
 */
int emerg_conf_check(struct emerg_conf *c, const struct trunk_conf *tc, unsigned *line, char *err,
		     size_t errlen);

/* ---- recognition -------------------------------------------------------------- */

/*
 * Is uri (a Request-URI) a call to an emergency number? Its user part (or
 * tel: number) is %-unescaped and stripped of visual separators; then the
 * outside-line prefix of tc, when set, may come first, and "+" with tc's
 * country code may too. Returns the index into c->numbers, or -1.
 */
int emerg_match(const struct emerg_conf *c, const struct trunk_conf *tc, const struct sip_uri *uri);
/* The same from a user part or number alone (still escaped). */
int emerg_match_user(const struct emerg_conf *c, const struct trunk_conf *tc, struct slice user);

/*
 * Before parsing: is the datagram or stream chunk p[0..len) an INVITE whose
 * Request-URI is an emergency number? Reads the request line only (at most
 * its first 512 bytes), so the guard can admit it first. A false answer
 * costs nothing but the normal path.
 */
bool emerg_request_line(const struct emerg_conf *c, const struct trunk_conf *tc, const char *p,
			size_t len);

/*
 * The peers an emergency call to number n goes to, in order: the number's
 * route's peers that are not down; then every other gateway that is not
 * down (the last resort); with none of those up, the route's peers and the
 * gateways all the same (a peer marked down may still answer). Without a
 * route for n: every gateway. down[i] says whether peer i is marked down.
 * Returns how many (0: no peer at all).
 */
size_t emerg_route(const struct emerg_conf *c, const struct trunk_conf *tc, size_t n,
		   const bool down[TRUNK_MAX_PEERS], uint8_t out[TRUNK_MAX_PEERS]);

/*
 * Can emergency number n reach a peer with the listeners l[0..nl)? A UDP
 * address needs a UDP listener of its family (the socket it is sent from);
 * TCP and TLS are connections of our own. False when no peer the number
 * would go to (emerg_route, all up) has such an address, or when its own
 * [emergency_routes] entry names only peers without one (the gateways would
 * then take the calls meant for the emergency service).
 */
bool emerg_reachable(const struct emerg_conf *c, const struct trunk_conf *tc, size_t n,
		     const struct net_listen_spec *l, size_t nl);

/* Is peer i on some emergency route (its last reserved_slots calls are
 * kept from ordinary traffic)? */
bool emerg_peer_reserved(const struct emerg_conf *c, size_t i);
/* The slots ordinary calls keep off, per peer of the first npeers (at most
 * TRUNK_MAX_PEERS): reserved_slots for a peer on an emergency route, else 0
 * (struct trunk_call's keep). */
void emerg_reserved_slots(const struct emerg_conf *c, uint32_t keep[TRUNK_MAX_PEERS],
			  size_t npeers);

/* ---- locations ----------------------------------------------------------------- */

const char *emerg_field_name(enum emerg_field f);
/* The limit of field f in bytes (without the NUL). */
size_t emerg_field_limit(enum emerg_field f);

/*
 * Set field `key` (an RFC 5139 name, any case: country, A1, A3, RD, HNO,
 * FLR, BLD, ROOM, or ELIN) of c to value. Refused with EINVAL and err: an
 * unknown name, a value over the field's limit (EOVERFLOW), a control
 * character or invalid UTF-8, a country that is not two letters, an ELIN
 * that is not E.164.
 */
int emerg_civic_set(struct emerg_civic *c, const char *key, const char *value, char *err,
		    size_t errlen);

/*
 * The stored text form: "country=US;A1=NY;RD=Main Street", fields in order,
 * '%', ';' and '=' written %25, %3B, %3D. emerg_civic_parse reads it back
 * (and what an administrator types), checking every field as
 * emerg_civic_set does. Returns 0, EOVERFLOW, or EINVAL with err.
 */
int emerg_civic_format(char *out, size_t cap, const struct emerg_civic *c);
int emerg_civic_parse(struct emerg_civic *c, const char *text, char *err, size_t errlen);
bool emerg_civic_empty(const struct emerg_civic *c);

/* The location whose prefixes hold a, or NULL. */
const struct emerg_location *emerg_location_of(const struct emerg_conf *c, const struct net_addr *a);

/* ---- what goes to the PSAP --------------------------------------------------------- */

/*
 * The PIDF-LO document (RFC 4119) of civic address c for entity (a
 * "pres:user@domain" URI; escaped here too), tuple id `id`, at unix time
 * `when`: presence / tuple / status / geopriv / location-info /
 * civicAddress with c's fields in RFC 5139 order, usage-rules, method,
 * timestamp. Every text is XML-escaped. Returns 0 and *len, or EOVERFLOW.
 */
int emerg_pidf(char *out, size_t cap, size_t *len, const struct emerg_civic *c,
	       const char *entity, const char *id, int64_t when);

/*
 * A multipart/mixed body (RFC 2046 5.1): the first part sdp (Content-Type
 * sdp_type, skipped when sdp is empty), then the PIDF-LO with Content-Type
 * application/pidf+xml and Content-ID <cid>. boundary is chosen from seed
 * so that it occurs in neither part; its Content-Type header value
 * ("multipart/mixed;boundary=...") goes to ctype. Returns 0, EOVERFLOW, or
 * EINVAL (sdp_type has a control character, cid is unusable).
 */
int emerg_multipart(char *out, size_t cap, size_t *len, char *ctype, size_t ctype_cap,
		    struct slice sdp_type, struct slice sdp, const char *cid, struct slice pidf,
		    uint64_t seed);

/* ---- the bypass budget -------------------------------------------------------------- */

/* Emergency INVITEs admitted past the guard's budgets: rate per second,
 * burst 2 x rate. rate 0: none. */
struct emerg_bucket {
	uint64_t last_ms;
	uint64_t milli;            /* tokens x 1000 */
	bool started;
};

bool emerg_bucket_take(struct emerg_bucket *b, uint32_t rate, uint64_t now_ms);

/* ---- the calls in progress and the decisions on a new one (state.c) ---------------
 *
 * struct emerg_state owns the emergency calls in progress (a base/hash table
 * by Call-ID and a list, at most [emergency] max_calls), the bypass bucket,
 * and the sequence that makes Content-IDs, branches and Call-IDs unique.
 * Its decisions are values (refuse with a status, or these targets); it
 * builds what goes out (the body with the PIDF-LO and the headers, the
 * on-site MESSAGE with our sent-by of env's listeners) as bytes, and says
 * whether an unauthenticated caller gets through. No I/O, no clock:
 * server/emerg.c hands in the time, the user's stored location and the
 * address its phone registered from, authenticates, sends and logs.
 * tests/unit/test_emerg_state.c drives it.
 */
struct emerg_state;

struct emerg_env {
	const struct emerg_conf *conf;   /* reloaded in place (SIGHUP) */
	const struct trunk_conf *trunk;
	const char *domain;
	/* The way to reach address a of peer p. Returns 0 or an errno (skipped). */
	int (*way)(void *arg, const struct trunk_peer *p, const struct net_listen_spec *a,
		   struct net_msg *way);
	void *arg;
	const struct net_listen_spec *listeners; /* ours: the sent-by of a notification */
	size_t nlisteners;
};

/* A new state for env (copied). Returns 0 or ENOMEM; *sp untouched on failure. */
int emerg_state_new(struct emerg_state **sp, const struct emerg_env *env);
/* Free it; *sp becomes NULL. NULL is fine. */
void emerg_state_free(struct emerg_state **sp);

/* Before parsing, for a message the guard would drop: is buf[0..len) an
 * emergency INVITE, and has the bucket a token at now_ms (taken)? */
bool emerg_state_admit(struct emerg_state *st, const char *buf, size_t len, uint64_t now_ms);
/* Is call_id an emergency call in progress? How many are? */
bool emerg_state_has(const struct emerg_state *st, struct slice call_id);
size_t emerg_state_calls(const struct emerg_state *st);

/* A call was sent: it counts (against max_calls and its caller's one at a
 * time) until its record is written. who as in struct emerg_decision. */
void emerg_state_add(struct emerg_state *st, struct slice call_id, const char *who);
/* A refused emergency INVITE's record is about to be written (on), or was
 * (off): it is marked emergency, and counted as refused. */
void emerg_state_refusing(struct emerg_state *st, bool on);
/* A call record for call_id is written (emergency: the proxy marked it
 * one of ours). True when the record must be marked emergency (a refused
 * call's); the call no longer counts. */
bool emerg_state_ended(struct emerg_state *st, const char *call_id, bool emergency);
/* A restored call's count, when its restore failed. */
void emerg_state_forget(struct emerg_state *st, const char *call_id);
/* A kept emergency dialog restored after a restart: it counts again; its
 * caller is auth_user, else the address of src ("udp:HOST:PORT"). */
void emerg_state_restored(struct emerg_state *st, const char *call_id, const char *auth_user,
			  const char *src);

#define EMERG_MAX_TARGETS (TRUNK_MAX_PEERS * TRUNK_MAX_ADDRS)

struct emerg_target {
	struct net_msg way;
	char contact[160];
	const char *label;             /* the peer's name, for the call record */
};

struct emerg_decision {
	uint16_t status;               /* 0: send to t[0..n) in order; else refuse */
	const char *reason, *detail;
	const char *event;             /* an event to record before the refusal's own, with
					  event_detail: emergency.no_peer when no peer is
					  reachable; else NULL */
	const char *event_detail;
	char who[TRUNK_USER_MAX + 2];  /* "u:NAME" or "a:ADDRESS": one call at a time each */
	struct emerg_target t[EMERG_MAX_TARGETS];
	size_t n;
	int first;                     /* the peer that gets the INVITE first */
};

/*
 * An INVITE to emergency number `number` (emerg_match) by user (empty: an
 * unauthenticated device at src): refused when it routes beyond us (403),
 * at [emergency] max_calls (503), or while the caller has one in progress
 * (486); else the targets of the number's peers (emerg_route with down),
 * 503 with event emergency.no_peer when none is reachable.
 */
void emerg_state_decide(struct emerg_state *st, struct emerg_decision *d, int number,
			struct slice user, const struct net_addr *src, bool beyond,
			const bool down[TRUNK_MAX_PEERS]);

/*
 * Where the caller is: the user's own location (user_text, its stored
 * form; NULL or "" none), else the [location] of the address its phone
 * registered from (reg_src; NULL: none), else of src. Fills civ and the
 * callback number elin; returns "user", "network" or "none".
 */
const char *emerg_locate(const struct emerg_conf *ec, const char *user_text,
			 const struct net_addr *reg_src, const struct net_addr *src,
			 struct emerg_civic *civ, char *elin, size_t elin_cap);

/* What goes out with an emergency call. */
struct emerg_send {
	char *body;                    /* the multipart body (owned); body_len 0: the SDP as is */
	size_t body_len, body_cap;
	char ctype[96];                /* its Content-Type, "" with no body */
	char extra[1024];              /* Geolocation, P-Asserted-Identity, Priority */
	char loc_text[EMERG_LOC_TEXT_MAX]; /* the location sent, for the record */
	const char *callback;          /* the callback number, or NULL */
	char detail[EMERG_LOC_TEXT_MAX + 128]; /* for event emergency.call */
	char notify[1024];             /* the on-site MESSAGE's text */
};

/*
 * Compose o for a call to `number` by user located (how, civ, elin:
 * emerg_locate), whose phone sent sdp of type sdp_type, at now_ms
 * (monotonic) and now (unix seconds). Returns 0 or ENOMEM; free o's body
 * with emerg_send_fini either way.
 */
int emerg_state_compose(struct emerg_state *st, struct emerg_send *o, int number,
			struct slice user, const char *how, const struct emerg_civic *civ,
			const char *elin, struct slice sdp_type, struct slice sdp, uint64_t now_ms,
			int64_t now);
void emerg_send_fini(struct emerg_send *o);

/*
 * The on-site notification: a MESSAGE (RFC 3428) with text to contact (a
 * registered phone of the user whose AOR is aor), sent the way `way` (its
 * transport, and its family for our sent-by: the first of env's listeners
 * that fits), into buf; its branch. Returns 0, ENOENT (no listener of
 * ours fits the way: nothing built) or EOVERFLOW.
 */
int emerg_state_notify(struct emerg_state *st, char *buf, size_t cap, size_t *len,
		       char branch[64], const char *contact, const struct net_msg *way,
		       const char *aor, const char *text);

/* A user's AOR in our domain ("sip:USER@DOMAIN") into out. Returns 0, or
 * EOVERFLOW (user empty or too long for cap). */
int emerg_state_aor(const struct emerg_state *st, char *out, size_t cap, size_t *len,
		    struct slice user);

/* The number as dialed (the Request-URI's user part), for the call record:
 * as it is when it fits cap with its NUL, else "". */
void emerg_dialed(char *out, size_t cap, const struct sip_uri *ruri);

/* What the authentication step's result makes of an emergency caller. */
enum emerg_caller {
	EMERG_CALLER_USER,      /* authenticated: the call is the user's */
	EMERG_CALLER_DEVICE,    /* an unauthenticated device ([emergency]
				   allow_unauthenticated); with wrong credentials
				   the authentication's event is logged first */
	EMERG_CALLER_REFUSE,    /* answer as the authentication step says; when it
				   denied, event emergency.refused first */
};
/* The authentication step's result, made into what happens to the caller. */
struct emerg_caller_verdict {
	enum emerg_caller who;
	bool auth_event;               /* record the authentication step's own event
					  first (DEVICE: its credentials were wrong) */
	const char *refused;           /* REFUSE after a denial: record event
					  emergency.refused with this detail first;
					  else NULL */
};
/* authenticated: the step allowed the caller; else it denied (denied: wrong
 * credentials, a disabled user) or would challenge (no credentials), and
 * [emergency] allow_unauthenticated decides. A pure function. */
void emerg_caller_decide(struct emerg_caller_verdict *v, const struct emerg_conf *ec,
			 bool authenticated, bool denied);

#endif
