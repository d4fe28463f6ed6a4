/* SPDX-License-Identifier: MIT */
/*
 * The consistency client's I/O side: options, TCP connections (conn.c),
 * the INCR and unique-key workloads (workload.c, one connection each), the
 * paced load (load.c, over --connections), reports (report.c) and the poll
 * loop (client.c). The judging is in checker.c, the pacing in pace.c.
 */
#ifndef CONSISTENCY_CLIENT_H
#define CONSISTENCY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "checker.h"
#include "pace.h"
#include "resp_reply.h"

#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC 1000000000ull

/* Keys read back per MGET: small replies keep re-parsing cheap. */
#define MGET_BATCH 256

#define LOAD_MAX_CONNECTIONS 256
/* incr and keys have one connection each. */
#define MAX_CONNS (2 + LOAD_MAX_CONNECTIONS)

enum load_op { LOAD_SET, LOAD_GET, LOAD_INCR };

struct options {
	bool mode_incr;
	bool mode_keys;
	bool mode_load;
	const char *host;
	const char *port;
	const char *key;           /* the INCR counter */
	const char *run_id;        /* keys are run:<id>:<n> */
	unsigned pipeline;         /* outstanding requests per connection */
	unsigned verify_every;     /* keys: read back after this many acks */
	unsigned verify_sample;    /* keys: how many to read back each time */
	double duration_s;         /* 0: until SIGINT/SIGTERM */
	unsigned stall_timeout_ms;
	unsigned connect_timeout_ms;
	const char *out_path;      /* JSON report */
	const char *csv_path;      /* one line per reply */
	bool json_stdout;
	bool quiet;
	/* load */
	unsigned rate;             /* requests per second */
	unsigned connections;
	unsigned window;           /* outstanding per load connection */
	enum load_op load_op;
	unsigned keyspace;         /* keys load:0 .. load:keyspace-1 */
};

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };

enum req_kind { REQ_GET, REQ_INCR, REQ_SET, REQ_MGET, REQ_LOAD };

/* A request sent and not yet answered; replies come back in this order. */
struct pending {
	enum req_kind kind;
	uint64_t sent_ns;
	uint64_t due_ns;   /* REQ_LOAD: when the schedule wanted it sent */
	uint64_t n;        /* REQ_SET, REQ_LOAD: the key number */
	uint64_t *keys;    /* REQ_MGET: key numbers, owned by the entry */
	size_t nkeys;
	bool hung;         /* already reported as hung */
};

struct conn {
	const char *name;
	int fd;
	enum conn_state state;
	uint64_t deadline_ns;  /* CONNECTING: give up at; DOWN: retry at */
	char *in;              /* received bytes in[in_off..in_len) */
	size_t in_off, in_len, in_cap;
	char *out;
	size_t out_off, out_len, out_cap;
	struct pending *q;     /* ring of outstanding requests */
	size_t q_head, q_len, q_cap;
	uint64_t backoff_ns;   /* wait before reconnecting after a loss */
	uint64_t down_since_ns;
	uint64_t last_reply_ns;     /* 0 until the first request */
	uint64_t longest_stall_ns;  /* longest wait between replies */
	uint64_t connects;
};

struct run;

/* One workload on its own connection. */
struct mode_ops {
	const char *name;
	/* The connection is (again) up: queue whatever must come first. */
	int (*on_up)(struct run *r, uint64_t now);
	/* Queue new requests, within the pipeline limit. */
	int (*pump)(struct run *r, uint64_t now);
	/* One reply to p. Negative errno: setup error, end the run (exit 2). */
	int (*on_reply)(struct run *r, const struct pending *p,
			const struct reply *rep, uint64_t now);
	/* The connection died with these requests unanswered. */
	void (*on_lost)(struct run *r, const struct pending *p);
	/* While stopping: nothing left to do on this mode's connections. */
	bool (*done)(struct run *r);
	/* Optional: when pump wants to run next (CLOCK_MONOTONIC ns), or 0. */
	uint64_t (*wake_at)(struct run *r);
};

/* A workload and its connections (one, except for the load). */
struct mode {
	const struct mode_ops *ops;
	struct conn *conns;
	unsigned nconns;
	bool enabled;
};

enum { MODE_INCR, MODE_KEYS, MODE_LOAD, MODE__COUNT };

struct run {
	const struct options *opt;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint64_t start_ns;
	uint64_t stop_ns;       /* when stopping began, 0 while running */
	uint64_t finish_ns;
	uint64_t last_progress_ns;
	bool stopping;
	struct mode modes[MODE__COUNT];
	struct violation_log vlog;
	FILE *csv;
	uint64_t requests, replies; /* INCR and SET: the workload itself */

	/* incr */
	bool incr_running;       /* GET of the base done */
	bool have_base;
	long long base;
	struct seq_checker seq;
	struct lat_hist *incr_lat;

	/* keys */
	struct key_tracker kt;
	struct lat_hist *set_lat;
	uint64_t next_n;
	uint64_t since_verify;   /* SET acks since the last read-back */
	bool verify_due;
	bool verify_busy;        /* an MGET is outstanding */
	uint64_t final_cursor;   /* final read-back: next n to check */
	bool final_done;
	uint64_t rng;

	/* load */
	bool load_started;       /* the schedule's clock runs */
	struct pacer pace;
	unsigned load_rr;        /* pace_pick's round-robin cursor */
	unsigned *load_free;     /* per connection: room in its window */
	struct lat_hist *load_lat;     /* reply - due: what a client sees */
	struct lat_hist *load_service; /* reply - send */
	struct lat_hist *load_lag;     /* send - due: the client's lateness */
	uint64_t load_sent, load_replies, load_errors, load_lost;
	uint64_t load_late;       /* sent more than 1 ms after due */
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* options.c */
int parse_options(int argc, char **argv, struct options *o);

/* client.c */
void note(const struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Count a violation, and say so on stderr if it is among the first. */
void violation(struct run *r, enum violation_kind kind, const char *conn,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* conn.c */
int conn_init(struct conn *c, const char *name, size_t depth);
void conn_free(struct conn *c);
int conn_start(struct conn *c, const struct sockaddr *sa, socklen_t len,
	       uint64_t now, uint64_t timeout_ns);
int conn_finish_connect(struct conn *c);
void conn_close(struct conn *c);
short conn_poll_events(const struct conn *c);
int conn_send_cmd(struct conn *c, const struct pending *p, int argc,
		  const char *const *argv, const size_t *argl, uint64_t now);
int conn_flush(struct conn *c);
int conn_fill(struct conn *c);
int conn_next_reply(struct conn *c, struct reply *rep, struct pending *p,
		    uint64_t now);
struct pending *conn_oldest(struct conn *c);
bool conn_pop_lost(struct conn *c, struct pending *p);
void pending_free(struct pending *p);

/* workload.c */
extern const struct mode_ops incr_ops;
extern const struct mode_ops keys_ops;
void csv_line(struct run *r, uint64_t t, const char *what, long long value,
	      uint64_t latency);

/* load.c */
extern const struct mode_ops load_ops;
int load_setup(struct run *r);
void load_free_all(struct run *r);

/* report.c */
void report_human(const struct run *r, FILE *f);
const char *run_mode_string(const struct run *r);
int report_json(const struct run *r, FILE *f);
uint64_t run_longest_stall_ns(const struct run *r);

#endif
