/*
 * row.c: the one mapping from a result row to a store record, shared by the
 * SQLite and the PostgreSQL backends (internal.h, "rows").
 *
 * Each record kind has a table of its columns, in the order of the
 * STORE_*_COLS lists both backends SELECT: the column's name, how to read it
 * (text into a fixed array, an integer with its range, a flag, ...) and where
 * it goes in the struct. A backend supplies only the getters of its library
 * (sqlite3_column_*, PQgetvalue) and the step to the next row; the checks a
 * row must pass (a string that does not fit, a number out of range, an HA1
 * that is not lowercase hex) are made here, once, so the two backends cannot
 * read the same row differently. The column names are compared with the
 * statement's on the first row of every walk: a SELECT and a table that
 * drifted apart fail loudly (EIO) instead of filling the wrong fields.
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum col_type {
	COL_TEXT,     /* NUL-terminated into char[cap]; EOVERFLOW if it does not fit */
	COL_HEX,      /* COL_TEXT that is "" or lowercase hex of exactly cap - 1 digits */
	COL_I64,      /* int64_t within [min, max] */
	COL_I32,      /* int32_t within [min, max] */
	COL_INT,      /* int within [min, max] */
	COL_U32,      /* uint32_t within [min, max] */
	COL_U16,      /* uint16_t within [min, max] */
	COL_U8,       /* uint8_t within [min, max] */
	COL_BOOL,     /* bool: any non-zero is true */
	COL_STRENGTH, /* enum store_pw_strength from "checked" (else unknown) */
};

struct col {
	const char *name;
	enum col_type type;
	size_t off, cap; /* cap: the array's size (text) */
	int64_t min, max;
};

#define TEXT(S, f, n) { n, COL_TEXT, offsetof(S, f), sizeof(((S *)0)->f), 0, 0 }
#define HEX(S, f, n) { n, COL_HEX, offsetof(S, f), sizeof(((S *)0)->f), 0, 0 }
#define NUM(S, f, n, t, lo, hi) { n, t, offsetof(S, f), sizeof(((S *)0)->f), lo, hi }
#define INT(S, f, n, t) NUM(S, f, n, t, INT64_MIN, INT64_MAX)

static const struct col user_cols[] = {
	INT(struct store_user, id, "id", COL_I64),
	TEXT(struct store_user, name, "name"),
	TEXT(struct store_user, domain, "domain"),
	TEXT(struct store_user, cred.realm, "realm"),
	HEX(struct store_user, cred.ha1_md5, "ha1_md5"),
	HEX(struct store_user, cred.ha1_sha256, "ha1_sha256"),
	INT(struct store_user, enabled, "enabled", COL_BOOL),
	INT(struct store_user, cred.strength, "password_strength", COL_STRENGTH),
	INT(struct store_user, created_at, "created_at", COL_I64),
	INT(struct store_user, changed_at, "changed_at", COL_I64),
	INT(struct store_user, require_client_cert, "require_client_cert", COL_BOOL),
	NUM(struct store_user, digest, "digest", COL_U8, 0, 3),
	TEXT(struct store_user, calling, "calling"),
	TEXT(struct store_user, fraud_hold, "fraud_hold"),
	INT(struct store_user, fraud_hold_at, "fraud_hold_at", COL_I64),
	TEXT(struct store_user, old_cred.realm, "old_realm"),
	HEX(struct store_user, old_cred.ha1_md5, "old_ha1_md5"),
	HEX(struct store_user, old_cred.ha1_sha256, "old_ha1_sha256"),
	NUM(struct store_user, pw_deadline, "pw_deadline", COL_I64, 0, INT64_MAX),
};

static const struct col reg_cols[] = {
	INT(struct store_reg, id, "id", COL_I64),
	INT(struct store_reg, user_id, "user_id", COL_I64),
	TEXT(struct store_reg, aor, "aor"),
	TEXT(struct store_reg, contact, "contact"),
	TEXT(struct store_reg, received, "received"),
	TEXT(struct store_reg, transport, "transport"),
	INT(struct store_reg, expires_at, "expires_at", COL_I64),
	TEXT(struct store_reg, call_id, "call_id"),
	NUM(struct store_reg, cseq, "cseq", COL_U32, 0, UINT32_MAX),
	TEXT(struct store_reg, user_agent, "user_agent"),
	TEXT(struct store_reg, instance, "instance"),
	NUM(struct store_reg, q, "q", COL_U16, 0, 1000),
	NUM(struct store_reg, reg_id, "reg_id", COL_U32, 0, STORE_REG_ID_MAX),
};

static const struct col identity_cols[] = {
	INT(struct store_identity, user_id, "user_id", COL_I64),
	TEXT(struct store_identity, name, "name"),
	TEXT(struct store_identity, domain, "domain"),
	TEXT(struct store_identity, uri, "uri"),
};

static const struct col cdr_cols[] = {
	INT(struct store_cdr, id, "id", COL_I64),
	TEXT(struct store_cdr, call_id, "call_id"),
	TEXT(struct store_cdr, caller, "caller"),
	TEXT(struct store_cdr, auth_user, "auth_user"),
	TEXT(struct store_cdr, callee, "callee"),
	TEXT(struct store_cdr, src, "src"),
	TEXT(struct store_cdr, transport, "transport"),
	INT(struct store_cdr, start_at, "start_at", COL_I64),
	INT(struct store_cdr, answer_at, "answer_at", COL_I64),
	INT(struct store_cdr, end_at, "end_at", COL_I64),
	NUM(struct store_cdr, final_status, "final_status", COL_INT, 0, 999),
	INT(struct store_cdr, duration_s, "duration_s", COL_I64),
	TEXT(struct store_cdr, hangup, "hangup"),
	TEXT(struct store_cdr, peer, "peer"),
	TEXT(struct store_cdr, klass, "class"),
	TEXT(struct store_cdr, dialed, "dialed"),
	TEXT(struct store_cdr, number, "number"),
	INT(struct store_cdr, emergency, "emergency", COL_BOOL),
	TEXT(struct store_cdr, location, "location"),
};

static const struct col ban_cols[] = {
	TEXT(struct store_ban, addr, "addr"),
	INT(struct store_ban, until, "until", COL_I64),
	NUM(struct store_ban, count, "count", COL_U32, 1, UINT32_MAX),
	TEXT(struct store_ban, reason, "reason"),
	INT(struct store_ban, created_at, "created_at", COL_I64),
};

static const struct col dialog_cols[] = {
	TEXT(struct store_dialog, call_id, "call_id"),
	TEXT(struct store_dialog, tag[0], "tag0"),
	TEXT(struct store_dialog, tag[1], "tag1"),
	TEXT(struct store_dialog, way[0], "way0"),
	TEXT(struct store_dialog, way[1], "way1"),
	TEXT(struct store_dialog, local[0], "local0"),
	TEXT(struct store_dialog, local[1], "local1"),
	TEXT(struct store_dialog, caller, "caller"),
	TEXT(struct store_dialog, auth_user, "auth_user"),
	TEXT(struct store_dialog, callee, "callee"),
	TEXT(struct store_dialog, src, "src"),
	TEXT(struct store_dialog, transport, "transport"),
	INT(struct store_dialog, start_at, "start_at", COL_I64),
	INT(struct store_dialog, answer_at, "answer_at", COL_I64),
	INT(struct store_dialog, expires_at, "expires_at", COL_I64),
	TEXT(struct store_dialog, peer, "peer"),
	TEXT(struct store_dialog, klass, "class"),
	TEXT(struct store_dialog, dialed, "dialed"),
	TEXT(struct store_dialog, number, "number"),
	NUM(struct store_dialog, cseq_delta, "cseq_delta", COL_I32, 0, 1000),
	INT(struct store_dialog, emergency, "emergency", COL_BOOL),
	TEXT(struct store_dialog, location, "location"),
};

#undef TEXT
#undef HEX
#undef NUM
#undef INT

/* Per kind: its columns, the record's size, and what the operator is told
 * of a row that does not fit (the value of column `which`, an integer, sits
 * between the two parts; -1: none). */
static const struct kind {
	const struct col *cols;
	size_t ncols, size;
	int which;
	const char *pre, *post;
} kinds[] = {
	[STORE_REC_USER] = { user_cols, ARRAY_SIZE(user_cols), sizeof(struct store_user), 0,
			     "user row ", " has a field too long" },
	[STORE_REC_REG] = { reg_cols, ARRAY_SIZE(reg_cols), sizeof(struct store_reg), 0,
			    "registration row ", " has a field out of range" },
	[STORE_REC_IDENTITY] = { identity_cols, ARRAY_SIZE(identity_cols),
				 sizeof(struct store_identity), 0, "identity row of user ",
				 " has a field too long" },
	[STORE_REC_CDR] = { cdr_cols, ARRAY_SIZE(cdr_cols), sizeof(struct store_cdr), 0,
			    "call record row ", " has a field out of range" },
	[STORE_REC_BAN] = { ban_cols, ARRAY_SIZE(ban_cols), sizeof(struct store_ban), 1,
			    "a ban row has a field out of range (ends ", ")" },
	[STORE_REC_DIALOG] = { dialog_cols, ARRAY_SIZE(dialog_cols), sizeof(struct store_dialog),
			       -1, "a dialog row has a field out of range", "" },
};

static bool hex_ok(const char *p, size_t digits)
{
	size_t n = strlen(p);

	if (n == 0)
		return true;
	if (n != digits)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/* Store v into the integer field of type t at p (v already in range). */
static void put_int(void *p, enum col_type t, int64_t v)
{
	switch (t) {
	case COL_I64:
		*(int64_t *)p = v;
		break;
	case COL_I32:
		*(int32_t *)p = (int32_t)v;
		break;
	case COL_INT:
		*(int *)p = (int)v;
		break;
	case COL_U32:
		*(uint32_t *)p = (uint32_t)v;
		break;
	case COL_U16:
		*(uint16_t *)p = (uint16_t)v;
		break;
	case COL_U8:
		*(uint8_t *)p = (uint8_t)v;
		break;
	case COL_BOOL:
		*(bool *)p = v != 0;
		break;
	default:
		break;
	}
}

int store_row_fill(enum store_rec kind, void *rec, const struct store_row_ops *ops, void *ctx)
{
	const struct kind *k = &kinds[kind];
	char strength[16];
	int e = 0;

	memset(rec, 0, k->size);
	for (size_t i = 0; i < k->ncols && !e; i++) {
		const struct col *c = &k->cols[i];
		char *p = (char *)rec + c->off;
		int64_t v = 0;

		switch (c->type) {
		case COL_TEXT:
			e = ops->text(ctx, (int)i, p, c->cap);
			break;
		case COL_HEX:
			if (!(e = ops->text(ctx, (int)i, p, c->cap)) && !hex_ok(p, c->cap - 1))
				e = EOVERFLOW;
			break;
		case COL_STRENGTH:
			if (!(e = ops->text(ctx, (int)i, strength, sizeof(strength))))
				*(enum store_pw_strength *)(void *)p = strcmp(strength, "checked") == 0
									       ? STORE_PW_CHECKED
									       : STORE_PW_UNKNOWN;
			break;
		default:
			if ((e = ops->i64(ctx, (int)i, &v)) != 0)
				break;
			if (c->type != COL_BOOL && (v < c->min || v > c->max))
				e = EOVERFLOW;
			else
				put_int(p, c->type, v);
			break;
		}
	}
	/* an old password is one the rotation kept: its strength was checked */
	if (!e && kind == STORE_REC_USER)
		((struct store_user *)rec)->old_cred.strength = STORE_PW_CHECKED;
	return e;
}

int store_row_check_columns(struct store *s, enum store_rec kind,
			    const struct store_row_ops *ops, void *ctx)
{
	const struct kind *k = &kinds[kind];
	const char *got;

	for (size_t i = 0; i <= k->ncols; i++) {
		got = ops->name(ctx, (int)i);
		if (i == k->ncols ? got != NULL : !got || strcmp(got, k->cols[i].name) != 0) {
			store_set_err(s, "internal: result column %zu is %.40s where %.40s was expected",
				      i, got ? got : "missing",
				      i < k->ncols ? k->cols[i].name : "none");
			return EIO;
		}
	}
	return 0;
}

/* Tell the operator which row did not fit: the integer of column which. */
static void complain(struct store *s, const struct kind *k, const struct store_row_ops *ops,
		     void *ctx)
{
	int64_t v = 0;

	if (k->which < 0 || ops->i64(ctx, k->which, &v) != 0)
		store_set_err(s, "%s%s", k->pre, k->post);
	else
		store_set_err(s, "%s%" PRId64 "%s", k->pre, v, k->post);
}

static int deliver(enum store_rec kind, union store_rec_fn fn, void *arg, const void *rec)
{
	switch (kind) {
	case STORE_REC_USER:
		return fn.user(arg, rec);
	case STORE_REC_REG:
		return fn.reg(arg, rec);
	case STORE_REC_IDENTITY:
		return fn.identity(arg, rec);
	case STORE_REC_CDR:
		return fn.cdr(arg, rec);
	case STORE_REC_BAN:
		return fn.ban(arg, rec);
	case STORE_REC_DIALOG:
		return fn.dialog(arg, rec);
	}
	return EINVAL;
}

int store_row_walk(struct store *s, enum store_rec kind, const struct store_row_ops *ops,
		   void *ctx, union store_rec_fn fn, void *arg)
{
	const struct kind *k = &kinds[kind];
	bool have = false, first = true;
	void *rec;
	int e;

	/* a few KiB (a dialog, a call record): not on the stack */
	if (!(rec = malloc(k->size)))
		return ENOMEM;
	while ((e = ops->next(ctx, &have)) == 0 && have) {
		if (first && (e = store_row_check_columns(s, kind, ops, ctx)) != 0)
			break;
		first = false;
		if ((e = store_row_fill(kind, rec, ops, ctx)) != 0) {
			complain(s, k, ops, ctx);
			break;
		}
		if ((e = deliver(kind, fn, arg, rec)) != 0)
			break;
	}
	free(rec);
	return e;
}
