/*
 * Unit tests of the on-disk write queue (src/store/journal.c): records come
 * back in order with their parameters, a torn tail (an append a crash cut)
 * is dropped and cut so later appends follow the last good record, a
 * garbled record ends the replay, a file of another build is refused unless
 * it is empty, a second opener is refused, and reset empties the file while
 * the sequence numbers go on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "store/internal.h"

#define STAMP 0x1234abcd5678ef00ULL
#define HDR 35

static char dir[64];

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

struct seen {
	size_t n;
	uint64_t seq[16];
	unsigned st[16];
	char text[16][64];
};

static int remember(void *arg, uint64_t seq, unsigned st, int n, const char *const *params)
{
	struct seen *s = arg;

	if (s->n == 16)
		return E2BIG;
	s->seq[s->n] = seq;
	s->st[s->n] = st;
	s->text[s->n][0] = '\0';
	for (int i = 0; i < n; i++) {
		strncat(s->text[s->n], params[i], 60 - strlen(s->text[s->n]));
		strncat(s->text[s->n], "|", 60 - strlen(s->text[s->n]));
	}
	s->n++;
	return 0;
}

static off_t size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void records_come_back_in_order(void)
{
	char path[128], err[256];
	struct store_journal *j = NULL;
	struct seen s = { 0 };
	const char *a[3] = { "sip:alice@example.test", "", "42" };
	const char *b[1] = { "x" };
	uint64_t seq = 0;
	struct stat st;

	path_of(path, sizeof(path), "order");
	CHECK_INT(store_journal_open(&j, path, STAMP, err, sizeof(err)), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(store_journal_replay(j, remember, &s), 0);
	CHECK_INT(s.n, 0);
	CHECK_INT(store_journal_append(j, &seq, 7, 3, a), 0);
	CHECK_INT(seq, 1);
	CHECK_INT(store_journal_append(j, &seq, 9, 1, b), 0);
	CHECK_INT(seq, 2);
	CHECK_INT(store_journal_append(j, &seq, 0, 0, NULL), 0);
	CHECK_INT(store_journal_sync(j), 0);
	CHECK_INT(store_journal_records(j), 3);
	store_journal_close(&j);
	CHECK(j == NULL);

	CHECK_INT(store_journal_open(&j, path, STAMP, err, sizeof(err)), 0);
	CHECK_INT(store_journal_replay(j, remember, &s), 0);
	CHECK_INT(s.n, 3);
	CHECK_INT(s.seq[0], 1);
	CHECK_INT(s.st[0], 7);
	CHECK(strcmp(s.text[0], "sip:alice@example.test||42|") == 0);
	CHECK_INT(s.seq[1], 2);
	CHECK(strcmp(s.text[1], "x|") == 0);
	CHECK_INT(s.seq[2], 3);
	CHECK(strcmp(s.text[2], "") == 0);
	/* the numbers go on after a replay, and after a reset */
	CHECK_INT(store_journal_append(j, &seq, 1, 1, b), 0);
	CHECK_INT(seq, 4);
	CHECK_INT(store_journal_reset(j), 0);
	CHECK_INT(size_of(path), HDR);
	CHECK_INT(store_journal_records(j), 0);
	CHECK_INT(store_journal_append(j, &seq, 1, 1, b), 0);
	CHECK_INT(seq, 5);
	store_journal_seq_at_least(j, 3); /* never lowers */
	CHECK_INT(store_journal_append(j, &seq, 1, 1, b), 0);
	CHECK_INT(seq, 6);
	store_journal_seq_at_least(j, 10);
	CHECK_INT(store_journal_append(j, &seq, 1, 1, b), 0);
	CHECK_INT(seq, 10);
	CHECK_INT(store_journal_sync(j), 0);
	store_journal_close(&j);
	memset(&s, 0, sizeof(s));
	CHECK_INT(store_journal_open(&j, path, STAMP, err, sizeof(err)), 0);
	CHECK_INT(store_journal_replay(j, remember, &s), 0);
	CHECK_INT(s.n, 3);
	CHECK_INT(s.seq[0], 5);
	CHECK_INT(s.seq[2], 10);
	store_journal_close(&j);
}

/* Every cut of the file inside the last record loses that record only. */
static void torn_tail_is_cut(void)
{
	char path[128], err[256];
	struct store_journal *j = NULL;
	const char *a[2] = { "first", "record" };
	const char *b[2] = { "second", "record" };
	uint64_t seq;
	off_t one, two;

	path_of(path, sizeof(path), "torn");
	CHECK_INT(store_journal_open(&j, path, STAMP, err, sizeof(err)), 0);
	CHECK_INT(store_journal_replay(j, remember, &(struct seen){ 0 }), 0);
	CHECK_INT(store_journal_append(j, &seq, 1, 2, a), 0);
	CHECK_INT(store_journal_sync(j), 0);
	one = size_of(path);
	CHECK_INT(store_journal_append(j, &seq, 2, 2, b), 0);
	CHECK_INT(store_journal_sync(j), 0);
	two = size_of(path);
	store_journal_close(&j);
	for (off_t cut = two - 1; cut > one; cut--) {
		struct seen s = { 0 };

		CHECK_INT(truncate(path, cut), 0);
		CHECK_INT(store_journal_open(&j, path, STAMP, err, sizeof(err)), 0);
		CHECK_INT(store_journal_replay(j, remember, &s), 0);
		CHECK_INT(s.n, 1);
		CHECK(strcmp(s.text[0], "first|record|") == 0);
		CHECK_INT(size_of(path), one); /* cut at the last good record */
		/* and an append follows it, with the next number */
		CHECK_INT(store_journal_append(j, &seq, 2, 2, b), 0);
		CHECK_INT(seq, 2);
		CHECK_INT(store_journal_sync(j), 0);
		CHECK_INT(size_of(path), two);
		store_journal_close(&j);
	}
}

static void garbled_record_ends_the_replay(void)
{
	char path[128], err[256];
	struct store_journal *j = NULL;
	struct seen s = { 0 };
	const char *a[1] = { "aaaa" };
	uint64_t seq;
	off_t one;
	int fd;

	path_of(path, sizeof(path), "garbled");
	CHECK_INT(store_journal_open(&j, path, STAMP, err, sizeof(err)), 0);
	CHECK_INT(store_journal_replay(j, remember, &s), 0);
	CHECK_INT(store_journal_append(j, &seq, 1, 1, a), 0);
	CHECK_INT(store_journal_sync(j), 0);
	one = size_of(path);
	CHECK_INT(store_journal_append(j, &seq, 1, 1, a), 0);
	CHECK_INT(store_journal_sync(j), 0);
	store_journal_close(&j);
	/* flip one byte of the second record's text */
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0);
	CHECK_INT(pwrite(fd, "b", 1, one + 12 + 10), 1);
	close(fd);
	CHECK_INT(store_journal_open(&j, path, STAMP, err, sizeof(err)), 0);
	CHECK_INT(store_journal_replay(j, remember, &s), 0);
	CHECK_INT(s.n, 1);
	store_journal_close(&j);
}

static void other_build_and_second_opener_refused(void)
{
	char path[128], err[256];
	struct store_journal *j = NULL, *k = NULL;
	const char *a[1] = { "a" };
	uint64_t seq;

	path_of(path, sizeof(path), "stamp");
	CHECK_INT(store_journal_open(&j, path, STAMP, err, sizeof(err)), 0);
	CHECK_INT(store_journal_open(&k, path, STAMP, err, sizeof(err)), EBUSY);
	CHECK(strstr(err, "in use") != NULL);
	CHECK(k == NULL);
	CHECK_INT(store_journal_replay(j, remember, &(struct seen){ 0 }), 0);
	store_journal_close(&j);
	/* empty: another build takes it over */
	CHECK_INT(store_journal_open(&j, path, STAMP + 1, err, sizeof(err)), 0);
	CHECK_INT(store_journal_replay(j, remember, &(struct seen){ 0 }), 0);
	CHECK_INT(store_journal_append(j, &seq, 1, 1, a), 0);
	CHECK_INT(store_journal_sync(j), 0);
	store_journal_close(&j);
	/* with records: refused, naming the reason */
	CHECK_INT(store_journal_open(&j, path, STAMP, err, sizeof(err)), EPROTO);
	CHECK(strstr(err, "not written by this build") != NULL);
	CHECK(j == NULL);
	/* not ours at all */
	path_of(path, sizeof(path), "foreign");
	{
		FILE *f = fopen(path, "w");

		CHECK(f != NULL);
		fputs("hello, this is not a journal at all\n", f);
		fclose(f);
	}
	CHECK_INT(store_journal_open(&j, path, STAMP, err, sizeof(err)), EPROTO);
	CHECK_INT(store_journal_open(&j, "", STAMP, err, sizeof(err)), EINVAL);
}

static void cleanup(void)
{
	static const char *names[] = { "order", "torn", "garbled", "stamp", "foreign" };
	char path[128];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		path_of(path, sizeof(path), names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(records_come_back_in_order),
		CASE(torn_tail_is_cut),
		CASE(garbled_record_ends_the_replay),
		CASE(other_build_and_second_opener_refused),
	};
	int rc;

	snprintf(dir, sizeof(dir), "/tmp/bastion-journal-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	rc = check_main("store_journal", cases, ARRAY_SIZE(cases), argc, argv);
	cleanup();
	return rc;
}
