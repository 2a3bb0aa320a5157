/* class_index.c — nr_class_index_*: the class location index of a dataset
 * (class_index.h) and its cache file, class_stats.bin.  The positions kept
 * are a function of the mask's name alone (splitmix64), so a rebuilt index
 * equals the old one.
 *
 * class_stats.bin, version 1 (little-endian):
 *   header (40 bytes)
 *     u8[4] "NRCS" | u32 version | u64 key | u64 payload length |
 *     u32 CRC-32 of the payload (ng_crc32) | u32 classes | u32 ignore | u32 max_locs
 *   payload
 *     u32 n_images
 *     n_images x image: u32 h, w; u32 n_present;
 *       n_present x (u32 class (increasing), u64 pixels (> 0),
 *                    u32 n_locs (0 for class 0), n_locs x u32 y * w + x (increasing))
 * key: FNV-1a 64 over, for every mask in dataset order, its name, size in
 * bytes, mtime and ctime (ns).  Reading checks every field (class < classes,
 * counts adding up to at most h * w, n_locs <= pixels and = the bound rule's
 * number, positions increasing and < h * w); anything else is "corrupt". */
#define _POSIX_C_SOURCE 200809L
#include "class_index.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "netg.h"
#include "parallel.h"
#include "png.h"
#include "util.h"

#define CS_MAGIC "NRCS"
#define CS_VERSION 1
#define CS_HEADER 40
#define CS_MAX_SIDE 65535 /* longest image side the index takes */

typedef struct {
    int h, w;
    int64_t *count;  /* (classes) pixels per class */
    uint32_t *nloc;  /* (classes) stored positions per class */
    uint32_t **pos;  /* (classes) positions, into `block` */
    uint32_t *block; /* all positions of the image */
    int n_fg;        /* foreground classes with stored positions */
    int *fg;         /* (n_fg) those classes, increasing; room for all */
    void *mem;       /* the one block count, nloc, pos and fg are carved from */
} cs_image;

struct nr_class_index {
    int n, classes, ignore, max_locs;
    cs_image *img; /* (n) */
    /* the other way round (index_invert): the foreground classes with stored
     * positions in some image, and per class the images that hold them */
    int n_fg;
    int *fg;      /* (n_fg) those classes, increasing */
    int *first;   /* (classes + 1) class c's images are holder[first[c] .. first[c + 1]) */
    int *holder;  /* image numbers, increasing per class */
};

static void image_free(cs_image *im)
{
    free(im->mem);
    free(im->block);
    memset(im, 0, sizeof *im);
}

void nr_class_index_free(nr_class_index *ix)
{
    if (!ix)
        return;
    for (int i = 0; ix->img && i < ix->n; i++)
        image_free(&ix->img[i]);
    free(ix->img);
    free(ix->fg);
    free(ix->first);
    free(ix->holder);
    free(ix);
}

int nr_class_index_images(const nr_class_index *ix) { return ix->n; }
int nr_class_index_classes(const nr_class_index *ix) { return ix->classes; }

void nr_class_index_size(const nr_class_index *ix, int i, int *h, int *w)
{
    *h = ix->img[i].h;
    *w = ix->img[i].w;
}

int64_t nr_class_index_pixels(const nr_class_index *ix, int i, int c)
{
    return c >= 0 && c < ix->classes ? ix->img[i].count[c] : 0;
}

int nr_class_index_locations(const nr_class_index *ix, int i, int c, const uint32_t **pos)
{
    if (i < 0 || i >= ix->n || c <= 0 || c >= ix->classes) {
        *pos = NULL;
        return 0;
    }
    *pos = ix->img[i].pos[c];
    return (int)ix->img[i].nloc[c];
}

int nr_class_index_fg(const nr_class_index *ix, const int **classes)
{
    *classes = ix->fg;
    return ix->n_fg;
}

int nr_class_index_holders(const nr_class_index *ix, int c, const int **images)
{
    if (c < 1 || c >= ix->classes) {
        *images = NULL;
        return 0;
    }
    *images = ix->holder + ix->first[c];
    return ix->first[c + 1] - ix->first[c];
}

/* Fill the class -> images lists from the images' foreground lists; 0 or -1
 * (out of memory). */
static int index_invert(nr_class_index *ix)
{
    int64_t total = 0;
    for (int i = 0; i < ix->n; i++)
        total += ix->img[i].n_fg;
    if (total > INT_MAX)
        return -1;
    ix->first = calloc((size_t)ix->classes + 1, sizeof *ix->first);
    ix->fg = malloc((size_t)ix->classes * sizeof *ix->fg);
    ix->holder = malloc((size_t)(total > 0 ? total : 1) * sizeof *ix->holder);
    if (!ix->first || !ix->fg || !ix->holder)
        return -1;
    for (int i = 0; i < ix->n; i++)
        for (int k = 0; k < ix->img[i].n_fg; k++)
            ix->first[ix->img[i].fg[k] + 1]++;
    ix->n_fg = 0;
    for (int c = 0; c < ix->classes; c++) {
        if (ix->first[c + 1] > 0)
            ix->fg[ix->n_fg++] = c;
        ix->first[c + 1] += ix->first[c];
    }
    int *at = ix->first; /* advanced while filling, then moved back */
    for (int i = 0; i < ix->n; i++)
        for (int k = 0; k < ix->img[i].n_fg; k++)
            ix->holder[at[ix->img[i].fg[k]]++] = i;
    for (int c = ix->classes; c > 0; c--)
        at[c] = at[c - 1];
    at[0] = 0;
    return 0;
}

void nr_class_index_totals(const nr_class_index *ix, int64_t *counts)
{
    memset(counts, 0, sizeof *counts * (size_t)ix->classes);
    for (int i = 0; i < ix->n; i++)
        for (int c = 0; c < ix->classes; c++)
            counts[c] += ix->img[i].count[c];
}

/* The bound rule: how many positions of a class with `pixels` pixels are kept. */
static uint32_t locs_kept(int64_t pixels, int max_locs)
{
    int64_t k = (pixels + 99) / 100;
    if (k < max_locs)
        k = max_locs;
    return (uint32_t)(pixels < k ? pixels : k);
}

/* The per-class arrays of an image; measures with base NULL (util.h's
 * ng_carve). */
static size_t image_arrays(cs_image *im, char *base, size_t classes)
{
    size_t at = 0;
    im->count = ng_carve(base, &at, classes, sizeof *im->count);
    im->nloc = ng_carve(base, &at, classes, sizeof *im->nloc);
    im->pos = ng_carve(base, &at, classes, sizeof *im->pos);
    im->fg = ng_carve(base, &at, classes, sizeof *im->fg);
    return at;
}

/* Allocate the per-class arrays of an image, zeroed; 0 or -1. */
static int image_alloc(cs_image *im, int classes)
{
    if (!(im->mem = ng_carve_alloc(image_arrays(im, NULL, (size_t)classes))))
        return -1;
    image_arrays(im, im->mem, (size_t)classes);
    return 0;
}

/* Point pos[] into block and list the foreground classes; after nloc is set. */
static int image_layout(cs_image *im, int classes)
{
    size_t total = 0;
    for (int c = 0; c < classes; c++)
        total += im->nloc[c];
    if (total && !(im->block = malloc(total * sizeof *im->block)))
        return -1;
    size_t at = 0;
    im->n_fg = 0;
    for (int c = 0; c < classes; c++) {
        im->pos[c] = im->nloc[c] ? im->block + at : NULL;
        at += im->nloc[c];
        if (im->nloc[c])
            im->fg[im->n_fg++] = c;
    }
    return 0;
}

/* Seed of the location sample of image `name`: fixed, so a rebuilt index
 * equals the old one. */
static uint64_t name_seed(const char *name)
{
    return ng_splitmix64(ng_fnv1a(NG_FNV_BASIS, name, strlen(name)) ^ 0x636c6173735f6c6fULL);
}

typedef struct {
    const nr_dataset *ds;
    nr_class_index *ix;
    int *rc;          /* (n) 0 or -1 */
    char (*err)[512]; /* (n) messages */
} build_ctx;

/* Index image i: read its mask, count, draw the kept positions with
 * Knuth's selection sampling (Algorithm S: keep a pixel of class c with
 * probability needed / left), one stream per class. */
static void build_one(void *arg, int64_t task, int tid)
{
    (void)tid;
    build_ctx *b = arg;
    int i = (int)task, K = b->ix->classes;
    cs_image *im = &b->ix->img[i];
    char *err = b->err[i];
    const char *path = nr_dataset_mask_path(b->ds, i);
    int32_t *m = NULL;
    uint32_t *need = NULL;
    int64_t *left = NULL;
    uint64_t *rng = NULL;
    b->rc[i] = -1;
    uint32_t H, W;
    if (nr_png_size(path, &H, &W, err, 512) != 0)
        return;
    if (W == 0 || H == 0 || W > CS_MAX_SIDE || H > CS_MAX_SIDE) {
        ng_fail(err, 512, "%s: %ux%u pixels (the class index takes 1..%d per side)", path, (unsigned)W,
                (unsigned)H, CS_MAX_SIDE);
        return;
    }
    im->h = (int)H, im->w = (int)W;
    size_t hw = (size_t)im->h * (size_t)im->w;
    if (image_alloc(im, K) != 0 || !(m = malloc(hw * sizeof *m)) || !(need = calloc((size_t)K, sizeof *need)) ||
        !(left = calloc((size_t)K, sizeof *left)) || !(rng = calloc((size_t)K, sizeof *rng))) {
        ng_fail(err, 512, "%s: out of memory", path);
        goto done;
    }
    if (nr_png_read_mask(path, im->h, im->w, K, b->ix->ignore, m, err, 512) != 0)
        goto done;
    for (size_t p = 0; p < hw; p++)
        if (m[p] != b->ix->ignore)
            im->count[m[p]]++;
    uint64_t seed = name_seed(nr_dataset_name(b->ds, i));
    for (int c = 1; c < K; c++) {
        im->nloc[c] = need[c] = locs_kept(im->count[c], b->ix->max_locs);
        left[c] = im->count[c];
        rng[c] = ng_splitmix64(seed ^ ng_splitmix64((uint64_t)c));
    }
    if (image_layout(im, K) != 0) {
        ng_fail(err, 512, "%s: out of memory", path);
        goto done;
    }
    for (int c = 0; c < K; c++)
        im->nloc[c] = 0; /* refilled below */
    for (size_t p = 0; p < hw; p++) {
        int c = m[p];
        if (c == b->ix->ignore || c == 0 || need[c] == 0) {
            if (c != b->ix->ignore && c != 0)
                left[c]--;
            continue;
        }
        rng[c] = ng_splitmix64(rng[c]);
        if (ng_below(rng[c], (uint64_t)left[c]) < need[c]) {
            im->pos[c][im->nloc[c]++] = (uint32_t)p;
            need[c]--;
        }
        left[c]--;
    }
    b->rc[i] = 0;
done:
    free(m);
    free(need);
    free(left);
    free(rng);
}

static nr_class_index *index_new(int n, int classes, int ignore, int max_locs)
{
    nr_class_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    ix->n = n, ix->classes = classes, ix->ignore = ignore, ix->max_locs = max_locs;
    if (!(ix->img = calloc((size_t)(n > 0 ? n : 1), sizeof *ix->img))) {
        free(ix);
        return NULL;
    }
    return ix;
}

static nr_class_index *index_build(const nr_dataset *ds, int classes, int ignore, int max_locs, char *err,
                                   size_t errlen)
{
    int n = nr_dataset_count(ds);
    nr_class_index *ix = index_new(n, classes, ignore, max_locs);
    int *rc = calloc((size_t)n, sizeof *rc);
    char (*msgs)[512] = calloc((size_t)n, sizeof *msgs);
    if (!ix || !rc || !msgs) {
        ng_fail(err, errlen, "class index: out of memory");
        nr_class_index_free(ix);
        ix = NULL;
        goto done;
    }
    build_ctx b = {ds, ix, rc, msgs};
    nr_par_for(n, build_one, &b);
    for (int i = 0; i < n; i++)
        if (rc[i] != 0) { /* the first failing mask in file order */
            ng_fail(err, errlen, "%s", msgs[i]);
            nr_class_index_free(ix);
            ix = NULL;
            break;
        }
    if (ix && index_invert(ix) != 0) {
        ng_fail(err, errlen, "class index: out of memory");
        nr_class_index_free(ix);
        ix = NULL;
    }
done:
    free(rc);
    free(msgs);
    return ix;
}

/* ---- the cache file ------------------------------------------------------ */

/* The dataset key; 0 or -1 with err (a mask that cannot be stat'ed). */
static int dataset_key(const nr_dataset *ds, uint64_t *key, char *err, size_t errlen)
{
    uint64_t h = NG_FNV_BASIS;
    int n = nr_dataset_count(ds);
    h = ng_fnv1a(h, &n, sizeof n);
    for (int i = 0; i < n; i++) {
        const char *name = nr_dataset_name(ds, i), *path = nr_dataset_mask_path(ds, i);
        struct stat st;
        if (!path || stat(path, &st) != 0)
            return ng_fail(err, errlen, "%s: %s", path ? path : name, path ? strerror(errno) : "no mask");
        int64_t v[5] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec,
                        (int64_t)st.st_ctim.tv_sec, (int64_t)st.st_ctim.tv_nsec};
        h = ng_fnv1a(h, name, strlen(name) + 1);
        h = ng_fnv1a(h, v, sizeof v);
    }
    *key = h;
    return 0;
}

static void w_u(ng_buf *w, uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int k = 0; k < bytes; k++)
        b[k] = (unsigned char)(v >> (8 * k));
    ng_buf_put(w, b, (size_t)bytes);
}

static uint64_t get_u(const unsigned char *b, int bytes)
{
    uint64_t v = 0;
    for (int k = 0; k < bytes; k++)
        v |= (uint64_t)b[k] << (8 * k);
    return v;
}

static int cache_write(const nr_class_index *ix, uint64_t key, const char *path, char *err, size_t errlen)
{
    ng_buf w = {0};
    unsigned char zero[CS_HEADER] = {0};
    ng_buf_put(&w, zero, sizeof zero);
    w_u(&w, (uint64_t)ix->n, 4);
    for (int i = 0; i < ix->n; i++) {
        const cs_image *im = &ix->img[i];
        uint32_t present = 0;
        for (int c = 0; c < ix->classes; c++)
            present += im->count[c] > 0;
        w_u(&w, (uint64_t)im->h, 4);
        w_u(&w, (uint64_t)im->w, 4);
        w_u(&w, present, 4);
        for (int c = 0; c < ix->classes; c++) {
            if (!im->count[c])
                continue;
            w_u(&w, (uint64_t)c, 4);
            w_u(&w, (uint64_t)im->count[c], 8);
            w_u(&w, im->nloc[c], 4);
            for (uint32_t k = 0; k < im->nloc[c]; k++)
                w_u(&w, im->pos[c][k], 4);
        }
    }
    if (w.oom) {
        free(w.b);
        return ng_fail(err, errlen, "%s: out of memory", path);
    }
    /* the header, now that the payload's length and CRC are known */
    uint64_t plen = w.len - CS_HEADER;
    ng_buf h = {w.b, 0, CS_HEADER, 0}; /* over the zeros: never grows */
    ng_buf_put(&h, CS_MAGIC, 4);
    w_u(&h, CS_VERSION, 4);
    w_u(&h, key, 8);
    w_u(&h, plen, 8);
    w_u(&h, ng_crc32(w.b + CS_HEADER, (size_t)plen), 4);
    w_u(&h, (uint64_t)ix->classes, 4);
    w_u(&h, (uint32_t)ix->ignore, 4);
    w_u(&h, (uint64_t)ix->max_locs, 4);
    int rc = ng_atomic_write(path, w.b, w.len, 0, err, errlen);
    free(w.b);
    return rc;
}

/* Parse a cache file.  Returns the index; NULL with *why set: "stale"
 * reasons (another dataset or settings) and "corrupt" ones are told apart
 * by *corrupt. */
static nr_class_index *cache_parse(const unsigned char *b, size_t len, uint64_t key, int n, int classes,
                                   int ignore, int max_locs, const char **why, int *corrupt)
{
    nr_class_index *ix = NULL;
    *corrupt = 1;
    if (len < CS_HEADER || memcmp(b, CS_MAGIC, 4) != 0) {
        *why = "not a class statistics file (bad magic or too short)";
        return NULL;
    }
    if (get_u(b + 4, 4) != CS_VERSION) {
        *why = "another version of the format";
        return NULL;
    }
    uint64_t plen = get_u(b + 16, 8);
    if (plen != len - CS_HEADER) {
        *why = "truncated or extended (the payload length does not match the file)";
        return NULL;
    }
    if (ng_crc32(b + CS_HEADER, (size_t)plen) != (uint32_t)get_u(b + 24, 4)) {
        *why = "bad CRC";
        return NULL;
    }
    *corrupt = 0;
    if (get_u(b + 8, 8) != key) {
        *why = "the dataset's files changed";
        return NULL;
    }
    if (get_u(b + 28, 4) != (uint64_t)classes || get_u(b + 32, 4) != (uint64_t)(uint32_t)ignore ||
        get_u(b + 36, 4) != (uint64_t)max_locs) {
        *why = "made for another number of classes, ignore value or location bound";
        return NULL;
    }
    *corrupt = 1;
    *why = "inconsistent contents";
    const unsigned char *p = b + CS_HEADER, *end = b + len;
#define NEED(k) do { if ((size_t)(end - p) < (size_t)(k)) goto bad; } while (0)
    NEED(4);
    if (get_u(p, 4) != (uint64_t)n)
        goto bad_nofree;
    p += 4;
    ix = index_new(n, classes, ignore, max_locs);
    if (!ix) {
        *why = "out of memory";
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        cs_image *im = &ix->img[i];
        NEED(12);
        uint64_t h = get_u(p, 4), w = get_u(p + 4, 4), present = get_u(p + 8, 4);
        p += 12;
        if (h == 0 || w == 0 || h > CS_MAX_SIDE || w > CS_MAX_SIDE || present > (uint64_t)classes)
            goto bad;
        im->h = (int)h, im->w = (int)w;
        if (image_alloc(im, classes) != 0)
            goto oom;
        const unsigned char *mark = p;
        /* first pass: counts and location counts, to size the block */
        uint64_t sum = 0;
        int64_t prev = -1;
        for (uint64_t k = 0; k < present; k++) {
            NEED(16);
            uint64_t c = get_u(p, 4), cnt = get_u(p + 4, 8), nl = get_u(p + 12, 4);
            p += 16;
            if ((int64_t)c <= prev || c >= (uint64_t)classes || c == (uint64_t)(uint32_t)ignore || cnt == 0 ||
                cnt > h * w || nl != (c == 0 ? 0 : locs_kept((int64_t)cnt, max_locs)))
                goto bad;
            prev = (int64_t)c;
            sum += cnt;
            im->count[c] = (int64_t)cnt;
            im->nloc[c] = (uint32_t)nl;
            NEED(4 * nl);
            p += 4 * nl;
        }
        if (sum > h * w)
            goto bad;
        if (image_layout(im, classes) != 0)
            goto oom;
        p = mark;
        for (uint64_t k = 0; k < present; k++) {
            uint64_t c = get_u(p, 4), nl = get_u(p + 12, 4);
            p += 16;
            int64_t last = -1;
            for (uint64_t j = 0; j < nl; j++, p += 4) {
                uint64_t pos = get_u(p, 4);
                if ((int64_t)pos <= last || pos >= h * w)
                    goto bad;
                im->pos[c][j] = (uint32_t)pos;
                last = (int64_t)pos;
            }
        }
    }
    if (p != end)
        goto bad;
#undef NEED
    if (index_invert(ix) != 0)
        goto oom;
    *why = NULL;
    return ix;
oom:
    *why = "out of memory";
    *corrupt = 0;
bad:
    nr_class_index_free(ix);
bad_nofree:
    return NULL;
}

nr_class_index *nr_class_index_get(const nr_dataset *ds, int classes, int ignore, int max_locs,
                                   const char *cache_path, FILE *report, int *built, char *err, size_t errlen)
{
    if (built)
        *built = 0;
    if (!ds || !nr_dataset_mask_path(ds, 0)) {
        ng_fail(err, errlen, "class index: the dataset has no masks");
        return NULL;
    }
    if (classes < 1 || classes > 256 || max_locs < 1) {
        ng_fail(err, errlen, "class index: bad settings (%d classes, %d locations)", classes, max_locs);
        return NULL;
    }
    int n = nr_dataset_count(ds);
    uint64_t key = 0;
    if (dataset_key(ds, &key, err, errlen) != 0)
        return NULL;
    double t0 = ng_now();
    if (cache_path) {
        size_t len = 0;
        unsigned char *buf = ng_read_file(cache_path, &len);
        if (buf) {
            const char *why = NULL;
            int corrupt = 0;
            nr_class_index *ix = cache_parse(buf, len, key, n, classes, ignore, max_locs, &why, &corrupt);
            free(buf);
            if (ix) {
                if (report)
                    fprintf(report, "class statistics: %d masks, from %s (read in %.3f s)\n", n, cache_path,
                            ng_now() - t0);
                return ix;
            }
            if (report)
                fprintf(report, "%s%s: %s; indexing the masks again\n", corrupt ? "warning: " : "", cache_path,
                        why);
        } else if (errno != ENOENT && report) {
            fprintf(report, "warning: %s: %s; indexing the masks again\n", cache_path, strerror(errno));
        }
    }
    t0 = ng_now();
    nr_class_index *ix = index_build(ds, classes, ignore, max_locs, err, errlen);
    if (!ix)
        return NULL;
    if (built)
        *built = 1;
    double secs = ng_now() - t0;
    char werr[512] = "";
    int wrote = cache_path && cache_write(ix, key, cache_path, werr, sizeof werr) == 0;
    if (report) {
        fprintf(report, "class statistics: %d masks indexed in %.2f s", n, secs);
        if (wrote)
            fprintf(report, ", saved in %s", cache_path);
        fprintf(report, "\n");
        if (cache_path && !wrote)
            fprintf(report, "warning: %s (the index is not cached)\n", werr);
    }
    return ix;
}
