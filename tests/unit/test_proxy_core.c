/*
 * test_proxy_core: the proxy core (proxy/core.c) driven through a real
 * transaction layer with a fake clock and captured sends, no sockets. The
 * test plays the server: it parses the messages each side sends, feeds them
 * to txn_receive, and hands new requests to proxy_fork (parallel, serial, or
 * serial with the body replaced) or proxy_in_dialog.
 *
 * Cases: a fork to two contacts where the best final response wins and the
 * 2xx confirms a dialog whose ACK and BYE follow it, with the record naming
 * who hung up; the first 2xx cancelling the other ringing branch; CANCEL
 * before anyone rang; timer C; in-dialog requests that name no dialog (481)
 * or come from outside it (403 and an event); the dialog table's bound; and
 * thousands of dialogs whose Call-IDs all collide under the old unkeyed
 * table, where every in-dialog lookup stays short (counted, not timed).
 */
#include "check.h"
#include "proxy/proxy.h"
#include "sip/sip.h"
#include "txn/txn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- the world around the core ------------------------------------------------------ */

struct sent {
	char *buf;
	size_t len;
	char to[64];      /* "host:port" it went to */
};

static struct txn_layer *L;
static struct proxy *P;
static uint64_t now = 1000;
static struct sent sent[256];
static size_t nsent;
static uint16_t answered[32];
static size_t nanswered;
static struct store_cdr recs[8];
static size_t nrecs;
static const char *events[8];
static size_t nevents, nrefunds;
static struct txn_peer A, B1, B2, B3, X; /* caller, three callee contacts, an outsider */

/* what to do with the next new request (the test's "server") */
static enum { ON_FORK, ON_IN_DIALOG } mode;
static struct proxy_verdict last_verdict;
static size_t ntargets = 2;
static bool serial;              /* proxy_fork_opts.serial, with an extra header */
static bool with_cred;           /* serial: the first target has credentials */
static bool emergency;           /* serial, the body replaced, as an emergency call */
static uint32_t reserved_dialogs; /* proxy_conf.reserved_dialogs of the next setup */
static const char *who_hash;     /* proxy_checked.loop_hash of the next fork (NULL: none) */
static bool consumed;            /* proxy_checked.credentials: the request's Proxy-Authorization
				    for our realm (authentication consumed it) */
static const char *labels[3];    /* serial: the targets' labels (setup: gw1, gw2, gw3) */
static bool with_failover;       /* the next setup's ops have failover (below) */

static void peer_init(struct txn_peer *p, const char *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&p->via.src.ss;

	memset(p, 0, sizeof(*p));
	p->via.tp = NET_UDP;
	p->via.udp_fd = 3;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	inet_pton(AF_INET, ip, &sin->sin_addr);
	p->via.src.len = sizeof(*sin);
	sin = (struct sockaddr_in *)&p->via.local.ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(5060);
	inet_pton(AF_INET, "10.0.0.1", &sin->sin_addr);
	p->via.local.len = sizeof(*sin);
	p->dst = p->via.src;
}

static void note_send(const struct txn_peer *to, const char *buf, size_t len)
{
	if (nsent < ARRAY_SIZE(sent)) {
		char *c = malloc(len + 1);
		if (!c)
			return;
		memcpy(c, buf, len);
		c[len] = '\0';
		sent[nsent].buf = c;
		sent[nsent].len = len;
		net_addr_fmt(sent[nsent].to, sizeof(sent[nsent].to), NET_UDP, &to->dst);
		nsent++;
	}
}

static void clear(void)
{
	for (size_t i = 0; i < nsent; i++)
		free(sent[i].buf);
	nsent = nanswered = nrecs = nevents = nrefunds = 0;
}

static int txn_send(void *arg, const struct txn_peer *to, const char *buf, size_t len)
{
	(void)arg;
	note_send(to, buf, len);
	return 0;
}

static void on_request(void *arg, struct txn_server *st, const struct sip_msg *m,
		       const struct txn_peer *from)
{
	struct proxy_target t[3] = { { B1.via, "sip:1002@192.0.2.21:5062", NULL, NULL },
				     { B2.via, "sip:1002@192.0.2.22:5064", NULL, NULL },
				     { B3.via, "sip:1002@192.0.2.23:5066", NULL, NULL } };
	static const struct proxy_cred cred = { "acct", "carrier-secret", NULL };
	struct net_msg in = from->via;
	/* serial: peers, whose record carries the peer, class and numbers */
	struct proxy_outside out = { NULL, "national", "1-212-555-0100", "+12125550100" };
	struct proxy_caller who = { SLICE_LIT("1001"), &in, serial ? &out : NULL };
	struct proxy_checked ck = { "", NULL };
	struct proxy_body pb = { SLICE_NULL, SLICE_NULL, true, true, "country=US;ROOM=201" };
	struct proxy_fork_opts o = { .who = &who };

	if (serial) {
		t[0].label = labels[0];
		t[1].label = labels[1];
		t[2].label = labels[2];
		t[0].cred = with_cred ? &cred : NULL;
	}

	(void)arg;
	if (mode != ON_FORK) {
		last_verdict = proxy_in_dialog(P, st, m, from);
		return;
	}
	if (emergency) {
		o.serial = true;
		o.body = &pb;
	} else if (serial) {
		o.serial = true;
		o.extra = SLICE_LIT("X-Extra: kept\r\n");
	}
	if (who_hash) {
		base_strcpy(ck.loop_hash, sizeof(ck.loop_hash), who_hash);
		o.checked = &ck;
	}
	for (size_t i = 0; consumed && i < m->nhdrs; i++)
		if (m->hdrs[i].id == SIP_H_PROXY_AUTHORIZATION &&
		    memmem(m->hdrs[i].value.p, m->hdrs[i].value.len, "bastion.test", 12)) {
			ck.credentials = &m->hdrs[i];
			o.checked = &ck;
		}
	last_verdict = proxy_fork(P, st, m, from, t, ntargets, &o);
}

static void on_cancel(void *arg, struct txn_server *st)
{
	(void)arg;
	proxy_cancel(P, st);
}

static void on_response(void *arg, struct txn_client *ct, const struct sip_msg *m)
{
	(void)arg;
	proxy_response(P, ct, m);
}

static void on_timeout(void *arg, struct txn_client *ct)
{
	(void)arg;
	proxy_timeout(P, ct);
}

static void on_terminated(void *arg, struct txn_server *st, struct txn_client *ct)
{
	(void)arg;
	proxy_terminated(P, st, ct);
}

static const struct txn_ops tops = { txn_send, on_request, on_cancel, on_response, on_timeout,
				     on_terminated };

/* The core's ops: generated answers are recorded by status only. */
static void op_answer(void *arg, const struct txn_peer *from, struct txn_server *st,
		      const struct sip_msg *m, uint16_t status, const char *reason)
{
	(void)arg, (void)from, (void)st, (void)m, (void)reason;
	if (nanswered < ARRAY_SIZE(answered))
		answered[nanswered++] = status;
}

static int op_send(void *arg, const struct txn_peer *to, const char *buf, size_t len)
{
	(void)arg;
	note_send(to, buf, len);
	return 0;
}

/* Group commit: the batch the next dialog row and BYE-ended record go in
 * (0: nothing waits), and how often the core asked for a commit at once. */
static uint64_t wait_seq;
static size_t ncommits;

static uint64_t op_record(void *arg, const struct store_cdr *rec)
{
	(void)arg;
	if (nrecs < ARRAY_SIZE(recs))
		recs[nrecs++] = *rec;
	return strcmp(rec->hangup, "caller") == 0 || strcmp(rec->hangup, "callee") == 0 ? wait_seq
											 : 0;
}

static void op_event(void *arg, const char *kind, const struct net_msg *in,
		     const struct sip_msg *m, struct slice user, struct slice aor,
		     const char *reason, int status)
{
	(void)arg, (void)in, (void)m, (void)user, (void)aor, (void)reason, (void)status;
	if (nevents < ARRAY_SIZE(events))
		events[nevents++] = kind;
}

static void op_refund(void *arg, const struct net_addr *src)
{
	(void)arg, (void)src;
	nrefunds++;
}

static bool op_ours(void *arg, struct slice host)
{
	(void)arg;
	return slice_caseeq_cstr(host, "bastion.test") || slice_caseeq_cstr(host, "10.0.0.1");
}

static uint64_t op_now(void *arg)
{
	(void)arg;
	return now;
}

static int64_t op_wall(void *arg)
{
	(void)arg;
	return 1700000000000 + (int64_t)now;
}

static const struct proxy_ops pops = { op_answer, op_send, op_record, op_event, op_refund,
				       op_ours,   op_now,  op_wall,   NULL,     NULL,
				       NULL,      NULL,    NULL };

/* With dialogs kept: the last one handed up, and the count of ends. */
static struct store_dialog kept;
static size_t nup, ndown;

static uint64_t op_up(void *arg, const struct store_dialog *d)
{
	(void)arg;
	kept = *d;
	nup++;
	return wait_seq;
}

static void op_down(void *arg, const char *call_id, const char *tag0, const char *tag1)
{
	(void)arg, (void)call_id, (void)tag0, (void)tag1;
	ndown++;
}

/* The owner commits at once: everything handed over is durable. */
static void op_commit(void *arg)
{
	(void)arg;
	ncommits++;
	proxy_durable(P, wait_seq);
	wait_seq++;
}

/* A TCP side found again (ops->reach): what it was asked, and its answer. */
static struct proxy_reach reach_asked;
static char reach_contact[64];
static size_t nreach;
static int reach_rc;

static int op_reach(void *arg, const struct proxy_reach *r, struct net_msg *way, char *contact,
		    size_t cap)
{
	(void)arg;
	nreach++;
	reach_asked = *r;
	snprintf(reach_contact, sizeof(reach_contact), "%s", r->contact ? r->contact : "");
	snprintf(contact, cap, "sip:1002@192.0.2.22:5064");
	if (reach_rc == 0)
		*way = B2.via; /* found: a way of its own */
	return reach_rc;
}

static const struct proxy_ops pops_keep = { op_answer, op_send, op_record, op_event, op_refund,
					    op_ours,   op_now,  op_wall,   op_up,    op_down,
					    op_commit, op_reach, NULL };

/* The owner's word on a serial call's failover (ops->failover): what it was
 * asked, in order, and the label it refuses (NULL: none). */
static char asked_cid[8][32], asked_label[8][16];
static size_t nasked;
static const char *refuse_label;

static bool op_failover(void *arg, struct slice call_id, const char *label)
{
	(void)arg;
	if (nasked < ARRAY_SIZE(asked_cid)) {
		snprintf(asked_cid[nasked], sizeof(asked_cid[0]), "%.*s", (int)call_id.len,
			 call_id.p);
		snprintf(asked_label[nasked], sizeof(asked_label[0]), "%s", label);
	}
	nasked++;
	return !refuse_label || strcmp(label, refuse_label) != 0;
}

static const struct proxy_ops pops_failover = { op_answer, op_send,  op_record, op_event,
						op_refund, op_ours,  op_now,    op_wall,
						NULL,      NULL,     NULL,      NULL,
						op_failover };
static bool keep_dialogs;
static uint32_t hold_max;

static int setup(uint32_t max_dialogs)
{
	struct txn_conf tc = TXN_CONF_DEFAULT;
	struct proxy_conf pc = { .max_dialogs = max_dialogs, .invite_timeout_s = 180,
				 .hold_max = hold_max, .reserved_dialogs = reserved_dialogs };
	int rc;

	clear();
	peer_init(&A, "192.0.2.10", 5061);
	peer_init(&B1, "192.0.2.21", 5062);
	peer_init(&B2, "192.0.2.22", 5064);
	peer_init(&B3, "192.0.2.23", 5066);
	peer_init(&X, "198.51.100.7", 5066);
	labels[0] = "gw1";
	labels[1] = "gw2";
	labels[2] = "gw3";
	nasked = 0;
	refuse_label = NULL;
	snprintf(pc.realm, sizeof(pc.realm), "bastion.test");
	pc.lim = SIP_LIMITS_DEFAULT;
	mode = ON_FORK;
	ntargets = 2;
	serial = with_cred = false;
	wait_seq = 0;
	ncommits = 0;
	if ((rc = txn_layer_new(&L, &tc, &tops, NULL)) != 0)
		return rc;
	return proxy_new(&P, &pc, keep_dialogs ? &pops_keep : with_failover ? &pops_failover : &pops,
			 NULL, L);
}

static void teardown(void)
{
	proxy_free(&P);
	txn_layer_free(&L);
	clear();
}

/* Parse text (with \n line ends turned into CRLF) and feed it as from. */
static enum txn_recv feed(const struct txn_peer *from, const char *text)
{
	static char buf[4096];
	struct sip_hdr hdrs[64];
	struct sip_msg m;
	size_t n = 0;

	for (const char *p = text; *p && n + 2 < sizeof(buf); p++) {
		if (*p == '\n')
			buf[n++] = '\r';
		buf[n++] = *p;
	}
	if (sip_msg_parse(&m, hdrs, ARRAY_SIZE(hdrs), buf, n, false, NULL) != 0)
		return (enum txn_recv)-1;
	if (!m.request || m.mid != SIP_M_ACK)
		return txn_receive(L, &m, from, now);
	{
		enum txn_recv r = txn_receive(L, &m, from, now);
		struct net_msg in = from->via;
		if (r == TXN_ACK_2XX)
			proxy_ack(P, &m, &in);
		return r;
	}
}

/* The last message sent to "ip:port" whose first line starts with start. */
static const char *last_to(const char *to, const char *start)
{
	for (size_t i = nsent; i-- > 0;)
		if (strstr(sent[i].to, to) && strncmp(sent[i].buf, start, strlen(start)) == 0)
			return sent[i].buf;
	return NULL;
}

/* The value of header name in msg, into out. */
static const char *hdr(const char *msg, const char *name, char *out, size_t cap)
{
	char key[64];
	const char *p;
	size_t n;

	snprintf(key, sizeof(key), "\r\n%s: ", name);
	if (!msg || !(p = strstr(msg, key)))
		return NULL;
	p += strlen(key);
	n = strcspn(p, "\r");
	snprintf(out, cap, "%.*s", (int)n, p);
	return out;
}

/* Our Via on a request we sent: "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK"
 * HASH (16 lowercase hex digits) TAIL ";rport", TAIL "." and lowercase hex
 * digits when tail is NULL (a branch's number); the number into *num. */
static bool our_via(const char *msg, const char *tail, unsigned long long *num)
{
	static const char head[] = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK";
	char v[256], *end = NULL;
	const char *p = v + sizeof(head) - 1;

	if (!hdr(msg, "Via", v, sizeof(v)) || strncmp(v, head, sizeof(head) - 1) != 0 ||
	    strspn(p, "0123456789abcdef") != 16)
		return false;
	p += 16;
	if (tail) {
		if (strncmp(p, tail, strlen(tail)) != 0)
			return false;
		p += strlen(tail);
	} else {
		if (*p++ != '.' || strspn(p, "0123456789abcdef") == 0)
			return false;
		if (num)
			*num = strtoull(p, &end, 16);
		p += strspn(p, "0123456789abcdef");
	}
	return strcmp(p, ";rport") == 0;
}

/* The callee's response to the request r (as forwarded to it): status line,
 * its Vias, From, To with tag, Call-ID, CSeq. */
static void respond_x(const struct txn_peer *from, const char *r, int status, const char *totag,
		      const char *extra);

static void respond(const struct txn_peer *from, const char *r, int status, const char *totag)
{
	respond_x(from, r, status, totag, "");
}

/* The same with extra header lines (each ending in \n). */
static void respond_x(const struct txn_peer *from, const char *r, int status, const char *totag,
		      const char *extra)
{
	char via[512], via2[512], fr[256], to[256], cid[256], cseq[64], text[2048];
	const char *p = r, *second;
	size_t n;

	CHECK(hdr(r, "Via", via, sizeof(via)));
	second = strstr(strstr(p, "\r\nVia: ") + 7, "\r\nVia: ");
	CHECK(second);
	n = strcspn(second + 7, "\r");
	snprintf(via2, sizeof(via2), "%.*s", (int)n, second + 7);
	CHECK(hdr(r, "From", fr, sizeof(fr)) && hdr(r, "To", to, sizeof(to)) &&
	      hdr(r, "Call-ID", cid, sizeof(cid)) && hdr(r, "CSeq", cseq, sizeof(cseq)));
	snprintf(text, sizeof(text),
		 "SIP/2.0 %d X\nVia: %s\nVia: %s\nFrom: %s\nTo: %s%s%s\nCall-ID: %s\nCSeq: %s\n"
		 "Contact: <sip:1002@192.0.2.21:5062>\n%sContent-Length: 0\n\n",
		 status, via, via2, fr, to, totag ? ";tag=" : "", totag ? totag : "", cid, cseq,
		 extra);
	CHECK(feed(from, text) == TXN_RESPONSE);
}

static const char *invite_text(const char *call_id, char *buf, size_t cap)
{
	char branch[64];

	snprintf(branch, sizeof(branch), "%s", call_id);
	for (char *q = branch; *q; q++)
		if (*q == '@')
			*q = '.';
	snprintf(buf, cap,
		 "INVITE sip:1002@bastion.test SIP/2.0\n"
		 "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-%s;rport\n"
		 "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		 "To: <sip:1002@bastion.test>\nCall-ID: %s\nCSeq: 1 INVITE\n"
		 "Contact: <sip:1001@192.0.2.10:5061>\nContent-Length: 0\n\n",
		 branch, call_id);
	return buf;
}

/* ---- cases ---------------------------------------------------------------------------- */

static void fork_best_response_dialog_bye(void)
{
	char text[1024], tmp[256];
	const char *r1, *r2;
	struct proxy_stats st;
	unsigned long long n1 = 0, n2 = 0;

	CHECK_INT(setup(100), 0);
	CHECK(feed(&A, invite_text("c1@a", text, sizeof(text))) == TXN_NEW);
	CHECK_INT(last_verdict.status, 0);
	r1 = last_to("192.0.2.21:5062", "INVITE sip:1002@192.0.2.21:5062");
	r2 = last_to("192.0.2.22:5064", "INVITE sip:1002@192.0.2.22:5064");
	CHECK(r1 && r2);
	CHECK(strstr(r1, "Record-Route: <sip:10.0.0.1:5060;lr>"));
	CHECK(hdr(r1, "Max-Forwards", tmp, sizeof(tmp)) && strcmp(tmp, "69") == 0);
	/* each branch its own number after the loop hash */
	CHECK(our_via(r1, NULL, &n1) && our_via(r2, NULL, &n2) && n1 != n2);
	respond(&B2, r2, 486, "b2");                 /* busy: held, not passed on yet */
	CHECK(!last_to("192.0.2.10:5061", "SIP/2.0 486"));
	respond(&B1, r1, 180, "b1");
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 180"));
	respond(&B1, r1, 200, "b1");                 /* the 2xx wins over the 486 */
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 200"));
	CHECK(!last_to("192.0.2.10:5061", "SIP/2.0 486"));
	proxy_stats(P, &st);
	CHECK_INT(st.dialogs, 1);
	/* the caller's ACK follows the dialog to B1 */
	CHECK(feed(&A, "ACK sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-ack1;rport\n"
		       "Route: <sip:10.0.0.1:5060;lr>\nMax-Forwards: 70\n"
		       "From: <sip:1001@bastion.test>;tag=ta\nTo: <sip:1002@bastion.test>;tag=b1\n"
		       "Call-ID: c1@a\nCSeq: 1 ACK\nContent-Length: 0\n\n") == TXN_ACK_2XX);
	CHECK(last_to("192.0.2.21:5062", "ACK "));
	CHECK(our_via(last_to("192.0.2.21:5062", "ACK "), ".ack", NULL)); /* stateless (16.11) */
	/* the caller hangs up */
	mode = ON_IN_DIALOG;
	CHECK(feed(&A, "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-bye1;rport\n"
		       "Route: <sip:10.0.0.1:5060;lr>\nMax-Forwards: 70\n"
		       "From: <sip:1001@bastion.test>;tag=ta\nTo: <sip:1002@bastion.test>;tag=b1\n"
		       "Call-ID: c1@a\nCSeq: 2 BYE\nContent-Length: 0\n\n") == TXN_NEW);
	CHECK_INT(last_verdict.status, 0);
	CHECK(nrefunds >= 2);
	r1 = last_to("192.0.2.21:5062", "BYE ");
	CHECK(r1);
	CHECK(!strstr(r1, "Route:")); /* our own Route was consumed */
	respond(&B1, r1, 200, NULL);
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 200"));
	proxy_stats(P, &st);
	CHECK_INT(st.dialogs, 0);
	CHECK_INT(nrecs, 1);
	CHECK(strcmp(recs[0].call_id, "c1@a") == 0);
	CHECK_INT(recs[0].final_status, 200);
	CHECK(strcmp(recs[0].hangup, "caller") == 0);
	CHECK(strcmp(recs[0].auth_user, "1001") == 0);
	/* a BYE for the ended dialog names none */
	CHECK(feed(&A, "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-bye2;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>;tag=b1\n"
		       "Call-ID: c1@a\nCSeq: 3 BYE\nContent-Length: 0\n\n") == TXN_NEW);
	CHECK_INT(last_verdict.status, 481);
	teardown();
}

/* text (\n line ends made CRLF) parsed into *m, over buf. */
static bool parse_text(struct sip_msg *m, struct sip_hdr *hdrs, size_t nhdrs, char *buf,
		       size_t cap, const char *text)
{
	size_t n = 0;

	for (const char *p = text; *p && n + 2 < cap; p++) {
		if (*p == '\n')
			buf[n++] = '\r';
		buf[n++] = *p;
	}
	return sip_msg_parse(m, hdrs, nhdrs, buf, n, false, NULL) == 0;
}

/* The 16 hex digits after "branch=z9hG4bK" in our Via on msg, into out. */
static bool via_hash(const char *msg, char out[17])
{
	char v[256];
	const char *p;

	if (!hdr(msg, "Via", v, sizeof(v)) || !(p = strstr(v, "branch=z9hG4bK")))
		return false;
	p += strlen("branch=z9hG4bK");
	if (strspn(p, "0123456789abcdef") < 16)
		return false;
	memcpy(out, p, 16);
	out[16] = '\0';
	return true;
}

/* Loop hashes computed so far (proxy_stats.loop_hashes). */
static uint64_t hashes(void)
{
	struct proxy_stats st;

	proxy_stats(P, &st);
	return st.loop_hashes;
}

/* 16.3 and 16.6 step 8: the loop hash is computed at most once a request,
 * and only when needed. proxy_check computes none for a request without a
 * Via of ours (a phone's INVITE: it may well be answered here, a 407), the
 * fork writes the hash it is handed into every branch's Via, or computes it
 * once when handed none; a request carrying our Via with its own hash is a
 * loop: 482, and proxy_check hands out the hash it computed for it. Our Via
 * under another host is none, and costs no hash. */
static void loop_hash_once_and_482(void)
{
	char text[1024], loopy[1024], buf[2048], h[17] = "", got[17];
	struct sip_hdr hdrs[32];
	struct sip_msg m;
	struct proxy_verdict v;
	struct proxy_checked ck;
	const char *r1, *r2;
	uint64_t n0;

	CHECK_INT(setup(100), 0);
	invite_text("loop1@a", text, sizeof(text));
	CHECK(parse_text(&m, hdrs, ARRAY_SIZE(hdrs), buf, sizeof(buf), text));
	n0 = hashes();
	memset(ck.loop_hash, 'x', sizeof(ck.loop_hash));
	v = proxy_check(P, &m, NULL, NULL, &ck);
	CHECK_INT(v.status, 0);
	CHECK_INT(ck.loop_hash[0], '\0'); /* none computed: it may be challenged */
	CHECK_INT(hashes(), n0);
	/* the fork uses the hash it is handed, not one of its own */
	who_hash = "0123456789abcdef";
	CHECK(feed(&A, text) == TXN_NEW);
	who_hash = NULL;
	CHECK_INT(hashes(), n0);
	CHECK_INT(last_verdict.status, 0);
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	r2 = last_to("192.0.2.22:5064", "INVITE ");
	CHECK(r1 && r2 && via_hash(r1, got) && strcmp(got, "0123456789abcdef") == 0);
	CHECK(via_hash(r2, got) && strcmp(got, "0123456789abcdef") == 0);
	/* without one it computes it, once for all branches */
	invite_text("loop2@a", text, sizeof(text));
	CHECK(feed(&A, text) == TXN_NEW);
	CHECK_INT(hashes(), n0 + 1);
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	r2 = last_to("192.0.2.22:5064", "INVITE ");
	CHECK(r1 && strstr(r1, "Call-ID: loop2@a") && via_hash(r1, h));
	CHECK_INT(strspn(h, "0123456789abcdef"), 16);
	CHECK(strcmp(h, "0123456789abcdef") != 0);
	CHECK(r2 && via_hash(r2, got) && strcmp(got, h) == 0);
	/* the first request back with our Via (its hash) under the same top
	 * Via: a loop, found with one hash, which proxy_check hands out */
	snprintf(loopy, sizeof(loopy), "%.*sVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK%s.1\n%s",
		 (int)(strstr(text, "Max-Forwards") - text), text, h, strstr(text, "Max-Forwards"));
	CHECK(parse_text(&m, hdrs, ARRAY_SIZE(hdrs), buf, sizeof(buf), loopy));
	n0 = hashes();
	v = proxy_check(P, &m, NULL, NULL, &ck);
	CHECK_INT(v.status, 482);
	CHECK(strcmp(v.reason, "Loop Detected") == 0);
	CHECK(strcmp(ck.loop_hash, h) == 0);
	CHECK_INT(hashes(), n0 + 1);
	CHECK_INT(proxy_check(P, &m, NULL, NULL, NULL).status, 482); /* the hash not wanted */
	/* the same branch under a host that is not ours: no loop, no hash */
	snprintf(loopy, sizeof(loopy), "%.*sVia: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK%s.1\n%s",
		 (int)(strstr(text, "Max-Forwards") - text), text, h, strstr(text, "Max-Forwards"));
	CHECK(parse_text(&m, hdrs, ARRAY_SIZE(hdrs), buf, sizeof(buf), loopy));
	n0 = hashes();
	CHECK_INT(proxy_check(P, &m, NULL, NULL, &ck).status, 0);
	CHECK_INT(ck.loop_hash[0], '\0');
	CHECK_INT(hashes(), n0);
	teardown();
}

/* The serial fork (trunk and emergency calls) takes the checked hash too:
 * the first target's Via, the INVITE resubmitted with credentials after a
 * 407, and the next target's after a 503 (both started later, from the
 * transaction's copy of the request) all carry the hash it was handed, none
 * one of its own (none is computed); the same with the body replaced (an
 * emergency call). Handed none, it computes one for all the branches. */
static void serial_loop_hash_once(void)
{
	static const char chal[] = "Proxy-Authenticate: Digest realm=\"carrier\", "
				   "nonce=\"abc123\", qop=\"auth\", algorithm=MD5\n";
	char text[1024], got[17];
	const char *r1, *r1b, *r2;
	uint64_t n0;

	CHECK_INT(setup(100), 0);
	n0 = hashes();
	serial = with_cred = true;
	who_hash = "00112233445566ff";
	CHECK(feed(&A, invite_text("sl1@a", text, sizeof(text))) == TXN_NEW);
	who_hash = NULL;
	CHECK_INT(last_verdict.status, 0);
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	CHECK(r1 && via_hash(r1, got) && strcmp(got, "00112233445566ff") == 0);
	respond_x(&B1, r1, 407, "b1", chal);
	r1b = last_to("192.0.2.21:5062", "INVITE ");
	CHECK(r1b && r1b != r1 && strstr(r1b, "Proxy-Authorization: "));
	CHECK(via_hash(r1b, got) && strcmp(got, "00112233445566ff") == 0);
	respond(&B1, r1b, 503, "b1");
	r2 = last_to("192.0.2.22:5064", "INVITE ");
	CHECK(r2 && via_hash(r2, got) && strcmp(got, "00112233445566ff") == 0);
	respond(&B2, r2, 200, "b2");
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 200") != NULL);
	CHECK_INT(hashes(), n0);
	teardown();

	/* the emergency call's fork: serial, its body replaced */
	CHECK_INT(setup(100), 0);
	n0 = hashes();
	emergency = true;
	who_hash = "ffeeddccbbaa9988";
	CHECK(feed(&A, invite_text("sl2@a", text, sizeof(text))) == TXN_NEW);
	who_hash = NULL;
	emergency = false;
	CHECK_INT(last_verdict.status, 0);
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	CHECK(r1 && via_hash(r1, got) && strcmp(got, "ffeeddccbbaa9988") == 0);
	CHECK(last_to("192.0.2.22:5064", "INVITE ") == NULL); /* waits its turn */
	respond(&B1, r1, 500, "b1");
	r2 = last_to("192.0.2.22:5064", "INVITE ");
	CHECK(r2 && via_hash(r2, got) && strcmp(got, "ffeeddccbbaa9988") == 0);
	CHECK_INT(hashes(), n0);
	teardown();

	/* the consumed credentials (ours) are dropped on the later branch too,
	 * found by their place in the transaction's copy; another realm's go on */
	CHECK_INT(setup(100), 0);
	serial = consumed = true;
	invite_text("sl4@a", text, sizeof(text));
	{
		char with[1400];
		const char *cl = strstr(text, "Content-Length");
		snprintf(with, sizeof(with),
			 "%.*sProxy-Authorization: Digest username=\"x\", realm=\"carrier\", "
			 "nonce=\"n1\", uri=\"sip:1002@bastion.test\", response=\"00\"\n"
			 "Proxy-Authorization: Digest username=\"1001\", realm=\"bastion.test\", "
			 "nonce=\"n2\", uri=\"sip:1002@bastion.test\", response=\"00\"\n%s",
			 (int)(cl - text), text, cl);
		CHECK(feed(&A, with) == TXN_NEW);
	}
	consumed = false;
	CHECK_INT(last_verdict.status, 0);
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	CHECK(r1 && strstr(r1, "realm=\"carrier\"") && !strstr(r1, "realm=\"bastion.test\""));
	respond(&B1, r1, 503, "b1");
	r2 = last_to("192.0.2.22:5064", "INVITE ");
	CHECK(r2 && strstr(r2, "realm=\"carrier\"") && !strstr(r2, "realm=\"bastion.test\""));
	teardown();

	/* without one, each call's serial branches share the hash it computed */
	CHECK_INT(setup(100), 0);
	n0 = hashes();
	serial = true;
	CHECK(feed(&A, invite_text("sl3@a", text, sizeof(text))) == TXN_NEW);
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	CHECK(r1 && via_hash(r1, got));
	CHECK(strcmp(got, "00112233445566ff") != 0 && strcmp(got, "ffeeddccbbaa9988") != 0);
	{
		char first[17];
		memcpy(first, got, sizeof(first));
		respond(&B1, r1, 503, "b1");
		r2 = last_to("192.0.2.22:5064", "INVITE ");
		CHECK(r2 && via_hash(r2, got) && strcmp(got, first) == 0);
	}
	CHECK_INT(hashes(), n0 + 1);
	teardown();
}

/* A serial call fails over to another peer only when the owner says yes
 * (ops->failover, asked with the call's Call-ID and the target's label, for
 * a label other than the one the call counts against): a no skips that
 * target and the next one is asked; the caller's final is the best of the
 * targets tried. */
static void serial_failover_asks_the_owner(void)
{
	char text[1024];
	const char *r1, *r3;

	/* gw2 refused: not tried; gw3 asked and tried, and its 200 goes up */
	with_failover = true;
	CHECK_INT(setup(100), 0);
	serial = true;
	ntargets = 3;
	refuse_label = "gw2";
	CHECK(feed(&A, invite_text("fo1@a", text, sizeof(text))) == TXN_NEW);
	CHECK_INT(last_verdict.status, 0);
	CHECK_INT(nasked, 0); /* the first target is not asked: the call counts there */
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	CHECK(r1 != NULL);
	respond(&B1, r1, 503, "b1");
	CHECK_INT(nasked, 2);
	CHECK(strcmp(asked_cid[0], "fo1@a") == 0 && strcmp(asked_label[0], "gw2") == 0);
	CHECK(strcmp(asked_cid[1], "fo1@a") == 0 && strcmp(asked_label[1], "gw3") == 0);
	CHECK(last_to("192.0.2.22:5064", "INVITE ") == NULL);
	r3 = last_to("192.0.2.23:5066", "INVITE sip:1002@192.0.2.23:5066");
	CHECK(r3 != NULL);
	respond(&B3, r3, 200, "b3");
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 200") != NULL);
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 503") == NULL);
	teardown();

	/* the only other peer refused: the caller gets gw1's 503, its record
	 * names gw1 */
	CHECK_INT(setup(100), 0);
	serial = true;
	refuse_label = "gw2";
	CHECK(feed(&A, invite_text("fo2@a", text, sizeof(text))) == TXN_NEW);
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	CHECK(r1 != NULL);
	respond(&B1, r1, 503, "b1");
	CHECK_INT(nasked, 1);
	CHECK(last_to("192.0.2.22:5064", "INVITE ") == NULL);
	r1 = last_to("192.0.2.10:5061", "SIP/2.0 503");
	CHECK(r1 != NULL && strstr(r1, "tag=b1") != NULL); /* gw1's own answer */
	CHECK_INT(nrecs, 1);
	CHECK_INT(recs[0].final_status, 503);
	CHECK(strcmp(recs[0].peer, "gw1") == 0);
	teardown();

	/* a yes moves the call: gw2's second address is not asked again */
	CHECK_INT(setup(100), 0);
	serial = true;
	ntargets = 3;
	labels[2] = "gw2";
	CHECK(feed(&A, invite_text("fo3@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 503, "b1");
	CHECK_INT(nasked, 1);
	r1 = last_to("192.0.2.22:5064", "INVITE ");
	CHECK(r1 != NULL);
	respond(&B2, r1, 500, "b2");
	CHECK_INT(nasked, 1);
	r3 = last_to("192.0.2.23:5066", "INVITE ");
	CHECK(r3 != NULL);
	respond(&B3, r3, 486, "b3");
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 486") != NULL);
	teardown();

	/* a no is asked again of the same peer's next address (the call still
	 * counts against gw1), and neither is tried */
	CHECK_INT(setup(100), 0);
	serial = true;
	ntargets = 3;
	labels[2] = "gw2";
	refuse_label = "gw2";
	CHECK(feed(&A, invite_text("fo4@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 408, "b1");
	CHECK_INT(nasked, 2);
	CHECK(last_to("192.0.2.22:5064", "INVITE ") == NULL);
	CHECK(last_to("192.0.2.23:5066", "INVITE ") == NULL);
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 408") != NULL);
	teardown();

	/* the same label, and no label, are not asked */
	CHECK_INT(setup(100), 0);
	serial = true;
	ntargets = 3;
	labels[1] = "gw1";
	labels[2] = NULL;
	refuse_label = "gw1";
	CHECK(feed(&A, invite_text("fo5@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 503, "b1");
	respond(&B2, last_to("192.0.2.22:5064", "INVITE "), 503, "b2");
	CHECK(last_to("192.0.2.23:5066", "INVITE ") != NULL);
	CHECK_INT(nasked, 0);
	teardown();
	with_failover = false;
}

/* A stored dialog's ways back (proxy_dialog_ways, the inverse of what
 * dialog_up was handed): transport, address, local address, no socket; a
 * way that does not parse has no address, a bad local address is empty. */
static void stored_ways_back(void)
{
	struct store_dialog d;
	struct net_msg way[2];
	char text[64];

	memset(&d, 0, sizeof(d));
	snprintf(d.way[0], sizeof(d.way[0]), "udp:192.0.2.10:5061");
	snprintf(d.local[0], sizeof(d.local[0]), "udp:10.0.0.1:5060");
	snprintf(d.way[1], sizeof(d.way[1]), "tcp:[2001:db8::2]:5070");
	proxy_dialog_ways(way, &d);
	CHECK_INT(way[0].tp, NET_UDP);
	CHECK_INT(way[0].udp_fd, -1);
	net_addr_fmt(text, sizeof(text), way[0].tp, &way[0].src);
	CHECK(strcmp(text, d.way[0]) == 0);
	net_addr_fmt(text, sizeof(text), way[0].tp, &way[0].local);
	CHECK(strcmp(text, d.local[0]) == 0);
	CHECK_INT(way[1].tp, NET_TCP);
	CHECK_INT(way[1].udp_fd, -1);
	CHECK_INT(way[1].src.ss.ss_family, AF_INET6);
	CHECK_INT(net_addr_port(&way[1].src), 5070);
	CHECK_INT(way[1].local.ss.ss_family, 0); /* "" unknown */
	CHECK(!net_msg_conn_alive(&way[1]));
	/* junk: no way, no local address */
	snprintf(d.way[0], sizeof(d.way[0]), "carrier-pigeon:1.2.3.4");
	snprintf(d.local[0], sizeof(d.local[0]), "udp:not-an-address");
	proxy_dialog_ways(way, &d);
	CHECK_INT(way[0].src.ss.ss_family, 0);
	CHECK_INT(way[0].local.ss.ss_family, 0);
	CHECK_INT(way[0].udp_fd, -1);
}

static void first_2xx_cancels_the_others(void)
{
	char text[1024];
	const char *r1, *r2;

	CHECK_INT(setup(100), 0);
	CHECK(feed(&A, invite_text("c2@a", text, sizeof(text))) == TXN_NEW);
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	r2 = last_to("192.0.2.22:5064", "INVITE ");
	CHECK(r1 && r2);
	respond(&B1, r1, 180, "b1");
	respond(&B2, r2, 180, "b2");
	respond(&B1, r1, 200, "b1");
	CHECK(last_to("192.0.2.22:5064", "CANCEL "));
	CHECK(!last_to("192.0.2.21:5062", "CANCEL "));
	teardown();
}

static void cancel_before_ringing(void)
{
	char text[1024];

	CHECK_INT(setup(100), 0);
	CHECK(feed(&A, invite_text("c3@a", text, sizeof(text))) == TXN_NEW);
	CHECK(feed(&A, "CANCEL sip:1002@bastion.test SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-c3.a;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>\nCall-ID: c3@a\nCSeq: 1 CANCEL\n"
		       "Content-Length: 0\n\n") == TXN_ABSORBED);
	CHECK_INT(nanswered, 1);
	CHECK_INT(answered[0], 487);
	CHECK_INT(nrecs, 1);
	CHECK_INT(recs[0].final_status, 487);
	CHECK(strcmp(recs[0].hangup, "none") == 0);
	teardown();
}

static void timer_c_gives_up(void)
{
	char text[1024];

	CHECK_INT(setup(100), 0);
	ntargets = 1;
	CHECK(feed(&A, invite_text("c4@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 100, NULL);
	now += 179 * 1000;
	proxy_tick(P, now);
	CHECK_INT(nanswered, 0);
	now += 2 * 1000;
	proxy_tick(P, now);
	CHECK_INT(nanswered, 1);
	CHECK_INT(answered[0], 408);
	CHECK_INT(nrecs, 1);
	CHECK_INT(recs[0].final_status, 408);
	teardown();
}

/* Sequential search (peers): one target at a time; a 503 or a timeout
 * starts the next with the same extra headers; the best answer goes up. */
static void serial_fails_over(void)
{
	char text[1024], tmp[64];
	const char *r2;

	CHECK_INT(setup(100), 0);
	serial = true;
	CHECK(feed(&A, invite_text("s1@a", text, sizeof(text))) == TXN_NEW);
	CHECK_INT(last_verdict.status, 0);
	CHECK(last_to("192.0.2.21:5062", "INVITE ") != NULL);
	CHECK(last_to("192.0.2.22:5064", "INVITE ") == NULL); /* waits its turn */
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 503, "b1");
	r2 = last_to("192.0.2.22:5064", "INVITE sip:1002@192.0.2.22:5064");
	CHECK(r2 != NULL);
	CHECK(hdr(r2, "X-Extra", tmp, sizeof(tmp)) && strcmp(tmp, "kept") == 0);
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 503") == NULL); /* not yet */
	respond(&B2, r2, 200, "b2");
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 200") != NULL);
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 503") == NULL);
	teardown();

	/* a transaction timeout fails over too (timer B) */
	CHECK_INT(setup(100), 0);
	serial = true;
	CHECK(feed(&A, invite_text("s2@a", text, sizeof(text))) == TXN_NEW);
	for (int i = 0; i < 70 && !last_to("192.0.2.22:5064", "INVITE "); i++) {
		now += 1000;
		txn_tick(L, now);
	}
	CHECK(last_to("192.0.2.22:5064", "INVITE ") != NULL);
	respond(&B2, last_to("192.0.2.22:5064", "INVITE "), 486, "b2");
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 486") != NULL);
	CHECK_INT(nrecs, 1);
	CHECK_INT(recs[0].final_status, 486);
	/* the record names the peer whose answer the caller got, and the number */
	CHECK(strcmp(recs[0].peer, "gw2") == 0);
	CHECK(strcmp(recs[0].klass, "national") == 0);
	CHECK(strcmp(recs[0].dialed, "1-212-555-0100") == 0);
	CHECK(strcmp(recs[0].number, "+12125550100") == 0);
	teardown();
}

/* Any answer about the call itself ends the search: a 404 or a 6xx. */
static void serial_stops_on_answer(void)
{
	static const int stops[] = { 404, 603, 486 };
	char text[1024];

	for (size_t i = 0; i < ARRAY_SIZE(stops); i++) {
		CHECK_INT(setup(100), 0);
		serial = true;
		CHECK(feed(&A, invite_text("s3@a", text, sizeof(text))) == TXN_NEW);
		respond(&B1, last_to("192.0.2.21:5062", "INVITE "), stops[i], "b1");
		CHECK(last_to("192.0.2.22:5064", "INVITE ") == NULL);
		CHECK_INT(nrecs, 1);
		CHECK_INT(recs[0].final_status, stops[i]);
		CHECK(strcmp(recs[0].peer, "gw1") == 0);
		teardown();
	}
	/* a CANCEL while the first rings: the second is never tried */
	CHECK_INT(setup(100), 0);
	serial = true;
	CHECK(feed(&A, invite_text("s4@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 180, "b1");
	CHECK(feed(&A, "CANCEL sip:1002@bastion.test SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-s4.a;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>\nCall-ID: s4@a\nCSeq: 1 CANCEL\n"
		       "Content-Length: 0\n\n") == TXN_ABSORBED);
	CHECK(last_to("192.0.2.21:5062", "CANCEL ") != NULL);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 487, "b1");
	CHECK(last_to("192.0.2.22:5064", "INVITE ") == NULL);
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 487") != NULL);
	teardown();
}

/* A peer with credentials answers 407: the INVITE goes to it once more
 * with our Proxy-Authorization and the next CSeq; the caller sees its own
 * CSeq on the 200, and its ACK and BYE are shifted by one toward the peer.
 * A second challenge goes upstream. Without credentials the 407 is final. */
static void serial_answers_a_challenge(void)
{
	char text[1024], tmp[512];
	const char *r1, *r2, *ok;
	static const char chal[] = "Proxy-Authenticate: Digest realm=\"carrier\", "
				   "nonce=\"abc123\", qop=\"auth\", algorithm=MD5\n";

	CHECK_INT(setup(100), 0);
	serial = with_cred = true;
	CHECK(feed(&A, invite_text("sa@a", text, sizeof(text))) == TXN_NEW);
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	CHECK(r1 && hdr(r1, "CSeq", tmp, sizeof(tmp)) && strcmp(tmp, "1 INVITE") == 0);
	respond_x(&B1, r1, 407, "b1", chal);
	r2 = last_to("192.0.2.21:5062", "INVITE ");
	CHECK(r2 != r1 && r2 != NULL);
	CHECK(hdr(r2, "CSeq", tmp, sizeof(tmp)) && strcmp(tmp, "2 INVITE") == 0);
	CHECK(hdr(r2, "Proxy-Authorization", tmp, sizeof(tmp)) &&
	      strstr(tmp, "username=\"acct\"") && strstr(tmp, "realm=\"carrier\"") &&
	      strstr(tmp, "uri=\"sip:1002@192.0.2.21:5062\"") && strstr(tmp, "qop=auth"));
	CHECK(!strstr(r2, "carrier-secret"));                 /* never the password */
	CHECK(hdr(r2, "X-Extra", tmp, sizeof(tmp)) && strcmp(tmp, "kept") == 0);
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 407") == NULL); /* not passed on */
	CHECK(last_to("192.0.2.22:5064", "INVITE ") == NULL);  /* no failover */
	respond(&B1, r2, 200, "b1");
	ok = last_to("192.0.2.10:5061", "SIP/2.0 200");
	CHECK(ok && hdr(ok, "CSeq", tmp, sizeof(tmp)) && strcmp(tmp, "1 INVITE") == 0);
	/* the caller's ACK (CSeq 1) and BYE (CSeq 2) reach the peer as 2 and 3 */
	CHECK(feed(&A, "ACK sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-sa-ack;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>;tag=b1\nCall-ID: sa@a\nCSeq: 1 ACK\n"
		       "Content-Length: 0\n\n") != TXN_NEW);
	CHECK(last_to("192.0.2.21:5062", "ACK ") && hdr(last_to("192.0.2.21:5062", "ACK "), "CSeq",
							  tmp, sizeof(tmp)) &&
	      strcmp(tmp, "2 ACK") == 0);
	mode = ON_IN_DIALOG;
	CHECK(feed(&A, "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-sa-bye;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>;tag=b1\nCall-ID: sa@a\nCSeq: 2 BYE\n"
		       "Content-Length: 0\n\n") == TXN_NEW);
	r1 = last_to("192.0.2.21:5062", "BYE ");
	CHECK(r1 && hdr(r1, "CSeq", tmp, sizeof(tmp)) && strcmp(tmp, "3 BYE") == 0);
	respond(&B1, r1, 200, NULL);
	ok = last_to("192.0.2.10:5061", "SIP/2.0 200");
	CHECK(ok && hdr(ok, "CSeq", tmp, sizeof(tmp)) && strcmp(tmp, "2 BYE") == 0);
	mode = ON_FORK;
	teardown();

	/* challenged again: the second 407 is the answer */
	CHECK_INT(setup(100), 0);
	serial = with_cred = true;
	CHECK(feed(&A, invite_text("sb@a", text, sizeof(text))) == TXN_NEW);
	respond_x(&B1, last_to("192.0.2.21:5062", "INVITE "), 407, "b1", chal);
	respond_x(&B1, last_to("192.0.2.21:5062", "INVITE "), 407, "b1", chal);
	ok = last_to("192.0.2.10:5061", "SIP/2.0 407");
	CHECK(ok && hdr(ok, "CSeq", tmp, sizeof(tmp)) && strcmp(tmp, "1 INVITE") == 0);
	teardown();

	/* no credentials: the 407 goes upstream as it came */
	CHECK_INT(setup(100), 0);
	serial = true;
	with_cred = false;
	CHECK(feed(&A, invite_text("sc@a", text, sizeof(text))) == TXN_NEW);
	respond_x(&B1, last_to("192.0.2.21:5062", "INVITE "), 407, "b1", chal);
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 407") != NULL);
	teardown();
}

static void in_dialog_checks(void)
{
	char text[1024];
	const char *r1;

	CHECK_INT(setup(100), 0);
	ntargets = 1;
	CHECK(feed(&A, invite_text("c5@a", text, sizeof(text))) == TXN_NEW);
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	respond(&B1, r1, 200, "b1");
	mode = ON_IN_DIALOG;
	/* an outsider who knows the Call-ID and both tags */
	CHECK(feed(&X, "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 198.51.100.7:5066;branch=z9hG4bK-evil;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>;tag=b1\n"
		       "Call-ID: c5@a\nCSeq: 2 BYE\nContent-Length: 0\n\n") == TXN_NEW);
	CHECK_INT(last_verdict.status, 403);
	CHECK(last_verdict.event && strcmp(last_verdict.event, "call.foreign_in_dialog") == 0);
	/* wrong tags: no such dialog */
	CHECK(feed(&A, "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-bye9;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>;tag=zz\n"
		       "Call-ID: c5@a\nCSeq: 2 BYE\nContent-Length: 0\n\n") == TXN_NEW);
	CHECK_INT(last_verdict.status, 481);
	teardown();
}

/* Confirm a dialog with Call-ID cid (one target, straight 200). */
static int confirm(const char *cid)
{
	char text[1024];
	const char *r1;

	if (feed(&A, invite_text(cid, text, sizeof(text))) != TXN_NEW || last_verdict.status)
		return EPROTO;
	r1 = last_to("192.0.2.21:5062", "INVITE ");
	if (!r1)
		return EPROTO;
	respond(&B1, r1, 200, "b1");
	clear();
	return check_failed ? EPROTO : 0;
}

static void dialog_table_bound(void)
{
	struct proxy_stats st;

	CHECK_INT(setup(2), 0);
	ntargets = 1;
	CHECK_INT(confirm("d1@a"), 0);
	CHECK_INT(confirm("d2@a"), 0);
	CHECK_INT(confirm("d3@a"), 0);
	proxy_stats(P, &st);
	CHECK_INT(st.dialogs, 2);
	CHECK_INT(st.dialogs_refused, 1);
	teardown();
}

/* The decision (issue 13): ordinary dialogs stop at max, an emergency
 * call's at max + reserve. */
static void dialog_room_decision(void)
{
	CHECK(proxy_dialog_room(0, 2, 0, false));
	CHECK(proxy_dialog_room(1, 2, 0, false));
	CHECK(!proxy_dialog_room(2, 2, 0, false));
	CHECK(!proxy_dialog_room(2, 2, 0, true));  /* no reserve: none beyond */
	CHECK(!proxy_dialog_room(2, 2, 3, false)); /* the reserve is not for ordinary calls */
	CHECK(proxy_dialog_room(2, 2, 3, true));
	CHECK(proxy_dialog_room(4, 2, 3, true));
	CHECK(!proxy_dialog_room(5, 2, 3, true));
	CHECK(!proxy_dialog_room(7, 2, 3, true));  /* over (a smaller reload): none */
	CHECK(proxy_dialog_room(4000000, 4000000, 100000, true));
	CHECK(!proxy_dialog_room((size_t)4000000 + 100000, 4000000, 100000, true));
}

/* A table full of ordinary dialogs: an ordinary call's is not tracked, an
 * emergency call's is (the reserve), its BYE is routed and its record
 * marked; past the reserve even an emergency call's is not tracked. */
static void emergency_dialog_uses_the_reserve(void)
{
	struct proxy_stats st;

	reserved_dialogs = 1;
	CHECK_INT(setup(2), 0);
	ntargets = 1;
	CHECK_INT(confirm("o1@a"), 0);
	CHECK_INT(confirm("o2@a"), 0);
	CHECK_INT(confirm("o3@a"), 0); /* full: not tracked */
	proxy_stats(P, &st);
	CHECK_INT(st.dialogs, 2);
	CHECK_INT(st.dialogs_refused, 1);
	CHECK_INT(st.dialogs_reserve_used, 0);
	emergency = true;
	CHECK_INT(confirm("e1@a"), 0);
	proxy_stats(P, &st);
	CHECK_INT(st.dialogs, 3);
	CHECK_INT(st.dialogs_refused, 1);
	CHECK_INT(st.dialogs_reserve_used, 1);
	CHECK_INT(confirm("e2@a"), 0); /* the reserve is used up */
	proxy_stats(P, &st);
	CHECK_INT(st.dialogs, 3);
	CHECK_INT(st.dialogs_refused, 2);
	emergency = false;
	/* its in-dialog requests from its sides may use the reserves
	 * (proxy_emergency_in_dialog); an ordinary dialog's, or an outsider's, not */
	{
		static const char bye[] =
			"BYE sip:1002@192.0.2.21:5062 SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-q;rport\r\n"
			"Max-Forwards: 70\r\nFrom: <sip:1001@bastion.test>;tag=ta\r\n"
			"To: <sip:1002@bastion.test>;tag=b1\r\n"
			"Call-ID: %s\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
		char buf[512];
		struct sip_hdr hdrs[16];
		struct sip_msg m;
		int n;

		n = snprintf(buf, sizeof(buf), bye, "e1@a");
		CHECK_INT(sip_msg_parse(&m, hdrs, ARRAY_SIZE(hdrs), buf, (size_t)n, false, NULL), 0);
		CHECK(proxy_emergency_in_dialog(P, &m, &A.via.src));
		CHECK(!proxy_emergency_in_dialog(P, &m, &X.via.src));
		n = snprintf(buf, sizeof(buf), bye, "o1@a");
		CHECK_INT(sip_msg_parse(&m, hdrs, ARRAY_SIZE(hdrs), buf, (size_t)n, false, NULL), 0);
		CHECK(!proxy_emergency_in_dialog(P, &m, &A.via.src));
	}
	/* the emergency call's BYE is routed, its record marked with the location */
	mode = ON_IN_DIALOG;
	CHECK(feed(&A, "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-ebye;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>;tag=b1\n"
		       "Call-ID: e1@a\nCSeq: 2 BYE\nContent-Length: 0\n\n") == TXN_NEW);
	CHECK_INT(last_verdict.status, 0);
	respond(&B1, last_to("192.0.2.21:5062", "BYE "), 200, NULL);
	CHECK_INT(nrecs, 1);
	CHECK(recs[0].emergency && strcmp(recs[0].call_id, "e1@a") == 0);
	CHECK(strcmp(recs[0].location, "country=US;ROOM=201") == 0);
	CHECK(strcmp(recs[0].hangup, "caller") == 0);
	/* an ordinary call's BYE for the untracked o3: 481 */
	CHECK(feed(&A, "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-obye;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>;tag=b1\n"
		       "Call-ID: o3@a\nCSeq: 2 BYE\nContent-Length: 0\n\n") == TXN_NEW);
	CHECK_INT(last_verdict.status, 481);
	teardown();
	reserved_dialogs = 0;
}

static void colliding_call_ids_stay_short(void)
{
	enum { N = 2000 };
	char (*ids)[32] = calloc(N, 32);
	struct proxy_stats st;
	uint64_t before;

	CHECK(ids);
	CHECK_INT(check_fnv_collisions(ids, N), N);
	CHECK_INT(setup(100000), 0);
	ntargets = 1;
	for (size_t i = 0; i < N; i++)
		CHECK_INT(confirm(ids[i]), 0);
	proxy_stats(P, &st);
	CHECK_INT(st.dialogs, N);
	/* an in-dialog request for each: a short walk, not the whole table */
	mode = ON_IN_DIALOG;
	proxy_stats(P, &st);
	before = st.dialog_probes;
	for (size_t i = 0; i < N; i++) {
		char text[1024];
		snprintf(text, sizeof(text),
			 "INFO sip:1002@192.0.2.21:5062 SIP/2.0\n"
			 "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-i%zu;rport\n"
			 "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
			 "To: <sip:1002@bastion.test>;tag=b1\n"
			 "Call-ID: %s\nCSeq: 5 INFO\nContent-Length: 0\n\n", i, ids[i]);
		CHECK(feed(&A, text) == TXN_NEW);
		CHECK_INT(last_verdict.status, 0);
		clear();
	}
	proxy_stats(P, &st);
	/* The old table walked a chain of all N for each: N*N/2 probes. */
	CHECK(st.dialog_probes - before < (uint64_t)N * 8);
	teardown();
	free(ids);
}

static void restored_dialog_ends_with_its_record(void)
{
	char text[1024];
	struct net_msg way[2];
	struct store_dialog d;

	keep_dialogs = true;
	nup = ndown = 0;
	CHECK_INT(setup(10), 0);
	ntargets = 1;
	CHECK(feed(&A, invite_text("k1@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 200, "b1");
	CHECK_INT(nup, 1);
	CHECK(strcmp(kept.call_id, "k1@a") == 0 && strcmp(kept.tag[1], "b1") == 0);
	CHECK(strstr(kept.way[1], "192.0.2.21:5062") && kept.answer_at > 0);
	d = kept;
	proxy_free(&P);              /* a stop: the kept dialog writes no record */
	CHECK_INT(nrecs, 0);
	CHECK_INT(ndown, 0);
	teardown();

	CHECK_INT(setup(10), 0);     /* the next run */
	way[0] = A.via;
	way[1] = B1.via;
	CHECK_INT(proxy_restore(P, &d, way, NULL), 0);
	CHECK_INT(proxy_restore(P, &d, way, NULL), EEXIST);
	mode = ON_IN_DIALOG;
	CHECK(feed(&A, "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-kbye;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>;tag=b1\n"
		       "Call-ID: k1@a\nCSeq: 2 BYE\nContent-Length: 0\n\n") == TXN_NEW);
	CHECK_INT(last_verdict.status, 0);
	respond(&B1, last_to("192.0.2.21:5062", "BYE "), 200, NULL);
	CHECK_INT(nrecs, 1);
	CHECK(strcmp(recs[0].hangup, "caller") == 0 && recs[0].answer_at == d.answer_at);
	CHECK_INT(ndown, 1);
	teardown();

	/* one whose lifetime ran out while nobody ran: a timeout record */
	CHECK_INT(setup(10), 0);
	d.expires_at = op_wall(NULL) - 1;
	CHECK_INT(proxy_restore(P, &d, way, NULL), 0);
	CHECK_INT(nrecs, 1);
	CHECK(strcmp(recs[0].hangup, "timeout") == 0);
	CHECK(!recs[0].emergency);
	teardown();
	keep_dialogs = false;
}

/* An emergency call's dialog is kept with its mark and location (issue 13);
 * restored, its record is still marked, and it may use the reserve: a table
 * full of ordinary dialogs refuses an ordinary one (EOVERFLOW), not it. */
static void restored_emergency_dialog_keeps_its_mark(void)
{
	char text[1024];
	struct net_msg way[2];
	static struct store_dialog d, o;

	keep_dialogs = true;
	nup = ndown = 0;
	CHECK_INT(setup(10), 0);
	ntargets = 1;
	emergency = true;
	CHECK(feed(&A, invite_text("ke@a", text, sizeof(text))) == TXN_NEW);
	emergency = false;
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 200, "b1");
	CHECK_INT(nup, 1);
	CHECK(kept.emergency && strcmp(kept.location, "country=US;ROOM=201") == 0);
	d = kept;
	CHECK(feed(&A, invite_text("ko@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 200, "b1");
	CHECK_INT(nup, 2);
	CHECK(!kept.emergency && kept.location[0] == '\0');
	o = kept;
	proxy_free(&P);
	teardown();

	reserved_dialogs = 1;
	CHECK_INT(setup(1), 0);     /* the next run, with room for one ordinary dialog */
	way[0] = A.via;
	way[1] = B1.via;
	CHECK_INT(proxy_restore(P, &o, way, NULL), 0);
	snprintf(o.call_id, sizeof(o.call_id), "ko2@a");
	CHECK_INT(proxy_restore(P, &o, way, NULL), EOVERFLOW); /* an ordinary one: full */
	CHECK_INT(proxy_restore(P, &d, way, NULL), 0);         /* the emergency one: reserve */
	mode = ON_IN_DIALOG;
	CHECK(feed(&A, "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-kebye;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>;tag=b1\n"
		       "Call-ID: ke@a\nCSeq: 2 BYE\nContent-Length: 0\n\n") == TXN_NEW);
	CHECK_INT(last_verdict.status, 0);
	respond(&B1, last_to("192.0.2.21:5062", "BYE "), 200, NULL);
	CHECK_INT(nrecs, 1);
	CHECK(recs[0].emergency && strcmp(recs[0].call_id, "ke@a") == 0);
	CHECK(strcmp(recs[0].location, "country=US;ROOM=201") == 0);
	CHECK(strcmp(recs[0].hangup, "caller") == 0);
	teardown();
	reserved_dialogs = 0;
	keep_dialogs = false;
}

/* How many messages went to "ip:port" with a first line starting with start. */
static size_t count_to(const char *to, const char *start)
{
	size_t n = 0;

	for (size_t i = 0; i < nsent; i++)
		n += strstr(sent[i].to, to) && strncmp(sent[i].buf, start, strlen(start)) == 0;
	return n;
}

static const char *bye_from_a(const char *cid, char *buf, size_t cap)
{
	char branch[64];

	snprintf(branch, sizeof(branch), "%s", cid);
	for (char *q = branch; *q; q++)
		if (*q == '@')
			*q = '.';
	snprintf(buf, cap,
		 "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		 "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-bye-%s;rport\n"
		 "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		 "To: <sip:1002@bastion.test>;tag=b1\n"
		 "Call-ID: %s\nCSeq: 2 BYE\nContent-Length: 0\n\n", branch, cid);
	return buf;
}

/* Group commit: the 2xx that confirms a dialog waits until the batch its
 * row goes in is durable, and so does the answer to the BYE that ends it
 * (its record's batch). Many calls, one commit: the owner says which batch
 * is durable, the answers of that batch and older go out in order. */
static void answers_wait_for_their_batch(void)
{
	char text[1024];
	struct proxy_stats st;
	const char *ok;

	keep_dialogs = true;
	CHECK_INT(setup(10), 0);
	ntargets = 1;
	wait_seq = 7;
	CHECK(feed(&A, invite_text("g1@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 180, "b1");
	CHECK(last_to("192.0.2.10:5061", "SIP/2.0 180")); /* provisional: at once */
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 200, "b1");
	CHECK(!last_to("192.0.2.10:5061", "SIP/2.0 200")); /* the row is not durable */
	proxy_stats(P, &st);
	CHECK_INT(st.holding, 1);
	CHECK_INT(st.dialogs, 1);
	proxy_durable(P, 6);
	CHECK(!last_to("192.0.2.10:5061", "SIP/2.0 200"));
	proxy_durable(P, 7);
	ok = last_to("192.0.2.10:5061", "SIP/2.0 200");
	CHECK(ok && strstr(ok, "CSeq: 1 INVITE"));
	proxy_stats(P, &st);
	CHECK_INT(st.holding, 0);
	CHECK_INT((int)st.released, 1);
	/* the caller hangs up; the BYE's answer waits for the record */
	wait_seq = 8;
	mode = ON_IN_DIALOG;
	CHECK(feed(&A, bye_from_a("g1@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "BYE "), 200, NULL);
	CHECK_INT(nrecs, 1);
	CHECK(strcmp(recs[0].hangup, "caller") == 0);
	CHECK_INT(count_to("192.0.2.10:5061", "SIP/2.0 200"), 1);
	proxy_durable(P, 8);
	CHECK_INT(count_to("192.0.2.10:5061", "SIP/2.0 200"), 2);
	ok = last_to("192.0.2.10:5061", "SIP/2.0 200");
	CHECK(ok && strstr(ok, "CSeq: 2 BYE"));
	teardown();
	keep_dialogs = false;
}

/* hold_max: a new INVITE that finds it reached gets 503 (and a record); an
 * answer that cannot be held has its batch committed at once (ops->commit)
 * and goes out after the ones held before it, never before its batch. */
static void hold_bound(void)
{
	char text[1024];
	struct proxy_stats st;
	const char *r;

	keep_dialogs = true;
	hold_max = 1;
	CHECK_INT(setup(10), 0);
	ntargets = 1;
	wait_seq = 1;
	CHECK(feed(&A, invite_text("h1@a", text, sizeof(text))) == TXN_NEW);
	CHECK(feed(&A, invite_text("h2@a", text, sizeof(text))) == TXN_NEW);
	CHECK_INT(last_verdict.status, 0);
	CHECK_INT(count_to("192.0.2.21:5062", "INVITE "), 2);
	for (size_t i = 0; i < nsent; i++)
		if (strstr(sent[i].to, "192.0.2.21:5062") && strstr(sent[i].buf, "Call-ID: h1@a"))
			respond(&B1, sent[i].buf, 200, "b1");
	CHECK_INT(count_to("192.0.2.10:5061", "SIP/2.0 200"), 0); /* held */
	for (size_t i = 0; i < nsent; i++)
		if (strstr(sent[i].to, "192.0.2.21:5062") && strstr(sent[i].buf, "Call-ID: h2@a") &&
		    strncmp(sent[i].buf, "INVITE ", 7) == 0) {
			respond(&B1, sent[i].buf, 200, "b1");
			break;
		}
	CHECK_INT(ncommits, 1);
	CHECK_INT(count_to("192.0.2.10:5061", "SIP/2.0 200"), 2);
	r = last_to("192.0.2.10:5061", "SIP/2.0 200");
	CHECK(r && strstr(r, "Call-ID: h2@a")); /* h1's went first */
	/* one held again (batch 2), then a new call finds the bound */
	CHECK(feed(&A, invite_text("h3@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 200, "b1");
	proxy_stats(P, &st);
	CHECK_INT(st.holding, 1);
	nrecs = 0;
	CHECK(feed(&A, invite_text("h4@a", text, sizeof(text))) == TXN_NEW);
	CHECK_INT(last_verdict.status, 503);
	CHECK(strcmp(last_verdict.reason, "Server Busy") == 0);
	CHECK_INT(nrecs, 1);
	CHECK_INT(recs[0].final_status, 503);
	proxy_stats(P, &st);
	CHECK_INT((int)st.hold_full, 2);
	teardown();
	hold_max = 0;
	keep_dialogs = false;
}

/* A batch that failed: its dialog is not confirmed. The callee's leg is
 * ended (ACK, BYE with a Reason), the caller gets 500, the record says the
 * call was never answered, and the dialog is gone. */
static void unstored_dialog_is_refused(void)
{
	char text[1024];
	struct proxy_stats st;
	const char *bye;

	keep_dialogs = true;
	CHECK_INT(setup(10), 0);
	ntargets = 1;
	wait_seq = 3;
	CHECK(feed(&A, invite_text("n1@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 200, "b1");
	proxy_not_stored(P, 3);
	CHECK(last_to("192.0.2.21:5062", "ACK "));
	bye = last_to("192.0.2.21:5062", "BYE ");
	CHECK(bye && strstr(bye, "Call Not Stored") && strstr(bye, "tag=b1"));
	CHECK_INT(nanswered, 1);
	CHECK_INT(answered[0], 500);
	CHECK(!last_to("192.0.2.10:5061", "SIP/2.0 200"));
	CHECK_INT(nrecs, 1);
	CHECK_INT(recs[0].final_status, 500);
	CHECK(strcmp(recs[0].hangup, "none") == 0);
	proxy_stats(P, &st);
	CHECK_INT(st.dialogs, 0);
	CHECK_INT(st.holding, 0);
	CHECK_INT((int)st.unstored, 1);
	proxy_durable(P, 10); /* nothing left to send */
	CHECK(!last_to("192.0.2.10:5061", "SIP/2.0 200"));
	teardown();
	keep_dialogs = false;
}

/* A restored dialog whose callee was on TCP: its connection is gone, so the
 * BYE asks the owner to find the callee again (ops->reach) with the contact
 * known at restore, and goes the way found; when none is found the BYE gets
 * 503 and the owner is asked again next time, with the contact it gave. */
static void restored_tcp_side_is_reached_again(void)
{
	char text[1024];
	struct net_msg way[2];
	struct store_dialog d;
	const char *contact[2] = { NULL, "sip:1002@192.0.2.21:5070;transport=tcp" };

	keep_dialogs = true;
	CHECK_INT(setup(10), 0);
	ntargets = 1;
	CHECK(feed(&A, invite_text("t1@a", text, sizeof(text))) == TXN_NEW);
	respond(&B1, last_to("192.0.2.21:5062", "INVITE "), 200, "b1");
	d = kept;
	teardown();

	CHECK_INT(setup(10), 0);
	way[0] = A.via;
	way[1] = B1.via;
	way[1].tp = NET_TCP; /* its connection died with the last run */
	way[1].udp_fd = -1;
	CHECK_INT(proxy_restore(P, &d, way, contact), 0);
	mode = ON_IN_DIALOG;
	nreach = 0;
	reach_rc = ENOTCONN;
	CHECK(feed(&A, "INFO sip:1002@192.0.2.21:5062 SIP/2.0\n"
		       "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-tinfo;rport\n"
		       "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		       "To: <sip:1002@bastion.test>;tag=b1\n"
		       "Call-ID: t1@a\nCSeq: 2 INFO\nContent-Length: 0\n\n") == TXN_NEW);
	CHECK_INT((int)nreach, 1);
	CHECK_INT(reach_asked.side, 1);
	CHECK(strcmp(reach_asked.auth_user, "1001") == 0);
	CHECK(strcmp(reach_asked.callee, "sip:1002@bastion.test") == 0);
	CHECK(strcmp(reach_contact, contact[1]) == 0);
	reach_rc = 0;
	CHECK(feed(&A, bye_from_a("t1@a", text, sizeof(text))) == TXN_NEW);
	CHECK_INT(last_verdict.status, 0);
	CHECK_INT((int)nreach, 2);
	CHECK(strcmp(reach_contact, "sip:1002@192.0.2.22:5064") == 0); /* as given last time */
	CHECK(last_to("192.0.2.22:5064", "BYE "));
	teardown();
	keep_dialogs = false;
}

/* A whole call (fork to two, ring, answer, ACK, BYE, a CANCELled second
 * call, a timer C) with CHECKs muted: under allocation failure anything may
 * be refused, nothing may crash or leak. */
static int call_life(void *arg)
{
	bool failed = check_failed;
	char text[1024];
	const char *r;
	int rc;

	keep_dialogs = arg != NULL; /* with group commit: answers held */
	if ((rc = setup(10)) != 0) {
		proxy_free(&P);
		txn_layer_free(&L);
		keep_dialogs = false;
		return rc;
	}
	wait_seq = keep_dialogs ? 1 : 0;
	feed(&A, invite_text("o1@a", text, sizeof(text)));
	if ((r = last_to("192.0.2.21:5062", "INVITE ")))
		respond(&B1, r, 180, "b1");
	if ((r = last_to("192.0.2.22:5064", "INVITE ")))
		respond(&B2, r, 180, "b2");
	if ((r = last_to("192.0.2.21:5062", "INVITE ")))
		respond(&B1, r, 200, "b1");
	if ((r = last_to("192.0.2.22:5064", "INVITE ")))
		respond(&B2, r, 487, "b2");
	proxy_durable(P, wait_seq++);
	mode = ON_IN_DIALOG;
	feed(&A, "BYE sip:1002@192.0.2.21:5062 SIP/2.0\n"
		 "Via: SIP/2.0/UDP 192.0.2.10:5061;branch=z9hG4bK-obye;rport\n"
		 "Max-Forwards: 70\nFrom: <sip:1001@bastion.test>;tag=ta\n"
		 "To: <sip:1002@bastion.test>;tag=b1\n"
		 "Call-ID: o1@a\nCSeq: 2 BYE\nContent-Length: 0\n\n");
	if ((r = last_to("192.0.2.21:5062", "BYE ")))
		respond(&B1, r, 200, NULL);
	proxy_not_stored(P, wait_seq); /* a failed batch: the BYE's answer goes anyway */
	mode = ON_FORK;
	feed(&A, invite_text("o2@a", text, sizeof(text)));
	now += 200 * 1000;
	proxy_tick(P, now);
	txn_tick(L, now);
	teardown();
	keep_dialogs = false;
	check_failed = failed; /* the muted CHECKs of this run */
	return 0;
}

static void allocation_failures(void)
{
	static int keep;

	CHECK(CHECK_OOM_SWEEP(call_life, NULL, 2000) > 10);
	CHECK(CHECK_OOM_SWEEP(call_life, &keep, 2000) > 10);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(fork_best_response_dialog_bye),
		CASE(first_2xx_cancels_the_others),
		CASE(loop_hash_once_and_482),
		CASE(serial_loop_hash_once),
		CASE(stored_ways_back),
		CASE(cancel_before_ringing),
		CASE(timer_c_gives_up),
		CASE(serial_fails_over),
		CASE(serial_stops_on_answer),
		CASE(serial_answers_a_challenge),
		CASE(serial_failover_asks_the_owner),
		CASE(in_dialog_checks),
		CASE(dialog_table_bound),
		CASE(colliding_call_ids_stay_short),
		CASE(allocation_failures),
		CASE(restored_dialog_ends_with_its_record),
		CASE(restored_emergency_dialog_keeps_its_mark),
		CASE(dialog_room_decision),
		CASE(emergency_dialog_uses_the_reserve),
		CASE(answers_wait_for_their_batch),
		CASE(hold_bound),
		CASE(unstored_dialog_is_refused),
		CASE(restored_tcp_side_is_reached_again),
	};

	return check_main("proxy_core", cases, ARRAY_SIZE(cases), argc, argv);
}
