/* test_optim.c — what netc makes of the optimizer of `minimize` (compiler/
 * optim.c, autodiff.c append_optimizer): the update ops' attributes for
 * every optimizer and form, positional arguments in the original order;
 * without clip_norm or a schedule the same graph, plan and arena as a plain
 * constant lr; with clip_norm one sumsq per parameter and every update
 * after the last of them; with a schedule the step and total_steps inputs,
 * the lr input of every update and no schedule op outside train. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "compile.h"

static int failures, checks;

static void check(int ok, const char *name)
{
    checks++;
    printf("%s - %s\n", ok ? "ok" : "FAIL", name);
    failures += !ok;
}

static const char *MODEL = "input image : f32[2, 1, 8, 8]\n"
                           "input mask : labels[2, 8, 8] classes 3\n"
                           "h = relu(conv2d(image, 4, 3, pad = same))\n"
                           "logits = conv2d(h, 3, 1)\n"
                           "output prediction = softmax(logits, axis = 1)\n"
                           "minimize cross_entropy(logits, mask) with %s\n";

/* Compile MODEL with the optimizer text; NULL on an error (printed). */
static ng_graph *compile(nc_unit *u, const char *opt)
{
    static char src[2048];
    snprintf(src, sizeof src, MODEL, opt);
    memset(u, 0, sizeof *u);
    nc_options o = {.path = "t.net", .text = src, .len = strlen(src)};
    if (nc_compile(u, &o) != 0) {
        printf("# %s: does not compile\n", opt);
        return NULL;
    }
    return u->out;
}

static const ng_entry *entry(const ng_graph *g, const char *name)
{
    for (int e = 0; e < g->n_entries; e++)
        if (!strcmp(g->entries[e].name, name))
            return &g->entries[e];
    return NULL;
}

/* The first update node of the train entry, and how many there are. */
static const ng_node *first_update(const ng_graph *g, int *count)
{
    const ng_entry *e = entry(g, "train");
    const ng_node *first = NULL;
    *count = 0;
    for (int i = 0; e && i < e->n_nodes; i++)
        if (e->nodes[i].op == NG_OP_ADAM || e->nodes[i].op == NG_OP_SGD) {
            first = first ? first : &e->nodes[i];
            ++*count;
        }
    return first;
}

static int count_op(const ng_entry *e, int op)
{
    int n = 0;
    for (int i = 0; e && i < e->n_nodes; i++)
        n += e->nodes[i].op == op;
    return n;
}

static void test_attributes(void)
{
    static const struct {
        const char *opt;
        int op, n_in, ia0, ia1;
        float fa[6];
    } cases[] = {
        {"adam", NG_OP_ADAM, 4, 0, 0, {0.001f, 0.9f, 0.999f, 1e-7f, 0, 0}},
        {"adam(0.01, 0.8, 0.99, 1e-6, 0.5)", NG_OP_ADAM, 4, 0, 0, {0.01f, 0.8f, 0.99f, 1e-6f, 0.5f, 0}},
        {"adam(lr = 0.01, form = pytorch, weight_decay = 0.1)", NG_OP_ADAM, 4, 1, 0,
         {0.01f, 0.9f, 0.999f, 1e-8f, 0, 0.1f}},
        {"adamw", NG_OP_ADAM, 4, 1, 1, {0.001f, 0.9f, 0.999f, 1e-8f, 0, 0.01f}},
        {"adamw(2e-3, 0.85, 0.95, 1e-6, 0.2, clip = 0.3)", NG_OP_ADAM, 4, 1, 1,
         {2e-3f, 0.85f, 0.95f, 1e-6f, 0.3f, 0.2f}},
        {"sgd", NG_OP_SGD, 3, 0, 0, {0.01f, 0, 0, 0}},
        {"sgd(0.1, 0.9, 0.5)", NG_OP_SGD, 3, 0, 0, {0.1f, 0.9f, 0.5f, 0}},
        {"sgd(lr = 0.1, momentum = 0.99, nesterov = true, weight_decay = 3e-5)", NG_OP_SGD, 3, 1, 0,
         {0.1f, 0.99f, 0, 3e-5f}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nc_unit u;
        ng_graph *g = compile(&u, cases[c].opt);
        int n = 0;
        const ng_node *up = g ? first_update(g, &n) : NULL;
        int ok = up && n == 4 && up->op == cases[c].op && up->n_in == cases[c].n_in &&
                 up->ia[0] == cases[c].ia0 && up->ia[1] == cases[c].ia1 && g->bind.step < 0 &&
                 g->bind.total_steps < 0;
        for (int i = 0; ok && i < 6; i++)
            ok = up->fa[i] == cases[c].fa[i];
        char name[160];
        snprintf(name, sizeof name, "%s: one update per parameter with its attributes", cases[c].opt);
        check(ok, name);
        nc_unit_free(&u);
    }
}

/* Without clip_norm and a schedule, the zero settings change nothing. */
static void test_same_plan(void)
{
    nc_unit a, b;
    ng_graph *ga = compile(&a, "adam(lr = 1e-3, clip = 0.01)");
    ng_graph *gb = compile(&b, "adam(lr = 1e-3, clip = 0.01, clip_norm = 0, weight_decay = 0, form = keras)");
    int same = ga && gb && ga->n_entries == gb->n_entries && ga->n_tensors == gb->n_tensors;
    for (int e = 0; same && e < ga->n_entries; e++) {
        const ng_entry *x = &ga->entries[e], *y = &gb->entries[e];
        same = x->n_nodes == y->n_nodes && x->arena_bytes == y->arena_bytes &&
               !memcmp(x->nodes, y->nodes, (size_t)x->n_nodes * sizeof *x->nodes) &&
               !memcmp(x->offset, y->offset, (size_t)ga->n_tensors * sizeof *x->offset);
    }
    check(same, "clip_norm = 0 and the default form: the same nodes, offsets and arena");
    nc_unit_free(&a);
    nc_unit_free(&b);
}

static void test_clip_norm(void)
{
    nc_unit u, p;
    ng_graph *g = compile(&u, "sgd(lr = 0.1, momentum = 0.9, clip_norm = 12)");
    ng_graph *plain = compile(&p, "sgd(lr = 0.1, momentum = 0.9)");
    const ng_entry *e = g ? entry(g, "train") : NULL;
    int last_sumsq = -1, first_up = -1, scale = -1, ok = e != NULL;
    for (int i = 0; e && i < e->n_nodes; i++) {
        const ng_node *n = &e->nodes[i];
        if (n->op == NG_OP_SUMSQ)
            last_sumsq = i;
        if (n->op == NG_OP_SGD) {
            first_up = first_up < 0 ? i : first_up;
            ok = ok && n->n_in == 5 && n->in[4] == -1 && (scale < 0 || n->in[3] == scale);
            scale = n->in[3];
        }
    }
    check(ok && count_op(e, NG_OP_SUMSQ) == 4 && scale >= 0 && !strcmp(g->tensors[scale].name, "clip_norm.scale"),
          "clip_norm: a sumsq per parameter; every update reads clip_norm.scale and no lr input");
    check(ok && last_sumsq >= 0 && first_up > last_sumsq, "clip_norm: the updates run after the last sumsq");
    check(ok && plain && count_op(entry(plain, "train"), NG_OP_SUMSQ) == 0 &&
              entry(g, "eval")->n_nodes == entry(plain, "eval")->n_nodes,
          "clip_norm: nothing of it without it, nor in eval");
    nc_unit_free(&u);
    nc_unit_free(&p);
}

static void test_schedule(void)
{
    nc_unit u;
    ng_graph *g = compile(&u, "adam(lr = poly(1e-2, power = 0.9, warmup = 10), form = pytorch)");
    int n = 0;
    const ng_node *up = g ? first_update(g, &n) : NULL;
    int ok = up && up->n_in == 6 && up->in[4] == -1 && up->in[5] >= 0 && up->fa[0] == 0 &&
             g->bind.step >= 0 && g->bind.total_steps >= 0 &&
             g->tensors[g->bind.step].role == NG_ROLE_INPUT && g->tensors[g->bind.step].ndim == 0;
    check(ok, "a schedule: step and total_steps are f32 scalar inputs, every update reads its lr");
    check(ok && g->bind.optimizer &&
              !strcmp(g->bind.optimizer, "adam(lr = poly(0.01, power = 0.9, warmup = 10), beta1 = 0.9, "
                                         "beta2 = 0.999, eps = 1e-08, weight_decay = 0, clip = 0, "
                                         "clip_norm = 0, form = pytorch)"),
          "a schedule: the optimizer's description for netrun info");
    check(ok && count_op(entry(g, "eval"), NG_OP_POW) == 0 && count_op(entry(g, "infer"), NG_OP_POW) == 0 &&
              count_op(entry(g, "train"), NG_OP_POW) == 1,
          "a schedule: its ops run in train only");
    nc_unit_free(&u);
    /* `step` bound to a number is that number, not the counter */
    char src[1024];
    snprintf(src, sizeof src, "step = 3\n%s", MODEL);
    char full[2048];
    snprintf(full, sizeof full, src, "sgd(lr = 0.1 * step)");
    memset(&u, 0, sizeof u);
    nc_options o = {.path = "t.net", .text = full, .len = strlen(full)};
    ok = nc_compile(&u, &o) == 0 && u.out->bind.step < 0;
    const ng_node *s = ok ? first_update(u.out, &n) : NULL;
    check(s && fabsf(s->fa[0] - 0.3f) < 1e-7f, "a variable named step hides the counter");
    nc_unit_free(&u);
}

int main(void)
{
    test_attributes();
    test_same_plan();
    test_clip_norm();
    test_schedule();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
