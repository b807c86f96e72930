/* Series assembly: the DICOM files of a file or directory grouped by SeriesInstanceUID, the
 * slices sorted along the slice normal, the geometry turned into a NIfTI RAS affine (the
 * conventions are documented in include/hinge/dicom.h). */
#include "dicom_internal.h"

#include <cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 100000
#define MAX_DEPTH 8

typedef struct rec {
    char *path;
    char series[65], study[65], modality[17], desc[65], ts[65], manufacturer[65], photo[17];
    char sop[65], sop_class[65], frame_of_ref[65];
    int64_t rows, cols, frames, samples, instance;
    double iop[6], ipp[3], ps[2], thickness, between, pos;
    bool has_iop, has_ipp, has_ps, has_ipp_top;
} rec;

typedef struct rec_list {
    rec *r;
    int n, cap;
} rec_list;

static void recs_free(rec_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->r[i].path);
    free(l->r);
    memset(l, 0, sizeof *l);
}

#define T(g, e) DCM_TAG(0x##g, 0x##e)
#define TAG_IPP DCM_TAG(0x0020, 0x0032)

/* The header fields of one file; false (error set) when it is not a usable image. */
static bool describe_file(const char *path, rec *r)
{
    hg_dicom_file *f = hg_dicom_file_open(path);
    if (!f)
        return false;
    memset(r, 0, sizeof *r);
    bool ok = f->has_pixels;
    if (!ok)
        hg_error(HG_ERR_FORMAT, "%s: no pixel data (7FE0,0010)", path);
    ok = ok && hg_dicom_file_int(f, T(0028, 0010), &r->rows) &&
         hg_dicom_file_int(f, T(0028, 0011), &r->cols);
    if (f->has_pixels && !ok)
        hg_error(HG_ERR_FORMAT, "%s: pixel data without Rows or Columns", path);
    hg_dicom_file_string(f, T(0020, 000E), r->series, sizeof r->series);
    hg_dicom_file_string(f, T(0020, 000D), r->study, sizeof r->study);
    hg_dicom_file_string(f, T(0008, 0060), r->modality, sizeof r->modality);
    hg_dicom_file_string(f, T(0008, 103E), r->desc, sizeof r->desc);
    hg_dicom_file_string(f, T(0008, 0070), r->manufacturer, sizeof r->manufacturer);
    hg_dicom_file_string(f, T(0028, 0004), r->photo, sizeof r->photo);
    hg_dicom_file_string(f, T(0008, 0018), r->sop, sizeof r->sop);
    hg_dicom_file_string(f, T(0008, 0016), r->sop_class, sizeof r->sop_class);
    hg_dicom_file_string(f, T(0020, 0052), r->frame_of_ref, sizeof r->frame_of_ref);
    snprintf(r->ts, sizeof r->ts, "%s", f->ts_uid);
    r->samples = 1;
    hg_dicom_file_int(f, T(0028, 0002), &r->samples);
    char s[32];
    r->frames = 1;
    if (hg_dicom_file_string(f, T(0028, 0008), s, sizeof s) && s[0]) {
        char *end;
        r->frames = strtoll(s, &end, 10);
        if (end == s || *end || r->frames < 1 || r->frames > (1 << 24)) {
            hg_error(HG_ERR_FORMAT, "%s: NumberOfFrames '%s' is not in 1..%d", path, s, 1 << 24);
            ok = false;
        }
    }
    hg_dicom_file_int(f, T(0020, 0013), &r->instance);
    /* Top level, else the functional groups of an enhanced multi-frame file. */
    r->has_iop = dcm_elem_numbers(f, dcm_find_any(f, T(0020, 0037)), r->iop, 6) == 6;
    r->has_ipp_top = hg_dicom_file_numbers(f, T(0020, 0032), r->ipp, 3) == 3;
    r->has_ipp = r->has_ipp_top || dcm_elem_numbers(f, dcm_find_any(f, TAG_IPP), r->ipp, 3) == 3;
    r->has_ps = dcm_elem_numbers(f, dcm_find_any(f, T(0028, 0030)), r->ps, 2) == 2;
    if (hg_dicom_file_numbers(f, T(0018, 0050), &r->thickness, 1) != 1)
        r->thickness = 0;
    if (hg_dicom_file_numbers(f, T(0018, 0088), &r->between, 1) != 1)
        r->between = 0;
    hg_dicom_file_close(f);
    if (!ok)
        return false;
    r->path = strdup(path);
    if (!r->path) {
        hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
        return false;
    }
    return true;
}

static hg_status add_rec(rec_list *l, const rec *r)
{
    if (l->n == MAX_FILES)
        return hg_error(HG_ERR_UNSUPPORTED, "more than %d DICOM files", MAX_FILES);
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        rec *p = realloc(l->r, (size_t)cap * sizeof *p);
        if (!p)
            return hg_error(HG_ERR_NOMEM, "out of memory listing DICOM files");
        l->r = p, l->cap = cap;
    }
    l->r[l->n++] = *r;
    return HG_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every readable DICOM image below dir (sorted names: deterministic order). */
static hg_status scan_dir(const char *dir, int depth, rec_list *l)
{
    if (depth > MAX_DEPTH)
        return HG_OK;
    DIR *d = opendir(dir);
    if (!d)
        return hg_error(HG_ERR_IO, "%s: cannot open directory", dir);
    char **names = NULL;
    int n = 0, cap = 0;
    hg_status s = HG_OK;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, (size_t)cap * sizeof *p);
            if (!p) {
                s = hg_error(HG_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name))) {
            s = hg_error(HG_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (!s && n > 1)
        qsort(names, (size_t)n, sizeof *names, cmp_name);
    for (int i = 0; i < n && !s; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *p = malloc(len);
        if (!p) {
            s = hg_error(HG_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        snprintf(p, len, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                s = scan_dir(p, depth + 1, l);
            } else if (S_ISREG(st.st_mode)) {
                rec r;
                if (describe_file(p, &r))
                    s = add_rec(l, &r);
                else
                    hg_error_clear(); /* not DICOM or no image: skipped */
            }
        }
        free(p);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return s;
}

static hg_status collect(const char *path, rec_list *l)
{
    memset(l, 0, sizeof *l);
    struct stat st;
    if (stat(path, &st) != 0)
        return hg_error(HG_ERR_IO, "%s: no such file or directory", path);
    hg_status s;
    if (S_ISDIR(st.st_mode)) {
        s = scan_dir(path, 0, l);
        if (!s && l->n == 0)
            s = hg_error(HG_ERR_FORMAT, "%s: no DICOM images in the directory", path);
    } else {
        rec r;
        s = describe_file(path, &r) ? add_rec(l, &r) : hg_error_status();
    }
    if (s)
        recs_free(l);
    return s;
}

static void cross(const double *a, const double *b, double *c)
{
    c[0] = a[1] * b[2] - a[2] * b[1];
    c[1] = a[2] * b[0] - a[0] * b[2];
    c[2] = a[0] * b[1] - a[1] * b[0];
}

static int cmp_pos(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return x->instance < y->instance ? -1 : x->instance > y->instance;
}

/* The files of one series (moved out of all into *out, sorted) and its geometry. */
typedef struct series_geom {
    double aff[4][4]; /* RAS */
    double spacing[3];
    int64_t nz;
    bool irregular;
    double *positions; /* nz slice positions along the normal (malloc) */
    int64_t *order;    /* multi-frame file with per-frame positions: slice k is frame
                          order[k] (malloc); NULL: frames are already in slice order */
} series_geom;

typedef struct frame_pos {
    double pos;
    int64_t idx;
} frame_pos;

static int cmp_frame(const void *a, const void *b)
{
    const frame_pos *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Enhanced multi-frame files: one ImagePositionPatient per frame in the per-frame functional
 * groups. Sorts the frames along the normal; false when the file has no such positions. */
static hg_status per_frame_positions(const char *path, hg_dicom_file *f, const double *nrm,
                                     series_geom *g, double origin[3], double step[3],
                                     bool *found)
{
    int64_t nz = g->nz, k = 0;
    *found = false;
    double(*ipp)[3] = malloc((size_t)nz * sizeof *ipp);
    frame_pos *fp = malloc((size_t)nz * sizeof *fp);
    g->order = malloc((size_t)nz * sizeof *g->order);
    hg_status s = HG_OK;
    if (!ipp || !fp || !g->order) {
        s = hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int32_t i = 0; i < f->nel && k < nz; i++)
        if (f->el[i].depth > 0 && f->el[i].tag == TAG_IPP)
            k += dcm_elem_numbers(f, &f->el[i], ipp[k], 3) == 3;
    if (k != nz)
        goto done;
    for (k = 0; k < nz; k++)
        fp[k].pos = nrm[0] * ipp[k][0] + nrm[1] * ipp[k][1] + nrm[2] * ipp[k][2], fp[k].idx = k;
    qsort(fp, (size_t)nz, sizeof *fp, cmp_frame);
    for (k = 0; k < nz; k++) {
        if (k && fp[k].pos - fp[k - 1].pos < 1e-4) {
            s = hg_error(HG_ERR_UNSUPPORTED, "%s: frames %lld and %lld lie at the same position "
                         "%g (several stacks/phases in one file?)", path,
                         (long long)fp[k - 1].idx + 1, (long long)fp[k].idx + 1, fp[k].pos);
            goto done;
        }
        g->order[k] = fp[k].idx, g->positions[k] = fp[k].pos;
    }
    for (int r = 0; r < 3; r++) {
        origin[r] = ipp[fp[0].idx][r];
        step[r] = (ipp[fp[nz - 1].idx][r] - origin[r]) / (double)(nz - 1);
    }
    *found = true;
done:
    if (!*found) {
        free(g->order);
        g->order = NULL;
    }
    free(ipp);
    free(fp);
    return s;
}

static hg_status pick_series(rec_list *all, const char *uid, const char *path, rec_list *out)
{
    memset(out, 0, sizeof *out);
    const char *want = uid;
    if (!want) {
        want = all->r[0].series;
        for (int i = 1; i < all->n; i++)
            if (strcmp(all->r[i].series, want)) {
                char list[512] = "";
                size_t k = 0;
                for (int j = 0; j < all->n && k + 80 < sizeof list; j++) {
                    bool seen = false;
                    for (int m = 0; m < j && !seen; m++)
                        seen = !strcmp(all->r[m].series, all->r[j].series);
                    if (!seen)
                        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", k ? ", " : "",
                                              all->r[j].series);
                }
                return hg_error(HG_ERR_INVALID, "%s holds several series, choose one: %s", path,
                                list);
            }
    }
    for (int i = 0; i < all->n; i++)
        if (!strcmp(all->r[i].series, want)) {
            hg_status s = add_rec(out, &all->r[i]);
            if (s)
                return s;
            all->r[i].path = NULL; /* moved */
        }
    if (out->n == 0)
        return hg_error(HG_ERR_INVALID, "%s: no series with SeriesInstanceUID %s", path, want);
    return HG_OK;
}

static hg_status geometry(const char *path, rec_list *l, series_geom *g)
{
    rec *r0 = &l->r[0];
    for (int i = 1; i < l->n; i++)
        if (l->r[i].rows != r0->rows || l->r[i].cols != r0->cols ||
            l->r[i].samples != r0->samples)
            return hg_error(HG_ERR_FORMAT, "%s: slice %s is %lldx%lld, slice %s is %lldx%lld",
                            path, l->r[i].path, (long long)l->r[i].cols, (long long)l->r[i].rows,
                            r0->path, (long long)r0->cols, (long long)r0->rows);
    if (l->n > 1)
        for (int i = 0; i < l->n; i++)
            if (l->r[i].frames != 1)
                return hg_error(HG_ERR_UNSUPPORTED, "%s: series of multi-frame files (%s has "
                                "%lld frames)", path, l->r[i].path, (long long)l->r[i].frames);
    double row[3] = {1, 0, 0}, col[3] = {0, 1, 0}, nrm[3];
    if (r0->has_iop)
        memcpy(row, r0->iop, sizeof row), memcpy(col, r0->iop + 3, sizeof col);
    cross(row, col, nrm);
    double nn = sqrt(nrm[0] * nrm[0] + nrm[1] * nrm[1] + nrm[2] * nrm[2]);
    if (!(nn > 0.5))
        return hg_error(HG_ERR_FORMAT, "%s: ImageOrientationPatient of %s is degenerate", path,
                        r0->path);
    for (int i = 0; i < l->n; i++) {
        if (l->n > 1 && !l->r[i].has_ipp)
            return hg_error(HG_ERR_FORMAT, "%s: %s has no ImagePositionPatient", path,
                            l->r[i].path);
        for (int k = 0; k < 6 && l->n > 1; k++)
            if (fabs(l->r[i].iop[k] - r0->iop[k]) > 1e-4)
                return hg_error(HG_ERR_UNSUPPORTED, "%s: slices with different orientations "
                                "(%s and %s)", path, r0->path, l->r[i].path);
        l->r[i].pos = nrm[0] * l->r[i].ipp[0] + nrm[1] * l->r[i].ipp[1] + nrm[2] * l->r[i].ipp[2];
    }
    qsort(l->r, (size_t)l->n, sizeof *l->r, cmp_pos);
    r0 = &l->r[0];
    int64_t nz = l->n > 1 ? l->n : r0->frames;
    g->nz = nz;
    g->positions = malloc((size_t)nz * sizeof *g->positions);
    if (!g->positions)
        return hg_error(HG_ERR_NOMEM, "%s: out of memory", path);
    double step[3] = {nrm[0], nrm[1], nrm[2]};
    double origin[3] = {0, 0, 0};
    if (r0->has_ipp)
        memcpy(origin, r0->ipp, sizeof origin);
    if (l->n > 1) {
        for (int i = 0; i < l->n; i++)
            g->positions[i] = l->r[i].pos;
        for (int i = 1; i < l->n; i++)
            if (l->r[i].pos - l->r[i - 1].pos < 1e-4)
                return hg_error(HG_ERR_UNSUPPORTED, "%s: %s and %s lie at the same slice position "
                                "%g (several echoes/phases in one series?)", path,
                                l->r[i - 1].path, l->r[i].path, l->r[i].pos);
        const rec *rl = &l->r[l->n - 1];
        for (int k = 0; k < 3; k++)
            step[k] = (rl->ipp[k] - r0->ipp[k]) / (double)(l->n - 1);
    } else {
        /* One multi-frame file: RT dose's GridFrameOffsetVector, per-frame positions
         * (enhanced CT/MR), else a uniform spacing. */
        hg_dicom_file *f = hg_dicom_file_open(r0->path);
        if (!f)
            return hg_error_status();
        int got = nz <= 65536 ? hg_dicom_file_numbers(f, T(3004, 000C), g->positions, (int)nz) : 0;
        bool found = false;
        hg_status ps = got != nz && nz > 1 && !r0->has_ipp_top
                           ? per_frame_positions(path, f, nrm, g, origin, step, &found)
                           : HG_OK;
        hg_dicom_file_close(f);
        if (ps)
            return ps;
        double dz = r0->between > 0 ? r0->between : r0->thickness > 0 ? r0->thickness : 1.0;
        if (!found) {
            if (got != nz)
                for (int64_t k = 0; k < nz; k++)
                    g->positions[k] = (double)k * dz;
            else if (nz > 1)
                dz = (g->positions[nz - 1] - g->positions[0]) / (double)(nz - 1);
            for (int k = 0; k < 3; k++)
                step[k] = nrm[k] * dz;
            for (int64_t k = 0; k < nz; k++)
                g->positions[k] += r0->pos;
        }
    }
    double dz = sqrt(step[0] * step[0] + step[1] * step[1] + step[2] * step[2]);
    if (nz == 1)
        dz = r0->between > 0 ? r0->between : r0->thickness > 0 ? r0->thickness : 1.0,
        step[0] = nrm[0] * dz, step[1] = nrm[1] * dz, step[2] = nrm[2] * dz;
    g->irregular = false;
    for (int64_t k = 1; k < nz; k++) {
        double d = fabs(g->positions[k] - g->positions[k - 1]);
        if (fabs(d - dz) > fmax(0.01, 0.01 * dz))
            g->irregular = true;
    }
    double dx = r0->has_ps ? r0->ps[1] : 1.0, dy = r0->has_ps ? r0->ps[0] : 1.0;
    g->spacing[0] = dx, g->spacing[1] = dy, g->spacing[2] = dz > 0 ? dz : 1.0;
    double lps[4][4] = {{0}};
    for (int k = 0; k < 3; k++) {
        lps[k][0] = row[k] * dx;
        lps[k][1] = col[k] * dy;
        lps[k][2] = step[k];
        lps[k][3] = origin[k];
    }
    lps[3][3] = 1;
    /* LPS -> RAS: negate x and y. */
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            g->aff[r][c] = (r < 2 ? -lps[r][c] : lps[r][c]) + 0.0; /* no -0 */
    return HG_OK;
}

static void fill_info(const rec_list *l, const series_geom *g, hg_dicom_series_info *o)
{
    const rec *r = &l->r[0];
    memset(o, 0, sizeof *o);
    snprintf(o->series_uid, sizeof o->series_uid, "%s", r->series);
    snprintf(o->study_uid, sizeof o->study_uid, "%s", r->study);
    snprintf(o->modality, sizeof o->modality, "%s", r->modality);
    snprintf(o->description, sizeof o->description, "%s", r->desc);
    snprintf(o->transfer_syntax, sizeof o->transfer_syntax, "%s", r->ts);
    o->rows = r->rows, o->cols = r->cols, o->slices = g->nz, o->nfiles = l->n;
    memcpy(o->spacing, g->spacing, sizeof o->spacing);
    o->irregular = g->irregular;
    hg_image tmp;
    hg_image_init(&tmp);
    memcpy(tmp.sform, g->aff, sizeof tmp.sform);
    tmp.sform_code = HG_XFORM_SCANNER;
    hg_image_orientation(&tmp, o->orientation);
}

hg_status hg_dicom_list(const char *path, hg_dicom_series_info **out, int *n)
{
    *out = NULL, *n = 0;
    rec_list all;
    hg_status s = collect(path, &all);
    if (s)
        return s;
    hg_dicom_series_info *info = NULL;
    int count = 0;
    while (all.n > 0 && !s) {
        rec_list one;
        series_geom g = {0};
        s = pick_series(&all, all.r[0].series, path, &one);
        if (!s) {
            /* drop the moved entries */
            int k = 0;
            for (int i = 0; i < all.n; i++)
                if (all.r[i].path)
                    all.r[k++] = all.r[i];
            all.n = k;
            hg_dicom_series_info *p = realloc(info, (size_t)(count + 1) * sizeof *p);
            if (!p) {
                s = hg_error(HG_ERR_NOMEM, "out of memory");
            } else {
                info = p;
                hg_status gs = geometry(path, &one, &g);
                if (gs) { /* listed anyway, without geometry */
                    hg_error_clear();
                    memset(&g, 0, sizeof g);
                    g.nz = one.n;
                    g.spacing[0] = g.spacing[1] = g.spacing[2] = 0;
                }
                fill_info(&one, &g, &info[count]);
                if (gs)
                    snprintf(info[count].orientation, 4, "???");
                count++;
            }
        }
        free(g.positions);
        free(g.order);
        recs_free(&one);
    }
    recs_free(&all);
    if (s) {
        free(info);
        return s;
    }
    *out = info, *n = count;
    return HG_OK;
}

static hg_status make_sidecar(hg_image *img, const rec_list *l, const series_geom *g,
                              const hg_dicom_pixels *px)
{
    const rec *r = &l->r[0];
    hg_status s = HG_OK;
    const char *keys[][2] = {{"Modality", r->modality},
                             {"SeriesInstanceUID", r->series},
                             {"StudyInstanceUID", r->study},
                             {"SeriesDescription", r->desc},
                             {"Manufacturer", r->manufacturer},
                             {"TransferSyntaxUID", r->ts},
                             {"SOPClassUID", r->sop_class},
                             {"FrameOfReferenceUID", r->frame_of_ref},
                             {"PhotometricInterpretation", px->photometric}};
    for (size_t i = 0; i < sizeof keys / sizeof *keys && !s; i++)
        if (keys[i][1][0])
            s = hg_image_meta_set_string(img, keys[i][0], keys[i][1]);
    if (!s)
        s = hg_image_meta_set_number(img, "RescaleSlope", px->slope);
    if (!s)
        s = hg_image_meta_set_number(img, "RescaleIntercept", px->intercept);
    if (!s)
        s = hg_image_meta_set_number(img, "BitsStored", px->bits_stored);
    if (!s && r->thickness > 0)
        s = hg_image_meta_set_number(img, "SliceThickness", r->thickness);
    if (!s && r->has_iop)
        s = hg_image_meta_set_numbers(img, "ImageOrientationPatient", r->iop, 6);
    if (!s && r->has_ipp)
        s = hg_image_meta_set_numbers(img, "ImagePositionPatient", r->ipp, 3);
    if (!s) { /* per slice, in slice order: what a derived object (SEG) must reference */
        cJSON *a = cJSON_AddArrayToObject(img->sidecar, "SOPInstanceUIDs");
        for (int i = 0; a && i < l->n; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(l->r[i].sop));
        if (!a)
            s = hg_error(HG_ERR_NOMEM, "out of memory for the sidecar");
    }
    if (!s && g->irregular) {
        cJSON_AddBoolToObject(img->sidecar, "SliceSpacingIrregular", 1);
        if (g->nz <= 4096)
            s = hg_image_meta_set_numbers(img, "SlicePositions", g->positions, (int)g->nz);
    }
    return s;
}

/* Stored value i of decoded pixels, as a double. */
static double stored(const hg_dicom_pixels *p, size_t i)
{
    const uint8_t *b = (const uint8_t *)p->data + i * (size_t)p->bytes;
    if (p->bytes == 1)
        return p->is_signed ? (double)(int8_t)b[0] : (double)b[0];
    if (p->bytes == 2) {
        uint16_t u;
        memcpy(&u, b, 2);
        return p->is_signed ? (double)(int16_t)u : (double)u;
    }
    uint32_t u;
    memcpy(&u, b, 4);
    return p->is_signed ? (double)(int32_t)u : (double)u;
}

static int32_t nifti_type(const hg_dicom_pixels *p)
{
    if (p->bytes == 1)
        return p->is_signed ? HG_DT_INT8 : HG_DT_UINT8;
    if (p->bytes == 2)
        return p->is_signed ? HG_DT_INT16 : HG_DT_UINT16;
    return p->is_signed ? HG_DT_INT32 : HG_DT_UINT32;
}

hg_status hg_dicom_read(const char *path, const char *series_uid, hg_image *img)
{
    rec_list all, l = {0};
    series_geom g = {0};
    hg_tensor *t = NULL;
    hg_dicom_pixels px = {0};
    hg_image out;
    hg_image_init(&out);
    hg_status s = collect(path, &all);
    if (s)
        return s;
    if ((s = pick_series(&all, series_uid, path, &l)) || (s = geometry(path, &l, &g)))
        goto done;
    if (l.r[0].samples != 1) {
        s = hg_error(HG_ERR_UNSUPPORTED, "%s: colour images (SamplesPerPixel %lld, %s) are not "
                     "read as volumes; decode them with hg_dicom_file_pixels", path,
                     (long long)l.r[0].samples, l.r[0].photo);
        goto done;
    }
    /* The tensor is allocated only after the first file's pixel data has been decoded and
     * checked against Rows x Columns (a header alone never sizes an allocation). */
    int64_t shape[3] = {g.nz, l.r[0].rows, l.r[0].cols};
    size_t plane = (size_t)(shape[1] * shape[2]);
    double slope0 = 1, inter0 = 0;
    for (int i = 0; i < l.n && !s; i++) {
        hg_dicom_file *f = hg_dicom_file_open(l.r[i].path);
        if (!f) {
            s = hg_error_status();
            break;
        }
        hg_dicom_pixels_free(&px);
        s = hg_dicom_file_pixels(f, &px);
        hg_dicom_file_close(f);
        if (s)
            break;
        if (px.rows != shape[1] || px.cols != shape[2] || px.samples != 1 ||
            (l.n > 1 && px.frames != 1) || (l.n == 1 && px.frames != g.nz)) {
            s = hg_error(HG_ERR_FORMAT, "%s: pixel data of %s does not match its header", path,
                         l.r[i].path);
            break;
        }
        if (i == 0) {
            slope0 = px.slope, inter0 = px.intercept;
            if (!(t = hg_tensor_new(NULL, HG_F32, 3, shape))) {
                s = hg_error_status();
                break;
            }
        }
        for (int64_t fr = 0; fr < px.frames; fr++) {
            /* slice i (one file per slice) or slice fr of a multi-frame file */
            int64_t slot = l.n > 1 ? i : fr, src = g.order ? g.order[fr] : fr;
            float *dst = t->data + (size_t)slot * plane;
            size_t base = (size_t)src * plane;
            for (size_t k = 0; k < plane; k++)
                dst[k] = (float)(px.slope * stored(&px, base + k) + px.intercept);
        }
        if (i == 0) {
            out.datatype = nifti_type(&px);
            s = make_sidecar(&out, &l, &g, &px);
        }
    }
    if (s)
        goto done;
    out.data = t, t = NULL;
    memcpy(out.spacing, g.spacing, sizeof g.spacing);
    memcpy(out.qform, g.aff, sizeof g.aff);
    memcpy(out.sform, g.aff, sizeof g.aff);
    out.qform_code = out.sform_code = HG_XFORM_SCANNER;
    snprintf(out.format, sizeof out.format, "dicom");
    snprintf(out.descrip, sizeof out.descrip, "%s", l.r[0].desc);
    out.scl_slope = slope0, out.scl_inter = inter0;
    hg_image_free(img);
    *img = out;
    hg_image_init(&out);
done:
    hg_dicom_pixels_free(&px);
    hg_tensor_free(t);
    hg_image_free(&out);
    free(g.positions);
    free(g.order);
    recs_free(&l);
    recs_free(&all);
    return s;
}
