/*
 * policy: pure decisions on requests. A policy function takes the parsed
 * request plus what the caller knows (who authenticated, which peers are
 * trusted, the configuration) and returns a verdict as a value: allow, or
 * deny with a status code, reason phrase and security event kind, plus what
 * the proxy must change in the request it forwards. No I/O, no clocks, no
 * globals, no allocation: every rule is unit-testable without a network, and
 * the caller turns the verdict into a response, a log record and a counter.
 *
 * The route (route.c) says where a new request goes: answered here (405,
 * 501, 416, 481, 420, the 200 to OPTIONS), to the registrar, or to the
 * proxy.
 *
 * The identity policy (identity.c, docs/identity.md) enforces who a caller
 * may claim to be (RFC 3261 From against the authenticated user) and
 * asserts the identity to trusted peers (RFC 3325 P-Asserted-Identity,
 * with RFC 3323/3325 privacy).
 */
#ifndef BASTION_POLICY_H
#define BASTION_POLICY_H

#include "../base/base.h"
#include "../sip/sip.h"

/* The common part of every verdict. */
struct policy_verdict {
	bool allow;
	uint16_t status;       /* SIP status to answer when !allow, else 0 */
	const char *reason;    /* reason phrase for that response (static), or NULL */
	const char *event;     /* security event kind to record, or NULL */
	const char *detail;    /* which rule decided, static text for logs, never NULL */
};

/* ---- where a new request goes (route.c) ---------------------------------- */

/* The methods this server handles (the Allow header of 405, 501 and the 200
 * to OPTIONS). */
#define POLICY_ALLOW "INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, MESSAGE, INFO, UPDATE, " \
		     "PRACK, SUBSCRIBE, NOTIFY, REFER"

/* What becomes of a new request: answered here with status (0: nothing is
 * sent) and its reason phrase, or handed to the registrar or the proxy. The
 * extra headers a status needs (Allow on 405/501/200, Unsupported on 420)
 * are the answer builder's (proxy_build_answer). */
struct policy_route {
	uint16_t status;        /* 0: no answer here (see registrar and proxy) */
	const char *reason;     /* static, or NULL with status 0 */
	bool registrar;         /* hand the request to the registrar */
	bool proxy;             /* hand it to the proxy (server/call.c) */
};

/*
 * Decide what becomes of a new request that parsed (m->request) into *r.
 * The order is RFC 3261 8.2: method (405 PUBLISH, 501 an unknown one),
 * Request-URI scheme (416), CANCEL that matched no transaction (481),
 * required extensions (420: we support none; Require counts only for a
 * request for us, Proxy-Require always, 16.3 step 2); then REGISTER goes to
 * the registrar, OPTIONS outside a dialog is answered 200 here, everything
 * else goes to the proxy. ACK gets nothing.
 */
void policy_route(struct policy_route *r, const struct sip_msg *m);

/* Is request m for this server itself rather than to be proxied: REGISTER,
 * or OPTIONS outside a dialog (a keep-alive ping)? */
bool policy_request_is_ours(const struct sip_msg *m);

/* ---- identity ----------------------------------------------------------- */

#define POLICY_EVENT_SPOOFED_FROM "call.spoofed_from"

/* The display name copied from From into P-Asserted-Identity, decoded bytes;
 * a longer one is left out rather than cut. */
#define POLICY_DISPLAY_MAX 128
/* Room for the P-Asserted-Identity value: a quoted display name (every byte
 * possibly escaped), and a URI of up to 1024 bytes (sip_limits.max_uri, the
 * store's STORE_URI_MAX) once the user part is %-escaped. */
#define POLICY_PAI_MAX (2 * POLICY_DISPLAY_MAX + 3 * 1024 + 16)

/* Bits of policy_identity_verdict.strip: remove every header of that kind
 * from the forwarded request. */
enum {
	POLICY_STRIP_PAI = 1u << 0,  /* P-Asserted-Identity (RFC 3325) */
	POLICY_STRIP_PPI = 1u << 1,  /* P-Preferred-Identity (RFC 3325) */
	POLICY_STRIP_RPID = 1u << 2, /* Remote-Party-ID (draft-ietf-sip-privacy-04) */
};

/* Bits of policy_identity_verdict.privacy: the priv-values of every Privacy
 * header of the request (RFC 3323 4.2, RFC 3325 9.3), case-insensitive. */
enum {
	POLICY_PRIV_NONE = 1u << 0,
	POLICY_PRIV_ID = 1u << 1,
	POLICY_PRIV_HEADER = 1u << 2,
	POLICY_PRIV_USER = 1u << 3,
	POLICY_PRIV_SESSION = 1u << 4,
	POLICY_PRIV_CRITICAL = 1u << 5,
	POLICY_PRIV_OTHER = 1u << 6, /* an unknown value, or a malformed header */
};

/* Which identity the From header was found to be. */
enum policy_identity_match {
	POLICY_ID_NONE = 0,  /* not checked (trusted peer) or refused */
	POLICY_ID_AOR,       /* the authenticated user's address of record */
	POLICY_ID_ALLOWED,   /* in->allowed[verdict.allowed_index] */
	POLICY_ID_ANONYMOUS, /* sip:anonymous@anonymous.invalid (RFC 3323 4.1.1.3) */
	POLICY_ID_FOREIGN,   /* no local user authenticated; From is not in our domain */
};

struct policy_identity_in {
	const struct sip_msg *req;  /* the parsed request (From must have parsed) */
	bool source_trusted;        /* it came from a trusted peer (gateway, other proxy) */
	struct slice auth_user;     /* the authenticated user name; empty when none */
	struct slice domain;        /* the served domain: the user's AOR is user@domain */
	const char *const *allowed; /* extra identities of auth_user: "sip:sales@example.test",
				     * "tel:+15551230000"; entries that do not parse never match */
	size_t nallowed;
	bool dest_trusted;          /* the request goes to a trusted peer */
	const struct slice *own_hosts; /* hosts that stand for the domain (the server's
					* addresses): "192.0.2.10", "::1" (no brackets, no port) */
	size_t nown_hosts;
};

struct policy_identity_verdict {
	struct policy_verdict v;
	enum policy_identity_match match;
	size_t allowed_index;       /* valid when match == POLICY_ID_ALLOWED */
	unsigned strip;             /* POLICY_STRIP_*: remove every such header */
	uint32_t nstripped;         /* headers of the request that this removes (counter) */
	bool add_pai;               /* add "P-Asserted-Identity: " pai to the forwarded request */
	char pai[POLICY_PAI_MAX];   /* NUL-terminated value; "" unless add_pai. Printable
				     * ASCII and UTF-8 only: never CR, LF or another control */
	size_t pai_len;
	bool display_dropped;       /* From's display name was unsafe or too long: left out */
	unsigned privacy;           /* POLICY_PRIV_* found in the request */
	bool privacy_withheld;      /* a PAI was removed or not added because of Privacy: id */
};

/*
 * Decide on the identity of request in->req. The rules, in order:
 *
 * 1. From. With an authenticated user, the From URI must be the user's AOR
 *    (sip: or sips:, user part equal after %-unescaping, host the domain or
 *    one of own_hosts, ASCII case-insensitive, IPv6 compared as addresses),
 *    or one of in->allowed (same scheme family, user and host; a host of
 *    ours matches any host of ours; tel: compares the number without visual
 *    separators, and also matches sip:NUMBER@our-host;user=phone), or the
 *    anonymous URI. Without an authenticated user and from an untrusted
 *    source, a From in our domain is refused (nobody proved to be that local
 *    user); other From values pass. From a trusted peer without local
 *    authentication, From is the peer's business. Display names are free.
 *    A refusal is 403 with event "call.spoofed_from".
 * 2. Stripping. From an untrusted source every P-Asserted-Identity,
 *    P-Preferred-Identity and Remote-Party-ID is removed (RFC 3325 5: only
 *    a trusted element may assert). A trusted peer's headers are kept.
 * 3. Assertion. With an authenticated user, the proxy adds one
 *    P-Asserted-Identity built from validated parts only: the matched
 *    allowed identity, else sip:USER@DOMAIN, with From's display name when
 *    it is safe (decoded, no control bytes, valid UTF-8, at most
 *    POLICY_DISPLAY_MAX bytes; re-quoted with '"' and '\' escaped). From a
 *    trusted peer that sent its own P-Asserted-Identity nothing is added.
 * 4. Privacy. With "id" among the Privacy values (RFC 3325 7) and an
 *    untrusted destination, no P-Asserted-Identity is added and any received
 *    one is removed (with Remote-Party-ID). Toward a trusted destination the
 *    identity travels and so does the Privacy header, for the next hop to
 *    honour. "none" asks for nothing; with "id" as well, "id" wins.
 *
 * Returns 0 with *out filled (allowed or refused). Returns EINVAL (NULL
 * arguments, not a request, From not parsed, empty or malformed domain, an
 * empty allowed entry pointer) or EOVERFLOW (the PAI does not fit): then
 * *out is a refusal with status 500, never an allow.
 */
int policy_identity(struct policy_identity_verdict *out, const struct policy_identity_in *in);

/* Should header h of the request be copied into the forwarded request under
 * verdict v? False for the identity headers v says to strip. */
bool policy_identity_keeps(const struct policy_identity_verdict *v, const struct sip_hdr *h);

/* Parse the Privacy headers of m into POLICY_PRIV_* bits (0 when none). */
unsigned policy_privacy(const struct sip_msg *m);


/* ---- transport and media (issue 5: TLS, SIPS, SRTP) ----------------------- */

#define POLICY_EVENT_SIPS_DOWNGRADE "sips.downgrade_refused"
#define POLICY_EVENT_SRTP_REFUSED "media.srtp_refused"
#define POLICY_EVENT_TLS_REQUIRED "policy.tls_required"

/*
 * May request m, which arrived over TLS or not, be taken at all?
 * - a sips: Request-URI over anything but TLS: 416 (RFC 5630 4.1: SIPS
 *   means TLS on every hop, so the hop it came over already broke that),
 *   event sips.downgrade_refused;
 * - with tls_required, a request outside a dialog (no To tag) over anything
 *   but TLS: 403 "TLS Required", event policy.tls_required; except OPTIONS
 *   (keep-alive and monitoring, answered by the server itself), and ACK and
 *   CANCEL, which follow their INVITE.
 * In-dialog requests of a dialog set up over TLS are held to it by their
 * dialog, not here.
 */
void policy_transport(struct policy_verdict *v, const struct sip_msg *m, bool over_tls,
		      bool tls_required);

/* May a request go to a contact of scheme contact_scheme reached over TLS
 * or not? A sips: request or a sips: contact goes over TLS only
 * (RFC 5630 4.2, 4.3). */
bool policy_target_ok(bool sips_request, enum sip_scheme contact_scheme, bool over_tls);

/*
 * With srtp_required: every active RTP stream of the SDP body of m (a
 * request's offer, or a response's answer) must be SRTP with its keys
 * (sdp_srtp_check); a body that is not SDP, or no body, passes. Denied:
 * 488 with the sdp_srtp_reason() phrase (a malformed SDP: 488 "Malformed
 * Session Description"), event media.srtp_refused; *bad (may be NULL) gets
 * the offending m= line. Without srtp_required everything passes.
 */
void policy_media(struct policy_verdict *v, const struct sip_msg *m, bool srtp_required,
		  struct slice *bad);

/* ---- per-user mutual TLS (issue 5: client certificates) -------------------- */

#define POLICY_EVENT_CLIENT_CERT "tls.client_cert_refused"

/* What the caller knows of the connection a request came over and of the
 * user who authenticated it. The names are the certificate's as decoded by
 * net_msg_peer_cert(), NUL-terminated. */
struct policy_client_cert_in {
	bool required;             /* the user is bound to its certificate */
	bool over_tls;             /* the request came over TLS */
	bool present;              /* a client certificate verified against our CA */
	const char *cn;            /* its subject commonName; NULL or "" for none */
	const char *const *uris;   /* its subjectAltName URIs (n_uri of them) */
	size_t n_uri;
	struct slice user;         /* the user name that authenticated (digest) */
	struct slice domain;       /* the served domain */
};

/*
 * May user in->user, who proved its password, be served over this
 * connection? Without in->required, always. With it, only over TLS with a
 * verified client certificate naming the user: its subject CN equal to the
 * user name (byte for byte), or one of its SAN URIs equal to sip:USER@DOMAIN
 * or sips:USER@DOMAIN (scheme and host ASCII case-insensitive, the user part
 * byte for byte, nothing after the host: no port, no parameters). This is
 * what `bastion tls issue USER` puts in a certificate. Denied: 403 "Client
 * Certificate Required", event tls.client_cert_refused, and detail saying
 * which: not over TLS, no certificate, or a certificate of another identity.
 * An empty user or domain never matches.
 */
void policy_client_cert(struct policy_verdict *v, const struct policy_client_cert_in *in);

/* Does certificate URI uri name user@domain (the SAN rule above)? */
bool policy_cert_uri_names(const char *uri, struct slice user, struct slice domain);

#endif
