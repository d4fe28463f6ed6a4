/* SPDX-License-Identifier: MIT */
/* Subcommands of the rrvm binary (git/xl style). */
#ifndef RRVM_COMMANDS_H
#define RRVM_COMMANDS_H

struct rrvm_command {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv); /* argv[0] is the subcommand */
};

int cmd_run(int argc, char **argv);
int cmd_ctl(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_primary(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_incoming(int argc, char **argv);

/* Exit codes shared by the subcommands (documented in `rrvm --help`). */
enum rrvm_exit {
	RRVM_EXIT_OK = 0,
	RRVM_EXIT_ERROR = 1, /* setup failed: bad argument, missing TAP, ... */
	RRVM_EXIT_USAGE = 2,
	RRVM_EXIT_GUEST_FAULT = 3, /* guest crashed or panicked */
};

#endif
