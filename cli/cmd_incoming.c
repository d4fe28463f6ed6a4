/* SPDX-License-Identifier: MIT */
/* rrvm incoming: wait for one live migration, then run the VM it brings. */
#include <stdio.h>

#include "cli/commands.h"
#include "cli/ha_node.h"
#include "cli/node_args.h"
#include "common/log.h"

static void incoming_usage(FILE *out)
{
	fputs(
	    "usage: rrvm incoming --listen ADDR:PORT --tap NAME (--key-file "
	    "FILE | --insecure)\n"
	    "                     [--control SOCKET] [--report FILE] "
	    "[--cpu-features LIST|none]\n"
	    "                     [--max-mem SIZE] [--require-image ELF] "
	    "[--detect-timeout MS]\n"
	    "                     [--announce-dev DEV] [--log-level LEVEL]\n"
	    "\n"
	    "Wait on this host for ONE live migration ('rrvm ctl SOCKET "
	    "migrate ADDR:PORT'\n"
	    "on the host that runs the VM), then run the VM like 'rrvm run' "
	    "does: 'rrvm\n"
	    "ctl SOCKET status|stats|save|migrate ...' work on it, so it can "
	    "move again.\n"
	    "\n"
	    "The guest's identity (image, memory, MAC, IP, options, CPU "
	    "features) comes\n"
	    "from the source's profile, not from this command line; before "
	    "any page moves\n"
	    "the profile is checked against what this host can give and the "
	    "migration is\n"
	    "refused, saying why, if it cannot be honoured (the source keeps "
	    "running).\n"
	    "Pre-copy rounds are staged and committed whole; the final epoch "
	    "carries the\n"
	    "vCPU and device state; at the handover the VM is built around "
	    "the received\n"
	    "image (no fence: the source froze its VM), attached to --tap, "
	    "announced by\n"
	    "gratuitous ARP and started, then the source is told (DONE) and "
	    "stops.\n"
	    "A corrupt or truncated stream, a source that dies, falls silent "
	    "for\n"
	    "--detect-timeout or cancels: everything received is discarded "
	    "and this\n"
	    "command exits 1 saying why. A second migration while one comes "
	    "in is\n"
	    "refused (busy).\n"
	    "\n"
	    "  --listen ADDR:PORT  where the source connects\n"
	    "  --tap NAME          the TAP the VM gets here\n"
	    "  --key-file FILE     pre-shared key ('rrvm keygen FILE'), the "
	    "one the source's\n"
	    "                      'migrate --key-file' names; migration "
	    "links use their\n"
	    "                      own channel context, so a replication "
	    "peer cannot\n"
	    "                      connect here by mistake\n"
	    "  --insecure          accept unauthenticated sources (labs only)\n"
	    "  --cpu-features L    offer only these CPU features (see "
	    "docs/cpu-features.md;\n"
	    "                      e.g. host,-cx16 plays a host without "
	    "cx16); a guest\n"
	    "                      with a feature outside them is refused, "
	    "naming it\n"
	    "  --max-mem SIZE      refuse guests with more memory (e.g. 1G)\n"
	    "  --require-image ELF refuse any guest image but this one "
	    "(SHA-256)\n"
	    "  --detect-timeout MS give up on a silent source (default 5000)\n"
	    "  --report FILE       the takeover report as JSON (reason "
	    "migration)\n"
	    "  --announce-dev DEV  where gratuitous ARP goes (default: the "
	    "TAP's bridge)\n"
	    "  --control SOCKET    serve 'rrvm ctl' (status while waiting; "
	    "the VM's\n"
	    "                      commands once it runs)\n"
	    "\n"
	    "exit status: 0 the VM ran and stopped (or migrated away again, "
	    "or a signal\n"
	    "came before any migration); 1 the migration failed or was "
	    "cancelled;\n"
	    "2 usage; 3 guest fault.\n",
	    out);
}

int cmd_incoming(int argc, char **argv)
{
	struct node_args args;
	int ret;

	log_set_component("rrvm incoming");
	ret = node_args_parse(argc, argv, NODE_START_INCOMING, &args,
			      incoming_usage);
	if (ret)
		return ret > 0 ? RRVM_EXIT_OK : RRVM_EXIT_USAGE;
	return ha_node_run(&args);
}
