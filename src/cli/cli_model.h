/* Model file arguments of the inference commands (segment, classify). */
#ifndef HINGE_CLI_MODEL_H
#define HINGE_CLI_MODEL_H

#include <stddef.h>

/* A --model argument: an existing path (or one naming a folder or .safetensors) as given,
 * else HINGE_SOURCE_DIR/models/<arg>.safetensors. */
void hg_cli_model_path(const char *arg, char *path, size_t size);

#endif
