/*
 * Unit tests of the row mapping both store backends share (src/store/row.c):
 * a fake result (rows of text, column names taken from the STORE_*_COLS lists
 * the backends SELECT) stands in for SQLite and libpq. Checks that every
 * column lands in its field, that the lists and row.c's tables name the same
 * columns in the same order, that a drifted statement is refused (EIO), and
 * that every out-of-range value (too long, not hex, a number outside its
 * range) is refused with EOVERFLOW and the row named, never stored.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store/internal.h"

#define NCOL_MAX 24
#define NROW_MAX 4

/* A result: column names (from a STORE_*_COLS list) and rows of text. */
struct fake {
	char names[NCOL_MAX][48];
	int ncols;
	const char *rows[NROW_MAX][NCOL_MAX];
	int nrows, row;
};

/* The names of a column list as a SELECT reports them: "i.uri AS uri" is
 * "uri". */
static void fake_names(struct fake *f, const char *cols)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", cols);
	f->ncols = 0;
	for (char *t = strtok_r(buf, ",", &save); t && f->ncols < NCOL_MAX;
	     t = strtok_r(NULL, ",", &save)) {
		char *as = strstr(t, " AS ");
		char *n = as ? as + 4 : t;

		while (*n == ' ')
			n++;
		snprintf(f->names[f->ncols++], sizeof(f->names[0]), "%s", n);
	}
	f->row = -1;
}

static int f_next(void *ctx, bool *have)
{
	struct fake *f = ctx;

	if (f->row < f->nrows)
		f->row++;
	*have = f->row < f->nrows;
	return 0;
}

static int f_text(void *ctx, int col, char *dst, size_t cap)
{
	const struct fake *f = ctx;
	const char *v = f->rows[f->row][col];
	size_t n = strlen(v);

	if (n >= cap)
		return EOVERFLOW;
	memcpy(dst, v, n + 1);
	return 0;
}

static int f_i64(void *ctx, int col, int64_t *out)
{
	const struct fake *f = ctx;
	const char *v = f->rows[f->row][col];
	char *end;

	*out = strtoll(v, &end, 10);
	return end == v || *end ? EOVERFLOW : 0;
}

static const char *f_name(void *ctx, int col)
{
	const struct fake *f = ctx;

	return col < f->ncols ? f->names[col] : NULL;
}

static const struct store_row_ops fake_ops = { f_next, f_text, f_i64, f_name };

#define MD5 "0123456789abcdef0123456789abcdef"
#define SHA "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static const char *const user_row[] = { "7",	 "alice", "example.com", "realm", MD5,	  SHA,
					"1",	 "unknown", "100",	  "200",   "1",	  "2",
					"local", "why",	    "300",	  "realm", MD5,	  "",
					"400" };

/* The columns the backends SELECT are the ones row.c reads, in order. */
static void column_lists_match_the_tables(void)
{
	static const struct {
		enum store_rec kind;
		const char *cols;
	} k[] = {
		{ STORE_REC_USER, STORE_USER_COLS },	 { STORE_REC_REG, STORE_REG_COLS },
		{ STORE_REC_IDENTITY, STORE_IDENTITY_COLS }, { STORE_REC_CDR, STORE_CDR_COLS },
		{ STORE_REC_BAN, STORE_BAN_COLS },	 { STORE_REC_DIALOG, STORE_DIALOG_COLS },
	};
	struct store s;
	struct fake f;

	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < ARRAY_SIZE(k); i++) {
		memset(&f, 0, sizeof(f));
		fake_names(&f, k[i].cols);
		CHECK_INT(store_row_check_columns(&s, k[i].kind, &fake_ops, &f), 0);
	}
	/* a statement that drifted: two columns swapped, one missing, one extra */
	memset(&f, 0, sizeof(f));
	fake_names(&f, STORE_USER_COLS);
	memcpy(f.names[11], "calling", 8);
	memcpy(f.names[12], "digest", 7);
	CHECK_INT(store_row_check_columns(&s, STORE_REC_USER, &fake_ops, &f), EIO);
	CHECK(strstr(s.errmsg, "column 11 is calling where digest") != NULL);
	fake_names(&f, STORE_USER_COLS);
	f.ncols--;
	CHECK_INT(store_row_check_columns(&s, STORE_REC_USER, &fake_ops, &f), EIO);
	fake_names(&f, STORE_BAN_COLS);
	snprintf(f.names[f.ncols++], sizeof(f.names[0]), "node");
	CHECK_INT(store_row_check_columns(&s, STORE_REC_BAN, &fake_ops, &f), EIO);
}

static void user_fields_land(void)
{
	struct store_user u;
	struct fake f;

	memset(&f, 0, sizeof(f));
	fake_names(&f, STORE_USER_COLS);
	for (size_t c = 0; c < ARRAY_SIZE(user_row); c++)
		f.rows[0][c] = user_row[c];
	f.row = 0;
	memset(&u, 0xab, sizeof(u));
	CHECK_INT(store_row_fill(STORE_REC_USER, &u, &fake_ops, &f), 0);
	CHECK_INT(u.id, 7);
	CHECK(strcmp(u.name, "alice") == 0 && strcmp(u.domain, "example.com") == 0);
	CHECK(strcmp(u.cred.realm, "realm") == 0);
	CHECK(strcmp(u.cred.ha1_md5, MD5) == 0 && strcmp(u.cred.ha1_sha256, SHA) == 0);
	CHECK(u.enabled);
	CHECK_INT(u.cred.strength, STORE_PW_UNKNOWN);
	CHECK_INT(u.created_at, 100);
	CHECK_INT(u.changed_at, 200);
	CHECK(u.require_client_cert);
	CHECK_INT(u.digest, 2);
	CHECK(strcmp(u.calling, "local") == 0 && strcmp(u.fraud_hold, "why") == 0);
	CHECK_INT(u.fraud_hold_at, 300);
	CHECK(strcmp(u.old_cred.realm, "realm") == 0 && strcmp(u.old_cred.ha1_md5, MD5) == 0);
	CHECK(u.old_cred.ha1_sha256[0] == '\0');
	CHECK_INT(u.old_cred.strength, STORE_PW_CHECKED);
	CHECK_INT(u.pw_deadline, 400);
}

/* One bad column at a time: each is refused, the rest of the row being good. */
static void out_of_range_refused(void)
{
	static const struct {
		int col;
		const char *v;
	} bad[] = {
		{ 0, "7x" },	       /* not a number */
		{ 4, "0123" },	       /* HA1 of the wrong length */
		{ 4, "0123456789ABCDEF0123456789ABCDEF" }, /* not lowercase */
		{ 11, "4" },	       /* digest 0..3 */
		{ 11, "-1" },
		{ 16, "zz23456789abcdef0123456789abcdef" }, /* old HA1 not hex */
		{ 18, "-1" },	       /* a negative deadline */
	};
	struct store_user u;
	struct fake f;
	char longname[STORE_NAME_MAX + 1];

	memset(&f, 0, sizeof(f));
	fake_names(&f, STORE_USER_COLS);
	f.row = 0;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		for (size_t c = 0; c < ARRAY_SIZE(user_row); c++)
			f.rows[0][c] = user_row[c];
		f.rows[0][bad[i].col] = bad[i].v;
		CHECK_INT(store_row_fill(STORE_REC_USER, &u, &fake_ops, &f), EOVERFLOW);
	}
	for (size_t c = 0; c < ARRAY_SIZE(user_row); c++)
		f.rows[0][c] = user_row[c];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	f.rows[0][1] = longname;
	CHECK_INT(store_row_fill(STORE_REC_USER, &u, &fake_ops, &f), EOVERFLOW);
	longname[STORE_NAME_MAX - 1] = '\0'; /* 127 characters: fits */
	CHECK_INT(store_row_fill(STORE_REC_USER, &u, &fake_ops, &f), 0);
	CHECK_INT(strlen(u.name), STORE_NAME_MAX - 1);
}

struct seen {
	size_t n;
	char addrs[64];
	int stop_at; /* return 99 at this call (1-based); 0 never */
};

static int on_ban(void *arg, const struct store_ban *b)
{
	struct seen *s = arg;
	size_t len = strlen(s->addrs);

	s->n++;
	snprintf(s->addrs + len, sizeof(s->addrs) - len, "%s ", b->addr);
	return s->stop_at && (int)s->n == s->stop_at ? 99 : 0;
}

/* The walk: every row to fn in order; fn's non-zero return stops it and is
 * returned; a bad row stops it with EOVERFLOW and names the row (a ban by
 * its end); a count of 0 is out of range. */
static void walk_delivers_and_stops(void)
{
	struct store s;
	struct seen seen;
	struct fake f;
	union store_rec_fn fn = { .ban = on_ban };

	memset(&s, 0, sizeof(s));
	memset(&f, 0, sizeof(f));
	fake_names(&f, STORE_BAN_COLS);
	f.nrows = 3;
	for (int r = 0; r < 3; r++) {
		static const char *const addr[] = { "192.0.2.1", "192.0.2.2", "192.0.2.3" };

		f.rows[r][0] = addr[r];
		f.rows[r][1] = "1000";
		f.rows[r][2] = "2";
		f.rows[r][3] = "rate";
		f.rows[r][4] = "10";
	}
	memset(&seen, 0, sizeof(seen));
	CHECK_INT(store_row_walk(&s, STORE_REC_BAN, &fake_ops, &f, fn, &seen), 0);
	CHECK_INT(seen.n, 3);
	CHECK(strcmp(seen.addrs, "192.0.2.1 192.0.2.2 192.0.2.3 ") == 0);

	fake_names(&f, STORE_BAN_COLS);
	memset(&seen, 0, sizeof(seen));
	seen.stop_at = 2;
	CHECK_INT(store_row_walk(&s, STORE_REC_BAN, &fake_ops, &f, fn, &seen), 99);
	CHECK_INT(seen.n, 2);

	fake_names(&f, STORE_BAN_COLS);
	f.rows[1][2] = "0";
	f.rows[1][1] = "4242";
	memset(&seen, 0, sizeof(seen));
	CHECK_INT(store_row_walk(&s, STORE_REC_BAN, &fake_ops, &f, fn, &seen), EOVERFLOW);
	CHECK_INT(seen.n, 1);
	CHECK(strstr(s.errmsg, "a ban row has a field out of range (ends 4242)") != NULL);

	/* a statement whose columns are not a ban's: nothing delivered */
	fake_names(&f, STORE_CDR_COLS);
	memset(&seen, 0, sizeof(seen));
	CHECK_INT(store_row_walk(&s, STORE_REC_BAN, &fake_ops, &f, fn, &seen), EIO);
	CHECK_INT(seen.n, 0);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(column_lists_match_the_tables),
		CASE(user_fields_land),
		CASE(out_of_range_refused),
		CASE(walk_delivers_and_stops),
	};

	return check_main("store_row", cases, ARRAY_SIZE(cases), argc, argv);
}
