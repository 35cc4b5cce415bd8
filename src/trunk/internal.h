/*
 * trunk/internal.h: struct trunk_state, shared by state.c (the tables and
 * the toll-fraud counters), calls.c (the outbound and inbound decisions) and
 * peers.c (pings and outbound registration). Nothing outside trunk/
 * includes it: callers see struct trunk_state through trunk.h only.
 */
#ifndef BASTION_TRUNK_INTERNAL_H
#define BASTION_TRUNK_INTERNAL_H

#include "../base/hash.h"
#include "trunk.h"

/* An outside call in progress. */
struct tcall {
	struct htab_node node;     /* calls, keyed by Call-ID */
	char *call_id;
	char user_key[TRUNK_USER_MAX + 2]; /* "u:NAME" or "" */
	char peer_key[TRUNK_NAME_MAX + 2]; /* "o:PEER" or "i:PEER" */
	bool intl;                 /* an international (or premium) number */
	bool emergency;            /* trunk_state_track's (or a restored one): it moves
				      to the peer it fails over to past any cap */
};

/* The toll-fraud counters of a user ("u:NAME") or a peer ("p:NAME"). */
struct tusage {
	struct htab_node node;
	struct trunk_usage u;
	bool held;                 /* we put the user on hold; the cache may not know yet */
	uint64_t held_version;     /* the cache's version when we did */
	bool was_held;             /* on hold when last looked at: a lifted hold forgives */
	bool dirty;                /* its rings changed since they were last stored */
	struct tusage *next_dirty;
	/* the other nodes' counts being reread: made the _ext of u only once
	 * the whole reread worked (trunk_state_sync_end) */
	uint32_t ext_calls;
	uint64_t ext_secs[2];
	char key[TRUNK_USER_MAX + 2];
};

/* A count of calls in progress, keyed by "u:USER", "o:PEER", "i:PEER". */
struct tcount {
	struct htab_node node;
	uint32_t n;
	char key[TRUNK_USER_MAX + 2];
};

/* A peer's health and registration, by its index in the configuration;
 * the name tells whether a reload put another peer there since. */
struct pstate {
	char name[TRUNK_NAME_MAX];
	bool ping_busy;            /* a ping in flight, until trunk_state_done */
	const void *ping_txn, *reg_txn; /* the caller's handles of those in flight */
	bool down;
	bool answered;             /* the ping in flight got a final response */
	uint64_t next_ms;          /* when to ping next */
	uint64_t calls_out, calls_in, failed_out;
	struct trunk_bucket cps_out, cps_in; /* calls_per_second, each way */
	struct preg {
		bool busy;             /* a REGISTER in flight */
		bool registered;       /* the last REGISTER got its 2xx */
		bool failed;           /* the last one failed (reported once) */
		bool auth_sent;        /* the one in flight carries our credentials */
		uint32_t cseq, nc;
		uint64_t next_ms;      /* when to register (again) */
		char call_id[64];
		char chal[512];        /* the last challenge, for the refreshes */
		bool chal_proxy;       /* it was a 407 */
	} reg;
};

#define TRUNK_USAGE_SWEEP_MS (300u * 1000u) /* idle counters dropped this often */
#define TRUNK_FRAUD_SYNC_MS 2000u           /* a shared store: other nodes reread */
#define TRUNK_SECRETS_CHECK_MS 1000u        /* the secrets file looked at */
#define TRUNK_REG_RETRY_MS (60u * 1000u)    /* after a failed registration */

struct trunk_state {
	struct trunk_env env;
	struct htab calls, counts, usage;
	struct pstate ps[TRUNK_MAX_PEERS];
	uint64_t seq;              /* makes ping branches and Call-IDs unique */
	uint64_t next_sweep_ms, next_sync_ms, next_secrets_ms;
	struct hash_key dest_key;  /* keys the destination map of the burst alert */
	struct trunk_secrets secrets;
	struct secrets_seen {      /* the secrets file when last looked at (secrets.c) */
		bool loaded;       /* st_ino etc. set: a file was taken or refused */
		bool tried;        /* looked at once: an error opening it was said */
		uint64_t dev, ino, size;
		uint32_t mode;
		int64_t mtime_s, mtime_ns;
	} secrets_seen;
	struct tusage *dirty;      /* changed since the last write, through next_dirty */
	uint64_t tls_refused_seen; /* net/'s count of refused peer certificates, last look */
};

/* state.c, for calls.c and peers.c */
uint32_t trunk_count_of(struct trunk_state *st, const char *key);
struct tusage *trunk_usage_of(struct trunk_state *st, const char *key, bool create);
void trunk_usage_dirty(struct trunk_state *st, struct tusage *u);
int trunk_track(struct trunk_state *st, struct slice call_id, const char *user_key,
		const char *peer_key, bool intl);
void trunk_burst_check(struct trunk_state *st, struct tusage *u, struct slice user, int64_t now,
		       uint64_t cache_version, struct trunk_alert *alert);
bool trunk_held(struct trunk_state *st, struct tusage *u, bool store_hold, uint64_t version);
/* Has a peer with `used` calls out in progress room for one more under its
 * max_calls_out (0: no cap) less the `keep` slots kept for emergency
 * calls? The one test of targets() and trunk_state_failover. */
bool trunk_peer_room(uint32_t used, uint32_t max_calls_out, uint32_t keep);

#endif
