/*
 * auth/step: the authentication step's decision (auth_step_decide) and the
 * challenge's header block (auth_challenge_block), pure: what the digest
 * outcome, the brute-force lock, the user's entry, a password deadline and
 * a client certificate come to, as one value the server carries out
 * (server/auth.c: the cache lookup, the guard, events, the answer).
 *
 * Guide: Access Control for IPT Clients > Authentication and Authorization
 * (digest for every phone); brute force (docs/guard.md); per-user mutual TLS
 * (docs/tls.md); password deadlines (docs/operations.md).
 */
#include <errno.h>
#include <string.h>

#include "auth.h"

static void deny(struct auth_step *v, uint16_t status, const char *reason, const char *event,
		 const char *detail)
{
	v->kind = AUTH_STEP_DENY;
	v->status = status;
	v->reason = reason;
	v->event = event;
	v->detail = detail;
}

/* An OK outcome gets this far: locked, gone, expired? */
static bool ok_refused(struct auth_step *v, const struct auth_step_in *in)
{
	if (in->locked) {
		/* refused from anywhere but its last good address, right password
		 * or not, exactly like a wrong one (docs/guard.md) */
		deny(v, 403, "Forbidden", "auth.failure", "user locked");
		v->guard = AUTH_STEP_GUARD_FAILED;
		v->guard_known = true;
		return true;
	}
	if (!in->entry.found) { /* proved a password a moment ago, gone now */
		deny(v, 403, "Forbidden", NULL, NULL);
		return true;
	}
	if (in->deadline.action == AUTH_DEADLINE_EXPIRED) {
		deny(v, 403, in->deadline.phrase, in->deadline.event, in->deadline.detail);
		return true;
	}
	return false;
}

bool auth_step_wants_cert(const struct auth_step_in *in)
{
	struct auth_step v = { 0 };

	return in->ao && in->ao->action == AUTH_ACT_OK && !ok_refused(&v, in) &&
	       in->entry.require_client_cert;
}

void auth_step_decide(struct auth_step *v, const struct auth_step_in *in)
{
	const struct auth_outcome *ao = in->ao;

	*v = (struct auth_step){ .proxy = in->proxy };
	if (!ao) {
		deny(v, 500, "Authentication Failure", NULL, NULL);
		return;
	}
	v->user = ao->user;
	v->credentials = ao->credentials;
	v->offer = ao->offer;
	switch (ao->action) {
	case AUTH_ACT_CHALLENGE:
		v->kind = AUTH_STEP_CHALLENGE;
		v->status = in->proxy ? 407 : 401;
		if (ao->had_credentials && ao->verdict.result == AUTH_REPLAY)
			v->event = "auth.replay";
		else if (ao->had_credentials && ao->verdict.result == AUTH_BAD_NONCE)
			v->event = "auth.bad_nonce";
		v->detail = ao->reason;
		return;
	case AUTH_ACT_STALE:
		v->kind = AUTH_STEP_CHALLENGE;
		v->status = in->proxy ? 407 : 401;
		v->stale = true;
		return;
	case AUTH_ACT_FAIL:
		deny(v, 403, "Forbidden",
		     ao->unknown_user && in->is_register ? "register.unknown_user" : "auth.failure",
		     ao->reason);
		if (ao->verdict.result == AUTH_WRONG_RESPONSE) {
			v->guard = AUTH_STEP_GUARD_FAILED;
			v->guard_known = !ao->unknown_user;
		}
		return;
	case AUTH_ACT_OK:
		break;
	}
	if (ok_refused(v, in))
		return;
	/* A user bound to its client certificate authenticates only with it;
	 * decided before the guard hears of a success, so that a refused
	 * source does not become the user's last good address. */
	if (in->entry.require_client_cert && !(in->cert.checked && in->cert.allow)) {
		if (in->cert.checked && in->cert.status)
			deny(v, in->cert.status, in->cert.reason, in->cert.event, in->cert.detail);
		else /* not looked at, or no refusal given: closed */
			deny(v, 403, "Client Certificate Required", "tls.client_cert_refused",
			     "client certificate not checked");
		return;
	}
	v->kind = AUTH_STEP_ALLOW;
	v->guard = AUTH_STEP_GUARD_OK;
	v->user_id = in->entry.user_id;
	if (in->deadline.action == AUTH_DEADLINE_WARN) {
		/* allowed, and told: the event now, a Warning on the REGISTER's 200 */
		v->event = in->deadline.event;
		v->detail = in->deadline.detail;
		v->pw_deadline = in->entry.pw_deadline;
	}
}

/* Append s to buf at *at (the last byte kept for the NUL); false when full. */
static bool put(char *buf, size_t cap, size_t *at, const char *s, size_t n)
{
	if (n > cap - 1 - *at)
		return false;
	memcpy(buf + *at, s, n);
	*at += n;
	return true;
}

int auth_challenge_block(char *buf, size_t cap, size_t *len, const struct auth_challenge_in *in)
{
	enum auth_algo order[4];
	unsigned offer = in->offer;
	const char *name = in->proxy ? "Proxy-Authenticate: " : "WWW-Authenticate: ";
	size_t n = 0, at = 0, vlen;
	int rc = 0;

	*len = 0;
	if (!buf || cap == 0)
		return EOVERFLOW;
	buf[0] = '\0';
	for (size_t i = 0; i < in->n_order && i < 2; i++)
		order[n++] = in->order[i];
	order[n++] = AUTH_ALGO_SHA256;
	order[n++] = AUTH_ALGO_MD5;
	for (size_t i = 0; i < n; i++) {
		enum auth_algo a = order[i];

		if (a != AUTH_ALGO_MD5 && a != AUTH_ALGO_SHA256)
			continue; /* a junk order entry names nothing */
		if (!(offer & AUTH_ALGO_BIT(a)))
			continue;
		offer &= ~AUTH_ALGO_BIT(a); /* each once */
		if (!put(buf, cap, &at, name, strlen(name))) {
			rc = EOVERFLOW;
			break;
		}
		rc = auth_challenge_write(buf + at, cap - at, &vlen, in->realm, in->nonce, a,
					  in->stale, SLICE_NULL);
		if (rc)
			break;
		at += vlen;
		if (!put(buf, cap, &at, "\r\n", 2)) {
			rc = EOVERFLOW;
			break;
		}
	}
	if (rc) {
		buf[0] = '\0';
		return rc;
	}
	buf[at] = '\0';
	*len = at;
	return 0;
}
