/* SPDX-License-Identifier: MIT */
/*
 * Our XDP capture programs on an interface (backup/capture_prog.h): the
 * part both XDP backends share.
 *
 * libxdp first tries its multi-program dispatcher; here it cannot load
 * (BPF_PROG_TYPE_EXT is refused), so libxdp falls back to a single program
 * on the interface. A process that dies leaves its program attached: the
 * program's config map records the owner's PID and start time, so the next
 * open replaces a program whose owner is gone and refuses one whose owner
 * still runs, or anybody else's program.
 */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include "backup/capture_prog.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* --------------------------------------------------- library messages */

/*
 * libxdp is chatty about the dispatcher it cannot load here and then falls
 * back: its and libbpf's messages go to debug; our own errors say what
 * failed.
 */
static int prog_lib_print(const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	if (log_get_level() < LOG_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	/* The libraries prefix their lines themselves. */
	log_debug("capture: %s", line);
	return 0;
}

static int prog_libxdp_print(enum libxdp_print_level level, const char *fmt,
			     va_list ap)
{
	return prog_lib_print(fmt, ap);
}

static int prog_libbpf_print(enum libbpf_print_level level, const char *fmt,
			     va_list ap)
{
	return prog_lib_print(fmt, ap);
}

static void prog_hook_lib_logs(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	libxdp_set_print(prog_libxdp_print);
	libbpf_set_print(prog_libbpf_print);
}

/* -------------------------------------------------------- small helpers */

uint64_t capture_proc_start_time(uint32_t pid)
{
	char path[64], buf[1024];
	unsigned long long v;
	ssize_t n;
	char *p;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name in (...) may hold spaces: count after it. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* p is at field 3 (" S ..."): skip to field 22. */
	for (i = 3; i < 22; i++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return 0;
	}
	if (sscanf(p, " %llu", &v) != 1)
		return 0;
	return v;
}

int capture_prog_find_obj(const char *backend, const char *want,
			  const char *env, const char *file, char *buf,
			  size_t size)
{
	static const char *const rel[] = {"bpf/", "../bpf/"};
	char exe[PATH_MAX], *slash;
	const char *e;
	ssize_t n;
	size_t i;

	if (!want) {
		e = getenv(env);
		if (e && *e)
			want = e;
	}
	if (want) {
		snprintf(buf, size, "%s", want);
		if (access(buf, R_OK) == 0)
			return 0;
		log_error("capture: %s: BPF object %s: %s", backend, buf,
			  strerror(errno));
		return -ENOENT;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			slash[1] = '\0';
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			int len =
			    snprintf(buf, size, "%s%s%s", exe, rel[i], file);

			if (len > 0 && (size_t)len < size &&
			    access(buf, R_OK) == 0)
				return 0;
		}
	}
	log_error("capture: %s: %s not found next to the executable (bpf/ "
		  "or ../bpf/; build it with make, or set %s)",
		  backend, file, env);
	return -ENOENT;
}

const char *capture_prog_mode_name(enum xdp_attach_mode m)
{
	switch (m) {
	case XDP_MODE_NATIVE:
		return "native";
	case XDP_MODE_SKB:
		return "skb";
	case XDP_MODE_HW:
		return "hw";
	default:
		return "unspec";
	}
}

uint32_t capture_prog_id(const struct capture_prog *p)
{
	return p->prog ? xdp_program__id(p->prog) : 0;
}

/* ----------------------------------------------- an existing program */

static bool is_our_name(const char *name)
{
	return name && (strcmp(name, CAPTURE_XDP_PROG_NAME) == 0 ||
			strcmp(name, CAPTURE_RB_PROG_NAME) == 0);
}

/*
 * The config of an attached program of ours, found through the maps it
 * uses. 0, or -ENOENT when it has no such map (not ours after all).
 */
static int prog_read_owner(int prog_fd, struct capture_xdp_config *out)
{
	struct bpf_prog_info info;
	struct bpf_map_info minfo;
	__u32 ids[8], len, i, nids;
	__u32 key = 0;
	int fd, err = -ENOENT;

	memset(&info, 0, sizeof(info));
	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(uintptr_t)ids;
	len = sizeof(info);
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0)
		return -errno;
	nids = info.nr_map_ids < sizeof(ids) / sizeof(ids[0])
		   ? info.nr_map_ids
		   : sizeof(ids) / sizeof(ids[0]);
	for (i = 0; i < nids && err == -ENOENT; i++) {
		fd = bpf_map_get_fd_by_id(ids[i]);
		if (fd < 0)
			continue;
		memset(&minfo, 0, sizeof(minfo));
		len = sizeof(minfo);
		if (bpf_obj_get_info_by_fd(fd, &minfo, &len) == 0 &&
		    strcmp(minfo.name, CAPTURE_XDP_MAP_CFG) == 0 &&
		    minfo.value_size == sizeof(*out))
			err = bpf_map_lookup_elem(fd, &key, out) ? -errno : 0;
		close(fd);
	}
	return err;
}

/*
 * Before attaching: nothing there (0); our program left by a dead process
 * (detached, 0); anything else -EBUSY, with the reason logged.
 */
static int prog_clear_stale(struct capture_prog *p)
{
	struct capture_xdp_config old;
	struct xdp_multiprog *mp;
	struct xdp_program *main_prog;
	const char *name;
	uint32_t id;
	long e;
	int err;

	mp = xdp_multiprog__get_from_ifindex(p->ifindex);
	e = libxdp_get_error(mp);
	if (e == -ENOENT || (!mp && !e))
		return 0;
	if (e) {
		log_error("capture: %s: %s: cannot query attached XDP "
			  "programs: %s",
			  p->backend, p->ifname, strerror((int)-e));
		return (int)e;
	}
	main_prog = xdp_multiprog__main_prog(mp);
	if (!main_prog) {
		/* Only an offloaded (HW) program: not in our way. */
		err = 0;
		goto out;
	}
	name = xdp_program__name(main_prog);
	id = xdp_program__id(main_prog);
	if (!xdp_multiprog__is_legacy(mp) || !is_our_name(name) ||
	    prog_read_owner(xdp_program__fd(main_prog), &old) != 0) {
		log_error(
		    "capture: %s: %s already has an XDP program (%s, "
		    "id %u, %s mode): not replacing somebody else's "
		    "program",
		    p->backend, p->ifname, name ? name : "?", id,
		    capture_prog_mode_name(xdp_multiprog__attach_mode(mp)));
		err = -EBUSY;
		goto out;
	}
	if (old.owner_pid && old.owner_start &&
	    capture_proc_start_time(old.owner_pid) == old.owner_start) {
		log_error("capture: %s: %s is already captured by process %u "
			  "(program id %u)",
			  p->backend, p->ifname, old.owner_pid, id);
		err = -EBUSY;
		goto out;
	}
	log_warn("capture: %s: %s: replacing a stale capture program (id %u) "
		 "left by process %u, which is gone",
		 p->backend, p->ifname, id, old.owner_pid);
	err = xdp_multiprog__detach(mp);
	if (err)
		log_error("capture: %s: %s: detaching stale program %u: %s",
			  p->backend, p->ifname, id, strerror(-err));
out:
	xdp_multiprog__close(mp);
	return err;
}

/* ------------------------------------------------------- open / close */

/* Sizes that must be set between opening the object and loading it. */
static int prog_size_maps(struct capture_prog *p, uint32_t ring_bytes)
{
	struct bpf_map *m;
	int err;

	if (!ring_bytes)
		return 0;
	m = bpf_object__find_map_by_name(xdp_program__bpf_obj(p->prog),
					 CAPTURE_RB_MAP_RING);
	if (!m)
		return 0;
	err = bpf_map__set_max_entries(m, ring_bytes);
	if (err)
		log_error("capture: %s: ring of %u bytes: %s", p->backend,
			  ring_bytes, strerror(-err));
	return err;
}

static int prog_attach(struct capture_prog *p, const char *obj,
		       enum capture_xdp_mode want, bool native_only,
		       uint32_t ring_bytes)
{
	enum xdp_attach_mode modes[2];
	int nmodes = 0, i, err = -EINVAL;
	long e;

	if (want == CAPTURE_XDP_AUTO || want == CAPTURE_XDP_NATIVE)
		modes[nmodes++] = XDP_MODE_NATIVE;
	if ((want == CAPTURE_XDP_AUTO && !native_only) ||
	    want == CAPTURE_XDP_SKB)
		modes[nmodes++] = XDP_MODE_SKB;

	for (i = 0; i < nmodes; i++) {
		/*
		 * A fresh object per attempt: a failed attach may have
		 * loaded it already (an object loads only once).
		 */
		p->prog =
		    xdp_program__open_file(obj, CAPTURE_XDP_SECTION, NULL);
		e = libxdp_get_error(p->prog);
		if (e) {
			p->prog = NULL;
			log_error("capture: %s: opening %s: %s", p->backend,
				  obj, strerror((int)-e));
			return (int)e;
		}
		err = prog_size_maps(p, ring_bytes);
		if (err) {
			xdp_program__close(p->prog);
			p->prog = NULL;
			return err;
		}
		err = xdp_program__attach(p->prog, p->ifindex, modes[i], 0);
		if (err == 0) {
			p->mode = modes[i];
			p->attached = true;
			return 0;
		}
		log_info("capture: %s: %s: %s mode attach failed: %s",
			 p->backend, p->ifname,
			 capture_prog_mode_name(modes[i]), strerror(-err));
		xdp_program__close(p->prog);
		p->prog = NULL;
	}
	log_error("capture: %s: cannot attach %s to %s: %s (--log-level "
		  "debug shows libxdp's and the verifier's messages)",
		  p->backend, obj, p->ifname, strerror(-err));
	return err;
}

int capture_prog_write_config(struct capture_prog *p,
			      const struct capture_xdp_config *cfg)
{
	__u32 key = 0;
	int err;

	if (bpf_map_update_elem(p->cfg_fd, &key, cfg, BPF_ANY) == 0) {
		p->cfg = *cfg;
		return 0;
	}
	err = -errno;
	log_error("capture: %s: writing the program's config: %s", p->backend,
		  strerror(-err));
	return err;
}

void capture_prog_counters(struct capture_prog *p, uint64_t *out, uint32_t n)
{
	__u32 key;
	int cpu;

	memset(out, 0, n * sizeof(*out));
	if (p->cnt_fd < 0 || !p->cnt_buf)
		return;
	pthread_mutex_lock(&p->cnt_lock);
	for (key = 0; key < n; key++) {
		if (bpf_map_lookup_elem(p->cnt_fd, &key, p->cnt_buf) != 0)
			continue;
		for (cpu = 0; cpu < p->ncpus; cpu++)
			out[key] += p->cnt_buf[cpu];
	}
	pthread_mutex_unlock(&p->cnt_lock);
}

int capture_prog_map_fd(struct capture_prog *p, const char *name)
{
	int fd;

	fd = bpf_object__find_map_fd_by_name(xdp_program__bpf_obj(p->prog),
					     name);
	return fd < 0 ? -ENOENT : fd;
}

int capture_prog_open(struct capture_prog *p, const char *backend,
		      const char *ifname, const char *obj,
		      enum capture_xdp_mode want, bool native_only,
		      uint32_t ring_bytes, const uint8_t guest_mac[6])
{
	struct capture_xdp_config pcfg;
	int err;

	memset(p, 0, sizeof(*p));
	p->backend = backend;
	p->cfg_fd = p->cnt_fd = -1;
	pthread_mutex_init(&p->cnt_lock, NULL);
	p->ncpus = libbpf_num_possible_cpus();
	if (p->ncpus <= 0)
		p->ncpus = 1;
	p->cnt_buf = calloc((size_t)p->ncpus, sizeof(*p->cnt_buf));
	if (!p->cnt_buf)
		return -ENOMEM;
	if (strlen(ifname) >= IF_NAMESIZE)
		return -ENAMETOOLONG;
	snprintf(p->ifname, sizeof(p->ifname), "%s", ifname);
	prog_hook_lib_logs();
	p->ifindex = (int)if_nametoindex(ifname);
	if (!p->ifindex) {
		err = -errno;
		log_error("capture: %s: %s: %s", backend, ifname,
			  strerror(errno));
		return err;
	}
	err = prog_clear_stale(p);
	if (err)
		return err;
	err = prog_attach(p, obj, want, native_only, ring_bytes);
	if (err)
		return err;
	p->cfg_fd = capture_prog_map_fd(p, CAPTURE_XDP_MAP_CFG);
	p->cnt_fd = capture_prog_map_fd(p, CAPTURE_XDP_MAP_CNT);
	if (p->cfg_fd < 0 || p->cnt_fd < 0) {
		log_error("capture: %s: %s lacks the maps %s and %s", backend,
			  obj, CAPTURE_XDP_MAP_CFG, CAPTURE_XDP_MAP_CNT);
		return -ENOENT;
	}
	/*
	 * Claim it at once (filter still off): a concurrent open must see a
	 * live owner, not a nameless program it would take for stale.
	 */
	memset(&pcfg, 0, sizeof(pcfg));
	memcpy(pcfg.guest_mac, guest_mac, 6);
	pcfg.owner_pid = (uint32_t)getpid();
	pcfg.owner_start = capture_proc_start_time(pcfg.owner_pid);
	return capture_prog_write_config(p, &pcfg);
}

int capture_prog_enable(struct capture_prog *p, uint32_t flags,
			uint32_t guest_ip4, uint32_t wake_bytes)
{
	struct capture_xdp_config pcfg = p->cfg;

	pcfg.flags = flags | CAPTURE_XDP_F_ENABLED;
	if (guest_ip4) {
		pcfg.flags |= CAPTURE_XDP_F_ARP_IP;
		pcfg.guest_ip4 = guest_ip4;
	}
	pcfg.wake_bytes = wake_bytes;
	return capture_prog_write_config(p, &pcfg);
}

/*
 * The program stays attached but passes everything, as before the filter
 * was enabled: one map write instead of a detach.
 */
void capture_prog_quiesce(struct capture_prog *p)
{
	struct capture_xdp_config pcfg;

	if (!p->attached || !(p->cfg.flags & CAPTURE_XDP_F_ENABLED))
		return;
	pcfg = p->cfg;
	pcfg.flags &= ~(__u32)CAPTURE_XDP_F_ENABLED;
	if (capture_prog_write_config(p, &pcfg) == 0)
		log_info("capture: %s on %s quiesced (passes everything)",
			 p->backend, p->ifname);
}

void capture_prog_close(struct capture_prog *p)
{
	int err;

	if (p->attached) {
		err = xdp_program__detach(p->prog, p->ifindex, p->mode, 0);
		if (err)
			log_warn("capture: %s: detaching from %s: %s (the next "
				 "open replaces it)",
				 p->backend, p->ifname, strerror(-err));
		p->attached = false;
	}
	xdp_program__close(p->prog);
	p->prog = NULL;
	p->cfg_fd = p->cnt_fd = -1;
	if (p->cnt_buf) {
		free(p->cnt_buf);
		p->cnt_buf = NULL;
		pthread_mutex_destroy(&p->cnt_lock);
	}
}
