/*
 * admin events: every command that changes something leaves an admin.*
 * security event (guide, Server Guidelines > Auditing and Logging: log
 * administrative actions), with the operating-system user who ran it and,
 * under sudo, the user behind it ($SUDO_USER).
 *
 * The event is written at one place, after the command ran, from the
 * command line itself: kind "admin.CMD_SUB" (admin.user_add, admin.ban_del,
 * admin.rotate ...), user = the SIP user or address the command names, reason
 * = "done: ARGS" or "refused (exit N): ARGS". No secret can be in ARGS:
 * the command line never takes a password or passphrase as an argument (they
 * come from standard input, a file or the terminal), and the log layer
 * redacts anything that looks like a digest credential anyway.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../conf/conf.h"
#include "../log/log.h"
#include "internal.h"

/* Sub-commands that only read: no event. */
static const char *const readers[][2] = {
	{ "user", "show" }, { "user", "list" }, { "ban", "list" }, { "tls", "show" },
	{ "backup", "verify" }, { "peer", "list" }, { "peer", "show" },
};

/* Commands that may change something; any other (serve, config, audit, reg,
 * cdr, help) never writes an admin event. */
static const char *const writers[] = { "init", "user", "ban", "tls", "rotate",
				       "backup", "restore", "peer", "store" };

bool admin_event_wanted(int nargs, char **args)
{
	bool writer = false;

	if (nargs < 1)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(writers); i++)
		writer |= strcmp(args[0], writers[i]) == 0;
	if (!writer)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(readers); i++)
		if (nargs > 1 && strcmp(args[0], readers[i][0]) == 0 &&
		    strcmp(args[1], readers[i][1]) == 0)
			return false;
	/* user identity list NAME */
	if (nargs > 2 && strcmp(args[0], "user") == 0 && strcmp(args[1], "identity") == 0 &&
	    strcmp(args[2], "list") == 0)
		return false;
	return true;
}

/* "admin.user_add" from args; the second word only when it is a
 * sub-command (a word of letters), not an option or a name. */
static void kind_of(char *out, size_t cap, int nargs, char **args)
{
	bool sub = nargs > 1 && args[1][0] >= 'a' && args[1][0] <= 'z' &&
		   strcmp(args[0], "init") != 0 && strcmp(args[0], "rotate") != 0 &&
		   strcmp(args[0], "restore") != 0;

	for (const char *p = sub ? args[1] : ""; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == '-'))
			sub = false;
	snprintf(out, cap, "admin.%s%s%s", args[0], sub ? "_" : "", sub ? args[1] : "");
	for (char *p = out; *p; p++)
		if (*p == '-')
			*p = '_';
}

/* The object of the command: NAME of "user add NAME", ADDR of "ban add
 * ADDR", NAME of "tls issue NAME", "user identity add NAME URI", "peer add
 * NAME". */
static const char *target_of(int nargs, char **args)
{
	int i = 2;

	if (strcmp(args[0], "user") == 0 && nargs > 1 && strcmp(args[1], "identity") == 0)
		i = 3;
	if (strcmp(args[0], "user") == 0 && nargs > 1 && strcmp(args[1], "import") == 0)
		return NULL; /* a file, not a user */
	if (strcmp(args[0], "user") != 0 && strcmp(args[0], "ban") != 0 &&
	    strcmp(args[0], "peer") != 0 &&
	    !(strcmp(args[0], "tls") == 0 && nargs > 1 && strcmp(args[1], "issue") == 0))
		return NULL;
	return nargs > i && args[i][0] != '-' ? args[i] : NULL;
}

int admin_event_identity(char *user, size_t ucap, char *sudo, size_t scap)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	const char *s = getenv("SUDO_USER");

	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(user, ucap, "%s", res->pw_name);
	else
		snprintf(user, ucap, "uid %u", (unsigned)getuid());
	snprintf(sudo, scap, "%s", s ? s : "");
	return 0;
}

void admin_event_record(const char *state, int nargs, char **args, int rc)
{
	char path[4200], err[600], kind[64], reason[600], user[256], sudo[256];
	const char *target;
	struct conf c;
	size_t n;
	struct log_event e = { 0 };

	if (!admin_event_wanted(nargs, args))
		return;
	snprintf(path, sizeof(path), "%s/%s", state, CONF_FILE_NAME);
	/* a command that failed before a state existed has nowhere to log */
	if (conf_load(&c, path, err, sizeof(err)) != 0 ||
	    conf_state_path(path, sizeof(path), state, c.security_log) != 0)
		return;
	if (log_events_open(path, c.syslog == CONF_YES) != 0) {
		fprintf(stderr, "bastion: warning: cannot write the admin event to %s\n", path);
		return;
	}
	kind_of(kind, sizeof(kind), nargs, args);
	n = (size_t)snprintf(reason, sizeof(reason), rc == 0 ? "done:" : "refused (exit %d):", rc);
	for (int i = 0; i < nargs && n < sizeof(reason); i++)
		n += (size_t)snprintf(reason + n, sizeof(reason) - n, " %s", args[i]);
	admin_event_identity(user, sizeof(user), sudo, sizeof(sudo));
	target = target_of(nargs, args);
	e.kind = kind;
	e.user = target ? slice_cstr(target) : SLICE_NULL;
	e.reason = reason;
	e.os_user = slice_cstr(user);
	e.sudo_user = slice_cstr(sudo);
	log_event(&e);
	log_events_close();
}
