/* SPDX-License-Identifier: MIT */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_INFO;
static const char *component = "rrvm";

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

void log_set_component(const char *name)
{
	component = name;
}

int log_parse_level(const char *s, enum log_level *out)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const tags[] = {"error", "warn", "info", "debug"};
	struct timespec ts;
	char line[2048];
	va_list ap;
	int n;

	if (level > current_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%02ld:%02ld:%02ld.%03ld %s: %s: ",
		     (long)(ts.tv_sec / 3600 % 24), (long)(ts.tv_sec / 60 % 60),
		     (long)(ts.tv_sec % 60), ts.tv_nsec / 1000000, component,
		     tags[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so concurrent daemons do not interleave. */
	fprintf(stderr, "%s\n", line);
}
