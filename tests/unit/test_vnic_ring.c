/* SPDX-License-Identifier: MIT */
/* Ring bookkeeping shared by guest and monitor: empty, full, wrap-around. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rrvm/vnic_ring.h"

#define SLOTS 8
#define SLOT_SIZE 2048

static struct rrvm_vnic_ring *new_ring(void)
{
	size_t bytes = RRVM_VNIC_RING_DATA_OFFSET + SLOTS * SLOT_SIZE;
	struct rrvm_vnic_ring *r = calloc(1, bytes);

	assert_non_null(r);
	vnic_ring_init(r, SLOTS, SLOT_SIZE, RRVM_VNIC_RING_DATA_OFFSET);
	assert_true(vnic_ring_valid(r, bytes));
	return r;
}

static void test_empty(void **state)
{
	struct rrvm_vnic_ring *r = new_ring();
	uint32_t len = 1234;

	(void)state;
	assert_true(vnic_ring_empty(r));
	assert_false(vnic_ring_full(r));
	assert_int_equal(vnic_ring_used(r), 0);
	assert_null(vnic_ring_peek(r, &len));
	assert_int_equal(len, 1234); /* untouched when empty */
	free(r);
}

static void test_fill_to_full_then_drop(void **state)
{
	struct rrvm_vnic_ring *r = new_ring();
	uint8_t frame[100];

	(void)state;
	for (int i = 0; i < SLOTS; i++) {
		memset(frame, i, sizeof(frame));
		assert_true(vnic_ring_push(r, frame, sizeof(frame)));
	}
	assert_true(vnic_ring_full(r));
	assert_int_equal(vnic_ring_used(r), SLOTS);
	assert_false(vnic_ring_push(r, frame, sizeof(frame)));
	assert_int_equal(r->dropped, 1);
	/* FIFO order preserved. */
	for (int i = 0; i < SLOTS; i++) {
		uint32_t len;
		uint8_t *p = vnic_ring_peek(r, &len);

		assert_non_null(p);
		assert_int_equal(len, sizeof(frame));
		assert_int_equal(p[0], i);
		assert_int_equal(p[99], i);
		vnic_ring_pop(r);
	}
	assert_true(vnic_ring_empty(r));
	free(r);
}

static void test_oversize_dropped(void **state)
{
	struct rrvm_vnic_ring *r = new_ring();
	static uint8_t big[SLOT_SIZE + 1];

	(void)state;
	assert_false(vnic_ring_push(r, big, sizeof(big)));
	assert_int_equal(r->dropped, 1);
	assert_true(vnic_ring_empty(r));
	assert_true(vnic_ring_push(r, big, SLOT_SIZE));
	free(r);
}

/* Free-running 32-bit indexes must keep working across 2^32. */
static void test_wrap_around_uint32(void **state)
{
	struct rrvm_vnic_ring *r = new_ring();
	uint32_t value;

	(void)state;
	r->head = r->tail = UINT32_MAX - 3;
	for (uint32_t i = 0; i < 100; i++) {
		uint32_t len;
		uint8_t *p;

		assert_true(vnic_ring_push(r, &i, sizeof(i)));
		assert_true(vnic_ring_push(r, &i, sizeof(i)));
		assert_int_equal(vnic_ring_used(r), 2);
		for (int k = 0; k < 2; k++) {
			p = vnic_ring_peek(r, &len);
			assert_non_null(p);
			assert_int_equal(len, sizeof(i));
			memcpy(&value, p, sizeof(value));
			assert_int_equal(value, i);
			vnic_ring_pop(r);
		}
	}
	assert_true(r->head < 1000); /* it did wrap */
	assert_true(vnic_ring_empty(r));
	free(r);
}

static void test_full_across_wrap(void **state)
{
	struct rrvm_vnic_ring *r = new_ring();
	uint8_t b = 7;

	(void)state;
	r->head = r->tail = UINT32_MAX - 2;
	for (int i = 0; i < SLOTS; i++)
		assert_true(vnic_ring_push(r, &b, 1));
	assert_true(vnic_ring_full(r));
	assert_false(vnic_ring_push(r, &b, 1));
	free(r);
}

/* A guest that scribbles on the header must not make the host overrun. */
static void test_corrupted_header_rejected(void **state)
{
	struct rrvm_vnic_ring *r = new_ring();
	size_t bytes = RRVM_VNIC_RING_DATA_OFFSET + SLOTS * SLOT_SIZE;
	uint32_t len;
	uint8_t b = 0;

	(void)state;
	r->slots = 6; /* not a power of two */
	assert_false(vnic_ring_valid(r, bytes));
	r->slots = SLOTS * 2; /* larger than the memory behind it */
	assert_false(vnic_ring_valid(r, bytes));
	r->slots = SLOTS;
	r->data_offset = 8; /* data over the descriptors */
	assert_false(vnic_ring_valid(r, bytes));
	r->data_offset = RRVM_VNIC_RING_DATA_OFFSET;
	r->slot_size = 100; /* cannot hold a frame */
	assert_false(vnic_ring_valid(r, bytes));
	r->slot_size = SLOT_SIZE;
	assert_true(vnic_ring_valid(r, bytes));

	/* Indexes further apart than the ring: treated as full, no write. */
	r->head = 100;
	r->tail = 0;
	assert_true(vnic_ring_full(r));
	assert_false(vnic_ring_push(r, &b, 1));
	/* A descriptor length beyond the slot is clamped for the reader. */
	r->head = 1;
	r->tail = 0;
	vnic_ring_desc(r, 0)->len = 1u << 30;
	assert_non_null(vnic_ring_peek(r, &len));
	assert_int_equal(len, SLOT_SIZE);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_fill_to_full_then_drop),
		cmocka_unit_test(test_oversize_dropped),
		cmocka_unit_test(test_wrap_around_uint32),
		cmocka_unit_test(test_full_across_wrap),
		cmocka_unit_test(test_corrupted_header_rejected),
	};

	return cmocka_run_group_tests_name("vnic_ring", tests, NULL, NULL);
}
