/*
 * server: receive, parse, decide, answer, count. See server.h.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

static uint64_t now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* ---- replies -------------------------------------------------------------- */

uint64_t server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Build the response to m into s->out (proxy_build_answer); its length, or
 * 0 when it could not be built (logged). *tag gets the To tag it carries. */
static size_t build_answer(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			   uint16_t status, const char *reason, struct slice more,
			   struct proxy_answer_tag *tag)
{
	const struct proxy_answer a = { status, reason, more, &x->in->src, &s->tag_key,
					s->conf.server_header[0] ? s->conf.server_header : NULL };
	struct sip_buf out;
	int rc;

	sip_buf_init(&out, s->out, SERVER_OUT_CAP);
	if ((rc = proxy_build_answer(&out, tag, m, &a)) == 0)
		return out.len;
	if (rc == EMSGSIZE)
		log_warn("response %u: extra headers over %d bytes; not sent", status,
			 PROXY_ANSWER_EXTRA_MAX);
	else
		log_warn("response %u did not fit in %d bytes; not sent", status, SERVER_OUT_CAP);
	return 0;
}

void server_answer(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		   uint16_t status, const char *reason, struct slice more)
{
	struct net_addr dst;
	struct proxy_answer_tag tag;
	size_t len = build_answer(s, x, m, status, reason, more, &tag);
	int rc;

	if (len == 0)
		return;
	if (x->st) {
		rc = txn_server_respond_tag(x->st, status, s->out, len, tag.to_tag, server_now_ms());
	} else {
		net_reply_addr(&dst, &x->in->src, &m->via);
		rc = net_send(s->net, x->in, &dst, s->out, len);
	}
	if (rc == 0)
		s->stats.answered[status / 100 <= 6 ? status / 100 : 0]++;
}

/* ---- answers and events held for their commit (group commit) ---------------- */

/* Record an event packed by server_event_durable (log_event_pack). */
static void ev_note_record(const void *note, size_t note_len)
{
	struct log_event e;
	struct net_addr src;

	if (log_event_unpack(&e, &src, note, note_len))
		log_event(&e);
}

void server_event_durable(struct server *s, uint64_t seq, const char *kind,
			  const struct net_msg *in, const struct sip_msg *m, struct slice user,
			  struct slice aor, const char *reason, int status)
{
	const struct sip_hdr *ua = sip_msg_hdr(m, SIP_H_USER_AGENT);
	const struct log_event e = {
		.kind = kind, .src = &in->src, .tp = in->tp, .has_src = true,
		.user = user, .aor = aor,
		.call_id = (m->have & SIP_HAVE_CALL_ID) ? m->call_id : SLICE_NULL,
		.user_agent = ua ? ua->value : SLICE_NULL, .reason = reason, .status = status,
	};

	if (seq == 0 || registrar_is_durable(s->reg, seq)) {
		server_event(s, kind, in, m, user, aor, reason, status);
		return;
	}
	s->ev_note_len = log_event_pack(s->ev_note, &e);
}

void server_answer_durable(struct server *s, const struct server_ctx *x,
			   const struct sip_msg *m, uint16_t status, const char *reason,
			   struct slice more, uint64_t seq)
{
	struct net_addr dst;
	size_t len, note_len = s->ev_note_len;
	int rc = EINVAL;

	s->ev_note_len = 0;
	if (seq == 0 || x->st) {
		if (note_len)
			ev_note_record(s->ev_note, note_len);
		server_answer(s, x, m, status, reason, more);
		return;
	}
	struct proxy_answer_tag tag;

	if ((len = build_answer(s, x, m, status, reason, more, &tag)) != 0) {
		net_reply_addr(&dst, &x->in->src, &m->via);
		rc = registrar_hold(s->reg, seq, status, x->in, &dst, s->out, len, s->ev_note,
				    note_len);
	}
	if (rc == 0)
		return;
	/* Not held: the phone hears nothing and retries; the change itself is
	 * queued and will be stored, so its event is recorded now. */
	if (note_len)
		ev_note_record(s->ev_note, note_len);
	if (log_limit_allow(&s->refusal_log, now_seconds()))
		log_warn("a %u answer waiting for its commit was not kept: %s", status,
			 strerror(rc));
}

/* The registrar's note function: the event of a change about to be
 * committed. */
static void note_held(void *arg, const void *note, size_t note_len)
{
	(void)arg;
	ev_note_record(note, note_len);
}

/* The registrar's sender: an answer whose change is durable (with its event
 * when that was not recorded before the commit). */
static void send_held(void *arg, uint16_t status, const struct net_msg *way,
		      const struct net_addr *dst, const char *buf, size_t len, const void *note,
		      size_t note_len)
{
	struct server *s = arg;

	if (note_len)
		ev_note_record(note, note_len);
	if (s->net && net_send(s->net, way, dst, buf, len) == 0)
		s->stats.answered[status / 100 <= 6 ? status / 100 : 0]++;
}

static void log_refusal(struct server *s, const struct net_msg *in, const char *what,
			const struct sip_msg *m)
{
	char from[80], callid[80];

	if (!log_limit_allow(&s->refusal_log, now_seconds()))
		return;
	net_addr_fmt(from, sizeof(from), in->tp, &in->src);
	slice_repr(callid, sizeof(callid), (m->have & SIP_HAVE_CALL_ID) ? m->call_id : SLICE_NULL,
		   40);
	log_info("%s from %s (%s, offset %zu, call-id \"%s\")", what, from,
		 m->err ? sip_err_name(m->err) : "-", m->err_offset, callid);
}

/* A message that failed to parse, or exceeded a limit before parsing: answer
 * it when it is a request we can route a response for, else drop it. */
static void refuse(struct server *s, const struct net_msg *in, const struct sip_msg *m,
		   enum sip_err err)
{
	struct server_ctx x = { in, NULL };
	const char *reason;
	uint16_t status;

	if (!sip_refusal(m, err, &status, &reason)) {
		s->stats.dropped_malformed++;
		log_refusal(s, in, "dropped malformed message", m);
		return;
	}
	s->stats.refused[err]++;
	log_refusal(s, in, "refused malformed request", m);
	server_answer(s, &x, m, status, reason, SLICE_NULL);
}

/* Decide and hand a new request on: to the registrar, to the proxy (which
 * needs the transaction and its peer: `from` is NULL only for REGISTER,
 * answered without one), or answer it here. */
static void dispatch(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
		     const struct txn_peer *from)
{
	struct policy_route v;
	struct policy_verdict pv;

	policy_route(&v, m);
	policy_transport(&pv, m, x->in->tp == NET_TLS, s->conf.signaling == CONF_SIGNALING_TLS);
	if (!pv.allow) {
		server_event(s, pv.event, x->in, m, SLICE_NULL, m->ruri_raw, pv.detail, pv.status);
		server_answer(s, x, m, pv.status, pv.reason, SLICE_NULL);
		return;
	}
	if (v.registrar)
		server_register(s, x, m);
	else if (v.proxy && x->st && from)
		server_call_request(s, x->st, m, from);
	else if (v.status)
		server_answer(s, x, m, v.status, v.reason, SLICE_NULL);
	else
		s->stats.dropped_ack++;
}

/* The transaction layer's view of where a message came from: the way it
 * came, and the address a response goes to (net_reply_addr). */
static void peer_of(struct txn_peer *p, const struct net_msg *in, const struct sip_msg *m)
{
	p->via = *in;
	p->via.buf = NULL;
	p->via.len = 0;
	if (m->request && (m->have & SIP_HAVE_VIA))
		net_reply_addr(&p->dst, &in->src, &m->via);
	else
		p->dst = in->src;
}

static void on_message(void *arg, const struct net_msg *in)
{
	struct server *s = arg;
	struct sip_msg m;
	struct txn_peer from;
	struct server_ctx x = { in, NULL };
	enum txn_recv tr;
	bool shed, emerg;
	int rc;

	s->stats.received++;
	if (!server_guard_admit(s, in, server_now_ms()))
		return;
	rc = sip_msg_parse(&m, s->hdrs, s->hdr_cap, in->buf, in->len, in->tp != NET_UDP,
			   &s->conf.lim);
	if (in->truncated) {
		refuse(s, in, &m, SIP_E_MESSAGE_TOO_LARGE);
		return;
	}
	if (rc != 0) {
		refuse(s, in, &m, m.err);
		return;
	}
	if (m.request)
		s->stats.requests[m.mid][in->tp]++;
	if (m.request && server_guard_scanner(s, in, &m))
		return;
	/* Overload: this request waited in the socket's queue too long, so
	 * the server is behind. New work is turned away with a stateless 503;
	 * what is in progress (retransmissions, ACK, CANCEL, in-dialog
	 * requests, responses) and allow-listed peers are still served. */
	shed = s->conf.overload_delay && in->queued_ms > s->conf.overload_delay && m.request &&
	       !m.to.has_tag && !guard_allowed(s->guard, &in->src);
	/* an emergency call is never shed, and may use the reserved
	 * transactions (docs/emergency.md) */
	emerg = server_emerg_is(s, &m, in);
	shed &= !emerg;
	/* stopping: no new calls or registrations (RFC 3261 21.5.4: 503 with
	 * Retry-After, so a phone tries again or another node) */
	if (s->draining && m.request && !m.to.has_tag && m.mid != SIP_M_ACK &&
	    m.mid != SIP_M_CANCEL) {
		s->stats.shed++;
		server_answer(s, &x, &m, 503, "Shutting Down", SLICE_LIT("Retry-After: 30\r\n"));
		return;
	}
	if (shed && m.mid == SIP_M_REGISTER) {
		s->stats.shed++;
		server_answer(s, &x, &m, 503, "Service Unavailable", SLICE_LIT("Retry-After: 5\r\n"));
		return;
	}
	/* REGISTER is answered without a transaction, as a registrar that must
	 * take thousands a second can afford: a retransmission is challenged
	 * again (the nonce-count check refuses a replayed credential), which
	 * costs a lost-200 phone one more round trip, instead of 32 s of
	 * transaction state per REGISTER (timer J). */
	if (m.request && m.mid == SIP_M_REGISTER) {
		dispatch(s, &x, &m, NULL);
		return;
	}
	peer_of(&from, in, &m);
	txn_layer_shed(s->txn, shed);
	txn_layer_priority(s->txn, emerg);
	tr = txn_receive(s->txn, &m, &from, server_now_ms());
	txn_layer_priority(s->txn, false);
	switch (tr) {
	case TXN_NEW: /* on_txn_request has run */
		return;
	case TXN_ABSORBED:
		/* An ACK that completed one of our INVITE transactions is part of
		 * admitted work; a retransmission is not refunded: it makes us
		 * send our answer again. */
		if (m.mid == SIP_M_ACK)
			server_guard_refund(s, &in->src);
		return;
	case TXN_RESPONSE: /* to a request we forwarded: part of admitted work */
		server_guard_refund(s, &in->src);
		return;
	case TXN_ACK_2XX:
		if (!proxy_ack(s->proxy, &m, in))
			s->stats.dropped_ack++;
		return;
	case TXN_STRAY_RESPONSE:
		if (!(m.status >= 200 && m.status < 300 && m.cseq.mid == SIP_M_INVITE &&
		      proxy_stray_2xx(s->proxy, &m)))
			s->stats.dropped_responses++;
		return;
	case TXN_CANCEL_UNMATCHED:
		server_answer(s, &x, &m, 481, "Call/Transaction Does Not Exist", SLICE_NULL);
		return;
	case TXN_SHED:
		s->stats.shed++;
		/* fall through */
	case TXN_FULL:
		server_answer(s, &x, &m, 503, "Service Unavailable", SLICE_LIT("Retry-After: 5\r\n"));
		return;
	}
}

/* ---- the transaction layer's callbacks --------------------------------------------- */

static int on_txn_send(void *arg, const struct txn_peer *to, const char *buf, size_t len)
{
	struct server *s = arg;

	return net_send(s->net, &to->via, &to->dst, buf, len);
}

/* A new request (never a retransmission): decide and dispatch. */
static void on_txn_request(void *arg, struct txn_server *st, const struct sip_msg *m,
			   const struct txn_peer *from)
{
	struct server_ctx x = { &from->via, st };

	dispatch(arg, &x, m, from);
}

static void on_txn_cancel(void *arg, struct txn_server *st)
{
	proxy_cancel(((struct server *)arg)->proxy, st);
}

static void on_txn_response(void *arg, struct txn_client *ct, const struct sip_msg *m)
{
	struct server *s = arg;

	if (server_trunk_response(s, ct, m)) /* a peer's OPTIONS ping, else a call's */
		return;
	/* an emergency call's failover to its next peer may use the reserve */
	txn_layer_priority(s->txn, server_emerg_active(s));
	proxy_response(s->proxy, ct, m);
	txn_layer_priority(s->txn, false);
}

static void on_txn_timeout(void *arg, struct txn_client *ct)
{
	struct server *s = arg;

	if (server_trunk_timeout(s, ct))
		return;
	txn_layer_priority(s->txn, server_emerg_active(s));
	proxy_timeout(s->proxy, ct);
	txn_layer_priority(s->txn, false);
}

static void on_txn_terminated(void *arg, struct txn_server *st, struct txn_client *ct)
{
	if (!st && server_trunk_terminated(arg, ct))
		return;
	proxy_terminated(((struct server *)arg)->proxy, st, ct);
}

static const struct txn_ops txn_ops = {
	.send = on_txn_send,
	.request = on_txn_request,
	.cancel = on_txn_cancel,
	.response = on_txn_response,
	.timeout = on_txn_timeout,
	.terminated = on_txn_terminated,
};

/* A stream that cannot be framed: answer when the header section is readable
 * (e.g. 400 for a missing Content-Length), then net/ closes the connection. */
static void on_stream_error(void *arg, const struct net_msg *in, enum sip_err err)
{
	struct server *s = arg;
	struct sip_msg m;

	s->stats.received++;
	(void)sip_msg_parse(&m, s->hdrs, s->hdr_cap, in->buf, in->len, false, &s->conf.lim);
	refuse(s, in, &m, err);
}

/* ---- life cycle ------------------------------------------------------------- */

static int alloc_buffers(struct server *s, uint32_t max_headers)
{
	struct sip_hdr *h = calloc(max_headers, sizeof(*h));

	if (!h)
		return ENOMEM;
	free(s->hdrs);
	s->hdrs = h;
	s->hdr_cap = max_headers;
	return 0;
}

/* Hand c to every layer built so far (each reads its own settings:
 * LAYER_conf_from). */
static void apply_conf(struct server *s, const struct conf *c)
{
	s->conf = *c;
	log_set_level((enum log_level)c->log_level);
	s->refusal_log.per_sec = c->refusal_log_rate;
	snprintf(s->realm, sizeof(s->realm), "%s", conf_realm(c));
	nodes_epochs_set_lifetime(s->epochs, c->nonce_lifetime);
	if (s->site) {
		struct auth_site_conf ac;
		auth_site_conf_from(&ac, c, s->own_slices, s->n_own);
		auth_site_set_conf(s->site, &ac);
	}
	if (s->reg) {
		struct registrar_conf rc;
		registrar_conf_from(&rc, c);
		registrar_set_conf(s->reg, &rc);
	}
	if (s->store && store_set_durability(s->store, store_durability_from(c)) != 0)
		log_error("store durability not changed: %s", store_errmsg(s->store));
	if (s->proxy) {
		struct proxy_conf pc;
		proxy_conf_from(&pc, c);
		proxy_set_conf(s->proxy, &pc);
	}
}

/* The addresses this server listens on, as host and host:port. */
static void own_addresses(struct server *s)
{
	s->n_own = 0;
	for (size_t i = 0; i < s->conf.nlisteners; i++) {
		const struct net_addr *a = &s->conf.listeners[i].addr;
		char h[INET6_ADDRSTRLEN], *hp = s->own_hostport[s->n_own];
		bool dup = false;

		net_addr_host(a, h, sizeof(h));
		memcpy(s->own_host[s->n_own], h, sizeof(h));
		if (a->ss.ss_family == AF_INET6)
			snprintf(hp, INET6_ADDRSTRLEN + 8, "[%s]:%u", h, net_addr_port(a));
		else
			snprintf(hp, INET6_ADDRSTRLEN + 8, "%s:%u", h, net_addr_port(a));
		for (size_t k = 0; k < s->n_own; k++)
			dup |= strcmp(s->own_hostport[k], hp) == 0;
		if (dup)
			continue;
		s->own_slices[s->n_own] = slice_cstr(hp);
		s->own_host_slices[s->n_own] = slice_cstr(s->own_host[s->n_own]);
		s->n_own++;
	}
}

/* Is the graceful stop over: nothing in progress, or the grace spent? A
 * transaction that has its final response only absorbs retransmissions
 * (an INVITE client's does for 32 s after the 2xx, RFC 6026): it is not in
 * progress, and does not hold the stop for its timer. */
static bool drained(struct server *s, uint64_t now_ms)
{
	struct txn_stats ts;

	txn_layer_stats(s->txn, &ts);
	return ts.servers + ts.clients == ts.settled || now_ms >= s->drain_until_ms;
}

/* The binding changes waiting, in one transaction; then the answers that
 * waited for it. */
static void flush_registrations(struct server *s, enum server_batch_why why)
{
	struct registrar_stats before, after;
	int rc;

	s->batch_since_ms = 0;
	registrar_stats(s->reg, &before);
	if ((rc = registrar_flush(s->reg)) != 0 && rc != EBUSY)
		log_warn("registrations not all stored (their REGISTERs are not answered): %s",
			 strerror(rc));
	registrar_stats(s->reg, &after);
	s->batches[0][why] += after.batches - before.batches;
}

/* Group commit after a round of events, for the registrar's batch and for
 * calls' (dialogs and call records, call.c): a batch is committed once its
 * oldest change has waited batch_wait ms, or at once when it reaches
 * batch_max (registrar_register, call.c's cdr_room). At light load a batch
 * gathers batch_wait's worth of changes, so a commit is shared by many
 * REGISTERs and calls; under load batch_max fills first and no answer waits
 * for the clock (a client with 200 requests in flight is not held to 200
 * per batch_wait). The write-behind of durability none keeps its batches
 * per tick. */
static int on_round(void *arg, uint64_t now_ms)
{
	struct server *s = arg;
	bool behind = s->conf.durability == CONF_DURABLE_NONE;
	int reg, calls;

	reg = store_batch_due(&s->batch_since_ms, !behind && registrar_pending(s->reg) > 0,
			      s->conf.batch_wait, now_ms);
	calls = store_batch_due(&s->cdr_since_ms, !behind && store_calls_pending(s->calls) > 0,
				s->conf.batch_wait, now_ms);
	if (reg == 0 || calls == 0)
		nodes_epochs_flush(s->epochs); /* the counts of the requests these batches answer */
	if (reg == 0) {
		flush_registrations(s, SERVER_BATCH_WAITED);
		reg = -1;
	}
	if (calls == 0) {
		server_cdr_flush(s, SERVER_BATCH_WAITED);
		calls = -1;
	}
	if (reg < 0 || (calls >= 0 && calls < reg))
		return calls;
	return reg;
}

/* Periodic work: pick up user changes made by the CLI (within a second), and
 * expire bindings once a second. */
static void on_tick(void *arg, uint64_t now_ms)
{
	struct server *s = arg;
	bool reloaded = false;
	int rc;

	txn_tick(s->txn, server_now_ms());
	proxy_tick(s->proxy, server_now_ms());
	server_trunk_tick(s, server_now_ms());
	if (s->draining && drained(s, server_now_ms()))
		s->drain_done = 1;
	server_guard_tick(s, now_ms);
	nodes_epochs_flush(s->epochs);
	server_cdr_flush(s, SERVER_BATCH_TICK);
	log_tick();
	flush_registrations(s, SERVER_BATCH_TICK); /* what on_round has not committed yet */
	server_nodes_tick(s);
	if (now_ms >= s->next_cache_ms) {
		rc = store_cache_refresh(s->cache, s->store, &reloaded);
		if (rc == EOVERFLOW)
			log_warn("user cache refresh refused: the store has more than max_users "
				 "(%u) users; the users already loaded keep serving",
				 s->conf.max_users);
		else if (rc)
			log_warn("user cache refresh failed: %s", strerror(rc));
		else if (reloaded) {
			log_info("users reloaded from the store: %zu", store_cache_count(s->cache));
			if ((rc = store_idents_load(&s->idents, s->store, s->conf.domain)) != 0)
				log_warn("identities not reloaded: %s", strerror(rc));
		}
		s->next_cache_ms = now_ms + 200;
	}
	if (now_ms >= s->next_expiry_ms) {
		size_t n = registrar_expire(s->reg, (int64_t)time(NULL));
		if (n)
			log_debug("%zu bindings expired", n);
		s->next_expiry_ms = now_ms + 1000;
	}
}

/* Where the log files of c are: their paths resolved against the state
 * directory into p (log_files_open reports one that could not be). */
struct log_paths {
	char key[1100], events[1100], cdr[1100];
};

static void log_files_of(struct log_files *f, struct log_paths *p, const struct server *s,
			 const struct conf *c)
{
	*f = (struct log_files){ .key = { p->key, 0 }, .events = { p->events, 0 },
				 .cdr = { p->cdr, 0 }, .syslog = c->syslog == CONF_YES,
				 .checkpoint_interval = c->checkpoint_interval };
	f->key.err = conf_state_path(p->key, sizeof(p->key), s->state, c->log_key);
	f->events.err = conf_state_path(p->events, sizeof(p->events), s->state, c->security_log);
	/* An empty cdr_log keeps the records in the database only. */
	p->cdr[0] = '\0';
	if (c->cdr_log[0])
		f->cdr.err = conf_state_path(p->cdr, sizeof(p->cdr), s->state, c->cdr_log);
}

/* Open what lives in the state directory: logs, store, key, cache, bindings. */
static int open_state(struct server *s, const struct conf *c, char *err, size_t errlen)
{
	char path[1100];
	struct log_paths lp;
	struct log_files lf;
	struct registrar_conf rc;
	struct auth_site_conf ac;
	enum store_durability durable = store_durability_from(c);
	size_t n;
	int e;

	/* the logs' checkpoint key (made on first start), the security and
	 * CDR logs, then the remote copy of the security events */
	log_files_of(&lf, &lp, s, c);
	if ((e = log_files_open(&lf, LOG_FILES_START, err, errlen)) != 0 ||
	    (e = server_remote_log_start(s, c, err, errlen)) != 0)
		return e;
	/* the nonce key of this run, its nonce-count table, the digest watch */
	auth_site_conf_from(&ac, c, s->own_slices, s->n_own);
	if ((e = conf_state_path(path, sizeof(path), s->state, STATE_KEY_FILE)) != 0) {
		snprintf(err, errlen, "%s: nonce key path: %s", path, strerror(e));
		return e;
	}
	if ((e = auth_site_new(&s->site, &ac, path, err, errlen)) != 0)
		return e;
	if ((e = store_location(path, sizeof(path), s->state, c->database)) != 0 ||
	    (e = store_open(&s->store, path, err, errlen)) != 0)
		return e;
	if ((e = server_nodes_attach(s, path, err, errlen)) != 0)
		return e;
	store_set_queue_max(s->store, c->write_queue_max);
	if ((e = store_set_durability(s->store, durable)) != 0) {
		snprintf(err, errlen, "store durability: %s", strerror(e));
		return e;
	}
	if (c->durability == CONF_DURABLE_NONE)
		log_warn("store durability: none (write-behind: REGISTERs are answered before "
			 "their bindings are stored; a crash loses the last 50 ms of them)");
	else
		log_info("store durability: %s (acknowledged changes survive %s)",
			 durable == STORE_DURABLE_POWER ? "power" : "process",
			 durable == STORE_DURABLE_POWER ? "a power cut" : "a crash of the process");
	if ((e = store_cache_new(&s->cache, c->max_users)) != 0 ||
	    (e = store_cache_refresh(s->cache, s->store, NULL)) != 0 ||
	    (e = store_idents_load(&s->idents, s->store, s->conf.domain)) != 0) {
		if (e == EOVERFLOW)
			snprintf(err, errlen,
				 "loading users: the store has more than max_users (%u) users; "
				 "raise [auth] max_users", c->max_users);
		else
			snprintf(err, errlen, "loading users: %s", strerror(e));
		return e;
	}
	registrar_conf_from(&rc, c);
	if ((e = registrar_new(&s->reg, &rc, s->store)) != 0 ||
	    (e = registrar_restore(s->reg, (int64_t)time(NULL), &n)) != 0) {
		snprintf(err, errlen, "restoring registrations: %s", strerror(e));
		return e;
	}
	registrar_set_sender(s->reg, send_held, note_held, s);
	log_info("%zu users, %zu registrations restored", store_cache_count(s->cache), n);
	return 0;
}

int server_new(struct server **sp, const struct conf *c, const char *state, char *err,
	       size_t errlen)
{
	struct server *s;
	struct net_conf nc;
	struct txn_conf tc;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	snprintf(s->state, sizeof(s->state), "%s", state);
	s->refusal_log.what = "refusal";
	s->cdr_store_limit = (struct log_limit){ .per_sec = 1, .what = "CDR store failure" };
	if ((rc = server_tls_library_check(err, errlen)) != 0)
		goto fail;
	apply_conf(s, c);
	own_addresses(s);
	s->out = malloc(SERVER_OUT_CAP);
	s->peer_cert = calloc(1, sizeof(*s->peer_cert));
	s->idv = calloc(1, sizeof(*s->idv));
	if (!s->out || !s->peer_cert || !s->idv || store_calls_new(&s->calls) != 0 ||
	    alloc_buffers(s, c->lim.max_headers) != 0) {
		rc = ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((rc = hash_key_random(&s->tag_key)) != 0) {
		snprintf(err, errlen, "getrandom: %s", strerror(rc));
		goto fail;
	}
	if ((rc = open_state(s, c, err, errlen)) != 0)
		goto fail;
	if ((rc = server_guard_start(s, c, err, errlen)) != 0)
		goto fail;
	txn_conf_from(&tc, c);
	if ((rc = txn_layer_new(&s->txn, &tc, &txn_ops, s)) != 0) {
		snprintf(err, errlen, "transaction layer: %s", strerror(rc));
		goto fail;
	}
	if ((rc = server_proxy_start(s, c, err, errlen)) != 0)
		goto fail;
	if ((rc = server_trunk_start(s)) != 0) {
		snprintf(err, errlen, "trunks: %s", strerror(rc));
		goto fail;
	}
	if ((rc = server_emerg_start(s)) != 0) {
		snprintf(err, errlen, "emergency calls: %s", strerror(rc));
		goto fail;
	}
	server_emerg_check(s);
	conf_net(c, &nc);
	rc = net_new(&s->net, &nc, on_message, on_stream_error, s);
	if (rc) {
		snprintf(err, errlen, "event loop: %s", strerror(rc));
		goto fail;
	}
	if ((rc = server_tls_start(s, c, err, errlen)) != 0)
		goto fail;
	rc = net_listen(s->net, c->listeners, c->nlisteners, err, errlen);
	if (rc)
		goto fail;
	if ((rc = server_metrics_start(s, c, err, errlen)) != 0)
		goto fail;
	server_dialogs_restore(s); /* needs the UDP sockets */
	net_set_tick(s->net, on_tick, s, 50);
	net_set_round(s->net, on_round, s);
	*sp = s;
	return 0;
fail:
	server_free(&s);
	return rc;
}

void server_free(struct server **sp)
{
	struct server *s = *sp;

	if (!s)
		return;
	if (s->guard && s->store && s->bans)
		server_guard_flush(s); /* the bans of the last tick */
	guard_free(&s->guard);
	if (s->calls)
		server_cdr_flush(s, SERVER_BATCH_TICK); /* answers held for it go out while txn and net live */
	proxy_free(&s->proxy); /* dialogs still up get their records */
	if (s->calls)
		server_cdr_flush(s, SERVER_BATCH_TICK);
	server_trunk_free(s);
	server_emerg_free(s);
	txn_layer_free(&s->txn);
	store_idents_free(&s->idents);
	if (s->reg)
		(void)registrar_flush(s->reg); /* answers still held go out while net lives */
	server_metrics_free(s);
	net_free(&s->net);
	registrar_free(&s->reg);
	store_cache_free(&s->cache);
	store_close(&s->store);
	server_nodes_free(s);
	auth_site_free(&s->site);
	log_files_close();
	log_remote_stop();
	free(s->hdrs);
	free(s->out);
	free(s->peer_cert);
	free(s->idv);
	store_calls_free(&s->calls);
	nodes_bans_free(&s->bans);
	free(s);
	*sp = NULL;
}

/* On reload: a nonce key file that changed (bastion rotate --nonce-key)
 * gives a new run key at once (several nodes: a new epoch); every
 * outstanding nonce then fails its HMAC and gets a fresh challenge. A file
 * that cannot be read keeps the old key (auth_site_reload_key). */
static void reload_nonce_key(struct server *s)
{
	struct auth_key_reload r;
	char path[1100];
	int e;

	if ((e = conf_state_path(path, sizeof(path), s->state, STATE_KEY_FILE)) != 0) {
		log_error("reload: nonce key %s not read, keeping the running one: %s", path,
			  strerror(e));
		return;
	}
	auth_site_reload_key(s->site, path, s->epochs == NULL, &r);
	if (r.what == AUTH_KEY_CHANGED)
		nodes_epochs_rotate(s->epochs, "the nonce key file changed");
	else if (r.what == AUTH_KEY_REPLACED)
		log_notice("%s", r.msg);
	else if (r.msg[0])
		log_error("%s", r.msg);
}

static void reload(struct server *s, const char *conf_path)
{
	struct conf c;
	struct conf_reload r;
	struct net_conf nc;
	struct log_paths lp;
	struct log_files lf;
	char err[600];

	if (conf_load(&c, conf_path, err, sizeof(err)) != 0) {
		log_error("reload refused, keeping the running configuration: %s", err);
		return;
	}
	/* keep what only a restart changes (conf_reload_merge says what) */
	conf_reload_merge(&c, &s->conf, &r);
	for (size_t i = 0; i < r.nwarnings; i++)
		log_warn("%s", r.warning[i]);
	if (c.lim.max_headers != s->hdr_cap && alloc_buffers(s, c.lim.max_headers) != 0) {
		log_error("reload refused: out of memory");
		return;
	}
	if (server_guard_reload(s, &c) != 0) {
		log_error("reload refused, keeping the running configuration: %s", s->guard_err);
		return;
	}
	server_metrics_reload(s, &c);
	/* The security and CDR logs reopened (a path may have changed;
	 * logrotate moves the files and sends SIGHUP); a failure keeps the old
	 * file. */
	log_files_of(&lf, &lp, s, &c);
	(void)log_files_open(&lf, LOG_FILES_RELOAD, NULL, 0);
	apply_conf(s, &c);
	server_emerg_check(s);
	conf_net(&c, &nc);
	net_set_conf(s->net, &nc);
	server_tls_reload(s, &c);
	reload_nonce_key(s);
	log_notice("configuration reloaded from %s", conf_path);
}

int server_run(struct server *s, const char *conf_path, volatile sig_atomic_t *stop,
	       volatile sig_atomic_t *reload_flag)
{
	int rc = 0;

	while (!*stop) {
		rc = net_run(s->net, stop, reload_flag);
		if (rc)
			break;
		if (*reload_flag) {
			*reload_flag = 0;
			reload(s, conf_path);
		}
	}
	/* Graceful stop: new calls and registrations get 503 with Retry-After;
	 * what is in progress (transactions, in-dialog requests, ACKs, CANCELs,
	 * responses) goes on until it is done or stop_grace has passed. A
	 * second signal ends it at once. */
	if (!rc && s->conf.stop_grace) {
		s->drain_until_ms = server_now_ms() + (uint64_t)s->conf.stop_grace * 1000u;
		s->draining = true;
		*stop = 0;
		log_notice("stopping: finishing what is in progress (at most %u s; signal again to "
			   "stop now)", s->conf.stop_grace);
		while (!*stop && !drained(s, server_now_ms())) {
			rc = net_run(s->net, &s->drain_done, stop);
			if (rc)
				break;
			s->drain_done = 0;
		}
		if (!rc && !drained(s, server_now_ms()))
			log_notice("stopping now: a second signal");
		else if (!rc) {
			struct txn_stats ts;

			txn_layer_stats(s->txn, &ts);
			if (ts.servers + ts.clients > ts.settled)
				log_notice("stopping now: stop_grace spent, %u transactions unfinished",
					   ts.servers + ts.clients - ts.settled);
			else
				log_notice("stopping: nothing left in progress (%u transactions only "
					   "absorbing retransmissions)", ts.settled);
		}
	}
	server_tls_log_stats(s);
	return rc;
}

void server_get_stats(const struct server *s, struct server_stats *out)
{
	*out = s->stats;
	auth_nc_table_stats(s->site ? s->site->nc : NULL, &out->nonces);
}
