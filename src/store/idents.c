/*
 * idents.c: the extra identities of one domain's users in memory
 * (store.h, struct store_idents), so the call path runs no SQL: an array
 * sorted by user name then URI, searched by binary search. A reload builds
 * the new array aside and swaps it in only when complete, so a failed one
 * (out of memory, a locked database) leaves the old set serving.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ident {
	char *name;  /* user name (the domain is the set's) */
	char *uri;
};

struct store_idents {
	struct ident *v;
	size_t n;
};

struct load_ctx {
	struct ident *v;
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
		struct ident *v = realloc(x->v, cap * sizeof(*v));
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
	const struct ident *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->uri, y->uri);
}

static void free_all(struct ident *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].uri);
	}
	free(v);
}

void store_idents_free(struct store_idents **ip)
{
	if (!*ip)
		return;
	free_all((*ip)->v, (*ip)->n);
	free(*ip);
	*ip = NULL;
}

int store_idents_load(struct store_idents **ip, struct store *s, const char *domain)
{
	struct load_ctx x = { .domain = domain };
	struct store_idents *set = NULL;
	int rc = store_identities_load_all(s, load_one, &x);

	if (!rc)
		rc = x.err;
	if (!rc && !(set = malloc(sizeof(*set))))
		rc = ENOMEM;
	if (rc) {
		free_all(x.v, x.n);
		return rc;
	}
	if (x.n)
		qsort(x.v, x.n, sizeof(*x.v), by_name);
	set->v = x.v;
	set->n = x.n;
	store_idents_free(ip);
	*ip = set;
	return 0;
}

size_t store_idents_of(const struct store_idents *set, struct slice name, const char **out,
		       size_t cap)
{
	size_t lo = 0, hi, n = 0;

	if (!set)
		return 0;
	/* the first entry not below name */
	hi = set->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = set->v[mid].name;
		size_t kl = strlen(k), m = kl < name.len ? kl : name.len;
		int c = m ? memcmp(k, name.p, m) : 0;
		if (c < 0 || (c == 0 && kl < name.len))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < set->n && n < cap && slice_eq(slice_cstr(set->v[lo].name), name); lo++)
		out[n++] = set->v[lo].uri;
	return n;
}
