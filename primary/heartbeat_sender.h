/* SPDX-License-Identifier: MIT */
/*
 * The primary's end of the heartbeat path (common/heartbeat.h): one
 * dedicated thread, real-time when allowed, that sends a datagram every
 * interval to each destination (the backup's replication address and its
 * LAN address) whatever the epoch and ack threads are doing, and runs a
 * watchdog callback on each tick (the replicator's check that the backup
 * still answers). Never blocks on the network: a datagram that cannot go
 * out is counted, the next one follows.
 */
#ifndef RRVM_HEARTBEAT_SENDER_H
#define RRVM_HEARTBEAT_SENDER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define HEARTBEAT_DESTS 2

struct heartbeat_sender_config {
	/* "A.B.C.D:PORT" or NULL: [0] replication network, [1] LAN. */
	const char *dest[HEARTBEAT_DESTS];
	unsigned interval_ms; /* > 0 */
	int rt_priority;      /* SCHED_FIFO priority; 0: normal scheduling */
	uint64_t session;
	const uint8_t *key; /* NULL: --insecure */
	/* Called on the sender thread after each round of datagrams. */
	void (*tick)(void *ctx, uint64_t now_ns);
	void *ctx;
};

/* Written by the sender thread, read by others: stat_* only. */
struct heartbeat_sender_stats {
	uint64_t sent, send_errors;
	uint64_t max_period_ns; /* longest time between two rounds */
	int realtime;		/* the thread got SCHED_FIFO */
};

struct heartbeat_sender {
	struct heartbeat_sender_config cfg;
	int fd;
	struct sockaddr_in to[HEARTBEAT_DESTS];
	bool to_on[HEARTBEAT_DESTS];
	pthread_t thread;
	bool started; /* set once by start, before other threads can look */
	/* Other threads may announce a give-up while stop runs: running and
	 * the socket's use outside the thread are under lock. */
	pthread_mutex_t lock;
	bool running;
	int stop;		 /* __atomic */
	uint64_t seq;		 /* __atomic */
	uint64_t released_after; /* __atomic */
	struct heartbeat_sender_stats stats;
};

/* Resolve the destinations and start the thread. 0 or -errno (a bad
 * address: -EINVAL). */
int heartbeat_sender_start(struct heartbeat_sender *s,
			   const struct heartbeat_sender_config *cfg);
/*
 * The primary gave up on its backup after collecting `epoch` and is about
 * to release output the backup never acknowledged: say so in every
 * datagram from now on, and send one at once to each destination before
 * returning (any thread). A no-op once stopped.
 */
void heartbeat_sender_released(struct heartbeat_sender *s, uint64_t epoch);
/* Stop the thread (within one interval); a no-op if it never started. */
void heartbeat_sender_stop(struct heartbeat_sender *s);

#endif
