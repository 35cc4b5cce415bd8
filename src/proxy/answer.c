/*
 * proxy/answer.c: the responses the server writes itself to a request it
 * does not forward (RFC 3261 8.2: 405, 416, 420, 481, 501, the 200 to
 * OPTIONS, the registrar's answers, the refusals before a call is
 * proxied), as bytes: the headers the status needs (Allow, Unsupported)
 * and a To-tag of ours. Pure: no I/O, no allocation; the caller sends.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>

#include "../policy/policy.h"

/* A To-tag that is the same for retransmissions of one request (RFC 3261
 * 8.2.6.2) and unpredictable across requests: SipHash under the server's
 * key over Call-ID, From-tag and branch, each with its length. */
static void make_tag(const struct hash_key *k, const struct sip_msg *m, char out[17])
{
	const struct slice parts[] = { m->call_id, m->from.tag, m->via.branch };

	hash_parts_hex(k, parts, ARRAY_SIZE(parts), out);
}

/* Unsupported: every option we were required to support (we support none):
 * Proxy-Require, and Require when the request was for us. */
static void put_unsupported(struct sip_buf *b, const struct sip_msg *m)
{
	bool ours = policy_request_is_ours(m);
	const enum sip_hdr_id ids[] = { ours ? SIP_H_REQUIRE : SIP_H_PROXY_REQUIRE,
					SIP_H_PROXY_REQUIRE };
	bool first = true;

	sip_buf_str(b, "Unsupported: ");
	for (size_t k = 0; k < (ours ? 2u : 1u); k++) {
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

int proxy_build_answer(struct sip_buf *b, struct proxy_answer_tag *tag, const struct sip_msg *m,
		       const struct proxy_answer *a)
{
	char extra_mem[PROXY_ANSWER_EXTRA_MAX], host[INET6_ADDRSTRLEN];
	struct sip_buf extra;
	struct sip_reply_opts opts = { 0 };
	int rc;

	sip_buf_init(&extra, extra_mem, sizeof(extra_mem));
	if (a->status == 405 || a->status == 501 || (a->status == 200 && m->mid == SIP_M_OPTIONS))
		sip_buf_str(&extra, "Allow: " POLICY_ALLOW "\r\n");
	if (a->status == 420)
		put_unsupported(&extra, m);
	sip_buf_slice(&extra, a->more);
	if (extra.overflow)
		return EMSGSIZE;

	net_addr_host(a->src, host, sizeof(host));
	make_tag(a->tag_key, m, tag->ours);
	opts.to_tag = a->status > 100 ? slice_cstr(tag->ours) : SLICE_NULL;
	opts.src_ip = host;
	opts.src_port = net_addr_port(a->src);
	opts.server = a->server;
	opts.extra = slice_make(extra.p, extra.len);
	if ((rc = sip_reply_build(b, m, a->status, a->reason, &opts)) != 0)
		return rc;
	if (b->overflow)
		return EOVERFLOW;
	/* the To tag the reply carries: the request's, else ours */
	tag->to_tag = m->to.has_tag ? m->to.tag : opts.to_tag;
	return 0;
}
