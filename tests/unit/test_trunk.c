/*
 * test_trunk: the pure decisions of trunk/: number normalisation (every
 * form: +, 00/011, outside-line prefix, %-escapes, separators, tel:,
 * user=phone), classes (NANP defaults, generic E.164, site overrides), the
 * dial plan (longest route, failover order, the one-gateway default,
 * strip/prepend), class of service, caps, peers by source address, and the
 * configuration errors refused with their line.
 */
#include "check.h"
#include "base/hash.h"
#include "trunk/trunk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct trunk_conf c;
static char err[256];

static int set(const char *sec, const char *k, const char *v)
{
	return trunk_conf_set(&c, sec, k, v, 7, err, sizeof(err));
}

static int check_all(unsigned *line)
{
	return trunk_conf_check(&c, line, err, sizeof(err));
}

static void reset(void)
{
	unsigned line;

	trunk_conf_init(&c);
	(void)check_all(&line);
}

static const char *norm(const char *user)
{
	static char out[TRUNK_NUM_MAX];
	int rc = trunk_normalise_user(out, slice_cstr(user), &c);

	if (rc == ENOENT)
		return "ENOENT";
	if (rc == EBADMSG)
		return "EBADMSG";
	return rc ? "?" : out;
}

#define CHECK_STR(a, b) \
	do { \
		const char *check_x_ = (a), *check_y_ = (b); \
		if (strcmp(check_x_, check_y_) != 0) { \
			check_fail(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b, \
				   check_x_, check_y_); \
			return; \
		} \
	} while (0)

static void test_normalise_nanp(void)
{
	reset();
	CHECK_STR(norm("+15551230000"), "+15551230000");
	CHECK_STR(norm("%2B15551230000"), "+15551230000");
	CHECK_STR(norm("+1-555-123-0000"), "+15551230000");
	CHECK_STR(norm("(555)%20123.0000"), "+15551230000");
	CHECK_STR(norm("15551230000"), "+15551230000");
	CHECK_STR(norm("5551230000"), "+15551230000");
	CHECK_STR(norm("011442079460000"), "+442079460000");
	CHECK_STR(norm("0114420-7946-0000"), "+442079460000");
	/* names and extensions are not outside numbers */
	CHECK_STR(norm("alice"), "ENOENT");
	CHECK_STR(norm("1001"), "ENOENT");
	CHECK_STR(norm(""), "ENOENT");
	/* malformed */
	CHECK_STR(norm("%2"), "EBADMSG");
	CHECK_STR(norm("%zz1"), "EBADMSG");
	CHECK_STR(norm("+1234567890123456"), "EBADMSG"); /* 16 digits */
	CHECK_STR(norm("+0441234"), "EBADMSG");
	CHECK_STR(norm("+12"), "EBADMSG");
	CHECK_STR(norm("0123456789"), "EBADMSG"); /* NANP area codes start 2-9 */
	/* a %-escaped letter is a letter */
	CHECK_STR(norm("555%41230000"), "ENOENT");
	/* a second + is no number */
	CHECK_STR(norm("+1+5551230000"), "ENOENT");
	/* an overlong string of digits is refused, never cut */
	CHECK_STR(norm("+1555123000011111111111111111111"), "EBADMSG");
}

static void test_normalise_outside_prefix(void)
{
	unsigned line;

	trunk_conf_init(&c);
	CHECK_INT(set("dialplan", "outside_prefix", "9"), 0);
	CHECK_INT(set("dialplan", "area_code", "555"), 0);
	CHECK_INT(check_all(&line), 0);
	CHECK_STR(norm("95551230000"), "+15551230000");
	CHECK_STR(norm("915551230000"), "+15551230000");
	CHECK_STR(norm("9011442079460000"), "+442079460000");
	CHECK_STR(norm("91230000"), "+15551230000"); /* seven digits: local */
	CHECK_STR(norm("+15551230000"), "+15551230000"); /* E.164 needs no prefix */
	CHECK_STR(norm("5551230000"), "ENOENT");          /* no outside line asked */
	CHECK_STR(norm("9"), "ENOENT");
	CHECK_STR(norm("9123"), "EBADMSG");
}

static void test_normalise_generic(void)
{
	unsigned line;

	trunk_conf_init(&c);
	CHECK_INT(set("dialplan", "country_code", "44"), 0);
	CHECK_INT(set("dialplan", "outside_prefix", "0"), 0);
	CHECK_INT(check_all(&line), 0);
	CHECK_STR(norm("0020 7946 0000"), "+442079460000");   /* 0 line, 0 national */
	CHECK_STR(norm("00015551230000"), "+15551230000");    /* 0 line, 00 international */
	CHECK_STR(norm("+33 1 23 45 67 89"), "+33123456789");
	CHECK_INT(trunk_classify(&c, "+442079460000"), TRUNK_CLASS_NATIONAL);
	CHECK_INT(trunk_classify(&c, "+33123456789"), TRUNK_CLASS_INTERNATIONAL);
	CHECK_INT(trunk_classify(&c, "+19005551234"), TRUNK_CLASS_INTERNATIONAL);
}

static void test_normalise_uris(void)
{
	struct sip_limits lim = SIP_LIMITS_DEFAULT;
	struct sip_uri u;
	enum sip_err e;
	char out[TRUNK_NUM_MAX];
	static const char *const forms[] = {
		"tel:+1-555-123-0000",
		"tel:+15551230000;phone-context=example.test",
		"sip:+15551230000@example.test;user=phone",
		"sip:%2B1%20555%20123%200000@example.test",
		"sips:1-555-123-0000@example.test",
	};

	reset();
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		CHECK_INT(sip_uri_parse(&u, slice_cstr(forms[i]), &lim, &e), 0);
		CHECK_INT(trunk_normalise(out, &u, &c), 0);
		CHECK_STR(out, "+15551230000");
	}
	CHECK_INT(sip_uri_parse(&u, slice_cstr("sip:alice@example.test"), &lim, &e), 0);
	CHECK_INT(trunk_normalise(out, &u, &c), ENOENT);
}

static void test_classes_nanp(void)
{
	unsigned line;

	reset();
	CHECK_INT(trunk_classify(&c, "+12125550100"), TRUNK_CLASS_NATIONAL);
	CHECK_INT(trunk_classify(&c, "+18005550100"), TRUNK_CLASS_TOLL_FREE);
	CHECK_INT(trunk_classify(&c, "+19005550100"), TRUNK_CLASS_PREMIUM);
	CHECK_INT(trunk_classify(&c, "+18765550100"), TRUNK_CLASS_INTERNATIONAL); /* Jamaica */
	CHECK_INT(trunk_classify(&c, "+18095550100"), TRUNK_CLASS_INTERNATIONAL);
	CHECK_INT(trunk_classify(&c, "+442079460000"), TRUNK_CLASS_INTERNATIONAL);
	/* the site: a local area, mobiles, its own premium list */
	trunk_conf_init(&c);
	CHECK_INT(set("dialplan", "area_code", "555"), 0);
	CHECK_INT(set("classes", "mobile", "+1555X9"), 0);
	CHECK_INT(set("classes", "premium", "+1900, +1555976"), 0);
	CHECK_INT(check_all(&line), 0);
	CHECK_INT(trunk_classify(&c, "+15551230000"), TRUNK_CLASS_LOCAL);
	CHECK_INT(trunk_classify(&c, "+15552930000"), TRUNK_CLASS_MOBILE);
	CHECK_INT(trunk_classify(&c, "+15559760000"), TRUNK_CLASS_PREMIUM);
	CHECK_INT(trunk_classify(&c, "+18005550100"), TRUNK_CLASS_TOLL_FREE);
	/* "none" empties a class */
	trunk_conf_init(&c);
	CHECK_INT(set("classes", "toll-free", "none"), 0);
	CHECK_INT(check_all(&line), 0);
	CHECK_INT(trunk_classify(&c, "+18005550100"), TRUNK_CLASS_NATIONAL);
}

static void test_cos(void)
{
	struct trunk_verdict v;

	trunk_cos(&v, TRUNK_LEVEL_NATIONAL, TRUNK_CLASS_NATIONAL);
	CHECK(v.allow);
	trunk_cos(&v, TRUNK_LEVEL_NATIONAL, TRUNK_CLASS_TOLL_FREE);
	CHECK(v.allow);
	trunk_cos(&v, TRUNK_LEVEL_NATIONAL, TRUNK_CLASS_MOBILE);
	CHECK(v.allow);
	trunk_cos(&v, TRUNK_LEVEL_NATIONAL, TRUNK_CLASS_INTERNATIONAL);
	CHECK(!v.allow);
	CHECK_INT(v.status, 403);
	CHECK_STR(v.event, "call.class_denied");
	CHECK_STR(v.detail, "international");
	trunk_cos(&v, TRUNK_LEVEL_INTERNATIONAL, TRUNK_CLASS_PREMIUM);
	CHECK(!v.allow);
	trunk_cos(&v, TRUNK_LEVEL_PREMIUM, TRUNK_CLASS_PREMIUM);
	CHECK(v.allow);
	trunk_cos(&v, TRUNK_LEVEL_INTERNAL, TRUNK_CLASS_LOCAL);
	CHECK(!v.allow);
	trunk_cos(&v, TRUNK_LEVEL_LOCAL, TRUNK_CLASS_NATIONAL);
	CHECK(!v.allow);
	trunk_cos(&v, TRUNK_LEVEL_LOCAL, TRUNK_CLASS_TOLL_FREE);
	CHECK(v.allow);
}

static void test_levels(void)
{
	unsigned line;

	trunk_conf_init(&c);
	CHECK_INT(trunk_user_level(&c, slice_cstr("alice")), TRUNK_LEVEL_NATIONAL);
	CHECK_INT(set("calling", "alice", "international"), 0);
	CHECK_INT(set("dialplan", "calling", "local"), 0);
	CHECK_INT(set("calling", "bob", "premium-plus"), EINVAL);
	CHECK(strstr(err, "unknown calling class") != NULL);
	CHECK_INT(check_all(&line), 0);
	CHECK_INT(trunk_user_level(&c, slice_cstr("alice")), TRUNK_LEVEL_INTERNATIONAL);
	CHECK_INT(trunk_user_level(&c, slice_cstr("bob")), TRUNK_LEVEL_LOCAL);
	CHECK_INT(trunk_user_level(&c, slice_cstr("alic")), TRUNK_LEVEL_LOCAL);
}

static void two_gateways(void)
{
	unsigned line;

	trunk_conf_init(&c);
	CHECK_INT(set("peer gw1", "address", "udp:127.0.0.2:5060"), 0);
	CHECK_INT(set("peer gw1", "role", "gateway"), 0);
	CHECK_INT(set("peer gw2", "address", "udp:127.0.0.3:5070, tcp:127.0.0.3:5070"), 0);
	CHECK_INT(set("peer gw2", "sources", "10.1.0.0/16"), 0);
	CHECK_INT(set("peer gw2", "strip", "1"), 0);
	CHECK_INT(set("peer gw2", "prepend", "011"), 0);
	CHECK_INT(check_all(&line), 0);
}

static void test_dialplan(void)
{
	uint8_t p[TRUNK_MAX_ROUTE_PEERS];
	char out[64];
	unsigned line;

	two_gateways();
	if (check_failed)
		return;
	/* no routes: every peer, in file order */
	CHECK_INT(trunk_route(&c, "+15551230000", p), 2);
	CHECK_INT(p[0], 0);
	CHECK_INT(p[1], 1);
	CHECK_INT(set("routes", "+", "gw1"), 0);
	CHECK_INT(set("routes", "+44", "gw2, gw1"), 0);
	CHECK_INT(set("routes", "+4420X", "gw2"), 0);
	CHECK_INT(set("routes", "+44", "gw1"), EINVAL); /* twice */
	CHECK_INT(check_all(&line), 0);
	CHECK_INT(trunk_route(&c, "+15551230000", p), 1);
	CHECK_INT(p[0], 0);
	CHECK_INT(trunk_route(&c, "+441234567890", p), 2);
	CHECK_INT(p[0], 1);
	CHECK_INT(p[1], 0);
	CHECK_INT(trunk_route(&c, "+442079460000", p), 1);
	CHECK_INT(p[0], 1);
	/* per-peer rewriting */
	CHECK_INT(trunk_rewrite(out, sizeof(out), &c.peer[0], "+442079460000"), 0);
	CHECK_STR(out, "+442079460000");
	CHECK_INT(trunk_rewrite(out, sizeof(out), &c.peer[1], "+442079460000"), 0);
	CHECK_STR(out, "011442079460000");
	CHECK_INT(trunk_rewrite(out, 8, &c.peer[1], "+442079460000"), EOVERFLOW);
	/* a route set with no catch-all: no route */
	trunk_conf_init(&c);
	CHECK_INT(set("peer gw1", "address", "udp:127.0.0.2:5060"), 0);
	CHECK_INT(set("routes", "+1", "gw1"), 0);
	CHECK_INT(check_all(&line), 0);
	CHECK_INT(trunk_route(&c, "+442079460000", p), 0);
}

static struct net_addr addr4(const char *s)
{
	struct net_addr a = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&a.ss;

	in->sin_family = AF_INET;
	inet_pton(AF_INET, s, &in->sin_addr);
	a.len = sizeof(*in);
	return a;
}

static void test_peer_sources(void)
{
	struct net_addr a;

	two_gateways();
	if (check_failed)
		return;
	a = addr4("127.0.0.2");
	CHECK_INT(trunk_peer_of(&c, &a), 0);
	a = addr4("127.0.0.3");
	CHECK_INT(trunk_peer_of(&c, &a), 1);
	a = addr4("10.1.200.7");
	CHECK_INT(trunk_peer_of(&c, &a), 1);
	a = addr4("127.0.0.1");
	CHECK_INT(trunk_peer_of(&c, &a), -1);
	CHECK(trunk_names_peer(&c, slice_cstr("127.0.0.2")));
	CHECK(trunk_names_peer(&c, slice_cstr("10.1.0.9")));
	CHECK(!trunk_names_peer(&c, slice_cstr("127.0.0.1")));
	CHECK(!trunk_names_peer(&c, slice_cstr("gw.example.test")));
	CHECK(!trunk_names_peer(&c, slice_cstr("[::1]")));
}

static void test_dids(void)
{
	unsigned line;

	trunk_conf_init(&c);
	CHECK_INT(set("dids", "+15551230001", "alice"), 0);
	CHECK_INT(set("dids", "+15551230002", "alice"), 0);
	CHECK_INT(set("dids", "+15551230001", "bob"), EINVAL);
	CHECK_INT(set("dids", "5551230003", "bob"), EINVAL);
	CHECK_INT(check_all(&line), 0);
	CHECK_STR(trunk_did_user(&c, "+15551230002"), "alice");
	CHECK(trunk_did_user(&c, "+15551230003") == NULL);
	CHECK_STR(trunk_user_did(&c, slice_cstr("alice")), "+15551230001");
	CHECK(trunk_user_did(&c, slice_cstr("bob")) == NULL);
}

static void test_caps(void)
{
	struct trunk_verdict v;

	trunk_cap(&v, 0, 1, "user");
	CHECK(v.allow);
	trunk_cap(&v, 1, 1, "user");
	CHECK(!v.allow);
	CHECK_INT(v.status, 403);
	CHECK_STR(v.event, "fraud.limit");
	trunk_cap(&v, 1000, 0, "user");
	CHECK(v.allow);
}

/* Every configuration error the issue lists, with the line it names. */
static void test_conf_errors(void)
{
	unsigned line;

	trunk_conf_init(&c);
	CHECK_INT(trunk_conf_set(&c, "peer gw1", "role", "gateway", 3, err, sizeof(err)), 0);
	CHECK_INT(check_all(&line), EINVAL);
	CHECK_INT(line, 3);
	CHECK(strstr(err, "no address") != NULL);

	trunk_conf_init(&c);
	CHECK_INT(trunk_conf_set(&c, "peer gw1", "address", "udp:127.0.0.2:5060", 3, err,
				 sizeof(err)), 0);
	CHECK_INT(trunk_conf_set(&c, "peer gw2", "address", "udp:127.0.0.9:5060", 9, err,
				 sizeof(err)), 0);
	CHECK_INT(trunk_conf_set(&c, "peer gw2", "sources", "127.0.0.0/24", 10, err,
				 sizeof(err)), 0);
	CHECK_INT(check_all(&line), EINVAL);
	CHECK_INT(line, 9);
	CHECK(strstr(err, "overlap") != NULL);

	trunk_conf_init(&c);
	CHECK_INT(trunk_conf_set(&c, "peer gw1", "address", "udp:127.0.0.2:5060", 3, err,
				 sizeof(err)), 0);
	CHECK_INT(trunk_conf_set(&c, "routes", "+1", "gw1, gw9", 12, err, sizeof(err)), 0);
	CHECK_INT(check_all(&line), EINVAL);
	CHECK_INT(line, 12);
	CHECK(strstr(err, "unknown peer \"gw9\"") != NULL);

	trunk_conf_init(&c);
	CHECK_INT(trunk_conf_set(&c, "peer carrier", "address", "tls:127.0.0.2:5061", 4, err,
				 sizeof(err)), 0);
	CHECK_INT(check_all(&line), EINVAL);
	CHECK_INT(line, 4);
	CHECK(strstr(err, "tls_name") != NULL);
	CHECK_INT(set("peer carrier", "tls_name", "sip.carrier.example"), 0);
	CHECK_INT(check_all(&line), 0);
	CHECK_INT(set("peer carrier", "tls_name", "bad name"), EINVAL);

	trunk_conf_init(&c);
	CHECK_INT(set("classes", "expensive", "+1900"), EINVAL);
	CHECK(strstr(err, "unknown class") != NULL);
	CHECK_INT(set("classes", "premium", "1900"), EINVAL);
	CHECK(strstr(err, "does not parse") != NULL);
	CHECK_INT(set("classes", "premium", "+19*"), EINVAL);
	CHECK_INT(set("classes", "premium", "+1900,,+1976"), EINVAL);
	CHECK_INT(set("routes", "+1-800", "gw1"), EINVAL);
	CHECK_INT(set("peer gw1", "address", "udp:gw.example.test:5060"), EINVAL);
	CHECK_INT(set("peer gw1", "address", "udp:127.0.0.2:0"), EINVAL);
	CHECK_INT(set("peer gw1", "address", "sctp:127.0.0.2:5060"), EINVAL);
	CHECK_INT(set("peer gw1", "sources", "127.0.0.0/33"), EINVAL);
	CHECK_INT(set("peer gw1", "role", "carrier"), EINVAL);
	CHECK_INT(set("peer gw1", "trust_pai", "maybe"), EINVAL);
	CHECK_INT(set("peer gw1", "max_calls_out", "-1"), EINVAL);
	CHECK_INT(set("peer gw1", "prepend", "abc"), EINVAL);
	CHECK_INT(set("peer gw1", "ping_interval", "3601"), EINVAL);
	CHECK_INT(set("peer gw1", "ping_interval", "0"), 0);
	CHECK_INT(set("peer gw1", "colour", "red"), EINVAL);
	CHECK_INT(set("peer bad/name", "role", "gateway"), EINVAL);
	CHECK_INT(set("peer ", "role", "gateway"), EINVAL);
	CHECK_INT(set("dialplan", "country_code", "1a"), EINVAL);
	CHECK_INT(set("dialplan", "country_code", ""), EINVAL);
	CHECK_INT(set("dialplan", "outside_prefix", "99999"), EINVAL);
	/* a peer section that comes back later is a second definition */
	trunk_conf_init(&c);
	CHECK_INT(set("peer a", "address", "udp:127.0.0.2:5060"), 0);
	CHECK_INT(set("peer b", "address", "udp:127.0.0.3:5060"), 0);
	CHECK_INT(set("peer a", "role", "trunk"), EINVAL);
	CHECK(strstr(err, "defined twice") != NULL);
}

static void test_limits_of_tables(void)
{
	char name[32], addr[64];

	trunk_conf_init(&c);
	for (int i = 0; i < TRUNK_MAX_PEERS; i++) {
		snprintf(name, sizeof(name), "peer p%d", i);
		snprintf(addr, sizeof(addr), "udp:10.0.%d.1:5060", i);
		CHECK_INT(set(name, "address", addr), 0);
	}
	CHECK_INT(set("peer one-more", "address", "udp:10.9.0.1:5060"), EINVAL);
	/* the last section read is p15: more addresses for it, up to the cap */
	CHECK_INT(set("peer p15", "address",
		      "udp:10.0.15.1:5061,udp:10.0.15.1:5062,udp:10.0.15.1:5063"), 0);
	CHECK_INT(set("peer p15", "address", "udp:10.0.15.1:5064"), EINVAL);
	CHECK(strstr(err, "more than") != NULL);
}

/* Toll-fraud counters (trunk/fraud.c): calls per hour in 5-minute slots,
 * minutes per day in hourly slots with international apart, each limit
 * refusing at its value and ageing out; a peer's detail names its own
 * settings. */
static void test_fraud_limits(void)
{
	struct trunk_usage u;
	struct trunk_limits lim = { 3, 2, 1 };
	struct trunk_verdict v;
	int64_t t0 = 1700000000; /* a multiple of 300 and of 3600 plus 800 */

	trunk_usage_init(&u);
	for (int i = 0; i < 3; i++) {
		trunk_limits_check(&v, &u, &lim, false, t0 + i, false);
		CHECK(v.allow);
		trunk_usage_placed(&u, (uint64_t)i, t0 + i, 600);
	}
	trunk_limits_check(&v, &u, &lim, false, t0 + 10, false);
	CHECK(!v.allow && v.status == 403 && strcmp(v.event, "fraud.limit") == 0);
	CHECK(strstr(v.detail, "[fraud] calls_per_hour") != NULL);
	trunk_limits_check(&v, &u, &lim, false, t0 + 10, true);
	CHECK(!v.allow && strstr(v.detail, "the peer's") != NULL && !strstr(v.detail, "[fraud]"));
	/* an hour later (plus a slot: the ring is in 5-minute slots) they aged out */
	trunk_limits_check(&v, &u, &lim, false, t0 + 3600 + 300, false);
	CHECK(v.allow);
	/* a long gap costs no more than a ring: counters simply empty */
	trunk_limits_check(&v, &u, &lim, false, t0 + 400LL * 86400, false);
	CHECK(v.allow);
	CHECK_INT(u.calls_sum, 0);

	/* minutes: domestic and international apart; a call counts when it ends */
	trunk_usage_init(&u);
	lim.calls_per_hour = 0;
	trunk_usage_ended(&u, true, 59, t0, 600, 10);      /* 59 s international */
	trunk_limits_check(&v, &u, &lim, true, t0, false);
	CHECK(v.allow);                                    /* under a minute */
	trunk_usage_ended(&u, true, 1, t0, 600, 10);
	trunk_limits_check(&v, &u, &lim, true, t0, false);
	CHECK(!v.allow && strstr(v.detail, "international_minutes_per_day") != NULL);
	trunk_limits_check(&v, &u, &lim, false, t0, false);
	CHECK(v.allow);                                    /* national is on its own */
	trunk_usage_ended(&u, false, 120, t0 + 7200, 600, 10);
	trunk_limits_check(&v, &u, &lim, false, t0 + 7200, false);
	CHECK(!v.allow && strstr(v.detail, "[fraud] minutes_per_day") != NULL);
	/* a day later, both budgets are back */
	trunk_limits_check(&v, &u, &lim, false, t0 + 7200 + 86400 + 3600, false);
	CHECK(v.allow);
	trunk_limits_check(&v, &u, &lim, true, t0 + 7200 + 86400 + 3600, false);
	CHECK(v.allow);
	/* no counters (NULL), no limits (0): allowed */
	trunk_limits_check(&v, NULL, &lim, true, t0, false);
	CHECK(v.allow);
	CHECK(trunk_class_intl(TRUNK_CLASS_PREMIUM) && trunk_class_intl(TRUNK_CLASS_INTERNATIONAL));
	CHECK(!trunk_class_intl(TRUNK_CLASS_NATIONAL) && !trunk_class_intl(TRUNK_CLASS_TOLL_FREE));
}

/* The burst alert: short international calls, or many destinations, in
 * the window; once per burst; forgiven after a hold is lifted. */
static void test_fraud_burst(void)
{
	struct trunk_fraud_conf f = { { 0, 0, 0 }, 600, 3, 10, 5, 1 };
	struct trunk_usage u;
	char why[200];
	int64_t t0 = 1700000000;
	struct hash_key k = { 1, 2 };

	trunk_usage_init(&u);
	trunk_usage_ended(&u, true, 3, t0, 600, 10);
	trunk_usage_ended(&u, true, 0, t0 + 1, 600, 10);   /* unanswered counts */
	trunk_usage_ended(&u, true, 60, t0 + 2, 600, 10);  /* long: not short */
	trunk_usage_ended(&u, false, 1, t0 + 3, 600, 10);  /* national: not counted */
	CHECK(!trunk_burst(&u, &f, t0 + 3, why, sizeof(why)));
	trunk_usage_ended(&u, true, 9, t0 + 4, 600, 10);
	CHECK(trunk_burst(&u, &f, t0 + 4, why, sizeof(why)));
	CHECK(strstr(why, "alert_short_calls") != NULL);
	trunk_usage_ended(&u, true, 1, t0 + 5, 600, 10);
	CHECK(!trunk_burst(&u, &f, t0 + 5, why, sizeof(why))); /* once per burst */
	/* the window passes: it ebbs, and the next burst is news again */
	CHECK(!trunk_burst(&u, &f, t0 + 700, why, sizeof(why)));
	for (int i = 0; i < 3; i++)
		trunk_usage_ended(&u, true, 1, t0 + 701 + i, 600, 10);
	CHECK(trunk_burst(&u, &f, t0 + 704, why, sizeof(why)));
	trunk_usage_forgive(&u);
	CHECK(!trunk_burst(&u, &f, t0 + 705, why, sizeof(why)));

	/* destinations: the same number over and over is one */
	trunk_usage_init(&u);
	for (int i = 0; i < 50; i++)
		trunk_usage_placed(&u, hash_siphash(&k, "+12125550100", 12), t0 + i, 600);
	CHECK_INT(trunk_usage_destinations(&u, t0 + 50, 600), 1);
	CHECK(!trunk_burst(&u, &f, t0 + 50, why, sizeof(why)));
	for (int i = 0; i < 5; i++) {
		char num[16];
		snprintf(num, sizeof(num), "+4420794600%02d", i);
		trunk_usage_placed(&u, hash_siphash(&k, num, strlen(num)), t0 + 60, 600);
	}
	CHECK(trunk_usage_destinations(&u, t0 + 60, 600) >= 5);
	CHECK(trunk_burst(&u, &f, t0 + 60, why, sizeof(why)));
	CHECK(strstr(why, "alert_destinations") != NULL);
	/* the estimate tracks a larger count within a few percent */
	trunk_usage_init(&u);
	for (int i = 0; i < 200; i++) {
		char num[16];
		snprintf(num, sizeof(num), "+1212555%04d", i);
		trunk_usage_placed(&u, hash_siphash(&k, num, strlen(num)), t0, 600);
	}
	{
		uint32_t d = trunk_usage_destinations(&u, t0, 600);
		CHECK(d >= 180 && d <= 220);
	}
	/* idle once everything aged out */
	CHECK(!trunk_usage_idle(&u, t0, 600));
	CHECK(trunk_usage_idle(&u, t0 + 2 * 86400, 600));
}

/* The peers' credentials file, line by line: sections name peers, values
 * are checked, errors never repeat a password. */
static void test_secrets(void)
{
	struct trunk_secrets t;
	char why[200];

	memset(&t, 0, sizeof(t));
	CHECK_INT(trunk_secret_set(&t, "carrier", "username", "acct-1", why, sizeof(why)), 0);
	CHECK_INT(trunk_secret_set(&t, "carrier", "password", "Secret-99", why, sizeof(why)), 0);
	CHECK_INT(trunk_secrets_check(&t, why, sizeof(why)), 0);
	CHECK(trunk_secret_of(&t, "carrier") && strcmp(trunk_secret_of(&t, "carrier")->user,
						       "acct-1") == 0);
	CHECK(trunk_secret_of(&t, "gw9") == NULL);
	CHECK_INT(trunk_secret_set(&t, "carrier", "password", "has space", why, sizeof(why)),
		  EINVAL);
	CHECK(!strstr(why, "has space"));
	CHECK_INT(trunk_secret_set(&t, "carrier", "password", "quo\"te", why, sizeof(why)), EINVAL);
	CHECK_INT(trunk_secret_set(&t, "carrier", "colour", "red", why, sizeof(why)), EINVAL);
	CHECK_INT(trunk_secret_set(&t, "gw2", "username", "u", why, sizeof(why)), 0);
	CHECK_INT(trunk_secrets_check(&t, why, sizeof(why)), EINVAL); /* gw2 has no password */
	CHECK(strstr(why, "gw2") != NULL);
	trunk_secrets_wipe(&t);
	CHECK(t.n == 0 && t.s[0].password[0] == '\0');
}

/* calls_per_second: a token bucket that starts full (a burst of rate), is
 * refilled at rate a second, answers how long to wait, and takes nothing
 * when it refuses or when only asked. */
static void test_rate_bucket(void)
{
	struct trunk_bucket b;
	uint64_t t = 5000;

	memset(&b, 0, sizeof(b));
	CHECK_INT(trunk_bucket_check(&b, 0, t, true), 0);      /* 0: no cap, ever */
	for (int i = 0; i < 3; i++)
		CHECK_INT(trunk_bucket_check(&b, 3, t, true), 0); /* a burst of 3 */
	CHECK_INT(trunk_bucket_check(&b, 3, t, true), 334);      /* a third of a second */
	CHECK_INT(trunk_bucket_check(&b, 3, t, false), 334);     /* nothing taken either way */
	CHECK_INT(trunk_bucket_check(&b, 3, t + 333, true), 1);  /* 999 thousandths */
	CHECK_INT(trunk_bucket_check(&b, 3, t + 334, false), 0); /* there: a peek keeps it */
	CHECK_INT(trunk_bucket_check(&b, 3, t + 334, true), 0);
	CHECK_INT(trunk_bucket_check(&b, 3, t + 334, true), 333);
	/* a clock that went back refills nothing */
	CHECK(trunk_bucket_check(&b, 3, t, true) > 0);
	/* a long pause fills it, never beyond one second's worth */
	for (int i = 0; i < 3; i++)
		CHECK_INT(trunk_bucket_check(&b, 3, t + 100000, true), 0);
	CHECK(trunk_bucket_check(&b, 3, t + 100000, true) > 0);
	/* a new rate (a reload) starts full at that rate */
	for (int i = 0; i < 10; i++)
		CHECK_INT(trunk_bucket_check(&b, 10, t + 100000, true), 0);
	CHECK_INT(trunk_bucket_check(&b, 10, t + 100000, true), 100);
	/* steady state: at rate 10, tries every 50 ms pass every other time */
	{
		int passed = 0;
		for (int i = 1; i <= 40; i++)
			passed += trunk_bucket_check(&b, 10, t + 100000 + 50u * (uint64_t)i, true) == 0;
		CHECK_INT(passed, 20);
	}
	/* a high rate and large times do not overflow */
	memset(&b, 0, sizeof(b));
	CHECK_INT(trunk_bucket_check(&b, 10000, UINT64_MAX / 2, true), 0);
	CHECK_INT(trunk_bucket_check(&b, 10000, UINT64_MAX - 1, true), 0);
}

/* The hour and day rings as text for the store: what comes back is what
 * went, brought to the reader's now; anything else is refused. Other
 * nodes' counts (the _ext fields) count against the limits. */
static void test_usage_text(void)
{
	struct trunk_usage u, r;
	struct trunk_limits lim = { 5, 2, 0 };
	struct trunk_verdict v;
	char text[TRUNK_USAGE_TEXT_MAX], t2[TRUNK_USAGE_TEXT_MAX + 8];
	const char *days;
	int64_t t0 = 1700000000;
	static const char *const bad[] = { "", "2;1;", "1;x", "1;5666666;1,2,3", "junk" };

	trunk_usage_init(&u);
	for (int i = 0; i < 4; i++)
		trunk_usage_placed(&u, (uint64_t)i, t0 + 400 * i, 600);
	trunk_usage_ended(&u, false, 90, t0 + 1700, 600, 10);
	trunk_usage_ended(&u, true, 30, t0 + 1700, 600, 10);
	CHECK_INT(trunk_usage_encode(text, sizeof(text), &u), 0);
	CHECK(strncmp(text, "1;", 2) == 0);
	CHECK_INT(trunk_usage_decode(&r, slice_cstr(text), t0 + 1800), 0);
	CHECK_INT(r.calls_sum, 4);
	CHECK(r.secs_sum[0] == 90 && r.secs_sum[1] == 30);
	CHECK(memcmp(r.calls, u.calls, sizeof(u.calls)) == 0);
	CHECK(memcmp(r.secs, u.secs, sizeof(u.secs)) == 0);
	/* restored, the limits see the same totals: the 5th call passes, the 6th not */
	trunk_limits_check(&v, &r, &lim, false, t0 + 1800, false);
	CHECK(v.allow);
	trunk_usage_placed(&r, 9, t0 + 1800, 600);
	trunk_limits_check(&v, &r, &lim, false, t0 + 1800, false);
	CHECK(!v.allow && strstr(v.detail, "calls_per_hour"));
	/* read an hour later: the early calls aged out while stored */
	CHECK_INT(trunk_usage_decode(&r, slice_cstr(text), t0 + 3600 + 700), 0);
	CHECK(r.calls_sum < 4);
	CHECK_INT(r.secs_sum[0], 90);
	CHECK_INT(trunk_usage_decode(&r, slice_cstr(text), t0 + 3 * 86400), 0);
	CHECK(r.calls_sum == 0 && r.secs_sum[0] == 0 && r.secs_sum[1] == 0);
	/* other nodes' counts */
	trunk_usage_init(&r);
	r.calls_ext = 5;
	trunk_limits_check(&v, &r, &lim, false, t0, true);
	CHECK(!v.allow);
	r.calls_ext = 0;
	r.secs_ext[0] = 120;
	trunk_limits_check(&v, &r, &lim, false, t0, false);
	CHECK(!v.allow && strstr(v.detail, "minutes_per_day"));
	trunk_limits_check(&v, &r, &lim, true, t0, false);
	CHECK(v.allow);
	/* refused: junk, an extra or a missing field, out of range, from the future */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(trunk_usage_decode(&r, slice_cstr(bad[i]), t0), EBADMSG);
	snprintf(t2, sizeof(t2), "%s,1", text);
	CHECK_INT(trunk_usage_decode(&r, slice_cstr(t2), t0 + 1800), EBADMSG);
	snprintf(t2, sizeof(t2), "%.*s", (int)(strrchr(text, ',') - text + 1), text);
	CHECK_INT(trunk_usage_decode(&r, slice_cstr(t2), t0 + 1800), EBADMSG);
	days = strchr(strchr(strchr(text, ';') + 1, ';') + 1, ';') + 1; /* the day slot on */
	snprintf(t2, sizeof(t2), "1;%lld;70000,0,0,0,0,0,0,0,0,0,0,0;%s", (long long)(t0 / 300), days);
	CHECK_INT(trunk_usage_decode(&r, slice_cstr(t2), t0), EBADMSG);
	snprintf(t2, sizeof(t2), "1;%lld;0,0,0,0,0,0,0,0,0,0,0,0;%s", (long long)(t0 / 300), days);
	CHECK_INT(trunk_usage_decode(&r, slice_cstr(t2), t0 + 1800), 0);
	snprintf(t2, sizeof(t2), "1;%lld;0,0,0,0,0,0,0,0,0,0,0,0;%s", (long long)(t0 / 300 + 5), days);
	CHECK_INT(trunk_usage_decode(&r, slice_cstr(t2), t0), EBADMSG);
	CHECK_INT(r.calls_sum, 0);
	CHECK_INT(trunk_usage_encode(t2, 20, &u), EOVERFLOW);
}

/* The number as dialed, for a record: printable as is, others '?', cut. */
static void test_dialed(void)
{
	char d[8];

	trunk_dialed(d, sizeof(d), slice_cstr("+1212"));
	CHECK(strcmp(d, "+1212") == 0);
	trunk_dialed(d, sizeof(d), slice_make("9 1\x01\x7f\xc3", 6));
	CHECK(strcmp(d, "9?1???") == 0);
	CHECK(strlen(d) == 6);
	trunk_dialed(d, sizeof(d), slice_cstr("123456789"));
	CHECK(strcmp(d, "1234567") == 0);
	trunk_dialed(d, sizeof(d), SLICE_NULL);
	CHECK(d[0] == '\0');
}

static const struct check_case cases[] = {
	CASE(test_dialed),
	CASE(test_normalise_nanp),
	CASE(test_normalise_outside_prefix),
	CASE(test_normalise_generic),
	CASE(test_normalise_uris),
	CASE(test_classes_nanp),
	CASE(test_cos),
	CASE(test_levels),
	CASE(test_dialplan),
	CASE(test_peer_sources),
	CASE(test_dids),
	CASE(test_caps),
	CASE(test_conf_errors),
	CASE(test_limits_of_tables),
	CASE(test_fraud_limits),
	CASE(test_fraud_burst),
	CASE(test_secrets),
	CASE(test_rate_bucket),
	CASE(test_usage_text),
};

int main(int argc, char **argv)
{
	return check_main("trunk", cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
