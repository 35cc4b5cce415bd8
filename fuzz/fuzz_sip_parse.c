/*
 * fuzz_sip_parse: libFuzzer harness for the sip layer. Each input goes
 * through sip_msg_parse (datagram and stream, default and tiny limits) and
 * sip_frame; a parsed message then has every Via and Contact value, its
 * auth parameters and its URIs decoded, and is printed and answered into
 * bounded buffers, which are parsed again.
 */
#include "sip/sip.h"

#include <errno.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every slice of a parsed message lies inside the bytes it came from. */
static void check_inside(const struct sip_msg *m, const char *buf, size_t size)
{
	const char *end = buf + size;

	if (m->raw.p < buf || m->raw.p + m->raw.len > end)
		abort();
	if (m->body.len && (m->body.p < m->raw.p || m->body.p + m->body.len > m->raw.p + m->raw.len))
		abort();
	for (uint32_t k = 0; k < m->nhdrs; k++) {
		struct slice v = m->hdrs[k].value;
		if (v.len && (v.p < m->raw.p || v.p + v.len > m->raw.p + m->raw.len))
			abort();
	}
}

static void exercise(const struct sip_msg *m, const struct sip_limits *lim, bool parsed)
{
	static char out[70000];
	struct sip_hdr hdrs2[100];
	struct sip_msg m2;
	struct sip_buf b;
	struct slice v;

	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_VIA); h; h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value;
		struct sip_via via;
		while (sip_via_next(&via, &rest, lim) == 0)
			(void)sip_param_get(via.params, "branch", &v);
	}
	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_CONTACT); h; h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value;
		struct sip_contact c;
		while (sip_contact_next(&c, &rest, lim) == 0)
			(void)sip_param_get(c.na.uri.params, "transport", &v);
	}
	for (const struct sip_hdr *h = sip_msg_hdr(m, SIP_H_ROUTE); h; h = sip_msg_hdr_next(m, h)) {
		struct slice rest = h->value, item;
		struct sip_nameaddr na;
		enum sip_err e;
		while (sip_list_next(&item, &rest) == 0)
			(void)sip_nameaddr_parse(&na, item, lim, &e);
	}
	static const enum sip_hdr_id auth[] = { SIP_H_AUTHORIZATION, SIP_H_PROXY_AUTHORIZATION,
						SIP_H_WWW_AUTHENTICATE, SIP_H_PROXY_AUTHENTICATE };
	for (size_t k = 0; k < ARRAY_SIZE(auth); k++) {
		const struct sip_hdr *h = sip_msg_hdr(m, auth[k]);
		struct sip_auth a;
		if (h && sip_auth_parse(&a, h->value) == 0) {
			(void)sip_auth_param(&a, "nonce", &v);
			(void)sip_auth_param(&a, "response", &v);
		}
	}
	(void)sip_param_get(m->ruri.params, "lr", &v);

	sip_buf_init(&b, out, sizeof(out));
	if (parsed && sip_msg_print(&b, m) == 0 && m->request) {
		if (sip_msg_parse(&m2, hdrs2, 100, b.p, b.len, true, lim) == 0)
			if (m2.nhdrs != m->nhdrs && m->count[SIP_H_CONTENT_LENGTH] > 0)
				abort();
	}
	if ((m->have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY) {
		struct sip_reply_opts o = { .to_tag = SLICE_LIT("abc"), .src_ip = "192.0.2.1",
					    .src_port = 5060, .server = "Bastion",
					    .extra = SLICE_LIT("Allow: INVITE\r\n") };
		sip_buf_init(&b, out, 512);
		(void)sip_reply_build(&b, m, 400, sip_err_reason(m->err), &o);
		sip_buf_init(&b, out, sizeof(out));
		/* a reply to a usable request is itself well formed (From and To
		 * are echoed as received, so only when both parsed) */
		if (sip_reply_build(&b, m, 400, "Bad Request", &o) == 0 &&
		    (m->have & (SIP_HAVE_FROM | SIP_HAVE_TO)) == (SIP_HAVE_FROM | SIP_HAVE_TO) &&
		    sip_msg_parse(&m2, hdrs2, 100, b.p, b.len, true, NULL) == EBADMSG)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_hdr hdrs[200];
	struct sip_limits def = SIP_LIMITS_DEFAULT;
	struct sip_limits tiny = { .max_message = 300, .max_headers = 8, .max_header_line = 80,
				   .max_uri = 40, .max_body = 50 };
	struct sip_msg m;
	char *buf = malloc(size ? size : 1);
	size_t skip, mlen;
	enum sip_err e;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	if (sip_msg_parse(&m, hdrs, 100, buf, size, false, &def) == 0) {
		check_inside(&m, buf, size);
		exercise(&m, &def, true);
	} else if ((m.have & SIP_HAVE_REPLY) == SIP_HAVE_REPLY && m.request) {
		exercise(&m, &def, false); /* the 400 path */
	}
	if (sip_msg_parse(&m, hdrs, tiny.max_headers, buf, size, false, &tiny) == 0)
		exercise(&m, &tiny, true);
	int rc = sip_frame(buf, size, &def, &skip, &mlen, &e);
	if (rc == 0) {
		if (skip + mlen > size)
			abort();
		if (sip_msg_parse(&m, hdrs, 100, buf + skip, mlen, true, &def) == 0)
			exercise(&m, &def, true);
	}
	(void)sip_frame(buf, size, &tiny, &skip, &mlen, &e);
	free(buf);
	return 0;
}
