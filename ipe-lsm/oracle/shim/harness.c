// SPDX-License-Identifier: GPL-2.0-only
/*
 * Runs upstream's ipe_parse_policy() on a buffer and prints the parsed policy
 * in the oracle's canonical text form (see src/canonical.rs for the grammar),
 * so the Rust side can compare it with its own parse.
 */
#include <stdarg.h>
#include <stdio.h>

#include "policy.h"
#include "policy_parser.h"
#include "digest.h"

struct sink {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static void put(struct sink *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->buf + s->len, s->len < s->cap ? s->cap - s->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0 || s->len + (size_t)n >= s->cap)
		s->overflow = true;
	else
		s->len += (size_t)n;
}

static void put_hex(struct sink *s, const unsigned char *bytes, size_t len)
{
	for (size_t i = 0; i < len; i++)
		put(s, "%02x", bytes[i]);
}

static void put_rule(struct sink *s, const struct ipe_rule *rule)
{
	const struct ipe_prop *prop;

	put(s, "R%d:%d", (int)rule->op, (int)rule->action);
	list_for_each_entry(prop, &rule->props, next) {
		put(s, " P%d", (int)prop->type);
		if (prop->type == IPE_PROP_DMV_ROOTHASH || prop->type == IPE_PROP_FSV_DIGEST) {
			const struct digest_info *info = prop->value;

			put(s, ":");
			put_hex(s, (const unsigned char *)info->alg, strlen(info->alg));
			put(s, ":");
			put_hex(s, info->digest, info->digest_len);
		}
	}
	put(s, "\n");
}

/*
 * Returns upstream's result (0 or -errno). On success writes the canonical
 * form to out and its length to out_len; returns 1 if out is too small.
 */
int ipe_oracle_parse(const char *text, size_t text_len, char *out, size_t out_cap,
		     size_t *out_len)
{
	struct sink sink = { .buf = out, .cap = out_cap };
	struct ipe_policy policy = { 0 };
	const struct ipe_parsed_policy *parsed;
	const struct ipe_rule *rule;
	char *copy;
	int rc;

	/* ipe_parse_policy() reads textlen bytes; keep a NUL after them too. */
	copy = kmemdup_nul(text, text_len, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	policy.text = copy;
	policy.textlen = text_len;
	rc = ipe_parse_policy(&policy);
	kfree(copy);
	if (rc)
		return rc;

	parsed = policy.parsed;
	put(&sink, "N:");
	put_hex(&sink, (const unsigned char *)parsed->name, strlen(parsed->name));
	put(&sink, "\nV:%u.%u.%u\nG:%d\n", parsed->version.major, parsed->version.minor,
	    parsed->version.rev, (int)parsed->global_default_action);
	for (int op = 0; op < __IPE_OP_MAX; op++) {
		put(&sink, "O%d:%d\n", op, (int)parsed->rules[op].default_action);
		list_for_each_entry(rule, &parsed->rules[op].rules, next)
			put_rule(&sink, rule);
	}
	ipe_free_parsed_policy(policy.parsed);
	*out_len = sink.len;
	return sink.overflow ? 1 : 0;
}

/* A policy parsed by upstream for the eval harness; NULL with *rc on error. */
struct ipe_policy *ipe_oracle_policy_new(const char *text, size_t text_len, int *rc)
{
	struct ipe_policy *policy = kzalloc(sizeof(*policy), GFP_KERNEL);
	char *copy = kmemdup_nul(text, text_len, GFP_KERNEL);

	*rc = -ENOMEM;
	if (policy && copy) {
		policy->text = copy;
		policy->textlen = text_len;
		*rc = ipe_parse_policy(policy);
	}
	kfree(copy);
	if (*rc) {
		kfree(policy);
		return NULL;
	}
	policy->text = NULL;
	return policy;
}

void ipe_oracle_policy_free(struct ipe_policy *policy)
{
	ipe_free_parsed_policy(policy->parsed);
	kfree(policy);
}
