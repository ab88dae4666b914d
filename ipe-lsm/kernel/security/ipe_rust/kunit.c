// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for the Rust IPE: every golden vector of ipe-lsm/vectors
 * (upstream's own policy_tests.c cases and the targeted error paths) goes
 * through the in-kernel parser, with kernel allocation, and must return the
 * errno upstream returns.
 */
#include <kunit/test.h>

#include "ipe_rust.h"

static void ipe_rust_parser_vectors(struct kunit *test)
{
	size_t i, n = ipe_rust_vector_count();

	KUNIT_ASSERT_GT(test, n, 0);
	for (i = 0; i < n; i++) {
		struct ipe_rust_policy *p = NULL;
		const char *text, *why;
		size_t len, why_len;
		int expected, rc;

		ipe_rust_vector(i, &text, &len, &expected, &why, &why_len);
		rc = ipe_rust_parse(text, len, &p);
		KUNIT_EXPECT_EQ_MSG(test, rc, expected, "vector %zu: %.*s", i,
				    (int)why_len, why);
		if (!rc) {
			/* A parsed policy has a name, and frees cleanly. */
			ipe_rust_name(p, &len);
			ipe_rust_free(p);
		}
	}
	kunit_info(test, "%zu parser vectors\n", n);
}

static struct kunit_case ipe_rust_test_cases[] = {
	KUNIT_CASE(ipe_rust_parser_vectors),
	{}
};

static struct kunit_suite ipe_rust_test_suite = {
	.name = "ipe-rust-parser",
	.test_cases = ipe_rust_test_cases,
};

kunit_test_suite(ipe_rust_test_suite);
