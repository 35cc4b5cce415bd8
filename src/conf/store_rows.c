/*
 * conf/store_rows.c: the settings rows of [store]: the database and its group
 * commit (store/, registrar/hold.c).
 * conf.c assembles the sections in the order of its registry; the
 * reference (docs/configuration.md) follows that order.
 */
#include "internal.h"

const char *const conf_durabilities[] = { "process", "power", "none", NULL };

const struct conf_row conf_store_rows[] = {
	STR("store", "database", database, CONF_STR, "bastion.db",
	    "Where users, registrations, bans and call records live: an SQLite file, relative "
	    "to the state directory (created mode 0600 by `bastion init`), for one node; or a "
	    "PostgreSQL URL `postgresql://user@host:port/db?sslmode=verify-full` or libpq "
	    "connection string, shared by several nodes (docs/scaling.md). The password never "
	    "goes here: it comes from a pgpass file of mode 0600 (`passfile=` in the URL, "
	    "`PGPASSFILE`, or `~/.pgpass`). Takes effect on restart."),
	U32("store", "write_queue_max", write_queue_max, 100, 10000000, "100000", "writes",
	    "PostgreSQL only: how many writes (bindings, bans, locks, call records, dialogs) "
	    "may wait, in order, while the database server is unreachable; they wait in memory "
	    "and in the node's on-disk queue STATE/store-queue.journal, so a crash loses none. "
	    "Beyond it a REGISTER is answered 503 rather than acknowledged without being stored "
	    "(docs/scaling.md)."),
	{ "store", "durability", CONF_ENUM, offsetof(struct conf, durability), 0, 0, 0,
	  conf_durabilities, "process", NULL,
	  "What an acknowledged change survives (docs/registrar.md, Durability). `process`: "
	  "a crash or kill of the server (SQLite WAL, synchronous=NORMAL); `power`: a power "
	  "cut or kernel crash too (synchronous=FULL, an fsync per commit). A REGISTER's 200 "
	  "OK, `bastion ban add`, the 2xx that confirms a call and the answer to the BYE that "
	  "ends it are sent only once durable so. "
	  "`none`: the write-behind of earlier versions, for comparison (`bench/run "
	  "--durability`): a REGISTER is answered before its binding is stored, so a crash "
	  "loses up to 50 ms of acknowledged registrations.", NOPROF },
	U32("store", "batch_max", batch_max, 1, 100000, "64", "changes",
	    "Most changes in one transaction (group commit), for binding changes and, "
	    "apart, for calls' dialogs and call records: a batch is committed once its "
	    "oldest change has waited `batch_wait`, or at once when this many changes "
	    "wait, whichever comes first; the answers that wait for it (a REGISTER's 200 "
	    "OK, the 2xx that confirms a call, the answer to a BYE) go out when it is "
	    "committed. Under load batches fill before `batch_wait`, so a client with more "
	    "requests in flight than this never waits for the clock; one with fewer does. "
	    "`bastion_store_batches_total` counts batches by why they were committed."),
	U32("store", "batch_wait", batch_wait, 0, 50, "50", "ms",
	    "Longest a change waits for its batch's commit (and its answer with it): "
	    "checked after each round of network events. 0 commits after every round. At "
	    "light load a longer wait shares a commit among more REGISTERs and calls (less "
	    "CPU each: a commit writes each page it changed once, whatever the rows) and "
	    "adds that much latency to their answers."),
	U32("store", "queue_max", queue_max, 1, 10000000, "200000", "changes",
	    "Most binding changes waiting for the store (while it is slow or locked by "
	    "another writer), and so most REGISTER answers held for their commit (and at "
	    "most this many KiB of them); a REGISTER beyond it gets 503 with Retry-After, "
	    "and nothing is lost. Also most call answers held for theirs (the 2xx that "
	    "confirms a dialog, the answer to a BYE; docs/proxy.md): a new INVITE beyond "
	    "it gets 503, and an answer beyond it has its batch committed at once."),
};
const size_t conf_store_rows_n = ARRAY_SIZE(conf_store_rows);
