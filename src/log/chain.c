/*
 * chain: the hash chain that makes security.log and cdr.log tamper-evident
 * (log.h, "Tamper-evident logs").
 *
 * Every line gets two more keys at its end: "seq", its number in the chain
 * (1, 2, ... across files: rotation does not restart it), and "prev", the
 * SHA-256 (hex) of the previous line's bytes without its newline (64 zeros
 * for the first line of a chain). A checkpoint line
 *   {"time":...,"kind":"log.checkpoint","lines":N,"seq":S,"prev":H,"mac":M}
 * is part of the chain too; M = HMAC-SHA256(key, "bastion-log-v1|S|H"), so
 * it binds every line before it to the key: whoever rewrites the chain from
 * some line on can recompute the hashes but not the checkpoints after it.
 *
 * Opening a file that already has lines resumes from its last line (a
 * restart); opening an empty one after another file of the same chain
 * (SIGHUP after logrotate moved the file) continues the chain there.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define TAIL_MAX 65536

static uint8_t chain_key[LOG_KEY_LEN];
static bool chain_key_set;
static uint32_t checkpoint_interval_ms = 300000;

/* SHA-256 fetched once for the process (as the chain key is kept): the
 * one-shot SHA256() looks the algorithm up again for every line. */
static EVP_MD *line_md;

void log_line_hash(uint8_t out[32], const char *line, size_t len)
{
	if (len && line[len - 1] == '\n')
		len--;
	if (!line_md)
		line_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!line_md || !EVP_Digest(line, len, out, NULL, line_md, NULL))
		SHA256((const unsigned char *)line, len, out);
}

int log_checkpoint_mac(char out[65], const uint8_t *key, size_t keylen, uint64_t seq,
		       const char *prev_hex)
{
	char msg[128];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int n = snprintf(msg, sizeof(msg), "bastion-log-v1|%llu|%s", (unsigned long long)seq,
			 prev_hex);

	if (n < 0 || (size_t)n >= sizeof(msg) ||
	    !HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, (size_t)n, mac, &len) ||
	    len != 32)
		return EIO;
	hex_encode(out, mac, 32);
	return 0;
}

int log_key_read(uint8_t out[LOG_KEY_LEN], const char *path)
{
	struct stat st;
	ssize_t r;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0)
		err = errno;
	else if (!S_ISREG(st.st_mode) || st.st_size != LOG_KEY_LEN)
		err = EINVAL;
	else if (st.st_mode & 077)
		err = EACCES;
	else if ((r = read(fd, out, LOG_KEY_LEN)) != LOG_KEY_LEN)
		err = r < 0 ? errno : EINVAL;
	close(fd);
	return err;
}

int log_key_load(const char *path, bool create)
{
	uint8_t k[LOG_KEY_LEN];
	int fd, err;

	err = log_key_read(k, path);
	if (err == ENOENT && create) {
		if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k))
			return errno ? errno : EIO;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			err = errno;
			goto out;
		}
		err = write(fd, k, sizeof(k)) == (ssize_t)sizeof(k) && fsync(fd) == 0 ? 0
										 : (errno ? errno : EIO);
		close(fd);
		if (err)
			unlink(path);
	}
	if (!err) {
		memcpy(chain_key, k, sizeof(k));
		chain_key_set = true;
	}
out:
	OPENSSL_cleanse(k, sizeof(k));
	return err;
}

void log_key_forget(void)
{
	OPENSSL_cleanse(chain_key, sizeof(chain_key));
	chain_key_set = false;
}

void log_set_checkpoint_interval(uint32_t seconds)
{
	checkpoint_interval_ms = (seconds ? seconds : 1) * 1000u;
}

/* Resume c from the last line of the file at path, if it has one. */
static void resume(struct log_chain *c, const char *path)
{
	char *buf = NULL;
	struct stat st;
	off_t off;
	ssize_t r;
	size_t len, start, end;
	json_t *obj = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || st.st_size == 0)
		goto out;
	len = st.st_size > TAIL_MAX ? TAIL_MAX : (size_t)st.st_size;
	off = st.st_size - (off_t)len;
	buf = malloc(len);
	if (!buf || (r = pread(fd, buf, len, off)) != (ssize_t)len)
		goto out;
	c->torn = buf[len - 1] != '\n';
	end = c->torn ? len : len - 1;
	start = end;
	while (start > 0 && buf[start - 1] != '\n')
		start--;
	if (start == 0 && off > 0)
		goto out; /* a last line longer than we read: start over */
	log_line_hash(c->last, buf + start, end - start);
	c->have_last = true;
	c->seq = 0;
	obj = json_loadb(buf + start, end - start, 0, NULL);
	if (obj && json_is_integer(json_object_get(obj, "seq")) &&
	    json_integer_value(json_object_get(obj, "seq")) > 0)
		c->seq = (uint64_t)json_integer_value(json_object_get(obj, "seq"));
out:
	json_decref(obj);
	free(buf);
	close(fd);
}

/*
 * Several processes append to one log: the server, and the command line
 * (its admin.* events). Each append holds an exclusive flock on the file and
 * first checks that the file still ends where this process's last line
 * ended; when another process wrote since, the chain goes on from the file's
 * last line (its seq and hash), so the lines of both stay one chain.
 */
static void lock_and_sync(struct log_chain *c)
{
	struct stat st;

	/* The call-record log has one writer, the server (the command line
	 * writes only security events): its lines need no lock, and the end it
	 * knows is the file's. A failed write (end unknown) takes the full path
	 * once, which rereads the file's last line. */
	if (c->exclusive && c->end >= 0)
		return;
	(void)flock(c->fd, LOCK_EX); /* fails only on a bad fd: then unlocked, as before */
	c->locked = true;
	if (fstat(c->fd, &st) != 0) {
		c->end = -1;
		return;
	}
	if (st.st_size == c->end)
		return;
	c->end = st.st_size;
	if (c->path[0]) {
		struct log_chain probe = LOG_CHAIN_INIT;

		resume(&probe, c->path);
		if (probe.have_last) {
			c->seq = probe.seq;
			memcpy(c->last, probe.last, sizeof(c->last));
			c->have_last = true;
			c->torn = probe.torn;
		}
	}
}

/* The file (O_APPEND, and locked) now ends `written` bytes further on: no
 * second fstat per line. A failed write leaves the end unknown (-1), so the
 * next append reads the file's last line again. */
static void note_end_and_unlock(struct log_chain *c, size_t written, int err)
{
	if (err)
		c->end = -1;
	else if (c->end >= 0)
		c->end += (off_t)written;
	if (c->locked)
		(void)flock(c->fd, LOCK_UN);
	c->locked = false;
}

int log_chain_swap(struct log_chain *c, const char *path)
{
	struct log_chain old = *c;
	int fd = -1, err;

	if (path && path[0]) {
		err = log_file_open(path, &fd);
		if (err)
			return err;
	}
	if (c->fd >= 0 && c->uncovered)
		log_chain_checkpoint(c); /* closes the old file's part of the chain */
	if (c->fd >= 0)
		close(c->fd);
	c->fd = fd;
	c->torn = false;
	snprintf(c->path, sizeof(c->path), "%s", fd >= 0 ? path : "");
	if (fd >= 0) {
		struct log_chain probe = { .fd = -1 };

		resume(&probe, path);
		if (probe.have_last) {
			/* a file with lines: this is where the chain goes on */
			c->seq = probe.seq;
			memcpy(c->last, probe.last, sizeof(c->last));
			c->have_last = true;
			c->torn = probe.torn;
		} else if (!old.have_last) {
			c->seq = 0;
			memset(c->last, 0, sizeof(c->last));
		} /* else: an empty file after a rotation continues the chain */
		{
			struct stat st;
			c->end = fstat(fd, &st) == 0 ? st.st_size : -1;
		}
	}
	c->uncovered = 0;
	return 0;
}

void log_chain_close(struct log_chain *c)
{
	if (c->fd >= 0 && c->uncovered)
		log_chain_checkpoint(c);
	if (c->fd >= 0)
		close(c->fd);
	/* the chain of this process ends here; a later open resumes from the file */
	*c = (struct log_chain)LOG_CHAIN_INIT;
}

/* What fills a line once its seq and prev are known (under the lock): its
 * length, newline included, or 0 when it cannot be made. */
typedef size_t(chain_fill_fn)(void *arg, uint64_t seq, const char *prev, char *line,
			      size_t cap);

static int chain_append(struct log_chain *c, chain_fill_fn *fill, void *arg, char *line,
			size_t cap, size_t *np)
{
	char prev[65];
	size_t n;
	int err;

	if (c->fd < 0)
		return EBADF;
	lock_and_sync(c);
	if (c->torn) {
		/* the file ended inside a line when it was opened (a crash mid-write,
		 * or another process writing at that moment): if it still does, end
		 * that line so ours stays whole (verify reports the cut one) */
		struct stat st;
		char last = '\n';
		int rfd = -1;

		if (fstat(c->fd, &st) == 0 && st.st_size > 0 && c->path[0] &&
		    (rfd = open(c->path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) >= 0 &&
		    pread(rfd, &last, 1, st.st_size - 1) == 1 && last != '\n')
			c->end = log_write_line(c->fd, "\n", 1) == 0 && c->end >= 0 ? c->end + 1 : -1;
		if (rfd >= 0)
			close(rfd);
		c->torn = false;
	}
	hex_encode(prev, c->last, 32);
	n = fill(arg, c->seq + 1, prev, line, cap);
	if (n == 0) {
		note_end_and_unlock(c, 0, 0);
		return ENOMEM;
	}
	err = log_write_line(c->fd, line, n);
	note_end_and_unlock(c, n, err);
	if (err)
		return err;
	c->seq++;
	log_line_hash(c->last, line, n);
	c->have_last = true;
	if (c->uncovered++ == 0)
		c->first_uncovered_ms = log_now_ms();
	*np = n;
	return 0;
}

static size_t fill_jw(void *arg, uint64_t seq, const char *prev, char *line, size_t cap)
{
	struct log_jw *w = arg;

	(void)line;
	(void)cap;
	return log_jw_end(w, seq, prev);
}

int log_chain_write_jw(struct log_chain *c, struct log_jw *w, size_t *np)
{
	return chain_append(c, fill_jw, w, w->p, w->cap, np);
}

int log_chain_checkpoint(struct log_chain *c)
{
	char stamp[48], prev[65], mac[65], line[1024];
	json_t *obj;
	size_t n;
	int err = 0;

	if (c->fd < 0 || !chain_key_set)
		return c->fd < 0 ? EBADF : ENOKEY;
	lock_and_sync(c);
	hex_encode(prev, c->last, 32);
	if ((err = log_checkpoint_mac(mac, chain_key, sizeof(chain_key), c->seq + 1, prev)) != 0) {
		note_end_and_unlock(c, 0, 0);
		return err;
	}
	log_stamp_ms(stamp, sizeof(stamp), log_now_ms());
	obj = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s}", "time", stamp, "kind", LOG_CHECKPOINT_KIND,
			"lines", (json_int_t)c->uncovered, "seq", (json_int_t)(c->seq + 1), "prev",
			prev, "mac", mac);
	n = obj ? log_json_line(line, sizeof(line), obj) : 0;
	json_decref(obj);
	err = n == 0 ? ENOMEM : log_write_line(c->fd, line, n);
	note_end_and_unlock(c, n, err);
	if (err)
		return err;
	c->seq++;
	log_line_hash(c->last, line, n);
	c->uncovered = 0;
	return 0;
}

void log_chain_tick(struct log_chain *c, int64_t now_ms)
{
	if (c->fd >= 0 && c->uncovered && chain_key_set &&
	    now_ms - c->first_uncovered_ms >= (int64_t)checkpoint_interval_ms)
		log_chain_checkpoint(c);
}
