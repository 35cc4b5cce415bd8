/*
 * conf: the one loader of the settings table, which reads, validates,
 * documents and writes it. The rows are each layer's, in conf/LAYER_rows.c
 * (internal.h says why there); this file assembles them into one table in
 * the order of its registry. Adding a setting means adding a row to its
 * layer's file and a field in struct conf; the docs and the initial file
 * follow by themselves.
 */
#include "internal.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

const char *const conf_yes_no[] = { "no", "yes", NULL };
const char *const conf_profiles[] = { "minimum", "medium", "highest", NULL };

/* The sections in the order of the reference, bastion.conf and `config show`. */
static const struct {
	const struct conf_row *rows;
	const size_t *n;
} sections[] = {
#define SECTION(name) { conf_##name##_rows, &conf_##name##_rows_n }
	SECTION(server),    SECTION(limits),  SECTION(tcp),   SECTION(tls),
	SECTION(log),       SECTION(metrics), SECTION(store), SECTION(auth),
	SECTION(registrar), SECTION(proxy),   SECTION(guard), SECTION(policy),
	SECTION(emergency), SECTION(network), SECTION(trunks), SECTION(fraud),
#undef SECTION
};

size_t conf_rows_count(void)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
		n += *sections[i].n;
	if (n > CONF_MAX_SETTINGS) {
		/* A programming error the unit tests catch, like a bad default. */
		fprintf(stderr, "bastion: %zu settings rows: raise CONF_MAX_SETTINGS\n", n);
		abort();
	}
	return n;
}

const struct conf_row *conf_row_at(size_t i)
{
	for (size_t k = 0; k < ARRAY_SIZE(sections); k++) {
		if (i < *sections[k].n)
			return &sections[k].rows[i];
		i -= *sections[k].n;
	}
	return NULL;
}

const char *conf_profile_name(unsigned p)
{
	return p < CONF_PROFILE__COUNT ? conf_profiles[p] : NULL;
}

int conf_profile_parse(const char *s, enum conf_profile *out)
{
	for (unsigned i = 0; i < CONF_PROFILE__COUNT; i++) {
		if (strcmp(conf_profiles[i], s) == 0) {
			*out = (enum conf_profile)i;
			return 0;
		}
	}
	return EINVAL;
}

/* The row of (section, key) and its index in the table (*at), or NULL. */
static const struct conf_row *find_setting(const char *section, const char *key, size_t *at)
{
	for (size_t i = 0, n = conf_rows_count(); i < n; i++) {
		const struct conf_row *s = conf_row_at(i);

		if (strcmp(s->section, section) == 0 && strcmp(s->key, key) == 0) {
			if (at)
				*at = i;
			return s;
		}
	}
	return NULL;
}

static bool section_known(const char *section)
{
	for (size_t i = 0, n = conf_rows_count(); i < n; i++)
		if (strcmp(conf_row_at(i)->section, section) == 0)
			return true;
	return false;
}

/* A domain: a host name (letters, digits, '-', '.') or a numeric address. */
static bool host_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == ':'))
			return false;
	}
	return s[0] != '.' && s[0] != '-';
}

/* The next comma-separated word of a list, trimmed, into *w; *p moves past
 * it (NULL after the last). Start with list_start(). "a,,b" and "a," have an
 * empty word; an empty list has none. */
static const char *list_start(const char *list)
{
	return *list ? list : NULL;
}

static bool list_next(const char **p, struct slice *w)
{
	const char *end;

	if (!*p)
		return false;
	end = strchr(*p, ',');
	*w = slice_trim(slice_make(*p, end ? (size_t)(end - *p) : strlen(*p)));
	*p = end ? end + 1 : NULL;
	return true;
}

static int set_value(struct conf *c, const struct conf_row *s, const char *value, char *err,
		     size_t errlen)
{
	char *field = (char *)c + s->offset;

	switch (s->type) {
	case CONF_U32: {
		uint32_t v;
		int rc = slice_to_u32(slice_cstr(value), &v);
		if (rc || v < s->min || v > s->max) {
			snprintf(err, errlen, "%s: \"%s\" is not a whole number from %u to %u", s->key,
				 value, s->min, s->max);
			return EINVAL;
		}
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	case CONF_ENUM:
		for (uint32_t i = 0; s->choices[i]; i++) {
			if (strcmp(s->choices[i], value) == 0) {
				memcpy(field, &i, sizeof(i));
				return 0;
			}
		}
		snprintf(err, errlen, "%s: \"%s\" is not one of the allowed values", s->key, value);
		return EINVAL;
	case CONF_HOST:
		if (!host_valid(value)) {
			snprintf(err, errlen, "%s: \"%s\" is not a host name or IP address", s->key,
				 value);
			return EINVAL;
		}
		break;
	case CONF_LISTEN: {
		char why[256];
		if (net_listen_parse(c->listeners, NET_MAX_LISTEN, &c->nlisteners, value, why,
				     sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", s->key, why);
			return EINVAL;
		}
		break;
	}
	case CONF_ADDR: {
		char why[256], spec[200];
		struct net_listen_spec one;
		size_t n = 0, len = strlen(value);
		const char *colon = strrchr(value, ':');

		if (len == 0) {
			memset(&c->metrics_addr, 0, sizeof(c->metrics_addr));
			break;
		}
		if (len >= 128 || !colon || colon[1] == '\0' || (value[0] == '[' && colon[-1] != ']') ||
		    (value[0] != '[' && strchr(value, ':') != colon)) {
			snprintf(err, errlen, "%s: \"%.60s\" is not address:port ([v6]:port for IPv6)",
				 s->key, value);
			return EINVAL;
		}
		snprintf(spec, sizeof(spec), "tcp:%s", value);
		if (net_listen_parse(&one, 1, &n, spec, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", s->key, why);
			return EINVAL;
		}
		c->metrics_addr = one.addr;
		break;
	}
	case CONF_REMOTE: {
		const char *h, *colon;
		size_t hlen, len = strlen(value);
		uint32_t port;

		c->remote_host[0] = '\0';
		c->remote_port = 0;
		if (len == 0)
			break;
		if (len >= 300 || strncmp(value, "tls:", 4) != 0)
			goto bad_remote;
		h = value + 4;
		if (*h == '[') {
			const char *rb = strchr(h, ']');
			if (!rb || rb[1] != ':')
				goto bad_remote;
			hlen = (size_t)(rb - h - 1);
			h++;
			colon = rb + 1;
		} else {
			colon = strrchr(h, ':');
			if (!colon || memchr(h, ':', (size_t)(colon - h)))
				goto bad_remote;
			hlen = (size_t)(colon - h);
		}
		if (hlen == 0 || hlen >= sizeof(c->remote_host) ||
		    slice_to_u32(slice_cstr(colon + 1), &port) != 0 || port == 0 || port > 65535)
			goto bad_remote;
		for (size_t i = 0; i < hlen; i++) {
			char ch = h[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == ':'))
				goto bad_remote;
		}
		memcpy(c->remote_host, h, hlen);
		c->remote_host[hlen] = '\0';
		c->remote_port = (uint16_t)port;
		break;
	bad_remote:
		snprintf(err, errlen, "%s: \"%.80s\" is not tls:HOST:PORT", s->key, value);
		return EINVAL;
	}
	case CONF_REALM:
		if (*value && !host_valid(value)) {
			snprintf(err, errlen, "%s: \"%s\" is not a valid realm (letters, digits, '-', '.')",
				 s->key, value);
			return EINVAL;
		}
		break;
	case CONF_ALGOS:
		if (strcmp(value, "SHA-256,MD5") && strcmp(value, "MD5,SHA-256") &&
		    strcmp(value, "SHA-256") && strcmp(value, "MD5")) {
			snprintf(err, errlen, "%s: \"%s\" is not SHA-256,MD5 or MD5,SHA-256 or SHA-256 or MD5",
				 s->key, value);
			return EINVAL;
		}
		/* parsed once, here: the challenge path reads c->algos */
		c->nalgos = 0;
		for (const char *p = value; *p && c->nalgos < ARRAY_SIZE(c->algos);) {
			bool sha = strncmp(p, "SHA-256", 7) == 0;
			c->algos[c->nalgos++] = sha ? 2 : 1; /* enum auth_algo: MD5 1, SHA-256 2 */
			p += sha ? 7 : 3;
			if (*p == ',')
				p++;
		}
		break;
	case CONF_CIDRS:
	case CONF_WORDS: {
		char one[128];
		size_t n = 0, max = s->type == CONF_CIDRS ? GUARD_ALLOW_MAX : GUARD_SCANNER_MAX;

		struct slice w;

		for (const char *p = list_start(value); list_next(&p, &w);) {
			if (w.len == 0 || w.len >= sizeof(one) || ++n > max) {
				snprintf(err, errlen, "%s: %s", s->key,
					 n > max ? "too many entries" : "empty or overlong entry");
				return EINVAL;
			}
			memcpy(one, w.p, w.len);
			one[w.len] = '\0';
			for (size_t i = 0; i < w.len; i++) {
				if ((unsigned char)one[i] <= 0x20 || (unsigned char)one[i] >= 0x7f) {
					snprintf(err, errlen, "%s: \"%s\" has a space or control character",
						 s->key, one);
					return EINVAL;
				}
			}
			if (s->type == CONF_CIDRS && guard_cidr_check(one) != 0) {
				snprintf(err, errlen, "%s: \"%s\" is not an IP address or prefix",
					 s->key, one);
				return EINVAL;
			}
		}
		break;
	}
	case CONF_STR:
		for (const char *p = value; *p; p++) {
			if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
				snprintf(err, errlen, "%s: control characters are not allowed", s->key);
				return EINVAL;
			}
		}
		break;
	}
	if (strlen(value) >= s->size) {
		snprintf(err, errlen, "%s: value longer than %zu characters", s->key, s->size - 1);
		return EINVAL;
	}
	memcpy(field, value, strlen(value) + 1);
	return 0;
}

int conf_set(struct conf *c, const char *section, const char *key, const char *value, char *err,
	     size_t errlen)
{
	size_t at = 0;
	const struct conf_row *s = find_setting(section, key, &at);

	if (!s && trunk_section(section))
		return trunk_conf_set(&c->trunk, section, key, value, 0, err, errlen);
	if (!s && emerg_section(section))
		return emerg_conf_set(&c->emerg, section, key, value, 0, err, errlen);
	if (!s) {
		if (section_known(section))
			snprintf(err, errlen, "unknown key \"%s\" in section [%s]", key, section);
		else
			snprintf(err, errlen, "unknown section [%s]", section);
		return EINVAL;
	}
	if (set_value(c, s, value, err, errlen) != 0)
		return EINVAL;
	c->origin[at] = CONF_FROM_FILE;
	return 0;
}

/* The value setting s takes under profile p when the file leaves it out. */
static const char *profile_value(const struct conf_row *s, unsigned p, bool *from_profile)
{
	const char *v = p < CONF_PROFILE__COUNT ? s->prof[p] : NULL;

	*from_profile = v != NULL;
	return v ? v : s->def;
}

void conf_apply_profile(struct conf *c)
{
	char err[256];

	for (size_t i = 0, n = conf_rows_count(); i < n; i++) {
		const struct conf_row *s = conf_row_at(i);
		bool prof;
		const char *v;

		/* the profile itself stays as the caller set it */
		if (c->origin[i] == CONF_FROM_FILE || s->offset == offsetof(struct conf, profile))
			continue;
		v = profile_value(s, c->profile, &prof);
		if (set_value(c, s, v, err, sizeof(err)) != 0) {
			/* A bad profile value is a programming error the unit tests catch. */
			fprintf(stderr, "bastion: bad built-in profile value: %s\n", err);
			abort();
		}
		c->origin[i] = prof ? CONF_FROM_PROFILE : CONF_FROM_DEFAULT;
	}
}

void conf_defaults(struct conf *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0, n = conf_rows_count(); i < n; i++) {
		int rc = set_value(c, conf_row_at(i), conf_row_at(i)->def, err, sizeof(err));
		if (rc) {
			/* A bad default is a programming error the unit tests catch. */
			fprintf(stderr, "bastion: bad built-in default: %s\n", err);
			abort();
		}
	}
	trunk_conf_init(&c->trunk);
	{
		unsigned line;
		(void)trunk_conf_check(&c->trunk, &line, err, sizeof(err)); /* fills class defaults */
		emerg_conf_init(&c->emerg);
		(void)emerg_conf_check(&c->emerg, &c->trunk, &line, err, sizeof(err));
	}
}

struct load_ctx {
	struct conf *c;
	bool seen[CONF_MAX_SETTINGS];
	char msg[512];
	bool failed;
	FILE *f;
	unsigned line;             /* of the line being handed to on_ini_line */
};

/* inih's reader, counting lines: the dial-plan sections keep the line of
 * each peer and route for the checks that need the whole file. */
static char *read_line(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;
	char *r = fgets(str, num, ctx->f);

	if (r)
		ctx->line++;
	return r;
}

static int on_ini_line(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	size_t at = 0;

	if (ctx->failed)
		return 0;
	if (!find_setting(section, name, NULL) && trunk_section(section)) {
		if (trunk_conf_set(&ctx->c->trunk, section, name, value, ctx->line, ctx->msg,
				   sizeof(ctx->msg)) != 0) {
			ctx->failed = true;
			return 0;
		}
		return 1;
	}
	if (!find_setting(section, name, NULL) && emerg_section(section)) {
		if (emerg_conf_set(&ctx->c->emerg, section, name, value, ctx->line, ctx->msg,
				   sizeof(ctx->msg)) != 0) {
			ctx->failed = true;
			return 0;
		}
		return 1;
	}
	if (conf_set(ctx->c, section, name, value, ctx->msg, sizeof(ctx->msg)) != 0) {
		ctx->failed = true;
		return 0;
	}
	(void)find_setting(section, name, &at); /* found: conf_set took it */
	if (ctx->seen[at]) {
		snprintf(ctx->msg, sizeof(ctx->msg), "\"%s\" is set twice in [%s]", name, section);
		ctx->failed = true;
		return 0;
	}
	ctx->seen[at] = true;
	return 1;
}

int conf_load(struct conf *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx *ctx;
	struct conf *tmp;
	FILE *f;
	int line, rc = 0;

	f = fopen(path, "r");
	if (!f) {
		rc = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(rc));
		return rc;
	}
	ctx = calloc(1, sizeof(*ctx));
	tmp = malloc(sizeof(*tmp));
	if (!ctx || !tmp) {
		rc = ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	conf_defaults(tmp);
	trunk_conf_init(&tmp->trunk); /* the defaults come after the file's classes */
	ctx->c = tmp;
	ctx->f = f;

	/* Lines up to 4 KiB, no multi-line continuation (an indented line is an
	 * error, not a silent append), stop at the first error. */
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = 4096;
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;

	line = ini_parse_stream(read_line, ctx, on_ini_line, ctx);
	if (line != 0) {
		rc = EINVAL;
		if (line < 0)
			snprintf(err, errlen, "%s: cannot read the file", path);
		else if (ctx->failed)
			snprintf(err, errlen, "%s:%d: %s", path, line, ctx->msg);
		else
			snprintf(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
				 path, line);
		goto out;
	}
	conf_apply_profile(tmp);
	if (tmp->ban_max < tmp->ban_time) {
		rc = EINVAL;
		snprintf(err, errlen, "%s: [guard] ban_max (%u) is shorter than ban_time (%u)", path,
			 tmp->ban_max, tmp->ban_time);
		goto out;
	}
	{
		unsigned tline;
		if (trunk_conf_check(&tmp->trunk, &tline, ctx->msg, sizeof(ctx->msg)) != 0) {
			rc = EINVAL;
			if (tline)
				snprintf(err, errlen, "%s:%u: %s", path, tline, ctx->msg);
			else
				snprintf(err, errlen, "%s: %s", path, ctx->msg);
			goto out;
		}
		if (emerg_conf_check(&tmp->emerg, &tmp->trunk, &tline, ctx->msg,
				     sizeof(ctx->msg)) != 0) {
			rc = EINVAL;
			if (tline)
				snprintf(err, errlen, "%s:%u: %s", path, tline, ctx->msg);
			else
				snprintf(err, errlen, "%s: %s", path, ctx->msg);
			goto out;
		}
	}
	*c = *tmp;
out:
	fclose(f);
	free(ctx);
	free(tmp);
	return rc;
}

void conf_net(const struct conf *c, struct net_conf *out)
{
	out->lim = c->lim;
	out->max_connections = c->max_connections;
	out->idle_timeout_ms = c->idle_timeout * 1000u;
	out->header_timeout_ms = c->header_timeout * 1000u;
	out->max_per_source = c->max_per_source;
	out->min_rate = c->min_rate;
}

/* Split a validated list into trimmed words in buf (NUL-separated). */
static size_t split_list(const char *list, char **buf, size_t *room, const char **out,
			 size_t cap)
{
	struct slice w;
	size_t n = 0;

	for (const char *p = list_start(list); n < cap && list_next(&p, &w) && w.len + 1 <= *room;) {
		memcpy(*buf, w.p, w.len);
		(*buf)[w.len] = '\0';
		out[n++] = *buf;
		*buf += w.len + 1;
		*room -= w.len + 1;
	}
	return n;
}

void conf_guard(const struct conf *c, struct conf_guard *out)
{
	char *buf = out->buf;
	size_t room = sizeof(out->buf);

	out->gc = (struct guard_conf){
		.table_size = c->guard_sources,
		.user_table_size = c->guard_users,
		.v6_prefix = c->guard_v6_prefix,
		.rate_all = c->rate,
		.rate_invite = c->invite_rate,
		.rate_register = c->register_rate,
		.auth_credit = c->auth_credit,
		.auth_ceiling = c->auth_ceiling,
		.trust_window = c->trust_window,
		.ban_drops = c->ban_drops,
		.ban_grace = c->ban_grace,
		.ban_time = c->ban_time,
		.ban_max = c->ban_max,
		.fail_window = c->fail_window,
		.source_fail_limit = c->source_fail_limit,
		.user_fail_limit = c->user_fail_limit,
		.lock_time = c->lock_time,
		.allow = out->allow,
		.scanners = out->scanners,
	};
	out->gc.allow_n = split_list(c->allow, &buf, &room, out->allow, GUARD_ALLOW_MAX);
	out->gc.scanners_n = split_list(c->scanners, &buf, &room, out->scanners, GUARD_SCANNER_MAX);
}

bool conf_guard_same(const struct conf *a, const struct conf *b)
{
#define SAME(f) (a->f == b->f)
	return SAME(guard_sources) && SAME(guard_users) && SAME(guard_v6_prefix) && SAME(rate) &&
	       SAME(invite_rate) && SAME(register_rate) && SAME(auth_credit) &&
	       SAME(auth_ceiling) && SAME(trust_window) && SAME(ban_drops) && SAME(ban_grace) &&
	       SAME(ban_time) && SAME(ban_max) && SAME(fail_window) &&
	       SAME(source_fail_limit) && SAME(user_fail_limit) && SAME(lock_time) &&
	       strcmp(a->allow, b->allow) == 0 && strcmp(a->scanners, b->scanners) == 0;
#undef SAME
}

int conf_tls(struct conf_tls *out, const struct conf *c, const char *state, char *err,
	     size_t errlen)
{
	struct net_tls_conf *tc = &out->tc;

	*tc = (struct net_tls_conf){ 0 };
	if (conf_state_path(out->cert, sizeof(out->cert), state, c->tls_certificate) ||
	    conf_state_path(out->key, sizeof(out->key), state, c->tls_key) ||
	    conf_state_path(out->ca, sizeof(out->ca), state, c->tls_ca)) {
		snprintf(err, errlen, "TLS file path too long");
		return ENAMETOOLONG;
	}
	tc->cert_file = out->cert;
	tc->key_file = out->key;
	tc->ca_file = c->tls_ca[0] ? out->ca : NULL;
	tc->verify = c->tls_verify_client == CONF_TLS_VERIFY_REQUIRE    ? NET_TLS_VERIFY_REQUIRE
		     : c->tls_verify_client == CONF_TLS_VERIFY_OPTIONAL ? NET_TLS_VERIFY_OPTIONAL
									: NET_TLS_VERIFY_NONE;
	tc->ticket_lifetime_s = c->tls_ticket_lifetime;
	if (c->tls_peer_ca[0]) {
		if (conf_state_path(out->peer_ca, sizeof(out->peer_ca), state, c->tls_peer_ca)) {
			snprintf(err, errlen, "TLS peer_ca path too long");
			return ENAMETOOLONG;
		}
		tc->peer_ca_file = out->peer_ca;
	}
	if (c->tls_crl[0] && conf_state_path(out->crl, sizeof(out->crl), state, c->tls_crl) == 0)
		tc->crl_file = out->crl;
	if (c->tls_key_passphrase_file[0]) {
		if (conf_state_path(out->passphrase, sizeof(out->passphrase), state,
				    c->tls_key_passphrase_file)) {
			snprintf(err, errlen, "TLS passphrase file path too long");
			return ENAMETOOLONG;
		}
		tc->passphrase_file = out->passphrase;
	}
	return 0;
}

const char *conf_realm(const struct conf *c)
{
	return c->realm[0] ? c->realm : c->domain;
}

static void write_range(FILE *f, const struct conf_row *s)
{
	if (s->type == CONF_U32) {
		fprintf(f, "%u to %u", s->min, s->max);
		if (s->unit)
			fprintf(f, " %s", s->unit);
	} else if (s->type == CONF_ENUM) {
		for (int i = 0; s->choices[i]; i++)
			fprintf(f, "%s%s", i ? ", " : "", s->choices[i]);
	} else if (s->type == CONF_LISTEN) {
		fputs("listen list", f);
	} else if (s->type == CONF_HOST || s->type == CONF_REALM) {
		fputs("host name or IP", f);
	} else if (s->type == CONF_ALGOS) {
		fputs("SHA-256, MD5, in order", f);
	} else if (s->type == CONF_CIDRS) {
		fputs("address or prefix list", f);
	} else if (s->type == CONF_WORDS) {
		fputs("word list", f);
	} else if (s->type == CONF_REMOTE) {
		fputs("tls:HOST:PORT, or empty", f);
	} else if (s->type == CONF_ADDR) {
		fputs("address:port, or empty", f);
	} else {
		fputs("text", f);
	}
}

/* Length of the first sentence of a help text: up to the first ". " that
 * does not end "e.g." or "i.e.", or the whole text. */
static size_t first_sentence(const char *h)
{
	size_t n = strlen(h);

	for (size_t i = 0; i + 1 < n; i++) {
		if (h[i] != '.' || h[i + 1] != ' ')
			continue;
		if (i >= 3 && (strncmp(h + i - 3, "e.g", 3) == 0 || strncmp(h + i - 3, "i.e", 3) == 0))
			continue;
		return i + 1;
	}
	return n;
}

/* Write the first sentence of s->help as "; " comment lines of at most
 * about 78 columns, without the Markdown backquotes of the reference. */
static void write_meaning(FILE *f, const struct conf_row *s)
{
	const char *h = s->help;
	size_t n = first_sentence(h), col = 0, i = 0;

	while (i < n) {
		size_t w = i;

		while (w < n && h[w] != ' ')
			w++;
		if (col == 0) {
			fputs(";", f);
			col = 1;
		}
		if (col > 1 && col + 1 + (w - i) > 78) {
			fputs("\n;", f);
			col = 1;
		}
		fputc(' ', f);
		col++;
		for (size_t k = i; k < w; k++) {
			if (h[k] != '`') {
				fputc(h[k], f);
				col++;
			}
		}
		i = w;
		while (i < n && h[i] == ' ')
			i++;
	}
	if (col)
		fputc('\n', f);
}

int conf_write_initial(FILE *f, const char *domain, const char *listen,
		       enum conf_profile profile)
{
	bool prof_set = profile != CONF_PROFILE_MINIMUM;

	const char *section = "";

	fputs("; Bastion configuration. Every setting is listed; those commented out\n"
	      "; show their default. Reference: docs/configuration.md.\n",
	      f);
	for (size_t i = 0, n = conf_rows_count(); i < n; i++) {
		const struct conf_row *s = conf_row_at(i);
		const char *value = NULL;

		if (strcmp(section, s->section) != 0) {
			section = s->section;
			fprintf(f, "\n[%s]\n", section);
		}
		if (strcmp(s->section, "server") == 0 && strcmp(s->key, "domain") == 0)
			value = domain;
		if (strcmp(s->section, "server") == 0 && strcmp(s->key, "listen") == 0)
			value = listen;
		/* the default profile stays a comment, like every default */
		if (prof_set && strcmp(s->section, "server") == 0 && strcmp(s->key, "profile") == 0)
			value = conf_profiles[profile];
		write_meaning(f, s);
		fputs(";   (", f);
		write_range(f, s);
		fputs(")", f);
		if (!value && s->prof[profile])
			fprintf(f, " Set by profile %s (default %s).", conf_profiles[profile],
				*s->def ? s->def : "empty");
		fputs("\n", f);
		if (value)
			fprintf(f, "%s = %s\n", s->key, value);
		else
			fprintf(f, ";%s = %s\n", s->key, s->prof[profile] ? s->prof[profile] : s->def);
	}
	return ferror(f) ? EIO : 0;
}

void conf_write_reference(FILE *f)
{
	const char *section = "";

	for (size_t i = 0, n = conf_rows_count(); i < n; i++) {
		const struct conf_row *s = conf_row_at(i);

		if (strcmp(section, s->section) != 0) {
			section = s->section;
			fprintf(f, "\n### [%s]\n\n| key | default | range | profiles | meaning |\n"
				   "|---|---|---|---|---|\n",
				section);
		}
		fprintf(f, "| `%s` | `%s` | ", s->key, *s->def ? s->def : "(empty)");
		write_range(f, s);
		fputs(" | ", f);
		for (unsigned p = 0, np = 0; p < CONF_PROFILE__COUNT; p++)
			if (s->prof[p])
				fprintf(f, "%s%s: `%s`", np++ ? ", " : "", conf_profiles[p], s->prof[p]);
		fprintf(f, " | %s |\n", s->help);
	}
}

int conf_state_path(char *out, size_t cap, const char *state, const char *setting)
{
	int n = setting[0] == '/' ? snprintf(out, cap, "%s", setting)
				  : snprintf(out, cap, "%s/%s", state, setting);

	return n < 0 || (size_t)n >= cap ? ENAMETOOLONG : 0;
}

/* The effective value of s in c, as the file would spell it. */
static void write_value(FILE *f, const struct conf *c, const struct conf_row *s)
{
	const char *field = (const char *)c + s->offset;
	uint32_t v;

	switch (s->type) {
	case CONF_U32:
		memcpy(&v, field, sizeof(v));
		fprintf(f, "%u", v);
		break;
	case CONF_ENUM:
		memcpy(&v, field, sizeof(v));
		fputs(s->choices[v], f);
		break;
	default:
		fputs(field, f);
		break;
	}
}

void conf_show(FILE *f, const struct conf *c)
{
	const char *section = "";

	for (size_t i = 0, n = conf_rows_count(); i < n; i++) {
		const struct conf_row *s = conf_row_at(i);

		if (strcmp(section, s->section) != 0) {
			section = s->section;
			fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
		}
		fprintf(f, "%s = ", s->key);
		write_value(f, c, s);
		if (c->origin[i] == CONF_FROM_FILE)
			fputs("    ; file\n", f);
		else if (c->origin[i] == CONF_FROM_PROFILE)
			fprintf(f, "    ; profile %s\n", conf_profiles[c->profile]);
		else
			fputs("    ; default\n", f);
	}
}
