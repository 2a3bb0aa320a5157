/* conv.c — fast convolutions (conv.h): which geometries and algorithms, the
 * packing and Winograd transform of the weights, the lane masks of each
 * geometry (built once, cached), the split of the work into nr_par_for
 * tasks, and the choice of SIMD kernels (conv_isa.h). */
#include "conv.h"
#include "conv_isa.h"
#include "parallel.h"

#include <stdlib.h>
#include <string.h>

/* ---- SIMD choice -------------------------------------------------------- */

static int nr_conv_isa_best(void)
{
#ifdef NR_CONV_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return NR_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NR_ISA_AVX2;
#endif
    return NR_ISA_GENERIC;
}

static int isa_now = -1;            /* -1: not chosen yet */
static int algo_now = NR_CONV_AUTO;

int nr_conv_isa(void)
{
    if (isa_now < 0) {
        const char *e = getenv("NETRUN_ISA");
        int isa = nr_conv_isa_best();
        if (e && !strcmp(e, "avx2") && isa > NR_ISA_AVX2)
            isa = NR_ISA_AVX2;
        else if (e && !strcmp(e, "generic"))
            isa = NR_ISA_GENERIC;
        isa_now = isa;
    }
    return isa_now;
}

int nr_conv_set_isa(int isa)
{
    const int best = nr_conv_isa_best();
    isa_now = isa < NR_ISA_GENERIC ? NR_ISA_GENERIC : isa > best ? best : isa;
    return isa_now;
}

const char *nr_conv_isa_name(int isa)
{
    return isa == NR_ISA_AVX512 ? "avx512" : isa == NR_ISA_AVX2 ? "avx2" : "generic";
}

void nr_conv_set_algo(int algo)
{
    algo_now = algo;
}

static const nr_conv_ops *nr_conv_ops_now(void)
{
    switch (nr_conv_isa()) {
#ifdef NR_CONV_X86
    case NR_ISA_AVX512: return &nr_conv_avx512_ops;
    case NR_ISA_AVX2: return &nr_conv_avx2_ops;
#endif
    default: return NULL;
    }
}

/* ---- geometry and algorithm -------------------------------------------- */

/* The geometries of conv.h, any number of channels. */
static int nr_conv_geom_ok(const nr_conv_geom *g)
{
    return g->n > 0 && g->c > 0 && g->k > 0 && g->h > 0 && g->w > 0 && g->oh > 0 &&
           nr_geom_dil(g) == 1 && nr_geom_groups(g) == 1 && g->stride == 1 && g->ow == g->w && g->kh > 0 && g->kw > 0 &&
           g->kh * g->kw <= NR_CONV_MAX_TAPS && g->pad_t >= 0 && g->pad_t < g->kh &&
           g->pad_l >= 0 && g->pad_l < g->kw;
}

/* The geometries of conv.h with fewer than 512 x 512 channel pairs: with
 * more, im2col + OpenBLAS measured 1.0-1.8x faster than the direct kernel
 * (512-1024 channels on 16x16 and 32x32 images; their weights, 9-38 MB, do
 * not stay in cache), and F(4,3) does not take them (F(4x4,3x3) does, below). */
static int nr_conv_handled(const nr_conv_geom *g)
{
    return nr_conv_geom_ok(g) && (int64_t)g->c * g->k < 512 * 512;
}

enum { NR_PASS_FWD, NR_PASS_DATA, NR_PASS_FILT };

/* Winograd is possible for handled 3x3 convolutions whose pass reads at most
 * 256 channels (the input's C forward, dy's K for the data gradient, both
 * for the weight gradient, which also needs 8 channels of x for its lanes);
 * the workspace then holds its transformed weights, twice the weights.  With
 * more channels one strip of transformed input no longer fits in L2 beside
 * the weights, and the direct kernel was faster (512 channels, 32x32). */
static int nr_conv_wino_possible(const nr_conv_geom *g, int pass)
{
    if (!nr_conv_handled(g) || g->kh != 3 || g->kw != 3)
        return 0;
    return pass == NR_PASS_FWD ? g->c <= 256 : pass == NR_PASS_DATA ? g->k <= 256
         : g->c >= 8 && g->c <= 256 && g->k <= 256;
}

/* 4x4 output tiles of one image of the forward (pass 0) or data pass of g.
 * The choice of algorithm depends on one image's geometry, never on the
 * batch: N ranks of batch B then compute what one process of batch N*B
 * does, to rounding (tests/e2e_mpi.sh; F(4x4,3x3) and F(4,3) round
 * differently, and a choice by the batch's tiles split them). */
static int64_t nr_conv_tiles(const nr_conv_geom *g, int pass)
{
    const int64_t rows = pass == NR_PASS_DATA ? g->h : g->oh;   /* of the pass's output */
    return ((rows + 3) / 4) * ((g->w + 3) / 4);
}

/* F(4x4,3x3) is possible for the forward and data passes of 3x3 geometries
 * where F(4,3) is, and beyond its channel limits (and the 512 x 512 channel
 * pairs of nr_conv_handled) where an image has 64 output tiles or more:
 * 1.9-2.9x faster than im2col there (512-1024 channels on 32x32 and 64x64
 * images, batch 1-4), as fast as it with 16 tiles (16x16, batch 1), where its
 * weights, 36 floats per kernel (151 MB for 1024 x 1024 channels), are
 * transformed for the products of too few tiles.  The workspace holds those
 * weights wherever it is possible.  The weight gradient, with channels of x
 * in the lanes (as F(4,3)'s), needs 8 of them; beyond the 512 x 512 pairs,
 * 64 tiles as well (its partial sums, 36 per weight, are then as large as
 * the forward pass's U). */
static int nr_conv_wino2_possible(const nr_conv_geom *g, int pass)
{
    return nr_conv_geom_ok(g) && g->kh == 3 && g->kw == 3 &&
           (pass == NR_PASS_FILT ? g->c >= 8 && (nr_conv_handled(g) || nr_conv_tiles(g, pass) >= 64)
                                 : nr_conv_wino_possible(g, pass) || nr_conv_tiles(g, pass) >= 64);
}

/* The algorithm a pass of g runs: NR_CONV_DIRECT, NR_CONV_WINOGRAD or
 * NR_CONV_WINOGRAD2D; -1 for none (the caller runs kernels.h).  F(4x4,3x3) against F(4,3), measured by CPU time on
 * one thread of a shared core (docs/benchmarks.md), the pass reading ci
 * channels and writing ko: 1.05-1.5x faster where the harmonic mean of ci
 * and ko is 40 or more (its transforms cost ci + ko per tile, its products
 * ci * ko) and an image has 64 output tiles of 4x4 or more (its
 * weight transform, 36 floats per kernel, costs as much as the products of
 * a few dozen tiles); elsewhere as fast or slower (0.6-0.9x with 8-16
 * channels, 0.75-0.86x with 256 channels on one 16x16 image).  F(4,3) against
 * direct, measured (bench/bench_conv_fast.c and
 * single-thread CPU time per shape): the forward and data passes were
 * 1.2-1.9x faster than direct from 4x4 to 256x256 images with 16-256
 * channels, except with a single input channel (the first layer), where the
 * input transform costs more than it saves.  The weight gradient was faster
 * on rows of 16 or more, and on 8x8 images only up to 64 x 128 channel pairs
 * (slower with 128 x 256 and 256 x 256, and on 4x4 images).  The weight
 * gradient by F(4x4,3x3) against the faster of F(4,3) and direct, measured
 * the same way on the U-Nets of bench_conv_fast (configurations a and c):
 * 1.2-1.6x faster where the harmonic mean of the channels is 24 or more
 * (1.3-1.6x on 64-256 channels at 64x64-256x256), 0.94-1.1x with 16
 * channels on one side; with 32 tiles (8x8, batch 8), 1.2-1.6x with 128 x
 * 256 channel pairs but 0.94-1.14x with 256 x 256, where its 36 partial sums
 * per weight cost as much as the products of a few dozen tiles; beyond 512 x
 * 512 pairs (64 tiles), 1.04-1.15x im2col. */
static int nr_conv_algo_of(const nr_conv_geom *g, int pass)
{
    switch (algo_now) {
    case NR_CONV_DIRECT: return nr_conv_handled(g) ? NR_CONV_DIRECT : -1;
    case NR_CONV_WINOGRAD: return nr_conv_wino_possible(g, pass) ? NR_CONV_WINOGRAD : -1;
    case NR_CONV_WINOGRAD2D: return nr_conv_wino2_possible(g, pass) ? NR_CONV_WINOGRAD2D : -1;
    default: break;
    }
    const int64_t ci = pass == NR_PASS_DATA ? g->k : g->c, ko = pass == NR_PASS_DATA ? g->c : g->k;
    if (pass != NR_PASS_FILT && nr_conv_wino2_possible(g, pass) && ci * ko >= 20 * (ci + ko) &&
        nr_conv_tiles(g, pass) >= 64)
        return NR_CONV_WINOGRAD2D;
    if (pass == NR_PASS_FILT && nr_conv_wino2_possible(g, pass) && ci * ko >= 12 * (ci + ko) &&
        (nr_conv_tiles(g, pass) >= 64 || ci * ko <= 128 * 256))
        return NR_CONV_WINOGRAD2D;
    if (!nr_conv_handled(g))
        return -1;
    if (!nr_conv_wino_possible(g, pass))
        return NR_CONV_DIRECT;
    if (pass == NR_PASS_FILT)
        return g->w >= 16 || (g->w >= 8 && (int64_t)g->c * g->k <= 8192) ? NR_CONV_WINOGRAD
                                                                         : NR_CONV_DIRECT;
    return ci >= 8 ? NR_CONV_WINOGRAD : NR_CONV_DIRECT;
}

static int64_t nr_conv_round_kb(int64_t n)
{
    return (n + NR_CONV_KB - 1) / NR_CONV_KB * NR_CONV_KB;
}

/* ---- lane-mask plans, cached per geometry ------------------------------ */

typedef struct { int vl, oh, hi, w, th, tw, pt, pl; } nr_plan_key;

enum { NR_PLAN_CACHE = 32 };
static struct {
    nr_plan_key key;
    nr_conv_plan plan;
    void *mem;                  /* the plan's mask and full arrays; NULL: free slot */
} plan_cache[NR_PLAN_CACHE];
static int plan_next;           /* slot replaced when none is free */

/* Fills p for key k (conv_isa.h: nr_conv_plan) into mask (nv, nt+1) and
 * full (nv). */
static void nr_plan_fill(nr_conv_plan *p, const nr_plan_key *k, uint16_t *mask,
                         uint8_t *full)
{
    const int nt = k->th * k->tw, stride = nt + 1;
    const int64_t npos = (int64_t)k->oh * k->w;
    p->vl = k->vl;
    p->nt = nt;
    p->tw = k->tw;
    p->nv = (int)((npos + k->vl - 1) / k->vl);
    for (int t = 0; t < nt; t++)
        p->off[t] = (int64_t)(t / k->tw - k->pt) * k->w + (t % k->tw - k->pl);
    memset(mask, 0, (size_t)p->nv * stride * sizeof *mask);
    int oy = 0, ox = 0;
    for (int64_t q = 0; q < npos; q++) {
        uint16_t *m = mask + q / k->vl * stride;
        const uint16_t bit = (uint16_t)(1u << (q % k->vl));
        m[0] |= bit;
        for (int ty = 0; ty < k->th; ty++) {
            const int iy = oy + ty - k->pt;
            if (iy < 0 || iy >= k->hi)
                continue;
            for (int tx = 0; tx < k->tw; tx++) {
                const int ix = ox + tx - k->pl;
                if (ix >= 0 && ix < k->w)
                    m[1 + ty * k->tw + tx] |= bit;
            }
        }
        if (++ox == k->w) {
            ox = 0;
            oy++;
        }
    }
    const uint16_t all = (uint16_t)((1u << k->vl) - 1);
    for (int v = 0; v < p->nv; v++) {
        full[v] = 1;
        for (int e = 0; e < stride; e++)
            full[v] &= mask[(int64_t)v * stride + e] == all;
    }
    p->mask = mask;
    p->full = full;
}

/* The plan of k, from the cache or built; NULL when out of memory. */
static const nr_conv_plan *nr_plan_get(const nr_plan_key *k)
{
    int slot = -1;
    for (int i = 0; i < NR_PLAN_CACHE; i++) {
        if (plan_cache[i].mem && !memcmp(&plan_cache[i].key, k, sizeof *k))
            return &plan_cache[i].plan;
        if (!plan_cache[i].mem && slot < 0)
            slot = i;
    }
    if (slot < 0) {
        slot = plan_next;
        plan_next = (plan_next + 1) % NR_PLAN_CACHE;
        free(plan_cache[slot].mem);
        plan_cache[slot].mem = NULL;
    }
    const int64_t nv = ((int64_t)k->oh * k->w + k->vl - 1) / k->vl;
    const int64_t nmask = nv * (k->th * k->tw + 1);
    char *mem = malloc((size_t)(nmask * (int64_t)sizeof(uint16_t) + nv));
    if (!mem)
        return NULL;
    plan_cache[slot].key = *k;
    plan_cache[slot].mem = mem;
    nr_plan_fill(&plan_cache[slot].plan, k, (uint16_t *)mem, (uint8_t *)(mem + nmask * 2));
    return &plan_cache[slot].plan;
}

/* ---- per-thread scratch ------------------------------------------------ */

static float *scratch[NR_PAR_MAX_THREADS];
static size_t scratch_len[NR_PAR_MAX_THREADS];   /* floats */

/* Makes scratch[t] hold n floats, 64-byte aligned, for every thread t of the
 * pool; 0, or -1 when out of memory. */
int nr_conv_scratch_reserve(size_t n)
{
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    for (int t = 0; t < nr_par_threads(); t++) {
        if (scratch_len[t] >= n)
            continue;
        free(scratch[t]);
        scratch[t] = aligned_alloc(64, bytes);
        scratch_len[t] = scratch[t] ? n : 0;
        if (!scratch[t])
            return -1;
    }
    return 0;
}

float *nr_conv_scratch(int tid)
{
    return scratch[tid];
}

void nr_conv_fast_release(void)
{
    for (int i = 0; i < NR_PLAN_CACHE; i++) {
        free(plan_cache[i].mem);
        plan_cache[i].mem = NULL;
    }
    for (int t = 0; t < NR_PAR_MAX_THREADS; t++) {
        free(scratch[t]);
        scratch[t] = NULL;
        scratch_len[t] = 0;
    }
}

/* ---- weights ----------------------------------------------------------- */

/* The weights as a convolution with no output and ni input channels:
 * element (o, i, ty, tx) is w[o*so + i*si + ty*sy + tx*sx].  The forward
 * pass reads w (K,C,KH,KW) as it is; the data gradient is the forward
 * convolution of dy with w transposed and flipped. */
typedef struct {
    const float *w;
    int no, ni, kh, kw;
    int64_t so, si, sy, sx;
} nr_wview;

static nr_wview nr_wview_fwd(const nr_conv_geom *g, const float *w)
{
    const int64_t kk = (int64_t)g->kh * g->kw;
    return (nr_wview){w, g->k, g->c, g->kh, g->kw, g->c * kk, kk, g->kw, 1};
}

static nr_wview nr_wview_bwd(const nr_conv_geom *g, const float *w)
{
    const int64_t kk = (int64_t)g->kh * g->kw;
    return (nr_wview){w + kk - 1, g->c, g->k, g->kh, g->kw, kk, g->c * kk, -g->kw, -1};
}

static float nr_wview_at(const nr_wview *v, int o, int i, int ty, int tx)
{
    return v->w[o * v->so + i * v->si + ty * v->sy + tx * v->sx];
}

typedef struct { const nr_wview *v; float *out; int nkb; } nr_pack_job;

/* Task kb: block kb of the packed weights (conv_isa.h: nr_dconv.wp). */
static void nr_pack_task(void *ctx, int64_t kb, int tid)
{
    const nr_pack_job *j = ctx;
    const nr_wview *v = j->v;
    const int nt = v->kh * v->kw;
    (void)tid;
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < v->ni; i++) {
            float *p = j->out + ((kb * nt + t) * v->ni + i) * NR_CONV_KB;  /* (KB) */
            for (int b = 0; b < NR_CONV_KB; b++) {
                const int o = (int)kb * NR_CONV_KB + b;
                p[b] = o < v->no ? nr_wview_at(v, o, i, t / v->kw, t % v->kw) : 0.0f;
            }
        }
}

/* u[xi][b] = (G g_b)[xi] for the three taps g_b = (g0[b], g1[b], g2[b]) of
 * each of KB kernels, with G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 * 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]. */
static void nr_wino_g(const float *g0, const float *g1, const float *g2,
                      float (*u)[NR_CONV_KB])
{
    for (int b = 0; b < NR_CONV_KB; b++) {
        const float s = g0[b] + g2[b], t = g0[b] * (1.0f / 24) + g2[b] * (1.0f / 6);
        u[0][b] = g0[b] * 0.25f;
        u[1][b] = -(s + g1[b]) * (1.0f / 6);
        u[2][b] = -(s - g1[b]) * (1.0f / 6);
        u[3][b] = t + g1[b] * (1.0f / 12);
        u[4][b] = t - g1[b] * (1.0f / 12);
        u[5][b] = g2[b];
    }
}

/* g[ty][tx][b] = the kernel of output channel kb*KB + b (0 past v->no) and
 * input channel i. */
static void nr_wview_block(const nr_wview *v, int64_t kb, int i, float (*g)[3][NR_CONV_KB])
{
    for (int t = 0; t < 9; t++)
        for (int b = 0; b < NR_CONV_KB; b++) {
            const int o = (int)kb * NR_CONV_KB + b;
            g[t / 3][t % 3][b] = o < v->no ? nr_wview_at(v, o, i, t / 3, t % 3) : 0.0f;
        }
}

/* Task kb: block kb of the Winograd weights u (conv_isa.h: nr_wino.u), the
 * columns of G g for every 3-tap column g of the kernel. */
static void nr_wino_weights_task(void *ctx, int64_t kb, int tid)
{
    const nr_pack_job *j = ctx;
    const nr_wview *v = j->v;
    (void)tid;
    for (int i = 0; i < v->ni; i++) {
        float g[3][3][NR_CONV_KB], u[6][NR_CONV_KB];
        nr_wview_block(v, kb, i, g);
        for (int tx = 0; tx < 3; tx++) {
            nr_wino_g(g[0][tx], g[1][tx], g[2][tx], u);
            for (int xi = 0; xi < 6; xi++)
                memcpy(j->out + (((xi * j->nkb + kb) * 3 + tx) * v->ni + i) * NR_CONV_KB, u[xi],
                       sizeof u[xi]);
        }
    }
}

/* Task kb: block kb of the 2D Winograd weights u (conv_isa.h: nr_wino2.u),
 * G g G^T of every kernel g, for 16 input channels at a time, so that the 36
 * planes of u are written in runs of 128 floats (one float at a time into 36
 * planes 16 KiB apart thrashed the cache sets). */
static void nr_wino2_weights_task(void *ctx, int64_t kb, int tid)
{
    const nr_pack_job *j = ctx;
    const nr_wview *v = j->v;
    float u[36][16][NR_CONV_KB];                    /* (e, channel of the run, KB) */
    (void)tid;
    for (int i0 = 0; i0 < v->ni; i0 += 16) {
        const int ni = v->ni - i0 < 16 ? v->ni - i0 : 16;
        for (int i = 0; i < ni; i++) {
            float g[3][3][NR_CONV_KB], gc[3][6][NR_CONV_KB], ge[6][6][NR_CONV_KB];
            nr_wview_block(v, kb, i0 + i, g);
            for (int tx = 0; tx < 3; tx++)          /* G g, kernel column tx */
                nr_wino_g(g[0][tx], g[1][tx], g[2][tx], gc[tx]);
            for (int xi = 0; xi < 6; xi++)          /* (G g) G^T, row xi */
                nr_wino_g(gc[0][xi], gc[1][xi], gc[2][xi], ge[xi]);
            for (int e = 0; e < 36; e++)
                memcpy(u[e][i], ge[e / 6][e % 6], sizeof u[e][i]);
        }
        for (int e = 0; e < 36; e++)
            memcpy(j->out + ((e * j->nkb + kb) * v->ni + i0) * NR_CONV_KB, u[e],
                   (size_t)ni * NR_CONV_KB * sizeof(float));
    }
}

/* ---- the convolution as the kernels see it ------------------------------ */

/* out (N, KO, HO, W) = act(conv(in (N, CI, HI, W), weights v) + bias), stride
 * 1, kernel v->kh x v->kw read from row oy - pt and column ox - pl: the
 * forward pass, and the data gradient with in = dy. */
typedef struct {
    int n, hi, ho, w, pt, pl;
    const float *in;
    float *out;
    nr_wview v;
    const float *bias;
    int relu;
} nr_fconv;

typedef struct {
    const nr_conv_ops *ops;
    nr_dconv d;
    int64_t nvt, vg, nvg;       /* vectors in all, per task, task groups of vectors */
    int nkb, kg;                /* weight blocks in all, per task */
} nr_dconv_job;

static void nr_dconv_task(void *ctx, int64_t task, int tid)
{
    const nr_dconv_job *j = ctx;
    const int64_t v0 = task % j->nvg * j->vg;
    const int kb0 = (int)(task / j->nvg) * j->kg;
    (void)tid;
    j->ops->dconv(&j->d, v0, v0 + j->vg < j->nvt ? v0 + j->vg : j->nvt, kb0,
                  kb0 + j->kg < j->nkb ? kb0 + j->kg : j->nkb);
}

static int nr_run_direct(const nr_conv_ops *ops, const nr_fconv *f, float *ws)
{
    const int ci = f->v.ni, ko = f->v.no, nt = f->v.kh * f->v.kw;
    const nr_plan_key key = {ops->vl, f->ho, f->hi, f->w, f->v.kh, f->v.kw, f->pt, f->pl};
    const nr_conv_plan *pl = nr_plan_get(&key);
    if (!pl)
        return -1;
    const int nkb = (ko + NR_CONV_KB - 1) / NR_CONV_KB;
    nr_pack_job pj = {&f->v, ws, nkb};
    nr_par_for(nkb, nr_pack_task, &pj);

    nr_dconv_job j = {.ops = ops, .nkb = nkb};
    j.d = (nr_dconv){
        .n = f->n, .ci = ci, .ko = ko,
        .in = f->in, .in_cs = (int64_t)f->hi * f->w, .in_is = (int64_t)ci * f->hi * f->w,
        .out = f->out, .out_cs = (int64_t)f->ho * f->w, .out_is = (int64_t)ko * f->ho * f->w,
        .wp = ws, .bias = f->bias, .relu = f->relu, .plan = pl,
    };
    /* a task: kg weight blocks (<= 128 KiB, in L2) for vg vectors of input
     * (<= 128 KiB), at least 4 tasks per thread where the layer allows */
    const int64_t wblock = (int64_t)nt * ci * NR_CONV_KB, vin = (int64_t)ci * ops->vl;
    j.kg = (int)(32768 / wblock < 1 ? 1 : 32768 / wblock > nkb ? nkb : 32768 / wblock);
    j.nvt = (int64_t)f->n * pl->nv;
    int64_t vg = 32768 / vin < ops->dc_wv ? ops->dc_wv : 32768 / vin / ops->dc_wv * ops->dc_wv;
    const int64_t want = 4 * (int64_t)nr_par_threads(), nkg = (nkb + j.kg - 1) / j.kg;
    while (vg > ops->dc_wv && nkg * ((j.nvt + vg - 1) / vg) < want)
        vg = vg / 2 < ops->dc_wv ? ops->dc_wv : vg / 2 / ops->dc_wv * ops->dc_wv;
    j.vg = vg;
    j.nvg = (j.nvt + vg - 1) / vg;
    nr_par_for(j.nvg * nkg, nr_dconv_task, &j);
    return 0;
}

typedef struct {
    const nr_conv_ops *ops;
    nr_wino w;
    int64_t total, per_task;    /* strips in all, chunks per task */
} nr_wino_job;

/* Task t: chunks t*per_task .. of w->chunk strips, one after the other, each
 * prefetching the next one's input. */
static void nr_wino_task(void *ctx, int64_t task, int tid)
{
    const nr_wino_job *j = ctx;
    const int64_t chunk = j->w.chunk;
    const int64_t c_end = (task + 1) * j->per_task * chunk < j->total
        ? (task + 1) * j->per_task * chunk : j->total;     /* this task's last strip + 1 */
    for (int64_t s0 = task * j->per_task * chunk; s0 < c_end; s0 += chunk) {
        const int64_t s1 = s0 + chunk < c_end ? s0 + chunk : c_end;
        const int64_t p1 = s1 + chunk < c_end ? s1 + chunk : c_end;
        j->ops->wino(&j->w, s0, s1, s1, p1, scratch[tid]);
    }
}

/* Strips of 4 output rows per Winograd chunk: as many as keep the 6
 * transformed input rows of every channel within 512 KiB (L2), then evened
 * out so that the threads get equal shares. */
static int nr_wino_chunk(int ci, int w, int64_t total)
{
    int64_t s = 131072 / ((int64_t)6 * ci * w);
    s = s < 1 ? 1 : s > total ? total : s;
    const int64_t th = nr_par_threads();
    int64_t tasks = (total + s - 1) / s;
    tasks = (tasks + th - 1) / th * th;
    return (int)((total + tasks - 1) / tasks);
}

static int nr_run_wino(const nr_conv_ops *ops, const nr_fconv *f, float *ws)
{
    const int ci = f->v.ni, ko = f->v.no, nkb = (ko + NR_CONV_KB - 1) / NR_CONV_KB;
    const int n_strips = (f->ho + 3) / 4;
    const int64_t total = (int64_t)f->n * n_strips;
    const int chunk = nr_wino_chunk(ci, f->w, total);
    const nr_plan_key key = {ops->vl, chunk, chunk, f->w, 1, 3, 0, f->pl};
    /* an odd number of 64-byte lines per plane, so that the planes of one
     * chunk do not all fall in the same cache sets */
    int64_t plane = ((int64_t)chunk * f->w + NR_CONV_MAX_VL - 1) / NR_CONV_MAX_VL;
    plane = (plane | 1) * NR_CONV_MAX_VL;
    const nr_conv_plan *pl = nr_plan_get(&key);
    if (!pl || nr_conv_scratch_reserve((size_t)(6 * ci * plane)) < 0)
        return -1;
    nr_pack_job pj = {&f->v, ws, nkb};
    nr_par_for(nkb, nr_wino_weights_task, &pj);

    /* tasks of a few chunks each (4 per thread or more: the threads still
     * balance their shares), so that most chunks have their input fetched
     * ahead */
    const int64_t n_chunks = (total + chunk - 1) / chunk, th = nr_par_threads();
    const int64_t per_task = n_chunks / (4 * th) < 1 ? 1 : n_chunks / (4 * th);
    nr_wino_job j = {.ops = ops, .total = total, .per_task = per_task};
    j.w = (nr_wino){
        .n = f->n, .ci = ci, .ko = ko, .hi = f->hi, .ho = f->ho, .w = f->w,
        .pt = f->pt, .pl = f->pl, .n_strips = n_strips,
        .in = f->in, .in_cs = (int64_t)f->hi * f->w, .in_is = (int64_t)ci * f->hi * f->w,
        .out = f->out, .out_cs = (int64_t)f->ho * f->w, .out_is = (int64_t)ko * f->ho * f->w,
        .u = ws, .bias = f->bias, .relu = f->relu, .plan = pl, .chunk = chunk, .plane = plane,
    };
    nr_par_for((n_chunks + j.per_task - 1) / j.per_task, nr_wino_task, &j);
    return 0;
}

typedef struct {
    const nr_conv_ops *ops;
    nr_wino2 w;
    int64_t blocks, per_task;   /* blocks in all, per task */
} nr_wino2_job;

/* Task t: blocks t*per_task .. one after the other, each prefetching the
 * next one's input. */
static void nr_wino2_task(void *ctx, int64_t task, int tid)
{
    const nr_wino2_job *j = ctx;
    const int64_t b1 = (task + 1) * j->per_task < j->blocks ? (task + 1) * j->per_task : j->blocks;
    for (int64_t b = task * j->per_task; b < b1; b++)
        j->ops->wino2(&j->w, b, b + 1 < b1 ? b + 1 : -1, scratch[tid]);
}

/* Tiles per block of the 2D Winograd: whole register blocks (vl * dc_wv
 * tiles), as many as keep V (36 x CI x block floats) within 512 KiB (half
 * of L2), then evened out so that the threads get equal shares. */
static int nr_wino2_block(const nr_conv_ops *ops, int ci, int64_t tiles)
{
    const int64_t unit = (int64_t)ops->vl * ops->dc_wv;
    int64_t b = 131072 / ((int64_t)36 * ci) / unit * unit;
    b = b < unit ? unit : b;
    const int64_t th = nr_par_threads();
    int64_t blocks = (tiles + b - 1) / b;
    blocks = (blocks + th - 1) / th * th;
    b = ((tiles + blocks - 1) / blocks + unit - 1) / unit * unit;
    return (int)b;
}

static int nr_run_wino2(const nr_conv_ops *ops, const nr_fconv *f, float *ws)
{
    const int ci = f->v.ni, ko = f->v.no, nkb = (ko + NR_CONV_KB - 1) / NR_CONV_KB;
    const int th = (f->ho + 3) / 4, tw = (f->w + 3) / 4;
    const int64_t tiles = (int64_t)f->n * th * tw;
    const int block = nr_wino2_block(ops, ci, tiles);
    const nr_plan_key key = {ops->vl, 1, 1, block, 1, 1, 0, 0};
    /* an odd number of 64-byte lines per plane (as nr_run_wino) */
    const int64_t plane = (((int64_t)block + NR_CONV_MAX_VL - 1) / NR_CONV_MAX_VL | 1) *
                          NR_CONV_MAX_VL;
    /* tasks of a few blocks each (4 per thread or more), so that most blocks
     * have their input fetched ahead */
    const int64_t blocks = (tiles + block - 1) / block, nth = nr_par_threads();
    nr_wino2_job j = {.ops = ops, .blocks = blocks,
                      .per_task = blocks / (4 * nth) < 1 ? 1 : blocks / (4 * nth)};
    j.w = (nr_wino2){
        .n = f->n, .ci = ci, .ko = ko, .hi = f->hi, .ho = f->ho, .w = f->w,
        .pt = f->pt, .pl = f->pl, .th = th, .tw = tw, .block = block, .plane = plane,
        .in = f->in, .in_cs = (int64_t)f->hi * f->w, .in_is = (int64_t)ci * f->hi * f->w,
        .out = f->out, .out_cs = (int64_t)f->ho * f->w, .out_is = (int64_t)ko * f->ho * f->w,
        .u = ws, .bias = f->bias, .relu = f->relu,
    };
    j.w.plan = nr_plan_get(&key);
    if (!j.w.plan || nr_conv_scratch_reserve((size_t)nr_wino2_scratch(&j.w)) < 0)
        return -1;
    nr_pack_job pj = {&f->v, ws, nkb};
    nr_par_for(nkb, nr_wino2_weights_task, &pj);
    nr_par_for((blocks + j.per_task - 1) / j.per_task, nr_wino2_task, &j);
    return 0;
}

/* The forward pass or the data gradient f by the algorithm that pass of g
 * takes; -1 when none does. */
static int nr_run_fconv(const nr_conv_ops *ops, const nr_conv_geom *g, int pass,
                        const nr_fconv *f, float *ws)
{
    switch (nr_conv_algo_of(g, pass)) {
    case NR_CONV_WINOGRAD2D: return nr_run_wino2(ops, f, ws);
    case NR_CONV_WINOGRAD: return nr_run_wino(ops, f, ws);
    case NR_CONV_DIRECT: return nr_run_direct(ops, f, ws);
    default: return -1;
    }
}

/* ---- the three passes ---------------------------------------------------- */

int nr_conv_fast_fwd(const nr_conv_geom *g, const float *x, const float *w,
                     const float *b, int relu, float *y, float *ws)
{
    const nr_conv_ops *ops = nr_conv_ops_now();
    if (!ops)
        return -1;
    const nr_fconv f = {g->n, g->h, g->oh, g->w, g->pad_t, g->pad_l, x, y,
                        nr_wview_fwd(g, w), b, relu};
    return nr_run_fconv(ops, g, NR_PASS_FWD, &f, ws);
}

int nr_conv_fast_bwd_data(const nr_conv_geom *g, const float *dy, const float *w,
                          float *dx, float *ws)
{
    const nr_conv_ops *ops = nr_conv_ops_now();
    if (!ops)
        return -1;
    /* dx[iy] = sum_ty dy[iy + pad_t - ty] w[ty] = the forward convolution of
     * dy with the flipped kernel, reading from row iy - (kh - 1 - pad_t) */
    const nr_fconv f = {g->n, g->oh, g->h, g->w, g->kh - 1 - g->pad_t, g->kw - 1 - g->pad_l,
                        dy, dx, nr_wview_bwd(g, w), NULL, 0};
    return nr_run_fconv(ops, g, NR_PASS_DATA, &f, ws);
}

/* ---- weight gradient ------------------------------------------------- */

/* With 8 channels of x or more, the channels go in the lanes (nr_dfilt_chan:
 * no masks, no horizontal sums), else the positions (nr_dfilt_pos).  Both sum
 * fixed ranges of positions into partial sums that are then added in range
 * order: the data is read once, and neither the workspace nor the bits of the
 * result depend on the number of threads. */
static int nr_filt_by_chan(const nr_conv_geom *g)
{
    return g->c >= 8;
}

static int64_t nr_conv_cpad(int64_t c)
{
    return (c + NR_CONV_MAX_VL - 1) / NR_CONV_MAX_VL * NR_CONV_MAX_VL;
}

/* Output rows per range for nr_dfilt_chan: about 4096 positions (measured:
 * 10-15% faster than 1024 on 64x64 and 128x128 images, as fast as 16384),
 * more when the partial sums (K*KH*KW*cpad floats per range) would pass 2M
 * floats. */
static int nr_dchan_rows(const nr_conv_geom *g)
{
    const int64_t rows_all = (int64_t)g->n * g->oh;
    const int64_t per = (int64_t)g->k * g->kh * g->kw * nr_conv_cpad(g->c);
    int64_t r = rows_all * g->ow / 4096;
    r = r > 2 * 1024 * 1024 / per ? 2 * 1024 * 1024 / per : r;
    r = r < 1 ? 1 : r > rows_all ? rows_all : r;
    return (int)((rows_all + r - 1) / r);
}

/* Position ranges for nr_dfilt_pos: about 4096 positions each, at most 16. */
static int nr_dpos_ranges(const nr_conv_geom *g)
{
    const int64_t r = (int64_t)g->n * g->oh * g->ow / 4096;
    return r < 1 ? 1 : r > 16 ? 16 : (int)r;
}

typedef struct {
    const nr_conv_ops *ops;
    nr_dfilt_chan f;
    int64_t ranges, part_len;   /* ranges, floats of partial sums per range */
    int ngroups;                /* groups of vl channels of x */
    float *part;                /* (ranges, K, KH*KW, cpad) */
    float *dw;                  /* (K, C, KH*KW) */
} nr_dchan_job;

static void nr_dchan_task(void *ctx, int64_t task, int tid)
{
    const nr_dchan_job *j = ctx;
    const int64_t r = task / j->ngroups;
    j->ops->dfilt_chan(&j->f, r, (int)(task % j->ngroups) * j->ops->vl,
                       j->part + r * j->part_len, scratch[tid]);
}

/* Task k: dw[k] = the partial sums of every range, added in range order. */
static void nr_dchan_sum_task(void *ctx, int64_t k, int tid)
{
    const nr_dchan_job *j = ctx;
    const int nt = j->f.kh * j->f.kw;
    (void)tid;
    for (int c = 0; c < j->f.ci; c++)
        for (int t = 0; t < nt; t++) {
            const float *p = j->part + (k * nt + t) * j->f.cpad + c;
            float s = p[0];
            for (int64_t r = 1; r < j->ranges; r++)
                s += p[r * j->part_len];
            j->dw[(k * j->f.ci + c) * nt + t] = s;
        }
}

static int nr_filt_chan(const nr_conv_ops *ops, const nr_conv_geom *g, const float *dy,
                        const float *x, float *dw, float *ws)
{
    const int rows = nr_dchan_rows(g), nt = g->kh * g->kw;
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    nr_dchan_job j = {.ops = ops, .part = ws, .dw = dw};
    j.f = (nr_dfilt_chan){g->n, g->c, g->k, g->h, g->w, g->oh, g->kh, g->kw, g->pad_t,
                          g->pad_l, x, hw, g->c * hw, dy, ohw, g->k * ohw, rows,
                          nr_conv_cpad(g->c)};
    j.ranges = ((int64_t)g->n * g->oh + rows - 1) / rows;
    j.part_len = (int64_t)g->k * nt * j.f.cpad;
    j.ngroups = (g->c + ops->vl - 1) / ops->vl;
    const int seg = rows < g->oh ? rows : g->oh;      /* rows of one image per piece */
    if (nr_conv_scratch_reserve((size_t)(seg + g->kh - 1) * (g->w + g->kw - 1) * NR_CONV_MAX_VL) < 0)
        return -1;
    nr_par_for(j.ranges * j.ngroups, nr_dchan_task, &j);
    nr_par_for(g->k, nr_dchan_sum_task, &j);
    return 0;
}

typedef struct {
    const nr_conv_ops *ops;
    nr_dfilt_pos f;
    int64_t nvt;                /* vectors in all */
    int ranges;
    int64_t part_len;           /* K*C*KH*KW */
    float *part;                /* (ranges, K, C, KH*KW) */
    float *dw;                  /* (K, C, KH*KW) */
} nr_dpos_job;

/* Task r: every channel pair over position range r, into partial sums r. */
static void nr_dpos_task(void *ctx, int64_t r, int tid)
{
    const nr_dpos_job *j = ctx;
    (void)tid;
    j->ops->dfilt_pos(&j->f, r * j->nvt / j->ranges, (r + 1) * j->nvt / j->ranges,
                      j->part + r * j->part_len);
}

/* Task: dw = the sum of the partial sums, in range order, for 4096 weights. */
static void nr_dpos_sum_task(void *ctx, int64_t task, int tid)
{
    const nr_dpos_job *j = ctx;
    const int64_t p0 = task * 4096, p1 = p0 + 4096 < j->part_len ? p0 + 4096 : j->part_len;
    (void)tid;
    for (int64_t p = p0; p < p1; p++) {
        float s = j->part[p];
        for (int r = 1; r < j->ranges; r++)
            s += j->part[r * j->part_len + p];
        j->dw[p] = s;
    }
}

static int nr_filt_pos(const nr_conv_ops *ops, const nr_conv_geom *g, const float *dy,
                       const float *x, float *dw, float *ws)
{
    const nr_plan_key key = {ops->vl, g->oh, g->h, g->w, g->kh, g->kw, g->pad_t, g->pad_l};
    const nr_conv_plan *pl = nr_plan_get(&key);
    if (!pl)
        return -1;
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    nr_dpos_job j = {.ops = ops, .ranges = nr_dpos_ranges(g), .part = ws, .dw = dw};
    j.f = (nr_dfilt_pos){g->n, g->c, g->k, x, hw, g->c * hw, dy, ohw, g->k * ohw, pl};
    j.nvt = (int64_t)g->n * pl->nv;
    j.part_len = (int64_t)g->k * g->c * g->kh * g->kw;
    nr_par_for(j.ranges, nr_dpos_task, &j);
    nr_par_for((j.part_len + 4095) / 4096, nr_dpos_sum_task, &j);
    return 0;
}

/* Strips (rows of 4x4 tiles) per range of the Winograd weight gradients:
 * about 4096 positions (as nr_dchan_rows), more when the partial sums
 * (elems*K*cpad floats per range: 18 for F(4,3), 36 for F(4x4,3x3)) would
 * pass 2M. */
static int nr_wfilt_strips(const nr_conv_geom *g, int elems)
{
    const int64_t all = (int64_t)g->n * ((g->oh + 3) / 4);
    const int64_t per = elems * (int64_t)g->k * nr_conv_cpad(g->c);
    int64_t r = all * 4 * g->ow / 4096;
    r = r > 2 * 1024 * 1024 / per ? 2 * 1024 * 1024 / per : r;
    r = r < 1 ? 1 : r > all ? all : r;
    return (int)((all + r - 1) / r);
}

typedef struct {
    const nr_conv_ops *ops;
    nr_wino_filt f;
    int64_t ranges, part_len;   /* ranges, floats of partial sums per range */
    int ngroups;                /* groups of vl channels of x */
    float *part;                /* (ranges, 6, K, 3, cpad) */
    float *dw;                  /* (K, C, 3, 3) */
} nr_wfilt_job;

static void nr_wfilt_task(void *ctx, int64_t task, int tid)
{
    const nr_wfilt_job *j = ctx;
    const int64_t r = task / j->ngroups;
    j->ops->wino_filt(&j->f, r, (int)(task % j->ngroups) * j->ops->vl,
                      j->part + r * j->part_len, scratch[tid]);
}

/* F(4,3)'s G (nr_wino_g), for the weight gradients' G^T m. */
static const float nr_wino_gm[6][3] = {
    {1.0f / 4, 0, 0}, {-1.0f / 6, -1.0f / 6, -1.0f / 6}, {-1.0f / 6, 1.0f / 6, -1.0f / 6},
    {1.0f / 24, 1.0f / 12, 1.0f / 6}, {1.0f / 24, -1.0f / 12, 1.0f / 6}, {0, 0, 1},
};

/* Task k: m = the partial sums of every range, added in range order, then
 * dw[k][c][ky][tx] = sum_xi G[xi][ky] m[xi][k][tx][c]. */
static void nr_wfilt_sum_task(void *ctx, int64_t k, int tid)
{
    const nr_wfilt_job *j = ctx;
    const int ko = j->f.ko, ci = j->f.ci;
    (void)tid;
    for (int c = 0; c < ci; c++)
        for (int tx = 0; tx < 3; tx++) {
            float m[6];
            for (int xi = 0; xi < 6; xi++) {
                const float *p = j->part + ((xi * ko + k) * 3 + tx) * j->f.cpad + c;
                float s = p[0];
                for (int64_t r = 1; r < j->ranges; r++)
                    s += p[r * j->part_len];
                m[xi] = s;
            }
            for (int ky = 0; ky < 3; ky++) {
                float s = 0;
                for (int xi = 0; xi < 6; xi++)
                    s += nr_wino_gm[xi][ky] * m[xi];
                j->dw[((k * ci + c) * 3 + ky) * 3 + tx] = s;
            }
        }
}

static int nr_filt_wino(const nr_conv_ops *ops, const nr_conv_geom *g, const float *dy,
                        const float *x, float *dw, float *ws)
{
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    const int n_strips = (g->oh + 3) / 4;
    nr_wfilt_job j = {.ops = ops, .part = ws, .dw = dw};
    j.f = (nr_wino_filt){g->n, g->c, g->k, g->h, g->w, g->oh, g->pad_t, g->pad_l, n_strips,
                         x, hw, g->c * hw, dy, ohw, g->k * ohw, nr_wfilt_strips(g, 18),
                         nr_conv_cpad(g->c)};
    j.ranges = ((int64_t)g->n * n_strips + j.f.strips - 1) / j.f.strips;
    j.part_len = 18 * (int64_t)g->k * j.f.cpad;
    j.ngroups = (g->c + ops->vl - 1) / ops->vl;
    if (nr_conv_scratch_reserve((size_t)nr_wino_filt_scratch(&j.f)) < 0)
        return -1;
    nr_par_for(j.ranges * j.ngroups, nr_wfilt_task, &j);
    nr_par_for(g->k, nr_wfilt_sum_task, &j);
    return 0;
}

typedef struct {
    const nr_conv_ops *ops;
    nr_wino2_filt f;
    int64_t ranges, part_len;   /* ranges, floats of partial sums per range */
    int ntg;                    /* tasks per range, each f.groups groups of vl channels of x */
    float *part;                /* (ranges, 36, K, cpad) */
    float *dw;                  /* (K, C, 3, 3) */
} nr_wfilt2_job;

static void nr_wfilt2_task(void *ctx, int64_t task, int tid)
{
    const nr_wfilt2_job *j = ctx;
    const int64_t r = task / j->ntg;
    j->ops->wino2_filt(&j->f, r, (int)(task % j->ntg) * j->f.groups * j->ops->vl,
                       j->part + r * j->part_len, scratch[tid]);
}

/* Task k: m = the partial sums of every range, added in range order, then
 * dw[k][c] = G^T m[.][k][c] G; each step runs over the channels c (so that
 * it vectorizes), in the thread's scratch: m (36, cpad), m G (6, 3, cpad). */
static void nr_wfilt2_sum_task(void *ctx, int64_t k, int tid)
{
    const nr_wfilt2_job *j = ctx;
    const int ko = j->f.ko, ci = j->f.ci;
    const int64_t cp = j->f.cpad;
    float *m = scratch[tid], *mg = m + 36 * cp;
    for (int e = 0; e < 36; e++) {
        const float *p = j->part + ((int64_t)e * ko + k) * cp;
        float *me = m + e * cp;
        memcpy(me, p, (size_t)ci * sizeof *me);
        for (int64_t r = 1; r < j->ranges; r++)
            for (int c = 0; c < ci; c++)
                me[c] += p[r * j->part_len + c];
    }
    for (int xi = 0; xi < 6; xi++)
        for (int kx = 0; kx < 3; kx++) {
            float *o = mg + (xi * 3 + kx) * cp;
            for (int c = 0; c < ci; c++) {
                float s = 0;
                for (int xj = 0; xj < 6; xj++)
                    s += m[(6 * xi + xj) * cp + c] * nr_wino_gm[xj][kx];
                o[c] = s;
            }
        }
    float *dw = j->dw + k * ci * 9;                     /* (C, 3, 3) */
    for (int t = 0; t < 9; t++)
        for (int c = 0; c < ci; c++) {
            float s = 0;
            for (int xi = 0; xi < 6; xi++)
                s += nr_wino_gm[xi][t / 3] * mg[(xi * 3 + t % 3) * cp + c];
            dw[c * 9 + t] = s;
        }
}

static int nr_filt_wino2(const nr_conv_ops *ops, const nr_conv_geom *g, const float *dy,
                         const float *x, float *dw, float *ws)
{
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->ow;
    const int th = (g->oh + 3) / 4, tw = (g->w + 3) / 4, strips = nr_wfilt_strips(g, 36);
    /* pieces of about 32 tiles (or a strip): the transformed input of one,
     * 36 x 4 x 32 vectors, stays in L2 */
    const int piece = 32 / tw < 1 ? 1 : 32 / tw > strips ? strips : 32 / tw;
    nr_wfilt2_job j = {.ops = ops, .part = ws, .dw = dw};
    j.f = (nr_wino2_filt){g->n, g->c, g->k, g->h, g->w, g->oh, g->pad_t, g->pad_l, th, tw,
                          x, hw, g->c * hw, dy, ohw, g->k * ohw, strips, piece, 4,
                          nr_conv_cpad(g->c)};
    j.ranges = ((int64_t)g->n * th + strips - 1) / strips;
    j.part_len = 36 * (int64_t)g->k * j.f.cpad;
    j.ntg = (g->c + j.f.groups * ops->vl - 1) / (j.f.groups * ops->vl);
    const int64_t sc = nr_wino2_filt_scratch(&j.f), sum = 54 * j.f.cpad;
    if (nr_conv_scratch_reserve((size_t)(sc > sum ? sc : sum)) < 0)
        return -1;
    nr_par_for(j.ranges * j.ntg, nr_wfilt2_task, &j);
    nr_par_for(g->k, nr_wfilt2_sum_task, &j);
    return 0;
}

int nr_conv_fast_bwd_filter(const nr_conv_geom *g, const float *dy, const float *x,
                            float *dw, float *ws)
{
    const nr_conv_ops *ops = nr_conv_ops_now();
    const int algo = nr_conv_algo_of(g, NR_PASS_FILT);
    if (!ops || algo < 0)
        return -1;
    if (algo == NR_CONV_WINOGRAD2D)
        return nr_filt_wino2(ops, g, dy, x, dw, ws);
    if (algo == NR_CONV_WINOGRAD)
        return nr_filt_wino(ops, g, dy, x, dw, ws);
    return nr_filt_by_chan(g) ? nr_filt_chan(ops, g, dy, x, dw, ws)
                              : nr_filt_pos(ops, g, dy, x, dw, ws);
}

/* ---- workspace --------------------------------------------------------- */

int64_t nr_conv_fast_ws_elems(const nr_conv_geom *g)
{
    /* the packed (or Winograd: 36 floats per kernel in 2D) weights of the
     * forward and data passes */
    const int64_t kk = (int64_t)g->kh * g->kw, handled = nr_conv_handled(g);
    const int64_t fwd = (nr_conv_wino2_possible(g, NR_PASS_FWD) ? 36 : handled ? kk : 0) *
                        nr_conv_round_kb(g->k) * g->c;
    const int64_t bwd = (nr_conv_wino2_possible(g, NR_PASS_DATA) ? 36 : handled ? kk : 0) *
                        nr_conv_round_kb(g->c) * g->k;
    const int64_t pack = fwd > bwd ? fwd : bwd;
    /* the weight gradient's partial sums, of any algorithm */
    int64_t part = 0;
    if (nr_conv_wino2_possible(g, NR_PASS_FILT)) {
        const int64_t strips = nr_wfilt_strips(g, 36), all = (int64_t)g->n * ((g->oh + 3) / 4);
        part = (all + strips - 1) / strips * 36 * g->k * nr_conv_cpad(g->c);
    }
    if (!handled)
        return pack > part ? pack : part;
    if (nr_filt_by_chan(g)) {
        const int64_t rows = nr_dchan_rows(g), rows_all = (int64_t)g->n * g->oh;
        const int64_t cpart = (rows_all + rows - 1) / rows * g->k * kk * nr_conv_cpad(g->c);
        part = part > cpart ? part : cpart;
    } else {
        const int64_t ppart = nr_dpos_ranges(g) * (int64_t)g->k * g->c * kk;
        part = part > ppart ? part : ppart;
    }
    if (nr_conv_wino_possible(g, NR_PASS_FILT)) {
        const int64_t strips = nr_wfilt_strips(g, 18), all = (int64_t)g->n * ((g->oh + 3) / 4);
        const int64_t wpart = (all + strips - 1) / strips * 18 * g->k * nr_conv_cpad(g->c);
        part = part > wpart ? part : wpart;
    }
    return pack > part ? pack : part;
}
