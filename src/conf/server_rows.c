/*
 * conf/server_rows.c: the settings rows of [server]: the domain, the
 * listeners, the profile and how the process stops (server/, net/ listeners).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const struct conf_row conf_server_rows[] = {
	STR("server", "domain", domain, CONF_HOST, "localhost",
	    "The SIP domain this server is responsible for (host name or IP address). "
	    "Users are name@domain."),
	STR("server", "listen", listen, CONF_LISTEN,
	    "udp:127.0.0.1:5060,tcp:127.0.0.1:5060,tls:127.0.0.1:5061",
	    "Comma-separated listeners, `transport:address:port` with transport udp, tcp or tls, "
	    "e.g. `udp:127.0.0.1:5060,tcp:[::1]:5060,tls:[::1]:5061`. Numeric addresses only. "
	    "Loopback by default: exposing the server is a decision (guide, Network Services). "
	    "Changes need a restart."),
	STR("server", "server_header", server_header, CONF_STR, "",
	    "Value of the Server header in responses. Empty (the default) sends none, so the "
	    "server does not announce its software and version to scanners."),
	{ "server", "profile", CONF_ENUM, offsetof(struct conf, profile), 0, 0, 0, conf_profiles,
	  "minimum", NULL,
	  "Robustness profile, after the guide's levels: it sets the defaults of the settings "
	  "whose `profiles` column names a value (signaling and media encryption, client "
	  "certificates, digest algorithms, nonce lifetime); a setting in the file still wins. "
	  "`bastion config show` lists every value and where it came from; `bastion audit "
	  "--level` checks the installation against a level (docs/operations.md).", NOPROF },
	U32("server", "stop_grace", stop_grace, 0, 600, "5", "seconds",
	    "On SIGTERM, how long the server goes on finishing what is in progress (transactions, "
	    "in-dialog requests) while it answers new calls and registrations with 503 and "
	    "Retry-After; it exits as soon as nothing is left. 0 stops at once. A second signal "
	    "stops at once too."),
};
const size_t conf_server_rows_n = ARRAY_SIZE(conf_server_rows);
