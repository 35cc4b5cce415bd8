/*
 * server/tls: the server's side of TLS: the library guard at startup, the
 * certificate and key named by [tls] (conf_tls resolves them) loaded into
 * the loop (at startup and on SIGHUP, where a bad file is refused and the
 * running certificate kept),
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
	return net_listen_has(c->listeners, c->nlisteners, NET_TLS);
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

/* Load c's [tls] files into the loop (conf_tls resolves them against the
 * state directory); net_tls_load reads them (the passphrase file too). */
static int load(struct server *s, const struct conf *c, char *err, size_t errlen)
{
	struct conf_tls t;
	int rc;

	if ((rc = conf_tls(&t, c, s->state, err, errlen)) != 0)
		return rc;
	/* the revocation list of `bastion rotate --client-certs`, once it exists */
	if (t.tc.crl_file && access(t.tc.crl_file, F_OK) != 0)
		t.tc.crl_file = NULL;
	return net_tls_load(s->net, &t.tc, err, errlen);
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
