/*
 * admin/peer: `bastion peer list | show NAME | add NAME ... | del NAME` and
 * `bastion firewall` (docs/trunks.md).
 *
 * Peers live in bastion.conf ([peer NAME] sections), so the file stays the
 * one place an administrator reads and diffs. add and del rewrite it: the new
 * text is written beside it, loaded with the server's own loader (every
 * check of a real start, file:line errors included), and renamed over the
 * old file only when it loads. A running server takes the change on SIGHUP.
 *
 * firewall prints an nftables rule set for this configuration: the SIP and
 * TLS ports reached only by the peers and the phone networks ([network]
 * phones), and the phone networks kept from reaching any peer directly (the
 * SIP security paper's gateway-bypass ACL; guide, PSTN gateway, Medium and
 * High: gateway signaling only from the call server).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../conf/conf.h"
#include "../store/store.h"
#include "../trunk/trunk.h"
#include "internal.h"

static void path_of(char *buf, size_t cap, const char *state)
{
	snprintf(buf, cap, "%s/%s", state, CONF_FILE_NAME);
}

static int load(struct conf *c, const char *state)
{
	char path[4200], err[700];

	path_of(path, sizeof(path), state);
	if (conf_load(c, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: %s\n", err);
		return 1;
	}
	return 0;
}

/* A prefix as nftables wants it: host bits cleared. */
static void prefix_fmt(char *out, size_t cap, const struct trunk_prefix *p)
{
	uint8_t a[16] = { 0 };
	char host[INET6_ADDRSTRLEN];
	unsigned whole = p->bits / 8, rest = p->bits % 8;

	memcpy(a, p->addr, whole);
	if (rest)
		a[whole] = p->addr[whole] & (uint8_t)(0xff << (8 - rest));
	inet_ntop(p->family, a, host, sizeof(host));
	snprintf(out, cap, "%s/%u", host, p->bits);
}

static const char *role_name(enum trunk_role r)
{
	return r == TRUNK_ROLE_TRUNK ? "trunk" : "gateway";
}

static void addr_list(const struct trunk_peer *p, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < p->naddr && used < cap; i++) {
		char a[INET6_ADDRSTRLEN + 16];
		net_addr_fmt(a, sizeof(a), p->addr[i].tp, &p->addr[i].addr);
		used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "," : "", a);
	}
}

static int peer_list(const struct conf *c)
{
	char addrs[512];

	if (c->trunk.npeers == 0) {
		printf("no peers (add one with: bastion peer add NAME --address udp:HOST:PORT "
		       "--role gateway)\n");
		return 0;
	}
	printf("%-16s %-8s %-5s %-9s %-9s %s\n", "NAME", "ROLE", "PAI", "OUT", "IN", "ADDRESSES");
	for (size_t i = 0; i < c->trunk.npeers; i++) {
		const struct trunk_peer *p = &c->trunk.peer[i];
		addr_list(p, addrs, sizeof(addrs));
		printf("%-16s %-8s %-5s %-9u %-9u %s\n", p->name, role_name(p->role),
		       p->trust_pai ? "trust" : "strip", p->max_calls_out, p->max_calls_in, addrs);
	}
	return 0;
}

static int peer_show(const struct conf *c, const char *name)
{
	const struct trunk_conf *tc = &c->trunk;
	char addrs[512], pfx[64];

	for (size_t i = 0; i < tc->npeers; i++) {
		const struct trunk_peer *p = &tc->peer[i];
		if (strcmp(p->name, name) != 0)
			continue;
		addr_list(p, addrs, sizeof(addrs));
		printf("peer:          %s\nrole:          %s\naddresses:     %s\n", p->name,
		       role_name(p->role), addrs);
		printf("sources:      ");
		for (size_t j = 0; j < p->nsrc; j++) {
			prefix_fmt(pfx, sizeof(pfx), &p->src[j]);
			printf(" %s", pfx);
		}
		printf("\ntls name:      %s\n", p->tls_name[0] ? p->tls_name : "-");
		printf("identity:      %s\n", p->trust_pai ? "trusted (its P-Asserted-Identity kept; "
		       "ours sent)" : "untrusted (P-Asserted-Identity removed both ways)");
		printf("calls out:     at most %u at once%s\n", p->max_calls_out,
		       p->max_calls_out ? "" : " (0: no cap)");
		printf("calls in:      at most %u at once%s\n", p->max_calls_in,
		       p->max_calls_in ? "" : " (0: no cap)");
		if (p->calls_per_second)
			printf("call rate:     at most %u new calls a second each way\n",
			       p->calls_per_second);
		else
			printf("call rate:     no cap (calls_per_second 0)\n");
		printf("rewrite:       strip %u, prepend \"%s\"\n", p->strip, p->prepend);
		printf("routes:       ");
		if (tc->nroutes == 0)
			printf(" every outside number (no [routes]: all peers in file order)");
		for (size_t r = 0; r < tc->nroutes; r++)
			for (size_t k = 0; k < tc->route[r].npeers; k++)
				if (tc->route[r].peers[k] == i)
					printf(" %s (choice %zu)", tc->route[r].key, k + 1);
		printf("\n");
		return 0;
	}
	fprintf(stderr, "bastion: peer %s: no such peer\n", name);
	return 1;
}

/* ---- add and del: rewrite, load, rename ---------------------------------------- */

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* Write text as the new bastion.conf if it loads; else say why. */
static int replace_conf(const char *state, const char *text, size_t len, const char *what)
{
	char path[4200], tmp[4300], err[700];
	struct conf *c = malloc(sizeof(*c));
	struct stat st;
	FILE *f = NULL;
	int fd, rc = 1;

	path_of(path, sizeof(path), state);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if (!c)
		goto out;
	if (stat(path, &st) != 0)
		st.st_mode = 0600;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, st.st_mode & 0777);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		fprintf(stderr, "bastion: %s: %s\n", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (fwrite(text, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fprintf(stderr, "bastion: %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	if (conf_load(c, tmp, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: %s refused, bastion.conf unchanged: %s\n", what, err);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "bastion: %s: %s\n", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	if (rc)
		unlink(tmp);
	free(c);
	return rc;
}

/* A value that goes into the file: one line, printable, no comment syntax
 * (brackets are fine: IPv6 addresses; only a line's start makes a section). */
static bool safe_value(const char *v)
{
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ';' || *p == '#')
			return false;
	return *v != '\0';
}

char *admin_conf_read(const char *state, size_t *len)
{
	char path[4200];

	path_of(path, sizeof(path), state);
	return read_all(path, len);
}

int admin_conf_replace(const char *state, const char *text, size_t len, const char *what)
{
	return replace_conf(state, text, len, what);
}

char *admin_conf_drop_section(const char *text, const char *header, size_t *out_len,
			      bool *found)
{
	char *out = malloc(strlen(text) + 1), *w = out;
	bool skipping = false;

	*found = false;
	if (!out)
		return NULL;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		struct slice line = slice_trim(slice_make(p, n));

		if (line.len && line.p[0] == '[')
			skipping = slice_eq(line, slice_cstr(header));
		*found |= skipping;
		if (!skipping) {
			memcpy(w, p, n);
			w += n;
		}
		p += n;
	}
	*w = '\0';
	*out_len = (size_t)(w - out);
	return out;
}

static int peer_add(const char *state, int argc, char **argv)
{
	static const char *const opts[][2] = {
		{ "--address", "address" },     { "--role", "role" },
		{ "--trust-pai", "trust_pai" }, { "--max-calls-out", "max_calls_out" },
		{ "--max-calls-in", "max_calls_in" }, { "--sources", "sources" },
		{ "--tls-name", "tls_name" },   { "--strip", "strip" },
		{ "--prepend", "prepend" },     { "--cps", "calls_per_second" },
	};
	char path[4200], section[2048];
	size_t used, len = 0;
	const char *name;
	char *old, *text;
	int rc;

	if (argc < 3)
		return admin_usage_error("peer", "peer add: expected NAME and --address", NULL);
	name = argv[2];
	if (!safe_value(name) || strpbrk(name, " []="))
		return admin_usage_error("peer", "peer add: bad peer name", name);
	used = (size_t)snprintf(section, sizeof(section), "\n[peer %s]\n", name);
	for (int i = 3; i < argc; i++) {
		const char *v = NULL;
		size_t k;
		for (k = 0; k < ARRAY_SIZE(opts); k++)
			if ((v = admin_opt_value(argc, argv, &i, opts[k][0])) != NULL)
				break;
		if (!v)
			return admin_usage_error("peer", "peer add: unknown argument", argv[i]);
		if (!safe_value(v))
			return admin_usage_error("peer", "peer add: bad value", v);
		used += (size_t)snprintf(section + used, sizeof(section) - used, "%s = %s\n",
					 opts[k][1], v);
		if (used >= sizeof(section))
			return admin_usage_error("peer", "peer add: arguments too long", NULL);
	}
	path_of(path, sizeof(path), state);
	if (!(old = read_all(path, &len))) {
		fprintf(stderr, "bastion: %s: cannot read\n", path);
		return 1;
	}
	text = malloc(len + used + 1);
	if (!text) {
		free(old);
		return 1;
	}
	memcpy(text, old, len);
	memcpy(text + len, section, used + 1);
	rc = replace_conf(state, text, len + used, "peer add");
	if (rc == 0)
		printf("peer %s added to bastion.conf; a running server takes it on SIGHUP\n", name);
	free(old);
	free(text);
	return rc;
}

static int peer_del(const char *state, const char *name)
{
	char header[256];
	char *old, *text;
	size_t len = 0, out_len = 0;
	bool found;
	int rc;

	snprintf(header, sizeof(header), "[peer %s]", name);
	if (!(old = admin_conf_read(state, &len))) {
		fprintf(stderr, "bastion: %s/%s: cannot read\n", state, CONF_FILE_NAME);
		return 1;
	}
	if (!(text = admin_conf_drop_section(old, header, &out_len, &found))) {
		free(old);
		return 1;
	}
	if (!found) {
		fprintf(stderr, "bastion: peer %s: no such peer\n", name);
		rc = 1;
	} else {
		rc = replace_conf(state, text, out_len, "peer del");
		if (rc == 0)
			printf("peer %s removed from bastion.conf; a running server takes it on "
			       "SIGHUP\n", name);
	}
	free(old);
	free(text);
	return rc;
}

int admin_cmd_peer(const char *state, int argc, char **argv)
{
	struct conf *c;
	int rc;

	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return peer_add(state, argc, argv);
	if (argc == 3 && strcmp(argv[1], "del") == 0)
		return peer_del(state, argv[2]);
	if (!(argc == 2 && strcmp(argv[1], "list") == 0) &&
	    !(argc == 3 && strcmp(argv[1], "show") == 0))
		return admin_usage_error("peer", "peer: expected list, show NAME, add NAME ... or "
					 "del NAME", NULL);
	if (!(c = malloc(sizeof(*c))))
		return 1;
	rc = load(c, state);
	if (rc == 0)
		rc = argv[1][0] == 'l' ? peer_list(c) : peer_show(c, argv[2]);
	free(c);
	return rc;
}

/* ---- calling classes: `bastion user set NAME --calling CLASS` ------------------------- */

int admin_user_set(const char *state, int argc, char **argv)
{
	enum trunk_level lv;
	struct conf *c = NULL;
	struct store *st = NULL;
	const char *name, *cls = NULL, *stored;
	int rc = 1, e;

	if (argc < 3)
		return admin_usage_error("user", "user set: expected NAME --calling CLASS", NULL);
	name = argv[2];
	for (int i = 3; i < argc; i++)
		if (!(cls = admin_opt_value(argc, argv, &i, "--calling")))
			return admin_usage_error("user", "user set: unknown argument", argv[i]);
	if (!cls)
		return admin_usage_error("user", "user set: --calling CLASS is needed", NULL);
	if (strcmp(cls, "default") != 0 && trunk_level_parse(&lv, cls) != 0)
		return admin_usage_error("user", "user set: --calling takes internal, local, "
					 "national, international, premium or default, not", cls);
	if (!safe_value(name) || strlen(name) >= TRUNK_USER_MAX)
		return admin_usage_error("user", "user set: bad user name", name);
	stored = strcmp(cls, "default") == 0 ? "" : trunk_level_name(lv);
	if (!(c = malloc(sizeof(*c))))
		goto out;
	if (admin_open_state(c, &st, state) != 0)
		goto out;
	/* stored with the user (schema 8): every node sees it, the file is
	 * not rewritten; a [calling] line in bastion.conf is only a fallback */
	e = store_users_set_calling(st, name, c->domain, stored);
	if (e == ENOENT) {
		fprintf(stderr, "bastion: user %s@%s: no such user\n", name, c->domain);
		goto out;
	}
	if (e) {
		fprintf(stderr, "bastion: user set: %s: %s\n", strerror(e), store_errmsg(st));
		goto out;
	}
	if (stored[0])
		printf("user %s: calling class %s (stored with the user; running servers use it "
		       "within a second)\n", name, stored);
	else
		printf("user %s: calling class from bastion.conf ([calling] line, else [dialplan] "
		       "calling)\n", name);
	rc = 0;
out:
	store_close(&st);
	free(c);
	return rc;
}

/* ---- firewall -------------------------------------------------------------------------- */

/* The elements of a set of family fam: every peer's source prefixes. */
static size_t peer_elements(const struct conf *c, int fam, char *out, size_t cap)
{
	size_t used = 0, n = 0;
	char pfx[64];

	out[0] = '\0';
	for (size_t i = 0; i < c->trunk.npeers; i++) {
		const struct trunk_peer *p = &c->trunk.peer[i];
		for (size_t j = 0; j < p->nsrc && used < cap; j++) {
			if (p->src[j].family != fam)
				continue;
			prefix_fmt(pfx, sizeof(pfx), &p->src[j]);
			used += (size_t)snprintf(out + used, cap - used, "%s%s", n++ ? ", " : "", pfx);
		}
	}
	return n;
}

static size_t phone_elements(const struct conf *c, int fam, char *out, size_t cap)
{
	const char *p = c->phones;
	size_t used = 0, n = 0;

	out[0] = '\0';
	while (*p && used < cap) {
		const char *comma = strchr(p, ',');
		struct slice w = slice_trim(slice_make(p, comma ? (size_t)(comma - p) : strlen(p)));
		char one[80], pfx[64];
		struct trunk_prefix tp;

		if (w.len && w.len < sizeof(one)) {
			memcpy(one, w.p, w.len);
			one[w.len] = '\0';
			if (trunk_prefix_parse(&tp, one) == 0 && tp.family == fam) {
				prefix_fmt(pfx, sizeof(pfx), &tp);
				used += (size_t)snprintf(out + used, cap - used, "%s%s", n++ ? ", " : "",
							 pfx);
			}
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return n;
}

static void print_set(const char *name, const char *type, const char *elems, size_t n)
{
	printf("\tset %s {\n\t\ttype %s\n\t\tflags interval\n", name, type);
	if (n)
		printf("\t\telements = { %s }\n", elems);
	printf("\t}\n\n");
}

/* The ports of our listeners on transport kind (udp, or tcp for TCP and TLS). */
static size_t ports_of(const struct conf *c, bool udp, char *out, size_t cap)
{
	uint16_t seen[NET_MAX_LISTEN];
	size_t n = 0, used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < c->nlisteners; i++) {
		uint16_t port = net_addr_port(&c->listeners[i].addr);
		bool dup = false;
		if ((c->listeners[i].tp == NET_UDP) != udp)
			continue;
		for (size_t j = 0; j < n; j++)
			dup |= seen[j] == port;
		if (dup)
			continue;
		seen[n++] = port;
		used += (size_t)snprintf(out + used, cap - used, "%s%u", n > 1 ? ", " : "", port);
	}
	return n;
}

int admin_cmd_firewall(const char *state, int argc, char **argv)
{
	static const char *const sets[4][2] = {
		{ "peers4", "ipv4_addr" }, { "peers6", "ipv6_addr" },
		{ "phones4", "ipv4_addr" }, { "phones6", "ipv6_addr" },
	};
	char elems[4][8192], ports[2][128];
	size_t n[4], nports[2];
	struct conf *c;

	(void)argv;
	if (argc != 1)
		return admin_usage_error("firewall", "firewall: no arguments expected", NULL);
	if (!(c = malloc(sizeof(*c))))
		return 1;
	if (load(c, state) != 0) {
		free(c);
		return 1;
	}
	n[0] = peer_elements(c, AF_INET, elems[0], sizeof(elems[0]));
	n[1] = peer_elements(c, AF_INET6, elems[1], sizeof(elems[1]));
	n[2] = phone_elements(c, AF_INET, elems[2], sizeof(elems[2]));
	n[3] = phone_elements(c, AF_INET6, elems[3], sizeof(elems[3]));
	nports[0] = ports_of(c, true, ports[0], sizeof(ports[0]));
	nports[1] = ports_of(c, false, ports[1], sizeof(ports[1]));

	printf("#!/usr/sbin/nft -f\n"
	       "# Bastion's perimeter for %s, from %s/%s by `bastion firewall`.\n"
	       "# Load with: nft -f FILE (replaces the table inet bastion; other tables stay).\n"
	       "# - the SIP and TLS ports: the peers and the phone networks ([network] phones)\n"
	       "#   only;\n"
	       "# - phone networks never reach a peer (gateway, trunk) directly: calls go\n"
	       "#   through this server's dial plan (gateway-bypass ACL).\n\n"
	       "table inet bastion\ndelete table inet bastion\n\ntable inet bastion {\n",
	       c->domain, state, CONF_FILE_NAME);
	for (int i = 0; i < 4; i++)
		print_set(sets[i][0], sets[i][1], elems[i], n[i]);
	printf("\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
	for (int k = 0; k < 2; k++) {
		const char *proto = k == 0 ? "udp" : "tcp";
		if (!nports[k])
			continue;
		printf("\t\t%s dport { %s } ip saddr @peers4 accept\n", proto, ports[k]);
		printf("\t\t%s dport { %s } ip6 saddr @peers6 accept\n", proto, ports[k]);
		printf("\t\t%s dport { %s } ip saddr @phones4 accept\n", proto, ports[k]);
		printf("\t\t%s dport { %s } ip6 saddr @phones6 accept\n", proto, ports[k]);
		printf("\t\t%s dport { %s } counter drop\n", proto, ports[k]);
	}
	printf("\t}\n\n");
	printf("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n"
	       "\t\tip saddr @phones4 ip daddr @peers4 counter drop\n"
	       "\t\tip6 saddr @phones6 ip6 daddr @peers6 counter drop\n\t}\n}\n");
	free(c);
	return 0;
}
