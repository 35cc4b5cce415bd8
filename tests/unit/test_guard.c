/*
 * Unit tests of guard/: budgets and refill, the NAT re-registration storm,
 * bans (escalation, cap, expiry), the allow-list, IPv6 grouping, the bounded
 * LRU table, brute-force counting and scanner fingerprints. The clock is a
 * plain variable handed to every call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "guard/guard.h"
#include "net/net.h"

static struct net_addr addr(const char *s)
{
	struct net_addr a;

	memset(&a, 0, sizeof(a));
	if (strchr(s, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(5060);
		if (inet_pton(AF_INET6, s, &s6->sin6_addr) != 1)
			abort();
		a.len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(5060);
		if (inet_pton(AF_INET, s, &s4->sin_addr) != 1)
			abort();
		a.len = sizeof(*s4);
	}
	return a;
}

/* 10.x.y.z for n, distinct for n < 2^24. */
static struct net_addr addr_n(uint32_t n)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "10.%u.%u.%u", (n >> 16) & 255, (n >> 8) & 255, n & 255);
	return addr(buf);
}

static unsigned count_pass(struct guard *g, const struct net_addr *a, enum guard_req r,
			   uint64_t now, unsigned tries)
{
	unsigned n = 0;

	for (unsigned i = 0; i < tries; i++)
		n += guard_admit(g, a, r, now, NULL) == GUARD_PASS;
	return n;
}

static struct guard *make(const struct guard_conf *c)
{
	struct guard *g = NULL;
	char err[128];

	if (guard_new(&g, c, err, sizeof(err)) != 0) {
		fprintf(stderr, "guard_new: %s\n", err);
		return NULL;
	}
	return g;
}

static void test_rate_refill(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g;
	struct net_addr a = addr("192.0.2.1");
	struct guard_stats st;

	c.ban_drops = 1000;
	g = make(&c);
	CHECK(g);
	/* burst = 2 x 20/s */
	CHECK_INT(count_pass(g, &a, GUARD_REQ_OTHER, 1000, 50), 40);
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, 1000, NULL), GUARD_DROP_RATE);
	/* 100 ms at 20/s: two tokens */
	CHECK_INT(count_pass(g, &a, GUARD_REQ_OTHER, 1100, 10), 2);
	/* 49 ms: not quite one more */
	CHECK_INT(count_pass(g, &a, GUARD_REQ_OTHER, 1149, 10), 0);
	CHECK_INT(count_pass(g, &a, GUARD_REQ_OTHER, 1150, 10), 1);
	/* A long pause refills to the burst, no further. */
	CHECK_INT(count_pass(g, &a, GUARD_REQ_OTHER, 600000, 100), 40);
	guard_stats(g, 600000, &st);
	CHECK_INT(st.passed, 83);
	CHECK_INT(st.drop_rate, 10 + 1 + 8 + 10 + 9 + 60);
	CHECK_INT(st.bans, 0);
	CHECK_INT(st.sources, 1);
	guard_free(&g);
	CHECK(g == NULL);
}

static void test_buckets_independent(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g;
	struct net_addr a = addr("192.0.2.1");

	c.ban_drops = 1000;
	g = make(&c);
	CHECK(g);
	/* INVITE burst 10; its exhaustion leaves REGISTER (burst 20) alone. */
	CHECK_INT(count_pass(g, &a, GUARD_REQ_INVITE, 0, 15), 10);
	CHECK_INT(count_pass(g, &a, GUARD_REQ_REGISTER, 0, 25), 20);
	CHECK_INT(count_pass(g, &a, GUARD_REQ_INVITE, 0, 5), 0);
	/* Both counted against the overall 40: ten left for other requests. */
	CHECK_INT(count_pass(g, &a, GUARD_REQ_OTHER, 0, 15), 10);
	/* The overall bucket now stops REGISTER too, even once REGISTER refills. */
	guard_free(&g);
	c.rate_register = 100;
	g = make(&c);
	CHECK(g);
	CHECK_INT(count_pass(g, &a, GUARD_REQ_OTHER, 0, 40), 40);
	CHECK_INT(count_pass(g, &a, GUARD_REQ_REGISTER, 0, 5), 0);
	guard_free(&g);
}

static void test_nat_storm(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g = make(&c);
	struct net_addr nat = addr("198.51.100.1"), other = addr("198.51.100.2");
	struct guard_stats st;
	unsigned invite_pass = 0, invites = 0, phone = 0;
	bool nb, banned_seen = false;
	char user[32];
	uint64_t t;

	CHECK(g);
	/* 500 phones, each a challenged REGISTER then an authenticated one, in 3 s. */
	for (unsigned i = 0; i < 500; i++) {
		t = (uint64_t)i * 6;
		snprintf(user, sizeof(user), "phone%u", i);
		CHECK_INT(guard_admit(g, &nat, GUARD_REQ_REGISTER, t, &nb), GUARD_PASS);
		CHECK(!nb);
		CHECK_INT(guard_admit(g, &nat, GUARD_REQ_REGISTER, t + 3, &nb), GUARD_PASS);
		CHECK(!nb);
		guard_auth_ok(g, &nat, slice_cstr(user), GUARD_REQ_REGISTER, t + 3);
	}
	guard_stats(g, 3000, &st);
	CHECK_INT(st.passed, 1000);
	CHECK_INT(st.bans, 0);
	/* An unauthenticated INVITE flood at 10 x 5/s for 5 s from the same address,
	 * while the phones keep re-registering, one every 100 ms. */
	for (t = 3000; t < 8000; t += 20) {
		invites++;
		switch (guard_admit(g, &nat, GUARD_REQ_INVITE, t, &nb)) {
		case GUARD_PASS: invite_pass++; break;
		case GUARD_DROP_RATE: break;
		case GUARD_DROP_BANNED: banned_seen = true; break;
		}
		CHECK(!nb);
		if (t % 100 == 0) {
			snprintf(user, sizeof(user), "phone%u", phone++ % 500);
			CHECK_INT(guard_admit(g, &nat, GUARD_REQ_REGISTER, t, NULL), GUARD_PASS);
			CHECK_INT(guard_admit(g, &nat, GUARD_REQ_REGISTER, t + 1, NULL), GUARD_PASS);
			guard_auth_ok(g, &nat, slice_cstr(user), GUARD_REQ_REGISTER, t + 1);
		}
	}
	CHECK(!banned_seen);
	CHECK_INT(invites, 250);
	/* burst 10 + 5 s x 5/s */
	CHECK(invite_pass >= 30 && invite_pass <= 36);
	guard_stats(g, 8000, &st);
	CHECK_INT(st.bans, 0);
	CHECK_INT(st.bans_active, 0);

	/* The same flood from an address nobody authenticated from: banned once. */
	unsigned new_bans = 0;
	uint64_t first_banned = 0;
	for (t = 3000; t < 8000; t += 20) {
		enum guard_verdict v = guard_admit(g, &other, GUARD_REQ_INVITE, t, &nb);

		new_bans += nb;
		if (v == GUARD_DROP_BANNED && !first_banned)
			first_banned = t;
	}
	CHECK_INT(new_bans, 1);
	/* 50 drops, lasting the 2 s grace */
	CHECK(first_banned >= 5000 && first_banned < 6000);
	guard_stats(g, 8000, &st);
	CHECK_INT(st.bans, 1);
	CHECK_INT(st.bans_active, 1);
	/* The NAT address still passes. */
	CHECK_INT(guard_admit(g, &nat, GUARD_REQ_REGISTER, 8000, NULL), GUARD_PASS);
	guard_free(&g);
}

/*
 * 500 phones behind one address all start at once (power back after a cut):
 * every one sends its unauthenticated REGISTER at t = 0, and retransmits
 * what was dropped on RFC 3261 Timer E (500 ms doubling to 4 s). Most of the
 * first wave is dropped, but the grace keeps the address from being banned
 * until the first authenticated REGISTERs earn it trust; then every phone
 * gets through.
 */
static void test_nat_power_cut(void)
{
	enum { PHONES = 500 };
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g = make(&c);
	struct net_addr nat = addr("198.51.100.1");
	static uint8_t state[PHONES];      /* 0 fresh, 1 challenged, 2 registered */
	static uint64_t next[PHONES], backoff[PHONES];
	unsigned done = 0, dropped = 0;
	struct guard_stats st;
	char user[32];
	bool nb;

	CHECK(g);
	for (unsigned i = 0; i < PHONES; i++) {
		state[i] = 0;
		next[i] = 0;
		backoff[i] = 500;
	}
	for (uint64_t t = 0; t <= 64000 && done < PHONES; t += 10) {
		for (unsigned i = 0; i < PHONES; i++) {
			enum guard_verdict v;

			if (state[i] == 2 || next[i] > t)
				continue;
			v = guard_admit(g, &nat, GUARD_REQ_REGISTER, t, &nb);
			CHECK(!nb);
			CHECK(v != GUARD_DROP_BANNED);
			if (v == GUARD_DROP_RATE) {
				dropped++;
				next[i] = t + backoff[i];
				backoff[i] = backoff[i] * 2 > 4000 ? 4000 : backoff[i] * 2;
				continue;
			}
			backoff[i] = 500;
			if (state[i] == 0) {
				state[i] = 1;
				next[i] = t + 20; /* the 401 and the retry */
			} else {
				snprintf(user, sizeof(user), "phone%u", i);
				guard_auth_ok(g, &nat, slice_cstr(user), GUARD_REQ_REGISTER, t);
				state[i] = 2;
				done++;
			}
		}
	}
	CHECK_INT(done, PHONES);
	CHECK(dropped > 400);
	guard_stats(g, 64000, &st);
	CHECK_INT(st.bans, 0);
	guard_free(&g);
}

struct ban_seen {
	unsigned n;
	struct guard_ban_info last;
};

static void on_ban(void *arg, const struct guard_ban_info *b)
{
	struct ban_seen *s = arg;

	s->n++;
	s->last = *b;
}

static void test_ban_escalation(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g;
	struct net_addr a = addr("203.0.113.9");
	struct ban_seen seen = { 0 };
	uint64_t t = 1000;

	c.ban_time = 60;
	c.ban_max = 200;
	g = make(&c);
	CHECK(g);
	CHECK(guard_ban(g, &a, t, 0));
	CHECK(!guard_ban(g, &a, t + 1, 0)); /* already banned: no new ban, no longer */
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, t + 59999, NULL), GUARD_DROP_BANNED);
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, t + 60000, NULL), GUARD_PASS);
	/* Second ban: 120 s. */
	t = 100000;
	CHECK(guard_ban(g, &a, t, 0));
	guard_list_bans(g, t, on_ban, &seen);
	CHECK_INT(seen.n, 1);
	CHECK(strcmp(seen.last.addr, "203.0.113.9") == 0);
	CHECK_INT(seen.last.until_ms, t + 120000);
	CHECK_INT(seen.last.count, 2);
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, t + 119999, NULL), GUARD_DROP_BANNED);
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, t + 120000, NULL), GUARD_PASS);
	/* Third: 240 capped at 200; fourth stays at the cap. */
	for (int i = 0; i < 2; i++) {
		t += 1000000;
		CHECK(guard_ban(g, &a, t, 0));
		seen.n = 0;
		guard_list_bans(g, t, on_ban, &seen);
		CHECK_INT(seen.n, 1);
		CHECK_INT(seen.last.until_ms, t + 200000);
	}
	/* Expired bans are not listed. */
	seen.n = 0;
	guard_list_bans(g, t + 200000, on_ban, &seen);
	CHECK_INT(seen.n, 0);
	/* An explicit duration, and unban. */
	t += 1000000;
	CHECK(guard_ban(g, &a, t, 5));
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, t + 4999, NULL), GUARD_DROP_BANNED);
	CHECK(guard_unban(g, &a, t + 1));
	CHECK(!guard_unban(g, &a, t + 1));
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, t + 2, NULL), GUARD_PASS);
	/* Unban forgot the count: the next ban is the first again. */
	CHECK(guard_ban(g, &a, t + 3, 0));
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, t + 3 + 60000, NULL), GUARD_PASS);
	guard_free(&g);
}

static void test_rate_ban_expiry(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g;
	struct net_addr a = addr("203.0.113.10"), b = addr("203.0.113.11");
	bool nb;
	uint64_t t = 0, banned_at = 0;

	/* With the default 2 s grace, 50 drops in an instant do not ban; drops
	 * that go on for 2 s do. */
	g = make(&c);
	CHECK(g);
	CHECK_INT(count_pass(g, &b, GUARD_REQ_OTHER, 0, 100), 40);
	CHECK_INT(count_pass(g, &b, GUARD_REQ_OTHER, 1000, 21), 20);
	for (int i = 0; i < 100; i++) {
		guard_admit(g, &b, GUARD_REQ_OTHER, 1999, &nb);
		CHECK(!nb);
	}
	CHECK_INT(guard_admit(g, &b, GUARD_REQ_OTHER, 1999, NULL), GUARD_DROP_RATE);
	CHECK_INT(count_pass(g, &b, GUARD_REQ_OTHER, 2000, 1), 1); /* 0.98 + 0.02 */
	CHECK_INT(guard_admit(g, &b, GUARD_REQ_OTHER, 2000, &nb), GUARD_DROP_RATE);
	CHECK(nb);
	CHECK_INT(guard_admit(g, &b, GUARD_REQ_OTHER, 2000, &nb), GUARD_DROP_BANNED);
	guard_free(&g);

	/* Refilled to full in between: the count starts again. */
	g = make(&c);
	CHECK(g);
	CHECK_INT(count_pass(g, &b, GUARD_REQ_OTHER, 0, 100), 40);
	CHECK_INT(count_pass(g, &b, GUARD_REQ_OTHER, 2000, 100), 40);
	CHECK_INT(guard_admit(g, &b, GUARD_REQ_OTHER, 2000, &nb), GUARD_DROP_RATE);
	CHECK(!nb);
	guard_free(&g);

	c.ban_grace = 0;
	g = make(&c);
	CHECK(g);
	/* 40 pass, then 50 drops ban. */
	for (int i = 0; i < 90; i++) {
		enum guard_verdict v = guard_admit(g, &a, GUARD_REQ_OTHER, t, &nb);

		CHECK_INT(v, i < 40 ? GUARD_PASS : GUARD_DROP_RATE);
		CHECK(nb == (i == 89));
	}
	banned_at = t;
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, banned_at + 59999, &nb), GUARD_DROP_BANNED);
	CHECK(!nb);
	/* Over: budget refilled while banned. */
	CHECK_INT(count_pass(g, &a, GUARD_REQ_OTHER, banned_at + 60000, 40), 40);
	/* A repeat doubles: 120 s. */
	t = banned_at + 60000;
	for (int i = 0; i < 50; i++)
		guard_admit(g, &a, GUARD_REQ_OTHER, t, NULL);
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, t + 119999, NULL), GUARD_DROP_BANNED);
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, t + 120000, NULL), GUARD_PASS);
	guard_free(&g);
}

static void test_allow_list(void)
{
	static const char *const allow[] = { "192.0.2.0/24", "2001:db8:1::/48" };
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g;
	struct net_addr in4 = addr("192.0.2.77"), in6 = addr("2001:db8:1:ff::5");
	struct net_addr out4 = addr("192.0.3.1"), peer = addr("203.0.113.5");
	struct guard_stats st;

	c.allow = allow;
	c.allow_n = ARRAY_SIZE(allow);
	g = make(&c);
	CHECK(g);
	CHECK_INT(count_pass(g, &in4, GUARD_REQ_INVITE, 0, 1000), 1000);
	CHECK_INT(count_pass(g, &in6, GUARD_REQ_REGISTER, 0, 1000), 1000);
	CHECK(!guard_ban(g, &in4, 0, 0));
	for (int i = 0; i < 100; i++)
		CHECK(!(guard_auth_failure(g, &in4, SLICE_LIT("x"), 0) & GUARD_EV_BAN));
	CHECK_INT(guard_admit(g, &in4, GUARD_REQ_OTHER, 0, NULL), GUARD_PASS);
	/* Outside the prefix: limited. */
	CHECK_INT(count_pass(g, &out4, GUARD_REQ_INVITE, 0, 40), 10);
	/* A peer added later. */
	CHECK_INT(count_pass(g, &peer, GUARD_REQ_INVITE, 0, 40), 10);
	CHECK_INT(guard_allow_add(g, "203.0.113.5"), 0);
	CHECK_INT(count_pass(g, &peer, GUARD_REQ_INVITE, 0, 100), 100);
	CHECK_INT(guard_allow_add(g, "203.0.113.0/33"), EINVAL);
	CHECK_INT(guard_allow_add(g, "::1/129"), EINVAL);
	CHECK_INT(guard_allow_add(g, "junk"), EINVAL);
	CHECK_INT(guard_allow_add(g, "10.0.0.0/8x"), EINVAL);
	guard_stats(g, 0, &st);
	CHECK_INT(st.bans, 0);
	CHECK_INT(st.passed_allowed, 2101);
	guard_free(&g);
}

static void test_ipv6_grouping(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g;
	struct net_addr a = addr("2001:db8:1:2::1"), b = addr("2001:db8:1:2:ffff::9");
	struct net_addr d = addr("2001:db8:1:3::1");
	struct net_addr v4 = addr("192.0.2.1"), mapped = addr("::ffff:192.0.2.1");
	struct net_addr v4b = addr("192.0.2.2");
	struct ban_seen seen = { 0 };

	g = make(&c);
	CHECK(g);
	CHECK_INT(count_pass(g, &a, GUARD_REQ_INVITE, 0, 10), 10);
	CHECK_INT(count_pass(g, &b, GUARD_REQ_INVITE, 0, 10), 0); /* same /64 */
	CHECK_INT(count_pass(g, &d, GUARD_REQ_INVITE, 0, 10), 10); /* next /64 */
	/* IPv4 by whole address; IPv4-mapped IPv6 is the same source. */
	CHECK_INT(count_pass(g, &v4, GUARD_REQ_INVITE, 0, 10), 10);
	CHECK_INT(count_pass(g, &mapped, GUARD_REQ_INVITE, 0, 10), 0);
	CHECK_INT(count_pass(g, &v4b, GUARD_REQ_INVITE, 0, 10), 10);
	CHECK(guard_ban(g, &b, 0, 0));
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, 1, NULL), GUARD_DROP_BANNED);
	guard_list_bans(g, 1, on_ban, &seen);
	CHECK_INT(seen.n, 1);
	CHECK(strcmp(seen.last.addr, "2001:db8:1:2::/64") == 0);
	guard_free(&g);

	/* A /48 grouping joins the two /64s; /61 (not a byte boundary) too. */
	c.v6_prefix = 48;
	g = make(&c);
	CHECK(g);
	CHECK_INT(count_pass(g, &a, GUARD_REQ_INVITE, 0, 10), 10);
	CHECK_INT(count_pass(g, &d, GUARD_REQ_INVITE, 0, 10), 0);
	guard_free(&g);
	c.v6_prefix = 61; /* ...:0002 and ...:0003 share the top 13 bits of group 4 */
	g = make(&c);
	CHECK(g);
	CHECK_INT(count_pass(g, &a, GUARD_REQ_INVITE, 0, 10), 10);
	CHECK_INT(count_pass(g, &d, GUARD_REQ_INVITE, 0, 10), 0);
	struct net_addr e = addr("2001:db8:1:8::1");
	CHECK_INT(count_pass(g, &e, GUARD_REQ_INVITE, 0, 10), 10);
	guard_free(&g);
}

static void test_lru_eviction(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g;
	struct net_addr A = addr("192.0.2.1"), B = addr("192.0.2.2"), C = addr("192.0.2.3");
	struct net_addr D = addr("192.0.2.4"), E = addr("192.0.2.5"), F = addr("192.0.2.6");
	struct guard_stats st;

	c.table_size = 4;
	c.rate_all = 1;
	c.ban_drops = 1000;
	g = make(&c);
	CHECK(g);
	/* A banned and oldest, then B C D exhausted: the table is full. */
	CHECK(guard_ban(g, &A, 0, 0));
	CHECK_INT(count_pass(g, &B, GUARD_REQ_OTHER, 0, 3), 2);
	CHECK_INT(count_pass(g, &C, GUARD_REQ_OTHER, 0, 3), 2);
	CHECK_INT(count_pass(g, &D, GUARD_REQ_OTHER, 0, 3), 2);
	guard_stats(g, 0, &st);
	CHECK_INT(st.sources, 4);
	CHECK_INT(st.evictions, 0);
	/* E evicts B (the oldest not banned), not A. */
	CHECK_INT(guard_admit(g, &E, GUARD_REQ_OTHER, 0, NULL), GUARD_PASS);
	guard_stats(g, 0, &st);
	CHECK_INT(st.sources, 4);
	CHECK_INT(st.evictions, 1);
	CHECK_INT(st.evictions_banned, 0);
	CHECK_INT(guard_admit(g, &C, GUARD_REQ_OTHER, 0, NULL), GUARD_DROP_RATE); /* kept */
	CHECK_INT(guard_admit(g, &A, GUARD_REQ_OTHER, 0, NULL), GUARD_DROP_BANNED);
	/* B comes back fresh (evicting D, now the oldest unbanned). */
	CHECK_INT(count_pass(g, &B, GUARD_REQ_OTHER, 0, 3), 2);
	CHECK_INT(guard_admit(g, &A, GUARD_REQ_OTHER, 0, NULL), GUARD_DROP_BANNED);
	CHECK_INT(count_pass(g, &D, GUARD_REQ_OTHER, 0, 3), 2); /* D was evicted */
	guard_free(&g);

	/* All banned: the bounded search gives up and the oldest ban escapes
	 * (counted). */
	g = make(&c);
	CHECK(g);
	CHECK(guard_ban(g, &A, 0, 0));
	CHECK(guard_ban(g, &B, 0, 0));
	CHECK(guard_ban(g, &C, 0, 0));
	CHECK(guard_ban(g, &D, 0, 0));
	CHECK_INT(guard_admit(g, &F, GUARD_REQ_OTHER, 0, NULL), GUARD_PASS);
	guard_stats(g, 0, &st);
	CHECK_INT(st.sources, 4);
	CHECK_INT(st.evictions, 1);
	CHECK_INT(st.evictions_banned, 1);
	CHECK_INT(st.bans_active, 3);
	guard_free(&g);

	/* A bigger table filled five times over stays at its size. */
	c.table_size = 1000;
	g = make(&c);
	CHECK(g);
	for (uint32_t i = 0; i < 5000; i++) {
		struct net_addr x = addr_n(i);

		CHECK_INT(guard_admit(g, &x, GUARD_REQ_OTHER, i, NULL), GUARD_PASS);
	}
	guard_stats(g, 5000, &st);
	CHECK_INT(st.sources, 1000);
	CHECK_INT(st.evictions, 4000);
	/* The most recent 1000 are remembered: their second request spends the
	 * second token, a third is dropped. */
	for (uint32_t i = 4000; i < 5000; i++) {
		struct net_addr x = addr_n(i);

		CHECK_INT(guard_admit(g, &x, GUARD_REQ_OTHER, i, NULL), GUARD_PASS);
		CHECK_INT(guard_admit(g, &x, GUARD_REQ_OTHER, i, NULL), GUARD_DROP_RATE);
	}
	guard_stats(g, 5000, &st);
	CHECK_INT(st.evictions, 4000);
	guard_free(&g);
}

static void test_bruteforce_source(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g = make(&c);
	struct net_addr a = addr("203.0.113.20");
	char user[16];
	unsigned ev;

	CHECK(g);
	for (int i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		CHECK_INT(guard_auth_failure(g, &a, slice_cstr(user), (uint64_t)i * 1000), 0);
	}
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_REGISTER, 10000, NULL), GUARD_PASS);
	ev = guard_auth_failure(g, &a, SLICE_LIT("u10"), 11000);
	CHECK_INT(ev, GUARD_EV_BAN);
	CHECK_INT(guard_admit(g, &a, GUARD_REQ_REGISTER, 11001, NULL), GUARD_DROP_BANNED);
	/* Further failures while banned start no new ban. */
	CHECK_INT(guard_auth_failure(g, &a, SLICE_LIT("u11"), 11002), 0);
	guard_free(&g);
}

static void test_bruteforce_user(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g = make(&c);
	struct net_addr phone = addr("198.51.100.50"), phone_port = addr("198.51.100.50");
	struct net_addr bad;
	struct guard_stats st;
	unsigned ev;

	CHECK(g);
	((struct sockaddr_in *)&phone_port.ss)->sin_port = htons(40000);
	guard_auth_ok(g, &phone, SLICE_LIT("alice"), GUARD_REQ_REGISTER, 0);
	/* Ten wrong answers from ten addresses: no lock, no ban. */
	for (uint32_t i = 0; i < 10; i++) {
		bad = addr_n(i);
		CHECK_INT(guard_auth_failure(g, &bad, SLICE_LIT("alice"), 1000 + i), 0);
	}
	bad = addr_n(10);
	CHECK(!guard_user_locked(g, SLICE_LIT("alice"), &bad, 2000));
	ev = guard_auth_failure(g, &bad, SLICE_LIT("alice"), 2000);
	CHECK_INT(ev, GUARD_EV_LOCK);
	/* Locked for everybody but the address alice last authenticated from
	 * (any port). */
	CHECK(guard_user_locked(g, SLICE_LIT("alice"), &bad, 2001));
	bad = addr_n(99);
	CHECK(guard_user_locked(g, SLICE_LIT("alice"), &bad, 2001));
	CHECK(!guard_user_locked(g, SLICE_LIT("alice"), &phone, 2001));
	CHECK(!guard_user_locked(g, SLICE_LIT("alice"), &phone_port, 2001));
	CHECK(!guard_user_locked(g, SLICE_LIT("bob"), &bad, 2001));
	/* One more failure does not report a second lock. */
	CHECK_INT(guard_auth_failure(g, &bad, SLICE_LIT("alice"), 2002), 0);
	guard_stats(g, 2002, &st);
	CHECK_INT(st.locks, 1);
	CHECK_INT(st.locks_active, 1);
	/* Lock over after lock_time. */
	CHECK(guard_user_locked(g, SLICE_LIT("alice"), &bad, 2000 + 599999));
	CHECK(!guard_user_locked(g, SLICE_LIT("alice"), &bad, 2000 + 600000));
	/* Without a good address on record the lock holds everywhere. */
	for (uint32_t i = 0; i < 11; i++) {
		bad = addr_n(100 + i);
		guard_auth_failure(g, &bad, SLICE_LIT("carol"), 5000);
	}
	CHECK(guard_user_locked(g, SLICE_LIT("carol"), &phone, 5001));
	/* Over-long names are not tracked per user. */
	char longname[GUARD_USER_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (uint32_t i = 0; i < 20; i++) {
		bad = addr_n(200 + i);
		CHECK(!(guard_auth_failure(g, &bad, slice_cstr(longname), 5000) & GUARD_EV_LOCK));
	}
	guard_free(&g);
}

static void test_user_table_spray(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g;
	struct net_addr phone = addr("198.51.100.50"), x;
	struct guard_stats st;
	char user[16];

	c.user_table_size = 4;
	g = make(&c);
	CHECK(g);
	guard_auth_ok(g, &phone, SLICE_LIT("alice"), GUARD_REQ_REGISTER, 0);
	/* Made-up names fill the table over and over... */
	for (uint32_t i = 0; i < 40; i++) {
		snprintf(user, sizeof(user), "spray%u", i);
		x = addr_n(i);
		guard_auth_failure(g, &x, slice_cstr(user), 10);
	}
	guard_stats(g, 10, &st);
	CHECK_INT(st.users, 4);
	CHECK(st.user_evictions >= 36);
	/* ...yet alice's good address survives: locked elsewhere, not at home. */
	for (uint32_t i = 0; i < 11; i++) {
		x = addr_n(100 + i);
		guard_auth_failure(g, &x, SLICE_LIT("alice"), 20);
	}
	CHECK(guard_user_locked(g, SLICE_LIT("alice"), &x, 21));
	CHECK(!guard_user_locked(g, SLICE_LIT("alice"), &phone, 21));
	guard_free(&g);
}

static void test_window_reset(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g = make(&c);
	struct net_addr a = addr("203.0.113.30"), b = addr("203.0.113.31");
	struct net_addr x;
	char user[16];

	CHECK(g);
	/* Ten per window, windows apart: never banned. */
	for (int w = 0; w < 5; w++)
		for (int i = 0; i < 10; i++) {
			snprintf(user, sizeof(user), "w%di%d", w, i);
			CHECK_INT(guard_auth_failure(g, &a, slice_cstr(user),
						     (uint64_t)w * 300000 + (uint64_t)i),
				  0);
		}
	/* The eleventh just inside the window bans. */
	for (int i = 0; i < 10; i++) {
		snprintf(user, sizeof(user), "b%d", i);
		CHECK_INT(guard_auth_failure(g, &b, slice_cstr(user), 0), 0);
	}
	CHECK_INT(guard_auth_failure(g, &b, SLICE_LIT("b10"), 299999), GUARD_EV_BAN);
	/* The same per user. */
	for (int w = 0; w < 3; w++)
		for (uint32_t i = 0; i < 10; i++) {
			x = addr_n((uint32_t)w * 100 + i);
			CHECK_INT(guard_auth_failure(g, &x, SLICE_LIT("dave"),
						     (uint64_t)w * 300000 + i),
				  0);
		}
	x = addr_n(1000);
	CHECK_INT(guard_auth_failure(g, &x, SLICE_LIT("dave"), 2 * 300000 + 299999), GUARD_EV_LOCK);
	guard_free(&g);
}

static void test_scanner(void)
{
	static const char *const mine[] = { "evil" };
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g = make(&c);
	struct guard_stats st;

	CHECK(g);
	CHECK(guard_scanner(g, SLICE_LIT("friendly-scanner"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_LIT("FRIENDLY-SCANNER"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_LIT("SIPVicious 0.3.4"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_LIT("sipcli/v1.8"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_LIT("vaxsipuseragent/3.1"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_LIT("pplsip"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_NULL, SLICE_LIT("\"sipvicious\"<sip:100@1.1.1.1>")));
	CHECK(guard_scanner(g, SLICE_LIT("x"), SLICE_LIT("<sip:sundayddr@example.com>")));
	/* Only the slice is read: the match must not run past its end. */
	CHECK(!guard_scanner(g, slice_make("friendly-scanner", 15), SLICE_NULL));
	CHECK(!guard_scanner(g, SLICE_LIT("sipsak 0.9.8"), SLICE_LIT("<sip:sipsak@x>")));
	CHECK(!guard_scanner(g, SLICE_LIT("Linphone/5.0"), SLICE_LIT("<sip:alice@example.com>")));
	CHECK(!guard_scanner(g, SLICE_NULL, SLICE_NULL));
	guard_stats(g, 0, &st);
	CHECK_INT(st.scanners, 8);
	guard_free(&g);

	c.scanners = mine;
	c.scanners_n = 1;
	g = make(&c);
	CHECK(g);
	CHECK(guard_scanner(g, SLICE_LIT("EvilBot"), SLICE_NULL));
	CHECK(!guard_scanner(g, SLICE_LIT("friendly-scanner"), SLICE_NULL));
	guard_free(&g);
}

/* The three-byte filter in front of the comparison: names shorter than
 * three bytes, a name at the very end of the value, names sharing their
 * first bytes, and all GUARD_SCANNER_MAX names (one bit each). */
static void test_scanner_filter(void)
{
	static const char *const short_ones[] = { "7", "kw", "abcdef", "abd" };
	static char names[GUARD_SCANNER_MAX][8];
	const char *many[GUARD_SCANNER_MAX];
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g;

	c.scanners = short_ones;
	c.scanners_n = ARRAY_SIZE(short_ones);
	g = make(&c);
	CHECK(g);
	CHECK(guard_scanner(g, SLICE_LIT("7"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_LIT("ua..7"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_LIT("zzKW"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_LIT("kwx"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_LIT("zzABCDEF"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_NULL, SLICE_LIT("sip:abd@x")));
	CHECK(!guard_scanner(g, SLICE_LIT("zzk"), SLICE_LIT("sip:abcdeX@x")));
	CHECK(!guard_scanner(g, SLICE_LIT("ab"), SLICE_LIT("abc")));
	CHECK(!guard_scanner(g, slice_make("abcdef", 5), slice_make("xkw", 2)));
	{
		/* a name at the end of a value that ends its heap block: the
		 * filter reads no byte past the slice (ASan) */
		char *end = malloc(3);

		CHECK(end);
		memcpy(end, "zkw", 3);
		CHECK(guard_scanner(g, slice_make(end, 3), SLICE_NULL));
		CHECK(!guard_scanner(g, slice_make(end, 2), SLICE_NULL));
		free(end);
	}
	guard_free(&g);

	for (int i = 0; i < GUARD_SCANNER_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "n%02d", i);
		many[i] = names[i];
	}
	c.scanners = many;
	c.scanners_n = GUARD_SCANNER_MAX;
	g = make(&c);
	CHECK(g);
	CHECK(guard_scanner(g, SLICE_LIT("xN00x"), SLICE_NULL));
	CHECK(guard_scanner(g, SLICE_NULL, SLICE_LIT("sip:n63@x")));
	CHECK(guard_scanner(g, SLICE_LIT("n31"), SLICE_NULL));
	CHECK(!guard_scanner(g, SLICE_LIT("n64 n6 n"), SLICE_NULL));
	guard_free(&g);
}

static void test_conf_errors(void)
{
	static const char *const bad_allow[] = { "192.0.2.0/24", "192.0.2.0/40" };
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g = NULL;
	char err[128] = "";

	c.table_size = 0;
	CHECK_INT(guard_new(&g, &c, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "table_size"));
	CHECK(g == NULL);
	c = GUARD_CONF_DEFAULT;
	c.ban_max = 10;
	CHECK_INT(guard_new(&g, &c, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "ban_max"));
	c = GUARD_CONF_DEFAULT;
	c.v6_prefix = 129;
	CHECK_INT(guard_new(&g, &c, NULL, 0), EINVAL);
	c = GUARD_CONF_DEFAULT;
	c.rate_all = GUARD_RATE_MAX + 1;
	CHECK_INT(guard_new(&g, &c, NULL, 0), EINVAL);
	c = GUARD_CONF_DEFAULT;
	c.allow = bad_allow;
	c.allow_n = 2;
	CHECK_INT(guard_new(&g, &c, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, "192.0.2.0/40"));
	CHECK(g == NULL);
	guard_free(&g); /* NULL is fine */
}

/* Matched traffic gives its token back; unmatched traffic does not, and the
 * refund never lifts the bucket over the credited ceiling. */
static void test_refund(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g;
	struct net_addr a = addr("192.0.2.7"), b = addr("192.0.2.8"), u = addr("192.0.2.9");
	struct guard_stats st;

	c.ban_drops = 1000;
	g = make(&c);
	CHECK(g);
	/* 40 requests that each proved to be part of a call: nothing spent */
	for (int i = 0; i < 400; i++) {
		CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, 1000, NULL), GUARD_PASS);
		guard_refund(g, &a, 1000);
	}
	/* the same volume unmatched runs dry after the burst */
	CHECK_INT(count_pass(g, &b, GUARD_REQ_OTHER, 1000, 400), 40);
	/* refunds to an idle source stop at the ceiling: 20 x 20/s */
	for (int i = 0; i < 1000; i++)
		guard_refund(g, &a, 1000);
	CHECK_INT(count_pass(g, &a, GUARD_REQ_OTHER, 1000, 1000), 400);
	/* an unknown source is not created by a refund */
	guard_refund(g, &u, 1000);
	guard_stats(g, 1000, &st);
	CHECK_INT(st.sources, 2);
	guard_free(&g);
}

static void test_cidr_check(void)
{
	CHECK_INT(guard_cidr_check("192.0.2.0/24"), 0);
	CHECK_INT(guard_cidr_check("2001:db8::/32"), 0);
	CHECK_INT(guard_cidr_check("::1"), 0);
	CHECK_INT(guard_cidr_check("192.0.2.0/33"), EINVAL);
	CHECK_INT(guard_cidr_check("example.com"), EINVAL);
	CHECK_INT(guard_cidr_check(""), EINVAL);
	CHECK_INT(guard_cidr_check(NULL), EINVAL);
}

static void test_cidr_contains(void)
{
	struct net_addr v4 = addr("192.0.2.77"), v6 = addr("2001:db8:1:2::5");
	struct net_addr mapped = addr("::ffff:192.0.2.77"), other;

	CHECK(guard_cidr_contains("192.0.2.0/24", &v4));
	CHECK(guard_cidr_contains("192.0.2.77", &v4));
	CHECK(guard_cidr_contains("192.0.2.77/32", &v4));
	CHECK(guard_cidr_contains("192.0.2.64/26", &v4));
	CHECK(!guard_cidr_contains("192.0.2.0/26", &v4));
	CHECK(!guard_cidr_contains("192.0.2.78", &v4));
	CHECK(guard_cidr_contains("0.0.0.0/0", &v4));
	CHECK(guard_cidr_contains("192.0.2.5/24", &v4)); /* host bits ignored */
	/* an IPv4 prefix covers the mapped form, and no IPv6 address */
	CHECK(guard_cidr_contains("192.0.2.0/24", &mapped));
	CHECK(!guard_cidr_contains("0.0.0.0/0", &v6));
	/* IPv4 lives at ::ffff:0:0/96, for the allow-list as here */
	CHECK(guard_cidr_contains("::ffff:0:0/96", &v4));
	CHECK(guard_cidr_contains("::/0", &v4));
	CHECK(!guard_cidr_contains("2000::/3", &v4));
	CHECK(guard_cidr_contains("2001:db8::/32", &v6));
	CHECK(guard_cidr_contains("2001:db8:1:2::/64", &v6));
	CHECK(guard_cidr_contains("2001:db8:1:2::5", &v6));
	CHECK(guard_cidr_contains("2001:db8:1:2::/127", &v6) == false);
	CHECK(guard_cidr_contains("2001:db8:1:2::4/127", &v6));
	CHECK(!guard_cidr_contains("2001:db8:1:3::/64", &v6));
	CHECK(guard_cidr_contains("::/0", &v6));
	/* refusals: bad CIDR, another family, NULL */
	CHECK(!guard_cidr_contains("192.0.2.0/33", &v4));
	CHECK(!guard_cidr_contains("example.com", &v4));
	CHECK(!guard_cidr_contains("", &v4));
	CHECK(!guard_cidr_contains(NULL, &v4));
	CHECK(!guard_cidr_contains("0.0.0.0/0", NULL));
	memset(&other, 0, sizeof(other));
	other.ss.ss_family = AF_UNIX;
	CHECK(!guard_cidr_contains("0.0.0.0/0", &other));
	CHECK(!guard_cidr_contains("::/0", &other));
	/* the same answers as a guard's allow-list */
	{
		static const char *const cidrs[] = { "192.0.2.64/26", "2001:db8:1:2::/64",
						     "::ffff:0:0/96", "2001:db8:1:2::4/127" };
		const struct net_addr *addrs[] = { &v4, &v6, &mapped };

		for (size_t i = 0; i < ARRAY_SIZE(cidrs); i++) {
			struct guard_conf c = GUARD_CONF_DEFAULT;
			struct guard *g;

			c.allow = &cidrs[i];
			c.allow_n = 1;
			g = make(&c);
			CHECK(g);
			for (size_t j = 0; j < ARRAY_SIZE(addrs); j++) {
				if (guard_allowed(g, addrs[j]) != guard_cidr_contains(cidrs[i], addrs[j])) {
					guard_free(&g);
					CHECK(!"guard_cidr_contains disagrees with guard_allowed");
				}
			}
			guard_free(&g);
		}
	}
}

static void test_key_parse(void)
{
	struct net_addr a;
	char t[64];

	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "192.0.2.1", 64), 0);
	CHECK(strcmp(t, "192.0.2.1") == 0);
	CHECK_INT(a.ss.ss_family, AF_INET);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "192.0.2.1/32", 64), 0);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "2001:db8:1:2:aa::5", 64), 0);
	CHECK(strcmp(t, "2001:db8:1:2::/64") == 0);
	CHECK_INT(a.ss.ss_family, AF_INET6);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "2001:db8:1:2::/64", 64), 0);
	CHECK(strcmp(t, "2001:db8:1:2::/64") == 0);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "2001:db8:1:2::/48", 64), EINVAL);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "192.0.2.0/24", 64), EINVAL);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "banana", 64), EINVAL);
	/* IPv4-mapped is the IPv4 source, as the live table keys it; with a
	 * prefix it stays an IPv6 prefix. */
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "::ffff:192.0.2.1", 64), 0);
	CHECK(strcmp(t, "192.0.2.1") == 0);
	CHECK_INT(a.ss.ss_family, AF_INET);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "::ffff:192.0.2.1/64", 64), 0);
	CHECK(strcmp(t, "::/64") == 0);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "::1", 64), 0);
	CHECK(strcmp(t, "::/64") == 0);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "2001:db8:1:2:aa::5", 48), 0);
	CHECK(strcmp(t, "2001:db8:1::/48") == 0);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "2001:db8:1:2:aa::5", 128), 0);
	CHECK(strcmp(t, "2001:db8:1:2:aa::5/128") == 0);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), " 192.0.2.1", 64), EINVAL);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "192.0.2.1/", 64), EINVAL);
	CHECK_INT(guard_key_parse(&a, t, sizeof(t), "fe80::1%eth0", 64), EINVAL);
	/* a key names the same ban as the address it came from */
	{
		struct guard_conf c = GUARD_CONF_DEFAULT;
		struct guard *g = make(&c);
		struct net_addr b = addr("2001:db8:1:2::77");
		struct net_addr m = addr("::ffff:198.51.100.7"), m4 = addr("198.51.100.7");

		CHECK(g);
		CHECK_INT(guard_key_parse(&a, t, sizeof(t), "2001:db8:1:2::/64", 64), 0);
		CHECK(guard_ban(g, &a, 1000, 60));
		CHECK_INT(guard_admit(g, &b, GUARD_REQ_OTHER, 2000, NULL), GUARD_DROP_BANNED);
		CHECK_INT(guard_key_parse(&a, t, sizeof(t), "::ffff:198.51.100.7", 64), 0);
		CHECK(guard_ban(g, &a, 1000, 60));
		CHECK_INT(guard_admit(g, &m, GUARD_REQ_OTHER, 2000, NULL), GUARD_DROP_BANNED);
		CHECK_INT(guard_admit(g, &m4, GUARD_REQ_OTHER, 2000, NULL), GUARD_DROP_BANNED);
		guard_free(&g);
	}
}

/* A ban read back from the store keeps its count: the next ban doubles on. */
static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* Thousands of sources whose table keys (::ffff:10.x.y.z) all collide under
 * an unkeyed hash (FNV-1a, low 12 bits), and as many user names that do:
 * every lookup examines a handful of entries, not a chain of all of them.
 * Counted in probes (entries examined), not time. */
static void test_colliding_keys_stay_short(void)
{
	enum { N = 2000 };
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g = NULL;
	struct guard_stats st;
	uint32_t *ids = calloc(N, sizeof(*ids));
	char (*names)[32] = calloc(N, 32);
	uint64_t target = 0, before;
	size_t made = 0;

	CHECK(ids && names);
	for (uint32_t n = 0; made < N && n < (1u << 24); n++) {
		uint8_t k[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10,
				  (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
		uint64_t h = fnv1a(k, sizeof(k)) & 4095;

		if (made == 0)
			target = h;
		if (h == target)
			ids[made++] = n;
	}
	CHECK_INT(made, N);
	CHECK_INT(check_fnv_collisions(names, N), N);
	c.table_size = 4 * N;
	c.user_table_size = 4 * N;
	CHECK_INT(guard_new(&g, &c, NULL, 0), 0);
	for (size_t i = 0; i < N; i++) {
		struct net_addr a = addr_n(ids[i]);

		CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, 1000, NULL), GUARD_PASS);
		(void)guard_auth_failure(g, &a, slice_cstr(names[i]), 1000);
	}
	guard_stats(g, 1000, &st);
	CHECK_INT(st.sources, N);
	CHECK_INT(st.users, N);
	before = st.probes;
	for (size_t i = 0; i < N; i++) {
		struct net_addr a = addr_n(ids[i]);

		CHECK_INT(guard_admit(g, &a, GUARD_REQ_OTHER, 1000, NULL), GUARD_PASS);
		CHECK(!guard_user_locked(g, slice_cstr(names[i]), &a, 1000));
	}
	guard_stats(g, 1000, &st);
	/* Chained on the old hash, each of the 2N lookups walked about N entries. */
	CHECK(st.probes - before < (uint64_t)N * 2 * 8);
	CHECK(st.probes - before >= (uint64_t)N * 2); /* each found entry was examined */
	CHECK_INT(st.evictions, 0);
	guard_free(&g);
	free(ids);
	free(names);
}

static void test_ban_restore(void)
{
	struct guard_conf c = GUARD_CONF_DEFAULT;
	struct guard *g = make(&c);
	struct net_addr a = addr("192.0.2.44");
	struct guard_ban_info bi;

	CHECK(g);
	guard_ban_restore(g, &a, 1000, 30, 3);
	CHECK(guard_ban_of(g, &a, 1000, &bi));
	CHECK_INT(bi.until_ms, 31000);
	CHECK_INT(bi.count, 3);
	CHECK(strcmp(bi.addr, "192.0.2.44") == 0);
	CHECK(!guard_ban_of(g, &a, 31000, &bi));
	/* the fourth ban: 60 s doubled three times */
	CHECK(guard_ban(g, &a, 40000, 0));
	CHECK(guard_ban_of(g, &a, 40000, &bi));
	CHECK_INT(bi.until_ms, 40000 + 480000);
	CHECK_INT(bi.count, 4);
	guard_free(&g);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_rate_refill),
		CASE(test_buckets_independent),
		CASE(test_nat_storm),
		CASE(test_nat_power_cut),
		CASE(test_ban_escalation),
		CASE(test_rate_ban_expiry),
		CASE(test_allow_list),
		CASE(test_ipv6_grouping),
		CASE(test_lru_eviction),
		CASE(test_bruteforce_source),
		CASE(test_bruteforce_user),
		CASE(test_user_table_spray),
		CASE(test_window_reset),
		CASE(test_scanner),
		CASE(test_scanner_filter),
		CASE(test_conf_errors),
		CASE(test_refund),
		CASE(test_cidr_check),
		CASE(test_cidr_contains),
		CASE(test_key_parse),
		CASE(test_ban_restore),
		CASE(test_colliding_keys_stay_short),
	};

	return check_main("guard", cases, ARRAY_SIZE(cases), argc, argv);
}
