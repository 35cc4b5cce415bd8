/*
 * admin history: when the state was made, last backed up, restored and had
 * each kind of key or credential rotated, for `bastion audit`. One line per
 * operation, "UNIX-SECONDS KIND", appended to DIR/history (mode 0600) with
 * one write(2); the audit reads the latest of each kind. A file rather than
 * a table: the backup carries it, and it needs no schema migration.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../conf/conf.h"
#include "internal.h"

static const char *const names[ADMIN_HIST__COUNT] = {
	[ADMIN_HIST_INIT] = "init",
	[ADMIN_HIST_BACKUP] = "backup",
	[ADMIN_HIST_RESTORE] = "restore",
	[ADMIN_HIST_SERVER_KEY] = "server-key",
	[ADMIN_HIST_CA] = "ca",
	[ADMIN_HIST_NONCE_KEY] = "nonce-key",
	[ADMIN_HIST_TICKET_KEYS] = "ticket-keys",
	[ADMIN_HIST_PASSWORDS] = "passwords",
	[ADMIN_HIST_CLIENT_CERTS] = "client-certs",
};

const char *admin_hist_name(enum admin_hist k)
{
	return (unsigned)k < ADMIN_HIST__COUNT ? names[k] : "?";
}

int admin_hist_add(const char *state, enum admin_hist k, int64_t t)
{
	char path[4200], line[64];
	int fd, n, rc = 0;

	if ((unsigned)k >= ADMIN_HIST__COUNT ||
	    conf_state_path(path, sizeof(path), state, STATE_HISTORY_FILE))
		return EINVAL;
	n = snprintf(line, sizeof(line), "%" PRId64 " %s\n", t, names[k]);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno;
	if (write(fd, line, (size_t)n) != n)
		rc = EIO;
	if (close(fd) != 0 && rc == 0)
		rc = errno;
	return rc;
}

int admin_hist_read(const char *state, int64_t last[ADMIN_HIST__COUNT])
{
	char path[4200], line[128], kind[32];
	long long t;
	FILE *f;

	for (int i = 0; i < ADMIN_HIST__COUNT; i++)
		last[i] = 0;
	if (conf_state_path(path, sizeof(path), state, STATE_HISTORY_FILE))
		return EINVAL;
	f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : errno;
	/* bounded: a line is short; a malformed one is skipped */
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lld %31s", &t, kind) != 2 || t <= 0)
			continue;
		for (int i = 0; i < ADMIN_HIST__COUNT; i++)
			if (strcmp(kind, names[i]) == 0 && t > last[i])
				last[i] = t;
	}
	fclose(f);
	return 0;
}
