/*
 * test_emerg: the pure parts of emergency calls (emerg/): recognition of
 * the emergency numbers in every form the dial plan reads (911, 9-911,
 * 9911, +1911, tel:911, %-escapes, separators), not recognising what only
 * looks alike; the request-line check the guard uses before parsing; route
 * choice (up peers first, gateways as the last resort, all of them when
 * all are down); the configuration errors; civic fields (limits, control
 * characters, UTF-8, country, ELIN) and their stored text form; the PIDF-LO
 * escaping; the multipart body and its boundary; the bypass bucket.
 */
#include "check.h"
#include "emerg/emerg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct trunk_conf tc;
static struct emerg_conf ec;
static char err[256];

static void reset(const char *outside)
{
	unsigned line;

	trunk_conf_init(&tc);
	snprintf(tc.outside_prefix, sizeof(tc.outside_prefix), "%s", outside);
	(void)trunk_conf_check(&tc, &line, err, sizeof(err));
	memset(&ec, 0, sizeof(ec));
	emerg_conf_init(&ec);
	snprintf(ec.numbers_text, sizeof(ec.numbers_text), "911, 112, 933");
	CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), 0);
}

static int match(const char *user)
{
	return emerg_match_user(&ec, &tc, slice_cstr(user));
}

static int match_uri(const char *text)
{
	struct sip_uri u;
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	enum sip_err e;

	if (sip_uri_parse(&u, slice_cstr(text), &lim, &e) != 0)
		return -2;
	return emerg_match(&ec, &tc, &u);
}

static void test_recognition_forms(void)
{
	reset("9");
	CHECK_INT(match("911"), 0);
	CHECK_INT(match("112"), 1);
	CHECK_INT(match("933"), 2);
	CHECK_INT(match("9911"), 0);      /* outside prefix */
	CHECK_INT(match("9-911"), 0);
	CHECK_INT(match("9-9-1-1"), 0);
	CHECK_INT(match("(911)"), 0);
	CHECK_INT(match("%39%31%31"), 0); /* escaped */
	CHECK_INT(match("9%2D911"), 0);
	CHECK_INT(match("+1911"), 0);     /* country code */
	CHECK_INT(match("+1-911"), 0);
	CHECK_INT(match_uri("sip:911@example.com"), 0);
	CHECK_INT(match_uri("sip:9-911@example.com;user=phone"), 0);
	CHECK_INT(match_uri("sips:911@example.com"), 0);
	CHECK_INT(match_uri("tel:911"), 0);
	CHECK_INT(match_uri("tel:+1-911"), 0);
	CHECK_INT(match_uri("tel:112;phone-context=+1"), 1);
}

static void test_recognition_not(void)
{
	reset("9");
	CHECK_INT(match("91"), -1);
	CHECK_INT(match("9111"), -1);
	CHECK_INT(match("99911"), -1);
	CHECK_INT(match("+44911"), -1);   /* another country code */
	CHECK_INT(match("+911"), -1);
	CHECK_INT(match("1911"), -1);
	CHECK_INT(match("alice"), -1);
	CHECK_INT(match("911a"), -1);
	CHECK_INT(match("%3"), -1);       /* bad escape */
	CHECK_INT(match("%"), -1);
	CHECK_INT(match("91%3"), -1);
	CHECK_INT(match(""), -1);
	CHECK_INT(match("9+911"), -1);
	CHECK_INT(match_uri("http://911"), -1); /* another scheme */
	/* no outside prefix configured: 9911 is not 911 */
	reset("");
	CHECK_INT(match("9911"), -1);
	CHECK_INT(match("911"), 0);
	/* no numbers: nothing is an emergency call */
	ec.nnumbers = 0;
	CHECK_INT(match("911"), -1);
}

static void test_request_line(void)
{
	const char *a = "INVITE sip:911@example.com SIP/2.0\r\nVia: x\r\n";
	const char *b = "\r\nINVITE sip:9-911@example.com;user=phone SIP/2.0\r\n";
	const char *c = "INVITE tel:911 SIP/2.0\r\n";
	const char *d = "INVITE sip:1001@example.com SIP/2.0\r\n";
	const char *e = "REGISTER sip:911@example.com SIP/2.0\r\n";
	const char *f = "INVITE sip:911";

	reset("9");
	CHECK(emerg_request_line(&ec, &tc, a, strlen(a)));
	CHECK(emerg_request_line(&ec, &tc, b, strlen(b)));
	CHECK(emerg_request_line(&ec, &tc, c, strlen(c)));
	CHECK(!emerg_request_line(&ec, &tc, d, strlen(d)));
	CHECK(!emerg_request_line(&ec, &tc, e, strlen(e)));
	CHECK(!emerg_request_line(&ec, &tc, f, strlen(f)));
	CHECK(!emerg_request_line(&ec, &tc, a, 10));
	CHECK(!emerg_request_line(&ec, &tc, "", 0));
}

static void add_peer(const char *name, const char *addr, const char *role)
{
	CHECK_INT(trunk_conf_set(&tc, name, "address", addr, 3, err, sizeof(err)), 0);
	CHECK_INT(trunk_conf_set(&tc, name, "role", role, 4, err, sizeof(err)), 0);
}

static void routed(void)
{
	unsigned line;

	trunk_conf_init(&tc);
	add_peer("peer psap1", "udp:127.0.0.2:5060", "gateway");
	add_peer("peer psap2", "udp:127.0.0.3:5060", "gateway");
	add_peer("peer carrier", "udp:127.0.0.4:5060", "trunk");
	add_peer("peer gw", "udp:127.0.0.5:5060", "gateway");
	CHECK_INT(trunk_conf_check(&tc, &line, err, sizeof(err)), 0);
	memset(&ec, 0, sizeof(ec));
	snprintf(ec.numbers_text, sizeof(ec.numbers_text), "911, 112, 933");
	CHECK_INT(emerg_conf_set(&ec, "emergency_routes", "911", "psap1, psap2", 9, err,
				 sizeof(err)), 0);
	CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), 0);
}

static void test_route_choice(void)
{
	bool down[TRUNK_MAX_PEERS] = { false };
	uint8_t out[TRUNK_MAX_PEERS];
	size_t n;

	routed();
	CHECK_INT(tc.npeers, 4);
	n = emerg_route(&ec, &tc, 0, down, out);
	CHECK_INT(n, 3); /* psap1, psap2, then the other gateway; never the trunk */
	CHECK_INT(out[0], 0);
	CHECK_INT(out[1], 1);
	CHECK_INT(out[2], 3);
	down[0] = true;
	n = emerg_route(&ec, &tc, 0, down, out);
	CHECK_INT(n, 2);
	CHECK_INT(out[0], 1);
	CHECK_INT(out[1], 3);
	down[1] = true;
	n = emerg_route(&ec, &tc, 0, down, out);
	CHECK_INT(n, 1); /* every emergency peer is down: any gateway */
	CHECK_INT(out[0], 3);
	down[3] = true;
	n = emerg_route(&ec, &tc, 0, down, out);
	CHECK_INT(n, 3); /* all down: all of them anyway */
	CHECK_INT(out[0], 0);
	CHECK_INT(out[1], 1);
	CHECK_INT(out[2], 3);
	/* 112 has no route: the gateways */
	memset(down, 0, sizeof(down));
	n = emerg_route(&ec, &tc, 1, down, out);
	CHECK_INT(n, 3);
	CHECK_INT(out[0], 0);
	CHECK(emerg_peer_reserved(&ec, 0));
	CHECK(emerg_peer_reserved(&ec, 1));
	CHECK(!emerg_peer_reserved(&ec, 3));
	{
		uint32_t keep[TRUNK_MAX_PEERS];
		memset(keep, 0xff, sizeof(keep));
		ec.reserved_slots = 2;
		emerg_reserved_slots(&ec, keep, tc.npeers);
		CHECK(keep[0] == 2 && keep[1] == 2 && keep[2] == 0 && keep[3] == 0);
		CHECK(keep[4] == UINT32_MAX); /* past npeers: untouched */
	}
}

static void test_reachable(void)
{
	struct net_listen_spec l[2];
	size_t n;
	char e[128];

	routed();
	/* no UDP listener of IPv4: no peer can be sent to */
	CHECK_INT(net_listen_parse(l, 2, &n, "tcp:127.0.0.1:5060", e, sizeof(e)), 0);
	CHECK(!emerg_reachable(&ec, &tc, 0, l, n));
	CHECK_INT(net_listen_parse(l, 2, &n, "udp:127.0.0.1:5060", e, sizeof(e)), 0);
	CHECK(emerg_reachable(&ec, &tc, 0, l, n));
	CHECK(emerg_reachable(&ec, &tc, 1, l, n)); /* 112: the gateways */
	/* only a trunk: 911 has no route of its own that works, 112 no gateway */
	trunk_conf_init(&tc);
	add_peer("peer psap1", "tcp:127.0.0.2:5060", "trunk");
	{
		unsigned line;
		CHECK_INT(trunk_conf_check(&tc, &line, err, sizeof(err)), 0);
		memset(&ec, 0, sizeof(ec));
		snprintf(ec.numbers_text, sizeof(ec.numbers_text), "911, 112");
		CHECK_INT(emerg_conf_set(&ec, "emergency_routes", "911", "psap1", 1, err,
					 sizeof(err)), 0);
		CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), 0);
	}
	CHECK(emerg_reachable(&ec, &tc, 0, l, n));   /* a TCP peer: a connection of ours */
	CHECK(!emerg_reachable(&ec, &tc, 1, l, n));  /* no route, no gateway */
}

static void test_conf_errors(void)
{
	unsigned line = 0;

	routed();
	/* a route to an unknown peer, with its line */
	CHECK_INT(emerg_conf_set(&ec, "emergency_routes", "112", "nobody", 12, err, sizeof(err)), 0);
	CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), EINVAL);
	CHECK_INT(line, 12);
	CHECK(strstr(err, "unknown peer") != NULL);
	routed();
	CHECK_INT(emerg_conf_set(&ec, "emergency_routes", "999", "psap1", 13, err, sizeof(err)), 0);
	CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), EINVAL);
	CHECK_INT(line, 13);
	routed();
	CHECK_INT(emerg_conf_set(&ec, "emergency_routes", "911", "psap2", 14, err, sizeof(err)),
		  EINVAL); /* twice */
	CHECK_INT(emerg_conf_set(&ec, "emergency_routes", "+911", "psap2", 14, err, sizeof(err)),
		  EINVAL);
	CHECK_INT(emerg_conf_set(&ec, "emergency_routes", "112", "", 14, err, sizeof(err)), EINVAL);
	routed();
	snprintf(ec.numbers_text, sizeof(ec.numbers_text), "911, 9x1");
	CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), EINVAL);
	snprintf(ec.numbers_text, sizeof(ec.numbers_text), "1,2,3,4,5,6,7,8,9");
	CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), EINVAL);
	snprintf(ec.numbers_text, sizeof(ec.numbers_text), "911");
	snprintf(ec.notify_text, sizeof(ec.notify_text), "desk, bad@user");
	CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), EINVAL);
	snprintf(ec.notify_text, sizeof(ec.notify_text), "desk, security");
	CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), 0);
	CHECK_INT(ec.nnotify, 2);
	CHECK(strcmp(ec.notify[1], "security") == 0);
	/* locations: bad prefix, bad field, overlapping prefixes */
	CHECK_INT(emerg_conf_set(&ec, "location hq", "prefix", "10.0.0.0/8, nonsense", 20, err,
				 sizeof(err)), EINVAL);
	CHECK_INT(emerg_conf_set(&ec, "location hq", "prefix", "10.1.0.0/16", 20, err, sizeof(err)),
		  0);
	CHECK_INT(emerg_conf_set(&ec, "location hq", "colour", "red", 21, err, sizeof(err)), EINVAL);
	CHECK_INT(emerg_conf_set(&ec, "location bad name", "A1", "NY", 21, err, sizeof(err)), EINVAL);
	CHECK_INT(emerg_conf_set(&ec, "location hq", "RD", "Main Street", 22, err, sizeof(err)), 0);
	CHECK_INT(emerg_conf_set(&ec, "location annex", "prefix", "10.1.2.0/24", 30, err,
				 sizeof(err)), 0);
	CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), EINVAL);
	CHECK_INT(line, 30);
	CHECK(strstr(err, "overlapping") != NULL);
}

static void test_location_of(void)
{
	struct net_addr a = { 0 };
	struct sockaddr_in *s = (struct sockaddr_in *)&a.ss;
	unsigned line;

	routed();
	CHECK_INT(emerg_conf_set(&ec, "location hq", "prefix", "127.0.0.0/24", 1, err, sizeof(err)), 0);
	CHECK_INT(emerg_conf_set(&ec, "location hq", "ROOM", "101", 2, err, sizeof(err)), 0);
	CHECK_INT(emerg_conf_set(&ec, "location hq", "elin", "+15551230099", 2, err, sizeof(err)), 0);
	CHECK_INT(emerg_conf_set(&ec, "location lab", "prefix", "127.0.1.0/24", 3, err, sizeof(err)), 0);
	CHECK_INT(emerg_conf_check(&ec, &tc, &line, err, sizeof(err)), 0);
	s->sin_family = AF_INET;
	a.len = sizeof(*s);
	inet_pton(AF_INET, "127.0.0.9", &s->sin_addr);
	CHECK(emerg_location_of(&ec, &a) == &ec.loc[0]);
	CHECK(strcmp(ec.loc[0].civic.elin, "+15551230099") == 0);
	inet_pton(AF_INET, "127.0.1.9", &s->sin_addr);
	CHECK(emerg_location_of(&ec, &a) == &ec.loc[1]);
	inet_pton(AF_INET, "127.0.2.9", &s->sin_addr);
	CHECK(emerg_location_of(&ec, &a) == NULL);
}

static void test_civic_fields(void)
{
	struct emerg_civic c;
	char big[100];

	memset(&c, 0, sizeof(c));
	CHECK_INT(emerg_civic_set(&c, "country", "US", err, sizeof(err)), 0);
	CHECK_INT(emerg_civic_set(&c, "country", "us", err, sizeof(err)), EINVAL);
	CHECK_INT(emerg_civic_set(&c, "country", "USA", err, sizeof(err)), EOVERFLOW);
	CHECK_INT(emerg_civic_set(&c, "a1", "New York", err, sizeof(err)), 0);
	CHECK(strcmp(c.f[EMERG_A1], "New York") == 0);
	CHECK_INT(emerg_civic_set(&c, "RD", "Rue de l'\xc3\x89glise", err, sizeof(err)), 0);
	CHECK_INT(emerg_civic_set(&c, "RD", "bad\xc3", err, sizeof(err)), EINVAL);   /* cut UTF-8 */
	CHECK_INT(emerg_civic_set(&c, "RD", "bad\xc0\xaf", err, sizeof(err)), EINVAL); /* overlong */
	CHECK_INT(emerg_civic_set(&c, "RD", "bad\xed\xa0\x80", err, sizeof(err)), EINVAL); /* surrogate */
	CHECK_INT(emerg_civic_set(&c, "ROOM", "1\n2", err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "control character") != NULL);
	CHECK_INT(emerg_civic_set(&c, "ROOM", "1\x7f", err, sizeof(err)), EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[emerg_field_limit(EMERG_ROOM)] = '\0';
	CHECK_INT(emerg_civic_set(&c, "ROOM", big, err, sizeof(err)), 0);
	big[emerg_field_limit(EMERG_ROOM)] = 'x';
	big[emerg_field_limit(EMERG_ROOM) + 1] = '\0';
	CHECK_INT(emerg_civic_set(&c, "ROOM", big, err, sizeof(err)), EOVERFLOW);
	CHECK(strstr(err, "limit") != NULL);
	CHECK_INT(emerg_civic_set(&c, "elin", "5551230099", err, sizeof(err)), EINVAL);
	CHECK_INT(emerg_civic_set(&c, "elin", "+15551230099", err, sizeof(err)), 0);
	CHECK_INT(emerg_civic_set(&c, "street", "x", err, sizeof(err)), EINVAL);
}

static void test_civic_text(void)
{
	struct emerg_civic c, d;
	char text[EMERG_LOC_TEXT_MAX];

	memset(&c, 0, sizeof(c));
	CHECK_INT(emerg_civic_parse(&c, "country=US; A1=NY;A3=New York;RD=Main St;HNO=100;"
				    "FLR=2;BLD=North;ROOM=201;ELIN=+15551230099", err, sizeof(err)),
		  0);
	CHECK(strcmp(c.f[EMERG_A3], "New York") == 0);
	CHECK(strcmp(c.f[EMERG_ROOM], "201") == 0);
	CHECK(strcmp(c.elin, "+15551230099") == 0);
	CHECK_INT(emerg_civic_set(&c, "BLD", "A;B=C%D <&>", err, sizeof(err)), 0);
	CHECK_INT(emerg_civic_format(text, sizeof(text), &c), 0);
	CHECK(strstr(text, "BLD=A%3BB%3DC%25D <&>") != NULL);
	CHECK_INT(emerg_civic_parse(&d, text, err, sizeof(err)), 0);
	CHECK(memcmp(&c, &d, sizeof(c)) == 0);
	CHECK_INT(emerg_civic_format(text, 10, &c), EOVERFLOW);
	/* refused as a whole: d unchanged */
	CHECK_INT(emerg_civic_parse(&d, "ROOM=1;FLR=%0A", err, sizeof(err)), EINVAL);
	CHECK(strcmp(d.f[EMERG_ROOM], "201") == 0);
	CHECK_INT(emerg_civic_parse(&d, "ROOM", err, sizeof(err)), EINVAL);
	CHECK_INT(emerg_civic_parse(&d, "ROOM=%4", err, sizeof(err)), EINVAL);
	CHECK_INT(emerg_civic_parse(&d, "ROOM=%00", err, sizeof(err)), EINVAL);
	CHECK_INT(emerg_civic_parse(&d, "", err, sizeof(err)), 0);
	CHECK(emerg_civic_empty(&d));
}

static void test_pidf_escaped(void)
{
	struct emerg_civic c;
	char out[EMERG_PIDF_MAX];
	size_t len = 0;

	memset(&c, 0, sizeof(c));
	CHECK_INT(emerg_civic_parse(&c, "country=US;A1=NY;RD=<Main> & \"Broad\" 'St';ROOM=1",
				    err, sizeof(err)), 0);
	CHECK_INT(emerg_pidf(out, sizeof(out), &len, &c, "pres:a&b@example.com", "t1", 0), 0);
	CHECK_INT(len, strlen(out));
	CHECK(strstr(out, "<ca:RD>&lt;Main&gt; &amp; &quot;Broad&quot; &apos;St&apos;</ca:RD>"));
	CHECK(strstr(out, "entity=\"pres:a&amp;b@example.com\""));
	CHECK(strstr(out, "<ca:country>US</ca:country>"));
	CHECK(strstr(out, "<timestamp>1970-01-01T00:00:00Z</timestamp>"));
	/* RFC 5139 order: country before A1 before RD before ROOM */
	CHECK(strstr(out, "<ca:country>") < strstr(out, "<ca:A1>"));
	CHECK(strstr(out, "<ca:A1>") < strstr(out, "<ca:RD>"));
	CHECK(strstr(out, "<ca:RD>") < strstr(out, "<ca:ROOM>"));
	CHECK_INT(emerg_pidf(out, 100, &len, &c, "pres:x@y", "t1", 0), EOVERFLOW);
}

static void test_multipart(void)
{
	const char *sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n";
	const char *pidf = "<presence/>";
	char out[2048], ctype[128], boundary[160], *b;
	size_t len = 0;

	CHECK_INT(emerg_multipart(out, sizeof(out), &len, ctype, sizeof(ctype),
				  slice_cstr("application/sdp"), slice_cstr(sdp), "loc1@example.com",
				  slice_cstr(pidf), 42), 0);
	CHECK(strncmp(ctype, "multipart/mixed;boundary=", 25) == 0);
	snprintf(boundary, sizeof(boundary), "--%s", ctype + 25);
	CHECK(strncmp(out, boundary, strlen(boundary)) == 0);
	CHECK(strstr(out, "Content-Type: application/sdp\r\n\r\nv=0\r\n"));
	CHECK(strstr(out, "Content-Type: application/pidf+xml\r\nContent-ID: <loc1@example.com>\r\n"
			  "\r\n<presence/>\r\n"));
	b = strstr(out, "<presence/>\r\n");
	CHECK(b && strncmp(b + 13, boundary, strlen(boundary)) == 0);
	CHECK(strcmp(out + len - 4, "--\r\n") == 0);
	CHECK_INT(len, strlen(out));
	/* a boundary that is in the SDP is not used */
	{
		char trap[256];
		char ctype2[128];
		snprintf(trap, sizeof(trap), "v=0\r\na=x:%s\r\n", ctype + 25);
		CHECK_INT(emerg_multipart(out, sizeof(out), &len, ctype2, sizeof(ctype2),
					  slice_cstr("application/sdp"), slice_cstr(trap), "c@d",
					  slice_cstr(pidf), 42), 0);
		CHECK(strcmp(ctype, ctype2) != 0);
		CHECK(!strstr(trap, ctype2 + 25));
	}
	/* no SDP (a late offer): the location alone */
	CHECK_INT(emerg_multipart(out, sizeof(out), &len, ctype, sizeof(ctype), SLICE_NULL,
				  SLICE_NULL, "c@d", slice_cstr(pidf), 1), 0);
	CHECK(!strstr(out, "application/sdp"));
	/* a Content-Type with a line break, a cid with brackets, no room */
	CHECK_INT(emerg_multipart(out, sizeof(out), &len, ctype, sizeof(ctype),
				  slice_cstr("application/sdp\r\nX: y"), slice_cstr(sdp), "c@d",
				  slice_cstr(pidf), 1), EINVAL);
	CHECK_INT(emerg_multipart(out, sizeof(out), &len, ctype, sizeof(ctype),
				  slice_cstr("application/sdp"), slice_cstr(sdp), "<c@d>",
				  slice_cstr(pidf), 1), EINVAL);
	CHECK_INT(emerg_multipart(out, 40, &len, ctype, sizeof(ctype),
				  slice_cstr("application/sdp"), slice_cstr(sdp), "c@d",
				  slice_cstr(pidf), 1), EOVERFLOW);
}

static void test_bucket(void)
{
	struct emerg_bucket b = { 0 };
	int n = 0;

	for (int i = 0; i < 100; i++)
		n += emerg_bucket_take(&b, 5, 1000);
	CHECK_INT(n, 10); /* burst: 2 x rate */
	CHECK(!emerg_bucket_take(&b, 5, 1000));
	CHECK(emerg_bucket_take(&b, 5, 1200)); /* 200 ms at 5/s: one */
	CHECK(!emerg_bucket_take(&b, 5, 1200));
	n = 0;
	for (int i = 0; i < 100; i++)
		n += emerg_bucket_take(&b, 5, 1000000);
	CHECK_INT(n, 10); /* refills to the burst, no more */
	CHECK(!emerg_bucket_take(&b, 0, 2000000)); /* rate 0: nothing past the guard */
}

static const struct check_case cases[] = {
	CASE(test_recognition_forms), CASE(test_recognition_not), CASE(test_request_line),
	CASE(test_route_choice),      CASE(test_reachable),       CASE(test_conf_errors),     CASE(test_location_of),
	CASE(test_civic_fields),      CASE(test_civic_text),      CASE(test_pidf_escaped),
	CASE(test_multipart),         CASE(test_bucket),
};

int main(int argc, char **argv)
{
	return check_main("emerg", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
