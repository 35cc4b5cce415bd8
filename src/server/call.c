/*
 * server/call.c: proxying requests between users (RFC 3261 16).
 *
 * A dialog-forming or content-carrying request from outside a dialog is
 * authenticated with 407 (guide: every phone authenticates; Cookbook:
 * caller-ID manipulation), its From must be the authenticated user's (else
 * 403 and call.spoofed_from), injected identity headers are removed and
 * P-Asserted-Identity added, and it is forked in parallel to every contact of
 * the callee, the way each registered. The best response goes back (16.7);
 * the first 2xx cancels the other branches and confirms a dialog.
 *
 * In-dialog requests are checked against the dialog they claim: the tags
 * must name one side, and the request must come from where that side is.
 * They go to the other side the way it is reachable (its registration, or
 * the connection of its INVITE), which works behind NAT and over TCP.
 *
 * Lifetimes: a `struct call` lives while its server transaction or any of
 * its client transactions does (txn/ reports each end through
 * server_call_terminated). Dialogs live from the first 2xx to the final
 * response of a BYE (or the dialog lifetime cap).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../policy/policy.h"
#include <strings.h>
#include "internal.h"

#define CALL_MAX_BRANCHES 100
#define DIALOG_LIFETIME_MS (12ull * 3600 * 1000) /* a dialog nobody ends */

struct call;

/* What a call detail record needs, kept compact while the call lives (a
 * struct store_cdr is a few KiB of fixed arrays). */
struct cdr_info {
	char *call_id, *caller, *auth_user, *callee, *src;
	char transport[8];
	int64_t start_ms, answer_ms; /* unix milliseconds */
};

struct branch {
	struct call *call;
	struct txn_client *ct;  /* NULL once terminated */
	struct net_msg way;     /* how the target is reached */
	uint16_t status;        /* final status, 0 while pending */
	bool provisional;       /* a 1xx arrived */
};

struct call {
	struct call *prev, *next;  /* s->calls */
	struct server *s;
	struct txn_server *st;     /* NULL once terminated */
	struct txn_peer upstream;  /* the caller: where responses go */
	enum sip_method mid;
	bool final_sent, cancelled, answered, timer_c;
	bool media_refused;        /* a branch answered without SRTP: its leg was ended */
	uint64_t timer_c_ms;       /* INVITE: when timer C fires (monotonic) */
	uint16_t best;             /* best final status so far */
	char *best_buf;            /* its bytes, our Via removed */
	size_t best_len;
	struct dialog *dlg;        /* an in-dialog request: its dialog */
	struct cdr_info *cdr;      /* an INVITE out of dialog, once authenticated */
	int from_side;             /* which side sent it (0 caller, 1 callee) */
	size_t nbr, nfinal;
	struct branch br[];
};

struct dialog {
	struct dialog *next;       /* hash chain */
	char *call_id, *tag[2];    /* tag[0]: the caller's From tag, tag[1]: the callee's */
	struct net_msg way[2];     /* how each side is reached */
	uint64_t expires_ms;
	struct cdr_info *cdr;      /* the call's record, written when it ends */
};

static void maybe_send_best(struct call *c);

/* ---- helpers -------------------------------------------------------------------- */

static char *dup_slice(struct slice v)
{
	char *p = malloc(v.len + 1);

	if (p) {
		memcpy(p, v.p, v.len);
		p[v.len] = '\0';
	}
	return p;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	free(ci);
}

static struct cdr_info *cdr_info_new(const struct sip_msg *m, struct slice user,
				     const struct net_msg *in)
{
	struct cdr_info *ci = calloc(1, sizeof(*ci));
	char src[80];

	if (!ci)
		return NULL;
	net_addr_fmt(src, sizeof(src), in->tp, &in->src);
	ci->call_id = dup_slice(m->call_id);
	ci->caller = dup_slice(m->from.uri.raw);
	ci->auth_user = dup_slice(user);
	ci->callee = dup_slice(m->ruri_raw);
	ci->src = strdup(src);
	snprintf(ci->transport, sizeof(ci->transport), "%s", net_transport_name(in->tp));
	ci->start_ms = wall_ms();
	if (!ci->call_id || !ci->caller || !ci->auth_user || !ci->callee || !ci->src) {
		cdr_info_free(ci);
		return NULL;
	}
	return ci;
}

/* Write the record of a call attempt that ended with `status` (the final
 * response of the INVITE) and free it. hangup: "none" when never answered. */
static void cdr_write(struct server *s, struct cdr_info *ci, int status, const char *hangup)
{
	static struct store_cdr c; /* a few KiB; the loop has one thread */
	int rc;

	if (!ci)
		return;
	memset(&c, 0, sizeof(c));
	snprintf(c.call_id, sizeof(c.call_id), "%s", ci->call_id);
	snprintf(c.caller, sizeof(c.caller), "%s", ci->caller);
	snprintf(c.auth_user, sizeof(c.auth_user), "%s", ci->auth_user);
	snprintf(c.callee, sizeof(c.callee), "%s", ci->callee);
	snprintf(c.src, sizeof(c.src), "%s", ci->src);
	snprintf(c.transport, sizeof(c.transport), "%s", ci->transport);
	c.start_at = ci->start_ms;
	c.answer_at = ci->answer_ms;
	c.end_at = wall_ms();
	if (c.end_at < c.start_at)
		c.end_at = c.start_at; /* the clock stepped back */
	if (c.answer_at > c.end_at)
		c.answer_at = c.end_at;
	c.final_status = status;
	snprintf(c.hangup, sizeof(c.hangup), "%s", ci->answer_ms ? hangup : "none");
	rc = cdr_record(s->store, &c);
	if (rc)
		log_warn("call record of %s not stored: %s", ci->call_id, strerror(rc));
	cdr_info_free(ci);
}

static struct call **calls_head(struct server *s)
{
	return &s->calls;
}

static void call_free(struct call *c)
{
	struct call **head = calls_head(c->s);

	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->cdr)
		cdr_write(c->s, c->cdr, c->best ? c->best : 500, "none");
	free(c->best_buf);
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

/* Send bytes upstream: through the server transaction while it lives, else
 * statelessly the way the request came (2xx retransmissions, late 2xx of
 * other forks). */
static void send_upstream(struct call *c, uint16_t status, const char *buf, size_t len)
{
	struct server *s = c->s;

	if (c->st && txn_server_respond(c->st, status, buf, len, server_now_ms()) == 0)
		return;
	(void)net_send(s->net, &c->upstream.via, &c->upstream.dst, buf, len);
}

/* The Via sent-by for sending on `way`: the local address it uses, or our
 * first listener of that transport. */
static void local_hostport(const struct server *s, const struct net_msg *way, char *out,
			   size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	const struct net_addr *a = &way->local;

	if (a->ss.ss_family != AF_INET && a->ss.ss_family != AF_INET6) {
		for (size_t i = 0; i < s->conf.nlisteners; i++) {
			if (s->conf.listeners[i].tp == way->tp &&
			    s->conf.listeners[i].addr.ss.ss_family == way->src.ss.ss_family) {
				a = &s->conf.listeners[i].addr;
				break;
			}
		}
	}
	net_addr_host(a, host, sizeof(host));
	snprintf(out, cap, a->ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
		 net_addr_port(a));
}

static const char *via_transport(enum net_transport tp)
{
	return tp == NET_TCP ? "TCP" : tp == NET_TLS ? "TLS" : "UDP";
}

/* The end of a Record-Route URI naming our side on transport tp. */
static const char *rr_params(enum net_transport tp)
{
	return tp == NET_TCP ? ";transport=tcp;lr>\r\n"
	       : tp == NET_TLS ? ";transport=tls;lr>\r\n"
			       : ";lr>\r\n";
}

/* The leading Route values that name this server (loose routing: ours are
 * consumed, 16.4). */
static uint32_t own_routes(const struct server *s, const struct sip_msg *m)
{
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	uint32_t n = 0;

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_ROUTE); h; h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value, item;
		while (sip_list_next(&item, &rest) == 0) {
			struct sip_nameaddr na;
			enum sip_err e;
			if (sip_nameaddr_parse(&na, item, &lim, &e) != 0 ||
			    !server_host_is_ours(s, na.uri.host))
				return n;
			n++;
		}
	}
	return n;
}

static uint32_t total_routes(const struct sip_msg *m)
{
	uint32_t n = 0;

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_ROUTE); h; h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value, item;
		while (sip_list_next(&item, &rest) == 0)
			n++;
	}
	return n;
}

/* Loop detection (16.3 step 4): one of our Vias carrying this request's hash. */
static bool looped(const struct server *s, const struct sip_msg *m, const char *hash)
{
	struct sip_limits lim = SIP_LIMITS_DEFAULT;

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_VIA); h; h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value;
		struct sip_via v;
		while (sip_via_next(&v, &rest, &lim) == 0) {
			if (server_host_is_ours(s, v.host) && v.branch.len > 7 + 16 &&
			    memcmp(v.branch.p + 7, hash, 16) == 0)
				return true;
		}
	}
	return false;
}

/* ---- dialogs -------------------------------------------------------------------- */

static uint64_t dialog_hash(struct slice call_id)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < call_id.len; i++)
		h = (h ^ (unsigned char)call_id.p[i]) * 1099511628211ull;
	return h;
}

static struct dialog **dialog_bucket(struct server *s, struct slice call_id)
{
	return &s->dialogs[dialog_hash(call_id) & (s->ndialog_buckets - 1)];
}

/* The dialog of m and which side sent it, or NULL. */
static struct dialog *dialog_find(struct server *s, const struct sip_msg *m, int *side)
{
	if (!s->dialogs)
		return NULL;
	for (struct dialog *d = *dialog_bucket(s, m->call_id); d; d = d->next) {
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
	free(d->call_id);
	free(d->tag[0]);
	free(d->tag[1]);
	free(d);
}

/* End dialog d: its call record says who hung up. */
static void dialog_remove(struct server *s, struct dialog *d, const char *hangup)
{
	cdr_write(s, d->cdr, 200, hangup);
	d->cdr = NULL;
	for (struct call *c = s->calls; c; c = c->next)
		if (c->dlg == d)
			c->dlg = NULL;
	for (struct dialog **pp = dialog_bucket(s, slice_cstr(d->call_id)); *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			s->ndialogs--;
			dialog_free(d);
			return;
		}
	}
}

static void dialog_create(struct server *s, const struct sip_msg *resp, struct call *c,
			  const struct branch *b)
{
	const struct sip_msg *req = c->st ? txn_server_request(c->st) : NULL;
	struct dialog *d;
	int side;

	if (!req || !resp->to.has_tag || dialog_find(s, resp, &side))
		return;
	if (!s->dialogs) {
		s->ndialog_buckets = 4096;
		s->dialogs = calloc(s->ndialog_buckets, sizeof(*s->dialogs));
		if (!s->dialogs)
			return;
	}
	if (s->ndialogs >= s->conf.max_dialogs) {
		log_warn("dialog table full (%u): %.*s not tracked", s->conf.max_dialogs,
			 (int)resp->call_id.len, resp->call_id.p);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return;
	d->call_id = dup_slice(resp->call_id);
	d->tag[0] = dup_slice(req->from.tag);
	d->tag[1] = dup_slice(resp->to.tag);
	if (!d->call_id || !d->tag[0] || !d->tag[1]) {
		dialog_free(d);
		return;
	}
	d->way[0] = c->upstream.via;
	d->way[1] = b->way;
	d->cdr = c->cdr; /* the record goes on with the dialog */
	c->cdr = NULL;
	if (d->cdr)
		d->cdr->answer_ms = wall_ms();
	d->expires_ms = server_now_ms() + DIALOG_LIFETIME_MS;
	struct dialog **head = dialog_bucket(s, resp->call_id);
	d->next = *head;
	*head = d;
	s->ndialogs++;
}

void server_dialogs_expire(struct server *s, uint64_t now_ms)
{
	for (size_t i = 0; s->dialogs && i < s->ndialog_buckets; i++) {
		for (struct dialog **pp = &s->dialogs[i]; *pp;) {
			struct dialog *d = *pp;
			if (d->expires_ms > now_ms) {
				pp = &d->next;
				continue;
			}
			/* calls in flight for it forget it */
			for (struct call *c = s->calls; c; c = c->next)
				if (c->dlg == d)
					c->dlg = NULL;
			*pp = d->next;
			s->ndialogs--;
			cdr_write(s, d->cdr, 200, "timeout");
			d->cdr = NULL;
			dialog_free(d);
		}
	}
}

void server_calls_timer_c(struct server *s, uint64_t now_ms)
{
	for (struct call *c = s->calls; c; c = c->next) {
		bool ringing = false;

		if (c->mid != SIP_M_INVITE || c->final_sent || c->timer_c || !c->timer_c_ms ||
		    now_ms < c->timer_c_ms)
			continue;
		c->timer_c = true;
		for (size_t i = 0; i < c->nbr; i++) {
			if (c->br[i].ct && !c->br[i].status) {
				txn_client_cancel(c->br[i].ct, now_ms);
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
}

void server_dialogs_free(struct server *s)
{
	struct call *c;

	while ((c = *calls_head(s)) != NULL)
		call_free(c);
	for (size_t i = 0; s->dialogs && i < s->ndialog_buckets; i++) {
		struct dialog *d = s->dialogs[i], *n;
		for (; d; d = n) {
			n = d->next;
			cdr_write(s, d->cdr, 200, "server"); /* shutting down */
			d->cdr = NULL;
			dialog_free(d);
		}
	}
	free(s->dialogs);
	s->dialogs = NULL;
	s->ndialogs = 0;
}

/* ---- forwarding ------------------------------------------------------------------ */

/* The destination address of a way: its source (UDP replies and requests go
 * to where the phone sends from). A restored UDP binding gets a socket. */
static struct txn_peer peer_of_way(const struct server *s, const struct net_msg *way)
{
	struct txn_peer p = { *way, way->src };

	if (p.via.tp == NET_UDP && p.via.udp_fd < 0)
		p.via.udp_fd = net_udp_fd(s->net, way->src.ss.ss_family);
	return p;
}

/* Build request m as forwarded toward `way` and start a client transaction
 * for it. ruri: the new Request-URI (or empty). */
static int forward(struct server *s, struct call *c, struct branch *b, const struct sip_msg *m,
		   struct slice ruri, bool record_route, struct slice extra, uint32_t skip_routes)
{
	char via[300], hostport[INET6_ADDRSTRLEN + 8], rr[600], hash[17];
	struct sip_buf out, rrb;
	struct proxy_fwd f = { 0 };
	struct txn_peer to = peer_of_way(s, &b->way);
	int rc;

	proxy_loop_hash(m, hash);
	local_hostport(s, &b->way, hostport, sizeof(hostport));
	snprintf(via, sizeof(via), "SIP/2.0/%s %s;branch=z9hG4bK%s.%llx;rport",
		 via_transport(b->way.tp), hostport, hash, (unsigned long long)++s->branch_seq);
	sip_buf_init(&rrb, rr, sizeof(rr));
	if (record_route) {
		/* top: the side facing the target; and, when the caller's side
		 * differs (transport or address), the side facing the caller */
		char up[INET6_ADDRSTRLEN + 8];
		local_hostport(s, &c->upstream.via, up, sizeof(up));
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
	f.drop_credentials_realm = s->auth.realm;
	f.extra = extra;
	sip_buf_init(&out, s->out, SERVER_OUT_CAP);
	rc = proxy_build_request(&out, m, &f);
	if (rc)
		return rc;
	return txn_client_new(&b->ct, s->txn, out.p, out.len, &to, b, server_now_ms());
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
	cdr_write(c->s, c->cdr,
		  c->best_buf	      ? c->best
		  : c->cancelled      ? 487
		  : c->media_refused ? 488
				      : 408,
		  "none");
	c->cdr = NULL;
	if (c->best_buf) {
		send_upstream(c, c->best, c->best_buf, c->best_len);
		return;
	}
	req = c->st ? txn_server_request(c->st) : NULL;
	if (req) {
		struct server_ctx x = { &c->upstream.via, c->st };
		if (c->media_refused && !c->cancelled)
			server_answer(c->s, &x, req, 488, "SRTP Required", SLICE_NULL);
		else if (c->cancelled)
			server_answer(c->s, &x, req, 487, "Request Terminated", SLICE_NULL);
		else
			server_answer(c->s, &x, req, 408, "Request Timeout", SLICE_NULL);
	}
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
			txn_client_cancel(c->br[i].ct, server_now_ms());
}

/* ---- requests -------------------------------------------------------------------- */

static struct call *call_new(struct server *s, struct txn_server *st, const struct sip_msg *m,
			     const struct txn_peer *from, size_t nbranches)
{
	struct call *c = calloc(1, sizeof(*c) + nbranches * sizeof(struct branch));
	struct call **head = calls_head(s);

	if (!c)
		return NULL;
	c->s = s;
	c->st = st;
	c->upstream = *from;
	c->mid = m->mid;
	c->nbr = nbranches;
	for (size_t i = 0; i < nbranches; i++)
		c->br[i].call = c;
	c->next = *head;
	if (*head)
		(*head)->prev = c;
	*head = c;
	txn_server_set_user(st, c);
	return c;
}

struct target_ctx {
	struct net_msg ways[CALL_MAX_BRANCHES];
	char *contacts[CALL_MAX_BRANCHES];
	size_t n;
	bool sips;                 /* a sips: request: TLS targets only */
	size_t refused;            /* targets left out: no TLS way to them */
};

static void collect_target(void *arg, const struct reg_binding_view *v)
{
	struct target_ctx *t = arg;

	if (t->n == CALL_MAX_BRANCHES || (v->way->tp != NET_UDP && !net_msg_conn_alive(v->way)))
		return; /* a TCP phone is reachable only on its connection */
	/* RFC 5630: no bid-down. A sips: request, or a contact registered as
	 * sips:, is reached over TLS or not at all. */
	if (!policy_target_ok(t->sips, strncasecmp(v->contact, "sips:", 5) ? SIP_SCHEME_SIP
									 : SIP_SCHEME_SIPS,
			      v->way->tp == NET_TLS)) {
		t->refused++;
		return;
	}
	t->ways[t->n] = *v->way;
	t->contacts[t->n] = strdup(v->contact);
	if (t->contacts[t->n])
		t->n++;
}

/* Answer an authenticated INVITE that goes nowhere, and record the attempt. */
static void refuse_attempt(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			   struct slice user, uint16_t status, const char *reason)
{
	if (m->mid == SIP_M_INVITE)
		cdr_write(s, cdr_info_new(m, user, x->in), status, "none");
	server_answer(s, x, m, status, reason, SLICE_NULL);
}

/* media = srtp-required: refuse request m (488, media.srtp_refused) when
 * its SDP offers plain RTP. False when it was refused. */
static bool media_allowed(struct server *s, const struct server_ctx *x, const struct sip_msg *m,
			  struct slice user, bool attempt)
{
	struct policy_verdict pv;
	struct slice bad;
	char detail[160], line[64];

	policy_media(&pv, m, s->conf.media == CONF_MEDIA_SRTP, &bad);
	if (pv.allow)
		return true;
	snprintf(detail, sizeof(detail), "%s (m=%s)", pv.detail,
		 slice_repr(line, sizeof(line), bad, 48));
	server_event(s, pv.event, x->in, m, user, m->from.uri.raw, detail, pv.status);
	if (attempt)
		refuse_attempt(s, x, m, user, pv.status, pv.reason);
	else
		server_answer(s, x, m, pv.status, pv.reason, SLICE_NULL);
	return false;
}

/* A request outside any dialog: authenticate, check identity, fork. */
static void out_of_dialog(struct server *s, struct txn_server *st, const struct sip_msg *m,
			  const struct txn_peer *from)
{
	struct server_ctx x = { &from->via, st };
	struct auth_outcome ao;
	struct store_cache_entry e;
	struct target_ctx t = { .n = 0 };
	static struct policy_identity_verdict idv; /* large; one loop thread */
	char aor[STORE_URI_MAX], pai[POLICY_PAI_MAX + 32], hash[17];
	uint32_t skip = own_routes(s, m);
	struct call *c;
	int rc, n;

	if (m->mid == SIP_M_INVITE)
		server_answer(s, &x, m, 100, "Trying", SLICE_NULL);
	/* 16.3: Max-Forwards and loops */
	if ((m->have & SIP_HAVE_MAX_FORWARDS) && m->max_forwards == 0) {
		server_answer(s, &x, m, 483, "Too Many Hops", SLICE_NULL);
		return;
	}
	proxy_loop_hash(m, hash);
	if (looped(s, m, hash)) {
		server_answer(s, &x, m, 482, "Loop Detected", SLICE_NULL);
		return;
	}
	rc = auth_request(&ao, &s->auth, m, SIP_H_PROXY_AUTHORIZATION, server_lookup_user,
			  server_offer_user, s, (uint64_t)time(NULL));
	if (rc) {
		server_answer(s, &x, m, 500, "Authentication Failure", SLICE_NULL);
		return;
	}
	server_auth_watch(s, x.in, m, &ao);
	switch (ao.action) {
	case AUTH_ACT_CHALLENGE:
		if (ao.had_credentials && ao.verdict.result == AUTH_REPLAY)
			server_event(s, "auth.replay", x.in, m, ao.user, m->from.uri.raw, ao.reason,
				     407);
		server_challenge(s, &x, m, true, false, ao.offer);
		return;
	case AUTH_ACT_STALE:
		server_challenge(s, &x, m, true, true, ao.offer);
		return;
	case AUTH_ACT_FAIL:
		server_event(s, "auth.failure", x.in, m, ao.user, m->from.uri.raw, ao.reason, 403);
		if (ao.verdict.result == AUTH_WRONG_RESPONSE)
			server_guard_auth_failed(s, x.in, m, ao.user, m->from.uri.raw,
						 !ao.unknown_user);
		server_answer(s, &x, m, 403, "Forbidden", SLICE_NULL);
		return;
	case AUTH_ACT_OK:
		break;
	}
	if (server_guard_locked(s, x.in, ao.user)) {
		server_event(s, "auth.failure", x.in, m, ao.user, m->from.uri.raw, "user locked",
			     403);
		server_guard_auth_failed(s, x.in, m, ao.user, m->from.uri.raw, true);
		server_answer(s, &x, m, 403, "Forbidden", SLICE_NULL);
		return;
	}
	/* a user bound to its client certificate calls only with it */
	if (!server_client_cert_ok(s, &x, m, ao.user, m->from.uri.raw))
		return;
	server_guard_auth_ok(s, x.in, ao.user, m->mid);
	/* identity (policy/): From must be the user's, PAI asserted, injected
	 * identity headers removed. No trusted peers yet: every source and
	 * destination is untrusted. */
	{
		const char *allowed[32];
		struct policy_identity_in pin = {
			.req = m,
			.auth_user = ao.user,
			.domain = slice_cstr(s->conf.domain),
			.allowed = allowed,
			.nallowed = server_idents_of(s, ao.user, allowed, ARRAY_SIZE(allowed)),
			.own_hosts = s->own_host_slices,
			.nown_hosts = s->n_own,
		};
		if (policy_identity(&idv, &pin) != 0 || !idv.v.allow) {
			if (idv.v.event)
				server_event(s, idv.v.event, x.in, m, ao.user, m->from.uri.raw,
					     idv.v.detail, idv.v.status ? idv.v.status : 403);
			/* authenticated, so a call attempt: it gets its record */
			refuse_attempt(s, &x, m, ao.user, idv.v.status ? idv.v.status : 403,
				       idv.v.reason ? idv.v.reason : "Forbidden");
			return;
		}
	}
	/* routes beyond this server: no trunks or peers yet */
	if (total_routes(m) > skip) {
		refuse_attempt(s, &x, m, ao.user, 403, "Routing Beyond This Server Not Allowed");
		return;
	}
	if (!server_host_is_ours(s, m->ruri.host) || m->ruri.user.len == 0 ||
	    store_cache_lookup(s->cache, &e, m->ruri.user, slice_cstr(s->conf.domain)) != 0) {
		refuse_attempt(s, &x, m, ao.user, 404, "Not Found");
		return;
	}
	n = snprintf(aor, sizeof(aor), "sip:%.*s@%s", (int)m->ruri.user.len, m->ruri.user.p,
		     s->conf.domain);
	if (n < 0 || (size_t)n >= sizeof(aor)) {
		server_answer(s, &x, m, 414, "Request-URI Too Long", SLICE_NULL);
		return;
	}
	if (!media_allowed(s, &x, m, ao.user, true))
		return;
	t.sips = m->ruri.scheme == SIP_SCHEME_SIPS;
	registrar_lookup(s->reg, slice_make(aor, (size_t)n), collect_target, &t);
	if (t.n == 0 && t.refused) {
		server_event(s, POLICY_EVENT_SIPS_DOWNGRADE, x.in, m, ao.user, m->ruri_raw,
			     "the callee can be reached only over a transport that is not TLS", 480);
		refuse_attempt(s, &x, m, ao.user, 480, "No TLS Route to the Callee");
		return;
	}
	if (t.n == 0) {
		refuse_attempt(s, &x, m, ao.user, 480, "Temporarily Unavailable");
		return;
	}
	c = call_new(s, st, m, from, t.n);
	if (!c) {
		server_answer(s, &x, m, 500, "Out of Memory", SLICE_NULL);
		goto out;
	}
	if (m->mid == SIP_M_INVITE) {
		c->cdr = cdr_info_new(m, ao.user, x.in);
		c->timer_c_ms = server_now_ms() + (uint64_t)s->conf.invite_timeout * 1000u;
	}
	/* RFC 3325: the identity we vouch for */
	if (idv.add_pai)
		snprintf(pai, sizeof(pai), "P-Asserted-Identity: %s\r\n", idv.pai);
	else
		pai[0] = '\0';
	for (size_t i = 0; i < t.n; i++) {
		struct branch *b = &c->br[i];
		b->way = t.ways[i];
		if (forward(s, c, b, m, slice_cstr(t.contacts[i]), true, slice_cstr(pai), skip) != 0) {
			b->status = 503;
			c->nfinal++;
		}
	}
	if (c->nfinal == c->nbr) {
		c->final_sent = true;
		cdr_write(s, c->cdr, 503, "none");
		c->cdr = NULL;
		server_answer(s, &x, m, 503, "Service Unavailable", SLICE_NULL);
	}
out:
	for (size_t i = 0; i < t.n; i++)
		free(t.contacts[i]);
}

/* A request inside a dialog: it must name one side, from where that side is,
 * and goes to the other side (16.12 with the dialog's ways). */
static void in_dialog(struct server *s, struct txn_server *st, const struct sip_msg *m,
		      const struct txn_peer *from)
{
	struct server_ctx x = { &from->via, st };
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	struct dialog *d;
	struct call *c;
	int side;

	d = dialog_find(s, m, &side);
	if (!d) {
		server_answer(s, &x, m, 481, "Call/Transaction Does Not Exist", SLICE_NULL);
		return;
	}
	net_addr_host(&from->via.src, a, sizeof(a));
	net_addr_host(&d->way[side].src, b, sizeof(b));
	if (strcmp(a, b) != 0) {
		server_event(s, "call.foreign_in_dialog", x.in, m, SLICE_NULL, m->from.uri.raw,
			     "in-dialog request from outside the dialog", 403);
		server_answer(s, &x, m, 403, "Not a Party to This Dialog", SLICE_NULL);
		return;
	}
	server_guard_refund(s, &from->via.src);
	if ((m->have & SIP_HAVE_MAX_FORWARDS) && m->max_forwards == 0) {
		server_answer(s, &x, m, 483, "Too Many Hops", SLICE_NULL);
		return;
	}
	if (m->ruri.scheme == SIP_SCHEME_SIPS && d->way[1 - side].tp != NET_TLS) {
		server_event(s, POLICY_EVENT_SIPS_DOWNGRADE, x.in, m, SLICE_NULL, m->ruri_raw,
			     "the other side of the dialog is not reached over TLS", 480);
		server_answer(s, &x, m, 480, "No TLS Route to the Callee", SLICE_NULL);
		return;
	}
	if (!media_allowed(s, &x, m, SLICE_NULL, false))
		return;
	c = call_new(s, st, m, from, 1);
	if (!c) {
		server_answer(s, &x, m, 500, "Out of Memory", SLICE_NULL);
		return;
	}
	c->dlg = d;
	c->from_side = side;
	c->br[0].way = d->way[1 - side];
	if (forward(s, c, &c->br[0], m, SLICE_NULL, false, SLICE_NULL, own_routes(s, m)) != 0) {
		c->br[0].status = 503;
		c->nfinal = 1;
		c->final_sent = true;
		server_answer(s, &x, m, 503, "Service Unavailable", SLICE_NULL);
	}
}

void server_call_request(struct server *s, struct txn_server *st, const struct sip_msg *m,
			 const struct txn_peer *from)
{
	if (m->to.has_tag)
		in_dialog(s, st, m, from);
	else
		out_of_dialog(s, st, m, from);
}

void server_call_cancel(struct server *s, struct txn_server *st)
{
	struct call *c = txn_server_user(st);
	bool any_ringing = false;

	if (!c)
		return;
	c->cancelled = true;
	for (size_t i = 0; i < c->nbr; i++) {
		if (c->br[i].ct && !c->br[i].status) {
			txn_client_cancel(c->br[i].ct, server_now_ms());
			any_ringing |= c->br[i].provisional;
		}
	}
	/* Nobody rang yet: nothing will answer the CANCEL soon; end it now. */
	if (!any_ringing && !c->final_sent) {
		const struct sip_msg *req = txn_server_request(st);
		struct server_ctx x = { &c->upstream.via, st };
		c->final_sent = true;
		cdr_write(s, c->cdr, 487, "none");
		c->cdr = NULL;
		if (req)
			server_answer(s, &x, req, 487, "Request Terminated", SLICE_NULL);
	}
}

/* ---- responses -------------------------------------------------------------------- */

/* A BYE got its final response (or timed out): the dialog is over whatever
 * the far end said, and its record names who hung up. */
static void bye_answered(struct server *s, struct call *c)
{
	if (c->dlg && c->mid == SIP_M_BYE) {
		dialog_remove(s, c->dlg, c->from_side == 0 ? "caller" : "callee");
		c->dlg = NULL;
	}
}

/* End the callee's leg of a 2xx we will not pass on: ACK it, then BYE, both
 * built from the response and sent statelessly the way the branch went. */
static void end_callee_leg(struct server *s, struct branch *b, const struct sip_msg *resp)
{
	const struct sip_hdr *ch = sip_msg_hdr(resp, SIP_H_CONTACT);
	struct txn_peer to = peer_of_way(s, &b->way);
	char hostport[INET6_ADDRSTRLEN + 8], hash[17];
	struct slice target = resp->to.uri.raw, rest;
	struct sip_contact ct;
	struct sip_buf out;

	if (ch) {
		rest = ch->value;
		if (sip_contact_next(&ct, &rest, &s->conf.lim) == 0 && !ct.star)
			target = ct.na.uri.raw;
	}
	proxy_loop_hash(resp, hash);
	local_hostport(s, &b->way, hostport, sizeof(hostport));
	for (int i = 0; i < 2; i++) {
		const char *method = i ? "BYE" : "ACK";

		sip_buf_init(&out, s->out, SERVER_OUT_CAP);
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
		sip_buf_str(&out, "\r\nReason: SIP;cause=488;text=\"SRTP Required\"\r\n"
				  "Content-Length: 0\r\n\r\n");
		if (!out.overflow)
			(void)net_send(s->net, &to.via, &to.dst, out.p, out.len);
	}
}

/* media = srtp-required: a 1xx or 2xx answer from a callee with plain RTP.
 * True when the response was refused (and handled here). */
static bool answer_refused(struct server *s, struct call *c, struct branch *b,
			   const struct sip_msg *m)
{
	struct policy_verdict pv;
	struct slice bad;
	char detail[160], line[64];

	policy_media(&pv, m, s->conf.media == CONF_MEDIA_SRTP, &bad);
	if (pv.allow)
		return false;
	snprintf(detail, sizeof(detail), "%s in the callee's %u answer (m=%s)", pv.detail,
		 m->status, slice_repr(line, sizeof(line), bad, 48));
	server_event(s, pv.event, &b->way, m, SLICE_NULL, m->to.uri.raw, detail, 488);
	if (m->status < 200)
		return true; /* not passed on; the final answer decides */
	if (c->mid == SIP_M_INVITE)
		end_callee_leg(s, b, m);
	if (!b->status) {
		b->status = 488;
		c->nfinal++;
	}
	c->media_refused = true;
	maybe_send_best(c);
	return true;
}

void server_call_response(struct server *s, struct txn_client *ct, const struct sip_msg *m)
{
	struct branch *b = txn_client_user(ct);
	struct call *c = b ? b->call : NULL;
	struct sip_buf out;
	char *copy;

	if (!c || m->status == 100)
		return; /* our own 100 Trying already went upstream */
	if (m->status < 300 && m->body.len && answer_refused(s, c, b, m))
		return;
	sip_buf_init(&out, s->out, SERVER_OUT_CAP);
	if (proxy_build_response(&out, m) != 0)
		return;
	if (m->status < 200) {
		b->provisional = true;
		if (!c->final_sent)
			send_upstream(c, m->status, out.p, out.len);
		return;
	}
	if (m->status < 300) {
		/* every 2xx goes upstream at once (16.7 step 5) */
		if (!b->status) {
			b->status = m->status;
			c->nfinal++;
		}
		if (c->mid == SIP_M_INVITE && !c->answered && !c->dlg)
			dialog_create(s, m, c, b);
		c->answered = true;
		c->final_sent = true;
		send_upstream(c, m->status, out.p, out.len);
		if (c->mid == SIP_M_INVITE)
			cancel_others(c, b);
		bye_answered(s, c);
		return;
	}
	if (b->status)
		return; /* a retransmitted final */
	b->status = m->status;
	c->nfinal++;
	bye_answered(s, c);
	if (better(m->status, c->best) && (copy = malloc(out.len))) {
		memcpy(copy, out.p, out.len);
		free(c->best_buf);
		c->best_buf = copy;
		c->best_len = out.len;
		c->best = m->status;
	}
	if (m->status >= 600)
		cancel_others(c, b);
	maybe_send_best(c);
}

void server_call_timeout(struct server *s, struct txn_client *ct)
{
	struct branch *b = txn_client_user(ct);
	struct call *c = b ? b->call : NULL;

	if (!c || b->status)
		return;
	b->status = 408;
	c->nfinal++;
	bye_answered(s, c);
	maybe_send_best(c);
}

void server_call_terminated(struct server *s, struct txn_server *st, struct txn_client *ct)
{
	struct call *c = NULL;

	if (st && (c = txn_server_user(st)) != NULL) {
		c->st = NULL;
		call_maybe_free(c);
	}
	if (ct) {
		struct branch *b = txn_client_user(ct);
		if (b) {
			b->ct = NULL;
			call_maybe_free(b->call);
		}
	}
}

/* ---- ACK for 2xx and 2xx retransmissions: stateless, along the dialog ---- */

void server_call_ack(struct server *s, const struct sip_msg *m, const struct net_msg *in)
{
	char via[300], hostport[INET6_ADDRSTRLEN + 8], hash[17], a[INET6_ADDRSTRLEN],
		b[INET6_ADDRSTRLEN];
	struct proxy_fwd f = { 0 };
	struct sip_buf out;
	struct txn_peer to;
	struct dialog *d;
	int side;

	d = dialog_find(s, m, &side);
	if (!d) {
		s->stats.dropped_ack++;
		return;
	}
	net_addr_host(&in->src, a, sizeof(a));
	net_addr_host(&d->way[side].src, b, sizeof(b));
	if (strcmp(a, b) != 0) {
		s->stats.dropped_ack++;
		return;
	}
	server_guard_refund(s, &in->src);
	to = peer_of_way(s, &d->way[1 - side]);
	proxy_loop_hash(m, hash);
	local_hostport(s, &d->way[1 - side], hostport, sizeof(hostport));
	/* a stateless forward: the branch is a function of the ACK (16.11) */
	snprintf(via, sizeof(via), "SIP/2.0/%s %s;branch=z9hG4bK%s.ack;rport",
		 via_transport(d->way[1 - side].tp), hostport, hash);
	f.via = slice_cstr(via);
	f.skip_routes = own_routes(s, m);
	f.max_forwards = ((m->have & SIP_HAVE_MAX_FORWARDS) ? m->max_forwards : 70);
	f.max_forwards = f.max_forwards ? f.max_forwards - 1 : 0;
	f.strip_identity = true;
	f.drop_credentials_realm = s->auth.realm;
	sip_buf_init(&out, s->out, SERVER_OUT_CAP);
	if (proxy_build_request(&out, m, &f) == 0)
		(void)net_send(s->net, &to.via, &to.dst, out.p, out.len);
}

void server_call_stray_2xx(struct server *s, const struct sip_msg *m)
{
	struct sip_buf out;
	struct txn_peer to;
	struct dialog *d;
	int side;

	/* a 2xx retransmission travels from the callee (side 1) to the caller */
	d = dialog_find(s, m, &side);
	if (!d || side != 0) {
		s->stats.dropped_responses++;
		return;
	}
	to = peer_of_way(s, &d->way[0]);
	sip_buf_init(&out, s->out, SERVER_OUT_CAP);
	if (proxy_build_response(&out, m) == 0)
		(void)net_send(s->net, &to.via, &to.dst, out.p, out.len);
}
