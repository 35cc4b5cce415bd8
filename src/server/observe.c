/*
 * server/observe: what the operator watches. The metrics listener
 * (src/metrics/): its render callback reads the counters the layers already
 * keep (server, net, guard, registrar, transactions, dialogs, the logs) and
 * writes them in Prometheus' format; it changes nothing. And the remote log
 * sender (log/remote.c), started from [log] remote. docs/monitoring.md lists
 * the metric names.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "internal.h"

static const char *const tp_names[] = { "udp", "tcp", "tls" };

struct ev_walk {
	struct metrics_buf *b;
	bool auth_only;
};

static void on_event_count(void *arg, const char *kind, const char *reason, uint64_t n)
{
	struct ev_walk *w = arg;

	if (w->auth_only) {
		struct metrics_label l = { "reason", slice_cstr(reason) };
		if (strcmp(kind, "auth.failure") == 0)
			metrics_sample(w->b, "bastion_auth_failures_total", &l, 1, n);
		return;
	}
	struct metrics_label l[2] = { { "kind", slice_cstr(kind) }, { "reason", slice_cstr(reason) } };
	metrics_sample(w->b, "bastion_security_events_total", l, 2, n);
}

static void labelled(struct metrics_buf *b, const char *name, const char *label,
		     const char *value, uint64_t n)
{
	struct metrics_label l = { label, slice_cstr(value) };

	metrics_sample(b, name, &l, 1, n);
}

/* The group commit's batches (docs/registrar.md, Durability): what they
 * held and why each was committed, so an operator can see whether answers
 * wait for batch_wait or batches fill to batch_max. */
static void store_batches(const struct server *s, struct metrics_buf *b)
{
	static const char *const kinds[2] = { "registrations", "calls" };
	static const char *const whys[SERVER_BATCH_WHYS] = { "waited", "full", "tick" };
	struct registrar_stats rs;
	uint64_t n[2][SERVER_BATCH_WHYS];

	registrar_stats(s->reg, &rs);
	memcpy(n, s->batches, sizeof(n));
	n[0][SERVER_BATCH_FULL] += rs.batches_full; /* committed inside the registrar */
	metrics_family(b, "bastion_store_batches_total", METRICS_COUNTER,
		       "Store batches committed, by what they held (registrations; calls: "
		       "dialogs and call records) and why: the oldest change waited "
		       "batch_wait, batch_max changes waited, or the tick.");
	for (size_t k = 0; k < 2; k++)
		for (size_t w = 0; w < SERVER_BATCH_WHYS; w++) {
			struct metrics_label l[2] = { { "kind", slice_cstr(kinds[k]) },
						      { "why", slice_cstr(whys[w]) } };
			metrics_sample(b, "bastion_store_batches_total", l, 2, n[k][w]);
		}
}

static void render(void *arg, struct metrics_buf *b)
{
	struct server *s = arg;
	struct server_stats st = s->stats;
	struct net_stats ns;
	struct guard_stats gs;
	struct txn_stats ts;
	struct net_lag lag;
	struct log_event_stats es;
	struct log_cdr_stats cs;
	struct metrics_stats ms;
	struct proxy_stats ps;
	uint64_t attempts[7], refused = 0;
	size_t aors = 0, bindings = 0;
	char cls[8];

	net_stats(s->net, &ns);
	net_lag(s->net, &lag);
	guard_stats(s->guard, server_now_ms(), &gs);
	txn_layer_stats(s->txn, &ts);
	proxy_stats(s->proxy, &ps);
	registrar_counts(s->reg, &aors, &bindings);
	log_events_stats(&es);
	log_cdr_stats(&cs);
	log_cdr_attempts(attempts);
	metrics_server_stats(s->metrics, &ms);

	/* SIP traffic */
	metrics_one(b, "bastion_sip_messages_received_total", METRICS_COUNTER,
		    "SIP messages received (before any check).", st.received);
	metrics_family(b, "bastion_sip_requests_total", METRICS_COUNTER,
		       "SIP requests parsed, by method and transport.");
	for (int m = 0; m < SERVER_METHODS; m++) {
		for (int t = 0; t < 3; t++) {
			const char *name = sip_method_name((enum sip_method)m);
			struct metrics_label l[2] = { { "method", slice_cstr(name ? name : "other") },
						      { "transport", slice_cstr(tp_names[t]) } };
			metrics_sample(b, "bastion_sip_requests_total", l, 2, st.requests[m][t]);
		}
	}
	metrics_family(b, "bastion_sip_responses_sent_total", METRICS_COUNTER,
		       "SIP responses this server sent, by status class.");
	for (int k = 1; k <= 6; k++) {
		snprintf(cls, sizeof(cls), "%dxx", k);
		labelled(b, "bastion_sip_responses_sent_total", "class", cls, st.answered[k]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(st.refused); i++)
		refused += st.refused[i];
	metrics_family(b, "bastion_sip_malformed_total", METRICS_COUNTER,
		       "Malformed messages: answered with an error, or dropped.");
	labelled(b, "bastion_sip_malformed_total", "action", "answered", refused);
	labelled(b, "bastion_sip_malformed_total", "action", "dropped", st.dropped_malformed);

	/* registrar */
	metrics_one(b, "bastion_registrar_bindings", METRICS_GAUGE, "Registered contact bindings.",
		    bindings);
	metrics_one(b, "bastion_registrar_bindings_limit", METRICS_GAUGE,
		    "The [registrar] max_bindings limit.", s->conf.max_bindings);
	metrics_one(b, "bastion_registrar_users_online", METRICS_GAUGE,
		    "Addresses of record with at least one binding.", aors);
	store_batches(s, b);

	/* calls */
	metrics_one(b, "bastion_calls_active", METRICS_GAUGE,
		    "Calls in progress: confirmed dialogs tracked.", ps.dialogs);
	metrics_one(b, "bastion_dialogs_limit", METRICS_GAUGE, "The [proxy] max_dialogs limit.",
		    s->conf.max_dialogs);
	metrics_one(b, "bastion_dialogs_refused_total", METRICS_COUNTER,
		    "Answered calls not tracked because the dialog table was full.",
		    ps.dialogs_refused);
	metrics_one(b, "bastion_dialogs_reserve_used_total", METRICS_COUNTER,
		    "Emergency calls' dialogs tracked beyond max_dialogs ([emergency] "
		    "reserved_dialogs).", ps.dialogs_reserve_used);
	metrics_one(b, "bastion_calls_proxied", METRICS_GAUGE,
		    "Requests being proxied now (INVITEs ringing included).", ps.calls);
	metrics_family(b, "bastion_call_attempts_total", METRICS_COUNTER,
		       "Call attempts ended, by the class of their final status.");
	for (int k = 1; k <= 6; k++) {
		snprintf(cls, sizeof(cls), "%dxx", k);
		labelled(b, "bastion_call_attempts_total", "result", cls, attempts[k]);
	}
	metrics_family(b, "bastion_transactions", METRICS_GAUGE,
		       "SIP transactions in progress, by kind.");
	labelled(b, "bastion_transactions", "kind", "server", ts.servers);
	labelled(b, "bastion_transactions", "kind", "client", ts.clients);
	metrics_one(b, "bastion_transactions_limit", METRICS_GAUGE,
		    "The [proxy] max_transactions limit (server and client together).",
		    s->conf.max_transactions);
	metrics_one(b, "bastion_transactions_full_total", METRICS_COUNTER,
		    "New requests answered 503 because the transaction table was full.", ts.full);

	/* authentication and security events */
	{
		struct ev_walk w = { b, true };

		metrics_family(b, "bastion_auth_failures_total", METRICS_COUNTER,
			       "Wrong or refused digest credentials (auth.failure events), by reason.");
		log_event_counts(on_event_count, &w);
		w.auth_only = false;
		metrics_family(b, "bastion_security_events_total", METRICS_COUNTER,
			       "Security events recorded, by kind (and reason for auth.* kinds).");
		log_event_counts(on_event_count, &w);
	}

	/* guard */
	metrics_family(b, "bastion_guard_dropped_total", METRICS_COUNTER,
		       "Messages the guard dropped before parsing or answering, by reason.");
	labelled(b, "bastion_guard_dropped_total", "reason", "banned", st.dropped_banned);
	labelled(b, "bastion_guard_dropped_total", "reason", "rate", st.dropped_rate);
	labelled(b, "bastion_guard_dropped_total", "reason", "scanner", st.dropped_scanner);
	metrics_one(b, "bastion_guard_bans_total", METRICS_COUNTER, "Bans started.", gs.bans);
	metrics_one(b, "bastion_guard_bans_active", METRICS_GAUGE, "Sources banned now.",
		    gs.bans_active);
	metrics_one(b, "bastion_guard_locks_total", METRICS_COUNTER, "User locks started.",
		    gs.locks);
	metrics_one(b, "bastion_guard_users_locked", METRICS_GAUGE, "Users locked now.",
		    gs.locks_active);
	metrics_one(b, "bastion_guard_sources", METRICS_GAUGE, "Source addresses tracked.",
		    gs.sources);
	metrics_one(b, "bastion_guard_sources_limit", METRICS_GAUGE, "The [guard] sources limit.",
		    s->conf.guard_sources);
	metrics_one(b, "bastion_overload_shed_total", METRICS_COUNTER,
		    "New requests answered 503 because the server was overloaded.", st.shed);

	/* connections and TLS */
	metrics_one(b, "bastion_connections_open", METRICS_GAUGE,
		    "TCP and TLS connections open.", ns.conn_open);
	metrics_one(b, "bastion_connections_limit", METRICS_GAUGE,
		    "The [tcp] max_connections limit.", s->conf.max_connections);
	metrics_family(b, "bastion_connections_closed_total", METRICS_COUNTER,
		       "Connections refused or closed by a limit, by reason.");
	labelled(b, "bastion_connections_closed_total", "reason", "max_connections",
		 ns.conn_refused);
	labelled(b, "bastion_connections_closed_total", "reason", "max_per_source",
		 ns.conn_refused_source);
	labelled(b, "bastion_connections_closed_total", "reason", "idle", ns.conn_idle_closed);
	labelled(b, "bastion_connections_closed_total", "reason", "header_timeout",
		 ns.conn_header_timeout);
	labelled(b, "bastion_connections_closed_total", "reason", "slow", ns.conn_slow_closed);
	labelled(b, "bastion_connections_closed_total", "reason", "framing", ns.conn_framing_error);
	/* peers (docs/trunks.md): a peer's name is from bastion.conf (letters,
	 * digits, - _ .), never from the network */
	{
		struct server_trunk_peer_stats p;

		metrics_family(b, "bastion_peer_up", METRICS_GAUGE,
			       "1 while a peer answers its OPTIONS pings (or is not pinged), 0 "
			       "when marked down.");
		for (size_t i = 0; server_trunk_peer_stats(s, i, &p); i++) {
			struct metrics_label l = { "peer", slice_cstr(p.name) };
			metrics_sample(b, "bastion_peer_up", &l, 1, p.up);
		}
		metrics_family(b, "bastion_peer_calls_total", METRICS_COUNTER,
			       "Calls sent to a peer (out: its route's first try) or taken from it "
			       "(in).");
		for (size_t i = 0; server_trunk_peer_stats(s, i, &p); i++) {
			struct metrics_label l[2] = { { "peer", slice_cstr(p.name) },
						      { "direction", SLICE_LIT("out") } };
			metrics_sample(b, "bastion_peer_calls_total", l, 2, p.calls_out);
			l[1].value = SLICE_LIT("in");
			metrics_sample(b, "bastion_peer_calls_total", l, 2, p.calls_in);
		}
		metrics_family(b, "bastion_peer_failed_calls_total", METRICS_COUNTER,
			       "Outside calls whose final answer through a peer was not a 2xx.");
		for (size_t i = 0; server_trunk_peer_stats(s, i, &p); i++) {
			struct metrics_label l = { "peer", slice_cstr(p.name) };
			metrics_sample(b, "bastion_peer_failed_calls_total", &l, 1, p.failed_out);
		}
	}
	metrics_family(b, "bastion_tls_handshakes_total", METRICS_COUNTER,
		       "TLS handshakes on accepted connections, by result.");
	labelled(b, "bastion_tls_handshakes_total", "result", "ok", ns.tls_handshakes);
	labelled(b, "bastion_tls_handshakes_total", "result", "failed", ns.tls_handshake_failed);
	labelled(b, "bastion_tls_handshakes_total", "result", "timeout", ns.tls_handshake_timeout);
	metrics_one(b, "bastion_tls_peer_refused_total", METRICS_COUNTER,
		    "Outbound TLS peers refused for their certificate.", ns.tls_peer_refused);

	/* the loop */
	metrics_histogram(b, "bastion_event_loop_lag_seconds",
			  "How late the event loop's periodic work ran against its due time.",
			  NET_LAG_BOUNDS_MS, NET_LAG_BUCKETS - 1, lag.bucket, lag.sum_ms, 1000.0);

	/* logs */
	metrics_family(b, "bastion_log_lines_total", METRICS_COUNTER,
		       "Lines written to the local logs, by log.");
	labelled(b, "bastion_log_lines_total", "log", "security", es.written);
	labelled(b, "bastion_log_lines_total", "log", "cdr", cs.written);
	metrics_family(b, "bastion_log_lost_total", METRICS_COUNTER,
		       "Lines lost (not built or not written), by log.");
	labelled(b, "bastion_log_lost_total", "log", "security", es.failed);
	labelled(b, "bastion_log_lost_total", "log", "cdr", cs.failed);

	/* a remote store (PostgreSQL): its connection and write queue */
	{
		struct store_backend_stats bs;

		if (store_backend_stats(s->store, &bs) == 0 && bs.queue_max > 0) {
			metrics_one(b, "bastion_store_connected", METRICS_GAUGE,
				    "1 while connected to the PostgreSQL store.", bs.connected);
			metrics_one(b, "bastion_store_queued_writes", METRICS_GAUGE,
				    "Writes waiting for the store.", bs.queued);
			metrics_one(b, "bastion_store_queued_on_disk", METRICS_GAUGE,
				    "Records in the on-disk write queue (STATE/store-queue.journal).",
				    bs.queued_on_disk);
			metrics_one(b, "bastion_store_queue_limit", METRICS_GAUGE,
				    "The [store] write_queue_max limit.", bs.queue_max);
			metrics_one(b, "bastion_store_writes_refused_total", METRICS_COUNTER,
				    "Writes refused: the queue was full (REGISTERs got 503).",
				    bs.writes_dropped);
		}
	}

	/* several nodes: this node's nonce epoch and the others' (nodes/) */
	if (s->epochs) {
		struct nodes_epochs_stats eps;

		nodes_epochs_stats(s->epochs, &eps);
		metrics_one(b, "bastion_nonce_epoch_leased", METRICS_GAUGE,
			    "1 while the store holds this node's lease on its nonce epoch.",
			    eps.leased);
		metrics_one(b, "bastion_nonce_epochs_held", METRICS_GAUGE,
			    "Other nodes' nonce epochs this node took over (their lease lapsed).",
			    eps.held);
		metrics_one(b, "bastion_nonce_epochs_known", METRICS_GAUGE,
			    "Other nonce epochs whose nonces get stale=true here.",
			    eps.known - eps.held);
		metrics_one(b, "bastion_nonce_epoch_changes_total", METRICS_COUNTER,
			    "New nonce epochs of this node after the first (a lease lapsed, the "
			    "nonce key changed).",
			    eps.rotations);
		metrics_one(b, "bastion_nonce_epoch_takeovers_total", METRICS_COUNTER,
			    "Nonce epochs of other nodes taken over.", eps.takeovers);
	}

	/* the remote log server */
	{
		struct log_remote_stats rs;

		log_remote_stats(&rs);
		metrics_one(b, "bastion_remote_log_connected", METRICS_GAUGE,
			    "1 while connected to the [log] remote log server.", rs.connected);
		metrics_one(b, "bastion_remote_log_sent_total", METRICS_COUNTER,
			    "Events written to the remote log server.", rs.sent);
		metrics_one(b, "bastion_remote_log_dropped_total", METRICS_COUNTER,
			    "Oldest queued events dropped because the remote log queue was full.",
			    rs.dropped);
		metrics_one(b, "bastion_remote_log_queue_bytes", METRICS_GAUGE,
			    "Bytes queued on disk for the remote log server.", rs.queue_bytes);
		metrics_one(b, "bastion_remote_log_queue_limit_bytes", METRICS_GAUGE,
			    "The [log] remote_queue_size limit in bytes.",
			    (uint64_t)s->conf.remote_queue_size * 1024u);
		metrics_family(b, "bastion_remote_log_connect_failures_total", METRICS_COUNTER,
			       "Connections to the remote log server that failed, by reason.");
		labelled(b, "bastion_remote_log_connect_failures_total", "reason", "connect",
			 rs.connect_failures);
		labelled(b, "bastion_remote_log_connect_failures_total", "reason", "certificate",
			 rs.refused_cert);
		labelled(b, "bastion_remote_log_connect_failures_total", "reason", "server_sent_data",
			 rs.garbage);
	}

	/* this listener */
	metrics_one(b, "bastion_metrics_requests_total", METRICS_COUNTER,
		    "HTTP requests answered by the metrics listener (this one included).",
		    ms.requests);
	metrics_one(b, "bastion_metrics_refused_total", METRICS_COUNTER,
		    "Metrics connections closed at once over [metrics] max_connections.",
		    ms.refused);
	metrics_one(b, "bastion_metrics_timeouts_total", METRICS_COUNTER,
		    "Metrics connections cut off by [metrics] timeout.", ms.timeouts);
	metrics_one(b, "bastion_metrics_tls_failed_total", METRICS_COUNTER,
		    "Metrics HTTPS handshakes that failed (no or a bad client certificate).",
		    ms.tls_failed);
}

static void metrics_conf_of(const struct conf *c, struct metrics_conf *mc)
{
	*mc = (struct metrics_conf){ 0 }; /* plain HTTP unless the caller sets the files */
	mc->addr = c->metrics_addr;
	mc->max_request = c->metrics_max_request;
	mc->timeout_ms = c->metrics_timeout * 1000u;
	mc->max_connections = c->metrics_max_connections;
	mc->max_response = 4u << 20;
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
	metrics_conf_of(c, &mc);
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

	if (strcmp(c->metrics_listen, s->conf.metrics_listen) != 0)
		log_warn("reload: [metrics] listen changed; the new listener needs a restart");
	if (!s->metrics)
		return;
	metrics_conf_of(c, &mc);
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
