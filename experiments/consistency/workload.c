/* SPDX-License-Identifier: MIT */
/*
 * The two workloads. incr: INCR on one counter, every reply judged by the
 * sequence checker. keys: SET of unique keys, acknowledged ones read back
 * with MGET now and then and all of them at the end. Each runs on its own
 * connection; the poll loop in client.c calls these hooks.
 */
#include "client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csv_line(struct run *r, uint64_t t, const char *what, long long value,
	      uint64_t latency)
{
	if (r->csv)
		fprintf(r->csv, "%llu,%s,%lld,%llu\n", (unsigned long long)t,
			what, value, (unsigned long long)latency);
}

/* ---------------------------------------------------------------- incr */

static int send_simple(struct conn *c, enum req_kind kind, const char *cmd,
		       const char *key, uint64_t now)
{
	const char *argv[2] = { cmd, key };
	size_t argl[2] = { strlen(cmd), strlen(key) };
	struct pending p = { .kind = kind };

	return conn_send_cmd(c, &p, 2, argv, argl, now);
}

static int incr_on_up(struct run *r, uint64_t now)
{
	struct conn *c = &r->modes[MODE_INCR].conns[0];

	/*
	 * Read the starting value once, so the run works on a store that
	 * already has data. After a reconnect the INCR replies themselves
	 * tell whether the value survived.
	 */
	if (r->incr_running)
		return 0;
	return send_simple(c, REQ_GET, "GET", r->opt->key, now);
}

static int incr_pump(struct run *r, uint64_t now)
{
	struct conn *c = &r->modes[MODE_INCR].conns[0];
	int err;

	if (!r->incr_running || r->stopping || c->state != CONN_UP)
		return 0;
	while (c->q_len < r->opt->pipeline) {
		err = send_simple(c, REQ_INCR, "INCR", r->opt->key, now);
		if (err)
			return err;
		r->requests++;
	}
	return 0;
}

/* A counter's value as GET returns it: a bulk string holding an integer. */
static int bulk_to_ll(const struct reply *rep, long long *out)
{
	char *end;

	if (rep->type != REPLY_BULK || rep->len == 0 || rep->len > 20)
		return -EINVAL;
	errno = 0;
	*out = strtoll(rep->str, &end, 10);
	if (errno || *end != '\0')
		return -EINVAL;
	return 0;
}

static void incr_judge(struct run *r, long long value, uint64_t now)
{
	uint64_t slack = r->seq.slack;
	long long want;

	switch (seq_check(&r->seq, value, &want)) {
	case SEQ_OK:
		break;
	case SEQ_GAP:
		if (slack)
			violation(r, VIOL_GAP, "incr",
				  "expected %lld..%lld, got %lld: "
				  "acknowledged increments lost",
				  want, want + (long long)slack, value);
		else
			violation(r, VIOL_GAP, "incr",
				  "expected %lld, got %lld: %lld "
				  "acknowledged increments lost",
				  want, value, value - want);
		break;
	case SEQ_REPEAT:
		violation(r, VIOL_REPEAT, "incr",
			  "expected %lld, got %lld again: an "
			  "acknowledged increment was undone",
			  want, value);
		break;
	case SEQ_DECREASE:
		violation(r, VIOL_REPEAT, "incr",
			  "expected %lld, got %lld: counter went back "
			  "by %lld", want, value, want - value);
		break;
	}
}

static int incr_on_reply(struct run *r, const struct pending *p,
			 const struct reply *rep, uint64_t now)
{
	char what[96];
	long long base = 0;

	reply_describe(rep, what, sizeof(what));
	if (p->kind == REQ_GET) {
		if (rep->type != REPLY_NIL && bulk_to_ll(rep, &base)) {
			fprintf(stderr, "consistency-client: GET %s: %s is not "
				"a counter; pick another --key\n", r->opt->key,
				what);
			return -EINVAL;
		}
		r->base = base;
		r->have_base = true;
		r->incr_running = true;
		seq_init(&r->seq, base);
		note(r, "incr: %s starts at %lld", r->opt->key, base);
		return 0;
	}

	r->replies++;
	lat_record(r->incr_lat, now - p->sent_ns);
	if (rep->type != REPLY_INTEGER) {
		violation(r, VIOL_PROTOCOL, "incr",
			  "INCR answered %s",
			  what);
		return 0;
	}
	csv_line(r, now, "incr", rep->integer, now - p->sent_ns);
	incr_judge(r, rep->integer, now);
	return 0;
}

static void incr_on_lost(struct run *r, const struct pending *p)
{
	/* Sent, maybe applied, never answered: the next reply may skip it. */
	if (p->kind == REQ_INCR)
		seq_allow_inflight(&r->seq, 1);
}

static bool incr_done(struct run *r)
{
	struct conn *c = &r->modes[MODE_INCR].conns[0];

	return c->state != CONN_UP || c->q_len == 0;
}

const struct mode_ops incr_ops = {
	.name = "incr",
	.on_up = incr_on_up,
	.pump = incr_pump,
	.on_reply = incr_on_reply,
	.on_lost = incr_on_lost,
	.done = incr_done,
};

/* ---------------------------------------------------------------- keys */

static int keys_send_set(struct run *r, struct conn *c, uint64_t now)
{
	char key[80], value[96];
	const char *argv[3] = { "SET", key, value };
	size_t argl[3];
	struct pending p = { .kind = REQ_SET, .n = r->next_n };
	int err;

	argl[0] = 3;
	argl[1] = (size_t)keytrack_key(&r->kt, p.n, key, sizeof(key));
	argl[2] = (size_t)keytrack_value(&r->kt, p.n, value, sizeof(value));
	err = conn_send_cmd(c, &p, 3, argv, argl, now);
	if (err)
		return err;
	r->next_n++;
	r->requests++;
	return 0;
}

/* MGET the keys in ns[0..count); final marks the end-of-run read-back. */
static int keys_send_mget(struct run *r, struct conn *c, const uint64_t *ns,
			  size_t count, bool final, uint64_t now)
{
	static char names[MGET_BATCH][80];
	const char *argv[MGET_BATCH + 1];
	size_t argl[MGET_BATCH + 1];
	struct pending p = { .kind = REQ_MGET, .n = final, .nkeys = count };
	int err;

	if (count == 0 || count > MGET_BATCH)
		return -EINVAL;
	p.keys = malloc(count * sizeof(*p.keys));
	if (!p.keys)
		return -ENOMEM;
	memcpy(p.keys, ns, count * sizeof(*p.keys));
	argv[0] = "MGET";
	argl[0] = 4;
	for (size_t i = 0; i < count; i++) {
		argv[i + 1] = names[i];
		argl[i + 1] = (size_t)keytrack_key(&r->kt, ns[i], names[i],
						   sizeof(names[i]));
	}
	err = conn_send_cmd(c, &p, (int)count + 1, argv, argl, now);
	if (err) {
		free(p.keys);
		return err;
	}
	r->verify_busy = true;
	return 0;
}

static int keys_on_up(struct run *r, uint64_t now)
{
	return 0; /* nothing to set up; a lost read-back is redone by pump */
}

static int keys_pump(struct run *r, uint64_t now)
{
	struct conn *c = &r->modes[MODE_KEYS].conns[0];
	uint64_t ns[MGET_BATCH];
	size_t count = 0;
	int err;

	if (c->state != CONN_UP || r->verify_busy)
		return 0;
	if (r->stopping) {
		/* Every acknowledged key, once the last SETs are answered. */
		if (r->final_done || c->q_len)
			return 0;
		for (uint64_t n = keytrack_next_acked(&r->kt, r->final_cursor);
		     n != UINT64_MAX && count < MGET_BATCH;
		     n = keytrack_next_acked(&r->kt, n + 1))
			ns[count++] = n;
		if (!count) {
			r->final_done = true;
			return 0;
		}
		return keys_send_mget(r, c, ns, count, true, now);
	}
	if (r->verify_due) {
		/* Read back after the SETs in flight: replies stay in order. */
		if (c->q_len)
			return 0;
		count = keytrack_sample(&r->kt, ns,
					r->opt->verify_sample < MGET_BATCH ?
					r->opt->verify_sample : MGET_BATCH,
					&r->rng);
		if (!count) {
			r->verify_due = false;
			return 0;
		}
		return keys_send_mget(r, c, ns, count, false, now);
	}
	while (c->q_len < r->opt->pipeline) {
		err = keys_send_set(r, c, now);
		if (err)
			return err;
	}
	return 0;
}

static void keys_check_mget(struct run *r, const struct pending *p,
			    const struct reply *rep, uint64_t now)
{
	char key[80], what[96];

	if (rep->type != REPLY_ARRAY || rep->nelem != p->nkeys) {
		reply_describe(rep, what, sizeof(what));
		violation(r, VIOL_PROTOCOL, "keys",
			  "MGET of %zu keys answered %s",
			  p->nkeys, what);
		return;
	}
	for (size_t i = 0; i < p->nkeys; i++) {
		enum key_verdict v = keytrack_verify(&r->kt, p->keys[i],
						     &rep->elem[i]);

		if (v == KEY_OK)
			continue;
		keytrack_key(&r->kt, p->keys[i], key, sizeof(key));
		reply_describe(&rep->elem[i], what, sizeof(what));
		violation(r, VIOL_LOST_WRITE, "keys",
			  "acknowledged %s %s (read back %s)",
			  key,
			  v == KEY_MISSING ? "is missing" : "has a wrong value",
			  what);
	}
}

static int keys_on_reply(struct run *r, const struct pending *p,
			 const struct reply *rep, uint64_t now)
{
	char what[96];
	int err;

	if (p->kind == REQ_MGET) {
		r->verify_busy = false;
		keys_check_mget(r, p, rep, now);
		if (p->n) /* final: move on past the batch just checked */
			r->final_cursor = p->keys[p->nkeys - 1] + 1;
		else
			r->verify_due = false;
		return 0;
	}

	r->replies++;
	lat_record(r->set_lat, now - p->sent_ns);
	if (!reply_is_ok(rep)) {
		/* Not acknowledged, so not tracked: but never expected. */
		reply_describe(rep, what, sizeof(what));
		violation(r, VIOL_PROTOCOL, "keys", "SET #%llu answered %s",
			  (unsigned long long)p->n,
			  what);
		return 0;
	}
	err = keytrack_ack(&r->kt, p->n);
	if (err)
		return err;
	csv_line(r, now, "set", (long long)p->n, now - p->sent_ns);
	if (r->opt->verify_every && ++r->since_verify >= r->opt->verify_every) {
		r->since_verify = 0;
		r->verify_due = true;
	}
	return 0;
}

static void keys_on_lost(struct run *r, const struct pending *p)
{
	/* A lost SET was never acknowledged; a lost MGET is simply redone. */
	if (p->kind == REQ_MGET)
		r->verify_busy = false;
}

static bool keys_done(struct run *r)
{
	return r->final_done &&
	       r->modes[MODE_KEYS].conns[0].q_len == 0;
}

const struct mode_ops keys_ops = {
	.name = "keys",
	.on_up = keys_on_up,
	.pump = keys_pump,
	.on_reply = keys_on_reply,
	.on_lost = keys_on_lost,
	.done = keys_done,
};
