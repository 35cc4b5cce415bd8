/*
 * Unit tests of base's string copy: base_strcpy writes what
 * snprintf(dst, cap, "%s", src) writes, for every capacity around the
 * string's length (the bytes after the terminator untouched), and nothing
 * at all when the capacity is 0.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "base/base.h"

static void same_as_snprintf(void)
{
	static const char *const srcs[] = { "", "a", "udp", "sip:1001@example.test", "caller" };
	char got[32], want[32];

	for (size_t i = 0; i < ARRAY_SIZE(srcs); i++) {
		size_t len = strlen(srcs[i]);

		for (size_t cap = 1; cap <= len + 2 && cap <= sizeof(got); cap++) {
			memset(got, '#', sizeof(got));
			memset(want, '#', sizeof(want));
			snprintf(want, cap, "%s", srcs[i]);
			CHECK(base_strcpy(got, cap, srcs[i]) == got);
			if (memcmp(got, want, sizeof(got)) != 0) {
				fprintf(stderr, "\"%s\" into %zu bytes: not as snprintf\n", srcs[i], cap);
				CHECK(!"base_strcpy differs from snprintf");
			}
		}
	}
}

static void zero_capacity(void)
{
	char dst[4] = "xyz";

	CHECK(base_strcpy(dst, 0, "abc") == dst);
	CHECK(strcmp(dst, "xyz") == 0);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(same_as_snprintf),
		CASE(zero_capacity),
	};

	return check_main("base_str", cases, ARRAY_SIZE(cases), argc, argv);
}
