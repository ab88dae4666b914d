/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The interface between the Rust oracle and the C harnesses around
 * upstream's eval.c. The facts mirror ipe_lsm::Facts (#[repr(C)], the same
 * layout the in-kernel Rust IPE shares with its C shim); both sides assert
 * the size.
 */
#ifndef IPE_ORACLE_H
#define IPE_ORACLE_H

#include "kernel_shim.h"

struct ipe_policy;

struct ipe_oracle_digest {
	bool present;
	u8 alg_len;
	u8 digest_len;
	u8 alg[128];
	u8 digest[64];
};

struct ipe_oracle_facts {
	bool has_file;
	bool initramfs;
	bool has_bdev;
	bool dm_verity_signed;
	struct ipe_oracle_digest dm_verity_root_hash;
	bool fs_verity_signed;
	struct ipe_oracle_digest fs_verity_digest;
};

_Static_assert(sizeof(struct ipe_oracle_facts) == 395, "must match Facts in facts.rs");

/* Upstream's decision: what ipe_evaluate_event() returned and audited. */
struct ipe_oracle_decision {
	int rc;		/* 0 or -EACCES */
	int match;	/* enum ipe_match */
	int action;	/* enum ipe_action_type */
	int rule_op;	/* the matched rule's op, or -1 */
	int rule_index;	/* its position in that op's rule list, or -1 */
};

/*
 * The Kconfig switches as bits, the Rust side's Config: 1 DM_VERITY,
 * 2 DM_VERITY_SIGNATURE, 4 FS_VERITY, 8 FS_VERITY_BUILTIN_SIG.
 */
int ipe_oracle_eval(unsigned int config, const struct ipe_policy *pol, int op,
		    const struct ipe_oracle_facts *facts, struct ipe_oracle_decision *out);
int ipe_oracle_eval_repeat(unsigned int config, const struct ipe_policy *pol, int op,
			   const struct ipe_oracle_facts *facts, u64 times);

#endif /* IPE_ORACLE_H */
