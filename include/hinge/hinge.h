/* hinge: physics-aware deep learning for medical imaging. The umbrella header. */
#ifndef HINGE_H
#define HINGE_H

#include "hinge/core.h"
#include "hinge/autodiff.h"
#include "hinge/ops.h"
#include "hinge/io.h"
#include "hinge/linop.h"
#include "hinge/solvers.h"
#include "hinge/image.h"
#include "hinge/metrics.h"
#include "hinge/optim.h"
#include "hinge/ct.h"
#include "hinge/ct_sidecar.h"
#include "hinge/mri.h"
#include "hinge/dicom.h"
#include "hinge/onnx.h"
#include "hinge/seg_metrics.h"
#include "hinge/seg_data.h"
#include "hinge/segment.h"
#include "hinge/seg_plan.h"
#include "hinge/sites.h"
#include "hinge/learned.h"
#include "hinge/mri_learned.h"
#include "hinge/lesion.h"
#include "hinge/dist.h"
#include "hinge/fastmri.h"
#include "hinge/cfl.h"
#include "hinge/nn.h"
#include "hinge/data.h"
#include "hinge/train.h"

#endif
