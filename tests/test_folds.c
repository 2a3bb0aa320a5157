/* test_folds.c — the cross-validation split of runtime/jobs/folds.c on masks
 * written here: fold sizes, a rare class in every fold, the same split from
 * any listing order, the held-out and training sets of nr_folds_make, and
 * the errors (too few or too many folds, one class, a fold out of range).
 * Works in a fresh mkdtemp folder; prints "ok - name" / "FAIL - name: detail". */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "folds.h"
#include "layout.h"
#include "png.h"

#include <stdint.h>

enum { N = 30, K = 3, S = 8, CLASSES = 5 };
static char err[1024];

/* The classes of image i: 1 in all, 2 in every third, 3 in three images,
 * 4 in five others. */
static int has(int i, int c)
{
    switch (c) {
    case 1: return 1;
    case 2: return i % 3 == 0;
    case 3: return i == 4 || i == 11 || i == 25;
    case 4: return i == 1 || i == 2 || i == 7 || i == 13 || i == 19;
    default: return 0;
    }
}

static void write_set(const char *set, int one_class)
{
    mkdirs(P("%s/images", set));
    mkdirs(P("%s/masks", set));
    uint8_t img[S * S] = {0}, m[S * S];
    for (int i = 0; i < N; i++) {
        memset(m, 0, sizeof m);
        for (int c = 1; c < CLASSES && !one_class; c++)
            if (has(i, c))
                m[c * 4] = m[c * 4 + 1] = (uint8_t)c;
        char name[32];
        snprintf(name, sizeof name, "s%02d.png", i);
        if (nr_png_write_gray8(P("%s/images/%s", set, name), S, S, img, err, sizeof err) != 0 ||
            nr_png_write_gray8(P("%s/masks/%s", set, name), S, S, m, err, sizeof err) != 0) {
            fprintf(stderr, "cannot write %s: %s\n", name, err);
            exit(1);
        }
    }
}

/* The image number of a sample name "sNN". */
static int num(const char *name)
{
    return atoi(name + 1);
}

static void test_assign(nr_dataset *ds)
{
    int fold[N], again[N], size[K] = {0}, cover[CLASSES][K] = {{0}};
    int rc = nr_folds_assign(ds, CLASSES, 255, K, fold, err, sizeof err);
    check(rc == 0, "assign 3 folds", "%s", err);
    if (rc != 0)
        return;
    for (int j = 0; j < N; j++) {
        size[fold[j]]++;
        for (int c = 1; c < CLASSES; c++)
            cover[c][fold[j]] |= has(num(nr_dataset_name(ds, j)), c);
    }
    check(size[0] == 10 && size[1] == 10 && size[2] == 10, "the folds have 10 images each", "%d %d %d", size[0],
          size[1], size[2]);
    int all = 1;
    for (int c = 1; c < CLASSES; c++)
        for (int f = 0; f < K; f++)
            all &= cover[c][f];
    check(all, "every class in every fold (class 3: 3 images, class 4: 5)", "class 3: %d %d %d, class 4: %d %d %d",
          cover[3][0], cover[3][1], cover[3][2], cover[4][0], cover[4][1], cover[4][2]);
    nr_folds_assign(ds, CLASSES, 255, K, again, err, sizeof err);
    check(!memcmp(fold, again, sizeof fold), "the split is deterministic", "");

    /* the same images listed backwards: each name keeps its fold */
    nr_dataset *rev = nr_dataset_new(1);
    for (int j = N - 1; j >= 0; j--)
        nr_dataset_add(rev, nr_dataset_name(ds, j), nr_dataset_image_path(ds, j), nr_dataset_mask_path(ds, j));
    rc = nr_folds_assign(rev, CLASSES, 255, K, again, err, sizeof err);
    int same = rc == 0;
    for (int j = 0; same && j < N; j++)
        same = again[N - 1 - j] == fold[j];
    check(same, "the listing order does not change the split", "%s", rc ? err : "a fold moved");
    nr_dataset_free(rev);
}

static void test_make(const char *dir)
{
    nr_dataset *ds = nr_dataset_open(dir, 1, err, sizeof err), *val = NULL;
    int fold[N];
    nr_folds_assign(ds, CLASSES, 255, K, fold, err, sizeof err);
    int rc = nr_folds_make(&ds, &val, CLASSES, 255, K, 1, err, sizeof err);
    check(rc == 0 && nr_dataset_count(ds) == 20 && nr_dataset_count(val) == 10, "fold 1: 20 to train, 10 held out",
          "%s", rc ? err : "wrong counts");
    int in_val = 1;
    for (int j = 0; rc == 0 && j < nr_dataset_count(val); j++)
        in_val &= fold[num(nr_dataset_name(val, j))] == 1;
    for (int j = 0; rc == 0 && j < nr_dataset_count(ds); j++)
        in_val &= fold[num(nr_dataset_name(ds, j))] != 1;
    check(in_val, "the held-out set is fold 1, the training set the others", "");
    nr_dataset_free(val);
    rc = nr_folds_make(&ds, &val, CLASSES, 255, 2, 2, err, sizeof err);
    check(rc == -1 && val == NULL && nr_dataset_count(ds) == 20 && strstr(err, "--fold 2 is not one of the 2 folds"),
          "a fold out of range: an error, the dataset as it was", "%s", err);
    nr_dataset_free(ds);
}

static void test_errors(nr_dataset *ds, nr_dataset *one)
{
    int fold[N];
    check(nr_folds_assign(ds, CLASSES, 255, 1, fold, err, sizeof err) == -1 && strstr(err, "at least 2 folds"),
          "1 fold is an error", "%s", err);
    check(nr_folds_assign(ds, CLASSES, 255, N + 1, fold, err, sizeof err) == -1 &&
              strstr(err, "--folds 31: the training set has 30 images"),
          "more folds than images is an error", "%s", err);
    check(nr_folds_assign(one, CLASSES, 255, K, fold, err, sizeof err) == -1 && strstr(err, "a single class"),
          "a dataset of one class is an error", "%s", err);
}

int main(void)
{
    if (tmpdir_make("test_folds") != 0)
        return 1;
    write_set("set", 0);
    write_set("one", 1);
    nr_dataset *ds = nr_dataset_open(P("set"), 1, err, sizeof err);
    nr_dataset *one = nr_dataset_open(P("one"), 1, err, sizeof err);
    if (!ds || !one) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    test_assign(ds);
    test_make(P("set"));
    test_errors(ds, one);
    nr_dataset_free(ds);
    nr_dataset_free(one);
    return check_done();
}
