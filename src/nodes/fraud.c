/*
 * nodes/fraud.c: the toll-fraud counters of trunk/ (struct trunk_state) kept
 * in step with the store (nodes.h, docs/trunks.md "Limits", docs/scaling.md).
 * The counters that changed are written with the next batch of call records
 * (never on a call's path); this node's rows are read back at startup, so
 * that a restart goes on counting where it stopped; on a shared store
 * (PostgreSQL) the other nodes' rows are reread when trunk_state_tick asks;
 * a burst's hold goes to the user's row (users.fraud_hold), where the
 * credential cache and every node see it. trunk/ decides; this file reads,
 * writes and logs.
 */
#include "nodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../log/log.h"

struct nodes_fraud {
	struct nodes_fraud_conf c;
	bool sync_failed;          /* the last reread failed (said once) */
	uint64_t others_seen;      /* their calls of the last hour at the last reread */
};

int nodes_fraud_new(struct nodes_fraud **fp, const struct nodes_fraud_conf *c)
{
	struct nodes_fraud *f;

	if (!fp || !c || !c->trunk || !c->domain || !c->limit)
		return EINVAL;
	if (!(f = calloc(1, sizeof(*f))))
		return ENOMEM;
	f->c = *c;
	*fp = f;
	return 0;
}

void nodes_fraud_free(struct nodes_fraud **fp)
{
	if (!fp || !*fp)
		return;
	free(*fp);
	*fp = NULL;
}

struct sync_arg {
	struct trunk_state *st;
	struct trunk_sync c;
};

static int sync_row(void *arg, const char *key, bool own, const char *counts)
{
	struct sync_arg *a = arg;

	trunk_state_sync_row(a->st, &a->c, key, own, counts);
	return 0;
}

int nodes_fraud_read(struct nodes_fraud *f, bool own, int64_t now)
{
	struct store *store = f->c.store;
	struct sync_arg a = { f->c.trunk, { now, own, 0, 0 } };
	int rc;

	if (!store)
		return 0;
	trunk_state_sync_begin(f->c.trunk);
	rc = store_fraud_list(store, now, !own, sync_row, &a);
	if (rc && rc != ENOSYS && !f->sync_failed)
		log_warn("toll-fraud counters not read from the store (%s%s%s)%s", strerror(rc),
			 store_errmsg(store)[0] ? ": " : "", store_errmsg(store),
			 own ? ": counting starts from zero"
			     : ": the other nodes' counts of the last reread stand until it works");
	else if (!rc && f->sync_failed)
		log_notice("toll-fraud counters read from the store again");
	f->sync_failed = rc && rc != ENOSYS;
	trunk_state_sync_end(f->c.trunk, !rc); /* a failed reread keeps the last */
	if (a.c.bad)
		log_warn("%zu stored toll-fraud counters ignored: not in this build's format", a.c.bad);
	if (!rc && a.c.others != f->others_seen) {
		f->others_seen = a.c.others;
		log_info("toll-fraud counters: other nodes placed %llu outside calls in the last "
			 "hour", (unsigned long long)a.c.others);
	}
	return rc;
}

bool nodes_fraud_pending(const struct nodes_fraud *f)
{
	return f && trunk_state_dirty(f->c.trunk);
}

size_t nodes_fraud_write(struct nodes_fraud *f, int64_t now)
{
	char text[TRUNK_USAGE_TEXT_MAX];
	const char *key;
	size_t failed = 0;
	int rc = 0, first = 0;

	while (f && trunk_state_dirty_next(f->c.trunk, &key, text, &rc)) {
		if (!f->c.store)
			continue;
		if (rc || (rc = store_fraud_put(f->c.store, key, text, now)) != 0) {
			failed++;
			first = first ? first : rc;
		}
	}
	if (failed && first != ENOSYS && log_limit_allow(f->c.limit, (uint64_t)now))
		log_error("toll-fraud counters of %zu users and peers not stored (%s): a restart "
			  "would forget their calls since the last write", failed, strerror(first));
	return first == ENOSYS ? 0 : failed;
}

int nodes_fraud_hold(struct nodes_fraud *f, const struct trunk_alert *a)
{
	int rc;

	if (!a->raised || !a->hold)
		return 0;
	rc = f->c.store ? store_users_set_fraud_hold(f->c.store, a->user, f->c.domain, a->why, 0)
			: EINVAL;
	if (rc)
		log_error("fraud hold of %s not stored (%s): held by this server until its users "
			  "change", a->user, strerror(rc));
	return rc;
}
