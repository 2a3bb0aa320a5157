/* fuzz_jpeg.c — libFuzzer target for the JPEG reader (runtime/io/jpeg.h) and
 * the any-size PNG readers the loader uses (runtime/io/png.h): every input
 * decodes as an image of 1 or 3 channels, ending in pixels in [0,1] of a
 * size within the limits or a message naming the file; the same bytes go to
 * nr_png_load_image and nr_png_load_mask.  Input: 1 byte of parameters
 * (bit 0: 3 channels, else 1), then the file.  Files whose header asks for
 * more than 2^20 pixels are skipped (memory, not coverage). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "jpeg.h"
#include "png.h"

#define MAX_PIXELS (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int rc, const char *err, const float *img, int c, int h, int w)
{
    if (rc != 0) {
        if (strncmp(err, "fuzz: ", 6) != 0)
            abort(); /* every failure names the file */
        return;
    }
    if (h <= 0 || w <= 0 || h > NR_IMAGE_MAX_SIDE || w > NR_IMAGE_MAX_SIDE || !img)
        abort();
    for (size_t i = 0; i < (size_t)c * (size_t)h * (size_t)w; i++)
        if (!(img[i] >= 0.0f && img[i] <= 1.0f))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int c = data[0] & 1 ? 3 : 1;
    const uint8_t *file = data + 1;
    size_t len = size - 1;
    char err[512];
    int h = 0, w = 0;
    float *img = NULL;
    tjhandle tj = tjInitDecompress();
    int jw = 0, jh = 0, sub, cs;
    int big = tj && tjDecompressHeader3(tj, file, (unsigned long)len, &jw, &jh, &sub, &cs) == 0 &&
              (int64_t)jw * jh > MAX_PIXELS;
    if (tj)
        tjDestroy(tj);
    if (!big) {
        int rc = nr_jpeg_load_image("fuzz", file, len, c, &h, &w, &img, err, sizeof err);
        check(rc, err, img, c, h, w);
        free(img);
        img = NULL;
    }
    /* the PNG any-size readers: the IHDR's size, after the signature */
    if (len >= 24) {
        uint32_t iw = (uint32_t)file[16] << 24 | (uint32_t)file[17] << 16 | (uint32_t)file[18] << 8 | file[19];
        uint32_t ih = (uint32_t)file[20] << 24 | (uint32_t)file[21] << 16 | (uint32_t)file[22] << 8 | file[23];
        if ((uint64_t)iw * ih > MAX_PIXELS)
            return 0;
    }
    int rc = nr_png_load_image("fuzz", file, len, c, &h, &w, &img, err, sizeof err);
    check(rc, err, img, c, h, w);
    free(img);
    int32_t *mask = NULL;
    if (nr_png_load_mask("fuzz", file, len, 8, 255, &h, &w, &mask, err, sizeof err) == 0) {
        for (size_t i = 0; i < (size_t)h * (size_t)w; i++)
            if ((mask[i] < 0 || mask[i] >= 8) && mask[i] != 255)
                abort();
    } else if (strncmp(err, "fuzz: ", 6) != 0) {
        abort();
    }
    free(mask);
    return 0;
}
