/*
 * metrics/settings: the metrics listener's settings read from the server's
 * configuration ([metrics]). conf/ holds the rows; this layer says what they
 * mean to it.
 */
#include "metrics.h"

#include "../conf/conf.h"

void metrics_conf_from(struct metrics_conf *mc, const struct conf *c)
{
	*mc = (struct metrics_conf){ 0 }; /* plain HTTP unless the caller sets the files */
	mc->addr = c->metrics_addr;
	mc->max_request = c->metrics_max_request;
	mc->timeout_ms = c->metrics_timeout * 1000u;
	mc->max_connections = c->metrics_max_connections;
	mc->max_response = 4u << 20;
}
