/*
 * store/settings: the store's settings read from the server's configuration
 * ([store] durability). conf/ holds the rows; this layer says what they mean
 * to it.
 */
#include "store.h"

#include "../conf/conf.h"

enum store_durability store_durability_from(const struct conf *c)
{
	return c->durability == CONF_DURABLE_POWER ? STORE_DURABLE_POWER : STORE_DURABLE_PROCESS;
}
