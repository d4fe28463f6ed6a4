/* SPDX-License-Identifier: MIT */
/*
 * The frame parser (netstate/frame.c) and builder (netstate/frame_build.c):
 * a hand-assembled SYN decodes field by field and the builder reproduces
 * it byte for byte; ARP, ICMP, UDP, VLAN, fragments, padding and unknown
 * ethertypes are reported as documented; every prefix of every valid frame
 * and every corrupted length field is rejected with -EINVAL, read from an
 * exactly-sized heap copy so ASan sees any overread; random corruption
 * never yields a pointer outside the frame.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "netstate/frame.h"
#include "netstate/frame_build.h"

#define IP(a, b, c, d)                                                         \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 |            \
	 (uint32_t)(d) << 24)
#define CLIENT_IP IP(10, 77, 0, 1)
#define GUEST_IP  IP(10, 77, 0, 2)

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x77, 0x00, 0x02};
static const uint8_t client_mac[6] = {0x52, 0x54, 0x00, 0x77, 0x00, 0x01};

/* 10.77.0.1:40000 -> 10.77.0.2:6379 SYN, seq 0xfffffff0, window 64240,
 * options MSS 1460, SACK-permitted, TS 0x1234/0, NOP, WS 7. Checksums
 * computed independently (Python), not by frame_build. */
static const uint8_t syn_frame[74] = {
    0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0x52, 0x54, 0x00, 0x77, 0x00,
    0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00,
    0x40, 0x06, 0x13, 0xec, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d, 0x00,
    0x02, 0x9c, 0x40, 0x18, 0xeb, 0xff, 0xff, 0xff, 0xf0, 0x00, 0x00,
    0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x71, 0x22, 0x00, 0x00, 0x02,
    0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x12, 0x34,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
};

/* Who-has 10.77.0.2 tell 10.77.0.1. */
static const uint8_t arp_frame[42] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x77, 0x00,
    0x01, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
    0x52, 0x54, 0x00, 0x77, 0x00, 0x01, 0x0a, 0x4d, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x4d, 0x00, 0x02,
};

/* Echo request id 0x0102 seq 7, 4 bytes of data (checksums not needed by
 * the parser; the IPv4 one is left 0 on purpose). */
static const uint8_t icmp_frame[46] = {
    0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0x52, 0x54, 0x00, 0x77, 0x00, 0x01,
    0x08, 0x00, 0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01,
    0x00, 0x00, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d, 0x00, 0x02, 0x08, 0x00,
    0x00, 0x00, 0x01, 0x02, 0x00, 0x07, 'p',  'i',  'n',  'g',
};

static int build(uint8_t *buf, size_t cap, uint8_t proto, bool vlan,
		 const char *payload)
{
	struct frame_spec s = {
	    .vlan = vlan,
	    .vlan_tci = 0x0064,
	    .src_ip = CLIENT_IP,
	    .dst_ip = GUEST_IP,
	    .proto = proto,
	    .sport = 40000,
	    .dport = 6379,
	    .seq = 1000,
	    .ack = 2000,
	    .flags = FRAME_TCP_ACK | FRAME_TCP_PSH,
	    .window = 502,
	    .payload = payload,
	    .payload_len = payload ? strlen(payload) : 0,
	};

	memcpy(s.dst_mac, guest_mac, 6);
	memcpy(s.src_mac, client_mac, 6);
	return frame_build(buf, cap, &s);
}

/* frame_parse on an exactly-sized heap copy: ASan flags any overread. */
static int parse_copy(const uint8_t *f, size_t len, struct frame_info *fi)
{
	uint8_t *copy = malloc(len ? len : 1);
	int err;

	assert_non_null(copy);
	memcpy(copy, f, len);
	err = frame_parse(copy, len, fi);
	/* Nothing may point outside the copy. */
	if (fi->tcp.payload)
		assert_true(fi->tcp.payload >= copy &&
			    fi->tcp.payload + fi->tcp.payload_len <=
				copy + len);
	if (fi->udp.payload)
		assert_true(fi->udp.payload >= copy &&
			    fi->udp.payload + fi->udp.payload_len <=
				copy + len);
	if (fi->l4 != FRAME_L4_NONE)
		assert_true(fi->l4_off + fi->l4_len <= len);
	free(copy);
	return err;
}

static void test_syn_fields(void **state)
{
	struct frame_info fi;

	(void)state;
	assert_int_equal(frame_parse(syn_frame, sizeof(syn_frame), &fi), 0);
	assert_memory_equal(fi.eth_dst, guest_mac, 6);
	assert_memory_equal(fi.eth_src, client_mac, 6);
	assert_int_equal(fi.ethertype, FRAME_ETHERTYPE_IPV4);
	assert_false(fi.vlan);
	assert_int_equal(fi.l3, FRAME_L3_IPV4);
	assert_int_equal(fi.l4, FRAME_L4_TCP);
	assert_int_equal(fi.ip.src, CLIENT_IP);
	assert_int_equal(fi.ip.dst, GUEST_IP);
	assert_int_equal(fi.ip.id, 0x1234);
	assert_int_equal(fi.ip.ttl, 64);
	assert_int_equal(fi.ip.total_len, 60);
	assert_true(fi.ip.dont_frag);
	assert_false(fi.ip.fragment);
	assert_true(frame_ipv4_checksum_ok(&fi));
	assert_int_equal(fi.tcp.sport, 40000);
	assert_int_equal(fi.tcp.dport, 6379);
	assert_int_equal(fi.tcp.seq, 0xfffffff0u);
	assert_int_equal(fi.tcp.flags, FRAME_TCP_SYN);
	assert_int_equal(fi.tcp.window, 64240);
	assert_int_equal(fi.tcp.hdr_len, 40);
	assert_int_equal(fi.tcp.mss, 1460);
	assert_true(fi.tcp.sack_ok);
	assert_true(fi.tcp.has_ts);
	assert_int_equal(fi.tcp.ts_val, 0x1234);
	assert_int_equal(fi.tcp.wscale, 7);
	assert_int_equal(fi.tcp.payload_len, 0);
	assert_null(fi.tcp.payload);
	assert_int_equal(frame_tcp_seg_len(&fi), 1);
}

static void test_builder_matches_reference(void **state)
{
	static const uint8_t opts[20] = {2,  4, 0x05, 0xb4, 4,	  2, 8,
					 10, 0, 0,    0x12, 0x34, 0, 0,
					 0,  0, 1,    3,    3,	  7};
	struct frame_spec s = {
	    .src_ip = CLIENT_IP,
	    .dst_ip = GUEST_IP,
	    .proto = FRAME_IPPROTO_TCP,
	    .ip_id = 0x1234,
	    .sport = 40000,
	    .dport = 6379,
	    .seq = 0xfffffff0u,
	    .flags = FRAME_TCP_SYN,
	    .window = 64240,
	    .tcp_opts = opts,
	    .tcp_opts_len = sizeof(opts),
	};
	uint8_t buf[128];

	(void)state;
	memcpy(s.dst_mac, guest_mac, 6);
	memcpy(s.src_mac, client_mac, 6);
	assert_int_equal(frame_build(buf, sizeof(buf), &s), sizeof(syn_frame));
	assert_memory_equal(buf, syn_frame, sizeof(syn_frame));
	assert_int_equal(frame_build(buf, sizeof(syn_frame) - 1, &s), -ENOSPC);
	s.tcp_opts_len = 3;
	assert_int_equal(frame_build(buf, sizeof(buf), &s), -EINVAL);
	s.tcp_opts_len = 0;
	s.proto = FRAME_IPPROTO_ICMP;
	assert_int_equal(frame_build(buf, sizeof(buf), &s), -EINVAL);
}

static void test_tcp_udp_vlan_roundtrip(void **state)
{
	uint8_t buf[256];
	struct frame_info fi;
	int n;

	(void)state;
	n = build(buf, sizeof(buf), FRAME_IPPROTO_TCP, false, "GET k\r\n");
	assert_int_equal(frame_parse(buf, (size_t)n, &fi), 0);
	assert_int_equal(fi.l4, FRAME_L4_TCP);
	assert_int_equal(fi.tcp.seq, 1000);
	assert_int_equal(fi.tcp.ack, 2000);
	assert_int_equal(fi.tcp.flags, FRAME_TCP_ACK | FRAME_TCP_PSH);
	assert_int_equal(fi.tcp.payload_len, 7);
	assert_memory_equal(fi.tcp.payload, "GET k\r\n", 7);
	assert_int_equal(fi.tcp.wscale, -1);
	assert_int_equal(fi.tcp.mss, 0);
	assert_true(frame_ipv4_checksum_ok(&fi));

	n = build(buf, sizeof(buf), FRAME_IPPROTO_UDP, true, "hello");
	assert_int_equal(frame_parse(buf, (size_t)n, &fi), 0);
	assert_true(fi.vlan);
	assert_int_equal(fi.vlan_tci, 0x0064);
	assert_int_equal(fi.ethertype, FRAME_ETHERTYPE_IPV4);
	assert_int_equal(fi.l4, FRAME_L4_UDP);
	assert_int_equal(fi.udp.len, 13);
	assert_int_equal(fi.udp.payload_len, 5);
	assert_memory_equal(fi.udp.payload, "hello", 5);

	/* Ethernet padding after the IPv4 total length is ignored. */
	n = build(buf, sizeof(buf), FRAME_IPPROTO_TCP, false, NULL);
	assert_int_equal(n, 54);
	memset(buf + n, 0xee, 60 - (size_t)n);
	assert_int_equal(parse_copy(buf, 60, &fi), 0);
	assert_int_equal(fi.tcp.payload_len, 0);
	assert_null(fi.tcp.payload);
}

static void test_arp_icmp_other(void **state)
{
	uint8_t f[128];
	struct frame_info fi;

	(void)state;
	assert_int_equal(frame_parse(arp_frame, sizeof(arp_frame), &fi), 0);
	assert_int_equal(fi.l3, FRAME_L3_ARP);
	assert_int_equal(fi.arp.op, 1);
	assert_int_equal(fi.arp.spa, CLIENT_IP);
	assert_int_equal(fi.arp.tpa, GUEST_IP);
	assert_memory_equal(fi.arp.sha, client_mac, 6);

	/* ARP for another hardware type: understood as "not ours". */
	memcpy(f, arp_frame, sizeof(arp_frame));
	f[15] = 6;
	assert_int_equal(frame_parse(f, sizeof(arp_frame), &fi), 0);
	assert_int_equal(fi.l3, FRAME_L3_NONE);

	assert_int_equal(frame_parse(icmp_frame, sizeof(icmp_frame), &fi), 0);
	assert_int_equal(fi.l4, FRAME_L4_ICMP);
	assert_int_equal(fi.icmp.type, 8);
	assert_int_equal(fi.icmp.id, 0x0102);
	assert_int_equal(fi.icmp.seq, 7);
	assert_false(frame_ipv4_checksum_ok(&fi));

	/* Another IP protocol (GRE). */
	memcpy(f, icmp_frame, sizeof(icmp_frame));
	f[23] = 47;
	assert_int_equal(frame_parse(f, sizeof(icmp_frame), &fi), 0);
	assert_int_equal(fi.l4, FRAME_L4_OTHER);
	assert_int_equal(fi.ip.proto, 47);

	/* IPv6 and an 802.3 length field: unknown, not errors. */
	memcpy(f, syn_frame, sizeof(syn_frame));
	f[12] = 0x86, f[13] = 0xdd;
	assert_int_equal(frame_parse(f, sizeof(syn_frame), &fi), 0);
	assert_int_equal(fi.l3, FRAME_L3_NONE);
	assert_int_equal(fi.ethertype, 0x86dd);
	f[12] = 0x00, f[13] = 0x40;
	assert_int_equal(frame_parse(f, sizeof(syn_frame), &fi), 0);
	assert_int_equal(fi.l3, FRAME_L3_NONE);
	assert_false(frame_ipv4_checksum_ok(&fi));
}

static void test_double_tag_and_fragments(void **state)
{
	uint8_t buf[256];
	struct frame_info fi;
	struct flow_key key;
	int n;

	(void)state;
	/* QinQ outer tag whose inner ethertype is another tag. */
	n = build(buf, sizeof(buf), FRAME_IPPROTO_TCP, true, "x");
	buf[12] = 0x88, buf[13] = 0xa8;
	buf[16] = 0x81, buf[17] = 0x00;
	assert_int_equal(frame_parse(buf, (size_t)n, &fi), 0);
	assert_true(fi.vlan);
	assert_int_equal(fi.ethertype, FRAME_ETHERTYPE_VLAN);
	assert_int_equal(fi.l3, FRAME_L3_NONE);

	/* First fragment (MF): flagged, L4 not parsed, no flow. */
	n = build(buf, sizeof(buf), FRAME_IPPROTO_TCP, false, "data");
	buf[14 + 6] = 0x20;
	assert_int_equal(frame_parse(buf, (size_t)n, &fi), 0);
	assert_true(fi.ip.fragment);
	assert_true(fi.ip.more_frags);
	assert_int_equal(fi.l4, FRAME_L4_NONE);
	assert_int_equal(frame_flow_key(&fi, GUEST_IP, &key, NULL), -ENOENT);
	/* A later fragment: offset set, garbage where TCP would be. */
	buf[14 + 6] = 0x00, buf[14 + 7] = 0x10;
	memset(buf + 34, 0xff, 20);
	assert_int_equal(frame_parse(buf, (size_t)n, &fi), 0);
	assert_true(fi.ip.fragment);
	assert_int_equal(fi.ip.frag_off, 0x10);
	assert_int_equal(fi.l4, FRAME_L4_NONE);
}

static void test_options(void **state)
{
	uint8_t buf[256], f[256];
	struct frame_info fi;
	int n;

	(void)state;
	/* IPv4 header with 8 bytes of options: NOP, NOP, RR(len 4?), EOL.
	 * Rebuild by inserting them after the fixed header. */
	n = build(buf, sizeof(buf), FRAME_IPPROTO_UDP, false, "abc");
	memcpy(f, buf, 34);
	memcpy(f + 34, (const uint8_t[]){1, 1, 7, 3, 4, 0, 0, 0}, 8);
	memcpy(f + 42, buf + 34, (size_t)n - 34);
	f[14] = 0x47;
	f[17] = (uint8_t)(f[17] + 8);
	assert_int_equal(parse_copy(f, (size_t)n + 8, &fi), 0);
	assert_int_equal(fi.ip.hdr_len, 28);
	assert_int_equal(fi.l4, FRAME_L4_UDP);
	assert_memory_equal(fi.udp.payload, "abc", 3);
	/* Option length 1, 0, and running past the header. */
	f[36] = 7, f[37] = 1;
	assert_int_equal(parse_copy(f, (size_t)n + 8, &fi), -EINVAL);
	f[37] = 0;
	assert_int_equal(parse_copy(f, (size_t)n + 8, &fi), -EINVAL);
	f[37] = 7;
	assert_int_equal(parse_copy(f, (size_t)n + 8, &fi), -EINVAL);
	/* Kind at the last byte with no room for a length. */
	memcpy(f + 34, (const uint8_t[]){1, 1, 1, 1, 1, 1, 1, 7}, 8);
	assert_int_equal(parse_copy(f, (size_t)n + 8, &fi), -EINVAL);

	/* TCP: window scale above 14 means 14; a known kind with the wrong
	 * length is ignored; a bad TLV is rejected. */
	memcpy(f, syn_frame, sizeof(syn_frame));
	f[73] = 30;
	assert_int_equal(parse_copy(f, sizeof(syn_frame), &fi), 0);
	assert_int_equal(fi.tcp.wscale, 14);
	memcpy(f, syn_frame, sizeof(syn_frame));
	f[55] = 3, f[57] = 1; /* MSS of length 3, then a NOP */
	assert_int_equal(parse_copy(f, sizeof(syn_frame), &fi), 0);
	assert_int_equal(fi.tcp.mss, 0);
	assert_int_equal(fi.tcp.wscale, 7);
	memcpy(f, syn_frame, sizeof(syn_frame));
	f[54] = 30, f[55] = 4; /* unknown kind 30, length 4: skipped */
	assert_int_equal(parse_copy(f, sizeof(syn_frame), &fi), 0);
	assert_int_equal(fi.tcp.mss, 0);
	f[55] = 40; /* runs past the header */
	assert_int_equal(parse_copy(f, sizeof(syn_frame), &fi), -EINVAL);
	f[55] = 1;
	assert_int_equal(parse_copy(f, sizeof(syn_frame), &fi), -EINVAL);
}

/* Every strict prefix of a valid frame is truncated at some layer. */
static void truncate_all(const uint8_t *f, size_t len)
{
	struct frame_info fi;

	assert_int_equal(parse_copy(f, len, &fi), 0);
	for (size_t l = 0; l < len; l++) {
		int err = parse_copy(f, l, &fi);

		if (err != -EINVAL)
			fail_msg("prefix %zu of %zu: got %d", l, len, err);
	}
}

static void test_truncated_every_length(void **state)
{
	uint8_t buf[256];
	int n;

	(void)state;
	truncate_all(syn_frame, sizeof(syn_frame));
	truncate_all(arp_frame, sizeof(arp_frame));
	truncate_all(icmp_frame, sizeof(icmp_frame));
	n = build(buf, sizeof(buf), FRAME_IPPROTO_TCP, true, "payload!");
	truncate_all(buf, (size_t)n);
	n = build(buf, sizeof(buf), FRAME_IPPROTO_UDP, false, "dgram");
	truncate_all(buf, (size_t)n);
	assert_int_equal(frame_parse(NULL, 10, &(struct frame_info){0}),
			 -EINVAL);
	assert_int_equal(frame_parse(buf, (size_t)n, NULL), -EINVAL);
}

static void test_corrupt_lengths(void **state)
{
	uint8_t f[256], ok[256];
	struct frame_info fi;
	size_t n;

	(void)state;
	n = (size_t)build(ok, sizeof(ok), FRAME_IPPROTO_TCP, false, "abcdef");
#define RESET() memcpy(f, ok, n)
	/* IPv4 version, IHL too small and too large, total length. */
	RESET(), f[14] = 0x65;
	assert_int_equal(parse_copy(f, n, &fi), -EINVAL);
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		RESET(), f[14] = (uint8_t)(0x40 | ihl);
		assert_int_equal(parse_copy(f, n, &fi), -EINVAL);
	}
	RESET(), f[14] = 0x4f; /* 60-byte header: options then garbage */
	assert_int_not_equal(parse_copy(f, n, &fi), 0);
	RESET(), f[16] = 0, f[17] = 19; /* total < header */
	assert_int_equal(parse_copy(f, n, &fi), -EINVAL);
	RESET(), f[16] = 0, f[17] = (uint8_t)(n - 14 + 1); /* > captured */
	assert_int_equal(parse_copy(f, n, &fi), -EINVAL);
	RESET(), f[16] = 0xff, f[17] = 0xff;
	assert_int_equal(parse_copy(f, n, &fi), -EINVAL);
	/* Total length that cuts TCP's header short. */
	RESET(), f[16] = 0, f[17] = 20 + 19;
	assert_int_equal(parse_copy(f, n, &fi), -EINVAL);
	assert_int_equal(fi.l3, FRAME_L3_IPV4); /* the layer that parsed */
	assert_int_equal(fi.l4, FRAME_L4_NONE);
	/* TCP data offset below 5 and beyond the segment. */
	for (uint8_t doff = 0; doff < 5; doff++) {
		RESET(), f[46] = (uint8_t)(doff << 4);
		assert_int_equal(parse_copy(f, n, &fi), -EINVAL);
	}
	RESET(), f[46] = 0xf0;
	assert_int_equal(parse_copy(f, n, &fi), -EINVAL);
	/* UDP length below 8, beyond the datagram; shorter is trimmed. */
	n = (size_t)build(ok, sizeof(ok), FRAME_IPPROTO_UDP, false, "abcdef");
	RESET(), f[38] = 0, f[39] = 7;
	assert_int_equal(parse_copy(f, n, &fi), -EINVAL);
	RESET(), f[38] = 0, f[39] = 15;
	assert_int_equal(parse_copy(f, n, &fi), -EINVAL);
	RESET(), f[38] = 0, f[39] = 10;
	assert_int_equal(parse_copy(f, n, &fi), 0);
	assert_int_equal(fi.udp.payload_len, 2);
	/* ICMP shorter than its 8-byte header. */
	memcpy(f, icmp_frame, sizeof(icmp_frame));
	f[17] = 20 + 7;
	assert_int_equal(parse_copy(f, sizeof(icmp_frame), &fi), -EINVAL);
	/* ARP: fixed part says Ethernet/IPv4 but the frame is short. */
	assert_int_equal(parse_copy(arp_frame, 14 + 27, &fi), -EINVAL);
#undef RESET
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void test_random_corruption(void **state)
{
	uint8_t ok[256], f[256];
	struct frame_info fi;
	uint64_t seed = 0x5eed;
	size_t n;

	(void)state;
	n = (size_t)build(ok, sizeof(ok), FRAME_IPPROTO_TCP, true, "corrupt");
	for (int i = 0; i < 20000; i++) {
		size_t len = n - rnd(&seed) % 8;

		memcpy(f, ok, n);
		for (int k = 0; k < 1 + (int)(rnd(&seed) % 4); k++)
			f[rnd(&seed) % n] = (uint8_t)rnd(&seed);
		(void)parse_copy(f, len, &fi); /* asserts the invariants */
	}
}

static void test_flow_key(void **state)
{
	uint8_t buf[256];
	struct frame_spec s = {
	    .src_ip = GUEST_IP,
	    .dst_ip = CLIENT_IP,
	    .proto = FRAME_IPPROTO_TCP,
	    .sport = 6379,
	    .dport = 40000,
	    .flags = FRAME_TCP_ACK,
	};
	struct frame_info in, out;
	struct flow_key k1, k2;
	enum frame_dir d;
	int n;

	(void)state;
	n = build(buf, sizeof(buf), FRAME_IPPROTO_TCP, false, "q");
	assert_int_equal(frame_parse(buf, (size_t)n, &in), 0);
	assert_int_equal(frame_flow_key(&in, GUEST_IP, &k1, &d), 0);
	assert_int_equal(d, FRAME_DIR_TO_GUEST);
	assert_int_equal(k1.client_ip, CLIENT_IP);
	assert_int_equal(k1.guest_ip, GUEST_IP);
	assert_int_equal(k1.client_port, 40000);
	assert_int_equal(k1.guest_port, 6379);
	assert_int_equal(k1.proto, FRAME_IPPROTO_TCP);

	n = frame_build(buf, sizeof(buf), &s);
	assert_int_equal(frame_parse(buf, (size_t)n, &out), 0);
	assert_int_equal(frame_flow_key(&out, GUEST_IP, &k2, &d), 0);
	assert_int_equal(d, FRAME_DIR_FROM_GUEST);
	assert_true(flow_key_equal(&k1, &k2));

	/* Not the guest's, not TCP/UDP. */
	assert_int_equal(frame_flow_key(&out, IP(10, 0, 0, 9), &k2, &d),
			 -ENOENT);
	assert_int_equal(frame_parse(arp_frame, sizeof(arp_frame), &out), 0);
	assert_int_equal(frame_flow_key(&out, GUEST_IP, &k2, &d), -ENOENT);
	assert_int_equal(frame_parse(icmp_frame, sizeof(icmp_frame), &out), 0);
	assert_int_equal(frame_flow_key(&out, GUEST_IP, &k2, NULL), -ENOENT);
}

static void test_checksum(void **state)
{
	uint8_t f[sizeof(syn_frame)];
	struct frame_info fi;

	(void)state;
	/* RFC 1071's example words: 0x0001 f203 f4f5 f6f7 -> sum 0xddf2. */
	assert_int_equal(
	    frame_inet_checksum((const uint8_t[]){0x00, 0x01, 0xf2, 0x03, 0xf4,
						  0xf5, 0xf6, 0xf7},
				8, 0),
	    (uint16_t)~0xddf2);
	memcpy(f, syn_frame, sizeof(f));
	f[22] ^= 1; /* TTL */
	assert_int_equal(frame_parse(f, sizeof(f), &fi), 0);
	assert_false(frame_ipv4_checksum_ok(&fi));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_syn_fields),
	    cmocka_unit_test(test_builder_matches_reference),
	    cmocka_unit_test(test_tcp_udp_vlan_roundtrip),
	    cmocka_unit_test(test_arp_icmp_other),
	    cmocka_unit_test(test_double_tag_and_fragments),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_truncated_every_length),
	    cmocka_unit_test(test_corrupt_lengths),
	    cmocka_unit_test(test_random_corruption),
	    cmocka_unit_test(test_flow_key),
	    cmocka_unit_test(test_checksum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
