/* image.c — decoding by content, resizing, windows, normalization. */
#define _POSIX_C_SOURCE 200809L
#include "image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jpeg.h"
#include "options.h"
#include "png.h"
#include "util.h"

int nr_image_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return 0;
    return (n > 4 && (strcasecmp(name + n - 4, ".png") == 0 || strcasecmp(name + n - 4, ".jpg") == 0)) ||
           (n > 5 && strcasecmp(name + n - 5, ".jpeg") == 0);
}

/* The first bytes of path into sig; how many were read, -1 with err. */
static int sniff(const char *path, unsigned char *sig, size_t n, char *err, size_t errlen)
{
    FILE *f = ng_open_input(path, NG_MAX_IMAGE);
    if (!f)
        return ng_fail(err, errlen, "%s: %s", path, ng_strerror(errno));
    size_t got = fread(sig, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return ng_fail(err, errlen, "%s: %s", path, strerror(errno));
    return (int)got;
}

int nr_image_load(const char *path, int c, int *h, int *w, float **out, char *err, size_t errlen)
{
    unsigned char sig[8];
    int n = sniff(path, sig, sizeof sig, err, errlen);
    if (n < 0)
        return -1;
    if (nr_jpeg_sniff(sig, (size_t)n))
        return nr_jpeg_load_image(path, NULL, 0, c, h, w, out, err, errlen);
    if (nr_png_sniff(sig, (size_t)n))
        return nr_png_load_image(path, NULL, 0, c, h, w, out, err, errlen);
    return ng_fail(err, errlen, "%s: not a PNG or JPEG file%s", path, n == 0 ? " (empty)" : "");
}

int nr_image_size(const char *path, int *h, int *w, char *err, size_t errlen)
{
    unsigned char sig[8];
    int n = sniff(path, sig, sizeof sig, err, errlen);
    if (n < 0)
        return -1;
    if (nr_jpeg_sniff(sig, (size_t)n))
        return nr_jpeg_size(path, h, w, err, errlen);
    uint32_t ph, pw;
    if (!nr_png_sniff(sig, (size_t)n))
        return ng_fail(err, errlen, "%s: not a PNG or JPEG file%s", path, n == 0 ? " (empty)" : "");
    if (nr_png_size(path, &ph, &pw, err, errlen) != 0)
        return -1;
    *h = ph > INT32_MAX ? -1 : (int)ph, *w = pw > INT32_MAX ? -1 : (int)pw; /* the decoder says what is wrong */
    return 0;
}

int nr_mask_load(const char *path, int classes, int ignore, int *h, int *w, int32_t **out, char *err,
                 size_t errlen)
{
    unsigned char sig[8];
    int n = sniff(path, sig, sizeof sig, err, errlen);
    if (n < 0)
        return -1;
    if (nr_jpeg_sniff(sig, (size_t)n))
        return ng_fail(err, errlen, "%s: a JPEG mask; masks must be PNG (JPEG's lossy compression changes the "
                       "class values)", path);
    return nr_png_load_mask(path, NULL, 0, classes, ignore, h, w, out, err, errlen);
}

/* Where output position o (of an axis scaled by scale = in / out, n input
 * positions) samples: between input positions *i0 and *i1 (clamped to the
 * edge), weight *a on *i1 (pixel centres aligned, as align_corners=False). */
static void bilinear_src(int o, float scale, int n, int *i0, int *i1, float *a)
{
    float f = ((float)o + 0.5f) * scale - 0.5f;
    if (f < 0)
        f = 0;
    *i0 = (int)f;
    if (*i0 > n - 1)
        *i0 = n - 1;
    *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
    *a = f - (float)*i0;
}

void nr_resize_bilinear(const float *in, int c, int ih, int iw, float *out, int oh, int ow)
{
    nr_resize_bilinear_rows(in, c, ih, iw, out, oh, ow, 0, oh);
}

void nr_resize_bilinear_rows(const float *in, int c, int ih, int iw, float *out, int oh, int ow, int y_begin,
                             int y_end)
{
    float sy = (float)ih / (float)oh, sx = (float)iw / (float)ow;
    size_t ihw = (size_t)ih * (size_t)iw, ohw = (size_t)(y_end - y_begin) * (size_t)ow;
    for (int y = y_begin; y < y_end; y++) {
        int y0, y1;
        float ay;
        bilinear_src(y, sy, ih, &y0, &y1, &ay);
        for (int x = 0; x < ow; x++) {
            int x0, x1;
            float ax;
            bilinear_src(x, sx, iw, &x0, &x1, &ax);
            for (int k = 0; k < c; k++) {
                const float *p = in + (size_t)k * ihw;
                float top = p[(size_t)y0 * iw + x0] * (1 - ax) + p[(size_t)y0 * iw + x1] * ax;
                float bot = p[(size_t)y1 * iw + x0] * (1 - ax) + p[(size_t)y1 * iw + x1] * ax;
                out[(size_t)k * ohw + (size_t)(y - y_begin) * ow + x] = top * (1 - ay) + bot * ay;
            }
        }
    }
}

void nr_resize_nearest(const int32_t *in, int ih, int iw, int32_t *out, int oh, int ow)
{
    for (int y = 0; y < oh; y++) {
        int sy = (int)(((int64_t)2 * y + 1) * ih / (2 * (int64_t)oh));
        for (int x = 0; x < ow; x++) {
            int sx = (int)(((int64_t)2 * x + 1) * iw / (2 * (int64_t)ow));
            out[(size_t)y * ow + x] = in[(size_t)sy * iw + sx];
        }
    }
}

void nr_window_f32(const float *in, int c, int ih, int iw, int y0, int x0, float *out, int oh, int ow,
                   float fill)
{
    size_t ihw = (size_t)ih * (size_t)iw, ohw = (size_t)oh * (size_t)ow;
    for (int k = 0; k < c; k++)
        for (int y = 0; y < oh; y++) {
            int sy = y0 + y;
            float *o = out + (size_t)k * ohw + (size_t)y * ow;
            if (sy < 0 || sy >= ih) {
                for (int x = 0; x < ow; x++)
                    o[x] = fill;
                continue;
            }
            const float *p = in + (size_t)k * ihw + (size_t)sy * iw;
            for (int x = 0; x < ow; x++) {
                int sx = x0 + x;
                o[x] = sx >= 0 && sx < iw ? p[sx] : fill;
            }
        }
}

void nr_window_i32(const int32_t *in, int ih, int iw, int y0, int x0, int32_t *out, int oh, int ow,
                   int32_t fill)
{
    for (int y = 0; y < oh; y++) {
        int sy = y0 + y;
        int32_t *o = out + (size_t)y * ow;
        for (int x = 0; x < ow; x++) {
            int sx = x0 + x;
            o[x] = sy >= 0 && sy < ih && sx >= 0 && sx < iw ? in[(size_t)sy * iw + sx] : fill;
        }
    }
}

void nr_normalize(float *x, int c, size_t hw, const float *mean, const float *std)
{
    for (int k = 0; k < c; k++) {
        if (mean[k] == 0 && std[k] == 1)
            continue;
        float m = mean[k], s = 1.0f / std[k];
        float *p = x + (size_t)k * hw;
        for (size_t i = 0; i < hw; i++)
            p[i] = (p[i] - m) * s;
    }
}

int nr_image_norm_options(const ng_graph *g, int c, float *mean, float *std, char *err, size_t errlen)
{
    double v[NR_OPTION_MAX_NUMS];
    const char *keys[2] = {"mean", "std"};
    float *dst[2] = {mean, std};
    for (int i = 0; i < 2; i++) {
        int n = nr_option_nums(g, keys[i], v, NR_OPTION_MAX_NUMS);
        if (n != 1 && n != c)
            return ng_fail(err, errlen, "option %s = %s: %d values for a model of %d channel%s (give 1 or %d)",
                           keys[i], nr_option(g, keys[i]), n, c, c == 1 ? "" : "s", c);
        for (int k = 0; k < c; k++)
            dst[i][k] = (float)v[n == 1 ? 0 : k];
    }
    return 0;
}
