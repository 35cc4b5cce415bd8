/*
 * cache.c: the in-memory credential cache. Digest authentication looks up
 * (user, domain) on every REGISTER and INVITE; doing that in SQL would put a
 * file lock and a b-tree walk on the hot path, so the server keeps this hash
 * table and refreshes it when store_users_version() says the users table
 * changed (from any process: the CLI, another node's writer).
 *
 * A reload builds a complete new table aside and swaps it in, so a failed
 * reload (out of memory, more users than max_users, a locked database) leaves
 * the previous one serving. Keys are admin-controlled rows, but lookups
 * hash names a peer chooses, so the table is base's htab (SipHash under a key
 * drawn for each loaded table; an unkeyed hash would let anyone who can guess
 * user names predict the buckets), bounded by max_users.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>

struct cache_node {
	struct htab_node hn; /* first: the table's node is the entry */
	int64_t user_id;
	bool enabled;
	bool require_client_cert;
	bool fraud_hold;
	bool has_old;        /* old HA1s follow the strings (a rotation's grace) */
	uint8_t digest;
	char calling[STORE_CALLING_MAX];
	int64_t pw_deadline;
	char ha1_md5[STORE_HA1_MD5_LEN + 1];
	char ha1_sha256[STORE_HA1_SHA256_LEN + 1];
	uint16_t name_len, domain_len, realm_len;
	char strs[]; /* name NUL domain NUL realm NUL [old md5 [33] old sha256 [65]] */
};

#define OLD_LEN (STORE_HA1_MD5_LEN + 1 + STORE_HA1_SHA256_LEN + 1)

struct store_cache {
	struct htab t;       /* bounded by max_users; its key hashes the lookups */
	bool has_t;          /* t initialised (after the first load) */
	size_t max_users;
	uint64_t version;
	bool loaded;
};

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* SipHash over the name, a separator, and the lowercased domain. */
static uint64_t key_hash(const struct hash_key *k, struct slice name, struct slice domain)
{
	struct hash_state st;
	unsigned char sep = 0xff, buf[64];
	size_t i, n = 0;

	hash_begin(&st, k);
	hash_feed(&st, name.p, name.len);
	hash_feed(&st, &sep, 1); /* never part of a name: ends it */
	for (i = 0; i < domain.len; i++) {
		buf[n++] = lower((unsigned char)domain.p[i]);
		if (n == sizeof(buf)) {
			hash_feed(&st, buf, n);
			n = 0;
		}
	}
	hash_feed(&st, buf, n);
	return hash_end(&st);
}

static void node_free(struct htab_node *n, void *arg)
{
	(void)arg;
	free(n);
}

/* Free every entry and the buckets of t. */
static void table_clear(struct htab *t)
{
	htab_drain(t, node_free, NULL);
	htab_fini(t);
}

int store_cache_new(struct store_cache **cp, size_t max_users)
{
	struct store_cache *c;

	if (!cp || max_users == 0)
		return EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return ENOMEM;
	c->max_users = max_users;
	*cp = c;
	return 0;
}

void store_cache_free(struct store_cache **cp)
{
	if (!cp || !*cp)
		return;
	if ((*cp)->has_t)
		table_clear(&(*cp)->t);
	free(*cp);
	*cp = NULL;
}

/* A load fills a new table aside, bounded by max_users. */
struct loader {
	struct htab *t;
};

static int load_row(void *arg, const struct store_user *u)
{
	struct loader *l = arg;
	struct cache_node *n;
	size_t nl = strlen(u->name), dl = strlen(u->domain), rl = strlen(u->cred.realm);
	/* an old HA1 made for another realm cannot verify here: not kept */
	bool has_old = (u->old_cred.ha1_md5[0] || u->old_cred.ha1_sha256[0]) &&
		       strcmp(u->old_cred.realm, u->cred.realm) == 0;

	if (l->t->n >= l->t->max)
		return EOVERFLOW;
	n = malloc(sizeof(*n) + nl + dl + rl + 3 + (has_old ? OLD_LEN : 0));
	if (!n)
		return ENOMEM;
	n->user_id = u->id;
	n->enabled = u->enabled;
	n->require_client_cert = u->require_client_cert;
	n->digest = u->digest;
	n->fraud_hold = u->fraud_hold[0] != '\0';
	memcpy(n->calling, u->calling, sizeof(n->calling));
	memcpy(n->ha1_md5, u->cred.ha1_md5, sizeof(n->ha1_md5));
	memcpy(n->ha1_sha256, u->cred.ha1_sha256, sizeof(n->ha1_sha256));
	/* The store's limits keep these under 256. */
	n->name_len = (uint16_t)nl;
	n->domain_len = (uint16_t)dl;
	n->realm_len = (uint16_t)rl;
	memcpy(n->strs, u->name, nl + 1);
	memcpy(n->strs + nl + 1, u->domain, dl + 1);
	memcpy(n->strs + nl + dl + 2, u->cred.realm, rl + 1);
	n->has_old = has_old;
	n->pw_deadline = u->pw_deadline;
	if (has_old) {
		memcpy(n->strs + nl + dl + rl + 3, u->old_cred.ha1_md5, STORE_HA1_MD5_LEN + 1);
		memcpy(n->strs + nl + dl + rl + 3 + STORE_HA1_MD5_LEN + 1, u->old_cred.ha1_sha256,
		       STORE_HA1_SHA256_LEN + 1);
	}
	/* the bound was checked above: this insert cannot fail */
	return htab_insert(l->t, &n->hn,
			   key_hash(&l->t->key, slice_make(u->name, nl), slice_make(u->domain, dl)));
}

int store_cache_refresh(struct store_cache *c, struct store *s, bool *reloaded)
{
	struct htab t = { 0 };
	struct loader l = { &t };
	bool made = false;
	uint64_t v = 0;
	int err;

	if (reloaded)
		*reloaded = false;
	if (!c || !s)
		return EINVAL;
	if ((err = store_users_version(s, &v)))
		return err;
	if (c->loaded && v == c->version)
		return 0;

	/* A new table with a key of its own; its buckets double as rows come. */
	if ((err = htab_init(&t, c->max_users)))
		goto out;
	made = true;
	/* load_all reports the version of the snapshot it read, which may be
	 * newer than v: remember that one. */
	if ((err = store_users_load_all(s, &v, load_row, &l)))
		goto out;

	if (c->has_t)
		table_clear(&c->t);
	c->t = t;
	c->has_t = true;
	made = false;
	c->version = v;
	c->loaded = true;
	if (reloaded)
		*reloaded = true;
out:
	if (made)
		table_clear(&t);
	return err;
}

int store_cache_lookup(const struct store_cache *c, struct store_cache_entry *out,
		       struct slice name, struct slice domain)
{
	const struct htab_node *hn;
	uint64_t h;

	if (!c || !out || !c->has_t)
		return ENOENT;
	h = key_hash(&c->t.key, name, domain);
	for (hn = htab_find(&c->t, h); hn; hn = htab_next(&c->t, hn)) {
		const struct cache_node *n = (const struct cache_node *)hn;

		if (n->name_len != name.len || n->domain_len != domain.len)
			continue;
		if (!slice_eq(slice_make(n->strs, n->name_len), name) ||
		    !slice_caseeq(slice_make(n->strs + n->name_len + 1, n->domain_len), domain))
			continue;
		out->user_id = n->user_id;
		out->enabled = n->enabled;
		out->require_client_cert = n->require_client_cert;
		out->digest = n->digest;
		out->fraud_hold = n->fraud_hold;
		memcpy(out->calling, n->calling, sizeof(out->calling));
		memcpy(out->realm, n->strs + n->name_len + n->domain_len + 2, n->realm_len + 1u);
		memcpy(out->ha1_md5, n->ha1_md5, sizeof(out->ha1_md5));
		memcpy(out->ha1_sha256, n->ha1_sha256, sizeof(out->ha1_sha256));
		out->pw_deadline = n->pw_deadline;
		out->old_ha1_md5[0] = out->old_ha1_sha256[0] = '\0';
		if (n->has_old) {
			const char *o = n->strs + n->name_len + n->domain_len + n->realm_len + 3;
			memcpy(out->old_ha1_md5, o, sizeof(out->old_ha1_md5));
			memcpy(out->old_ha1_sha256, o + STORE_HA1_MD5_LEN + 1,
			       sizeof(out->old_ha1_sha256));
		}
		return 0;
	}
	return ENOENT;
}

size_t store_cache_count(const struct store_cache *c)
{
	return c && c->has_t ? c->t.n : 0;
}

uint64_t store_cache_probes(const struct store_cache *c)
{
	return c && c->has_t ? c->t.probes : 0;
}

uint64_t store_cache_version(const struct store_cache *c)
{
	return c ? c->version : 0;
}
