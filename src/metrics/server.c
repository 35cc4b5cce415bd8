/*
 * server: the metrics HTTP listener on the SIP server's event loop
 * (metrics.h). One request per connection: read until the header section
 * is complete (at most max_request bytes), answer, close. Every connection
 * has one deadline, timeout_ms from accept, for the whole exchange; a
 * connection over max_connections is closed at once. The render callback
 * fills a buffer; nothing here reaches SIP state.
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define METRICS_ACCEPT_BURST 16
#define METRICS_PAUSE_MS 250

struct metrics_conn {
	struct metrics_conn *prev, *next;
	struct metrics_server *m;
	struct net_watch *w;
	int fd;
	char *in;                      /* max_request bytes */
	size_t in_len;
	struct metrics_buf out;        /* the response, once decided */
	size_t out_off;
	bool answering;
};

struct metrics_server {
	struct net *net;
	struct metrics_conf conf;
	metrics_render_fn *render;
	void *arg;
	int fd;
	struct net_watch *w;
	struct net_addr bound;
	struct metrics_conn *conns;
	struct metrics_stats st;
};

static void conn_close(struct metrics_conn *c)
{
	struct metrics_server *m = c->m;

	net_watch_del(m->net, &c->w);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	metrics_buf_free(&c->out);
	free(c->in);
	free(c);
	m->st.open--;
}

/* Send what is left of the response; close when done or on error. */
static void conn_flush(struct metrics_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t w = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (net_watch_events(c->m->net, c->w, false, true) != 0)
				conn_close(c);
			return;
		}
		if (w <= 0) {
			conn_close(c);
			return;
		}
		c->out_off += (size_t)w;
	}
	conn_close(c);
}

/* Build the whole response into c->out (headers and, unless HEAD, the
 * body) and start sending it. */
static void conn_answer(struct metrics_conn *c, const struct metrics_http_verdict *v)
{
	struct metrics_server *m = c->m;
	struct metrics_buf body;
	char head[512], text[64];
	int status = v->status, n;
	const char *reason = v->reason, *ctype = "text/plain; charset=utf-8";
	struct slice payload;
	size_t total;

	c->answering = true;
	m->st.requests++;
	if (status == 431)
		m->st.too_large++;
	else if (status != 200)
		m->st.bad++;
	if (metrics_buf_init(&body, m->conf.max_response) != 0) {
		conn_close(c);
		return;
	}
	if (status == 200) {
		m->render(m->arg, &body);
		if (body.overflow) {
			status = 500;
			reason = "Internal Server Error";
		} else {
			m->st.scrapes++;
			ctype = "text/plain; version=0.0.4; charset=utf-8";
		}
	}
	if (status == 200) {
		payload = slice_make(body.p, body.len);
	} else {
		snprintf(text, sizeof(text), "%d %s\n", status, reason);
		payload = slice_cstr(text);
	}
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s"
		     "Connection: close\r\n\r\n",
		     status, reason, ctype, payload.len,
		     status == 405 ? "Allow: GET, HEAD\r\n" : "");
	total = (size_t)n + (v->head ? 0 : payload.len);
	c->out.p = malloc(total + 1);
	if (n < 0 || (size_t)n >= sizeof(head) || !c->out.p) {
		metrics_buf_free(&body);
		conn_close(c);
		return;
	}
	c->out.cap = total + 1;
	memcpy(c->out.p, head, (size_t)n);
	if (!v->head)
		memcpy(c->out.p + n, payload.p, payload.len);
	c->out.len = total;
	metrics_buf_free(&body);
	conn_flush(c);
}

static void conn_read(struct metrics_conn *c)
{
	struct metrics_http_verdict v;
	size_t max = c->m->conf.max_request;
	ssize_t r;
	int rc;

	for (;;) {
		if (c->in_len >= max)
			break;
		r = recv(c->fd, c->in + c->in_len, max - c->in_len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			conn_close(c); /* gone before asking anything complete */
			return;
		}
		c->in_len += (size_t)r;
	}
	rc = metrics_http_parse(&v, c->in, c->in_len, max);
	if (rc == ENODATA)
		return;
	conn_answer(c, &v);
}

static void on_conn(void *arg, uint32_t events)
{
	struct metrics_conn *c = arg;

	if (events == 0) { /* the deadline */
		c->m->st.timeouts++;
		conn_close(c);
		return;
	}
	if (c->answering) {
		if (events & (EPOLLERR | EPOLLHUP))
			conn_close(c);
		else
			conn_flush(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(c);
}

static void on_listen(void *arg, uint32_t events)
{
	struct metrics_server *m = arg;

	if (events == 0) { /* the pause after running out of descriptors is over */
		net_watch_events(m->net, m->w, true, false);
		return;
	}
	for (int i = 0; i < METRICS_ACCEPT_BURST; i++) {
		struct metrics_conn *c;
		int fd = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			/* out of descriptors or memory: the pending connection stays
			 * and would wake the loop at once; pause the listener instead */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				net_watch_events(m->net, m->w, false, false);
				net_watch_deadline(m->net, m->w, net_now(m->net) + METRICS_PAUSE_MS);
			}
			return; /* EAGAIN: all taken */
		}
		if (m->st.open >= m->conf.max_connections) {
			m->st.refused++;
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->in = malloc(m->conf.max_request);
		if (!c || !c->in || net_watch_add(m->net, &c->w, fd, false, on_conn, c) != 0) {
			if (c)
				free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->m = m;
		c->fd = fd;
		net_watch_deadline(m->net, c->w, net_now(m->net) + m->conf.timeout_ms);
		c->next = m->conns;
		if (m->conns)
			m->conns->prev = c;
		m->conns = c;
		m->st.open++;
	}
}

static void conf_sane(struct metrics_conf *c)
{
	if (c->max_request < 64)
		c->max_request = 64;
	if (c->timeout_ms == 0)
		c->timeout_ms = 1;
	if (c->max_connections == 0)
		c->max_connections = 1;
	if (c->max_response < 4096)
		c->max_response = 4096;
}

int metrics_server_new(struct metrics_server **mp, struct net *n, const struct metrics_conf *conf,
		       metrics_render_fn *render, void *arg)
{
	struct metrics_server *m;
	socklen_t alen;
	int one = 1, rc = 0;

	if (!mp || !n || !conf || !render)
		return EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return ENOMEM;
	m->net = n;
	m->conf = *conf;
	conf_sane(&m->conf);
	m->render = render;
	m->arg = arg;
	m->bound = conf->addr;
	m->fd = socket(conf->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0) {
		rc = errno;
		goto fail;
	}
	alen = sizeof(m->bound.ss);
	if ((conf->addr.ss.ss_family == AF_INET6 &&
	     setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(m->fd, (const struct sockaddr *)&conf->addr.ss, conf->addr.len) != 0 ||
	    listen(m->fd, 64) != 0 ||
	    getsockname(m->fd, (struct sockaddr *)&m->bound.ss, &alen) != 0) {
		rc = errno;
		goto fail;
	}
	m->bound.len = alen;
	if ((rc = net_watch_add(n, &m->w, m->fd, false, on_listen, m)) != 0)
		goto fail;
	*mp = m;
	return 0;
fail:
	if (m->fd >= 0)
		close(m->fd);
	free(m);
	return rc;
}

void metrics_server_free(struct metrics_server **mp)
{
	struct metrics_server *m;

	if (!mp || !*mp)
		return;
	m = *mp;
	while (m->conns)
		conn_close(m->conns);
	net_watch_del(m->net, &m->w);
	close(m->fd);
	free(m);
	*mp = NULL;
}

void metrics_server_set_conf(struct metrics_server *m, const struct metrics_conf *conf)
{
	struct net_addr keep = m->conf.addr;

	m->conf = *conf;
	m->conf.addr = keep;
	conf_sane(&m->conf);
}

void metrics_server_addr(const struct metrics_server *m, struct net_addr *out)
{
	*out = m->bound;
}

void metrics_server_stats(const struct metrics_server *m, struct metrics_stats *out)
{
	*out = m->st;
}
