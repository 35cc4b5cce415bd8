/*
 * tcp: stream listeners and connections. Accepting is bounded per wakeup
 * and by max_connections (over it a connection is accepted and closed at
 * once, so the backlog cannot fill with peers we will never serve). Each
 * connection owns a receive buffer that grows up to lim.max_message and
 * never beyond, framed by sip_frame, and an output queue bounded by
 * net_out_cap(); a peer that does not read its responses loses the
 * connection rather than our memory.
 *
 * Outbound connections (net_connect) are the same records, marked
 * connecting until the socket is writable; they sit on the deadline list
 * meanwhile, and output queues until they are up.
 *
 * The socket calls go through struct net_stream_ops: the TLS transport
 * (tls.c) reuses everything here but the byte pump, so framing, deadlines,
 * caps and buffer bounds are the same for TCP and TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define NET_ACCEPT_BURST 64
#define NET_READ_BURST 8
#define NET_IN_FIRST 4096
#define NET_BACKLOG 1024

static ssize_t tcp_read(struct net *n, struct net_conn *c, void *buf, size_t len)
{
	(void)n;
	return recv(c->io.fd, buf, len, 0);
}

static ssize_t tcp_write(struct net *n, struct net_conn *c, const void *buf, size_t len)
{
	(void)n;
	return send(c->io.fd, buf, len, MSG_NOSIGNAL);
}

static void tcp_close(struct net *n, struct net_conn *c)
{
	(void)n;
	(void)c;
}

static const struct net_stream_ops tcp_ops = {
	.tp = NET_TCP, .read = tcp_read, .write = tcp_write, .close = tcp_close, .pending = NULL
};

int net_tcp_open(struct net *n, struct net_listener *l)
{
	int fd, one = 1, rc = 0;
	socklen_t len = sizeof(l->local.ss);

	(void)n;
	fd = socket(l->local.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if ((l->local.ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)&l->local.ss, l->local.len) != 0 ||
	    listen(fd, NET_BACKLOG) != 0) {
		rc = errno;
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&l->local.ss, &len) == 0)
		l->local.len = len;
	l->io.kind = NET_IO_TCP_LISTEN;
	l->io.fd = fd;
out:
	if (rc != 0)
		close(fd);
	return rc;
}

static struct net_conn *conn_get(struct net *n)
{
	struct net_conn *c = n->free;

	if (c) {
		n->free = c->next_free;
		c->next_free = NULL;
		return c;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->io.kind = NET_IO_CONN;
	c->io.fd = -1;
	c->gen = 1;
	net_link_init(&c->lru);
	net_link_init(&c->partial);
	return c;
}

/* EMFILE/ENFILE: give up the spare descriptor for a moment to accept and
 * drop one pending connection, so level-triggered epoll does not spin. */
static void accept_shed(struct net *n, int lfd)
{
	int fd;

	if (n->spare_fd < 0)
		return;
	close(n->spare_fd);
	fd = accept(lfd, NULL, NULL);
	if (fd >= 0) {
		close(fd);
		n->st.conn_refused++;
	}
	n->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void net_tcp_acceptable(struct net *n, struct net_listener *l)
{
	int i;

	for (i = 0; i < NET_ACCEPT_BURST; i++) {
		struct net_conn *c;
		struct net_addr peer = { .len = sizeof(peer.ss) };
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		socklen_t llen;
		int fd, one = 1, idx;

		fd = accept4(l->io.fd, (struct sockaddr *)&peer.ss, &peer.len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				accept_shed(n, l->io.fd);
			break;
		}
		if (n->st.conn_open >= n->conf.max_connections) {
			close(fd);
			n->st.conn_refused++;
			continue;
		}
		if (n->conf.max_per_source && net_conns_from(n, &peer) >= n->conf.max_per_source) {
			close(fd);
			n->st.conn_refused_source++;
			continue;
		}
		c = conn_get(n);
		if (!c) {
			close(fd);
			n->st.conn_refused++;
			continue;
		}
		c->io.fd = fd;
		c->ops = &tcp_ops;
		c->peer = peer;
		c->local.len = sizeof(c->local.ss);
		llen = sizeof(c->local.ss);
		if (getsockname(fd, (struct sockaddr *)&c->local.ss, &llen) == 0)
			c->local.len = llen;
		else
			c->local = l->local;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ev.data.ptr = &c->io;
		if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			c->io.fd = -1;
			c->next_free = n->free;
			n->free = c;
			n->st.conn_refused++;
			continue;
		}
		c->last_active_ms = n->now_ms;
		net_link_tail(&n->lru, &c->lru);
		/* the index is bounded by max_connections, checked above */
		idx = net_conn_index(n, c);
		n->st.conn_open++;
		n->st.conn_accepted++;
		if (idx != 0 || (l->tp == NET_TLS && net_tls_conn_start(n, c) != 0)) {
			net_conn_close_now(n, c);
			n->st.conn_refused++;
		}
	}
}

/* Release everything a connection holds; the record goes to the free list. */
void net_conn_close_now(struct net *n, struct net_conn *c)
{
	char scratch[4096];
	int i;

	if (c->io.fd < 0)
		return;
	c->ops->close(n, c);
	(void)epoll_ctl(n->epfd, EPOLL_CTL_DEL, c->io.fd, NULL);
	/* Unread input would turn close() into a reset that can destroy a
	 * response still in flight to the peer; read a little of it first. */
	for (i = 0; i < 16; i++) {
		if (recv(c->io.fd, scratch, sizeof(scratch), MSG_DONTWAIT) <= 0)
			break;
	}
	close(c->io.fd);
	c->io.fd = -1;
	c->gen++;
	net_link_del(&c->lru);
	net_link_del(&c->partial);
	net_conn_unindex(n, c);
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->in_len = c->in_cap = c->out_off = c->out_len = c->out_cap = 0;
	c->crlf_run = 0;
	c->want_out = c->close_after_send = c->dead = false;
	c->ssl = NULL; /* freed by ops->close, with peer_name */
	c->tls_done = c->rd_wants_out = c->wr_wants_in = c->connecting = false;
	c->next_free = n->free;
	n->free = c;
	n->st.conn_open--;
}

void net_conn_free_all(struct net *n)
{
	struct net_conn *c;

	net_reap(n);
	while (net_link_linked(&n->lru))
		net_conn_close_now(n, net_container(n->lru.next, struct net_conn, lru));
	while ((c = n->free)) {
		n->free = c->next_free;
		free(c);
	}
}

/* Arm EPOLLOUT exactly when something waits for it: queued output (unless
 * the transport first needs to read), or a read that must first write. */
static int conn_arm(struct net *n, struct net_conn *c)
{
	bool want = c->connecting || (c->out_len > 0 && !c->wr_wants_in) || c->rd_wants_out;

	return want != c->want_out ? net_conn_events(n, c, want) : 0;
}

/* Write queued output. Returns 0, or an errno when the connection is lost. */
static int conn_flush(struct net *n, struct net_conn *c)
{
	c->wr_wants_in = false;
	while (c->out_len > 0) {
		ssize_t w = c->ops->write(n, c, c->out + c->out_off, c->out_len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return errno;
		}
		c->out_off += (size_t)w;
		c->out_len -= (size_t)w;
	}
	if (c->out_len == 0)
		c->out_off = 0;
	return conn_arm(n, c);
}

int net_conn_send(struct net *n, struct net_conn *c, const void *buf, size_t len)
{
	const char *p = buf;
	size_t cap = net_out_cap(n);
	int rc = 0;

	if (c->out_len == 0 && !c->connecting) {
		c->wr_wants_in = false;
		while (len > 0) {
			ssize_t w = c->ops->write(n, c, p, len);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				rc = errno;
				net_conn_kill(n, c);
				goto out;
			}
			p += w;
			len -= (size_t)w;
		}
		if (len == 0)
			goto out;
	}
	if (c->out_len + len > cap) {
		rc = EOVERFLOW;
		net_conn_kill(n, c);
		goto out;
	}
	if (c->out_off + c->out_len + len > c->out_cap) {
		/* Compact first; grow only when compacting is not enough. */
		if (c->out_off) {
			memmove(c->out, c->out + c->out_off, c->out_len);
			c->out_off = 0;
		}
		if (c->out_len + len > c->out_cap) {
			size_t ncap = c->out_cap ? c->out_cap : 4096;
			char *o;

			while (ncap < c->out_len + len)
				ncap *= 2;
			if (ncap > cap)
				ncap = cap;
			o = realloc(c->out, ncap);
			if (!o) {
				rc = ENOMEM;
				net_conn_kill(n, c);
				goto out;
			}
			c->out = o;
			c->out_cap = ncap;
		}
	}
	memcpy(c->out + c->out_off + c->out_len, p, len);
	c->out_len += len;
	if (conn_arm(n, c) != 0) {
		rc = EIO;
		net_conn_kill(n, c);
	}
out:
	return rc;
}

/* Count CRLF pairs in the skipped keep-alive bytes; answer each "\r\n\r\n"
 * ping with a "\r\n" pong (RFC 5626 4.4.1). */
static void conn_keepalive(struct net *n, struct net_conn *c, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2) {
		if (p[i] != '\r' || p[i + 1] != '\n')
			continue;
		if (++c->crlf_run == 2) {
			c->crlf_run = 0;
			(void)net_conn_send(n, c, "\r\n", 2);
		}
	}
}

static void conn_msg_init(struct net_msg *m, struct net_conn *c)
{
	memset(m, 0, sizeof(*m));
	m->tp = c->ops->tp;
	m->src = c->peer;
	m->local = c->local;
	m->conn = c;
	m->conn_gen = c->gen;
	m->udp_fd = -1;
}

/* A framing error: tell the upper layer, then close once the output
 * (perhaps its 400) has drained. */
static void conn_frame_error(struct net *n, struct net_conn *c, size_t off, enum sip_err err)
{
	struct net_msg m;

	n->st.conn_framing_error++;
	conn_msg_init(&m, c);
	m.buf = c->in + off;
	m.len = c->in_len - off;
	if (n->stream_error)
		n->stream_error(n->arg, &m, err);
	c->in_len = 0;
	net_conn_close_after_send(n, c);
}

/* Deliver every complete message in the buffer; keep the rest. */
static void conn_process(struct net *n, struct net_conn *c)
{
	size_t off = 0, skip, mlen;
	bool delivered = false;
	enum sip_err err;
	int rc;

	while (off < c->in_len && !c->dead && !c->close_after_send) {
		skip = mlen = 0;
		err = SIP_E_NONE;
		rc = sip_frame(c->in + off, c->in_len - off, &n->conf.lim, &skip, &mlen, &err);
		if (skip > c->in_len - off)
			skip = c->in_len - off;
		if (skip)
			conn_keepalive(n, c, c->in + off, skip);
		if (rc == ENODATA) {
			off += skip;
			/* A full buffer that still does not frame can never frame. */
			if (c->in_len - off >= n->conf.lim.max_message) {
				conn_frame_error(n, c, off, SIP_E_MESSAGE_TOO_LARGE);
				goto out;
			}
			break;
		}
		if (rc != 0) {
			conn_frame_error(n, c, off + skip,
					 err != SIP_E_NONE ? err : SIP_E_MESSAGE_TOO_LARGE);
			goto out;
		}
		{
			struct net_msg m;

			conn_msg_init(&m, c);
			m.buf = c->in + off + skip;
			m.len = mlen;
			c->crlf_run = 0;
			n->st.tcp_in++;
			n->recv(n->arg, &m);
			delivered = true;
		}
		off += skip + mlen;
	}
	if (c->dead || c->close_after_send)
		goto out;
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
	if (c->in_len == 0) {
		net_link_del(&c->partial);
	} else if (delivered || !net_link_linked(&c->partial)) {
		c->msg_start_ms = n->now_ms;
		net_link_tail(&n->partial, &c->partial);
	}
out:
	return;
}

/* Bytes the transport holds already decrypted: a read must come back for
 * them, as epoll will not. */
static size_t conn_pending(const struct net_conn *c)
{
	return c->ops->pending ? c->ops->pending(c) : 0;
}

/* Read what the socket has (bounded) and process it. */
static void conn_readable(struct net *n, struct net_conn *c)
{
	size_t max = n->conf.lim.max_message;
	int i;

	c->rd_wants_out = false;
	for (i = 0; (i < NET_READ_BURST || conn_pending(c) > 0) && !c->dead && !c->close_after_send;
	     i++) {
		ssize_t r;
		size_t space;

		if (c->in_len >= c->in_cap) {
			size_t ncap = c->in_cap ? c->in_cap * 2 : NET_IN_FIRST;
			char *b;

			if (ncap > max)
				ncap = max;
			if (ncap <= c->in_len) {
				/* Cannot happen after conn_process; be safe. */
				conn_frame_error(n, c, 0, SIP_E_MESSAGE_TOO_LARGE);
				break;
			}
			b = realloc(c->in, ncap);
			if (!b) {
				net_conn_kill(n, c);
				break;
			}
			c->in = b;
			c->in_cap = ncap;
		}
		space = c->in_cap - c->in_len;
		r = c->ops->read(n, c, c->in + c->in_len, space);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				net_conn_kill(n, c);
			else if (conn_arm(n, c) != 0) /* a TLS read may wait to write */
				net_conn_kill(n, c);
			break;
		}
		if (r == 0) {
			/* The peer finished sending; anything it left is an
			 * incomplete message. Let queued answers drain first. */
			if (c->out_len > 0)
				net_conn_close_after_send(n, c);
			else
				net_conn_kill(n, c);
			break;
		}
		c->in_len += (size_t)r;
		c->last_active_ms = n->now_ms;
		net_link_tail(&n->lru, &c->lru);
		conn_process(n, c);
		if ((size_t)r < space && conn_pending(c) == 0)
			break; /* drained for now; level-triggered epoll brings us back */
	}
	if (!c->dead && c->io.fd >= 0 && conn_arm(n, c) != 0)
		net_conn_kill(n, c);
}

/* An outbound connection became writable: connected, or failed. Returns 0
 * or the connect error. */
static int conn_connected(struct net *n, struct net_conn *c)
{
	socklen_t len = sizeof(int), llen = sizeof(c->local.ss);
	int err = 0;

	if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err)
		return err;
	c->connecting = false;
	if (getsockname(c->io.fd, (struct sockaddr *)&c->local.ss, &llen) == 0)
		c->local.len = llen;
	/* TCP is up; TLS stays on the deadline list until its handshake ends */
	if (!c->ssl && c->in_len == 0)
		net_link_del(&c->partial);
	return 0;
}

void net_conn_event(struct net *n, struct net_conn *c, uint32_t events)
{
	bool rd_retry = c->rd_wants_out && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP));

	if (c->io.fd < 0 || c->dead)
		return; /* stale event for a record closed earlier in this batch */
	if (c->connecting) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (conn_connected(n, c) != 0) {
			n->st.conn_connect_failed++;
			net_conn_kill(n, c);
			return;
		}
		/* a TLS client with nothing to send still starts its handshake */
		rd_retry |= c->ssl != NULL && c->out_len == 0;
	}
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ||
	    (c->wr_wants_in && (events & (EPOLLIN | EPOLLRDHUP)))) {
		if (conn_flush(n, c) != 0) {
			net_conn_kill(n, c);
			return;
		}
		if (c->close_after_send && c->out_len == 0) {
			net_conn_kill(n, c);
			return;
		}
	}
	if (!c->close_after_send && !c->dead &&
	    (rd_retry || (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))))
		conn_readable(n, c);
}

int net_connect(struct net *n, enum net_transport tp, const struct net_addr *dst,
		const char *host, struct net_msg *way)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP };
	struct net_conn *c;
	socklen_t llen;
	uint64_t now;
	int fd, one = 1, rc, idx;

	if (!n || !dst || !way || tp == NET_UDP || (tp == NET_TLS && (!host || !*host || !n->tls)))
		return EINVAL;
	if (n->st.conn_open >= n->conf.max_connections)
		return EOVERFLOW;
	fd = socket(dst->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, (const struct sockaddr *)&dst->ss, dst->len) != 0 && errno != EINPROGRESS) {
		rc = errno;
		close(fd);
		n->st.conn_connect_failed++;
		return rc;
	}
	c = conn_get(n);
	if (!c) {
		close(fd);
		return ENOMEM;
	}
	c->io.fd = fd;
	c->ops = &tcp_ops;
	c->peer = *dst;
	c->connecting = true;
	llen = sizeof(c->local.ss);
	c->local.len = getsockname(fd, (struct sockaddr *)&c->local.ss, &llen) == 0 ? llen : 0;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.data.ptr = &c->io;
	if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		rc = errno;
		close(fd);
		c->io.fd = -1;
		c->connecting = false;
		c->next_free = n->free;
		n->free = c;
		return rc;
	}
	c->want_out = true;
	now = net_now_ms(); /* may be called outside the loop's callbacks */
	c->last_active_ms = now;
	net_link_tail(&n->lru, &c->lru);
	idx = net_conn_index(n, c); /* bounded by max_connections, checked above */
	/* connecting (and the TLS handshake) must end within header_timeout */
	c->msg_start_ms = now;
	net_link_tail(&n->partial, &c->partial);
	n->st.conn_open++;
	n->st.conn_outbound++;
	if (idx != 0) {
		net_conn_close_now(n, c);
		return idx;
	}
	if (tp == NET_TLS && (rc = net_tls_client_start(n, c, host)) != 0) {
		net_conn_close_now(n, c);
		return rc;
	}
	conn_msg_init(way, c);
	return 0;
}
