/* surface.c — exact Euclidean distance transform, mask edges, and the boundary
 * metrics of surface.h (HD95, normalized surface Dice, boundary IoU) of one
 * class in one image.  Each costs O(pixels of the bounding box of truth | pred)
 * plus the sort of the edge distances. */
#include "surface.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t nr_surface_edt_ws(int h, int w)
{
    size_t n = (size_t)(h > w ? h : w);
    return (3 * n + 1) * sizeof(double) + n * sizeof(int);
}

/* d[q] = min over p with finite f[p] of (q - p)^2 + f[p], q = 0..n-1
 * (Felzenszwalb & Huttenlocher's lower envelope of parabolas); +INFINITY when
 * f has no finite entry.  z: n + 1 doubles, v: n ints of scratch. */
static void edt_1d(const double *f, int n, double *d, double *z, int *v)
{
    int k = -1;
    for (int q = 0; q < n; q++) {
        if (isinf(f[q]))
            continue; /* no parabola: the points of no feature are left out */
        if (k < 0) {
            k = 0, v[0] = q, z[0] = -INFINITY, z[1] = INFINITY;
            continue;
        }
        double fq = f[q] + (double)q * q, s;
        for (;;) { /* z[0] = -inf ends it */
            int p = v[k];
            s = (fq - (f[p] + (double)p * p)) / (2.0 * (q - p));
            if (s > z[k])
                break;
            k--; /* q's parabola hides v[k]'s from z[k] on */
        }
        k++;
        v[k] = q, z[k] = s, z[k + 1] = INFINITY;
    }
    if (k < 0) {
        for (int q = 0; q < n; q++)
            d[q] = INFINITY;
        return;
    }
    int j = 0;
    for (int q = 0; q < n; q++) {
        while (z[j + 1] < q)
            j++;
        double dq = (double)(q - v[j]);
        d[q] = dq * dq + f[v[j]];
    }
}

void nr_surface_edt(const uint8_t *feat, int h, int w, double *d2, void *ws)
{
    int n = h > w ? h : w;
    double *f = ws, *d = f + n, *z = d + n; /* z: n + 1 */
    int *v = (int *)(z + n + 1);
    for (int x = 0; x < w; x++) { /* columns: distance to the feature pixels of the column */
        for (int y = 0; y < h; y++)
            f[y] = feat[(size_t)y * w + x] ? 0.0 : INFINITY;
        edt_1d(f, h, d, z, v);
        for (int y = 0; y < h; y++)
            d2[(size_t)y * w + x] = d[y];
    }
    for (int y = 0; y < h; y++) { /* rows: over the columns' squared distances */
        double *row = d2 + (size_t)y * w;
        memcpy(f, row, sizeof *f * (size_t)w);
        edt_1d(f, w, row, z, v);
    }
}

void nr_surface_edges(const uint8_t *m, int h, int w, uint8_t *edge)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            int in = m[i] != 0;
            int kept = in && y > 0 && y < h - 1 && x > 0 && x < w - 1 && m[i - w] && m[i + w] && m[i - 1] && m[i + 1];
            edge[i] = (uint8_t)(in && !kept);
        }
}

int nr_surface_biou_d(int h, int w)
{
    double d = nearbyint(0.02 * sqrt((double)h * h + (double)w * w)); /* round half to even, as Python's round */
    return d < 1 ? 1 : (int)d;
}

/* b = m minus its erosion by the (2r+1) square, outside = 0; (h, w).
 * Separable: a pixel survives a pass when the r pixels on either side along
 * that axis are all set.  run: max(h, w) ints. */
static void inner_band(const uint8_t *m, int h, int w, int r, uint8_t *tmp, uint8_t *b, int *run)
{
    for (int y = 0; y < h; y++) { /* along rows: m into tmp */
        const uint8_t *s = m + (size_t)y * w;
        uint8_t *t = tmp + (size_t)y * w;
        for (int x = 0, c = 0; x < w; x++)
            run[x] = c = s[x] ? c + 1 : 0; /* set pixels ending at x */
        for (int x = w - 1, c = 0; x >= 0; x--) {
            c = s[x] ? c + 1 : 0; /* set pixels starting at x */
            t[x] = (uint8_t)(run[x] > r && c > r);
        }
    }
    for (int x = 0; x < w; x++) { /* along columns: tmp eroded, then b = m and not eroded */
        for (int y = 0, c = 0; y < h; y++)
            run[y] = c = tmp[(size_t)y * w + x] ? c + 1 : 0;
        for (int y = h - 1, c = 0; y >= 0; y--) {
            size_t i = (size_t)y * w + x;
            c = tmp[i] ? c + 1 : 0;
            b[i] = (uint8_t)(m[i] && !(run[y] > r && c > r));
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile(a, 95) (linear interpolation) of n > 0 values; sorts a. */
static double p95(double *a, size_t n)
{
    qsort(a, n, sizeof *a, cmp_double);
    double pos = 0.95 * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n)
        return a[n - 1];
    return a[lo] + (a[lo + 1] - a[lo]) * (pos - (double)lo);
}

/* The distances from the pixels of edge `from` to the nearest pixel of the
 * edge whose squared EDT is d2, into out; returns their count. */
static size_t edge_distances(const uint8_t *from, const double *d2, size_t n, double *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (from[i])
            out[k++] = sqrt(d2[i]);
    return k;
}

int nr_surface_compute(const uint8_t *truth, const uint8_t *pred, int h, int w, double tau, nr_surface *out)
{
    out->hd95 = out->nsd = out->biou = NAN;
    int y0 = h, y1 = -1, x0 = w, x1 = -1;
    int any_t = 0, any_p = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (!truth[i] && !pred[i])
                continue;
            any_t |= truth[i] != 0, any_p |= pred[i] != 0;
            y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
            x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
        }
    if (!any_t && !any_p)
        return 0;
    int ch = y1 - y0 + 1, cw = x1 - x0 + 1;
    size_t n = (size_t)ch * cw, at = 0;
    /* the crop's planes: t, p, their edges (then their bands), a scratch
     * plane, the squared distances, the distances from both edges, the EDT's
     * scratch */
    size_t sizes[] = {n, n, n, n, n, n * sizeof(double), 2 * n * sizeof(double), nr_surface_edt_ws(ch, cw)};
    size_t offs[8];
    for (int i = 0; i < 8; i++) {
        offs[i] = at;
        at += (sizes[i] + 15) & ~(size_t)15;
    }
    char *mem = malloc(at);
    if (!mem)
        return -1;
    uint8_t *t = (uint8_t *)mem + offs[0], *p = (uint8_t *)mem + offs[1];
    uint8_t *et = (uint8_t *)mem + offs[2], *ep = (uint8_t *)mem + offs[3], *tmp = (uint8_t *)mem + offs[4];
    double *d2 = (double *)(mem + offs[5]), *dist = (double *)(mem + offs[6]);
    void *ws = mem + offs[7];
    for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw; x++) {
            size_t s = (size_t)(y + y0) * w + (x + x0), c = (size_t)y * cw + x;
            t[c] = truth[s] != 0, p[c] = pred[s] != 0;
        }
    /* outside the crop is background within the image too, so edges and
     * bands are the same as over the whole image */
    nr_surface_edges(t, ch, cw, et);
    nr_surface_edges(p, ch, cw, ep);
    size_t nt = 0, np = 0, ok = 0;
    if (any_t && any_p) {
        nr_surface_edt(et, ch, cw, d2, ws);
        np = edge_distances(ep, d2, n, dist); /* prediction's edge to the truth's */
        nr_surface_edt(ep, ch, cw, d2, ws);
        nt = edge_distances(et, d2, n, dist + np);
        for (size_t i = 0; i < np + nt; i++)
            ok += dist[i] <= tau;
        double a = p95(dist, np), b = p95(dist + np, nt);
        out->hd95 = a > b ? a : b;
        out->nsd = (double)ok / (double)(np + nt);
    } else {
        out->nsd = 0; /* one edge set is empty: nothing of the other lies within tau of it */
    }
    int r = nr_surface_biou_d(h, w);
    int *run = (int *)ws;
    inner_band(t, ch, cw, r, tmp, et, run);
    inner_band(p, ch, cw, r, tmp, ep, run);
    size_t inter = 0, uni = 0;
    for (size_t i = 0; i < n; i++)
        inter += et[i] & ep[i], uni += et[i] | ep[i];
    out->biou = uni ? (double)inter / (double)uni : 0;
    free(mem);
    return 0;
}
