/*
 * policy/transport.c: which hops a request may take (TLS required, SIPS
 * without bid-down, RFC 5630) and whether its media is protected (SRTP
 * required). Pure: the caller says how the request arrived and how a
 * target would be reached.
 */
#include "policy.h"

static void allow(struct policy_verdict *v)
{
	*v = (struct policy_verdict){ .allow = true, .detail = "allowed" };
}

static void deny(struct policy_verdict *v, uint16_t status, const char *reason,
		 const char *event, const char *detail)
{
	*v = (struct policy_verdict){ false, status, reason, event, detail };
}

void policy_transport(struct policy_verdict *v, const struct sip_msg *m, bool over_tls,
		      bool tls_required)
{
	allow(v);
	if (over_tls || !m->request)
		return;
	if ((m->have & SIP_HAVE_START) && m->ruri.scheme == SIP_SCHEME_SIPS) {
		deny(v, 416, "SIPS Requires TLS", POLICY_EVENT_SIPS_DOWNGRADE,
		     "sips: request over a transport that is not TLS");
		return;
	}
	if (tls_required && (m->mid == SIP_M_REGISTER || !m->to.has_tag) &&
	    m->mid != SIP_M_ACK && m->mid != SIP_M_CANCEL && m->mid != SIP_M_OPTIONS)
		deny(v, 403, "TLS Required", POLICY_EVENT_TLS_REQUIRED,
		     "signaling = tls-required and the request did not come over TLS");
}

bool policy_target_ok(bool sips_request, enum sip_scheme contact_scheme, bool over_tls)
{
	return over_tls || (!sips_request && contact_scheme != SIP_SCHEME_SIPS);
}

/* "application/sdp", parameters allowed, any case (RFC 3261 20.15). */
static bool is_sdp(const struct sip_msg *m)
{
	const struct sip_hdr *ct = sip_msg_hdr(m, SIP_H_CONTENT_TYPE);
	struct slice v;

	if (!ct)
		return false;
	v = slice_trim(ct->value);
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] == ';' || v.p[i] == ' ' || v.p[i] == '\t') {
			v.len = i;
			break;
		}
	}
	return slice_caseeq_cstr(v, "application/sdp");
}

void policy_media(struct policy_verdict *v, const struct sip_msg *m, bool srtp_required,
		  struct slice *bad)
{
	struct sdp sdp;
	enum sdp_srtp r;
	struct slice dummy;

	allow(v);
	if (!bad)
		bad = &dummy;
	*bad = SLICE_NULL;
	if (!srtp_required || m->body.len == 0 || !is_sdp(m))
		return;
	if (sdp_parse(&sdp, m->body.p, m->body.len, NULL, NULL) != 0) {
		deny(v, 488, "Malformed Session Description", POLICY_EVENT_SRTP_REFUSED,
		     "SDP body does not parse");
		return;
	}
	r = sdp_srtp_check(&sdp, bad);
	if (r != SDP_SRTP_OK)
		deny(v, 488, sdp_srtp_reason(r), POLICY_EVENT_SRTP_REFUSED,
		     r == SDP_SRTP_NONE ? "media = srtp-required and a stream is plain RTP"
					: "media = srtp-required and a stream has no SRTP keys");
}
