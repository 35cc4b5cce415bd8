/*
 * base/file.c: crash-safe creation of the files Bastion writes outside
 * SQLite (the nonce key, TLS keys and certificates, the CA, the initial
 * configuration, the demo credentials): temporary file, fsync, link into
 * place, fsync of the directory. See base_file_create in base.h.
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* fsync the directory holding path, so that a new name in it is durable. */
static int sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd, rc = 0;

	if (!slash) {
		dir[0] = '.';
		n = 1;
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir))
			return ENAMETOOLONG;
		memcpy(dir, path, n);
	}
	dir[n] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fsync(fd) != 0)
		rc = errno;
	close(fd);
	return rc;
}

int base_file_create(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[PATH_MAX];
	const char *slash, *name;
	const unsigned char *p = data;
	size_t off = 0;
	int fd, n, rc = 0;

	if (!path || !*path || (!data && len) || (mode & ~0777u))
		return EINVAL;
	slash = strrchr(path, '/');
	name = slash ? slash + 1 : path;
	if (!*name)
		return EINVAL;
	n = snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp-XXXXXX", (int)(name - path), path, name);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return errno;
	/* mkostemp made it 0600; the umask may only have removed bits */
	if (fchmod(fd, (mode_t)mode) != 0) {
		rc = errno;
		goto out;
	}
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? errno : EIO;
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		rc = errno;
out:
	if (close(fd) != 0 && !rc)
		rc = errno;
	/* link, not rename: an existing path (or a link planted there) is
	 * refused, as O_EXCL would */
	if (!rc && link(tmp, path) != 0)
		rc = errno;
	unlink(tmp);
	if (!rc && (rc = sync_dir(path)) != 0)
		unlink(path); /* the contract: on failure, path as it was */
	return rc;
}
