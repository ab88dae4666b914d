// SPDX-License-Identifier: GPL-2.0-only
/* Definitions behind kernel_shim.h that are not inline. */
#include <stdarg.h>
#include <stdlib.h>

#include "kernel_shim.h"

void *kmalloc(size_t size, gfp_t flags)
{
	(void)flags;
	return malloc(size ? size : 1);
}

void *kzalloc(size_t size, gfp_t flags)
{
	(void)flags;
	return calloc(1, size ? size : 1);
}

void kfree(const void *ptr)
{
	free((void *)ptr);
}

void *kmemdup(const void *src, size_t len, gfp_t flags)
{
	void *dst = kmalloc(len, flags);

	if (dst)
		memcpy(dst, src, len);
	return dst;
}

char *kmemdup_nul(const char *s, size_t len, gfp_t flags)
{
	char *dst = kmalloc(len + 1, flags);

	if (dst) {
		memcpy(dst, s, len);
		dst[len] = '\0';
	}
	return dst;
}

char *kstrdup(const char *s, gfp_t flags)
{
	return kmemdup_nul(s, strlen(s), flags);
}

char *kstrndup(const char *s, size_t max, gfp_t flags)
{
	return kmemdup_nul(s, strnlen(s, max), flags);
}

/* Only reached by match_token's %d/%u/%o/%x, which IPE's tables never use. */
unsigned long simple_strtoul(const char *cp, char **endp, unsigned int base)
{
	return strtoul(cp, endp, (int)base);
}

long simple_strtol(const char *cp, char **endp, unsigned int base)
{
	return strtol(cp, endp, (int)base);
}

/* Auditing is outside the parser; digest.c's audit helper links against these. */
void audit_log_untrustedstring(struct audit_buffer *ab, const char *string)
{
	(void)ab;
	(void)string;
}

void audit_log_format(struct audit_buffer *ab, const char *fmt, ...)
{
	(void)ab;
	(void)fmt;
}

void audit_log_n_hex(struct audit_buffer *ab, const unsigned char *buf, size_t len)
{
	(void)ab;
	(void)buf;
	(void)len;
}
