/* SPDX-License-Identifier: MIT */
/*
 * Replay gating and duplicate-output suppression (netstate/replay_gate.h).
 *
 * Per flow the gate knows three lower bounds of what the guest has sent:
 * what the checkpoint had (committed frames), what the resumed guest has
 * sent since (the flow table's guest half: seq end of data, or the seq of
 * a pure ACK, which is the sender's snd_nxt and so also covers bytes sent
 * before the checkpoint), and what a timeout or idle release made it
 * presume. A replayed client segment passes when its ACK is within any.
 */
#include "netstate/replay_gate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "netstate/replay_priv.h"

int replay_gate_init(struct replay_gate *g, uint32_t guest_ip,
		     uint32_t max_flows)
{
	int err;

	if (!g)
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	err = flow_table_init(&g->flows, guest_ip, max_flows,
			      sizeof(struct gate_flow), gate_flow_release);
	if (err)
		return err;
	g->timeout_ns = REPLAY_GATE_DEFAULT_TIMEOUT_NS;
	g->orig_window = REPLAY_GATE_DEFAULT_ORIG_WINDOW;
	return 0;
}

void replay_gate_free(struct replay_gate *g)
{
	if (!g)
		return;
	flow_table_free(&g->flows);
	memset(g, 0, sizeof(*g));
}

void replay_gate_set_timeout(struct replay_gate *g, uint64_t timeout_ns)
{
	g->timeout_ns = timeout_ns;
}

void replay_gate_set_orig_window(struct replay_gate *g, uint32_t bytes)
{
	g->orig_window = bytes > REPLAY_GATE_MAX_ORIG_WINDOW
			     ? REPLAY_GATE_MAX_ORIG_WINDOW
			     : bytes;
}

bool gate_sent_covers(const struct flow *f, const struct gate_flow *gf,
		      uint32_t a, bool with_presumed)
{
	if (gf->committed_known && seq_leq(a, gf->committed))
		return true;
	if (f->guest.seq_known && seq_leq(a, f->guest.seq_end_max))
		return true;
	return with_presumed && gf->presumed_known && seq_leq(a, gf->presumed);
}

static void raise_bound(bool *known, uint32_t *bound, uint32_t v)
{
	*bound = *known ? seq_max(*bound, v) : v;
	*known = true;
}

/* FNV-1a: identifies the waiting frame across calls without keeping a
 * pointer into the caller's buffer. */
static uint64_t frame_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* Parse and key a frame; 0 only for TCP of a guest flow in direction
 * `want`. Counts what it rejects. */
static int classify(struct replay_gate *g, const uint8_t *frame, size_t len,
		    enum frame_dir want, struct frame_info *fi)
{
	struct flow_key key;
	enum frame_dir dir;

	if (frame_parse(frame, len, fi)) {
		g->a.frames_ignored++;
		return -EINVAL;
	}
	if (frame_flow_key(fi, g->flows.guest_ip, &key, &dir) ||
	    key.proto != FRAME_IPPROTO_TCP || dir != want) {
		g->a.frames_ignored++;
		return -ENOENT;
	}
	return 0;
}

int replay_gate_note_committed(struct replay_gate *g, const uint8_t *frame,
			       size_t len)
{
	struct frame_info fi;
	struct flow_key key;
	enum frame_dir dir;
	struct gate_flow *gf;
	struct flow *f;
	int err;

	g->a.frames_committed++;
	if (frame_parse(frame, len, &fi)) {
		g->a.frames_ignored++;
		return -EINVAL;
	}
	if (frame_flow_key(&fi, g->flows.guest_ip, &key, &dir) ||
	    key.proto != FRAME_IPPROTO_TCP) {
		g->a.frames_ignored++;
		return -ENOENT;
	}
	if (dir == FRAME_DIR_FROM_GUEST) {
		/* Not shown to the flow table: its guest half describes the
		 * resumed guest only. */
		err = flow_table_get(&g->flows, &key, &f);
		if (err)
			return err;
		gf = f->user;
		raise_bound(&gf->committed_known, &gf->committed,
			    fi.tcp.seq + frame_tcp_seg_len(&fi));
		return 0;
	}
	err = flow_table_observe(&g->flows, &fi, &f, NULL, NULL);
	if (err)
		return err;
	gf = f->user;
	if (fi.tcp.flags & FRAME_TCP_ACK)
		raise_bound(&gf->committed_known, &gf->committed, fi.tcp.ack);
	if (!(fi.tcp.flags & FRAME_TCP_RST))
		raise_bound(&gf->committed_rcv_known, &gf->committed_rcv,
			    fi.tcp.seq + frame_tcp_seg_len(&fi));
	return 0;
}

int replay_gate_note_logged(struct replay_gate *g, const uint8_t *frame,
			    size_t len)
{
	struct frame_info fi;
	struct flow *f;
	int err;

	g->a.frames_logged++;
	err = classify(g, frame, len, FRAME_DIR_TO_GUEST, &fi);
	if (err)
		return err;
	err = flow_table_observe(&g->flows, &fi, &f, NULL, NULL);
	if (err)
		return err;
	((struct gate_flow *)f->user)->logged++;
	return 0;
}

int replay_gate_note_original_output(struct replay_gate *g,
				     const uint8_t *frame, size_t len)
{
	struct frame_info fi;
	struct flow_key key;
	struct gate_flow *gf;
	struct flow *f;
	int err;

	g->a.frames_original++;
	err = classify(g, frame, len, FRAME_DIR_FROM_GUEST, &fi);
	if (err)
		return err;
	if (!fi.tcp.payload_len || !g->orig_window)
		return 0;
	frame_flow_key(&fi, g->flows.guest_ip, &key, NULL);
	err = flow_table_get(&g->flows, &key, &f);
	if (err)
		return err;
	gf = f->user;
	/* Data in a SYN starts one past its sequence number. */
	return gate_orig_add(&gf->orig, g->orig_window,
			     fi.tcp.seq + !!(fi.tcp.flags & FRAME_TCP_SYN),
			     fi.tcp.payload, fi.tcp.payload_len);
}

void replay_gate_note_guest_idle(struct replay_gate *g)
{
	g->guest_idle = true;
}

static enum replay_decision deliver(struct replay_gate *g,
				    const struct frame_info *fi,
				    struct gate_flow *gf, uint64_t now_ns)
{
	if (g->pending) {
		if (now_ns > g->pending_since)
			g->a.gate_wait_ns += now_ns - g->pending_since;
		g->pending = false;
	}
	g->guest_idle = false; /* it is about to get input */
	g->a.frames_replayed++;
	if (fi && fi->l4 == FRAME_L4_TCP)
		g->a.bytes_replayed += fi->tcp.payload_len;
	if (gf)
		gf->replayed++;
	return REPLAY_DELIVER;
}

/* Whether the frame now checked is the one that was waiting. */
static bool is_pending(const struct replay_gate *g, const uint8_t *frame,
		       size_t len)
{
	return g->pending && g->pending_len == len &&
	       g->pending_hash == frame_hash(frame, len);
}

enum replay_decision replay_gate_check(struct replay_gate *g,
				       const uint8_t *frame, size_t len,
				       uint64_t now_ns, uint64_t *deadline_ns)
{
	struct frame_info fi;
	struct flow_key key;
	enum frame_dir dir;
	struct gate_flow *gf;
	struct flow *f;
	uint64_t deadline;
	uint32_t a;

	if (deadline_ns)
		*deadline_ns = now_ns;
	if (frame_parse(frame, len, &fi)) {
		g->a.frames_unparsed++;
		return deliver(g, NULL, NULL, now_ns);
	}
	if (frame_flow_key(&fi, g->flows.guest_ip, &key, &dir) ||
	    key.proto != FRAME_IPPROTO_TCP || dir != FRAME_DIR_TO_GUEST)
		return deliver(g, &fi, NULL, now_ns);
	if (flow_table_get(&g->flows, &key, &f)) {
		/* No state can be kept for it: waiting would only ever end
		 * in the timeout, so do not make it wait. */
		g->a.frames_ungated++;
		return deliver(g, &fi, NULL, now_ns);
	}
	gf = f->user;
	if ((fi.tcp.flags & FRAME_TCP_SYN) || !(fi.tcp.flags & FRAME_TCP_ACK))
		return deliver(g, &fi, gf, now_ns);

	a = fi.tcp.ack;
	if (gate_sent_covers(f, gf, a, true)) {
		if (is_pending(g, frame, len))
			g->a.gate_released++;
		return deliver(g, &fi, gf, now_ns);
	}
	if (!is_pending(g, frame, len)) {
		g->pending = true;
		g->pending_hash = frame_hash(frame, len);
		g->pending_len = len;
		g->pending_since = now_ns;
		g->a.gate_waits++;
	}
	if (g->guest_idle) {
		/* The guest has nothing more to say: the bytes up to A went
		 * out before the checkpoint and wait in its retransmission
		 * queue. Waiting longer would only add latency. */
		raise_bound(&gf->presumed_known, &gf->presumed, a);
		g->a.gate_idle_releases++;
		return deliver(g, &fi, gf, now_ns);
	}
	deadline = g->pending_since + g->timeout_ns;
	if (now_ns >= deadline) {
		/* Most likely the same: bytes sent before the checkpoint
		 * that the resumed guest will only retransmit after its RTO.
		 * Presume them sent so the flow's next frames do not each
		 * pay the timeout again. */
		raise_bound(&gf->presumed_known, &gf->presumed, a);
		g->a.gate_timeouts++;
		gf->timeouts++;
		log_debug("netstate: gate timeout on port %u->%u, ack %u "
			  "(guest sent %s%u, checkpoint %s%u)",
			  fi.tcp.sport, fi.tcp.dport, a,
			  f->guest.seq_known ? "" : "?", f->guest.seq_end_max,
			  gf->committed_known ? "" : "?", gf->committed);
		return deliver(g, &fi, gf, now_ns);
	}
	if (deadline_ns)
		*deadline_ns = deadline;
	return REPLAY_WAIT;
}

static enum output_decision forward(struct replay_gate *g,
				    const struct frame_info *fi)
{
	g->a.outputs_forwarded++;
	if (fi && fi->l4 == FRAME_L4_TCP)
		g->a.bytes_forwarded += fi->tcp.payload_len;
	return OUTPUT_FORWARD;
}

enum output_decision replay_gate_guest_output(struct replay_gate *g,
					      const uint8_t *frame, size_t len)
{
	struct frame_info fi;
	struct flow_key key;
	enum frame_dir dir;
	struct gate_flow *gf;
	struct flow *f;
	uint32_t s, e;

	g->a.outputs++;
	if (frame_parse(frame, len, &fi))
		return forward(g, NULL);
	if (frame_flow_key(&fi, g->flows.guest_ip, &key, &dir) ||
	    key.proto != FRAME_IPPROTO_TCP || dir != FRAME_DIR_FROM_GUEST)
		return forward(g, &fi);
	if (flow_table_observe(&g->flows, &fi, &f, NULL, NULL))
		return forward(g, &fi);
	gf = f->user;

	/* The client's handshake ACK names the ISN it saw: a regenerated
	 * SYN with another one starts a stream the client cannot follow.
	 * A guest SYN the client's record cannot vouch for (no client SYN
	 * seen: e.g. a new connection on a reused 4-tuple after replay)
	 * is a new sequence space too. Either way the client's ACKs say
	 * nothing about it any more, and suppressing by them could drop
	 * bytes nobody acknowledged. */
	if (fi.tcp.flags & FRAME_TCP_SYN) {
		bool known = f->client.syn && f->client.ack_known;

		if (known && fi.tcp.seq + 1 != f->client.first_ack &&
		    !gf->isn_mismatch) {
			gf->isn_mismatch = true;
			log_debug("netstate: guest port %u regenerated ISN "
				  "%u, client acknowledged ISN %u",
				  fi.tcp.sport, fi.tcp.seq,
				  f->client.first_ack - 1);
		}
		if (!f->client.syn || gf->isn_mismatch)
			gf->no_suppress = true;
	}
	s = fi.tcp.seq + !!(fi.tcp.flags & FRAME_TCP_SYN);
	e = s + fi.tcp.payload_len;
	if (fi.tcp.payload_len)
		gate_orig_compare(gf, s, fi.tcp.payload, fi.tcp.payload_len);

	/* Never drop a byte the client has not acknowledged, nor any
	 * control flag (the client needs FIN/RST; a stale SYN is answered
	 * harmlessly). [ack_min, ack_max] keeps the comparison inside the
	 * part of the sequence space the client's ACKs actually covered. */
	if (fi.tcp.payload_len && !gf->no_suppress &&
	    !(fi.tcp.flags & (FRAME_TCP_SYN | FRAME_TCP_FIN | FRAME_TCP_RST)) &&
	    f->client.ack_known && seq_leq(e, f->client.ack_max) &&
	    seq_geq(s, f->client.ack_min)) {
		g->a.outputs_suppressed++;
		g->a.bytes_suppressed += fi.tcp.payload_len;
		return OUTPUT_SUPPRESS;
	}
	return forward(g, &fi);
}
