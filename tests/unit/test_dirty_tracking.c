/* SPDX-License-Identifier: MIT */
/*
 * Dirty tracking against a real KVM guest: every page whose content changed
 * between two collects must be in the collected set. The guest runs its
 * dirtier (guest writes, seen by KVM's dirty log) while the test injects
 * frames (monitor writes into the RX ring, which KVM cannot see). A negative
 * control shows that KVM's log alone misses the monitor's writes, so the
 * checker can fail.
 *
 * The two-phase collect (early passes while the guest runs, then the pause)
 * is checked the way a receiver would see it: applying each collected
 * snapshot to the previous image must give guest RAM at the pause, page by
 * page. Two deliberately broken variants (no final GET of KVM's log; no
 * monitor-written pages) must be caught, and the old one-phase mode
 * (RRVM_DIRTY_LOG=legacy) must stay exact. Skips without /dev/kvm or the
 * built guest image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

#define GUEST "build/guest/echo.elf"
#define PAGE 4096u
/* TSan instruments every byte the whole-memory comparisons touch. */
#if defined(__SANITIZE_THREAD__)
#define MEM (32ull << 20)
#else
#define MEM (64ull << 20)
#endif

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0, 0, 0, 2 };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0, 0, 0, 1 };

/* A backend the test feeds: frames queued here are "received" by the VM. */
struct inject_backend {
	struct vnic_backend base;
	int fd;
	pthread_mutex_t lock;
	uint8_t frames[64][128];
	size_t lens[64];
	size_t head, tail;
	uint64_t sent;
};

static int inj_send(struct vnic_backend *b, const void *f, size_t len)
{
	(void)f;
	(void)len;
	__atomic_add_fetch(&((struct inject_backend *)b)->sent, 1,
			   __ATOMIC_RELAXED);
	return 0;
}

static ssize_t inj_receive(struct vnic_backend *b, void *buf, size_t cap)
{
	struct inject_backend *ib = (struct inject_backend *)b;
	ssize_t n = -EAGAIN;
	uint64_t v;

	pthread_mutex_lock(&ib->lock);
	if (ib->tail != ib->head) {
		size_t i = ib->tail % 64;

		n = (ssize_t)(ib->lens[i] < cap ? ib->lens[i] : cap);
		memcpy(buf, ib->frames[i], (size_t)n);
		ib->tail++;
	} else if (read(ib->fd, &v, sizeof(v)) < 0) {
		/* nothing pending: the eventfd was already drained */
	}
	pthread_mutex_unlock(&ib->lock);
	return n;
}

static int inj_poll_fd(struct vnic_backend *b)
{
	return ((struct inject_backend *)b)->fd;
}

static void inj_destroy(struct vnic_backend *b)
{
	struct inject_backend *ib = (struct inject_backend *)b;

	close(ib->fd);
	free(ib);
}

static const struct vnic_backend_ops inject_ops = {
	.name = "inject",
	.send = inj_send,
	.receive = inj_receive,
	.poll_fd = inj_poll_fd,
	.destroy = inj_destroy,
};

static void inject(struct inject_backend *ib, const uint8_t *frame,
		   size_t len)
{
	uint64_t one = 1;

	pthread_mutex_lock(&ib->lock);
	if (ib->head - ib->tail < 64) {
		memcpy(ib->frames[ib->head % 64], frame, len);
		ib->lens[ib->head % 64] = len;
		ib->head++;
	}
	pthread_mutex_unlock(&ib->lock);
	if (write(ib->fd, &one, sizeof(one)) < 0)
		fail_msg("eventfd write: %s", strerror(errno));
}

static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ARP request 10.0.0.1 -> who has 10.0.0.2 (teaches the guest our MAC). */
static size_t make_arp(uint8_t *f)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	const uint8_t spa[4] = { 10, 0, 0, 1 }, tpa[4] = { 10, 0, 0, 2 };

	memset(f, 0, 60);
	memcpy(f, bcast, 6);
	memcpy(f + 6, peer_mac, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	memcpy(f + 14, hdr, 8);
	memcpy(f + 22, peer_mac, 6);
	memcpy(f + 28, spa, 4);
	memcpy(f + 38, tpa, 4);
	return 60;
}

static size_t make_ping(uint8_t *f, uint16_t seq)
{
	uint8_t *ip = f + 14, *icmp = f + 34;
	uint16_t c;

	memset(f, 0, 98);
	memcpy(f, guest_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[3] = 84; /* total length */
	ip[8] = 64;
	ip[9] = 1;
	ip[12] = 10, ip[15] = 1;
	ip[16] = 10, ip[19] = 2;
	c = csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	icmp[0] = 8;
	icmp[6] = (uint8_t)(seq >> 8), icmp[7] = (uint8_t)seq;
	for (int i = 8; i < 64; i++)
		icmp[i] = (uint8_t)(i + seq);
	c = csum(icmp, 64);
	icmp[2] = (uint8_t)(c >> 8), icmp[3] = (uint8_t)c;
	return 98;
}

static struct vm the_vm;
static struct inject_backend *backend;
static pthread_t thread;

struct checker {
	uint8_t *shadow; /* guest memory as of the previous collect */
	uint64_t *bitmap;
	bool kvm_log_only; /* negative control: ignore the monitor's writes */
	/*
	 * Deliver frames into the RX ring from inside the pause, so the
	 * guest cannot have touched those pages before the collect: on
	 * kvm-pvm a guest *read* can mark a page dirty in KVM's log, which
	 * would hide a missing monitor record.
	 */
	bool deliver_while_paused;
	uint16_t seq;
	uint64_t changed, reported, missed, missed_rx;
	int round;
};

/* Which page was missed and how many bytes of it changed: a few bytes are
 * the guest's counters, whole frames the monitor's RX writes. */
static void report_missed(const struct checker *c, uint64_t pfn,
			  const uint8_t *now, const uint8_t *old)
{
	size_t first = 0, n = 0;

	for (size_t b = 0; b < PAGE; b++)
		if (now[b] != old[b] && !n++)
			first = b;
	print_message("round %d: missed pfn %#lx: %zu bytes differ from offset "
		      "%zu\n",
		      c->round, (unsigned long)pfn, n, first);
}

static int check_round(struct vm *vm, void *arg)
{
	struct checker *c = arg;
	size_t words = vm_dirty_bitmap_words(vm);
	uint64_t rx_lo = vm->vnic.rx_gpa / PAGE;
	uint64_t rx_hi = (vm->vnic.rx_gpa + vm->vnic.ring_bytes) / PAGE;
	int ret;

	memset(c->bitmap, 0, words * 8);
	if (c->deliver_while_paused) {
		uint8_t frame[128];

		for (int k = 0; k < 4; k++)
			inject(backend, frame, make_ping(frame, c->seq++));
		if (vnic_fill_rx(vm) <= 0)
			return -EIO;
	}
	if (c->kvm_log_only) {
		struct kvm_dirty_log log = { .slot = 0,
					     .dirty_bitmap = c->bitmap };

		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return -errno;
		memset(vm->monitor_dirty, 0, words * 8);
		ret = 0;
	} else {
		ret = vm_dirty_collect(vm, c->bitmap);
	}
	if (ret)
		return ret;
	c->round++;
	for (uint64_t pfn = 0; pfn < vm->mem_size / PAGE; pfn++) {
		bool dirty = c->bitmap[pfn / 64] >> (pfn % 64) & 1;
		uint8_t *now = vm->mem + pfn * PAGE;
		uint8_t *old = c->shadow + pfn * PAGE;

		c->reported += dirty;
		if (memcmp(now, old, PAGE) == 0)
			continue;
		c->changed++;
		if (!dirty) {
			c->missed++;
			if (pfn >= rx_lo && pfn < rx_hi)
				c->missed_rx++;
			if (!c->kvm_log_only && c->missed <= 8)
				report_missed(c, pfn, now, old);
		}
		memcpy(old, now, PAGE);
	}
	return 0;
}

static int take_shadow(struct vm *vm, void *arg)
{
	struct checker *c = arg;

	memcpy(c->shadow, vm->mem, vm->mem_size);
	return vm_dirty_collect(vm, c->bitmap);
}

static void *vcpu_thread(void *arg)
{
	vm_run(arg);
	return NULL;
}

static bool kvm_and_guest_available(void)
{
	int fd = open("/dev/kvm", O_RDWR);

	if (fd >= 0)
		close(fd);
	return fd >= 0 && access(GUEST, R_OK) == 0;
}

/* Create the echo guest with its dirtier on a fresh inject backend. */
static int create_vm(struct vm *vm, struct inject_backend **out)
{
	struct vm_config config = {
	    .guest_path = GUEST,
	    .mem_size = MEM,
	    /* 512 pages rewritten every 25.6 ms: pages copied by an
	     * early pass are written again before the pause. */
	    .cmdline = "ip=10.0.0.2/24 mac=52:54:00:00:00:02 dirty=20000 "
		       "dirty_mb=2",
	    .mac = {0x52, 0x54, 0, 0, 0, 2},
	};
	struct inject_backend *b = calloc(1, sizeof(*b));

	if (!b)
		return -1;
	b->base.ops = &inject_ops;
	b->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&b->lock, NULL);
	config.backend = &b->base;
	if (vm_create(vm, &config))
		return -1;
	*out = b;
	return 0;
}

/* ... and run it on a vCPU thread of its own. */
static int boot_vm(struct vm *vm, struct inject_backend **out, pthread_t *t)
{
	if (create_vm(vm, out))
		return -1;
	return pthread_create(t, NULL, vcpu_thread, vm) ? -1 : 0;
}

static void stop_vm(struct vm *vm, pthread_t t)
{
	vm_request_stop(vm);
	vm_kick(vm);
	pthread_join(t, NULL);
	vm_destroy(vm);
}

static int setup(void **state)
{
	(void)state;
	if (!kvm_and_guest_available())
		return 0; /* tests skip */
	return boot_vm(&the_vm, &backend, &thread);
}

static int teardown(void **state)
{
	(void)state;
	if (backend)
		stop_vm(&the_vm, thread);
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void run_rounds(struct checker *c, int rounds)
{
	uint8_t frame[128];

	c->shadow = malloc(MEM);
	c->bitmap = calloc(vm_dirty_bitmap_words(&the_vm), 8);
	assert_non_null(c->shadow);
	assert_int_equal(vm_call_paused(&the_vm, take_shadow, c), 0);
	inject(backend, frame, make_arp(frame));
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 4; k++)
			inject(backend, frame,
			       make_ping(frame, (uint16_t)(r * 4 + k)));
		sleep_ms(20);
		assert_int_equal(vm_call_paused(&the_vm, check_round, c), 0);
	}
	free(c->shadow);
	free(c->bitmap);
}

static void test_collect_covers_every_changed_page(void **state)
{
	struct checker c = { 0 };

	(void)state;
	if (!backend)
		skip();
	run_rounds(&c, 25);
	print_message("changed %lu pages, reported %lu, missed %lu\n",
		      (unsigned long)c.changed, (unsigned long)c.reported,
		      (unsigned long)c.missed);
	/* The dirtier alone changes its 512 pages every round: 25 rounds
	 * give well over 1000. */
	assert_true(c.changed > 1000);
	assert_int_equal(c.missed, 0);
	assert_true(stat_read(the_vm.stats.rx_frames) >= 50); /* the monitor did write RX */
	assert_true(__atomic_load_n(&backend->sent, __ATOMIC_RELAXED) > 0); /* and the guest answered */
}

/* Without the monitor's own writes the same check must fail on RX pages. */
/* Frames written by the monitor during the pause are reported dirty. */
static void test_collect_covers_monitor_writes(void **state)
{
	struct checker c = { .deliver_while_paused = true };

	(void)state;
	if (!backend)
		skip();
	run_rounds(&c, 10);
	assert_true(c.changed > 0);
	assert_int_equal(c.missed, 0);
}

static void test_kvm_log_alone_misses_monitor_writes(void **state)
{
	struct checker c = { .kvm_log_only = true,
			     .deliver_while_paused = true };

	(void)state;
	if (!backend)
		skip();
	run_rounds(&c, 10);
	print_message("negative control: missed %lu (RX ring %lu), rx frames "
		      "%lu\n",
		      (unsigned long)c.missed, (unsigned long)c.missed_rx,
		      (unsigned long)the_vm.stats.rx_frames);
	/* 10 rounds x 4 frames, two 2 KiB slots per page: >= 10 pages. */
	assert_true(c.missed_rx >= 10);
}

/* ------------------------------------------------- the two-phase collect */

enum two_phase_variant {
	TWO_PHASE_EXACT,
	TWO_PHASE_NO_FINAL_GET, /* broken: the pause skips KVM's log */
	TWO_PHASE_NO_MONITOR, /* broken: the pause skips the monitor's pages */
};

struct two_phase {
	struct vm *vm;
	struct inject_backend *backend;
	enum two_phase_variant variant;
	bool full; /* each round is a full checkpoint, from a zero image */
	struct vm_snapshot snap;
	uint8_t *image; /* the receiver's: guest RAM at the previous pause */
	uint64_t *scratch;
	uint16_t seq;
	uint64_t pages, early_copies, pause_pages, mismatched, mismatched_rx;
};

/* The start: a receiver image equal to RAM, the dirty log restarted. */
static int two_phase_start(struct vm *vm, void *arg)
{
	struct two_phase *c = arg;
	int ret = vm_snapshot_collect(vm, &c->snap, true);

	memcpy(c->image, vm->mem, vm->mem_size);
	return ret;
}

/* In the pause: collect, apply to the image, compare every page. */
static int two_phase_pause(struct vm *vm, void *arg)
{
	struct two_phase *c = arg;
	uint64_t rx_lo = vm->vnic.rx_gpa / PAGE;
	uint64_t rx_hi = (vm->vnic.rx_gpa + vm->vnic.ring_bytes) / PAGE;
	uint8_t frame[128];
	int ret;

	/* Monitor writes inside the pause: the guest cannot have touched
	 * those RX pages since (a guest read can mark a page dirty here). */
	for (int k = 0; k < 4; k++)
		inject(c->backend, frame, make_ping(frame, c->seq++));
	if (vnic_fill_rx(vm) <= 0)
		return -EIO;
	if (c->variant == TWO_PHASE_NO_FINAL_GET) {
		/* Take KVM's log away: the collect sees no guest write made
		 * since the last early pass. */
		ret = vm_dirty_collect_guest(vm, c->scratch);
		if (ret)
			return ret;
	}
	if (c->variant == TWO_PHASE_NO_MONITOR)
		memset(vm->monitor_dirty, 0, vm_dirty_bitmap_words(vm) * 8);
	ret = vm_snapshot_collect(vm, &c->snap, false);
	if (ret)
		return ret;
	/* Early copies of a full checkpoint make the collect full. */
	if (c->snap.full != c->full)
		return -EPROTO;
	c->pages += c->snap.npages;
	c->early_copies += c->snap.early_copies;
	c->pause_pages += c->snap.pause_pages;
	for (size_t i = 0; i < c->snap.npages; i++)
		memcpy(c->image + c->snap.pfns[i] * PAGE,
		       c->snap.pages + i * PAGE, PAGE);
	for (uint64_t pfn = 0; pfn < vm->mem_size / PAGE; pfn++) {
		if (memcmp(c->image + pfn * PAGE, vm->mem + pfn * PAGE, PAGE) ==
		    0)
			continue;
		c->mismatched++;
		if (pfn >= rx_lo && pfn < rx_hi)
			c->mismatched_rx++;
		/* Resynchronise, so one miss is counted once. */
		memcpy(c->image + pfn * PAGE, vm->mem + pfn * PAGE, PAGE);
	}
	return 0;
}

/*
 * Rounds of: frames injected (the monitor writes RX while the guest runs),
 * three early passes 4 ms apart, 6 ms more of guest writes (longer than a
 * dirtier tick), then the pause.
 */
static void two_phase_rounds(struct two_phase *c, int rounds)
{
	uint8_t frame[128];

	vm_snapshot_init(&c->snap);
	c->image = malloc(c->vm->mem_size);
	c->scratch = calloc(vm_dirty_bitmap_words(c->vm), 8);
	assert_non_null(c->image);
	assert_non_null(c->scratch);
	inject(c->backend, frame, make_arp(frame));
	assert_int_equal(vm_call_paused(c->vm, two_phase_start, c), 0);
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 4; k++)
			inject(c->backend, frame, make_ping(frame, c->seq++));
		if (c->full) {
			/* The receiver of a full checkpoint starts from zeros.
			 */
			memset(c->image, 0, c->vm->mem_size);
			assert_true(vm_snapshot_precopy_full(c->vm, &c->snap) >
				    0);
		}
		for (int pass = 0; pass < 3; pass++) {
			long n;

			sleep_ms(4);
			n = vm_snapshot_precopy(c->vm, &c->snap);
			if (c->vm->dirty_manual_protect)
				assert_true(n >= 0);
			else
				assert_int_equal(n, -EOPNOTSUPP);
		}
		sleep_ms(6);
		assert_int_equal(vm_call_paused(c->vm, two_phase_pause, c), 0);
	}
	print_message(
	    "two-phase (variant %d, %s): %lu pages in %d epochs, "
	    "%lu early copies, %lu copied in the pause, %lu "
	    "mismatched (RX ring %lu)\n",
	    (int)c->variant, vm_dirty_log_mode(c->vm), (unsigned long)c->pages,
	    rounds, (unsigned long)c->early_copies,
	    (unsigned long)c->pause_pages, (unsigned long)c->mismatched,
	    (unsigned long)c->mismatched_rx);
	vm_snapshot_free(&c->snap);
	free(c->image);
	free(c->scratch);
}

static void test_two_phase_collect_is_exact(void **state)
{
	struct two_phase c = {.vm = &the_vm, .backend = backend};

	(void)state;
	if (!backend)
		skip();
	if (!the_vm.dirty_manual_protect) {
		print_message("KVM offers no manual dirty-log protect here\n");
		skip();
	}
	two_phase_rounds(&c, 15);
	assert_int_equal(c.mismatched, 0);
	/* The early passes did the bulk, and the pause still had work: the
	 * guest wrote during the 6 ms before it (else the check is moot). */
	assert_true(c.pages > 15 * 100);
	assert_true(c.early_copies > c.pages / 4);
	assert_true(c.pause_pages > 0);
	assert_true(c.pause_pages < c.pages);
}

/* A full checkpoint copied while the guest runs: applied to zeros it is
 * guest RAM at the pause, and skipping the final GET is caught there too. */
static void test_two_phase_full_checkpoint_is_exact(void **state)
{
	struct two_phase c = {.vm = &the_vm, .backend = backend, .full = true};
	struct two_phase broken = {.vm = &the_vm,
				   .backend = backend,
				   .full = true,
				   .variant = TWO_PHASE_NO_FINAL_GET};

	(void)state;
	if (!backend || !the_vm.dirty_manual_protect)
		skip();
	two_phase_rounds(&c, 5);
	assert_int_equal(c.mismatched, 0);
	/* Most of each full copy was made early. */
	assert_true(c.early_copies > c.pause_pages);
	two_phase_rounds(&broken, 5);
	assert_true(broken.mismatched >= 5 * 50);
}

/* Negative control: without the final GET the pause misses every guest
 * write made after the last early pass. */
static void test_two_phase_without_final_get_is_caught(void **state)
{
	struct two_phase c = {.vm = &the_vm,
			      .backend = backend,
			      .variant = TWO_PHASE_NO_FINAL_GET};

	(void)state;
	if (!backend || !the_vm.dirty_manual_protect)
		skip();
	two_phase_rounds(&c, 10);
	/* The dirtier writes ~120 pages in the 6 ms, every round. */
	assert_true(c.mismatched >= 10 * 50);
}

/* Negative control: without the monitor's pages the pause misses the RX
 * frames it delivered. */
static void test_two_phase_without_monitor_pages_is_caught(void **state)
{
	struct two_phase c = {
	    .vm = &the_vm, .backend = backend, .variant = TWO_PHASE_NO_MONITOR};

	(void)state;
	if (!backend || !the_vm.dirty_manual_protect)
		skip();
	two_phase_rounds(&c, 10);
	assert_true(c.mismatched_rx >= 10);
}

/*
 * A live migration's pre-copy (migration/migrate_source.c): the monitor's
 * writes forgotten in a pause, round 0 copies all of memory while the
 * guest runs, rounds copy what was dirtied since (each closed without a
 * pause: vm_snapshot_end_round), the final pause the rest. Applied in
 * order to a zero image, the rounds give guest RAM at the final pause,
 * exactly. forget_late is the negative control: monitor writes made after
 * round 0's copy and then forgotten are lost.
 */
struct migration_rounds {
	bool forget_late;
	struct vm_snapshot snap;
	uint8_t *image; /* the destination's */
	uint16_t seq;
	uint64_t rounds_pages, mismatched, mismatched_rx;
};

static void rounds_apply(struct migration_rounds *c)
{
	for (size_t i = 0; i < c->snap.npages; i++)
		memcpy(c->image + c->snap.pfns[i] * PAGE,
		       c->snap.pages + i * PAGE, PAGE);
}

static void rounds_deliver(struct migration_rounds *c)
{
	uint8_t frame[128];

	for (int k = 0; k < 4; k++)
		inject(backend, frame, make_ping(frame, c->seq++));
}

static int rounds_forget(struct vm *vm, void *arg)
{
	(void)arg;
	vm_dirty_forget_monitor(vm);
	return 0;
}

/* The bug the order prevents: RX written after round 0, then forgotten. */
static int rounds_rx_then_forget(struct vm *vm, void *arg)
{
	rounds_deliver(arg);
	if (vnic_fill_rx(vm) <= 0)
		return -EIO;
	vm_dirty_forget_monitor(vm);
	return 0;
}

static int rounds_final(struct vm *vm, void *arg)
{
	struct migration_rounds *c = arg;
	uint64_t rx_lo = vm->vnic.rx_gpa / PAGE;
	uint64_t rx_hi = (vm->vnic.rx_gpa + vm->vnic.ring_bytes) / PAGE;
	int ret;

	rounds_deliver(c);
	if (vnic_fill_rx(vm) <= 0)
		return -EIO;
	ret = vm_snapshot_collect(vm, &c->snap, false);
	if (ret)
		return ret;
	rounds_apply(c);
	for (uint64_t pfn = 0; pfn < vm->mem_size / PAGE; pfn++) {
		if (memcmp(c->image + pfn * PAGE, vm->mem + pfn * PAGE, PAGE) ==
		    0)
			continue;
		c->mismatched++;
		if (pfn >= rx_lo && pfn < rx_hi)
			c->mismatched_rx++;
	}
	return 0;
}

static void migration_rounds(struct migration_rounds *c)
{
	vm_snapshot_init(&c->snap);
	c->image = calloc(1, MEM);
	assert_non_null(c->image);
	assert_int_equal(vm_call_paused(&the_vm, rounds_forget, c), 0);
	assert_true(vm_snapshot_precopy_full(&the_vm, &c->snap) > 0);
	vm_snapshot_end_round(&c->snap);
	assert_true(c->snap.full);
	c->rounds_pages += c->snap.npages;
	rounds_apply(c);
	if (c->forget_late)
		assert_int_equal(
		    vm_call_paused(&the_vm, rounds_rx_then_forget, c), 0);
	for (int r = 0; r < 6; r++) {
		rounds_deliver(c); /* the vCPU thread delivers them: running */
		sleep_ms(5);
		assert_true(vm_snapshot_precopy(&the_vm, &c->snap) >= 0);
		vm_snapshot_end_round(&c->snap);
		assert_false(c->snap.full);
		c->rounds_pages += c->snap.npages;
		rounds_apply(c);
	}
	sleep_ms(3);
	assert_int_equal(vm_call_paused(&the_vm, rounds_final, c), 0);
	print_message("migration rounds%s: %lu pages in 7 rounds, %zu in the "
		      "final epoch, %lu mismatched (RX ring %lu)\n",
		      c->forget_late ? " (forget late)" : "",
		      (unsigned long)c->rounds_pages, c->snap.npages,
		      (unsigned long)c->mismatched,
		      (unsigned long)c->mismatched_rx);
	vm_snapshot_free(&c->snap);
	free(c->image);
}

static void test_migration_rounds_are_exact(void **state)
{
	struct migration_rounds c = {0}, broken = {.forget_late = true};

	(void)state;
	if (!backend || !the_vm.dirty_manual_protect)
		skip();
	migration_rounds(&c);
	assert_int_equal(c.mismatched, 0);
	/* The guest wrote during the rounds (else the check is moot). */
	assert_true(c.rounds_pages > 6 * 50);
	migration_rounds(&broken);
	assert_true(broken.mismatched_rx > 0);
}

/* RRVM_DIRTY_LOG=legacy: no manual protect, no early passes, and the
 * collect (all in the pause) stays exact. */
static void test_legacy_dirty_log_stays_exact(void **state)
{
	struct vm vm;
	struct inject_backend *b;
	pthread_t t;
	struct two_phase c = {.vm = &vm};

	(void)state;
	if (!kvm_and_guest_available())
		skip();
	setenv("RRVM_DIRTY_LOG", "legacy", 1);
	assert_int_equal(boot_vm(&vm, &b, &t), 0);
	unsetenv("RRVM_DIRTY_LOG");
	c.backend = b;
	assert_false(vm.dirty_manual_protect);
	assert_string_equal(vm_dirty_log_mode(&vm), "get-clears");
	two_phase_rounds(&c, 8);
	assert_int_equal(c.mismatched, 0);
	assert_int_equal(c.early_copies, 0);
	assert_true(c.pages > 0);
	stop_vm(&vm, t);
}

struct early_pause {
	pthread_t thread;
	bool started, changed;
	uint8_t *copy;
};

/* Paused before the VM has a vCPU thread: start one, and watch memory. */
static int start_vcpu_and_watch(struct vm *vm, void *arg)
{
	struct early_pause *e = arg;

	memcpy(e->copy, vm->mem, vm->mem_size);
	e->started = pthread_create(&e->thread, NULL, vcpu_thread, vm) == 0;
	sleep_ms(100);
	e->changed = memcmp(e->copy, vm->mem, vm->mem_size) != 0;
	return 0;
}

static int memory_changed(struct vm *vm, void *arg)
{
	struct early_pause *e = arg;

	e->changed = memcmp(e->copy, vm->mem, vm->mem_size) != 0;
	return 0;
}

/*
 * A pause requested while no vCPU thread runs yet holds a vm_run that
 * starts meanwhile: the guest runs only after the callback returns. (Once
 * the guest booted inside a checkpoint's collect; the pages it wrote
 * between the copy and the dirty-log fetch were lost.)
 */
static void test_pause_holds_a_vcpu_thread_starting_meanwhile(void **state)
{
	struct early_pause e = { 0 };
	struct inject_backend *b = NULL;
	struct vm vm;

	(void)state;
	if (!backend)
		skip();
	assert_int_equal(create_vm(&vm, &b), 0);
	e.copy = malloc(MEM);
	assert_non_null(e.copy);
	assert_int_equal(vm_call_paused(&vm, start_vcpu_and_watch, &e), 0);
	assert_true(e.started);
	assert_false(e.changed);
	/* Control: the guest does run (boots, its dirtier writes) after. */
	sleep_ms(200);
	assert_int_equal(vm_call_paused(&vm, memory_changed, &e), 0);
	assert_true(e.changed);
	stop_vm(&vm, e.thread);
	free(e.copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pause_holds_a_vcpu_thread_starting_meanwhile),
	    cmocka_unit_test(test_collect_covers_every_changed_page),
	    cmocka_unit_test(test_collect_covers_monitor_writes),
	    cmocka_unit_test(test_kvm_log_alone_misses_monitor_writes),
	    cmocka_unit_test(test_two_phase_collect_is_exact),
	    cmocka_unit_test(test_two_phase_without_final_get_is_caught),
	    cmocka_unit_test(test_two_phase_without_monitor_pages_is_caught),
	    cmocka_unit_test(test_two_phase_full_checkpoint_is_exact),
	    cmocka_unit_test(test_migration_rounds_are_exact),
	    cmocka_unit_test(test_legacy_dirty_log_stays_exact),
	};

	return cmocka_run_group_tests_name("dirty_tracking", tests, setup,
					   teardown);
}
