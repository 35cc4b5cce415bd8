/*
 * conf: the settings table and the one loader that reads, validates,
 * documents and writes it. Adding a setting means adding a row here and a
 * field in struct conf; the docs and the initial file follow by themselves.
 */
#include "conf.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum conf_type {
	CONF_U32,
	CONF_STR,
	CONF_ENUM,
	CONF_LISTEN,
	CONF_HOST,
	CONF_ALGOS,
	CONF_REALM,
	CONF_CIDRS, /* comma-separated addresses or prefixes */
	CONF_WORDS, /* comma-separated non-empty words */
	CONF_ADDR,  /* host:port of a TCP listener, numeric; empty: off */
	CONF_REMOTE, /* tls:HOST:PORT; empty: off */
};

struct conf_setting {
	const char *section;
	const char *key;
	enum conf_type type;
	size_t offset;
	size_t size;               /* CONF_STR/HOST/LISTEN: buffer size */
	uint32_t min, max;         /* CONF_U32 */
	const char *const *choices; /* CONF_ENUM, NULL-terminated; stored as index */
	const char *def;           /* default, as it would be written in the file */
	const char *unit;
	const char *help;
	/* Another default per robustness profile (enum conf_profile), written
	 * as in the file; NULL keeps def. The guide's levels, as data. */
	const char *prof[CONF_PROFILE__COUNT];
};

static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const yes_no[] = { "no", "yes", NULL };
static const char *const uri_checks[] = { "strict", "relaxed", NULL };
static const char *const tls_verify[] = { "none", "optional", "require", NULL };
static const char *const signalings[] = { "any", "tls-required", NULL };
static const char *const medias[] = { "any", "srtp-required", NULL };
static const char *const profiles[] = { "minimum", "medium", "highest", NULL };

/* Per-profile defaults: PROF(minimum, medium, highest). */
#define PROF(a, b, c) .prof = { a, b, c }
#define NOPROF { NULL, NULL, NULL }
static const char *const durabilities[] = { "process", "power", "none", NULL };

#define U32(sec, k, field, lo, hi, d, u, h) \
	{ sec, k, CONF_U32, offsetof(struct conf, field), 0, lo, hi, NULL, d, u, h, NOPROF }
#define STR(sec, k, field, type, d, h) \
	{ sec, k, type, offsetof(struct conf, field), sizeof(((struct conf *)0)->field), 0, 0, \
	  NULL, d, NULL, h, NOPROF }

static const struct conf_setting settings[] = {
	STR("server", "domain", domain, CONF_HOST, "localhost",
	    "The SIP domain this server is responsible for (host name or IP address). "
	    "Users are name@domain."),
	STR("server", "listen", listen, CONF_LISTEN,
	    "udp:127.0.0.1:5060,tcp:127.0.0.1:5060,tls:127.0.0.1:5061",
	    "Comma-separated listeners, `transport:address:port` with transport udp, tcp or tls, "
	    "e.g. `udp:127.0.0.1:5060,tcp:[::1]:5060,tls:[::1]:5061`. Numeric addresses only. "
	    "Loopback by default: exposing the server is a decision (guide, Network Services). "
	    "Changes need a restart."),
	STR("server", "server_header", server_header, CONF_STR, "",
	    "Value of the Server header in responses. Empty (the default) sends none, so the "
	    "server does not announce its software and version to scanners."),
	{ "server", "profile", CONF_ENUM, offsetof(struct conf, profile), 0, 0, 0, profiles,
	  "minimum", NULL,
	  "Robustness profile, after the guide's levels: it sets the defaults of the settings "
	  "whose `profiles` column names a value (signaling and media encryption, client "
	  "certificates, digest algorithms, nonce lifetime); a setting in the file still wins. "
	  "`bastion config show` lists every value and where it came from; `bastion audit "
	  "--level` checks the installation against a level (docs/operations.md).", NOPROF },
	U32("server", "stop_grace", stop_grace, 0, 600, "5", "seconds",
	    "On SIGTERM, how long the server goes on finishing what is in progress (transactions, "
	    "in-dialog requests) while it answers new calls and registrations with 503 and "
	    "Retry-After; it exits as soon as nothing is left. 0 stops at once. A second signal "
	    "stops at once too."),

	U32("limits", "max_message", lim.max_message, 1024, 65535, "16384", "bytes",
	    "Largest message accepted, header section plus body. A UDP datagram over it is "
	    "answered 513 when it can be, a stream over it is closed."),
	U32("limits", "max_headers", lim.max_headers, 8, 1000, "100", "fields",
	    "Most header fields in one message; more gets 400 Too Many Header Fields."),
	U32("limits", "max_header_line", lim.max_header_line, 128, 65535, "4096", "bytes",
	    "Longest header field, folded continuation lines included; longer gets 400."),
	U32("limits", "max_uri", lim.max_uri, 64, 8192, "1024", "bytes",
	    "Longest URI (Request-URI: 414; in a header: 400)."),
	U32("limits", "max_body", lim.max_body, 0, 65535, "8192", "bytes",
	    "Largest message body (Content-Length); larger gets 413."),

	U32("tcp", "max_connections", max_connections, 1, 1000000, "1024", "connections",
	    "Most TCP and TLS connections open at once, all sources together; a connection over "
	    "the cap is closed at once."),
	U32("tcp", "idle_timeout", idle_timeout, 1, 86400, "300", "seconds",
	    "A connection that sends nothing for this long is closed."),
	U32("tcp", "header_timeout", header_timeout, 1, 3600, "10", "seconds",
	    "Once the first byte of a message has arrived, the whole message must arrive "
	    "within this time, or the connection is closed (slow senders). A TLS handshake "
	    "must finish within it too. Every [tcp] setting applies to TLS connections too."),
	U32("tcp", "max_per_source", max_per_source, 1, 1000000, "32", "connections",
	    "Most TCP and TLS connections open at once from one IP address (an IPv6 address "
	    "counts alone); one over it is closed at once, so one host cannot take every slot."),
	U32("tcp", "min_rate", min_rate, 0, 1000000, "256", "bytes/s",
	    "A message being received must arrive at this average rate at least, measured "
	    "from its first byte once a second has passed; a slower sender is cut off before "
	    "header_timeout (slowloris). 0 leaves only header_timeout."),

	STR("tls", "certificate", tls_certificate, CONF_STR, "server.crt",
	    "The server's certificate (PEM, then any intermediate CA certificates), relative "
	    "to the state directory. `bastion init` issues one for the domain from a local CA. "
	    "Reloaded on SIGHUP: a bad one is refused and the running one kept. Used when a "
	    "`tls:` listener is configured (docs/tls.md)."),
	STR("tls", "key", tls_key, CONF_STR, "server.key",
	    "The certificate's private key (PEM), relative to the state directory; refused when "
	    "others may read it."),
	STR("tls", "ca", tls_ca, CONF_STR, "ca.crt",
	    "CA certificate(s) client certificates must chain to (verify_client), relative to "
	    "the state directory; `bastion init` creates this local CA, which phones import "
	    "to trust the server."),
	STR("tls", "key_passphrase_file", tls_key_passphrase_file, CONF_STR, "",
	    "A file whose first line is the passphrase of an encrypted `key` (relative to the "
	    "state directory; refused when others may read it). Empty: the key is not "
	    "encrypted. The passphrase itself never goes in this file."),
	{ "tls", "verify_client", CONF_ENUM, offsetof(struct conf, tls_verify_client), 0, 0, 0,
	  tls_verify, "none", NULL,
	  "Client certificates (mutual TLS): `none` does not ask; `optional` asks, and a "
	  "certificate a client sends must verify against `ca` or the handshake fails; "
	  "`require` also refuses clients without one.",
	  PROF(NULL, "optional", "require") },
	STR("tls", "crl", tls_crl, CONF_STR, "crl.pem",
	    "Certificate revocation list (PEM) that client certificates are checked against "
	    "during the handshake, relative to the state directory; `bastion rotate "
	    "--client-certs` writes it. Used only when the file exists; reloaded on SIGHUP."),
	STR("tls", "peer_ca", tls_peer_ca, CONF_STR, "",
	    "CA certificate(s) (PEM) the certificates of TLS peers (gateways, trunks: "
	    "docs/trunks.md) must chain to, relative to the state directory. Empty: the "
	    "system's trusted CAs. Either way a peer's certificate must also name its "
	    "`tls_name`, or nothing is sent to it (event peer.tls_refused)."),
	U32("tls", "ticket_lifetime", tls_ticket_lifetime, 0, 86400, "3600", "seconds",
	    "Lifetime of TLS session tickets (fast reconnection without a full handshake). The "
	    "key that encrypts them is random, kept in memory only, replaced every lifetime "
	    "(the previous one is still accepted for one more) and on every certificate "
	    "reload. 0 turns session tickets off."),

	{ "log", "level", CONF_ENUM, offsetof(struct conf, log_level), 0, 0, 0, log_levels,
	  "info", NULL, "Diagnostic log level: error, warn, info or debug.", NOPROF },
	U32("log", "refusal_log_rate", refusal_log_rate, 0, 100000, "10", "lines/s",
	    "Most log lines per second about refused or dropped messages; the rest are "
	    "counted and summarised, so a flood cannot fill the disk. 0 logs none."),
	STR("log", "security_log", security_log, CONF_STR, "security.log",
	    "Security events (authentication failures, hijack attempts, registrations ...), "
	    "one JSON object a line; relative to the state directory. Secrets never appear."),
	{ "log", "syslog", CONF_ENUM, offsetof(struct conf, syslog), 0, 0, 0, yes_no, "yes", NULL,
	  "Also send every security event to syslog (facility auth), so a copy leaves the "
	  "host when syslog forwards (guide: logs on a hardened log server).", NOPROF },
	STR("log", "cdr_log", cdr_log, CONF_STR, "cdr.log",
	    "Call detail records, one JSON object a line per call attempt (docs/cdr.md); "
	    "relative to the state directory, mode 0600. The same records go to the "
	    "database for `bastion cdr list`; empty keeps them there only."),

	STR("log", "key", log_key, CONF_STR, "log.key",
	    "The secret key (32 random bytes, mode 0600, made when missing) that signs the "
	    "checkpoints of security_log and cdr_log with HMAC-SHA256, relative to the state "
	    "directory. Each line of those logs carries the SHA-256 of the line before it; a "
	    "checkpoint binds the chain so far to this key. `bastion log verify` checks both "
	    "(docs/monitoring.md). Keep a copy off the server to verify there."),
	U32("log", "checkpoint_interval", checkpoint_interval, 1, 86400, "300", "seconds",
	    "A keyed checkpoint is written to each chained log at most this long after the "
	    "last line that is not yet covered by one, and at every reopen (SIGHUP) and stop."),
	{ "log", "remote", CONF_REMOTE, offsetof(struct conf, remote), 300, 0, 0, NULL, "", NULL,
	  "Send every security event to a log server over TLS (RFC 5425, octet counting; "
	  "RFC 5424 messages, facility auth, MSGID the event kind), as `tls:HOST:PORT` "
	  "(HOST a name or an address, `[v6]` in brackets), e.g. `tls:logs.example.org:6514`. "
	  "Mutual TLS: the server's certificate must chain to remote_ca and carry "
	  "remote_name; ours is remote_certificate. Events queue on disk while the server is "
	  "unreachable (guide: logs kept on a hardened log server). Empty: off. Changes need "
	  "a restart.", NOPROF },
	STR("log", "remote_ca", remote_ca, CONF_STR, "",
	    "PEM CA certificate(s) the log server's certificate must chain to, relative to the "
	    "state directory. Required with remote."),
	STR("log", "remote_name", remote_name, CONF_STR, "",
	    "The name (DNS name or IP address in subjectAltName) the log server's certificate "
	    "must carry. Empty: the HOST of remote."),
	STR("log", "remote_certificate", remote_certificate, CONF_STR, "",
	    "Our client certificate for the log server (PEM), relative to the state directory. "
	    "Empty: the [tls] certificate (issued by `bastion init` for serverAuth and "
	    "clientAuth)."),
	STR("log", "remote_key", remote_key, CONF_STR, "",
	    "The key of remote_certificate (PEM, not encrypted). Empty: the [tls] key, which "
	    "must then not be encrypted."),
	STR("log", "remote_queue", remote_queue, CONF_STR, "remote-queue",
	    "Directory (mode 0700) of the on-disk queue of events not yet sent, relative to the "
	    "state directory. Survives restarts."),
	U32("log", "remote_queue_size", remote_queue_size, 256, 4194304, "16384", "KiB",
	    "Most bytes queued for the log server. When full, the oldest events (an eighth of "
	    "the queue at a time) are dropped, counted (metric "
	    "bastion_remote_log_dropped_total) and reported as a log.remote_dropped event; the "
	    "SIP path never waits."),

	{ "metrics", "listen", CONF_ADDR, offsetof(struct conf, metrics_listen), 128, 0, 0, NULL,
	  "", NULL,
	  "Where Prometheus scrapes the metrics (`GET /metrics`, text format), as "
	  "`address:port` (numeric; `[::1]:9090` for IPv6), e.g. `127.0.0.1:9090`. Empty (the "
	  "default): no listener. Plain HTTP without authentication: keep it on loopback or "
	  "a management network. Changes need a restart.", NOPROF },
	U32("metrics", "max_request", metrics_max_request, 256, 65536, "4096", "bytes",
	    "Largest HTTP request line and headers; a longer request gets 431 and is closed."),
	U32("metrics", "timeout", metrics_timeout, 1, 300, "5", "seconds",
	    "A metrics connection must have sent its request and taken the answer within "
	    "this time from its accept, or it is closed (slow clients)."),
	U32("metrics", "max_connections", metrics_max_connections, 1, 1024, "8", "connections",
	    "Most metrics connections open at once; more are closed at once."),
	{ "metrics", "tls", CONF_ENUM, offsetof(struct conf, metrics_tls), 0, 0, 0, yes_no, "no",
	  NULL,
	  "`yes`: the metrics listener speaks HTTPS (TLS 1.2+) with the [tls] certificate and "
	  "key (the key not encrypted), and requires a client certificate that chains to "
	  "client_ca (e.g. one from `bastion tls issue prometheus`); a client without one is "
	  "closed. Changes need a restart.", NOPROF },
	STR("metrics", "client_ca", metrics_client_ca, CONF_STR, "ca.crt",
	    "PEM CA certificate(s) that metrics clients' certificates must chain to when tls is "
	    "`yes`, relative to the state directory; by default the local CA of `bastion init`."),

	STR("store", "database", database, CONF_STR, "bastion.db",
	    "Where users, registrations, bans and call records live: an SQLite file, relative "
	    "to the state directory (created mode 0600 by `bastion init`), for one node; or a "
	    "PostgreSQL URL `postgresql://user@host:port/db?sslmode=verify-full` or libpq "
	    "connection string, shared by several nodes (docs/scaling.md). The password never "
	    "goes here: it comes from a pgpass file of mode 0600 (`passfile=` in the URL, "
	    "`PGPASSFILE`, or `~/.pgpass`). Takes effect on restart."),
	U32("store", "write_queue_max", write_queue_max, 100, 10000000, "100000", "writes",
	    "PostgreSQL only: how many writes (bindings, bans, locks, call records, dialogs) "
	    "may wait, in order, while the database server is unreachable; they wait in memory "
	    "and in the node's on-disk queue STATE/store-queue.journal, so a crash loses none. "
	    "Beyond it a REGISTER is answered 503 rather than acknowledged without being stored "
	    "(docs/scaling.md)."),
	{ "store", "durability", CONF_ENUM, offsetof(struct conf, durability), 0, 0, 0,
	  durabilities, "process", NULL,
	  "What an acknowledged change survives (docs/registrar.md, Durability). `process`: "
	  "a crash or kill of the server (SQLite WAL, synchronous=NORMAL); `power`: a power "
	  "cut or kernel crash too (synchronous=FULL, an fsync per commit). A REGISTER's 200 "
	  "OK, `bastion ban add`, the 2xx that confirms a call and the answer to the BYE that "
	  "ends it are sent only once durable so. "
	  "`none`: the write-behind of earlier versions, for comparison (`bench/run "
	  "--durability`): a REGISTER is answered before its binding is stored, so a crash "
	  "loses up to 50 ms of acknowledged registrations.", NOPROF },
	U32("store", "batch_max", batch_max, 1, 100000, "64", "changes",
	    "Most changes in one transaction (group commit), for binding changes and, "
	    "apart, for calls' dialogs and call records: a batch is committed once its "
	    "oldest change has waited `batch_wait`, or at once when this many changes "
	    "wait, whichever comes first; the answers that wait for it (a REGISTER's 200 "
	    "OK, the 2xx that confirms a call, the answer to a BYE) go out when it is "
	    "committed. Under load batches fill before `batch_wait`, so a client with more "
	    "requests in flight than this never waits for the clock; one with fewer does. "
	    "`bastion_store_batches_total` counts batches by why they were committed."),
	U32("store", "batch_wait", batch_wait, 0, 50, "20", "ms",
	    "Longest a change waits for its batch's commit (and its answer with it): "
	    "checked after each round of network events. 0 commits after every round. At "
	    "light load a longer wait shares a commit among more REGISTERs and calls (less "
	    "CPU each) and adds that much latency to their answers."),
	U32("store", "queue_max", queue_max, 1, 10000000, "200000", "changes",
	    "Most binding changes waiting for the store (while it is slow or locked by "
	    "another writer), and so most REGISTER answers held for their commit (and at "
	    "most this many KiB of them); a REGISTER beyond it gets 503 with Retry-After, "
	    "and nothing is lost. Also most call answers held for theirs (the 2xx that "
	    "confirms a dialog, the answer to a BYE; docs/proxy.md): a new INVITE beyond "
	    "it gets 503, and an answer beyond it has its batch committed at once."),

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
	{ "auth", "uri_check", CONF_ENUM, offsetof(struct conf, uri_check), 0, 0, 0, uri_checks,
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

	U32("registrar", "min_expires", min_expires, 1, 86400, "60", "seconds",
	    "Shortest registration accepted; shorter gets 423 Interval Too Brief with "
	    "Min-Expires."),
	U32("registrar", "max_expires", max_expires, 1, 604800, "3600", "seconds",
	    "Longest registration granted; longer requests are shortened to it."),
	U32("registrar", "default_expires", default_expires, 1, 604800, "3600", "seconds",
	    "Expiry of a binding whose REGISTER names none."),
	U32("registrar", "max_contacts", max_contacts, 1, 100, "10", "contacts",
	    "Most contacts bound to one address of record; more is refused (403)."),
	U32("registrar", "max_bindings", max_bindings, 1, 10000000, "200000", "bindings",
	    "Most bindings held in all, so registrations cannot exhaust memory; over it new "
	    "bindings get 503."),
	U32("registrar", "flow_grace", flow_grace, 0, 86400, "60", "seconds",
	    "How long a TCP or TLS binding outlives its connection (RFC 5626 flows): calls are "
	    "not forked to it meanwhile, and it is removed unless the phone connects and "
	    "registers again within this time. 0 removes it at the next second."),
	U32("registrar", "flow_timer", flow_timer, 0, 3600, "120", "seconds",
	    "Flow-Timer sent in the 200 to a REGISTER that asked for outbound (RFC 5626: "
	    "Supported: outbound and a reg-id): the phone sends a keep-alive (CRLF CRLF on TCP "
	    "and TLS, answered with CRLF) at least this often. Keep it below [tcp] idle_timeout. "
	    "0 sends none."),

	U32("proxy", "max_transactions", max_transactions, 16, 4000000, "65536", "transactions",
	    "Most SIP transactions (server and client together) in progress at once; a new "
	    "request beyond it gets 503 with Retry-After, statelessly."),
	U32("proxy", "max_dialogs", max_dialogs, 1, 4000000, "100000", "dialogs",
	    "Most confirmed calls tracked at once (in-dialog requests are checked against "
	    "them); a call answered beyond it is not tracked, so its in-dialog requests get 481."),
	U32("proxy", "invite_timeout", invite_timeout, 1, 3600, "180", "seconds",
	    "Timer C (RFC 3261 16.6): an INVITE with no final response this long after it was "
	    "forwarded is cancelled toward the callee and answered 408 Request Timeout, so a "
	    "phone that rings forever cannot hold a call (and its state) open."),

	U32("guard", "sources", guard_sources, 1, 16777216, "65536", "sources",
	    "Source addresses tracked for rates and bans (92 bytes each, allocated at start); "
	    "when full the least recently seen unbanned source is forgotten."),
	U32("guard", "users", guard_users, 1, 1048576, "4096", "users",
	    "User names tracked for brute-force counting and locks (124 bytes each)."),
	U32("guard", "ipv6_prefix", guard_v6_prefix, 1, 128, "64", "bits",
	    "IPv6 sources are grouped by this prefix: one /64 is one source, so an attacker "
	    "cannot escape a ban by changing the address inside its own network."),
	U32("guard", "rate", rate, 0, 10000, "20", "requests/s",
	    "Requests per second one source may send, all methods (burst twice that). A "
	    "message that turns out to belong to an authenticated call (a response to it, an "
	    "ACK or in-dialog request of its dialog) and an authenticated request give their "
	    "tokens back, so this budget binds unauthenticated traffic. 0: unlimited."),
	U32("guard", "invite_rate", invite_rate, 0, 10000, "5", "requests/s",
	    "INVITEs per second one source may send before authentication credits."),
	U32("guard", "register_rate", register_rate, 0, 10000, "10", "requests/s",
	    "REGISTERs per second one source may send before authentication credits."),
	U32("guard", "auth_credit", auth_credit, 0, 100, "3", "requests",
	    "Tokens a successful digest authentication gives back to its source: a challenge "
	    "and its authenticated retry cost 2, so authenticated work gains a token each "
	    "time, which absorbs retransmissions; hundreds of phones behind one NAT address "
	    "can register at once."),
	U32("guard", "auth_ceiling", auth_ceiling, 2, 100, "20", "x rate",
	    "Credited tokens accumulate up to this multiple of each rate."),
	U32("guard", "trust_window", trust_window, 0, 86400, "300", "seconds",
	    "A source where some user authenticated this recently is never banned for its "
	    "rate (its excess is still dropped): a NAT address of working phones is not cut "
	    "off because one device misbehaves."),
	U32("guard", "ban_drops", ban_drops, 1, 65535, "50", "requests",
	    "Requests dropped over budget (in a streak) that ban their source..."),
	U32("guard", "ban_grace", ban_grace, 0, 3600, "2", "seconds",
	    "...once the streak has lasted this long."),
	U32("guard", "ban_time", ban_time, 1, 31536000, "60", "seconds",
	    "First ban of a source; it doubles with every further ban of that source, up to "
	    "ban_max. A banned source is dropped silently; one guard.ban event per ban."),
	U32("guard", "ban_max", ban_max, 1, 31536000, "86400", "seconds",
	    "Longest ban; at least ban_time."),
	U32("guard", "fail_window", fail_window, 1, 86400, "300", "seconds",
	    "Window in which wrong digest responses are counted, per source and per user."),
	U32("guard", "source_fail_limit", source_fail_limit, 1, 65534, "10", "failures",
	    "Wrong digest responses from one source tolerated in a window; one more bans "
	    "the source (guard.ban). A challenge, a stale nonce or a request without "
	    "credentials is never a failure."),
	U32("guard", "user_fail_limit", user_fail_limit, 1, 65534, "10", "failures",
	    "Wrong digest responses for one user tolerated in a window; one more locks the "
	    "user for lock_time (auth.lockout), except from the address the user last "
	    "authenticated from (docs/guard.md explains the trade-off)."),
	U32("guard", "lock_time", lock_time, 1, 86400, "600", "seconds",
	    "How long a user stays locked."),
	U32("guard", "overload_delay", overload_delay, 0, 60000, "200", "ms",
	    "A new request that waited in the receive queue longer than this means the server "
	    "is not keeping up: it is answered 503 with Retry-After, statelessly, while "
	    "responses, ACKs, in-dialog requests and allow-listed sources are still served. "
	    "0: off."),
	{ "guard", "allow", CONF_CIDRS, offsetof(struct conf, allow), 1024, 0, 0, NULL, "", NULL,
	  "Comma-separated addresses and prefixes (`192.0.2.0/24,2001:db8::/32`) never limited "
	  "nor banned: trusted peers and monitoring. Empty: none.", NOPROF },
	{ "guard", "scanners", CONF_WORDS, offsetof(struct conf, scanners), 1024, 0, 0, NULL,
	  "friendly-scanner,sipcli,sipvicious,VaxSIPUserAgent,sundayddr,iWar,SIVuS,smap,pplsip",
	  NULL,
	  "Comma-separated fingerprints of known scanners, matched case-insensitively in "
	  "User-Agent, From and To; a match is dropped silently and its source banned. A "
	  "cheap first filter only (scanners can change them). Empty: off.", NOPROF },

	{ "policy", "signaling", CONF_ENUM, offsetof(struct conf, signaling), 0, 0, 0, signalings,
	  "any", NULL,
	  "`tls-required`: a REGISTER, and any request outside a dialog but OPTIONS, must come "
	  "over TLS, else 403 TLS Required (event policy.tls_required). `any`: every "
	  "transport. A sips: "
	  "request is held to TLS either way (docs/tls.md).",
	  PROF(NULL, "tls-required", "tls-required") },
	{ "policy", "media", CONF_ENUM, offsetof(struct conf, media), 0, 0, 0, medias, "any", NULL,
	  "`srtp-required`: an SDP offer or answer with a plain RTP stream (not RTP/SAVP(F) "
	  "with a=crypto, nor UDP/TLS/RTP/SAVP(F) with a fingerprint) is refused with 488 and "
	  "event media.srtp_refused; a callee's 2xx answer like that ends its leg (ACK, BYE) "
	  "and the caller gets 488. `any`: media is not checked.",
	  PROF(NULL, NULL, "srtp-required") },

	STR("emergency", "numbers", emerg.numbers_text, CONF_STR, "911, 112, 933",
	    "Comma-separated emergency numbers (digits, at most 8 numbers of 7 digits). Each is "
	    "recognised in every form the dial plan reads (with the outside-line prefix, as + "
	    "country code and number, tel:, %-escaped) and routed by [emergency_routes] "
	    "(docs/emergency.md). 933 is the US test number."),
	{ "emergency", "allow_unauthenticated", CONF_ENUM,
	  offsetof(struct conf, emerg.allow_unauthenticated), 0, 0, 0, yes_no, "no", NULL,
	  "`yes`: a device that does not authenticate may still call an emergency number (its "
	  "source address picks the location; no callback number but the location's ELIN). "
	  "`no`: emergency calls need a user's digest like any other call; `bastion audit` "
	  "reports the choice.", NOPROF },
	{ "emergency", "geolocation_routing", CONF_ENUM,
	  offsetof(struct conf, emerg.geolocation_routing), 0, 0, 0, yes_no, "yes", NULL,
	  "The Geolocation-Routing header of the emergency INVITE (RFC 6442): `yes` lets the "
	  "peers route on the location sent.", NOPROF },
	U32("emergency", "reserved_slots", emerg.reserved_slots, 0, 1000, "2", "calls",
	    "Call slots of each peer on an emergency route that ordinary calls may not take: such a "
	    "peer takes at most max_calls_out minus this many ordinary calls; emergency calls "
	    "ignore the cap."),
	U32("emergency", "max_calls", emerg.max_calls, 1, 10000, "10", "calls",
	    "Emergency calls in progress at once, server-wide; one more gets 503 Emergency Capacity "
	    "Reached and event emergency.refused. Bounds what a flood of emergency calls from "
	    "authenticated accounts can hold (each account: one at a time)."),
	U32("emergency", "rate", emerg.rate, 0, 1000, "10", "INVITE/s",
	    "Emergency INVITEs per second, server-wide (burst twice that), admitted past the "
	    "guard's per-source budgets and bans. Beyond it they go through the budgets like any "
	    "request. 0: no bypass."),
	U32("emergency", "reserved_transactions", emerg.reserved_transactions, 0, 100000, "64",
	    "transactions",
	    "Transactions beyond [proxy] max_transactions that only emergency calls may open, so "
	    "a full table never refuses one. Needs a restart."),
	U32("emergency", "reserved_dialogs", emerg.reserved_dialogs, 0, 100000, "10", "dialogs",
	    "Dialogs beyond [proxy] max_dialogs that only emergency calls may use, so an emergency "
	    "call answered while the dialog table is full of ordinary calls is still tracked (its "
	    "BYE routed, its record written). The default covers [emergency] max_calls' default."),
	STR("emergency", "notify", emerg.notify_text, CONF_STR, "",
	    "Comma-separated local users told of each emergency call by a SIP MESSAGE (RFC 3428) "
	    "to their registered phones, e.g. the front desk and security (at most 8)."),

	{ "network", "phones", CONF_CIDRS, offsetof(struct conf, phones), 1024, 0, 0, NULL, "",
	  NULL,
	  "Comma-separated addresses and prefixes of the phone networks. `bastion firewall` "
	  "lets them reach the SIP and TLS ports and stops them from reaching any peer "
	  "(gateway, trunk) directly (docs/trunks.md). Empty: no phone network rules.", NOPROF },

	STR("trunks", "secrets", trunk_secrets, CONF_STR, "peers.secret",
	    "The file (relative to the state directory) with the digest credentials of "
	    "peers that challenge us: a `[NAME]` section per peer with `username`, "
	    "`password` and optionally `realm` (answer only that realm's challenges). It "
	    "must be a regular file that only its owner may read (0600), or it is refused; "
	    "a missing file means no credentials. Read again within a second of a change. "
	    "Never shown by `bastion peer show`, never logged (docs/trunks.md)."),
	U32("fraud", "calls_per_hour", fraud.user.calls_per_hour, 0, 1000000, "60", "calls",
	    "Outside calls (through a peer) one user may place in any hour; beyond, new ones get "
	    "403 Outside Call Limit Reached and event fraud.limit. Counted in 5-minute slots. "
	    "0: no limit. A peer has its own `calls_per_hour` (docs/trunks.md)."),
	U32("fraud", "minutes_per_day", fraud.user.minutes_per_day, 0, 1000000, "480", "minutes",
	    "Minutes of connected outside calls to domestic classes (local, toll-free, national, "
	    "mobile) one user may make in any 24 hours; beyond, new domestic calls get 403 and "
	    "fraud.limit. A call counts when it ends; hourly slots. 0: no limit."),
	U32("fraud", "international_minutes_per_day", fraud.user.intl_minutes_per_day, 0, 1000000,
	    "60", "minutes",
	    "The same for international and premium numbers, counted on their own: a user "
	    "over this budget may still call national numbers. 0: no limit."),
	U32("fraud", "alert_window", fraud.alert_window, 60, 86400, "600", "seconds",
	    "The window the burst alert looks at (in six slices)."),
	U32("fraud", "alert_short_calls", fraud.alert_short_calls, 0, 200, "10", "calls",
	    "International (or premium) calls of one user shorter than `short_call` (unanswered "
	    "ones too) within `alert_window` that raise event fraud.alert. 0: off."),
	U32("fraud", "short_call", fraud.short_call, 1, 3600, "10", "seconds",
	    "A call connected for less than this is short (alert_short_calls)."),
	U32("fraud", "alert_destinations", fraud.alert_destinations, 0, 200, "20", "numbers",
	    "Different outside numbers one user calls within `alert_window` that raise event "
	    "fraud.alert (counted in a fixed-size map, where two numbers may share a bit: "
	    "the count may fall short by one or two, within a few percent near 200). 0: off."),
	{ "fraud", "suspend", CONF_ENUM, offsetof(struct conf, fraud.suspend), 0, 0, 0, yes_no,
	  "no", NULL,
	  "`yes`: a fraud.alert also puts the user's outside calling on hold, stored with the "
	  "user (it survives restarts and holds on every node) until an administrator runs "
	  "`bastion fraud clear NAME`; held calls get 403 Outside Calling Suspended and "
	  "fraud.limit. Calls to local users go on.", NOPROF },
};

_Static_assert(ARRAY_SIZE(settings) <= CONF_MAX_SETTINGS, "raise CONF_MAX_SETTINGS");

const char *conf_profile_name(unsigned p)
{
	return p < CONF_PROFILE__COUNT ? profiles[p] : NULL;
}

int conf_profile_parse(const char *s, enum conf_profile *out)
{
	for (unsigned i = 0; i < CONF_PROFILE__COUNT; i++) {
		if (strcmp(profiles[i], s) == 0) {
			*out = (enum conf_profile)i;
			return 0;
		}
	}
	return EINVAL;
}

static const struct conf_setting *find_setting(const char *section, const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (strcmp(settings[i].section, section) == 0 && strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (strcmp(settings[i].section, section) == 0)
			return true;
	return false;
}

/* A domain: a host name (letters, digits, '-', '.') or a numeric address. */
static bool host_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == ':'))
			return false;
	}
	return s[0] != '.' && s[0] != '-';
}

/* The next comma-separated word of a list, trimmed, into *w; *p moves past
 * it (NULL after the last). Start with list_start(). "a,,b" and "a," have an
 * empty word; an empty list has none. */
static const char *list_start(const char *list)
{
	return *list ? list : NULL;
}

static bool list_next(const char **p, struct slice *w)
{
	const char *end;

	if (!*p)
		return false;
	end = strchr(*p, ',');
	*w = slice_trim(slice_make(*p, end ? (size_t)(end - *p) : strlen(*p)));
	*p = end ? end + 1 : NULL;
	return true;
}

static int set_value(struct conf *c, const struct conf_setting *s, const char *value, char *err,
		     size_t errlen)
{
	char *field = (char *)c + s->offset;

	switch (s->type) {
	case CONF_U32: {
		uint32_t v;
		int rc = slice_to_u32(slice_cstr(value), &v);
		if (rc || v < s->min || v > s->max) {
			snprintf(err, errlen, "%s: \"%s\" is not a whole number from %u to %u", s->key,
				 value, s->min, s->max);
			return EINVAL;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	case CONF_ENUM:
		for (uint32_t i = 0; s->choices[i]; i++) {
			if (strcmp(s->choices[i], value) == 0) {
				memcpy(field, &i, sizeof(i));
				return 0;
			}
		}
		snprintf(err, errlen, "%s: \"%s\" is not one of the allowed values", s->key, value);
		return EINVAL;
	case CONF_HOST:
		if (!host_valid(value)) {
			snprintf(err, errlen, "%s: \"%s\" is not a host name or IP address", s->key,
				 value);
			return EINVAL;
		}
		break;
	case CONF_LISTEN: {
		char why[256];
		if (net_listen_parse(c->listeners, NET_MAX_LISTEN, &c->nlisteners, value, why,
				     sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", s->key, why);
			return EINVAL;
		}
		break;
	}
	case CONF_ADDR: {
		char why[256], spec[200];
		struct net_listen_spec one;
		size_t n = 0, len = strlen(value);
		const char *colon = strrchr(value, ':');

		if (len == 0) {
			memset(&c->metrics_addr, 0, sizeof(c->metrics_addr));
			break;
		}
		if (len >= 128 || !colon || colon[1] == '\0' || (value[0] == '[' && colon[-1] != ']') ||
		    (value[0] != '[' && strchr(value, ':') != colon)) {
			snprintf(err, errlen, "%s: \"%.60s\" is not address:port ([v6]:port for IPv6)",
				 s->key, value);
			return EINVAL;
		}
		snprintf(spec, sizeof(spec), "tcp:%s", value);
		if (net_listen_parse(&one, 1, &n, spec, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", s->key, why);
			return EINVAL;
		}
		c->metrics_addr = one.addr;
		break;
	}
	case CONF_REMOTE: {
		const char *h, *colon;
		size_t hlen, len = strlen(value);
		uint32_t port;

		c->remote_host[0] = '\0';
		c->remote_port = 0;
		if (len == 0)
			break;
		if (len >= 300 || strncmp(value, "tls:", 4) != 0)
			goto bad_remote;
		h = value + 4;
		if (*h == '[') {
			const char *rb = strchr(h, ']');
			if (!rb || rb[1] != ':')
				goto bad_remote;
			hlen = (size_t)(rb - h - 1);
			h++;
			colon = rb + 1;
		} else {
			colon = strrchr(h, ':');
			if (!colon || memchr(h, ':', (size_t)(colon - h)))
				goto bad_remote;
			hlen = (size_t)(colon - h);
		}
		if (hlen == 0 || hlen >= sizeof(c->remote_host) ||
		    slice_to_u32(slice_cstr(colon + 1), &port) != 0 || port == 0 || port > 65535)
			goto bad_remote;
		for (size_t i = 0; i < hlen; i++) {
			char ch = h[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == ':'))
				goto bad_remote;
		}
		memcpy(c->remote_host, h, hlen);
		c->remote_host[hlen] = '\0';
		c->remote_port = (uint16_t)port;
		break;
	bad_remote:
		snprintf(err, errlen, "%s: \"%.80s\" is not tls:HOST:PORT", s->key, value);
		return EINVAL;
	}
	case CONF_REALM:
		if (*value && !host_valid(value)) {
			snprintf(err, errlen, "%s: \"%s\" is not a valid realm (letters, digits, '-', '.')",
				 s->key, value);
			return EINVAL;
		}
		break;
	case CONF_ALGOS:
		if (strcmp(value, "SHA-256,MD5") && strcmp(value, "MD5,SHA-256") &&
		    strcmp(value, "SHA-256") && strcmp(value, "MD5")) {
			snprintf(err, errlen, "%s: \"%s\" is not SHA-256,MD5 or MD5,SHA-256 or SHA-256 or MD5",
				 s->key, value);
			return EINVAL;
		}
		/* parsed once, here: the challenge path reads c->algos */
		c->nalgos = 0;
		for (const char *p = value; *p && c->nalgos < ARRAY_SIZE(c->algos);) {
			bool sha = strncmp(p, "SHA-256", 7) == 0;
			c->algos[c->nalgos++] = sha ? 2 : 1; /* enum auth_algo: MD5 1, SHA-256 2 */
			p += sha ? 7 : 3;
			if (*p == ',')
				p++;
		}
		break;
	case CONF_CIDRS:
	case CONF_WORDS: {
		char one[128];
		size_t n = 0, max = s->type == CONF_CIDRS ? GUARD_ALLOW_MAX : GUARD_SCANNER_MAX;

		struct slice w;

		for (const char *p = list_start(value); list_next(&p, &w);) {
			if (w.len == 0 || w.len >= sizeof(one) || ++n > max) {
				snprintf(err, errlen, "%s: %s", s->key,
					 n > max ? "too many entries" : "empty or overlong entry");
				return EINVAL;
			}
			memcpy(one, w.p, w.len);
			one[w.len] = '\0';
			for (size_t i = 0; i < w.len; i++) {
				if ((unsigned char)one[i] <= 0x20 || (unsigned char)one[i] >= 0x7f) {
					snprintf(err, errlen, "%s: \"%s\" has a space or control character",
						 s->key, one);
					return EINVAL;
				}
			}
			if (s->type == CONF_CIDRS && guard_cidr_check(one) != 0) {
				snprintf(err, errlen, "%s: \"%s\" is not an IP address or prefix",
					 s->key, one);
				return EINVAL;
			}
		}
		break;
	}
	case CONF_STR:
		for (const char *p = value; *p; p++) {
			if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
				snprintf(err, errlen, "%s: control characters are not allowed", s->key);
				return EINVAL;
			}
		}
		break;
	}
	if (strlen(value) >= s->size) {
		snprintf(err, errlen, "%s: value longer than %zu characters", s->key, s->size - 1);
		return EINVAL;
	}
	memcpy(field, value, strlen(value) + 1);
	return 0;
}

int conf_set(struct conf *c, const char *section, const char *key, const char *value, char *err,
	     size_t errlen)
{
	const struct conf_setting *s = find_setting(section, key);

	if (!s && trunk_section(section))
		return trunk_conf_set(&c->trunk, section, key, value, 0, err, errlen);
	if (!s && emerg_section(section))
		return emerg_conf_set(&c->emerg, section, key, value, 0, err, errlen);
	if (!s) {
		if (section_known(section))
			snprintf(err, errlen, "unknown key \"%s\" in section [%s]", key, section);
		else
			snprintf(err, errlen, "unknown section [%s]", section);
		return EINVAL;
	}
	if (set_value(c, s, value, err, errlen) != 0)
		return EINVAL;
	c->origin[s - settings] = CONF_FROM_FILE;
	return 0;
}

/* The value setting s takes under profile p when the file leaves it out. */
static const char *profile_value(const struct conf_setting *s, unsigned p, bool *from_profile)
{
	const char *v = p < CONF_PROFILE__COUNT ? s->prof[p] : NULL;

	*from_profile = v != NULL;
	return v ? v : s->def;
}

void conf_apply_profile(struct conf *c)
{
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		bool prof;
		const char *v;

		/* the profile itself stays as the caller set it */
		if (c->origin[i] == CONF_FROM_FILE ||
		    settings[i].offset == offsetof(struct conf, profile))
			continue;
		v = profile_value(&settings[i], c->profile, &prof);
		if (set_value(c, &settings[i], v, err, sizeof(err)) != 0) {
			/* A bad profile value is a programming error the unit tests catch. */
			fprintf(stderr, "bastion: bad built-in profile value: %s\n", err);
			abort();
		}
		c->origin[i] = prof ? CONF_FROM_PROFILE : CONF_FROM_DEFAULT;
	}
}

void conf_defaults(struct conf *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		int rc = set_value(c, &settings[i], settings[i].def, err, sizeof(err));
		if (rc) {
			/* A bad default is a programming error the unit tests catch. */
			fprintf(stderr, "bastion: bad built-in default: %s\n", err);
			abort();
		}
	}
	trunk_conf_init(&c->trunk);
	{
		unsigned line;
		(void)trunk_conf_check(&c->trunk, &line, err, sizeof(err)); /* fills class defaults */
		emerg_conf_init(&c->emerg);
		(void)emerg_conf_check(&c->emerg, &c->trunk, &line, err, sizeof(err));
	}
}

struct load_ctx {
	struct conf *c;
	bool seen[ARRAY_SIZE(settings)];
	char msg[512];
	bool failed;
	FILE *f;
	unsigned line;             /* of the line being handed to on_ini_line */
};

/* inih's reader, counting lines: the dial-plan sections keep the line of
 * each peer and route for the checks that need the whole file. */
static char *read_line(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;
	char *r = fgets(str, num, ctx->f);

	if (r)
		ctx->line++;
	return r;
}

static int on_ini_line(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	const struct conf_setting *s;

	if (ctx->failed)
		return 0;
	if (!find_setting(section, name) && trunk_section(section)) {
		if (trunk_conf_set(&ctx->c->trunk, section, name, value, ctx->line, ctx->msg,
				   sizeof(ctx->msg)) != 0) {
			ctx->failed = true;
			return 0;
		}
		return 1;
	}
	if (!find_setting(section, name) && emerg_section(section)) {
		if (emerg_conf_set(&ctx->c->emerg, section, name, value, ctx->line, ctx->msg,
				   sizeof(ctx->msg)) != 0) {
			ctx->failed = true;
			return 0;
		}
		return 1;
	}
	if (conf_set(ctx->c, section, name, value, ctx->msg, sizeof(ctx->msg)) != 0) {
		ctx->failed = true;
		return 0;
	}
	s = find_setting(section, name);
	if (ctx->seen[s - settings]) {
		snprintf(ctx->msg, sizeof(ctx->msg), "\"%s\" is set twice in [%s]", name, section);
		ctx->failed = true;
		return 0;
	}
	ctx->seen[s - settings] = true;
	return 1;
}

int conf_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx *ctx;
	struct conf *tmp;
	FILE *f;
	int line, rc = 0;

	f = fopen(path, "r");
	if (!f) {
		rc = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(rc));
		return rc;
	}
	ctx = calloc(1, sizeof(*ctx));
	tmp = malloc(sizeof(*tmp));
	if (!ctx || !tmp) {
		rc = ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	conf_defaults(tmp);
	trunk_conf_init(&tmp->trunk); /* the defaults come after the file's classes */
	ctx->c = tmp;
	ctx->f = f;

	/* Lines up to 4 KiB, no multi-line continuation (an indented line is an
	 * error, not a silent append), stop at the first error. */
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = 4096;
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;

	line = ini_parse_stream(read_line, ctx, on_ini_line, ctx);
	if (line != 0) {
		rc = EINVAL;
		if (line < 0)
			snprintf(err, errlen, "%s: cannot read the file", path);
		else if (ctx->failed)
			snprintf(err, errlen, "%s:%d: %s", path, line, ctx->msg);
		else
			snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
				 path, line);
		goto out;
	}
	conf_apply_profile(tmp);
	if (tmp->ban_max < tmp->ban_time) {
		rc = EINVAL;
		snprintf(err, errlen, "%s: [guard] ban_max (%u) is shorter than ban_time (%u)", path,
			 tmp->ban_max, tmp->ban_time);
		goto out;
	}
	{
		unsigned tline;
		if (trunk_conf_check(&tmp->trunk, &tline, ctx->msg, sizeof(ctx->msg)) != 0) {
			rc = EINVAL;
			if (tline)
				snprintf(err, errlen, "%s:%u: %s", path, tline, ctx->msg);
			else
				snprintf(err, errlen, "%s: %s", path, ctx->msg);
			goto out;
		}
		if (emerg_conf_check(&tmp->emerg, &tmp->trunk, &tline, ctx->msg,
				     sizeof(ctx->msg)) != 0) {
			rc = EINVAL;
			if (tline)
				snprintf(err, errlen, "%s:%u: %s", path, tline, ctx->msg);
			else
				snprintf(err, errlen, "%s: %s", path, ctx->msg);
			goto out;
		}
	}
	*c = *tmp;
out:
	fclose(f);
	free(ctx);
	free(tmp);
	return rc;
}

void conf_net(const struct conf *c, struct net_conf *out)
{
	out->lim = c->lim;
	out->max_connections = c->max_connections;
	out->idle_timeout_ms = c->idle_timeout * 1000u;
	out->header_timeout_ms = c->header_timeout * 1000u;
	out->max_per_source = c->max_per_source;
	out->min_rate = c->min_rate;
}

/* Split a validated list into trimmed words in buf (NUL-separated). */
static size_t split_list(const char *list, char **buf, size_t *room, const char **out,
			 size_t cap)
{
	struct slice w;
	size_t n = 0;

	for (const char *p = list_start(list); n < cap && list_next(&p, &w) && w.len + 1 <= *room;) {
		memcpy(*buf, w.p, w.len);
		(*buf)[w.len] = '\0';
		out[n++] = *buf;
		*buf += w.len + 1;
		*room -= w.len + 1;
	}
	return n;
}

void conf_guard(const struct conf *c, struct conf_guard *out)
{
	char *buf = out->buf;
	size_t room = sizeof(out->buf);

	out->gc = (struct guard_conf){
		.table_size = c->guard_sources,
		.user_table_size = c->guard_users,
		.v6_prefix = c->guard_v6_prefix,
		.rate_all = c->rate,
		.rate_invite = c->invite_rate,
		.rate_register = c->register_rate,
		.auth_credit = c->auth_credit,
		.auth_ceiling = c->auth_ceiling,
		.trust_window = c->trust_window,
		.ban_drops = c->ban_drops,
		.ban_grace = c->ban_grace,
		.ban_time = c->ban_time,
		.ban_max = c->ban_max,
		.fail_window = c->fail_window,
		.source_fail_limit = c->source_fail_limit,
		.user_fail_limit = c->user_fail_limit,
		.lock_time = c->lock_time,
		.allow = out->allow,
		.scanners = out->scanners,
	};
	out->gc.allow_n = split_list(c->allow, &buf, &room, out->allow, GUARD_ALLOW_MAX);
	out->gc.scanners_n = split_list(c->scanners, &buf, &room, out->scanners, GUARD_SCANNER_MAX);
}

static void write_range(FILE *f, const struct conf_setting *s)
{
	if (s->type == CONF_U32) {
		fprintf(f, "%u to %u", s->min, s->max);
		if (s->unit)
			fprintf(f, " %s", s->unit);
	} else if (s->type == CONF_ENUM) {
		for (int i = 0; s->choices[i]; i++)
			fprintf(f, "%s%s", i ? ", " : "", s->choices[i]);
	} else if (s->type == CONF_LISTEN) {
		fputs("listen list", f);
	} else if (s->type == CONF_HOST || s->type == CONF_REALM) {
		fputs("host name or IP", f);
	} else if (s->type == CONF_ALGOS) {
		fputs("SHA-256, MD5, in order", f);
	} else if (s->type == CONF_CIDRS) {
		fputs("address or prefix list", f);
	} else if (s->type == CONF_WORDS) {
		fputs("word list", f);
	} else if (s->type == CONF_REMOTE) {
		fputs("tls:HOST:PORT, or empty", f);
	} else if (s->type == CONF_ADDR) {
		fputs("address:port, or empty", f);
	} else {
		fputs("text", f);
	}
}

/* Length of the first sentence of a help text: up to the first ". " that
 * does not end "e.g." or "i.e.", or the whole text. */
static size_t first_sentence(const char *h)
{
	size_t n = strlen(h);

	for (size_t i = 0; i + 1 < n; i++) {
		if (h[i] != '.' || h[i + 1] != ' ')
			continue;
		if (i >= 3 && (strncmp(h + i - 3, "e.g", 3) == 0 || strncmp(h + i - 3, "i.e", 3) == 0))
			continue;
		return i + 1;
	}
	return n;
}

/* Write the first sentence of s->help as "; " comment lines of at most
 * about 78 columns, without the Markdown backquotes of the reference. */
static void write_meaning(FILE *f, const struct conf_setting *s)
{
	const char *h = s->help;
	size_t n = first_sentence(h), col = 0, i = 0;

	while (i < n) {
		size_t w = i;

		while (w < n && h[w] != ' ')
			w++;
		if (col == 0) {
			fputs(";", f);
			col = 1;
		}
		if (col > 1 && col + 1 + (w - i) > 78) {
			fputs("\n;", f);
			col = 1;
		}
		fputc(' ', f);
		col++;
		for (size_t k = i; k < w; k++) {
			if (h[k] != '`') {
				fputc(h[k], f);
				col++;
			}
		}
		i = w;
		while (i < n && h[i] == ' ')
			i++;
	}
	if (col)
		fputc('\n', f);
}

int conf_write_initial(FILE *f, const char *domain, const char *listen,
		       enum conf_profile profile)
{
	bool prof_set = profile != CONF_PROFILE_MINIMUM;

	const char *section = "";

	fputs("; Bastion configuration. Every setting is listed; those commented out\n"
	      "; show their default. Reference: docs/configuration.md.\n",
	      f);
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		const struct conf_setting *s = &settings[i];
		const char *value = NULL;

		if (strcmp(section, s->section) != 0) {
			section = s->section;
			fprintf(f, "\n[%s]\n", section);
		}
		if (strcmp(s->section, "server") == 0 && strcmp(s->key, "domain") == 0)
			value = domain;
		if (strcmp(s->section, "server") == 0 && strcmp(s->key, "listen") == 0)
			value = listen;
		/* the default profile stays a comment, like every default */
		if (prof_set && strcmp(s->section, "server") == 0 && strcmp(s->key, "profile") == 0)
			value = profiles[profile];
		write_meaning(f, s);
		fputs(";   (", f);
		write_range(f, s);
		fputs(")", f);
		if (!value && s->prof[profile])
			fprintf(f, " Set by profile %s (default %s).", profiles[profile],
				*s->def ? s->def : "empty");
		fputs("\n", f);
		if (value)
			fprintf(f, "%s = %s\n", s->key, value);
		else
			fprintf(f, ";%s = %s\n", s->key, s->prof[profile] ? s->prof[profile] : s->def);
	}
	return ferror(f) ? EIO : 0;
}

void conf_write_reference(FILE *f)
{
	const char *section = "";

	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		const struct conf_setting *s = &settings[i];

		if (strcmp(section, s->section) != 0) {
			section = s->section;
			fprintf(f, "\n### [%s]\n\n| key | default | range | profiles | meaning |\n"
				   "|---|---|---|---|---|\n",
				section);
		}
		fprintf(f, "| `%s` | `%s` | ", s->key, *s->def ? s->def : "(empty)");
		write_range(f, s);
		fputs(" | ", f);
		for (unsigned p = 0, n = 0; p < CONF_PROFILE__COUNT; p++)
			if (s->prof[p])
				fprintf(f, "%s%s: `%s`", n++ ? ", " : "", profiles[p], s->prof[p]);
		fprintf(f, " | %s |\n", s->help);
	}
}

int conf_state_path(char *out, size_t cap, const char *state, const char *setting)
{
	int n = setting[0] == '/' ? snprintf(out, cap, "%s", setting)
				  : snprintf(out, cap, "%s/%s", state, setting);

	return n < 0 || (size_t)n >= cap ? ENAMETOOLONG : 0;
}

/* The effective value of s in c, as the file would spell it. */
static void write_value(FILE *f, const struct conf *c, const struct conf_setting *s)
{
	const char *field = (const char *)c + s->offset;
	uint32_t v;

	switch (s->type) {
	case CONF_U32:
		memcpy(&v, field, sizeof(v));
		fprintf(f, "%u", v);
		break;
	case CONF_ENUM:
		memcpy(&v, field, sizeof(v));
		fputs(s->choices[v], f);
		break;
	default:
		fputs(field, f);
		break;
	}
}

void conf_show(FILE *f, const struct conf *c)
{
	const char *section = "";

	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		const struct conf_setting *s = &settings[i];

		if (strcmp(section, s->section) != 0) {
			section = s->section;
			fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
		}
		fprintf(f, "%s = ", s->key);
		write_value(f, c, s);
		if (c->origin[i] == CONF_FROM_FILE)
			fputs("    ; file\n", f);
		else if (c->origin[i] == CONF_FROM_PROFILE)
			fprintf(f, "    ; profile %s\n", profiles[c->profile]);
		else
			fputs("    ; default\n", f);
	}
}
