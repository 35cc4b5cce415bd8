/*
 * sip/print.c: writing messages into a bounded buffer: the message as
 * parsed (for forwarding and tests) and a response to a request built the
 * RFC 3261 8.2.6 way, with received/rport (RFC 3261 18.2.1, RFC 3581) on
 * the top Via. Nothing is allocated; an append that does not fit marks the
 * buffer overflowed and later appends do nothing.
 */
#include "internal.h"

#include <errno.h>

/* See sip.h. mem may be NULL when cap is 0. */
void sip_buf_init(struct sip_buf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->len = 0;
	b->cap = mem ? cap : 0;
	b->overflow = false;
}

/* See sip.h. */
void sip_buf_put(struct sip_buf *b, const void *p, size_t n)
{
	if (b->overflow)
		return;
	if (n > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* See sip.h. */
void sip_buf_slice(struct sip_buf *b, struct slice s)
{
	sip_buf_put(b, s.p, s.len);
}

/* See sip.h. */
void sip_buf_u32(struct sip_buf *b, uint32_t v)
{
	char tmp[10];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sip_buf_put(b, tmp + i, sizeof(tmp) - i);
}

static void put_hdr(struct sip_buf *b, struct slice name, struct slice value)
{
	sip_buf_slice(b, name);
	sip_buf_put(b, ": ", 2);
	sip_buf_slice(b, value);
	sip_buf_put(b, "\r\n", 2);
}

/* See sip.h. The header values go out as received (folding included). */
int sip_msg_print(struct sip_buf *b, const struct sip_msg *m)
{
	bool cl_done = false;

	if (m->request) {
		sip_buf_slice(b, m->method);
		sip_buf_put(b, " ", 1);
		sip_buf_slice(b, m->ruri_raw);
		sip_buf_str(b, " SIP/2.0\r\n");
	} else {
		sip_buf_str(b, "SIP/2.0 ");
		sip_buf_u32(b, m->status);
		sip_buf_put(b, " ", 1);
		sip_buf_slice(b, m->reason);
		sip_buf_put(b, "\r\n", 2);
	}
	for (uint32_t k = 0; k < m->nhdrs; k++) {
		const struct sip_hdr *h = &m->hdrs[k];
		if (h->id == SIP_H_CONTENT_LENGTH) {
			if (cl_done)
				continue;
			cl_done = true;
			sip_buf_slice(b, h->name);
			sip_buf_put(b, ": ", 2);
			sip_buf_u32(b, (uint32_t)m->body.len);
			sip_buf_put(b, "\r\n", 2);
			continue;
		}
		put_hdr(b, h->name, h->value);
	}
	if (!cl_done) {
		sip_buf_str(b, "Content-Length: ");
		sip_buf_u32(b, (uint32_t)m->body.len);
		sip_buf_put(b, "\r\n", 2);
	}
	sip_buf_put(b, "\r\n", 2);
	sip_buf_slice(b, m->body);
	return b->overflow ? EOVERFLOW : 0;
}

/* The top via-parm with rport filled in and received added. */
static void put_top_via(struct sip_buf *b, const struct sip_via *via,
			const struct sip_reply_opts *o)
{
	bool fill_rport = o && o->src_ip && via->has_rport && via->rport.len == 0;
	struct slice raw = via->raw;

	if (fill_rport) {
		size_t at = (size_t)(via->rport.p - raw.p);
		sip_buf_put(b, raw.p, at);
		sip_buf_put(b, "=", 1);
		sip_buf_u32(b, o->src_port);
		sip_buf_put(b, raw.p + at, raw.len - at);
	} else {
		sip_buf_slice(b, raw);
	}
	if (o && o->src_ip && !via->has_received &&
	    (via->has_rport || !slice_caseeq(via->host, slice_cstr(o->src_ip)))) {
		sip_buf_str(b, ";received=");
		sip_buf_str(b, o->src_ip);
	}
}

/* See sip.h. Returns EINVAL when req lacks SIP_HAVE_REPLY or status is not
 * 100..699. RFC 3581: with rport, received= is added even when the sent-by
 * host equals the source address. */
int sip_reply_build(struct sip_buf *b, const struct sip_msg *req, uint16_t status,
		    const char *reason, const struct sip_reply_opts *opts)
{
	const struct sip_hdr *h;
	struct slice body = opts ? opts->body : SLICE_NULL;

	if ((req->have & SIP_HAVE_REPLY) != SIP_HAVE_REPLY || status < 100 || status > 699)
		return EINVAL;
	sip_buf_str(b, "SIP/2.0 ");
	sip_buf_u32(b, status);
	sip_buf_put(b, " ", 1);
	sip_buf_str(b, reason);
	sip_buf_put(b, "\r\n", 2);

	for (h = sip_msg_hdr(req, SIP_H_VIA); h; h = sip_msg_hdr_next(req, h)) {
		sip_buf_str(b, "Via: ");
		if (h == sip_msg_hdr(req, SIP_H_VIA)) {
			const char *ve = req->via.raw.p + req->via.raw.len;
			sip_buf_put(b, h->value.p, (size_t)(req->via.raw.p - h->value.p));
			put_top_via(b, &req->via, opts);
			sip_buf_put(b, ve, (size_t)(h->value.p + h->value.len - ve));
		} else {
			sip_buf_slice(b, h->value);
		}
		sip_buf_put(b, "\r\n", 2);
	}
	if ((h = sip_msg_hdr(req, SIP_H_FROM)))
		put_hdr(b, SLICE_LIT("From"), h->value);
	if ((h = sip_msg_hdr(req, SIP_H_TO))) {
		sip_buf_str(b, "To: ");
		sip_buf_slice(b, h->value);
		if (opts && opts->to_tag.len && (req->have & SIP_HAVE_TO) && !req->to.has_tag) {
			sip_buf_str(b, ";tag=");
			sip_buf_slice(b, opts->to_tag);
		}
		sip_buf_put(b, "\r\n", 2);
	}
	put_hdr(b, SLICE_LIT("Call-ID"), req->call_id);
	put_hdr(b, SLICE_LIT("CSeq"), sip_msg_hdr(req, SIP_H_CSEQ)->value);
	if (opts)
		sip_buf_slice(b, opts->extra);
	if (opts && opts->server)
		put_hdr(b, SLICE_LIT("Server"), slice_cstr(opts->server));
	sip_buf_str(b, "Content-Length: ");
	sip_buf_u32(b, (uint32_t)body.len);
	sip_buf_str(b, "\r\n\r\n");
	sip_buf_slice(b, body);
	return b->overflow ? EOVERFLOW : 0;
}
