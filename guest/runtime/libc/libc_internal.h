/*
 * Internal header of the guest libc (guest/runtime/libc/).
 *
 * The same sources are built twice:
 *
 *  - for the guest (-DRRVM_GUEST=1, -nostdinc, guest/runtime/include/):
 *    every function gets its standard name (memcpy, vsnprintf, ...);
 *  - for host unit tests (-DRRVM_UNIT_TEST=1, against glibc's headers):
 *    every standard name is prefixed with "libc_" (libc_memcpy,
 *    libc_vsnprintf, ...) so the test binary can hold both our function and
 *    glibc's and compare them.  The prefix is "libc_" and not "guest_"
 *    because guest_exit, guest_assert_fail and guest_console_write already
 *    name runtime hooks: LIBC_NAME(exit) must not become guest_exit.
 *
 * Every definition and every call between libc files goes through
 * LIBC_NAME(); calls to malloc/free do not (in the unit-test build they are
 * glibc's, in the guest they are malloc.c's).  errno follows the same rule:
 * LIBC_NAME(errno) is the variable `errno` in the guest and `libc_errno` in
 * tests (## does not expand glibc's errno macro).
 */
#ifndef RRVM_GUEST_LIBC_INTERNAL_H
#define RRVM_GUEST_LIBC_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#ifdef RRVM_UNIT_TEST
#define LIBC_NAME(x) libc_##x
#else
#define LIBC_NAME(x) x
#endif

/* Provided by the guest runtime (or by the unit test that links us). */
void guest_console_write(const char *buf, size_t len);
__attribute__((noreturn)) void guest_exit(int status);
__attribute__((noreturn)) void guest_assert_fail(const char *expr,
						 const char *file, int line);

/* Exit status of abort() and failed assertions: 128 + SIGABRT, as a shell
 * would report a process killed by abort(). */
#define LIBC_ABORT_STATUS 134

/*
 * Prototypes under their build-specific names.  In the guest build these
 * repeat the public headers' declarations (compatible redeclarations); in
 * the unit-test build they are the only declarations of the libc_* names.
 */
extern int LIBC_NAME(errno);

void *LIBC_NAME(memcpy)(void *dst, const void *src, size_t n);
void *LIBC_NAME(memmove)(void *dst, const void *src, size_t n);
void *LIBC_NAME(memset)(void *dst, int c, size_t n);
int LIBC_NAME(memcmp)(const void *a, const void *b, size_t n);
void *LIBC_NAME(memchr)(const void *s, int c, size_t n);
void *LIBC_NAME(memmem)(const void *hay, size_t hay_len, const void *needle,
			size_t needle_len);
size_t LIBC_NAME(strlen)(const char *s);
size_t LIBC_NAME(strnlen)(const char *s, size_t max);
int LIBC_NAME(strcmp)(const char *a, const char *b);
int LIBC_NAME(strncmp)(const char *a, const char *b, size_t n);
char *LIBC_NAME(strchr)(const char *s, int c);
char *LIBC_NAME(strrchr)(const char *s, int c);
char *LIBC_NAME(strstr)(const char *hay, const char *needle);
char *LIBC_NAME(strcpy)(char *dst, const char *src);
char *LIBC_NAME(strncpy)(char *dst, const char *src, size_t n);
size_t LIBC_NAME(strlcpy)(char *dst, const char *src, size_t size);
char *LIBC_NAME(strdup)(const char *s);
char *LIBC_NAME(strndup)(const char *s, size_t n);
int LIBC_NAME(strcasecmp)(const char *a, const char *b);
int LIBC_NAME(strncasecmp)(const char *a, const char *b, size_t n);

int LIBC_NAME(vsnprintf)(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int LIBC_NAME(snprintf)(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int LIBC_NAME(printf)(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
int LIBC_NAME(puts)(const char *s);

long LIBC_NAME(strtol)(const char *s, char **end, int base);
long long LIBC_NAME(strtoll)(const char *s, char **end, int base);
unsigned long LIBC_NAME(strtoul)(const char *s, char **end, int base);
unsigned long long LIBC_NAME(strtoull)(const char *s, char **end, int base);
int LIBC_NAME(atoi)(const char *s);
int LIBC_NAME(abs)(int x);
long LIBC_NAME(labs)(long x);
void LIBC_NAME(qsort)(void *base, size_t n, size_t size,
		      int (*cmp)(const void *, const void *));
int LIBC_NAME(rand)(void);
void LIBC_NAME(srand)(unsigned seed);
__attribute__((noreturn)) void LIBC_NAME(abort)(void);
__attribute__((noreturn)) void LIBC_NAME(exit)(int status);

#endif
