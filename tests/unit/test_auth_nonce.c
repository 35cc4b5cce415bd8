/*
 * auth nonces, challenges and the key file: round trip, expiry and skew on
 * a clock the test drives, every single-character tampering refused, the
 * exact challenge text, and key file creation and permission checks.
 */
#include "auth/auth.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t key[AUTH_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
					   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };
static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
#define T0 1700000000u

/* The replay table that issues the nonces' sequence numbers. */
static struct auth_nc_table *nc;

static void test_nonce_round_trip(void)
{
	char n1[AUTH_NONCE_LEN + 1], n2[AUTH_NONCE_LEN + 1];
	uint64_t age = 99;

	CHECK_INT(auth_nonce_make(key, nc, T0, n1), 0);
	CHECK_INT(strlen(n1), AUTH_NONCE_LEN);
	CHECK_INT(strspn(n1, alphabet), AUTH_NONCE_LEN);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n1), T0, 300, &age), AUTH_NONCE_OK);
	CHECK_INT(age, 0);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n1), T0 + 42, 300, &age), AUTH_NONCE_OK);
	CHECK_INT(age, 42);
	/* Same second, different nonce: the sequence number. */
	CHECK_INT(auth_nonce_make(key, nc, T0, n2), 0);
	CHECK(strcmp(n1, n2) != 0);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n2), T0, 300, NULL), AUTH_NONCE_OK);
	/* A table is required: it issues the sequence number. */
	CHECK_INT(auth_nonce_make(key, NULL, T0, n2), EINVAL);
}

static void test_nonce_expiry(void)
{
	char n[AUTH_NONCE_LEN + 1];
	uint64_t age = 0;

	CHECK_INT(auth_nonce_make(key, nc, T0, n), 0);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n), T0 + 300, 300, &age), AUTH_NONCE_OK);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n), T0 + 301, 300, &age), AUTH_NONCE_STALE);
	CHECK_INT(age, 301);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n), T0 + 86400 * 365, 300, &age), AUTH_NONCE_STALE);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n), T0 + 10, 5, NULL), AUTH_NONCE_STALE);
}

static void test_nonce_future(void)
{
	char n[AUTH_NONCE_LEN + 1];
	uint64_t age = 7;

	CHECK_INT(auth_nonce_make(key, nc, T0 + AUTH_NONCE_SKEW_S, n), 0);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n), T0, 300, &age), AUTH_NONCE_OK);
	CHECK_INT(age, 0);
	CHECK_INT(auth_nonce_make(key, nc, T0 + AUTH_NONCE_SKEW_S + 1, n), 0);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n), T0, 300, NULL), AUTH_NONCE_BAD);
	/* Time zero and the far future both round-trip through the encoding. */
	CHECK_INT(auth_nonce_make(key, nc, 0, n), 0);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n), 0, 300, NULL), AUTH_NONCE_OK);
	CHECK_INT(auth_nonce_make(key, nc, UINT64_MAX, n), 0);
	CHECK_INT(auth_nonce_check(key, slice_cstr(n), UINT64_MAX, 300, NULL), AUTH_NONCE_OK);
}

static void test_nonce_tamper_every_char(void)
{
	char n[AUTH_NONCE_LEN + 1], m[AUTH_NONCE_LEN + 1];

	CHECK_INT(auth_nonce_make(key, nc, T0, n), 0);
	for (size_t i = 0; i < AUTH_NONCE_LEN; i++) {
		/* Every other character of the alphabet at position i. */
		for (size_t a = 0; a < sizeof(alphabet) - 1; a++) {
			if (alphabet[a] == n[i])
				continue;
			memcpy(m, n, sizeof(m));
			m[i] = alphabet[a];
			if (auth_nonce_check(key, slice_cstr(m), T0, 300, NULL) != AUTH_NONCE_BAD) {
				check_fail(__FILE__, __LINE__, "tampered nonce accepted at %zu: %s", i, m);
				return;
			}
		}
		/* And a bit flip, which may leave the alphabet. */
		memcpy(m, n, sizeof(m));
		m[i] ^= 1;
		CHECK_INT(auth_nonce_check(key, slice_cstr(m), T0, 300, NULL), AUTH_NONCE_BAD);
	}
}

static void test_nonce_garbage(void)
{
	char n[AUTH_NONCE_LEN + 2];
	uint8_t other[AUTH_KEY_LEN];

	CHECK_INT(auth_nonce_make(key, nc, T0, n), 0);
	CHECK_INT(auth_nonce_check(key, slice_make(n, AUTH_NONCE_LEN - 1), T0, 300, NULL),
		  AUTH_NONCE_BAD);
	n[AUTH_NONCE_LEN] = 'A';
	n[AUTH_NONCE_LEN + 1] = '\0';
	CHECK_INT(auth_nonce_check(key, slice_make(n, AUTH_NONCE_LEN + 1), T0, 300, NULL),
		  AUTH_NONCE_BAD);
	CHECK_INT(auth_nonce_check(key, slice_make(n, AUTH_NONCE_LEN), T0, 300, NULL), AUTH_NONCE_OK);
	CHECK_INT(auth_nonce_check(key, SLICE_NULL, T0, 300, NULL), AUTH_NONCE_BAD);
	CHECK_INT(auth_nonce_check(key, SLICE_LIT("dcd98b7102dd2f0e8b11d0f600bfb0c093"), T0, 300, NULL),
		  AUTH_NONCE_BAD);
	/* Another key. */
	memcpy(other, key, sizeof(other));
	other[31] ^= 0x80;
	CHECK_INT(auth_nonce_check(other, slice_make(n, AUTH_NONCE_LEN), T0, 300, NULL),
		  AUTH_NONCE_BAD);
	/* Standard base64 characters are not base64url. */
	n[5] = '+';
	CHECK_INT(auth_nonce_check(key, slice_make(n, AUTH_NONCE_LEN), T0, 300, NULL), AUTH_NONCE_BAD);
}

/* ---- challenges ------------------------------------------------------------ */

static void test_challenge_text(void)
{
	char buf[256];
	size_t len = 0;

	CHECK_INT(auth_challenge_write(buf, sizeof(buf), &len, SLICE_LIT("bastion.test"),
				       SLICE_LIT("NONCE"), AUTH_ALGO_SHA256, true, SLICE_NULL),
		  0);
	CHECK_SLICE(slice_make(buf, len),
		    "Digest realm=\"bastion.test\", nonce=\"NONCE\", algorithm=SHA-256, qop=\"auth\", stale=true");
	CHECK_INT(strlen(buf), len);
	CHECK_INT(auth_challenge_write(buf, sizeof(buf), &len, SLICE_LIT("r"), SLICE_LIT("n"),
				       AUTH_ALGO_MD5, false, SLICE_LIT("op")),
		  0);
	CHECK_SLICE(slice_make(buf, len),
		    "Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth\", opaque=\"op\"");
}

/* Every room short of the whole challenge is EOVERFLOW with an empty,
 * terminated buffer; the exact room (text and NUL) is enough. Opaque and
 * stale together, so every piece meets the end of the room once. */
static void test_challenge_every_cap(void)
{
	const char *want = "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256, qop=\"auth\", "
			   "opaque=\"op\", stale=true";
	char buf[128];
	size_t len = 0;

	for (size_t cap = 0; cap <= strlen(want); cap++) {
		memset(buf, 'x', sizeof(buf));
		CHECK_INT(auth_challenge_write(buf, cap, &len, SLICE_LIT("r"), SLICE_LIT("n"),
					       AUTH_ALGO_SHA256, true, SLICE_LIT("op")),
			  EOVERFLOW);
		if (cap)
			CHECK_INT(buf[0], '\0');
		else
			CHECK_INT(buf[0], 'x'); /* no room: nothing written */
	}
	memset(buf, 'x', sizeof(buf));
	CHECK_INT(auth_challenge_write(buf, strlen(want) + 1, &len, SLICE_LIT("r"), SLICE_LIT("n"),
				       AUTH_ALGO_SHA256, true, SLICE_LIT("op")),
		  0);
	CHECK_SLICE(slice_make(buf, len), want);
	CHECK_INT(buf[len], '\0');
	/* len may be NULL */
	CHECK_INT(auth_challenge_write(buf, sizeof(buf), NULL, SLICE_LIT("r"), SLICE_LIT("n"),
				       AUTH_ALGO_MD5, false, SLICE_NULL),
		  0);
	CHECK_SLICE(slice_cstr(buf), "Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth\"");
}

static void test_challenge_refusals(void)
{
	char buf[256];
	size_t len = 0;
	const char *want = "Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth\"";

	CHECK_INT(auth_challenge_write(buf, strlen(want), &len, SLICE_LIT("r"), SLICE_LIT("n"),
				       AUTH_ALGO_MD5, false, SLICE_NULL),
		  EOVERFLOW);
	CHECK_INT(auth_challenge_write(buf, strlen(want) + 1, &len, SLICE_LIT("r"), SLICE_LIT("n"),
				       AUTH_ALGO_MD5, false, SLICE_NULL),
		  0);
	CHECK_SLICE(slice_make(buf, len), want);
	CHECK_INT(auth_challenge_write(buf, sizeof(buf), &len, SLICE_LIT("a\"b"), SLICE_LIT("n"),
				       AUTH_ALGO_MD5, false, SLICE_NULL),
		  EINVAL);
	CHECK_INT(auth_challenge_write(buf, sizeof(buf), &len, SLICE_LIT("a\r\nX: y"), SLICE_LIT("n"),
				       AUTH_ALGO_MD5, false, SLICE_NULL),
		  EINVAL);
	CHECK_INT(auth_challenge_write(buf, sizeof(buf), &len, SLICE_LIT("r"), SLICE_LIT("n\\"),
				       AUTH_ALGO_MD5, false, SLICE_NULL),
		  EINVAL);
	CHECK_INT(auth_challenge_write(buf, sizeof(buf), &len, SLICE_LIT("r"), SLICE_LIT("n"),
				       AUTH_ALGO_NONE, false, SLICE_NULL),
		  EINVAL);
	CHECK_INT(auth_challenge_write(buf, sizeof(buf), &len, SLICE_NULL, SLICE_LIT("n"),
				       AUTH_ALGO_MD5, false, SLICE_NULL),
		  EINVAL);
}

/* ---- key file ---------------------------------------------------------------- */

static char tmpdir[64];

static bool mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bastion-auth-XXXXXX");
	return mkdtemp(tmpdir) != NULL;
}

static void path_in(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static bool write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, p, n) == (ssize_t)n && fchmod(fd, mode) == 0;
	close(fd);
	return ok;
}

static void cleanup(const char *const *names, size_t n)
{
	char p[128];

	for (size_t i = 0; i < n; i++) {
		path_in(p, sizeof(p), names[i]);
		unlink(p);
	}
	rmdir(tmpdir);
}

static void test_key_generate_and_load(void)
{
	static const char *const names[] = { "k1", "k2" };
	char p1[128], p2[128];
	uint8_t k1[AUTH_KEY_LEN], k2[AUTH_KEY_LEN], raw[AUTH_KEY_LEN + 1];
	struct stat st;
	size_t len = 0;
	char *data;

	CHECK(mk_tmpdir());
	path_in(p1, sizeof(p1), "k1");
	path_in(p2, sizeof(p2), "k2");
	CHECK_INT(auth_key_generate(p1), 0);
	CHECK_INT(stat(p1, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0600);
	CHECK_INT(st.st_size, AUTH_KEY_LEN);
	CHECK_INT(auth_key_generate(p1), EEXIST);
	CHECK_INT(auth_key_load(k1, p1), 0);
	data = check_read_file(p1, &len);
	CHECK(data != NULL);
	CHECK_INT(len, AUTH_KEY_LEN);
	memcpy(raw, data, AUTH_KEY_LEN);
	free(data);
	CHECK(memcmp(raw, k1, AUTH_KEY_LEN) == 0);
	CHECK_INT(auth_key_generate(p2), 0);
	CHECK_INT(auth_key_load(k2, p2), 0);
	CHECK(memcmp(k1, k2, AUTH_KEY_LEN) != 0);
	/* 0400 is fine too: no group or other bit. */
	CHECK_INT(chmod(p2, 0400), 0);
	CHECK_INT(auth_key_load(k2, p2), 0);
	cleanup(names, ARRAY_SIZE(names));
}

static void test_key_refusals(void)
{
	static const char *const names[] = { "k", "short", "long", "link", "dir" };
	char p[128], ps[128], pl[128], plink[128], pdir[128];
	uint8_t k[AUTH_KEY_LEN], junk[AUTH_KEY_LEN + 1] = { 0 };
	const mode_t bad_modes[] = { 0644, 0640, 0604, 0620, 0602, 0610, 0601, 0660 };

	CHECK(mk_tmpdir());
	path_in(p, sizeof(p), "k");
	path_in(ps, sizeof(ps), "short");
	path_in(pl, sizeof(pl), "long");
	path_in(plink, sizeof(plink), "link");
	path_in(pdir, sizeof(pdir), "dir");
	CHECK_INT(auth_key_generate(p), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad_modes); i++) {
		CHECK_INT(chmod(p, bad_modes[i]), 0);
		memset(k, 0xaa, sizeof(k));
		if (auth_key_load(k, p) != EACCES) {
			check_fail(__FILE__, __LINE__, "mode %o not refused", (unsigned)bad_modes[i]);
			cleanup(names, ARRAY_SIZE(names));
			return;
		}
		/* Nothing of the key is left in the output on failure. */
		for (size_t j = 0; j < sizeof(k); j++)
			CHECK_INT(k[j], 0);
	}
	CHECK_INT(chmod(p, 0600), 0);
	CHECK_INT(auth_key_load(k, p), 0);
	CHECK(write_file(ps, junk, AUTH_KEY_LEN - 1, 0600));
	CHECK_INT(auth_key_load(k, ps), EBADMSG);
	CHECK(write_file(pl, junk, AUTH_KEY_LEN + 1, 0600));
	CHECK_INT(auth_key_load(k, pl), EBADMSG);
	CHECK_INT(symlink(p, plink), 0);
	CHECK_INT(auth_key_load(k, plink), ELOOP);
	/* generate never writes through a link or over a file. */
	CHECK_INT(auth_key_generate(plink), EEXIST);
	CHECK_INT(auth_key_generate(pl), EEXIST);
	CHECK_INT(mkdir(pdir, 0700), 0);
	CHECK_INT(auth_key_load(k, pdir), EINVAL);
	rmdir(pdir);
	path_in(ps, sizeof(ps), "absent");
	CHECK_INT(auth_key_load(k, ps), ENOENT);
	CHECK_INT(auth_key_load(k, ""), EINVAL);
	cleanup(names, ARRAY_SIZE(names));
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_nonce_round_trip),
		CASE(test_nonce_expiry),
		CASE(test_nonce_future),
		CASE(test_nonce_tamper_every_char),
		CASE(test_nonce_garbage),
		CASE(test_challenge_text),
		CASE(test_challenge_refusals),
		CASE(test_challenge_every_cap),
		CASE(test_key_generate_and_load),
		CASE(test_key_refusals),
	};

	int rc;

	if (auth_nc_table_new(&nc, AUTH_NC_WINDOW_MIN, AUTH_NC_CAPACITY_MIN) != 0) {
		fprintf(stderr, "auth_nonce: cannot make the replay table\n");
		return 1;
	}
	rc = check_main("auth_nonce", cases, ARRAY_SIZE(cases), argc, argv);
	auth_nc_table_free(&nc);
	return rc;
}
