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
/* `bastion user set NAME --calling CLASS`: the user's [calling] line in
 * bastion.conf (docs/trunks.md). */
int admin_user_set(const char *state, int argc, char **argv);

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

/* The bundled list (common_passwords.c), lowercase. */
extern const char *const admin_common_passwords[];
extern const size_t admin_common_passwords_count;

#endif
