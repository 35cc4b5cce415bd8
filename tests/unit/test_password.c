/*
 * Unit tests of the password rules (each rule's refusal and its message),
 * the common-password list, the user-name rule, reading a line from a file
 * descriptor, and the generator (length, alphabet, no repeats in 1000 draws).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "admin/internal.h"
#include "base/base.h"
#include "check.h"

static void accepts_good_password(void)
{
	char why[200] = "";

	CHECK_INT(admin_pw_check("correct horse battery staple", "alice", why, sizeof(why)), 0);
	CHECK_INT(admin_pw_check("Tr0ub4dor&3xyz", "1001", why, sizeof(why)), 0);
	/* exactly the minimum */
	CHECK_INT(admin_pw_check("kq7Zp2Lw9xMv", "bob", why, sizeof(why)), 0);
}

static void refuses_short(void)
{
	char why[200] = "";

	CHECK_INT(admin_pw_check("kq7Zp2Lw9xM", "bob", why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "too short") != NULL);
	CHECK(strstr(why, "12") != NULL);
	CHECK_INT(admin_pw_check("", "bob", why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "too short") != NULL);
	/* characters, not bytes: 11 two-byte characters are still too short */
	CHECK_INT(admin_pw_check("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				 "\xc3\xa9\xc3\xa9\xc3\xa9", "bob", why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "too short") != NULL);
}

static void refuses_user_name(void)
{
	char why[200] = "";

	CHECK_INT(admin_pw_check("my-1001-phone-line", "1001", why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "user name") != NULL);
	/* case-insensitive */
	CHECK_INT(admin_pw_check("xx ALICE rocks xx", "alice", why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "user name") != NULL);
	CHECK_INT(admin_pw_check("alicealicealice", "AliCe", why, sizeof(why)), EINVAL);
}

static void refuses_common(void)
{
	static const char *const common[] = {
		"passwordpassword", "123456789012", "qwertyuiopasdfgh", "iloveyou12345",
		"PasswordPassword", "QWERTYuiopASDFGH", "1q2w3e4r5t6y",
	};
	char why[200] = "";

	for (size_t i = 0; i < ARRAY_SIZE(common); i++) {
		why[0] = '\0';
		CHECK_INT(admin_pw_check(common[i], "bob", why, sizeof(why)), EINVAL);
		CHECK(strstr(why, "common passwords") != NULL);
	}
	CHECK(admin_pw_is_common("PASSWORD"));
	CHECK(!admin_pw_is_common("passwordpassword!x"));
}

static void refuses_control_characters(void)
{
	char why[200] = "";

	CHECK_INT(admin_pw_check("good password\there", "bob", why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "control") != NULL);
}

static void common_list_is_sane(void)
{
	size_t long_ones = 0;

	CHECK(admin_common_passwords_count >= 300);
	for (size_t i = 0; i < admin_common_passwords_count; i++) {
		const char *p = admin_common_passwords[i];
		for (const char *q = p; *q; q++)
			CHECK(!(*q >= 'A' && *q <= 'Z')); /* stored lowercase */
		for (size_t j = 0; j < i; j++)
			if (strcmp(p, admin_common_passwords[j]) == 0)
				check_fail(__FILE__, __LINE__, "duplicate entry %s", p);
		if (strlen(p) >= ADMIN_PW_MIN)
			long_ones++;
	}
	CHECK(long_ones >= 100);
}

static void generator(void)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	enum { DRAWS = 1000 };
	char (*pw)[ADMIN_PW_GEN_LEN + 1] = calloc(DRAWS, sizeof(*pw));
	unsigned seen[256] = { 0 };
	char why[200], small[ADMIN_PW_GEN_LEN];

	CHECK(pw != NULL);
	for (size_t i = 0; i < DRAWS; i++) {
		if (admin_pw_generate(pw[i], sizeof(pw[i])) != 0)
			check_fail(__FILE__, __LINE__, "generate failed");
		if (strlen(pw[i]) != ADMIN_PW_GEN_LEN)
			check_fail(__FILE__, __LINE__, "length %zu", strlen(pw[i]));
		for (const char *q = pw[i]; *q; q++) {
			if (!strchr(alphabet, *q))
				check_fail(__FILE__, __LINE__, "char 0x%02x", (unsigned char)*q);
			seen[(unsigned char)*q]++;
		}
		/* a generated password passes the rules (for a typical name) */
		if (admin_pw_check(pw[i], "1001", why, sizeof(why)) != 0 &&
		    strstr(pw[i], "1001") == NULL)
			check_fail(__FILE__, __LINE__, "%s refused: %s", pw[i], why);
		for (size_t j = 0; j < i; j++)
			if (strcmp(pw[i], pw[j]) == 0)
				check_fail(__FILE__, __LINE__, "draw %zu repeats draw %zu", i, j);
	}
	free(pw);
	if (check_failed)
		return;
	/* 20,000 symbols: every one of the 62 appears (expected ~322 each) */
	for (const char *q = alphabet; *q; q++)
		CHECK(seen[(unsigned char)*q] > 150);
	CHECK_INT(admin_pw_generate(small, sizeof(small)), EOVERFLOW);
}

static void user_names(void)
{
	char why[200] = "", name[ADMIN_NAME_MAX + 2];

	CHECK_INT(admin_name_check("1001", why, sizeof(why)), 0);
	CHECK_INT(admin_name_check("alice.smith-2_x!~*'()&=+$,;?/", why, sizeof(why)), 0);
	CHECK_INT(admin_name_check("", why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "empty") != NULL);
	CHECK_INT(admin_name_check("a@b", why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "'@'") != NULL);
	CHECK_INT(admin_name_check("a:b", why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "':'") != NULL);
	CHECK_INT(admin_name_check("a b", why, sizeof(why)), EINVAL);
	CHECK_INT(admin_name_check("a%41", why, sizeof(why)), EINVAL);
	CHECK_INT(admin_name_check("a\"b", why, sizeof(why)), EINVAL);
	CHECK_INT(admin_name_check("caf\xc3\xa9", why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "0xc3") != NULL);
	memset(name, 'a', ADMIN_NAME_MAX);
	name[ADMIN_NAME_MAX] = '\0';
	CHECK_INT(admin_name_check(name, why, sizeof(why)), 0);
	name[ADMIN_NAME_MAX] = 'a';
	name[ADMIN_NAME_MAX + 1] = '\0';
	CHECK_INT(admin_name_check(name, why, sizeof(why)), EINVAL);
	CHECK(strstr(why, "longer") != NULL);
}

static int pipe_with(const char *text)
{
	int fds[2];

	if (pipe(fds) != 0)
		return -1;
	if (write(fds[1], text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	close(fds[1]);
	return fds[0];
}

static void read_line(void)
{
	char buf[16];
	int fd;

	fd = pipe_with("secret one\r\nsecond line\n");
	CHECK(fd >= 0);
	CHECK_INT(admin_pw_read_line(buf, sizeof(buf), fd), 0);
	CHECK(strcmp(buf, "secret one") == 0);
	CHECK_INT(admin_pw_read_line(buf, sizeof(buf), fd), 0);
	CHECK(strcmp(buf, "second line") == 0);
	CHECK_INT(admin_pw_read_line(buf, sizeof(buf), fd), ENODATA);
	close(fd);

	fd = pipe_with("\n");
	CHECK(fd >= 0);
	CHECK_INT(admin_pw_read_line(buf, sizeof(buf), fd), 0); /* empty, not absent */
	CHECK(buf[0] == '\0');
	close(fd);

	fd = pipe_with("no newline");
	CHECK(fd >= 0);
	CHECK_INT(admin_pw_read_line(buf, sizeof(buf), fd), 0);
	CHECK(strcmp(buf, "no newline") == 0);
	close(fd);

	fd = pipe_with("0123456789abcdefXYZ\n");
	CHECK(fd >= 0);
	CHECK_INT(admin_pw_read_line(buf, sizeof(buf), fd), EOVERFLOW);
	close(fd);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(accepts_good_password),
		CASE(refuses_short),
		CASE(refuses_user_name),
		CASE(refuses_common),
		CASE(refuses_control_characters),
		CASE(common_list_is_sane),
		CASE(generator),
		CASE(user_names),
		CASE(read_line),
	};

	return check_main("password", cases, ARRAY_SIZE(cases), argc, argv);
}
