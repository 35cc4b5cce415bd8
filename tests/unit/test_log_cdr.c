/*
 * test_log_cdr: the call detail record log and cdr_record(). Lines read back
 * are parsed with Jansson and checked key by key; hostile strings (CR LF,
 * quotes, invalid UTF-8, overlong, an array without its NUL, a credential)
 * stay one line of valid JSON, escaped, truncated or redacted (the
 * credential marks in any case, and the near misses kept); the file is
 * 0600 whatever the umask; reopen moves later lines; cdr_record writes the
 * line even when the store refuses the record.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "log/log.h"
#include "store/store.h"

#define T0 1795000000000LL /* 2026-11-18T11:06:40Z */

static char tmp_dir[64];
static unsigned tmp_seq;
static char path_a[256], path_b[256], path_db[256];

static int tmp_init(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/bastion-cdrlog-XXXXXX");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static void tmp_cleanup(void)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[300];

	for (unsigned i = 1; i <= tmp_seq; i++) {
		snprintf(p, sizeof(p), "%s/a%u.log", tmp_dir, i);
		unlink(p);
		snprintf(p, sizeof(p), "%s/b%u.log", tmp_dir, i);
		unlink(p);
		for (size_t k = 0; k < ARRAY_SIZE(sfx); k++) {
			snprintf(p, sizeof(p), "%s/db%u.sqlite%s", tmp_dir, i, sfx[k]);
			unlink(p);
		}
	}
	rmdir(tmp_dir);
}

static void fresh_paths(void)
{
	++tmp_seq;
	snprintf(path_a, sizeof(path_a), "%s/a%u.log", tmp_dir, tmp_seq);
	snprintf(path_b, sizeof(path_b), "%s/b%u.log", tmp_dir, tmp_seq);
	snprintf(path_db, sizeof(path_db), "%s/db%u.sqlite", tmp_dir, tmp_seq);
}

static void make_cdr(struct store_cdr *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->call_id, sizeof(c->call_id), "a84b4c76e66710@pc33");
	snprintf(c->caller, sizeof(c->caller), "sip:1001@example.test");
	snprintf(c->auth_user, sizeof(c->auth_user), "1001");
	snprintf(c->callee, sizeof(c->callee), "sip:1002@example.test");
	snprintf(c->src, sizeof(c->src), "udp:192.0.2.7:5060");
	snprintf(c->transport, sizeof(c->transport), "udp");
	c->start_at = T0;
	c->answer_at = T0 + 3500;
	c->end_at = T0 + 65100;
	c->final_status = 200;
	snprintf(c->hangup, sizeof(c->hangup), "caller");
}

/* Parsed lines of a file; -1 unreadable, -2 an unterminated last line.
 * objs[i] NULL for a line that is not an object; *bad counts bytes that are
 * neither printable ASCII nor LF. */
static int read_lines(const char *path, json_t **objs, int cap, int *bad)
{
	size_t len, start = 0;
	char *buf = check_read_file(path, &len);
	int n = 0;

	if (!buf)
		return -1;
	*bad = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c != '\n' && (c < 0x20 || c >= 0x7f))
			(*bad)++;
		if (c != '\n')
			continue;
		if (n < cap) {
			json_error_t jerr;
			json_t *o = json_loadb(buf + start, i - start, 0, &jerr);
			if (o && !json_is_object(o)) {
				json_decref(o);
				o = NULL;
			}
			objs[n] = o;
		}
		n++;
		start = i + 1;
	}
	if (start != len)
		n = -2;
	free(buf);
	return n;
}

static void free_lines(json_t **objs, int n)
{
	for (int i = 0; i < n; i++)
		json_decref(objs[i]);
}

static bool str_is(json_t *o, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v && strcmp(v, want) == 0;
}

static bool int_is(json_t *o, const char *key, long long want)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) == want;
}

static bool time_ok(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	if (!t || strlen(t) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i])
			return false;
	return true;
}

static void test_fields(void)
{
	struct log_cdr_stats before, after;
	struct store_cdr c;
	json_t *l[4] = { 0 };
	bool ok0, ok1;
	int n, bad;

	fresh_paths();
	log_cdr_stats(&before);
	CHECK_INT(log_cdr_open(path_a), 0);
	make_cdr(&c);
	c.duration_s = 12345; /* ignored: computed from the times */
	c.id = 17;
	log_cdr(&c);
	/* Unanswered, unauthenticated, no store id. */
	make_cdr(&c);
	c.auth_user[0] = '\0';
	c.answer_at = 0;
	c.end_at = T0 + 250;
	c.final_status = 486;
	snprintf(c.hangup, sizeof(c.hangup), "none");
	snprintf(c.transport, sizeof(c.transport), "tcp");
	snprintf(c.src, sizeof(c.src), "tcp:[2001:db8::1]:5070");
	c.duration_s = 9;
	log_cdr(&c);
	log_cdr_close();
	log_cdr(&c); /* closed: dropped, not counted */
	log_cdr_stats(&after);
	CHECK_INT(after.written - before.written, 2);
	CHECK_INT(after.failed - before.failed, 0);

	n = read_lines(path_a, l, 4, &bad);
	CHECK_INT(n, 2);
	CHECK_INT(bad, 0);
	ok0 = l[0] && json_object_size(l[0]) == 16 &&
	      time_ok(json_string_value(json_object_get(l[0], "time"))) &&
	      str_is(l[0], "call_id", "a84b4c76e66710@pc33") &&
	      str_is(l[0], "caller", "sip:1001@example.test") && str_is(l[0], "auth_user", "1001") &&
	      str_is(l[0], "callee", "sip:1002@example.test") &&
	      str_is(l[0], "src", "udp:192.0.2.7:5060") && str_is(l[0], "transport", "udp") &&
	      str_is(l[0], "start", "2026-11-18T11:06:40.000Z") &&
	      str_is(l[0], "answer", "2026-11-18T11:06:43.500Z") &&
	      str_is(l[0], "end", "2026-11-18T11:07:45.100Z") && int_is(l[0], "status", 200) &&
	      int_is(l[0], "duration_s", 61) && str_is(l[0], "hangup", "caller") &&
	      int_is(l[0], "id", 17);
	ok1 = l[1] && json_object_size(l[1]) == 15 && str_is(l[1], "auth_user", "") &&
	      json_is_null(json_object_get(l[1], "answer")) &&
	      str_is(l[1], "end", "2026-11-18T11:06:40.250Z") && int_is(l[1], "status", 486) &&
	      int_is(l[1], "duration_s", 0) && str_is(l[1], "hangup", "none") &&
	      str_is(l[1], "transport", "tcp") && str_is(l[1], "src", "tcp:[2001:db8::1]:5070") &&
	      !json_object_get(l[1], "id");
	free_lines(l, n);
	CHECK(ok0);
	CHECK(ok1);
}

static void test_hostile(void)
{
	struct store_cdr c;
	json_t *l[2] = { 0 };
	const char *caller, *callee;
	bool ok;
	int n, bad;

	fresh_paths();
	CHECK_INT(log_cdr_open(path_a), 0);
	make_cdr(&c);
	snprintf(c.caller, sizeof(c.caller), "sip:x@y\r\n{\"forged\":1}\r\n\"\\\xff\xc3\xa9");
	memset(c.callee, 'A', sizeof(c.callee) - 1);        /* 1023 bytes: truncated */
	memset(c.call_id, 'C', sizeof(c.call_id));          /* no NUL: read to its size only */
	snprintf(c.auth_user, sizeof(c.auth_user), "Digest username=\"1001\", response=\"abc\"");
	snprintf(c.hangup, sizeof(c.hangup), "%s", "cal\x01ler");
	log_cdr(&c);
	log_cdr_close();

	n = read_lines(path_a, l, 2, &bad);
	CHECK_INT(n, 1);
	CHECK_INT(bad, 0);
	CHECK(l[0] != NULL);
	caller = json_string_value(json_object_get(l[0], "caller"));
	callee = json_string_value(json_object_get(l[0], "callee"));
	ok = caller &&
	     strcmp(caller, "sip:x@y\\x0d\\x0a{\"forged\":1}\\x0d\\x0a\"\\x5c\\xff\\xc3\\xa9") ==
		     0 &&
	     callee && strlen(callee) == LOG_EVENT_FIELD_MAX + 3 &&
	     strcmp(callee + LOG_EVENT_FIELD_MAX, "...") == 0 &&
	     str_is(l[0], "auth_user", "[redacted]") && str_is(l[0], "hangup", "cal\\x01ler") &&
	     !json_object_get(l[0], "forged");
	{
		const char *cid = json_string_value(json_object_get(l[0], "call_id"));
		/* 256 'C' bytes, cut at LOG_EVENT_FIELD_MAX (256): exactly them. */
		ok = ok && cid && strlen(cid) == STORE_CALLID_MAX && strspn(cid, "C") == strlen(cid);
	}
	free_lines(l, n);
	CHECK(ok);
}

static void test_mode(void)
{
	struct store_cdr c;
	struct stat st;
	mode_t old;
	FILE *f;

	fresh_paths();
	old = umask(0);
	CHECK_INT(log_cdr_open(path_a), 0);
	umask(old);
	make_cdr(&c);
	log_cdr(&c);
	log_cdr_close();
	CHECK_INT(stat(path_a, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	/* A file that exists with wider permissions is narrowed. */
	f = fopen(path_b, "w");
	CHECK(f != NULL);
	fclose(f);
	CHECK_INT(chmod(path_b, 0644), 0);
	CHECK_INT(log_cdr_open(path_b), 0);
	log_cdr_close();
	CHECK_INT(stat(path_b, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	/* Appends, never truncates. */
	CHECK_INT(log_cdr_open(path_a), 0);
	log_cdr(&c);
	log_cdr_close();
	{
		json_t *l[4] = { 0 };
		int bad, n = read_lines(path_a, l, 4, &bad);
		free_lines(l, n > 0 ? n : 0);
		CHECK_INT(n, 2);
	}
}

static void test_reopen(void)
{
	char missing[300];
	struct store_cdr c;
	json_t *l[4] = { 0 };
	int bad, na, nb;

	fresh_paths();
	make_cdr(&c);
	CHECK_INT(log_cdr_open(path_a), 0);
	log_cdr(&c);
	CHECK_INT(log_cdr_reopen(path_b), 0);
	log_cdr(&c);
	/* A failed reopen keeps the current file. */
	snprintf(missing, sizeof(missing), "%s/no/such/dir/cdr.log", tmp_dir);
	CHECK_INT(log_cdr_reopen(missing), ENOENT);
	log_cdr(&c);
	log_cdr_close();
	na = read_lines(path_a, l, 4, &bad);
	free_lines(l, na > 0 ? na : 0);
	nb = read_lines(path_b, l, 4, &bad);
	free_lines(l, nb > 0 ? nb : 0);
	CHECK_INT(na, 1);
	CHECK_INT(nb, 2);
}

/* The credential marks ("response=", "nonce=", "Digest ") are found in
 * any case, anywhere, also right after a partial one; a value that only
 * comes close is written as it is. */
static void test_marks(void)
{
	static const struct {
		const char *caller;
		bool redacted;
	} cases[] = {
		{ "sip:x@y;RESPONSE=1", true },	 { "sip:x@y;nOnCe=1", true },
		{ "sip:x@y;cnonce=1", true },	 { "digest abc", true },
		{ "sip:x@y;rresponse=2", true }, { "sip:x@y;nononce=", true },
		{ "sip:x@y DIGEST ", true },	 { "sip:digest@y", false },
		{ "sip:respons=x@y", false },	 { "sip:nonce@y", false },
		{ "sip:x@y;nonce", false },	 { "sip:x@y;response", false },
		{ "sip:x@y;Digest", false },	 { "sip:r@n.d", false },
	};
	struct log_cdr_stats before, after;
	json_t *l[ARRAY_SIZE(cases)] = { 0 };
	struct store_cdr c;
	size_t want = 0;
	int n, bad;
	bool ok = true;

	fresh_paths();
	log_cdr_stats(&before);
	CHECK_INT(log_cdr_open(path_a), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		make_cdr(&c);
		snprintf(c.caller, sizeof(c.caller), "%s", cases[i].caller);
		log_cdr(&c);
		want += cases[i].redacted;
	}
	log_cdr_close();
	log_cdr_stats(&after);
	n = read_lines(path_a, l, (int)ARRAY_SIZE(l), &bad);
	CHECK_INT(n, (int)ARRAY_SIZE(cases));
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!str_is(l[i], "caller", cases[i].redacted ? "[redacted]" : cases[i].caller)) {
			fprintf(stderr, "caller %s: not as expected\n", cases[i].caller);
			ok = false;
		}
	}
	free_lines(l, n);
	CHECK(ok);
	CHECK_INT(after.redacted - before.redacted, want);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_fields), CASE(test_hostile), CASE(test_mode),
		CASE(test_reopen), CASE(test_marks),
	};
	int rc;

	if (tmp_init())
		return 1;
	rc = check_main("log_cdr", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
