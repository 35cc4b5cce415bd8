/*
 * store_tmp: a scratch directory under /tmp for the store tests, one fresh
 * database path per case, everything removed when the suite ends (also after
 * failing cases, which return early).
 */
#ifndef BASTION_STORE_TMP_H
#define BASTION_STORE_TMP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[64];
static unsigned tmp_seq;

static int tmp_init(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/bastion-store-XXXXXX");
	if (!mkdtemp(tmp_dir)) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

/* A new database path in the scratch directory. */
static const char *tmp_db(char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/db%u.sqlite", tmp_dir, ++tmp_seq);
	return buf;
}

static void tmp_cleanup(void)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmp_dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(tmp_dir);
}

#endif
