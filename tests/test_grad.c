/* test_grad.c — finite-difference checks of the compiled backward pass.
 * Each case is a small model in the language, compiled with netc's passes
 * (no optimizer: the train entry ends at the gradients) and run by
 * netrun's executor.  For sampled elements of every parameter the analytic
 * gradient must match (L(p+h) - L(p-h)) / 2h.  Usage: test_grad [unet.net] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "elaborate.h"
#include "emit.h"
#include "entry.h"
#include "exec.h"
#include "parse.h"

static int failures;

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
    nc_diag d;
    nc_diag_init(&d, stderr);
    nc_arena a = {0};
    nc_graph g;
    nc_graph_init(&g, &a);
    ng_graph *out = NULL;
    int file = nc_diag_add_file(&d, name, src, strlen(src));
    nc_stmt *prog = nc_parse(&a, &d, file);
    if (d.n_errors || nc_elaborate(&g, &d, prog, defs, n_defs))
        goto done;
    g.opt = NC_OPT_NONE;
    if (nc_autodiff(&g, &d))
        goto done;
    nc_entry e;
    memset(&e, 0, sizeof e);
    e.name = "train";
    e.n_nodes = (int)g.n_nodes;
    e.nodes = calloc(g.n_nodes, sizeof *e.nodes);
    e.src = calloc(g.n_nodes, sizeof *e.src);
    for (size_t i = 0; i < g.n_nodes; i++) {
        e.nodes[i] = g.nodes[i].n;
        e.src[i] = (int)i;
    }
    nc_plan(&g, &e);
    out = nc_emit_graph(&g, &e, 1, name);
    /* map each emitted param to its gradient's emitted id, by name */
    *grad_of_out = malloc((size_t)out->n_tensors * sizeof **grad_of_out);
    *n_out = out->n_tensors;
    for (int t = 0; t < out->n_tensors; t++) {
        (*grad_of_out)[t] = -1;
        for (size_t s = 0; s < g.n_grad_of; s++) {
            if (strcmp(g.tensors[s].t.name, out->tensors[t].name) || g.grad_of[s] < 0)
                continue;
            const char *gn = g.tensors[g.grad_of[s]].t.name;
            for (int u = 0; u < out->n_tensors; u++)
                if (!strcmp(out->tensors[u].name, gn))
                    (*grad_of_out)[t] = u;
        }
    }
    nc_entry_free(&e);
    char err[512];
    if (ng_graph_check(out, err, sizeof err)) {
        printf("FAIL - %s: emitted graph invalid: %s\n", name, err);
        failures++;
    }
done:
    nc_graph_free(&g);
    nc_arena_free(&a);
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

static void check(const char *name, const char *src, nc_define *defs, int n_defs, int samples)
{
    int32_t *grad_of = NULL;
    int n = 0;
    ng_graph *g = compile(name, src, defs, n_defs, &grad_of, &n);
    if (!g) {
        printf("FAIL - %s: does not compile\n", name);
        failures++;
        return;
    }
    char err[512];
    nr_model *m = nr_model_new(g, 7, err, sizeof err);
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
    if (G->bind.class_weights >= 0 && G->tensors[G->bind.class_weights].init == NG_INIT_CLASS_WEIGHTS) {
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
    int bad = 0, checked = 0, kinks = 0;
    double worst = 0;
    for (int t = 0; t < G->n_tensors; t++) {
        if (G->tensors[t].role != NG_ROLE_PARAM)
            continue;
        if (grad_of[t] < 0) {
            printf("FAIL - %s: no gradient for %s\n", name, G->tensors[t].name);
            bad++;
            continue;
        }
        int64_t ne = ng_tensor_nelem(&G->tensors[t]);
        float *p = nr_model_state(m, t);
        run_loss(m);
        float *ga = malloc((size_t)ne * sizeof *ga);
        memcpy(ga, nr_model_tensor(m, "train", grad_of[t]), (size_t)ne * sizeof *ga);
        for (int s = 0; s < samples && s < ne * 2; s++) {
            int64_t i = s < ne && ne <= samples ? s : (int64_t)(urand() * ne);
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
            double noise = 2.4e-7 * (fabs(base) > 1 ? fabs(base) : 1) / (2 * 3e-4);
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
    }
    /* a kink closer than the step to the point fools both step sizes:
     * allow one such sample in fifty */
    if (bad > checked / 50 || kinks > (checked + kinks) / 4) {
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

#define HEAD(c, h, w, k)                                                                                \
    "input image : f32[2, " #c ", " #h ", " #w "]\n"                                                    \
    "input mask : labels[2, " #h ", " #w "] classes " #k "\n"
#define TAIL                                                                                           \
    "output p = softmax(logits, axis = 1)\n"                                                           \
    "loss = cross_entropy(logits, mask)\n"                                                             \
    "minimize loss with sgd(lr = 0.1)\n"

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    fclose(f);
    return s;
}

int main(int argc, char **argv)
{
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
    if (argc > 1) {
        char *src = read_all(argv[1]);
        if (!src) {
            printf("FAIL - cannot read %s\n", argv[1]);
            return 1;
        }
        nc_define defs[] = {{"BASE", "2", 0}, {"SIZE", "16", 0}, {"DEPTH", "2", 0},
                            {"BATCH", "2", 0}, {"CLASSES", "4", 0}};
        check("models/unet.net (base 2, 16x16, depth 2)", src, defs, 5, 12);
        free(src);
    }
    printf("%s\n", failures ? "FAILED" : "all gradient checks passed");
    return failures ? 1 : 0;
}
