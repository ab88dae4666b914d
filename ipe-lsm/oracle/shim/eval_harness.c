// SPDX-License-Identifier: GPL-2.0-only
/*
 * Runs upstream's ipe_build_eval_ctx() and ipe_evaluate_event() (eval.c,
 * compiled next to this file) on a fake file built from one set of facts.
 * build.rs compiles eval.c and this file once per Kconfig combination,
 * renaming their external symbols with a per-config suffix (_c<config>);
 * eval_dispatch.c picks the one the caller asks for.
 */
#include "vfs_shim.h"
#include "oracle.h"

#include "ipe.h"
#include "eval.h"
#include "audit.h"
#include "digest.h"

/* Everything a hook's file leads eval.c to, as the kernel would hold it. */
struct world {
	struct file file;
	struct vfsmount mnt;
	struct dentry dentry;
	struct inode inode;
	struct super_block sb;
	struct block_device bdev;
	struct fsverity_info verity;
	struct ipe_superblock sb_blob;
#ifdef CONFIG_IPE_PROP_DM_VERITY
	struct ipe_bdev bdev_blob;
	struct digest_info root_hash;
	char root_hash_alg[sizeof(((struct ipe_oracle_digest *)0)->alg) + 1];
#endif
#ifdef CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG
	struct ipe_inode inode_blob;
#endif
};

/* The LSM blob accessors of ipe.c: here each object points at its blob. */
struct ipe_superblock *ipe_sb(const struct super_block *sb)
{
	return sb->s_security;
}

#ifdef CONFIG_IPE_PROP_DM_VERITY
struct ipe_bdev *ipe_bdev(struct block_device *b)
{
	return b->bd_security;
}
#endif

#ifdef CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG
struct ipe_inode *ipe_inode(const struct inode *inode)
{
	return inode->i_security;
}
#endif

/* audit.c's ipe_audit_match() is where eval.c reports its decision. */
static _Thread_local struct {
	bool called;
	enum ipe_match match;
	enum ipe_action_type action;
	const struct ipe_rule *rule;
} audited;

void ipe_audit_match(const struct ipe_eval_ctx *const ctx, enum ipe_match match_type,
		     enum ipe_action_type act, const struct ipe_rule *const r)
{
	(void)ctx;
	audited.called = true;
	audited.match = match_type;
	audited.action = act;
	audited.rule = r;
}

static enum hash_algo find_algo(const struct ipe_oracle_digest *d)
{
	for (int alg = 0; alg < HASH_ALGO__LAST; alg++)
		if (strlen(hash_algo_name[alg]) == d->alg_len &&
		    !memcmp(hash_algo_name[alg], d->alg, d->alg_len) &&
		    hash_digest_size[alg] == d->digest_len)
			return alg;
	return HASH_ALGO__LAST;
}

/*
 * Builds the file the facts describe. -EINVAL for facts no kernel can
 * produce: a root hash algorithm with a NUL, an fs-verity digest that is not
 * one of the kernel's hash algorithms at its size, oversized digests.
 */
static int build_world(struct world *w, const struct ipe_oracle_facts *f)
{
	const struct ipe_oracle_digest *dmv = &f->dm_verity_root_hash;
	const struct ipe_oracle_digest *fsv = &f->fs_verity_digest;

	memset(w, 0, sizeof(*w));
	if (dmv->alg_len > sizeof(dmv->alg) || dmv->digest_len > sizeof(dmv->digest) ||
	    (dmv->present && memchr(dmv->alg, 0, dmv->alg_len)))
		return -EINVAL;
	w->file.f_path.mnt = &w->mnt;
	w->file.f_path.dentry = &w->dentry;
	w->mnt.mnt_sb = &w->sb;
	w->dentry.d_inode = &w->inode;
	w->inode.i_sb = &w->sb;
	w->sb.s_security = &w->sb_blob;
	w->sb_blob.initramfs = f->initramfs;
	if (f->has_bdev) {
		w->sb.s_bdev = &w->bdev;
#ifdef CONFIG_IPE_PROP_DM_VERITY
		w->bdev.bd_security = &w->bdev_blob;
#ifdef CONFIG_IPE_PROP_DM_VERITY_SIGNATURE
		w->bdev_blob.dm_verity_signed = f->dm_verity_signed;
#endif
		if (dmv->present) {
			memcpy(w->root_hash_alg, dmv->alg, dmv->alg_len);
			w->root_hash.alg = w->root_hash_alg;
			w->root_hash.digest = dmv->digest;
			w->root_hash.digest_len = dmv->digest_len;
			w->bdev_blob.root_hash = &w->root_hash;
		}
#endif
	}
	if (fsv->present) {
		w->verity.alg = find_algo(fsv);
		if (w->verity.alg == HASH_ALGO__LAST)
			return -EINVAL;
		memcpy(w->verity.digest, fsv->digest, fsv->digest_len);
		w->inode.i_verity_info = &w->verity;
		w->inode.i_flags |= S_VERITY;
	}
#ifdef CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG
	w->inode.i_security = &w->inode_blob;
	w->inode_blob.fs_verity_signed = f->fs_verity_signed;
#endif
	return 0;
}

static enum ipe_hook_type hook_of(int op)
{
	return op == IPE_OP_EXEC ? IPE_HOOK_BPRM_CHECK : IPE_HOOK_KERNEL_READ;
}

/* What a hook does per event: build the context, evaluate. */
static int evaluate(const struct world *w, bool has_file, int op)
{
	struct ipe_eval_ctx ctx = IPE_EVAL_CTX_INIT;

	ipe_build_eval_ctx(&ctx, has_file ? &w->file : NULL, op, hook_of(op));
	return ipe_evaluate_event(&ctx);
}

static int setup(struct world *w, const struct ipe_policy *pol, int op,
		 const struct ipe_oracle_facts *facts)
{
	if (op < 0 || op > IPE_OP_INVALID)
		return -EINVAL;
	ipe_active_policy = (struct ipe_policy *)pol;
	return build_world(w, facts);
}

int ipe_oracle_harness_eval(const struct ipe_policy *pol, int op,
			    const struct ipe_oracle_facts *facts, struct ipe_oracle_decision *out)
{
	const struct ipe_rule *rule;
	struct world w;
	int rc = setup(&w, pol, op, facts);

	if (rc)
		return rc;
	audited.called = false;
	out->rc = evaluate(&w, facts->has_file, op);
	if (!audited.called)
		return -ENOENT;
	out->match = audited.match;
	out->action = audited.action;
	out->rule_op = -1;
	out->rule_index = -1;
	if (audited.match != IPE_MATCH_RULE)
		return 0;
	out->rule_op = audited.rule->op;
	out->rule_index = 0;
	list_for_each_entry(rule, &pol->parsed->rules[audited.rule->op].rules, next) {
		if (rule == audited.rule)
			return 0;
		out->rule_index++;
	}
	return -ENOENT;
}

/* The benchmark: `times` events with the same facts; returns the last rc. */
int ipe_oracle_harness_repeat(const struct ipe_policy *pol, int op,
			      const struct ipe_oracle_facts *facts, u64 times)
{
	struct world w;
	int rc = setup(&w, pol, op, facts);

	if (rc)
		return rc;
	for (u64 i = 0; i < times; i++)
		rc = evaluate(&w, facts->has_file, op);
	return rc;
}
