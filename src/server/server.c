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

#include "../log/log.h"
#include "../net/net.h"

/* Room for any response we build: the request's Vias and headers are bounded
 * by max_message (<= 65535) and we add a few hundred bytes. */
#define SERVER_OUT_CAP (65536 + 2048)

struct server {
	struct conf conf;
	struct net *net;
	struct sip_hdr *hdrs;          /* conf.lim.max_headers entries */
	uint32_t hdr_cap;
	char *out;
	uint8_t tag_key[16];           /* keys the To-tags of stateless replies */
	struct server_stats stats;
	struct log_limit refusal_log;
};

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
		return (struct server_verdict){ 0, NULL };
	if (m->mid == SIP_M_OTHER)
		return (struct server_verdict){ 501, "Not Implemented" };
	if (m->mid != SIP_M_OPTIONS && m->mid != SIP_M_CANCEL)
		return (struct server_verdict){ 405, "Method Not Allowed" };
	if (m->ruri.scheme == SIP_SCHEME_OTHER)
		return (struct server_verdict){ 416, "Unsupported URI Scheme" };
	if (m->mid == SIP_M_CANCEL)
		return (struct server_verdict){ 481, "Call/Transaction Does Not Exist" };
	if (has_required_extension(m))
		return (struct server_verdict){ 420, "Bad Extension" };
	return (struct server_verdict){ 200, "OK" };
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

static void send_reply(struct server *s, const struct net_msg *in, const struct sip_msg *m,
		       uint16_t status, const char *reason)
{
	char extra_mem[2048], tag[17], host[INET6_ADDRSTRLEN];
	struct sip_buf extra, out;
	struct sip_reply_opts opts = { 0 };
	struct net_addr dst;

	sip_buf_init(&extra, extra_mem, sizeof(extra_mem));
	if (status == 200 || status == 405 || status == 501)
		sip_buf_str(&extra, "Allow: " SERVER_ALLOW "\r\n");
	if (status == 420)
		put_unsupported(&extra, m);
	if (extra.overflow)
		extra.len = 0;

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
	if ((m->have & SIP_HAVE_START) && m->mid == SIP_M_OTHER)
		send_reply(s, in, m, 501, "Not Implemented");
	else
		send_reply(s, in, m, sip_err_status(err), sip_err_reason(err));
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
	if (v.status == 0) {
		s->stats.dropped_ack++;
		return;
	}
	send_reply(s, in, &m, v.status, v.reason);
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

static void apply_conf(struct server *s, const struct conf *c)
{
	s->conf = *c;
	log_set_level((enum log_level)c->log_level);
	s->refusal_log.per_sec = c->refusal_log_rate;
}

int server_new(struct server **sp, const struct conf *c, char *err, size_t errlen)
{
	struct server *s;
	struct net_conf nc;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return ENOMEM;
	s->refusal_log.what = "refusal";
	apply_conf(s, c);
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
	conf_net(c, &nc);
	rc = net_new(&s->net, &nc, on_message, on_stream_error, s);
	if (rc) {
		snprintf(err, errlen, "event loop: %s", strerror(rc));
		goto fail;
	}
	rc = net_listen(s->net, c->listeners, c->nlisteners, err, errlen);
	if (rc)
		goto fail;
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
	if (c.lim.max_headers != s->hdr_cap && alloc_buffers(s, c.lim.max_headers) != 0) {
		log_error("reload refused: out of memory");
		return;
	}
	/* Keep the listeners we actually have open. */
	memcpy(c.listen, s->conf.listen, sizeof(c.listen));
	memcpy(c.listeners, s->conf.listeners, sizeof(c.listeners));
	c.nlisteners = s->conf.nlisteners;
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
