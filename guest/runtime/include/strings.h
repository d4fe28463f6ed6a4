#ifndef GUEST_STRINGS_H
#define GUEST_STRINGS_H
#include <string.h>
#endif
