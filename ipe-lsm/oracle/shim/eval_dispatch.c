// SPDX-License-Identifier: GPL-2.0-only
/*
 * Picks the eval.c build for a Kconfig combination. build.rs compiles one per
 * valid combination (a signature switch needs its base switch), the same
 * list as below; a config without a build is -ENOSYS.
 */
#include "vfs_shim.h"
#include "oracle.h"

#define IPE_ORACLE_CONFIGS(X) X(0) X(1) X(3) X(4) X(5) X(7) X(12) X(13) X(15)

#define DECLARE(n)                                                                         \
	int ipe_oracle_harness_eval_c##n(const struct ipe_policy *pol, int op,             \
					 const struct ipe_oracle_facts *facts,             \
					 struct ipe_oracle_decision *out);                 \
	int ipe_oracle_harness_repeat_c##n(const struct ipe_policy *pol, int op,           \
					   const struct ipe_oracle_facts *facts, u64 times);
IPE_ORACLE_CONFIGS(DECLARE)

int ipe_oracle_eval(unsigned int config, const struct ipe_policy *pol, int op,
		    const struct ipe_oracle_facts *facts, struct ipe_oracle_decision *out)
{
#define EVAL(n)                                                                            \
	case n:                                                                            \
		return ipe_oracle_harness_eval_c##n(pol, op, facts, out);
	switch (config) {
		IPE_ORACLE_CONFIGS(EVAL)
	default:
		return -ENOSYS;
	}
}

int ipe_oracle_eval_repeat(unsigned int config, const struct ipe_policy *pol, int op,
			   const struct ipe_oracle_facts *facts, u64 times)
{
#define REPEAT(n)                                                                          \
	case n:                                                                            \
		return ipe_oracle_harness_repeat_c##n(pol, op, facts, times);
	switch (config) {
		IPE_ORACLE_CONFIGS(REPEAT)
	default:
		return -ENOSYS;
	}
}
