/* SPDX-License-Identifier: MIT */
/*
 * The replay log's pcapng export, read back two ways: a minimal reader here
 * (block structure, lengths, interface, packet bytes and comments), and
 * tshark itself when it is installed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/pcapng.h"
#include "backup/replay_log.h"
#include "netstate/frame_digest.h"

#define REAL0 1700000000123456789ull

static char dir[64];
static char path[128];

static int setup(void **state)
{
	strcpy(dir, "/tmp/rrvm-pcapng-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/log.pcapng", dir);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return rmdir(dir);
}

static size_t make_frame(uint8_t *buf, unsigned k)
{
	size_t len = 42 + k * 100;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(k * 31 + i);
	return len;
}

static void append(struct replay_log *log, unsigned k)
{
	struct replay_stamp ts = {.mono_ns = k * 1000000ull,
				  .real_ns = REAL0 + k * 1000};
	uint8_t buf[REPLAY_FRAME_MAX];

	assert_int_equal(replay_log_append(log, buf, make_frame(buf, k), &ts),
			 0);
}

static uint64_t digest_of(unsigned k)
{
	uint8_t buf[REPLAY_FRAME_MAX];

	return frame_digest(buf, make_frame(buf, k));
}

/*
 * Log 2 3 4 5 6 after: commit 3 took frame 1 (frames 2, 3 were already
 * captured), commit 4 found a capture gap, then frame 6 arrived.
 */
static void build_log(struct replay_log *log)
{
	uint64_t d;

	assert_int_equal(replay_log_init(log, 1 << 20, 64), 0);
	append(log, 1);
	append(log, 2);
	append(log, 3);
	d = digest_of(1);
	assert_int_equal(replay_log_trim(log, 3, &d, 1, NULL), 0);
	append(log, 4);
	append(log, 5);
	d = 0x1234;
	assert_int_equal(replay_log_trim(log, 4, &d, 1, NULL), 0);
	append(log, 6);
}

/* ------------------------------------------------------- the reader */

struct file {
	uint8_t *p;
	size_t len;
};

static struct file slurp(const char *p)
{
	struct file f = {0};
	FILE *fp = fopen(p, "rb");

	assert_non_null(fp);
	f.p = malloc(1 << 20);
	assert_non_null(f.p);
	f.len = fread(f.p, 1, 1 << 20, fp);
	fclose(fp);
	return f;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

/* Walk options [p, end); call back for each; assert they are well formed. */
static size_t each_opt(const uint8_t *p, const uint8_t *end,
		       void (*fn)(uint16_t, const uint8_t *, uint16_t, void *),
		       void *arg)
{
	size_t n = 0;

	while (p < end) {
		uint16_t code, len;

		assert_true(end - p >= 4);
		code = rd16(p);
		len = rd16(p + 2);
		if (code == PCAPNG_OPT_END) {
			assert_int_equal(len, 0);
			assert_true(p + 4 == end);
			return n;
		}
		assert_true(p + 4 + ((len + 3u) & ~3u) <= end);
		fn(code, p + 4, len, arg);
		n++;
		p += 4 + ((len + 3u) & ~3u);
	}
	fail_msg("options without opt_endofopt");
	return n;
}

struct opts {
	char comments[32][512];
	int ncomments;
	int tsresol;
	uint64_t ifrecv, ifdrop;
};

static void collect(uint16_t code, const uint8_t *v, uint16_t len, void *arg)
{
	struct opts *o = arg;

	if (code == PCAPNG_OPT_COMMENT && o->ncomments < 32) {
		size_t n = len < 511 ? len : 511;

		memcpy(o->comments[o->ncomments], v, n);
		o->comments[o->ncomments++][n] = 0;
	}
	if (code == PCAPNG_IF_TSRESOL && len == 1)
		o->tsresol = v[0];
}

static void collect_isb(uint16_t code, const uint8_t *v, uint16_t len,
			void *arg)
{
	struct opts *o = arg;

	if (code == PCAPNG_ISB_IFRECV && len == 8)
		memcpy(&o->ifrecv, v, 8);
	if (code == PCAPNG_ISB_IFDROP && len == 8)
		memcpy(&o->ifdrop, v, 8);
}

static bool any_contains(const struct opts *o, const char *s)
{
	for (int i = 0; i < o->ncomments; i++)
		if (strstr(o->comments[i], s))
			return true;
	return false;
}

/*
 * Check the file block by block against the log; returns the number of
 * packets. Comments of the packets land in pkt[].
 */
static size_t check_file(const struct replay_log *log, struct opts *shb,
			 struct opts *pkt, size_t maxpkt)
{
	struct file f = slurp(path);
	struct replay_frame fr;
	struct opts idb = {0}, isb = {0};
	struct replay_log_stats st;
	size_t off = 0, npkt = 0, nblk = 0;
	bool have = replay_log_first(log, &fr), saw_isb = false;

	memset(shb, 0, sizeof(*shb));
	while (off < f.len) {
		const uint8_t *b = f.p + off;
		uint32_t type, total;

		assert_true(f.len - off >= 12);
		type = rd32(b);
		total = rd32(b + 4);
		assert_true(total >= 12 && total % 4 == 0);
		assert_true(off + total <= f.len);
		assert_int_equal(rd32(b + total - 4), total);
		if (nblk == 0) {
			assert_int_equal(type, PCAPNG_BT_SHB);
			assert_int_equal(rd32(b + 8), PCAPNG_BYTE_ORDER_MAGIC);
			assert_int_equal(rd16(b + 12), 1);
			assert_int_equal(rd16(b + 14), 0);
			each_opt(b + 24, b + total - 4, collect, shb);
		} else if (nblk == 1) {
			assert_int_equal(type, PCAPNG_BT_IDB);
			assert_int_equal(rd16(b + 8), PCAPNG_LINKTYPE_ETHERNET);
			each_opt(b + 16, b + total - 4, collect, &idb);
			assert_int_equal(idb.tsresol, 9);
		} else if (type == PCAPNG_BT_EPB) {
			uint32_t caplen = rd32(b + 20);
			uint64_t ts =
			    (uint64_t)rd32(b + 12) << 32 | rd32(b + 16);

			assert_false(saw_isb);
			assert_true(have);
			assert_int_equal(rd32(b + 8), 0);
			assert_int_equal(caplen, fr.len);
			assert_int_equal(rd32(b + 24), fr.len);
			assert_memory_equal(b + 28, fr.data, fr.len);
			assert_true(ts == fr.ts.real_ns);
			assert_true(npkt < maxpkt);
			memset(&pkt[npkt], 0, sizeof(pkt[npkt]));
			each_opt(b + 28 + ((caplen + 3) & ~3u), b + total - 4,
				 collect, &pkt[npkt]);
			assert_int_equal(pkt[npkt].ncomments, 1);
			npkt++;
			have = replay_log_next(log, &fr);
		} else {
			assert_int_equal(type, PCAPNG_BT_ISB);
			each_opt(b + 20, b + total - 4, collect_isb, &isb);
			saw_isb = true;
		}
		off += total;
		nblk++;
	}
	assert_int_equal(off, f.len);
	assert_false(have);
	assert_true(saw_isb);
	replay_log_stats(log, &st);
	assert_int_equal(isb.ifrecv, st.appended);
	assert_int_equal(isb.ifdrop, st.overflows);
	free(f.p);
	return npkt;
}

/* ------------------------------------------------------------ tests */

static void test_export_parses_back(void **state)
{
	struct opts shb, pkt[8];
	struct replay_log log;
	struct stat sb;
	char want[64];
	size_t n = 0;
	DIR *d;
	struct dirent *e;
	int entries = 0;

	build_log(&log);
	assert_int_equal(
	    replay_log_export_pcapng(&log, path, "unit test note", &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(check_file(&log, &shb, pkt, 8), 5);

	assert_true(any_contains(&shb, "5 frames"));
	assert_true(any_contains(&shb, "last committed epoch 4"));
	assert_true(any_contains(&shb, "commit epoch 3 at "));
	assert_true(any_contains(&shb, "capture gap: epoch 4 "
				       "digest=0000000000001234"));
	assert_true(any_contains(&shb, "unit test note"));
	for (unsigned i = 0; i < 5; i++) {
		snprintf(want, sizeof(want), "seq=%u digest=%016llx", i + 2,
			 (unsigned long long)digest_of(i + 2));
		assert_non_null(strstr(pkt[i].comments[0], want));
		assert_non_null(strstr(pkt[i].comments[0], "epoch>4"));
	}
	/* Commit marks sit on the first frame captured after them. */
	assert_non_null(strstr(pkt[2].comments[0], "commit of epoch 3"));
	assert_non_null(strstr(pkt[4].comments[0], "commit of epoch 4"));
	assert_null(strstr(pkt[0].comments[0], "commit of"));
	assert_null(strstr(pkt[3].comments[0], "commit of"));

	/* Atomic write: no temporary left behind; readable by others. */
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			entries++;
	closedir(d);
	assert_int_equal(entries, 1);
	replay_log_free(&log);
}

static void test_export_empty_and_replace(void **state)
{
	struct opts shb, pkt[1];
	struct replay_log log;
	FILE *fp = fopen(path, "w");
	size_t n = 99;

	/* An old file is replaced whole. */
	assert_non_null(fp);
	fputs("old junk", fp);
	fclose(fp);
	assert_int_equal(replay_log_init(&log, 0, 0), 0);
	assert_int_equal(replay_log_export_pcapng(&log, path, NULL, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(check_file(&log, &shb, pkt, 1), 0);
	assert_true(any_contains(&shb, "no epoch committed yet"));

	/* A directory that does not exist: an error, nothing written. */
	assert_int_equal(
	    replay_log_export_pcapng(&log, "/nonexistent/x.pcapng", NULL, &n),
	    -ENOENT);
	replay_log_free(&log);
}

static void test_block_limits(void **state)
{
	struct pcapng_block b = {0};
	char *big = malloc(70000);
	FILE *fp = fopen("/dev/null", "wb");

	assert_non_null(big);
	assert_non_null(fp);
	memset(big, 'x', 70000);
	pcapng_block_begin(&b, PCAPNG_BT_EPB);
	pcapng_block_opt(&b, PCAPNG_OPT_COMMENT, big, 70000);
	assert_int_equal(pcapng_block_write(&b, fp), -E2BIG);
	/* A fresh block on the same buffer works again. */
	pcapng_block_begin(&b, PCAPNG_BT_EPB);
	pcapng_block_opt(&b, PCAPNG_OPT_COMMENT, big, 100);
	assert_int_equal(pcapng_block_write(&b, fp), 0);
	assert_int_equal(b.len, 8 + 4 + 100 + 4 + 4);
	pcapng_block_free(&b);
	fclose(fp);
	free(big);
}

static bool have_tshark(void)
{
	return access("/usr/bin/tshark", X_OK) == 0 ||
	       system("command -v tshark >/dev/null 2>&1") == 0;
}

static void test_tshark_reads_it(void **state)
{
	struct replay_log log;
	char cmd[256], line[1024];
	unsigned lines = 0;
	FILE *p;

	if (!have_tshark())
		skip();
	build_log(&log);
	assert_int_equal(replay_log_export_pcapng(&log, path, NULL, NULL), 0);
	snprintf(cmd, sizeof(cmd),
		 "tshark -r '%s' -T fields -e frame.len -e frame.comment "
		 "2>/dev/null",
		 path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		unsigned k = lines + 2;
		char want[64];

		assert_true(lines < 5);
		assert_int_equal(strtoul(line, NULL, 10), 42 + k * 100);
		snprintf(want, sizeof(want), "seq=%u digest=%016llx", k,
			 (unsigned long long)digest_of(k));
		assert_non_null(strstr(line, want));
		lines++;
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(lines, 5);
	replay_log_free(&log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_export_parses_back, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_export_empty_and_replace,
					    setup, teardown),
	    cmocka_unit_test(test_block_limits),
	    cmocka_unit_test_setup_teardown(test_tshark_reads_it, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
