/* SPDX-License-Identifier: MIT */
/* rrvm backup: hold a primary's checkpoints; take over when it dies. */
#include <stdio.h>

#include "cli/commands.h"
#include "cli/ha_node.h"
#include "cli/node_args.h"
#include "common/log.h"

static void backup_usage(FILE *out)
{
	fputs(
	    "usage: rrvm backup --listen ADDR:PORT --tap NAME (--key-file FILE "
	    "| --insecure)\n"
	    "                   [--detect-timeout MS] [--fence-cmd CMD] "
	    "[--announce-dev DEV]\n"
	    "                   [--report FILE] [--control SOCKET] "
	    "[--log-level LEVEL]\n"
	    "                   [--reprotect ADDR:PORT] [--rewire-cmd CMD]\n"
	    "                   [--topology inline|mirror --capture-if IF "
	    "--guest-mac MAC\n"
	    "                    --guest-ip A.B.C.D [--forward-if IF] "
	    "[--capture B]\n"
	    "                    [--log-limit BYTES] [--capture-spin US]]\n"
	    "\n"
	    "Receive checkpoints from 'rrvm primary --backup ADDR:PORT'. Each "
	    "epoch is\n"
	    "applied only when it arrived complete and intact, then "
	    "acknowledged. One\n"
	    "primary at a time: while a session is live, a connection from "
	    "another\n"
	    "primary run is refused (the same primary reconnecting resumes).\n"
	    "\n"
	    "Fail over when the primary's link closes without a goodbye (its "
	    "process\n"
	    "died), or when it has been silent for --detect-timeout ms "
	    "(default 500):\n"
	    "run --fence-cmd (must exit 0, e.g. cut the old primary off the "
	    "LAN), build\n"
	    "the VM from the last committed checkpoint, attach it to --tap, "
	    "announce its\n"
	    "IP/MAC by gratuitous ARP on --announce-dev (default: the bridge "
	    "the TAP is\n"
	    "in), and run it. A primary that stops in order says goodbye: "
	    "then this\n"
	    "backup stands down. A planned handover ('rrvm ctl PRIMARY "
	    "switchover')\n"
	    "takes over without fencing. Each phase is timed; --report writes "
	    "the\n"
	    "report as JSON. Afterwards this process is the VM's monitor "
	    "('rrvm ctl\n"
	    "SOCKET stats' works as for 'rrvm run').\n"
	    "\n"
	    "  --key-file FILE     pre-shared key ('rrvm keygen FILE'), as on "
	    "the primary\n"
	    "  --insecure          accept unauthenticated primaries (labs "
	    "only)\n"
	    "  --reprotect ADDR:PORT  after taking over, protect the VM to a "
	    "backup\n"
	    "                      listening there (the old primary's host, "
	    "once a backup\n"
	    "                      runs there again); retried every 200 ms "
	    "until it\n"
	    "                      answers; the mode is the one the VM ran "
	    "in. After a\n"
	    "                      switchover the old primary's own --listen "
	    "is used.\n"
	    "  --rewire-cmd CMD    reverse mode, when protecting from here: "
	    "see 'rrvm\n"
	    "                      primary --help'\n"
	    "  --epoch, --heartbeat, --compress, --listen, --on-stop: for "
	    "after the\n"
	    "                      takeover, as for 'rrvm primary'\n"
	    "\n"
	    "'rrvm ctl SOCKET status [--json]' before a takeover shows the "
	    "replica:\n"
	    "committed epoch, epochs committed/rejected, time since the "
	    "primary was last\n"
	    "heard, the longest silence, refused connections.\n"
	    "\n"
	    "Reverse replication (the primary in --mode reverse or naive):\n"
	    "  --topology T        inline: this host sits between the clients "
	    "and the\n"
	    "                      primary, logs each client->guest frame and "
	    "only then\n"
	    "                      forwards it (--forward-if); mirror: the "
	    "switch copies\n"
	    "                      them to --capture-if\n"
	    "  --capture-if IF     where the client's frames arrive\n"
	    "  --forward-if IF     inline: towards the primary\n"
	    "  --guest-mac MAC, --guest-ip A.B.C.D   the protected VM's "
	    "addresses\n"
	    "  --capture B         xdp (AF_XDP), pcap or auto (default: xdp, "
	    "else pcap)\n"
	    "  --log-limit BYTES   replay log bound (default 32M); when full, "
	    "inline\n"
	    "                      stops forwarding until a commit trims room, "
	    "mirror\n"
	    "                      counts the overflow\n"
	    "  --capture-spin US   keep polling the capture this long after a "
	    "frame\n"
	    "                      before sleeping (default 100; 0 = sleep at "
	    "once)\n"
	    "The log (trimmed by each committed epoch's frame digests) is "
	    "replayed into\n"
	    "the resumed VM at a takeover; 'rrvm ctl SOCKET log-dump "
	    "FILE.pcapng'\n"
	    "exports it.\n",
	    out);
}

int cmd_backup(int argc, char **argv)
{
	struct node_args args;
	int ret;

	log_set_component("rrvm backup");
	ret = node_args_parse(argc, argv, NODE_START_BACKUP, &args,
			      backup_usage);
	if (ret)
		return ret > 0 ? RRVM_EXIT_OK : RRVM_EXIT_USAGE;
	return ha_node_run(&args);
}
