/*
 * conf/log_rows.c: the settings rows of [log]: the diagnostic, security and
 * call-record logs, their chain and the remote log server (log/).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const char *const conf_log_levels[] = { "error", "warn", "info", "debug", NULL };

const struct conf_row conf_log_rows[] = {
	{ "log", "level", CONF_ENUM, offsetof(struct conf, log_level), 0, 0, 0, conf_log_levels,
	  "info", NULL, "Diagnostic log level: error, warn, info or debug.", NOPROF },
	U32("log", "refusal_log_rate", refusal_log_rate, 0, 100000, "10", "lines/s",
	    "Most log lines per second about refused or dropped messages; the rest are "
	    "counted and summarised, so a flood cannot fill the disk. 0 logs none."),
	STR("log", "security_log", security_log, CONF_STR, "security.log",
	    "Security events (authentication failures, hijack attempts, registrations ...), "
	    "one JSON object a line; relative to the state directory. Secrets never appear."),
	{ "log", "syslog", CONF_ENUM, offsetof(struct conf, syslog), 0, 0, 0, conf_yes_no, "yes", NULL,
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
};
const size_t conf_log_rows_n = ARRAY_SIZE(conf_log_rows);
