/* Scratch marks of a context (core/internal.h): memory allocated after a mark is handed back
 * by release, across chunk boundaries, and what was allocated before it is untouched. */
#include "core/internal.h"
#include "test_util.h"

#include <string.h>

int main(void)
{
    hg_ctx *ctx = hg_ctx_new();
    REQUIRE(ctx != NULL);
    /* A mark on an empty context: release rewinds to nothing. */
    hg_ctx_mark m0 = hg_ctx_mark_get(ctx);
    void *s0 = hg_ctx_alloc(ctx, 1000);
    REQUIRE(s0 != NULL);
    hg_ctx_release(ctx, m0);
    CHECK(hg_ctx_bytes_in_use(ctx) == 0);
    CHECK(hg_ctx_alloc(ctx, 1000) == s0); /* the same memory comes back */

    float *keep = hg_ctx_alloc(ctx, 4096 * sizeof(float));
    REQUIRE(keep != NULL);
    for (int i = 0; i < 4096; i++)
        keep[i] = (float)i;
    size_t before = hg_ctx_bytes_in_use(ctx);
    hg_ctx_mark m = hg_ctx_mark_get(ctx);
    void *small = hg_ctx_alloc(ctx, 256);
    void *big = hg_ctx_alloc(ctx, (size_t)40 << 20); /* larger than a chunk: a new one */
    REQUIRE(small != NULL && big != NULL);
    memset(big, 0xff, (size_t)40 << 20);
    CHECK(hg_ctx_bytes_in_use(ctx) > before + ((size_t)40 << 20));
    hg_ctx_release(ctx, m);
    CHECK(hg_ctx_bytes_in_use(ctx) == before);
    int intact = 1;
    for (int i = 0; i < 4096; i++)
        intact &= keep[i] == (float)i;
    CHECK(intact);
    /* The released memory is reused: the next small allocation lands where `small` was, and
     * the big chunk serves the next big request instead of a new malloc. */
    CHECK(hg_ctx_alloc(ctx, 256) == small);
    CHECK(hg_ctx_alloc(ctx, (size_t)40 << 20) == big);
    size_t peak = hg_ctx_peak_bytes(ctx);
    CHECK(peak >= before + ((size_t)40 << 20));
    hg_ctx_free(ctx);
    return hg_test_finish("test_ctx_mark");
}
