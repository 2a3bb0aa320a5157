/* test_grad.c — the gradient checks (suite grad): finite differences of
 * the compiled backward pass, and the losses of models/lib/losses.net.
 * Each case is a small model in the language, compiled with netc's passes
 * (no optimizer: the train entry ends at the gradients) and run by
 * netrun's executor.
 *
 *   test_grad CASE.net            one case of tests/grad/, as its lines
 *                                 "# KEY: VALUE" say (tests/README.md):
 *     # check: NAME               for sampled elements of every parameter the
 *                                 analytic gradient matches (L(p+h) - L(p-h)) / 2h
 *                                 (check_ex); NAME seeds the data and samples
 *       # samples: N              per parameter
 *       # ulps: U                 the loss's rounding noise (default 4)
 *       # frozen: PREFIX          parameters that must get no gradient
 *       # model: PATH             the model is PATH (relative to CASE.net's
 *                                 folder), not CASE.net's own text
 *       # define: NAME=VALUE      a -D of netc for it (repeated)
 *     # compare: NAME             the model above the line "# equals:" and the
 *                                 one below give the same loss and gradients
 *       # tolerance: REL          relative (compare)
 *   test_grad --unary-functions   every unary function of ops.def, found in
 *                                 the table (a new one is checked without a
 *                                 case file)
 *   test_grad --loss-values MODELS  MODELS/lib/losses.net's losses against
 *                                 the formulas evaluated here in double
 *
 * Prints "ok - name" / "FAIL - name: detail" and a last line; exits
 * nonzero on failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "util.h"
#include "cpu.h"
#include "exec.h"

static int failures;

static uint64_t rng = 12345;
static double urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (rng >> 11) * (1.0 / 9007199254740992.0);
}

/* Compile src, a model file at path (imports resolve against its folder;
 * the file need not exist), into a graph whose only entry, "train", runs
 * forward, loss and backward.  Returns NULL after printing diagnostics. */
static ng_graph *compile(const char *path, const char *src, nc_define *defs, int n_defs, int32_t **grad_of_out,
                         int *n_out)
{
    nc_options o = {.path = path, .text = src, .len = strlen(src), .defs = defs, .n_defs = n_defs,
                    .keep_gradients = 1};
    nc_unit u;
    ng_graph *out = NULL;
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
static void check_ex(const char *name, const char *path, const char *src, nc_define *defs, int n_defs, int samples,
                     const char *frozen, double ulps)
{
    rng = hash_name(name);
    int32_t *grad_of = NULL;
    int n = 0;
    ng_graph *g = compile(path, src, defs, n_defs, &grad_of, &n);
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

static int load(loaded *L, const char *name, const char *path, const char *src, float image_scale)
{
    memset(L, 0, sizeof *L);
    ng_graph *g = compile(path, src, NULL, 0, &L->grad_of, &L->n);
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

/* Models a and b, both of the file at path (same parameter names, same
 * inputs), must give the same loss and the same gradient for every
 * parameter, to rel relative error. */
static void compare(const char *name, const char *path, const char *a, const char *b, double rel)
{
    loaded A, B;
    if (!load(&A, name, path, a, 3.0f))
        return;
    if (!load(&B, name, path, b, 3.0f)) {
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
static double loss_on(const char *name, const char *path, const char *src, const float *image,
                      const int32_t *labels)
{
    loaded L;
    if (!load(&L, name, path, src, 1.0f))
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
 * logits against the formulas evaluated here in double.  path: a model file
 * in models/ (it need not exist), so that "lib/losses.net" is found. */
static void test_loss_values(const char *path)
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
        expect_value(hand[i].name, loss_on(hand[i].name, path, src, x, y), hand[i].want, 1e-5);
    }

    /* random, from a seed of their own: 2 images of 4 classes, 5x6, logits in [-3, 3) */
    enum { N = 2, K = 4, HW = 30 };
    rng = hash_name("loss values");
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
        expect_value(name, loss_on(name, path, src, rx, ry), want[i], 1e-5);
    }
}

#define HEAD(c, h, w, k)                                                                                \
    "input image : f32[2, " #c ", " #h ", " #w "]\n"                                                    \
    "input mask : labels[2, " #h ", " #w "] classes " #k "\n"
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
        check_ex(name, "grad_case.net", src, NULL, 0, 40, NULL, 4);
        n++;
    }
    if (n < 4) {
        printf("FAIL - only %d unary functions found in ops.def\n", n);
        failures++;
    }
}

/* ---- the case files of tests/grad/ ------------------------------------- */

/* Into buf, the value of the n-th (0: first) line "# KEY: VALUE" of text,
 * blanks trimmed; NULL when there are fewer. */
static const char *directive(const char *text, const char *key, int n, char *buf, size_t size)
{
    size_t k = strlen(key);
    for (const char *l = text; *l;) {
        size_t len = strcspn(l, "\n");
        if (!strncmp(l, "# ", 2) && !strncmp(l + 2, key, k) && l[2 + k] == ':' && n-- == 0) {
            const char *v = l + 3 + k;
            v += strspn(v, " \t");
            size_t vlen = strcspn(v, "\r\n");
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            snprintf(buf, size, "%.*s", (int)vlen, v);
            return buf;
        }
        l += len + (l[len] == '\n');
    }
    return NULL;
}

/* A "# check:" case; text is the file at path. */
static void check_case(const char *name, const char *path, const char *text)
{
    char v[512];
    int samples = directive(text, "samples", 0, v, sizeof v) ? atoi(v) : 0;
    double ulps = directive(text, "ulps", 0, v, sizeof v) ? atof(v) : 4;
    if (samples <= 0 || ulps <= 0) {
        printf("FAIL - %s: needs '# samples: N' (N > 0); '# ulps: U' must be > 0\n", path);
        failures++;
        return;
    }
    char frozen[512];
    int has_frozen = directive(text, "frozen", 0, frozen, sizeof frozen) != NULL;
    enum { MAX_DEFS = 16 };
    nc_define defs[MAX_DEFS];
    char def[MAX_DEFS][128];
    int n_defs = 0;
    while (n_defs < MAX_DEFS && directive(text, "define", n_defs, def[n_defs], sizeof def[n_defs])) {
        char *eq = strchr(def[n_defs], '=');
        if (!eq) {
            printf("FAIL - %s: '# define: %s' is not NAME=VALUE\n", path, def[n_defs]);
            failures++;
            return;
        }
        *eq = 0;
        defs[n_defs] = (nc_define){.name = def[n_defs], .value = eq + 1};
        n_defs++;
    }
    char model[4096];
    char *src = NULL;
    if (directive(text, "model", 0, v, sizeof v)) { /* relative to the case file's folder */
        const char *slash = strrchr(path, '/');
        snprintf(model, sizeof model, "%.*s%s", slash ? (int)(slash - path + 1) : 0, path, v);
        size_t len;
        if (!(src = ng_read_file(model, &len))) {
            printf("FAIL - %s: cannot read %s\n", path, model);
            failures++;
            return;
        }
        path = model;
    }
    check_ex(name, path, src ? src : text, defs, n_defs, samples, has_frozen ? frozen : NULL, ulps);
    free(src);
}

/* A "# compare:" case: the model above the line "# equals:" against the one
 * below, each compiled with the other's lines blanked (so that diagnostics
 * give the file's line numbers). */
static void compare_case(const char *name, const char *path, const char *text)
{
    char v[64];
    double rel = directive(text, "tolerance", 0, v, sizeof v) ? atof(v) : 0;
    const char *sep = strstr(text, "\n# equals:");
    if (rel <= 0 || !sep) {
        printf("FAIL - %s: a compare case needs '# tolerance: REL' (REL > 0) and a line '# equals:'\n", path);
        failures++;
        return;
    }
    size_t cut = (size_t)(sep + 1 - text), end = cut + strcspn(sep + 1, "\n");
    char *a = strdup(text), *b = strdup(text);
    for (size_t i = cut; a[i]; i++)
        a[i] = a[i] == '\n' ? '\n' : ' ';
    for (size_t i = 0; i < end; i++)
        b[i] = b[i] == '\n' ? '\n' : ' ';
    compare(name, path, a, b, rel);
    free(a);
    free(b);
}

/* The case the file at path describes. */
static void run_case(const char *path)
{
    size_t len;
    char *text = ng_read_file(path, &len), name[512];
    if (!text) {
        printf("FAIL - cannot read %s\n", path);
        failures++;
    } else if (directive(text, "check", 0, name, sizeof name)) {
        check_case(name, path, text);
    } else if (directive(text, "compare", 0, name, sizeof name)) {
        compare_case(name, path, text);
    } else {
        printf("FAIL - %s: no '# check: NAME' or '# compare: NAME' line\n", path);
        failures++;
    }
    free(text);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--unary-functions")) {
        test_unary_functions();
    } else if (argc == 3 && !strcmp(argv[1], "--loss-values")) {
        char path[4096];
        snprintf(path, sizeof path, "%s/grad_case.net", argv[2]);
        test_loss_values(path);
    } else if (argc == 2 && argv[1][0] != '-') {
        run_case(argv[1]);
    } else {
        fprintf(stderr, "usage: test_grad CASE.net | --unary-functions | --loss-values MODELS_DIR\n");
        return 2;
    }
    printf("%s\n", failures ? "FAILED" : "all gradient checks passed");
    return failures ? 1 : 0;
}
