/* overlay.c — nr_overlay_*: label maps blended over their images (the rule
 * is in overlay.h), written as RGB PNGs, and the class palette of a mask
 * file; the PNG work is png.c's. */
#define _POSIX_C_SOURCE 200809L
#include "overlay.h"

#include <stdlib.h>
#include <string.h>

#include "png.h"
#include "util.h"

const uint8_t NR_OVERLAY_MISSED[3] = {255, 48, 48};    /* red: foreground called background */
const uint8_t NR_OVERLAY_FALSE[3] = {255, 214, 0};     /* yellow: background called foreground */
const uint8_t NR_OVERLAY_CONFUSED[3] = {230, 0, 230};  /* magenta: the wrong foreground class */

void nr_palette_voc(nr_palette *p)
{
    for (int i = 0; i < 256; i++)
        nr_png_voc_color(i, p->rgb[i]);
}

/* ---- the palette of a mask file ---------------------------------------- */

int nr_palette_from_mask(const char *path, nr_palette *p, int *from_file, char *err, size_t errlen)
{
    int n;
    nr_palette_voc(p);
    int rc = nr_png_read_palette(path, p->rgb, &n, err, errlen);
    if (rc != 0)
        nr_palette_voc(p); /* as it was, should a read fail part way */
    if (from_file)
        *from_file = rc == 0 && n > 0;
    return rc;
}

/* ---- rendering --------------------------------------------------------- */

void nr_overlay_size(int h, int w, int with_truth, int *out_h, int *out_w)
{
    *out_h = h;
    *out_w = with_truth ? 4 * w + 3 * NR_OVERLAY_GAP : w;
}

static uint8_t to8(float v)
{
    if (!(v > 0))
        return 0; /* NaN too */
    if (v >= 1)
        return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

static void blend(uint8_t *o, const uint8_t *base, const uint8_t *col)
{
    for (int k = 0; k < 3; k++)
        o[k] = (uint8_t)((base[k] * (255 - NR_OVERLAY_ALPHA) + col[k] * NR_OVERLAY_ALPHA + 127) / 255);
}

void nr_overlay_render(const float *image, int c, int h, int w, const uint8_t *pred, const int32_t *truth,
                       int classes, const nr_palette *pal, uint8_t *rgb)
{
    int oh, ow;
    nr_overlay_size(h, w, truth != NULL, &oh, &ow);
    int64_t hw = (int64_t)h * w;
    int panels = truth ? 4 : 1;
    memset(rgb, 255, (size_t)oh * (size_t)ow * 3); /* the gaps are white */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int64_t i = (int64_t)y * w + x;
            uint8_t base[3];
            for (int k = 0; k < 3; k++)
                base[k] = to8(image[(c >= 3 ? k : 0) * hw + i]);
            int p = pred[i];
            int t = truth ? truth[i] : 0;
            int ignored = truth && (t < 0 || t >= classes);
            for (int panel = 0; panel < panels; panel++) {
                uint8_t *o = rgb + ((size_t)y * (size_t)ow + (size_t)panel * (size_t)(w + NR_OVERLAY_GAP) + (size_t)x) * 3;
                int role = truth ? panel : 2; /* 0 image, 1 truth, 2 prediction, 3 errors */
                int show = role == 1 ? (ignored ? 255 : t) : p;
                if (role == 0 || ((role == 1 || role == 2) && show == 0)) {
                    memcpy(o, base, 3);
                } else if (role == 1 || role == 2) {
                    blend(o, base, pal->rgb[show]);
                } else if (ignored || p == t) {
                    for (int k = 0; k < 3; k++)
                        o[k] = (uint8_t)((base[k] * NR_OVERLAY_DIM + 127) / 255);
                } else {
                    memcpy(o, t != 0 && p == 0 ? NR_OVERLAY_MISSED : t == 0 ? NR_OVERLAY_FALSE : NR_OVERLAY_CONFUSED, 3);
                }
            }
        }
}

/* ---- PNG out ----------------------------------------------------------- */

int nr_overlay_write(const char *path, const float *image, int c, int h, int w, const uint8_t *pred,
                     const int32_t *truth, int classes, const nr_palette *pal, char *err, size_t errlen)
{
    int oh, ow;
    nr_overlay_size(h, w, truth != NULL, &oh, &ow);
    uint8_t *rgb = malloc((size_t)oh * (size_t)ow * 3);
    if (!rgb)
        return ng_fail(err, errlen, "%s: out of memory", path);
    nr_overlay_render(image, c, h, w, pred, truth, classes, pal, rgb);
    int rc = nr_png_write_rgb8(path, oh, ow, rgb, err, errlen);
    free(rgb);
    return rc;
}
