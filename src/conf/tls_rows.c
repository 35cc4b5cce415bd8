/*
 * conf/tls_rows.c: the settings rows of [tls]: certificates, client
 * verification and session tickets (net/tls.c, server/tls.c,
 * policy/client_cert.c).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const char *const conf_tls_verify_names[] = { "none", "optional", "require", NULL };

const struct conf_row conf_tls_rows[] = {
	STR("tls", "certificate", tls_certificate, CONF_STR, "server.crt",
	    "The server's certificate (PEM, then any intermediate CA certificates), relative "
	    "to the state directory. `bastion init` issues one for the domain from a local CA. "
	    "Reloaded on SIGHUP: a bad one is refused and the running one kept. Used when a "
	    "`tls:` listener is configured (docs/tls.md)."),
	STR("tls", "key", tls_key, CONF_STR, "server.key",
	    "The certificate's private key (PEM), relative to the state directory; refused when "
	    "others may read it."),
	STR("tls", "ca", tls_ca, CONF_STR, "ca.crt",
	    "CA certificate(s) client certificates must chain to (verify_client), relative to "
	    "the state directory; `bastion init` creates this local CA, which phones import "
	    "to trust the server."),
	STR("tls", "key_passphrase_file", tls_key_passphrase_file, CONF_STR, "",
	    "A file whose first line is the passphrase of an encrypted `key` (relative to the "
	    "state directory; refused when others may read it). Empty: the key is not "
	    "encrypted. The passphrase itself never goes in this file."),
	{ "tls", "verify_client", CONF_ENUM, offsetof(struct conf, tls_verify_client), 0, 0, 0,
	  conf_tls_verify_names, "none", NULL,
	  "Client certificates (mutual TLS): `none` does not ask; `optional` asks, and a "
	  "certificate a client sends must verify against `ca` or the handshake fails; "
	  "`require` also refuses clients without one.",
	  PROF(NULL, "optional", "require") },
	STR("tls", "crl", tls_crl, CONF_STR, "crl.pem",
	    "Certificate revocation list (PEM) that client certificates are checked against "
	    "during the handshake, relative to the state directory; `bastion rotate "
	    "--client-certs` writes it. Used only when the file exists; reloaded on SIGHUP."),
	STR("tls", "peer_ca", tls_peer_ca, CONF_STR, "",
	    "CA certificate(s) (PEM) the certificates of TLS peers (gateways, trunks: "
	    "docs/trunks.md) must chain to, relative to the state directory. Empty: the "
	    "system's trusted CAs. Either way a peer's certificate must also name its "
	    "`tls_name`, or nothing is sent to it (event peer.tls_refused)."),
	U32("tls", "ticket_lifetime", tls_ticket_lifetime, 0, 86400, "3600", "seconds",
	    "Lifetime of TLS session tickets (fast reconnection without a full handshake). The "
	    "key that encrypts them is random, kept in memory only, replaced every lifetime "
	    "(the previous one is still accepted for one more) and on every certificate "
	    "reload. 0 turns session tickets off."),
};
const size_t conf_tls_rows_n = ARRAY_SIZE(conf_tls_rows);
