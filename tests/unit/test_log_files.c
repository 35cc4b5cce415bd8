/*
 * test_log_files: log_files_open, the log files of a run opened at start and
 * reopened on a reload. At start: the key made (0600), both logs opened, and
 * each failure stops with its message word for word (a key that others may
 * read, a missing directory, a path the caller could not resolve). On a
 * reload: the files move to their new paths; a file that cannot be reopened
 * keeps the old one, and the error line (captured from stderr) names it.
 * And the allocation-failure sweep over start, reload and close.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "log/log.h"

static char dir[64];
static char p_key[128], p_sec[128], p_cdr[128], p_sec2[128], p_cdr2[128], p_gone[128],
	p_stderr[128];

static void paths(void)
{
	snprintf(p_key, sizeof(p_key), "%s/log.key", dir);
	snprintf(p_sec, sizeof(p_sec), "%s/security.log", dir);
	snprintf(p_cdr, sizeof(p_cdr), "%s/cdr.log", dir);
	snprintf(p_sec2, sizeof(p_sec2), "%s/security2.log", dir);
	snprintf(p_cdr2, sizeof(p_cdr2), "%s/cdr2.log", dir);
	snprintf(p_gone, sizeof(p_gone), "%s/no-such-dir/x.log", dir);
	snprintf(p_stderr, sizeof(p_stderr), "%s/stderr", dir);
}

static void wipe(void)
{
	const char *const all[] = { p_key, p_sec, p_cdr, p_sec2, p_cdr2, p_stderr };

	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		unlink(all[i]);
}

static struct log_files files(const char *key, const char *sec, const char *cdr)
{
	return (struct log_files){ .key = { key, 0 }, .events = { sec, 0 }, .cdr = { cdr, 0 },
				   .syslog = false, .checkpoint_interval = 60 };
}

/* Does the file at path hold needle? */
static bool file_has(const char *path, const char *needle)
{
	size_t len;
	char *text = check_read_file(path, &len);
	bool found = text && strstr(text, needle) != NULL;

	free(text);
	return found;
}

static void note(const char *kind)
{
	log_event(&(struct log_event){ .kind = kind, .reason = "test" });
}

/* stderr into p_stderr while the reload runs; returns the saved fd. */
static int capture_start(void)
{
	int saved = dup(2), fd = open(p_stderr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	return saved;
}

static void capture_end(int saved)
{
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
}

static void test_start_and_reload(void)
{
	struct log_files f = files(p_key, p_sec, p_cdr);
	char err[600] = "";
	struct stat st;
	int saved;

	wipe();
	CHECK_INT(log_files_open(&f, LOG_FILES_START, err, sizeof(err)), 0);
	CHECK(stat(p_key, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INT(st.st_size, LOG_KEY_LEN);
	CHECK(access(p_sec, F_OK) == 0);
	CHECK(access(p_cdr, F_OK) == 0);
	note("test.first");
	CHECK(file_has(p_sec, "test.first"));

	/* a reload to new paths: later events go to the new file */
	f = files(p_key, p_sec2, p_cdr2);
	saved = capture_start();
	CHECK_INT(log_files_open(&f, LOG_FILES_RELOAD, NULL, 0), 0);
	capture_end(saved);
	note("test.second");
	CHECK(file_has(p_sec2, "test.second"));
	CHECK(!file_has(p_sec, "test.second"));
	CHECK(access(p_cdr2, F_OK) == 0);
	CHECK(!file_has(p_stderr, "not reopened"));
	log_files_close();
	note("test.closed");
	CHECK(!file_has(p_sec2, "test.closed"));
}

/* No CDR file: "" opens nothing, at start and on a reload. */
static void test_no_cdr_file(void)
{
	struct log_files f = files(p_key, p_sec, "");
	char err[600] = "";

	wipe();
	CHECK_INT(log_files_open(&f, LOG_FILES_START, err, sizeof(err)), 0);
	CHECK(access(p_cdr, F_OK) != 0);
	CHECK_INT(log_files_open(&f, LOG_FILES_RELOAD, NULL, 0), 0);
	CHECK(access(p_cdr, F_OK) != 0);
	log_files_close();
}

/* Start with f: the errno and the message. */
static void expect_start_refused(struct log_files f, int want_rc, const char *want)
{
	char err[600];

	CHECK_INT(log_files_open(&f, LOG_FILES_START, err, sizeof(err)), want_rc);
	log_files_close();
	if (strcmp(err, want) != 0)
		check_fail(__FILE__, __LINE__, "\"%s\", want \"%s\"", err, want);
}

static void test_start_refusals(void)
{
	struct log_files f;
	char want[600];
	int fd;

	wipe();
	snprintf(want, sizeof(want), "%s: cannot load the log key: %s", p_gone, strerror(ENOENT));
	expect_start_refused(files(p_gone, p_sec, p_cdr), ENOENT, want);
	snprintf(want, sizeof(want), "%s: cannot open the security log: %s", p_gone, strerror(ENOENT));
	expect_start_refused(files(p_key, p_gone, p_cdr), ENOENT, want);
	snprintf(want, sizeof(want), "%s: cannot open the CDR log: %s", p_gone, strerror(ENOENT));
	expect_start_refused(files(p_key, p_sec, p_gone), ENOENT, want);
	/* a path the caller could not resolve: its errno, its text so far */
	f = files(p_key, p_sec, p_cdr);
	f.events.err = ENAMETOOLONG;
	snprintf(want, sizeof(want), "%s: cannot open the security log: %s", p_sec,
			     strerror(ENAMETOOLONG));
	expect_start_refused(f, ENAMETOOLONG, want);
	f = files(p_key, p_sec, p_cdr);
	f.key.err = ENAMETOOLONG;
	snprintf(want, sizeof(want), "%s: cannot load the log key: %s", p_key,
			     strerror(ENAMETOOLONG));
	expect_start_refused(f, ENAMETOOLONG, want);
	f = files(p_key, p_sec, p_cdr);
	f.cdr.err = ENAMETOOLONG;
	snprintf(want, sizeof(want), "%s: cannot open the CDR log: %s", p_cdr,
			     strerror(ENAMETOOLONG));
	expect_start_refused(f, ENAMETOOLONG, want);
	/* a key others may read */
	unlink(p_key);
	fd = open(p_key, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "0123456789abcdef0123456789abcdef", LOG_KEY_LEN), LOG_KEY_LEN);
	close(fd);
	CHECK_INT(chmod(p_key, 0644), 0);
	snprintf(want, sizeof(want), "%s: cannot load the log key: %s (it must be mode 0600)", p_key,
			     strerror(EACCES));
	expect_start_refused(files(p_key, p_sec, p_cdr), EACCES, want);
}

/* A reload whose files cannot be opened keeps the old ones and says so. */
static void test_reload_keeps_old_files(void)
{
	struct log_files f = files(p_key, p_sec, p_cdr);
	char err[600] = "", want[400];
	int saved;

	wipe();
	CHECK_INT(log_files_open(&f, LOG_FILES_START, err, sizeof(err)), 0);
	f = files(p_key, p_gone, p_gone);
	saved = capture_start();
	CHECK_INT(log_files_open(&f, LOG_FILES_RELOAD, NULL, 0), 0);
	capture_end(saved);
	snprintf(want, sizeof(want), "reload: security log %s not reopened: %s", p_gone,
		 strerror(ENOENT));
	CHECK(file_has(p_stderr, want));
	snprintf(want, sizeof(want), "reload: CDR log %s not reopened: %s", p_gone,
		 strerror(ENOENT));
	CHECK(file_has(p_stderr, want));
	note("test.still_here");
	CHECK(file_has(p_sec, "test.still_here"));
	/* a path the caller could not resolve */
	f = files(p_key, p_sec2, p_cdr);
	f.events.err = ENAMETOOLONG;
	saved = capture_start();
	CHECK_INT(log_files_open(&f, LOG_FILES_RELOAD, NULL, 0), 0);
	capture_end(saved);
	snprintf(want, sizeof(want), "reload: security log %s not reopened: %s", p_sec2,
		 strerror(ENAMETOOLONG));
	CHECK(file_has(p_stderr, want));
	CHECK(access(p_sec2, F_OK) != 0);
	log_files_close();
}

/* Start over files that already hold lines (their chain is resumed: an
 * allocation), reload, close. */
static int start_reload_close(void *arg)
{
	struct log_files f = files(p_key, p_sec, p_cdr);
	char err[600];
	int rc;

	(void)arg;
	rc = log_files_open(&f, LOG_FILES_START, err, sizeof(err));
	if (rc == 0) {
		note("test.oom");
		f = files(p_key, p_sec2, p_cdr2);
		rc = log_files_open(&f, LOG_FILES_RELOAD, NULL, 0);
	}
	log_files_close();
	return rc;
}

static void test_alloc_failures(void)
{
	int saved;

	wipe();
	CHECK_INT(start_reload_close(NULL), 0); /* the files now hold lines */
	saved = capture_start();                /* the reloads' error lines */
	CHECK(CHECK_OOM_SWEEP(start_reload_close, NULL, 200) >= 1);
	capture_end(saved);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_start_and_reload), CASE(test_no_cdr_file), CASE(test_start_refusals),
		CASE(test_reload_keeps_old_files), CASE(test_alloc_failures),
	};
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/bastion-logfiles-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	paths();
	rc = check_main("log_files", cases, ARRAY_SIZE(cases), argc, argv);
	wipe();
	rmdir(dir);
	return rc;
}
