/*
 * test_log_event: the security event log. Lines read back from the file are
 * parsed with Jansson and checked field by field; hostile bytes stay one line
 * of valid JSON, escaped and truncated; credentials are redacted; the file is
 * 0600; reopen moves later events; four processes appending at once produce
 * only whole lines; an event packed to be recorded later comes back whole.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "log/log.h"

#define REPR_MAX (LOG_EVENT_FIELD_MAX * 4 + 3)

static char tmp_dir[64];
static unsigned tmp_seq;
static char path_a[256], path_b[256];

static int tmp_init(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/bastion-seclog-XXXXXX");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static void tmp_cleanup(void)
{
	char p[256];

	for (unsigned i = 1; i <= tmp_seq; i++) {
		snprintf(p, sizeof(p), "%s/a%u.log", tmp_dir, i);
		unlink(p);
		snprintf(p, sizeof(p), "%s/b%u.log", tmp_dir, i);
		unlink(p);
	}
	rmdir(tmp_dir);
}

static void fresh_paths(void)
{
	snprintf(path_a, sizeof(path_a), "%s/a%u.log", tmp_dir, ++tmp_seq);
	snprintf(path_b, sizeof(path_b), "%s/b%u.log", tmp_dir, ++tmp_seq);
}

static struct net_addr addr4(const char *ip, uint16_t port)
{
	struct net_addr a;
	struct sockaddr_in *s = (struct sockaddr_in *)&a.ss;

	memset(&a, 0, sizeof(a));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	inet_pton(AF_INET, ip, &s->sin_addr);
	a.len = sizeof(*s);
	return a;
}

static struct net_addr addr6(const char *ip, uint16_t port)
{
	struct net_addr a;
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a.ss;

	memset(&a, 0, sizeof(a));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &s->sin6_addr);
	a.len = sizeof(*s);
	return a;
}

/* The lines of a file, parsed. Returns the number of lines (-1: unreadable);
 * objs[i] is NULL for a line that is not a JSON object. *bad_bytes counts
 * bytes that are neither printable ASCII nor the line feed. */
static int read_lines(const char *path, json_t **objs, int cap, int *bad_bytes)
{
	size_t len;
	char *buf = check_read_file(path, &len);
	int n = 0;
	size_t start = 0;

	if (!buf)
		return -1;
	*bad_bytes = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c != '\n' && (c < 0x20 || c >= 0x7f))
			(*bad_bytes)++;
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
		n = -2; /* an unterminated last line */
	free(buf);
	return n;
}

static void free_lines(json_t **objs, int n)
{
	for (int i = 0; i < n; i++)
		json_decref(objs[i]);
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static bool time_ok(const char *t)
{
	/* 2024-05-01T12:00:00.123Z */
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	if (!t || strlen(t) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != shape[i])
			return false;
	}
	return true;
}

static void test_fields(void)
{
	struct net_addr a4 = addr4("192.0.2.7", 5070), a6 = addr6("2001:db8::1", 5060);
	json_t *l[8] = { 0 };
	int n, bad;

	fresh_paths();
	CHECK_INT(log_events_open(path_a, false), 0);
	log_event(&(struct log_event){
		.kind = "auth.failure", .src = &a4, .tp = NET_TCP, .has_src = true,
		.user = SLICE_LIT("alice"), .aor = SLICE_LIT("sip:alice@example.org"),
		.call_id = SLICE_LIT("abc@192.0.2.7"), .user_agent = SLICE_LIT("Linphone/5.2"),
		.reason = "wrong password", .status = 403 });
	log_event(&(struct log_event){ .kind = "register.ok", .src = &a6, .tp = NET_UDP,
				       .has_src = true, .user = SLICE_LIT("bob") });
	/* An administrative event: no source, no status; the source is ignored
	 * unless has_src. */
	log_event(&(struct log_event){ .kind = "admin.user_added", .src = &a4,
				       .user = SLICE_LIT("carol"), .reason = "cli" });
	log_events_close();
	/* Closed: dropped. */
	log_event(&(struct log_event){ .kind = "register.ok" });

	n = read_lines(path_a, l, 8, &bad);
	CHECK_INT(n, 3);
	CHECK_INT(bad, 0);
	for (int i = 0; i < n; i++) {
		if (!l[i] || !time_ok(str(l[i], "time"))) {
			free_lines(l, n);
			CHECK(!"line is an object with a good time");
		}
	}
	bool ok0 = json_object_size(l[0]) == 13 && strcmp(str(l[0], "kind"), "auth.failure") == 0 &&
		   strcmp(str(l[0], "src"), "192.0.2.7") == 0 && num(l[0], "port") == 5070 &&
		   strcmp(str(l[0], "transport"), "tcp") == 0 &&
		   strcmp(str(l[0], "user"), "alice") == 0 &&
		   strcmp(str(l[0], "aor"), "sip:alice@example.org") == 0 &&
		   strcmp(str(l[0], "call_id"), "abc@192.0.2.7") == 0 &&
		   strcmp(str(l[0], "user_agent"), "Linphone/5.2") == 0 &&
		   strcmp(str(l[0], "reason"), "wrong password") == 0 && num(l[0], "status") == 403;
	bool ok1 = json_object_size(l[1]) == 8 && strcmp(str(l[1], "kind"), "register.ok") == 0 &&
		   strcmp(str(l[1], "src"), "2001:db8::1") == 0 && num(l[1], "port") == 5060 &&
		   strcmp(str(l[1], "transport"), "udp") == 0 &&
		   strcmp(str(l[1], "user"), "bob") == 0 && !json_object_get(l[1], "status") &&
		   !json_object_get(l[1], "aor") && !json_object_get(l[1], "reason");
	bool ok2 = json_object_size(l[2]) == 6 &&
		   strcmp(str(l[2], "kind"), "admin.user_added") == 0 &&
		   strcmp(str(l[2], "user"), "carol") == 0 && strcmp(str(l[2], "reason"), "cli") == 0 &&
		   !json_object_get(l[2], "src") && !json_object_get(l[2], "port") &&
		   !json_object_get(l[2], "transport");
	free_lines(l, n);
	CHECK(ok0);
	CHECK(ok1);
	CHECK(ok2);
}

static void test_hostile(void)
{
	static const char raw_cid[] = "a\"b\r\nc\0d\xc3\x28\xff\\e}";
	static const char want_cid[] = "a\"b\\x0d\\x0ac\\x00d\\xc3(\\xff\\x5ce}";
	static const char raw_aor[] = "sip:\xe2\x82\xac@x\n{\"kind\":\"fake\"}";
	static const char want_aor[] = "sip:\\xe2\\x82\\xac@x\\x0a{\"kind\":\"fake\"}";
	size_t big_len = 10 * 1024;
	char *big = malloc(big_len);
	json_t *l[4] = { 0 };
	int n, bad;

	CHECK(big);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i % 7 == 0 ? '\0' : i % 7 == 1 ? '\n' : i % 7 == 2 ? '"' :
				i % 7 == 3 ? '\xff' : 'u');
	fresh_paths();
	CHECK_INT(log_events_open(path_a, false), 0);
	log_event(&(struct log_event){ .kind = "auth.failure", .user = slice_make(big, big_len),
				       .aor = slice_make(raw_aor, sizeof(raw_aor) - 1),
				       .call_id = slice_make(raw_cid, sizeof(raw_cid) - 1),
				       .user_agent = slice_make(big, big_len), .reason = "x\ny" });
	log_events_close();
	free(big);

	n = read_lines(path_a, l, 4, &bad);
	CHECK_INT(n, 1);
	CHECK_INT(bad, 0);
	bool parsed = l[0] != NULL;
	const char *u = parsed ? str(l[0], "user") : NULL;
	bool user_ok = u && strlen(u) <= REPR_MAX && strlen(u) > LOG_EVENT_FIELD_MAX &&
		       strncmp(u, "\\x00\\x0a\"\\xffuuu\\x00", 20) == 0 &&
		       strcmp(u + strlen(u) - 3, "...") == 0;
	bool ua_ok = parsed && u && str(l[0], "user_agent") &&
		     strcmp(str(l[0], "user_agent"), u) == 0;
	bool cid_ok = parsed && str(l[0], "call_id") && strcmp(str(l[0], "call_id"), want_cid) == 0;
	bool aor_ok = parsed && str(l[0], "aor") && strcmp(str(l[0], "aor"), want_aor) == 0;
	bool kind_ok = parsed && strcmp(str(l[0], "kind"), "auth.failure") == 0;
	bool reason_ok = parsed && str(l[0], "reason") && strcmp(str(l[0], "reason"), "x\\x0ay") == 0;
	free_lines(l, n);
	CHECK(parsed);
	CHECK(user_ok);
	CHECK(ua_ok);
	CHECK(cid_ok);
	CHECK(aor_ok);
	CHECK(kind_ok);
	CHECK(reason_ok);
}

static void test_redaction(void)
{
	struct log_event_stats before, after;
	json_t *l[4] = { 0 };
	size_t len;
	char *text;
	int n, bad;

	fresh_paths();
	log_events_stats(&before);
	CHECK_INT(log_events_open(path_a, false), 0);
	log_event(&(struct log_event){
		.kind = "auth.failure", .user = SLICE_LIT("alice"),
		.user_agent = SLICE_LIT("Digest username=\"a\", response=\"deadbeef0123\""),
		.call_id = SLICE_LIT("x cnonce=\"0a4f113b\", nc=00000001"),
		.aor = SLICE_LIT("sip:DIGEST realm=\"r\"@example.org"),
		.reason = "bad response=\"feedface99\"" });
	log_events_close();
	log_events_stats(&after);
	CHECK_INT(after.redacted - before.redacted, 4);

	text = check_read_file(path_a, &len);
	CHECK(text);
	bool leaked = strstr(text, "deadbeef0123") || strstr(text, "0a4f113b") ||
		      strstr(text, "feedface99") || strstr(text, "realm");
	free(text);
	CHECK(!leaked);
	n = read_lines(path_a, l, 4, &bad);
	CHECK_INT(n, 1);
	bool ok = l[0] && strcmp(str(l[0], "user"), "alice") == 0 &&
		  strcmp(str(l[0], "user_agent"), "[redacted]") == 0 &&
		  strcmp(str(l[0], "call_id"), "[redacted]") == 0 &&
		  strcmp(str(l[0], "aor"), "[redacted]") == 0 &&
		  strcmp(str(l[0], "reason"), "[redacted]") == 0;
	free_lines(l, n);
	CHECK(ok);
}

static void test_mode(void)
{
	struct stat st;
	mode_t old = umask(0);
	int fd, rc;

	fresh_paths();
	rc = log_events_open(path_a, false);
	umask(old);
	CHECK_INT(rc, 0);
	log_events_close();
	CHECK_INT(stat(path_a, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);

	/* An existing file with wider permissions is narrowed. */
	fd = open(path_b, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0);
	CHECK_INT(fchmod(fd, 0644), 0);
	close(fd);
	CHECK_INT(log_events_open(path_b, false), 0);
	log_events_close();
	CHECK_INT(stat(path_b, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
}

static void test_reopen(void)
{
	json_t *la[4] = { 0 }, *lb[4] = { 0 };
	int na, nb, bad;

	fresh_paths();
	CHECK_INT(log_events_open(path_a, false), 0);
	log_event(&(struct log_event){ .kind = "register.ok", .user = SLICE_LIT("one") });
	/* logrotate moved a away; SIGHUP reopens at the configured path b. */
	CHECK_INT(log_events_reopen(path_b, false), 0);
	log_event(&(struct log_event){ .kind = "register.ok", .user = SLICE_LIT("two") });
	/* A failing reopen keeps b. */
	CHECK_INT(log_events_reopen("/nonexistent-bastion-dir/x.log", false), ENOENT);
	log_event(&(struct log_event){ .kind = "register.ok", .user = SLICE_LIT("three") });
	log_events_close();

	na = read_lines(path_a, la, 4, &bad);
	nb = read_lines(path_b, lb, 4, &bad);
	bool ok = na == 1 && nb == 2 && la[0] && lb[0] && lb[1] &&
		  strcmp(str(la[0], "user"), "one") == 0 && strcmp(str(lb[0], "user"), "two") == 0 &&
		  strcmp(str(lb[1], "user"), "three") == 0;
	free_lines(la, na > 0 ? na : 0);
	free_lines(lb, nb > 0 ? nb : 0);
	CHECK(ok);
}

static void test_counters(void)
{
	struct log_event_stats s0, s1, s2;
	json_t *l[2] = { 0 };
	int n, bad;

	fresh_paths();
	log_events_stats(&s0);
	CHECK_INT(log_events_open(path_a, false), 0);
	log_event(&(struct log_event){ .kind = "register.ok" });
	log_event(&(struct log_event){ .kind = "register.removed" });
	/* No kind: a programming error, counted as lost, nothing written. */
	log_event(&(struct log_event){ .user = SLICE_LIT("x") });
	log_event(NULL);
	log_events_stats(&s1);
	CHECK_INT(s1.written - s0.written, 2);
	CHECK_INT(s1.failed - s0.failed, 2);
	n = read_lines(path_a, l, 2, &bad);
	free_lines(l, n > 2 ? 2 : n);
	CHECK_INT(n, 2);

	/* Write errors are counted (ENOSPC from /dev/full). */
	if (log_events_reopen("/dev/full", false) == 0) {
		log_event(&(struct log_event){ .kind = "auth.failure" });
		log_events_stats(&s2);
		CHECK_INT(s2.written, s1.written);
		CHECK_INT(s2.failed - s1.failed, 1);
	}
	log_events_close();
}

static void test_warning_kinds(void)
{
	static const char *const warn[] = { "auth.failure", "register.hijack", "auth.replay",
					    "register.unknown_user", "sip.spoof", "auth.lockout",
					    "guard.ban" };
	static const char *const notice[] = { "register.ok", "register.removed", "auth.stale",
					      "admin.user_added" };

	for (size_t i = 0; i < ARRAY_SIZE(warn); i++)
		CHECK(log_event_is_warning(warn[i]));
	for (size_t i = 0; i < ARRAY_SIZE(notice); i++)
		CHECK(!log_event_is_warning(notice[i]));
	CHECK(!log_event_is_warning(NULL));
}

#define WRITERS 4
#define PER_WRITER 200

static void writer(int id)
{
	char ua[LOG_EVENT_FIELD_MAX], user[16], cid[32];

	/* Each process opens the file itself, like the server and the CLI. */
	log_events_close();
	if (log_events_open(path_a, false) != 0)
		_exit(2);
	memset(ua, 'a' + id, sizeof(ua));
	snprintf(user, sizeof(user), "w%d", id);
	for (int i = 0; i < PER_WRITER; i++) {
		snprintf(cid, sizeof(cid), "%d", i);
		log_event(&(struct log_event){ .kind = "auth.failure", .user = slice_cstr(user),
					       .call_id = slice_cstr(cid),
					       .user_agent = slice_make(ua, sizeof(ua)),
					       .status = 401 });
	}
	log_events_close();
	_exit(0);
}

static void test_concurrent(void)
{
	static json_t *l[WRITERS * PER_WRITER + 1];
	static bool seen[WRITERS][PER_WRITER];
	pid_t pids[WRITERS];
	int n, bad, status, good = 0;

	fresh_paths();
	memset(seen, 0, sizeof(seen));
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		CHECK(pids[w] >= 0);
		if (pids[w] == 0)
			writer(w);
	}
	for (int w = 0; w < WRITERS; w++) {
		CHECK(waitpid(pids[w], &status, 0) == pids[w]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	n = read_lines(path_a, l, (int)ARRAY_SIZE(l), &bad);
	CHECK_INT(n, WRITERS * PER_WRITER);
	CHECK_INT(bad, 0);
	for (int i = 0; i < n; i++) {
		const char *u = l[i] ? str(l[i], "user") : NULL;
		const char *c = l[i] ? str(l[i], "call_id") : NULL;
		const char *a = l[i] ? str(l[i], "user_agent") : NULL;
		int w = u && u[0] == 'w' ? atoi(u + 1) : -1, k = c ? atoi(c) : -1;
		if (w < 0 || w >= WRITERS || k < 0 || k >= PER_WRITER || seen[w][k] || !a ||
		    strlen(a) != LOG_EVENT_FIELD_MAX || a[0] != 'a' + w ||
		    a[LOG_EVENT_FIELD_MAX - 1] != 'a' + w || num(l[i], "status") != 401)
			continue;
		seen[w][k] = true;
		good++;
	}
	free_lines(l, n);
	CHECK_INT(good, WRITERS * PER_WRITER);
}

/* An event packed to wait for its batch (log_event_pack) comes back whole:
 * the same kind, reason, source, transport, status and fields, each cut to
 * one byte more than the log keeps; a short or lying note is refused. */
static void test_pack(void)
{
	static unsigned char note[LOG_EVENT_PACKED_MAX + 1], odd[LOG_EVENT_PACKED_MAX + 8];
	static char longer[LOG_EVENT_FIELD_MAX + 50];
	struct net_addr src = { 0 }, back_src;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&src.ss;
	struct log_event e = { 0 }, back;
	size_t n, big;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(5070);
	inet_pton(AF_INET, "192.0.2.9", &s4->sin_addr);
	src.len = sizeof(*s4);
	memset(longer, 'x', sizeof(longer));
	e.kind = "register.ok";
	e.reason = "because";
	e.src = &src;
	e.tp = NET_TLS;
	e.has_src = true;
	e.status = 200;
	e.user = SLICE_LIT("alice");
	e.aor = SLICE_NULL;
	e.call_id = slice_make(longer, sizeof(longer));
	e.user_agent = SLICE_LIT("phone/1.0");
	n = log_event_pack(note, &e);
	CHECK(n <= LOG_EVENT_PACKED_MAX);
	CHECK(log_event_unpack(&back, &back_src, note, n));
	CHECK(back.kind == e.kind && back.reason == e.reason);
	CHECK(back.src == &back_src && memcmp(&back_src, &src, sizeof(src)) == 0);
	CHECK_INT(back.tp, NET_TLS);
	CHECK(back.has_src);
	CHECK_INT(back.status, 200);
	CHECK_SLICE(back.user, "alice");
	CHECK_INT(back.aor.len, 0);
	CHECK_INT(back.call_id.len, LOG_EVENT_FIELD_MAX + 1);
	CHECK(memcmp(back.call_id.p, longer, LOG_EVENT_FIELD_MAX + 1) == 0);
	CHECK_SLICE(back.user_agent, "phone/1.0");
	CHECK_INT(back.os_user.len, 0);
	/* every field at its longest fits, at any alignment */
	e.user = e.aor = e.user_agent = e.call_id;
	big = log_event_pack(odd + 1, &e);
	CHECK(big <= LOG_EVENT_PACKED_MAX);
	CHECK(log_event_unpack(&back, &back_src, odd + 1, big));
	CHECK_INT(back.user_agent.len, LOG_EVENT_FIELD_MAX + 1);
	/* a note cut short is refused, *e untouched */
	back.kind = "untouched";
	CHECK(!log_event_unpack(&back, &back_src, odd + 1, big - 1));
	CHECK(!log_event_unpack(&back, &back_src, note, 3));
	CHECK(strcmp(back.kind, "untouched") == 0);
	/* no source: none comes back */
	e.has_src = false;
	e.src = NULL;
	n = log_event_pack(note, &e);
	CHECK(log_event_unpack(&back, &back_src, note, n));
	CHECK(!back.has_src);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_fields),     CASE(test_hostile),       CASE(test_redaction),
		CASE(test_mode),       CASE(test_reopen),        CASE(test_counters),
		CASE(test_warning_kinds), CASE(test_concurrent), CASE(test_pack),
	};
	int rc;

	if (tmp_init() != 0)
		return 1;
	rc = check_main("log_event", cases, ARRAY_SIZE(cases), argc, argv);
	tmp_cleanup();
	return rc;
}
