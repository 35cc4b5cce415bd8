/*
 * test_admin_ban: the pure helpers of `bastion ban`: the TIME parser of
 * `ban add` (every unit, the bounds of 1 s and 10 years, the refusals with
 * their reasons) and the remaining-time format of `ban list`.
 */
#include <errno.h>

#include "admin/internal.h"
#include "base/base.h"
#include "check.h"

static int parse(const char *s, int64_t *out, char *why, size_t cap)
{
	*out = -12345;
	why[0] = '\0';
	return admin_parse_duration(s, out, why, cap);
}

static void accepted(void)
{
	char why[200];
	int64_t t;

	CHECK_INT(parse("90", &t, why, sizeof(why)), 0);
	CHECK_INT(t, 90);
	CHECK_INT(parse("1", &t, why, sizeof(why)), 0);
	CHECK_INT(t, 1);
	CHECK_INT(parse("45s", &t, why, sizeof(why)), 0);
	CHECK_INT(t, 45);
	CHECK_INT(parse("30m", &t, why, sizeof(why)), 0);
	CHECK_INT(t, 1800);
	CHECK_INT(parse("2h", &t, why, sizeof(why)), 0);
	CHECK_INT(t, 7200);
	CHECK_INT(parse("7d", &t, why, sizeof(why)), 0);
	CHECK_INT(t, 7 * 86400);
	CHECK_INT(parse("007m", &t, why, sizeof(why)), 0); /* leading zeros */
	CHECK_INT(t, 420);
	/* the upper bound in each unit */
	CHECK_INT(parse("3650d", &t, why, sizeof(why)), 0);
	CHECK_INT(t, ADMIN_BAN_MAX_S);
	CHECK_INT(parse("87600h", &t, why, sizeof(why)), 0);
	CHECK_INT(t, ADMIN_BAN_MAX_S);
	CHECK_INT(parse("5256000m", &t, why, sizeof(why)), 0);
	CHECK_INT(parse("315360000", &t, why, sizeof(why)), 0);
	CHECK_INT(t, ADMIN_BAN_MAX_S);
	CHECK_INT(parse("0000000000000000000001s", &t, why, sizeof(why)), 0);
	CHECK_INT(t, 1);
}

static void refused(void)
{
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "", "empty" },
		{ "0", "at least 1 second" },
		{ "0s", "at least 1 second" },
		{ "00d", "at least 1 second" },
		{ "3651d", "at most 10 years" },
		{ "87601h", "at most 10 years" },
		{ "315360001", "at most 10 years" },
		{ "5256001m", "at most 10 years" },
		{ "9999999999999", "at most 10 years" },
		{ "99999999999999999999999d", "at most 10 years" },
		{ "1w", "unknown unit 'w'" },
		{ "1y", "unknown unit 'y'" },
		{ "1H", "unknown unit 'H'" },
		{ "1\x01", "unknown unit '?'" },
		{ "m", "expected seconds" },
		{ "-5", "expected seconds" },
		{ "+5", "expected seconds" },
		{ " 5", "expected seconds" },
		{ "5 ", "unknown unit ' '" },
		{ "1.5h", "expected seconds" },
		{ "1h30m", "expected seconds" },
		{ "2hh", "expected seconds" },
		{ "0x10", "expected seconds" },
	};
	char why[200];
	int64_t t;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (parse(bad[i].in, &t, why, sizeof(why)) != EINVAL || t != -12345 ||
		    !strstr(why, bad[i].why)) {
			check_fail(__FILE__, __LINE__, "\"%s\": got \"%s\", want \"%s\"", bad[i].in,
				   why, bad[i].why);
			return;
		}
	}
	CHECK_INT(admin_parse_duration(NULL, &t, why, sizeof(why)), EINVAL);
	/* a short why buffer is truncated, not overrun */
	CHECK_INT(parse("1w", &t, why, 8), EINVAL);
	CHECK_INT(strlen(why), 7);
}

static void remaining_format(void)
{
	char b[40];

	CHECK(strcmp(admin_fmt_duration(b, sizeof(b), 0), "0s") == 0);
	CHECK(strcmp(admin_fmt_duration(b, sizeof(b), -5), "0s") == 0);
	CHECK(strcmp(admin_fmt_duration(b, sizeof(b), 59), "59s") == 0);
	CHECK(strcmp(admin_fmt_duration(b, sizeof(b), 60), "1m0s") == 0);
	CHECK(strcmp(admin_fmt_duration(b, sizeof(b), 3598), "59m58s") == 0);
	CHECK(strcmp(admin_fmt_duration(b, sizeof(b), 3600), "1h0m0s") == 0);
	CHECK(strcmp(admin_fmt_duration(b, sizeof(b), 86399), "23h59m59s") == 0);
	CHECK(strcmp(admin_fmt_duration(b, sizeof(b), 86400 + 61), "1d0h1m1s") == 0);
	CHECK(strcmp(admin_fmt_duration(b, sizeof(b), ADMIN_BAN_MAX_S), "3650d0h0m0s") == 0);
	CHECK(strcmp(admin_fmt_duration(b, 4, 3598), "59m") == 0); /* truncated, terminated */
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(accepted),
		CASE(refused),
		CASE(remaining_format),
	};

	return check_main("admin_ban", cases, ARRAY_SIZE(cases), argc, argv);
}
