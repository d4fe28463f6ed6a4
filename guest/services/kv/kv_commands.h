/* SPDX-License-Identifier: MIT */
/*
 * Between the kv connection glue (kv_service.c) and the command handlers:
 * the server-wide state, what one command runs with, and the helpers the
 * handler files (kv_commands.c, kv_keys.c, kv_strings.c, kv_lists.c) share.
 */
#ifndef KV_COMMANDS_H
#define KV_COMMANDS_H

#include "kv_store.h"
#include "resp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KV_VERSION "7.0.0-rrvm"
#define KV_DEFAULT_PORT 6379

struct kv_server {
	struct kv_store store;
	uint16_t port;
	size_t max_bulk;
	size_t clients;
	uint64_t start_ms;
	uint64_t connections_received;
	uint64_t commands_processed;
	/* Write commands are refused while the heap holds more than this
	 * (noeviction): the rest is left for connections, requests and
	 * replies, so reads and deletes keep working on a full store. */
	size_t maxmemory;
	uint64_t rejected_oom;
};

struct kv_client {
	struct kv_server *srv;
	struct resp_out *out;
	uint64_t now_ms; /* one clock read per command */
	bool quit;       /* QUIT ran: stop reading, close after the reply */
};

/* Run one parsed command; its reply (or error reply) goes to cl->out. */
void kv_execute(struct kv_client *cl, const struct resp_arg *argv,
		size_t argc);

/* The table must be sorted for lookup: 0, or -EINVAL naming the culprit. */
int kv_commands_check(const char **bad);
size_t kv_command_count(void);

/* ------------------------------------------------ for the handlers */

typedef void kv_handler(struct kv_client *c, const struct resp_arg *argv,
			size_t argc);

#define KV_ERR_WRONGTYPE \
	"WRONGTYPE Operation against a key holding the wrong kind of value"
#define KV_ERR_NOT_INT "ERR value is not an integer or out of range"
#define KV_ERR_SYNTAX "ERR syntax error"
#define KV_ERR_OOM "OOM out of memory"
#define KV_ERR_MAXMEMORY \
	"OOM command not allowed when used memory > 'maxmemory'."

/* The smallest share of the heap kept back from data by default. */
#define KV_MEM_RESERVE_MIN (512u * 1024)

/* Heap in use above srv->maxmemory? */
bool kv_over_maxmemory(const struct kv_server *srv);
/* maxmemory when none is given: the heap minus an eighth of it (at least
 * KV_MEM_RESERVE_MIN, at most half). */
size_t kv_default_maxmemory(size_t heap_total);

/* "-ERR wrong number of arguments for 'name' command" */
void kv_reply_arity(struct kv_client *c, const char *name);
/* Reply with a fixed error line (one of the KV_ERR_* strings). */
void kv_reply_err(struct kv_client *c, const char *msg);

/* Strict integer argument, as Redis parses them. */
bool kv_arg_ll(const struct resp_arg *a, long long *v);
/* Case-insensitive keyword comparison. */
bool kv_arg_is(const struct resp_arg *a, const char *word);
/* The live entry for a key argument, or NULL. */
struct kv_entry *kv_lookup(struct kv_client *c, const struct resp_arg *key);

/* Redis-style glob: * ? [a-z] [^x] and \ escapes. */
bool kv_glob_match(const uint8_t *pat, size_t plen, const uint8_t *s,
		   size_t slen, bool nocase);

/* kv_keys.c */
kv_handler cmd_del, cmd_exists, cmd_type, cmd_keys, cmd_expire, cmd_pexpire,
	cmd_ttl, cmd_pttl, cmd_persist;
/* kv_strings.c */
kv_handler cmd_set, cmd_setnx, cmd_setex, cmd_psetex, cmd_get, cmd_getset,
	cmd_getdel, cmd_incr, cmd_decr, cmd_incrby, cmd_decrby, cmd_append,
	cmd_strlen, cmd_mset, cmd_mget;
/* kv_lists.c */
kv_handler cmd_lpush, cmd_rpush, cmd_lpop, cmd_rpop, cmd_llen, cmd_lrange,
	cmd_lindex;

#endif
