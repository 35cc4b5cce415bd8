/*
 * server/tls: the server's side of TLS: the library guard at startup, the
 * certificate and key named by [tls] loaded into the loop (at startup and on
 * SIGHUP, where a bad file is refused and the running certificate kept),
 * the TLS counters logged at shutdown, and per-user mutual TLS (a user
 * bound to its client certificate). The transport itself is in net/tls.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

static bool has_tls_listener(const struct conf *c)
{
	for (size_t i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].tp == NET_TLS)
			return true;
	return false;
}

int server_tls_library_check(char *err, size_t errlen)
{
	unsigned long num = net_tls_library_version();
	const char *extra = getenv("BASTION_TEST_TLS_VERSION");
	char why[300];

	log_notice("TLS library: %s (version number 0x%08lx)", net_tls_library_name(), num);
	if (net_tls_library_check(num, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "refusing to start on %s: %s; upgrade OpenSSL, then replace "
			 "every key, certificate and password it may have exposed",
			 net_tls_library_name(), why);
		return EPROTO;
	}
	/* Test hook: a version number to check as well. It can only add a
	 * refusal, never lift one. */
	if (extra && *extra) {
		unsigned long fake = strtoul(extra, NULL, 16);
		if (net_tls_library_check(fake, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "refusing to start on OpenSSL 0x%08lx (test): %s", fake,
				 why);
			return EPROTO;
		}
	}
	return 0;
}

/* Load c's [tls] files into the loop: the paths resolved against the
 * state directory; net_tls_load reads them (the passphrase file too). */
static int load(struct server *s, const struct conf *c, char *err, size_t errlen)
{
	char cert[1100], key[1100], ca[1100], crl[1100], ppath[1100], peer_ca[1100];
	struct net_tls_conf tc = { 0 };

	if (conf_state_path(cert, sizeof(cert), s->state, c->tls_certificate) ||
	    conf_state_path(key, sizeof(key), s->state, c->tls_key) ||
	    conf_state_path(ca, sizeof(ca), s->state, c->tls_ca)) {
		snprintf(err, errlen, "TLS file path too long");
		return ENAMETOOLONG;
	}
	tc.cert_file = cert;
	tc.key_file = key;
	tc.ca_file = c->tls_ca[0] ? ca : NULL;
	tc.verify = c->tls_verify_client == CONF_TLS_VERIFY_REQUIRE    ? NET_TLS_VERIFY_REQUIRE
		    : c->tls_verify_client == CONF_TLS_VERIFY_OPTIONAL ? NET_TLS_VERIFY_OPTIONAL
								       : NET_TLS_VERIFY_NONE;
	tc.ticket_lifetime_s = c->tls_ticket_lifetime;
	if (c->tls_peer_ca[0]) {
		if (conf_state_path(peer_ca, sizeof(peer_ca), s->state, c->tls_peer_ca)) {
			snprintf(err, errlen, "TLS peer_ca path too long");
			return ENAMETOOLONG;
		}
		tc.peer_ca_file = peer_ca;
	}
	/* the revocation list of `bastion rotate --client-certs`, once it exists */
	if (c->tls_crl[0] && conf_state_path(crl, sizeof(crl), s->state, c->tls_crl) == 0 &&
	    access(crl, F_OK) == 0)
		tc.crl_file = crl;
	if (c->tls_key_passphrase_file[0]) {
		if (conf_state_path(ppath, sizeof(ppath), s->state, c->tls_key_passphrase_file)) {
			snprintf(err, errlen, "TLS passphrase file path too long");
			return ENAMETOOLONG;
		}
		tc.passphrase_file = ppath;
	}
	return net_tls_load(s->net, &tc, err, errlen);
}

int server_tls_start(struct server *s, const struct conf *c, char *err, size_t errlen)
{
	char desc[512];
	int rc;

	if (!has_tls_listener(c))
		return 0;
	if ((rc = load(s, c, err, errlen)) != 0)
		return rc;
	net_tls_describe(s->net, desc, sizeof(desc));
	log_notice("TLS certificate: %s", desc);
	return 0;
}

void server_tls_reload(struct server *s, const struct conf *c)
{
	char err[600], desc[512];

	if (!has_tls_listener(&s->conf))
		return;
	if (load(s, c, err, sizeof(err)) != 0) {
		log_error("reload: TLS certificate refused, keeping the running one: %s", err);
		return;
	}
	net_tls_describe(s->net, desc, sizeof(desc));
	log_notice("TLS certificate reloaded: %s", desc);
}

void server_tls_log_stats(const struct server *s)
{
	struct net_stats st;

	if (!s->net || !has_tls_listener(&s->conf))
		return;
	net_stats(s->net, &st);
	log_notice("TLS: %llu handshakes (%llu resumed), %llu failed, %llu cut off by the deadline",
		   (unsigned long long)st.tls_handshakes, (unsigned long long)st.tls_resumed,
		   (unsigned long long)st.tls_handshake_failed,
		   (unsigned long long)st.tls_handshake_timeout);
}
