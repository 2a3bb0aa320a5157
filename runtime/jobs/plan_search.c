/* plan_search.c — netrun plan's search over configurations (plan.h): patch
 * first, then a batch of at least 2, then BASE, each configuration's cost
 * from a cost function (the compiled graph's, in netrun). */
#include "plan.h"

#include <stdio.h>

#include "util.h"

int nr_plan_depth(int size)
{
    int d = 0;
    while (d < NR_PLAN_MAX_DEPTH && size % (2 << d) == 0 && size / (2 << d) >= 4)
        d++;
    return d;
}

typedef struct {
    const nr_plan_need *need;
    nr_plan_cost_fn cost;
    void *ctx;
    nr_plan_choice *out;
    char *err;
    size_t errlen;
} search;

/* 1 when cfg fits (its bytes in *bytes), 0 when not, -1 on failure. */
static int fits(search *s, const nr_plan_cfg *cfg, int64_t *bytes)
{
    s->out->compiles++;
    if (s->cost(s->ctx, cfg, bytes, s->err, s->errlen) != 0)
        return -1;
    return *bytes + s->need->reserve <= s->need->memory;
}

static nr_plan_cfg config(const search *s, int size, int base, int batch)
{
    return (nr_plan_cfg){size, nr_plan_depth(size), base, batch, s->need->classes};
}

/* Step 1 (or 3) at this batch: 1 with s->out set, 0 when none fits, -1. */
static int largest_patch(search *s, int batch)
{
    static const int bases[] = NR_PLAN_BASES;
    int top = (s->need->target + 15) / 16 * 16;
    for (int size = top > NR_PLAN_MIN_SIZE ? top : NR_PLAN_MIN_SIZE; size >= NR_PLAN_MIN_SIZE; size -= 16)
        for (size_t b = 0; b < sizeof bases / sizeof *bases; b++) {
            nr_plan_cfg c = config(s, size, bases[b], batch);
            int64_t bytes;
            int r = fits(s, &c, &bytes);
            if (r < 0)
                return -1;
            if (r) {
                s->out->cfg = c;
                s->out->model_bytes = bytes;
                return 1;
            }
        }
    return 0;
}

int nr_plan_search(const nr_plan_need *need, nr_plan_cost_fn cost, void *ctx, nr_plan_choice *out, char *err,
                   size_t errlen)
{
    *out = (nr_plan_choice){{0}, 0, 0};
    search s = {need, cost, ctx, out, err, errlen};
    int r = largest_patch(&s, 2);
    if (r == 1) { /* step 2: bisect the batch in (lo fits, hi does not) */
        int64_t lo = 2, hi = need->batch_cap + 1;
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2, bytes;
            nr_plan_cfg c = config(&s, out->cfg.size, out->cfg.base, (int)mid);
            int f = fits(&s, &c, &bytes);
            if (f < 0)
                return -1;
            if (f) {
                lo = mid;
                out->cfg = c;
                out->model_bytes = bytes;
            } else {
                hi = mid;
            }
        }
        return 0;
    }
    if (r == 0)
        r = largest_patch(&s, 1);
    if (r < 0)
        return -1;
    if (r == 1)
        return 0;
    static const int bases[] = NR_PLAN_BASES;
    nr_plan_cfg c = config(&s, NR_PLAN_MIN_SIZE, bases[sizeof bases / sizeof *bases - 1], 1);
    int64_t bytes;
    if (fits(&s, &c, &bytes) < 0)
        return -1;
    return ng_fail(err, errlen,
                   "no configuration fits %lld bytes (%.1f MiB): the smallest (SIZE %d, DEPTH %d, BASE %d, "
                   "BATCH 1) needs %lld bytes (%.1f MiB: %lld for the model, %lld besides)",
                   (long long)need->memory, need->memory / 1048576.0, c.size, c.depth, c.base,
                   (long long)(bytes + need->reserve), (bytes + need->reserve) / 1048576.0, (long long)bytes,
                   (long long)need->reserve);
}
