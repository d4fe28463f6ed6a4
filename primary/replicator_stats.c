/* SPDX-License-Identifier: MIT */
/* The replicator's collect and delta-cache figures for `rrvm ctl stats`. */
#include <stdio.h>

#include "primary/replicator.h"
#include "vmm/vm.h"

int replicator_render_collect(struct replicator *r, int json, char *buf,
			      size_t size)
{
	const struct replicator_stats *st = &r->stats;
	uint64_t epochs = stat_read(st->epochs);
	double per_epoch = epochs ? 1.0 / (double)epochs : 0;
	/* Per epoch, averaged since the start. */
	double in_pause = (double)stat_read(st->pause_pages) * per_epoch;
	double early = (double)stat_read(st->early_copies) * per_epoch;
	double passes = (double)stat_read(st->early_passes) * per_epoch;
	double early_us =
	    (double)stat_read(st->early_ns_total) / 1e3 * per_epoch;
	unsigned long long hits = stat_read(st->delta_hits);
	unsigned long long misses = stat_read(st->delta_misses);
	unsigned long long evictions = stat_read(st->delta_evictions);
	unsigned long long used = stat_read(st->delta_bytes_used);
	unsigned long long max = delta_cache_bytes_max(&r->cache);
	const char *collect =
	    r->vm->dirty_manual_protect ? "two-phase" : "one-phase";
	const char *log = vm_dirty_log_mode(r->vm);

	if (json)
		return snprintf(
		    buf, size,
		    "\"collect\":{\"kind\":\"%s\",\"dirty_log\":\"%s\","
		    "\"pause_pages_avg\":%.1f,\"early_copies_avg\":%.1f,"
		    "\"early_passes_avg\":%.2f,\"early_us_avg\":%.1f},"
		    "\"delta_cache\":{\"bytes_max\":%llu,\"bytes_used\":%llu,"
		    "\"hits\":%llu,\"misses\":%llu,\"evictions\":%llu}",
		    collect, log, in_pause, early, passes, early_us, max, used,
		    hits, misses, evictions);
	return snprintf(
	    buf, size,
	    "  collect %s (dirty log %s): per epoch %.1f pages copied in the "
	    "pause, %.1f early in %.2f passes (%.1f us, guest running)\n"
	    "  delta cache %llu of %llu MiB: %llu hits, %llu misses (%.1f%% "
	    "of pages sent as deltas), %llu evictions\n",
	    collect, log, in_pause, early, passes, early_us, used >> 20,
	    max >> 20, hits, misses,
	    hits + misses ? 100.0 * (double)hits / (double)(hits + misses) : 0,
	    evictions);
}
