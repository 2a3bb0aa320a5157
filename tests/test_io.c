/* test_io.c — checks of the runtime's I/O layer: PNG images and masks,
 * datasets, the batcher, and safetensors (including corrupt files).  Works in
 * a fresh mkdtemp folder; prints "ok - name" or "FAIL - name: detail" per
 * check and exits nonzero if any check failed. */
#define _POSIX_C_SOURCE 200809L
#include "batcher.h"
#include "layout.h"
#include "png.h"
#include "netg.h" /* ng_crc32 */
#include "safetensors.h"

#include "libpng.h" /* libpng's png.h */

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "util.h"

static char err[1024];

static int write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(buf, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static int has(const char *s, const char *sub)
{
    return strstr(s, sub) != NULL;
}

/* ---- PNG fixtures written with libpng directly ---------------------------- */

static void die_png(png_structp png, png_const_charp msg)
{
    fprintf(stderr, "test fixture: libpng: %s\n", msg);
    png_longjmp(png, 1);
}

/* Write a PNG of w x h with the given colour type and bit depth; rows are
 * packed as libpng expects (16-bit big-endian).  pal: n_pal RGB triplets. */
static int fixture_png(const char *path, int w, int h, int ctype, int depth,
                       const unsigned char *px, const unsigned char *pal,
                       int n_pal)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              die_png, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_color c[256];
        for (int i = 0; i < n_pal; i++)
            c[i].red = pal[3 * i], c[i].green = pal[3 * i + 1],
            c[i].blue = pal[3 * i + 2];
        png_set_PLTE(png, info, c, n_pal);
    }
    png_write_info(png, info);
    int ch = ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_PALETTE ? 1
             : ctype == PNG_COLOR_TYPE_GRAY_ALPHA                         ? 2
             : ctype == PNG_COLOR_TYPE_RGB                                ? 3
                                                                          : 4;
    size_t rowbytes = ((size_t)w * (size_t)ch * (size_t)depth + 7) / 8;
    for (int y = 0; y < h; y++)
        png_write_row(png, px + (size_t)y * rowbytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return fclose(f);
}

static float maxdiff(const float *a, const float *b, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

/* ---- PNG tests ------------------------------------------------------------ */

static void test_png_images(void)
{
    enum { W = 7, H = 5 };
    unsigned char px[H * W * 8];
    float want[3 * H * W], got[3 * H * W];

    /* 8-bit gray, read as 1 and as 3 channels */
    for (int i = 0; i < H * W; i++)
        px[i] = (unsigned char)(i * 37 % 256), want[i] = (float)px[i] / 255.0f;
    fixture_png(P("g8.png"), W, H, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
    int rc = nr_png_read_image(P("g8.png"), 1, H, W, got, err, sizeof err);
    check(rc == 0 && maxdiff(got, want, H * W) < 1e-7f, "image gray8 c=1",
          "rc %d %s", rc, err);
    rc = nr_png_read_image(P("g8.png"), 3, H, W, got, err, sizeof err);
    check(rc == 0 && maxdiff(got, want, H * W) < 1e-7f &&
              maxdiff(got + H * W, want, H * W) < 1e-7f &&
              maxdiff(got + 2 * H * W, want, H * W) < 1e-7f,
          "image gray8 c=3 replicates", "rc %d %s", rc, err);

    /* 16-bit gray */
    for (int i = 0; i < H * W; i++) {
        unsigned v = (unsigned)(i * 2593 + 977) & 0xffff;
        px[2 * i] = (unsigned char)(v >> 8), px[2 * i + 1] = (unsigned char)v;
        want[i] = (float)v / 65535.0f;
    }
    fixture_png(P("g16.png"), W, H, PNG_COLOR_TYPE_GRAY, 16, px, NULL, 0);
    rc = nr_png_read_image(P("g16.png"), 1, H, W, got, err, sizeof err);
    check(rc == 0 && maxdiff(got, want, H * W) < 1e-7f, "image gray16 c=1",
          "rc %d %s maxdiff %g", rc, err, (double)maxdiff(got, want, H * W));

    /* 8-bit RGB as 3 channels and as luma */
    float luma[H * W];
    for (int i = 0; i < H * W; i++) {
        for (int k = 0; k < 3; k++) {
            px[3 * i + k] = (unsigned char)((i * 31 + k * 80) % 256);
            want[k * H * W + i] = (float)px[3 * i + k] / 255.0f;
        }
        luma[i] = 0.299f * want[i] + 0.587f * want[H * W + i] +
                  0.114f * want[2 * H * W + i];
    }
    fixture_png(P("rgb.png"), W, H, PNG_COLOR_TYPE_RGB, 8, px, NULL, 0);
    rc = nr_png_read_image(P("rgb.png"), 3, H, W, got, err, sizeof err);
    check(rc == 0 && maxdiff(got, want, 3 * H * W) < 1e-7f, "image rgb8 c=3",
          "rc %d %s", rc, err);
    rc = nr_png_read_image(P("rgb.png"), 1, H, W, got, err, sizeof err);
    check(rc == 0 && maxdiff(got, luma, H * W) < 1e-6f, "image rgb8 c=1 luma",
          "rc %d %s", rc, err);

    /* RGBA 16-bit: alpha dropped */
    for (int i = 0; i < H * W; i++)
        for (int k = 0; k < 4; k++) {
            unsigned v = (unsigned)(i * 1000 + k * 20000 + 7) & 0xffff;
            px[8 * i + 2 * k] = (unsigned char)(v >> 8);
            px[8 * i + 2 * k + 1] = (unsigned char)v;
            if (k < 3)
                want[k * H * W + i] = (float)v / 65535.0f;
        }
    fixture_png(P("rgba16.png"), W, H, PNG_COLOR_TYPE_RGB_ALPHA, 16, px, NULL, 0);
    rc = nr_png_read_image(P("rgba16.png"), 3, H, W, got, err, sizeof err);
    check(rc == 0 && maxdiff(got, want, 3 * H * W) < 1e-7f,
          "image rgba16 c=3 drops alpha", "rc %d %s", rc, err);

    /* palette: expanded to the palette colours */
    unsigned char pal[3 * 4] = {0, 0, 0, 255, 0, 0, 0, 255, 0, 10, 20, 30};
    for (int i = 0; i < H * W; i++) {
        px[i] = (unsigned char)(i % 4);
        for (int k = 0; k < 3; k++)
            want[k * H * W + i] = (float)pal[3 * (i % 4) + k] / 255.0f;
    }
    fixture_png(P("pal.png"), W, H, PNG_COLOR_TYPE_PALETTE, 8, px, pal, 4);
    rc = nr_png_read_image(P("pal.png"), 3, H, W, got, err, sizeof err);
    check(rc == 0 && maxdiff(got, want, 3 * H * W) < 1e-7f,
          "image palette expands to RGB", "rc %d %s", rc, err);

    rc = nr_png_read_image(P("g8.png"), 2, H, W, got, err, sizeof err);
    check(rc < 0 && has(err, "2 channels"), "image c=2 is an error", "%s", err);
}

static void test_png_errors(void)
{
    float *img = malloc(sizeof *img * 3 * 256 * 256);
    char want[600];

    /* wrong size */
    unsigned char *px = calloc(128 * 96 * 3, 1);
    fixture_png(P("small.png"), 128, 96, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
    int rc = nr_png_read_image(P("small.png"), 1, 256, 256, img, err, sizeof err);
    snprintf(want, sizeof want, "%s: 128x96, the model expects 256x256",
             P("small.png"));
    check(rc < 0 && !strcmp(err, want), "wrong size message", "got '%s'", err);

    /* a real image with a sizeable IDAT, then truncated at several places */
    for (int i = 0; i < 128 * 96; i++)
        px[i] = (unsigned char)((i * 2654435761u) >> 24);
    fixture_png(P("noise.png"), 128, 96, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
    size_t n;
    unsigned char *full = ng_read_file(P("noise.png"), &n);
    size_t cuts[] = {n / 2, 8, 16, 33, 40, n - 13, n - 1};
    int all_clean = 1;
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        write_bytes(P("trunc.png"), full, cuts[k]);
        rc = nr_png_read_image(P("trunc.png"), 1, 96, 128, img, err, sizeof err);
        snprintf(want, sizeof want, "%s: truncated PNG file", P("trunc.png"));
        if (rc == 0 || strcmp(err, want) != 0) {
            check(0, "truncated PNG", "cut at %zu of %zu: rc %d '%s'", cuts[k],
                  n, rc, err);
            all_clean = 0;
        }
    }
    if (all_clean)
        check(1, "truncated PNG at 7 lengths -> 'truncated PNG file'", "");

    /* a flipped byte in the image data: CRC error, not a crash */
    full[n / 2] ^= 0x55;
    write_bytes(P("crc.png"), full, n);
    rc = nr_png_read_image(P("crc.png"), 1, 96, 128, img, err, sizeof err);
    check(rc < 0 && has(err, P("crc.png")) && has(err, "corrupt PNG"),
          "corrupt PNG (bad CRC)", "rc %d '%s'", rc, err);
    free(full);

    write_bytes(P("text.png"), "hello, this is not an image\n", 28);
    rc = nr_png_read_image(P("text.png"), 1, 96, 128, img, err, sizeof err);
    snprintf(want, sizeof want, "%s: not a PNG file", P("text.png"));
    check(rc < 0 && !strcmp(err, want), "non-PNG file", "got '%s'", err);
    write_bytes(P("empty.png"), "", 0);
    rc = nr_png_read_mask(P("empty.png"), 96, 128, 32, 255, (int32_t *)img, err,
                          sizeof err);
    snprintf(want, sizeof want, "%s: not a PNG file (empty)", P("empty.png"));
    check(rc < 0 && !strcmp(err, want), "empty file", "got '%s'", err);
    rc = nr_png_read_image(P("nope.png"), 1, 96, 128, img, err, sizeof err);
    snprintf(want, sizeof want, "%s: %s", P("nope.png"), strerror(ENOENT));
    check(rc < 0 && !strcmp(err, want), "missing file", "got '%s'", err);

    /* writing into a folder that does not exist, or over a folder */
    rc = nr_png_write_gray8(P("no/such/dir/x.png"), 96, 128, px, err, sizeof err);
    check(rc < 0 && has(err, "no/such/dir/x.png"), "write into missing folder",
          "rc %d '%s'", rc, err);
    mkdirs(P("adir.png"));
    rc = nr_png_write_mask(P("adir.png"), 96, 128, px, err, sizeof err);
    check(rc < 0 && has(err, "adir.png: cannot write: a folder, not a regular file") && !tmp_left(P("adir.png")),
          "write over a folder fails, no tmp", "rc %d '%s'", rc, err);
    free(px);
    free(img);
}

/* A PNG chunk at at: big-endian length claim (len bytes of data follow), type, data, CRC. */
static size_t put_chunk(unsigned char *at, const char *type, const void *data, uint32_t len, uint32_t claim)
{
    unsigned char *p = at;
    for (int k = 3; k >= 0; k--)
        *p++ = (unsigned char)(claim >> (8 * k));
    memcpy(p, type, 4);
    if (len)
        memcpy(p + 4, data, len);
    uint32_t crc = ng_crc32(p, len + 4); /* the CRC-32 of PNG too */
    p += 4 + len;
    for (int k = 3; k >= 0; k--)
        *p++ = (unsigned char)(crc >> (8 * k));
    return (size_t)(p - at);
}

/* The in-memory readers (the fuzz targets' entry points) agree with the file
 * readers; found by fuzzing: a PNG whose text chunk claims 2 GiB made libpng
 * allocate 2 GiB before finding the file too short (ancillary chunks that
 * nothing here uses are now skipped unread). */
static void test_png_memory(void)
{
    unsigned char px[6 * 4];
    for (int i = 0; i < 24; i++)
        px[i] = (unsigned char)(i % 3);
    fixture_png(P("mem.png"), 6, 4, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
    size_t n;
    unsigned char *bytes = ng_read_file(P("mem.png"), &n);
    float a[24], b[24];
    int32_t ma[24], mb[24];
    int rc = nr_png_read_image(P("mem.png"), 1, 4, 6, a, err, sizeof err) |
             nr_png_decode_image(bytes, n, "m.png", 1, 4, 6, b, err, sizeof err) |
             nr_png_read_mask(P("mem.png"), 4, 6, 3, 255, ma, err, sizeof err) |
             nr_png_decode_mask(bytes, n, "m.png", 4, 6, 3, 255, mb, err, sizeof err);
    check(rc == 0 && !memcmp(a, b, sizeof a) && !memcmp(ma, mb, sizeof ma),
          "PNG from memory reads as from its file", "rc %d '%s'", rc, err);
    rc = nr_png_decode_mask(bytes, n / 2, "m.png", 4, 6, 3, 255, mb, err, sizeof err);
    check(rc < 0 && !strcmp(err, "m.png: truncated PNG file"), "PNG in memory, truncated",
          "rc %d '%s'", rc, err);
    rc = nr_png_decode_image(NULL, 0, "m.png", 1, 4, 6, b, err, sizeof err);
    check(rc < 0 && !strcmp(err, "m.png: not a PNG file (empty)"), "PNG in memory, empty", "'%s'", err);
    free(bytes);

    /* signature, IHDR, then a tEXt chunk that says 0x7e000000 bytes follow */
    unsigned char f[128];
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char ihdr[13] = {0, 0, 0, 8, 0, 0, 0, 8, 8, 0, 0, 0, 0};
    memcpy(f, sig, 8);
    size_t len = 8 + put_chunk(f + 8, "IHDR", ihdr, 13, 13);
    len += put_chunk(f + len, "tEXt", "Comment\0x", 9, 0x7e000000u);
    float img[64];
    rc = nr_png_decode_image(f, len, "huge_text.png", 1, 8, 8, img, err, sizeof err);
    check(rc < 0 && !strcmp(err, "huge_text.png: truncated PNG file"),
          "a 2 GiB text chunk in a short file: truncated", "rc %d '%s'", rc, err);
}

static void test_png_masks(void)
{
    enum { W = 9, H = 6 };
    unsigned char px[H * W * 3];
    int32_t got[H * W], want[H * W];
    char want_msg[600];

    for (int i = 0; i < H * W; i++)
        px[i] = (unsigned char)(i % 7 == 3 ? 255 : i % 32), want[i] = px[i];
    fixture_png(P("mg.png"), W, H, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
    int rc = nr_png_read_mask(P("mg.png"), H, W, 32, 255, got, err, sizeof err);
    check(rc == 0 && !memcmp(got, want, sizeof got), "mask gray8 with ignore",
          "rc %d %s", rc, err);

    /* palette: the index is the class whatever the colour */
    unsigned char pal[256 * 3];
    for (int i = 0; i < 256; i++)
        pal[3 * i] = (unsigned char)(255 - i), pal[3 * i + 1] = 7,
                pal[3 * i + 2] = (unsigned char)i;
    fixture_png(P("mp.png"), W, H, PNG_COLOR_TYPE_PALETTE, 8, px, pal, 256);
    rc = nr_png_read_mask(P("mp.png"), H, W, 32, 255, got, err, sizeof err);
    check(rc == 0 && !memcmp(got, want, sizeof got), "mask palette8 indices",
          "rc %d %s", rc, err);

    /* 4-bit palette: two pixels per byte */
    unsigned char packed[H * ((W + 1) / 2)];
    memset(packed, 0, sizeof packed);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int v = (x + 2 * y) % 16;
            packed[y * ((W + 1) / 2) + x / 2] |= (unsigned char)(x % 2 ? v : v << 4);
            want[y * W + x] = v;
        }
    fixture_png(P("mp4.png"), W, H, PNG_COLOR_TYPE_PALETTE, 4, packed, pal, 16);
    rc = nr_png_read_mask(P("mp4.png"), H, W, 16, 255, got, err, sizeof err);
    check(rc == 0 && !memcmp(got, want, sizeof got), "mask palette4 indices",
          "rc %d %s", rc, err);

    /* out of range: 40 first at (3,2), then 50 later */
    memset(px, 1, sizeof px);
    px[2 * W + 3] = 40, px[4 * W + 1] = 50;
    fixture_png(P("img_007.png"), W, H, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
    rc = nr_png_read_mask(P("img_007.png"), H, W, 32, 255, got, err, sizeof err);
    snprintf(want_msg, sizeof want_msg,
             "%s: value 40 out of range (32 classes) at pixel (3,2)",
             P("img_007.png"));
    check(rc < 0 && !strcmp(err, want_msg), "mask out-of-range message",
          "got '%s'", err);

    fixture_png(P("mrgb.png"), W, H, PNG_COLOR_TYPE_RGB, 8, px, NULL, 0);
    rc = nr_png_read_mask(P("mrgb.png"), H, W, 32, 255, got, err, sizeof err);
    snprintf(want_msg, sizeof want_msg,
             "%s: 8-bit RGB mask; masks must be 8-bit grayscale or palette PNGs "
             "whose pixel value is the class index", P("mrgb.png"));
    check(rc < 0 && !strcmp(err, want_msg), "RGB mask rejected", "got '%s'", err);
    fixture_png(P("m16.png"), W, H, PNG_COLOR_TYPE_GRAY, 16, px, NULL, 0);
    rc = nr_png_read_mask(P("m16.png"), H, W, 32, 255, got, err, sizeof err);
    check(rc < 0 && has(err, "16-bit gray mask; masks must be"),
          "16-bit mask rejected", "got '%s'", err);

    /* our writer: VOC palette, read back by libpng and by us */
    uint8_t cls[H * W];
    for (int i = 0; i < H * W; i++)
        cls[i] = (uint8_t)(i % 5 == 4 ? 255 : i % 21), want[i] = cls[i];
    rc = nr_png_write_mask(P("out/pred.png"), H, W, cls, err, sizeof err);
    check(rc < 0, "write_mask into a missing folder fails", "rc %d", rc);
    mkdirs(P("out"));
    rc = nr_png_write_mask(P("out/pred.png"), H, W, cls, err, sizeof err);
    check(rc == 0, "write_mask", "%s", err);
    rc = nr_png_read_mask(P("out/pred.png"), H, W, 21, 255, got, err, sizeof err);
    check(rc == 0 && !memcmp(got, want, sizeof got), "write_mask round trip",
          "rc %d %s", rc, err);
    FILE *f = fopen(P("out/pred.png"), "rb");
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_colorp plte = NULL;
    int n_pal = 0, ok = 0;
    if (f && !setjmp(png_jmpbuf(png))) {
        png_init_io(png, f);
        png_read_info(png, info);
        png_get_PLTE(png, info, &plte, &n_pal);
        ok = png_get_color_type(png, info) == PNG_COLOR_TYPE_PALETTE &&
             png_get_bit_depth(png, info) == 8 && n_pal == 256 &&
             plte[0].red == 0 && plte[0].green == 0 && plte[0].blue == 0 &&
             plte[1].red == 128 && plte[1].green == 0 && plte[1].blue == 0 &&
             plte[2].red == 0 && plte[2].green == 128 && plte[2].blue == 0 &&
             plte[3].red == 128 && plte[3].green == 128 && plte[3].blue == 0 &&
             plte[15].red == 192 && plte[15].green == 128 && plte[15].blue == 128 &&
             plte[255].red == 224 && plte[255].green == 224 && plte[255].blue == 192;
    }
    png_destroy_read_struct(&png, &info, NULL);
    if (f)
        fclose(f);
    check(ok, "write_mask VOC palette", "n_pal %d", n_pal);
    check(!tmp_left(P("out/pred.png")), "write_mask leaves no tmp file", "%s", P("out/pred.png"));
}

/* ---- datasets --------------------------------------------------------------- */

/* A gray image filled with v and a gray mask filled with m, h x w. */
static void put_pair(const char *img_path, const char *mask_path, int h, int w,
                     int v, int m)
{
    unsigned char *px = malloc((size_t)h * (size_t)w);
    memset(px, v, (size_t)h * (size_t)w);
    if (img_path)
        fixture_png(img_path, w, h, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
    memset(px, m, (size_t)h * (size_t)w);
    if (mask_path)
        fixture_png(mask_path, w, h, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
    free(px);
}

static void test_dataset(void)
{
    char want[600];
    mkdirs(P("ds/images"));
    mkdirs(P("ds/masks"));
    const int order[] = {2, 0, 1}; /* sample img_K has mask value K */
    for (int i = 0; i < 3; i++)
        put_pair(P("ds/images/img_%d.png", order[i]),
                 order[i] == 0 ? NULL : P("ds/masks/img_%d.png", order[i]), 4,
                 6, 10 * order[i], order[i]);
    write_bytes(P("ds/images/notes.txt"), "x", 1);
    write_bytes(P("ds/images/.hidden.png"), "x", 1);

    nr_dataset *ds = nr_dataset_open(P("ds"), 1, err, sizeof err);
    snprintf(want, sizeof want, "%s/masks/img_0.png: missing (the mask of "
             "images/img_0.png)", P("ds"));
    check(!ds && !strcmp(err, want), "dataset: missing mask named", "got '%s'",
          err);
    nr_dataset_free(ds);

    put_pair(NULL, P("ds/masks/img_0.png"), 4, 6, 0, 0);
    put_pair(NULL, P("ds/masks/zz.png"), 4, 6, 0, 0);
    ds = nr_dataset_open(P("ds"), 1, err, sizeof err);
    snprintf(want, sizeof want,
             "%s/masks/zz.png: no image of that name in %s/images", P("ds"),
             P("ds"));
    check(!ds && !strcmp(err, want), "dataset: mask without image named",
          "got '%s'", err);
    unlink(P("ds/masks/zz.png"));

    ds = nr_dataset_open(P("ds"), 1, err, sizeof err);
    int ok = ds && nr_dataset_count(ds) == 3 &&
             !strcmp(nr_dataset_name(ds, 0), "img_0.png") &&
             !strcmp(nr_dataset_name(ds, 2), "img_2.png") &&
             !strcmp(nr_dataset_image_path(ds, 1), P("ds/images/img_1.png")) &&
             !strcmp(nr_dataset_mask_path(ds, 1), P("ds/masks/img_1.png")) &&
             !nr_dataset_name(ds, 3);
    check(ok, "dataset: sorted, non-PNG and hidden files skipped", "%s",
          ds ? "" : err);

    /* class counts: the masks are constant 0, 1, 2 */
    int64_t counts[4];
    int rc = ds ? nr_dataset_class_counts(ds, 4, 6, 4, 255, counts, err,
                                          sizeof err) : -1;
    check(rc == 0 && counts[0] == 24 && counts[1] == 24 && counts[2] == 24 &&
              counts[3] == 0,
          "class counts", "rc %d %s", rc, err);
    put_pair(NULL, P("ds/masks/img_1.png"), 4, 6, 0, 255);
    rc = ds ? nr_dataset_class_counts(ds, 4, 6, 4, 255, counts, err,
                                      sizeof err) : -1;
    check(rc == 0 && counts[0] == 24 && counts[1] == 0 && counts[2] == 24,
          "class counts skip ignored pixels", "rc %d %s", rc, err);
    rc = ds ? nr_dataset_class_counts(ds, 5, 6, 4, 255, counts, err,
                                      sizeof err) : -1;
    check(rc < 0 && has(err, "6x4, the model expects 6x5"),
          "class counts: size error", "%s", err);
    nr_dataset_free(ds);

    /* more than five missing masks */
    mkdirs(P("ds2/images"));
    mkdirs(P("ds2/masks"));
    for (int i = 0; i < 8; i++)
        put_pair(P("ds2/images/a%d.png", i), NULL, 2, 2, 0, 0);
    ds = nr_dataset_open(P("ds2"), 1, err, sizeof err);
    snprintf(want, sizeof want, "%s/masks: 8 masks missing: a0.png, a1.png, "
             "a2.png, a3.png, a4.png and 3 more", P("ds2"));
    check(!ds && !strcmp(err, want), "dataset: many missing masks", "got '%s'",
          err);
    /* without masks the same folder is fine */
    ds = nr_dataset_open(P("ds2"), 0, err, sizeof err);
    check(ds && nr_dataset_count(ds) == 8 && !nr_dataset_mask_path(ds, 0),
          "dataset without masks", "%s", err);
    nr_dataset_free(ds);

    /* predict: a bare folder of PNGs, or one file */
    mkdirs(P("bare"));
    put_pair(P("bare/b.png"), P("bare/a.png"), 2, 2, 0, 0);
    ds = nr_dataset_open(P("bare"), 0, err, sizeof err);
    check(ds && nr_dataset_count(ds) == 2 && !strcmp(nr_dataset_name(ds, 0), "a.png"),
          "dataset: bare folder for predict", "%s", err);
    nr_dataset_free(ds);
    ds = nr_dataset_open(P("bare/b.png"), 0, err, sizeof err);
    check(ds && nr_dataset_count(ds) == 1 && !strcmp(nr_dataset_name(ds, 0), "b.png") &&
              !strcmp(nr_dataset_image_path(ds, 0), P("bare/b.png")),
          "dataset: single file for predict", "%s", err);
    nr_dataset_free(ds);
    ds = nr_dataset_open(P("bare"), 1, err, sizeof err);
    check(!ds && has(err, "no images folder"), "dataset: bare folder needs masks",
          "%s", err);
    mkdirs(P("empty/images"));
    ds = nr_dataset_open(P("empty"), 0, err, sizeof err);
    snprintf(want, sizeof want, "%s: no PNG or JPEG files", P("empty/images"));
    check(!ds && !strcmp(err, want), "dataset: empty folder", "got '%s'", err);
    ds = nr_dataset_open(P("missing"), 0, err, sizeof err);
    check(!ds && has(err, strerror(ENOENT)), "dataset: missing folder", "%s", err);
}

/* ---- batcher ---------------------------------------------------------------- */

static void test_batcher(void)
{
    enum { N = 6, B = 4, H = 3, W = 5 };
    mkdirs(P("bd/images"));
    mkdirs(P("bd/masks"));
    for (int i = 0; i < N; i++)
        put_pair(P("bd/images/s%d.png", i), P("bd/masks/s%d.png", i), H, W,
                 10 * (i + 1), i);
    nr_dataset *ds = nr_dataset_open(P("bd"), 1, err, sizeof err);
    nr_batcher *b = ds ? nr_batcher_new(ds, B, 1, H, W, 8, 255, 1, err, sizeof err)
                       : NULL;
    if (!check(b != NULL, "batcher_new", "%s", err)) {
        nr_dataset_free(ds);
        return;
    }
    int first[B] = {5, 0, 3, 1}, second[2] = {2, 4};
    float *img;
    int32_t *mask;
    int n;
    int s1 = nr_batcher_submit(b, first, B), s2 = nr_batcher_submit(b, second, 2);
    int s3 = nr_batcher_submit(b, second, 2);
    check(s1 == 0 && s2 == 0 && s3 < 0, "batcher: at most 2 batches in flight",
          "%d %d %d", s1, s2, s3);
    int rc = nr_batcher_wait(b, &img, &mask, &n, err, sizeof err);
    int ok = rc == 0 && n == B;
    for (int j = 0; ok && j < B; j++)
        for (int p = 0; p < H * W; p++)
            ok &= fabsf(img[j * H * W + p] - 10.0f * (float)(first[j] + 1) / 255.0f) < 1e-6f &&
                  mask[j * H * W + p] == first[j];
    check(ok, "batcher: first batch in order", "rc %d n %d %s", rc, n, err);
    rc = nr_batcher_wait(b, &img, &mask, &n, err, sizeof err);
    ok = rc == 0 && n == 2;
    for (int j = 0; ok && j < B; j++)
        for (int p = 0; p < H * W; p++)
            ok &= j < 2 ? fabsf(img[j * H * W + p] - 10.0f * (float)(second[j] + 1) / 255.0f) < 1e-6f &&
                              mask[j * H * W + p] == second[j]
                        : img[j * H * W + p] == 0.0f && mask[j * H * W + p] == 255;
    check(ok, "batcher: short batch padded (zeros, ignore)", "rc %d n %d %s", rc,
          n, err);
    rc = nr_batcher_wait(b, &img, &mask, &n, err, sizeof err);
    check(rc < 0, "batcher: wait with nothing submitted", "rc %d", rc);

    /* a bad index and a bad file surface at wait; later batches still work */
    int bad[2] = {1, 9};
    nr_batcher_submit(b, bad, 2);
    rc = nr_batcher_wait(b, &img, &mask, &n, err, sizeof err);
    check(rc < 0 && has(err, "sample 9 out of range"), "batcher: bad index",
          "rc %d '%s'", rc, err);
    write_bytes(P("bd/masks/s3.png"), "junk", 4);
    int three[1] = {3};
    nr_batcher_submit(b, three, 1);
    nr_batcher_submit(b, first, 2);
    rc = nr_batcher_wait(b, &img, &mask, &n, err, sizeof err);
    check(rc < 0 && has(err, "s3.png: not a PNG file"),
          "batcher: load error names the file", "'%s'", err);
    rc = nr_batcher_wait(b, &img, &mask, &n, err, sizeof err);
    check(rc == 0 && n == 2 && mask[0] == 5, "batcher: recovers after an error",
          "rc %d %s", rc, err);
    /* free with batches in flight */
    nr_batcher_submit(b, first, B);
    nr_batcher_submit(b, first, B);
    nr_batcher_free(b);
    check(1, "batcher: free with batches in flight", "");
    nr_batcher_free(NULL);
    nr_dataset_free(ds);
}

/* Images whose pixel value encodes the mask: augmentation must keep them
 * aligned, permute pixels, depend only on the seed, and vary per sample. */
static void test_augment_case(int h, int w, const char *label)
{
    enum { N = 16, C = 250 };
    char dir[64];
    snprintf(dir, sizeof dir, "aug%dx%d", h, w);
    mkdirs(P("%s/images", dir));
    mkdirs(P("%s/masks", dir));
    unsigned char *px = malloc((size_t)h * (size_t)w);
    for (int i = 0; i < N; i++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                px[y * w + x] = (unsigned char)((x * 5 + y * 11 + i * 3) % C);
        fixture_png(P("%s/images/%02d.png", dir, i), w, h, PNG_COLOR_TYPE_GRAY,
                    8, px, NULL, 0);
        fixture_png(P("%s/masks/%02d.png", dir, i), w, h, PNG_COLOR_TYPE_GRAY,
                    8, px, NULL, 0);
    }
    free(px);
    nr_dataset *ds = nr_dataset_open(P("%s", dir), 1, err, sizeof err);
    nr_batcher *plain = nr_batcher_new(ds, N, 1, h, w, C, 255, 1, err, sizeof err);
    nr_batcher *a1 = nr_batcher_new(ds, N, 1, h, w, C, 255, 1, err, sizeof err);
    nr_batcher *a2 = nr_batcher_new(ds, N, 1, h, w, C, 255, 1, err, sizeof err);
    char name[128];
    snprintf(name, sizeof name, "augment %s: setup", label);
    if (!check(ds && plain && a1 && a2, name, "%s", err))
        goto done;
    nr_batcher_set_augment(a1, 42, 0);
    nr_batcher_set_augment(a2, 42, 0);
    int idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = i;
    float *i0, *i1, *i2;
    int32_t *m0, *m1, *m2;
    int n;
    nr_batcher_submit(plain, idx, N);
    nr_batcher_submit(a1, idx, N);
    nr_batcher_submit(a2, idx, N);
    int rc = nr_batcher_wait(plain, &i0, &m0, &n, err, sizeof err);
    rc |= nr_batcher_wait(a1, &i1, &m1, &n, err, sizeof err);
    rc |= nr_batcher_wait(a2, &i2, &m2, &n, err, sizeof err);
    size_t hw = (size_t)h * (size_t)w;
    int aligned = rc == 0, symmetry = 1, used[8] = {0}, n_used = 0;
    for (int j = 0; j < N && aligned; j++) {
        for (size_t p = 0; p < hw; p++)
            aligned &= (int)lroundf(i1[j * hw + p] * 255.0f) == m1[j * hw + p];
        /* which of the 8 symmetries (t: transpose, v, h flips) maps m0 to m1 */
        int found = -1;
        for (int t = 0; t < 8 && found < 0; t++) {
            int tr = t >> 2 & 1, fv = t >> 1 & 1, fh = t & 1, same = 1;
            if (tr && h != w)
                continue;
            for (int y = 0; y < h && same; y++)
                for (int x = 0; x < w && same; x++) {
                    int a = tr ? x : y, c = tr ? y : x;
                    a = fv ? h - 1 - a : a, c = fh ? w - 1 - c : c;
                    same = m1[j * hw + (size_t)(y * w + x)] ==
                           m0[j * hw + (size_t)(a * w + c)];
                }
            if (same)
                found = t;
        }
        symmetry &= found >= 0;
        if (found >= 0 && !used[found]++)
            n_used++;
    }
    snprintf(name, sizeof name, "augment %s: image and mask stay aligned", label);
    check(aligned && symmetry, name, "rc %d aligned %d symmetry %d %s", rc,
          aligned, symmetry, err);
    snprintf(name, sizeof name, "augment %s: deterministic from the seed", label);
    check(!memcmp(i1, i2, sizeof *i1 * hw * N) && !memcmp(m1, m2, sizeof *m1 * hw * N),
          name, "two batchers with seed 42 differ");
    snprintf(name, sizeof name, "augment %s: varies per sample", label);
    int want_used = h == w ? 5 : 3; /* of 8 or 4 possible, over 16 draws */
    check(n_used >= want_used, name, "only %d distinct transforms", n_used);
done:
    nr_batcher_free(plain);
    nr_batcher_free(a1);
    nr_batcher_free(a2);
    nr_dataset_free(ds);
}

/* ---- safetensors -------------------------------------------------------------- */

/* Write a safetensors file from a header text and data bytes. */
static void put_st(const char *path, const char *header, const void *data,
                   size_t n)
{
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + n + 1);
    for (int k = 0; k < 8; k++)
        buf[k] = (unsigned char)((uint64_t)hl >> (8 * k));
    memcpy(buf + 8, header, hl);
    if (n)
        memcpy(buf + 8 + hl, data, n);
    write_bytes(path, buf, 8 + hl + n);
    free(buf);
}

static void test_safetensors(void)
{
    float w[6] = {1.5f, -2, 3.25f, 0, 1e-20f, -7};
    int64_t steps[5] = {1, -2, 3, INT64_MAX, INT64_MIN};
    float scalar = 42;
    int32_t ids[3] = {7, -8, 9};
    nr_st_tensor ts[4] = {
        {"enc1.conv1.weight", NR_ST_F32, 2, {2, 3}, w},
        {"step \"count\"\n", NR_ST_I64, 1, {5}, steps},
        {"lr", NR_ST_F32, 0, {0}, &scalar},
        {"ids", NR_ST_I32, 1, {3}, ids},
    };
    const char *meta[] = {"epoch", "12", "model", "unet.net \"v2\" \\ caf\xc3\xa9"};
    char path[512];
    snprintf(path, sizeof path, "%s", P("ck.safetensors"));
    int rc = nr_st_save(path, 4, ts, 2, meta, err, sizeof err);
    check(rc == 0, "st save", "%s", err);
    nr_st_file *f = nr_st_load(path, err, sizeof err);
    int ok = f && nr_st_count(f) == 4;
    for (int i = 0; ok && i < 4; i++) {
        const nr_st_tensor *t = nr_st_get(f, i);
        ok &= !strcmp(t->name, ts[i].name) && t->dtype == ts[i].dtype &&
              t->ndim == ts[i].ndim && ((uintptr_t)t->data % 8) == 0;
        int64_t ne = 1;
        for (int k = 0; k < t->ndim; k++)
            ok &= t->dim[k] == ts[i].dim[k], ne *= t->dim[k];
        ok &= !memcmp(t->data, ts[i].data, (size_t)ne * (size_t)nr_st_dtype_size(t->dtype));
        ok &= nr_st_find(f, ts[i].name) == t;
    }
    /* the same file from memory (nr_st_parse, the fuzz target's reader) */
    size_t n_bytes;
    unsigned char *bytes = ng_read_file(path, &n_bytes);
    nr_st_file *fm = nr_st_parse(bytes, n_bytes, "mem.safetensors", err, sizeof err);
    int same = fm && nr_st_count(fm) == 4 && !strcmp(nr_st_meta(fm, "epoch"), "12");
    for (int i = 0; same && i < 4; i++)
        same = !strcmp(nr_st_get(fm, i)->name, ts[i].name);
    check(same, "st parse from memory", "%s", err);
    nr_st_free(fm);
    fm = nr_st_parse(bytes, 5, "mem.safetensors", err, sizeof err);
    check(!fm && has(err, "mem.safetensors: truncated: 5 bytes"), "st parse of 5 bytes", "'%s'", err);
    free(bytes);
    ok = ok && !nr_st_find(f, "nope") && nr_st_meta(f, "epoch") &&
         !strcmp(nr_st_meta(f, "epoch"), "12") &&
         !strcmp(nr_st_meta(f, "model"), meta[3]) && !nr_st_meta(f, "x");
    check(ok, "st round trip (F32, I64, I32, scalar, escapes, metadata)", "%s",
          f ? "content differs" : err);
    nr_st_free(f);
    nr_st_free(NULL);

    size_t n;
    unsigned char *full = ng_read_file(path, &n);
    uint64_t hl = 0;
    for (int k = 0; k < 8; k++)
        hl |= (uint64_t)full[k] << (8 * k);
    check(hl % 8 == 0 && full[8] == '{' && full[8 + hl - 1] != '\0' &&
              n == 8 + hl + 24 + 40 + 4 + 12,
          "st layout: header padded to 8, data back to back", "hl %llu n %zu",
          (unsigned long long)hl, n);

    /* truncated at several lengths */
    size_t cuts[] = {0, 4, 7, 8, 9, 8 + (size_t)hl - 1, 8 + (size_t)hl, n - 1};
    int clean = 1;
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        write_bytes(P("cut.safetensors"), full, cuts[k]);
        f = nr_st_load(P("cut.safetensors"), err, sizeof err);
        if (f || !has(err, P("cut.safetensors"))) {
            check(0, "st truncated", "cut %zu: '%s'", cuts[k], err);
            clean = 0;
        }
        nr_st_free(f);
    }
    if (clean)
        check(1, "st truncated at 8 lengths -> errors", "");
    write_bytes(P("cut.safetensors"), full, 5);
    f = nr_st_load(P("cut.safetensors"), err, sizeof err);
    char want[700];
    snprintf(want, sizeof want, "%s: truncated: 5 bytes, too short for the "
             "8-byte header length", P("cut.safetensors"));
    check(!f && !strcmp(err, want), "st truncated message", "got '%s'", err);

    /* header length larger than the file */
    unsigned char *big = malloc(n);
    memcpy(big, full, n);
    big[3] = 1;
    write_bytes(P("big.safetensors"), big, n);
    f = nr_st_load(P("big.safetensors"), err, sizeof err);
    snprintf(want, sizeof want, "%s: header length %llu larger than the file "
             "(%zu bytes): truncated or not a safetensors file",
             P("big.safetensors"), (unsigned long long)(hl + (1u << 24)), n);
    check(!f && !strcmp(err, want), "st header length > file", "got '%s'", err);
    free(big);

    /* bad JSON, one variant each */
    static const char *bad_json[] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}",
        "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"a\\q\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"a\x01\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}",
        "{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"__metadata__\":{\"k\":\"1\",\"j\":\"2\",\"k\":\"3\"}}",
        "[]",
        "",
        "{\"a\":{\"dtype\":F32,\"shape\":[2],\"data_offsets\":[0,8]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}",
    };
    float two[2] = {1, 2};
    int all = 1;
    for (size_t k = 0; k < sizeof bad_json / sizeof *bad_json; k++) {
        put_st(P("bad.safetensors"), bad_json[k], two, sizeof two);
        f = nr_st_load(P("bad.safetensors"), err, sizeof err);
        if (getenv("TEST_IO_VERBOSE"))
            printf("# variant %zu: %s\n", k, err);
        if (f || !has(err, P("bad.safetensors"))) {
            check(0, "st bad JSON", "variant %zu loaded or unnamed: '%s'", k, err);
            all = 0;
        }
        nr_st_free(f);
    }
    if (all)
        printf("ok - st bad JSON: %zu variants rejected\n",
               sizeof bad_json / sizeof *bad_json), n_checks++;
    put_st(P("bad.safetensors"), bad_json[1], two, sizeof two);
    f = nr_st_load(P("bad.safetensors"), err, sizeof err);
    check(!f && has(err, "bad header JSON at byte ") && has(err, "expected a string"),
          "st bad JSON message", "got '%s'", err);

    /* a file as Python's safetensors lays it out (metadata first, padded) */
    const char *py = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"I64\","
                     "\"shape\":[1],\"data_offsets\":[8,16]},\"a\":{\"dtype\":\"F32\","
                     "\"shape\":[2],\"data_offsets\":[0,8]}}   ";
    unsigned char pdata[16];
    int64_t seven = 7;
    memcpy(pdata, two, 8);
    memcpy(pdata + 8, &seven, 8);
    put_st(P("py.safetensors"), py, pdata, 16);
    f = nr_st_load(P("py.safetensors"), err, sizeof err);
    const nr_st_tensor *ta = f ? nr_st_find(f, "a") : NULL, *tb = f ? nr_st_find(f, "b") : NULL;
    check(f && ta && tb && ((const float *)ta->data)[1] == 2.0f &&
              *(const int64_t *)tb->data == 7 && !strcmp(nr_st_meta(f, "format"), "pt") &&
              nr_st_get(f, 0) == tb,
          "st reads a Python-style file", "%s", f ? "content" : err);
    nr_st_free(f);

    /* semantic corruptions */
    struct {
        const char *header, *want, *name;
    } sem[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,80]}}",
         "tensor 'a': data_offsets [0,80] outside the data (8 bytes)", "st offsets out of bounds"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}",
         "tensor 'a': data_offsets [8,0] outside the data (8 bytes)", "st offsets reversed"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
         "tensors 'a' [0,4] and 'b' [2,6] overlap", "st overlapping offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
         "tensor 'a': data_offsets span 8 bytes, shape and dtype F32 need 12",
         "st size vs shape"},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
         "tensor 'a': dtype 'F16' not supported (F32, I32, I64 only)", "st unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
         "tensor 'a' appears twice", "st duplicate name"},
    };
    for (size_t k = 0; k < sizeof sem / sizeof *sem; k++) {
        put_st(P("sem.safetensors"), sem[k].header, two, sizeof two);
        f = nr_st_load(P("sem.safetensors"), err, sizeof err);
        snprintf(want, sizeof want, "%s: %s", P("sem.safetensors"), sem[k].want);
        check(!f && !strcmp(err, want), sem[k].name, "got '%s'", err);
        nr_st_free(f);
    }

    /* atomic save: failures leave the old file as it was */
    struct rlimit was;
    getrlimit(RLIMIT_NOFILE, &was);
    int lowest = dup(0); /* the next descriptor: with the limit there, the temporary cannot be created */
    close(lowest);
    setrlimit(RLIMIT_NOFILE, &(struct rlimit){(rlim_t)lowest, was.rlim_max});
    rc = nr_st_save(path, 1, ts, 0, NULL, err, sizeof err);
    setrlimit(RLIMIT_NOFILE, &was);
    size_t n2;
    unsigned char *now = ng_read_file(path, &n2);
    check(rc < 0 && has(err, "cannot create") && now && n2 == n &&
              !memcmp(now, full, n),
          "st save failure keeps the old file", "rc %d '%s'", rc, err);
    free(now);

    mkdirs(P("ckdir.safetensors"));
    rc = nr_st_save(P("ckdir.safetensors"), 1, ts, 0, NULL, err, sizeof err);
    struct stat st;
    check(rc < 0 && has(err, "a folder, not a regular file") && !tmp_left(P("ckdir.safetensors")) &&
              stat(P("ckdir.safetensors"), &st) == 0 && S_ISDIR(st.st_mode),
          "st save over a folder fails, tmp removed", "rc %d '%s'", rc, err);

    rc = nr_st_save(P("nodir/x.safetensors"), 1, ts, 0, NULL, err, sizeof err);
    check(rc < 0 && has(err, "nodir/x.safetensors"), "st save into a missing folder",
          "rc %d '%s'", rc, err);

    mkdirs(P("ro"));
    nr_st_save(P("ro/ck.safetensors"), 1, ts, 0, NULL, err, sizeof err);
    chmod(P("ro"), 0555);
    int probe_ok = write_bytes(P("ro/probe"), "x", 1) == 0;
    if (probe_ok) {
        unlink(P("ro/probe"));
        printf("ok - st save into a read-only folder # skip (permissions not "
               "enforced, e.g. root)\n");
    } else {
        rc = nr_st_save(P("ro/ck.safetensors"), 2, ts, 0, NULL, err, sizeof err);
        f = nr_st_load(P("ro/ck.safetensors"), err + 512, sizeof err - 512);
        check(rc < 0 && f && nr_st_count(f) == 1,
              "st save into a read-only folder keeps the old file", "rc %d '%s'",
              rc, err);
        nr_st_free(f);
    }
    chmod(P("ro"), 0777);

    /* misuse of save */
    nr_st_tensor dup[2] = {ts[0], ts[0]};
    rc = nr_st_save(P("dup.safetensors"), 2, dup, 0, NULL, err, sizeof err);
    check(rc < 0 && has(err, "used twice") && access(P("dup.safetensors"), F_OK) != 0,
          "st save rejects duplicate names", "'%s'", err);
    free(full);
}

/* ---- writes and reads an attacker cannot redirect (util.h) ------------------ */

/* The contents of path equal s. */
static int holds(const char *path, const char *s)
{
    size_t n;
    char *t = ng_read_file(path, &n);
    int eq = t && n == strlen(s) && !memcmp(t, s, n);
    free(t);
    return eq;
}

static void test_hostile_files(void)
{
    mkdirs(P("h"));
    write_bytes(P("h/decoy"), "decoy", 5);
    /* a symbolic link planted at the output, and at the name older versions
     * wrote their temporary to (PATH.tmp.PID) */
    symlink(P("h/decoy"), P("h/link.png"));
    int rc = ng_atomic_write(P("h/link.png"), "x", 1, 0, err, sizeof err);
    check(rc < 0 && has(err, "link.png: cannot write: a symbolic link, not a regular file") &&
              holds(P("h/decoy"), "decoy") && !tmp_left(P("h/link.png")),
          "atomic write refuses a symbolic link at the output", "rc %d '%s'", rc, err);
    char old_tmp[600];
    snprintf(old_tmp, sizeof old_tmp, "%s.tmp.%ld", P("h/out.png"), (long)getpid());
    symlink(P("h/decoy"), old_tmp);
    rc = ng_atomic_write(P("h/out.png"), "new", 3, 1, err, sizeof err);
    check(rc == 0 && holds(P("h/out.png"), "new") && holds(P("h/decoy"), "decoy"),
          "atomic write does not follow a planted temporary", "rc %d '%s'", rc, err);
    mkfifo(P("h/fifo.png"), 0666);
    rc = ng_atomic_write(P("h/fifo.png"), "x", 1, 0, err, sizeof err);
    check(rc < 0 && has(err, "fifo.png: cannot write: a FIFO, not a regular file; not replacing it"),
          "atomic write refuses a FIFO at the output", "rc %d '%s'", rc, err);
    rc = ng_atomic_write("/dev/null", "x", 1, 0, err, sizeof err);
    check(rc < 0 && has(err, "/dev/null: cannot write: a device, not a regular file"),
          "atomic write refuses a device at the output", "rc %d '%s'", rc, err);
    /* an input of the command, by another name and by a hard link */
    write_bytes(P("h/in.net"), "model", 5);
    link(P("h/in.net"), P("h/hard.net"));
    ng_input_keep(P("h/in.net"));
    rc = ng_atomic_write(P("h/../h/in.net"), "x", 1, 0, err, sizeof err);
    int rc2 = ng_atomic_write(P("h/hard.net"), "x", 1, 0, err, sizeof err);
    check(rc < 0 && rc2 < 0 && has(err, "hard.net: cannot write: an input of this command") &&
              holds(P("h/in.net"), "model"),
          "atomic write refuses an input of the command (other name, hard link)", "rc %d %d '%s'", rc, rc2, err);
    /* a log: appended, never through a link */
    symlink(P("h/decoy"), P("h/metrics.jsonl"));
    FILE *f = ng_log_open(P("h/metrics.jsonl"), 1, err, sizeof err);
    check(!f && has(err, "metrics.jsonl: cannot write: a symbolic link") && holds(P("h/decoy"), "decoy"),
          "log append refuses a symbolic link", "'%s'", err);
    if (f)
        fclose(f);
    /* inputs that are not files: refused at once */
    errno = 0;
    f = ng_open_input(P("h/fifo.png"), NG_MAX_IMAGE);
    check(!f && errno == NG_EFIFO, "open_input refuses a FIFO without blocking", "errno %d", errno);
    f = ng_open_input("/dev/zero", NG_MAX_TEXT);
    check(!f && errno == NG_EDEVICE && !strcmp(ng_strerror(errno), "a device, not a regular file"),
          "open_input refuses /dev/zero", "errno %d", errno);
    f = ng_open_input(P("h"), NG_MAX_TEXT);
    check(!f && errno == EISDIR, "open_input refuses a folder", "errno %d", errno);
    f = ng_open_input(P("h/decoy"), 4);
    check(!f && errno == EFBIG, "open_input refuses a file over its cap", "errno %d", errno);
    f = ng_open_input(P("h/decoy"), 5);
    check(f != NULL, "open_input opens a regular file at its cap", "errno %d", errno);
    if (f)
        fclose(f);
    /* the temporaries a killed writer left: removed once their PID is gone */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    char stale[600];
    snprintf(stale, sizeof stale, "%s.tmp.%ld.0123456789ab", P("h/last.safetensors"), (long)child);
    write_bytes(stale, "junk", 4);
    check(ng_atomic_remove_stale(P("h"), NULL) == 1 && access(stale, F_OK) != 0,
          "a dead writer's temporary is removed", "%s", stale);
}

int main(void)
{
    if (tmpdir_make("test_io") != 0)
        return 1;
    test_png_images();
    test_png_errors();
    test_png_memory();
    test_png_masks();
    test_dataset();
    test_batcher();
    test_augment_case(8, 8, "8x8");
    test_augment_case(6, 10, "6x10");
    test_safetensors();
    test_hostile_files();
    return check_done();
}
