/*
 * net internals shared by loop.c, udp.c, tcp.c and tls.c: the loop object,
 * the listener and connection records, the intrusive lists that carry the
 * deadlines, and the operations table a stream transport fills in (TCP,
 * TLS).
 */
#ifndef BASTION_NET_INTERNAL_H
#define BASTION_NET_INTERNAL_H

#include <sys/types.h>

#include "../base/hash.h"
#include "net.h"

/* What an epoll event points at: the first member of a listener or conn. */
enum net_io_kind { NET_IO_UDP = 1, NET_IO_TCP_LISTEN, NET_IO_CONN, NET_IO_WATCH };

struct net_io {
	enum net_io_kind kind;
	int fd;
};

/* Intrusive doubly linked list; a detached node points at itself. */
struct net_link {
	struct net_link *prev, *next;
};

struct net_listener {
	struct net_io io;
	enum net_transport tp;
	struct net_addr local;
};

/*
 * A stream transport: read and write return a byte count (read: 0 at the
 * end of the stream), or -1 with errno (EAGAIN when the socket is not
 * ready); close releases the transport state (the loop closes the fd).
 * A transport with its own framing (TLS) may need the opposite readiness:
 * a read that must first write sets c->rd_wants_out, a write that must
 * first read sets c->wr_wants_in, and the loop retries on that event.
 * pending, when set, tells how many bytes a read would return without
 * touching the socket (TLS records already decrypted).
 */
struct net_stream_ops {
	enum net_transport tp;
	ssize_t (*read)(struct net *n, struct net_conn *c, void *buf, size_t len);
	ssize_t (*write)(struct net *n, struct net_conn *c, const void *buf, size_t len);
	void (*close)(struct net *n, struct net_conn *c);
	size_t (*pending)(const struct net_conn *c);
};

struct ssl_st;  /* OpenSSL's SSL */
struct x509_st; /* OpenSSL's X509 */

struct net_conn {
	struct net_io io;               /* io.fd is -1 while the record is free */
	const struct net_stream_ops *ops;
	uint32_t gen;                   /* bumped on every close; see net_msg.conn_gen */
	struct net_addr peer, local;

	struct net_link lru;            /* n->lru, by last read */
	struct net_link partial;        /* n->partial, by start of the pending message */
	struct htab_node bysrc;         /* n->by_src, under the hash of the peer's IP */
	bool indexed;                   /* in n->by_src */
	struct net_conn *next_free;     /* n->free, or n->reap */
	uint64_t last_active_ms;
	uint64_t msg_start_ms;

	char *in;                       /* receive buffer, at most lim.max_message */
	size_t in_len, in_cap;
	char *out;                      /* queued output, at most net_out_cap() */
	size_t out_off, out_len, out_cap;
	unsigned crlf_run;              /* CRLFs seen since the last message (ping) */

	bool want_out;                  /* EPOLLOUT armed */
	bool close_after_send;          /* close when out drains; reads stopped */
	bool dead;                      /* on n->reap: close after the current event */

	struct ssl_st *ssl;             /* TLS state, or NULL */
	bool tls_done;                  /* TLS handshake finished */
	bool rd_wants_out, wr_wants_in; /* see struct net_stream_ops */
	bool connecting;                /* outbound: connect() in progress */
	char *peer_name;                /* outbound TLS: the name the peer must have */
};

struct net_tls;                 /* tls.c: the server context and ticket keys */

struct net {
	struct net_conf conf;
	net_recv_fn *recv;
	net_stream_error_fn *stream_error;
	void *arg;
	int epfd;
	int spare_fd;                   /* released to accept-and-close on EMFILE */
	uint64_t now_ms;

	struct net_listener *lis[NET_MAX_LISTEN * 2];
	size_t nlis;

	char *udp_buf;
	size_t udp_cap;

	struct net_link lru, partial;
	/* open connections by peer IP (base/hash: keyed, since a source is the
	 * peer's choice; bounded by max_connections, buckets grown with it) */
	struct htab by_src;
	uint64_t next_slow_scan_ms;     /* min_rate is checked at most every 250 ms */
	struct net_conn *free, *reap;
	struct net_stats st;
	struct net_tls_refusal last_refusal; /* the latest tls_peer_refused */

	struct net_tls *tls;            /* TLS context for new connections, or NULL */

	struct net_watch *watches;      /* net_watch_add, in a list */
	struct net_watch *watch_reap;   /* deleted, freed after the batch */
	struct net_lag lag;

	net_tick_fn *tick;              /* periodic work of the upper layer */
	void *tick_arg;
	uint32_t tick_ms;
	uint64_t next_tick_ms;
	net_round_fn *round;            /* after each round of events */
	void *round_arg;
};

uint64_t net_now_ms(void);

static inline void net_link_init(struct net_link *l)
{
	l->prev = l->next = l;
}

static inline bool net_link_linked(const struct net_link *l)
{
	return l->next != l;
}

static inline void net_link_del(struct net_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	net_link_init(l);
}

static inline void net_link_tail(struct net_link *head, struct net_link *l)
{
	net_link_del(l);
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

#define net_container(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Bound of a connection's output queue: 4 * max_message, at least 64 KiB. */
size_t net_out_cap(const struct net *n);

/* Arm or disarm EPOLLOUT for c. */
int net_conn_events(struct net *n, struct net_conn *c, bool out);
/* Schedule c for closing after the current event (safe inside callbacks). */
void net_conn_kill(struct net *n, struct net_conn *c);
/* Close the connections scheduled by net_conn_kill. */
void net_reap(struct net *n);

/* Connections open from a's IP address (the port is ignored). */
uint32_t net_conns_from(const struct net *n, const struct net_addr *a);
/* Index c under its peer's IP. Returns 0, or EOVERFLOW when the index holds
 * max_connections already (the caller refuses c). */
int net_conn_index(struct net *n, struct net_conn *c);
/* Take c out of the index (nothing when it is not in). */
void net_conn_unindex(struct net *n, struct net_conn *c);

/* udp.c */
int net_udp_open(struct net *n, struct net_listener *l);
void net_udp_readable(struct net *n, struct net_listener *l);
int net_udp_send(struct net *n, int fd, const struct net_addr *dst, const void *buf, size_t len);

/* tcp.c */
int net_tcp_open(struct net *n, struct net_listener *l);
void net_tcp_acceptable(struct net *n, struct net_listener *l);
void net_conn_event(struct net *n, struct net_conn *c, uint32_t events);
int net_conn_send(struct net *n, struct net_conn *c, const void *buf, size_t len);
/* Close now: unregister, free buffers, bump gen, put on the free list. */
void net_conn_close_now(struct net *n, struct net_conn *c);
void net_conn_free_all(struct net *n);

/* tls.c */
/* Start TLS on a connection just accepted (sets c->ops and c->ssl; the
 * handshake deadline runs from now). Returns 0, EINVAL (no context loaded)
 * or ENOMEM. */
int net_tls_conn_start(struct net *n, struct net_conn *c);
/* Start TLS as a client on an outbound connection to `host` (sets c->ops,
 * c->ssl, c->peer_name). Returns 0, EINVAL (no context) or ENOMEM. */
int net_tls_client_start(struct net *n, struct net_conn *c, const char *host);
/* Does certificate x name host as RFC 5922 7.1 requires (see net_connect)? */
bool net_tls_name_matches(const struct x509_st *x, const char *host);
/* Rotate the session ticket keys when due; called by the loop. */
void net_tls_tick(struct net *n);
/* Free the context and the ticket keys (after every connection closed). */
void net_tls_free(struct net *n);

/* Session ticket keys: a ring of the current key and the one before it.
 * Exposed for the unit tests. */
#define NET_TLS_TICKET_NAME_LEN 16
struct net_tls_ticket_key {
	unsigned char name[NET_TLS_TICKET_NAME_LEN];
	unsigned char aes[32], hmac[32];
	bool set;
};
struct net_tls_keys {
	struct net_tls_ticket_key cur, prev;
	uint64_t next_rotate_ms;
	uint32_t period_ms;
};
/* Make a fresh current key and forget every older one (renew = true), or
 * move current to previous first (renew = false: tickets of the previous
 * key still resume, and are re-issued). Returns 0 or EIO (RAND_bytes). */
int net_tls_keys_rotate(struct net_tls_keys *k, uint64_t now_ms, bool renew);
/* The key with this name: 1 the current one, 2 the previous one, 0 none. */
int net_tls_keys_find(const struct net_tls_keys *k, const unsigned char *name,
		      const struct net_tls_ticket_key **out);
/* The names of a certificate (used by net_msg_peer_cert). x is an X509 *. */
void net_tls_cert_names(const struct x509_st *x, struct net_peer_cert *out);

#endif
