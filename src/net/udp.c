/*
 * udp: datagram listeners. Each wakeup drains a bounded number of
 * datagrams (so a UDP flood cannot starve TCP), NET_UDP_VEC per recvmmsg
 * into shared buffers of max_message + 1 bytes each; a datagram that does
 * not fit is still delivered, cut to max_message and marked truncated, so
 * the upper layer can count it and answer 513. A recvmmsg that returns
 * fewer than it could ends the round: the socket is drained (the epoll
 * wait is level-triggered, so what arrives meanwhile wakes the loop), and
 * a light load costs one receive call per datagram, not two.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define NET_UDP_BURST 64 /* datagrams per wakeup */
#define NET_UDP_VEC 16   /* datagrams per recvmmsg */
#define NET_UDP_RCVBUF (4 * 1024 * 1024)

int net_udp_open(struct net *n, struct net_listener *l)
{
	int fd, one = 1, rcv = NET_UDP_RCVBUF, rc = 0;
	socklen_t len = sizeof(l->local.ss);

	fd = socket(l->local.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (l->local.ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
		rc = errno;
		goto out;
	}
	/* A bigger receive buffer rides out bursts; the kernel may clamp it. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	/* Arrival times, so the upper layer sees how far behind it is. */
	(void)setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&l->local.ss, l->local.len) != 0) {
		rc = errno;
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&l->local.ss, &len) == 0)
		l->local.len = len;
	l->io.kind = NET_IO_UDP;
	l->io.fd = fd;
out:
	if (rc != 0)
		close(fd);
	return rc;
}

/* Milliseconds since the kernel queued the datagram of mh (SO_TIMESTAMPNS,
 * wall clock), or 0 when it carries no time or the clock went backwards. */
static uint32_t queued_ms(struct msghdr *mh)
{
	struct timespec now, at;
	int64_t ms;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		memcpy(&at, CMSG_DATA(c), sizeof(at));
		if (clock_gettime(CLOCK_REALTIME, &now) != 0)
			return 0;
		ms = ((int64_t)now.tv_sec - at.tv_sec) * 1000 + (now.tv_nsec - at.tv_nsec) / 1000000;
		return ms <= 0 ? 0 : ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
	}
	return 0;
}

void net_udp_readable(struct net *n, struct net_listener *l)
{
	size_t need = (size_t)n->conf.lim.max_message + 1;
	struct mmsghdr mm[NET_UDP_VEC];
	struct iovec iov[NET_UDP_VEC];
	struct sockaddr_storage from[NET_UDP_VEC];
	/* CMSG_SPACE is a multiple of the header's alignment: every row aligned */
	_Alignas(struct cmsghdr) char ctl[NET_UDP_VEC][CMSG_SPACE(sizeof(struct timespec))];
	int got = 0;

	if (n->udp_cap < need * NET_UDP_VEC) {
		char *b = realloc(n->udp_buf, need * NET_UDP_VEC);

		if (!b)
			return;
		n->udp_buf = b;
		n->udp_cap = need * NET_UDP_VEC;
	}
	/* The headers point at the same buffers for every recvmmsg; before
	 * each one only the lengths it overwrites are set again, and a
	 * net_msg is made only for a datagram that came (filling all
	 * NET_UDP_VEC of them per wakeup cost more than a datagram's own
	 * handling at light load, where a wakeup brings one). */
	for (int i = 0; i < NET_UDP_VEC; i++) {
		iov[i] = (struct iovec){ .iov_base = n->udp_buf + (size_t)i * need, .iov_len = need };
		mm[i].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_iov = &iov[i],
						 .msg_iovlen = 1, .msg_control = ctl[i] };
	}
	while (got < NET_UDP_BURST) {
		int k;

		for (int i = 0; i < NET_UDP_VEC; i++) {
			mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
			mm[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
			mm[i].msg_hdr.msg_flags = 0;
			mm[i].msg_len = 0;
		}
		k = recvmmsg(l->io.fd, mm, NET_UDP_VEC, 0, NULL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN: drained. Anything else (e.g. an ICMP error
			 * reported as ECONNREFUSED) ends this round only. */
			break;
		}
		for (int i = 0; i < k; i++) {
			struct net_msg m = { .tp = NET_UDP, .udp_fd = l->io.fd, .local = l->local };
			socklen_t alen = mm[i].msg_hdr.msg_namelen;

			if (alen > sizeof(m.src.ss))
				alen = sizeof(m.src.ss);
			memcpy(&m.src.ss, &from[i], alen);
			m.src.len = alen;
			m.queued_ms = queued_ms(&mm[i].msg_hdr);
			m.buf = iov[i].iov_base;
			m.len = mm[i].msg_len;
			if (m.len > n->conf.lim.max_message || (mm[i].msg_hdr.msg_flags & MSG_TRUNC)) {
				m.truncated = true;
				if (m.len > n->conf.lim.max_message)
					m.len = n->conf.lim.max_message;
				n->st.udp_truncated++;
			}
			n->st.udp_in++;
			n->recv(n->arg, &m);
		}
		got += k;
		if (k < NET_UDP_VEC)
			break; /* drained */
	}
}

int net_udp_send(struct net *n, int fd, const struct net_addr *dst, const void *buf, size_t len)
{
	ssize_t r;

	(void)n;
	do {
		r = sendto(fd, buf, len, MSG_NOSIGNAL, (const struct sockaddr *)&dst->ss, dst->len);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno;
	return (size_t)r == len ? 0 : EMSGSIZE;
}
