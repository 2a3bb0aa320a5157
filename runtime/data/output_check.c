/* output_check.c — an output folder that would overwrite a dataset's files
 * (nr_dataset_check_output, dataset.h). */
#include "dataset.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    dev_t dev;
    ino_t ino;
    const char *path; /* as the dataset names it (owned by the list) */
} folder;

typedef struct {
    folder *v;
    size_t n, cap;
    char last[4096]; /* the folder added last: one stat per run of images in it */
} folders;

/* Add the folder dir (when it exists and is new); 0, or -1 out of memory. */
static int add(folders *f, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].dev == st.st_dev && f->v[i].ino == st.st_ino)
            return 0;
    folder *g = ng_vec_grow(f->v, &f->cap, f->n + 1, sizeof *g);
    char *copy = g ? strdup(dir) : NULL;
    if (!copy) {
        if (g)
            f->v = g;
        return -1;
    }
    f->v = g;
    f->v[f->n++] = (folder){st.st_dev, st.st_ino, copy};
    return 0;
}

/* Add the folder of file path (and, for images, the masks beside it). */
static int add_parent(folders *f, const char *path, int image)
{
    char dir[4096];
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!path)
        return 0;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + (slash == path) : 1, slash ? path : ".");
    if (!strcmp(dir, f->last))
        return 0;
    snprintf(f->last, sizeof f->last, "%s", dir);
    int rc = add(f, dir);
    if (image && rc == 0) { /* DIR/images: DIR/masks, DIR/SegmentationClass (named so in messages) */
        char sib[4200];
        const char *up = strrchr(dir, '/');
        int n = up ? (int)(up - dir) : 0;
        const char *parent = up ? dir : strcmp(dir, ".") ? "." : "..";
        snprintf(sib, sizeof sib, "%.*s/masks", up ? n : (int)strlen(parent), parent);
        rc = add(f, sib);
        snprintf(sib, sizeof sib, "%.*s/SegmentationClass", up ? n : (int)strlen(parent), parent);
        rc |= add(f, sib);
    }
    return rc;
}

/* The index in f of the folder out is (or is inside), -1 for none.  out's
 * nearest existing folder, then each folder above it through "..". */
static int find_within(const folders *f, const char *out)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", out);
    struct stat st;
    while (stat(p, &st) != 0) { /* not made yet: its nearest existing folder */
        char *slash = strrchr(p, '/');
        if (!slash || slash == p) {
            snprintf(p, sizeof p, "%s", slash ? "/" : ".");
            break;
        }
        *slash = 0;
    }
    for (int depth = 0; depth < 256 && stat(p, &st) == 0; depth++) {
        for (size_t i = 0; i < f->n; i++)
            if (f->v[i].dev == st.st_dev && f->v[i].ino == st.st_ino)
                return (int)i;
        struct stat up;
        size_t n = strlen(p);
        if (n + 4 >= sizeof p)
            break;
        memcpy(p + n, "/..", 4);
        if (stat(p, &up) != 0 || (up.st_dev == st.st_dev && up.st_ino == st.st_ino))
            break; /* the root */
    }
    return -1;
}

int nr_dataset_check_output(const nr_dataset *ds, const char *out_dir, char *err, size_t errlen)
{
    folders f = {0};
    int rc = 0;
    for (int i = 0; i < nr_dataset_count(ds) && rc == 0; i++)
        rc = add_parent(&f, nr_dataset_image_path(ds, i), 1);
    f.last[0] = 0;
    for (int i = 0; i < nr_dataset_count(ds) && rc == 0; i++)
        rc = add_parent(&f, nr_dataset_mask_path(ds, i), 0);
    if (rc != 0) {
        ng_fail(err, errlen, "out of memory");
    } else {
        int at = find_within(&f, out_dir);
        if (at >= 0)
            rc = ng_fail(err, errlen, "%s: inside the dataset's folder %s; the predicted masks would overwrite or "
                         "mix with its files: give an --output outside it", out_dir, f.v[at].path);
    }
    for (size_t i = 0; i < f.n; i++)
        free((char *)f.v[i].path);
    free(f.v);
    return rc;
}
