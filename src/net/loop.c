/*
 * loop: the epoll loop, listeners, deadlines and the public entry points of
 * net.h. One thread; every socket is non-blocking and level-triggered.
 *
 * Deadlines need no per-connection timer: connections sit on an LRU list
 * ordered by their last read, and those holding part of a message (or, for
 * TLS, still in the handshake) sit on a second list ordered by when that
 * message (or the connection) started. Both lists are in time
 * order by construction, so the expiry check looks at their heads only and
 * epoll_wait sleeps until the nearest deadline (at most 1 s).
 *
 * Connection lifetime: a struct net_conn is never freed while the loop
 * lives; a closed record goes to a free list and is reused, with its
 * generation counter bumped. A net_msg carries the generation it was made
 * with, so net_send on a connection that was closed (or reused) since is a
 * clean EPIPE rather than a use after free. Closing is also deferred while a
 * callback runs (net_conn_kill + net_reap), so msg->conn stays a live
 * connection for the whole callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define NET_EVENTS 64
#define NET_MAX_WAIT_MS 1000

static void watch_reap(struct net *n);

uint64_t net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

size_t net_out_cap(const struct net *n)
{
	size_t cap = (size_t)n->conf.lim.max_message * 4;

	return cap < 65536 ? 65536 : cap;
}

int net_new(struct net **np, const struct net_conf *conf, net_recv_fn *recv,
	    net_stream_error_fn *stream_error, void *arg)
{
	struct net *n;
	int rc = 0;

	if (!np || !conf || !recv || conf->lim.max_message == 0)
		return EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return ENOMEM;
	n->conf = *conf;
	n->recv = recv;
	n->stream_error = stream_error;
	n->arg = arg;
	n->spare_fd = -1;
	net_link_init(&n->lru);
	net_link_init(&n->partial);
	if ((rc = htab_init(&n->by_src, conf->max_connections ? conf->max_connections : 1)) != 0) {
		free(n);
		return rc;
	}
	n->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (n->epfd < 0) {
		rc = errno;
		htab_fini(&n->by_src);
		free(n);
		goto out;
	}
	n->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	n->now_ms = net_now_ms();
	*np = n;
out:
	return rc;
}

static void listener_close(struct net_listener *l)
{
	if (l->io.fd >= 0)
		close(l->io.fd);
	free(l);
}

void net_free(struct net **np)
{
	struct net *n;
	size_t i;

	if (!np || !*np)
		return;
	n = *np;
	net_conn_free_all(n);
	net_tls_free(n);
	while (n->watches) {
		struct net_watch *w = n->watches;
		net_watch_del(n, &w);
	}
	watch_reap(n);
	for (i = 0; i < n->nlis; i++)
		listener_close(n->lis[i]);
	if (n->spare_fd >= 0)
		close(n->spare_fd);
	close(n->epfd);
	free(n->udp_buf);
	htab_fini(&n->by_src);
	free(n);
	*np = NULL;
}

void net_set_conf(struct net *n, const struct net_conf *conf)
{
	if (!conf || conf->lim.max_message == 0)
		return;
	n->conf = *conf;
	htab_set_max(&n->by_src, conf->max_connections ? conf->max_connections : 1);
}

int net_listen(struct net *n, const struct net_listen_spec *specs, size_t count, char *errbuf,
	       size_t errlen)
{
	size_t i, first = n->nlis;
	char where[80];
	int rc = 0;

	if (errlen)
		errbuf[0] = '\0';
	for (i = 0; i < count; i++) {
		struct net_listener *l;
		struct epoll_event ev = { .events = EPOLLIN };

		net_addr_fmt(where, sizeof(where), specs[i].tp, &specs[i].addr);
		if (specs[i].tp == NET_TLS && !n->tls) {
			rc = EINVAL;
			snprintf(errbuf, errlen, "%s: no TLS certificate loaded", where);
			goto fail;
		}
		if (n->nlis >= ARRAY_SIZE(n->lis)) {
			rc = EOVERFLOW;
			snprintf(errbuf, errlen, "%s: too many listeners", where);
			goto fail;
		}
		l = calloc(1, sizeof(*l));
		if (!l) {
			rc = ENOMEM;
			snprintf(errbuf, errlen, "%s: out of memory", where);
			goto fail;
		}
		l->tp = specs[i].tp;
		l->local = specs[i].addr;
		l->io.fd = -1;
		rc = l->tp == NET_UDP ? net_udp_open(n, l) : net_tcp_open(n, l);
		if (rc == 0) {
			ev.data.ptr = &l->io;
			if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, l->io.fd, &ev) != 0)
				rc = errno;
		}
		if (rc != 0) {
			snprintf(errbuf, errlen, "%s: %s", where, strerror(rc));
			listener_close(l);
			goto fail;
		}
		n->lis[n->nlis++] = l;
	}
	return 0;
fail:
	while (n->nlis > first)
		listener_close(n->lis[--n->nlis]);
	return rc;
}

int net_conn_events(struct net *n, struct net_conn *c, bool out)
{
	struct epoll_event ev = { .events = 0 };

	if (!c->close_after_send || c->wr_wants_in)
		ev.events |= EPOLLIN | EPOLLRDHUP;
	if (out)
		ev.events |= EPOLLOUT;
	ev.data.ptr = &c->io;
	if (epoll_ctl(n->epfd, EPOLL_CTL_MOD, c->io.fd, &ev) != 0)
		return errno;
	c->want_out = out;
	return 0;
}

void net_conn_kill(struct net *n, struct net_conn *c)
{
	if (c->io.fd < 0 || c->dead)
		return;
	c->dead = true;
	c->next_free = n->reap;
	n->reap = c;
}

void net_reap(struct net *n)
{
	struct net_conn *c;

	while ((c = n->reap)) {
		n->reap = c->next_free;
		c->next_free = NULL;
		net_conn_close_now(n, c);
	}
}

#define NET_SLOW_SCAN_MS 250

/* min_rate: a connection whose pending message, a second or more after its
 * first byte, has averaged fewer bytes per second than min_rate is a slow
 * sender (slowloris) and is closed without waiting for header_timeout. */
static void slow_scan(struct net *n)
{
	struct net_link *l = n->partial.next;

	while (l != &n->partial) {
		struct net_conn *c = net_container(l, struct net_conn, partial);
		uint64_t el = n->now_ms - c->msg_start_ms;

		l = l->next;
		if (el < 1000)
			break; /* the list is in start order: the rest are younger */
		if (c->connecting || (c->ssl && !c->tls_done))
			continue; /* connecting or a TLS handshake: header_timeout bounds it */
		if ((uint64_t)c->in_len * 1000 < (uint64_t)n->conf.min_rate * el) {
			n->st.conn_slow_closed++;
			net_conn_close_now(n, c);
		}
	}
}

/* Close connections whose idle or header deadline has passed, and return
 * the milliseconds until the next deadline (capped). */
static int run_deadlines(struct net *n)
{
	uint64_t wait = NET_MAX_WAIT_MS, due;
	struct net_conn *c;

	net_reap(n); /* nothing scheduled may be closed (and reused) twice */
	if (n->conf.idle_timeout_ms) {
		while (net_link_linked(&n->lru)) {
			c = net_container(n->lru.next, struct net_conn, lru);
			due = c->last_active_ms + n->conf.idle_timeout_ms;
			if (due > n->now_ms) {
				if (due - n->now_ms < wait)
					wait = due - n->now_ms;
				break;
			}
			n->st.conn_idle_closed++;
			net_conn_close_now(n, c);
		}
	}
	if (n->conf.min_rate && net_link_linked(&n->partial)) {
		if (n->now_ms >= n->next_slow_scan_ms) {
			slow_scan(n);
			n->next_slow_scan_ms = n->now_ms + NET_SLOW_SCAN_MS;
		}
		if (net_link_linked(&n->partial) && n->next_slow_scan_ms - n->now_ms < wait)
			wait = n->next_slow_scan_ms - n->now_ms;
	}
	if (n->conf.header_timeout_ms) {
		while (net_link_linked(&n->partial)) {
			c = net_container(n->partial.next, struct net_conn, partial);
			due = c->msg_start_ms + n->conf.header_timeout_ms;
			if (due > n->now_ms) {
				if (due - n->now_ms < wait)
					wait = due - n->now_ms;
				break;
			}
			if (c->connecting)
				n->st.conn_connect_failed++;
			else if (c->ssl && !c->tls_done)
				n->st.tls_handshake_timeout++;
			else
				n->st.conn_header_timeout++;
			net_conn_close_now(n, c);
		}
	}
	return (int)wait;
}

/* ---- watches ---- */

struct net_watch {
	struct net_io io;               /* first: epoll data points here */
	struct net_watch *next;         /* n->watches or n->watch_reap */
	net_watch_fn *fn;
	void *arg;
	uint64_t due_ms;                /* 0: no deadline */
	bool dead;
};

const uint32_t NET_LAG_BOUNDS_MS[NET_LAG_BUCKETS - 1] = { 1, 5, 10, 25, 50, 100, 250, 1000 };

int net_watch_add(struct net *n, struct net_watch **wp, int fd, bool out, net_watch_fn *fn,
		  void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0) };
	struct net_watch *w;

	if (!wp || fd < 0 || !fn)
		return EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return ENOMEM;
	w->io.kind = NET_IO_WATCH;
	w->io.fd = fd;
	w->fn = fn;
	w->arg = arg;
	ev.data.ptr = &w->io;
	if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int err = errno;
		free(w);
		return err;
	}
	w->next = n->watches;
	n->watches = w;
	*wp = w;
	return 0;
}

int net_watch_events(struct net *n, struct net_watch *w, bool in, bool out)
{
	struct epoll_event ev = { .events = (in ? EPOLLIN : 0) | (out ? EPOLLOUT : 0) };

	ev.data.ptr = &w->io;
	return epoll_ctl(n->epfd, EPOLL_CTL_MOD, w->io.fd, &ev) == 0 ? 0 : errno;
}

void net_watch_deadline(struct net *n, struct net_watch *w, uint64_t due_ms)
{
	(void)n;
	w->due_ms = due_ms;
}

void net_watch_del(struct net *n, struct net_watch **wp)
{
	struct net_watch *w, **pp;

	if (!wp || !*wp)
		return;
	w = *wp;
	*wp = NULL;
	for (pp = &n->watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	epoll_ctl(n->epfd, EPOLL_CTL_DEL, w->io.fd, NULL);
	w->dead = true;
	w->next = n->watch_reap;
	n->watch_reap = w;
}

static void watch_reap(struct net *n)
{
	struct net_watch *w;

	while ((w = n->watch_reap)) {
		n->watch_reap = w->next;
		free(w);
	}
}

/* Fire the watches whose deadline has passed; return the ms to the next one. */
static int run_watch_deadlines(struct net *n, int wait)
{
	struct net_watch *w, *next;

	for (w = n->watches; w; w = next) {
		next = w->next;
		if (!w->due_ms)
			continue;
		if (w->due_ms <= n->now_ms) {
			w->due_ms = 0;
			w->fn(w->arg, 0);
			/* fn may have deleted any watch: start over next time round */
			return 0;
		}
		if (w->due_ms - n->now_ms < (uint64_t)wait)
			wait = (int)(w->due_ms - n->now_ms);
	}
	return wait;
}

uint64_t net_now(const struct net *n)
{
	return n->now_ms;
}

void net_lag(const struct net *n, struct net_lag *out)
{
	*out = n->lag;
}

static void lag_count(struct net *n, uint64_t lag_ms)
{
	size_t i = 0;

	while (i < NET_LAG_BUCKETS - 1 && lag_ms > NET_LAG_BOUNDS_MS[i])
		i++;
	n->lag.bucket[i]++;
	n->lag.sum_ms += lag_ms;
	n->lag.count++;
}

void net_set_tick(struct net *n, net_tick_fn *fn, void *arg, uint32_t interval_ms)
{
	n->tick = fn;
	n->tick_arg = arg;
	n->tick_ms = interval_ms ? interval_ms : 1;
	n->next_tick_ms = net_now_ms() + n->tick_ms;
}

void net_set_round(struct net *n, net_round_fn *fn, void *arg)
{
	n->round = fn;
	n->round_arg = arg;
}

/* The upper layer's work after a round of events; it may shorten the wait. */
static int run_round(struct net *n, int wait)
{
	int w;

	if (!n->round)
		return wait;
	w = n->round(n->round_arg, n->now_ms);
	net_reap(n);
	if (w >= 0 && (wait < 0 || w < wait))
		wait = w;
	return wait;
}

/* Run the tick when due; returns the milliseconds until the next one. */
static int run_tick(struct net *n, int wait)
{
	if (!n->tick)
		return wait;
	if (n->now_ms >= n->next_tick_ms) {
		lag_count(n, n->now_ms - n->next_tick_ms);
		n->tick(n->tick_arg, n->now_ms);
		net_reap(n);
		n->next_tick_ms = n->now_ms + n->tick_ms;
	}
	if (n->next_tick_ms - n->now_ms < (uint64_t)wait)
		wait = (int)(n->next_tick_ms - n->now_ms);
	return wait;
}

int net_run(struct net *n, volatile sig_atomic_t *stop, volatile sig_atomic_t *wake)
{
	struct epoll_event evs[NET_EVENTS];
	int i, k, timeout, rc = 0;

	for (;;) {
		if ((stop && *stop) || (wake && *wake))
			break;
		n->now_ms = net_now_ms();
		if (n->tls)
			net_tls_tick(n);
		timeout = run_tick(n, run_deadlines(n));
		timeout = run_watch_deadlines(n, timeout);
		timeout = run_round(n, timeout);
		watch_reap(n);
		k = epoll_wait(n->epfd, evs, NET_EVENTS, timeout);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			rc = errno;
			break;
		}
		n->now_ms = net_now_ms();
		for (i = 0; i < k; i++) {
			struct net_io *io = evs[i].data.ptr;

			switch (io->kind) {
			case NET_IO_UDP:
				net_udp_readable(n, (struct net_listener *)(void *)io);
				break;
			case NET_IO_TCP_LISTEN:
				net_tcp_acceptable(n, (struct net_listener *)(void *)io);
				break;
			case NET_IO_CONN:
				net_conn_event(n, (struct net_conn *)(void *)io, evs[i].events);
				break;
			case NET_IO_WATCH: {
				struct net_watch *w = (struct net_watch *)(void *)io;
				if (!w->dead)
					w->fn(w->arg, evs[i].events);
				break;
			}
			}
			net_reap(n);
		}
		watch_reap(n);
	}
	return rc;
}

int net_send(struct net *n, const struct net_msg *to, const struct net_addr *dst,
	     const void *buf, size_t len)
{
	int rc;

	if (!to) {
		rc = EINVAL;
	} else if (to->conn) {
		if (!net_msg_conn_alive(to))
			rc = EPIPE;
		else
			rc = net_conn_send(n, to->conn, buf, len);
	} else if (to->udp_fd >= 0) {
		rc = net_udp_send(n, to->udp_fd, dst ? dst : &to->src, buf, len);
	} else {
		rc = EINVAL;
	}
	if (rc != 0)
		n->st.send_errors++;
	return rc;
}

void net_conn_close_after_send(struct net *n, struct net_conn *c)
{
	if (!c || c->io.fd < 0 || c->dead)
		return;
	c->close_after_send = true;
	net_link_del(&c->partial);
	if (c->out_len == 0)
		net_conn_kill(n, c);
	else
		net_conn_events(n, c, true);
}

bool net_msg_conn_alive(const struct net_msg *m)
{
	const struct net_conn *c = m->conn;

	return c && c->io.fd >= 0 && !c->dead && c->gen == m->conn_gen;
}

void net_stats(const struct net *n, struct net_stats *out)
{
	*out = n->st;
}

int net_udp_fd(const struct net *n, int family)
{
	for (size_t i = 0; i < n->nlis; i++)
		if (n->lis[i]->tp == NET_UDP && n->lis[i]->local.ss.ss_family == family)
			return n->lis[i]->io.fd;
	return -1;
}
