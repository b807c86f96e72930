/* The segmentation loss's Dice is nnU-Net's "batch dice": intersections and sums run over the
 * batch and the patch before the ratio, so a class absent from one sample of the batch adds
 * no 0/0 term. Values worked out by hand on uniform softmax outputs (every class 1/3). */
#include "hinge/ops.h"
#include "test_util.h"

int main(void)
{
    hg_ctx *ctx = hg_ctx_new();
    /* N = 2 samples, C = 3 classes, 3 positions each; all logits 0, so p = 1/3 everywhere.
     * Targets: sample 0 = [0, 1, 1] (no class 2), sample 1 = [0, 1, 2]. */
    hg_tensor *logits = hg_new(ctx, 2, 3, 3);
    hg_tensor *t = hg_new(ctx, 2, 3);
    const float lab[6] = {0, 1, 1, 0, 1, 2};
    for (int i = 0; i < 6; i++)
        t->data[i] = lab[i];
    /* Over the batch: class 1: T = 3, I = 3 * 1/3 = 1, P = 6 * 1/3 = 2: Dice 2 I/(P + T) = 2/5.
     * Class 2: T = 1, I = 1/3, P = 2: Dice (2/3)/3 = 2/9. Foreground mean 14/45, loss 31/45.
     * Per sample it would be 1 - (4/9 + 0 + 1/3 + 1/3)/4 = 13/18, the 0 being the absent
     * class 2 of sample 0 (smooth / (P + smooth)). */
    const double smooth = 1e-5;
    double d1 = (2.0 * 1 + smooth) / (2 + 3 + smooth), d2 = (2.0 / 3 + smooth) / (2 + 1 + smooth);
    double want = 1 - (d1 + d2) / 2;
    hg_tensor *dice = hg_soft_dice_loss(ctx, logits, t, (float)smooth, false);
    REQUIRE(dice);
    printf("batch dice loss %.7f, hand %.7f (31/45 = %.7f; per-sample would be 13/18 = %.7f)\n",
           (double)dice->data[0], want, 31.0 / 45, 13.0 / 18);
    CHECK_NEAR(dice->data[0], want, 1e-6);
    CHECK_NEAR(dice->data[0], 31.0 / 45, 1e-5);
    /* with background: class 0 T = 2, I = 2/3, P = 2: Dice (4/3)/4 = 1/3 */
    hg_tensor *dbg = hg_soft_dice_loss(ctx, logits, t, 0.0f, true);
    REQUIRE(dbg);
    CHECK_NEAR(dbg->data[0], 1 - (1.0 / 3 + 2.0 / 5 + 2.0 / 9) / 3, 1e-6);
    /* The training loss is Dice + cross-entropy; with p = 1/3 the CE is log 3. */
    hg_tensor *ce = hg_cross_entropy(ctx, logits, t, NULL, -100);
    REQUIRE(ce);
    CHECK_NEAR(ce->data[0], log(3.0), 1e-6);
    /* Non-uniform: sample 1 position 2 (class 2) gets logits (0, 0, log 2): p = (1/4, 1/4, 1/2).
     * Class 1: I = 1 (unchanged: its positions keep 1/3), P = 5/3 + 1/4 = 23/12, T = 3:
     * Dice 2/(23/12 + 3) = 24/59. Class 2: I = 1/2, P = 5/3 + 1/2 = 13/6, T = 1:
     * Dice 1/(19/6) = 6/19. */
    logits->data[1 * 9 + 2 * 3 + 2] = (float)log(2.0);
    hg_tensor *d3 = hg_soft_dice_loss(ctx, logits, t, 0.0f, false);
    REQUIRE(d3);
    CHECK_NEAR(d3->data[0], 1 - (24.0 / 59 + 6.0 / 19) / 2, 1e-6);
    hg_ctx_free(ctx);
    return hg_test_finish("test_batch_dice");
}
