/*
 * trunk/state.c: the tables of struct trunk_state (trunk.h): the outside
 * calls in progress and their counts for the caps, the toll-fraud counters
 * of users and peers with their hold and burst alert, which counters changed
 * since they were stored and the other nodes' counts read back. The caps
 * count a call from trunk_state_placed (or _inbound_placed, _track) until
 * its record is written (trunk_state_ended), which happens exactly once per
 * call the proxy took, against the peer trying it or that took it
 * (trunk_state_failover moves it along a serial call's peers).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int trunk_state_new(struct trunk_state **sp, const struct trunk_env *env)
{
	struct trunk_state *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return ENOMEM;
	st->env = *env;
	if ((rc = htab_init(&st->calls, env->max_calls ? env->max_calls : 1)) != 0 ||
	    (rc = htab_init(&st->counts, env->max_calls ? env->max_calls : 1)) != 0 ||
	    (rc = htab_init(&st->usage, env->max_usage ? env->max_usage : 1)) != 0 ||
	    (rc = hash_key_random(&st->dest_key)) != 0) {
		htab_fini(&st->calls);
		htab_fini(&st->counts);
		htab_fini(&st->usage);
		free(st);
		return rc;
	}
	*sp = st;
	return 0;
}

static void free_call(struct htab_node *n, void *arg)
{
	struct tcall *c = (struct tcall *)n;

	(void)arg;
	free(c->call_id);
	free(c);
}

static void free_node(struct htab_node *n, void *arg)
{
	(void)arg;
	free(n);
}

void trunk_state_free(struct trunk_state **sp)
{
	struct trunk_state *st = *sp;

	if (!st)
		return;
	trunk_secrets_wipe(&st->secrets);
	htab_drain(&st->calls, free_call, NULL);
	htab_drain(&st->counts, free_node, NULL);
	htab_drain(&st->usage, free_node, NULL);
	htab_fini(&st->calls);
	htab_fini(&st->counts);
	htab_fini(&st->usage);
	free(st);
	*sp = NULL;
}


/* ---- calls in progress and their counts ----------------------------------------- */

static struct tcount *count_find(struct trunk_state *st, const char *key)
{
	size_t len = strlen(key);

	for (struct htab_node *n = htab_find(&st->counts, htab_hash(&st->counts, key, len)); n;
	     n = htab_next(&st->counts, n)) {
		struct tcount *c = (struct tcount *)n;
		if (strcmp(c->key, key) == 0)
			return c;
	}
	return NULL;
}

uint32_t trunk_count_of(struct trunk_state *st, const char *key)
{
	struct tcount *c = count_find(st, key);

	return c ? c->n : 0;
}

/* Add delta (+1 or -1) to key's count; an entry at 0 is removed. */
static int count_add(struct trunk_state *st, const char *key, int delta)
{
	struct tcount *c = count_find(st, key);
	int rc;

	if (!c) {
		if (delta < 0)
			return 0;
		if (strlen(key) >= sizeof(c->key) || !(c = calloc(1, sizeof(*c))))
			return ENOMEM;
		memcpy(c->key, key, strlen(key) + 1);
		if ((rc = htab_insert(&st->counts, &c->node,
				      htab_hash(&st->counts, c->key, strlen(c->key)))) != 0) {
			free(c);
			return rc;
		}
	}
	if (delta < 0 && c->n > 0)
		c->n--;
	else if (delta > 0)
		c->n++;
	if (c->n == 0) {
		htab_remove(&st->counts, &c->node);
		free(c);
	}
	return 0;
}

/* The call in progress of Call-ID id, or NULL. */
static struct tcall *call_find_s(struct trunk_state *st, struct slice id)
{
	if (!st->calls.n || !id.p)
		return NULL;
	for (struct htab_node *n = htab_find(&st->calls, htab_hash(&st->calls, id.p, id.len)); n;
	     n = htab_next(&st->calls, n)) {
		const char *cid = ((struct tcall *)n)->call_id;
		if (strncmp(cid, id.p, id.len) == 0 && cid[id.len] == '\0')
			return (struct tcall *)n;
	}
	return NULL;
}

static struct tcall *call_find(struct trunk_state *st, const char *call_id)
{
	return call_find_s(st, slice_cstr(call_id));
}

bool trunk_peer_room(uint32_t used, uint32_t max_calls_out, uint32_t keep)
{
	if (max_calls_out == 0)
		return true;
	return keep < max_calls_out && used < max_calls_out - keep;
}

int trunk_track(struct trunk_state *st, struct slice call_id, const char *user_key,
		const char *peer_key, bool intl)
{
	struct tcall *c = calloc(1, sizeof(*c));
	int rc;

	if (!c || !(c->call_id = malloc(call_id.len + 1))) {
		free(c);
		return ENOMEM;
	}
	memcpy(c->call_id, call_id.p, call_id.len);
	c->call_id[call_id.len] = '\0';
	snprintf(c->user_key, sizeof(c->user_key), "%s", user_key);
	snprintf(c->peer_key, sizeof(c->peer_key), "%s", peer_key);
	c->intl = intl;
	if ((rc = htab_insert(&st->calls, &c->node,
			      htab_hash(&st->calls, c->call_id, call_id.len))) != 0) {
		free_call(&c->node, NULL);
		return rc;
	}
	if (user_key[0])
		(void)count_add(st, user_key, 1);
	(void)count_add(st, peer_key, 1);
	return 0;
}

void trunk_state_track(struct trunk_state *st, struct slice call_id, const char *peer)
{
	char pkey[TRUNK_NAME_MAX + 2];

	struct tcall *c;

	snprintf(pkey, sizeof(pkey), "o:%s", peer);
	/* emergency calls: no class */
	if (trunk_track(st, call_id, "", pkey, false) == 0 && (c = call_find_s(st, call_id)))
		c->emergency = true;
}

bool trunk_state_failover(struct trunk_state *st, struct slice call_id, const char *peer,
			  const uint32_t *keep)
{
	const struct trunk_conf *tc = st->env.conf;
	struct tcall *c = call_find_s(st, call_id);
	const struct trunk_peer *p;
	char pkey[TRUNK_NAME_MAX + 2];
	size_t i = 0;

	if (!c || c->peer_key[0] != 'o' || !peer)
		return true; /* no outside call out that trunk/ counts */
	while (i < tc->npeers && strcmp(tc->peer[i].name, peer) != 0)
		i++;
	/* no peer of ours by that name (a reload took it away): its cap is
	 * not known, so only an emergency call goes (counted where it was) */
	if (i == tc->npeers)
		return c->emergency;
	p = &tc->peer[i];
	snprintf(pkey, sizeof(pkey), "o:%s", p->name);
	if (strcmp(pkey, c->peer_key) == 0)
		return true;
	if (!c->emergency && !trunk_peer_room(trunk_count_of(st, pkey), p->max_calls_out,
					      keep && i < TRUNK_MAX_PEERS ? keep[i] : 0))
		return false;
	if (count_add(st, pkey, 1) != 0)
		return c->emergency; /* out of memory: not counted, so not tried */
	(void)count_add(st, c->peer_key, -1);
	_Static_assert(sizeof(pkey) == sizeof(c->peer_key), "a peer key fits a call's");
	memcpy(c->peer_key, pkey, sizeof(pkey));
	return true;
}

bool trunk_state_restored(struct trunk_state *st, const struct trunk_kept *k)
{
	const char *peer = k->peer ? k->peer : "", *klass = k->klass ? k->klass : "";
	const char *user = k->user ? k->user : "";
	char ukey[TRUNK_USER_MAX + 2] = "", pkey[TRUNK_NAME_MAX + 2];
	bool intl = false;
	struct tcall *c;

	if (!k->call_id || !k->call_id[0] || !peer[0] || strlen(peer) >= TRUNK_NAME_MAX ||
	    call_find(st, k->call_id))
		return false;
	/* a call in from the peer has no class (trunk_inbound's record) */
	snprintf(pkey, sizeof(pkey), "%c:%s", klass[0] ? 'o' : 'i', peer);
	for (int i = 0; i < TRUNK_CLASS_COUNT; i++)
		if (strcmp(klass, trunk_class_name((enum trunk_class)i)) == 0)
			intl = trunk_class_intl((enum trunk_class)i);
	/* the caller's calls in progress, as trunk_state_placed counts them:
	 * not an emergency call's (trunk_state_track), not a call in */
	if (klass[0] && !k->emergency && user[0] && strlen(user) < TRUNK_USER_MAX)
		snprintf(ukey, sizeof(ukey), "u:%s", user);
	if (trunk_track(st, slice_cstr(k->call_id), ukey, pkey, intl) != 0)
		return false;
	if ((c = call_find(st, k->call_id)) != NULL)
		c->emergency = k->emergency;
	return true;
}

void trunk_state_forget(struct trunk_state *st, const char *call_id)
{
	struct tcall *c = call_find(st, call_id);

	if (!c)
		return;
	if (c->user_key[0])
		(void)count_add(st, c->user_key, -1);
	(void)count_add(st, c->peer_key, -1);
	htab_remove(&st->calls, &c->node);
	free_call(&c->node, NULL);
}

/* ---- toll-fraud counters ------------------------------------------------------- */

/* The counters of key ("u:NAME", "p:NAME"); made when create. NULL when
 * absent, or when the table is full (max_usage: it cannot be, unless users
 * were replaced faster than the sweep drops idle ones). */
struct tusage *trunk_usage_of(struct trunk_state *st, const char *key, bool create)
{
	size_t len = strlen(key);
	uint64_t h;
	struct tusage *u;

	if (len >= sizeof(u->key))
		return NULL;
	h = htab_hash(&st->usage, key, len);
	for (struct htab_node *n = htab_find(&st->usage, h); n; n = htab_next(&st->usage, n))
		if (strcmp(((struct tusage *)n)->key, key) == 0)
			return (struct tusage *)n;
	if (!create || !(u = calloc(1, sizeof(*u))))
		return NULL;
	trunk_usage_init(&u->u);
	memcpy(u->key, key, len + 1);
	if (htab_insert(&st->usage, &u->node, h) != 0) {
		free(u);
		return NULL;
	}
	return u;
}

/* u's rings changed: handed out by trunk_state_dirty_next. */
void trunk_usage_dirty(struct trunk_state *st, struct tusage *u)
{
	if (!u || u->dirty)
		return;
	u->dirty = true;
	u->next_dirty = st->dirty;
	st->dirty = u;
}

struct sweep {
	struct trunk_state *st;
	int64_t now;
};

static void sweep_one(struct htab_node *n, void *arg)
{
	struct sweep *w = arg;
	struct tusage *u = (struct tusage *)n;

	/* kept while other nodes count for it: a new entry would not know
	 * their counts until the next reread */
	if (!u->held && !u->was_held && !u->dirty && !u->u.calls_ext && !u->u.secs_ext[0] &&
	    !u->u.secs_ext[1] && trunk_usage_idle(&u->u, w->now, w->st->env.fraud->alert_window)) {
		htab_remove(&w->st->usage, n);
		free(u);
	}
}

void trunk_state_tick(struct trunk_state *st, struct trunk_tick *out, uint64_t now_ms, int64_t now,
		      bool shared)
{
	const struct trunk_conf *tc = st->env.conf;

	memset(out, 0, sizeof(*out));
	if (now_ms >= st->next_sweep_ms) {
		struct sweep w = { st, now };
		st->next_sweep_ms = now_ms + TRUNK_USAGE_SWEEP_MS;
		htab_set_max(&st->usage, st->env.max_usage);
		htab_each(&st->usage, sweep_one, &w);
	}
	if (shared && now_ms >= st->next_sync_ms) {
		st->next_sync_ms = now_ms + TRUNK_FRAUD_SYNC_MS;
		out->sync = true;
	}
	if (now_ms >= st->next_secrets_ms) {
		st->next_secrets_ms = now_ms + TRUNK_SECRETS_CHECK_MS;
		out->secrets = true;
	}
	for (size_t i = 0; i < tc->npeers && i < TRUNK_MAX_PEERS; i++) {
		const struct trunk_peer *p = &tc->peer[i];
		struct pstate *ps = &st->ps[i];
		if (strcmp(ps->name, p->name) != 0) {
			/* a reload put another peer here: it starts up, pinged soon */
			snprintf(ps->name, sizeof(ps->name), "%s", p->name);
			ps->down = false;
			ps->next_ms = now_ms;
			ps->calls_out = ps->calls_in = ps->failed_out = 0;
			memset(&ps->cps_out, 0, sizeof(ps->cps_out));
			memset(&ps->cps_in, 0, sizeof(ps->cps_in));
			if (!ps->reg.busy)
				memset(&ps->reg, 0, sizeof(ps->reg));
			else
				ps->reg.registered = ps->reg.failed = false;
			ps->reg.next_ms = now_ms;
		}
		if (p->ping_interval && !ps->ping_busy && now_ms >= ps->next_ms)
			out->ping[out->nping++] = (uint8_t)i;
		if (p->do_register && !ps->reg.busy && now_ms >= ps->reg.next_ms)
			out->reg[out->nreg++] = (uint8_t)i;
	}
}

bool trunk_state_dirty(const struct trunk_state *st)
{
	return st->dirty != NULL;
}

bool trunk_state_dirty_next(struct trunk_state *st, const char **key,
			    char text[TRUNK_USAGE_TEXT_MAX], int *rc)
{
	struct tusage *u = st->dirty;

	if (!u)
		return false;
	st->dirty = u->next_dirty;
	u->next_dirty = NULL;
	u->dirty = false;
	*key = u->key;
	*rc = trunk_usage_encode(text, TRUNK_USAGE_TEXT_MAX, &u->u);
	return true;
}

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

void trunk_state_sync_begin(struct trunk_state *st)
{
	htab_each(&st->usage, zero_ext, NULL);
}

void trunk_state_sync_end(struct trunk_state *st, bool ok)
{
	if (ok)
		htab_each(&st->usage, take_ext, NULL);
}

/* One stored row: this node's own rings (at startup only: ours are the
 * truth afterwards), or another node's counts added as _ext. */
void trunk_state_sync_row(struct trunk_state *st, struct trunk_sync *c, const char *key, bool own,
			  const char *counts)
{
	struct trunk_usage r;
	struct tusage *u;

	if (own && !c->own)
		return;
	if (trunk_usage_decode(&r, slice_cstr(counts), c->now) != 0) {
		c->bad++;
		return;
	}
	if (!r.calls_sum && !r.secs_sum[0] && !r.secs_sum[1])
		return; /* all aged out */
	if (!(u = trunk_usage_of(st, key, true)))
		return; /* the table is full: the calls of this one are not seen */
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
}

/* Is the user of u on hold? The store's word (store_hold, at version) once
 * it has moved past our own hold; ours until then. A hold the
 * administrator lifted forgives the user's burst window. */
bool trunk_held(struct trunk_state *st, struct tusage *u, bool store_hold, uint64_t version)
{
	bool h = store_hold;

	(void)st;
	if (!u)
		return h;
	if (u->held && version == u->held_version)
		h = true;
	else
		u->held = false;
	if (u->was_held && !h)
		trunk_usage_forgive(&u->u);
	u->was_held = h;
	return h;
}

/* A burst on user's counters u: *alert, and with [fraud] suspend our own
 * hold until the store (at a version past cache_version) says otherwise. */
void trunk_burst_check(struct trunk_state *st, struct tusage *u, struct slice user, int64_t now,
		       uint64_t cache_version, struct trunk_alert *alert)
{
	const struct trunk_fraud_conf *f = st->env.fraud;

	memset(alert, 0, sizeof(*alert));
	if (!u || !trunk_burst(&u->u, f, now, alert->why, sizeof(alert->why)))
		return;
	alert->raised = true;
	snprintf(alert->full, sizeof(alert->full), "%s%s", alert->why,
		 f->suspend ? "; outside calling on hold until `bastion fraud clear`" : "");
	snprintf(alert->user, sizeof(alert->user), "%.*s",
		 (int)(user.len < sizeof(alert->user) ? user.len : 0), user.p ? user.p : "");
	if (!f->suspend || user.len == 0 || user.len >= sizeof(alert->user))
		return;
	u->held = u->was_held = true;
	u->held_version = cache_version;
	alert->hold = true;
}

void trunk_state_ended(struct trunk_state *st, const char *call_id, const char *peer,
		       int final_status, uint64_t connected_s, int64_t now,
		       uint64_t cache_version, struct trunk_alert *alert)
{
	const struct trunk_fraud_conf *f = st->env.fraud;
	struct tcall *c = call_find(st, call_id);
	struct tusage *u;
	char pkey[TRUNK_NAME_MAX + 2];

	memset(alert, 0, sizeof(*alert));
	if (!c)
		return;
	if (c->user_key[0]) {
		(void)count_add(st, c->user_key, -1);
		/* the minutes, and a short international call, to the caller */
		if ((u = trunk_usage_of(st, c->user_key, true)) != NULL) {
			trunk_usage_ended(&u->u, c->intl, connected_s, now, f->alert_window,
					  f->short_call);
			trunk_usage_dirty(st, u);
			trunk_burst_check(st, u, slice_cstr(c->user_key + 2), now, cache_version,
					  alert);
		}
		/* and to the peer that took it */
		if (peer[0]) {
			snprintf(pkey, sizeof(pkey), "p:%s", peer);
			if ((u = trunk_usage_of(st, pkey, true)) != NULL) {
				trunk_usage_ended(&u->u, c->intl, connected_s, now, f->alert_window,
						  f->short_call);
				trunk_usage_dirty(st, u);
			}
			for (size_t i = 0; i < st->env.conf->npeers && i < TRUNK_MAX_PEERS; i++)
				if (strcmp(st->env.conf->peer[i].name, peer) == 0 &&
				    final_status / 100 != 2)
					st->ps[i].failed_out++;
		}
	}
	(void)count_add(st, c->peer_key, -1);
	htab_remove(&st->calls, &c->node);
	free_call(&c->node, NULL);
}
