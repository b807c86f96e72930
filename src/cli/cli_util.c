/* Shared CLI helpers: error printing, number parsing, progress bars. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int hg_cli_fail(const char *cmd)
{
    fprintf(stderr, "hinge %s: error: %s\n", cmd, hg_error_message());
    return HG_EXIT_FAIL;
}

int hg_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hinge %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see hinge %s --help)\n", cmd);
    return HG_EXIT_USAGE;
}

bool hg_cli_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool hg_cli_parse_float(const char *s, double *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

bool hg_cli_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

bool hg_cli_metadata_set_kv(hg_metadata *m, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return false;
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    return hg_metadata_set(m, key, eq + 1) == HG_OK;
}

double hg_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_duration(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "--:--");
    else if (s < 3600)
        snprintf(buf, n, "%02d:%02d", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
}

void hg_progress_begin(hg_progress *p, const char *label, int64_t total, bool quiet)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->start = hg_cli_now();
    p->last_print = 0;
    p->base_done = -1;
    p->base_time = p->start;
    p->tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
}

static void progress_print(hg_progress *p, const char *extra, bool final)
{
    double el = hg_cli_now() - p->start;
    double since = hg_cli_now() - p->base_time;
    int64_t counted = p->base_done < 0 ? 0 : p->done - p->base_done;
    double rate = since > 0 && counted > 0 ? (double)counted / since : 0;
    double eta = rate > 0 ? (double)(p->total - p->done) / rate : NAN;
    char e1[32], e2[32];
    format_duration(el, e1, sizeof e1);
    format_duration(final ? 0 : eta, e2, sizeof e2);
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%s [%s] %lld/%lld %.1f it/s %s<%s %s\033[K%s", p->label, bar,
                (long long)p->done, (long long)p->total, rate, e1, e2, extra ? extra : "",
                final ? "\n" : "");
    } else {
        fprintf(stderr, "%s %lld/%lld (%.0f%%) %.2f it/s elapsed %s eta %s %s\n", p->label,
                (long long)p->done, (long long)p->total, 100 * frac, rate, e1, e2,
                extra ? extra : "");
    }
    fflush(stderr);
}

void hg_progress_update(hg_progress *p, int64_t done, const char *extra)
{
    p->done = done;
    if (p->quiet)
        return;
    double now = hg_cli_now();
    if (p->base_done < 0) {
        p->base_done = done;
        p->base_time = now;
    }
    double gap = p->tty ? 0.1 : 5.0;
    /* Work shorter than a second shows nothing. */
    if (now - p->start < 1.0 || now - p->last_print < gap)
        return;
    p->last_print = now;
    progress_print(p, extra, false);
}

void hg_progress_end(hg_progress *p, const char *extra)
{
    if (p->quiet)
        return;
    /* Work that finished within a second shows nothing. */
    if (hg_cli_now() - p->start < 1.0)
        return;
    progress_print(p, extra, true);
}

void hg_cli_model_path(const char *arg, char *path, size_t size)
{
    FILE *f = fopen(arg, "rb");
    if (f || strchr(arg, '/') || strstr(arg, ".safetensors") || strstr(arg, ".onnx")) {
        if (f)
            fclose(f);
        snprintf(path, size, "%s", arg);
        return;
    }
    /* A shipped model by name: $HINGE_MODELS, the installed models, then the source tree. */
    const char *dirs[3] = {getenv("HINGE_MODELS"), HINGE_MODEL_DIR, HINGE_SOURCE_DIR "/models"};
    for (int i = 0; i < 3; i++) {
        if (!dirs[i] || !dirs[i][0])
            continue;
        snprintf(path, size, "%s/%s.safetensors", dirs[i], arg);
        if ((f = fopen(path, "rb")) != NULL) {
            fclose(f);
            return;
        }
    }
    snprintf(path, size, "%s/models/%s.safetensors", HINGE_SOURCE_DIR, arg);
}
