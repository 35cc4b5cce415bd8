/*
 * proxy/core.c: the proxy core (RFC 3261 16). See proxy.h.
 *
 * A `struct call` is one proxied request: its server transaction, its
 * branches (one client transaction each), the best final response so far,
 * and for an INVITE its timer C and call record. It lives while its server
 * transaction or any client transaction does (txn/ reports each end through
 * proxy_terminated), and is reached only through them.
 *
 * A `struct dialog` is a confirmed call: from the first 2xx to the final
 * response of a BYE (or the lifetime cap). In-dialog requests are checked
 * against it: the tags must name one side, and the request must come from
 * where that side is. They go to the other side the way it is reachable (its
 * registration, or the connection of its INVITE), which works behind NAT and
 * over TCP. The dialog carries the call record on to its end.
 *
 * Group commit: the 2xx that confirms a dialog and the final response to a
 * BYE that ended a call are held (hold.c) until the row they tell about is
 * durable (proxy_durable); see proxy.h.
 *
 * Guide: caller-ID manipulation (Cookbook) is refused before a request
 * reaches here (server/, policy/identity); media = srtp-required is enforced
 * here on the offer and on every answer (policy_media), and a sips: dialog
 * is never continued over plain transport (RFC 5630, no bid-down).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "../auth/auth.h"
#include "../log/log.h"
#include "../policy/policy.h"
#include "internal.h"

#define CALL_MAX_BRANCHES 100
#define DIALOG_LIFETIME_MS (12ull * 3600 * 1000) /* a dialog nobody ends */
#define PROXY_OUT_CAP (65536 + 2048)             /* max_message plus what we add */
#define PROXY_HOLD_MAX_DEFAULT 200000            /* hold_max 0 */

struct call;
struct dialog;

/* What a call detail record needs, kept compact while the call lives (a
 * struct store_cdr is a few KiB of fixed arrays). */
struct cdr_info {
	char *call_id, *caller, *auth_user, *callee, *src;
	char *location;            /* an emergency call's location sent, or NULL */
	bool emergency;
	char transport[8];
	int64_t start_ms, answer_ms; /* unix milliseconds */
	char peer[STORE_PEER_MAX];   /* calls beyond the building (proxy_outside) */
	char klass[STORE_CLASS_MAX];
	char dialed[STORE_DIALED_MAX];
	char number[STORE_NUMBER_MAX];
};

struct branch {
	struct call *call;
	struct txn_client *ct;  /* NULL once terminated */
	struct net_msg way;     /* how the target is reached */
	uint16_t status;        /* final status, 0 while pending */
	bool provisional;       /* a 1xx arrived */
	char *contact;          /* serial: its Request-URI, kept until it is started */
	char label[STORE_PEER_MAX]; /* proxy_target.label ("" none) */
	struct branch_cred *cred;  /* proxy_target.cred, copied; NULL none */
	bool auth_sent;            /* resubmitted with our credentials (once) */
	int32_t cseq_delta;        /* 1 once resubmitted: our CSeq is the caller's + 1 */
};

/* A copy of a target's credentials, wiped when freed. */
struct branch_cred {
	char *user, *password, *realm;
};

struct call {
	struct call *prev, *next;  /* p->calls: for teardown only */
	struct call *tc_prev, *tc_next; /* timer C queue (INVITE) */
	bool in_tc;
	struct call *d_prev, *d_next; /* the calls of dlg */
	struct proxy *p;
	struct txn_server *st;     /* NULL once terminated */
	struct txn_peer upstream;  /* the caller: where responses go */
	enum sip_method mid;
	bool final_sent, cancelled, answered, timer_c;
	bool media_refused;        /* a branch answered without SRTP: its leg was ended */
	uint64_t timer_c_ms;       /* INVITE: when timer C fires (monotonic) */
	uint16_t best;             /* best final status so far */
	char *best_buf;            /* its bytes, our Via removed */
	size_t best_len;
	char best_tag[64];         /* its To tag (longer ones: the layer finds it) */
	size_t best_tag_len;
	struct dialog *dlg;        /* an in-dialog request: its dialog */
	struct cdr_info *cdr;      /* an INVITE out of dialog */
	char *from_tag;            /* an INVITE: the caller's From tag, for the dialog its
				      2xx makes (kept here, the request is not parsed again) */
	int from_side;             /* which side sent it (0 caller, 1 callee) */
	int32_t cseq_delta;        /* in-dialog: added toward the callee, taken back upstream */
	bool serial;               /* branches tried one after another (proxy_fork_opts.serial) */
	bool any_media;            /* answers are not held to the media policy (emergency) */
	bool emergency;            /* an emergency call: its dialog may use the reserve */
	size_t nstarted;           /* serial: branches started so far */
	size_t counted;            /* serial: the branch whose label the owner counts the
				      call against (the first, or ops->failover's last yes) */
	uint64_t wait_seq;         /* the batch its final answer waits on (a dialog's
				      row, a BYE's record); 0: none */
	uint32_t nheld;            /* its answers in p->hold */
	bool unstored;             /* refused: its dialog's row was not stored */
	char *extra;               /* serial: the extra header lines, for later branches */
	char *body, *body_type;    /* a body that replaces the request's (proxy_fork_opts.body) */
	size_t body_len;
	char loop_hash[17];        /* the request's proxy_loop_hash, for every branch's Via
				      (computed once: proxy_check's, or in call_new) */
	uint32_t cred_hdr;         /* proxy_fwd.credentials_hdr of every branch: the
				      consumed Proxy-Authorization (proxy_checked) */
	size_t nbr, nfinal;
	struct branch br[];
};

struct dialog {
	struct htab_node node;     /* p->dialogs, keyed by Call-ID */
	struct dialog *exp_prev, *exp_next; /* lifetime queue */
	struct call *calls;        /* in-dialog requests in flight */
	char *call_id, *tag[2];    /* tag[0]: the caller's From tag, tag[1]: the callee's */
	struct net_msg way[2];     /* how each side is reached */
	uint64_t expires_ms;
	char *contact[2];          /* a stream side's registered contact (ops->reach), or NULL */
	uint64_t seq;              /* the batch its row goes in: until it is durable
				      the callee's 2xx retransmissions are absorbed */
	struct cdr_info *cdr;      /* the call's record, written when it ends */
	int32_t cseq_delta;        /* added to the caller's CSeqs toward the callee */
	bool emergency;            /* an emergency call's (kept with it: proxy_restore) */
};

struct proxy {
	struct proxy_conf conf;
	const struct proxy_ops *ops;
	void *arg;
	struct txn_layer *txn;
	struct hash_key loop_key;  /* proxy_loop_hash */
	char *out;                 /* PROXY_OUT_CAP: every message we build */
	struct store_cdr *rec;     /* the record being handed over */
	struct store_dialog *dlg_rec; /* a dialog being handed over (dialog_up) */
	uint64_t branch_seq;       /* makes our Via branches unique */
	struct call *calls;
	size_t ncalls;
	struct call *tc_head, *tc_tail;       /* timer C, in deadline order */
	struct htab dialogs;
	struct dialog *exp_head, *exp_tail;   /* dialog lifetime, in expiry order */
	uint64_t dialogs_refused;
	uint64_t dialogs_reserve_used; /* emergency dialogs beyond max_dialogs */
	struct proxy_hold hold;    /* answers waiting for their batch (hold.c) */
	uint64_t durable;          /* every batch up to this one is durable */
	uint64_t held, released, hold_full, unstored;
	uint64_t loop_hashes;      /* proxy_stats.loop_hashes */
	struct log_limit hold_log;
};

static void maybe_send_best(struct call *c);
static bool hold_answer(struct call *c, uint16_t status, const char *reason, const char *buf,
			size_t len, struct slice to_tag);

/* ---- helpers -------------------------------------------------------------------- */

static char *dup_slice(struct slice v)
{
	char *s = malloc(v.len + 1);

	if (s) {
		if (v.len)
			memcpy(s, v.p, v.len);
		s[v.len] = '\0';
	}
	return s;
}

static uint64_t now_ms(const struct proxy *p)
{
	return p->ops->now_ms(p->arg);
}

static void cdr_info_free(struct cdr_info *ci)
{
	if (!ci)
		return;
	free(ci->call_id);
	free(ci->caller);
	free(ci->auth_user);
	free(ci->callee);
	free(ci->src);
	free(ci->location);
	free(ci);
}

static struct cdr_info *cdr_info_new(struct proxy *p, const struct sip_msg *m,
				     const struct proxy_caller *who)
{
	struct cdr_info *ci = calloc(1, sizeof(*ci));
	char src[80];

	if (!ci)
		return NULL;
	net_addr_fmt(src, sizeof(src), who->in->tp, &who->in->src);
	ci->call_id = dup_slice(m->call_id);
	ci->caller = dup_slice(m->from.uri.raw);
	ci->auth_user = dup_slice(who->user);
	ci->callee = dup_slice(m->ruri_raw);
	ci->src = dup_slice(slice_cstr(src));
	base_strcpy(ci->transport, sizeof(ci->transport), net_transport_name(who->in->tp));
	if (who->outside) {
		const struct proxy_outside *o = who->outside;
		base_strcpy(ci->peer, sizeof(ci->peer), o->peer ? o->peer : "");
		base_strcpy(ci->klass, sizeof(ci->klass), o->klass ? o->klass : "");
		base_strcpy(ci->dialed, sizeof(ci->dialed), o->dialed ? o->dialed : "");
		base_strcpy(ci->number, sizeof(ci->number), o->number ? o->number : "");
	}
	ci->start_ms = p->ops->wall_ms(p->arg);
	if (!ci->call_id || !ci->caller || !ci->auth_user || !ci->callee || !ci->src) {
		cdr_info_free(ci);
		return NULL;
	}
	return ci;
}

/* Hand over the record of a call attempt that ended with `status` (the
 * final response of the INVITE) and free it. hangup: "none" when never
 * answered. */
static uint64_t cdr_write(struct proxy *p, struct cdr_info *ci, int status, const char *hangup)
{
	struct store_cdr *c = p->rec;
	uint64_t seq;

	if (!ci)
		return 0;
	memset(c, 0, sizeof(*c));
	base_strcpy(c->call_id, sizeof(c->call_id), ci->call_id);
	base_strcpy(c->caller, sizeof(c->caller), ci->caller);
	base_strcpy(c->auth_user, sizeof(c->auth_user), ci->auth_user);
	base_strcpy(c->callee, sizeof(c->callee), ci->callee);
	base_strcpy(c->src, sizeof(c->src), ci->src);
	base_strcpy(c->transport, sizeof(c->transport), ci->transport);
	c->start_at = ci->start_ms;
	c->answer_at = ci->answer_ms;
	c->emergency = ci->emergency;
	if (ci->location)
		base_strcpy(c->location, sizeof(c->location), ci->location);
	c->end_at = p->ops->wall_ms(p->arg);
	if (c->end_at < c->start_at)
		c->end_at = c->start_at; /* the clock stepped back */
	if (c->answer_at > c->end_at)
		c->answer_at = c->end_at;
	c->final_status = status;
	base_strcpy(c->hangup, sizeof(c->hangup), ci->answer_ms ? hangup : "none");
	memcpy(c->peer, ci->peer, sizeof(c->peer));
	memcpy(c->klass, ci->klass, sizeof(c->klass));
	memcpy(c->dialed, ci->dialed, sizeof(c->dialed));
	memcpy(c->number, ci->number, sizeof(c->number));
	seq = p->ops->record(p->arg, c);
	cdr_info_free(ci);
	return seq;
}

/* Take c out of the timer C queue. */
static void tc_unlink(struct proxy *p, struct call *c)
{
	if (c->tc_prev)
		c->tc_prev->tc_next = c->tc_next;
	else
		p->tc_head = c->tc_next;
	if (c->tc_next)
		c->tc_next->tc_prev = c->tc_prev;
	else
		p->tc_tail = c->tc_prev;
	c->tc_prev = c->tc_next = NULL;
	c->in_tc = false;
}

/* Unlink c from its dialog's list. */
static void call_detach_dialog(struct call *c)
{
	if (!c->dlg)
		return;
	if (c->d_prev)
		c->d_prev->d_next = c->d_next;
	else
		c->dlg->calls = c->d_next;
	if (c->d_next)
		c->d_next->d_prev = c->d_prev;
	c->d_prev = c->d_next = NULL;
	c->dlg = NULL;
}

static void call_attach_dialog(struct call *c, struct dialog *d)
{
	c->dlg = d;
	c->d_prev = NULL;
	c->d_next = d->calls;
	if (d->calls)
		d->calls->d_prev = c;
	d->calls = c;
}

static void call_free(struct call *c)
{
	struct proxy *p = c->p;

	if (c->prev)
		c->prev->next = c->next;
	else
		p->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	p->ncalls--;
	if (c->in_tc)
		tc_unlink(p, c);
	if (c->nheld)
		proxy_hold_forget(&p->hold, c); /* they go on statelessly */
	call_detach_dialog(c);
	if (c->cdr)
		cdr_write(p, c->cdr, c->best ? c->best : 500, "none");
	for (size_t i = 0; i < c->nbr; i++) {
		struct branch_cred *bc = c->br[i].cred;
		free(c->br[i].contact);
		if (bc) {
			if (bc->password)
				OPENSSL_cleanse(bc->password, strlen(bc->password));
			free(bc->user);
			free(bc->password);
			free(bc->realm);
			free(bc);
		}
	}
	free(c->extra);
	free(c->body);
	free(c->body_type);
	free(c->best_buf);
	free(c->from_tag);
	free(c);
}

/* A call ends when nothing refers to it: server and client transactions gone. */
static void call_maybe_free(struct call *c)
{
	if (c->st)
		return;
	for (size_t i = 0; i < c->nbr; i++)
		if (c->br[i].ct)
			return;
	call_free(c);
}

/* Does a final answer of c wait for its batch (or for answers held before
 * it, so that they go out in order)? */
static bool must_wait(const struct call *c, uint16_t status)
{
	return status >= 200 && (c->nheld || (c->wait_seq && c->wait_seq > c->p->durable));
}

/* Send bytes upstream now: through the server transaction while it lives,
 * else statelessly the way the request came (2xx retransmissions, late 2xx
 * of other forks). */
static void send_now(struct call *c, uint16_t status, const char *buf, size_t len,
		     struct slice to_tag)
{
	struct proxy *p = c->p;

	if (c->st && (to_tag.len > 64 ? txn_server_respond(c->st, status, buf, len, now_ms(p))
				       : txn_server_respond_tag(c->st, status, buf, len, to_tag,
								now_ms(p))) == 0)
		return;
	(void)p->ops->send(p->arg, &c->upstream, buf, len);
}

/* Send bytes upstream, or hold them until the batch they tell about is
 * durable. */
static void send_upstream(struct call *c, uint16_t status, const char *buf, size_t len,
			  struct slice to_tag)
{
	if (c->unstored || (must_wait(c, status) && hold_answer(c, status, NULL, buf, len, to_tag)))
		return;
	send_now(c, status, buf, len, to_tag);
}

/* Answer with a generated response, now or once its batch is durable. */
static void answer(struct call *c, const struct sip_msg *req, uint16_t status, const char *reason)
{
	if (c->unstored ||
	    (must_wait(c, status) && hold_answer(c, status, reason, NULL, 0, SLICE_NULL)))
		return;
	c->p->ops->answer(c->p->arg, &c->upstream, c->st, req, status, reason);
}

/* The Via sent-by for sending on `way`: the local address it uses, or our
 * first listener of that transport. */
static void local_hostport(const struct proxy *p, const struct net_msg *way, char *out,
			   size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	const struct net_addr *a = &way->local;
	struct sip_buf b;

	if (a->ss.ss_family != AF_INET && a->ss.ss_family != AF_INET6) {
		for (size_t i = 0; i < p->conf.nlisteners; i++) {
			if (p->conf.listeners[i].tp == way->tp &&
			    p->conf.listeners[i].addr.ss.ss_family == way->src.ss.ss_family) {
				a = &p->conf.listeners[i].addr;
				break;
			}
		}
	}
	net_addr_host(a, host, sizeof(host));
	/* piece by piece: snprintf costs about a thousand instructions, and a
	 * call writes this several times */
	sip_buf_init(&b, out, cap - 1);
	if (a->ss.ss_family == AF_INET6)
		sip_buf_put(&b, "[", 1);
	sip_buf_str(&b, host);
	sip_buf_str(&b, a->ss.ss_family == AF_INET6 ? "]:" : ":");
	sip_buf_u32(&b, net_addr_port(a));
	out[b.overflow ? 0 : b.len] = '\0';
}

static const char *via_transport(enum net_transport tp)
{
	return tp == NET_TCP ? "TCP" : tp == NET_TLS ? "TLS" : "UDP";
}

/* Our Via for sending on transport tp from hostport, with the branch
 * "z9hG4bK" HASH TAIL, into via (cap bytes; "" when it does not fit), and
 * the branch alone into branch (bcap bytes) when branch is not NULL. */
static void via_write(char *via, size_t cap, char *branch, size_t bcap, enum net_transport tp,
		      const char *hostport, const char hash[17], const char *tail)
{
	struct sip_buf b;
	size_t start;

	sip_buf_init(&b, via, cap - 1);
	sip_buf_str(&b, "SIP/2.0/");
	sip_buf_str(&b, via_transport(tp));
	sip_buf_put(&b, " ", 1);
	sip_buf_str(&b, hostport);
	sip_buf_str(&b, ";branch=");
	start = b.len;
	sip_buf_str(&b, "z9hG4bK");
	sip_buf_str(&b, hash);
	sip_buf_str(&b, tail);
	if (branch) {
		size_t n = b.overflow || b.len - start >= bcap ? 0 : b.len - start;
		memcpy(branch, via + start, n);
		branch[n] = '\0';
	}
	sip_buf_str(&b, ";rport");
	via[b.overflow ? 0 : b.len] = '\0';
}

/* The end of a Record-Route URI naming our side on transport tp. */
static const char *rr_params(enum net_transport tp)
{
	return tp == NET_TCP ? ";transport=tcp;lr>\r\n"
	       : tp == NET_TLS ? ";transport=tls;lr>\r\n"
			       : ";lr>\r\n";
}

/* The leading Route values that name this server (loose routing: ours are
 * consumed, 16.4), and all of them. */
static uint32_t count_routes(const struct proxy *p, const struct sip_msg *m, uint32_t *total)
{
	uint32_t own = 0, n = 0;
	bool leading = true;

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_ROUTE); h; h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value, item;
		while (sip_list_next(&item, &rest) == 0) {
			struct sip_nameaddr na;
			enum sip_err e;
			n++;
			if (leading && sip_nameaddr_parse(&na, item, &p->conf.lim, &e) == 0 &&
			    p->ops->ours(p->arg, na.uri.host))
				own++;
			else
				leading = false;
		}
	}
	if (total)
		*total = n;
	return own;
}

/* m's proxy_loop_hash, counted (proxy_stats.loop_hashes). */
static void count_loop_hash(struct proxy *p, const struct sip_msg *m, char out[17])
{
	p->loop_hashes++;
	proxy_loop_hash(&p->loop_key, m, out);
}

/* Loop detection (16.3 step 4): one of our Vias carrying this request's hash.
 * The hash (hash[0] == '\0': not computed yet) is computed only when a Via of
 * ours with a branch long enough to hold one is found: a request from a phone
 * carries none, and one that is answered here (a challenge) never needs it. */
static bool looped(struct proxy *p, const struct sip_msg *m, char hash[17])
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_VIA); h; h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value;
		struct sip_via v;
		while (sip_via_next(&v, &rest, &p->conf.lim) == 0) {
			if (v.branch.len <= 7 + 16 || !p->ops->ours(p->arg, v.host))
				continue;
			if (!hash[0])
				count_loop_hash(p, m, hash);
			if (memcmp(v.branch.p + 7, hash, 16) == 0)
				return true;
		}
	}
	return false;
}

static struct txn_peer peer_of_way(const struct net_msg *way)
{
	return (struct txn_peer){ *way, way->src };
}

/* Is `from` where side `side` of d is? (Same host: a phone may use another
 * port for a new connection.) */
static bool same_host(const struct net_addr *a, const struct net_addr *b)
{
	char x[INET6_ADDRSTRLEN], y[INET6_ADDRSTRLEN];

	net_addr_host(a, x, sizeof(x));
	net_addr_host(b, y, sizeof(y));
	return strcmp(x, y) == 0;
}

/* ---- dialogs -------------------------------------------------------------------- */

/* The dialog of m and which side sent it, or NULL. */
static struct dialog *dialog_find(struct proxy *p, const struct sip_msg *m, int *side)
{
	uint64_t h = htab_hash(&p->dialogs, m->call_id.p, m->call_id.len);

	for (struct htab_node *n = htab_find(&p->dialogs, h); n; n = htab_next(&p->dialogs, n)) {
		struct dialog *d = (struct dialog *)n;
		if (!slice_eq(slice_cstr(d->call_id), m->call_id))
			continue;
		for (int k = 0; k < 2; k++) {
			if (slice_eq(slice_cstr(d->tag[k]), m->from.tag) &&
			    slice_eq(slice_cstr(d->tag[1 - k]), m->to.tag)) {
				*side = k;
				return d;
			}
		}
	}
	return NULL;
}

static void dialog_free(struct dialog *d)
{
	cdr_info_free(d->cdr);
	free(d->contact[0]);
	free(d->contact[1]);
	free(d->call_id);
	free(d->tag[0]);
	free(d->tag[1]);
	free(d);
}

/* "udp:1.2.3.4:5060" of an address reached over tp ("" when none). */
static void addr_text(char *out, size_t cap, enum net_transport tp, const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET || a->ss.ss_family == AF_INET6)
		net_addr_fmt(out, cap, tp, a);
	else
		out[0] = '\0';
}

/* Hand a confirmed dialog to ops->dialog_up in its stored form. */
static uint64_t dialog_keep(struct proxy *p, const struct dialog *d)
{
	struct store_dialog *sd = p->dlg_rec;
	int64_t wall = p->ops->wall_ms(p->arg);

	if (!p->ops->dialog_up)
		return 0;
	memset(sd, 0, sizeof(*sd));
	base_strcpy(sd->call_id, sizeof(sd->call_id), d->call_id);
	for (int k = 0; k < 2; k++) {
		base_strcpy(sd->tag[k], sizeof(sd->tag[k]), d->tag[k]);
		addr_text(sd->way[k], sizeof(sd->way[k]), d->way[k].tp, &d->way[k].src);
		addr_text(sd->local[k], sizeof(sd->local[k]), d->way[k].tp, &d->way[k].local);
	}
	if (d->cdr) {
		base_strcpy(sd->caller, sizeof(sd->caller), d->cdr->caller);
		base_strcpy(sd->auth_user, sizeof(sd->auth_user), d->cdr->auth_user);
		base_strcpy(sd->callee, sizeof(sd->callee), d->cdr->callee);
		base_strcpy(sd->src, sizeof(sd->src), d->cdr->src);
		base_strcpy(sd->transport, sizeof(sd->transport), d->cdr->transport);
		sd->start_at = d->cdr->start_ms;
		sd->answer_at = d->cdr->answer_ms;
		memcpy(sd->peer, d->cdr->peer, sizeof(sd->peer));
		memcpy(sd->klass, d->cdr->klass, sizeof(sd->klass));
		memcpy(sd->dialed, d->cdr->dialed, sizeof(sd->dialed));
		memcpy(sd->number, d->cdr->number, sizeof(sd->number));
		if (d->cdr->location)
			base_strcpy(sd->location, sizeof(sd->location), d->cdr->location);
	}
	sd->emergency = d->emergency;
	sd->expires_at = wall + (int64_t)(d->expires_ms - now_ms(p));
	sd->cseq_delta = d->cseq_delta;
	return p->ops->dialog_up(p->arg, sd);
}

/* The inverse of dialog_keep's addr_text. */
void proxy_dialog_ways(struct net_msg way[2], const struct store_dialog *d)
{
	net_msg_from_text(&way[0], d->way[0], d->local[0]);
	net_msg_from_text(&way[1], d->way[1], d->local[1]);
}

/* End dialog d: its record says who hung up; calls in flight forget it.
 * Returns the batch the record waits on (ops->record). */
static uint64_t dialog_end(struct proxy *p, struct dialog *d, const char *hangup)
{
	uint64_t seq;

	if (p->ops->dialog_down)
		p->ops->dialog_down(p->arg, d->call_id, d->tag[0], d->tag[1]);
	seq = cdr_write(p, d->cdr, 200, hangup);
	d->cdr = NULL;
	while (d->calls)
		call_detach_dialog(d->calls);
	htab_remove(&p->dialogs, &d->node);
	if (d->exp_prev)
		d->exp_prev->exp_next = d->exp_next;
	else
		p->exp_head = d->exp_next;
	if (d->exp_next)
		d->exp_next->exp_prev = d->exp_prev;
	else
		p->exp_tail = d->exp_prev;
	dialog_free(d);
	return seq;
}

static void dialog_create(struct proxy *p, const struct sip_msg *resp, struct call *c,
			  const struct branch *b)
{
	struct dialog *d;
	int side;

	if (!c->st || !c->from_tag || !resp->to.has_tag || dialog_find(p, resp, &side))
		return;
	if (!proxy_dialog_room(p->dialogs.n, p->conf.max_dialogs, p->conf.reserved_dialogs,
			       c->emergency)) {
		p->dialogs_refused++;
		log_warn("dialog table full (%u%s): %.*s not tracked", p->conf.max_dialogs,
			 c->emergency ? " and the emergency reserve" : "",
			 (int)(resp->call_id.len > 64 ? 64 : resp->call_id.len), resp->call_id.p);
		return;
	}
	if (p->dialogs.n >= p->conf.max_dialogs)
		p->dialogs_reserve_used++;
	d = calloc(1, sizeof(*d));
	if (!d)
		return;
	d->call_id = dup_slice(resp->call_id);
	d->tag[0] = c->from_tag; /* the dialog's now */
	c->from_tag = NULL;
	d->tag[1] = dup_slice(resp->to.tag);
	if (!d->call_id || !d->tag[0] || !d->tag[1] ||
	    htab_insert(&p->dialogs, &d->node,
			htab_hash(&p->dialogs, resp->call_id.p, resp->call_id.len)) != 0) {
		dialog_free(d);
		return;
	}
	d->way[0] = c->upstream.via;
	d->way[1] = b->way;
	d->cseq_delta = b->cseq_delta;
	d->emergency = c->emergency;
	d->cdr = c->cdr; /* the record goes on with the dialog */
	c->cdr = NULL;
	if (d->cdr)
		d->cdr->answer_ms = p->ops->wall_ms(p->arg);
	d->expires_ms = now_ms(p) + DIALOG_LIFETIME_MS;
	/* the 2xx waits until the dialog's row is durable */
	d->seq = dialog_keep(p, d);
	if (d->seq > c->wait_seq)
		c->wait_seq = d->seq;
	d->exp_prev = p->exp_tail;
	if (p->exp_tail)
		p->exp_tail->exp_next = d;
	else
		p->exp_head = d;
	p->exp_tail = d;
}

bool proxy_emergency_in_dialog(struct proxy *p, const struct sip_msg *m,
			       const struct net_addr *src)
{
	int side;
	struct dialog *d = m->to.has_tag ? dialog_find(p, m, &side) : NULL;

	return d && d->emergency && same_host(src, &d->way[side].src);
}

bool proxy_dialog_room(size_t n, uint32_t max, uint32_t reserve, bool emergency)
{
	return n < (size_t)max + (emergency ? reserve : 0);
}

/* ---- life cycle -------------------------------------------------------------------- */

int proxy_new(struct proxy **pp, const struct proxy_conf *c, const struct proxy_ops *ops,
	      void *arg, struct txn_layer *txn)
{
	struct proxy *p;
	int rc;

	if (!pp || !c || !ops || !txn || c->max_dialogs == 0)
		return EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return ENOMEM;
	p->conf = *c;
	p->ops = ops;
	p->arg = arg;
	p->txn = txn;
	proxy_hold_init(&p->hold, c->hold_max ? c->hold_max : PROXY_HOLD_MAX_DEFAULT);
	p->hold_log = (struct log_limit){ .per_sec = 1, .what = "group commit" };
	p->out = malloc(PROXY_OUT_CAP);
	p->rec = malloc(sizeof(*p->rec));
	p->dlg_rec = malloc(sizeof(*p->dlg_rec));
	rc = !p->out || !p->rec || !p->dlg_rec ? ENOMEM : 0;
	if (!rc)
		rc = htab_init(&p->dialogs, (size_t)c->max_dialogs + c->reserved_dialogs);
	if (!rc)
		rc = hash_key_random(&p->loop_key);
	if (rc) {
		htab_fini(&p->dialogs);
		free(p->out);
		free(p->rec);
		free(p->dlg_rec);
		free(p);
		return rc;
	}
	*pp = p;
	return 0;
}

void proxy_set_conf(struct proxy *p, const struct proxy_conf *c)
{
	p->conf = *c;
	/* the buckets grow as needed */
	htab_set_max(&p->dialogs, (size_t)c->max_dialogs + c->reserved_dialogs);
	proxy_hold_set_max(&p->hold, c->hold_max ? c->hold_max : PROXY_HOLD_MAX_DEFAULT);
}

static void end_at_shutdown(struct htab_node *n, void *arg)
{
	struct proxy *p = arg;
	struct dialog *d = (struct dialog *)n;

	/* kept dialogs go on in the next run (proxy_restore); others end here */
	if (!p->ops->dialog_up)
		cdr_write(p, d->cdr, 200, "server"); /* frees it */
	else
		cdr_info_free(d->cdr);
	d->cdr = NULL;
	while (d->calls)
		call_detach_dialog(d->calls);
	dialog_free(d);
}

void proxy_free(struct proxy **pp)
{
	struct proxy *p = *pp;

	if (!p)
		return;
	while (p->calls)
		call_free(p->calls);
	htab_drain(&p->dialogs, end_at_shutdown, p);
	htab_fini(&p->dialogs);
	/* answers still held: their calls are gone; the owner committed what
	 * it could before (server_free flushes first) */
	(void)proxy_hold_fini(&p->hold);
	free(p->out);
	free(p->rec);
	free(p->dlg_rec);
	free(p);
	*pp = NULL;
}

void proxy_stats(const struct proxy *p, struct proxy_stats *out)
{
	out->calls = p->ncalls;
	out->dialogs = p->dialogs.n;
	out->dialog_probes = p->dialogs.probes;
	out->dialogs_refused = p->dialogs_refused;
	out->dialogs_reserve_used = p->dialogs_reserve_used;
	out->holding = p->hold.n;
	out->held = p->held;
	out->released = p->released;
	out->hold_full = p->hold_full;
	out->unstored = p->unstored;
	out->loop_hashes = p->loop_hashes;
}

int proxy_restore(struct proxy *p, const struct store_dialog *sd, const struct net_msg way[2],
		  const char *const contact[2])
{
	struct dialog *d;
	struct cdr_info *ci;
	int64_t wall = p->ops->wall_ms(p->arg);
	struct sip_msg key;
	int side;

	memset(&key, 0, sizeof(key));
	key.call_id = slice_cstr(sd->call_id);
	key.from.tag = slice_cstr(sd->tag[0]);
	key.to.tag = slice_cstr(sd->tag[1]);
	if (dialog_find(p, &key, &side))
		return EEXIST;
	ci = calloc(1, sizeof(*ci));
	if (!ci)
		return ENOMEM;
	ci->call_id = dup_slice(slice_cstr(sd->call_id));
	ci->caller = dup_slice(slice_cstr(sd->caller));
	ci->auth_user = dup_slice(slice_cstr(sd->auth_user));
	ci->callee = dup_slice(slice_cstr(sd->callee));
	ci->src = dup_slice(slice_cstr(sd->src));
	base_strcpy(ci->transport, sizeof(ci->transport), sd->transport);
	ci->start_ms = sd->start_at;
	ci->answer_ms = sd->answer_at;
	memcpy(ci->peer, sd->peer, sizeof(ci->peer));
	memcpy(ci->klass, sd->klass, sizeof(ci->klass));
	memcpy(ci->dialed, sd->dialed, sizeof(ci->dialed));
	memcpy(ci->number, sd->number, sizeof(ci->number));
	ci->emergency = sd->emergency;
	if (sd->emergency && sd->location[0] && !(ci->location = strdup(sd->location))) {
		cdr_info_free(ci);
		return ENOMEM;
	}
	if (!ci->call_id || !ci->caller || !ci->auth_user || !ci->callee || !ci->src) {
		cdr_info_free(ci);
		return ENOMEM;
	}
	if (sd->expires_at <= wall) {
		/* over while nobody ran: its record ends at its lifetime */
		if (p->ops->dialog_down)
			p->ops->dialog_down(p->arg, sd->call_id, sd->tag[0], sd->tag[1]);
		cdr_write(p, ci, 200, "timeout");
		return 0;
	}
	if (!proxy_dialog_room(p->dialogs.n, p->conf.max_dialogs, p->conf.reserved_dialogs,
			       sd->emergency)) {
		cdr_info_free(ci);
		return EOVERFLOW;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		cdr_info_free(ci);
		return ENOMEM;
	}
	d->cdr = ci;
	d->emergency = sd->emergency;
	d->call_id = dup_slice(key.call_id);
	d->tag[0] = dup_slice(key.from.tag);
	d->tag[1] = dup_slice(key.to.tag);
	if (!d->call_id || !d->tag[0] || !d->tag[1] ||
	    htab_insert(&p->dialogs, &d->node, htab_hash(&p->dialogs, key.call_id.p,
							   key.call_id.len)) != 0) {
		dialog_free(d);
		return ENOMEM;
	}
	d->way[0] = way[0];
	d->way[1] = way[1];
	for (int k = 0; k < 2 && contact; k++)
		if (contact[k] && contact[k][0])
			d->contact[k] = strdup(contact[k]); /* NULL: found by its way */
	d->cseq_delta = sd->cseq_delta;
	d->expires_ms = now_ms(p) + (uint64_t)(sd->expires_at - wall);
	d->exp_prev = p->exp_tail; /* the store lists them by expiry */
	if (p->exp_tail)
		p->exp_tail->exp_next = d;
	else
		p->exp_head = d;
	p->exp_tail = d;
	return 0;
}

/* The record names the peer of branch b (one with a label): the one that
 * answered, else the one whose response the caller gets, else the last one
 * tried. */
static void note_peer(struct call *c, const struct branch *b)
{
	if (c->cdr && b->label[0])
		memcpy(c->cdr->peer, b->label, sizeof(c->cdr->peer));
}

/* ---- timers ------------------------------------------------------------------------ */

static void timer_c_fire(struct call *c, uint64_t now)
{
	bool ringing = false;

	c->timer_c = true;
	for (size_t i = 0; i < c->nbr; i++) {
		if (c->br[i].ct && !c->br[i].status) {
			txn_client_cancel(c->br[i].ct, now);
			ringing |= c->br[i].provisional;
		}
	}
	if (!ringing) {
		/* no branch rang: nothing will answer the CANCELs soon */
		for (size_t i = 0; i < c->nbr; i++) {
			if (!c->br[i].status) {
				c->br[i].status = 408;
				c->nfinal++;
			}
		}
		maybe_send_best(c);
	}
}

void proxy_tick(struct proxy *p, uint64_t now)
{
	/* Timer C: one timeout for all, so the queue is in deadline order
	 * (after a reload that shortens it, newer calls wait for older ones
	 * at most the old timeout). Calls answered meanwhile leave here. */
	while (p->tc_head && (p->tc_head->final_sent || p->tc_head->timer_c_ms <= now)) {
		struct call *c = p->tc_head;
		tc_unlink(p, c);
		if (!c->final_sent && !c->timer_c)
			timer_c_fire(c, now);
	}
	while (p->exp_head && p->exp_head->expires_ms <= now)
		dialog_end(p, p->exp_head, "timeout");
}

/* ---- forwarding ------------------------------------------------------------------ */

/* Build request m as forwarded toward b->way and start a client transaction
 * for it. ruri: the new Request-URI (or empty). */
static int forward(struct proxy *p, struct call *c, struct branch *b, const struct sip_msg *m,
		   struct slice ruri, bool record_route, struct slice extra, uint32_t skip_routes)
{
	char via[300], hostport[INET6_ADDRSTRLEN + 8], rr[600], branch[48], seq[18];
	struct sip_buf out, rrb;
	struct proxy_fwd f = { 0 };
	struct txn_peer to = peer_of_way(&b->way);
	uint64_t v = ++p->branch_seq;
	size_t i = sizeof(seq) - 1;
	int rc;

	local_hostport(p, &b->way, hostport, sizeof(hostport));
	/* ".SEQ", the branch's number in lowercase hex */
	seq[i] = '\0';
	do
		seq[--i] = "0123456789abcdef"[v & 15];
	while ((v >>= 4) != 0);
	seq[--i] = '.';
	via_write(via, sizeof(via), branch, sizeof(branch), b->way.tp, hostport, c->loop_hash,
		  seq + i);
	sip_buf_init(&rrb, rr, sizeof(rr));
	if (record_route) {
		/* top: the side facing the target; and, when the caller's side
		 * differs (transport or address), the side facing the caller */
		char up[INET6_ADDRSTRLEN + 8];
		local_hostport(p, &c->upstream.via, up, sizeof(up));
		sip_buf_str(&rrb, "Record-Route: <sip:");
		sip_buf_str(&rrb, hostport);
		sip_buf_str(&rrb, rr_params(b->way.tp));
		if (strcmp(up, hostport) != 0 || c->upstream.via.tp != b->way.tp) {
			sip_buf_str(&rrb, "Record-Route: <sip:");
			sip_buf_str(&rrb, up);
			sip_buf_str(&rrb, rr_params(c->upstream.via.tp));
		}
	}
	f.ruri = ruri;
	f.via = slice_cstr(via);
	f.record_route = slice_make(rrb.p, rrb.overflow ? 0 : rrb.len);
	f.skip_routes = skip_routes;
	f.max_forwards = ((m->have & SIP_HAVE_MAX_FORWARDS) ? m->max_forwards : 70) - 1;
	f.strip_identity = true; /* no trusted peers yet: every source is untrusted */
	f.drop_credentials_realm = slice_cstr(p->conf.realm);
	f.credentials_hdr = c->cred_hdr;
	f.extra = extra;
	if (c->body_type) {
		f.replace_body = true;
		f.body = slice_make(c->body, c->body_len);
		f.content_type = slice_cstr(c->body_type);
	}
	f.cseq_delta = c->dlg ? c->cseq_delta : b->cseq_delta;
	sip_buf_init(&out, p->out, PROXY_OUT_CAP);
	rc = proxy_build_request(&out, m, &f);
	if (rc)
		return rc;
	/* we built it: the transaction layer need not parse it again */
	return txn_client_start(&b->ct, p->txn, out.p, out.len, m->method, slice_cstr(branch), &to,
				b, now_ms(p));
}

/* The best response so far goes upstream when every branch has answered
 * (16.7 step 6): 6xx over anything, else the lowest class; 408 when all
 * timed out. */
static void maybe_send_best(struct call *c)
{
	const struct sip_msg *req;

	if (c->final_sent || c->nfinal < c->nbr)
		return;
	c->final_sent = true;
	if (c->timer_c && (!c->best_buf || c->best == 487)) {
		/* timer C cancelled the branches: the caller hears a timeout */
		free(c->best_buf);
		c->best_buf = NULL;
	}
	cdr_write(c->p, c->cdr,
		  c->best_buf	      ? c->best
		  : c->cancelled      ? 487
		  : c->media_refused ? 488
				      : 408,
		  "none");
	c->cdr = NULL;
	if (c->best_buf) {
		send_upstream(c, c->best, c->best_buf, c->best_len,
			      slice_make(c->best_tag, c->best_tag_len));
		/* sent, or held as a copy: the call (kept for its timers) no
		 * longer needs these bytes */
		free(c->best_buf);
		c->best_buf = NULL;
		return;
	}
	req = c->st ? txn_server_request(c->st) : NULL;
	if (!req)
		return;
	if (c->media_refused && !c->cancelled)
		answer(c, req, 488, "SRTP Required");
	else if (c->cancelled)
		answer(c, req, 487, "Request Terminated");
	else
		answer(c, req, 408, "Request Timeout");
}

static bool better(uint16_t cand, uint16_t best)
{
	if (best == 0)
		return true;
	if (cand / 100 == 6)
		return best / 100 != 6;
	if (best / 100 == 6)
		return false;
	return cand / 100 < best / 100;
}

static void cancel_others(struct call *c, const struct branch *keep)
{
	for (size_t i = 0; i < c->nbr; i++)
		if (&c->br[i] != keep && c->br[i].ct && !c->br[i].status)
			txn_client_cancel(c->br[i].ct, now_ms(c->p));
}

/* Sequential forking: does a branch's final status let the next target
 * try? A timeout, 408 or any 5xx does (the peer is down or busy); a 2xx,
 * 3xx, another 4xx or a 6xx is the answer about the call itself. */
static bool fails_over(uint16_t status)
{
	return status == 408 || (status >= 500 && status < 600);
}

/* Serial: may the call (request req) move on to branch i? Yes, unless its
 * label names another peer than the one the owner counts the call against
 * and the owner says no (ops->failover); a yes moves that count. */
static bool may_fail_over(struct call *c, size_t i, const struct sip_msg *req)
{
	const struct proxy_ops *ops = c->p->ops;
	const char *label = c->br[i].label;

	if (!ops->failover || !label[0] || strcmp(label, c->br[c->counted].label) == 0)
		return true;
	if (!ops->failover(c->p->arg, req->call_id, label))
		return false;
	c->counted = i;
	return true;
}

/* A branch of a serial call ended with status: start the next target while
 * the status fails over and the call is still wanted (not answered,
 * cancelled or out of time) and its owner lets it go there (may_fail_over);
 * else close the branches never started, so the best response goes
 * upstream. Call before maybe_send_best. */
static void serial_next(struct call *c, uint16_t status)
{
	const struct sip_msg *req;

	if (!c->serial)
		return;
	req = c->st ? txn_server_request(c->st) : NULL;
	while (c->nstarted < c->nbr) {
		size_t i = c->nstarted++;
		struct branch *b = &c->br[i];
		if (req && fails_over(status) && !c->final_sent && !c->cancelled && !c->timer_c &&
		    may_fail_over(c, i, req) &&
		    forward(c->p, c, b, req, slice_cstr(b->contact), true,
			    slice_cstr(c->extra), count_routes(c->p, req, NULL)) == 0) {
			note_peer(c, b);
			return;
		}
		b->status = 503; /* not tried, or could not be sent */
		c->nfinal++;
	}
}

/* ---- requests -------------------------------------------------------------------- */

/* loop_hash: m's proxy_loop_hash when the caller has it (proxy_check), else
 * NULL and it is computed here. */
static struct call *call_new(struct proxy *p, struct txn_server *st, const struct sip_msg *m,
			     const struct txn_peer *from, size_t nbranches, const char *loop_hash)
{
	struct call *c = calloc(1, sizeof(*c) + nbranches * sizeof(struct branch));

	if (!c)
		return NULL;
	if (m->mid == SIP_M_INVITE && !(c->from_tag = dup_slice(m->from.tag))) {
		free(c);
		return NULL;
	}
	c->p = p;
	c->st = st;
	c->upstream = *from;
	c->mid = m->mid;
	if (loop_hash)
		memcpy(c->loop_hash, loop_hash, sizeof(c->loop_hash));
	else
		count_loop_hash(p, m, c->loop_hash);
	c->nbr = nbranches;
	for (size_t i = 0; i < nbranches; i++)
		c->br[i].call = c;
	c->next = p->calls;
	if (p->calls)
		p->calls->prev = c;
	p->calls = c;
	p->ncalls++;
	txn_server_set_user(st, c);
	return c;
}

static struct proxy_verdict refusal(uint16_t status, const char *reason, const char *event,
				    const char *detail)
{
	struct proxy_verdict v = { status, reason, event, "" };

	if (detail)
		base_strcpy(v.detail, sizeof(v.detail), detail);
	return v;
}

struct proxy_verdict proxy_check(struct proxy *p, const struct sip_msg *m, uint32_t *own_routes,
				 bool *beyond, struct proxy_checked *ck)
{
	char mine[17] = "", *hash = ck ? ck->loop_hash : mine;
	uint32_t total = 0, own = count_routes(p, m, &total);

	if (own_routes)
		*own_routes = own;
	if (beyond)
		*beyond = total > own;
	/* 16.3: Max-Forwards and loops */
	if ((m->have & SIP_HAVE_MAX_FORWARDS) && m->max_forwards == 0)
		return refusal(483, "Too Many Hops", NULL, NULL);
	hash[0] = '\0'; /* computed by looped() if a Via of ours asks, else by the fork */
	if (looped(p, m, hash))
		return refusal(482, "Loop Detected", NULL, NULL);
	return refusal(0, NULL, NULL, NULL);
}

struct proxy_verdict proxy_media(const struct proxy *p, const struct sip_msg *m)
{
	struct policy_verdict pv;
	struct proxy_verdict v;
	struct slice bad;
	char line[64];

	policy_media(&pv, m, p->conf.srtp_required, &bad);
	if (pv.allow)
		return refusal(0, NULL, NULL, NULL);
	v = refusal(pv.status, pv.reason, pv.event, NULL);
	snprintf(v.detail, sizeof(v.detail), "%s (m=%s)", pv.detail,
		 slice_repr(line, sizeof(line), bad, 48));
	return v;
}

void proxy_record_refused(struct proxy *p, const struct sip_msg *m,
			  const struct proxy_caller *who, uint16_t status)
{
	if (m->mid == SIP_M_INVITE)
		cdr_write(p, cdr_info_new(p, m, who), status, "none");
}

static struct branch_cred *cred_copy(const struct proxy_cred *pc)
{
	struct branch_cred *bc = calloc(1, sizeof(*bc));

	if (!bc)
		return NULL;
	bc->user = strdup(pc->user ? pc->user : "");
	bc->password = strdup(pc->password ? pc->password : "");
	bc->realm = strdup(pc->realm ? pc->realm : "");
	if (!bc->user || !bc->password || !bc->realm) {
		if (bc->password)
			OPENSSL_cleanse(bc->password, strlen(bc->password));
		free(bc->user);
		free(bc->password);
		free(bc->realm);
		free(bc);
		return NULL;
	}
	return bc;
}

struct proxy_verdict proxy_fork(struct proxy *p, struct txn_server *st, const struct sip_msg *m,
				const struct txn_peer *from, const struct proxy_target *t,
				size_t n, const struct proxy_fork_opts *o)
{
	const struct proxy_checked *ck = o->checked;
	const struct proxy_body *pb = o->body;
	const struct proxy_caller *who = o->who;
	struct slice extra = o->extra;
	bool serial = o->serial;
	uint32_t skip = count_routes(p, m, NULL);
	struct call *c;

	if (n == 0 || n > CALL_MAX_BRANCHES)
		return refusal(500, "Server Internal Error", NULL, NULL);
	if (m->mid == SIP_M_INVITE && proxy_hold_full(&p->hold)) {
		/* as REGISTER beyond [store] queue_max: busy, come back */
		p->hold_full++;
		cdr_write(p, cdr_info_new(p, m, who), 503, "none");
		return refusal(503, "Server Busy", NULL, NULL);
	}
	c = call_new(p, st, m, from, n, ck && ck->loop_hash[0] ? ck->loop_hash : NULL);
	if (!c)
		return refusal(500, "Out of Memory", NULL, NULL);
	c->any_media = pb && pb->any_media;
	if (ck && ck->credentials && ck->credentials >= m->hdrs &&
	    ck->credentials < m->hdrs + m->nhdrs)
		/* an index: later branches are built from the transaction's copy,
		 * parsed from the same bytes */
		c->cred_hdr = (uint32_t)(ck->credentials - m->hdrs) + 1;
	if (serial) {
		/* the later targets are started from the server transaction's copy
		 * of the request: keep what else they need */
		c->serial = true;
		c->extra = dup_slice(extra);
		/* every contact: a later target, or one resubmitted with credentials */
		for (size_t i = 0; i < n && c->extra; i++) {
			if (!(c->br[i].contact = strdup(t[i].contact)) ||
			    (t[i].cred && !(c->br[i].cred = cred_copy(t[i].cred)))) {
				free(c->extra);
				c->extra = NULL;
			}
		}
		if (!c->extra) {
			c->nfinal = c->nbr;
			c->final_sent = true;
			return refusal(500, "Out of Memory", NULL, NULL);
		}
	}
	if (pb && pb->content_type.len) {
		c->body = malloc(pb->body.len ? pb->body.len : 1);
		c->body_type = dup_slice(pb->content_type);
		if (!c->body || !c->body_type) {
			c->nfinal = c->nbr;
			c->final_sent = true;
			return refusal(500, "Out of Memory", NULL, NULL);
		}
		if (pb->body.len)
			memcpy(c->body, pb->body.p, pb->body.len);
		c->body_len = pb->body.len;
	}
	if (m->mid == SIP_M_INVITE) {
		c->cdr = cdr_info_new(p, m, who);
		c->emergency = pb && pb->emergency;
		if (c->cdr && pb && pb->emergency) {
			c->cdr->emergency = true;
			c->cdr->location = pb->location ? strdup(pb->location) : NULL;
		}
		c->timer_c_ms = now_ms(p) + (uint64_t)p->conf.invite_timeout_s * 1000u;
		c->in_tc = true;
		c->tc_prev = p->tc_tail;
		if (p->tc_tail)
			p->tc_tail->tc_next = c;
		else
			p->tc_head = c;
		p->tc_tail = c;
	}
	for (size_t i = 0; i < n; i++) {
		c->br[i].way = t[i].way;
		base_strcpy(c->br[i].label, sizeof(c->br[i].label), t[i].label ? t[i].label : "");
	}
	for (size_t i = 0; i < n; i++) {
		struct branch *b = &c->br[i];
		c->nstarted = i + 1;
		if (forward(p, c, b, m, slice_cstr(t[i].contact), true, extra, skip) != 0) {
			b->status = 503;
			c->nfinal++;
		} else {
			note_peer(c, b);
			if (serial)
				break; /* the others wait for this one to fail */
		}
	}
	if (c->nfinal == c->nbr) {
		c->final_sent = true;
		cdr_write(p, c->cdr, 503, "none");
		c->cdr = NULL;
		return refusal(503, "Service Unavailable", NULL, NULL);
	}
	return refusal(0, NULL, NULL, NULL);
}

/* Side k of d is reached over TCP or TLS on a connection that is gone (a
 * restart, or the phone's connection closed): ask the owner to find it again
 * (its new flow, or a connection to its contact; ops->reach). */
static void dialog_reach(struct proxy *p, struct dialog *d, int k)
{
	char contact[STORE_URI_MAX];
	struct net_msg way = d->way[k];
	struct proxy_reach r = { k, d->cdr ? d->cdr->auth_user : "", d->cdr ? d->cdr->callee : "",
				 d->contact[k] };

	if (way.tp == NET_UDP || net_msg_conn_alive(&way) || !p->ops->reach)
		return;
	contact[0] = '\0';
	if (p->ops->reach(p->arg, &r, &way, contact, sizeof(contact)) == 0)
		d->way[k] = way;
	if (contact[0] && (!d->contact[k] || strcmp(d->contact[k], contact) != 0)) {
		char *c = strdup(contact);
		if (c) {
			free(d->contact[k]);
			d->contact[k] = c;
		}
	}
}

struct proxy_verdict proxy_in_dialog(struct proxy *p, struct txn_server *st,
				     const struct sip_msg *m, const struct txn_peer *from)
{
	struct proxy_verdict v;
	struct dialog *d;
	struct call *c;
	int side;

	d = dialog_find(p, m, &side);
	if (!d)
		return refusal(481, "Call/Transaction Does Not Exist", NULL, NULL);
	if (!same_host(&from->via.src, &d->way[side].src))
		return refusal(403, "Not a Party to This Dialog", "call.foreign_in_dialog",
			       "in-dialog request from outside the dialog");
	p->ops->refund(p->arg, &from->via.src);
	/* a side over TCP or TLS whose connection is gone (closed, or a dialog
	 * restored after a restart) is reached again on the one it uses now */
	if (from->via.tp == d->way[side].tp && from->via.tp != NET_UDP &&
	    !net_msg_conn_alive(&d->way[side]) && net_msg_conn_alive(&from->via))
		d->way[side] = from->via;
	if ((m->have & SIP_HAVE_MAX_FORWARDS) && m->max_forwards == 0)
		return refusal(483, "Too Many Hops", NULL, NULL);
	if (m->ruri.scheme == SIP_SCHEME_SIPS && d->way[1 - side].tp != NET_TLS)
		return refusal(480, "No TLS Route to the Callee", POLICY_EVENT_SIPS_DOWNGRADE,
			       "the other side of the dialog is not reached over TLS");
	v = proxy_media(p, m);
	if (v.status)
		return v;
	dialog_reach(p, d, 1 - side);
	c = call_new(p, st, m, from, 1, NULL);
	if (!c)
		return refusal(500, "Out of Memory", NULL, NULL);
	call_attach_dialog(c, d);
	c->from_side = side;
	c->cseq_delta = side == 0 ? d->cseq_delta : 0;
	c->br[0].way = d->way[1 - side];
	if (forward(p, c, &c->br[0], m, SLICE_NULL, false, SLICE_NULL,
		    count_routes(p, m, NULL)) != 0) {
		c->br[0].status = 503;
		c->nfinal = 1;
		c->final_sent = true;
		return refusal(503, "Service Unavailable", NULL, NULL);
	}
	return refusal(0, NULL, NULL, NULL);
}

void proxy_cancel(struct proxy *p, struct txn_server *st)
{
	struct call *c = txn_server_user(st);
	bool any_ringing = false;

	if (!c)
		return;
	c->cancelled = true;
	for (size_t i = 0; i < c->nbr; i++) {
		if (c->br[i].ct && !c->br[i].status) {
			txn_client_cancel(c->br[i].ct, now_ms(p));
			any_ringing |= c->br[i].provisional;
		}
	}
	/* Nobody rang yet: nothing will answer the CANCEL soon; end it now. */
	if (!any_ringing && !c->final_sent) {
		const struct sip_msg *req = txn_server_request(st);
		c->final_sent = true;
		cdr_write(p, c->cdr, 487, "none");
		c->cdr = NULL;
		if (req)
			answer(c, req, 487, "Request Terminated");
	}
}

/* ---- responses -------------------------------------------------------------------- */

/* A BYE got its final response (or timed out): the dialog is over whatever
 * the far end said, and its record names who hung up. */
static void bye_answered(struct proxy *p, struct call *c)
{
	uint64_t seq;

	if (c->dlg && c->mid == SIP_M_BYE) {
		/* its answer waits for the record's batch */
		seq = dialog_end(p, c->dlg, c->from_side == 0 ? "caller" : "callee");
		if (seq > c->wait_seq)
			c->wait_seq = seq;
	}
}

/* End the callee's leg of a 2xx we will not pass on: ACK it, then BYE, both
 * built from the response and sent statelessly the way the branch went. */
static void end_callee_leg(struct proxy *p, const struct branch *b, const struct sip_msg *resp,
			   const char *reason)
{
	const struct sip_hdr *ch = sip_msg_hdr(resp, SIP_H_CONTACT);
	struct txn_peer to = peer_of_way(&b->way);
	char hostport[INET6_ADDRSTRLEN + 8], hash[17];
	struct slice target = resp->to.uri.raw, rest;
	struct sip_contact ct;
	struct sip_buf out;

	if (ch) {
		rest = ch->value;
		if (sip_contact_next(&ct, &rest, &p->conf.lim) == 0 && !ct.star)
			target = ct.na.uri.raw;
	}
	count_loop_hash(p, resp, hash);
	local_hostport(p, &b->way, hostport, sizeof(hostport));
	for (int i = 0; i < 2; i++) {
		const char *method = i ? "BYE" : "ACK";

		sip_buf_init(&out, p->out, PROXY_OUT_CAP);
		sip_buf_str(&out, method);
		sip_buf_str(&out, " ");
		sip_buf_slice(&out, target);
		sip_buf_str(&out, " SIP/2.0\r\nVia: SIP/2.0/");
		sip_buf_str(&out, via_transport(b->way.tp));
		sip_buf_str(&out, " ");
		sip_buf_str(&out, hostport);
		sip_buf_str(&out, ";branch=z9hG4bK");
		sip_buf_str(&out, hash);
		sip_buf_str(&out, i ? ".bye;rport\r\n" : ".ack;rport\r\n");
		sip_buf_str(&out, "Max-Forwards: 70\r\nFrom: ");
		sip_buf_slice(&out, resp->from.raw);
		sip_buf_str(&out, "\r\nTo: ");
		sip_buf_slice(&out, resp->to.raw);
		sip_buf_str(&out, "\r\nCall-ID: ");
		sip_buf_slice(&out, resp->call_id);
		sip_buf_str(&out, "\r\nCSeq: ");
		sip_buf_u32(&out, resp->cseq.num + (uint32_t)i);
		sip_buf_str(&out, " ");
		sip_buf_str(&out, method);
		sip_buf_str(&out, "\r\nReason: ");
		sip_buf_str(&out, reason);
		sip_buf_str(&out, "\r\nContent-Length: 0\r\n\r\n");
		if (!out.overflow)
			(void)p->ops->send(p->arg, &to, out.p, out.len);
	}
}

/* media = srtp-required: a 1xx or 2xx answer from a callee with plain RTP.
 * True when the response was refused (and handled here). */
static bool answer_refused(struct proxy *p, struct call *c, struct branch *b,
			   const struct sip_msg *m)
{
	char full[240];
	struct proxy_verdict v = proxy_media(p, m);

	if (!v.status)
		return false;
	snprintf(full, sizeof(full), "%s in the callee's %u answer", v.detail, m->status);
	p->ops->event(p->arg, v.event, &b->way, m, SLICE_NULL, m->to.uri.raw, full, 488);
	if (m->status < 200)
		return true; /* not passed on; the final answer decides */
	if (c->mid == SIP_M_INVITE)
		end_callee_leg(p, b, m, "SIP;cause=488;text=\"SRTP Required\"");
	if (!b->status) {
		b->status = 488;
		c->nfinal++;
	}
	c->media_refused = true;
	serial_next(c, 488);
	maybe_send_best(c);
	return true;
}

/*
 * A target with credentials challenged our INVITE (401 or 407): answer
 * once (RFC 3261 22.2), on the same branch, as a new transaction with the
 * next CSeq; the transaction layer ACKs the challenge. True when the
 * request went out again (the challenge goes no further); false passes the
 * challenge on as a final answer (no credentials, a second challenge, one
 * we do not answer).
 */
static bool challenge_answered(struct proxy *p, struct call *c, struct branch *b,
			       const struct sip_msg *m)
{
	const struct sip_msg *req = c->st ? txn_server_request(c->st) : NULL;
	enum sip_hdr_id want = m->status == 401 ? SIP_H_WWW_AUTHENTICATE : SIP_H_PROXY_AUTHENTICATE;
	const char *name = m->status == 401 ? "Authorization: " : "Proxy-Authorization: ";
	char value[1024], cnonce_hex[33], *extra = NULL;
	uint8_t cn[16];
	size_t vlen = 0, elen;
	struct txn_client *old = b->ct;
	int rc = EPROTO;

	if (!b->cred || b->auth_sent || !c->serial || c->mid != SIP_M_INVITE || !req ||
	    c->final_sent || c->cancelled || c->timer_c || !b->contact)
		return false;
	if (RAND_bytes(cn, sizeof(cn)) != 1 || auth_hex(cnonce_hex, sizeof(cnonce_hex), cn,
							 sizeof(cn)) != 0)
		return false;
	for (const struct sip_hdr *h = sip_msg_hdr(m, want); h && rc; h = sip_msg_hdr_next(m, h))
		rc = auth_client_answer(value, sizeof(value), &vlen, h->value, req->method,
					slice_cstr(b->contact), slice_cstr(b->cred->user),
					slice_cstr(b->cred->password), slice_cstr(b->cred->realm),
					slice_cstr(cnonce_hex), 1);
	if (rc) {
		log_warn("a peer's %u challenge not answered: %s", m->status,
			 rc == EACCES ? "another realm than the credentials'"
				      : "no Digest challenge with qop=auth (or no qop) and MD5 or SHA-256");
		return false;
	}
	elen = strlen(c->extra ? c->extra : "") + strlen(name) + vlen + 3;
	if (!(extra = malloc(elen))) {
		OPENSSL_cleanse(value, sizeof(value));
		return false;
	}
	snprintf(extra, elen, "%s%s%s\r\n", c->extra ? c->extra : "", name, value);
	OPENSSL_cleanse(value, sizeof(value));
	b->auth_sent = true;
	b->cseq_delta = 1;
	b->provisional = false;
	rc = forward(p, c, b, req, slice_cstr(b->contact), true, slice_cstr(extra),
		     count_routes(p, req, NULL));
	free(extra);
	if (rc) {
		b->ct = old; /* still the challenged transaction's until it ends */
		b->cseq_delta = 0;
		return false;
	}
	return true;
}

void proxy_response(struct proxy *p, struct txn_client *ct, const struct sip_msg *m)
{
	struct branch *b = txn_client_user(ct);
	struct call *c = b ? b->call : NULL;
	struct sip_buf out;
	char *copy;

	if (!c || m->status == 100 || b->ct != ct)
		return; /* our own 100 went upstream; or the branch was resubmitted since */
	if (m->status < 300 && m->body.len && !c->any_media && answer_refused(p, c, b, m))
		return;
	if ((m->status == 401 || m->status == 407) && !b->status && challenge_answered(p, c, b, m))
		return;
	sip_buf_init(&out, p->out, PROXY_OUT_CAP);
	if (proxy_build_response_cseq(&out, m, c->dlg ? -c->cseq_delta : -b->cseq_delta) != 0)
		return;
	if (m->status < 200) {
		b->provisional = true;
		if (!c->final_sent)
			send_upstream(c, m->status, out.p, out.len, m->to.tag);
		return;
	}
	if (m->status < 300) {
		/* every 2xx goes upstream at once (16.7 step 5) */
		if (!b->status) {
			b->status = m->status;
			c->nfinal++;
		}
		if (c->mid == SIP_M_INVITE && !c->answered && !c->dlg) {
			note_peer(c, b);
			dialog_create(p, m, c, b);
		}
		c->answered = true;
		c->final_sent = true;
		/* a BYE's call record is handed over (and stored: ops->record)
		 * before its 200 tells the side that hung up that the call is over */
		bye_answered(p, c);
		send_upstream(c, m->status, out.p, out.len, m->to.tag);
		if (c->mid == SIP_M_INVITE)
			cancel_others(c, b);
		return;
	}
	if (b->status)
		return; /* a retransmitted final */
	b->status = m->status;
	c->nfinal++;
	bye_answered(p, c);
	if (better(m->status, c->best) && (copy = malloc(out.len))) {
		memcpy(copy, out.p, out.len);
		free(c->best_buf);
		c->best_buf = copy;
		c->best_len = out.len;
		c->best = m->status;
		note_peer(c, b);
		/* a tag too long to keep here is found by the layer (len > 64) */
		c->best_tag_len = m->to.tag.len;
		if (m->to.tag.len <= sizeof(c->best_tag))
			memcpy(c->best_tag, m->to.tag.p ? m->to.tag.p : "", m->to.tag.len);
	}
	if (m->status >= 600)
		cancel_others(c, b);
	serial_next(c, m->status);
	maybe_send_best(c);
}

void proxy_timeout(struct proxy *p, struct txn_client *ct)
{
	struct branch *b = txn_client_user(ct);
	struct call *c = b ? b->call : NULL;

	if (!c || b->status || b->ct != ct)
		return;
	b->status = 408;
	c->nfinal++;
	bye_answered(p, c);
	serial_next(c, 408);
	maybe_send_best(c);
}

void proxy_terminated(struct proxy *p, struct txn_server *st, struct txn_client *ct)
{
	struct call *c = NULL;

	(void)p;
	if (st && (c = txn_server_user(st)) != NULL) {
		c->st = NULL;
		call_maybe_free(c);
	}
	if (ct) {
		struct branch *b = txn_client_user(ct);
		if (b) {
			if (b->ct == ct) /* else: the transaction a resubmission replaced */
				b->ct = NULL;
			call_maybe_free(b->call);
		}
	}
}

/* ---- ACK for 2xx and 2xx retransmissions: stateless, along the dialog ---- */

bool proxy_ack(struct proxy *p, const struct sip_msg *m, const struct net_msg *in)
{
	char via[300], hostport[INET6_ADDRSTRLEN + 8], hash[17];
	struct proxy_fwd f = { 0 };
	struct sip_buf out;
	struct txn_peer to;
	struct dialog *d;
	int side;

	d = dialog_find(p, m, &side);
	if (!d || !same_host(&in->src, &d->way[side].src))
		return false;
	p->ops->refund(p->arg, &in->src);
	to = peer_of_way(&d->way[1 - side]);
	count_loop_hash(p, m, hash);
	local_hostport(p, &d->way[1 - side], hostport, sizeof(hostport));
	/* a stateless forward: the branch is a function of the ACK (16.11) */
	via_write(via, sizeof(via), NULL, 0, d->way[1 - side].tp, hostport, hash, ".ack");
	f.via = slice_cstr(via);
	f.skip_routes = count_routes(p, m, NULL);
	f.max_forwards = ((m->have & SIP_HAVE_MAX_FORWARDS) ? m->max_forwards : 70);
	f.max_forwards = f.max_forwards ? f.max_forwards - 1 : 0;
	f.strip_identity = true;
	f.drop_credentials_realm = slice_cstr(p->conf.realm);
	f.cseq_delta = side == 0 ? d->cseq_delta : 0;
	sip_buf_init(&out, p->out, PROXY_OUT_CAP);
	if (proxy_build_request(&out, m, &f) == 0)
		(void)p->ops->send(p->arg, &to, out.p, out.len);
	return true;
}

bool proxy_stray_2xx(struct proxy *p, const struct sip_msg *m)
{
	struct sip_buf out;
	struct txn_peer to;
	struct dialog *d;
	int side;

	/* a 2xx retransmission travels from the callee (side 1) to the caller */
	d = dialog_find(p, m, &side);
	if (!d || side != 0)
		return false;
	if (d->seq > p->durable)
		return true; /* the caller hears the 2xx once the dialog is stored */
	to = peer_of_way(&d->way[0]);
	sip_buf_init(&out, p->out, PROXY_OUT_CAP);
	if (proxy_build_response_cseq(&out, m, -d->cseq_delta) == 0)
		(void)p->ops->send(p->arg, &to, out.p, out.len);
	return true;
}

/* ---- group commit: answers held until their batch is durable ------------------- */

static void refuse_unstored(struct proxy *p, struct proxy_held *e);

static bool hold_log_allow(struct proxy *p)
{
	return log_limit_allow(&p->hold_log, (uint64_t)(p->ops->wall_ms(p->arg) / 1000));
}

/* Hold a final answer of c until c->wait_seq is durable. True when held or
 * dealt with; false: send it now (durable already, or a BYE's answer whose
 * batch failed: the record is in the CDR log and the call is over anyway). */
static bool hold_answer(struct call *c, uint16_t status, const char *reason, const char *buf,
			size_t len, struct slice to_tag)
{
	struct proxy *p = c->p;
	bool confirms = c->mid == SIP_M_INVITE && !c->dlg && status / 100 == 2;
	uint64_t seq = c->wait_seq > p->hold.last_seq ? c->wait_seq : p->hold.last_seq;
	int rc;

	/* an answer behind held ones waits with them: never overtakes them */
	if (seq == 0)
		return false;
	rc = proxy_hold_push(&p->hold, seq, c, &c->upstream, status, reason, to_tag, buf, len,
			     confirms);
	if (rc == 0) {
		c->nheld++;
		p->held++;
		return true;
	}
	/* Not held (hold_max, or no memory): commit the batch now rather than
	 * tell the peer before its change is durable. */
	p->hold_full++;
	if (rc == EOVERFLOW && hold_log_allow(p))
		log_warn("%zu answers held for their commit (hold_max): committing at once",
			 p->hold.n);
	if (p->ops->commit)
		p->ops->commit(p->arg); /* reports proxy_durable or proxy_not_stored */
	if (c->unstored)
		return true;
	if (c->nheld == 0 && c->wait_seq <= p->durable)
		return false; /* durable now */
	if (!confirms)
		return false;
	/* the dialog's row is not durable and the 2xx cannot wait: refuse */
	{
		struct proxy_held *e = malloc(sizeof(*e) + len);
		if (!e)
			return true; /* the caller hears nothing; its INVITE times out */
		memset(e, 0, sizeof(*e));
		e->owner = c;
		e->len = len;
		if (len)
			memcpy(e->buf, buf, len);
		refuse_unstored(p, e);
		free(e);
	}
	return true;
}

/* Send a held answer whose batch is durable. */
static void deliver(struct proxy *p, struct proxy_held *e)
{
	struct call *c = e->owner;
	const struct sip_msg *req;

	if (c)
		c->nheld--;
	if (c && c->unstored)
		return;
	p->released++;
	if (e->len == 0) {
		/* a generated answer: built from the request its call holds */
		req = c && c->st ? txn_server_request(c->st) : NULL;
		if (req)
			p->ops->answer(p->arg, &c->upstream, c->st, req, e->status, e->reason);
		return;
	}
	/* a tag too long to keep: only 2xx and BYE answers are held, which
	 * nothing matches by To tag */
	if (c)
		send_now(c, e->status, e->buf, e->len,
			 e->tag_len <= sizeof(e->tag) ? slice_make(e->tag, e->tag_len) : SLICE_NULL);
	else
		(void)p->ops->send(p->arg, &e->to, e->buf, e->len);
}

void proxy_durable(struct proxy *p, uint64_t durable)
{
	struct proxy_held *e;

	if (!p)
		return;
	if (durable > p->durable)
		p->durable = durable;
	while ((e = proxy_hold_take(&p->hold, p->durable)) != NULL) {
		deliver(p, e);
		free(e);
	}
}

/* The 2xx of e would confirm a dialog whose row is not stored: end the
 * callee's leg (ACK and BYE, as for a refused answer), answer the caller
 * 500, and write a record of an unanswered attempt. */
static void refuse_unstored(struct proxy *p, struct proxy_held *e)
{
	struct call *c = e->owner;
	struct sip_hdr *hdrs = NULL;
	struct sip_msg m;
	struct dialog *d;
	int side;

	p->unstored++;
	if (c) {
		if (c->unstored)
			return; /* a later fork's 2xx of a call refused already */
		c->unstored = true;
	}
	hdrs = calloc(p->conf.lim.max_headers ? p->conf.lim.max_headers : 64, sizeof(*hdrs));
	if (hdrs && e->len &&
	    sip_msg_parse(&m, hdrs, p->conf.lim.max_headers ? p->conf.lim.max_headers : 64, e->buf,
			  e->len, false, &p->conf.lim) == 0 &&
	    !m.request && (d = dialog_find(p, &m, &side)) != NULL) {
		struct branch b = { .way = d->way[1] };

		end_callee_leg(p, &b, &m, "SIP;cause=500;text=\"Call Not Stored\"");
		if (d->cdr) {
			d->cdr->answer_ms = 0; /* the caller was never told */
			(void)cdr_write(p, d->cdr, 500, "none");
			d->cdr = NULL;
		}
		(void)dialog_end(p, d, "server");
	}
	free(hdrs);
	if (hold_log_allow(p))
		log_warn("a call's dialog was not stored: refused with 500 (the callee's leg ended)");
	if (c && c->st) {
		const struct sip_msg *req = txn_server_request(c->st);
		if (req)
			p->ops->answer(p->arg, &c->upstream, c->st, req, 500, "Call Not Stored");
	}
}

void proxy_not_stored(struct proxy *p, uint64_t seq)
{
	struct proxy_held *list, *e;

	if (!p)
		return;
	list = proxy_hold_cut(&p->hold, seq);
	while ((e = list) != NULL) {
		list = e->next;
		if (e->confirms) {
			if (e->owner)
				((struct call *)e->owner)->nheld--;
			refuse_unstored(p, e);
		} else {
			deliver(p, e);
		}
		free(e);
	}
}
