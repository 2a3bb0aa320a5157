/* fuzz_list.c — libFuzzer target for the list files of the data loader
 * (runtime/data/layout.c): a list file's text (nr_layout_parse_list, lines
 * "IMAGE [MASK]") or a VOC split list (nr_layout_parse_voc, one id a line),
 * from memory, its paths resolved against a scratch folder made once with a
 * few tiny real PNGs (a.png, b.png, m/a.png, m/b.png, sub/c.jpg;
 * JPEGImages/a.jpg, b.jpg and SegmentationClass/a.png), so lists that name
 * them are accepted.  Every accepted list has samples, each with a
 * non-empty name free of '/', naming regular files (the mask too when masks
 * are needed), and the text has no NUL byte; every refused one has a
 * message naming the list and its line ("fuzz.txt:N", N a line of the
 * text), or saying it has no samples.
 * Input: 1 byte (bit 0: masks needed; bit 1: a VOC split list), then the
 * text. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "png.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[512];

static const char *const files[] = {"a.png", "b.png", "m/a.png", "m/b.png", "sub/c.jpg",
                                    "JPEGImages/a.jpg", "JPEGImages/b.jpg", "SegmentationClass/a.png"};
static const char *const dirs[] = {"m", "sub", "JPEGImages", "SegmentationClass"};

static void scratch_remove(void)
{
    char p[1024];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        snprintf(p, sizeof p, "%s/%s", scratch, files[i]), unlink(p);
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        snprintf(p, sizeof p, "%s/%s", scratch, dirs[i]), rmdir(p);
    rmdir(scratch);
}

/* The scratch folder and its 2x2 gray PNGs (a .jpg too: images are told
 * by content), made once per process. */
static void scratch_make(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/fuzz_list.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch))
        abort();
    atexit(scratch_remove);
    char p[1024], err[512];
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        if (snprintf(p, sizeof p, "%s/%s", scratch, dirs[i]), mkdir(p, 0700) != 0)
            abort();
    const uint8_t px[4] = {0, 1, 1, 0};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        if (snprintf(p, sizeof p, "%s/%s", scratch, files[i]), nr_png_write_gray8(p, 2, 2, px, err, sizeof err) != 0)
            abort();
}

/* err names the list and a line 1..lines of it, or says it has no samples. */
static int names_line(const char *err, int lines)
{
    for (const char *p = strstr(err, "fuzz.txt:"); p; p = strstr(p + 1, "fuzz.txt:")) {
        char *end;
        long n = strtol(p + 9, &end, 10);
        if (end != p + 9 && n >= 1 && n <= lines)
            return 1;
    }
    return !strcmp(err, "fuzz.txt: no samples") || !strcmp(err, "fuzz.txt: out of memory");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!scratch[0])
        scratch_make();
    int need_masks = data[0] & 1, voc = data[0] & 2;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    char err[8192] = "";
    nr_dataset *ds = voc ? nr_layout_parse_voc(text, len, "fuzz.txt", scratch, need_masks, err, sizeof err)
                         : nr_layout_parse_list(text, len, "fuzz.txt", scratch, need_masks, err, sizeof err);
    if (!ds) {
        if (!names_line(err, lines))
            abort();
        return 0;
    }
    int n = nr_dataset_count(ds);
    if (n < 1 || memchr(text, 0, len))
        abort();
    for (int i = 0; i < n; i++) {
        const char *name = nr_dataset_name(ds, i), *mask = nr_dataset_mask_path(ds, i);
        if (!name[0] || strchr(name, '/') || !ng_is_file(nr_dataset_image_path(ds, i)) ||
            (need_masks && (!mask || !ng_is_file(mask))))
            abort();
    }
    (void)nr_dataset_check_stems(ds, err, sizeof err);
    nr_dataset_free(ds);
    return 0;
}
