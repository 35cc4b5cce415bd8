/*
 * oom: allocation-failure injection for the unit tests (libre's `retest -o`).
 *
 * Every unit test is linked with -Wl,--wrap for malloc, calloc, realloc and
 * strdup, so the allocations of the code under test (bastion_core and the
 * test itself; not those inside shared libraries such as SQLite or OpenSSL)
 * come through here. While armed with n, the nth allocation fails as if the
 * heap were exhausted; check_oom_sweep() walks n = 1, 2, ... over a whole
 * scenario, so every allocation a scenario makes fails once, and checks
 * after each run that nothing leaked (LeakSanitizer, in the sanitizer build).
 */
#include "check.h"

#include <errno.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#endif

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static unsigned long oom_at, oom_count;
static bool oom_fired;

static bool fail_now(void)
{
	if (!oom_at)
		return false;
	if (++oom_count == oom_at) {
		oom_fired = true;
		return true;
	}
	return false;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

void check_oom_arm(unsigned long n)
{
	oom_at = n;
	oom_count = 0;
	oom_fired = false;
}

bool check_oom_fired(void)
{
	return oom_fired;
}

unsigned long check_oom_sweep(const char *file, int line, int (*fn)(void *arg), void *arg,
			      unsigned long max_runs)
{
	unsigned long n;

	for (n = 1; n <= max_runs; n++) {
		int rc;
		bool fired;

		check_oom_arm(n);
		rc = fn(arg);
		fired = oom_fired;
		check_oom_arm(0);
#ifdef HAVE_LSAN
		if (__lsan_do_recoverable_leak_check()) {
			check_fail(file, line, "leak after allocation %lu failed", n);
			return n;
		}
#endif
		if (!fired) {
			/* the whole scenario ran without a failure: done */
			if (rc != 0)
				check_fail(file, line, "scenario failed (%d) with no allocation failing",
					   rc);
			return n;
		}
	}
	check_fail(file, line, "more than %lu allocations: raise max_runs", max_runs);
	return n;
}
