/* SPDX-License-Identifier: MIT */
#include "common/report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_LABEL_WIDTH 20

static void put(struct report *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct report *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->failed || r->finished)
		return;
	for (;;) {
		size_t room = r->cap - r->len;

		va_start(ap, fmt);
		n = vsnprintf(r->buf ? r->buf + r->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			r->failed = true;
			return;
		}
		if ((size_t)n < room) {
			r->len += (size_t)n;
			return;
		}
		{
			size_t cap = r->cap ? r->cap * 2 : 1024;
			char *p;

			while (cap - r->len <= (size_t)n)
				cap *= 2;
			p = realloc(r->buf, cap);
			if (!p) {
				r->failed = true;
				return;
			}
			r->buf = p;
			r->cap = cap;
		}
	}
}

void report_init(struct report *r, bool json)
{
	memset(r, 0, sizeof(*r));
	r->json = json;
	r->label_width = REPORT_LABEL_WIDTH;
	if (json)
		put(r, "{");
	else
		put(r, "%s", ""); /* an empty text report is "" */
}

void report_free(struct report *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* JSON string body with the escapes JSON requires. */
static void put_json_string(struct report *r, const char *s)
{
	put(r, "\"");
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			put(r, "\\%c", c);
		else if (c == '\n')
			put(r, "\\n");
		else if (c < 0x20)
			put(r, "\\u%04x", c);
		else
			put(r, "%c", c);
	}
	put(r, "\"");
}

/* The separator before a value, and its key unless inside a list. */
static void json_key(struct report *r, const char *key)
{
	if (r->need_comma[r->depth])
		put(r, ",");
	r->need_comma[r->depth] = true;
	if (r->is_list[r->depth])
		return;
	put_json_string(r, key);
	put(r, ":");
}

static void text_label(struct report *r, const char *key, const char *label)
{
	int indent = 2 * r->depth;
	int width = r->label_width - indent;
	int n;

	if (width < 1)
		width = 1;
	n = (int)strlen(label ? label : key) + 1;
	put(r, "%*s%s:%*s", indent, "", label ? label : key,
	    n < width ? width - n : 1, "");
}

static void open_container(struct report *r, const char *key,
			   const char *title, bool list)
{
	if (r->depth >= REPORT_MAX_DEPTH) {
		r->failed = true;
		return;
	}
	if (r->json) {
		json_key(r, key);
		put(r, list ? "[" : "{");
	} else {
		put(r, "%*s%s:\n", 2 * r->depth, "",
		    title ? title : key ? key : "-");
	}
	r->depth++;
	r->need_comma[r->depth] = false;
	r->is_list[r->depth] = list;
}

void report_open(struct report *r, const char *key, const char *title)
{
	open_container(r, key, title, false);
}

void report_list_open(struct report *r, const char *key, const char *title)
{
	open_container(r, key, title, true);
}

void report_item_open(struct report *r, const char *title)
{
	open_container(r, NULL, title, false);
}

void report_list_str(struct report *r, const char *s)
{
	if (r->json) {
		json_key(r, NULL);
		put_json_string(r, s);
	} else {
		put(r, "%*s- %s\n", 2 * r->depth, "", s);
	}
}

void report_close(struct report *r)
{
	if (r->depth == 0)
		return;
	if (r->json)
		put(r, r->is_list[r->depth] ? "]" : "}");
	r->depth--;
}

void report_u64(struct report *r, const char *key, const char *label,
		uint64_t v)
{
	if (r->json) {
		json_key(r, key);
		put(r, "%" PRIu64, v);
	} else {
		text_label(r, key, label);
		put(r, "%" PRIu64 "\n", v);
	}
}

void report_i64(struct report *r, const char *key, const char *label,
		int64_t v)
{
	if (r->json) {
		json_key(r, key);
		put(r, "%" PRId64, v);
	} else {
		text_label(r, key, label);
		put(r, "%" PRId64 "\n", v);
	}
}

void report_f(struct report *r, const char *key, const char *label,
	      int decimals, double v, const char *unit)
{
	if (r->json) {
		json_key(r, key);
		/* JSON has no NaN or infinity. */
		if (isfinite(v))
			put(r, "%.*f", decimals, v);
		else
			put(r, "null");
	} else {
		text_label(r, key, label);
		put(r, "%.*f%s%s\n", decimals, v, unit ? " " : "",
		    unit ? unit : "");
	}
}

void report_str(struct report *r, const char *key, const char *label,
		const char *s)
{
	if (r->json) {
		json_key(r, key);
		put_json_string(r, s ? s : "");
	} else {
		text_label(r, key, label);
		put(r, "%s\n", s ? s : "");
	}
}

void report_str_or_null(struct report *r, const char *key, const char *label,
			const char *s)
{
	if (s && *s) {
		report_str(r, key, label, s);
		return;
	}
	if (r->json) {
		json_key(r, key);
		put(r, "null");
	} else {
		text_label(r, key, label);
		put(r, "-\n");
	}
}

void report_bool(struct report *r, const char *key, const char *label,
		 bool v)
{
	if (r->json) {
		json_key(r, key);
		put(r, "%s", v ? "true" : "false");
	} else {
		text_label(r, key, label);
		put(r, "%s\n", v ? "yes" : "no");
	}
}

int report_finish(struct report *r)
{
	if (r->finished)
		return r->failed ? -ENOMEM : (int)r->len;
	while (r->depth > 0)
		report_close(r);
	if (r->json)
		put(r, "}\n");
	r->finished = true;
	if (r->failed || !r->buf)
		return -ENOMEM;
	return (int)r->len;
}

int report_copy(const struct report *r, char *buf, size_t size)
{
	int n;

	if (!size)
		return -EINVAL;
	n = snprintf(buf, size, "%s", r->buf && !r->failed ? r->buf : "");
	return n < (int)size ? n : (int)size - 1;
}
