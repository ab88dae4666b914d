/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Userspace stand-ins for the kernel environment around security/ipe/eval.c:
 * the VFS objects it walks (file, path, dentry, inode, super_block,
 * block_device), the LSM blob accessors, fs-verity, RCU and module
 * parameters. Only the fields eval.c reads exist; the LSM blobs hang off
 * `*_security` as in the kernel. The hash algorithm table comes from the
 * kernel tree's own crypto/hash_info.c. Written for the oracle; no kernel code.
 */
#ifndef IPE_ORACLE_VFS_SHIM_H
#define IPE_ORACLE_VFS_SHIM_H

#include "kernel_shim.h"

#include <crypto/hash_info.h>

#define __rcu
#define ENOENT 2
#define EACCES 13
#define ENOSYS 38
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define rcu_dereference(p) READ_ONCE(p)
static inline void rcu_read_lock(void) {}
static inline void rcu_read_unlock(void) {}

/* A declaration, so the `;` after each use stays legal at file scope. */
#define module_param(name, type, perm) extern int ipe_oracle_module_param_##name
#define MODULE_PARM_DESC(name, desc) extern int ipe_oracle_module_parm_desc_##name

#define S_VERITY (1u << 16)
#define IS_VERITY(inode) ((inode)->i_flags & S_VERITY)
#define FS_VERITY_MAX_DIGEST_SIZE SHA512_DIGEST_SIZE

/* What fsverity_get_digest() reports for a file with fs-verity enabled. */
struct fsverity_info {
	enum hash_algo alg;
	u8 digest[FS_VERITY_MAX_DIGEST_SIZE];
};

struct block_device {
	void *bd_security;
};

struct super_block {
	struct block_device *s_bdev;
	void *s_security;
};

struct inode {
	struct super_block *i_sb;
	unsigned int i_flags;
	void *i_security;
	struct fsverity_info *i_verity_info;
};

struct dentry {
	struct inode *d_inode;
};

struct vfsmount {
	struct super_block *mnt_sb;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
};

/* No overlayfs: the real inode is the dentry's own. */
static inline struct inode *d_real_inode(const struct dentry *dentry)
{
	return dentry->d_inode;
}

int fsverity_get_digest(struct inode *inode, u8 raw_digest[FS_VERITY_MAX_DIGEST_SIZE],
			u8 *alg, enum hash_algo *halg);

/* Types hooks.h names in prototypes eval.c never calls. */
struct linux_binprm;
struct vm_area_struct;
enum kernel_read_file_id { READING_UNKNOWN };
enum kernel_load_data_id { LOADING_UNKNOWN };
enum lsm_integrity_type { LSM_INT_DMVERITY_SIG_VALID };

#endif /* IPE_ORACLE_VFS_SHIM_H */
