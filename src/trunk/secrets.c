/*
 * secrets.c: the peers' digest credentials ([trunks] secrets): the parser,
 * line by line (trunk_secrets_parse takes a whole text, pure; the caller
 * wipes them), and trunk_state_secrets_load, which reads the file when it
 * changed, as auth/keyfile.c reads the nonce key: refused unless only its
 * owner may read it, never through a link, never logged. The file is the
 * one thing trunk/ reads itself; it says what to log as a value.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "internal.h"

static bool value_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= TRUNK_SECRET_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
			return false;
	}
	return true;
}

int trunk_secret_set(struct trunk_secrets *t, const char *section, const char *key,
		     const char *value, char *err, size_t errlen)
{
	struct trunk_secret *s = NULL;
	char *field;

	if (!*section || strlen(section) >= TRUNK_NAME_MAX) {
		snprintf(err, errlen, "a section must name a peer");
		return EINVAL;
	}
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->s[i].peer, section) == 0)
			s = &t->s[i];
	if (!s) {
		if (t->n == TRUNK_MAX_PEERS) {
			snprintf(err, errlen, "more than %d peers", TRUNK_MAX_PEERS);
			return EINVAL;
		}
		s = &t->s[t->n++];
		memset(s, 0, sizeof(*s));
		strcpy(s->peer, section);
	}
	if (strcmp(key, "username") == 0)
		field = s->user;
	else if (strcmp(key, "password") == 0)
		field = s->password;
	else if (strcmp(key, "realm") == 0)
		field = s->realm;
	else {
		snprintf(err, errlen, "[%s]: unknown key \"%.32s\" (username, password, realm)",
			 section, key);
		return EINVAL;
	}
	if (!value_ok(value)) {
		/* never echo the value: it may be a password */
		snprintf(err, errlen, "[%s] %s: empty, too long, or with spaces, quotes, "
			 "backslashes or control bytes", section, key);
		return EINVAL;
	}
	strcpy(field, value);
	return 0;
}

int trunk_secrets_check(const struct trunk_secrets *t, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->n; i++) {
		if (!t->s[i].user[0] || !t->s[i].password[0]) {
			snprintf(err, errlen, "[%s] needs both username and password", t->s[i].peer);
			return EINVAL;
		}
	}
	return 0;
}

const struct trunk_secret *trunk_secret_of(const struct trunk_secrets *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->s[i].peer, name) == 0)
			return &t->s[i];
	return NULL;
}

void trunk_secrets_wipe(struct trunk_secrets *t)
{
	OPENSSL_cleanse(t, sizeof(*t));
}

struct secrets_parse {
	struct trunk_secrets *into;
	char *err;
	size_t errlen;
	bool failed;
};

static int secrets_line(void *arg, const char *section, const char *key, const char *value)
{
	struct secrets_parse *sp = arg;

	if (sp->failed)
		return 0;
	if (trunk_secret_set(sp->into, section, key, value, sp->err, sp->errlen) != 0) {
		sp->failed = true;
		return 0;
	}
	return 1;
}

int trunk_secrets_parse(struct trunk_secrets *out, const char *text, int *line, char *err,
			size_t errlen)
{
	struct secrets_parse sp = { out, err, errlen, false };

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	*line = ini_parse_string(text, secrets_line, &sp);
	if (*line != 0 || sp.failed || trunk_secrets_check(out, err, errlen) != 0) {
		if (!err[0])
			snprintf(err, errlen, "not an INI file");
		trunk_secrets_wipe(out);
		return EINVAL;
	}
	return 0;
}

void trunk_state_set_secrets(struct trunk_state *st, struct trunk_secrets *from)
{
	trunk_secrets_wipe(&st->secrets);
	st->secrets = *from;
	trunk_secrets_wipe(from);
}

const struct trunk_secrets *trunk_state_secrets(const struct trunk_state *st)
{
	return &st->secrets;
}

const struct trunk_secret *trunk_secrets_unknown(const struct trunk_secrets *t,
						 const struct trunk_conf *c,
						 const struct trunk_secret *after)
{
	for (size_t i = after ? (size_t)(after - t->s) + 1 : 0; i < t->n; i++) {
		bool known = false;
		for (size_t j = 0; j < c->npeers && !known; j++)
			known = strcmp(c->peer[j].name, t->s[i].peer) == 0;
		if (!known)
			return &t->s[i];
	}
	return NULL;
}

/* Is st the file seen last time (nothing to do)? */
static bool seen_same(const struct secrets_seen *w, const struct stat *st)
{
	return w->loaded && w->ino == (uint64_t)st->st_ino && w->dev == (uint64_t)st->st_dev &&
	       w->size == (uint64_t)st->st_size && w->mode == (uint32_t)st->st_mode &&
	       w->mtime_s == (int64_t)st->st_mtim.tv_sec && w->mtime_ns == (int64_t)st->st_mtim.tv_nsec;
}

int trunk_state_secrets_load(struct trunk_state *st, enum trunk_secrets_result *res,
			     const char *path, char *msg, size_t cap)
{
	struct secrets_seen *w = &st->secrets_seen;
	struct trunk_secrets *tmp = NULL;
	char err[200], *buf = NULL;
	struct stat fs;
	ssize_t got;
	size_t len = 0;
	int fd, line, rc = 0;

	*res = TRUNK_SECRETS_SAME;
	msg[0] = '\0';
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && w->loaded) {
			struct trunk_secrets none = { .n = 0 };
			*res = TRUNK_SECRETS_GONE;
			snprintf(msg, cap, "%s is gone: no peer credentials", path);
			trunk_state_set_secrets(st, &none);
			memset(w, 0, sizeof(*w));
		} else if (errno != ENOENT && !w->tried) {
			*res = TRUNK_SECRETS_FAILED;
			snprintf(msg, cap, "%s: %s: peer credentials not loaded", path, strerror(errno));
		}
		w->tried = true;
		return 0;
	}
	if (fstat(fd, &fs) != 0 || seen_same(w, &fs))
		goto out; /* unchanged */
	/* tried: not again until it changes */
	*w = (struct secrets_seen){ true, true, (uint64_t)fs.st_dev, (uint64_t)fs.st_ino,
				    (uint64_t)fs.st_size, (uint32_t)fs.st_mode,
				    (int64_t)fs.st_mtim.tv_sec, (int64_t)fs.st_mtim.tv_nsec };
	if (!S_ISREG(fs.st_mode) || (fs.st_mode & 077) || fs.st_size > TRUNK_SECRETS_FILE_MAX) {
		*res = TRUNK_SECRETS_FAILED;
		snprintf(msg, cap, "%s: refused: it must be a regular file of at most %d bytes that "
			 "only its owner may read (chmod 600); the peer credentials stay as they were",
			 path, TRUNK_SECRETS_FILE_MAX);
		goto out;
	}
	if (!(buf = malloc((size_t)fs.st_size + 1)) || !(tmp = calloc(1, sizeof(*tmp)))) {
		rc = ENOMEM;
		goto out;
	}
	while (len < (size_t)fs.st_size && (got = read(fd, buf + len, (size_t)fs.st_size - len)) > 0)
		len += (size_t)got;
	buf[len] = '\0';
	if (trunk_secrets_parse(tmp, buf, &line, err, sizeof(err)) != 0) {
		*res = TRUNK_SECRETS_FAILED;
		snprintf(msg, cap, "%s:%d: %s; the peer credentials stay as they were", path, line, err);
		goto out;
	}
	*res = TRUNK_SECRETS_LOADED;
	snprintf(msg, cap, "%s: credentials of %zu peer(s) loaded", path, tmp->n);
	trunk_state_set_secrets(st, tmp);
out:
	if (buf) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	if (tmp) {
		trunk_secrets_wipe(tmp);
		free(tmp);
	}
	close(fd);
	return rc;
}
