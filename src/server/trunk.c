/*
 * server/trunk.c: the request path's side of trunk/ (docs/trunks.md).
 *
 * - Outbound: a phone's authenticated call to something that is no local
 *   user is normalised to E.164, classified, checked against the caller's
 *   calling class (403, call.class_denied) and the caps on outside calls
 *   (403, fraud.limit), routed by the dial plan, and sent to the route's
 *   peers one after another (proxy_fork_serial: failover on 408, 5xx and
 *   timeouts; a 6xx ends it). Only this path ever picks a peer as next hop.
 * - No bypass: a phone's request whose Request-URI or Route names a peer's
 *   address is refused (403, call.gateway_bypass): phones never reach a
 *   gateway except through the dial plan (SIP security paper: the
 *   gateway-bypass ACL; guide, PSTN gateway: signaling only from the call
 *   server).
 * - Inbound: a request from a peer's address (and transport) is not
 *   challenged (peers don't answer digest); it reaches a local user through
 *   the DID map only, never another peer (no transit). A trusted peer's
 *   P-Asserted-Identity is passed on, anyone else's removed.
 *
 * The caps count calls in progress in a table keyed by Call-ID (base/hash),
 * released when the call's record is written (op_record), which happens
 * exactly once per call that proxy_fork took.
 *
 * Toll fraud: each user and peer that places or takes outside calls has a
 * fixed-size counter (struct trunk_usage: calls per hour, minutes per day,
 * the burst window) in a table bounded by [auth] max_users plus the peers;
 * idle ones are dropped every few minutes. The limits are checked in one
 * place (user_limits) before a call leaves; a burst raises fraud.alert and,
 * with [fraud] suspend, puts the user's outside calling on hold in the
 * store (users.fraud_hold), where the cache and every node see it.
 * The hour and day rings are kept in the store too (store_fraud_*): a
 * counter that changed is written in the next batch of call records
 * (server_trunk_fraud_write, from server_cdr_flush: never a write on the
 * call's path), this node's rows are read back at startup, and on a shared
 * store (PostgreSQL) the other nodes' rows are reread every FRAUD_SYNC_MS
 * and counted against the same limits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "internal.h"

/* An outside call in progress. */
struct tcall {
	struct htab_node node;     /* calls, keyed by Call-ID */
	char *call_id;
	char user_key[TRUNK_USER_MAX + 2]; /* "u:NAME" or "" */
	char peer_key[TRUNK_NAME_MAX + 2]; /* "o:PEER" or "i:PEER" */
	bool intl;                 /* an international (or premium) number */
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
	/* the other nodes' counts being reread (fraud_sync): made the _ext of
	 * u only once the whole reread worked */
	uint32_t ext_calls;
	uint64_t ext_secs[2];
	char key[TRUNK_USER_MAX + 2];
};

#define FRAUD_SYNC_MS 2000u /* a shared store: other nodes' counts reread this often */

#define USAGE_SWEEP_MS (300u * 1000u) /* idle counters dropped this often */

/* A count of calls in progress, keyed by "u:USER", "o:PEER", "i:PEER". */
struct tcount {
	struct htab_node node;
	uint32_t n;
	char key[TRUNK_USER_MAX + 2];
};

/* The OPTIONS ping of a peer (by its index in the configuration; the name
 * tells whether a reload put another peer there since). */
struct pstate {
	char name[TRUNK_NAME_MAX];
	struct txn_client *ct;     /* the ping in flight, until terminated */
	bool down;
	bool answered;             /* the ping in flight got a final response */
	uint64_t next_ms;          /* when to ping next */
	/* metrics (server_trunk_metrics) */
	uint64_t calls_out, calls_in, failed_out;
	/* calls_per_second, each way */
	struct trunk_bucket cps_out, cps_in;
	struct preg {
		struct txn_client *ct; /* the REGISTER in flight (its user is this struct) */
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

#define REG_RETRY_MS (60u * 1000u) /* after a failed registration */

struct server_trunks {
	struct htab calls, counts, usage;
	struct pstate ps[TRUNK_MAX_PEERS];
	uint64_t seq;              /* makes ping branches and Call-IDs unique */
	uint64_t next_sweep_ms;
	struct hash_key dest_key;  /* keys the destination map of the burst alert */
	uint64_t tls_refused_seen; /* net_stats' tls_peer_refused at the last tick */
	/* [trunks] secrets: the peers' credentials, and which file they came from */
	struct trunk_secrets secrets;
	struct stat secrets_st;    /* st_ino 0: none loaded (absent or refused) */
	bool secrets_tried;
	uint64_t next_secrets_ms;
	/* the toll-fraud counters in the store (server_trunk_fraud_write) */
	struct tusage *dirty;      /* changed since the last write, a list through next_dirty */
	bool shared;               /* PostgreSQL: other nodes count too */
	uint64_t others_seen;      /* their calls of the last hour at the last reread */
	bool sync_failed;          /* the last reread failed (logged once) */
	uint64_t next_fraud_sync_ms;
};

#define SECRETS_FILE_MAX 65536
#define SECRETS_CHECK_MS 1000

static void secrets_load(struct server *s);
static void fraud_sync(struct server *s, bool own);

int server_trunk_start(struct server *s)
{
	struct server_trunks *t = calloc(1, sizeof(*t));
	size_t max = s->conf.max_dialogs ? s->conf.max_dialogs : 1;
	int rc;

	if (!t)
		return ENOMEM;
	if ((rc = htab_init(&t->calls, max)) != 0 || (rc = htab_init(&t->counts, max)) != 0 ||
	    (rc = htab_init(&t->usage, (size_t)s->conf.max_users + TRUNK_MAX_PEERS)) != 0 ||
	    (rc = hash_key_random(&t->dest_key)) != 0) {
		htab_fini(&t->calls);
		htab_fini(&t->counts);
		htab_fini(&t->usage);
		free(t);
		return rc;
	}
	s->trunks = t;
	secrets_load(s);
	t->shared = store_is_remote(s->conf.database);
	fraud_sync(s, true);
	return 0;
}

static void free_call(struct htab_node *n, void *arg)
{
	struct tcall *c = (struct tcall *)n;

	(void)arg;
	free(c->call_id);
	free(c);
}

static void free_count(struct htab_node *n, void *arg)
{
	(void)arg;
	free(n);
}

/* ---- peers' credentials ([trunks] secrets) ---------------------------------------- */

struct secrets_parse {
	struct trunk_secrets *into;
	char err[200];
	bool failed;
};

static int secrets_line(void *arg, const char *section, const char *key, const char *value)
{
	struct secrets_parse *sp = arg;

	if (sp->failed)
		return 0;
	if (trunk_secret_set(sp->into, section, key, value, sp->err, sizeof(sp->err)) != 0) {
		sp->failed = true;
		return 0;
	}
	return 1;
}

/* Read the secrets file when it changed (or first): a regular file only its
 * owner may read; a missing one means no credentials. A refused file keeps
 * what was loaded, and says why once. Nothing of its content is logged. */
static void secrets_load(struct server *s)
{
	struct server_trunks *t = s->trunks;
	char path[1100], *buf = NULL;
	struct trunk_secrets *tmp = NULL;
	struct secrets_parse sp = { 0 };
	struct stat st;
	ssize_t got;
	size_t len = 0;
	int fd, line;

	if (!s->conf.trunk_secrets[0] ||
	    conf_state_path(path, sizeof(path), s->state, s->conf.trunk_secrets) != 0)
		return;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && t->secrets_st.st_ino) {
			log_notice("%s is gone: no peer credentials", path);
			trunk_secrets_wipe(&t->secrets);
			memset(&t->secrets_st, 0, sizeof(t->secrets_st));
		} else if (errno != ENOENT && !t->secrets_tried) {
			log_error("%s: %s: peer credentials not loaded", path, strerror(errno));
		}
		t->secrets_tried = true;
		return;
	}
	if (fstat(fd, &st) != 0)
		goto out;
	if (t->secrets_st.st_ino == st.st_ino && t->secrets_st.st_dev == st.st_dev &&
	    t->secrets_st.st_size == st.st_size && t->secrets_st.st_mode == st.st_mode &&
	    t->secrets_st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
	    t->secrets_st.st_mtim.tv_nsec == st.st_mtim.tv_nsec)
		goto out; /* unchanged */
	t->secrets_tried = true;
	t->secrets_st = st; /* tried: not again until it changes */
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_size > SECRETS_FILE_MAX) {
		log_error("%s: refused: it must be a regular file of at most %d bytes that only "
			  "its owner may read (chmod 600); the peer credentials stay as they were",
			  path, SECRETS_FILE_MAX);
		goto out;
	}
	if (!(buf = malloc((size_t)st.st_size + 1)) || !(tmp = calloc(1, sizeof(*tmp))))
		goto out;
	while (len < (size_t)st.st_size &&
	       (got = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)got;
	buf[len] = '\0';
	sp.into = tmp;
	line = ini_parse_string(buf, secrets_line, &sp);
	if (line != 0 || sp.failed || trunk_secrets_check(tmp, sp.err, sizeof(sp.err)) != 0) {
		log_error("%s:%d: %s; the peer credentials stay as they were", path, line,
			  sp.err[0] ? sp.err : "not an INI file");
		goto out;
	}
	trunk_secrets_wipe(&t->secrets);
	t->secrets = *tmp;
	log_info("%s: credentials of %zu peer(s) loaded", path, tmp->n);
	for (size_t i = 0; i < tmp->n; i++) {
		bool known = false;
		for (size_t j = 0; j < s->conf.trunk.npeers; j++)
			known |= strcmp(s->conf.trunk.peer[j].name, tmp->s[i].peer) == 0;
		if (!known)
			log_warn("%s: [%s] names no peer of bastion.conf", path, tmp->s[i].peer);
	}
out:
	if (buf) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	if (tmp) {
		trunk_secrets_wipe(tmp);
		free(tmp);
	}
	close(fd);
}

void server_trunk_free(struct server *s)
{
	struct server_trunks *t = s->trunks;

	if (!t)
		return;
	trunk_secrets_wipe(&t->secrets);
	htab_drain(&t->calls, free_call, NULL);
	htab_drain(&t->counts, free_count, NULL);
	htab_drain(&t->usage, free_count, NULL);
	htab_fini(&t->calls);
	htab_fini(&t->counts);
	htab_fini(&t->usage);
	free(t);
	s->trunks = NULL;
}

static struct tcount *count_find(struct server_trunks *t, const char *key)
{
	size_t len = strlen(key);

	for (struct htab_node *n = htab_find(&t->counts, htab_hash(&t->counts, key, len)); n;
	     n = htab_next(&t->counts, n)) {
		struct tcount *c = (struct tcount *)n;
		if (strcmp(c->key, key) == 0)
			return c;
	}
	return NULL;
}

static uint32_t count_of(struct server_trunks *t, const char *key)
{
	struct tcount *c = t ? count_find(t, key) : NULL;

	return c ? c->n : 0;
}

/* Add delta (+1 or -1) to key's count; an entry at 0 is removed. */
static int count_add(struct server_trunks *t, const char *key, int delta)
{
	struct tcount *c = count_find(t, key);
	int rc;

	if (!c) {
		if (delta < 0)
			return 0;
		if (!(c = calloc(1, sizeof(*c))))
			return ENOMEM;
		snprintf(c->key, sizeof(c->key), "%s", key);
		if ((rc = htab_insert(&t->counts, &c->node,
				      htab_hash(&t->counts, c->key, strlen(c->key)))) != 0) {
			free(c);
			return rc;
		}
	}
	if (delta < 0 && c->n > 0)
		c->n--;
	else if (delta > 0)
		c->n++;
	if (c->n == 0) {
		htab_remove(&t->counts, &c->node);
		free(c);
	}
	return 0;
}

/* ---- toll-fraud counters ------------------------------------------------------- */

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

/* The counters of key ("u:NAME", "p:NAME"); made when create. NULL when
 * absent, or when the table is full (max_users plus the peers: it cannot
 * be, unless users were replaced faster than the sweep drops idle ones). */
static struct tusage *usage_of(struct server_trunks *t, const char *key, bool create)
{
	size_t len = strlen(key);
	uint64_t h;
	struct tusage *u;

	if (!t || len >= sizeof(u->key))
		return NULL;
	h = htab_hash(&t->usage, key, len);
	for (struct htab_node *n = htab_find(&t->usage, h); n; n = htab_next(&t->usage, n))
		if (strcmp(((struct tusage *)n)->key, key) == 0)
			return (struct tusage *)n;
	if (!create || !(u = calloc(1, sizeof(*u))))
		return NULL;
	trunk_usage_init(&u->u);
	memcpy(u->key, key, len + 1);
	if (htab_insert(&t->usage, &u->node, h) != 0) {
		free(u);
		return NULL;
	}
	return u;
}

struct sweep {
	struct server *s;
	int64_t now;
};

static void sweep_one(struct htab_node *n, void *arg)
{
	struct sweep *w = arg;
	struct tusage *u = (struct tusage *)n;

	/* kept while other nodes count for it: a new entry would not know
	 * their counts until the next reread */
	if (!u->held && !u->was_held && !u->dirty && !u->u.calls_ext && !u->u.secs_ext[0] &&
	    !u->u.secs_ext[1] && trunk_usage_idle(&u->u, w->now, w->s->conf.fraud.alert_window)) {
		htab_remove(&w->s->trunks->usage, n);
		free(u);
	}
}

/* Every USAGE_SWEEP_MS: drop counters with nothing left in them. */
static void usage_sweep(struct server *s, uint64_t now_ms)
{
	struct sweep w = { s, wall_s() };

	if (now_ms < s->trunks->next_sweep_ms)
		return;
	s->trunks->next_sweep_ms = now_ms + USAGE_SWEEP_MS;
	htab_set_max(&s->trunks->usage, (size_t)s->conf.max_users + TRUNK_MAX_PEERS);
	htab_each(&s->trunks->usage, sweep_one, &w);
}

/* u's rings changed: written at the next batch (server_trunk_fraud_write). */
static void usage_dirty(struct server_trunks *t, struct tusage *u)
{
	if (!u || u->dirty)
		return;
	u->dirty = true;
	u->next_dirty = t->dirty;
	t->dirty = u;
}

bool server_trunk_fraud_pending(const struct server *s)
{
	return s->trunks && s->trunks->dirty;
}

void server_trunk_fraud_write(struct server *s)
{
	struct server_trunks *t = s->trunks;
	char text[TRUNK_USAGE_TEXT_MAX];
	int64_t now = wall_s();
	size_t failed = 0;
	int rc = 0, first = 0;

	if (!t)
		return;
	while (t->dirty) {
		struct tusage *u = t->dirty;
		t->dirty = u->next_dirty;
		u->next_dirty = NULL;
		u->dirty = false;
		if (!s->store)
			continue;
		if ((rc = trunk_usage_encode(text, sizeof(text), &u->u)) != 0 ||
		    (rc = store_fraud_put(s->store, u->key, text, now)) != 0) {
			failed++;
			first = first ? first : rc;
		}
	}
	if (failed && first != ENOSYS && log_limit_allow(&s->cdr_store_limit, (uint64_t)now))
		log_error("toll-fraud counters of %zu users and peers not stored (%s): a restart "
			  "would forget their calls since the last write", failed, strerror(first));
}

struct fraud_rows {
	struct server *s;
	int64_t now;
	bool own;
	size_t bad;
	uint64_t others;           /* the other nodes' calls of the last hour, to all peers */
};

static void zero_ext(struct htab_node *n, void *arg)
{
	struct tusage *u = (struct tusage *)n;

	(void)arg;
	u->ext_calls = 0;
	u->ext_secs[0] = u->ext_secs[1] = 0;
}

static void take_ext(struct htab_node *n, void *arg)
{
	struct tusage *u = (struct tusage *)n;

	(void)arg;
	u->u.calls_ext = u->ext_calls;
	u->u.secs_ext[0] = u->ext_secs[0];
	u->u.secs_ext[1] = u->ext_secs[1];
}

/* One stored row: this node's own rings (at startup only: ours are the
 * truth afterwards), or another node's counts added as _ext. */
static int fraud_row(void *arg, const char *key, bool own, const char *counts)
{
	struct fraud_rows *c = arg;
	struct trunk_usage r;
	struct tusage *u;

	if (own && !c->own)
		return 0;
	if (trunk_usage_decode(&r, slice_cstr(counts), c->now) != 0) {
		c->bad++;
		return 0;
	}
	if (!r.calls_sum && !r.secs_sum[0] && !r.secs_sum[1])
		return 0; /* all aged out */
	if (!(u = usage_of(c->s->trunks, key, true)))
		return 0; /* the table is full: the calls of this one are not seen */
	if (own) {
		r.calls_ext = u->u.calls_ext;
		r.secs_ext[0] = u->u.secs_ext[0];
		r.secs_ext[1] = u->u.secs_ext[1];
		u->u = r;
	} else {
		if (key[0] == 'p')
			c->others += r.calls_sum; /* each call counts to its peer once */
		u->ext_calls = r.calls_sum > UINT32_MAX - u->ext_calls ? UINT32_MAX
								      : u->ext_calls + r.calls_sum;
		u->ext_secs[0] += r.secs_sum[0];
		u->ext_secs[1] += r.secs_sum[1];
	}
	return 0;
}

/* Read the counters of the store: with own (at startup), this node's rings
 * of an earlier run, so that a restart goes on counting where it stopped;
 * always the other nodes' counts (a shared store). */
static void fraud_sync(struct server *s, bool own)
{
	struct fraud_rows c = { s, wall_s(), own, 0, 0 };
	int rc;

	if (!s->store || !s->trunks)
		return;
	htab_each(&s->trunks->usage, zero_ext, NULL);
	rc = store_fraud_list(s->store, c.now, !own, fraud_row, &c);
	if (rc && rc != ENOSYS && !s->trunks->sync_failed)
		log_warn("toll-fraud counters not read from the store (%s%s%s)%s", strerror(rc),
			 store_errmsg(s->store)[0] ? ": " : "", store_errmsg(s->store),
			 own ? ": counting starts from zero"
			     : ": the other nodes' counts of the last reread stand until it works");
	else if (!rc && s->trunks->sync_failed)
		log_notice("toll-fraud counters read from the store again");
	s->trunks->sync_failed = rc && rc != ENOSYS;
	if (!rc)
		htab_each(&s->trunks->usage, take_ext, NULL); /* a failed reread keeps the last */
	if (c.bad)
		log_warn("%zu stored toll-fraud counters ignored: not in this build's format", c.bad);
	if (!rc && c.others != s->trunks->others_seen) {
		s->trunks->others_seen = c.others;
		log_info("toll-fraud counters: other nodes placed %llu outside calls in the last "
			 "hour", (unsigned long long)c.others);
	}
}

/* Is user's outside calling on hold? The store's word (through the cache)
 * once the cache has moved past our own hold; ours until then. A hold the
 * administrator lifted forgives the user's burst window. */
static bool held(struct server *s, struct tusage *u, const struct store_cache_entry *e)
{
	bool h = e->fraud_hold;

	if (!u)
		return h;
	if (u->held && store_cache_version(s->cache) == u->held_version)
		h = true;
	else
		u->held = false;
	if (u->was_held && !h)
		trunk_usage_forgive(&u->u); /* an administrator lifted the hold */
	u->was_held = h;
	return h;
}

/* A burst on user's counters: fraud.alert, and with [fraud] suspend the
 * hold, stored with the user. in and m are NULL at a call's end. */
static void burst_check(struct server *s, struct tusage *u, struct slice user,
			const struct net_msg *in, const struct sip_msg *m)
{
	char why[200], full[300], name[TRUNK_USER_MAX];
	int rc;

	if (!u || !trunk_burst(&u->u, &s->conf.fraud, wall_s(), why, sizeof(why)))
		return;
	snprintf(full, sizeof(full), "%s%s", why,
		 s->conf.fraud.suspend ? "; outside calling on hold until `bastion fraud clear`"
				       : "");
	if (in && m) {
		server_event(s, TRUNK_EVENT_FRAUD_ALERT, in, m, user, m->ruri_raw, full, 0);
	} else {
		struct log_event e = { .kind = TRUNK_EVENT_FRAUD_ALERT, .user = user, .reason = full };
		log_event(&e);
	}
	log_warn("fraud alert for %.*s: %s", (int)(user.len < 64 ? user.len : 64),
		 user.p ? user.p : "", full);
	if (!s->conf.fraud.suspend || user.len == 0 || user.len >= sizeof(name))
		return;
	memcpy(name, user.p, user.len);
	name[user.len] = '\0';
	u->held = u->was_held = true;
	u->held_version = store_cache_version(s->cache);
	rc = s->store ? store_users_set_fraud_hold(s->store, name, s->conf.domain, why, 0) : EINVAL;
	if (rc)
		log_error("fraud hold of %s not stored (%s): held by this server until its users "
			  "change", name, strerror(rc));
}

/*
 * The user's side of an outside call's limits (docs/trunks.md, Limits): the
 * fraud hold, the calls in progress ([dialplan] max_calls_per_user), calls
 * per hour and minutes per day ([fraud]). One verdict, in one place, so
 * that a call the limits do not apply to skips them with one test. *up gets
 * the user's counters (to count the call once placed), or NULL.
 */
static void user_limits(struct server *s, struct trunk_verdict *v, struct slice user,
			const struct store_cache_entry *e, bool intl, struct tusage **up)
{
	char ukey[TRUNK_USER_MAX + 2];
	struct tusage *u = NULL;

	*up = NULL;
	if (user.len >= TRUNK_USER_MAX) {
		trunk_cap(v, 1, 1, "the caller's name is too long to count its calls");
		return;
	}
	snprintf(ukey, sizeof(ukey), "u:%.*s", (int)user.len, user.p ? user.p : "");
	u = usage_of(s->trunks, ukey, true);
	if (held(s, u, e)) {
		memset(v, 0, sizeof(*v));
		v->status = 403;
		v->reason = "Outside Calling Suspended";
		v->event = TRUNK_EVENT_FRAUD_LIMIT;
		v->detail = "the caller's outside calling is on hold after a fraud.alert "
			    "(bastion fraud clear NAME lifts it)";
		return;
	}
	trunk_cap(v, count_of(s->trunks, ukey), s->conf.trunk.max_calls_per_user,
		  "the caller's outside calls in progress reached [dialplan] max_calls_per_user");
	if (!v->allow)
		return;
	if (!u) {
		trunk_cap(v, 1, 1, "the toll-fraud counters are full ([auth] max_users)");
		return;
	}
	trunk_limits_check(v, &u->u, &s->conf.fraud.user, intl, wall_s(), false);
	if (v->allow)
		*up = u;
}

static const struct trunk_limits *peer_limits(const struct trunk_peer *p)
{
	_Static_assert(offsetof(struct trunk_peer, minutes_per_day) ==
			       offsetof(struct trunk_peer, calls_per_hour) + sizeof(uint32_t) &&
		       offsetof(struct trunk_peer, intl_minutes_per_day) ==
			       offsetof(struct trunk_peer, minutes_per_day) + sizeof(uint32_t),
		       "a peer's limits are laid out as struct trunk_limits");
	return (const struct trunk_limits *)(const void *)&p->calls_per_hour;
}

/* A call proxy_fork took: count it until its record is written. */
static void track(struct server *s, const struct sip_msg *m, const char *user_key,
		  const char *peer_key, bool intl)
{
	struct server_trunks *t = s->trunks;
	struct tcall *c;

	if (!t || m->mid != SIP_M_INVITE || !(c = calloc(1, sizeof(*c))))
		return;
	c->call_id = malloc(m->call_id.len + 1);
	if (!c->call_id) {
		free(c);
		return;
	}
	memcpy(c->call_id, m->call_id.p, m->call_id.len);
	c->call_id[m->call_id.len] = '\0';
	snprintf(c->user_key, sizeof(c->user_key), "%s", user_key);
	snprintf(c->peer_key, sizeof(c->peer_key), "%s", peer_key);
	c->intl = intl;
	if (htab_insert(&t->calls, &c->node, htab_hash(&t->calls, c->call_id, m->call_id.len))) {
		free_call(&c->node, NULL);
		return;
	}
	if (user_key[0])
		(void)count_add(t, user_key, 1);
	(void)count_add(t, peer_key, 1);
}

void server_trunk_track(struct server *s, const struct sip_msg *m, const char *user_key,
			const char *peer_key)
{
	track(s, m, user_key, peer_key, false); /* emergency calls: no class */
}

/* Metrics: a peer's calls and failures (by name: a reload may move it). */
static struct pstate *pstate_named(struct server *s, const char *name)
{
	for (size_t i = 0; s->trunks && i < s->conf.trunk.npeers && i < TRUNK_MAX_PEERS; i++)
		if (strcmp(s->conf.trunk.peer[i].name, name) == 0)
			return &s->trunks->ps[i];
	return NULL;
}

void server_trunk_ended(struct server *s, const struct store_cdr *rec)
{
	struct server_trunks *t = s->trunks;
	size_t len = strlen(rec->call_id);
	int64_t now = wall_s();
	uint64_t secs = (uint64_t)store_cdr_duration_s(rec);
	const struct trunk_fraud_conf *f = &s->conf.fraud;

	if (!t || !t->calls.n)
		return;
	for (struct htab_node *n = htab_find(&t->calls, htab_hash(&t->calls, rec->call_id, len));
	     n; n = htab_next(&t->calls, n)) {
		struct tcall *c = (struct tcall *)n;
		struct tusage *u;
		char pkey[TRUNK_NAME_MAX + 2];
		if (strcmp(c->call_id, rec->call_id) != 0)
			continue;
		if (c->user_key[0]) {
			(void)count_add(t, c->user_key, -1);
			/* the minutes, and a short international call, to the caller */
			if ((u = usage_of(t, c->user_key, true)) != NULL) {
				trunk_usage_ended(&u->u, c->intl, secs, now, f->alert_window,
						  f->short_call);
				usage_dirty(t, u);
				burst_check(s, u, slice_cstr(c->user_key + 2), NULL, NULL);
			}
			/* and to the peer that took it */
			if (rec->peer[0]) {
				struct pstate *ps = pstate_named(s, rec->peer);
				snprintf(pkey, sizeof(pkey), "p:%s", rec->peer);
				if ((u = usage_of(t, pkey, true)) != NULL) {
					trunk_usage_ended(&u->u, c->intl, secs, now, f->alert_window,
							  f->short_call);
					usage_dirty(t, u);
				}
				if (ps && rec->final_status / 100 != 2)
					ps->failed_out++;
			}
		}
		(void)count_add(t, c->peer_key, -1);
		htab_remove(&t->calls, n);
		free_call(n, NULL);
		return;
	}
}

static int peer_way(struct server *s, const struct trunk_peer *p, const struct net_listen_spec *a,
		    struct net_msg *way);

/* ---- OPTIONS pings: peers up and down ------------------------------------------- */

static void peer_event(struct server *s, const struct trunk_peer *p, const char *kind,
		       const char *reason)
{
	struct log_event e = {
		.kind = kind,
		.src = &p->addr[0].addr,
		.tp = p->addr[0].tp,
		.has_src = true,
		.user = slice_cstr(p->name),
		.reason = reason,
	};

	log_event(&e);
	log_notice("peer %s: %s", p->name, reason);
}

/* Our sent-by for way tp toward family fam: the first listener that fits. */
static bool own_hostport(const struct server *s, enum net_transport tp, int fam, char *out,
			 size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < s->conf.nlisteners; i++) {
		const struct net_listen_spec *l = &s->conf.listeners[i];
		if (l->tp != tp || l->addr.ss.ss_family != fam)
			continue;
		net_addr_host(&l->addr, host, sizeof(host));
		snprintf(out, cap, fam == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
			 net_addr_port(&l->addr));
		return true;
	}
	return false;
}

static void ping(struct server *s, size_t i, uint64_t now)
{
	const struct trunk_peer *p = &s->conf.trunk.peer[i];
	struct pstate *ps = &s->trunks->ps[i];
	const struct net_listen_spec *a = &p->addr[0];
	char buf[1024], via[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN], branch[64];
	struct txn_peer to;
	int n;

	ps->next_ms = now + (uint64_t)p->ping_interval * 1000u;
	if (!own_hostport(s, a->tp, a->addr.ss.ss_family, via, sizeof(via)) ||
	    peer_way(s, p, a, &to.via) != 0)
		return;
	to.dst = a->addr;
	net_addr_host(&a->addr, host, sizeof(host));
	s->trunks->seq++;
	snprintf(branch, sizeof(branch), "z9hG4bKping%llx.%zu", (unsigned long long)s->trunks->seq, i);
	n = snprintf(buf, sizeof(buf),
		     "OPTIONS sip:%s%s%s:%u SIP/2.0\r\n"
		     "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: <sip:bastion@%s>;tag=ping%llx\r\n"
		     "To: <sip:%s%s%s:%u>\r\n"
		     "Call-ID: ping.%llx.%zu@%s\r\n"
		     "CSeq: 1 OPTIONS\r\n"
		     "Content-Length: 0\r\n\r\n",
		     a->addr.ss.ss_family == AF_INET6 ? "[" : "", host,
		     a->addr.ss.ss_family == AF_INET6 ? "]" : "", net_addr_port(&a->addr),
		     a->tp == NET_TCP ? "TCP" : a->tp == NET_TLS ? "TLS" : "UDP", via, branch,
		     s->conf.domain, (unsigned long long)s->trunks->seq,
		     a->addr.ss.ss_family == AF_INET6 ? "[" : "", host,
		     a->addr.ss.ss_family == AF_INET6 ? "]" : "", net_addr_port(&a->addr),
		     (unsigned long long)s->trunks->seq, i, s->conf.domain);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	ps->answered = false;
	if (txn_client_start(&ps->ct, s->txn, buf, (size_t)n, SLICE_LIT("OPTIONS"), slice_cstr(branch), &to,
			     ps, now) != 0)
		ps->ct = NULL;
}

static void reg_send(struct server *s, size_t i, uint64_t now);
static const struct trunk_peer *peer_named(const struct server *s, const char *name);

/* A TLS peer whose certificate was refused since the last tick (net/:
 * chain, or a name that is not its tls_name, RFC 5922 7.1): event
 * peer.tls_refused naming it. Nothing was sent to it; the call's
 * transaction times out and fails over to the route's next peer. */
static void tls_refusals(struct server *s)
{
	struct server_trunks *t = s->trunks;
	struct net_stats ns;
	struct net_tls_refusal r;
	char why[400];
	int pi;

	net_stats(s->net, &ns);
	if (ns.tls_peer_refused == t->tls_refused_seen)
		return;
	net_tls_last_refusal(s->net, &r);
	snprintf(why, sizeof(why), "certificate refused (%s; it must name %s)%s: nothing sent, "
		 "calls fail over to the next peer", r.why, r.name,
		 ns.tls_peer_refused - t->tls_refused_seen > 1 ? ", and earlier refusals" : "");
	t->tls_refused_seen = ns.tls_peer_refused;
	if ((pi = trunk_peer_of(&s->conf.trunk, &r.addr)) < 0) {
		log_warn("outbound TLS connection refused: %s", why);
		return;
	}
	peer_event(s, &s->conf.trunk.peer[pi], TRUNK_EVENT_PEER_TLS_REFUSED, why);
}

void server_trunk_tick(struct server *s, uint64_t now)
{
	struct server_trunks *t = s->trunks;

	if (!t)
		return;
	usage_sweep(s, now);
	if (t->shared && now >= t->next_fraud_sync_ms) {
		t->next_fraud_sync_ms = now + FRAUD_SYNC_MS;
		fraud_sync(s, false);
	}
	tls_refusals(s);
	if (now >= t->next_secrets_ms) {
		t->next_secrets_ms = now + SECRETS_CHECK_MS;
		secrets_load(s);
	}
	for (size_t i = 0; i < s->conf.trunk.npeers; i++) {
		const struct trunk_peer *p = &s->conf.trunk.peer[i];
		struct pstate *ps = &t->ps[i];
		if (strcmp(ps->name, p->name) != 0) {
			/* a reload put another peer here: it starts up, pinged soon */
			snprintf(ps->name, sizeof(ps->name), "%s", p->name);
			ps->down = false;
			ps->next_ms = now;
			ps->calls_out = ps->calls_in = ps->failed_out = 0;
			memset(&ps->cps_out, 0, sizeof(ps->cps_out));
			memset(&ps->cps_in, 0, sizeof(ps->cps_in));
			if (!ps->reg.ct)
				memset(&ps->reg, 0, sizeof(ps->reg));
			else
				ps->reg.registered = ps->reg.failed = false;
			ps->reg.next_ms = now;
		}
		if (p->ping_interval && !ps->ct && now >= ps->next_ms)
			ping(s, i, now);
		if (p->do_register && !ps->reg.ct && now >= ps->reg.next_ms)
			reg_send(s, i, now);
	}
}

/* ---- outbound registration to a carrier ---------------------------------------- */

/* Send peer i's REGISTER (RFC 3261 10.2) to its first address, answering
 * the saved challenge when there is one (nc counts up on it). */
static void reg_send(struct server *s, size_t i, uint64_t now)
{
	const struct trunk_peer *p = &s->conf.trunk.peer[i];
	struct pstate *ps = &s->trunks->ps[i];
	const struct net_listen_spec *a = &p->addr[0];
	const struct trunk_secret *sec = trunk_secret_of(&s->trunks->secrets, p->name);
	char buf[2048], via[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN + 2], branch[64];
	char ruri[INET6_ADDRSTRLEN + 16], authz[1100], val[1024], cn_hex[33];
	uint8_t cn[16];
	size_t vlen = 0;
	struct txn_peer to;
	int n;

	ps->reg.next_ms = now + REG_RETRY_MS;
	if (!sec) {
		if (!ps->reg.failed)
			peer_event(s, p, TRUNK_EVENT_PEER_REGISTER_FAILED,
				   "register = yes but no credentials for it in [trunks] secrets");
		ps->reg.failed = true;
		ps->reg.registered = false;
		return;
	}
	if (!own_hostport(s, a->tp, a->addr.ss.ss_family, via, sizeof(via)) ||
	    peer_way(s, p, a, &to.via) != 0)
		return;
	to.dst = a->addr;
	net_addr_host(&a->addr, host + 1, sizeof(host) - 2);
	if (a->addr.ss.ss_family == AF_INET6) {
		host[0] = '[';
		strcat(host, "]");
	} else {
		memmove(host, host + 1, strlen(host + 1) + 1);
	}
	snprintf(ruri, sizeof(ruri), "sip:%s:%u", host, net_addr_port(&a->addr));
	authz[0] = '\0';
	ps->reg.auth_sent = false;
	if (ps->reg.chal[0] && RAND_bytes(cn, sizeof(cn)) == 1 &&
	    auth_hex(cn_hex, sizeof(cn_hex), cn, sizeof(cn)) == 0 &&
	    auth_client_answer(val, sizeof(val), &vlen, slice_cstr(ps->reg.chal),
			       SLICE_LIT("REGISTER"), slice_cstr(ruri), slice_cstr(sec->user),
			       slice_cstr(sec->password), slice_cstr(sec->realm), slice_cstr(cn_hex),
			       ++ps->reg.nc) == 0) {
		snprintf(authz, sizeof(authz), "%s: %s\r\n",
			 ps->reg.chal_proxy ? "Proxy-Authorization" : "Authorization", val);
		ps->reg.auth_sent = true;
	}
	OPENSSL_cleanse(val, sizeof(val));
	if (!ps->reg.call_id[0])
		snprintf(ps->reg.call_id, sizeof(ps->reg.call_id), "reg.%llx.%zu@%.32s",
			 (unsigned long long)++s->trunks->seq, i, s->conf.domain);
	s->trunks->seq++;
	snprintf(branch, sizeof(branch), "z9hG4bKreg%llx.%zu", (unsigned long long)s->trunks->seq, i);
	n = snprintf(buf, sizeof(buf),
		     "REGISTER %s SIP/2.0\r\n"
		     "Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: <sip:%s@%s>;tag=reg%zu\r\n"
		     "To: <sip:%s@%s>\r\n"
		     "Call-ID: %s\r\n"
		     "CSeq: %u REGISTER\r\n"
		     "Contact: <sip:%s@%s>\r\n"
		     "Expires: %u\r\n"
		     "%s"
		     "Content-Length: 0\r\n\r\n",
		     ruri, a->tp == NET_TCP ? "TCP" : a->tp == NET_TLS ? "TLS" : "UDP", via, branch,
		     sec->user, host, i, sec->user, host, ps->reg.call_id, ++ps->reg.cseq, sec->user,
		     via, p->register_expires, authz);
	OPENSSL_cleanse(authz, sizeof(authz));
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	if (txn_client_start(&ps->reg.ct, s->txn, buf, (size_t)n, SLICE_LIT("REGISTER"),
			     slice_cstr(branch), &to, &ps->reg, now) != 0)
		ps->reg.ct = NULL;
	OPENSSL_cleanse(buf, sizeof(buf));
}

static void reg_failed(struct server *s, struct pstate *ps, const char *why)
{
	const struct trunk_peer *p = peer_named(s, ps->name);

	ps->reg.next_ms = server_now_ms() + REG_RETRY_MS;
	if (p && (!ps->reg.failed || ps->reg.registered))
		peer_event(s, p, TRUNK_EVENT_PEER_REGISTER_FAILED, why);
	ps->reg.failed = true;
	ps->reg.registered = false;
}

/* The expiry the registrar granted: our Contact's expires, else Expires. */
static uint32_t reg_granted(const struct sip_msg *m, uint32_t asked)
{
	const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_EXPIRES);
	uint32_t v = asked;

	for (const struct sip_hdr *c = sip_msg_hdr(m, SIP_H_CONTACT); c; c = sip_msg_hdr_next(m, c)) {
		const char *e = memmem(c->value.p, c->value.len, "expires=", 8);
		if (e) {
			size_t off = (size_t)(e - c->value.p) + 8, k = off;
			while (k < c->value.len && c->value.p[k] >= '0' && c->value.p[k] <= '9')
				k++;
			if (slice_to_u32(slice_make(c->value.p + off, k - off), &v) == 0)
				return v;
		}
	}
	if (h && slice_to_u32(slice_trim(h->value), &v) == 0)
		return v;
	return asked;
}

static void reg_response(struct server *s, struct pstate *ps, const struct sip_msg *m)
{
	const struct trunk_peer *p = peer_named(s, ps->name);
	char why[160];
	size_t i = (size_t)(ps - s->trunks->ps);

	if (m->status < 200 || !p)
		return;
	if (m->status < 300) {
		uint32_t g = reg_granted(m, p->register_expires);
		uint64_t wait = g ? (uint64_t)g * 500u : REG_RETRY_MS; /* refresh at half */
		ps->reg.next_ms = server_now_ms() + (wait < 1000 ? 1000 : wait);
		if (!ps->reg.registered) {
			snprintf(why, sizeof(why), "registered for %u s; refreshed every %u s", g,
				 (unsigned)((wait < 1000 ? 1000 : wait) / 1000));
			peer_event(s, p, TRUNK_EVENT_PEER_REGISTERED, why);
		}
		ps->reg.registered = true;
		ps->reg.failed = false;
		return;
	}
	if ((m->status == 401 || m->status == 407) && !ps->reg.auth_sent) {
		const struct sip_hdr *h = sip_msg_hdr(m, m->status == 401 ? SIP_H_WWW_AUTHENTICATE
									   : SIP_H_PROXY_AUTHENTICATE);
		if (h && h->value.len < sizeof(ps->reg.chal)) {
			memcpy(ps->reg.chal, h->value.p, h->value.len);
			ps->reg.chal[h->value.len] = '\0';
			ps->reg.chal_proxy = m->status == 407;
			ps->reg.nc = 0;
			reg_send(s, i, server_now_ms()); /* answered at once */
			if (ps->reg.auth_sent)
				return;
		}
		reg_failed(s, ps, "the registrar's challenge could not be answered (its realm, "
			   "algorithm or qop)");
		return;
	}
	if (m->status == 401 || m->status == 407) {
		/* our credentials were refused, or the nonce went stale: one fresh try */
		const struct sip_hdr *h = sip_msg_hdr(m, m->status == 401 ? SIP_H_WWW_AUTHENTICATE
									   : SIP_H_PROXY_AUTHENTICATE);
		bool stale = h && memmem(h->value.p, h->value.len, "stale=true", 10);
		if (stale && h->value.len < sizeof(ps->reg.chal)) {
			memcpy(ps->reg.chal, h->value.p, h->value.len);
			ps->reg.chal[h->value.len] = '\0';
			ps->reg.nc = 0;
			reg_send(s, i, server_now_ms());
			return;
		}
		ps->reg.chal[0] = '\0';
	}
	snprintf(why, sizeof(why), "the registrar answered %u: retried in %u s", m->status,
		 REG_RETRY_MS / 1000);
	reg_failed(s, ps, why);
}

/* The peer whose REGISTER ct is (current or replaced), or NULL. */
static struct pstate *reg_of(struct server *s, struct txn_client *ct)
{
	struct server_trunks *t = s->trunks;
	void *u = ct ? txn_client_user(ct) : NULL;

	for (size_t i = 0; t && u && i < TRUNK_MAX_PEERS; i++)
		if (u == (void *)&t->ps[i].reg)
			return &t->ps[i];
	return NULL;
}

/* The ping state ct belongs to, or NULL (not a ping: the proxy's). */
static struct pstate *ping_of(struct server *s, struct txn_client *ct)
{
	struct server_trunks *t = s->trunks;

	if (!t)
		return NULL;
	for (size_t i = 0; i < TRUNK_MAX_PEERS; i++)
		if (t->ps[i].ct == ct)
			return &t->ps[i];
	return NULL;
}

static const struct trunk_peer *peer_named(const struct server *s, const char *name)
{
	for (size_t i = 0; i < s->conf.trunk.npeers; i++)
		if (strcmp(s->conf.trunk.peer[i].name, name) == 0)
			return &s->conf.trunk.peer[i];
	return NULL;
}

/* A ping's outcome: any final response means the peer is there. */
static void ping_result(struct server *s, struct pstate *ps, bool answered, int status)
{
	const struct trunk_peer *p = peer_named(s, ps->name);
	char why[96];

	if (!p)
		return;
	if (answered && ps->down) {
		ps->down = false;
		snprintf(why, sizeof(why), "answers OPTIONS again (%d): up", status);
		peer_event(s, p, TRUNK_EVENT_PEER_UP, why);
	} else if (!answered && !ps->down) {
		ps->down = true;
		peer_event(s, p, TRUNK_EVENT_PEER_DOWN,
			   "does not answer OPTIONS: down, calls fail over to the next peer");
	}
}

bool server_trunk_response(struct server *s, struct txn_client *ct, const struct sip_msg *m)
{
	struct pstate *ps = reg_of(s, ct);

	if (ps) {
		if (ps->reg.ct == ct)
			reg_response(s, ps, m);
		return true;
	}
	ps = ping_of(s, ct);
	if (!ps)
		return false;
	if (m->status >= 200 && !ps->answered) {
		ps->answered = true;
		ping_result(s, ps, true, m->status);
	}
	return true;
}

bool server_trunk_timeout(struct server *s, struct txn_client *ct)
{
	struct pstate *ps = reg_of(s, ct);

	if (ps) {
		if (ps->reg.ct == ct)
			reg_failed(s, ps, "the registrar did not answer (timer F)");
		return true;
	}
	ps = ping_of(s, ct);

	if (!ps)
		return false;
	if (!ps->answered)
		ping_result(s, ps, false, 0);
	return true;
}

bool server_trunk_terminated(struct server *s, struct txn_client *ct)
{
	struct pstate *ps = reg_of(s, ct);

	if (ps) {
		if (ps->reg.ct == ct)
			ps->reg.ct = NULL;
		return true;
	}
	ps = ct ? ping_of(s, ct) : NULL;

	if (!ps)
		return false;
	ps->ct = NULL;
	return true;
}

static bool peer_down(const struct server *s, size_t i)
{
	return s->trunks && i < TRUNK_MAX_PEERS && s->trunks->ps[i].down &&
	       strcmp(s->trunks->ps[i].name, s->conf.trunk.peer[i].name) == 0;
}

bool server_trunk_peer_down(const struct server *s, size_t i)
{
	return peer_down(s, i);
}

int server_trunk_peer_way(struct server *s, const struct trunk_peer *p,
			  const struct net_listen_spec *a, struct net_msg *way)
{
	return peer_way(s, p, a, way);
}

/* ---- no bypass ------------------------------------------------------------------- */

bool server_trunk_bypass(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			 struct slice user)
{
	const struct trunk_conf *tc = &s->conf.trunk;
	bool names = tc->npeers && m->ruri.scheme != SIP_SCHEME_TEL &&
		     trunk_names_peer(tc, m->ruri.host);

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_ROUTE); h && !names && tc->npeers;
	     h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value, item;
		while (!names && sip_list_next(&item, &rest) == 0) {
			struct sip_nameaddr na;
			enum sip_err e;
			if (sip_nameaddr_parse(&na, item, &s->conf.lim, &e) == 0 &&
			    trunk_names_peer(tc, na.uri.host))
				names = true;
		}
	}
	if (!names)
		return false;
	server_event(s, TRUNK_EVENT_BYPASS, x->in, m, user, m->ruri_raw,
		     "a phone named a peer's address: peers are reached through the dial plan",
		     403);
	server_refuse_attempt(s, x, m, user, 403, "Peers Are Reached Through the Dial Plan");
	return true;
}

/* ---- outbound ---------------------------------------------------------------------- */

/* The way to reach address a of peer p: UDP on our socket of its family, a
 * stream through a connection of our own (TLS checks tls_name). */
static int peer_way(struct server *s, const struct trunk_peer *p, const struct net_listen_spec *a,
		    struct net_msg *way)
{
	memset(way, 0, sizeof(*way));
	if (a->tp == NET_UDP) {
		way->tp = NET_UDP;
		way->src = a->addr;
		way->udp_fd = net_udp_fd(s->net, a->addr.ss.ss_family);
		return way->udp_fd >= 0 ? 0 : EAFNOSUPPORT;
	}
	way->udp_fd = -1;
	return net_connect(s->net, a->tp, &a->addr, a->tp == NET_TLS ? p->tls_name : NULL, way);
}

/* The Request-URI's user part as dialed, for the call record: printable
 * bytes only, cut to fit. */
static void dialed_of(char out[STORE_DIALED_MAX], const struct sip_msg *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->ruri.user.len && n < STORE_DIALED_MAX - 1; i++) {
		unsigned char ch = (unsigned char)m->ruri.user.p[i];
		out[n++] = ch > 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[n] = '\0';
}

/* Refuse an outside call: the event, the record (with its class and
 * numbers, so that refused attempts show in `bastion cdr list`), the answer. */
static void refuse(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		   struct slice user, const struct proxy_outside *o, uint16_t status,
		   const char *reason, const char *event, const char *detail)
{
	struct proxy_caller who = { user, x->in, o };

	if (event)
		server_event(s, event, x->in, m, user, m->ruri_raw, detail, status);
	proxy_record_refused(s->proxy, m, &who, status);
	server_answer(s, x, m, status, reason, SLICE_NULL);
}

bool server_trunk_outbound(struct server *s, struct txn_server *st, const struct server_ctx *x,
			   const struct sip_msg *m, const struct txn_peer *from, struct slice user)
{
	const struct trunk_conf *tc = &s->conf.trunk;
	char e164[TRUNK_NUM_MAX], detail[160], ukey[TRUNK_USER_MAX + 2], pkey[TRUNK_NAME_MAX + 2];
	char pai[TRUNK_NUM_MAX + 64], dialed[STORE_DIALED_MAX];
	struct proxy_target t[TRUNK_MAX_ROUTE_PEERS * TRUNK_MAX_ADDRS];
	struct proxy_cred cred[TRUNK_MAX_ROUTE_PEERS];
	char contact[TRUNK_MAX_ROUTE_PEERS * TRUNK_MAX_ADDRS][200];
	uint8_t route[TRUNK_MAX_ROUTE_PEERS];
	struct trunk_verdict v;
	enum trunk_class k;
	enum trunk_level lv;
	struct proxy_verdict pv;
	struct proxy_outside out = { NULL, NULL, NULL, NULL };
	struct proxy_caller who = { user, x->in, &out };
	struct store_cache_entry e;
	struct tusage *uu = NULL, *pu;
	const char *limit_detail = NULL;
	bool tls_only, all_trusted = true, at_cap = false, at_rate = false, intl;
	uint32_t rate_wait = 0;
	uint64_t now_ms = server_now_ms();
	size_t nroute, n = 0;
	int first = -1, rc;
	int64_t now = wall_s();

	/* calls only: a MESSAGE or SUBSCRIBE to a number is not sent out
	 * through a gateway (nothing would count or cap it) */
	if (m->mid != SIP_M_INVITE)
		return false;
	rc = trunk_normalise(e164, &m->ruri, tc);
	if (rc == ENOENT)
		return false;
	dialed_of(dialed, m);
	out.dialed = dialed;
	if (rc) {
		refuse(s, x, m, user, &out, 484, "Address Incomplete", NULL, NULL);
		return true;
	}
	k = trunk_classify(tc, e164);
	intl = trunk_class_intl(k);
	out.klass = trunk_class_name(k);
	out.number = e164;
	/* the calling class: the user's in the store, else its [calling] line
	 * in bastion.conf (kept as a fallback), else [dialplan] calling */
	if (store_cache_lookup(s->cache, &e, user, slice_cstr(s->conf.domain)) != 0)
		memset(&e, 0, sizeof(e));
	if (!e.calling[0] || trunk_level_parse(&lv, e.calling) != 0)
		lv = trunk_user_level(tc, user);
	trunk_cos(&v, lv, k);
	if (!v.allow) {
		snprintf(detail, sizeof(detail), "%s is %s; the caller's calling class is %s", e164,
			 trunk_class_name(k), trunk_level_name(lv));
		refuse(s, x, m, user, &out, v.status, v.reason, v.event, detail);
		return true;
	}
	user_limits(s, &v, user, &e, intl, &uu);
	if (!v.allow) {
		refuse(s, x, m, user, &out, v.status, v.reason, v.event, v.detail);
		return true;
	}
	snprintf(ukey, sizeof(ukey), "u:%.*s", (int)user.len, user.p ? user.p : "");
	nroute = trunk_route(tc, e164, route);
	{
		/* peers marked down (OPTIONS) are left out, unless all are */
		size_t up = 0;
		uint8_t kept[TRUNK_MAX_ROUTE_PEERS];
		for (size_t i = 0; i < nroute; i++)
			if (!peer_down(s, route[i]))
				kept[up++] = route[i];
		if (up) {
			memcpy(route, kept, up);
			nroute = up;
		}
	}
	if (nroute == 0) {
		snprintf(detail, sizeof(detail), "no route in the dial plan for %s", e164);
		refuse(s, x, m, user, &out, 404, "No Route to the Number", TRUNK_EVENT_NO_ROUTE,
		       detail);
		return true;
	}
	/* RFC 5630, no bid-down: a sips: call, or any call under tls-required,
	 * leaves over TLS (its certificate name checked) or not at all */
	tls_only = m->ruri.scheme == SIP_SCHEME_SIPS || s->conf.signaling == CONF_SIGNALING_TLS;
	for (size_t i = 0; i < nroute; i++) {
		const struct trunk_peer *p = &tc->peer[route[i]];
		char user_part[TRUNK_NUM_MAX + TRUNK_PATTERN_MAX], host[INET6_ADDRSTRLEN];

		snprintf(pkey, sizeof(pkey), "o:%s", p->name);
		trunk_cap(&v, count_of(s->trunks, pkey), p->max_calls_out, "peer");
		/* the last slots of a peer on an emergency route are not for us */
		if (!v.allow || server_emerg_keeps(s, route[i], count_of(s->trunks, pkey))) {
			at_cap = true;
			limit_detail = "every peer of the route is at its max_calls_out";
			continue;
		}
		snprintf(pkey, sizeof(pkey), "p:%s", p->name);
		pu = usage_of(s->trunks, pkey, false);
		trunk_limits_check(&v, pu ? &pu->u : NULL, peer_limits(p), intl, now, true);
		if (!v.allow) {
			at_cap = true;
			limit_detail = v.detail;
			continue;
		}
		/* its new calls a second: over it, the peer is passed over like
		 * one that is down (its token is taken once it gets the INVITE) */
		if (route[i] < TRUNK_MAX_PEERS) {
			uint32_t w = trunk_bucket_check(&s->trunks->ps[route[i]].cps_out,
							p->calls_per_second, now_ms, false);
			if (w) {
				at_rate = true;
				rate_wait = rate_wait && rate_wait < w ? rate_wait : w;
				continue;
			}
		}
		if (trunk_rewrite(user_part, sizeof(user_part), p, e164) != 0)
			continue;
		{
			const struct trunk_secret *sec = trunk_secret_of(&s->trunks->secrets, p->name);
			cred[i] = (struct proxy_cred){ sec ? sec->user : NULL,
						       sec ? sec->password : NULL,
						       sec ? sec->realm : NULL };
		}
		for (size_t a = 0; a < p->naddr && n < ARRAY_SIZE(t); a++) {
			const struct net_listen_spec *ad = &p->addr[a];
			if (tls_only && ad->tp != NET_TLS)
				continue;
			if (peer_way(s, p, ad, &t[n].way) != 0)
				continue;
			net_addr_host(&ad->addr, host, sizeof(host));
			snprintf(contact[n], sizeof(contact[n]), "sip:%s@%s%s%s:%u;user=phone%s",
				 user_part, ad->addr.ss.ss_family == AF_INET6 ? "[" : "", host,
				 ad->addr.ss.ss_family == AF_INET6 ? "]" : "", net_addr_port(&ad->addr),
				 ad->tp == NET_TCP ? ";transport=tcp" : ad->tp == NET_TLS ? ";transport=tls" : "");
			t[n].contact = contact[n];
			t[n].label = p->name;
			t[n].cred = cred[i].user ? &cred[i] : NULL;
			if (first < 0)
				first = route[i];
			all_trusted &= p->trust_pai;
			n++;
		}
	}
	if (n == 0) {
		if (at_rate) {
			/* a rate passes within the second: 503, try again (RFC 3261 21.5.4) */
			char ra[40];
			snprintf(detail, sizeof(detail), "every peer of the route for %s left is at its "
				 "calls_per_second", e164);
			snprintf(ra, sizeof(ra), "Retry-After: %u\r\n", (rate_wait + 999) / 1000);
			server_event(s, TRUNK_EVENT_PEER_RATE, x->in, m, user, m->ruri_raw, detail, 503);
			proxy_record_refused(s->proxy, m, &who, 503);
			server_answer(s, x, m, 503, "Peer Call Rate Reached", slice_cstr(ra));
		} else if (at_cap)
			refuse(s, x, m, user, &out, 403, "Outside Call Limit Reached",
			       TRUNK_EVENT_FRAUD_LIMIT, limit_detail);
		else if (tls_only)
			refuse(s, x, m, user, &out, 480, "No TLS Route to the Number",
			       POLICY_EVENT_SIPS_DOWNGRADE,
			       "a sips: or tls-required call and no TLS peer on its route");
		else
			refuse(s, x, m, user, &out, 503, "No Peer Reachable", NULL, NULL);
		return true;
	}
	/* RFC 3325: our assertion of the caller, as its external number (DID),
	 * to peers that are trusted with it only; Privacy travels with it. */
	pai[0] = '\0';
	if (all_trusted) {
		const char *did = trunk_user_did(tc, user);
		if (did)
			snprintf(pai, sizeof(pai), "P-Asserted-Identity: <tel:%s>\r\n", did);
	}
	pv = proxy_fork_serial(s->proxy, st, m, from, t, n, slice_cstr(pai), &who);
	if (pv.status) {
		if (pv.event)
			server_event(s, pv.event, x->in, m, user, m->from.uri.raw, pv.detail, pv.status);
		server_answer(s, x, m, pv.status, pv.reason, SLICE_NULL);
		return true;
	}
	snprintf(pkey, sizeof(pkey), "o:%s", tc->peer[first].name);
	track(s, m, user.len < TRUNK_USER_MAX ? ukey : "", pkey, intl);
	/* counted: the call per hour and its destination, to the caller and
	 * the first peer (which got the INVITE) */
	{
		uint64_t dh = hash_siphash(&s->trunks->dest_key, e164, strlen(e164));
		struct pstate *ps = first < TRUNK_MAX_PEERS ? &s->trunks->ps[first] : NULL;
		if (uu) {
			trunk_usage_placed(&uu->u, dh, now, s->conf.fraud.alert_window);
			usage_dirty(s->trunks, uu);
			burst_check(s, uu, user, x->in, m);
		}
		snprintf(pkey, sizeof(pkey), "p:%s", tc->peer[first].name);
		if ((pu = usage_of(s->trunks, pkey, true)) != NULL) {
			trunk_usage_placed(&pu->u, dh, now, s->conf.fraud.alert_window);
			usage_dirty(s->trunks, pu);
		}
		if (ps) {
			ps->calls_out++;
			(void)trunk_bucket_check(&ps->cps_out, tc->peer[first].calls_per_second,
						 now_ms, true);
		}
	}
	log_info("outside call %s (%s) by %.*s to peer %s", e164, trunk_class_name(k),
		 (int)(user.len < 64 ? user.len : 64), user.p ? user.p : "", tc->peer[first].name);
	return true;
}

/* ---- inbound ------------------------------------------------------------------------ */

bool server_trunk_inbound(struct server *s, struct txn_server *st, const struct server_ctx *x,
			  const struct sip_msg *m, const struct txn_peer *from, bool beyond)
{
	const struct trunk_conf *tc = &s->conf.trunk;
	char e164[TRUNK_NUM_MAX], aor[STORE_URI_MAX], extra[POLICY_PAI_MAX + 32], pkey[TRUNK_NAME_MAX + 2];
	const struct trunk_peer *p;
	const char *local;
	struct server_targets *t = NULL;
	struct proxy_verdict pv;
	struct proxy_outside out = { NULL, NULL, NULL, NULL };
	struct proxy_caller who = { SLICE_NULL, x->in, &out };
	struct trunk_verdict v;
	char dialed[STORE_DIALED_MAX];
	bool tp_ok = false;
	int pi, n;

	if (!tc->npeers || (pi = trunk_peer_of(tc, &from->via.src)) < 0)
		return false;
	p = &tc->peer[pi];
	/* the address alone is not the peer: it also speaks the transport we
	 * have for it (a spoofed UDP datagram does not pass for a TLS peer) */
	for (size_t i = 0; i < p->naddr; i++)
		tp_ok |= p->addr[i].tp == from->via.tp;
	if (!tp_ok)
		return false;
	/* a peer's traffic is admitted work: the guard gives its cost back, so
	 * a busy gateway is not banned for its call rate (its caps limit it) */
	server_guard_refund(s, &from->via.src);
	if (beyond) {
		server_answer(s, x, m, 403, "No Transit", SLICE_NULL);
		return true;
	}
	out.peer = p->name;
	dialed_of(dialed, m);
	out.dialed = dialed;
	/* its new calls a second (calls_per_second): each INVITE it sends
	 * takes a token, whatever becomes of it */
	if (m->mid == SIP_M_INVITE && pi < TRUNK_MAX_PEERS) {
		uint32_t w = trunk_bucket_check(&s->trunks->ps[pi].cps_in, p->calls_per_second,
						server_now_ms(), true);
		if (w) {
			char ra[40];
			snprintf(ra, sizeof(ra), "Retry-After: %u\r\n", (w + 999) / 1000);
			server_event(s, TRUNK_EVENT_PEER_RATE, x->in, m, SLICE_NULL, m->ruri_raw,
				     "the peer's new calls reached its calls_per_second", 503);
			proxy_record_refused(s->proxy, m, &who, 503);
			server_answer(s, x, m, 503, "Peer Call Rate Reached", slice_cstr(ra));
			return true;
		}
	}
	if (trunk_normalise(e164, &m->ruri, tc) != 0 || !(local = trunk_did_user(tc, e164))) {
		/* no transit: a peer reaches our users through their DIDs only */
		proxy_record_refused(s->proxy, m, &who, 404);
		server_answer(s, x, m, 404, "Not Found", SLICE_NULL);
		return true;
	}
	out.number = e164;
	snprintf(pkey, sizeof(pkey), "i:%s", p->name);
	trunk_cap(&v, count_of(s->trunks, pkey), p->max_calls_in, "peer max_calls_in");
	if (!v.allow) {
		server_event(s, v.event, x->in, m, SLICE_NULL, m->ruri_raw,
			     "the peer's calls in progress reached its max_calls_in", 503);
		proxy_record_refused(s->proxy, m, &who, 503);
		server_answer(s, x, m, 503, "Peer Call Limit Reached", SLICE_NULL);
		return true;
	}
	n = snprintf(aor, sizeof(aor), "sip:%s@%s", local, s->conf.domain);
	if (n < 0 || (size_t)n >= sizeof(aor) || !(t = malloc(sizeof(*t)))) {
		server_answer(s, x, m, 500, "Server Internal Error", SLICE_NULL);
		return true;
	}
	pv = proxy_media(s->proxy, m);
	if (pv.status) {
		server_event(s, pv.event, x->in, m, SLICE_NULL, m->from.uri.raw, pv.detail, pv.status);
		proxy_record_refused(s->proxy, m, &who, pv.status);
		server_answer(s, x, m, pv.status, pv.reason, SLICE_NULL);
		goto out;
	}
	server_collect_targets(s, t, slice_make(aor, (size_t)n), m->ruri.scheme == SIP_SCHEME_SIPS);
	if (t->n == 0) {
		proxy_record_refused(s->proxy, m, &who, 480);
		server_answer(s, x, m, 480, "Temporarily Unavailable", SLICE_NULL);
		goto out;
	}
	/* RFC 3325: a trusted peer's assertion is passed on (the core removes
	 * every received identity header); an untrusted one's is dropped */
	extra[0] = '\0';
	if (p->trust_pai) {
		const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_P_ASSERTED_IDENTITY);
		bool clean = h != NULL;
		for (size_t i = 0; h && i < h->value.len; i++)
			clean &= (unsigned char)h->value.p[i] >= 0x20 || h->value.p[i] == '\t';
		if (clean && h->value.len < sizeof(extra) - 32)
			snprintf(extra, sizeof(extra), "P-Asserted-Identity: %.*s\r\n",
				 (int)h->value.len, h->value.p);
	}
	pv = proxy_fork(s->proxy, st, m, from, t->t, t->n, slice_cstr(extra), &who);
	if (pv.status) {
		server_answer(s, x, m, pv.status, pv.reason, SLICE_NULL);
	} else {
		track(s, m, "", pkey, false);
		if (pi < TRUNK_MAX_PEERS)
			s->trunks->ps[pi].calls_in++;
		log_info("inbound call from peer %s to %s (DID %s)", p->name, local, e164);
	}
	server_targets_free(t);
out:
	free(t);
	return true;
}

bool server_trunk_peer_stats(const struct server *s, size_t i, struct server_trunk_peer_stats *out)
{
	const struct pstate *ps;

	if (!s->trunks || i >= s->conf.trunk.npeers || i >= TRUNK_MAX_PEERS)
		return false;
	ps = &s->trunks->ps[i];
	out->name = s->conf.trunk.peer[i].name;
	/* counters of another peer a reload put here (before the tick noticed) are not its own */
	if (strcmp(ps->name, out->name) != 0) {
		out->calls_out = out->calls_in = out->failed_out = 0;
		out->up = true;
		return true;
	}
	out->calls_out = ps->calls_out;
	out->calls_in = ps->calls_in;
	out->failed_out = ps->failed_out;
	out->up = !ps->down;
	return true;
}
