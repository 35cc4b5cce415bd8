/*
 * conf/reload: the rule of a reload (SIGHUP) as a value. Most settings take
 * effect when the file is reloaded; a few shape what was built at start (the
 * sockets, the store, the nonce-count table, the metrics listener, the
 * remote log sender, the transaction table's reserve) and only a restart
 * changes them. conf_reload_merge keeps the running values of those and says
 * which the new file changed, with the warning to log; server/ only logs
 * them and applies the result.
 */
#include "internal.h"

#include <string.h>

/* The warnings, one per group; tests/system greps them. */
static const char *const warnings[CONF_RESTART__COUNT] = {
	[CONF_RESTART_LISTEN] = "reload: listen changed; the new listeners need a restart",
	[CONF_RESTART_RESERVE] = "reload: [emergency] reserved_transactions changes need a restart",
	[CONF_RESTART_STATE] = "reload: database, nonce_window, nonce_table_size and max_users "
			       "changes need a restart",
	[CONF_RESTART_METRICS] = "reload: [metrics] listen changed; the new listener needs a "
				 "restart",
	[CONF_RESTART_REMOTE] = "reload: [log] remote changed; it needs a restart",
};

static void note(struct conf_reload *out, enum conf_restart g, bool changed)
{
	if (!changed)
		return;
	out->changed |= 1u << g;
	out->warning[out->nwarnings++] = warnings[g];
}

void conf_reload_merge(struct conf *next, const struct conf *running, struct conf_reload *out)
{
	*out = (struct conf_reload){ 0 };
	note(out, CONF_RESTART_LISTEN, strcmp(next->listen, running->listen) != 0);
	memcpy(next->listen, running->listen, sizeof(next->listen));
	memcpy(next->listeners, running->listeners, sizeof(next->listeners));
	next->nlisteners = running->nlisteners;

	note(out, CONF_RESTART_RESERVE,
	     next->emerg.reserved_transactions != running->emerg.reserved_transactions);
	next->emerg.reserved_transactions = running->emerg.reserved_transactions;

	note(out, CONF_RESTART_STATE,
	     strcmp(next->database, running->database) != 0 ||
		     next->nonce_table_size != running->nonce_table_size ||
		     next->nonce_window != running->nonce_window ||
		     next->max_users != running->max_users);
	memcpy(next->database, running->database, sizeof(next->database));
	next->nonce_table_size = running->nonce_table_size;
	next->nonce_window = running->nonce_window;
	next->max_users = running->max_users;

	note(out, CONF_RESTART_METRICS, strcmp(next->metrics_listen, running->metrics_listen) != 0);
	memcpy(next->metrics_listen, running->metrics_listen, sizeof(next->metrics_listen));
	next->metrics_addr = running->metrics_addr;
	next->metrics_tls = running->metrics_tls;

	note(out, CONF_RESTART_REMOTE, strcmp(next->remote, running->remote) != 0);
	memcpy(next->remote, running->remote, sizeof(next->remote));
	memcpy(next->remote_host, running->remote_host, sizeof(next->remote_host));
	next->remote_port = running->remote_port;
	next->remote_queue_size = running->remote_queue_size;
}
