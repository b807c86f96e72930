/* Filtered backprojection (parallel; fan beam on flat and equiangular detectors) and FDK
 * (circular cone beam, flat panel) as linear operators sinogram -> image.
 *
 * Model (Kak & Slaney ch. 3; Feldkamp, Davis & Kress 1984). For every detector row:
 *   q = H (W ∘ p)       W: pre-weights, H: ramp filter · window, by FFT with zero padding
 *   f(x) = π/N Σ_views w(x, view) · q(view, u(x)[, v(x)])   (linear/bilinear interpolation)
 * parallel:  W = 1,                  u = x·e_u,                          w = 1
 * fan flat:  W = sdd/√(sdd²+u²),     u = sdd·(x·e_u)/l, l = sod + x·d,     w = sod²/l²
 * fan arc:   W = sod·cos γ,          γ = atan2(x·e_u, l), u = sdd·γ,      w = 1/|x - source|²,
 *            and the ramp kernel h[n] multiplied by (nα/sin nα)² (α = du/sdd)
 * cone:      W = sdd/√(sdd²+u²+v²),  as fan flat plus v = sdd·z/l (FDK)
 * The ramp is the band-limited discrete kernel h[0] = 1/4, h[odd n] = -1/(πn)² (divided by
 * the sample pitch at the isocentre; Kak & Slaney eq. 61, as skimage's iradon), whose DFT
 * removes the DC bias of sampling |ω| directly. π/N is the angular weight of N views spread
 * uniformly over π (parallel) or 2π (fan, cone: each ray counted twice, hence the ½ of the
 * fan-beam formula). Short scans (Parker weights) are not handled.
 *
 * The adjoint is the exact transpose: the backprojection's interpolation weights scattered
 * into the detector (one view per thread, no atomics), then H (its real, even response makes
 * it symmetric), then W.
 */
#include "physics/ct_internal.h"

#include <fftw3.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct fbp {
    ct_geom cg;
    int32_t m;          /* padded FFT length */
    int32_t nthreads;
    float *resp;        /* m/2+1 real filter response (includes 1/pitch and 1/m) */
    float *prew;        /* n_rows x n_det pre-weights */
    float *q;           /* filtered sinogram (forward) / scattered sinogram (adjoint) */
    float *maps;        /* per thread: 3 x nx (detector u index, v index, weight), or the
                         * 2 x n_angles interior runs of the AVX-512 parallel backprojection */
    int64_t maps_per_thread;
    float *pa, *pb;     /* parallel: u = pa[j·n_angles + v] + pb[v]·i for image row j */
    float *qd;          /* parallel, AVX-512: forward differences of q (ct_simd.c) */
    float **buf;        /* per thread m floats (fftwf_malloc) */
    fftwf_complex **spec;
    fftwf_plan r2c, c2r;
} fbp;

const char *hg_ct_filter_name(hg_ct_filter f)
{
    static const char *names[] = {"ramp", "shepp-logan", "cosine", "hamming", "hann"};
    return (unsigned)f <= HG_CT_HANN ? names[f] : "unknown";
}

static double window(hg_ct_filter f, double nu) /* nu in [0, 0.5] cycles per sample */
{
    switch (f) {
    case HG_CT_RAMP: return 1.0;
    case HG_CT_SHEPP_LOGAN: return nu > 0 ? sin(CT_PI * nu) / (CT_PI * nu) : 1.0;
    case HG_CT_COSINE: return cos(CT_PI * nu);
    case HG_CT_HAMMING: return 0.54 + 0.46 * cos(2 * CT_PI * nu);
    case HG_CT_HANN: return 0.5 + 0.5 * cos(2 * CT_PI * nu);
    }
    return 1.0;
}

/* The real DFT of the even ramp kernel times the window, scaled by 1/(pitch·m). */
static hg_status build_response(fbp *F, hg_ct_filter filter, float cutoff)
{
    const hg_ct_geometry *g = &F->cg.g;
    int m = F->m;
    double pitch = g->du, alpha = g->du / g->sdd;
    if (g->kind == HG_CT_FAN_FLAT || g->kind == HG_CT_CONE_FLAT)
        pitch = g->du * g->sod / g->sdd; /* virtual detector through the isocentre */
    else if (g->kind == HG_CT_FAN_ARC)
        pitch = alpha;
    double *h = calloc((size_t)m, sizeof *h);
    if (!h)
        return HG_ERR_NOMEM;
    for (int n = 0; n < m; n++) {
        int a = n < m - n ? n : m - n;
        if (n == 0)
            h[n] = 0.25;
        else if (a % 2 == 1) {
            h[n] = -1.0 / (CT_PI * a * CT_PI * a);
            if (g->kind == HG_CT_FAN_ARC) {
                /* lags beyond the detector never meet data; keep sin() away from 0 there */
                double ga = a * alpha, r = a < g->n_det && ga < 0.99 * CT_PI ? ga / sin(ga) : 1.0;
                h[n] *= r * r;
            }
        }
    }
    for (int k = 0; k <= m / 2; k++) {
        double acc = 0.0;
        for (int n = 0; n < m; n++)
            acc += h[n] * cos(2 * CT_PI * (double)k * n / m);
        double nu = (double)k / m / cutoff;
        F->resp[k] = nu > 0.5 ? 0.0f : (float)(acc * window(filter, nu) / (pitch * m));
    }
    free(h);
    return HG_OK;
}

static void build_preweights(fbp *F)
{
    const hg_ct_geometry *g = &F->cg.g;
    for (int r = 0; r < g->n_rows; r++)
        for (int c = 0; c < g->n_det; c++) {
            double u = ct_det_u(g, c), v = ct_is_3d(g) ? ct_det_v(g, r) : 0.0, w = 1.0;
            if (g->kind == HG_CT_FAN_FLAT || g->kind == HG_CT_CONE_FLAT)
                w = g->sdd / sqrt((double)g->sdd * g->sdd + u * u + v * v);
            else if (g->kind == HG_CT_FAN_ARC)
                w = g->sod * cos(u / g->sdd);
            F->prew[(int64_t)r * g->n_det + c] = (float)w;
        }
}

/* Filters rows of `in` (pre-weighted first when pre) into `out` (weighted after when !pre). */
static void filter_rows(const fbp *F, const float *in, float *out, bool pre)
{
    /* dynamic schedules here and in the backprojection: a thread the OS has descheduled on
     * a busy machine does not hold the others up at the barrier (each row's result does not
     * depend on which thread computes it) */
    const hg_ct_geometry *g = &F->cg.g;
    int64_t rows = (int64_t)g->n_angles * g->n_rows;
    int n = g->n_det, m = F->m;
#pragma omp parallel for schedule(dynamic, 8) num_threads(F->nthreads)
    for (int64_t r = 0; r < rows; r++) {
        int t = omp_get_thread_num();
        float *b = F->buf[t];
        fftwf_complex *s = F->spec[t];
        const float *w = F->prew + (r % g->n_rows) * n;
        for (int c = 0; c < n; c++)
            b[c] = pre ? in[r * n + c] * w[c] : in[r * n + c];
        memset(b + n, 0, sizeof(float) * (size_t)(m - n));
        fftwf_execute_dft_r2c(F->r2c, b, s);
        for (int k = 0; k <= m / 2; k++)
            s[k][0] *= F->resp[k], s[k][1] *= F->resp[k];
        fftwf_execute_dft_c2r(F->c2r, s, b);
        for (int c = 0; c < n; c++)
            out[r * n + c] = pre ? b[c] : b[c] * w[c];
    }
}

/* Detector positions (fractional indices) and weights of the pixels of image row (j, k) in
 * one view, including the angular weight π/N. Float math with per-row affine terms: the
 * forward and the adjoint call this same function, so they stay exact transposes. */
static void map_row(const fbp *F, int view, int j, int k, float *iu, float *iv, float *w)
{
    const hg_ct_geometry *g = &F->cg.g;
    double c = F->cg.cosv[view], s = F->cg.sinv[view];
    double y = (0.5 * (g->ny - 1) - j) * g->dy, z = (k - 0.5 * (g->nz - 1)) * g->dz;
    double x0 = -0.5 * (g->nx - 1) * g->dx;
    /* t = x·e_u and l = sod + x·d are affine in the column index i */
    float t0 = (float)(x0 * c + y * s), dt = (float)(g->dx * c);
    float l0 = (float)(g->sod + (-x0 * s + y * c)), dl = (float)(-g->dx * s);
    float cu = (float)(0.5 * (g->n_det - 1) - g->offset_u / g->du);
    float cv = (float)(0.5 * (g->n_rows - 1) - g->offset_v / g->dv);
    float dw = (float)(CT_PI / g->n_angles), sdd_du = (float)(g->sdd / g->du);
    float sdd_z_dv = (float)(g->sdd * z / g->dv), sod2 = (float)((double)g->sod * g->sod);
    float inv_du = (float)(1.0 / g->du);
    int nx = g->nx;
    switch (g->kind) {
    case HG_CT_PARALLEL:
        for (int i = 0; i < nx; i++)
            iu[i] = (t0 + dt * (float)i) * inv_du + cu, w[i] = dw;
        break;
    case HG_CT_FAN_ARC:
        for (int i = 0; i < nx; i++) {
            float t = t0 + dt * (float)i, l = l0 + dl * (float)i;
            iu[i] = sdd_du * atan2f(t, l) + cu;
            w[i] = dw / (t * t + l * l);
        }
        break;
    case HG_CT_FAN_FLAT:
    case HG_CT_CONE_FLAT:
        for (int i = 0; i < nx; i++) {
            float t = t0 + dt * (float)i, inv = 1.0f / (l0 + dl * (float)i);
            iu[i] = sdd_du * t * inv + cu;
            iv[i] = sdd_z_dv * inv + cv;
            w[i] = dw * sod2 * inv * inv;
        }
        break;
    }
}

typedef struct {
    int i0, k0;
    float f, fk;
} tap;

static inline bool tap_at(float u, float v, int n, int nr, bool three, tap *t)
{
    if (!(u > -1.0f && u < (float)n))
        return false;
    float uf = floorf(u);
    t->i0 = (int)uf, t->f = u - uf;
    t->k0 = 0, t->fk = 0.0f;
    if (three) {
        if (!(v > -1.0f && v < (float)nr))
            return false;
        float vf = floorf(v);
        t->k0 = (int)vf, t->fk = v - vf;
    }
    return true;
}

/* Linear interpolation weights along one detector row at column i0, f (0 outside). */
static inline float row_gather(const float *q, int n, const tap *t)
{
    return (t->i0 >= 0 ? (1.0f - t->f) * q[t->i0] : 0.0f) +
           (t->i0 + 1 < n ? t->f * q[t->i0 + 1] : 0.0f);
}

static inline void row_scatter(float *q, int n, const tap *t, float v)
{
    if (t->i0 >= 0)
        q[t->i0] += (1.0f - t->f) * v;
    if (t->i0 + 1 < n)
        q[t->i0 + 1] += t->f * v;
}

/* Parallel beam: detector index u = a + b·i along image row j in view v (from the tables
 * built by par_tables, so the forward and the adjoint use the same floats). */
static void par_coeffs(const fbp *F, int v, int j, float *a, float *b)
{
    *a = F->pa[(int64_t)j * F->cg.g.n_angles + v];
    *b = F->pb[v];
}

static void par_coeffs_exact(const fbp *F, int v, int j, float *a, float *b)
{
    const hg_ct_geometry *g = &F->cg.g;
    double y = (0.5 * (g->ny - 1) - j) * g->dy, x0 = -0.5 * (g->nx - 1) * g->dx;
    double cu = 0.5 * (g->n_det - 1) - g->offset_u / g->du;
    *a = (float)((x0 * F->cg.cosv[v] + y * F->cg.sinv[v]) / g->du + cu);
    *b = (float)(g->dx * F->cg.cosv[v] / g->du);
}

static void par_tables(fbp *F)
{
    const hg_ct_geometry *g = &F->cg.g;
    for (int v = 0; v < g->n_angles; v++)
        for (int j = 0; j < g->ny; j++)
            par_coeffs_exact(F, v, j, &F->pa[(int64_t)j * g->n_angles + v], &F->pb[v]);
}

/* The transpose of bp_parallel_row for one view: image rows scattered into q row v. */
static void bp_parallel_scatter(const fbp *F, int v, const float *img, float *q)
{
    const hg_ct_geometry *g = &F->cg.g;
    int n = g->n_det;
    float dw = (float)(CT_PI / g->n_angles);
    for (int j = 0; j < g->ny; j++) {
        float a, b;
        par_coeffs(F, v, j, &a, &b);
        const float *in = img + (int64_t)j * g->nx;
        for (int i = 0; i < g->nx; i++) {
            float u = a + b * (float)i, val = dw * in[i];
            if (u >= 0.0f && u < (float)(n - 1)) {
                int i0 = (int)u;
                float f = u - (float)i0;
                q[i0] += val - f * val;
                q[i0 + 1] += f * val;
            } else {
                tap t;
                if (tap_at(u, 0.0f, n, 1, false, &t))
                    row_scatter(q, n, &t, val);
            }
        }
    }
}

/* Parallel beam: u is affine in the column index, so the pixels whose two detector
 * neighbours both exist form one run [il, ih] that needs no bounds tests and vectorizes (the
 * hot loop of 2-D FBP); the row ends take the general path. */
__attribute__((target_clones("avx2", "default")))
static void bp_parallel_row(const fbp *F, int j, float *out)
{
    const hg_ct_geometry *g = &F->cg.g;
    int n = g->n_det, nx = g->nx;
    float dw = (float)(CT_PI / g->n_angles);
    memset(out, 0, sizeof(float) * (size_t)nx);
    for (int v = 0; v < g->n_angles; v++) {
        const float *q = F->q + (int64_t)v * n;
        float a, b;
        par_coeffs(F, v, j, &a, &b);
        int il = 0, ih = nx - 1;
        while (il <= ih && !(a + b * (float)il >= 0.0f && a + b * (float)il < (float)(n - 1)))
            il++;
        while (ih >= il && !(a + b * (float)ih >= 0.0f && a + b * (float)ih < (float)(n - 1)))
            ih--;
        for (int i = 0; i < nx; i++) {
            if (i == il && ih >= il)
                i = ih + 1;
            if (i >= nx)
                break;
            tap t;
            if (tap_at(a + b * (float)i, 0.0f, n, 1, false, &t))
                out[i] += dw * row_gather(q, n, &t);
        }
#pragma omp simd
        for (int i = il; i <= ih; i++) {
            float u = a + b * (float)i;
            int i0 = (int)u;
            float f = u - (float)i0;
            out[i] += dw * (q[i0] + f * (q[i0 + 1] - q[i0]));
        }
    }
}

static hg_status fbp_forward(const hg_linop *op, const float *sino, float *img)
{
    const fbp *F = op->data;
    const hg_ct_geometry *g = &F->cg.g;
    bool three = ct_is_3d(g);
    int n = g->n_det, nr = g->n_rows;
    filter_rows(F, sino, F->q, true);
    if (g->kind == HG_CT_PARALLEL && ct_simd_ok() && F->qd) {
        int nv = g->n_angles;
        float dw = (float)(CT_PI / nv);
#pragma omp parallel for schedule(dynamic, 8) num_threads(F->nthreads)
        for (int v = 0; v < nv; v++) {
            const float *qv = F->q + (int64_t)v * n;
            float *dv = F->qd + (int64_t)v * n;
            for (int c = 0; c + 1 < n; c++)
                dv[c] = qv[c + 1] - qv[c];
            dv[n - 1] = 0.0f;
        }
#pragma omp parallel for schedule(dynamic, 4) num_threads(F->nthreads)
        for (int j = 0; j < g->ny; j++) {
            float *out = img + (int64_t)j * g->nx;
            int *range = (int *)(F->maps + (size_t)omp_get_thread_num() * F->maps_per_thread);
            ct_simd_backproject_row(F->q, F->qd, n, nv, F->pa + (int64_t)j * nv, F->pb, g->nx,
                                    range, out);
            for (int i = 0; i < g->nx; i++)
                out[i] *= dw;
        }
        return HG_OK;
    }
    if (g->kind == HG_CT_PARALLEL) {
#pragma omp parallel for schedule(static) num_threads(F->nthreads)
        for (int j = 0; j < g->ny; j++)
            bp_parallel_row(F, j, img + (int64_t)j * g->nx);
        return HG_OK;
    }
#pragma omp parallel for collapse(2) schedule(static) num_threads(F->nthreads)
    for (int k = 0; k < g->nz; k++)
        for (int j = 0; j < g->ny; j++) {
            float *m = F->maps + (size_t)omp_get_thread_num() * F->maps_per_thread;
            float *iu = m, *iv = m + g->nx, *w = m + 2 * g->nx;
            float *out = img + ((int64_t)k * g->ny + j) * g->nx;
            memset(out, 0, sizeof(float) * (size_t)g->nx);
            for (int v = 0; v < g->n_angles; v++) {
                map_row(F, v, j, k, iu, iv, w);
                const float *qv = F->q + (int64_t)v * nr * n;
                for (int i = 0; i < g->nx; i++) {
                    float u = iu[i], z = three ? iv[i] : 0.0f;
                    if (u >= 0.0f && u < (float)(n - 1) &&
                        (!three || (z >= 0.0f && z < (float)(nr - 1)))) {
                        /* both detector neighbours (rows) inside: no bounds tests */
                        int i0 = (int)u, k0 = (int)z;
                        float f = u - (float)i0, fk = z - (float)k0;
                        const float *q0 = qv + (int64_t)k0 * n + i0;
                        float val = q0[0] + f * (q0[1] - q0[0]);
                        if (three) {
                            float v1 = q0[n] + f * (q0[n + 1] - q0[n]);
                            val += fk * (v1 - val);
                        }
                        out[i] += w[i] * val;
                        continue;
                    }
                    tap t;
                    if (!tap_at(iu[i], iv[i], n, nr, three, &t))
                        continue;
                    float val = t.k0 >= 0 ? (1.0f - t.fk) * row_gather(qv + t.k0 * n, n, &t) : 0.0f;
                    if (three && t.k0 + 1 < nr)
                        val += t.fk * row_gather(qv + (t.k0 + 1) * n, n, &t);
                    out[i] += w[i] * val;
                }
            }
        }
    return HG_OK;
}

static hg_status fbp_adjoint(const hg_linop *op, const float *img, float *sino)
{
    const fbp *F = op->data;
    const hg_ct_geometry *g = &F->cg.g;
    bool three = ct_is_3d(g);
    int n = g->n_det, nr = g->n_rows;
    memset(F->q, 0, sizeof(float) * (size_t)g->n_angles * nr * n);
    if (g->kind == HG_CT_PARALLEL) {
#pragma omp parallel for schedule(static) num_threads(F->nthreads)
        for (int v = 0; v < g->n_angles; v++)
            bp_parallel_scatter(F, v, img, F->q + (int64_t)v * n);
        filter_rows(F, F->q, sino, false);
        return HG_OK;
    }
#pragma omp parallel for schedule(static) num_threads(F->nthreads)
    for (int v = 0; v < g->n_angles; v++) {
        float *m = F->maps + (size_t)omp_get_thread_num() * F->maps_per_thread;
        float *iu = m, *iv = m + g->nx, *w = m + 2 * g->nx;
        float *qv = F->q + (int64_t)v * nr * n;
        for (int k = 0; k < g->nz; k++)
            for (int j = 0; j < g->ny; j++) {
                map_row(F, v, j, k, iu, iv, w);
                const float *in = img + ((int64_t)k * g->ny + j) * g->nx;
                for (int i = 0; i < g->nx; i++) {
                    tap t;
                    if (in[i] == 0.0f || !tap_at(iu[i], iv[i], n, nr, three, &t))
                        continue;
                    float val = w[i] * in[i];
                    if (t.k0 >= 0)
                        row_scatter(qv + t.k0 * n, n, &t, (1.0f - t.fk) * val);
                    if (three && t.k0 + 1 < nr)
                        row_scatter(qv + (t.k0 + 1) * n, n, &t, t.fk * val);
                }
            }
    }
    filter_rows(F, F->q, sino, false);
    return HG_OK;
}

static void fbp_destroy(hg_linop *op)
{
    fbp *F = op->data;
    if (!F)
        return;
    for (int t = 0; t < F->nthreads; t++) {
        if (F->buf)
            fftwf_free(F->buf[t]);
        if (F->spec)
            fftwf_free(F->spec[t]);
    }
#pragma omp critical(hg_fftw_planner)
    {
        if (F->r2c)
            fftwf_destroy_plan(F->r2c);
        if (F->c2r)
            fftwf_destroy_plan(F->c2r);
    }
    free(F->buf), free(F->spec);
    hg_free(F->resp), hg_free(F->prew), hg_free(F->q), hg_free(F->maps);
    hg_free(F->pa), hg_free(F->pb), hg_free(F->qd);
    ct_geom_release(&F->cg);
    free(F);
}

static hg_status fbp_alloc(fbp *F)
{
    const hg_ct_geometry *g = &F->cg.g;
    int m = F->m, T = F->nthreads;
    F->resp = hg_malloc(sizeof(float) * (size_t)(m / 2 + 1));
    F->prew = hg_malloc(sizeof(float) * (size_t)g->n_rows * g->n_det);
    /* 32 floats of slack: the AVX-512 backprojection loads 16-float windows past a row */
    F->q = hg_malloc(sizeof(float) * ((size_t)g->n_angles * g->n_rows * g->n_det + 32));
    if (F->q)
        memset(F->q + (size_t)g->n_angles * g->n_rows * g->n_det, 0, 32 * sizeof(float));
    if (g->kind == HG_CT_PARALLEL) {
        F->pa = hg_malloc(sizeof(float) * (size_t)g->n_angles * g->ny);
        F->pb = hg_malloc(sizeof(float) * (size_t)g->n_angles);
        F->qd = hg_calloc((size_t)g->n_angles * g->n_det + 32, sizeof(float)); /* slack: q's */
        if (!F->pa || !F->pb || !F->qd)
            return HG_ERR_NOMEM;
    }
    F->maps_per_thread = 3 * (int64_t)g->nx > 2 * (int64_t)g->n_angles ? 3 * (int64_t)g->nx
                                                                          : 2 * (int64_t)g->n_angles;
    F->maps = hg_malloc(sizeof(float) * (size_t)(T * F->maps_per_thread));
    F->buf = calloc((size_t)T, sizeof *F->buf);
    F->spec = calloc((size_t)T, sizeof *F->spec);
    if (!F->resp || !F->prew || !F->q || !F->maps || !F->buf || !F->spec)
        return HG_ERR_NOMEM;
    for (int t = 0; t < T; t++) {
        F->buf[t] = fftwf_malloc(sizeof(float) * (size_t)m);
        F->spec[t] = fftwf_malloc(sizeof(fftwf_complex) * (size_t)(m / 2 + 1));
        if (!F->buf[t] || !F->spec[t])
            return HG_ERR_NOMEM;
    }
    /* Plans are made once. FFTW's planner is not thread-safe (executing a plan on new arrays
     * is): every planner call in hinge goes through the critical section hg_fftw_planner. */
#pragma omp critical(hg_fftw_planner)
    {
        F->r2c = fftwf_plan_dft_r2c_1d(m, F->buf[0], F->spec[0], FFTW_ESTIMATE);
        F->c2r = fftwf_plan_dft_c2r_1d(m, F->spec[0], F->buf[0], FFTW_ESTIMATE);
    }
    return F->r2c && F->c2r ? HG_OK : HG_ERR_NOMEM;
}

hg_linop *hg_ct_fbp(const hg_ct_geometry *g, hg_ct_filter filter, float cutoff)
{
    if ((unsigned)filter > HG_CT_HANN) {
        hg_error(HG_ERR_INVALID, "ct fbp: unknown filter %d (ramp, shepp-logan, cosine, "
                 "hamming, hann)", (int)filter);
        return NULL;
    }
    if (!(cutoff > 0.0f && cutoff <= 1.0f)) {
        hg_error(HG_ERR_INVALID, "ct fbp: frequency cutoff must be in (0, 1], got %g",
                 (double)cutoff);
        return NULL;
    }
    fbp *F = calloc(1, sizeof *F);
    if (!F) {
        hg_error(HG_ERR_NOMEM, "ct fbp: out of memory");
        return NULL;
    }
    if (ct_geom_init(&F->cg, g) != HG_OK) {
        free(F);
        return NULL;
    }
    int64_t sino_shape[3], img_shape[3];
    int snd = hg_ct_sino_shape(g, sino_shape), ind = hg_ct_image_shape(g, img_shape);
    static const char *names[] = {"ct_fbp_parallel", "ct_fbp_fan_flat", "ct_fbp_fan_arc",
                                  "ct_fdk"};
    hg_linop *op = hg_linop_new(names[g->kind], HG_F32, snd, sino_shape, HG_F32, ind, img_shape);
    if (!op) {
        ct_geom_release(&F->cg);
        free(F);
        return NULL;
    }
    op->data = F;
    op->destroy = fbp_destroy;
    op->forward = fbp_forward;
    op->adjoint = fbp_adjoint;
    /* zero padding to at least twice the detector: the circular convolution never wraps */
    F->m = 64;
    while (F->m < 2 * g->n_det)
        F->m *= 2;
    F->nthreads = omp_get_max_threads();
    if (fbp_alloc(F) != HG_OK || build_response(F, filter, cutoff) != HG_OK) {
        hg_linop_free(op);
        hg_error(HG_ERR_NOMEM, "ct fbp: out of memory for %d-sample filter buffers", F->m);
        return NULL;
    }
    build_preweights(F);
    if (g->kind == HG_CT_PARALLEL)
        par_tables(F);
    return op;
}
