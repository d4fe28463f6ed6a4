/* SPDX-License-Identifier: MIT */
/* The non-network parts of service.h: clock, options, log, tickers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "guest/net/net.h"
#include "guest/runtime/libc/heap.h"
#include "guest/runtime/runtime.h"
#include "service.h"

#define MAX_TICKERS 8

static struct {
	svc_tick_fn tick;
	uint64_t deadline;
} tickers[MAX_TICKERS];
static int ticker_count;

void svc_mem_usage(size_t *used, size_t *total)
{
	struct heap_stats st;

	heap_get_stats(&st);
	*used = st.in_use;
	*total = st.total;
}

uint64_t svc_now_ns(void)
{
	return guest_now_ns();
}

const char *svc_option(const char *key)
{
	return guest_option(key);
}

void svc_log(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	guest_console_write(line, (size_t)n);
}

int svc_register_ticker(svc_tick_fn tick)
{
	if (ticker_count == MAX_TICKERS)
		return -ENOMEM;
	tickers[ticker_count].tick = tick;
	tickers[ticker_count].deadline = 0; /* first call at once */
	ticker_count++;
	return 0;
}

uint64_t svc_run_tickers(uint64_t now)
{
	uint64_t earliest = UINT64_MAX;

	for (int i = 0; i < ticker_count; i++) {
		if (tickers[i].deadline <= now)
			tickers[i].deadline = tickers[i].tick(now);
		if (tickers[i].deadline < earliest)
			earliest = tickers[i].deadline;
	}
	return earliest;
}
