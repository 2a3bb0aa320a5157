/* test_sampler.c — counts what the samplers of runtime/data/sampler.c draw against
 * what was asked: the class location index (counts, bounded position
 * samples) and its cache (reused, rebuilt after a mask changes, corrupt
 * files rebuilt with a warning), foreground oversampling (the share of forced
 * samples, the class uniform over the training set's and an image holding
 * it, a rare class as often as a common one, the drawn class at the crop's
 * centre +- jitter, uniform pixel choice) and repeat factors (the LVIS formula, the stream's counts).  Works
 * in a fresh mkdtemp folder; prints "ok - name" / "FAIL - name: detail". */
#define _POSIX_C_SOURCE 200809L
#include "netg.h" /* ng_crc32 */
#include "png.h"
#include "layout.h"
#include "sampler.h"
#include "check.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char err[1024];

/* A sample of dataset `set`: a black image and mask m (h, w). */
static void write_sample(const char *set, const char *name, int h, int w, const uint8_t *m)
{
    uint8_t *zero = calloc((size_t)h * w, 1);
    if (nr_png_write_gray8(P("%s/images/%s", set, name), h, w, zero, err, sizeof err) != 0 ||
        nr_png_write_gray8(P("%s/masks/%s", set, name), h, w, m, err, sizeof err) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", name, err);
        exit(1);
    }
    free(zero);
}

static void make_set(const char *set)
{
    mkdir(P("%s", set), 0777);
    mkdir(P("%s/images", set), 0777);
    mkdir(P("%s/masks", set), 0777);
}

static uint64_t rng_state = 12345;
static uint64_t rnd(void) { return ng_splitmix64_next(&rng_state); }

/* Chi-square statistic of counts against equal expectations. */
static double chi2_uniform(const int64_t *cnt, int k)
{
    int64_t tot = 0;
    for (int i = 0; i < k; i++)
        tot += cnt[i];
    double e = (double)tot / k, x = 0;
    for (int i = 0; i < k; i++)
        x += (cnt[i] - e) * (cnt[i] - e) / e;
    return x;
}

/* ---- the "a" dataset: 4 images of 20x30 with known classes ---------------- */

#define AH 20
#define AW 30
#define AK 5
static uint8_t amask[4][AH * AW];

static void fill_a(void)
{
    /* img 0: class 1 = 3 pixels, class 2 = 100, class 3 = 400, rest 0, some ignore */
    uint8_t *m = amask[0];
    memset(m, 0, AH * AW);
    m[0] = m[31] = m[599] = 1;
    for (int p = 100; p < 200; p++)
        m[p] = 2;
    for (int p = 200; p < 600; p++)
        if (m[p] == 0)
            m[p] = 3;
    m[50] = m[51] = 255;
    /* img 1: background only */
    memset(amask[1], 0, AH * AW);
    /* img 2: class 4 everywhere in rows 5..14 (300 px), ignore elsewhere */
    memset(amask[2], 255, AH * AW);
    for (int p = 5 * AW; p < 15 * AW; p++)
        amask[2][p] = 4;
    /* img 3: random classes 0..4 */
    for (int p = 0; p < AH * AW; p++)
        amask[3][p] = (uint8_t)(rnd() % AK);
}

static void write_a(void)
{
    make_set("a");
    char name[32];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "img_%d.png", i);
        write_sample("a", name, AH, AW, amask[i]);
    }
}

static void test_index(void)
{
    nr_dataset *ds = nr_dataset_open(P("a"), 1, err, sizeof err);
    if (!check(ds != NULL, "open dataset a", "%s", err))
        return;
    int built = -1;
    nr_class_index *ix = nr_class_index_get(ds, AK, 255, 50, NULL, NULL, &built, err, sizeof err);
    if (!check(ix != NULL && built == 1, "index built without a cache", "%s", err)) {
        nr_dataset_free(ds);
        return;
    }
    int ok = nr_class_index_images(ix) == 4 && nr_class_index_classes(ix) == AK;
    int64_t tot[AK] = {0}, want[AK] = {0};
    for (int i = 0; i < 4; i++) {
        int h, w;
        nr_class_index_size(ix, i, &h, &w);
        ok &= h == AH && w == AW;
        int64_t cnt[AK] = {0};
        for (int p = 0; p < AH * AW; p++)
            if (amask[i][p] != 255)
                cnt[amask[i][p]]++, want[amask[i][p]]++;
        for (int c = 0; c < AK; c++)
            ok &= nr_class_index_pixels(ix, i, c) == cnt[c];
    }
    nr_class_index_totals(ix, tot);
    for (int c = 0; c < AK; c++)
        ok &= tot[c] == want[c];
    check(ok, "index: sizes and per-image class counts equal the masks'", "mismatch");
    /* per foreground class the images holding it: 1, 2, 3 in images 0 and 3,
     * 4 in 2 and 3; none for class 0 or out of range */
    const int *fg, *h1, *h4, *h0, *h9;
    int nfg = nr_class_index_fg(ix, &fg);
    int in1 = nr_class_index_holders(ix, 1, &h1), in4 = nr_class_index_holders(ix, 4, &h4);
    int in0 = nr_class_index_holders(ix, 0, &h0), in9 = nr_class_index_holders(ix, 9, &h9);
    check(nfg == 4 && fg[0] == 1 && fg[3] == 4 && in1 == 2 && h1[0] == 0 && h1[1] == 3 && in4 == 2 && h4[0] == 2 &&
              h4[1] == 3 && in0 == 0 && in9 == 0,
          "index: the foreground classes and the images holding each", "%d classes; class 1 in %d, 4 in %d", nfg,
          in1, in4);
    int64_t old[AK];
    int rc = nr_dataset_class_counts(ds, AH, AW, AK, 255, old, err, sizeof err);
    check(rc == 0 && memcmp(old, tot, sizeof old) == 0, "index: totals equal nr_dataset_class_counts'",
          "rc %d '%s'", rc, err);

    /* locations: all of the right class, increasing, min(count, max(50, count/100)) */
    int locs_ok = 1;
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < AK; c++) {
            const uint32_t *pos;
            int n = nr_class_index_locations(ix, i, c, &pos);
            int64_t cnt = nr_class_index_pixels(ix, i, c);
            int64_t want_n = c == 0 ? 0 : cnt < 50 ? cnt : 50;
            locs_ok &= n == want_n;
            for (int k = 0; k < n; k++)
                locs_ok &= pos[k] < AH * AW && amask[i][pos[k]] == c && (k == 0 || pos[k] > pos[k - 1]);
        }
    check(locs_ok, "index: stored positions hold their class, bounded at 50 per class", "bad positions");

    /* the bounded sample is spread over the class: mean row of the 50 kept
     * of class 4 in image 2 (rows 5..14, mean 9.5, sd of a mean ~0.4) */
    const uint32_t *pos;
    int n = nr_class_index_locations(ix, 2, 4, &pos);
    double my = 0;
    for (int k = 0; k < n; k++)
        my += pos[k] / AW;
    my /= n > 0 ? n : 1;
    check(n == 50 && fabs(my - 9.5) < 1.6, "index: the bounded sample spreads over the class", "n %d mean row %.2f",
          n, my);

    /* nnU-Net's 1% rule: a bound of 2 still keeps ceil(300 / 100) = 3 of
     * image 2's 300 pixels of class 4, and 2 of image 0's 100 of class 2 */
    nr_class_index *ix1 = nr_class_index_get(ds, AK, 255, 2, NULL, NULL, NULL, err, sizeof err);
    int n4 = ix1 ? nr_class_index_locations(ix1, 2, 4, &pos) : -1;
    int n2 = ix1 ? nr_class_index_locations(ix1, 0, 2, &pos) : -1;
    check(n4 == 3 && n2 == 2, "index: at least 1% of a class's pixels are kept", "kept %d and %d", n4, n2);
    nr_class_index_free(ix1);

    /* a rebuild gives the same positions (the sample is seeded by the name) */
    nr_class_index *ix2 = nr_class_index_get(ds, AK, 255, 50, NULL, NULL, NULL, err, sizeof err);
    int same = ix2 != NULL;
    for (int i = 0; same && i < 4; i++)
        for (int c = 1; c < AK; c++) {
            const uint32_t *a, *b;
            int na = nr_class_index_locations(ix, i, c, &a), nb = nr_class_index_locations(ix2, i, c, &b);
            same &= na == nb && (na == 0 || memcmp(a, b, sizeof *a * (size_t)na) == 0);
        }
    check(same, "index: reproducible position sample", "differs");
    nr_class_index_free(ix2);
    nr_class_index_free(ix);
    nr_dataset_free(ds);
}

/* ---- the cache --------------------------------------------------------------- */

static int has(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

/* nr_class_index_get with the cache in tmpdir/run, its report in rep. */
static nr_class_index *get_cached(nr_dataset *ds, int classes, int *built, char *rep, size_t replen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    nr_class_index *ix = nr_class_index_get(ds, classes, 255, 50, P("run/class_stats.bin"), f, built, err,
                                            sizeof err);
    fclose(f);
    snprintf(rep, replen, "%s", buf ? buf : "");
    free(buf);
    return ix;
}

static int same_index(const nr_class_index *a, const nr_class_index *b)
{
    if (!a || !b || nr_class_index_images(a) != nr_class_index_images(b))
        return 0;
    for (int i = 0; i < nr_class_index_images(a); i++)
        for (int c = 0; c < nr_class_index_classes(a); c++) {
            const uint32_t *pa, *pb;
            int na = nr_class_index_locations(a, i, c, &pa), nb = nr_class_index_locations(b, i, c, &pb);
            if (nr_class_index_pixels(a, i, c) != nr_class_index_pixels(b, i, c) || na != nb ||
                (na && memcmp(pa, pb, sizeof *pa * (size_t)na) != 0))
                return 0;
        }
    const int *fa, *fb;
    int nfa = nr_class_index_fg(a, &fa), nfb = nr_class_index_fg(b, &fb);
    if (nfa != nfb || (nfa && memcmp(fa, fb, sizeof *fa * (size_t)nfa) != 0))
        return 0;
    for (int c = 0; c < nr_class_index_classes(a); c++) {
        const int *ha, *hb;
        int na = nr_class_index_holders(a, c, &ha), nb = nr_class_index_holders(b, c, &hb);
        if (na != nb || (na && memcmp(ha, hb, sizeof *ha * (size_t)na) != 0))
            return 0;
    }
    return 1;
}

static long long mtime_ns(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

static void write_file(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
}

static void test_cache(void)
{
    mkdir(P("run"), 0777);
    nr_dataset *ds = nr_dataset_open(P("a"), 1, err, sizeof err);
    if (!check(ds != NULL, "open dataset a again", "%s", err))
        return;
    const char *cache = P("run/class_stats.bin");
    char rep[2048];
    int built = -1;
    nr_class_index *ref = get_cached(ds, AK, &built, rep, sizeof rep);
    check(ref && built == 1 && access(cache, F_OK) == 0 && has(rep, "indexed") && has(rep, "saved in"),
          "cache: first run indexes the masks and writes class_stats.bin", "built %d report '%s' err '%s'", built,
          rep, err);
    long long t0 = mtime_ns(cache);

    nr_class_index *ix = get_cached(ds, AK, &built, rep, sizeof rep);
    check(ix && built == 0 && mtime_ns(cache) == t0 && has(rep, "from") && same_index(ix, ref),
          "cache: second run reads it (no mask read, file untouched, same index)", "built %d report '%s'", built,
          rep);
    nr_class_index_free(ix);

    /* another class count: a different index, rebuilt without a warning */
    ix = get_cached(ds, AK + 1, &built, rep, sizeof rep);
    check(ix && built == 1 && !has(rep, "warning") && has(rep, "another number of classes"),
          "cache: other settings rebuild it", "built %d report '%s'", built, rep);
    nr_class_index_free(ix);
    ix = get_cached(ds, AK, &built, rep, sizeof rep); /* back to AK classes */
    nr_class_index_free(ix);

    /* corrupt files: never trusted, rebuilt with a warning */
    size_t len = 0;
    unsigned char *good = ng_read_file(cache, &len);
    struct {
        const char *name, *why;
        size_t cut;  /* truncate to this length (0: no) */
        long flip;   /* flip a byte at this offset (-1: no) */
        int garbage; /* replace by text */
    } bad[] = {
        {"truncated", "truncated", 0, -1, 0},
        {"a flipped payload byte", "bad CRC", 0, 60, 0},
        {"not a cache", "bad magic", 0, -1, 1},
        {"a flipped version", "another version", 0, 4, 0},
    };
    bad[0].cut = len - 7;
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        unsigned char *b = malloc(len);
        memcpy(b, good, len);
        size_t l = len;
        if (bad[k].cut)
            l = bad[k].cut;
        if (bad[k].flip >= 0)
            b[bad[k].flip] ^= 0x5a;
        if (bad[k].garbage) {
            l = 12;
            memcpy(b, "hello world\n", 12);
        }
        write_file(cache, b, l);
        free(b);
        ix = get_cached(ds, AK, &built, rep, sizeof rep);
        char name[128];
        snprintf(name, sizeof name, "cache: %s is rebuilt with a warning", bad[k].name);
        check(ix && built == 1 && has(rep, "warning") && has(rep, bad[k].why) && same_index(ix, ref), name,
              "built %d report '%s'", built, rep);
        nr_class_index_free(ix);
    }
    /* consistent CRC, inconsistent contents: a class id past the classes.
     * The first present class of image 0 sits at offset 40 + 4 + 12. */
    {
        unsigned char *b = malloc(len);
        memcpy(b, good, len);
        b[56] = 77;
        uint32_t crc = ng_crc32(b + 40, len - 40);
        for (int q = 0; q < 4; q++)
            b[24 + q] = (unsigned char)(crc >> (8 * q));
        write_file(cache, b, len);
        free(b);
        ix = get_cached(ds, AK, &built, rep, sizeof rep);
        check(ix && built == 1 && has(rep, "warning") && has(rep, "inconsistent") && same_index(ix, ref),
              "cache: valid CRC with a bad class id is rebuilt with a warning", "built %d report '%s'", built, rep);
        nr_class_index_free(ix);
    }
    write_file(cache, good, len);
    free(good);
    ix = get_cached(ds, AK, &built, rep, sizeof rep);
    check(ix && built == 0, "cache: the restored file is used again", "built %d '%s'", built, rep);
    nr_class_index_free(ix);

    /* a mask changes: rebuilt, with the new counts */
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    uint8_t m[AH * AW];
    memset(m, 4, sizeof m);
    write_sample("a", "img_1.png", AH, AW, m);
    ix = get_cached(ds, AK, &built, rep, sizeof rep);
    check(ix && built == 1 && !has(rep, "warning") && has(rep, "changed") &&
              nr_class_index_pixels(ix, 1, 4) == AH * AW && nr_class_index_pixels(ix, 1, 0) == 0,
          "cache: a changed mask rebuilds it with the new counts", "built %d report '%s'", built, rep);
    nr_class_index_free(ix);
    write_sample("a", "img_1.png", AH, AW, amask[1]);
    nr_class_index_free(ref);
    nr_dataset_free(ds);

    /* a mask that is not a PNG: the error names it */
    nr_dataset *bd;
    make_set("b");
    write_sample("b", "x.png", 4, 4, amask[0]);
    write_file(P("b/masks/x.png"), "junk", 4);
    bd = nr_dataset_open(P("b"), 1, err, sizeof err);
    ix = bd ? nr_class_index_get(bd, AK, 255, 50, NULL, NULL, NULL, err, sizeof err) : NULL;
    check(!ix && has(err, "b/masks/x.png") && has(err, "not a PNG"), "index: a bad mask is an error naming it",
          "'%s'", err);
    nr_class_index_free(ix);
    nr_dataset_free(bd);
}

/* ---- foreground oversampling --------------------------------------------------- */

/* Whether mask m (h * w) holds class c. */
static int holds(const uint8_t *m, int hw, int c)
{
    for (int p = 0; p < hw; p++)
        if (m[p] == c)
            return 1;
    return 0;
}

static void test_foreground(void)
{
    nr_dataset *ds = nr_dataset_open(P("a"), 1, err, sizeof err);
    nr_class_index *ix = ds ? nr_class_index_get(ds, AK, 255, 1000, NULL, NULL, NULL, err, sizeof err) : NULL;
    if (!check(ix != NULL, "index for the samplers", "%s", err)) {
        nr_dataset_free(ds);
        return;
    }
    enum { CH = 8, CW = 12, B = 6, N = 60000 };
    /* LAST: batch 6, 0.33 -> slots >= round(4.02) = 4 forced: exactly 1/3 */
    nr_fg_sampler s = {ix, 0.33, NR_FG_LAST, -1, B, 0, 0, 0};
    int64_t cls_cnt[AK] = {0}, pix_cnt[3] = {0}, img4[2] = {0};
    int centred = 1, slots_ok = 1, held = 1, forced = 0;
    uint64_t draw = 99;
    for (int k = 0; k < N; k++) {
        int slot = k % B, y0, x0, cy, cx, img = -1;
        draw = draw * 6364136223846793005ULL + 1442695040888963407ULL;
        int c = nr_fg_draw(&s, slot, draw, &img);
        slots_ok &= (c >= 0) == (slot >= 4);
        if (c < 0)
            continue;
        forced++;
        cls_cnt[c]++;
        held &= img >= 0 && img < 4 && holds(amask[img], AH * AW, c);
        if (c == 4)
            img4[img == 3]++;
        /* the crop of the drawn image: the chosen pixel holds the class and
         * sits in the window at the centre +- jitter (crop / 4), unless the
         * window was clamped at a border */
        int cc = nr_fg_choose(&s, img, slot, draw, AH, AW, CH, CW, &y0, &x0, &cy, &cx);
        int jy = CH / 4, jx = CW / 4;
        int dy = cy - y0 - CH / 2, dx = cx - x0 - CW / 2;
        int clamped_y = y0 == 0 || y0 == AH - CH, clamped_x = x0 == 0 || x0 == AW - CW;
        centred &= cc == c && amask[img][cy * AW + cx] == c && cy >= y0 && cy < y0 + CH && cx >= x0 &&
                   cx < x0 + CW && (clamped_y || abs(dy) <= jy) && (clamped_x || abs(dx) <= jx) && y0 >= 0 &&
                   x0 >= 0 && y0 <= AH - CH && x0 <= AW - CW;
        if (c == 1 && img == 0)
            pix_cnt[cy * AW + cx == 0 ? 0 : cy * AW + cx == 31 ? 1 : 2]++;
    }
    check(forced * 3 == N && slots_ok && nr_fg_effective(&s) > 0.333 && nr_fg_effective(&s) < 0.334,
          "foreground last: exactly the last 2 of 6 slots forced (1/3)", "forced %d slots %d", forced, slots_ok);
    check(centred, "foreground: every forced crop holds the drawn class at its centre +- jitter", "no");
    /* the class is uniform among the training set's 1..4, though class 1 has
     * 3 pixels in image 0 and class 4 lies in another image: chi-square with
     * 3 degrees of freedom, 16.3 is p = 0.001; the image uniform among those
     * holding it (class 4: images 2 and 3, 1 degree, 10.8) */
    double x2 = chi2_uniform(cls_cnt + 1, 4), x2i = chi2_uniform(img4, 2);
    check(cls_cnt[0] == 0 && x2 < 16.3 && held && x2i < 10.8,
          "foreground: class uniform over the training set's, then an image holding it",
          "counts %lld %lld %lld %lld chi2 %.2f; held %d; class 4 in images 2 / 3: %lld / %lld", (long long)cls_cnt[1],
          (long long)cls_cnt[2], (long long)cls_cnt[3], (long long)cls_cnt[4], x2, held, (long long)img4[0],
          (long long)img4[1]);
    double x2p = chi2_uniform(pix_cnt, 3);
    check(x2p < 13.8, "foreground: pixel uniform among the class's", "counts %lld %lld %lld chi2 %.2f",
          (long long)pix_cnt[0], (long long)pix_cnt[1], (long long)pix_cnt[2], x2p);

    /* a batch's images: the forced slots get the drawn image of the draw the
     * batcher gives the crop hook at that stream position; the others keep
     * theirs */
    int idx[B], same = 1;
    for (int rep = 0; rep < 50; rep++) {
        uint64_t pos = 1000 + (uint64_t)rep * B;
        for (int j = 0; j < B; j++)
            idx[j] = 1;
        nr_fg_images(&s, 7, pos, B, idx);
        for (int j = 0; j < B; j++) {
            int img = -1, c = nr_fg_draw(&s, j, nr_batcher_draw(7, pos + (uint64_t)j), &img);
            same &= c >= 0 ? idx[j] == img && c > 0 : idx[j] == 1;
        }
    }
    check(same && s.drawn == 50 * B && s.forced == 50 * 2, "foreground: a batch's forced slots take the drawn images",
          "same %d drawn %lld forced %lld", same, (long long)s.drawn, (long long)s.forced);

    /* foreground_draw = image (nnU-Net v2's rule): the batch keeps the
     * stream's images; a forced crop is centred on a class the image holds,
     * uniform among them (image 0 holds 1..3: chi-square, 2 degrees, 13.8 is
     * p = 0.001); nothing is drawn by class */
    nr_fg_sampler v = {ix, 0.33, NR_FG_LAST, -1, B, 0, 0, 1};
    int stream = 1, own = 1, none = 1;
    int64_t own_cnt[3] = {0};
    for (int rep = 0; rep < 600; rep++) {
        for (int j = 0; j < B; j++)
            idx[j] = 0;
        nr_fg_images(&v, 7, (uint64_t)rep * B, B, idx);
        for (int j = 0; j < B; j++) {
            int y0, x0, cy, cx, img = -1;
            uint64_t d = nr_batcher_draw(7, (uint64_t)rep * B + (uint64_t)j);
            stream &= idx[j] == 0;
            none &= nr_fg_draw(&v, j, d, &img) == -1 && img == -1;
            int c = nr_fg_choose(&v, 0, j, d, AH, AW, CH, CW, &y0, &x0, &cy, &cx);
            if (j < 4) {
                own &= c == -1;
                continue;
            }
            own &= c >= 1 && c <= 3 && amask[0][cy * AW + cx] == c && cy >= y0 && cy < y0 + CH && cx >= x0 &&
                   cx < x0 + CW;
            if (c >= 1 && c <= 3)
                own_cnt[c - 1]++;
        }
    }
    double x2o = chi2_uniform(own_cnt, 3);
    check(stream && none && own && x2o < 13.8 && v.forced == 600 * 2 && v.drawn == 600 * B,
          "foreground_draw = image: the stream's images kept, crops centred on a class of the image",
          "stream %d none %d own %d counts %lld %lld %lld chi2 %.2f forced %lld", stream, none, own,
          (long long)own_cnt[0], (long long)own_cnt[1], (long long)own_cnt[2], x2o, (long long)v.forced);

    /* Python's round: batch 4 at 0.5 -> round(2.0) = 2 -> 2 forced; batch 2
     * at 0.25 -> round(1.5) = 2 -> none; batch 1 at 0.33 -> round(0.67) = 1 -> none */
    nr_fg_sampler q = {ix, 0.5, NR_FG_LAST, -1, 4, 0, 0, 0};
    int f4 = 0;
    for (int j = 0; j < 4; j++)
        f4 += nr_fg_forced(&q, j, 0);
    q.batch = 2, q.fraction = 0.25;
    int f2 = nr_fg_forced(&q, 0, 0) + nr_fg_forced(&q, 1, 0);
    q.batch = 1, q.fraction = 0.33;
    int f1 = nr_fg_forced(&q, 0, 0);
    q.fraction = 1;
    int f1all = nr_fg_forced(&q, 0, 0);
    check(f4 == 2 && f2 == 0 && f1 == 0 && f1all == 1 && nr_fg_effective(&q) == 1,
          "foreground last: nnU-Net's rounding of the forced slots", "%d %d %d %d", f4, f2, f1, f1all);

    /* RANDOM: per sample with probability 0.3; 4 sigma of a binomial */
    nr_fg_sampler r = {ix, 0.3, NR_FG_RANDOM, 2, 1, 0, 0, 0};
    int jit_ok = 1;
    for (int k = 0; k < N; k++) {
        int y0, x0, cy, cx, img = 1;
        nr_fg_images(&r, 3, (uint64_t)k, 1, &img);
        int c = nr_fg_choose(&r, img, 0, nr_batcher_draw(3, (uint64_t)k), AH, AW, CH, CW, &y0, &x0, &cy, &cx);
        if (c >= 0) {
            int clamped_y = y0 == 0 || y0 == AH - CH, clamped_x = x0 == 0 || x0 == AW - CW;
            jit_ok &= (clamped_y || abs(cy - y0 - CH / 2) <= 2) && (clamped_x || abs(cx - x0 - CW / 2) <= 2);
        }
        jit_ok &= (c >= 0) == (img != 1);
    }
    double sd = sqrt(N * 0.3 * 0.7);
    check(r.drawn == N && fabs(r.forced - 0.3 * N) < 4 * sd && jit_ok,
          "foreground random: share 0.3 within 4 sigma, jitter 2", "forced %lld of %d (sd %.1f) jitter %d",
          (long long)r.forced, N, sd, jit_ok);

    /* a forced sample whose image does not hold the drawn class (image 1:
     * background only): a uniform random crop */
    nr_fg_sampler e = {ix, 1.0, NR_FG_LAST, -1, 1, 0, 0, 0};
    int64_t ycnt[AH - CH + 1] = {0};
    int all_uniform = 1;
    for (int k = 0; k < N; k++) {
        int y0, x0;
        int c = nr_fg_choose(&e, 1, 0, rnd(), AH, AW, CH, CW, &y0, &x0, NULL, NULL);
        all_uniform &= c == -1 && y0 >= 0 && y0 <= AH - CH;
        if (all_uniform)
            ycnt[y0]++;
    }
    /* 12 degrees of freedom: 32.9 is p = 0.001 */
    double x2y = chi2_uniform(ycnt, AH - CH + 1);
    check(all_uniform && x2y < 32.9, "foreground: an image without the drawn class -> uniform random crops",
          "uniform %d chi2 %.1f", all_uniform, x2y);

    /* a crop larger than the image pads: offsets in img - crop .. 0, and the
     * chosen pixel is still inside */
    nr_fg_sampler pd = {ix, 1.0, NR_FG_LAST, -1, 1, 0, 0, 0};
    int pad_ok = 1;
    for (int k = 0; k < 2000; k++) {
        int y0, x0, cy, cx, img = -1;
        uint64_t dr = rnd();
        nr_fg_draw(&pd, 0, dr, &img);
        int c = nr_fg_choose(&pd, img, 0, dr, AH, AW, 32, 40, &y0, &x0, &cy, &cx);
        pad_ok &= c > 0 && y0 >= AH - 32 && y0 <= 0 && x0 >= AW - 40 && x0 <= 0 && cy - y0 >= 0 && cy - y0 < 32 &&
                  cx - x0 >= 0 && cx - x0 < 40;
    }
    check(pad_ok, "foreground: windows larger than the image pad and keep the pixel", "no");

    /* the batcher's hook: a sample not forced keeps the batcher's window,
     * a forced one gets nr_fg_choose's */
    nr_fg_sampler hk = {ix, 0.5, NR_FG_LAST, -1, 2, 0, 0, 0};
    int hy = -77, hx = -88, wy, wx, himg = -1;
    nr_fg_crop_hook(&hk, 0, 0, 4242, AH, AW, CH, CW, &hy, &hx);
    int kept = hy == -77 && hx == -88;
    hy = -77, hx = -88;
    nr_fg_draw(&hk, 1, 4242, &himg);
    nr_fg_crop_hook(&hk, himg, 1, 4242, AH, AW, CH, CW, &hy, &hx);
    int hc = nr_fg_choose(&hk, himg, 1, 4242, AH, AW, CH, CW, &wy, &wx, NULL, NULL);
    check(kept && hc > 0 && hy == wy && hx == wx, "foreground hook: slot 0 of 2 keeps the uniform window, slot 1 is centred",
          "kept %d class %d (%d,%d) vs (%d,%d)", kept, hc, hy, hx, wy, wx);

    /* the same draw gives the same window */
    int a0, a1, b0, b1;
    nr_fg_sampler d1 = {ix, 0.5, NR_FG_RANDOM, -1, 1, 0, 0, 0};
    nr_fg_choose(&d1, 3, 0, 777, AH, AW, CH, CW, &a0, &a1, NULL, NULL);
    nr_fg_choose(&d1, 3, 0, 777, AH, AW, CH, CW, &b0, &b1, NULL, NULL);
    check(a0 == b0 && a1 == b1, "foreground: a window is a function of the draw", "differs");
    nr_class_index_free(ix);
    nr_dataset_free(ds);

    /* masks without foreground: nothing forced, the images kept */
    make_set("z");
    uint8_t zm[4] = {0, 0, 255, 0};
    write_sample("z", "z0.png", 2, 2, zm);
    write_sample("z", "z1.png", 2, 2, zm);
    ds = nr_dataset_open(P("z"), 1, err, sizeof err);
    ix = ds ? nr_class_index_get(ds, 3, 255, 10, NULL, NULL, NULL, err, sizeof err) : NULL;
    const int *zc;
    nr_fg_sampler z = {ix, 1.0, NR_FG_LAST, -1, 2, 0, 0, 0};
    int zidx[2] = {1, 0}, zimg = -5;
    if (ix)
        nr_fg_images(&z, 1, 0, 2, zidx);
    check(ix && nr_class_index_fg(ix, &zc) == 0 && nr_fg_draw(&z, 1, 5, &zimg) == -1 && zimg == -5 && zidx[0] == 1 &&
              zidx[1] == 0 && z.forced == 0,
          "foreground: masks without foreground force nothing", "%s", ix ? "drawn" : err);
    nr_class_index_free(ix);
    nr_dataset_free(ds);
}

/* The class-aware draw on 1000 images: class 1 (rare) in image 617 only,
 * class 2 in every image, class 3 in the even ones, class 4 in images
 * 0..9; images and masks are hard links to 5 files.  Every forced sample's
 * class is uniform over 1..4 (the plain shuffle would give class 1 to one
 * sample in 1000), its image holds it, and class 4's image is uniform
 * among its 10. */
static void test_rare_class(void)
{
    enum { NI = 1000, RARE = 617, ND = 40000 };
    make_set("k");
    uint8_t pat[5][4] = {{2, 0, 0, 0}, {2, 3, 0, 0}, {2, 4, 0, 0}, {2, 3, 4, 0}, {2, 1, 0, 0}};
    char name[64];
    for (int k = 0; k < 5; k++) {
        snprintf(name, sizeof name, "p%d.png", k);
        write_sample("k", name, 2, 2, pat[k]);
    }
    for (int i = 0; i < NI; i++) {
        int k = i == RARE ? 4 : (i % 2 == 0) + 2 * (i < 10);
        snprintf(name, sizeof name, "k%04d.png", i);
        char src[4096];
        snprintf(src, sizeof src, "%s", P("k/masks/p%d.png", k));
        if (link(src, P("k/masks/%s", name)) != 0 || (snprintf(src, sizeof src, "%s", P("k/images/p%d.png", k)),
                                                      link(src, P("k/images/%s", name)) != 0)) {
            check(0, "rare class: the dataset's links", "%s", name);
            return;
        }
    }
    for (int k = 0; k < 5; k++) {
        snprintf(name, sizeof name, "p%d.png", k);
        unlink(P("k/masks/%s", name));
        unlink(P("k/images/%s", name));
    }
    nr_dataset *ds = nr_dataset_open(P("k"), 1, err, sizeof err);
    nr_class_index *ix = ds ? nr_class_index_get(ds, 5, 255, 10, NULL, NULL, NULL, err, sizeof err) : NULL;
    if (!check(ix && nr_class_index_images(ix) == NI, "rare class: index of 1000 masks", "%s", err)) {
        nr_class_index_free(ix);
        nr_dataset_free(ds);
        return;
    }
    nr_fg_sampler s = {ix, 1.0 / 3, NR_FG_RANDOM, -1, 8, 0, 0, 0};
    int64_t cls[5] = {0}, img4[10] = {0};
    int held = 1, forced = 0;
    uint64_t pos;
    for (pos = 0; forced < ND; pos++) {
        int img = -1, c = nr_fg_draw(&s, 0, nr_batcher_draw(11, pos), &img);
        if (c < 0)
            continue;
        forced++;
        cls[c]++;
        held &= c == 1 ? img == RARE : c == 2 ? img >= 0 && img < NI : c == 3 ? img % 2 == 0 : img >= 0 && img < 10;
        if (c == 4 && img >= 0 && img < 10)
            img4[img]++;
    }
    /* 3 degrees of freedom: 16.3 is p = 0.001; 9 degrees: 27.9 */
    double x2 = chi2_uniform(cls + 1, 4), x2i = chi2_uniform(img4, 10);
    double share = (double)ND / (double)pos;
    check(cls[0] == 0 && x2 < 16.3 && held && x2i < 27.9 && fabs(share - 1.0 / 3) < 0.01,
          "rare class: forced samples' classes uniform over the present ones, the rare one in its image",
          "classes 1..4: %lld %lld %lld %lld (chi2 %.2f), held %d, class 4's images chi2 %.2f, share %.4f",
          (long long)cls[1], (long long)cls[2], (long long)cls[3], (long long)cls[4], x2, held, x2i, share);
    nr_class_index_free(ix);
    nr_dataset_free(ds);
}

/* ---- repeat factors -------------------------------------------------------------- */

static void test_repeat(void)
{
    /* 10 images of 4x4: class 1 in image 0 only, class 2 in images 0..4,
     * class 3 in images 5 and 6, class 0 in all */
    make_set("r");
    for (int i = 0; i < 10; i++) {
        uint8_t m[16] = {0};
        if (i == 0)
            m[1] = 1;
        if (i < 5)
            m[2] = 2;
        if (i == 5 || i == 6)
            m[3] = 3;
        char name[32];
        snprintf(name, sizeof name, "r%02d.png", i);
        write_sample("r", name, 4, 4, m);
    }
    nr_dataset *ds = nr_dataset_open(P("r"), 1, err, sizeof err);
    nr_class_index *ix = ds ? nr_class_index_get(ds, 4, 255, 10, NULL, NULL, NULL, err, sizeof err) : NULL;
    if (!check(ix != NULL, "repeat: index", "%s", err)) {
        nr_dataset_free(ds);
        return;
    }
    const double t = 0.5;
    double r[10], want[10];
    nr_repeat_factors(ix, t, r);
    /* f_1 = 0.1, f_2 = 0.5, f_3 = 0.2, f_0 = 1 */
    for (int i = 0; i < 10; i++) {
        double v = fmax(1, sqrt(t / 1.0));
        if (i == 0)
            v = fmax(v, fmax(sqrt(t / 0.1), sqrt(t / 0.5)));
        else if (i < 5)
            v = fmax(v, sqrt(t / 0.5));
        if (i == 5 || i == 6)
            v = fmax(v, sqrt(t / 0.2));
        want[i] = v;
    }
    int ok = 1;
    for (int i = 0; i < 10; i++)
        ok &= fabs(r[i] - want[i]) < 1e-12;
    check(ok && fabs(r[0] - sqrt(5.0)) < 1e-12 && fabs(r[5] - sqrt(2.5)) < 1e-12 && r[1] == 1,
          "repeat: factors follow max(1, sqrt(t / f_c))", "r0 %.6f r1 %.6f r5 %.6f", r[0], r[1], r[5]);

    nr_repeat *rp = nr_repeat_new(r, 10, 7, 1, err, sizeof err);
    double sum = 0;
    for (int i = 0; i < 10; i++)
        sum += r[i];
    int64_t L = rp ? nr_repeat_epoch_len(rp) : 0;
    check(rp && L == llround(sum), "repeat: an epoch is round(sum r_i) samples", "L %lld sum %.3f", (long long)L,
          sum);
    if (!rp) {
        nr_class_index_free(ix);
        nr_dataset_free(ds);
        return;
    }
    /* over E epochs image i is drawn about E * L * r_i / sum r times; the
     * count's sd is at most sqrt(E) per image (one Bernoulli per round) */
    const int E = 20000;
    int64_t cnt[10] = {0};
    int *idx = malloc(sizeof *idx * (size_t)L);
    for (int e = 0; e < E; e++) {
        nr_repeat_get(rp, (int64_t)e * L, (int)L, idx);
        for (int k = 0; k < L; k++)
            cnt[idx[k]]++;
    }
    int counts_ok = 1;
    char det[512] = "";
    for (int i = 0; i < 10; i++) {
        double expect = (double)E * L * r[i] / sum;
        if (fabs(cnt[i] - expect) > 4 * sqrt(E) + 1e-3 * expect) {
            counts_ok = 0;
            snprintf(det + strlen(det), sizeof det - strlen(det), " image %d: %lld vs %.0f", i, (long long)cnt[i],
                     expect);
        }
    }
    check(counts_ok, "repeat: the stream's counts match r_i within sampling error", "%s", det);
    /* resume: any position gives what the sequential pass gave */
    int seq[64], jump[64];
    nr_repeat *ra = nr_repeat_new(r, 10, 7, 1, err, sizeof err), *rb = nr_repeat_new(r, 10, 7, 1, err, sizeof err);
    for (int k = 0; k < 1000; k++)
        nr_repeat_get(ra, (int64_t)k * 5, 5, seq);
    nr_repeat_get(ra, 5000, 64, seq);
    nr_repeat_get(rb, 5000, 64, jump);
    int same = memcmp(seq, jump, sizeof seq) == 0;
    nr_repeat_get(rb, 13, 5, jump); /* backwards */
    nr_repeat_get(ra, 13, 5, seq);
    same &= memcmp(seq, jump, 5 * sizeof *seq) == 0;
    nr_repeat *rc = nr_repeat_new(r, 10, 8, 1, err, sizeof err);
    nr_repeat_get(rc, 5000, 64, jump);
    nr_repeat_get(ra, 5000, 64, seq);
    int differs = memcmp(seq, jump, sizeof seq) != 0;
    check(same && differs, "repeat: a position's sample depends on the seed and the position only", "same %d differs %d",
          same, differs);
    /* no shuffle: file order with the copies together */
    nr_repeat *rn = nr_repeat_new(r, 10, 7, 0, err, sizeof err);
    nr_repeat_get(rn, 0, 12, seq);
    int ordered = 1;
    for (int k = 1; k < 12; k++)
        ordered &= seq[k] >= seq[k - 1] || seq[k] == 0;
    check(ordered && seq[0] == 0 && seq[1] == 0, "repeat: without shuffle, file order", "%d %d %d", seq[0], seq[1],
          seq[2]);
    double badr[2] = {1, 0.5};
    nr_repeat *bad = nr_repeat_new(badr, 2, 1, 1, err, sizeof err);
    check(!bad && has(err, "0.5"), "repeat: a factor below 1 is refused", "'%s'", err);
    free(idx);
    nr_repeat_free(rp);
    nr_repeat_free(ra);
    nr_repeat_free(rb);
    nr_repeat_free(rc);
    nr_repeat_free(rn);
    nr_class_index_free(ix);
    nr_dataset_free(ds);
}

int main(void)
{
    if (tmpdir_make("test_sampler") != 0)
        return 1;
    fill_a();
    write_a();
    test_index();
    test_cache();
    test_foreground();
    test_rare_class();
    test_repeat();
    return check_done();
}
