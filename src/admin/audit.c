/*
 * admin/audit: `bastion audit [--level minimum|medium|highest] [--json]`,
 * the installation checked as it is against the guide's robustness levels.
 *
 * One table (audit_checks) holds every check: its id, the guide's level and
 * section, the mitigation in the guide's words, what it looks at, and a pure
 * function from the gathered facts to a verdict (pass, warn, fail or not
 * applicable, what was found, the setting or command that fixes it). The
 * same table prints the check list of docs/mitigations.md (`bastion audit
 * --reference`), and a test fails when the two differ, so the document and
 * the audit cannot disagree.
 *
 * Checks above the chosen level are still shown, marked as not counted; the
 * exit status is 1 when a check at or below the chosen level fails.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../conf/conf.h"
#include "../net/net.h"
#include "../store/store.h"
#include "internal.h"

#define DAY 86400
#define BACKUP_MAX_AGE (7 * DAY)      /* guide: full backups weekly */
#define CERT_WARN_DAYS 30
#define ROTATION_WARN_AGE (365 * DAY)

/* ---- facts --------------------------------------------------------------------- */

int audit_addr_scope(const struct net_addr *a)
{
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
		uint32_t v = ntohl(s->sin_addr.s_addr);
		if (v == 0)
			return 3;
		if ((v >> 24) == 127)
			return 0;
		if ((v >> 24) == 10 || (v >> 20) == 0xac1 || (v >> 16) == 0xc0a8 ||
		    (v >> 16) == 0xa9fe || (v >> 22) == (100u << 2 | 1)) /* 100.64/10 */
			return 1;
		return 2;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;
		const uint8_t *b = s->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr))
			return 3;
		if (IN6_IS_ADDR_LOOPBACK(&s->sin6_addr))
			return 0;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			struct net_addr m = { .len = sizeof(struct sockaddr_in) };
			struct sockaddr_in *v4 = (struct sockaddr_in *)&m.ss;
			v4->sin_family = AF_INET;
			memcpy(&v4->sin_addr, b + 12, 4);
			return audit_addr_scope(&m);
		}
		if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80))
			return 1; /* ULA fc00::/7, link-local fe80::/10 */
		return 2;
	}
	return 2;
}

static const char *scope_name(int s)
{
	return s == 0 ? "loopback" : s == 1 ? "private" : s == 2 ? "public" : "every address";
}

/* ---- the checks ------------------------------------------------------------------ */

#define FOUND(...) snprintf(r->found, sizeof(r->found), __VA_ARGS__)
#define FIX(...) snprintf(r->fix, sizeof(r->fix), __VA_ARGS__)

/* The first plain (UDP/TCP) listener whose scope is at least min_scope. */
static const struct net_listen_spec *plain_listener(const struct conf *c, int min_scope)
{
	for (size_t i = 0; i < c->nlisteners; i++)
		if (c->listeners[i].tp != NET_TLS &&
		    audit_addr_scope(&c->listeners[i].addr) >= min_scope)
			return &c->listeners[i];
	return NULL;
}

static void run_public_plain(const struct audit_facts *f, struct audit_result *r)
{
	const struct net_listen_spec *l = plain_listener(f->c, 2);
	char a[80];

	if (!l) {
		r->status = AUDIT_PASS;
		FOUND("no plain (UDP/TCP) listener on a public or wildcard address");
		return;
	}
	net_addr_fmt(a, sizeof(a), l->tp, &l->addr);
	if (f->c->signaling == CONF_SIGNALING_TLS) {
		r->status = AUDIT_PASS;
		FOUND("%s listens on %s, but [policy] signaling = tls-required keeps registrations "
		      "and calls on TLS", a, scope_name(audit_addr_scope(&l->addr)));
		return;
	}
	r->status = AUDIT_FAIL;
	FOUND("%s listens on %s without TLS, and [policy] signaling = any accepts registrations "
	      "and calls on it", a, scope_name(audit_addr_scope(&l->addr)));
	FIX("set [policy] signaling = tls-required (or [server] profile = medium), or keep plain "
	    "listeners on loopback/private addresses in [server] listen");
}

static void run_plain_beyond_loopback(const struct audit_facts *f, struct audit_result *r)
{
	const struct net_listen_spec *l = plain_listener(f->c, 1);
	char a[80];

	if (!l) {
		r->status = AUDIT_PASS;
		FOUND("plain (UDP/TCP) listeners, if any, are on loopback only");
		return;
	}
	net_addr_fmt(a, sizeof(a), l->tp, &l->addr);
	if (f->c->signaling == CONF_SIGNALING_TLS) {
		r->status = AUDIT_WARN;
		FOUND("%s is plain; with signaling = tls-required it answers OPTIONS and in-dialog "
		      "requests only", a);
		FIX("drop the plain listener from [server] listen if no phone needs it");
		return;
	}
	r->status = AUDIT_FAIL;
	FOUND("%s accepts registrations and calls without TLS", a);
	FIX("set [policy] signaling = tls-required, or listen only on tls: beyond loopback "
	    "([server] listen)");
}

static void run_signaling(const struct audit_facts *f, struct audit_result *r)
{
	bool tls = false;

	for (size_t i = 0; i < f->c->nlisteners; i++)
		tls |= f->c->listeners[i].tp == NET_TLS;
	if (!tls) {
		r->status = AUDIT_FAIL;
		FOUND("no tls: listener in [server] listen");
		FIX("add tls:ADDRESS:5061 to [server] listen (bastion tls init makes a certificate)");
	} else if (f->c->signaling != CONF_SIGNALING_TLS) {
		r->status = AUDIT_FAIL;
		FOUND("[policy] signaling = any: registrations and calls may use plain UDP/TCP");
		FIX("set [policy] signaling = tls-required (profile medium and highest do)");
	} else {
		r->status = AUDIT_PASS;
		FOUND("[policy] signaling = tls-required");
	}
}

static void run_media(const struct audit_facts *f, struct audit_result *r)
{
	if (f->c->media == CONF_MEDIA_SRTP) {
		r->status = AUDIT_PASS;
		FOUND("[policy] media = srtp-required");
		return;
	}
	r->status = AUDIT_FAIL;
	FOUND("[policy] media = any: calls may carry plain RTP");
	FIX("set [policy] media = srtp-required (profile highest does)");
}

static void run_two_way(const struct audit_facts *f, struct audit_result *r)
{
	if (f->c->tls_verify_client == CONF_TLS_VERIFY_NONE) {
		r->status = AUDIT_FAIL;
		FOUND("[tls] verify_client = none: phones cannot prove themselves with a certificate");
		FIX("set [tls] verify_client = optional (profile medium) or require (highest), issue "
		    "phone certificates with 'bastion tls issue NAME'");
		return;
	}
	r->status = AUDIT_PASS;
	FOUND("the server proves itself with its certificate; [tls] verify_client = %s",
	      f->c->tls_verify_client == CONF_TLS_VERIFY_REQUIRE ? "require" : "optional");
}

static void run_user_certs(const struct audit_facts *f, struct audit_result *r)
{
	if (!f->store_ok) {
		r->status = AUDIT_FAIL;
		FOUND("the users could not be read from the database");
		FIX("run 'bastion user list' to see why");
		return;
	}
	if (f->users_no_cert == 0) {
		r->status = AUDIT_PASS;
		if (f->users == 0)
			FOUND("no users yet");
		else
			FOUND("%zu users, every enabled one bound to its client certificate", f->users);
		return;
	}
	r->status = AUDIT_FAIL;
	FOUND("%zu of %zu users may register without a client certificate (first: %s)",
	      f->users_no_cert, f->users, f->first_no_cert);
	FIX("for each: 'bastion tls issue NAME' and 'bastion user cert NAME require'");
}

static void run_password_strength(const struct audit_facts *f, struct audit_result *r)
{
	if (!f->store_ok) {
		r->status = AUDIT_FAIL;
		FOUND("the users could not be read from the database");
		FIX("run 'bastion user list' to see why");
		return;
	}
	if (f->users_unknown == 0) {
		r->status = AUDIT_PASS;
		if (f->users == 0)
			FOUND("no users yet");
		else
			FOUND("%zu users, every password set through Bastion's password rules",
			      f->users);
		return;
	}
	r->status = AUDIT_WARN;
	FOUND("%zu of %zu users have imported passwords of unknown strength (first: %s)",
	      f->users_unknown, f->users, f->first_unknown);
	FIX("'bastion user passwd NAME --generate' for each, or 'bastion rotate --passwords "
	    "--out FILE' for all");
}

static void run_md5(const struct audit_facts *f, struct audit_result *r)
{
	bool offered = strstr(f->c->algorithms, "MD5") != NULL;

	if (!f->store_ok) {
		r->status = AUDIT_FAIL;
		FOUND("the users could not be read from the database");
		FIX("run 'bastion user list' to see why");
		return;
	}
	if (f->users_md5_only) {
		r->status = AUDIT_FAIL;
		FOUND("%zu users have only an MD5 digest (imported; first: %s)%s", f->users_md5_only,
		      f->first_md5_only, offered ? "; MD5 is offered" : "");
		FIX("'bastion user passwd NAME --generate' (stores SHA-256 too), then [auth] "
		    "algorithms = SHA-256");
		return;
	}
	if (offered) {
		r->status = AUDIT_FAIL;
		FOUND("[auth] algorithms = %s offers MD5 digest", f->c->algorithms);
		FIX("set [auth] algorithms = SHA-256 (profile highest does) once every phone "
		    "speaks RFC 8760");
		return;
	}
	r->status = AUDIT_PASS;
	FOUND("[auth] algorithms = SHA-256; no user depends on MD5");
}

static void run_default_passwords(const struct audit_facts *f, struct audit_result *r)
{
	if (f->demo_credentials) {
		r->status = AUDIT_FAIL;
		FOUND("demo-credentials exists: the demo users' passwords are in a file on the server");
		FIX("'bastion user del 1001' and 'bastion user del 1002' (or 'bastion user passwd NAME "
		    "--generate'), then delete STATE/demo-credentials");
		return;
	}
	r->status = AUDIT_PASS;
	FOUND("no demo users' password file; Bastion has no built-in accounts");
}

static void run_file_modes(const struct audit_facts *f, struct audit_result *r)
{
	size_t n = 0, len = 0;

	r->found[0] = '\0';
	if (f->state_mode & 002) {
		len += (size_t)snprintf(r->found + len, sizeof(r->found) - len,
					"the state directory is writable by others (%04o); ",
					(unsigned)f->state_mode);
		n++;
	}
	for (size_t i = 0; i < f->nfiles && len < sizeof(r->found); i++) {
		const struct audit_file *a = &f->files[i];
		uint32_t bad = a->secret ? 077 : 022;
		if (!a->exists || !(a->mode & bad))
			continue;
		n++;
		len += (size_t)snprintf(r->found + len, sizeof(r->found) - len, "%s%s %s is %04o",
					n > 1 ? "; " : "", a->what, a->path, (unsigned)a->mode);
	}
	if (n == 0) {
		r->status = AUDIT_PASS;
		FOUND("keys, database and logs are mode 0600 (or narrower); the configuration is "
		      "not writable by group or others");
		return;
	}
	r->status = AUDIT_FAIL;
	FIX("chmod 600 the keys, database and logs (chmod 640 bastion.conf; chmod o-w the "
	    "state directory)");
}

static void run_ca_offline(const struct audit_facts *f, struct audit_result *r)
{
	if (!f->ca_key_present) {
		r->status = AUDIT_PASS;
		FOUND("the CA key (ca.key) is not on this server");
		return;
	}
	r->status = AUDIT_FAIL;
	FOUND("the CA key ca.key, which signs certificates, is on the server%s",
	      f->ca_key_encrypted ? " (encrypted)" : " (not encrypted)");
	FIX("move STATE/ca.key to an offline machine; bring it back only to issue or rotate "
	    "certificates");
}

static void run_keys_protected(const struct audit_facts *f, struct audit_result *r)
{
	if (f->ca_key_present && !f->ca_key_encrypted) {
		r->status = AUDIT_WARN;
		FOUND("the CA key ca.key is not encrypted (the server key is %s: the server needs "
		      "that one to start, which the guide exempts)",
		      f->server_key_encrypted ? "encrypted" : "not");
		FIX("re-create the state with 'bastion init --passphrase-file F' or keep ca.key "
		    "offline");
		return;
	}
	r->status = AUDIT_PASS;
	FOUND("%s", f->ca_key_present ? "the CA key is encrypted" : "no CA key on the server");
}

static void run_cert_expiry(const struct audit_facts *f, struct audit_result *r)
{
	int64_t s = f->server_not_after - f->now, ca = f->ca_not_after - f->now;

	if (!f->have_server_cert) {
		r->status = AUDIT_FAIL;
		FOUND("no readable server certificate ([tls] certificate)");
		FIX("'bastion tls init' or 'bastion rotate --server-key'");
		return;
	}
	if (s <= 0 || (f->have_ca_cert && ca <= 0)) {
		r->status = AUDIT_FAIL;
		FOUND("the %s certificate has expired", s <= 0 ? "server" : "CA");
		FIX("%s", s <= 0 ? "'bastion rotate --server-key'" : "'bastion rotate --ca'");
		return;
	}
	if (s < CERT_WARN_DAYS * DAY || (f->have_ca_cert && ca < CERT_WARN_DAYS * DAY)) {
		r->status = AUDIT_WARN;
		FOUND("the %s certificate expires in %lld days",
		      s < CERT_WARN_DAYS * DAY ? "server" : "CA",
		      (long long)((s < CERT_WARN_DAYS * DAY ? s : ca) / DAY));
		FIX("%s", s < CERT_WARN_DAYS * DAY ? "'bastion rotate --server-key'"
						    : "'bastion rotate --ca'");
		return;
	}
	r->status = AUDIT_PASS;
	FOUND("server certificate valid %lld more days%s", (long long)(s / DAY),
	      f->have_ca_cert ? ", CA certificate longer" : "");
	if (f->have_ca_cert && ca < s)
		FOUND("server certificate valid %lld more days, CA %lld", (long long)(s / DAY),
		      (long long)(ca / DAY));
}

static void run_library(const struct audit_facts *f, struct audit_result *r)
{
	if (!f->library_ok) {
		r->status = AUDIT_FAIL;
		FOUND("%s", f->library);
		FIX("install the distribution's current OpenSSL (apt-get install --only-upgrade "
		    "libssl3), then 'bastion rotate --server-key --ca --nonce-key --ticket-keys "
		    "--passwords' (Heartbleed lesson)");
		return;
	}
	r->status = AUDIT_PASS;
	FOUND("%s: not in the known-vulnerable table", f->library);
}

static void run_logging(const struct audit_facts *f, struct audit_result *r)
{
	if (!f->c->security_log[0] && f->c->syslog != CONF_YES) {
		r->status = AUDIT_FAIL;
		FOUND("security events go nowhere ([log] security_log empty, syslog = no)");
		FIX("set [log] security_log = security.log");
		return;
	}
	r->status = AUDIT_PASS;
	FOUND("security events to %s%s; call records in the database%s",
	      f->c->security_log[0] ? f->c->security_log : "",
	      f->c->syslog == CONF_YES ? (f->c->security_log[0] ? " and syslog" : "syslog") : "",
	      f->c->cdr_log[0] ? " and the CDR log" : "");
}

static void run_offhost(const struct audit_facts *f, struct audit_result *r)
{
	if (f->c->remote[0]) {
		r->status = AUDIT_PASS;
		FOUND("security events go to the log server %s over mutual TLS (RFC 5425), queued "
		      "on disk while it is down ([log] remote)", f->c->remote);
		return;
	}
	if (f->c->syslog != CONF_YES) {
		r->status = AUDIT_FAIL;
		FOUND("[log] syslog = no: security events stay in a file on this host");
		FIX("set [log] remote = tls:HOST:PORT with remote_ca, remote_certificate and "
		    "remote_key (docs/monitoring.md), or [log] syslog = yes with the host's syslog "
		    "forwarding facility auth to a log server");
		return;
	}
	r->status = AUDIT_WARN;
	FOUND("security events go to the local syslog (facility auth) only; whether it forwards "
	      "them cannot be seen from here");
	FIX("set [log] remote = tls:HOST:PORT (Bastion's own forwarding over mutual TLS, "
	    "docs/monitoring.md), or configure the host's syslog to forward facility auth to the "
	    "log server over TLS");
}

static void run_backup(const struct audit_facts *f, struct audit_result *r)
{
	int64_t last = f->hist[ADMIN_HIST_BACKUP];

	if (last == 0 && f->created > 0 && f->now - f->created < BACKUP_MAX_AGE) {
		r->status = AUDIT_WARN;
		FOUND("no backup yet; the state is %lld days old", (long long)((f->now - f->created) / DAY));
		FIX("'bastion backup --to FILE --passphrase-file F' (weekly), and test it with "
		    "'bastion backup verify FILE'");
		return;
	}
	if (last == 0 || f->now - last >= BACKUP_MAX_AGE) {
		r->status = AUDIT_FAIL;
		if (last == 0)
			FOUND("no backup was ever taken");
		else
			FOUND("the last backup is %lld days old", (long long)((f->now - last) / DAY));
		FIX("'bastion backup --to FILE --passphrase-file F', weekly (cron)");
		return;
	}
	r->status = AUDIT_PASS;
	FOUND("last encrypted backup %lld hours ago", (long long)((f->now - last) / 3600));
}

static void run_rotation(const struct audit_facts *f, struct audit_result *r)
{
	static const enum admin_hist kinds[] = { ADMIN_HIST_SERVER_KEY, ADMIN_HIST_CA,
						 ADMIN_HIST_NONCE_KEY, ADMIN_HIST_TICKET_KEYS,
						 ADMIN_HIST_PASSWORDS, ADMIN_HIST_CLIENT_CERTS };
	size_t len = 0;
	int64_t key_age = f->hist[ADMIN_HIST_SERVER_KEY]
				  ? f->now - f->hist[ADMIN_HIST_SERVER_KEY]
				  : (f->have_server_cert ? f->now - f->server_not_before : -1);

	for (size_t i = 0; i < ARRAY_SIZE(kinds) && len < sizeof(r->found); i++) {
		char when[32] = "never";
		int64_t t = f->hist[kinds[i]];
		if (t) {
			time_t tt = (time_t)t;
			struct tm tm;
			gmtime_r(&tt, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d", &tm);
		}
		len += (size_t)snprintf(r->found + len, sizeof(r->found) - len, "%s%s %s",
					i ? ", " : "last rotation: ", admin_hist_name(kinds[i]), when);
	}
	if (key_age < 0 || key_age >= ROTATION_WARN_AGE) {
		r->status = AUDIT_WARN;
		FIX("'bastion rotate --server-key' (yearly, and at once after a library or host "
		    "compromise: add --ca --nonce-key --ticket-keys --passwords)");
		return;
	}
	r->status = AUDIT_PASS;
}

static void run_server_header(const struct audit_facts *f, struct audit_result *r)
{
	if (f->c->server_header[0]) {
		r->status = AUDIT_WARN;
		FOUND("responses carry Server: %s", f->c->server_header);
		FIX("set [server] server_header = (empty)");
		return;
	}
	r->status = AUDIT_PASS;
	FOUND("no Server header: software and version are not announced");
}

/* Peers ([peer NAME], docs/trunks.md) reached over UDP or TCP: on a public
 * (or wildcard) address a failure, on a private one a warning (the guide
 * asks for encryption over public networks; a LAN gateway is tolerated),
 * on loopback nothing. A tls: address always has its certificate name
 * checked (tls_name is required by the configuration). */
static void run_peers(const struct audit_facts *f, struct audit_result *r)
{
	const struct trunk_conf *t = &f->c->trunk;
	const struct trunk_peer *worst_p = NULL;
	const struct net_listen_spec *worst = NULL;
	int worst_scope = -1;
	size_t naddr = 0, ntls = 0;
	char a[80];

	for (size_t i = 0; i < t->npeers; i++) {
		for (size_t j = 0; j < t->peer[i].naddr; j++) {
			const struct net_listen_spec *l = &t->peer[i].addr[j];
			int sc;

			naddr++;
			if (l->tp == NET_TLS) {
				ntls++;
				continue;
			}
			sc = audit_addr_scope(&l->addr);
			if (sc > worst_scope) {
				worst_scope = sc;
				worst = l;
				worst_p = &t->peer[i];
			}
		}
	}
	if (t->npeers == 0) {
		r->status = AUDIT_PASS;
		FOUND("no peers (gateways, trunks) configured");
		return;
	}
	if (!worst || worst_scope == 0) {
		r->status = AUDIT_PASS;
		FOUND("%zu peers, %zu of %zu addresses over TLS with their certificate name "
		      "checked%s", t->npeers, ntls, naddr,
		      worst ? "; the others on loopback" : "");
		return;
	}
	net_addr_fmt(a, sizeof(a), worst->tp, &worst->addr);
	r->status = worst_scope >= 2 ? AUDIT_FAIL : AUDIT_WARN;
	FOUND("peer %s is reached at %s without TLS (a %s address)%s; %zu of %zu peer addresses "
	      "are TLS", worst_p->name, a, scope_name(worst_scope),
	      worst_scope >= 2 ? ": signaling to it crosses networks in clear" : "", ntls, naddr);
	FIX("give [peer %s] a tls: address and tls_name (the name its certificate carries, "
	    "docs/trunks.md)%s", worst_p->name,
	    worst_scope >= 2 ? "" : ", or keep it on a network only you control");
}

/* [store] durability: what an acknowledged change survives (issue 18). */
static void run_durability(const struct audit_facts *f, struct audit_result *r)
{
	if (store_is_remote(f->c->database)) {
		r->status = AUDIT_PASS;
		FOUND("PostgreSQL: a change is acknowledged once committed there (or queued on "
		      "disk while it is unreachable); its own settings (synchronous_commit, fsync) "
		      "say what a commit survives");
		return;
	}
	switch (f->c->durability) {
	case CONF_DURABLE_POWER:
		r->status = AUDIT_PASS;
		FOUND("[store] durability = power: an acknowledged registration, ban or call "
		      "record survives a crash of the server and a power cut (synchronous=FULL)");
		return;
	case CONF_DURABLE_PROCESS:
		r->status = AUDIT_PASS;
		FOUND("[store] durability = process: an acknowledged registration, ban or call "
		      "record survives a crash or kill of the server, not a power cut or kernel "
		      "crash (synchronous=NORMAL); set power for that, at an fsync per commit");
		return;
	default:
		r->status = AUDIT_FAIL;
		FOUND("[store] durability = none: registrations are acknowledged before they are "
		      "stored; a crash loses up to 50 ms of them");
		FIX("set [store] durability = process (the default) or power");
		return;
	}
}

static void run_emergency(const struct audit_facts *f, struct audit_result *r)
{
	const struct emerg_conf *ec = &f->c->emerg;
	const struct trunk_conf *tc = &f->c->trunk;
	size_t len = 0, gateway_only = 0;

	if (ec->nnumbers == 0) {
		r->status = AUDIT_FAIL;
		FOUND("[emergency] numbers is empty: no number is an emergency call");
		FIX("set [emergency] numbers (default 911, 112, 933)");
		return;
	}
	if (tc->npeers == 0) {
		/* a site with no way to the telephone network at all: a warning,
		 * so that a fresh installation is told, not failed */
		r->status = AUDIT_WARN;
		FOUND("no peers: emergency numbers (%s) cannot be reached from this installation",
		      ec->numbers_text);
		FIX("add a gateway ('bastion peer add') and [emergency_routes] (docs/emergency.md)");
		return;
	}
	r->status = AUDIT_PASS;
	for (size_t k = 0; k < ec->nnumbers; k++) {
		bool own = false;

		for (size_t i = 0; i < ec->nroutes; i++)
			own |= strcmp(ec->route[i].key, ec->numbers[k]) == 0;
		if (!emerg_reachable(ec, tc, k, f->c->listeners, f->c->nlisteners)) {
			r->status = AUDIT_FAIL;
			len += (size_t)snprintf(r->found + len, len < sizeof(r->found)
							       ? sizeof(r->found) - len : 0,
						"%s%s has no reachable peer", len ? "; " : "",
						ec->numbers[k]);
		} else if (!own) {
			gateway_only++;
		}
	}
	if (r->status == AUDIT_FAIL) {
		FIX("add peers ('bastion peer add') and [emergency_routes] NUMBER = PEER, ... "
		    "(docs/emergency.md)");
		return;
	}
	if (gateway_only) {
		r->status = AUDIT_WARN;
		FOUND("%zu of %zu emergency numbers have no [emergency_routes] entry and go to any "
		      "gateway", gateway_only, ec->nnumbers);
		FIX("route each emergency number to the emergency service's peers in "
		    "[emergency_routes]");
		return;
	}
	FOUND("every emergency number (%s) routes to a reachable peer", ec->numbers_text);
}

static void run_emergency_unauth(const struct audit_facts *f, struct audit_result *r)
{
	if (f->c->emerg.allow_unauthenticated) {
		r->status = AUDIT_WARN;
		FOUND("[emergency] allow_unauthenticated = yes: devices that do not authenticate may "
		      "call the emergency numbers (bounded by [emergency] rate and max_calls)");
		FIX("set [emergency] allow_unauthenticated = no unless a rule of the jurisdiction "
		    "requires unregistered devices to reach emergency services");
		return;
	}
	r->status = AUDIT_PASS;
	FOUND("emergency calls need an authenticated user ([emergency] allow_unauthenticated = "
	      "no)");
}

#define MIN CONF_PROFILE_MINIMUM
#define MED CONF_PROFILE_MEDIUM
#define HIGH CONF_PROFILE_HIGHEST

const struct audit_check audit_checks[] = {
	{ "net.public_plain", MIN, "Network Guidelines > Mitigations Summary",
	  "All VoIP traffic over public IP networks (i.e., the Internet) is encrypted.",
	  "plain UDP/TCP listeners on public or wildcard addresses while [policy] signaling = any",
	  run_public_plain },
	{ "net.plain_beyond_loopback", MED, "Eavesdropping and Impersonation",
	  "Encryption of signaling protocols.",
	  "plain UDP/TCP listeners beyond loopback", run_plain_beyond_loopback },
	{ "policy.signaling", MED, "Eavesdropping and Impersonation",
	  "Encryption of signaling protocols.",
	  "a tls: listener and [policy] signaling = tls-required", run_signaling },
	{ "policy.media", HIGH, "Eavesdropping and Impersonation", "Encryption of media streams.",
	  "[policy] media = srtp-required", run_media },
	{ "tls.two_way", MED, "Access Control for IPT Clients > Authentication and Authorization",
	  "Enable two-way authentication between telephony end devices and servers.",
	  "[tls] verify_client asks phones for certificates", run_two_way },
	{ "users.client_certs", HIGH, "Eavesdropping and Impersonation",
	  "Mutual authentication between phones and IPT servers using strong cryptography "
	  "(e.g., public keys).",
	  "every enabled user bound to its client certificate (user cert NAME require)",
	  run_user_certs },
	{ "users.password_strength", MIN, "Server Guidelines > User Accounts",
	  "Require complex and hard to guess passwords ..., and audit passwords for compliance.",
	  "users whose password was imported as a hash (strength unknown)", run_password_strength },
	{ "auth.md5", HIGH, "Eavesdropping and Impersonation",
	  "Phones authenticate to server using a challenge-response protocol (e.g., HTTP-Digest) "
	  "with long and complex passwords.",
	  "MD5 digest offered ([auth] algorithms), users with only an MD5 HA1", run_md5 },
	{ "users.default_passwords", MIN, "Server Guidelines > User Accounts",
	  "Change all default passwords before connecting server to the network.",
	  "the demo users' password file (init --demo)", run_default_passwords },
	{ "files.modes", MIN, "Server Guidelines > Cryptographic Key Material",
	  "Password protect cryptographic keys.",
	  "modes of the keys, database, logs, configuration and state directory", run_file_modes },
	{ "keys.ca_offline", MED, "Server Guidelines > Cryptographic Key Material",
	  "Store and use private keys for signing ... certificates on a computer not connected to "
	  "any network.",
	  "the CA key (ca.key) present on the server", run_ca_offline },
	{ "keys.encrypted", MIN, "Server Guidelines > Cryptographic Key Material",
	  "Password protect cryptographic keys.",
	  "the CA key encrypted with a passphrase", run_keys_protected },
	{ "tls.expiry", MIN, "Eavesdropping and Impersonation",
	  "Mutual authentication ... using strong cryptography (a certificate that has expired "
	  "authenticates nothing).",
	  "server and CA certificates expired or expiring within 30 days", run_cert_expiry },
	{ "software.openssl", MIN, "Server Guidelines > Software Vulnerabilities",
	  "Promptly test and apply vendor security updates.",
	  "the OpenSSL in use against the known-vulnerable table (Heartbleed ...)", run_library },
	{ "log.enabled", MIN, "Server Guidelines > Auditing and Logging",
	  "Enable system logging and logging of call detail records (CDRs).",
	  "security events and call records are written", run_logging },
	{ "log.off_host", MED, "Server Guidelines > Auditing and Logging",
	  "Send all logs to a hardened log server.",
	  "security events leave the host (syslog; remote forwarding)", run_offhost },
	{ "backup.age", MIN, "Service Availability > Data Loss",
	  "Full backups are performed weekly. Backups are encrypted ...",
	  "age of the last `bastion backup` (encrypted)", run_backup },
	{ "keys.rotation", MED, "Heartbleed Bug and VoIP",
	  "Generate new keys, certificates on your server (after a library flaw: every key and "
	  "credential).",
	  "when each kind of key or credential was last rotated", run_rotation },
	{ "config.server_header", MIN, "Server Guidelines > Default Configuration Settings",
	  "Audit all default configuration settings before connecting the server to the network.",
	  "the Server header announcing software and version", run_server_header },
	{ "peers.tls", MED, "Network Guidelines > PSTN gateways",
	  "All VoIP traffic over public IP networks is encrypted (peers: gateways and trunks).",
	  "peers ([peer NAME]) reached over UDP or TCP beyond loopback", run_peers },
	{ "store.durability", MIN, "Service Availability > Data Loss",
	  "Such failures will require quick recovery of servers to a known good state (a crash "
	  "must not lose what the server acknowledged).",
	  "[store] durability: what an acknowledged registration, ban or call record survives",
	  run_durability },
	{ "emergency.routes", MIN, "Service Availability > Emergency Services",
	  "IPT systems must route 911 calls over a PSTN connection to ensure 911 operators "
	  "receive correct location information.",
	  "emergency numbers without a reachable peer (an emergency route, else a gateway)",
	  run_emergency },
	{ "emergency.unauthenticated", MIN,
	  "Access Control for IPT Clients > Automatic Registration of End Points",
	  "Disable automatic registration capabilities (a device that does not authenticate "
	  "gets no service, emergency calls included, unless the site decides otherwise).",
	  "devices that do not authenticate allowed to call emergency numbers "
	  "([emergency] allow_unauthenticated)", run_emergency_unauth },
};
const size_t audit_checks_count = ARRAY_SIZE(audit_checks);

static const char *const status_names[] = { "pass", "warn", "fail", "n/a" };

void audit_write_reference(FILE *f)
{
	fputs("| check | guide section | level | mitigation | what `bastion audit` looks at |\n"
	      "|---|---|---|---|---|\n",
	      f);
	for (size_t i = 0; i < audit_checks_count; i++) {
		const struct audit_check *a = &audit_checks[i];
		fprintf(f, "| `%s` | %s | %s | \"%s\" | %s |\n", a->id, a->section,
			conf_profile_name(a->level), a->mitigation, a->checks);
	}
}

/* ---- gathering ------------------------------------------------------------------- */

static void note_name(char *dst, const struct store_user *u)
{
	if (!dst[0])
		snprintf(dst, AUDIT_NAME_CAP, "%s@%s", u->name, u->domain);
}

static int on_user(void *arg, const struct store_user *u)
{
	struct audit_facts *f = arg;

	f->users++;
	if (u->cred.strength == STORE_PW_UNKNOWN) {
		f->users_unknown++;
		note_name(f->first_unknown, u);
	}
	if (!u->cred.ha1_sha256[0]) {
		f->users_md5_only++;
		note_name(f->first_md5_only, u);
	}
	if (u->enabled && !u->require_client_cert) {
		f->users_no_cert++;
		note_name(f->first_no_cert, u);
	}
	return 0;
}

static void add_file(struct audit_facts *f, const char *state, const char *what,
		     const char *setting, bool secret)
{
	struct audit_file *a;
	struct stat st;

	if (!setting[0] || f->nfiles >= AUDIT_MAX_FILES)
		return;
	a = &f->files[f->nfiles++];
	a->what = what;
	a->secret = secret;
	if (conf_state_path(a->path, sizeof(a->path), state, setting) != 0) {
		f->nfiles--;
		return;
	}
	a->exists = stat(a->path, &st) == 0;
	a->mode = a->exists ? (uint32_t)(st.st_mode & 07777) : 0;
}

static bool read_cert_times(const char *path, int64_t *not_before, int64_t *not_after)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	struct tm tm;
	bool ok = false;

	if (x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
		*not_after = (int64_t)timegm(&tm);
		if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) == 1) {
			*not_before = (int64_t)timegm(&tm);
			ok = true;
		}
	}
	X509_free(x);
	BIO_free(b);
	ERR_clear_error();
	return ok;
}

static bool file_says_encrypted(const char *path)
{
	char line[256];
	bool enc = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	for (int n = 0; !enc && n < 4 && fgets(line, sizeof(line), f); n++)
		enc = strstr(line, "ENCRYPTED") != NULL;
	fclose(f);
	return enc;
}

/* Gather the facts of state (c already loaded). s may be NULL (no store). */
static void gather(struct audit_facts *f, const char *state, const struct conf *c,
		   struct store *s)
{
	char path[4200];
	struct stat st;
	int64_t nb;

	memset(f, 0, sizeof(*f));
	f->c = c;
	f->now = (int64_t)time(NULL);
	f->store_ok = s && store_users_list(s, on_user, f) == 0;
	if (stat(state, &st) == 0)
		f->state_mode = (uint32_t)(st.st_mode & 07777);
	add_file(f, state, "nonce key", STATE_KEY_FILE, true);
	add_file(f, state, "server key", c->tls_key, true);
	add_file(f, state, "CA key", STATE_CA_KEY_FILE, true);
	add_file(f, state, "database", c->database, true);
	add_file(f, state, "security log", c->security_log, true);
	add_file(f, state, "CDR log", c->cdr_log, true);
	add_file(f, state, "key passphrase file", c->tls_key_passphrase_file, true);
	add_file(f, state, "demo passwords", STATE_DEMO_FILE, true);
	add_file(f, state, "history", STATE_HISTORY_FILE, true);
	add_file(f, state, "configuration", CONF_FILE_NAME, false);
	if (conf_state_path(path, sizeof(path), state, STATE_CA_KEY_FILE) == 0) {
		f->ca_key_present = access(path, F_OK) == 0;
		f->ca_key_encrypted = f->ca_key_present && file_says_encrypted(path);
	}
	if (conf_state_path(path, sizeof(path), state, c->tls_key) == 0)
		f->server_key_encrypted = file_says_encrypted(path);
	if (conf_state_path(path, sizeof(path), state, c->tls_certificate) == 0)
		f->have_server_cert =
			read_cert_times(path, &f->server_not_before, &f->server_not_after);
	if (c->tls_ca[0] && conf_state_path(path, sizeof(path), state, c->tls_ca) == 0)
		f->have_ca_cert = read_cert_times(path, &nb, &f->ca_not_after);
	{
		char why[200];
		f->library_ok = net_tls_library_check(net_tls_library_version(), why, sizeof(why)) == 0;
		snprintf(f->library, sizeof(f->library), "%s", f->library_ok ? net_tls_library_name() : why);
	}
	if (conf_state_path(path, sizeof(path), state, STATE_DEMO_FILE) == 0)
		f->demo_credentials = access(path, F_OK) == 0;
	admin_hist_read(state, f->hist);
	f->created = f->hist[ADMIN_HIST_INIT];
	if (!f->created && conf_state_path(path, sizeof(path), state, STATE_KEY_FILE) == 0 &&
	    stat(path, &st) == 0)
		f->created = (int64_t)st.st_mtime;
}

/* ---- the command ------------------------------------------------------------------ */

static int cmd_audit_run(const char *state, unsigned level, bool level_given, bool json)
{
	struct audit_facts *f = calloc(1, sizeof(*f));
	struct audit_result r;
	struct store *s = NULL;
	struct conf c;
	size_t count[4] = { 0 }, above_fail = 0;
	json_t *root = NULL, *arr = NULL;
	int status = 1;

	if (!f)
		return 1;
	if (admin_open_state(&c, &s, state) != 0)
		goto out;
	if (!level_given)
		level = c.profile;
	gather(f, state, &c, s);
	if (json) {
		root = json_object();
		arr = json_array();
		if (!root || !arr)
			goto out;
		json_object_set_new(root, "state", json_string(state));
		json_object_set_new(root, "profile", json_string(conf_profile_name(c.profile)));
		json_object_set_new(root, "level", json_string(conf_profile_name(level)));
	} else {
		printf("Audit of %s (profile %s) against the guide's %s level:\n\n", state,
		       conf_profile_name(c.profile), conf_profile_name(level));
	}
	for (size_t i = 0; i < audit_checks_count; i++) {
		const struct audit_check *a = &audit_checks[i];
		bool counted = a->level <= level;

		memset(&r, 0, sizeof(r));
		a->run(f, &r);
		if (counted)
			count[r.status]++;
		else if (r.status == AUDIT_FAIL)
			above_fail++;
		if (!counted)
			continue;
		if (json) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id", a->id,
					      "level", conf_profile_name(a->level), "section", a->section,
					      "mitigation", a->mitigation, "status",
					      status_names[r.status], "found", r.found, "counted", counted);
			if (o && r.fix[0] && r.status != AUDIT_PASS)
				json_object_set_new(o, "fix", json_string(r.fix));
			if (o)
				json_array_append_new(arr, o);
			continue;
		}
		printf("%-4s  %-26s %s, %s: \"%s\"\n",
		       r.status == AUDIT_PASS ? "PASS" : r.status == AUDIT_WARN ? "WARN"
						: r.status == AUDIT_FAIL ? "FAIL" : "N/A",
		       a->id, conf_profile_name(a->level), a->section, a->mitigation);
		printf("      found: %s\n", r.found);
		if (r.fix[0] && r.status != AUDIT_PASS)
			printf("      fix:   %s\n", r.fix);
	}
	status = count[AUDIT_FAIL] ? 1 : 0;
	/* Checks of higher levels: one line each (JSON: with counted false). */
	for (size_t i = 0, n = 0; i < audit_checks_count; i++) {
		const struct audit_check *a = &audit_checks[i];

		if (a->level <= level)
			continue;
		memset(&r, 0, sizeof(r));
		a->run(f, &r);
		if (json) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id", a->id,
					      "level", conf_profile_name(a->level), "section", a->section,
					      "mitigation", a->mitigation, "status",
					      status_names[r.status], "found", r.found, "counted", 0);
			if (o && r.fix[0] && r.status != AUDIT_PASS)
				json_object_set_new(o, "fix", json_string(r.fix));
			if (o)
				json_array_append_new(arr, o);
			continue;
		}
		if (n++ == 0)
			printf("\nChecks of higher levels (shown, not counted):\n");
		printf("  %-4s  %-26s %s\n", status_names[r.status], a->id, conf_profile_name(a->level));
	}
	if (json) {
		json_object_set_new(root, "checks", arr);
		arr = NULL;
		json_object_set_new(root, "summary",
				    json_pack("{s:i, s:i, s:i, s:i, s:i}", "pass", (int)count[0], "warn",
					      (int)count[1], "fail", (int)count[2], "na", (int)count[3],
					      "fail_above_level", (int)above_fail));
		json_object_set_new(root, "ok", json_boolean(status == 0));
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		printf("\n%s: %zu pass, %zu warn, %zu fail, %zu not applicable at or below %s.\n",
		       status ? "FAILED" : "PASSED", count[0], count[1], count[2], count[3],
		       conf_profile_name(level));
		if (status)
			printf("Apply each 'fix' above, then run 'bastion audit --level %s' again.\n",
			       conf_profile_name(level));
		if (above_fail)
			printf("%zu checks of higher levels fail; see them with --level %s.\n",
			       above_fail, level == CONF_PROFILE_MINIMUM ? "medium" : "highest");
	}
out:
	json_decref(arr);
	json_decref(root);
	store_close(&s);
	free(f);
	return status;
}

int admin_cmd_audit(const char *state, int argc, char **argv)
{
	enum conf_profile level = CONF_PROFILE_MINIMUM;
	bool json = false, given = false;

	for (int i = 1; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--level"))) {
			if (conf_profile_parse(v, &level) != 0)
				return admin_usage_error("audit",
							 "audit: --level must be minimum, medium or "
							 "highest; got", v);
			given = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--reference") == 0 && argc == 2) {
			audit_write_reference(stdout);
			return 0;
		} else {
			return admin_usage_error("audit", "audit: unknown argument", argv[i]);
		}
	}
	return cmd_audit_run(state, level, given, json);
}
