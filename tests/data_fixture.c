/* data_fixture.c — datasets in the layouts netrun reads, made from a
 * gen_data folder (tests/e2e_data.sh), and checks on predicted masks.
 *
 *   data_fixture make SRC OUT [--layout folders|voc|list] [--jpeg] [--rgb] [--sizes HxW,...]
 *       every sample of SRC (images/ + masks/) as a sample of OUT in the
 *       layout: folders (OUT/images, OUT/masks), voc (OUT/JPEGImages/ID.jpg,
 *       OUT/SegmentationClass/ID.png, OUT/ImageSets/Segmentation/train.txt
 *       with the first two thirds, val.txt with the rest), list (OUT/img/N.ext,
 *       OUT/lbl/N_label.png and OUT/list.txt naming them).  --jpeg: images as
 *       JPEG (quality 95); --rgb: 3-channel images (R = v, G = v, B = 1 - v);
 *       --sizes: sample i cut (top-left) or padded (image 0.25, mask 0) to
 *       the (i mod n)-th size.
 *   data_fixture tiles IMG OUTDIR TH TW
 *       cut IMG (a gray or RGB image) into the TH x TW tiles of a grid:
 *       OUTDIR/tile_Y_X.png (gray) or .jpg (RGB, quality 100).
 *   data_fixture same-tiles MASK TILEDIR TH TW
 *       exit 0 when every grid tile of the mask MASK equals TILEDIR/tile_Y_X.png
 *       pixel for pixel; else 1 with the first difference.
 *   data_fixture size FILE
 *       print "W H" of an image or mask. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "batcher.h"
#include "layout.h"
#include "image.h"
#include "jpeg.h"
#include "png.h"

static int mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

static int die(const char *msg)
{
    fprintf(stderr, "data_fixture: %s\n", msg);
    return 1;
}

/* Write (C,h,w) in [0,1] as gray PNG, or JPEG (gray or RGB). */
static int write_image(const char *path, const float *x, int c, int h, int w, int jpeg, int quality, char *err,
                       size_t n)
{
    size_t hw = (size_t)h * w;
    unsigned char *px = malloc(hw * (size_t)c);
    if (!px)
        return -1;
    for (size_t p = 0; p < hw; p++)
        for (int k = 0; k < c; k++) {
            float v = x[(size_t)k * hw + p];
            px[p * (size_t)c + (size_t)k] = (unsigned char)(v < 0 ? 0 : v > 1 ? 255 : v * 255.0f + 0.5f);
        }
    int rc = jpeg ? nr_jpeg_write(path, h, w, c, px, quality, err, n) : nr_png_write_gray8(path, h, w, px, err, n);
    free(px);
    return rc;
}

static int write_mask(const char *path, const int32_t *m, int h, int w, char *err, size_t n)
{
    size_t hw = (size_t)h * w;
    unsigned char *px = malloc(hw);
    if (!px)
        return -1;
    for (size_t p = 0; p < hw; p++)
        px[p] = (unsigned char)m[p];
    int rc = nr_png_write_gray8(path, h, w, px, err, n);
    free(px);
    return rc;
}

static int make(int argc, char **argv)
{
    if (argc < 4)
        return die("make SRC OUT [options]");
    const char *src = argv[2], *out = argv[3], *layout = "folders", *sizes = NULL;
    int jpeg = 0, rgb = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--jpeg"))
            jpeg = 1;
        else if (!strcmp(argv[i], "--rgb"))
            rgb = 1;
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc)
            layout = argv[++i];
        else if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
            sizes = argv[++i];
        else
            return die("unknown option");
    }
    int voc = !strcmp(layout, "voc"), list = !strcmp(layout, "list");
    if (voc)
        jpeg = 1;
    int sh[32], sw[32], ns = 0;
    for (const char *p = sizes; p && *p && ns < 32;) {
        if (sscanf(p, "%dx%d", &sh[ns], &sw[ns]) != 2 || sh[ns] < 1 || sw[ns] < 1)
            return die("--sizes takes HxW,HxW,...");
        ns++;
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
    }
    char err[1024], a[8192], b[8192], img_dir[4096], mask_dir[4096];
    nr_dataset *ds = nr_dataset_open(src, 1, err, sizeof err);
    if (!ds)
        return die(err);
    snprintf(img_dir, sizeof img_dir, "%s/%s", out, voc ? "JPEGImages" : list ? "img" : "images");
    snprintf(mask_dir, sizeof mask_dir, "%s/%s", out, voc ? "SegmentationClass" : list ? "lbl" : "masks");
    snprintf(a, sizeof a, "%s/ImageSets/Segmentation", out);
    if (mkdirs(img_dir) || mkdirs(mask_dir) || (voc && mkdirs(a)))
        return die("cannot create the folders");
    FILE *lf = NULL, *tf = NULL, *vf = NULL;
    if (list) {
        snprintf(a, sizeof a, "%s/list.txt", out);
        lf = fopen(a, "w");
    }
    if (voc) {
        snprintf(a, sizeof a, "%s/ImageSets/Segmentation/train.txt", out);
        tf = fopen(a, "w");
        snprintf(a, sizeof a, "%s/ImageSets/Segmentation/val.txt", out);
        vf = fopen(a, "w");
    }
    if ((list && !lf) || (voc && (!tf || !vf)))
        return die("cannot write the lists");
    int n = nr_dataset_count(ds), c = rgb ? 3 : 1, rc = 0;
    if (list)
        fprintf(lf, "# image mask\n");
    for (int i = 0; i < n && rc == 0; i++) {
        float *im;
        int32_t *m;
        int h, w;
        if (nr_dataset_load_any(ds, i, 1, 256, 255, &im, &m, &h, &w, err, sizeof err) != 0)
            return die(err);
        int oh = ns ? sh[i % ns] : h, ow = ns ? sw[i % ns] : w;
        float *oi = malloc(sizeof *oi * (size_t)c * oh * ow);
        int32_t *om = malloc(sizeof *om * (size_t)oh * ow);
        if (!oi || !om)
            return die("out of memory");
        nr_window_f32(im, 1, h, w, 0, 0, oi, oh, ow, 0.25f);
        nr_window_i32(m, h, w, 0, 0, om, oh, ow, 0);
        if (rgb) {
            size_t hw = (size_t)oh * ow;
            for (size_t p = 0; p < hw; p++)
                oi[hw + p] = oi[p], oi[2 * hw + p] = 1.0f - oi[p];
        }
        char stem[256];
        const char *name = nr_dataset_name(ds, i), *dot = strrchr(name, '.');
        snprintf(stem, sizeof stem, "%.*s", (int)(dot - name), name);
        const char *ext = jpeg ? "jpg" : "png";
        snprintf(a, sizeof a, "%s/%s.%s", img_dir, stem, ext);
        snprintf(b, sizeof b, "%s/%s%s.png", mask_dir, stem, list ? "_label" : "");
        if (write_image(a, oi, c, oh, ow, jpeg, 95, err, sizeof err) != 0 ||
            write_mask(b, om, oh, ow, err, sizeof err) != 0)
            rc = die(err);
        if (lf)
            fprintf(lf, "img/%s.%s  lbl/%s_label.png\n", stem, ext, stem);
        if (voc)
            fprintf(i < (2 * n + 2) / 3 ? tf : vf, "%s\n", stem);
        free(im), free(m), free(oi), free(om);
    }
    if ((lf && fclose(lf)) || (tf && fclose(tf)) || (vf && fclose(vf)))
        rc = die("cannot write the lists");
    nr_dataset_free(ds);
    return rc;
}

static int tiles(int argc, char **argv, int compare)
{
    if (argc != 6)
        return die("tiles|same-tiles FILE DIR TH TW");
    int th = atoi(argv[4]), tw = atoi(argv[5]);
    char err[1024], path[4096];
    int h, w, c = 1;
    float *im = NULL;
    int32_t *m = NULL;
    if (compare) {
        if (nr_mask_load(argv[2], 256, 255, &h, &w, &m, err, sizeof err) != 0)
            return die(err);
    } else {
        if (nr_image_load(argv[2], 3, &h, &w, &im, err, sizeof err) != 0)
            return die(err);
        size_t hw = (size_t)h * w;
        c = 1;
        for (size_t p = 0; p < hw && c == 1; p++)
            if (im[p] != im[hw + p] || im[p] != im[2 * hw + p])
                c = 3;
        if (mkdirs(argv[3]))
            return die("cannot create the tile folder");
    }
    for (int y = 0; y + th <= h; y += th)
        for (int x = 0; x + tw <= w; x += tw) {
            if (compare) {
                int32_t *t;
                int a, b;
                snprintf(path, sizeof path, "%s/tile_%d_%d.png", argv[3], y / th, x / tw);
                if (nr_mask_load(path, 256, 255, &a, &b, &t, err, sizeof err) != 0)
                    return die(err);
                if (a != th || b != tw)
                    return die("a tile of another size");
                for (int i = 0; i < th; i++)
                    for (int j = 0; j < tw; j++)
                        if (t[i * tw + j] != m[(size_t)(y + i) * w + x + j]) {
                            fprintf(stderr, "data_fixture: %s: pixel (%d,%d) is %d, the whole image's (%d,%d) %d\n",
                                    path, j, i, t[i * tw + j], x + j, y + i, m[(size_t)(y + i) * w + x + j]);
                            return 1;
                        }
                free(t);
            } else {
                float *t = malloc(sizeof *t * (size_t)c * th * tw);
                if (!t)
                    return die("out of memory");
                nr_window_f32(im, c, h, w, y, x, t, th, tw, 0);
                snprintf(path, sizeof path, "%s/tile_%d_%d.%s", argv[3], y / th, x / tw, c == 3 ? "jpg" : "png");
                if (write_image(path, t, c, th, tw, c == 3, 100, err, sizeof err) != 0)
                    return die(err);
                free(t);
            }
        }
    free(im);
    free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "make"))
        return make(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "tiles"))
        return tiles(argc, argv, 0);
    if (argc >= 2 && !strcmp(argv[1], "same-tiles"))
        return tiles(argc, argv, 1);
    if (argc == 3 && !strcmp(argv[1], "size")) {
        char err[1024];
        float *im;
        int h, w;
        if (nr_image_load(argv[2], 1, &h, &w, &im, err, sizeof err) != 0)
            return die(err);
        printf("%d %d\n", w, h);
        free(im);
        return 0;
    }
    return die("usage: make|tiles|same-tiles|size ...");
}
