/* layout.c — the VOC layout and list files (layout.h). */
#define _POSIX_C_SOURCE 200809L
#include "layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util.h"

int nr_layout_is_voc(const char *dir)
{
    char a[4096], b[4096];
    if (snprintf(a, sizeof a, "%s/JPEGImages", dir) >= (int)sizeof a ||
        snprintf(b, sizeof b, "%s/ImageSets/Segmentation", dir) >= (int)sizeof b)
        return 0;
    return ng_is_dir(a) && ng_is_dir(b);
}

int nr_layout_is_list(const char *path)
{
    size_t n = strlen(path);
    return (n > 4 && (strcasecmp(path + n - 4, ".txt") == 0 || strcasecmp(path + n - 4, ".lst") == 0)) ||
           (n > 5 && strcasecmp(path + n - 5, ".list") == 0);
}

/* Trim blanks and a '#' comment in place. */
static char *trim(char *line)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = 0;
    while (*line == ' ' || *line == '\t')
        line++;
    size_t n = strlen(line);
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    return line;
}

/* The next line of f that has text after trim(), trimmed; NULL at the end
 * of the file.  *lineno counts every line read. */
static char *next_entry(FILE *f, char **line, size_t *cap, int *lineno)
{
    while (getline(line, cap, f) > 0) {
        ++*lineno;
        char *t = trim(*line);
        if (*t)
            return t;
    }
    return NULL;
}

/* 0 when the image (and, with need_masks, the mask) that line lineno of
 * list names for entry exist; else the error naming them and the line. */
static int listed_files_exist(const char *img, const char *msk, int need_masks, const char *entry,
                              const char *list, int lineno, char *err, size_t errlen)
{
    if (!ng_is_file(img))
        return ng_fail(err, errlen, "%s: %s (listed at %s:%d)", img, strerror(errno ? errno : ENOENT), list,
                       lineno);
    if (need_masks && !ng_is_file(msk))
        return ng_fail(err, errlen, "%s: %s (the mask of %s, listed at %s:%d)", msk,
                       strerror(errno ? errno : ENOENT), entry, list, lineno);
    return 0;
}

/* Closes the list file f (and frees getline's line); ds, the samples read
 * from it, unless bad or a read error or none (then NULL, ds freed). */
static nr_dataset *finish(FILE *f, char *line, int bad, nr_dataset *ds, const char *list, char *err,
                          size_t errlen)
{
    if (!bad && ferror(f))
        bad = ng_fail(err, errlen, "%s: %s", list, strerror(errno));
    free(line);
    fclose(f);
    if (!bad && nr_dataset_count(ds) == 0)
        bad = ng_fail(err, errlen, "%s: no samples", list);
    if (bad) {
        nr_dataset_free(ds);
        return NULL;
    }
    return ds;
}

nr_dataset *nr_layout_open_voc(const char *root, const char *split, int need_masks, char *err, size_t errlen)
{
    char list[4096];
    if (snprintf(list, sizeof list, "%s/ImageSets/Segmentation/%s.txt", root, split) >= (int)sizeof list) {
        ng_fail(err, errlen, "%s: path too long", root);
        return NULL;
    }
    FILE *f = fopen(list, "r");
    if (!f) {
        ng_fail(err, errlen, "%s: %s (the list of the split '%s')", list, strerror(errno), split);
        return NULL;
    }
    nr_dataset *ds = nr_dataset_new(need_masks);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, bad = ds ? 0 : ng_fail(err, errlen, "%s: out of memory", list);
    for (char *id; !bad && (id = next_entry(f, &line, &cap, &lineno));) {
        if (strpbrk(id, " \t/")) {
            bad = ng_fail(err, errlen, "%s:%d: '%s' is not an image id (one id a line, as 2007_000032)", list,
                          lineno, id);
            break;
        }
        char img[4096], msk[4096], name[1024];
        snprintf(img, sizeof img, "%s/JPEGImages/%s.jpg", root, id);
        snprintf(msk, sizeof msk, "%s/SegmentationClass/%s.png", root, id);
        snprintf(name, sizeof name, "%s.jpg", id);
        if ((bad = listed_files_exist(img, msk, need_masks, id, list, lineno, err, errlen)) != 0)
            break;
        if (nr_dataset_add(ds, name, img, msk) != 0)
            bad = ng_fail(err, errlen, "%s: out of memory", list);
    }
    return finish(f, line, bad, ds, list, err, errlen);
}

/* path resolved against dir unless absolute. */
static void resolve(char *out, size_t n, const char *dir, const char *path)
{
    if (path[0] == '/' || !dir[0])
        snprintf(out, n, "%s", path);
    else
        snprintf(out, n, "%s/%s", dir, path);
}

nr_dataset *nr_layout_open_list(const char *path, int need_masks, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        ng_fail(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        dir[0] = 0;
    nr_dataset *ds = nr_dataset_new(need_masks);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, bad = ds ? 0 : ng_fail(err, errlen, "%s: out of memory", path);
    for (char *t; !bad && (t = next_entry(f, &line, &cap, &lineno));) {
        char *sp = t + strcspn(t, " \t");
        char *second = NULL;
        if (*sp) {
            *sp = 0;
            second = sp + 1;
            while (*second == ' ' || *second == '\t')
                second++;
            if (strpbrk(second, " \t")) {
                bad = ng_fail(err, errlen, "%s:%d: more than two paths (write 'IMAGE MASK'; paths with blanks "
                              "are not supported)", path, lineno);
                break;
            }
        }
        if (need_masks && !second) {
            bad = ng_fail(err, errlen, "%s:%d: '%s' has no mask (write 'IMAGE MASK')", path, lineno, t);
            break;
        }
        char img[4096], msk[4096];
        resolve(img, sizeof img, dir, t);
        if (second)
            resolve(msk, sizeof msk, dir, second);
        if ((bad = listed_files_exist(img, msk, need_masks, t, path, lineno, err, errlen)) != 0)
            break;
        const char *base = strrchr(t, '/');
        if (nr_dataset_add(ds, base ? base + 1 : t, img, second ? msk : NULL) != 0)
            bad = ng_fail(err, errlen, "%s: out of memory", path);
    }
    return finish(f, line, bad, ds, path, err, errlen);
}

static const nr_dataset *sort_ds; /* qsort's context (one call at a time: main thread) */

static int cmp_stem_idx(const void *a, const void *b)
{
    return ng_stem_cmp(nr_dataset_name(sort_ds, *(const int *)a), nr_dataset_name(sort_ds, *(const int *)b));
}

int nr_dataset_check_stems(const nr_dataset *ds, char *err, size_t errlen)
{
    int n = nr_dataset_count(ds);
    int *ix = malloc(sizeof *ix * (size_t)(n ? n : 1));
    if (!ix)
        return ng_fail(err, errlen, "out of memory");
    for (int i = 0; i < n; i++)
        ix[i] = i;
    sort_ds = ds;
    qsort(ix, (size_t)n, sizeof *ix, cmp_stem_idx);
    int rc = 0;
    for (int i = 1; i < n && rc == 0; i++)
        if (cmp_stem_idx(&ix[i - 1], &ix[i]) == 0) {
            const char *a = nr_dataset_image_path(ds, ix[i - 1]), *b = nr_dataset_image_path(ds, ix[i]);
            const char *nm = nr_dataset_name(ds, ix[i]);
            rc = ng_fail(err, errlen, "%s and %s: two images of the name %.*s; their predicted masks (%.*s.png) "
                         "would overwrite each other", a, b, (int)ng_stem_len(nm), nm, (int)ng_stem_len(nm), nm);
        }
    free(ix);
    return rc;
}

nr_dataset *nr_dataset_open(const char *dir, int need_masks, char *err, size_t errlen)
{
    return nr_dataset_open_split(dir, NULL, need_masks, err, errlen);
}

nr_dataset *nr_dataset_open_split(const char *dir, const char *split, int need_masks, char *err, size_t errlen)
{
    struct stat st;
    if (!dir || stat(dir, &st) != 0) {
        ng_fail(err, errlen, "%s: %s", dir ? dir : "(null)", strerror(errno));
        return NULL;
    }
    if (nr_layout_is_voc(dir))
        return nr_layout_open_voc(dir, split ? split : "train", need_masks, err, errlen);
    if (S_ISREG(st.st_mode) && nr_layout_is_list(dir))
        return nr_layout_open_list(dir, need_masks, err, errlen);
    if (split) {
        ng_fail(err, errlen, "%s: --split %s: not a VOC folder (JPEGImages, SegmentationClass and "
                "ImageSets/Segmentation/%s.txt); for another layout, give a list file", dir, split, split);
        return NULL;
    }
    return nr_dataset_open_folder(dir, need_masks, err, errlen);
}
