/* conv_isa.h — what conv.c hands the SIMD convolution kernels.  Each ISA
 * (conv_avx512.c, conv_avx2.c) builds the same kernels from conv_kernels.inc
 * with its own vector width and register blocking and exports one
 * nr_conv_ops table.  Internal to conv.c and those files. */
#ifndef NR_CONV_ISA_H
#define NR_CONV_ISA_H

#include <stddef.h>
#include <stdint.h>

/* The SIMD kernels exist on x86 only; elsewhere every pass returns -1. */
#if defined(__x86_64__) || defined(__i386__)
#define NR_CONV_X86 1
#endif

#define NR_CONV_KB 8         /* output channels per block of packed weights */
#define NR_CONV_MAX_TAPS 25  /* kernel taps (KH*KW) the direct kernels take */
#define NR_CONV_MAX_VL 16    /* lanes of the widest vector */
#define NR_CONV_MAX_KB 16    /* output channels per register block of dfilt_chan */

/* Live lanes of the vectors of one output plane of a stride-1 convolution
 * whose input and output rows have the same width w.  Output position
 * q = oy*w + ox (oh*w of them) lies in vector q / vl, lane q % vl.  For
 * vector v, mask[v*(nt+1)] has bit l set when its lane l is a position
 * (q < oh*w), and mask[v*(nt+1) + 1 + t] when it also reads inside the input
 * (hi rows) at tap t = ty*tw + tx: 0 <= oy + ty - pt < hi and
 * 0 <= ox + tx - pl < w; that read is off[t] floats from q.  full[v] is 1 when
 * every one of those masks has all vl bits set. */
typedef struct {
    int vl, nv, nt, tw;              /* lanes, vectors per plane, taps, taps per row */
    int64_t off[NR_CONV_MAX_TAPS];   /* (nt) */
    const uint16_t *mask;            /* (nv, nt+1) */
    const uint8_t *full;             /* (nv) */
} nr_conv_plan;

/* out[n][ko] = act(bias[ko] + sum_ci sum_t wt(ko,ci,t) * in[n][ci] read at
 * tap t), for every position of the plan; act is ReLU when relu is set.
 * Vectors are numbered over the batch: v = n*nv + (vector in plane). */
typedef struct {
    int n, ci, ko;              /* images, input channels, output channels */
    const float *in;            /* (N, CI, HI, W): planes in_cs, images in_is floats apart */
    int64_t in_cs, in_is;
    float *out;                 /* (N, KO, OH, W): planes out_cs, images out_is apart */
    int64_t out_cs, out_is;
    const float *wp;            /* packed (ceil(KO/KB), nt, CI, KB): wt(kb*KB+i, ci, t) at
                                 * ((kb*nt + t)*CI + ci)*KB + i, zero past KO */
    const float *bias;          /* (KO), or NULL */
    int relu;
    const nr_conv_plan *plan;   /* positions of one output plane, taps on in */
} nr_dconv;

/* The weight gradient's reduction: g[ko][ci][t] = sum over the positions q of
 * the plan of dy[n][ko][q] * x[n][ci] read at tap t, summed over images. */
typedef struct {
    int n, ci, ko;              /* images, channels of x, channels of dy */
    const float *x;             /* (N, CI, HI, W) */
    int64_t x_cs, x_is;
    const float *dy;            /* (N, KO, OH, W) */
    int64_t dy_cs, dy_is;
    const nr_conv_plan *plan;   /* positions of one dy plane, taps on x */
} nr_dfilt_pos;

/* The 3x3 stride-1 Winograd convolution (one-dimensional F(4,3) along the
 * rows, conv.c): output rows come in strips of 4, strip s = n*n_strips + i
 * covering rows 4i..4i+3 of image n, computed from input rows 4i - pt ..
 * 4i - pt + 5; the three column taps stay a direct 1x3 convolution in each
 * of the 6 transformed rows. */
typedef struct {
    int n, ci, ko, hi, ho, w, pt, pl;
    int n_strips;               /* strips per image: ceil(ho / 4) */
    const float *in;            /* (N, CI, HI, W), planes in_cs, images in_is apart */
    int64_t in_cs, in_is;
    float *out;                 /* (N, KO, HO, W) */
    int64_t out_cs, out_is;
    const float *u;             /* transformed weights (6, ceil(KO/KB), 3, CI, KB):
                                 * row xi of G*w, tap tx, as nr_dconv.wp with nt = 3 */
    const float *bias;          /* (KO), or NULL */
    int relu;
    const nr_conv_plan *plan;   /* 1x3 taps over the rows of one chunk of strips */
    int chunk;                  /* strips per chunk (the plan covers chunk rows of w) */
    int64_t plane;              /* floats per transformed plane of a chunk: at least
                                 * chunk*w, a multiple of NR_CONV_MAX_VL */
} nr_wino;

/* The 3x3 stride-1 Winograd F(4x4,3x3): output tiles of 4x4, tile
 * t = (n*th + ty)*tw + tx covering rows 4ty.. and columns 4tx.. of image n,
 * computed from the 6x6 input patch at row 4ty - pt, column 4tx - pl (0
 * outside the input).  Tiles come in blocks of `block` (a multiple of the
 * ISA's vl * dc_wv); per block, V = B^T d B of every channel (36, CI, plane),
 * then for each output-channel block the 36 products U[e] V[e] (dconv with
 * one tap over positions = tiles) and y = A^T m A. */
typedef struct {
    int n, ci, ko, hi, ho, w, pt, pl;
    int th, tw;                 /* tile rows ceil(ho / 4), tile columns ceil(w / 4) */
    int block;                  /* tiles per block */
    int64_t plane;              /* floats per channel of V: at least block */
    const float *in;            /* (N, CI, HI, W), planes in_cs, images in_is apart */
    int64_t in_cs, in_is;
    float *out;                 /* (N, KO, HO, W) */
    int64_t out_cs, out_is;
    const float *u;             /* transformed weights (36, ceil(KO/KB), CI, KB): element
                                 * e = 6*xi + xj of G g G^T, as nr_dconv.wp with nt = 1 */
    const float *bias;          /* (KO), or NULL */
    int relu;
    const nr_conv_plan *plan;   /* one tap over a row of `block` positions, all live */
} nr_wino2;

/* Scratch floats of nr_conv_ops.wino2 for w, any ISA: V, and per tile of a
 * block where its input comes from (4 floats), where its outputs go (3)
 * and an index (1). */
static inline int64_t nr_wino2_scratch(const nr_wino2 *w)
{
    return 36 * (int64_t)w->ci * w->plane + 8 * (int64_t)w->block + 1;
}

/* The weight gradient with channels of x in the lanes: output rows are cut
 * into ranges of `rows` rows (numbered over the batch: range r covers rows
 * r*rows .. of the images laid end to end), and range r gives partial sums
 * g_r[(ko*nt + t)*cpad + ci] over its positions, cpad = CI rounded up to
 * NR_CONV_MAX_VL.  Kernel kh x kw read from row oy - pt, column ox - pl. */
typedef struct {
    int n, ci, ko, h, w, oh, kh, kw, pt, pl;
    const float *x;             /* (N, CI, H, W) */
    int64_t x_cs, x_is;
    const float *dy;            /* (N, KO, OH, W) */
    int64_t dy_cs, dy_is;
    int rows;                   /* output rows per range */
    int64_t cpad;
} nr_dfilt_chan;

/* The Winograd weight gradient (transposed F(4,3) along the rows):
 * m[xi][ko][ci][tx] = sum over strips and columns of (A dy)[xi][ko] *
 * (B^T x)[xi][ci] read at column tap tx, and dw = G^T m (conv.c).  Strips as
 * in nr_wino, cut into ranges of `strips` strips (numbered over the batch);
 * range r gives partial sums g_r[((xi*KO + ko)*3 + tx)*cpad + ci]. */
typedef struct {
    int n, ci, ko, h, w, oh, pt, pl, n_strips;
    const float *x;             /* (N, CI, H, W) */
    int64_t x_cs, x_is;
    const float *dy;            /* (N, KO, OH, W) */
    int64_t dy_cs, dy_is;
    int strips;                 /* strips per range */
    int64_t cpad;
} nr_wino_filt;

/* The Winograd weight gradient by F(4x4,3x3), transposed:
 * m[e][ko][ci] = sum over the 4x4 tiles of dy (as nr_wino2's output tiles) of
 * (A t A^T)[e] * (B^T d B)[e], t the tile of dy channel ko (0 outside dy), d
 * its 6x6 patch of x channel ci, A the 6x4 transpose of A^T; then dw =
 * G^T m G (conv.c).  Strips (tile rows, strip s = n*th + ty) are cut into
 * ranges of `strips` strips; range r gives partial sums
 * g_r[(e*KO + ko)*cpad + ci], taking `piece` strips at a time, `groups`
 * groups of vl channels of x per call. */
typedef struct {
    int n, ci, ko, h, w, oh, pt, pl;
    int th, tw;                 /* tile rows ceil(oh / 4), tile columns ceil(w / 4) */
    const float *x;             /* (N, CI, H, W) */
    int64_t x_cs, x_is;
    const float *dy;            /* (N, KO, OH, W) */
    int64_t dy_cs, dy_is;
    int strips;                 /* strips per range */
    int piece;                  /* strips transformed together, at most `strips` */
    int groups;                 /* channel groups of vl per call, 1..4 (dchan's instances) */
    int64_t cpad;
} nr_wino2_filt;

/* Scratch floats of nr_conv_ops.wino2_filt for f, any ISA: one strip's 6
 * input rows, the transformed input and dy of a piece. */
static inline int64_t nr_wino2_filt_scratch(const nr_wino2_filt *f)
{
    const int64_t nq = (int64_t)f->piece * f->tw;
    return (6 * (4 * (int64_t)f->tw + 2) + 36 * f->groups * nq) * NR_CONV_MAX_VL +
           36 * NR_CONV_MAX_KB * nq;
}

typedef struct {
    const char *name;
    int vl;                     /* lanes per vector */
    int dc_wv;                  /* vectors per register block of dconv */
    /* out for output-channel blocks kb0..kb1-1 and vectors v0..v1-1 */
    void (*dconv)(const nr_dconv *d, int64_t v0, int64_t v1, int kb0, int kb1);
    /* g (KO, CI, nt) = the sums over vectors v0..v1-1 (overwritten) */
    void (*dfilt_pos)(const nr_dfilt_pos *f, int64_t v0, int64_t v1, float *g);
    /* range r of f, channels c0..c0+vl-1 of x, into g_r (its slice of them
     * overwritten); scratch: (min(rows, oh) + kh - 1)*(w + kw - 1)*vl floats */
    void (*dfilt_chan)(const nr_dfilt_chan *f, int64_t r, int c0, float *g, float *scratch);
    /* strips s0..s1-1 (at most w->chunk of them), prefetching the input of
     * strips p0..p1-1 meanwhile; scratch: 6*CI*plane floats */
    void (*wino)(const nr_wino *w, int64_t s0, int64_t s1, int64_t p0, int64_t p1,
                 float *scratch);
    /* range r of f, channels c0..c0+vl-1 of x, into g_r (its slice of them
     * overwritten); scratch: nr_wino_filt_scratch floats */
    void (*wino_filt)(const nr_wino_filt *f, int64_t r, int c0, float *g, float *scratch);
    /* block b of w's tiles, prefetching the input of block next meanwhile
     * (none: -1); scratch: nr_wino2_scratch floats */
    void (*wino2)(const nr_wino2 *w, int64_t b, int64_t next, float *scratch);
    /* range r of f, channels c0..c0+groups*vl-1 of x, into g_r (its slice of
     * them overwritten); scratch: nr_wino2_filt_scratch floats */
    void (*wino2_filt)(const nr_wino2_filt *f, int64_t r, int c0, float *g, float *scratch);
} nr_conv_ops;

/* Scratch floats of nr_conv_ops.wino_filt for f, any ISA. */
static inline int64_t nr_wino_filt_scratch(const nr_wino_filt *f)
{
    const int64_t s = f->strips < f->n_strips ? f->strips : f->n_strips, wp = f->w + 2;
    return ((4 * s + 2) * wp + 6 * s * wp) * NR_CONV_MAX_VL + 6 * NR_CONV_MAX_KB * s * f->w;
}

#ifdef NR_CONV_X86
extern const nr_conv_ops nr_conv_avx512_ops, nr_conv_avx2_ops;
#endif

/* conv.c's per-thread scratch, which conv_bf16.c shares: reserve makes the
 * buffer of every thread of the pool hold n floats, 64-byte aligned (0, or
 * -1 when out of memory); nr_conv_scratch(tid) is thread tid's (tid of
 * nr_par_for).  nr_conv_fast_release frees them. */
int nr_conv_scratch_reserve(size_t n);
float *nr_conv_scratch(int tid);

#endif
