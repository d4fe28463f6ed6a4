/* SPDX-License-Identifier: MIT */
/*
 * Flow table and per-direction TCP sequence tracking (netstate/flow.h).
 *
 * Memory is fixed at init: an array of max_flows slots, a bucket array of
 * chained slot indexes, and one user area per slot. Slots are linked on
 * one of two LRU lists (live / evictable) so that the limit policy is
 * O(1): evict the tail of the evictable list, or refuse.
 */
#include "netstate/flow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NONE	       UINT32_MAX
#define LIST_LIVE      0
#define LIST_EVICTABLE 1

static uint32_t key_hash(const struct flow_key *k)
{
	uint64_t h;

	/* Two multiplicative mixes and a final avalanche (splitmix64's):
	 * client ports are sequential and addresses share prefixes, so the
	 * low bits must depend on every input bit. */
	h = ((uint64_t)k->client_ip << 32 | k->guest_ip) *
	    0x9e3779b97f4a7c15ull;
	h ^= ((uint64_t)k->client_port << 24 | (uint64_t)k->guest_port << 8 |
	      k->proto) *
	     0xc2b2ae3d27d4eb4full;
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return (uint32_t)h;
}

static void *user_of(struct flow_table *t, uint32_t idx)
{
	return t->user_size ? t->user_mem + (size_t)idx * t->user_size : NULL;
}

int flow_table_init(struct flow_table *t, uint32_t guest_ip, uint32_t max_flows,
		    size_t user_size, void (*release)(void *user))
{
	uint32_t nb = 1;

	if (!t)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	if (max_flows == 0 || max_flows > FLOW_TABLE_MAX_FLOWS)
		return -EINVAL;
	/* Load factor <= 1/2: chains stay short without a resize path. */
	while (nb < 2 * max_flows)
		nb <<= 1;
	t->flows = calloc(max_flows, sizeof(*t->flows));
	t->buckets = malloc((size_t)nb * sizeof(*t->buckets));
	if (user_size)
		t->user_mem = calloc(max_flows, user_size);
	if (!t->flows || !t->buckets || (user_size && !t->user_mem)) {
		free(t->flows);
		free(t->buckets);
		free(t->user_mem);
		memset(t, 0, sizeof(*t));
		return -ENOMEM;
	}
	t->guest_ip = guest_ip;
	t->max_flows = max_flows;
	t->nbuckets = nb;
	t->user_size = user_size;
	t->release = release;
	for (uint32_t i = 0; i < nb; i++)
		t->buckets[i] = NONE;
	/* Free slots are chained through hnext. */
	for (uint32_t i = 0; i < max_flows; i++) {
		t->flows[i].idx = i;
		t->flows[i].hnext = i + 1 < max_flows ? i + 1 : NONE;
	}
	t->free_head = 0;
	t->head[0] = t->head[1] = t->tail[0] = t->tail[1] = NONE;
	return 0;
}

void flow_table_free(struct flow_table *t)
{
	if (!t || !t->flows)
		return;
	if (t->release)
		for (uint32_t i = 0; i < t->max_flows; i++)
			if (t->flows[i].used)
				t->release(t->flows[i].user);
	free(t->flows);
	free(t->buckets);
	free(t->user_mem);
	memset(t, 0, sizeof(*t));
}

bool flow_is_closing(const struct flow *f)
{
	return f->client.fin || f->client.rst || f->guest.fin || f->guest.rst;
}

static uint8_t list_for(const struct flow *f)
{
	return f->key.proto == FRAME_IPPROTO_UDP || flow_is_closing(f)
		   ? LIST_EVICTABLE
		   : LIST_LIVE;
}

static void lru_unlink(struct flow_table *t, struct flow *f)
{
	if (f->prev != NONE)
		t->flows[f->prev].next = f->next;
	else
		t->head[f->list] = f->next;
	if (f->next != NONE)
		t->flows[f->next].prev = f->prev;
	else
		t->tail[f->list] = f->prev;
	f->prev = f->next = NONE;
}

static void lru_push(struct flow_table *t, struct flow *f)
{
	uint8_t l = list_for(f);

	f->list = l;
	f->prev = NONE;
	f->next = t->head[l];
	if (t->head[l] != NONE)
		t->flows[t->head[l]].prev = f->idx;
	else
		t->tail[l] = f->idx;
	t->head[l] = f->idx;
}

/* Most recently used, and on the list its state now calls for. */
static void touch(struct flow_table *t, struct flow *f)
{
	lru_unlink(t, f);
	lru_push(t, f);
}

struct flow *flow_table_find(struct flow_table *t, const struct flow_key *key)
{
	uint32_t i;

	if (!t || !t->flows || !key)
		return NULL;
	for (i = t->buckets[key_hash(key) & (t->nbuckets - 1)]; i != NONE;
	     i = t->flows[i].hnext)
		if (flow_key_equal(&t->flows[i].key, key))
			return &t->flows[i];
	return NULL;
}

/* Zero a flow's state and user area, keeping key and table links. */
static void reset_state(struct flow_table *t, struct flow *f)
{
	if (t->release)
		t->release(f->user);
	if (f->user)
		memset(f->user, 0, t->user_size);
	memset(&f->client, 0, sizeof(f->client));
	memset(&f->guest, 0, sizeof(f->guest));
	f->client.wscale = f->guest.wscale = -1;
	f->frames = 0;
}

static void evict(struct flow_table *t, struct flow *f)
{
	uint32_t *pp = &t->buckets[key_hash(&f->key) & (t->nbuckets - 1)];

	while (*pp != f->idx)
		pp = &t->flows[*pp].hnext;
	*pp = f->hnext;
	lru_unlink(t, f);
	if (t->release)
		t->release(f->user);
	if (f->user)
		memset(f->user, 0, t->user_size);
	f->used = false;
	f->hnext = t->free_head;
	t->free_head = f->idx;
	t->count--;
	t->evicted++;
}

int flow_table_get(struct flow_table *t, const struct flow_key *key,
		   struct flow **out)
{
	struct flow *f;
	uint32_t b;

	if (!t || !t->flows || !key || !out)
		return -EINVAL;
	f = flow_table_find(t, key);
	if (f) {
		touch(t, f);
		*out = f;
		return 0;
	}
	if (t->free_head == NONE) {
		if (t->tail[LIST_EVICTABLE] == NONE) {
			t->refused++;
			return -ENOSPC;
		}
		evict(t, &t->flows[t->tail[LIST_EVICTABLE]]);
	}
	f = &t->flows[t->free_head];
	t->free_head = f->hnext;
	f->key = *key;
	f->used = true;
	f->incarnations = 0;
	f->user = user_of(t, f->idx);
	f->prev = f->next = NONE;
	/* Not reset_state(): evict() already released the previous owner's
	 * user area and zeroed it. */
	memset(&f->client, 0, sizeof(f->client));
	memset(&f->guest, 0, sizeof(f->guest));
	f->client.wscale = f->guest.wscale = -1;
	f->frames = 0;
	b = key_hash(key) & (t->nbuckets - 1);
	f->hnext = t->buckets[b];
	t->buckets[b] = f->idx;
	lru_push(t, f);
	t->count++;
	t->created++;
	*out = f;
	return 0;
}

static void hole_add(struct flow_half *h, uint32_t lo, uint32_t hi)
{
	if (h->nholes == FLOW_MAX_HOLES) {
		h->holes_lost = true;
		return;
	}
	h->holes[h->nholes].lo = lo;
	h->holes[h->nholes].hi = hi;
	h->nholes++;
}

/* Take [s, e) out of the holes (kept in ascending order); true if any
 * hole shrank. A hole split in two may not fit: then one is forgotten and
 * holes_lost says the gap record is incomplete. */
static bool hole_fill(struct flow_half *h, uint32_t s, uint32_t e)
{
	struct flow_hole keep[2 * FLOW_MAX_HOLES];
	unsigned n = 0;
	bool filled = false;

	for (unsigned i = 0; i < h->nholes; i++) {
		struct flow_hole x = h->holes[i];

		if (seq_leq(e, x.lo) || seq_geq(s, x.hi)) {
			keep[n++] = x;
			continue;
		}
		filled = true;
		if (seq_lt(x.lo, s))
			keep[n++] = (struct flow_hole){x.lo, s};
		if (seq_lt(e, x.hi))
			keep[n++] = (struct flow_hole){e, x.hi};
	}
	if (n > FLOW_MAX_HOLES) {
		h->holes_lost = true;
		n = FLOW_MAX_HOLES;
	}
	memcpy(h->holes, keep, n * sizeof(keep[0]));
	h->nholes = (uint8_t)n;
	return filled;
}

static void half_ack(struct flow_half *h, uint32_t ack, bool pure,
		     uint16_t prev_window, uint16_t window)
{
	if (!h->ack_known) {
		h->ack_known = true;
		h->ack_max = h->ack_min = h->first_ack = ack;
		return;
	}
	/* RFC 5681's duplicate ACK: nothing new, no data, same window. */
	if (pure && ack == h->ack_max && window == prev_window)
		h->dup_acks++;
	h->ack_max = seq_max(h->ack_max, ack);
	if (seq_lt(ack, h->ack_min))
		h->ack_min = ack;
	/* Serial comparisons are meaningless across half the space: keep
	 * [ack_min, ack_max] well inside it on long-lived flows. */
	if (h->ack_max - h->ack_min > FLOW_ACK_SPAN_MAX)
		h->ack_min = h->ack_max - FLOW_ACK_SPAN_MAX;
}

/* Account one segment sent by the side `h` describes. */
static enum flow_seg_class half_segment(struct flow_half *h,
					const struct frame_info *fi)
{
	uint32_t s = fi->tcp.seq, n = frame_tcp_seg_len(fi), e = s + n, end;
	uint8_t fl = fi->tcp.flags;
	uint16_t prev_window = h->window;
	bool pure = n == 0 && !(fl & FRAME_TCP_RST);

	h->segs++;
	h->bytes += fi->tcp.payload_len;
	h->window = fi->tcp.window;
	if (fl & FRAME_TCP_SYN) {
		/* A new ISN on this side (a SYN-ACK regenerated with another
		 * ISN): the old sequence record means nothing any more. */
		if (h->syn && s != h->isn) {
			h->isn_changes++;
			h->seq_known = false;
			h->nholes = 0;
			h->holes_lost = false;
			h->fin = false;
		}
		h->syn = true;
		h->isn = s;
		if (fi->tcp.wscale >= 0)
			h->wscale = fi->tcp.wscale;
	}
	if (fl & FRAME_TCP_ACK)
		half_ack(h, fi->tcp.ack, pure, prev_window, fi->tcp.window);
	if (fl & FRAME_TCP_FIN) {
		h->fin = true;
		h->fin_seq = e - 1;
	}
	if (fl & FRAME_TCP_RST) {
		/* An RST's sequence number occupies nothing, and one sent in
		 * reply to a stray segment can carry any value. */
		h->rst = true;
		return FLOW_SEG_EMPTY;
	}
	if (n == 0) {
		/* A pure ACK's seq is its sender's next sequence number:
		 * beyond what we saw means bytes we never saw. */
		if (!h->seq_known) {
			h->seq_known = true;
			h->seq_end_max = s;
		} else if (seq_gt(s, h->seq_end_max)) {
			hole_add(h, h->seq_end_max, s);
			h->seq_end_max = s;
			h->ahead++;
		}
		return FLOW_SEG_EMPTY;
	}
	if (!h->seq_known) {
		h->seq_known = true;
		h->seq_end_max = e;
		return FLOW_SEG_FIRST;
	}
	end = h->seq_end_max;
	if (s == end) {
		h->seq_end_max = e;
		return FLOW_SEG_IN_ORDER;
	}
	if (seq_gt(s, end)) {
		hole_add(h, end, s);
		h->seq_end_max = e;
		h->ahead++;
		return FLOW_SEG_AHEAD;
	}
	/* Starts below the end: a hole being filled, or a retransmission. */
	if (hole_fill(h, s, seq_lt(e, end) ? e : end)) {
		h->seq_end_max = seq_max(end, e);
		h->fills++;
		return FLOW_SEG_FILL;
	}
	h->retrans++;
	if (seq_gt(e, end)) {
		h->seq_end_max = e;
		return FLOW_SEG_OVERLAP;
	}
	return FLOW_SEG_RETRANS;
}

/* A connection opener (SYN without ACK) with a sequence number other than
 * the one this side opened with: the 4-tuple is being reused. */
static bool starts_incarnation(const struct flow_half *h,
			       const struct frame_info *fi)
{
	if ((fi->tcp.flags & (FRAME_TCP_SYN | FRAME_TCP_ACK)) != FRAME_TCP_SYN)
		return false;
	if (h->syn)
		return fi->tcp.seq != h->isn;
	return h->seq_known;
}

int flow_table_observe(struct flow_table *t, const struct frame_info *fi,
		       struct flow **out, enum frame_dir *dir,
		       enum flow_seg_class *cls)
{
	struct flow_key key;
	enum frame_dir d;
	enum flow_seg_class c = FLOW_SEG_EMPTY;
	struct flow *f;
	struct flow_half *h;
	int err;

	if (!t || !t->flows || !fi)
		return -EINVAL;
	if (frame_flow_key(fi, t->guest_ip, &key, &d))
		return -ENOENT;
	err = flow_table_get(t, &key, &f);
	if (err)
		return err;
	f->frames++;
	if (key.proto == FRAME_IPPROTO_TCP) {
		h = d == FRAME_DIR_TO_GUEST ? &f->client : &f->guest;
		if (starts_incarnation(h, fi)) {
			reset_state(t, f);
			f->incarnations++;
			f->frames = 1;
			t->reincarnated++;
		}
		c = half_segment(h, fi);
		touch(t, f); /* FIN/RST may have made it evictable */
	} else {
		f->client.segs += d == FRAME_DIR_TO_GUEST;
		f->guest.segs += d == FRAME_DIR_FROM_GUEST;
	}
	if (out)
		*out = f;
	if (dir)
		*dir = d;
	if (cls)
		*cls = c;
	return 0;
}

void flow_table_foreach(struct flow_table *t,
			void (*fn)(struct flow *f, void *arg), void *arg)
{
	if (!t || !t->flows || !fn)
		return;
	for (uint32_t i = 0; i < t->max_flows; i++)
		if (t->flows[i].used)
			fn(&t->flows[i], arg);
}
