/*
 * metrics: live figures in Prometheus' text exposition format (version
 * 0.0.4), served over HTTP by an opt-in listener on the server's own event
 * loop.
 *
 * Four parts, each usable alone:
 * - struct metrics_buf renders families and samples (render.c). It escapes
 *   label values and refuses names that are not valid metric or label names,
 *   so nothing a peer sent can break the format; a family is announced (HELP,
 *   TYPE) once, before its samples. The buffer is bounded: past its cap the
 *   rest is dropped and `overflow` set.
 * - metrics_render() writes Bastion's own families from a struct
 *   metrics_snapshot of plain numbers (families.c): the names, labels, help
 *   texts and order that docs/monitoring.md lists live there, and nowhere
 *   else.
 * - metrics_http_parse() decides what to answer to the bytes of one HTTP
 *   request (http.c). Pure: no I/O. Only `GET /metrics` (a query string is
 *   ignored) is served; HEAD gets the headers only.
 * - struct metrics_server listens, reads one request per connection with the
 *   same discipline as SIP: bounded request size, a deadline for the whole
 *   request, a cap on connections, and answers through a render callback
 *   that only reads counters (server.c). It never touches SIP state: the
 *   callback gets a buffer to fill, nothing else.
 */
#ifndef BASTION_METRICS_H
#define BASTION_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/base.h"
#include "../log/log.h"
#include "../net/net.h"
#include "../store/store.h"
#include "../txn/txn.h"

/* ---- rendering -------------------------------------------------------------- */

enum metrics_type { METRICS_COUNTER = 0, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_buf {
	char *p;
	size_t len, cap, max;          /* max: the most it may grow to */
	bool overflow;                 /* something did not fit (or a bad name) */
	char family[128];              /* the family announced last */
};

/* An empty buffer that may grow to max bytes (at least 4096). Returns 0 or
 * ENOMEM. */
int metrics_buf_init(struct metrics_buf *b, size_t max);
void metrics_buf_free(struct metrics_buf *b);

/* A label: name (a valid label name, from the code) and value (any bytes:
 * escaped as the format says, `\` `"` and newline; other bytes outside
 * printable ASCII become `\xNN` text so the output stays valid UTF-8). */
struct metrics_label {
	const char *name;
	struct slice value;
};

/*
 * Announce family `name` (HELP and TYPE lines) unless it is the one
 * announced last. A name that is not [a-zA-Z_:][a-zA-Z0-9_:]* sets overflow
 * and writes nothing. help is from the code (newlines and backslashes are
 * escaped anyway).
 */
void metrics_family(struct metrics_buf *b, const char *name, enum metrics_type type,
		    const char *help);

/* One sample line `name{labels} value`; name may carry a suffix of the
 * family (_bucket, _sum, _count). */
void metrics_sample(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
		    size_t nlabels, uint64_t value);
/* The same with a floating value (printed with %.17g; +Inf/-Inf/NaN as the
 * format spells them). */
void metrics_sample_f(struct metrics_buf *b, const char *name,
		      const struct metrics_label *labels, size_t nlabels, double value);

/* Family, HELP and one unlabelled sample in one call. */
void metrics_one(struct metrics_buf *b, const char *name, enum metrics_type type,
		 const char *help, uint64_t value);

/*
 * A histogram: family `name` with `_bucket{le="..."}` lines, cumulative,
 * ending with le="+Inf", then _sum and _count. counts[i] are the
 * non-cumulative counts of the buckets with upper bounds bounds[i] (in the
 * unit of the samples), counts[nbounds] those above the last bound; sum is
 * in the same unit. scale divides bounds and sum on output (1000 turns
 * milliseconds into the seconds Prometheus expects).
 */
void metrics_histogram(struct metrics_buf *b, const char *name, const char *help,
		       const uint32_t *bounds, size_t nbounds, const uint64_t *counts,
		       uint64_t sum, double scale);

/* ---- HTTP requests --------------------------------------------------------------- */

struct metrics_http_verdict {
	int status;                    /* 200, 400, 404, 405, 431, 505 */
	bool head;                     /* HEAD: headers only */
	const char *reason;            /* reason phrase */
};

/*
 * What to answer to the request in buf[0..len): 0 with *v once the header
 * section is complete (CRLF CRLF, or LF LF); ENODATA when more bytes are
 * needed and len < max; EOVERFLOW when len >= max without a complete header
 * section (v says 431). The request line must be `METHOD SP TARGET SP
 * HTTP/1.x`: other shapes get 400, another HTTP version 505, a method other
 * than GET or HEAD 405, a target other than /metrics (with an optional
 * query) 404. Headers are not interpreted; a body is never read (the
 * connection closes after the answer).
 */
int metrics_http_parse(struct metrics_http_verdict *v, const char *buf, size_t len, size_t max);

/* ---- the listener ---------------------------------------------------------------- */

struct metrics_conf {
	struct net_addr addr;          /* where to listen (TCP) */
	uint32_t max_request;          /* bytes of request line and headers */
	uint32_t timeout_ms;           /* the whole exchange, from accept */
	uint32_t max_connections;      /* open at once; more are closed at once */
	uint32_t max_response;         /* bytes of the exposition; more is cut (500) */
	/* HTTPS with a client certificate: all three set, or all NULL (plain HTTP) */
	const char *cert_file;         /* PEM certificate (and chain) the listener shows */
	const char *key_file;          /* its key, PEM, not encrypted */
	const char *client_ca;         /* PEM CAs a client certificate must chain to */
};

struct conf;

/* mc from the server's configuration c ([metrics]: the parsed listen
 * address, max_request, timeout, max_connections), with max_response 4 MiB
 * and plain HTTP: the caller sets the three files for tls. Pure; every
 * field of mc is set. */
void metrics_conf_from(struct metrics_conf *mc, const struct conf *c);

/* Fill b with the current figures. Must only read. */
typedef void(metrics_render_fn)(void *arg, struct metrics_buf *b);

struct metrics_stats {
	uint64_t requests;             /* answered, any status */
	uint64_t scrapes;              /* answered 200 */
	uint64_t refused;              /* over max_connections */
	uint64_t timeouts;             /* cut off by timeout_ms */
	uint64_t too_large;            /* requests over max_request (431) */
	uint64_t bad;                  /* 400, 404, 405, 505 */
	uint64_t tls_failed;           /* HTTPS handshakes failed (no or bad client certificate) */
	uint32_t open;                 /* connections open now */
};

struct metrics_server;

/*
 * Listen on conf->addr (TCP, non-blocking, on n's loop). With cert_file,
 * key_file and client_ca, every connection is TLS 1.2+ and must present a
 * client certificate that chains to client_ca, or it is closed. Returns 0
 * with *mp, or an errno (EADDRINUSE ...; EINVAL when a TLS file is wrong,
 * with err saying which). render is called once per GET /metrics.
 */
int metrics_server_new(struct metrics_server **mp, struct net *n, const struct metrics_conf *conf,
		       metrics_render_fn *render, void *arg, char *err, size_t errlen);
/* Close the listener and every connection; *mp becomes NULL. NULL is fine. */
void metrics_server_free(struct metrics_server **mp);
/* New limits (SIGHUP); the address needs a restart. */
void metrics_server_set_conf(struct metrics_server *m, const struct metrics_conf *conf);
/* The address bound (with the port the kernel chose for port 0). */
void metrics_server_addr(const struct metrics_server *m, struct net_addr *out);
void metrics_server_stats(const struct metrics_server *m, struct metrics_stats *out);

/* ---- Bastion's figures ------------------------------------------------------------ */

/*
 * What the server exposes, gathered by the server into plain numbers
 * (server/observe.c) and rendered here, so that the names, labels, help
 * texts and their order live in one place (docs/monitoring.md lists them).
 * The lower layers' stats structs are taken whole; the figures of the
 * layers beside this one (guard, registrar, proxy, nodes, trunk peers) are
 * copied into fields of their own. Every pointer is borrowed for the call.
 */
#define METRICS_SIP_METHODS (SIP_M_UPDATE + 1) /* requests by enum sip_method */
#define METRICS_TRANSPORTS 3                    /* udp, tcp, tls */
#define METRICS_BATCH_WHYS 3                    /* waited, full, tick */

/* Security events of one kind (and, for auth.* kinds, one reason: "" when
 * none), as log_event_counts reports them. */
struct metrics_event_count {
	const char *kind, *reason;
	uint64_t n;
};

/* A peer's figures (docs/trunks.md); its name is from bastion.conf. */
struct metrics_peer {
	const char *name;
	uint64_t calls_out, calls_in, failed_out;
	bool up;
};

struct metrics_snapshot {
	struct {                       /* SIP traffic (server/) */
		uint64_t received;
		uint64_t requests[METRICS_SIP_METHODS][METRICS_TRANSPORTS];
		uint64_t answered[7];  /* responses sent by class, 1xx..6xx at [1..6] */
		uint64_t malformed_answered, malformed_dropped;
	} sip;
	struct {
		uint64_t bindings, bindings_limit, aors;
		/* store batches: registrations [0] and calls [1], by why they were
		 * committed: waited, full, tick */
		uint64_t batches[2][METRICS_BATCH_WHYS];
	} registrar;
	struct {                       /* the proxy's */
		uint64_t dialogs, dialogs_limit, dialogs_refused, dialogs_reserve_used;
		uint64_t proxied;      /* requests being proxied now */
		uint64_t attempts[7];  /* call attempts ended by class, [1..6] */
	} calls;
	struct txn_stats txn;
	uint64_t txn_limit;
	const struct metrics_event_count *events; /* security events, nevents of them */
	size_t nevents;
	struct {
		uint64_t dropped_banned, dropped_rate, dropped_scanner; /* before parsing */
		uint64_t bans, bans_active, locks, locks_active, sources, sources_limit;
		uint64_t shed;         /* new requests answered 503: overload */
	} guard;
	struct net_stats net;
	uint64_t connections_limit;
	const struct metrics_peer *peers; /* npeers of them, in the configuration's order */
	size_t npeers;
	struct net_lag lag;
	struct log_event_stats events_log;
	struct log_cdr_stats cdr_log;
	bool store_remote;             /* a PostgreSQL store: store is rendered */
	struct store_backend_stats store;
	bool nodes;                    /* several nodes: the nonce epochs are rendered */
	struct {
		bool leased;
		uint64_t known, held;  /* other epochs known; of those, taken over */
		uint64_t rotations, takeovers;
	} epochs;
	struct log_remote_stats remote_log;
	uint64_t remote_log_limit;     /* [log] remote_queue_size in bytes */
	struct metrics_stats listener; /* this listener's */
};

/*
 * Render every family of s into b, in docs/monitoring.md's groups (SIP,
 * registrar, calls, events, guard, connections and peers, TLS, the loop,
 * logs, the PostgreSQL store and nodes when present, the remote log, this
 * listener). Returns 0, or EOVERFLOW when b overflowed (its cap, or a
 * failed allocation: b holds what fitted).
 */
int metrics_render(struct metrics_buf *b, const struct metrics_snapshot *s);

#endif
