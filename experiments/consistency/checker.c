/* SPDX-License-Identifier: MIT */
/* Sequence checker, acknowledged-key tracker, latency histogram; checker.h. */
#include "checker.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ violations */

const char *viol_kind_name(enum violation_kind kind)
{
	static const char *const names[VIOL__COUNT] = {
		[VIOL_GAP] = "gap",
		[VIOL_REPEAT] = "repeat",
		[VIOL_RESET] = "reset",
		[VIOL_HUNG] = "hung",
		[VIOL_LOST_WRITE] = "lost_write",
		[VIOL_PROTOCOL] = "protocol",
	};

	return (unsigned)kind < VIOL__COUNT ? names[kind] : "?";
}

bool vlog_add(struct violation_log *log, enum violation_kind kind,
	      uint64_t t_ns, const char *conn, const char *fmt, ...)
{
	struct violation_example *ex;
	va_list ap;

	if ((unsigned)kind >= VIOL__COUNT)
		return false;
	if (log->count[kind]++ >= VIOL_EXAMPLES_PER_KIND)
		return false;
	ex = &log->ex[log->nex++];
	ex->kind = kind;
	ex->t_ns = t_ns;
	snprintf(ex->conn, sizeof(ex->conn), "%s", conn ? conn : "");
	va_start(ap, fmt);
	vsnprintf(ex->detail, sizeof(ex->detail), fmt, ap);
	va_end(ap);
	return true;
}

uint64_t vlog_total(const struct violation_log *log)
{
	uint64_t total = 0;

	for (int k = 0; k < VIOL__COUNT; k++)
		total += log->count[k];
	return total;
}

/* ------------------------------------------------------ sequence checker */

void seq_init(struct seq_checker *s, long long base)
{
	memset(s, 0, sizeof(*s));
	/* A counter at LLONG_MAX makes INCR fail anyway; do not overflow. */
	s->expect = base < LLONG_MAX ? base + 1 : LLONG_MAX;
}

void seq_allow_inflight(struct seq_checker *s, uint64_t n)
{
	s->slack += n;
}

enum seq_verdict seq_check(struct seq_checker *s, long long value,
			   long long *expected)
{
	enum seq_verdict v = SEQ_OK;
	/*
	 * Widest value still fine: expect + slack, saturating. Unsigned
	 * arithmetic, because LLONG_MAX - expect overflows a long long when
	 * expect is negative but always fits in 64 unsigned bits.
	 */
	uint64_t room = (uint64_t)LLONG_MAX - (uint64_t)s->expect;
	long long hi = s->slack > room ? LLONG_MAX :
		       (long long)((uint64_t)s->expect + s->slack);

	if (expected)
		*expected = s->expect;
	if (value > hi) {
		v = SEQ_GAP;
		s->lost += (uint64_t)value - (uint64_t)hi;
	} else if (value < s->expect) {
		/*
		 * expect - 1 is what the previous reply said (or the base):
		 * equal to it is a repeat, below it a decrease.
		 */
		v = value == s->expect - 1 ? SEQ_REPEAT : SEQ_DECREASE;
		/* value should have been expect: that many were undone. */
		s->rewound += (uint64_t)s->expect - (uint64_t)value;
	}
	if (!s->have_reply) {
		s->first = value;
		s->have_reply = true;
	}
	s->last = value;
	s->checked++;
	/*
	 * Resynchronise on what the server says now, so one rollback is
	 * reported once instead of on every reply that follows it.
	 */
	s->expect = value < LLONG_MAX ? value + 1 : LLONG_MAX;
	s->slack = 0;
	return v;
}

/* --------------------------------------------------- acknowledged keys */

int keytrack_init(struct key_tracker *kt, const char *run_id)
{
	memset(kt, 0, sizeof(*kt));
	if (!run_id || !*run_id || strlen(run_id) >= sizeof(kt->run_id))
		return -EINVAL;
	strcpy(kt->run_id, run_id);
	return 0;
}

void keytrack_free(struct key_tracker *kt)
{
	free(kt->bits);
	kt->bits = NULL;
	kt->cap = 0;
}

int keytrack_ack(struct key_tracker *kt, uint64_t n)
{
	if (n >= kt->cap) {
		uint64_t cap = kt->cap ? kt->cap : 4096;
		uint8_t *bits;

		while (cap <= n) {
			if (cap > UINT64_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		bits = realloc(kt->bits, cap / 8);
		if (!bits)
			return -ENOMEM;
		memset(bits + kt->cap / 8, 0, (cap - kt->cap) / 8);
		kt->bits = bits;
		kt->cap = cap;
	}
	if (kt->bits[n / 8] & (1u << (n % 8)))
		return 0; /* acknowledged twice: still one key */
	kt->bits[n / 8] |= (uint8_t)(1u << (n % 8));
	kt->nacked++;
	if (n + 1 > kt->hi)
		kt->hi = n + 1;
	return 0;
}

bool keytrack_is_acked(const struct key_tracker *kt, uint64_t n)
{
	return n < kt->cap && (kt->bits[n / 8] & (1u << (n % 8)));
}

uint64_t keytrack_next_acked(const struct key_tracker *kt, uint64_t from)
{
	for (uint64_t n = from; n < kt->hi; n++) {
		/* Skip empty bytes whole: most runs have long acked stretches,
		 * but a sparse tail after resets should not cost a bit each. */
		if (n % 8 == 0 && kt->bits[n / 8] == 0) {
			n += 7;
			continue;
		}
		if (keytrack_is_acked(kt, n))
			return n;
	}
	return UINT64_MAX;
}

int keytrack_key(const struct key_tracker *kt, uint64_t n, char *buf,
		 size_t size)
{
	return snprintf(buf, size, "run:%s:%llu", kt->run_id,
			(unsigned long long)n);
}

int keytrack_value(const struct key_tracker *kt, uint64_t n, char *buf,
		   size_t size)
{
	/* Both the run and n in the value: a stale or swapped key shows. */
	return snprintf(buf, size, "v:%s:%llu", kt->run_id,
			(unsigned long long)n);
}

enum key_verdict keytrack_verify(struct key_tracker *kt, uint64_t n,
				 const struct reply *r)
{
	char want[96];
	int len = keytrack_value(kt, n, want, sizeof(want));
	enum key_verdict v;

	if (r->type == REPLY_NIL)
		v = KEY_MISSING;
	else if (r->type == REPLY_BULK && r->len == (size_t)len &&
		 memcmp(r->str, want, (size_t)len) == 0)
		v = KEY_OK;
	else
		v = KEY_WRONG;
	kt->verified++;
	if (v != KEY_OK)
		kt->lost++;
	return v;
}

static uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

size_t keytrack_sample(const struct key_tracker *kt, uint64_t *out,
		       size_t max, uint64_t *rng)
{
	size_t got = 0;
	size_t want_recent = max - max / 2;
	uint64_t n = kt->hi;
	uint64_t floor;

	/* The newest acknowledged keys, walking down from the top. */
	while (n > 0 && got < want_recent) {
		n--;
		if (keytrack_is_acked(kt, n))
			out[got++] = n;
	}
	floor = n; /* everything below here is "older" */
	if (floor == 0 || got == 0)
		return got;
	/*
	 * Random older keys. A bounded number of tries keeps this cheap when
	 * acknowledgments are sparse; a short sample is still a sample.
	 */
	for (size_t tries = 0; got < max && tries < 4 * max; tries++) {
		uint64_t pick = xorshift64(rng) % floor;

		if (keytrack_is_acked(kt, pick))
			out[got++] = pick;
	}
	return got;
}

/* ---------------------------------------------------- latency histogram */

void lat_init(struct lat_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static unsigned lat_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < (1u << LAT_SUB_BITS))
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - LAT_SUB_BITS;
	return ((shift + 1) << LAT_SUB_BITS) +
	       (unsigned)((v >> shift) & ((1u << LAT_SUB_BITS) - 1));
}

/* Lowest value in bucket idx, and the bucket's width. */
static void lat_bounds(unsigned idx, uint64_t *lo, uint64_t *width)
{
	unsigned group = idx >> LAT_SUB_BITS;
	uint64_t sub = idx & ((1u << LAT_SUB_BITS) - 1);

	if (group == 0) {
		*lo = idx;
		*width = 1;
		return;
	}
	*lo = ((1ull << LAT_SUB_BITS) + sub) << (group - 1);
	*width = 1ull << (group - 1);
}

void lat_record(struct lat_hist *h, uint64_t ns)
{
	h->bucket[lat_index(ns)]++;
	h->count++;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

uint64_t lat_percentile(const struct lat_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	/* Nearest-rank: the smallest value with at least p% at or below it. */
	rank = (uint64_t)(p / 100.0 * (double)h->count);
	if ((double)rank < p / 100.0 * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		uint64_t lo, width, mid;

		seen += h->bucket[i];
		if (seen < rank)
			continue;
		lat_bounds(i, &lo, &width);
		mid = lo + width / 2;
		/* The bucket's middle, but never outside what was seen. */
		if (mid < h->min)
			mid = h->min;
		if (mid > h->max)
			mid = h->max;
		return mid;
	}
	return h->max;
}
