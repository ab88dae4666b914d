/* SPDX-License-Identifier: GPL-2.0 */
/*
 * IPE with a Rust policy engine: the interface between the C shim and Rust.
 *
 * C owns everything the kernel's C APIs need (the LSM registration and its
 * blobs, securityfs, variadic audit calls, PKCS#7, RCU); Rust owns the
 * policy: parsing, the update/activation version rules and decisions. The
 * structs below mirror #[repr(C)] types in ipe_rust.rs and the engine's
 * facts.rs; both sides assert their sizes at compile time.
 */
#ifndef _IPE_RUST_H
#define _IPE_RUST_H

#ifdef pr_fmt
#undef pr_fmt
#endif
#define pr_fmt(fmt) "ipe: " fmt

#include <linux/types.h>
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/lsm_hooks.h>

struct audit_buffer;

/* Operation numbers: the engine's Op, and upstream's enum ipe_op_type. */
enum ipe_op_type {
	IPE_OP_EXEC = 0,
	IPE_OP_FIRMWARE,
	IPE_OP_KERNEL_MODULE,
	IPE_OP_KEXEC_IMAGE,
	IPE_OP_KEXEC_INITRAMFS,
	IPE_OP_POLICY,
	IPE_OP_X509,
	__IPE_OP_MAX,
};
#define IPE_OP_INVALID __IPE_OP_MAX

enum ipe_hook_type {
	IPE_HOOK_BPRM_CHECK = 0,
	IPE_HOOK_MMAP,
	IPE_HOOK_MPROTECT,
	IPE_HOOK_KERNEL_READ,
	IPE_HOOK_KERNEL_LOAD,
	__IPE_HOOK_MAX
};

/* The engine's FactDigest: CRYPTO_MAX_ALG_NAME and HASH_MAX_DIGESTSIZE. */
struct ipe_rust_digest {
	bool present;
	u8 alg_len;
	u8 digest_len;
	u8 alg[128];
	u8 digest[64];
};

/* The engine's Facts: what a hook knows about its file. */
struct ipe_rust_facts {
	bool has_file;
	bool initramfs;
	bool has_bdev;
	bool dm_verity_signed;
	struct ipe_rust_digest dm_verity_root_hash;
	bool fs_verity_signed;
	struct ipe_rust_digest fs_verity_digest;
};

static_assert(sizeof(struct ipe_rust_facts) == 395, "must match Facts in facts.rs");

/* Which rule or default decided (upstream's enum ipe_match). */
enum ipe_match {
	IPE_MATCH_RULE = 0,
	IPE_MATCH_TABLE,
	IPE_MATCH_GLOBAL,
};

struct ipe_rust_decision {
	bool deny;
	u8 match;		/* enum ipe_match */
	bool no_default;	/* unknown op and no global DEFAULT: upstream WARNs */
	size_t rule;		/* the rule's position when match == IPE_MATCH_RULE */
};

static_assert(sizeof(struct ipe_rust_decision) == 16, "must match CDecision in ipe_rust.rs");

/* A policy parsed by Rust; it borrows the text of its struct ipe_policy. */
struct ipe_rust_policy;

/* Rust (ipe_rust.rs). */
int ipe_rust_parse(const char *text, size_t len, struct ipe_rust_policy **out);
void ipe_rust_free(struct ipe_rust_policy *p);
const char *ipe_rust_name(const struct ipe_rust_policy *p, size_t *len);
void ipe_rust_version(const struct ipe_rust_policy *p, u16 version[3]);
int ipe_rust_check_update(const struct ipe_rust_policy *old,
			  const struct ipe_rust_policy *new);
int ipe_rust_check_activate(const struct ipe_rust_policy *active,
			    const struct ipe_rust_policy *p);
void ipe_rust_decide(const struct ipe_rust_policy *p, u32 op,
		     const struct ipe_rust_facts *facts,
		     struct ipe_rust_decision *out);
void ipe_rust_audit_rule(struct audit_buffer *ab, const struct ipe_rust_policy *p,
			 u32 op, const struct ipe_rust_decision *d);

/* KUnit (SECURITY_IPE_RUST_KUNIT_TEST): the golden parser vectors. */
size_t ipe_rust_vector_count(void);
void ipe_rust_vector(size_t i, const char **text, size_t *len, int *errno_out,
		     const char **why, size_t *why_len);

/* C helpers Rust calls to write audit text (audit.c). */
void ipe_rust_log(struct audit_buffer *ab, const char *s, size_t len);
void ipe_rust_log_untrusted(struct audit_buffer *ab, const char *s, size_t len);
void ipe_rust_log_hex(struct audit_buffer *ab, const u8 *buf, size_t len);

/* A loaded policy, as upstream's struct ipe_policy. */
struct ipe_policy {
	const char *pkcs7;
	size_t pkcs7len;
	const char *text;
	size_t textlen;
	char *name;		/* NUL-terminated copy, for securityfs and audit */
	struct ipe_rust_policy *parsed;
	struct dentry *policyfs;
};

/* lsm.c */
extern bool ipe_enabled;
extern bool success_audit;
extern bool enforce;
extern struct ipe_policy __rcu *ipe_active_policy;

/* policy.c */
extern struct mutex ipe_policy_lock;
struct ipe_policy *ipe_new_policy(const char *text, size_t textlen,
				  const char *pkcs7, size_t pkcs7len);
void ipe_free_policy(struct ipe_policy *p);
int ipe_update_policy(struct inode *root, const char *pkcs7, size_t pkcs7len);
int ipe_set_active_pol(const struct ipe_policy *p);
void ipe_policy_version(const struct ipe_policy *p, u16 version[3]);

/* fs.c */
int ipe_new_policyfs_node(struct ipe_policy *p);
void ipe_del_policyfs_node(struct ipe_policy *p);

/* audit.c */
void ipe_audit_match(const struct file *file, enum ipe_hook_type hook, u32 op,
		     const struct ipe_policy *p, const struct ipe_rust_decision *d);
void ipe_audit_policy_load(const struct ipe_policy *p);
void ipe_audit_policy_activation(const struct ipe_policy *op,
				 const struct ipe_policy *np);
void ipe_audit_enforce(bool new_enforce, bool old_enforce);

#endif /* _IPE_RUST_H */
