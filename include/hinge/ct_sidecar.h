/* A CT acquisition geometry as JSON: the sidecar that travels with a sinogram (BIDS style,
 * next to sino.nii.gz as sino.json), so `hinge recon` needs no geometry flags.
 *
 * Keys: "CTGeometry": "parallel" | "fan-flat" | "fan-arc" | "cone"; "ImageSize": [nx, ny(, nz)];
 * "PixelSpacing": [dx, dy(, dz)]; "ViewAngles": [radians...]; "DetectorCount": [n_det(, rows)];
 * "DetectorSpacing": [du(, dv)]; "DetectorOffset": [u(, v)]; "SourceToIsocenter": sod;
 * "SourceToDetector": sdd. Unknown keys are left alone (the sidecar may carry more). */
#ifndef HINGE_CT_SIDECAR_H
#define HINGE_CT_SIDECAR_H

#include "hinge/ct.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

/* Adds the geometry's keys to the JSON object obj (replacing existing ones). */
hg_status hg_ct_geometry_to_json(const hg_ct_geometry *g, struct cJSON *obj);
/* Reads and validates a geometry; *angles receives a malloc'd array that g->angles points to
 * (free it after the geometry's last use). The message names a missing or malformed key. */
hg_status hg_ct_geometry_from_json(const struct cJSON *obj, hg_ct_geometry *g, float **angles);
const char *hg_ct_kind_name(hg_ct_kind kind); /* "parallel", "fan-flat", ... */
hg_status hg_ct_kind_parse(const char *name, hg_ct_kind *kind);
hg_status hg_ct_filter_parse(const char *name, hg_ct_filter *filter);

#ifdef __cplusplus
}
#endif
#endif
