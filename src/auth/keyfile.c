/*
 * The server key file: 32 random bytes that key the nonce HMAC. Whoever
 * reads it can mint nonces, so it is created 0600 and refused when group
 * or others may read it (as ssh refuses a private key), or when it is owned
 * by someone else.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

int auth_key_generate(const char *path)
{
	uint8_t key[AUTH_KEY_LEN];
	int err;

	if (!path || !*path)
		return EINVAL;
	if (RAND_bytes(key, sizeof(key)) != 1)
		return EIO;
	/* mode exactly 0600, never over an existing file or through a link,
	 * and a crash never leaves a short key (base_file_create) */
	err = base_file_create(path, key, sizeof(key), 0600);
	OPENSSL_cleanse(key, sizeof(key));
	return err;
}

int auth_key_load(uint8_t key[AUTH_KEY_LEN], const char *path)
{
	struct stat st;
	uint8_t buf[AUTH_KEY_LEN + 1];
	size_t off = 0;
	int fd, err = 0;

	if (!key || !path || !*path)
		return EINVAL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0) {
		err = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = EINVAL;
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0 || (st.st_uid != geteuid() && st.st_uid != 0)) {
		err = EACCES;
		goto out;
	}
	if (st.st_size != AUTH_KEY_LEN) {
		err = EBADMSG;
		goto out;
	}
	/* Read one byte more than needed, in case the file grew since fstat. */
	while (off < sizeof(buf)) {
		ssize_t r = read(fd, buf + off, sizeof(buf) - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno;
			goto out;
		}
		if (r == 0)
			break;
		off += (size_t)r;
	}
	if (off != AUTH_KEY_LEN) {
		err = EBADMSG;
		goto out;
	}
	memcpy(key, buf, AUTH_KEY_LEN);
out:
	close(fd);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (err)
		OPENSSL_cleanse(key, AUTH_KEY_LEN);
	return err;
}

int auth_key_derive(uint8_t key[AUTH_KEY_LEN])
{
	uint8_t salt[16], out[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!key || RAND_bytes(salt, sizeof(salt)) != 1 ||
	    !HMAC(EVP_sha256(), key, AUTH_KEY_LEN, salt, sizeof(salt), out, &len) ||
	    len < AUTH_KEY_LEN)
		return EIO;
	memcpy(key, out, AUTH_KEY_LEN);
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}
