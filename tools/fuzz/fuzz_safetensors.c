/* libFuzzer harness for the safetensors reader (checkpoints, model files, fixtures).
 * tools/fuzz/build.sh && build-fuzz/fuzz_safetensors build-fuzz/corpus_safetensors */
#include "fuzz_files.h"
#include "hinge/hinge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tmp_path(".safetensors");
    if (fuzz_write(path, data, size) != 0)
        return 0;
    hg_params p;
    hg_params_init(&p);
    hg_metadata m;
    hg_metadata_init(&m);
    hg_safetensors_load(path, &p, &m);
    hg_params_free(&p);
    hg_metadata_free(&m);
    /* Also the model loader, which reads the metadata as an architecture config. */
    hg_model *model = hg_model_load(path, NULL);
    hg_model_free(model);
    unlink(path);
    return 0;
}
