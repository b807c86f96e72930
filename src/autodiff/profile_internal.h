/* The tape's side of the op profile (src/autodiff/profile.c). */
#ifndef HINGE_AUTODIFF_PROFILE_INTERNAL_H
#define HINGE_AUTODIFF_PROFILE_INTERNAL_H

#include "core/internal.h"

/* Charges the time since the previous forward event to op (output out, may be NULL). */
void hg__profile_forward(hg_profile *p, const char *op, const hg_tensor *out);
/* Brackets one node's backward: the time between the two calls goes to the node's op. */
void hg__profile_backward_begin(hg_profile *p);
void hg__profile_backward(hg_profile *p, const hg_node *n);

#endif
