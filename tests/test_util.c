#include "test_util.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

int hg_test_failures;
int hg_test_checks;

int hg_test_contains(const char *haystack, const char *needle)
{
    return haystack && needle && strstr(haystack, needle) != NULL;
}

int hg_test_finish(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, hg_test_checks - hg_test_failures,
           hg_test_failures);
    return hg_test_failures ? 1 : 0;
}

const char *hg_test_tmp(const char *file)
{
    static char buf[64][1024];
    static int at;
    const char *dir = getenv("HINGE_TEST_TMP");
    if (!dir)
        dir = "/tmp";
    mkdir(dir, 0755);
    char *b = buf[at++ % 64];
    snprintf(b, 1024, "%s/%s", dir, file);
    return b;
}

const char *hg_test_fixture(const char *file)
{
    static char buf[64][1024];
    static int at;
    char *b = buf[at++ % 64];
    snprintf(b, 1024, "%s/%s", HINGE_FIXTURES, file);
    return b;
}

double hg_test_rel_err(const float *a, const float *b, int64_t n)
{
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > num || isnan(d))
            num = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > den)
            den = fabs((double)b[i]);
    }
    return num / (den > 0 ? den : 1.0);
}

void hg_test_fill(hg_tensor *t, uint64_t seed, float lo, float hi)
{
    hg_rng r = hg_rng_new(seed);
    hg_rng_fill_uniform(&r, t->data, hg_tensor_nfloats(t), lo, hi);
}

int hg_test_run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int s = system(cmd);
    if (s == -1)
        return -1;
    return WIFEXITED(s) ? WEXITSTATUS(s) : 128 + WTERMSIG(s);
}

void hg_test_load_fixture(const char *file, hg_params *p)
{
    hg_params_init(p);
    if (hg_safetensors_load(hg_test_fixture(file), p, NULL) != HG_OK) {
        fprintf(stderr, "cannot load fixture %s: %s\n", file, hg_error_message());
        exit(1);
    }
}

hg_tensor *hg_test_get(const hg_params *p, const char *name)
{
    hg_tensor *t = hg_params_get(p, name);
    if (!t) {
        fprintf(stderr, "fixture tensor '%s' missing\n", name);
        exit(1);
    }
    return t;
}

char *hg_test_slurp(const char *path)
{
    unsigned char *buf;
    size_t n;
    if (hg_read_file(path, 1 << 22, &buf, &n) != HG_OK)
        return strdup("");
    char *s = realloc(buf, n + 1);
    if (!s) {
        free(buf);
        return strdup("");
    }
    s[n] = 0;
    return s;
}

void hg_test_log_loss(const hg_train_event *e, void *user)
{
    hg_test_loss_log *l = user;
    if (l->n == 0)
        l->first = e->loss;
    l->last[l->n % 5] = e->loss;
    l->n++;
}

double hg_test_loss_log_last_mean(const hg_test_loss_log *l)
{
    int64_t k = l->n < 5 ? l->n : 5;
    double sum = 0;
    for (int64_t i = 0; i < k; i++)
        sum += l->last[i];
    return k ? sum / (double)k : NAN;
}
