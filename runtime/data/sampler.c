/* sampler.c — the class location index of a dataset and its cache file
 * (class_stats.bin), foreground-oversampled crops (nnU-Net) and the
 * repeat-factor sample stream (LVIS).  Everything random is a function of
 * a seed and a position (splitmix64), so runs are reproducible and resumable.
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
#include "sampler.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "netg.h"
#include "options.h"
#include "parallel.h"
#include "png.h"
#include "util.h"

#define CS_MAGIC "NRCS"
#define CS_VERSION 1
#define CS_HEADER 40
#define CS_MAX_SIDE 65535 /* longest image side the index takes */

/* Uniform integer in 0..m-1 from a 64-bit random value (Lemire). */
static uint64_t below(uint64_t r, uint64_t m)
{
    return (uint64_t)(((unsigned __int128)r * m) >> 64);
}

/* Uniform in [0, 1). */
static double unit(uint64_t r)
{
    return (double)(r >> 11) * 0x1.0p-53;
}

/* ---- the index ----------------------------------------------------------- */

typedef struct {
    int h, w;
    int64_t *count;  /* (classes) pixels per class */
    uint32_t *nloc;  /* (classes) stored positions per class */
    uint32_t **pos;  /* (classes) positions, into `block` */
    uint32_t *block; /* all positions of the image */
    int n_fg;        /* foreground classes with stored positions */
    int *fg;         /* (n_fg) those classes, increasing */
} cs_image;

struct nr_class_index {
    int n, classes, ignore, max_locs;
    cs_image *img; /* (n) */
};

static void image_free(cs_image *im)
{
    free(im->count);
    free(im->nloc);
    free(im->pos);
    free(im->block);
    free(im->fg);
    memset(im, 0, sizeof *im);
}

void nr_class_index_free(nr_class_index *ix)
{
    if (!ix)
        return;
    for (int i = 0; ix->img && i < ix->n; i++)
        image_free(&ix->img[i]);
    free(ix->img);
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

/* Allocate the per-class arrays of an image; 0 or -1. */
static int image_alloc(cs_image *im, int classes)
{
    im->count = calloc((size_t)classes, sizeof *im->count);
    im->nloc = calloc((size_t)classes, sizeof *im->nloc);
    im->pos = calloc((size_t)classes, sizeof *im->pos);
    im->fg = calloc((size_t)classes, sizeof *im->fg);
    return im->count && im->nloc && im->pos && im->fg ? 0 : -1;
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

/* Width and height from a PNG's IHDR (bytes 16..23); 0 or -1 with err. */
static int png_size(const char *path, int *h, int *w, char *err, size_t errlen)
{
    unsigned char b[24];
    FILE *f = fopen(path, "rb");
    if (!f)
        return ng_fail(err, errlen, "%s: %s", path, strerror(errno));
    size_t got = fread(b, 1, sizeof b, f);
    fclose(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (got < sizeof b || memcmp(b, sig, 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0)
        return ng_fail(err, errlen, "%s: not a PNG file", path);
    uint32_t W = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    uint32_t H = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    if (W == 0 || H == 0 || W > CS_MAX_SIDE || H > CS_MAX_SIDE)
        return ng_fail(err, errlen, "%s: %ux%u pixels (the class index takes 1..%d per side)", path,
                       (unsigned)W, (unsigned)H, CS_MAX_SIDE);
    *h = (int)H, *w = (int)W;
    return 0;
}

/* Seed of the location sample of image `name`: fixed, so a rebuilt index
 * equals the old one. */
static uint64_t name_seed(const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return ng_splitmix64(h ^ 0x636c6173735f6c6fULL);
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
    if (png_size(path, &im->h, &im->w, err, 512) != 0)
        return;
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
        if (below(rng[c], (uint64_t)left[c]) < need[c]) {
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
done:
    free(rc);
    free(msgs);
    return ix;
}

/* ---- the cache file ------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

/* The dataset key; 0 or -1 with err (a mask that cannot be stat'ed). */
static int dataset_key(const nr_dataset *ds, uint64_t *key, char *err, size_t errlen)
{
    uint64_t h = 1469598103934665603ULL;
    int n = nr_dataset_count(ds);
    h = fnv(h, &n, sizeof n);
    for (int i = 0; i < n; i++) {
        const char *name = nr_dataset_name(ds, i), *path = nr_dataset_mask_path(ds, i);
        struct stat st;
        if (!path || stat(path, &st) != 0)
            return ng_fail(err, errlen, "%s: %s", path ? path : name, path ? strerror(errno) : "no mask");
        int64_t v[5] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec,
                        (int64_t)st.st_ctim.tv_sec, (int64_t)st.st_ctim.tv_nsec};
        h = fnv(h, name, strlen(name) + 1);
        h = fnv(h, v, sizeof v);
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

/* ---- foreground oversampling ---------------------------------------------- */

/* The k-th random value of a sample's draw. */
static uint64_t sub(uint64_t draw, uint64_t k)
{
    return ng_splitmix64(draw ^ ng_splitmix64(0x666f726567726f75ULL + k));
}

int nr_fg_forced(const nr_fg_sampler *s, int slot, uint64_t draw)
{
    if (s->fraction <= 0)
        return 0;
    if (s->mode == NR_FG_RANDOM)
        return unit(sub(draw, 0)) < s->fraction;
    /* round half to even (the default rounding mode), as Python's round */
    return slot >= (int)nearbyint((double)s->batch * (1.0 - s->fraction));
}

double nr_fg_effective(const nr_fg_sampler *s)
{
    if (s->fraction <= 0 || s->batch <= 0)
        return 0;
    if (s->mode == NR_FG_RANDOM)
        return s->fraction;
    int first = (int)nearbyint((double)s->batch * (1.0 - s->fraction));
    return (double)(s->batch - first) / s->batch;
}

/* The offsets a crop-long window may take along an img-long axis, lo..hi
 * (negative: padded, where the image is shorter); returns how many. */
static int axis_range(int img, int crop, int *lo, int *hi)
{
    *lo = img - crop < 0 ? img - crop : 0;
    *hi = img - crop > 0 ? img - crop : 0;
    return *hi - *lo + 1;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int nr_fg_choose(nr_fg_sampler *s, int image, int slot, uint64_t draw, int img_h, int img_w, int crop_h,
                 int crop_w, int *y0, int *x0, int *cy, int *cx)
{
    int ylo, yhi, xlo, xhi;
    int ny = axis_range(img_h, crop_h, &ylo, &yhi), nx = axis_range(img_w, crop_w, &xlo, &xhi);
    __atomic_fetch_add(&s->drawn, 1, __ATOMIC_RELAXED); /* the loader threads share s */
    int cls = -1;
    const cs_image *im = s->ix && image >= 0 && image < s->ix->n ? &s->ix->img[image] : NULL;
    if (nr_fg_forced(s, slot, draw)) {
        __atomic_fetch_add(&s->forced, 1, __ATOMIC_RELAXED);
        if (im && im->n_fg > 0) {
            cls = im->fg[below(sub(draw, 1), (uint64_t)im->n_fg)];
            uint32_t p = im->pos[cls][below(sub(draw, 2), im->nloc[cls])];
            int py = (int)(p / (uint32_t)im->w), px = (int)(p % (uint32_t)im->w);
            if (im->h != img_h) /* the image was resized: nearest position */
                py = (int)((int64_t)py * img_h / im->h);
            if (im->w != img_w)
                px = (int)((int64_t)px * img_w / im->w);
            int jy = s->jitter < 0 ? crop_h / 4 : s->jitter, jx = s->jitter < 0 ? crop_w / 4 : s->jitter;
            if (jy > (crop_h - 1) / 2)
                jy = (crop_h - 1) / 2;
            if (jx > (crop_w - 1) / 2)
                jx = (crop_w - 1) / 2;
            int dy = (int)below(sub(draw, 3), (uint64_t)(2 * jy + 1)) - jy;
            int dx = (int)below(sub(draw, 4), (uint64_t)(2 * jx + 1)) - jx;
            *y0 = clampi(py + dy - crop_h / 2, ylo, yhi);
            *x0 = clampi(px + dx - crop_w / 2, xlo, xhi);
            if (cy)
                *cy = py;
            if (cx)
                *cx = px;
            return cls;
        }
        __atomic_fetch_add(&s->forced_empty, 1, __ATOMIC_RELAXED);
    }
    *y0 = ylo + (int)below(sub(draw, 5), (uint64_t)ny);
    *x0 = xlo + (int)below(sub(draw, 6), (uint64_t)nx);
    return -1;
}

/* ---- repeat factors --------------------------------------------------------- */

void nr_repeat_factors(const nr_class_index *ix, double t, double *r)
{
    int K = ix->classes;
    int64_t *imgs = calloc((size_t)K, sizeof *imgs);
    if (!imgs) { /* no room for 256 counters: no repetition */
        for (int i = 0; i < ix->n; i++)
            r[i] = 1;
        return;
    }
    for (int i = 0; i < ix->n; i++)
        for (int c = 0; c < K; c++)
            imgs[c] += ix->img[i].count[c] > 0;
    for (int i = 0; i < ix->n; i++) {
        double ri = 1;
        for (int c = 0; c < K; c++)
            if (ix->img[i].count[c] > 0) {
                double f = (double)imgs[c] / ix->n, v = sqrt(t / f);
                if (v > ri)
                    ri = v;
            }
        r[i] = ri;
    }
    free(imgs);
}

struct nr_repeat {
    int n, shuffle;
    double *r;          /* (n) factors */
    uint64_t key;       /* from the seed */
    int64_t epoch_len;
    int64_t base;       /* sum of floor(r_i) */
    int64_t round;      /* the round the cursor is in */
    int64_t start;      /* its first stream position */
    int64_t len;        /* its length */
    int have_list;      /* list holds that round */
    int *list;          /* (cap) */
    int64_t cap;
};

void nr_repeat_free(nr_repeat *rp)
{
    if (!rp)
        return;
    free(rp->r);
    free(rp->list);
    free(rp);
}

/* Whether round k has the extra copy of image i. */
static int extra_copy(const nr_repeat *rp, int64_t k, int i)
{
    double f = rp->r[i] - floor(rp->r[i]);
    return f > 0 && unit(ng_splitmix64(ng_splitmix64(rp->key ^ ng_splitmix64((uint64_t)k)) ^ (uint64_t)i)) < f;
}

static int64_t round_len(const nr_repeat *rp, int64_t k)
{
    int64_t len = rp->base;
    for (int i = 0; i < rp->n; i++)
        len += extra_copy(rp, k, i);
    return len;
}

nr_repeat *nr_repeat_new(const double *r, int n, uint64_t seed, int shuffle, char *err, size_t errlen)
{
    if (n < 1) {
        ng_fail(err, errlen, "repeat factors: no images");
        return NULL;
    }
    nr_repeat *rp = calloc(1, sizeof *rp);
    if (!rp || !(rp->r = malloc((size_t)n * sizeof *rp->r))) {
        free(rp);
        ng_fail(err, errlen, "repeat factors: out of memory");
        return NULL;
    }
    rp->n = n, rp->shuffle = shuffle;
    rp->key = ng_splitmix64(seed ^ 0x7265706561745f73ULL);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (!(r[i] >= 1) || !(r[i] < 1e6)) {
            nr_repeat_free(rp);
            ng_fail(err, errlen, "repeat factors: image %d has factor %g (1..1e6)", i, r[i]);
            return NULL;
        }
        rp->r[i] = r[i];
        rp->base += (int64_t)floor(r[i]);
        sum += r[i];
    }
    rp->epoch_len = llround(sum);
    if (rp->epoch_len < n)
        rp->epoch_len = n;
    rp->cap = rp->base + n;
    if (!(rp->list = malloc((size_t)rp->cap * sizeof *rp->list))) {
        nr_repeat_free(rp);
        ng_fail(err, errlen, "repeat factors: out of memory");
        return NULL;
    }
    rp->round = 0, rp->start = 0, rp->len = round_len(rp, 0);
    return rp;
}

int64_t nr_repeat_epoch_len(const nr_repeat *rp)
{
    return rp->epoch_len;
}

static void make_list(nr_repeat *rp)
{
    int64_t at = 0;
    for (int i = 0; i < rp->n; i++) {
        int64_t copies = (int64_t)floor(rp->r[i]) + extra_copy(rp, rp->round, i);
        for (int64_t c = 0; c < copies; c++)
            rp->list[at++] = i;
    }
    if (rp->shuffle) {
        uint64_t s = ng_splitmix64(rp->key ^ ng_splitmix64(~(uint64_t)rp->round));
        for (int64_t i = at - 1; i > 0; i--) {
            s = ng_splitmix64(s);
            int64_t j = (int64_t)below(s, (uint64_t)(i + 1));
            int t = rp->list[i];
            rp->list[i] = rp->list[j];
            rp->list[j] = t;
        }
    }
    rp->have_list = 1;
}

int nr_repeat_get(nr_repeat *rp, int64_t pos, int count, int *idx)
{
    for (int j = 0; j < count; j++) {
        int64_t p = pos + j;
        if (p < rp->start) { /* back to the start of the stream */
            rp->round = 0, rp->start = 0, rp->len = round_len(rp, 0), rp->have_list = 0;
        }
        while (p >= rp->start + rp->len) {
            rp->start += rp->len;
            rp->round++;
            rp->len = round_len(rp, rp->round);
            rp->have_list = 0;
        }
        if (!rp->have_list)
            make_list(rp);
        idx[j] = rp->list[p - rp->start];
    }
    return 0;
}

/* ---- a training run's sampling ---------------------------------------------- */

void nr_fg_crop_hook(void *ctx, int sample, int slot, uint64_t draw, int img_h, int img_w, int crop_h,
                     int crop_w, int *y0, int *x0)
{
    int y, x;
    if (nr_fg_choose(ctx, sample, slot, draw, img_h, img_w, crop_h, crop_w, &y, &x, NULL, NULL) >= 0)
        *y0 = y, *x0 = x;
}

struct nr_sampling {
    nr_class_index *ix;
    nr_fg_sampler fg; /* fraction 0: off */
    nr_repeat *rep;   /* NULL: off */
    int n;
};

void nr_sampling_free(nr_sampling *s)
{
    if (!s)
        return;
    nr_class_index_free(s->ix);
    nr_repeat_free(s->rep);
    free(s);
}

nr_sampling *nr_sampling_new(const ng_graph *g, const nr_dataset *ds, const char *rundir, int batch,
                             int model_h, int model_w, uint64_t seed, int shuffle, FILE *out, char *err,
                             size_t errlen)
{
    nr_sampling *s = calloc(1, sizeof *s);
    double *r = NULL;
    char cache[4096];
    if (!s) {
        ng_fail(err, errlen, "out of memory");
        return NULL;
    }
    if (rundir && snprintf(cache, sizeof cache, "%s/class_stats.bin", rundir) >= (int)sizeof cache) {
        ng_fail(err, errlen, "%s: path too long", rundir);
        goto fail;
    }
    s->n = nr_dataset_count(ds);
    if (!(s->ix = nr_class_index_get(ds, g->bind.classes, g->bind.ignore, NR_CLASS_LOCS_MAX, rundir ? cache : NULL,
                                     out, NULL, err, errlen)))
        goto fail;
    double fg = nr_option_num(g, "foreground"), t = nr_option_num(g, "repeat");
    double jit = nr_option_num(g, "foreground_jitter");
    if (!(fg >= 0 && fg <= 1) || !(t >= 0 && t <= 1) || !(jit >= -1)) { /* NaN: a table without the rows */
        ng_fail(err, errlen, "%s: the sampling options are missing from the option table",
                g->source ? g->source : "graph");
        goto fail;
    }
    if (fg > 0) {
        s->fg = (nr_fg_sampler){s->ix, fg, nr_option_is(g, "foreground_mode", "random") ? NR_FG_RANDOM : NR_FG_LAST,
                                (int)jit, batch, 0, 0, 0};
        int larger = 0;
        for (int i = 0; i < s->n && !larger; i++) {
            int h, w;
            nr_class_index_size(s->ix, i, &h, &w);
            larger = h > model_h || w > model_w;
        }
        const char *policy = nr_option(g, "size");
        int crops = !policy || strcmp(policy, "crop") == 0;
        if (out && (!larger || !crops))
            fprintf(out, "warning: option foreground = %g does nothing here: %s\n", fg,
                    !crops ? "the size policy is not crop, so training takes no crops"
                           : "no training image is larger than the model input, so there is nothing to crop");
        else if (out) {
            char jbuf[64];
            if (jit < 0)
                snprintf(jbuf, sizeof jbuf, "%d x %d px (a quarter of the crop)", model_h / 4, model_w / 4);
            else
                snprintf(jbuf, sizeof jbuf, "%d px", (int)jit);
            if (s->fg.mode == NR_FG_LAST)
                fprintf(out, "foreground oversampling: the last %d of every %d samples centred on a foreground "
                        "pixel (%.3g of %g asked), centre jitter %s\n",
                        (int)llround(nr_fg_effective(&s->fg) * batch), batch, nr_fg_effective(&s->fg), fg, jbuf);
            else
                fprintf(out, "foreground oversampling: each sample with probability %g centred on a foreground "
                        "pixel, centre jitter %s\n", fg, jbuf);
            if (s->fg.mode == NR_FG_LAST && nr_fg_effective(&s->fg) == 0)
                fprintf(out, "warning: with batch %d, no slot is forced (nnU-Net rounds batch * (1 - %g)); use "
                        "option foreground_mode = random\n", batch, fg);
        }
    }
    if (t > 0) {
        if (!(r = malloc(sizeof *r * (size_t)s->n))) {
            ng_fail(err, errlen, "out of memory");
            goto fail;
        }
        nr_repeat_factors(s->ix, t, r);
        if (!(s->rep = nr_repeat_new(r, s->n, seed, shuffle, err, errlen)))
            goto fail;
        if (nr_repeat_epoch_len(s->rep) > 1000000000) {
            ng_fail(err, errlen, "option repeat = %g: an epoch of %lld samples is too long", t,
                    (long long)nr_repeat_epoch_len(s->rep));
            goto fail;
        }
        if (out) {
            double mx = 1;
            int more = 0;
            for (int i = 0; i < s->n; i++)
                mx = r[i] > mx ? r[i] : mx, more += r[i] > 1;
            fprintf(out, "repeat factors (t = %g): %d of %d images drawn more than once per epoch (up to %.3g "
                    "times); an epoch is %lld samples\n", t, more, s->n, mx,
                    (long long)nr_repeat_epoch_len(s->rep));
        }
    }
    free(r);
    return s;
fail:
    free(r);
    nr_sampling_free(s);
    return NULL;
}

void nr_sampling_class_counts(const nr_sampling *s, int64_t *counts)
{
    nr_class_index_totals(s->ix, counts);
}

int nr_sampling_epoch_len(const nr_sampling *s)
{
    return s->rep ? (int)nr_repeat_epoch_len(s->rep) : s->n;
}

int nr_sampling_order(nr_sampling *s, int epoch, int *order)
{
    if (!s || !s->rep)
        return 0;
    int64_t L = nr_repeat_epoch_len(s->rep);
    nr_repeat_get(s->rep, (int64_t)epoch * L, (int)L, order);
    return 1;
}

void nr_sampling_attach(nr_sampling *s, nr_batcher *b)
{
    if (s && s->fg.fraction > 0)
        nr_batcher_set_crop(b, nr_fg_crop_hook, &s->fg);
}

const nr_fg_sampler *nr_sampling_foreground(const nr_sampling *s)
{
    return s && s->fg.fraction > 0 ? &s->fg : NULL;
}

void nr_sampling_print_counts(const nr_sampling *s, FILE *out)
{
    const nr_fg_sampler *f = nr_sampling_foreground(s);
    if (!f || !out)
        return;
    int64_t drawn = __atomic_load_n(&f->drawn, __ATOMIC_RELAXED), forced = __atomic_load_n(&f->forced, __ATOMIC_RELAXED);
    int64_t empty = __atomic_load_n(&f->forced_empty, __ATOMIC_RELAXED);
    fprintf(out, "foreground oversampling: %lld crops, %lld forced (%.3f), %lld of them in images without "
            "foreground (random crops)\n", (long long)drawn, (long long)forced, drawn ? (double)forced / drawn : 0.0,
            (long long)empty);
}
