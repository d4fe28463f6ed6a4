/* SPDX-License-Identifier: MIT */
/*
 * One of our XDP capture programs attached to one interface: what both XDP
 * backends (capture_xdp.c: AF_XDP, capture_ringbuf.c: BPF ring buffer)
 * share. Finding the object next to the executable, attaching it with
 * libxdp (native and/or SKB mode), claiming it in its config map (owner PID
 * and start time), replacing a program a dead process left behind and
 * refusing anyone else's, writing the config (enable, quiesce), detaching.
 * The programs' common layout is backup/capture_shared.h.
 */
#ifndef RRVM_CAPTURE_PROG_H
#define RRVM_CAPTURE_PROG_H

#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xdp/libxdp.h>

#include "backup/capture.h"
#include "backup/capture_shared.h"

struct capture_prog {
	const char *backend; /* for messages: "xdp", "ringbuf" */
	char ifname[IF_NAMESIZE];
	int ifindex;
	struct xdp_program *prog;
	enum xdp_attach_mode mode;
	bool attached;
	int cfg_fd;
	struct capture_xdp_config cfg; /* as last written to cfg_fd */
	/* The program's per-CPU counters (CAPTURE_XDP_MAP_CNT). */
	int cnt_fd;
	int ncpus;
	uint64_t *cnt_buf;	  /* one value per possible CPU */
	pthread_mutex_t cnt_lock; /* cnt_buf: stats may run anywhere */
};

/*
 * The BPF object: `want` (a configured path), else $env, else bpf/FILE then
 * ../bpf/FILE next to the executable. 0 with the path in buf, or -ENOENT
 * (logged, saying where it looked).
 */
int capture_prog_find_obj(const char *backend, const char *want,
			  const char *env, const char *file, char *buf,
			  size_t size);

/*
 * Attach the program of object `obj` (section "xdp") to ifname in `want`
 * mode (AUTO: native, else SKB), after clearing a stale one of ours, and
 * claim it: its config map gets the guest MAC and our PID, the filter
 * still off (the program passes everything until capture_prog_enable).
 * native_only: AUTO tries native mode only. ring_bytes: the size of the
 * object's ring-buffer map (CAPTURE_RB_MAP_RING), set before it loads; 0
 * leaves it as compiled. 0 or -errno (logged); on failure
 * capture_prog_close undoes what was done.
 */
int capture_prog_open(struct capture_prog *p, const char *backend,
		      const char *ifname, const char *obj,
		      enum capture_xdp_mode want, bool native_only,
		      uint32_t ring_bytes, const uint8_t guest_mac[6]);
/*
 * The program's counters summed over the CPUs: out[0..n) (n slots of its
 * CAPTURE_XDP_MAP_CNT; a slot that cannot be read stays 0). Any thread.
 */
void capture_prog_counters(struct capture_prog *p, uint64_t *out, uint32_t n);
/* A map of the attached program's object by name, or -ENOENT. */
int capture_prog_map_fd(struct capture_prog *p, const char *name);
/* Write a whole config (the owner fields are kept). 0 or -errno. */
int capture_prog_write_config(struct capture_prog *p,
			      const struct capture_xdp_config *cfg);
/* Turn the filter on with these flags (CAPTURE_XDP_F_*). */
int capture_prog_enable(struct capture_prog *p, uint32_t flags,
			uint32_t guest_ip4, uint32_t wake_bytes);
/* Clear F_ENABLED: the program passes everything from now on. */
void capture_prog_quiesce(struct capture_prog *p);
/* Detach (if attached) and close. Safe on a zeroed or failed handle. */
void capture_prog_close(struct capture_prog *p);

const char *capture_prog_mode_name(enum xdp_attach_mode m);
uint32_t capture_prog_id(const struct capture_prog *p);
/* Field 22 of /proc/PID/stat (start time in clock ticks); 0 if unknown. */
uint64_t capture_proc_start_time(uint32_t pid);

#endif
