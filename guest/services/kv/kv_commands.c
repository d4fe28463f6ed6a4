/* SPDX-License-Identifier: MIT */
/*
 * The kv command table and dispatcher, the helpers handlers share, and the
 * server/connection commands (PING, INFO, CONFIG, COMMAND, ...). Data-type
 * commands live in kv_keys.c, kv_strings.c and kv_lists.c.
 *
 * Replies, including error wording, follow Redis 7.0 so redis-cli,
 * redis-benchmark and scripts written against redis-server work unchanged.
 */
#include "kv_commands.h"

#include "service.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* May need memory for new data: refused above maxmemory (Redis's
 * "denyoom"). Reads, deletes, pops and PING keep working there. */
#define KV_CMD_DENYOOM 0x1

struct kv_command {
	const char *name; /* lowercase; the table is sorted by it */
	int arity;        /* Redis convention: n exact, -n at least n */
	kv_handler *fn;
	unsigned flags;   /* KV_CMD_* */
};

static kv_handler cmd_command, cmd_config, cmd_dbsize, cmd_echo, cmd_flushall,
	cmd_info, cmd_ping, cmd_quit, cmd_select;

static const struct kv_command commands[] = {
	{ "append", 3, cmd_append, KV_CMD_DENYOOM },
	{ "command", -1, cmd_command, 0 },
	{ "config", -2, cmd_config, 0 },
	{ "dbsize", 1, cmd_dbsize, 0 },
	{ "decr", 2, cmd_decr, KV_CMD_DENYOOM },
	{ "decrby", 3, cmd_decrby, KV_CMD_DENYOOM },
	{ "del", -2, cmd_del, 0 },
	{ "echo", 2, cmd_echo, 0 },
	{ "exists", -2, cmd_exists, 0 },
	{ "expire", -3, cmd_expire, 0 },
	{ "flushall", -1, cmd_flushall, 0 },
	{ "flushdb", -1, cmd_flushall, 0 },
	{ "get", 2, cmd_get, 0 },
	{ "getdel", 2, cmd_getdel, 0 },
	{ "getset", 3, cmd_getset, KV_CMD_DENYOOM },
	{ "incr", 2, cmd_incr, KV_CMD_DENYOOM },
	{ "incrby", 3, cmd_incrby, KV_CMD_DENYOOM },
	{ "info", -1, cmd_info, 0 },
	{ "keys", 2, cmd_keys, 0 },
	{ "lindex", 3, cmd_lindex, 0 },
	{ "llen", 2, cmd_llen, 0 },
	{ "lpop", -2, cmd_lpop, 0 },
	{ "lpush", -3, cmd_lpush, KV_CMD_DENYOOM },
	{ "lrange", 4, cmd_lrange, 0 },
	{ "mget", -2, cmd_mget, 0 },
	{ "mset", -3, cmd_mset, KV_CMD_DENYOOM },
	{ "persist", 2, cmd_persist, 0 },
	{ "pexpire", -3, cmd_pexpire, 0 },
	{ "ping", -1, cmd_ping, 0 },
	{ "psetex", 4, cmd_psetex, KV_CMD_DENYOOM },
	{ "pttl", 2, cmd_pttl, 0 },
	{ "quit", -1, cmd_quit, 0 },
	{ "rpop", -2, cmd_rpop, 0 },
	{ "rpush", -3, cmd_rpush, KV_CMD_DENYOOM },
	{ "select", 2, cmd_select, 0 },
	{ "set", -3, cmd_set, KV_CMD_DENYOOM },
	{ "setex", 4, cmd_setex, KV_CMD_DENYOOM },
	{ "setnx", 3, cmd_setnx, KV_CMD_DENYOOM },
	{ "strlen", 2, cmd_strlen, 0 },
	{ "ttl", 2, cmd_ttl, 0 },
	{ "type", 2, cmd_type, 0 },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))
/* Longer than any command name: such an argv[0] cannot be one. */
#define KV_MAX_NAME 16

size_t kv_command_count(void)
{
	return NCOMMANDS;
}

int kv_commands_check(const char **bad)
{
	for (size_t i = 1; i < NCOMMANDS; i++) {
		if (strcmp(commands[i - 1].name, commands[i].name) >= 0 ||
		    strlen(commands[i].name) >= KV_MAX_NAME) {
			*bad = commands[i].name;
			return -EINVAL;
		}
	}
	return 0;
}

static const struct kv_command *lookup_command(const struct resp_arg *a)
{
	char name[KV_MAX_NAME];
	size_t lo = 0, hi = NCOMMANDS;

	if (a->len == 0 || a->len >= sizeof(name))
		return NULL;
	for (size_t i = 0; i < a->len; i++)
		name[i] = tolower(a->ptr[i]);
	name[a->len] = '\0';
	if (strlen(name) != a->len) /* an embedded NUL */
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(name, commands[mid].name);

		if (r == 0)
			return &commands[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ------------------------------------------------------------- helpers */

void kv_reply_arity(struct kv_client *c, const char *name)
{
	resp_add_error(c->out, "ERR wrong number of arguments for '%s' command",
		       name);
}

void kv_reply_err(struct kv_client *c, const char *msg)
{
	resp_add_error(c->out, "%s", msg);
}

bool kv_arg_ll(const struct resp_arg *a, long long *v)
{
	return resp_parse_ll(a->ptr, a->len, v);
}

bool kv_arg_is(const struct resp_arg *a, const char *word)
{
	size_t n = strlen(word);

	if (a->len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (tolower(a->ptr[i]) != tolower((unsigned char)word[i]))
			return false;
	return true;
}

struct kv_entry *kv_lookup(struct kv_client *c, const struct resp_arg *key)
{
	return kv_store_find(&c->srv->store, key->ptr, key->len, c->now_ms);
}

/* How much of an argument to quote in a message: up to max, or a NUL. */
static int printable_len(const struct resp_arg *a, size_t max)
{
	const uint8_t *nul = memchr(a->ptr, 0, a->len < max ? a->len : max);

	if (nul)
		return nul - a->ptr;
	return (int)(a->len < max ? a->len : max);
}

static void reply_unknown_command(struct kv_client *c,
				  const struct resp_arg *argv, size_t argc)
{
	/* Redis quotes the first 128 bytes of arguments, then stops. */
	char args[256];
	size_t n = 0;

	for (size_t i = 1; i < argc && n < 128; i++) {
		int len = printable_len(&argv[i], 128 - n);

		args[n++] = '\'';
		memcpy(args + n, argv[i].ptr, len);
		n += len;
		args[n++] = '\'';
		args[n++] = ' ';
	}
	resp_add_error(c->out,
		       "ERR unknown command '%.*s', with args beginning "
		       "with: %.*s",
		       printable_len(&argv[0], 128), (const char *)argv[0].ptr,
		       (int)n, args);
}

static void reply_unknown_subcommand(struct kv_client *c,
				     const struct resp_arg *sub,
				     const char *cmd)
{
	resp_add_error(c->out,
		       "ERR unknown subcommand '%.*s'. Try %s HELP.",
		       printable_len(sub, 128), (const char *)sub->ptr, cmd);
}

void kv_execute(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	const struct kv_command *cmd;

	if (argc == 0)
		return;
	c->now_ms = svc_now_ms();
	cmd = lookup_command(&argv[0]);
	if (!cmd) {
		reply_unknown_command(c, argv, argc);
		return;
	}
	if ((cmd->arity > 0 && argc != (size_t)cmd->arity) ||
	    (cmd->arity < 0 && argc < (size_t)-cmd->arity)) {
		kv_reply_arity(c, cmd->name);
		return;
	}
	c->srv->commands_processed++;
	if ((cmd->flags & KV_CMD_DENYOOM) && kv_over_maxmemory(c->srv)) {
		c->srv->rejected_oom++;
		kv_reply_err(c, KV_ERR_MAXMEMORY);
		return;
	}
	cmd->fn(c, argv, argc);
	/* Amortised active expiry: keys nobody reads again still go away. */
	kv_store_expire_step(&c->srv->store, c->now_ms, 2);
}

/* ---------------------------------------------- connection and server */

bool kv_over_maxmemory(const struct kv_server *srv)
{
	size_t used, total;

	svc_mem_usage(&used, &total);
	return used > srv->maxmemory;
}

size_t kv_default_maxmemory(size_t heap_total)
{
	size_t reserve = heap_total / 8;

	if (reserve < KV_MEM_RESERVE_MIN)
		reserve = KV_MEM_RESERVE_MIN;
	if (reserve > heap_total / 2)
		reserve = heap_total / 2;
	return heap_total - reserve;
}

static void cmd_ping(struct kv_client *c, const struct resp_arg *argv,
		     size_t argc)
{
	if (argc > 2)
		kv_reply_arity(c, "ping");
	else if (argc == 2)
		resp_add_bulk(c->out, argv[1].ptr, argv[1].len);
	else
		resp_add_simple(c->out, "PONG");
}

static void cmd_echo(struct kv_client *c, const struct resp_arg *argv,
		     size_t argc)
{
	resp_add_bulk(c->out, argv[1].ptr, argv[1].len);
}

static void cmd_quit(struct kv_client *c, const struct resp_arg *argv,
		     size_t argc)
{
	resp_add_simple(c->out, "OK");
	c->quit = true;
}

static void cmd_select(struct kv_client *c, const struct resp_arg *argv,
		       size_t argc)
{
	long long db;

	if (!kv_arg_ll(&argv[1], &db))
		kv_reply_err(c, KV_ERR_NOT_INT);
	else if (db != 0)
		kv_reply_err(c, "ERR DB index is out of range");
	else
		resp_add_simple(c->out, "OK");
}

static void cmd_dbsize(struct kv_client *c, const struct resp_arg *argv,
		       size_t argc)
{
	resp_add_integer(c->out, (long long)kv_store_count(&c->srv->store));
}

static void cmd_flushall(struct kv_client *c, const struct resp_arg *argv,
			 size_t argc)
{
	if (argc > 2 || (argc == 2 && !kv_arg_is(&argv[1], "async") &&
			 !kv_arg_is(&argv[1], "sync"))) {
		kv_reply_err(c, KV_ERR_SYNTAX);
		return;
	}
	kv_store_flush(&c->srv->store);
	resp_add_simple(c->out, "OK");
}

/* ---------------------------------------------------------------- INFO */

struct info_buf {
	char b[1024];
	size_t n;
};

static void info_str(struct info_buf *ib, const char *s)
{
	size_t len = strlen(s);

	if (len > sizeof(ib->b) - ib->n)
		len = sizeof(ib->b) - ib->n;
	memcpy(ib->b + ib->n, s, len);
	ib->n += len;
}

static void info_ll(struct info_buf *ib, const char *name, long long v)
{
	char num[24];

	resp_format_ll(num, v);
	info_str(ib, name);
	info_str(ib, ":");
	info_str(ib, num);
	info_str(ib, "\r\n");
}

static bool info_wants(const struct resp_arg *argv, size_t argc,
		       const char *section)
{
	if (argc < 2)
		return true;
	for (size_t i = 1; i < argc; i++)
		if (kv_arg_is(&argv[i], section) || kv_arg_is(&argv[i], "all") ||
		    kv_arg_is(&argv[i], "default") ||
		    kv_arg_is(&argv[i], "everything"))
			return true;
	return false;
}

static void info_section(struct info_buf *ib, const char *title)
{
	if (ib->n)
		info_str(ib, "\r\n");
	info_str(ib, "# ");
	info_str(ib, title);
	info_str(ib, "\r\n");
}

static void cmd_info(struct kv_client *c, const struct resp_arg *argv,
		     size_t argc)
{
	struct kv_server *srv = c->srv;
	struct kv_store *st = &srv->store;
	uint64_t up = (c->now_ms - srv->start_ms) / 1000;
	struct info_buf ib;

	ib.n = 0;
	if (info_wants(argv, argc, "server")) {
		info_section(&ib, "Server");
		info_str(&ib, "redis_version:" KV_VERSION "\r\n"
			      "redis_mode:standalone\r\n"
			      "os:rrvm micro-VM guest\r\n"
			      "arch_bits:64\r\n"
			      "multiplexing_api:lwip\r\n");
		info_ll(&ib, "tcp_port", srv->port);
		info_ll(&ib, "uptime_in_seconds", (long long)up);
		info_ll(&ib, "uptime_in_days", (long long)(up / 86400));
	}
	if (info_wants(argv, argc, "clients")) {
		info_section(&ib, "Clients");
		info_ll(&ib, "connected_clients", (long long)srv->clients);
	}
	if (info_wants(argv, argc, "memory")) {
		size_t used, total;

		svc_mem_usage(&used, &total);
		info_section(&ib, "Memory");
		info_ll(&ib, "used_memory", (long long)used);
		info_ll(&ib, "total_system_memory", (long long)total);
		info_ll(&ib, "maxmemory", (long long)srv->maxmemory);
		info_str(&ib, "maxmemory_policy:noeviction\r\n");
	}
	if (info_wants(argv, argc, "stats")) {
		info_section(&ib, "Stats");
		info_ll(&ib, "total_connections_received",
			(long long)srv->connections_received);
		info_ll(&ib, "total_commands_processed",
			(long long)srv->commands_processed);
		info_ll(&ib, "expired_keys", (long long)st->expired_keys);
		info_ll(&ib, "keyspace_hits", (long long)st->hits);
		info_ll(&ib, "keyspace_misses", (long long)st->misses);
		info_ll(&ib, "rejected_oom_commands",
			(long long)srv->rejected_oom);
	}
	if (info_wants(argv, argc, "keyspace")) {
		char num[24];

		info_section(&ib, "Keyspace");
		/* Like Redis, an empty database gets no line at all. */
		if (kv_store_count(st)) {
			resp_format_ll(num, (long long)kv_store_count(st));
			info_str(&ib, "db0:keys=");
			info_str(&ib, num);
			resp_format_ll(num,
				       (long long)kv_store_volatile_count(st));
			info_str(&ib, ",expires=");
			info_str(&ib, num);
			info_str(&ib, ",avg_ttl=0\r\n");
		}
	}
	resp_add_bulk(c->out, ib.b, ib.n);
}

/* ------------------------------------------------------ CONFIG, COMMAND */

static void cmd_config(struct kv_client *c, const struct resp_arg *argv,
		       size_t argc)
{
	/* What clients ask for; no persistence, so save is off. */
	char port[8], bulk[24], maxmem[24];
	const char *params[][2] = {
		{ "appendonly", "no" },
		{ "databases", "1" },
		{ "maxmemory", maxmem },
		{ "maxmemory-policy", "noeviction" },
		{ "port", port },
		{ "proto-max-bulk-len", bulk },
		{ "save", "" },
	};
	const size_t nparams = sizeof(params) / sizeof(params[0]);
	bool match[sizeof(params) / sizeof(params[0])] = { false };
	size_t n = 0;

	if (kv_arg_is(&argv[1], "get")) {
		if (argc < 3) {
			kv_reply_arity(c, "config|get");
			return;
		}
		resp_format_ll(port, c->srv->port);
		resp_format_ll(bulk, (long long)c->srv->max_bulk);
		resp_format_ll(maxmem, (long long)c->srv->maxmemory);
		for (size_t i = 0; i < nparams; i++) {
			const char *name = params[i][0];

			for (size_t j = 2; j < argc && !match[i]; j++)
				match[i] = kv_glob_match(
					argv[j].ptr, argv[j].len,
					(const uint8_t *)name, strlen(name),
					true);
			n += match[i];
		}
		resp_add_array(c->out, 2 * n);
		for (size_t i = 0; i < nparams; i++) {
			if (!match[i])
				continue;
			resp_add_bulk_str(c->out, params[i][0]);
			resp_add_bulk_str(c->out, params[i][1]);
		}
	} else if (kv_arg_is(&argv[1], "set")) {
		if (argc < 4 || argc % 2)
			kv_reply_arity(c, "config|set");
		else
			resp_add_error(c->out,
				       "ERR Unknown option or number of "
				       "arguments for CONFIG SET - '%.*s'",
				       printable_len(&argv[2], 128),
				       (const char *)argv[2].ptr);
	} else if (kv_arg_is(&argv[1], "resetstat")) {
		c->srv->commands_processed = 0;
		c->srv->connections_received = 0;
		c->srv->store.hits = 0;
		c->srv->store.misses = 0;
		c->srv->store.expired_keys = 0;
		resp_add_simple(c->out, "OK");
	} else {
		reply_unknown_subcommand(c, &argv[1], "CONFIG");
	}
}

static void cmd_command(struct kv_client *c, const struct resp_arg *argv,
			size_t argc)
{
	/*
	 * redis-cli only wants COMMAND DOCS for its hints and falls back to
	 * its built-in table on an empty reply, so no metadata is kept here.
	 */
	if (argc == 1 || kv_arg_is(&argv[1], "docs") ||
	    kv_arg_is(&argv[1], "info")) {
		resp_add_array(c->out, 0);
	} else if (kv_arg_is(&argv[1], "count")) {
		resp_add_integer(c->out, (long long)NCOMMANDS);
	} else if (kv_arg_is(&argv[1], "list")) {
		resp_add_array(c->out, NCOMMANDS);
		for (size_t i = 0; i < NCOMMANDS; i++)
			resp_add_bulk_str(c->out, commands[i].name);
	} else {
		reply_unknown_subcommand(c, &argv[1], "COMMAND");
	}
}
