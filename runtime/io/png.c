/* png.c — nr_png_*: PNG images and masks through libpng.
 * libpng reports errors by longjmp.  Each entry point keeps everything it must
 * clean up in a state struct in its own frame and calls a static *_body helper
 * that does the setjmp, so no local modified after setjmp is read after a
 * longjmp (C11 7.13.2.1) and no volatile is needed. */
#define _POSIX_C_SOURCE 200809L
#include "png.h" /* ours: quotes search runtime/ first */

#include "libpng.h" /* libpng's png.h */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- shared ------------------------------------------------------------ */

int nr_png_sniff(const void *p, size_t n)
{
    return n >= 8 && png_sig_cmp(p, 0, 8) == 0;
}

int nr_png_size(const char *path, uint32_t *h, uint32_t *w, char *err, size_t errlen)
{
    unsigned char b[24]; /* the signature, then IHDR: length, type, width, height */
    FILE *f = ng_open_input(path, NG_MAX_IMAGE);
    if (!f)
        return ng_fail(err, errlen, "%s: %s", path, ng_strerror(errno));
    size_t got = fread(b, 1, sizeof b, f);
    fclose(f);
    if (got < sizeof b || !nr_png_sniff(b, 8) || memcmp(b + 12, "IHDR", 4) != 0)
        return ng_fail(err, errlen, "%s: not a PNG file", path);
    *w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    *h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    return 0;
}

void nr_png_voc_color(int i, uint8_t rgb[3])
{
    int r = 0, g = 0, b = 0, c = i & 255;
    for (int j = 0; j < 8; j++, c >>= 3) {
        r |= ((c >> 0) & 1) << (7 - j);
        g |= ((c >> 1) & 1) << (7 - j);
        b |= ((c >> 2) & 1) << (7 - j);
    }
    rgb[0] = (uint8_t)r, rgb[1] = (uint8_t)g, rgb[2] = (uint8_t)b;
}

static const char *color_type_name(int ctype)
{
    switch (ctype) {
    case PNG_COLOR_TYPE_GRAY: return "gray";
    case PNG_COLOR_TYPE_GRAY_ALPHA: return "gray+alpha";
    case PNG_COLOR_TYPE_RGB: return "RGB";
    case PNG_COLOR_TYPE_RGB_ALPHA: return "RGBA";
    case PNG_COLOR_TYPE_PALETTE: return "palette";
    default: return "unknown colour type";
    }
}

/* ---- reading ----------------------------------------------------------- */

typedef struct {
    FILE *fp;              /* the file, or NULL when reading from memory: */
    const unsigned char *mem; /* the PNG in memory, mem_len bytes, */
    size_t mem_len, mem_pos;  /* read up to mem_pos */
    png_structp png;
    png_infop info;
    unsigned char *pixels; /* (H, rowbytes) decoded rows */
    png_bytep *rows;       /* (H) pointers into pixels */
    int eof;               /* the read callback met end of file */
    char msg[256];         /* reason, without the file name */
    int any_size;          /* nr_png_load_*: take the file's size, */
    int got_h, got_w;      /* which is this, */
    size_t elem_bytes, chans; /* and allocate alloc (H*W*chans elements) */
    void *alloc;
} rd_state;

static void rd_error(png_structp png, png_const_charp msg)
{
    rd_state *r = png_get_error_ptr(png);
    snprintf(r->msg, sizeof r->msg, "corrupt PNG (%s)", msg);
    png_longjmp(png, 1);
}

static void rd_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* ancillary-chunk trouble does not stop a read */
}

/* Up to len bytes from the file or the memory buffer; the count read. */
static size_t rd_bytes(rd_state *r, unsigned char *data, size_t len)
{
    if (r->fp)
        return fread(data, 1, len, r->fp);
    size_t n = r->mem_len - r->mem_pos < len ? r->mem_len - r->mem_pos : len;
    if (n > 0)
        memcpy(data, r->mem + r->mem_pos, n);
    r->mem_pos += n;
    return n;
}

static void rd_read(png_structp png, png_bytep data, size_t len)
{
    rd_state *r = png_get_io_ptr(png);
    if (rd_bytes(r, data, len) != len) {
        if (r->fp && ferror(r->fp))
            png_error(png, strerror(errno));
        r->eof = 1;
        png_error(png, "unexpected end of file");
    }
}

/* Check the signature of the PNG that r reads (r->fp or r->mem) and set up
 * libpng.  0 or -1 with err naming path. */
static int rd_start(rd_state *r, const char *path, char *err, size_t errlen)
{
    unsigned char sig[8];
    size_t n = rd_bytes(r, sig, sizeof sig);
    if (!nr_png_sniff(sig, n)) {
        if (r->fp && ferror(r->fp))
            ng_fail(err, errlen, "%s: %s", path, strerror(errno));
        else
            ng_fail(err, errlen, "%s: not a PNG file%s", path,
                    n == 0 ? " (empty)" : "");
        return -1;
    }
    r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, rd_error,
                                    rd_warning);
    if (r->png)
        r->info = png_create_info_struct(r->png);
    if (!r->png || !r->info) {
        ng_fail(err, errlen, "%s: out of memory", path);
        return -1;
    }
    png_set_read_fn(r->png, r, rd_read);
    png_set_sig_bytes(r->png, (int)sizeof sig);
    /* Skip the ancillary chunks nothing here uses (tRNS and the critical
     * ones stay): libpng would allocate each (text, ICC profile, ...) whole
     * before reading it, as large as its length field says (up to 2 GiB). */
    static const png_byte unused[] = "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0"
                                     "sBIT\0sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt";
    png_set_keep_unknown_chunks(r->png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(r->png, PNG_HANDLE_CHUNK_NEVER, unused, (int)(sizeof unused / 5));
    return 0;
}

/* Open path (or, with buf, the len bytes there) and start reading it. */
static int rd_open(rd_state *r, const char *path, const void *buf, size_t len, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (buf) {
        r->mem = buf;
        r->mem_len = len;
    } else if (!(r->fp = ng_open_input(path, NG_MAX_IMAGE))) {
        ng_fail(err, errlen, "%s: %s", path, ng_strerror(errno));
        return -1;
    }
    return rd_start(r, path, err, errlen);
}

static void rd_close(rd_state *r)
{
    if (r->png)
        png_destroy_read_struct(&r->png, r->info ? &r->info : NULL, NULL);
    free(r->rows);
    free(r->pixels);
    if (r->fp)
        fclose(r->fp);
    memset(r, 0, sizeof *r);
}

/* The message of a failed read of path (r->eof: truncated; else r->msg). */
static void rd_fail(const rd_state *r, const char *path, char *err, size_t errlen)
{
    if (r->eof)
        ng_fail(err, errlen, "%s: truncated PNG file", path);
    else
        ng_fail(err, errlen, "%s: %s", path, r->msg);
}

/* After png_read_update_info: decode all rows of the h-row image into
 * r->pixels.  Called only from inside a setjmp-protected body. */
static int rd_rows(rd_state *r, int h, size_t want_rowbytes)
{
    size_t rowbytes = png_get_rowbytes(r->png, r->info);
    if (rowbytes != want_rowbytes) {
        snprintf(r->msg, sizeof r->msg, "unsupported pixel layout");
        return -1;
    }
    if (rowbytes && (size_t)h > SIZE_MAX / rowbytes) {
        snprintf(r->msg, sizeof r->msg, "image too large");
        return -1;
    }
    r->pixels = malloc(rowbytes * (size_t)h);
    r->rows = malloc(sizeof *r->rows * (size_t)h);
    if (!r->pixels || !r->rows) {
        snprintf(r->msg, sizeof r->msg, "out of memory");
        return -1;
    }
    for (int y = 0; y < h; y++)
        r->rows[y] = r->pixels + (size_t)y * rowbytes;
    png_read_image(r->png, r->rows);
    png_read_end(r->png, NULL);
    return 0;
}

static int check_size(rd_state *r, int h, int w)
{
    png_uint_32 pw = png_get_image_width(r->png, r->info);
    png_uint_32 ph = png_get_image_height(r->png, r->info);
    if (r->any_size) {
        if (pw == 0 || ph == 0 || pw > NR_IMAGE_MAX_SIDE || ph > NR_IMAGE_MAX_SIDE ||
            (uint64_t)pw * ph > NR_IMAGE_MAX_PIXELS) {
            snprintf(r->msg, sizeof r->msg, "%lux%lu pixels: too large (at most %d per side, %d in all)",
                     (unsigned long)pw, (unsigned long)ph, NR_IMAGE_MAX_SIDE, NR_IMAGE_MAX_PIXELS);
            return -1;
        }
        r->got_h = (int)ph, r->got_w = (int)pw;
        if (!(r->alloc = malloc((size_t)pw * ph * r->chans * r->elem_bytes))) {
            snprintf(r->msg, sizeof r->msg, "out of memory");
            return -1;
        }
        return 0;
    }
    if (pw != (png_uint_32)w || ph != (png_uint_32)h) {
        snprintf(r->msg, sizeof r->msg, "%lux%lu, the model expects %dx%d",
                 (unsigned long)pw, (unsigned long)ph, w, h);
        return -1;
    }
    return 0;
}

static int read_image_rest(rd_state *r, int c, int h, int w, float *out);

static int read_image_body(rd_state *r, int c, int h, int w, float *out)
{
    if (setjmp(png_jmpbuf(r->png)))
        return -1;
    png_read_info(r->png, r->info);
    if (check_size(r, h, w) < 0)
        return -1;
    return r->any_size ? read_image_rest(r, c, r->got_h, r->got_w, r->alloc) : read_image_rest(r, c, h, w, out);
}

/* The rest of read_image_body after the header (inside its setjmp). */
static int read_image_rest(rd_state *r, int c, int h, int w, float *out)
{
    int ctype = png_get_color_type(r->png, r->info);
    int depth = png_get_bit_depth(r->png, r->info);
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(r->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(r->png);
    png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);

    /* Whatever libpng now hands back: 1..4 channels of 8 or 16 bits. */
    int nch = png_get_channels(r->png, r->info);
    int bytes = png_get_bit_depth(r->png, r->info) == 16 ? 2 : 1;
    if (nch < 1 || nch > 4 || png_get_bit_depth(r->png, r->info) < 8) {
        snprintf(r->msg, sizeof r->msg, "unsupported pixel layout");
        return -1;
    }
    if (rd_rows(r, h, (size_t)w * (size_t)nch * (size_t)bytes) < 0)
        return -1;

    int color = nch >= 3;
    float full = bytes == 2 ? 65535.0f : 255.0f; /* divide: exact v/255 */
    size_t hw = (size_t)h * (size_t)w;
    for (int y = 0; y < h; y++) {
        const unsigned char *p = r->rows[y];
        for (int x = 0; x < w; x++, p += nch * bytes) {
            float v[3];
            for (int k = 0; k < (color ? 3 : 1); k++)
                v[k] = (bytes == 2 ? (float)(p[2 * k] << 8 | p[2 * k + 1])
                                   : (float)p[k]) / full;
            size_t o = (size_t)y * (size_t)w + (size_t)x;
            if (c == 1)
                out[o] = color ? 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2]
                               : v[0];
            else
                for (int k = 0; k < 3; k++)
                    out[(size_t)k * hw + o] = color ? v[k] : v[0];
        }
    }
    return 0;
}

/* nr_png_read_image from path, or from buf (len bytes) when buf is set. */
static int read_image(const char *path, const void *buf, size_t len, int c, int h, int w, float *out,
                      char *err, size_t errlen)
{
    if (c != 1 && c != 3) {
        ng_fail(err, errlen, "%s: cannot load %d channels (1 or 3 supported)",
                path, c);
        return -1;
    }
    if (h <= 0 || w <= 0) {
        ng_fail(err, errlen, "%s: bad requested size %dx%d", path, w, h);
        return -1;
    }
    rd_state r;
    if (rd_open(&r, path, buf, len, err, errlen) < 0) {
        rd_close(&r);
        return -1;
    }
    int rc = read_image_body(&r, c, h, w, out);
    if (rc < 0)
        rd_fail(&r, path, err, errlen);
    rd_close(&r);
    return rc;
}

int nr_png_read_image(const char *path, int c, int h, int w, float *out,
                      char *err, size_t errlen)
{
    return read_image(path, NULL, 0, c, h, w, out, err, errlen);
}

int nr_png_decode_image(const void *buf, size_t len, const char *name, int c, int h, int w, float *out,
                        char *err, size_t errlen)
{
    return read_image(name, buf ? buf : "", buf ? len : 0, c, h, w, out, err, errlen);
}

static int read_mask_rest(rd_state *r, int h, int w, int classes, int ignore, int32_t *out);

static int read_mask_body(rd_state *r, int h, int w, int classes, int ignore,
                          int32_t *out)
{
    if (setjmp(png_jmpbuf(r->png)))
        return -1;
    png_read_info(r->png, r->info);
    if (check_size(r, h, w) < 0)
        return -1;
    return r->any_size ? read_mask_rest(r, r->got_h, r->got_w, classes, ignore, r->alloc)
                       : read_mask_rest(r, h, w, classes, ignore, out);
}

/* The rest of read_mask_body after the header (inside its setjmp). */
static int read_mask_rest(rd_state *r, int h, int w, int classes, int ignore, int32_t *out)
{
    int ctype = png_get_color_type(r->png, r->info);
    int depth = png_get_bit_depth(r->png, r->info);
    if ((ctype != PNG_COLOR_TYPE_GRAY && ctype != PNG_COLOR_TYPE_PALETTE) ||
        depth > 8) {
        snprintf(r->msg, sizeof r->msg,
                 "%d-bit %s mask; masks must be 8-bit grayscale or palette PNGs "
                 "whose pixel value is the class index",
                 depth, color_type_name(ctype));
        return -1;
    }
    if (depth < 8)
        png_set_packing(r->png); /* one byte per pixel, value unchanged */
    png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);
    if (rd_rows(r, h, (size_t)w) < 0)
        return -1;

    for (int y = 0; y < h; y++) {
        const unsigned char *p = r->rows[y];
        for (int x = 0; x < w; x++) {
            int v = p[x];
            if (v >= classes && v != ignore) {
                snprintf(r->msg, sizeof r->msg,
                         "value %d out of range (%d classes) at pixel (%d,%d)",
                         v, classes, x, y);
                return -1;
            }
            out[(size_t)y * (size_t)w + (size_t)x] = v;
        }
    }
    return 0;
}

/* nr_png_read_mask from path, or from buf (len bytes) when buf is set. */
static int read_mask(const char *path, const void *buf, size_t len, int h, int w, int classes, int ignore,
                     int32_t *out, char *err, size_t errlen)
{
    if (h <= 0 || w <= 0 || classes <= 0) {
        ng_fail(err, errlen, "%s: bad requested size %dx%d or %d classes",
                path, w, h, classes);
        return -1;
    }
    rd_state r;
    if (rd_open(&r, path, buf, len, err, errlen) < 0) {
        rd_close(&r);
        return -1;
    }
    int rc = read_mask_body(&r, h, w, classes, ignore, out);
    if (rc < 0)
        rd_fail(&r, path, err, errlen);
    rd_close(&r);
    return rc;
}

int nr_png_read_mask(const char *path, int h, int w, int classes, int ignore,
                     int32_t *out, char *err, size_t errlen)
{
    return read_mask(path, NULL, 0, h, w, classes, ignore, out, err, errlen);
}

int nr_png_decode_mask(const void *buf, size_t len, const char *name, int h, int w, int classes, int ignore,
                       int32_t *out, char *err, size_t errlen)
{
    return read_mask(name, buf ? buf : "", buf ? len : 0, h, w, classes, ignore, out, err, errlen);
}

/* ---- any size ---------------------------------------------------------- */

/* rd_open, then the body with the file's size; on success *out (allocated)
 * and its size. */
static int load_any(const char *path, const void *buf, size_t len, int is_mask, int c, int classes, int ignore,
                    int *h, int *w, void **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!is_mask && c != 1 && c != 3)
        return ng_fail(err, errlen, "%s: cannot load %d channels (1 or 3 supported)", path, c);
    if (is_mask && classes <= 0)
        return ng_fail(err, errlen, "%s: bad number of classes %d", path, classes);
    rd_state r;
    if (rd_open(&r, path, buf, len, err, errlen) < 0) {
        rd_close(&r);
        return -1;
    }
    r.any_size = 1;
    r.chans = is_mask ? 1 : (size_t)c;
    r.elem_bytes = is_mask ? sizeof(int32_t) : sizeof(float);
    int rc = is_mask ? read_mask_body(&r, 1, 1, classes, ignore, NULL) : read_image_body(&r, c, 1, 1, NULL);
    if (rc < 0) {
        rd_fail(&r, path, err, errlen);
        free(r.alloc);
    } else {
        *out = r.alloc, *h = r.got_h, *w = r.got_w;
    }
    rd_close(&r);
    return rc;
}

int nr_png_load_image(const char *path, const void *buf, size_t len, int c, int *h, int *w, float **out,
                      char *err, size_t errlen)
{
    return load_any(path, buf, len, 0, c, 0, 0, h, w, (void **)out, err, errlen);
}

int nr_png_load_mask(const char *path, const void *buf, size_t len, int classes, int ignore, int *h, int *w,
                     int32_t **out, char *err, size_t errlen)
{
    return load_any(path, buf, len, 1, 0, classes, ignore, h, w, (void **)out, err, errlen);
}

/* ---- the palette ------------------------------------------------------- */

static int read_palette_body(rd_state *r, uint8_t rgb[256][3], int *n)
{
    if (setjmp(png_jmpbuf(r->png)))
        return -1;
    png_read_info(r->png, r->info);
    png_colorp plte;
    int k;
    if (png_get_color_type(r->png, r->info) == PNG_COLOR_TYPE_PALETTE &&
        png_get_PLTE(r->png, r->info, &plte, &k) == PNG_INFO_PLTE) {
        for (int i = 0; i < k && i < 256; i++) {
            rgb[i][0] = plte[i].red;
            rgb[i][1] = plte[i].green;
            rgb[i][2] = plte[i].blue;
        }
        *n = k < 256 ? k : 256;
    }
    return 0;
}

int nr_png_read_palette(const char *path, uint8_t rgb[256][3], int *n, char *err, size_t errlen)
{
    *n = 0;
    rd_state r;
    if (rd_open(&r, path, NULL, 0, err, errlen) < 0) {
        rd_close(&r);
        return -1;
    }
    int rc = read_palette_body(&r, rgb, n);
    if (rc < 0)
        rd_fail(&r, path, err, errlen);
    rd_close(&r);
    return rc;
}

/* ---- writing ----------------------------------------------------------- */

typedef struct {
    png_structp png;
    png_infop info;
    ng_buf out;         /* the PNG so far (out.oom: it could not grow) */
    char msg[256];      /* libpng's reason */
} wr_state;

static void wr_error(png_structp png, png_const_charp msg)
{
    wr_state *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void wr_write(png_structp png, png_bytep data, size_t n)
{
    wr_state *s = png_get_io_ptr(png);
    if (ng_buf_put(&s->out, data, n) != 0)
        png_error(png, "out of memory");
}

static void wr_flush(png_structp png)
{
    (void)png;
}

/* Encode px as 8 bits a sample: (H,W) gray or palette (the VOC colours),
 * or (H,W,3) RGB, by ctype. */
static int write_body(wr_state *s, int h, int w, const uint8_t *px, int ctype)
{
    if (setjmp(png_jmpbuf(s->png)))
        return -1;
    png_set_write_fn(s->png, s, wr_write, wr_flush);
    png_set_IHDR(s->png, s->info, (png_uint_32)w, (png_uint_32)h, 8, ctype,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        for (int i = 0; i < 256; i++) {
            uint8_t rgb[3];
            nr_png_voc_color(i, rgb);
            pal[i].red = rgb[0], pal[i].green = rgb[1], pal[i].blue = rgb[2];
        }
        png_set_PLTE(s->png, s->info, pal, 256);
    }
    png_write_info(s->png, s->info);
    size_t rowbytes = (size_t)w * (ctype == PNG_COLOR_TYPE_RGB ? 3 : 1);
    for (int y = 0; y < h; y++)
        png_write_row(s->png, px + (size_t)y * rowbytes);
    png_write_end(s->png, s->info);
    return 0;
}

/* The PNG of write_body in s->out (the caller frees out.b); 0, or -1 with
 * the reason in s->msg (out.oom: out of memory). */
static int encode(wr_state *s, int h, int w, const uint8_t *px, int ctype)
{
    memset(s, 0, sizeof *s);
    int rc = -1;
    s->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, wr_error, NULL);
    if (s->png)
        s->info = png_create_info_struct(s->png);
    if (!s->png || !s->info)
        snprintf(s->msg, sizeof s->msg, "out of memory");
    else if (write_body(s, h, w, px, ctype) == 0)
        rc = 0;
    if (s->png)
        png_destroy_write_struct(&s->png, s->info ? &s->info : NULL);
    if (rc < 0) {
        free(s->out.b);
        s->out.b = NULL;
    }
    return rc;
}

/* Written atomically (util.h), not durably: predicted masks and overlays
 * are cheap to regenerate; the rename alone keeps readers from ever seeing
 * a half-written file. */
static int write_png8(const char *path, int h, int w, const uint8_t *px,
                      int ctype, char *err, size_t errlen)
{
    if (h <= 0 || w <= 0)
        return ng_fail(err, errlen, "%s: bad size %dx%d", path, w, h);
    wr_state s;
    if (encode(&s, h, w, px, ctype) != 0)
        return ng_fail(err, errlen, "%s: %s", path, s.msg);
    int rc = ng_atomic_write(path, s.out.b, s.out.len, 0, err, errlen);
    free(s.out.b);
    return rc;
}

int nr_png_write_mask(const char *path, int h, int w, const uint8_t *classes,
                      char *err, size_t errlen)
{
    return write_png8(path, h, w, classes, PNG_COLOR_TYPE_PALETTE, err, errlen);
}

int nr_png_write_gray8(const char *path, int h, int w, const uint8_t *px,
                       char *err, size_t errlen)
{
    return write_png8(path, h, w, px, PNG_COLOR_TYPE_GRAY, err, errlen);
}

int nr_png_write_rgb8(const char *path, int h, int w, const uint8_t *rgb,
                      char *err, size_t errlen)
{
    return write_png8(path, h, w, rgb, PNG_COLOR_TYPE_RGB, err, errlen);
}

int nr_png_encode_rgb8(int h, int w, const uint8_t *rgb, unsigned char **out, size_t *len, char *err,
                       size_t errlen)
{
    *out = NULL;
    *len = 0;
    if (h <= 0 || w <= 0)
        return ng_fail(err, errlen, "cannot encode a %dx%d PNG", w, h);
    wr_state s;
    if (encode(&s, h, w, rgb, PNG_COLOR_TYPE_RGB) != 0)
        return s.out.oom ? ng_fail(err, errlen, "out of memory")
                         : ng_fail(err, errlen, "cannot encode PNG (%s)", s.msg);
    *out = s.out.b;
    *len = s.out.len;
    return 0;
}
