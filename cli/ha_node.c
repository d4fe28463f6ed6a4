/* SPDX-License-Identifier: MIT */
#include "cli/ha_node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "backup/backup.h"
#include "backup/takeover.h"
#include "cli/commands.h"
#include "cli/node_args.h"
#include "cli/vm_session.h"
#include "common/clock.h"
#include "common/control_server.h"
#include "common/log.h"
#include "common/number.h"
#include "common/repl_link.h"
#include "common/report.h"
#include "common/transport.h"
#include "migration/migrate_control.h"
#include "migration/migrate_dest.h"
#include "primary/output_policy.h"
#include "primary/replicator.h"
#include "vmm/boot_info.h"
#include "vmm/vm.h"
#include "vmm/vm_control.h"

#define NODE_MAX_COMMANDS 16

enum node_role { ROLE_BACKUP, ROLE_VM };

struct ha_node {
	struct node_args *args;
	struct control_server *control;
	struct control_command cmds[NODE_MAX_COMMANDS];

	/* The VM role. */
	struct vm vm;
	struct output_policy *policy; /* the VM's NIC (owned by the VM) */
	struct vm_control vmc;
	const char *origin; /* "boot", "failover", "handover", "migration" */
	char ip[64], mac[32];
	char image_name[VM_PROFILE_NAME_MAX]; /* came in by migration */
	struct takeover takeover;
	bool have_takeover;
	/* Protection; repl_lock orders the control thread against the main
	 * thread starting and stopping it. */
	pthread_mutex_t repl_lock;
	struct replicator repl;
	bool repl_on;
	enum repl_mode mode;
	unsigned epoch_ms;
	char peer[64]; /* where our backup listens */
	bool handed_over;
	char handover_note[160];
	/* Live migration away from here (repl_lock). */
	struct migrate_control mig;
	bool migrating, migrated;
	/* Came in by migration: the link's last messages (DONE, forwarded
	 * frames). */
	struct migrate_dest dest;
	bool have_dest;

	/* The backup role. */
	struct backup backup;
};

/* --------------------------------------------------- VM role: protection */

static void guest_filter_of(struct ha_node *n, struct guest_filter *f)
{
	char ip[64];
	char *slash;
	struct in_addr a = {0};

	memset(f, 0, sizeof(*f));
	memcpy(f->mac, n->vm.boot_info->mac, 6);
	snprintf(ip, sizeof(ip), "%s", n->ip);
	slash = strchr(ip, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, ip, &a) == 1)
		f->ip = a.s_addr;
}

/* Caller holds repl_lock. */
static int protect_start(struct ha_node *n, const char *peer,
			 enum repl_mode mode)
{
	struct node_args *a = n->args;
	struct replicator_config cfg = {
	    .backup_addr = peer,
	    .key = node_args_key(a),
	    .mode = mode,
	    .epoch_ms = n->epoch_ms,
	    .heartbeat_ms = a->heartbeat_ms,
	    .lan_peer = a->lan_peer,
	    .rt_priority = (int)a->heartbeat_priority,
	    .backup_timeout_ms = a->detect_timeout_ms,
	    .compress = a->compress,
	    .delta_cache_bytes = a->delta_cache,
	    .rewire_cmd = a->rewire_cmd,
	};
	int ret;

	if (mode == REPL_MODE_NONE)
		return -EINVAL;
	if (peer != n->peer)
		snprintf(n->peer, sizeof(n->peer), "%s", peer);
	guest_filter_of(n, &cfg.rx_filter);
	cfg.rx_filter_on = cfg.rx_filter.ip != 0;
	cfg.backup_addr = n->peer;
	ret = replicator_start(&n->repl, &n->vm, n->policy, &cfg);
	if (ret) {
		log_error("cannot start protecting the VM: %s", strerror(-ret));
		return ret;
	}
	n->mode = mode;
	n->repl_on = true;
	return 0;
}

/* Caller holds repl_lock. */
static void protect_stop(struct ha_node *n, bool goodbye)
{
	if (!n->repl_on)
		return;
	replicator_stop(&n->repl, goodbye);
	n->repl_on = false;
}

/* protect ADDR:PORT [--mode M] */
static int cmd_protect(void *ctx, struct control_request *req)
{
	struct ha_node *n = ctx;
	enum repl_mode mode = n->mode;
	int ret;

	if (req->argc == 4 && strcmp(req->argv[2], "--mode") == 0) {
		if (repl_mode_parse(req->argv[3], &mode) ||
		    mode == REPL_MODE_NONE) {
			control_error(req, "--mode '%s': use reverse, buffered "
					   "or naive",
				      req->argv[3]);
			return 0;
		}
	} else if (req->argc != 2) {
		control_error(req, "usage: protect ADDR:PORT [--mode "
				   "reverse|buffered|naive]");
		return 0;
	}
	if (mode == REPL_MODE_NONE)
		mode = REPL_MODE_REVERSE;
	pthread_mutex_lock(&n->repl_lock);
	if (n->handed_over || n->migrating || n->migrated) {
		pthread_mutex_unlock(&n->repl_lock);
		control_error(req, "%s",
			      n->migrating ? "a live migration is running: "
					     "protect after it (or "
					     "'migrate-cancel')"
					   : "the VM was handed over: nothing "
					     "to protect here");
		return 0;
	}
	/*
	 * Already aiming there in that mode: the replicator reconnects by
	 * itself. Restarting it would start a new session, and the backup
	 * would have to tell an orderly change from a crash.
	 */
	if (n->repl_on && n->mode == mode &&
	    strcmp(n->peer, req->argv[1]) == 0) {
		bool prot = replicator_protected(&n->repl);

		pthread_mutex_unlock(&n->repl_lock);
		control_replyf(req,
			       "already protecting to %s in %s mode (%s)\n",
			       req->argv[1], repl_mode_name(mode),
			       prot ? "protected" : "connecting");
		return 0;
	}
	/* A new backup: the old one (if any) must not take over. */
	protect_stop(n, true);
	ret = protect_start(n, req->argv[1], mode);
	pthread_mutex_unlock(&n->repl_lock);
	if (ret) {
		control_error(req, "cannot protect to %s: %s", req->argv[1],
			      strerror(-ret));
		return 0;
	}
	control_replyf(req,
		       "protecting to %s in %s mode: a full checkpoint follows "
		       "once it answers ('stats' shows protected)\n",
		       req->argv[1], repl_mode_name(mode));
	return 0;
}

/* unprotect: stop replicating; the backup stands down. */
static int cmd_unprotect(void *ctx, struct control_request *req)
{
	struct ha_node *n = ctx;
	bool was;

	pthread_mutex_lock(&n->repl_lock);
	was = n->repl_on;
	protect_stop(n, true);
	pthread_mutex_unlock(&n->repl_lock);
	control_replyf(req, "%s\n",
		       was ? "replication stopped; the backup stands down; the "
			     "VM runs UNPROTECTED"
			   : "the VM was not protected");
	return 0;
}

/* switchover [--timeout MS] */
static int cmd_switchover(void *ctx, struct control_request *req)
{
	struct ha_node *n = ctx;
	unsigned timeout = n->args->handover_timeout_ms;
	uint64_t t0 = clock_mono_ns();
	char err[256] = "";
	struct report r;
	int ret;

	if (req->argc == 3 && strcmp(req->argv[1], "--timeout") == 0) {
		if (parse_uint(req->argv[2], 10, 60000, &timeout)) {
			control_error(req, "--timeout '%s': milliseconds, "
					   "10..60000",
				      req->argv[2]);
			return 0;
		}
	} else if (req->argc != 1) {
		control_error(req, "usage: switchover [--timeout MS]");
		return 0;
	}
	if (pthread_mutex_trylock(&n->repl_lock)) {
		control_error(req, "refused: another protection change or "
				   "switchover is in progress");
		return 0;
	}
	if (n->handed_over) {
		ret = -EALREADY;
		snprintf(err, sizeof(err), "the VM was already handed over");
	} else if (!n->repl_on) {
		ret = -ENOTCONN;
		snprintf(err, sizeof(err), "the VM is not protected: no backup "
					   "to hand it to");
	} else {
		ret = replicator_handover(&n->repl, n->args->listen, (int)timeout,
					  err, sizeof(err));
	}
	if (!ret) {
		n->handed_over = true;
		snprintf(n->handover_note, sizeof(n->handover_note),
			 "handed over to %s", n->peer);
		vm_request_stop(&n->vm);
	}
	pthread_mutex_unlock(&n->repl_lock);
	if (ret) {
		control_error(req, "switchover refused: %s", err);
		return 0;
	}
	report_init(&r, req->json);
	report_bool(&r, "handed_over", "handed over", true);
	report_str(&r, "to", "to", n->peer);
	report_u64(&r, "epoch", "final epoch", n->repl.handover_epoch);
	report_f(&r, "handover_ms", "handover took", 2,
		 (double)(clock_mono_ns() - t0) / 1e6, "ms");
	report_str_or_null(&r, "this_host_listens", "this host now listens",
			   n->args->listen);
	control_reply_report(req, &r);
	report_free(&r);
	return 0;
}

/* Appended to `status`: the role and protection. */
static void status_extra(void *ctx, struct report *r)
{
	struct ha_node *n = ctx;
	bool prot;

	pthread_mutex_lock(&n->repl_lock);
	prot = n->repl_on && replicator_protected(&n->repl);
	report_str(r, "role", "role",
		   n->handed_over ? "handing over"
		   : n->migrated  ? "migrated away"
		   : n->migrating ? "migrating"
		   : n->repl_on	  ? "primary"
				  : "live (unprotected)");
	report_str(r, "origin", "came up by", n->origin);
	report_bool(r, "protected", "protected", prot);
	report_str_or_null(r, "backup", "backup", n->repl_on ? n->peer : NULL);
	report_str(r, "mode", "mode", repl_mode_name(n->mode));
	report_str(r, "link_security", "link",
		   repl_link_security(node_args_key(n->args)));
	pthread_mutex_unlock(&n->repl_lock);
}

/* `stats` section "replication". */
static void stats_extra(void *ctx, struct report *r)
{
	struct ha_node *n = ctx;

	pthread_mutex_lock(&n->repl_lock);
	if (n->repl_on) {
		replicator_report(&n->repl, r);
	} else {
		report_str(r, "mode", "mode", repl_mode_name(n->mode));
		report_bool(r, "protected", "protected", false);
	}
	pthread_mutex_unlock(&n->repl_lock);
}

/* A live migration may start only on an unprotected VM: the replicator
 * and the migration would both take the dirty log, and a protected VM has
 * a better way to move (switchover to its backup). */
static int migrate_begin(void *ctx, char *why, size_t size)
{
	struct ha_node *n = ctx;
	int ret = 0;

	pthread_mutex_lock(&n->repl_lock);
	if (n->repl_on) {
		snprintf(why, size,
			 "the VM is protected by replication (backup %s): "
			 "'rrvm ctl SOCKET unprotect' first, or "
			 "'switchover' to move it to its backup",
			 n->peer);
		ret = -EBUSY;
	} else if (n->handed_over || n->migrated) {
		snprintf(why, size, "the VM already left this host");
		ret = -EALREADY;
	} else {
		n->migrating = true;
	}
	pthread_mutex_unlock(&n->repl_lock);
	return ret;
}

static void migrate_end(void *ctx, bool completed)
{
	struct ha_node *n = ctx;

	pthread_mutex_lock(&n->repl_lock);
	n->migrating = false;
	n->migrated = completed;
	pthread_mutex_unlock(&n->repl_lock);
}

static void vm_role_commands(struct ha_node *n)
{
	size_t k = vm_control_commands(&n->vmc, n->cmds);

	migrate_control_init(&n->mig, &n->vm,
			     n->image_name[0] ? n->image_name : NULL);
	n->mig.begin = migrate_begin;
	n->mig.end = migrate_end;
	n->mig.ctx = n;
	k += migrate_control_commands(&n->mig, n->cmds + k);

	n->cmds[k++] = (struct control_command){
	    "protect", "protect ADDR:PORT [--mode M]", cmd_protect, n};
	n->cmds[k++] = (struct control_command){"unprotect", "unprotect",
						cmd_unprotect, n};
	n->cmds[k++] = (struct control_command){
	    "switchover", "switchover [--timeout MS]", cmd_switchover, n};
	control_server_set(n->control, n->cmds, k);
}

/* What `status` says about the VM, from its own boot command line. */
static void vm_identity(struct ha_node *n, const char *guest_path)
{
	const char *cmdline = n->vm.boot_info->cmdline;

	if (!boot_info_cmdline_value(cmdline, "ip", n->ip, sizeof(n->ip)))
		snprintf(n->ip, sizeof(n->ip), "?");
	if (!boot_info_cmdline_value(cmdline, "mac", n->mac, sizeof(n->mac)))
		snprintf(n->mac, sizeof(n->mac), "?");
	n->vmc = (struct vm_control){
	    .vm = &n->vm,
	    .guest_path = guest_path,
	    .tap = n->args->tap,
	    .ip = n->ip,
	    .mac = n->mac,
	    .mem_size = n->vm.mem_size,
	    .status_extra = status_extra,
	    .stats_extra_name = "replication",
	    .stats_extra = stats_extra,
	    .extra_ctx = n,
	};
}

/* --------------------------------------------------------- the VM role */

/* rrvm primary: boot the guest. 0 or an exit status. */
static int boot_vm(struct ha_node *n)
{
	struct node_args *a = n->args;
	struct vnic_backend *tap;
	struct vm_config config;

	if (tap_backend_open(a->tap, &tap))
		return RRVM_EXIT_ERROR;
	if (output_buffer_create(tap, &n->policy)) {
		tap->ops->destroy(tap);
		return RRVM_EXIT_ERROR;
	}
	run_args_vm_config(&a->vm, &n->policy->backend, &config);
	if (vm_create(&n->vm, &config))
		return RRVM_EXIT_ERROR;
	n->origin = "boot";
	snprintf(n->image_name, sizeof(n->image_name), "%s", a->vm.guest);
	n->mode = a->mode;
	n->epoch_ms = a->epoch_ms;
	vm_identity(n, a->vm.guest);
	log_info("booting %s (%s mode, epoch %u ms, backup %s): %s",
		 a->vm.guest, repl_mode_name(a->mode), a->epoch_ms,
		 a->peer ? a->peer : "-", a->vm.cmdline);
	return 0;
}

/* The guest ran; stop protection the way the stop calls for. */
static void vm_role_stop_protection(struct ha_node *n, int run_ret)
{
	struct node_args *a = n->args;
	bool signalled = vm_session_stop_signalled();
	char err[256];

	pthread_mutex_lock(&n->repl_lock);
	if (n->repl_on && !n->handed_over && signalled &&
	    a->on_stop == ON_STOP_SWITCHOVER) {
		log_info("stopping: handing the VM to the backup "
			 "(--on-stop switchover)");
		if (replicator_handover(&n->repl, NULL,
					(int)a->handover_timeout_ms, err,
					sizeof(err)) == 0)
			n->handed_over = true;
		else
			log_error("handover at stop failed: %s; the backup "
				  "will fail over",
				  err);
	}
	/*
	 * Goodbye (the backup stands down) on an orderly stop or when the
	 * guest itself ended; a fault or a failed handover says nothing, so
	 * the backup takes over from the last checkpoint.
	 */
	protect_stop(n, !n->handed_over &&
			    (signalled ? a->on_stop == ON_STOP_STAND_DOWN
				       : run_ret >= 0));
	pthread_mutex_unlock(&n->repl_lock);
}

/* Run the VM until it stops; tear it down. Returns the exit status. */
static int vm_role(struct ha_node *n)
{
	int ret, status;

	vm_role_commands(n);
	vm_session_signal_target(&n->vm);
	if (n->peer[0] && n->mode != REPL_MODE_NONE) {
		pthread_mutex_lock(&n->repl_lock);
		protect_start(n, n->peer, n->mode);
		pthread_mutex_unlock(&n->repl_lock);
	}
	ret = vm_run(&n->vm);
	vm_session_signal_target(NULL);
	/* No handler may still use the VM or the replicator after this. */
	control_server_set(n->control, NULL, 0);
	status = vm_session_exit_status(&n->vm, ret);
	vm_role_stop_protection(n, ret);
	if (n->have_takeover)
		takeover_finish(&n->takeover);
	if (n->have_dest)
		migrate_dest_finish(&n->dest);
	n->have_dest = false;
	vm_destroy(&n->vm);
	if (n->have_takeover) {
		takeover_free(&n->takeover);
		n->have_takeover = false;
	}
	migrate_control_destroy(&n->mig);
	memset(&n->vm, 0, sizeof(n->vm));
	n->policy = NULL;
	return status;
}

/* ------------------------------------------------------- the backup role */

/* How the VM got here, for the takeover and `status`. */
static enum takeover_reason takeover_reason_of(const struct backup *b,
					       enum backup_outcome outcome)
{
	if (b->cfg.incoming)
		return TAKEOVER_MIGRATION;
	return outcome == BACKUP_HANDED_OVER ? TAKEOVER_HANDOVER
					     : TAKEOVER_FAILOVER;
}

/* A migration came in and its VM is attached: DONE, so the source stops
 * its own. Without it the source resumes, so this one must not run. */
static int incoming_done(struct ha_node *n, struct transport *link,
			 uint64_t final_begin_ns, uint64_t go_ns)
{
	const struct takeover_times *t = &n->takeover.t;
	int ret;

	ret = migrate_dest_done(&n->dest, link, n->args->tap,
				t->live_ns - final_begin_ns,
				t->restored_ns - go_ns);
	n->have_dest = ret == 0;
	return ret;
}

/* The backup decided to take over: make the VM live here. */
static int take_over(struct ha_node *n, enum backup_outcome outcome)
{
	struct backup *b = &n->backup;
	struct node_args *a = n->args;
	struct takeover_config tc = a->takeover;
	enum takeover_reason reason = takeover_reason_of(b, outcome);
	/* A migration's link carries the last word (DONE). */
	struct transport *link = b->cfg.incoming ? backup_take_link(b) : NULL;
	uint64_t final_begin_ns = b->in.final_begin_ns, go_ns = b->in.go_ns;
	struct reverse *rev = NULL;
	struct vnic_backend *nic;
	const char *peer;
	int ret;

	if (b->cfg.incoming) {
		snprintf(n->image_name, sizeof(n->image_name), "%s",
			 b->in.profile.image_name);
		migrate_dest_test_fault();
	}

	/* A migrated VM is not protected (the HELLO's mode says migrate). */
	n->mode = b->cfg.incoming ? REPL_MODE_NONE : b->mode;
	n->epoch_ms = b->epoch_ms ? b->epoch_ms : a->epoch_ms;
	/* Only reverse mode has a log worth replaying. */
	if (b->reverse && b->mode == REPL_MODE_REVERSE) {
		rev = b->reverse;
		b->reverse = NULL;
	} else if (b->reverse) {
		log_warn("takeover: the primary ran in %s mode: the logged "
			 "frames are NOT replayed",
			 repl_mode_name(b->mode));
	}
	tc.link_security = repl_link_security(node_args_key(a));
	tc.detect_threshold_ms = b->detect_threshold_ns / 1e6;
	ret = takeover_prepare(
	    &n->takeover, &tc, reason,
	    reason != TAKEOVER_FAILOVER ? takeover_reason_name(reason)
					: backup_detector_name(b->detector),
	    &b->replica, rev, b->last_rx_ns, b->detected_ns, &n->vm, &nic);
	/* Where the next backup will be: the old primary said, or ours. */
	peer = b->handover_listen[0] ? b->handover_listen : a->peer;
	snprintf(n->peer, sizeof(n->peer), "%s", peer ? peer : "");
	backup_free(b, NULL);
	if (ret) {
		takeover_free(&n->takeover);
		goto out_link;
	}
	n->have_takeover = true;
	ret = output_buffer_create(nic, &n->policy);
	if (ret) {
		nic->ops->destroy(nic);
		goto out;
	}
	ret = takeover_go_live(&n->takeover, &n->policy->backend);
	if (ret)
		goto out;
	if (link) {
		ret = incoming_done(n, link, final_begin_ns, go_ns);
		link = NULL; /* closed by now, or the forwarder's */
		if (ret)
			goto out;
	}
	n->origin = takeover_reason_name(reason);
	n->handed_over = false;
	vm_identity(n, n->image_name[0] ? n->image_name : n->origin);
	if (reason == TAKEOVER_MIGRATION)
		log_info("the VM came in by live migration and runs here "
			 "(unprotected; 'rrvm ctl SOCKET migrate' moves it "
			 "again)");
	else if (!n->peer[0])
		log_warn("the VM runs UNPROTECTED here: no --reprotect "
			 "address (use 'rrvm ctl SOCKET protect ADDR:PORT')");
	return 0;
out:
	vm_destroy(&n->vm);
	takeover_free(&n->takeover);
	n->have_takeover = false;
out_link:
	if (link)
		migrate_dest_abandon(link, -ret,
				     "the destination could not start the VM");
	return ret;
}

/* Wait as the backup. 1: a VM is live here now; 0: stopped; <0 error. */
static int backup_role(struct ha_node *n)
{
	struct node_args *a = n->args;
	struct backup_config cfg = {
	    .listen_addr = a->listen,
	    .detect_timeout_ms = a->detect_timeout_ms,
	    .heartbeat_ms = a->heartbeat_ms,
	    .detect_floor_ms = a->detect_floor_ms,
	    .lan_listen = a->lan_listen,
	    .rt_priority = (int)a->heartbeat_priority,
	    .reverse = a->reverse,
	    .key = node_args_key(a),
	    .incoming = a->start == NODE_START_INCOMING ? &a->incoming : NULL,
	};
	enum backup_outcome outcome;
	size_t k;
	int ret;

	if (cfg.incoming) {
		/* Refuse at start, not after the whole migration came in. */
		struct vnic_backend *tap;

		ret = tap_backend_open(a->tap, &tap);
		if (ret)
			return ret;
		tap->ops->destroy(tap);
	}
	ret = backup_init(&n->backup, &cfg);
	if (ret)
		return ret;
	k = backup_control_commands(&n->backup, n->cmds);
	control_server_set(n->control, n->cmds, k);
	ret = backup_serve(&n->backup, vm_session_stop_flag(), &outcome);
	control_server_set(n->control, NULL, 0);
	if (!ret && outcome == BACKUP_MIGRATION_FAILED) {
		log_error("migration failed: %s; everything received was "
			  "discarded, no VM runs here",
			  n->backup.in.why);
		ret = -n->backup.in.code ? -n->backup.in.code : -EPROTO;
	}
	if (ret || outcome == BACKUP_STOPPED) {
		if (!ret && cfg.incoming && n->backup.session)
			ret = -ECANCELED; /* stopped in the middle */
		if (!ret)
			log_info("stopping on a signal (no %s)",
				 cfg.incoming ? "migration came" : "failover");
		else if (outcome == BACKUP_STOPPED)
			log_error("stopping on a signal in the middle of a "
				  "migration: everything received was "
				  "discarded");
		backup_free(&n->backup, NULL);
		return ret;
	}
	ret = take_over(n, outcome);
	return ret ? ret : 1;
}

int ha_node_run(struct node_args *args)
{
	static struct ha_node node;
	struct ha_node *n = &node;
	enum node_role role;
	int ret, status = RRVM_EXIT_OK;

	memset(n, 0, sizeof(*n));
	n->args = args;
	pthread_mutex_init(&n->repl_lock, NULL);
	if (vm_session_signals_install())
		return RRVM_EXIT_ERROR;
	if (args->control && control_server_start(args->control, &n->control))
		return RRVM_EXIT_ERROR;
	if (args->start == NODE_START_PRIMARY) {
		status = boot_vm(n);
		if (status)
			goto out;
		if (args->peer)
			snprintf(n->peer, sizeof(n->peer), "%s", args->peer);
		role = ROLE_VM;
	} else {
		role = ROLE_BACKUP;
	}
	while (!vm_session_stop_signalled()) {
		if (role == ROLE_BACKUP) {
			ret = backup_role(n);
			if (ret <= 0) {
				status = ret ? RRVM_EXIT_ERROR : RRVM_EXIT_OK;
				break;
			}
			role = ROLE_VM;
			continue;
		}
		n->handed_over = false;
		status = vm_role(n);
		if (n->migrated) {
			log_info("the VM migrated away; exiting");
			break;
		}
		if (!n->handed_over)
			break;
		if (!args->listen || args->start == NODE_START_INCOMING) {
			log_info("handed over; no --listen: this host does not "
				 "become the backup");
			break;
		}
		log_info("handed over: becoming the backup on %s",
			 args->listen);
		role = ROLE_BACKUP;
		status = RRVM_EXIT_OK;
	}
out:
	control_server_stop(n->control);
	pthread_mutex_destroy(&n->repl_lock);
	return status;
}
