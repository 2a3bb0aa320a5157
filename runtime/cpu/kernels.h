/* kernels.h — netrun's CPU kernels, one function per op of ops.def; layouts
 * NCHW f32, labels (N,H,W) int32.  Kernels never allocate: the caller owns
 * every buffer, including the conv workspace (nr_conv_ws_elems floats).
 * Outputs are overwritten, never accumulated into. */
#ifndef NR_KERNELS_H
#define NR_KERNELS_H

#include <stdint.h>

/* Geometry of one 2-D convolution.  Output rows cover input rows
 * oy*stride - pad_t + ky*dil for ky in 0..kh-1; rows outside 0..h-1 read as
 * 0, so the bottom/right padding is whatever oh/ow imply (TensorFlow 'same'
 * puts the extra row/col of an even kernel there).  With groups G the
 * weight is (K, C/G, KH, KW) and output channel k reads input channels
 * (k / (K/G)) * C/G ..; dil and groups 0 read as 1 (nr_geom_dil,
 * nr_geom_groups), so initializers that stop at ow mean 1 and 1. */
typedef struct { int n, c, h, w;   /* input x (N,C,H,W) */
                 int k, kh, kw;    /* output channels, kernel size */
                 int stride, pad_t, pad_l; /* pad_b/pad_r are implied by oh/ow */
                 int oh, ow;
                 int dil, groups; } nr_conv_geom;

static inline int nr_geom_dil(const nr_conv_geom *g) { return g->dil > 1 ? g->dil : 1; }
static inline int nr_geom_groups(const nr_conv_geom *g) { return g->groups > 1 ? g->groups : 1; }

/* workspace floats needed by the conv kernels below: one im2col band
 * (C*KH*KW, rows*OW) with rows from ng_conv_band_rows (netg.h), or 0 when the
 * conv is 1x1, stride 1, no padding and needs no im2col */
int64_t nr_conv_ws_elems(const nr_conv_geom *g);
/* y(N,K,OH,OW) = conv(x(N,C,H,W), w(K,C/G,KH,KW)) + b(K) */
void nr_conv2d_fwd(const nr_conv_geom *g, const float *x, const float *w,
                   const float *b /*may be NULL*/, float *y, float *ws);
/* dx(N,C,H,W) from dy(N,K,OH,OW), w(K,C/G,KH,KW); dx overwritten */
void nr_conv2d_bwd_data(const nr_conv_geom *g, const float *dy, const float *w,
                        float *dx, float *ws);
/* dw(K,C/G,KH,KW) from dy(N,K,OH,OW), x(N,C,H,W); dw overwritten */
void nr_conv2d_bwd_filter(const nr_conv_geom *g, const float *dy, const float *x,
                          float *dw, float *ws);
/* db(K) = sum of dy(N,K,OH,OW) over N, OH, OW; db overwritten */
void nr_conv2d_bwd_bias(const nr_conv_geom *g, const float *dy, float *db);

/* y = max(x, 0); dx = dy * (y > 0).  All (n). */
void nr_relu_fwd(int64_t n, const float *x, float *y);
void nr_relu_bwd(int64_t n, const float *dy, const float *y, float *dx);

/* y (N,C,H/k,W/k), floor */
void nr_maxpool_fwd(int n, int c, int h, int w, int k, const float *x, float *y);
/* first max in row-major window order gets the gradient; dx overwritten
 * (positions outside the pooled area get 0) */
void nr_maxpool_bwd(int n, int c, int h, int w, int k, const float *dy,
                    const float *x, const float *y, float *dx);

/* x (N,C,H,W) -> y (N,C,H*s,W*s), nearest neighbour */
void nr_upsample_fwd(int n, int c, int h, int w, int s, const float *x, float *y);
/* dx (N,C,H,W) = sums of s*s blocks of dy (N,C,H*s,W*s); h,w are the SMALL sizes */
void nr_upsample_bwd(int n, int c, int h, int w, int s, const float *dy, float *dx);

/* y (N,sum cs,HW) = xs[i] (N,cs[i],HW) stacked along channels; an input
 * that already lies at its place in y (zero-copy plan) is not copied */
void nr_concat_fwd(int n, int n_in, const int *cs, int64_t hw,
                   const float *const *xs, float *y);
/* y (N,CY,HW) = x (N,CX,HW)[:, c0:c0+cy]; nothing is copied when y is
 * that part of x (zero-copy plan) */
void nr_slice_c(int n, int cx, int c0, int cy, int64_t hw, const float *x, float *y);

/* mask (N,C): 0 w.p. p else 1/(1-p); a pure function of (seed, step, salt,
 * index) through a splitmix64 counter hash */
void nr_dropout_mask(int n, int c, float p, uint64_t seed, uint64_t step,
                     uint32_t salt, float *mask);
/* The same with the indices counted from first: the entries first.. of
 * the mask of a larger batch (a data-parallel rank's share, dist.h). */
void nr_dropout_mask_at(int n, int c, float p, uint64_t seed, uint64_t step,
                        uint32_t salt, uint64_t first, float *mask);
/* y (N,C,HW) = x (N,C,HW) * m (N,C) broadcast over HW */
void nr_mul_channel(int n, int c, int64_t hw, const float *x, const float *m, float *y);
/* y (N,C,HW) = softmax over C of x (N,C,HW), max-subtracted; any axis of
 * any tensor is (N = dims before it, C = it, HW = dims after it) */
void nr_softmax_c(int64_t n, int c, int64_t hw, const float *x, float *y);
/* y (N,C,HW) = log softmax over C = x - max - log(sum exp(x - max)) */
void nr_log_softmax(int64_t n, int c, int64_t hw, const float *x, float *y);

/* y (N,C,HW) = 1 where labels (N,HW) == c, else 0 (all 0 at a label that is
 * `ignore` or outside [0,c)) */
void nr_one_hot(int n, int c, int64_t hw, const int32_t *labels, int ignore, float *y);
/* y (n) = 1 where labels (n) is in [0,c) and not `ignore`, else 0 */
void nr_valid_mask(int64_t n, int c, const int32_t *labels, int ignore, float *y);

/* y (OUTER,COUNT,INNER) = x (OUTER,D,INNER)[:, start:start+count] */
void nr_slice(int64_t outer, int64_t d, int64_t start, int64_t count, int64_t inner,
              const float *x, float *y);
/* The adjoint: y (OUTER,D,INNER) = 0 except y[:, start:start+count] = x
 * (OUTER,COUNT,INNER) */
void nr_pad(int64_t outer, int64_t d, int64_t start, int64_t count, int64_t inner,
            const float *x, float *y);

/* weighted mean CE, PyTorch CrossEntropyLoss(weight=w, ignore_index=ignore)
 * semantics; logits (N,C,HW), labels (N,HW), w (C) may be NULL = all ones;
 * labels outside [0,c) that are not `ignore` are treated as ignored.
 * Returns the loss; 0 when the weight sum is 0.  Accumulates in double. */
float nr_cross_entropy_fwd(int n, int c, int64_t hw, const float *logits,
                           const int32_t *labels, const float *w, int ignore);
/* dlogits (N,C,HW) = dloss * d(loss)/d(logits); dlogits overwritten */
void nr_cross_entropy_bwd(int n, int c, int64_t hw, float dloss, const float *logits,
                          const int32_t *labels, const float *w, int ignore,
                          float *dlogits);
/* The parts of a data-parallel cross-entropy (dist.h): the sums of w*nll
 * and of w over the pixels (the loss is their ratio after summing them
 * over the ranks), the weight sum alone, and the backward pass with the
 * denominator given (dlogits = dloss * w * (softmax - onehot) / den). */
void nr_cross_entropy_sums(int n, int c, int64_t hw, const float *logits, const int32_t *labels,
                           const float *w, int ignore, double *loss, double *wsum);
double nr_cross_entropy_wsum(int n, int c, int64_t hw, const int32_t *labels, const float *w, int ignore);
void nr_cross_entropy_bwd_den(int n, int c, int64_t hw, float dloss, const float *logits,
                              const int32_t *labels, const float *w, int ignore, double den,
                              float *dlogits);

/* Broadcasting binary op (op: NG_OP_ADD, SUB, MUL or DIV):
 * y (D0,D1,D2,D3) = a op b, where sa and sb are the element strides of a and
 * b along each dim of y (0 along a dim they are broadcast over).  y may be a
 * or b when that input has y's size (in place). */
void nr_binary(int op, const int64_t d[4], const float *a, const int64_t sa[4],
               const float *b, const int64_t sb[4], float *y);
/* The UNARY rows of ops.def (neg, exp, log, ...) are one kernel,
 * ng_unary_f32 (netg.h), generated from their expressions; the backward ops
 * of the UNARY_DX rows (pow_bwd, sigmoid_bwd, ...) another,
 * ng_unary_bwd_f32, from their derivatives, which this runs in chunks on the
 * thread pool: dx (n) from dy (n) and v (n), x or y as the row reads; a, b
 * the node's fa[0], fa[1].  dx may be dy or v (in place). */
void nr_unary_bwd(int op, int64_t n, const float *dy, const float *v, float a, float b, float *dx);

/* y = scale * sum of x (D0,D1,D2,D3) over the dims whose bit k is set in
 * mask; y holds the other dims in order.  Accumulates in double. */
void nr_reduce_sum(const int64_t d[4], unsigned mask, float scale, const float *x, float *y);
/* The adjoint: y (D0,D1,D2,D3) = scale * x broadcast along the dims in mask,
 * x holding the other dims in order. */
void nr_expand(const int64_t d[4], unsigned mask, float scale, const float *x, float *y);

/* One optimizer update's settings (ops.def ADAM, SGD; kernels_optim.c).
 * The gradient element used is g' = g * scale (global norm clipping; 1:
 * none), clamped to [-clip, clip] when clip > 0 (Keras clipvalue), plus
 * weight_decay * p for L2 weight decay (sgd; adam unless decoupled). */
enum { NR_ADAM_KERAS = 0, NR_ADAM_PYTORCH = 1 };
typedef struct {
    float lr;            /* this step's learning rate */
    float beta1, beta2, eps; /* adam */
    float momentum;      /* sgd, in [0, 1) */
    float clip;          /* > 0: clipvalue; 0: none */
    float weight_decay;  /* >= 0 */
    float scale;         /* gradient scale, 1: none */
    int form;            /* adam: NR_ADAM_KERAS or NR_ADAM_PYTORCH */
    int decoupled;       /* adam: p *= 1 - lr*weight_decay first (AdamW) */
    int nesterov;        /* sgd */
    int64_t t;           /* adam: the step, from 1 */
} nr_opt;

/* Adam, p, g, m, v all (n); p, m, v updated in place.  m = b1*m + (1-b1)*g';
 * v = b2*v + (1-b2)*g'^2; then the keras form (TF/Keras): lr_t =
 * lr*sqrt(1-b2^t)/(1-b1^t), p -= lr_t * m / (sqrt(v) + eps); the pytorch
 * form (torch.optim.Adam/AdamW): p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). */
void nr_adam_step(int64_t n, float *p, const float *g, float *m, float *v, const nr_opt *o);
/* SGD as torch.optim.SGD (dampening 0), p, g, v all (n), in place:
 * v = momentum*v + g'; p -= lr * (nesterov ? g' + momentum*v : v). */
void nr_sgd_step(int64_t n, float *p, const float *g, float *v, const nr_opt *o);
/* The keras-form Adam and plain SGD with clipvalue only (scale 1, no weight decay). */
void nr_adam(int64_t n, float *p, const float *g, float *m, float *v, float lr,
             float b1, float b2, float eps, float clip, int64_t t);
void nr_sgd(int64_t n, float *p, const float *g, float *v, float lr,
            float momentum, float clip);
/* The sum of x[i]^2 over x (n), in double. */
double nr_sum_squares(int64_t n, const float *x);

/* Number of threads used by the kernels and OpenBLAS; 0 = all cores. */
void nr_kernels_set_threads(int n);
/* The thread count the kernels use. */
int nr_kernels_threads(void);

/* ---- kernels_ext.c: normalization ------------------------------------- */

/* Group normalization of x (N,C,HW) with g groups (c % g == 0): per sample
 * and group, over its c/g channels, mean and biased variance in double;
 * y = (x - mean) / sqrt(var + eps) * gamma (C) + beta (C), gamma/beta NULL
 * meaning 1 and 0.  Each (sample, group) is one task: thread-invariant. */
void nr_group_norm_fwd(int n, int c, int64_t hw, int g, float eps, const float *x,
                       const float *gamma, const float *beta, float *y);
/* dx (N,C,HW) from dy (N,C,HW), x and gamma (C, NULL: ones): with
 * d = dy * gamma and xhat the normalized x, per group
 * dx = rstd * (d - mean(d) - xhat * mean(d * xhat)); dx overwritten */
void nr_group_norm_bwd(int n, int c, int64_t hw, int g, float eps, const float *dy,
                       const float *x, const float *gamma, float *dx);
/* dgamma (C) = sum over n, hw of dy * xhat; ws holds 2*N*G floats */
void nr_group_norm_bwd_gamma(int n, int c, int64_t hw, int g, float eps, const float *dy,
                             const float *x, float *dgamma, float *ws);

/* The fused group normalization and activation (ops.def GROUP_NORM_ACT):
 * y = act(group_norm(x)), act(v) = v > 0 ? v : slope * v (slope 0: ReLU,
 * 1: the identity).  Statistics as nr_group_norm_fwd's. */
void nr_group_norm_act_fwd(int n, int c, int64_t hw, int g, float eps, float slope, const float *x,
                           const float *gamma, const float *beta, float *y);
/* s (N,C,4): per sample and channel, the sum of d and of d * xhat, then the
 * group's mean and 1/sqrt(var + eps), where d = dz where z > 0, slope * dz
 * elsewhere (dz, z, x (N,C,HW); z the forward's output) */
void nr_group_norm_act_sums(int n, int c, int64_t hw, int g, float eps, float slope, const float *dz,
                            const float *z, const float *x, float *s);
/* dx (N,C,HW) = rstd * (d * gamma - mean(d * gamma) - xhat * mean(d * gamma
 * * xhat)) over each group, from s of nr_group_norm_act_sums */
void nr_group_norm_act_bwd(int n, int c, int64_t hw, int g, float slope, const float *dz, const float *z,
                           const float *x, const float *gamma, const float *s, float *dx);
/* dp (C) = the sum over samples of s[:, :, which]: which 0 dbeta, 1 dgamma */
void nr_group_norm_act_param(int n, int c, int which, const float *s, float *dp);

/* Batch normalization of x (N,C,HW) per channel.  train: over the batch,
 * mean and biased variance in double; else mean = running[c], var =
 * running[C + c] (running (2,C)).  y = (x - mean) / sqrt(var + eps) * gamma
 * + beta, gamma/beta NULL meaning 1 and 0.  One task per channel. */
void nr_batch_norm_fwd(int n, int c, int64_t hw, float eps, int train, const float *x,
                       const float *gamma, const float *beta, const float *running, float *y);
/* dx (N,C,HW) of the train-mode forward from dy, x, gamma (NULL: ones) */
void nr_batch_norm_bwd(int n, int c, int64_t hw, float eps, const float *dy, const float *x,
                       const float *gamma, float *dx);
/* dgamma (C) = sum over n, hw of dy * xhat (batch statistics) */
void nr_batch_norm_bwd_gamma(int n, int c, int64_t hw, float eps, const float *dy, const float *x,
                             float *dgamma);
/* running (2,C) = (1 - momentum) * running + momentum * (batch mean,
 * unbiased batch variance) of x (N,C,HW), n*hw > 1, in place (PyTorch) */
void nr_batch_norm_update(int n, int c, int64_t hw, float momentum, const float *x, float *running);

/* y (N,H/k,W/k) = labels (N,H,W) at the top-left pixel of each k x k block */
void nr_downsample_labels(int n, int h, int w, int k, const int32_t *labels, int32_t *y);

/* y (n) = x * mask, mask 0 with probability p else 1/(1-p), a pure function
 * of (seed, step, salt, index) (element-wise dropout; the same call on dy
 * gives its gradient).  y may be x. */
void nr_dropout_apply(int64_t n, float p, uint64_t seed, uint64_t step, uint32_t salt, const float *x,
                      float *y);
/* The same with the indices counted from first (as nr_dropout_mask_at). */
void nr_dropout_apply_at(int64_t n, float p, uint64_t seed, uint64_t step, uint32_t salt, uint64_t first,
                         const float *x, float *y);
/* y (N,C,H/k,W/k) = mean over k*k windows (stride k, floor) of x (N,C,H,W);
 * dx (N,C,H,W) = dy / k^2 spread over each window, 0 outside them */
void nr_avg_pool_fwd(int n, int c, int h, int w, int k, const float *x, float *y);
void nr_avg_pool_bwd(int n, int c, int h, int w, int k, const float *dy, float *dx);
/* y (N,C) = max over each plane of x (N,C,H,W); dx (N,C,H,W) = dy at the
 * plane's first maximum, 0 elsewhere */
void nr_global_max_pool_fwd(int n, int c, int h, int w, const float *x, float *y);
void nr_global_max_pool_bwd(int n, int c, int h, int w, const float *dy, const float *x, float *dx);
/* y (N,C,H+pt+pb,W+pl+pr) = x (N,C,H,W) padded, mode 0 zeros, 1 reflect
 * (PyTorch's: pads < H, W); dx (N,C,H,W) = the adjoint (sums) */
void nr_pad2d_fwd(int n, int c, int h, int w, int pt, int pl, int pb, int pr, int mode, const float *x,
                  float *y);
void nr_pad2d_bwd(int n, int c, int h, int w, int pt, int pl, int pb, int pr, int mode, const float *dy,
                  float *dx);
/* y (N,C,H*s,W*s) = bilinear upsampling of x (N,C,H,W) as PyTorch's
 * F.interpolate(scale_factor = s, mode = 'bilinear', align_corners); dx the
 * adjoint (h, w: the small sizes) */
void nr_upsample_bilinear_fwd(int n, int c, int h, int w, int s, int align, const float *x, float *y);
void nr_upsample_bilinear_bwd(int n, int c, int h, int w, int s, int align, const float *dy, float *dx);

/* y (N,C,HW) += b (C) broadcast over N and HW */
void nr_add_channel_bias(int n, int c, int64_t hw, const float *b, float *y);

/* Along the middle dim of (OUTER, D, INNER): y = cumulative sum of x from
 * the start (reverse 0) or the end (1), in double */
void nr_cumsum(int64_t outer, int64_t d, int64_t inner, int reverse, const float *x, float *y);
/* idx (OUTER, D, INNER) = the stable permutation sorting each line of x
 * (ascending, or descending), nan largest; ws: 2 * OUTER*D*INNER int32s */
void nr_argsort(int64_t outer, int64_t d, int64_t inner, int descending, const float *x, int32_t *idx,
                int32_t *ws);
/* y[o, j, i] = x[o, idx[o, j, i], i] (0 for an index outside 0..D-1) */
void nr_gather(int64_t outer, int64_t d, int64_t inner, const float *x, const int32_t *idx, float *y);
/* dx = 0, then dx[o, idx[o, j, i], i] += dy[o, j, i] (outside indices skipped) */
void nr_gather_bwd(int64_t outer, int64_t d, int64_t inner, const float *dy, const int32_t *idx, float *dx);

#endif
