/* SPDX-License-Identifier: MIT */
/*
 * Per-flow TCP state of the guest's connections (docs/netstate.md).
 *
 * A bounded hash table of flows keyed by the 4-tuple (client ip:port <->
 * guest ip:port, the same key for both directions). Each TCP flow keeps,
 * per direction, the sender's sequence space as seen in the frames shown
 * to the table (highest sequence end, holes below it, ISN, FIN, RST) and
 * what that sender acknowledged of the other side, so that:
 *
 *   guest.seq_end_max   is the guest's snd_max (highest seq end it sent),
 *   client.ack_max      is the client's highest ACK of guest bytes,
 *   client.seq_end_max  is the client's highest seq end (the rcv side).
 *
 * Every comparison of sequence or acknowledgment numbers uses 32-bit
 * serial arithmetic (RFC 1982, as TCP does): a < b iff (int32_t)(a - b)
 * < 0, so a connection keeps working across the 2^32 wrap.
 *
 * Limit policy: the table holds at most max_flows flows (memory fixed at
 * init). When a new flow does not fit, the least recently used flow that
 * is closing (a FIN or RST seen in either direction) or is UDP is evicted;
 * if there is none, the new flow is refused (-ENOSPC, counted in
 * `refused`) and the existing, live ones are kept: losing state about a
 * live connection is worse than not tracking a new one.
 *
 * Not thread-safe: one caller at a time.
 */
#ifndef RRVM_NETSTATE_FLOW_H
#define RRVM_NETSTATE_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netstate/frame.h"

static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

static inline bool seq_gt(uint32_t a, uint32_t b)
{
	return seq_lt(b, a);
}

static inline bool seq_geq(uint32_t a, uint32_t b)
{
	return seq_leq(b, a);
}

static inline uint32_t seq_max(uint32_t a, uint32_t b)
{
	return seq_lt(a, b) ? b : a;
}

#define FLOW_TABLE_MAX_FLOWS (1u << 20)
#define FLOW_MAX_HOLES	     4
/* ack_min is kept within this distance below ack_max. */
#define FLOW_ACK_SPAN_MAX (1u << 30)

/* What one TCP segment was, relative to what its sender sent before. */
enum flow_seg_class {
	FLOW_SEG_EMPTY = 0, /* no sequence space (pure ACK, RST) */
	FLOW_SEG_FIRST,	    /* first segment seen in this direction */
	FLOW_SEG_IN_ORDER,  /* starts exactly at the highest end */
	FLOW_SEG_AHEAD,	    /* starts beyond it: leaves a hole */
	FLOW_SEG_FILL,	    /* fills (part of) a hole: out-of-order arrival */
	FLOW_SEG_OVERLAP,   /* partly seen before, extends the end */
	FLOW_SEG_RETRANS,   /* entirely seen before */
};

/* A range of sequence space [lo, hi) below seq_end_max never seen. */
struct flow_hole {
	uint32_t lo, hi;
};

/* One direction of a TCP flow: its sender's sequence space and ACKs. */
struct flow_half {
	bool seq_known; /* seq_end_max is valid */
	bool syn, fin, rst;
	uint32_t isn;	      /* valid with syn */
	uint32_t seq_end_max; /* highest seq + len (SYN and FIN count one) */
	uint32_t fin_seq;     /* valid with fin */
	bool ack_known;	      /* the ack_* fields are valid */
	uint32_t ack_max;     /* highest ACK (serial) */
	uint32_t ack_min;     /* lowest, at most FLOW_ACK_SPAN_MAX below */
	uint32_t first_ack;   /* first ACK seen (completes a handshake) */
	uint16_t window;      /* last window as sent, not scaled */
	int8_t wscale;	      /* from this side's SYN; -1: none seen */
	uint8_t nholes;
	bool holes_lost; /* more holes than FLOW_MAX_HOLES at some point */
	struct flow_hole holes[FLOW_MAX_HOLES];
	uint64_t segs, bytes; /* payload bytes, retransmissions included */
	uint64_t retrans;     /* RETRANS and OVERLAP segments */
	uint64_t ahead, fills, dup_acks, isn_changes;
};

struct flow {
	struct flow_key key;
	struct flow_half client; /* client -> guest */
	struct flow_half guest;	 /* guest -> client */
	uint64_t frames;	 /* both directions */
	uint32_t incarnations;	 /* 4-tuple reused by a new SYN */
	void *user;		 /* the table's per-flow user area */
	/* table internals */
	uint32_t idx, hnext, prev, next;
	uint8_t list;
	bool used;
};

struct flow_table {
	uint32_t guest_ip; /* network byte order */
	uint32_t max_flows, nbuckets, count;
	size_t user_size;
	void (*release)(void *user);
	struct flow *flows;
	uint8_t *user_mem;
	uint32_t *buckets;
	uint32_t free_head;
	uint32_t head[2], tail[2]; /* LRU lists: 0 live, 1 evictable */
	uint64_t created, evicted, refused, reincarnated;
};

/*
 * Set up a table for the guest at guest_ip holding at most max_flows
 * flows (1..FLOW_TABLE_MAX_FLOWS), each with a zeroed user area of
 * user_size bytes (may be 0). release(user), if not NULL, is called
 * before a flow's user area is reused or freed (eviction, reincarnation,
 * flow_table_free) so the owner can free what it hangs there.
 * Returns 0, -EINVAL or -ENOMEM.
 */
int flow_table_init(struct flow_table *t, uint32_t guest_ip, uint32_t max_flows,
		    size_t user_size, void (*release)(void *user));
void flow_table_free(struct flow_table *t);

/* The flow for key, or NULL. Does not change LRU order. */
struct flow *flow_table_find(struct flow_table *t, const struct flow_key *key);

/* The flow for key, created (zeroed) if needed under the limit policy.
 * Returns 0 or -ENOSPC (refused, counted). Marks it most recently used. */
int flow_table_get(struct flow_table *t, const struct flow_key *key,
		   struct flow **out);

/*
 * Show the table one parsed frame of a guest TCP/UDP flow: creates the
 * flow if needed and updates the sending direction's state (client half
 * for TO_GUEST, guest half for FROM_GUEST). A client SYN without ACK
 * carrying a different ISN than the one recorded starts a new incarnation
 * of the 4-tuple (state and user area reset). out, dir and cls may be
 * NULL. Returns 0, -ENOENT (not a guest TCP/UDP frame) or -ENOSPC
 * (refused by the limit policy).
 */
int flow_table_observe(struct flow_table *t, const struct frame_info *fi,
		       struct flow **out, enum frame_dir *dir,
		       enum flow_seg_class *cls);

/* FIN or RST seen either way (a UDP flow is never closing, only
 * evictable). */
bool flow_is_closing(const struct flow *f);

/* Call fn on every flow in the table (in slot order). fn must not add or
 * remove flows. */
void flow_table_foreach(struct flow_table *t,
			void (*fn)(struct flow *f, void *arg), void *arg);

#endif
