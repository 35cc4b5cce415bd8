/*
 * admin/password: the rules a password must pass before its HA1 is stored,
 * the generator, reading a password from standard input, and the user-name
 * rule.
 *
 * Why these rules: digest HA1 values are unsalted hashes of user, realm and
 * password, so a stolen database (or one captured challenge and response)
 * can be attacked offline at billions of guesses a second; SIP servers on the
 * Internet are also scanned all day by tools trying common and
 * extension-number passwords. Length is what buys resistance to both, the
 * name rule stops "1001" style passwords, and the list stops the guesses
 * that scanners try first. No composition rules: they annoy more than they
 * help, and a generated password is offered instead.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "internal.h"

static const char pw_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static char lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Does hay contain needle, ASCII case-insensitively? */
static bool contains_nocase(const char *hay, const char *needle)
{
	size_t hn = strlen(hay), nn = strlen(needle);

	if (nn == 0 || nn > hn)
		return false;
	for (size_t i = 0; i + nn <= hn; i++) {
		size_t j = 0;
		while (j < nn && lower(hay[i + j]) == lower(needle[j]))
			j++;
		if (j == nn)
			return true;
	}
	return false;
}

bool admin_pw_is_common(const char *pw)
{
	for (size_t i = 0; i < admin_common_passwords_count; i++)
		if (strcasecmp(pw, admin_common_passwords[i]) == 0)
			return true;
	return false;
}

int admin_pw_check(const char *pw, const char *name, char *why, size_t cap)
{
	for (const char *p = pw; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, cap, "the password must not contain control characters");
			return EINVAL;
		}
	}
	if (utf8_chars(pw) < ADMIN_PW_MIN) {
		snprintf(why, cap, "the password is too short: at least %d characters are needed",
			 ADMIN_PW_MIN);
		return EINVAL;
	}
	if (name && contains_nocase(pw, name)) {
		snprintf(why, cap, "the password must not contain the user name");
		return EINVAL;
	}
	if (admin_pw_is_common(pw)) {
		snprintf(why, cap, "the password is in the list of common passwords");
		return EINVAL;
	}
	return 0;
}

int admin_pw_generate(char *out, size_t cap)
{
	/* 248 = 4 * 62: bytes at or above it are rejected so that byte % 62 is
	 * uniform. About 3% of the bytes are thrown away. */
	unsigned char buf[64];
	size_t n = 0;

	if (cap <= ADMIN_PW_GEN_LEN)
		return EOVERFLOW;
	while (n < ADMIN_PW_GEN_LEN) {
		if (RAND_bytes(buf, sizeof(buf)) != 1) {
			OPENSSL_cleanse(buf, sizeof(buf));
			OPENSSL_cleanse(out, cap);
			return EIO;
		}
		for (size_t i = 0; i < sizeof(buf) && n < ADMIN_PW_GEN_LEN; i++)
			if (buf[i] < 248)
				out[n++] = pw_alphabet[buf[i] % 62];
	}
	out[n] = '\0';
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int admin_pw_read_line(char *out, size_t cap, int fd)
{
	size_t n = 0;
	bool got = false;
	char ch;

	if (cap == 0)
		return EOVERFLOW;
	for (;;) {
		ssize_t r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			OPENSSL_cleanse(out, cap);
			return e;
		}
		if (r == 0)
			break;
		if (ch == '\n') {
			got = true; /* an empty line is an (empty) password, not no input */
			break;
		}
		got = true;
		if (n + 1 >= cap) {
			OPENSSL_cleanse(out, cap);
			ch = 0;
			return EOVERFLOW;
		}
		out[n++] = ch;
	}
	ch = 0;
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return got || n > 0 ? 0 : ENODATA;
}

int admin_name_check(const char *name, char *why, size_t cap)
{
	/* RFC 3261 25.1: user = 1*( unreserved / escaped / user-unreserved ),
	 * unreserved = alphanum / mark, mark = - _ . ! ~ * ' ( ),
	 * user-unreserved = & = + $ , ; ? /. Escapes are not accepted: they
	 * would make one user reachable under several spellings. */
	static const char extra[] = "-_.!~*'()&=+$,;?/";
	size_t n = strlen(name);

	if (n == 0) {
		snprintf(why, cap, "the user name is empty");
		return EINVAL;
	}
	if (n > ADMIN_NAME_MAX) {
		snprintf(why, cap, "the user name is longer than %d characters", ADMIN_NAME_MAX);
		return EINVAL;
	}
	for (const char *p = name; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr(extra, ch))
			continue;
		if (ch == '@' || ch == ':')
			snprintf(why, cap, "the user name must not contain '%c' (give the domain "
				 "with --domain)", ch);
		else if (ch >= 0x20 && ch < 0x7f)
			snprintf(why, cap, "the user name must not contain '%c' (allowed: letters, "
				 "digits and %s)", ch, extra);
		else
			snprintf(why, cap, "the user name must not contain byte 0x%02x (allowed: "
				 "letters, digits and %s)", ch, extra);
		return EINVAL;
	}
	return 0;
}
