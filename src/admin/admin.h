/*
 * admin: the command line. One binary, `bastion [--state DIR] COMMAND ...`.
 *
 * The state directory is --state DIR (before or after the command name),
 * else $BASTION_STATE, else /var/lib/bastion. Exit status: 0 success, 1 the
 * command failed (the message names the problem), 2 usage error. Scripts and
 * operators rely on these names; keep them.
 */
#ifndef BASTION_ADMIN_H
#define BASTION_ADMIN_H

#define ADMIN_DEFAULT_STATE "/var/lib/bastion"

/* Run the command line; returns the process exit status. */
int admin_main(int argc, char **argv);

#endif
