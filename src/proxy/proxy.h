/*
 * proxy: stateful proxying (RFC 3261 16). Calls between registered users:
 * every dialog-forming request is authenticated (407), its From checked by
 * policy/, forked in parallel to every contact of the callee, and answered
 * with the best response; in-dialog requests follow the dialog they claim.
 *
 * This header has two parts: the pure message builders (forwarded requests
 * and responses, unit-tested without a network) and the proxy core that the
 * request path (server/) drives from the transaction layer's callbacks.
 */
#ifndef BASTION_PROXY_H
#define BASTION_PROXY_H

#include "../sip/sip.h"

/* ---- building forwarded messages (pure) ------------------------------------ */

/* What changes when a request is forwarded (RFC 3261 16.6). */
struct proxy_fwd {
	struct slice ruri;          /* the new Request-URI, or empty to keep it */
	struct slice via;           /* our Via value, "SIP/2.0/UDP host:port;branch=..." */
	struct slice record_route;  /* our Record-Route lines (each ending CRLF), or empty */
	uint32_t skip_routes;       /* leading Route values that name us: removed */
	uint32_t max_forwards;      /* the decremented value to write */
	bool strip_identity;        /* drop P-Asserted-Identity, P-Preferred-Identity, Remote-Party-ID */
	struct slice drop_credentials_realm; /* drop Proxy-Authorization for this realm (22.3) */
	struct slice extra;         /* header lines to add (e.g. P-Asserted-Identity), CRLF each */
};

/*
 * Write request m as forwarded per f: start line with the new Request-URI,
 * our Via on top, then m's headers in order with Max-Forwards rewritten, our
 * Record-Route before any existing one, the Route values we consume and the
 * headers f asks to drop removed, f->extra, Content-Length, body. Returns 0
 * or EOVERFLOW.
 */
int proxy_build_request(struct sip_buf *b, const struct sip_msg *m, const struct proxy_fwd *f);

/* Write response m without its top Via value (ours), for sending upstream
 * (16.7 step 3). Returns 0, EOVERFLOW, or EPROTO when m has a single Via. */
int proxy_build_response(struct sip_buf *b, const struct sip_msg *m);

/*
 * The loop-detection hash of request m (16.6 step 8): a hex digest of the
 * fields that identify the request as it arrived (Request-URI, From tag,
 * Call-ID, CSeq number, top Via, Proxy-Require, Route), written into out
 * (17 bytes). Two arrivals of the same request have the same hash.
 */
void proxy_loop_hash(const struct sip_msg *m, char out[17]);

#endif
