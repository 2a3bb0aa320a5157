/* test_report.c — checks of the report's building blocks: the overlay blend
 * rule pixel by pixel on tiny images (one panel and four), the rendered size,
 * the RGB PNG written and read back through the project's PNG reader, the
 * palette of a mask file, the JSON reader the report reads the run folder
 * with, and the page of a tampered run folder.  Prints "ok - name" / "FAIL - name: detail"; exits nonzero on failure. */
#define _POSIX_C_SOURCE 200809L
#include "json.h"
#include "overlay.h"
#include "png.h"
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static char err[1024];

/* The rule of overlay.h written out again, independently of overlay.c. */
static int byte_of(float v) { return v <= 0 ? 0 : v >= 1 ? 255 : (int)floorf(v * 255.0f + 0.5f); }
static int mix(int base, int col) { return (base * (255 - NR_OVERLAY_ALPHA) + col * NR_OVERLAY_ALPHA + 127) / 255; }

/* Expected colour of panel (0 image, 1 truth, 2 prediction, 3 errors) at pixel i. */
static void expect_px(const float *img, int c, int64_t hw, int64_t i, int panel, const uint8_t *pred,
                      const int32_t *truth, int classes, const nr_palette *pal, int out[3])
{
    int base[3];
    for (int k = 0; k < 3; k++)
        base[k] = byte_of(img[(c >= 3 ? k : 0) * hw + i]);
    int p = pred[i], t = truth ? truth[i] : 0, ign = truth && (t < 0 || t >= classes);
    int show = panel == 1 ? (ign ? 255 : t) : p;
    for (int k = 0; k < 3; k++) {
        if (panel == 0 || ((panel == 1 || panel == 2) && show == 0))
            out[k] = base[k];
        else if (panel == 1 || panel == 2)
            out[k] = mix(base[k], pal->rgb[show][k]);
        else if (ign || p == t)
            out[k] = (base[k] * NR_OVERLAY_DIM + 127) / 255;
        else
            out[k] = (t != 0 && p == 0 ? NR_OVERLAY_MISSED : t == 0 ? NR_OVERLAY_FALSE : NR_OVERLAY_CONFUSED)[k];
    }
}

static void test_blend(void)
{
    enum { H = 2, W = 3, K = 4 };
    /* (1,2,3) gray; pixels cover every case: background right, missed,
     * false alarm, confused, right foreground, ignored */
    const float gray[H * W] = {0.0f, 0.2f, 0.5f, 0.75f, 1.0f, 0.333f};
    const uint8_t pred[H * W] = {0, 0, 2, 3, 1, 2};
    const int32_t truth[H * W] = {0, 1, 0, 1, 1, 255};
    nr_palette pal;
    nr_palette_voc(&pal);
    int oh, ow;
    nr_overlay_size(H, W, 1, &oh, &ow);
    check(oh == H && ow == 4 * W + 3 * NR_OVERLAY_GAP, "four panels: size", "%dx%d", ow, oh);
    nr_overlay_size(H, W, 0, &oh, &ow);
    check(oh == H && ow == W, "one panel: size", "%dx%d", ow, oh);

    uint8_t one[H * W * 3];
    nr_overlay_render(gray, 1, H, W, pred, NULL, K, &pal, one);
    int bad = 0;
    for (int i = 0; i < H * W; i++) {
        int e[3];
        expect_px(gray, 1, H * W, i, 2, pred, NULL, K, &pal, e);
        for (int k = 0; k < 3; k++)
            bad += one[i * 3 + k] != e[k];
    }
    check(!bad, "one panel: the prediction blended by the rule", "%d channel values differ", bad);
    /* a hand-computed pixel: gray 0.5 -> 128, class 2 is VOC (0,128,0) */
    check(one[2 * 3] == (128 * 95 + 127) / 255 && one[2 * 3 + 1] == (128 * 95 + 128 * 160 + 127) / 255,
          "one panel: a pixel worked by hand", "(%d,%d,%d)", one[6], one[7], one[8]);

    uint8_t four[H * (4 * W + 3 * NR_OVERLAY_GAP) * 3];
    nr_overlay_size(H, W, 1, &oh, &ow);
    nr_overlay_render(gray, 1, H, W, pred, truth, K, &pal, four);
    bad = 0;
    int gap_bad = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < ow; x++) {
            int panel = x / (W + NR_OVERLAY_GAP), px = x % (W + NR_OVERLAY_GAP);
            const uint8_t *o = four + ((size_t)y * ow + x) * 3;
            if (px >= W) {
                gap_bad += o[0] != 255 || o[1] != 255 || o[2] != 255;
                continue;
            }
            int e[3];
            expect_px(gray, 1, H * W, y * W + px, panel, pred, truth, K, &pal, e);
            for (int k = 0; k < 3; k++)
                bad += o[k] != e[k];
        }
    check(!bad, "four panels: image, truth, prediction, errors by the rule", "%d channel values differ", bad);
    check(!gap_bad, "four panels: white gaps", "%d gap pixels not white", gap_bad);
    const uint8_t *err_px = four + (3 * (W + NR_OVERLAY_GAP) + 1) * 3; /* errors panel, pixel (1,0): missed */
    check(!memcmp(err_px, NR_OVERLAY_MISSED, 3), "errors panel: a missed pixel is red", "(%d,%d,%d)", err_px[0],
          err_px[1], err_px[2]);
    const uint8_t *ign_px = four + ((size_t)1 * ow + (W + NR_OVERLAY_GAP) + 2) * 3; /* truth panel, ignored */
    check(ign_px[0] == mix(byte_of(0.333f), 224) && ign_px[2] == mix(byte_of(0.333f), 192),
          "truth panel: ignore in the VOC void colour", "(%d,%d,%d)", ign_px[0], ign_px[1], ign_px[2]);

    /* RGB input takes channels 0..2 */
    float rgb_img[3 * H * W];
    for (int i = 0; i < 3 * H * W; i++)
        rgb_img[i] = (float)((i * 37) % 101) / 100.0f;
    nr_overlay_render(rgb_img, 3, H, W, pred, truth, K, &pal, four);
    bad = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int panel = 0; panel < 4; panel++) {
                int e[3];
                expect_px(rgb_img, 3, H * W, y * W + x, panel, pred, truth, K, &pal, e);
                const uint8_t *o = four + ((size_t)y * ow + panel * (W + NR_OVERLAY_GAP) + x) * 3;
                for (int k = 0; k < 3; k++)
                    bad += o[k] != e[k];
            }
    check(!bad, "RGB image: the rule per channel", "%d channel values differ", bad);

    /* the PNG file: the overlay's size, and the same bytes read back */
    char path[256];
    if (tmpdir_make("netc-report") != 0) {
        check(0, "temporary folder", "mkdtemp failed");
        return;
    }
    snprintf(path, sizeof path, "%s/o.png", tmpdir);
    int rc = nr_overlay_write(path, rgb_img, 3, H, W, pred, truth, K, &pal, err, sizeof err);
    check(rc == 0, "overlay written", "%s", err);
    float back[3 * H * (4 * W + 3 * NR_OVERLAY_GAP)];
    rc = nr_png_read_image(path, 3, oh, ow, back, err, sizeof err);
    check(rc == 0, "overlay PNG has the four-panel size", "%s", err);
    rc = nr_png_read_image(path, 3, H, W, back, err, sizeof err);
    check(rc != 0, "overlay PNG is not the image's own size", "read as %dx%d", W, H);
    nr_png_read_image(path, 3, oh, ow, back, err, sizeof err);
    bad = 0;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int k = 0; k < 3; k++)
                bad += byte_of(back[(int64_t)k * oh * ow + y * ow + x]) != four[((size_t)y * ow + x) * 3 + k];
    check(!bad, "overlay PNG holds the rendered pixels", "%d values differ", bad);
    snprintf(path, sizeof path, "%s/one.png", tmpdir);
    rc = nr_overlay_write(path, gray, 1, H, W, pred, NULL, K, &pal, err, sizeof err);
    check(rc == 0 && nr_png_read_image(path, 3, H, W, back, err, sizeof err) == 0,
          "overlay PNG without truth has the image's size", "%s", err);
    snprintf(path, sizeof path, "%s/nodir/x.png", tmpdir);
    rc = nr_overlay_write(path, gray, 1, H, W, pred, NULL, K, &pal, err, sizeof err);
    check(rc != 0 && strstr(err, "nodir/x.png"), "an unwritable overlay is an error naming it", "%s", err);

    /* the palette of a mask file */
    snprintf(path, sizeof path, "%s/m.png", tmpdir);
    nr_png_write_mask(path, H, W, pred, err, sizeof err);
    nr_palette p2;
    memset(&p2, 7, sizeof p2);
    int from = 0;
    rc = nr_palette_from_mask(path, &p2, &from, err, sizeof err);
    check(rc == 0 && from == 1 && !memcmp(&p2, &pal, sizeof pal), "palette read from a palette mask", "rc %d from %d",
          rc, from);
    uint8_t g8[H * W] = {0, 1, 2, 3, 4, 5};
    snprintf(path, sizeof path, "%s/g.png", tmpdir);
    nr_png_write_gray8(path, H, W, g8, err, sizeof err);
    rc = nr_palette_from_mask(path, &p2, &from, err, sizeof err);
    check(rc == 0 && from == 0 && !memcmp(&p2, &pal, sizeof pal), "gray mask: the VOC palette", "rc %d", rc);
    snprintf(path, sizeof path, "%s/none.png", tmpdir);
    rc = nr_palette_from_mask(path, &p2, &from, err, sizeof err);
    check(rc != 0 && strstr(err, "none.png"), "missing mask file: an error naming it", "%s", err);
    rm_rf(tmpdir);
}

static void test_json(void)
{
    const char *t = "{\"a\": [1, -2.5e1, null, true, false], \"s\": \"x\\u00e9\\n\\\"\", \"o\": {\"k\": {}} }";
    nr_json *j = nr_json_parse(t, strlen(t), err, sizeof err);
    if (!check(j != NULL, "json: parse", "%s", err))
        return;
    const nr_json *a = nr_json_get(j, "a");
    check(nr_json_len(a) == 5 && nr_json_num(nr_json_at(a, 0)) == 1 && nr_json_num(nr_json_at(a, 1)) == -25 &&
              isnan(nr_json_num(nr_json_at(a, 2))) && nr_json_num(nr_json_at(a, 3)) == 1 &&
              nr_json_num(nr_json_at(a, 4)) == 0 && !nr_json_at(a, 5),
          "json: array of numbers, null, booleans", "len %d", nr_json_len(a));
    const nr_json *s = nr_json_get(j, "s");
    check(s && s->type == NR_JSON_STR && !strcmp(s->str, "x\xc3\xa9\n\""), "json: string escapes", "%s",
          s ? s->str : "(none)");
    check(nr_json_len(nr_json_get(nr_json_get(j, "o"), "k")) == 0 && !nr_json_get(j, "zz"),
          "json: nested objects, missing keys", "");
    nr_json_free(j);
    static const char *const bad[][2] = {{"{\"a\":1,}", "1:8"}, {"[1 2]", "1:4"}, {"{\"a\":01}", "1:7"},
                                         {"\"\\x\"", "bad escape"}, {"[1]x", "text after"},
                                         {"{\"a\":\n  tru}", "2:3"}, {"\"\\ud800\"", "surrogate"}, {"", "end of input"},
                                         /* not UTF-8: a lone continuation byte, an overlong '/', a surrogate,
                                          * past U+10FFFF, a sequence cut by the end of the text */
                                         {"[\"a\x80\"]", "1:4: a byte that is not UTF-8 (0x80)"},
                                         {"\"\xc0\xaf\"", "1:2: a byte that is not UTF-8 (0xC0)"},
                                         {"\"\xed\xa0\x80\"", "1:2: a byte that is not UTF-8"},
                                         {"\"\xf4\x90\x80\x80\"", "1:2: a byte that is not UTF-8"}, {"\"\xe2\x82", "1:2"},
                                         /* past a double's range */
                                         {"[1e400]", "1:2: number out of range (1e400)"}, {"-1e309", "number out of range"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        nr_json *b = nr_json_parse(bad[i][0], strlen(bad[i][0]), err, sizeof err);
        check(!b && strstr(err, bad[i][1]), "json: a bad text is refused with where", "'%s': %s", bad[i][0],
              b ? "accepted" : err);
        nr_json_free(b);
    }
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    nr_json *d = nr_json_parse(deep, 200, err, sizeof err);
    check(!d && strstr(err, "deeper than 64"), "json: depth limit", "%s", d ? "accepted" : err);
    nr_json_free(d);

    /* UTF-8 as it is, numbers as small as a double holds; nr_json_int's ranges */
    t = "[\"caf\xc3\xa9 \xf0\x9f\x98\x80\", 1e-400, 7, 7.5, -3, true, 9007199254740992]";
    j = nr_json_parse(t, strlen(t), err, sizeof err);
    long long v = 0;
    check(j && !strcmp(nr_json_at(j, 0)->str, "caf\xc3\xa9 \xf0\x9f\x98\x80") && nr_json_num(nr_json_at(j, 1)) == 0,
          "json: UTF-8 strings, a number that underflows to 0", "%s", j ? "" : err);
    check(j && nr_json_int(nr_json_at(j, 2), 0, 10, &v) && v == 7 && !nr_json_int(nr_json_at(j, 3), 0, 10, &v) &&
              !nr_json_int(nr_json_at(j, 4), 0, 10, &v) && nr_json_int(nr_json_at(j, 4), -3, 0, &v) && v == -3 &&
              !nr_json_int(nr_json_at(j, 5), 0, 1, &v) && !nr_json_int(nr_json_at(j, 6), 0, (long long)1 << 52, &v) &&
              !nr_json_int(NULL, 0, 1, &v),
          "json: nr_json_int takes integer numbers within the range only", "v %lld", v);
    nr_json_free(j);
}

/* path holds text (len bytes). */
static void put(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(text, 1, len, f);
        fclose(f);
    }
}

/* netrun report (without a model) over run folders whose metrics.jsonl or
 * log.csv was tampered with, as tests/fuzz/json/regress_* does: each crashed,
 * hung or ran into undefined behaviour before (more than 256 classes, a
 * count past int64, a negative row, no epoch, an unnamed image, ticks that
 * do not move at 1e18), or refused a line whose "validation" was not last or
 * came after a nested member of that name; now each page is written. */
static void test_tampered_run(void)
{
    if (tmpdir_make("netc-report-run") != 0) {
        check(0, "tampered run folder: scratch folder", "%s", strerror(errno));
        return;
    }
    static const char *const head = "epoch,step,train_loss,val_loss,pixel_accuracy,miou_fg,worst_iou_fg,seconds\n";
    static const char *const row = "1,2,1.1,1.0,0.5,0.25,0.1,0.2\n";
    static const char *const val2 = "{\"iou\":[0.5,0.5],\"confusion\":[[1,1],[2,3]]}";
    static const struct {
        const char *what, *rows, *line_head, *val;
    } cases[] = {
        {"a confusion cell of 1e300", NULL, NULL, "{\"iou\":[0.5,0.5],\"confusion\":[[1e300,1],[2,3]]}"},
        {"a negative confusion row", NULL, NULL, "{\"iou\":[0.5,0.5],\"confusion\":[[-5,1],[2,3]]}"},
        {"a line without epoch", NULL, "{\"step\":2,\"best\":true,\"validation\":", val2},
        {"an image without a name", NULL, NULL,
         "{\"iou\":[0.5,0.5],\"confusion\":[[1,0],[0,1]],\"per_image\":[{\"dice\":[1,0.5]},{\"name\":\"b\",\"dice\":[1,0."
         "25]}],\"per_image_summary\":{\"dice\":[1,0.4],\"defined\":[2,2]}}"},
        {"steps at 1e18", "1,1000000000000000000,1,1,0.5,0.25,0.1,0.2\n2,1000000000000000128,1,1,0.5,0.25,0.1,0.2\n",
         NULL, val2},
        {"validation not last", NULL, "{\"epoch\":1,\"step\":2,\"validation\":",
         "{\"iou\":[0.5,0.5],\"confusion\":[[1,1],[2,3]]},\"best\":true"},
        {"a member named validation before it", NULL,
         "{\"epoch\":1,\"step\":2,\"extra\":{\"validation\":1},\"validation\":", val2},
        {"257 classes", NULL, NULL, NULL},
        {"16500 confusion rows", NULL, NULL, NULL},
    };
    char path[512], *big = malloc(64 * 1024);
    for (size_t i = 0; big && i < sizeof cases / sizeof *cases; i++) {
        const char *val = cases[i].val;
        if (!val) { /* 257 classes: iou and confusion; 16500 rows: confusion alone */
            int few = !strcmp(cases[i].what, "257 classes"), k = few ? 257 : 16500;
            int n = snprintf(big, 64, "{\"iou\":[");
            for (int c = 0; few && c < k; c++)
                n += snprintf(big + n, 8, "%s0.5", c ? "," : "");
            n += snprintf(big + n, 32, "%s\"confusion\":[", few ? "]," : "0],");
            for (int c = 0; c < k; c++)
                n += snprintf(big + n, 8, "%s[%s]", c ? "," : "", few ? "1" : "");
            snprintf(big + n, 8, "]}");
            val = big;
        }
        char *line = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&line, &len);
        if (!m)
            break;
        fprintf(m, "%s%s}\n", cases[i].line_head ? cases[i].line_head : "{\"epoch\":1,\"step\":2,\"best\":true,\"validation\":",
                val);
        fclose(m);
        snprintf(path, sizeof path, "%s/metrics.jsonl", tmpdir);
        put(path, line, len);
        free(line);
        char log[512];
        snprintf(log, sizeof log, "%s%s", head, cases[i].rows ? cases[i].rows : row);
        snprintf(path, sizeof path, "%s/log.csv", tmpdir);
        put(path, log, strlen(log));
        snprintf(path, sizeof path, "%s/none", tmpdir);
        nr_report_opts o = {.data = path};
        int rc = nr_report_make(tmpdir, &o, err, sizeof err);
        snprintf(path, sizeof path, "%s/report.html", tmpdir);
        check(rc == 0 && access(path, F_OK) == 0, "tampered run folder: the page is written", "%s: %s", cases[i].what,
              rc ? err : "no page");
        unlink(path);
    }
    free(big);
    rm_rf(tmpdir);
}

int main(void)
{
    test_blend();
    test_json();
    test_tampered_run();
    return check_done();
}
