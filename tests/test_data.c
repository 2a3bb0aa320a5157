/* test_data.c — the data pipeline of issue 10: the option table's checks,
 * JPEG decoding and its errors, resizing, sliding-window positions and
 * weights, the batcher's size policies, normalization and crop hook. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batcher.h"
#include "layout.h"
#include "image.h"
#include "jpeg.h"
#include "options.h"
#include "png.h"
#include "window.h"
#include "check.h"

static char err[2048];

static void test_options(void)
{
    char canon[256];
    int rc = nr_option_check("overlap", "0.25", canon, sizeof canon, err, sizeof err);
    check(rc == 0 && !strcmp(canon, "0.25"), "option: a number", "%s", err);
    rc = nr_option_check("overlap", "0.99", canon, sizeof canon, err, sizeof err);
    check(rc < 0 && !strcmp(err, "option 'overlap' takes a number in 0..0.95, not '0.99'"), "option: out of range",
          "%s", err);
    rc = nr_option_check("mean", "[0.5, 0.25,0.125]", canon, sizeof canon, err, sizeof err);
    check(rc == 0 && !strcmp(canon, "0.5,0.25,0.125"), "option: a list, canonical", "%s / %s", canon, err);
    rc = nr_option_check("mean", "[0.5, x]", canon, sizeof canon, err, sizeof err);
    check(rc < 0 && strstr(err, "option 'mean' takes a number or a list"), "option: a bad list", "%s", err);
    rc = nr_option_check("size", "pad", canon, sizeof canon, err, sizeof err);
    check(rc == 0 && !strcmp(canon, "pad"), "option: a choice", "%s", err);
    rc = nr_option_check("size", "tile", canon, sizeof canon, err, sizeof err);
    check(rc < 0 && !strcmp(err, "option 'size' takes crop, pad or resize, not 'tile'"), "option: a bad choice",
          "%s", err);
    rc = nr_option_check("nope", "1", canon, sizeof canon, err, sizeof err);
    check(rc < 0 && !strcmp(err, "unknown option 'nope' (netrun info lists them all; runtime/graph/options.def)"), "option: unknown key", "%s", err);
    ng_graph g = {0};
    check(!strcmp(nr_option(&g, "size"), "crop") && nr_option_num(&g, "overlap") == 0.5 && !nr_option_given(&g, "size"),
          "option: defaults", "%s", nr_option(&g, "size"));
    rc = nr_option_set_arg(&g, "mean=0.1,0.2,0.3", err, sizeof err);
    double v[4];
    int n = nr_option_nums(&g, "mean", v, 4);
    check(rc == 0 && n == 3 && fabs(v[2] - 0.3) < 1e-12 && nr_option_given(&g, "mean"), "option: --set a list",
          "rc %d n %d %s", rc, n, err);
    rc = nr_option_set_arg(&g, "mean=2000", err, sizeof err);
    check(rc < 0 && nr_option_nums(&g, "mean", v, 4) == 3, "option: a bad --set changes nothing", "%s", err);
    float mean[3], std[3];
    rc = nr_image_norm_options(&g, 1, mean, std, err, sizeof err);
    check(rc < 0 && strstr(err, "3 values for a model of 1 channel"), "option: mean of another length", "%s", err);
    for (int i = 0; i < g.n_options; i++)
        free(g.options[i].key), free(g.options[i].value);
    free(g.options);
}

static void test_geometry(void)
{
    int pos[16];
    int n = nr_window_positions(100, 32, 0.5, pos, 16);
    check(n == 6 && pos[0] == 0 && pos[1] == 14 && pos[2] == 27 && pos[3] == 41 && pos[4] == 54 && pos[5] == 68,
          "window positions as nnU-Net (100, tile 32, overlap 0.5)", "n %d: %d %d %d", n, pos[0], pos[1], pos[5]);
    n = nr_window_positions(96, 32, 0, pos, 16);
    check(n == 3 && pos[1] == 32 && pos[2] == 64, "window positions, overlap 0: the grid", "n %d", n);
    n = nr_window_positions(20, 32, 0.5, pos, 16);
    check(n == 1 && pos[0] == 0, "window positions: a side shorter than the tile", "n %d", n);
    float gsn[8 * 6];
    nr_window_gaussian(8, 6, 0.125, gsn);
    float mx = 0;
    for (int i = 0; i < 48; i++)
        mx = gsn[i] > mx ? gsn[i] : mx;
    check(mx == 1.0f && gsn[4 * 6 + 3] == 1.0f && gsn[0] < 1e-3f && gsn[0] > 0, "gaussian: 1 at the centre, > 0",
          "max %g corner %g", mx, gsn[0]);
    /* bilinear 2x2 -> 4x4 (PIL / torch align_corners=False): 0 .25 .75 1 */
    float in[4] = {0, 1, 2, 3}, out[16];
    nr_resize_bilinear(in, 1, 2, 2, out, 4, 4);
    check(fabsf(out[0]) < 1e-6f && fabsf(out[1] - 0.25f) < 1e-6f && fabsf(out[2] - 0.75f) < 1e-6f &&
              fabsf(out[3] - 1) < 1e-6f && fabsf(out[4] - 0.5f) < 1e-6f && fabsf(out[15] - 3) < 1e-6f,
          "resize bilinear", "%g %g %g %g %g", out[0], out[1], out[2], out[3], out[4]);
    int32_t mi[6] = {0, 1, 2, 3, 4, 5}, mo[12];
    nr_resize_nearest(mi, 2, 3, mo, 3, 4); /* centres: rows 0,1,1; cols 0,1,1,2 */
    check(mo[0] == 0 && mo[1] == 1 && mo[2] == 1 && mo[3] == 2 && mo[4] == 3 && mo[11] == 5, "resize nearest",
          "%d %d %d %d %d", mo[0], mo[1], mo[2], mo[3], mo[4]);
    int32_t wo[9];
    nr_window_i32(mi, 2, 3, -1, 1, wo, 3, 3, 255);
    check(wo[0] == 255 && wo[3] == 1 && wo[4] == 2 && wo[5] == 255 && wo[7] == 5, "window copy with padding",
          "%d %d %d %d", wo[0], wo[3], wo[4], wo[5]);
}

static void test_jpeg(void)
{
    enum { H = 10, W = 14 };
    unsigned char gray[H * W], rgb[H * W * 3];
    for (int i = 0; i < H * W; i++) {
        gray[i] = (unsigned char)(40 + i);
        rgb[3 * i] = 200, rgb[3 * i + 1] = 100, rgb[3 * i + 2] = 30;
    }
    int rc = nr_jpeg_write(P("g.jpg"), H, W, 1, gray, 100, err, sizeof err);
    rc |= nr_jpeg_write(P("c.jpg"), H, W, 3, rgb, 100, err, sizeof err);
    check(rc == 0, "jpeg: write fixtures", "%s", err);
    float *x;
    int h, w;
    rc = nr_image_load(P("g.jpg"), 3, &h, &w, &x, err, sizeof err);
    int ok = rc == 0 && h == H && w == W;
    for (int i = 0; ok && i < H * W; i++)
        ok = fabsf(x[i] - gray[i] / 255.0f) < 3.0f / 255 && x[i] == x[H * W + i] && x[i] == x[2 * H * W + i];
    check(ok, "jpeg: gray, read as 3 channels", "rc %d %dx%d %s", rc, w, h, err);
    if (rc == 0)
        free(x);
    rc = nr_image_load(P("c.jpg"), 1, &h, &w, &x, err, sizeof err);
    float luma = (0.299f * 200 + 0.587f * 100 + 0.114f * 30) / 255;
    check(rc == 0 && fabsf(x[5] - luma) < 4.0f / 255, "jpeg: RGB to luma as the PNG reader", "%g vs %g %s",
          rc == 0 ? x[5] : -1, luma, err);
    if (rc == 0)
        free(x);
    /* the same through a .png name: decoded by content */
    rename(P("c.jpg"), P("c.png"));
    rc = nr_image_load(P("c.png"), 3, &h, &w, &x, err, sizeof err);
    check(rc == 0 && fabsf(x[0] - 200 / 255.0f) < 4.0f / 255 && fabsf(x[2 * H * W] - 30 / 255.0f) < 4.0f / 255,
          "jpeg: a JPEG named .png, RGB", "%s", err);
    if (rc == 0)
        free(x);
    /* truncated, empty, not an image */
    FILE *f = fopen(P("g.jpg"), "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    f = fopen(P("t.jpg"), "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    rc = nr_image_load(P("t.jpg"), 1, &h, &w, &x, err, sizeof err);
    char want[1200];
    snprintf(want, sizeof want, "%s: corrupt JPEG", P("t.jpg"));
    check(rc < 0 && !strncmp(err, want, strlen(want)), "jpeg: truncated file named", "%s", err);
    f = fopen(P("e.jpg"), "wb");
    fclose(f);
    rc = nr_image_load(P("e.jpg"), 1, &h, &w, &x, err, sizeof err);
    snprintf(want, sizeof want, "%s: not a PNG or JPEG file (empty)", P("e.jpg"));
    check(rc < 0 && !strcmp(err, want), "jpeg: empty file", "%s", err);
    rc = nr_jpeg_load_image("mem", "\x89PNG", 4, 1, &h, &w, &x, err, sizeof err);
    check(rc < 0 && !strcmp(err, "mem: not a JPEG file"), "jpeg: not a JPEG", "%s", err);
    int32_t *m;
    rc = nr_mask_load(P("g.jpg"), 4, 255, &h, &w, &m, err, sizeof err);
    check(rc < 0 && strstr(err, "a JPEG mask; masks must be PNG"), "jpeg: a JPEG mask is refused", "%s", err);
}

/* A 20x29 and a 37x53 sample: image v = (x + 3y) % 200, mask (x + y) % 3. */
static void put_sample(const char *name, int h, int w)
{
    unsigned char *px = malloc((size_t)h * w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px[y * w + x] = (unsigned char)((x + 3 * y) % 200);
    nr_png_write_gray8(P("ds/images/%s", name), h, w, px, err, sizeof err);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px[y * w + x] = (unsigned char)((x + y) % 3);
    nr_png_write_gray8(P("ds/masks/%s", name), h, w, px, err, sizeof err);
    free(px);
}

typedef struct {
    int calls, last_sample, y0, x0;
    uint64_t draws[8];
} hook_log;

static void hook(void *ctx, int sample, int slot, uint64_t draw, int img_h, int img_w, int crop_h, int crop_w,
                 int *y0, int *x0)
{
    (void)slot;
    hook_log *l = ctx;
    if (l->calls < 8)
        l->draws[l->calls] = draw;
    l->calls++;
    l->last_sample = sample;
    (void)img_h, (void)img_w, (void)crop_h, (void)crop_w;
    *y0 = l->y0, *x0 = l->x0;
}

static void test_batcher_sizes(void)
{
    char d1[1100], d2[1100];
    snprintf(d1, sizeof d1, "%s", P("ds/images"));
    snprintf(d2, sizeof d2, "%s", P("ds/masks"));
    mkdir(P("ds"), 0777), mkdir(d1, 0777), mkdir(d2, 0777);
    put_sample("a_small.png", 20, 29);
    put_sample("b_large.png", 37, 53);
    nr_dataset *ds = nr_dataset_open(P("ds"), 1, err, sizeof err);
    if (!check(ds && nr_dataset_count(ds) == 2, "sizes: dataset", "%s", err))
        return;
    enum { T = 32 };
    nr_batcher *b = nr_batcher_new(ds, 2, 1, T, T, 3, 255, 1, err, sizeof err);
    float *img;
    int32_t *msk;
    int n, idx[2] = {0, 1};
    /* pad: the small image at the top-left, the rest ignore; the large one cut */
    nr_batcher_set_size(b, NR_SIZE_PAD);
    nr_batcher_submit(b, idx, 2);
    int rc = nr_batcher_wait(b, &img, &msk, &n, err, sizeof err);
    int lab = 0, ok = rc == 0;
    for (int p = 0; p < T * T; p++)
        lab += msk[p] != 255;
    ok &= lab == 20 * 29 && msk[0] == 0 && msk[1] == 1 && msk[29] == 255 && img[29] == 0.0f &&
          msk[T * T + 31 * T + 31] == (31 + 31) % 3 && fabsf(img[T * T + 31 * T + 5] - (5 + 93) / 255.0f) < 1e-6f;
    check(ok, "pad: small padded with ignore, large cut at the corner", "rc %d labelled %d %s", rc, lab, err);
    /* resize: every pixel labelled */
    nr_batcher_set_size(b, NR_SIZE_RESIZE);
    nr_batcher_submit(b, idx, 2);
    rc = nr_batcher_wait(b, &img, &msk, &n, err, sizeof err);
    lab = 0;
    for (int p = 0; p < 2 * T * T; p++)
        lab += msk[p] != 255;
    check(rc == 0 && lab == 2 * T * T, "resize: every pixel labelled", "labelled %d", lab);
    /* crop: the small one lies in the window whole (20*29 labelled); the
     * large one is a window inside it, the hook's choice */
    hook_log lg = {0, -1, 3, 17, {0}};
    nr_batcher_set_size(b, NR_SIZE_CROP);
    nr_batcher_set_crop(b, hook, &lg);
    nr_batcher_set_stream(b, 7, 100);
    nr_batcher_submit(b, idx, 2);
    rc = nr_batcher_wait(b, &img, &msk, &n, err, sizeof err);
    lab = 0;
    for (int p = 0; p < T * T; p++)
        lab += msk[p] != 255;
    ok = rc == 0 && lab == 20 * 29 && lg.calls == 1 && lg.last_sample == 1;
    for (int y = 0; ok && y < T; y++)
        for (int x = 0; ok && x < T; x++)
            ok = msk[T * T + y * T + x] == (x + 17 + y + 3) % 3 &&
                 fabsf(img[T * T + y * T + x] - (float)((x + 17 + 3 * (y + 3)) % 200) / 255.0f) < 1e-6f;
    check(ok, "crop: the hook's window, the small image whole", "rc %d labelled %d calls %d", rc, lab, lg.calls);
    /* the draws depend on the seed and stream position only */
    nr_batcher_set_stream(b, 7, 100);
    nr_batcher_submit(b, idx, 2);
    nr_batcher_wait(b, &img, &msk, &n, err, sizeof err);
    nr_batcher_set_stream(b, 8, 100);
    nr_batcher_submit(b, idx, 2);
    nr_batcher_wait(b, &img, &msk, &n, err, sizeof err);
    check(lg.calls == 3 && lg.draws[1] == lg.draws[0] && lg.draws[2] != lg.draws[0], "crop: reproducible draws",
          "calls %d", lg.calls);
    /* a hook far outside is clamped to keep one image pixel */
    lg.y0 = -1000, lg.x0 = 1000;
    nr_batcher_submit(b, idx, 2);
    rc = nr_batcher_wait(b, &img, &msk, &n, err, sizeof err);
    lab = 0;
    for (int p = 0; p < T * T; p++)
        lab += msk[T * T + p] != 255;
    check(rc == 0 && lab == 1 && msk[T * T + (T - 1) * T] == (52 + 0) % 3, "crop: a window outside is clamped",
          "labelled %d", lab);
    /* without the hook: uniform crops inside the large image (no ignore) */
    nr_batcher_set_crop(b, NULL, NULL);
    nr_batcher_submit(b, idx, 2);
    rc = nr_batcher_wait(b, &img, &msk, &n, err, sizeof err);
    lab = 0;
    for (int p = 0; p < T * T; p++)
        lab += msk[T * T + p] != 255;
    check(rc == 0 && lab == T * T, "crop: uniform window inside the image", "labelled %d", lab);
    /* normalization before sizing: padding stays 0 */
    float mean = 0.5f, sd = 0.25f;
    nr_batcher_set_normalize(b, &mean, &sd);
    nr_batcher_set_size(b, NR_SIZE_PAD);
    nr_batcher_submit(b, idx, 1);
    rc = nr_batcher_wait(b, &img, &msk, &n, err, sizeof err);
    check(rc == 0 && fabsf(img[1] - (1 / 255.0f - 0.5f) / 0.25f) < 1e-5f && img[30] == 0.0f,
          "normalization (x - mean) / std, padding 0", "%g %g", img[1], img[30]);
    int64_t waits;
    nr_batcher_wait_seconds(b, &waits);
    check(waits == 8 && nr_batcher_threads(b) >= 1, "batcher: waits counted", "%lld", (long long)waits);
    nr_batcher_free(b);
    /* a mask of another size than its image */
    unsigned char px[4] = {0};
    nr_png_write_gray8(P("ds/masks/a_small.png"), 2, 2, px, err, sizeof err);
    float *x;
    int32_t *m;
    int h, w;
    rc = nr_dataset_load_any(ds, 0, 1, 3, 255, &x, &m, &h, &w, err, sizeof err);
    char want[1200];
    snprintf(want, sizeof want, "%s: 2x2, but its image %s is 29x20", P("ds/masks/a_small.png"),
             P("ds/images/a_small.png"));
    check(rc < 0 && !strcmp(err, want), "a mask of another size named with its image", "%s", err);
    nr_dataset_free(ds);
}

int main(void)
{
    if (tmpdir_make("test_data") != 0)
        return 1;
    test_options();
    test_geometry();
    test_jpeg();
    test_batcher_sizes();
    return check_done();
}
