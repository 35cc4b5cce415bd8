/*
 * server/observe: what the operator watches. The metrics listener
 * (src/metrics/): its render callback gathers the counters the layers
 * already keep (server, net, guard, registrar, transactions, dialogs, the
 * logs) into a struct metrics_snapshot, which metrics/ renders in
 * Prometheus' format (the names are there and in docs/monitoring.md); it
 * changes nothing. And the remote log sender (log/remote.c), started from
 * [log] remote.
 */
#include <errno.h>
#include <stdio.h>

#include "internal.h"

struct ev_gather {
	struct metrics_event_count v[LOG_EVENT_KINDS];
	size_t n;
};

static void on_event_count(void *arg, const char *kind, const char *reason, uint64_t n)
{
	struct ev_gather *g = arg;

	if (g->n < ARRAY_SIZE(g->v))
		g->v[g->n++] = (struct metrics_event_count){ kind, reason, n };
}

/* The metrics listener's callback: gather the figures of every layer into
 * a snapshot (reads only), which metrics/ renders. */
static void render(void *arg, struct metrics_buf *b)
{
	struct server *s = arg;
	const struct server_stats *st = &s->stats;
	struct metrics_snapshot m = { 0 };
	struct metrics_peer peers[TRUNK_MAX_PEERS];
	struct trunk_peer_stats p;
	struct ev_gather ev;
	struct guard_stats gs;
	struct proxy_stats ps;
	struct registrar_stats rs;
	size_t aors = 0, bindings = 0;

	_Static_assert(sizeof(m.sip.requests) == sizeof(st->requests), "methods x transports");
	_Static_assert(sizeof(m.registrar.batches) == sizeof(s->batches), "batches by why");
	m.sip.received = st->received;
	memcpy(m.sip.requests, st->requests, sizeof(m.sip.requests));
	memcpy(m.sip.answered, st->answered, sizeof(m.sip.answered));
	for (size_t i = 0; i < ARRAY_SIZE(st->refused); i++)
		m.sip.malformed_answered += st->refused[i];
	m.sip.malformed_dropped = st->dropped_malformed;

	registrar_counts(s->reg, &aors, &bindings);
	registrar_stats(s->reg, &rs);
	m.registrar.bindings = bindings;
	m.registrar.aors = aors;
	m.registrar.bindings_limit = s->conf.max_bindings;
	memcpy(m.registrar.batches, s->batches, sizeof(m.registrar.batches));
	m.registrar.batches[0][SERVER_BATCH_FULL] += rs.batches_full; /* inside the registrar */

	proxy_stats(s->proxy, &ps);
	m.calls.dialogs = ps.dialogs;
	m.calls.dialogs_limit = s->conf.max_dialogs;
	m.calls.dialogs_refused = ps.dialogs_refused;
	m.calls.dialogs_reserve_used = ps.dialogs_reserve_used;
	m.calls.proxied = ps.calls;
	log_cdr_attempts(m.calls.attempts);
	txn_layer_stats(s->txn, &m.txn);
	m.txn_limit = s->conf.max_transactions;

	ev.n = 0;
	log_event_counts(on_event_count, &ev);
	m.events = ev.v;
	m.nevents = ev.n;

	guard_stats(s->guard, server_now_ms(), &gs);
	m.guard.dropped_banned = st->dropped_banned;
	m.guard.dropped_rate = st->dropped_rate;
	m.guard.dropped_scanner = st->dropped_scanner;
	m.guard.bans = gs.bans;
	m.guard.bans_active = gs.bans_active;
	m.guard.locks = gs.locks;
	m.guard.locks_active = gs.locks_active;
	m.guard.sources = gs.sources;
	m.guard.sources_limit = s->conf.guard_sources;
	m.guard.shed = st->shed;

	net_stats(s->net, &m.net);
	m.connections_limit = s->conf.max_connections;
	for (; m.npeers < ARRAY_SIZE(peers) && server_trunk_peer_stats(s, m.npeers, &p); m.npeers++)
		peers[m.npeers] = (struct metrics_peer){ p.name, p.calls_out, p.calls_in,
							 p.failed_out, p.up };
	m.peers = peers;
	net_lag(s->net, &m.lag);
	log_events_stats(&m.events_log);
	log_cdr_stats(&m.cdr_log);
	m.store_remote = store_backend_stats(s->store, &m.store) == 0 && m.store.queue_max > 0;
	if ((m.nodes = s->epochs != NULL)) {
		struct nodes_epochs_stats eps;

		nodes_epochs_stats(s->epochs, &eps);
		m.epochs.leased = eps.leased;
		m.epochs.known = eps.known;
		m.epochs.held = eps.held;
		m.epochs.rotations = eps.rotations;
		m.epochs.takeovers = eps.takeovers;
	}
	log_remote_stats(&m.remote_log);
	m.remote_log_limit = (uint64_t)s->conf.remote_queue_size * 1024u;
	metrics_server_stats(s->metrics, &m.listener);
	metrics_render(b, &m); /* an overflow is b's to report (500) */
}

int server_metrics_start(struct server *s, const struct conf *c, char *err, size_t errlen)
{
	char cert[1100], key[1100], ca[1100], why[1200];
	struct metrics_conf mc;
	struct net_addr a;
	char where[80];
	int rc;

	if (!c->metrics_listen[0])
		return 0;
	metrics_conf_from(&mc, c);
	if (c->metrics_tls == CONF_YES) {
		if (conf_state_path(cert, sizeof(cert), s->state, c->tls_certificate) != 0 ||
		    conf_state_path(key, sizeof(key), s->state, c->tls_key) != 0 ||
		    conf_state_path(ca, sizeof(ca), s->state, c->metrics_client_ca) != 0) {
			snprintf(err, errlen, "[metrics] tls: a path is too long");
			return ENAMETOOLONG;
		}
		mc.cert_file = cert;
		mc.key_file = key;
		mc.client_ca = ca;
	}
	rc = metrics_server_new(&s->metrics, s->net, &mc, render, s, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "[metrics] %s %s: %s", mc.cert_file ? "tls" : "listen",
			 c->metrics_listen, why);
		return rc;
	}
	metrics_server_addr(s->metrics, &a);
	net_addr_fmt(where, sizeof(where), NET_TCP, &a);
	log_notice("metrics on %s %s/metrics%s", mc.cert_file ? "https" : "http", where + 4,
		   mc.cert_file ? " (client certificates required)" : "");
	return 0;
}

void server_metrics_reload(struct server *s, const struct conf *c)
{
	struct metrics_conf mc;

	if (!s->metrics)
		return;
	metrics_conf_from(&mc, c);
	metrics_server_set_conf(s->metrics, &mc);
}

void server_metrics_free(struct server *s)
{
	metrics_server_free(&s->metrics);
}

int server_remote_log_start(struct server *s, const struct conf *c, char *err, size_t errlen)
{
	char ca[1100], cert[1100], key[1100], dir[1100];
	struct log_remote_conf rc = { 0 };
	int e;

	if (!c->remote[0])
		return 0;
	if (!c->remote_ca[0]) {
		snprintf(err, errlen, "[log] remote needs remote_ca (the CA of the log server)");
		return EINVAL;
	}
	if ((e = conf_state_path(ca, sizeof(ca), s->state, c->remote_ca)) != 0 ||
	    (e = conf_state_path(cert, sizeof(cert), s->state,
				 c->remote_certificate[0] ? c->remote_certificate
							  : c->tls_certificate)) != 0 ||
	    (e = conf_state_path(key, sizeof(key), s->state,
				 c->remote_key[0] ? c->remote_key : c->tls_key)) != 0 ||
	    (e = conf_state_path(dir, sizeof(dir), s->state, c->remote_queue)) != 0) {
		snprintf(err, errlen, "[log] remote: a path is too long");
		return e;
	}
	rc.host = c->remote_host;
	rc.port = c->remote_port;
	rc.name = c->remote_name[0] ? c->remote_name : NULL;
	rc.ca_file = ca;
	rc.cert_file = cert;
	rc.key_file = key;
	rc.queue_dir = dir;
	rc.queue_max = (uint64_t)c->remote_queue_size * 1024u;
	if ((e = log_remote_start(&rc, err, errlen)) != 0)
		return e;
	log_notice("security events also go to tls:%s:%u (queue %s)", c->remote_host,
		   (unsigned)c->remote_port, dir);
	return 0;
}
