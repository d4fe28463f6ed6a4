/* SPDX-License-Identifier: MIT */
/*
 * Features every guest image has, whatever its main service, switched on
 * from the guest command line:
 *
 *	dirty=N          write N distinct pages per second (0 = off, <= 1000000)
 *	dirty_mb=M       size of the dirtier's region in MiB (default 16)
 *	dirty_bytes=B    fresh bytes per page write, 8..4096 (default 8; 4096:
 *	                 whole pages of incompressible data)
 *	dirty_catchup_ms=T  missed time a tick makes up, 1..1000 (default
 *	                 1000; a few ms: slowed by a vCPU throttle, as a
 *	                 CPU-bound workload)
 *	crash=KIND       test only: fault on purpose (null, ud, gp, div)
 *	crash_after_ms=T ...T ms after start (default 0)
 */
#ifndef GUEST_LIB_OPTIONS_H
#define GUEST_LIB_OPTIONS_H

/*
 * Called by the guest main once the main service has started. Every option
 * above that is present is validated, even when its feature is off, so a
 * typo is never silently ignored. 0, or negative errno after a svc_log line
 * naming the offending option.
 */
int guest_common_start(void);

#endif
