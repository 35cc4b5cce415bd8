/*
 * test_store_batch: store_batch_due, the group commit's clock: a batch is
 * due once its oldest change has waited wait_ms; the ms left before that;
 * nothing waiting clears the clock.
 */
#include "check.h"
#include "store/store.h"

static void due_after_the_wait(void)
{
	uint64_t since = 0;

	/* nothing waiting: -1, no clock */
	CHECK_INT(store_batch_due(&since, false, 10, 1000), -1);
	CHECK_INT(since, 0);
	/* the first change starts the clock */
	CHECK_INT(store_batch_due(&since, true, 10, 1000), 10);
	CHECK_INT(since, 1000);
	/* later changes do not restart it */
	CHECK_INT(store_batch_due(&since, true, 10, 1004), 6);
	CHECK_INT(since, 1000);
	CHECK_INT(store_batch_due(&since, true, 10, 1009), 1);
	CHECK_INT(store_batch_due(&since, true, 10, 1010), 0);
	CHECK_INT(store_batch_due(&since, true, 10, 5000), 0);
	/* committed (nothing waiting): the clock is cleared */
	CHECK_INT(store_batch_due(&since, false, 10, 5001), -1);
	CHECK_INT(since, 0);
	CHECK_INT(store_batch_due(&since, true, 10, 5002), 10);
	CHECK_INT(since, 5002);
}

static void no_wait(void)
{
	uint64_t since = 0;

	/* batch_wait 0: due as soon as anything waits */
	CHECK_INT(store_batch_due(&since, true, 0, 7), 0);
	CHECK_INT(since, 7);
	CHECK_INT(store_batch_due(&since, false, 0, 8), -1);
	/* the largest batch_wait the settings allow */
	CHECK_INT(store_batch_due(&since, true, 50, 1), 50);
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		CASE(due_after_the_wait),
		CASE(no_wait),
	};

	return check_main("store_batch", cases, ARRAY_SIZE(cases), argc, argv);
}
