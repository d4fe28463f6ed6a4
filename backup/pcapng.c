/* SPDX-License-Identifier: MIT */
/*
 * pcapng writer and the replay log's export. Spec: "PCAP Next Generation
 * (pcapng) Capture File Format" (IETF opsawg draft): every block is
 * type, total length, body, options, total length again, 32-bit aligned.
 */
/* mmap flags, clock ids, mkstemp: POSIX + BSD bits (the Makefile sets it too).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backup/pcapng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- blocks */

static void block_reserve(struct pcapng_block *b, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (b->err || b->len + more <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->buf, cap);
	if (!p) {
		b->err = -ENOMEM;
		return;
	}
	b->buf = p;
	b->cap = cap;
}

void pcapng_block_put(struct pcapng_block *b, const void *data, size_t len)
{
	static const uint8_t zero[4];
	size_t pad = (4 - (len & 3)) & 3;

	block_reserve(b, len + pad);
	if (b->err)
		return;
	if (len)
		memcpy(b->buf + b->len, data, len);
	memcpy(b->buf + b->len + len, zero, pad);
	b->len += len + pad;
}

void pcapng_block_put32(struct pcapng_block *b, uint32_t v)
{
	pcapng_block_put(b, &v, sizeof(v));
}

void pcapng_block_begin(struct pcapng_block *b, uint32_t type)
{
	/* Keep the buffer across blocks: one allocation per export. */
	b->len = 0;
	b->nopts = 0;
	b->err = 0;
	pcapng_block_put32(b, type);
	pcapng_block_put32(b, 0); /* total length, filled in by write */
}

void pcapng_block_opt(struct pcapng_block *b, uint16_t code, const void *data,
		      size_t len)
{
	uint16_t hdr[2] = {code, (uint16_t)len};

	if (len > UINT16_MAX) {
		if (!b->err)
			b->err = -E2BIG;
		return;
	}
	pcapng_block_put(b, hdr, sizeof(hdr));
	pcapng_block_put(b, data, len);
	b->nopts++;
}

void pcapng_block_opt_str(struct pcapng_block *b, uint16_t code, const char *s)
{
	/* Strings are UTF-8 without a terminating NUL. */
	size_t len = strlen(s);

	pcapng_block_opt(b, code, s, len > UINT16_MAX ? UINT16_MAX : len);
}

int pcapng_block_write(struct pcapng_block *b, FILE *f)
{
	uint32_t total;

	if (b->nopts)
		pcapng_block_put32(b, PCAPNG_OPT_END); /* code 0, length 0 */
	block_reserve(b, 4);
	if (b->err)
		return b->err;
	total = (uint32_t)b->len + 4;
	memcpy(b->buf + 4, &total, 4);
	memcpy(b->buf + b->len, &total, 4);
	b->len += 4;
	if (fwrite(b->buf, 1, b->len, f) != b->len)
		return -EIO;
	return 0;
}

void pcapng_block_free(struct pcapng_block *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------- export */

/* Bounded string building: truncates instead of failing (comments only). */
struct sbuf {
	char s[4096];
	size_t len;
};

static void __attribute__((format(printf, 2, 3)))
sb_add(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->len >= sizeof(sb->s) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(sb->s + sb->len, sizeof(sb->s) - sb->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		sb->len += (size_t)n;
	if (sb->len > sizeof(sb->s) - 1)
		sb->len = sizeof(sb->s) - 1;
}

static void sb_time(struct sbuf *sb, uint64_t real_ns)
{
	time_t sec = (time_t)(real_ns / 1000000000ull);
	struct tm tm;
	char buf[32];

	gmtime_r(&sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	sb_add(sb, "%s.%09lluZ", buf,
	       (unsigned long long)(real_ns % 1000000000ull));
}

typedef unsigned long long ull;

/* Marks and gaps shown in the section header (the newest ones). */
#define SHB_MARKS 16
#define SHB_GAPS  16

static int write_shb(struct pcapng_block *b, FILE *f,
		     const struct replay_log *log, const char *note)
{
	struct replay_mark marks[SHB_MARKS];
	struct replay_gap gaps[SHB_GAPS];
	struct replay_log_stats st;
	struct sbuf sb = {.len = 0};
	size_t nm, ng;

	replay_log_stats(log, &st);
	pcapng_block_begin(b, PCAPNG_BT_SHB);
	pcapng_block_put32(b, PCAPNG_BYTE_ORDER_MAGIC);
	pcapng_block_put(b, (uint16_t[2]){1, 0}, 4); /* version 1.0 */
	pcapng_block_put32(b, 0xFFFFFFFFu); /* section length: unknown */
	pcapng_block_put32(b, 0xFFFFFFFFu);

	sb_add(&sb, "rrvm replay log: %llu frames, %llu bytes", (ull)st.frames,
	       (ull)st.bytes);
	if (st.have_epoch)
		sb_add(&sb, "; last committed epoch %llu", (ull)st.last_epoch);
	else
		sb_add(&sb, "; no epoch committed yet");
	sb_add(&sb, "; limits %llu bytes, %llu frames", (ull)st.limit_bytes,
	       (ull)st.limit_frames);
	pcapng_block_opt_str(b, PCAPNG_OPT_COMMENT, sb.s);

	sb.len = 0;
	sb_add(&sb,
	       "counters: appended %llu (%llu bytes), trimmed %llu, skipped "
	       "%llu, gaps %llu, overflows %llu, cleared %llu, trims %llu; "
	       "high water %llu frames, %llu bytes",
	       (ull)st.appended, (ull)st.appended_bytes, (ull)st.trimmed,
	       (ull)st.skipped, (ull)st.gaps, (ull)st.overflows,
	       (ull)st.cleared, (ull)st.trims, (ull)st.frames_hwm,
	       (ull)st.bytes_hwm);
	pcapng_block_opt_str(b, PCAPNG_OPT_COMMENT, sb.s);

	nm = replay_log_marks(log, marks, SHB_MARKS);
	for (size_t i = 0; i < nm; i++) {
		sb.len = 0;
		sb_add(&sb, "commit epoch %llu at ", (ull)marks[i].epoch);
		sb_time(&sb, marks[i].ts.real_ns);
		sb_add(&sb,
		       ": matched %u, skipped %u, gaps %u; log head seq %llu, "
		       "captured before seq %llu",
		       marks[i].matched, marks[i].skipped, marks[i].gaps,
		       (ull)marks[i].head_seq, (ull)marks[i].tail_seq);
		pcapng_block_opt_str(b, PCAPNG_OPT_COMMENT, sb.s);
	}
	ng = replay_log_gaps(log, gaps, SHB_GAPS);
	for (size_t i = 0; i < ng; i++) {
		sb.len = 0;
		sb_add(&sb,
		       "capture gap: epoch %llu digest=%016llx (digest #%u of "
		       "the epoch)",
		       (ull)gaps[i].epoch, (ull)gaps[i].digest, gaps[i].index);
		pcapng_block_opt_str(b, PCAPNG_OPT_COMMENT, sb.s);
	}
	if (note && *note)
		pcapng_block_opt_str(b, PCAPNG_OPT_COMMENT, note);
	pcapng_block_opt_str(b, PCAPNG_SHB_USERAPPL, "rrvm");
	return pcapng_block_write(b, f);
}

static int write_idb(struct pcapng_block *b, FILE *f)
{
	uint8_t tsresol = 9; /* 10^-9 s: timestamps are nanoseconds */

	pcapng_block_begin(b, PCAPNG_BT_IDB);
	/* Link type, then 16 reserved bits. */
	pcapng_block_put(b, (uint16_t[2]){PCAPNG_LINKTYPE_ETHERNET, 0}, 4);
	pcapng_block_put32(b, 65535); /* snaplen: frames are never cut */
	pcapng_block_opt_str(b, PCAPNG_IF_NAME, "rrvm-replay-log");
	pcapng_block_opt_str(b, PCAPNG_IF_DESCRIPTION,
			     "client->guest frames held for replay");
	pcapng_block_opt(b, PCAPNG_IF_TSRESOL, &tsresol, 1);
	return pcapng_block_write(b, f);
}

/* The comment of one frame: identity, and the commits that preceded it. */
static void frame_comment(struct sbuf *sb, const struct replay_log_stats *st,
			  const struct replay_frame *fr,
			  const struct replay_mark *marks, size_t nm)
{
	sb->len = 0;
	sb_add(sb, "seq=%llu digest=%016llx mono=%llu.%09llu ", (ull)fr->seq,
	       (ull)fr->digest, (ull)(fr->ts.mono_ns / 1000000000ull),
	       (ull)(fr->ts.mono_ns % 1000000000ull));
	if (st->have_epoch)
		sb_add(sb, "epoch>%llu", (ull)st->last_epoch);
	else
		sb_add(sb, "epoch>none");
	/*
	 * A commit whose trim ran after frames [..tail_seq) were captured
	 * marks the first frame captured after it.
	 */
	for (size_t i = 0; i < nm; i++)
		if (marks[i].tail_seq == fr->seq)
			sb_add(sb,
			       "; commit of epoch %llu before this frame "
			       "(matched %u, skipped %u, gaps %u)",
			       (ull)marks[i].epoch, marks[i].matched,
			       marks[i].skipped, marks[i].gaps);
}

static void put_ts(struct pcapng_block *b, uint64_t ns)
{
	pcapng_block_put32(b, (uint32_t)(ns >> 32));
	pcapng_block_put32(b, (uint32_t)ns);
}

static int write_epbs(struct pcapng_block *b, FILE *f,
		      const struct replay_log *log, size_t *count)
{
	struct replay_mark marks[REPLAY_MARKS];
	uint32_t flags = PCAPNG_EPB_FLAG_INBOUND;
	struct replay_log_stats st;
	struct replay_frame fr;
	struct sbuf sb;
	size_t nm = replay_log_marks(log, marks, REPLAY_MARKS);
	int ret;

	replay_log_stats(log, &st);

	for (bool ok = replay_log_first(log, &fr); ok;
	     ok = replay_log_next(log, &fr)) {
		pcapng_block_begin(b, PCAPNG_BT_EPB);
		pcapng_block_put32(b, 0); /* interface 0 */
		put_ts(b, fr.ts.real_ns);
		pcapng_block_put32(b, fr.len); /* captured */
		pcapng_block_put32(b, fr.len); /* original */
		pcapng_block_put(b, fr.data, fr.len);
		frame_comment(&sb, &st, &fr, marks, nm);
		pcapng_block_opt_str(b, PCAPNG_OPT_COMMENT, sb.s);
		pcapng_block_opt(b, PCAPNG_EPB_FLAGS, &flags, sizeof(flags));
		ret = pcapng_block_write(b, f);
		if (ret)
			return ret;
		(*count)++;
	}
	return 0;
}

static void opt_ts(struct pcapng_block *b, uint16_t code, uint64_t ns)
{
	uint32_t v[2] = {(uint32_t)(ns >> 32), (uint32_t)ns};

	pcapng_block_opt(b, code, v, sizeof(v));
}

/* Counters in the reader's own terms: received = appended, dropped = refused.
 */
static int write_isb(struct pcapng_block *b, FILE *f,
		     const struct replay_log *log)
{
	struct replay_log_stats st;
	struct replay_frame first, last;
	struct timespec now;

	replay_log_stats(log, &st);
	clock_gettime(CLOCK_REALTIME, &now);
	pcapng_block_begin(b, PCAPNG_BT_ISB);
	pcapng_block_put32(b, 0); /* interface 0 */
	put_ts(b, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
	if (replay_log_first(log, &first) && replay_log_last(log, &last)) {
		opt_ts(b, PCAPNG_ISB_STARTTIME, first.ts.real_ns);
		opt_ts(b, PCAPNG_ISB_ENDTIME, last.ts.real_ns);
	}
	pcapng_block_opt(b, PCAPNG_ISB_IFRECV, &st.appended,
			 sizeof(st.appended));
	pcapng_block_opt(b, PCAPNG_ISB_IFDROP, &st.overflows,
			 sizeof(st.overflows));
	return pcapng_block_write(b, f);
}

int replay_log_render_pcapng(const struct replay_log *log, const char *note,
			     char **out, size_t *out_len, size_t *frames)
{
	struct pcapng_block b = {0};
	size_t count = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	f = open_memstream(&buf, &len);
	if (!f)
		return -errno;
	ret = write_shb(&b, f, log, note);
	if (!ret)
		ret = write_idb(&b, f);
	if (!ret)
		ret = write_epbs(&b, f, log, &count);
	if (!ret)
		ret = write_isb(&b, f, log);
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	pcapng_block_free(&b);
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	*out_len = len;
	if (frames)
		*frames = count;
	return 0;
}

int pcapng_write_file(const char *path, const char *data, size_t len)
{
	char *tmp;
	int fd, ret = 0;

	tmp = malloc(strlen(path) + sizeof(".XXXXXX"));
	if (!tmp)
		return -ENOMEM;
	strcpy(tmp, path);
	strcat(tmp, ".XXXXXX");
	/* Same directory as the target, so the rename is atomic; mkstemp
	 * cannot follow a planted symlink (O_EXCL). */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		free(tmp);
		return ret;
	}
	/* mkstemp makes 0600; a capture file is meant to be shared. */
	fchmod(fd, 0644);
	while (len && !ret) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ret = n < 0 ? -errno : -EIO;
		else {
			data += n;
			len -= (size_t)n;
		}
	}
	/* Durable before visible: a crash leaves the old file or the new. */
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -EIO;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	free(tmp);
	return ret;
}

int replay_log_export_pcapng(const struct replay_log *log, const char *path,
			     const char *note, size_t *frames)
{
	char *buf;
	size_t len, count;
	int ret;

	if (frames)
		*frames = 0;
	ret = replay_log_render_pcapng(log, note, &buf, &len, &count);
	if (ret)
		return ret;
	ret = pcapng_write_file(path, buf, len);
	free(buf);
	if (!ret && frames)
		*frames = count;
	return ret;
}
