/*
 * test_net_loop: the event loop against real loopback sockets. The loop
 * runs in a second thread; the test talks to it as a peer would, with
 * bounded waits (poll with timeouts) only. The loop's callbacks answer every
 * message so the peer side can synchronise on replies; counters are read
 * after the loop thread has been stopped and joined.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "net/internal.h" /* the source index's probes */
#include "net/net.h"

struct srv {
	struct net *net;
	pthread_t thr;
	volatile sig_atomic_t stop;
	int run_rc;
	uint16_t port;
	/* written by the loop thread, read after join */
	unsigned nrecv, nerr;
	enum sip_err last_err;
	struct net_msg last_tcp; /* a copy; buf is dangling after the callback */
	struct net_msg tcp_msgs[4]; /* the first four, copies as above */
	bool last_local_ok;
};

static struct srv *running; /* the srv whose loop thread runs, if any */

/* The round hook srv_start installs before the loop thread starts. */
static net_round_fn *start_round;
static void *start_round_arg;

static void srv_stop(struct srv *s);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_sig(int sig)
{
	(void)sig;
}

static bool has_prefix(const struct net_msg *m, const char *s)
{
	size_t l = strlen(s);

	return m->len >= l && memcmp(m->buf, s, l) == 0;
}

static void on_recv(void *arg, const struct net_msg *m)
{
	struct srv *s = arg;
	char reply[128];
	int l;

	s->nrecv++;
	s->last_local_ok = net_addr_port(&m->local) == s->port;
	if (m->tp == NET_UDP) {
		l = snprintf(reply, sizeof(reply), "len=%zu trunc=%d", m->len, m->truncated);
		net_send(s->net, m, &m->src, reply, (size_t)l);
		return;
	}
	s->last_tcp = *m;
	if (has_prefix(m, "BIG")) {
		static char big[16384];

		if (net_send(s->net, m, NULL, big, sizeof(big)) != 0)
			s->nerr++;
		return;
	}
	if (s->nrecv <= ARRAY_SIZE(s->tcp_msgs))
		s->tcp_msgs[s->nrecv - 1] = *m;
	l = snprintf(reply, sizeof(reply), "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
	net_send(s->net, m, NULL, reply, (size_t)l);
	if (has_prefix(m, "BYE"))
		net_conn_close_after_send(s->net, m->conn);
}

static void on_stream_error(void *arg, const struct net_msg *m, enum sip_err err)
{
	struct srv *s = arg;
	static const char bad[] = "SIP/2.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

	s->nerr++;
	s->last_err = err;
	net_send(s->net, m, NULL, bad, sizeof(bad) - 1);
}

static void *loop_main(void *arg)
{
	struct srv *s = arg;

	s->run_rc = net_run(s->net, &s->stop, NULL);
	return NULL;
}

static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static struct net_conf test_conf(void)
{
	struct net_conf c = {
		.lim = SIP_LIMITS_DEFAULT,
		.max_connections = 16,
		.idle_timeout_ms = 5000,
		.header_timeout_ms = 5000,
	};

	c.lim.max_message = 1024;
	c.lim.max_body = 512;
	return c;
}

static int srv_start(struct srv *s, const struct net_conf *conf)
{
	struct net_listen_spec specs[4];
	struct sigaction sa;
	char list[128], err[256];
	size_t n;
	int rc;

	/* A failed CHECK returns before srv_stop: stop that loop thread now. */
	if (running) {
		srv_stop(running);
		net_free(&running->net);
	}
	memset(s, 0, sizeof(*s));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig; /* no SA_RESTART: epoll_wait returns EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	s->port = free_port();
	snprintf(list, sizeof(list), "udp:127.0.0.1:%u,tcp:127.0.0.1:%u", s->port, s->port);
	rc = net_listen_parse(specs, 4, &n, list, err, sizeof(err));
	if (rc == 0)
		rc = net_new(&s->net, conf, on_recv, on_stream_error, s);
	if (rc == 0)
		rc = net_listen(s->net, specs, n, err, sizeof(err));
	if (rc == 0 && start_round)
		net_set_round(s->net, start_round, start_round_arg);
	if (rc == 0)
		rc = pthread_create(&s->thr, NULL, loop_main, s);
	if (rc != 0) {
		fprintf(stderr, "srv_start: %s (%s)\n", strerror(rc), err);
		net_free(&s->net);
	} else {
		running = s;
	}
	return rc;
}

/* Stop the loop thread (bounded: signal it until it has gone). */
static void srv_stop(struct srv *s)
{
	struct timespec ts;
	int i;

	if (running == s)
		running = NULL;
	s->stop = 1;
	for (i = 0; i < 100; i++) {
		pthread_kill(s->thr, SIGUSR1);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(s->thr, NULL, &ts) == 0)
			return;
	}
	abort(); /* the loop did not stop within 5 s: a bug worth a crash */
}

static struct net_stats srv_stats(struct srv *s)
{
	struct net_stats st;

	net_stats(s->net, &st);
	return st;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* As tcp_connect, from source address src (any of 127.0.0.0/8). */
static int tcp_connect_from(uint16_t port, uint32_t src)
{
	struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(src) };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w <= 0)
			return false;
		p += w;
		len -= (size_t)w;
	}
	return true;
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * Read into buf (NUL-terminated) until `want` occurrences of `needle` are in
 * it, EOF, an error, or timeout_ms. Returns 1 on EOF/reset, 0 when the
 * needles arrived, -1 on timeout.
 */
static int read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle,
		      size_t want, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t t = now_ms();
		ssize_t r;

		if (needle && count_str(buf, needle) >= want)
			return 0;
		if (t >= end)
			return -1;
		if (poll(&pfd, 1, (int)(end - t)) <= 0)
			continue;
		r = recv(fd, buf + *len, cap - 1 - *len, 0);
		if (r <= 0)
			return 1;
		*len += (size_t)r;
		buf[*len] = '\0';
		if (*len + 1 >= cap)
			return -1;
	}
}

#define OPTIONS_MSG \
	"OPTIONS sip:x@example.com SIP/2.0\r\n" \
	"Via: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1\r\n" \
	"Content-Length: 0\r\n\r\n"
#define MSG_BODY \
	"MESSAGE sip:x@example.com SIP/2.0\r\n" \
	"l: 5\r\n\r\nhello"

static void test_tcp_pipelined(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	char buf[4096] = "";
	size_t len = 0;
	const char two[] = OPTIONS_MSG MSG_BODY;
	int fd, rc;

	{
		struct net_conf c = test_conf();

		CHECK_INT(srv_start(&s, &c), 0);
	}
	fd = tcp_connect(s.port);
	CHECK(fd >= 0);
	CHECK(send_all(fd, two, sizeof(two) - 1));
	rc = read_until(fd, buf, sizeof(buf), &len, "200 OK", 2, 2000);
	close(fd);
	srv_stop(&s);
	CHECK_INT(rc, 0);
	CHECK_INT(s.nrecv, 2);
	CHECK_INT(s.last_tcp.len, strlen(MSG_BODY));
	CHECK(s.last_local_ok);
	CHECK_INT(s.last_tcp.tp, NET_TCP);
	CHECK_INT(s.last_tcp.udp_fd, -1);
	CHECK_INT(srv_stats(&s).tcp_in, 2);
	CHECK_INT(srv_stats(&s).conn_accepted, 1);
	net_free(&s.net);
	CHECK(s.net == NULL);
}

struct rounds {
	struct srv *srv;
	volatile unsigned calls;        /* written by the loop thread */
	volatile unsigned seen_recv;    /* s->nrecv at the last call */
	volatile int want;              /* what the hook returns */
};

static int count_round(void *arg, uint64_t now)
{
	struct rounds *r = arg;

	(void)now;
	r->calls++;
	r->seen_recv = r->srv->nrecv;
	return r->want;
}

/* Wait (bounded) until cond holds; the loop thread moves it. */
#define WAIT_UNTIL(cond, ms)                                                  \
	do {                                                                  \
		uint64_t until_ = now_ms() + (ms);                            \
		while (!(cond) && now_ms() < until_)                          \
			usleep(1000);                                         \
	} while (0)

/* The round hook runs after the events of a round, outside any callback,
 * and what it returns bounds the loop's sleep: returning 0 keeps calling it
 * (group commit polls it that way), -1 leaves the loop its own deadlines
 * (up to a second asleep when idle). */
static void test_round_hook(void)
{
	static struct srv s;
	static struct rounds r;
	char buf[256];
	unsigned before;
	int fd;

	memset(&r, 0, sizeof(r));
	r.srv = &s;
	r.want = -1;
	start_round = count_round;
	start_round_arg = &r;
	{
		struct net_conf c = test_conf();
		int rc = srv_start(&s, &c);

		start_round = NULL;
		CHECK_INT(rc, 0);
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(fd >= 0);
	{
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(s.port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		struct timeval tv = { 5, 0 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		CHECK(sendto(fd, "ping", 4, 0, (struct sockaddr *)&a, sizeof(a)) == 4);
		CHECK(recv(fd, buf, sizeof(buf), 0) > 0);
	}
	close(fd);
	/* after the round that received the datagram, the hook saw it */
	WAIT_UNTIL(r.seen_recv == 1, 10000);
	CHECK_INT(r.seen_recv, 1);
	/* a hook that asks for 0 ms is called again at once, not after the
	 * loop's own (up to 1 s) sleep: 200 calls well within 10 s */
	before = r.calls;
	r.want = 0;
	WAIT_UNTIL(r.calls - before >= 200, 10000);
	CHECK(r.calls - before >= 200);
	r.want = -1;
	srv_stop(&s);
	net_free(&s.net);
}

static void test_tcp_bytewise(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	char buf[4096] = "";
	size_t len = 0, i;
	const char msg[] = "\r\n" MSG_BODY;
	int fd, rc = 0;

	CHECK_INT(srv_start(&s, &c), 0);
	fd = tcp_connect(s.port);
	CHECK(fd >= 0);
	for (i = 0; i + 1 < sizeof(msg); i++) {
		CHECK(send_all(fd, msg + i, 1));
		if (i % 8 == 0)
			usleep(1000);
	}
	rc = read_until(fd, buf, sizeof(buf), &len, "200 OK", 1, 2000);
	/* nothing more arrives */
	if (rc == 0)
		rc = read_until(fd, buf, sizeof(buf), &len, "200 OK", 2, 100) == -1 ? 0 : 1;
	close(fd);
	srv_stop(&s);
	CHECK_INT(rc, 0);
	CHECK_INT(s.nrecv, 1);
	CHECK_INT(s.last_tcp.len, strlen(MSG_BODY));
	net_free(&s.net);
}

static void test_tcp_many_pipelined(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	static char out[64 * sizeof(OPTIONS_MSG)], in[64 * 64];
	size_t len = 0, olen = 0;
	int fd, rc, i;

	CHECK_INT(srv_start(&s, &c), 0);
	for (i = 0; i < 50; i++) {
		memcpy(out + olen, OPTIONS_MSG, sizeof(OPTIONS_MSG) - 1);
		olen += sizeof(OPTIONS_MSG) - 1;
	}
	fd = tcp_connect(s.port);
	CHECK(fd >= 0);
	CHECK(send_all(fd, out, olen));
	rc = read_until(fd, in, sizeof(in), &len, "200 OK", 50, 3000);
	close(fd);
	srv_stop(&s);
	CHECK_INT(rc, 0);
	CHECK_INT(s.nrecv, 50);
	net_free(&s.net);
}

static void test_tcp_keepalive_and_close_after_send(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	char buf[1024] = "";
	size_t len = 0;
	int fd, rc1, rc2, rc3;

	CHECK_INT(srv_start(&s, &c), 0);
	fd = tcp_connect(s.port);
	CHECK(fd >= 0);
	CHECK(send_all(fd, "\r\n\r\n", 4));
	rc1 = read_until(fd, buf, sizeof(buf), &len, "\r\n", 1, 2000);
	CHECK(send_all(fd, "BYE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n", 40));
	rc2 = read_until(fd, buf, sizeof(buf), &len, "200 OK", 1, 2000);
	rc3 = read_until(fd, buf, sizeof(buf), &len, NULL, 0, 2000);
	close(fd);
	srv_stop(&s);
	CHECK_INT(rc1, 0);
	CHECK_INT(rc2, 0);
	CHECK(strncmp(buf, "\r\nSIP/2.0 200 OK", 16) == 0);
	CHECK_INT(rc3, 1);
	CHECK_INT(s.nrecv, 1);
	CHECK_INT(srv_stats(&s).conn_open, 0);
	/* The connection is gone: a send on the old message is refused. */
	CHECK(!net_msg_conn_alive(&s.last_tcp));
	CHECK_INT(net_send(s.net, &s.last_tcp, NULL, "x", 1), EPIPE);
	CHECK_INT(srv_stats(&s).send_errors, 1);
	net_free(&s.net);
}

static void test_tcp_missing_content_length(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	char buf[1024] = "";
	size_t len = 0;
	const char msg[] = "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
	int fd, rc1, rc2;

	CHECK_INT(srv_start(&s, &c), 0);
	fd = tcp_connect(s.port);
	CHECK(fd >= 0);
	CHECK(send_all(fd, msg, sizeof(msg) - 1));
	rc1 = read_until(fd, buf, sizeof(buf), &len, "400 Bad Request", 1, 2000);
	rc2 = read_until(fd, buf, sizeof(buf), &len, NULL, 0, 2000);
	close(fd);
	srv_stop(&s);
	CHECK_INT(rc1, 0);
	CHECK_INT(rc2, 1);
	CHECK_INT(s.nerr, 1);
	CHECK_INT(s.nrecv, 0);
	CHECK_INT(s.last_err, SIP_E_CONTENT_LENGTH_MISSING);
	CHECK_INT(srv_stats(&s).conn_framing_error, 1);
	CHECK_INT(srv_stats(&s).conn_open, 0);
	net_free(&s.net);
}

static void test_tcp_too_large(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	static char big[3000], buf[1024];
	size_t len = 0;
	int fd, rc;

	CHECK_INT(srv_start(&s, &c), 0);
	memset(big, 'a', sizeof(big));
	fd = tcp_connect(s.port);
	CHECK(fd >= 0);
	send_all(fd, big, sizeof(big)); /* may fail with a reset: fine */
	rc = read_until(fd, buf, sizeof(buf), &len, NULL, 0, 2000);
	close(fd);
	srv_stop(&s);
	CHECK_INT(rc, 1);
	CHECK_INT(s.nerr, 1);
	CHECK_INT(s.last_err, SIP_E_MESSAGE_TOO_LARGE);
	CHECK_INT(srv_stats(&s).conn_open, 0);
	net_free(&s.net);
}

static void test_tcp_max_connections(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	char buf[256];
	size_t len;
	int fd[3], rc[3], i;

	c.max_connections = 2;
	CHECK_INT(srv_start(&s, &c), 0);
	for (i = 0; i < 3; i++) {
		fd[i] = tcp_connect(s.port);
		CHECK(fd[i] >= 0);
		/* A ping round trip proves (or disproves) the server kept it. */
		send(fd[i], "\r\n\r\n", 4, MSG_NOSIGNAL);
		len = 0;
		buf[0] = '\0';
		rc[i] = read_until(fd[i], buf, sizeof(buf), &len, "\r\n", 1, 2000);
	}
	for (i = 0; i < 3; i++)
		close(fd[i]);
	srv_stop(&s);
	CHECK_INT(rc[0], 0);
	CHECK_INT(rc[1], 0);
	CHECK_INT(rc[2], 1);
	CHECK_INT(srv_stats(&s).conn_refused, 1);
	CHECK_INT(srv_stats(&s).conn_accepted, 2);
	net_free(&s.net);
}

/* max_per_source counts the connections of one IP through a keyed table
 * sized by max_connections: with many sources connected, the count for a
 * new connection examines a few entries, not every connection (a fixed
 * number of buckets made it a walk that grew with the connections held). */
static void test_tcp_per_source_index(void)
{
	enum { SOURCES = 250 };
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	static int fd[SOURCES + 3];
	struct net_conf c = test_conf();
	char buf[256];
	size_t len;
	int ok = 0, rc[3], i;

	c.max_connections = 1000;
	c.max_per_source = 2;
	CHECK_INT(srv_start(&s, &c), 0);
	/* 250 sources, one connection each; 127.1.0.1 and so on */
	for (i = 0; i < SOURCES + 3; i++) {
		uint32_t src = i < SOURCES ? 0x7f010000u + 1u + (uint32_t)i : 0x7f020001u;

		fd[i] = tcp_connect_from(s.port, src);
		CHECK(fd[i] >= 0);
		/* A ping round trip proves (or disproves) the server kept it. */
		send(fd[i], "\r\n\r\n", 4, MSG_NOSIGNAL);
		len = 0;
		buf[0] = '\0';
		if (i < SOURCES)
			ok += read_until(fd[i], buf, sizeof(buf), &len, "\r\n", 1, 10000) == 0;
		else
			rc[i - SOURCES] = read_until(fd[i], buf, sizeof(buf), &len, "\r\n", 1, 10000);
	}
	for (i = 0; i < SOURCES + 3; i++)
		close(fd[i]);
	srv_stop(&s);
	CHECK_INT(ok, SOURCES);
	/* the third from 127.2.0.1 is over max_per_source */
	CHECK_INT(rc[0], 0);
	CHECK_INT(rc[1], 0);
	CHECK_INT(rc[2], 1);
	CHECK_INT(srv_stats(&s).conn_refused_source, 1);
	CHECK_INT(srv_stats(&s).conn_accepted, SOURCES + 2);
	/* 253 counts: each examines about one entry (the table's load is at
	 * most one), plus the same source's earlier connections */
	CHECK(s.net->by_src.probes <= 4u * (SOURCES + 3));
	net_free(&s.net);
}

static void test_tcp_header_timeout(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	const char *part = "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP host\r\n";
	char buf[256] = "";
	size_t len = 0, i;
	uint64_t t0;
	int fd, rc = -1;

	c.header_timeout_ms = 300;
	CHECK_INT(srv_start(&s, &c), 0);
	fd = tcp_connect(s.port);
	CHECK(fd >= 0);
	t0 = now_ms();
	/* A byte every 50 ms keeps the connection active but never completes. */
	for (i = 0; i < strlen(part); i++) {
		if (!send_all(fd, part + i, 1))
			break;
		rc = read_until(fd, buf, sizeof(buf), &len, NULL, 0, 50);
		if (rc == 1)
			break;
	}
	t0 = now_ms() - t0;
	close(fd);
	srv_stop(&s);
	CHECK_INT(rc, 1);
	CHECK(t0 >= 250 && t0 < 1500);
	CHECK_INT(srv_stats(&s).conn_header_timeout, 1);
	CHECK_INT(srv_stats(&s).conn_idle_closed, 0);
	net_free(&s.net);
}

static void test_tcp_idle_timeout(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	char buf[256] = "";
	size_t len = 0;
	uint64_t t0;
	int fd, rc;

	c.idle_timeout_ms = 300;
	CHECK_INT(srv_start(&s, &c), 0);
	fd = tcp_connect(s.port);
	CHECK(fd >= 0);
	t0 = now_ms();
	rc = read_until(fd, buf, sizeof(buf), &len, NULL, 0, 2000);
	t0 = now_ms() - t0;
	close(fd);
	srv_stop(&s);
	CHECK_INT(rc, 1);
	CHECK(t0 >= 250 && t0 < 1500);
	CHECK_INT(srv_stats(&s).conn_idle_closed, 1);
	net_free(&s.net);
}

static void test_udp_truncated(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static char big[2000];
	char r1[64] = "", r2[64] = "";
	struct pollfd pfd;
	ssize_t n1 = -1, n2 = -1;
	int fd;

	CHECK_INT(srv_start(&s, &c), 0);
	a.sin_port = htons(s.port);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	memset(big, 'x', sizeof(big));
	sendto(fd, big, sizeof(big), 0, (struct sockaddr *)&a, sizeof(a));
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 2000) == 1)
		n1 = recv(fd, r1, sizeof(r1) - 1, 0);
	sendto(fd, OPTIONS_MSG, sizeof(OPTIONS_MSG) - 1, 0, (struct sockaddr *)&a, sizeof(a));
	if (poll(&pfd, 1, 2000) == 1)
		n2 = recv(fd, r2, sizeof(r2) - 1, 0);
	close(fd);
	srv_stop(&s);
	CHECK(n1 > 0 && n2 > 0);
	CHECK(strcmp(r1, "len=1024 trunc=1") == 0);
	CHECK_INT(strncmp(r2, "len=", 4), 0);
	CHECK(strstr(r2, "trunc=0") != NULL);
	CHECK_INT(srv_stats(&s).udp_in, 2);
	CHECK_INT(srv_stats(&s).udp_truncated, 1);
	CHECK(s.last_local_ok);
	net_free(&s.net);
}

/* More datagrams at once than one recvmmsg takes (and than one wakeup
 * drains), from three sources: each is answered at its own source, with its
 * own length, none truncated. */
static void test_udp_burst(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	enum { CLIENTS = 3, EACH = 30 };
	static char data[400];
	int fd[CLIENTS], got[CLIENTS] = { 0 }, wrong = 0;
	uint64_t deadline;

	CHECK_INT(srv_start(&s, &c), 0);
	a.sin_port = htons(s.port);
	memset(data, 'x', sizeof(data));
	for (int k = 0; k < CLIENTS; k++) {
		fd[k] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		CHECK(fd[k] >= 0);
	}
	/* client k sends lengths 100k + 10 .. 100k + 39 */
	for (int i = 0; i < EACH; i++)
		for (int k = 0; k < CLIENTS; k++)
			sendto(fd[k], data, (size_t)(100 * k + 10 + i), 0, (struct sockaddr *)&a,
			       sizeof(a));
	deadline = now_ms() + 10000;
	for (int k = 0; k < CLIENTS; k++) {
		while (got[k] < EACH && now_ms() < deadline) {
			struct pollfd pfd = { .fd = fd[k], .events = POLLIN };
			char r[64];
			unsigned len = 0;
			int trunc = -1;
			ssize_t n;

			if (poll(&pfd, 1, 500) != 1)
				continue;
			n = recv(fd[k], r, sizeof(r) - 1, 0);
			if (n <= 0)
				continue;
			r[n] = '\0';
			if (sscanf(r, "len=%u trunc=%d", &len, &trunc) != 2 || trunc != 0 ||
			    len < 100u * (unsigned)k + 10 || len >= 100u * (unsigned)k + 10 + EACH)
				wrong++;
			got[k]++;
		}
		close(fd[k]);
	}
	srv_stop(&s);
	for (int k = 0; k < CLIENTS; k++)
		CHECK_INT(got[k], EACH);
	CHECK_INT(wrong, 0);
	CHECK_INT(srv_stats(&s).udp_in, CLIENTS * EACH);
	CHECK_INT(srv_stats(&s).udp_truncated, 0);
	net_free(&s.net);
}

static void test_listen_errors(void)
{
	struct net *n = NULL;
	struct net_conf c = test_conf();
	struct net_listen_spec specs[2];
	char err[256];
	size_t cnt;

	CHECK_INT(net_new(&n, &c, on_recv, on_stream_error, NULL), 0);
	CHECK_INT(net_listen_parse(specs, 2, &cnt, "tls:127.0.0.1:5061", err, sizeof(err)), 0);
	/* TLS without a certificate loaded: refused, naming the address. */
	CHECK_INT(net_listen(n, specs, cnt, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "tls:127.0.0.1:5061") != NULL);
	CHECK(strstr(err, "no TLS certificate") != NULL);
	/* The same address twice: the second bind fails, nothing stays open. */
	specs[0].tp = NET_UDP;
	specs[1] = specs[0];
	((struct sockaddr_in *)&specs[0].addr.ss)->sin_port = htons(free_port());
	specs[1] = specs[0];
	CHECK(net_listen(n, specs, 2, err, sizeof(err)) != 0);
	CHECK(strstr(err, "udp:127.0.0.1:") != NULL);
	CHECK_INT(net_listen(n, specs, 1, err, sizeof(err)), 0);
	net_free(&n);
}

static void test_tcp_record_reuse(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	char buf[1024] = "";
	size_t len = 0;
	int a, b, rc1, rc2;

	CHECK_INT(srv_start(&s, &c), 0);
	a = tcp_connect(s.port);
	CHECK(a >= 0);
	CHECK(send_all(a, "BYE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n", 40));
	rc1 = read_until(a, buf, sizeof(buf), &len, NULL, 0, 2000);
	close(a);
	b = tcp_connect(s.port);
	CHECK(b >= 0);
	CHECK(send_all(b, OPTIONS_MSG, sizeof(OPTIONS_MSG) - 1));
	len = 0;
	buf[0] = '\0';
	rc2 = read_until(b, buf, sizeof(buf), &len, "200 OK", 1, 2000);
	srv_stop(&s);
	CHECK_INT(rc1, 1);
	CHECK_INT(rc2, 0);
	CHECK_INT(s.nrecv, 2);
	/* The record of the first connection now serves the second one. */
	CHECK(s.tcp_msgs[0].conn == s.tcp_msgs[1].conn);
	CHECK(!net_msg_conn_alive(&s.tcp_msgs[0]));
	CHECK(net_msg_conn_alive(&s.tcp_msgs[1]));
	CHECK_INT(net_send(s.net, &s.tcp_msgs[0], NULL, "x", 1), EPIPE);
	CHECK_INT(net_send(s.net, &s.tcp_msgs[1], NULL, "x\r\n", 3), 0);
	len = 0;
	buf[0] = '\0';
	CHECK_INT(read_until(b, buf, sizeof(buf), &len, "x\r\n", 1, 2000), 0);
	close(b);
	net_free(&s.net);
}

/* Many peers misbehaving at once: resets mid-message, closing without
 * reading the answer, half-closing; the server must stay up and serve. */
static void test_tcp_flood_and_resets(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char buf[1024] = "";
	size_t len = 0;
	int fd, i, rc, made = 0;

	c.max_connections = 64;
	CHECK_INT(srv_start(&s, &c), 0);
	for (i = 0; i < 60; i++) {
		fd = tcp_connect(s.port);
		if (fd < 0)
			continue;
		made++;
		switch (i % 4) {
		case 0: /* reset in the middle of a message */
			send_all(fd, "OPTIONS sip:x SIP/2.0\r\n", 23);
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			break;
		case 1: /* ask and leave without reading */
			send_all(fd, OPTIONS_MSG OPTIONS_MSG, 2 * (sizeof(OPTIONS_MSG) - 1));
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			break;
		case 2: /* half-close after a complete request */
			send_all(fd, OPTIONS_MSG, sizeof(OPTIONS_MSG) - 1);
			shutdown(fd, SHUT_WR);
			break;
		default: /* connect and go */
			break;
		}
		close(fd);
	}
	fd = tcp_connect(s.port);
	CHECK(fd >= 0);
	CHECK(send_all(fd, OPTIONS_MSG, sizeof(OPTIONS_MSG) - 1));
	rc = read_until(fd, buf, sizeof(buf), &len, "200 OK", 1, 3000);
	close(fd);
	srv_stop(&s);
	CHECK_INT(rc, 0);
	CHECK_INT(srv_stats(&s).conn_accepted + srv_stats(&s).conn_refused, made + 1);
	CHECK(srv_stats(&s).conn_open <= 64);
	net_free(&s.net);
}

static void test_ipv6_loopback(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	struct net_listen_spec spec;
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	char list[64], err[256], buf[256] = "";
	size_t n, len = 0;
	int fd, rc;

	CHECK_INT(srv_start(&s, &c), 0);
	snprintf(list, sizeof(list), "tcp:[::1]:%u", s.port);
	CHECK_INT(net_listen_parse(&spec, 1, &n, list, err, sizeof(err)), 0);
	srv_stop(&s);
	rc = net_listen(s.net, &spec, 1, err, sizeof(err));
	if (rc == EADDRNOTAVAIL || rc == EAFNOSUPPORT) {
		printf("  (no IPv6 loopback here: %s)\n", err);
		net_free(&s.net);
		return;
	}
	CHECK_INT(rc, 0);
	s.stop = 0;
	CHECK_INT(pthread_create(&s.thr, NULL, loop_main, &s), 0);
	running = &s;
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin6_port = htons(s.port);
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (rc == 0 && send_all(fd, OPTIONS_MSG, sizeof(OPTIONS_MSG) - 1))
		rc = read_until(fd, buf, sizeof(buf), &len, "200 OK", 1, 2000);
	close(fd);
	srv_stop(&s);
	CHECK_INT(rc, 0);
	CHECK_INT(s.last_tcp.src.ss.ss_family, AF_INET6);
	CHECK(s.last_local_ok);
	net_free(&s.net);
}

/* A peer that asks and never reads: the bounded output queue overflows and
 * the connection is closed instead of memory growing. */
static void test_tcp_output_overflow(void)
{
	static struct srv s; /* outlives a failed CHECK; see srv_start */
	struct net_conf c = test_conf();
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static const char req[] = "BIG sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n";
	char buf[4096];
	int fd, small = 4096, i, closed = 0;
	uint64_t end;

	CHECK_INT(srv_start(&s, &c), 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	a.sin_port = htons(s.port);
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	for (i = 0; i < 1000; i++) {
		if (!send_all(fd, req, sizeof(req) - 1))
			break;
	}
	/* Now drain: the stream must end (reset or EOF) well before 16 MB. */
	end = now_ms() + 3000;
	while (now_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		r = recv(fd, buf, sizeof(buf), 0);
		if (r <= 0) {
			closed = 1;
			break;
		}
	}
	close(fd);
	srv_stop(&s);
	CHECK(closed);
	CHECK(s.nerr >= 1);
	CHECK(srv_stats(&s).send_errors >= 1);
	CHECK_INT(srv_stats(&s).conn_open, 0);
	net_free(&s.net);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_tcp_pipelined),
		CASE(test_round_hook),
		CASE(test_tcp_bytewise),
		CASE(test_tcp_many_pipelined),
		CASE(test_tcp_keepalive_and_close_after_send),
		CASE(test_tcp_missing_content_length),
		CASE(test_tcp_too_large),
		CASE(test_tcp_max_connections),
		CASE(test_tcp_per_source_index),
		CASE(test_tcp_header_timeout),
		CASE(test_tcp_idle_timeout),
		CASE(test_udp_truncated),
		CASE(test_udp_burst),
		CASE(test_listen_errors),
		CASE(test_tcp_record_reuse),
		CASE(test_tcp_flood_and_resets),
		CASE(test_ipv6_loopback),
		CASE(test_tcp_output_overflow),
	};

	return check_main("net_loop", cases, ARRAY_SIZE(cases), argc, argv);
}
