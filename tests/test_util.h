/* Minimal test harness: CHECK macros that report file:line and the library's error message,
 * a per-test temp directory, and fixture loading. Tests exit non-zero on the first failure
 * of a CHECK_OK/REQUIRE and count soft failures otherwise. */
#ifndef HINGE_TEST_UTIL_H
#define HINGE_TEST_UTIL_H

#include "hinge/hinge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern int hg_test_failures;
extern int hg_test_checks;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        hg_test_checks++;                                                                      \
        if (!(cond)) {                                                                         \
            hg_test_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);            \
        }                                                                                      \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                   \
    do {                                                                                       \
        hg_test_checks++;                                                                      \
        if (!(cond)) {                                                                         \
            hg_test_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);            \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
        }                                                                                      \
    } while (0)

/* A call returning hg_status must succeed; prints the library's message otherwise. */
#define CHECK_OK(expr)                                                                         \
    do {                                                                                       \
        hg_test_checks++;                                                                      \
        hg_status hg__s = (expr);                                                              \
        if (hg__s != HG_OK) {                                                                  \
            hg_test_failures++;                                                                \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,                \
                    hg_error_message());                                                       \
        }                                                                                      \
    } while (0)

/* A call must fail with `status` and a message containing `needle`. */
#define CHECK_FAILS(expr, status, needle)                                                      \
    do {                                                                                       \
        hg_test_checks++;                                                                      \
        hg_error_clear();                                                                      \
        hg_status hg__s = (expr);                                                              \
        if (hg__s != (status) || !hg_test_contains(hg_error_message(), (needle))) {            \
            hg_test_failures++;                                                                \
            fprintf(stderr, "%s:%d: %s: expected failure %d containing '%s', got %d: %s\n",     \
                    __FILE__, __LINE__, #expr, (int)(status), (needle), (int)hg__s,            \
                    hg_error_message());                                                       \
        }                                                                                      \
    } while (0)

/* A pointer-returning call must return NULL with a message containing `needle`. */
#define CHECK_NULL_WITH(expr, needle)                                                          \
    do {                                                                                       \
        hg_test_checks++;                                                                      \
        hg_error_clear();                                                                      \
        const void *hg__p = (expr);                                                            \
        if (hg__p != NULL || !hg_test_contains(hg_error_message(), (needle))) {                \
            hg_test_failures++;                                                                \
            fprintf(stderr, "%s:%d: %s: expected NULL with '%s', got %p: %s\n", __FILE__,       \
                    __LINE__, #expr, (needle), hg__p, hg_error_message());                     \
        }                                                                                      \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                  \
    do {                                                                                       \
        double hg__a = (double)(a), hg__b = (double)(b);                                       \
        hg_test_checks++;                                                                      \
        if (!(fabs(hg__a - hg__b) <= (tol))) {                                                 \
            hg_test_failures++;                                                                \
            fprintf(stderr, "%s:%d: |%s - %s| = |%.9g - %.9g| > %g\n", __FILE__, __LINE__, #a,  \
                    #b, hg__a, hg__b, (double)(tol));                                          \
        }                                                                                      \
    } while (0)

/* Aborts the test when cond is false (for preconditions whose failure would crash later). */
#define REQUIRE(cond)                                                                          \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: REQUIRE(%s) failed: %s\n", __FILE__, __LINE__, #cond,       \
                    hg_error_message());                                                       \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

int hg_test_contains(const char *haystack, const char *needle);
/* Prints a summary "N passed, M failed" and returns the process exit code. */
int hg_test_finish(const char *name);
/* A path under the test temp directory (a rotation of 64 static buffers). */
const char *hg_test_tmp(const char *file);
/* The whole file (up to 4 MiB) as a NUL-terminated string to free(); "" when unreadable. */
char *hg_test_slurp(const char *path);
/* A path under tests/fixtures. */
const char *hg_test_fixture(const char *file);
/* Max |a-b| / max |b| over n floats. */
double hg_test_rel_err(const float *a, const float *b, int64_t n);
/* Fills with uniform values in [lo, hi) from a fixed seed. */
void hg_test_fill(hg_tensor *t, uint64_t seed, float lo, float hi);
/* Runs a shell command (the CLI); returns its exit status. */
int hg_test_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Loads tests/fixtures/<file> (safetensors) into p; exits the test if it cannot. */
void hg_test_load_fixture(const char *file, hg_params *p);
/* The fixture tensor `name` (exits the test if absent). */
hg_tensor *hg_test_get(const hg_params *p, const char *name);

/* Batch losses of a training run: pass hg_test_log_loss as on_event with a zeroed log as
 * user; then the first loss and the mean of the last five. */
typedef struct hg_test_loss_log {
    double first, last[5];
    int64_t n;
} hg_test_loss_log;
void hg_test_log_loss(const hg_train_event *e, void *user);
double hg_test_loss_log_last_mean(const hg_test_loss_log *l);

#endif
