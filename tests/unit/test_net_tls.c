/*
 * test_net_tls: the TLS transport against real loopback sockets, and its
 * pure parts (the library guard, the ticket key ring, certificate names).
 *
 * Certificates are made once per run in a scratch directory with the
 * admin/ helpers (a CA, two server certificates, a client certificate, one
 * from a stranger CA, an expired one, an encrypted key). The loop runs in a
 * second thread; the test thread is an OpenSSL client with blocking
 * sockets and receive timeouts, so every wait is bounded. Anything that
 * touches the loop (net_tls_load, net_stats) happens with its thread
 * stopped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "admin/internal.h"
#include "check.h"
#include "net/internal.h"
#include "net/net.h"

/* ---- certificates ------------------------------------------------------------ */

static char dir[64];

/* The path of a file in the scratch directory; one stable buffer per name. */
static const char *file(const char *name)
{
	static struct {
		char name[32], path[128];
	} paths[32];

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		if (paths[i].name[0] && strcmp(paths[i].name, name) == 0)
			return paths[i].path;
		if (!paths[i].name[0]) {
			snprintf(paths[i].name, sizeof(paths[i].name), "%s", name);
			snprintf(paths[i].path, sizeof(paths[i].path), "%s/%s", dir, name);
			return paths[i].path;
		}
	}
	abort();
}

static int issue(const char *stem, const struct admin_cert_spec *spec, X509 *ca, EVP_PKEY *cakey,
		 const char *pass)
{
	char crt[64], key[64];
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	int rc;

	snprintf(crt, sizeof(crt), "%s.crt", stem);
	snprintf(key, sizeof(key), "%s.key", stem);
	rc = admin_tls_key_new(&k);
	if (!rc)
		rc = admin_tls_cert_new(&x, k, spec, ca, cakey);
	if (!rc)
		rc = admin_tls_write_key(file(key), k, pass);
	if (!rc)
		rc = admin_tls_write_cert(file(crt), x);
	EVP_PKEY_free(k);
	X509_free(x);
	return rc;
}

static int make_certs(void)
{
	static const char *const ips[] = { "127.0.0.1" };
	static const char *const peer[] = { "peer.example.test" };
	static const char *const alice[] = { "sip:alice@example.test" };
	struct admin_cert_spec ca = { .kind = ADMIN_CERT_CA, .cn = "Test CA", .days = 30 };
	struct admin_cert_spec srv = { .kind = ADMIN_CERT_SERVER, .cn = "server-one", .days = 30,
				       .ip = ips, .nip = 1, .dns = peer, .ndns = 1 };
	struct admin_cert_spec cli = { .kind = ADMIN_CERT_CLIENT, .cn = "alice", .days = 30,
				       .uri = alice, .nuri = 1 };
	EVP_PKEY *cak = NULL, *sk = NULL, *xk = NULL;
	X509 *cax = NULL, *sx = NULL;
	int rc, fd;

	snprintf(dir, sizeof(dir), "/tmp/bastion-tls-XXXXXX");
	if (!mkdtemp(dir))
		return errno;
	rc = admin_tls_key_new(&cak);
	if (!rc)
		rc = admin_tls_cert_new(&cax, cak, &ca, NULL, NULL);
	if (!rc)
		rc = admin_tls_write_cert(file("ca.crt"), cax);
	if (!rc)
		rc = issue("server", &srv, cax, cak, NULL);
	srv.cn = "server-two";
	if (!rc)
		rc = issue("server2", &srv, cax, cak, NULL);
	srv.cn = "server-locked";
	if (!rc)
		rc = issue("locked", &srv, cax, cak, "a long test passphrase");
	if (!rc)
		rc = issue("alice", &cli, cax, cak, NULL);
	/* a client certificate from a CA the server does not know */
	ca.cn = "Stranger CA";
	if (!rc)
		rc = admin_tls_key_new(&sk);
	if (!rc)
		rc = admin_tls_cert_new(&sx, sk, &ca, NULL, NULL);
	if (!rc)
		rc = issue("mallory", &cli, sx, sk, NULL);
	/* an expired server certificate: validity moved back, signed again */
	if (!rc) {
		X509 *x = NULL;
		srv.cn = "server-old";
		rc = admin_tls_key_new(&xk);
		if (!rc)
			rc = admin_tls_cert_new(&x, xk, &srv, cax, cak);
		if (!rc && (!X509_gmtime_adj(X509_getm_notBefore(x), -10 * 86400) ||
			    !X509_gmtime_adj(X509_getm_notAfter(x), -86400) ||
			    X509_sign(x, cak, EVP_sha256()) <= 0))
			rc = EINVAL;
		if (!rc)
			rc = admin_tls_write_cert(file("expired.crt"), x);
		if (!rc)
			rc = admin_tls_write_key(file("expired.key"), xk, NULL);
		X509_free(x);
	}
	fd = open(file("garbage.crt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "-----BEGIN CERTIFICATE-----\nnot base64\n", 40) != 40)
		rc = EIO;
	if (fd >= 0)
		close(fd);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(xk);
	X509_free(cax);
	X509_free(sx);
	return rc;
}

static void remove_certs(void)
{
	static const char *const names[] = {
		"ca.crt",      "server.crt",  "server.key",  "server2.crt", "server2.key",
		"locked.crt",  "locked.key",  "alice.crt",   "alice.key",   "mallory.crt",
		"mallory.key", "expired.crt", "expired.key", "garbage.crt", "open.key",
		"pass",        "pass.open",   "pass.empty",
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		unlink(file(names[i]));
	rmdir(dir);
}

/* ---- the server side ------------------------------------------------------------ */

struct srv {
	struct net *net;
	pthread_t thr;
	volatile sig_atomic_t stop;
	bool thread_running;
	uint16_t port;
	unsigned nrecv;
	struct net_msg last; /* a copy; buf dangles after the callback */
	unsigned nreplies;   /* responses received (read with __atomic_load_n) */
	struct net_msg last_reply;
};

static struct srv *running;
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
	return m->len >= strlen(s) && memcmp(m->buf, s, strlen(s)) == 0;
}

/* Every message is answered with what the server knows of the peer's
 * certificate; "BIG" gets 60,000 bytes, to cross many TLS records. */
static void on_recv(void *arg, const struct net_msg *m)
{
	static char big[60000];
	struct srv *s = arg;
	struct net_peer_cert pc;
	char reply[1200];
	int l, rc;

	if (has_prefix(m, "SIP/2.0 ")) { /* on an outbound connection (net_connect) */
		s->last_reply = *m;
		__atomic_add_fetch(&s->nreplies, 1, __ATOMIC_SEQ_CST);
		return;
	}
	s->nrecv++;
	s->last = *m;
	if (has_prefix(m, "BIG")) {
		memset(big, 'x', sizeof(big));
		memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
		(void)net_send(s->net, m, NULL, big, sizeof(big));
		return;
	}
	rc = net_msg_peer_cert(m, &pc);
	l = snprintf(reply, sizeof(reply),
		     "SIP/2.0 200 OK\r\nX-Tp: %s\r\nX-Len: %zu\r\nX-Cert: rc=%d present=%d cn=%s "
		     "uri=%s\r\nContent-Length: 0\r\n\r\n",
		     net_transport_name(m->tp), m->len, rc, pc.present, pc.cn,
		     pc.n_uri ? pc.uri[0] : "-");
	(void)net_send(s->net, m, NULL, reply, (size_t)l);
}

static void on_stream_error(void *arg, const struct net_msg *m, enum sip_err err)
{
	(void)arg;
	(void)m;
	(void)err;
}

static void *loop_main(void *arg)
{
	struct srv *s = arg;

	(void)net_run(s->net, &s->stop, NULL);
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

	c.lim.max_message = 65535;
	c.lim.max_body = 65535;
	return c;
}

static struct net_tls_conf tls_conf(const char *stem, enum net_tls_verify v)
{
	struct net_tls_conf t = { .verify = v, .ticket_lifetime_s = 3600 };
	char crt[40], key[40];

	snprintf(crt, sizeof(crt), "%s.crt", stem);
	snprintf(key, sizeof(key), "%s.key", stem);
	t.cert_file = file(crt);
	t.key_file = file(key);
	t.ca_file = file("ca.crt");
	t.peer_ca_file = file("ca.crt");
	return t;
}

static int srv_resume(struct srv *s)
{
	int rc;

	s->stop = 0;
	rc = pthread_create(&s->thr, NULL, loop_main, s);
	if (rc == 0) {
		s->thread_running = true;
		running = s;
	}
	return rc;
}

static int srv_start(struct srv *s, const struct net_conf *conf, enum net_tls_verify v)
{
	struct net_tls_conf tc = tls_conf("server", v);
	struct net_listen_spec spec;
	struct sigaction sa;
	char list[64], err[512] = "";
	size_t n;
	int rc;

	if (running) {
		struct srv *old = running;
		srv_stop(old);
		net_free(&old->net);
	}
	memset(s, 0, sizeof(*s));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sigaction(SIGUSR1, &sa, NULL);
	s->port = free_port();
	snprintf(list, sizeof(list), "tls:127.0.0.1:%u", s->port);
	rc = net_listen_parse(&spec, 1, &n, list, err, sizeof(err));
	if (rc == 0)
		rc = net_new(&s->net, conf, on_recv, on_stream_error, s);
	if (rc == 0)
		rc = net_tls_load(s->net, &tc, err, sizeof(err));
	if (rc == 0)
		rc = net_listen(s->net, &spec, 1, err, sizeof(err));
	if (rc == 0)
		rc = srv_resume(s);
	if (rc != 0) {
		fprintf(stderr, "srv_start: %s (%s)\n", strerror(rc), err);
		net_free(&s->net);
	}
	return rc;
}

static void srv_stop(struct srv *s)
{
	struct timespec ts;

	if (running == s)
		running = NULL;
	if (!s->thread_running)
		return;
	s->stop = 1;
	for (int i = 0; i < 100; i++) {
		pthread_kill(s->thr, SIGUSR1);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(s->thr, NULL, &ts) == 0) {
			s->thread_running = false;
			return;
		}
	}
	abort();
}

static struct net_stats srv_stats(struct srv *s)
{
	struct net_stats st;

	net_stats(s->net, &st);
	return st;
}

/* ---- the client side ------------------------------------------------------------ */

struct cli {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

struct cli_opts {
	int min, max;                 /* protocol versions, 0: library default */
	const char *ciphers;          /* TLS 1.2 list, NULL: default */
	const char *suites;           /* TLS 1.3, NULL: default */
	const char *cert, *key;       /* client certificate stem files, or NULL */
	SSL_SESSION *session;         /* to resume, or NULL */
	bool seclevel0;               /* let the client offer what the server must refuse */
};

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 3 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void cli_close(struct cli *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	ERR_clear_error();
}

/* Connect and handshake, verifying the server against ca.crt. Returns
 * true when the handshake succeeded. */
static bool cli_connect(struct cli *c, uint16_t port, const struct cli_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->fd = tcp_connect(port);
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->fd < 0 || !c->ctx)
		return false;
	if (o->seclevel0)
		SSL_CTX_set_security_level(c->ctx, 0);
	if (o->min)
		SSL_CTX_set_min_proto_version(c->ctx, o->min);
	if (o->max)
		SSL_CTX_set_max_proto_version(c->ctx, o->max);
	if (o->ciphers)
		SSL_CTX_set_cipher_list(c->ctx, o->ciphers);
	if (o->suites)
		SSL_CTX_set_ciphersuites(c->ctx, o->suites);
	SSL_CTX_load_verify_locations(c->ctx, file("ca.crt"), NULL);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (o->cert && (SSL_CTX_use_certificate_file(c->ctx, o->cert, SSL_FILETYPE_PEM) != 1 ||
			SSL_CTX_use_PrivateKey_file(c->ctx, o->key, SSL_FILETYPE_PEM) != 1))
		return false;
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl)
		return false;
	SSL_set_fd(c->ssl, c->fd);
	if (o->session)
		SSL_set_session(c->ssl, o->session);
	return SSL_connect(c->ssl) == 1;
}

static bool cli_send(struct cli *c, const char *s, size_t len)
{
	size_t put = 0;

	return SSL_write_ex(c->ssl, s, len, &put) == 1 && put == len;
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Read until `want` needles are in buf (NUL-terminated), EOF or an error
 * (the socket's 3 s receive timeout bounds each read). 0: found. */
static int cli_read_until(struct cli *c, char *buf, size_t cap, size_t *len, const char *needle,
			  size_t want)
{
	while (count_str(buf, needle) < want) {
		size_t got = 0;

		if (*len + 1 >= cap || SSL_read_ex(c->ssl, buf + *len, cap - 1 - *len, &got) != 1)
			return -1;
		*len += got;
		buf[*len] = '\0';
	}
	return 0;
}

/* Send one OPTIONS and return its reply in buf. */
static bool cli_options(struct cli *c, char *buf, size_t cap)
{
	static const char msg[] = "OPTIONS sip:x@example.test SIP/2.0\r\nContent-Length: 0\r\n\r\n";
	size_t len = 0;

	buf[0] = '\0';
	return cli_send(c, msg, sizeof(msg) - 1) &&
	       cli_read_until(c, buf, cap, &len, "\r\n\r\n", 1) == 0;
}

/* The CN of the certificate the server presented. */
static void cli_peer_cn(struct cli *c, char *out, size_t cap)
{
	X509 *x = SSL_get0_peer_certificate(c->ssl);

	out[0] = '\0';
	if (x)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)cap);
}

/* Wait until the server closes a raw socket; returns the milliseconds it
 * took, or -1 when it stayed open for timeout_ms. */
static long wait_closed(int fd, int timeout_ms)
{
	uint64_t start = now_ms();
	char b[256];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long spent = (long)(now_ms() - start);

		if (spent >= timeout_ms)
			return -1;
		if (poll(&p, 1, (int)(timeout_ms - spent)) > 0 && recv(fd, b, sizeof(b), 0) <= 0)
			return (long)(now_ms() - start);
	}
}

/* ---- pure parts ----------------------------------------------------------------- */

static void expect_refused(unsigned long v, const char *cve)
{
	char why[300];

	if (net_tls_library_check(v, why, sizeof(why)) != EPROTO || !strstr(why, cve))
		check_fail(__FILE__, __LINE__, "0x%08lx: expected %s, got \"%s\"", v, cve, why);
}

static void test_library_check(void)
{
	char why[300];

	/* Heartbleed: 1.0.1 (and its betas) through 1.0.1f */
	expect_refused(0x10001000UL, "CVE-2014-0160");
	expect_refused(0x1000100fUL, "CVE-2014-0160");
	expect_refused(0x1000105fUL, "CVE-2014-0160"); /* 1.0.1e, Debian wheezy */
	expect_refused(0x1000106fUL, "CVE-2014-0160"); /* 1.0.1f */
	CHECK(check_failed == false);
	/* 1.0.1g fixed Heartbleed, not CCS injection */
	expect_refused(0x1000107fUL, "CVE-2014-0224");
	expect_refused(0x0090819fUL, "CVE-2014-0224"); /* 0.9.8y */
	expect_refused(0x100000cfUL, "CVE-2014-0224"); /* 1.0.0l */
	expect_refused(0x1000108fUL, "CVE-2016-2108"); /* 1.0.1h */
	expect_refused(0x1000202fUL, "CVE-2016-2108"); /* 1.0.2b */
	expect_refused(0x1000114fUL, "1.1.1");         /* 1.0.1t: fixed, but too old */
	expect_refused(0x1000215fUL, "1.1.1");         /* 1.0.2u */
	expect_refused(0x1010001fUL, "CVE-2016-6309"); /* 1.1.0a */
	expect_refused(0x1010002fUL, "1.1.1");         /* 1.1.0b */
	expect_refused(0x1010100fUL, "CVE-2022-0778"); /* 1.1.1 */
	expect_refused(0x101010dfUL, "CVE-2022-0778"); /* 1.1.1m */
	expect_refused(0x30000000UL, "CVE-2022-0778"); /* 3.0.0 */
	expect_refused(0x30000020UL, "CVE-2022-3602"); /* 3.0.2 */
	expect_refused(0x30000060UL, "CVE-2022-3602"); /* 3.0.6 */
	CHECK(check_failed == false);
	CHECK_INT(net_tls_library_check(0x101010efUL, why, sizeof(why)), 0); /* 1.1.1n */
	CHECK_INT(net_tls_library_check(0x1010117fUL, why, sizeof(why)), 0); /* 1.1.1w */
	CHECK_INT(net_tls_library_check(0x30000070UL, why, sizeof(why)), 0); /* 3.0.7 */
	CHECK_INT(net_tls_library_check(0x30000160UL, why, sizeof(why)), 0); /* 3.0.22 */
	CHECK_INT(net_tls_library_check(0x30200000UL, why, sizeof(why)), 0); /* 3.2.0 */
	CHECK(why[0] == '\0');
	/* the library this test runs on passes */
	CHECK_INT(net_tls_library_check(net_tls_library_version(), why, sizeof(why)), 0);
	CHECK(strstr(net_tls_library_name(), "OpenSSL") != NULL);
}

static void test_ticket_keys(void)
{
	struct net_tls_keys k = { .period_ms = 1000 };
	const struct net_tls_ticket_key *got = NULL;
	unsigned char a[NET_TLS_TICKET_NAME_LEN], b[NET_TLS_TICKET_NAME_LEN];

	CHECK_INT(net_tls_keys_rotate(&k, 5000, true), 0);
	CHECK(k.cur.set && !k.prev.set);
	CHECK_INT(k.next_rotate_ms, 6000);
	memcpy(a, k.cur.name, sizeof(a));
	CHECK_INT(net_tls_keys_find(&k, a, &got), 1);
	CHECK(got == &k.cur);
	/* rotation: the old key still decrypts (2: re-issue), the new one encrypts */
	CHECK_INT(net_tls_keys_rotate(&k, 6000, false), 0);
	memcpy(b, k.cur.name, sizeof(b));
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK(memcmp(k.cur.aes, k.prev.aes, sizeof(k.cur.aes)) != 0);
	CHECK_INT(net_tls_keys_find(&k, b, &got), 1);
	CHECK_INT(net_tls_keys_find(&k, a, &got), 2);
	CHECK(got == &k.prev);
	/* another rotation: the first key is gone */
	CHECK_INT(net_tls_keys_rotate(&k, 7000, false), 0);
	CHECK_INT(net_tls_keys_find(&k, a, &got), 0);
	CHECK_INT(net_tls_keys_find(&k, b, &got), 2);
	/* renewal (certificate reload) forgets every older key */
	CHECK_INT(net_tls_keys_rotate(&k, 7500, true), 0);
	CHECK_INT(net_tls_keys_find(&k, b, &got), 0);
	CHECK(!k.prev.set);
}

/* Names: CN, URIs and DNS names copied; a name with a control byte, a NUL,
 * or too long is skipped and counted, as are names beyond the cap. */
static void test_cert_names(void)
{
	static const char nul_name[] = "evil.example\0.good.example";
	struct net_peer_cert pc;
	char longname[400];
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();

	CHECK(x && nm && gens);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)"first", -1, -1,
				   0);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)"phone-7", -1, -1,
				   0);
	X509_set_subject_name(x, nm);
	for (int i = 0; i < 12; i++) {
		char v[64];
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		int type = i < 10 ? GEN_URI : GEN_DNS;

		snprintf(v, sizeof(v), i < 10 ? "sip:u%d@example.test" : "host%d.example.test", i);
		if (i == 1)
			snprintf(v, sizeof(v), "sip:bad\x01@example.test");
		if (i == 10)
			ASN1_STRING_set(s, nul_name, (int)sizeof(nul_name) - 1);
		else
			ASN1_STRING_set(s, v, (int)strlen(v));
		GENERAL_NAME_set0_value(g, type, s);
		sk_GENERAL_NAME_push(gens, g);
	}
	{
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		ASN1_STRING_set(s, longname, (int)strlen(longname));
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		sk_GENERAL_NAME_push(gens, g);
	}
	X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT);
	memset(&pc, 0, sizeof(pc));
	net_tls_cert_names(x, &pc);
	sk_GENERAL_NAME_pop_free(gens, GENERAL_NAME_free);
	X509_NAME_free(nm);
	X509_free(x);
	CHECK(strcmp(pc.cn, "phone-7") == 0); /* the last CN, as verifiers read it */
	CHECK_INT(pc.n_uri, NET_CERT_MAX_SANS);
	CHECK(strcmp(pc.uri[0], "sip:u0@example.test") == 0);
	CHECK(strcmp(pc.uri[1], "sip:u2@example.test") == 0); /* u1 had a control byte */
	CHECK(strcmp(pc.uri[7], "sip:u8@example.test") == 0);
	CHECK_INT(pc.n_dns, 1);
	CHECK(strcmp(pc.dns[0], "host11.example.test") == 0);
	/* skipped: the control byte, u9 (over the cap), the NUL name, the long one */
	CHECK_INT(pc.skipped, 4);
}

/* ---- the transport -------------------------------------------------------------- */

static void test_tls_messages(void)
{
	static struct srv s;
	static char buf[70000], body[30000];
	static const char three[] =
		"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"
		"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"
		"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n";
	struct net_conf conf = test_conf();
	struct cli_opts o = { 0 };
	struct cli c;
	char head[100];
	size_t len = 0;
	int hl;

	CHECK_INT(srv_start(&s, &conf, NET_TLS_VERIFY_NONE), 0);
	CHECK(cli_connect(&c, s.port, &o));
	CHECK(SSL_version(c.ssl) == TLS1_3_VERSION);
	CHECK(SSL_get_current_compression(c.ssl) == NULL);
	/* pipelined in one record */
	buf[0] = '\0';
	CHECK(cli_send(&c, three, sizeof(three) - 1));
	CHECK_INT(cli_read_until(&c, buf, sizeof(buf), &len, "X-Tp: tls", 3), 0);
	/* a message over several records (30,000-byte body) */
	memset(body, 'b', sizeof(body));
	hl = snprintf(head, sizeof(head), "MESSAGE sip:x SIP/2.0\r\nContent-Length: %zu\r\n\r\n",
		      sizeof(body));
	CHECK(cli_send(&c, head, (size_t)hl));
	CHECK(cli_send(&c, body, sizeof(body)));
	len = 0;
	buf[0] = '\0';
	CHECK_INT(cli_read_until(&c, buf, sizeof(buf), &len, "\r\n\r\n", 1), 0);
	snprintf(head, sizeof(head), "X-Len: %zu\r\n", (size_t)hl + sizeof(body));
	CHECK(strstr(buf, head) != NULL);
	/* a 60,000-byte answer: many records, the socket buffer may fill */
	len = 0;
	buf[0] = '\0';
	{
		static const char bigreq[] = "BIG sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n";
		CHECK(cli_send(&c, bigreq, sizeof(bigreq) - 1));
	}
	CHECK_INT(cli_read_until(&c, buf, sizeof(buf), &len, "\r\n\r\n", 1), 0);
	CHECK_INT(len, 60000);
	/* keep-alive ping and pong (RFC 5626) */
	len = 0;
	buf[0] = '\0';
	CHECK(cli_send(&c, "\r\n\r\n", 4));
	CHECK_INT(cli_read_until(&c, buf, sizeof(buf), &len, "\r\n", 1), 0);
	cli_close(&c);
	srv_stop(&s);
	CHECK_INT(srv_stats(&s).tls_handshakes, 1);
	CHECK_INT(srv_stats(&s).tcp_in, 5);
	CHECK_INT(s.last.tp, NET_TLS);
	net_free(&s.net);
}

static void test_tls_versions_and_suites(void)
{
	static struct srv s;
	static const char *const good12[] = { "ECDHE-ECDSA-AES128-GCM-SHA256",
					      "ECDHE-ECDSA-AES256-GCM-SHA384",
					      "ECDHE-ECDSA-CHACHA20-POLY1305" };
	static const char *const good13[] = { "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
					      "TLS_CHACHA20_POLY1305_SHA256" };
	/* RSA key exchange, CBC, CBC with SHA-1, no authentication, no encryption */
	static const char *const bad12[] = { "AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA256",
					     "ECDHE-ECDSA-AES128-SHA", "AECDH-AES128-SHA",
					     "ECDHE-ECDSA-NULL-SHA" };
	struct net_conf conf = test_conf();
	char buf[2000];
	struct cli c;
	unsigned failed = 0;

	CHECK_INT(srv_start(&s, &conf, NET_TLS_VERIFY_NONE), 0);
	for (size_t i = 0; i < ARRAY_SIZE(good12); i++) {
		struct cli_opts o = { .max = TLS1_2_VERSION, .ciphers = good12[i] };
		bool ok = cli_connect(&c, s.port, &o) && cli_options(&c, buf, sizeof(buf));
		if (!ok || strcmp(SSL_get_cipher_name(c.ssl), good12[i]) != 0)
			check_fail(__FILE__, __LINE__, "TLS 1.2 with %s refused", good12[i]);
		cli_close(&c);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good13); i++) {
		struct cli_opts o = { .min = TLS1_3_VERSION, .suites = good13[i] };
		bool ok = cli_connect(&c, s.port, &o) && cli_options(&c, buf, sizeof(buf));
		if (!ok || strcmp(SSL_get_cipher_name(c.ssl), good13[i]) != 0)
			check_fail(__FILE__, __LINE__, "TLS 1.3 with %s refused", good13[i]);
		cli_close(&c);
	}
	CHECK(!check_failed);
	for (size_t i = 0; i < ARRAY_SIZE(bad12); i++) {
		struct cli_opts o = { .max = TLS1_2_VERSION, .ciphers = bad12[i], .seclevel0 = true };
		if (cli_connect(&c, s.port, &o))
			check_fail(__FILE__, __LINE__, "TLS 1.2 with %s accepted", bad12[i]);
		failed++;
		cli_close(&c);
	}
	for (int v = TLS1_VERSION; v <= TLS1_1_VERSION; v++) {
		struct cli_opts o = { .min = v, .max = v, .ciphers = "ALL:@SECLEVEL=0",
				      .seclevel0 = true };
		if (cli_connect(&c, s.port, &o))
			check_fail(__FILE__, __LINE__, "protocol 0x%x accepted", (unsigned)v);
		failed++;
		cli_close(&c);
	}
	CHECK(!check_failed);
	srv_stop(&s);
	CHECK_INT(srv_stats(&s).tls_handshakes, ARRAY_SIZE(good12) + ARRAY_SIZE(good13));
	CHECK_INT(srv_stats(&s).tls_handshake_failed, failed);
	CHECK_INT(srv_stats(&s).conn_open, 0);
	net_free(&s.net);
}

/* The handshake must finish within header_timeout: a client that connects
 * and says nothing, or half a ClientHello, is cut off and counted. The
 * min_rate scan leaves handshakes alone (no message bytes arrive before the
 * handshake ends). */
static void test_tls_handshake_deadline(void)
{
	static struct srv s;
	struct net_conf conf = test_conf();
	struct cli_opts o = { 0 };
	struct cli c;
	char buf[2000];
	int quiet, half;
	long t1, t2;

	conf.header_timeout_ms = 1500;
	conf.min_rate = 1000;
	CHECK_INT(srv_start(&s, &conf, NET_TLS_VERIFY_NONE), 0);
	quiet = tcp_connect(s.port);
	half = tcp_connect(s.port);
	CHECK(quiet >= 0 && half >= 0);
	CHECK(send(half, "\x16\x03\x01\x02\x00\x01", 6, MSG_NOSIGNAL) == 6);
	/* a client that completes its handshake in time is served */
	CHECK(cli_connect(&c, s.port, &o));
	t1 = wait_closed(quiet, 3000);
	t2 = wait_closed(half, 3000);
	close(quiet);
	close(half);
	CHECK(t1 >= 1300 && t2 >= 0);
	CHECK(cli_options(&c, buf, sizeof(buf)));
	cli_close(&c);
	srv_stop(&s);
	CHECK_INT(srv_stats(&s).tls_handshake_timeout, 2);
	CHECK_INT(srv_stats(&s).conn_header_timeout, 0);
	CHECK_INT(srv_stats(&s).conn_slow_closed, 0);
	CHECK_INT(srv_stats(&s).tls_handshakes, 1);
	net_free(&s.net);
}

static void test_tls_client_certificates(void)
{
	static struct srv s;
	struct net_conf conf = test_conf();
	struct cli_opts none = { 0 };
	struct cli_opts alice = { .cert = file("alice.crt"), .key = file("alice.key") };
	struct cli_opts mallory = { .cert = file("mallory.crt"), .key = file("mallory.key") };
	char buf[2000];
	struct cli c;

	/* optional: no certificate is fine, a good one is reported, a stranger's refused */
	CHECK_INT(srv_start(&s, &conf, NET_TLS_VERIFY_OPTIONAL), 0);
	CHECK(cli_connect(&c, s.port, &none) && cli_options(&c, buf, sizeof(buf)));
	CHECK(strstr(buf, "X-Cert: rc=0 present=0 cn= uri=-") != NULL);
	cli_close(&c);
	CHECK(cli_connect(&c, s.port, &alice) && cli_options(&c, buf, sizeof(buf)));
	CHECK(strstr(buf, "X-Cert: rc=0 present=1 cn=alice uri=sip:alice@example.test") != NULL);
	cli_close(&c);
	/* TLS 1.3 clients learn of a refused certificate after their handshake */
	CHECK(!(cli_connect(&c, s.port, &mallory) && cli_options(&c, buf, sizeof(buf))));
	cli_close(&c);
	srv_stop(&s);
	CHECK_INT(srv_stats(&s).tls_handshake_failed, 1);
	net_free(&s.net);

	/* require: no certificate, no connection */
	CHECK_INT(srv_start(&s, &conf, NET_TLS_VERIFY_REQUIRE), 0);
	CHECK(!(cli_connect(&c, s.port, &none) && cli_options(&c, buf, sizeof(buf))));
	cli_close(&c);
	CHECK(cli_connect(&c, s.port, &alice) && cli_options(&c, buf, sizeof(buf)));
	CHECK(strstr(buf, "present=1 cn=alice") != NULL);
	cli_close(&c);
	srv_stop(&s);
	net_free(&s.net);

	/* none: never asked, never reported */
	CHECK_INT(srv_start(&s, &conf, NET_TLS_VERIFY_NONE), 0);
	CHECK(cli_connect(&c, s.port, &alice) && cli_options(&c, buf, sizeof(buf)));
	CHECK(strstr(buf, "X-Cert: rc=0 present=0") != NULL);
	cli_close(&c);
	usleep(300 * 1000); /* the loop sees the close */
	srv_stop(&s);
	{
		/* a message that did not come over TLS */
		struct net_msg m = { .tp = NET_UDP, .udp_fd = -1 };
		struct net_peer_cert pc;
		CHECK_INT(net_msg_peer_cert(&m, &pc), EINVAL);
		/* a TLS message whose connection is gone */
		m = s.last;
		CHECK_INT(net_msg_peer_cert(&m, &pc), EPIPE);
	}
	net_free(&s.net);
}

/* A reload swaps the certificate for new connections; an open connection
 * goes on with the old one; a bad certificate is refused and changes
 * nothing. */
static void test_tls_reload(void)
{
	static struct srv s;
	struct net_conf conf = test_conf();
	struct net_tls_conf two = tls_conf("server2", NET_TLS_VERIFY_NONE);
	struct net_tls_conf bad = tls_conf("server2", NET_TLS_VERIFY_NONE);
	struct cli_opts o = { 0 };
	struct cli a, b;
	char buf[2000], cn[64], err[512], before[512], after[512];

	CHECK_INT(srv_start(&s, &conf, NET_TLS_VERIFY_NONE), 0);
	CHECK(cli_connect(&a, s.port, &o) && cli_options(&a, buf, sizeof(buf)));
	cli_peer_cn(&a, cn, sizeof(cn));
	CHECK(strcmp(cn, "server-one") == 0);
	srv_stop(&s);
	net_tls_describe(s.net, before, sizeof(before));
	CHECK(strstr(before, "server-one") != NULL);
	CHECK_INT(net_tls_load(s.net, &two, err, sizeof(err)), 0);
	net_tls_describe(s.net, after, sizeof(after));
	CHECK(strstr(after, "server-two") != NULL);
	CHECK_INT(srv_resume(&s), 0);
	CHECK(cli_options(&a, buf, sizeof(buf))); /* still on server-one */
	CHECK(cli_connect(&b, s.port, &o) && cli_options(&b, buf, sizeof(buf)));
	cli_peer_cn(&b, cn, sizeof(cn));
	CHECK(strcmp(cn, "server-two") == 0);
	cli_close(&b);
	/* bad: garbage, a key of another certificate */
	srv_stop(&s);
	bad.cert_file = file("garbage.crt");
	CHECK_INT(net_tls_load(s.net, &bad, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "garbage.crt") != NULL);
	bad.cert_file = file("server.crt");
	CHECK_INT(net_tls_load(s.net, &bad, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "does not match") != NULL);
	net_tls_describe(s.net, before, sizeof(before));
	CHECK(strcmp(before, after) == 0);
	CHECK_INT(srv_resume(&s), 0);
	CHECK(cli_options(&a, buf, sizeof(buf)));
	CHECK(cli_connect(&b, s.port, &o) && cli_options(&b, buf, sizeof(buf)));
	cli_peer_cn(&b, cn, sizeof(cn));
	CHECK(strcmp(cn, "server-two") == 0);
	cli_close(&b);
	cli_close(&a);
	srv_stop(&s);
	net_free(&s.net);
}

static void test_tls_load_refusals(void)
{
	struct net_conf conf = test_conf();
	struct net_tls_conf t = tls_conf("server", NET_TLS_VERIFY_NONE);
	struct net *n = NULL;
	char err[512], desc[256];
	int in, out;
	ssize_t r;
	char b[4096];

	CHECK_INT(net_new(&n, &conf, on_recv, on_stream_error, NULL), 0);
	net_tls_describe(n, desc, sizeof(desc));
	CHECK(strcmp(desc, "none") == 0);
	/* a key others may read */
	in = open(file("server.key"), O_RDONLY);
	out = open(file("open.key"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(in >= 0 && out >= 0);
	r = read(in, b, sizeof(b));
	CHECK(r > 0 && write(out, b, (size_t)r) == r);
	close(in);
	close(out);
	chmod(file("open.key"), 0644);
	t.key_file = file("open.key");
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), EACCES);
	CHECK(strstr(err, "readable by others") != NULL);
	/* expired */
	t = tls_conf("expired", NET_TLS_VERIFY_NONE);
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "expired") != NULL);
	/* missing files */
	t = tls_conf("nosuch", NET_TLS_VERIFY_NONE);
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "nosuch.crt") != NULL);
	/* an encrypted key: no passphrase, a wrong one, the right one */
	t = tls_conf("locked", NET_TLS_VERIFY_NONE);
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "encrypted") != NULL);
	t.passphrase = "not the passphrase";
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "wrong passphrase") != NULL);
	net_tls_describe(n, desc, sizeof(desc));
	CHECK(strcmp(desc, "none") == 0);
	t.passphrase = "a long test passphrase";
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), 0);
	net_tls_describe(n, desc, sizeof(desc));
	CHECK(strstr(desc, "server-locked") != NULL);
	/* client verification needs a CA */
	t = tls_conf("server", NET_TLS_VERIFY_OPTIONAL);
	t.ca_file = NULL;
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "CA") != NULL);
	net_free(&n);
}

/* Write text to name under dir with mode; false when it could not be. */
static bool write_file(const char *name, const char *text, mode_t mode)
{
	int fd = open(file(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	size_t n = strlen(text);
	bool ok = fd >= 0 && write(fd, text, n) == (ssize_t)n;

	if (fd >= 0)
		close(fd);
	return ok && chmod(file(name), mode) == 0;
}

/* One load of the encrypted key with its passphrase file, on a fresh
 * loop: the allocation-failure sweep's scenario. */
static int load_locked(void *arg)
{
	struct net_conf conf = test_conf();
	struct net_tls_conf t = tls_conf("locked", NET_TLS_VERIFY_NONE);
	struct net *n = NULL;
	char err[512];
	int rc;

	(void)arg;
	t.passphrase_file = file("pass");
	if ((rc = net_new(&n, &conf, on_recv, on_stream_error, NULL)) != 0)
		return rc;
	rc = net_tls_load(n, &t, err, sizeof(err));
	net_free(&n);
	return rc;
}

/* The key's passphrase read from a file (net_tls_load's passphrase_file):
 * its first line only, refused when missing, readable by others or empty,
 * each with the file named; read before the certificate is looked at. */
static void test_tls_passphrase_file(void)
{
	struct net_conf conf = test_conf();
	struct net_tls_conf t = tls_conf("locked", NET_TLS_VERIFY_NONE);
	struct net *n = NULL;
	char err[512], desc[256], want[200];

	CHECK(write_file("pass", "a long test passphrase\nsecond line\n", 0600));
	CHECK(write_file("pass.open", "a long test passphrase\n", 0644));
	CHECK(write_file("pass.empty", "\r\nsecond line\n", 0600));
	CHECK_INT(net_new(&n, &conf, on_recv, on_stream_error, NULL), 0);
	t.passphrase_file = file("nosuch.pass");
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), ENOENT);
	snprintf(want, sizeof(want), "%s: %s", file("nosuch.pass"), strerror(ENOENT));
	CHECK(strcmp(err, want) == 0);
	t.passphrase_file = file("pass.open");
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), EACCES);
	snprintf(want, sizeof(want), "%s: passphrase file readable by others; chmod 600 it",
		 file("pass.open"));
	CHECK(strcmp(err, want) == 0);
	t.passphrase_file = file("pass.empty");
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), EINVAL);
	snprintf(want, sizeof(want), "%s: empty passphrase", file("pass.empty"));
	CHECK(strcmp(err, want) == 0);
	/* the passphrase file is read first: a missing certificate is not reached */
	t.cert_file = file("nosuch.crt");
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "empty passphrase") != NULL);
	net_tls_describe(n, desc, sizeof(desc));
	CHECK(strcmp(desc, "none") == 0);
	/* the file's first line wins over passphrase */
	t = tls_conf("locked", NET_TLS_VERIFY_NONE);
	t.passphrase = "not the passphrase";
	t.passphrase_file = file("pass");
	CHECK_INT(net_tls_load(n, &t, err, sizeof(err)), 0);
	net_tls_describe(n, desc, sizeof(desc));
	CHECK(strstr(desc, "server-locked") != NULL);
	net_free(&n);
	CHECK(CHECK_OOM_SWEEP(load_locked, NULL, 200) >= 2);
}

/* A second connection resumes with the session ticket of the first. */
static void test_tls_resumption(void)
{
	static struct srv s;
	struct net_conf conf = test_conf();
	struct cli_opts o = { 0 };
	SSL_SESSION *sess;
	struct cli c;
	char buf[2000];

	for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
		o.min = o.max = v;
		o.session = NULL;
		CHECK_INT(srv_start(&s, &conf, NET_TLS_VERIFY_NONE), 0);
		CHECK(cli_connect(&c, s.port, &o) && cli_options(&c, buf, sizeof(buf)));
		sess = SSL_get1_session(c.ssl);
		CHECK(sess != NULL);
		cli_close(&c);
		o.session = sess;
		if (!cli_connect(&c, s.port, &o) || !cli_options(&c, buf, sizeof(buf)) ||
		    !SSL_session_reused(c.ssl))
			check_fail(__FILE__, __LINE__, "version 0x%x: not resumed", (unsigned)v);
		cli_close(&c);
		SSL_SESSION_free(sess);
		srv_stop(&s);
		CHECK_INT(srv_stats(&s).tls_resumed, 1);
		net_free(&s.net);
	}
}

/* The connection cap counts TLS connections like TCP ones. */
static void test_tls_max_connections(void)
{
	static struct srv s;
	struct net_conf conf = test_conf();
	struct cli_opts o = { 0 };
	struct cli a, b;
	char buf[2000];
	int third;

	conf.max_connections = 2;
	CHECK_INT(srv_start(&s, &conf, NET_TLS_VERIFY_NONE), 0);
	CHECK(cli_connect(&a, s.port, &o) && cli_options(&a, buf, sizeof(buf)));
	CHECK(cli_connect(&b, s.port, &o) && cli_options(&b, buf, sizeof(buf)));
	third = tcp_connect(s.port);
	CHECK(third >= 0);
	CHECK(wait_closed(third, 3000) >= 0);
	close(third);
	cli_close(&a);
	cli_close(&b);
	srv_stop(&s);
	CHECK_INT(srv_stats(&s).conn_refused, 1);
	net_free(&s.net);
}

/* RFC 5922 7.1 name checks on certificates of every shape. */
static bool cert_matches(const struct admin_cert_spec *spec, const char *host)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	bool m = false;

	if (admin_tls_key_new(&k) == 0 && admin_tls_cert_new(&x, k, spec, NULL, NULL) == 0)
		m = net_tls_name_matches(x, host);
	X509_free(x);
	EVP_PKEY_free(k);
	return m;
}

static void test_name_matches(void)
{
	static const char *const dns[] = { "peer.example.test", "*.wild.example.test" };
	static const char *const uris[] = { "sip:gw.example.test", "sips:sbc.example.test",
					    "https://web.example.test" };
	static const char *const ips[] = { "192.0.2.1", "2001:db8::1" };
	struct admin_cert_spec a = { .kind = ADMIN_CERT_CA, .cn = "cn.example.test", .days = 1,
				     .dns = dns, .ndns = 2, .uri = uris, .nuri = 3, .ip = ips,
				     .nip = 2 };
	struct admin_cert_spec cn_only = { .kind = ADMIN_CERT_CA, .cn = "cn.example.test",
					   .days = 1 };
	struct admin_cert_spec web_only = { .kind = ADMIN_CERT_CA, .cn = "cn.example.test",
					    .days = 1, .uri = uris + 2, .nuri = 1 };

	CHECK(cert_matches(&a, "peer.example.test"));
	CHECK(cert_matches(&a, "PEER.Example.Test"));
	CHECK(cert_matches(&a, "gw.example.test"));   /* URI sip: */
	CHECK(cert_matches(&a, "sbc.example.test"));  /* URI sips: */
	CHECK(cert_matches(&a, "192.0.2.1"));
	CHECK(cert_matches(&a, "2001:db8::1"));
	CHECK(!cert_matches(&a, "example.test"));
	CHECK(!cert_matches(&a, "other.example.test"));
	CHECK(!cert_matches(&a, "a.wild.example.test")); /* no wildcards */
	CHECK(!cert_matches(&a, "*.wild.example.test"));
	CHECK(!cert_matches(&a, "web.example.test"));    /* not a SIP URI */
	CHECK(!cert_matches(&a, "cn.example.test"));     /* CN ignored beside SANs */
	CHECK(!cert_matches(&a, "192.0.2.2"));
	CHECK(!cert_matches(&a, ""));
	CHECK(cert_matches(&cn_only, "cn.example.test")); /* no SAN: the CN counts */
	CHECK(!cert_matches(&cn_only, "127.0.0.1"));
	CHECK(!cert_matches(&web_only, "cn.example.test"));
}

/* Wait (bounded) until the loop thread has counted `want` replies. */
static bool wait_replies(struct srv *s, unsigned want, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (__atomic_load_n(&s->nreplies, __ATOMIC_SEQ_CST) >= want)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/* Outbound connections: TLS to a peer whose certificate names the host we
 * dialled (a request goes out, its answer comes back on the same
 * connection), a peer with the wrong name (nothing is sent), plain TCP, and
 * a refused connect. The loop connects to its own listeners. */
static void test_connect(void)
{
	static struct srv s;
	static const char req[] = "OPTIONS sip:peer.example.test SIP/2.0\r\nContent-Length: 0\r\n\r\n";
	struct net_conf conf = test_conf();
	struct net_listen_spec tcp;
	struct net_addr dst;
	struct net_msg way, bad, plain;
	char list[64], err[256];
	size_t n;
	uint16_t tport = free_port(), dead = free_port();

	CHECK_INT(srv_start(&s, &conf, NET_TLS_VERIFY_OPTIONAL), 0);
	srv_stop(&s);
	snprintf(list, sizeof(list), "tcp:127.0.0.1:%u", tport);
	CHECK_INT(net_listen_parse(&tcp, 1, &n, list, err, sizeof(err)), 0);
	CHECK_INT(net_listen(s.net, &tcp, 1, err, sizeof(err)), 0);
	snprintf(list, sizeof(list), "tcp:127.0.0.1:%u", s.port);
	{
		struct net_listen_spec d;
		CHECK_INT(net_listen_parse(&d, 1, &n, list, err, sizeof(err)), 0);
		dst = d.addr;
	}
	/* refused up front */
	CHECK_INT(net_connect(s.net, NET_UDP, &dst, "x", &way), EINVAL);
	CHECK_INT(net_connect(s.net, NET_TLS, &dst, "", &way), EINVAL);
	/* TLS, the right name: the request is queued until the handshake is done */
	CHECK_INT(net_connect(s.net, NET_TLS, &dst, "peer.example.test", &way), 0);
	CHECK_INT(way.tp, NET_TLS);
	CHECK_INT(net_send(s.net, &way, NULL, req, sizeof(req) - 1), 0);
	CHECK_INT(srv_resume(&s), 0);
	CHECK(wait_replies(&s, 1, 3000));
	srv_stop(&s);
	CHECK(s.last_reply.conn == way.conn && s.last_reply.tp == NET_TLS);
	CHECK_INT(s.nrecv, 1);
	CHECK_INT(s.last.tp, NET_TLS);
	/* the peer saw our certificate (mutual TLS) */
	CHECK_INT(srv_stats(&s).tls_handshakes, 2);
	CHECK_INT(srv_stats(&s).conn_outbound, 1);
	/* the connection stays for more */
	CHECK_INT(net_send(s.net, &way, NULL, req, sizeof(req) - 1), 0);
	CHECK_INT(srv_resume(&s), 0);
	CHECK(wait_replies(&s, 2, 3000));
	srv_stop(&s);
	/* TLS, a name the certificate does not have: nothing reaches the peer */
	CHECK_INT(net_connect(s.net, NET_TLS, &dst, "wrong.example.test", &bad), 0);
	CHECK_INT(net_send(s.net, &bad, NULL, req, sizeof(req) - 1), 0);
	CHECK_INT(srv_resume(&s), 0);
	usleep(500 * 1000);
	srv_stop(&s);
	CHECK_INT(s.nrecv, 2);
	CHECK_INT(srv_stats(&s).tls_peer_refused, 1);
	CHECK(!net_msg_conn_alive(&bad));
	/* plain TCP to the TCP listener */
	((struct sockaddr_in *)&dst.ss)->sin_port = htons(tport);
	CHECK_INT(net_connect(s.net, NET_TCP, &dst, NULL, &plain), 0);
	CHECK_INT(net_send(s.net, &plain, NULL, req, sizeof(req) - 1), 0);
	CHECK_INT(srv_resume(&s), 0);
	CHECK(wait_replies(&s, 3, 3000));
	srv_stop(&s);
	CHECK(s.last_reply.conn == plain.conn && s.last_reply.tp == NET_TCP);
	/* nobody listening */
	((struct sockaddr_in *)&dst.ss)->sin_port = htons(dead);
	if (net_connect(s.net, NET_TCP, &dst, NULL, &plain) == 0) {
		CHECK_INT(srv_resume(&s), 0);
		usleep(300 * 1000);
		srv_stop(&s);
	}
	CHECK_INT(srv_stats(&s).conn_connect_failed, 1);
	CHECK_INT(srv_stats(&s).conn_outbound, 4);
	net_free(&s.net);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_library_check),
		CASE(test_ticket_keys),
		CASE(test_cert_names),
		CASE(test_tls_messages),
		CASE(test_tls_versions_and_suites),
		CASE(test_tls_handshake_deadline),
		CASE(test_tls_client_certificates),
		CASE(test_tls_reload),
		CASE(test_tls_load_refusals),
		CASE(test_tls_passphrase_file),
		CASE(test_tls_resumption),
		CASE(test_tls_max_connections),
		CASE(test_name_matches),
		CASE(test_connect),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (make_certs() != 0) {
		fprintf(stderr, "cannot make the test certificates in %s\n", dir);
		remove_certs();
		return 1;
	}
	rc = check_main("net_tls", cases, ARRAY_SIZE(cases), argc, argv);
	if (running) {
		struct srv *old = running;
		srv_stop(old);
		net_free(&old->net);
	}
	remove_certs();
	return rc;
}
