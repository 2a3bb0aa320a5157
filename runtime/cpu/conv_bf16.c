/* conv_bf16.c — the bf16 convolutions (conv_bf16.h): which geometries and
 * passes, the split into nr_par_for tasks and the weight gradient's partial
 * sums; the kernels are conv_bf16_avx512.c's, the per-thread scratch conv.c's. */
#include "conv_bf16.h"
#include "conv.h"
#include "conv_bf16_isa.h"
#include "parallel.h"

#include <stdlib.h>
#include <string.h>

static int bf16_algo = NR_BF16_AUTO;

void nr_conv_bf16_set_algo(int algo)
{
    bf16_algo = algo;
}

int nr_conv_bf16_available(void)
{
#ifdef NR_CONV_X86
    __builtin_cpu_init();
    return nr_conv_isa() == NR_ISA_AVX512 && __builtin_cpu_supports("avx512bf16") &&
           __builtin_cpu_supports("avx512bw");
#else
    return 0;
#endif
}

static int bf16_handled(const nr_conv_geom *g)
{
    return g->n > 0 && g->c > 0 && g->k > 0 && g->h > 0 && g->w > 0 && g->oh > 0 &&
           nr_geom_dil(g) == 1 && nr_geom_groups(g) == 1 && g->stride == 1 && g->ow == g->w &&
           g->kh > 0 && g->kw > 0 && g->kh * g->kw <= NR_CONV_MAX_TAPS && g->pad_t >= 0 &&
           g->pad_t < g->kh && g->pad_l >= 0 && g->pad_l < g->kw;
}

enum { PASS_FWD, PASS_DATA, PASS_FILT };

/* Whether a pass of g runs in bf16 under NR_BF16_AUTO: where it measured
 * faster than conv.h's fp32 choice (bench/bench_conv_fast.c's
 * "bf16/auto" column, and single-thread best of 30 per geometry, 2026-12-07,
 * under load 17 on 2 cores; docs/benchmarks.md has the figures).  Not taken:
 * passes reading fewer than 32 channels (the packing costs more than the
 * products save: 0.2-0.6x at 1 and 16 channels), 3x3 forward and data
 * passes (fp32 Winograd does half the multiplies: bf16 was 0.6-0.94x of it
 * at 16-256 channels), 1x1 weight gradients (0.76-0.81x), the 3x3 weight
 * gradient below 128 x 128 channel pairs (0.72-0.85x at 32 x 32 and
 * 64 x 64; 1.13x at 128 x 128 and 1.43x at 256 x 256), and 512 x 512 pairs
 * or more (fp32 runs im2col + OpenBLAS there; not compared).  Taken: the 1x1
 * forward and data passes (1.3-2.6x), the 2x2 and other kernels at 64 x 32
 * pairs or more (1.5-1.6x at 128 -> 64; 1.0x at 32 -> 16). */
static int bf16_wanted(const nr_conv_geom *g, int pass)
{
    const int64_t pairs = (int64_t)g->c * g->k;
    const int reads = pass == PASS_FWD ? g->c : pass == PASS_DATA ? g->k : g->c < g->k ? g->c : g->k;
    if (reads < 32 || pairs >= 512 * 512)
        return 0;
    if (g->kh == 1 && g->kw == 1)
        return pass != PASS_FILT;
    if (g->kh == 3 && g->kw == 3)
        return pass == PASS_FILT && pairs >= 128 * 128;
    return pairs >= 64 * 32;
}

static int bf16_takes(const nr_conv_geom *g, int pass)
{
    return nr_conv_bf16_available() && bf16_handled(g) &&
           (bf16_algo == NR_BF16_ALWAYS || bf16_wanted(g, pass));
}

/* ---- sizes --------------------------------------------------------------- */

static int64_t round_up(int64_t a, int64_t b)
{
    return (a + b - 1) / b * b;
}

/* Words of packed weights for no output channels reading ni channels. */
static int64_t packed_words(int no, int ni, int nt)
{
    return round_up(no, NR_BF16_MR) * ((int64_t)ni * nt + 1) / 2;
}

/* Ranges of the weight gradient: about 4096 positions each, at most 16. */
static int filt_ranges(const nr_conv_geom *g)
{
    const int64_t r = (int64_t)g->n * g->oh * g->w / 4096;
    return r < 1 ? 1 : r > 16 ? 16 : (int)r;
}

static int64_t filt_part_len(const nr_conv_geom *g)
{
    return round_up((int64_t)g->c * g->kh * g->kw, NR_BF16_FR) * round_up(g->k, 16);
}

int64_t nr_conv_bf16_ws_elems(const nr_conv_geom *g)
{
    if (!bf16_handled(g))
        return 0;
    const int nt = g->kh * g->kw;
    const int64_t fwd = packed_words(g->k, g->c, nt), data = packed_words(g->c, g->k, nt);
    const int64_t part = filt_ranges(g) * filt_part_len(g);
    const int64_t m = fwd > data ? fwd : data;
    return m > part ? m : part;
}

/* ---- forward and data gradient -------------------------------------------- */

typedef struct {
    const nr_bf16_wview *v;
    int r2;
    uint32_t *a;
} pack_job;

static void pack_task(void *ctx, int64_t kb, int tid)
{
    const pack_job *j = ctx;
    (void)tid;
    nr_bf16_pack_weights(j->v, j->r2, (int)kb, j->a);
}

typedef struct {
    nr_bf16_conv c;
    int nkb, kg, kgroups;       /* weight blocks, per task, groups of them */
} conv_job;

static void conv_task(void *ctx, int64_t task, int tid)
{
    const conv_job *j = ctx;
    const int kb0 = (int)(task % j->kgroups) * j->kg;
    const int kb1 = kb0 + j->kg < j->nkb ? kb0 + j->kg : j->nkb;
    nr_bf16_conv_tile(&j->c, task / j->kgroups, kb0, kb1, nr_conv_scratch(tid));
}

/* out (n, v->no, ho, w) = act(bias + conv(in (n, v->ni, hi, w), v)), the kernel
 * read from row oy - pt, column ox - pl. */
static int run_conv(int n, int hi, int ho, int w, int kh, int kw, int pt, int pl,
                    const float *in, float *out, const nr_bf16_wview *v, const float *bias,
                    int relu, float *ws)
{
    const int nt = kh * kw, r2 = (v->ni * nt + 1) / 2;
    const int nkb = (v->no + NR_BF16_MR - 1) / NR_BF16_MR;
    const int64_t nv = ((int64_t)ho * w + 15) / 16;
    /* a tile: its packed input <= 256 KiB (half of L2), 3..96 vectors */
    int64_t tv = 262144 / ((int64_t)r2 * 64) / NR_BF16_NB * NR_BF16_NB;
    tv = tv < NR_BF16_NB ? NR_BF16_NB : tv > 96 ? 96 : tv;
    if (tv > round_up(nv, NR_BF16_NB))
        tv = round_up(nv, NR_BF16_NB);
    conv_job j = {.nkb = nkb};
    j.c = (nr_bf16_conv){
        .n = n, .ci = v->ni, .ko = v->no, .hi = hi, .ho = ho, .w = w, .kh = kh, .kw = kw,
        .pt = pt, .pl = pl, .in = in, .in_cs = (int64_t)hi * w,
        .in_is = (int64_t)v->ni * hi * w, .out = out, .out_cs = (int64_t)ho * w,
        .out_is = (int64_t)v->no * ho * w, .a = (const uint32_t *)ws, .r2 = r2,
        .bias = bias, .relu = relu, .tv = (int)tv, .tiles = (int)((nv + tv - 1) / tv),
    };
    if (nr_conv_scratch_reserve((size_t)(nr_bf16_conv_scratch(&j.c) + 3) / 4) < 0)
        return -1;
    pack_job pj = {v, r2, (uint32_t *)ws};
    nr_par_for(nkb, pack_task, &pj);
    /* at least 4 tasks per thread: split the output channels when the tiles
     * are fewer (each task then packs its tile again) */
    const int64_t tiles = (int64_t)n * j.c.tiles, want = 4 * (int64_t)nr_par_threads();
    int64_t groups = tiles >= want ? 1 : (want + tiles - 1) / tiles;
    groups = groups > nkb ? nkb : groups;
    j.kg = (int)((nkb + groups - 1) / groups);
    j.kgroups = (nkb + j.kg - 1) / j.kg;
    nr_par_for(tiles * j.kgroups, conv_task, &j);
    return 0;
}

int nr_conv_bf16_fwd(const nr_conv_geom *g, const float *x, const float *w, const float *b,
                     int relu, float *y, float *ws)
{
    if (!bf16_takes(g, PASS_FWD))
        return -1;
    const int nt = g->kh * g->kw;
    const nr_bf16_wview v = {w, g->k, g->c, nt, (int64_t)g->c * nt, nt, 1};
    return run_conv(g->n, g->h, g->oh, g->w, g->kh, g->kw, g->pad_t, g->pad_l, x, y, &v, b,
                    relu, ws);
}

int nr_conv_bf16_bwd_data(const nr_conv_geom *g, const float *dy, const float *w, float *dx,
                          float *ws)
{
    if (!bf16_takes(g, PASS_DATA))
        return -1;
    /* the forward convolution of dy with the kernel transposed and flipped,
     * read from row iy - (kh - 1 - pad_t) (conv.c: nr_conv_fast_bwd_data) */
    const int nt = g->kh * g->kw;
    const nr_bf16_wview v = {w + nt - 1, g->c, g->k, nt, nt, (int64_t)g->c * nt, -1};
    return run_conv(g->n, g->oh, g->h, g->w, g->kh, g->kw, g->kh - 1 - g->pad_t,
                    g->kw - 1 - g->pad_l, dy, dx, &v, NULL, 0, ws);
}

/* ---- weight gradient ------------------------------------------------------ */

typedef struct {
    nr_bf16_filt f;
    int nrb, rg, rgroups;       /* row blocks, per task, groups of them */
    int64_t part_len;
    float *part;                /* (ranges, rpad, kpad) */
    float *dw;                  /* (K, C*KH*KW) */
} filt_job;

static void filt_task(void *ctx, int64_t task, int tid)
{
    const filt_job *j = ctx;
    const int r = (int)(task / j->rgroups);
    const int rb0 = (int)(task % j->rgroups) * j->rg;
    const int rb1 = rb0 + j->rg < j->nrb ? rb0 + j->rg : j->nrb;
    nr_bf16_filt_range(&j->f, r, rb0, rb1, j->part + r * j->part_len, nr_conv_scratch(tid));
}

/* Task k: dw[k] = the partial sums of every range, added in range order. */
static void filt_sum_task(void *ctx, int64_t k, int tid)
{
    const filt_job *j = ctx;
    const int rall = j->f.ci * j->f.kh * j->f.kw, kpad = j->f.nkv * 16;
    (void)tid;
    for (int r = 0; r < rall; r++) {
        const float *p = j->part + (int64_t)r * kpad + k;
        float s = p[0];
        for (int q = 1; q < j->f.ranges; q++)
            s += p[q * j->part_len];
        j->dw[k * rall + r] = s;
    }
}

int nr_conv_bf16_bwd_filter(const nr_conv_geom *g, const float *dy, const float *x, float *dw,
                            float *ws)
{
    if (!bf16_takes(g, PASS_FILT))
        return -1;
    const int nt = g->kh * g->kw;
    const int64_t hw = (int64_t)g->h * g->w, ohw = (int64_t)g->oh * g->w;
    filt_job j = {.part = ws, .dw = dw, .part_len = filt_part_len(g)};
    j.f = (nr_bf16_filt){g->n, g->c, g->k, g->h, g->w, g->oh, g->kh, g->kw, g->pad_t,
                         g->pad_l, x, hw, g->c * hw, dy, ohw, g->k * ohw, filt_ranges(g),
                         (g->k + 15) / 16, (int)round_up((int64_t)g->c * nt, NR_BF16_FR)};
    j.nrb = j.f.rpad / NR_BF16_FR;
    if (nr_conv_scratch_reserve((size_t)(nr_bf16_filt_scratch(&j.f) + 3) / 4) < 0)
        return -1;
    const int64_t want = 4 * (int64_t)nr_par_threads();
    int64_t groups = j.f.ranges >= want ? 1 : (want + j.f.ranges - 1) / j.f.ranges;
    groups = groups > j.nrb ? j.nrb : groups;
    j.rg = (int)((j.nrb + groups - 1) / groups);
    j.rgroups = (j.nrb + j.rg - 1) / j.rg;
    nr_par_for((int64_t)j.f.ranges * j.rgroups, filt_task, &j);
    nr_par_for(g->k, filt_sum_task, &j);
    return 0;
}
