/* jpeg.c — nr_jpeg_*: JPEG through TurboJPEG (tjDecompressHeader3 for the
 * size and colour space, tjDecompress2 to 8-bit RGB or gray). */
#define _POSIX_C_SOURCE 200809L
#include "jpeg.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "png.h"
#include "util.h"

/* Files larger than this are not JPEGs netrun reads (256 MiB). */
#define JPEG_MAX_FILE ((long)1 << 28)

int nr_jpeg_sniff(const void *p, size_t n)
{
    const unsigned char *b = p;
    return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

int nr_jpeg_size(const char *path, int *h, int *w, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ng_fail(err, errlen, "%s: %s", path, strerror(errno));
    unsigned char b[9];
    int rc = -1;
    if (fread(b, 1, 2, f) != 2 || b[0] != 0xFF || b[1] != 0xD8)
        goto done;
    for (;;) { /* segments: FF, marker, 2-byte length (itself included), payload */
        int c;
        while ((c = fgetc(f)) == 0xFF) /* fill bytes before a marker */
            ;
        if (c == EOF || fread(b, 1, 2, f) != 2)
            goto done;
        long len = (long)b[0] << 8 | b[1];
        /* SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC): precision, height, width */
        if (c >= 0xC0 && c <= 0xCF && c != 0xC4 && c != 0xC8 && c != 0xCC) {
            if (len < 7 || fread(b, 1, 5, f) != 5)
                goto done;
            *h = b[1] << 8 | b[2];
            *w = b[3] << 8 | b[4];
            rc = 0;
            goto done;
        }
        if (c == 0xD9 || c == 0xDA || len < 2 || fseek(f, len - 2, SEEK_CUR) != 0)
            goto done; /* the image ends, or its scan starts, before any frame header */
    }
done:
    fclose(f);
    return rc == 0 ? 0 : ng_fail(err, errlen, "%s: corrupt JPEG (no frame header)", path);
}

/* The whole file into *buf (malloc'ed). */
static int read_file(const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = ng_open_input(path, NG_MAX_IMAGE);
    if (!f)
        return ng_fail(err, errlen, "%s: %s", path, ng_strerror(errno));
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return ng_fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    }
    if (n > JPEG_MAX_FILE) {
        fclose(f);
        return ng_fail(err, errlen, "%s: %ld bytes, too large for an image", path, n);
    }
    *buf = malloc((size_t)n + 1);
    if (!*buf) {
        fclose(f);
        return ng_fail(err, errlen, "%s: out of memory", path);
    }
    size_t got = fread(*buf, 1, (size_t)n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != (size_t)n) {
        free(*buf);
        *buf = NULL;
        return ng_fail(err, errlen, "%s: cannot read: %s", path, bad ? strerror(errno) : "file changed size");
    }
    *len = got;
    return 0;
}

int nr_jpeg_load_image(const char *path, const void *buf, size_t len, int c, int *h, int *w, float **out,
                       char *err, size_t errlen)
{
    *out = NULL;
    if (c != 1 && c != 3)
        return ng_fail(err, errlen, "%s: cannot load %d channels (1 or 3 supported)", path, c);
    unsigned char *own = NULL;
    if (!buf) {
        if (read_file(path, &own, &len, err, errlen) != 0)
            return -1;
        buf = own;
    }
    int rc = -1;
    unsigned char *px = NULL;
    tjhandle tj = NULL;
    if (!nr_jpeg_sniff(buf, len)) {
        ng_fail(err, errlen, "%s: not a JPEG file%s", path, len == 0 ? " (empty)" : "");
        goto done;
    }
    if (len > (size_t)JPEG_MAX_FILE) {
        ng_fail(err, errlen, "%s: %zu bytes, too large for an image", path, len);
        goto done;
    }
    if (!(tj = tjInitDecompress())) {
        ng_fail(err, errlen, "%s: cannot start the JPEG decoder: %s", path, tjGetErrorStr2(NULL));
        goto done;
    }
    int jw, jh, sub, cs;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &jw, &jh, &sub, &cs) != 0) {
        ng_fail(err, errlen, "%s: corrupt JPEG (%s)", path, tjGetErrorStr2(tj));
        goto done;
    }
    if (jw <= 0 || jh <= 0 || jw > NR_IMAGE_MAX_SIDE || jh > NR_IMAGE_MAX_SIDE ||
        (int64_t)jw * jh > NR_IMAGE_MAX_PIXELS) {
        ng_fail(err, errlen, "%s: %dx%d pixels: too large (at most %d per side, %d in all)", path, jw, jh,
                NR_IMAGE_MAX_SIDE, NR_IMAGE_MAX_PIXELS);
        goto done;
    }
    if (cs == TJCS_CMYK || cs == TJCS_YCCK) {
        ng_fail(err, errlen, "%s: CMYK JPEG; convert it to RGB or grayscale", path);
        goto done;
    }
    int gray = cs == TJCS_GRAY;
    int nch = gray ? 1 : 3;
    size_t hw = (size_t)jw * (size_t)jh;
    px = malloc(hw * (size_t)nch);
    float *o = malloc(hw * (size_t)c * sizeof *o);
    if (!px || !o) {
        free(o);
        ng_fail(err, errlen, "%s: out of memory", path);
        goto done;
    }
    /* TJFLAG_STOPONWARNING: a truncated or damaged file is an error, not a
     * grey half image; TJFLAG_LIMITSCANS: no progressive-scan bombs. */
    if (tjDecompress2(tj, buf, (unsigned long)len, px, jw, jw * nch, jh, gray ? TJPF_GRAY : TJPF_RGB,
                      TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
        ng_fail(err, errlen, "%s: corrupt JPEG (%s)", path, tjGetErrorStr2(tj));
        free(o);
        goto done;
    }
    for (size_t p = 0; p < hw; p++) {
        if (gray) {
            float v = (float)px[p] / 255.0f;
            for (int k = 0; k < c; k++)
                o[(size_t)k * hw + p] = v;
        } else {
            float r = px[3 * p] / 255.0f, g = px[3 * p + 1] / 255.0f, b = px[3 * p + 2] / 255.0f;
            if (c == 1)
                o[p] = 0.299f * r + 0.587f * g + 0.114f * b;
            else
                o[p] = r, o[hw + p] = g, o[2 * hw + p] = b;
        }
    }
    *out = o, *h = jh, *w = jw;
    rc = 0;
done:
    if (tj)
        tjDestroy(tj);
    free(px);
    free(own);
    return rc;
}

int nr_jpeg_write(const char *path, int h, int w, int channels, const unsigned char *px, int quality,
                  char *err, size_t errlen)
{
    tjhandle tj = tjInitCompress();
    if (!tj)
        return ng_fail(err, errlen, "%s: cannot start the JPEG encoder", path);
    unsigned char *jpg = NULL;
    unsigned long n = 0;
    int rc = tjCompress2(tj, px, w, w * channels, h, channels == 1 ? TJPF_GRAY : TJPF_RGB, &jpg, &n,
                         channels == 1 ? TJSAMP_GRAY : TJSAMP_420, quality, 0);
    if (rc != 0) {
        ng_fail(err, errlen, "%s: %s", path, tjGetErrorStr2(tj));
    } else {
        rc = ng_atomic_write(path, jpg, n, 0, err, errlen);
    }
    tjFree(jpg);
    tjDestroy(tj);
    return rc;
}
