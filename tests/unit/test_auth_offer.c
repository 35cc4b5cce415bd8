/*
 * Per-user digest algorithms: auth_offer's table, the names of the setting,
 * auth_request choosing the offer from the digest username or, without
 * credentials, the To (REGISTER) or From (proxy) user, an unknown name
 * getting the site's set, credentials in an algorithm not offered being
 * challenged again, and the watch that names phones not taking SHA-256.
 */
#include "auth/auth.h"
#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define MD5 AUTH_ALGO_BIT(AUTH_ALGO_MD5)
#define SHA AUTH_ALGO_BIT(AUTH_ALGO_SHA256)

static void test_offer_table(void)
{
	/* the user's setting picks the set */
	CHECK_INT(auth_offer(SHA | MD5, AUTH_DIGEST_SITE, SHA | MD5), SHA | MD5);
	CHECK_INT(auth_offer(SHA | MD5, AUTH_DIGEST_MD5, SHA | MD5), MD5);
	CHECK_INT(auth_offer(SHA | MD5, AUTH_DIGEST_SHA256, SHA | MD5), SHA);
	CHECK_INT(auth_offer(SHA, AUTH_DIGEST_BOTH, SHA | MD5), SHA | MD5);
	CHECK_INT(auth_offer(MD5, AUTH_DIGEST_SITE, SHA | MD5), MD5);
	/* an MD5-only import is challenged with MD5 */
	CHECK_INT(auth_offer(SHA | MD5, AUTH_DIGEST_SITE, MD5), MD5);
	CHECK_INT(auth_offer(SHA | MD5, AUTH_DIGEST_BOTH, MD5), MD5);
	/* nothing left: the site's set, as for an unknown name */
	CHECK_INT(auth_offer(SHA | MD5, AUTH_DIGEST_SHA256, MD5), SHA | MD5);
	CHECK_INT(auth_offer(SHA, AUTH_DIGEST_MD5, 0), SHA);
	/* junk bits and values are ignored */
	CHECK_INT(auth_offer(SHA | MD5 | 0x80u, (enum auth_digest)9, SHA | MD5), SHA | MD5);
}

static void test_digest_names(void)
{
	enum auth_digest d = AUTH_DIGEST_BOTH;

	CHECK_INT(auth_digest_from(&d, SLICE_LIT("md5")), 0);
	CHECK_INT(d, AUTH_DIGEST_MD5);
	CHECK_INT(auth_digest_from(&d, SLICE_LIT("SHA256")), 0);
	CHECK_INT(d, AUTH_DIGEST_SHA256);
	CHECK_INT(auth_digest_from(&d, SLICE_LIT("both")), 0);
	CHECK_INT(d, AUTH_DIGEST_BOTH);
	CHECK_INT(auth_digest_from(&d, SLICE_LIT("default")), 0);
	CHECK_INT(d, AUTH_DIGEST_SITE);
	d = AUTH_DIGEST_MD5;
	CHECK_INT(auth_digest_from(&d, SLICE_LIT("sha-256")), EINVAL);
	CHECK_INT(auth_digest_from(&d, SLICE_LIT("")), EINVAL);
	CHECK_INT(d, AUTH_DIGEST_MD5); /* untouched */
	CHECK(strcmp(auth_digest_name(AUTH_DIGEST_BOTH), "both") == 0);
	CHECK(auth_digest_name((enum auth_digest)7) == NULL);
}

/* ---- auth_request with a two-user directory ------------------------------- */

static const uint8_t key[AUTH_KEY_LEN] = { 1, 2, 3 };

/* "md5user" is set to md5, "anyuser" to the site's; both have both HA1s. */
static unsigned offer_fn(void *arg, struct slice user)
{
	(void)arg;
	if (slice_eq(user, SLICE_LIT("md5user")))
		return MD5;
	if (slice_eq(user, SLICE_LIT("anyuser")))
		return SHA | MD5;
	return 0;
}

static int lookup_fn(void *arg, struct slice user, enum auth_algo algo, enum auth_cred_slot slot,
		     uint8_t *ha1, size_t cap, size_t *len)
{
	(void)arg;
	if (!slice_eq(user, SLICE_LIT("md5user")) && !slice_eq(user, SLICE_LIT("anyuser")))
		return ENOENT;
	if (slot != AUTH_CRED_CURRENT)
		return ENODATA; /* no rotation in progress */
	return auth_ha1(ha1, cap, len, algo, user, SLICE_LIT("example.test"),
			SLICE_LIT("a-long-password-1"));
}

struct fixture {
	struct auth_nc_table *nc;
	struct auth_server srv;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	CHECK_INT(auth_nc_table_new(&f->nc, AUTH_NC_WINDOW_MIN, 64), 0);
	f->srv = (struct auth_server){ .key = key, .nc = f->nc,
				       .realm = SLICE_LIT("example.test"),
				       .nonce_lifetime_s = 300, .algos = SHA | MD5 };
}

/* Parse `text` (a request) into m and run auth_request on it. */
static void run(struct fixture *f, struct auth_outcome *ao, const char *text, enum sip_hdr_id which)
{
	static struct sip_hdr hdrs[64];
	struct sip_msg m;

	CHECK_INT(sip_msg_parse(&m, hdrs, 64, text, strlen(text), false, NULL), 0);
	CHECK_INT(auth_request(ao, &f->srv, &m, which, lookup_fn, offer_fn, NULL, 2000), 0);
}

static char *request(char *buf, size_t cap, const char *method, const char *to_user,
		     const char *from_user, const char *auth)
{
	snprintf(buf, cap,
		 "%s sip:example.test SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKoffer1\r\n"
		 "From: <sip:%s@example.test>;tag=1\r\n"
		 "To: <sip:%s@example.test>\r\n"
		 "Call-ID: offer@test\r\n"
		 "CSeq: 1 %s\r\n"
		 "%s"
		 "Content-Length: 0\r\n\r\n",
		 method, from_user, to_user, method, auth);
	return buf;
}

/* The outcome names the header its credentials came from (the proxy drops
 * that one without parsing it again): the first Digest for our realm, past
 * another realm's and another scheme's; none without credentials. */
static void test_request_names_its_credentials(void)
{
	struct fixture f;
	struct auth_outcome ao;
	char buf[2048];

	fixture_init(&f);
	run(&f, &ao,
	    request(buf, sizeof(buf), "INVITE", "anyuser", "anyuser",
		    "Proxy-Authorization: Digest username=\"x\", realm=\"other.example\", "
		    "nonce=\"n\", uri=\"sip:example.test\", response=\"00\"\r\n"
		    "Proxy-Authorization: Basic realm=\"example.test\"\r\n"
		    "Proxy-Authorization: Digest username=\"anyuser\", realm=\"example.test\", "
		    "nonce=\"n\", uri=\"sip:example.test\", response=\"00\"\r\n"),
	    SIP_H_PROXY_AUTHORIZATION);
	CHECK(ao.had_credentials);
	CHECK(ao.credentials != NULL);
	CHECK_INT(ao.credentials->id, SIP_H_PROXY_AUTHORIZATION);
	CHECK(ao.credentials->value.p && memmem(ao.credentials->value.p, ao.credentials->value.len,
						"username=\"anyuser\"", 18) != NULL);
	run(&f, &ao, request(buf, sizeof(buf), "INVITE", "anyuser", "anyuser", ""),
	    SIP_H_PROXY_AUTHORIZATION);
	CHECK(!ao.had_credentials);
	CHECK(ao.credentials == NULL);
	auth_nc_table_free(&f.nc);
}

static void test_request_offer_without_credentials(void)
{
	struct fixture f;
	struct auth_outcome ao;
	char buf[2048];

	fixture_init(&f);
	/* REGISTER: the To user's setting */
	run(&f, &ao, request(buf, sizeof(buf), "REGISTER", "md5user", "someone", ""),
	    SIP_H_AUTHORIZATION);
	CHECK_INT(ao.action, AUTH_ACT_CHALLENGE);
	CHECK_INT(ao.offer, MD5);
	CHECK(ao.offer_known);
	/* INVITE: the From user's */
	run(&f, &ao, request(buf, sizeof(buf), "INVITE", "anyuser", "md5user", ""),
	    SIP_H_PROXY_AUTHORIZATION);
	CHECK_INT(ao.offer, MD5);
	/* a user at the site's set and an unknown name look the same */
	run(&f, &ao, request(buf, sizeof(buf), "REGISTER", "anyuser", "x", ""), SIP_H_AUTHORIZATION);
	CHECK_INT(ao.offer, SHA | MD5);
	run(&f, &ao, request(buf, sizeof(buf), "REGISTER", "nobody", "x", ""), SIP_H_AUTHORIZATION);
	CHECK_INT(ao.offer, SHA | MD5);
	CHECK(!ao.offer_known);
	auth_nc_table_free(&f.nc);
}

/* Authorization header for user with algorithm algo on a fresh nonce. */
static void credentials(struct fixture *f, char *out, size_t cap, const char *user,
			enum auth_algo algo)
{
	char nonce[AUTH_NONCE_LEN + 1], resp[AUTH_HEX_MAX];
	uint8_t ha1[AUTH_HASH_MAX];
	size_t n;

	CHECK_INT(auth_nonce_make(key, f->nc, 2000, nonce), 0);
	CHECK_INT(auth_ha1(ha1, sizeof(ha1), &n, algo, slice_cstr(user), SLICE_LIT("example.test"),
			   SLICE_LIT("a-long-password-1")), 0);
	CHECK_INT(auth_response_hex(resp, sizeof(resp), algo, ha1, n, SLICE_LIT("REGISTER"),
				    SLICE_LIT("sip:example.test"), slice_cstr(nonce),
				    SLICE_LIT("00000001"), SLICE_LIT("c0ffee"), SLICE_LIT("auth")),
		  0);
	snprintf(out, cap,
		 "Authorization: Digest username=\"%s\", realm=\"example.test\", nonce=\"%s\", "
		 "uri=\"sip:example.test\", response=\"%s\", algorithm=%s, qop=auth, "
		 "nc=00000001, cnonce=\"c0ffee\"\r\n",
		 user, nonce, resp, auth_algo_name(algo));
}

static void test_request_algorithm_must_be_offered(void)
{
	struct fixture f;
	struct auth_outcome ao;
	char buf[2048], cred[1024];

	fixture_init(&f);
	/* md5user answering SHA-256 (not offered to it): a fresh MD5 challenge */
	credentials(&f, cred, sizeof(cred), "md5user", AUTH_ALGO_SHA256);
	run(&f, &ao, request(buf, sizeof(buf), "REGISTER", "md5user", "md5user", cred),
	    SIP_H_AUTHORIZATION);
	CHECK_INT(ao.action, AUTH_ACT_CHALLENGE);
	CHECK_INT(ao.offer, MD5);
	CHECK(strcmp(ao.reason, "algorithm not offered") == 0);
	/* with MD5 it is in */
	credentials(&f, cred, sizeof(cred), "md5user", AUTH_ALGO_MD5);
	run(&f, &ao, request(buf, sizeof(buf), "REGISTER", "md5user", "md5user", cred),
	    SIP_H_AUTHORIZATION);
	CHECK_INT(ao.action, AUTH_ACT_OK);
	/* anyuser may use either */
	credentials(&f, cred, sizeof(cred), "anyuser", AUTH_ALGO_SHA256);
	run(&f, &ao, request(buf, sizeof(buf), "REGISTER", "anyuser", "anyuser", cred),
	    SIP_H_AUTHORIZATION);
	CHECK_INT(ao.action, AUTH_ACT_OK);
	CHECK_INT(ao.verdict.algo, AUTH_ALGO_SHA256);
	auth_nc_table_free(&f.nc);
}

static void test_watch(void)
{
	struct auth_watch *w = NULL;

	CHECK_INT(auth_watch_new(&w), 0);
	/* three SHA-256 challenges unanswered: noted once, on the third */
	CHECK_INT(auth_watch_challenged(w, SLICE_LIT("baresip"), SHA | MD5, 3), AUTH_WATCH_NONE);
	CHECK_INT(auth_watch_challenged(w, SLICE_LIT("baresip"), SHA | MD5, 3), AUTH_WATCH_NONE);
	CHECK_INT(auth_watch_challenged(w, SLICE_LIT("baresip"), SHA | MD5, 3),
		  AUTH_WATCH_SHA256_UNANSWERED);
	CHECK_INT(auth_watch_challenged(w, SLICE_LIT("baresip"), SHA | MD5, 3), AUTH_WATCH_NONE);
	/* MD5-only challenges do not count; limit 0 turns it off */
	CHECK_INT(auth_watch_challenged(w, SLICE_LIT("m"), MD5, 1), AUTH_WATCH_NONE);
	CHECK_INT(auth_watch_challenged(w, SLICE_LIT("m"), SHA, 0), AUTH_WATCH_NONE);
	/* a phone that answers resets its count: challenge, answer, forever */
	for (int i = 0; i < 10; i++) {
		CHECK_INT(auth_watch_challenged(w, SLICE_LIT("good"), SHA | MD5, 2), AUTH_WATCH_NONE);
		CHECK_INT(auth_watch_ok(w, SLICE_LIT("good"), AUTH_ALGO_SHA256, SHA | MD5),
			  AUTH_WATCH_NONE);
	}
	/* an MD5 answer to an offer with SHA-256: noted once */
	CHECK_INT(auth_watch_ok(w, SLICE_LIT("old"), AUTH_ALGO_MD5, SHA | MD5), AUTH_WATCH_MD5_ANSWER);
	CHECK_INT(auth_watch_ok(w, SLICE_LIT("old"), AUTH_ALGO_MD5, SHA | MD5), AUTH_WATCH_NONE);
	/* MD5 when only MD5 was offered is not news */
	CHECK_INT(auth_watch_ok(w, SLICE_LIT("set"), AUTH_ALGO_MD5, MD5), AUTH_WATCH_NONE);
	CHECK_INT(auth_watch_challenged(NULL, SLICE_LIT("x"), SHA, 1), AUTH_WATCH_NONE);
	auth_watch_free(&w);
	CHECK(w == NULL);
	auth_watch_free(&w);
}

/* Names a peer picked to share one slot under the old unkeyed hash (FNV-1a,
 * low 12 bits = AUTH_WATCH_SLOTS): each took the slot over from the one
 * before, so no count ever reached its note (0 notes below). Keyed, 16 names
 * in 4096 slots rarely share one (about 3% of runs one pair does, which costs
 * two notes); losing 7 needs 4 shared slots (odds below 1e-7). */
static void test_watch_colliding_names(void)
{
	enum { N = 16 };
	char (*names)[32] = calloc(N, 32);
	struct auth_watch *w = NULL;
	unsigned notes = 0;

	CHECK(names);
	CHECK_INT(check_fnv_collisions(names, N), N);
	CHECK_INT(auth_watch_new(&w), 0);
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < N; i++)
			notes += auth_watch_challenged(w, slice_cstr(names[i]), SHA | MD5, 2) ==
				 AUTH_WATCH_SHA256_UNANSWERED;
	CHECK(notes >= N - 6);
	auth_watch_free(&w);
	free(names);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_offer_table),
		CASE(test_watch_colliding_names),
		CASE(test_digest_names),
		CASE(test_request_offer_without_credentials),
		CASE(test_request_names_its_credentials),
		CASE(test_request_algorithm_must_be_offered),
		CASE(test_watch),
	};

	return check_main("auth_offer", cases, ARRAY_SIZE(cases), argc, argv);
}
