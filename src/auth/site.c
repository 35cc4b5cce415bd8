/*
 * auth/site: a server's authentication state (struct auth_site, auth.h):
 * the nonce key of this run and the key file it came from, the
 * nonce-count table, the watch for phones that do not take SHA-256, and
 * the digest settings auth_request reads. Made once at start, the settings
 * applied again and the key file reread on SIGHUP (bastion rotate
 * --nonce-key). The one I/O is the key file (auth_key_load); what to log
 * comes back as a value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth.h"

void auth_site_set_conf(struct auth_site *s, const struct auth_site_conf *c)
{
	size_t rl = c->realm.len < sizeof(s->realm) - 1 ? c->realm.len : sizeof(s->realm) - 1;

	if (rl)
		memcpy(s->realm, c->realm.p, rl);
	s->realm[rl] = '\0';
	s->srv.realm = slice_make(s->realm, rl);
	s->srv.nonce_lifetime_s = c->nonce_lifetime_s;
	s->srv.uri_mode = c->uri_mode;
	s->srv.algos = 0;
	s->n_order = 0;
	for (size_t i = 0; i < c->nalgos; i++) {
		s->srv.algos |= AUTH_ALGO_BIT((enum auth_algo)c->algos[i]);
		if (s->n_order < 2)
			s->order[s->n_order++] = (enum auth_algo)c->algos[i];
	}
	s->srv.own_addrs = c->own_addrs;
	s->srv.n_own_addrs = c->n_own_addrs;
}

int auth_site_new(struct auth_site **sp, const struct auth_site_conf *c, const char *key_path,
		  char *err, size_t errlen)
{
	struct auth_site *s = calloc(1, sizeof(*s));
	int e;

	if (!s) {
		snprintf(err, errlen, "nonce key: %s", strerror(ENOMEM));
		return ENOMEM;
	}
	if ((e = auth_key_load(s->key, key_path)) != 0) {
		snprintf(err, errlen,
			 "%s: cannot load the nonce key (%s); a state made by 'bastion init' has one",
			 key_path, strerror(e));
		goto fail;
	}
	memcpy(s->key_file, s->key, AUTH_KEY_LEN);
	if ((e = auth_key_derive(s->key)) != 0) {
		snprintf(err, errlen, "deriving the nonce key: %s", strerror(e));
		goto fail;
	}
	/* nonces of this run only: the derived key, and the table issues
	 * their sequence numbers */
	if ((e = auth_nc_table_new(&s->nc, c->nonce_window, c->nonce_table_size)) != 0) {
		snprintf(err, errlen, "nonce table: %s", strerror(e));
		goto fail;
	}
	if ((e = auth_watch_new(&s->watch)) != 0) {
		snprintf(err, errlen, "digest watch table: %s", strerror(e));
		goto fail;
	}
	s->srv.key = s->key;
	s->srv.nc = s->nc;
	auth_site_set_conf(s, c);
	*sp = s;
	return 0;
fail:
	auth_site_free(&s);
	return e;
}

void auth_site_free(struct auth_site **sp)
{
	struct auth_site *s = sp ? *sp : NULL;

	if (!s)
		return;
	auth_nc_table_free(&s->nc);
	auth_watch_free(&s->watch);
	OPENSSL_cleanse(s->key, sizeof(s->key));
	OPENSSL_cleanse(s->key_file, sizeof(s->key_file));
	free(s);
	*sp = NULL;
}

void auth_site_reload_key(struct auth_site *s, const char *key_path, bool derive,
			  struct auth_key_reload *r)
{
	uint8_t k[AUTH_KEY_LEN];
	int e;

	r->what = AUTH_KEY_SAME;
	r->err = 0;
	r->msg[0] = '\0';
	if ((e = auth_key_load(k, key_path)) != 0) {
		r->what = AUTH_KEY_UNREAD;
		r->err = e;
		snprintf(r->msg, sizeof(r->msg),
			 "reload: nonce key %s not read, keeping the running one: %s", key_path,
			 strerror(e));
		return;
	}
	if (CRYPTO_memcmp(k, s->key_file, AUTH_KEY_LEN) == 0) {
		OPENSSL_cleanse(k, sizeof(k));
		return;
	}
	memcpy(s->key_file, k, AUTH_KEY_LEN);
	if (!derive) {
		r->what = AUTH_KEY_CHANGED;
	} else if (auth_key_derive(k) == 0) {
		memcpy(s->key, k, AUTH_KEY_LEN);
		r->what = AUTH_KEY_REPLACED;
		snprintf(r->msg, sizeof(r->msg),
			 "nonce key replaced from %s: outstanding nonces are refused", key_path);
	} else {
		r->what = AUTH_KEY_DERIVE_FAILED;
		snprintf(r->msg, sizeof(r->msg),
			 "reload: deriving the new nonce key failed; keeping the running one");
	}
	OPENSSL_cleanse(k, sizeof(k));
}
