/*
 * string.h for the guest.
 *
 * memcpy/memset/memmove are the hot ones (lwIP pbuf copies, kv values of
 * 1 MiB): in the guest they use `rep movsb` / `rep stosb`, which every CPU
 * with ERMSB (Ivy Bridge+, Zen) runs at close to memory bandwidth for large
 * sizes.  Everything else is a plain loop: the strings the guest handles are
 * short (protocol tokens, keys), and simple code is easier to trust.
 *
 * GCC recognises byte loops as memcpy/memset "patterns" and replaces them
 * with calls to memcpy/memset -- inside memcpy that would recurse forever.
 * LIBC_NO_PATTERNS turns that transformation off for the functions that
 * must never call themselves.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libc_internal.h"

#define LIBC_NO_PATTERNS \
	__attribute__((optimize("no-tree-loop-distribute-patterns")))

/* An unaligned, aliasing-safe 64-bit word for the word-at-a-time loops. */
typedef uint64_t __attribute__((may_alias, aligned(1))) u64_unaligned;

static inline unsigned char fold(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

LIBC_NO_PATTERNS
void *LIBC_NAME(memcpy)(void *dst, const void *src, size_t n)
{
#ifdef RRVM_GUEST
	void *ret = dst;

	__asm__ volatile("rep movsb"
			 : "+D"(dst), "+S"(src), "+c"(n)
			 :
			 : "memory");
	return ret;
#else
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
#endif
}

LIBC_NO_PATTERNS
void *LIBC_NAME(memset)(void *dst, int c, size_t n)
{
#ifdef RRVM_GUEST
	void *ret = dst;

	__asm__ volatile("rep stosb"
			 : "+D"(dst), "+c"(n)
			 : "a"(c)
			 : "memory");
	return ret;
#else
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
#endif
}

/*
 * A forward byte copy is correct whenever dst is below src, even if the
 * ranges overlap, so only dst-above-src needs the backward path.  Backward
 * `rep movsb` (DF=1) is not a fast-string operation on most CPUs, so that
 * path copies 8 bytes at a time from the end instead.
 */
LIBC_NO_PATTERNS
void *LIBC_NAME(memmove)(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d == s || n == 0)
		return dst;
	if ((uintptr_t)d - (uintptr_t)s >= n) {
		/* dst below src, or no overlap at all. */
		return LIBC_NAME(memcpy)(dst, src, n);
	}
	while (n >= 8) {
		n -= 8;
		*(u64_unaligned *)(d + n) = *(const u64_unaligned *)(s + n);
	}
	while (n--)
		d[n] = s[n];
	return dst;
}

int LIBC_NAME(memcmp)(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	/* Skip equal words quickly (key comparisons in the kv store). */
	while (n >= 8 &&
	       *(const u64_unaligned *)x == *(const u64_unaligned *)y) {
		x += 8;
		y += 8;
		n -= 8;
	}
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

void *LIBC_NAME(memchr)(const void *s, int c, size_t n)
{
	const unsigned char *p = s;

	for (; n; n--, p++)
		if (*p == (unsigned char)c)
			return (void *)p;
	return NULL;
}

/*
 * Boyer-Moore-Horspool: linear on typical inputs (HTTP header scans for
 * "\r\n\r\n").  Skips are stored in bytes and capped at 255; a smaller skip
 * than the true one is always safe, it only costs extra comparisons on
 * needles longer than 255 bytes.
 */
void *LIBC_NAME(memmem)(const void *hay, size_t hay_len, const void *needle,
			size_t needle_len)
{
	const unsigned char *h = hay, *nd = needle;
	unsigned char skip[256];
	size_t i, last;

	if (needle_len == 0)
		return (void *)h;
	if (needle_len > hay_len)
		return NULL;
	if (needle_len == 1)
		return LIBC_NAME(memchr)(hay, nd[0], hay_len);

	last = needle_len - 1;
	for (i = 0; i < 256; i++)
		skip[i] = needle_len > 255 ? 255 : (unsigned char)needle_len;
	for (i = 0; i < last; i++) {
		size_t d = last - i;

		skip[nd[i]] = d > 255 ? 255 : (unsigned char)d;
	}
	for (i = 0; i + needle_len <= hay_len; i += skip[h[i + last]]) {
		if (h[i + last] == nd[last] &&
		    LIBC_NAME(memcmp)(h + i, nd, last) == 0)
			return (void *)(h + i);
	}
	return NULL;
}

size_t LIBC_NAME(strlen)(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t)(p - s);
}

size_t LIBC_NAME(strnlen)(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

int LIBC_NAME(strcmp)(const char *a, const char *b)
{
	const unsigned char *x = (const void *)a, *y = (const void *)b;

	while (*x && *x == *y) {
		x++;
		y++;
	}
	return *x - *y;
}

int LIBC_NAME(strncmp)(const char *a, const char *b, size_t n)
{
	const unsigned char *x = (const void *)a, *y = (const void *)b;

	for (; n; n--, x++, y++) {
		if (*x != *y)
			return *x - *y;
		if (!*x)
			break;
	}
	return 0;
}

char *LIBC_NAME(strchr)(const char *s, int c)
{
	/* The terminator itself is findable: strchr(s, 0) == s + strlen(s). */
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

char *LIBC_NAME(strrchr)(const char *s, int c)
{
	const char *found = NULL;

	for (;; s++) {
		if (*s == (char)c)
			found = s;
		if (!*s)
			return (char *)found;
	}
}

char *LIBC_NAME(strstr)(const char *hay, const char *needle)
{
	return LIBC_NAME(memmem)(hay, LIBC_NAME(strlen)(hay), needle,
				 LIBC_NAME(strlen)(needle));
}

char *LIBC_NAME(strcpy)(char *dst, const char *src)
{
	return LIBC_NAME(memcpy)(dst, src, LIBC_NAME(strlen)(src) + 1);
}

/* Copies at most n bytes and zero-fills the rest (no terminator if src is
 * n bytes or longer), as the standard requires. */
char *LIBC_NAME(strncpy)(char *dst, const char *src, size_t n)
{
	size_t len = LIBC_NAME(strnlen)(src, n);

	LIBC_NAME(memcpy)(dst, src, len);
	LIBC_NAME(memset)(dst + len, 0, n - len);
	return dst;
}

/* BSD strlcpy: always terminates (if size > 0); returns strlen(src) so the
 * caller can detect truncation with `ret >= size`. */
size_t LIBC_NAME(strlcpy)(char *dst, const char *src, size_t size)
{
	size_t len = LIBC_NAME(strlen)(src);

	if (size) {
		size_t n = len < size - 1 ? len : size - 1;

		LIBC_NAME(memcpy)(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

char *LIBC_NAME(strdup)(const char *s)
{
	size_t len = LIBC_NAME(strlen)(s) + 1;
	char *p = malloc(len);

	if (p)
		LIBC_NAME(memcpy)(p, s, len);
	return p;
}

char *LIBC_NAME(strndup)(const char *s, size_t n)
{
	size_t len = LIBC_NAME(strnlen)(s, n);
	char *p = malloc(len + 1);

	if (p) {
		LIBC_NAME(memcpy)(p, s, len);
		p[len] = '\0';
	}
	return p;
}

/* ASCII-only case folding: the guest has no locales. */
int LIBC_NAME(strcasecmp)(const char *a, const char *b)
{
	const unsigned char *x = (const void *)a, *y = (const void *)b;

	while (*x && fold(*x) == fold(*y)) {
		x++;
		y++;
	}
	return fold(*x) - fold(*y);
}

int LIBC_NAME(strncasecmp)(const char *a, const char *b, size_t n)
{
	const unsigned char *x = (const void *)a, *y = (const void *)b;

	for (; n; n--, x++, y++) {
		if (fold(*x) != fold(*y))
			return fold(*x) - fold(*y);
		if (!*x)
			break;
	}
	return 0;
}
