/* fuzz_png.c — libFuzzer target for the PNG readers and the dataset's checks
 * on them (runtime/io/png.h): every input decodes as an image (1 or 3 channels)
 * and as a label mask (classes, ignore), each ending in pixels or a message
 * naming the file.  Input: 3 bytes of parameters, then the PNG:
 *   byte 0: bit 0 the image's channels (0: 1, 1: 3); bit 1 asks for a size
 *           one pixel wider than the file's (the size check); the model size
 *           is otherwise the IHDR's, so decoding goes on to the pixels
 *   byte 1: classes - 1 (1..256), byte 2: the ignore value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "png.h"

#define MAX_PIXELS (1 << 20) /* larger IHDR sizes are asked for as 1x1 */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int c = data[0] & 1 ? 3 : 1, wider = data[0] >> 1 & 1, classes = data[1] + 1, ignore = data[2];
    const uint8_t *png = data + 3;
    size_t len = size - 3;
    /* the IHDR chunk's width and height, after the 8-byte signature and the
     * chunk's length and type */
    int w = 1, h = 1;
    if (len >= 24) {
        uint32_t iw = be32(png + 16), ih = be32(png + 20);
        if (iw > 0 && ih > 0 && iw <= MAX_PIXELS && ih <= MAX_PIXELS / iw)
            w = (int)iw, h = (int)ih;
    }
    w += wider;
    float *image = malloc(sizeof *image * 3 * (size_t)w * (size_t)h);
    int32_t *mask = malloc(sizeof *mask * (size_t)w * (size_t)h);
    char err[512];
    if (image && mask) {
        if (nr_png_decode_image(png, len, "fuzz.png", c, h, w, image, err, sizeof err) != 0 &&
            strncmp(err, "fuzz.png: ", 10) != 0)
            abort(); /* every failure names the file */
        if (nr_png_decode_mask(png, len, "fuzz.png", h, w, classes, ignore, mask, err, sizeof err) == 0) {
            for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
                if ((mask[i] < 0 || mask[i] >= classes) && mask[i] != ignore)
                    abort(); /* a label the model does not have got through */
        } else if (strncmp(err, "fuzz.png: ", 10) != 0) {
            abort();
        }
    }
    free(image);
    free(mask);
    return 0;
}
