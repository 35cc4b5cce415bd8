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

/* The bundled list (common_passwords.c), lowercase. */
extern const char *const admin_common_passwords[];
extern const size_t admin_common_passwords_count;

#endif
