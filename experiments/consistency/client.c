/* SPDX-License-Identifier: MIT */
/*
 * consistency-client: drive a Redis-protocol server (the rrvm kv guest, or a
 * real redis-server) through a primary failure and decide whether any state
 * a client saw went backwards. Options, the poll loop, connection loss and
 * reconnection live here; the workloads are in workload.c.
 */
#include "client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define EXIT_VIOLATION 1
#define EXIT_SETUP 2
/* Between connect attempts: fast enough to measure a failover outage. */
#define RETRY_NS (50 * NSEC_PER_MSEC)
/*
 * A server that accepts and then fails every connection without a single
 * good reply gets exponentially fewer attempts, up to one a second.
 */
#define BACKOFF_MAX_NS NSEC_PER_SEC
/* Say "reconnected" this many times; after that it is noise. */
#define RECONNECT_NOTES 5
/* Longest poll sleep, so deadlines and signals are looked at often. */
#define TICK_NS (50 * NSEC_PER_MSEC)

static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
	signals_seen++;
}

void note(const struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->opt->quiet)
		return;
	fprintf(stderr, "consistency-client: [%8.3f] ",
		(now_ns() - r->start_ns) / 1e9);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void violation(struct run *r, enum violation_kind kind, const char *conn,
	       const char *fmt, ...)
{
	char detail[VIOL_DETAIL_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (vlog_add(&r->vlog, kind, now_ns() - r->start_ns, conn, "%s",
		     detail))
		note(r, "VIOLATION %s (%s): %s", viol_kind_name(kind), conn,
		     detail);
}

/* ---------------------------------------------------------- connections */

static int resolve(struct run *r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	int err = getaddrinfo(r->opt->host, r->opt->port, &hints, &res);

	if (err) {
		fprintf(stderr, "consistency-client: %s: %s\n", r->opt->host,
			gai_strerror(err));
		return -EINVAL;
	}
	memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
	r->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* The connection is gone: count it, settle its requests, plan a retry. */
static void conn_lost(struct run *r, struct mode *m, struct conn *c, int err,
		      bool reset, uint64_t now)
{
	struct pending p;
	size_t inflight = c->q_len;

	if (reset)
		violation(r, VIOL_RESET, m->ops->name, "connection %s%s with "
			  "%zu request(s) in flight",
			  err == -ESHUTDOWN ? "closed by the server" : "lost: ",
			  err == -ESHUTDOWN ? "" : strerror(-err), inflight);
	while (conn_pop_lost(c, &p)) {
		m->ops->on_lost(r, &p);
		pending_free(&p);
	}
	conn_close(c);
	/* The first retry is immediate: the outage is what we measure. */
	c->deadline_ns = now + c->backoff_ns;
	c->backoff_ns = c->backoff_ns ? c->backoff_ns * 2 : RETRY_NS;
	if (c->backoff_ns > BACKOFF_MAX_NS)
		c->backoff_ns = BACKOFF_MAX_NS;
	c->down_since_ns = now;
}

static void note_reconnect(const struct run *r, const struct mode *m,
			   const struct conn *c, uint64_t now)
{
	uint64_t n = c->connects - 1;

	if (n <= RECONNECT_NOTES)
		note(r, "%s: reconnected after %.1f ms%s", m->ops->name,
		     (now - c->down_since_ns) / 1e6,
		     n == RECONNECT_NOTES ? " (further reconnects not shown)" :
		     "");
}

/* Connect c within the timeout at start. */
static int connect_one(struct run *r, struct conn *c, uint64_t timeout)
{
	int err = conn_start(c, (struct sockaddr *)&r->addr, r->addrlen,
			     now_ns(), timeout);

	while (!err && c->state == CONN_CONNECTING) {
		struct pollfd pfd = { c->fd, POLLOUT, 0 };
		uint64_t now = now_ns();

		if (now >= c->deadline_ns)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)((c->deadline_ns - now) /
					NSEC_PER_MSEC) + 1) > 0)
			err = conn_finish_connect(c);
		else if (signals_seen)
			err = -EINTR;
	}
	return err;
}

/* At start: connect every connection within the timeout, or fail the run. */
static int connect_initial(struct run *r)
{
	uint64_t timeout = r->opt->connect_timeout_ms * NSEC_PER_MSEC;

	for (int i = 0; i < MODE__COUNT; i++) {
		struct mode *m = &r->modes[i];
		int err;

		if (!m->enabled)
			continue;
		for (unsigned k = 0; k < m->nconns; k++) {
			err = connect_one(r, &m->conns[k], timeout);
			if (err) {
				fprintf(stderr, "consistency-client: cannot "
					"connect to %s:%s (%s): %s\n",
					r->opt->host, r->opt->port,
					m->ops->name, strerror(-err));
				return err;
			}
			err = m->ops->on_up(r, now_ns());
			if (err)
				return err;
		}
	}
	return 0;
}

/* Reconnect a lost connection when its retry is due; time out a connect. */
static int tend_connection(struct run *r, struct mode *m, struct conn *c,
			   uint64_t now)
{
	int err;

	if (c->state == CONN_DOWN && now >= c->deadline_ns &&
	    !(r->stopping && m->ops->done(r))) {
		err = conn_start(c, (struct sockaddr *)&r->addr, r->addrlen,
				 now,
				 r->opt->connect_timeout_ms * NSEC_PER_MSEC);
		if (err) {
			c->deadline_ns = now + RETRY_NS;
		} else if (c->state == CONN_UP) {
			note_reconnect(r, m, c, now);
			err = m->ops->on_up(r, now);
			if (err)
				return err;
		}
	}
	if (c->state == CONN_CONNECTING && now >= c->deadline_ns) {
		conn_close(c);
		c->deadline_ns = now + RETRY_NS;
	}
	return 0;
}

/* Between polls: reconnect, time out connects, pump, flush, spot hangs. */
static int tend(struct run *r, struct mode *m, uint64_t now)
{
	uint64_t stall = r->opt->stall_timeout_ms * NSEC_PER_MSEC;
	struct pending *old;
	unsigned k;
	int err;

	for (k = 0; k < m->nconns; k++) {
		err = tend_connection(r, m, &m->conns[k], now);
		if (err)
			return err;
	}
	err = m->ops->pump(r, now);
	if (err)
		return err;
	for (k = 0; k < m->nconns; k++) {
		struct conn *c = &m->conns[k];

		if (c->state != CONN_UP)
			continue;
		err = conn_flush(c);
		if (err) {
			conn_lost(r, m, c, err, true, now);
			continue;
		}
		old = conn_oldest(c);
		if (old && !old->hung && now - old->sent_ns > stall) {
			old->hung = true;
			violation(r, VIOL_HUNG, m->ops->name, "no reply for "
				  "%u ms (%zu request(s) waiting)",
				  r->opt->stall_timeout_ms, c->q_len);
		}
	}
	return 0;
}

/* Poll said something about connection c of mode m. */
static int service(struct run *r, struct mode *m, struct conn *c,
		   short revents, uint64_t now)
{
	struct pending p;
	struct reply rep;
	int err, ret;

	if (c->state == CONN_CONNECTING) {
		err = conn_finish_connect(c);
		if (err) {
			c->deadline_ns = now + RETRY_NS;
			return 0;
		}
		note_reconnect(r, m, c, now);
		return m->ops->on_up(r, now);
	}
	if (c->state != CONN_UP || !(revents & (POLLIN | POLLHUP | POLLERR)))
		return 0;
	/* Parse what arrived even if the read ended in an error. */
	err = conn_fill(c);
	while ((ret = conn_next_reply(c, &rep, &p, now)) == REPLY_DONE) {
		ret = m->ops->on_reply(r, &p, &rep, now);
		reply_free(&rep);
		pending_free(&p);
		if (ret)
			return ret;
		r->last_progress_ns = now;
		c->backoff_ns = 0; /* a working connection: retry fast again */
	}
	if (ret < 0) {
		violation(r, VIOL_PROTOCOL, m->ops->name, "unparsable or "
			  "unsolicited reply (%s); reconnecting",
			  strerror(-ret));
		conn_lost(r, m, c, ret, false, now);
		return 0;
	}
	if (err < 0)
		conn_lost(r, m, c, err, true, now);
	return 0;
}

static bool all_done(struct run *r)
{
	for (int i = 0; i < MODE__COUNT; i++)
		if (r->modes[i].enabled && !r->modes[i].ops->done(r))
			return false;
	return true;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int run_loop(struct run *r)
{
	const struct options *o = r->opt;
	uint64_t end = o->duration_s > 0 ?
		       r->start_ns + (uint64_t)(o->duration_s * 1e9) : 0;
	uint64_t stall = o->stall_timeout_ms * NSEC_PER_MSEC;
	/* Drain: wait this long without any reply before giving up. */
	uint64_t drain = stall > NSEC_PER_SEC ? stall : NSEC_PER_SEC;
	int err = 0;

	for (;;) {
		struct pollfd pfd[MAX_CONNS];
		struct {
			struct mode *m;
			struct conn *c;
		} which[MAX_CONNS];
		struct timespec ts;
		uint64_t now = now_ns(), next = now + TICK_NS;
		int n = 0;

		if (!r->stopping && (signals_seen || (end && now >= end))) {
			r->stopping = true;
			r->stop_ns = now;
			r->last_progress_ns = now;
			note(r, "stopping%s", signals_seen ? " (signal)" : "");
		}
		if (signals_seen >= 2) {
			note(r, "second signal: not waiting any longer");
			break;
		}
		for (int i = 0; i < MODE__COUNT && !err; i++)
			if (r->modes[i].enabled)
				err = tend(r, &r->modes[i], now);
		if (err)
			break;
		if (r->stopping && all_done(r))
			break;
		if (r->stopping && now - r->last_progress_ns > drain) {
			note(r, "no reply for %.1f s while finishing; giving "
			     "up", drain / 1e9);
			break;
		}
		if (end && !r->stopping)
			next = earliest(next, end);
		for (int i = 0; i < MODE__COUNT; i++) {
			struct mode *m = &r->modes[i];

			if (!m->enabled)
				continue;
			if (m->ops->wake_at && m->ops->wake_at(r))
				next = earliest(next, m->ops->wake_at(r));
			for (unsigned k = 0; k < m->nconns; k++) {
				struct conn *c = &m->conns[k];
				struct pending *old = conn_oldest(c);

				if (c->state != CONN_UP)
					next = earliest(next, c->deadline_ns);
				if (old && !old->hung)
					next = earliest(next,
							old->sent_ns + stall + 1);
				if (c->fd >= 0) {
					pfd[n] = (struct pollfd){ c->fd,
						conn_poll_events(c), 0 };
					which[n].m = m;
					which[n++].c = c;
				}
			}
		}
		now = now_ns();
		/* ns, not poll's ms: the paced load wakes every 1/rate. */
		next = next > now ? next - now : 0;
		ts.tv_sec = (time_t)(next / NSEC_PER_SEC);
		ts.tv_nsec = (long)(next % NSEC_PER_SEC);
		if (ppoll(pfd, (nfds_t)n, &ts, NULL) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		now = now_ns();
		for (int k = 0; k < n && !err; k++)
			if (pfd[k].revents)
				err = service(r, which[k].m, which[k].c,
					      pfd[k].revents, now);
	}
	r->finish_ns = now_ns();
	if (!r->stop_ns)
		r->stop_ns = r->finish_ns;
	return err;
}

/* ----------------------------------------------------------------- main */

/* n connections of `depth` outstanding requests for mode m. */
static int mode_conns_init(struct mode *m, unsigned n, unsigned depth)
{
	int err;

	m->conns = calloc(n, sizeof(*m->conns));
	if (!m->conns)
		return -ENOMEM;
	/* Count only what conn_init set up: the cleanup frees those. */
	for (m->nconns = 0; m->nconns < n; m->nconns++) {
		err = conn_init(&m->conns[m->nconns], m->ops->name, depth);
		if (err) {
			conn_free(&m->conns[m->nconns]);
			return err;
		}
	}
	return 0;
}

static void mode_conns_free(struct mode *m)
{
	for (unsigned k = 0; k < m->nconns; k++)
		conn_free(&m->conns[k]);
	free(m->conns);
	m->conns = NULL;
	m->nconns = 0;
}

static int setup(struct run *r, const struct options *o, char *run_id,
		 size_t run_id_len)
{
	struct sigaction sa = { .sa_handler = on_signal };
	int err;

	r->opt = o;
	r->start_ns = now_ns();
	r->rng = r->start_ns ^ ((uint64_t)getpid() << 32);
	r->modes[MODE_INCR].ops = &incr_ops;
	r->modes[MODE_INCR].enabled = o->mode_incr;
	r->modes[MODE_KEYS].ops = &keys_ops;
	r->modes[MODE_KEYS].enabled = o->mode_keys;
	r->modes[MODE_LOAD].ops = &load_ops;
	r->modes[MODE_LOAD].enabled = o->mode_load;
	r->incr_lat = malloc(sizeof(*r->incr_lat));
	r->set_lat = malloc(sizeof(*r->set_lat));
	if (!r->incr_lat || !r->set_lat)
		return -ENOMEM;
	lat_init(r->incr_lat);
	lat_init(r->set_lat);
	seq_init(&r->seq, 0);
	snprintf(run_id, run_id_len, "%d.%llu", (int)getpid(),
		 (unsigned long long)(time(NULL) % 1000000));
	err = keytrack_init(&r->kt, o->run_id ? o->run_id : run_id);
	if (err) {
		fprintf(stderr, "consistency-client: --run-id must be 1..%zu "
			"characters\n", sizeof(r->kt.run_id) - 1);
		return err;
	}
	for (int i = 0; i < MODE__COUNT; i++) {
		err = mode_conns_init(&r->modes[i], i == MODE_LOAD ?
				      o->connections : 1, i == MODE_LOAD ?
				      o->window : o->pipeline);
		if (err)
			return err;
	}
	if (o->mode_load) {
		err = load_setup(r);
		if (err)
			return err;
		/* The schedule's wake-ups should not drift by the default 50 us. */
		prctl(PR_SET_TIMERSLACK, 1000UL);
	}
	if (o->csv_path) {
		r->csv = fopen(o->csv_path, "w");
		if (!r->csv) {
			fprintf(stderr, "consistency-client: %s: %s\n",
				o->csv_path, strerror(errno));
			return -errno;
		}
		fprintf(r->csv, "t_ns,mode,value,latency_ns\n");
	}
	/* No SA_RESTART: a signal must wake poll() so we stop promptly. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return resolve(r);
}

static int write_reports(const struct run *r)
{
	const struct options *o = r->opt;
	FILE *f;
	int err = 0;

	if (!o->quiet)
		report_human(r, o->json_stdout ? stderr : stdout);
	if (o->json_stdout)
		err = report_json(r, stdout);
	if (o->out_path) {
		f = fopen(o->out_path, "w");
		if (!f) {
			fprintf(stderr, "consistency-client: %s: %s\n",
				o->out_path, strerror(errno));
			return -errno;
		}
		err = report_json(r, f);
		if (fclose(f) && !err)
			err = -EIO;
	}
	return err;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct run run = { 0 };
	char run_id[32];
	int status = EXIT_SETUP;
	int err;

	err = parse_options(argc, argv, &opt);
	if (err)
		return err > 0 ? 0 : EXIT_SETUP;
	err = setup(&run, &opt, run_id, sizeof(run_id));
	if (err)
		goto out;
	err = connect_initial(&run);
	if (err)
		goto out;
	note(&run, "connected to %s:%s, mode %s", opt.host, opt.port,
	     run_mode_string(&run));
	err = run_loop(&run);
	if (err) {
		/* -EINVAL: a workload found a setup problem and said which. */
		if (err != -EINVAL)
			fprintf(stderr, "consistency-client: %s\n",
				strerror(-err));
		goto out;
	}
	if (run.csv && fflush(run.csv))
		fprintf(stderr, "consistency-client: writing %s failed\n",
			opt.csv_path);
	if (write_reports(&run))
		goto out;
	status = vlog_total(&run.vlog) ? EXIT_VIOLATION : EXIT_SUCCESS;
out:
	for (int i = 0; i < MODE__COUNT; i++)
		mode_conns_free(&run.modes[i]);
	load_free_all(&run);
	keytrack_free(&run.kt);
	free(run.incr_lat);
	free(run.set_lat);
	if (run.csv)
		fclose(run.csv);
	return status;
}
