// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the kv guest's RESP request parser
 * (guest/services/kv/resp.c) and, behind it, the whole kv service (command
 * handlers, store, replies), built for the host against the fake service
 * transport of the unit tests (tests/unit/fake_service.c).
 *
 * Input: one mode byte, then the client's byte stream.
 *   mode & 0x03  how the stream is cut: 0 whole, 1 byte by byte, 2-3 chunks
 *                of pseudo-random sizes
 *   mode & 0x80  drive the kv service (two connections: the stream on one,
 *                PING on the other between chunks; mode & 0x40 puts the
 *                heap past maxmemory) instead of the parser alone
 *
 * Checked: no crash, overrun or leak (ASan/UBSan/LSan). Parser: the
 * requests and the error found when the stream is cut into chunks (and the
 * unparsed tail moved around, as the service does) are exactly those found
 * in one piece; every argument lies inside the buffer and within the
 * limits. Service: the other connection always answers PING with +PONG and
 * is never closed; above maxmemory no connection is closed for it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_commands.h"
#include "kv/resp.h"
#include "tests/fuzz/fuzz_service.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_BULK 4096u
#define MAX_REQS 256

extern const struct guest_service guest_main_service;

/* One request, flattened: argc, then each argument's length and bytes. */
struct flat {
	uint8_t *b;
	size_t n;
};

static struct flat flatten(const struct resp_request *r, const uint8_t *buf,
			   size_t len)
{
	struct flat f = {0};
	size_t total = 8;

	CHECK(r->argc <= r->max_args);
	for (size_t i = 0; i < r->argc; i++) {
		const struct resp_arg *a = &r->argv[i];

		CHECK(a->len <= r->max_bulk || a->len <= RESP_MAX_INLINE);
		CHECK(a->len == 0 || a->ptr != NULL);
		/* Inline arguments may live in the parser's scratch. */
		CHECK((a->ptr >= buf && a->ptr + a->len <= buf + len) ||
		      (a->ptr >= r->scratch &&
		       a->ptr + a->len <= r->scratch + r->scratch_cap));
		total += 8 + a->len;
	}
	f.b = malloc(total);
	CHECK(f.b != NULL);
	memcpy(f.b, &r->argc, 8);
	f.n = 8;
	for (size_t i = 0; i < r->argc; i++) {
		memcpy(f.b + f.n, &r->argv[i].len, 8);
		f.n += 8;
		if (r->argv[i].len)
			memcpy(f.b + f.n, r->argv[i].ptr, r->argv[i].len);
		f.n += r->argv[i].len;
	}
	return f;
}

struct outcome {
	struct flat reqs[MAX_REQS];
	size_t n;
	int error; /* 0, or the parser's negative errno */
	char error_text[80];
};

static void outcome_free(struct outcome *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->reqs[i].b);
}

/* The stream in one buffer. */
static void parse_whole(const uint8_t *s, size_t len, struct outcome *o)
{
	struct resp_request r;
	size_t off = 0;

	resp_request_init(&r);
	r.max_bulk = MAX_BULK;
	while (o->n < MAX_REQS && off < len) {
		size_t used = 0;
		int st = resp_parse(&r, s + off, len - off, &used);

		if (st == RESP_AGAIN)
			break;
		if (st < 0) {
			CHECK(r.error != NULL);
			o->error = st;
			snprintf(o->error_text, sizeof(o->error_text), "%s",
				 r.error);
			break;
		}
		CHECK(st == RESP_DONE && used > 0 && used <= len - off);
		o->reqs[o->n++] = flatten(&r, s + off, len - off);
		off += used;
	}
	resp_request_free(&r);
}

/* The stream in chunks, the unfinished request kept in a buffer that is
 * reallocated (moved) as it grows, as kv_service.c does. */
static void parse_chunked(uint8_t mode, const uint8_t *s, size_t len,
			  const struct outcome *ref)
{
	struct resp_request r;
	uint8_t *acc = NULL;
	size_t acc_len = 0, pos = 0, n = 0;
	uint64_t rng = 0x9E3779B97F4A7C15ull ^ mode ^ len;
	bool stop = false;

	resp_request_init(&r);
	r.max_bulk = MAX_BULK;
	while (pos < len && !stop) {
		size_t end = fuzz_next_cut(mode, &rng, pos, len, 16, 512);
		uint8_t *grown = malloc(acc_len + (end - pos));

		CHECK(grown != NULL);
		if (acc_len)
			memcpy(grown, acc, acc_len);
		memcpy(grown + acc_len, s + pos, end - pos);
		free(acc);
		acc = grown;
		acc_len += end - pos;
		pos = end;
		while (acc_len && n < MAX_REQS) {
			size_t used = 0;
			int st = resp_parse(&r, acc, acc_len, &used);
			struct flat f;

			if (st == RESP_AGAIN)
				break;
			if (st < 0) {
				CHECK(n == ref->n && st == ref->error);
				CHECK(strcmp(r.error, ref->error_text) == 0);
				stop = true;
				break;
			}
			f = flatten(&r, acc, acc_len);
			CHECK(n < ref->n);
			CHECK(f.n == ref->reqs[n].n &&
			      memcmp(f.b, ref->reqs[n].b, f.n) == 0);
			free(f.b);
			n++;
			memmove(acc, acc + used, acc_len - used);
			acc_len -= used;
		}
		if (n == MAX_REQS)
			stop = true;
	}
	if (!stop)
		CHECK(n == ref->n && ref->error == 0);
	free(acc);
	resp_request_free(&r);
}

static bool is_pong(const char *out)
{
	return strcmp(out, "+PONG\r\n") == 0;
}

static void drive_service(uint8_t mode, const uint8_t *s, size_t len)
{
	char maxbulk[16];

	fake_reset();
	snprintf(maxbulk, sizeof(maxbulk), "%u", MAX_BULK);
	fake_set_option("maxbulk", maxbulk);
	fake_set_mem(0, 64u << 20);
	CHECK(guest_main_service.start() == 0);
	if (mode & 0x40)
		fake_set_mem(63u << 20, 64u << 20);
	fuzz_drive_service(KV_DEFAULT_PORT, mode, s, len, 16, 512, "PING\r\n",
			   is_pong);
	fake_reset();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome ref;

	if (size < 1)
		return 0;
	if (data[0] & 0x80) {
		drive_service(data[0], data + 1, size - 1);
		return 0;
	}
	memset(&ref, 0, sizeof(ref));
	parse_whole(data + 1, size - 1, &ref);
	parse_chunked(data[0], data + 1, size - 1, &ref);
	outcome_free(&ref);
	return 0;
}

#ifdef FUZZ_GEN_SEEDS
/* ------------------------------------------------------ seed generator */

int main(int argc, char **argv)
{
	static const struct fuzz_text_seed seeds[] = {
	    {"multibulk", 0x00,
	     "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
	     "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"},
	    {"inline-quotes", 0x01,
	     "SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\nPING\r\n\r\nECHO hi\n"},
	    {"pipeline-chunks", 0x02,
	     "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
	     "*3\r\n$5\r\nLPUSH\r\n$1\r\nl\r\n$1\r\nx\r\n"
	     "*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n"},
	    {"bad-bulk", 0x03, "*1\r\n$-7\r\nxyz\r\n"},
	    {"too-long-bulk", 0x00, "*2\r\n$3\r\nGET\r\n$99999\r\n"},
	    {"service-mix", 0x82,
	     "SET k v EX 100\r\nGET k\r\nAPPEND k more\r\nINCR n\r\n"
	     "MSET a 1 b 2\r\nMGET a b c\r\nKEYS *\r\nTTL k\r\nDEL a b\r\n"
	     "RPUSH l a b c\r\nLPOP l\r\nLINDEX l -1\r\nINFO\r\n"
	     "CONFIG GET *\r\nEXPIRE k 1\r\nSETEX s 5 v\r\nGETDEL s\r\n"
	     "FLUSHALL\r\nDBSIZE\r\nQUIT\r\nPING\r\n"},
	    {"service-maxmemory", 0xc0,
	     "SET k v\r\nGET k\r\nDEL k\r\nLPUSH l x\r\nPING\r\n"},
	    {"service-garbage", 0x81, "*1\r\n$4\r\nPINGxx\r\nGET a\r\n"},
	};

	if (argc != 2) {
		fprintf(stderr, "usage: gen_resp DIR\n");
		return 2;
	}
	return fuzz_write_text_seeds(argv[1], seeds,
				     sizeof(seeds) / sizeof(seeds[0]),
				     LLVMFuzzerTestOneInput)
		   ? 1
		   : 0;
}
#endif
