/* SPDX-License-Identifier: MIT */
/* The paced load's schedule and connection choice; pace.h. */
#include "pace.h"

#define NSEC_PER_SEC_U128 ((unsigned __int128)1000000000u)

void pacer_init(struct pacer *p, uint64_t start_ns, uint64_t rate)
{
	*p = (struct pacer){.start_ns = start_ns, .rate = rate ? rate : 1};
}

uint64_t pacer_due_ns(const struct pacer *p, uint64_t k)
{
	/* 128 bits: k * 1e9 would overflow 64 after 1.8e10 requests. */
	return p->start_ns +
	       (uint64_t)((unsigned __int128)k * NSEC_PER_SEC_U128 / p->rate);
}

uint64_t pacer_due_by(const struct pacer *p, uint64_t now)
{
	unsigned __int128 e;

	if (now < p->start_ns)
		return 0;
	/*
	 * k is due by now iff floor(k * 1e9 / rate) <= e, i.e. iff
	 * k * 1e9 < (e + 1) * rate: the count is ceil((e + 1) * rate / 1e9).
	 */
	e = now - p->start_ns;
	return (uint64_t)(((e + 1) * p->rate + NSEC_PER_SEC_U128 - 1) /
			  NSEC_PER_SEC_U128);
}

uint64_t pacer_backlog(const struct pacer *p, uint64_t now)
{
	uint64_t due = pacer_due_by(p, now);

	return due > p->issued ? due - p->issued : 0;
}

bool pacer_take(struct pacer *p, uint64_t now, uint64_t *k, uint64_t *due)
{
	uint64_t backlog = pacer_backlog(p, now);

	if (backlog > p->max_backlog)
		p->max_backlog = backlog;
	if (!backlog)
		return false;
	*k = p->issued;
	*due = pacer_due_ns(p, p->issued);
	p->issued++;
	return true;
}

uint64_t pacer_next_ns(const struct pacer *p)
{
	return pacer_due_ns(p, p->issued);
}

int pace_pick(const unsigned *free, unsigned n, unsigned *rr)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned c = (*rr + i) % n;

		if (free[c]) {
			*rr = (c + 1) % n;
			return (int)c;
		}
	}
	return -1;
}
