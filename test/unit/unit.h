/*
 * What every C unit test in test/unit shares: CHECK says what is wrong on
 * stderr, after UNIT (the test's name, defined before this header), and
 * marks the run failed; main exits 1 when failed is set.
 */
#ifndef SL_TEST_UNIT_H
#define SL_TEST_UNIT_H

#include <stdio.h>

static int failed;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, UNIT ": " __VA_ARGS__);			\
		fputc('\n', stderr);					\
		failed = 1;						\
	}								\
} while (0)

#endif
