/*
 * admin/cdr: `bastion cdr list [--since T] [--user U]`, the call detail
 * records the proxy stored (docs/cdr.md), one line each, oldest first, with
 * times in UTC whatever the locale or TZ. Works while the server runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/conf.h"
#include "../store/store.h"
#include "internal.h"

#define SINCE_MAX_S 253402300799LL       /* 9999-12-31T23:59:59Z */
#define RELATIVE_MAX_S (36600LL * 86400) /* about a hundred years back */

/* n digits at p into *out; false unless all n are digits. */
static bool digits(const char *p, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS]Z", UTC. */
static int parse_iso(const char *s, int64_t *out, char *why, size_t cap)
{
	size_t len = strlen(s);
	int y, mo, d, h = 0, mi = 0, sec = 0;
	struct tm tm, back;
	time_t t;

	if (len < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d))
		goto shape;
	if (len > 10) {
		if (s[10] != 'T' || len < 16 || !digits(s + 11, 2, &h) || s[13] != ':' ||
		    !digits(s + 14, 2, &mi))
			goto shape;
		if (len >= 19 && s[16] == ':') {
			if (!digits(s + 17, 2, &sec))
				goto shape;
			if (len == 19) {
				snprintf(why, cap, "add Z: times are UTC (e.g. %.19sZ)", s);
				return EINVAL;
			}
			if (len != 20 || s[19] != 'Z')
				goto shape;
		} else if (len == 16) {
			snprintf(why, cap, "add Z: times are UTC (e.g. %.16sZ)", s);
			return EINVAL;
		} else if (len != 17 || s[16] != 'Z') {
			goto shape;
		}
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm normalises 2026-02-30 to March: a round trip catches it. */
	if (y < 1970 || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59 || t < 0 ||
	    !gmtime_r(&t, &back) || back.tm_year != tm.tm_year || back.tm_mon != mo - 1 ||
	    back.tm_mday != d) {
		snprintf(why, cap, "no such date or time");
		return EINVAL;
	}
	*out = (int64_t)t;
	return 0;
shape:
	snprintf(why, cap,
		 "expected unix seconds, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or -N{s,m,h,d}");
	return EINVAL;
}

int admin_parse_since(const char *s, int64_t now, int64_t *out, char *why, size_t cap)
{
	static const struct {
		char unit;
		int64_t secs;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	size_t len = s ? strlen(s) : 0, nd;
	int64_t n = 0;

	if (len == 0) {
		snprintf(why, cap, "empty");
		return EINVAL;
	}
	if (s[0] == '-') {
		/* -N followed by one unit: N units before now. */
		nd = strspn(s + 1, "0123456789");
		if (nd == 0 || nd > 12 || len != nd + 2) {
			snprintf(why, cap, "a relative time is -N followed by s, m, h or d (e.g. -1h)");
			return EINVAL;
		}
		for (size_t i = 1; i <= nd; i++)
			n = n * 10 + (s[i] - '0');
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			if (units[i].unit != s[len - 1])
				continue;
			if (n > RELATIVE_MAX_S / units[i].secs) {
				snprintf(why, cap, "too far back");
				return EINVAL;
			}
			*out = now - n * units[i].secs;
			if (*out < 0)
				*out = 0;
			return 0;
		}
		snprintf(why, cap, "unknown unit '%c' (use s, m, h or d)",
			 s[len - 1] >= 0x20 && s[len - 1] < 0x7f ? s[len - 1] : '?');
		return EINVAL;
	}
	if (strspn(s, "0123456789") == len) {
		if (len > 12) {
			snprintf(why, cap, "out of range");
			return EINVAL;
		}
		for (size_t i = 0; i < len; i++)
			n = n * 10 + (s[i] - '0');
		if (n > SINCE_MAX_S) {
			snprintf(why, cap, "out of range");
			return EINVAL;
		}
		*out = n;
		return 0;
	}
	return parse_iso(s, out, why, cap);
}

/* ---- cdr list ------------------------------------------------------------------ */

static const char *fmt_utc(char *buf, size_t cap, int64_t unix_ms)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;

	if (unix_ms < 0 || !gmtime_r(&t, &tm) ||
	    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, cap, "@%lld", (long long)unix_ms);
	return buf;
}

struct cdr_walk {
	size_t n;
};

static int print_cdr(void *arg, const struct store_cdr *c)
{
	struct cdr_walk *w = arg;
	char start[40], caller[600], callee[600], user[300], cid[300], src[100], hangup[80];

	/* Everything but the numbers came from SIP peers: print it escaped. */
	slice_repr(caller, sizeof(caller), slice_cstr(c->caller), 128);
	slice_repr(callee, sizeof(callee), slice_cstr(c->callee), 128);
	slice_repr(user, sizeof(user), slice_cstr(c->auth_user[0] ? c->auth_user : "-"), 64);
	slice_repr(cid, sizeof(cid), slice_cstr(c->call_id), 64);
	slice_repr(src, sizeof(src), slice_cstr(c->src), 24);
	slice_repr(hangup, sizeof(hangup), slice_cstr(c->hangup), 16);
	printf("%s  %s -> %s  user %s  status %d  duration %llds  hangup %s  src %s  "
	       "call-id %s",
	       fmt_utc(start, sizeof(start), c->start_at), caller, callee, user, c->final_status,
	       (long long)c->duration_s, hangup, src, cid);
	if (c->peer[0] || c->number[0]) {
		/* an outside call: the dialed number came from a phone (escaped) */
		char peer[100], klass[40], dialed[300], number[60];
		slice_repr(peer, sizeof(peer), slice_cstr(c->peer[0] ? c->peer : "-"), 32);
		slice_repr(klass, sizeof(klass), slice_cstr(c->klass[0] ? c->klass : "-"), 16);
		slice_repr(dialed, sizeof(dialed), slice_cstr(c->dialed[0] ? c->dialed : "-"), 64);
		slice_repr(number, sizeof(number), slice_cstr(c->number[0] ? c->number : "-"), 24);
		printf("  peer %s  class %s  dialed %s  number %s", peer, klass, dialed, number);
	}
	if (c->emergency) {
		char loc[1200];
		slice_repr(loc, sizeof(loc), slice_cstr(c->location[0] ? c->location : "unknown"),
			   STORE_LOCATION_MAX);
		printf("  EMERGENCY location %s", loc);
	}
	printf("\n");
	w->n++;
	return 0;
}

int admin_cmd_cdr(const char *state, int argc, char **argv)
{
	const char *since_arg = NULL, *user = NULL;
	struct cdr_walk w = { 0 };
	struct store *s = NULL;
	struct conf c;
	int64_t since = 0;
	char why[200], msg[400];
	int rc;

	if (argc < 2 || strcmp(argv[1], "list") != 0)
		return admin_usage_error("cdr", "cdr: expected 'list'", argc > 1 ? argv[1] : NULL);
	for (int i = 2; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--since")))
			since_arg = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--user")))
			user = v;
		else
			return admin_usage_error("cdr", "cdr list: unexpected argument", argv[i]);
	}
	if (since_arg &&
	    admin_parse_since(since_arg, (int64_t)time(NULL), &since, why, sizeof(why)) != 0) {
		char shown[100];

		slice_repr(shown, sizeof(shown), slice_cstr(since_arg), 24);
		snprintf(msg, sizeof(msg), "cdr list: bad --since '%s': %s", shown, why);
		return admin_usage_error("cdr", msg, NULL);
	}
	if (user) {
		size_t len = strnlen(user, STORE_NAME_MAX);
		bool ok = len < STORE_NAME_MAX;

		for (size_t i = 0; ok && i < len; i++)
			ok = (unsigned char)user[i] >= 0x20 && user[i] != 0x7f;
		if (!ok)
			return admin_usage_error("cdr", "cdr list: bad --user value", NULL);
	}
	if (admin_open_state(&c, &s, state))
		return 1;
	rc = store_cdr_list(s, since * 1000, user, print_cdr, &w);
	if (rc) {
		fprintf(stderr, "bastion: cdr list: %s: %s\n", strerror(rc), store_errmsg(s));
		store_close(&s);
		return 1;
	}
	if (w.n == 0)
		printf("No call records.\n");
	store_close(&s);
	return 0;
}
