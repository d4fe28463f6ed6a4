/* SPDX-License-Identifier: MIT */
/* consistency-client's command line: --help text and option parsing. */
#include "client.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fputs(
"usage: consistency-client [OPTIONS]\n"
"\n"
"Drive a Redis-protocol server through a failure and check that no state a\n"
"client saw went backwards. Exit 0: no violation; 1: violation(s); 2: usage\n"
"or setup error (bad option, cannot connect at start, key not a counter).\n"
"\n"
"Workloads (--mode, comma-separated; each on its own TCP connection):\n"
"  incr   INCR on one counter over ONE long-lived connection. The starting\n"
"         value is read with GET. Every reply must be exactly previous+1:\n"
"         higher is a gap (acknowledged increments lost), equal or lower is\n"
"         a repeat (state went backwards).\n"
"  keys   SET run:<id>:<n> to a value derived from n; each acknowledged key\n"
"         is remembered and read back with MGET (a sample every\n"
"         --verify-every acks, all of them at the end). Missing or wrong is\n"
"         a lost_write.\n"
"  load   a paced load, not judged beyond reply types: --load-op on keys\n"
"         load:0..load:<keyspace-1> at a fixed --rate, open loop (request k\n"
"         is due at start + k/rate whether or not earlier ones were\n"
"         answered; its latency counts from then), round robin over\n"
"         --connections connections with up to --window outstanding each.\n"
"Any connection closed or reset by the server is a reset violation (the\n"
"client then reconnects and carries on); a request unanswered for longer\n"
"than --stall-timeout is a hung violation; a malformed or unexpected reply\n"
"is a protocol violation.\n"
"\n"
"Options:\n"
"  --mode LIST            incr, keys, load, or several comma-separated\n"
"                         (default incr)\n"
"  --host HOST            server address (default 127.0.0.1)\n"
"  --port N               server port (default 6379)\n"
"  --key KEY              the INCR counter (default consistency:ctr); no\n"
"                         other client may touch it during the run\n"
"  --run-id ID            keys mode key prefix run:ID: (default pid.time)\n"
"  --pipeline N           outstanding requests per connection (default 1)\n"
"  --verify-every N       keys: read back after N acks (default 100; 0:\n"
"                         only at the end)\n"
"  --verify-sample N      keys: keys per read-back, newest half + random\n"
"                         older ones (default 64, max 256)\n"
"  --duration S           run time in seconds, fractions allowed (default\n"
"                         10; 0: until SIGINT/SIGTERM). A first signal\n"
"                         stops and reports; a second aborts the drain.\n"
"  --stall-timeout MS     longest acceptable wait for a reply (default 5000)\n"
"  --connect-timeout MS   per connection attempt (default 2000)\n"
"  --rate N               load: requests per second, 1..1000000\n"
"                         (default 1000)\n"
"  --connections N        load: connections, 1..256 (default 1)\n"
"  --window N             load: most requests outstanding per connection,\n"
"                         1..4096 (default 256); beyond it due requests\n"
"                         wait (and count as late)\n"
"  --load-op OP           load: set (default; 16-byte values), get or incr\n"
"  --keyspace N           load: distinct keys, 1..1000000000 (default 1000)\n"
"  --out FILE             write the JSON report to FILE\n"
"  --json                 write the JSON report to stdout (the summary then\n"
"                         goes to stderr)\n"
"  --csv FILE             one line per INCR/SET/load reply: t_ns\n"
"                         (CLOCK_MONOTONIC), mode (incr|set|load), value\n"
"                         (counter | key n | load request k), latency_ns\n"
"                         (load: from the request's due time)\n"
"  --quiet                no progress lines and no summary, only errors\n"
"  --help                 this text\n"
"\n"
"JSON fields: ok, mode, requests, replies, initial_value, first_value,\n"
"last_value, lost_increments, rewound_increments, violations{gap,repeat,\n"
"reset,hung,lost_write,protocol}, examples[{kind,conn,t_ms,detail}],\n"
"longest_stall_ms, latency_us{p50,p99,max,count}, keys_acked,\n"
"keys_verified, keys_lost, reconnects, duration_s, start_mono_ns,\n"
"cpu_us{user,system}; with load: load{op, rate, connections, window,\n"
"keyspace, offered, sent, replies, errors, lost, late_sends, max_backlog,\n"
"duration_s, achieved_rps, latency_us, service_latency_us, send_lag_us}.\n",
	      f);
}

static int parse_uint(const char *name, const char *s, unsigned lo,
		      unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "consistency-client: --%s wants an integer "
			"in %u..%u, not '%s'\n", name, lo, hi, s);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_modes(const char *s, struct options *o)
{
	char buf[64], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	o->mode_incr = o->mode_keys = o->mode_load = false;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "incr"))
			o->mode_incr = true;
		else if (!strcmp(tok, "keys"))
			o->mode_keys = true;
		else if (!strcmp(tok, "load"))
			o->mode_load = true;
		else
			goto bad;
	}
	if (o->mode_incr || o->mode_keys || o->mode_load)
		return 0;
bad:
	fprintf(stderr, "consistency-client: --mode wants incr, keys, load "
		"or several of them comma-separated, not '%s'\n", s);
	return -EINVAL;
}

static int parse_load_op(const char *s, struct options *o)
{
	if (!strcmp(s, "set"))
		o->load_op = LOAD_SET;
	else if (!strcmp(s, "get"))
		o->load_op = LOAD_GET;
	else if (!strcmp(s, "incr"))
		o->load_op = LOAD_INCR;
	else {
		fprintf(stderr, "consistency-client: --load-op wants set, get "
			"or incr, not '%s'\n", s);
		return -EINVAL;
	}
	return 0;
}

enum {
	OPT_MODE = 256, OPT_HOST, OPT_PORT, OPT_KEY, OPT_RUN_ID, OPT_PIPELINE,
	OPT_VERIFY_EVERY, OPT_VERIFY_SAMPLE, OPT_DURATION, OPT_STALL,
	OPT_CONNECT, OPT_OUT, OPT_JSON, OPT_CSV, OPT_QUIET, OPT_HELP,
	OPT_RATE, OPT_CONNECTIONS, OPT_WINDOW, OPT_LOAD_OP, OPT_KEYSPACE,
};

static const struct option long_opts[] = {
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "run-id", required_argument, NULL, OPT_RUN_ID },
	{ "pipeline", required_argument, NULL, OPT_PIPELINE },
	{ "verify-every", required_argument, NULL, OPT_VERIFY_EVERY },
	{ "verify-sample", required_argument, NULL, OPT_VERIFY_SAMPLE },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "stall-timeout", required_argument, NULL, OPT_STALL },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "connections", required_argument, NULL, OPT_CONNECTIONS },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "load-op", required_argument, NULL, OPT_LOAD_OP },
	{ "keyspace", required_argument, NULL, OPT_KEYSPACE },
	{ NULL, 0, NULL, 0 },
};

/* 0: run; 1: --help was printed; -EINVAL: usage error (already said). */
int parse_options(int argc, char **argv, struct options *o)
{
	unsigned port;
	char *end;
	int opt, err = 0;

	*o = (struct options){
		.mode_incr = true, .host = "127.0.0.1", .port = "6379",
		.key = "consistency:ctr", .pipeline = 1, .verify_every = 100,
		.verify_sample = 64, .duration_s = 10,
		.stall_timeout_ms = 5000, .connect_timeout_ms = 2000,
		.rate = 1000, .connections = 1, .window = 256,
		.load_op = LOAD_SET, .keyspace = 1000,
	};
	while (!err && (opt = getopt_long(argc, argv, "", long_opts,
					  NULL)) != -1) {
		switch (opt) {
		case OPT_MODE: err = parse_modes(optarg, o); break;
		case OPT_HOST: o->host = optarg; break;
		case OPT_PORT:
			err = parse_uint("port", optarg, 1, 65535, &port);
			o->port = optarg;
			break;
		case OPT_KEY: o->key = optarg; break;
		case OPT_RUN_ID: o->run_id = optarg; break;
		case OPT_PIPELINE:
			err = parse_uint("pipeline", optarg, 1, 1024,
					 &o->pipeline);
			break;
		case OPT_VERIFY_EVERY:
			err = parse_uint("verify-every", optarg, 0, 1u << 30,
					 &o->verify_every);
			break;
		case OPT_VERIFY_SAMPLE:
			err = parse_uint("verify-sample", optarg, 1,
					 MGET_BATCH, &o->verify_sample);
			break;
		case OPT_DURATION:
			o->duration_s = strtod(optarg, &end);
			if (end == optarg || *end || !(o->duration_s >= 0) ||
			    o->duration_s > 1e7) {
				fprintf(stderr, "consistency-client: --duration"
					" wants seconds >= 0, not '%s'\n",
					optarg);
				err = -EINVAL;
			}
			break;
		case OPT_STALL:
			err = parse_uint("stall-timeout", optarg, 1, 3600000,
					 &o->stall_timeout_ms);
			break;
		case OPT_CONNECT:
			err = parse_uint("connect-timeout", optarg, 1, 600000,
					 &o->connect_timeout_ms);
			break;
		case OPT_OUT: o->out_path = optarg; break;
		case OPT_JSON: o->json_stdout = true; break;
		case OPT_CSV: o->csv_path = optarg; break;
		case OPT_QUIET: o->quiet = true; break;
		case OPT_HELP: usage(stdout); return 1;
		case OPT_RATE:
			err = parse_uint("rate", optarg, 1, PACE_MAX_RATE,
					 &o->rate);
			break;
		case OPT_CONNECTIONS:
			err = parse_uint("connections", optarg, 1,
					 LOAD_MAX_CONNECTIONS, &o->connections);
			break;
		case OPT_WINDOW:
			err = parse_uint("window", optarg, 1, 4096, &o->window);
			break;
		case OPT_LOAD_OP: err = parse_load_op(optarg, o); break;
		case OPT_KEYSPACE:
			err = parse_uint("keyspace", optarg, 1, 1000000000,
					 &o->keyspace);
			break;
		default: err = -EINVAL; break;
		}
	}
	if (!err && optind < argc) {
		fprintf(stderr, "consistency-client: unexpected argument "
			"'%s'\n", argv[optind]);
		err = -EINVAL;
	}
	if (err)
		fprintf(stderr, "Try 'consistency-client --help'.\n");
	return err;
}
