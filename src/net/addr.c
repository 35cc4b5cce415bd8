/*
 * addr: socket addresses as text. Formatting for logs and Via/received=,
 * the parser of the listen list from the configuration, and where a UDP
 * response goes (net_reply_addr). Only numeric addresses are accepted
 * (inet_pton): resolving names at start-up would make the listen set depend
 * on DNS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>

#include "internal.h"

const char *net_transport_name(enum net_transport tp)
{
	switch (tp) {
	case NET_UDP:
		return "udp";
	case NET_TCP:
		return "tcp";
	case NET_TLS:
		return "tls";
	}
	return "?";
}

/* Dotted quad of a (network order) into host, which has room for 16 bytes:
 * what inet_ntop writes, without its sprintf (a few thousand instructions,
 * and every forwarded request and answer formats addresses). */
static void ipv4_text(const struct in_addr *in, char host[static 16])
{
	const unsigned char *b = (const unsigned char *)&in->s_addr;
	char *p = host;

	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
}

void net_addr_host(const struct net_addr *a, char *host, size_t cap)
{
	const void *src = NULL;

	if (cap == 0)
		return;
	host[0] = '\0';
	if (a->ss.ss_family == AF_INET && cap >= 16) {
		ipv4_text(&((const struct sockaddr_in *)&a->ss)->sin_addr, host);
		return;
	}
	if (a->ss.ss_family == AF_INET)
		src = &((const struct sockaddr_in *)&a->ss)->sin_addr;
	else if (a->ss.ss_family == AF_INET6)
		src = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
	if (!src || !inet_ntop(a->ss.ss_family, src, host, (socklen_t)cap))
		host[0] = '\0';
}

uint16_t net_addr_port(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

void net_reply_addr(struct net_addr *dst, const struct net_addr *src, const struct sip_via *via)
{
	uint16_t port = via->has_rport ? net_addr_port(src) : (via->has_port ? via->port : 5060);

	*dst = *src;
	if (dst->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&dst->ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&dst->ss)->sin_port = htons(port);
}

/* Append s to buf[*o..cap-1), truncating; buf stays NUL-terminated. */
static void put(char *buf, size_t cap, size_t *o, const char *s, size_t n)
{
	if (*o + n >= cap)
		n = cap - 1 - *o;
	memcpy(buf + *o, s, n);
	*o += n;
	buf[*o] = '\0';
}

/* "tp:host:port" ("tp:[v6]:port"), written piece by piece: snprintf cost
 * more than a thousand instructions, and every call formats a few. */
char *net_addr_fmt(char *buf, size_t cap, enum net_transport tp, const struct net_addr *a)
{
	char host[INET6_ADDRSTRLEN], port[6];
	const char *name = net_transport_name(tp);
	bool v6 = a->ss.ss_family == AF_INET6;
	unsigned v = net_addr_port(a);
	size_t o = 0, np = sizeof(port);

	if (cap == 0)
		return buf;
	buf[0] = '\0';
	net_addr_host(a, host, sizeof(host));
	do
		port[--np] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	put(buf, cap, &o, name, strlen(name));
	put(buf, cap, &o, v6 ? ":[" : ":", v6 ? 2 : 1);
	put(buf, cap, &o, host, strlen(host));
	put(buf, cap, &o, v6 ? "]:" : ":", v6 ? 2 : 1);
	put(buf, cap, &o, port + np, sizeof(port) - np);
	return buf;
}

static bool addr_eq(const struct net_addr *a, const struct net_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* Parse one element "tp:host[:port]" (p, len) into *spec; on failure write
 * the reason into why. */
static int parse_one(struct net_listen_spec *spec, const char *p, size_t len, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *h, *end = p + len, *port_s = NULL, *colon;
	size_t hlen;
	uint32_t port;
	bool v6 = false;
	int rc = EINVAL;

	memset(spec, 0, sizeof(*spec));
	colon = memchr(p, ':', len);
	if (!colon) {
		*why = "expected transport:address[:port]";
		goto out;
	}
	if (slice_caseeq_cstr(slice_make(p, (size_t)(colon - p)), "udp")) {
		spec->tp = NET_UDP;
		port = 5060;
	} else if (slice_caseeq_cstr(slice_make(p, (size_t)(colon - p)), "tcp")) {
		spec->tp = NET_TCP;
		port = 5060;
	} else if (slice_caseeq_cstr(slice_make(p, (size_t)(colon - p)), "tls")) {
		spec->tp = NET_TLS;
		port = 5061;
	} else {
		*why = "unknown transport (udp, tcp or tls)";
		goto out;
	}
	h = colon + 1;
	if (h < end && *h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (!rb) {
			*why = "missing ']' after IPv6 address";
			goto out;
		}
		v6 = true;
		hlen = (size_t)(rb - h - 1);
		h++;
		if (rb + 1 < end) {
			if (rb[1] != ':') {
				*why = "expected ':' after ']'";
				goto out;
			}
			port_s = rb + 2;
		}
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
			*why = "IPv6 address needs brackets";
			goto out;
		}
		hlen = colon ? (size_t)(colon - h) : (size_t)(end - h);
		if (colon)
			port_s = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*why = v6 ? "bad IPv6 address" : "bad IPv4 address";
		goto out;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (port_s) {
		if (slice_to_u32(slice_make(port_s, (size_t)(end - port_s)), &port) != 0 ||
		    port == 0 || port > 65535) {
			*why = "bad port (1..65535)";
			goto out;
		}
	}
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&spec->addr.ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			*why = "bad IPv6 address";
			goto out;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		spec->addr.len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&spec->addr.ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			*why = "bad IPv4 address";
			goto out;
		}
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		spec->addr.len = sizeof(*s4);
	}
	rc = 0;
out:
	return rc;
}

bool net_listen_has(const struct net_listen_spec *specs, size_t n, enum net_transport tp)
{
	for (size_t i = 0; i < n; i++)
		if (specs[i].tp == tp)
			return true;
	return false;
}

int net_listen_parse(struct net_listen_spec *out, size_t cap, size_t *n, const char *list,
		     char *errbuf, size_t errlen)
{
	const char *p = list, *comma, *why = NULL;
	size_t count = 0, len, i;
	struct net_listen_spec spec;
	int rc = EINVAL;

	if (errlen)
		errbuf[0] = '\0';
	if (!list || !*list) {
		snprintf(errbuf, errlen, "empty listen list");
		goto out;
	}
	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0) {
			snprintf(errbuf, errlen, "empty element in listen list");
			goto out;
		}
		if (parse_one(&spec, p, len, &why) != 0) {
			snprintf(errbuf, errlen, "\"%.*s\": %s", (int)(len > 200 ? 200 : len), p,
				 why);
			goto out;
		}
		for (i = 0; i < count; i++) {
			if (out[i].tp == spec.tp && addr_eq(&out[i].addr, &spec.addr)) {
				snprintf(errbuf, errlen, "\"%.*s\": duplicate",
					 (int)(len > 200 ? 200 : len), p);
				goto out;
			}
		}
		if (count >= cap) {
			snprintf(errbuf, errlen, "\"%.*s\": more than %zu listen addresses",
				 (int)(len > 200 ? 200 : len), p, cap);
			goto out;
		}
		out[count++] = spec;
		if (!comma)
			break;
		p = comma + 1;
	}
	*n = count;
	rc = 0;
out:
	return rc;
}

/* ---- connections by source address (tcp.c's max_per_source) ---- */

static bool same_ip(const struct net_addr *a, const struct net_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
	if (a->ss.ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
			      &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, 16) == 0;
	return false;
}

/* The index's SipHash of the IP bytes (base/hash): a source address is the
 * sender's choice, so where it lands must not be predictable. */
static uint64_t src_hash(const struct net *n, const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return htab_hash(&n->by_src,
				 &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
	return htab_hash(&n->by_src, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
}

/* Walks only the connections whose IP has the same 64-bit hash (at most
 * max_per_source of them, and those of a rare full collision), so the cost
 * does not grow with the connections held. */
uint32_t net_conns_from(const struct net *n, const struct net_addr *a)
{
	uint64_t h = src_hash(n, a);
	uint32_t count = 0;

	for (const struct htab_node *x = htab_find(&n->by_src, h); x; x = htab_next(&n->by_src, x))
		count += same_ip(&net_container(x, struct net_conn, bysrc)->peer, a);
	return count;
}

int net_conn_index(struct net *n, struct net_conn *c)
{
	int rc = htab_insert(&n->by_src, &c->bysrc, src_hash(n, &c->peer));

	c->indexed = rc == 0;
	return rc;
}

void net_conn_unindex(struct net *n, struct net_conn *c)
{
	if (c->indexed)
		htab_remove(&n->by_src, &c->bysrc);
	c->indexed = false;
}

void net_msg_from_text(struct net_msg *way, const char *text, const char *local)
{
	struct net_listen_spec spec;
	size_t n;
	char err[128];

	memset(way, 0, sizeof(*way));
	way->udp_fd = -1;
	if (net_listen_parse(&spec, 1, &n, text, err, sizeof(err)) == 0 && n == 1) {
		way->tp = spec.tp;
		way->src = spec.addr;
	}
	if (local && local[0] && net_listen_parse(&spec, 1, &n, local, err, sizeof(err)) == 0 &&
	    n == 1)
		way->local = spec.addr;
}
