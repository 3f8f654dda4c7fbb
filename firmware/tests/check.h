/* Minimal test harness: CHECK records a failure with file:line and carries on. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>

extern int check_failures;
extern int check_count;

#define CHECK(cond)                                                             \
    do {                                                                        \
        ++check_count;                                                          \
        if (!(cond)) {                                                          \
            ++check_failures;                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                       \
    } while (0)

void test_control(void);
void test_frame(void);
void test_app(void);
void test_auth(void);

#endif /* CHECK_H */
