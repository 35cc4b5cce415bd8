/*
 * auth/deadline: what a password rotation's deadline means for a request
 * that proved a password (`bastion rotate --passwords --deadline T`,
 * docs/operations.md; guide: "Heartbleed Bug and VoIP": after a compromise
 * every credential is changed, and the old ones must stop working).
 *
 * Two kinds of rotation leave a deadline on a user:
 * - new passwords were generated (--out FILE): the old password is still
 *   accepted until the deadline, so phones can be given their new one; a
 *   phone that still uses it is told (event, Warning header), and from the
 *   deadline on it gets 403 "Password Expired";
 * - no passwords were generated: the current one must be changed by the
 *   deadline (`bastion user passwd`, which clears the mark); until then the
 *   user is told at each authentication, from then on it is refused.
 */
#include <stdio.h>
#include <time.h>

#include "auth.h"

void auth_deadline_check(struct auth_deadline_verdict *v, int64_t deadline, bool has_old,
			 bool used_old, int64_t now)
{
	*v = (struct auth_deadline_verdict){ .action = AUTH_DEADLINE_OK };
	if (used_old && (deadline <= 0 || !has_old || now >= deadline)) {
		/* (an old password without a deadline cannot be stored: refused) */
		v->action = AUTH_DEADLINE_EXPIRED;
		v->event = "auth.password_expired";
		v->detail = "the password before the last rotation; its deadline has passed";
		v->phrase = "Password Expired";
	} else if (used_old) {
		v->action = AUTH_DEADLINE_WARN;
		v->event = "auth.old_password";
		v->detail = "the password before the last rotation, accepted until its deadline: "
			    "give the phone its new password";
	} else if (deadline > 0 && !has_old && now >= deadline) {
		v->action = AUTH_DEADLINE_EXPIRED;
		v->event = "auth.password_expired";
		v->detail = "the password had to be changed by its deadline "
			    "(bastion rotate --passwords)";
		v->phrase = "Password Expired";
	} else if (deadline > 0 && !has_old) {
		v->action = AUTH_DEADLINE_WARN;
		v->event = "auth.password_change_due";
		v->detail = "the password must be changed by its deadline "
			    "(bastion user passwd NAME)";
	}
}

int auth_deadline_warning(char *out, size_t cap, struct slice domain, int64_t deadline)
{
	char when[32];
	time_t t = (time_t)deadline;
	struct tm tm;
	int n;

	if (!out || cap == 0 || deadline <= 0 || domain.len > (size_t)INT32_MAX ||
	    !gmtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return 0;
	/* RFC 3261 20.43: warn-code 399 (miscellaneous), our domain as agent */
	n = snprintf(out, cap, "Warning: 399 %.*s \"This password stops working at %s: ask the "
		     "administrator for the new one\"\r\n", (int)domain.len, domain.p ? domain.p : "",
		     when);
	if (n <= 0 || (size_t)n >= cap) {
		out[0] = '\0';
		return 0;
	}
	return n;
}
