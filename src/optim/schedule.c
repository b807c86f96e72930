/* Learning-rate schedules as closed-form functions of the step index (PyTorch's schedulers
 * update the lr recursively; the closed forms are the same values up to rounding, and a pure
 * function is what makes a resumed run compute the same lr from the restored step). */
#include "hinge/optim.h"

#include <math.h>

static double start_factor(const hg_schedule *s)
{
    return s->warmup_start_factor > 0.0 ? s->warmup_start_factor : 1.0 / 3.0;
}

static double poly_exponent(const hg_schedule *s)
{
    return s->exponent > 0.0 ? s->exponent : 0.9;
}

static bool finite_nonneg(double v) { return v >= 0.0 && isfinite(v); }

hg_status hg_schedule_check(const hg_schedule *s)
{
    if (!s)
        return hg_error(HG_ERR_INVALID, "schedule: NULL");
    if (!finite_nonneg(s->base_lr))
        return hg_error(HG_ERR_INVALID, "schedule: base_lr must be finite and >= 0, got %g",
                        s->base_lr);
    if (s->warmup_steps < 0)
        return hg_error(HG_ERR_INVALID, "schedule: warmup_steps must be >= 0, got %lld",
                        (long long)s->warmup_steps);
    if (!(s->warmup_start_factor >= 0.0 && s->warmup_start_factor <= 1.0))
        return hg_error(HG_ERR_INVALID,
                        "schedule: warmup_start_factor must be in (0, 1] (0: 1/3), got %g",
                        s->warmup_start_factor);
    switch (s->kind) {
    case HG_SCHED_CONSTANT: return HG_OK;
    case HG_SCHED_STEP:
        if (s->step_size < 1)
            return hg_error(HG_ERR_INVALID, "step schedule: step_size must be >= 1, got %lld",
                            (long long)s->step_size);
        if (!finite_nonneg(s->gamma))
            return hg_error(HG_ERR_INVALID, "step schedule: gamma must be finite and >= 0, "
                            "got %g", s->gamma);
        return HG_OK;
    case HG_SCHED_COSINE:
    case HG_SCHED_POLY: {
        const char *name = s->kind == HG_SCHED_COSINE ? "cosine" : "poly";
        if (s->decay_steps < 1)
            return hg_error(HG_ERR_INVALID, "%s schedule: decay_steps must be >= 1, got %lld",
                            name, (long long)s->decay_steps);
        if (!finite_nonneg(s->final_lr))
            return hg_error(HG_ERR_INVALID, "%s schedule: final_lr must be finite and >= 0, "
                            "got %g", name, s->final_lr);
        if (!finite_nonneg(s->exponent))
            return hg_error(HG_ERR_INVALID, "%s schedule: exponent must be finite and >= 0, "
                            "got %g", name, s->exponent);
        return HG_OK;
    }
    }
    return hg_error(HG_ERR_INVALID, "schedule: unknown kind %d", (int)s->kind);
}

/* The main schedule at its own step t >= 0. */
static double main_lr(const hg_schedule *s, int64_t t)
{
    switch (s->kind) {
    case HG_SCHED_STEP: return s->base_lr * pow(s->gamma, (double)(t / s->step_size));
    case HG_SCHED_COSINE: {
        if (t >= s->decay_steps)
            return s->final_lr;
        double c = cos(3.14159265358979323846 * (double)t / (double)s->decay_steps);
        return s->final_lr + (s->base_lr - s->final_lr) * (1.0 + c) / 2.0;
    }
    case HG_SCHED_POLY: {
        int64_t tc = t < s->decay_steps ? t : s->decay_steps;
        return s->base_lr * pow(1.0 - (double)tc / (double)s->decay_steps, poly_exponent(s));
    }
    default: return s->base_lr;
    }
}

double hg_schedule_lr(const hg_schedule *s, int64_t step)
{
    if (step < 0 || hg_schedule_check(s) != HG_OK)
        return NAN;
    if (step < s->warmup_steps) {
        /* LinearLR(start_factor, end_factor 1, total_iters W). */
        double f = start_factor(s);
        return s->base_lr * (f + (1.0 - f) * (double)step / (double)s->warmup_steps);
    }
    return main_lr(s, step - s->warmup_steps);
}
