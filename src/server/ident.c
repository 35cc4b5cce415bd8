/*
 * server/ident.c: the extra identities users may present in From, kept in
 * memory (the call path runs no SQL). Reloaded with the user cache: the
 * store's triggers move the same change counter for both.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

struct load_ctx {
	struct server_ident *v;
	size_t n, cap;
	const char *domain;
	int err;
};

static int load_one(void *arg, const struct store_identity *id)
{
	struct load_ctx *x = arg;

	if (strcasecmp(id->domain, x->domain) != 0)
		return 0; /* users of another domain cannot call through this one */
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct server_ident *v = realloc(x->v, cap * sizeof(*v));
		if (!v)
			return x->err = ENOMEM;
		x->v = v;
		x->cap = cap;
	}
	x->v[x->n].name = strdup(id->name);
	x->v[x->n].uri = strdup(id->uri);
	if (!x->v[x->n].name || !x->v[x->n].uri) {
		free(x->v[x->n].name);
		free(x->v[x->n].uri);
		return x->err = ENOMEM;
	}
	x->n++;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct server_ident *)a)->name, ((const struct server_ident *)b)->name);
}

static void free_all(struct server_ident *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].uri);
	}
	free(v);
}

void server_idents_free(struct server *s)
{
	free_all(s->idents, s->nidents);
	s->idents = NULL;
	s->nidents = 0;
}

int server_idents_reload(struct server *s)
{
	struct load_ctx x = { .domain = s->conf.domain };
	int rc = store_identities_load_all(s->store, load_one, &x);

	if (rc || x.err) {
		free_all(x.v, x.n);
		return rc ? rc : x.err; /* the old table stays */
	}
	if (x.n)
		qsort(x.v, x.n, sizeof(*x.v), by_name);
	server_idents_free(s);
	s->idents = x.v;
	s->nidents = x.n;
	return 0;
}

size_t server_idents_of(const struct server *s, struct slice name, const char **out, size_t cap)
{
	size_t lo = 0, hi = s->nidents, n = 0;

	/* the first entry not below name */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = s->idents[mid].name;
		size_t kl = strlen(k);
		int c = memcmp(k, name.p, kl < name.len ? kl : name.len);
		if (c < 0 || (c == 0 && kl < name.len))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < s->nidents && n < cap && slice_eq(slice_cstr(s->idents[lo].name), name); lo++)
		out[n++] = s->idents[lo].uri;
	return n;
}
