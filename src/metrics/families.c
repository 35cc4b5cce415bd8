/*
 * families: the metric families Bastion exposes (docs/monitoring.md), their
 * names, labels, help texts and order, rendered from a struct
 * metrics_snapshot that the server gathers (metrics.h). Reads only the
 * snapshot: no other layer is called, so a unit test hands in numbers and
 * compares the text.
 */
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const tp_names[METRICS_TRANSPORTS] = { "udp", "tcp", "tls" };

static void labelled(struct metrics_buf *b, const char *name, const char *label,
		     const char *value, uint64_t n)
{
	struct metrics_label l = { label, slice_cstr(value) };

	metrics_sample(b, name, &l, 1, n);
}

/* A family labelled by status class, 1xx .. 6xx from v[1..6]. */
static void by_class(struct metrics_buf *b, const char *name, const char *help,
		     const char *label, const uint64_t v[7])
{
	char cls[8];

	metrics_family(b, name, METRICS_COUNTER, help);
	for (int k = 1; k <= 6; k++) {
		snprintf(cls, sizeof(cls), "%dxx", k);
		labelled(b, name, label, cls, v[k]);
	}
}

static void sip(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	metrics_one(b, "bastion_sip_messages_received_total", METRICS_COUNTER,
		    "SIP messages received (before any check).", s->sip.received);
	metrics_family(b, "bastion_sip_requests_total", METRICS_COUNTER,
		       "SIP requests parsed, by method and transport.");
	for (int m = 0; m < METRICS_SIP_METHODS; m++) {
		for (int t = 0; t < METRICS_TRANSPORTS; t++) {
			const char *name = sip_method_name((enum sip_method)m);
			struct metrics_label l[2] = { { "method", slice_cstr(name ? name : "other") },
						      { "transport", slice_cstr(tp_names[t]) } };
			metrics_sample(b, "bastion_sip_requests_total", l, 2, s->sip.requests[m][t]);
		}
	}
	by_class(b, "bastion_sip_responses_sent_total",
		 "SIP responses this server sent, by status class.", "class", s->sip.answered);
	metrics_family(b, "bastion_sip_malformed_total", METRICS_COUNTER,
		       "Malformed messages: answered with an error, or dropped.");
	labelled(b, "bastion_sip_malformed_total", "action", "answered", s->sip.malformed_answered);
	labelled(b, "bastion_sip_malformed_total", "action", "dropped", s->sip.malformed_dropped);
}

/* The registrar, and the group commit's batches (docs/registrar.md,
 * Durability): what they held and why each was committed, so an operator
 * can see whether answers wait for batch_wait or batches fill to batch_max. */
static void registrar(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	static const char *const kinds[2] = { "registrations", "calls" };
	static const char *const whys[METRICS_BATCH_WHYS] = { "waited", "full", "tick" };

	metrics_one(b, "bastion_registrar_bindings", METRICS_GAUGE, "Registered contact bindings.",
		    s->registrar.bindings);
	metrics_one(b, "bastion_registrar_bindings_limit", METRICS_GAUGE,
		    "The [registrar] max_bindings limit.", s->registrar.bindings_limit);
	metrics_one(b, "bastion_registrar_users_online", METRICS_GAUGE,
		    "Addresses of record with at least one binding.", s->registrar.aors);
	metrics_family(b, "bastion_store_batches_total", METRICS_COUNTER,
		       "Store batches committed, by what they held (registrations; calls: "
		       "dialogs and call records) and why: the oldest change waited "
		       "batch_wait, batch_max changes waited, or the tick.");
	for (size_t k = 0; k < 2; k++)
		for (size_t w = 0; w < METRICS_BATCH_WHYS; w++) {
			struct metrics_label l[2] = { { "kind", slice_cstr(kinds[k]) },
						      { "why", slice_cstr(whys[w]) } };
			metrics_sample(b, "bastion_store_batches_total", l, 2,
				       s->registrar.batches[k][w]);
		}
}

static void calls(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	metrics_one(b, "bastion_calls_active", METRICS_GAUGE,
		    "Calls in progress: confirmed dialogs tracked.", s->calls.dialogs);
	metrics_one(b, "bastion_dialogs_limit", METRICS_GAUGE, "The [proxy] max_dialogs limit.",
		    s->calls.dialogs_limit);
	metrics_one(b, "bastion_dialogs_refused_total", METRICS_COUNTER,
		    "Answered calls not tracked because the dialog table was full.",
		    s->calls.dialogs_refused);
	metrics_one(b, "bastion_dialogs_reserve_used_total", METRICS_COUNTER,
		    "Emergency calls' dialogs tracked beyond max_dialogs ([emergency] "
		    "reserved_dialogs).", s->calls.dialogs_reserve_used);
	metrics_one(b, "bastion_calls_proxied", METRICS_GAUGE,
		    "Requests being proxied now (INVITEs ringing included).", s->calls.proxied);
	by_class(b, "bastion_call_attempts_total",
		 "Call attempts ended, by the class of their final status.", "result",
		 s->calls.attempts);
	metrics_family(b, "bastion_transactions", METRICS_GAUGE,
		       "SIP transactions in progress, by kind.");
	labelled(b, "bastion_transactions", "kind", "server", s->txn.servers);
	labelled(b, "bastion_transactions", "kind", "client", s->txn.clients);
	metrics_one(b, "bastion_transactions_limit", METRICS_GAUGE,
		    "The [proxy] max_transactions limit (server and client together).",
		    s->txn_limit);
	metrics_one(b, "bastion_transactions_full_total", METRICS_COUNTER,
		    "New requests answered 503 because the transaction table was full.",
		    s->txn.full);
}

/* Authentication failures (the auth.failure events by reason), then every
 * security event by kind and reason. */
static void events(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	metrics_family(b, "bastion_auth_failures_total", METRICS_COUNTER,
		       "Wrong or refused digest credentials (auth.failure events), by reason.");
	for (size_t i = 0; i < s->nevents; i++)
		if (strcmp(s->events[i].kind, "auth.failure") == 0)
			labelled(b, "bastion_auth_failures_total", "reason", s->events[i].reason,
				 s->events[i].n);
	metrics_family(b, "bastion_security_events_total", METRICS_COUNTER,
		       "Security events recorded, by kind (and reason for auth.* kinds).");
	for (size_t i = 0; i < s->nevents; i++) {
		struct metrics_label l[2] = { { "kind", slice_cstr(s->events[i].kind) },
					      { "reason", slice_cstr(s->events[i].reason) } };
		metrics_sample(b, "bastion_security_events_total", l, 2, s->events[i].n);
	}
}

static void guard(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	metrics_family(b, "bastion_guard_dropped_total", METRICS_COUNTER,
		       "Messages the guard dropped before parsing or answering, by reason.");
	labelled(b, "bastion_guard_dropped_total", "reason", "banned", s->guard.dropped_banned);
	labelled(b, "bastion_guard_dropped_total", "reason", "rate", s->guard.dropped_rate);
	labelled(b, "bastion_guard_dropped_total", "reason", "scanner", s->guard.dropped_scanner);
	metrics_one(b, "bastion_guard_bans_total", METRICS_COUNTER, "Bans started.", s->guard.bans);
	metrics_one(b, "bastion_guard_bans_active", METRICS_GAUGE, "Sources banned now.",
		    s->guard.bans_active);
	metrics_one(b, "bastion_guard_locks_total", METRICS_COUNTER, "User locks started.",
		    s->guard.locks);
	metrics_one(b, "bastion_guard_users_locked", METRICS_GAUGE, "Users locked now.",
		    s->guard.locks_active);
	metrics_one(b, "bastion_guard_sources", METRICS_GAUGE, "Source addresses tracked.",
		    s->guard.sources);
	metrics_one(b, "bastion_guard_sources_limit", METRICS_GAUGE, "The [guard] sources limit.",
		    s->guard.sources_limit);
	metrics_one(b, "bastion_overload_shed_total", METRICS_COUNTER,
		    "New requests answered 503 because the server was overloaded.", s->guard.shed);
}

static void connections(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	const struct net_stats *n = &s->net;

	metrics_one(b, "bastion_connections_open", METRICS_GAUGE,
		    "TCP and TLS connections open.", n->conn_open);
	metrics_one(b, "bastion_connections_limit", METRICS_GAUGE,
		    "The [tcp] max_connections limit.", s->connections_limit);
	metrics_family(b, "bastion_connections_closed_total", METRICS_COUNTER,
		       "Connections refused or closed by a limit, by reason.");
	labelled(b, "bastion_connections_closed_total", "reason", "max_connections",
		 n->conn_refused);
	labelled(b, "bastion_connections_closed_total", "reason", "max_per_source",
		 n->conn_refused_source);
	labelled(b, "bastion_connections_closed_total", "reason", "idle", n->conn_idle_closed);
	labelled(b, "bastion_connections_closed_total", "reason", "header_timeout",
		 n->conn_header_timeout);
	labelled(b, "bastion_connections_closed_total", "reason", "slow", n->conn_slow_closed);
	labelled(b, "bastion_connections_closed_total", "reason", "framing", n->conn_framing_error);
}

/* Peers (docs/trunks.md): a peer's name is from bastion.conf (letters,
 * digits, - _ .), never from the network. */
static void peers(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	metrics_family(b, "bastion_peer_up", METRICS_GAUGE,
		       "1 while a peer answers its OPTIONS pings (or is not pinged), 0 "
		       "when marked down.");
	for (size_t i = 0; i < s->npeers; i++)
		labelled(b, "bastion_peer_up", "peer", s->peers[i].name, s->peers[i].up);
	metrics_family(b, "bastion_peer_calls_total", METRICS_COUNTER,
		       "Calls sent to a peer (out: its route's first try) or taken from it "
		       "(in).");
	for (size_t i = 0; i < s->npeers; i++) {
		struct metrics_label l[2] = { { "peer", slice_cstr(s->peers[i].name) },
					      { "direction", SLICE_LIT("out") } };
		metrics_sample(b, "bastion_peer_calls_total", l, 2, s->peers[i].calls_out);
		l[1].value = SLICE_LIT("in");
		metrics_sample(b, "bastion_peer_calls_total", l, 2, s->peers[i].calls_in);
	}
	metrics_family(b, "bastion_peer_failed_calls_total", METRICS_COUNTER,
		       "Outside calls whose final answer through a peer was not a 2xx.");
	for (size_t i = 0; i < s->npeers; i++)
		labelled(b, "bastion_peer_failed_calls_total", "peer", s->peers[i].name,
			 s->peers[i].failed_out);
}

/* TLS, the loop's lag and the local logs. */
static void tls_loop_logs(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	metrics_family(b, "bastion_tls_handshakes_total", METRICS_COUNTER,
		       "TLS handshakes on accepted connections, by result.");
	labelled(b, "bastion_tls_handshakes_total", "result", "ok", s->net.tls_handshakes);
	labelled(b, "bastion_tls_handshakes_total", "result", "failed", s->net.tls_handshake_failed);
	labelled(b, "bastion_tls_handshakes_total", "result", "timeout",
		 s->net.tls_handshake_timeout);
	metrics_one(b, "bastion_tls_peer_refused_total", METRICS_COUNTER,
		    "Outbound TLS peers refused for their certificate.", s->net.tls_peer_refused);

	metrics_histogram(b, "bastion_event_loop_lag_seconds",
			  "How late the event loop's periodic work ran against its due time.",
			  NET_LAG_BOUNDS_MS, NET_LAG_BUCKETS - 1, s->lag.bucket, s->lag.sum_ms,
			  1000.0);

	metrics_family(b, "bastion_log_lines_total", METRICS_COUNTER,
		       "Lines written to the local logs, by log.");
	labelled(b, "bastion_log_lines_total", "log", "security", s->events_log.written);
	labelled(b, "bastion_log_lines_total", "log", "cdr", s->cdr_log.written);
	metrics_family(b, "bastion_log_lost_total", METRICS_COUNTER,
		       "Lines lost (not built or not written), by log.");
	labelled(b, "bastion_log_lost_total", "log", "security", s->events_log.failed);
	labelled(b, "bastion_log_lost_total", "log", "cdr", s->cdr_log.failed);
}

/* A remote store (PostgreSQL): its connection and write queue; several
 * nodes: this node's nonce epoch and the others' (nodes/). */
static void store_and_nodes(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	if (s->store_remote) {
		metrics_one(b, "bastion_store_connected", METRICS_GAUGE,
			    "1 while connected to the PostgreSQL store.", s->store.connected);
		metrics_one(b, "bastion_store_queued_writes", METRICS_GAUGE,
			    "Writes waiting for the store.", s->store.queued);
		metrics_one(b, "bastion_store_queued_on_disk", METRICS_GAUGE,
			    "Records in the on-disk write queue (STATE/store-queue.journal).",
			    s->store.queued_on_disk);
		metrics_one(b, "bastion_store_queue_limit", METRICS_GAUGE,
			    "The [store] write_queue_max limit.", s->store.queue_max);
		metrics_one(b, "bastion_store_writes_refused_total", METRICS_COUNTER,
			    "Writes refused: the queue was full (REGISTERs got 503).",
			    s->store.writes_dropped);
	}
	if (s->nodes) {
		metrics_one(b, "bastion_nonce_epoch_leased", METRICS_GAUGE,
			    "1 while the store holds this node's lease on its nonce epoch.",
			    s->epochs.leased);
		metrics_one(b, "bastion_nonce_epochs_held", METRICS_GAUGE,
			    "Other nodes' nonce epochs this node took over (their lease lapsed).",
			    s->epochs.held);
		metrics_one(b, "bastion_nonce_epochs_known", METRICS_GAUGE,
			    "Other nonce epochs whose nonces get stale=true here.",
			    s->epochs.known - s->epochs.held);
		metrics_one(b, "bastion_nonce_epoch_changes_total", METRICS_COUNTER,
			    "New nonce epochs of this node after the first (a lease lapsed, the "
			    "nonce key changed).",
			    s->epochs.rotations);
		metrics_one(b, "bastion_nonce_epoch_takeovers_total", METRICS_COUNTER,
			    "Nonce epochs of other nodes taken over.", s->epochs.takeovers);
	}
}

/* The remote log server, then this listener. */
static void remote_log_and_listener(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	const struct log_remote_stats *r = &s->remote_log;

	metrics_one(b, "bastion_remote_log_connected", METRICS_GAUGE,
		    "1 while connected to the [log] remote log server.", r->connected);
	metrics_one(b, "bastion_remote_log_sent_total", METRICS_COUNTER,
		    "Events written to the remote log server.", r->sent);
	metrics_one(b, "bastion_remote_log_dropped_total", METRICS_COUNTER,
		    "Oldest queued events dropped because the remote log queue was full.",
		    r->dropped);
	metrics_one(b, "bastion_remote_log_queue_bytes", METRICS_GAUGE,
		    "Bytes queued on disk for the remote log server.", r->queue_bytes);
	metrics_one(b, "bastion_remote_log_queue_limit_bytes", METRICS_GAUGE,
		    "The [log] remote_queue_size limit in bytes.", s->remote_log_limit);
	metrics_family(b, "bastion_remote_log_connect_failures_total", METRICS_COUNTER,
		       "Connections to the remote log server that failed, by reason.");
	labelled(b, "bastion_remote_log_connect_failures_total", "reason", "connect",
		 r->connect_failures);
	labelled(b, "bastion_remote_log_connect_failures_total", "reason", "certificate",
		 r->refused_cert);
	labelled(b, "bastion_remote_log_connect_failures_total", "reason", "server_sent_data",
		 r->garbage);

	metrics_one(b, "bastion_metrics_requests_total", METRICS_COUNTER,
		    "HTTP requests answered by the metrics listener (this one included).",
		    s->listener.requests);
	metrics_one(b, "bastion_metrics_refused_total", METRICS_COUNTER,
		    "Metrics connections closed at once over [metrics] max_connections.",
		    s->listener.refused);
	metrics_one(b, "bastion_metrics_timeouts_total", METRICS_COUNTER,
		    "Metrics connections cut off by [metrics] timeout.", s->listener.timeouts);
	metrics_one(b, "bastion_metrics_tls_failed_total", METRICS_COUNTER,
		    "Metrics HTTPS handshakes that failed (no or a bad client certificate).",
		    s->listener.tls_failed);
}

int metrics_render(struct metrics_buf *b, const struct metrics_snapshot *s)
{
	sip(b, s);
	registrar(b, s);
	calls(b, s);
	events(b, s);
	guard(b, s);
	connections(b, s);
	peers(b, s);
	tls_loop_logs(b, s);
	store_and_nodes(b, s);
	remote_log_and_listener(b, s);
	return b->overflow ? EOVERFLOW : 0;
}
