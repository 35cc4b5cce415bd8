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

#include <openssl/err.h>
#include <openssl/ssl.h>

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
	SSL *ssl;                      /* HTTPS, or NULL */
	bool tls_done;                 /* handshake finished */
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
	SSL_CTX *tls;                  /* HTTPS, or NULL */
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
	SSL_free(c->ssl);
	free(c->in);
	free(c);
	m->st.open--;
}

/* Send what is left of the response; close when done or on error. */
/* The byte pump: plain socket or TLS. Returns a count, 0 at the end of the
 * stream, or -1 with errno (EAGAIN: wait for *want_out ? output : input). */
static ssize_t io(struct metrics_conn *c, void *buf, size_t len, bool wr, bool *want_out)
{
	int n, e;

	*want_out = wr;
	if (!c->ssl)
		return wr ? send(c->fd, buf, len, MSG_NOSIGNAL) : recv(c->fd, buf, len, 0);
	ERR_clear_error();
	n = wr ? SSL_write(c->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len))
	       : SSL_read(c->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
	if (n > 0)
		return n;
	e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*want_out = e == SSL_ERROR_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = EPROTO;
	return -1;
}

/* Drive the TLS handshake. true when done; false when waiting (events set)
 * or failed (the connection is closed: *closed). */
static bool handshake(struct metrics_conn *c, bool *closed)
{
	int n, e;

	*closed = false;
	if (!c->ssl || c->tls_done)
		return true;
	ERR_clear_error();
	n = SSL_do_handshake(c->ssl);
	if (n == 1) {
		c->tls_done = true;
		return true;
	}
	e = SSL_get_error(c->ssl, n);
	if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
	    net_watch_events(c->m->net, c->w, e == SSL_ERROR_WANT_READ,
			     e == SSL_ERROR_WANT_WRITE) == 0)
		return false;
	c->m->st.tls_failed++;
	conn_close(c);
	*closed = true;
	return false;
}

static void conn_flush(struct metrics_conn *c)
{
	bool want_out;

	while (c->out_off < c->out.len) {
		ssize_t w = io(c, c->out.p + c->out_off, c->out.len - c->out_off, true, &want_out);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (net_watch_events(c->m->net, c->w, !want_out, want_out) != 0)
				conn_close(c);
			return;
		}
		if (w <= 0) {
			conn_close(c);
			return;
		}
		c->out_off += (size_t)w;
	}
	if (c->ssl)
		SSL_shutdown(c->ssl); /* our close_notify; the peer's is not awaited */
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
	bool closed, want_out = false;
	ssize_t r;
	int rc;

	if (!handshake(c, &closed))
		return;
	for (;;) {
		if (c->in_len >= max)
			break;
		r = io(c, c->in + c->in_len, max - c->in_len, false, &want_out);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (c->ssl && net_watch_events(c->m->net, c->w, !want_out, want_out) != 0) {
				conn_close(c);
				return;
			}
			break;
		}
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
	if (events & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP))
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
		if (c && m->tls && (!(c->ssl = SSL_new(m->tls)) || SSL_set_fd(c->ssl, fd) != 1)) {
			SSL_free(c->ssl);
			c->ssl = NULL;
			free(c->in);
			c->in = NULL;
		}
		if (c && c->ssl)
			SSL_set_accept_state(c->ssl);
		if (!c || !c->in || net_watch_add(m->net, &c->w, fd, false, on_conn, c) != 0) {
			if (c) {
				SSL_free(c->ssl);
				free(c->in);
			}
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

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0; /* an encrypted key is refused, never prompted for */
}

/* The HTTPS context: TLS 1.2+, a client certificate required. */
static int tls_new(SSL_CTX **out, const struct metrics_conf *c, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	STACK_OF(X509_NAME) *names;

	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		return ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1) {
		snprintf(err, errlen, "%s: not a readable PEM certificate", c->cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: not the certificate's key, or encrypted", c->key_file);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, c->client_ca, NULL) != 1 ||
	    !(names = SSL_load_client_CA_file(c->client_ca))) {
		snprintf(err, errlen, "%s: not a readable PEM CA file", c->client_ca);
		goto fail;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return EINVAL;
}

int metrics_server_new(struct metrics_server **mp, struct net *n, const struct metrics_conf *conf,
		       metrics_render_fn *render, void *arg, char *err, size_t errlen)
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
	m->fd = -1;
	conf_sane(&m->conf);
	if (conf->cert_file && conf->key_file && conf->client_ca &&
	    (rc = tls_new(&m->tls, conf, err, errlen)) != 0) {
		free(m);
		return rc;
	}
	m->conf.cert_file = m->conf.key_file = m->conf.client_ca = NULL; /* loaded */
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
	snprintf(err, errlen, "%s", strerror(rc));
	if (m->fd >= 0)
		close(m->fd);
	SSL_CTX_free(m->tls);
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
	SSL_CTX_free(m->tls);
	free(m);
	*mp = NULL;
}

void metrics_server_set_conf(struct metrics_server *m, const struct metrics_conf *conf)
{
	struct net_addr keep = m->conf.addr;

	m->conf = *conf;
	m->conf.addr = keep;
	m->conf.cert_file = m->conf.key_file = m->conf.client_ca = NULL; /* start only */
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
