/* SPDX-License-Identifier: MIT */
/*
 * rrvm backup: receive the primary's epochs, commit each one only when it
 * arrived whole, acknowledge it, and take over when the primary falls
 * silent. A corrupt stream is rejected (the last committed state stays) and
 * the link is dropped so the primary reconnects and resynchronises.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backup/failover.h"
#include "backup/pcapng.h"
#include "backup/replica.h"
#include "backup/reverse.h"
#include "cli/cli_parse.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/repl_protocol.h"
#include "common/transport.h"

#define RECV_CHUNK (256 * 1024)

struct backup {
	const char *listen_addr;
	unsigned detect_timeout_ms;
	struct failover_config failover;
	int listen_fd;
	struct transport *link;
	struct ckpt_decoder dec;
	struct replica replica;
	uint64_t last_rx_ns;
	uint64_t session;
	enum repl_mode mode;
	uint64_t bytes_rx;
	uint64_t max_silence_ns; /* longest gap between receives: the margin
				    a detect timeout must exceed */
	int control_fd;
	const char *control_path;
	uint8_t *rx_buf;
	/* Reverse replication (--topology). */
	struct reverse_config rcfg;
	struct reverse reverse;
	bool reverse_on;
	bool spin_set; /* --capture-spin given */
	const char *guest_mac_s, *guest_ip_s;
};

static volatile int stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void backup_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: rrvm backup --listen ADDR:PORT --tap NAME "
	    "[--detect-timeout MS]\n"
	    "                   [--fence-cmd CMD] [--announce-dev DEV] "
	    "[--report FILE]\n"
	    "                   [--control SOCKET] [--log-level LEVEL]\n"
	    "                   [--topology inline|mirror --capture-if IF "
	    "--guest-mac MAC\n"
	    "                    --guest-ip A.B.C.D [--forward-if IF] "
	    "[--capture ringbuf|xdp|pcap|auto]\n"
	    "                    [--log-limit BYTES] [--capture-spin US]]\n"
	    "\n"
	    "Receive checkpoints from 'rrvm primary --backup ADDR:PORT'. "
	    "Each epoch\n"
	    "is applied only when it arrived complete and intact, then "
	    "acknowledged.\n"
	    "When the primary has been silent for --detect-timeout ms "
	    "(default 500),\n"
	    "fail over: run --fence-cmd (must exit 0, e.g. cut the old "
	    "primary off\n"
	    "the LAN), build the VM from the last committed checkpoint, "
	    "attach it to\n"
	    "--tap, announce its IP/MAC by gratuitous ARP on --announce-dev "
	    "(default:\n"
	    "the bridge the TAP is in), and run it. Each phase is timed; "
	    "--report\n"
	    "writes the report as JSON. After failover this process is the "
	    "VM's\n"
	    "monitor ('rrvm ctl SOCKET stats' works as for 'rrvm run').\n"
	    "\n"
	    "'rrvm ctl SOCKET status [--json]' before failover shows the "
	    "replica:\n"
	    "committed epoch, epochs committed/rejected, time since the "
	    "primary was\n"
	    "last heard.\n"
	    "\n"
	    "Reverse replication (the primary in --mode reverse or naive):\n"
	    "  --topology T        inline: this host sits between the "
	    "clients and the\n"
	    "                      primary, logs each client->guest frame "
	    "and only then\n"
	    "                      forwards it (--forward-if); mirror: the "
	    "switch copies\n"
	    "                      them to --capture-if\n"
	    "  --capture-if IF     where the client's frames arrive\n"
	    "  --forward-if IF     inline: towards the primary\n"
	    "  --guest-mac MAC, --guest-ip A.B.C.D   the protected VM's "
	    "addresses\n"
	    "  --capture B         ringbuf (XDP into a BPF ring buffer, "
	    "forwarded by the\n"
	    "                      kernel), xdp (AF_XDP), pcap, or auto "
	    "(default: the first\n"
	    "                      of those that works; status says "
	    "which)\n"
	    "  --log-limit BYTES   replay log bound (default 32M); when "
	    "full, inline\n"
	    "                      stops forwarding until a commit trims "
	    "room, mirror\n"
	    "                      counts the overflow\n"
	    "  --capture-spin US   keep polling the capture this long after "
	    "a frame\n"
	    "                      before sleeping (default 100; 0 = sleep "
	    "at once):\n"
	    "                      saves a thread wake-up per frame (inline "
	    "p50 ~1.1x\n"
	    "                      instead of ~1.7x unreplicated here) for "
	    "CPU while\n"
	    "                      traffic flows (xdp and pcap; ringbuf "
	    "batches instead)\n"
	    "The log (trimmed by each committed epoch's frame digests) is "
	    "replayed into\n"
	    "the resumed VM at failover; 'rrvm ctl SOCKET log-dump "
	    "FILE.pcapng' exports it.\n");
}

static void drop_link(struct backup *b, const char *why)
{
	if (!b->link)
		return;
	log_warn("replication link from %s dropped: %s", b->link->peer, why);
	if (b->replica.staging) {
		/* An epoch cut off mid-way is rejected like a corrupt one. */
		b->replica.epochs_rejected++;
		log_warn("discarded incomplete epoch %llu; keeping committed "
			 "epoch %llu",
			 (unsigned long long)b->replica.staging_epoch,
			 (unsigned long long)b->replica.committed_epoch);
	}
	b->link->ops->close(b->link);
	b->link = NULL;
	replica_abort_epoch(&b->replica);
	if (b->reverse_on)
		reverse_aborted(&b->reverse);
	ckpt_decoder_reset(&b->dec);
}

static void send_ack(struct backup *b, uint64_t epoch)
{
	struct ckpt_buf buf;

	ckpt_buf_init(&buf);
	if (repl_encode_ack(&buf, epoch) == 0 &&
	    b->link->ops->send(b->link, buf.data, buf.len) != 0)
		drop_link(b, "cannot send ack");
	ckpt_buf_free(&buf);
}

static void handle_message(struct backup *b, const struct ckpt_msg *msg)
{
	struct repl_hello hello;
	int ret;

	switch (msg->header.type) {
	case REPL_MSG_HELLO:
		if (repl_decode_hello(msg, &hello)) {
			drop_link(b, "bad hello");
			return;
		}
		if (b->session && hello.session != b->session)
			log_warn("a new primary run (session %llx) replaces "
				 "%llx; waiting for its full checkpoint",
				 (unsigned long long)hello.session,
				 (unsigned long long)b->session);
		b->session = hello.session;
		b->mode = (enum repl_mode)hello.mode;
		log_info("primary %s: %s mode, %llu MiB, epoch %u ms",
			 b->link->peer, repl_mode_name(b->mode),
			 (unsigned long long)(hello.mem_size >> 20),
			 hello.epoch_ms);
		return;
	case REPL_MSG_HEARTBEAT:
		return;
	case REPL_MSG_RX_DIGESTS:
		if (b->reverse_on && reverse_digests(&b->reverse, msg)) {
			log_error("malformed frame digests in epoch %llu",
				  (unsigned long long)msg->header.epoch);
			drop_link(b, "bad digests");
		}
		return;
	}
	if (msg->header.type > CKPT_MSG_TYPE_MAX)
		return; /* unknown protocol message: ignore */
	ret = replica_message(&b->replica, msg);
	if (ret < 0) {
		log_error("rejected epoch %llu: %s; keeping committed epoch "
			  "%llu",
			  (unsigned long long)msg->header.epoch, b->replica.err,
			  (unsigned long long)b->replica.committed_epoch);
		drop_link(b, "corrupt epoch");
		return;
	}
	if (ret == 1 && b->reverse_on)
		reverse_committed(&b->reverse, msg->header.epoch);
	if (ret == 1) {
		if (b->replica.committed_full)
			log_info("committed full checkpoint (epoch %llu); "
				 "ready to take over",
				 (unsigned long long)msg->header.epoch);
		send_ack(b, msg->header.epoch);
	}
}

static void receive(struct backup *b)
{
	ssize_t n = b->link->ops->recv(b->link, b->rx_buf, RECV_CHUNK);
	size_t off = 0;

	if (n <= 0) {
		drop_link(b, n == 0 ? "primary closed it" : strerror((int)-n));
		return;
	}
	{
		uint64_t now = clock_mono_ns();

		if (b->replica.committed &&
		    now - b->last_rx_ns > b->max_silence_ns)
			b->max_silence_ns = now - b->last_rx_ns;
		b->last_rx_ns = now;
	}
	b->bytes_rx += (uint64_t)n;
	while (off < (size_t)n && b->link) {
		struct ckpt_msg msg;
		size_t used = 0;
		enum ckpt_decode_status st = ckpt_decoder_feed(
		    &b->dec, b->rx_buf + off, (size_t)n - off, &used, &msg);

		off += used;
		if (st == CKPT_DECODE_ERROR) {
			log_error(
			    "rejected replication stream: %s; keeping "
			    "committed epoch %llu",
			    b->dec.err,
			    (unsigned long long)b->replica.committed_epoch);
			b->replica.epochs_rejected++;
			drop_link(b, "corrupt stream");
			return;
		}
		if (st == CKPT_DECODE_NEED_MORE)
			break;
		handle_message(b, &msg);
	}
}

/* `rrvm ctl SOCKET log-dump FILE`: the replay log as pcapng. */
static int log_dump(struct backup *b, const char *path, char *reply,
		    size_t size)
{
	size_t frames = 0;
	int ret;

	if (!b->reverse_on)
		return snprintf(reply, size,
				"error: no replay log (start the backup with "
				"--topology inline|mirror)\n");
	if (path[0] != '/')
		return snprintf(reply, size,
				"error: log-dump needs an absolute path\n");
	pthread_mutex_lock(&b->reverse.lock);
	ret = replay_log_export_pcapng(&b->reverse.log, path,
				       "rrvm backup replay log", &frames);
	pthread_mutex_unlock(&b->reverse.lock);
	if (ret)
		return snprintf(reply, size, "error: log-dump to '%s': %s\n",
				path, strerror(-ret));
	return snprintf(reply, size,
			"wrote %zu frame(s) of the replay log to %s (committed "
			"epoch %llu)\n",
			frames, path,
			(unsigned long long)b->replica.committed_epoch);
}

static void serve_control(struct backup *b)
{
	char req[4200] = "", reply[4096], path[4097] = "";
	int fd = accept4(b->control_fd, NULL, NULL, SOCK_CLOEXEC);
	bool json;
	double age;
	int n;

	if (fd < 0)
		return;
	n = (int)read(fd, req, sizeof(req) - 1);
	req[n > 0 ? n : 0] = '\0';
	json = strstr(req, "--json") != NULL;
	if (strncmp(req, "log-dump ", 9) == 0 &&
	    sscanf(req + 9, "%4096s", path) == 1) {
		n = log_dump(b, path, reply, sizeof(reply));
		if (write(fd, reply, (size_t)n) < 0)
			log_debug("control reply: %s", strerror(errno));
		close(fd);
		return;
	}
	age = b->last_rx_ns ? (double)(clock_mono_ns() - b->last_rx_ns) / 1e6 : -1;
	if (json)
		n = snprintf(reply, sizeof(reply),
			     "{\"state\":\"%s\",\"primary\":\"%s\","
			     "\"mode\":\"%s\",\"committed_epoch\":%llu,"
			     "\"epochs_committed\":%llu,"
			     "\"epochs_rejected\":%llu,"
			     "\"pages_committed\":%llu,\"bytes_rx\":%llu,"
			     "\"last_heard_ms\":%.1f,"
			     "\"max_silence_ms\":%.1f}\n",
			     b->replica.committed ? "replicating" : "waiting",
			     b->link ? b->link->peer : "",
			     repl_mode_name(b->mode),
			     (unsigned long long)b->replica.committed_epoch,
			     (unsigned long long)b->replica.epochs_committed,
			     (unsigned long long)b->replica.epochs_rejected,
			     (unsigned long long)b->replica.pages_committed,
			     (unsigned long long)b->bytes_rx, age,
			     (double)b->max_silence_ns / 1e6);
	else
		n = snprintf(reply, sizeof(reply),
			     "state:            %s\nprimary:          %s\n"
			     "mode:             %s\ncommitted epoch:  %llu\n"
			     "epochs:           %llu committed, %llu rejected\n"
			     "received:         %llu bytes\n"
			     "last heard:       %.1f ms ago\n"
			     "longest silence:  %.1f ms\n",
			     b->replica.committed ? "replicating" : "waiting",
			     b->link ? b->link->peer : "(none)",
			     repl_mode_name(b->mode),
			     (unsigned long long)b->replica.committed_epoch,
			     (unsigned long long)b->replica.epochs_committed,
			     (unsigned long long)b->replica.epochs_rejected,
			     (unsigned long long)b->bytes_rx, age,
			     (double)b->max_silence_ns / 1e6);
	if (b->reverse_on && n > 2 && (size_t)n < sizeof(reply)) {
		if (json) {
			n -= 2; /* splice before the closing brace */
			n += snprintf(reply + n, sizeof(reply) - (size_t)n,
				      ",\"reverse\":");
			n += reverse_render(&b->reverse, 1, reply + n,
					    sizeof(reply) - (size_t)n);
			n += snprintf(reply + n, sizeof(reply) - (size_t)n,
				      "}\n");
		} else {
			n += reverse_render(&b->reverse, 0, reply + n,
					    sizeof(reply) - (size_t)n);
		}
		if ((size_t)n >= sizeof(reply))
			n = (int)sizeof(reply) - 1;
	}
	if (write(fd, reply, (size_t)n) < 0)
		log_debug("control reply: %s", strerror(errno));
	close(fd);
}

static int open_control(struct backup *b)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	b->control_fd = -1;
	if (!b->control_path)
		return 0;
	if (strlen(b->control_path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, b->control_path, strlen(b->control_path));
	unlink(b->control_path);
	b->control_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (b->control_fd < 0 ||
	    bind(b->control_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(b->control_fd, 4) < 0)
		return -errno;
	return 0;
}

/* The receive loop; returns when it is time to fail over (1) or stop (0). */
static int backup_loop(struct backup *b)
{
	uint64_t timeout_ns = (uint64_t)b->detect_timeout_ms * 1000000u;

	while (!stop_requested) {
		struct pollfd pfd[3];
		int nfds = 0, wait_ms = -1, link_i = -1, ctl_i = -1;

		pfd[nfds++] =
		    (struct pollfd){.fd = b->listen_fd, .events = POLLIN};
		if (b->link) {
			link_i = nfds;
			pfd[nfds++] = (struct pollfd){
			    .fd = b->link->ops->fd(b->link), .events = POLLIN};
		}
		if (b->control_fd >= 0) {
			ctl_i = nfds;
			pfd[nfds++] = (struct pollfd){.fd = b->control_fd,
						      .events = POLLIN};
		}
		/* Only a backup holding a checkpoint can fail over. */
		if (b->replica.committed) {
			uint64_t now = clock_mono_ns();
			uint64_t deadline = b->last_rx_ns + timeout_ns;

			if (now >= deadline)
				return 1;
			wait_ms = (int)((deadline - now + 999999) / 1000000);
		}
		if (poll(pfd, (nfds_t)nfds, wait_ms) < 0 && errno != EINTR)
			return -errno;
		if (pfd[0].revents & POLLIN) {
			struct transport *t;

			if (transport_tcp_accept(b->listen_fd, &t) == 0) {
				if (b->link)
					drop_link(b, "a new connection "
						     "replaces it");
				b->link = t;
				/* The detect clock ran across the gap too. */
				if (b->replica.committed &&
				    clock_mono_ns() - b->last_rx_ns > b->max_silence_ns)
					b->max_silence_ns =
						clock_mono_ns() - b->last_rx_ns;
				b->last_rx_ns = clock_mono_ns();
				log_info("primary connected from %s", t->peer);
			}
		}
		if (link_i >= 0 && b->link && pfd[link_i].revents)
			receive(b);
		if (ctl_i >= 0 && pfd[ctl_i].revents & POLLIN)
			serve_control(b);
	}
	return 0;
}

static int check_reverse_args(struct backup *b)
{
	char err[200];
	uint32_t ip;

	if (!b->rcfg.capture_if || !b->guest_mac_s || !b->guest_ip_s ||
	    (b->rcfg.topology == TOPOLOGY_INLINE && !b->rcfg.forward_if)) {
		log_error("--topology %s needs --capture-if, --guest-mac, "
			  "--guest-ip%s",
			  reverse_topology_name(b->rcfg.topology),
			  b->rcfg.topology == TOPOLOGY_INLINE ?
				  " and --forward-if" :
				  "");
		return -EINVAL;
	}
	if (parse_mac(b->guest_mac_s, b->rcfg.guest_mac, err, sizeof(err)) ||
	    parse_ipv4_prefix(b->guest_ip_s, &ip, NULL, 1, err, sizeof(err))) {
		log_error("%s", err);
		return -EINVAL;
	}
	b->rcfg.guest_ip = ip;
	return 0;
}

static int parse_args(int argc, char **argv, struct backup *b)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'L'},
	    {"tap", required_argument, NULL, 't'},
	    {"detect-timeout", required_argument, NULL, 'd'},
	    {"fence-cmd", required_argument, NULL, 'f'},
	    {"announce-dev", required_argument, NULL, 'a'},
	    {"report", required_argument, NULL, 'r'},
	    {"control", required_argument, NULL, 'c'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"topology", required_argument, NULL, 'T'},
	    {"capture-if", required_argument, NULL, 'C'},
	    {"forward-if", required_argument, NULL, 'F'},
	    {"capture", required_argument, NULL, 'B'},
	    {"guest-mac", required_argument, NULL, 'M'},
	    {"guest-ip", required_argument, NULL, 'I'},
	    {"log-limit", required_argument, NULL, 'S'},
	    {"capture-spin", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum log_level level;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'L':
			b->listen_addr = optarg;
			break;
		case 't':
			b->failover.tap = optarg;
			break;
		case 'd':
			b->detect_timeout_ms =
			    (unsigned)strtoul(optarg, &end, 10);
			if (*end || b->detect_timeout_ms < 1 ||
			    b->detect_timeout_ms > 60000) {
				log_error("--detect-timeout '%s': "
					  "milliseconds, 1..60000",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'f':
			b->failover.fence_cmd = optarg;
			break;
		case 'a':
			b->failover.announce_dev = optarg;
			break;
		case 'r':
			b->failover.report_path = optarg;
			break;
		case 'c':
			b->control_path = optarg;
			break;
		case 'l':
			if (log_parse_level(optarg, &level)) {
				log_error("--log-level '%s': use error, warn, "
					  "info or debug",
					  optarg);
				return -EINVAL;
			}
			log_set_level(level);
			break;
		case 'T':
			if (reverse_topology_parse(optarg, &b->rcfg.topology)) {
				log_error("--topology '%s': inline or mirror",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'C':
			b->rcfg.capture_if = optarg;
			break;
		case 'F':
			b->rcfg.forward_if = optarg;
			break;
		case 'B':
			b->rcfg.backend = optarg;
			break;
		case 'M':
			b->guest_mac_s = optarg;
			break;
		case 'I':
			b->guest_ip_s = optarg;
			break;
		case 'S':
			if (parse_byte_size(optarg, &b->rcfg.log_bytes)) {
				log_error("--log-limit '%s': bytes, e.g. 32M",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'P':
			b->spin_set = true;
			b->rcfg.spin_us = (uint32_t)strtoul(optarg, &end, 10);
			if (*end || !*optarg || b->rcfg.spin_us > 10000) {
				log_error("--capture-spin '%s': microseconds, "
					  "0..10000",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'h':
			backup_usage(stdout);
			return 1;
		default:
			fprintf(stderr, "see 'rrvm backup --help'\n");
			return -EINVAL;
		}
	}
	if (!b->listen_addr || !b->failover.tap || optind != argc) {
		log_error("--listen and --tap are required (see 'rrvm backup "
			  "--help')");
		return -EINVAL;
	}
	if (b->rcfg.topology != TOPOLOGY_NONE)
		return check_reverse_args(b);
	return 0;
}

int cmd_backup(int argc, char **argv)
{
	static struct backup b;
	struct sigaction sa;
	int ret;

	log_set_component("rrvm backup");
	memset(&b, 0, sizeof(b));
	b.detect_timeout_ms = 500;
	b.failover.garp_count = 3;
	b.failover.garp_interval_ms = 20;
	ret = parse_args(argc, argv, &b);
	if (ret)
		return ret > 0 ? RRVM_EXIT_OK : RRVM_EXIT_USAGE;
	b.failover.detect_timeout_ms = b.detect_timeout_ms;
	b.failover.control = b.control_path;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	b.rx_buf = malloc(RECV_CHUNK);
	b.listen_fd = transport_tcp_listen(b.listen_addr);
	if (!b.rx_buf || b.listen_fd < 0) {
		log_error("cannot listen on %s: %s", b.listen_addr,
			  b.listen_fd < 0 ? strerror(-b.listen_fd)
					  : "out of memory");
		return RRVM_EXIT_ERROR;
	}
	if (open_control(&b)) {
		log_error("control socket '%s': %s", b.control_path,
			  strerror(errno));
		return RRVM_EXIT_ERROR;
	}
	ckpt_decoder_init(&b.dec);
	replica_init(&b.replica);
	if (b.rcfg.topology != TOPOLOGY_NONE) {
		if (!b.rcfg.backend)
			b.rcfg.backend = "auto";
		if (!b.spin_set)
			b.rcfg.spin_us = REVERSE_DEFAULT_SPIN_US;
		if (!b.rcfg.log_bytes)
			b.rcfg.log_bytes = REPLAY_LOG_DEFAULT_BYTES;
		b.rcfg.log_frames = REPLAY_LOG_DEFAULT_FRAMES;
		if (reverse_start(&b.reverse, &b.rcfg)) {
			log_error("cannot start capturing on %s",
				  b.rcfg.capture_if);
			return RRVM_EXIT_ERROR;
		}
		b.reverse_on = true;
	}
	log_info("waiting for a primary on %s (detect timeout %u ms)",
		 b.listen_addr, b.detect_timeout_ms);
	ret = backup_loop(&b);
	if (stop_requested && ret == 0)
		log_info("stopping on a signal (no failover)");
	if (b.link)
		b.link->ops->close(b.link);
	close(b.listen_fd);
	if (b.control_fd >= 0) {
		close(b.control_fd);
		unlink(b.control_path);
	}
	ckpt_decoder_free(&b.dec);
	free(b.rx_buf);
	if (ret == 1) {
		/* Only reverse mode has a log worth replaying. */
		b.failover.reverse = b.reverse_on && b.mode == REPL_MODE_REVERSE ?
					     &b.reverse :
					     NULL;
		if (b.reverse_on && !b.failover.reverse)
			log_warn("failover: primary ran in %s mode: the "
				 "logged frames are NOT replayed",
				 repl_mode_name(b.mode));
		ret = failover_run(&b.replica, &b.failover, b.last_rx_ns);
	} else {
		ret = ret < 0 ? RRVM_EXIT_ERROR : RRVM_EXIT_OK;
	}
	if (b.reverse_on)
		reverse_free(&b.reverse);
	replica_free(&b.replica);
	return ret;
}
