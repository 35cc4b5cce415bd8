/*
 * Password deadlines (auth/deadline.c) and the old password in
 * auth_request: a rotation that generated new passwords keeps the old one
 * working until its deadline (the user is told), then refuses it; a
 * rotation that generated none marks the current password, which works
 * with a warning until the deadline and is refused after. A wrong password
 * stays wrong, whether or not the user has an old one.
 */
#include "auth/auth.h"
#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void test_deadline_table(void)
{
	struct auth_deadline_verdict v;

	/* no deadline: nothing to say */
	auth_deadline_check(&v, 0, false, false, 1000);
	CHECK_INT(v.action, AUTH_DEADLINE_OK);
	CHECK(v.event == NULL);
	/* new passwords generated: the new one is quiet before and after */
	auth_deadline_check(&v, 2000, true, false, 1000);
	CHECK_INT(v.action, AUTH_DEADLINE_OK);
	auth_deadline_check(&v, 2000, true, false, 3000);
	CHECK_INT(v.action, AUTH_DEADLINE_OK);
	/* the old one: told before, refused at and after the deadline */
	auth_deadline_check(&v, 2000, true, true, 1999);
	CHECK_INT(v.action, AUTH_DEADLINE_WARN);
	CHECK(strcmp(v.event, "auth.old_password") == 0);
	auth_deadline_check(&v, 2000, true, true, 2000);
	CHECK_INT(v.action, AUTH_DEADLINE_EXPIRED);
	CHECK(strcmp(v.event, "auth.password_expired") == 0);
	CHECK(strcmp(v.phrase, "Password Expired") == 0);
	/* must change, no new password: warned, then refused */
	auth_deadline_check(&v, 2000, false, false, 1000);
	CHECK_INT(v.action, AUTH_DEADLINE_WARN);
	CHECK(strcmp(v.event, "auth.password_change_due") == 0);
	auth_deadline_check(&v, 2000, false, false, 2500);
	CHECK_INT(v.action, AUTH_DEADLINE_EXPIRED);
	/* an old password without a deadline or without old HA1s: refused */
	auth_deadline_check(&v, 0, true, true, 1000);
	CHECK_INT(v.action, AUTH_DEADLINE_EXPIRED);
	auth_deadline_check(&v, 2000, false, true, 1000);
	CHECK_INT(v.action, AUTH_DEADLINE_EXPIRED);
}

/* ---- auth_request with a user in a rotation's grace ------------------------ */

static const uint8_t key[AUTH_KEY_LEN] = { 9, 8, 7 };

#define OLD_PW "the-old-password-1"
#define NEW_PW "the-new-password-2"

/* "rot" has NEW_PW and, as its old one, OLD_PW; "plain" has only NEW_PW. */
static int lookup_fn(void *arg, struct slice user, enum auth_algo algo, enum auth_cred_slot slot,
		     uint8_t *ha1, size_t cap, size_t *len)
{
	int *calls = arg;

	calls[slot]++;
	if (!slice_eq(user, SLICE_LIT("rot")) && !slice_eq(user, SLICE_LIT("plain")))
		return ENOENT;
	if (slot == AUTH_CRED_OLD && !slice_eq(user, SLICE_LIT("rot")))
		return ENODATA;
	return auth_ha1(ha1, cap, len, algo, user, SLICE_LIT("example.test"),
			slot == AUTH_CRED_OLD ? SLICE_LIT(OLD_PW) : SLICE_LIT(NEW_PW));
}

static void request(struct auth_nc_table *nc, char *out, size_t cap, const char *user,
		    const char *pw, uint32_t nc_value)
{
	char nonce[AUTH_NONCE_LEN + 1], resp[AUTH_HEX_MAX], ncs[16];
	uint8_t ha1[AUTH_HASH_MAX];
	size_t n;

	snprintf(ncs, sizeof(ncs), "%08x", (unsigned)nc_value);
	CHECK_INT(auth_nonce_make(key, nc, 2000, nonce), 0);
	CHECK_INT(auth_ha1(ha1, sizeof(ha1), &n, AUTH_ALGO_SHA256, slice_cstr(user),
			   SLICE_LIT("example.test"), slice_cstr(pw)), 0);
	CHECK_INT(auth_response_hex(resp, sizeof(resp), AUTH_ALGO_SHA256, ha1, n,
				    SLICE_LIT("REGISTER"), SLICE_LIT("sip:example.test"),
				    slice_cstr(nonce), slice_cstr(ncs), SLICE_LIT("c0ffee"),
				    SLICE_LIT("auth")), 0);
	snprintf(out, cap,
		 "REGISTER sip:example.test SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKdead1\r\n"
		 "From: <sip:%s@example.test>;tag=1\r\n"
		 "To: <sip:%s@example.test>\r\n"
		 "Call-ID: deadline@test\r\n"
		 "CSeq: 1 REGISTER\r\n"
		 "Authorization: Digest username=\"%s\", realm=\"example.test\", nonce=\"%s\", "
		 "uri=\"sip:example.test\", response=\"%s\", algorithm=SHA-256, qop=auth, "
		 "nc=%s, cnonce=\"c0ffee\"\r\n"
		 "Content-Length: 0\r\n\r\n",
		 user, user, user, nonce, resp, ncs);
}

static void run(struct auth_nc_table *nc, struct auth_outcome *ao, const char *user,
		const char *pw, int calls[2])
{
	struct auth_server srv = { .key = key, .nc = nc, .realm = SLICE_LIT("example.test"),
				   .nonce_lifetime_s = 300,
				   .algos = AUTH_ALGO_BIT(AUTH_ALGO_SHA256) };
	static struct sip_hdr hdrs[64];
	static char buf[2048]; /* the message's slices point into it */
	struct sip_msg m;

	request(nc, buf, sizeof(buf), user, pw, 1);
	CHECK_INT(sip_msg_parse(&m, hdrs, 64, buf, strlen(buf), false, NULL), 0);
	calls[0] = calls[1] = 0;
	CHECK_INT(auth_request(ao, &srv, &m, SIP_H_AUTHORIZATION, lookup_fn, NULL, calls, 2000), 0);
}

static void test_request_old_password(void)
{
	struct auth_nc_table *nc = NULL;
	struct auth_outcome ao;
	int calls[2];

	CHECK_INT(auth_nc_table_new(&nc, AUTH_NC_WINDOW_MIN, 64), 0);
	/* the new password: OK, not old; the old slot is never asked */
	run(nc, &ao, "rot", NEW_PW, calls);
	CHECK_INT(ao.action, AUTH_ACT_OK);
	CHECK(!ao.old_password);
	CHECK_INT(calls[AUTH_CRED_OLD], 0);
	/* the old password: OK, marked old (the caller checks the deadline) */
	run(nc, &ao, "rot", OLD_PW, calls);
	CHECK_INT(ao.action, AUTH_ACT_OK);
	CHECK(ao.old_password);
	/* a wrong one: FAIL, both slots tried */
	run(nc, &ao, "rot", "not-the-password-3", calls);
	CHECK_INT(ao.action, AUTH_ACT_FAIL);
	CHECK(!ao.old_password);
	CHECK_INT(calls[AUTH_CRED_OLD], 1);
	/* a user without an old password: the old one is just wrong */
	run(nc, &ao, "plain", OLD_PW, calls);
	CHECK_INT(ao.action, AUTH_ACT_FAIL);
	CHECK(!ao.old_password);
	/* unknown user: FAIL, the same steps */
	run(nc, &ao, "nobody", OLD_PW, calls);
	CHECK_INT(ao.action, AUTH_ACT_FAIL);
	CHECK(ao.unknown_user);
	auth_nc_table_free(&nc);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_deadline_table),
		CASE(test_request_old_password),
	};

	return check_main("auth_deadline", cases, ARRAY_SIZE(cases), argc, argv);
}
