/*
 * txn/settings: the transaction layer's settings read from the server's
 * configuration ([proxy] max_transactions, [emergency]
 * reserved_transactions). conf/ holds the rows; this layer says what they
 * mean to it.
 */
#include "txn.h"

#include "../conf/conf.h"

void txn_conf_from(struct txn_conf *tc, const struct conf *c)
{
	*tc = TXN_CONF_DEFAULT;
	tc->max_transactions = c->max_transactions;
	tc->reserve = c->emerg.reserved_transactions;
}
