/*
 * txn/layer.c: the transaction table, the timer heap and the entry points
 * that are not specific to a kind of transaction.
 *
 * Matching keys are byte strings: a type byte, then length-prefixed fields,
 * so no field can pose as two. 'S' is a server transaction matched by an
 * RFC 3261 branch (method, branch, sent-by host in lower case, port), 'L' a
 * server transaction matched by the RFC 2543 rules (method, Request-URI,
 * From tag, Call-ID, CSeq number, top via-parm; the To tag is checked beside
 * the key because an ACK carries the tag of the response, not the request's),
 * 'C' a client transaction (CSeq method, branch). The table hashes keys with
 * SipHash-2-4 under a per-layer random key, since peers choose branches.
 *
 * Timers sit in one binary min-heap ordered by deadline; a transaction holds
 * at most two entries (retransmission and end). txn_tick pops what is due.
 * A transaction that ends leaves the table at once and is freed by the next
 * txn_tick, which is also where ops->terminated is called: the user never
 * loses a transaction in the middle of one of its own calls.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>


/* ---- parsing copies -------------------------------------------------------- */

/* See internal.h. The bytes were accepted by the parser under the server's
 * limits before (or built by the user), so only the header count is bounded
 * here; a datagram parse is used since the copy is exactly one message. */
int txn_parse_copy(struct sip_msg *m, struct sip_hdr *hdrs, uint32_t cap, const char *buf,
		   size_t len)
{
	struct sip_limits lim = { .max_message = UINT32_MAX, .max_headers = cap,
				  .max_header_line = UINT32_MAX, .max_uri = UINT32_MAX,
				  .max_body = UINT32_MAX };

	return sip_msg_parse(m, hdrs, cap, buf, len, false, &lim);
}

int txn_parse_scratch(struct txn_layer *l, struct sip_msg *m, const char *buf, size_t len)
{
	return txn_parse_copy(m, l->scratch, l->scratch_cap, buf, len);
}

/* ---- keys ------------------------------------------------------------------ */

struct kb {
	struct txn_layer *l;
	size_t n;
	bool fail;
};

static void kb_put(struct kb *k, const void *p, size_t len)
{
	struct txn_layer *l = k->l;

	if (k->fail)
		return;
	if (len > l->kbuf_cap - k->n) {
		size_t cap = l->kbuf_cap ? l->kbuf_cap : 256;
		while (cap - k->n < len) {
			if (cap > SIZE_MAX / 2) {
				k->fail = true;
				return;
			}
			cap *= 2;
		}
		char *nb = realloc(l->kbuf, cap);
		if (!nb) {
			k->fail = true;
			return;
		}
		l->kbuf = nb;
		l->kbuf_cap = cap;
	}
	if (len)
		memcpy(l->kbuf + k->n, p, len);
	k->n += len;
}

static void kb_field(struct kb *k, struct slice s)
{
	uint8_t n[4] = { (uint8_t)(s.len >> 24), (uint8_t)(s.len >> 16), (uint8_t)(s.len >> 8),
			 (uint8_t)s.len };

	if (s.len > UINT32_MAX) {
		k->fail = true;
		return;
	}
	kb_put(k, n, sizeof(n));
	kb_put(k, s.p, s.len);
}

static struct slice kb_done(struct kb *k)
{
	return k->fail ? SLICE_NULL : slice_make(k->l->kbuf, k->n);
}

/* An RFC 3261 branch: the magic cookie and something after it. A branch
 * that is the bare cookie (RFC 4475 3.2.1) identifies nothing: every sender
 * of such requests would share one key, and an unrelated request would be
 * taken for a retransmission, so it is matched by the RFC 2543 rules. */
static bool has_cookie(const struct sip_via *v)
{
	return v->has_branch && v->branch.len > 7 && memcmp(v->branch.p, "z9hG4bK", 7) == 0;
}

/* See internal.h. `method` is the method the transaction was opened with
 * (INVITE for an ACK, and for a CANCEL looking for its INVITE). */
struct slice txn_key_server(struct txn_layer *l, const struct sip_msg *m, struct slice method,
			    bool *legacy)
{
	struct kb k = { l, 0, false };

	if (has_cookie(&m->via)) {
		uint8_t port[3] = { m->via.has_port, (uint8_t)(m->via.port >> 8),
				    (uint8_t)m->via.port };
		*legacy = false;
		kb_put(&k, "S", 1);
		kb_field(&k, method);
		kb_field(&k, m->via.branch);
		size_t at = k.n + 4;
		kb_field(&k, m->via.host);
		if (!k.fail)
			for (size_t i = 0; i < m->via.host.len; i++)
				l->kbuf[at + i] = (char)tolower((unsigned char)l->kbuf[at + i]);
		kb_put(&k, port, sizeof(port));
	} else {
		uint8_t num[4] = { (uint8_t)(m->cseq.num >> 24), (uint8_t)(m->cseq.num >> 16),
				   (uint8_t)(m->cseq.num >> 8), (uint8_t)m->cseq.num };
		*legacy = true;
		kb_put(&k, "L", 1);
		kb_field(&k, method);
		kb_field(&k, m->ruri_raw);
		kb_field(&k, m->from.tag);
		kb_field(&k, m->call_id);
		kb_put(&k, num, sizeof(num));
		kb_field(&k, m->via.raw);
	}
	return kb_done(&k);
}

struct slice txn_key_client(struct txn_layer *l, struct slice method, struct slice branch)
{
	struct kb k = { l, 0, false };

	kb_put(&k, "C", 1);
	kb_field(&k, method);
	kb_field(&k, branch);
	return kb_done(&k);
}

char *txn_key_dup(struct slice key)
{
	char *p = malloc(key.len ? key.len : 1);

	if (p && key.len)
		memcpy(p, key.p, key.len);
	return p;
}

/* ---- table ------------------------------------------------------------------ */

struct txn *txn_lookup(struct txn_layer *l, struct slice key, const struct slice *tag, bool ack)
{
	uint64_t h;

	if (!key.p)
		return NULL;
	h = htab_hash(&l->table, key.p, key.len);
	for (struct htab_node *n = htab_find(&l->table, h); n; n = htab_next(&l->table, n)) {
		struct txn *t = (struct txn *)((char *)n - offsetof(struct txn, hnode));
		if (t->key_len != key.len || memcmp(t->key, key.p, key.len) != 0)
			continue;
		if (tag && t->server) {
			const struct txn_server *st = (const struct txn_server *)t;
			if (ack ? !st->status || !slice_eq(st->resp_tag, *tag)
				: !slice_eq(st->to_tag, *tag))
				continue;
		}
		return t;
	}
	return NULL;
}

bool txn_room(const struct txn_layer *l)
{
	return (uint64_t)l->stats.servers + l->stats.clients <
	       (uint64_t)l->conf.max_transactions + (l->priority ? l->conf.reserve : 0);
}

void txn_attach(struct txn_layer *l, struct txn *t)
{
	t->l = l;
	t->tm[0] = (struct txn_timer){ .idx = UINT32_MAX, .slot = 0, .t = t };
	t->tm[1] = (struct txn_timer){ .idx = UINT32_MAX, .slot = 1, .t = t };
	t->next = l->all;
	t->prev = NULL;
	if (l->all)
		l->all->prev = t;
	l->all = t;
	if (t->server)
		l->stats.servers++;
	else
		l->stats.clients++;
	/* txn_room bounds the table; an entry past its bound stays unmatched */
	if (t->key)
		t->linked = htab_insert(&l->table, &t->hnode,
					htab_hash(&l->table, t->key, t->key_len)) == 0;
}

static void unlink_table(struct txn *t)
{
	if (!t->linked)
		return;
	htab_remove(&t->l->table, &t->hnode);
	t->linked = false;
}

/* ---- timer heap --------------------------------------------------------------- */

static bool tm_less(const struct txn_timer *a, const struct txn_timer *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_place(struct txn_layer *l, uint32_t i, struct txn_timer *x)
{
	l->heap[i] = x;
	x->idx = i;
}

static void sift_up(struct txn_layer *l, uint32_t i)
{
	struct txn_timer *x = l->heap[i];

	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (!tm_less(x, l->heap[p]))
			break;
		heap_place(l, i, l->heap[p]);
		i = p;
	}
	heap_place(l, i, x);
}

static void sift_down(struct txn_layer *l, uint32_t i)
{
	struct txn_timer *x = l->heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= l->heap_len)
			break;
		if (c + 1 < l->heap_len && tm_less(l->heap[c + 1], l->heap[c]))
			c++;
		if (!tm_less(l->heap[c], x))
			break;
		heap_place(l, i, l->heap[c]);
		i = c;
	}
	heap_place(l, i, x);
}

void txn_timer_stop(struct txn *t, int slot)
{
	struct txn_layer *l = t->l;
	struct txn_timer *x = &t->tm[slot];
	uint32_t i = x->idx;

	if (i == UINT32_MAX)
		return;
	x->idx = UINT32_MAX;
	l->heap_len--;
	if (i == l->heap_len)
		return;
	struct txn_timer *y = l->heap[l->heap_len];
	heap_place(l, i, y);
	sift_down(l, i);
	sift_up(l, y->idx);
}

/* Arm (or re-arm) one timer. The heap holds at most two entries per
 * transaction and its room is reserved when the transaction is made, so this
 * cannot fail. */
void txn_timer_set(struct txn *t, int slot, uint64_t due)
{
	struct txn_layer *l = t->l;
	struct txn_timer *x = &t->tm[slot];

	txn_timer_stop(t, slot);
	x->due = due;
	x->seq = l->timer_seq++;
	heap_place(l, l->heap_len++, x);
	sift_up(l, x->idx);
}

/* Make room in the heap for the two timers of one more transaction. */
static int heap_reserve(struct txn_layer *l)
{
	uint64_t need = 2 * ((uint64_t)l->stats.servers + l->stats.clients + 1);

	if (need <= l->heap_cap)
		return 0;
	if (need > UINT32_MAX / 2)
		return ENOMEM;
	uint32_t cap = l->heap_cap ? l->heap_cap : 64;
	while (cap < need)
		cap *= 2;
	struct txn_timer **nh = realloc(l->heap, (size_t)cap * sizeof(*nh));
	if (!nh)
		return ENOMEM;
	l->heap = nh;
	l->heap_cap = cap;
	return 0;
}

int txn_reserve(struct txn_layer *l)
{
	return heap_reserve(l);
}

/* ---- ending -------------------------------------------------------------------- */

static bool settled(enum txn_state st)
{
	return st == TXN_S_COMPLETED || st == TXN_S_CONFIRMED || st == TXN_S_ACCEPTED ||
	       st == TXN_S_TERMINATED;
}

void txn_set_state(struct txn *t, enum txn_state st)
{
	t->l->stats.settled += (uint32_t)settled(st) - (uint32_t)settled(t->state);
	t->state = st;
}

void txn_end(struct txn *t, uint64_t now_ms)
{
	if (t->state == TXN_S_TERMINATED)
		return;
	txn_set_state(t, TXN_S_TERMINATED);
	unlink_table(t);
	txn_timer_stop(t, TXN_T_RETX);
	txn_timer_set(t, TXN_T_END, now_ms);
}

static void destroy(struct txn *t)
{
	struct txn_layer *l = t->l;

	txn_timer_stop(t, TXN_T_RETX);
	txn_timer_stop(t, TXN_T_END);
	unlink_table(t);
	if (t->prev)
		t->prev->next = t->next;
	else
		l->all = t->next;
	if (t->next)
		t->next->prev = t->prev;
	if (t->server)
		l->stats.servers--;
	else
		l->stats.clients--;
	if (settled(t->state))
		l->stats.settled--;
	free(t->key);
	if (t->server)
		txn_server_destroy(txn_to_server(t));
	else
		txn_client_destroy(txn_to_client(t));
}

int txn_send(struct txn *t, const char *buf, size_t len)
{
	return t->l->ops.send(t->l->arg, &t->peer, buf, len);
}

/* ---- the layer ------------------------------------------------------------------ */

/* See txn.h. Fails with EINVAL on a zero timer or table size (or a missing
 * send callback), ENOMEM. */
int txn_layer_new(struct txn_layer **lp, const struct txn_conf *c, const struct txn_ops *ops,
		  void *arg)
{
	struct txn_layer *l;
	int rc;

	if (!lp || !c || !ops || !ops->send || !c->t1_ms || !c->t2_ms || !c->t4_ms ||
	    !c->max_transactions || c->t1_ms > UINT32_MAX / 64)
		return EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return ENOMEM;
	l->conf = *c;
	l->ops = *ops;
	l->arg = arg;
	l->lim = SIP_LIMITS_DEFAULT;
	l->scratch_cap = l->lim.max_headers + 32;
	l->scratch = calloc(l->scratch_cap, sizeof(*l->scratch));
	/* the layer's own CANCELs come on top of max_transactions */
	rc = l->scratch ? htab_init(&l->table, ((size_t)c->max_transactions + c->reserve) * 2)
			: ENOMEM;
	if (rc) {
		free(l->scratch);
		free(l);
		return rc; /* EIO: no secret key, and peers could flood one bucket */
	}
	*lp = l;
	return 0;
}

/* See txn.h. No callback is made. */
void txn_layer_free(struct txn_layer **lp)
{
	struct txn_layer *l = lp ? *lp : NULL;

	if (!l)
		return;
	while (l->all)
		destroy(l->all);
	free(l->heap);
	htab_fini(&l->table);
	free(l->scratch);
	free(l->kbuf);
	free(l);
	*lp = NULL;
}

/* See txn.h (added): the limits the user's messages may reach; the header
 * count bounds the scratch array used to parse responses and requests the
 * user hands in. Default SIP_LIMITS_DEFAULT. Returns 0 or ENOMEM. */
int txn_layer_set_limits(struct txn_layer *l, const struct sip_limits *lim)
{
	uint32_t cap = lim->max_headers + 32;
	struct sip_hdr *s;

	if (cap < lim->max_headers)
		return EINVAL;
	s = calloc(cap, sizeof(*s));
	if (!s)
		return ENOMEM;
	free(l->scratch);
	l->scratch = s;
	l->scratch_cap = cap;
	l->lim = *lim;
	return 0;
}

void txn_layer_priority(struct txn_layer *l, bool on)
{
	l->priority = on;
}

void txn_layer_shed(struct txn_layer *l, bool on)
{
	l->shed = on;
}

enum txn_recv txn_receive(struct txn_layer *l, const struct sip_msg *m,
			  const struct txn_peer *from, uint64_t now_ms)
{
	if (m->request)
		return txn_server_receive(l, m, from, now_ms);
	return txn_client_receive(l, m, now_ms);
}

/* See txn.h. Every due timer fires in deadline order; a timer re-armed with
 * a deadline not after now fires in the same call (reliable transports use
 * zero for D, I, J and K). */
void txn_tick(struct txn_layer *l, uint64_t now_ms)
{
	while (l->heap_len && l->heap[0]->due <= now_ms) {
		struct txn_timer *x = l->heap[0];
		struct txn *t = x->t;
		int slot = x->slot;

		txn_timer_stop(t, slot);
		if (t->state == TXN_S_TERMINATED) {
			bool report = !t->internal;
			struct txn_server *st = t->server ? txn_to_server(t) : NULL;
			struct txn_client *ct = t->server ? NULL : txn_to_client(t);
			if (report && l->ops.terminated)
				l->ops.terminated(l->arg, st, ct);
			destroy(t);
			continue;
		}
		if (t->server)
			txn_server_timer(txn_to_server(t), slot, now_ms);
		else
			txn_client_timer(txn_to_client(t), slot, now_ms);
	}
}

void txn_layer_stats(const struct txn_layer *l, struct txn_stats *out)
{
	*out = l->stats;
}
