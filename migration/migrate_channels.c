/* SPDX-License-Identifier: MIT */
#include "migration/migrate_channels.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "migration/migrate_link.h"

/* A part goes out in sends of about this much (pipelined, not one buffer
 * of guest-memory size). */
#define SEND_BATCH_BYTES (1u << 20)

size_t mchan_part(size_t count, unsigned n, unsigned i, size_t *first)
{
	size_t end = count * (i + 1) / n;

	*first = count * i / n;
	return end - *first;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const uint8_t *mchan_cache_base(void *ctx, uint64_t pfn)
{
	struct migration *m = ctx;

	return delta_cache_peek(&m->cache, pfn);
}

/* Channel c's part of the round: its own BEGIN ... END on its link. */
static int send_part(struct migrate_channel *c, const struct ckpt_begin *begin)
{
	struct migration *m = c->m;
	const struct vm_snapshot *s = &m->snap;
	struct ckpt_end end = {.page_count = c->count, .message_count = 1};
	uint64_t cpu0 = thread_cpu_ns();
	int ret;

	ckpt_buf_reset(&c->buf);
	ret = ckpt_encode_begin(&c->buf, begin);
	for (size_t i = c->first; !ret && i < c->first + c->count;) {
		size_t n = c->first + c->count - i;

		if (n > CKPT_MAX_PAGES_PER_MSG)
			n = CKPT_MAX_PAGES_PER_MSG;
		ret = vm_snapshot_encode_pages(s, i, n, mchan_cache_base, m,
					       m->p.compress, &c->buf, NULL);
		if (!ret && c->buf.len >= SEND_BATCH_BYTES) {
			ret = mlink_send_on(c, &c->buf, true);
			ckpt_buf_reset(&c->buf);
		}
		end.message_count++;
		i += n;
	}
	end.message_count++;
	if (!ret)
		ret = ckpt_encode_end(&c->buf, begin->epoch, &end);
	if (!ret)
		ret = mlink_send_on(c, &c->buf, true);
	ckpt_buf_reset(&c->buf);
	c->cpu_ns += thread_cpu_ns() - cpu0;
	return ret;
}

static void *encoder_main(void *arg)
{
	struct migrate_channel *c = arg;
	struct migration *m = c->m;
	uint64_t seen;

	pthread_mutex_lock(&m->work_lock);
	seen = m->work_generation;
	for (;;) {
		struct ckpt_begin begin;

		while (!m->work_stop && m->work_generation == seen)
			pthread_cond_wait(&m->work_cond, &m->work_lock);
		if (m->work_stop)
			break;
		seen = m->work_generation;
		begin = m->work_begin;
		pthread_mutex_unlock(&m->work_lock);
		c->result = send_part(c, &begin);
		pthread_mutex_lock(&m->work_lock);
		if (--m->work_pending == 0)
			pthread_cond_broadcast(&m->work_cond);
	}
	pthread_mutex_unlock(&m->work_lock);
	return NULL;
}

void mchan_init(struct migration *m)
{
	pthread_mutex_init(&m->work_lock, NULL);
	pthread_cond_init(&m->work_cond, NULL);
	for (unsigned i = 0; i < REPL_MAX_CHANNELS; i++) {
		struct migrate_channel *c = &m->chan[i];

		c->m = m;
		c->index = i;
		pthread_mutex_init(&c->send_lock, NULL);
		ckpt_buf_init(&c->buf);
	}
}

int mchan_start(struct migration *m)
{
	for (unsigned i = 1; i < m->p.channels; i++) {
		struct migrate_channel *c = &m->chan[i];
		char name[16];
		int ret = pthread_create(&c->thread, NULL, encoder_main, c);

		if (ret)
			return -ret;
		c->thread_running = true;
		/* i < REPL_MAX_CHANNELS; the cast tells the compiler the
		 * name fits a thread name's 16 bytes. */
		snprintf(name, sizeof(name), "migrate-ch%u", (unsigned char)i);
		pthread_setname_np(c->thread, name);
	}
	return 0;
}

void mchan_stop(struct migration *m)
{
	pthread_mutex_lock(&m->work_lock);
	m->work_stop = true;
	pthread_cond_broadcast(&m->work_cond);
	pthread_mutex_unlock(&m->work_lock);
	for (unsigned i = 0; i < REPL_MAX_CHANNELS; i++) {
		struct migrate_channel *c = &m->chan[i];

		if (c->thread_running)
			pthread_join(c->thread, NULL);
		c->thread_running = false;
		ckpt_buf_free(&c->buf);
	}
}

int mchan_send_round(struct migration *m, const struct ckpt_begin *begin)
{
	unsigned n = m->p.channels;
	int ret;

	for (unsigned i = 0; i < n; i++) {
		m->chan[i].count =
		    mchan_part(m->snap.npages, n, i, &m->chan[i].first);
		m->chan[i].result = 0;
	}
	if (n > 1) {
		pthread_mutex_lock(&m->work_lock);
		m->work_begin = *begin;
		m->work_pending = n - 1;
		m->work_generation++;
		pthread_cond_broadcast(&m->work_cond);
		pthread_mutex_unlock(&m->work_lock);
	}
	ret = send_part(&m->chan[0], begin);
	if (n > 1) {
		pthread_mutex_lock(&m->work_lock);
		while (m->work_pending)
			pthread_cond_wait(&m->work_cond, &m->work_lock);
		pthread_mutex_unlock(&m->work_lock);
	}
	for (unsigned i = 1; !ret && i < n; i++)
		ret = m->chan[i].result;
	return ret;
}
