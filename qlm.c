/* The one translation unit of qlm's own build: the whole CPU runtime. */
#define QLM_IMPLEMENTATION
#include "qlm.h"
