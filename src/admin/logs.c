/*
 * admin/logs: `bastion log verify FILE...` checks the hash chain and the
 * keyed checkpoints of security.log or cdr.log (log.h) and names the first
 * line altered, removed or inserted; `bastion events` lists the security
 * events, filtered, checking the chain as it reads (as `cdr list` reads
 * the call records). Both only read.
 */
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../conf/conf.h"
#include "../log/log.h"
#include "internal.h"

#define EVENT_LINE_MAX 65536

/* The state's configuration, or the defaults when it has none (verifying a
 * copied log on another host). Returns 0, or 1 with the reason printed. */
static int load_conf(struct conf *c, const char *state, bool need)
{
	char path[4200], err[600];

	snprintf(path, sizeof(path), "%s/%s", state, CONF_FILE_NAME);
	if (access(path, F_OK) != 0 && !need) {
		conf_defaults(c);
		return 0;
	}
	if (conf_load(c, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: %s\n", err);
		return 1;
	}
	return 0;
}

/* The key: --key F, else the state's [log] key when it exists. *have false
 * when there is none. Returns 0, or 1 with the reason printed. */
static int load_key(uint8_t key[LOG_KEY_LEN], bool *have, const char *keyfile,
		    const struct conf *c, const char *state, const char *cmd)
{
	char path[1100];
	int e;

	*have = false;
	if (keyfile)
		snprintf(path, sizeof(path), "%s", keyfile);
	else if (conf_state_path(path, sizeof(path), state, c->log_key) != 0)
		return 0;
	e = log_key_read(key, path);
	if (e == ENOENT && !keyfile)
		return 0;
	if (e) {
		fprintf(stderr, "bastion: %s: key %s: %s%s\n", cmd, path, strerror(e),
			e == EACCES ? " (it must not be readable by others: chmod 600)"
				    : e == EINVAL ? " (not a 32-byte key file)" : "");
		return 1;
	}
	*have = true;
	return 0;
}

static const char *problem_word(enum log_verify_problem p)
{
	switch (p) {
	case LOG_VERIFY_ALTERED: return "altered";
	case LOG_VERIFY_REMOVED: return "lines removed";
	case LOG_VERIFY_INSERTED: return "inserted";
	case LOG_VERIFY_BAD_MAC: return "checkpoint fails";
	case LOG_VERIFY_BROKEN: return "chain broken";
	default: return "ok";
	}
}

/* ---- log verify ---------------------------------------------------------------- */

static int cmd_verify(const char *state, int argc, char **argv)
{
	const char *keyfile = NULL, *files[64];
	size_t nfiles = 0;
	uint8_t key[LOG_KEY_LEN];
	bool have_key = false, no_key = false;
	struct log_verify v;
	struct conf c;
	int rc = 0;

	for (int i = 2; i < argc; i++) {
		const char *val;
		if ((val = admin_opt_value(argc, argv, &i, "--key")))
			keyfile = val;
		else if (strcmp(argv[i], "--no-key") == 0)
			no_key = true;
		else if (argv[i][0] == '-')
			return admin_usage_error("log", "log verify: unknown option", argv[i]);
		else if (nfiles >= ARRAY_SIZE(files))
			return admin_usage_error("log", "log verify: more than 64 files", NULL);
		else
			files[nfiles++] = argv[i];
	}
	if (nfiles == 0)
		return admin_usage_error("log", "log verify: expected FILE (oldest first)", NULL);
	if (keyfile && no_key)
		return admin_usage_error("log", "log verify: --key and --no-key together", NULL);
	if (!no_key &&
	    (load_conf(&c, state, false) || load_key(key, &have_key, keyfile, &c, state, "log verify")))
		return 1;
	log_verify_init(&v, have_key ? key : NULL, have_key ? LOG_KEY_LEN : 0);
	for (size_t i = 0; i < nfiles && rc == 0; i++) {
		char shown[300];

		slice_repr(shown, sizeof(shown), slice_cstr(files[i]), 64);
		if (i)
			log_verify_next_file(&v);
		rc = log_verify_file(&v, files[i]);
		if (rc == EBADMSG) {
			printf("%s: line %llu: %s\n", shown, (unsigned long long)v.bad_line, v.what);
			printf("%s: NOT intact (%s at line %llu)\n", shown, problem_word(v.problem),
			       (unsigned long long)v.bad_line);
		} else if (rc) {
			fprintf(stderr, "bastion: log verify: %s: %s\n", shown, strerror(rc));
		}
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (rc)
		return 1;
	if (!v.started) {
		printf("no chained lines (%llu line(s) from before the chain): nothing to verify\n",
		       (unsigned long long)v.lines);
		return 1;
	}
	printf("intact: %llu line(s), seq %llu to %llu%s", (unsigned long long)v.lines,
	       (unsigned long long)v.first_seq, (unsigned long long)v.seq,
	       v.first_is_genesis ? " (from the start of the chain)"
				  : " (continues an earlier file, not checked here)");
	if (v.legacy)
		printf(", %llu line(s) from before the chain not checked",
		       (unsigned long long)v.legacy);
	printf("\n");
	if (have_key)
		printf("checkpoints: %llu, all match the key\n", (unsigned long long)v.checkpoints);
	else
		printf("checkpoints: %llu, NOT checked (no key: give --key FILE)\n",
		       (unsigned long long)v.checkpoints);
	if (v.since_checkpoint)
		printf("the last %llu line(s) come after the last checkpoint: the hashes chain "
		       "them, no key covers them yet\n",
		       (unsigned long long)v.since_checkpoint);
	return 0;
}

int admin_cmd_log(const char *state, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(state, argc, argv);
	return admin_usage_error("log", "log: expected 'verify'", argc > 1 ? argv[1] : NULL);
}

/* ---- events -------------------------------------------------------------------- */

struct ev_filter {
	char since[40];                /* "" or a stamp: events at or after it */
	const char *type, *user, *source;
	bool json;
};

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static bool matches(const struct ev_filter *f, json_t *o)
{
	const char *kind = jstr(o, "kind");

	if (strcmp(kind, LOG_CHECKPOINT_KIND) == 0)
		return false;
	if (f->since[0] && strcmp(jstr(o, "time"), f->since) < 0)
		return false;
	if (f->type && fnmatch(f->type, kind, 0) != 0)
		return false;
	if (f->user && strcmp(jstr(o, "user"), f->user) != 0)
		return false;
	if (f->source && strcmp(jstr(o, "src"), f->source) != 0)
		return false;
	return true;
}

/* One event, human-readable; every value printed escaped (the file may
 * have been edited by someone). */
static void print_event(json_t *o)
{
	static const char *const keys[] = { "user", "aor", "reason", "call_id", "user_agent" };
	char a[300], b[300], c[80];
	json_t *port = json_object_get(o, "port"), *status = json_object_get(o, "status");

	printf("%s  %s", slice_repr(a, sizeof(a), slice_cstr(jstr(o, "time")), 32),
	       slice_repr(b, sizeof(b), slice_cstr(jstr(o, "kind")), 48));
	if (jstr(o, "src")[0])
		printf("  src %s:%lld/%s", slice_repr(a, sizeof(a), slice_cstr(jstr(o, "src")), 64),
		       json_is_integer(port) ? (long long)json_integer_value(port) : 0LL,
		       slice_repr(c, sizeof(c), slice_cstr(jstr(o, "transport")), 8));
	if (json_is_integer(status))
		printf("  status %lld", (long long)json_integer_value(status));
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *v = jstr(o, keys[i]);
		if (v[0])
			printf("  %s %s", keys[i], slice_repr(a, sizeof(a), slice_cstr(v), 96));
	}
	printf("\n");
}

/* Check a filter value from the command line: printable, bounded. */
static bool arg_ok(const char *s)
{
	size_t n = strnlen(s, 257);

	if (n == 0 || n > 256)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int admin_cmd_events(const char *state, int argc, char **argv)
{
	struct ev_filter f = { .since = "" };
	const char *since_arg = NULL, *file = NULL, *keyfile = NULL;
	char path[1100], shown[300], why[200], msg[600], *line = NULL;
	uint8_t key[LOG_KEY_LEN];
	bool have_key = false, bad_chain = false;
	struct log_verify v;
	struct conf c;
	size_t n = 0, len = 0, shown_n = 0;
	FILE *in;
	int ch, rc = 0;

	for (int i = 1; i < argc; i++) {
		const char *val;
		if ((val = admin_opt_value(argc, argv, &i, "--since")))
			since_arg = val;
		else if ((val = admin_opt_value(argc, argv, &i, "--type")))
			f.type = val;
		else if ((val = admin_opt_value(argc, argv, &i, "--user")))
			f.user = val;
		else if ((val = admin_opt_value(argc, argv, &i, "--source")))
			f.source = val;
		else if ((val = admin_opt_value(argc, argv, &i, "--file")))
			file = val;
		else if ((val = admin_opt_value(argc, argv, &i, "--key")))
			keyfile = val;
		else if (strcmp(argv[i], "--json") == 0)
			f.json = true;
		else
			return admin_usage_error("events", "events: unexpected argument", argv[i]);
	}
	if ((f.type && !arg_ok(f.type)) || (f.user && !arg_ok(f.user)) ||
	    (f.source && !arg_ok(f.source)) || (file && !arg_ok(file)))
		return admin_usage_error("events", "events: empty, overlong or control characters in "
				         "a filter value", NULL);
	if (since_arg) {
		int64_t t;
		struct tm tm;
		time_t tt;

		if (admin_parse_since(since_arg, (int64_t)time(NULL), &t, why, sizeof(why)) != 0) {
			slice_repr(shown, sizeof(shown), slice_cstr(since_arg), 24);
			snprintf(msg, sizeof(msg), "events: bad --since '%s': %s", shown, why);
			return admin_usage_error("events", msg, NULL);
		}
		tt = (time_t)t;
		gmtime_r(&tt, &tm);
		strftime(f.since, sizeof(f.since), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	}
	if (load_conf(&c, state, !file) || load_key(key, &have_key, keyfile, &c, state, "events"))
		return 1;
	if (file)
		snprintf(path, sizeof(path), "%s", file);
	else if (conf_state_path(path, sizeof(path), state, c.security_log) != 0) {
		fprintf(stderr, "bastion: events: security log path too long\n");
		return 1;
	}
	slice_repr(shown, sizeof(shown), slice_cstr(path), 128);
	in = fopen(path, "re");
	if (!in) {
		if (errno == ENOENT && !file) {
			printf("No events (no %s yet).\n", shown);
			return 0;
		}
		fprintf(stderr, "bastion: events: %s: %s\n", shown, strerror(errno));
		return 1;
	}
	line = malloc(EVENT_LINE_MAX + 1);
	if (!line) {
		fclose(in);
		return 1;
	}
	log_verify_init(&v, have_key ? key : NULL, have_key ? LOG_KEY_LEN : 0);
	for (;;) {
		ch = getc(in);
		if (ch != EOF && ch != '\n') {
			if (len < EVENT_LINE_MAX)
				line[len++] = (char)ch;
			else
				n = 1; /* too long: verify reports it below */
			continue;
		}
		if (ch == EOF && len == 0)
			break;
		line[len] = '\0';
		if (!bad_chain) {
			bool too_long = n != 0;

			if (too_long || log_verify_line(&v, line, len) != 0) {
				bad_chain = true;
				fprintf(stderr, "bastion: events: %s line %llu: %s\n", shown,
					(unsigned long long)(too_long ? v.line + 1 : v.bad_line),
					too_long ? "altered: over 64 KiB" : v.what);
			}
		}
		if (!n) {
			json_t *o = json_loadb(line, len, 0, NULL);
			if (o && json_is_object(o) && matches(&f, o)) {
				if (f.json)
					printf("%s\n", line);
				else
					print_event(o);
				shown_n++;
			}
			json_decref(o);
		}
		len = 0;
		n = 0;
		if (ch == EOF)
			break;
	}
	if (ferror(in)) {
		fprintf(stderr, "bastion: events: %s: read error\n", shown);
		rc = 1;
	}
	fclose(in);
	free(line);
	OPENSSL_cleanse(key, sizeof(key));
	if (shown_n == 0 && !f.json)
		printf("No events.\n");
	if (bad_chain) {
		fprintf(stderr, "bastion: events: %s is NOT intact (see 'bastion log verify')\n",
			shown);
		rc = 1;
	}
	return rc;
}
