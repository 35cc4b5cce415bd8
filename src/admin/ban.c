/*
 * admin/ban: `bastion ban list | add ADDR [TIME] | del ADDR`, the guard's
 * bans as the database keeps them (store.h, docs/guard.md). Addresses are
 * normalised to the guard's key with guard_key_parse() and the configured
 * [guard] ipv6_prefix, so "2001:db8:1:2::5" and "2001:db8:1:2::/64" name one
 * ban. Works while the server runs: each change is one short transaction,
 * and the server notices other processes' commits (store_data_version()).
 * Times are printed in UTC whatever the locale or TZ.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/conf.h"
#include "../guard/guard.h"
#include "../net/net.h"
#include "../store/store.h"
#include "internal.h"

#define WALK_FOUND (-1) /* a walk's callback found what it looked for */

/* ---- durations ------------------------------------------------------------------ */

int admin_parse_duration(const char *s, int64_t *out, char *why, size_t cap)
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	size_t len = s ? strlen(s) : 0, nd;
	int64_t n = 0, mult = 0;

	if (len == 0) {
		snprintf(why, cap, "empty");
		return EINVAL;
	}
	nd = strspn(s, "0123456789");
	if (nd == 0 || len > nd + 1) {
		snprintf(why, cap, "expected seconds, or a number followed by s, m, h or d "
				   "(e.g. 90, 30m, 2h, 7d)");
		return EINVAL;
	}
	if (len == nd) {
		mult = 1;
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(units); i++)
			if (units[i].unit == s[nd])
				mult = units[i].secs;
		if (!mult) {
			snprintf(why, cap, "unknown unit '%c' (use s, m, h or d)",
				 s[nd] >= 0x20 && s[nd] < 0x7f ? s[nd] : '?');
			return EINVAL;
		}
	}
	/* Twelve significant digits cannot overflow; more is over the limit
	 * whatever the unit. */
	for (size_t i = 0, sig = 0; i < nd; i++) {
		if (n == 0 && s[i] == '0')
			continue;
		if (++sig > 12) {
			snprintf(why, cap, "at most 10 years (%lldd)", ADMIN_BAN_MAX_S / 86400);
			return EINVAL;
		}
		n = n * 10 + (s[i] - '0');
	}
	if (n == 0) {
		snprintf(why, cap, "at least 1 second");
		return EINVAL;
	}
	if (n > ADMIN_BAN_MAX_S / mult) {
		snprintf(why, cap, "at most 10 years (%lldd)", ADMIN_BAN_MAX_S / 86400);
		return EINVAL;
	}
	*out = n * mult;
	return 0;
}

char *admin_fmt_duration(char *buf, size_t cap, int64_t secs)
{
	int64_t d, h, m;

	if (secs < 0)
		secs = 0;
	d = secs / 86400;
	h = secs / 3600 % 24;
	m = secs / 60 % 60;
	secs %= 60;
	if (d)
		snprintf(buf, cap, "%lldd%lldh%lldm%llds", (long long)d, (long long)h, (long long)m,
			 (long long)secs);
	else if (h)
		snprintf(buf, cap, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)secs);
	else if (m)
		snprintf(buf, cap, "%lldm%llds", (long long)m, (long long)secs);
	else
		snprintf(buf, cap, "%llds", (long long)secs);
	return buf;
}

static const char *fmt_utc(char *buf, size_t cap, int64_t unix_s)
{
	time_t t = (time_t)unix_s;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "@%lld", (long long)unix_s);
	return buf;
}

/* ---- addresses ------------------------------------------------------------------ */

/* ADDR of `ban sub` as the guard's key into key (STORE_BAN_ADDR_MAX) and
 * *a. Prints the refusal and returns 2 for an address that is not one. */
static int parse_addr(char *key, struct net_addr *a, const struct conf *c, const char *sub,
		      const char *in)
{
	char shown[200], msg[400];

	if (guard_key_parse(a, key, STORE_BAN_ADDR_MAX, in, c->guard_v6_prefix) == 0)
		return 0;
	slice_repr(shown, sizeof(shown), slice_cstr(in), 48);
	if (strchr(in, '/'))
		snprintf(msg, sizeof(msg),
			 "ban %s: bad address '%s': a prefix must be exactly /%u for IPv6 "
			 "([guard] ipv6_prefix) or /32 for IPv4",
			 sub, shown, (unsigned)c->guard_v6_prefix);
	else
		snprintf(msg, sizeof(msg),
			 "ban %s: bad address '%s': expected an IPv4 or IPv6 address", sub, shown);
	return admin_usage_error("ban", msg, NULL);
}

/* The entry of the [guard] allow list that covers a, or NULL. cg holds the
 * split list. */
static const char *allow_entry(struct conf_guard *cg, const struct conf *c,
			       const struct net_addr *a)
{
	conf_guard(c, cg);
	for (size_t i = 0; i < cg->gc.allow_n; i++)
		if (guard_cidr_contains(cg->allow[i], a))
			return cg->allow[i];
	return NULL;
}

/* ---- ban list ------------------------------------------------------------------- */

struct list_walk {
	int64_t now;
	size_t n;
};

static int print_ban(void *arg, const struct store_ban *b)
{
	struct list_walk *w = arg;
	char addr[300], ends[40], left[40], reason[300];

	/* The server wrote these, but so may anybody with the sqlite3 shell. */
	slice_repr(addr, sizeof(addr), slice_cstr(b->addr), 64);
	slice_repr(reason, sizeof(reason), slice_cstr(b->reason[0] ? b->reason : "-"), 64);
	printf("%s  ends %s  remaining %s  count %u  reason %s\n", addr,
	       fmt_utc(ends, sizeof(ends), b->until),
	       admin_fmt_duration(left, sizeof(left), b->until - w->now), (unsigned)b->count,
	       reason);
	w->n++;
	return 0;
}

static int ban_list(struct store *s)
{
	struct list_walk w = { .now = (int64_t)time(NULL) };
	int rc;

	rc = store_bans_list(s, w.now, print_ban, &w);
	if (rc) {
		fprintf(stderr, "bastion: ban list: %s: %s\n", strerror(rc), store_errmsg(s));
		return 1;
	}
	if (w.n == 0)
		printf("No bans.\n");
	return 0;
}

/* ---- ban add / del --------------------------------------------------------------- */

struct find_walk {
	const char *addr;
	struct store_ban found;
};

static int find_ban(void *arg, const struct store_ban *b)
{
	struct find_walk *w = arg;

	if (strcmp(b->addr, w->addr) != 0)
		return 0;
	w->found = *b;
	return WALK_FOUND;
}

/* The row of addr, expired or not, into w->found. Returns 0 (found.count 0
 * when there is none) or a store error. */
static int find_row(struct store *s, struct find_walk *w, const char *addr)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->addr = addr;
	/* Every row: one with until <= now still carries the count. */
	rc = store_bans_list(s, INT64_MIN, find_ban, w);
	return rc == WALK_FOUND ? 0 : rc;
}

static int ban_add(struct store *s, const struct conf *c, const char *in, int64_t secs)
{
	char key[STORE_BAN_ADDR_MAX], ends[40], dur[40];
	struct conf_guard cg;
	struct find_walk w;
	struct store_ban b;
	struct net_addr a;
	const char *allow;
	int rc;

	if ((rc = parse_addr(key, &a, c, "add", in)))
		return rc;
	if ((allow = allow_entry(&cg, c, &a))) {
		fprintf(stderr,
			"bastion: ban add: %s is in the [guard] allow list (%s), which is never "
			"banned; remove it from the list first\n",
			key, allow);
		return 2;
	}
	memset(&b, 0, sizeof(b));
	memcpy(b.addr, key, sizeof(b.addr));
	b.until = (int64_t)time(NULL) + secs;
	snprintf(b.reason, sizeof(b.reason), "operator");
	/* Read the count and write the row in one transaction, so a ban the
	 * server writes meanwhile is not lost between the two. */
	if ((rc = store_batch_begin(s)))
		goto fail;
	if ((rc = find_row(s, &w, key)) == 0) {
		b.count = 1;
		if (w.found.count)
			b.count = w.found.count < UINT32_MAX ? w.found.count + 1 : UINT32_MAX;
		rc = store_bans_put(s, &b);
	}
	if (rc) {
		store_batch_end(s, false);
		goto fail;
	}
	if ((rc = store_batch_end(s, true)))
		goto fail;
	printf("Banned %s until %s (%s; ban %u of this source).\n", key,
	       fmt_utc(ends, sizeof(ends), b.until), admin_fmt_duration(dur, sizeof(dur), secs),
	       (unsigned)b.count);
	return 0;
fail:
	fprintf(stderr, "bastion: ban add: %s: %s\n", strerror(rc), store_errmsg(s));
	return 1;
}

static int ban_del(struct store *s, const struct conf *c, const char *in)
{
	char key[STORE_BAN_ADDR_MAX];
	struct find_walk w;
	struct net_addr a;
	bool exact = false;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (guard_key_parse(&a, key, sizeof(key), in, c->guard_v6_prefix) != 0) {
		/* Not an address under today's settings; maybe a key exactly as
		 * `ban list` prints it, from before ipv6_prefix changed. */
		if (strnlen(in, sizeof(key)) == sizeof(key))
			return parse_addr(key, &a, c, "del", in);
		memcpy(key, in, strlen(in) + 1);
		exact = true;
	}
	if ((rc = store_batch_begin(s)))
		goto fail;
	if ((rc = find_row(s, &w, key)) == 0 && w.found.count)
		rc = store_bans_delete(s, key);
	if (rc) {
		store_batch_end(s, false);
		goto fail;
	}
	if ((rc = store_batch_end(s, true)))
		goto fail;
	if (!w.found.count) {
		if (exact)
			return parse_addr(key, &a, c, "del", in);
		fprintf(stderr, "bastion: ban del: no ban for %s\n", key);
		return 1;
	}
	if (w.found.until > now)
		printf("Lifted the ban of %s.\n", key);
	else
		printf("The ban of %s had already ended; its record (%u bans) is removed.\n", key,
		       (unsigned)w.found.count);
	return 0;
fail:
	fprintf(stderr, "bastion: ban del: %s: %s\n", strerror(rc), store_errmsg(s));
	return 1;
}

/* ---- the command ---------------------------------------------------------------- */

int admin_cmd_ban(const char *state, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	struct store *s = NULL;
	struct conf c;
	int64_t secs = 0;
	char why[200], shown[100], msg[400];
	int rc;

	if (!sub)
		return admin_usage_error("ban", "ban: expected 'list', 'add' or 'del'", NULL);
	if (strcmp(sub, "list") == 0) {
		if (argc > 2)
			return admin_usage_error("ban", "ban list: unexpected argument", argv[2]);
	} else if (strcmp(sub, "add") == 0) {
		if (argc < 3 || argc > 4)
			return admin_usage_error("ban", "ban add: expected ADDR [TIME]", NULL);
		if (argc == 4 && admin_parse_duration(argv[3], &secs, why, sizeof(why)) != 0) {
			slice_repr(shown, sizeof(shown), slice_cstr(argv[3]), 24);
			snprintf(msg, sizeof(msg), "ban add: bad TIME '%s': %s", shown, why);
			return admin_usage_error("ban", msg, NULL);
		}
	} else if (strcmp(sub, "del") == 0) {
		if (argc != 3)
			return admin_usage_error("ban", "ban del: expected one ADDR", NULL);
	} else {
		return admin_usage_error("ban", "ban: unknown subcommand", sub);
	}
	if (admin_open_state(&c, &s, state))
		return 1;
	if (strcmp(sub, "list") == 0)
		rc = ban_list(s);
	else if (strcmp(sub, "add") == 0)
		rc = ban_add(s, &c, argv[2], secs ? secs : (int64_t)c.ban_max);
	else
		rc = ban_del(s, &c, argv[2]);
	store_close(&s);
	return rc;
}
