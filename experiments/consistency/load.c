/* SPDX-License-Identifier: MIT */
/*
 * The paced load: SET, GET or INCR of keys load:0 .. load:KEYSPACE-1 at a
 * fixed rate, open loop (pace.h), spread over --connections connections,
 * each with at most --window requests outstanding. Replies are counted and
 * timed, not judged beyond their type: this workload is there to load the
 * server at a known rate, e.g. to measure CPU per request.
 */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fixed small value, so every SET costs the same. */
static const char load_value[] = "0123456789abcdef";

/* A request later than this after its due time counts as a late send. */
#define LOAD_LATE_NS (1000 * 1000ull)

int load_setup(struct run *r)
{
	r->load_lat = malloc(sizeof(*r->load_lat));
	r->load_service = malloc(sizeof(*r->load_service));
	r->load_lag = malloc(sizeof(*r->load_lag));
	r->load_free = calloc(r->opt->connections ? r->opt->connections : 1,
			      sizeof(*r->load_free));
	if (!r->load_lat || !r->load_service || !r->load_lag || !r->load_free)
		return -ENOMEM;
	lat_init(r->load_lat);
	lat_init(r->load_service);
	lat_init(r->load_lag);
	return 0;
}

void load_free_all(struct run *r)
{
	free(r->load_lat);
	free(r->load_service);
	free(r->load_lag);
	free(r->load_free);
	r->load_lat = r->load_service = r->load_lag = NULL;
	r->load_free = NULL;
}

static int load_on_up(struct run *r, uint64_t now)
{
	return 0;
}

static int load_send(struct run *r, struct conn *c, uint64_t k, uint64_t due,
		     uint64_t now)
{
	static const char *const cmds[] = {
	    [LOAD_SET] = "SET",
	    [LOAD_GET] = "GET",
	    [LOAD_INCR] = "INCR",
	};
	const char *cmd = cmds[r->opt->load_op];
	char key[32];
	const char *argv[3] = {cmd, key, load_value};
	size_t argl[3];
	struct pending p = {.kind = REQ_LOAD, .due_ns = due, .n = k};

	argl[0] = strlen(cmd);
	argl[1] = (size_t)snprintf(key, sizeof(key), "load:%llu",
				   (unsigned long long)(k % r->opt->keyspace));
	argl[2] = sizeof(load_value) - 1;
	return conn_send_cmd(c, &p, r->opt->load_op == LOAD_SET ? 3 : 2, argv,
			     argl, now);
}

static int load_pump(struct run *r, uint64_t now)
{
	struct mode *m = &r->modes[MODE_LOAD];
	uint64_t k, due;
	int err;

	if (r->stopping)
		return 0;
	if (!r->load_started) {
		pacer_init(&r->pace, now, r->opt->rate);
		r->load_started = true;
	}
	for (unsigned i = 0; i < m->nconns; i++) {
		const struct conn *c = &m->conns[i];

		r->load_free[i] = c->state == CONN_UP && c->q_len < c->q_cap
				      ? (unsigned)(c->q_cap - c->q_len)
				      : 0;
	}
	for (;;) {
		int i = pace_pick(r->load_free, m->nconns, &r->load_rr);

		/* Every window full: what is due waits (and shows as lag). */
		if (i < 0 || !pacer_take(&r->pace, now, &k, &due))
			return 0;
		err = load_send(r, &m->conns[i], k, due, now);
		if (err)
			return err;
		r->load_free[i]--;
		r->load_sent++;
		lat_record(r->load_lag, now - due);
		if (now - due > LOAD_LATE_NS)
			r->load_late++;
	}
}

static int load_on_reply(struct run *r, const struct pending *p,
			 const struct reply *rep, uint64_t now)
{
	bool ok;
	char what[96];

	r->load_replies++;
	lat_record(r->load_lat, now - p->due_ns);
	lat_record(r->load_service, now - p->sent_ns);
	switch (r->opt->load_op) {
	case LOAD_SET:
		ok = reply_is_ok(rep);
		break;
	case LOAD_GET:
		ok = rep->type == REPLY_BULK || rep->type == REPLY_NIL;
		break;
	default:
		ok = rep->type == REPLY_INTEGER;
		break;
	}
	if (!ok) {
		r->load_errors++;
		reply_describe(rep, what, sizeof(what));
		violation(r, VIOL_PROTOCOL, "load",
			  "load request #%llu "
			  "answered %s",
			  (unsigned long long)p->n, what);
		return 0;
	}
	csv_line(r, now, "load", (long long)p->n, now - p->due_ns);
	return 0;
}

static void load_on_lost(struct run *r, const struct pending *p)
{
	r->load_lost++;
}

static bool load_done(struct run *r)
{
	const struct mode *m = &r->modes[MODE_LOAD];

	for (unsigned i = 0; i < m->nconns; i++)
		if (m->conns[i].state == CONN_UP && m->conns[i].q_len)
			return false;
	return true;
}

static uint64_t load_wake_at(struct run *r)
{
	if (r->stopping || !r->load_started)
		return 0;
	return pacer_next_ns(&r->pace);
}

const struct mode_ops load_ops = {
    .name = "load",
    .on_up = load_on_up,
    .pump = load_pump,
    .on_reply = load_on_reply,
    .on_lost = load_on_lost,
    .done = load_done,
    .wake_at = load_wake_at,
};
