/*
 * Unit tests of conf/: defaults, loading, every kind of refusal with its
 * file:line, the initial file and the reference generated from the table.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "conf/conf.h"
#include "conf/internal.h"

static char tmpdir[] = "/tmp/bastion-conf-XXXXXX";
static char path[256];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

/* Load `text`; returns rc, copies the error message into err. */
static int load(const char *text, struct conf *c, char *err, size_t errlen)
{
	write_file(text);
	return conf_load(c, path, err, errlen);
}

static void test_defaults(void)
{
	struct conf c;

	conf_defaults(&c);
	CHECK(strcmp(c.domain, "localhost") == 0);
	CHECK_INT(c.nlisteners, 3);
	CHECK_INT(c.listeners[0].tp, NET_UDP);
	CHECK_INT(c.listeners[1].tp, NET_TCP);
	CHECK_INT(c.listeners[2].tp, NET_TLS);
	CHECK_INT(net_addr_port(&c.listeners[2].addr), 5061);
	CHECK(strcmp(c.tls_certificate, "server.crt") == 0);
	CHECK(strcmp(c.tls_key, "server.key") == 0);
	CHECK(strcmp(c.tls_ca, "ca.crt") == 0);
	CHECK(c.tls_key_passphrase_file[0] == '\0');
	CHECK_INT(c.tls_verify_client, CONF_TLS_VERIFY_NONE);
	CHECK_INT(c.tls_ticket_lifetime, 3600);
	CHECK_INT(c.lim.max_message, SIP_LIMITS_DEFAULT.max_message);
	CHECK_INT(c.lim.max_headers, SIP_LIMITS_DEFAULT.max_headers);
	CHECK_INT(c.lim.max_header_line, SIP_LIMITS_DEFAULT.max_header_line);
	CHECK_INT(c.lim.max_uri, SIP_LIMITS_DEFAULT.max_uri);
	CHECK_INT(c.lim.max_body, SIP_LIMITS_DEFAULT.max_body);
	CHECK(c.server_header[0] == '\0'); /* no software banner by default */
	CHECK_INT(c.log_level, CONF_LOG_INFO);
}

static void test_load_good(void)
{
	struct conf c;
	char err[600];

	CHECK_INT(load("; comment\n[server]\ndomain = example.org\n"
		       "listen = udp:[::1]:5070\nserver_header = Bastion\n"
		       "[limits]\nmax_headers = 50\n[tcp]\nheader_timeout=2\n[log]\nlevel=debug\n",
		       &c, err, sizeof(err)),
		  0);
	CHECK(strcmp(c.domain, "example.org") == 0);
	CHECK_INT(c.nlisteners, 1);
	CHECK_INT(c.listeners[0].tp, NET_UDP);
	CHECK(strcmp(c.server_header, "Bastion") == 0);
	CHECK_INT(c.lim.max_headers, 50);
	CHECK_INT(c.header_timeout, 2);
	CHECK_INT(c.log_level, CONF_LOG_DEBUG);
	/* untouched keys keep their defaults */
	CHECK_INT(c.lim.max_uri, 1024);
}

/* Each refusal names the file and the line and leaves *c untouched. */
static void expect_refused(const char *text, const char *line_tag, const char *words)
{
	struct conf c;
	char err[600], want[300];

	memset(&c, 0x5a, sizeof(c));
	CHECK_INT(load(text, &c, err, sizeof(err)), EINVAL);
	snprintf(want, sizeof(want), "%s:%s: ", path, line_tag);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, words)) {
		check_fail(__FILE__, __LINE__, "error \"%s\" lacks \"%s\" or \"%s\"", err, want,
			   words);
		return;
	}
	CHECK((unsigned char)c.domain[0] == 0x5a);
}

static void test_refusals(void)
{
	expect_refused("[server]\nnosuchkey = 1\n", "2", "unknown key \"nosuchkey\"");
	expect_refused("[nosection]\na = 1\n", "2", "unknown section [nosection]");
	expect_refused("[limits]\n\nmax_headers = 0\n", "3", "from 8 to 1000");
	expect_refused("[limits]\nmax_headers = 1001\n", "2", "from 8 to 1000");
	expect_refused("[limits]\nmax_headers = -5\n", "2", "not a whole number");
	expect_refused("[limits]\nmax_headers = 99999999999999999999\n", "2", "not a whole number");
	expect_refused("[limits]\nmax_headers = 10x\n", "2", "not a whole number");
	expect_refused("[limits]\nmax_headers = 10\nmax_headers = 11\n", "3", "set twice");
	expect_refused("[server]\nlisten = udp:1.2.3:5060\n", "2", "listen:");
	expect_refused("[server]\nlisten = sctp:127.0.0.1:5060\n", "2", "listen:");
	expect_refused("[server]\ndomain = bad domain\n", "2", "not a host name");
	expect_refused("[log]\nlevel = loud\n", "2", "not one of the allowed values");
	expect_refused("[server]\njunk line\n", "2", "syntax error");
	expect_refused("[tls]\nverify_client = maybe\n", "2", "not one of the allowed values");
	expect_refused("[tls]\nticket_lifetime = 86401\n", "2", "from 0 to 86400");
	expect_refused("[tls]\nkey_passphrase = secret\n", "2", "unknown key");
}

/* The route tables, [routes] and [emergency_routes], which share their
 * shape: every refusal of each, word for word, with its line. */
static void test_route_tables(void)
{
	static const char peer[] = "[peer gw1]\naddress = udp:127.0.0.2:5060\n";
	char text[2048], *p;
	size_t n;

	/* [routes] */
	snprintf(text, sizeof(text), "%s[routes]\n44 = gw1\n", peer);
	expect_refused(text, "4", "route pattern \"44\" does not parse (\"+\" then digits or X)");
	snprintf(text, sizeof(text), "%s[routes]\n+1 = gw1\n+1 = gw1\n", peer);
	expect_refused(text, "5", "route +1 is set twice");
	p = text + snprintf(text, sizeof(text), "%s[routes]\n", peer);
	for (int i = 0; i <= 32; i++)
		p += snprintf(p, sizeof(text) - (size_t)(p - text), "+%d = gw1\n", 10 + i);
	expect_refused(text, "36", "more than 32 routes");
	snprintf(text, sizeof(text), "%s[routes]\n+1 = gw1,\n", peer);
	expect_refused(text, "4", "an empty or too long item in \"gw1,\"");
	snprintf(text, sizeof(text), "%s[routes]\n+1 = a, b, c, d, e, f, g, h, i\n", peer);
	expect_refused(text, "4", "route +1: too many peers or a name too long");
	snprintf(text, sizeof(text), "%s[routes]\n+1 = %040d\n", peer, 0);
	expect_refused(text, "4", "route +1: too many peers or a name too long");
	snprintf(text, sizeof(text), "%s[routes]\n+1 = gw1, gw9\n", peer);
	expect_refused(text, "4", "route +1: unknown peer \"gw9\"");

	/* [emergency_routes] */
	snprintf(text, sizeof(text), "%s[emergency_routes]\n+911 = gw1\n", peer);
	expect_refused(text, "4", "emergency route \"+911\": an emergency number (digits) from "
		       "[emergency] numbers");
	snprintf(text, sizeof(text), "%s[emergency_routes]\n123456789 = gw1\n", peer);
	expect_refused(text, "4", "emergency route \"123456789\": an emergency number");
	snprintf(text, sizeof(text), "%s[emergency_routes]\n911 = gw1\n911 = gw1\n", peer);
	expect_refused(text, "5", "emergency route 911 is set twice");
	p = text + snprintf(text, sizeof(text), "%s[emergency_routes]\n", peer);
	for (n = 0; n <= 8; n++)
		p += snprintf(p, sizeof(text) - (size_t)(p - text), "%zu = gw1\n", 100 + n);
	expect_refused(text, "12", "more than 8 emergency routes");
	snprintf(text, sizeof(text), "%s[emergency_routes]\n911 = gw1, , gw1\n", peer);
	expect_refused(text, "4", "emergency route 911: empty or overlong peer name");
	snprintf(text, sizeof(text), "%s[emergency_routes]\n911 = %040d\n", peer, 0);
	expect_refused(text, "4", "emergency route 911: empty or overlong peer name");
	snprintf(text, sizeof(text), "%s[emergency_routes]\n911 = a, b, c, d, e, f, g, h, i\n",
		 peer);
	expect_refused(text, "4", "emergency route 911: more than 8 peers");
	snprintf(text, sizeof(text), "%s[emergency_routes]\n911 =\n", peer);
	expect_refused(text, "4", "emergency route 911 names no peer");
	snprintf(text, sizeof(text), "%s[emergency_routes]\n911 = gw1, gw9\n", peer);
	expect_refused(text, "4", "emergency route 911: unknown peer \"gw9\"");
	snprintf(text, sizeof(text), "%s[emergency_routes]\n999 = gw1\n", peer);
	expect_refused(text, "4", "emergency route 999: not one of [emergency] numbers");
}

static void test_tls_settings(void)
{
	struct conf c;
	char err[600];

	CHECK_INT(load("[tls]\ncertificate = /etc/bastion/pbx.crt\nkey = pbx.key\n"
		       "verify_client = optional\nticket_lifetime = 0\n"
		       "key_passphrase_file = pass.txt\n",
		       &c, err, sizeof(err)),
		  0);
	CHECK(strcmp(c.tls_certificate, "/etc/bastion/pbx.crt") == 0);
	CHECK(strcmp(c.tls_key, "pbx.key") == 0);
	CHECK(strcmp(c.tls_ca, "ca.crt") == 0);
	CHECK(strcmp(c.tls_key_passphrase_file, "pass.txt") == 0);
	CHECK_INT(c.tls_verify_client, CONF_TLS_VERIFY_OPTIONAL);
	CHECK_INT(c.tls_ticket_lifetime, 0);
	CHECK_INT(load("[tls]\nverify_client = require\n", &c, err, sizeof(err)), 0);
	CHECK_INT(c.tls_verify_client, CONF_TLS_VERIFY_REQUIRE);
}

static void test_missing_file(void)
{
	struct conf c;
	char err[600];

	CHECK_INT(conf_load(&c, "/nonexistent/bastion.conf", err, sizeof(err)), ENOENT);
	CHECK(strstr(err, "/nonexistent/bastion.conf") != NULL);
}

/* The file init writes loads back to the defaults plus domain and listen. */
static void test_initial_round_trip(void)
{
	struct conf c, d;
	char err[600];
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	CHECK_INT(conf_write_initial(f, "pbx.example.com", "tcp:127.0.0.2:5080", CONF_PROFILE_MINIMUM), 0);
	fclose(f);
	CHECK_INT(conf_load(&c, path, err, sizeof(err)), 0);
	conf_defaults(&d);
	CHECK(strcmp(c.domain, "pbx.example.com") == 0);
	CHECK(strcmp(c.listen, "tcp:127.0.0.2:5080") == 0);
	CHECK_INT(c.lim.max_message, d.lim.max_message);
	CHECK_INT(c.idle_timeout, d.idle_timeout);
}

/* Every setting appears in the reference; spot-check a few rows. */
static void test_reference(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	conf_write_reference(f);
	fclose(f);
	CHECK(strstr(buf, "### [limits]") != NULL);
	CHECK(strstr(buf, "| `max_headers` | `100` | 8 to 1000 fields |") != NULL);
	CHECK(strstr(buf, "| `server_header` | `(empty)` |") != NULL);
	CHECK(strstr(buf, "| `level` | `info` | error, warn, info, debug |") != NULL);
	free(buf);
}

static void test_net_conf(void)
{
	struct conf c;
	struct net_conf nc;

	conf_defaults(&c);
	c.idle_timeout = 7;
	c.header_timeout = 3;
	conf_net(&c, &nc);
	CHECK_INT(nc.idle_timeout_ms, 7000);
	CHECK_INT(nc.header_timeout_ms, 3000);
	CHECK_INT(nc.max_connections, c.max_connections);
	CHECK_INT(nc.lim.max_body, c.lim.max_body);
}

/* A profile sets its column's defaults; the file still wins; origins say which. */
/* The table assembled from each layer's rows: within CONF_MAX_SETTINGS (the
 * origins are indexed by row), every section in one run (the reference and
 * bastion.conf print a section's heading where the section changes), no key
 * twice, and every row reachable by index. */
static void test_rows_assembled(void)
{
	size_t n = conf_rows_count();

	CHECK(n > 100);
	CHECK(n <= CONF_MAX_SETTINGS);
	CHECK(conf_row_at(n) == NULL);
	for (size_t i = 0; i < n; i++) {
		const struct conf_row *r = conf_row_at(i);

		CHECK(r != NULL && r->section && r->key && r->def && r->help);
		for (size_t j = 0; j < i; j++) {
			const struct conf_row *q = conf_row_at(j);

			CHECK(strcmp(q->section, r->section) != 0 || strcmp(q->key, r->key) != 0);
			/* an earlier row of the same section: every row between is of it too */
			if (strcmp(q->section, r->section) == 0)
				CHECK(strcmp(conf_row_at(i - 1)->section, r->section) == 0);
		}
	}
}

static void test_profiles(void)
{
	struct conf c;
	char err[600];
	enum conf_profile p;

	CHECK_INT(load("[server]\nprofile = highest\n[policy]\nsignaling = any\n", &c, err,
		       sizeof(err)), 0);
	CHECK_INT(c.profile, CONF_PROFILE_HIGHEST);
	CHECK_INT(c.signaling, CONF_SIGNALING_ANY);       /* the file wins */
	CHECK_INT(c.media, CONF_MEDIA_SRTP);              /* the profile */
	CHECK_INT(c.tls_verify_client, CONF_TLS_VERIFY_REQUIRE);
	CHECK(strcmp(c.algorithms, "SHA-256") == 0);
	CHECK_INT(c.nonce_lifetime, 60);
	CHECK_INT(c.max_contacts, 10);                    /* no profile value: default */

	/* conf_show names each origin */
	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		conf_show(f, &c);
		fclose(f);
		CHECK(strstr(buf, "signaling = any    ; file\n") != NULL);
		CHECK(strstr(buf, "media = srtp-required    ; profile highest\n") != NULL);
		CHECK(strstr(buf, "max_contacts = 10    ; default\n") != NULL);
		CHECK(strstr(buf, "profile = highest    ; file\n") != NULL);
		free(buf);
	}

	CHECK_INT(load("[server]\nprofile = medium\n", &c, err, sizeof(err)), 0);
	CHECK_INT(c.signaling, CONF_SIGNALING_TLS);
	CHECK_INT(c.media, CONF_MEDIA_ANY);
	CHECK_INT(c.tls_verify_client, CONF_TLS_VERIFY_OPTIONAL);
	CHECK(strcmp(c.algorithms, "SHA-256,MD5") == 0);

	/* no profile line: minimum, which is the plain defaults */
	CHECK_INT(load("[server]\ndomain = a.example\n", &c, err, sizeof(err)), 0);
	CHECK_INT(c.profile, CONF_PROFILE_MINIMUM);
	CHECK_INT(c.signaling, CONF_SIGNALING_ANY);
	CHECK_INT(c.tls_verify_client, CONF_TLS_VERIFY_NONE);

	CHECK_INT(load("[server]\nprofile = maximum\n", &c, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, ":2: profile") != NULL);

	/* every profile's values are valid, and the initial file of each loads
	 * back to the same settings */
	for (unsigned i = 0; i < CONF_PROFILE__COUNT; i++) {
		struct conf a, b;
		FILE *f = fopen(path, "w");

		CHECK(conf_profile_parse(conf_profile_name(i), &p) == 0 && p == i);
		conf_defaults(&a);
		a.profile = i;
		conf_apply_profile(&a);
		CHECK_INT(conf_write_initial(f, "localhost", a.listen, p), 0);
		fclose(f);
		CHECK_INT(conf_load(&b, path, err, sizeof(err)), 0);
		CHECK_INT(b.profile, i);
		CHECK_INT(b.signaling, a.signaling);
		CHECK_INT(b.media, a.media);
		CHECK_INT(b.tls_verify_client, a.tls_verify_client);
		CHECK_INT(b.nonce_lifetime, a.nonce_lifetime);
	}
	CHECK(conf_profile_name(CONF_PROFILE__COUNT) == NULL);
	CHECK_INT(conf_profile_parse("Highest", &p), EINVAL);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_defaults),   CASE(test_load_good),        CASE(test_refusals),
		CASE(test_missing_file), CASE(test_initial_round_trip), CASE(test_reference),
		CASE(test_net_conf),   CASE(test_tls_settings),      CASE(test_profiles),
		CASE(test_rows_assembled), CASE(test_route_tables),
	};
	int rc;

	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(path, sizeof(path), "%s/bastion.conf", tmpdir);
	rc = check_main("conf", cases, ARRAY_SIZE(cases), argc, argv);
	unlink(path);
	rmdir(tmpdir);
	return rc;
}
