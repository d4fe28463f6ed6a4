/* SPDX-License-Identifier: MIT */
/*
 * One field table, two renderings. A report (status, stats, the failover
 * report, the replay audit...) is written once as a sequence of fields; the
 * same calls produce either aligned "label: value" text lines or one JSON
 * object, so the two forms cannot drift apart. Nested objects are sections
 * (an indented block under a title in text).
 *
 *	struct report r;
 *	report_init(&r, json);
 *	report_u64(&r, "epochs", "epochs", n);
 *	report_open(&r, "output", "output");
 *	report_f(&r, "hold_ms_avg", "held avg", 2, avg, "ms");
 *	report_close(&r);
 *	report_finish(&r);     (then r.buf / r.len; report_free)
 *
 * Memory is grown as needed; if an allocation fails the report is marked
 * failed and later calls do nothing (report_finish returns -ENOMEM).
 */
#ifndef RRVM_REPORT_H
#define RRVM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPORT_MAX_DEPTH 8

struct report {
	char *buf; /* NUL-terminated once finished */
	size_t len, cap;
	bool json;
	bool failed;
	bool finished;
	int depth; /* open sections, the root included in JSON */
	bool need_comma[REPORT_MAX_DEPTH + 1];
	bool is_list[REPORT_MAX_DEPTH + 1]; /* the container at that depth */
	int label_width; /* text: labels are padded to this */
};

void report_init(struct report *r, bool json);
void report_free(struct report *r);

/* A nested object under key (JSON) / an indented block titled title. */
void report_open(struct report *r, const char *key, const char *title);
void report_close(struct report *r);

/*
 * Lists: report_list_open, then items (report_item_open ... report_close,
 * or report_list_str), then report_close. JSON arrays; text: an indented
 * block, one item after another.
 */
void report_list_open(struct report *r, const char *key, const char *title);
void report_item_open(struct report *r, const char *title);
void report_list_str(struct report *r, const char *s);

/* Fields. label is the text form's name; NULL uses key. unit may be NULL. */
void report_u64(struct report *r, const char *key, const char *label,
		uint64_t v);
void report_i64(struct report *r, const char *key, const char *label,
		int64_t v);
void report_f(struct report *r, const char *key, const char *label,
	      int decimals, double v, const char *unit);
void report_str(struct report *r, const char *key, const char *label,
		const char *s);
void report_bool(struct report *r, const char *key, const char *label,
		 bool v);
/* A string field that may be absent: JSON null, text "-". */
void report_str_or_null(struct report *r, const char *key, const char *label,
			const char *s);

/* Close every open section and terminate. Returns the length or -ENOMEM. */
int report_finish(struct report *r);

/* Copy a finished report into buf (truncated, always terminated). */
int report_copy(const struct report *r, char *buf, size_t size);

#endif
