/*
 * txn/server.c: server transactions (RFC 3261 17.2), INVITE and non-INVITE,
 * and the matching of requests to them (17.2.3, with the RFC 2543 fallback),
 * of ACKs to INVITE transactions and of CANCELs to the INVITE they cancel
 * (9.2).
 *
 * A server transaction keeps a copy of the request and a copy of the last
 * response it sent, so a retransmitted request is answered without the user.
 * The copy is parsed (into a header array of exactly the request's header
 * count) only when the user asks for it (txn_server_request): most
 * transactions (a challenged INVITE, a BYE) never need it, and parsing every
 * copy was a sixth of a proxied call's cost.
 * A non-INVITE transaction that has sent its final response only answers
 * retransmissions, with the response it keeps, for 64*T1 (timer J): at the
 * next tick it lets go of the request's copy and its parse (release_request),
 * so the 32 s it waits hold a third of the memory. Every call leaves one (its
 * BYE), and memory touched for the first time costs a page fault.
 * A CANCEL that matches an INVITE transaction opens a non-INVITE server
 * transaction of the layer's own: the layer answers it with 200 and tells the
 * user through ops->cancel; retransmitted CANCELs are absorbed by it. Such a
 * CANCEL transaction is never shown to the user and ends without
 * ops->terminated. Since there is at most one per INVITE transaction, it is
 * never refused for want of room.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

void txn_server_destroy(struct txn_server *st)
{
	free(st->req);
	free(st->parse);
	free(st->resp);
	free(st);
}

/* A completed non-INVITE transaction no longer needs its request: keep the
 * To tag (RFC 2543 matching, txn_lookup) in tag_mem, which such a
 * transaction does not use (keep_response keeps tags for INVITEs only); a
 * longer tag keeps the copy. After it txn_server_request gives NULL. */
static void release_request(struct txn_server *st)
{
	if (st->t.invite || !st->req || st->to_tag.len > sizeof(st->tag_mem))
		return;
	if (st->to_tag.len)
		memcpy(st->tag_mem, st->to_tag.p, st->to_tag.len);
	st->to_tag = slice_make(st->tag_mem, st->to_tag.len);
	free(st->parse);
	st->parse = NULL;
	free(st->req);
	st->req = NULL;
	st->req_len = 0;
}

/* Open a server transaction for request m with key (copied). Returns 0,
 * ENOMEM, or EBADMSG when the copy does not parse (m was not a clean parse). */
static int st_open(struct txn_server **stp, struct txn_layer *l, const struct sip_msg *m,
		      const struct txn_peer *from, struct slice key, bool legacy, bool internal)
{
	struct txn_server *st;
	int rc = ENOMEM;

	if (txn_reserve(l))
		return ENOMEM;
	st = calloc(1, sizeof(*st));
	if (!st)
		return ENOMEM;
	st->req = malloc(m->raw.len);
	st->t.key = txn_key_dup(key);
	if (!st->req || !st->t.key)
		goto fail;
	memcpy(st->req, m->raw.p, m->raw.len);
	st->req_len = m->raw.len;
	st->nhdrs = m->nhdrs ? m->nhdrs : 1;
	/* the To tag, found in the copy at the same offset */
	if (m->to.tag.len && m->to.tag.p >= m->raw.p &&
	    m->to.tag.p + m->to.tag.len <= m->raw.p + m->raw.len)
		st->to_tag = slice_make(st->req + (m->to.tag.p - m->raw.p), m->to.tag.len);
	st->t.key_len = key.len;
	st->t.server = true;
	st->t.invite = m->mid == SIP_M_INVITE;
	st->t.reliable = from->via.tp != NET_UDP;
	st->t.legacy = legacy;
	st->t.internal = internal;
	st->t.state = st->t.invite ? TXN_S_PROCEEDING : TXN_S_TRYING;
	st->t.peer = *from;
	st->t.peer.via.buf = NULL;
	st->t.peer.via.len = 0;
	txn_attach(l, &st->t);
	*stp = st;
	return 0;
fail:
	free(st->t.key);
	txn_server_destroy(st);
	return rc;
}

/* A retransmitted request: answer with the last response, if any. */
static enum txn_recv retransmission(struct txn_server *st)
{
	struct txn_layer *l = st->t.l;

	l->stats.retransmissions_absorbed++;
	if (st->resp && (st->t.state == TXN_S_PROCEEDING || st->t.state == TXN_S_COMPLETED)) {
		txn_send(&st->t, st->resp, st->resp_len);
		l->stats.retransmissions_sent++;
	}
	return TXN_ABSORBED;
}

/* Answer CANCEL transaction cst with 200, the To tag being the one the
 * INVITE transaction answered with (9.2). */
static void answer_cancel(struct txn_server *cst, const struct sip_msg *m,
			  const struct txn_server *inv, uint64_t now_ms)
{
	char host[INET6_ADDRSTRLEN];
	struct sip_reply_opts o = { 0 };
	struct sip_buf b;
	size_t cap;
	char *mem;

	net_addr_host(&cst->t.peer.via.src, host, sizeof(host));
	o.src_ip = host[0] ? host : NULL;
	o.src_port = net_addr_port(&cst->t.peer.via.src);
	if (inv->status)
		o.to_tag = inv->resp_tag;
	cap = cst->req_len + o.to_tag.len + sizeof(host) + 128;
	mem = malloc(cap);
	if (!mem)
		return;
	sip_buf_init(&b, mem, cap);
	if (sip_reply_build(&b, m, 200, "OK", &o) == 0)
		txn_server_respond(cst, 200, b.p, b.len, now_ms);
	free(mem);
}

static enum txn_recv receive_ack(struct txn_layer *l, const struct sip_msg *m, uint64_t now_ms)
{
	bool legacy;
	struct slice key = txn_key_server(l, m, SLICE_LIT("INVITE"), &legacy);
	struct txn *t = txn_lookup(l, key, legacy ? &m->to.tag : NULL, true);

	if (!t || !t->server || !t->invite)
		return TXN_ACK_2XX;
	if (t->state == TXN_S_COMPLETED) {
		txn_set_state(t, TXN_S_CONFIRMED);
		txn_timer_stop(t, TXN_T_RETX);
		txn_timer_set(t, TXN_T_END, now_ms + (t->reliable ? 0 : l->conf.t4_ms));
	} else {
		l->stats.retransmissions_absorbed++;
	}
	return TXN_ABSORBED;
}

static enum txn_recv receive_cancel(struct txn_layer *l, const struct sip_msg *m,
				    const struct txn_peer *from, uint64_t now_ms)
{
	bool legacy;
	const struct slice *tag;
	struct slice key = txn_key_server(l, m, m->method, &legacy);
	struct txn *t;
	struct txn_server *inv, *cst;

	tag = legacy ? &m->to.tag : NULL;
	if ((t = txn_lookup(l, key, tag, false)))
		return retransmission(txn_to_server(t));
	key = txn_key_server(l, m, SLICE_LIT("INVITE"), &legacy);
	t = txn_lookup(l, key, tag, false);
	if (!t || !t->invite)
		return TXN_CANCEL_UNMATCHED;
	inv = txn_to_server(t);
	key = txn_key_server(l, m, m->method, &legacy);
	if (!key.p || st_open(&cst, l, m, from, key, legacy, true) != 0)
		return TXN_FULL;
	answer_cancel(cst, m, inv, now_ms);
	if (inv->status < 200 && l->ops.cancel)
		l->ops.cancel(l->arg, inv);
	return TXN_ABSORBED;
}

enum txn_recv txn_server_receive(struct txn_layer *l, const struct sip_msg *m,
				 const struct txn_peer *from, uint64_t now_ms)
{
	const unsigned need = SIP_HAVE_START | SIP_HAVE_REPLY | SIP_HAVE_FROM | SIP_HAVE_TO;
	struct txn_server *st;
	struct txn *t;
	struct slice key;
	bool legacy;
	int rc;

	/* The parser refuses these; a message that is not a clean parse is
	 * dropped rather than half matched. */
	if ((m->have & need) != need || !m->raw.p || !m->raw.len || !m->method.len || !from)
		return TXN_ABSORBED;
	if (m->mid == SIP_M_ACK)
		return receive_ack(l, m, now_ms);
	if (m->mid == SIP_M_CANCEL)
		return receive_cancel(l, m, from, now_ms);
	key = txn_key_server(l, m, m->method, &legacy);
	if (!key.p)
		return TXN_FULL;
	if ((t = txn_lookup(l, key, legacy ? &m->to.tag : NULL, false)))
		return retransmission(txn_to_server(t));
	if (l->shed && !l->priority && !m->to.has_tag) {
		l->stats.shed++;
		return TXN_SHED;
	}
	if (!txn_room(l)) {
		l->stats.full++;
		return TXN_FULL;
	}
	rc = st_open(&st, l, m, from, key, legacy, false);
	if (rc)
		return TXN_FULL;
	if (l->ops.request)
		l->ops.request(l->arg, st, m, &st->t.peer);
	return TXN_NEW;
}

/* Keep a copy of response buf and, for an INVITE, where its To tag is (for
 * RFC 2543 ACK matching and the To tag of a 200 to CANCEL). */
static int keep_response(struct txn_server *st, const char *buf, size_t len,
			 const struct slice *tag)
{
	struct sip_msg r;
	char *copy = malloc(len);

	if (!copy)
		return ENOMEM;
	memcpy(copy, buf, len);
	free(st->resp);
	st->resp = copy;
	st->resp_len = len;
	st->resp_tag = SLICE_NULL;
	if (!st->t.invite)
		return 0;
	if (tag && tag->len <= sizeof(st->tag_mem)) {
		/* the user said which: no parse */
		if (tag->len)
			memcpy(st->tag_mem, tag->p, tag->len);
		st->resp_tag = slice_make(st->tag_mem, tag->len);
	} else if (txn_parse_scratch(st->t.l, &r, copy, len) == 0 && (r.have & SIP_HAVE_TO) &&
		   r.to.has_tag) {
		st->resp_tag = r.to.tag;
	}
	return 0;
}

/* See txn.h. A send error on a reliable transport ends the transaction (at
 * the next tick: st stays valid until this call returns). */
static int respond(struct txn_server *st, uint16_t status, const char *buf, size_t len,
		   const struct slice *tag, uint64_t now_ms)
{
	struct txn *t;
	struct txn_layer *l;
	int rc;

	if (!st || !buf || !len || status < 100 || status > 699)
		return EINVAL;
	t = &st->t;
	l = t->l;
	if (t->state != TXN_S_TRYING && t->state != TXN_S_PROCEEDING)
		return EINVAL;
	if (t->invite && status >= 200 && status < 300) {
		/* 17.2.1: the 2xx ends the transaction; the user (the proxy)
		 * forwards retransmitted 2xx and the ACK itself. */
		st->status = status;
		rc = txn_send(t, buf, len);
		txn_end(t, now_ms);
		return rc;
	}
	if ((rc = keep_response(st, buf, len, tag)))
		return rc;
	st->status = status;
	rc = txn_send(t, buf, len);
	if (status < 200) {
		txn_set_state(t, TXN_S_PROCEEDING);
	} else {
		txn_set_state(t, TXN_S_COMPLETED);
		if (t->invite) {
			if (!t->reliable) {
				t->retx_ivl = l->conf.t1_ms;
				txn_timer_set(t, TXN_T_RETX, now_ms + t->retx_ivl);
			}
			txn_timer_set(t, TXN_T_END, now_ms + 64ULL * l->conf.t1_ms);
		} else {
			txn_timer_set(t, TXN_T_END,
				      now_ms + (t->reliable ? 0 : 64ULL * l->conf.t1_ms));
			/* the request's copy goes at the next tick, not now: the
			 * user may still read it in this call (release_request) */
			if (!t->reliable)
				txn_timer_set(t, TXN_T_RETX, now_ms);
		}
	}
	if (rc && t->reliable)
		txn_end(t, now_ms);
	return rc;
}

int txn_server_respond(struct txn_server *st, uint16_t status, const char *buf, size_t len,
		       uint64_t now_ms)
{
	return respond(st, status, buf, len, NULL, now_ms);
}

int txn_server_respond_tag(struct txn_server *st, uint16_t status, const char *buf, size_t len,
			   struct slice to_tag, uint64_t now_ms)
{
	return respond(st, status, buf, len, &to_tag, now_ms);
}

void txn_server_timer(struct txn_server *st, int slot, uint64_t now_ms)
{
	struct txn *t = &st->t;
	struct txn_layer *l = t->l;

	if (slot == TXN_T_RETX && !t->invite) {
		release_request(st); /* non-INVITE: no timer G */
		return;
	}
	if (slot == TXN_T_RETX) {
		/* Timer G: retransmit the final response, T1, 2T1 ... up to T2. */
		if (t->state != TXN_S_COMPLETED || !st->resp)
			return;
		txn_send(t, st->resp, st->resp_len);
		l->stats.retransmissions_sent++;
		t->retx_ivl = t->retx_ivl > l->conf.t2_ms / 2 ? l->conf.t2_ms : 2 * t->retx_ivl;
		txn_timer_set(t, TXN_T_RETX, now_ms + t->retx_ivl);
		return;
	}
	/* Timer H (no ACK came), I (Confirmed is over) or J. */
	txn_end(t, now_ms);
}

void txn_server_set_user(struct txn_server *st, void *user)
{
	st->t.user = user;
}

void *txn_server_user(const struct txn_server *st)
{
	return st->t.user;
}

const struct sip_msg *txn_server_request(struct txn_server *st)
{
	struct txn_server_parse *p;

	if (st->parse)
		return &st->parse->msg;
	if (!st->req)
		return NULL; /* released: a non-INVITE past its final response */
	p = malloc(sizeof(*p) + (size_t)st->nhdrs * sizeof(p->hdrs[0]));
	if (!p || txn_parse_copy(&p->msg, p->hdrs, st->nhdrs, st->req, st->req_len) != 0 ||
	    !p->msg.request) {
		free(p);
		return NULL; /* out of memory (the bytes parsed once already) */
	}
	st->parse = p;
	return &p->msg;
}

const struct txn_peer *txn_server_peer(const struct txn_server *st)
{
	return &st->t.peer;
}
