/*
 * secrets.c: the peers' digest credentials ([trunks] secrets), line by line
 * from the file server/trunk.c reads (trunk_secrets_parse takes its whole
 * text). Pure; the caller wipes them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "trunk.h"

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
