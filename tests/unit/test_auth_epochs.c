/*
 * auth epochs (several nodes): the set's limits (AUTH_EPOCHS_MAX known,
 * AUTH_EPOCHS_HELD_MAX held, a held epoch's capacity), replacement by
 * begin/put/end, and allocation failures. The digest-level behaviour is in
 * test_auth_digest.c (test_verify_other_epochs).
 */
#include "auth/auth.h"
#include "check.h"

#include <errno.h>

static const uint8_t key[AUTH_KEY_LEN] = { 1, 2, 3 };

static void test_bounds(void)
{
	struct auth_epochs *ep = NULL;
	size_t known, held;
	bool fresh;

	CHECK_INT(auth_epochs_new(&ep, AUTH_NC_CAPACITY_MIN - 1), EINVAL);
	CHECK_INT(auth_epochs_new(&ep, AUTH_NC_CAPACITY_MAX + 1), EINVAL);
	CHECK_INT(auth_epochs_new(&ep, 8), 0);
	auth_epochs_begin(ep);
	for (uint32_t i = 1; i <= AUTH_EPOCHS_MAX; i++)
		CHECK_INT(auth_epochs_put(ep, i, key, i <= AUTH_EPOCHS_HELD_MAX, &fresh), 0);
	/* one more known, one more held: refused, nothing else changes */
	CHECK_INT(auth_epochs_put(ep, AUTH_EPOCHS_MAX + 1, key, false, NULL), EOVERFLOW);
	CHECK_INT(auth_epochs_put(ep, AUTH_EPOCHS_MAX, key, true, &fresh), EOVERFLOW);
	CHECK(!fresh);
	auth_epochs_end(ep);
	auth_epochs_count(ep, &known, &held);
	CHECK_INT(known, AUTH_EPOCHS_MAX);
	CHECK_INT(held, AUTH_EPOCHS_HELD_MAX);
	CHECK_INT(auth_epochs_find(ep, AUTH_EPOCHS_MAX + 1, NULL), AUTH_EPOCH_NONE);
	CHECK_INT(auth_epochs_find(ep, AUTH_EPOCHS_MAX, NULL), AUTH_EPOCH_KNOWN);
	CHECK_INT(auth_epochs_find(ep, 1, NULL), AUTH_EPOCH_HELD);

	/* a held epoch's capacity (8): the 9th new nonce is UNKNOWN, the
	 * known ones still answer */
	for (uint64_t s = 100; s < 108; s++)
		CHECK_INT(auth_epochs_use(ep, 1, s, 1), AUTH_NC_OK);
	CHECK_INT(auth_epochs_use(ep, 1, 108, 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_epochs_load_use(ep, 1, 108, 1), EOVERFLOW);
	CHECK_INT(auth_epochs_use(ep, 1, 100, 1), AUTH_NC_REPLAY);
	CHECK_INT(auth_epochs_use(ep, 1, 100, 2), AUTH_NC_OK);
	CHECK_INT(auth_epochs_use(ep, 1, 100, 0), AUTH_NC_UNKNOWN);
	/* not held: no counts */
	CHECK_INT(auth_epochs_use(ep, AUTH_EPOCHS_MAX, 1, 1), AUTH_NC_UNKNOWN);
	CHECK_INT(auth_epochs_load_use(ep, AUTH_EPOCHS_MAX, 1, 1), ENOENT);

	/* replacement: only what is put again stays; held 2 becomes known */
	auth_epochs_begin(ep);
	CHECK_INT(auth_epochs_put(ep, 1, key, true, &fresh), 0);
	CHECK(!fresh);
	CHECK_INT(auth_epochs_put(ep, 2, key, false, NULL), 0);
	auth_epochs_end(ep);
	auth_epochs_count(ep, &known, &held);
	CHECK_INT(known, 2);
	CHECK_INT(held, 1);
	CHECK_INT(auth_epochs_use(ep, 1, 100, 2), AUTH_NC_REPLAY); /* epoch 1 kept its counts */
	CHECK_INT(auth_epochs_find(ep, 2, NULL), AUTH_EPOCH_KNOWN);
	CHECK_INT(auth_epochs_find(ep, 3, NULL), AUTH_EPOCH_NONE);
	auth_epochs_free(&ep);
	CHECK(ep == NULL);
	auth_epochs_free(&ep);
}

/* The same number under another key (a reused number): a new epoch, no counts kept. */
static void test_new_key_starts_over(void)
{
	static const uint8_t other[AUTH_KEY_LEN] = { 9 };
	struct auth_epochs *ep = NULL;
	const uint8_t *k = NULL;
	bool fresh;

	CHECK_INT(auth_epochs_new(&ep, 8), 0);
	auth_epochs_begin(ep);
	CHECK_INT(auth_epochs_put(ep, 5, key, true, &fresh), 0);
	auth_epochs_end(ep);
	CHECK_INT(auth_epochs_use(ep, 5, 1, 1), AUTH_NC_OK);
	auth_epochs_begin(ep);
	CHECK_INT(auth_epochs_put(ep, 5, other, true, &fresh), 0);
	CHECK(fresh);
	auth_epochs_end(ep);
	CHECK_INT(auth_epochs_find(ep, 5, &k), AUTH_EPOCH_HELD);
	CHECK(k && k[0] == 9);
	CHECK_INT(auth_epochs_use(ep, 5, 1, 1), AUTH_NC_OK);
	/* putting back the key the set handed out (nodes/ does, for its own
	 * earlier epochs) keeps it, without copying it onto itself */
	auth_epochs_begin(ep);
	CHECK_INT(auth_epochs_put(ep, 5, k, false, NULL), 0);
	auth_epochs_end(ep);
	CHECK_INT(auth_epochs_find(ep, 5, &k), AUTH_EPOCH_KNOWN);
	CHECK(k && k[0] == 9);
	auth_epochs_free(&ep);
}

static int life(void *arg)
{
	struct auth_epochs *ep = NULL;
	int rc;

	(void)arg;
	if ((rc = auth_epochs_new(&ep, 8)) != 0)
		return rc;
	auth_epochs_begin(ep);
	rc = auth_epochs_put(ep, 1, key, true, NULL);
	auth_epochs_end(ep);
	if (rc == 0 && auth_epochs_use(ep, 1, 7, 1) != AUTH_NC_OK)
		rc = EPROTO;
	auth_epochs_free(&ep);
	return rc;
}

static void test_allocation_failures(void)
{
	/* the set, a held epoch's struct, its uses, its buckets: each may fail */
	CHECK(CHECK_OOM_SWEEP(life, NULL, 20) >= 4);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(test_bounds),
		CASE(test_new_key_starts_over),
		CASE(test_allocation_failures),
	};

	return check_main("auth_epochs", cases, ARRAY_SIZE(cases), argc, argv);
}
