/*
 * server/register.c: the REGISTER path. Every REGISTER is challenged and
 * verified (guide, Access Control for IPT Clients > Authentication and
 * Authorization: phones authenticate with HTTP digest); the authenticated
 * user must own the address of record it registers (Cookbook: registration
 * cloning; a valid user registering another's AOR is a hijack: 403 and an
 * event); only users in the store exist (guide: Automatic Registration of End
 * Points: none). Unknown users get the same challenge and the same 403 as a
 * wrong password, so SIPVicious svwar cannot enumerate extensions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "internal.h"

/* Does a Supported or Require header of m list option tag `tag`? */
static bool lists_option(const struct sip_msg *m, const char *tag)
{
	static const enum sip_hdr_id ids[] = { SIP_H_SUPPORTED, SIP_H_REQUIRE };

	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		for (const struct sip_hdr *h = sip_msg_hdr(m, ids[i]); h;
		     h = sip_msg_hdr_next(m, h)) {
			struct slice rest = h->value, item;

			while (sip_list_next(&item, &rest) == 0)
				if (slice_caseeq_cstr(item, tag))
					return true;
		}
	}
	return false;
}

/* RFC 5626 6: a 2xx to a REGISTER that asked for outbound and bound a flow
 * (a reg-id) says Require: outbound, and how often to send keep-alives. */
static void outbound_headers(const struct server *s, const struct sip_msg *m,
			     const struct registrar_result *res, struct sip_buf *b)
{
	uint32_t ft = s->conf.flow_timer;

	if (!res->outbound_reg || !lists_option(m, "outbound"))
		return;
	sip_buf_str(b, "Require: outbound\r\n");
	if (ft == 0)
		return;
	if (ft >= s->conf.idle_timeout)
		ft = s->conf.idle_timeout / 2 ? s->conf.idle_timeout / 2 : 1; /* before we cut it */
	sip_buf_str(b, "Flow-Timer: ");
	sip_buf_u32(b, ft);
	sip_buf_str(b, "\r\n");
}

bool server_host_is_ours(const struct server *s, struct slice host)
{
	if (slice_caseeq_cstr(host, s->conf.domain))
		return true;
	for (size_t i = 0; i < s->n_own; i++)
		if (slice_caseeq_cstr(host, s->own_host[i]))
			return true;
	return false;
}

void server_register(struct server *s, const struct server_ctx *x, const struct sip_msg *m)
{
	const struct net_msg *in = x->in;
	struct auth_step v;
	struct registrar_req rq;
	struct registrar_result res;
	const struct sip_uri *to = &m->to.uri;
	char aor[STORE_URI_MAX], contacts[8192];
	struct sip_buf b;
	int n, rc;

	/* RFC 3261 10.3 step 1: a domain we serve. */
	if (!server_host_is_ours(s, m->ruri.host)) {
		server_answer(s, x, m, 403, "Domain Not Served Here", SLICE_NULL);
		return;
	}
	if ((to->scheme != SIP_SCHEME_SIP && to->scheme != SIP_SCHEME_SIPS) || to->user.len == 0 ||
	    !server_host_is_ours(s, to->host)) {
		server_answer(s, x, m, 403, "Address of Record Not Served Here", SLICE_NULL);
		return;
	}
	server_authenticate(s, &v, x, m, false, to->raw);
	if (v.kind != AUTH_STEP_ALLOW) {
		server_auth_refuse(s, x, m, &v, to->raw);
		return;
	}
	server_auth_note(s, x, m, &v, to->raw);
	/* The authenticated user must own the AOR (registration hijacking). */
	if (!slice_eq(v.user, to->user)) {
		server_event(s, "register.hijack", in, m, v.user, to->raw,
			     "authenticated user does not own the address of record", 403);
		server_answer(s, x, m, 403, "Forbidden", SLICE_NULL);
		return;
	}
	n = snprintf(aor, sizeof(aor), "sip:%.*s@%s", (int)to->user.len, to->user.p,
		     s->conf.domain);
	if (n < 0 || (size_t)n >= sizeof(aor)) {
		server_answer(s, x, m, 400, "Address of Record Too Long", SLICE_NULL);
		return;
	}
	rq = (struct registrar_req){ m, slice_make(aor, (size_t)n), v.user_id, in,
				     (int64_t)time(NULL) };
	rc = registrar_register(s->reg, &rq, &res);
	if (rc)
		log_error("registration of %s not stored: %s", aor, strerror(rc));
	sip_buf_init(&b, contacts, sizeof(contacts));
	if (res.status == 200) {
		char warning[300];
		int wn = server_auth_warning(warning, sizeof(warning), s, &v);

		registrar_print_contacts(s->reg, rq.aor, rq.now, &b);
		outbound_headers(s, m, &res, &b);
		if (wn > 0) /* a password rotation's deadline: the phone is told */
			sip_buf_put(&b, warning, (size_t)wn);
		/* a binding added or removed is an event; a refresh of what is
		 * there already (every phone, every few minutes) is not */
		if (res.added || res.removed) /* recorded once the change is durable */
			server_event_durable(s, res.seq, "register.ok", in, m, v.user, rq.aor,
					     res.added && res.removed ? "replaced"
					     : res.added	      ? "registered"
								      : "unregistered",
					     200);
	} else if (res.status == 423) {
		sip_buf_str(&b, "Min-Expires: ");
		sip_buf_u32(&b, res.min_expires);
		sip_buf_str(&b, "\r\n");
	} else if (res.status == 503) {
		sip_buf_str(&b, "Retry-After: 60\r\n");
	}
	/* the 200 goes out once the change is durable (group commit) */
	server_answer_durable(s, x, m, res.status, res.reason,
			      slice_make(b.p, b.overflow ? 0 : b.len), res.seq);
}
