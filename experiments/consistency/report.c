/* SPDX-License-Identifier: MIT */
/*
 * End-of-run reports: a human summary and one JSON object whose fields
 * the experiment scripts read (schema in README.md).
 */
#include "client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

/* How many human-summary examples per kind; the JSON carries them all. */
#define HUMAN_EXAMPLES 3

static uint64_t conn_stall(const struct run *r, const struct conn *c)
{
	uint64_t stall = c->longest_stall_ns;
	/*
	 * A wait still open at the end counts too: up to when the workload
	 * stopped if the connection was just down, to the very end if a
	 * request was still unanswered (it hung through the drain).
	 */
	uint64_t end = c->q_len ? r->finish_ns : r->stop_ns;

	if ((c->q_len || c->state != CONN_UP) && c->last_reply_ns &&
	    end > c->last_reply_ns && end - c->last_reply_ns > stall)
		stall = end - c->last_reply_ns;
	return stall;
}

uint64_t run_longest_stall_ns(const struct run *r)
{
	uint64_t stall = 0;

	for (int m = 0; m < MODE__COUNT; m++) {
		if (!r->modes[m].enabled)
			continue;
		for (unsigned k = 0; k < r->modes[m].nconns; k++) {
			uint64_t s = conn_stall(r, &r->modes[m].conns[k]);

			if (s > stall)
				stall = s;
		}
	}
	return stall;
}

static uint64_t reconnects(const struct run *r)
{
	uint64_t n = 0;

	for (int m = 0; m < MODE__COUNT; m++) {
		if (!r->modes[m].enabled)
			continue;
		for (unsigned k = 0; k < r->modes[m].nconns; k++)
			if (r->modes[m].conns[k].connects > 1)
				n += r->modes[m].conns[k].connects - 1;
	}
	return n;
}

const char *run_mode_string(const struct run *r)
{
	static char buf[32];

	buf[0] = '\0';
	for (int m = 0; m < MODE__COUNT; m++)
		if (r->modes[m].enabled && r->modes[m].ops)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
				 "%s%s", buf[0] ? "," : "", r->modes[m].ops->name);
	return buf;
}

/*
 * The latency reported as "latency_us": INCR's if it ran, else SET's of
 * keys, else the load's (from each request's due time).
 */
static const struct lat_hist *main_latency(const struct run *r)
{
	if (r->modes[MODE_INCR].enabled)
		return r->incr_lat;
	return r->modes[MODE_KEYS].enabled ? r->set_lat : r->load_lat;
}

static double load_seconds(const struct run *r)
{
	uint64_t end = r->stop_ns ? r->stop_ns : r->finish_ns;

	return r->load_started && end > r->pace.start_ns ?
		       (double)(end - r->pace.start_ns) / 1e9 :
		       0;
}

/* Requests the schedule had due by the time the load stopped. */
static uint64_t load_offered(const struct run *r)
{
	uint64_t end = r->stop_ns ? r->stop_ns : r->finish_ns;

	return r->load_started && end ? pacer_due_by(&r->pace, end - 1) : 0;
}

static double run_seconds(const struct run *r)
{
	uint64_t end = r->stop_ns ? r->stop_ns : r->finish_ns;

	return (double)(end - r->start_ns) / 1e9;
}

static void human_latency(FILE *f, const char *what, const struct lat_hist *h)
{
	if (!h->count)
		return;
	fprintf(f, "  %-9s p50 %.1f us, p99 %.1f us, max %.1f us (%" PRIu64
		" replies)\n", what, lat_percentile(h, 50) / 1e3,
		lat_percentile(h, 99) / 1e3, h->max / 1e3, h->count);
}

void report_human(const struct run *r, FILE *f)
{
	const struct violation_log *v = &r->vlog;
	uint64_t total = vlog_total(v);

	fprintf(f, "consistency-client: %s against %s:%s, %.1f s\n",
		run_mode_string(r), r->opt->host, r->opt->port, run_seconds(r));
	fprintf(f, "  requests  %" PRIu64 " sent, %" PRIu64 " answered, %"
		PRIu64 " reconnects\n", r->requests, r->replies, reconnects(r));
	if (r->modes[MODE_INCR].enabled) {
		if (r->seq.have_reply)
			fprintf(f, "  incr      %s: %lld -> %lld (started at "
				"%lld), %" PRIu64 " lost, %" PRIu64
				" rewound\n", r->opt->key, r->seq.first,
				r->seq.last, r->base, r->seq.lost,
				r->seq.rewound);
		else
			fprintf(f, "  incr      %s: no INCR reply\n",
				r->opt->key);
	}
	if (r->modes[MODE_KEYS].enabled)
		fprintf(f, "  keys      run:%s:*: %" PRIu64 " acknowledged, %"
			PRIu64 " read back, %" PRIu64 " lost%s\n",
			r->kt.run_id, r->kt.nacked, r->kt.verified,
			r->kt.lost, r->final_done ? "" :
			" (final read-back incomplete)");
	if (r->modes[MODE_INCR].enabled)
		human_latency(f, "incr", r->incr_lat);
	if (r->modes[MODE_KEYS].enabled)
		human_latency(f, "set", r->set_lat);
	if (r->modes[MODE_LOAD].enabled) {
		fprintf(f, "  load      %u/s offered over %u connection(s): %"
			PRIu64 " sent, %" PRIu64 " answered, %.1f/s achieved, %"
			PRIu64 " sent over 1 ms late\n", r->opt->rate,
			r->opt->connections, r->load_sent, r->load_replies,
			load_seconds(r) > 0 ? r->load_replies / load_seconds(r) :
					      0, r->load_late);
		human_latency(f, "load", r->load_lat);
	}
	fprintf(f, "  longest stall %.1f ms\n",
		run_longest_stall_ns(r) / 1e6);
	if (!total) {
		fprintf(f, "  violations: none\nRESULT: OK\n");
		return;
	}
	fprintf(f, "  violations:");
	for (int k = 0; k < VIOL__COUNT; k++)
		if (v->count[k])
			fprintf(f, " %s %" PRIu64, viol_kind_name(k),
				v->count[k]);
	fprintf(f, "\n");
	for (int k = 0; k < VIOL__COUNT; k++) {
		int shown = 0;

		for (size_t i = 0; i < v->nex && shown < HUMAN_EXAMPLES; i++) {
			if (v->ex[i].kind != (enum violation_kind)k)
				continue;
			fprintf(f, "    [%s/%s] %s\n", viol_kind_name(k),
				v->ex[i].conn, v->ex[i].detail);
			shown++;
		}
	}
	fprintf(f, "RESULT: VIOLATION (%" PRIu64 ")\n", total);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_latency(FILE *f, const char *name, const struct lat_hist *h)
{
	fprintf(f, ",\"%s\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f,"
		"\"count\":%" PRIu64 "}", name, lat_percentile(h, 50) / 1e3,
		lat_percentile(h, 99) / 1e3, h->max / 1e3, h->count);
}

static void json_load(const struct run *r, FILE *f)
{
	static const char *const ops[] = {
		[LOAD_SET] = "set", [LOAD_GET] = "get", [LOAD_INCR] = "incr",
	};
	double secs = load_seconds(r);

	fprintf(f, ",\"load\":{\"op\":\"%s\",\"rate\":%u,\"connections\":%u,"
		"\"window\":%u,\"keyspace\":%u,\"offered\":%" PRIu64
		",\"sent\":%" PRIu64 ",\"replies\":%" PRIu64 ",\"errors\":%"
		PRIu64 ",\"lost\":%" PRIu64 ",\"late_sends\":%" PRIu64
		",\"max_backlog\":%" PRIu64 ",\"duration_s\":%.3f,"
		"\"achieved_rps\":%.1f", ops[r->opt->load_op], r->opt->rate,
		r->opt->connections, r->opt->window, r->opt->keyspace,
		load_offered(r), r->load_sent, r->load_replies, r->load_errors,
		r->load_lost, r->load_late, r->pace.max_backlog, secs,
		secs > 0 ? r->load_replies / secs : 0.0);
	json_latency(f, "latency_us", r->load_lat);
	json_latency(f, "service_latency_us", r->load_service);
	json_latency(f, "send_lag_us", r->load_lag);
	fputc('}', f);
}

/* This process's CPU time, so a load's own cost can be told apart. */
static void json_cpu(FILE *f)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru)) {
		fputs(",\"cpu_us\":null", f);
		return;
	}
	fprintf(f, ",\"cpu_us\":{\"user\":%lld,\"system\":%lld}",
		(long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
		(long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
}

int report_json(const struct run *r, FILE *f)
{
	const struct violation_log *v = &r->vlog;

	fprintf(f, "{\"ok\":%s,\"mode\":\"%s\",\"host\":",
		vlog_total(v) ? "false" : "true", run_mode_string(r));
	json_str(f, r->opt->host);
	fprintf(f, ",\"port\":%s,\"key\":", r->opt->port);
	if (r->modes[MODE_INCR].enabled)
		json_str(f, r->opt->key);
	else
		fputs("null", f);
	fprintf(f, ",\"run_id\":");
	if (r->modes[MODE_KEYS].enabled)
		json_str(f, r->kt.run_id);
	else
		fputs("null", f);
	fprintf(f, ",\"requests\":%" PRIu64 ",\"replies\":%" PRIu64,
		r->requests, r->replies);
	if (r->have_base)
		fprintf(f, ",\"initial_value\":%lld", r->base);
	else
		fprintf(f, ",\"initial_value\":null");
	if (r->seq.have_reply)
		fprintf(f, ",\"first_value\":%lld,\"last_value\":%lld",
			r->seq.first, r->seq.last);
	else
		fprintf(f, ",\"first_value\":null,\"last_value\":null");
	fprintf(f, ",\"lost_increments\":%" PRIu64 ",\"rewound_increments\":%"
		PRIu64, r->seq.lost, r->seq.rewound);

	fprintf(f, ",\"violations\":{");
	for (int k = 0; k < VIOL__COUNT; k++)
		fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "",
			viol_kind_name(k), v->count[k]);
	fprintf(f, "},\"examples\":[");
	for (size_t i = 0; i < v->nex; i++) {
		fprintf(f, "%s{\"kind\":\"%s\",\"conn\":", i ? "," : "",
			viol_kind_name(v->ex[i].kind));
		json_str(f, v->ex[i].conn);
		fprintf(f, ",\"t_ms\":%.3f,\"detail\":", v->ex[i].t_ns / 1e6);
		json_str(f, v->ex[i].detail);
		fputc('}', f);
	}
	fprintf(f, "],\"longest_stall_ms\":%.3f",
		run_longest_stall_ns(r) / 1e6);
	json_latency(f, "latency_us", main_latency(r));
	if (r->modes[MODE_INCR].enabled && r->modes[MODE_KEYS].enabled)
		json_latency(f, "set_latency_us", r->set_lat);
	fprintf(f, ",\"keys_acked\":%" PRIu64 ",\"keys_verified\":%" PRIu64
		",\"keys_lost\":%" PRIu64 ",\"final_verify_complete\":%s",
		r->kt.nacked, r->kt.verified, r->kt.lost,
		!r->modes[MODE_KEYS].enabled || r->final_done ? "true" :
		"false");
	if (r->modes[MODE_LOAD].enabled)
		json_load(r, f);
	json_cpu(f);
	fprintf(f, ",\"reconnects\":%" PRIu64 ",\"duration_s\":%.3f,"
		"\"start_mono_ns\":%" PRIu64 "}\n", reconnects(r),
		run_seconds(r), r->start_ns);
	return ferror(f) ? -EIO : 0;
}
