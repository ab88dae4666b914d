// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for the Rust IPE: every golden vector of ipe-lsm/vectors
 * (upstream's own policy_tests.c cases and the targeted error paths) goes
 * through the in-kernel parser, with kernel allocation, and must return the
 * errno upstream returns.
 */
#include <kunit/test.h>

#include "ipe_rust.h"

/*
 * A parameter is a vector's index plus one, because KUnit ends the sequence
 * at NULL; its description is the vector's, so each vector is one KTAP line.
 */
static const void *ipe_rust_vector_params(const void *prev, char *desc)
{
	size_t i = (uintptr_t)prev, len, why_len;
	const char *text, *why;
	int expected;

	if (i >= ipe_rust_vector_count())
		return NULL;
	ipe_rust_vector(i, &text, &len, &expected, &why, &why_len);
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%.*s", (int)why_len, why);
	return (const void *)(i + 1);
}

static void ipe_rust_parser_vector(struct kunit *test)
{
	size_t i = (uintptr_t)test->param_value - 1, len, why_len;
	struct ipe_rust_policy *p = NULL;
	const char *text, *why;
	int expected, rc;

	ipe_rust_vector(i, &text, &len, &expected, &why, &why_len);
	rc = ipe_rust_parse(text, len, &p);
	KUNIT_EXPECT_EQ_MSG(test, rc, expected, "vector %zu: %.*s", i,
			    (int)why_len, why);
	if (!rc) {
		/* A parsed policy has a name, and frees cleanly. */
		KUNIT_EXPECT_NOT_NULL(test, ipe_rust_name(p, &len));
		ipe_rust_free(p);
	}
}

static struct kunit_case ipe_rust_test_cases[] = {
	KUNIT_CASE_PARAM(ipe_rust_parser_vector, ipe_rust_vector_params),
	{}
};

static struct kunit_suite ipe_rust_test_suite = {
	.name = "ipe-rust-parser",
	.test_cases = ipe_rust_test_cases,
};

kunit_test_suite(ipe_rust_test_suite);
