/*
 * admin: argument handling and the commands init, serve, config, help.
 * The user and registration commands live in user.c, the password rules in
 * password.c, the call records in cdr.c, the bans in ban.c.
 */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../auth/auth.h"
#include "../conf/conf.h"
#include "../log/log.h"
#include "../server/server.h"
#include "../store/store.h"
#include "internal.h"

struct cmd {
	const char *name;
	int (*run)(const char *state, int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct cmd *find_cmd(const char *name);

/* ---- helpers ----------------------------------------------------------------- */

/* Print "bastion: MESSAGE" and where to find the usage; returns exit status 2. */
int admin_usage_error(const char *cmd, const char *msg, const char *arg)
{
	fprintf(stderr, "bastion: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
	fprintf(stderr, "Run 'bastion %s --help' for usage.\n", cmd ? cmd : "help");
	return 2;
}

static void conf_path_of(char *buf, size_t cap, const char *state)
{
	snprintf(buf, cap, "%s/%s", state, CONF_FILE_NAME);
}

/* mkdir -p with mode for the last component. */
static int make_dirs(const char *path, mode_t mode)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return errno;
	return 0;
}

/* Value of "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i. */
const char *admin_opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

/* ---- init ------------------------------------------------------------------- */

/* Create the nonce key, the database, the TLS CA and server certificate
 * (passphrase: encrypts the CA key, and the server key when
 * protect_server_key) and (with demo) the demo users of a state whose
 * bastion.conf was just written. Returns the exit status; on failure what
 * was created here is removed again. */
static int init_state_files(const char *state, const struct conf *c, bool demo,
			    const char *passphrase, bool protect_server_key)
{
	char key[4200], db[4200], side[4300], demo_path[4200], err[600];
	struct store *s = NULL;
	bool remote = store_is_remote(c->database);
	int rc, from = 0;

	if (conf_state_path(key, sizeof(key), state, STATE_KEY_FILE) ||
	    store_location(db, sizeof(db), state, c->database) ||
	    conf_state_path(demo_path, sizeof(demo_path), state, STATE_DEMO_FILE)) {
		fprintf(stderr, "bastion: init: state path too long\n");
		return 1;
	}
	rc = auth_key_generate(key);
	if (rc) {
		fprintf(stderr, "bastion: init: cannot create %s: %s\n", key, strerror(rc));
		return 1;
	}
	if (!remote && access(db, F_OK) == 0) {
		fprintf(stderr, "bastion: init: %s already exists; refusing to reuse it\n", db);
		unlink(key);
		return 1;
	}
	if (store_open_migrate(&s, db, &from, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: init: cannot create the database %s: %s\n",
			remote ? "(PostgreSQL)" : db, err);
		unlink(key);
		return 1;
	}
	if (!remote)
		printf("Created %s (nonce key) and %s (users and registrations).\n", key, db);
	else if (from == 0)
		printf("Created %s (nonce key) and the schema (version %d) in the PostgreSQL "
		       "database.\n", key, store_schema_latest());
	else
		printf("Created %s (nonce key); the PostgreSQL database already has the schema "
		       "(version %d, now %d): this node joins it.\n",
		       key, from, store_schema_latest());
	rc = admin_tls_setup(state, c, passphrase, protect_server_key);
	if (rc == 0 && demo)
		rc = admin_demo_users(s, c, demo_path);
	store_close(&s);
	if (rc) {
		unlink(key);
		if (remote)
			return 1; /* the schema stays: it is complete, and may be shared */
		unlink(db);
		snprintf(side, sizeof(side), "%s-wal", db);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", db);
		unlink(side);
		return 1;
	}
	return 0;
}

static int cmd_init(const char *state, int argc, char **argv)
{
	const char *domain = "localhost", *listen = NULL, *pass_file = NULL, *profile_s = NULL;
	const char *database = NULL;
	enum conf_profile profile = CONF_PROFILE_MINIMUM;
	char path[4200], err[600], pass[ADMIN_PW_MAX + 1] = "", abs_pass[4200] = "";
	bool demo = false, ask = false, protect = false;
	struct conf c;
	FILE *f;
	char *text = NULL;
	size_t text_len = 0;
	int rc;

	conf_defaults(&c);
	listen = c.listen;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--domain")))
			domain = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--listen")))
			listen = v;
		else if (strcmp(argv[i], "--demo") == 0)
			demo = true;
		else if ((v = admin_opt_value(argc, argv, &i, "--database")))
			database = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--passphrase-file")))
			pass_file = v;
		else if (strcmp(argv[i], "--ask-passphrase") == 0)
			ask = true;
		else if ((v = admin_opt_value(argc, argv, &i, "--profile")))
			profile_s = v;
		else if (strcmp(argv[i], "--protect-server-key") == 0)
			protect = true;
		else
			return admin_usage_error("init", "init: unknown argument", argv[i]);
	}
	if (profile_s && conf_profile_parse(profile_s, &profile) != 0)
		return admin_usage_error("init", "init: --profile must be minimum, medium or highest; got",
					 profile_s);
	/* The server reads an encrypted key's passphrase from a file at every
	 * start: only a file can protect the server key. */
	if (protect && !pass_file)
		return admin_usage_error("init", "init: --protect-server-key needs --passphrase-file",
					 NULL);
	if (pass_file && ask)
		return admin_usage_error("init", "init: --passphrase-file or --ask-passphrase, not both",
					 NULL);
	if (protect && !realpath(pass_file, abs_pass)) {
		fprintf(stderr, "bastion: init: %s: %s\n", pass_file, strerror(errno));
		return 1;
	}
	if (conf_set(&c, "server", "domain", domain, err, sizeof(err)) ||
	    conf_set(&c, "server", "listen", listen, err, sizeof(err)) ||
	    conf_set(&c, "server", "profile", conf_profile_name(profile), err, sizeof(err)) ||
	    (database && conf_set(&c, "store", "database", database, err, sizeof(err)))) {
		fprintf(stderr, "bastion: init: %s\n", err);
		return 1;
	}
	conf_apply_profile(&c);
	conf_path_of(path, sizeof(path), state);
	if (access(path, F_OK) == 0) {
		fprintf(stderr,
			"bastion: init: %s already holds a state (%s exists); refusing to overwrite it\n",
			state, CONF_FILE_NAME);
		return 1;
	}
	rc = make_dirs(state, 0750);
	if (rc) {
		fprintf(stderr, "bastion: init: cannot create %s: %s\n", state, strerror(rc));
		return 1;
	}
	/* Built in memory, then created in one piece: a crash never leaves
	 * half a configuration (base_file_create). */
	f = open_memstream(&text, &text_len);
	if (!f) {
		fprintf(stderr, "bastion: init: %s\n", strerror(errno));
		return 1;
	}
	rc = conf_write_initial(f, domain, listen, profile);
	/* [tls] appears once more, with the one key init sets */
	if (!rc && protect &&
	    fprintf(f, "\n; set by bastion init --protect-server-key\n[tls]\n"
		       "key_passphrase_file = %s\n", abs_pass) < 0)
		rc = EIO;
	/* [store] likewise, with the database init was given */
	if (!rc && database &&
	    fprintf(f, "\n; set by bastion init --database\n[store]\ndatabase = %s\n", database) < 0)
		rc = EIO;
	if (fclose(f) != 0 && !rc)
		rc = EIO;
	if (!rc)
		rc = base_file_create(path, text, text_len, 0640);
	free(text);
	if (rc) {
		fprintf(stderr, "bastion: init: cannot create %s: %s\n", path, strerror(rc));
		return 1;
	}
	printf("Created %s for domain %s, listening on %s, profile %s.\n", path, domain, listen,
	       conf_profile_name(profile));
	if (admin_init_passphrase(pass, sizeof(pass), pass_file, ask) != 0 ||
	    init_state_files(state, &c, demo, pass[0] ? pass : NULL, protect) != 0) {
		OPENSSL_cleanse(pass, sizeof(pass));
		unlink(path);
		return 1;
	}
	OPENSSL_cleanse(pass, sizeof(pass));
	if (admin_hist_add(state, ADMIN_HIST_INIT, (int64_t)time(NULL)) != 0)
		fprintf(stderr, "bastion: init: warning: cannot write %s/%s\n", state,
			STATE_HISTORY_FILE);
	printf("Start the server with: bastion --state %s serve\n", state);
	printf("Check it against the guide's %s level with: bastion --state %s audit --level %s\n",
	       conf_profile_name(profile), state, conf_profile_name(profile));
	return 0;
}

/* ---- serve ------------------------------------------------------------------ */

static volatile sig_atomic_t stop_flag, reload_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	reload_flag = 1;
}

static int install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop; /* no SA_RESTART: epoll_wait must return EINTR */
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
		return errno;
	sa.sa_handler = on_hup;
	if (sigaction(SIGHUP, &sa, NULL))
		return errno;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL))
		return errno;
	return 0;
}

static void log_stats(const struct server *s)
{
	struct server_stats st;
	uint64_t refused = 0;

	server_get_stats(s, &st);
	for (int i = 0; i < SIP_E__COUNT; i++)
		refused += st.refused[i];
	log_notice("stopped: %llu messages received, %llu malformed answered, %llu malformed "
		 "dropped, %llu stray responses dropped",
		 (unsigned long long)st.received, (unsigned long long)refused,
		 (unsigned long long)st.dropped_malformed, (unsigned long long)st.dropped_responses);
	log_notice("guard: %llu dropped from banned sources, %llu over budget, %llu scanners, "
		   "%llu shed (overload), %llu bans (%llu not stored)",
		   (unsigned long long)st.dropped_banned, (unsigned long long)st.dropped_rate,
		   (unsigned long long)st.dropped_scanner, (unsigned long long)st.shed,
		   (unsigned long long)st.bans, (unsigned long long)st.bans_unsaved);
	/* forgotten nonces are answered stale=true (docs/registrar.md) */
	log_notice("nonces: %llu issued, %llu replays refused, %llu forgotten (stale): %llu out "
		   "of the window, %llu evicted from the reuse table",
		   (unsigned long long)st.nonces.issued, (unsigned long long)st.nonces.replays,
		   (unsigned long long)st.nonces.unknown, (unsigned long long)st.nonces.outside,
		   (unsigned long long)st.nonces.forgotten);
}

/* STATE/bastion.pid: how `bastion rotate` finds the running server to send
 * it SIGHUP. Written once the server is up, removed when it stops (if it is
 * still ours). A stale file is harmless: admin_server_pid checks the process. */
static void write_pid_file(const char *state)
{
	char path[4200], line[32];
	int fd, n;

	if (conf_state_path(path, sizeof(path), state, STATE_PID_FILE) != 0)
		return;
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write(fd, line, (size_t)n) != n)
		log_warn("cannot write %s: bastion rotate will not find this server", path);
	if (fd >= 0)
		close(fd);
}

static void remove_pid_file(const char *state)
{
	char path[4200];

	if (conf_state_path(path, sizeof(path), state, STATE_PID_FILE) == 0 &&
	    admin_server_pid(state) == (long)getpid())
		unlink(path);
}

static int cmd_serve(const char *state, int argc, char **argv)
{
	char path[4200], err[600], addr[80];
	struct server *s = NULL;
	struct conf c;
	int rc;

	if (argc > 1)
		return admin_usage_error("serve", "serve: unknown argument", argv[1]);
	conf_path_of(path, sizeof(path), state);
	if (access(path, F_OK) != 0) {
		fprintf(stderr, "bastion: serve: no %s in %s; create it with 'bastion init --state %s'\n",
			CONF_FILE_NAME, state, state);
		return 1;
	}
	if (conf_load(&c, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: %s\n", err);
		return 1;
	}
	log_set_level((enum log_level)c.log_level);
	rc = install_signals();
	if (rc) {
		fprintf(stderr, "bastion: serve: signals: %s\n", strerror(rc));
		return 1;
	}
	if (server_new(&s, &c, state, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: serve: %s\n", err);
		return 1;
	}
	write_pid_file(state);
	for (size_t i = 0; i < c.nlisteners; i++)
		log_notice("listening on %s",
			 net_addr_fmt(addr, sizeof(addr), c.listeners[i].tp, &c.listeners[i].addr));
	log_notice("ready: domain %s, state %s", c.domain, state);
	rc = server_run(s, path, &stop_flag, &reload_flag);
	if (rc)
		log_error("event loop failed: %s", strerror(rc));
	log_stats(s);
	server_free(&s);
	remove_pid_file(state);
	return rc ? 1 : 0;
}

/* ---- config ------------------------------------------------------------------ */

static int cmd_config(const char *state, int argc, char **argv)
{
	char path[4200], err[600];
	struct conf c;

	if (argc == 2 && strcmp(argv[1], "reference") == 0) {
		conf_write_reference(stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "show") == 0) {
		conf_path_of(path, sizeof(path), state);
		if (conf_load(&c, path, err, sizeof(err)) != 0) {
			fprintf(stderr, "bastion: %s\n", err);
			return 1;
		}
		printf("; effective configuration of %s (profile %s); after each value, where it\n"
		       "; comes from: default, profile or file\n",
		       path, conf_profile_name(c.profile));
		conf_show(stdout, &c);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "check") == 0) {
		conf_path_of(path, sizeof(path), state);
		if (conf_load(&c, path, err, sizeof(err)) != 0) {
			fprintf(stderr, "bastion: %s\n", err);
			return 1;
		}
		printf("%s: ok\n", path);
		return 0;
	}
	return admin_usage_error("config", "config: expected 'check', 'show' or 'reference'", NULL);
}

/* ---- help ---------------------------------------------------------------------- */

static const struct cmd commands[] = {
	{ "init", cmd_init,
	  "bastion init --state DIR [--domain D] [--listen LIST] [--profile P] [--demo]\n"
	  "         [--passphrase-file F | --ask-passphrase] [--protect-server-key]\n"
	  "         [--database postgresql://USER@HOST:PORT/DB?sslmode=...]",
	  "Create the state directory DIR with its bastion.conf, the nonce key (nonce.key),\n"
	  "the database (bastion.db), a local CA (ca.crt, ca.key) and a server certificate\n"
	  "for the domain (server.crt, server.key; EC P-256; also valid for 127.0.0.1 and\n"
	  "::1); keys mode 0600. Refuses to overwrite an existing state; TLS files already\n"
	  "in DIR are kept. LIST looks like udp:127.0.0.1:5060,tcp:127.0.0.1:5060,\n"
	  "tls:127.0.0.1:5061; the default listens on loopback only. The domain defaults\n"
	  "to localhost.\n"
	  "--profile P (minimum, medium or highest; default minimum) writes [server]\n"
	  "profile = P: the guide's robustness level, which sets the defaults of the\n"
	  "encryption, client certificate and digest settings (docs/operations.md).\n"
	  "--passphrase-file F (its first line) or --ask-passphrase (the terminal) encrypts\n"
	  "the CA key, at least 12 characters; --protect-server-key encrypts the server key\n"
	  "too, and sets [tls] key_passphrase_file = F so the server can start.\n"
	  "--demo also creates the users 1001 and 1002 with generated passwords, printed\n"
	  "once and kept in DIR/demo-credentials (mode 0600): for trying things out only.\n"
	  "--database keeps users, bindings, bans and call records in PostgreSQL instead of\n"
	  "DIR/bastion.db, shared by several nodes: init creates the schema there, or joins\n"
	  "a database that has it. The password comes from a 0600 pgpass file (passfile=\n"
	  "in the URL, PGPASSFILE or ~/.pgpass), never from the URL. See docs/scaling.md." },
	{ "serve", cmd_serve, "bastion --state DIR serve",
	  "Run the server in the foreground. SIGTERM or SIGINT stops it cleanly; SIGHUP\n"
	  "re-reads bastion.conf (a bad file is refused and the running configuration kept;\n"
	  "listener changes need a restart)." },
	{ "config", cmd_config,
	  "bastion --state DIR config check | show | bastion config reference",
	  "check: validate DIR/bastion.conf as the server would (use before SIGHUP).\n"
	  "show: every effective setting, and where its value comes from: the built-in\n"
	  "default, the robustness profile ([server] profile) or the file.\n"
	  "reference: print the reference of every setting (Markdown)." },
	{ "user", admin_cmd_user,
	  "bastion user add|passwd|show|list|enable|disable|del|import|identity|cert|set ...",
	  "  user add NAME [--domain D] (--generate | --password-stdin)\n"
	  "  user passwd NAME [--domain D] (--generate | --password-stdin)\n"
	  "  user show NAME [--domain D]\n"
	  "  user list\n"
	  "  user enable NAME [--domain D]\n"
	  "  user disable NAME [--domain D]\n"
	  "  user del NAME [--domain D]\n"
	  "  user import FILE\n"
	  "  user identity add|del NAME URI [--domain D]\n"
	  "  user identity list NAME [--domain D]\n"
	  "  user cert NAME require|off [--domain D]\n"
	  "  user set NAME --calling internal|local|national|international|premium|default\n"
	  "  user set NAME --digest sha256|md5|both|site [--domain D]\n\n"
	  "Manage the users who may register. The domain defaults to the server's domain.\n"
	  "--generate prints a random 20-character password once; --password-stdin reads\n"
	  "one line and refuses passwords shorter than 12 characters, containing the user\n"
	  "name, or in the list of common passwords. Only digest HA1 values (MD5 and\n"
	  "SHA-256, for the configured realm) are stored, never the password.\n"
	  "import reads CSV lines name,domain,ha1_md5[,ha1_sha256] (as Kamailio, OpenSIPS\n"
	  "and Asterisk store them; computed for the configured realm) in one transaction:\n"
	  "a bad line is named and nothing is imported. Works while the server runs; it\n"
	  "picks up changes within a second. See docs/users.md.\n"
	  "identity: the URIs (sip:user@host, sips:, tel:+number) a user may put in From\n"
	  "besides its own address; see docs/identity.md.\n"
	  "cert require: the user may register and call only over TLS with a client\n"
	  "certificate from the local CA naming it (bastion tls issue NAME; the [tls]\n"
	  "verify_client setting must ask for certificates); cert off lifts that. See\n"
	  "docs/tls.md.\n"
	  "set --calling: the classes of numbers beyond the building the user may call,\n"
	  "stored with the user (running servers use it within a second); default\n"
	  "returns to bastion.conf's ([calling] line, else [dialplan] calling). See\n"
	  "docs/trunks.md.\n"
	  "set --digest: the digest algorithms the user is challenged with: sha256, md5\n"
	  "(phones that fail on a SHA-256 challenge, such as baresip 1.0), both (SHA-256\n"
	  "first), or site ([auth] algorithms, the default). See docs/users.md." },
	{ "reg", admin_cmd_reg, "bastion reg list [NAME [--domain D]]",
	  "Show the current registrations (bindings): address of record, contact, source\n"
	  "address, transport, time to expiry and user agent; of one user with NAME." },
	{ "cdr", admin_cmd_cdr, "bastion cdr list [--since T] [--user U]",
	  "Show the call detail records, one line per call attempt, oldest first: start\n"
	  "time (UTC), caller (From) -> callee, authenticated user ('-' for none), final\n"
	  "status, connected duration, who hung up, source address and Call-ID.\n"
	  "--since T: only attempts that started at or after T, given as unix seconds,\n"
	  "a UTC date 2026-11-23 or date-time 2026-11-23T10:00:00Z, or relative to now:\n"
	  "-30m, -1h, -2d (s, m, h, d).\n"
	  "--user U: only the attempts user U authenticated (the user name, exactly).\n"
	  "The same records are appended to cdr.log as JSON lines. See docs/cdr.md." },
	{ "tls", admin_cmd_tls, "bastion tls init|issue|show ...",
	  "  tls issue NAME [--out DIR] [--days N] [--passphrase-file F]\n"
	  "  tls show\n"
	  "  tls init [--passphrase-file F | --ask-passphrase]\n\n"
	  "issue: a client certificate for a phone or peer from the local CA: CN=NAME,\n"
	  "subjectAltName URI sip:NAME@domain, clientAuth, EC P-256, N days (at most and\n"
	  "by default 825), written as DIR/NAME.crt and DIR/NAME.key (mode 0600; DIR\n"
	  "defaults to STATE/issued). An encrypted CA key is unlocked with the first\n"
	  "line of F, else a passphrase asked on the terminal.\n"
	  "show: the server and CA certificates (subject, validity, names, SHA-256\n"
	  "fingerprint), whether keys are encrypted, the client certificate mode.\n"
	  "init: create what is missing of the CA and the server certificate in an\n"
	  "existing state (one made before TLS). See docs/tls.md." },
	{ "ban", admin_cmd_ban, "bastion ban list | add ADDR [TIME] | del ADDR",
	  "  ban list\n"
	  "  ban add ADDR [TIME]\n"
	  "  ban del ADDR\n\n"
	  "The guard's bans of source addresses, kept in the database: they survive a\n"
	  "restart, and a running server picks up changes made here.\n"
	  "list: one line per active ban, soonest end first: address, end (UTC), time\n"
	  "remaining, how often the source was banned, and why.\n"
	  "add: ban ADDR, an IPv4 or IPv6 address, for TIME: seconds, or a number with s,\n"
	  "m, h or d (90, 30m, 2h, 7d), 1 second to 10 years; default [guard] ban_max.\n"
	  "An IPv6 address bans its whole [guard] ipv6_prefix (2001:db8:1:2::5 bans\n"
	  "2001:db8:1:2::/64); the prefix may be typed as such. An existing ban of the\n"
	  "source is replaced and its count goes up. Addresses on the [guard] allow list\n"
	  "are refused.\n"
	  "del: lift the ban of ADDR (same forms) and forget its count; a key exactly as\n"
	  "list prints it is accepted too. See docs/guard.md." },
	{ "audit", admin_cmd_audit, "bastion audit [--level minimum|medium|highest] [--json]",
	  "Check the installation as it is against the guide's robustness levels: listeners\n"
	  "and encryption policy, client certificates, passwords and digest algorithms,\n"
	  "file modes, the CA key, certificate expiry, the OpenSSL in use, logging,\n"
	  "backups and key rotation. Each check names the guide's section and level, says\n"
	  "pass, warn, fail or n/a (feature absent), what it found and the setting or\n"
	  "command that fixes it. --level defaults to [server] profile; checks of higher\n"
	  "levels are shown but not counted. Exit status 1 when a counted check fails.\n"
	  "--json prints the same as one JSON object. --reference prints the check table\n"
	  "of docs/mitigations.md. See docs/operations.md." },
	{ "backup", admin_cmd_backup,
	  "bastion backup --to FILE [--passphrase-file F | --to-public-key PUB]\n"
	  "       bastion backup verify FILE [--passphrase-file F] [--private-key KEY]",
	  "--to FILE: an encrypted backup of the state: a consistent snapshot of the\n"
	  "database (SQLite's online backup API: safe while the server runs), the\n"
	  "configuration, the nonce key, the TLS keys and certificates (the CA key if it\n"
	  "is here), issued phone certificates and the history. AES-256-GCM under a key\n"
	  "that scrypt derives from the passphrase (first line of F, else asked on the\n"
	  "terminal; at least 12 characters), or, with --to-public-key PUB, under a key\n"
	  "agreed with that X25519 public key (PEM): the server then never holds what\n"
	  "decrypts it. FILE is written atomically, mode 0600, and never overwritten.\n"
	  "verify FILE: decrypt and authenticate it (with the passphrase, or the private\n"
	  "key KEY, unlocked with F if encrypted), list what it holds and run SQLite's\n"
	  "integrity check on the database. A wrong passphrase or key, or a truncated,\n"
	  "altered or foreign file, is refused. See docs/operations.md." },
	{ "restore", admin_cmd_restore,
	  "bastion restore --from FILE --state DIR [--passphrase-file F] [--private-key KEY]",
	  "Put a backup back into DIR, which must be new or empty. The whole file is\n"
	  "decrypted and authenticated first: a wrong passphrase or private key, or a\n"
	  "truncated, altered or foreign file, is refused and nothing is written. Then\n"
	  "serve from DIR." },
	{ "rotate", admin_cmd_rotate,
	  "bastion rotate [--server-key] [--ca] [--nonce-key] [--ticket-keys]\n"
	  "         [--passwords [--out FILE] [--deadline T]] [--client-certs [--cert NAME]]\n"
	  "         [--passphrase-file F] [--ca-key K]\n"
	  "       bastion rotate --move-deadline T",
	  "Replace keys and credentials, e.g. after a flaw in the TLS library or a host\n"
	  "compromise (all parts combine; each is recorded for 'bastion audit'):\n"
	  "  --server-key    new server key and certificate from the CA; a running server\n"
	  "                  loads them on the SIGHUP rotate sends, keeping open\n"
	  "                  connections and calls\n"
	  "  --ca            new local CA (and server certificate); lists the phone\n"
	  "                  certificates to reissue; phones must trust the new ca.crt\n"
	  "  --nonce-key     new nonce key: outstanding nonces are refused at once\n"
	  "  --ticket-keys   the running server renews its TLS session ticket keys\n"
	  "  --passwords     every user must change password. --out FILE: a new generated\n"
	  "                  password for each, in the new file FILE (mode 0600).\n"
	  "                  --deadline T: the old passwords keep working until T (phones\n"
	  "                  using one are told), then get 403 Password Expired; without\n"
	  "                  it they stop at once. --deadline without --out generates\n"
	  "                  nothing: set each password with 'user passwd' by T.\n"
	  "                  T: now, +7d, +12h, 2026-12-20T10:00:00Z, unix seconds\n"
	  "  --move-deadline T  move the deadline of every user still pending (now: end\n"
	  "                  the grace at once; later: more time)\n"
	  "  --client-certs  revoke every certificate in issued/, or only NAME's with\n"
	  "                  --cert NAME (crl.pem, checked by the TLS handshake); issue\n"
	  "                  new ones with 'bastion tls issue'\n"
	  "The CA key is STATE/ca.key or --ca-key K (one kept offline); an encrypted one\n"
	  "is unlocked with the first line of F, else asked on the terminal; with --ca, F\n"
	  "encrypts the new CA key. See docs/operations.md." },
	{ "events", admin_cmd_events,
	  "bastion events [--since T] [--type PATTERN] [--user U] [--source ADDR] [--json]\n"
	  "               [--file F] [--key K]",
	  "Show the security events of security.log, oldest first: time (UTC), kind, source,\n"
	  "status, user, address of record, reason, Call-ID, User-Agent. The hash chain and\n"
	  "the checkpoints are checked while reading: a line that was altered, removed or\n"
	  "inserted is named on stderr and the exit status is 1 (the events are still shown).\n"
	  "--since T: events at or after T (as for 'cdr list': unix seconds, 2026-11-23,\n"
	  "2026-11-23T10:00:00Z, -30m, -1h, -2d).\n"
	  "--type PATTERN: kinds matching a shell pattern, e.g. 'auth.*' or register.hijack.\n"
	  "--user U: events of user U (exactly). --source ADDR: from IP address ADDR.\n"
	  "--json: the matching lines as written (JSON, with seq and prev).\n"
	  "--file F: read F (a rotated file, a copy) instead of the state's security log.\n"
	  "--key K: the checkpoint key (default: the state's [log] key). See\n"
	  "docs/monitoring.md." },
	{ "log", admin_cmd_log, "bastion log verify FILE... [--key K | --no-key]",
	  "Check that security.log or cdr.log files are intact: every line carries the\n"
	  "SHA-256 of the line before it, and keyed checkpoints (HMAC-SHA256 with the\n"
	  "state's [log] key, or --key K) bind the chain. Give rotated files oldest first\n"
	  "(security.log.2 security.log.1 security.log): the chain continues across them.\n"
	  "Prints 'intact' and exits 0, or names the first line that was altered, removed\n"
	  "or inserted and exits 1. Without a key only the hashes are checked, which\n"
	  "cannot catch a chain rewritten with fresh hashes. See docs/monitoring.md." },
	{ "store", admin_cmd_store,
	  "bastion store migrate [--database LOC] | store copy --from LOC --to LOC",
	  "  store migrate [--database LOC]\n"
	  "  store copy --from LOC --to LOC\n\n"
	  "LOC is an SQLite file or a PostgreSQL URL (postgresql://USER@HOST:PORT/DB).\n"
	  "migrate: bring the schema of the configured database (or LOC) to this build's\n"
	  "version, in one transaction (PostgreSQL: under an advisory lock, so nodes that\n"
	  "upgrade at once do it once). A schema newer than this build is refused.\n"
	  "copy: move an installation: users (with their passwords' HA1 and age),\n"
	  "identities, bindings, bans and call records from --from into --to, which must\n"
	  "be empty. The users go in one transaction. Stop the server first. See\n"
	  "docs/scaling.md." },
	{ "peer", admin_cmd_peer, "bastion peer list | show NAME | add NAME ... | del NAME",
	  "  peer list\n"
	  "  peer show NAME\n"
	  "  peer add NAME --address udp:HOST:PORT[,tcp:HOST:PORT...] [--role gateway|trunk]\n"
	  "           [--trust-pai yes|no] [--max-calls-out N] [--max-calls-in N] [--cps N]\n"
	  "           [--sources CIDR,...] [--tls-name NAME] [--strip N] [--prepend DIGITS]\n"
	  "  peer del NAME\n\n"
	  "The PSTN gateways and SIP trunks calls beyond the building go to, as the\n"
	  "[peer NAME] sections of bastion.conf. add and del rewrite the file only when\n"
	  "the result loads as the server would load it (the error names file and line);\n"
	  "a running server takes the change on SIGHUP. See docs/trunks.md." },
	{ "location", admin_cmd_location, "bastion location list | add NAME ... | del NAME",
	  "  location list\n"
	  "  location add NAME --prefix CIDR[,CIDR...] --civic 'country=US;A1=NY;A3=New York;\n"
	  "               RD=Main Street;HNO=100;FLR=2;BLD=North;ROOM=201' [--elin +1NNNNNNNNNN]\n"
	  "  location del NAME\n\n"
	  "The places emergency calls are sent from: a phone registering from one of the\n"
	  "prefixes is there, unless its user has a location of its own (bastion user set\n"
	  "NAME --location ...). The ELIN is the callback number sent for a user without a\n"
	  "DID. Fields (RFC 5139): country, A1 region, A3 city, RD street, HNO number, FLR\n"
	  "floor, BLD building, ROOM room; each has a length limit. [location NAME] sections\n"
	  "of bastion.conf, rewritten only when the result loads; a running server takes the\n"
	  "change on SIGHUP. See docs/emergency.md." },
	{ "fraud", admin_cmd_fraud, "bastion fraud list | clear NAME [--domain D]",
	  "  fraud list\n"
	  "  fraud clear NAME [--domain D]\n\n"
	  "The users whose outside calling is on hold after a fraud.alert (with [fraud]\n"
	  "suspend = yes), with why and since when; clear lifts a user's hold, and every\n"
	  "running server lets its outside calls through again within a second. The hold\n"
	  "is stored with the user, so it survives restarts. See docs/trunks.md." },
	{ "firewall", admin_cmd_firewall, "bastion --state DIR firewall",
	  "Print an nftables rule set for this configuration (load it with nft -f): the\n"
	  "SIP and TLS ports reached only by the peers and the [network] phones networks,\n"
	  "and the phone networks kept from reaching any peer directly. See docs/trunks.md." },
	{ "help", NULL, "bastion help [COMMAND]", "Show the commands, or the usage of one." },
};

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_cmd_help(const struct cmd *c)
{
	printf("usage: %s\n\n%s\n", c->usage, c->help);
}

static int cmd_help(const char *topic)
{
	const struct cmd *c;

	if (topic) {
		c = find_cmd(topic);
		if (!c)
			return admin_usage_error(NULL, "help: unknown command", topic);
		print_cmd_help(c);
		return 0;
	}
	printf("Bastion %s, a hardened SIP server.\n\n"
	       "usage: bastion [--state DIR] COMMAND [ARGS]\n\ncommands:\n",
	       BASTION_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		printf("  %s\n", commands[i].usage);
	printf("\nThe state directory is --state DIR, else $BASTION_STATE, else %s.\n"
	       "'bastion COMMAND --help' shows one command; docs/ has the manual.\n",
	       ADMIN_DEFAULT_STATE);
	return 0;
}

/* Is there a --help or -h among the arguments of a command ("bastion user
 * add --help" as well as "bastion user --help")? */
static bool wants_help(int nargs, char **args)
{
	for (int i = 1; i < nargs; i++)
		if (strcmp(args[i], "--help") == 0 || strcmp(args[i], "-h") == 0)
			return true;
	return false;
}

int admin_main(int argc, char **argv)
{
	const char *state = NULL;
	char **args;
	int nargs = 0, rc;
	const struct cmd *c;

	/* Take --state out wherever it is; what remains is COMMAND ARGS. */
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args)
		return 1;
	for (int i = 1; i < argc; i++) {
		const char *v;
		if (strcmp(argv[i], "--state") == 0 && i + 1 >= argc) {
			free(args);
			return admin_usage_error(NULL, "--state needs a directory", NULL);
		}
		if ((v = admin_opt_value(argc, argv, &i, "--state")))
			state = v;
		else
			args[nargs++] = argv[i];
	}
	if (!state || !*state)
		state = getenv("BASTION_STATE");
	if (!state || !*state)
		state = ADMIN_DEFAULT_STATE;

	if (nargs == 0) {
		cmd_help(NULL);
		rc = 2;
	} else if (strcmp(args[0], "--version") == 0 || strcmp(args[0], "version") == 0) {
		printf("bastion %s\n", BASTION_VERSION);
		rc = 0;
	} else if (strcmp(args[0], "help") == 0 || strcmp(args[0], "--help") == 0 ||
		   strcmp(args[0], "-h") == 0) {
		rc = cmd_help(nargs > 1 ? args[1] : NULL);
	} else if (!(c = find_cmd(args[0]))) {
		rc = admin_usage_error(NULL, "unknown command", args[0]);
	} else if (wants_help(nargs, args)) {
		print_cmd_help(c);
		rc = 0;
	} else {
		rc = c->run(state, nargs, args);
		admin_event_record(state, nargs, args, rc);
	}
	free(args);
	return rc;
}
