/*
 * test_net_addr: the listen-list parser (valid lists and every refusal) and
 * address formatting; where a UDP response goes (net_reply_addr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "check.h"
#include "net/net.h"

static struct net_listen_spec specs[NET_MAX_LISTEN];
static size_t nspecs;
static char err[256];

static int parse(const char *list)
{
	nspecs = 99;
	return net_listen_parse(specs, NET_MAX_LISTEN, &nspecs, list, err, sizeof(err));
}

static void test_parse_valid(void)
{
	char buf[96];

	CHECK_INT(parse("udp:127.0.0.1:5060,tcp:127.0.0.1:5060,udp:[::1]:5060"), 0);
	CHECK_INT(nspecs, 3);
	CHECK_INT(specs[0].tp, NET_UDP);
	CHECK_INT(specs[1].tp, NET_TCP);
	CHECK_INT(specs[2].tp, NET_UDP);
	CHECK_INT(specs[0].addr.ss.ss_family, AF_INET);
	CHECK_INT(specs[2].addr.ss.ss_family, AF_INET6);
	CHECK_INT(specs[0].addr.len, sizeof(struct sockaddr_in));
	CHECK_INT(specs[2].addr.len, sizeof(struct sockaddr_in6));
	CHECK(strcmp(net_addr_fmt(buf, sizeof(buf), specs[2].tp, &specs[2].addr),
		     "udp:[::1]:5060") == 0);
	CHECK(strcmp(net_addr_fmt(buf, sizeof(buf), specs[1].tp, &specs[1].addr),
		     "tcp:127.0.0.1:5060") == 0);
}

static void test_parse_defaults(void)
{
	char buf[96];

	CHECK_INT(parse("udp:10.0.0.1,tcp:[2001:db8::1],tls:0.0.0.0,TCP:1.2.3.4:65535"), 0);
	CHECK_INT(nspecs, 4);
	CHECK_INT(net_addr_port(&specs[0].addr), 5060);
	CHECK_INT(net_addr_port(&specs[1].addr), 5060);
	CHECK_INT(specs[2].tp, NET_TLS);
	CHECK_INT(net_addr_port(&specs[2].addr), 5061);
	CHECK_INT(net_addr_port(&specs[3].addr), 65535);
	CHECK(strcmp(net_addr_fmt(buf, sizeof(buf), specs[1].tp, &specs[1].addr),
		     "tcp:[2001:db8::1]:5060") == 0);
	/* Same address on different transports is not a duplicate. */
	CHECK_INT(parse("udp:1.2.3.4:5060,tcp:1.2.3.4:5060,udp:1.2.3.4:5061"), 0);
	CHECK_INT(nspecs, 3);
}

static void check_err(const char *list, const char *want)
{
	int rc = parse(list);

	if (rc != EINVAL || strstr(err, want) == NULL)
		check_fail(__FILE__, __LINE__, "list \"%s\": rc %d err \"%s\", want \"%s\"", list,
			   rc, err, want);
}

static void test_parse_errors(void)
{
	char many[2048] = "";

	check_err("udp:1.2.3:5060", "\"udp:1.2.3:5060\": bad IPv4 address");
	check_err("", "empty");
	check_err("udp:1.2.3.4,,tcp:1.2.3.4", "empty element");
	check_err("udp:1.2.3.4,", "empty element");
	check_err(",udp:1.2.3.4", "empty element");
	check_err("sctp:1.2.3.4", "\"sctp:1.2.3.4\": unknown transport");
	check_err("1.2.3.4", "\"1.2.3.4\"");
	check_err("udp:1.2.3.4:0", "bad port");
	check_err("udp:1.2.3.4:65536", "bad port");
	check_err("udp:1.2.3.4:", "bad port");
	check_err("udp:1.2.3.4:50x", "bad port");
	check_err("udp:1.2.3.4:-1", "bad port");
	check_err("udp:[::1", "missing ']'");
	check_err("udp:[::1]x", "expected ':' after ']'");
	check_err("udp:[1.2.3.4]:5060", "bad IPv6 address");
	check_err("udp:[zz::1]:5060", "bad IPv6 address");
	check_err("udp:::1", "\"udp:::1\": IPv6 address needs brackets");
	check_err("tcp:fe80::1:5060", "brackets");
	check_err("udp:", "bad IPv4 address");
	check_err("udp:example.com:5060", "\"udp:example.com:5060\": bad IPv4 address");
	check_err("udp:1.2.3.4:5060,tcp:1.1.1.1,udp:1.2.3.4", "\"udp:1.2.3.4\": duplicate");
	check_err("udp:[::1]:5060,udp:[0::1]", "duplicate");
	for (int i = 0; i <= NET_MAX_LISTEN; i++) {
		char one[40];

		snprintf(one, sizeof(one), "%sudp:127.0.0.1:%d", i ? "," : "", 5000 + i);
		strcat(many, one);
	}
	check_err(many, "more than 16");
	CHECK(net_listen_parse(specs, 2, &nspecs, "udp:1.1.1.1,udp:1.1.1.2,udp:1.1.1.3", err,
			       sizeof(err)) == EINVAL);
	CHECK(strstr(err, "\"udp:1.1.1.3\"") != NULL);
}

static void test_addr_format(void)
{
	struct net_addr a = { .len = sizeof(struct sockaddr_in) };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;
	char host[INET6_ADDRSTRLEN], buf[96];

	s4->sin_family = AF_INET;
	s4->sin_port = htons(5080);
	inet_pton(AF_INET, "192.0.2.7", &s4->sin_addr);
	net_addr_host(&a, host, sizeof(host));
	CHECK(strcmp(host, "192.0.2.7") == 0);
	CHECK_INT(net_addr_port(&a), 5080);
	CHECK(strcmp(net_addr_fmt(buf, sizeof(buf), NET_TLS, &a), "tls:192.0.2.7:5080") == 0);
	/* Truncation stays NUL-terminated. */
	net_addr_fmt(buf, 8, NET_UDP, &a);
	CHECK(strcmp(buf, "udp:192") == 0);
	memset(&a, 0, sizeof(a));
	net_addr_host(&a, host, sizeof(host));
	CHECK(host[0] == '\0');
	CHECK_INT(net_addr_port(&a), 0);
	CHECK(strcmp(net_transport_name(NET_UDP), "udp") == 0);
	CHECK(strcmp(net_transport_name(NET_TCP), "tcp") == 0);
	CHECK(strcmp(net_transport_name(NET_TLS), "tls") == 0);
}

/* The dotted quad written without inet_ntop says what inet_ntop says: every
 * value of every byte, and a walk through the rest; a small buffer falls
 * back to inet_ntop's own checks (nothing written past cap). */
static void test_ipv4_text_as_inet_ntop(void)
{
	struct net_addr a = { .len = sizeof(struct sockaddr_in) };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;
	char host[INET6_ADDRSTRLEN], want[INET_ADDRSTRLEN], small[8];
	uint32_t x = 0x12345678u;

	s4->sin_family = AF_INET;
	for (unsigned pos = 0; pos < 4; pos++) {
		for (unsigned v = 0; v < 256; v++) {
			unsigned char b[4] = { 10, 0, 0, 1 };

			b[pos] = (unsigned char)v;
			memcpy(&s4->sin_addr, b, 4);
			net_addr_host(&a, host, sizeof(host));
			inet_ntop(AF_INET, &s4->sin_addr, want, sizeof(want));
			CHECK(strcmp(host, want) == 0);
		}
	}
	for (int i = 0; i < 10000; i++) {
		x = x * 1103515245u + 12345u;
		s4->sin_addr.s_addr = x;
		net_addr_host(&a, host, sizeof(host));
		inet_ntop(AF_INET, &s4->sin_addr, want, sizeof(want));
		CHECK(strcmp(host, want) == 0);
	}
	inet_pton(AF_INET, "255.255.255.255", &s4->sin_addr);
	net_addr_host(&a, host, 16);
	CHECK(strcmp(host, "255.255.255.255") == 0);
	net_addr_host(&a, small, sizeof(small));
	CHECK(small[0] == '\0');
}

/* net_msg_from_text: net_addr_fmt's text back, both families; junk and an
 * absent local address leave those empty; never a socket. */
static void test_msg_from_text(void)
{
	struct net_msg w;
	char text[64];

	net_msg_from_text(&w, "tls:[2001:db8::7]:5061", "tls:[2001:db8::1]:5061");
	CHECK_INT(w.tp, NET_TLS);
	CHECK_INT(w.udp_fd, -1);
	CHECK(w.conn == NULL);
	CHECK(strcmp(net_addr_fmt(text, sizeof(text), w.tp, &w.src), "tls:[2001:db8::7]:5061") == 0);
	CHECK(strcmp(net_addr_fmt(text, sizeof(text), w.tp, &w.local), "tls:[2001:db8::1]:5061") ==
	      0);
	net_msg_from_text(&w, "udp:192.0.2.4:5070", NULL);
	CHECK_INT(w.tp, NET_UDP);
	CHECK(strcmp(net_addr_fmt(text, sizeof(text), w.tp, &w.src), "udp:192.0.2.4:5070") == 0);
	CHECK_INT(w.local.ss.ss_family, 0);
	net_msg_from_text(&w, "udp:host.example:5060", "bogus");
	CHECK_INT(w.src.ss.ss_family, 0);
	CHECK_INT(w.local.ss.ss_family, 0);
	CHECK_INT(w.udp_fd, -1);
	net_msg_from_text(&w, "", "");
	CHECK_INT(w.src.ss.ss_family, 0);
}

/* An address from the listen-list syntax, e.g. "udp:192.0.2.7:6000". */
static struct net_addr addr_of(const char *spec)
{
	struct net_listen_spec one[1];
	size_t n = 0;

	if (net_listen_parse(one, 1, &n, spec, err, sizeof(err)) != 0 || n != 1)
		abort();
	return one[0].addr;
}

/* Where a UDP response goes: the packet's source address always; the
 * source port with rport, else the Via's port, else 5060 (RFC 3581, RFC
 * 3261 18.2.2). The Via host and maddr are never followed. */
static void test_reply_addr(void)
{
	struct net_addr src = addr_of("udp:192.0.2.7:6000"), dst;
	struct sip_via via = { 0 };
	char host[INET6_ADDRSTRLEN];

	via.host = SLICE_LIT("203.0.113.9");
	via.maddr = SLICE_LIT("203.0.113.10");
	via.has_maddr = true;
	via.port = 5070;
	via.has_port = true;
	via.has_rport = true;
	net_reply_addr(&dst, &src, &via);
	net_addr_host(&dst, host, sizeof(host));
	CHECK(strcmp(host, "192.0.2.7") == 0);
	CHECK_INT(net_addr_port(&dst), 6000);
	CHECK_INT(dst.len, src.len);
	via.has_rport = false;
	net_reply_addr(&dst, &src, &via);
	net_addr_host(&dst, host, sizeof(host));
	CHECK(strcmp(host, "192.0.2.7") == 0);
	CHECK_INT(net_addr_port(&dst), 5070);
	via.has_port = false;
	net_reply_addr(&dst, &src, &via);
	CHECK_INT(net_addr_port(&dst), 5060);
	src = addr_of("udp:[2001:db8::5]:7000");
	net_reply_addr(&dst, &src, &via);
	net_addr_host(&dst, host, sizeof(host));
	CHECK(strcmp(host, "2001:db8::5") == 0);
	CHECK_INT(net_addr_port(&dst), 5060);
	via.has_rport = true;
	net_reply_addr(&dst, &src, &via);
	CHECK_INT(net_addr_port(&dst), 7000);
}

/* net_listen_has: whether any listener uses a transport. */
static void test_listen_has(void)
{
	CHECK_INT(parse("udp:127.0.0.1:5060,tcp:127.0.0.1:5060"), 0);
	CHECK(net_listen_has(specs, nspecs, NET_UDP));
	CHECK(net_listen_has(specs, nspecs, NET_TCP));
	CHECK(!net_listen_has(specs, nspecs, NET_TLS));
	CHECK_INT(parse("udp:127.0.0.1:5060,tcp:127.0.0.1:5060,tls:[::1]:5061"), 0);
	CHECK(net_listen_has(specs, nspecs, NET_TLS));
	CHECK(!net_listen_has(specs, 2, NET_TLS)); /* only the first n count */
	CHECK(!net_listen_has(specs, 0, NET_UDP));
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_parse_valid),
		CASE(test_parse_defaults),
		CASE(test_parse_errors),
		CASE(test_addr_format),
		CASE(test_ipv4_text_as_inet_ntop),
		CASE(test_msg_from_text),
		CASE(test_reply_addr),
		CASE(test_listen_has),
	};

	return check_main("net_addr", cases, ARRAY_SIZE(cases), argc, argv);
}
