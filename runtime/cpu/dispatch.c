/* dispatch.c — the kernel adapters, one per kernel column of ops.def, and
 * the table that the executor indexes by op. */
#include "dispatch.h"

#include <string.h>

#include "conv.h"
#include "conv_bf16.h"
#include "dist.h"
#include "kernels.h"

typedef void (*kernel_fn)(const nr_kctx *k);

/* Tensor of input slot i, and of the output. */
static const ng_tensor *tin(const nr_kctx *k, int i) { return &k->g->tensors[k->n->in[i]]; }
static const ng_tensor *tout(const nr_kctx *k) { return &k->g->tensors[k->n->out]; }
static int64_t nelem0(const nr_kctx *k) { return ng_tensor_nelem(tin(k, 0)); }

static void conv_geom(const ng_tensor *x, const ng_tensor *w, const ng_tensor *y, const ng_node *n,
                      nr_conv_geom *g)
{
    g->n = x->dim[0];
    g->c = x->dim[1];
    g->h = x->dim[2];
    g->w = x->dim[3];
    g->k = w->dim[0];
    g->kh = w->dim[2];
    g->kw = w->dim[3];
    g->stride = n->ia[0];
    g->pad_t = n->ia[1];
    g->pad_l = n->ia[2];
    g->oh = y->dim[2];
    g->ow = y->dim[3];
    g->dil = ng_conv_dilation(n);
    g->groups = ng_conv_groups(n);
}

/* The geometry of a conv2d, conv2d_bwd_data, conv2d_bwd_filter or
 * conv_transpose2d node. */
static void node_conv_geom(const ng_graph *G, const ng_node *n, nr_conv_geom *g)
{
    const ng_tensor *T = G->tensors;
    switch (n->op) {
    case NG_OP_CONV2D_BWD_DATA: conv_geom(&T[n->out], &T[n->in[1]], &T[n->in[0]], n, g); return;
    case NG_OP_CONV2D_BWD_FILTER: conv_geom(&T[n->in[1]], &T[n->out], &T[n->in[0]], n, g); return;
    case NG_OP_CONV_TRANSPOSE2D: conv_geom(&T[n->out], &T[n->in[1]], &T[n->in[0]], n, g); return;
    default: conv_geom(&T[n->in[0]], &T[n->in[1]], &T[n->out], n, g); return;
    }
}

/* t's dims aligned at the right in 4 (leading 1s): broadcasting's view. */
static void dims4(const ng_tensor *t, int64_t d[4])
{
    for (int k = 0; k < 4; k++) {
        int i = k - (4 - t->ndim);
        d[k] = i >= 0 ? t->dim[i] : 1;
    }
}

/* Element strides of t over the dims of a broadcast output, 0 along the
 * dims where t has size 1 (or none). */
static void bstrides(const ng_tensor *t, int64_t s[4])
{
    int64_t d[4], step = 1;
    dims4(t, d);
    for (int k = 3; k >= 0; k--) {
        s[k] = d[k] == 1 ? 0 : step;
        step *= d[k];
    }
}

/* t as (outer, t->dim[axis], inner) around dim axis. */
static void around(const ng_tensor *t, int axis, int64_t *outer, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (i < axis)
            *outer *= t->dim[i];
        else if (i > axis)
            *inner *= t->dim[i];
    }
}

/* The convolutions take the fast path of conv.c (conv_dw.c for depthwise
 * ones) where it handles the geometry and the CPU, else the im2col
 * reference of kernels.c. */
static void k_conv2d(const nr_kctx *k)
{
    nr_conv_geom g;
    conv_geom(tin(k, 0), tin(k, 1), tout(k), k->n, &g);
    if (k->precision == NR_PREC_BF16 &&
        nr_conv_bf16_fwd(&g, k->in[0], k->in[1], k->in[2], k->n->ia[5], k->y, k->scratch) == 0)
        return;
    if (nr_conv_dw_fwd(&g, k->in[0], k->in[1], k->in[2], k->n->ia[5], k->y) == 0)
        return;
    if (nr_conv_fast_fwd(&g, k->in[0], k->in[1], k->in[2], k->n->ia[5], k->y, k->scratch) == 0)
        return;
    nr_conv2d_fwd(&g, k->in[0], k->in[1], k->in[2], k->y, k->ws);
    if (k->n->ia[5]) /* a fused relu */
        nr_relu_fwd(ng_tensor_nelem(tout(k)), k->y, k->y);
}

static void k_conv2d_bwd_data(const nr_kctx *k) /* dy, w -> dx */
{
    nr_conv_geom g;
    conv_geom(tout(k), tin(k, 1), tin(k, 0), k->n, &g);
    if (k->precision == NR_PREC_BF16 &&
        nr_conv_bf16_bwd_data(&g, k->in[0], k->in[1], k->y, k->scratch) == 0)
        return;
    if (nr_conv_dw_bwd_data(&g, k->in[0], k->in[1], k->y) == 0)
        return;
    if (nr_conv_fast_bwd_data(&g, k->in[0], k->in[1], k->y, k->scratch) == 0)
        return;
    nr_conv2d_bwd_data(&g, k->in[0], k->in[1], k->y, k->ws);
}

static void k_conv2d_bwd_filter(const nr_kctx *k) /* dy, x -> dw */
{
    nr_conv_geom g;
    conv_geom(tin(k, 1), tout(k), tin(k, 0), k->n, &g);
    if (k->precision == NR_PREC_BF16 &&
        nr_conv_bf16_bwd_filter(&g, k->in[0], k->in[1], k->y, k->scratch) == 0)
        return;
    if (nr_conv_dw_bwd_filter(&g, k->in[0], k->in[1], k->y) == 0)
        return;
    if (nr_conv_fast_bwd_filter(&g, k->in[0], k->in[1], k->y, k->scratch) == 0)
        return;
    nr_conv2d_bwd_filter(&g, k->in[0], k->in[1], k->y, k->ws);
}

static void k_conv2d_bwd_bias(const nr_kctx *k) /* dy -> db: only n, k, oh, ow matter */
{
    const ng_tensor *dy = tin(k, 0);
    nr_conv_geom g;
    memset(&g, 0, sizeof g);
    g.n = dy->dim[0];
    g.k = dy->dim[1];
    g.oh = dy->dim[2];
    g.ow = dy->dim[3];
    nr_conv2d_bwd_bias(&g, k->in[0], k->y);
}

static void k_relu(const nr_kctx *k) { nr_relu_fwd(nelem0(k), k->in[0], k->y); }
static void k_relu_bwd(const nr_kctx *k) { nr_relu_bwd(nelem0(k), k->in[0], k->in[1], k->y); }

static void k_maxpool(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    nr_maxpool_fwd(x->dim[0], x->dim[1], x->dim[2], x->dim[3], k->n->ia[0], k->in[0], k->y);
}

static void k_maxpool_bwd(const nr_kctx *k) /* dy, x, y -> dx */
{
    const ng_tensor *dx = tout(k);
    nr_maxpool_bwd(dx->dim[0], dx->dim[1], dx->dim[2], dx->dim[3], k->n->ia[0], k->in[0], k->in[1],
                   k->in[2], k->y);
}

static void k_upsample(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    nr_upsample_fwd(x->dim[0], x->dim[1], x->dim[2], x->dim[3], k->n->ia[0], k->in[0], k->y);
}

static void k_upsample_bwd(const nr_kctx *k)
{
    const ng_tensor *dx = tout(k);
    nr_upsample_bwd(dx->dim[0], dx->dim[1], dx->dim[2], dx->dim[3], k->n->ia[0], k->in[0], k->y);
}

static void k_concat(const nr_kctx *k)
{
    const ng_tensor *y = tout(k);
    int cs[NG_MAX_IN];
    const float *xs[NG_MAX_IN];
    for (int i = 0; i < k->n->n_in; i++) {
        cs[i] = tin(k, i)->dim[1];
        xs[i] = k->in[i];
    }
    nr_concat_fwd(y->dim[0], k->n->n_in, cs, (int64_t)y->dim[2] * y->dim[3], xs, k->y);
}

static void k_slice_channels(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    nr_slice_c(x->dim[0], x->dim[1], k->n->ia[0], tout(k)->dim[1], (int64_t)x->dim[2] * x->dim[3],
               k->in[0], k->y);
}

static void k_dropout_mask(const nr_kctx *k)
{
    const ng_tensor *m = tout(k);
    nr_dropout_mask_at(m->dim[0], m->dim[1], k->n->fa[0], k->seed, (uint64_t)k->step,
                       (uint32_t)k->n->ia[0], (uint64_t)k->rank * (uint64_t)ng_tensor_nelem(m), k->y);
}

static void k_mul_channel(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    nr_mul_channel(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->in[0], k->in[1], k->y);
}

static void k_softmax(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    int64_t outer, inner;
    around(x, k->n->ia[0], &outer, &inner);
    nr_softmax_c(outer, x->dim[k->n->ia[0]], inner, k->in[0], k->y);
}

static void k_log_softmax(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    int64_t outer, inner;
    around(x, k->n->ia[0], &outer, &inner);
    nr_log_softmax(outer, x->dim[k->n->ia[0]], inner, k->in[0], k->y);
}

/* In a train entry over the ranks of a data-parallel job (dist.h,
 * k->collective) the loss is that of the global batch: sum w*nll / sum w,
 * both sums over every rank's pixels; the backward pass divides by the mean
 * weight sum per rank, since the ranks' gradients are averaged. */
static void k_cross_entropy(const nr_kctx *k)
{
    const ng_tensor *lg = tin(k, 0);
    double s[2];
    nr_cross_entropy_sums(lg->dim[0], lg->dim[1], (int64_t)lg->dim[2] * lg->dim[3], k->in[0],
                          (const int32_t *)k->in[1], k->in[2], k->n->ia[0], &s[0], &s[1]);
    if (k->collective)
        nr_dist_sum_f64(s, 2);
    k->y[0] = s[1] != 0.0 ? (float)(s[0] / s[1]) : 0.0f;
}

static void k_cross_entropy_bwd(const nr_kctx *k) /* dloss, logits, labels, w */
{
    const ng_tensor *lg = tin(k, 1);
    int64_t hw = (int64_t)lg->dim[2] * lg->dim[3];
    double wsum = nr_cross_entropy_wsum(lg->dim[0], lg->dim[1], hw, (const int32_t *)k->in[2], k->in[3],
                                        k->n->ia[0]);
    if (k->collective) {
        nr_dist_sum_f64(&wsum, 1);
        wsum /= nr_dist_size();
    }
    nr_cross_entropy_bwd_den(lg->dim[0], lg->dim[1], hw, k->in[0][0], k->in[1], (const int32_t *)k->in[2],
                             k->in[3], k->n->ia[0], wsum, k->y);
}

static void k_batch_sum(const nr_kctx *k)
{
    int64_t n = nelem0(k);
    if (k->y != k->in[0])
        memcpy(k->y, k->in[0], (size_t)n * sizeof(float));
    if (k->collective)
        nr_dist_sum_f32(k->y, n);
}

static void k_binary(const nr_kctx *k)
{
    int64_t d[4], sa[4], sb[4];
    dims4(tout(k), d);
    bstrides(tin(k, 0), sa);
    bstrides(tin(k, 1), sb);
    nr_binary(k->n->op, d, k->in[0], sa, k->in[1], sb, k->y);
}

static void k_unary(const nr_kctx *k)
{
    ng_unary_f32((ng_op)k->n->op, nelem0(k), k->in[0], k->n->fa[0], k->n->fa[1], k->y);
}

static void k_unary_bwd(const nr_kctx *k) /* dy, x or y -> dx */
{
    nr_unary_bwd(k->n->op, nelem0(k), k->in[0], k->in[1], k->n->fa[0], k->n->fa[1], k->y);
}

static void k_reduce_sum(const nr_kctx *k) /* masks count dims from the left of x */
{
    const ng_tensor *x = tin(k, 0);
    int64_t d[4];
    dims4(x, d);
    nr_reduce_sum(d, (unsigned)k->n->ia[0] << (4 - x->ndim), k->n->fa[0], k->in[0], k->y);
}

static void k_expand(const nr_kctx *k) /* ... and of the output here */
{
    const ng_tensor *y = tout(k);
    int64_t d[4];
    dims4(y, d);
    nr_expand(d, (unsigned)k->n->ia[0] << (4 - y->ndim), k->n->fa[0], k->in[0], k->y);
}

static void k_one_hot(const nr_kctx *k)
{
    const ng_tensor *lb = tin(k, 0);
    nr_one_hot(lb->dim[0], k->n->ia[0], (int64_t)lb->dim[1] * lb->dim[2], (const int32_t *)k->in[0],
               k->n->ia[1], k->y);
}

static void k_valid_mask(const nr_kctx *k)
{
    nr_valid_mask(nelem0(k), k->n->ia[0], (const int32_t *)k->in[0], k->n->ia[1], k->y);
}

static void k_reshape(const nr_kctx *k)
{
    memcpy(k->y, k->in[0], (size_t)nelem0(k) * sizeof(float));
}

static void k_slice(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    int axis = k->n->ia[0];
    int64_t outer, inner;
    around(x, axis, &outer, &inner);
    nr_slice(outer, x->dim[axis], k->n->ia[1], tout(k)->dim[axis], inner, k->in[0], k->y);
}

static void k_pad(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    int axis = k->n->ia[0];
    int64_t outer, inner;
    around(x, axis, &outer, &inner);
    nr_pad(outer, tout(k)->dim[axis], k->n->ia[1], x->dim[axis], inner, k->in[0], k->y);
}

/* The update's settings: fa[0] lr unless an lr input is given (a schedule),
 * the gradient scale from a scale input (clip_norm), else 1. */
static nr_opt opt_of(const nr_kctx *k, int first_extra)
{
    nr_opt o = {.lr = k->n->fa[0], .scale = 1.0f};
    if (k->n->n_in > first_extra && k->in[first_extra])
        o.scale = *k->in[first_extra];
    if (k->n->n_in > first_extra + 1 && k->in[first_extra + 1])
        o.lr = *k->in[first_extra + 1];
    return o;
}

static void k_adam(const nr_kctx *k)
{
    const float *fa = k->n->fa;
    nr_opt o = opt_of(k, 4);
    o.beta1 = fa[1], o.beta2 = fa[2], o.eps = fa[3], o.clip = fa[4], o.weight_decay = fa[5];
    o.form = k->n->ia[0], o.decoupled = k->n->ia[1], o.t = k->step + 1;
    nr_adam_step(nelem0(k), k->in[0], k->in[1], k->in[2], k->in[3], &o);
}

static void k_sgd(const nr_kctx *k)
{
    const float *fa = k->n->fa;
    nr_opt o = opt_of(k, 3);
    o.momentum = fa[1], o.clip = fa[2], o.weight_decay = fa[3], o.nesterov = k->n->ia[0];
    nr_sgd_step(nelem0(k), k->in[0], k->in[1], k->in[2], &o);
}

static void k_sumsq(const nr_kctx *k) { *k->y = (float)nr_sum_squares(nelem0(k), k->in[0]); }

/* ---- the ops of kernels_ext.c ------------------------------------------ */

static void k_group_norm(const nr_kctx *k) /* x, gamma?, beta? */
{
    const ng_tensor *x = tin(k, 0);
    nr_group_norm_fwd(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->n->ia[0], k->n->fa[0],
                      k->in[0], k->in[1], k->in[2], k->y);
}

static void k_group_norm_bwd(const nr_kctx *k) /* dy, x, gamma? */
{
    const ng_tensor *x = tin(k, 1);
    nr_group_norm_bwd(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->n->ia[0], k->n->fa[0],
                      k->in[0], k->in[1], k->in[2], k->y);
}

static void k_group_norm_bwd_gamma(const nr_kctx *k) /* dy, x */
{
    const ng_tensor *x = tin(k, 1);
    nr_group_norm_bwd_gamma(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->n->ia[0],
                            k->n->fa[0], k->in[0], k->in[1], k->y, k->ws);
}

static void k_group_norm_act(const nr_kctx *k) /* x, gamma?, beta? */
{
    const ng_tensor *x = tin(k, 0);
    nr_group_norm_act_fwd(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->n->ia[0], k->n->fa[0],
                          k->n->fa[1], k->in[0], k->in[1], k->in[2], k->y);
}

static void k_group_norm_act_sums(const nr_kctx *k) /* dz, z, x */
{
    const ng_tensor *x = tin(k, 2);
    nr_group_norm_act_sums(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->n->ia[0], k->n->fa[0],
                           k->n->fa[1], k->in[0], k->in[1], k->in[2], k->y);
}

static void k_group_norm_act_bwd(const nr_kctx *k) /* dz, z, x, gamma?, s */
{
    const ng_tensor *x = tin(k, 2);
    nr_group_norm_act_bwd(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->n->ia[0], k->n->fa[1],
                          k->in[0], k->in[1], k->in[2], k->in[3], k->in[4], k->y);
}

static void k_group_norm_act_param(const nr_kctx *k) /* s */
{
    const ng_tensor *s = tin(k, 0);
    nr_group_norm_act_param(s->dim[0], s->dim[1], k->n->ia[0], k->in[0], k->y);
}

static void k_batch_norm(const nr_kctx *k) /* x, gamma?, beta?, running */
{
    const ng_tensor *x = tin(k, 0);
    nr_batch_norm_fwd(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->n->fa[0], k->n->ia[0],
                      k->in[0], k->in[1], k->in[2], k->in[3], k->y);
}

static void k_batch_norm_bwd(const nr_kctx *k) /* dy, x, gamma? */
{
    const ng_tensor *x = tin(k, 1);
    nr_batch_norm_bwd(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->n->fa[0], k->in[0],
                      k->in[1], k->in[2], k->y);
}

static void k_batch_norm_bwd_gamma(const nr_kctx *k) /* dy, x */
{
    const ng_tensor *x = tin(k, 1);
    nr_batch_norm_bwd_gamma(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->n->fa[0], k->in[0],
                            k->in[1], k->y);
}

static void k_batch_norm_update(const nr_kctx *k) /* running, x */
{
    const ng_tensor *x = tin(k, 1);
    nr_batch_norm_update(x->dim[0], x->dim[1], (int64_t)x->dim[2] * x->dim[3], k->n->fa[0], k->in[1],
                         k->in[0]);
}

static void k_downsample_labels(const nr_kctx *k)
{
    const ng_tensor *lb = tin(k, 0);
    nr_downsample_labels(lb->dim[0], lb->dim[1], lb->dim[2], k->n->ia[0], (const int32_t *)k->in[0],
                         (int32_t *)k->y);
}

static void k_dropout(const nr_kctx *k)
{
    nr_dropout_apply_at(nelem0(k), k->n->fa[0], k->seed, (uint64_t)k->step, (uint32_t)k->n->ia[0],
                        (uint64_t)k->rank * (uint64_t)nelem0(k), k->in[0], k->y);
}

static void k_avg_pool(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    nr_avg_pool_fwd(x->dim[0], x->dim[1], x->dim[2], x->dim[3], k->n->ia[0], k->in[0], k->y);
}

static void k_avg_pool_bwd(const nr_kctx *k)
{
    const ng_tensor *dx = tout(k);
    nr_avg_pool_bwd(dx->dim[0], dx->dim[1], dx->dim[2], dx->dim[3], k->n->ia[0], k->in[0], k->y);
}

static void k_global_max_pool(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    nr_global_max_pool_fwd(x->dim[0], x->dim[1], x->dim[2], x->dim[3], k->in[0], k->y);
}

static void k_global_max_pool_bwd(const nr_kctx *k) /* dy, x */
{
    const ng_tensor *x = tin(k, 1);
    nr_global_max_pool_bwd(x->dim[0], x->dim[1], x->dim[2], x->dim[3], k->in[0], k->in[1], k->y);
}

static void k_pad2d(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    const int32_t *ia = k->n->ia;
    nr_pad2d_fwd(x->dim[0], x->dim[1], x->dim[2], x->dim[3], ia[0], ia[1], ia[2], ia[3], ia[4], k->in[0], k->y);
}

static void k_pad2d_bwd(const nr_kctx *k)
{
    const ng_tensor *dx = tout(k);
    const int32_t *ia = k->n->ia;
    nr_pad2d_bwd(dx->dim[0], dx->dim[1], dx->dim[2], dx->dim[3], ia[0], ia[1], ia[2], ia[3], ia[4], k->in[0],
                 k->y);
}

static void k_upsample_bilinear(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    nr_upsample_bilinear_fwd(x->dim[0], x->dim[1], x->dim[2], x->dim[3], k->n->ia[0], k->n->ia[1], k->in[0],
                             k->y);
}

static void k_upsample_bilinear_bwd(const nr_kctx *k)
{
    const ng_tensor *dx = tout(k);
    nr_upsample_bilinear_bwd(dx->dim[0], dx->dim[1], dx->dim[2], dx->dim[3], k->n->ia[0], k->n->ia[1],
                             k->in[0], k->y);
}

/* x, w, b?: conv2d's data gradient with x as dy (geometry of that conv2d:
 * its input is y), then the bias */
static void k_conv_transpose2d(const nr_kctx *k)
{
    const ng_tensor *y = tout(k);
    nr_conv_geom g;
    conv_geom(y, tin(k, 1), tin(k, 0), k->n, &g);
    if (!(k->precision == NR_PREC_BF16 &&
          nr_conv_bf16_bwd_data(&g, k->in[0], k->in[1], k->y, k->scratch) == 0) &&
        nr_conv_fast_bwd_data(&g, k->in[0], k->in[1], k->y, k->scratch) != 0)
        nr_conv2d_bwd_data(&g, k->in[0], k->in[1], k->y, k->ws);
    if (k->in[2])
        nr_add_channel_bias(y->dim[0], y->dim[1], (int64_t)y->dim[2] * y->dim[3], k->in[2], k->y);
}

static void k_cumsum(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    int64_t outer, inner;
    around(x, k->n->ia[0], &outer, &inner);
    nr_cumsum(outer, x->dim[k->n->ia[0]], inner, k->n->ia[1], k->in[0], k->y);
}

static void k_argsort(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    int64_t outer, inner;
    around(x, k->n->ia[0], &outer, &inner);
    nr_argsort(outer, x->dim[k->n->ia[0]], inner, k->n->ia[1], k->in[0], (int32_t *)k->y, (int32_t *)k->ws);
}

static void k_gather(const nr_kctx *k)
{
    const ng_tensor *x = tin(k, 0);
    int64_t outer, inner;
    around(x, k->n->ia[0], &outer, &inner);
    if (k->n->op == NG_OP_GATHER)
        nr_gather(outer, x->dim[k->n->ia[0]], inner, k->in[0], (const int32_t *)k->in[1], k->y);
    else
        nr_gather_bwd(outer, x->dim[k->n->ia[0]], inner, k->in[0], (const int32_t *)k->in[1], k->y);
}

static const kernel_fn kernels[NG_OP_COUNT] = {
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs) [NG_OP_##ID] = kernel,
#include "ops.def"
#undef OP
};

void nr_dispatch(const nr_kctx *k)
{
    kernels[k->n->op](k);
}

static int is_conv(const ng_node *n)
{
    return n->op == NG_OP_CONV2D || n->op == NG_OP_CONV2D_BWD_DATA ||
           n->op == NG_OP_CONV2D_BWD_FILTER || n->op == NG_OP_CONV_TRANSPOSE2D;
}

int nr_dispatch_supports(const ng_node *n, int precision)
{
    if (n->op >= NG_OP_COUNT || kernels[n->op] == NULL)
        return 0;
    return precision == NR_PREC_F32 || (precision == NR_PREC_BF16 && is_conv(n) && nr_conv_bf16_available());
}

const char *nr_dispatch_precision_missing(int precision)
{
    if (precision == NR_PREC_BF16 && !nr_conv_bf16_available())
        return "precision bf16 needs AVX512_BF16; running f32";
    return NULL;
}

int64_t nr_dispatch_scratch_bytes(const ng_graph *g, const ng_node *n, int precision)
{
    if (!is_conv(n))
        return 0;
    nr_conv_geom geom;
    node_conv_geom(g, n, &geom);
    const int64_t f32 = nr_conv_fast_ws_elems(&geom);
    const int64_t bf16 = precision == NR_PREC_BF16 ? nr_conv_bf16_ws_elems(&geom) : 0;
    return (f32 > bf16 ? f32 : bf16) * (int64_t)sizeof(float);
}
