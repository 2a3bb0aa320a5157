/* test_planner.c — netrun plan's pieces without netc: the 8-connected
 * components of data/fingerprint.c (by hand, and against a flood fill on
 * random masks), the histogram percentiles, nnU-Net's depth rule, and the
 * search of jobs/plan_search.c over a cost function given here (patch
 * first, then a batch of 2, then BASE; the batch bisection; batch 1 when no
 * patch takes 2; the smallest configuration's bytes when nothing fits; a
 * failing cost).  Prints "ok - name" / "FAIL - name: detail". */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "components.h"
#include "fingerprint.h"
#include "plan.h"
#include "util.h"

static void test_components_by_hand(void)
{
    /* 8-connected: the two 3s touch at a corner (one object); the 1 at the
     * bottom right touches no other 1 */
    const int32_t m[16] = {1, 1, 0, 2,
                           0, 1, 0, 2,
                           3, 0, 0, 0,
                           0, 3, 0, 1};
    const int32_t want[16] = {0, 0, 1, 2,
                              1, 0, 1, 2,
                              3, 1, 1, 1,
                              1, 3, 1, 4};
    int32_t label[16];
    int64_t n = nr_components(m, 4, 4, label);
    check(n == 5 && !memcmp(label, want, sizeof want), "components: 8-connected, numbered in raster order",
          "%lld components", (long long)n);
    /* a U: its arms meet only at the bottom row, after both got numbers */
    const int32_t u[9] = {1, 0, 1,
                          1, 0, 1,
                          1, 1, 1};
    n = nr_components(u, 3, 3, label);
    check(n == 2 && label[0] == label[2] && label[0] == label[8] && label[1] == label[4] && label[1] != label[0],
          "components: a U is one object (roots joined late)", "%lld components", (long long)n);
    const int32_t one = 7;
    check(nr_components(&one, 1, 1, label) == 1 && label[0] == 0, "components: one pixel", "");
}

/* The components by flood fill (8 neighbours), numbered in raster order. */
static int64_t flood(const int32_t *m, int h, int w, int32_t *label, int32_t *stack)
{
    int64_t n = 0;
    for (int i = 0; i < h * w; i++)
        label[i] = -1;
    for (int s = 0; s < h * w; s++) {
        if (label[s] >= 0)
            continue;
        int top = 0;
        stack[top++] = s;
        label[s] = (int32_t)n;
        while (top) {
            int i = stack[--top], y = i / w, x = i % w;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx, j = yy * w + xx;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w || label[j] >= 0 || m[j] != m[i])
                        continue;
                    label[j] = (int32_t)n;
                    stack[top++] = j;
                }
        }
        n++;
    }
    return n;
}

static void test_components_random(void)
{
    enum { H = 19, W = 23 };
    int32_t m[H * W], got[H * W], want[H * W], stack[H * W];
    uint64_t s = 42;
    int bad = 0;
    for (int t = 0; t < 200 && !bad; t++) {
        int values = 2 + t % 3;
        for (int i = 0; i < H * W; i++)
            m[i] = (int32_t)(ng_splitmix64_next(&s) % (uint64_t)values);
        int64_t a = nr_components(m, H, W, got), b = flood(m, H, W, want, stack);
        bad = a != b || memcmp(got, want, sizeof got);
    }
    check(!bad, "components: 200 random masks as a flood fill labels them", "");
}

static void test_percentiles(void)
{
    uint64_t hist[256] = {0};
    check(nr_hist_percentile(hist, 256, 50) == 0, "percentile of nothing is 0", "");
    for (int v = 0; v < 100; v++) /* the values 0/255 .. 99/255, once each */
        hist[v] = 1;
    double p005 = nr_hist_percentile(hist, 256, 0.5), p50 = nr_hist_percentile(hist, 256, 50),
           p995 = nr_hist_percentile(hist, 256, 99.5), p100 = nr_hist_percentile(hist, 256, 100);
    check(p005 == 0 && p50 == 49.0 / 255 && p995 == 99.0 / 255 && p100 == 99.0 / 255,
          "percentiles by nearest rank (0.5, 50, 99.5, 100 of 100 values)", "%g %g %g %g", p005, p50, p995, p100);
    memset(hist, 0, sizeof hist);
    hist[10] = 995, hist[200] = 5; /* 0.5% at 200/255 */
    check(nr_hist_percentile(hist, 256, 99.5) == 10.0 / 255 && nr_hist_percentile(hist, 256, 99.6) == 200.0 / 255,
          "percentile 99.5 leaves the top 0.5% out", "");
}

static void test_depth(void)
{
    int ok = nr_plan_depth(64) == 4 && nr_plan_depth(16) == 2 && nr_plan_depth(48) == 3 && nr_plan_depth(80) == 4 &&
             nr_plan_depth(256) == NR_PLAN_MAX_DEPTH && nr_plan_depth(32) == 3;
    check(ok, "depth: poolings while features >= 4 px and the side divisible, at most 5", "64: %d, 48: %d, 256: %d",
          nr_plan_depth(64), nr_plan_depth(48), nr_plan_depth(256));
}

/* A fake cost: base^2 * 1000 for the parameters, size^2 * batch * base * 10
 * for the activations; counts its calls and may fail at a call. */
typedef struct {
    int calls, fail_at;
} fake;

static int64_t fake_bytes(const nr_plan_cfg *c)
{
    return (int64_t)c->base * c->base * 1000 + (int64_t)c->size * c->size * c->batch * c->base * 10;
}

static int fake_cost(void *ctx, const nr_plan_cfg *c, int64_t *bytes, char *err, size_t errlen)
{
    fake *f = ctx;
    if (++f->calls == f->fail_at)
        return ng_fail(err, errlen, "netc failed");
    if (c->size % (1 << c->depth) || c->depth != nr_plan_depth(c->size) || c->classes != 5)
        return ng_fail(err, errlen, "bad configuration %d/%d", c->size, c->depth);
    *bytes = fake_bytes(c);
    return 0;
}

/* The spec of plan.h, by brute force: the first (size, base) in order at
 * which batch b fits, then the largest batch. */
static int reference(const nr_plan_need *need, nr_plan_cfg *out)
{
    static const int bases[] = NR_PLAN_BASES;
    for (int b = 2; b >= 1; b--)
        for (int size = (need->target + 15) / 16 * 16; size >= 16; size -= 16)
            for (int i = 0; i < 3; i++) {
                nr_plan_cfg c = {size, nr_plan_depth(size), bases[i], b, need->classes};
                if (fake_bytes(&c) + need->reserve > need->memory)
                    continue;
                for (int k = b; b == 2 && k <= need->batch_cap; k++) {
                    nr_plan_cfg d = c;
                    d.batch = k;
                    if (fake_bytes(&d) + need->reserve <= need->memory)
                        c = d;
                }
                *out = c;
                return 0;
            }
    return -1;
}

static void test_search(void)
{
    char err[512];
    nr_plan_choice ch;
    int agree = 1;
    char where[128] = "";
    /* budgets from roomy to tight: the search agrees with the brute force */
    for (int64_t mem = 200000000; mem > 300000 && agree; mem = mem * 7 / 8) {
        nr_plan_need need = {60, 5, 40, mem, 100000};
        fake f = {0, 0};
        nr_plan_cfg want = {0};
        int r = nr_plan_search(&need, fake_cost, &f, &ch, err, sizeof err), rr = reference(&need, &want);
        agree = r == rr && (r != 0 || !memcmp(&ch.cfg, &want, sizeof want)) && ch.compiles == f.calls;
        if (!agree)
            snprintf(where, sizeof where, "memory %lld: %d/%d/%d/%d, want %d/%d/%d/%d", (long long)mem, ch.cfg.size,
                     ch.cfg.depth, ch.cfg.base, ch.cfg.batch, want.size, want.depth, want.base, want.batch);
    }
    check(agree, "search: patch, then batch 2, then BASE, then the largest batch (as a brute force)", "%s", where);

    nr_plan_need roomy = {60, 5, 40, (int64_t)1 << 40, 0};
    fake f = {0, 0};
    check(nr_plan_search(&roomy, fake_cost, &f, &ch, err, sizeof err) == 0 && ch.cfg.size == 64 &&
              ch.cfg.depth == 4 && ch.cfg.base == 32 && ch.cfg.batch == 40,
          "search: roomy memory: the whole median image (60 -> 64), BASE 32, the batch cap", "%d/%d/%d",
          ch.cfg.size, ch.cfg.base, ch.cfg.batch);
    /* 64x64 fits batch 2 only with BASE 16: the patch wins over BASE */
    nr_plan_cfg c16 = {64, 4, 16, 2, 5}, c32 = {64, 4, 32, 2, 5};
    nr_plan_need mid = {64, 5, 40, fake_bytes(&c16), 0};
    check(fake_bytes(&c32) > mid.memory && nr_plan_search(&mid, fake_cost, &f, &ch, err, sizeof err) == 0 &&
              ch.cfg.size == 64 && ch.cfg.base == 16 && ch.cfg.batch == 2,
          "search: the patch before BASE", "%d/%d/%d", ch.cfg.size, ch.cfg.base, ch.cfg.batch);
    /* only batch 1 fits, at 16x16 */
    nr_plan_cfg one = {16, 2, 8, 1, 5};
    nr_plan_need tight = {64, 5, 40, fake_bytes(&one) + 10, 10};
    check(nr_plan_search(&tight, fake_cost, &f, &ch, err, sizeof err) == 0 && ch.cfg.size == 16 && ch.cfg.batch == 1 &&
              ch.cfg.base == 8,
          "search: batch 1 when no patch takes 2", "%d/%d/%d", ch.cfg.size, ch.cfg.base, ch.cfg.batch);
    /* nothing fits: the smallest configuration's bytes */
    nr_plan_need none = {64, 5, 40, fake_bytes(&one) + 9, 10};
    char want[64];
    snprintf(want, sizeof want, "needs %lld bytes", (long long)(fake_bytes(&one) + 10));
    check(nr_plan_search(&none, fake_cost, &f, &ch, err, sizeof err) == -1 && strstr(err, want) &&
              strstr(err, "the smallest (SIZE 16, DEPTH 2, BASE 8, BATCH 1)"),
          "search: nothing fits: the smallest and its bytes", "%s", err);
    /* a failing cost (netc) ends the search with its message */
    fake bad = {0, 3};
    check(nr_plan_search(&tight, fake_cost, &bad, &ch, err, sizeof err) == -1 && !strcmp(err, "netc failed"),
          "search: a failing cost is the error", "%s", err);
}

int main(void)
{
    test_components_by_hand();
    test_components_random();
    test_percentiles();
    test_depth();
    test_search();
    return check_done();
}
