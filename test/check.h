/* The tests' shared assertion: counts passes and failures, prints each failure with its place.
   Every test program ends with printf("%d passed, %d failed\n", g_pass, g_fail). */
#ifndef QLM_TEST_CHECK_H
#define QLM_TEST_CHECK_H
#include <stdio.h>

static int g_pass, g_fail;

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (cond) {                                                       \
            g_pass++;                                                     \
        } else {                                                          \
            g_fail++;                                                     \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            printf(__VA_ARGS__);                                          \
            printf("\n");                                                 \
        }                                                                 \
    } while (0)

#endif
