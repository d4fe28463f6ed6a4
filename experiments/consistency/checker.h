/* SPDX-License-Identifier: MIT */
/*
 * The judging half of the consistency client, free of I/O so unit tests can
 * feed it crafted sequences: the INCR sequence checker, the tracker of
 * acknowledged unique keys, a latency histogram and the violation log.
 */
#ifndef CONSISTENCY_CHECKER_H
#define CONSISTENCY_CHECKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resp_reply.h"

/* ------------------------------------------------------------ violations */

enum violation_kind {
	VIOL_GAP,        /* INCR skipped values: acknowledged increments lost */
	VIOL_REPEAT,     /* INCR repeated or went down: state went backwards */
	VIOL_RESET,      /* connection closed or reset by the peer */
	VIOL_HUNG,       /* a request waited longer than the stall timeout */
	VIOL_LOST_WRITE, /* an acknowledged SET is missing or wrong */
	VIOL_PROTOCOL,   /* malformed reply, or an error/type we never expect */
	VIOL__COUNT
};

/* Keep the first few of each kind: enough to diagnose, bounded in size. */
#define VIOL_EXAMPLES_PER_KIND 4
#define VIOL_DETAIL_LEN 160

struct violation_example {
	enum violation_kind kind;
	uint64_t t_ns;          /* since the start of the run */
	char conn[8];           /* "incr" or "keys" */
	char detail[VIOL_DETAIL_LEN];
};

struct violation_log {
	uint64_t count[VIOL__COUNT];
	struct violation_example ex[VIOL__COUNT * VIOL_EXAMPLES_PER_KIND];
	size_t nex;
};

const char *viol_kind_name(enum violation_kind kind);
/* Count one violation; keep its text if it is among the first of its kind.
 * Returns true if the example was kept (callers log only those). */
bool vlog_add(struct violation_log *log, enum violation_kind kind,
	      uint64_t t_ns, const char *conn, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
uint64_t vlog_total(const struct violation_log *log);

/* ------------------------------------------------------ sequence checker */

enum seq_verdict {
	SEQ_OK,
	SEQ_GAP,      /* value above every acceptable one */
	SEQ_REPEAT,   /* value equals the previous reply */
	SEQ_DECREASE, /* value below the previous reply */
};

/*
 * Every INCR reply must be exactly one more than the one before. After a
 * connection reset the requests that were in flight may or may not have been
 * applied, so the next reply may legitimately be up to that many higher:
 * that uncertainty is `slack`, spent by the next reply.
 */
struct seq_checker {
	long long expect;   /* the next value that is exactly right */
	uint64_t slack;     /* extra values accepted for the next reply only */
	bool have_reply;
	long long first;    /* first INCR reply */
	long long last;     /* latest INCR reply */
	uint64_t checked;
	uint64_t lost;      /* sum over gaps of the values skipped */
	uint64_t rewound;   /* sum over decreases/repeats of the drop */
};

/* base: the counter's value before the first INCR (GET, or 0 if absent). */
void seq_init(struct seq_checker *s, long long base);
/* Judge one reply; *expected gets the value that was exactly right. */
enum seq_verdict seq_check(struct seq_checker *s, long long value,
			   long long *expected);
/* n requests were lost in flight (reset): the next reply may skip n. */
void seq_allow_inflight(struct seq_checker *s, uint64_t n);

/* --------------------------------------------------- acknowledged keys */

enum key_verdict {
	KEY_OK,
	KEY_MISSING, /* read back as nil */
	KEY_WRONG,   /* present, but not the value we wrote (or not a string) */
};

/*
 * Keys are run:<id>:<n> and their values are derived from n, so the tracker
 * only needs one bit per write to know what must be there.
 */
struct key_tracker {
	char run_id[40];
	uint8_t *bits;      /* bit n set: SET of key n was acknowledged */
	uint64_t cap;       /* bits allocated */
	uint64_t nacked;
	uint64_t hi;        /* one past the highest acknowledged n */
	uint64_t verified;  /* key read-backs judged */
	uint64_t lost;      /* of which missing or wrong */
};

int keytrack_init(struct key_tracker *kt, const char *run_id);
void keytrack_free(struct key_tracker *kt);
int keytrack_ack(struct key_tracker *kt, uint64_t n);
bool keytrack_is_acked(const struct key_tracker *kt, uint64_t n);
/* Next acknowledged n at or after `from`, or UINT64_MAX. */
uint64_t keytrack_next_acked(const struct key_tracker *kt, uint64_t from);
/* snprintf-style: length of the key / value, output truncated to size. */
int keytrack_key(const struct key_tracker *kt, uint64_t n, char *buf,
		 size_t size);
int keytrack_value(const struct key_tracker *kt, uint64_t n, char *buf,
		   size_t size);
/* Judge the read-back of acknowledged key n (a GET reply or MGET element). */
enum key_verdict keytrack_verify(struct key_tracker *kt, uint64_t n,
				 const struct reply *r);
/*
 * Choose up to max acknowledged keys to read back: the most recent half
 * (the writes a failover is likeliest to lose), the rest at random among
 * older ones. *rng is xorshift64 state. Returns how many were chosen.
 */
size_t keytrack_sample(const struct key_tracker *kt, uint64_t *out,
		       size_t max, uint64_t *rng);

/* ---------------------------------------------------- latency histogram */

/*
 * Log-linear buckets: exact below 64 ns, then 64 per power of two (about
 * 1.6% resolution). Fixed 30 KiB however long the run is.
 */
#define LAT_SUB_BITS 6
#define LAT_BUCKETS ((64 - LAT_SUB_BITS + 1) << LAT_SUB_BITS)

struct lat_hist {
	uint64_t bucket[LAT_BUCKETS];
	uint64_t count;
	uint64_t min;
	uint64_t max;
};

void lat_init(struct lat_hist *h);
void lat_record(struct lat_hist *h, uint64_t ns);
/* p in [0, 100]; 0 if empty. Within one bucket width of the true value. */
uint64_t lat_percentile(const struct lat_hist *h, double p);

#endif
