/* Guest errno values match Linux so logs read the same on both sides. */
#ifndef GUEST_ERRNO_H
#define GUEST_ERRNO_H
extern int errno;
#define EPERM 1
#define ENOENT 2
#define EIO 5
#define E2BIG 7
#define EBADF 9
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define EINVAL 22
#define ENOSPC 28
#define ERANGE 34
#define ENOSYS 38
#define EMSGSIZE 90
#define EADDRINUSE 98
#define ECONNRESET 104
#define ENOTCONN 107
#define ETIMEDOUT 110
#endif
