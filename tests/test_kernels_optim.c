/* test_kernels_optim.c — the optimizer kernels of kernels_optim.c: hand-worked
 * steps of Nesterov SGD and AdamW, every setting (both Adam forms, L2 and
 * decoupled weight decay, the gradient scale, clipvalue, Nesterov) against a
 * reference in double over several steps of 100 000 elements (so that many
 * chunks run), the sum of squares, and the same bits on 1 and on all
 * threads. */
#include "kcheck.h"

#include "kernels.h"

static void test_by_hand(void)
{
    /* Nesterov SGD, lr 0.1, momentum 0.9, g = 0.5 twice, p = 1:
     * v = 0.5, p -= 0.1 (0.5 + 0.45) -> 0.905; v = 0.95, p -= 0.1 (0.5 + 0.855) -> 0.7695 */
    float p = 1, v = 0, g = 0.5f;
    nr_opt o = {.lr = 0.1f, .momentum = 0.9f, .nesterov = 1, .scale = 1};
    nr_sgd_step(1, &p, &g, &v, &o);
    check(fabsf(p - 0.905f) < 1e-7f, "sgd nesterov step 1 by hand", "p %.9g", p);
    nr_sgd_step(1, &p, &g, &v, &o);
    check(fabsf(p - 0.7695f) < 1e-7f, "sgd nesterov step 2 by hand", "p %.9g", p);
    /* SGD with weight decay 0.1 and scale 0.5: g' = 0.25 + 0.1 = 0.35, p = 1 - 0.035 */
    p = 1, v = 0;
    o = (nr_opt){.lr = 0.1f, .weight_decay = 0.1f, .scale = 0.5f};
    nr_sgd_step(1, &p, &g, &v, &o);
    check(fabsf(p - 0.965f) < 1e-7f, "sgd weight decay and scale by hand", "p %.9g", p);
    /* AdamW, lr 0.01, wd 0.1, eps 1e-8, g = 0.5, p = 1, t = 1: p = 0.999;
     * m = 0.05, v = 0.00025; p -= 0.01/0.1 * 0.05 / (sqrt(0.00025)/sqrt(0.001) + 1e-8)
     * = 0.999 - 0.1 * 0.05 / 0.50000001 = 0.98900000020 */
    float m = 0;
    p = 1, v = 0;
    o = (nr_opt){.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f,
                 .scale = 1, .form = NR_ADAM_PYTORCH, .decoupled = 1, .t = 1};
    nr_adam_step(1, &p, &g, &m, &v, &o);
    check(fabsf(p - 0.989f) < 2e-7f, "adamw step 1 by hand", "p %.9g", p);
    /* the first pytorch-form step of a tiny gradient is lr (eps 1e-8 is
     * negligible next to |g|); the keras form's is less than half of it,
     * because its eps 1e-7 sits next to sqrt(v) = sqrt(0.001) |g| */
    float pk = 0, pt = 0, mk = 0, vk = 0, mt = 0, vt = 0, tiny = 2e-6f;
    nr_opt k = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f, .scale = 1, .t = 1};
    nr_opt t = k;
    t.eps = 1e-8f, t.form = NR_ADAM_PYTORCH;
    nr_adam_step(1, &pk, &tiny, &mk, &vk, &k);
    nr_adam_step(1, &pt, &tiny, &mt, &vt, &t);
    check(fabsf(pt + 1e-3f) < 1e-5f && fabsf(pk) < 0.5f * fabsf(pt), "adam keras vs pytorch first step, g = 2e-6",
          "keras %.6g pytorch %.6g", pk, pt);
}

#define N 100000

/* Four steps of each setting from the same random start against ref_step. */
static void test_against_reference(void)
{
    static float p[N], g[N], m[N], v[N];
    static double pd[N], md[N], vd[N];
    const struct {
        const char *name;
        int adam;
        nr_opt o;
    } cases[] = {
        {"sgd", 0, {.lr = 0.1f, .scale = 1}},
        {"sgd momentum, clip 0.7", 0, {.lr = 0.05f, .momentum = 0.9f, .clip = 0.7f, .scale = 1}},
        {"sgd nesterov, weight decay, scale", 0,
         {.lr = 0.05f, .momentum = 0.99f, .nesterov = 1, .weight_decay = 3e-3f, .scale = 0.25f}},
        {"adam keras", 1, {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f, .scale = 1}},
        {"adam keras, clip, L2, scale", 1,
         {.lr = 1e-3f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-7f, .clip = 0.5f, .weight_decay = 0.1f,
          .scale = 0.3f}},
        {"adam pytorch", 1, {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .scale = 1,
                             .form = NR_ADAM_PYTORCH}},
        {"adam pytorch, L2", 1, {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                 .weight_decay = 0.05f, .scale = 1, .form = NR_ADAM_PYTORCH}},
        {"adamw, scale", 1, {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                             .scale = 0.5f, .form = NR_ADAM_PYTORCH, .decoupled = 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        nr_opt o = cases[c].o;
        for (int i = 0; i < N; i++) {
            p[i] = frand(), m[i] = v[i] = 0;
            pd[i] = p[i], md[i] = vd[i] = 0;
        }
        for (int step = 1; step <= 4; step++) {
            o.t = step;
            for (int i = 0; i < N; i++)
                g[i] = frand() * (i % 7 == 0 ? 1e-5f : 1.0f);
            if (cases[c].adam)
                nr_adam_step(N, p, g, m, v, &o);
            else
                nr_sgd_step(N, p, g, v, &o);
            for (int i = 0; i < N; i++)
                ref_step(&o, cases[c].adam, &pd[i], g[i], &md[i], &vd[i]);
        }
        double worst = 0;
        int64_t at = 0;
        for (int i = 0; i < N; i++) {
            double e = fabs(p[i] - pd[i]) / (fabs(pd[i]) > 1 ? fabs(pd[i]) : 1);
            if (e > worst)
                worst = e, at = i;
        }
        char name[128];
        snprintf(name, sizeof name, "%s: 4 steps of %d elements against double", cases[c].name, N);
        check(worst < 2e-6, name, "err %.3g at [%lld]: %.9g vs %.9g", worst, (long long)at, p[at], pd[at]);
    }
}

static void test_sum_squares_and_threads(void)
{
    static float x[3 * N + 5];
    double want = 0;
    for (int i = 0; i < 3 * N + 5; i++) {
        x[i] = frand();
        want += (double)x[i] * x[i];
    }
    double got = nr_sum_squares(3 * N + 5, x);
    check(fabs(got - want) <= 1e-12 * want, "sum of squares of 300005 floats", "%.17g vs %.17g", got, want);
    check(nr_sum_squares(0, x) == 0, "sum of squares of nothing", "not 0");
    float one[1] = {3};
    check(nr_sum_squares(1, one) == 9, "sum of squares of one float", "not 9");
    /* the same bits on one thread and on all */
    static float p1[N], pn[N], m1[N], mn[N], v1[N], vn[N], g[N];
    for (int i = 0; i < N; i++) {
        p1[i] = pn[i] = frand(), g[i] = frand();
        m1[i] = mn[i] = v1[i] = vn[i] = 0;
    }
    nr_opt o = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                .scale = 0.7f, .form = NR_ADAM_PYTORCH, .decoupled = 1, .t = 1};
    int threads = nr_kernels_threads();
    nr_kernels_set_threads(1);
    double s1 = nr_sum_squares(3 * N + 5, x);
    nr_adam_step(N, p1, g, m1, v1, &o);
    nr_kernels_set_threads(threads);
    double sn = nr_sum_squares(3 * N + 5, x);
    nr_adam_step(N, pn, g, mn, vn, &o);
    check(s1 == sn && memcmp(p1, pn, sizeof p1) == 0 && memcmp(v1, vn, sizeof v1) == 0,
          "sum of squares and adamw: the same bits on 1 and on all threads", "differ");
}

int main(void)
{
    nr_kernels_set_threads(0);
    test_by_hand();
    test_against_reference();
    test_sum_squares_and_threads();
    return check_done();
}
