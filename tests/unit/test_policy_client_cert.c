/*
 * test_policy_client_cert: policy_client_cert() (per-user mutual TLS: not
 * required passes; required refuses a request not over TLS, a connection
 * without a certificate, and a certificate naming someone else; accepts the
 * subject CN or a sip:/sips: SAN URI naming the user) and the strict URI
 * comparison of policy_cert_uri_names().
 */
#include "check.h"
#include "policy/policy.h"

#include <string.h>

#define DOMAIN "example.test"

static void input(struct policy_client_cert_in *in, const char *user, const char *cn,
		  const char *const *uris, size_t n)
{
	*in = (struct policy_client_cert_in){
		.required = true,
		.over_tls = true,
		.present = true,
		.cn = cn,
		.uris = uris,
		.n_uri = n,
		.user = slice_cstr(user),
		.domain = slice_cstr(DOMAIN),
	};
}

static bool refused_for(const struct policy_verdict *v, const char *word)
{
	return !v->allow && v->status == 403 &&
	       strcmp(v->reason, "Client Certificate Required") == 0 &&
	       strcmp(v->event, POLICY_EVENT_CLIENT_CERT) == 0 && strstr(v->detail, word);
}

static void test_not_required(void)
{
	struct policy_client_cert_in in;
	struct policy_verdict v;

	input(&in, "1001", NULL, NULL, 0);
	in.required = false;
	in.over_tls = false;
	in.present = false;
	policy_client_cert(&v, &in);
	CHECK(v.allow && v.event == NULL && v.detail != NULL);
}

static void test_refusals(void)
{
	static const char *const other[] = { "sip:1002@" DOMAIN };
	struct policy_client_cert_in in;
	struct policy_verdict v;

	input(&in, "1001", "1001", NULL, 0);
	in.over_tls = false; /* the right certificate cannot come over UDP anyway */
	policy_client_cert(&v, &in);
	CHECK(refused_for(&v, "did not come over TLS"));

	input(&in, "1001", NULL, NULL, 0);
	in.present = false;
	policy_client_cert(&v, &in);
	CHECK(refused_for(&v, "presented none"));
	/* names without a verified certificate do not count */
	input(&in, "1001", "1001", NULL, 0);
	in.present = false;
	policy_client_cert(&v, &in);
	CHECK(refused_for(&v, "presented none"));

	input(&in, "1001", "1002", other, 1);
	policy_client_cert(&v, &in);
	CHECK(refused_for(&v, "another identity"));
	input(&in, "1001", "", NULL, 0);
	policy_client_cert(&v, &in);
	CHECK(refused_for(&v, "another identity"));
	input(&in, "1001", NULL, NULL, 0);
	policy_client_cert(&v, &in);
	CHECK(refused_for(&v, "another identity"));
	/* CN compares byte for byte: no prefix, no case folding */
	input(&in, "1001", "10010", NULL, 0);
	policy_client_cert(&v, &in);
	CHECK(!v.allow);
	input(&in, "alice", "Alice", NULL, 0);
	policy_client_cert(&v, &in);
	CHECK(!v.allow);
	input(&in, "", "", NULL, 0);
	policy_client_cert(&v, &in);
	CHECK(!v.allow);
}

static void test_matches(void)
{
	static const char *const uris[] = { "https://example.test/x", "sip:1002@" DOMAIN,
					    "sip:1001@" DOMAIN };
	static const char *const sips[] = { "SIPS:1001@EXAMPLE.test" };
	struct policy_client_cert_in in;
	struct policy_verdict v;

	/* what `bastion tls issue 1001` makes: CN and URI */
	input(&in, "1001", "1001", uris + 2, 1);
	policy_client_cert(&v, &in);
	CHECK(v.allow && strstr(v.detail, "subject"));
	/* the URI alone, among others */
	input(&in, "1001", "phone-7", uris, 3);
	policy_client_cert(&v, &in);
	CHECK(v.allow && strstr(v.detail, "URI"));
	input(&in, "1001", NULL, sips, 1);
	policy_client_cert(&v, &in);
	CHECK(v.allow);
	/* the CN alone */
	input(&in, "1001", "1001", NULL, 0);
	policy_client_cert(&v, &in);
	CHECK(v.allow);
}

static void test_uri_names(void)
{
	struct slice u = slice_cstr("1001"), d = slice_cstr(DOMAIN);

	CHECK(policy_cert_uri_names("sip:1001@example.test", u, d));
	CHECK(policy_cert_uri_names("sips:1001@example.test", u, d));
	CHECK(policy_cert_uri_names("Sip:1001@Example.TEST", u, d));
	CHECK(!policy_cert_uri_names("sip:1001@example.test:5061", u, d));
	CHECK(!policy_cert_uri_names("sip:1001@example.test;transport=tls", u, d));
	CHECK(!policy_cert_uri_names("sip:1001@example.tes", u, d));
	CHECK(!policy_cert_uri_names("sip:1001@other.test", u, d));
	CHECK(!policy_cert_uri_names("sip:1001@example.test.evil", u, d));
	CHECK(!policy_cert_uri_names("sip:10011@example.test", u, d));
	CHECK(!policy_cert_uri_names("sip:x1001@example.test", u, d));
	CHECK(!policy_cert_uri_names("sip:1001example.test", u, d));
	CHECK(!policy_cert_uri_names("tel:1001", u, d));
	CHECK(!policy_cert_uri_names("sip:", u, d));
	CHECK(!policy_cert_uri_names("", u, d));
	CHECK(!policy_cert_uri_names(NULL, u, d));
	CHECK(!policy_cert_uri_names("sip:@example.test", slice_cstr(""), d));
	CHECK(!policy_cert_uri_names("sip:1001@", u, slice_cstr("")));
	/* the user part is not case-folded */
	CHECK(!policy_cert_uri_names("sip:ALICE@example.test", slice_cstr("alice"), d));
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_not_required),
		CASE(test_refusals),
		CASE(test_matches),
		CASE(test_uri_names),
	};

	return check_main("policy_client_cert", cases, ARRAY_SIZE(cases), argc, argv);
}
