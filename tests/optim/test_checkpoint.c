/* Checkpoints: exact resume (N+M steps == N steps, save, load into fresh objects, M steps,
 * bit for bit) for SGD, Adam and AdamW on a small least-squares problem with random targets,
 * a warm-up + cosine schedule and clipping; then checkpoints of other models, other
 * optimizers, truncated and corrupted files, all refused with nothing modified. */
#include "hinge/optim.h"
#include "test_util.h"

#include <string.h>

#define N_FIRST 7
#define N_SECOND 6

typedef struct {
    hg_params p;
    hg_optim *opt;
    hg_train_state st;
} run;

static const hg_schedule sched = {.kind = HG_SCHED_COSINE, .base_lr = 0.05, .decay_steps = 10,
                                  .final_lr = 0.001, .warmup_steps = 3, .warmup_start_factor = 0.2};

static void make_params(hg_params *p, uint64_t seed)
{
    hg_params_init(p);
    hg_tensor *w = hg_params_add(p, "layer.w", true, HG_SHAPE(4, 6));
    hg_tensor *b = hg_params_add(p, "layer.b", true, HG_SHAPE(6));
    hg_tensor *r = hg_params_add(p, "stats.running", false, HG_SHAPE(3));
    hg_tensor *fz = hg_params_add(p, "unused", true, HG_SHAPE(2)); /* never gets a gradient */
    REQUIRE(w && b && r && fz);
    hg_rng rng = hg_rng_new(seed);
    CHECK_OK(hg_init_xavier_normal(w, 1.0, &rng));
    hg_rng_fill_uniform(&rng, b->data, b->numel, -0.5f, 0.5f);
    hg_rng_fill_uniform(&rng, fz->data, fz->numel, -0.5f, 0.5f);
    hg_tensor_fill(r, (float)seed);
}

static hg_optim *make_optim(hg_params *p, hg_optim_kind kind)
{
    if (kind == HG_OPTIM_SGD) {
        hg_sgd_opts o = {.lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-3};
        return hg_optim_sgd(p, &o);
    }
    hg_adam_opts o = kind == HG_OPTIM_ADAM ? hg_adam_defaults() : hg_adamw_defaults();
    o.amsgrad = kind == HG_OPTIM_ADAM;
    o.weight_decay = 0.01;
    hg_optim *opt = kind == HG_OPTIM_ADAM ? hg_optim_adam(p, &o) : hg_optim_adamw(p, &o);
    if (opt) /* a parameter group: no decay for the bias */
        CHECK_OK(hg_optim_set_param_weight_decay(opt, "layer.b", 0.0));
    return opt;
}

static void run_init(run *r, hg_optim_kind kind, uint64_t seed)
{
    make_params(&r->p, seed);
    r->opt = make_optim(&r->p, kind);
    REQUIRE(r->opt);
    r->st.step = 0;
    r->st.rng = hg_rng_new(seed * 1000 + 1);
}

static void run_free(run *r)
{
    hg_optim_free(r->opt);
    hg_params_free(&r->p);
}

/* loss = sum(a (w - T)^2) + sum((w * b - U)^2), T = 1 + 0.3 * noise drawn from the run's rng. */
static void train(run *r, hg_ctx *ctx, int steps)
{
    hg_tensor *w = hg_params_get(&r->p, "layer.w"), *b = hg_params_get(&r->p, "layer.b");
    hg_tensor *running = hg_params_get(&r->p, "stats.running");
    for (int s = 0; s < steps; s++) {
        hg_ctx_reset(ctx);
        hg_params_zero_grad(&r->p);
        hg_tensor *t = hg_new(ctx, 4, 6), *a = hg_new(ctx, 4, 6), *u = hg_new(ctx, 4, 6);
        REQUIRE(t && a && u);
        hg_rng_fill_normal(&r->st.rng, t->data, t->numel, 1.0f, 0.3f);
        for (int i = 0; i < 24; i++)
            a->data[i] = 0.5f + (float)(i % 5), u->data[i] = 0.1f * (float)(i % 7);
        hg_tensor *d = hg_sub(ctx, w, t);
        hg_tensor *e = hg_sub(ctx, hg_mul(ctx, w, b), u);
        hg_tensor *loss = hg_add(ctx, hg_sum(ctx, hg_mul(ctx, a, hg_mul(ctx, d, d))),
                                 hg_sum(ctx, hg_mul(ctx, e, e)));
        REQUIRE(loss);
        CHECK_OK(hg_backward(ctx, loss));
        CHECK_OK(hg_clip_grad_norm(&r->p, 5.0, 2.0, NULL));
        CHECK_OK(hg_optim_set_lr(r->opt, hg_schedule_lr(&sched, r->st.step)));
        CHECK_OK(hg_optim_step(r->opt));
        running->data[r->st.step % 3] = 0.9f * running->data[r->st.step % 3] + 0.1f * loss->data[0];
        r->st.step++;
    }
}

static const char *const all_states[] = {"momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

/* Everything a load could modify, flattened, to compare bit for bit. */
typedef struct {
    unsigned char *bytes;
    size_t n;
} snapshot;

static void put(snapshot *s, const void *p, size_t n)
{
    s->bytes = realloc(s->bytes, s->n + n);
    REQUIRE(s->bytes);
    memcpy(s->bytes + s->n, p, n);
    s->n += n;
}

static snapshot take(const run *r)
{
    snapshot s = {0};
    for (int i = 0; i < r->p.count; i++) {
        const hg_tensor *t = r->p.items[i].tensor;
        put(&s, t->data, (size_t)t->numel * sizeof(float));
        int64_t steps = hg_optim_param_steps(r->opt, r->p.items[i].name);
        put(&s, &steps, sizeof steps);
        for (int k = 0; k < 4 && t->requires_grad; k++) {
            hg_error_clear();
            hg_tensor *st = hg_optim_state(r->opt, all_states[k], r->p.items[i].name);
            if (st)
                put(&s, st->data, (size_t)st->numel * sizeof(float));
        }
    }
    double lr = hg_optim_lr(r->opt);
    put(&s, &lr, sizeof lr);
    put(&s, &r->st, sizeof r->st);
    return s;
}

static bool same(snapshot a, snapshot b)
{
    bool eq = a.n == b.n && memcmp(a.bytes, b.bytes, a.n) == 0;
    free(a.bytes), free(b.bytes);
    return eq;
}

static void test_exact_resume(hg_ctx *ctx, hg_optim_kind kind, const char *path)
{
    run ref, r;
    run_init(&ref, kind, 3);
    train(&ref, ctx, N_FIRST + N_SECOND);

    run_init(&r, kind, 3);
    train(&r, ctx, N_FIRST);
    hg_metadata user;
    hg_metadata_init(&user);
    CHECK_OK(hg_metadata_set(&user, "config", "{\"model\": \"toy\", \"loss\": \"l2\"}"));
    CHECK_OK(hg_checkpoint_save(path, &r.p, r.opt, &r.st, &user));
    hg_metadata_free(&user);
    run_free(&r);

    run_init(&r, kind, 99); /* other initial values: everything must come from the file */
    hg_metadata_init(&user);
    CHECK_OK(hg_checkpoint_load(path, &r.p, r.opt, &r.st, &user));
    CHECK(r.st.step == N_FIRST);
    CHECK(hg_optim_param_steps(r.opt, "layer.w") == N_FIRST);
    CHECK(hg_optim_param_steps(r.opt, "unused") == 0);
    CHECK(hg_optim_lr(r.opt) == hg_schedule_lr(&sched, N_FIRST - 1));
    CHECK(user.count == 1 && hg_metadata_get(&user, "config") &&
          strcmp(hg_metadata_get(&user, "config"), "{\"model\": \"toy\", \"loss\": \"l2\"}") == 0);
    hg_metadata_free(&user);
    train(&r, ctx, N_SECOND);
    CHECK_MSG(same(take(&ref), take(&r)), "%s: resumed run differs from the uninterrupted one",
              hg_optim_name(r.opt));
    /* the test would notice a difference: one more step breaks equality */
    train(&r, ctx, 1);
    CHECK(!same(take(&ref), take(&r)));
    run_free(&ref);
    run_free(&r);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_refusals(hg_ctx *ctx, const char *path)
{
    /* path holds an Adam checkpoint after N_FIRST steps */
    run r;
    run_init(&r, HG_OPTIM_ADAM, 5);
    train(&r, ctx, 2);
    snapshot before = take(&r);
#define UNCHANGED() CHECK_MSG(same(take(&r), (snapshot){memcpy(malloc(before.n), before.bytes, before.n), before.n}), "state modified by a failed load")

    /* another model: a shape differs, a tensor is missing, a tensor is extra */
    hg_params other;
    hg_params_init(&other);
    hg_params_add(&other, "layer.w", true, HG_SHAPE(4, 5));
    hg_params_add(&other, "layer.b", true, HG_SHAPE(6));
    hg_params_add(&other, "stats.running", false, HG_SHAPE(3));
    hg_params_add(&other, "unused", true, HG_SHAPE(2));
    CHECK_FAILS(hg_checkpoint_load(path, &other, NULL, NULL, NULL), HG_ERR_FORMAT,
                "tensor 'layer.w': expected shape [4, 5], checkpoint has [4, 6]");
    hg_params_free(&other);
    hg_tensor *extra = hg_params_add(&r.p, "head.w", true, HG_SHAPE(2, 2));
    CHECK_FAILS(hg_checkpoint_load(path, &r.p, NULL, NULL, NULL), HG_ERR_FORMAT,
                "tensor 'head.w' is missing (a checkpoint of another model?)");
    (void)extra;
    hg_params_init(&other);
    hg_params_add(&other, "layer.w", true, HG_SHAPE(4, 6));
    CHECK_FAILS(hg_checkpoint_load(path, &other, NULL, NULL, NULL), HG_ERR_FORMAT,
                "unexpected tensor 'layer.b'");
    hg_params_free(&other);
    /* r.p now has head.w, which the optimizer does not know; rebuild r to keep it clean */
    run_free(&r);
    run_init(&r, HG_OPTIM_ADAM, 5);
    train(&r, ctx, 2);
    free(before.bytes);
    before = take(&r);

    /* another optimizer, other hyper-parameters */
    hg_optim *sgd = make_optim(&r.p, HG_OPTIM_SGD);
    CHECK_FAILS(hg_checkpoint_load(path, &r.p, sgd, NULL, NULL), HG_ERR_FORMAT,
                "optimizer: expected 'sgd', checkpoint has 'adam'");
    hg_optim_free(sgd);
    hg_adam_opts o = hg_adam_defaults();
    o.weight_decay = 0.01;
    o.amsgrad = true;
    o.beta2 = 0.99;
    hg_optim *adam = hg_optim_adam(&r.p, &o);
    CHECK_FAILS(hg_checkpoint_load(path, &r.p, adam, NULL, NULL), HG_ERR_FORMAT,
                "adam beta2: expected 0.98999999999999999, checkpoint has 0.999");
    hg_optim_free(adam);
    o.beta2 = 0.999;
    o.amsgrad = false;
    adam = hg_optim_adam(&r.p, &o);
    CHECK_FAILS(hg_checkpoint_load(path, &r.p, adam, NULL, NULL), HG_ERR_FORMAT,
                "amsgrad: expected 0, checkpoint has 1");
    hg_optim_free(adam);
    o.amsgrad = true;
    adam = hg_optim_adam(&r.p, &o); /* as saved, but 'layer.b' decays like the rest */
    CHECK_FAILS(hg_checkpoint_load(path, &r.p, adam, NULL, NULL), HG_ERR_FORMAT,
                "adam weight_decay of 'layer.b': expected 0.01, checkpoint has 0");
    hg_optim_free(adam);
    UNCHANGED();

    /* a weights-only load ignores the optimizer state; a checkpoint without optimizer or train
     * state cannot resume one */
    hg_params w;
    make_params(&w, 11);
    CHECK_OK(hg_checkpoint_load(path, &w, NULL, NULL, NULL));
    const char *weights = hg_test_tmp("weights_only.safetensors");
    CHECK_OK(hg_checkpoint_save(weights, &w, NULL, NULL, NULL));
    CHECK_FAILS(hg_checkpoint_load(weights, &r.p, r.opt, NULL, NULL), HG_ERR_FORMAT,
                "holds no optimizer state (expected 'adam')");
    hg_train_state st;
    CHECK_FAILS(hg_checkpoint_load(weights, &r.p, NULL, &st, NULL), HG_ERR_FORMAT,
                "metadata 'hinge.step' is missing");
    UNCHANGED();
    /* a plain safetensors file is not a checkpoint */
    const char *plain = hg_test_tmp("plain.safetensors");
    CHECK_OK(hg_safetensors_save(plain, &w, NULL));
    CHECK_FAILS(hg_checkpoint_load(plain, &w, NULL, NULL, NULL), HG_ERR_FORMAT,
                "not a hinge checkpoint");
    CHECK_FAILS(hg_checkpoint_load(hg_test_tmp("does_not_exist.ckpt"), &w, NULL, NULL, NULL),
                HG_ERR_IO, "does_not_exist");

    /* reserved names */
    hg_metadata user;
    hg_metadata_init(&user);
    CHECK_OK(hg_metadata_set(&user, "hinge.step", "0"));
    CHECK_FAILS(hg_checkpoint_save(weights, &w, NULL, NULL, &user), HG_ERR_INVALID,
                "user metadata key 'hinge.step' uses the reserved prefix");
    hg_metadata_free(&user);
    hg_params_add(&w, "optim.scale", true, HG_SHAPE(1));
    CHECK_FAILS(hg_checkpoint_save(weights, &w, NULL, NULL, NULL), HG_ERR_INVALID,
                "parameter name 'optim.scale' uses the reserved prefix");
    CHECK_FAILS(hg_checkpoint_save(weights, &w, r.opt, NULL, NULL), HG_ERR_INVALID,
                "reserved prefix");
    hg_params_free(&w);
    make_params(&w, 11);
    CHECK_FAILS(hg_checkpoint_save(weights, &w, r.opt, NULL, NULL), HG_ERR_INVALID,
                "the optimizer's parameter 'layer.w' is not in the parameter list");
    CHECK_FAILS(hg_checkpoint_load(path, &w, r.opt, NULL, NULL), HG_ERR_INVALID,
                "the optimizer's parameter 'layer.w' is not in the parameter list being loaded");
    hg_params_free(&w);

    /* truncated at every length (coarser past the header): always refused, nothing changed */
    unsigned char *full;
    size_t size;
    CHECK_OK(hg_read_file(path, 1 << 20, &full, &size));
    const char *bad = hg_test_tmp("damaged.ckpt");
    int refused = 0, tried = 0;
    for (size_t n = 0; n < size; n += (n < 64 ? 1 : 13)) {
        write_bytes(bad, full, n);
        hg_error_clear();
        tried++;
        refused += hg_checkpoint_load(bad, &r.p, r.opt, &r.st, NULL) == HG_ERR_FORMAT;
    }
    CHECK_MSG(refused == tried, "truncated: %d of %d refused", refused, tried);
    UNCHANGED();

    /* one flipped bit anywhere in the data section: the checksum catches it */
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)full[i] << (8 * i);
    refused = tried = 0;
    for (size_t at = 8 + hlen; at < size; at += 7) {
        full[at] ^= 0x10;
        write_bytes(bad, full, size);
        full[at] ^= 0x10;
        hg_error_clear();
        tried++;
        hg_status s = hg_checkpoint_load(bad, &r.p, r.opt, &r.st, NULL);
        refused += s == HG_ERR_FORMAT && hg_test_contains(hg_error_message(), "checksum mismatch");
    }
    CHECK_MSG(refused == tried && tried > 50, "data bit flips: %d of %d refused", refused, tried);
    UNCHANGED();
    /* in the header, a flipped bit either breaks the file or changes nothing that matters
     * (e.g. padding); whatever loads must then equal the original load */
    int loaded = 0;
    refused = 0;
    for (size_t at = 8; at < 8 + hlen; at += 3) {
        full[at] ^= 0x01;
        write_bytes(bad, full, size);
        full[at] ^= 0x01;
        hg_error_clear();
        if (hg_checkpoint_load(bad, &r.p, r.opt, &r.st, NULL) != HG_OK) {
            refused++;
            continue;
        }
        loaded++;
        run good;
        run_init(&good, HG_OPTIM_ADAM, 5);
        CHECK_OK(hg_checkpoint_load(path, &good.p, good.opt, &good.st, NULL));
        CHECK(same(take(&good), take(&r)));
        run_free(&good);
        run_free(&r); /* back to the pre-load state for the next attempt */
        run_init(&r, HG_OPTIM_ADAM, 5);
        train(&r, ctx, 2);
    }
    printf("header bit flips: %d refused, %d harmless\n", refused, loaded);
    CHECK(refused > 0);
    UNCHANGED();
    free(full);
    free(before.bytes);
    run_free(&r);
#undef UNCHANGED
}

int main(void)
{
    hg_ctx *ctx = hg_ctx_new();
    REQUIRE(ctx);
    const char *path = hg_test_tmp("resume.ckpt");
    test_exact_resume(ctx, HG_OPTIM_SGD, path);
    test_exact_resume(ctx, HG_OPTIM_ADAMW, path);
    test_exact_resume(ctx, HG_OPTIM_ADAM, path); /* the file the refusal tests use */
    test_refusals(ctx, path);
    hg_ctx_free(ctx);
    return hg_test_finish("test_checkpoint");
}
