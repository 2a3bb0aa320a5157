/* folds.c — the K-fold split of a training set (folds.h): stratified by
 * each image's rarest class, from the class index of the masks. */
#include "folds.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "class_index.h"
#include "json.h"
#include "util.h"

typedef struct {
    int img;
    int64_t rarity; /* images holding the key class; INT64_MAX: background only */
    int key;        /* the rarest foreground class of the image, 0: none */
    uint64_t hash;  /* of the name */
} slot;

static int cmp_slot(const void *pa, const void *pb)
{
    const slot *a = pa, *b = pb;
    if (a->rarity != b->rarity)
        return a->rarity < b->rarity ? -1 : 1;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    return a->img - b->img;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, mixed */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return ng_splitmix64(h);
}

int nr_folds_assign(const nr_dataset *ds, int classes, int ignore, int k, int *fold, char *err, size_t errlen)
{
    int n = nr_dataset_count(ds);
    if (k < 2)
        return ng_fail(err, errlen, "--folds %d: cross-validation needs at least 2 folds", k);
    if (k > n)
        return ng_fail(err, errlen, "--folds %d: the training set has %d image%s, fewer than the folds", k, n,
                       n == 1 ? "" : "s");
    nr_class_index *ix = nr_class_index_get(ds, classes, ignore, 1, NULL, NULL, NULL, err, errlen);
    if (!ix)
        return -1;
    int64_t *images = calloc((size_t)classes, sizeof *images);
    slot *s = calloc((size_t)n, sizeof *s);
    int rc = -1, present = 0;
    if (!images || !s) {
        ng_fail(err, errlen, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++)
        for (int c = 0; c < classes; c++)
            images[c] += nr_class_index_pixels(ix, i, c) > 0;
    for (int c = 0; c < classes; c++)
        present += images[c] > 0;
    if (present < 2) {
        ng_fail(err, errlen, "--folds: the training masks hold %s: nothing to stratify or to validate",
                present ? "a single class" : "no labelled pixel");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        s[i] = (slot){i, INT64_MAX, 0, name_hash(nr_dataset_name(ds, i))};
        for (int c = 1; c < classes; c++)
            if (nr_class_index_pixels(ix, i, c) > 0 && images[c] < s[i].rarity)
                s[i].rarity = images[c], s[i].key = c;
    }
    qsort(s, (size_t)n, sizeof *s, cmp_slot);
    for (int j = 0; j < n; j++)
        fold[s[j].img] = j % k;
    rc = 0;
done:
    free(images);
    free(s);
    nr_class_index_free(ix);
    return rc;
}

int nr_folds_make(nr_dataset **ds, nr_dataset **val, int classes, int ignore, int k, int i, char *err, size_t errlen)
{
    const nr_dataset *all = *ds;
    int n = nr_dataset_count(all);
    *val = NULL;
    if (i < 0 || i >= k)
        return ng_fail(err, errlen, "--fold %d is not one of the %d folds (0..%d)", i, k, k - 1);
    int *fold = malloc((size_t)(n ? n : 1) * sizeof *fold);
    if (!fold)
        return ng_fail(err, errlen, "out of memory");
    if (nr_folds_assign(all, classes, ignore, k, fold, err, errlen) != 0) {
        free(fold);
        return -1;
    }
    nr_dataset *train = nr_dataset_new(1), *held = nr_dataset_new(1);
    int ok = train && held;
    for (int j = 0; ok && j < n; j++)
        ok = nr_dataset_add(fold[j] == i ? held : train, nr_dataset_name(all, j), nr_dataset_image_path(all, j),
                            nr_dataset_mask_path(all, j)) == 0;
    free(fold);
    if (!ok) {
        nr_dataset_free(train);
        nr_dataset_free(held);
        return ng_fail(err, errlen, "out of memory");
    }
    nr_dataset_free(*ds);
    *ds = train;
    *val = held;
    return 0;
}

static void names(FILE *f, const nr_dataset *ds)
{
    for (int j = 0; j < nr_dataset_count(ds); j++) {
        fputs(j ? "," : "", f);
        nr_json_put_str(f, nr_dataset_name(ds, j));
    }
}

int nr_folds_write(const char *path, int k, int i, const char *data, const nr_dataset *train, const nr_dataset *val,
                   char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return ng_fail(err, errlen, "out of memory");
    fprintf(f, "{\"folds\":%d,\"fold\":%d,\"data\":", k, i);
    nr_json_put_str(f, data);
    fputs(",\"train\":[", f);
    names(f, train);
    fputs("],\"val\":[", f);
    names(f, val);
    fputs("]}\n", f);
    int rc = fclose(f) != 0 ? ng_fail(err, errlen, "out of memory") : ng_atomic_write(path, buf, len, 1, err, errlen);
    free(buf);
    return rc;
}
