/*
 * conf/internal.h: the row type of the settings table, shared by conf.c (the
 * one loader) and the files that hold each layer's rows (conf/LAYER_rows.c).
 *
 * Each layer's settings are declared in a file of their own, one array per
 * section, and conf.c assembles the table from them in the order of its
 * registry (that order is the order of docs/configuration.md). The rows
 * live under conf/ and not in the layers because a row names its field in
 * struct conf (offsetof), which conf.h defines from the layers' public
 * types: a layer that included it would point back up at conf/. A new
 * setting is a row in its layer's file and a field in struct conf.
 */
#ifndef BASTION_CONF_INTERNAL_H
#define BASTION_CONF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

enum conf_type {
	CONF_U32,
	CONF_STR,
	CONF_ENUM,
	CONF_LISTEN,
	CONF_HOST,
	CONF_ALGOS,
	CONF_REALM,
	CONF_CIDRS, /* comma-separated addresses or prefixes */
	CONF_WORDS, /* comma-separated non-empty words */
	CONF_ADDR,  /* host:port of a TCP listener, numeric; empty: off */
	CONF_REMOTE, /* tls:HOST:PORT; empty: off */
};

struct conf_row {
	const char *section;
	const char *key;
	enum conf_type type;
	size_t offset;
	size_t size;               /* CONF_STR/HOST/LISTEN: buffer size */
	uint32_t min, max;         /* CONF_U32 */
	const char *const *choices; /* CONF_ENUM, NULL-terminated; stored as index */
	const char *def;           /* default, as it would be written in the file */
	const char *unit;
	const char *help;
	/* Another default per robustness profile (enum conf_profile), written
	 * as in the file; NULL keeps def. The guide's levels, as data. */
	const char *prof[CONF_PROFILE__COUNT];
};

/* Per-profile defaults: PROF(minimum, medium, highest). */
#define PROF(a, b, c) .prof = { a, b, c }
#define NOPROF { NULL, NULL, NULL }

#define U32(sec, k, field, lo, hi, d, u, h) \
	{ sec, k, CONF_U32, offsetof(struct conf, field), 0, lo, hi, NULL, d, u, h, NOPROF }
#define STR(sec, k, field, type, d, h) \
	{ sec, k, type, offsetof(struct conf, field), sizeof(((struct conf *)0)->field), 0, 0, \
	  NULL, d, NULL, h, NOPROF }

/* Choices of enum settings that several sections share (conf.c); the others
 * sit with their rows. Each is NULL-terminated, the stored value its index. */
extern const char *const conf_yes_no[];      /* enum conf_bool */
extern const char *const conf_profiles[];    /* enum conf_profile */

/* One section's rows: `const struct conf_row conf_NAME_rows[]` and its
 * length `conf_NAME_rows_n`, defined in the layer's file. */
#define CONF_ROWS(name) \
	extern const struct conf_row conf_##name##_rows[]; \
	extern const size_t conf_##name##_rows_n

CONF_ROWS(server);    /* server_rows.c */
CONF_ROWS(limits);    /* sip_rows.c */
CONF_ROWS(tcp);       /* net_rows.c */
CONF_ROWS(tls);       /* tls_rows.c */
CONF_ROWS(log);       /* log_rows.c */
CONF_ROWS(metrics);   /* metrics_rows.c */
CONF_ROWS(store);     /* store_rows.c */
CONF_ROWS(auth);      /* auth_rows.c */
CONF_ROWS(registrar); /* registrar_rows.c */
CONF_ROWS(proxy);     /* proxy_rows.c */
CONF_ROWS(guard);     /* guard_rows.c */
CONF_ROWS(policy);    /* policy_rows.c */
CONF_ROWS(emergency); /* emerg_rows.c */
CONF_ROWS(network);   /* trunk_rows.c */
CONF_ROWS(trunks);    /* trunk_rows.c */
CONF_ROWS(fraud);     /* trunk_rows.c */

/* The number of rows of every section together (at most CONF_MAX_SETTINGS:
 * a table that grew past it stops the program at its first use, which every
 * unit test of conf/ reaches), and row i in table order. */
size_t conf_rows_count(void);
const struct conf_row *conf_row_at(size_t i);

#endif
