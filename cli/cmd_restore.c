/* SPDX-License-Identifier: MIT */
/* rrvm restore: resume a saved VM (from 'rrvm ctl SOCKET save') on a TAP. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/vm_session.h"
#include "common/log.h"
#include "vmm/boot_info.h"
#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

static void restore_usage(FILE *out)
{
	fprintf(out,
		"usage: rrvm restore FILE --tap NAME [--control SOCKET] "
		"[--log-level LEVEL]\n"
		"\n"
		"Resume a VM saved with 'rrvm ctl SOCKET save FILE' in a new "
		"process, on\n"
		"an existing TAP in the current network namespace (it may be "
		"another\n"
		"namespace or host than the one that saved it: the guest keeps "
		"its IP and\n"
		"MAC, and its TCP connections continue). The whole file is "
		"checked before\n"
		"anything starts; a corrupted, truncated or incompatible file "
		"is refused.\n"
		"Guest time continues from the save plus the wall-clock time "
		"since.\n"
		"\n"
		"exit status as for 'rrvm run'.\n");
}

/* "key=value" from the guest's command line, into buf. */
static int map_file(const char *path, const uint8_t **data, size_t *len)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		close(fd);
		return -ENODATA;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	*data = p;
	*len = (size_t)st.st_size;
	return 0;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"tap", required_argument, NULL, 't'},
	    {"control", required_argument, NULL, 'c'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *tap = NULL, *control = NULL, *path;
	char err[256], ip[64], mac[32];
	struct vnic_backend *backend;
	struct vm_control vc;
	enum log_level level;
	const uint8_t *data = NULL;
	size_t len = 0;
	int c, ret;

	log_set_component("rrvm restore");
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			tap = optarg;
			break;
		case 'c':
			control = optarg;
			break;
		case 'l':
			if (log_parse_level(optarg, &level)) {
				log_error("--log-level '%s': use error, warn, "
					  "info or debug",
					  optarg);
				return RRVM_EXIT_USAGE;
			}
			log_set_level(level);
			break;
		case 'h':
			restore_usage(stdout);
			return RRVM_EXIT_OK;
		default:
			fprintf(stderr, "see 'rrvm restore --help'\n");
			return RRVM_EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !tap) {
		log_error("need a FILE and --tap (see 'rrvm restore --help')");
		return RRVM_EXIT_USAGE;
	}
	path = argv[optind];
	ret = map_file(path, &data, &len);
	if (ret) {
		log_error("snapshot '%s': %s", path,
			  ret == -EINVAL    ? "not a regular file"
			  : ret == -ENODATA ? "empty file"
					    : strerror(-ret));
		return RRVM_EXIT_ERROR;
	}
	ret = vm_restore_load(&session_vm, data, len, err, sizeof(err));
	munmap((void *)data, len);
	if (ret) {
		log_error("snapshot '%s' refused: %s", path, err);
		return RRVM_EXIT_ERROR;
	}
	if (tap_backend_open(tap, &backend)) {
		vm_destroy(&session_vm);
		return RRVM_EXIT_ERROR;
	}
	ret = vm_restore_attach(&session_vm, backend);
	if (ret) {
		backend->ops->destroy(backend);
		vm_destroy(&session_vm);
		log_error("cannot attach the NIC: %s", strerror(-ret));
		return RRVM_EXIT_ERROR;
	}
	/* Identity comes from the saved guest's own command line. */
	if (!boot_info_cmdline_value(session_vm.boot_info->cmdline, "ip", ip,
				     sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	if (!boot_info_cmdline_value(session_vm.boot_info->cmdline, "mac", mac,
				     sizeof(mac)))
		snprintf(mac, sizeof(mac), "?");
	vc = (struct vm_control){
	    .vm = &session_vm,
	    .guest_path = path,
	    .tap = tap,
	    .ip = ip,
	    .mac = mac,
	    .mem_size = session_vm.mem_size,
	};
	log_info("restored %s: %llu MiB, tap %s, %s", path,
		 (unsigned long long)(session_vm.mem_size >> 20), tap,
		 session_vm.boot_info->cmdline);
	return vm_session_run(control, &vc);
}
