/* SPDX-License-Identifier: MIT */
/* rrvm: the one user-facing binary; dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct rrvm_command commands[] = {
    {"run", "boot a guest image on a TAP device (unprotected)", cmd_run},
    {"primary",
     "run a VM protected by a backup (reverse, buffered/Remus, naive)",
     cmd_primary},
    {"backup",
     "hold a primary's checkpoints (and client log); take over, re-protect",
     cmd_backup},
    {"restore", "resume a saved VM (rrvm ctl SOCKET save) on a TAP",
     cmd_restore},
    {"incoming", "wait for a live migration, then run the VM it brings",
     cmd_incoming},
    {"ctl", "talk to a daemon: status, stats, save, migrate, switchover...",
     cmd_ctl},
    {"keygen", "write a fresh pre-shared key for --key-file", cmd_keygen},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rrvm <command> [options]\n"
		"\n"
		"rrvm runs a KVM micro-VM and protects it by reverse\n"
		"replication: a primary streams checkpoints to a backup that\n"
		"logs client requests and replays them on failover; classic\n"
		"buffered (Remus) mode runs too, for comparison.\n"
		"\n"
		"commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(out, "\n"
		     "'rrvm <command> --help' explains each command.\n"
		     "exit status: 0 ok, 1 error, 2 usage, 3 guest fault.\n"
		     "docs: docs/design.md, docs/replication-protocol.md,\n"
		     "      docs/migration.md, docs/hypercall-abi.md\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return argc < 2 ? RRVM_EXIT_USAGE : RRVM_EXIT_OK;
	}
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "rrvm: unknown command '%s'; see 'rrvm --help'\n",
		argv[1]);
	return RRVM_EXIT_USAGE;
}
