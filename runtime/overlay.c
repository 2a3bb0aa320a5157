/* overlay.c — nr_overlay_*: label maps blended over their images (the rule
 * is in overlay.h), RGB PNGs in memory and on disk through libpng, and the
 * class palette of a mask file.  libpng's longjmp is confined to *_body
 * helpers whose callers own every resource, as in png.c. */
#define _POSIX_C_SOURCE 200809L
#include "overlay.h"

#if defined(__has_include)
#if __has_include(<libpng16/png.h>)
#include <libpng16/png.h>
#else
#include <png.h>
#endif
#else
#include <png.h>
#endif

#include <errno.h>
#include <stdio.h>
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

typedef struct {
    FILE *fp;
    png_structp png;
    png_infop info;
    char msg[200];
} pal_state;

static void pal_error(png_structp png, png_const_charp msg)
{
    pal_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "corrupt PNG (%s)", msg);
    png_longjmp(png, 1);
}

static void quiet_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static int pal_body(pal_state *s, nr_palette *p, int *from_file)
{
    if (setjmp(png_jmpbuf(s->png)))
        return -1;
    png_init_io(s->png, s->fp);
    png_read_info(s->png, s->info);
    png_colorp plte;
    int n;
    if (png_get_color_type(s->png, s->info) == PNG_COLOR_TYPE_PALETTE &&
        png_get_PLTE(s->png, s->info, &plte, &n) == PNG_INFO_PLTE) {
        for (int i = 0; i < n && i < 256; i++) {
            p->rgb[i][0] = plte[i].red;
            p->rgb[i][1] = plte[i].green;
            p->rgb[i][2] = plte[i].blue;
        }
        *from_file = 1;
    }
    return 0;
}

int nr_palette_from_mask(const char *path, nr_palette *p, int *from_file, char *err, size_t errlen)
{
    int dummy;
    if (!from_file)
        from_file = &dummy;
    *from_file = 0;
    nr_palette_voc(p);
    pal_state s = {0};
    if (!(s.fp = fopen(path, "rb")))
        return ng_fail(err, errlen, "%s: %s", path, strerror(errno));
    s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, pal_error, quiet_warning);
    s.info = s.png ? png_create_info_struct(s.png) : NULL;
    int rc = s.info ? pal_body(&s, p, from_file) : (snprintf(s.msg, sizeof s.msg, "out of memory"), -1);
    png_destroy_read_struct(s.png ? &s.png : NULL, s.info ? &s.info : NULL, NULL);
    fclose(s.fp);
    if (rc != 0) {
        nr_palette_voc(p);
        *from_file = 0;
        return ng_fail(err, errlen, "%s: %s", path, s.msg);
    }
    return 0;
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

typedef struct {
    png_structp png;
    png_infop info;
    unsigned char *buf; /* the PNG so far: len bytes of cap */
    size_t len, cap;
    int oom;
    char msg[200];
} enc_state;

static void enc_error(png_structp png, png_const_charp msg)
{
    enc_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "cannot encode PNG (%s)", msg);
    png_longjmp(png, 1);
}

static void enc_write(png_structp png, png_bytep data, size_t n)
{
    enc_state *s = png_get_io_ptr(png);
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        unsigned char *b = realloc(s->buf, cap);
        if (!b) {
            s->oom = 1;
            png_error(png, "out of memory");
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

static void enc_flush(png_structp png) { (void)png; }

static int enc_body(enc_state *s, int h, int w, const uint8_t *rgb)
{
    if (setjmp(png_jmpbuf(s->png)))
        return -1;
    png_set_write_fn(s->png, s, enc_write, enc_flush);
    png_set_IHDR(s->png, s->info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(s->png, s->info);
    for (int y = 0; y < h; y++)
        png_write_row(s->png, (png_const_bytep)(rgb + (size_t)y * (size_t)w * 3));
    png_write_end(s->png, s->info);
    return 0;
}

int nr_overlay_encode_png(int h, int w, const uint8_t *rgb, unsigned char **out, size_t *len, char *err,
                          size_t errlen)
{
    enc_state s = {0};
    *out = NULL;
    *len = 0;
    if (h <= 0 || w <= 0)
        return ng_fail(err, errlen, "cannot encode a %dx%d PNG", w, h);
    s.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, enc_error, quiet_warning);
    s.info = s.png ? png_create_info_struct(s.png) : NULL;
    int rc = s.info ? enc_body(&s, h, w, rgb) : (snprintf(s.msg, sizeof s.msg, "out of memory"), -1);
    png_destroy_write_struct(s.png ? &s.png : NULL, s.info ? &s.info : NULL);
    if (rc != 0) {
        free(s.buf);
        return ng_fail(err, errlen, "%s", s.oom ? "out of memory" : s.msg);
    }
    *out = s.buf;
    *len = s.len;
    return 0;
}

int nr_overlay_write(const char *path, const float *image, int c, int h, int w, const uint8_t *pred,
                     const int32_t *truth, int classes, const nr_palette *pal, char *err, size_t errlen)
{
    int oh, ow;
    nr_overlay_size(h, w, truth != NULL, &oh, &ow);
    uint8_t *rgb = malloc((size_t)oh * (size_t)ow * 3);
    if (!rgb)
        return ng_fail(err, errlen, "%s: out of memory", path);
    nr_overlay_render(image, c, h, w, pred, truth, classes, pal, rgb);
    unsigned char *png;
    size_t len;
    char why[256];
    int rc = nr_overlay_encode_png(oh, ow, rgb, &png, &len, why, sizeof why);
    free(rgb);
    if (rc != 0)
        return ng_fail(err, errlen, "%s: %s", path, why);
    rc = ng_atomic_write(path, png, len, 0, err, errlen);
    free(png);
    return rc;
}
