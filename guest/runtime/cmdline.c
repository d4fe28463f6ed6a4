/* SPDX-License-Identifier: MIT */
/* The guest command line: space-separated key=value words, parsed once. */
#include <string.h>

#include "runtime.h"

#define MAX_OPTIONS 32

static char storage[RRVM_CMDLINE_MAX];
static struct {
	const char *key;
	const char *value;
} options[MAX_OPTIONS];
static int option_count;

void guest_cmdline_parse(const char *cmdline)
{
	char *p;

	strncpy(storage, cmdline, sizeof(storage) - 1);
	storage[sizeof(storage) - 1] = '\0';
	p = storage;
	option_count = 0;
	while (*p && option_count < MAX_OPTIONS) {
		char *word, *eq;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		word = p;
		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = '\0';
		eq = strchr(word, '=');
		if (!eq)
			continue;
		*eq = '\0';
		options[option_count].key = word;
		options[option_count].value = eq + 1;
		option_count++;
	}
}

const char *guest_option(const char *key)
{
	/* Last one wins, so a later option overrides an earlier default. */
	for (int i = option_count - 1; i >= 0; i--)
		if (strcmp(options[i].key, key) == 0)
			return options[i].value;
	return NULL;
}
