/*
 * log/files: the log files of a run opened together at start, and reopened
 * together on a reload, from paths the caller resolved: the checkpoints'
 * key, the security event log and the call-record log (log.h,
 * log_files_open). The messages name the file and the reason, the same at
 * start (in err, which stops the start) and on a reload (logged; the old
 * file stays in use).
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int start(const struct log_files *f, char *err, size_t errlen)
{
	int e;

	if ((e = f->key.err) != 0 || (e = log_key_load(f->key.path, true)) != 0) {
		snprintf(err, errlen, "%s: cannot load the log key: %s%s", f->key.path, strerror(e),
			 e == EACCES ? " (it must be mode 0600)" : "");
		return e;
	}
	log_set_checkpoint_interval(f->checkpoint_interval);
	if ((e = f->events.err) != 0 || (e = log_events_open(f->events.path, f->syslog)) != 0) {
		snprintf(err, errlen, "%s: cannot open the security log: %s", f->events.path,
			 strerror(e));
		return e;
	}
	if ((e = f->cdr.err) != 0 || (e = log_cdr_open(f->cdr.path)) != 0) {
		snprintf(err, errlen, "%s: cannot open the CDR log: %s", f->cdr.path, strerror(e));
		return e;
	}
	return 0;
}

static void reload(const struct log_files *f)
{
	int e;

	if ((e = f->events.err) != 0 || (e = log_events_reopen(f->events.path, f->syslog)) != 0)
		log_error("reload: security log %s not reopened: %s", f->events.path, strerror(e));
	if ((e = f->cdr.err) != 0 || (e = log_cdr_reopen(f->cdr.path)) != 0)
		log_error("reload: CDR log %s not reopened: %s", f->cdr.path, strerror(e));
	log_set_checkpoint_interval(f->checkpoint_interval);
}

int log_files_open(const struct log_files *f, enum log_files_when when, char *err,
		   size_t errlen)
{
	if (when == LOG_FILES_START)
		return start(f, err, errlen);
	reload(f);
	return 0;
}

void log_files_close(void)
{
	log_events_close();
	log_cdr_close();
	log_key_forget();
}
