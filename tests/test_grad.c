/* test_grad.c — finite-difference checks of the compiled backward pass.
 * Each case is a small model in the language, compiled with netc's passes
 * (no optimizer: the train entry ends at the gradients) and run by
 * netrun's executor.  For sampled elements of every parameter the analytic
 * gradient must match (L(p+h) - L(p-h)) / 2h.  Then the losses of
 * models/lib/losses.net: against the fused cross_entropy (same value and
 * gradients) and against losses computed here in double.
 * Usage: test_grad [models/unet.net [other model files...]]; the first
 * model's directory is where `import "lib/losses.net"` is found. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "cpu.h"
#include "exec.h"

static int failures;
static const char *model_dir; /* models/, from the first argument */

static uint64_t rng = 12345;
static double urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (rng >> 11) * (1.0 / 9007199254740992.0);
}

/* Compile src into a graph whose only entry, "train", runs forward, loss
 * and backward.  Returns NULL after printing diagnostics. */
static ng_graph *compile(const char *name, const char *src, nc_define *defs, int n_defs, int32_t **grad_of_out,
                         int *n_out)
{
    /* a source in models/ (the file need not exist) so that imports
     * resolve against models/ */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", model_dir ? model_dir : ".", "grad_case.net");
    nc_options o = {.path = path, .text = src, .len = strlen(src), .defs = defs, .n_defs = n_defs,
                    .keep_gradients = 1};
    nc_unit u;
    ng_graph *out = NULL;
    (void)name;
    if (nc_compile(&u, &o) == 0) {
        const nc_graph *g = &u.g;
        out = u.out;
        u.out = NULL; /* ours now */
        /* map each emitted param to its gradient's emitted id, by name */
        *grad_of_out = malloc((size_t)out->n_tensors * sizeof **grad_of_out);
        *n_out = out->n_tensors;
        for (int t = 0; t < out->n_tensors; t++) {
            (*grad_of_out)[t] = -1;
            for (size_t s = 0; s < g->n_grad_of; s++) {
                if (strcmp(g->tensors[s].t.name, out->tensors[t].name) || g->grad_of[s] < 0)
                    continue;
                const char *gn = g->tensors[g->grad_of[s]].t.name;
                for (int v = 0; v < out->n_tensors; v++)
                    if (!strcmp(out->tensors[v].name, gn))
                        (*grad_of_out)[t] = v;
            }
        }
    }
    nc_unit_free(&u);
    return out;
}

static float run_loss(nr_model *m)
{
    const ng_graph *g = nr_model_graph(m);
    if (nr_model_run(m, "train")) {
        printf("FAIL - run: %s\n", nr_model_error(m));
        exit(1);
    }
    return *(float *)nr_model_tensor(m, "train", g->bind.loss);
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The parameters whose names start with frozen (may be NULL) must get no
 * gradient (stop_gradient); the others are checked.  ulps: the rounding
 * noise of the float loss in units of its last place, 1 for a few ops; a
 * whole network's loss carries tens (measured: with 1, a third of the seeds
 * fail the U-Nets on noise alone; with 8, none of 60).  Each case draws its
 * data and samples from a seed of its own name, so adding a case changes
 * no other. */
static void check_ex(const char *name, const char *src, nc_define *defs, int n_defs, int samples,
                     const char *frozen, double ulps)
{
    rng = hash_name(name);
    int32_t *grad_of = NULL;
    int n = 0;
    ng_graph *g = compile(name, src, defs, n_defs, &grad_of, &n);
    if (!g) {
        printf("FAIL - %s: does not compile\n", name);
        failures++;
        return;
    }
    char err[512];
    nr_model *m = nr_model_new(g, nr_backend_cpu(), 7, err, sizeof err);
    if (!m) {
        printf("FAIL - %s: %s\n", name, err);
        failures++;
        free(grad_of);
        return;
    }
    /* parameter gradients are read after the run: give every tensor its own
     * buffer so none is reused by a later op of the plan */
    nr_model_set_unshared(m, 1);
    const ng_graph *G = nr_model_graph(m);
    /* inputs: uniform image; labels of all classes with ~10% ignored */
    float *im = nr_model_state(m, G->bind.image);
    for (int64_t i = 0; i < ng_tensor_nelem(&G->tensors[G->bind.image]); i++)
        im[i] = (float)urand();
    int32_t *lb = nr_model_state(m, G->bind.labels);
    for (int64_t i = 0; i < ng_tensor_nelem(&G->tensors[G->bind.labels]); i++)
        lb[i] = urand() < 0.1 ? 255 : (int32_t)(urand() * G->bind.classes);
    if (nr_model_wants_class_counts(m)) {
        int64_t counts[256] = {0};
        for (int c = 0; c < G->bind.classes; c++)
            counts[c] = 1 + c * c;
        nr_model_set_class_weights(m, counts, NULL);
    }
    /* biases start at zero, where relu kinks sit: nudge all parameters */
    for (int t = 0; t < G->n_tensors; t++)
        if (G->tensors[t].role == NG_ROLE_PARAM) {
            float *p = nr_model_state(m, t);
            for (int64_t i = 0; i < ng_tensor_nelem(&G->tensors[t]); i++)
                p[i] += (float)(0.1 * (urand() - 0.5));
        }
    double base = run_loss(m);
    int bad = 0, checked = 0, kinks = 0, hard = 0; /* hard: a gradient missing or unexpected */
    double worst = 0;
    for (int t = 0; t < G->n_tensors; t++) {
        if (G->tensors[t].role != NG_ROLE_PARAM)
            continue;
        if (frozen && strncmp(G->tensors[t].name, frozen, strlen(frozen)) == 0) {
            if (grad_of[t] >= 0) {
                printf("#   %s: %s has a gradient through stop_gradient\n", name, G->tensors[t].name);
                hard++;
            }
            continue;
        }
        size_t len = strlen(G->tensors[t].name);
        if (len > 14 && strcmp(G->tensors[t].name + len - 14, ".running_stats") == 0) {
            if (grad_of[t] >= 0) { /* batch_norm's running statistics: no gradient by design */
                printf("#   %s: %s has a gradient\n", name, G->tensors[t].name);
                hard++;
            }
            continue;
        }
        if (grad_of[t] < 0) {
            printf("#   %s: no gradient for %s\n", name, G->tensors[t].name);
            hard++;
            continue;
        }
        int64_t ne = ng_tensor_nelem(&G->tensors[t]);
        float *p = nr_model_state(m, t);
        run_loss(m);
        float *ga = malloc((size_t)ne * sizeof *ga);
        memcpy(ga, nr_model_tensor(m, "train", grad_of[t]), (size_t)ne * sizeof *ga);
        /* every element of a small tensor once, else distinct random ones */
        int64_t *picked = malloc((size_t)samples * sizeof *picked);
        for (int s = 0; s < samples && (ne > samples || s < ne); s++) {
            int64_t i = s;
            for (int again = ne > samples; again;) {
                i = (int64_t)(urand() * ne);
                again = 0;
                for (int k = 0; k < s; k++)
                    again |= picked[k] == i;
            }
            picked[s] = i;
            /* central differences at two step sizes: where they disagree the
             * loss is not smooth within the step (a relu or max switches),
             * and the sample says nothing about the gradient */
            float keep = p[i];
            double fd[2];
            for (int k = 0; k < 2; k++) {
                const float h = k ? 3e-4f : 6e-4f;
                p[i] = keep + h;
                double lp = run_loss(m);
                p[i] = keep - h;
                double lm = run_loss(m);
                fd[k] = (lp - lm) / (2 * h);
            }
            p[i] = keep;
            /* the loss is a float: its rounding, seen through a step of h */
            double noise = ulps * 2.4e-7 * (fabs(base) > 1 ? fabs(base) : 1) / (2 * 3e-4);
            if (fabs(fd[0] - fd[1]) > 0.03 * (fabs(fd[0]) + fabs(fd[1])) + 3 * noise) {
                kinks++;
                continue;
            }
            double num = fd[1], ana = ga[i];
            double diff = fabs(num - ana), errv = diff / (fabs(num) + fabs(ana) + 1e-12);
            checked++;
            if (diff > 2 * noise && errv > worst)
                worst = errv;
            if (diff > 0.03 * (fabs(num) + fabs(ana)) + 2 * noise) {
                if (bad < 5)
                    printf("#   %s: %s[%lld] analytic %.6g numeric %.6g\n", name, G->tensors[t].name,
                           (long long)i, ana, num);
                bad++;
            }
        }
        free(ga);
        free(picked);
    }
    /* a kink closer than the step to the point fools both step sizes:
     * allow one such sample in fifty */
    if (hard || bad > checked / 50 || kinks > (checked + kinks) / 4) {
        printf("FAIL - %s: %d of %d gradient samples off, %d at kinks (worst relative error %.3g)\n", name,
               bad, checked, kinks, worst);
        failures++;
    } else {
        printf("ok - %s: %d gradient samples agree (worst relative error %.3g), %d skipped at kinks\n", name,
               checked, worst, kinks);
    }
    nr_model_free(m);
    free(grad_of);
}

static void check(const char *name, const char *src, nc_define *defs, int n_defs, int samples)
{
    check_ex(name, src, defs, n_defs, samples, NULL, 4);
}

#define HEAD(c, h, w, k)                                                                                \
    "input image : f32[2, " #c ", " #h ", " #w "]\n"                                                    \
    "input mask : labels[2, " #h ", " #w "] classes " #k "\n"
#define TAIL                                                                                           \
    "output p = softmax(logits, axis = 1)\n"                                                           \
    "loss = cross_entropy(logits, mask)\n"                                                             \
    "minimize loss with sgd(lr = 0.1)\n"

/* ---- the losses of models/lib/losses.net --------------------------------- */

/* A compiled model with its inputs filled: image uniform in [0, 1) (scaled
 * by image_scale), labels uniform over the classes with ~10% ignored, both
 * from a fixed seed so that two models get the same data; computed class
 * weights from fixed counts.  Parameters keep their seeded initial values,
 * so two models with the same parameter names start equal. */
typedef struct {
    nr_model *m;
    int32_t *grad_of;
    int n;
} loaded;

static int load(loaded *L, const char *name, const char *src, float image_scale)
{
    memset(L, 0, sizeof *L);
    ng_graph *g = compile(name, src, NULL, 0, &L->grad_of, &L->n);
    if (!g) {
        printf("FAIL - %s: does not compile\n", name);
        failures++;
        return 0;
    }
    char err[512];
    L->m = nr_model_new(g, nr_backend_cpu(), 7, err, sizeof err);
    if (!L->m) {
        printf("FAIL - %s: %s\n", name, err);
        failures++;
        free(L->grad_of);
        return 0;
    }
    nr_model_set_unshared(L->m, 1);
    const ng_graph *G = nr_model_graph(L->m);
    uint64_t keep = rng;
    rng = 777;
    float *im = nr_model_state(L->m, G->bind.image);
    for (int64_t i = 0; i < ng_tensor_nelem(&G->tensors[G->bind.image]); i++)
        im[i] = image_scale * (float)urand();
    int32_t *lb = nr_model_state(L->m, G->bind.labels);
    for (int64_t i = 0; i < ng_tensor_nelem(&G->tensors[G->bind.labels]); i++)
        lb[i] = urand() < 0.1 ? 255 : (int32_t)(urand() * G->bind.classes);
    rng = keep;
    if (nr_model_wants_class_counts(L->m)) {
        int64_t counts[256] = {0};
        for (int c = 0; c < G->bind.classes; c++)
            counts[c] = 1 + 7 * c * c;
        nr_model_set_class_weights(L->m, counts, NULL);
    }
    return 1;
}

static void unload(loaded *L)
{
    nr_model_free(L->m);
    free(L->grad_of);
}

/* Models a and b (same parameter names, same inputs) must give the same
 * loss and the same gradient for every parameter, to rel relative error. */
static void compare(const char *name, const char *a, const char *b, double rel)
{
    loaded A, B;
    if (!load(&A, name, a, 3.0f))
        return;
    if (!load(&B, name, b, 3.0f)) {
        unload(&A);
        return;
    }
    double la = run_loss(A.m), lb = run_loss(B.m), worst = 0;
    const ng_graph *GA = nr_model_graph(A.m), *GB = nr_model_graph(B.m);
    int ok = fabs(la - lb) <= rel * fmax(1, fabs(lb)), params = 0;
    for (int t = 0; t < GA->n_tensors; t++) {
        if (GA->tensors[t].role != NG_ROLE_PARAM)
            continue;
        int u = -1;
        for (int k = 0; k < GB->n_tensors; k++)
            if (strcmp(GB->tensors[k].name, GA->tensors[t].name) == 0)
                u = k;
        if (u < 0 || A.grad_of[t] < 0 || B.grad_of[u] < 0) {
            printf("#   %s: %s is missing or has no gradient\n", name, GA->tensors[t].name);
            ok = 0;
            continue;
        }
        const float *ga = nr_model_tensor(A.m, "train", A.grad_of[t]);
        const float *gb = nr_model_tensor(B.m, "train", B.grad_of[u]);
        int64_t ne = ng_tensor_nelem(&GA->tensors[t]);
        double scale = 1e-30;
        for (int64_t i = 0; i < ne; i++)
            scale = fmax(scale, fabs(gb[i]));
        for (int64_t i = 0; i < ne; i++)
            worst = fmax(worst, fabs(ga[i] - gb[i]) / scale);
        params++;
    }
    ok &= params > 0 && worst <= rel;
    printf("%s - %s: loss %.8g vs %.8g, %d parameter gradients agree to %.3g (relative to their largest)\n",
           ok ? "ok" : "FAIL", name, la, lb, params, worst);
    failures += !ok;
    unload(&A);
    unload(&B);
}

/* The model's loss with logits = the image (an image with K channels plus a
 * zero-initialised 1x1 conv, so that there is a parameter); image and labels
 * as given. */
static double loss_on(const char *name, const char *src, const float *image, const int32_t *labels)
{
    loaded L;
    if (!load(&L, name, src, 1.0f))
        return NAN;
    const ng_graph *G = nr_model_graph(L.m);
    memcpy(nr_model_state(L.m, G->bind.image), image,
           (size_t)ng_tensor_nelem(&G->tensors[G->bind.image]) * sizeof *image);
    memcpy(nr_model_state(L.m, G->bind.labels), labels,
           (size_t)ng_tensor_nelem(&G->tensors[G->bind.labels]) * sizeof *labels);
    double l = run_loss(L.m);
    unload(&L);
    return l;
}

static void expect_value(const char *name, double got, double want, double tol)
{
    int ok = fabs(got - want) <= tol * fmax(1e-3, fabs(want));
    printf("%s - %s: %.8g (expected %.8g)\n", ok ? "ok" : "FAIL", name, got, want);
    failures += !ok;
}

/* log sum_c exp(x[c * hw]) in double, max-subtracted: x points at one pixel
 * of a (K, HW) plane stack. */
static double log_sum_exp(int k, int hw, const float *x)
{
    double m = -INFINITY, z = 0;
    for (int c = 0; c < k; c++)
        m = fmax(m, x[(int64_t)c * hw]);
    for (int c = 0; c < k; c++)
        z += exp(x[(int64_t)c * hw] - m);
    return m + log(z);
}

/* Per-class sums over batch and pixels, in double, of p = softmax(x) and
 * g = one_hot(y) on labelled pixels: sp[c] = sum p, sg[c] = sum g, spg[c] =
 * sum p g.  x (N,K,HW), y (N,HW), 255 = ignored. */
static void class_sums(int n, int k, int hw, const float *x, const int32_t *y, double *sp, double *sg,
                       double *spg)
{
    for (int c = 0; c < k; c++)
        sp[c] = sg[c] = spg[c] = 0;
    for (int b = 0; b < n; b++)
        for (int i = 0; i < hw; i++) {
            int lab = y[b * hw + i];
            if (lab == 255)
                continue;
            double lz = log_sum_exp(k, hw, x + (int64_t)b * k * hw + i);
            for (int c = 0; c < k; c++) {
                double p = exp(x[(b * k + c) * hw + i] - lz);
                sp[c] += p;
                sg[c] += c == lab;
                spg[c] += c == lab ? p : 0;
            }
        }
}

/* Focal loss in double: mean over labelled pixels of -a_c (1-p_t)^gamma log p_t. */
static double ref_focal(int n, int k, int hw, const float *x, const int32_t *y, double gamma, const double *alpha)
{
    double sum = 0;
    int count = 0;
    for (int b = 0; b < n; b++)
        for (int i = 0; i < hw; i++) {
            int lab = y[b * hw + i];
            if (lab == 255)
                continue;
            double logp = x[(b * k + lab) * hw + i] - log_sum_exp(k, hw, x + (int64_t)b * k * hw + i);
            sum += -(alpha ? alpha[lab] : 1) * pow(1 - exp(logp), gamma) * logp;
            count++;
        }
    return count ? sum / count : 0;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Lovász-softmax as Berman et al.'s lovasz_softmax(per_image = True,
 * classes = 'present'): per image, the ignored pixels removed, for each
 * class present the sorted errors dotted with the Jaccard increments,
 * averaged over the present classes, then over the images. */
static double ref_lovasz(int n, int k, int hw, const float *x, const int32_t *y)
{
    double total = 0;
    double *pairs = malloc(sizeof(double) * 2 * (size_t)hw);
    for (int b = 0; b < n; b++) {
        double img = 0;
        int present = 0;
        for (int c = 0; c < k; c++) {
            int m = 0, fg = 0;
            for (int i = 0; i < hw; i++) {
                int lab = y[b * hw + i];
                if (lab == 255)
                    continue;
                const float *xi = x + (int64_t)b * k * hw + i;
                double p = exp(xi[c * hw] - log_sum_exp(k, hw, xi));
                pairs[2 * m] = fabs((lab == c) - p);
                pairs[2 * m + 1] = lab == c;
                fg += lab == c;
                m++;
            }
            if (fg == 0)
                continue;
            qsort(pairs, (size_t)m, 2 * sizeof(double), cmp_desc);
            double cum_fg = 0, cum_bg = 0, prev = 0, l = 0;
            for (int i = 0; i < m; i++) {
                cum_fg += pairs[2 * i + 1];
                cum_bg += 1 - pairs[2 * i + 1];
                double jac = 1 - (fg - cum_fg) / (fg + cum_bg);
                l += pairs[2 * i] * (jac - prev);
                prev = jac;
            }
            img += l;
            present++;
        }
        total += present ? img / present : 0;
    }
    free(pairs);
    return total / n;
}

#define VHEAD(n, k, h, w)                                                                              \
    "import \"lib/losses.net\"\n"                                                                      \
    "input image : f32[" #n ", " #k ", " #h ", " #w "]\n"                                              \
    "input mask : labels[" #n ", " #h ", " #w "] classes " #k "\n"                                     \
    "logits = image + conv2d(image, " #k ", 1, bias = false, init = zeros)\n"                          \
    "output p = softmax(logits, axis = 1)\n"
#define VTAIL "minimize loss with sgd(lr = 0.1)\n"

/* The losses' values: a case small enough to work out by hand, then random
 * logits against the formulas evaluated here in double. */
static void test_loss_values(void)
{
    /* 1x2x1x3: pixel 0 has p = (1/2, 1/2) and label 1, pixel 1 p = (3/4, 1/4)
     * and label 0, pixel 2 is ignored.  Class 1: sum p g = 1/2, sum p = 3/4,
     * sum g = 1.  Class 0: sum p g = 3/4, sum p = 5/4, sum g = 1. */
    const float x[6] = {0, (float)log(3.0), 5, 0, 0, -2};
    const int32_t y[3] = {1, 0, 255};
    const struct { const char *name, *loss; double want; } hand[] = {
        /* 1 - (2*1/2 + 1) / (3/4 + 1 + 1) = 3/11 */
        {"soft_dice by hand", "soft_dice(logits, mask)", 3.0 / 11},
        /* mean of 3/11 and 1 - (3/2 + 1) / (5/4 + 2) = 3/13 */
        {"soft_dice with background by hand", "soft_dice(logits, mask, include_background = true)",
         (3.0 / 11 + 3.0 / 13) / 2},
        /* TP 1/2, FP 1/4, FN 1/2: 1 - 1.5 / (0.5 + 0.075 + 0.35 + 1) */
        {"tversky by hand", "tversky(logits, mask)", 1 - 1.5 / 1.925},
        /* both classes weigh 1: 1 - 2 (3/4 + 1/2) / (9/4 + 7/4) = 3/8 */
        {"generalized_dice by hand", "generalized_dice(logits, mask, eps = 0)", 3.0 / 8},
        /* (0.25 log 2 + 0.0625 log(4/3)) / 2 */
        {"focal by hand", "focal(logits, mask)", (0.25 * log(2.0) + 0.0625 * log(4.0 / 3)) / 2},
        {"weighted_ce by hand", "weighted_ce(logits, mask, [1, 3])", (3 * log(2.0) + log(4.0 / 3)) / 4},
    };
    for (size_t i = 0; i < sizeof hand / sizeof hand[0]; i++) {
        char src[1024];
        snprintf(src, sizeof src, VHEAD(1, 2, 1, 3) "loss = %s\n" VTAIL, hand[i].loss);
        expect_value(hand[i].name, loss_on(hand[i].name, src, x, y), hand[i].want, 1e-5);
    }

    /* random: 2 images of 4 classes, 5x6, logits in [-3, 3) */
    enum { N = 2, K = 4, HW = 30 };
    float rx[N * K * HW];
    int32_t ry[N * HW];
    for (int i = 0; i < N * K * HW; i++)
        rx[i] = (float)(6 * urand() - 3);
    for (int i = 0; i < N * HW; i++)
        ry[i] = urand() < 0.15 ? 255 : (int32_t)(urand() * K);
    double sp[K], sg[K], spg[K], dice = 0, dice_bg = 0, tv = 0, gi = 0, gu = 0;
    class_sums(N, K, HW, rx, ry, sp, sg, spg);
    for (int c = 0; c < K; c++) {
        double d = 1 - (2 * spg[c] + 1) / (sp[c] + sg[c] + 1);
        dice_bg += d / K;
        dice += c ? d / (K - 1) : 0;
        double t = 1 - (spg[c] + 1) / (spg[c] + 0.3 * (sp[c] - spg[c]) + 0.7 * (sg[c] - spg[c]) + 1);
        tv += c ? t / (K - 1) : 0;
        double w = sg[c] > 0 ? 1 / (sg[c] * sg[c]) : 0;
        gi += w * spg[c];
        gu += w * (sp[c] + sg[c]);
    }
    const double alpha[K] = {0.25, 1, 2, 0.5};
    static const char *const losses[] = {
        "soft_dice(logits, mask)", "soft_dice(logits, mask, include_background = true)",
        "tversky(logits, mask)", "generalized_dice(logits, mask)",
        "focal(logits, mask, gamma = 2)", "focal(logits, mask, gamma = 0.5, alpha = [0.25, 1, 2, 0.5])",
        "lovasz_softmax(logits, mask)",
    };
    const double want[] = {dice, dice_bg, tv, 1 - (2 * gi + 1e-6) / (gu + 1e-6),
                           ref_focal(N, K, HW, rx, ry, 2, NULL), ref_focal(N, K, HW, rx, ry, 0.5, alpha),
                           ref_lovasz(N, K, HW, rx, ry)};
    for (size_t i = 0; i < sizeof losses / sizeof losses[0]; i++) {
        char src[1024], name[256];
        snprintf(src, sizeof src, VHEAD(2, 4, 5, 6) "loss = %s\n" VTAIL, losses[i]);
        snprintf(name, sizeof name, "%s on random logits", losses[i]);
        expect_value(name, loss_on(name, src, rx, ry), want[i], 1e-5);
    }
}

#define LHEAD(c, h, w, k) "import \"lib/losses.net\"\n" HEAD(c, h, w, k)
/* two linear layers: the losses are smooth, so no relu kink hides a sample */
#define NET "logits = conv2d(conv2d(image, 6, 3, pad = same), 4, 1)\n" \
            "output p = softmax(logits, axis = 1)\n"
#define MIN "minimize loss with sgd(lr = 0.1)\n"

/* The library's losses: gradients by finite differences, and the ones
 * that must equal the fused cross_entropy. */
static void test_library(void)
{
    check("soft_dice", LHEAD(1, 6, 6, 4) NET "loss = soft_dice(logits, mask)\n" MIN, NULL, 0, 40);
    check("soft_dice over present classes",
          LHEAD(1, 6, 6, 4) NET "loss = soft_dice(logits, mask, present_only = true)\n" MIN, NULL, 0, 40);
    check("soft_dice with background",
          LHEAD(1, 6, 6, 4) NET "loss = soft_dice(logits, mask, eps = 0.1, include_background = true)\n" MIN,
          NULL, 0, 40);
    check("generalized_dice", LHEAD(2, 6, 6, 4) NET "loss = generalized_dice(logits, mask)\n" MIN, NULL, 0, 40);
    check("generalized_dice without background",
          LHEAD(2, 6, 6, 4) NET "loss = generalized_dice(logits, mask, include_background = false)\n" MIN,
          NULL, 0, 40);
    check("tversky", LHEAD(1, 6, 6, 4) NET "loss = tversky(logits, mask, alpha = 0.2, beta = 0.8)\n" MIN,
          NULL, 0, 40);
    check("focal gamma 2, alpha list",
          LHEAD(1, 6, 6, 4) NET "loss = focal(logits, mask, alpha = [0.25, 1, 1.5, 2])\n" MIN, NULL, 0, 40);
    check("focal gamma 0.5, alpha from class_weights(median_freq)",
          LHEAD(1, 6, 6, 4) NET "loss = focal(logits, mask, gamma = 0.5, alpha = class_weights(median_freq))\n" MIN,
          NULL, 0, 40);
    check("lovasz_softmax", LHEAD(2, 6, 6, 4) NET "loss = lovasz_softmax(logits, mask)\n" MIN, NULL, 0, 40);
    check("lovasz_softmax over all foreground classes",
          LHEAD(1, 6, 6, 4) NET "loss = lovasz_softmax(logits, mask, present_only = false, include_background = false)\n"
          MIN, NULL, 0, 40);
    check("logit_adjusted_ce", LHEAD(2, 6, 6, 4) NET "loss = logit_adjusted_ce(logits, mask, tau = 0.7)\n" MIN,
          NULL, 0, 40);
    check("cross_entropy with effective-number weights",
          LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask, weights = effective(0.9))\n" MIN, NULL, 0, 40);
    check("weighted_ce with class_weights(balanced)",
          LHEAD(1, 6, 6, 4) NET "loss = weighted_ce(logits, mask, class_weights(balanced))\n" MIN, NULL, 0, 40);
    check("a file imported twice runs once (else its defs would clash)",
          LHEAD(1, 6, 6, 4) "import \"lib/../lib/losses.net\"\nimport \"lib/unet.net\"\n" NET
          "loss = tversky(logits, mask)\n" MIN, NULL, 0, 20);
    check("composite: cross_entropy + 0.5 * soft_dice",
          LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask) + 0.5 * soft_dice(logits, mask)\n" MIN,
          NULL, 0, 40);

    compare("logit_adjusted_ce(tau = 0) = cross_entropy",
            LHEAD(2, 6, 6, 4) NET "loss = logit_adjusted_ce(logits, mask, tau = 0)\n" MIN,
            LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask)\n" MIN, 1e-5);
    compare("weighted_ce(effective(0.9)) = cross_entropy(weights = effective(0.9))",
            LHEAD(2, 6, 6, 4) NET "loss = weighted_ce(logits, mask, effective(0.9))\n" MIN,
            LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask, weights = class_weights(effective_number, beta = 0.9))\n"
            MIN, 1e-5);
    compare("weighted_ce = cross_entropy",
            LHEAD(1, 6, 6, 4) NET "loss = weighted_ce(logits, mask)\n" MIN,
            LHEAD(1, 6, 6, 4) NET "loss = cross_entropy(logits, mask)\n" MIN, 1e-5);
    compare("weighted_ce = cross_entropy, list weights",
            LHEAD(2, 6, 6, 4) NET "loss = weighted_ce(logits, mask, [0.2, 1, 3.5, 0])\n" MIN,
            LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask, weights = [0.2, 1, 3.5, 0])\n" MIN, 1e-5);
    compare("weighted_ce(class_weights(balanced)) = cross_entropy(weights = balanced)",
            LHEAD(2, 6, 6, 4) NET "loss = weighted_ce(logits, mask, class_weights(balanced))\n" MIN,
            LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask, weights = balanced)\n" MIN, 1e-5);
    compare("weighted_ce(class_weights(inverse_sqrt, clip)) = cross_entropy(inverse_sqrt, clip)",
            LHEAD(2, 6, 6, 4) NET "loss = weighted_ce(logits, mask, class_weights(inverse_sqrt, clip = [0.5, 2]))\n" MIN,
            LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask, weights = inverse_sqrt, clip = [0.5, 2])\n" MIN,
            1e-5);
    compare("cross_entropy: median_freq = balanced (a constant factor cancels)",
            LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask, weights = median_freq)\n" MIN,
            LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask, weights = balanced)\n" MIN, 1e-5);
    compare("focal(gamma = 0) = cross_entropy",
            LHEAD(2, 6, 6, 4) NET "loss = focal(logits, mask, gamma = 0)\n" MIN,
            LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask)\n" MIN, 1e-5);
    compare("tversky(0.5, 0.5, eps = 0.5) = soft_dice(eps = 1)",
            LHEAD(2, 6, 6, 4) NET "loss = tversky(logits, mask, alpha = 0.5, beta = 0.5, eps = 0.5)\n" MIN,
            LHEAD(2, 6, 6, 4) NET "loss = soft_dice(logits, mask)\n" MIN, 1e-5);
    compare("class_weights() and cross_entropy(weights = balanced) share one table",
            LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask, weights = balanced) + 0 * weighted_ce(logits, mask, class_weights())\n" MIN,
            LHEAD(2, 6, 6, 4) NET "loss = cross_entropy(logits, mask, weights = balanced)\n" MIN, 1e-6);
    test_loss_values();
}

#define PHEAD HEAD(1, 5, 6, 3) "a = conv2d(image, 3, 3, pad = same)\nb = conv2d(image, 1, 1)\n"
#define PTAIL "output p = softmax(a, axis = 1)\nminimize loss with sgd(lr = 0.1)\n"

/* Every function of the language that is a UNARY row of ops.def
 * (NG_F_FUNC), found in the table: a new one is checked without a line
 * here.  Its input is kept in (0.5, inf), where every such function is
 * defined and smooth. */
static void test_unary_functions(void)
{
    int n = 0;
    for (int op = 0; op < NG_OP_COUNT; op++) {
        if (!(ng_ops[op].flags & NG_F_FUNC))
            continue;
        char name[128], src[1024];
        snprintf(name, sizeof name, "unary function %s (from ops.def)", ng_ops[op].name);
        snprintf(src, sizeof src,
                 PHEAD "logits = %s(0.5 + a * a) * [1, -1, 2] + %s(0.5 + b * b)\n"
                       "loss = cross_entropy(logits, mask)\n" PTAIL,
                 ng_ops[op].name, ng_ops[op].name);
        check(name, src, NULL, 0, 40);
        n++;
    }
    if (n < 4) {
        printf("FAIL - only %d unary functions found in ops.def\n", n);
        failures++;
    }
}

/* Every loss primitive, each through a loss that depends on parameters. */
static void test_primitives(void)
{
    check("+ - * / broadcasting (N,1,H,W), (1,K,1,1), (H,W), numbers and a list",
          PHEAD "c = sum(conv2d(image, 3, 1), axis = [0, 2, 3], keepdims = true)\n"
                "h = mean(conv2d(image, 2, 1), axis = [0, 1])\n"
                "logits = (a - b) * c + a / (2 + b * b) - h * [0.5, 1, 2] + (1 - h) / (1 + c * c)\n"
                "loss = cross_entropy(logits, mask)\n" PTAIL,
          NULL, 0, 60);
    check("batch_sum (the sum over ranks: one process here) in a Dice-like ratio",
          PHEAD "c = batch_sum(sum(softmax(a, axis = 1) * b, axis = [0, 2, 3], keepdims = true))\n"
                "logits = a + b\n"
                "loss = cross_entropy(logits, mask) + mean(1 - (2 * c + 1) / (batch_sum(sum(a * a)) + 1))\n" PTAIL,
          NULL, 0, 40);
    check("x * x and x / x share one input",
          PHEAD "logits = a * a + a / (3 + a) + (b - b * b)\nloss = cross_entropy(logits, mask)\n" PTAIL,
          NULL, 0, 40);
    check("unary minus, exp, log",
          PHEAD "logits = -a + log(1 + exp(b)) * [1, -1, 2]\nloss = cross_entropy(logits, mask)\n" PTAIL,
          NULL, 0, 40);
    check("sqrt, pow (2, 3, 1.5, -1, 0)",
          PHEAD "logits = sqrt(1 + a * a) + pow(a, 2) + 0.1 * pow(a, 3) + pow(exp(b), 1.5) + pow(1 + b * b, -1)"
                " + pow(a, 0)\nloss = cross_entropy(logits, mask)\n" PTAIL,
          NULL, 0, 40);
    check("abs, clamp, min, max",
          PHEAD "logits = abs(a) + clamp(a, -0.2, 0.3) + min(b, 0.1) + max(a, -0.1) + clamp(b, none, 0)\n"
                "loss = cross_entropy(logits, mask)\n" PTAIL,
          NULL, 0, 60);
    check("sum and mean over axes, keepdims, negative axes, everything",
          PHEAD "loss = mean(pow(sum(a, axis = 1), 2)) + sum(mean(a * a, axis = [0, -1]) * 0.1)"
                " + mean(sum(a, axis = -1, keepdims = true) * b) + sum(a) * 0.01\n" PTAIL,
          NULL, 0, 40);
    check("softmax over axes 1, 2 and 3",
          PHEAD "loss = sum(softmax(a, axis = 2) * image) + mean(softmax(a, axis = 1) * a)"
                " + sum(softmax(a * b, axis = -1) * image * image)\n" PTAIL,
          NULL, 0, 40);
    check("log_softmax with one_hot and valid_mask",
          PHEAD "loss = -mean(one_hot(mask) * log_softmax(a, axis = 1) * valid_mask(mask))"
                " + mean(log_softmax(a + b, axis = 3) * image)\n" PTAIL,
          NULL, 0, 40);
    check("slice and reshape",
          HEAD(2, 5, 6, 3) "a5 = conv2d(image, 5, 3, pad = same)\n"
                           "logits = slice(a5, 1, 4) + reshape(reshape(slice(a5, -3, none, axis = 1), [2, 3, 30])"
                           " * 2, [2, 3, 5, 6]) + reshape(reshape(slice(a5, 0, 3), [-1]), [2, 3, 5, 6])\n"
                           "loss = cross_entropy(logits, mask) + mean(slice(a5, 2, 5, axis = 3))\n"
                           "output p = softmax(logits)\nminimize loss with sgd(lr = 0.1)\n",
          NULL, 0, 40);
    check_ex("stop_gradient (its input's parameters get no gradient)",
             HEAD(1, 5, 6, 3) "a = conv2d(image, 3, 3, pad = same)\nfrozen = conv2d(image, 3, 1)\n"
                   "logits = a * stop_gradient(frozen) + a\nloss = cross_entropy(logits, mask)\n" PTAIL,
             NULL, 0, 40, "frozen.", 4);
}

/* The ops of issues 9 and 11 (activations, normalization, ...). */
static void test_new_ops(void)
{
    check("leaky_relu (default slope and 0.2)",
          HEAD(2, 6, 6, 3) "e = leaky_relu(conv2d(image, 4, 3, pad = same)) + leaky_relu(conv2d(image, 4, 1), slope = 0.2)\n"
                           "logits = conv2d(e, 3, 1)\n" TAIL,
          NULL, 0, 40);
    check("sigmoid and tanh gates in a network",
          HEAD(2, 6, 6, 3) "e = conv2d(image, 4, 3, pad = same)\n"
                           "logits = conv2d(e * sigmoid(conv2d(e, 4, 1)) + tanh(e), 3, 1)\n" TAIL,
          NULL, 0, 40);
    check("group_norm (2 groups of 3 channels, batch 2)",
          HEAD(2, 5, 6, 3) "e = group_norm(conv2d(image, 6, 3, pad = same), 2)\n"
                           "logits = conv2d(e, 3, 1)\n" TAIL,
          NULL, 0, 60);
    check("group_norm (1 group, eps 0.1) then leaky_relu",
          HEAD(1, 5, 6, 3) "e = leaky_relu(group_norm(conv2d(image, 4, 3, pad = same), 1, eps = 0.1))\n"
                           "logits = conv2d(e, 3, 1)\n" TAIL,
          NULL, 0, 60);
    check("group_norm without affine parameters, named",
          HEAD(2, 5, 6, 3) "e = group_norm(conv2d(image, 4, 3, pad = same), 2, affine = false, name = gn)\n"
                           "logits = conv2d(e, 3, 1)\n" TAIL,
          NULL, 0, 60);
    check("batch_norm (training: batch statistics)",
          HEAD(2, 5, 6, 3) "e = batch_norm(conv2d(image, 4, 3, pad = same))\n"
                           "logits = conv2d(leaky_relu(e), 3, 1)\n" TAIL,
          NULL, 0, 60);
    check("batch_norm without affine, momentum 0, named",
          HEAD(2, 5, 6, 3) "e = batch_norm(conv2d(image, 3, 3, pad = same), momentum = 0, affine = false, name = bn)\n"
                           "logits = e + conv2d(e, 3, 1)\n" TAIL,
          NULL, 0, 60);
    check("deep supervision: cross_entropy and one_hot on downsample_labels",
          HEAD(2, 8, 8, 3) "e = relu(conv2d(image, 4, 3, pad = same))\n"
                           "m = maxpool(e, 2)\n"
                           "logits = conv2d(concat(e, upsample(m, 2)), 3, 1)\n"
                           "aux = conv2d(m, 3, 1)\n"
                           "small = downsample_labels(mask, 2)\n"
                           "loss = cross_entropy(logits, mask) + 0.5 * cross_entropy(aux, small)"
                           " + 0.25 * mean(one_hot(downsample_labels(small, 2)) * conv2d(maxpool(m, 2), 3, 1))\n"
                           "output p = softmax(logits)\nminimize loss with sgd(lr = 0.1)\n",
          NULL, 0, 60);
    check("dropout (element-wise, fixed mask within a step)",
          HEAD(2, 6, 6, 3) "e = dropout(conv2d(image, 4, 3, pad = same), 0.3)\n"
                           "logits = conv2d(e, 3, 1)\n" TAIL,
          NULL, 0, 40);
    check("avg_pool 2 and 3 (floor), upsample back",
          HEAD(2, 7, 7, 3) "e = conv2d(image, 3, 3, pad = same)\n"
                           "logits = pad(upsample(avg_pool(e, 2), 2, mode = bilinear), [0, 1, 0, 1])"
                           " + pad(upsample(avg_pool(e, 3), 3), [0, 1, 0, 1])\n" TAIL,
          NULL, 0, 60);
    check("global_avg_pool and global_max_pool (squeeze-excitation style)",
          HEAD(2, 6, 5, 3) "e = conv2d(image, 3, 3, pad = same)\n"
                           "logits = e * sigmoid(global_avg_pool(e)) + global_max_pool(e * e)\n" TAIL,
          NULL, 0, 60);
    check("pad zero and reflect (int, [ph, pw], 4 sides)",
          HEAD(1, 6, 7, 3) "e = conv2d(image, 3, 3, pad = same)\n"
                           "logits = conv2d(pad(e, 1, mode = reflect), 3, 3) + conv2d(pad(e, [2, 1], mode = reflect), 3, [5, 3])"
                           " + conv2d(pad(e, [1, 0, 2, 0]), 3, [2, 3])\n" TAIL,
          NULL, 0, 60);
    check("upsample bilinear, align_corners false and true, factors 2 and 3",
          HEAD(1, 6, 6, 3) "e = conv2d(image, 3, 3, pad = same)\n"
                           "logits = upsample(avg_pool(e, 2), 2, mode = bilinear, align_corners = true)"
                           " + upsample(avg_pool(e, 3), factor = 3, mode = bilinear)\n" TAIL,
          NULL, 0, 60);
    check("conv_transpose2d 2x2 stride 2 (U-Net up-convolution)",
          HEAD(2, 6, 6, 3) "e = relu(conv2d(image, 4, 3, pad = same))\n"
                           "d = conv_transpose2d(maxpool(e, 2), 3, 2, stride = 2)\n"
                           "logits = d + conv2d(e, 3, 1)\n" TAIL,
          NULL, 0, 60);
    check("conv_transpose2d 3x3 stride 2, padding 1, output_padding 1, no bias",
          HEAD(1, 6, 8, 3) "e = conv2d(image, 2, 3, stride = 2, pad = same)\n"
                           "logits = conv_transpose2d(e, 3, 3, stride = 2, padding = 1, output_padding = 1, bias = false)\n" TAIL,
          NULL, 0, 60);
    check("conv_transpose2d [3, 2] kernel, stride 1, padding [1, 0]",
          HEAD(1, 5, 6, 3) "e = conv2d(image, 2, 3, pad = same)\n"
                           "logits = conv_transpose2d(e, 3, [3, 1], padding = [1, 0], name = up)\n" TAIL,
          NULL, 0, 60);
    check("sort, argsort + gather, cumsum (a Lovasz-style extension)",
          HEAD(1, 5, 6, 3) "a = conv2d(image, 3, 3, pad = same)\n"
                           "e = reshape(softmax(a), [2, 3, 30])\n"
                           "perm = argsort(e, descending = true)\n"
                           "g = gather(reshape(one_hot(mask), [2, 3, 30]), perm)\n"
                           "loss = sum(gather(e, perm) * cumsum(g, axis = -1)) * 0.1"
                           " + sum(sort(a, axis = 2) * image) + mean(cumsum(a, 1) * cumsum(a * a, axis = 3))\n"
                           "output p = softmax(a)\nminimize loss with sgd(lr = 0.1)\n",
          NULL, 0, 60);
    /* no dropout here: batch_norm's update advances the step, and with it the mask */
    check("every new op but dropout in one network",
          HEAD(2, 8, 8, 3) "e = leaky_relu(batch_norm(conv2d(image, 4, 3, pad = same)))\n"
                           "m = group_norm(maxpool(e), 2)\n"
                           "d = conv_transpose2d(instance_norm(avg_pool(m, 2)), 4, 2, stride = 2)\n"
                           "u = upsample(d, 2, mode = bilinear) + pad(conv2d(e, 4, 3), 1, mode = reflect)\n"
                           "g = u * sigmoid(global_avg_pool(u)) + tanh(global_max_pool(u))\n"
                           "logits = conv2d(g, 3, 1)\n"
                           "output p = softmax(logits)\n"
                           "loss = cross_entropy(logits, mask) + 0.5 * cross_entropy(conv2d(m, 3, 1), downsample_labels(mask, 2))\n"
                           "minimize loss with sgd(lr = 0.1)\n",
          NULL, 0, 24);
    check("instance_norm, fan-out of its input",
          HEAD(2, 5, 6, 3) "c = conv2d(image, 3, 3, pad = same)\n"
                           "logits = instance_norm(c) + 0.5 * c\n" TAIL,
          NULL, 0, 60);
    check("conv_transpose2d 3x3 stride 1, same padding (fast path)",
          HEAD(2, 6, 6, 3) "e = relu(conv2d(image, 8, 3, pad = same))\n"
                           "logits = conv_transpose2d(e, 3, 3, padding = 1)\n" TAIL,
          NULL, 0, 60);
    check("gallery blocks (models/README.md): depthwise-separable, dilated context, squeeze-excitation",
          HEAD(2, 8, 8, 3) "e = conv2d(image, 8, 3, pad = same)\n"
                           "s = relu(conv2d(relu(conv2d(e, 8, 3, pad = same, groups = 8)), 8, 1))\n"
                           "c = relu(conv2d(s, 8, 3, pad = same) + conv2d(s, 8, 3, pad = same, dilation = 2))\n"
                           "q = c * sigmoid(conv2d(relu(conv2d(global_avg_pool(c), 2, 1)), 8, 1))\n"
                           "logits = conv2d(q, 3, 1)\n" TAIL,
          NULL, 0, 60);
    check("dilated conv2d: dilation 2 same, dilation 3 valid, dilation 2 stride 2",
          HEAD(2, 9, 8, 3) "e = relu(conv2d(image, 4, 3, pad = same, dilation = 2))\n"
                           "v = conv2d(e, 3, [2, 3], dilation = 3)\n"
                           "s = conv2d(e, 3, 3, stride = 2, pad = same, dilation = 2)\n"
                           "logits = pad(v, [0, 3, 0, 6]) + slice(upsample(s, 2), 0, 9, axis = 2)\n" TAIL,
          NULL, 0, 60);
    check("grouped conv2d: 4 -> 6 channels in 2 groups, 1x1 in 3 groups",
          HEAD(2, 6, 6, 3) "e = conv2d(image, 4, 3, pad = same)\n"
                           "g = relu(conv2d(e, 6, 3, pad = same, groups = 2))\n"
                           "logits = conv2d(conv2d(g, 6, 1, groups = 3), 3, 1)\n" TAIL,
          NULL, 0, 60);
    check("depthwise conv2d (groups = channels): 3x3 same + relu, 5x5 stride 2 dilation 2, no bias",
          HEAD(2, 8, 8, 3) "e = conv2d(image, 4, 1)\n"
                           "d = relu(conv2d(e, 4, 3, pad = same, groups = 4))\n"
                           "s = conv2d(d, 4, 5, stride = 2, pad = same, dilation = 2, groups = 4, bias = false)\n"
                           "logits = conv2d(d + upsample(s, 2), 3, 1)\n" TAIL,
          NULL, 0, 60);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        const char *slash = strrchr(argv[1], '/');
        model_dir = slash ? strndup(argv[1], (size_t)(slash - argv[1])) : ".";
    }
    check("conv2d 3x3 same", HEAD(2, 6, 6, 3) "logits = conv2d(image, 3, 3, pad = same)\n" TAIL, NULL, 0, 40);
    check("conv2d stride 2 valid, relu, upsample",
          HEAD(2, 8, 8, 3) "x = relu(conv2d(image, 4, 2, stride = 2))\n"
                           "logits = conv2d(upsample(x, 2), 3, 1)\n" TAIL,
          NULL, 0, 40);
    check("conv2d 2x2 same (extra pad bottom/right), no bias",
          HEAD(1, 5, 7, 3) "x = relu(conv2d(image, 4, 2, pad = same, bias = false))\n"
                           "logits = conv2d(x, 3, 3, pad = same)\n" TAIL,
          NULL, 0, 40);
    check("conv2d 3x3 stride 2 same on odd size",
          HEAD(2, 7, 7, 3) "x = relu(conv2d(image, 4, 3, stride = 2, pad = same))\n"
                           "logits = conv2d(upsample(x, 2), 3, 2)\n" TAIL,
          NULL, 0, 40);
    check("maxpool, upsample, concat skip",
          HEAD(1, 8, 8, 4) "e = relu(conv2d(image, 4, 3, pad = same))\n"
                           "m = relu(conv2d(maxpool(e, 2), 4, 3, pad = same))\n"
                           "logits = conv2d(concat(e, upsample(m, 2)), 4, 1)\n" TAIL,
          NULL, 0, 40);
    check("spatial_dropout (fixed mask within a step)",
          HEAD(2, 6, 6, 3) "e = spatial_dropout(relu(conv2d(image, 6, 3, pad = same)), 0.5)\n"
                           "logits = conv2d(e, 3, 1)\n" TAIL,
          NULL, 0, 40);
    check("add with fan-out",
          HEAD(1, 6, 6, 3) "e = relu(conv2d(image, 4, 3, pad = same))\n"
                           "logits = conv2d(e, 3, 1) + conv2d(e + e, 3, 3, pad = same)\n" TAIL,
          NULL, 0, 40);
    check("cross_entropy with explicit weights and ignored pixels",
          HEAD(1, 5, 5, 3) "logits = conv2d(image, 3, 3, pad = same)\n"
                           "output p = softmax(logits, axis = 1)\n"
                           "loss = cross_entropy(logits, mask, weights = [0.2, 1, 3.5])\n"
                           "minimize loss with sgd(lr = 0.1)\n",
          NULL, 0, 40);
    check("cross_entropy with balanced weights",
          HEAD(1, 5, 5, 4) "logits = conv2d(image, 4, 3, pad = same)\n"
                           "output p = softmax(logits, axis = 1)\n"
                           "loss = cross_entropy(logits, mask, weights = balanced)\n"
                           "minimize loss with sgd(lr = 0.1)\n",
          NULL, 0, 40);
    test_primitives();
    test_unary_functions();
    test_new_ops();
    if (model_dir)
        test_library();
    for (int i = 1; i < argc; i++) {
        size_t read_len;
        char *src = nc_read_file(argv[i], &read_len);
        if (!src) {
            printf("FAIL - cannot read %s\n", argv[i]);
            return 1;
        }
        nc_define defs[] = {{"BASE", "2", 0}, {"SIZE", "16", 0}, {"DEPTH", "2", 0},
                            {"BATCH", "2", 0}, {"CLASSES", "4", 0}};
        char name[512];
        const char *slash = strrchr(argv[i], '/');
        snprintf(name, sizeof name, "models/%s (base 2, 16x16, depth 2)", slash ? slash + 1 : argv[i]);
        check_ex(name, src, defs, 5, 12, NULL, 8);
        free(src);
    }
    printf("%s\n", failures ? "FAILED" : "all gradient checks passed");
    return failures ? 1 : 0;
}
