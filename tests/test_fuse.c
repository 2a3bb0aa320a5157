/* test_fuse.c — netc's fusion of a group norm with the activation after it
 * (compiler/fuse.c): instance and group norms followed by leaky_relu or
 * relu become group_norm_act in every entry, with the activation's slope
 * and the one-pass backward ops in train; a norm whose output something
 * else reads too, a batch norm, and an activation of something else stay
 * as written. */
#include "check.h"
#include "compile.h"

/* The model with body as its hidden layer h (from x, a conv of image). */
static const char *MODEL = "input image : f32[2, 1, 8, 8]\n"
                           "input mask : labels[2, 8, 8] classes 3\n"
                           "x = conv2d(image, 4, 3, pad = same)\n"
                           "%s\n"
                           "logits = conv2d(h, 3, 1)\n"
                           "output prediction = softmax(logits, axis = 1)\n"
                           "minimize cross_entropy(logits, mask) with adam(lr = 0.01)\n";

/* ops of each kind in entry `name` of the graph compiled from body */
static int count_ops(const char *body, const char *name, int *count, float *slope)
{
    char src[2048];
    snprintf(src, sizeof src, MODEL, body);
    nc_unit u;
    nc_options o = {.path = "t.net", .text = src, .len = strlen(src)};
    memset(count, 0, NG_OP_COUNT * sizeof *count);
    if (nc_compile(&u, &o) != 0) {
        printf("# %s: does not compile\n", body);
        nc_unit_free(&u);
        return -1;
    }
    for (int e = 0; e < u.out->n_entries; e++)
        if (!strcmp(u.out->entries[e].name, name))
            for (int i = 0; i < u.out->entries[e].n_nodes; i++) {
                const ng_node *n = &u.out->entries[e].nodes[i];
                count[n->op]++;
                if (n->op == NG_OP_GROUP_NORM_ACT)
                    *slope = n->fa[1];
            }
    nc_unit_free(&u);
    return 0;
}

/* body as a one-line name */
static void named(char *name, size_t len, const char *body, const char *what)
{
    snprintf(name, len, "%s: %s", body, what);
    for (char *p = name; *p; p++)
        if (*p == '\n')
            *p = ';';
}

/* params: the parameters (gamma, beta) the norm has */
static void fused(const char *body, float want_slope, int params)
{
    static const char *const entries[] = {"train", "eval", "infer"};
    for (int e = 0; e < 3; e++) {
        int c[NG_OP_COUNT];
        float slope = -1;
        char name[512], what[64];
        snprintf(what, sizeof what, "fused in %s (slope %g)", entries[e], (double)want_slope);
        named(name, sizeof name, body, what);
        int ok = count_ops(body, entries[e], c, &slope) == 0 && c[NG_OP_GROUP_NORM_ACT] == 1 &&
                 !c[NG_OP_GROUP_NORM] && !c[NG_OP_LEAKY_RELU] && !c[NG_OP_RELU] && slope == want_slope;
        if (e == 0) /* train: the fused backward, and none of the ops it replaces */
            ok = ok && c[NG_OP_GROUP_NORM_ACT_SUMS] == 1 && c[NG_OP_GROUP_NORM_ACT_BWD] == 1 &&
                 c[NG_OP_GROUP_NORM_ACT_PARAM] == params && !c[NG_OP_GROUP_NORM_BWD] &&
                 !c[NG_OP_GROUP_NORM_BWD_GAMMA] && !c[NG_OP_LEAKY_RELU_BWD] && !c[NG_OP_RELU_BWD];
        check(ok, name, "the ops are not as fused");
    }
}

static void not_fused(const char *body, int norm_op, int act_op)
{
    int c[NG_OP_COUNT];
    float slope;
    char name[512];
    named(name, sizeof name, body, "not fused");
    check(count_ops(body, "train", c, &slope) == 0 && !c[NG_OP_GROUP_NORM_ACT] && c[norm_op] == 1 &&
              c[act_op] == 1,
          name, "fused, or the ops are not as written");
}

int main(void)
{
    fused("h = leaky_relu(instance_norm(x))", 0.01f, 2);
    fused("h = leaky_relu(group_norm(x, 2), 0.2)", 0.2f, 2);
    fused("h = relu(group_norm(x, 1, affine = false))", 0.0f, 0);
    fused("y = instance_norm(x)\nh = leaky_relu(y, 0.05)", 0.05f, 2);
    not_fused("y = instance_norm(x)\nh = leaky_relu(y) + y", NG_OP_GROUP_NORM, NG_OP_LEAKY_RELU);
    not_fused("h = leaky_relu(batch_norm(x))", NG_OP_BATCH_NORM, NG_OP_LEAKY_RELU);
    not_fused("h = instance_norm(leaky_relu(x))", NG_OP_GROUP_NORM, NG_OP_LEAKY_RELU);
    return check_done();
}
