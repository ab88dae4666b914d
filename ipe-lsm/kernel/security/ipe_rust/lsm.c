// SPDX-License-Identifier: GPL-2.0
/*
 * IPE with a Rust policy engine: LSM registration, blobs and hooks.
 *
 * Each hook gathers the facts about its file (as upstream's
 * ipe_build_eval_ctx() does) and asks Rust for the decision; this file holds
 * no policy logic. Registered as "ipe" with LSM_ID_IPE, so userspace sees
 * upstream IPE.
 */
#include <linux/binfmts.h>
#include <linux/fs_struct.h>
#include <linux/fsverity.h>
#include <linux/mman.h>
#include <linux/moduleparam.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <crypto/hash_info.h>
#include <uapi/linux/lsm.h>

#include "ipe_rust.h"

extern const char *const ipe_boot_policy;

bool ipe_enabled;
bool success_audit;
bool enforce = true;
struct ipe_policy __rcu *ipe_active_policy;

struct ipe_superblock {
	bool initramfs;
};

struct ipe_bdev {
	bool dm_verity_signed;
	struct ipe_rust_digest __rcu *root_hash;
};

struct ipe_inode {
	bool fs_verity_signed;
};

static struct lsm_blob_sizes ipe_blobs __ro_after_init = {
	.lbs_superblock = sizeof(struct ipe_superblock),
#ifdef CONFIG_IPE_PROP_DM_VERITY
	.lbs_bdev = sizeof(struct ipe_bdev),
#endif
#ifdef CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG
	.lbs_inode = sizeof(struct ipe_inode),
#endif
};

static const struct lsm_id ipe_lsmid = {
	.name = "ipe",
	.id = LSM_ID_IPE,
};

static struct ipe_superblock *ipe_sb(const struct super_block *sb)
{
	return sb->s_security + ipe_blobs.lbs_superblock;
}

static __maybe_unused struct ipe_bdev *ipe_bdev(struct block_device *b)
{
	return b->bd_security + ipe_blobs.lbs_bdev;
}

static __maybe_unused struct ipe_inode *ipe_inode(const struct inode *inode)
{
	return inode->i_security + ipe_blobs.lbs_inode;
}

/* The facts upstream's ipe_build_eval_ctx() and its evaluate_*() read. */
static void gather_facts(struct ipe_rust_facts *facts, const struct file *file)
{
	struct inode *ino;

	if (!file)
		return;
	facts->has_file = true;
	facts->initramfs = ipe_sb(file->f_path.mnt->mnt_sb)->initramfs;
	ino = d_real_inode(file->f_path.dentry);
	if (IS_ENABLED(CONFIG_IPE_PROP_DM_VERITY) && ino->i_sb->s_bdev) {
		struct ipe_bdev *blob = ipe_bdev(ino->i_sb->s_bdev);
		const struct ipe_rust_digest *root_hash;

		facts->has_bdev = true;
		facts->dm_verity_signed = IS_ENABLED(CONFIG_IPE_PROP_DM_VERITY_SIGNATURE) &&
					  blob->dm_verity_signed;
		rcu_read_lock();
		root_hash = rcu_dereference(blob->root_hash);
		if (root_hash)
			facts->dm_verity_root_hash = *root_hash;
		rcu_read_unlock();
	}
	if (IS_ENABLED(CONFIG_IPE_PROP_FS_VERITY)) {
		struct ipe_rust_digest *d = &facts->fs_verity_digest;
		enum hash_algo alg;

		if (fsverity_get_digest(ino, d->digest, NULL, &alg)) {
			d->present = true;
			d->digest_len = hash_digest_size[alg];
			d->alg_len = strscpy(d->alg, hash_algo_name[alg], sizeof(d->alg));
		}
		facts->fs_verity_signed = IS_ENABLED(CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG) &&
					  ipe_inode(ino)->fs_verity_signed;
	}
}

/* upstream's ipe_evaluate_event(): decide, audit, then apply enforce. */
static int ipe_evaluate(const struct file *file, u32 op, enum ipe_hook_type hook)
{
	struct ipe_rust_facts facts = { 0 };
	struct ipe_rust_decision d;
	struct ipe_policy *pol;

	rcu_read_lock();
	pol = rcu_dereference(ipe_active_policy);
	if (!pol) {
		rcu_read_unlock();
		return 0;
	}
	gather_facts(&facts, file);
	ipe_rust_decide(pol->parsed, op, &facts, &d);
	WARN(d.no_default, "no default rule set for unknown op, ALLOW it");
	ipe_audit_match(file, hook, op, pol, &d);
	rcu_read_unlock();
	if (!READ_ONCE(enforce))
		return 0;
	return d.deny ? -EACCES : 0;
}

static int ipe_bprm_check_security(struct linux_binprm *bprm)
{
	return ipe_evaluate(bprm->file, IPE_OP_EXEC, IPE_HOOK_BPRM_CHECK);
}

static int ipe_mmap_file(struct file *f, unsigned long reqprot, unsigned long prot,
			 unsigned long flags)
{
	if (prot & PROT_EXEC)
		return ipe_evaluate(f, IPE_OP_EXEC, IPE_HOOK_MMAP);
	return 0;
}

static int ipe_file_mprotect(struct vm_area_struct *vma, unsigned long reqprot,
			     unsigned long prot)
{
	/* Already executable */
	if (vma->vm_flags & VM_EXEC)
		return 0;
	if (prot & PROT_EXEC)
		return ipe_evaluate(vma->vm_file, IPE_OP_EXEC, IPE_HOOK_MPROTECT);
	return 0;
}

static int ipe_kernel_read_file(struct file *file, enum kernel_read_file_id id,
				bool contents)
{
	u32 op;

	switch (id) {
	case READING_FIRMWARE:
		op = IPE_OP_FIRMWARE;
		break;
	case READING_MODULE:
		op = IPE_OP_KERNEL_MODULE;
		break;
	case READING_KEXEC_INITRAMFS:
		op = IPE_OP_KEXEC_INITRAMFS;
		break;
	case READING_KEXEC_IMAGE:
		op = IPE_OP_KEXEC_IMAGE;
		break;
	case READING_POLICY:
		op = IPE_OP_POLICY;
		break;
	case READING_X509_CERTIFICATE:
		op = IPE_OP_X509;
		break;
	default:
		op = IPE_OP_INVALID;
		WARN(1, "no rule setup for kernel_read_file enum %d", id);
	}
	return ipe_evaluate(file, op, IPE_HOOK_KERNEL_READ);
}

static int ipe_kernel_load_data(enum kernel_load_data_id id, bool contents)
{
	u32 op;

	switch (id) {
	case LOADING_FIRMWARE:
		op = IPE_OP_FIRMWARE;
		break;
	case LOADING_MODULE:
		op = IPE_OP_KERNEL_MODULE;
		break;
	case LOADING_KEXEC_INITRAMFS:
		op = IPE_OP_KEXEC_INITRAMFS;
		break;
	case LOADING_KEXEC_IMAGE:
		op = IPE_OP_KEXEC_IMAGE;
		break;
	case LOADING_POLICY:
		op = IPE_OP_POLICY;
		break;
	case LOADING_X509_CERTIFICATE:
		op = IPE_OP_X509;
		break;
	default:
		op = IPE_OP_INVALID;
		WARN(1, "no rule setup for kernel_load_data enum %d", id);
	}
	return ipe_evaluate(NULL, op, IPE_HOOK_KERNEL_LOAD);
}

static void ipe_unpack_initramfs(void)
{
	ipe_sb(current->fs->root.mnt->mnt_sb)->initramfs = true;
}

#ifdef CONFIG_IPE_PROP_DM_VERITY
static void ipe_bdev_free_security(struct block_device *bdev)
{
	kfree(rcu_access_pointer(ipe_bdev(bdev)->root_hash));
}

static void ipe_set_dmverity_roothash(struct ipe_bdev *blob, struct ipe_rust_digest *info)
{
	struct ipe_rust_digest *old;

	/* Protected by device-mapper's md->suspend_lock */
	old = rcu_replace_pointer(blob->root_hash, info, true);
	if (old) {
		synchronize_rcu();
		kfree(old);
	}
}

static int ipe_bdev_setintegrity(struct block_device *bdev, enum lsm_integrity_type type,
				 const void *value, size_t size)
{
	const struct dm_verity_digest *digest = value;
	struct ipe_bdev *blob = ipe_bdev(bdev);
	struct ipe_rust_digest *info;
	size_t alg_len;

	if (type == LSM_INT_DMVERITY_SIG_VALID) {
		blob->dm_verity_signed = size > 0 && value;
		return 0;
	}
	if (type != LSM_INT_DMVERITY_ROOTHASH)
		return -EINVAL;
	if (!value) {
		ipe_set_dmverity_roothash(blob, NULL);
		return 0;
	}
	alg_len = strlen(digest->alg);
	/* dm-verity's algorithm names and digests fit crypto's own limits */
	if (alg_len > sizeof(info->alg) || digest->digest_len > sizeof(info->digest))
		return -EINVAL;
	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	info->present = true;
	info->alg_len = alg_len;
	memcpy(info->alg, digest->alg, alg_len);
	info->digest_len = digest->digest_len;
	memcpy(info->digest, digest->digest, digest->digest_len);
	ipe_set_dmverity_roothash(blob, info);
	return 0;
}
#endif /* CONFIG_IPE_PROP_DM_VERITY */

#ifdef CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG
static int ipe_inode_setintegrity(const struct inode *inode, enum lsm_integrity_type type,
				  const void *value, size_t size)
{
	if (type == LSM_INT_FSVERITY_BUILTINSIG_VALID) {
		ipe_inode(inode)->fs_verity_signed = size > 0 && value;
		return 0;
	}
	return -EINVAL;
}
#endif /* CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG */

static struct security_hook_list ipe_hooks[] __ro_after_init = {
	LSM_HOOK_INIT(bprm_check_security, ipe_bprm_check_security),
	LSM_HOOK_INIT(mmap_file, ipe_mmap_file),
	LSM_HOOK_INIT(file_mprotect, ipe_file_mprotect),
	LSM_HOOK_INIT(kernel_read_file, ipe_kernel_read_file),
	LSM_HOOK_INIT(kernel_load_data, ipe_kernel_load_data),
	LSM_HOOK_INIT(initramfs_populated, ipe_unpack_initramfs),
#ifdef CONFIG_IPE_PROP_DM_VERITY
	LSM_HOOK_INIT(bdev_free_security, ipe_bdev_free_security),
	LSM_HOOK_INIT(bdev_setintegrity, ipe_bdev_setintegrity),
#endif
#ifdef CONFIG_IPE_PROP_FS_VERITY_BUILTIN_SIG
	LSM_HOOK_INIT(inode_setintegrity, ipe_inode_setintegrity),
#endif
};

static int __init ipe_init(void)
{
	struct ipe_policy *p;

	security_add_hooks(ipe_hooks, ARRAY_SIZE(ipe_hooks), &ipe_lsmid);
	ipe_enabled = true;
	if (ipe_boot_policy) {
		p = ipe_new_policy(ipe_boot_policy, strlen(ipe_boot_policy), NULL, 0);
		/*
		 * Fail closed, unlike upstream, which returns the error and so
		 * leaves IPE with no policy, allowing everything. The boot
		 * policy is built in: every boot would fail alike, so stop here
		 * rather than run what it was meant to refuse.
		 */
		if (IS_ERR(p)) {
			pr_emerg("the boot policy failed to load (%pe): refusing to boot unenforced\n",
				 p);
			panic("ipe: no boot policy");
		}
		rcu_assign_pointer(ipe_active_policy, p);
	}
	return 0;
}

DEFINE_LSM(ipe) = {
	.name = "ipe",
	.init = ipe_init,
	.blobs = &ipe_blobs,
};

/* Boot parameters ipe.success_audit= and ipe.enforce=, as upstream. */
#ifdef KBUILD_MODNAME
#undef KBUILD_MODNAME
#define KBUILD_MODNAME "ipe"
#endif

module_param(success_audit, bool, 0400);
MODULE_PARM_DESC(success_audit, "Start IPE with success auditing enabled");
module_param(enforce, bool, 0400);
MODULE_PARM_DESC(enforce, "Start IPE in enforce or permissive mode");
