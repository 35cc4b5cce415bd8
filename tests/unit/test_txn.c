/*
 * test_txn: the RFC 3261 17 transaction layer driven by a fake clock and a
 * fake send that records every message with the time it went out. Each state
 * machine is walked through its timers (A B D E F G H I J K M), with
 * retransmissions absorbed, CANCEL on both sides (9.1, 9.2), the ACK for a
 * non-2xx final (17.1.1.3), RFC 2543 matching, reliable transports, a full
 * table, odd input, and ops->terminated exactly once per transaction.
 */
#include "check.h"
#include "sip/sip.h"
#include "txn/internal.h"
#include "txn/txn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>

#define T1 500u
#define T2 4000u
#define T4 5000u

struct sent_msg {
	char *buf;
	size_t len;
	uint64_t at;
	enum net_transport tp;
};

static struct txn_layer *L;
static uint64_t now;
static struct sent_msg sent[1024];
static size_t nsent;
static int send_rc;
static unsigned nreq, ncancel, nresp, ntimeout, nterm, bad_term;
static struct txn_server *last_st, *cancel_st;
static struct txn_client *last_ct, *timeout_ct;
static uint16_t last_status;
static void *live[256];
static size_t nlive;
static struct txn_peer udp, tcp;

static void live_add(void *p)
{
	if (nlive < ARRAY_SIZE(live))
		live[nlive++] = p;
}

static int fake_send(void *arg, const struct txn_peer *to, const char *buf, size_t len)
{
	(void)arg;
	if (send_rc)
		return send_rc;
	if (nsent < ARRAY_SIZE(sent)) {
		char *c = malloc(len + 1);
		memcpy(c, buf, len);
		c[len] = '\0';
		sent[nsent++] = (struct sent_msg){ c, len, now, to->via.tp };
	}
	return 0;
}

static void on_request(void *arg, struct txn_server *st, const struct sip_msg *m,
		       const struct txn_peer *from)
{
	(void)arg, (void)m, (void)from;
	nreq++;
	last_st = st;
	live_add(st);
}

static void on_cancel(void *arg, struct txn_server *st)
{
	(void)arg;
	ncancel++;
	cancel_st = st;
}

static void on_response(void *arg, struct txn_client *ct, const struct sip_msg *m)
{
	(void)arg;
	nresp++;
	last_ct = ct;
	last_status = m->status;
}

static void on_timeout(void *arg, struct txn_client *ct)
{
	(void)arg;
	ntimeout++;
	timeout_ct = ct;
}

static void on_terminated(void *arg, struct txn_server *st, struct txn_client *ct)
{
	void *p = st ? (void *)st : (void *)ct;

	(void)arg;
	nterm++;
	if ((st && ct) || (!st && !ct)) {
		bad_term++;
		return;
	}
	for (size_t i = 0; i < nlive; i++) {
		if (live[i] == p) {
			live[i] = live[--nlive];
			return;
		}
	}
	bad_term++; /* never seen, or reported twice */
}

static const struct txn_ops ops = { fake_send, on_request, on_cancel, on_response, on_timeout,
				    on_terminated };

static void clear_sent(void)
{
	for (size_t i = 0; i < nsent; i++)
		free(sent[i].buf);
	nsent = 0;
}

static void peer_init(struct txn_peer *p, enum net_transport tp)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&p->via.src.ss;

	memset(p, 0, sizeof(*p));
	p->via.tp = tp;
	p->via.udp_fd = -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(5060);
	inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);
	p->via.src.len = sizeof(*sin);
	p->dst = p->via.src;
}

static int setup_max(uint32_t max)
{
	struct txn_conf c = TXN_CONF_DEFAULT;

	txn_layer_free(&L);
	clear_sent();
	now = 1000;
	send_rc = 0;
	nreq = ncancel = nresp = ntimeout = nterm = bad_term = 0;
	last_st = cancel_st = NULL;
	last_ct = timeout_ct = NULL;
	last_status = 0;
	nlive = 0;
	peer_init(&udp, NET_UDP);
	peer_init(&tcp, NET_TCP);
	c.max_transactions = max;
	return txn_layer_new(&L, &c, &ops, NULL);
}

static int setup(void)
{
	return setup_max(64);
}

static void advance(uint64_t ms)
{
	for (uint64_t i = 0; i < ms; i++)
		txn_tick(L, ++now);
}

static void finish(void)
{
	txn_layer_free(&L);
	clear_sent();
}

/* Parse a copy of s, feed it, then wipe the copy: the layer must not keep
 * pointers into what it was given. Returns the txn_recv or -1. */
static int feed(const char *s, const struct txn_peer *p)
{
	static struct sip_hdr h[100];
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	struct sip_msg m;
	size_t len = strlen(s);
	char *copy = malloc(len);
	int r = -1;

	memcpy(copy, s, len);
	if (sip_msg_parse(&m, h, 100, copy, len, p->via.tp != NET_UDP, &lim) == 0)
		r = (int)txn_receive(L, &m, p, now);
	memset(copy, 'X', len);
	free(copy);
	return r;
}

static char *req(char *buf, size_t cap, const char *method, const char *via,
		 const char *cseq_method, const char *from_tag, const char *to_tag)
{
	snprintf(buf, cap,
		 "%s sip:bob@example.com SIP/2.0\r\n"
		 "Via: %s\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <sip:alice@example.com>;tag=%s\r\n"
		 "To: <sip:bob@example.com>%s%s\r\n"
		 "Call-ID: call1@example.com\r\n"
		 "CSeq: 1 %s\r\n"
		 "Content-Length: 0\r\n\r\n",
		 method, via, from_tag, to_tag ? ";tag=" : "", to_tag ? to_tag : "", cseq_method);
	return buf;
}

#define VIA_A "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa"
#define VIA_B "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbbb"
#define VIA_OLD "SIP/2.0/UDP 192.0.2.1:5060"

static int respond(struct txn_server *st, uint16_t status, const char *reason, const char *tag)
{
	char mem[2048];
	struct sip_buf b;
	struct sip_reply_opts o = { 0 };

	o.to_tag = tag ? slice_cstr(tag) : SLICE_NULL;
	sip_buf_init(&b, mem, sizeof(mem));
	if (sip_reply_build(&b, txn_server_request(st), status, reason, &o) != 0)
		return -1;
	return txn_server_respond(st, status, b.p, b.len, now);
}

#define CLI_BRANCH "z9hG4bKcli1"
#define CLI_VIA "SIP/2.0/UDP proxy.example.com;branch=" CLI_BRANCH

static const char cli_invite[] =
	"INVITE sip:bob@example.com SIP/2.0\r\n"
	"Via: " CLI_VIA "\r\n"
	"Via: " VIA_A "\r\n"
	"Route: <sip:p1.example.com;lr>\r\n"
	"Record-Route: <sip:proxy.example.com;lr>\r\n"
	"Route: <sip:p2.example.com;lr>\r\n"
	"Max-Forwards: 69\r\n"
	"From: <sip:alice@example.com>;tag=ft\r\n"
	"To: <sip:bob@example.com>\r\n"
	"Call-ID: call1@example.com\r\n"
	"CSeq: 7 INVITE\r\n"
	"Contact: <sip:alice@192.0.2.1>\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: 4\r\n\r\n"
	"v=0\n";

static const char cli_message[] =
	"MESSAGE sip:bob@example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKcli2\r\n"
	"Max-Forwards: 70\r\n"
	"From: <sip:alice@example.com>;tag=ft\r\n"
	"To: <sip:bob@example.com>\r\n"
	"Call-ID: call2@example.com\r\n"
	"CSeq: 3 MESSAGE\r\n"
	"Content-Length: 0\r\n\r\n";

static char *resp(char *buf, size_t cap, unsigned status, const char *branch, unsigned cseq,
		  const char *method, const char *tag)
{
	snprintf(buf, cap,
		 "SIP/2.0 %u Whatever\r\n"
		 "Via: SIP/2.0/UDP proxy.example.com;branch=%s\r\n"
		 "Via: " VIA_A "\r\n"
		 "From: <sip:alice@example.com>;tag=ft\r\n"
		 "To: <sip:bob@example.com>%s%s\r\n"
		 "Call-ID: call1@example.com\r\n"
		 "CSeq: %u %s\r\n"
		 "Content-Length: 0\r\n\r\n",
		 status, branch, tag ? ";tag=" : "", tag ? tag : "", cseq, method);
	return buf;
}

static bool has(size_t i, const char *needle)
{
	return i < nsent && strstr(sent[i].buf, needle) != NULL;
}

static bool starts(size_t i, const char *prefix)
{
	return i < nsent && strncmp(sent[i].buf, prefix, strlen(prefix)) == 0;
}

static size_t count_of(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* ---- cases ------------------------------------------------------------------ */

static void non_invite_server(void)
{
	char b[1024];
	struct txn_server *st;
	struct txn_stats s;

	CHECK_INT(setup(), 0);
	req(b, sizeof(b), "OPTIONS", VIA_A, "OPTIONS", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	CHECK_INT(nreq, 1);
	st = last_st;
	/* the copy is ours: the fed buffer was wiped */
	CHECK_SLICE(txn_server_request(st)->call_id, "call1@example.com");
	CHECK_SLICE(txn_server_request(st)->method, "OPTIONS");
	CHECK_INT(txn_server_request(st)->nhdrs, 7);
	CHECK(txn_server_peer(st)->via.tp == NET_UDP);
	txn_server_set_user(st, b);
	CHECK(txn_server_user(st) == b);
	/* Trying: a retransmission is absorbed silently */
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nsent, 0);
	CHECK_INT(respond(st, 100, "Trying", NULL), 0);
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nsent, 2);
	CHECK(starts(1, "SIP/2.0 100 "));
	CHECK_INT(respond(st, 200, "OK", "tt"), 0);
	CHECK_INT(nsent, 3);
	CHECK_INT(respond(st, 200, "OK", "tt"), EINVAL);
	uint64_t done = now;
	advance(1000);
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nsent, 4);
	CHECK_INT(sent[3].len, sent[2].len);
	CHECK(memcmp(sent[3].buf, sent[2].buf, sent[2].len) == 0);
	CHECK(starts(3, "SIP/2.0 200 OK"));
	CHECK_INT(nreq, 1);
	/* timer J = 64*T1 */
	advance(done + 64 * T1 - 1 - now);
	CHECK_INT(nterm, 0);
	advance(1);
	CHECK_INT(nterm, 1);
	CHECK_INT(bad_term, 0);
	CHECK_INT(nlive, 0);
	txn_layer_stats(L, &s);
	CHECK_INT(s.servers, 0);
	CHECK_INT(s.retransmissions_absorbed, 3);
	CHECK_INT(s.retransmissions_sent, 2);
	/* after J, the same request opens a new transaction */
	CHECK_INT(feed(b, &udp), TXN_NEW);
	CHECK_INT(nreq, 2);
	finish();
}

static void invite_server_486_ack(void)
{
	char b[1024], ack[1024];
	struct txn_server *st;
	size_t i;

	CHECK_INT(setup(), 0);
	req(b, sizeof(b), "INVITE", VIA_A, "INVITE", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	st = last_st;
	CHECK_INT(feed(b, &udp), TXN_ABSORBED); /* nothing to resend yet */
	CHECK_INT(nsent, 0);
	CHECK_INT(respond(st, 180, "Ringing", "tt"), 0);
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nsent, 2);
	CHECK(starts(1, "SIP/2.0 180 Ringing"));
	CHECK_INT(respond(st, 486, "Busy Here", "tt"), 0);
	CHECK_INT(nsent, 3);
	uint64_t t0 = now;
	advance(12000);
	/* G: T1, 2T1, 4T1, then capped at T2 */
	CHECK_INT(nsent, 3 + 5);
	const uint64_t at[] = { 500, 1500, 3500, 7500, 11500 };
	for (i = 0; i < 5; i++) {
		CHECK_INT(sent[3 + i].at - t0, at[i]);
		CHECK(starts(3 + i, "SIP/2.0 486 Busy Here"));
	}
	/* INVITE retransmission in Completed gets the 486 */
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nsent, 9);
	CHECK(starts(8, "SIP/2.0 486"));
	/* an ACK with a wrong To tag on a cookie branch still matches (17.2.3) */
	req(ack, sizeof(ack), "ACK", VIA_A, "ACK", "ft", "tt");
	CHECK_INT(feed(ack, &udp), TXN_ABSORBED);
	uint64_t t_ack = now;
	advance(T4 - 1);
	CHECK_INT(nsent, 9); /* Confirmed: no more G */
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nsent, 9); /* and INVITE retransmissions absorbed silently */
	CHECK_INT(feed(ack, &udp), TXN_ABSORBED);
	CHECK_INT(nterm, 0);
	advance(t_ack + T4 - now);
	CHECK_INT(nterm, 1);
	CHECK_INT(bad_term, 0);
	CHECK_INT(nlive, 0);
	CHECK_INT(nreq, 1);
	/* the transaction is gone: the ACK no longer matches */
	CHECK_INT(feed(ack, &udp), TXN_ACK_2XX);
	finish();
}

static void invite_server_no_ack(void)
{
	char b[1024];
	uint64_t t0;

	CHECK_INT(setup(), 0);
	req(b, sizeof(b), "INVITE", VIA_A, "INVITE", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	CHECK_INT(respond(last_st, 486, "Busy Here", "tt"), 0);
	t0 = now;
	advance(64 * T1 - 1);
	CHECK_INT(nterm, 0);
	/* G at 0.5 1.5 3.5 7.5 11.5 15.5 19.5 23.5 27.5 31.5 s */
	CHECK_INT(nsent, 1 + 10);
	CHECK_INT(sent[10].at - t0, 31500);
	advance(1);
	CHECK_INT(now - t0, 64 * T1);
	CHECK_INT(nterm, 1); /* timer H */
	CHECK_INT(bad_term, 0);
	advance(10000);
	CHECK_INT(nsent, 11);
	CHECK_INT(nterm, 1);
	finish();
}

static void invite_server_2xx(void)
{
	char b[1024], ack[1024];
	struct txn_server *st;
	struct txn_stats s;

	CHECK_INT(setup(), 0);
	req(b, sizeof(b), "INVITE", VIA_A, "INVITE", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	st = last_st;
	CHECK_INT(respond(st, 180, "Ringing", "tt"), 0);
	CHECK_INT(respond(st, 200, "OK", "tt"), 0);
	CHECK_INT(nsent, 2);
	CHECK_INT(respond(st, 200, "OK", "tt"), EINVAL);
	/* out of matching at once; the ACK for the 2xx goes to the user */
	req(ack, sizeof(ack), "ACK", VIA_B, "ACK", "ft", "tt");
	CHECK_INT(feed(ack, &udp), TXN_ACK_2XX);
	req(ack, sizeof(ack), "ACK", VIA_A, "ACK", "ft", "tt");
	CHECK_INT(feed(ack, &udp), TXN_ACK_2XX);
	CHECK_INT(nterm, 0); /* reported from the next tick */
	advance(1);
	CHECK_INT(nterm, 1);
	CHECK_INT(bad_term, 0);
	txn_layer_stats(L, &s);
	CHECK_INT(s.servers, 0);
	advance(64 * T1);
	CHECK_INT(nsent, 2); /* no G after a 2xx */
	finish();
}

static void invite_client_486(void)
{
	char b[1024];
	struct txn_client *ct;
	struct sip_hdr h[50];
	struct sip_msg m;
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	int x = 42;

	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &udp, &x, now), 0);
	live_add(ct);
	CHECK(txn_client_user(ct) == &x);
	CHECK_INT(nsent, 1);
	uint64_t t0 = now;
	advance(4000);
	/* A: T1, 2T1, 4T1 */
	CHECK_INT(nsent, 4);
	CHECK_INT(sent[1].at - t0, 500);
	CHECK_INT(sent[2].at - t0, 1500);
	CHECK_INT(sent[3].at - t0, 3500);
	CHECK_INT(sent[3].len, strlen(cli_invite));
	CHECK(memcmp(sent[3].buf, cli_invite, sent[3].len) == 0);
	resp(b, sizeof(b), 180, CLI_BRANCH, 7, "INVITE", "rt");
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK_INT(nresp, 1);
	CHECK(last_ct == ct);
	CHECK_INT(last_status, 180);
	advance(64 * T1 + 1000);
	CHECK_INT(nsent, 4); /* 180 stopped A */
	CHECK_INT(ntimeout, 0); /* and B */
	/* a response for another method or branch is not ours */
	resp(b, sizeof(b), 486, CLI_BRANCH, 7, "BYE", "rt");
	CHECK_INT(feed(b, &udp), TXN_STRAY_RESPONSE);
	resp(b, sizeof(b), 486, "z9hG4bKother", 7, "INVITE", "rt");
	CHECK_INT(feed(b, &udp), TXN_STRAY_RESPONSE);
	resp(b, sizeof(b), 486, CLI_BRANCH, 7, "INVITE", "rt");
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK_INT(nresp, 2);
	CHECK_INT(last_status, 486);
	CHECK_INT(nsent, 5);
	/* 17.1.1.3 */
	CHECK(starts(4, "ACK sip:bob@example.com SIP/2.0\r\n"));
	CHECK(has(4, "\r\nVia: " CLI_VIA "\r\n"));
	CHECK_INT(count_of(sent[4].buf, "Via:"), 1);
	CHECK(has(4, "\r\nTo: <sip:bob@example.com>;tag=rt\r\n"));
	CHECK(has(4, "\r\nFrom: <sip:alice@example.com>;tag=ft\r\n"));
	CHECK(has(4, "\r\nCall-ID: call1@example.com\r\n"));
	CHECK(has(4, "\r\nCSeq: 7 ACK\r\n"));
	CHECK(has(4, "\r\nMax-Forwards: 70\r\n"));
	CHECK(has(4, "\r\nContent-Length: 0\r\n\r\n"));
	CHECK(strstr(sent[4].buf, "Route: <sip:p1.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>"));
	CHECK(!has(4, "Record-Route"));
	CHECK(!has(4, "Contact"));
	CHECK(!has(4, "v=0"));
	CHECK_INT(sip_msg_parse(&m, h, 50, sent[4].buf, sent[4].len, false, &lim), 0);
	CHECK_INT(m.mid, SIP_M_ACK);
	CHECK_INT(m.cseq.mid, SIP_M_ACK);
	/* Completed: a retransmitted 486 gets the ACK again, not the user */
	uint64_t t_fin = now;
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nresp, 2);
	CHECK_INT(nsent, 6);
	CHECK_INT(sent[5].len, sent[4].len);
	CHECK(memcmp(sent[5].buf, sent[4].buf, sent[4].len) == 0);
	/* timer D: 32 s */
	advance(32000 - 1);
	CHECK_INT(nterm, 0);
	advance(1);
	CHECK_INT(now - t_fin, 32000);
	CHECK_INT(nterm, 1);
	CHECK_INT(bad_term, 0);
	CHECK_INT(ntimeout, 0);
	CHECK_INT(feed(b, &udp), TXN_STRAY_RESPONSE);
	finish();
}

static void invite_client_timeout(void)
{
	struct txn_client *ct;
	struct txn_stats s;
	const uint64_t at[] = { 500, 1500, 3500, 7500, 15500, 31500 };

	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &udp, NULL, now), 0);
	live_add(ct);
	uint64_t t0 = now;
	advance(64 * T1 - 1);
	CHECK_INT(ntimeout, 0);
	CHECK_INT(nsent, 7);
	for (size_t i = 0; i < 6; i++)
		CHECK_INT(sent[1 + i].at - t0, at[i]);
	advance(1);
	CHECK_INT(ntimeout, 1); /* timer B */
	CHECK(timeout_ct == ct);
	CHECK_INT(nterm, 1);
	CHECK_INT(bad_term, 0);
	txn_layer_stats(L, &s);
	CHECK_INT(s.timeouts, 1);
	CHECK_INT(s.clients, 0);
	CHECK_INT(s.retransmissions_sent, 6);
	advance(100000);
	CHECK_INT(nsent, 7);
	CHECK_INT(ntimeout, 1);
	CHECK_INT(nterm, 1);
	finish();
}

static void invite_client_2xx_accepted(void)
{
	char b[1024];
	struct txn_client *ct;
	struct txn_stats s;

	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &udp, NULL, now), 0);
	live_add(ct);
	txn_layer_stats(L, &s);
	CHECK_INT(s.clients, 1);
	CHECK_INT(s.settled, 0); /* calling: in progress */
	resp(b, sizeof(b), 200, CLI_BRANCH, 7, "INVITE", "rt");
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	uint64_t t0 = now;
	txn_layer_stats(L, &s);
	CHECK_INT(s.settled, 1); /* accepted: only absorbing (a graceful stop ends it) */
	CHECK_INT(nsent, 1); /* no ACK from the layer for a 2xx */
	/* RFC 6026 Accepted: 2xx retransmissions are passed up */
	advance(1000);
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK_INT(nresp, 2);
	CHECK_INT(nsent, 1); /* and A stopped */
	resp(b, sizeof(b), 486, CLI_BRANCH, 7, "INVITE", "rt");
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nresp, 2);
	advance(t0 + 64 * T1 - 1 - now);
	CHECK_INT(nterm, 0);
	advance(1);
	CHECK_INT(nterm, 1); /* timer M */
	txn_layer_stats(L, &s);
	CHECK_INT(s.settled, s.clients + s.servers); /* nothing unsettled */
	CHECK_INT(ntimeout, 0);
	CHECK_INT(bad_term, 0);
	finish();
}

static void non_invite_client(void)
{
	char b[1024];
	struct txn_client *ct;
	const uint64_t at[] = { 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500 };

	/* no answer: E doubles up to T2, F times out */
	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_message, strlen(cli_message), &udp, NULL, now), 0);
	live_add(ct);
	uint64_t t0 = now;
	advance(64 * T1 - 1);
	CHECK_INT(nsent, 11);
	for (size_t i = 0; i < ARRAY_SIZE(at); i++)
		CHECK_INT(sent[1 + i].at - t0, at[i]);
	CHECK_INT(ntimeout, 0);
	advance(1);
	CHECK_INT(ntimeout, 1);
	CHECK_INT(nterm, 1);
	CHECK_INT(bad_term, 0);

	/* 1xx: Proceeding, E every T2; 200: Completed, K = T4 absorbs */
	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_message, strlen(cli_message), &udp, NULL, now), 0);
	live_add(ct);
	t0 = now;
	advance(100);
	resp(b, sizeof(b), 100, "z9hG4bKcli2", 3, "MESSAGE", NULL);
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK_INT(last_status, 100);
	advance(12000 - 100);
	/* 500, then T2 after each firing in Proceeding: 4500, 8500 */
	CHECK_INT(nsent, 4);
	CHECK_INT(sent[1].at - t0, 500);
	CHECK_INT(sent[2].at - t0, 4500);
	CHECK_INT(sent[3].at - t0, 8500);
	resp(b, sizeof(b), 200, "z9hG4bKcli2", 3, "MESSAGE", "rt");
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK_INT(nresp, 2);
	uint64_t t_fin = now;
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nresp, 2);
	advance(T4 - 1);
	CHECK_INT(nsent, 4);
	CHECK_INT(nterm, 0);
	advance(1);
	CHECK_INT(now - t_fin, T4);
	CHECK_INT(nterm, 1);
	CHECK_INT(ntimeout, 0);
	CHECK_INT(bad_term, 0);
	finish();
}

/* After its final response a transaction lets go of the request's copy:
 * a non-INVITE server's at the next tick (the user may read it until then),
 * with its To tag kept for RFC 2543 matching (a longer one keeps the copy);
 * a client's at once, the ACK for a non-2xx built before. Retransmissions
 * are still answered from what is kept. */
static void final_lets_go_of_request(void)
{
	char b[1024], b2[1024], longtag[80];
	struct txn_server *st, *st2;
	struct txn_client *ct;

	CHECK_INT(setup(), 0);
	/* an old-style (no cookie) in-dialog request: matched by its To tag */
	req(b, sizeof(b), "BYE", VIA_OLD, "BYE", "ft", "tt");
	CHECK_INT(feed(b, &udp), TXN_NEW);
	st = last_st;
	CHECK_INT(respond(st, 200, "OK", NULL), 0);
	CHECK(txn_server_request(st) != NULL); /* still this event's */
	CHECK_SLICE(txn_server_request(st)->method, "BYE");
	advance(1);
	CHECK(st->req == NULL);
	CHECK(st->parse == NULL);
	CHECK(txn_server_request(st) == NULL);
	size_t n = nsent;
	CHECK_INT(feed(b, &udp), TXN_ABSORBED); /* matched by the kept tag */
	CHECK_INT(nsent, n + 1);
	CHECK_INT(sent[n].len, sent[n - 1].len);
	CHECK(memcmp(sent[n].buf, sent[n - 1].buf, sent[n].len) == 0);
	req(b2, sizeof(b2), "BYE", VIA_OLD, "BYE", "ft", "other");
	CHECK_INT(feed(b2, &udp), TXN_NEW); /* another To tag: another transaction */
	CHECK(last_st != st);
	/* a To tag longer than the room for it keeps the copy */
	memset(longtag, 'x', 70);
	longtag[70] = '\0';
	req(b2, sizeof(b2), "BYE", VIA_OLD, "BYE", "ft2", longtag);
	CHECK_INT(feed(b2, &udp), TXN_NEW);
	st2 = last_st;
	CHECK_INT(respond(st2, 200, "OK", NULL), 0);
	advance(1);
	CHECK(txn_server_request(st2) != NULL);
	n = nsent;
	CHECK_INT(feed(b2, &udp), TXN_ABSORBED);
	CHECK_INT(nsent, n + 1);
	/* an INVITE server transaction keeps it (a late 2xx is still forwarded) */
	req(b2, sizeof(b2), "INVITE", VIA_B, "INVITE", "ft3", NULL);
	CHECK_INT(feed(b2, &udp), TXN_NEW);
	CHECK_INT(respond(last_st, 486, "Busy Here", "tt"), 0);
	advance(1);
	CHECK(txn_server_request(last_st) != NULL);
	/* timer J still ends the released one */
	advance(64 * T1);
	CHECK_INT(bad_term, 0);
	finish();

	/* clients: a non-INVITE's at its final response */
	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_message, strlen(cli_message), &udp, NULL, now), 0);
	live_add(ct);
	resp(b, sizeof(b), 100, "z9hG4bKcli2", 3, "MESSAGE", NULL);
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK(ct->req != NULL);
	resp(b, sizeof(b), 200, "z9hG4bKcli2", 3, "MESSAGE", "rt");
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK(ct->req == NULL);
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	/* an INVITE's at a non-2xx, its ACK still sent again */
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &udp, NULL, now), 0);
	live_add(ct);
	resp(b, sizeof(b), 486, CLI_BRANCH, 7, "INVITE", "rt");
	n = nsent;
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK(ct->req == NULL);
	CHECK(ct->ack != NULL);
	CHECK_INT(nsent, n + 1); /* the ACK */
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nsent, n + 2);
	CHECK(memcmp(sent[n + 1].buf, sent[n].buf, sent[n].len) == 0);
	advance(32000);
	/* and at a 2xx (Accepted still passes 2xx up) */
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &udp, NULL, now), 0);
	live_add(ct);
	resp(b, sizeof(b), 200, CLI_BRANCH, 7, "INVITE", "rt");
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK(ct->req == NULL);
	unsigned r = nresp;
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK_INT(nresp, r + 1);
	advance(64 * T1);
	CHECK_INT(bad_term, 0);
	CHECK_INT(ntimeout, 0);
	finish();
}

static void cancel_before_provisional(void)
{
	char b[1024];
	struct txn_client *ct;
	struct txn_stats s;

	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &udp, NULL, now), 0);
	live_add(ct);
	advance(100);
	txn_client_cancel(ct, now);
	CHECK_INT(nsent, 1); /* deferred until a provisional */
	advance(500);
	resp(b, sizeof(b), 180, CLI_BRANCH, 7, "INVITE", "rt");
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK_INT(nsent, 3); /* A at 500, then the CANCEL */
	CHECK(starts(2, "CANCEL sip:bob@example.com SIP/2.0\r\n"));
	CHECK(has(2, "\r\nVia: " CLI_VIA "\r\n"));
	CHECK_INT(count_of(sent[2].buf, "Via:"), 1);
	CHECK(has(2, "\r\nTo: <sip:bob@example.com>\r\n"));
	CHECK(has(2, "\r\nFrom: <sip:alice@example.com>;tag=ft\r\n"));
	CHECK(has(2, "\r\nCall-ID: call1@example.com\r\n"));
	CHECK(has(2, "\r\nCSeq: 7 CANCEL\r\n"));
	CHECK(has(2, "\r\nMax-Forwards: 70\r\n"));
	CHECK(has(2, "\r\nContent-Length: 0\r\n\r\n"));
	CHECK(has(2, "Route: <sip:p1.example.com;lr>\r\nRoute: <sip:p2.example.com;lr>"));
	txn_client_cancel(ct, now);
	CHECK_INT(nsent, 3); /* idempotent */
	txn_layer_stats(L, &s);
	CHECK_INT(s.clients, 2);
	/* the 200 to the CANCEL is absorbed */
	resp(b, sizeof(b), 200, CLI_BRANCH, 7, "CANCEL", "rt");
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nresp, 1);
	resp(b, sizeof(b), 487, CLI_BRANCH, 7, "INVITE", "rt");
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK_INT(last_status, 487);
	CHECK(starts(3, "ACK "));
	advance(40000);
	CHECK_INT(nterm, 1); /* the INVITE; the layer's CANCEL ends silently */
	CHECK_INT(bad_term, 0);
	CHECK_INT(ntimeout, 0);
	txn_layer_stats(L, &s);
	CHECK_INT(s.clients, 0);

	/* a final before any provisional: no CANCEL at all */
	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &udp, NULL, now), 0);
	live_add(ct);
	txn_client_cancel(ct, now);
	resp(b, sizeof(b), 486, CLI_BRANCH, 7, "INVITE", "rt");
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	CHECK_INT(nsent, 2);
	CHECK(starts(1, "ACK "));
	advance(40000);
	CHECK_INT(nsent, 2);
	CHECK_INT(nterm, 1);
	CHECK_INT(bad_term, 0);

	/* no provisional before B: just the timeout */
	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &udp, NULL, now), 0);
	live_add(ct);
	txn_client_cancel(ct, now);
	advance(64 * T1);
	CHECK_INT(ntimeout, 1);
	CHECK_INT(nterm, 1);
	for (size_t i = 0; i < nsent; i++)
		CHECK(starts(i, "INVITE "));
	finish();
}

static void cancel_after_provisional(void)
{
	char b[1024];
	struct txn_client *ct;

	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &udp, NULL, now), 0);
	live_add(ct);
	resp(b, sizeof(b), 183, CLI_BRANCH, 7, "INVITE", "rt");
	CHECK_INT(feed(b, &udp), TXN_RESPONSE);
	advance(1000);
	CHECK_INT(nsent, 1);
	txn_client_cancel(ct, now);
	uint64_t t0 = now;
	CHECK_INT(nsent, 2);
	CHECK(starts(1, "CANCEL "));
	/* the CANCEL is retransmitted (E) until answered */
	advance(600);
	CHECK_INT(nsent, 3);
	CHECK(starts(2, "CANCEL "));
	resp(b, sizeof(b), 200, CLI_BRANCH, 7, "CANCEL", "rt");
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nresp, 1);
	advance(10000);
	CHECK_INT(nsent, 3);
	/* no 487 within 64*T1: the INVITE is given up (9.1) */
	advance(t0 + 64 * T1 - 1 - now);
	CHECK_INT(ntimeout, 0);
	advance(1);
	CHECK_INT(ntimeout, 1);
	CHECK(timeout_ct == ct);
	CHECK_INT(nterm, 1);
	CHECK_INT(bad_term, 0);
	finish();
}

static void cancel_server(void)
{
	char b[1024], c[1024];
	struct txn_server *st;
	struct txn_stats s;

	CHECK_INT(setup(), 0);
	req(b, sizeof(b), "INVITE", VIA_A, "INVITE", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	st = last_st;
	CHECK_INT(respond(st, 180, "Ringing", "tt"), 0);
	req(c, sizeof(c), "CANCEL", VIA_A, "CANCEL", "ft", NULL);
	CHECK_INT(feed(c, &udp), TXN_ABSORBED);
	CHECK_INT(ncancel, 1);
	CHECK(cancel_st == st);
	CHECK_INT(nreq, 1);
	CHECK_INT(nsent, 2);
	CHECK(starts(1, "SIP/2.0 200 OK\r\n"));
	CHECK(has(1, "\r\nCSeq: 1 CANCEL\r\n"));
	CHECK(has(1, "\r\nTo: <sip:bob@example.com>;tag=tt\r\n"));
	CHECK(has(1, "branch=z9hG4bKaaa"));
	/* a retransmitted CANCEL gets the 200 again, the user hears nothing */
	CHECK_INT(feed(c, &udp), TXN_ABSORBED);
	CHECK_INT(ncancel, 1);
	CHECK_INT(nsent, 3);
	CHECK_INT(sent[2].len, sent[1].len);
	CHECK(memcmp(sent[2].buf, sent[1].buf, sent[1].len) == 0);
	/* a CANCEL for no INVITE (other branch, other sent-by) */
	req(c, sizeof(c), "CANCEL", VIA_B, "CANCEL", "ft", NULL);
	CHECK_INT(feed(c, &udp), TXN_CANCEL_UNMATCHED);
	req(c, sizeof(c), "CANCEL", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKaaa", "CANCEL",
	    "ft", NULL);
	CHECK_INT(feed(c, &udp), TXN_CANCEL_UNMATCHED);
	CHECK_INT(ncancel, 1);
	txn_layer_stats(L, &s);
	CHECK_INT(s.servers, 2);
	CHECK_INT(respond(st, 487, "Request Terminated", "tt"), 0);
	advance(64 * T1 + 1);
	CHECK_INT(nterm, 1); /* the INVITE (H); the layer's CANCEL ends silently */
	CHECK_INT(bad_term, 0);
	txn_layer_stats(L, &s);
	CHECK_INT(s.servers, 0);

	/* CANCEL after the final response: 200, but no ops->cancel */
	CHECK_INT(setup(), 0);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	CHECK_INT(respond(last_st, 486, "Busy Here", "tt"), 0);
	req(c, sizeof(c), "CANCEL", VIA_A, "CANCEL", "ft", NULL);
	CHECK_INT(feed(c, &udp), TXN_ABSORBED);
	CHECK_INT(ncancel, 0);
	CHECK(starts(1, "SIP/2.0 200 OK\r\n"));
	finish();
}

static void rfc2543_matching(void)
{
	char b[1024], b2[1024], ack[1024], c[1024];
	struct txn_server *st;

	CHECK_INT(setup(), 0);
	req(b, sizeof(b), "INVITE", VIA_OLD, "INVITE", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	st = last_st;
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nreq, 1);
	/* another From tag, another transaction */
	req(b2, sizeof(b2), "INVITE", VIA_OLD, "INVITE", "ft2", NULL);
	CHECK_INT(feed(b2, &udp), TXN_NEW);
	CHECK_INT(nreq, 2);
	CHECK(last_st != st);
	/* a branch without the cookie is matched the old way too */
	req(b2, sizeof(b2), "INVITE", VIA_OLD ";branch=1234", "INVITE", "ft", NULL);
	CHECK_INT(feed(b2, &udp), TXN_NEW);
	CHECK_INT(feed(b2, &udp), TXN_ABSORBED);
	CHECK_INT(nreq, 3);
	/* a branch that is only the cookie (RFC 4475 3.2.1) too: two requests
	 * with the same bare branch and sent-by but other From tags are two
	 * transactions, not a retransmission */
	req(b2, sizeof(b2), "OPTIONS", VIA_OLD ";branch=z9hG4bK", "OPTIONS", "bare1", NULL);
	CHECK_INT(feed(b2, &udp), TXN_NEW);
	CHECK_INT(feed(b2, &udp), TXN_ABSORBED);
	req(b2, sizeof(b2), "OPTIONS", VIA_OLD ";branch=z9hG4bK", "OPTIONS", "bare2", NULL);
	CHECK_INT(feed(b2, &udp), TXN_NEW);
	CHECK_INT(nreq, 5);
	/* CANCEL matches the INVITE by the same fields */
	req(c, sizeof(c), "CANCEL", VIA_OLD, "CANCEL", "ft", NULL);
	CHECK_INT(feed(c, &udp), TXN_ABSORBED);
	CHECK_INT(ncancel, 1);
	CHECK(cancel_st == st);
	CHECK_INT(respond(st, 487, "Request Terminated", "tt"), 0);
	size_t n = nsent;
	/* an ACK with another To tag is not for this transaction */
	req(ack, sizeof(ack), "ACK", VIA_OLD, "ACK", "ft", "zz");
	CHECK_INT(feed(ack, &udp), TXN_ACK_2XX);
	req(ack, sizeof(ack), "ACK", VIA_OLD, "ACK", "ft", "tt");
	CHECK_INT(feed(ack, &udp), TXN_ABSORBED);
	advance(20000);
	CHECK_INT(nsent, n); /* Confirmed: G stopped */
	CHECK_INT(nterm, 1); /* I ended it; the other two still wait for answers */
	CHECK_INT(bad_term, 0);
	finish();
}

static void sent_by_matching(void)
{
	char b[1024];

	CHECK_INT(setup(), 0);
	req(b, sizeof(b), "OPTIONS", VIA_A, "OPTIONS", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	/* same branch, other sent-by: another transaction (17.2.3) */
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKaaa", "OPTIONS",
	    "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	/* other port */
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKaaa", "OPTIONS",
	    "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	/* same branch and sent-by, other method */
	req(b, sizeof(b), "INFO", VIA_A, "INFO", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	/* host case does not matter */
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/UDP Host.Example:5060;branch=z9hG4bKh", "OPTIONS",
	    "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/UDP host.example:5060;branch=z9hG4bKh", "OPTIONS",
	    "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	/* branch case does */
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/UDP host.example:5060;branch=z9hG4bKH", "OPTIONS",
	    "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	CHECK_INT(nreq, 6);
	finish();
}

static void reliable_transport(void)
{
	char b[1024], ack[1024];
	struct txn_client *ct;

	/* INVITE server over TCP: no G; ACK -> I = 0 */
	CHECK_INT(setup(), 0);
	req(b, sizeof(b), "INVITE", "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKaaa", "INVITE", "ft",
	    NULL);
	CHECK_INT(feed(b, &tcp), TXN_NEW);
	CHECK_INT(respond(last_st, 486, "Busy Here", "tt"), 0);
	advance(20000);
	CHECK_INT(nsent, 1);
	CHECK(sent[0].tp == NET_TCP);
	req(ack, sizeof(ack), "ACK", "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKaaa", "ACK", "ft",
	    "tt");
	CHECK_INT(feed(ack, &tcp), TXN_ABSORBED);
	CHECK_INT(nterm, 0);
	advance(1);
	CHECK_INT(nterm, 1);

	/* INVITE server over TCP without ACK: H still 64*T1 */
	CHECK_INT(setup(), 0);
	CHECK_INT(feed(b, &tcp), TXN_NEW);
	CHECK_INT(respond(last_st, 486, "Busy Here", "tt"), 0);
	advance(64 * T1 - 1);
	CHECK_INT(nterm, 0);
	advance(1);
	CHECK_INT(nterm, 1);
	CHECK_INT(nsent, 1);

	/* non-INVITE server over TCP: J = 0 */
	CHECK_INT(setup(), 0);
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKaaa", "OPTIONS",
	    "ft", NULL);
	CHECK_INT(feed(b, &tcp), TXN_NEW);
	CHECK_INT(respond(last_st, 200, "OK", "tt"), 0);
	advance(1);
	CHECK_INT(nterm, 1);

	/* INVITE client over TCP: no A, B still fires; D = 0 */
	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &tcp, NULL, now), 0);
	live_add(ct);
	advance(64 * T1);
	CHECK_INT(nsent, 1);
	CHECK_INT(ntimeout, 1);
	CHECK_INT(nterm, 1);
	CHECK_INT(txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &tcp, NULL, now), 0);
	live_add(ct);
	resp(b, sizeof(b), 486, CLI_BRANCH, 7, "INVITE", "rt");
	CHECK_INT(feed(b, &tcp), TXN_RESPONSE);
	CHECK(starts(2, "ACK "));
	advance(1);
	CHECK_INT(nterm, 2);

	/* non-INVITE client over TCP: no E; K = 0 */
	CHECK_INT(setup(), 0);
	CHECK_INT(txn_client_new(&ct, L, cli_message, strlen(cli_message), &tcp, NULL, now), 0);
	live_add(ct);
	advance(10000);
	CHECK_INT(nsent, 1);
	resp(b, sizeof(b), 200, "z9hG4bKcli2", 3, "MESSAGE", "rt");
	CHECK_INT(feed(b, &tcp), TXN_RESPONSE);
	advance(1);
	CHECK_INT(nterm, 1);
	CHECK_INT(bad_term, 0);

	/* a send failure on TCP: no transaction */
	CHECK_INT(setup(), 0);
	send_rc = EPIPE;
	ct = NULL;
	CHECK_INT(txn_client_new(&ct, L, cli_message, strlen(cli_message), &tcp, NULL, now), EPIPE);
	CHECK(ct == NULL);
	/* a server response that cannot be sent on TCP ends the transaction */
	send_rc = 0;
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKaaa", "OPTIONS",
	    "ft", NULL);
	CHECK_INT(feed(b, &tcp), TXN_NEW);
	send_rc = EPIPE;
	CHECK_INT(respond(last_st, 100, "Trying", NULL), EPIPE);
	advance(1);
	CHECK_INT(nterm, 1);
	CHECK_INT(bad_term, 0);
	finish();
}

/* The reserve (issue 13): ordinary requests stop at max_transactions; with
 * priority on (an emergency call) the reserve's slots open, and shedding
 * does not refuse it; with priority off again, the ordinary bound holds. */
static void table_reserve(void)
{
	char b[1024];
	struct txn_conf c = TXN_CONF_DEFAULT;
	struct txn_client *ct = NULL;

	CHECK_INT(setup_max(2), 0);
	txn_layer_free(&L);
	c.max_transactions = 2;
	c.reserve = 2;
	CHECK_INT(txn_layer_new(&L, &c, &ops, NULL), 0);
	req(b, sizeof(b), "OPTIONS", VIA_A, "OPTIONS", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	req(b, sizeof(b), "OPTIONS", VIA_B, "OPTIONS", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKccc", "OPTIONS", "ft",
	    NULL);
	CHECK_INT(feed(b, &udp), TXN_FULL);
	txn_layer_shed(L, true);
	txn_layer_priority(L, true);
	CHECK_INT(feed(b, &udp), TXN_NEW); /* neither full nor shed */
	CHECK_INT(txn_client_new(&ct, L, cli_message, strlen(cli_message), &udp, NULL, now), 0);
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKddd", "OPTIONS", "ft",
	    NULL);
	CHECK_INT(feed(b, &udp), TXN_FULL); /* the reserve is bounded too */
	txn_layer_priority(L, false);
	txn_layer_shed(L, false);
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKeee", "OPTIONS", "ft",
	    NULL);
	CHECK_INT(feed(b, &udp), TXN_FULL);
	finish();
}

static void table_full(void)
{
	char b[1024];
	struct txn_client *ct = NULL;
	struct txn_stats s;

	CHECK_INT(setup_max(2), 0);
	req(b, sizeof(b), "OPTIONS", VIA_A, "OPTIONS", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	struct txn_server *first = last_st;
	req(b, sizeof(b), "OPTIONS", VIA_B, "OPTIONS", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	req(b, sizeof(b), "OPTIONS", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKccc", "OPTIONS", "ft",
	    NULL);
	CHECK_INT(feed(b, &udp), TXN_FULL);
	CHECK_INT(txn_client_new(&ct, L, cli_message, strlen(cli_message), &udp, NULL, now),
		  ENOSPC);
	CHECK(ct == NULL);
	CHECK_INT(nsent, 0);
	/* retransmissions of live ones still match */
	req(b, sizeof(b), "OPTIONS", VIA_A, "OPTIONS", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	txn_layer_stats(L, &s);
	CHECK_INT(s.full, 2);
	CHECK_INT(s.servers, 2);
	CHECK_INT(nreq, 2);
	/* room again once one ends */
	CHECK_INT(respond(first, 200, "OK", "tt"), 0);
	advance(64 * T1);
	CHECK_INT(nterm, 1);
	CHECK_INT(txn_client_new(&ct, L, cli_message, strlen(cli_message), &udp, NULL, now), 0);
	/* freed with the layer, no callbacks */
	txn_layer_free(&L);
	CHECK(L == NULL);
	CHECK_INT(nterm, 1);
	finish();
}

static void odd_input(void)
{
	char b[1024];
	struct sip_msg m;
	struct txn_client *ct = NULL;
	static const char no_branch[] = "OPTIONS sip:b@example.com SIP/2.0\r\n"
					"Via: SIP/2.0/UDP proxy.example.com\r\n"
					"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
					"Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
	static const char ack[] = "ACK sip:b@example.com SIP/2.0\r\n"
				  "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKq\r\n"
				  "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
				  "Call-ID: x\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";

	CHECK_INT(setup(), 0);
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	lim.max_headers = 20;
	CHECK_INT(txn_layer_set_limits(L, &lim), 0);
	/* empty messages: dropped, not matched */
	memset(&m, 0, sizeof(m));
	m.request = true;
	CHECK_INT(txn_receive(L, &m, &udp, now), TXN_ABSORBED);
	m.request = false;
	CHECK_INT(txn_receive(L, &m, &udp, now), TXN_STRAY_RESPONSE);
	CHECK_INT(nreq, 0);
	/* responses without a branch or for nothing */
	snprintf(b, sizeof(b),
		 "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x.example\r\nFrom: <sip:a@x>;tag=1\r\n"
		 "To: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
	CHECK_INT(feed(b, &udp), TXN_STRAY_RESPONSE);
	resp(b, sizeof(b), 200, "z9hG4bKnothing", 1, "INVITE", "t");
	CHECK_INT(feed(b, &udp), TXN_STRAY_RESPONSE);
	/* an ACK with no INVITE, a lone CANCEL */
	req(b, sizeof(b), "ACK", VIA_A, "ACK", "ft", "tt");
	CHECK_INT(feed(b, &udp), TXN_ACK_2XX);
	req(b, sizeof(b), "CANCEL", VIA_A, "CANCEL", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_CANCEL_UNMATCHED);
	CHECK_INT(nsent, 0);
	/* bad arguments */
	CHECK_INT(txn_client_new(&ct, L, no_branch, strlen(no_branch), &udp, NULL, now), EINVAL);
	CHECK_INT(txn_client_new(&ct, L, ack, strlen(ack), &udp, NULL, now), EINVAL);
	CHECK_INT(txn_client_new(&ct, L, "garbage", 7, &udp, NULL, now), EINVAL);
	CHECK_INT(txn_client_new(&ct, L, NULL, 0, &udp, NULL, now), EINVAL);
	CHECK(ct == NULL);
	CHECK_INT(txn_client_new(&ct, L, cli_message, strlen(cli_message), &udp, NULL, now), 0);
	live_add(ct);
	struct txn_client *dup = NULL;
	CHECK_INT(txn_client_new(&dup, L, cli_message, strlen(cli_message), &udp, NULL, now),
		  EINVAL); /* branch in use */
	CHECK(dup == NULL);
	txn_client_cancel(ct, now); /* not an INVITE: ignored */
	txn_client_cancel(NULL, now);
	CHECK_INT(nsent, 1);
	req(b, sizeof(b), "OPTIONS", VIA_A, "OPTIONS", "ft", NULL);
	CHECK_INT(feed(b, &udp), TXN_NEW);
	CHECK_INT(txn_server_respond(last_st, 99, "x", 1, now), EINVAL);
	CHECK_INT(txn_server_respond(last_st, 700, "x", 1, now), EINVAL);
	CHECK_INT(txn_server_respond(last_st, 200, NULL, 0, now), EINVAL);
	CHECK_INT(txn_server_respond(NULL, 200, "x", 1, now), EINVAL);
	/* a response whose bytes do not parse is still sent and kept */
	CHECK_INT(txn_server_respond(last_st, 404, "junk", 4, now), 0);
	CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	CHECK_INT(nsent, 3);
	CHECK(strcmp(sent[2].buf, "junk") == 0);
	/* live transactions are freed with the layer (ASan checks the leaks) */
	finish();
	CHECK_INT(nterm, 0);
}

static void many_transactions(void)
{
	char b[1024], via[128];
	struct txn_stats s;

	/* heap and table under load: 200 transactions with staggered timers */
	CHECK_INT(setup_max(256), 0);
	for (int i = 0; i < 200; i++) {
		snprintf(via, sizeof(via), "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK%d", i);
		req(b, sizeof(b), i % 2 ? "INVITE" : "OPTIONS", via, i % 2 ? "INVITE" : "OPTIONS",
		    "ft", NULL);
		CHECK_INT(feed(b, &udp), TXN_NEW);
		CHECK_INT(respond(last_st, (uint16_t)(i % 3 ? 486 : 404), "No", "tt"), 0);
		advance(7);
	}
	for (int i = 0; i < 200; i += 3) {
		snprintf(via, sizeof(via), "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK%d", i);
		req(b, sizeof(b), i % 2 ? "ACK" : "OPTIONS", via, i % 2 ? "ACK" : "OPTIONS", "ft",
		    "tt");
		CHECK_INT(feed(b, &udp), TXN_ABSORBED);
	}
	txn_layer_stats(L, &s);
	CHECK_INT(s.servers, 200);
	advance(64 * T1 + 10);
	CHECK_INT(nterm, 200);
	CHECK_INT(bad_term, 0);
	CHECK_INT(nlive, 0);
	txn_layer_stats(L, &s);
	CHECK_INT(s.servers, 0);
	/* nothing more fires */
	size_t n = nsent;
	advance(100000);
	CHECK_INT(nsent, n);
	finish();
}

/* Mutated messages of every kind, fed in any order with the clock running:
 * whatever parses must not crash the layer or leak (ASan). */
static void mutated_input(void)
{
	char base[6][1024], b[1024];
	uint32_t r = 777;
	struct txn_client *ct;

	CHECK_INT(setup_max(32), 0);
	req(base[0], sizeof(base[0]), "INVITE", VIA_A, "INVITE", "ft", NULL);
	req(base[1], sizeof(base[1]), "ACK", VIA_OLD, "ACK", "ft", "tt");
	req(base[2], sizeof(base[2]), "CANCEL", VIA_A, "CANCEL", "ft", NULL);
	resp(base[3], sizeof(base[3]), 180, CLI_BRANCH, 7, "INVITE", "rt");
	resp(base[4], sizeof(base[4]), 486, CLI_BRANCH, 7, "INVITE", "rt");
	resp(base[5], sizeof(base[5]), 200, CLI_BRANCH, 7, "CANCEL", "rt");
	for (int i = 0; i < 20000; i++) {
		r = r * 1103515245u + 12345u;
		if (i % 500 == 0 &&
		    txn_client_new(&ct, L, cli_invite, strlen(cli_invite), &udp, NULL, now) == 0) {
			live_add(ct);
			if (r & 1)
				txn_client_cancel(ct, now);
		}
		memcpy(b, base[(r >> 8) % 6], sizeof(b));
		size_t len = strlen(b);
		for (int k = 0; k < 3; k++) {
			r = r * 1103515245u + 12345u;
			b[(r >> 10) % len] = (char)(" ;=:\r\nzZ9<>"[(r >> 4) % 12]);
		}
		last_st = NULL;
		feed(b, (r >> 3) & 1 ? &udp : &tcp);
		if (last_st && (r & 4))
			respond(last_st, (uint16_t)(100 + (r >> 16) % 600), "X", "tt");
		advance((r >> 20) % 50);
	}
	advance(100000);
	CHECK_INT(bad_term, 0);
	finish();
}

/* The timer heap on its own: random arming and stopping keeps the heap
 * ordered and every entry's index right. */
static void heap_property(void)
{
	static struct txn fake[64];
	uint32_t r = 12345;

	CHECK_INT(setup_max(64), 0);
	L->stats.servers = ARRAY_SIZE(fake); /* room for them all */
	CHECK_INT(txn_reserve(L), 0);
	L->stats.servers = 0;
	for (size_t i = 0; i < ARRAY_SIZE(fake); i++) {
		memset(&fake[i], 0, sizeof(fake[i]));
		fake[i].l = L;
		for (int s = 0; s < 2; s++)
			fake[i].tm[s] = (struct txn_timer){ .idx = UINT32_MAX, .slot = (uint8_t)s,
							    .t = &fake[i] };
	}
	for (int op = 0; op < 20000; op++) {
		r = r * 1103515245u + 12345u;
		struct txn *t = &fake[(r >> 8) % ARRAY_SIZE(fake)];
		int slot = (int)((r >> 4) & 1);
		if ((r >> 20) % 3)
			txn_timer_set(t, slot, (r >> 12) % 1000);
		else
			txn_timer_stop(t, slot);
		for (uint32_t i = 0; i < L->heap_len; i++) {
			CHECK_INT(L->heap[i]->idx, i);
			if (i)
				CHECK(L->heap[(i - 1) / 2]->due <= L->heap[i]->due);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(fake); i++) {
		txn_timer_stop(&fake[i], 0);
		txn_timer_stop(&fake[i], 1);
	}
	CHECK_INT(L->heap_len, 0);
	finish();
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(non_invite_server),
		CASE(invite_server_486_ack),
		CASE(invite_server_no_ack),
		CASE(invite_server_2xx),
		CASE(invite_client_486),
		CASE(invite_client_timeout),
		CASE(invite_client_2xx_accepted),
		CASE(non_invite_client),
		CASE(final_lets_go_of_request),
		CASE(cancel_before_provisional),
		CASE(cancel_after_provisional),
		CASE(cancel_server),
		CASE(rfc2543_matching),
		CASE(sent_by_matching),
		CASE(reliable_transport),
		CASE(table_full),
		CASE(table_reserve),
		CASE(odd_input),
		CASE(many_transactions),
		CASE(heap_property),
		CASE(mutated_input),
	};
	int rc = check_main("txn", cases, ARRAY_SIZE(cases), argc, argv);

	finish();
	return rc;
}
