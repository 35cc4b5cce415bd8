/*
 * store.c: the storage interface. Picks a backend from the URL given to
 * store_open(), validates every argument once here, and dispatches through
 * the backend's operations table, so backends only ever see well-formed
 * records and callers never see which backend they talk to.
 */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

void store_set_err(struct store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
}

static void set_open_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

/* A libpq "key=value" connection string: its first word is a keyword
 * followed by '=' ("host=db1 dbname=bastion"). */
static bool is_conninfo(const char *s)
{
	size_t n = 0;

	while (s[n] >= 'a' && s[n] <= 'z')
		n++;
	while (s[n] == '_' || (s[n] >= 'a' && s[n] <= 'z'))
		n++;
	if (n == 0)
		return false;
	while (s[n] == ' ')
		n++;
	return s[n] == '=';
}

bool store_is_remote(const char *u)
{
	return u && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0 ||
		     is_conninfo(u));
}

int store_location(char *out, size_t cap, const char *dir, const char *setting)
{
	int n;

	if (store_is_remote(setting) || setting[0] == '/' || strncmp(setting, "sqlite:", 7) == 0)
		n = snprintf(out, cap, "%s", setting);
	else
		n = snprintf(out, cap, "%s/%s", dir, setting);
	return n < 0 || (size_t)n >= cap ? ENAMETOOLONG : 0;
}

int store_open_migrate(struct store **sp, const char *url_or_path, int *from, char *err,
		       size_t errlen)
{
	const char *path = url_or_path;
	const char *colon;

	if (err && errlen)
		err[0] = '\0';
	if (!sp || !url_or_path || !*url_or_path) {
		set_open_err(err, errlen, "store: no database path given");
		return EINVAL;
	}
	if (strncmp(url_or_path, "sqlite:", 7) == 0) {
		path = url_or_path + 7;
		/* Accept sqlite:///abs/path too, the form other tools write. */
		if (strncmp(path, "//", 2) == 0)
			path += 2;
		if (!*path) {
			set_open_err(err, errlen, "store: sqlite: URL without a path");
			return EINVAL;
		}
		return store_sqlite_open(sp, path, from, err, errlen);
	}
	if (store_is_remote(url_or_path))
		return store_pg_open(sp, url_or_path, from, err, errlen);
	/* Any other "scheme://" is a mistake, not a file name. */
	colon = strstr(url_or_path, "://");
	if (colon && strcspn(url_or_path, "/") > (size_t)(colon - url_or_path)) {
		set_open_err(err, errlen,
			     "store: unknown URL scheme (use a path, sqlite:PATH or postgresql://)");
		return ENOTSUP;
	}
	return store_sqlite_open(sp, path, from, err, errlen);
}

int store_open(struct store **sp, const char *url_or_path, char *err, size_t errlen)
{
	return store_open_migrate(sp, url_or_path, NULL, err, errlen);
}

void store_close(struct store **sp)
{
	if (!sp || !*sp)
		return;
	(*sp)->ops->close(*sp);
	*sp = NULL;
}

const char *store_errmsg(const struct store *s)
{
	return s ? s->errmsg : "";
}

int store_schema_version(struct store *s, int *version)
{
	if (!s || !version)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->schema_version(s, version);
}

int store_schema_latest(void)
{
	return store_sqlite_schema_latest();
}

/* ---- several nodes ------------------------------------------------------------ */

int store_regs_changes(struct store *s, bool *all, store_aor_fn *fn, void *arg)
{
	if (!s || !all || !fn)
		return EINVAL;
	*all = false;
	if (!s->ops->regs_changes)
		return 0;
	s->errmsg[0] = '\0';
	return s->ops->regs_changes(s, all, fn, arg);
}

int store_backend_stats(struct store *s, struct store_backend_stats *out)
{
	if (!s || !out)
		return EINVAL;
	memset(out, 0, sizeof(*out));
	out->connected = true;
	if (!s->ops->backend_stats)
		return 0;
	return s->ops->backend_stats(s, out);
}

void store_set_queue_max(struct store *s, size_t n)
{
	if (s && n > 0 && s->ops->set_queue_max)
		s->ops->set_queue_max(s, n);
}

bool store_write_room(struct store *s, size_t n)
{
	struct store_backend_stats st;

	if (!s || store_backend_stats(s, &st) != 0 || st.queue_max == 0)
		return true;
	return st.queued + n <= st.queue_max;
}

/* ---- validation ------------------------------------------------------- */

/* A NUL-terminated string within cap bytes; non-empty unless may_be_empty. */
static bool str_ok(const char *p, size_t cap, bool may_be_empty)
{
	size_t len;

	if (!p)
		return false;
	len = strnlen(p, cap);
	if (len == cap)
		return false;
	return may_be_empty || len > 0;
}

/* No control bytes: these strings end up in logs and admin output. */
static bool str_printable(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static bool field_ok(const char *p, size_t cap, bool may_be_empty)
{
	return str_ok(p, cap, may_be_empty) && str_printable(p);
}

/* Empty, or exactly len lowercase hex digits. */
static bool hex_ok(const char *p, size_t len)
{
	size_t i;

	if (!str_ok(p, len + 1, true))
		return false;
	if (!*p)
		return true;
	for (i = 0; p[i]; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return i == len;
}

static bool key_ok(const char *name, const char *domain)
{
	return field_ok(name, STORE_NAME_MAX, false) && field_ok(domain, STORE_DOMAIN_MAX, false);
}

static bool cred_ok(const struct store_cred *c)
{
	return c && field_ok(c->realm, STORE_REALM_MAX, false) &&
	       hex_ok(c->ha1_md5, STORE_HA1_MD5_LEN) &&
	       hex_ok(c->ha1_sha256, STORE_HA1_SHA256_LEN) &&
	       (c->ha1_md5[0] || c->ha1_sha256[0]) &&
	       (c->strength == STORE_PW_CHECKED || c->strength == STORE_PW_UNKNOWN);
}

static bool user_ok(const struct store_user *u)
{
	return u && key_ok(u->name, u->domain) && cred_ok(&u->cred) && u->created_at >= 0;
}

static bool reg_ok(const struct store_reg *r)
{
	return r && r->user_id > 0 && field_ok(r->aor, STORE_URI_MAX, false) &&
	       field_ok(r->contact, STORE_URI_MAX, false) &&
	       field_ok(r->received, STORE_RECEIVED_MAX, false) &&
	       field_ok(r->transport, STORE_TRANSPORT_MAX, false) &&
	       field_ok(r->call_id, STORE_CALLID_MAX, false) &&
	       field_ok(r->user_agent, STORE_UA_MAX, true) &&
	       field_ok(r->instance, STORE_INSTANCE_MAX, true) && r->q <= 1000 &&
	       r->reg_id <= STORE_REG_ID_MAX;
}

static bool hangup_ok(const char *h, bool answered)
{
	static const char *const answered_names[] = { "caller", "callee", "timeout", "server" };

	if (!str_ok(h, STORE_HANGUP_MAX, false))
		return false;
	if (!answered)
		return strcmp(h, "none") == 0;
	for (size_t i = 0; i < ARRAY_SIZE(answered_names); i++)
		if (strcmp(h, answered_names[i]) == 0)
			return true;
	return false;
}

static bool cdr_ok(const struct store_cdr *c)
{
	bool answered;

	if (!c || !field_ok(c->call_id, STORE_CALLID_MAX, false) ||
	    !field_ok(c->caller, STORE_URI_MAX, false) ||
	    !field_ok(c->auth_user, STORE_NAME_MAX, true) ||
	    !field_ok(c->callee, STORE_URI_MAX, false) ||
	    !field_ok(c->src, STORE_RECEIVED_MAX, false) ||
	    !field_ok(c->transport, STORE_TRANSPORT_MAX, false) ||
	    !field_ok(c->peer, STORE_PEER_MAX, true) || !field_ok(c->klass, STORE_CLASS_MAX, true) ||
	    !field_ok(c->dialed, STORE_DIALED_MAX, true) ||
	    !field_ok(c->number, STORE_NUMBER_MAX, true))
		return false;
	if (c->start_at <= 0 || c->end_at < c->start_at)
		return false;
	if (c->answer_at != 0 && (c->answer_at < c->start_at || c->answer_at > c->end_at))
		return false;
	if (c->final_status < 200 || c->final_status > 699)
		return false;
	answered = c->answer_at != 0;
	if (answered != (c->final_status / 100 == 2))
		return false;
	return hangup_ok(c->hangup, answered);
}

static int64_t now_or(int64_t t)
{
	return t > 0 ? t : (int64_t)time(NULL);
}

/* ---- users ------------------------------------------------------------- */

int store_users_add(struct store *s, int64_t *id, const struct store_user *u)
{
	if (!s || !user_ok(u))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_add(s, id, u, now_or(u->created_at));
}

int store_users_get(struct store *s, struct store_user *out, const char *name,
		    const char *domain)
{
	if (!s || !out || !key_ok(name, domain))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_get(s, out, name, domain);
}

int store_users_list(struct store *s, store_user_fn *fn, void *arg)
{
	if (!s || !fn)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_list(s, NULL, fn, arg);
}

int store_users_set_password(struct store *s, const char *name, const char *domain,
			     const struct store_cred *cred, int64_t now)
{
	if (!s || !key_ok(name, domain) || !cred_ok(cred) || now < 0)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_set_password(s, name, domain, cred, now_or(now));
}

int store_users_rotate_password(struct store *s, const char *name, const char *domain,
				const struct store_cred *cred, int64_t deadline, int64_t now)
{
	if (!s || !key_ok(name, domain) || (cred && !cred_ok(cred)) || deadline <= 0 || now < 0)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_rotate_password
		       ? s->ops->users_rotate_password(s, name, domain, cred, deadline, now_or(now))
		       : ENOSYS;
}

int store_users_move_deadline(struct store *s, size_t *n, int64_t deadline)
{
	if (n)
		*n = 0;
	if (!s || deadline <= 0)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_move_deadline ? s->ops->users_move_deadline(s, n, deadline) : ENOSYS;
}

int store_users_set_enabled(struct store *s, const char *name, const char *domain,
			    bool enabled)
{
	if (!s || !key_ok(name, domain))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_set_enabled(s, name, domain, enabled);
}

int store_users_set_client_cert(struct store *s, const char *name, const char *domain,
				bool on)
{
	if (!s || !key_ok(name, domain))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_set_client_cert(s, name, domain, on);
}

int store_users_set_location(struct store *s, const char *name, const char *domain,
			     const char *location)
{
	size_t len = location ? strlen(location) : STORE_LOCATION_MAX;

	if (!s || !key_ok(name, domain) || len >= STORE_LOCATION_MAX)
		return EINVAL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)location[i] < 0x20 || location[i] == 0x7f)
			return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_set_location(s, name, domain, location);
}

int store_users_get_location(struct store *s, char *out, size_t cap, const char *name,
			     const char *domain)
{
	if (!s || !out || !cap || !key_ok(name, domain))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_get_location(s, out, cap, name, domain);
}

int store_users_set_digest(struct store *s, const char *name, const char *domain,
			   unsigned digest)
{
	if (!s || !key_ok(name, domain) || digest > STORE_DIGEST_BOTH)
		return EINVAL;
	s->errmsg[0] = '\0';
	/* a backend without per-user digest (PostgreSQL, for now) says so */
	return s->ops->users_set_digest ? s->ops->users_set_digest(s, name, domain, digest)
					: ENOSYS;
}

static bool calling_ok(const char *c)
{
	static const char *const names[] = { "", "internal", "local", "national",
					      "international", "premium" };

	for (size_t i = 0; c && i < ARRAY_SIZE(names); i++)
		if (strcmp(c, names[i]) == 0)
			return true;
	return false;
}

int store_users_set_calling(struct store *s, const char *name, const char *domain,
			    const char *calling)
{
	if (!s || !key_ok(name, domain) || !calling_ok(calling))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_set_calling ? s->ops->users_set_calling(s, name, domain, calling)
					 : ENOSYS;
}

int store_users_set_fraud_hold(struct store *s, const char *name, const char *domain,
			       const char *reason, int64_t at)
{
	if (!s || !key_ok(name, domain) || !field_ok(reason, STORE_FRAUD_HOLD_MAX, true) ||
	    at < 0)
		return EINVAL;
	s->errmsg[0] = '\0';
	if (!s->ops->users_set_fraud_hold)
		return ENOSYS;
	return s->ops->users_set_fraud_hold(s, name, domain, reason,
					    reason[0] ? now_or(at) : 0);
}

int store_users_delete(struct store *s, const char *name, const char *domain)
{
	if (!s || !key_ok(name, domain))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_delete(s, name, domain);
}

int store_users_import(struct store *s, size_t *failed_at, const struct store_user *users,
		       size_t n)
{
	size_t i;

	if (!s || (!users && n))
		return EINVAL;
	s->errmsg[0] = '\0';
	/* Validate everything before the transaction: no write for a bad file. */
	for (i = 0; i < n; i++) {
		if (!user_ok(&users[i])) {
			if (failed_at)
				*failed_at = i;
			store_set_err(s, "import row %zu: invalid field", i);
			return EINVAL;
		}
	}
	return s->ops->users_import(s, failed_at, users, n, now_or(0));
}

int store_users_version(struct store *s, uint64_t *version)
{
	if (!s || !version)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_version(s, version);
}

int store_users_load_all(struct store *s, uint64_t *version, store_user_fn *fn, void *arg)
{
	if (!s || !version || !fn)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->users_list(s, version, fn, arg);
}

/* ---- registrations ------------------------------------------------------ */

int store_batch_begin(struct store *s)
{
	if (!s)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->batch_begin(s);
}

int store_batch_end(struct store *s, bool commit)
{
	int rc;

	if (!s)
		return EINVAL;
	rc = s->ops->batch_end(s, commit);
	if (rc == 0 && commit)
		s->committed_seq++;
	return rc;
}

int store_set_durability(struct store *s, enum store_durability d)
{
	if (!s || (d != STORE_DURABLE_PROCESS && d != STORE_DURABLE_POWER))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->set_durability ? s->ops->set_durability(s, d) : ENOTSUP;
}

uint64_t store_batch_next_seq(const struct store *s)
{
	return s ? s->committed_seq + 1 : 0;
}

int store_batch_due(uint64_t *since, bool waiting, uint32_t wait_ms, uint64_t now_ms)
{
	if (!waiting) {
		*since = 0;
		return -1;
	}
	if (!*since)
		*since = now_ms;
	if (now_ms - *since >= wait_ms)
		return 0;
	return (int)(*since + wait_ms - now_ms);
}

uint64_t store_durable_seq(struct store *s)
{
	if (!s)
		return 0;
	return s->ops->durable_seq ? s->ops->durable_seq(s) : s->committed_seq;
}

int store_regs_upsert(struct store *s, int64_t *id, const struct store_reg *r)
{
	if (!s || !reg_ok(r))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->regs_upsert(s, id, r);
}

int store_regs_delete(struct store *s, const char *aor, const char *contact)
{
	if (!s || !field_ok(aor, STORE_URI_MAX, false) || !field_ok(contact, STORE_URI_MAX, false))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->regs_delete(s, aor, contact);
}

int store_regs_delete_aor(struct store *s, size_t *n, const char *aor)
{
	size_t dummy;

	if (!s || !field_ok(aor, STORE_URI_MAX, false))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->regs_delete_aor(s, n ? n : &dummy, aor);
}

int store_regs_list_aor(struct store *s, const char *aor, store_reg_fn *fn, void *arg)
{
	if (!s || !fn || !field_ok(aor, STORE_URI_MAX, false))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->regs_list(s, aor, fn, arg);
}

int store_regs_list_all(struct store *s, store_reg_fn *fn, void *arg)
{
	if (!s || !fn)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->regs_list(s, NULL, fn, arg);
}

int store_regs_expire(struct store *s, size_t *n, int64_t now)
{
	size_t dummy;

	if (!s)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->regs_expire(s, n ? n : &dummy, now);
}

/* ---- extra identities ---------------------------------------------------- */

int store_identities_add(struct store *s, const char *name, const char *domain,
			 const char *uri)
{
	if (!s || !key_ok(name, domain) || !field_ok(uri, STORE_URI_MAX, false))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->ids_add(s, name, domain, uri);
}

int store_identities_delete(struct store *s, const char *name, const char *domain,
			    const char *uri)
{
	if (!s || !key_ok(name, domain) || !field_ok(uri, STORE_URI_MAX, false))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->ids_delete(s, name, domain, uri);
}

int store_identities_list(struct store *s, const char *name, const char *domain,
			  store_identity_fn *fn, void *arg)
{
	if (!s || !fn || !key_ok(name, domain))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->ids_list(s, name, domain, fn, arg);
}

int store_identities_load_all(struct store *s, store_identity_fn *fn, void *arg)
{
	if (!s || !fn)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->ids_list(s, NULL, NULL, fn, arg);
}

/* ---- call detail records -------------------------------------------------- */

int store_cdr_add(struct store *s, int64_t *id, const struct store_cdr *c)
{
	struct store_cdr copy;

	if (!s || !cdr_ok(c))
		return EINVAL;
	s->errmsg[0] = '\0';
	/* The duration is derived, never taken from the caller. */
	copy = *c;
	copy.duration_s = store_cdr_duration_s(c);
	return s->ops->cdr_add(s, id, &copy);
}

int store_cdr_list(struct store *s, int64_t since, const char *user, store_cdr_fn *fn,
		   void *arg)
{
	if (!s || !fn || (user && !field_ok(user, STORE_NAME_MAX, true)))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->cdr_list(s, since, user, fn, arg);
}

/* ---- bans ------------------------------------------------------------------ */

static bool ban_ok(const struct store_ban *b)
{
	return b && field_ok(b->addr, STORE_BAN_ADDR_MAX, false) &&
	       field_ok(b->reason, STORE_BAN_REASON_MAX, true) && b->until > 0 && b->count >= 1 &&
	       b->created_at >= 0;
}

int store_bans_put(struct store *s, const struct store_ban *b)
{
	struct store_ban copy;

	if (!s || !ban_ok(b))
		return EINVAL;
	s->errmsg[0] = '\0';
	copy = *b;
	copy.created_at = now_or(b->created_at);
	return s->ops->bans_put(s, &copy);
}

int store_bans_delete(struct store *s, const char *addr)
{
	if (!s || !field_ok(addr, STORE_BAN_ADDR_MAX, false))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->bans_delete(s, addr);
}

int store_bans_list(struct store *s, int64_t now, store_ban_fn *fn, void *arg)
{
	if (!s || !fn)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->bans_list(s, now, fn, arg);
}

int store_bans_expire(struct store *s, size_t *n, int64_t now)
{
	size_t dummy;

	if (!s)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->bans_expire(s, n ? n : &dummy, now);
}

/* ---- dialogs ------------------------------------------------------------------- */

#define DLG_FIELD(f) { offsetof(struct store_dialog, f), sizeof(((struct store_dialog *)0)->f) }
const struct store_field store_dialog_texts[STORE_DIALOG_TEXTS] = {
	DLG_FIELD(call_id), DLG_FIELD(tag[0]),	 DLG_FIELD(tag[1]),    DLG_FIELD(way[0]),
	DLG_FIELD(way[1]),  DLG_FIELD(local[0]), DLG_FIELD(local[1]),  DLG_FIELD(caller),
	DLG_FIELD(auth_user), DLG_FIELD(callee), DLG_FIELD(src),       DLG_FIELD(transport),
};
#undef DLG_FIELD

static bool dialog_ok(const struct store_dialog *d)
{
	return d && field_ok(d->call_id, sizeof(d->call_id), false) &&
	       field_ok(d->tag[0], sizeof(d->tag[0]), false) &&
	       field_ok(d->tag[1], sizeof(d->tag[1]), false) &&
	       field_ok(d->way[0], sizeof(d->way[0]), false) &&
	       field_ok(d->way[1], sizeof(d->way[1]), false) &&
	       field_ok(d->local[0], sizeof(d->local[0]), true) &&
	       field_ok(d->local[1], sizeof(d->local[1]), true) &&
	       field_ok(d->caller, sizeof(d->caller), true) &&
	       field_ok(d->auth_user, sizeof(d->auth_user), true) &&
	       field_ok(d->callee, sizeof(d->callee), true) &&
	       field_ok(d->src, sizeof(d->src), true) &&
	       field_ok(d->transport, sizeof(d->transport), true) &&
	       field_ok(d->peer, sizeof(d->peer), true) && field_ok(d->klass, sizeof(d->klass), true) &&
	       field_ok(d->dialed, sizeof(d->dialed), true) &&
	       field_ok(d->number, sizeof(d->number), true) &&
	       field_ok(d->location, sizeof(d->location), true) && d->expires_at > 0 &&
	       d->cseq_delta >= 0 && d->cseq_delta <= 1000;
}

int store_dialogs_put(struct store *s, const struct store_dialog *d)
{
	if (!s || !dialog_ok(d))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->dialogs_put ? s->ops->dialogs_put(s, d) : ENOSYS;
}

int store_dialogs_delete(struct store *s, const char *call_id, const char *tag0,
			 const char *tag1)
{
	if (!s || !field_ok(call_id, STORE_CALLID_MAX, false) ||
	    !field_ok(tag0, STORE_TAG_MAX, false) || !field_ok(tag1, STORE_TAG_MAX, false))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->dialogs_delete ? s->ops->dialogs_delete(s, call_id, tag0, tag1) : ENOSYS;
}

int store_dialogs_list(struct store *s, store_dialog_fn *fn, void *arg)
{
	if (!s || !fn)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->dialogs_list ? s->ops->dialogs_list(s, fn, arg) : ENOSYS;
}

/* ---- change detection ------------------------------------------------------- */

int store_data_version(struct store *s, int64_t *v)
{
	if (!s || !v)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->data_version(s, v);
}

/* ---- node, journal and user locks ---------------------------------------------- */

static bool node_ok(const char *node)
{
	size_t i;

	if (!node)
		return false;
	for (i = 0; node[i]; i++)
		if (!((node[i] >= '0' && node[i] <= '9') || (node[i] >= 'a' && node[i] <= 'z') ||
		      node[i] == '-') ||
		    i >= 64)
			return false;
	return i > 0;
}

int store_node_attach(struct store *s, const char *node, const char *journal, size_t *replayed)
{
	size_t dummy;

	if (!s || !node_ok(node) || (journal && !*journal))
		return EINVAL;
	s->errmsg[0] = '\0';
	*(replayed ? replayed : &dummy) = 0;
	return s->ops->node_attach ? s->ops->node_attach(s, node, journal,
							 replayed ? replayed : &dummy)
				   : 0;
}

int store_locks_put(struct store *s, const char *name, int64_t until)
{
	if (!s || !field_ok(name, STORE_NAME_MAX, false) || until <= 0)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->locks_put ? s->ops->locks_put(s, name, until, (int64_t)time(NULL))
				 : ENOSYS;
}

int store_locks_list(struct store *s, int64_t now, store_lock_fn *fn, void *arg)
{
	if (!s || !fn)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->locks_list ? s->ops->locks_list(s, now, fn, arg) : ENOSYS;
}

/* ---- toll-fraud counters ------------------------------------------------------------ */

int store_fraud_put(struct store *s, const char *key, const char *counts, int64_t now)
{
	if (!s || !field_ok(key, STORE_FRAUD_KEY_MAX, false) ||
	    !field_ok(counts, STORE_FRAUD_COUNTS_MAX, false))
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->fraud_put ? s->ops->fraud_put(s, key, counts, now) : ENOSYS;
}

int store_fraud_list(struct store *s, int64_t now, bool others_only, store_fraud_fn *fn,
		     void *arg)
{
	if (!s || !fn)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->fraud_list ? s->ops->fraud_list(s, now, others_only, fn, arg) : ENOSYS;
}

/* ---- nonce epochs ----------------------------------------------------------------------- */

int store_epoch_start(struct store *s, uint32_t epoch, const uint8_t key[STORE_EPOCH_KEY_LEN],
		      uint32_t lease_ms)
{
	if (!s || !key || epoch == 0 || lease_ms == 0)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->epoch_start ? s->ops->epoch_start(s, epoch, key, lease_ms) : ENOSYS;
}

int store_epochs_sync(struct store *s, const uint32_t *mine, size_t nmine, uint32_t lease_ms,
		      uint32_t lifetime_s, uint32_t max_take, store_epoch_fn *fn, void *arg)
{
	if (!s || !fn || lease_ms == 0 || (nmine && !mine) || nmine > STORE_EPOCHS_MINE_MAX)
		return EINVAL;
	s->errmsg[0] = '\0';
	return s->ops->epochs_sync ? s->ops->epochs_sync(s, mine, nmine, lease_ms, lifetime_s,
							 max_take, fn, arg)
				   : ENOSYS;
}

int store_nonce_uses_put(struct store *s, const struct store_nonce_use *u, size_t n)
{
	if (!s || (n && !u))
		return EINVAL;
	for (size_t i = 0; i < n; i++)
		if (u[i].nc == 0 || u[i].seq > INT64_MAX)
			return EINVAL;
	s->errmsg[0] = '\0';
	if (!s->ops->nonce_uses_put)
		return ENOSYS;
	return n ? s->ops->nonce_uses_put(s, u, n) : 0;
}

int store_nonce_use_put(struct store *s, uint32_t epoch, uint64_t seq, uint32_t nc)
{
	const struct store_nonce_use u = { .epoch = epoch, .nc = nc, .seq = seq };

	return store_nonce_uses_put(s, &u, 1);
}

int store_nonce_uses_list(struct store *s, uint32_t epoch, size_t max, bool *more,
			  store_nonce_use_fn *fn, void *arg)
{
	if (!s || !fn || !more || max == 0)
		return EINVAL;
	*more = false;
	s->errmsg[0] = '\0';
	return s->ops->nonce_uses_list ? s->ops->nonce_uses_list(s, epoch, max, more, fn, arg)
				       : ENOSYS;
}

int store_nonce_uses_trim(struct store *s, uint32_t epoch, uint64_t below)
{
	if (!s)
		return EINVAL;
	s->errmsg[0] = '\0';
	if (below > INT64_MAX)
		below = INT64_MAX;
	return s->ops->nonce_uses_trim ? s->ops->nonce_uses_trim(s, epoch, below) : ENOSYS;
}
