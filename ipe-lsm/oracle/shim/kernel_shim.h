/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Userspace stand-ins for the few kernel APIs that security/ipe/policy_parser.c,
 * security/ipe/digest.c and the lib/ helpers they call (parser.c, kstrtox.c,
 * hexdump.c, ctype.c) use. Every include/linux/X.h in this directory only
 * includes this file. Written for the differential oracle; no kernel code.
 */
#ifndef IPE_ORACLE_KERNEL_SHIM_H
#define IPE_ORACLE_KERNEL_SHIM_H

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef unsigned long long u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef long long s64;
typedef unsigned int gfp_t;
typedef u32 __u32;
typedef u64 __u64;
typedef u64 __le64;

/* Kernel errno numbers (asm-generic), same as Linux userspace. */
#define ENOMEM 12
#define EFAULT 14
#define EINVAL 22
#define ERANGE 34
#define EBADMSG 74

#define __user
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define noinline __attribute__((__noinline__))
#define fallthrough __attribute__((__fallthrough__))
#define EXPORT_SYMBOL(sym)
#define EXPORT_SYMBOL_GPL(sym)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define min_t(type, a, b) min((type)(a), (type)(b))
/* A statement expression, as in the kernel, so an unused WARN() is no warning. */
#define WARN(cond, ...) ({ bool __warned = !!(cond); __warned; })
#define div_u64(dividend, divisor) ((u64)(dividend) / (u32)(divisor))
#define get_unaligned(ptr) (*(ptr))

/* ERR_PTR encoding as in include/linux/err.h: the top page of addresses. */
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) ((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE((unsigned long)ptr); }
static inline bool IS_ERR_OR_NULL(const void *ptr) { return !ptr || IS_ERR(ptr); }

/* Allocation: calloc-backed; size 0 gives a distinct non-NULL pointer like
 * ZERO_SIZE_PTR, because upstream relies on kzalloc(0) succeeding. */
#define GFP_KERNEL 0u
void *kmalloc(size_t size, gfp_t flags);
void *kzalloc(size_t size, gfp_t flags);
void kfree(const void *ptr);
void *kmemdup(const void *src, size_t len, gfp_t flags);
char *kmemdup_nul(const char *s, size_t len, gfp_t flags);
char *kstrdup(const char *s, gfp_t flags);
char *kstrndup(const char *s, size_t max, gfp_t flags);

/* copy_from_user is only reached by the unused kstrto*_from_user helpers. */
static inline unsigned long copy_from_user(void *to, const void __user *from, unsigned long n)
{
	memcpy(to, from, n);
	return 0;
}

/* Character classes, kernel style: a 256-entry table defined by lib/ctype.c. */
#define _U 0x01
#define _L 0x02
#define _D 0x04
#define _C 0x08
#define _P 0x10
#define _S 0x20
#define _X 0x40
#define _SP 0x80
extern const unsigned char _ctype[];
#define __ismask(x) (_ctype[(int)(unsigned char)(x)])
#define isalnum(c) ((__ismask(c) & (_U | _L | _D)) != 0)
#define isalpha(c) ((__ismask(c) & (_U | _L)) != 0)
#define iscntrl(c) ((__ismask(c) & (_C)) != 0)
#define isdigit(c) ('0' <= (c) && (c) <= '9')
#define isgraph(c) ((__ismask(c) & (_P | _U | _L | _D)) != 0)
#define islower(c) ((__ismask(c) & (_L)) != 0)
#define isprint(c) ((__ismask(c) & (_P | _U | _L | _D | _SP)) != 0)
#define ispunct(c) ((__ismask(c) & (_P)) != 0)
#define isspace(c) ((__ismask(c) & (_S)) != 0)
#define isupper(c) ((__ismask(c) & (_U)) != 0)
#define isxdigit(c) ((__ismask(c) & (_D | _X)) != 0)
#define isascii(c) (((unsigned char)(c)) <= 0x7f)
#define _tolower(c) ((c) | 0x20)
static inline int tolower(int c) { return isupper(c) ? c - 'A' + 'a' : c; }
static inline int toupper(int c) { return islower(c) ? c - 'a' + 'A' : c; }
static inline bool is_power_of_2(unsigned long n) { return n != 0 && (n & (n - 1)) == 0; }

/* Number parsing (lib/kstrtox.c is compiled as is; these wrap it). */
int kstrtoull(const char *s, unsigned int base, unsigned long long *res);
int kstrtoll(const char *s, unsigned int base, long long *res);
int _kstrtoul(const char *s, unsigned int base, unsigned long *res);
int _kstrtol(const char *s, unsigned int base, long *res);
static inline int kstrtoul(const char *s, unsigned int base, unsigned long *res)
{
	return kstrtoull(s, base, (unsigned long long *)res);
}
static inline int kstrtol(const char *s, unsigned int base, long *res)
{
	return kstrtoll(s, base, (long long *)res);
}
int kstrtouint(const char *s, unsigned int base, unsigned int *res);
int kstrtoint(const char *s, unsigned int base, int *res);
int kstrtou16(const char *s, unsigned int base, u16 *res);
int kstrtos16(const char *s, unsigned int base, s16 *res);
int kstrtou8(const char *s, unsigned int base, u8 *res);
int kstrtos8(const char *s, unsigned int base, s8 *res);
int kstrtobool(const char *s, bool *res);
unsigned long simple_strtoul(const char *cp, char **endp, unsigned int base);
long simple_strtol(const char *cp, char **endp, unsigned int base);

/* lib/hexdump.c */
int hex_to_bin(unsigned char ch);
int hex2bin(u8 *dst, const char *src, size_t count);
extern const char hex_asc[];
#define hex_asc_lo(x) hex_asc[((x) & 0x0f)]
#define hex_asc_hi(x) hex_asc[((x) & 0xf0) >> 4]
static inline char *hex_byte_pack(char *buf, u8 byte)
{
	*buf++ = hex_asc_hi(byte);
	*buf++ = hex_asc_lo(byte);
	return buf;
}
extern const char hex_asc_upper[];
#define hex_asc_upper_lo(x) hex_asc_upper[((x) & 0x0f)]
#define hex_asc_upper_hi(x) hex_asc_upper[((x) & 0xf0) >> 4]
static inline char *hex_byte_pack_upper(char *buf, u8 byte)
{
	*buf++ = hex_asc_upper_hi(byte);
	*buf++ = hex_asc_upper_lo(byte);
	return buf;
}

/* lib/parser.c interface. */
#define MAX_OPT_ARGS 3
struct match_token {
	int token;
	const char *pattern;
};
typedef struct match_token match_table_t[];
typedef struct {
	char *from;
	char *to;
} substring_t;
int match_token(char *s, const match_table_t table, substring_t args[]);
char *match_strdup(const substring_t *s);
int match_int(substring_t *s, int *result);
int match_uint(substring_t *s, unsigned int *result);
int match_u64(substring_t *s, u64 *result);
int match_octal(substring_t *s, int *result);
int match_hex(substring_t *s, int *result);
bool match_wildcard(const char *pattern, const char *str);
size_t match_strlcpy(char *dest, const substring_t *src, size_t size);

/* Intrusive doubly linked lists, same contract as include/linux/list.h. */
struct list_head {
	struct list_head *next, *prev;
};
static inline void INIT_LIST_HEAD(struct list_head *list)
{
	list->next = list;
	list->prev = list;
}
static inline void list_add_tail(struct list_head *entry, struct list_head *head)
{
	entry->prev = head->prev;
	entry->next = head;
	head->prev->next = entry;
	head->prev = entry;
}
static inline void list_del(struct list_head *entry)
{
	entry->prev->next = entry->next;
	entry->next->prev = entry->prev;
}
static inline int list_empty(const struct list_head *head) { return head->next == head; }
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_for_each_entry(pos, head, member)                                   \
	for (pos = list_entry((head)->next, __typeof__(*pos), member);           \
	     &pos->member != (head);                                             \
	     pos = list_entry(pos->member.next, __typeof__(*pos), member))
#define list_for_each_entry_safe(pos, n, head, member)                           \
	for (pos = list_entry((head)->next, __typeof__(*pos), member),           \
	    n = list_entry(pos->member.next, __typeof__(*pos), member);          \
	     &pos->member != (head);                                             \
	     pos = n, n = list_entry(n->member.next, __typeof__(*n), member))

/* Types policy.h and digest.h mention but the parser never touches. */
struct dentry;
struct inode;
struct mutex;
struct audit_buffer;
void audit_log_untrustedstring(struct audit_buffer *ab, const char *string);
void audit_log_format(struct audit_buffer *ab, const char *fmt, ...);
void audit_log_n_hex(struct audit_buffer *ab, const unsigned char *buf, size_t len);

#endif /* IPE_ORACLE_KERNEL_SHIM_H */
