/* netg.h — the compiled graph (.netg): in-memory form, file reader and writer.
 * netc fills an ng_graph and calls ng_graph_save; netrun calls ng_graph_load,
 * which validates every index, size and offset before returning.
 * File layout: see netg_file.c.  All strings and arrays are owned by the graph and
 * released by ng_graph_free. */
#ifndef NETG_H
#define NETG_H

#include <stddef.h>
#include <stdint.h>

#define NG_MAGIC       "NETG"
#define NG_VERSION     3         /* 2: the loss primitives (ops.def); 3: step and
                                    total_steps bindings, the options table */
#define NG_MAX_DIMS    4
#define NG_MAX_IN      8
#define NG_MAX_IA      8
#define NG_MAX_FA      6
#define NG_MAX_CLASSES 256

/* Limits the reader and ng_graph_check enforce. */
#define NG_MAX_STRING  4096      /* bytes in a name or other string */
#define NG_MAX_OPTIONS 256       /* entries of the options table */
#define NG_MAX_TENSORS 1000000
#define NG_MAX_NODES   1000000   /* per entry point */
#define NG_MAX_ENTRIES 256
#define NG_MAX_TENSOR_BYTES ((int64_t)1 << 40)
#define NG_MAX_ARENA_BYTES  ((int64_t)1 << 40)
#define NG_MAX_ELEMS (NG_MAX_TENSOR_BYTES / 4)

/* The ops, in the order of ops.def (the file opcode). */
typedef enum ng_op {
#define OP(ID, name, n_in, opt, flags, nograd, shape, kernel, grad, attrs) NG_OP_##ID,
#define UNARY(ID, name, flags, nograd, shape, attrs, expr, grad) NG_OP_##ID,
#define UNARY_DX(ID, name, flags, shape, attrs, expr, reads, bwd_flags, dx) NG_OP_##ID,
#define UNARY_BWD(ID) NG_OP_##ID##_BWD,
#include "ops.def"
#undef UNARY_BWD
#undef UNARY_DX
#undef UNARY
#undef OP
    NG_OP_COUNT
} ng_op;

/* Op flags (the flags column of ops.def) */
#define NG_F_WORKSPACE    0x01u /* needs a scratch buffer (node.ws) */
#define NG_F_RANDOM       0x02u /* draws random numbers: seed, step, ia[0] */
#define NG_F_UPDATE       0x04u /* no output; writes its inputs in place */
#define NG_F_ELEMWISE     0x08u /* y[i] depends on element i of same-shape inputs only */
#define NG_F_INPLACE_OK   0x10u /* the kernel may write its output over an input of its size */
#define NG_F_RECOMPUTABLE 0x20u /* cheap: netc --recompute may run it again in the
                                   backward pass instead of keeping its output */
#define NG_F_UNARY        0x40u /* a UNARY row: y = expr(x), see ng_unary_f32 */
#define NG_F_FUNC         0x80u /* a UNARY row callable as name(x) in the language */
#define NG_F_INT_EXACT   0x100u /* a UNARY row that maps integers to integers */
#define NG_F_READS_Y     0x200u /* an elementwise gradient that reads the forward
                                   op's output y (its input 1), not its input x */
/* The reads column of a UNARY_DX row as the flag of its backward op. */
#define NG_F_READS_x 0u
#define NG_F_READS_y NG_F_READS_Y

/* The opt and nograd columns: input bits. */
#define NG_IN(i)   (1u << (i))
#define NG_IN_ALL  0xffu

/* The im2col workspace of a convolution holds one band of output rows at a
 * time: as many rows as fit in NG_CONV_BAND_FLOATS (at least one, at most
 * oh).  Shared by the shape rules (which size the workspace tensor) and the
 * kernels (which walk the bands), so the two cannot disagree. */
#define NG_CONV_BAND_FLOATS (2 * 1024 * 1024)
static inline int64_t ng_conv_band_rows(int64_t c, int64_t kh, int64_t kw, int64_t oh, int64_t ow)
{
    int64_t row = c * kh * kw * ow; /* floats per output row */
    int64_t rows = row > 0 ? NG_CONV_BAND_FLOATS / row : oh;
    return rows < 1 ? 1 : rows > oh ? oh : rows;
}

/* A float attribute a or b of a UNARY row (ops.def ATTR1, ATTR2). */
typedef struct {
    const char *name;    /* NULL: the row has no such attribute */
    const char *def;     /* its default in the language (source text);
                            NULL: it must be given */
    double min;          /* its range, which shape_unary checks: finite and
                            >= min; -INFINITY: any finite value; NAN: any
                            value, infinities too */
} ng_fa_attr;

/* One row of ops.def. */
typedef struct {
    const char *name;
    int n_in;            /* -1: variadic */
    unsigned opt;        /* NG_IN(i) bits: inputs that may be absent (-1) */
    unsigned flags;      /* NG_F_* */
    unsigned nograd;     /* NG_IN(i) bits */
    const char *attrs;   /* "ia names | fa names" */
    ng_fa_attr fa[2];    /* UNARY rows and their backward ops: a and b */
} ng_op_info;

extern const ng_op_info ng_ops[NG_OP_COUNT];

/* The elementwise math of the UNARY rows of ops.def: y[i] = expr(x[i]) in
 * float (the kernel), or one value in double (constant folding).  a, b are
 * the node's fa[0], fa[1].  op must have NG_F_UNARY. */
void ng_unary_f32(ng_op op, int64_t n, const float *x, float a, float b, float *y);
double ng_unary_f64(ng_op op, double x, double a, double b);
/* The backward ops of the UNARY_DX rows: dx[i] = dx(dy[i], v[i]) in float,
 * v being x or y (NG_F_READS_Y), a and b the node's fa[0], fa[1].  op must
 * be such a backward op (ID_BWD). */
void ng_unary_bwd_f32(ng_op op, int64_t n, const float *dy, const float *v, float a, float b, float *dx);

enum { NG_F32 = 0, NG_I32 = 1 };

/* Where a tensor lives.  Persistent tensors survive across steps and entries
 * (one state buffer per process); the rest get offsets in each entry's arena. */
enum {
    NG_ROLE_INPUT = 0,   /* persistent: filled by netrun before a step */
    NG_ROLE_PARAM,       /* persistent: trainable weight, checkpointed */
    NG_ROLE_OPT_STATE,   /* persistent: optimizer moment, checkpointed */
    NG_ROLE_CONST,       /* persistent: set once at load (class weights) */
    NG_ROLE_ACT,         /* arena: forward activation */
    NG_ROLE_GRAD,        /* arena: gradient */
    NG_ROLE_WORKSPACE,   /* arena: op scratch */
    NG_ROLE_COUNT
};

/* How a persistent tensor gets its first value. */
enum {
    NG_INIT_NONE = 0,    /* filled by netrun (inputs) */
    NG_INIT_ZEROS,
    NG_INIT_ONES,
    NG_INIT_HE_NORMAL,   /* N(0, sqrt(2/fan_in)) truncated at 2 sigma, as Keras */
    NG_INIT_GLOROT_UNIFORM, /* U(+-sqrt(6/(fan_in+fan_out))) */
    NG_INIT_DATA,        /* values stored in the file (ng_tensor.data) */
    NG_INIT_CLASS_WEIGHTS, /* computed by netrun from the training masks */
    NG_INIT_CLASS_PRIORS,  /* the class frequencies of the training masks,
                              (count_c + 1) / (total + classes), so none is 0 */
    NG_INIT_COUNT
};

/* Class-weight schemes for NG_INIT_CLASS_WEIGHTS, from the labelled pixels
 * of the training masks: count_c of class c, total over all classes,
 * freq_c = count_c / total.  Absent classes get 0 in every scheme. */
enum {
    NG_CW_BALANCED = 0,  /* total / (n_classes * count_c) (scikit-learn) */
    NG_CW_MEDIAN_FREQ,   /* median(freq over present classes) / freq_c */
    NG_CW_INVERSE_SQRT,  /* 1 / sqrt(freq_c), scaled so sum_c freq_c w_c = 1 */
    NG_CW_EFFECTIVE,     /* (1 - beta) / (1 - beta^count_c), the inverse effective
                            number of samples (Cui et al. 2019), scaled so the
                            present classes' weights sum to their number;
                            beta = init_arg[3] in [0, 1) */
    NG_CW_COUNT
};

/* "balanced", "median_freq", "inverse_sqrt"; "?" out of range. */
const char *ng_cw_name(int scheme);

typedef struct {
    char *name;          /* stable, readable; the checkpoint key */
    uint8_t dtype;       /* NG_F32 | NG_I32 */
    uint8_t role;        /* NG_ROLE_* */
    uint8_t init;        /* NG_INIT_* */
    uint8_t ndim;        /* 0..NG_MAX_DIMS; 0 means a scalar of one element */
    int32_t dim[NG_MAX_DIMS];
    float init_arg[4];   /* HE: fan_in; GLOROT: fan_in, fan_out;
                            CLASS_WEIGHTS: scheme, clip_lo, clip_hi
                            (clip_hi 0: no clipping), beta (effective) */
    float *data;         /* NG_INIT_DATA: nelem floats; else NULL */
} ng_tensor;

typedef struct {
    uint16_t op;                 /* NG_OP_* */
    uint8_t n_in;
    int32_t in[NG_MAX_IN];       /* tensor ids; -1 = absent optional input */
    int32_t out;                 /* tensor id, -1 for NG_F_UPDATE ops */
    int32_t ws;                  /* workspace tensor id or -1 */
    int32_t ia[NG_MAX_IA];
    float fa[NG_MAX_FA];
} ng_node;

/* Dilation and groups of a convolution node (CONV2D, CONV2D_BWD_DATA,
 * CONV2D_BWD_FILTER, CONV_TRANSPOSE2D); a stored 0 reads as 1.  CONV2D keeps
 * them in ia[6] and ia[7]; the others, whose ia[5] and ia[6] hold sizes,
 * pack both into ia[7] = dilation + NG_CONV_DIL_LIMIT * groups
 * (ng_conv_pack).  Dilation is below NG_CONV_DIL_LIMIT (the shape rules
 * check it). */
#define NG_CONV_DIL_LIMIT 256
static inline int32_t ng_conv_pack(int32_t dilation, int32_t groups)
{
    return dilation + NG_CONV_DIL_LIMIT * groups;
}
static inline int32_t ng_conv_dilation(const ng_node *n)
{
    int32_t d = n->op == NG_OP_CONV2D ? n->ia[6] : n->ia[7] % NG_CONV_DIL_LIMIT;
    return d > 0 ? d : 1;
}
static inline int32_t ng_conv_groups(const ng_node *n)
{
    int32_t g = n->op == NG_OP_CONV2D ? n->ia[7] : n->ia[7] / NG_CONV_DIL_LIMIT;
    return g > 0 ? g : 1;
}

typedef struct {
    char *name;          /* "train", "eval", "infer" */
    int32_t n_nodes;
    ng_node *nodes;      /* in execution order */
    int64_t arena_bytes;
    int64_t *offset;     /* per tensor: byte offset in this arena, -1 if unused
                            here or persistent */
} ng_entry;

/* Bindings netrun needs to feed and read the graph. -1 when absent. */
typedef struct {
    int32_t image;       /* input f32 (N,C,H,W) */
    int32_t labels;      /* input i32 (N,H,W) */
    int32_t classes;     /* number of classes of the labels */
    int32_t ignore;      /* label value that is ignored (255) */
    int32_t loss;        /* f32 scalar (eval, train) */
    int32_t output;      /* f32 (N,classes,H,W) probabilities (infer, eval) */
    int32_t class_weights; /* CONST tensor (classes) or -1 */
    int32_t step;        /* f32 scalar input: the optimizer steps taken so far,
                            fed by netrun before each run (schedules) */
    int32_t total_steps; /* f32 scalar input: the run's total optimizer steps */
    char *output_name;   /* name given in the model: "prediction" */
    char *optimizer;     /* "adam" | "sgd", for info */
} ng_bindings;

/* A setting of the model file for netrun rather than for the graph (how to
 * sample, crop and normalize the data...): key = value, both strings.  Keys
 * are unique and non-empty; ng_graph_option looks one up. */
typedef struct {
    char *key;
    char *value;
} ng_option;

typedef struct {
    int32_t n_tensors;
    ng_tensor *tensors;
    int32_t n_entries;
    ng_entry *entries;
    ng_bindings bind;
    int32_t n_options;
    ng_option *options;
    char *source;        /* model file name, for info */
} ng_graph;

/* The value of option key, or NULL when the graph has none. */
const char *ng_graph_option(const ng_graph *g, const char *key);

/* Product of dims (1 for ndim 0); -1 for ndim > 4, a negative dim or int64
 * overflow.  Bytes are 4 per element for both dtypes (-1 likewise). */
/* Shapes as (ndim, dim): the element count (-1 for a negative dim, ndim
 * outside 0..4 or int64 overflow); 1 when every dim is >= 1 and the tensor
 * fits in NG_MAX_TENSOR_BYTES; "2x3x8x8" ("scalar" for ndim 0) in buf of at
 * least 64 bytes; equal shapes. */
int64_t ng_shape_nelem(int ndim, const int32_t *dim);
int ng_shape_ok(int ndim, const int32_t *dim);
const char *ng_shape_str(char *buf, int ndim, const int32_t *dim);
int ng_same_shape(const ng_tensor *a, const ng_tensor *b);
/* Tensor i's rank and dims are valid (the message names tensor i). */
int ng_tensor_shape_check(int32_t i, const ng_tensor *t, char *err, size_t errlen);

int64_t ng_tensor_nelem(const ng_tensor *t);
int64_t ng_tensor_bytes(const ng_tensor *t);
int ng_role_is_persistent(int role);
const char *ng_role_name(int role);
const char *ng_init_name(int init);
const ng_entry *ng_graph_entry(const ng_graph *g, const char *name);

/* Write g to path atomically (path.tmp.PID, fsync, rename).  Does not
 * validate: call ng_graph_check first.  Returns 0, or -1 with a message in err. */
int ng_graph_save(const ng_graph *g, const char *path, char *err, size_t errlen);
/* Read and validate path.  Returns a new graph, or NULL with a message in err
 * naming the file and the problem. */
ng_graph *ng_graph_load(const char *path, char *err, size_t errlen);
/* Same on an in-memory image of a file (used by tests and the fuzzer). */
ng_graph *ng_graph_parse(const unsigned char *buf, size_t len, const char *name,
                         char *err, size_t errlen);
/* Validate an in-memory graph (shapes per op, ids, offsets).  0 or -1. */
int ng_graph_check(const ng_graph *g, char *err, size_t errlen);
void ng_graph_free(ng_graph *g);

uint32_t ng_crc32(const void *buf, size_t len);

/* The file image of g (header and payload) in a new buffer *out of *outlen
 * bytes, freed by the caller.  Like ng_graph_save it checks only what the
 * format needs (counts, string lengths, data present), not ids or shapes:
 * call ng_graph_check first.  Returns 0, or -1 with a message in err. */
int ng_graph_serialize(const ng_graph *g, unsigned char **out, size_t *outlen,
                       char *err, size_t errlen);

/* Shape rule of node n, the single source of truth for netc and netrun.
 * in[i] is the tensor of n->in[i] for i < n->n_in, NULL where n->in[i] == -1
 * (only inputs of the row's opt column may be absent); only
 * dtype, ndim and dim are read.  On success fills out->dtype, ndim and dim
 * (unused dims 0; UPDATE ops: ndim 0, nothing to write) and *ws_elems, the f32
 * elements of workspace the op needs (0: none), and returns 0; otherwise -1
 * with "op: problem" in err.  Attribute conventions beyond ops.def:
 *   CONV2D_BWD_DATA    ia[5], ia[6] = H, W of the forward input
 *   CONV2D_BWD_FILTER  ia[5], ia[6] = KH, KW of the kernel
 *   DROPOUT_MASK       ia[1], ia[2] = N, C of the mask (it has no inputs)
 *   SLICE_C            ia[0] = first channel, ia[1] = channel count
 *   CROSS_ENTROPY      output shape (1): ndim 1, dim[0] 1
 *   REDUCE_SUM, EXPAND ia[0] reduced dims, ia[1] kept dims (bit masks)
 *   SOFTMAX..., SLICE  ia[0] = the dim (axis), counted from the left
 * Conv workspace: one im2col band, C*KH*KW*OW*ng_conv_band_rows(), 0 for a
 * 1x1 kernel with stride 1 and no padding. */
int ng_op_shape(const ng_node *n, const ng_tensor *const *in, ng_tensor *out,
                int64_t *ws_elems, char *err, size_t errlen);

#endif
