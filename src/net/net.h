/*
 * net: sockets and the event loop. UDP, TCP and TLS listeners on IPv4 and
 * IPv6, a bounded connection table, stream framing by Content-Length
 * (through sip_frame), idle and header-read deadlines, bounded buffers.
 *
 * One thread runs the loop (epoll). Every complete message, datagram or framed
 * stream message, is handed to the upper layer's net_recv_fn together with
 * where it came from; the upper layer answers with net_send(). The stream
 * transports (TCP, TLS) sit behind one operations table inside net/, so the
 * layers above see a TLS message exactly as a TCP one, with tp == NET_TLS.
 *
 * TLS (OpenSSL 3, tls.c): TLS 1.2 and 1.3 only, forward-secret AEAD suites
 * only, no compression, no renegotiation, session tickets under keys that
 * rotate; the handshake is non-blocking, driven by the loop, and must finish
 * within header_timeout_ms. A process that uses TLS must ignore SIGPIPE
 * (OpenSSL writes to the socket with write(2)).
 */
#ifndef BASTION_NET_H
#define BASTION_NET_H

#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../base/base.h"
#include "../sip/sip.h"

enum net_transport { NET_UDP = 0, NET_TCP, NET_TLS };

const char *net_transport_name(enum net_transport tp); /* "udp", "tcp", "tls" */

/* An IPv4 or IPv6 socket address: 28 bytes where sockaddr_storage takes
 * 128, and every transaction, call, dialog and binding keeps several (a
 * server transaction was 40% addresses). ss_family reads the family of
 * whichever member was written: it comes first in each. */
union net_sockaddr {
	sa_family_t ss_family;
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

struct net_addr {
	union net_sockaddr ss;
	socklen_t len;
};

/* Numeric host and port of a, e.g. "127.0.0.1" / "::1", without brackets.
 * host must hold INET6_ADDRSTRLEN bytes. */
void net_addr_host(const struct net_addr *a, char *host, size_t cap);
uint16_t net_addr_port(const struct net_addr *a);
/*
 * Where a UDP response to a request from src, whose top Via is via, goes
 * (RFC 3261 18.2.2 with RFC 3581), into *dst: always src's address (never
 * maddr or the sent-by host, which would let a forged Via aim our replies at
 * a third party); src's port when the client asked with rport, else the
 * sent-by port, else 5060. Pure.
 */
void net_reply_addr(struct net_addr *dst, const struct net_addr *src, const struct sip_via *via);
/* "udp:127.0.0.1:5060" / "tcp:[::1]:5060" into buf. */
char *net_addr_fmt(char *buf, size_t cap, enum net_transport tp, const struct net_addr *a);

struct net_listen_spec {
	enum net_transport tp;
	struct net_addr addr;
};

#define NET_MAX_LISTEN 16

/*
 * Parse a listen list like "udp:127.0.0.1:5060,tcp:127.0.0.1:5060,udp:[::1]:5060"
 * (numeric addresses only; the port may be omitted and defaults to 5060).
 * Returns 0 and sets *n, or EINVAL with a message naming the bad element in
 * errbuf. Duplicates and more than cap elements are refused.
 */
int net_listen_parse(struct net_listen_spec *out, size_t cap, size_t *n, const char *list,
		     char *errbuf, size_t errlen);
/* Does any of the n listeners in specs use transport tp? Pure. */
bool net_listen_has(const struct net_listen_spec *specs, size_t n, enum net_transport tp);

struct net_conf {
	struct sip_limits lim;         /* stream framing and buffer sizes */
	uint32_t max_connections;      /* TCP/TLS connections, all sources */
	uint32_t idle_timeout_ms;      /* close a connection silent this long */
	uint32_t header_timeout_ms;    /* a started message must complete in this time */
	uint32_t max_per_source;       /* connections from one IP address; 0: no cap */
	uint32_t min_rate;             /* bytes/s a started message must average; 0: off */
};

struct net_conn;
struct net;

/* One received message. buf/len is exactly one framed message (stream) or the
 * datagram (UDP); it stays valid only during the callback. */
struct net_msg {
	const char *buf;
	size_t len;
	enum net_transport tp;
	struct net_addr src;           /* the peer */
	struct net_addr local;         /* the local address it arrived on */
	struct net_conn *conn;         /* stream connection, or NULL for UDP */
	int udp_fd;                    /* the UDP socket it arrived on, or -1 */
	bool truncated;                /* UDP: datagram exceeded lim.max_message */
	uint32_t conn_gen;             /* generation of conn when msg was made: net_send
	                                  refuses (EPIPE) a conn closed or reused since */
	uint32_t queued_ms;            /* UDP: how long it waited in the socket's receive
	                                  queue (kernel timestamp); 0 for streams */
};

typedef void(net_recv_fn)(void *arg, const struct net_msg *msg);

/*
 * A way kept as text (net_addr_fmt's "udp:1.2.3.4:5060", and local, the
 * local address the same way, or "" when unknown) back as a net_msg: the
 * transport and address, no buffer, no socket (udp_fd -1), no connection.
 * Text that does not parse leaves no transport (NET_UDP) and no address; a
 * local that does not parse leaves no local address. The inverse of
 * net_addr_fmt for the ways the registrar and the proxy store.
 */
void net_msg_from_text(struct net_msg *way, const char *text, const char *local);

/*
 * Called by the loop on stream errors the upper layer must answer or count:
 * a framing error on a connection (err is the sip_err; the loop closes the
 * connection after the callback returns, so the callback may still send a 400
 * on msg->conn; msg->buf holds the bytes received so far).
 */
typedef void(net_stream_error_fn)(void *arg, const struct net_msg *msg, enum sip_err err);

/* Counters the loop keeps; read with net_stats(). */
struct net_stats {
	uint64_t udp_in, tcp_in;               /* messages delivered (tcp_in: TCP and TLS) */
	uint64_t udp_truncated;                /* datagrams over max_message */
	uint64_t conn_accepted, conn_refused;  /* refused: over max_connections */
	uint64_t conn_refused_source;          /* refused: over max_per_source */
	uint64_t conn_slow_closed;             /* a message slower than min_rate */
	uint64_t conn_idle_closed, conn_header_timeout, conn_framing_error;
	uint64_t send_errors;
	uint32_t conn_open;
	/* TLS handshakes completed (of which resumed from a session ticket),
	 * failed (refused protocol or suite, bad client certificate, garbage,
	 * peer gone), and cut off by the handshake deadline */
	uint64_t tls_handshakes, tls_resumed, tls_handshake_failed, tls_handshake_timeout;
	/* outbound connections (net_connect): opened, failed to connect, and
	 * TLS peers refused for their certificate (chain or name) */
	uint64_t conn_outbound, conn_connect_failed, tls_peer_refused;
};

/* Create the loop. Returns 0 and *np, or an errno. conf is copied. */
int net_new(struct net **np, const struct net_conf *conf, net_recv_fn *recv,
	    net_stream_error_fn *stream_error, void *arg);
/* Close every socket and connection and free the loop; *np becomes NULL. */
void net_free(struct net **np);

/* Periodic work of the upper layer (expiry sweeps, cache refresh): fn is
 * called from the loop about every interval_ms, never from inside another
 * callback. One tick per loop; setting it again replaces it. */
typedef void(net_tick_fn)(void *arg, uint64_t now_ms);
void net_set_tick(struct net *n, net_tick_fn *fn, void *arg, uint32_t interval_ms);

/* Work of the upper layer after each round of events (group commit): fn is
 * called before the loop waits for events again, never from inside another
 * callback, and returns the most milliseconds the loop may sleep before
 * calling it again (-1: no limit of its own). One per loop. */
typedef int(net_round_fn)(void *arg, uint64_t now_ms);
void net_set_round(struct net *n, net_round_fn *fn, void *arg);

/* Apply new limits and timeouts (SIGHUP); listeners are unchanged. */
void net_set_conf(struct net *n, const struct net_conf *conf);

/* Open listeners. On failure nothing stays open and errbuf says which
 * address failed and why. A TLS listener needs a certificate loaded first
 * (net_tls_load); without one it is refused with EINVAL. */
int net_listen(struct net *n, const struct net_listen_spec *specs, size_t count, char *errbuf,
	       size_t errlen);

/*
 * Run the loop until *stop or *wake becomes non-zero (set from a signal
 * handler: epoll_wait returns EINTR) . Returns 0, or an errno on a fatal
 * loop error.
 */
int net_run(struct net *n, volatile sig_atomic_t *stop, volatile sig_atomic_t *wake);

/*
 * Send buf on the transport the message `to` arrived on: a stream message
 * goes back on its connection (buffered if the socket is full, bounded by
 * 4 * lim.max_message, at least 64 KiB; over that the connection is closed
 * and EOVERFLOW returned), a UDP reply goes from the receiving socket to
 * `dst` (NULL: to->src). Returns 0 or an errno (counted in stats); EPIPE when
 * the connection has been closed since `to` was made (to->conn_gen no longer
 * matches), so a copy of a net_msg may be kept and used later safely.
 * Within a callback the connection is never closed under the caller: a
 * failing send only schedules the close for after the callback.
 */
int net_send(struct net *n, const struct net_msg *to, const struct net_addr *dst,
	     const void *buf, size_t len);

/*
 * Open a stream connection to dst, TCP or TLS as a client, for requests this
 * server originates (a trunk, a gateway, a peer proxy). On success *way is
 * the net_msg to send on with net_send (tp, src = dst, conn, conn_gen;
 * buf NULL): bytes queue until the connection is up, within the usual
 * output bound. What the peer sends back arrives through net_recv_fn with
 * msg->conn the same connection; idle_timeout, the framing and the limits
 * apply as to accepted connections, and connecting (with the TLS handshake)
 * must finish within header_timeout_ms. A connection that fails is closed
 * and counted; what was queued is dropped (the transaction layer times out).
 *
 * TLS: TLS 1.2 or 1.3 with the server's suites; the server's certificate
 * (net_tls_load) is offered for mutual TLS; the peer's certificate must
 * chain to peer_ca_file (else the system's CAs) and name `host` as RFC 5922
 * 7.1 says: a subjectAltName URI sip:host (or sips:host) or DNS name equal
 * to host, case-insensitively, never a wildcard; the subject CN only when
 * the certificate has neither; an IP literal host must be an IP entry.
 * `host` also goes out as SNI unless it is an IP address.
 *
 * Returns 0, EINVAL (UDP, no host for TLS, or no TLS context loaded),
 * EOVERFLOW (max_connections), ENOMEM, or the errno of socket/connect.
 */
int net_connect(struct net *n, enum net_transport tp, const struct net_addr *dst,
		const char *host, struct net_msg *way);

/* Close the stream connection of msg after what has been queued is sent;
 * no further input is read from it. c must be a live connection, e.g.
 * msg->conn inside a callback (a closed one is ignored, but a stale pointer
 * may by then name a reused record: check net_msg_conn_alive() first). */
void net_conn_close_after_send(struct net *n, struct net_conn *c);

/* True when m->conn is still the open connection m arrived on (false for
 * UDP, or once it has been closed or its record reused). */
bool net_msg_conn_alive(const struct net_msg *m);

void net_stats(const struct net *n, struct net_stats *out);

/* The latest outbound TLS peer refused for its certificate (what
 * net_stats' tls_peer_refused counts): where it was, the name it had to
 * carry, and OpenSSL's reason. For the upper layer's event about it. */
struct net_tls_refusal {
	struct net_addr addr;          /* unset (family 0) before the first */
	char name[128];
	char why[96];
};
void net_tls_last_refusal(const struct net *n, struct net_tls_refusal *out);

/* A UDP listening socket of address family `family` (AF_INET, AF_INET6) to
 * send from when no received message names one (e.g. a binding restored
 * after a restart), or -1. */
int net_udp_fd(const struct net *n, int family);

/* ---- watches: other sockets on the same loop -------------------------------- */

/*
 * A watch puts a descriptor that is not SIP (the metrics HTTP listener and
 * its connections) on this loop, so that it needs no thread and shares the
 * loop's clock. fn(arg, events) runs with the epoll events (EPOLLIN,
 * EPOLLOUT, EPOLLERR, EPOLLHUP ...) when the descriptor is ready, and with
 * events 0 when the watch's deadline (net_watch_deadline) has passed. fn may
 * delete its own watch or any other: the record is freed only after the
 * current batch of events. The loop never closes the descriptor.
 */
struct net_watch;
typedef void(net_watch_fn)(void *arg, uint32_t events);

/* Watch fd for input (and output when `out`). Returns 0 with *wp, ENOMEM, or
 * the errno of epoll_ctl. */
int net_watch_add(struct net *n, struct net_watch **wp, int fd, bool out, net_watch_fn *fn,
		  void *arg);
/* Change the events: input unless !in, output when out. Returns 0 or an errno. */
int net_watch_events(struct net *n, struct net_watch *w, bool in, bool out);
/* Call fn with events 0 once the monotonic clock (net_now) reaches due_ms;
 * 0 clears the deadline. */
void net_watch_deadline(struct net *n, struct net_watch *w, uint64_t due_ms);
/* Stop watching (the descriptor stays open: the caller closes it after);
 * *wp becomes NULL. NULL is accepted. */
void net_watch_del(struct net *n, struct net_watch **wp);
/* The loop's monotonic clock in ms, as deadlines use it. */
uint64_t net_now(const struct net *n);

/*
 * Event-loop lag: how late the periodic tick ran against when it was due, a
 * sign of a loop kept busy (or a host starved of CPU). Counted per bucket
 * of NET_LAG_BOUNDS_MS (a tick is counted in the first bucket whose bound
 * is >= its lag; the last bucket is everything above), with sum and count,
 * as a Prometheus histogram wants.
 */
#define NET_LAG_BUCKETS 9
extern const uint32_t NET_LAG_BOUNDS_MS[NET_LAG_BUCKETS - 1];
struct net_lag {
	uint64_t bucket[NET_LAG_BUCKETS];  /* not cumulative */
	uint64_t sum_ms, count;
};
void net_lag(const struct net *n, struct net_lag *out);

/* ---- TLS ------------------------------------------------------------------ */

/* Whether and how a TLS client (a phone, a peer) must show a certificate. */
enum net_tls_verify {
	NET_TLS_VERIFY_NONE = 0,  /* do not ask */
	NET_TLS_VERIFY_OPTIONAL,  /* ask; a client may send none, but one it sends
	                             must verify against the CA, or the handshake fails */
	NET_TLS_VERIFY_REQUIRE,   /* a verified certificate is required */
};

/* Bytes of a passphrase read from passphrase_file, the NUL included: a
 * longer first line is cut there. */
#define NET_TLS_PASSPHRASE_MAX 1024

/* What net_tls_load reads. Paths are used as given (resolve them first). */
struct net_tls_conf {
	const char *cert_file;        /* PEM: the server certificate, then any chain */
	const char *key_file;         /* PEM private key, plain or encrypted (PKCS#8) */
	const char *passphrase;       /* for an encrypted key_file, or NULL */
	const char *passphrase_file;  /* or NULL; else the passphrase is its first
	                                 line (in place of passphrase), read before
	                                 anything else: refused when others may read
	                                 the file (EACCES) or the line is empty
	                                 (EINVAL), and wiped from memory after use */
	const char *ca_file;          /* PEM CA certificates client certificates must
	                                 chain to; needed unless verify is NONE */
	enum net_tls_verify verify;
	const char *crl_file;         /* PEM revocation list(s) of ca_file's CA, checked
	                                 for client certificates; NULL: none */
	uint32_t ticket_lifetime_s;   /* session ticket lifetime and key rotation
	                                 period; 0: no session tickets */
	const char *peer_ca_file;     /* PEM CAs that outbound TLS peers (net_connect)
	                                 must chain to; NULL: the system's store */
};

/*
 * Build a TLS server context from conf and make it the one new TLS
 * connections use. Connections already open keep the context they were made
 * with (OpenSSL counts its references), so a reload never drops a call.
 * Checks: the certificate and key parse, match and are strong enough
 * (OpenSSL security level 2), the certificate is valid now, the key file
 * is not readable by others. On success any previous
 * context is released and the session ticket keys are renewed (tickets
 * issued under the old certificate no longer resume). Returns 0, or an
 * errno (EINVAL: the files are wrong or the passphrase empty; EACCES: a key
 * or passphrase file readable by others; ENOMEM; the errno of opening the
 * passphrase file) with err saying which file and why; on failure the
 * running context, if any, stays in use.
 */
int net_tls_load(struct net *n, const struct net_tls_conf *conf, char *err, size_t errlen);

/* One line about the loaded server certificate for logs: subject, expiry
 * and SHA-256 fingerprint; "none" when no certificate is loaded. */
void net_tls_describe(const struct net *n, char *buf, size_t cap);

#define NET_CERT_NAME_MAX 256  /* bytes of one name, NUL included */
#define NET_CERT_MAX_SANS 8    /* URIs and DNS names kept, each */

/* The client certificate of a TLS connection, as far as the server verified
 * it. Names are bounded copies, NUL-terminated, printable ASCII only: a name
 * with a NUL or a control byte, or too long, is left out and counted in
 * `skipped`, as are names beyond NET_CERT_MAX_SANS. */
struct net_peer_cert {
	bool present;                 /* a certificate was presented and verified
	                                 against the CA during the handshake */
	char cn[NET_CERT_NAME_MAX];   /* subject commonName (the last one), or "" */
	size_t n_uri, n_dns;
	char uri[NET_CERT_MAX_SANS][NET_CERT_NAME_MAX];  /* subjectAltName URIs */
	char dns[NET_CERT_MAX_SANS][NET_CERT_NAME_MAX];  /* subjectAltName DNS names */
	unsigned skipped;
};

/*
 * The verified client certificate of the TLS connection m arrived on
 * (mutual TLS). Returns 0 with *out filled (out->present false when the
 * client sent no certificate), EINVAL when m did not come over TLS, EPIPE
 * when its connection has been closed since (net_msg_conn_alive). Decoded
 * on each call; nothing is kept beyond OpenSSL's own session.
 */
int net_msg_peer_cert(const struct net_msg *m, struct net_peer_cert *out);

/*
 * The TLS library guard. Is the OpenSSL whose version number is `num`
 * (OpenSSL_version_num(): 0xMNNFFPPS before 3.0, 0xMNN00PP0 since) fit to
 * run? Pure: a table of releases with known critical flaws, and a floor
 * (1.1.1, the first with TLS 1.3). Returns 0, or EPROTO with the reason
 * (naming the CVE) in why.
 */
int net_tls_library_check(unsigned long num, char *why, size_t cap);

/* The running library: OpenSSL_version_num() and OpenSSL_version(). */
unsigned long net_tls_library_version(void);
const char *net_tls_library_name(void);

#endif
