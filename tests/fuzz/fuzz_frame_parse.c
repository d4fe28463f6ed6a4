// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for netstate/: the frame parser, and the flow table,
 * replay gate and audit fed with what it parses.
 *
 * Input: one mode byte, then
 *   mode & 1 == 0  the rest is one frame: parsed (invariants checked),
 *                  then fed to every gate entry point in turn;
 *   mode & 1 == 1  the rest is a script of records, each an op byte:
 *     op & 7 == 0  raw frame (u16 length, bytes): parse only
 *     op & 7 == 1  compact TCP frame (14 bytes: dir, port, seq, ack,
 *                  flags, u16 payload length, salt), built with valid
 *                  headers so mutations reach the TCP state logic; fed to
 *                  the gate entry point (op >> 3) % 5
 *     op & 7 == 2  raw frame fed to the gate entry point (op >> 3) % 5
 *     op & 7 == 3  the guest is idle
 *     op & 7 == 4  time advances (1 byte, ms)
 *     op & 7 == 5  timeout (1 byte, ms) and original window (1 byte * 64)
 *     op & 7 == 6  audit, rendered into a roomy and a tiny buffer
 *   The gate tracks at most 8 flows, so the limit policy is exercised.
 *
 * Checked: no crash, overread, leak or UB (ASan/UBSan); parse results
 * point inside the frame and agree with their length fields; a WAIT's
 * deadline is in the future and within the timeout; a suppressed output
 * is data without SYN/FIN/RST that the client's ACKs cover; the audit's
 * counters add up; renderings are NUL-terminated and as long as claimed.
 *
 * Built with -DFUZZ_GEN_SEEDS (no libFuzzer) it writes seed inputs into
 * the directory given and runs each through the harness once.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netstate/frame_build.h"
#include "common/report.h"
#include "netstate/replay_gate.h"
#include "tests/fuzz/fuzz_util.h"


#define GUEST_IP  0x02004d0au /* 10.77.0.2, network byte order */
#define CLIENT_IP 0x01004d0au
#define MAX_FLOWS 8
#define MS	  1000000ull

static void check_parse(const uint8_t *d, size_t n)
{
	struct frame_info fi;
	int err = frame_parse(d, n, &fi);

	CHECK(err == 0 || err == -EINVAL);
	CHECK(fi.data == d && fi.len == n);
	if (fi.l3 == FRAME_L3_IPV4) {
		CHECK(fi.ip.hdr_len >= 20 && fi.ip.total_len >= fi.ip.hdr_len);
		CHECK(fi.ip.off + fi.ip.total_len <= n);
		(void)frame_ipv4_checksum_ok(&fi);
	}
	if (fi.l4 != FRAME_L4_NONE) {
		CHECK(fi.l3 == FRAME_L3_IPV4 && !fi.ip.fragment);
		CHECK(fi.l4_off == fi.ip.off + fi.ip.hdr_len);
		CHECK(fi.l4_off + fi.l4_len <= n);
	}
	if (fi.l4 == FRAME_L4_TCP) {
		CHECK(fi.tcp.hdr_len >= 20 && fi.tcp.hdr_len <= fi.l4_len);
		CHECK(fi.tcp.payload_len == fi.l4_len - fi.tcp.hdr_len);
		CHECK(!fi.tcp.payload_len ||
		      fi.tcp.payload == d + fi.l4_off + fi.tcp.hdr_len);
		CHECK(fi.tcp.wscale >= -1 && fi.tcp.wscale <= 14);
	}
	if (fi.l4 == FRAME_L4_UDP) {
		CHECK(fi.udp.len >= 8 && fi.udp.len <= fi.l4_len);
		CHECK(fi.udp.payload_len == fi.udp.len - 8u);
		CHECK(!fi.udp.payload_len ||
		      fi.udp.payload == d + fi.l4_off + 8);
	}
}

struct run {
	struct replay_gate g;
	uint64_t now;
	uint64_t checks;
};

static void feed(struct run *r, unsigned which, const uint8_t *d, size_t n)
{
	uint64_t deadline;
	struct frame_info fi;
	struct flow_key key;
	enum frame_dir dir;
	struct flow *f;

	switch (which % 5) {
	case 0:
		(void)replay_gate_note_committed(&r->g, d, n);
		break;
	case 1:
		(void)replay_gate_note_logged(&r->g, d, n);
		break;
	case 2:
		(void)replay_gate_note_original_output(&r->g, d, n);
		break;
	case 3:
		r->checks++;
		if (replay_gate_check(&r->g, d, n, r->now, &deadline) ==
		    REPLAY_WAIT) {
			CHECK(deadline > r->now);
			CHECK(deadline - r->now <= r->g.timeout_ns);
		}
		break;
	default:
		if (replay_gate_guest_output(&r->g, d, n) != OUTPUT_SUPPRESS)
			break;
		CHECK(frame_parse(d, n, &fi) == 0 && fi.l4 == FRAME_L4_TCP);
		CHECK(fi.tcp.payload_len > 0);
		CHECK(!(fi.tcp.flags &
			(FRAME_TCP_SYN | FRAME_TCP_FIN | FRAME_TCP_RST)));
		CHECK(frame_flow_key(&fi, GUEST_IP, &key, &dir) == 0 &&
		      dir == FRAME_DIR_FROM_GUEST);
		f = flow_table_find(&r->g.flows, &key);
		CHECK(f && f->client.ack_known);
		CHECK(seq_leq(fi.tcp.seq + fi.tcp.payload_len,
			      f->client.ack_max));
		CHECK(seq_geq(fi.tcp.seq, f->client.ack_min));
		break;
	}
	CHECK(r->g.flows.count <= MAX_FLOWS);
}

static void do_audit(struct run *r)
{
	struct replay_audit a;
	struct report rep;
	int n;

	CHECK(replay_gate_audit(&r->g, &a) == 0);
	CHECK(a.outputs == a.outputs_forwarded + a.outputs_suppressed);
	CHECK(a.gate_released + a.gate_idle_releases + a.gate_timeouts <=
	      a.gate_waits);
	CHECK(a.frames_replayed <= r->checks);
	CHECK(a.flows <= MAX_FLOWS && a.flows_replayed <= a.flows);
	CHECK(a.flows_diverged <= a.flows_compared);
	CHECK(a.listed <= REPLAY_AUDIT_MAX_LISTED);
	for (int json = 0; json <= 1; json++) {
		report_init(&rep, json);
		replay_audit_report(&a, &rep);
		n = report_finish(&rep);
		CHECK(n > 0 && (size_t)n == strlen(rep.buf));
		/* JSON: one object, its brackets balanced. */
		CHECK(!json || (rep.buf[0] == '{' && rep.buf[n - 2] == '}'));
		report_free(&rep);
	}
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

#define COMPACT_LEN 14

/* dir, port, seq[4], ack[4], flags, len[2], salt -> a TCP frame. */
static size_t compact(const uint8_t *c, uint8_t *buf, size_t cap)
{
	static uint8_t payload[1500];
	bool to_guest = !(c[0] & 1);
	uint32_t seq = get32(c + 2);
	uint16_t len = (uint16_t)((c[11] << 8 | c[12]) % 1501);
	struct frame_spec s = {
	    .src_ip = to_guest ? CLIENT_IP : GUEST_IP,
	    .dst_ip = to_guest ? GUEST_IP : CLIENT_IP,
	    .proto = FRAME_IPPROTO_TCP,
	    .sport = to_guest ? (uint16_t)(40000 + c[1] % 16) : 6379,
	    .dport = to_guest ? 6379 : (uint16_t)(40000 + c[1] % 16),
	    .seq = seq,
	    .ack = get32(c + 6),
	    .flags = c[10],
	    .window = 1000,
	    .payload = payload,
	    .payload_len = len,
	};
	int n;

	/* Bytes follow the sequence number, so equal seq = equal byte
	 * unless the salt differs: the audit's comparison gets both. */
	for (uint16_t i = 0; i < len; i++)
		payload[i] = (uint8_t)((seq + i) * 31u + c[13]);
	n = frame_build(buf, cap, &s);
	CHECK(n > 0);
	return (size_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[2048];
	struct run r = {.now = 1};
	size_t i, n;

	if (size < 1)
		return 0;
	CHECK(replay_gate_init(&r.g, GUEST_IP, MAX_FLOWS) == 0);
	if (!(data[0] & 1)) {
		check_parse(data + 1, size - 1);
		for (unsigned w = 0; w < 5; w++)
			feed(&r, w, data + 1, size - 1);
		do_audit(&r);
		replay_gate_free(&r.g);
		return 0;
	}
	for (i = 1; i < size;) {
		uint8_t op = data[i++];

		switch (op & 7) {
		case 0:
		case 2:
			if (size - i < 2)
				goto out;
			n = (size_t)(data[i] << 8 | data[i + 1]);
			i += 2;
			if (n > size - i)
				n = size - i;
			/* An exactly-sized copy so ASan sees overreads. */
			{
				uint8_t *copy = malloc(n ? n : 1);

				CHECK(copy);
				memcpy(copy, data + i, n);
				check_parse(copy, n);
				if ((op & 7) == 2)
					feed(&r, op >> 3, copy, n);
				free(copy);
			}
			i += n;
			break;
		case 1:
			if (size - i < COMPACT_LEN)
				goto out;
			n = compact(data + i, buf, sizeof(buf));
			i += COMPACT_LEN;
			check_parse(buf, n);
			feed(&r, op >> 3, buf, n);
			break;
		case 3:
			replay_gate_note_guest_idle(&r.g);
			break;
		case 4:
			if (i < size)
				r.now += data[i++] * MS;
			break;
		case 5:
			if (size - i < 2)
				goto out;
			replay_gate_set_timeout(&r.g, data[i] * MS);
			replay_gate_set_orig_window(&r.g, data[i + 1] * 64u);
			i += 2;
			break;
		case 6:
			do_audit(&r);
			break;
		default:
			r.now++;
			break;
		}
	}
out:
	do_audit(&r);
	replay_gate_free(&r.g);
	return 0;
}

#ifdef FUZZ_GEN_SEEDS
/* ------------------------------------------------------ seed generator */

struct seed {
	uint8_t b[8192];
	size_t n;
};

static void add(struct seed *s, const void *p, size_t n)
{
	CHECK(s->n + n <= sizeof(s->b));
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void add_compact(struct seed *s, unsigned which, bool to_guest,
			uint8_t port, uint32_t seq, uint32_t ack, uint8_t fl,
			uint16_t len, uint8_t salt)
{
	uint8_t r[1 + COMPACT_LEN] = {
	    (uint8_t)(1 | which << 3),
	    to_guest ? 0 : 1,
	    port,
	    (uint8_t)(seq >> 24),
	    (uint8_t)(seq >> 16),
	    (uint8_t)(seq >> 8),
	    (uint8_t)seq,
	    (uint8_t)(ack >> 24),
	    (uint8_t)(ack >> 16),
	    (uint8_t)(ack >> 8),
	    (uint8_t)ack,
	    fl,
	    (uint8_t)(len >> 8),
	    (uint8_t)len,
	    salt,
	};

	add(s, r, sizeof(r));
}

static void write_seed(const char *dir, const char *name, struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f);
	CHECK(fwrite(s->b, 1, s->n, f) == s->n);
	fclose(f);
	LLVMFuzzerTestOneInput(s->b, s->n);
}

/* Mode 0: one frame built from a spec. */
static void frame_seed(const char *dir, const char *name,
		       const struct frame_spec *sp)
{
	struct seed s = {.n = 1};
	int n = frame_build(s.b + 1, sizeof(s.b) - 1, sp);

	CHECK(n > 0);
	s.n += (size_t)n;
	write_seed(dir, name, &s);
}

int main(int argc, char **argv)
{
	static const uint8_t opts[20] = {2,  4, 0x05, 0xb4, 4,	  2, 8,
					 10, 0, 0,    0x12, 0x34, 0, 0,
					 0,  0, 1,    3,    3,	  7};
	static const uint8_t arp[1 + 42] = {
	    0,	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x77,
	    0x00, 0x01, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00,
	    0x01, 0x52, 0x54, 0x00, 0x77, 0x00, 0x01, 0x0a, 0x4d, 0x00, 0x01,
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x4d, 0x00, 0x02,
	};
	struct frame_spec sp = {
	    .src_ip = CLIENT_IP,
	    .dst_ip = GUEST_IP,
	    .proto = FRAME_IPPROTO_TCP,
	    .sport = 40000,
	    .dport = 6379,
	    .seq = 0xffffff00u,
	    .flags = FRAME_TCP_SYN,
	    .window = 64240,
	    .tcp_opts = opts,
	    .tcp_opts_len = sizeof(opts),
	};
	const uint32_t c0 = 0xffffff00u, g0 = 0xffffffc0u;
	struct seed s;
	uint8_t raw[2048];
	int n;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	frame_seed(argv[1], "tcp-syn-options", &sp);
	sp.tcp_opts_len = 0;
	sp.flags = FRAME_TCP_ACK | FRAME_TCP_PSH;
	sp.payload = "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n";
	sp.payload_len = strlen(sp.payload);
	sp.vlan = true;
	sp.vlan_tci = 100;
	frame_seed(argv[1], "tcp-vlan-data", &sp);
	sp.vlan = false;
	sp.proto = FRAME_IPPROTO_UDP;
	frame_seed(argv[1], "udp", &sp);
	memset(&s, 0, sizeof(s));
	add(&s, arp, sizeof(arp));
	write_seed(argv[1], "arp", &s);

	/* Script: the last-gasp scenario with gating, suppression and the
	 * audit comparison, around the 2^32 wrap. */
	memset(&s, 0, sizeof(s));
	s.b[s.n++] = 1;
	add_compact(&s, 0, true, 0, c0, 0, FRAME_TCP_SYN, 0, 0);
	add_compact(&s, 0, true, 0, c0 + 1, g0 + 1, FRAME_TCP_ACK, 0, 0);
	add_compact(&s, 0, true, 0, c0 + 1, g0 + 1, 0x18, 10, 0);
	add_compact(&s, 2, false, 0, g0 + 1, c0 + 11, 0x18, 100, 0);
	add_compact(&s, 1, true, 0, c0 + 11, g0 + 101, 0x18, 10, 0);
	add_compact(&s, 1, true, 0, c0 + 21, g0 + 201, 0x18, 10, 0);
	add_compact(&s, 3, true, 0, c0 + 11, g0 + 101, 0x18, 10, 0);
	add(&s, (const uint8_t[]){4, 3}, 2);
	add_compact(&s, 4, false, 0, g0 + 1, c0 + 11, 0x18, 100, 0);
	add_compact(&s, 3, true, 0, c0 + 11, g0 + 101, 0x18, 10, 0);
	add_compact(&s, 3, true, 0, c0 + 21, g0 + 201, 0x18, 10, 0);
	add(&s, (const uint8_t[]){3}, 1);
	add_compact(&s, 3, true, 0, c0 + 21, g0 + 201, 0x18, 10, 0);
	add_compact(&s, 4, false, 0, g0 + 101, c0 + 31, 0x18, 100, 1);
	add(&s, (const uint8_t[]){6}, 1);
	write_seed(argv[1], "script-last-gasp", &s);

	/* Script: more flows than the table holds, closing some. */
	memset(&s, 0, sizeof(s));
	s.b[s.n++] = 1;
	for (uint8_t p = 0; p < 12; p++) {
		add_compact(&s, 1, true, p, 1000u * p, 5, 0x18, 3, 0);
		if (p % 3 == 0)
			add_compact(&s, 1, true, p, 1000u * p + 3, 5, 0x11, 0,
				    0);
	}
	add(&s, (const uint8_t[]){5, 0, 1}, 3);
	add_compact(&s, 3, true, 4, 4003, 900, 0x10, 0, 0);
	add(&s, (const uint8_t[]){6}, 1);
	write_seed(argv[1], "script-many-flows", &s);

	/* Script with raw frames (op 2), so byte mutations reach the gate. */
	memset(&s, 0, sizeof(s));
	s.b[s.n++] = 1;
	sp.proto = FRAME_IPPROTO_TCP;
	for (unsigned w = 0; w < 5; w++) {
		sp.src_ip = w == 2 || w == 4 ? GUEST_IP : CLIENT_IP;
		sp.dst_ip = w == 2 || w == 4 ? CLIENT_IP : GUEST_IP;
		sp.seq = 100 * w;
		sp.ack = 1000 + 10 * w;
		n = frame_build(raw, sizeof(raw), &sp);
		CHECK(n > 0);
		add(&s,
		    (const uint8_t[]){(uint8_t)(2 | w << 3), (uint8_t)(n >> 8),
				      (uint8_t)n},
		    3);
		add(&s, raw, (size_t)n);
	}
	write_seed(argv[1], "script-raw", &s);
	return 0;
}
#endif
