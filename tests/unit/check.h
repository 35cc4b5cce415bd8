/*
 * check: the unit-test runner. A test file lists its cases and calls
 * check_main(); a failing CHECK prints file:line and the expression and ends
 * that case. With BASTION_JUNIT_DIR set, a JUnit XML file per suite is
 * written there so CI can count cases.
 */
#ifndef BASTION_CHECK_H
#define BASTION_CHECK_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct check_case {
	const char *name;
	void (*fn)(void);
};

#define CASE(fn) { #fn, fn }

extern bool check_failed;

void check_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int check_main(const char *suite, const struct check_case *cases, size_t n, int argc,
	       char **argv);
/* Read a whole file into a malloc'd buffer (test data). Returns NULL on error. */
char *check_read_file(const char *path, size_t *len);
/* Path of a file under tests/data (from $BASTION_TESTDATA or the source tree). */
const char *check_data_path(char *buf, size_t cap, const char *rel);

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			check_fail(__FILE__, __LINE__, "%s", #cond); \
			return; \
		} \
	} while (0)

#define CHECK_INT(a, b) \
	do { \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
		if (check_a_ != check_b_) { \
			check_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, check_a_, \
				   check_b_); \
			return; \
		} \
	} while (0)

/*
 * n keys (NUL-terminated, under 32 bytes, into out[n][32]) that all fall in
 * one bucket of the old unkeyed tables: FNV-1a, low 12 bits (4,096 buckets),
 * as an attacker choosing Call-IDs would send. Returns how many were made.
 */
size_t check_fnv_collisions(char (*out)[32], size_t n);

/*
 * Allocation-failure injection (tests/unit/oom.c). check_oom_arm(n): the nth
 * allocation from now fails (0: none). check_oom_sweep runs fn(arg) with the
 * 1st, 2nd, ... allocation failing until a run completes with none failing
 * (which must then return 0), reporting a failure at file:line when a run
 * leaks (LeakSanitizer) or the scenario needs more than max_runs runs. fn
 * must undo everything it made: a failing run may return any value, but may
 * not crash, hang or leak. Returns the number of runs.
 */
void check_oom_arm(unsigned long n);
bool check_oom_fired(void);
unsigned long check_oom_sweep(const char *file, int line, int (*fn)(void *arg), void *arg,
			      unsigned long max_runs);
#define CHECK_OOM_SWEEP(fn, arg, max) check_oom_sweep(__FILE__, __LINE__, (fn), (arg), (max))

/* Compare a struct slice with a string literal or C string. */
#define CHECK_SLICE(s, str) \
	do { \
		struct slice check_s_ = (s); \
		const char *check_e_ = (str); \
		if (check_s_.len != strlen(check_e_) || \
		    (check_s_.len && memcmp(check_s_.p, check_e_, check_s_.len) != 0)) { \
			check_fail(__FILE__, __LINE__, "%s == \"%s\" (got \"%.*s\")", #s, check_e_, \
				   (int)check_s_.len, check_s_.p ? check_s_.p : ""); \
			return; \
		} \
	} while (0)

#endif
