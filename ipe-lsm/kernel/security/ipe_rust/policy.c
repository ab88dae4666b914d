// SPDX-License-Identifier: GPL-2.0
/*
 * IPE with a Rust policy engine: policy objects, PKCS#7 verification and the
 * RCU-published active policy, as upstream's policy.c. Parsing and the
 * version rules for updates and activation are Rust's (ipe_rust_*()).
 */
#include <linux/errno.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/verification.h>

#include "ipe_rust.h"

/* Serialises writers of ipe_active_policy. */
DEFINE_MUTEX(ipe_policy_lock);

void ipe_free_policy(struct ipe_policy *p)
{
	if (IS_ERR_OR_NULL(p))
		return;
	ipe_del_policyfs_node(p);
	/* The parsed policy borrows p->text: free it first. */
	ipe_rust_free(p->parsed);
	kfree(p->name);
	/* Without pkcs7, text is our copy; with it, text points into pkcs7. */
	if (!p->pkcs7)
		kfree(p->text);
	kfree(p->pkcs7);
	kfree(p);
}

static int set_pkcs7_data(void *ctx, const void *data, size_t len,
			  size_t asn1hdrlen __always_unused)
{
	struct ipe_policy *p = ctx;

	p->text = (const char *)data;
	p->textlen = len;
	return 0;
}

/* The same keyrings, in the same order, as upstream IPE. */
static int verify_policy(struct ipe_policy *p)
{
	int rc;

	rc = verify_pkcs7_signature(NULL, 0, p->pkcs7, p->pkcs7len,
#ifdef CONFIG_IPE_POLICY_SIG_SECONDARY_KEYRING
				    VERIFY_USE_SECONDARY_KEYRING,
#else
				    NULL,
#endif
				    VERIFYING_UNSPECIFIED_SIGNATURE,
				    set_pkcs7_data, p);
#ifdef CONFIG_IPE_POLICY_SIG_PLATFORM_KEYRING
	if (rc == -ENOKEY || rc == -EKEYREJECTED)
		rc = verify_pkcs7_signature(NULL, 0, p->pkcs7, p->pkcs7len,
					    VERIFY_USE_PLATFORM_KEYRING,
					    VERIFYING_UNSPECIFIED_SIGNATURE,
					    set_pkcs7_data, p);
#endif
	return rc;
}

/*
 * A policy from plain text (the boot policy) or from a signed PKCS#7 message
 * (securityfs), parsed by Rust.
 */
struct ipe_policy *ipe_new_policy(const char *text, size_t textlen,
				  const char *pkcs7, size_t pkcs7len)
{
	struct ipe_policy *new;
	const char *name;
	size_t name_len;
	int rc;

	new = kzalloc(sizeof(*new), GFP_KERNEL);
	if (!new)
		return ERR_PTR(-ENOMEM);
	if (!text) {
		new->pkcs7len = pkcs7len;
		new->pkcs7 = kmemdup(pkcs7, pkcs7len, GFP_KERNEL);
		if (!new->pkcs7) {
			rc = -ENOMEM;
			goto err;
		}
		rc = verify_policy(new);
		if (rc)
			goto err;
	} else {
		new->textlen = textlen;
		new->text = kstrdup(text, GFP_KERNEL);
		if (!new->text) {
			rc = -ENOMEM;
			goto err;
		}
	}
	rc = ipe_rust_parse(new->text, new->textlen, &new->parsed);
	if (rc)
		goto err;
	name = ipe_rust_name(new->parsed, &name_len);
	new->name = kstrndup(name, name_len, GFP_KERNEL);
	if (!new->name) {
		rc = -ENOMEM;
		goto err;
	}
	return new;
err:
	ipe_free_policy(new);
	return ERR_PTR(rc);
}

void ipe_policy_version(const struct ipe_policy *p, u16 version[3])
{
	ipe_rust_version(p->parsed, version);
}

/* Replaces the policy of the securityfs directory @root (its inode locked). */
int ipe_update_policy(struct inode *root, const char *pkcs7, size_t pkcs7len)
{
	struct ipe_policy *old, *ap, *new;
	int rc;

	old = (struct ipe_policy *)root->i_private;
	if (!old)
		return -ENOENT;
	new = ipe_new_policy(NULL, 0, pkcs7, pkcs7len);
	if (IS_ERR(new))
		return PTR_ERR(new);
	rc = ipe_rust_check_update(old->parsed, new->parsed);
	if (rc) {
		ipe_free_policy(new);
		return rc;
	}
	root->i_private = new;
	swap(new->policyfs, old->policyfs);
	ipe_audit_policy_load(new);

	mutex_lock(&ipe_policy_lock);
	ap = rcu_dereference_protected(ipe_active_policy,
				       lockdep_is_held(&ipe_policy_lock));
	if (old == ap) {
		rcu_assign_pointer(ipe_active_policy, new);
		mutex_unlock(&ipe_policy_lock);
		ipe_audit_policy_activation(old, new);
	} else {
		mutex_unlock(&ipe_policy_lock);
	}
	synchronize_rcu();
	ipe_free_policy(old);
	return 0;
}

/* Makes @p the active policy, unless it is older than the active one. */
int ipe_set_active_pol(const struct ipe_policy *p)
{
	struct ipe_policy *ap;

	mutex_lock(&ipe_policy_lock);
	ap = rcu_dereference_protected(ipe_active_policy,
				       lockdep_is_held(&ipe_policy_lock));
	if (ap == p) {
		mutex_unlock(&ipe_policy_lock);
		return 0;
	}
	if (ap && ipe_rust_check_activate(ap->parsed, p->parsed)) {
		mutex_unlock(&ipe_policy_lock);
		return -EINVAL;
	}
	rcu_assign_pointer(ipe_active_policy, p);
	ipe_audit_policy_activation(ap, p);
	mutex_unlock(&ipe_policy_lock);
	return 0;
}
