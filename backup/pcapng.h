/* SPDX-License-Identifier: MIT */
/*
 * A minimal pcapng writer (the blocks rrvm needs: section header, one
 * interface, enhanced packets, interface statistics, each with options)
 * and the export of the replay log with it. Host byte order: readers learn
 * it from the section header's byte-order magic. Layout and how to read
 * the result: docs/replay-log.md.
 */
#ifndef RRVM_PCAPNG_H
#define RRVM_PCAPNG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backup/replay_log.h"

/* Block types. */
#define PCAPNG_BT_SHB		0x0A0D0D0Au
#define PCAPNG_BT_IDB		0x00000001u
#define PCAPNG_BT_ISB		0x00000005u
#define PCAPNG_BT_EPB		0x00000006u
#define PCAPNG_BYTE_ORDER_MAGIC 0x1A2B3C4Du

/* Option codes (opt_endofopt and opt_comment are valid in every block). */
#define PCAPNG_OPT_END	      0
#define PCAPNG_OPT_COMMENT    1
#define PCAPNG_SHB_USERAPPL   4
#define PCAPNG_IF_NAME	      2
#define PCAPNG_IF_DESCRIPTION 3
#define PCAPNG_IF_TSRESOL     9
#define PCAPNG_EPB_FLAGS      2
#define PCAPNG_ISB_STARTTIME  2
#define PCAPNG_ISB_ENDTIME    3
#define PCAPNG_ISB_IFRECV     4
#define PCAPNG_ISB_IFDROP     5

#define PCAPNG_LINKTYPE_ETHERNET 1
#define PCAPNG_EPB_FLAG_INBOUND	 0x1u

/*
 * A block under construction: header, body, options, then the trailing
 * length. Blocks are built in memory and written with one fwrite, so a
 * failure never leaves half a block behind a successful return.
 */
struct pcapng_block {
	uint8_t *buf;
	size_t len, cap;
	unsigned nopts; /* options written: then an opt_endofopt is due */
	int err;	/* first error; every later call is a no-op */
};

void pcapng_block_begin(struct pcapng_block *b, uint32_t type);
void pcapng_block_put(struct pcapng_block *b, const void *data, size_t len);
void pcapng_block_put32(struct pcapng_block *b, uint32_t v);
/* One option; the value is padded to 32 bits. */
void pcapng_block_opt(struct pcapng_block *b, uint16_t code, const void *data,
		      size_t len);
void pcapng_block_opt_str(struct pcapng_block *b, uint16_t code, const char *s);
/* opt_endofopt, trailing length, then write. 0 or -errno. */
int pcapng_block_write(struct pcapng_block *b, FILE *f);
void pcapng_block_free(struct pcapng_block *b);

/*
 * Write the current content of the replay log to `path` atomically (a
 * temporary file in the same directory, fsync, rename): a section header
 * whose comments summarise the log, its limits and counters, the last
 * epoch marks and capture gaps (plus `note` if not NULL); one Ethernet
 * interface with nanosecond timestamps; one enhanced packet block per
 * frame in capture order, stamped with its CLOCK_REALTIME capture time and
 * commented "seq=... digest=... epoch>N" (N: the last committed epoch),
 * with a commit's mark on the first frame captured after that commit; an
 * interface statistics block (frames appended and refused).
 * 0 or -errno; *frames (if not NULL) is the number of packets written.
 */
int replay_log_export_pcapng(const struct replay_log *log, const char *path,
			     const char *note, size_t *frames);
/*
 * The same in two steps, so a caller can hold the log's lock only while
 * rendering into memory (*out, malloc'd) and write the file without it.
 */
int replay_log_render_pcapng(const struct replay_log *log, const char *note,
			     char **out, size_t *out_len, size_t *frames);
int pcapng_write_file(const char *path, const char *data, size_t len);

#endif
