/*
 * Unit tests of each layer's reading of its own settings (LAYER/settings.c):
 * registrar_conf_from, auth_site_conf_from, proxy_conf_from,
 * metrics_conf_from, txn_conf_from and store_durability_from. Every value is
 * set through conf_set, as a file would, each to a value unlike the others
 * and unlike its default, so a field read from the wrong setting shows.
 */
#include <string.h>

#include "check.h"
#include "auth/auth.h"
#include "conf/conf.h"
#include "metrics/metrics.h"
#include "proxy/proxy.h"
#include "registrar/registrar.h"
#include "store/store.h"
#include "txn/txn.h"

struct kv {
	const char *section, *key, *value;
};

/* c: the defaults with every row of kv set. */
static bool conf_with(struct conf *c, const struct kv *kv, size_t n)
{
	char err[300];

	conf_defaults(c);
	for (size_t i = 0; i < n; i++)
		if (conf_set(c, kv[i].section, kv[i].key, kv[i].value, err, sizeof(err)) != 0) {
			fprintf(stderr, "[%s] %s = %s: %s\n", kv[i].section, kv[i].key, kv[i].value,
				err);
			return false;
		}
	return true;
}

static bool set(struct conf *c, const char *section, const char *key, const char *value)
{
	char err[300];

	if (conf_set(c, section, key, value, err, sizeof(err)) != 0) {
		fprintf(stderr, "[%s] %s = %s: %s\n", section, key, value, err);
		return false;
	}
	return true;
}

static void test_registrar(void)
{
	static const struct kv kv[] = {
		{ "registrar", "min_expires", "61" },   { "registrar", "max_expires", "7201" },
		{ "registrar", "default_expires", "3599" }, { "registrar", "max_contacts", "9" },
		{ "registrar", "max_bindings", "12345" }, { "registrar", "flow_grace", "33" },
		{ "store", "batch_max", "17" },        { "store", "queue_max", "4321" },
		{ "store", "durability", "none" },
	};
	struct conf c;
	struct registrar_conf rc;

	CHECK(conf_with(&c, kv, ARRAY_SIZE(kv)));
	memset(&rc, 0x5a, sizeof(rc));
	registrar_conf_from(&rc, &c);
	CHECK_INT(rc.min_expires, 61);
	CHECK_INT(rc.max_expires, 7201);
	CHECK_INT(rc.default_expires, 3599);
	CHECK_INT(rc.max_contacts, 9);
	CHECK_INT(rc.max_bindings, 12345);
	CHECK_INT(rc.flow_grace, 33);
	CHECK_INT(rc.batch_max, 17);
	CHECK_INT(rc.queue_max, 4321);
	CHECK(rc.write_behind == true);
	/* only durability none answers before the commit */
	CHECK(conf_with(&c, kv, ARRAY_SIZE(kv) - 1));
	registrar_conf_from(&rc, &c);
	CHECK(rc.write_behind == false);
	CHECK_INT(c.durability, CONF_DURABLE_PROCESS);
	c.durability = CONF_DURABLE_POWER;
	registrar_conf_from(&rc, &c);
	CHECK(rc.write_behind == false);
}

static void test_auth_site(void)
{
	static const struct kv kv[] = {
		{ "server", "domain", "example.org" }, { "auth", "nonce_lifetime", "77" },
		{ "auth", "uri_check", "relaxed" },   { "auth", "algorithms", "MD5,SHA-256" },
		{ "auth", "nonce_window", "5000" },   { "auth", "nonce_table_size", "999" },
	};
	const struct slice own[2] = { SLICE_LIT("127.0.0.1:5060"), SLICE_LIT("[::1]:5060") };
	struct conf c;
	struct auth_site_conf ac;

	CHECK(conf_with(&c, kv, ARRAY_SIZE(kv)));
	memset(&ac, 0x5a, sizeof(ac));
	auth_site_conf_from(&ac, &c, own, 2);
	CHECK_SLICE(ac.realm, "example.org"); /* no [auth] realm: the domain */
	CHECK_INT(ac.nonce_lifetime_s, 77);
	CHECK_INT(ac.uri_mode, AUTH_URI_RELAXED);
	CHECK_INT(ac.nalgos, 2);
	CHECK_INT(ac.algos[0], AUTH_ALGO_MD5);
	CHECK_INT(ac.algos[1], AUTH_ALGO_SHA256);
	CHECK(ac.own_addrs == own);
	CHECK_INT(ac.n_own_addrs, 2);
	CHECK_INT(ac.nonce_window, 5000);
	CHECK_INT(ac.nonce_table_size, 999);

	conf_defaults(&c);
	CHECK(set(&c, "auth", "realm", "pbx.example.org"));
	auth_site_conf_from(&ac, &c, NULL, 0);
	CHECK_SLICE(ac.realm, "pbx.example.org");
	CHECK_INT(ac.uri_mode, AUTH_URI_STRICT);
	CHECK_INT(ac.nalgos, 2); /* the default order: SHA-256, then MD5 */
	CHECK_INT(ac.algos[0], AUTH_ALGO_SHA256);
	CHECK_INT(ac.algos[1], AUTH_ALGO_MD5);
	CHECK(ac.own_addrs == NULL);
	CHECK_INT(ac.n_own_addrs, 0);
}

static void test_proxy(void)
{
	static const struct kv kv[] = {
		{ "server", "domain", "example.org" },
		{ "server", "listen", "udp:127.0.0.1:5070,tls:[::1]:5071" },
		{ "auth", "realm", "pbx.example.org" },   { "proxy", "max_dialogs", "321" },
		{ "proxy", "invite_timeout", "45" },     { "emergency", "reserved_dialogs", "3" },
		{ "policy", "media", "srtp-required" },  { "limits", "max_headers", "41" },
		{ "limits", "max_body", "2222" },        { "store", "queue_max", "4321" },
	};
	struct conf c;
	struct proxy_conf pc;

	CHECK(conf_with(&c, kv, ARRAY_SIZE(kv)));
	memset(&pc, 0x5a, sizeof(pc));
	proxy_conf_from(&pc, &c);
	CHECK_INT(pc.max_dialogs, 321);
	CHECK_INT(pc.reserved_dialogs, 3);
	CHECK_INT(pc.invite_timeout_s, 45);
	CHECK(pc.srtp_required == true);
	CHECK(strcmp(pc.realm, "pbx.example.org") == 0);
	CHECK_INT(pc.nlisteners, 2);
	CHECK_INT(pc.listeners[0].tp, NET_UDP);
	CHECK_INT(net_addr_port(&pc.listeners[0].addr), 5070);
	CHECK_INT(pc.listeners[1].tp, NET_TLS);
	CHECK_INT(pc.listeners[1].addr.ss.ss_family, AF_INET6);
	CHECK_INT(net_addr_port(&pc.listeners[1].addr), 5071);
	CHECK_INT(pc.lim.max_headers, 41);
	CHECK_INT(pc.lim.max_body, 2222);
	CHECK(memcmp(&pc.lim, &c.lim, sizeof(pc.lim)) == 0);
	CHECK_INT(pc.hold_max, 4321);

	conf_defaults(&c);
	CHECK(set(&c, "server", "domain", "example.net"));
	proxy_conf_from(&pc, &c);
	CHECK(strcmp(pc.realm, "example.net") == 0); /* no [auth] realm: the domain */
	CHECK(pc.srtp_required == false);
}

static void test_metrics(void)
{
	static const struct kv kv[] = {
		{ "metrics", "listen", "127.0.0.1:9123" },     { "metrics", "max_request", "777" },
		{ "metrics", "timeout", "9" },                { "metrics", "max_connections", "5" },
		{ "metrics", "tls", "yes" },
	};
	struct conf c;
	struct metrics_conf mc;

	CHECK(conf_with(&c, kv, ARRAY_SIZE(kv)));
	memset(&mc, 0x5a, sizeof(mc));
	metrics_conf_from(&mc, &c);
	CHECK(memcmp(&mc.addr, &c.metrics_addr, sizeof(mc.addr)) == 0);
	CHECK_INT(net_addr_port(&mc.addr), 9123);
	CHECK_INT(mc.max_request, 777);
	CHECK_INT(mc.timeout_ms, 9000);
	CHECK_INT(mc.max_connections, 5);
	CHECK_INT(mc.max_response, 4u << 20);
	/* the files are the caller's to resolve, tls or not */
	CHECK(mc.cert_file == NULL && mc.key_file == NULL && mc.client_ca == NULL);
}

static void test_txn(void)
{
	static const struct kv kv[] = {
		{ "proxy", "max_transactions", "4444" },
		{ "emergency", "reserved_transactions", "55" },
	};
	const struct txn_conf def = TXN_CONF_DEFAULT;
	struct conf c;
	struct txn_conf tc;

	CHECK(conf_with(&c, kv, ARRAY_SIZE(kv)));
	memset(&tc, 0x5a, sizeof(tc));
	txn_conf_from(&tc, &c);
	CHECK_INT(tc.max_transactions, 4444);
	CHECK_INT(tc.reserve, 55);
	CHECK_INT(tc.t1_ms, def.t1_ms);
	CHECK_INT(tc.t2_ms, def.t2_ms);
	CHECK_INT(tc.t4_ms, def.t4_ms);
	CHECK_INT(tc.t1_ms, 500);
}

static void test_store_durability(void)
{
	static const char *const names[] = { "process", "power", "none" };
	static const enum store_durability want[] = { STORE_DURABLE_PROCESS, STORE_DURABLE_POWER,
						      STORE_DURABLE_PROCESS };
	struct conf c;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		conf_defaults(&c);
		CHECK(set(&c, "store", "durability", names[i]));
		CHECK_INT(store_durability_from(&c), want[i]);
	}
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_registrar), CASE(test_auth_site), CASE(test_proxy),
		CASE(test_metrics),   CASE(test_txn),       CASE(test_store_durability),
	};

	return check_main("settings", cases, ARRAY_SIZE(cases), argc, argv);
}
