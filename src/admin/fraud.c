/*
 * admin/fraud.c: `bastion fraud list | clear NAME`: the users whose outside
 * calling a fraud.alert put on hold ([fraud] suspend, docs/trunks.md). The
 * hold is a column of the user (store schema 8), so the server that raised
 * it, every other node and a restart all see the same; clearing it is a
 * change of users that running servers pick up within a second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../conf/conf.h"
#include "../store/store.h"
#include "internal.h"

struct hold_walk {
	size_t n;
};

static int print_hold(void *arg, const struct store_user *u)
{
	struct hold_walk *w = arg;
	char since[40], name[300], why[600];
	time_t t = (time_t)u->fraud_hold_at;
	struct tm tm;

	if (!u->fraud_hold[0])
		return 0;
	if (!gmtime_r(&t, &tm) || strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(since, sizeof(since), "@%lld", (long long)u->fraud_hold_at);
	slice_repr(name, sizeof(name), slice_cstr(u->name), 64);
	slice_repr(why, sizeof(why), slice_cstr(u->fraud_hold), 200);
	if (w->n == 0)
		printf("%-20s %-21s %s\n", "USER", "SINCE", "WHY");
	printf("%-20s %-21s %s\n", name, since, why);
	w->n++;
	return 0;
}

int admin_cmd_fraud(const char *state, int argc, char **argv)
{
	struct hold_walk w = { 0 };
	struct store *s = NULL;
	struct store_user u;
	struct conf *c = NULL;
	const char *name = NULL, *domain = NULL;
	int rc = 1, e;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		/* list */
	} else if (argc >= 3 && strcmp(argv[1], "clear") == 0) {
		name = argv[2];
		for (int i = 3; i < argc; i++)
			if (!(domain = admin_opt_value(argc, argv, &i, "--domain")))
				return admin_usage_error("fraud", "fraud clear: unknown argument",
							 argv[i]);
		if (!*name || strlen(name) >= STORE_NAME_MAX)
			return admin_usage_error("fraud", "fraud clear: bad user name", NULL);
	} else {
		return admin_usage_error("fraud", "fraud: expected list or clear NAME",
					 argc > 1 ? argv[1] : NULL);
	}
	if (!(c = malloc(sizeof(*c))))
		return 1;
	if (admin_open_state(c, &s, state) != 0)
		goto out;
	if (!name) {
		e = store_users_list(s, print_hold, &w);
		if (e) {
			fprintf(stderr, "bastion: fraud list: %s: %s\n", strerror(e), store_errmsg(s));
			goto out;
		}
		if (w.n == 0)
			printf("No user is on hold.\n");
		rc = 0;
		goto out;
	}
	if (!domain)
		domain = c->domain;
	e = store_users_get(s, &u, name, domain);
	if (e == ENOENT || e == EINVAL) {
		fprintf(stderr, "bastion: fraud clear: user %s@%s: no such user\n", name, domain);
		goto out;
	}
	if (e) {
		fprintf(stderr, "bastion: fraud clear: %s: %s\n", strerror(e), store_errmsg(s));
		goto out;
	}
	if (!u.fraud_hold[0]) {
		fprintf(stderr, "bastion: fraud clear: user %s@%s is not on hold\n", name, domain);
		goto out;
	}
	e = store_users_set_fraud_hold(s, name, domain, "", 0);
	if (e) {
		fprintf(stderr, "bastion: fraud clear: %s: %s\n", strerror(e), store_errmsg(s));
		goto out;
	}
	printf("user %s@%s: outside calling no longer on hold (it was since the alert: %s)\n",
	       name, domain, u.fraud_hold);
	rc = 0;
out:
	store_close(&s);
	free(c);
	return rc;
}
