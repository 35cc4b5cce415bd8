/*
 * server: receive, parse, decide, answer, count. See server.h.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "internal.h"

static uint64_t now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* ---- decisions ------------------------------------------------------------ */

static bool has_required_extension(const struct sip_msg *m)
{
	return m->count[SIP_H_REQUIRE] || m->count[SIP_H_PROXY_REQUIRE];
}

struct server_verdict server_decide(const struct sip_msg *m)
{
	if (m->mid == SIP_M_ACK)
		return (struct server_verdict){ 0, NULL, false };
	if (m->mid == SIP_M_OTHER)
		return (struct server_verdict){ 501, "Not Implemented", false };
	if (m->mid != SIP_M_OPTIONS && m->mid != SIP_M_CANCEL && m->mid != SIP_M_REGISTER)
		return (struct server_verdict){ 405, "Method Not Allowed", false };
	if (m->ruri.scheme == SIP_SCHEME_OTHER)
		return (struct server_verdict){ 416, "Unsupported URI Scheme", false };
	if (m->mid == SIP_M_CANCEL)
		return (struct server_verdict){ 481, "Call/Transaction Does Not Exist", false };
	if (has_required_extension(m))
		return (struct server_verdict){ 420, "Bad Extension", false };
	if (m->mid == SIP_M_REGISTER)
		return (struct server_verdict){ 0, NULL, true };
	return (struct server_verdict){ 200, "OK", false };
}

/* ---- replies -------------------------------------------------------------- */

/* A To-tag that is the same for retransmissions of one request (RFC 3261
 * 8.2.6.2) and unpredictable across requests: a keyed FNV-1a over Call-ID,
 * From-tag and branch. Not a MAC; it only has to be stable and unique. */
static void make_tag(const struct server *s, const struct sip_msg *m, char out[17])
{
	uint64_t h = 1469598103934665603ull;
	const struct slice parts[] = { m->call_id, m->from.tag, m->via.branch };

	for (size_t i = 0; i < sizeof(s->tag_key); i++)
		h = (h ^ s->tag_key[i]) * 1099511628211ull;
	for (size_t k = 0; k < ARRAY_SIZE(parts); k++) {
		for (size_t i = 0; i < parts[k].len; i++)
			h = (h ^ (unsigned char)parts[k].p[i]) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Where a UDP response goes (RFC 3261 18.2.2 with RFC 3581): always the
 * packet's source address (we never follow maddr or the sent-by host, which
 * would let a forged Via aim our replies at a third party); the source port
 * when the client asked with rport, else the sent-by port or 5060. */
static void reply_destination(const struct net_msg *in, const struct sip_msg *m,
			      struct net_addr *dst)
{
	uint16_t port = m->via.has_rport ? net_addr_port(&in->src)
					 : (m->via.has_port ? m->via.port : 5060);

	*dst = in->src;
	if (dst->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&dst->ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&dst->ss)->sin_port = htons(port);
}

/* Unsupported: every option of Require and Proxy-Require (we support none). */
static void put_unsupported(struct sip_buf *b, const struct sip_msg *m)
{
	const enum sip_hdr_id ids[] = { SIP_H_REQUIRE, SIP_H_PROXY_REQUIRE };
	bool first = true;

	sip_buf_str(b, "Unsupported: ");
	for (size_t k = 0; k < ARRAY_SIZE(ids); k++) {
		for (const struct sip_hdr *h = sip_msg_hdr(m, ids[k]); h; h = sip_msg_hdr_next(m, h)) {
			struct slice rest = h->value, item;
			while (sip_list_next(&item, &rest) == 0) {
				if (!first)
					sip_buf_str(b, ", ");
				sip_buf_slice(b, item);
				first = false;
			}
		}
	}
	sip_buf_str(b, "\r\n");
}

void server_reply(struct server *s, const struct net_msg *in, const struct sip_msg *m,
		  uint16_t status, const char *reason, struct slice more)
{
	char extra_mem[8192], tag[17], host[INET6_ADDRSTRLEN];
	struct sip_buf extra, out;
	struct sip_reply_opts opts = { 0 };
	struct net_addr dst;

	sip_buf_init(&extra, extra_mem, sizeof(extra_mem));
	if (status == 200 || status == 405 || status == 501)
		sip_buf_str(&extra, "Allow: " SERVER_ALLOW "\r\n");
	if (status == 420)
		put_unsupported(&extra, m);
	sip_buf_slice(&extra, more);
	if (extra.overflow) {
		log_warn("response %u: extra headers over %zu bytes; not sent", status,
			 sizeof(extra_mem));
		return;
	}

	net_addr_host(&in->src, host, sizeof(host));
	make_tag(s, m, tag);
	opts.to_tag = slice_cstr(tag);
	opts.src_ip = host;
	opts.src_port = net_addr_port(&in->src);
	opts.server = s->conf.server_header[0] ? s->conf.server_header : NULL;
	opts.extra = slice_make(extra.p, extra.len);

	sip_buf_init(&out, s->out, SERVER_OUT_CAP);
	if (sip_reply_build(&out, m, status, reason, &opts) != 0 || out.overflow) {
		log_warn("response %u did not fit in %d bytes; not sent", status, SERVER_OUT_CAP);
		return;
	}
	reply_destination(in, m, &dst);
	if (net_send(s->net, in, &dst, out.p, out.len) == 0)
		s->stats.answered[status / 100 <= 6 ? status / 100 : 0]++;
}

static void log_refusal(struct server *s, const struct net_msg *in, const char *what,
			const struct sip_msg *m)
{
	char from[80], callid[80];

	if (!log_limit_allow(&s->refusal_log, now_seconds()))
		return;
	net_addr_fmt(from, sizeof(from), in->tp, &in->src);
	slice_repr(callid, sizeof(callid), (m->have & SIP_HAVE_CALL_ID) ? m->call_id : SLICE_NULL,
		   40);
	log_info("%s from %s (%s, offset %zu, call-id \"%s\")", what, from,
		 m->err ? sip_err_name(m->err) : "-", m->err_offset, callid);
}

/* A message that failed to parse, or exceeded a limit before parsing: answer
 * it when it is a request we can route a response for, else drop it. */
static void refuse(struct server *s, const struct net_msg *in, const struct sip_msg *m,
		   enum sip_err err)
{
	bool answerable = m->request && (m->have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY &&
			  m->mid != SIP_M_ACK;

	if (!answerable) {
		s->stats.dropped_malformed++;
		log_refusal(s, in, "dropped malformed message", m);
		return;
	}
	s->stats.refused[err]++;
	log_refusal(s, in, "refused malformed request", m);
	/* RFC 3261 8.2.1 inspects the method before anything else: an unknown
	 * method is 501 however the rest is written (RFC 4475 3.1.1.2, 3.1.2.18). */
	if (m->method.len && m->err != SIP_E_METHOD && m->mid == SIP_M_OTHER)
		server_reply(s, in, m, 501, "Not Implemented", SLICE_NULL);
	else
		server_reply(s, in, m, sip_err_status(err), sip_err_reason(err), SLICE_NULL);
}

static void on_message(void *arg, const struct net_msg *in)
{
	struct server *s = arg;
	struct sip_msg m;
	struct server_verdict v;
	int rc;

	s->stats.received++;
	rc = sip_msg_parse(&m, s->hdrs, s->hdr_cap, in->buf, in->len, in->tp != NET_UDP,
			   &s->conf.lim);
	if (in->truncated) {
		refuse(s, in, &m, SIP_E_MESSAGE_TOO_LARGE);
		return;
	}
	if (rc != 0) {
		refuse(s, in, &m, m.err);
		return;
	}
	if (!m.request) {
		/* No transactions yet: every response is stray (RFC 3261 18.1.2). */
		s->stats.dropped_responses++;
		return;
	}
	v = server_decide(&m);
	if (v.register_) {
		server_register(s, in, &m);
		return;
	}
	if (v.status == 0) {
		s->stats.dropped_ack++;
		return;
	}
	server_reply(s, in, &m, v.status, v.reason, SLICE_NULL);
}

/* A stream that cannot be framed: answer when the header section is readable
 * (e.g. 400 for a missing Content-Length), then net/ closes the connection. */
static void on_stream_error(void *arg, const struct net_msg *in, enum sip_err err)
{
	struct server *s = arg;
	struct sip_msg m;

	s->stats.received++;
	(void)sip_msg_parse(&m, s->hdrs, s->hdr_cap, in->buf, in->len, false, &s->conf.lim);
	refuse(s, in, &m, err);
}

/* ---- life cycle ------------------------------------------------------------- */

static int alloc_buffers(struct server *s, uint32_t max_headers)
{
	struct sip_hdr *h = calloc(max_headers, sizeof(*h));

	if (!h)
		return ENOMEM;
	free(s->hdrs);
	s->hdrs = h;
	s->hdr_cap = max_headers;
	return 0;
}

static void registrar_conf_of(const struct conf *c, struct registrar_conf *rc)
{
	rc->min_expires = c->min_expires;
	rc->max_expires = c->max_expires;
	rc->default_expires = c->default_expires;
	rc->max_contacts = c->max_contacts;
	rc->max_bindings = c->max_bindings;
}

static void apply_conf(struct server *s, const struct conf *c)
{
	int algos[2];
	size_t n = conf_algorithms(c, algos, 2);

	s->conf = *c;
	log_set_level((enum log_level)c->log_level);
	s->refusal_log.per_sec = c->refusal_log_rate;
	snprintf(s->realm, sizeof(s->realm), "%s", s->conf.realm[0] ? s->conf.realm : s->conf.domain);
	s->auth.realm = slice_cstr(s->realm);
	s->auth.nonce_lifetime_s = c->nonce_lifetime;
	s->auth.uri_mode = c->uri_check == CONF_URI_RELAXED ? AUTH_URI_RELAXED : AUTH_URI_STRICT;
	s->auth.algos = 0;
	for (size_t i = 0; i < n; i++)
		s->auth.algos |= AUTH_ALGO_BIT((enum auth_algo)algos[i]);
	if (s->reg) {
		struct registrar_conf rc;
		registrar_conf_of(c, &rc);
		registrar_set_conf(s->reg, &rc);
	}
}

/* The addresses this server listens on, as host and host:port. */
static void own_addresses(struct server *s)
{
	s->n_own = 0;
	for (size_t i = 0; i < s->conf.nlisteners; i++) {
		const struct net_addr *a = &s->conf.listeners[i].addr;
		char h[INET6_ADDRSTRLEN], *hp = s->own_hostport[s->n_own];
		bool dup = false;

		net_addr_host(a, h, sizeof(h));
		memcpy(s->own_host[s->n_own], h, sizeof(h));
		if (a->ss.ss_family == AF_INET6)
			snprintf(hp, INET6_ADDRSTRLEN + 8, "[%s]:%u", h, net_addr_port(a));
		else
			snprintf(hp, INET6_ADDRSTRLEN + 8, "%s:%u", h, net_addr_port(a));
		for (size_t k = 0; k < s->n_own; k++)
			dup |= strcmp(s->own_hostport[k], hp) == 0;
		if (dup)
			continue;
		s->own_slices[s->n_own] = slice_cstr(hp);
		s->n_own++;
	}
	s->auth.own_addrs = s->own_slices;
	s->auth.n_own_addrs = s->n_own;
}

/* Periodic work: pick up user changes made by the CLI (within a second), and
 * expire bindings once a second. */
static void on_tick(void *arg, uint64_t now_ms)
{
	struct server *s = arg;
	bool reloaded = false;
	int rc = store_cache_refresh(s->cache, s->store, &reloaded);

	if (rc)
		log_warn("user cache refresh failed: %s", strerror(rc));
	else if (reloaded)
		log_info("users reloaded from the store: %zu", store_cache_count(s->cache));
	if (now_ms >= s->next_expiry_ms) {
		size_t n = registrar_expire(s->reg, (int64_t)time(NULL));
		if (n)
			log_debug("%zu bindings expired", n);
		s->next_expiry_ms = now_ms + 1000;
	}
}

/*
 * The key nonces are made with in this run: HMAC-SHA256(stored key, fresh
 * random bytes). A nonce from before a restart then fails verification and
 * gets a fresh challenge: its nonce-counts were never seen by this run's
 * replay table, so accepting it could accept a replay.
 */
static int run_key(uint8_t key[AUTH_KEY_LEN])
{
	uint8_t salt[16], out[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    !HMAC(EVP_sha256(), key, AUTH_KEY_LEN, salt, sizeof(salt), out, &len) ||
	    len < AUTH_KEY_LEN)
		return EIO;
	memcpy(key, out, AUTH_KEY_LEN);
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

/* Open what lives in the state directory: store, key, cache, bindings. */
static int open_state(struct server *s, const struct conf *c, char *err, size_t errlen)
{
	char path[1100];
	struct registrar_conf rc;
	size_t n;
	int e;

	if ((e = conf_state_path(path, sizeof(path), s->state, c->security_log)) != 0 ||
	    (e = log_events_open(path, c->syslog == CONF_YES)) != 0) {
		snprintf(err, errlen, "%s: cannot open the security log: %s", path, strerror(e));
		return e;
	}
	/* An empty cdr_log keeps the records in the database only. */
	path[0] = '\0';
	if ((c->cdr_log[0] &&
	     (e = conf_state_path(path, sizeof(path), s->state, c->cdr_log)) != 0) ||
	    (e = log_cdr_open(path)) != 0) {
		snprintf(err, errlen, "%s: cannot open the CDR log: %s", path, strerror(e));
		return e;
	}
	if ((e = conf_state_path(path, sizeof(path), s->state, STATE_KEY_FILE)) != 0 ||
	    (e = auth_key_load(s->key, path)) != 0) {
		snprintf(err, errlen,
			 "%s: cannot load the nonce key (%s); a state made by 'bastion init' has one",
			 path, strerror(e));
		return e;
	}
	if ((e = run_key(s->key)) != 0) {
		snprintf(err, errlen, "deriving the nonce key: %s", strerror(e));
		return e;
	}
	s->auth.key = s->key;
	/* Nonces of this run only (see run_key): none is older than this second. */
	if ((e = auth_nc_table_new(&s->nc, c->nonce_table_size, (uint64_t)time(NULL) - 1)) != 0) {
		snprintf(err, errlen, "nonce table: %s", strerror(e));
		return e;
	}
	s->auth.nc = s->nc;
	if ((e = conf_state_path(path, sizeof(path), s->state, c->database)) != 0 ||
	    (e = store_open(&s->store, path, err, errlen)) != 0)
		return e;
	if ((e = store_cache_new(&s->cache, 10000000)) != 0 ||
	    (e = store_cache_refresh(s->cache, s->store, NULL)) != 0) {
		snprintf(err, errlen, "loading users: %s", strerror(e));
		return e;
	}
	registrar_conf_of(c, &rc);
	if ((e = registrar_new(&s->reg, &rc, s->store)) != 0 ||
	    (e = registrar_restore(s->reg, (int64_t)time(NULL), &n)) != 0) {
		snprintf(err, errlen, "restoring registrations: %s", strerror(e));
		return e;
	}
	log_info("%zu users, %zu registrations restored", store_cache_count(s->cache), n);
	return 0;
}

int server_new(struct server **sp, const struct conf *c, const char *state, char *err,
	       size_t errlen)
{
	struct server *s;
	struct net_conf nc;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	snprintf(s->state, sizeof(s->state), "%s", state);
	s->refusal_log.what = "refusal";
	apply_conf(s, c);
	own_addresses(s);
	s->out = malloc(SERVER_OUT_CAP);
	if (!s->out || alloc_buffers(s, c->lim.max_headers) != 0) {
		rc = ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (getrandom(s->tag_key, sizeof(s->tag_key), 0) != (ssize_t)sizeof(s->tag_key)) {
		rc = errno ? errno : EIO;
		snprintf(err, errlen, "getrandom: %s", strerror(rc));
		goto fail;
	}
	if ((rc = open_state(s, c, err, errlen)) != 0)
		goto fail;
	conf_net(c, &nc);
	rc = net_new(&s->net, &nc, on_message, on_stream_error, s);
	if (rc) {
		snprintf(err, errlen, "event loop: %s", strerror(rc));
		goto fail;
	}
	rc = net_listen(s->net, c->listeners, c->nlisteners, err, errlen);
	if (rc)
		goto fail;
	net_set_tick(s->net, on_tick, s, 200);
	*sp = s;
	return 0;
fail:
	server_free(&s);
	return rc;
}

void server_free(struct server **sp)
{
	struct server *s = *sp;

	if (!s)
		return;
	net_free(&s->net);
	registrar_free(&s->reg);
	store_cache_free(&s->cache);
	store_close(&s->store);
	auth_nc_table_free(&s->nc);
	OPENSSL_cleanse(s->key, sizeof(s->key));
	log_events_close();
	log_cdr_close();
	free(s->hdrs);
	free(s->out);
	free(s);
	*sp = NULL;
}

static void reload(struct server *s, const char *conf_path)
{
	struct conf c;
	struct net_conf nc;
	char err[600];

	if (conf_load(&c, conf_path, err, sizeof(err)) != 0) {
		log_error("reload refused, keeping the running configuration: %s", err);
		return;
	}
	if (strcmp(c.listen, s->conf.listen) != 0)
		log_warn("reload: listen changed; the new listeners need a restart");
	if (strcmp(c.database, s->conf.database) != 0 ||
	    c.nonce_table_size != s->conf.nonce_table_size)
		log_warn("reload: database and nonce_table_size changes need a restart");
	if (c.lim.max_headers != s->hdr_cap && alloc_buffers(s, c.lim.max_headers) != 0) {
		log_error("reload refused: out of memory");
		return;
	}
	/* Keep what only a restart changes. */
	memcpy(c.listen, s->conf.listen, sizeof(c.listen));
	memcpy(c.listeners, s->conf.listeners, sizeof(c.listeners));
	c.nlisteners = s->conf.nlisteners;
	memcpy(c.database, s->conf.database, sizeof(c.database));
	c.nonce_table_size = s->conf.nonce_table_size;
	/* Reopen the security log (its path may have changed; logrotate moves
	 * the file and sends SIGHUP). A failure keeps the old one. */
	{
		char path[1100];
		int e = conf_state_path(path, sizeof(path), s->state, c.security_log);
		if (e == 0)
			e = log_events_reopen(path, c.syslog == CONF_YES);
		if (e)
			log_error("reload: security log %s not reopened: %s", path, strerror(e));
		path[0] = '\0';
		e = c.cdr_log[0] ? conf_state_path(path, sizeof(path), s->state, c.cdr_log) : 0;
		if (e == 0)
			e = log_cdr_reopen(path);
		if (e)
			log_error("reload: CDR log %s not reopened: %s", path, strerror(e));
	}
	apply_conf(s, &c);
	conf_net(&c, &nc);
	net_set_conf(s->net, &nc);
	log_info("configuration reloaded from %s", conf_path);
}

int server_run(struct server *s, const char *conf_path, volatile sig_atomic_t *stop,
	       volatile sig_atomic_t *reload_flag)
{
	int rc = 0;

	while (!*stop) {
		rc = net_run(s->net, stop, reload_flag);
		if (rc)
			break;
		if (*reload_flag) {
			*reload_flag = 0;
			reload(s, conf_path);
		}
	}
	return rc;
}

void server_get_stats(const struct server *s, struct server_stats *out)
{
	*out = s->stats;
}
