/*
 * conf/metrics_rows.c: the settings rows of [metrics]: the Prometheus
 * listener (metrics/).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const struct conf_row conf_metrics_rows[] = {
	{ "metrics", "listen", CONF_ADDR, offsetof(struct conf, metrics_listen), 128, 0, 0, NULL,
	  "", NULL,
	  "Where Prometheus scrapes the metrics (`GET /metrics`, text format), as "
	  "`address:port` (numeric; `[::1]:9090` for IPv6), e.g. `127.0.0.1:9090`. Empty (the "
	  "default): no listener. Plain HTTP without authentication: keep it on loopback or "
	  "a management network. Changes need a restart.", NOPROF },
	U32("metrics", "max_request", metrics_max_request, 256, 65536, "4096", "bytes",
	    "Largest HTTP request line and headers; a longer request gets 431 and is closed."),
	U32("metrics", "timeout", metrics_timeout, 1, 300, "5", "seconds",
	    "A metrics connection must have sent its request and taken the answer within "
	    "this time from its accept, or it is closed (slow clients)."),
	U32("metrics", "max_connections", metrics_max_connections, 1, 1024, "8", "connections",
	    "Most metrics connections open at once; more are closed at once."),
	{ "metrics", "tls", CONF_ENUM, offsetof(struct conf, metrics_tls), 0, 0, 0, conf_yes_no, "no",
	  NULL,
	  "`yes`: the metrics listener speaks HTTPS (TLS 1.2+) with the [tls] certificate and "
	  "key (the key not encrypted), and requires a client certificate that chains to "
	  "client_ca (e.g. one from `bastion tls issue prometheus`); a client without one is "
	  "closed. Changes need a restart.", NOPROF },
	STR("metrics", "client_ca", metrics_client_ca, CONF_STR, "ca.crt",
	    "PEM CA certificate(s) that metrics clients' certificates must chain to when tls is "
	    "`yes`, relative to the state directory; by default the local CA of `bastion init`."),
};
const size_t conf_metrics_rows_n = ARRAY_SIZE(conf_metrics_rows);
