/*
 * proxy/forward.c: the forwarded request and response, as bytes (RFC 3261
 * 16.6 and 16.7). Pure functions of the parsed message and a description of
 * the changes; nothing here decides anything.
 */
#include "proxy.h"

#include <errno.h>
#include <stdio.h>

static bool drops(const struct sip_hdr *h, uint32_t i, const struct proxy_fwd *f)
{
	switch (h->id) {
	case SIP_H_MAX_FORWARDS:
	case SIP_H_CONTENT_LENGTH:
		return true; /* rewritten */
	case SIP_H_CONTENT_TYPE:
	case SIP_H_CONTENT_ENCODING:
		return f->replace_body;
	case SIP_H_OTHER:
		/* the phone's own location claims give way to ours */
		return f->replace_body && (slice_caseeq_cstr(h->name, "Geolocation") ||
					   slice_caseeq_cstr(h->name, "Geolocation-Routing"));
	case SIP_H_P_ASSERTED_IDENTITY:
	case SIP_H_P_PREFERRED_IDENTITY:
	case SIP_H_REMOTE_PARTY_ID:
		return f->strip_identity;
	case SIP_H_PROXY_AUTHORIZATION: {
		struct sip_auth a;
		struct slice realm;
		/* credentials meant for us were consumed here (22.3); others go on */
		if (f->drop_credentials_realm.len && f->credentials_hdr == i + 1)
			return true; /* authentication parsed it: ours */
		return f->drop_credentials_realm.len && sip_auth_parse(&a, h->value) == 0 &&
		       sip_auth_param(&a, "realm", &realm) &&
		       slice_eq(realm, f->drop_credentials_realm);
	}
	default:
		return false;
	}
}

static void put_line(struct sip_buf *b, const char *name, struct slice value)
{
	sip_buf_str(b, name);
	sip_buf_str(b, ": ");
	sip_buf_slice(b, value);
	sip_buf_str(b, "\r\n");
}

/* Route values after the first `skip` (which name us), one per line. */
static void put_routes(struct sip_buf *b, const struct sip_hdr *h, uint32_t *skip)
{
	struct slice rest = h->value, item;

	while (sip_list_next(&item, &rest) == 0) {
		if (*skip) {
			(*skip)--;
			continue;
		}
		put_line(b, "Route", item);
	}
}

/* CSeq with delta added to its number (RFC 3261 8.1.3.5: a request
 * resubmitted with credentials takes the next number; the dialog's later
 * requests and their responses are shifted by the same). */
static void put_cseq(struct sip_buf *b, const struct sip_msg *m, int32_t delta)
{
	sip_buf_str(b, "CSeq: ");
	sip_buf_u32(b, (uint32_t)((int64_t)m->cseq.num + delta));
	sip_buf_str(b, " ");
	sip_buf_slice(b, m->cseq.method);
	sip_buf_str(b, "\r\n");
}

int proxy_build_request(struct sip_buf *b, const struct sip_msg *m, const struct proxy_fwd *f)
{
	bool rr_done = f->record_route.len == 0;
	uint32_t skip = f->skip_routes;

	sip_buf_slice(b, m->method);
	sip_buf_str(b, " ");
	sip_buf_slice(b, f->ruri.len ? f->ruri : m->ruri_raw);
	sip_buf_str(b, " SIP/2.0\r\n");
	put_line(b, "Via", f->via);
	sip_buf_str(b, "Max-Forwards: ");
	sip_buf_u32(b, f->max_forwards);
	sip_buf_str(b, "\r\n");
	for (uint32_t i = 0; i < m->nhdrs; i++) {
		const struct sip_hdr *h = &m->hdrs[i];

		if (drops(h, i, f))
			continue;
		if (h->id == SIP_H_RECORD_ROUTE && !rr_done) {
			sip_buf_slice(b, f->record_route);
			rr_done = true;
		}
		if (h->id == SIP_H_ROUTE) {
			put_routes(b, h, &skip);
			continue;
		}
		if (h->id == SIP_H_CSEQ && f->cseq_delta && (m->have & SIP_HAVE_CSEQ)) {
			put_cseq(b, m, f->cseq_delta);
			continue;
		}
		sip_buf_slice(b, h->name);
		sip_buf_str(b, ": ");
		sip_buf_slice(b, h->value);
		sip_buf_str(b, "\r\n");
	}
	if (!rr_done)
		sip_buf_slice(b, f->record_route);
	sip_buf_slice(b, f->extra);
	if (f->replace_body)
		put_line(b, "Content-Type", f->content_type);
	sip_buf_str(b, "Content-Length: ");
	sip_buf_u32(b, (uint32_t)(f->replace_body ? f->body.len : m->body.len));
	sip_buf_str(b, "\r\n\r\n");
	sip_buf_slice(b, f->replace_body ? f->body : m->body);
	return b->overflow ? EOVERFLOW : 0;
}

int proxy_build_response(struct sip_buf *b, const struct sip_msg *m)
{
	return proxy_build_response_cseq(b, m, 0);
}

int proxy_build_response_cseq(struct sip_buf *b, const struct sip_msg *m, int32_t cseq_delta)
{
	const struct sip_hdr *top = sip_msg_hdr(m, SIP_H_VIA);
	size_t vias_left = 0;

	if (!top || !(m->have & SIP_HAVE_VIA))
		return EPROTO;
	sip_buf_str(b, "SIP/2.0 ");
	sip_buf_u32(b, m->status);
	sip_buf_str(b, " ");
	sip_buf_slice(b, m->reason);
	sip_buf_str(b, "\r\n");
	for (uint32_t i = 0; i < m->nhdrs; i++) {
		const struct sip_hdr *h = &m->hdrs[i];

		if (h->id == SIP_H_CONTENT_LENGTH)
			continue;
		if (h == top) {
			/* drop the first via-parm; keep the rest of this line */
			struct slice rest = h->value, item;
			bool first = true;
			(void)sip_list_next(&item, &rest);
			while (sip_list_next(&item, &rest) == 0) {
				vias_left++;
				sip_buf_str(b, first ? "Via: " : ", ");
				sip_buf_slice(b, item);
				first = false;
			}
			if (!first)
				sip_buf_str(b, "\r\n");
			continue;
		}
		vias_left += h->id == SIP_H_VIA;
		if (h->id == SIP_H_CSEQ && cseq_delta && (m->have & SIP_HAVE_CSEQ)) {
			put_cseq(b, m, cseq_delta);
			continue;
		}
		sip_buf_slice(b, h->name);
		sip_buf_str(b, ": ");
		sip_buf_slice(b, h->value);
		sip_buf_str(b, "\r\n");
	}
	if (vias_left == 0)
		return EPROTO; /* only our Via: nobody upstream to send it to */
	sip_buf_str(b, "Content-Length: ");
	sip_buf_u32(b, (uint32_t)m->body.len);
	sip_buf_str(b, "\r\n\r\n");
	sip_buf_slice(b, m->body);
	return b->overflow ? EOVERFLOW : 0;
}

void proxy_loop_hash(const struct hash_key *k, const struct sip_msg *m, char out[17])
{
	const struct sip_hdr *route = sip_msg_hdr(m, SIP_H_ROUTE);
	const struct sip_hdr *preq = sip_msg_hdr(m, SIP_H_PROXY_REQUIRE);
	uint32_t cseq = m->cseq.num; /* as bytes: the key is ours, the order fixed */
	const struct slice parts[] = {
		m->ruri_raw, m->from.tag, m->call_id, slice_make((const char *)&cseq, sizeof(cseq)),
		m->via.raw, route ? route->value : SLICE_NULL, preq ? preq->value : SLICE_NULL,
		m->to.tag,
	};

	hash_parts_hex(k, parts, ARRAY_SIZE(parts), out);
}
