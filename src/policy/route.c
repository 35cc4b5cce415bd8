/*
 * policy/route.c: where a new request goes (RFC 3261 8.2 and 16.3): which
 * methods this server answers itself, which go to the registrar and which to
 * the proxy, and the refusals before either (an unknown or unsupported
 * method, a Request-URI scheme we do not serve, an extension we were
 * required to support). Pure: a function of the parsed request alone.
 */
#include "policy.h"

bool policy_request_is_ours(const struct sip_msg *m)
{
	/* OPTIONS outside a dialog is for this server (keep-alive pings) */
	return m->mid == SIP_M_REGISTER || (m->mid == SIP_M_OPTIONS && !m->to.has_tag);
}

/* We support no extension. As the target of a request (REGISTER, OPTIONS)
 * Require and Proxy-Require both apply; as a proxy only Proxy-Require does,
 * Require is for the far end (RFC 3261 16.3 step 2). */
static bool has_required_extension(const struct sip_msg *m, bool as_proxy)
{
	return m->count[SIP_H_PROXY_REQUIRE] || (!as_proxy && m->count[SIP_H_REQUIRE]);
}

static void answer(struct policy_route *r, uint16_t status, const char *reason)
{
	*r = (struct policy_route){ status, reason, false, false };
}

void policy_route(struct policy_route *r, const struct sip_msg *m)
{
	bool ours;

	answer(r, 0, NULL);
	switch (m->mid) {
	case SIP_M_ACK:
		return; /* an ACK never gets a response */
	case SIP_M_OTHER:
		answer(r, 501, "Not Implemented");
		return;
	case SIP_M_PUBLISH:
		answer(r, 405, "Method Not Allowed");
		return;
	default:
		break;
	}
	if (m->ruri.scheme == SIP_SCHEME_OTHER) {
		answer(r, 416, "Unsupported URI Scheme");
		return;
	}
	if (m->mid == SIP_M_CANCEL) { /* a matching CANCEL never gets here (txn/) */
		answer(r, 481, "Call/Transaction Does Not Exist");
		return;
	}
	ours = policy_request_is_ours(m);
	if (has_required_extension(m, !ours))
		answer(r, 420, "Bad Extension");
	else if (m->mid == SIP_M_REGISTER)
		r->registrar = true;
	else if (ours)
		answer(r, 200, "OK");
	else
		r->proxy = true;
}
