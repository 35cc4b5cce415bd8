/*
 * auth/settings: the authentication site's settings read from the server's
 * configuration ([auth]). conf/ holds the rows; this layer says what they
 * mean to it.
 */
#include "auth.h"

#include "../conf/conf.h"

void auth_site_conf_from(struct auth_site_conf *ac, const struct conf *c,
			 const struct slice *own, size_t n_own)
{
	*ac = (struct auth_site_conf){
		.realm = slice_cstr(conf_realm(c)),
		.nonce_lifetime_s = c->nonce_lifetime,
		.uri_mode = c->uri_check == CONF_URI_RELAXED ? AUTH_URI_RELAXED : AUTH_URI_STRICT,
		.algos = c->algos,
		.nalgos = c->nalgos,
		.own_addrs = own,
		.n_own_addrs = n_own,
		.nonce_window = c->nonce_window,
		.nonce_table_size = c->nonce_table_size,
	};
}
