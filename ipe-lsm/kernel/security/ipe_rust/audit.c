// SPDX-License-Identifier: GPL-2.0
/*
 * IPE with a Rust policy engine: audit records with upstream's types and
 * fields: AUDIT_IPE_ACCESS (1420), AUDIT_IPE_CONFIG_CHANGE (1421),
 * AUDIT_IPE_POLICY_LOAD (1422) and AUDIT_MAC_STATUS. The variadic audit API
 * stays in C; Rust writes a decision's rule="..." through ipe_rust_log*().
 */
#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <crypto/hash.h>

#include "ipe_rust.h"

#define ACTSTR(deny) ((deny) ? "DENY" : "ALLOW")

#define IPE_AUDIT_HASH_ALG "sha256"

#define AUDIT_POLICY_LOAD_FMT "policy_name=\"%s\" policy_version=%hu.%hu.%hu "\
			      "policy_digest=" IPE_AUDIT_HASH_ALG ":"
#define AUDIT_OLD_ACTIVE_POLICY_FMT "old_active_pol_name=\"%s\" "\
				    "old_active_pol_version=%hu.%hu.%hu "\
				    "old_policy_digest=" IPE_AUDIT_HASH_ALG ":"
#define AUDIT_OLD_ACTIVE_POLICY_NULL_FMT "old_active_pol_name=? "\
					 "old_active_pol_version=? "\
					 "old_policy_digest=?"
#define AUDIT_NEW_ACTIVE_POLICY_FMT "new_active_pol_name=\"%s\" "\
				    "new_active_pol_version=%hu.%hu.%hu "\
				    "new_policy_digest=" IPE_AUDIT_HASH_ALG ":"

static const char *const audit_op_names[__IPE_OP_MAX + 1] = {
	"EXECUTE",
	"FIRMWARE",
	"KMODULE",
	"KEXEC_IMAGE",
	"KEXEC_INITRAMFS",
	"POLICY",
	"X509_CERT",
	"UNKNOWN",
};

static const char *const audit_hook_names[__IPE_HOOK_MAX] = {
	"BPRM_CHECK",
	"MMAP",
	"MPROTECT",
	"KERNEL_READ",
	"KERNEL_LOAD",
};

void ipe_rust_log(struct audit_buffer *ab, const char *s, size_t len)
{
	audit_log_format(ab, "%.*s", (int)len, s);
}

void ipe_rust_log_untrusted(struct audit_buffer *ab, const char *s, size_t len)
{
	audit_log_n_untrustedstring(ab, s, len);
}

void ipe_rust_log_hex(struct audit_buffer *ab, const u8 *buf, size_t len)
{
	audit_log_n_hex(ab, buf, len);
}

/* AUDIT_IPE_ACCESS: one decision; only denials unless success_audit. */
void ipe_audit_match(const struct file *file, enum ipe_hook_type hook, u32 op,
		     const struct ipe_policy *p, const struct ipe_rust_decision *d)
{
	char comm[sizeof(current->comm)];
	struct audit_buffer *ab;
	struct inode *inode;

	if (!d->deny && !READ_ONCE(success_audit))
		return;
	ab = audit_log_start(audit_context(), GFP_ATOMIC | __GFP_NOWARN, AUDIT_IPE_ACCESS);
	if (!ab)
		return;
	audit_log_format(ab, "ipe_op=%s ipe_hook=%s enforcing=%d pid=%d comm=",
			 audit_op_names[min_t(u32, op, IPE_OP_INVALID)],
			 audit_hook_names[hook], READ_ONCE(enforce),
			 task_tgid_nr(current));
	audit_log_untrustedstring(ab, get_task_comm(comm, current));
	if (file) {
		audit_log_d_path(ab, " path=", &file->f_path);
		inode = file_inode(file);
		if (inode) {
			audit_log_format(ab, " dev=");
			audit_log_untrustedstring(ab, inode->i_sb->s_id);
			audit_log_format(ab, " ino=%lu", inode->i_ino);
		} else {
			audit_log_format(ab, " dev=? ino=?");
		}
	} else {
		audit_log_format(ab, " path=? dev=? ino=?");
	}
	ipe_rust_audit_rule(ab, p->parsed, op, d);
	audit_log_end(ab);
}

/* name, version and the sha256 of the policy's PKCS#7 message. */
static void audit_policy(struct audit_buffer *ab, const char *audit_format,
			 const struct ipe_policy *const p)
{
	SHASH_DESC_ON_STACK(desc, tfm);
	struct crypto_shash *tfm;
	u8 *digest = NULL;
	u16 version[3];

	tfm = crypto_alloc_shash(IPE_AUDIT_HASH_ALG, 0, 0);
	if (IS_ERR(tfm))
		return;
	desc->tfm = tfm;
	digest = kzalloc(crypto_shash_digestsize(tfm), GFP_KERNEL);
	if (!digest)
		goto out;
	if (crypto_shash_init(desc))
		goto out;
	if (crypto_shash_update(desc, p->pkcs7, p->pkcs7len))
		goto out;
	if (crypto_shash_final(desc, digest))
		goto out;
	ipe_policy_version(p, version);
	audit_log_format(ab, audit_format, p->name, version[0], version[1], version[2]);
	audit_log_n_hex(ab, digest, crypto_shash_digestsize(tfm));
out:
	kfree(digest);
	crypto_free_shash(tfm);
}

void ipe_audit_policy_activation(const struct ipe_policy *const op,
				 const struct ipe_policy *const np)
{
	struct audit_buffer *ab;

	ab = audit_log_start(audit_context(), GFP_KERNEL, AUDIT_IPE_CONFIG_CHANGE);
	if (!ab)
		return;
	if (op) {
		audit_policy(ab, AUDIT_OLD_ACTIVE_POLICY_FMT, op);
		audit_log_format(ab, " ");
	} else {
		/* No old active policy without a boot policy */
		audit_log_format(ab, AUDIT_OLD_ACTIVE_POLICY_NULL_FMT);
		audit_log_format(ab, " ");
	}
	audit_policy(ab, AUDIT_NEW_ACTIVE_POLICY_FMT, np);
	audit_log_format(ab, " auid=%u ses=%u lsm=ipe res=1",
			 from_kuid(&init_user_ns, audit_get_loginuid(current)),
			 audit_get_sessionid(current));
	audit_log_end(ab);
}

void ipe_audit_policy_load(const struct ipe_policy *const p)
{
	struct audit_buffer *ab;

	ab = audit_log_start(audit_context(), GFP_KERNEL, AUDIT_IPE_POLICY_LOAD);
	if (!ab)
		return;
	audit_policy(ab, AUDIT_POLICY_LOAD_FMT, p);
	audit_log_format(ab, " auid=%u ses=%u lsm=ipe res=1",
			 from_kuid(&init_user_ns, audit_get_loginuid(current)),
			 audit_get_sessionid(current));
	audit_log_end(ab);
}

void ipe_audit_enforce(bool new_enforce, bool old_enforce)
{
	struct audit_buffer *ab;

	/* Upstream starts (and ends) an empty record around this one too. */
	ab = audit_log_start(audit_context(), GFP_KERNEL, AUDIT_MAC_STATUS);
	if (!ab)
		return;
	audit_log(audit_context(), GFP_KERNEL, AUDIT_MAC_STATUS,
		  "enforcing=%d old_enforcing=%d auid=%u ses=%u"
		  " enabled=1 old-enabled=1 lsm=ipe res=1",
		  new_enforce, old_enforce,
		  from_kuid(&init_user_ns, audit_get_loginuid(current)),
		  audit_get_sessionid(current));
	audit_log_end(ab);
}
