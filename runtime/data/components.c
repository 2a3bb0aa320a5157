/* components.c — connected components (components.h), 8-connected, over a
 * union-find whose root is its set's smallest member.  nr_cc_label: a first
 * raster pass gives each set pixel the smallest provisional label of its
 * set neighbours above and to the left and unites the others with it; a
 * second pass replaces each label by its root's final number.
 * nr_components: every pixel its own set, joined with its equal neighbours
 * above and to the left; roots numbered in raster order. */
#include "components.h"

#include <stdlib.h>

static int32_t root(int32_t *parent, int32_t a)
{
    while (parent[a] != a)
        a = parent[a] = parent[parent[a]]; /* path halving */
    return a;
}

static int32_t unite(int32_t *parent, int32_t a, int32_t b)
{
    a = root(parent, a), b = root(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
    return a < b ? a : b;
}

int nr_cc_label(const uint8_t *m, int h, int w, int32_t *lab, int64_t *size)
{
    /* provisional labels: at most one per pixel with no set neighbour
     * before it, i.e. at most ceil(h/2) * ceil(w/2) */
    size_t cap = (size_t)nr_cc_max(h, w) + 1;
    int32_t *parent = malloc(sizeof *parent * cap), *final = malloc(sizeof *final * cap);
    if (!parent || !final) {
        free(parent);
        free(final);
        return -1;
    }
    int32_t next = 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (!m[i]) {
                lab[i] = 0;
                continue;
            }
            /* the neighbours already seen: W, NW, N, NE */
            int32_t nb[4] = {x > 0 ? lab[i - 1] : 0, y > 0 && x > 0 ? lab[i - w - 1] : 0, y > 0 ? lab[i - w] : 0,
                             y > 0 && x < w - 1 ? lab[i - w + 1] : 0};
            int32_t l = 0;
            for (int k = 0; k < 4; k++)
                if (nb[k])
                    l = l ? unite(parent, l, nb[k]) : nb[k];
            if (!l) {
                l = next++;
                parent[l] = l;
            }
            lab[i] = l;
        }
    int32_t n = 0;
    for (int32_t l = 1; l < next; l++) /* roots in order of first appearance: a root is its set's smallest label */
        final[l] = root(parent, l) == l ? ++n : 0;
    for (int32_t i = 0; i <= n; i++)
        size[i] = 0;
    for (size_t i = 0; i < (size_t)h * w; i++)
        if (lab[i]) {
            lab[i] = final[root(parent, lab[i])];
            size[lab[i]]++;
        }
    free(parent);
    free(final);
    return n;
}

int64_t nr_components(const int32_t *mask, int h, int w, int32_t *label)
{
    int32_t n = (int32_t)((int64_t)h * w);
    for (int32_t i = 0; i < n; i++)
        label[i] = i;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) { /* the neighbours already visited: W, NW, N, NE */
            int32_t i = y * w + x, v = mask[i];
            if (x > 0 && mask[i - 1] == v) unite(label, i, i - 1);
            if (y > 0) {
                int32_t up = i - w;
                if (x > 0 && mask[up - 1] == v) unite(label, i, up - 1);
                if (mask[up] == v) unite(label, i, up);
                if (x + 1 < w && mask[up + 1] == v) unite(label, i, up + 1);
            }
        }
    /* roots become -(id + 1) in raster order; every other pixel's parent
     * lies before it (uf_join links to the smaller root), so it already
     * holds its component's number */
    int32_t count = 0;
    for (int32_t i = 0; i < n; i++)
        label[i] = label[i] == i ? -(++count) : label[label[i]];
    for (int32_t i = 0; i < n; i++)
        label[i] = -label[i] - 1;
    return count;
}
