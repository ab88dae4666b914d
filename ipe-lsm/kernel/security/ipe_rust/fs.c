// SPDX-License-Identifier: GPL-2.0
/*
 * IPE with a Rust policy engine: the securityfs tree, file for file and errno
 * for errno as upstream's fs.c and policy_fs.c:
 *   ipe/{new_policy, enforce, success_audit}
 *   ipe/policies/<name>/{pkcs7, policy, name, version, active, update, delete}
 */
#include <linux/capability.h>
#include <linux/dcache.h>
#include <linux/namei.h>
#include <linux/rcupdate.h>
#include <linux/security.h>
#include <linux/slab.h>

#include "ipe_rust.h"

#define MAX_VERSION_SIZE ARRAY_SIZE("65535.65535.65535")

static struct dentry *np __ro_after_init;
static struct dentry *root __ro_after_init;
static struct dentry *policy_root __ro_after_init;
static struct dentry *audit_node __ro_after_init;
static struct dentry *enforce_node __ro_after_init;

static ssize_t read_pkcs7(struct file *f, char __user *data, size_t len, loff_t *offset)
{
	const struct ipe_policy *p;
	struct inode *dir = d_inode(f->f_path.dentry->d_parent);
	ssize_t rc;

	inode_lock_shared(dir);
	p = dir->i_private;
	if (!p || !p->pkcs7)
		rc = -ENOENT;
	else
		rc = simple_read_from_buffer(data, len, offset, p->pkcs7, p->pkcs7len);
	inode_unlock_shared(dir);
	return rc;
}

static ssize_t read_policy(struct file *f, char __user *data, size_t len, loff_t *offset)
{
	const struct ipe_policy *p;
	struct inode *dir = d_inode(f->f_path.dentry->d_parent);
	ssize_t rc;

	inode_lock_shared(dir);
	p = dir->i_private;
	if (!p)
		rc = -ENOENT;
	else
		rc = simple_read_from_buffer(data, len, offset, p->text, p->textlen);
	inode_unlock_shared(dir);
	return rc;
}

static ssize_t read_name(struct file *f, char __user *data, size_t len, loff_t *offset)
{
	const struct ipe_policy *p;
	struct inode *dir = d_inode(f->f_path.dentry->d_parent);
	ssize_t rc;

	inode_lock_shared(dir);
	p = dir->i_private;
	if (!p)
		rc = -ENOENT;
	else
		rc = simple_read_from_buffer(data, len, offset, p->name, strlen(p->name));
	inode_unlock_shared(dir);
	return rc;
}

static ssize_t read_version(struct file *f, char __user *data, size_t len, loff_t *offset)
{
	char buffer[MAX_VERSION_SIZE] = { 0 };
	const struct ipe_policy *p;
	struct inode *dir = d_inode(f->f_path.dentry->d_parent);
	u16 version[3];
	size_t strsize;
	ssize_t rc;

	inode_lock_shared(dir);
	p = dir->i_private;
	if (!p) {
		rc = -ENOENT;
	} else {
		ipe_policy_version(p, version);
		strsize = scnprintf(buffer, ARRAY_SIZE(buffer), "%hu.%hu.%hu",
				    version[0], version[1], version[2]);
		rc = simple_read_from_buffer(data, len, offset, buffer, strsize);
	}
	inode_unlock_shared(dir);
	return rc;
}

static ssize_t setactive(struct file *f, const char __user *data, size_t len, loff_t *offset)
{
	const struct ipe_policy *p;
	struct inode *dir = d_inode(f->f_path.dentry->d_parent);
	bool value = false;
	int rc;

	if (!file_ns_capable(f, &init_user_ns, CAP_MAC_ADMIN))
		return -EPERM;
	rc = kstrtobool_from_user(data, len, &value);
	if (rc)
		return rc;
	if (!value)
		return -EINVAL;
	inode_lock(dir);
	p = dir->i_private;
	rc = p ? ipe_set_active_pol(p) : -ENOENT;
	inode_unlock(dir);
	return (rc < 0) ? rc : len;
}

static ssize_t getactive(struct file *f, char __user *data, size_t len, loff_t *offset)
{
	const struct ipe_policy *p;
	struct inode *dir = d_inode(f->f_path.dentry->d_parent);
	const char *str;

	inode_lock_shared(dir);
	p = dir->i_private;
	inode_unlock_shared(dir);
	if (!p)
		return -ENOENT;
	str = (p == rcu_access_pointer(ipe_active_policy)) ? "1" : "0";
	return simple_read_from_buffer(data, len, offset, str, 1);
}

static ssize_t update_policy(struct file *f, const char __user *data, size_t len, loff_t *offset)
{
	struct inode *dir = d_inode(f->f_path.dentry->d_parent);
	char *copy;
	int rc;

	if (!file_ns_capable(f, &init_user_ns, CAP_MAC_ADMIN))
		return -EPERM;
	copy = memdup_user(data, len);
	if (IS_ERR(copy))
		return PTR_ERR(copy);
	inode_lock(dir);
	rc = ipe_update_policy(dir, copy, len);
	inode_unlock(dir);
	kfree(copy);
	return rc ? rc : len;
}

static ssize_t delete_policy(struct file *f, const char __user *data, size_t len, loff_t *offset)
{
	struct ipe_policy *ap, *p;
	struct inode *dir = d_inode(f->f_path.dentry->d_parent);
	bool value = false;
	int rc;

	if (!file_ns_capable(f, &init_user_ns, CAP_MAC_ADMIN))
		return -EPERM;
	rc = kstrtobool_from_user(data, len, &value);
	if (rc)
		return rc;
	if (!value)
		return -EINVAL;
	inode_lock(dir);
	p = dir->i_private;
	if (!p) {
		inode_unlock(dir);
		return -ENOENT;
	}
	mutex_lock(&ipe_policy_lock);
	ap = rcu_dereference_protected(ipe_active_policy,
				       lockdep_is_held(&ipe_policy_lock));
	if (p == ap) {
		mutex_unlock(&ipe_policy_lock);
		inode_unlock(dir);
		return -EPERM;
	}
	mutex_unlock(&ipe_policy_lock);
	dir->i_private = NULL;
	inode_unlock(dir);
	synchronize_rcu();
	ipe_free_policy(p);
	return len;
}

static const struct file_operations content_fops = { .read = read_policy };
static const struct file_operations pkcs7_fops = { .read = read_pkcs7 };
static const struct file_operations name_fops = { .read = read_name };
static const struct file_operations ver_fops = { .read = read_version };
static const struct file_operations active_fops = { .write = setactive, .read = getactive };
static const struct file_operations update_fops = { .write = update_policy };
static const struct file_operations delete_fops = { .write = delete_policy };

static const struct {
	const char *name;
	umode_t access;
	const struct file_operations *fops;
} policy_subdir[] = {
	{ "pkcs7", 0444, &pkcs7_fops },
	{ "policy", 0444, &content_fops },
	{ "name", 0444, &name_fops },
	{ "version", 0444, &ver_fops },
	{ "active", 0600, &active_fops },
	{ "update", 0200, &update_fops },
	{ "delete", 0200, &delete_fops },
};

void ipe_del_policyfs_node(struct ipe_policy *p)
{
	securityfs_recursive_remove(p->policyfs);
	p->policyfs = NULL;
}

int ipe_new_policyfs_node(struct ipe_policy *p)
{
	struct dentry *policyfs, *d;
	struct inode *dir;
	size_t i;

	if (p->policyfs)
		return 0;
	policyfs = securityfs_create_dir(p->name, policy_root);
	if (IS_ERR(policyfs))
		return PTR_ERR(policyfs);
	dir = d_inode(policyfs);
	for (i = 0; i < ARRAY_SIZE(policy_subdir); ++i) {
		d = securityfs_create_file(policy_subdir[i].name, policy_subdir[i].access,
					   policyfs, NULL, policy_subdir[i].fops);
		if (IS_ERR(d)) {
			securityfs_recursive_remove(policyfs);
			return PTR_ERR(d);
		}
	}
	inode_lock(dir);
	p->policyfs = policyfs;
	dir->i_private = p;
	/* Only signed policies from userspace are audited */
	if (p->pkcs7)
		ipe_audit_policy_load(p);
	inode_unlock(dir);
	return 0;
}

static ssize_t setaudit(struct file *f, const char __user *data, size_t len, loff_t *offset)
{
	bool value;
	int rc;

	if (!file_ns_capable(f, &init_user_ns, CAP_MAC_ADMIN))
		return -EPERM;
	rc = kstrtobool_from_user(data, len, &value);
	if (rc)
		return rc;
	WRITE_ONCE(success_audit, value);
	return len;
}

static ssize_t getaudit(struct file *f, char __user *data, size_t len, loff_t *offset)
{
	return simple_read_from_buffer(data, len, offset,
				       READ_ONCE(success_audit) ? "1" : "0", 1);
}

static ssize_t setenforce(struct file *f, const char __user *data, size_t len, loff_t *offset)
{
	bool new_value, old_value;
	int rc;

	if (!file_ns_capable(f, &init_user_ns, CAP_MAC_ADMIN))
		return -EPERM;
	old_value = READ_ONCE(enforce);
	rc = kstrtobool_from_user(data, len, &new_value);
	if (rc)
		return rc;
	if (new_value != old_value) {
		ipe_audit_enforce(new_value, old_value);
		WRITE_ONCE(enforce, new_value);
	}
	return len;
}

static ssize_t getenforce(struct file *f, char __user *data, size_t len, loff_t *offset)
{
	return simple_read_from_buffer(data, len, offset, READ_ONCE(enforce) ? "1" : "0", 1);
}

static ssize_t new_policy(struct file *f, const char __user *data, size_t len, loff_t *offset)
{
	struct ipe_policy *p;
	char *copy;
	int rc;

	if (!file_ns_capable(f, &init_user_ns, CAP_MAC_ADMIN))
		return -EPERM;
	copy = memdup_user_nul(data, len);
	if (IS_ERR(copy))
		return PTR_ERR(copy);
	p = ipe_new_policy(NULL, 0, copy, len);
	if (IS_ERR(p)) {
		rc = PTR_ERR(p);
		goto out;
	}
	rc = ipe_new_policyfs_node(p);
	if (rc < 0)
		ipe_free_policy(p);
out:
	kfree(copy);
	return (rc < 0) ? rc : len;
}

static const struct file_operations np_fops = { .write = new_policy };
static const struct file_operations audit_fops = { .write = setaudit, .read = getaudit };
static const struct file_operations enforce_fops = { .write = setenforce, .read = getenforce };

static int __init ipe_init_securityfs(void)
{
	struct ipe_policy *ap;
	int rc = 0;

	if (!ipe_enabled)
		return -EOPNOTSUPP;
	root = securityfs_create_dir("ipe", NULL);
	if (IS_ERR(root)) {
		rc = PTR_ERR(root);
		goto err;
	}
	audit_node = securityfs_create_file("success_audit", 0600, root, NULL, &audit_fops);
	if (IS_ERR(audit_node)) {
		rc = PTR_ERR(audit_node);
		goto err;
	}
	enforce_node = securityfs_create_file("enforce", 0600, root, NULL, &enforce_fops);
	if (IS_ERR(enforce_node)) {
		rc = PTR_ERR(enforce_node);
		goto err;
	}
	policy_root = securityfs_create_dir("policies", root);
	if (IS_ERR(policy_root)) {
		rc = PTR_ERR(policy_root);
		goto err;
	}
	ap = rcu_access_pointer(ipe_active_policy);
	if (ap) {
		rc = ipe_new_policyfs_node(ap);
		if (rc)
			goto err;
	}
	np = securityfs_create_file("new_policy", 0200, root, NULL, &np_fops);
	if (IS_ERR(np)) {
		rc = PTR_ERR(np);
		goto err;
	}
	return 0;
err:
	securityfs_remove(np);
	securityfs_remove(policy_root);
	securityfs_remove(enforce_node);
	securityfs_remove(audit_node);
	securityfs_remove(root);
	return rc;
}

fs_initcall(ipe_init_securityfs);
