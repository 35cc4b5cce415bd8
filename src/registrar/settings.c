/*
 * registrar/settings: the registrar's settings read from the server's
 * configuration ([registrar], and [store] batch_max, queue_max and
 * durability). conf/ holds the rows; this layer says what they mean
 * to it.
 */
#include "registrar.h"

#include "../conf/conf.h"

void registrar_conf_from(struct registrar_conf *rc, const struct conf *c)
{
	*rc = (struct registrar_conf){
		.min_expires = c->min_expires,
		.max_expires = c->max_expires,
		.default_expires = c->default_expires,
		.max_contacts = c->max_contacts,
		.max_bindings = c->max_bindings,
		.flow_grace = c->flow_grace,
		.batch_max = c->batch_max,
		.queue_max = c->queue_max,
		.write_behind = c->durability == CONF_DURABLE_NONE,
	};
}
