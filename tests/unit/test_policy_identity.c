/*
 * test_policy_identity: policy_identity(), one or more cases per rule: From
 * against the authenticated AOR (domain, own addresses, case, escapes,
 * sips), other users refused with 403 call.spoofed_from, extra identities
 * (sip and tel), unauthenticated requests, stripping of P-Asserted-Identity,
 * P-Preferred-Identity and Remote-Party-ID from untrusted sources (kept from
 * trusted peers), the asserted identity, Privacy: id toward untrusted and
 * trusted destinations, Privacy: none, and hostile display names that must
 * never produce an unsafe header value.
 */
#include "check.h"
#include "policy/policy.h"
#include "sip/sip.h"

#include <errno.h>
#include <stdio.h>

static struct sip_hdr hdrs[64];
static struct sip_msg m;
static char buf[4096];
static struct policy_identity_verdict v;

#define LIT(s) { (s), sizeof(s) - 1 }
static const struct slice own[] = { LIT("192.0.2.10"), LIT("2001:db8::10") };
static const char *const none_allowed[] = { NULL };

/* Parse an INVITE with the given From value and extra header lines. */
static int parse_invite(const char *from, const char *extra)
{
	struct sip_limits l = SIP_LIMITS_DEFAULT;
	int n = snprintf(buf, sizeof(buf),
			 "INVITE sip:1002@example.test SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1;rport\r\n"
			 "Max-Forwards: 70\r\n"
			 "From: %s;tag=abc\r\n"
			 "To: <sip:1002@example.test>\r\n"
			 "Call-ID: 1@test\r\n"
			 "CSeq: 1 INVITE\r\n"
			 "%s"
			 "Content-Length: 0\r\n\r\n",
			 from, extra);
	return sip_msg_parse(&m, hdrs, ARRAY_SIZE(hdrs), buf, (size_t)n, false, &l);
}

/* The input for user 1001 of example.test from an untrusted phone toward an
 * untrusted destination. */
static struct policy_identity_in base_in(void)
{
	return (struct policy_identity_in){
		.req = &m,
		.source_trusted = false,
		.auth_user = SLICE_LIT("1001"),
		.domain = SLICE_LIT("example.test"),
		.allowed = none_allowed,
		.nallowed = 0,
		.dest_trusted = false,
		.own_hosts = own,
		.nown_hosts = ARRAY_SIZE(own),
	};
}

/* Run the policy on From `from` (plus extra headers) as user 1001. */
static int decide(const char *from, const char *extra, struct policy_identity_in *in)
{
	int rc = parse_invite(from, extra);

	if (rc)
		return -1000 - rc;
	in->req = &m;
	return policy_identity(&v, in);
}

/* Is s safe as a header value: no byte below 0x20 nor 0x7f? */
static bool value_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool is_spoof_denial(void)
{
	return !v.v.allow && v.v.status == 403 && v.v.event &&
	       strcmp(v.v.event, "call.spoofed_from") == 0 && v.v.reason && !v.add_pai;
}

/* ---- rule 1: From ------------------------------------------------------------ */

static void from_aor_allowed(void)
{
	struct policy_identity_in in = base_in();

	CHECK_INT(decide("<sip:1001@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.v.status, 0);
	CHECK(v.v.event == NULL);
	CHECK_INT(v.match, POLICY_ID_AOR);
	/* bare addr-spec, sips, a port and URI parameters change nothing */
	CHECK_INT(decide("sip:1001@example.test", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(decide("<sips:1001@example.test:5061;transport=tls>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.match, POLICY_ID_AOR);
}

static void from_own_address_allowed(void)
{
	struct policy_identity_in in = base_in();

	CHECK_INT(decide("<sip:1001@192.0.2.10>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.match, POLICY_ID_AOR);
	CHECK_INT(decide("<sip:1001@[2001:db8::10]:5060>", "", &in), 0);
	CHECK(v.v.allow);
	/* the same IPv6 address written differently */
	CHECK_INT(decide("<sip:1001@[2001:DB8:0:0::10]>", "", &in), 0);
	CHECK(v.v.allow);
	/* an address that is not ours */
	CHECK_INT(decide("<sip:1001@192.0.2.11>", "", &in), 0);
	CHECK(is_spoof_denial());
	/* without own addresses configured, the IP is just another host */
	in.nown_hosts = 0;
	CHECK_INT(decide("<sip:1001@192.0.2.10>", "", &in), 0);
	CHECK(is_spoof_denial());
}

static void from_host_case_insensitive(void)
{
	struct policy_identity_in in = base_in();

	CHECK_INT(decide("<sip:1001@EXAMPLE.Test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(decide("<SIP:1001@example.TEST>", "", &in), 0);
	CHECK(v.v.allow);
	in.domain = SLICE_LIT("Example.TEST");
	CHECK_INT(decide("<sip:1001@example.test>", "", &in), 0);
	CHECK(v.v.allow);
}

static void from_user_case_sensitive_escapes_decoded(void)
{
	struct policy_identity_in in = base_in();

	in.auth_user = SLICE_LIT("alice");
	CHECK_INT(decide("<sip:alice@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	/* %61 is 'a' (RFC 3261 19.1.4: escapes decoded before comparing) */
	CHECK_INT(decide("<sip:%61lice@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	/* the user part compares case-sensitively */
	CHECK_INT(decide("<sip:Alice@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
	/* prefixes and extensions of the name are other users */
	CHECK_INT(decide("<sip:alic@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
	CHECK_INT(decide("<sip:alice2@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
}

static void from_other_user_denied(void)
{
	struct policy_identity_in in = base_in();

	CHECK_INT(decide("<sip:1002@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
	CHECK_SLICE(slice_cstr(v.v.reason), "Forbidden");
	CHECK(v.v.detail != NULL);
	CHECK_INT(v.match, POLICY_ID_NONE);
	/* the right user in another domain */
	CHECK_INT(decide("<sip:1001@evil.example>", "", &in), 0);
	CHECK(is_spoof_denial());
	/* a display name naming the user does not help */
	CHECK_INT(decide("\"1001\" <sip:1002@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
	/* no user part at all */
	CHECK_INT(decide("<sip:example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
	/* a PAI naming the user does not help either */
	CHECK_INT(decide("<sip:1002@example.test>",
			 "P-Asserted-Identity: <sip:1001@example.test>\r\n", &in), 0);
	CHECK(is_spoof_denial());
}

static void from_allowed_identity(void)
{
	static const char *const allowed[] = { "sip:sales@example.test", "sip:boss@partner.example",
					       "sips:secure@example.test" };
	struct policy_identity_in in = base_in();

	in.allowed = allowed;
	in.nallowed = ARRAY_SIZE(allowed);
	CHECK_INT(decide("\"Sales\" <sip:sales@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.match, POLICY_ID_ALLOWED);
	CHECK_INT(v.allowed_index, 0);
	/* our domain written as our address still names the allowed identity */
	CHECK_INT(decide("<sip:sales@192.0.2.10>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.allowed_index, 0);
	/* a foreign host must match exactly (case-insensitively) */
	CHECK_INT(decide("<sip:boss@PARTNER.example>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.allowed_index, 1);
	CHECK_INT(decide("<sip:boss@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
	CHECK_INT(decide("<sip:boss@192.0.2.10>", "", &in), 0);
	CHECK(is_spoof_denial());
	CHECK_INT(decide("<sip:support@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
	CHECK_INT(decide("<sip:secure@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.allowed_index, 2);
	/* the AOR itself is still fine with allowances present */
	CHECK_INT(decide("<sip:1001@example.test>", "", &in), 0);
	CHECK_INT(v.match, POLICY_ID_AOR);
	/* another user holds no allowances of this one */
	in.auth_user = SLICE_LIT("1002");
	in.nallowed = 0;
	CHECK_INT(decide("<sip:sales@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
}

static void from_bad_allowed_entries_never_match(void)
{
	static const char *const allowed[] = { "", "garbage", "sip:", "mailto:sales@example.test",
					       "sip:@example.test", "sip:sales@example.test" };
	struct policy_identity_in in = base_in();

	in.allowed = allowed;
	in.nallowed = ARRAY_SIZE(allowed);
	CHECK_INT(decide("<sip:sales@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.allowed_index, 5);
	in.nallowed = 5;
	CHECK_INT(decide("<sip:sales@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
	CHECK_INT(decide("<sip:example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
}

static void from_tel_identity(void)
{
	static const char *const allowed[] = { "tel:+15551230000" };
	struct policy_identity_in in = base_in();

	in.allowed = allowed;
	in.nallowed = 1;
	CHECK_INT(decide("<tel:+15551230000>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.match, POLICY_ID_ALLOWED);
	/* visual separators do not matter (RFC 3966 5.1.1) */
	CHECK_INT(decide("<tel:+1-555-123-0000>", "", &in), 0);
	CHECK(v.v.allow);
	/* the number as a sip: URI with user=phone in our domain */
	CHECK_INT(decide("<sip:+15551230000@example.test;user=phone>", "", &in), 0);
	CHECK(v.v.allow);
	/* ... but not in somebody else's */
	CHECK_INT(decide("<sip:+15551230000@evil.example;user=phone>", "", &in), 0);
	CHECK(is_spoof_denial());
	/* other numbers are refused */
	CHECK_INT(decide("<tel:+15551230001>", "", &in), 0);
	CHECK(is_spoof_denial());
	CHECK_INT(decide("<tel:+155512300001>", "", &in), 0);
	CHECK(is_spoof_denial());
	CHECK_INT(decide("<tel:15551230000>", "", &in), 0);
	CHECK(is_spoof_denial());
	/* a tel: From without any allowance */
	in.nallowed = 0;
	CHECK_INT(decide("<tel:+15551230000>", "", &in), 0);
	CHECK(is_spoof_denial());
}

static void from_anonymous_allowed_with_auth(void)
{
	struct policy_identity_in in = base_in();

	CHECK_INT(decide("\"Anonymous\" <sip:anonymous@anonymous.invalid>", "Privacy: id\r\n", &in),
		  0);
	CHECK(v.v.allow);
	CHECK_INT(v.match, POLICY_ID_ANONYMOUS);
	/* toward a trusted peer the real identity is asserted, without the
	 * "Anonymous" display name */
	in.dest_trusted = true;
	CHECK_INT(decide("\"Anonymous\" <sip:anonymous@anonymous.invalid>", "Privacy: id\r\n", &in),
		  0);
	CHECK(v.add_pai);
	CHECK_SLICE(slice_cstr(v.pai), "<sip:1001@example.test>");
	/* "anonymous" in another host is not the anonymous URI */
	CHECK_INT(decide("<sip:anonymous@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
}

static void display_names_are_free(void)
{
	struct policy_identity_in in = base_in();

	CHECK_INT(decide("\"Alice Smith\" <sip:1001@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(decide("Alice <sip:1001@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(decide("\"1002\" <sip:1001@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(decide("\"\" <sip:1001@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(decide("\"Caf\xc3\xa9 \\\"Bar\\\"\" <sip:1001@example.test>", "", &in), 0);
	CHECK(v.v.allow);
}

static void unauthenticated_requests(void)
{
	struct policy_identity_in in = base_in();

	in.auth_user = SLICE_NULL;
	/* claiming a local identity needs authentication */
	CHECK_INT(decide("<sip:1001@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
	CHECK_INT(decide("<sip:1001@192.0.2.10>", "", &in), 0);
	CHECK(is_spoof_denial());
	/* an outside caller passes, with its identity headers removed and
	 * nothing asserted */
	CHECK_INT(decide("<sip:carol@other.example>",
			 "P-Asserted-Identity: <sip:ceo@example.test>\r\n", &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.match, POLICY_ID_FOREIGN);
	CHECK(!v.add_pai);
	CHECK(v.strip & POLICY_STRIP_PAI);
	CHECK_INT(v.nstripped, 1);
	/* a trusted peer without local authentication: its From is its business */
	in.source_trusted = true;
	CHECK_INT(decide("<sip:1001@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK(!v.add_pai);
	CHECK_INT(v.strip, 0);
}

static void trusted_peer_with_auth_still_checked(void)
{
	struct policy_identity_in in = base_in();

	in.source_trusted = true;
	CHECK_INT(decide("<sip:1002@example.test>", "", &in), 0);
	CHECK(is_spoof_denial());
	CHECK_INT(decide("<sip:1001@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK(v.add_pai); /* no PAI from the peer: we assert */
	CHECK_INT(v.strip, 0);
}

/* ---- rule 2: stripping ----------------------------------------------------------- */

#define INJECTED \
	"P-Asserted-Identity: \"CEO\" <sip:ceo@example.test>\r\n" \
	"P-Asserted-Identity: <tel:+15550000000>\r\n" \
	"P-Preferred-Identity: <sip:ceo@example.test>\r\n" \
	"Remote-Party-ID: \"CEO\" <sip:ceo@example.test>;party=calling;screen=yes\r\n" \
	"X-Other: kept\r\n"

/* How many headers of m the verdict keeps, of id. */
static unsigned kept(enum sip_hdr_id id)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < m.nhdrs; i++)
		if (m.hdrs[i].id == id && policy_identity_keeps(&v, &m.hdrs[i]))
			n++;
	return n;
}

static void injected_identity_headers_removed(void)
{
	struct policy_identity_in in = base_in();

	CHECK_INT(decide("<sip:1001@example.test>", INJECTED, &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.strip, POLICY_STRIP_PAI | POLICY_STRIP_PPI | POLICY_STRIP_RPID);
	CHECK_INT(v.nstripped, 4);
	CHECK_INT(kept(SIP_H_P_ASSERTED_IDENTITY), 0);
	CHECK_INT(kept(SIP_H_P_PREFERRED_IDENTITY), 0);
	CHECK_INT(kept(SIP_H_REMOTE_PARTY_ID), 0);
	CHECK_INT(kept(SIP_H_OTHER), 1);
	CHECK_INT(kept(SIP_H_FROM), 1);
	/* our own assertion replaces them */
	CHECK(v.add_pai);
	CHECK_SLICE(slice_cstr(v.pai), "<sip:1001@example.test>");
	/* header names in other case and forms are the same headers */
	CHECK_INT(decide("<sip:1001@example.test>",
			 "p-asserted-identity: <sip:ceo@example.test>\r\n"
			 "REMOTE-PARTY-ID: <sip:ceo@example.test>\r\n",
			 &in), 0);
	CHECK_INT(v.nstripped, 2);
	CHECK_INT(kept(SIP_H_P_ASSERTED_IDENTITY), 0);
	CHECK_INT(kept(SIP_H_REMOTE_PARTY_ID), 0);
	/* stripped also when nothing was sent */
	CHECK_INT(decide("<sip:1001@example.test>", "", &in), 0);
	CHECK_INT(v.strip, POLICY_STRIP_PAI | POLICY_STRIP_PPI | POLICY_STRIP_RPID);
	CHECK_INT(v.nstripped, 0);
}

static void trusted_peer_keeps_identity_headers(void)
{
	struct policy_identity_in in = base_in();

	in.source_trusted = true;
	in.auth_user = SLICE_NULL;
	in.dest_trusted = true;
	CHECK_INT(decide("<sip:+15550000000@gw.example>", INJECTED, &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(v.strip, 0);
	CHECK_INT(v.nstripped, 0);
	CHECK_INT(kept(SIP_H_P_ASSERTED_IDENTITY), 2);
	CHECK_INT(kept(SIP_H_P_PREFERRED_IDENTITY), 1);
	CHECK_INT(kept(SIP_H_REMOTE_PARTY_ID), 1);
	CHECK(!v.add_pai);
	/* authenticated through a trusted peer that asserted already: nothing added */
	in.auth_user = SLICE_LIT("1001");
	CHECK_INT(decide("<sip:1001@example.test>", INJECTED, &in), 0);
	CHECK(v.v.allow);
	CHECK(!v.add_pai);
	CHECK_INT(kept(SIP_H_P_ASSERTED_IDENTITY), 2);
	/* toward an untrusted destination without privacy it is kept too */
	in.dest_trusted = false;
	CHECK_INT(decide("<sip:1001@example.test>", INJECTED, &in), 0);
	CHECK_INT(kept(SIP_H_P_ASSERTED_IDENTITY), 2);
}

/* ---- rule 3: the asserted identity --------------------------------------------------- */

static void pai_added_with_authenticated_identity(void)
{
	static const char *const allowed[] = { "sip:sales@example.test", "tel:+1-555-123-0000",
					       "sip:x@[2001:db8::1]" };
	struct policy_identity_in in = base_in();

	CHECK_INT(decide("<sip:1001@192.0.2.10>", "", &in), 0);
	CHECK(v.add_pai);
	/* the domain, not the host the phone wrote */
	CHECK_SLICE(slice_cstr(v.pai), "<sip:1001@example.test>");
	CHECK_INT(v.pai_len, strlen(v.pai));
	CHECK_INT(decide("\"Alice Smith\" <sip:1001@example.test>", "", &in), 0);
	CHECK_SLICE(slice_cstr(v.pai), "\"Alice Smith\" <sip:1001@example.test>");
	CHECK_INT(decide("Alice  Smith <sip:1001@example.test>", "", &in), 0);
	CHECK_SLICE(slice_cstr(v.pai), "\"Alice  Smith\" <sip:1001@example.test>");
	/* escapes in the From user part are not copied: the name is the user's */
	CHECK_INT(decide("<sip:%31001@example.test>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_SLICE(slice_cstr(v.pai), "<sip:1001@example.test>");
	/* From's parameters and URI parameters stay out */
	CHECK_INT(decide("<sip:1001@example.test;transport=udp?Subject=x>", "", &in), 0);
	CHECK_SLICE(slice_cstr(v.pai), "<sip:1001@example.test>");
	/* an allowed identity is asserted as itself, from the allowance */
	in.allowed = allowed;
	in.nallowed = ARRAY_SIZE(allowed);
	CHECK_INT(decide("\"Sales\" <sip:sales@192.0.2.10:5060>", "", &in), 0);
	CHECK_SLICE(slice_cstr(v.pai), "\"Sales\" <sip:sales@example.test>");
	CHECK_INT(decide("<tel:+15551230000;phone-context=x>", "", &in), 0);
	CHECK_SLICE(slice_cstr(v.pai), "<tel:+1-555-123-0000>");
	CHECK_INT(decide("<sip:x@[2001:DB8::1]>", "", &in), 0);
	CHECK_SLICE(slice_cstr(v.pai), "<sip:x@[2001:db8::1]>");
	/* a user name outside the URI user set is escaped, an IPv6 domain bracketed */
	in.nallowed = 0;
	in.auth_user = SLICE_LIT("a b");
	in.domain = SLICE_LIT("2001:db8::10");
	CHECK_INT(decide("<sip:a%20b@[2001:db8::10]>", "", &in), 0);
	CHECK(v.v.allow);
	CHECK_SLICE(slice_cstr(v.pai), "<sip:a%20b@[2001:db8::10]>");
}

static void hostile_display_names(void)
{
	static const char *const hostile[] = {
		/* folded line: CRLF + SP inside the quotes reaches the display name */
		"\"Evil\r\n P-Asserted-Identity: <sip:ceo@example.test>\" <sip:1001@example.test>",
		"\"tab\there\" <sip:1001@example.test>",
		"\"bad utf8 \xc3\x28\" <sip:1001@example.test>",
		"\"overlong \xc0\xaf\" <sip:1001@example.test>",
		"\"surrogate \xed\xa0\x80\" <sip:1001@example.test>",
		"\"escaped ctl \\\x7f\" <sip:1001@example.test>",
	};
	struct policy_identity_in in = base_in();
	char longname[400];
	size_t parsed = 0;

	for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
		int rc = decide(hostile[i], "", &in);
		if (rc != 0)
			continue; /* refused by the parser: cannot reach the policy */
		parsed++;
		CHECK(v.v.allow);
		CHECK(v.add_pai);
		CHECK(v.display_dropped);
		CHECK_SLICE(slice_cstr(v.pai), "<sip:1001@example.test>");
	}
	/* all but the DEL one reach the policy, or the test proves nothing */
	CHECK_INT(parsed, ARRAY_SIZE(hostile) - 1);
	CHECK_INT(decide(hostile[0], "", &in), 0);
	CHECK(v.display_dropped);
	/* quotes and backslashes are re-escaped, never copied raw */
	CHECK_INT(decide("\"a\\\"b\\\\c\\d\" <sip:1001@example.test>", "", &in), 0);
	CHECK(!v.display_dropped);
	CHECK_SLICE(slice_cstr(v.pai), "\"a\\\"b\\\\cd\" <sip:1001@example.test>");
	CHECK(value_safe(v.pai));
	/* a display name that would close the quote and add a URI */
	CHECK_INT(decide("\"x\\\" <sip:ceo@example.test>\" <sip:1001@example.test>", "", &in), 0);
	CHECK_SLICE(slice_cstr(v.pai), "\"x\\\" <sip:ceo@example.test>\" <sip:1001@example.test>");
	/* UTF-8 passes unchanged */
	CHECK_INT(decide("\"Caf\xc3\xa9\" <sip:1001@example.test>", "", &in), 0);
	CHECK_SLICE(slice_cstr(v.pai), "\"Caf\xc3\xa9\" <sip:1001@example.test>");
	/* too long: left out, not cut */
	memset(longname, 'A', 300);
	snprintf(longname + 300, sizeof(longname) - 300, " <sip:1001@example.test>");
	CHECK_INT(decide(longname, "", &in), 0);
	CHECK(v.display_dropped);
	CHECK_SLICE(slice_cstr(v.pai), "<sip:1001@example.test>");
	/* exactly at the limit: kept */
	memset(longname, 'B', POLICY_DISPLAY_MAX);
	snprintf(longname + POLICY_DISPLAY_MAX, sizeof(longname) - POLICY_DISPLAY_MAX,
		 " <sip:1001@example.test>");
	CHECK_INT(decide(longname, "", &in), 0);
	CHECK(!v.display_dropped);
	CHECK_INT(v.pai_len, POLICY_DISPLAY_MAX + 3 + strlen("<sip:1001@example.test>"));
}

static void hostile_user_and_domain(void)
{
	struct policy_identity_in in = base_in();

	/* a user name with CR LF (cannot come from our store, but the function
	 * does not trust its caller): escaped, never raw */
	in.auth_user = SLICE_LIT("x\r\nP-Asserted-Identity: <sip:ceo@example.test>");
	CHECK_INT(decide("<sip:x%0D%0AP-Asserted-Identity%3A%20%3Csip%3Aceo%40example.test%3E@example.test>",
			 "", &in), 0);
	CHECK(v.v.allow);
	CHECK(value_safe(v.pai));
	CHECK(strchr(v.pai, '<') == v.pai && strchr(v.pai + 1, '<') == NULL);
	/* a domain that is not a host name is refused as bad input */
	in = base_in();
	in.domain = SLICE_LIT("example.test>\r\nX: y");
	CHECK_INT(decide("<sip:1001@example.test>", "", &in), EINVAL);
	CHECK(!v.v.allow);
	CHECK_INT(v.v.status, 500);
	CHECK(!v.add_pai);
	in.domain = SLICE_NULL;
	CHECK_INT(decide("<sip:1001@example.test>", "", &in), EINVAL);
	CHECK(!v.v.allow);
}

static void bad_arguments(void)
{
	struct policy_identity_in in = base_in();

	CHECK_INT(parse_invite("<sip:1001@example.test>", ""), 0);
	CHECK_INT(policy_identity(NULL, &in), EINVAL);
	CHECK_INT(policy_identity(&v, NULL), EINVAL);
	CHECK(!v.v.allow);
	in.req = NULL;
	CHECK_INT(policy_identity(&v, &in), EINVAL);
	CHECK(!v.v.allow);
	in.req = &m;
	in.allowed = NULL;
	in.nallowed = 1;
	CHECK_INT(policy_identity(&v, &in), EINVAL);
	CHECK(!v.v.allow);
	in.allowed = none_allowed; /* holds a NULL entry */
	CHECK_INT(policy_identity(&v, &in), EINVAL);
	CHECK(!v.v.allow);
	/* a response is not a request */
	{
		struct sip_limits l = SIP_LIMITS_DEFAULT;
		static const char resp[] = "SIP/2.0 200 OK\r\n"
					   "Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1\r\n"
					   "From: <sip:1001@example.test>;tag=a\r\n"
					   "To: <sip:1002@example.test>;tag=b\r\n"
					   "Call-ID: 1@test\r\nCSeq: 1 INVITE\r\n"
					   "Content-Length: 0\r\n\r\n";
		CHECK_INT(sip_msg_parse(&m, hdrs, ARRAY_SIZE(hdrs), resp, sizeof(resp) - 1, false, &l),
			  0);
		in = base_in();
		CHECK_INT(policy_identity(&v, &in), EINVAL);
		CHECK(!v.v.allow);
	}
}

/* ---- rule 4: privacy -------------------------------------------------------------- */

static void privacy_id_untrusted_destination_drops_pai(void)
{
	struct policy_identity_in in = base_in();

	CHECK_INT(decide("<sip:1001@example.test>", "Privacy: id\r\n", &in), 0);
	CHECK(v.v.allow);
	CHECK(!v.add_pai);
	CHECK_INT(v.pai[0], '\0');
	CHECK(v.privacy_withheld);
	CHECK(v.privacy & POLICY_PRIV_ID);
	/* a list of values, any case, and several headers */
	CHECK_INT(decide("<sip:1001@example.test>", "Privacy: header; ID\r\n", &in), 0);
	CHECK(!v.add_pai);
	CHECK_INT(v.privacy, POLICY_PRIV_HEADER | POLICY_PRIV_ID);
	CHECK_INT(decide("<sip:1001@example.test>", "Privacy: user\r\nPrivacy: id;critical\r\n",
			 &in), 0);
	CHECK(!v.add_pai);
	CHECK_INT(v.privacy, POLICY_PRIV_USER | POLICY_PRIV_ID | POLICY_PRIV_CRITICAL);
	/* a trusted peer's assertion is removed too, with its Remote-Party-ID */
	in.source_trusted = true;
	in.auth_user = SLICE_NULL;
	CHECK_INT(decide("<sip:+15550000000@gw.example>", "Privacy: id\r\n" INJECTED, &in), 0);
	CHECK(v.v.allow);
	CHECK_INT(kept(SIP_H_P_ASSERTED_IDENTITY), 0);
	CHECK_INT(kept(SIP_H_REMOTE_PARTY_ID), 0);
	CHECK_INT(kept(SIP_H_P_PREFERRED_IDENTITY), 1);
	CHECK_INT(v.nstripped, 3);
	CHECK(v.privacy_withheld);
	/* "id" is a whole value: "idx" or "hidden" are not it */
	in = base_in();
	CHECK_INT(decide("<sip:1001@example.test>", "Privacy: idx; hidden\r\n", &in), 0);
	CHECK(v.add_pai);
	CHECK_INT(v.privacy, POLICY_PRIV_OTHER);
	CHECK(!v.privacy_withheld);
}

static void privacy_id_trusted_destination_keeps_pai(void)
{
	struct policy_identity_in in = base_in();

	in.dest_trusted = true;
	CHECK_INT(decide("\"Alice\" <sip:1001@example.test>", "Privacy: id\r\n", &in), 0);
	CHECK(v.v.allow);
	CHECK(v.add_pai);
	CHECK_SLICE(slice_cstr(v.pai), "\"Alice\" <sip:1001@example.test>");
	CHECK(!v.privacy_withheld);
	/* the Privacy header travels on for the trusted peer to honour */
	CHECK(sip_msg_hdr(&m, SIP_H_PRIVACY) != NULL);
	/* a trusted peer's PAI toward a trusted destination stays */
	in.source_trusted = true;
	in.auth_user = SLICE_NULL;
	CHECK_INT(decide("<sip:+15550000000@gw.example>", "Privacy: id\r\n" INJECTED, &in), 0);
	CHECK_INT(kept(SIP_H_P_ASSERTED_IDENTITY), 2);
	CHECK_INT(v.strip, 0);
}

static void privacy_none(void)
{
	struct policy_identity_in in = base_in();

	CHECK_INT(decide("<sip:1001@example.test>", "Privacy: none\r\n", &in), 0);
	CHECK(v.add_pai);
	CHECK_INT(v.privacy, POLICY_PRIV_NONE);
	CHECK(!v.privacy_withheld);
	CHECK_SLICE(slice_cstr(v.pai), "<sip:1001@example.test>");
	/* "none" with "id": the request for privacy wins */
	CHECK_INT(decide("<sip:1001@example.test>", "Privacy: none;id\r\n", &in), 0);
	CHECK(!v.add_pai);
	CHECK(v.privacy_withheld);
	/* no Privacy header at all */
	CHECK_INT(decide("<sip:1001@example.test>", "", &in), 0);
	CHECK_INT(v.privacy, 0);
	CHECK(v.add_pai);
	/* privacy never turns a spoof into an allow */
	CHECK_INT(decide("<sip:1002@example.test>", "Privacy: id\r\n", &in), 0);
	CHECK(is_spoof_denial());
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(from_aor_allowed),
		CASE(from_own_address_allowed),
		CASE(from_host_case_insensitive),
		CASE(from_user_case_sensitive_escapes_decoded),
		CASE(from_other_user_denied),
		CASE(from_allowed_identity),
		CASE(from_bad_allowed_entries_never_match),
		CASE(from_tel_identity),
		CASE(from_anonymous_allowed_with_auth),
		CASE(display_names_are_free),
		CASE(unauthenticated_requests),
		CASE(trusted_peer_with_auth_still_checked),
		CASE(injected_identity_headers_removed),
		CASE(trusted_peer_keeps_identity_headers),
		CASE(pai_added_with_authenticated_identity),
		CASE(hostile_display_names),
		CASE(hostile_user_and_domain),
		CASE(bad_arguments),
		CASE(privacy_id_untrusted_destination_drops_pai),
		CASE(privacy_id_trusted_destination_keeps_pai),
		CASE(privacy_none),
	};
	return check_main("policy_identity", cases, ARRAY_SIZE(cases), argc, argv);
}
