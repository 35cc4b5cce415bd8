/*
 * test_trunk_state: struct trunk_state without a network. The outbound
 * decision (targets in failover order, our P-Asserted-Identity, every
 * refusal with its status and event: 484, class, hold, caps, emergency
 * slots, no route, rate with Retry-After, no TLS peer, none reachable), the
 * counts a placed call holds until its record (and a call restored after a
 * restart, or forgotten when its restore failed), the burst alert and its
 * hold, the inbound decision (not a peer, transport, no transit, DIDs,
 * max_calls_in, rate, the trusted PAI), the bypass check, the counters
 * handed to the store and read back, the OPTIONS pings (down and up) and
 * the outbound registration (challenge answered, refreshed, failed), the
 * refused TLS peers, and the secrets file (its text; read when it changed,
 * refused for its mode or a link, gone).
 */
#include "check.h"
#include "policy/policy.h"
#include "trunk/trunk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct trunk_conf tc;
static struct trunk_fraud_conf fraud;
static struct net_listen_spec listeners[2];
static char err[256];
static int ways_refused;       /* way() fails for peer addresses of this port */
static unsigned answers;       /* answer() calls */

static int way(void *arg, const struct trunk_peer *p, const struct net_listen_spec *a,
	       struct net_msg *w)
{
	(void)arg;
	(void)p;
	memset(w, 0, sizeof(*w));
	w->tp = a->tp;
	w->udp_fd = a->tp == NET_UDP ? 3 : -1;
	return ways_refused && net_addr_port(&a->addr) == ways_refused ? ECONNREFUSED : 0;
}

static int answer(void *arg, char *out, size_t cap, struct slice chal, struct slice uri,
		  const struct trunk_secret *sec, uint32_t nc)
{
	(void)arg;
	answers++;
	if (!memmem(chal.p, chal.len, "realm=\"carrier\"", 15))
		return EPROTO;
	snprintf(out, cap, "Digest username=\"%s\", uri=\"%.*s\", nc=%08x", sec->user,
		 (int)uri.len, uri.p, nc);
	return 0;
}

static int set(const char *sec, const char *k, const char *v)
{
	return trunk_conf_set(&tc, sec, k, v, 1, err, sizeof(err));
}

/* Two gateways on +1 (gw1 first), a carrier trunk for +44 that registers,
 * alice's DID, our listeners. */
static int setup(struct trunk_state **st)
{
	unsigned line;
	size_t n;
	struct trunk_env env = { &tc, &fraud, listeners, 2, "example.test", 100, 100, way,
				 answer, NULL };

	trunk_conf_init(&tc);
	memset(&fraud, 0, sizeof(fraud));
	fraud.alert_window = 600;
	ways_refused = 0;
	answers = 0;
	if (net_listen_parse(listeners, 2, &n, "udp:127.0.0.1:5060,tcp:127.0.0.1:5060", err,
			     sizeof(err)) != 0 || n != 2) {
		fprintf(stderr, "setup: %s\n", err);
		return EINVAL;
	}
	if (set("peer gw1", "address", "udp:127.0.0.2:5060") || set("peer gw1", "trust_pai", "yes") ||
	    set("peer gw1", "max_calls_out", "1") || set("peer gw1", "ping_interval", "30") ||
	    set("peer gw2", "address", "udp:127.0.0.3:5070, tls:127.0.0.3:5071") ||
	    set("peer gw2", "tls_name", "gw2.example.test") || set("peer gw2", "ping_interval", "0") ||
	    set("peer carrier", "ping_interval", "0") ||
	    set("peer carrier", "address", "udp:127.0.0.4:5080") ||
	    set("peer carrier", "role", "trunk") || set("peer carrier", "register", "yes") ||
	    set("peer carrier", "max_calls_in", "1") ||
	    set("routes", "+1", "gw1, gw2") || set("routes", "+44", "carrier") ||
	    set("dids", "+15551230001", "alice") || trunk_conf_check(&tc, &line, err, sizeof(err))) {
		fprintf(stderr, "setup: %s\n", err);
		return EINVAL;
	}
	return trunk_state_new(st, &env);
}

/* An address from "udp:HOST:PORT". */
static int addr_of(struct net_addr *a, const char *spec)
{
	struct net_listen_spec l;
	size_t n;
	int rc = net_listen_parse(&l, 1, &n, spec, err, sizeof(err));

	if (rc == 0)
		*a = l.addr;
	return rc;
}

static struct sip_msg msg;
static struct sip_hdr hdrs[32];
static char msgbuf[2048];

/* Parse a request to ruri, with extra header lines. */
static const struct sip_msg *request(const char *method, const char *ruri, const char *call_id,
				     const char *extra)
{
	int n = snprintf(msgbuf, sizeof(msgbuf),
			 "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bK1\r\n"
			 "From: <sip:alice@example.test>;tag=1\r\nTo: <%s>\r\n"
			 "Call-ID: %s\r\nCSeq: 1 %s\r\n%sContent-Length: 0\r\n\r\n",
			 method, ruri, ruri, call_id, method, extra);

	if (sip_msg_parse(&msg, hdrs, 32, msgbuf, (size_t)n, false, NULL) != 0)
		return NULL;
	return &msg;
}

static struct trunk_call call_of(const struct sip_msg *m, const char *user, int64_t now)
{
	return (struct trunk_call){ &m->ruri, slice_cstr(user), "", false, 1, false, NULL, now,
				    (uint64_t)now * 1000 };
}

static void test_outbound(void)
{
	struct trunk_state *st = NULL;
	struct trunk_outbound o;
	struct trunk_alert a;
	const struct sip_msg *m;
	struct trunk_call c;

	CHECK_INT(setup(&st), 0);
	CHECK(st != NULL);
	/* a name is not an outside number: not ours */
	m = request("INVITE", "sip:bob@example.test", "c1", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), ENOENT);
	/* a national call: gw1 then gw2's two addresses, our PAI not sent
	 * (gw2 is not trusted with it) */
	m = request("INVITE", "sip:2125550100@example.test", "c2", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	CHECK(o.classified && strcmp(o.e164, "+12125550100") == 0);
	CHECK_INT(o.n, 3);
	CHECK_INT(o.first, 0);
	CHECK(strcmp(o.t[0].contact, "sip:+12125550100@127.0.0.2:5060;user=phone") == 0);
	CHECK(strcmp(o.t[2].contact, "sip:+12125550100@127.0.0.3:5071;user=phone;transport=tls") == 0);
	CHECK(strcmp(o.t[1].label, "gw2") == 0);
	CHECK(o.pai[0] == '\0');
	trunk_state_placed(st, &o, &c, m->call_id, &a);
	CHECK(!a.raised);
	/* gw1 is at its max_calls_out (1): the next call goes to gw2 only,
	 * which is not trusted with our assertion either */
	m = request("INVITE", "sip:2125550101@example.test", "c3", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	CHECK_INT(o.first, 1);
	CHECK_INT(o.n, 2);
	/* the record of the first call releases gw1 */
	trunk_state_ended(st, "c2", "gw1", 200, 30, 1000, 1, &a);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.first, 0);
	/* gw1 alone, trusted: our assertion is its DID */
	tc.route[0].npeers = 1;
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.n, 1);
	CHECK(strcmp(o.pai, "P-Asserted-Identity: <tel:+15551230001>\r\n") == 0);
	/* gw1's last slot is kept for emergency calls: nothing left */
	{
		uint32_t keep[TRUNK_MAX_PEERS] = { 1 };
		c.keep = keep;
		CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
		CHECK(!o.v.allow);
		CHECK_INT(o.v.status, 403);
		CHECK(strcmp(o.v.event, TRUNK_EVENT_FRAUD_LIMIT) == 0);
		CHECK(strstr(o.v.detail, "max_calls_out") != NULL);
		c.keep = NULL;
	}
	/* unreachable: 503 No Peer Reachable */
	ways_refused = 5060;
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 503);
	CHECK(o.v.event == NULL);
	ways_refused = 0;
	/* sips: or tls-required: gw1 has no TLS address: 480 */
	c.tls_only = true;
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 480);
	CHECK(strcmp(o.v.event, POLICY_EVENT_SIPS_DOWNGRADE) == 0);
	trunk_state_free(&st);
	CHECK(st == NULL);
}

/* Drain the changed counters; true when key was among them. */
static bool dirty_has(struct trunk_state *st, const char *want)
{
	char text[TRUNK_USAGE_TEXT_MAX];
	const char *key;
	bool seen = false;
	int rc;

	for (int i = 0; i < 64 && trunk_state_dirty_next(st, &key, text, &rc); i++)
		seen |= strcmp(key, want) == 0;
	return seen;
}

/* A kept call restored after a restart counts again, as it did when placed
 * (the toll-fraud cap bypass of a restart): a call out against its peer's
 * max_calls_out and its caller's max_calls_per_user, an emergency call
 * against the peer's only, a call in against max_calls_in; its record
 * releases it and gives its minutes to the counters; a failed restore
 * forgets it without counting anything. */
static void test_restored(void)
{
	struct trunk_state *st = NULL;
	struct trunk_outbound o;
	struct trunk_inbound in;
	struct trunk_alert a;
	struct net_addr src;
	const struct sip_msg *m;
	struct trunk_call c;
	char longname[TRUNK_NAME_MAX + 8];

	CHECK_INT(setup(&st), 0);
	/* a call between local users, and a peer name too long to count */
	CHECK(!trunk_state_restored(st, &(struct trunk_kept){ "k0", "", "", "alice", false }));
	memset(longname, 'p', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(!trunk_state_restored(st, &(struct trunk_kept){ "k0", longname, "national", "alice",
							       false }));
	CHECK(!trunk_state_restored(st, &(struct trunk_kept){ NULL, "gw1", "national", "", false }));
	/* alice's call out through gw1 (max_calls_out 1): counted once */
	CHECK(trunk_state_restored(st, &(struct trunk_kept){ "k1", "gw1", "national", "alice",
							      false }));
	CHECK(!trunk_state_restored(st, &(struct trunk_kept){ "k1", "gw1", "national", "alice",
							       false }));
	m = request("INVITE", "sip:2125550100@example.test", "n1", "");
	c = call_of(m, "bob", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	CHECK_INT(o.first, 1); /* gw1 is at its cap: gw2 */
	tc.route[0].npeers = 1; /* gw1 alone: refused */
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403);
	CHECK(strstr(o.v.detail, "max_calls_out") != NULL);
	/* its record: gw1 free again; its minutes to alice and gw1 */
	(void)dirty_has(st, "");
	trunk_state_ended(st, "k1", "gw1", 200, 600, 1000, 1, &a);
	CHECK(trunk_state_dirty(st));
	CHECK(dirty_has(st, "u:alice"));
	trunk_state_ended(st, "k1", "gw1", 200, 600, 1000, 1, &a);
	CHECK(!trunk_state_dirty(st)); /* once only */
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	CHECK_INT(o.first, 0);
	/* the caller's calls in progress: max_calls_per_user 1 */
	tc.max_calls_per_user = 1;
	CHECK(trunk_state_restored(st, &(struct trunk_kept){ "k2", "gw2", "international", "alice",
							      false }));
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403);
	CHECK(strstr(o.v.detail, "max_calls_per_user") != NULL);
	/* the restore failed: forgotten, nothing counted */
	trunk_state_forget(st, "k2");
	trunk_state_forget(st, "k2");
	CHECK(!trunk_state_dirty(st));
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	/* an emergency call: the peer's cap, not the caller's */
	CHECK(trunk_state_restored(st, &(struct trunk_kept){ "k3", "gw1", "emergency", "alice",
							      true }));
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403);
	CHECK(strstr(o.v.detail, "max_calls_out") != NULL);
	tc.route[0].npeers = 2;
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	CHECK_INT(o.first, 1);
	trunk_state_ended(st, "k3", "gw1", 200, 60, 1000, 1, &a);
	CHECK(!trunk_state_dirty(st)); /* no caller's counters, as when placed */
	/* a call in from the carrier (no class): its max_calls_in is 1 */
	CHECK(trunk_state_restored(st, &(struct trunk_kept){ "k4", "carrier", "", "", false }));
	CHECK_INT(addr_of(&src, "udp:127.0.0.4:5080"), 0);
	m = request("INVITE", "sip:+15551230001@example.test", "i9", "");
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK_INT(in.v.status, 503);
	CHECK(strstr(in.v.detail, "max_calls_in") != NULL);
	/* (counted apart from calls out: the carrier still takes calls out) */
	m = request("INVITE", "sip:+442070000000@example.test", "n2", "");
	c = call_of(m, "bob", 1000);
	c.calling = "international";
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	trunk_state_ended(st, "k4", "carrier", 200, 60, 1000, 1, &a);
	m = request("INVITE", "sip:+15551230001@example.test", "i9", "");
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK(in.v.allow);
	trunk_state_free(&st);
}

/* Which peers o's targets reach: a bit per peer, by its index. */
static unsigned peers_of(const struct trunk_outbound *o)
{
	unsigned bits = 0;

	for (size_t i = 0; i < o->n; i++)
		for (size_t k = 0; k < tc.npeers; k++)
			if (strcmp(o->t[i].label, tc.peer[k].name) == 0)
				bits |= 1u << k;
	return bits;
}

/* trunk_state_failover with every peer keeping k slots for emergency calls */
static bool failover(struct trunk_state *st, struct slice call_id, const char *peer, uint32_t k)
{
	uint32_t keep[TRUNK_MAX_PEERS];

	for (size_t i = 0; i < TRUNK_MAX_PEERS; i++)
		keep[i] = k;
	return trunk_state_failover(st, call_id, peer, keep);
}

/* A serial call that fails over counts against the peer it moved to
 * (trunk_state_failover), seen through trunk_state_outbound's decisions:
 * gw1 and gw2 each take one call out (max_calls_out 1). */
static void test_failover(void)
{
	struct trunk_state *st = NULL;
	struct trunk_outbound o;
	struct trunk_alert a;
	const struct sip_msg *m;
	struct trunk_call c;

	CHECK_INT(setup(&st), 0);
	CHECK(strcmp(tc.peer[1].name, "gw2") == 0);
	tc.peer[1].max_calls_out = 1;
	m = request("INVITE", "sip:2125550100@example.test", "f1", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow && o.first == 0);
	trunk_state_placed(st, &o, &c, m->call_id, &a);
	/* counted against gw1: the next call is for gw2 only */
	m = request("INVITE", "sip:2125550101@example.test", "f2", "");
	c = call_of(m, "bob", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow && o.first == 1);
	CHECK_INT(peers_of(&o), 2u);
	/* f1 fails over to gw2: gw1 has room again, gw2 is at its cap */
	CHECK(failover(st, SLICE_LIT("f1"), "gw2", 0));
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow && o.first == 0);
	CHECK_INT(peers_of(&o), 1u);
	trunk_state_placed(st, &o, &c, m->call_id, &a);
	/* f2 may not move to gw2 (full): nothing changed, both are full */
	CHECK(!failover(st, SLICE_LIT("f2"), "gw2", 0));
	m = request("INVITE", "sip:2125550102@example.test", "f3", "");
	c = call_of(m, "carol", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403);
	CHECK(strstr(o.v.detail, "max_calls_out") != NULL);
	/* gw2 at 2: one more fits, unless its last slot is kept for
	 * emergency calls */
	tc.peer[1].max_calls_out = 2;
	CHECK(!failover(st, SLICE_LIT("f2"), "gw2", 1));
	CHECK(!failover(st, SLICE_LIT("f2"), "gw2", 2));
	CHECK(failover(st, SLICE_LIT("f2"), "gw2", 0));
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow && o.first == 0);
	CHECK_INT(peers_of(&o), 1u);
	/* and back to gw1 (which has room): gw2 has a slot again */
	CHECK(failover(st, SLICE_LIT("f2"), "gw1", 0));
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow && o.first == 1);
	CHECK_INT(peers_of(&o), 2u);
	CHECK(failover(st, SLICE_LIT("f2"), "gw2", 0));
	tc.peer[1].max_calls_out = 1;
	/* gw2 holds f1 and f2, over its cap of 1 (set lower since): a call
	 * not tracked (f3), the peer a call already counts against, and
	 * Call-IDs that only share a prefix change nothing */
	CHECK(failover(st, SLICE_LIT("f3"), "gw2", 0));
	CHECK(failover(st, SLICE_LIT("f1"), "gw2", 0));
	CHECK(failover(st, SLICE_LIT(""), "gw1", 0));
	CHECK(failover(st, SLICE_LIT("f"), "gw1", 0)); /* a prefix is not f1 */
	CHECK(failover(st, SLICE_LIT("f12"), "gw1", 0));
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow && o.first == 0 && peers_of(&o) == 1u);
	/* no peer of ours by that name: its cap is not known, refused */
	CHECK(!failover(st, SLICE_LIT("f1"), "gw9", 0));
	/* an emergency call always moves, past any cap and kept slot */
	trunk_state_track(st, SLICE_LIT("e1"), "gw1");
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403); /* gw1 full with it */
	CHECK(failover(st, SLICE_LIT("e1"), "gw2", 5));
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow && o.first == 0); /* gw1 free again */
	CHECK(failover(st, SLICE_LIT("e1"), "gw9", 0)); /* unknown: stays */
	/* a call in from a peer does not move (calls in are not forked
	 * serially over peers) */
	CHECK(trunk_state_restored(st, &(struct trunk_kept){ "i1", "carrier", "", "", false }));
	CHECK(failover(st, SLICE_LIT("i1"), "gw1", 0));
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow && o.first == 0);
	/* a restored emergency call moves like a tracked one */
	CHECK(trunk_state_restored(st, &(struct trunk_kept){ "e2", "gw1", "emergency", "", true }));
	CHECK(failover(st, SLICE_LIT("e2"), "gw2", 0));
	/* the records free the peers they were counted against at the end:
	 * f1, f2, e1, e2 on gw2 */
	trunk_state_ended(st, "f1", "gw2", 200, 30, 1000, 1, &a);
	trunk_state_ended(st, "f2", "gw2", 200, 30, 1000, 1, &a);
	trunk_state_ended(st, "e1", "gw2", 200, 30, 1000, 1, &a);
	trunk_state_track(st, SLICE_LIT("e3"), "gw1"); /* gw1 full again */
	tc.route[0].npeers = 1;
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403);
	tc.route[0].npeers = 2;
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403); /* gw2 still holds e2 */
	trunk_state_ended(st, "e2", "gw2", 200, 30, 1000, 1, &a);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow && o.first == 1 && peers_of(&o) == 2u);
	trunk_state_free(&st);
}

static void test_outbound_refusals(void)
{
	struct trunk_state *st = NULL;
	struct trunk_outbound o;
	struct trunk_alert a;
	const struct sip_msg *m;
	struct trunk_call c;

	CHECK_INT(setup(&st), 0);
	/* a malformed number: 484, nothing classified */
	m = request("INVITE", "sip:+12125550100123456@example.test", "r1", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 484);
	CHECK(!o.classified);
	/* international, national calling class: 403 call.class_denied */
	m = request("INVITE", "sip:+442071234567@example.test", "r2", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403);
	CHECK(strcmp(o.v.event, TRUNK_EVENT_CLASS_DENIED) == 0);
	CHECK(strstr(o.v.detail, "+442071234567 is international") != NULL);
	/* the store's class allows it (carrier registers; no credentials
	 * needed to route) */
	c.calling = "international";
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	CHECK(o.intl);
	/* no route for +33 */
	m = request("INVITE", "sip:+33142278186@example.test", "r3", "");
	c = call_of(m, "alice", 1000);
	c.calling = "international";
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 404);
	CHECK(strcmp(o.v.event, TRUNK_EVENT_NO_ROUTE) == 0);
	/* on hold in the store: 403 Outside Calling Suspended */
	m = request("INVITE", "sip:2125550100@example.test", "r4", "");
	c = call_of(m, "alice", 1000);
	c.hold = true;
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403);
	CHECK(strcmp(o.v.reason, "Outside Calling Suspended") == 0);
	c.hold = false;
	/* [dialplan] max_calls_per_user 1: the second call in progress */
	tc.max_calls_per_user = 1;
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	trunk_state_placed(st, &o, &c, slice_cstr("r4"), &a);
	m = request("INVITE", "sip:2125550102@example.test", "r5", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403);
	CHECK(strstr(o.v.detail, "max_calls_per_user") != NULL);
	/* another user is not counted with alice */
	c = call_of(m, "bob", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	trunk_state_ended(st, "r4", "gw1", 486, 0, 1000, 1, &a);
	tc.max_calls_per_user = 0;
	/* [fraud] calls_per_hour 2: the third call in the hour */
	fraud.user.calls_per_hour = 2;
	c = call_of(m, "carol", 1000);
	for (int i = 0; i < 2; i++) {
		char id[8];
		snprintf(id, sizeof(id), "h%d", i);
		CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
		CHECK(o.v.allow);
		trunk_state_placed(st, &o, &c, slice_cstr(id), &a);
		trunk_state_ended(st, id, o.t[0].label, 200, 10, 1000, 1, &a);
	}
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403);
	CHECK(strstr(o.v.detail, "calls_per_hour") != NULL);
	/* an hour later it passes again */
	c = call_of(m, "carol", 1000 + 3700);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	fraud.user.calls_per_hour = 0;
	/* gw1 and gw2 at a calls_per_second of 1: the second call within the
	 * second is 503 with Retry-After 1 */
	tc.peer[0].calls_per_second = tc.peer[1].calls_per_second = 1;
	tc.peer[0].max_calls_out = 0;
	c = call_of(m, "dave", 5000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	trunk_state_placed(st, &o, &c, slice_cstr("p1"), &a);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.first, 1); /* gw1 passed over */
	trunk_state_placed(st, &o, &c, slice_cstr("p2"), &a);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 503);
	CHECK(strcmp(o.v.event, TRUNK_EVENT_PEER_RATE) == 0);
	CHECK_INT(o.retry_after, 1);
	trunk_state_free(&st);
}

/* A burst of short international calls raises fraud.alert once; with
 * suspend the caller is held here until the store's word moves on. */
static void test_burst_hold(void)
{
	struct trunk_state *st = NULL;
	struct trunk_outbound o;
	struct trunk_alert a;
	const struct sip_msg *m;
	struct trunk_call c;
	int alerts = 0;

	CHECK_INT(setup(&st), 0);
	fraud.alert_short_calls = 3;
	fraud.short_call = 10;
	fraud.suspend = 1;
	m = request("INVITE", "sip:+442071234567@example.test", "b0", "");
	c = call_of(m, "mallory", 2000);
	c.calling = "international";
	c.cache_version = 7;
	for (int i = 0; i < 4; i++) {
		char id[8];
		snprintf(id, sizeof(id), "b%d", i);
		CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
		if (!o.v.allow)
			break;
		trunk_state_placed(st, &o, &c, slice_cstr(id), &a);
		trunk_state_ended(st, id, "carrier", 200, 2, 2000, 7, &a);
		if (a.raised) {
			alerts++;
			CHECK(a.hold);
			CHECK(strcmp(a.user, "mallory") == 0);
			CHECK(strstr(a.full, "on hold") != NULL);
		}
	}
	CHECK_INT(alerts, 1);
	/* held by us while the cache is at the version of the hold */
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(strcmp(o.v.reason, "Outside Calling Suspended") == 0);
	/* the store took the hold: still held */
	c.cache_version = 8;
	c.hold = true;
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(!o.v.allow);
	/* the administrator lifted it: the burst window is forgiven */
	c.hold = false;
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	trunk_state_free(&st);
}

static void test_inbound(void)
{
	struct trunk_state *st = NULL;
	struct trunk_inbound in;
	struct net_addr src, other;
	const struct sip_msg *m;

	CHECK_INT(setup(&st), 0);
	CHECK_INT(addr_of(&src, "udp:127.0.0.4:5080"), 0);
	CHECK_INT(addr_of(&other, "udp:127.0.0.77:5080"), 0);
	m = request("INVITE", "sip:+15551230001@example.test", "i1",
		    "P-Asserted-Identity: <tel:+442070000000>\r\n");
	CHECK(m != NULL);
	/* not a peer; a peer's address over a transport it does not have */
	trunk_state_inbound(st, &in, m, &other, NET_UDP, false, 1000);
	CHECK_INT(in.peer, -1);
	trunk_state_inbound(st, &in, m, &src, NET_TCP, false, 1000);
	CHECK_INT(in.peer, -1);
	/* Route beyond us: no transit, no record */
	trunk_state_inbound(st, &in, m, &src, NET_UDP, true, 1000);
	CHECK_INT(in.peer, 2);
	CHECK_INT(in.v.status, 403);
	CHECK(!in.record);
	/* a DID: allowed to alice; the carrier is not trusted with a PAI */
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK(in.v.allow);
	CHECK(strcmp(in.local, "alice") == 0 && strcmp(in.e164, "+15551230001") == 0);
	CHECK(in.pai[0] == '\0');
	tc.peer[2].trust_pai = true;
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK(strcmp(in.pai, "P-Asserted-Identity: <tel:+442070000000>\r\n") == 0);
	/* max_calls_in 1: the second call in progress is 503 */
	trunk_state_inbound_placed(st, in.peer, m);
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK_INT(in.v.status, 503);
	CHECK(in.record);
	CHECK(strcmp(in.v.event, TRUNK_EVENT_FRAUD_LIMIT) == 0);
	trunk_state_ended(st, "i1", "carrier", 200, 5, 1000, 1, &(struct trunk_alert){ 0 });
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK(in.v.allow);
	/* no DID: 404, recorded (no transit to another peer) */
	m = request("INVITE", "sip:+12125550100@example.test", "i2", "");
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK_INT(in.v.status, 404);
	CHECK(in.record);
	/* calls_per_second 1: each INVITE takes a token */
	tc.peer[2].calls_per_second = 1;
	m = request("INVITE", "sip:+15551230001@example.test", "i3", "");
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 9000);
	CHECK(in.v.allow);
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 9000);
	CHECK_INT(in.v.status, 503);
	CHECK(strcmp(in.v.event, TRUNK_EVENT_PEER_RATE) == 0);
	CHECK_INT(in.retry_after, 1);
	{
		struct trunk_peer_stats ps;
		struct trunk_tick tk;
		CHECK(trunk_state_peer_stats(st, 2, &ps));
		CHECK_INT(ps.calls_in, 0); /* not its own until the tick saw the peer */
		trunk_state_tick(st, &tk, 9000, 9, false);
		trunk_state_inbound_placed(st, 2, m);
		CHECK(trunk_state_peer_stats(st, 2, &ps));
		CHECK_INT(ps.calls_in, 1);
		CHECK(!trunk_state_peer_stats(st, 3, &ps));
	}
	trunk_state_free(&st);
}

/* What an outside call's record carries (trunk_record) and where a peer's
 * call goes (the DID user's address of record), as values: outbound the
 * number as dialed, and once normalised its class and E.164 form; inbound
 * the peer, the dialed number and the DID once it is one. */
static void test_record_values(void)
{
	struct trunk_state *st = NULL;
	struct trunk_outbound o;
	struct trunk_inbound in;
	struct net_addr src;
	const struct sip_msg *m;
	struct trunk_call c;
	char domain[1100];

	CHECK_INT(setup(&st), 0);
	m = request("INVITE", "sip:2125550100@example.test", "v1", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK(o.v.allow);
	CHECK(o.rec.peer == NULL);
	CHECK(o.rec.klass && strcmp(o.rec.klass, trunk_class_name(o.klass)) == 0);
	CHECK(strcmp(o.rec.dialed, "2125550100") == 0);
	CHECK(o.rec.number == o.e164 && strcmp(o.rec.number, "+12125550100") == 0);
	/* refused before it was classified: the number as dialed only */
	m = request("INVITE", "sip:+12125550100123456@example.test", "v2", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 484);
	CHECK(o.rec.klass == NULL && o.rec.number == NULL);
	CHECK(strcmp(o.rec.dialed, "+12125550100123456") == 0);
	/* refused after: class and number too */
	m = request("INVITE", "sip:+442071234567@example.test", "v3", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.v.status, 403);
	CHECK(o.rec.klass && strcmp(o.rec.number, "+442071234567") == 0);
	/* inbound to a DID: the peer, the number, alice's address of record */
	CHECK_INT(addr_of(&src, "udp:127.0.0.4:5080"), 0);
	m = request("INVITE", "sip:+15551230001@example.test", "v4", "");
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK(in.v.allow);
	CHECK(strcmp(in.rec.peer, "carrier") == 0 && in.rec.klass == NULL);
	CHECK(strcmp(in.rec.dialed, "+15551230001") == 0);
	CHECK(in.rec.number == in.e164 && strcmp(in.rec.number, "+15551230001") == 0);
	CHECK(strcmp(in.aor, "sip:alice@example.test") == 0);
	/* no DID, or beyond us: the peer and the dialed number, no number */
	m = request("INVITE", "sip:+12125550100@example.test", "v5", "");
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK_INT(in.v.status, 404);
	CHECK(strcmp(in.rec.peer, "carrier") == 0 && in.rec.number == NULL);
	CHECK(strcmp(in.rec.dialed, "+12125550100") == 0 && in.aor[0] == '\0');
	trunk_state_inbound(st, &in, m, &src, NET_UDP, true, 1000);
	CHECK_INT(in.v.status, 403);
	CHECK(strcmp(in.rec.peer, "carrier") == 0 && in.rec.number == NULL);
	/* not a peer: nothing */
	CHECK_INT(addr_of(&src, "udp:127.0.0.77:5080"), 0);
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK(in.rec.peer == NULL && in.rec.dialed[0] == '\0');
	trunk_state_free(&st);

	/* an address of record that does not fit: 500, not cut */
	memset(domain, 'd', sizeof(domain) - 1);
	domain[sizeof(domain) - 1] = '\0';
	CHECK_INT(setup(&st), 0);
	trunk_state_free(&st);
	{
		struct trunk_env env = { &tc, &fraud, listeners, 2, domain, 100, 100, way, answer,
					 NULL };
		CHECK_INT(trunk_state_new(&st, &env), 0);
	}
	CHECK_INT(addr_of(&src, "udp:127.0.0.4:5080"), 0);
	m = request("INVITE", "sip:+15551230001@example.test", "v6", "");
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK_INT(in.v.status, 500);
	CHECK(!in.record && in.aor[0] == '\0');
	domain[TRUNK_AOR_MAX - 1 - 10] = '\0'; /* "sip:alice@" and this: 1023 bytes, fits */
	m = request("INVITE", "sip:+15551230001@example.test", "v7", "");
	trunk_state_inbound(st, &in, m, &src, NET_UDP, false, 1000);
	CHECK(in.v.allow);
	CHECK_INT(strlen(in.aor), TRUNK_AOR_MAX - 1);
	trunk_state_free(&st);
}

static void test_bypass(void)
{
	struct trunk_state *st = NULL;
	struct sip_limits lim = SIP_LIMITS_DEFAULT;

	CHECK_INT(setup(&st), 0);
	CHECK(trunk_bypass(&tc, request("INVITE", "sip:2125550100@127.0.0.2", "y1", ""), &lim));
	CHECK(!trunk_bypass(&tc, request("INVITE", "sip:bob@example.test", "y2", ""), &lim));
	CHECK(trunk_bypass(&tc, request("INVITE", "sip:bob@example.test", "y3",
					"Route: <sip:127.0.0.1;lr>, <sip:127.0.0.3:5070;lr>\r\n"),
			   &lim));
	trunk_state_free(&st);
}

/* The counters that changed are handed out once; rows read back count as
 * ours (at startup) or as the other nodes'. */
static void test_store_rows(void)
{
	struct trunk_state *st = NULL;
	struct trunk_outbound o;
	struct trunk_alert a;
	struct trunk_call c;
	const struct sip_msg *m;
	char text[TRUNK_USAGE_TEXT_MAX], saved[TRUNK_USAGE_TEXT_MAX] = "";
	const char *key;
	int rc, n = 0;

	CHECK_INT(setup(&st), 0);
	CHECK(!trunk_state_dirty(st));
	m = request("INVITE", "sip:2125550100@example.test", "s1", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	trunk_state_placed(st, &o, &c, m->call_id, &a);
	CHECK(trunk_state_dirty(st));
	while (trunk_state_dirty_next(st, &key, text, &rc)) {
		CHECK_INT(rc, 0);
		CHECK(strcmp(key, "u:alice") == 0 || strcmp(key, "p:gw1") == 0);
		if (strcmp(key, "p:gw1") == 0)
			memcpy(saved, text, sizeof(saved));
		n++;
	}
	CHECK_INT(n, 2);
	CHECK(!trunk_state_dirty(st));
	trunk_state_free(&st);
	/* a new run: another node's gw1 row counts against gw1's calls_per_hour */
	CHECK_INT(setup(&st), 0);
	tc.peer[0].calls_per_hour = 2;
	{
		struct trunk_sync s = { 1000, false, 0, 0 };
		trunk_state_sync_begin(st);
		trunk_state_sync_row(st, &s, "p:gw1", false, saved);
		trunk_state_sync_row(st, &s, "p:gw1", false, saved);
		trunk_state_sync_row(st, &s, "u:zed", false, "junk");
		trunk_state_sync_row(st, &s, "p:gw2", true, saved); /* ours: not now */
		trunk_state_sync_end(st, true);
		CHECK_INT(s.bad, 1);
		CHECK_INT(s.others, 2);
	}
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.first, 1); /* gw1 is at its calls_per_hour */
	trunk_state_free(&st);
}

static void test_pings(void)
{
	struct trunk_state *st = NULL;
	struct trunk_tick tk;
	struct trunk_msg mm;
	struct trunk_event ev;
	struct trunk_outbound o;
	struct trunk_call c;
	const struct sip_msg *m;

	CHECK_INT(setup(&st), 0);
	trunk_state_tick(st, &tk, 1000, 1, false);
	CHECK(tk.secrets && !tk.sync);
	CHECK_INT(tk.nping, 1);
	CHECK_INT(tk.ping[0], 0);
	CHECK_INT(tk.nreg, 1);
	CHECK_INT(tk.reg[0], 2);
	CHECK_INT(trunk_state_ping(st, &mm, 0, 1000), 0);
	CHECK(strncmp(mm.buf, "OPTIONS sip:127.0.0.2:5060 SIP/2.0\r\n", 36) == 0);
	CHECK(strstr(mm.buf, mm.branch) != NULL);
	CHECK(strstr(mm.buf, "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKping") != NULL);
	/* in flight: not again, even when due */
	trunk_state_tick(st, &tk, 100000, 1, true);
	CHECK_INT(tk.nping, 0);
	CHECK(tk.sync);
	/* no answer: down, left out of the route while gw2 is up */
	trunk_state_ping_timeout(st, 0, &ev);
	CHECK(ev.kind && strcmp(ev.kind, TRUNK_EVENT_PEER_DOWN) == 0);
	CHECK_INT(ev.peer, 0);
	CHECK(trunk_state_peer_down(st, 0));
	m = request("INVITE", "sip:2125550100@example.test", "d1", "");
	c = call_of(m, "alice", 1000);
	CHECK_INT(trunk_state_outbound(st, &o, &c), 0);
	CHECK_INT(o.first, 1);
	/* the next ping is answered (any final status): up */
	trunk_state_done(st, 0, false);
	trunk_state_tick(st, &tk, 200000, 1, false);
	CHECK_INT(tk.nping, 1);
	CHECK_INT(trunk_state_ping(st, &mm, 0, 200000), 0);
	trunk_state_ping_answer(st, 0, 100, &ev);
	CHECK(ev.kind == NULL);
	trunk_state_ping_answer(st, 0, 404, &ev);
	CHECK(ev.kind && strcmp(ev.kind, TRUNK_EVENT_PEER_UP) == 0);
	CHECK(!trunk_state_peer_down(st, 0));
	trunk_state_ping_timeout(st, 0, &ev); /* answered already */
	CHECK(ev.kind == NULL);
	/* the caller's transaction handles: the ping in flight is known by its
	 * handle, a REGISTER by its tag too once replaced */
	{
		int h1, h2, h3;
		bool reg, cur;
		trunk_state_txn_end(st, 0, false);
		CHECK_INT(trunk_state_request(st, &mm, &ev, 0, false, 300000), 0);
		trunk_state_sent(st, &mm, &h1);
		CHECK_INT(trunk_state_txn(st, &h1, NULL, &reg, &cur), 0);
		CHECK(!reg && cur);
		CHECK_INT(trunk_state_txn(st, &h2, NULL, &reg, &cur), -1);
		CHECK(!trunk_state_outcome(st, &mm, &ev, 0, false, NULL, 300000));
		CHECK(ev.kind && strcmp(ev.kind, TRUNK_EVENT_PEER_DOWN) == 0);
		trunk_state_txn_end(st, 0, false);
		CHECK_INT(trunk_state_txn(st, &h1, NULL, &reg, &cur), -1);
		/* a REGISTER that could not be started leaves nothing in flight */
		{
			struct trunk_secrets sec;
			int line;
			CHECK_INT(trunk_secrets_parse(&sec, "[carrier]\nusername = a\npassword = b\n",
						      &line, err, sizeof(err)), 0);
			trunk_state_set_secrets(st, &sec);
		}
		CHECK_INT(trunk_state_request(st, &mm, &ev, 2, true, 300000), 0);
		CHECK(mm.reg && mm.user != NULL);
		trunk_state_sent(st, &mm, NULL);
		CHECK_INT(trunk_state_request(st, &mm, &ev, 2, true, 300000), 0);
		trunk_state_sent(st, &mm, &h2);
		CHECK_INT(trunk_state_txn(st, &h2, mm.user, &reg, &cur), 2);
		CHECK(reg && cur);
		trunk_state_sent(st, &mm, &h3); /* replaced (a challenge answered) */
		CHECK_INT(trunk_state_txn(st, &h2, mm.user, &reg, &cur), 2);
		CHECK(reg && !cur);
		/* the replaced one ends: ours, the one in flight stays */
		CHECK(trunk_state_txn_ended(st, &h2, mm.user));
		CHECK_INT(trunk_state_txn(st, &h3, mm.user, &reg, &cur), 2);
		CHECK(reg && cur);
		/* the one in flight ends: nothing is, a stranger is not ours */
		CHECK(trunk_state_txn_ended(st, &h3, mm.user));
		CHECK_INT(trunk_state_txn(st, &h3, mm.user, &reg, &cur), 2);
		CHECK(reg && !cur);
		CHECK(!trunk_state_txn_ended(st, &h1, NULL));
	}
	trunk_state_free(&st);
}

static const struct sip_msg *response(int status, const char *extra)
{
	int n = snprintf(msgbuf, sizeof(msgbuf),
			 "SIP/2.0 %d X\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKreg\r\n"
			 "From: <sip:acct@127.0.0.4>;tag=1\r\nTo: <sip:acct@127.0.0.4>\r\n"
			 "Call-ID: r\r\nCSeq: 1 REGISTER\r\n%sContent-Length: 0\r\n\r\n",
			 status, extra);

	if (sip_msg_parse(&msg, hdrs, 32, msgbuf, (size_t)n, false, NULL) != 0)
		return NULL;
	return &msg;
}

static void test_register(void)
{
	struct trunk_state *st = NULL;
	struct trunk_msg mm;
	struct trunk_event ev;
	struct trunk_secrets sec;
	int line;

	CHECK_INT(setup(&st), 0);
	{
		struct trunk_tick tk;
		trunk_state_tick(st, &tk, 1000, 1, false);
		CHECK_INT(tk.nreg, 1);
	}
	/* no credentials: failed, said once */
	CHECK_INT(trunk_state_register(st, &mm, &ev, 2, 1000), ENOENT);
	CHECK(ev.kind && strcmp(ev.kind, TRUNK_EVENT_PEER_REGISTER_FAILED) == 0);
	CHECK_INT(trunk_state_register(st, &mm, &ev, 2, 1000), ENOENT);
	CHECK(ev.kind == NULL);
	CHECK_INT(trunk_secrets_parse(&sec, "[carrier]\nusername = acct\npassword = pw-1\n", &line,
				      err, sizeof(err)), 0);
	trunk_state_set_secrets(st, &sec);
	CHECK(sec.n == 0);
	CHECK_INT(trunk_state_register(st, &mm, &ev, 2, 1000), 0);
	CHECK(strncmp(mm.buf, "REGISTER sip:127.0.0.4:5080 SIP/2.0\r\n", 37) == 0);
	CHECK(strstr(mm.buf, "From: <sip:acct@127.0.0.4>") != NULL);
	CHECK(strstr(mm.buf, "Authorization") == NULL);
	/* a challenge it cannot answer (another realm): failed */
	CHECK(!trunk_state_reg_response(st, &mm, &ev, 2,
					response(401, "WWW-Authenticate: Digest realm=\"x\", "
						      "nonce=\"n\"\r\n"), 2000));
	CHECK(ev.kind == NULL); /* failed already: said once */
	/* one it can: answered at once, with the nonce count 1 */
	trunk_state_done(st, 2, true);
	CHECK_INT(trunk_state_register(st, &mm, &ev, 2, 70000), 0);
	CHECK(trunk_state_reg_response(st, &mm, &ev, 2,
				       response(407, "Proxy-Authenticate: Digest "
						     "realm=\"carrier\", nonce=\"n\"\r\n"), 70000));
	CHECK(strstr(mm.buf, "Proxy-Authorization: Digest username=\"acct\", "
			     "uri=\"sip:127.0.0.4:5080\", nc=00000001\r\n") != NULL);
	CHECK(strstr(mm.buf, "CSeq: 4 REGISTER") != NULL); /* one more each: 1, 2 unanswerable, 3, 4 */
	/* 200 with a granted expiry: registered (said once) */
	CHECK(!trunk_state_reg_response(st, &mm, &ev, 2,
					response(200, "Contact: <sip:acct@127.0.0.1:5060>;"
						      "expires=120\r\n"), 70000));
	CHECK(ev.kind && strcmp(ev.kind, TRUNK_EVENT_PEER_REGISTERED) == 0);
	CHECK(strstr(ev.reason, "registered for 120 s; refreshed every 60 s") != NULL);
	/* refreshed at half the expiry, with the saved challenge */
	{
		struct trunk_tick tk;
		trunk_state_done(st, 2, true);
		trunk_state_tick(st, &tk, 70000 + 59000, 1, false);
		CHECK_INT(tk.nreg, 0);
		trunk_state_tick(st, &tk, 70000 + 60000, 1, false);
		CHECK_INT(tk.nreg, 1);
	}
	CHECK_INT(trunk_state_register(st, &mm, &ev, 2, 130000), 0);
	CHECK(strstr(mm.buf, "nc=00000002") != NULL);
	/* our answer refused (not stale): failed, the challenge dropped */
	CHECK(!trunk_state_reg_response(st, &mm, &ev, 2,
					response(401, "WWW-Authenticate: Digest "
						      "realm=\"carrier\", nonce=\"m\"\r\n"),
					130000));
	CHECK(ev.kind && strcmp(ev.kind, TRUNK_EVENT_PEER_REGISTER_FAILED) == 0);
	CHECK(strstr(ev.reason, "answered 401") != NULL);
	trunk_state_reg_timeout(st, 2, 140000, &ev);
	CHECK(ev.kind == NULL); /* failed already */
	trunk_state_free(&st);
}

static void test_secrets_text(void)
{
	struct trunk_secrets s;
	int line;

	CHECK_INT(trunk_secrets_parse(&s, "[gw1]\nusername = u\npassword = p\nrealm = r\n", &line,
				      err, sizeof(err)), 0);
	CHECK_INT(s.n, 1);
	CHECK(strcmp(trunk_secret_of(&s, "gw1")->realm, "r") == 0);
	trunk_secrets_wipe(&s);
	CHECK_INT(trunk_secrets_parse(&s, "[gw1]\nusername = u\npassword = two words\n", &line,
				      err, sizeof(err)), EINVAL);
	CHECK_INT(line, 3);
	CHECK(strstr(err, "two words") == NULL);
	CHECK(s.n == 0);
	CHECK_INT(trunk_secrets_parse(&s, "[gw1]\nusername = u\n", &line, err, sizeof(err)),
		  EINVAL);
	CHECK(strstr(err, "needs both") != NULL);
	CHECK_INT(trunk_secrets_parse(&s, "no section = x\n[", &line, err, sizeof(err)), EINVAL);
	CHECK(err[0] != '\0');
}

static char sdir[64];

/* Write the secrets file in a fresh scratch directory (mode mode). */
static int secrets_write(char *path, size_t cap, const char *text, unsigned mode)
{
	FILE *f;

	snprintf(path, cap, "%s/secrets.conf", sdir);
	unlink(path);
	if (!(f = fopen(path, "w")))
		return errno;
	fputs(text, f);
	fclose(f);
	return chmod(path, mode) == 0 ? 0 : errno;
}

/* The secrets file: absent (nothing said), loaded, unchanged, refused for
 * its mode (the old credentials stay), a line that does not parse (its
 * number, no value echoed), a section naming no peer, removed (gone, once),
 * a link (refused, once). */
static void test_secrets_file(void)
{
	struct trunk_state *st = NULL;
	enum trunk_secrets_result res;
	char path[128], link[128], said[1600];
	const struct trunk_secrets *sec;
	const struct trunk_secret *u;

	snprintf(sdir, sizeof(sdir), "/tmp/bastion-secrets-XXXXXX");
	CHECK(mkdtemp(sdir) != NULL);
	CHECK_INT(setup(&st), 0);
	snprintf(path, sizeof(path), "%s/secrets.conf", sdir);
	CHECK_INT(trunk_state_secrets_load(st, &res, path, said, sizeof(said)), 0);
	CHECK(res == TRUNK_SECRETS_SAME && said[0] == '\0');
	CHECK_INT(secrets_write(path, sizeof(path),
				"[carrier]\nusername = acct\npassword = pw-1\n[nobody]\n"
				"username = x\npassword = y\n", 0600), 0);
	CHECK_INT(trunk_state_secrets_load(st, &res, path, said, sizeof(said)), 0);
	CHECK(res == TRUNK_SECRETS_LOADED);
	CHECK(strstr(said, "secrets.conf: credentials of 2 peer(s) loaded") != NULL);
	sec = trunk_state_secrets(st);
	CHECK(sec->n == 2 && strcmp(trunk_secret_of(sec, "carrier")->password, "pw-1") == 0);
	u = trunk_secrets_unknown(sec, &tc, NULL);
	CHECK(u && strcmp(u->peer, "nobody") == 0);
	CHECK(trunk_secrets_unknown(sec, &tc, u) == NULL);
	/* unchanged: nothing */
	CHECK_INT(trunk_state_secrets_load(st, &res, path, said, sizeof(said)), 0);
	CHECK(res == TRUNK_SECRETS_SAME && said[0] == '\0');
	/* readable by others: refused, the credentials stay, said once */
	CHECK_INT(secrets_write(path, sizeof(path), "[carrier]\nusername = a\npassword = pw-2\n",
				0644), 0);
	CHECK_INT(trunk_state_secrets_load(st, &res, path, said, sizeof(said)), 0);
	CHECK(res == TRUNK_SECRETS_FAILED);
	CHECK(strstr(said, "refused: it must be a regular file of at most 65536 bytes that only "
			  "its owner may read (chmod 600)") != NULL);
	CHECK(strcmp(trunk_secret_of(trunk_state_secrets(st), "carrier")->password, "pw-1") == 0);
	CHECK_INT(trunk_state_secrets_load(st, &res, path, said, sizeof(said)), 0);
	CHECK(res == TRUNK_SECRETS_SAME);
	/* a line that does not parse: its number, never the value */
	CHECK_INT(secrets_write(path, sizeof(path), "[carrier]\nusername = a\npassword = pw 3\n",
				0600), 0);
	CHECK_INT(trunk_state_secrets_load(st, &res, path, said, sizeof(said)), 0);
	CHECK(res == TRUNK_SECRETS_FAILED);
	CHECK(strstr(said, "secrets.conf:3: [carrier] password: empty") != NULL);
	CHECK(strstr(said, "; the peer credentials stay as they were") != NULL);
	CHECK(strstr(said, "pw 3") == NULL);
	CHECK(strcmp(trunk_secret_of(trunk_state_secrets(st), "carrier")->password, "pw-1") == 0);
	/* removed: none, said once */
	CHECK(unlink(path) == 0);
	CHECK_INT(trunk_state_secrets_load(st, &res, path, said, sizeof(said)), 0);
	CHECK(res == TRUNK_SECRETS_GONE && strstr(said, "secrets.conf is gone: no peer credentials"));
	CHECK(trunk_state_secrets(st)->n == 0);
	CHECK_INT(trunk_state_secrets_load(st, &res, path, said, sizeof(said)), 0);
	CHECK(res == TRUNK_SECRETS_SAME);
	trunk_state_free(&st);
	/* a link to a good file: refused (never followed), said once */
	CHECK_INT(setup(&st), 0);
	CHECK_INT(secrets_write(path, sizeof(path), "[carrier]\nusername = a\npassword = b\n",
				0600), 0);
	snprintf(link, sizeof(link), "%s/link.conf", sdir);
	CHECK(symlink(path, link) == 0);
	CHECK_INT(trunk_state_secrets_load(st, &res, link, said, sizeof(said)), 0);
	CHECK(res == TRUNK_SECRETS_FAILED && strstr(said, ": peer credentials not loaded"));
	CHECK_INT(trunk_state_secrets_load(st, &res, link, said, sizeof(said)), 0);
	CHECK(res == TRUNK_SECRETS_SAME && trunk_state_secrets(st)->n == 0);
	trunk_state_free(&st);
	unlink(link);
	unlink(path);
	rmdir(sdir);
}

/* A refused peer certificate: the event names the peer its address
 * belongs to, or none; nothing when the count did not move. */
static void test_tls_refused(void)
{
	struct trunk_state *st = NULL;
	struct net_tls_refusal r = { .name = "gw2.example.test", .why = "name mismatch" };
	struct trunk_event ev;

	CHECK_INT(setup(&st), 0);
	CHECK(!trunk_state_tls_refused(st, &ev, 0, &r));
	CHECK_INT(addr_of(&r.addr, "udp:127.0.0.3:5071"), 0);
	CHECK(trunk_state_tls_refused(st, &ev, 1, &r));
	CHECK(ev.kind && strcmp(ev.kind, TRUNK_EVENT_PEER_TLS_REFUSED) == 0 && ev.peer == 1);
	CHECK(strcmp(ev.reason, "certificate refused (name mismatch; it must name "
				"gw2.example.test): nothing sent, calls fail over to the next peer") == 0);
	CHECK(!trunk_state_tls_refused(st, &ev, 1, &r));
	CHECK_INT(addr_of(&r.addr, "udp:127.0.0.99:5071"), 0);
	CHECK(trunk_state_tls_refused(st, &ev, 4, &r));
	CHECK(ev.kind == NULL && strstr(ev.reason, "gw2.example.test), and earlier refusals: "));
	trunk_state_free(&st);
}

/* The values trunk/ keeps equal to another layer's. */
static void test_shared_values(void)
{
	CHECK(strcmp(TRUNK_EVENT_SIPS_DOWNGRADE, POLICY_EVENT_SIPS_DOWNGRADE) == 0);
	CHECK_INT(TRUNK_PAI_MAX, POLICY_PAI_MAX + 32);
}

static int oom_outbound(void *arg)
{
	struct trunk_state *st = NULL;
	struct trunk_outbound o;
	struct trunk_alert a;
	struct trunk_call c;
	const struct sip_msg *m;
	int rc;

	(void)arg;
	if ((rc = setup(&st)) != 0)
		return rc;
	m = request("INVITE", "sip:2125550100@example.test", "o1", "");
	c = call_of(m, "alice", 1000);
	if ((rc = trunk_state_outbound(st, &o, &c)) == 0 && o.v.allow) {
		trunk_state_placed(st, &o, &c, m->call_id, &a);
		trunk_state_ended(st, "o1", "gw1", 200, 1, 1000, 1, &a);
	}
	trunk_state_free(&st);
	return rc;
}

/* A restored call with the nth allocation failing: not counted, nothing
 * leaked; when counted, its record releases it. */
static int oom_restored(void *arg)
{
	struct trunk_state *st = NULL;
	struct trunk_alert a;
	int rc;

	(void)arg;
	if ((rc = setup(&st)) != 0)
		return rc;
	if (trunk_state_restored(st, &(struct trunk_kept){ "r1", "gw1", "national", "alice",
							    false }))
		trunk_state_ended(st, "r1", "gw1", 200, 1, 1000, 1, &a);
	else
		rc = ENOMEM;
	trunk_state_free(&st);
	return rc;
}

/* Load a secrets file with the nth allocation failing. */
static int oom_secrets(void *arg)
{
	struct trunk_state *st = NULL;
	enum trunk_secrets_result res;
	char said[1600];
	int rc;

	if ((rc = setup(&st)) != 0)
		return rc;
	rc = trunk_state_secrets_load(st, &res, arg, said, sizeof(said));
	if (rc == 0 && res != TRUNK_SECRETS_LOADED)
		rc = EINVAL;
	trunk_state_free(&st);
	return rc;
}

static void test_oom(void)
{
	char path[128];

	CHECK(CHECK_OOM_SWEEP(oom_outbound, NULL, 100) > 1);
	CHECK(CHECK_OOM_SWEEP(oom_restored, NULL, 100) > 1);
	snprintf(sdir, sizeof(sdir), "/tmp/bastion-secrets-XXXXXX");
	CHECK(mkdtemp(sdir) != NULL);
	CHECK_INT(secrets_write(path, sizeof(path), "[carrier]\nusername = a\npassword = b\n",
				0600), 0);
	CHECK(CHECK_OOM_SWEEP(oom_secrets, path, 100) > 1);
	unlink(path);
	rmdir(sdir);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_outbound),    CASE(test_outbound_refusals), CASE(test_burst_hold),
		CASE(test_inbound),     CASE(test_record_values), CASE(test_bypass),
		CASE(test_store_rows),  CASE(test_restored),        CASE(test_failover),
		CASE(test_pings),       CASE(test_register),          CASE(test_secrets_text),
		CASE(test_secrets_file), CASE(test_tls_refused),      CASE(test_shared_values),
		CASE(test_oom),
	};

	return check_main("trunk_state", cases, ARRAY_SIZE(cases), argc, argv);
}
