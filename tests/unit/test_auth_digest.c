/*
 * auth digest maths and verification: the RFC 7616 3.9.1 and RFC 2617 3.5
 * vectors, then auth_digest_verify end to end with server nonces, a replay
 * table and a clock driven by the test.
 */
#include "auth/auth.h"
#include "check.h"

#include <errno.h>

/* RFC 7616 3.9.1 */
#define R7616_REALM "http-auth@example.org"
#define R7616_NONCE "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
#define R7616_CNONCE "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"

static void rfc_response(char *out, size_t cap, enum auth_algo algo, const char *realm,
			 const char *password, const char *nonce, const char *cnonce)
{
	uint8_t ha1[AUTH_HASH_MAX];
	size_t n = 0;

	out[0] = '\0';
	if (auth_ha1(ha1, sizeof(ha1), &n, algo, SLICE_LIT("Mufasa"), slice_cstr(realm),
		     slice_cstr(password)) != 0 ||
	    n != auth_algo_len(algo))
		return;
	if (auth_response_hex(out, cap, algo, ha1, n, SLICE_LIT("GET"), SLICE_LIT("/dir/index.html"),
			      slice_cstr(nonce), SLICE_LIT("00000001"), slice_cstr(cnonce),
			      SLICE_LIT("auth")) != 0)
		out[0] = '\0';
}

static void test_rfc7616_sha256(void)
{
	char r[AUTH_HEX_MAX];

	rfc_response(r, sizeof(r), AUTH_ALGO_SHA256, R7616_REALM, "Circle of Life", R7616_NONCE,
		     R7616_CNONCE);
	CHECK_SLICE(slice_cstr(r), "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

static void test_rfc7616_md5(void)
{
	char r[AUTH_HEX_MAX];

	rfc_response(r, sizeof(r), AUTH_ALGO_MD5, R7616_REALM, "Circle of Life", R7616_NONCE,
		     R7616_CNONCE);
	CHECK_SLICE(slice_cstr(r), "8ca523f5e9506fed4657c9700eebdbec");
}

static void test_rfc2617_md5(void)
{
	char r[AUTH_HEX_MAX];

	rfc_response(r, sizeof(r), AUTH_ALGO_MD5, "testrealm@host.com", "Circle Of Life",
		     "dcd98b7102dd2f0e8b11d0f600bfb0c093", "0a4f113b");
	CHECK_SLICE(slice_cstr(r), "6629fae49393a05397450978507c4ef1");
	/* One letter of the password changes everything. */
	rfc_response(r, sizeof(r), AUTH_ALGO_MD5, "testrealm@host.com", "Circle of Life",
		     "dcd98b7102dd2f0e8b11d0f600bfb0c093", "0a4f113b");
	CHECK(strcmp(r, "6629fae49393a05397450978507c4ef1") != 0);
}

static void test_algo_names(void)
{
	enum auth_algo a = AUTH_ALGO_NONE;

	CHECK_INT(auth_algo_from(&a, SLICE_NULL), 0);
	CHECK_INT(a, AUTH_ALGO_MD5);
	CHECK_INT(auth_algo_from(&a, SLICE_LIT("sha-256")), 0);
	CHECK_INT(a, AUTH_ALGO_SHA256);
	CHECK_INT(auth_algo_from(&a, SLICE_LIT("MD5-sess")), EPROTO);
	CHECK_INT(auth_algo_from(&a, SLICE_LIT("SHA-512-256")), EPROTO);
	CHECK_INT(a, AUTH_ALGO_SHA256);
	CHECK_SLICE(slice_cstr(auth_algo_name(AUTH_ALGO_SHA256)), "SHA-256");
	CHECK_INT(auth_algo_len(AUTH_ALGO_MD5), 16);
	CHECK_INT(auth_algo_len(AUTH_ALGO_NONE), 0);
}

static void test_response_args(void)
{
	uint8_t ha1[32] = { 0 };
	char small[32];

	CHECK_INT(auth_response_hex(small, sizeof(small), AUTH_ALGO_SHA256, ha1, 32, SLICE_LIT("A"),
				    SLICE_LIT("u"), SLICE_LIT("n"), SLICE_LIT("00000001"),
				    SLICE_LIT("c"), SLICE_LIT("auth")),
		  EOVERFLOW);
	CHECK_INT(auth_response_hex(small, sizeof(small), AUTH_ALGO_MD5, ha1, 32, SLICE_LIT("A"),
				    SLICE_LIT("u"), SLICE_LIT("n"), SLICE_LIT("00000001"),
				    SLICE_LIT("c"), SLICE_LIT("auth")),
		  EINVAL);
}

/* ---- verification ------------------------------------------------------- */

static const uint8_t key[AUTH_KEY_LEN] = "0123456789abcdef0123456789abcdef";
#define T0 1700000000u
#define REALM "bastion.test"
#define RURI "sip:bob@bastion.test"

struct fixture {
	struct auth_server srv;
	struct auth_params p;
	char nonce[AUTH_NONCE_LEN + 1];
	char resp[AUTH_HEX_MAX];
	char nc[9];
	uint8_t ha1[AUTH_HASH_MAX];
	size_t ha1_len;
	enum auth_algo algo;
};

static struct slice own_addr[] = { { "10.0.0.1:5060", 13 } };

/* Server at T0, one nonce made at T0 + 1, a client that knows the password. */
static bool fx_init(struct fixture *f, enum auth_algo algo)
{
	memset(f, 0, sizeof(*f));
	f->algo = algo;
	f->srv.key = key;
	f->srv.realm = SLICE_LIT(REALM);
	f->srv.nonce_lifetime_s = 300;
	f->srv.algos = AUTH_ALGO_BIT(AUTH_ALGO_MD5) | AUTH_ALGO_BIT(AUTH_ALGO_SHA256);
	f->srv.own_addrs = own_addr;
	f->srv.n_own_addrs = 1;
	if (auth_nc_table_new(&f->srv.nc, AUTH_NC_WINDOW_MIN, 64) != 0)
		return false;
	if (auth_nonce_make(key, f->srv.nc, T0 + 1, f->nonce) != 0)
		return false;
	if (auth_ha1(f->ha1, sizeof(f->ha1), &f->ha1_len, algo, SLICE_LIT("alice"), SLICE_LIT(REALM),
		     SLICE_LIT("s3cret")) != 0)
		return false;
	f->p.username = SLICE_LIT("alice");
	f->p.realm = SLICE_LIT(REALM);
	f->p.nonce = slice_cstr(f->nonce);
	f->p.uri = SLICE_LIT(RURI);
	f->p.algorithm = slice_cstr(auth_algo_name(algo));
	f->p.cnonce = SLICE_LIT("0a4f113b");
	f->p.qop = SLICE_LIT("auth");
	return true;
}

/* The client's response for nonce-count nc with its current parameters. */
static bool fx_sign(struct fixture *f, uint32_t nc, const char *password)
{
	uint8_t ha1[AUTH_HASH_MAX];
	size_t n;

	snprintf(f->nc, sizeof(f->nc), "%08x", (unsigned)nc);
	f->p.nc = slice_cstr(f->nc);
	if (auth_ha1(ha1, sizeof(ha1), &n, f->algo, f->p.username, f->p.realm,
		     slice_cstr(password)) != 0)
		return false;
	if (auth_response_hex(f->resp, sizeof(f->resp), f->algo, ha1, n, SLICE_LIT("REGISTER"),
			      f->p.uri, f->p.nonce, f->p.nc, f->p.cnonce, f->p.qop) != 0)
		return false;
	f->p.response = slice_cstr(f->resp);
	return true;
}

static enum auth_result fx_verify(struct fixture *f, uint64_t now)
{
	struct auth_verdict v;

	if (auth_digest_verify(&v, &f->srv, &f->p, SLICE_LIT("REGISTER"), SLICE_LIT(RURI), f->ha1,
			       f->ha1_len, f->algo, now) != 0)
		return (enum auth_result)-1;
	return v.result;
}

static void fx_done(struct fixture *f)
{
	auth_nc_table_free(&f->srv.nc);
}

static void test_verify_ok_both_algos(void)
{
	struct fixture f;
	struct auth_verdict v;

	for (int a = AUTH_ALGO_MD5; a <= AUTH_ALGO_SHA256; a++) {
		CHECK(fx_init(&f, (enum auth_algo)a));
		CHECK(fx_sign(&f, 1, "s3cret"));
		CHECK_INT(auth_digest_verify(&v, &f.srv, &f.p, SLICE_LIT("REGISTER"), SLICE_LIT(RURI),
					     f.ha1, f.ha1_len, f.algo, T0 + 10),
			  0);
		CHECK_INT(v.result, AUTH_OK);
		CHECK_INT(v.algo, a);
		CHECK_INT(v.nc, 1);
		CHECK_INT(v.nonce_age, 9);
		fx_done(&f);
		CHECK(f.srv.nc == NULL);
	}
}

static void test_verify_uppercase_response_hex(void)
{
	struct fixture f;

	CHECK(fx_init(&f, AUTH_ALGO_SHA256));
	CHECK(fx_sign(&f, 1, "s3cret"));
	for (char *c = f.resp; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_OK);
	fx_done(&f);
}

static void test_verify_wrong_password(void)
{
	struct fixture f;
	struct auth_verdict v;

	CHECK(fx_init(&f, AUTH_ALGO_SHA256));
	CHECK(fx_sign(&f, 1, "s3creT"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_WRONG_RESPONSE);
	/* A wrong attempt does not burn the nonce-count of the real client. */
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_OK);
	/* Unknown user: no HA1, same answer. */
	CHECK(fx_sign(&f, 2, "s3cret"));
	CHECK_INT(auth_digest_verify(&v, &f.srv, &f.p, SLICE_LIT("REGISTER"), SLICE_LIT(RURI), NULL,
				     0, AUTH_ALGO_NONE, T0 + 2),
		  0);
	CHECK_INT(v.result, AUTH_WRONG_RESPONSE);
	/* An attacker who signs with the all-zero stand-in HA1 gets nowhere. */
	{
		static const uint8_t zero[AUTH_HASH_MAX];

		snprintf(f.nc, sizeof(f.nc), "%08x", 3u);
		f.p.nc = slice_cstr(f.nc);
		f.p.username = SLICE_LIT("mallory");
		CHECK_INT(auth_response_hex(f.resp, sizeof(f.resp), f.algo, zero, f.ha1_len,
					    SLICE_LIT("REGISTER"), f.p.uri, f.p.nonce, f.p.nc, f.p.cnonce,
					    f.p.qop),
			  0);
		f.p.response = slice_cstr(f.resp);
		CHECK_INT(auth_digest_verify(&v, &f.srv, &f.p, SLICE_LIT("REGISTER"), SLICE_LIT(RURI),
					     NULL, 0, AUTH_ALGO_NONE, T0 + 2),
			  0);
		CHECK_INT(v.result, AUTH_WRONG_RESPONSE);
		f.p.username = SLICE_LIT("alice");
	}
	CHECK(fx_sign(&f, 2, "s3cret"));
	/* The method is part of HA2. */
	CHECK_INT(auth_digest_verify(&v, &f.srv, &f.p, SLICE_LIT("INVITE"), SLICE_LIT(RURI), f.ha1,
				     f.ha1_len, f.algo, T0 + 2),
		  0);
	CHECK_INT(v.result, AUTH_WRONG_RESPONSE);
	fx_done(&f);
}

static void test_verify_replay(void)
{
	struct fixture f;

	CHECK(fx_init(&f, AUTH_ALGO_MD5));
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_OK);
	CHECK_INT(fx_verify(&f, T0 + 3), AUTH_REPLAY);
	CHECK(fx_sign(&f, 2, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 4), AUTH_OK);
	CHECK(fx_sign(&f, 7, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 5), AUTH_OK);
	CHECK(fx_sign(&f, 5, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 6), AUTH_REPLAY);
	CHECK(fx_sign(&f, 7, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 6), AUTH_REPLAY);
	fx_done(&f);
}

static void test_verify_stale(void)
{
	struct fixture f;

	CHECK(fx_init(&f, AUTH_ALGO_SHA256));
	CHECK(fx_sign(&f, 1, "s3cret"));
	/* Nonce made at T0 + 1, lifetime 300. */
	CHECK_INT(fx_verify(&f, T0 + 1 + 301), AUTH_STALE);
	CHECK(fx_sign(&f, 1, "wrong"));
	CHECK_INT(fx_verify(&f, T0 + 1 + 301), AUTH_WRONG_RESPONSE);
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 1 + 300), AUTH_OK);
	fx_done(&f);
}

static void test_verify_bad_nonce(void)
{
	struct fixture f;

	CHECK(fx_init(&f, AUTH_ALGO_SHA256));
	f.nonce[10] = f.nonce[10] == 'A' ? 'B' : 'A';
	CHECK(fx_sign(&f, 1, "s3cret")); /* the client signs the mangled nonce */
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_NONCE);
	/* The RFC's own nonce is not ours either. */
	f.p.nonce = SLICE_LIT(R7616_NONCE);
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_NONCE);
	fx_done(&f);
}

/*
 * Several nodes (docs/scaling.md): node A's nonces at node B. Unknown epoch:
 * BAD_NONCE. Known (A alive, its counts in A): a right answer is STALE,
 * never OK. Held (A's lease lapsed, B took the epoch over with A's recorded
 * counts): counts above A's are OK, A's and below are REPLAY, never-used
 * nonces of A are accepted once, and below the floor is STALE.
 */
static void test_verify_other_epochs(void)
{
	static const uint8_t key_b[AUTH_KEY_LEN] = "ffffffffffffffffffffffffffffffff";
	struct fixture f;
	struct auth_server a;
	struct auth_nc_table *tb = NULL;
	struct auth_epochs *others = NULL;
	struct auth_verdict v;
	char fresh_nonce[AUTH_NONCE_LEN + 1];
	uint32_t epoch;
	uint64_t seq, fresh_seq;
	bool fresh = false;

	CHECK(fx_init(&f, AUTH_ALGO_SHA256));
	auth_nc_table_set_epoch(f.srv.nc, 7);
	CHECK(auth_nonce_make(key, f.srv.nc, T0 + 1, f.nonce) == 0);
	CHECK(auth_nonce_make(key, f.srv.nc, T0 + 1, fresh_nonce) == 0);
	CHECK_INT(auth_nonce_id(&epoch, &seq, slice_cstr(f.nonce)), 0);
	CHECK_INT(epoch, 7);
	CHECK_INT(auth_nonce_id(&epoch, &fresh_seq, slice_cstr(fresh_nonce)), 0);
	CHECK(fresh_seq == seq + 1);
	/* A accepts 1 and 2. */
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_OK);
	CHECK(fx_sign(&f, 2, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_OK);
	a = f.srv;

	/* Node B: its own key and table (epoch 9), and the set of others. */
	CHECK_INT(auth_nc_table_new(&tb, AUTH_NC_WINDOW_MIN, 64), 0);
	auth_nc_table_set_epoch(tb, 9);
	CHECK_INT(auth_epochs_new(&others, 64), 0);
	f.srv.key = key_b;
	f.srv.nc = tb;
	f.srv.others = others;
	CHECK(fx_sign(&f, 3, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 3), AUTH_BAD_NONCE);

	/* A alive: B knows the epoch's key, not its counts. */
	auth_epochs_begin(others);
	CHECK_INT(auth_epochs_put(others, 7, key, false, &fresh), 0);
	CHECK(!fresh);
	auth_epochs_end(others);
	CHECK_INT(fx_verify(&f, T0 + 3), AUTH_STALE);
	CHECK(fx_sign(&f, 3, "wrong"));
	CHECK_INT(fx_verify(&f, T0 + 3), AUTH_WRONG_RESPONSE);
	/* a nonce claiming epoch 7 under another key is forged */
	auth_epochs_begin(others);
	CHECK_INT(auth_epochs_put(others, 7, key_b, false, NULL), 0);
	auth_epochs_end(others);
	CHECK(fx_sign(&f, 3, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 3), AUTH_BAD_NONCE);

	/* A died: B holds epoch 7 with the counts A recorded (2 for seq). */
	auth_epochs_begin(others);
	CHECK_INT(auth_epochs_put(others, 7, key, true, &fresh), 0);
	CHECK(fresh);
	auth_epochs_end(others);
	CHECK_INT(auth_epochs_load_use(others, 7, seq, 1), 0);
	CHECK_INT(auth_epochs_load_use(others, 7, seq, 2), 0);
	CHECK_INT(auth_epochs_load_use(others, 7, seq, 1), 0); /* the highest stays */
	for (uint32_t nc = 1; nc <= 2; nc++) {
		CHECK(fx_sign(&f, nc, "s3cret"));
		CHECK_INT(fx_verify(&f, T0 + 4), AUTH_REPLAY);
	}
	CHECK(fx_sign(&f, 3, "s3cret"));
	CHECK_INT(auth_digest_verify(&v, &f.srv, &f.p, SLICE_LIT("REGISTER"), SLICE_LIT(RURI), f.ha1,
				     f.ha1_len, f.algo, T0 + 4),
		  0);
	CHECK_INT(v.result, AUTH_OK);
	CHECK_INT(v.epoch, 7);
	CHECK(v.seq == seq);
	CHECK_INT(v.nc, 3);
	CHECK_INT(fx_verify(&f, T0 + 4), AUTH_REPLAY);
	/* put again as held: the counts stay */
	auth_epochs_begin(others);
	CHECK_INT(auth_epochs_put(others, 7, key, true, &fresh), 0);
	CHECK(!fresh);
	auth_epochs_end(others);
	CHECK_INT(fx_verify(&f, T0 + 4), AUTH_REPLAY);
	/* A's other nonce, never answered: accepted once at B */
	f.p.nonce = slice_cstr(fresh_nonce);
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 4), AUTH_OK);
	CHECK_INT(fx_verify(&f, T0 + 4), AUTH_REPLAY);
	/* counts below the floor were not loaded: stale, never OK */
	auth_epochs_set_floor(others, 7, fresh_seq + 1);
	CHECK(fx_sign(&f, 2, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 4), AUTH_STALE);
	/* the epoch ended: its nonces are not ours any more */
	auth_epochs_begin(others);
	auth_epochs_end(others);
	CHECK_INT(fx_verify(&f, T0 + 4), AUTH_BAD_NONCE);
	/* and B's own nonces are checked against B's table, as always */
	CHECK(auth_nonce_make(key_b, tb, T0 + 4, f.nonce) == 0);
	f.p.nonce = slice_cstr(f.nonce);
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 5), AUTH_OK);

	auth_epochs_free(&others);
	auth_nc_table_free(&tb);
	f.srv = a;
	fx_done(&f);
}

static void test_verify_missing_params(void)
{
	struct fixture f;
	size_t offs[] = { offsetof(struct auth_params, username), offsetof(struct auth_params, realm),
			  offsetof(struct auth_params, nonce), offsetof(struct auth_params, uri),
			  offsetof(struct auth_params, response), offsetof(struct auth_params, cnonce),
			  offsetof(struct auth_params, nc), offsetof(struct auth_params, qop) };

	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		CHECK(fx_init(&f, AUTH_ALGO_SHA256));
		CHECK(fx_sign(&f, 1, "s3cret"));
		*(struct slice *)((char *)&f.p + offs[i]) = SLICE_NULL;
		if (fx_verify(&f, T0 + 2) != AUTH_BAD_PARAMS) {
			check_fail(__FILE__, __LINE__, "field %zu missing not refused", i);
			fx_done(&f);
			return;
		}
		fx_done(&f);
	}
}

static void test_verify_qop_and_algorithm(void)
{
	struct fixture f;

	CHECK(fx_init(&f, AUTH_ALGO_SHA256));
	f.p.qop = SLICE_LIT("auth-int");
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_PARAMS);
	f.p.qop = SLICE_LIT("auth,auth-int");
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_PARAMS);
	f.p.qop = SLICE_LIT("auth");
	f.p.algorithm = SLICE_LIT("SHA-256-sess");
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_PARAMS);
	f.p.algorithm = SLICE_LIT("SHA-256");
	/* Only MD5 allowed by the server. */
	f.srv.algos = AUTH_ALGO_BIT(AUTH_ALGO_MD5);
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_PARAMS);
	f.srv.algos = AUTH_ALGO_BIT(AUTH_ALGO_SHA256);
	/* An absent algorithm means MD5, which is now not allowed. */
	f.p.algorithm = SLICE_NULL;
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_PARAMS);
	f.p.algorithm = SLICE_LIT("SHA-256");
	/* Realm must be ours, byte for byte. */
	f.p.realm = SLICE_LIT("Bastion.test");
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_PARAMS);
	f.p.realm = SLICE_LIT(REALM);
	/* Opaque, when configured, must come back. */
	f.srv.opaque = SLICE_LIT("op1");
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_PARAMS);
	f.p.opaque = SLICE_LIT("op1");
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_OK);
	fx_done(&f);
}

static void test_verify_bad_nc_and_response(void)
{
	struct fixture f;
	const char *bad_nc[] = { "1", "0000001", "000000001", "00000000", "0000000g", "+0000001",
				 " 0000001" };

	CHECK(fx_init(&f, AUTH_ALGO_MD5));
	for (size_t i = 0; i < ARRAY_SIZE(bad_nc); i++) {
		CHECK(fx_sign(&f, 1, "s3cret"));
		f.p.nc = slice_cstr(bad_nc[i]);
		CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_PARAMS);
	}
	CHECK(fx_sign(&f, 1, "s3cret"));
	f.p.response = slice_make(f.resp, 31);
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_PARAMS);
	f.resp[0] = 'x';
	f.p.response = slice_cstr(f.resp);
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_BAD_PARAMS);
	/* An HA1 for the other algorithm is refused, not misused. */
	{
		struct auth_verdict v;

		CHECK(fx_sign(&f, 1, "s3cret"));
		CHECK_INT(auth_digest_verify(&v, &f.srv, &f.p, SLICE_LIT("REGISTER"),
					     SLICE_LIT(RURI), f.ha1, 32, AUTH_ALGO_SHA256, T0 + 2),
			  0);
		CHECK_INT(v.result, AUTH_BAD_PARAMS);
		CHECK_INT(auth_digest_verify(&v, &f.srv, &f.p, SLICE_LIT("REGISTER"),
					     SLICE_LIT(RURI), f.ha1, 20, AUTH_ALGO_MD5, T0 + 2),
			  EINVAL);
		CHECK(v.result != AUTH_OK);
	}
	fx_done(&f);
}

static void test_verify_uri_modes(void)
{
	struct fixture f;

	CHECK(fx_init(&f, AUTH_ALGO_MD5));
	/* SIPp style: the server's address instead of the Request-URI. */
	f.p.uri = SLICE_LIT("sip:10.0.0.1:5060");
	CHECK(fx_sign(&f, 1, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_URI_MISMATCH);
	f.srv.uri_mode = AUTH_URI_RELAXED;
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_OK);
	/* Relaxed still refuses another host. */
	f.p.uri = SLICE_LIT("sip:bob@evil.example:5060");
	CHECK(fx_sign(&f, 2, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_URI_MISMATCH);
	/* Relaxed: host of the Request-URI with the default port. */
	f.p.uri = SLICE_LIT("sip:BASTION.test:5060");
	CHECK(fx_sign(&f, 3, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_OK);
	f.p.uri = SLICE_LIT("sip:bastion.test:5070");
	CHECK(fx_sign(&f, 4, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_URI_MISMATCH);
	/* Strict: another user on the same host is a mismatch. */
	f.srv.uri_mode = AUTH_URI_STRICT;
	f.p.uri = SLICE_LIT("sip:carol@bastion.test");
	CHECK(fx_sign(&f, 5, "s3cret"));
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_URI_MISMATCH);
	f.srv.uri_mode = AUTH_URI_RELAXED;
	CHECK_INT(fx_verify(&f, T0 + 2), AUTH_OK);
	fx_done(&f);
}

static void test_uri_strict_equality(void)
{
	const struct {
		const char *a, *b;
		bool eq;
	} t[] = {
		{ "sip:bob@example.com", "sip:bob@example.com", true },
		{ "sip:bob@EXAMPLE.com", "SIP:bob@example.COM", true },
		{ "sip:Bob@example.com", "sip:bob@example.com", false },
		{ "sip:bob@example.com", "sip:bob@example.com:5060", false },
		{ "sip:bob@example.com:5060", "sip:bob@example.com:05060", true },
		{ "sip:bob@example.com:0", "sip:bob@example.com", false },
		{ "sip:bob@example.com", "sips:bob@example.com", false },
		{ "sip:bob@example.com;transport=UDP", "sip:bob@example.com;transport=udp", true },
		{ "sip:bob@example.com", "sip:bob@example.com;transport=udp", false },
		{ "sip:bob@example.com;maddr=1.2.3.4", "sip:bob@example.com", false },
		{ "sip:bob@example.com;foo=1", "sip:bob@example.com", true },
		{ "sip:bob@example.com;foo=1", "sip:bob@example.com;foo=2", false },
		{ "sip:bob@example.com;lr;foo=1", "sip:bob@example.com;foo=1;lr", true },
		{ "sip:bob@example.com?subject=x", "sip:bob@example.com", false },
		{ "sip:[::1]:5060", "sip:[::1]:5060", true },
		{ "sip:[::1]:5060", "sip:[::2]:5060", false },
		{ "sip:example.com", "sip:bob@example.com", false },
		{ "sip:", "sip:", true },  /* byte-equal fast path */
		{ "sip:a", "sip:b", false },
		{ "", "sip:bob@example.com", false },
		{ "tel:+123", "tel:+124", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		if (auth_uri_match(slice_cstr(t[i].a), slice_cstr(t[i].b), AUTH_URI_STRICT, NULL, 0) !=
		    t[i].eq) {
			check_fail(__FILE__, __LINE__, "strict %s vs %s should be %d", t[i].a, t[i].b,
				   t[i].eq);
			return;
		}
	}
}

static void test_uri_relaxed(void)
{
	struct slice own[] = { SLICE_LIT("192.0.2.1:5080"), SLICE_LIT("[2001:db8::1]") };

	CHECK(auth_uri_match(SLICE_LIT("sip:192.0.2.1:5080"), SLICE_LIT("sip:bob@example.com"),
			     AUTH_URI_RELAXED, own, 2));
	CHECK(!auth_uri_match(SLICE_LIT("sip:192.0.2.1"), SLICE_LIT("sip:bob@example.com"),
			      AUTH_URI_RELAXED, own, 2));
	CHECK(auth_uri_match(SLICE_LIT("sip:[2001:db8::1]:5060"), SLICE_LIT("sip:bob@example.com"),
			     AUTH_URI_RELAXED, own, 2));
	CHECK(auth_uri_match(SLICE_LIT("sips:alice@example.com"), SLICE_LIT("sips:bob@example.com:5061"),
			     AUTH_URI_RELAXED, NULL, 0));
	CHECK(!auth_uri_match(SLICE_LIT("sip:example.org"), SLICE_LIT("sip:bob@example.com"),
			      AUTH_URI_RELAXED, own, 2));
	CHECK(!auth_uri_match(SLICE_LIT("garbage"), SLICE_LIT("sip:bob@example.com"),
			      AUTH_URI_RELAXED, own, 2));
}

/* The client side: our answer to a carrier's challenge, against responses
 * computed independently (Python hashlib), and the challenges we refuse. */
static void test_client_answer(void)
{
	char out[1024];
	size_t len = 0;

	CHECK_INT(auth_client_answer(out, sizeof(out), &len,
				     SLICE_LIT("Digest realm=\"carrier\", nonce=\"abc\", qop=\"auth,auth-int\", "
					       "opaque=\"op1\""),
				     SLICE_LIT("INVITE"), SLICE_LIT("sip:+12125550100@192.0.2.1:5060;user=phone"),
				     SLICE_LIT("acct"), SLICE_LIT("pw"), SLICE_NULL, SLICE_LIT("0a4f113b"), 1),
		  0);
	CHECK_INT(len, strlen(out));
	CHECK(strstr(out, "response=\"8fc15d24b34ed2108564bfedf36ffd13\"") != NULL);
	CHECK(strstr(out, "username=\"acct\"") && strstr(out, "nc=00000001") &&
	      strstr(out, "qop=auth,") && strstr(out, "opaque=\"op1\"") && strstr(out, "algorithm=MD5"));
	CHECK(!strstr(out, "pw\""));
	CHECK_INT(auth_client_answer(out, sizeof(out), &len,
				     SLICE_LIT("Digest realm=\"carrier\", nonce=\"abc\", qop=\"auth\", "
					       "algorithm=SHA-256"),
				     SLICE_LIT("REGISTER"), SLICE_LIT("sip:192.0.2.1:5060"), SLICE_LIT("acct"),
				     SLICE_LIT("pw"), SLICE_LIT("carrier"), SLICE_LIT("0a4f113b"), 2),
		  0);
	CHECK(strstr(out, "response=\"15f4b1bcfa307db733831558628c85341a6c2cdf099755d63bd221029cf29851\"") != NULL);
	CHECK(strstr(out, "algorithm=SHA-256") && !strstr(out, "opaque"));
	/* refused: another realm, no qop=auth, -sess, not Digest, a quote in a value, too small */
	CHECK_INT(auth_client_answer(out, sizeof(out), &len,
				     SLICE_LIT("Digest realm=\"evil\", nonce=\"abc\", qop=\"auth\""),
				     SLICE_LIT("INVITE"), SLICE_LIT("sip:x@y"), SLICE_LIT("acct"),
				     SLICE_LIT("pw"), SLICE_LIT("carrier"), SLICE_LIT("c"), 1), EACCES);
	/* a challenge without qop (RFC 2617 3.2.2.1, RFC 2069's form): RFC 2617
	 * 3.5's credentials, answered H(HA1:nonce:HA2); the expected values
	 * from Python: h=lambda a,x: hashlib.new(a,x.encode()).hexdigest();
	 * h(a, h(a,"Mufasa:testrealm@host.com:Circle Of Life") +
	 * ":dcd98b7102dd2f0e8b11d0f600bfb0c093:" + h(a,"GET:/dir/index.html")) */
	CHECK_INT(auth_client_answer(out, sizeof(out), &len,
				     SLICE_LIT("Digest realm=\"testrealm@host.com\", "
					       "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
					       "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
				     SLICE_LIT("GET"), SLICE_LIT("/dir/index.html"), SLICE_LIT("Mufasa"),
				     SLICE_LIT("Circle Of Life"), SLICE_NULL, SLICE_LIT("0a4f113b"), 7),
		  0);
	CHECK_INT(len, strlen(out));
	CHECK(strstr(out, "response=\"670fd8c2df070c60b045671b8b24ff02\"") != NULL);
	CHECK(!strstr(out, "cnonce") && !strstr(out, "nc=") && !strstr(out, "qop"));
	CHECK(strstr(out, "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"") &&
	      strstr(out, "uri=\"/dir/index.html\"") && strstr(out, "algorithm=MD5"));
	CHECK_INT(auth_client_answer(out, sizeof(out), &len,
				     SLICE_LIT("Digest realm=\"testrealm@host.com\", algorithm=SHA-256, "
					       "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\""),
				     SLICE_LIT("GET"), SLICE_LIT("/dir/index.html"), SLICE_LIT("Mufasa"),
				     SLICE_LIT("Circle Of Life"), SLICE_NULL, SLICE_NULL, 1),
		  0);
	CHECK(strstr(out, "response=\"e71f89d8267982ee1cd4dfb3637698eaf2f55848fe056aee7be175262aab5d2a\"") != NULL);
	CHECK(strstr(out, "algorithm=SHA-256") && !strstr(out, "cnonce") && !strstr(out, "opaque"));
	{
		/* the maths alone, on the same vector */
		uint8_t ha1[AUTH_HASH_MAX];
		size_t hl = 0;
		char r[AUTH_HEX_MAX];
		CHECK_INT(auth_ha1(ha1, sizeof(ha1), &hl, AUTH_ALGO_MD5, SLICE_LIT("Mufasa"),
				   SLICE_LIT("testrealm@host.com"), SLICE_LIT("Circle Of Life")), 0);
		CHECK_INT(auth_response_noqop_hex(r, sizeof(r), AUTH_ALGO_MD5, ha1, hl, SLICE_LIT("GET"),
						  SLICE_LIT("/dir/index.html"),
						  SLICE_LIT("dcd98b7102dd2f0e8b11d0f600bfb0c093")), 0);
		CHECK(strcmp(r, "670fd8c2df070c60b045671b8b24ff02") == 0);
		CHECK_INT(auth_response_noqop_hex(r, 32, AUTH_ALGO_MD5, ha1, hl, SLICE_LIT("GET"),
						  SLICE_LIT("/"), SLICE_LIT("n")), EOVERFLOW);
		CHECK_INT(auth_response_noqop_hex(r, sizeof(r), AUTH_ALGO_SHA256, ha1, hl,
						  SLICE_LIT("GET"), SLICE_LIT("/"), SLICE_LIT("n")), EINVAL);
	}
	/* a qop list without auth is still refused, and so is an empty nonce */
	CHECK_INT(auth_client_answer(out, sizeof(out), &len,
				     SLICE_LIT("Digest realm=\"carrier\", nonce=\"\""),
				     SLICE_LIT("INVITE"), SLICE_LIT("sip:x@y"), SLICE_LIT("acct"),
				     SLICE_LIT("pw"), SLICE_NULL, SLICE_LIT("c"), 1), EPROTO);
	CHECK_INT(auth_client_answer(out, sizeof(out), &len,
				     SLICE_LIT("Digest realm=\"carrier\", nonce=\"abc\", qop=\"auth-int\""),
				     SLICE_LIT("INVITE"), SLICE_LIT("sip:x@y"), SLICE_LIT("acct"),
				     SLICE_LIT("pw"), SLICE_NULL, SLICE_LIT("c"), 1), EPROTO);
	CHECK_INT(auth_client_answer(out, sizeof(out), &len,
				     SLICE_LIT("Digest realm=\"carrier\", nonce=\"abc\", qop=\"auth\", "
					       "algorithm=MD5-sess"),
				     SLICE_LIT("INVITE"), SLICE_LIT("sip:x@y"), SLICE_LIT("acct"),
				     SLICE_LIT("pw"), SLICE_NULL, SLICE_LIT("c"), 1), EPROTO);
	CHECK_INT(auth_client_answer(out, sizeof(out), &len, SLICE_LIT("Basic realm=\"carrier\""),
				     SLICE_LIT("INVITE"), SLICE_LIT("sip:x@y"), SLICE_LIT("acct"),
				     SLICE_LIT("pw"), SLICE_NULL, SLICE_LIT("c"), 1), EPROTO);
	CHECK_INT(auth_client_answer(out, sizeof(out), &len,
				     SLICE_LIT("Digest realm=\"carrier\", nonce=\"a\\\"b\", qop=\"auth\""),
				     SLICE_LIT("INVITE"), SLICE_LIT("sip:x@y"), SLICE_LIT("acct"),
				     SLICE_LIT("pw"), SLICE_NULL, SLICE_LIT("c"), 1), EPROTO);
	CHECK_INT(auth_client_answer(out, 40, &len,
				     SLICE_LIT("Digest realm=\"carrier\", nonce=\"abc\", qop=\"auth\""),
				     SLICE_LIT("INVITE"), SLICE_LIT("sip:x@y"), SLICE_LIT("acct"),
				     SLICE_LIT("pw"), SLICE_NULL, SLICE_LIT("c"), 1), EOVERFLOW);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_rfc7616_sha256),
		CASE(test_rfc7616_md5),
		CASE(test_rfc2617_md5),
		CASE(test_algo_names),
		CASE(test_response_args),
		CASE(test_verify_ok_both_algos),
		CASE(test_verify_uppercase_response_hex),
		CASE(test_verify_wrong_password),
		CASE(test_verify_replay),
		CASE(test_verify_stale),
		CASE(test_verify_bad_nonce),
		CASE(test_verify_other_epochs),
		CASE(test_verify_missing_params),
		CASE(test_verify_qop_and_algorithm),
		CASE(test_verify_bad_nc_and_response),
		CASE(test_verify_uri_modes),
		CASE(test_uri_strict_equality),
		CASE(test_uri_relaxed),
		CASE(test_client_answer),
	};

	return check_main("auth_digest", cases, ARRAY_SIZE(cases), argc, argv);
}
