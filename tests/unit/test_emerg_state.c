/*
 * test_emerg_state: struct emerg_state without a network. The bucket past
 * the guard; the decision on an emergency INVITE (beyond us, max_calls,
 * one at a time per caller or per address, the route's targets in order,
 * no peer); the calls counted until their record, a refused call's record
 * marked, a restored call counted again; where the caller is (its own
 * location, its phone's network, the INVITE's source) and the callback
 * number; the body with the PIDF-LO and the headers; the on-site MESSAGE.
 */
#include "check.h"
#include "emerg/emerg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct trunk_conf tc;
static struct emerg_conf ec;
static struct net_listen_spec listeners[2];
static char err[256];
static int refused_port;

static int way(void *arg, const struct trunk_peer *p, const struct net_listen_spec *a,
	       struct net_msg *w)
{
	(void)arg;
	(void)p;
	memset(w, 0, sizeof(*w));
	w->tp = a->tp;
	return net_addr_port(&a->addr) == refused_port ? ECONNREFUSED : 0;
}

static int addr_of(struct net_addr *a, const char *spec)
{
	struct net_listen_spec l;
	size_t n;
	int rc = net_listen_parse(&l, 1, &n, spec, err, sizeof(err));

	if (rc == 0)
		*a = l.addr;
	return rc;
}

static int tset(const char *sec, const char *k, const char *v)
{
	return trunk_conf_set(&tc, sec, k, v, 1, err, sizeof(err));
}

static int eset(const char *sec, const char *k, const char *v)
{
	return emerg_conf_set(&ec, sec, k, v, 1, err, sizeof(err));
}

/* psap1 (two addresses) and psap2 on 911's route, a gateway; the hq
 * network 127.0.0.0/24 with an ELIN; alice's DID. */
static int setup(struct emerg_state **st)
{
	unsigned line;
	struct emerg_env env = { &ec, &tc, "example.test", way, NULL, listeners, 2 };
	size_t nl;

	if (net_listen_parse(listeners, 2, &nl, "udp:127.0.0.1:5060,tcp:127.0.0.1:5061", err,
			     sizeof(err)) != 0 || nl != 2)
		return EINVAL;
	trunk_conf_init(&tc);
	memset(&ec, 0, sizeof(ec));
	emerg_conf_init(&ec);
	refused_port = 0;
	if (tset("peer psap1", "address", "udp:127.0.0.2:5060, tcp:127.0.0.2:5061") ||
	    tset("peer psap2", "address", "udp:127.0.0.3:5060") ||
	    tset("peer gw", "address", "udp:127.0.0.5:5060") ||
	    tset("dids", "+15551230001", "alice") || trunk_conf_check(&tc, &line, err, sizeof(err)))
		return EINVAL;
	snprintf(ec.numbers_text, sizeof(ec.numbers_text), "911, 112");
	ec.max_calls = 2;
	ec.rate = 2;
	if (eset("emergency_routes", "911", "psap1, psap2") ||
	    eset("location hq", "prefix", "127.0.0.0/24") || eset("location hq", "A3", "Springfield") ||
	    eset("location hq", "ELIN", "+15551230099") ||
	    emerg_conf_check(&ec, &tc, &line, err, sizeof(err)))
		return EINVAL;
	return emerg_state_new(st, &env);
}

static void test_admit(void)
{
	struct emerg_state *st = NULL;
	const char *inv = "INVITE sip:911@example.test SIP/2.0\r\n";
	const char *other = "INVITE sip:bob@example.test SIP/2.0\r\n";
	int passed = 0;

	CHECK_INT(setup(&st), 0);
	CHECK(!emerg_state_admit(st, other, strlen(other), 1000));
	/* rate 2 a second, a burst of twice that */
	for (int i = 0; i < 10; i++)
		passed += emerg_state_admit(st, inv, strlen(inv), 1000);
	CHECK_INT(passed, 4);
	CHECK(emerg_state_admit(st, inv, strlen(inv), 1600));
	emerg_state_free(&st);
	CHECK(st == NULL);
}

static void test_decide(void)
{
	struct emerg_state *st = NULL;
	struct emerg_decision d;
	struct net_addr src;
	bool down[TRUNK_MAX_PEERS] = { false };

	CHECK_INT(setup(&st), 0);
	CHECK_INT(addr_of(&src, "udp:127.0.0.9:5062"), 0);
	emerg_state_decide(st, &d, 0, slice_cstr("alice"), &src, true, down);
	CHECK_INT(d.status, 403);
	/* 911: psap1's two addresses, then psap2, then the gateway */
	emerg_state_decide(st, &d, 0, slice_cstr("alice"), &src, false, down);
	CHECK_INT(d.status, 0);
	CHECK_INT(d.n, 4);
	CHECK_INT(d.first, 0);
	CHECK(strcmp(d.who, "u:alice") == 0);
	CHECK(strcmp(d.t[0].contact, "sip:911@127.0.0.2:5060;user=phone") == 0);
	CHECK(strcmp(d.t[1].contact, "sip:911@127.0.0.2:5061;user=phone;transport=tcp") == 0);
	CHECK(strcmp(d.t[2].label, "psap2") == 0);
	/* psap1 down: psap2 first */
	down[0] = true;
	emerg_state_decide(st, &d, 0, slice_cstr("alice"), &src, false, down);
	CHECK_INT(d.first, 1);
	down[0] = false;
	/* one at a time per caller; an unauthenticated one by its address */
	emerg_state_add(st, slice_cstr("e1"), "u:alice");
	emerg_state_decide(st, &d, 0, slice_cstr("alice"), &src, false, down);
	CHECK_INT(d.status, 486);
	emerg_state_decide(st, &d, 0, SLICE_NULL, &src, false, down);
	CHECK_INT(d.status, 0);
	CHECK(strcmp(d.who, "a:127.0.0.9") == 0);
	emerg_state_add(st, slice_cstr("e2"), d.who);
	/* max_calls 2 */
	emerg_state_decide(st, &d, 0, slice_cstr("bob"), &src, false, down);
	CHECK_INT(d.status, 503);
	CHECK(strcmp(d.reason, "Emergency Capacity Reached") == 0);
	CHECK(d.event == NULL);
	/* a record releases the call; only an emergency one does */
	CHECK(emerg_state_has(st, slice_cstr("e1")));
	CHECK(!emerg_state_ended(st, "e1", false));
	CHECK_INT(emerg_state_calls(st), 2);
	CHECK(!emerg_state_ended(st, "e1", true));
	CHECK_INT(emerg_state_calls(st), 1);
	CHECK(!emerg_state_has(st, slice_cstr("e1")));
	/* no reachable peer: 503, event emergency.no_peer with what to do */
	refused_port = 5060;
	tc.peer[0].naddr = 1;
	emerg_state_decide(st, &d, 0, slice_cstr("bob"), &src, false, down);
	CHECK_INT(d.status, 503);
	CHECK(d.event && strcmp(d.event, EMERG_EVENT_NO_PEER) == 0);
	CHECK(d.event_detail && strstr(d.event_detail, "[emergency_routes]"));
	emerg_state_free(&st);
}

static void test_records(void)
{
	struct emerg_state *st = NULL;

	CHECK_INT(setup(&st), 0);
	/* a refused call's record is marked, once, and counts nothing */
	emerg_state_refusing(st, true);
	CHECK(emerg_state_ended(st, "r1", false));
	CHECK(!emerg_state_ended(st, "r2", false));
	emerg_state_refusing(st, false);
	/* restored after a restart: counted again, by user or by address */
	emerg_state_restored(st, "k1", "alice", "udp:127.0.0.9:5060");
	emerg_state_restored(st, "k2", "", "udp:127.0.0.8:5060");
	emerg_state_restored(st, "k2", "", "udp:127.0.0.8:5060");
	CHECK_INT(emerg_state_calls(st), 2);
	{
		struct emerg_decision d;
		struct net_addr src;
		bool down[TRUNK_MAX_PEERS] = { false };
		CHECK_INT(addr_of(&src, "udp:127.0.0.8:5062"), 0);
		ec.max_calls = 5;
		emerg_state_decide(st, &d, 0, SLICE_NULL, &src, false, down);
		CHECK_INT(d.status, 486);
	}
	emerg_state_forget(st, "k1");
	emerg_state_forget(st, "nothing");
	CHECK_INT(emerg_state_calls(st), 1);
	emerg_state_free(&st);
}

static void test_locate(void)
{
	struct emerg_state *st = NULL;
	struct emerg_civic civ;
	struct net_addr in, reg, far;
	char elin[TRUNK_NUM_MAX];

	CHECK_INT(setup(&st), 0);
	CHECK_INT(addr_of(&in, "udp:10.9.9.9:5060"), 0);
	CHECK_INT(addr_of(&reg, "udp:127.0.0.7:5060"), 0);
	CHECK_INT(addr_of(&far, "udp:10.8.8.8:5060"), 0);
	/* the user's own location, with the network's ELIN */
	CHECK(strcmp(emerg_locate(&ec, "country=US;A3=Shelbyville;RD=Main Street", &reg, &in, &civ,
				  elin, sizeof(elin)), "user") == 0);
	CHECK(strcmp(civ.f[EMERG_A3], "Shelbyville") == 0);
	CHECK(strcmp(elin, "+15551230099") == 0);
	/* none: the network its phone registered from */
	CHECK(strcmp(emerg_locate(&ec, "", &reg, &in, &civ, elin, sizeof(elin)), "network") == 0);
	CHECK(strcmp(civ.f[EMERG_A3], "Springfield") == 0);
	/* not registered from a known network, nor sent from one */
	CHECK(strcmp(emerg_locate(&ec, NULL, &far, &in, &civ, elin, sizeof(elin)), "none") == 0);
	CHECK(elin[0] == '\0');
	/* not registered: the INVITE's source */
	CHECK(strcmp(emerg_locate(&ec, "junk;;", NULL, &reg, &civ, elin, sizeof(elin)), "network") ==
	      0);
	emerg_state_free(&st);
}

static void test_compose(void)
{
	struct emerg_state *st = NULL;
	struct emerg_civic civ;
	struct emerg_send o;
	struct net_addr reg;
	char elin[TRUNK_NUM_MAX], buf[2048], branch[64], aor[64];
	struct net_msg w;
	const char *how;
	size_t len;

	CHECK_INT(setup(&st), 0);
	CHECK_INT(addr_of(&reg, "udp:127.0.0.7:5060"), 0);
	how = emerg_locate(&ec, NULL, &reg, &reg, &civ, elin, sizeof(elin));
	/* alice: her DID calls back; the body carries the SDP and the PIDF-LO */
	CHECK_INT(emerg_state_compose(st, &o, 0, slice_cstr("alice"), how, &civ, elin,
				      slice_cstr("application/sdp"), slice_cstr("v=0\r\n"), 5000,
				      1700000000), 0);
	CHECK(strncmp(o.ctype, "multipart/mixed;boundary=", 25) == 0);
	CHECK(o.body_len > 0 && memmem(o.body, o.body_len, "Springfield", 11) != NULL);
	CHECK(memmem(o.body, o.body_len, "v=0", 3) != NULL);
	CHECK(strstr(o.extra, "Geolocation: <cid:loc1.1388@example.test>\r\n") != NULL);
	CHECK(strstr(o.extra, "Geolocation-Routing: no\r\n") != NULL);
	CHECK(strstr(o.extra, "P-Asserted-Identity: <tel:+15551230001>\r\n") != NULL);
	CHECK(strstr(o.extra, "Priority: emergency\r\n") != NULL);
	CHECK(strstr(o.loc_text, "Springfield") != NULL);
	CHECK(strstr(o.detail, "number 911; callback +15551230001; location (network)") != NULL);
	CHECK(strstr(o.notify, "EMERGENCY CALL to 911 by alice at 2023-11-14T22:13:20Z") != NULL);
	emerg_send_fini(&o);
	/* an unauthenticated device nowhere known: no body, no callback */
	how = emerg_locate(&ec, NULL, NULL, &(struct net_addr){ 0 }, &civ, elin, sizeof(elin));
	CHECK_INT(emerg_state_compose(st, &o, 1, SLICE_NULL, how, &civ, elin,
				      slice_cstr("application/sdp"), SLICE_NULL, 6000, 1700000000),
		  0);
	CHECK(o.ctype[0] == '\0' && o.body_len == 0 && o.callback == NULL);
	CHECK(strcmp(o.extra, "Priority: emergency\r\n") == 0);
	CHECK(strstr(o.notify, "by an unauthenticated device") != NULL);
	/* the MESSAGE to a phone of the notify user */
	/* the MESSAGE to a phone of the notify user, with our sent-by of the
	 * way's transport and family */
	w = (struct net_msg){ .tp = NET_TCP };
	CHECK_INT(addr_of(&w.src, "udp:127.0.0.9:5999"), 0);
	CHECK_INT(emerg_state_notify(st, buf, sizeof(buf), &len, branch, "sip:ops@127.0.0.6:5060",
				     &w, "sip:ops@example.test", o.notify), 0);
	CHECK(strncmp(buf, "MESSAGE sip:ops@127.0.0.6:5060 SIP/2.0\r\nVia: SIP/2.0/TCP "
			   "127.0.0.1:5061;branch=z9hG4bKemerg", 78) == 0);
	CHECK(strstr(buf, branch) != NULL);
	CHECK(len == strlen(buf) && strstr(buf, o.notify) != NULL);
	w.tp = NET_UDP;
	CHECK_INT(emerg_state_notify(st, buf, 64, &len, branch, "sip:ops@127.0.0.6", &w,
				     "sip:ops@example.test", o.notify), EOVERFLOW);
	/* no listener of ours for TLS: nothing built */
	w.tp = NET_TLS;
	CHECK_INT(emerg_state_notify(st, buf, sizeof(buf), &len, branch, "sip:ops@127.0.0.6", &w,
				     "sip:ops@example.test", o.notify), ENOENT);
	/* the notify user's AOR */
	CHECK_INT(emerg_state_aor(st, aor, sizeof(aor), &len, slice_cstr("ops")), 0);
	CHECK(strcmp(aor, "sip:ops@example.test") == 0 && len == strlen(aor));
	CHECK_INT(emerg_state_aor(st, aor, sizeof(aor), &len, SLICE_NULL), EOVERFLOW);
	CHECK_INT(emerg_state_aor(st, aor, 12, &len, slice_cstr("ops")), EOVERFLOW);
	emerg_send_fini(&o);
	emerg_state_free(&st);
}

/* Who the caller is after the authentication step, and the number as
 * dialed for the record. */
static void test_caller(void)
{
	struct sip_uri u = { 0 };
	char d[8];

	struct emerg_caller_verdict v;

	emerg_conf_init(&ec);
	ec.allow_unauthenticated = false;
	emerg_caller_decide(&v, &ec, true, false);
	CHECK(v.who == EMERG_CALLER_USER && !v.auth_event && !v.refused);
	/* no credentials: the challenge, no event; wrong ones: emergency.refused */
	emerg_caller_decide(&v, &ec, false, false);
	CHECK(v.who == EMERG_CALLER_REFUSE && !v.auth_event && !v.refused);
	emerg_caller_decide(&v, &ec, false, true);
	CHECK(v.who == EMERG_CALLER_REFUSE && !v.auth_event && v.refused &&
	      strstr(v.refused, "allow_unauthenticated = no"));
	ec.allow_unauthenticated = true;
	emerg_caller_decide(&v, &ec, true, false);
	CHECK(v.who == EMERG_CALLER_USER && !v.auth_event && !v.refused);
	/* a device: connected; wrong credentials are still recorded */
	emerg_caller_decide(&v, &ec, false, false);
	CHECK(v.who == EMERG_CALLER_DEVICE && !v.auth_event && !v.refused);
	emerg_caller_decide(&v, &ec, false, true);
	CHECK(v.who == EMERG_CALLER_DEVICE && v.auth_event && !v.refused);
	u.user = slice_cstr("911");
	emerg_dialed(d, sizeof(d), &u);
	CHECK(strcmp(d, "911") == 0);
	u.user = slice_cstr("1234567"); /* fits with its NUL */
	emerg_dialed(d, sizeof(d), &u);
	CHECK(strcmp(d, "1234567") == 0);
	u.user = slice_cstr("12345678"); /* does not: none */
	emerg_dialed(d, sizeof(d), &u);
	CHECK(d[0] == '\0');
	u.user = SLICE_NULL;
	emerg_dialed(d, sizeof(d), &u);
	CHECK(d[0] == '\0');
}

static int oom_call(void *arg)
{
	struct emerg_state *st = NULL;
	struct emerg_civic civ;
	struct emerg_send o;
	struct net_addr reg;
	char elin[TRUNK_NUM_MAX];
	const char *how;
	int rc;

	(void)arg;
	if ((rc = setup(&st)) != 0)
		return rc;
	if ((rc = addr_of(&reg, "udp:127.0.0.7:5060")) == 0) {
		how = emerg_locate(&ec, NULL, &reg, &reg, &civ, elin, sizeof(elin));
		rc = emerg_state_compose(st, &o, 0, slice_cstr("alice"), how, &civ, elin,
					 slice_cstr("application/sdp"), slice_cstr("v=0\r\n"), 1, 1);
		emerg_send_fini(&o);
		emerg_state_add(st, slice_cstr("c1"), "u:alice");
		(void)emerg_state_ended(st, "c1", true);
	}
	emerg_state_free(&st);
	return rc;
}

static void test_oom(void)
{
	CHECK(CHECK_OOM_SWEEP(oom_call, NULL, 50) > 1);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_admit),  CASE(test_decide),  CASE(test_records),
		CASE(test_locate), CASE(test_compose), CASE(test_caller), CASE(test_oom),
	};

	return check_main("emerg_state", cases, ARRAY_SIZE(cases), argc, argv);
}
