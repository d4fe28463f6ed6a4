/* SPDX-License-Identifier: MIT */
#include "kvm_test_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct null_backend {
	struct vnic_backend base;
	int fd; /* never readable */
};

static int null_send(struct vnic_backend *b, const void *frame, size_t len)
{
	(void)b;
	(void)frame;
	(void)len;
	return 0;
}

static ssize_t null_receive(struct vnic_backend *b, void *buf, size_t cap)
{
	(void)b;
	(void)buf;
	(void)cap;
	return -EAGAIN;
}

static int null_poll_fd(struct vnic_backend *b)
{
	return ((struct null_backend *)b)->fd;
}

static void null_destroy(struct vnic_backend *b)
{
	close(((struct null_backend *)b)->fd);
	free(b);
}

static const struct vnic_backend_ops null_ops = {
    .name = "null",
    .send = null_send,
    .receive = null_receive,
    .poll_fd = null_poll_fd,
    .destroy = null_destroy,
};

bool kvm_test_available(const char *guest)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return access(guest, R_OK) == 0;
}

struct vnic_backend *kvm_test_null_backend(void)
{
	struct null_backend *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->base.ops = &null_ops;
	b->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return &b->base;
}

static void *vcpu_main(void *arg)
{
	vm_run(arg);
	return NULL;
}

int kvm_test_start(struct vm *vm, pthread_t *thread)
{
	return pthread_create(thread, NULL, vcpu_main, vm);
}

void kvm_test_stop(struct vm *vm, pthread_t thread)
{
	vm_request_stop(vm);
	vm_kick(vm);
	pthread_join(thread, NULL);
}
