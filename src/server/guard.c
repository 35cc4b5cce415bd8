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
 * Bans and user locks started here are handed to nodes/ (nodes/bans.c),
 * which writes them to the store on the next tick, reads them back at start
 * and applies or lifts what another process (`bastion ban`, another node)
 * committed within a second (docs/scaling.md); each node counts the
 * failures it sees.
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
	nodes_bans_started(s->bans, s->store, &bi, code, now_ms, (int64_t)time(NULL));
	s->stats.bans_unsaved = nodes_bans_unsaved(s->bans); /* a full queue was written */
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

		nodes_bans_locked(s->bans, s->store, user, (int64_t)time(NULL) + s->conf.lock_time);
		snprintf(why, sizeof(why), "more than %u wrong responses in %u s; locked %u s",
			 s->conf.user_fail_limit, s->conf.fail_window, s->conf.lock_time);
		server_event(s, "auth.lockout", in, m, user, aor, why, 403);
	}
	if (ev & GUARD_EV_BAN)
		ban_started(s, &in->src, in->tp, "brute force", "too many failed authentications", m,
			    now);
}

/* ---- the store (nodes/bans.c) ------------------------------------------------------- */

void server_guard_flush(struct server *s)
{
	(void)nodes_bans_flush(s->bans, s->store);
	s->stats.bans_unsaved = nodes_bans_unsaved(s->bans);
}

void server_guard_tick(struct server *s, uint64_t now_ms)
{
	nodes_bans_tick(s->bans, s->store, s->guard, s->guard_prefix, now_ms, (int64_t)time(NULL));
	s->stats.bans_unsaved = nodes_bans_unsaved(s->bans);
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
	if ((!s->bans && (rc = nodes_bans_new(&s->bans)) != 0) ||
	    (rc = nodes_bans_load(s->bans, s->store, s->guard, s->guard_prefix, server_now_ms(),
				  (int64_t)time(NULL))) != 0) {
		snprintf(err, errlen, "bans and locks not loaded from the store: %s",
			 strerror(rc));
		return rc;
	}
	return 0;
}

int server_guard_reload(struct server *s, const struct conf *c)
{
	struct guard *old = s->guard;
	uint32_t old_prefix = s->guard_prefix;
	char err[256];
	int rc;

	/* Rates, trust, failure counts and locks live in the guard only: keep
	 * it unless its settings changed. Bans come back from the store. */
	if (conf_guard_same(&s->conf, c))
		return 0;
	server_guard_flush(s);
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
