/*
 * The guest heap (guest/runtime/libc/heap.c), host-built over a 4 MiB
 * buffer: random alloc/free/realloc with fill patterns (alignment, no
 * overlap, realloc keeps contents), coalescing, in-place realloc, OOM,
 * and misuse detection through the overridable failure hook.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/runtime/libc/heap.h"

#define REGION_SIZE (4u << 20)

static unsigned char *region;

/* A small deterministic PRNG: the sequences are reproducible. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t rng_below(size_t n)
{
	return (size_t)(rng() % n);
}

/* The failure hook: record, then leave the heap call by longjmp. */
static jmp_buf fail_jmp;
static const char *fail_what;
static const void *fail_ptr;
static int fail_count;

static void catch_fail(const char *what, const void *ptr)
{
	fail_what = what;
	fail_ptr = ptr;
	fail_count++;
	longjmp(fail_jmp, 1);
}

static void assert_heap_ok(void)
{
	const char *err = heap_check();

	if (err) {
		print_error("heap_check: %s\n", err);
		fail();
	}
}

static int setup(void **state)
{
	region = malloc(REGION_SIZE + 64);
	if (!region)
		return -1;
	/* Misaligned on purpose: heap_init must trim to 16 bytes. */
	heap_init(region + 3, REGION_SIZE);
	rng_state = 0x9e3779b97f4a7c15ULL;
	fail_count = 0;
	heap_set_fail_hook(catch_fail);
	return 0;
}

static int teardown(void **state)
{
	heap_set_fail_hook(NULL);
	free(region);
	region = NULL;
	return 0;
}

/* ------------------------------------------------------- random churn */

struct slot {
	unsigned char *p;
	size_t size;
	unsigned char fill;
};

#define NSLOTS 600

static struct slot slots[NSLOTS];

static size_t random_size(void)
{
	switch (rng_below(20)) {
	case 0:
		return rng_below(256 << 10); /* up to 256 KiB */
	case 1:
	case 2:
		return rng_below(16 << 10);
	case 3:
		return 0;
	default:
		return 1 + rng_below(200); /* keys, small objects */
	}
}

static void check_fill(const struct slot *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s->p[i] != s->fill) {
			print_error("slot %p byte %zu: %02x, want %02x\n",
				    (void *)s->p, i, s->p[i], s->fill);
			fail();
		}
}

static void set_slot(struct slot *s, unsigned char *p, size_t size)
{
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % HEAP_ALIGN, 0);
	assert_true(p >= region && p + size <= region + REGION_SIZE + 3);
	assert_true(heap_usable_size(p) >= size);
	s->p = p;
	s->size = size;
	s->fill = (unsigned char)(1 + rng_below(255));
	memset(p, s->fill, size);
}

static int cmp_slot(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	return (x->p > y->p) - (x->p < y->p);
}

/* Every live block keeps its pattern and no two blocks overlap. */
static void check_all_slots(void)
{
	static struct slot sorted[NSLOTS];
	size_t i, n = 0;

	for (i = 0; i < NSLOTS; i++) {
		if (!slots[i].p)
			continue;
		check_fill(&slots[i], slots[i].size);
		sorted[n++] = slots[i];
	}
	qsort(sorted, n, sizeof(sorted[0]), cmp_slot);
	for (i = 1; i < n; i++)
		assert_true(sorted[i - 1].p +
				    heap_usable_size(sorted[i - 1].p) <=
			    sorted[i].p);
}

static void test_random_churn(void **state)
{
	struct heap_stats st;
	size_t ops, i, nulls = 0;

	memset(slots, 0, sizeof(slots));
	for (ops = 0; ops < 200000; ops++) {
		struct slot *s = &slots[rng_below(NSLOTS)];
		size_t size = random_size();
		unsigned char *p;

		if (!s->p) {
			int zeroed = rng_below(10) == 0;

			p = zeroed ? heap_calloc(1, size) : heap_alloc(size);
			if (!p) {
				nulls++;
				continue;
			}
			/* calloc zeroes even recycled (dirty) blocks. */
			for (i = 0; zeroed && i < size; i++)
				assert_int_equal(p[i], 0);
			set_slot(s, p, size);
		} else if (rng_below(2)) {
			check_fill(s, s->size);
			heap_free(s->p);
			s->p = NULL;
		} else {
			check_fill(s, s->size);
			p = heap_realloc(s->p, size);
			if (!p) {
				/* Failed: the old block must be intact. */
				nulls++;
				check_fill(s, s->size);
				continue;
			}
			s->p = p;
			/* The common prefix survived the move. */
			check_fill(s, size < s->size ? size : s->size);
			set_slot(s, p, size);
		}
		if (ops % 5000 == 0) {
			assert_heap_ok();
			check_all_slots();
		}
	}
	assert_heap_ok();
	check_all_slots();
	heap_get_stats(&st);
	print_message("churn: %zu NULLs, peak %zu of %zu, %zu free blocks\n",
		      nulls, st.peak, st.total, st.free_blocks);

	for (i = 0; i < NSLOTS; i++) {
		heap_free(slots[i].p);
		slots[i].p = NULL;
	}
	assert_heap_ok();

	/* Coalescing: everything merged back into one block. */
	heap_get_stats(&st);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.free_blocks, 1);
	assert_true(st.total >= REGION_SIZE - 64);
	{
		void *all = heap_alloc(st.total - 16);

		assert_non_null(all);
		assert_null(heap_alloc(0));
		heap_free(all);
	}
	assert_heap_ok();
	assert_int_equal(fail_count, 0);
}

/* ------------------------------------------------------ in-place realloc */

static void test_realloc_in_place(void **state)
{
	unsigned char *a, *b, *guard, *x, *y, *z, *y2;
	size_t i;

	a = heap_alloc(100);
	b = heap_alloc(100);
	guard = heap_alloc(100);
	memset(a, 0x11, 100);
	heap_free(b);
	/* Grows into the free right neighbour without moving. */
	assert_ptr_equal(heap_realloc(a, 200), a);
	for (i = 0; i < 100; i++)
		assert_int_equal(a[i], 0x11);
	/* Shrinks in place, and the tail is reusable. */
	assert_ptr_equal(heap_realloc(a, 20), a);
	assert_true(heap_usable_size(a) < 100);
	/* 20 bytes already sit in 48: a 16-byte tail is too small to split
	 * off, so size 0 keeps the block (and still returns it). */
	assert_ptr_equal(heap_realloc(a, 0), a);
	assert_int_equal(heap_usable_size(a), 32);
	assert_heap_ok();

	/* Grows leftwards into a free left neighbour, moving the data. */
	x = heap_alloc(1000);
	y = heap_alloc(100);
	z = heap_alloc(10);
	for (i = 0; i < 100; i++)
		y[i] = (unsigned char)i;
	heap_free(x);
	y2 = heap_realloc(y, 1000);
	assert_ptr_equal(y2, x);
	for (i = 0; i < 100; i++)
		assert_int_equal(y2[i], (unsigned char)i);
	assert_heap_ok();

	/* A stale pointer after a move is caught. */
	if (setjmp(fail_jmp) == 0) {
		heap_free(y);
		fail();
	}
	assert_string_equal(fail_what, "double free");

	/* realloc(NULL, n) allocates. */
	x = heap_realloc(NULL, 50);
	assert_non_null(x);
	heap_free(x);
	heap_free(y2);
	heap_free(z);
	heap_free(a);
	heap_free(guard);
	assert_heap_ok();
}

/* 1 MiB values, as the kv store keeps them: a freed slot is reused. */
static void test_large_reuse(void **state)
{
	void *v[3], *again;
	struct heap_stats st;

	v[0] = heap_alloc(1 << 20);
	v[1] = heap_alloc(1 << 20);
	v[2] = heap_alloc(1 << 20);
	assert_non_null(v[0]);
	assert_non_null(v[1]);
	assert_non_null(v[2]);
	heap_free(v[1]);
	again = heap_alloc(1 << 20);
	assert_ptr_equal(again, v[1]);
	heap_get_stats(&st);
	assert_true(st.in_use >= 3u << 20);
	assert_true(st.peak >= st.in_use);
	heap_free(v[0]);
	heap_free(again);
	heap_free(v[2]);
	heap_get_stats(&st);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.free_blocks, 1);
	assert_true(st.peak >= 3u << 20);
}

/* ------------------------------------------------------------------ OOM */

static void test_oom(void **state)
{
	static void *blocks[4096];
	size_t n = 0, i;
	struct heap_stats st;

	assert_null(heap_alloc(REGION_SIZE + 1));
	assert_null(heap_alloc(SIZE_MAX));
	assert_null(heap_alloc(SIZE_MAX - 15));
	assert_null(heap_calloc(SIZE_MAX / 2, 3)); /* n * size overflows */
	assert_null(heap_calloc((size_t)1 << 33, (size_t)1 << 31));
	assert_null(heap_calloc(1 << 20, 1 << 20)); /* fits size_t, not heap */

	/* Exhaust with 64 KiB blocks, then fill the crumbs with small ones. */
	while (n < 4096 && (blocks[n] = heap_alloc(64 << 10)))
		n++;
	assert_true(n > 50 && n < 4096);
	while (n < 4096 && (blocks[n] = heap_alloc(100)))
		n++;
	while (n < 4096 && (blocks[n] = heap_alloc(1)))
		n++;
	assert_true(n < 4096);
	assert_null(heap_alloc(100));
	assert_null(heap_alloc(0));
	assert_heap_ok();
	/* A failed realloc leaves the block alone. */
	memset(blocks[0], 0x5a, 64 << 10);
	assert_null(heap_realloc(blocks[0], 2 << 20));
	for (i = 0; i < 64 << 10; i++)
		assert_int_equal(((unsigned char *)blocks[0])[i], 0x5a);
	assert_null(heap_realloc(blocks[0], SIZE_MAX));

	/* Free in a scrambled order; it must all merge again. */
	for (i = 0; i < n; i++) {
		size_t j = rng_below(n);
		void *t = blocks[i];

		blocks[i] = blocks[j];
		blocks[j] = t;
	}
	for (i = 0; i < n; i++)
		heap_free(blocks[i]);
	assert_heap_ok();
	heap_get_stats(&st);
	assert_int_equal(st.free_blocks, 1);
	assert_non_null(blocks[0] = heap_alloc(st.total - 16));
	heap_free(blocks[0]);
	assert_int_equal(fail_count, 0);
}

/* ---------------------------------------------------------------- misuse */

#define EXPECT_FAIL(stmt, msg)                                   \
	do {                                                     \
		if (setjmp(fail_jmp) == 0) {                     \
			stmt;                                    \
			fail_msg("no failure from: %s", #stmt);  \
		}                                                \
		assert_string_equal(fail_what, msg);             \
	} while (0)

static void test_misuse(void **state)
{
	unsigned char *a, *b, *c, *d;
	int local;

	a = heap_alloc(40);
	b = heap_alloc(40);
	c = heap_alloc(40);
	d = heap_alloc(40);

	heap_free(b);
	EXPECT_FAIL(heap_free(b), "double free");
	assert_ptr_equal(fail_ptr, b);
	EXPECT_FAIL(heap_realloc(b, 10), "double free");
	EXPECT_FAIL(heap_usable_size(b), "double free");
	/* b merged into a's right... now a freed block merged into its left
	 * free neighbour: its stale header still says free. */
	heap_free(c);
	EXPECT_FAIL(heap_free(c), "double free");
	assert_heap_ok();

	EXPECT_FAIL(heap_free(&local), "pointer not from this heap");
	EXPECT_FAIL(heap_free(a + 1), "pointer not from this heap");
	EXPECT_FAIL(heap_free(a + 16), "bad pointer or corrupted block header");
	assert_heap_ok();

	/* An overrun into d's neighbour is caught when d is freed. */
	memset(d, 0xee, heap_usable_size(d) + 12);
	EXPECT_FAIL(heap_free(d), "block overrun: next header corrupted");
	/* The heap is now knowingly corrupt: start over. */
	heap_init(region + 3, REGION_SIZE);
	assert_heap_ok();

	/* A clobbered own header. */
	a = heap_alloc(64);
	memset(a - 8, 0, 8);
	EXPECT_FAIL(heap_free(a), "bad pointer or corrupted block header");
	heap_init(region + 3, REGION_SIZE);

	/* free(NULL) is fine; with no hook installed the default would exit
	 * the guest, so restore ours afterwards. */
	heap_free(NULL);
	assert_ptr_equal(heap_set_fail_hook(NULL), catch_fail);
	assert_ptr_equal(heap_set_fail_hook(catch_fail), NULL);
	assert_true(fail_count >= 9);
}

/* -------------------------------------------------------- small corners */

static void test_corners(void **state)
{
	void *p, *q;
	struct heap_stats st;

	/* malloc(0): a unique, usable, minimum-size pointer. */
	p = heap_alloc(0);
	q = heap_alloc(0);
	assert_non_null(p);
	assert_non_null(q);
	assert_ptr_not_equal(p, q);
	assert_int_equal(heap_usable_size(p), 16);
	heap_get_stats(&st);
	assert_int_equal(st.in_use, 64); /* two 32-byte blocks */
	heap_free(p);
	heap_free(q);

	/* Sizes round to 16-byte units, header included. */
	p = heap_alloc(17);
	assert_int_equal(heap_usable_size(p), 32);
	heap_free(p);

	/* calloc zeroes a block that was dirty. */
	p = heap_alloc(256);
	memset(p, 0xff, 256);
	heap_free(p);
	q = heap_calloc(16, 16);
	assert_ptr_equal(q, p);
	for (size_t i = 0; i < 256; i++)
		assert_int_equal(((unsigned char *)q)[i], 0);
	heap_free(q);
	assert_non_null(p = heap_calloc(0, 5));
	heap_free(p);

	/* Regions too small for any block give an empty heap. */
	heap_init(region, 40);
	assert_null(heap_alloc(0));
	assert_heap_ok();
	heap_init(NULL, 0);
	assert_null(heap_alloc(1));
	assert_null(heap_realloc(NULL, 1));
	heap_get_stats(&st);
	assert_int_equal(st.total, 0);
	assert_heap_ok();
	/* Smallest usable region: one minimum block + sentinel. */
	heap_init(region + 1, 15 + 48);
	p = heap_alloc(16);
	assert_non_null(p);
	assert_null(heap_alloc(0));
	heap_free(p);
	assert_heap_ok();
	assert_int_equal(fail_count, 0);
}

/*
 * A kv-store-like load on a region the size of the guest's: 20000 small
 * keys churning while 40 values of 1 MiB (+ up to 2 KiB) are replaced over
 * and over -- about 86% of the region live.  Fragmentation must not make a
 * value allocation fail.
 */
static void test_kv_like(void **state)
{
	const size_t size = 48u << 20;
	unsigned char *big = malloc(size);
	static void *keys[20000];
	static void *vals[40];
	struct heap_stats st;
	size_t i, round;

	assert_non_null(big);
	heap_init(big, size);
	for (i = 0; i < 20000; i++)
		assert_non_null(keys[i] = heap_alloc(8 + rng_below(56)));
	for (round = 0; round < 2000; round++) {
		size_t v = rng_below(40), k = rng_below(20000);

		heap_free(vals[v]);
		vals[v] = heap_alloc((1 << 20) + rng_below(2048));
		assert_non_null(vals[v]);
		heap_free(keys[k]);
		assert_non_null(keys[k] = heap_alloc(8 + rng_below(56)));
	}
	assert_heap_ok();
	heap_get_stats(&st);
	print_message("kv-like: in use %zu KiB, peak %zu KiB, %zu free "
		      "blocks\n", st.in_use >> 10, st.peak >> 10,
		      st.free_blocks);
	for (i = 0; i < 40; i++)
		heap_free(vals[i]);
	for (i = 0; i < 20000; i++)
		heap_free(keys[i]);
	heap_get_stats(&st);
	assert_int_equal(st.free_blocks, 1);
	assert_heap_ok();
	free(big);
	heap_init(region + 3, REGION_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_random_churn, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_realloc_in_place, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_large_reuse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corners, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv_like, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
