/* test_elaborate.c — unit tests of the elaborator: compile-time values,
 * -D overrides, functions with keyword and default arguments, recursion and
 * loops, the names parameters get from the source, shapes, bindings,
 * imports served by a read_file hook.
 * Usage: test_elaborate MODELS_DIR (for models/unet.net). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "util.h"

static int failures, checks;

static void check(int ok, const char *name)
{
    checks++;
    printf("%s - %s\n", ok ? "ok" : "FAIL", name);
    failures += !ok;
}

typedef struct {
    nc_unit cu;
    FILE *errs;
    char err_text[4096];
} unit;

/* Elaborate src (as file "t.net", or path when given); diagnostics are
 * kept in u->err_text.  Returns 0 when it elaborated without errors. */
static int elab(unit *u, const char *path, const char *src, nc_define *defs, int n_defs)
{
    memset(u, 0, sizeof *u);
    u->errs = tmpfile();
    nc_options o = {.path = path, .text = src, .len = strlen(src), .defs = defs, .n_defs = n_defs,
                    .stop_after_elaborate = 1, .diag_out = u->errs};
    int rc = nc_compile(&u->cu, &o);
    rewind(u->errs);
    size_t n = fread(u->err_text, 1, sizeof u->err_text - 1, u->errs);
    u->err_text[n] = 0;
    return rc;
}

static void done(unit *u)
{
    fclose(u->errs);
    nc_unit_free(&u->cu);
}

static const ng_tensor *find(const unit *u, const char *name)
{
    for (size_t t = 0; t < u->cu.g.n_tensors; t++)
        if (!strcmp(u->cu.g.tensors[t].t.name, name))
            return &u->cu.g.tensors[t].t;
    return NULL;
}

static int shape_is(const ng_tensor *t, int ndim, int d0, int d1, int d2, int d3)
{
    const int d[4] = {d0, d1, d2, d3};
    if (!t || t->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (t->dim[i] != d[i])
            return 0;
    return 1;
}

static int count_params(const unit *u, const char *suffix)
{
    int n = 0;
    size_t ls = strlen(suffix);
    for (size_t t = 0; t < u->cu.g.n_tensors; t++) {
        const ng_tensor *x = &u->cu.g.tensors[t].t;
        size_t l = strlen(x->name);
        n += x->role == NG_ROLE_PARAM && l >= ls && !strcmp(x->name + l - ls, suffix);
    }
    return n;
}

#define HEAD "input image : f32[2, 3, 16, 16]\ninput mask : labels[2, 16, 16] classes 4\n"
#define TAIL "output p = softmax(logits, axis = 1)\nloss = cross_entropy(logits, mask)\nminimize loss with sgd(lr = 0.1)\n"

/* Files of an in-memory tree for the read_file hook: path, text; NULL ends. */
static const char *const mem_files[] = {
    "mem/lib/a.net", "import \"b.net\"\ndef twice(x) { return half(x) * 4 }\n",
    "mem/lib/b.net", "def half(x) { return x / 2 }\n",
    "mem/lib/back.net", "import \"../model.net\"\n",
    NULL,
};

static int mem_reads;

static char *mem_read(void *ctx, const char *path, size_t *len)
{
    (void)ctx;
    mem_reads++;
    for (int i = 0; mem_files[i]; i += 2)
        if (!strcmp(mem_files[i], path)) {
            *len = strlen(mem_files[i + 1]);
            return strdup(mem_files[i + 1]);
        }
    errno = ENOENT;
    return NULL;
}

/* nc_options.read_file serves imports; the disk is not read (mem/ does not
 * exist), identities are normalized paths. */
static void test_read_hook(void)
{
    unit u;
    const char *src = "import \"lib/a.net\"\nimport \"lib/./b.net\"\n" HEAD
                      "logits = conv2d(image, twice(2), 1)\n" TAIL;
    nc_options o = {.path = "mem/model.net", .text = src, .len = strlen(src), .read_file = mem_read,
                    .stop_after_elaborate = 1};
    memset(&u, 0, sizeof u);
    u.errs = tmpfile();
    o.diag_out = u.errs;
    mem_reads = 0;
    int rc = nc_compile(&u.cu, &o);
    check(rc == 0 && shape_is(find(&u, "logits.conv1"), 4, 2, 4, 16, 16) && mem_reads == 2,
          "read_file serves imports from memory; lib/./b.net is lib/b.net, read once");
    done(&u);

    const char *cyc = "import \"lib/back.net\"\n" HEAD "logits = conv2d(image, 4, 1)\n" TAIL;
    const char *missing = "import \"lib/none.net\"\n" HEAD "logits = conv2d(image, 4, 1)\n" TAIL;
    const char *const cases[][2] = {
        {cyc, "mem/lib/back.net:1:1: error: import cycle: model.net -> lib/back.net -> model.net"},
        {missing, "mem/model.net:1:1: error: cannot import 'lib/none.net': No such file or directory"},
    };
    for (int i = 0; i < 2; i++) {
        memset(&u, 0, sizeof u);
        u.errs = tmpfile();
        nc_options oc = o;
        oc.text = cases[i][0];
        oc.len = strlen(cases[i][0]);
        oc.diag_out = u.errs;
        rc = nc_compile(&u.cu, &oc);
        rewind(u.errs);
        size_t n = fread(u.err_text, 1, sizeof u.err_text - 1, u.errs);
        u.err_text[n] = 0;
        check(rc != 0 && strstr(u.err_text, cases[i][1]) != NULL,
              i ? "read_file: a missing import is reported" : "read_file: a cycle through ../ is found");
        if (rc == 0 || !strstr(u.err_text, cases[i][1]))
            printf("# %s", u.err_text);
        done(&u);
    }
}

int main(int argc, char **argv)
{
    unit u;

    /* compile-time arithmetic, consts and -D */
    const char *arith = "const A = 7\nconst B = A / 2\nconst C = 6 / 2 * A % 4\nconst D = 2\n" HEAD
                        "logits = conv2d(image, D * 2, 1)\n" TAIL;
    nc_define over[] = {{"D", "3", 0}};
    check(elab(&u, "t.net", arith, NULL, 0) == 0 && shape_is(find(&u, "logits.conv1"), 4, 2, 4, 16, 16),
          "consts and arithmetic size a conv (2*2 = 4 channels)");
    done(&u);
    check(elab(&u, "t.net", arith, over, 1) != 0 && strstr(u.err_text, "logits have 6 channels but the labels have 4"),
          "-D D=3 overrides the const and the shape error says so");
    check(over[0].used, "-D marks the define used");
    done(&u);

    /* functions: keyword and default arguments, scoped names */
    const char *fn = HEAD "def block(x, ch, k = 3, act = true) {\n"
                          "    y = conv2d(x, ch, k, pad = same)\n"
                          "    if act { y = relu(y) }\n"
                          "    return y\n}\n"
                          "enc = block(image, 8)\nmid = block(enc, ch = 8, k = 1, act = false)\n"
                          "logits = conv2d(block(mid, 8), 4, 1)\n" TAIL;
    check(elab(&u, "t.net", fn, NULL, 0) == 0, "functions with keyword and default arguments elaborate");
    check(shape_is(find(&u, "enc.conv1.weight"), 4, 8, 3, 3, 3), "names from the assignment target: enc.conv1.weight 8x3x3x3");
    check(shape_is(find(&u, "mid.conv1.weight"), 4, 8, 8, 1, 1), "keyword k = 1 gives mid.conv1.weight 8x8x1x1");
    check(find(&u, "logits.block.conv1.weight") != NULL, "a nested call is named after its function: logits.block.conv1");
    check(find(&u, "enc.conv1.bias") && find(&u, "enc.conv1.bias")->init == NG_INIT_ZEROS, "biases start at zero");
    check(find(&u, "enc.conv1.weight")->init == NG_INIT_GLOROT_UNIFORM, "the default init is glorot_uniform");
    done(&u);

    /* recursion and loops repeat structure */
    const char *rec = HEAD "def stack(x, n) {\n    if n == 0 { return x }\n"
                           "    return stack(relu(conv2d(x, 4, 3, pad = same)), n - 1)\n}\n"
                           "logits = stack(image, 5)\n" TAIL;
    check(elab(&u, "t.net", rec, NULL, 0) == 0 && count_params(&u, ".weight") == 5, "recursion builds 5 convs");
    done(&u);
    const char *loop = HEAD "x = image\nfor i in 0 .. 3 { x = relu(conv2d(x, 4, 3, pad = same)) }\nlogits = x\n" TAIL;
    check(elab(&u, "t.net", loop, NULL, 0) == 0 && count_params(&u, ".weight") == 3, "a for loop builds 3 convs");
    check(find(&u, "x.conv1.weight") && find(&u, "x_2.conv1.weight") && find(&u, "x_3.conv1.weight"),
          "repeated targets get unique names x, x_2, x_3");
    done(&u);

    /* shapes through the seed's ops */
    const char *ops = HEAD "a = relu(conv2d(image, 4, 3, pad = same))\nb = maxpool(a, 2)\n"
                           "c = relu(conv2d(upsample(b, 2), 4, 2, pad = same))\n"
                           "d = spatial_dropout(concat(a, c), 0.5)\nlogits = conv2d(d, 4, 1)\n" TAIL;
    check(elab(&u, "t.net", ops, NULL, 0) == 0, "maxpool, upsample, 2x2 same conv, concat, dropout elaborate");
    check(shape_is(find(&u, "b.maxpool1"), 4, 2, 4, 8, 8), "maxpool 2 halves H and W");
    check(shape_is(find(&u, "d.concat1"), 4, 2, 8, 16, 16), "concat stacks channels (4 + 4)");
    int dropout_nodes = 0;
    for (size_t i = 0; i < u.cu.g.n_nodes; i++)
        dropout_nodes += u.cu.g.nodes[i].n.op == NG_OP_DROPOUT_MASK;
    check(dropout_nodes == 1, "spatial_dropout draws one (N, C) mask");
    int conv2 = -1;
    for (size_t i = 0; i < u.cu.g.n_nodes; i++)
        if (u.cu.g.nodes[i].n.op == NG_OP_CONV2D && u.cu.g.tensors[u.cu.g.nodes[i].n.in[1]].t.dim[2] == 2)
            conv2 = (int)i;
    check(conv2 >= 0 && u.cu.g.nodes[conv2].n.ia[1] == 0 && u.cu.g.nodes[conv2].n.ia[3] == 1,
          "a 2x2 'same' conv pads 0 on top and 1 at the bottom (TensorFlow)");
    check(u.cu.g.bind.image >= 0 && u.cu.g.bind.labels >= 0 && u.cu.g.bind.classes == 4 && u.cu.g.bind.loss >= 0 &&
              u.cu.g.bind.output >= 0 && u.cu.g.opt == NC_OPT_SGD,
          "bindings: image, labels (4 classes), loss, output, optimizer");
    done(&u);

    /* class weights */
    const char *cw = HEAD "logits = conv2d(image, 4, 1)\noutput p = softmax(logits, axis = 1)\n"
                          "loss = cross_entropy(logits, mask, weights = balanced, clip = [0.5, 20])\n"
                          "minimize loss with adam(lr = 1e-3, clip = 0.01)\n";
    check(elab(&u, "t.net", cw, NULL, 0) == 0 && u.cu.g.bind.class_weights >= 0, "balanced weights bind a class-weight tensor");
    if (u.cu.g.bind.class_weights >= 0) {
        const ng_tensor *w = &u.cu.g.tensors[u.cu.g.bind.class_weights].t;
        check(w->init == NG_INIT_CLASS_WEIGHTS && w->init_arg[1] == 0.5f && w->init_arg[2] == 20.0f,
              "the clip range travels with the weights");
    }
    check(u.cu.g.opt == NC_OPT_ADAM && u.cu.g.opt_fa[0] == 1e-3f && u.cu.g.opt_fa[4] == 0.01f && u.cu.g.opt_fa[1] == 0.9f,
          "adam: lr and clip given, beta1 default 0.9");
    done(&u);

    /* the seed's network at full size and small */
    if (argc > 1) {
        char path[4096];
        snprintf(path, sizeof path, "%s/unet.net", argv[1]);
        size_t len;
        char *src = ng_read_file(path, &len);
        check(src != NULL, "read models/unet.net");
        if (src) {
            check(elab(&u, path, src, NULL, 0) == 0 && count_params(&u, ".weight") == 24,
                  "unet.net at full size: 24 convolutions (the Keras model's 23 + the 3x3 head)");
            const ng_tensor *w = find(&u, "features.deeper.deeper.deeper.deeper.enc.conv2.weight");
            check(shape_is(w, 4, 1024, 1024, 3, 3), "the deepest level has 1024 filters");
            check(shape_is(find(&u, "logits.conv2.weight"), 4, 32, 32, 1, 1), "the head ends in a 1x1 conv to 32");
            done(&u);
            nc_define small[] = {{"BASE", "4", 0}, {"DEPTH", "2", 0}, {"SIZE", "32", 0}};
            check(elab(&u, path, src, small, 3) == 0 && count_params(&u, ".weight") == 14 &&
                      shape_is(find(&u, "features.enc.conv1.weight"), 4, 4, 1, 3, 3),
                  "unet.net -D BASE=4 -D DEPTH=2 -D SIZE=32: 14 convolutions, 4 filters first");
            done(&u);
            free(src);
        }
    }
    test_read_hook();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
