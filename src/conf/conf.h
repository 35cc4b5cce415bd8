/*
 * conf: the server's configuration, read from the INI file bastion.conf in
 * the state directory (inih).
 *
 * Every setting is one row of a table (section, key, type, bounds, default,
 * help). The same table loads and validates the file, fills the defaults,
 * writes the commented bastion.conf that `bastion init` creates, and prints
 * the reference that docs/configuration.md carries, so the three cannot
 * drift apart. An unknown section or key, a duplicated key or a bad value
 * stops loading with "file:line: what is wrong".
 */
#ifndef BASTION_CONF_H
#define BASTION_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../guard/guard.h"
#include "../net/net.h"
#include "../sip/sip.h"
#include "../trunk/trunk.h"
#include "../emerg/emerg.h"

#define CONF_MAX_SETTINGS 128 /* rows of the settings table, at most */

enum conf_log_level { CONF_LOG_ERROR = 0, CONF_LOG_WARN, CONF_LOG_INFO, CONF_LOG_DEBUG };

struct conf {
	/* [server] */
	char domain[256];
	char listen[1024];
	struct net_listen_spec listeners[NET_MAX_LISTEN];
	size_t nlisteners;
	char server_header[128];     /* empty: no Server header */
	uint32_t profile;            /* enum conf_profile: the defaults in force */
	uint32_t stop_grace;         /* seconds SIGTERM waits for work in progress */

	/* [limits] */
	struct sip_limits lim;

	/* [tcp] */
	uint32_t max_connections;
	uint32_t idle_timeout;       /* seconds */
	uint32_t header_timeout;     /* seconds */
	uint32_t max_per_source;     /* connections from one address */
	uint32_t min_rate;           /* bytes/s a started message must keep up */

	/* [tls] */
	char tls_certificate[256];   /* PEM, relative to the state dir */
	char tls_key[256];
	char tls_ca[256];
	char tls_key_passphrase_file[256]; /* empty: the key is not encrypted */
	uint32_t tls_verify_client;  /* enum conf_tls_verify */
	uint32_t tls_ticket_lifetime; /* seconds, 0: no session tickets */
	char tls_peer_ca[256];       /* CAs of TLS peers; "" the system's */
	char tls_crl[256];           /* revoked client certificates (PEM), used when it exists */

	/* [log] */
	uint32_t log_level;          /* enum conf_log_level */
	uint32_t refusal_log_rate;   /* refusal log lines per second, 0 = none */
	char security_log[256];      /* security events, JSON lines; relative to the state dir */
	uint32_t syslog;             /* enum conf_bool: also send security events to syslog */
	char cdr_log[256];           /* call detail records, JSON lines; relative to the state dir */
	char log_key[256];           /* HMAC key of the log checkpoints; relative to the state dir */
	uint32_t checkpoint_interval; /* seconds between keyed checkpoints */
	char remote[300];            /* "tls:HOST:PORT" or empty */
	char remote_host[256];       /* parsed from remote */
	uint16_t remote_port;
	char remote_ca[256], remote_name[256], remote_certificate[256], remote_key[256];
	char remote_queue[256];      /* directory, relative to the state dir */
	uint32_t remote_queue_size;  /* KiB */

	/* [metrics] */
	char metrics_listen[128];    /* host:port; empty: no metrics listener */
	struct net_addr metrics_addr; /* parsed metrics_listen */
	uint32_t metrics_max_request; /* bytes */
	uint32_t metrics_timeout;    /* seconds */
	uint32_t metrics_max_connections;
	uint32_t metrics_tls;        /* enum conf_bool: HTTPS with client certificates */
	char metrics_client_ca[256]; /* CAs client certificates must chain to */

	/* [store] */
	char database[1024];         /* SQLite file (relative to the state dir) or URL */
	uint32_t write_queue_max;    /* writes that may wait for an unreachable PostgreSQL */
	uint32_t durability;         /* enum conf_durability */
	uint32_t batch_max;          /* binding changes per transaction (group commit) */
	uint32_t batch_wait;         /* ms the oldest change of a batch may wait */
	uint32_t queue_max;          /* binding changes waiting for the store */

	/* [auth] */
	char realm[256];             /* empty: the domain */
	char algorithms[64];         /* "SHA-256,MD5": challenge order, as written */
	uint8_t algos[2];            /* the same parsed at load: enum auth_algo values */
	uint8_t nalgos;
	uint32_t nonce_lifetime;     /* seconds */
	uint32_t sha256_unanswered;  /* challenges; 0 = no note */
	uint32_t flow_grace;         /* seconds */
	uint32_t flow_timer;         /* seconds; 0 = none sent */
	uint32_t uri_check;          /* enum conf_uri_check */
	uint32_t nonce_window;       /* recent nonces whose first answer is remembered */
	uint32_t nonce_table_size;   /* nonces reused (nc above 2) whose count is remembered */
	uint32_t max_users;          /* credential cache bound */

	/* [registrar] */
	uint32_t min_expires, max_expires, default_expires; /* seconds */
	uint32_t max_contacts;       /* per address of record */
	uint32_t max_bindings;       /* all addresses of record together */

	/* [proxy] */
	uint32_t max_transactions;   /* server and client transactions together */
	uint32_t max_dialogs;        /* confirmed calls tracked at once */
	uint32_t invite_timeout;     /* timer C, seconds */

	/* [guard] (guard.h says what each does) */
	uint32_t guard_sources, guard_users, guard_v6_prefix;
	uint32_t rate, invite_rate, register_rate;
	uint32_t auth_credit, auth_ceiling, trust_window;
	uint32_t ban_drops, ban_grace, ban_time, ban_max;
	uint32_t fail_window, source_fail_limit, user_fail_limit, lock_time;
	uint32_t overload_delay;     /* ms of queueing that means overload; 0: off */
	char allow[1024];            /* CIDR list, never limited nor banned */
	char scanners[1024];         /* User-Agent / From / To fingerprints */

	/* [policy] */
	uint32_t signaling;          /* enum conf_signaling */
	uint32_t media;              /* enum conf_media */

	/* Where each setting's value came from (enum conf_origin), indexed like
	 * the settings table; conf_show prints it. */
	uint8_t origin[CONF_MAX_SETTINGS];
	/* [network] */
	char phones[1024];           /* CIDR list of the phone networks (bastion firewall) */

	/* [peer NAME], [routes], [classes], [dialplan], [dids], [calling]:
	 * peers and the dial plan (trunk/, docs/trunks.md) */
	struct trunk_conf trunk;
	/* [trunks] secrets: the peers' credentials file (trunk/secrets.c) */
	char trunk_secrets[256];
	/* [fraud]: the users' toll-fraud limits and the burst alert (trunk/fraud.c) */
	struct trunk_fraud_conf fraud;
	/* [emergency], [emergency_routes], [location NAME]: emergency calls
	 * (emerg/, docs/emergency.md) */
	struct emerg_conf emerg;
};

/* The guide's robustness levels. A profile gives some settings another
 * default (a column of the settings table); a value in the file still wins. */
enum conf_profile { CONF_PROFILE_MINIMUM = 0, CONF_PROFILE_MEDIUM, CONF_PROFILE_HIGHEST,
		    CONF_PROFILE__COUNT };
enum conf_origin { CONF_FROM_DEFAULT = 0, CONF_FROM_PROFILE, CONF_FROM_FILE };

/* "minimum", "medium", "highest"; NULL out of range. */
const char *conf_profile_name(unsigned p);
/* The profile named s. Returns 0 or EINVAL. */
int conf_profile_parse(const char *s, enum conf_profile *out);

enum conf_signaling { CONF_SIGNALING_ANY = 0, CONF_SIGNALING_TLS };
/* [store] durability; none is the old write-behind (registrar_conf.write_behind) */
enum conf_durability { CONF_DURABLE_PROCESS = 0, CONF_DURABLE_POWER, CONF_DURABLE_NONE };
enum conf_media { CONF_MEDIA_ANY = 0, CONF_MEDIA_SRTP };

/* guard_conf from c, with its lists split into storage the caller keeps. */
struct conf_guard {
	struct guard_conf gc;
	char buf[2048];
	const char *allow[GUARD_ALLOW_MAX];
	const char *scanners[GUARD_SCANNER_MAX];
};
void conf_guard(const struct conf *c, struct conf_guard *out);
/* Whether a and b give the guard the same settings (conf_guard's fields,
 * its lists compared as written). A reload keeps the running guard, with
 * its rates, trust and failure counts, when they do. */
bool conf_guard_same(const struct conf *a, const struct conf *b);

enum conf_bool { CONF_NO = 0, CONF_YES = 1 };
enum conf_uri_check { CONF_URI_STRICT = 0, CONF_URI_RELAXED };
enum conf_tls_verify { CONF_TLS_VERIFY_NONE = 0, CONF_TLS_VERIFY_OPTIONAL, CONF_TLS_VERIFY_REQUIRE };

/* Files in the state directory. */
#define STATE_KEY_FILE "nonce.key"
#define STATE_DEMO_FILE "demo-credentials"

/* Resolve a path setting against the state directory (absolute paths are
 * kept). Returns 0 or ENAMETOOLONG. */
int conf_state_path(char *out, size_t cap, const char *state, const char *setting);

#define CONF_FILE_NAME "bastion.conf"

/* Fill c with every default. */
void conf_defaults(struct conf *c);

/*
 * Load path over the defaults into c. Returns 0, or EINVAL (bad content:
 * err holds "path:line: message"), or an errno from opening the file (err
 * names the file and the reason). c is only written on success.
 */
int conf_load(struct conf *c, const char *path, char *err, size_t errlen);

/* Set one value as the file would (its origin becomes "file"); setting
 * [server] profile does not apply it: call conf_apply_profile. Returns 0 or
 * EINVAL with a message. A dial-plan section (trunk_section) goes to trunk_conf_set; conf_load then
 * checks the whole of it (trunk_conf_check). */
int conf_set(struct conf *c, const char *section, const char *key, const char *value, char *err,
	     size_t errlen);

/* Give every setting that the file did not set the value of c's profile,
 * or its default when the profile has none (conf_load does this). */
void conf_apply_profile(struct conf *c);

/*
 * Print every effective setting of c, one "key = value ; origin" line under
 * its [section], origin being "default", "profile NAME" or "file".
 */
void conf_show(FILE *f, const struct conf *c);

/* The net/ settings derived from c. */
void conf_net(const struct conf *c, struct net_conf *out);

/*
 * The [tls] settings of c as net/'s struct net_tls_conf (out->tc), each file
 * resolved against the state directory into out's buffers: the CA only
 * when [tls] ca is set, the peers' CAs when peer_ca is, the passphrase file
 * when key_passphrase_file is, the revocation list when crl is (the caller
 * drops it while the file does not exist yet: `bastion rotate
 * --client-certs` makes it; one whose path is too long is left out, as
 * before). Returns 0, or ENAMETOOLONG with err naming the setting ("TLS file
 * path too long", "TLS peer_ca path too long", "TLS passphrase file path
 * too long"). No I/O.
 */
struct conf_tls {
	struct net_tls_conf tc;
	char cert[1100], key[1100], ca[1100], crl[1100], passphrase[1100], peer_ca[1100];
};
int conf_tls(struct conf_tls *out, const struct conf *c, const char *state, char *err,
	     size_t errlen);

/* The digest realm: [auth] realm, or the domain when that is empty. The
 * string is c's. */
const char *conf_realm(const struct conf *c);

/*
 * What a reload (SIGHUP) may not change: the groups of settings that only a
 * restart applies, in the order their warnings are logged.
 */
enum conf_restart {
	CONF_RESTART_LISTEN = 0, /* [server] listen (and the listeners parsed from it) */
	CONF_RESTART_RESERVE,    /* [emergency] reserved_transactions */
	CONF_RESTART_STATE,      /* database, nonce_window, nonce_table_size, max_users */
	CONF_RESTART_METRICS,    /* [metrics] listen (its address, and tls) */
	CONF_RESTART_REMOTE,     /* [log] remote (its host and port, remote_queue_size) */
	CONF_RESTART__COUNT
};

/* The outcome of conf_reload_merge: which groups the new file changed, and
 * the warning for each, ready to log (static strings, in group order). */
struct conf_reload {
	uint32_t changed;                          /* bit (1u << enum conf_restart) */
	size_t nwarnings;
	const char *warning[CONF_RESTART__COUNT];
};

/*
 * The reload's rule, as a value: next (a freshly loaded file) gets back
 * running's value of every setting only a restart applies (listen and the
 * listeners, [emergency] reserved_transactions, database, nonce_window,
 * nonce_table_size, max_users, [metrics] listen, its address and tls,
 * [log] remote, its host, port and remote_queue_size), so that next is
 * what the running server applies. out says which groups next had changed,
 * each with the warning the server logs ("reload: listen changed; the new
 * listeners need a restart", ...). Pure: no I/O, no allocation.
 */
void conf_reload_merge(struct conf *next, const struct conf *running, struct conf_reload *out);

/* Write a complete, commented bastion.conf: domain, listen and (unless it
 * is the default, minimum) profile set, every other setting present as a comment showing its value under that
 * profile. Returns 0 or an errno. */
int conf_write_initial(FILE *f, const char *domain, const char *listen,
		       enum conf_profile profile);

/* Write the Markdown reference of every setting (docs/configuration.md). */
void conf_write_reference(FILE *f);

#endif
