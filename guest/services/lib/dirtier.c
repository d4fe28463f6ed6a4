// SPDX-License-Identifier: MIT
/*
 * The dirtier writes N distinct pages per second, cycling through a region
 * allocated once.
 *
 * Why it is built this way:
 *  - One 8-byte word per page is enough to make KVM's dirty log report the
 *    page, and writing a value never written before (a global sequence
 *    number) means the page really changed, so delta encoding cannot
 *    pretend it did not.
 *  - The number of pages due is derived from elapsed guest time with the
 *    remainder carried from tick to tick, so over any interval the count is
 *    exact (floor(N * t)), whatever the tick jitter. The rate is what an
 *    experiment sets, so it must not drift.
 *  - The main loop wakes the guest for the ticker's deadline, and each wake
 *    is a VM exit (~35 us here); ticking every 5 ms costs under 1% and keeps
 *    bursts small at high rates, and low rates tick less often.
 *  - After a long stop of the guest (a paused VM, a failover restore) the
 *    time owed is capped at one second: the rate is a rate, not a debt, and
 *    a catch-up burst would distort the epoch right after the pause.
 *  - One tick writes for at most DIRTIER_TICK_BUDGET_NS, the rest stays
 *    owed and the next tick is due at once. A rate the guest cannot reach
 *    (every first write of a page in an epoch is a write-protection fault,
 *    a nested VM exit here: some 30k pages/s at most) would otherwise make
 *    each tick write a whole catch-up's worth, seconds long, and the main
 *    loop would answer the network once per tick: the guest looked dead.
 *    With the budget it dirties as fast as it can and still serves.
 */
#include "lib/dirtier.h"
#include "service.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>

#define NS_PER_SEC 1000000000ull

static struct {
	bool active;
	void *alloc;	 /* what malloc returned */
	uint8_t *region; /* page-aligned start inside alloc */
	size_t pages;
	uint64_t rate; /* pages per second */
	uint64_t period_ns;
	uint64_t last_ns; /* guest time accounted for so far */
	uint64_t acc;	  /* rate * ns not yet turned into pages */
	size_t cursor;	  /* next page to write */
	uint64_t seq;	  /* last value written */
	uint64_t written;
	unsigned words;	     /* 8-byte words written per page */
	uint64_t catchup_ns; /* most time one tick makes up */
} d = {.words = DIRTIER_DEFAULT_BYTES / 8,
       .catchup_ns = DIRTIER_DEFAULT_CATCHUP_MS * 1000000ull};

int dirtier_configure(unsigned bytes_per_page, unsigned catchup_ms)
{
	if (d.active || bytes_per_page < 8 ||
	    bytes_per_page > DIRTIER_PAGE_SIZE || bytes_per_page % 8 ||
	    catchup_ms < 1 || catchup_ms > DIRTIER_MAX_CATCHUP_MS)
		return -EINVAL;
	d.words = bytes_per_page / 8;
	d.catchup_ns = catchup_ms * 1000000ull;
	return 0;
}

/* The first word is the sequence number; the rest xorshift from it, so
 * every write differs from the page's previous content everywhere. */
static void write_page(void)
{
	volatile uint64_t *word;
	uint64_t x = ++d.seq;

	word = (volatile uint64_t *)(d.region + d.cursor * DIRTIER_PAGE_SIZE);
	word[0] = x;
	for (unsigned i = 1; i < d.words; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		word[i] = x;
	}
	if (++d.cursor == d.pages)
		d.cursor = 0;
	d.written++;
}

static uint64_t dirtier_tick(uint64_t now_ns)
{
	uint64_t dt, due, owed_max, t;

	if (!d.active)
		return UINT64_MAX; /* stopped: never again */
	dt = now_ns > d.last_ns ? now_ns - d.last_ns : 0;
	d.last_ns = now_ns;
	if (dt > d.catchup_ns)
		dt = d.catchup_ns;
	/* rate <= 1e6 and dt <= 1e9: no overflow. */
	d.acc += d.rate * dt;
	/* What is owed never exceeds one catch-up's worth. */
	owed_max = d.rate * d.catchup_ns;
	if (d.acc > owed_max)
		d.acc = owed_max;
	due = d.acc / NS_PER_SEC;
	d.acc %= NS_PER_SEC;
	while (due) {
		write_page();
		due--;
		if (!due || due % DIRTIER_BUDGET_CHECK)
			continue;
		t = svc_now_ns();
		if (t > now_ns && t - now_ns >= DIRTIER_TICK_BUDGET_NS)
			break;
	}
	if (due) {
		d.acc += due * NS_PER_SEC;
		return now_ns; /* behind: again right after the network */
	}
	return now_ns + d.period_ns;
}

int dirtier_start(uint64_t pages_per_sec, uint64_t region_mb)
{
	size_t bytes;
	int ret;

	if (d.active)
		return -EBUSY;
	if (pages_per_sec == 0 || pages_per_sec > DIRTIER_MAX_RATE ||
	    region_mb == 0 || region_mb > DIRTIER_MAX_MB)
		return -EINVAL;

	bytes = (size_t)region_mb << 20;
	/*
	 * calloc: writing zeros up front faults the whole region in once at
	 * boot, so later writes are plain stores, and every first write of a
	 * page (value >= 1) differs from what was there.
	 */
	d.alloc = calloc(1, bytes + DIRTIER_PAGE_SIZE);
	if (!d.alloc) {
		svc_log("dirtier: cannot allocate %" PRIu64 " MiB", region_mb);
		return -ENOMEM;
	}
	d.region = (uint8_t *)(((uintptr_t)d.alloc + DIRTIER_PAGE_SIZE - 1) &
			       ~(uintptr_t)(DIRTIER_PAGE_SIZE - 1));
	d.pages = bytes / DIRTIER_PAGE_SIZE;
	d.rate = pages_per_sec;
	d.period_ns = NS_PER_SEC / pages_per_sec;
	if (d.period_ns < DIRTIER_MIN_PERIOD_NS)
		d.period_ns = DIRTIER_MIN_PERIOD_NS;
	if (d.period_ns > DIRTIER_MAX_PERIOD_NS)
		d.period_ns = DIRTIER_MAX_PERIOD_NS;
	/* A tick makes up at most catchup_ns: tick at least that often, or
	 * the rate itself would be cut. */
	if (d.period_ns > d.catchup_ns)
		d.period_ns = d.catchup_ns;
	d.last_ns = svc_now_ns();
	d.acc = 0;
	d.cursor = 0;
	d.seq = 0;
	d.written = 0;

	ret = svc_register_ticker(dirtier_tick);
	if (ret < 0) {
		svc_log("dirtier: cannot register ticker: %d", ret);
		free(d.alloc);
		d.alloc = NULL;
		d.region = NULL;
		return ret;
	}
	d.active = true;
	svc_log("dirtier: %" PRIu64 " pages/s over %" PRIu64
		" MiB (%lu pages), %u bytes per page, tick every %" PRIu64
		" ms, catch-up %" PRIu64 " ms",
		pages_per_sec, region_mb, (unsigned long)d.pages, d.words * 8,
		d.period_ns / 1000000, d.catchup_ns / 1000000);
	return 0;
}

void dirtier_stop(void)
{
	/*
	 * The ticker cannot be unregistered; inactive, it returns "never".
	 * A later dirtier_start registers again, and a second registration
	 * is harmless: a tick with no elapsed time writes nothing.
	 */
	d.active = false;
	free(d.alloc);
	d.alloc = NULL;
	d.region = NULL;
	d.pages = 0;
	d.words = DIRTIER_DEFAULT_BYTES / 8;
	d.catchup_ns = DIRTIER_DEFAULT_CATCHUP_MS * 1000000ull;
}

uint64_t dirtier_pages_written(void)
{
	return d.written;
}

const uint8_t *dirtier_region(size_t *pages)
{
	*pages = d.pages;
	return d.region;
}
