/*
 * conf/auth_rows.c: the settings rows of [auth]: digest challenges, nonces,
 * replay and the credential cache (auth/, store/cache.c).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const char *const conf_uri_checks[] = { "strict", "relaxed", NULL };

const struct conf_row conf_auth_rows[] = {
	{ "auth", "realm", CONF_REALM, offsetof(struct conf, realm), 256, 0, 0, NULL, "", NULL,
	  "Digest realm. Empty (the default) uses the domain. HA1 values are computed for "
	  "it: changing it invalidates every stored password.", NOPROF },
	{ "auth", "algorithms", CONF_ALGOS, offsetof(struct conf, algorithms), 64, 0, 0, NULL,
	  "SHA-256,MD5", NULL,
	  "Digest algorithms offered, in challenge order: `SHA-256,MD5`, `SHA-256` or `MD5`. "
	  "SHA-256 (RFC 8760) first; MD5 stays for the phones that know nothing else.",
	  PROF(NULL, NULL, "SHA-256") },
	{ "auth", "nonce_lifetime", CONF_U32, offsetof(struct conf, nonce_lifetime), 0, 10, 86400,
	  NULL, "300", "seconds",
	  "A nonce older than this is refused with stale=true and a fresh challenge.",
	  PROF(NULL, NULL, "60") },
	U32("auth", "sha256_unanswered", sha256_unanswered, 0, 1000, "3", "challenges",
	    "After this many challenges offering SHA-256 in a row to a known user without a "
	    "successful login, the event `auth.sha256_unanswered` names the user once: its "
	    "phone may take MD5 only (`bastion user set NAME --digest md5`, docs/users.md). "
	    "0 turns the note off."),
	{ "auth", "uri_check", CONF_ENUM, offsetof(struct conf, uri_check), 0, 0, 0, conf_uri_checks,
	  "strict", NULL,
	  "How the digest `uri` must match the Request-URI (RFC 3261 22.4). `strict` (default): "
	  "the same URI (RFC 3261 19.1.4 comparison), so a response captured for one target "
	  "cannot be replayed toward another; phones put the Request-URI there. `relaxed`: "
	  "the same host and port, or this server's own address; for SIPp 3.6, which puts "
	  "the server's address there. Nonce, realm, method and nonce-count still bind it.", NOPROF },
	U32("auth", "max_users", max_users, 1, 100000000, "1000000", "users",
	    "Users the in-memory credential cache holds (every lookup is served from it). A "
	    "store with more users is refused: at startup with an error naming this limit, on a "
	    "later refresh by keeping the users already loaded. Takes effect on restart."),
	U32("auth", "nonce_window", nonce_window, 1024, 268435456, "8388608", "nonces",
	    "Replay detection (nonce-count) remembers exactly, for each of the last this many "
	    "nonces issued (one per challenge, rounded up to a power of two, 2 bits each: 2 MiB "
	    "by default), whether it was answered. A nonce answered after more newer ones were "
	    "issued gets stale=true and a fresh challenge, never a silent accept. Size it at "
	    "least challenges per second times nonce_lifetime: the default covers 20,000/s "
	    "for 419 s. Takes effect on restart."),
	U32("auth", "nonce_table_size", nonce_table_size, 8, 4194304, "65536", "entries",
	    "Nonces answered with a nonce-count above 2 (a client reusing a nonce) whose "
	    "highest count is remembered, 24 bytes each. When full, the least recently used is "
	    "forgotten: its next use gets stale=true and a fresh challenge, never a silent "
	    "accept; other nonces are not affected. Takes effect on restart."),
};
const size_t conf_auth_rows_n = ARRAY_SIZE(conf_auth_rows);
