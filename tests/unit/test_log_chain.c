/*
 * test_log_chain: the tamper-evident logs. Events written through the real
 * security log carry seq and prev; checkpoints carry the key's MAC; the
 * verifier names the first altered, removed or inserted line, catches a
 * chain rewritten with fresh hashes at the next checkpoint, follows the
 * chain across a rotation and a restart, skips lines from before the chain,
 * and the key file is refused when others may read it.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log/internal.h"
#include "log/log.h"

static char dir[64], logp[128], keyp[128], rotp[128];
static uint8_t key[LOG_KEY_LEN];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/bastion-chain-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(logp, sizeof(logp), "%s/security.log", dir);
	snprintf(keyp, sizeof(keyp), "%s/log.key", dir);
	snprintf(rotp, sizeof(rotp), "%s/security.log.1", dir);
}

static void cleanup(void)
{
	unlink(logp);
	unlink(keyp);
	unlink(rotp);
	rmdir(dir);
}

static int load_key(void)
{
	int fd, rc;

	rc = log_key_load(keyp, true);
	if (rc)
		return rc;
	fd = open(keyp, O_RDONLY);
	if (fd < 0 || read(fd, key, sizeof(key)) != (ssize_t)sizeof(key))
		rc = EIO;
	if (fd >= 0)
		close(fd);
	return rc;
}

static void ev(const char *user)
{
	log_event(&(struct log_event){ .kind = "auth.failure", .user = slice_cstr(user),
				       .reason = "wrong password", .status = 403 });
}

/* Write n events and close (which writes a checkpoint). */
static void write_log(int n)
{
	char u[16];

	unlink(logp);
	log_events_open(logp, false);
	for (int i = 0; i < n; i++) {
		snprintf(u, sizeof(u), "u%d", i);
		ev(u);
	}
	log_events_close();
}

/* Lines of the file into a NULL-terminated malloc'd array. */
static char **lines_of(const char *path, int *n)
{
	size_t len;
	char *all = check_read_file(path, &len), **out, *p, *nl;

	*n = 0;
	out = calloc(256, sizeof(*out));
	for (p = all; p && p < all + len && *n < 255; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(all + len - p));
		if (!nl)
			break;
		out[(*n)++] = strndup(p, (size_t)(nl - p));
	}
	free(all);
	return out;
}

static void write_lines(const char *path, char **l, int n)
{
	FILE *f = fopen(path, "w");

	for (int i = 0; i < n; i++)
		if (l[i])
			fprintf(f, "%s\n", l[i]);
	fclose(f);
}

static void free_lines(char **l, int n)
{
	for (int i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

static int verify(struct log_verify *v, const uint8_t *k)
{
	log_verify_init(v, k, k ? LOG_KEY_LEN : 0);
	return log_verify_file(v, logp);
}

/* Recompute every prev from line `from` (0-based) on, as a forger would. */
static void rechain(char **l, int n, int from)
{
	uint8_t h[32];
	char hex[65];

	for (int i = from; i < n; i++) {
		json_t *o = json_loads(l[i], 0, NULL);
		char *s;

		log_line_hash(h, l[i - 1], strlen(l[i - 1]));
		hex_encode(hex, h, 32);
		json_object_set_new(o, "prev", json_string(hex));
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		free(l[i]);
		l[i] = s;
		json_decref(o);
	}
}

static void intact_chain(void)
{
	struct log_verify v;
	char **l;
	int n;
	json_t *o;

	setup();
	CHECK_INT(load_key(), 0);
	write_log(5);
	CHECK_INT(verify(&v, key), 0);
	CHECK_INT(v.lines, 6);
	CHECK_INT(v.checkpoints, 1);
	CHECK_INT(v.since_checkpoint, 0);
	CHECK(v.first_is_genesis);
	l = lines_of(logp, &n);
	CHECK_INT(n, 6);
	o = json_loads(l[5], 0, NULL);
	CHECK(o != NULL);
	CHECK(strcmp(json_string_value(json_object_get(o, "kind")), "log.checkpoint") == 0);
	CHECK_INT(json_integer_value(json_object_get(o, "seq")), 6);
	CHECK_INT(json_integer_value(json_object_get(o, "lines")), 5);
	json_decref(o);
	free_lines(l, n);
	log_key_forget();
	cleanup();
}

static void altered_line_named(void)
{
	struct log_verify v;
	char **l, *p;
	int n;

	setup();
	CHECK_INT(load_key(), 0);
	write_log(5);
	l = lines_of(logp, &n);
	p = strstr(l[2], "\"u2\"");
	CHECK(p != NULL);
	p[2] = '9'; /* the user of line 3 becomes u9 */
	write_lines(logp, l, n);
	free_lines(l, n);
	CHECK_INT(verify(&v, key), EBADMSG);
	CHECK_INT(v.problem, LOG_VERIFY_ALTERED);
	CHECK_INT(v.bad_line, 3);
	/* the last line altered: caught by the checkpoint after it */
	write_log(3);
	l = lines_of(logp, &n);
	p = strstr(l[2], "\"u2\"");
	p[2] = '7';
	write_lines(logp, l, n);
	free_lines(l, n);
	CHECK_INT(verify(&v, key), EBADMSG);
	CHECK_INT(v.problem, LOG_VERIFY_ALTERED);
	CHECK_INT(v.bad_line, 3);
	/* garbage in place of a line */
	write_log(3);
	l = lines_of(logp, &n);
	free(l[1]);
	l[1] = strdup("not json at all");
	write_lines(logp, l, n);
	free_lines(l, n);
	CHECK_INT(verify(&v, key), EBADMSG);
	CHECK_INT(v.problem, LOG_VERIFY_ALTERED);
	CHECK_INT(v.bad_line, 2);
	log_key_forget();
	cleanup();
}

static void removed_lines_named(void)
{
	struct log_verify v;
	char **l;
	int n;

	setup();
	CHECK_INT(load_key(), 0);
	write_log(6);
	l = lines_of(logp, &n);
	free(l[2]);
	free(l[3]);
	l[2] = l[3] = NULL; /* seq 3 and 4 gone */
	write_lines(logp, l, n);
	free_lines(l, n);
	CHECK_INT(verify(&v, key), EBADMSG);
	CHECK_INT(v.problem, LOG_VERIFY_REMOVED);
	CHECK_INT(v.bad_line, 3);
	CHECK_INT(v.missing, 2);
	CHECK(strstr(v.what, "seq 3 to 4") != NULL);
	log_key_forget();
	cleanup();
}

static void inserted_line_named(void)
{
	struct log_verify v;
	char **l, **m;
	int n;
	uint8_t h[32];
	char hex[65], forged[300];

	setup();
	CHECK_INT(load_key(), 0);
	write_log(4);
	l = lines_of(logp, &n);
	/* a forged line after line 2 that links correctly to line 2 */
	log_line_hash(h, l[1], strlen(l[1]));
	hex_encode(hex, h, 32);
	snprintf(forged, sizeof(forged),
		 "{\"time\":\"2026-01-01T00:00:00.000Z\",\"kind\":\"register.ok\","
		 "\"user\":\"mallory\",\"seq\":3,\"prev\":\"%s\"}", hex);
	m = calloc((size_t)n + 2, sizeof(*m));
	for (int i = 0, j = 0; i < n; i++) {
		m[j++] = l[i];
		if (i == 1)
			m[j++] = forged;
	}
	write_lines(logp, m, n + 1);
	free(m);
	free_lines(l, n);
	CHECK_INT(verify(&v, key), EBADMSG);
	CHECK_INT(v.problem, LOG_VERIFY_INSERTED);
	CHECK_INT(v.bad_line, 3);
	log_key_forget();
	cleanup();
}

static void rewritten_chain_caught_by_checkpoint(void)
{
	struct log_verify v;
	static uint8_t other[LOG_KEY_LEN];
	char **l, *p;
	int n;

	setup();
	CHECK_INT(load_key(), 0);
	write_log(4);
	l = lines_of(logp, &n);
	p = strstr(l[1], "\"u1\"");
	p[2] = '8';
	rechain(l, n, 2); /* every hash after it recomputed */
	write_lines(logp, l, n);
	free_lines(l, n);
	/* the hashes alone cannot see it ... */
	CHECK_INT(verify(&v, NULL), 0);
	CHECK_INT(v.checkpoints, 1);
	/* ... the checkpoint's MAC does */
	CHECK_INT(verify(&v, key), EBADMSG);
	CHECK_INT(v.problem, LOG_VERIFY_BAD_MAC);
	CHECK_INT(v.bad_line, 5);
	/* the wrong key fails an intact log too */
	write_log(2);
	CHECK_INT(verify(&v, other), EBADMSG);
	CHECK_INT(v.problem, LOG_VERIFY_BAD_MAC);
	CHECK_INT(verify(&v, key), 0);
	log_key_forget();
	cleanup();
}

static void rotation_and_restart_continue(void)
{
	struct log_verify v;
	int n;
	char **l;

	setup();
	CHECK_INT(load_key(), 0);
	unlink(logp);
	CHECK_INT(log_events_open(logp, false), 0);
	ev("a");
	ev("b");
	/* logrotate moves the file, then SIGHUP reopens */
	CHECK_INT(rename(logp, rotp), 0);
	CHECK_INT(log_events_reopen(logp, false), 0);
	ev("c");
	log_events_close();
	/* a restart on the same file resumes its chain */
	CHECK_INT(log_events_open(logp, false), 0);
	ev("d");
	log_events_close();

	/* old file: 2 events and the checkpoint of the reopen */
	log_verify_init(&v, key, LOG_KEY_LEN);
	CHECK_INT(log_verify_file(&v, rotp), 0);
	CHECK_INT(v.lines, 3);
	log_verify_next_file(&v);
	CHECK_INT(log_verify_file(&v, logp), 0);
	CHECK_INT(v.lines, 3 + 4); /* c, checkpoint, d, checkpoint */
	CHECK_INT(v.seq, 7);
	/* the new file alone verifies, starting mid-chain */
	CHECK_INT(verify(&v, key), 0);
	CHECK(!v.first_is_genesis);
	CHECK_INT(v.first_seq, 4);
	/* files in the wrong order do not chain */
	log_verify_init(&v, key, LOG_KEY_LEN);
	CHECK_INT(log_verify_file(&v, logp), 0);
	log_verify_next_file(&v);
	CHECK_INT(log_verify_file(&v, rotp), EBADMSG);
	CHECK_INT(v.problem, LOG_VERIFY_BROKEN);
	(void)l;
	(void)n;
	log_key_forget();
	cleanup();
}

static void legacy_lines_skipped(void)
{
	struct log_verify v;
	FILE *f;

	setup();
	CHECK_INT(load_key(), 0);
	f = fopen(logp, "w");
	fputs("{\"time\":\"2026-01-01T00:00:00.000Z\",\"kind\":\"register.ok\"}\n", f);
	fputs("{\"time\":\"2026-01-01T00:00:01.000Z\",\"kind\":\"register.ok\"}\n", f);
	fclose(f);
	CHECK_INT(log_events_open(logp, false), 0);
	ev("x");
	log_events_close();
	CHECK_INT(verify(&v, key), 0);
	CHECK_INT(v.legacy, 2);
	CHECK_INT(v.lines, 4);
	log_key_forget();
	cleanup();
}

static void checkpoint_when_due(void)
{
	struct log_verify v;

	setup();
	CHECK_INT(load_key(), 0);
	unlink(logp);
	log_set_checkpoint_interval(300);
	CHECK_INT(log_events_open(logp, false), 0);
	ev("x");
	log_events_tick(log_now_ms()); /* not due yet */
	log_events_tick(log_now_ms() + 301000);
	log_events_tick(log_now_ms() + 602000); /* nothing new: no second one */
	ev("y");
	CHECK_INT(verify(&v, key), 0);
	CHECK_INT(v.checkpoints, 1);
	CHECK_INT(v.since_checkpoint, 1);
	log_events_close();
	CHECK_INT(verify(&v, key), 0);
	CHECK_INT(v.checkpoints, 2);
	log_key_forget();
	cleanup();
}

static void key_file_rules(void)
{
	struct stat st;
	int fd;

	setup();
	CHECK_INT(log_key_load(keyp, false), ENOENT);
	CHECK_INT(log_key_load(keyp, true), 0);
	CHECK(stat(keyp, &st) == 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(st.st_size, LOG_KEY_LEN);
	CHECK_INT(chmod(keyp, 0644), 0);
	CHECK_INT(log_key_load(keyp, true), EACCES);
	unlink(keyp);
	fd = open(keyp, O_WRONLY | O_CREAT, 0600);
	CHECK(write(fd, "short", 5) == 5);
	close(fd);
	CHECK_INT(log_key_load(keyp, true), EINVAL);
	log_key_forget();
	cleanup();
}

/* Two processes append to one file (the server and the CLI's admin.*
 * events): each goes on from the other's last line, so the file stays one
 * chain with consecutive seq, whoever wrote last. Two chain states on two
 * descriptors stand for the two processes. */
static void two_writers_one_chain(void)
{
	static const char order[] = "AABABBBAAB";
	struct log_chain a = LOG_CHAIN_INIT, b = LOG_CHAIN_INIT;
	struct log_verify v;
	char line[1024], **l;
	size_t n;
	int nl;

	setup();
	CHECK_INT(log_chain_swap(&a, logp), 0);
	CHECK_INT(log_chain_swap(&b, logp), 0);
	for (size_t i = 0; i < sizeof(order) - 1; i++) {
		struct log_chain *c = order[i] == 'A' ? &a : &b;
		struct log_jw w;

		log_jw_begin(&w, line, sizeof(line));
		log_jw_str(&w, "kind", slice_cstr("test.line"), NULL);
		log_jw_str(&w, "who", slice_cstr(order[i] == 'A' ? "a" : "b"), NULL);
		CHECK_INT(log_chain_write_jw(c, &w, &n), 0);
	}
	CHECK_INT(verify(&v, NULL), 0);
	CHECK_INT(v.lines, (long)(sizeof(order) - 1));
	l = lines_of(logp, &nl);
	CHECK_INT(nl, (int)(sizeof(order) - 1));
	for (int i = 0; i < nl; i++) {
		json_t *o = json_loads(l[i], 0, NULL);

		CHECK(o != NULL);
		CHECK_INT(json_integer_value(json_object_get(o, "seq")), i + 1);
		json_decref(o);
	}
	free_lines(l, nl);
	log_chain_close(&a);
	log_chain_close(&b);
	cleanup();
}

/* The stamp written digit by digit says what gmtime_r and strftime say:
 * edges (the epoch, a millisecond before it, leap days of 1900, 2000 and
 * 2100, the last millisecond of 9999) and 200,000 instants from year 0 to
 * 9999; outside them, the "@<ms>" form. */
static void stamps_as_gmtime(void)
{
	static const int64_t edges[] = {
		0, -1, 999, 1000, 86399999, 86400000, -86400000, -86400001,
		951782400000,  /* 2000-02-29 */
		-2203891200000, /* 1900-03-01 */
		4107456000000, /* 2100-02-28 */
		4107542400000, /* 2100-03-01 */
		253402300799999, /* 9999-12-31T23:59:59.999 */
		-62167219200000, /* 0000-01-01 */
	};
	char got[48], want[64];
	uint64_t x = 88172645463325252ull;
	int bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(edges) + 200000; i++) {
		int64_t ms;
		time_t t;
		struct tm tm;
		char sec[40];
		int64_t r;

		if (i < ARRAY_SIZE(edges)) {
			ms = edges[i];
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			ms = (int64_t)(x % (253402300800000ull + 62167219200000ull)) - 62167219200000;
		}
		r = ((ms % 1000) + 1000) % 1000;
		t = (time_t)((ms - r) / 1000);
		log_stamp_ms(got, sizeof(got), ms);
		if (!gmtime_r(&t, &tm) || strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
			continue;
		if (tm.tm_year + 1900 < 1000) /* strftime's %Y has no leading zeros */
			snprintf(want, sizeof(want), "%04d%s.%03dZ", tm.tm_year + 1900,
				 sec + strcspn(sec, "-"), (int)r);
		else
			snprintf(want, sizeof(want), "%s.%03dZ", sec, (int)r);
		if (strcmp(got, want) != 0 && bad++ < 5)
			fprintf(stderr, "stamp %lld: %s, gmtime says %s\n", (long long)ms, got, want);
	}
	CHECK_INT(bad, 0);
	log_stamp_ms(got, sizeof(got), 253402300800000); /* year 10000 */
	CHECK(strcmp(got, "@253402300800000") == 0);
}

static void verify_line_edge_cases(void)
{
	struct log_verify v;

	log_verify_init(&v, NULL, 0);
	CHECK_INT(log_verify_line(&v, "", 0), 0); /* before the chain: legacy */
	CHECK_INT(log_verify_line(&v, "[1,2]", 5), 0);
	{
		static const char first[] = "{\"seq\":1,\"prev\":\"00000000000000000000000000000000"
					    "00000000000000000000000000000000\"}";
		CHECK_INT(log_verify_line(&v, first, strlen(first)), 0);
	}
	CHECK(v.started);
	/* a prev that is not 64 lowercase hex digits */
	CHECK_INT(log_verify_line(&v, "{\"seq\":2,\"prev\":\"XYZ\"}", 22), EBADMSG);
	CHECK_INT(v.problem, LOG_VERIFY_ALTERED);
	CHECK_INT(v.bad_line, 4);
	/* once a problem is found, the verifier stays stopped */
	CHECK_INT(log_verify_line(&v, "{}", 2), EBADMSG);
	CHECK_INT(v.bad_line, 4);
}

/* A line no chain carries (syslog or the remote log only): closed bare,
 * values escaped and scrubbed as in a chained line; one that does not fit
 * is not written at all. */
static void bare_line_and_overflow(void)
{
	char line[128], small[24];
	uint64_t red = 0;
	struct log_jw w;

	log_jw_begin(&w, line, sizeof(line));
	log_jw_str(&w, "kind", slice_cstr("a\"b\\c"), &red);
	log_jw_int(&w, "port", -5060);
	log_jw_str(&w, "who", slice_cstr("Digest response=\"x\""), &red);
	/* slice_repr writes the backslash as \x5c; JSON doubles its backslash */
	static const char want[] = "{\"kind\":\"a\\\"b\\\\x5cc\",\"port\":-5060,"
				   "\"who\":\"[redacted]\"}\n";
	CHECK_INT(log_jw_close(&w), sizeof(want) - 1);
	CHECK(memcmp(line, want, sizeof(want) - 1) == 0);
	CHECK_INT(red, 1);

	log_jw_begin(&w, small, sizeof(small));
	log_jw_str(&w, "kind", slice_cstr("longer than the buffer"), NULL);
	CHECK_INT(log_jw_close(&w), 0);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(intact_chain),
		CASE(altered_line_named),
		CASE(removed_lines_named),
		CASE(inserted_line_named),
		CASE(rewritten_chain_caught_by_checkpoint),
		CASE(rotation_and_restart_continue),
		CASE(legacy_lines_skipped),
		CASE(checkpoint_when_due),
		CASE(key_file_rules),
		CASE(verify_line_edge_cases),
		CASE(two_writers_one_chain),
		CASE(stamps_as_gmtime),
		CASE(bare_line_and_overflow),
	};

	return check_main("log_chain", cases, ARRAY_SIZE(cases), argc, argv);
}
