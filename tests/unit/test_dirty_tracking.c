/* SPDX-License-Identifier: MIT */
/*
 * Dirty tracking against a real KVM guest: every page whose content changed
 * between two collects must be in the collected set. The guest runs its
 * dirtier (guest writes, seen by KVM's dirty log) while the test injects
 * frames (monitor writes into the RX ring, which KVM cannot see). A negative
 * control shows that KVM's log alone misses the monitor's writes, so the
 * checker can fail. Skips without /dev/kvm or the built guest image.
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
#define MEM (64ull << 20)

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
};

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


static int setup(void **state)
{
	struct vm_config config = {
		.guest_path = GUEST,
		.mem_size = MEM,
		.cmdline = "ip=10.0.0.2/24 mac=52:54:00:00:00:02 dirty=4000 "
			   "dirty_mb=8",
		.mac = { 0x52, 0x54, 0, 0, 0, 2 },
	};
	int fd;

	(void)state;
	fd = open("/dev/kvm", O_RDWR);
	if (fd < 0 || access(GUEST, R_OK) != 0) {
		if (fd >= 0)
			close(fd);
		return 0; /* tests skip */
	}
	close(fd);
	backend = calloc(1, sizeof(*backend));
	backend->base.ops = &inject_ops;
	backend->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&backend->lock, NULL);
	config.backend = &backend->base;
	if (vm_create(&the_vm, &config))
		return -1;
	if (pthread_create(&thread, NULL, vcpu_thread, &the_vm))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!backend)
		return 0;
	vm_request_stop(&the_vm);
	vm_kick(&the_vm);
	pthread_join(thread, NULL);
	vm_destroy(&the_vm);
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
	/* The dirtier alone writes ~4000 pages/s: 0.5 s gives well over 1000. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collect_covers_every_changed_page),
		cmocka_unit_test(test_collect_covers_monitor_writes),
		cmocka_unit_test(test_kvm_log_alone_misses_monitor_writes),
	};

	return cmocka_run_group_tests_name("dirty_tracking", tests, setup,
					   teardown);
}
