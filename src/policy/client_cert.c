/*
 * policy/client_cert.c: per-user mutual TLS. A user bound to its client
 * certificate (store_user.require_client_cert, `bastion user cert NAME
 * require`) must prove itself twice: by digest, and by the certificate of
 * the TLS connection its request came over, issued by our CA for that very
 * user. A stolen password alone then registers nothing and calls nobody,
 * and a certificate issued for one user cannot carry another's password.
 * Pure: the caller passes the certificate's names (net_msg_peer_cert).
 */
#include "policy.h"

#include <string.h>
#include <strings.h>

static void deny(struct policy_verdict *v, const char *detail)
{
	*v = (struct policy_verdict){ false, 403, "Client Certificate Required",
				      POLICY_EVENT_CLIENT_CERT, detail };
}

bool policy_cert_uri_names(const char *uri, struct slice user, struct slice domain)
{
	size_t len, skip;

	if (!uri || user.len == 0 || domain.len == 0)
		return false;
	len = strlen(uri);
	if (len > 4 && strncasecmp(uri, "sip:", 4) == 0)
		skip = 4;
	else if (len > 5 && strncasecmp(uri, "sips:", 5) == 0)
		skip = 5;
	else
		return false;
	/* USER '@' DOMAIN and nothing else */
	if (len - skip != user.len + 1 + domain.len)
		return false;
	return memcmp(uri + skip, user.p, user.len) == 0 && uri[skip + user.len] == '@' &&
	       strncasecmp(uri + skip + user.len + 1, domain.p, domain.len) == 0;
}

void policy_client_cert(struct policy_verdict *v, const struct policy_client_cert_in *in)
{
	*v = (struct policy_verdict){ .allow = true, .detail = "allowed" };
	if (!in->required)
		return;
	if (!in->over_tls) {
		deny(v, "the user is bound to a client certificate and the request did not "
			"come over TLS");
		return;
	}
	if (!in->present) {
		deny(v, "the user is bound to a client certificate and the TLS connection "
			"presented none");
		return;
	}
	if (in->user.len > 0 && in->cn && strlen(in->cn) == in->user.len &&
	    memcmp(in->cn, in->user.p, in->user.len) == 0) {
		v->detail = "client certificate subject names the user";
		return;
	}
	for (size_t i = 0; i < in->n_uri; i++) {
		if (policy_cert_uri_names(in->uris[i], in->user, in->domain)) {
			v->detail = "client certificate URI names the user";
			return;
		}
	}
	deny(v, "the client certificate names another identity");
}
