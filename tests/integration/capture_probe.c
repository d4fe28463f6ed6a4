/* SPDX-License-Identifier: MIT */
/*
 * Driver for tests/integration/test_capture.sh (built by the test itself).
 *
 *   capture_probe [options] BACKEND IFNAME GUEST_MAC COUNT
 *       Open the capture backend (ringbuf, xdp, pcap, auto) on IFNAME for
 *       GUEST_MAC, read until COUNT frames arrived (then linger a little to
 *       catch any extra), or until idle/timeout; optionally inject frames;
 *       print one "result key=value ..." line.
 *   capture_probe send [options] IFNAME SRC_MAC GUEST_MAC COUNT
 *       Send COUNT numbered frames to GUEST_MAC (plus, with options, frames
 *       to another MAC and broadcast ARP) from a packet socket; print one
 *       "sent key=value ..." line.
 *
 * Test frames carry "RRVC", a kind byte and a 32-bit sequence number:
 * after the Ethernet header (ethertype 0x88b5, local experimental), or
 * after the ARP body for ARP frames. The capture side checks each kind's
 * sequence for gaps, duplicates and reordering.
 */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include "backup/capture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define ETHERTYPE_TEST 0x88b5
#define MAGIC	       "RRVC"
#define TAG_LEN	       12 /* magic, kind, 3 pad, seq */
#define ARP_LEN	       28

enum kind {
	K_FOREIGN = 0, /* not one of ours */
	K_GUEST,       /* unicast to the guest MAC */
	K_OTHER,       /* unicast to another MAC */
	K_ARP_GUEST,   /* broadcast ARP asking for the guest IP */
	K_ARP_OTHER,   /* broadcast ARP asking for another IP */
	K_BCAST,       /* broadcast, not ARP (ethertype 0x88b5) */
	K_INJECT,      /* injected by the probe */
	K_MAX
};
static const char *const kind_names[K_MAX] = {
    "foreign", "guest", "other", "arp_guest", "arp_other", "bcast", "inject"};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time (user + system) this process used so far, in ns. */
static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		   1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4],
		   &b[5]) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static void put_tag(uint8_t *p, enum kind k, uint32_t seq)
{
	uint32_t be = htonl(seq);

	memcpy(p, MAGIC, 4);
	p[4] = (uint8_t)k;
	p[5] = p[6] = p[7] = 0;
	memcpy(p + 8, &be, 4);
}

/* Build one test frame into buf (size >= 60); returns its length. */
static size_t build_frame(uint8_t *buf, size_t size, enum kind k, uint32_t seq,
			  const uint8_t dst[6], const uint8_t src[6],
			  uint32_t arp_tpa)
{
	size_t len = size < 60 ? 60 : size;
	uint16_t et;

	memset(buf, 0, len);
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	if (k == K_ARP_GUEST || k == K_ARP_OTHER) {
		/* Ethernet, IPv4, 6- and 4-byte addresses, request. */
		static const uint8_t arp_head[8] = {0, 1, 8, 0, 6, 4, 0, 1};
		uint8_t *a = buf + 14;
		uint32_t spa = htonl(0x0a4d0001); /* 10.77.0.1 */

		et = htons(ETHERTYPE_ARP);
		memcpy(buf + 12, &et, 2);
		memcpy(a, arp_head, sizeof(arp_head));
		memcpy(a + 8, src, 6);
		memcpy(a + 14, &spa, 4);
		memcpy(a + 24, &arp_tpa, 4); /* tha stays 0 */
		put_tag(buf + 14 + ARP_LEN, k, seq);
	} else {
		et = htons(ETHERTYPE_TEST);
		memcpy(buf + 12, &et, 2);
		put_tag(buf + 14, k, seq);
	}
	return len;
}

/* Which of our frames is this, and its sequence number. */
static enum kind classify(const uint8_t *d, size_t len, uint32_t *seq)
{
	uint16_t et;
	size_t off;
	uint32_t be;

	if (len < 14)
		return K_FOREIGN;
	memcpy(&et, d + 12, 2);
	et = ntohs(et);
	if (et == ETHERTYPE_TEST)
		off = 14;
	else if (et == ETHERTYPE_ARP)
		off = 14 + ARP_LEN;
	else
		off = 0;
	if (off && len >= off + TAG_LEN && memcmp(d + off, MAGIC, 4) == 0 &&
	    d[off + 4] > K_FOREIGN && d[off + 4] < K_MAX) {
		memcpy(&be, d + off + 8, 4);
		*seq = ntohl(be);
		return (enum kind)d[off + 4];
	}
	return K_FOREIGN;
}

/* ------------------------------------------------------------- capture */

/*
 * --stats-hz: another thread reads the stats while we poll, as the backup's
 * control socket does.
 */
struct stats_reader {
	struct capture *c;
	unsigned int hz;
	int done;
	uint64_t reads;
};

static void *stats_reader_main(void *arg)
{
	struct stats_reader *sr = arg;
	struct capture_stats st;

	while (!__atomic_load_n(&sr->done, __ATOMIC_ACQUIRE)) {
		capture_stats(sr->c, &st);
		sr->reads++;
		usleep(1000000 / sr->hz);
	}
	return NULL;
}

struct seqcheck {
	uint64_t n;
	uint32_t next;
	uint64_t missing, dup_or_reorder;
};

struct probe {
	struct seqcheck k[K_MAX];
	uint64_t frames, ts_bad;
	uint64_t first_ns, last_ns;
};

static void on_frame(void *arg, const struct capture_frame *f)
{
	struct probe *p = arg;
	struct seqcheck *s;
	uint32_t seq = 0;
	uint64_t now = mono_ns(), rt = real_ns();
	enum kind k;

	if (!p->frames)
		p->first_ns = now;
	p->last_ns = now;
	p->frames++;
	/* Real time, taken at most a poll batch earlier. */
	if (f->ts_ns > rt + 1000000000ull || f->ts_ns + 10000000000ull < rt)
		p->ts_bad++;
	k = classify(f->data, f->len, &seq);
	s = &p->k[k];
	s->n++;
	if (k == K_FOREIGN)
		return;
	if (seq >= s->next) {
		s->missing += seq - s->next;
		s->next = seq + 1;
	} else {
		s->dup_or_reorder++;
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: capture_probe [--xdp-mode skb|native|auto] [--steal]\n"
		"         [--guest-ip IP] [--xdp-obj PATH] [--queues N]\n"
		"         [--ringbuf-obj PATH] [--ring-bytes N] "
		"[--wake-bytes N] [--grant N]\n"
		"         [--ring N] [--idle-ms N] [--timeout-ms N] "
		"[--linger-ms N]\n"
		"         [--ready-file PATH] [--inject N] [--inject-dst MAC]\n"
		"         [--inject-if IFNAME] [--delay-ms N] [--stats-hz N]\n"
		"         [--log-level L]\n"
		"         ringbuf|xdp|pcap|auto IFNAME GUEST_MAC COUNT\n"
		"       capture_probe send [--pps N] [--other-mac MAC] "
		"[--other N]\n"
		"         [--arp N] [--guest-ip IP] [--bcast N] [--size N]\n"
		"         IFNAME SRC_MAC GUEST_MAC COUNT\n");
	exit(2);
}

static int run_capture(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"xdp-mode", required_argument, NULL, 'm'},
	    {"steal", no_argument, NULL, 's'},
	    {"guest-ip", required_argument, NULL, 'g'},
	    {"xdp-obj", required_argument, NULL, 'o'},
	    {"queues", required_argument, NULL, 'q'},
	    {"ring", required_argument, NULL, 'r'},
	    {"idle-ms", required_argument, NULL, 'i'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"linger-ms", required_argument, NULL, 'L'},
	    {"ready-file", required_argument, NULL, 'R'},
	    {"inject", required_argument, NULL, 'j'},
	    {"inject-dst", required_argument, NULL, 'd'},
	    {"inject-if", required_argument, NULL, 'I'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"delay-ms", required_argument, NULL, 'D'},
	    {"stats-hz", required_argument, NULL, 'S'},
	    {"ringbuf-obj", required_argument, NULL, 'b'},
	    {"ring-bytes", required_argument, NULL, 'B'},
	    {"wake-bytes", required_argument, NULL, 'W'},
	    {"grant", required_argument, NULL, 'G'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t grant = 0;
	uint8_t mac[6], inj_dst[6] = {0x02, 0, 0, 0, 0, 0xaa};
	const char *ready = NULL, *backend, *ifname;
	uint64_t idle_ms = 1000, timeout_ms = 30000, linger_ms = 300;
	uint64_t t_start, t_done = 0, count, inject = 0, injected = 0;
	uint64_t inject_again = 0, delay_ms = 0, cpu0, cpu1;
	struct stats_reader sr = {0};
	pthread_t sr_thread;
	struct capture_config cfg;
	struct capture_stats st;
	struct capture *c = NULL;
	struct probe p;
	struct in_addr ia;
	enum log_level lvl;
	int opt, rc, fd, i;
	double secs;

	capture_config_init(&cfg);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (strcmp(optarg, "skb") == 0)
				cfg.xdp_mode = CAPTURE_XDP_SKB;
			else if (strcmp(optarg, "native") == 0)
				cfg.xdp_mode = CAPTURE_XDP_NATIVE;
			else if (strcmp(optarg, "auto") == 0)
				cfg.xdp_mode = CAPTURE_XDP_AUTO;
			else
				usage();
			break;
		case 's':
			cfg.steal = true;
			break;
		case 'g':
			if (inet_pton(AF_INET, optarg, &ia) != 1)
				usage();
			cfg.guest_ip4 = ia.s_addr;
			break;
		case 'o':
			cfg.xdp_obj = optarg;
			break;
		case 'b':
			cfg.ringbuf_obj = optarg;
			break;
		case 'B':
			cfg.buffer_bytes = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'W':
			cfg.wake_bytes = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'G':
			grant = strtoull(optarg, NULL, 0);
			break;
		case 'q':
			cfg.queues = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			cfg.ring_frames = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'i':
			idle_ms = strtoull(optarg, NULL, 0);
			break;
		case 't':
			timeout_ms = strtoull(optarg, NULL, 0);
			break;
		case 'L':
			linger_ms = strtoull(optarg, NULL, 0);
			break;
		case 'R':
			ready = optarg;
			break;
		case 'j':
			inject = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			if (parse_mac(optarg, inj_dst))
				usage();
			break;
		case 'I':
			cfg.inject_ifname = optarg;
			break;
		case 'S':
			sr.hz = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'D':
			delay_ms = strtoull(optarg, NULL, 0);
			break;
		case 'l':
			if (log_parse_level(optarg, &lvl))
				usage();
			log_set_level(lvl);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 4)
		usage();
	backend = argv[optind];
	ifname = argv[optind + 1];
	if (parse_mac(argv[optind + 2], mac))
		usage();
	count = strtoull(argv[optind + 3], NULL, 0);

	rc = capture_open(&c, backend, ifname, mac, &cfg);
	if (rc) {
		printf("result backend=none error=%d errstr=\"%s\"\n", rc,
		       strerror(-rc));
		return 1;
	}
	fd = capture_fd(c);
	/* --grant N: room for N frames only (ringbuf holds back the rest). */
	if (grant)
		capture_grant(c, grant, grant * 2048);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f) {
			fprintf(f, "%s\n", capture_name(c));
			fclose(f);
		}
	}
	log_info("probe: %s ready on %s", capture_name(c), ifname);

	/*
	 * --delay-ms: do not read for a while, so a burst overflows the
	 * rings and the drop counters must account for every frame.
	 */
	if (delay_ms)
		usleep((useconds_t)(delay_ms * 1000));
	sr.c = c;
	if (sr.hz && pthread_create(&sr_thread, NULL, stats_reader_main, &sr)) {
		perror("pthread_create");
		sr.hz = 0;
	}
	memset(&p, 0, sizeof(p));
	t_start = mono_ns();
	cpu0 = cpu_ns();
	while (!stop) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = mono_ns();

		if (now - t_start > timeout_ms * 1000000ull)
			break;
		if (p.frames && now - p.last_ns > idle_ms * 1000000ull)
			break;
		if (p.frames >= count) {
			if (!t_done)
				t_done = now;
			else if (now - t_done > linger_ms * 1000000ull)
				break;
		}
		rc = poll(&pfd, 1, 20);
		if (rc < 0 && errno != EINTR) {
			perror("poll");
			break;
		}
		/* Drain whatever is there, poll() said so or not. */
		do {
			rc = capture_poll(c, 256, on_frame, &p);
		} while (rc > 0);
		if (rc < 0) {
			fprintf(stderr, "capture_poll: %s\n", strerror(-rc));
			break;
		}
	}

	cpu1 = cpu_ns();
	for (i = 0; (uint64_t)i < inject && !stop;) {
		uint8_t frame[60];
		size_t len;

		len = build_frame(frame, sizeof(frame), K_INJECT, (uint32_t)i,
				  inj_dst, mac, 0);
		rc = capture_inject(c, frame, len);
		if (rc == -EAGAIN) {
			/* Let completions come back, then retry. */
			inject_again++;
			capture_poll(c, 64, on_frame, &p);
			usleep(100);
			continue;
		}
		if (rc) {
			fprintf(stderr, "inject: %s\n", strerror(-rc));
			break;
		}
		injected++;
		i++;
	}
	/* Give TX completions a moment so the stats are final. */
	if (inject)
		usleep(100000);
	capture_poll(c, 256, on_frame, &p);

	if (sr.hz) {
		__atomic_store_n(&sr.done, 1, __ATOMIC_RELEASE);
		pthread_join(sr_thread, NULL);
	}
	capture_stats(c, &st);
	secs = p.frames > 1 ? (double)(p.last_ns - p.first_ns) / 1e9 : 0;
	printf("result backend=%s frames=%llu bytes=%llu", capture_name(c),
	       (unsigned long long)st.frames, (unsigned long long)st.bytes);
	for (i = 0; i < K_MAX; i++)
		printf(" %s=%llu", kind_names[i], (unsigned long long)p.k[i].n);
	printf(" seq_missing=%llu seq_dup=%llu ts_bad=%llu",
	       (unsigned long long)p.k[K_GUEST].missing,
	       (unsigned long long)p.k[K_GUEST].dup_or_reorder,
	       (unsigned long long)p.ts_bad);
	/* The reader's own CPU per frame (the kernel's share runs in the
	 * sender's softirq and is not in it). */
	printf(" secs=%.6f fps=%.0f cpu_ns_per_frame=%.0f", secs,
	       secs > 0 ? (double)(p.frames - 1) / secs : 0.0,
	       p.frames ? (double)(cpu1 - cpu0) / (double)p.frames : 0.0);
	printf(" matched=%llu drops_kernel=%llu drops_user=%llu "
	       "drops_iface=%llu filtered=%llu injected=%llu "
	       "inject_ok=%llu inject_eagain=%llu",
	       (unsigned long long)st.matched,
	       (unsigned long long)st.drops_kernel,
	       (unsigned long long)st.drops_user,
	       (unsigned long long)st.drops_iface,
	       (unsigned long long)st.filtered, (unsigned long long)st.injected,
	       (unsigned long long)injected, (unsigned long long)inject_again);
	printf(" forwarded=%llu forward_errors=%llu held=%llu pending=%llu",
	       (unsigned long long)st.forwarded,
	       (unsigned long long)st.forward_errors,
	       (unsigned long long)st.held, (unsigned long long)st.pending);
	printf(" stats_reads=%llu\n", (unsigned long long)sr.reads);
	fflush(stdout);
	capture_close(c);
	return 0;
}

/* ---------------------------------------------------------------- send */

/*
 * The sending order: round after round, one frame of each kind whose count
 * is not exhausted (guest, other, ARP for the guest, ARP for another IP,
 * plain broadcast), so every kind is spread over the whole run.
 */
struct gen {
	uint64_t step;
	int sub;
	uint64_t n[5];
};

static bool gen_next(struct gen *g, enum kind *k, uint64_t *seq)
{
	static const enum kind order[5] = {K_GUEST, K_OTHER, K_ARP_GUEST,
					   K_ARP_OTHER, K_BCAST};
	uint64_t max = 0;
	int s;

	for (s = 0; s < 5; s++)
		max = g->n[s] > max ? g->n[s] : max;
	while (g->step < max) {
		uint64_t step = g->step;

		s = g->sub;
		if (++g->sub == 5) {
			g->sub = 0;
			g->step++;
		}
		if (step < g->n[s]) {
			*k = order[s];
			*seq = step;
			return true;
		}
	}
	return false;
}

static int run_send(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"pps", required_argument, NULL, 'p'},
	    {"other-mac", required_argument, NULL, 'O'},
	    {"other", required_argument, NULL, 'o'},
	    {"arp", required_argument, NULL, 'a'},
	    {"bcast", required_argument, NULL, 'b'},
	    {"guest-ip", required_argument, NULL, 'g'},
	    {"size", required_argument, NULL, 'z'},
	    {NULL, 0, NULL, 0},
	};
	enum { BATCH = 64, FRAME_MAX = 1514 };
	static uint8_t bufs[BATCH][FRAME_MAX];
	uint8_t src[6], guest[6], other[6] = {0x02, 0, 0, 0, 0, 0x99};
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint64_t n_guest, n_other = 0, n_arp = 0, n_bcast = 0, pps = 0;
	uint64_t sent = 0, total, retries = 0, t0, t1;
	struct gen g = {0};
	uint32_t guest_ip = htonl(0x0a4d0002), other_ip = htonl(0x0a4d0063);
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_ll sll;
	struct in_addr ia;
	size_t size = 60;
	int fd, opt, one = 1;
	unsigned int ifindex;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			pps = strtoull(optarg, NULL, 0);
			break;
		case 'O':
			if (parse_mac(optarg, other))
				usage();
			break;
		case 'o':
			n_other = strtoull(optarg, NULL, 0);
			break;
		case 'a':
			n_arp = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			n_bcast = strtoull(optarg, NULL, 0);
			break;
		case 'g':
			if (inet_pton(AF_INET, optarg, &ia) != 1)
				usage();
			guest_ip = ia.s_addr;
			break;
		case 'z':
			size = strtoul(optarg, NULL, 0);
			if (size < 60 || size > FRAME_MAX)
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 4)
		usage();
	ifindex = if_nametoindex(argv[optind]);
	if (!ifindex || parse_mac(argv[optind + 1], src) ||
	    parse_mac(argv[optind + 2], guest)) {
		fprintf(stderr, "send: bad interface or MAC\n");
		return 1;
	}
	n_guest = strtoull(argv[optind + 3], NULL, 0);

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket(AF_PACKET)");
		return 1;
	}
	/* Straight to the driver: the sender measures the receiver. */
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("bind");
		return 1;
	}

	total = n_guest + n_other + 2 * n_arp + n_bcast;
	g.n[0] = n_guest;
	g.n[1] = n_other;
	g.n[2] = g.n[3] = n_arp;
	g.n[4] = n_bcast;
	t0 = mono_ns();
	while (sent < total && !stop) {
		int nb = 0, done = 0, r;
		uint64_t seq;
		enum kind k;

		while (nb < BATCH && gen_next(&g, &k, &seq)) {
			const uint8_t *dst = k == K_GUEST   ? guest
					     : k == K_OTHER ? other
							    : bcast;
			uint32_t tpa = k == K_ARP_GUEST ? guest_ip : other_ip;

			iov[nb].iov_base = bufs[nb];
			iov[nb].iov_len = build_frame(
			    bufs[nb], size, k, (uint32_t)seq, dst, src, tpa);
			memset(&msgs[nb], 0, sizeof(msgs[nb]));
			msgs[nb].msg_hdr.msg_iov = &iov[nb];
			msgs[nb].msg_hdr.msg_iovlen = 1;
			nb++;
		}
		while (done < nb && !stop) {
			r = sendmmsg(fd, msgs + done, (unsigned)(nb - done), 0);
			if (r < 0) {
				if (errno == ENOBUFS || errno == EAGAIN ||
				    errno == EINTR) {
					retries++;
					sched_yield();
					continue;
				}
				perror("sendmmsg");
				return 1;
			}
			done += r;
		}
		sent += (uint64_t)done;
		if (pps) {
			/* Absolute schedule: batch i is due at sent/pps. */
			uint64_t due = t0 + sent * 1000000000ull / pps;
			uint64_t now = mono_ns();

			if (due > now) {
				struct timespec ts = {
				    .tv_sec =
					(time_t)((due - now) / 1000000000ull),
				    .tv_nsec =
					(long)((due - now) % 1000000000ull)};
				nanosleep(&ts, NULL);
			}
		}
	}
	t1 = mono_ns();
	printf("sent total=%llu guest=%llu other=%llu arp=%llu bcast=%llu "
	       "size=%zu secs=%.6f pps=%.0f retries=%llu\n",
	       (unsigned long long)sent, (unsigned long long)n_guest,
	       (unsigned long long)n_other, (unsigned long long)n_arp,
	       (unsigned long long)n_bcast, size, (double)(t1 - t0) / 1e9,
	       t1 > t0 ? (double)sent * 1e9 / (double)(t1 - t0) : 0.0,
	       (unsigned long long)retries);
	close(fd);
	return sent == total ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	log_set_component("capture_probe");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "send") == 0)
		return run_send(argc - 1, argv + 1);
	return run_capture(argc, argv);
}
