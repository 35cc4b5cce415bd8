/*
 * node.c: this node among several (nodes.h): its id in the state
 * directory, the store attached as this node with its on-disk write queue,
 * and the decision the tick takes on the store's connection.
 */
#include "nodes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "../log/log.h"

#define NODE_ID_BYTES 8

/* The id in the file at path into out: 0, EINVAL, or open's errno. A
 * byte more than the longest id is read, so a longer one is refused, not
 * cut. */
static int id_read(char *out, size_t cap, const char *path)
{
	char buf[NODES_ID_MAX + 1];
	ssize_t n;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 1)
		return EINVAL;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	len = strlen(buf);
	if (!len || len + 1 > cap || strspn(buf, "0123456789abcdef") != len)
		return EINVAL;
	memcpy(out, buf, len + 1);
	return 0;
}

int nodes_id(char *out, size_t cap, const char *state)
{
	char path[1100], buf[2 * NODE_ID_BYTES + 2];
	uint8_t raw[NODE_ID_BYTES];
	int e;

	if (snprintf(path, sizeof(path), "%s/%s", state, NODES_ID_FILE) >= (int)sizeof(path))
		return ENAMETOOLONG;
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((e = id_read(out, cap, path)) != ENOENT)
			return e;
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return EIO;
		hex_encode(buf, raw, sizeof(raw));
		buf[2 * sizeof(raw)] = '\n';
		e = base_file_create(path, buf, 2 * sizeof(raw) + 1, 0600);
		if (e && e != EEXIST)
			return e;
	}
	return EIO;
}

int nodes_attach(struct store *st, const char *state, char *id, char *err, size_t errlen)
{
	char journal[1100];
	size_t replayed = 0;
	int e;

	if ((e = nodes_id(id, NODES_ID_MAX, state)) != 0) {
		snprintf(err, errlen, "%s/%s: cannot read or make the node id: %s", state,
			 NODES_ID_FILE,
			 e == EINVAL ? "not 1 to " NODES_ID_DIGITS " lowercase hex digits"
				     : strerror(e));
		return e;
	}
	if (snprintf(journal, sizeof(journal), "%s/%s", state, NODES_JOURNAL_FILE) >=
	    (int)sizeof(journal)) {
		snprintf(err, errlen, "%s/%s: the path is too long", state, NODES_JOURNAL_FILE);
		return ENAMETOOLONG;
	}
	e = store_node_attach(st, id, journal, &replayed);
	if (e == ENOTCONN) {
		log_warn("store: node %s: the database went away while the write queue of the "
			 "last run was replayed; the rest is written when it is back", id);
		return 0;
	}
	if (e) {
		snprintf(err, errlen, "store: node %s: %s", id, store_errmsg(st));
		return e;
	}
	if (replayed)
		log_notice("store: node %s: %zu queued writes of the last run written to the "
			   "database (from %s)",
			   id, replayed, journal);
	else
		log_info("store: node %s, write queue %s", id, journal);
	return 0;
}

enum nodes_store_change nodes_store_watch(bool *down, const struct store_backend_stats *bs)
{
	if (!bs->connected && !*down) {
		*down = true;
		return NODES_STORE_LOST;
	}
	if (bs->connected && *down && bs->queued == 0) {
		*down = false;
		return NODES_STORE_BACK;
	}
	return NODES_STORE_SAME;
}
