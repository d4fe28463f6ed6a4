/* SPDX-License-Identifier: MIT */
/*
 * Operator hooks (--fence-cmd, --rewire-cmd): a command line run with
 * /bin/sh -c, waited for with a time limit (killed when it runs over).
 */
#ifndef RRVM_RUN_CMD_H
#define RRVM_RUN_CMD_H

/* The command's exit status (0..255), or -1 if it could not start, was
 * killed by a signal or ran longer than timeout_s. */
int run_shell_command(const char *cmd, unsigned timeout_s);

#endif
