/*
 * remote: security events to a log server over TLS (RFC 5425), so they
 * leave the host even when its own syslog does not forward them.
 *
 * The SIP thread only appends: log_event() formats an RFC 5424 message and
 * appends it as one line to a queue on disk (one write(2)), then wakes the
 * sender. A sender thread owns the connection: it connects (TCP with a
 * deadline, then TLS 1.2+ with the server's certificate checked against
 * remote_ca and remote_name, and our certificate for mutual TLS), sends the
 * queued messages in order with octet-counting framing ("LEN SP MSG"),
 * and moves its position in the queue (kept in a file, so a restart goes on
 * where it stopped) only after a write succeeded. A log server that fails,
 * refuses us, or sends anything at all (RFC 5425 servers send nothing) is
 * disconnected and retried with exponential backoff (1 s to 60 s).
 *
 * The queue is a directory of segment files, each about an eighth of the
 * cap; when an append would take the queue over the cap, the oldest
 * segment is deleted and its unsent messages counted as dropped; the SIP
 * path never waits for the network. Delivery is at least once: a message
 * written just before a connection broke may be sent again.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define SEG_PREFIX "seg-"
#define POS_FILE "pos"
#define READ_BATCH 65536
#define FRAME_CAP (2 * READ_BATCH) /* "LEN SP" adds at most 5 bytes to a 2-byte line */
#define IO_TIMEOUT_S 10
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000

struct remote {
	struct log_remote_conf conf;
	char host[256], name[256], dir[1024], hostname[64];
	SSL_CTX *ctx;
	pthread_t thread;
	pthread_mutex_t mu;
	int wake;                       /* eventfd */
	atomic_bool stop;

	/* the queue (under mu) */
	uint64_t head_seg, head_off;    /* next message to send */
	uint64_t tail_seg;              /* segment being appended to */
	int tail_fd;
	uint64_t tail_size;
	uint64_t total;                 /* bytes in all segments */
	uint64_t seg_max;
	struct log_remote_stats st;
	uint64_t dropped_reported;

	/* the sender's connection (thread only) */
	int fd;
	SSL *ssl;
	struct log_limit warn_limit;
};

static struct remote *rm;

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0; /* an encrypted key is refused rather than prompted for */
}

static void seg_path(const struct remote *r, char *out, size_t cap, uint64_t seg)
{
	snprintf(out, cap, "%s/" SEG_PREFIX "%016llu", r->dir, (unsigned long long)seg);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Lines (messages) in path from offset on. */
static uint64_t count_lines(const char *path, uint64_t off)
{
	char buf[8192];
	uint64_t n = 0;
	ssize_t k;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((k = pread(fd, buf, sizeof(buf), (off_t)off)) > 0) {
		for (ssize_t i = 0; i < k; i++)
			n += buf[i] == '\n';
		off += (uint64_t)k;
	}
	close(fd);
	return n;
}

static void save_pos(struct remote *r)
{
	char path[1100], text[64], tmp[1100];
	int fd, n;

	snprintf(path, sizeof(path), "%s/" POS_FILE, r->dir);
	snprintf(tmp, sizeof(tmp), "%s/" POS_FILE ".tmp", r->dir);
	n = snprintf(text, sizeof(text), "%llu %llu\n", (unsigned long long)r->head_seg,
		     (unsigned long long)r->head_off);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, text, (size_t)n) == n)
		rename(tmp, path);
	close(fd);
}

/* Open (create) the tail segment for appending. Under mu. */
static int open_tail(struct remote *r)
{
	char path[1100];

	if (r->tail_fd >= 0)
		close(r->tail_fd);
	seg_path(r, path, sizeof(path), r->tail_seg);
	r->tail_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (r->tail_fd < 0)
		return errno;
	r->tail_size = file_size(path);
	return 0;
}

/* Read the queue directory: segments, the saved position, the total. */
static int queue_load(struct remote *r)
{
	DIR *d;
	struct dirent *e;
	uint64_t lo = UINT64_MAX, hi = 0, seg, off;
	char path[1100];
	FILE *f;

	if (mkdir(r->dir, 0700) != 0 && errno != EEXIST)
		return errno;
	d = opendir(r->dir);
	if (!d)
		return errno;
	r->total = 0;
	while ((e = readdir(d))) {
		char *end;

		if (strncmp(e->d_name, SEG_PREFIX, strlen(SEG_PREFIX)) != 0)
			continue;
		seg = strtoull(e->d_name + strlen(SEG_PREFIX), &end, 10);
		if (*end)
			continue;
		lo = seg < lo ? seg : lo;
		hi = seg > hi ? seg : hi;
		seg_path(r, path, sizeof(path), seg);
		r->total += file_size(path);
	}
	closedir(d);
	if (lo == UINT64_MAX)
		lo = hi = 1;
	r->head_seg = lo;
	r->head_off = 0;
	r->tail_seg = hi;
	snprintf(path, sizeof(path), "%s/" POS_FILE, r->dir);
	f = fopen(path, "re");
	if (f) {
		unsigned long long a, b;
		if (fscanf(f, "%llu %llu", &a, &b) == 2 && a >= lo && a <= hi) {
			seg = a;
			off = b;
			seg_path(r, path, sizeof(path), seg);
			if (off <= file_size(path)) {
				r->head_seg = seg;
				r->head_off = off;
			}
		}
		fclose(f);
	}
	/* segments before the head were sent: remove them */
	for (seg = lo; seg < r->head_seg; seg++) {
		seg_path(r, path, sizeof(path), seg);
		r->total -= file_size(path);
		unlink(path);
	}
	return open_tail(r);
}

/* Drop the oldest segment (queue full). Under mu. */
static void drop_oldest(struct remote *r)
{
	char path[1100];
	uint64_t size;

	if (r->head_seg >= r->tail_seg)
		return; /* never the segment being written */
	seg_path(r, path, sizeof(path), r->head_seg);
	size = file_size(path);
	r->st.dropped += count_lines(path, r->head_off);
	unlink(path);
	r->total -= size < r->total ? size : r->total;
	r->head_seg++;
	r->head_off = 0;
	save_pos(r);
}

/* The SIP thread: queue one message (no newline inside). */
static void enqueue(struct remote *r, const char *msg, size_t len)
{
	uint64_t one = 1;
	ssize_t w;

	pthread_mutex_lock(&r->mu);
	while (r->total + len + 1 > r->conf.queue_max && r->head_seg < r->tail_seg)
		drop_oldest(r);
	if (r->total + len + 1 > r->conf.queue_max) {
		r->st.dropped++; /* only the segment being written is left: drop this one */
		goto out;
	}
	if (r->tail_size + len + 1 > r->seg_max && r->tail_size > 0) {
		r->tail_seg++;
		if (open_tail(r) != 0) {
			r->st.dropped++;
			goto out;
		}
	}
	if (r->tail_fd < 0) {
		r->st.dropped++;
		goto out;
	}
	{
		char *line = malloc(len + 1);
		if (!line) {
			r->st.dropped++;
			goto out;
		}
		memcpy(line, msg, len);
		line[len] = '\n';
		w = write(r->tail_fd, line, len + 1);
		free(line);
	}
	if (w != (ssize_t)(len + 1)) {
		r->st.dropped++;
		goto out;
	}
	r->tail_size += len + 1;
	r->total += len + 1;
	r->st.queued++;
out:
	r->st.queue_bytes = r->total;
	pthread_mutex_unlock(&r->mu);
	if (write(r->wake, &one, sizeof(one)) < 0) {
		/* the counter is full: the sender is awake anyway */
	}
}

/* ---- the sender --------------------------------------------------------------------- */

static void disconnect(struct remote *r)
{
	if (r->ssl) {
		SSL_free(r->ssl);
		r->ssl = NULL;
	}
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	pthread_mutex_lock(&r->mu);
	r->st.connected = false;
	pthread_mutex_unlock(&r->mu);
}

static void warn(struct remote *r, const char *what, const char *detail)
{
	if (log_limit_allow(&r->warn_limit, (uint64_t)time(NULL)))
		log_warn("remote log %s:%u: %s%s%s", r->host, (unsigned)r->conf.port, what,
			 detail && detail[0] ? ": " : "", detail ? detail : "");
}

static void count(struct remote *r, uint64_t *field)
{
	pthread_mutex_lock(&r->mu);
	(*field)++;
	pthread_mutex_unlock(&r->mu);
}

/* TCP connect with a deadline, then the TLS handshake. 0 or -1. */
static int try_connect(struct remote *r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	char port[8], errbuf[256];
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int fd = -1, rc, soerr;
	socklen_t sl;

	snprintf(port, sizeof(port), "%u", (unsigned)r->conf.port);
	rc = getaddrinfo(r->host, port, &hints, &res);
	if (rc != 0) {
		warn(r, "cannot resolve", gai_strerror(rc));
		count(r, &r->st.connect_failures);
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd p;

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		sl = sizeof(soerr);
		if (errno == EINPROGRESS && poll(&p, 1, IO_TIMEOUT_S * 1000) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		warn(r, "cannot connect", strerror(errno));
		count(r, &r->st.connect_failures);
		return -1;
	}
	/* blocking from here, every call bounded by the timeouts */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	r->fd = fd;
	r->ssl = SSL_new(r->ctx);
	if (!r->ssl || SSL_set_fd(r->ssl, fd) != 1)
		goto fail;
	{
		unsigned char ip[16];
		bool is_ip = inet_pton(AF_INET, r->name, ip) == 1 || inet_pton(AF_INET6, r->name, ip) == 1;
		X509_VERIFY_PARAM *vp = SSL_get0_param(r->ssl);

		if (is_ip) {
			if (X509_VERIFY_PARAM_set1_ip_asc(vp, r->name) != 1)
				goto fail;
		} else {
			X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if (X509_VERIFY_PARAM_set1_host(vp, r->name, 0) != 1 ||
			    SSL_set_tlsext_host_name(r->ssl, r->name) != 1)
				goto fail;
		}
	}
	ERR_clear_error();
	if (SSL_connect(r->ssl) != 1) {
		long vr = SSL_get_verify_result(r->ssl);

		if (vr != X509_V_OK) {
			snprintf(errbuf, sizeof(errbuf), "certificate refused: %s",
				 X509_verify_cert_error_string(vr));
			count(r, &r->st.refused_cert);
		} else {
			unsigned long e = ERR_get_error();
			snprintf(errbuf, sizeof(errbuf), "TLS handshake failed: %s",
				 e ? ERR_reason_error_string(e) : "connection closed");
			count(r, &r->st.connect_failures);
		}
		warn(r, errbuf, NULL);
		disconnect(r);
		return -1;
	}
	pthread_mutex_lock(&r->mu);
	r->st.connected = true;
	r->st.connects++;
	pthread_mutex_unlock(&r->mu);
	log_info("remote log %s:%u: connected (%s)", r->host, (unsigned)r->conf.port,
		 SSL_get_version(r->ssl));
	return 0;
fail:
	warn(r, "TLS setup failed", NULL);
	count(r, &r->st.connect_failures);
	disconnect(r);
	return -1;
}

/* Whatever the server sends is wrong (RFC 5425 servers send nothing) and a
 * close is a close: either way the connection is over. */
static bool server_spoke(struct remote *r)
{
	struct pollfd p = { .fd = r->fd, .events = POLLIN };
	char buf[256];
	int n, fl, e;

	if (poll(&p, 1, 0) != 1)
		return false;
	/* non-blocking for this read: TLS 1.3 session tickets and other
	 * handshake records make the socket readable without application data */
	fl = fcntl(r->fd, F_GETFL);
	fcntl(r->fd, F_SETFL, fl | O_NONBLOCK);
	n = SSL_read(r->ssl, buf, sizeof(buf));
	e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(r->ssl, n);
	fcntl(r->fd, F_SETFL, fl);
	if (n <= 0 && (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE))
		return false;
	if (n > 0) {
		warn(r, "the log server sent data; disconnecting", NULL);
		count(r, &r->st.garbage);
	} else {
		warn(r, "the log server closed the connection", NULL);
	}
	return true;
}

/* Read up to READ_BATCH bytes of whole messages at the head into buf.
 * Returns their length (0: nothing to send), with *seg, *off where they
 * started. */
static size_t read_batch(struct remote *r, char *buf, uint64_t *seg, uint64_t *off)
{
	char path[1100];
	size_t len = 0;
	ssize_t k;
	int fd;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		seg_path(r, path, sizeof(path), r->head_seg);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		k = fd >= 0 ? pread(fd, buf, READ_BATCH, (off_t)r->head_off) : 0;
		if (fd >= 0)
			close(fd);
		if (k > 0 || r->head_seg >= r->tail_seg)
			break;
		/* this segment is all sent and a newer one exists: remove it */
		r->total -= file_size(path) < r->total ? file_size(path) : r->total;
		unlink(path);
		r->head_seg++;
		r->head_off = 0;
		save_pos(r);
	}
	if (k > 0) {
		len = (size_t)k;
		while (len > 0 && buf[len - 1] != '\n')
			len--; /* whole lines only (the rest is being written) */
	}
	*seg = r->head_seg;
	*off = r->head_off;
	r->st.queue_bytes = r->total;
	pthread_mutex_unlock(&r->mu);
	return len;
}

/* Frame (frame.c) and send the messages in buf[0..len), one write per
 * framed batch, through out (FRAME_CAP bytes). A line that cannot be framed
 * (empty) is skipped. 0 or -1. */
static int send_batch(struct remote *r, const char *buf, size_t len, char *out, uint64_t *nsent)
{
	size_t i = 0;

	*nsent = 0;
	while (i < len) {
		size_t olen, used, n;
		int rc = log_frame_lines(out, FRAME_CAP, &olen, &used, &n, buf + i, len - i);

		if (rc == EBADMSG) {
			const char *nl = memchr(buf + i, '\n', len - i);
			i += nl ? (size_t)(nl - (buf + i)) + 1 : len - i;
			continue;
		}
		if (rc || used == 0 || olen > INT_MAX)
			return -1;
		if (SSL_write(r->ssl, out, (int)olen) != (int)olen)
			return -1;
		i += used;
		*nsent += n;
	}
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *sender(void *arg)
{
	struct remote *r = arg;
	uint64_t backoff = BACKOFF_MIN_MS, next_try = 0, seg, off, nsent, v;
	char *buf = malloc(READ_BATCH), *out = malloc(FRAME_CAP);

	if (!buf || !out) {
		free(buf);
		free(out);
		return NULL;
	}
	while (!r->stop) {
		struct pollfd p[2] = { { .fd = r->wake, .events = POLLIN }, { .fd = -1 } };
		size_t len;
		int wait_ms = 1000;

		if (r->fd < 0 && mono_ms() >= next_try) {
			if (try_connect(r) == 0) {
				backoff = BACKOFF_MIN_MS;
			} else {
				next_try = mono_ms() + backoff;
				backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			}
		}
		if (r->fd >= 0 && server_spoke(r)) {
			disconnect(r);
			next_try = mono_ms() + backoff;
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			continue;
		}
		if (r->fd >= 0 && (len = read_batch(r, buf, &seg, &off)) > 0) {
			if (send_batch(r, buf, len, out, &nsent) != 0) {
				warn(r, "send failed; will retry", NULL);
				disconnect(r);
				next_try = mono_ms() + backoff;
				continue;
			}
			pthread_mutex_lock(&r->mu);
			if (r->head_seg == seg && r->head_off == off) { /* not dropped meanwhile */
				r->head_off += len;
				r->st.sent += nsent;
				save_pos(r);
			}
			pthread_mutex_unlock(&r->mu);
			continue;
		}
		if (r->fd >= 0)
			p[1] = (struct pollfd){ .fd = r->fd, .events = POLLIN };
		else if (next_try > mono_ms())
			wait_ms = (int)(next_try - mono_ms() < 1000 ? next_try - mono_ms() : 1000);
		if (poll(p, 2, wait_ms) > 0 && (p[0].revents & POLLIN) &&
		    read(r->wake, &v, sizeof(v)) < 0) {
			/* nothing: the counter was read by someone else (cannot happen) */
		}
	}
	disconnect(r);
	free(buf);
	free(out);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------ */

static int ctx_new(struct remote *r, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	unsigned long e;

	if (!ctx) {
		snprintf(err, errlen, "remote log: out of memory");
		return ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	ERR_clear_error();
	if (SSL_CTX_load_verify_locations(ctx, r->conf.ca_file, NULL) != 1) {
		snprintf(err, errlen, "remote_ca %s: not a readable PEM CA file", r->conf.ca_file);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, r->conf.cert_file) != 1) {
		snprintf(err, errlen, "remote_certificate %s: not a readable PEM certificate",
			 r->conf.cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, r->conf.key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		e = ERR_peek_last_error();
		snprintf(err, errlen,
			 "remote_key %s: not the certificate's key, or encrypted (give an "
			 "unencrypted key for the log connection)%s%s",
			 r->conf.key_file, e ? ": " : "", e ? ERR_reason_error_string(e) : "");
		goto fail;
	}
	r->ctx = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return EINVAL;
}

int log_remote_start(const struct log_remote_conf *c, char *err, size_t errlen)
{
	struct remote *r;
	int rc;

	if (rm)
		log_remote_stop();
	if (!c || !c->host || !c->host[0] || !c->port || !c->ca_file || !c->cert_file ||
	    !c->key_file || !c->queue_dir || c->queue_max < LOG_REMOTE_QUEUE_MIN) {
		snprintf(err, errlen, "remote log: incomplete settings");
		return EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->conf = *c;
	r->fd = -1;
	r->tail_fd = -1;
	r->wake = -1;
	r->warn_limit.per_sec = 1;
	r->warn_limit.what = "remote log";
	snprintf(r->host, sizeof(r->host), "%s", c->host);
	snprintf(r->name, sizeof(r->name), "%s", c->name && c->name[0] ? c->name : c->host);
	snprintf(r->dir, sizeof(r->dir), "%s", c->queue_dir);
	r->conf.host = r->host;
	r->conf.name = r->name;
	r->conf.queue_dir = r->dir;
	r->seg_max = c->queue_max / 8;
	if (gethostname(r->hostname, sizeof(r->hostname) - 1) != 0 || !r->hostname[0])
		snprintf(r->hostname, sizeof(r->hostname), "-");
	for (char *p = r->hostname; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			*p = '_';
	if ((rc = ctx_new(r, err, errlen)) != 0)
		goto fail;
	r->conf.ca_file = r->conf.cert_file = r->conf.key_file = NULL; /* loaded */
	if ((rc = queue_load(r)) != 0) {
		snprintf(err, errlen, "remote_queue %s: %s", r->dir, strerror(rc));
		goto fail;
	}
	r->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake < 0) {
		rc = errno;
		snprintf(err, errlen, "remote log: eventfd: %s", strerror(rc));
		goto fail;
	}
	if (pthread_mutex_init(&r->mu, NULL) != 0) {
		rc = ENOMEM;
		goto fail;
	}
	if ((rc = pthread_create(&r->thread, NULL, sender, r)) != 0) {
		pthread_mutex_destroy(&r->mu);
		snprintf(err, errlen, "remote log: thread: %s", strerror(rc));
		goto fail;
	}
	rm = r;
	return 0;
fail:
	if (r->wake >= 0)
		close(r->wake);
	if (r->tail_fd >= 0)
		close(r->tail_fd);
	SSL_CTX_free(r->ctx);
	free(r);
	return rc;
}

void log_remote_stop(void)
{
	struct remote *r = rm;
	uint64_t one = 1;

	if (!r)
		return;
	rm = NULL;
	r->stop = true;
	if (write(r->wake, &one, sizeof(one)) < 0) {
		/* the sender wakes within a second anyway */
	}
	pthread_join(r->thread, NULL);
	pthread_mutex_lock(&r->mu);
	save_pos(r);
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_destroy(&r->mu);
	close(r->wake);
	if (r->tail_fd >= 0)
		close(r->tail_fd);
	SSL_CTX_free(r->ctx);
	free(r);
}

bool log_remote_running(void)
{
	return rm != NULL;
}

void log_remote_stats(struct log_remote_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!rm)
		return;
	pthread_mutex_lock(&rm->mu);
	*out = rm->st;
	pthread_mutex_unlock(&rm->mu);
}

uint64_t log_remote_take_dropped(void)
{
	uint64_t n = 0;

	if (!rm)
		return 0;
	pthread_mutex_lock(&rm->mu);
	n = rm->st.dropped - rm->dropped_reported;
	rm->dropped_reported = rm->st.dropped;
	pthread_mutex_unlock(&rm->mu);
	return n;
}

void log_remote_send(bool warning, const char *kind, const char *line, size_t len)
{
	char stamp[48], *msg;
	size_t cap, n;
	int k;

	if (!rm)
		return;
	if (len && line[len - 1] == '\n')
		len--;
	cap = len + 512;
	msg = malloc(cap);
	if (!msg) {
		pthread_mutex_lock(&rm->mu);
		rm->st.dropped++;
		pthread_mutex_unlock(&rm->mu);
		return;
	}
	log_stamp_ms(stamp, sizeof(stamp), log_now_ms());
	/* RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG;
	 * facility auth (4), severity warning (4) or notice (5) */
	k = snprintf(msg, cap, "<%d>1 %s %s bastion %d %.32s - ", 4 * 8 + (warning ? 4 : 5), stamp,
		     rm->hostname, (int)getpid(), kind);
	if (k < 0 || (size_t)k + len >= cap) {
		free(msg);
		return;
	}
	n = (size_t)k;
	memcpy(msg + n, line, len);
	n += len;
	enqueue(rm, msg, n);
	free(msg);
}
