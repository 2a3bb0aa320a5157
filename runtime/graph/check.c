/* check.c — ng_graph_check: every id, shape, role and offset of a graph,
 * whether netc built it or netrun read it from a file; and ng_graph_free. */
#define _POSIX_C_SOURCE 200809L
#include "netg.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- graph validation -------------------------------------------------- */

/* NULL when s is a usable name, else what is wrong with it. */
static const char *name_problem(const char *s)
{
    if (!s || !*s)
        return "has no name";
    size_t n = strnlen(s, NG_MAX_STRING + 1);
    if (n > NG_MAX_STRING)
        return "has a name over the string limit";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return "has a control character in its name";
    return NULL;
}

/* Rank, dims and size of tensor i; shared by the reader and ng_graph_check. */
int ng_tensor_shape_check(int32_t i, const ng_tensor *t, char *err, size_t errlen)
{
    char b[64];
    if (t->ndim > NG_MAX_DIMS)
        return ng_fail(err, errlen, "tensor %" PRId32 " has %u dims (at most %d)",
                    i, (unsigned)t->ndim, NG_MAX_DIMS);
    for (int k = 0; k < t->ndim; k++)
        if (t->dim[k] < 1)
            return ng_fail(err, errlen, "tensor %" PRId32 " has dim %" PRId32, i,
                        t->dim[k]);
    if (!ng_shape_ok(t->ndim, t->dim))
        return ng_fail(err, errlen, "tensor %" PRId32 " is %s, over the %" PRId64
                    "-byte limit", i, ng_shape_str(b, t->ndim, t->dim),
                    (int64_t)NG_MAX_TENSOR_BYTES);
    return 0;
}

static int check_tensor(const ng_graph *g, int32_t i, char *err, size_t errlen)
{
    const ng_tensor *t = &g->tensors[i];
    const char *bad = name_problem(t->name);
    if (bad)
        return ng_fail(err, errlen, "tensor %" PRId32 " %s", i, bad);
    if (ng_tensor_shape_check(i, t, err, errlen))
        return -1;
    if (t->dtype != NG_F32 && t->dtype != NG_I32)
        return ng_fail(err, errlen, "tensor %" PRId32 " ('%s') has dtype %u", i,
                    t->name, (unsigned)t->dtype);
    if (t->role >= NG_ROLE_COUNT)
        return ng_fail(err, errlen, "tensor %" PRId32 " ('%s') has role %u", i,
                    t->name, (unsigned)t->role);
    if (t->init >= NG_INIT_COUNT)
        return ng_fail(err, errlen, "tensor %" PRId32 " ('%s') has init %u", i,
                    t->name, (unsigned)t->init);
    int filled = t->role == NG_ROLE_PARAM || t->role == NG_ROLE_OPT_STATE ||
                 t->role == NG_ROLE_CONST; /* netrun must give it a value */
    if (filled != (t->init != NG_INIT_NONE))
        return ng_fail(err, errlen, "tensor %" PRId32 " ('%s'): a %s tensor %s",
                    i, t->name, ng_role_name(t->role),
                    filled ? "needs an initializer" : "cannot have an initializer");
    if ((t->role == NG_ROLE_PARAM || t->role == NG_ROLE_OPT_STATE ||
         t->init >= NG_INIT_HE_NORMAL) && t->dtype != NG_F32)
        return ng_fail(err, errlen, "tensor %" PRId32 " ('%s') must be f32", i,
                    t->name);
    const float *a = t->init_arg;
    switch (t->init) {
    case NG_INIT_HE_NORMAL:
        if (!(a[0] > 0) || !isfinite(a[0]))
            return ng_fail(err, errlen, "tensor %" PRId32 " ('%s'): he_normal "
                        "fan_in %g must be > 0", i, t->name, (double)a[0]);
        break;
    case NG_INIT_GLOROT_UNIFORM:
        if (!(a[0] > 0) || !(a[1] > 0) || !isfinite(a[0]) || !isfinite(a[1]))
            return ng_fail(err, errlen, "tensor %" PRId32 " ('%s'): glorot_uniform "
                        "fans %g, %g must be > 0", i, t->name, (double)a[0],
                        (double)a[1]);
        break;
    case NG_INIT_DATA:
        if (!t->data)
            return ng_fail(err, errlen, "tensor %" PRId32 " ('%s') has init data "
                        "but no data", i, t->name);
        break;
    case NG_INIT_CLASS_WEIGHTS:
        if (t->role != NG_ROLE_CONST)
            return ng_fail(err, errlen, "tensor %" PRId32 " ('%s'): class weights "
                        "must be a const tensor", i, t->name);
        if (!(a[0] >= 0 && a[0] < NG_CW_COUNT) || a[0] != (float)(int)a[0])
            return ng_fail(err, errlen, "tensor %" PRId32 " ('%s'): unknown "
                        "class-weight scheme %g", i, t->name, (double)a[0]);
        if (!(a[1] >= 0) || !isfinite(a[1]))
            return ng_fail(err, errlen, "tensor %" PRId32 " ('%s'): class-weight "
                        "clip %g must be >= 0", i, t->name, (double)a[1]);
        if (a[0] == NG_CW_EFFECTIVE && !(a[3] >= 0 && a[3] < 1))
            return ng_fail(err, errlen, "tensor %" PRId32 " ('%s'): effective-number "
                        "beta %g must be in [0, 1)", i, t->name, (double)a[3]);
        break;
    case NG_INIT_CLASS_PRIORS:
        if (t->role != NG_ROLE_CONST || t->dtype != NG_F32)
            return ng_fail(err, errlen, "tensor %" PRId32 " ('%s'): class priors "
                        "must be an f32 const tensor", i, t->name);
        break;
    default:
        break;
    }
    return 0;
}

typedef struct {
    const char *name;
    int32_t id;
} name_id;

static int name_id_cmp(const void *pa, const void *pb)
{
    const name_id *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

/* Tensor names (already checked non-empty) must be unique: sort and compare
 * neighbours. */
static int check_unique_names(const ng_graph *g, char *err, size_t errlen)
{
    if (g->n_tensors < 2)
        return 0;
    name_id *v = malloc((size_t)g->n_tensors * sizeof *v);
    if (!v)
        return ng_fail(err, errlen, "out of memory");
    for (int32_t i = 0; i < g->n_tensors; i++)
        v[i] = (name_id){ g->tensors[i].name, i };
    qsort(v, (size_t)g->n_tensors, sizeof *v, name_id_cmp);
    int rc = 0;
    for (int32_t i = 1; i < g->n_tensors && !rc; i++)
        if (strcmp(v[i - 1].name, v[i].name) == 0)
            rc = ng_fail(err, errlen, "tensors %" PRId32 " and %" PRId32
                      " are both named '%s'", v[i - 1].id, v[i].id, v[i].name);
    free(v);
    return rc;
}

static int check_bindings(const ng_graph *g, char *err, size_t errlen)
{
    const ng_bindings *b = &g->bind;
    const struct { const char *what; int32_t id; } ids[] = {
        { "image", b->image }, { "labels", b->labels }, { "loss", b->loss },
        { "output", b->output }, { "class_weights", b->class_weights },
        { "step", b->step }, { "total_steps", b->total_steps },
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id < -1 || ids[i].id >= g->n_tensors)
            return ng_fail(err, errlen, "bindings: %s is tensor %" PRId32
                        ", out of range (%" PRId32 " tensors)", ids[i].what,
                        ids[i].id, g->n_tensors);
#define BOUND(id) ((id) >= 0 ? &g->tensors[(id)] : NULL)
    const ng_tensor *im = BOUND(b->image), *lb = BOUND(b->labels),
                    *ls = BOUND(b->loss), *out = BOUND(b->output),
                    *cw = BOUND(b->class_weights);
#undef BOUND
    if (!im || !out)
        return ng_fail(err, errlen, "bindings: the graph has no %s", !im ? "image input" : "output");
    int32_t k = b->classes;
    char s1[64], s2[64];
    if (k != -1 && (k < 1 || k > NG_MAX_CLASSES))
        return ng_fail(err, errlen, "bindings: %" PRId32 " classes (1 to %d)", k,
                    NG_MAX_CLASSES);
    if (k == -1 && (lb || out || cw))
        return ng_fail(err, errlen, "bindings: the number of classes is missing");
    if (im && (im->dtype != NG_F32 || im->ndim != 4 || im->role != NG_ROLE_INPUT))
        return ng_fail(err, errlen, "bindings: image ('%s') must be an f32 "
                    "(N,C,H,W) input", im->name);
    if (lb && (lb->dtype != NG_I32 || lb->ndim != 3 || lb->role != NG_ROLE_INPUT))
        return ng_fail(err, errlen, "bindings: labels ('%s') must be an i32 "
                    "(N,H,W) input", lb->name);
    if (im && lb && (lb->dim[0] != im->dim[0] || lb->dim[1] != im->dim[2] ||
                     lb->dim[2] != im->dim[3]))
        return ng_fail(err, errlen, "bindings: labels are %s but the image is %s",
                    ng_shape_str(s1, lb->ndim, lb->dim),
                    ng_shape_str(s2, im->ndim, im->dim));
    if (ls && (ls->dtype != NG_F32 || ng_tensor_nelem(ls) != 1))
        return ng_fail(err, errlen, "bindings: loss ('%s') must be one f32 element",
                    ls->name);
    if (out && (out->dtype != NG_F32 || out->ndim != 4 || out->dim[1] != k))
        return ng_fail(err, errlen, "bindings: output ('%s') is %s, expected f32 "
                    "(N,%" PRId32 ",H,W)", out->name,
                    ng_shape_str(s1, out->ndim, out->dim), k);
    if (out && im && (out->dim[0] != im->dim[0] || out->dim[2] != im->dim[2] ||
                      out->dim[3] != im->dim[3]))
        return ng_fail(err, errlen, "bindings: output is %s but the image is %s",
                    ng_shape_str(s1, out->ndim, out->dim),
                    ng_shape_str(s2, im->ndim, im->dim));
    if (cw && (cw->dtype != NG_F32 || cw->ndim != 1 || cw->dim[0] != k ||
               cw->role != NG_ROLE_CONST))
        return ng_fail(err, errlen, "bindings: class_weights ('%s') must be an f32 "
                    "const of %" PRId32 " elements", cw->name, k);
    const int32_t counters[2] = {b->step, b->total_steps};
    for (int i = 0; i < 2; i++) {
        const ng_tensor *t = counters[i] >= 0 ? &g->tensors[counters[i]] : NULL;
        if (t && (t->dtype != NG_F32 || ng_tensor_nelem(t) != 1 || t->role != NG_ROLE_INPUT))
            return ng_fail(err, errlen, "bindings: %s ('%s') must be an f32 scalar input",
                           i ? "total_steps" : "step", t->name);
    }
    return 0;
}

static int check_options(const ng_graph *g, char *err, size_t errlen)
{
    for (int32_t i = 0; i < g->n_options; i++) {
        const ng_option *o = &g->options[i];
        if (!o->key || !o->key[0] || !o->value)
            return ng_fail(err, errlen, "options: entry %" PRId32 " has an empty %s", i,
                           !o->key || !o->key[0] ? "name" : "value");
        for (int32_t j = 0; j < i; j++)
            if (strcmp(g->options[j].key, o->key) == 0)
                return ng_fail(err, errlen, "options: '%s' is set twice", o->key);
    }
    return 0;
}

const char *ng_graph_option(const ng_graph *g, const char *key)
{
    for (int32_t i = 0; i < g->n_options; i++)
        if (strcmp(g->options[i].key, key) == 0)
            return g->options[i].value;
    return NULL;
}

/* An arena tensor used by a node: it must have an offset in this entry. */
static int check_placed(const ng_graph *g, const ng_entry *e, const char *pre,
                        const char *slot, int32_t id, char *err, size_t errlen)
{
    if (e->offset[id] < 0)
        return ng_fail(err, errlen, "%s: %s (tensor %" PRId32 " '%s') has no offset "
                    "in this entry", pre, slot, id, g->tensors[id].name);
    return 0;
}

static int check_node(const ng_graph *g, const ng_entry *e, int32_t j,
                      uint8_t *made, char *err, size_t errlen)
{
    const ng_node *nd = &e->nodes[j];
    const ng_tensor *ins[NG_MAX_IN] = { 0 };
    char pre[192], slot[16], msg[256], b1[64], b2[64];

    if (nd->op >= NG_OP_COUNT)
        return ng_fail(err, errlen, "entry '%s', node %" PRId32 ": op %u out of "
                    "range (%d ops)", e->name, j, (unsigned)nd->op, NG_OP_COUNT);
    const ng_op_info *oi = &ng_ops[nd->op];
    snprintf(pre, sizeof pre, "entry '%s', node %" PRId32 ": %s", e->name, j,
             oi->name);
    if (oi->n_in >= 0 ? nd->n_in != oi->n_in : nd->n_in < 1 || nd->n_in > NG_MAX_IN)
        return ng_fail(err, errlen, "%s: %u inputs, expects %s%d", pre,
                    (unsigned)nd->n_in, oi->n_in >= 0 ? "" : "1 to ",
                    oi->n_in >= 0 ? oi->n_in : NG_MAX_IN);
    for (int i = 0; i < NG_MAX_IN; i++) {
        int32_t id = nd->in[i];
        snprintf(slot, sizeof slot, "in[%d]", i);
        if (i >= nd->n_in) {
            if (id != -1)
                return ng_fail(err, errlen, "%s: unused %s is %" PRId32
                            ", expected -1", pre, slot, id);
            continue;
        }
        if (id == -1) {
            if (!(oi->opt & NG_IN(i)))
                return ng_fail(err, errlen, "%s: %s is missing", pre, slot);
            continue;
        }
        if (id < 0 || id >= g->n_tensors)
            return ng_fail(err, errlen, "%s: %s is tensor %" PRId32 ", out of range "
                        "(%" PRId32 " tensors)", pre, slot, id, g->n_tensors);
        ins[i] = &g->tensors[id];
        if (ng_role_is_persistent(ins[i]->role))
            continue;
        if (check_placed(g, e, pre, slot, id, err, errlen))
            return -1;
        if (!made[id])
            return ng_fail(err, errlen, "%s: %s reads tensor %" PRId32 " ('%s') "
                        "before any node of this entry writes it", pre, slot, id,
                        ins[i]->name);
    }
    if (oi->flags & NG_F_UPDATE) {
        if (nd->out != -1)
            return ng_fail(err, errlen, "%s: out is %" PRId32 " but the op writes "
                        "in place (expected -1)", pre, nd->out);
        int n_state = nd->op == NG_OP_ADAM ? 4 : nd->op == NG_OP_SGD ? 3 : nd->n_in;
        for (int i = 0; i < nd->n_in && i < n_state; i++) { /* then scale, lr */
            int want = i == 0 ? NG_ROLE_PARAM : NG_ROLE_OPT_STATE;
            if (i != 1 && ins[i]->role != want)
                return ng_fail(err, errlen, "%s: in[%d] (tensor %" PRId32 " '%s') "
                            "is a %s tensor, expected %s", pre, i, nd->in[i],
                            ins[i]->name, ng_role_name(ins[i]->role),
                            ng_role_name(want));
        }
    } else {
        int32_t id = nd->out;
        if (id < 0 || id >= g->n_tensors)
            return ng_fail(err, errlen, "%s: out is tensor %" PRId32 ", out of range "
                        "(%" PRId32 " tensors)", pre, id, g->n_tensors);
        const ng_tensor *t = &g->tensors[id];
        if (t->role != NG_ROLE_ACT && t->role != NG_ROLE_GRAD)
            return ng_fail(err, errlen, "%s: out (tensor %" PRId32 " '%s') is a %s "
                        "tensor; outputs are act or grad tensors", pre, id,
                        t->name, ng_role_name(t->role));
        if (check_placed(g, e, pre, "out", id, err, errlen))
            return -1;
    }
    if (nd->ws != -1) {
        int32_t id = nd->ws;
        if (!(oi->flags & NG_F_WORKSPACE))
            return ng_fail(err, errlen, "%s: ws is %" PRId32 " but the op takes no "
                        "workspace (expected -1)", pre, id);
        if (id < 0 || id >= g->n_tensors)
            return ng_fail(err, errlen, "%s: ws is tensor %" PRId32 ", out of range "
                        "(%" PRId32 " tensors)", pre, id, g->n_tensors);
        const ng_tensor *t = &g->tensors[id];
        if (t->role != NG_ROLE_WORKSPACE || t->dtype != NG_F32)
            return ng_fail(err, errlen, "%s: ws (tensor %" PRId32 " '%s') must be "
                        "an f32 workspace tensor", pre, id, t->name);
        if (check_placed(g, e, pre, "ws", id, err, errlen))
            return -1;
    }

    ng_tensor want;
    int64_t ws_elems;
    if (ng_op_shape(nd, ins, &want, &ws_elems, msg, sizeof msg))
        return ng_fail(err, errlen, "entry '%s', node %" PRId32 ": %s", e->name, j,
                    msg);
    if (!(oi->flags & NG_F_UPDATE)) {
        const ng_tensor *t = &g->tensors[nd->out];
        if (t->dtype != want.dtype || !ng_same_shape(t, &want))
            return ng_fail(err, errlen, "%s: out (tensor %" PRId32 " '%s') is %s%s "
                        "but the op gives f32 %s", pre, nd->out, t->name,
                        t->dtype == NG_F32 ? "f32 " : "i32 ",
                        ng_shape_str(b1, t->ndim, t->dim),
                        ng_shape_str(b2, want.ndim, want.dim));
        made[nd->out] = 1;
    }
    if (ws_elems > 0) {
        if (nd->ws == -1)
            return ng_fail(err, errlen, "%s: needs a workspace of %" PRId64
                        " floats but has none", pre, ws_elems);
        int64_t have = ng_tensor_nelem(&g->tensors[nd->ws]);
        if (have < ws_elems)
            return ng_fail(err, errlen, "%s: workspace (tensor %" PRId32 " '%s') "
                        "has %" PRId64 " floats, needs %" PRId64, pre, nd->ws,
                        g->tensors[nd->ws].name, have, ws_elems);
    }
    return 0;
}

static int check_entry(const ng_graph *g, int32_t ei, uint8_t *made, char *err,
                       size_t errlen)
{
    const ng_entry *e = &g->entries[ei];
    if (e->arena_bytes < 0 || e->arena_bytes > NG_MAX_ARENA_BYTES)
        return ng_fail(err, errlen, "entry '%s': arena of %" PRId64 " bytes (0 to %"
                    PRId64 ")", e->name, e->arena_bytes,
                    (int64_t)NG_MAX_ARENA_BYTES);
    if (e->n_nodes < 0 || e->n_nodes > NG_MAX_NODES || (e->n_nodes && !e->nodes))
        return ng_fail(err, errlen, "entry '%s': %" PRId32 " nodes (0 to %d)",
                    e->name, e->n_nodes, NG_MAX_NODES);
    if (g->n_tensors > 0 && !e->offset)
        return ng_fail(err, errlen, "entry '%s' has no offset table", e->name);
    for (int32_t i = 0; i < g->n_tensors; i++) {
        const ng_tensor *t = &g->tensors[i];
        int64_t off = e->offset[i], bytes = ng_tensor_bytes(t);
        if (off == -1)
            continue;
        if (ng_role_is_persistent(t->role))
            return ng_fail(err, errlen, "entry '%s': %s tensor %" PRId32 " ('%s') "
                        "has offset %" PRId64 "; persistent tensors have -1",
                        e->name, ng_role_name(t->role), i, t->name, off);
        if (off < 0 || off > e->arena_bytes - bytes)
            return ng_fail(err, errlen, "entry '%s': tensor %" PRId32 " ('%s') at "
                        "offset %" PRId64 " (%" PRId64 " bytes) is outside the %"
                        PRId64 "-byte arena", e->name, i, t->name, off, bytes,
                        e->arena_bytes);
        if (off % 4)
            return ng_fail(err, errlen, "entry '%s': tensor %" PRId32 " ('%s') at "
                        "offset %" PRId64 " is not 4-byte aligned", e->name, i,
                        t->name, off);
    }
    if (g->n_tensors > 0)
        memset(made, 0, (size_t)g->n_tensors);
    for (int32_t j = 0; j < e->n_nodes; j++)
        if (check_node(g, e, j, made, err, errlen))
            return -1;
    return 0;
}

int ng_graph_check(const ng_graph *g, char *err, size_t errlen)
{
    if (!g)
        return ng_fail(err, errlen, "no graph");
    if (g->n_tensors < 0 || g->n_tensors > NG_MAX_TENSORS ||
        (g->n_tensors > 0 && !g->tensors))
        return ng_fail(err, errlen, "%" PRId32 " tensors (0 to %d)", g->n_tensors,
                    NG_MAX_TENSORS);
    if (g->n_entries < 1 || g->n_entries > NG_MAX_ENTRIES || !g->entries)
        return ng_fail(err, errlen, "%" PRId32 " entry points (1 to %d)",
                    g->n_entries, NG_MAX_ENTRIES);
    for (int32_t i = 0; i < g->n_tensors; i++)
        if (check_tensor(g, i, err, errlen))
            return -1;
    if (check_unique_names(g, err, errlen) || check_bindings(g, err, errlen) ||
        check_options(g, err, errlen))
        return -1;
    for (int32_t i = 0; i < g->n_entries; i++) {
        const char *bad = name_problem(g->entries[i].name);
        if (bad)
            return ng_fail(err, errlen, "entry %" PRId32 " %s", i, bad);
        for (int32_t k = 0; k < i; k++)
            if (strcmp(g->entries[k].name, g->entries[i].name) == 0)
                return ng_fail(err, errlen, "entries %" PRId32 " and %" PRId32
                            " are both named '%s'", k, i, g->entries[i].name);
    }
    uint8_t *made = malloc(g->n_tensors > 0 ? (size_t)g->n_tensors : 1);
    if (!made)
        return ng_fail(err, errlen, "out of memory");
    int rc = 0;
    for (int32_t i = 0; i < g->n_entries && !rc; i++)
        rc = check_entry(g, i, made, err, errlen);
    free(made);
    return rc;
}

void ng_graph_free(ng_graph *g)
{
    if (!g)
        return;
    for (int32_t i = 0; i < g->n_tensors && g->tensors; i++) {
        free(g->tensors[i].name);
        free(g->tensors[i].data);
    }
    free(g->tensors);
    for (int32_t i = 0; i < g->n_entries && g->entries; i++) {
        free(g->entries[i].name);
        free(g->entries[i].nodes);
        free(g->entries[i].offset);
    }
    free(g->entries);
    free(g->bind.output_name);
    free(g->bind.optimizer);
    for (int32_t i = 0; i < g->n_options && g->options; i++) {
        free(g->options[i].key);
        free(g->options[i].value);
    }
    free(g->options);
    free(g->source);
    free(g);
}
