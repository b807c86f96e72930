/* The training loop: loss falls on Fashion-MNIST, resume is bit-identical, a NaN stops
 * training with the last good checkpoint kept, bad hyper-parameters are refused. */
#include "test_util.h"

#include <math.h>

#include "hinge/train.h"

#include <string.h>
#include <unistd.h>

#define FMNIST "/usr/share/datasets/fashion-mnist"

static hg_labelled_images train_set, val_set;

static void load_subset(hg_labelled_images *d, const char *images, const char *labels, int64_t n)
{
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/%s", FMNIST, images);
    snprintf(b, sizeof b, "%s/%s", FMNIST, labels);
    REQUIRE(hg_idx_load(a, b, d) == HG_OK);
    int64_t per = d->images->numel / d->images->shape[0];
    d->images->shape[0] = n, d->images->numel = n * per;
    d->labels->shape[0] = n, d->labels->numel = n;
}

static hg_model *small_cnn(uint64_t seed)
{
    hg_metadata c;
    hg_metadata_init(&c);
    hg_metadata_set(&c, "features", "8,16");
    hg_metadata_set(&c, "hidden", "32");
    hg_model *m = hg_model_create("cnn", &c, seed);
    hg_metadata_free(&c);
    REQUIRE(m);
    return m;
}

static void test_loss_falls(void)
{
    hg_model *m = small_cnn(1);
    hg_classification_task ct = {&train_set, &val_set, 32};
    hg_task task = hg_classification_task_make(&ct);
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = 300;
    o.lr = 2e-3;
    o.seed = 3;
    double before, after, acc;
    CHECK_OK(hg_classifier_evaluate(m, &val_set, NULL, &before));
    hg_train_result r;
    CHECK_OK(hg_train(m, &task, &o, &r));
    CHECK_OK(hg_classifier_evaluate(m, &val_set, &acc, &after));
    CHECK_MSG(after < 0.5 * before, "val loss %.3f -> %.3f", before, after);
    CHECK_MSG(acc > 0.7, "val accuracy %.3f after 300 steps", acc);
    CHECK(r.steps_done == 300);
    hg_model_free(m);
}

static bool params_identical(const hg_model *a, const hg_model *b)
{
    for (int i = 0; i < a->params.count; i++) {
        const hg_tensor *x = a->params.items[i].tensor, *y = b->params.items[i].tensor;
        if (memcmp(x->data, y->data, (size_t)x->numel * sizeof(float)) != 0) {
            fprintf(stderr, "differs: %s\n", a->params.items[i].name);
            return false;
        }
    }
    return true;
}

static void test_resume_exact(void)
{
    const char *ck = hg_test_tmp("resume.ckpt.safetensors");
    unlink(ck);
    hg_classification_task ct = {&train_set, &val_set, 16};
    hg_task task = hg_classification_task_make(&ct);
    task.evaluate = NULL;
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = 24;
    o.seed = 11;
    o.clip = 1.0;
    o.schedule.kind = HG_SCHED_COSINE;
    o.schedule.warmup_steps = 4;
    /* Uninterrupted run, twice: the engine is deterministic. */
    hg_model *full = small_cnn(5), *again = small_cnn(5);
    CHECK_OK(hg_train(full, &task, &o, NULL));
    CHECK_OK(hg_train(again, &task, &o, NULL));
    CHECK(params_identical(full, again));
    hg_model_free(again);
    /* Interrupted after 10 steps (a run configured for 24 that stops), then resumed from the
     * checkpoint into a freshly initialized model. */
    hg_model *part = small_cnn(5);
    hg_train_opts o1 = o;
    o1.checkpoint = ck;
    o1.checkpoint_every = 10;
    o1.steps = 10;
    /* The schedule must be that of the 24-step run: give it explicitly. */
    o1.schedule.decay_steps = 20;
    hg_train_result r1;
    CHECK_OK(hg_train(part, &task, &o1, &r1));
    hg_model *resumed = small_cnn(99);
    hg_train_opts o2 = o;
    o2.checkpoint = ck;
    o2.resume = true;
    hg_train_result r2;
    CHECK_OK(hg_train(resumed, &task, &o2, &r2));
    CHECK(params_identical(full, resumed));
    /* A run resumed at its last step trains nothing but reports the whole run's record: the
     * time of both processes (so more than the first's) and, with validation, its metric. */
    hg_model *again2 = small_cnn(98);
    hg_train_result r3;
    CHECK_OK(hg_train(again2, &task, &o2, &r3));
    CHECK(r3.steps_done == 24 && params_identical(full, again2));
    /* the checkpoint was written before run 2 ended, so r3 is at most r2.seconds; it holds
     * the first process's time and run 2's 14 steps */
    CHECK_MSG(r3.seconds > r1.seconds && r3.seconds <= r2.seconds,
              "resumed at the end: %.3f s; first process %.3f s, whole run %.3f s", r3.seconds,
              r1.seconds, r2.seconds);
    hg_model_free(again2);
    /* With validation: the metric of the last evaluation comes back from the checkpoint. */
    hg_task vtask = hg_classification_task_make(&ct);
    hg_train_opts o3 = o;
    o3.steps = 4, o3.checkpoint = ck, o3.checkpoint_every = 4;
    hg_model *v1 = small_cnn(7), *v2 = small_cnn(8);
    hg_train_result a, b;
    CHECK_OK(hg_train(v1, &vtask, &o3, &a));
    o3.resume = true;
    CHECK_OK(hg_train(v2, &vtask, &o3, &b));
    CHECK_MSG(isfinite(a.metric) && b.metric == a.metric, "metric %g after the run, %g resumed "
              "at its end", a.metric, b.metric);
    hg_model_free(v1), hg_model_free(v2);
    /* And a different seed differs (the comparison can fail). */
    hg_model *other = small_cnn(5);
    o.seed = 12;
    CHECK_OK(hg_train(other, &task, &o, NULL));
    CHECK(!params_identical(full, other));
    hg_model_free(full), hg_model_free(part), hg_model_free(resumed), hg_model_free(other);
}

/* A task whose batch turns to NaN at step 7. */
static hg_task base_task;
static hg_status nan_batch(void *self, int64_t step, hg_rng *rng, hg_ctx *ctx, hg_tensor **x,
                           hg_tensor **y)
{
    hg_status s = base_task.batch(self, step, rng, ctx, x, y);
    if (s == HG_OK && step == 7) /* one whole image: its logits and the loss become NaN */
        for (int64_t i = 0; i < (*x)->numel / (*x)->shape[0]; i++)
            (*x)->data[i] = NAN;
    return s;
}

/* A loss that turns to NaN at step 5. */
static hg_tensor *nan_loss(void *self, hg_model *m, hg_ctx *ctx, hg_tensor *x, hg_tensor *y)
{
    static int64_t calls;
    hg_tensor *l = base_task.loss(self, m, ctx, x, y);
    if (l && ++calls == 6)
        l->data[0] = NAN;
    return l;
}

static void test_nan_stops(void)
{
    const char *ck = hg_test_tmp("nan.ckpt.safetensors");
    unlink(ck);
    hg_classification_task ct = {&train_set, NULL, 16};
    base_task = hg_classification_task_make(&ct);
    hg_task task = base_task;
    task.batch = nan_batch;
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.steps = 20;
    o.checkpoint = ck;
    o.checkpoint_every = 3;
    hg_model *m = small_cnn(2);
    hg_train_result r;
    /* NaN pixels: ReLU maps NaN to 0 downstream, so the loss stays finite and the NaN shows
     * in the first layer's gradient, which stops training too. */
    CHECK_FAILS(hg_train(m, &task, &o, &r), HG_ERR_NUMERIC,
                "train step 7: gradient of 'stage0.conv0.weight' is NaN");
    CHECK(r.steps_done == 7);
    /* The checkpoint of step 6 is intact and loads. */
    hg_model *back = small_cnn(2);
    hg_train_state st;
    CHECK_OK(hg_checkpoint_load(ck, &back->params, NULL, &st, NULL));
    CHECK(st.step == 6);
    /* A NaN loss stops before the update; the step-3 checkpoint is kept. */
    unlink(ck);
    task = base_task;
    task.loss = nan_loss;
    hg_model *m2 = small_cnn(2);
    CHECK_FAILS(hg_train(m2, &task, &o, &r), HG_ERR_NUMERIC, "train step 5: loss is nan");
    CHECK_OK(hg_checkpoint_load(ck, &back->params, NULL, &st, NULL));
    CHECK(st.step == 3);
    hg_model_free(m), hg_model_free(m2), hg_model_free(back);
}

static void test_bad_options(void)
{
    hg_model *m = small_cnn(2);
    hg_classification_task ct = {&train_set, NULL, 16};
    hg_task task = hg_classification_task_make(&ct);
    hg_train_opts o;
    hg_train_opts_defaults(&o);
    o.lr = -1;
    CHECK_FAILS(hg_train(m, &task, &o, NULL), HG_ERR_INVALID, "learning rate must be positive");
    hg_train_opts_defaults(&o);
    o.steps = 0;
    CHECK_FAILS(hg_train(m, &task, &o, NULL), HG_ERR_INVALID, "steps must be positive");
    hg_train_opts_defaults(&o);
    o.resume = true;
    CHECK_FAILS(hg_train(m, &task, &o, NULL), HG_ERR_INVALID, "needs a checkpoint");
    hg_train_opts_defaults(&o);
    o.resume = true;
    o.checkpoint = hg_test_tmp("missing.ckpt");
    unlink(o.checkpoint);
    CHECK_FAILS(hg_train(m, &task, &o, NULL), HG_ERR_IO, "cannot open");
    /* A checkpoint of another model is refused naming the tensor. */
    const char *ck = hg_test_tmp("other.ckpt.safetensors");
    hg_model *unet = hg_model_create("unet", NULL, 0);
    REQUIRE(unet);
    CHECK_OK(hg_checkpoint_save(ck, &unet->params, NULL, NULL, NULL));
    o.checkpoint = ck;
    CHECK_FAILS(hg_train(m, &task, &o, NULL), HG_ERR_FORMAT, "stage0.conv0.weight");
    ct.batch = 1000000;
    hg_train_opts_defaults(&o);
    CHECK_FAILS(hg_train(m, &task, &o, NULL), HG_ERR_INVALID, "larger than the data set");
    hg_model_free(unet);
    hg_model_free(m);
}

int main(void)
{
    if (access(FMNIST "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("test_train: Fashion-MNIST not installed (dataset-fashion-mnist); skipped\n");
        return 0;
    }
    hg_set_threads(2);
    load_subset(&train_set, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 4000);
    load_subset(&val_set, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 500);
    if (!getenv("ONLY_RESUME")) {
        test_bad_options();
        test_nan_stops();
    }
    test_resume_exact();
    if (getenv("ONLY_RESUME"))
        return hg_test_finish("test_train");
    test_loss_falls();
    hg_labelled_images_free(&train_set);
    hg_labelled_images_free(&val_set);
    return hg_test_finish("test_train");
}
