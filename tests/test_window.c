/* test_window.c — sliding-window and resized inference (runtime/jobs/window.c)
 * against a reference written here from the definition in window.h: every
 * tile run alone through the infer entry, its probabilities weighted by the
 * Gaussian and summed into the image, the argmax taken; and the resized
 * path (image resized to the tile, probabilities resized back).  On an
 * image of 40x37 pixels with 16x16 tiles (positions 0, 8, 16, 24 and 0, 7,
 * 14, 21: every border covered), a model with random weights. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile.h"
#include "batcher.h"
#include "cpu.h"
#include "layout.h"
#include "image.h"
#include "options.h"
#include "png.h"
#include "window.h"

static int failures, checks;

static void check(int ok, const char *name, const char *detail)
{
    checks++;
    failures += !ok;
    printf("%s - %s%s%s\n", ok ? "ok" : "FAIL", name, ok ? "" : ": ", ok ? "" : detail);
}

static const char model[] =
    "input image : f32[3, 1, 16, 16]\n"
    "input mask : labels[3, 16, 16] classes 3\n"
    "option mean = 0.25\n" /* tiles normalized as the image would be (window.h) */
    "option std = 0.5\n"
    "h = relu(conv2d(image, 6, 3, pad = same))\n"
    "logits = conv2d(h, 3, 5, pad = same)\n"
    "output prediction = softmax(logits * 4, axis = 1)\n"
    "minimize cross_entropy(logits, mask) with adam\n";

enum { H = 40, W = 37, T = 16, K = 3 };

typedef struct {
    uint8_t pred[H * W];
    int calls;
} got_t;

static int visit(void *ctx, int idx, const float *image, int c, int h, int w, const uint8_t *pred,
                 const int32_t *truth, char *err, size_t errlen)
{
    (void)idx, (void)image, (void)c, (void)truth, (void)err, (void)errlen;
    got_t *g = ctx;
    if (h == H && w == W)
        memcpy(g->pred, pred, sizeof g->pred);
    g->calls++;
    return 0;
}

/* The infer entry on one tile (slot 0; the other slots zero): probs (K,T,T). */
static void run_tile(nr_model *m, const float *tile, float *probs)
{
    const ng_graph *g = nr_model_graph(m);
    float *in = nr_model_state(m, g->bind.image);
    memset(in, 0, sizeof *in * 3 * T * T);
    memcpy(in, tile, sizeof *in * T * T);
    if (nr_model_run(m, "infer") != 0) {
        printf("FAIL - run: %s\n", nr_model_error(m));
        exit(1);
    }
    memcpy(probs, nr_model_tensor(m, "infer", g->bind.output), sizeof *probs * K * T * T);
}

/* The tile pixel (sy, sx) that (y, x) shows under symmetry v: transpose
 * first, then flips. */
static void sym_src(int v, int y, int x, int *sy, int *sx)
{
    *sy = (v & 4) ? x : y, *sx = (v & 4) ? y : x;
    if (v & 2)
        *sy = T - 1 - *sy;
    if (v & 1)
        *sx = T - 1 - *sx;
}

/* The reference sums over the tiles at overlap ov with n_sym symmetries
 * (1: none; 4: identity, horizontal, vertical, both flips; 8: also
 * transposed): each tile transformed, run, its output transformed back,
 * weighted by the Gaussian, added into acc (K,H,W). */
static void reference(nr_model *m, const float *img, double ov, int n_sym, float *acc)
{
    int py[16], px[16];
    int ny = nr_window_positions(H, T, ov, py, 16), nx = nr_window_positions(W, T, ov, px, 16);
    float gauss[T * T], tile[T * T], in[T * T], probs[K * T * T];
    nr_window_gaussian(T, T, 0.125, gauss);
    memset(acc, 0, sizeof *acc * K * H * W);
    for (int a = 0; a < ny; a++)
        for (int b = 0; b < nx; b++) {
            nr_window_f32(img, 1, H, W, py[a], px[b], tile, T, T, 0);
            for (int v = 0; v < n_sym; v++) {
                /* in = tile seen through v: transpose first, then flips */
                for (int y = 0; y < T; y++)
                    for (int x = 0; x < T; x++) {
                        int sy, sx;
                        sym_src(v, y, x, &sy, &sx);
                        in[y * T + x] = tile[sy * T + sx];
                    }
                run_tile(m, in, probs);
                for (int y = 0; y < T; y++)
                    for (int x = 0; x < T; x++) {
                        int sy, sx;
                        sym_src(v, y, x, &sy, &sx);
                        int iy = py[a] + sy, ix = px[b] + sx; /* output (y,x) is tile pixel (sy,sx) */
                        if (iy >= H || ix >= W)
                            continue;
                        for (int k = 0; k < K; k++)
                            acc[k * H * W + iy * W + ix] += gauss[sy * T + sx] * probs[k * T * T + y * T + x];
                    }
            }
        }
}

/* How many of the tiles at (py[a], px[b]) cover each pixel, into cover (H,W). */
static void count_cover(const int *py, int ny, const int *px, int nx, int *cover)
{
    memset(cover, 0, sizeof *cover * H * W);
    for (int a = 0; a < ny; a++)
        for (int b = 0; b < nx; b++)
            for (int y = 0; y < T; y++)
                for (int x = 0; x < T; x++)
                    cover[(py[a] + y) * W + px[b] + x]++;
}

/* How many pixels of pred differ from the argmax of ref (K,H,W), not
 * counting near-ties (top two within 1e-4 relative). */
static int differ(const uint8_t *pred, const float *ref)
{
    int bad = 0;
    for (int p = 0; p < H * W; p++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (ref[k * H * W + p] > ref[best * H * W + p])
                best = k;
        if (pred[p] == best)
            continue;
        float a = ref[best * H * W + p], b = ref[pred[p] * H * W + p];
        bad += fabsf(a - b) > 1e-4f * fabsf(a);
    }
    return bad;
}

int main(void)
{
    char dir[] = "/tmp/test_window.XXXXXX", path[512], err[1024], msg[1400];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/images", dir);
    mkdir(path, 0777);
    unsigned char px[H * W];
    uint64_t s = 12345;
    for (int i = 0; i < H * W; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        px[i] = (unsigned char)(((i % W) * 5 + (i / W) * 3) % 200 + (s >> 59));
    }
    snprintf(path, sizeof path, "%s/images/a.png", dir);
    if (nr_png_write_gray8(path, H, W, px, err, sizeof err) != 0) {
        printf("FAIL - fixture: %s\n", err);
        return 1;
    }
    nc_options o = {.path = "window.net", .text = model, .len = sizeof model - 1};
    nc_unit u;
    if (nc_compile(&u, &o) != 0) {
        printf("FAIL - compile\n");
        return 1;
    }
    ng_graph *g = u.out;
    u.out = NULL;
    nc_unit_free(&u);
    nr_model *m = nr_model_new(g, nr_backend_cpu(), 7, err, sizeof err);
    snprintf(path, sizeof path, "%s/images", dir);
    nr_dataset *ds = m ? nr_dataset_open(path, 0, err, sizeof err) : NULL;
    if (!ds) {
        printf("FAIL - setup: %s\n", err);
        return 1;
    }
    float img[H * W], tile[T * T], probs[K * T * T];
    for (int i = 0; i < H * W; i++)
        img[i] = (px[i] / 255.0f - 0.25f) * (1.0f / 0.5f); /* normalized as nr_normalize does */

    /* reference: sliding windows, overlap 0.5 */
    static float acc[K * H * W];
    static int cover[H * W];
    int py[8], pxs[8];
    int ny = nr_window_positions(H, T, 0.5, py, 8), nx = nr_window_positions(W, T, 0.5, pxs, 8);
    reference(m, img, 0.5, 1, acc);
    count_cover(py, ny, pxs, nx, cover);
    int covered = 0;
    for (int p = 0; p < H * W; p++)
        covered += cover[p] > 0;
    snprintf(msg, sizeof msg, "positions %d x %d, last at %d and %d", ny, nx, py[ny - 1], pxs[nx - 1]);
    check(ny == 4 && nx == 4 && py[ny - 1] == H - T && pxs[nx - 1] == W - T && covered == H * W,
          "the tiles cover the image to its borders", msg);
    got_t got = {{0}, 0};
    nr_window_job j = {.entry = "infer", .visit = visit, .ctx = &got};
    int rc = nr_window_run(m, ds, &j, err, sizeof err);
    int bad = rc == 0 ? differ(got.pred, acc) : -1;
    snprintf(msg, sizeof msg, "rc %d, %d pixels differ, %lld tiles %s", rc, bad, (long long)j.tiles, rc ? err : "");
    check(rc == 0 && got.calls == 1 && bad == 0 && j.tiles == 16,
          "sliding windows = the Gaussian-weighted sum of the tiles run alone", msg);

    /* overlap 0: tiles at 0, 12, 24 and 0, 11, 21 (spread evenly: they
     * overlap where the side is no multiple of the tile); every pixel that
     * one tile alone covers is that tile's prediction, exactly */
    nr_option_set(g, "overlap", "0", err, sizeof err);
    ny = nr_window_positions(H, T, 0, py, 8), nx = nr_window_positions(W, T, 0, pxs, 8);
    rc = nr_window_run(m, ds, &j, err, sizeof err);
    count_cover(py, ny, pxs, nx, cover);
    int compared = 0;
    bad = 0;
    for (int a = 0; a < ny; a++)
        for (int b = 0; b < nx; b++) {
            nr_window_f32(img, 1, H, W, py[a], pxs[b], tile, T, T, 0);
            run_tile(m, tile, probs);
            for (int y = 0; y < T; y++)
                for (int x = 0; x < T; x++) {
                    int q = (py[a] + y) * W + pxs[b] + x, best = 0;
                    if (cover[q] != 1)
                        continue;
                    for (int k = 1; k < K; k++)
                        if (probs[k * T * T + y * T + x] > probs[best * T * T + y * T + x])
                            best = k;
                    bad += got.pred[q] != best;
                    compared++;
                }
        }
    snprintf(msg, sizeof msg, "rc %d, %d of %d pixels differ (tiles at %d,%d,%d)", rc, bad, compared, py[0], py[1],
             py[2]);
    check(rc == 0 && bad == 0 && compared > 0 && py[1] == 12 && pxs[1] == 11,
          "overlap 0: a pixel of one tile only is the model on that tile", msg);

    /* resized: the image to 16x16, the probabilities back to 40x37 */
    nr_option_set(g, "infer_size", "resize", err, sizeof err);
    float small[T * T];
    static float full[K * H * W];
    nr_resize_bilinear(img, 1, H, W, small, T, T);
    run_tile(m, small, probs);
    nr_resize_bilinear(probs, K, T, T, full, H, W);
    rc = nr_window_run(m, ds, &j, err, sizeof err);
    bad = rc == 0 ? differ(got.pred, full) : -1;
    snprintf(msg, sizeof msg, "rc %d, %d pixels differ", rc, bad);
    check(rc == 0 && bad == 0 && j.tiles == 1, "resize: the model on the resized image, resized back", msg);

    /* flips: four runs per tile, and a model that is not flip-invariant
     * changes somewhere */
    nr_option_set(g, "infer_size", "window", err, sizeof err);
    nr_option_set(g, "tta", "flips", err, sizeof err);
    nr_option_set(g, "overlap", "0.5", err, sizeof err);
    uint8_t plain[H * W];
    memcpy(plain, got.pred, sizeof plain);
    rc = nr_window_run(m, ds, &j, err, sizeof err);
    reference(m, img, 0.5, 4, acc);
    bad = rc == 0 ? differ(got.pred, acc) : -1;
    snprintf(msg, sizeof msg, "rc %d, %lld tiles, %d pixels differ", rc, (long long)j.tiles, bad);
    check(rc == 0 && j.tiles == 4 * 16 && bad == 0, "tta flips: the 4 flips of each tile, flipped back", msg);
    nr_option_set(g, "tta", "all", err, sizeof err);
    rc = nr_window_run(m, ds, &j, err, sizeof err);
    reference(m, img, 0.5, 8, acc);
    bad = rc == 0 ? differ(got.pred, acc) : -1;
    snprintf(msg, sizeof msg, "rc %d, %lld tiles, %d pixels differ", rc, (long long)j.tiles, bad);
    check(rc == 0 && j.tiles == 8 * 16 && bad == 0, "tta all: the 8 symmetries of each square tile", msg);

    nr_dataset_free(ds);
    nr_model_free(m);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
