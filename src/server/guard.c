/*
 * server/guard.c: guard/ in the request path (issue 6).
 *
 * Every message passes guard_admit() before it is parsed: a banned source
 * is dropped silently, one over its budget is dropped. What proves to be
 * authenticated work gives its cost back: a digest that verified credits its
 * source (guard_auth_ok), a response matching a client transaction and an
 * ACK or in-dialog request matching a dialog from the right side are refunded
 * (server_guard_refund), so the budgets bind only unauthenticated traffic.
 * Wrong digest responses count toward a source ban and a user lock; a
 * scanner fingerprint bans its source at once. Each ban and lock is one
 * security event, never one line per packet.
 *
 * Bans are written to the store on the next tick and read back at start, so
 * they survive a restart; a change another process (`bastion ban`) commits
 * is picked up within a second: bans it added are applied, bans it deleted
 * are lifted. User locks go the same way (written on the next tick, read
 * back at start and whenever the store changed), so a lock started on one
 * node applies on every node sharing the store within a second
 * (docs/scaling.md); each node counts the failures it sees.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

enum guard_req server_guard_kind(const char *p, size_t len)
{
	size_t i = 0;

	/* A UDP peer may put keep-alive CRLFs first; the parser skips them. */
	while (i < len && i < 8 && (p[i] == '\r' || p[i] == '\n'))
		i++;
	p += i;
	len -= i;
	if (len > 7 && memcmp(p, "INVITE ", 7) == 0)
		return GUARD_REQ_INVITE;
	if (len > 9 && memcmp(p, "REGISTER ", 9) == 0)
		return GUARD_REQ_REGISTER;
	return GUARD_REQ_OTHER;
}

static const char *req_name(enum guard_req r)
{
	return r == GUARD_REQ_INVITE ? "INVITE" : r == GUARD_REQ_REGISTER ? "REGISTER" : "other";
}

/* One guard.ban event, and the ban queued for the store. */
static void ban_started(struct server *s, const struct net_addr *src, enum net_transport tp,
			const char *code, const char *reason, const struct sip_msg *m,
			uint64_t now_ms)
{
	struct guard_ban_info bi;
	char why[160];
	const struct sip_hdr *ua = m ? sip_msg_hdr(m, SIP_H_USER_AGENT) : NULL;
	struct log_event e = {
		.kind = "guard.ban",
		.src = src,
		.tp = tp,
		.has_src = true,
		.call_id = m && (m->have & SIP_HAVE_CALL_ID) ? m->call_id : SLICE_NULL,
		.user_agent = ua ? ua->value : SLICE_NULL,
		.reason = why,
	};

	if (!guard_ban_of(s->guard, src, now_ms, &bi))
		return;
	snprintf(why, sizeof(why), "%s; banned %llu s (ban %u of this source)", reason,
		 (unsigned long long)((bi.until_ms - now_ms + 999) / 1000), bi.count);
	log_event(&e);
	s->stats.bans++;
	if (s->nban_q < SERVER_BAN_QUEUE) {
		struct server_ban_q *q = &s->ban_q[s->nban_q++];

		memcpy(q->addr, bi.addr, sizeof(q->addr));
		q->until_ms = bi.until_ms;
		q->count = bi.count;
		snprintf(q->reason, sizeof(q->reason), "%s", code);
	} else {
		s->stats.bans_unsaved++;
	}
}

bool server_guard_admit(struct server *s, const struct net_msg *in, uint64_t now_ms)
{
	enum guard_req kind = server_guard_kind(in->buf, in->len);
	bool new_ban = false;
	char why[64];

	switch (guard_admit(s->guard, &in->src, kind, now_ms, &new_ban)) {
	case GUARD_PASS:
		return true;
	case GUARD_DROP_BANNED:
		/* an emergency INVITE is admitted first (server/emerg.c) */
		if (kind == GUARD_REQ_INVITE && server_emerg_admit(s, in, now_ms))
			return true;
		s->stats.dropped_banned++;
		return false;
	case GUARD_DROP_RATE:
		if (kind == GUARD_REQ_INVITE && server_emerg_admit(s, in, now_ms))
			return true;
		s->stats.dropped_rate++;
		if (new_ban) {
			snprintf(why, sizeof(why), "request rate over budget (%s)", req_name(kind));
			ban_started(s, &in->src, in->tp, "rate", why, NULL, now_ms);
		}
		return false;
	}
	return false;
}

void server_guard_refund(struct server *s, const struct net_addr *src)
{
	guard_refund(s->guard, src, server_now_ms());
}

bool server_guard_scanner(struct server *s, const struct net_msg *in, const struct sip_msg *m)
{
	const struct sip_hdr *ua = sip_msg_hdr(m, SIP_H_USER_AGENT);
	struct slice agent = ua ? ua->value : SLICE_NULL;
	uint64_t now = server_now_ms();

	if (!guard_scanner(s->guard, agent, (m->have & SIP_HAVE_FROM) ? m->from.uri.raw : SLICE_NULL) &&
	    !guard_scanner(s->guard, SLICE_NULL, (m->have & SIP_HAVE_TO) ? m->to.uri.raw : SLICE_NULL))
		return false;
	s->stats.dropped_scanner++;
	if (guard_ban(s->guard, &in->src, now, 0))
		ban_started(s, &in->src, in->tp, "scanner", "scanner fingerprint", m, now);
	return !guard_allowed(s->guard, &in->src);
}

void server_guard_auth_ok(struct server *s, const struct net_msg *in, struct slice user,
			  enum sip_method mid)
{
	guard_auth_ok(s->guard, &in->src, user,
		      mid == SIP_M_INVITE     ? GUARD_REQ_INVITE
		      : mid == SIP_M_REGISTER ? GUARD_REQ_REGISTER
					      : GUARD_REQ_OTHER,
		      server_now_ms());
}

bool server_guard_locked(struct server *s, const struct net_msg *in, struct slice user)
{
	return guard_user_locked(s->guard, user, &in->src, server_now_ms());
}

void server_guard_auth_failed(struct server *s, const struct net_msg *in, const struct sip_msg *m,
			      struct slice user, struct slice aor, bool known_user)
{
	uint64_t now = server_now_ms();
	unsigned ev = guard_auth_failure(s->guard, &in->src, known_user ? user : SLICE_NULL, now);

	if (ev & GUARD_EV_LOCK) {
		char why[96];

		if (s->nlock_q < SERVER_LOCK_QUEUE && user.len < STORE_NAME_MAX) {
			struct server_lock_q *q = &s->lock_q[s->nlock_q++];

			memcpy(q->name, user.p, user.len);
			q->name[user.len] = '\0';
			q->until = (int64_t)time(NULL) + s->conf.lock_time;
		} else {
			log_warn("user lock not stored (it holds on this node only)");
		}
		snprintf(why, sizeof(why), "more than %u wrong responses in %u s; locked %u s",
			 s->conf.user_fail_limit, s->conf.fail_window, s->conf.lock_time);
		server_event(s, "auth.lockout", in, m, user, aor, why, 403);
	}
	if (ev & GUARD_EV_BAN)
		ban_started(s, &in->src, in->tp, "brute force", "too many failed authentications", m,
			    now);
}

/* ---- persistence ------------------------------------------------------------------- */

/* Unix seconds at which a ban ending at monotonic until_ms ends. */
static int64_t wall_until(uint64_t until_ms, uint64_t now_ms)
{
	return (int64_t)time(NULL) + (int64_t)((until_ms - now_ms + 999) / 1000);
}

/* Write the bans and user locks started since the last tick, in one
 * transaction. */
static void flush_bans(struct server *s, uint64_t now_ms)
{
	int rc = 0;

	if (!s->nban_q && !s->nlock_q)
		return;
	if (store_batch_begin(s->store) == 0) {
		for (size_t i = 0; i < s->nlock_q && !rc; i++)
			if ((rc = store_locks_put(s->store, s->lock_q[i].name, s->lock_q[i].until)) ==
			    ENOSYS)
				rc = 0;
		for (size_t i = 0; i < s->nban_q && !rc; i++) {
			struct store_ban b = { .count = s->ban_q[i].count };

			memcpy(b.addr, s->ban_q[i].addr, sizeof(b.addr));
			memcpy(b.reason, s->ban_q[i].reason, sizeof(b.reason));
			b.until = wall_until(s->ban_q[i].until_ms, now_ms);
			rc = store_bans_put(s->store, &b);
		}
		if (store_batch_end(s->store, rc == 0) != 0 && !rc)
			rc = EIO;
	} else {
		rc = EIO;
	}
	if (rc) {
		log_warn("%zu bans and %zu user locks not stored (they hold on this node until "
			 "restart): %s",
			 s->nban_q, s->nlock_q, strerror(rc));
		s->stats.bans_unsaved += s->nban_q;
	}
	s->nban_q = 0;
	s->nlock_q = 0;
}

/* Apply one stored user lock to the guard. */
static int apply_lock(void *arg, const char *name, int64_t until)
{
	struct server *s = arg;
	int64_t left = until - (int64_t)time(NULL);

	if (left > 0 &&
	    guard_lock_restore(s->guard, slice_cstr(name), server_now_ms(),
			       left > UINT32_MAX ? UINT32_MAX : (uint32_t)left))
		log_notice("user %s locked for %lld s (a lock from the store)", name,
			   (long long)left);
	return 0;
}

/* Take in the user locks of the store (other nodes', or an earlier run's). */
static int sync_locks(struct server *s)
{
	int rc = store_locks_list(s->store, (int64_t)time(NULL), apply_lock, s);

	return rc == ENOSYS ? 0 : rc;
}

struct ban_set {
	char (*addr)[STORE_BAN_ADDR_MAX];
	size_t n, cap;
};

static int cmp_addr(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Apply one stored ban to the guard and remember its key. */
static int apply_stored(void *arg, const struct store_ban *b)
{
	struct server *s = ((void **)arg)[0];
	struct ban_set *set = ((void **)arg)[1];
	uint64_t now = server_now_ms();
	int64_t left = b->until - (int64_t)time(NULL);
	struct net_addr a;
	char key[STORE_BAN_ADDR_MAX];

	if (guard_key_parse(&a, key, sizeof(key), b->addr, s->guard_prefix) != 0) {
		log_warn("stored ban of \"%s\" ignored: not an address of this configuration",
			 b->addr);
		return 0;
	}
	if (left > 0)
		guard_ban_restore(s->guard, &a, now, left > UINT32_MAX ? UINT32_MAX : (uint32_t)left,
				  b->count);
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		void *p = realloc(set->addr, cap * sizeof(*set->addr));

		if (!p)
			return ENOMEM;
		set->addr = p;
		set->cap = cap;
	}
	memcpy(set->addr[set->n++], key, sizeof(key));
	return 0;
}

struct lift_ctx {
	struct server *s;
	const struct ban_set *set;
	uint64_t now;
	size_t lifted;
};

static void lift_if_deleted(void *arg, const struct guard_ban_info *bi)
{
	struct lift_ctx *lc = arg;
	struct net_addr a;
	char key[STORE_BAN_ADDR_MAX];

	if (lc->set->n && bsearch(bi->addr, lc->set->addr, lc->set->n, sizeof(*lc->set->addr),
				  cmp_addr))
		return;
	if (guard_key_parse(&a, key, sizeof(key), bi->addr, lc->s->guard_prefix) == 0 &&
	    guard_unban(lc->s->guard, &a, lc->now))
		lc->lifted++;
}

/* Make the guard's bans those of the store: apply every stored ban; with
 * lift, also lift the bans the store no longer has (deleted by the CLI).
 * Every ban of this process has been flushed before. */
static int sync_bans(struct server *s, bool lift)
{
	struct ban_set set = { 0 };
	void *arg[2] = { s, &set };
	int rc = store_bans_list(s->store, (int64_t)time(NULL), apply_stored, arg);

	if (rc == 0 && lift) {
		struct lift_ctx lc = { s, &set, server_now_ms(), 0 };

		if (set.n) /* (never hand qsort a NULL array) */
			qsort(set.addr, set.n, sizeof(*set.addr), cmp_addr);
		guard_list_bans(s->guard, lc.now, lift_if_deleted, &lc);
		if (lc.lifted)
			log_notice("%zu bans lifted from the store", lc.lifted);
	}
	free(set.addr);
	return rc;
}

void server_guard_flush(struct server *s)
{
	flush_bans(s, server_now_ms());
}

void server_guard_tick(struct server *s, uint64_t now_ms)
{
	int64_t dv;
	int rc;

	server_guard_flush(s);
	if (now_ms < s->next_ban_sync_ms)
		return;
	s->next_ban_sync_ms = now_ms + 1000;
	if (now_ms >= s->next_ban_expire_ms) {
		s->next_ban_expire_ms = now_ms + 60000;
		if ((rc = store_bans_expire(s->store, NULL, (int64_t)time(NULL))) != 0)
			log_warn("ended bans not removed from the store: %s", strerror(rc));
	}
	if (store_data_version(s->store, &dv) != 0 || dv == s->ban_data_version)
		return;
	s->ban_data_version = dv;
	if ((rc = sync_bans(s, true)) != 0)
		log_warn("bans not reloaded from the store: %s", strerror(rc));
	if ((rc = sync_locks(s)) != 0)
		log_warn("user locks not reloaded from the store: %s", strerror(rc));
}

int server_guard_start(struct server *s, const struct conf *c, char *err, size_t errlen)
{
	struct conf_guard *cg = malloc(sizeof(*cg));
	char why[160] = "";
	int rc;

	if (!cg)
		return ENOMEM;
	conf_guard(c, cg);
	rc = guard_new(&s->guard, &cg->gc, why, sizeof(why));
	free(cg);
	if (rc) {
		snprintf(err, errlen, "%s", why[0] ? why : strerror(rc));
		return rc;
	}
	s->guard_prefix = c->guard_v6_prefix;
	if ((rc = store_data_version(s->store, &s->ban_data_version)) != 0 ||
	    (rc = sync_bans(s, false)) != 0 || (rc = sync_locks(s)) != 0) {
		snprintf(err, errlen, "bans and locks not loaded from the store: %s",
			 strerror(rc));
		return rc;
	}
	return 0;
}

static bool guard_conf_same(const struct conf *a, const struct conf *b)
{
#define SAME(f) (a->f == b->f)
	return SAME(guard_sources) && SAME(guard_users) && SAME(guard_v6_prefix) && SAME(rate) &&
	       SAME(invite_rate) && SAME(register_rate) && SAME(auth_credit) &&
	       SAME(auth_ceiling) && SAME(trust_window) && SAME(ban_drops) && SAME(ban_grace) &&
	       SAME(ban_time) && SAME(ban_max) && SAME(fail_window) &&
	       SAME(source_fail_limit) && SAME(user_fail_limit) && SAME(lock_time) &&
	       strcmp(a->allow, b->allow) == 0 && strcmp(a->scanners, b->scanners) == 0;
#undef SAME
}

int server_guard_reload(struct server *s, const struct conf *c)
{
	struct guard *old = s->guard;
	uint32_t old_prefix = s->guard_prefix;
	char err[256];
	int rc;

	/* Rates, trust, failure counts and locks live in the guard only: keep
	 * it unless its settings changed. Bans come back from the store. */
	if (guard_conf_same(&s->conf, c))
		return 0;
	flush_bans(s, server_now_ms());
	s->guard = NULL;
	if ((rc = server_guard_start(s, c, err, sizeof(err))) != 0) {
		guard_free(&s->guard);
		s->guard = old;
		s->guard_prefix = old_prefix;
		snprintf(s->guard_err, sizeof(s->guard_err), "%s", err);
		return rc;
	}
	guard_free(&old);
	log_notice("guard settings changed: rates, trust and failure counts start afresh; "
		   "bans kept");
	return 0;
}
