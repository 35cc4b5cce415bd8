/*
 * admin internals: what the command files (admin.c, user.c, password.c, ...)
 * share and nothing outside the layer needs. The unit tests include it to
 * reach the password rules and the generator.
 */
#ifndef BASTION_ADMIN_INTERNAL_H
#define BASTION_ADMIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>

#include "../net/net.h"

struct conf;
struct store;

/* Print "bastion: MESSAGE [ARG]" and where to find the usage of cmd;
 * returns exit status 2. */
int admin_usage_error(const char *cmd, const char *msg, const char *arg);

/* Value of "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past a
 * separate value. NULL when argv[*i] is not that option. */
const char *admin_opt_value(int argc, char **argv, int *i, const char *name);

/* Load DIR/bastion.conf into *c and open its database into *sp. Prints the
 * reason and returns 1 (the exit status) on failure, 0 on success. */
int admin_open_state(struct conf *c, struct store **sp, const char *state);

/* The digest realm of c: its realm setting, else its domain. */
const char *admin_realm(const struct conf *c);

/* ---- users (user.c) ------------------------------------------------------ */

int admin_cmd_user(const char *state, int argc, char **argv);
int admin_cmd_reg(const char *state, int argc, char **argv);

/*
 * Create the demo users 1001 and 1002 in c->domain with generated passwords,
 * write them to the new file demo_path (O_EXCL, mode 0600) and print them
 * with a hint on registering a softphone. Returns 0 or 1 (message printed).
 */
int admin_demo_users(struct store *s, const struct conf *c, const char *demo_path);

/* The credentials of name for password pw in realm: both HA1 values in hex,
 * strength "checked". Returns 0 or the error of auth_ha1/auth_hex. */
struct store_cred;
int admin_make_cred(struct store_cred *cred, const char *name, const char *realm, const char *pw);
/* ---- databases (store.c) ---------------------------------------------------- */

/* `bastion store migrate [--database LOC]` and `bastion store copy --from LOC
 * --to LOC`; returns the exit status. */
int admin_cmd_store(const char *state, int argc, char **argv);

/* ---- call detail records (cdr.c) ------------------------------------------ */

int admin_cmd_cdr(const char *state, int argc, char **argv);

/*
 * Parse a --since value into unix seconds: all digits (unix seconds),
 * YYYY-MM-DD (midnight UTC), YYYY-MM-DDTHH:MM[:SS]Z (UTC; the Z is required
 * so nobody mistakes it for local time), or -N followed by s, m, h or d (that
 * long before now, floored at 0). Returns 0, or EINVAL with the reason, for
 * the operator, in why.
 */
int admin_parse_since(const char *s, int64_t now, int64_t *out, char *why, size_t cap);

/* ---- logs (logs.c) ----------------------------------------------------------- */

int admin_cmd_log(const char *state, int argc, char **argv);
int admin_cmd_events(const char *state, int argc, char **argv);

/* ---- peers and the firewall (peer.c) ----------------------------------------- */

int admin_cmd_peer(const char *state, int argc, char **argv);
int admin_cmd_firewall(const char *state, int argc, char **argv);
/* bastion.conf of state as text (malloc'd, NUL-terminated), or NULL. */
char *admin_conf_read(const char *state, size_t *len);
/* Write text as the new bastion.conf if it loads with the server's own
 * loader; else say why (what names the command). Returns 0 or 1. */
int admin_conf_replace(const char *state, const char *text, size_t len, const char *what);
/* text (NUL-terminated) without the section whose header line is header
 * (say "[peer gw1]"), from that line to the next section: a new
 * NUL-terminated allocation of *out_len bytes, or NULL without memory.
 * *found says whether the section was there. */
char *admin_conf_drop_section(const char *text, const char *header, size_t *out_len,
			      bool *found);

/* ---- emergency locations (location.c) ---------------------------------------- */
/* bastion location add NAME --prefix P[,P] [--civic TEXT] [--elin E164] |
 * list | del NAME: [location NAME] sections of bastion.conf. */
int admin_cmd_location(const char *state, int argc, char **argv);
/* `bastion user set NAME --calling CLASS`: the user's calling class, stored
 * with the user ("default": bastion.conf's; docs/trunks.md). */
int admin_user_set(const char *state, int argc, char **argv);

/* ---- toll-fraud holds (fraud.c) ----------------------------------------------- */

/* `bastion fraud list | clear NAME [--domain D]`: the users whose outside
 * calling a fraud.alert put on hold ([fraud] suspend), and lifting a hold. */
int admin_cmd_fraud(const char *state, int argc, char **argv);

/* ---- bans (ban.c) ----------------------------------------------------------- */

#define ADMIN_BAN_MAX_S (3650LL * 86400) /* longest ban `ban add` takes: 10 years */

int admin_cmd_ban(const char *state, int argc, char **argv);

/*
 * Parse the TIME of `ban add` into seconds: digits (seconds) or digits
 * followed by one of s, m, h, d; 1 s to ADMIN_BAN_MAX_S. No sign, space or
 * fraction. Returns 0, or EINVAL with the reason, for the operator, in why.
 */
int admin_parse_duration(const char *s, int64_t *out, char *why, size_t cap);

/* Format secs (negative counts as 0) as "59m58s", "1h0m0s", "7d0h0m0s":
 * whole seconds, leading zero units left out. Returns buf. */
char *admin_fmt_duration(char *buf, size_t cap, int64_t secs);

/* ---- passwords (password.c) ---------------------------------------------- */

#define ADMIN_PW_MIN 12        /* characters (UTF-8 code points) */
#define ADMIN_PW_MAX 1024      /* bytes; a line longer than this is refused */
#define ADMIN_PW_GEN_LEN 20    /* generated: 20 of 62 symbols, about 119 bits */
#define ADMIN_NAME_MAX 64      /* user name, characters */

/*
 * Check a candidate password for user `name` against the rules: at least
 * ADMIN_PW_MIN characters, no control characters, not containing the user
 * name (ASCII case-insensitive), not in the common-password list (ASCII
 * case-insensitive). Returns 0, or EINVAL with the rule that failed, in
 * words for the operator, in why (cap bytes).
 */
int admin_pw_check(const char *pw, const char *name, char *why, size_t cap);

/* Is pw (ASCII case-insensitively) one of the bundled common passwords? */
bool admin_pw_is_common(const char *pw);

/*
 * Fill out with ADMIN_PW_GEN_LEN characters of [A-Za-z0-9] and a NUL (cap >
 * ADMIN_PW_GEN_LEN), drawn from RAND_bytes with rejection sampling so that
 * every symbol is equally likely. Returns 0, EOVERFLOW or EIO (RAND_bytes).
 */
int admin_pw_generate(char *out, size_t cap);

/*
 * Read one line from file descriptor fd into out (cap bytes) without stdio
 * buffering (nothing of the password stays in a FILE buffer); the trailing
 * LF or CRLF is dropped. Returns 0, ENODATA (nothing before end of input),
 * EOVERFLOW (longer than cap - 1; the part read is wiped) or read's errno.
 */
int admin_pw_read_line(char *out, size_t cap, int fd);

/*
 * Is name a valid user name: 1..ADMIN_NAME_MAX characters of the SIP "user"
 * set without escapes (RFC 3261 25.1: unreserved and user-unreserved)?
 * Returns 0 or EINVAL with the reason in why.
 */
int admin_name_check(const char *name, char *why, size_t cap);

/* ---- TLS certificates (tls.c) ------------------------------------------------ */

#define STATE_CA_KEY_FILE "ca.key"   /* the local CA's key, in the state directory */
#define ADMIN_TLS_CA_DAYS 3650
#define ADMIN_TLS_CERT_DAYS 825      /* the most some clients accept for a TLS certificate */

struct evp_pkey_st;                  /* EVP_PKEY */
struct x509_st;                      /* X509 */

enum admin_cert_kind { ADMIN_CERT_CA, ADMIN_CERT_SERVER, ADMIN_CERT_CLIENT };

/* What a certificate says. Names are values, never configuration syntax. */
struct admin_cert_spec {
	enum admin_cert_kind kind;   /* CA: self-signed, CA:TRUE, pathlen 0, keyCertSign;
	                                SERVER: serverAuth and clientAuth; CLIENT: clientAuth */
	const char *cn, *org;        /* subject CN (required) and O (optional) */
	int days;                    /* validity from an hour ago */
	const char *const *dns;      /* subjectAltName DNS names (an IP address here
	                                becomes an IP entry) */
	size_t ndns;
	const char *const *ip;       /* subjectAltName IP addresses */
	size_t nip;
	const char *const *uri;      /* subjectAltName URIs */
	size_t nuri;
};

/* A new EC P-256 key. Returns 0 or ENOMEM. */
int admin_tls_key_new(struct evp_pkey_st **out);

/*
 * Make and sign a certificate for key per spec: a CA signs itself (issuer
 * and issuer_key NULL), others are signed by issuer/issuer_key. SHA-256,
 * a random 128-bit serial. Returns 0 and *out (the caller frees it with
 * X509_free), or EINVAL/ENOMEM/EIO.
 */
int admin_tls_cert_new(struct x509_st **out, struct evp_pkey_st *key,
		       const struct admin_cert_spec *spec, struct x509_st *issuer,
		       struct evp_pkey_st *issuer_key);

/* Write key as PEM PKCS#8 to the new file path (O_EXCL, mode 0600 whatever
 * the umask), encrypted under passphrase (PBES2, AES-256-CBC, PBKDF2 with
 * HMAC-SHA256) unless it is NULL. Returns 0 or an errno (EEXIST ...); a
 * half-written file is removed. */
int admin_tls_write_key(const char *path, struct evp_pkey_st *key, const char *passphrase);
/* Write a certificate as PEM to the new file path (O_EXCL, mode 0644). */
int admin_tls_write_cert(const char *path, struct x509_st *x);
/* Read a PEM private key, decrypting it with passphrase when it is
 * encrypted. Returns 0 and *out, or an errno: EACCES when it is encrypted
 * and the passphrase is wrong or missing (*needs_passphrase tells which),
 * EINVAL when it is not a key. */
int admin_tls_read_key(struct evp_pkey_st **out, const char *path, const char *passphrase,
		       bool *needs_passphrase);

/* The server certificate for c (CN and DNS name the domain; IP 127.0.0.1,
 * ::1 and each specific listen address), signed by cax/cak, for key.
 * Returns 0 and *out, or EINVAL/ENOMEM/EIO. */
int admin_tls_issue_server(struct x509_st **out, struct evp_pkey_st *key, const struct conf *c,
			   struct x509_st *cax, struct evp_pkey_st *cak);
/* Read one PEM certificate. Returns 0 and *out, or EINVAL. */
int admin_tls_read_cert(struct x509_st **out, const char *path);
/* Is the PEM key file encrypted? */
bool admin_tls_key_encrypted(const char *path);

/*
 * Create what is missing of the local CA (ca.crt, ca.key) and the server
 * certificate (c's tls_certificate and tls_key) in state: see tls.c. The
 * CA key is encrypted under passphrase (NULL: not), the server key too
 * when protect_server_key. Prints what it made; returns the exit status
 * (0, or 1 with the reason printed, and whatever it made removed).
 */
int admin_tls_setup(const char *state, const struct conf *c, const char *passphrase,
		    bool protect_server_key);

/* A passphrase from the first line of file, else asked on the terminal
 * (twice when confirm). Returns 0, or an errno with the reason printed. */
int admin_passphrase_get(char *out, size_t cap, const char *file, const char *prompt,
			 bool confirm);
/* For init: the new CA passphrase from file, or the terminal when ask, or
 * none (out = ""); at least ADMIN_PW_MIN characters. Returns the exit
 * status (0, or 1 with the reason printed). */
int admin_init_passphrase(char *out, size_t cap, const char *file, bool ask);

int admin_cmd_tls(const char *state, int argc, char **argv);

/* ---- admin events (events.c) -------------------------------------------------- */

/* Does the command args[0..nargs) change something (and so write an
 * admin.* event)? Read-only commands and sub-commands do not. */
bool admin_event_wanted(int nargs, char **args);

/* The operating-system user running us (name, else "uid N") and $SUDO_USER
 * ("" when unset). Returns 0. */
int admin_event_identity(char *user, size_t ucap, char *sudo, size_t scap);

/* After a command ran with exit status rc: write its admin.* event to the
 * security log of state (and syslog) when admin_event_wanted. Silent when
 * the state has no loadable configuration. */
void admin_event_record(const char *state, int nargs, char **args, int rc);

/* ---- the running server (rotate.c) ---------------------------------------------- */

#define STATE_PID_FILE "bastion.pid"

/* The pid of the server serving state (from STATE/bastion.pid, checked to be
 * a live `bastion ... serve` process), or 0. */
long admin_server_pid(const char *state);

int admin_cmd_rotate(const char *state, int argc, char **argv);

/* ---- history (history.c) ------------------------------------------------------- */

#define STATE_HISTORY_FILE "history"

enum admin_hist {
	ADMIN_HIST_INIT = 0, ADMIN_HIST_BACKUP, ADMIN_HIST_RESTORE,
	ADMIN_HIST_SERVER_KEY, ADMIN_HIST_CA, ADMIN_HIST_NONCE_KEY, ADMIN_HIST_TICKET_KEYS,
	ADMIN_HIST_PASSWORDS, ADMIN_HIST_CLIENT_CERTS,
	ADMIN_HIST__COUNT
};

/* "init", "backup", "server-key", ... */
const char *admin_hist_name(enum admin_hist k);
/* Append "T KIND" to DIR/history (created mode 0600). Returns 0 or an errno. */
int admin_hist_add(const char *state, enum admin_hist k, int64_t t);
/* The latest time of each kind into last (0: never; no file: all never).
 * Returns 0 or an errno other than ENOENT. */
int admin_hist_read(const char *state, int64_t last[ADMIN_HIST__COUNT]);

/* ---- audit (audit.c) ----------------------------------------------------------- */

enum audit_status { AUDIT_PASS = 0, AUDIT_WARN, AUDIT_FAIL, AUDIT_NA };

#define AUDIT_MAX_FILES 16
#define AUDIT_NAME_CAP 400

/* A file the audit looked at. */
struct audit_file {
	const char *what;           /* "nonce key", "database", ... */
	char path[1100];
	bool exists;
	uint32_t mode;              /* permission bits */
	bool secret;                /* no group or other access allowed */
};

/* What the audit found, gathered once; each check is a pure function of it. */
struct audit_facts {
	const struct conf *c;
	int64_t now;
	bool store_ok;                 /* the users could be read */
	size_t users, users_unknown, users_md5_only, users_no_cert;
	char first_unknown[AUDIT_NAME_CAP], first_md5_only[AUDIT_NAME_CAP],
		first_no_cert[AUDIT_NAME_CAP];
	struct audit_file files[AUDIT_MAX_FILES];
	size_t nfiles;
	uint32_t state_mode;
	bool ca_key_present, ca_key_encrypted, server_key_encrypted;
	bool have_server_cert, have_ca_cert;
	int64_t server_not_before, server_not_after, ca_not_after;
	bool library_ok;
	char library[256];             /* name, or why it is refused */
	bool demo_credentials;         /* DIR/demo-credentials exists */
	int64_t hist[ADMIN_HIST__COUNT];
	int64_t created;               /* when the state was made (history, else the nonce key) */
};

struct audit_result {
	enum audit_status status;
	char found[700];
	char fix[500];
};

struct audit_check {
	const char *id;
	unsigned level;               /* enum conf_profile: the guide's level */
	const char *section;          /* the guide's section */
	const char *mitigation;       /* the guide's words */
	const char *checks;           /* what the check looks at (docs) */
	void (*run)(const struct audit_facts *f, struct audit_result *r);
};

extern const struct audit_check audit_checks[];
extern const size_t audit_checks_count;

/* Is a listener's address loopback (0), private/link-local (1), public (2)
 * or a wildcard (3)? */
int audit_addr_scope(const struct net_addr *a);

/* Write the Markdown table of every check (docs/mitigations.md). */
void audit_write_reference(FILE *f);

int admin_cmd_audit(const char *state, int argc, char **argv);

/* ---- backups (backup.c) ---------------------------------------------------------- */

#define STATE_CRL_FILE "crl.pem"          /* revoked client certificates (rotate) */
#define ADMIN_ARCHIVE_NAME_MAX 255
#define ADMIN_BACKUP_MAX ((size_t)1 << 31) /* bytes: a backup is read into memory */
#define ADMIN_KDF_LOG2N 15                 /* scrypt N = 2^15, r = 8, p = 1: 32 MiB */
#define ADMIN_KDF_LOG2N_MIN 10
#define ADMIN_KDF_LOG2N_MAX 20             /* what a file may ask: 1 GiB at r = 8 */
#define ADMIN_KDF_R_MAX 16
#define ADMIN_KDF_P_MAX 4

/* A growable byte buffer; admin_buf_free wipes it (it may hold secrets). */
struct admin_buf {
	uint8_t *p;
	size_t len, cap;
};
void admin_buf_free(struct admin_buf *b);

struct admin_kdf {
	unsigned log2n, r, p;              /* scrypt parameters */
};

/* Is name (len bytes) a safe relative archive path: [A-Za-z0-9._-] parts
 * joined by '/', no empty, "." or ".." part, at most ADMIN_ARCHIVE_NAME_MAX?
 * Returns 0 or EINVAL. */
int admin_archive_name_ok(const char *name, size_t len);
/* Append one file to the archive in b. Returns 0, EINVAL (bad name), ENOMEM. */
int admin_archive_add(struct admin_buf *b, const char *name, uint32_t mode, const uint8_t *data,
		      size_t len);
typedef int(admin_archive_fn)(void *arg, const char *name, uint32_t mode, const uint8_t *data,
			      size_t len);
/* Check the archive p[0..len) and call fn (may be NULL) for each file;
 * fn's non-zero return stops the walk and is returned. Returns 0 or
 * EBADMSG (malformed: lengths, names, trailing bytes). */
int admin_archive_walk(const uint8_t *p, size_t len, admin_archive_fn *fn, void *arg);

/* Encrypt plain into out (the file format of backup.c) under a key that
 * scrypt derives from pass with kdf. Returns 0, EINVAL (parameters), ENOMEM,
 * EIO. */
int admin_backup_seal(struct admin_buf *out, const uint8_t *plain, size_t plen,
		      const char *pass, const struct admin_kdf *kdf);
/*
 * Check and decrypt a backup in[0..len) into plain. Returns 0, or with the
 * reason for the operator in why: ENOTSUP not a Bastion backup (or another
 * version), EBADMSG truncated, altered or a malformed archive, EACCES wrong
 * passphrase, EOVERFLOW/ENOMEM. plain is empty on failure.
 */
int admin_backup_open(struct admin_buf *plain, const uint8_t *in, size_t len, const char *pass,
		      char *why, size_t cap);

/* Encrypted to a public key (version 2 of the format, backup.c): X25519
 * with a fresh ephemeral key, HKDF-SHA256, AES-256-GCM. */
#define ADMIN_KEY_ID_LEN 16
/* The id of an X25519 key (public or private): the first bytes of SHA-256
 * of its raw public key. Returns 0, EINVAL (not X25519), EIO. */
int admin_backup_key_id(uint8_t id[ADMIN_KEY_ID_LEN], struct evp_pkey_st *k);
/* Encrypt plain into out for the X25519 public key recipient. Returns 0,
 * EINVAL (not an X25519 key, too large), ENOMEM, EIO. */
int admin_backup_seal_pub(struct admin_buf *out, const uint8_t *plain, size_t plen,
			  struct evp_pkey_st *recipient);
/* Check and decrypt a version-2 backup with the X25519 private key priv.
 * Returns 0, or with the reason in why: ENOTSUP not a version-2 Bastion
 * backup, EACCES encrypted to another key, EBADMSG truncated, altered or a
 * malformed archive, EINVAL priv not X25519, EOVERFLOW/ENOMEM. plain is
 * empty on failure. */
int admin_backup_open_pub(struct admin_buf *plain, const uint8_t *in, size_t len,
			  struct evp_pkey_st *priv, char *why, size_t cap);

int admin_cmd_backup(const char *state, int argc, char **argv);
int admin_cmd_restore(const char *state, int argc, char **argv);

/* The bundled list (common_passwords.c), lowercase. */
extern const char *const admin_common_passwords[];
extern const size_t admin_common_passwords_count;

#endif
