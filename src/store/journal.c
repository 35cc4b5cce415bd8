/*
 * store/journal.c: the on-disk queue of a remote store's writes (pg.c),
 * so that a write acknowledged while the database is unreachable survives
 * a crash of the node (issue 18: "an in-memory queue is not durable").
 *
 * File format: a fixed header line, then records, appended only.
 *   header  "bastion-journal 1 FFFFFFFFFFFFFFFF\n" (the 16 hex digits are the
 *           caller's format stamp: a file written by a build whose statements
 *           differ is refused rather than replayed into the wrong statement)
 *   record  le32 body length, le64 SipHash-2-4 of the body under a fixed key
 *           (a torn or garbled record, not an attacker: the file is ours and
 *           0600), then the body: le64 sequence number, u8 statement,
 *           u8 parameter count, the parameters as NUL-terminated strings.
 * A record is appended in one write(); journal_sync() fdatasyncs. Replay reads
 * records in order and stops at the first incomplete or garbled one: that is
 * the append a crash interrupted, never synced, so never acknowledged; the
 * file is cut there so later appends follow the last good record.
 *
 * An advisory lock (flock) keeps a second process off the same file.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/hash.h"

#define HDR_FMT "bastion-journal 1 %016" PRIx64 "\n"
#define HDR_LEN 35u /* strlen of the header: 18 + 16 + 1 */
#define REC_HEAD 12u
#define BODY_MIN 10u
#define BODY_MAX (1u << 20)

struct store_journal {
	int fd;
	uint64_t next_seq;  /* the sequence number of the next append */
	off_t size;         /* bytes written, header included */
	size_t records;     /* records in the file */
	bool dirty;         /* appended since the last sync */
	bool broken;        /* a torn record could not be cut: no more appends */
};

static const struct hash_key journal_key = { 0x6a6f75726e616cULL, 0x6261737469ULL };

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int sync_dir_of(const char *path)
{
	char dir[1100];
	const char *slash = strrchr(path, '/');
	int fd, e = 0;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if ((size_t)(slash - path) >= sizeof(dir))
		return ENAMETOOLONG;
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fsync(fd) != 0)
		e = errno;
	close(fd);
	return e;
}

int store_journal_open(struct store_journal **jp, const char *path, uint64_t stamp, char *err,
		       size_t errlen)
{
	struct store_journal *j;
	char hdr[HDR_LEN + 1], want[HDR_LEN + 1];
	struct stat st;
	bool fresh;
	int e;

	if (!jp || !path || !*path)
		return EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return ENOMEM;
	j->next_seq = 1;
	snprintf(want, sizeof(want), HDR_FMT, stamp);
	j->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (j->fd < 0) {
		e = errno;
		snprintf(err, errlen, "journal %s: %s", path, strerror(e));
		goto fail;
	}
	if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
		e = errno == EWOULDBLOCK ? EBUSY : errno;
		snprintf(err, errlen, "journal %s: in use by another process", path);
		goto fail;
	}
	if (fstat(j->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		e = EINVAL;
		snprintf(err, errlen, "journal %s: not a regular file", path);
		goto fail;
	}
	fresh = st.st_size == 0;
	if (fresh) {
		if ((e = write_all(j->fd, want, HDR_LEN)) != 0 || fdatasync(j->fd) != 0 ||
		    (e = sync_dir_of(path)) != 0) {
			e = e ? e : errno;
			snprintf(err, errlen, "journal %s: cannot write: %s", path, strerror(e));
			goto fail;
		}
	} else if (st.st_size == HDR_LEN && pread(j->fd, hdr, HDR_LEN, 0) == (ssize_t)HDR_LEN &&
		   memcmp(hdr, want, 18) == 0 && memcmp(hdr, want, HDR_LEN) != 0) {
		/* An empty queue of another build: nothing to replay, take it over. */
		e = 0;
		if (ftruncate(j->fd, 0) != 0 || (e = write_all(j->fd, want, HDR_LEN)) != 0 ||
		    fdatasync(j->fd) != 0) {
			e = e ? e : errno;
			snprintf(err, errlen, "journal %s: cannot write: %s", path, strerror(e));
			goto fail;
		}
	} else if (pread(j->fd, hdr, HDR_LEN, 0) != (ssize_t)HDR_LEN ||
		   memcmp(hdr, want, HDR_LEN) != 0) {
		e = EPROTO;
		hdr[HDR_LEN] = '\0';
		snprintf(err, errlen,
			 "journal %s: not written by this build (its header differs); start the "
			 "build that wrote it to write its queue, or move the file away",
			 path);
		goto fail;
	}
	j->size = HDR_LEN;
	*jp = j;
	return 0;
fail:
	if (j->fd >= 0)
		close(j->fd);
	free(j);
	return e;
}

void store_journal_close(struct store_journal **jp)
{
	if (!jp || !*jp)
		return;
	close((*jp)->fd);
	free(*jp);
	*jp = NULL;
}

int store_journal_replay(struct store_journal *j, store_journal_fn *fn, void *arg)
{
	uint8_t head[REC_HEAD];
	uint8_t *body = NULL;
	const char *params[STORE_JOURNAL_PARAMS_MAX];
	off_t off = HDR_LEN;
	int e = 0;

	for (;;) {
		uint32_t len;
		ssize_t r = pread(j->fd, head, REC_HEAD, off);
		uint64_t seq;
		unsigned st, n;
		const char *p, *end;

		if (r != (ssize_t)REC_HEAD)
			break; /* end, or a torn record head */
		len = (uint32_t)get_le(head, 4);
		if (len < BODY_MIN || len > BODY_MAX)
			break;
		free(body);
		if (!(body = malloc(len))) {
			e = ENOMEM;
			goto out;
		}
		if (pread(j->fd, body, len, off + REC_HEAD) != (ssize_t)len ||
		    hash_siphash(&journal_key, body, len) != get_le(head + 4, 8) ||
		    body[len - 1] != '\0')
			break;
		seq = get_le(body, 8);
		st = body[8];
		n = body[9];
		if (n > STORE_JOURNAL_PARAMS_MAX || seq < j->next_seq)
			break;
		p = (const char *)body + BODY_MIN;
		end = (const char *)body + len;
		for (unsigned i = 0; i < n; i++) {
			if (p >= end)
				break;
			params[i] = p;
			p += strlen(p) + 1;
		}
		if (p != end)
			break;
		j->next_seq = seq + 1;
		j->records++;
		off += REC_HEAD + len;
		if ((e = fn(arg, seq, st, (int)n, params)) != 0)
			goto out;
	}
	/* Cut a torn tail so later appends follow the last good record. */
	if (ftruncate(j->fd, off) != 0 || fdatasync(j->fd) != 0) {
		e = errno;
		goto out;
	}
	j->size = off;
out:
	free(body);
	return e;
}

int store_journal_append(struct store_journal *j, uint64_t *seq, unsigned st, int n,
			 const char *const *params)
{
	size_t len = BODY_MIN;
	uint8_t *rec, *w;
	int e;

	if (!j || n < 0 || n > STORE_JOURNAL_PARAMS_MAX || st > 255)
		return EINVAL;
	if (j->broken)
		return EIO;
	for (int i = 0; i < n; i++)
		len += strlen(params[i]) + 1;
	if (len > BODY_MAX)
		return EOVERFLOW;
	if (!(rec = malloc(REC_HEAD + len)))
		return ENOMEM;
	w = rec + REC_HEAD;
	put_le(w, j->next_seq, 8);
	w[8] = (uint8_t)st;
	w[9] = (uint8_t)n;
	w += BODY_MIN;
	for (int i = 0; i < n; i++) {
		size_t k = strlen(params[i]) + 1;

		memcpy(w, params[i], k);
		w += k;
	}
	put_le(rec, len, 4);
	put_le(rec + 4, hash_siphash(&journal_key, rec + REC_HEAD, len), 8);
	e = write_all(j->fd, rec, REC_HEAD + len);
	free(rec);
	if (e) {
		/* Leave no partial record behind for the next append to follow;
		 * when it cannot be cut, append nothing more (the reader stops at
		 * the torn record, so a record after it would be lost) */
		if (ftruncate(j->fd, j->size) != 0 || lseek(j->fd, j->size, SEEK_SET) < 0)
			j->broken = true;
		return e;
	}
	j->size += (off_t)(REC_HEAD + len);
	j->records++;
	j->dirty = true;
	*seq = j->next_seq++;
	return 0;
}

int store_journal_sync(struct store_journal *j)
{
	if (!j)
		return EINVAL;
	if (!j->dirty)
		return 0;
	if (fdatasync(j->fd) != 0)
		return errno;
	j->dirty = false;
	return 0;
}

int store_journal_reset(struct store_journal *j)
{
	if (!j)
		return EINVAL;
	if (j->records == 0)
		return 0;
	if (ftruncate(j->fd, HDR_LEN) != 0 || lseek(j->fd, HDR_LEN, SEEK_SET) < 0 ||
	    fdatasync(j->fd) != 0)
		return errno;
	j->size = HDR_LEN;
	j->records = 0;
	j->dirty = false;
	return 0;
}

void store_journal_seq_at_least(struct store_journal *j, uint64_t seq)
{
	if (j && j->next_seq < seq)
		j->next_seq = seq;
}

size_t store_journal_records(const struct store_journal *j)
{
	return j ? j->records : 0;
}
