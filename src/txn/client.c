/*
 * txn/client.c: client transactions (RFC 3261 17.1), INVITE and non-INVITE,
 * the ACK for a non-2xx final response (17.1.1.3) and CANCEL (9.1).
 *
 * An INVITE client transaction follows RFC 6026: a 2xx moves it to Accepted
 * for 64*T1 (timer M) so that retransmitted 2xx still reach the user, who
 * forwards them; 3xx-6xx are answered with an ACK built from the request and
 * absorbed in Completed until timer D. A CANCEL is a non-INVITE client
 * transaction of the layer's own (responses absorbed, no callbacks, never
 * refused for room: there is at most one per INVITE). After it is sent the
 * INVITE gets 64*T1 for a final response before it is given up as timed
 * out (9.1).
 * Once a final response came, the request is never sent again (the ACK for
 * a non-2xx is built then, a CANCEL only before): its copy is let go
 * (drop_request), so the 32 s of timers M and D do not hold it.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

/* Timer D: "> 32 s" for unreliable transports (Table 4). */
#define TXN_TIMER_D_MS 32000u

/* After a final response: the request will not be sent again. */
static void drop_request(struct txn_client *ct)
{
	free(ct->req);
	ct->req = NULL;
	ct->req_len = 0;
}

void txn_client_destroy(struct txn_client *ct)
{
	free(ct->req);
	free(ct->ack);
	free(ct);
}

/* Start a client transaction for buf (copied). See txn_client_new; internal
 * ones skip the room check. */
static int client_start_known(struct txn_client **ctp, struct txn_layer *l, const char *buf,
			      size_t len, struct slice method, struct slice branch,
			      const struct txn_peer *to, void *user, uint64_t now_ms, bool internal)
{
	struct txn_client *ct;
	struct slice key;
	int rc;

	if (!method.len || !branch.len || slice_eq(method, SLICE_LIT("ACK")))
		return EINVAL;
	key = txn_key_client(l, method, branch);
	if (!key.p)
		return ENOMEM;
	if (txn_lookup(l, key, NULL, false))
		return EINVAL; /* a branch in use */
	if (txn_reserve(l))
		return ENOMEM;
	ct = calloc(1, sizeof(*ct));
	if (!ct)
		return ENOMEM;
	ct->req = malloc(len);
	ct->t.key = txn_key_dup(key);
	if (!ct->req || !ct->t.key) {
		free(ct->t.key);
		txn_client_destroy(ct);
		return ENOMEM;
	}
	memcpy(ct->req, buf, len);
	ct->req_len = len;
	ct->t.key_len = key.len;
	ct->t.l = l;
	ct->t.invite = slice_eq(method, SLICE_LIT("INVITE"));
	ct->t.reliable = to->via.tp != NET_UDP;
	ct->t.internal = internal;
	ct->t.state = ct->t.invite ? TXN_S_CALLING : TXN_S_TRYING;
	ct->t.user = user;
	ct->t.peer = *to;
	ct->t.peer.via.buf = NULL;
	ct->t.peer.via.len = 0;
	if ((rc = txn_send(&ct->t, ct->req, ct->req_len))) {
		free(ct->t.key);
		txn_client_destroy(ct);
		return rc;
	}
	txn_attach(l, &ct->t);
	if (!ct->t.reliable) {
		ct->t.retx_ivl = l->conf.t1_ms;
		txn_timer_set(&ct->t, TXN_T_RETX, now_ms + ct->t.retx_ivl);
	}
	txn_timer_set(&ct->t, TXN_T_END, now_ms + 64ULL * l->conf.t1_ms);
	*ctp = ct;
	return 0;
}

static int client_start(struct txn_client **ctp, struct txn_layer *l, const char *buf,
			size_t len, const struct txn_peer *to, void *user, uint64_t now_ms,
			bool internal)
{
	struct sip_msg m;

	if (txn_parse_scratch(l, &m, buf, len) != 0 || !m.request || m.mid == SIP_M_ACK ||
	    !(m.have & SIP_HAVE_VIA) || !m.via.has_branch || !m.via.branch.len)
		return EINVAL;
	return client_start_known(ctp, l, buf, len, m.method, m.via.branch, to, user, now_ms,
				  internal);
}

int txn_client_start(struct txn_client **ctp, struct txn_layer *l, const char *buf, size_t len,
		     struct slice method, struct slice branch, const struct txn_peer *to,
		     void *user, uint64_t now_ms)
{
	if (!ctp || !l || !buf || !len || !to)
		return EINVAL;
	if (!txn_room(l)) {
		l->stats.full++;
		return ENOSPC;
	}
	return client_start_known(ctp, l, buf, len, method, branch, to, user, now_ms, false);
}

/* See txn.h. Also EINVAL when buf is not a request with a branch in its top
 * Via, is an ACK, or reuses the branch of a live client transaction of the
 * same method; ENOMEM. */
int txn_client_new(struct txn_client **ctp, struct txn_layer *l, const char *buf, size_t len,
		   const struct txn_peer *to, void *user, uint64_t now_ms)
{
	if (!ctp || !l || !buf || !len || !to)
		return EINVAL;
	if (!txn_room(l)) {
		l->stats.full++;
		return ENOSPC;
	}
	return client_start(ctp, l, buf, len, to, user, now_ms, false);
}

/*
 * Build the ACK (17.1.1.3) or CANCEL (9.1) for the INVITE ct sent: the
 * request's Request-URI, top Via, Route headers, From, Call-ID and CSeq
 * number, To from `to` (the response's, for an ACK) or else the request's,
 * Max-Forwards 70, no body. Returns a malloc'd message or NULL.
 */
static char *build_hop(struct txn_client *ct, const char *method, const struct sip_hdr *to,
		       size_t *out_len)
{
	struct sip_msg m;
	struct sip_buf b;
	const struct sip_hdr *h, *from, *rto;
	size_t cap;
	char *mem;

	if (!ct->req || txn_parse_scratch(ct->t.l, &m, ct->req, ct->req_len) != 0)
		return NULL; /* dropped after a final response: nothing to build from */
	from = sip_msg_hdr(&m, SIP_H_FROM);
	rto = to ? to : sip_msg_hdr(&m, SIP_H_TO);
	if (!from || !rto || !(m.have & SIP_HAVE_CALL_ID) || !(m.have & SIP_HAVE_CSEQ))
		return NULL;
	cap = ct->req_len + rto->value.len + 128;
	mem = malloc(cap);
	if (!mem)
		return NULL;
	sip_buf_init(&b, mem, cap);
	sip_buf_str(&b, method);
	sip_buf_put(&b, " ", 1);
	sip_buf_slice(&b, m.ruri_raw);
	sip_buf_str(&b, " SIP/2.0\r\nVia: ");
	sip_buf_slice(&b, m.via.raw);
	sip_buf_str(&b, "\r\n");
	for (h = sip_msg_hdr(&m, SIP_H_ROUTE); h; h = sip_msg_hdr_next(&m, h)) {
		sip_buf_str(&b, "Route: ");
		sip_buf_slice(&b, h->value);
		sip_buf_str(&b, "\r\n");
	}
	sip_buf_str(&b, "Max-Forwards: 70\r\nFrom: ");
	sip_buf_slice(&b, from->value);
	sip_buf_str(&b, "\r\nTo: ");
	sip_buf_slice(&b, rto->value);
	sip_buf_str(&b, "\r\nCall-ID: ");
	sip_buf_slice(&b, m.call_id);
	sip_buf_str(&b, "\r\nCSeq: ");
	sip_buf_u32(&b, m.cseq.num);
	sip_buf_put(&b, " ", 1);
	sip_buf_str(&b, method);
	sip_buf_str(&b, "\r\nContent-Length: 0\r\n\r\n");
	if (b.overflow) {
		free(mem);
		return NULL;
	}
	*out_len = b.len;
	return mem;
}

static void send_cancel(struct txn_client *ct, uint64_t now_ms)
{
	struct txn_layer *l = ct->t.l;
	struct txn_client *cc;
	size_t len = 0;
	char *buf;

	ct->cancel_sent = true;
	/* 9.1: without a final response within 64*T1 the INVITE is given up. */
	txn_timer_set(&ct->t, TXN_T_END, now_ms + 64ULL * l->conf.t1_ms);
	buf = build_hop(ct, "CANCEL", NULL, &len);
	if (!buf)
		return;
	client_start(&cc, l, buf, len, &ct->t.peer, NULL, now_ms, true);
	free(buf);
}

/* See txn.h. Ignored for anything but a user's INVITE client transaction. */
void txn_client_cancel(struct txn_client *ct, uint64_t now_ms)
{
	if (!ct || !ct->t.invite || ct->t.internal || ct->cancel_wanted)
		return;
	ct->cancel_wanted = true;
	if (ct->t.state == TXN_S_PROCEEDING && !ct->cancel_sent)
		send_cancel(ct, now_ms);
}

static void pass_up(struct txn_client *ct, const struct sip_msg *m)
{
	struct txn_layer *l = ct->t.l;

	if (!ct->t.internal && l->ops.response)
		l->ops.response(l->arg, ct, m);
}

static enum txn_recv invite_response(struct txn_client *ct, const struct sip_msg *m,
				     uint64_t now_ms)
{
	struct txn *t = &ct->t;
	struct txn_layer *l = t->l;
	uint16_t s = m->status;

	switch (t->state) {
	case TXN_S_CALLING:
	case TXN_S_PROCEEDING:
		if (s < 200) {
			if (t->state == TXN_S_CALLING) {
				txn_set_state(t, TXN_S_PROCEEDING);
				txn_timer_stop(t, TXN_T_RETX);
				txn_timer_stop(t, TXN_T_END);
			}
			pass_up(ct, m);
			if (ct->cancel_wanted && !ct->cancel_sent && t->state == TXN_S_PROCEEDING)
				send_cancel(ct, now_ms);
		} else if (s < 300) {
			txn_set_state(t, TXN_S_ACCEPTED);
			txn_timer_stop(t, TXN_T_RETX);
			txn_timer_set(t, TXN_T_END, now_ms + 64ULL * l->conf.t1_ms);
			pass_up(ct, m);
			drop_request(ct);
		} else {
			txn_set_state(t, TXN_S_COMPLETED);
			txn_timer_stop(t, TXN_T_RETX);
			ct->ack = build_hop(ct, "ACK", sip_msg_hdr(m, SIP_H_TO), &ct->ack_len);
			if (ct->ack)
				txn_send(t, ct->ack, ct->ack_len);
			txn_timer_set(t, TXN_T_END, now_ms + (t->reliable ? 0 : TXN_TIMER_D_MS));
			pass_up(ct, m);
			drop_request(ct);
		}
		return TXN_RESPONSE;
	case TXN_S_ACCEPTED:
		if (s >= 200 && s < 300) {
			pass_up(ct, m);
			return TXN_RESPONSE;
		}
		break;
	case TXN_S_COMPLETED:
		if (s >= 300 && ct->ack) {
			txn_send(t, ct->ack, ct->ack_len);
			l->stats.retransmissions_sent++;
		}
		break;
	default:
		break;
	}
	l->stats.retransmissions_absorbed++;
	return TXN_ABSORBED;
}

static enum txn_recv non_invite_response(struct txn_client *ct, const struct sip_msg *m,
					 uint64_t now_ms)
{
	struct txn *t = &ct->t;
	struct txn_layer *l = t->l;

	if (t->state != TXN_S_TRYING && t->state != TXN_S_PROCEEDING) {
		l->stats.retransmissions_absorbed++;
		return TXN_ABSORBED;
	}
	if (m->status < 200) {
		txn_set_state(t, TXN_S_PROCEEDING);
	} else {
		txn_set_state(t, TXN_S_COMPLETED);
		txn_timer_stop(t, TXN_T_RETX);
		txn_timer_set(t, TXN_T_END, now_ms + (t->reliable ? 0 : l->conf.t4_ms));
	}
	pass_up(ct, m);
	if (t->state == TXN_S_COMPLETED)
		drop_request(ct);
	return t->internal ? TXN_ABSORBED : TXN_RESPONSE;
}

enum txn_recv txn_client_receive(struct txn_layer *l, const struct sip_msg *m, uint64_t now_ms)
{
	const unsigned need = SIP_HAVE_START | SIP_HAVE_VIA | SIP_HAVE_CSEQ;
	struct txn *t;

	if ((m->have & need) != need || !m->via.has_branch || m->status < 100 ||
	    m->status > 699)
		return TXN_STRAY_RESPONSE;
	t = txn_lookup(l, txn_key_client(l, m->cseq.method, m->via.branch), NULL, false);
	if (!t || t->server)
		return TXN_STRAY_RESPONSE;
	if (t->invite)
		return invite_response(txn_to_client(t), m, now_ms);
	return non_invite_response(txn_to_client(t), m, now_ms);
}

void txn_client_timer(struct txn_client *ct, int slot, uint64_t now_ms)
{
	struct txn *t = &ct->t;
	struct txn_layer *l = t->l;

	if (slot == TXN_T_RETX) {
		if (t->state == TXN_S_CALLING) {
			/* Timer A: T1, 2T1, 4T1 ... until B. */
			if (t->retx_ivl <= UINT32_MAX / 2)
				t->retx_ivl *= 2;
		} else if (t->state == TXN_S_TRYING) {
			/* Timer E: doubling up to T2. */
			t->retx_ivl = t->retx_ivl > l->conf.t2_ms / 2 ? l->conf.t2_ms
								     : 2 * t->retx_ivl;
		} else if (t->state == TXN_S_PROCEEDING && !t->invite) {
			t->retx_ivl = l->conf.t2_ms;
		} else {
			return;
		}
		if (!ct->req)
			return; /* cannot happen: dropped only after a final response */
		txn_send(t, ct->req, ct->req_len);
		l->stats.retransmissions_sent++;
		txn_timer_set(t, TXN_T_RETX, now_ms + t->retx_ivl);
		return;
	}
	if (t->state == TXN_S_CALLING || t->state == TXN_S_PROCEEDING ||
	    t->state == TXN_S_TRYING) {
		/* Timer B or F, or no final answer 64*T1 after a CANCEL. */
		l->stats.timeouts++;
		if (!t->internal && l->ops.timeout)
			l->ops.timeout(l->arg, ct);
	}
	/* Timer D, K or M, or the timeout above. */
	txn_end(t, now_ms);
}

void *txn_client_user(const struct txn_client *ct)
{
	return ct->t.user;
}
