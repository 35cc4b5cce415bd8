/*
 * test_sip_uri: URIs (sip, sips, tel, other schemes, escapes, IPv6,
 * ports, password refusal, LWS, length limit) and the header value parsers
 * (Via, name-addr, Contact, CSeq, auth, lists, parameters).
 */
#include "check.h"
#include "sip/sip.h"

#include <errno.h>

static struct sip_limits lim = { .max_message = 16384, .max_headers = 100, .max_header_line = 4096,
				 .max_uri = 1024, .max_body = 8192 };

static int uri(struct sip_uri *u, const char *s, enum sip_err *e)
{
	return sip_uri_parse(u, slice_cstr(s), &lim, e);
}

static void uri_sip_full(void)
{
	struct sip_uri u;
	enum sip_err e;

	CHECK_INT(uri(&u, "sip:alice@example.com:5070;transport=tcp;lr?subject=hi&x=y", &e), 0);
	CHECK_INT(u.scheme, SIP_SCHEME_SIP);
	CHECK_SLICE(u.scheme_s, "sip");
	CHECK_SLICE(u.user, "alice");
	CHECK_SLICE(u.host, "example.com");
	CHECK_INT(u.host_type, SIP_HOST_NAME);
	CHECK(u.has_port);
	CHECK_INT(u.port, 5070);
	CHECK_SLICE(u.params, ";transport=tcp;lr");
	CHECK_SLICE(u.headers, "subject=hi&x=y");
	struct slice v;
	CHECK(sip_param_get(u.params, "TRANSPORT", &v));
	CHECK_SLICE(v, "tcp");
	CHECK(sip_param_get(u.params, "lr", &v));
	CHECK_INT(v.len, 0);
	CHECK(!sip_param_get(u.params, "maddr", &v));
}

static void uri_hosts(void)
{
	struct sip_uri u;
	enum sip_err e;

	CHECK_INT(uri(&u, "sips:[2001:db8::1]:5061", &e), 0);
	CHECK_INT(u.scheme, SIP_SCHEME_SIPS);
	CHECK_INT(u.host_type, SIP_HOST_IPV6);
	CHECK_SLICE(u.host, "2001:db8::1");
	CHECK_INT(u.port, 5061);
	CHECK_INT(uri(&u, "sip:[::ffff:192.0.2.1]", &e), 0);
	CHECK_INT(u.host_type, SIP_HOST_IPV6);
	CHECK(!u.has_port);
	CHECK_INT(uri(&u, "sip:192.0.2.1", &e), 0);
	CHECK_INT(u.host_type, SIP_HOST_IPV4);
	CHECK_INT(uri(&u, "sip:a@example.com.", &e), 0);
	CHECK_INT(uri(&u, "sip:a@[2001:db8::zz]", &e), EBADMSG);
	CHECK_INT(e, SIP_E_REQUEST_URI);
	CHECK_INT(uri(&u, "sip:a@[2001:db8::1", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@256.1.1.1", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@1.2.3", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@-bad.example.com", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@bad-.example.com", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@exa..mple.com", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@exa_mple.com", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:", &e), EBADMSG);
}

static void uri_ports(void)
{
	struct sip_uri u;
	enum sip_err e;

	CHECK_INT(uri(&u, "sip:h.example:0", &e), 0);
	CHECK_INT(u.port, 0);
	CHECK(u.has_port);
	CHECK_INT(uri(&u, "sip:h.example:65535", &e), 0);
	CHECK_INT(u.port, 65535);
	CHECK_INT(uri(&u, "sip:h.example:65536", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:h.example:4294967301", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:h.example:", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:h.example:-1", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:h.example:5o60", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:[::1]:99999", &e), EBADMSG);
}

static void uri_user_escapes(void)
{
	struct sip_uri u;
	enum sip_err e;

	CHECK_INT(uri(&u, "sip:sips%3Auser%40example.com@example.net", &e), 0);
	CHECK_SLICE(u.user, "sips%3Auser%40example.com");
	CHECK_SLICE(u.host, "example.net");
	CHECK_INT(uri(&u, "sip:user;par=u%40example.net@example.com", &e), 0);
	CHECK_SLICE(u.user, "user;par=u%40example.net");
	CHECK_INT(u.params.len, 0);
	CHECK_INT(uri(&u, "sip:null-%00-null@example.com", &e), 0);
	CHECK_INT(u.user.len, 13);
	CHECK_INT(uri(&u, "sip:bad%4@example.com", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:bad%zz@example.com", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@h;p=%2", &e), EBADMSG);
}

static void uri_password(void)
{
	struct sip_uri u;
	enum sip_err e;

	CHECK_INT(uri(&u, "sip:alice:secret@example.com", &e), EBADMSG);
	CHECK_INT(e, SIP_E_URI_PASSWORD);
	CHECK_INT(uri(&u, "sip:alice:@example.com", &e), EBADMSG);
	CHECK_INT(e, SIP_E_URI_PASSWORD);
	CHECK_INT(sip_err_status(SIP_E_URI_PASSWORD), 400);
	CHECK(strcmp(sip_err_reason(SIP_E_URI_PASSWORD), "Password in URI refused") == 0);
	/* a host:port without userinfo is no password */
	CHECK_INT(uri(&u, "sip:example.com:5060", &e), 0);
}

static void uri_tel_other(void)
{
	struct sip_uri u;
	enum sip_err e;

	CHECK_INT(uri(&u, "tel:+1-201-555-0123;phone-context=example.com", &e), 0);
	CHECK_INT(u.scheme, SIP_SCHEME_TEL);
	CHECK_SLICE(u.user, "+1-201-555-0123");
	CHECK_SLICE(u.params, ";phone-context=example.com");
	CHECK_INT(uri(&u, "tel:7042;phone-context=example.com", &e), 0);
	CHECK_INT(uri(&u, "tel:", &e), EBADMSG);
	CHECK_INT(uri(&u, "tel:12+34", &e), EBADMSG);
	CHECK_INT(uri(&u, "tel:12@34", &e), EBADMSG);
	CHECK_INT(uri(&u, "http://www.example.com/a?b=c", &e), 0);
	CHECK_INT(u.scheme, SIP_SCHEME_OTHER);
	CHECK_SLICE(u.scheme_s, "http");
	CHECK_INT(uri(&u, "isbn:2983792873", &e), 0);
	CHECK_INT(u.scheme, SIP_SCHEME_OTHER);
	CHECK_INT(uri(&u, "SIP:a@B.example", &e), 0);
	CHECK_INT(u.scheme, SIP_SCHEME_SIP);
	CHECK_INT(uri(&u, "1sip:a@b", &e), EBADMSG);
	CHECK_INT(uri(&u, "nocolon", &e), EBADMSG);
	CHECK_INT(uri(&u, ":a", &e), EBADMSG);
}

static void uri_lws_and_junk(void)
{
	struct sip_uri u;
	enum sip_err e;

	CHECK_INT(uri(&u, "sip:a@example.com ", &e), EBADMSG);
	CHECK_INT(uri(&u, " sip:a@example.com", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a @example.com", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@exam\tple.com", &e), EBADMSG);
	CHECK_INT(uri(&u, "<sip:a@example.com>", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:\xc3\xa9@example.com", &e), EBADMSG);
	/* NUL is data, not a terminator */
	CHECK_INT(sip_uri_parse(&u, slice_make("sip:a@b.c\0d", 11), &lim, &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@b.c;=x", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@b.c;;", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@b.c?", &e), EBADMSG);
	CHECK_INT(uri(&u, "sip:a@b.c?noequals", &e), EBADMSG);
}

static void uri_limit(void)
{
	char buf[2048];
	struct sip_uri u;
	enum sip_err e;
	struct sip_limits l = SIP_LIMITS_DEFAULT;

	memcpy(buf, "sip:", 4);
	memset(buf + 4, 'a', sizeof(buf) - 4);
	memcpy(buf + l.max_uri - 4, ".com", 4);
	CHECK_INT(sip_uri_parse(&u, slice_make(buf, l.max_uri), &l, &e), EBADMSG); /* label > 63? no: hostname > 255 */
	/* a long user part, host short: exactly at the limit is fine */
	memset(buf + 4, 'u', l.max_uri);
	memcpy(buf + l.max_uri - 6, "@h.com", 6);
	CHECK_INT(sip_uri_parse(&u, slice_make(buf, l.max_uri), &l, &e), 0);
	CHECK_INT(u.user.len, l.max_uri - 10);
	memcpy(buf + l.max_uri - 6, "u@h.com", 7);
	CHECK_INT(sip_uri_parse(&u, slice_make(buf, l.max_uri + 1), &l, &e), EOVERFLOW);
	CHECK_INT(e, SIP_E_URI_TOO_LONG);
	CHECK_INT(sip_err_status(SIP_E_URI_TOO_LONG), 414);
}

static void via_values(void)
{
	struct sip_via v;
	struct slice rest = SLICE_LIT("SIP / 2.0 / UDP 192.0.2.1:5060 ; branch = z9hG4bK776 ;rport;"
				      "received=10.0.0.1;maddr=224.0.0.1;ttl=16,"
				      "SIP/2.0/TLS [2001:db8::9]:5061;rport=1234;branch=x");

	CHECK_INT(sip_via_next(&v, &rest, &lim), 0);
	CHECK_SLICE(v.transport, "UDP");
	CHECK_SLICE(v.host, "192.0.2.1");
	CHECK_INT(v.host_type, SIP_HOST_IPV4);
	CHECK(v.has_port);
	CHECK_INT(v.port, 5060);
	CHECK(v.has_branch);
	CHECK_SLICE(v.branch, "z9hG4bK776");
	CHECK(v.has_rport);
	CHECK_INT(v.rport.len, 0);
	CHECK_SLICE(v.received, "10.0.0.1");
	CHECK_SLICE(v.maddr, "224.0.0.1");
	CHECK_SLICE(v.ttl, "16");
	CHECK_INT(sip_via_next(&v, &rest, &lim), 0);
	CHECK_SLICE(v.transport, "TLS");
	CHECK_INT(v.host_type, SIP_HOST_IPV6);
	CHECK_SLICE(v.host, "2001:db8::9");
	CHECK_INT(v.port, 5061);
	CHECK_SLICE(v.rport, "1234");
	CHECK_SLICE(v.branch, "x");
	CHECK_SLICE(v.raw, "SIP/2.0/TLS [2001:db8::9]:5061;rport=1234;branch=x");
	CHECK_INT(sip_via_next(&v, &rest, &lim), ENODATA);

	/* folded */
	rest = SLICE_LIT("SIP/2.0/UDP\r\n host.example;\r\n\tbranch=z9hG4bKa");
	CHECK_INT(sip_via_next(&v, &rest, &lim), 0);
	CHECK_SLICE(v.host, "host.example");
	CHECK(!v.has_port);
	CHECK_SLICE(v.branch, "z9hG4bKa");

	static const char *const bad[] = {
		"SIP/2.0/UDP",
		"SIP/2.0 UDP host",
		"SIP/2.0/UDPhost",
		"SIP/2.0/UDP host:70000",
		"SIP/2.0/UDP host:",
		"SIP/2.0/UDP 192.0.2.15;;",
		"SIP/2.0/UDP host;ttl=256",
		"SIP/2.0/UDP host;rport=x",
		"SIP/2.0/UDP host;branch",
		"SIP/2.0/UDP host;branch=\"q\"",
		"SIP/2.0/UDP ho st",
		"SIP/2.0/UDP [::1",
		"SIP/2.0/UDP host;x=\"unterminated",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		rest = slice_cstr(bad[i]);
		if (sip_via_next(&v, &rest, &lim) != EBADMSG)
			check_fail(__FILE__, __LINE__, "via accepted: %s", bad[i]);
	}
	rest = SLICE_LIT("  \r\n ");
	CHECK_INT(sip_via_next(&v, &rest, &lim), ENODATA);
}

static void nameaddr_values(void)
{
	struct sip_nameaddr na;
	enum sip_err e;

	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("\"Alice \\\"A\\\" \xc3\xa9\" <sip:alice@a.example;lr>;tag=88;x"), &lim, &e), 0);
	CHECK_SLICE(na.display, "Alice \\\"A\\\" \xc3\xa9");
	CHECK_SLICE(na.uri.params, ";lr");
	CHECK_SLICE(na.params, ";tag=88;x");
	CHECK(na.has_tag);
	CHECK_SLICE(na.tag, "88");

	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("Bob Smith<sip:bob@b.example>"), &lim, &e), 0);
	CHECK_SLICE(na.display, "Bob Smith");
	CHECK_SLICE(na.uri.user, "bob");
	CHECK(!na.has_tag);

	/* addr-spec: ';' starts header params */
	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("sip:carol@c.example;tag=7;user=phone"), &lim, &e), 0);
	CHECK_INT(na.uri.params.len, 0);
	CHECK_SLICE(na.tag, "7");
	struct slice v;
	CHECK(sip_param_get(na.params, "user", &v));
	CHECK_SLICE(v, "phone");

	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("<tel:+15550100>"), &lim, &e), 0);
	CHECK_INT(na.uri.scheme, SIP_SCHEME_TEL);

	/* unterminated quote: error, nothing read past the slice */
	const char buf[] = "\"never closed <sip:a@b>XXXX\"";
	CHECK_INT(sip_nameaddr_parse(&na, slice_make(buf, 23), &lim, &e), EBADMSG);
	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("\"ends in backslash\\"), &lim, &e), EBADMSG);
	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("<sip:a@b"), &lim, &e), EBADMSG);
	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("< sip:a@b.example >"), &lim, &e), EBADMSG);
	CHECK_INT(e, SIP_E_REQUEST_URI);
	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("Bell, Alexander <sip:a@b>"), &lim, &e), EBADMSG);
	CHECK_INT(e, SIP_E_HEADER_SYNTAX);
	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("<sip:a@b> junk"), &lim, &e), EBADMSG);
	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("<sip:a@b>;tag=1;tag=2"), &lim, &e), EBADMSG);
	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT("<sip:u:pw@b>"), &lim, &e), EBADMSG);
	CHECK_INT(e, SIP_E_URI_PASSWORD);
	CHECK_INT(sip_nameaddr_parse(&na, SLICE_LIT(""), &lim, &e), EBADMSG);
}

static void contact_values(void)
{
	struct sip_contact c;
	struct slice rest = SLICE_LIT("<sip:a@h1.example>;q=0.7;expires=3600, \"X, Y\" <sip:b@h2.example>;"
				      "+sip.instance=\"<urn:uuid:1>\" , sip:c@h3.example;expires=0");

	CHECK_INT(sip_contact_next(&c, &rest, &lim), 0);
	CHECK(!c.star);
	CHECK_SLICE(c.na.uri.host, "h1.example");
	CHECK(c.has_q);
	CHECK_SLICE(c.q, "0.7");
	CHECK(c.has_expires);
	CHECK_INT(c.expires_val, 3600);
	CHECK_INT(sip_contact_next(&c, &rest, &lim), 0);
	CHECK_SLICE(c.na.display, "X, Y");
	struct slice v;
	CHECK(sip_param_get(c.na.params, "+sip.instance", &v));
	CHECK_SLICE(v, "<urn:uuid:1>");
	CHECK(!c.has_expires);
	CHECK_INT(sip_contact_next(&c, &rest, &lim), 0);
	CHECK_SLICE(c.na.uri.user, "c");
	CHECK_INT(c.expires_val, 0);
	CHECK_INT(sip_contact_next(&c, &rest, &lim), ENODATA);

	rest = SLICE_LIT(" * ");
	CHECK_INT(sip_contact_next(&c, &rest, &lim), 0);
	CHECK(c.star);
	rest = SLICE_LIT("<sip:a@b>;expires=4294967295");
	CHECK_INT(sip_contact_next(&c, &rest, &lim), 0);
	CHECK_INT(c.expires_val, 4294967295u);
	rest = SLICE_LIT("<sip:a@b>;expires=4294967296");
	CHECK_INT(sip_contact_next(&c, &rest, &lim), EOVERFLOW);
	rest = SLICE_LIT("<sip:a@b>;expires=280297596632815");
	CHECK_INT(sip_contact_next(&c, &rest, &lim), EOVERFLOW);
	rest = SLICE_LIT("<sip:a@b>;expires=-1");
	CHECK_INT(sip_contact_next(&c, &rest, &lim), EBADMSG);
	rest = SLICE_LIT("<sip:a@b>;q=1.5");
	CHECK_INT(sip_contact_next(&c, &rest, &lim), EBADMSG);
	rest = SLICE_LIT("<sip:a@b>;q=1.000");
	CHECK_INT(sip_contact_next(&c, &rest, &lim), 0);
	rest = SLICE_LIT("\"unterminated <sip:a@b>");
	CHECK_INT(sip_contact_next(&c, &rest, &lim), EBADMSG);
}

static void cseq_values(void)
{
	struct sip_cseq cs;

	CHECK_INT(sip_cseq_parse(&cs, SLICE_LIT(" 0009\r\n  INVITE ")), 0);
	CHECK_INT(cs.num, 9);
	CHECK_SLICE(cs.method, "INVITE");
	CHECK_INT(cs.mid, SIP_M_INVITE);
	CHECK_INT(sip_cseq_parse(&cs, SLICE_LIT("2147483647 FOO")), 0);
	CHECK_INT(cs.mid, SIP_M_OTHER);
	CHECK_INT(sip_cseq_parse(&cs, SLICE_LIT("2147483648 INVITE")), EBADMSG);
	CHECK_INT(sip_cseq_parse(&cs, SLICE_LIT("36893488147419103232 REGISTER")), EBADMSG);
	CHECK_INT(sip_cseq_parse(&cs, SLICE_LIT("-1 INVITE")), EBADMSG);
	CHECK_INT(sip_cseq_parse(&cs, SLICE_LIT("1")), EBADMSG);
	CHECK_INT(sip_cseq_parse(&cs, SLICE_LIT("INVITE")), EBADMSG);
	CHECK_INT(sip_cseq_parse(&cs, SLICE_LIT("1 INVITE x")), EBADMSG);
	CHECK_INT(sip_cseq_parse(&cs, SLICE_LIT("1INVITE")), EBADMSG);
}

static void auth_values(void)
{
	struct sip_auth a;
	struct slice v;

	CHECK_INT(sip_auth_parse(&a, SLICE_LIT("Digest username=\"bob\", realm=\"a, b\",\r\n nonce=\"n\\\"1\","
					       " uri=\"sip:x@y\", algorithm=MD5, qop=auth, nc=00000001")), 0);
	CHECK_SLICE(a.scheme, "Digest");
	CHECK(sip_auth_param(&a, "USERNAME", &v));
	CHECK_SLICE(v, "bob");
	CHECK(sip_auth_param(&a, "realm", &v));
	CHECK_SLICE(v, "a, b");
	CHECK(sip_auth_param(&a, "nonce", &v));
	CHECK_SLICE(v, "n\\\"1");
	CHECK(sip_auth_param(&a, "algorithm", &v));
	CHECK_SLICE(v, "MD5");
	CHECK(sip_auth_param(&a, "nc", &v));
	CHECK_SLICE(v, "00000001");
	CHECK(!sip_auth_param(&a, "cnonce", &v));
	CHECK_INT(sip_auth_parse(&a, SLICE_LIT("Digest realm=\"open")), EBADMSG);
	CHECK_INT(sip_auth_parse(&a, SLICE_LIT("Digest realm")), EBADMSG);
	CHECK_INT(sip_auth_parse(&a, SLICE_LIT("\"Digest\" realm=x")), EBADMSG);
	CHECK_INT(sip_auth_parse(&a, SLICE_LIT("Digest realm=\"x\"y")), EBADMSG);
}

static void list_values(void)
{
	struct slice rest = SLICE_LIT(" a , \"b,c\" ,, <sip:d,e@f> ;p=1 ,\r\n g "), item;

	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_SLICE(item, "a");
	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_SLICE(item, "\"b,c\"");
	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_SLICE(item, "<sip:d,e@f> ;p=1");
	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_SLICE(item, "g");
	CHECK_INT(sip_list_next(&item, &rest), ENODATA);
	rest = SLICE_LIT("a, \"b");
	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_INT(sip_list_next(&item, &rest), EBADMSG);
	rest = SLICE_LIT("<sip:a");
	CHECK_INT(sip_list_next(&item, &rest), EBADMSG);
	/* escapes inside quotes: an escaped quote or comma does not end it,
	 * an escaped backslash before the quote does; a trailing escape or
	 * an open quote is malformed */
	rest = SLICE_LIT("\"a\\\"b,c\" , \"x\\\\\",y, \"\\\\\\\"\"");
	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_SLICE(item, "\"a\\\"b,c\"");
	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_SLICE(item, "\"x\\\\\"");
	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_SLICE(item, "y");
	CHECK_INT(sip_list_next(&item, &rest), 0);
	CHECK_SLICE(item, "\"\\\\\\\"\"");
	CHECK_INT(sip_list_next(&item, &rest), ENODATA);
	rest = SLICE_LIT("\"ab\\");
	CHECK_INT(sip_list_next(&item, &rest), EBADMSG);
	rest = SLICE_LIT("\"ab\\\"");
	CHECK_INT(sip_list_next(&item, &rest), EBADMSG);
}

static void params(void)
{
	struct slice v;
	struct slice p = SLICE_LIT(" ; a = 1 ;B=\"q;x\"; c ;d=");

	CHECK(sip_param_get(p, "a", &v));
	CHECK_SLICE(v, "1");
	CHECK(sip_param_get(p, "b", &v));
	CHECK_SLICE(v, "q;x");
	CHECK(sip_param_get(p, "c", &v));
	CHECK_INT(v.len, 0);
	CHECK(sip_param_get(p, "d", &v));
	CHECK_INT(v.len, 0);
	CHECK(!sip_param_get(p, "x", &v));
	CHECK(!sip_param_get(SLICE_NULL, "a", &v));
}

static void names(void)
{
	CHECK_INT(sip_method_from(SLICE_LIT("INVITE")), SIP_M_INVITE);
	CHECK_INT(sip_method_from(SLICE_LIT("invite")), SIP_M_OTHER);
	CHECK_INT(sip_method_from(SLICE_LIT("UPDATE")), SIP_M_UPDATE);
	CHECK_INT(sip_method_from(SLICE_LIT("INVITEX")), SIP_M_OTHER);
	CHECK_INT(sip_method_from(SLICE_NULL), SIP_M_OTHER);
	CHECK(strcmp(sip_method_name(SIP_M_REGISTER), "REGISTER") == 0);
	CHECK(sip_method_name(SIP_M_OTHER) == NULL);
	for (int m = SIP_M_INVITE; m <= SIP_M_UPDATE; m++)
		CHECK_INT(sip_method_from(slice_cstr(sip_method_name((enum sip_method)m))), m);
	for (int h = 1; h < SIP_H__COUNT; h++) {
		const char *n = sip_hdr_name((enum sip_hdr_id)h);
		CHECK(n != NULL);
		CHECK_INT(sip_hdr_lookup(slice_cstr(n)), h);
		char up[64];
		size_t l = strlen(n);
		for (size_t i = 0; i < l; i++)
			up[i] = (char)((n[i] >= 'a' && n[i] <= 'z') ? n[i] - 32 : n[i]);
		CHECK_INT(sip_hdr_lookup(slice_make(up, l)), h);
	}
	static const struct {
		const char *c;
		enum sip_hdr_id id;
	} compact[] = {
		{ "i", SIP_H_CALL_ID }, { "m", SIP_H_CONTACT }, { "e", SIP_H_CONTENT_ENCODING },
		{ "L", SIP_H_CONTENT_LENGTH }, { "c", SIP_H_CONTENT_TYPE }, { "f", SIP_H_FROM },
		{ "s", SIP_H_SUBJECT }, { "k", SIP_H_SUPPORTED }, { "T", SIP_H_TO },
		{ "v", SIP_H_VIA }, { "o", SIP_H_EVENT }, { "r", SIP_H_REFER_TO },
		{ "b", SIP_H_REFERRED_BY }, { "u", SIP_H_OTHER }, { "x", SIP_H_OTHER },
		{ "y", SIP_H_OTHER }, { "z", SIP_H_OTHER },
	};
	for (size_t i = 0; i < ARRAY_SIZE(compact); i++)
		CHECK_INT(sip_hdr_lookup(slice_cstr(compact[i].c)), compact[i].id);
	CHECK_INT(sip_hdr_lookup(SLICE_LIT("Vias")), SIP_H_OTHER);
	CHECK_INT(sip_hdr_lookup(SLICE_LIT("Call_ID")), SIP_H_OTHER);
	CHECK_INT(sip_hdr_lookup(SLICE_NULL), SIP_H_OTHER);
	CHECK_INT(sip_hdr_lookup(SLICE_LIT("P-Preferred-Identityy")), SIP_H_OTHER);
	CHECK(sip_hdr_name(SIP_H_OTHER) == NULL);
	CHECK(strcmp(sip_hdr_name(SIP_H_CALL_ID), "Call-ID") == 0);
}

static void errors(void)
{
	for (int e = 0; e < SIP_E__COUNT; e++) {
		CHECK(sip_err_reason((enum sip_err)e) != NULL);
		CHECK(sip_err_name((enum sip_err)e) != NULL);
		for (int f = 0; f < e; f++)
			CHECK(strcmp(sip_err_name((enum sip_err)e), sip_err_name((enum sip_err)f)) != 0);
	}
	CHECK_INT(sip_err_status(SIP_E_VERSION), 505);
	CHECK_INT(sip_err_status(SIP_E_MESSAGE_TOO_LARGE), 513);
	CHECK_INT(sip_err_status(SIP_E_BODY_TOO_LARGE), 413);
	CHECK_INT(sip_err_status(SIP_E_URI_TOO_LONG), 414);
	CHECK_INT(sip_err_status(SIP_E_CSEQ), 400);
	CHECK_INT(sip_err_status(SIP_E__COUNT), 400);
	CHECK(strcmp(sip_err_reason(SIP_E_CSEQ), "Malformed CSeq") == 0);
	CHECK(strcmp(sip_err_reason(SIP_E_CALL_ID_MISSING), "Missing Call-ID") == 0);
	CHECK(strcmp(sip_err_reason(SIP_E_DUPLICATE_HEADER), "Duplicate single-value header") == 0);
	CHECK(strcmp(sip_err_reason(SIP_E_CONTENT_LENGTH), "Negative or invalid Content-Length") == 0);
	CHECK(strcmp(sip_err_reason(SIP_E_TOO_MANY_HEADERS), "Too Many Header Fields") == 0);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(uri_sip_full), CASE(uri_hosts),	   CASE(uri_ports),	  CASE(uri_user_escapes),
		CASE(uri_password), CASE(uri_tel_other),   CASE(uri_lws_and_junk), CASE(uri_limit),
		CASE(via_values),   CASE(nameaddr_values), CASE(contact_values), CASE(cseq_values),
		CASE(auth_values),  CASE(list_values),	   CASE(params),	  CASE(names),
		CASE(errors),
	};
	return check_main("sip_uri", cases, ARRAY_SIZE(cases), argc, argv);
}
