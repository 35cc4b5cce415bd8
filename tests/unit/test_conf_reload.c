/*
 * Unit tests of conf/'s values for a reload and for the layers below it:
 * conf_reload_merge (which settings only a restart changes, the warning for
 * each group, word for word, since the system tests grep them),
 * conf_guard_same (every [guard] row that the guard reads), conf_tls
 * (the [tls] files as net/'s settings) and conf_realm.
 * Values are set through conf_set, as a file would set them.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "conf/conf.h"
#include "conf/internal.h"

/* The warnings as the server logs them (tests/system grep these). */
#define W_LISTEN "reload: listen changed; the new listeners need a restart"
#define W_RESERVE "reload: [emergency] reserved_transactions changes need a restart"
#define W_STATE "reload: database, nonce_window, nonce_table_size and max_users changes need a " \
		"restart"
#define W_METRICS "reload: [metrics] listen changed; the new listener needs a restart"
#define W_REMOTE "reload: [log] remote changed; it needs a restart"

/* The running configuration: the defaults with a metrics listener and a
 * remote log, so that changing each is a change and not a first setting. */
static bool running_conf(struct conf *c)
{
	char err[300];

	conf_defaults(c);
	return conf_set(c, "metrics", "listen", "127.0.0.1:9100", err, sizeof(err)) == 0 &&
	       conf_set(c, "log", "remote", "tls:127.0.0.1:6514", err, sizeof(err)) == 0 &&
	       conf_set(c, "log", "remote_ca", "ca.crt", err, sizeof(err)) == 0;
}

/* next starts as a byte copy of running (a file that changed nothing). */
static void copy(struct conf *next, const struct conf *running)
{
	memcpy(next, running, sizeof(*next));
}

static bool set(struct conf *c, const char *section, const char *key, const char *value)
{
	char err[300];

	if (conf_set(c, section, key, value, err, sizeof(err)) != 0) {
		fprintf(stderr, "conf_set [%s] %s = %s: %s\n", section, key, value, err);
		return false;
	}
	return true;
}

/* One restart-only setting changed alone, together with a setting a reload
 * applies ([proxy] max_dialogs): one warning, its group's, the running value
 * back, and the other change kept. Everything else equal to running. */
struct one_change {
	const char *section, *key, *value;
	int group;           /* enum conf_restart, or -1: kept silently */
	const char *warning; /* NULL when none */
};

static const struct one_change changes[] = {
	{ "server", "listen", "udp:127.0.0.1:5070", CONF_RESTART_LISTEN, W_LISTEN },
	{ "emergency", "reserved_transactions", "7", CONF_RESTART_RESERVE, W_RESERVE },
	{ "store", "database", "other.db", CONF_RESTART_STATE, W_STATE },
	{ "auth", "nonce_window", "4096", CONF_RESTART_STATE, W_STATE },
	{ "auth", "nonce_table_size", "1024", CONF_RESTART_STATE, W_STATE },
	{ "auth", "max_users", "77", CONF_RESTART_STATE, W_STATE },
	{ "metrics", "listen", "127.0.0.1:9200", CONF_RESTART_METRICS, W_METRICS },
	{ "metrics", "tls", "yes", -1, NULL },
	{ "log", "remote", "tls:127.0.0.1:6515", CONF_RESTART_REMOTE, W_REMOTE },
	{ "log", "remote_queue_size", "512", -1, NULL },
};

static void test_each_group_alone(void)
{
	struct conf running, next;
	struct conf_reload r;

	CHECK(running_conf(&running));
	for (size_t i = 0; i < ARRAY_SIZE(changes); i++) {
		const struct one_change *t = &changes[i];

		copy(&next, &running);
		CHECK(set(&next, t->section, t->key, t->value));
		CHECK(set(&next, "proxy", "max_dialogs", "123"));
		CHECK(memcmp(&next, &running, sizeof(next)) != 0);
		memset(&r, 0x5a, sizeof(r));
		conf_reload_merge(&next, &running, &r);
		if (t->warning) {
			CHECK_INT(r.nwarnings, 1);
			CHECK_INT(r.changed, 1u << t->group);
			if (strcmp(r.warning[0], t->warning) != 0) {
				check_fail(__FILE__, __LINE__, "[%s] %s: warning \"%s\", want \"%s\"",
					   t->section, t->key, r.warning[0], t->warning);
				return;
			}
		} else {
			CHECK_INT(r.nwarnings, 0);
			CHECK_INT(r.changed, 0);
		}
		/* the reloadable change stays; with it and the origins put back,
		 * next is running again byte for byte: the restart-only value came
		 * back and nothing else moved */
		CHECK_INT(next.max_dialogs, 123);
		next.max_dialogs = running.max_dialogs;
		memcpy(next.origin, running.origin, sizeof(next.origin));
		if (memcmp(&next, &running, sizeof(next)) != 0) {
			check_fail(__FILE__, __LINE__, "[%s] %s: the running value was not kept",
				   t->section, t->key);
			return;
		}
	}
}

/* The derived fields come back with their setting: the parsed listeners,
 * the metrics address, the remote host and port. */
static void test_parsed_values_kept(void)
{
	struct conf running, next;
	struct conf_reload r;

	CHECK(running_conf(&running));
	copy(&next, &running);
	CHECK(set(&next, "server", "listen", "udp:127.0.0.1:5070"));
	CHECK(set(&next, "metrics", "listen", "127.0.0.1:9200"));
	CHECK(set(&next, "log", "remote", "tls:127.0.0.2:6515"));
	CHECK_INT(next.nlisteners, 1);
	CHECK_INT(net_addr_port(&next.metrics_addr), 9200);
	CHECK_INT(next.remote_port, 6515);
	conf_reload_merge(&next, &running, &r);
	CHECK_INT(next.nlisteners, running.nlisteners);
	CHECK_INT(next.nlisteners, 3);
	CHECK(memcmp(next.listeners, running.listeners, sizeof(next.listeners)) == 0);
	CHECK_INT(net_addr_port(&next.metrics_addr), 9100);
	CHECK_INT(next.remote_port, 6514);
	CHECK(strcmp(next.remote_host, "127.0.0.1") == 0);
}

/* Every group at once: every warning, in the order of the groups. */
static void test_all_groups(void)
{
	static const char *const want[] = { W_LISTEN, W_RESERVE, W_STATE, W_METRICS, W_REMOTE };
	struct conf running, next;
	struct conf_reload r;

	CHECK(running_conf(&running));
	copy(&next, &running);
	CHECK(set(&next, "log", "remote", "tls:127.0.0.1:6515"));
	CHECK(set(&next, "metrics", "listen", "127.0.0.1:9200"));
	CHECK(set(&next, "auth", "max_users", "77"));
	CHECK(set(&next, "store", "database", "other.db"));
	CHECK(set(&next, "emergency", "reserved_transactions", "7"));
	CHECK(set(&next, "server", "listen", "tcp:127.0.0.1:5070"));
	conf_reload_merge(&next, &running, &r);
	CHECK_INT(r.nwarnings, ARRAY_SIZE(want));
	CHECK_INT(r.changed, (1u << CONF_RESTART__COUNT) - 1);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		CHECK(strcmp(r.warning[i], want[i]) == 0);
	memcpy(next.origin, running.origin, sizeof(next.origin));
	CHECK(memcmp(&next, &running, sizeof(next)) == 0);
}

/* A file that changed nothing, or only what a reload applies: no warning. */
static void test_nothing_to_restart(void)
{
	struct conf running, next;
	struct conf_reload r;

	CHECK(running_conf(&running));
	copy(&next, &running);
	conf_reload_merge(&next, &running, &r);
	CHECK_INT(r.nwarnings, 0);
	CHECK_INT(r.changed, 0);
	CHECK(memcmp(&next, &running, sizeof(next)) == 0);

	CHECK(set(&next, "guard", "rate", "99"));
	CHECK(set(&next, "log", "security_log", "other.log"));
	CHECK(set(&next, "registrar", "max_expires", "7200"));
	conf_reload_merge(&next, &running, &r);
	CHECK_INT(r.nwarnings, 0);
	CHECK_INT(r.changed, 0);
	CHECK_INT(next.rate, 99);
	CHECK(strcmp(next.security_log, "other.log") == 0);
	CHECK_INT(next.max_expires, 7200);
}

/* A value of row `row` other than c's (valid for the row). */
static const char *other_value(const struct conf_row *row, const struct conf *c, char *buf,
			       size_t cap)
{
	uint32_t v;

	if (row->type == CONF_CIDRS)
		return "192.0.2.0/24";
	if (row->type == CONF_WORDS)
		return "sipvicious,friendly-scanner,probe";
	memcpy(&v, (const char *)c + row->offset, sizeof(v));
	snprintf(buf, cap, "%u", v == row->min ? row->min + 1 : row->min);
	return buf;
}

/* Every row of [guard] but overload_delay (the server's, not the guard's)
 * makes the guard's settings differ, alone and in either direction; a
 * change elsewhere does not. */
static void test_guard_same(void)
{
	struct conf a, b;
	char buf[32];
	size_t rows = 0;

	conf_defaults(&a);
	copy(&b, &a);
	CHECK(conf_guard_same(&a, &b));
	CHECK(set(&b, "proxy", "max_dialogs", "123"));
	CHECK(set(&b, "guard", "overload_delay", "999"));
	CHECK(conf_guard_same(&a, &b));
	for (size_t i = 0; i < conf_rows_count(); i++) {
		const struct conf_row *row = conf_row_at(i);

		if (strcmp(row->section, "guard") != 0 || strcmp(row->key, "overload_delay") == 0)
			continue;
		rows++;
		copy(&b, &a);
		CHECK(set(&b, "guard", row->key, other_value(row, &a, buf, sizeof(buf))));
		if (conf_guard_same(&a, &b) || conf_guard_same(&b, &a)) {
			check_fail(__FILE__, __LINE__, "[guard] %s changed, the guard's settings same",
				   row->key);
			return;
		}
	}
	CHECK_INT(rows, 19);
}

/* conf_tls: [tls] as net/'s settings, the files resolved against the state
 * directory (an absolute path kept), the optional ones only when set. */
static void test_tls(void)
{
	static struct conf_tls t; /* 6.6 KB of paths */
	struct conf c;
	char err[300] = "";

	conf_defaults(&c);
	CHECK(set(&c, "tls", "certificate", "/etc/bastion/pbx.crt"));
	CHECK(set(&c, "tls", "verify_client", "optional"));
	CHECK(set(&c, "tls", "ticket_lifetime", "77"));
	CHECK(set(&c, "tls", "crl", "revoked.pem"));
	memset(&t, 0x5a, sizeof(t));
	CHECK_INT(conf_tls(&t, &c, "/var/lib/bastion", err, sizeof(err)), 0);
	CHECK(strcmp(t.tc.cert_file, "/etc/bastion/pbx.crt") == 0);
	CHECK(strcmp(t.tc.key_file, "/var/lib/bastion/server.key") == 0);
	CHECK(strcmp(t.tc.ca_file, "/var/lib/bastion/ca.crt") == 0);
	CHECK(strcmp(t.tc.crl_file, "/var/lib/bastion/revoked.pem") == 0);
	CHECK_INT(t.tc.verify, NET_TLS_VERIFY_OPTIONAL);
	CHECK_INT(t.tc.ticket_lifetime_s, 77);
	CHECK(t.tc.passphrase == NULL);
	CHECK(t.tc.passphrase_file == NULL);
	CHECK(t.tc.peer_ca_file == NULL);

	CHECK(set(&c, "tls", "verify_client", "require"));
	CHECK(set(&c, "tls", "ca", ""));
	CHECK(set(&c, "tls", "crl", ""));
	CHECK(set(&c, "tls", "key_passphrase_file", "key.pass"));
	CHECK(set(&c, "tls", "peer_ca", "/etc/ssl/peers.pem"));
	CHECK_INT(conf_tls(&t, &c, "state", err, sizeof(err)), 0);
	CHECK_INT(t.tc.verify, NET_TLS_VERIFY_REQUIRE);
	CHECK(t.tc.ca_file == NULL);
	CHECK(t.tc.crl_file == NULL);
	CHECK(strcmp(t.tc.passphrase_file, "state/key.pass") == 0);
	CHECK(strcmp(t.tc.peer_ca_file, "/etc/ssl/peers.pem") == 0);
	CHECK(set(&c, "tls", "verify_client", "none"));
	CHECK_INT(conf_tls(&t, &c, "state", err, sizeof(err)), 0);
	CHECK_INT(t.tc.verify, NET_TLS_VERIFY_NONE);

	/* a state directory so long that a path does not fit: each named */
	{
		static char state[1200];

		memset(state, 'd', 1095); /* a file name of 4 bytes or more does not fit */
		state[1095] = '\0';
		conf_defaults(&c);
		CHECK_INT(conf_tls(&t, &c, state, err, sizeof(err)), ENAMETOOLONG);
		CHECK(strcmp(err, "TLS file path too long") == 0);
		/* the main files absolute: then the peers' CAs, then the passphrase */
		CHECK(set(&c, "tls", "certificate", "/c.crt"));
		CHECK(set(&c, "tls", "key", "/c.key"));
		CHECK(set(&c, "tls", "ca", "/ca.crt"));
		CHECK(set(&c, "tls", "crl", "crl.pem")); /* too long: left out */
		CHECK_INT(conf_tls(&t, &c, state, err, sizeof(err)), 0);
		CHECK(t.tc.crl_file == NULL);
		CHECK(set(&c, "tls", "peer_ca", "peers.pem"));
		CHECK_INT(conf_tls(&t, &c, state, err, sizeof(err)), ENAMETOOLONG);
		CHECK(strcmp(err, "TLS peer_ca path too long") == 0);
		CHECK(set(&c, "tls", "peer_ca", "/peers.pem"));
		CHECK(set(&c, "tls", "key_passphrase_file", "key.pass"));
		CHECK_INT(conf_tls(&t, &c, state, err, sizeof(err)), ENAMETOOLONG);
		CHECK(strcmp(err, "TLS passphrase file path too long") == 0);
	}
}

static void test_realm(void)
{
	struct conf c;

	conf_defaults(&c);
	CHECK(set(&c, "server", "domain", "example.org"));
	CHECK(strcmp(conf_realm(&c), "example.org") == 0);
	CHECK(set(&c, "auth", "realm", "pbx.example.org"));
	CHECK(strcmp(conf_realm(&c), "pbx.example.org") == 0);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_each_group_alone), CASE(test_parsed_values_kept), CASE(test_all_groups),
		CASE(test_nothing_to_restart), CASE(test_guard_same),      CASE(test_realm),
		CASE(test_tls),
	};

	return check_main("conf_reload", cases, ARRAY_SIZE(cases), argc, argv);
}
