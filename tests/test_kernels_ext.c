/* test_kernels_ext.c — what the op table (test_ops.c) does not check of the
 * normalization, pooling, padding, bilinear, dropout, sort and cumsum
 * kernels (runtime/cpu/norm.c, spatial.c, elementwise.c, reduce.c): the backward passes as exact adjoints,
 * reflection and sorting by hand, dropout's statistics, the fused group
 * norm + leaky relu against the two ops and their backward ops, and the same
 * bits on 1 and 3 threads.  One line per check; exit status 1 on failure. */
#include "kernels.h"
#include "netg.h"
#include "kcheck.h"

/* The kernels of kernels_ext.c on 1 and 3 threads: identical bits. */
static void test_ext_thread_invariance(void)
{
    enum { N = 3, C = 8, H = 66, W = 70, G = 4, KERNELS = 18 };
    const int64_t hw = (int64_t)H * W, n = (int64_t)N * C * hw;
    float *x = alloc_rand(n), *dy = alloc_rand(n), *ga = alloc_rand(C), *be = alloc_rand(C);
    float *y = alloc_f(n), *ws = alloc_f(2 * N * G), *out[2][KERNELS];
    int64_t len[KERNELS] = {n, n, n, n, n, C, n, n, C, 2 * C, n, n / 4, n, (int64_t)N * C * (H + 2) * (W + 2),
                            n, 4 * N * C, n, C};
    ng_unary_f32(NG_OP_SIGMOID, n, x, 0, 0, y);
    for (int t = 0; t < 2; t++) {
        nr_kernels_set_threads(t ? 3 : 1);
        for (int k = 0; k < KERNELS; k++)
            out[t][k] = alloc_f(len[k]);
        nr_unary_bwd(NG_OP_SIGMOID_BWD, n, dy, y, 0, 0, out[t][0]);
        nr_unary_bwd(NG_OP_TANH_BWD, n, dy, y, 0, 0, out[t][1]);
        nr_unary_bwd(NG_OP_LEAKY_RELU_BWD, n, dy, x, 0.1f, 0, out[t][2]);
        nr_group_norm_fwd(N, C, hw, G, 1e-5f, x, ga, be, out[t][3]);
        nr_group_norm_bwd(N, C, hw, G, 1e-5f, dy, x, ga, out[t][4]);
        nr_group_norm_bwd_gamma(N, C, hw, G, 1e-5f, dy, x, out[t][5], ws);
        nr_batch_norm_fwd(N, C, hw, 1e-5f, 1, x, ga, be, NULL, out[t][6]);
        nr_batch_norm_bwd(N, C, hw, 1e-5f, dy, x, ga, out[t][7]);
        nr_batch_norm_bwd_gamma(N, C, hw, 1e-5f, dy, x, out[t][8]);
        for (int i = 0; i < 2 * C; i++)
            out[t][9][i] = i < C ? 0.0f : 1.0f;
        nr_batch_norm_update(N, C, hw, 0.1f, x, out[t][9]);
        nr_dropout_apply(n, 0.4f, 3, 4, 5, x, out[t][10]);
        nr_avg_pool_fwd(N, C, H, W, 2, x, out[t][11]);
        nr_upsample_bilinear_bwd(N, C, H / 2, W / 2, 2, 0, dy, out[t][12]);
        nr_pad2d_fwd(N, C, H, W, 1, 1, 1, 1, 1, x, out[t][13]);
        nr_group_norm_act_fwd(N, C, hw, G, 1e-5f, 0.01f, x, ga, be, out[t][14]);
        nr_group_norm_act_sums(N, C, hw, G, 1e-5f, 0.01f, dy, out[t][14], x, out[t][15]);
        nr_group_norm_act_bwd(N, C, hw, G, 0.01f, dy, out[t][14], x, ga, out[t][15], out[t][16]);
        nr_group_norm_act_param(N, C, 1, out[t][15], out[t][17]);
    }
    static const char *const names[KERNELS] = {"sigmoid_bwd", "tanh_bwd", "leaky_relu_bwd", "group_norm",
                                               "group_norm_bwd", "group_norm_bwd_gamma", "batch_norm",
                                               "batch_norm_bwd", "batch_norm_bwd_gamma", "batch_norm_update",
                                               "dropout", "avg_pool", "upsample_bilinear_bwd", "pad2d",
                                               "group_norm_act", "group_norm_act_sums", "group_norm_act_bwd",
                                               "group_norm_act_param"};
    for (int k = 0; k < KERNELS; k++) {
        char name[96];
        snprintf(name, sizeof name, "%s: same bits on 1 and 3 threads", names[k]);
        check(memcmp(out[0][k], out[1][k], (size_t)len[k] * sizeof(float)) == 0, name, "differs");
        free(out[0][k]);
        free(out[1][k]);
    }
    nr_kernels_set_threads(0);
    free(x), free(dy), free(ga), free(be), free(y), free(ws);
}

/* group_norm_act (slope a) against group_norm then leaky_relu, and its
 * backward (sums, dx, the parameters' gradients) against leaky_relu_bwd then
 * group_norm_bwd, group_norm_bwd_gamma and the per-channel sum of dy: the
 * forward gives the same bits; the backward the same arithmetic but for the
 * sums, which the fused ops keep per sample and channel in float. */
static void test_group_norm_act(void)
{
    enum { N = 2, C = 6, H = 9, W = 11, G = 3 };
    const int64_t hw = (int64_t)H * W, n = (int64_t)N * C * hw;
    const float a = 0.1f;
    float *x = alloc_rand(n), *dz = alloc_rand(n), *ga = alloc_rand(C), *be = alloc_rand(C);
    float *z = alloc_f(n), *y = alloc_f(n), *z2 = alloc_f(n), *dy = alloc_f(n), *s = alloc_f(4 * N * C);
    float *dx = alloc_f(n), *dx2 = alloc_f(n), *dg = alloc_f(C), *dg2 = alloc_f(C), *db = alloc_f(C),
          *db2 = alloc_f(C), *ws = alloc_f(2 * N * G);
    nr_group_norm_act_fwd(N, C, hw, G, 1e-5f, a, x, ga, be, z);
    nr_group_norm_fwd(N, C, hw, G, 1e-5f, x, ga, be, y);
    ng_unary_f32(NG_OP_LEAKY_RELU, n, y, a, 0, z2);
    check(memcmp(z, z2, (size_t)n * sizeof *z) == 0, "group_norm_act: group_norm then leaky_relu, bit for bit",
          "differs");
    nr_group_norm_act_sums(N, C, hw, G, 1e-5f, a, dz, z, x, s);
    nr_group_norm_act_bwd(N, C, hw, G, a, dz, z, x, ga, s, dx);
    nr_group_norm_act_param(N, C, 1, s, dg);
    nr_group_norm_act_param(N, C, 0, s, db);
    nr_unary_bwd(NG_OP_LEAKY_RELU_BWD, n, dz, z2, a, 0, dy);
    nr_group_norm_bwd(N, C, hw, G, 1e-5f, dy, x, ga, dx2);
    nr_group_norm_bwd_gamma(N, C, hw, G, 1e-5f, dy, x, dg2, ws);
    for (int c = 0; c < C; c++) {
        double sum = 0;
        for (int b = 0; b < N; b++)
            for (int64_t i = 0; i < hw; i++)
                sum += dy[((int64_t)b * C + c) * hw + i];
        db2[c] = (float)sum;
    }
    check_close("group_norm_act_bwd: leaky_relu_bwd then group_norm_bwd", dx, dx2, n, 1e-3, 1e-5);
    check_close("group_norm_act_param 1: group_norm_bwd_gamma of leaky_relu_bwd", dg, dg2, C, 1e-3, 1e-6);
    check_close("group_norm_act_param 0: the channel sums of leaky_relu_bwd", db, db2, C, 1e-3, 1e-6);
    free(x), free(dz), free(ga), free(be), free(z), free(y), free(z2), free(dy), free(s);
    free(dx), free(dx2), free(dg), free(dg2), free(db), free(db2), free(ws);
}

/* ---- kernels_ext.c: dropout, pooling, padding, bilinear ---------------- */

/* <fwd(x), r> must equal <x, bwd(r)> for a linear op and its adjoint. */
static void check_adjoint(const char *name, const float *x, const float *fx, int64_t nx, const float *r,
                          const float *br, int64_t ny)
{
    double a = dot(fx, r, ny), b = dot(x, br, nx);
    check(fabs(a - b) <= 1e-5 * fmax(1, fabs(a)), name, "<f(x), r> = %.9g but <x, f*(r)> = %.9g", a, b);
}

static void test_spatial_ops(void)
{
    enum { N = 2, C = 3, H = 7, W = 8 };
    const int64_t nx = (int64_t)N * C * H * W;
    float *x = alloc_rand(nx), *bx = alloc_f(nx), *y = alloc_f(nx * 16), *r = alloc_rand(nx * 16);
    /* avg_pool 3 (floor: 2x2 windows of a 7x8 plane) */
    nr_avg_pool_fwd(N, C, H, W, 3, x, y);
    nr_avg_pool_bwd(N, C, H, W, 3, r, bx);
    check_adjoint("avg_pool 3: backward is the adjoint", x, y, nx, r, bx, (int64_t)N * C * 2 * 2);
    /* pad, both modes */
    for (int mode = 0; mode < 2; mode++) {
        int64_t ny = (int64_t)N * C * (H + 2 + 3) * (W + 1 + 4);
        nr_pad2d_fwd(N, C, H, W, 2, 1, 3, 4, mode, x, y);
        nr_pad2d_bwd(N, C, H, W, 2, 1, 3, 4, mode, r, bx);
        check_adjoint(mode ? "pad reflect: backward is the adjoint" : "pad zero: backward is the adjoint", x, y,
                      nx, r, bx, ny);
    }
    /* reflect by hand: row -1 reads row 1, row H reads row H-2 */
    nr_pad2d_fwd(1, 1, H, W, 1, 1, 1, 1, 1, x, y);
    check(y[0] == x[W + 1] && y[(W + 2) * (H + 1) + W + 1] == x[(H - 2) * W + W - 2], "pad reflect by hand",
          "mismatch");
    for (int align = 0; align < 2; align++) {
        int64_t ny = nx * 9;
        nr_upsample_bilinear_fwd(N, C, H, W, 3, align, x, y);
        nr_upsample_bilinear_bwd(N, C, H, W, 3, align, r, bx);
        check_adjoint(align ? "upsample bilinear (align_corners): backward is the adjoint"
                            : "upsample bilinear: backward is the adjoint",
                      x, y, nx, r, bx, ny);
    }
    nr_global_max_pool_fwd(N, C, H, W, x, y);
    nr_global_max_pool_bwd(N, C, H, W, r, x, bx);
    int ok = 1;
    for (int p = 0; p < N * C; p++) {
        float m = x[(int64_t)p * H * W];
        for (int i = 1; i < H * W; i++)
            m = fmaxf(m, x[(int64_t)p * H * W + i]);
        ok &= y[p] == m;
    }
    check(ok, "global_max_pool: the max of each plane", "mismatch");
    check_adjoint("global_max_pool: backward is the adjoint at x", x, y, nx, r, bx, N * C);
    /* dropout: the share dropped, the scale of the kept, the same mask twice */
    enum { ND = 1 << 18 };
    float *ones = alloc_f(ND), *d1 = alloc_f(ND), *d2 = alloc_f(ND);
    for (int i = 0; i < ND; i++)
        ones[i] = 1.0f;
    nr_dropout_apply(ND, 0.3f, 5, 7, 11, ones, d1);
    nr_dropout_apply(ND, 0.3f, 5, 7, 11, ones, d2);
    int zeros = 0, scaled = 1;
    for (int i = 0; i < ND; i++) {
        zeros += d1[i] == 0.0f;
        scaled &= d1[i] == 0.0f || fabsf(d1[i] - 1.0f / 0.7f) < 1e-6f;
    }
    check(fabs(zeros / (double)ND - 0.3) < 0.005 && scaled && memcmp(d1, d2, ND * sizeof *d1) == 0,
          "dropout: 30% dropped, the rest scaled by 1/0.7, the same mask on the same (seed, step, salt)",
          "dropped %d of %d", zeros, ND);
    nr_dropout_apply(ND, 0.3f, 5, 8, 11, ones, d2);
    check(memcmp(d1, d2, ND * sizeof *d1) != 0, "dropout: a new mask at the next step", "same mask");
    free(x), free(bx), free(y), free(r), free(ones), free(d1), free(d2);
}

/* argsort: stable on ties, nan largest, along a strided axis; gather and
 * its adjoint; cumsum both ways */
static void test_sort_cumsum(void)
{
    /* x (2, 5, 2): lines along the middle dim */
    const float nan = NAN;
    float x[20] = {3, 0, 1, 9, nan, 8, 1, 7, 2, 6, 3, 5, 1, 4, 2, 3, 0, 2, 3, 1};
    int32_t idx[20], ws[40];
    nr_argsort(2, 5, 2, 0, x, idx, ws);
    int ok = 1;
    for (int k = 0; k < 5; k++) /* line (o=0, i=0): 3 1 nan 1 2 -> 1 3 4 0 2 (tied 1s in order, nan last) */
        ok &= idx[k * 2] == (int32_t[]){1, 3, 4, 0, 2}[k];
    nr_argsort(2, 5, 2, 1, x, idx, ws);
    for (int k = 0; k < 5; k++) /* descending: nan first, then 3, 2, and the tied 1s in order */
        ok &= idx[k * 2] == (int32_t[]){2, 0, 4, 1, 3}[k];
    check(ok, "argsort: stable on ties, nan largest, strided axis", "wrong permutation");
    float y[20], r[20], bx[20], c[20];
    nr_gather(2, 5, 2, x, idx, y);
    check(y[0] != y[0] && y[2] == 3 && y[4] == 2 && y[8] == 1, "gather through argsort (descending)", "got %g %g %g", y[0], y[2],
          y[8]);
    for (int i = 0; i < 20; i++)
        r[i] = (float)(i % 7) - 3, x[i] = x[i] != x[i] ? 0.5f : x[i];
    nr_gather(2, 5, 2, x, idx, y);
    nr_gather_bwd(2, 5, 2, r, idx, bx);
    check_adjoint("gather_bwd is the adjoint of gather", x, y, 20, r, bx, 20);
    nr_cumsum(2, 5, 2, 0, x, y);
    nr_cumsum(2, 5, 2, 1, r, c);
    check(y[8] == x[0] + x[2] + x[4] + x[6] + x[8] && c[0] == r[0] + r[2] + r[4] + r[6] + r[8],
          "cumsum forward and reverse", "mismatch");
    check_adjoint("reverse cumsum is the adjoint of cumsum", x, y, 20, r, c, 20);
}

int main(void)
{
    nr_kernels_set_threads(0);
    test_sort_cumsum();
    test_spatial_ops();
    test_ext_thread_invariance();
    test_group_norm_act();
    return check_done();
}
