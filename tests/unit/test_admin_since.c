/*
 * test_admin_since: the --since parser of `bastion cdr list` with a fixed
 * "now": each accepted form to the exact second, the floor at 0, and the
 * refusals with their reasons.
 */
#include <errno.h>

#include "admin/internal.h"
#include "base/base.h"
#include "check.h"

#define NOW 1795000000LL /* 2026-11-18T11:06:40Z */

static int parse(const char *s, int64_t *out)
{
	char why[200];

	*out = -12345;
	return admin_parse_since(s, NOW, out, why, sizeof(why));
}

static void accepted(void)
{
	int64_t t;

	CHECK_INT(parse("0", &t), 0);
	CHECK_INT(t, 0);
	CHECK_INT(parse("1795000000", &t), 0);
	CHECK_INT(t, NOW);
	CHECK_INT(parse("253402300799", &t), 0);
	CHECK_INT(parse("2026-11-18", &t), 0);
	CHECK_INT(t, NOW - (11 * 3600 + 6 * 60 + 40));
	CHECK_INT(parse("2026-11-18T11:06:40Z", &t), 0);
	CHECK_INT(t, NOW);
	CHECK_INT(parse("2026-11-18T11:06Z", &t), 0);
	CHECK_INT(t, NOW - 40);
	CHECK_INT(parse("1970-01-01", &t), 0);
	CHECK_INT(t, 0);
	CHECK_INT(parse("2024-02-29T23:59:59Z", &t), 0);
	CHECK_INT(t, 1709251199);
	CHECK_INT(parse("-30s", &t), 0);
	CHECK_INT(t, NOW - 30);
	CHECK_INT(parse("-30m", &t), 0);
	CHECK_INT(t, NOW - 1800);
	CHECK_INT(parse("-1h", &t), 0);
	CHECK_INT(t, NOW - 3600);
	CHECK_INT(parse("-2d", &t), 0);
	CHECK_INT(t, NOW - 2 * 86400);
	CHECK_INT(parse("-0m", &t), 0);
	CHECK_INT(t, NOW);
	CHECK_INT(parse("-36000d", &t), 0); /* before 1970: floored */
	CHECK_INT(t, 0);
}

static void refused(void)
{
	static const char *const bad[] = {
		"", "-", "-1", "-h", "-1y", "-1H", "-1hh", "1h", "+1h", "-1.5h", "- 1h",
		"-36601d", "-9999999999999s", "253402300800", "9999999999999",
		"2025-02-29", "2026-00-10", "2026-11-00", "2026-11-31", "2026-13-01",
		"2026-11-23T24:00:00Z", "2026-11-23T10:60:00Z", "2026-11-23T10:00:60Z",
		"2026-11-23T10:00:00", "2026-11-23T10:00", "2026-11-23T10Z", "2026-11-23T",
		"2026-11-23 10:00:00Z", "2026-11-23T10:00:00+01:00", "2026-11-23T10:00:00z",
		"1969-12-31", "26-11-23", "2026-1-5", "2026/11/23", "yesterday", "0x10",
	};
	char why[200];
	int64_t t;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		why[0] = '\0';
		t = -7;
		if (admin_parse_since(bad[i], NOW, &t, why, sizeof(why)) != EINVAL) {
			check_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
			return;
		}
		CHECK(why[0] != '\0');
		CHECK_INT(t, -7);
	}
	CHECK_INT(admin_parse_since(NULL, NOW, &t, why, sizeof(why)), EINVAL);
	CHECK_INT(admin_parse_since("2026-11-23T10:00:00", NOW, &t, why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "add Z") != NULL);
	CHECK_INT(admin_parse_since("-3w", NOW, &t, why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "unknown unit 'w'") != NULL);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = { CASE(accepted), CASE(refused) };

	return check_main("admin_since", cases, ARRAY_SIZE(cases), argc, argv);
}
