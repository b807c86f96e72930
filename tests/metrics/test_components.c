/* Connected components on hand-made masks: face vs full connectivity, raster-order labels,
 * and the largest-component filter per class. */
#include "hinge/seg_metrics.h"
#include "test_util.h"

static void test_connectivity(void)
{
    /* 3x3x3 with a diagonal chain (0,0,0)-(1,1,1)-(2,2,2) and a face pair at (0,2,0)-(0,2,1) */
    uint8_t m[27] = {0};
    m[0] = m[13] = m[26] = 1;
    m[6] = m[7] = 1;
    int32_t lab[27], n;
    const int64_t d3[3] = {3, 3, 3};
    CHECK_OK(hg_connected_components(m, 3, d3, 6, lab, &n));
    CHECK(n == 4); /* three lone corners + the pair */
    CHECK(lab[0] == 1 && lab[6] == 2 && lab[7] == 2 && lab[13] == 3 && lab[26] == 4);
    CHECK_OK(hg_connected_components(m, 3, d3, 26, lab, &n));
    CHECK(n == 1); /* (0,2,1) and (1,1,1) differ by (1,-1,0): an edge neighbour */
    CHECK(lab[0] == 1 && lab[13] == 1 && lab[26] == 1 && lab[6] == 1);
    CHECK_FAILS(hg_connected_components(m, 3, d3, 8, lab, &n), HG_ERR_INVALID, "connectivity 8");
    /* 2-D: a checkerboard 2x2 diagonal is two components with 4, one with 8 */
    uint8_t q[4] = {1, 0, 0, 1};
    const int64_t d2[2] = {2, 2};
    CHECK_OK(hg_connected_components(q, 2, d2, 4, lab, &n));
    CHECK(n == 2);
    CHECK_OK(hg_connected_components(q, 2, d2, 8, lab, &n));
    CHECK(n == 1);
}

static void test_largest(void)
{
    /* class 1: a 3-voxel bar and a lone voxel; class 2: two single voxels (tie: first kept) */
    const float v[5 * 5] = {1, 1, 1, 0, 2,
                            0, 0, 0, 0, 0,
                            0, 0, 0, 0, 2,
                            0, 0, 0, 0, 0,
                            1, 0, 0, 0, 0};
    hg_tensor *t = hg_new(NULL, 1, 5, 5);
    for (int i = 0; i < 25; i++)
        t->data[i] = v[i];
    int64_t removed;
    CHECK_OK(hg_keep_largest_component(t, 2, 4, &removed));
    CHECK(removed == 2);
    CHECK(t->data[0] == 1 && t->data[2] == 1 && t->data[20] == 0);
    CHECK(t->data[4] == 2 && t->data[14] == 0);
    t->data[3] = 0.5f;
    CHECK_FAILS(hg_keep_largest_component(t, 2, 4, NULL), HG_ERR_INVALID, "not a label");
    hg_tensor_free(t);
    hg_tensor *bad = hg_new(NULL, 2, 5, 5);
    CHECK_FAILS(hg_keep_largest_component(bad, 2, 4, NULL), HG_ERR_INVALID, "leading axis 0");
    hg_tensor_free(bad);
}

int main(void)
{
    test_connectivity();
    test_largest();
    return hg_test_finish("components");
}
