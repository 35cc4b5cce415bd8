/*
 * proxy/settings: the proxy core's settings read from the server's
 * configuration ([proxy], [emergency] reserved_dialogs, [policy] media, the
 * realm, the listeners, [limits], [store] queue_max). conf/ holds the rows;
 * this layer says what they mean to it.
 */
#include "proxy.h"

#include <stdio.h>
#include <string.h>

#include "../conf/conf.h"

void proxy_conf_from(struct proxy_conf *pc, const struct conf *c)
{
	memset(pc, 0, sizeof(*pc));
	pc->max_dialogs = c->max_dialogs;
	pc->reserved_dialogs = c->emerg.reserved_dialogs;
	pc->invite_timeout_s = c->invite_timeout;
	pc->srtp_required = c->media == CONF_MEDIA_SRTP;
	snprintf(pc->realm, sizeof(pc->realm), "%s", conf_realm(c));
	_Static_assert(sizeof(pc->listeners) == sizeof(c->listeners), "listeners");
	memcpy(pc->listeners, c->listeners, sizeof(pc->listeners));
	pc->nlisteners = c->nlisteners;
	pc->lim = c->lim;
	pc->hold_max = c->queue_max; /* like REGISTER answers: [store] queue_max */
}
