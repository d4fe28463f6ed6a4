/* SPDX-License-Identifier: MIT */
/* rrvm keygen: write a fresh pre-shared key for the replication link. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/key_file.h"

static void keygen_usage(FILE *out)
{
	fprintf(out,
		"usage: rrvm keygen FILE\n"
		"\n"
		"Write a fresh random 256-bit pre-shared key to FILE (created "
		"with mode\n"
		"0600; an existing FILE is never overwritten). Give the same "
		"key to both\n"
		"ends of a replication link with --key-file FILE: the primary "
		"and the\n"
		"backup prove it to each other at connect, and everything they "
		"exchange is\n"
		"then authenticated and encrypted with keys derived from it. "
		"Copy FILE to\n"
		"the other host over a channel you trust (scp, not mail) and "
		"keep it 0600\n"
		"there: a key readable by group or others is refused.\n"
		"\n"
		"Format (docs/security.md): the line '%s', then 64 hex "
		"digits.\n"
		"exit status: 0 written, 1 error (FILE exists, cannot write), "
		"2 usage.\n",
		KEY_FILE_HEADER);
}

int cmd_keygen(int argc, char **argv)
{
	char err[256];

	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		keygen_usage(stdout);
		return RRVM_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '-') {
		keygen_usage(stderr);
		return RRVM_EXIT_USAGE;
	}
	if (key_file_create(argv[1], err, sizeof(err))) {
		fprintf(stderr, "rrvm keygen: %s\n", err);
		return RRVM_EXIT_ERROR;
	}
	printf("rrvm keygen: wrote a new 256-bit key to %s (mode 0600); use "
	       "the same file with --key-file on the primary and the "
	       "backup\n",
	       argv[1]);
	return RRVM_EXIT_OK;
}
