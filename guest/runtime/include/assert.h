#ifndef GUEST_ASSERT_H
#define GUEST_ASSERT_H
__attribute__((noreturn)) void guest_assert_fail(const char *expr, const char *file, int line);
#define assert(e) ((e) ? (void)0 : guest_assert_fail(#e, __FILE__, __LINE__))
#endif
