/*
 * vsnprintf/snprintf for the guest: the integer, character, string and
 * pointer conversions, with every flag, width, precision and length
 * modifier C99 defines for them.  No floating point: the guest is built
 * without SSE state worth trusting in a formatting path, and nothing in it
 * prints doubles.  An unsupported conversion (%f, %e, %n, ...) is copied to
 * the output literally, which is also what glibc does for unknown ones, so
 * a mistake shows up in the log.  A skipped %f does not consume its
 * double (its type is unknown to us); on x86-64 doubles travel apart from
 * integer and pointer arguments, so the conversions after it still get
 * the right values.  %n is never honoured (its pointer is consumed).
 *
 * Where C leaves a corner open, the choice follows glibc so the unit test
 * can compare the two byte for byte: "%p" of NULL is "(nil)", "%.3s" of
 * NULL prints nothing (a precision below 6 cannot hold "(null)"), '+' and
 * ' ' on unsigned conversions are ignored, and "%5%" is a bare "%".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "libc_internal.h"

enum {
	F_LEFT = 1 << 0,  /* '-' */
	F_ZERO = 1 << 1,  /* '0' */
	F_PLUS = 1 << 2,  /* '+' */
	F_SPACE = 1 << 3, /* ' ' */
	F_ALT = 1 << 4,   /* '#' */
};

enum length { L_NONE, L_HH, L_H, L_L, L_LL, L_Z, L_J, L_T };

/* The output cursor: bytes past size-1 are counted but not stored, so the
 * return value is the length the full result would have had. */
struct out {
	char *buf;
	size_t size;
	size_t len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_n(struct out *o, const char *s, size_t n)
{
	while (n--)
		put(o, *s++);
}

static void pad(struct out *o, char c, size_t n)
{
	while (n--)
		put(o, c);
}

/* Width padding around a body of `len` bytes, for %s, %c, "(nil)". */
static void put_padded(struct out *o, const char *s, size_t len,
		       unsigned flags, size_t width)
{
	size_t fill = width > len ? width - len : 0;

	if (!(flags & F_LEFT))
		pad(o, ' ', fill);
	put_n(o, s, len);
	if (flags & F_LEFT)
		pad(o, ' ', fill);
}

/*
 * One integer conversion.  The layout is
 *	[spaces] [sign or 0x prefix] [zeros] digits [spaces]
 * where the zeros come from the precision, or from the width when the '0'
 * flag is set and no precision was given.
 */
static void put_int(struct out *o, unsigned long long v, int negative,
		    char conv, unsigned flags, size_t width, int prec)
{
	char digits[24]; /* 22 octal digits hold 2^64 - 1 */
	const char *set = conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
	unsigned base = conv == 'o' ? 8 : (conv == 'x' || conv == 'X' ||
					   conv == 'p') ? 16 : 10;
	char prefix[3]; /* sign, '0', 'x' */
	size_t nd = 0, np = 0, zeros = 0, body;
	int is_zero = v == 0;

	/* An explicit precision of 0 prints no digits for the value 0. */
	while (v || (nd == 0 && prec != 0)) {
		digits[sizeof(digits) - 1 - nd++] = set[v % base];
		v /= base;
	}

	if (negative)
		prefix[np++] = '-';
	else if ((conv == 'd' || conv == 'i' || conv == 'p') &&
		 (flags & F_PLUS))
		prefix[np++] = '+';
	else if ((conv == 'd' || conv == 'i' || conv == 'p') &&
		 (flags & F_SPACE))
		prefix[np++] = ' ';

	/* "0x" for %p and for %#x of a non-zero value (after any sign: glibc
	 * prints "%+p" as "+0x12"). */
	if (conv == 'p' ||
	    ((conv == 'x' || conv == 'X') && (flags & F_ALT) && !is_zero)) {
		prefix[np++] = '0';
		prefix[np++] = conv == 'X' ? 'X' : 'x';
	}

	if (prec >= 0 && (size_t)prec > nd)
		zeros = (size_t)prec - nd;
	/* %#o: the first digit must be 0 (adds one only if none is there). */
	if (conv == 'o' && (flags & F_ALT) && zeros == 0 &&
	    (nd == 0 || digits[sizeof(digits) - nd] != '0'))
		zeros = 1;

	body = np + zeros + nd;
	if ((flags & F_ZERO) && !(flags & F_LEFT) && prec < 0 && width > body) {
		zeros += width - body;
		body = width;
	}
	if (!(flags & F_LEFT) && width > body)
		pad(o, ' ', width - body);
	put_n(o, prefix, np);
	pad(o, '0', zeros);
	put_n(o, digits + sizeof(digits) - nd, nd);
	if ((flags & F_LEFT) && width > body)
		pad(o, ' ', width - body);
}

/* Read a decimal number (width or precision) from the format. */
static size_t parse_num(const char **fmt)
{
	size_t n = 0;

	while (**fmt >= '0' && **fmt <= '9') {
		/* Absurd widths saturate (below INT_MAX), never overflow. */
		n = n > 100000000 ? 1000000000 : n * 10 + (size_t)(**fmt - '0');
		(*fmt)++;
	}
	return n;
}

/* Fetch an integer argument of the size the length modifier names, sign-
 * or zero-extended by the conversion's signedness. */
static unsigned long long fetch_int(va_list *ap, enum length len, int sign,
				    int *negative)
{
	long long s;
	unsigned long long u;

	*negative = 0;
	if (sign) {
		switch (len) {
		case L_HH: s = (signed char)va_arg(*ap, int); break;
		case L_H: s = (short)va_arg(*ap, int); break;
		case L_L: s = va_arg(*ap, long); break;
		case L_LL: s = va_arg(*ap, long long); break;
		/* %zd: the signed type of size_t's width. */
		case L_Z: s = (long)va_arg(*ap, size_t); break;
		case L_J: s = va_arg(*ap, intmax_t); break;
		case L_T: s = va_arg(*ap, ptrdiff_t); break;
		default: s = va_arg(*ap, int); break;
		}
		if (s < 0) {
			*negative = 1;
			/* Negate in unsigned so LLONG_MIN does not overflow. */
			return 0ULL - (unsigned long long)s;
		}
		return (unsigned long long)s;
	}
	switch (len) {
	case L_HH: u = (unsigned char)va_arg(*ap, unsigned); break;
	case L_H: u = (unsigned short)va_arg(*ap, unsigned); break;
	case L_L: u = va_arg(*ap, unsigned long); break;
	case L_LL: u = va_arg(*ap, unsigned long long); break;
	case L_Z: u = va_arg(*ap, size_t); break;
	case L_J: u = va_arg(*ap, uintmax_t); break;
	/* %tu: the unsigned type of ptrdiff_t's width. */
	case L_T: u = (unsigned long)va_arg(*ap, ptrdiff_t); break;
	default: u = va_arg(*ap, unsigned); break;
	}
	return u;
}

int LIBC_NAME(vsnprintf)(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .size = size, .len = 0 };
	va_list args;

	/* Work on a copy so helpers can take its address portably. */
	va_copy(args, ap);
	while (*fmt) {
		const char *spec = fmt;
		unsigned flags = 0;
		size_t width = 0;
		int prec = -1;
		enum length len = L_NONE;
		unsigned long long v;
		int negative;
		char conv;

		if (*fmt != '%') {
			put(&o, *fmt++);
			continue;
		}
		fmt++;

		for (;; fmt++) {
			if (*fmt == '-')
				flags |= F_LEFT;
			else if (*fmt == '0')
				flags |= F_ZERO;
			else if (*fmt == '+')
				flags |= F_PLUS;
			else if (*fmt == ' ')
				flags |= F_SPACE;
			else if (*fmt == '#')
				flags |= F_ALT;
			else
				break;
		}

		if (*fmt == '*') {
			int w = va_arg(args, int);

			fmt++;
			/* A negative '*' width means '-' and its magnitude. */
			if (w < 0) {
				flags |= F_LEFT;
				width = 0u - (unsigned)w;
			} else {
				width = (size_t)w;
			}
		} else {
			width = parse_num(&fmt);
		}

		if (*fmt == '.') {
			fmt++;
			if (*fmt == '*') {
				int p = va_arg(args, int);

				fmt++;
				/* A negative '*' precision counts as absent. */
				prec = p < 0 ? -1 : p;
			} else {
				prec = (int)parse_num(&fmt);
			}
		}

		switch (*fmt) {
		case 'h':
			len = fmt[1] == 'h' ? L_HH : L_H;
			fmt += len == L_HH ? 2 : 1;
			break;
		case 'l':
			len = fmt[1] == 'l' ? L_LL : L_L;
			fmt += len == L_LL ? 2 : 1;
			break;
		case 'z': len = L_Z; fmt++; break;
		case 'j': len = L_J; fmt++; break;
		case 't': len = L_T; fmt++; break;
		}

		conv = *fmt;
		if (conv)
			fmt++;
		switch (conv) {
		case 'd':
		case 'i':
			v = fetch_int(&args, len, 1, &negative);
			put_int(&o, v, negative, conv, flags, width, prec);
			break;
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			v = fetch_int(&args, len, 0, &negative);
			put_int(&o, v, 0, conv, flags, width, prec);
			break;
		case 'p': {
			void *p = va_arg(args, void *);

			if (p)
				put_int(&o, (uintptr_t)p, 0, 'p', flags, width,
					prec);
			else
				put_padded(&o, "(nil)", 5, flags, width);
			break;
		}
		case 'c': {
			char c = (char)va_arg(args, int);

			put_padded(&o, &c, 1, flags, width);
			break;
		}
		case 's': {
			const char *s = va_arg(args, const char *);
			size_t n;

			if (!s)
				s = prec < 0 || prec >= 6 ? "(null)" : "";
			/* Never read past the precision: the argument need
			 * not be terminated within it. */
			n = prec < 0 ? LIBC_NAME(strlen)(s)
				     : LIBC_NAME(strnlen)(s, (size_t)prec);
			put_padded(&o, s, n, flags, width);
			break;
		}
		case '%':
			put(&o, '%');
			break;
		case 'n':
			/* Never honoured (it writes through an argument), but
			 * its pointer is consumed so later arguments line up. */
			(void)va_arg(args, void *);
			put_n(&o, spec, (size_t)(fmt - spec));
			break;
		default:
			/* Unsupported or unknown: copy the spec verbatim. A
			 * trailing lone '%' copies just itself. */
			put_n(&o, spec, (size_t)(fmt - spec));
			break;
		}
	}
	va_end(args);

	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	/* The int return cannot say more; callers never format 2 GiB. */
	return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}

int LIBC_NAME(snprintf)(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = LIBC_NAME(vsnprintf)(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
