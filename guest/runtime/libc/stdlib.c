/*
 * stdlib.h for the guest (minus malloc and friends, see malloc.c/heap.c):
 * number parsing, qsort, a PRNG, and the ways out (abort, exit, failed
 * assertions), which all end in the runtime's guest_exit().
 *
 * errno is a plain global: the guest is single-threaded and has no TLS, so
 * there is no reason for the per-thread errno of a hosted libc.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "libc_internal.h"

int LIBC_NAME(errno);

/* ----------------------------------------------------------- strto*() */

static unsigned digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'z')
		return (unsigned)(c - 'a' + 10);
	if (c >= 'A' && c <= 'Z')
		return (unsigned)(c - 'A' + 10);
	return 99; /* not a digit in any base */
}

/*
 * The common part of all four: whitespace, sign, base prefix, digits.
 * Returns the magnitude; *overflow is set if it exceeded ULLONG_MAX (the
 * digits are still consumed, so *end lands after the whole number, as C
 * requires).  With no digits at all, *end is the start of the string and
 * errno is left alone -- only an invalid base is EINVAL.
 */
static unsigned long long parse(const char *s, char **end, int base,
				int *negative, int *overflow)
{
	const char *p = s;
	unsigned long long v = 0;
	int any = 0;
	unsigned d;

	*negative = 0;
	*overflow = 0;
	if (base < 0 || base == 1 || base > 36) {
		LIBC_NAME(errno) = EINVAL;
		if (end)
			*end = (char *)s;
		return 0;
	}

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '+' || *p == '-')
		*negative = *p++ == '-';

	/* "0x" is a prefix only if a hex digit follows: "0xg" parses as 0
	 * with *end at the 'x'. */
	if ((base == 0 || base == 16) && p[0] == '0' &&
	    (p[1] == 'x' || p[1] == 'X') && digit_value(p[2]) < 16) {
		p += 2;
		base = 16;
	} else if (base == 0) {
		base = p[0] == '0' ? 8 : 10;
	}

	for (; (d = digit_value(*p)) < (unsigned)base; p++) {
		any = 1;
		if (v > (ULLONG_MAX - d) / (unsigned)base)
			*overflow = 1;
		else
			v = v * (unsigned)base + d;
	}
	if (end)
		*end = (char *)(any ? p : s);
	return v;
}

/* Signed results: clamp to [min, max] and report ERANGE outside it. */
static long long to_signed(const char *s, char **end, int base, long long min,
			   long long max)
{
	int neg, overflow;
	unsigned long long v = parse(s, end, base, &neg, &overflow);

	if (neg) {
		if (overflow || v > 0ULL - (unsigned long long)min) {
			LIBC_NAME(errno) = ERANGE;
			return min;
		}
		/* Negate in unsigned: -(min) itself is not representable. */
		return (long long)(0ULL - v);
	}
	if (overflow || v > (unsigned long long)max) {
		LIBC_NAME(errno) = ERANGE;
		return max;
	}
	return (long long)v;
}

/*
 * Unsigned results: C says a leading '-' negates the value in the unsigned
 * type, so "-1" is ULONG_MAX without an error; only a magnitude that does
 * not fit is ERANGE.
 */
static unsigned long long to_unsigned(const char *s, char **end, int base,
				      unsigned long long max)
{
	int neg, overflow;
	unsigned long long v = parse(s, end, base, &neg, &overflow);

	if (overflow || v > max) {
		LIBC_NAME(errno) = ERANGE;
		return max;
	}
	return neg ? (0ULL - v) & max : v;
}

long LIBC_NAME(strtol)(const char *s, char **end, int base)
{
	return (long)to_signed(s, end, base, LONG_MIN, LONG_MAX);
}

long long LIBC_NAME(strtoll)(const char *s, char **end, int base)
{
	return to_signed(s, end, base, LLONG_MIN, LLONG_MAX);
}

unsigned long LIBC_NAME(strtoul)(const char *s, char **end, int base)
{
	return (unsigned long)to_unsigned(s, end, base, ULONG_MAX);
}

unsigned long long LIBC_NAME(strtoull)(const char *s, char **end, int base)
{
	return to_unsigned(s, end, base, ULLONG_MAX);
}

/* As glibc: (int)strtol(s, NULL, 10), so out-of-range input wraps. */
int LIBC_NAME(atoi)(const char *s)
{
	return (int)LIBC_NAME(strtol)(s, NULL, 10);
}

int LIBC_NAME(abs)(int x)
{
	return x < 0 ? -x : x;
}

long LIBC_NAME(labs)(long x)
{
	return x < 0 ? -x : x;
}

/* ------------------------------------------------------------- qsort() */

typedef uint64_t __attribute__((may_alias, aligned(1))) u64_unaligned;

static void swap_elems(char *a, char *b, size_t size)
{
	for (; size >= 8; size -= 8, a += 8, b += 8) {
		uint64_t t = *(u64_unaligned *)a;

		*(u64_unaligned *)a = *(u64_unaligned *)b;
		*(u64_unaligned *)b = t;
	}
	for (; size; size--, a++, b++) {
		char t = *a;

		*a = *b;
		*b = t;
	}
}

static void sift_down(char *base, size_t root, size_t n, size_t size,
		      int (*cmp)(const void *, const void *))
{
	for (;;) {
		size_t child = 2 * root + 1;

		if (child >= n)
			return;
		if (child + 1 < n &&
		    cmp(base + child * size, base + (child + 1) * size) < 0)
			child++;
		if (cmp(base + root * size, base + child * size) >= 0)
			return;
		swap_elems(base + root * size, base + child * size, size);
		root = child;
	}
}

/*
 * Heapsort: O(n log n) worst case, constant stack, no recursion -- the
 * properties that matter on a small guest stack.  Not stable (neither is
 * any qsort the standard promises).  Short arrays, the common case, take
 * an insertion sort, which is faster there and still bounded.
 */
void LIBC_NAME(qsort)(void *base, size_t n, size_t size,
		      int (*cmp)(const void *, const void *))
{
	char *b = base;
	size_t i, j;

	if (n < 2 || size == 0)
		return;
	if (n <= 12) {
		for (i = 1; i < n; i++)
			for (j = i; j > 0 && cmp(b + (j - 1) * size,
						 b + j * size) > 0; j--)
				swap_elems(b + (j - 1) * size, b + j * size,
					   size);
		return;
	}
	for (i = n / 2; i-- > 0;)
		sift_down(b, i, n, size, cmp);
	for (i = n - 1; i > 0; i--) {
		swap_elems(b, b + i * size, size);
		sift_down(b, 0, i, size, cmp);
	}
}

/* --------------------------------------------------------- rand/srand */

/*
 * xorshift64*: tiny, fast, and good enough for hash seeds, jitter and
 * tests -- nothing in the guest needs cryptographic randomness.  The state
 * must never be zero, so srand() runs the seed through splitmix64 first.
 * Deterministic on purpose: a restored VM replays the same sequence.
 */
/* C: rand() before any srand() behaves as after srand(1); this constant is
 * what srand(1) computes. */
static uint64_t rand_state = 0x910a2dec89025cc1ULL;

void LIBC_NAME(srand)(unsigned seed)
{
	uint64_t z = (uint64_t)seed + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	rand_state = z ? z : 1;
}

int LIBC_NAME(rand)(void)
{
	uint64_t x = rand_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rand_state = x;
	/* The high bits of the multiplied output are the good ones; keep 31
	 * of them so the result is in [0, RAND_MAX]. */
	return (int)((x * 0x2545f4914f6cdd1dULL) >> 33);
}

/* -------------------------------------------------------- the way out */

__attribute__((noreturn)) void LIBC_NAME(abort)(void)
{
	guest_exit(LIBC_ABORT_STATUS);
}

__attribute__((noreturn)) void LIBC_NAME(exit)(int status)
{
	guest_exit(status);
}

/* Target of assert() (guest/runtime/include/assert.h). */
__attribute__((noreturn)) void guest_assert_fail(const char *expr,
						 const char *file, int line)
{
	LIBC_NAME(printf)("assertion failed: %s at %s:%d\n", expr, file, line);
	guest_exit(LIBC_ABORT_STATUS);
}
