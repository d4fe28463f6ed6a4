/*
 * printf and puts for the guest: no FILE objects, no buffering across
 * calls.  Each call becomes one guest_console_write(), i.e. one console
 * hypercall (one VM exit), so a line is not split between two writes and
 * stays whole in the VMM's log (the only exception: puts of a string over
 * 1 KiB, see below).
 *
 * printf formats into a 1 KiB stack buffer: longer output is truncated (the
 * guest stack is small and console lines are diagnostics, not data).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "libc_internal.h"

#define CONSOLE_LINE_MAX 1024

int LIBC_NAME(printf)(const char *fmt, ...)
{
	char buf[CONSOLE_LINE_MAX];
	va_list ap;
	int n;
	size_t len;

	va_start(ap, fmt);
	n = LIBC_NAME(vsnprintf)(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return n;
	len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
	if (len)
		guest_console_write(buf, len);
	/* Report what was written, not what would have been. */
	return (int)len;
}

/*
 * puts needs no formatting, so a string that does not fit the buffer is
 * written in place (two writes: text, then newline) rather than truncated.
 */
int LIBC_NAME(puts)(const char *s)
{
	char buf[CONSOLE_LINE_MAX];
	size_t len = LIBC_NAME(strlen)(s);

	if (len < sizeof(buf)) {
		LIBC_NAME(memcpy)(buf, s, len);
		buf[len] = '\n';
		guest_console_write(buf, len + 1);
	} else {
		guest_console_write(s, len);
		guest_console_write("\n", 1);
	}
	/* Any non-negative value means success. */
	return (int)(len + 1 > 0x7fffffff ? 0x7fffffff : len + 1);
}
