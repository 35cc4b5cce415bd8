/*
 * admin/store.c: `bastion store migrate` and `bastion store copy`, the
 * commands that upgrade a database's schema and move an installation from
 * one database to another (an SQLite file to PostgreSQL, docs/scaling.md).
 *
 * copy reads everything through the store interface and writes it through
 * the same interface, so both ends are validated as any write is; the users
 * go in one transaction, and the rows that point at users (identities,
 * bindings) are re-keyed by (name, domain), since ids differ between the two
 * databases. The destination must be empty: copy never merges.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../conf/conf.h"
#include "../store/store.h"
#include "internal.h"

/* A remote location is not echoed: it is the operator's, and a URL with a
 * password (refused anyway) should not land in a terminal log. */
static const char *shown(const char *loc)
{
	return store_is_remote(loc) ? "the PostgreSQL database" : loc;
}

static int cmd_migrate(const char *state, int argc, char **argv)
{
	char path[4200], db[4200], err[600];
	const char *loc = NULL;
	struct store *s = NULL;
	struct conf c;
	int from = 0, to = 0;

	for (int i = 2; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--database")))
			loc = v;
		else
			return admin_usage_error("store", "store migrate: unknown argument", argv[i]);
	}
	if (!loc) {
		snprintf(path, sizeof(path), "%s/%s", state, CONF_FILE_NAME);
		if (conf_load(&c, path, err, sizeof(err)) != 0) {
			fprintf(stderr, "bastion: %s\n", err);
			return 1;
		}
		if (store_location(db, sizeof(db), state, c.database) != 0) {
			fprintf(stderr, "bastion: database path too long\n");
			return 1;
		}
		loc = db;
	}
	if (store_open_migrate(&s, loc, &from, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: store migrate: %s: %s\n", shown(loc), err);
		return 1;
	}
	(void)store_schema_version(s, &to);
	store_close(&s);
	if (from == to)
		printf("%s: schema version %d, up to date.\n", shown(loc), to);
	else
		printf("%s: schema upgraded from version %d to %d.\n", shown(loc), from, to);
	return 0;
}

/* ---- copy ------------------------------------------------------------------------- */

struct user_vec {
	struct store_user *v;
	size_t n, cap;
};

static int collect_user(void *arg, const struct store_user *u)
{
	struct user_vec *uv = arg;

	if (uv->n == uv->cap) {
		size_t cap = uv->cap ? uv->cap * 2 : 256;
		struct store_user *nv = realloc(uv->v, cap * sizeof(*nv));

		if (!nv)
			return ENOMEM;
		uv->v = nv;
		uv->cap = cap;
	}
	uv->v[uv->n++] = *u;
	return 0;
}

/* Source user id -> destination user id, sorted by source id. */
struct id_pair {
	int64_t src, dst;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct id_pair *x = a, *y = b;

	return x->src < y->src ? -1 : x->src > y->src;
}

struct copy_ctx {
	struct store *dst;
	struct id_pair *map;
	size_t nmap;
	size_t n, skipped;
	int err;
	char why[STORE_ERR_MAX + 64];
};

static int64_t map_id(const struct copy_ctx *x, int64_t src)
{
	struct id_pair key = { src, 0 }, *p;

	p = bsearch(&key, x->map, x->nmap, sizeof(*x->map), cmp_pair);
	return p ? p->dst : 0;
}

static int copy_identity(void *arg, const struct store_identity *id)
{
	struct copy_ctx *x = arg;
	int rc = store_identities_add(x->dst, id->name, id->domain, id->uri);

	if (rc) {
		snprintf(x->why, sizeof(x->why), "identity %.60s of %.60s@%.60s: %s", id->uri,
			 id->name, id->domain, store_errmsg(x->dst)[0] ? store_errmsg(x->dst)
								       : strerror(rc));
		return rc;
	}
	x->n++;
	return 0;
}

static int copy_reg(void *arg, const struct store_reg *r)
{
	struct copy_ctx *x = arg;
	struct store_reg copy = *r;
	int rc;

	copy.user_id = map_id(x, r->user_id);
	if (copy.user_id <= 0) {
		x->skipped++; /* its user is gone: the binding would die with it */
		return 0;
	}
	if ((rc = store_regs_upsert(x->dst, NULL, &copy)) != 0) {
		snprintf(x->why, sizeof(x->why), "binding %.100s: %s", r->contact,
			 store_errmsg(x->dst)[0] ? store_errmsg(x->dst) : strerror(rc));
		return rc;
	}
	x->n++;
	return 0;
}

static int copy_ban(void *arg, const struct store_ban *b)
{
	struct copy_ctx *x = arg;
	int rc = store_bans_put(x->dst, b);

	if (rc) {
		snprintf(x->why, sizeof(x->why), "ban %s: %s", b->addr,
			 store_errmsg(x->dst)[0] ? store_errmsg(x->dst) : strerror(rc));
		return rc;
	}
	x->n++;
	return 0;
}

static int copy_cdr(void *arg, const struct store_cdr *c)
{
	struct copy_ctx *x = arg;
	int rc = store_cdr_add(x->dst, NULL, c);

	if (rc) {
		snprintf(x->why, sizeof(x->why), "call record %.100s: %s", c->call_id,
			 store_errmsg(x->dst)[0] ? store_errmsg(x->dst) : strerror(rc));
		return rc;
	}
	x->n++;
	return 0;
}

static int count_any(void *arg, const void *row)
{
	(void)row;
	(*(size_t *)arg)++;
	return 0;
}

static int count_user(void *arg, const struct store_user *u)
{
	return count_any(arg, u);
}

static int count_reg(void *arg, const struct store_reg *r)
{
	return count_any(arg, r);
}

static int count_ban(void *arg, const struct store_ban *b)
{
	return count_any(arg, b);
}

static int count_cdr(void *arg, const struct store_cdr *c)
{
	return count_any(arg, c);
}

/* Nothing in dst yet: no user, binding, ban (even expired) or record. */
static int dst_empty(struct store *dst, bool *empty)
{
	size_t n = 0;
	int rc;

	if ((rc = store_users_list(dst, count_user, &n)) != 0 ||
	    (rc = store_regs_list_all(dst, count_reg, &n)) != 0 ||
	    (rc = store_bans_list(dst, INT64_MIN, count_ban, &n)) != 0 ||
	    (rc = store_cdr_list(dst, 0, NULL, count_cdr, &n)) != 0)
		return rc;
	*empty = n == 0;
	return 0;
}

/* A password rotation in its grace (docs/operations.md, "Passwords with a
 * deadline") moves with its user: without an old password, the mark that
 * the password must change by the deadline; with one, the old password put
 * back, then rotated to the current one, so both work until the deadline
 * as they did. */
static int copy_rotation(struct store *dst, const struct store_user *u)
{
	int rc;

	if (!u->old_cred.ha1_md5[0] && !u->old_cred.ha1_sha256[0])
		return store_users_rotate_password(dst, u->name, u->domain, NULL, u->pw_deadline, 0);
	if ((rc = store_users_set_password(dst, u->name, u->domain, &u->old_cred,
					   u->changed_at)) != 0)
		return rc;
	return store_users_rotate_password(dst, u->name, u->domain, &u->cred, u->pw_deadline,
					   u->changed_at);
}

/* What the import does not carry: the calling class, a toll-fraud hold
 * (with when it began) and the civic location for emergency calls. */
static int copy_user_extras(struct store *src, struct store *dst, const struct store_user *u)
{
	char loc[STORE_LOCATION_MAX];
	int rc;

	if (u->calling[0] && (rc = store_users_set_calling(dst, u->name, u->domain, u->calling)))
		return rc;
	if (u->fraud_hold[0] &&
	    (rc = store_users_set_fraud_hold(dst, u->name, u->domain, u->fraud_hold,
					     u->fraud_hold_at)))
		return rc;
	if ((rc = store_users_get_location(src, loc, sizeof(loc), u->name, u->domain)) != 0)
		return rc;
	return loc[0] ? store_users_set_location(dst, u->name, u->domain, loc) : 0;
}

static int do_copy(struct store *src, struct store *dst, const char *dst_name)
{
	struct user_vec users = { 0 };
	struct copy_ctx x = { .dst = dst };
	size_t failed = 0, nusers, nids, nregs, nbans;
	bool empty = false;
	int rc, status = 1;

	if ((rc = dst_empty(dst, &empty)) != 0) {
		fprintf(stderr, "bastion: store copy: reading %s: %s\n", dst_name, store_errmsg(dst));
		return 1;
	}
	if (!empty) {
		fprintf(stderr,
			"bastion: store copy: %s already holds users, bindings, bans or call "
			"records; copy only into an empty database\n",
			dst_name);
		return 1;
	}
	if ((rc = store_users_list(src, collect_user, &users)) != 0) {
		fprintf(stderr, "bastion: store copy: reading users: %s\n",
			store_errmsg(src)[0] ? store_errmsg(src) : strerror(rc));
		goto out;
	}
	if ((rc = store_users_import(dst, &failed, users.v, users.n)) != 0) {
		fprintf(stderr, "bastion: store copy: writing users: %s\n", store_errmsg(dst));
		goto out;
	}
	nusers = users.n;
	x.map = calloc(users.n ? users.n : 1, sizeof(*x.map));
	if (!x.map) {
		fprintf(stderr, "bastion: store copy: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < users.n; i++) {
		struct store_user got;

		if ((rc = store_users_get(dst, &got, users.v[i].name, users.v[i].domain)) != 0) {
			fprintf(stderr, "bastion: store copy: reading back %s@%s: %s\n",
				users.v[i].name, users.v[i].domain, store_errmsg(dst));
			goto out;
		}
		/* The password's age is part of the user: keep changed_at. */
		if (users.v[i].changed_at != got.changed_at &&
		    (rc = store_users_set_password(dst, got.name, got.domain, &users.v[i].cred,
						   users.v[i].changed_at)) != 0) {
			fprintf(stderr, "bastion: store copy: %s@%s: %s\n", got.name, got.domain,
				store_errmsg(dst));
			goto out;
		}
		if ((rc = copy_user_extras(src, dst, &users.v[i])) != 0) {
			fprintf(stderr, "bastion: store copy: %s@%s: %s\n", got.name, got.domain,
				store_errmsg(dst)[0] ? store_errmsg(dst) : strerror(rc));
			goto out;
		}
		if (users.v[i].pw_deadline > 0 && (rc = copy_rotation(dst, &users.v[i])) != 0) {
			fprintf(stderr, "bastion: store copy: %s@%s: its password rotation: %s\n",
				got.name, got.domain,
				store_errmsg(dst)[0] ? store_errmsg(dst) : strerror(rc));
			goto out;
		}
		x.map[x.nmap].src = users.v[i].id;
		x.map[x.nmap++].dst = got.id;
	}
	qsort(x.map, x.nmap, sizeof(*x.map), cmp_pair);

	if ((rc = store_identities_load_all(src, copy_identity, &x)) != 0)
		goto row_failed;
	nids = x.n;
	x.n = 0;
	if ((rc = store_batch_begin(dst)) != 0)
		goto row_failed;
	rc = store_regs_list_all(src, copy_reg, &x);
	nregs = x.n;
	x.n = 0;
	if (!rc)
		rc = store_bans_list(src, INT64_MIN, copy_ban, &x);
	nbans = x.n;
	x.n = 0;
	if (!rc)
		rc = store_cdr_list(src, 0, NULL, copy_cdr, &x);
	if (store_batch_end(dst, rc == 0) != 0 && !rc) {
		rc = EIO;
		snprintf(x.why, sizeof(x.why), "commit: %s", store_errmsg(dst));
	}
	if (rc)
		goto row_failed;
	printf("Copied to %s: %zu users, %zu identities, %zu bindings, %zu bans, %zu call "
	       "records.\n",
	       dst_name, nusers, nids, nregs, nbans, x.n);
	if (x.skipped)
		printf("Skipped %zu bindings whose user no longer exists.\n", x.skipped);
	status = 0;
	goto out;
row_failed:
	fprintf(stderr, "bastion: store copy: %s\n",
		x.why[0] ? x.why : (store_errmsg(src)[0] ? store_errmsg(src) : strerror(rc)));
	fprintf(stderr, "bastion: store copy: the users were copied; empty %s before trying "
			"again\n", dst_name);
out:
	free(users.v);
	free(x.map);
	return status;
}

static int cmd_copy(int argc, char **argv)
{
	const char *from = NULL, *to = NULL;
	struct store *src = NULL, *dst = NULL;
	char err[600];
	int rc;

	for (int i = 2; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--from")))
			from = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--to")))
			to = v;
		else
			return admin_usage_error("store", "store copy: unknown argument", argv[i]);
	}
	if (!from || !to)
		return admin_usage_error("store", "store copy: needs --from and --to", NULL);
	if (strcmp(from, to) == 0)
		return admin_usage_error("store", "store copy: --from and --to are the same", NULL);
	if (!store_is_remote(from) && access(from, F_OK) != 0) {
		/* Opening would create an empty file: say what is wrong instead. */
		fprintf(stderr, "bastion: store copy: %s: %s\n", from, strerror(errno));
		return 1;
	}
	if (store_open(&src, from, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: store copy: %s: %s\n", shown(from), err);
		return 1;
	}
	if (store_open(&dst, to, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: store copy: %s: %s\n", shown(to), err);
		store_close(&src);
		return 1;
	}
	rc = do_copy(src, dst, shown(to));
	store_close(&dst);
	store_close(&src);
	return rc;
}

int admin_cmd_store(const char *state, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "migrate") == 0)
		return cmd_migrate(state, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "copy") == 0)
		return cmd_copy(argc, argv);
	return admin_usage_error("store", "store: expected 'migrate' or 'copy'", NULL);
}
