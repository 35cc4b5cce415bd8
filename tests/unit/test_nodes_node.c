/*
 * nodes/ node.c: this node's id in the state directory (made once, 0600,
 * read back the same; bad contents, a link and an overlong path refused),
 * the store attached as this node (on PostgreSQL with its on-disk write
 * queue; on SQLite there is none) with an allocation-failure sweep, and the
 * decision on the store's connection, each change reported once.
 */
#include "check.h"
#include "nodes/nodes.h"
#include "store_tmp.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

/* A fresh state directory under the suite's scratch directory. */
static const char *state_dir(char *buf, size_t cap)
{
	static unsigned n;

	snprintf(buf, cap, "%s/state%u", tmp_dir, ++n);
	return mkdir(buf, 0700) == 0 ? buf : NULL;
}

/* Remove the state directories (tmp_cleanup removes plain files only). */
static void remove_state_dirs(void)
{
	DIR *d = opendir(tmp_dir), *sub;
	struct dirent *e, *f;
	char p[512], q[800];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "state", 5) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmp_dir, e->d_name);
		if (!(sub = opendir(p)))
			continue;
		while ((f = readdir(sub)))
			if (strcmp(f->d_name, ".") != 0 && strcmp(f->d_name, "..") != 0) {
				snprintf(q, sizeof(q), "%s/%s", p, f->d_name);
				unlink(q);
			}
		closedir(sub);
		rmdir(p);
	}
	closedir(d);
}

static bool write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "w")))
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

static void remove_file(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static void id_made_once_and_kept(void)
{
	char dir[128], path[256], id[NODES_ID_MAX], again[NODES_ID_MAX], *text;
	struct stat st;
	size_t len = 0;

	CHECK(state_dir(dir, sizeof(dir)) != NULL);
	CHECK_INT(nodes_id(id, sizeof(id), dir), 0);
	CHECK_INT(strlen(id), 16);
	CHECK_INT(strspn(id, "0123456789abcdef"), 16);
	snprintf(path, sizeof(path), "%s/%s", dir, NODES_ID_FILE);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	text = check_read_file(path, &len);
	CHECK(text != NULL);
	CHECK(len == 17 && memcmp(text, id, 16) == 0 && text[16] == '\n');
	free(text);
	CHECK_INT(nodes_id(again, sizeof(again), dir), 0);
	CHECK_SLICE(slice_cstr(again), id);
	/* another state directory: another id */
	CHECK(state_dir(dir, sizeof(dir)) != NULL);
	CHECK_INT(nodes_id(again, sizeof(again), dir), 0);
	CHECK(strcmp(again, id) != 0);
}

static void id_of_the_operator_read(void)
{
	char dir[128], id[NODES_ID_MAX];

	CHECK(state_dir(dir, sizeof(dir)) != NULL);
	CHECK(write_file(dir, NODES_ID_FILE, "0a1b\n"));
	CHECK_INT(nodes_id(id, sizeof(id), dir), 0);
	CHECK_SLICE(slice_cstr(id), "0a1b");
	CHECK(write_file(dir, NODES_ID_FILE, "cafe")); /* no newline */
	CHECK_INT(nodes_id(id, sizeof(id), dir), 0);
	CHECK_SLICE(slice_cstr(id), "cafe");
	/* it must fit the caller's buffer with its NUL */
	CHECK_INT(nodes_id(id, 5, dir), 0);
	CHECK_INT(nodes_id(id, 4, dir), EINVAL);
}

static void id_refusals(void)
{
	static const char *const bad[] = { "", "\n", "CAFE\n", "ca fe\n", "cafe!\n", "\ncafe\n",
					   "-1\n" };
	char dir[128], link_to[256], path[256], id[NODES_ID_MAX], longdir[1200];

	CHECK(state_dir(dir, sizeof(dir)) != NULL);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK(write_file(dir, NODES_ID_FILE, bad[i]));
		if (nodes_id(id, sizeof(id), dir) != EINVAL)
			check_fail(__FILE__, __LINE__, "id file \"%s\" not refused", bad[i]);
	}
	/* more hex digits than an id holds: refused, not cut */
	memset(longdir, 'a', 100);
	longdir[100] = '\0';
	CHECK(write_file(dir, NODES_ID_FILE, longdir));
	CHECK_INT(nodes_id(id, sizeof(id), dir), EINVAL);
	longdir[NODES_ID_MAX] = '\0';
	CHECK(write_file(dir, NODES_ID_FILE, longdir));
	CHECK_INT(nodes_id(id, sizeof(id), dir), EINVAL);
	longdir[NODES_ID_MAX - 1] = '\0'; /* the longest */
	CHECK(write_file(dir, NODES_ID_FILE, longdir));
	CHECK_INT(nodes_id(id, sizeof(id), dir), 0);
	CHECK_INT(strlen(id), NODES_ID_MAX - 1);
	/* a link is not followed (a copied or planted file elsewhere) */
	remove_file(dir, NODES_ID_FILE);
	CHECK(write_file(dir, "elsewhere", "cafe\n"));
	snprintf(link_to, sizeof(link_to), "%s/elsewhere", dir);
	snprintf(path, sizeof(path), "%s/%s", dir, NODES_ID_FILE);
	CHECK_INT(symlink(link_to, path), 0);
	CHECK_INT(nodes_id(id, sizeof(id), dir), ELOOP);
	/* a state directory that is not there; a path too long */
	snprintf(path, sizeof(path), "%s/missing", dir);
	CHECK_INT(nodes_id(id, sizeof(id), path), ENOENT);
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	CHECK_INT(nodes_id(id, sizeof(id), longdir), ENAMETOOLONG);
}

static void attach_names_the_node(void)
{
	char dir[128], db[256], path[256], err[256], id[NODES_ID_MAX], made[NODES_ID_MAX];
	struct store *st = NULL;
	struct stat sb;

	CHECK(state_dir(dir, sizeof(dir)) != NULL);
	CHECK_INT(store_open(&st, tmp_db(db, sizeof(db)), err, sizeof(err)), 0);
	/* a bad id file: refused before the store is touched, the file named */
	CHECK(write_file(dir, NODES_ID_FILE, "NOT-HEX\n"));
	CHECK_INT(nodes_attach(st, dir, id, err, sizeof(err)), EINVAL);
	CHECK(strstr(err, NODES_ID_FILE ": cannot read or make the node id: not 1 to 63 "
			  "lowercase hex digits") != NULL);
	remove_file(dir, NODES_ID_FILE);
	CHECK_INT(nodes_attach(st, dir, id, err, sizeof(err)), 0);
	CHECK_INT(nodes_id(made, sizeof(made), dir), 0);
	CHECK_SLICE(slice_cstr(id), made);
	snprintf(path, sizeof(path), "%s/%s", dir, NODES_JOURNAL_FILE);
	/* PostgreSQL: the write queue is on disk; SQLite writes at once */
	CHECK_INT(stat(path, &sb) == 0, tmp_pg() != NULL);
	store_close(&st);
}

struct attach_oom {
	char dir[128];
	char db[256];
};

static int attach_once(void *arg)
{
	struct attach_oom *a = arg;
	char err[256], id[NODES_ID_MAX];
	struct store *st = NULL;
	int rc;

	if ((rc = store_open(&st, a->db, err, sizeof(err))) != 0)
		return rc;
	rc = nodes_attach(st, a->dir, id, err, sizeof(err));
	store_close(&st);
	return rc;
}

static void attach_out_of_memory(void)
{
	struct attach_oom a;

	CHECK(state_dir(a.dir, sizeof(a.dir)) != NULL);
	tmp_db(a.db, sizeof(a.db));
	CHECK(CHECK_OOM_SWEEP(attach_once, &a, 2000) > 1);
}

static void store_watch_reports_each_change_once(void)
{
	struct store_backend_stats bs = { .connected = true, .queue_max = 10 };
	bool down = false;

	CHECK_INT(nodes_store_watch(&down, &bs), NODES_STORE_SAME);
	bs.connected = false;
	bs.queued = 3;
	CHECK_INT(nodes_store_watch(&down, &bs), NODES_STORE_LOST);
	CHECK(down);
	CHECK_INT(nodes_store_watch(&down, &bs), NODES_STORE_SAME);
	/* back, but the queue is not written yet: not recovered */
	bs.connected = true;
	CHECK_INT(nodes_store_watch(&down, &bs), NODES_STORE_SAME);
	CHECK(down);
	bs.queued = 0;
	CHECK_INT(nodes_store_watch(&down, &bs), NODES_STORE_BACK);
	CHECK(!down);
	CHECK_INT(nodes_store_watch(&down, &bs), NODES_STORE_SAME);
	/* lost again while writes wait */
	bs.connected = false;
	CHECK_INT(nodes_store_watch(&down, &bs), NODES_STORE_LOST);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(id_made_once_and_kept),
		CASE(id_of_the_operator_read),
		CASE(id_refusals),
		CASE(attach_names_the_node),
		CASE(attach_out_of_memory),
		CASE(store_watch_reports_each_change_once),
	};
	int rc;

	if (tmp_init() != 0)
		return 1;
	rc = check_main("nodes_node", cases, ARRAY_SIZE(cases), argc, argv);
	remove_state_dirs();
	tmp_cleanup();
	return rc;
}
