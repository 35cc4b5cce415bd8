/*
 * server/internal.h: what the request path's files share. Not for other layers.
 */
#ifndef BASTION_SERVER_INTERNAL_H
#define BASTION_SERVER_INTERNAL_H

#include <netinet/in.h>

#include "../auth/auth.h"
#include "../log/log.h"
#include "../net/net.h"
#include "../registrar/registrar.h"
#include "../store/store.h"
#include "server.h"

/* Room for any response we build: the request's Vias and headers are bounded
 * by max_message (<= 65535) and we add a few hundred bytes. */
#define SERVER_OUT_CAP (65536 + 2048)

struct server {
	struct conf conf;
	struct net *net;
	struct sip_hdr *hdrs;          /* conf.lim.max_headers entries */
	uint32_t hdr_cap;
	char *out;
	uint8_t tag_key[16];           /* keys the To-tags of stateless replies */
	struct server_stats stats;
	struct log_limit refusal_log;

	char state[1024];
	struct store *store;
	struct store_cache *cache;
	struct registrar *reg;
	uint8_t key[AUTH_KEY_LEN];     /* nonce HMAC key, from the state directory */
	struct auth_nc_table *nc;
	struct auth_server auth;
	char realm[256];
	/* this server's addresses as "host" and "host:port", for AOR checks and
	 * the relaxed digest-uri check */
	char own_host[NET_MAX_LISTEN][INET6_ADDRSTRLEN];
	char own_hostport[NET_MAX_LISTEN][INET6_ADDRSTRLEN + 8];
	struct slice own_slices[NET_MAX_LISTEN];
	size_t n_own;
	uint64_t next_expiry_ms;
};


/* Send a response to request m (which has SIP_HAVE_REPLY) with `extra`
 * header lines (each ending in CRLF) besides those the status implies. */
void server_reply(struct server *s, const struct net_msg *in, const struct sip_msg *m,
		  uint16_t status, const char *reason, struct slice extra);

/* REGISTER: authenticate, check ownership of the AOR, hand to the registrar,
 * answer. */
void server_register(struct server *s, const struct net_msg *in, const struct sip_msg *m);

/* Record a security event. */
void server_event(struct server *s, const char *kind, const struct net_msg *in,
		  const struct sip_msg *m, struct slice user, struct slice aor,
		  const char *reason, int status);

#endif
