/*
 * conf/policy_rows.c: the settings rows of [policy]: signaling and media
 * encryption rules (policy/).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const char *const conf_signalings[] = { "any", "tls-required", NULL };
const char *const conf_medias[] = { "any", "srtp-required", NULL };

const struct conf_row conf_policy_rows[] = {
	{ "policy", "signaling", CONF_ENUM, offsetof(struct conf, signaling), 0, 0, 0, conf_signalings,
	  "any", NULL,
	  "`tls-required`: a REGISTER, and any request outside a dialog but OPTIONS, must come "
	  "over TLS, else 403 TLS Required (event policy.tls_required). `any`: every "
	  "transport. A sips: "
	  "request is held to TLS either way (docs/tls.md).",
	  PROF(NULL, "tls-required", "tls-required") },
	{ "policy", "media", CONF_ENUM, offsetof(struct conf, media), 0, 0, 0, conf_medias, "any", NULL,
	  "`srtp-required`: an SDP offer or answer with a plain RTP stream (not RTP/SAVP(F) "
	  "with a=crypto, nor UDP/TLS/RTP/SAVP(F) with a fingerprint) is refused with 488 and "
	  "event media.srtp_refused; a callee's 2xx answer like that ends its leg (ACK, BYE) "
	  "and the caller gets 488. `any`: media is not checked.",
	  PROF(NULL, NULL, "srtp-required") },
};
const size_t conf_policy_rows_n = ARRAY_SIZE(conf_policy_rows);
