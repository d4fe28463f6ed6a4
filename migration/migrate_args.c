/* SPDX-License-Identifier: MIT */
#include "migration/migrate_args.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/number.h"

/* ADDR:PORT with a dotted IPv4 address and a port 1..65535. */
static bool addr_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	unsigned port, a, b, c, d;
	char tail;

	if (!colon || colon == s || parse_uint(colon + 1, 1, 65535, &port))
		return false;
	if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 5 ||
	    tail != ':')
		return false;
	return a < 256 && b < 256 && c < 256 && d < 256;
}

/* The value of option argv[*i] (which takes one). */
static const char *value(int argc, char *const *argv, int *i, char *err,
			 size_t size)
{
	if (*i + 1 >= argc) {
		snprintf(err, size, "%s needs a value", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

static int number(const char *opt, const char *v, unsigned min, unsigned max,
		  const char *unit, unsigned *out, char *err, size_t size)
{
	if (v && parse_uint(v, min, max, out) == 0)
		return 0;
	if (v)
		snprintf(err, size, "%s '%s': %s, %u..%u", opt, v, unit, min,
			 max);
	return -EINVAL;
}

int migrate_args_parse(int argc, char *const *argv, struct migrate_args *a,
		       char *err, size_t err_size)
{
	memset(a, 0, sizeof(*a));
	a->max_downtime_ms = MIGRATE_DOWNTIME_DEFAULT_MS;
	a->channels = 1;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		int ret = 0;

		if (strcmp(o, "--max-downtime") == 0)
			ret = number(o, value(argc, argv, &i, err, err_size), 1,
				     MIGRATE_DOWNTIME_MAX_MS, "milliseconds",
				     &a->max_downtime_ms, err, err_size);
		else if (strcmp(o, "--max-bandwidth") == 0)
			ret = number(o, value(argc, argv, &i, err, err_size), 0,
				     MIGRATE_BANDWIDTH_MAX_MIB,
				     "MiB/s (0 = unlimited)",
				     &a->max_bandwidth_mib, err, err_size);
		else if (strcmp(o, "--channels") == 0)
			ret = number(o, value(argc, argv, &i, err, err_size), 1,
				     MIGRATE_CHANNELS_MAX, "connections",
				     &a->channels, err, err_size);
		else if (strcmp(o, "--timeout") == 0)
			ret = number(o, value(argc, argv, &i, err, err_size), 1,
				     MIGRATE_TIMEOUT_MAX_S, "seconds",
				     &a->timeout_s, err, err_size);
		else if (strcmp(o, "--auto-converge") == 0)
			a->auto_converge = true;
		else if (strcmp(o, "--insecure") == 0)
			a->insecure = true;
		else if (strcmp(o, "--key-file") == 0) {
			a->key_file = value(argc, argv, &i, err, err_size);
			if (!a->key_file)
				ret = -EINVAL;
		} else if (o[0] == '-') {
			snprintf(err, err_size, "unknown option '%s'", o);
			ret = -EINVAL;
		} else if (a->dest) {
			snprintf(err, err_size, "unexpected argument '%s'", o);
			ret = -EINVAL;
		} else if (!addr_valid(o)) {
			snprintf(err, err_size,
				 "'%s' is not ADDR:PORT (an IPv4 address and "
				 "a port)",
				 o);
			ret = -EINVAL;
		} else {
			a->dest = o;
		}
		if (ret)
			return ret;
	}
	if (!a->dest) {
		snprintf(err, err_size, "where to? usage: %s", MIGRATE_USAGE);
		return -EINVAL;
	}
	if (!!a->key_file == a->insecure) {
		snprintf(err, err_size,
			 a->insecure
			     ? "--key-file and --insecure exclude each "
			       "other"
			     : "the migration link needs --key-file FILE "
			       "(the key 'rrvm incoming' was given), or "
			       "--insecure for a lab without attackers");
		return -EINVAL;
	}
	return 0;
}
