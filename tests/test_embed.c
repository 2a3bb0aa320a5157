/* test_embed.c — libnetrun (runtime/api/netrun.h) through its public header
 * only, on a model and checkpoints that tests/e2e_embed.sh trains:
 *     test_embed GRAPH.netg IMAGE A.safetensors B.safetensors OTHER.safetensors
 * (OTHER: a checkpoint of another graph).  An ensemble's probabilities are
 * the average of its members' (A,A is A bit for bit; A,B is neither A nor
 * B); each pixel's sum 1 and the mask their argmax; a batch of images is
 * each image run alone; two threads with a handle each get what one thread
 * gets; the error paths return -1 with a message. */
#include <math.h>
#include <netrun.h>
#include <pthread.h>

#include "check.h"

/* A handle on graph with the weights paths[0..n), or NULL (a failed check). */
static netrun *open_with(const char *graph, const char *const *paths, int n)
{
    netrun *h;
    if (netrun_open(&h, graph) != 0 || netrun_load_weights(h, paths, n) != 0) {
        check(0, "open and load", "%s", netrun_errmsg(h));
        netrun_close(h);
        return NULL;
    }
    return h;
}

/* The probabilities (K,H,W) and mask of image under the weights paths; 0 or -1. */
static int probs_of(const char *graph, const char *image, const char *const *paths, int n, float **p, uint8_t **mask,
                    int *hh, int *ww)
{
    netrun *h = open_with(graph, paths, n);
    int rc = h ? netrun_run_file(h, image, hh, ww, p, mask) : -1;
    if (h && rc != 0)
        check(0, "netrun_run_file", "%s", netrun_errmsg(h));
    netrun_close(h);
    return rc;
}

/* One thread's run: its own handle on one image buffer. */
typedef struct {
    netrun *h;
    const float *img;
    int c, hh, ww, rc;
    float *probs;
} thread_run;

static void *run_thread(void *arg)
{
    thread_run *t = arg;
    t->rc = netrun_run(t->h, t->img, 1, t->c, t->hh, t->ww, t->probs, NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: test_embed GRAPH.netg IMAGE A.safetensors B.safetensors OTHER.safetensors\n");
        return 2;
    }
    const char *graph = argv[1], *image = argv[2], *a = argv[3], *b = argv[4], *other = argv[5];
    netrun *h;

    /* errors: a message naming what is wrong, and no exit */
    int rc = netrun_open(&h, "no/such.netg");
    check(rc == -1 && h && strstr(netrun_errmsg(h), "no/such.netg"), "a missing graph: -1, named", "rc %d: %s", rc,
          netrun_errmsg(h));
    netrun_close(h);
    check(!strcmp(netrun_errmsg(NULL), "out of memory"), "a NULL handle's message", "%s", netrun_errmsg(NULL));
    netrun_open(&h, graph);
    rc = netrun_set(h, "overlapp", "0.5");
    check(rc == -1 && strstr(netrun_errmsg(h), "overlapp"), "an unknown option is refused", "%s", netrun_errmsg(h));
    float px[1] = {0};
    rc = netrun_run(h, px, 1, 1, 1, 1, NULL, NULL);
    check(rc == -1 && strstr(netrun_errmsg(h), "no weights"), "a run before the weights is refused", "%s",
          netrun_errmsg(h));
    rc = netrun_load_weights(h, (const char *[]){a, other}, 2);
    check(rc == -1 && strstr(netrun_errmsg(h), other) && strstr(netrun_errmsg(h), ": tensor '"),
          "a member of another graph: an error naming its file and tensor", "%s", netrun_errmsg(h));
    netrun_close(h);

    int H, W, h2, w2, K;
    float *pa = NULL, *pb = NULL, *pab = NULL, *paa = NULL;
    uint8_t *ma = NULL, *mab = NULL, *maa = NULL;
    if (probs_of(graph, image, (const char *[]){a}, 1, &pa, &ma, &H, &W) != 0 ||
        probs_of(graph, image, (const char *[]){b}, 1, &pb, NULL, &h2, &w2) != 0 ||
        probs_of(graph, image, (const char *[]){a, b}, 2, &pab, &mab, &h2, &w2) != 0 ||
        probs_of(graph, image, (const char *[]){a, a}, 2, &paa, &maa, &h2, &w2) != 0)
        return check_done();
    h = open_with(graph, (const char *[]){a}, 1);
    if (!h)
        return check_done();
    K = netrun_classes(h);
    size_t hw = (size_t)H * W, n = (size_t)K * hw;
    check(!memcmp(pa, paa, sizeof *pa * n) && !memcmp(ma, maa, hw), "ensemble A,A = A, bit for bit", "%dx%d", H, W);
    double d_avg = 0, d_a = 0, d_b = 0, d_sum = 0;
    size_t not_argmax = 0;
    for (size_t i = 0; i < n; i++) {
        d_avg = fmax(d_avg, fabs(pab[i] - 0.5 * ((double)pa[i] + pb[i])));
        d_a = fmax(d_a, fabs((double)pab[i] - pa[i]));
        d_b = fmax(d_b, fabs((double)pab[i] - pb[i]));
    }
    for (size_t p = 0; p < hw; p++) {
        double sum = 0;
        int best = 0;
        for (int k = 0; k < K; k++) {
            sum += pab[k * hw + p];
            best = pab[k * hw + p] > pab[best * hw + p] ? k : best;
        }
        d_sum = fmax(d_sum, fabs(sum - 1));
        not_argmax += mab[p] != best;
    }
    check(d_avg < 1e-6 && d_a > 1e-3 && d_b > 1e-3, "ensemble A,B = (A + B) / 2, and neither A nor B",
          "max |AB - avg| %g, |AB - A| %g, |AB - B| %g", d_avg, d_a, d_b);
    check(d_sum < 1e-5 && not_argmax == 0, "probabilities sum to 1; the mask is their argmax",
          "max |sum - 1| %g, %zu pixels off", d_sum, not_argmax);

    /* a buffer of two images: the second is the first flipped; each as run alone */
    int C, th, tw;
    netrun_input_shape(h, &C, &th, &tw);
    float *img = malloc(sizeof *img * 2 * C * hw), *p2 = malloc(sizeof *p2 * 2 * n), *p1 = malloc(sizeof *p1 * n);
    uint8_t *m2 = malloc(2 * hw), *m1 = malloc(hw);
    for (size_t i = 0; i < (size_t)C * hw; i++) {
        img[i] = (float)((i * 2654435761u) % 1000) / 999.0f;
        img[C * hw + i] = img[C * hw - 1 - i];
    }
    rc = netrun_run(h, img, 2, C, H, W, p2, m2);
    int rc1 = netrun_run(h, img + C * hw, 1, C, H, W, p1, m1);
    check(rc == 0 && rc1 == 0 && !memcmp(p2 + n, p1, sizeof *p1 * n) && !memcmp(m2 + hw, m1, hw),
          "the second image of a batch = that image alone", "rc %d %d: %s", rc, rc1, netrun_errmsg(h));
    /* two threads, a handle each (A and the ensemble A,B), at once: what each gets alone */
    netrun *hab = open_with(graph, (const char *[]){a, b}, 2);
    float *t1 = malloc(sizeof *t1 * n), *t2 = malloc(sizeof *t2 * n), *s2 = malloc(sizeof *s2 * n);
    thread_run tr[2] = {{h, img, C, H, W, -1, t1}, {hab, img, C, H, W, -1, t2}};
    pthread_t thr[2];
    int started = 0;
    for (int i = 0; hab && i < 2; i++)
        started += pthread_create(&thr[i], NULL, run_thread, &tr[i]) == 0;
    for (int i = 0; i < started; i++)
        pthread_join(thr[i], NULL);
    rc = hab ? netrun_run(hab, img, 1, C, H, W, s2, NULL) : -1;
    check(started == 2 && tr[0].rc == 0 && tr[1].rc == 0 && rc == 0 && !memcmp(t1, p2, sizeof *t1 * n) &&
              !memcmp(t2, s2, sizeof *t2 * n),
          "two threads, a handle each: each as alone", "started %d, rc %d %d %d", started, tr[0].rc, tr[1].rc, rc);
    netrun_close(hab);
    free(t1), free(t2), free(s2);
    rc = netrun_run(h, img, 1, C + 1, H, W, NULL, m1);
    check(rc == -1 && strstr(netrun_errmsg(h), "channels"), "the wrong channel count is refused", "%s",
          netrun_errmsg(h));
    rc = netrun_set(h, "tta", "flips");
    check(rc == -1 && strstr(netrun_errmsg(h), "before"), "options after the weights are refused", "%s",
          netrun_errmsg(h));
    uint8_t *mf = m1;
    rc = netrun_run_file(h, "no/such.png", &h2, &w2, NULL, &mf);
    check(rc == -1 && mf == NULL && strstr(netrun_errmsg(h), "no/such.png"), "a missing image: named", "%s",
          netrun_errmsg(h));
    netrun_close(h);
    free(img), free(p2), free(p1), free(m2), free(m1);
    free(pa), free(pb), free(pab), free(paa), free(ma), free(mab), free(maa);
    return check_done();
}
