/* layout.c — the layouts of a dataset (layout.h): the folder layout
 * DIR/images + DIR/masks (a sorted listing of image/mask pairs), the VOC
 * layout and list files, and opening whichever a path has. */
#define _POSIX_C_SOURCE 200809L
#include "layout.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "image.h"
#include "util.h"

/* ---- the folder layout ---------------------------------------------------- */

/* Append to err after what is already there (message building). */
static void add_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    size_t used = strlen(err);
    if (used + 1 >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + used, errlen - used, fmt, ap);
    va_end(ap);
}

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *p = malloc(la + (size_t)slash + lb + 1);
    if (!p)
        return NULL;
    memcpy(p, a, la);
    if (slash)
        p[la] = '/';
    memcpy(p + la + slash, b, lb + 1);
    return p;
}

typedef struct {
    char **v;
    int n;
    size_t cap;
} name_list;

static void names_free(name_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL, l->n = l->cap = 0;
}

static int names_push(name_list *l, const char *s)
{
    char **v = ng_vec_grow(l->v, &l->cap, (size_t)l->n + 1, sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The image file names (.png, .jpg, .jpeg) in dir, sorted.  0 or -1 with
 * err. */
static int list_images(const char *dir, name_list *out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        ng_fail(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!nr_image_name_ok(e->d_name))
            continue;
        char *p = path_join(dir, e->d_name);
        int regular = ng_is_file(p);
        free(p);
        if (!p || (regular && names_push(out, e->d_name) < 0)) {
            ng_fail(err, errlen, "%s: out of memory", dir);
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_names);
    return 0;
}

static int cmp_stems(const void *a, const void *b)
{
    return ng_stem_cmp(*(char *const *)a, *(char *const *)b);
}

/* Two files of l (sorted by stem in v) with one stem: an error naming them. */
static int same_stems(const char *dir, const char *sub, char **v, int n, char *err, size_t errlen)
{
    for (int i = 1; i < n; i++)
        if (cmp_stems(&v[i - 1], &v[i]) == 0)
            return ng_fail(err, errlen, "%s/%s: %s and %s have the same name but for the extension; which one "
                           "is meant?", dir, sub, v[i - 1], v[i]);
    return 0;
}

/* "a.png, b.png, c.png, d.png, e.png and 3 more" for names v[0..n). */
static void add_name_list(char *err, size_t errlen, char *const *v, int n)
{
    for (int i = 0; i < n && i < 5; i++)
        add_err(err, errlen, "%s%s", i ? ", " : "", v[i]);
    if (n > 5)
        add_err(err, errlen, " and %d more", n - 5);
}

/* Pair images with masks by stem (a.jpg with a.png): mask_of[i] is the mask
 * name of image i.  On a mismatch, err names what is missing on either side
 * (a missing mask as STEM.png). */
static int match_masks(const char *dir, const name_list *img, const name_list *msk, char **mask_of,
                       char *err, size_t errlen)
{
    name_list no_mask = {0}, no_image = {0};
    int n_img = img->n, n_msk = msk->n, oom = 0;
    char **is = malloc(sizeof *is * (size_t)(n_img ? n_img : 1));
    char **ms = malloc(sizeof *ms * (size_t)(n_msk ? n_msk : 1));
    char *used = calloc((size_t)(n_msk ? n_msk : 1), 1);
    int rc = -1;
    if (!is || !ms || !used) {
        ng_fail(err, errlen, "%s: out of memory", dir);
        goto done;
    }
    if (n_img)
        memcpy(is, img->v, sizeof *is * (size_t)n_img);
    if (n_msk) /* an empty list's v is NULL */
        memcpy(ms, msk->v, sizeof *ms * (size_t)n_msk);
    qsort(is, (size_t)n_img, sizeof *is, cmp_stems);
    qsort(ms, (size_t)n_msk, sizeof *ms, cmp_stems);
    if (same_stems(dir, "images", is, n_img, err, errlen) || same_stems(dir, "masks", ms, n_msk, err, errlen))
        goto done;
    for (int i = 0; i < n_img; i++) {
        char **hit = bsearch(&img->v[i], ms, (size_t)n_msk, sizeof *ms, cmp_stems);
        if (hit) {
            mask_of[i] = *hit;
            used[hit - ms] = 1;
        } else {
            char want[1024];
            snprintf(want, sizeof want, "%.*s.png", (int)ng_stem_len(img->v[i]), img->v[i]);
            oom |= names_push(&no_mask, want);
        }
    }
    for (int j = 0; j < n_msk; j++)
        if (!used[j])
            oom |= names_push(&no_image, ms[j]);
    if (no_image.n > 1)
        qsort(no_image.v, (size_t)no_image.n, sizeof *no_image.v, cmp_names);
    rc = (no_mask.n || no_image.n || oom) ? -1 : 0;
    if (oom) {
        ng_fail(err, errlen, "%s: out of memory", dir);
    } else if (rc) {
        ng_fail(err, errlen, "%s", "");
        if (no_mask.n == 1) {
            const char *iname = NULL;
            for (int i = 0; i < n_img && !iname; i++)
                if (!mask_of[i])
                    iname = img->v[i];
            add_err(err, errlen, "%s/masks/%s: missing (the mask of images/%s)", dir, no_mask.v[0], iname);
        } else if (no_mask.n > 1) {
            add_err(err, errlen, "%s/masks: %d masks missing: ", dir, no_mask.n);
            add_name_list(err, errlen, no_mask.v, no_mask.n);
        }
        if (no_mask.n && no_image.n)
            add_err(err, errlen, "; ");
        if (no_image.n == 1)
            add_err(err, errlen, "%s/masks/%s: no image of that name in %s/images",
                    dir, no_image.v[0], dir);
        else if (no_image.n > 1) {
            add_err(err, errlen, "%s/masks: %d masks without an image: ", dir,
                    no_image.n);
            add_name_list(err, errlen, no_image.v, no_image.n);
        }
    }
done:
    free(is);
    free(ms);
    free(used);
    names_free(&no_mask);
    names_free(&no_image);
    return rc;
}

/* A dataset of names with images in img_dir (or the single file `single`)
 * and masks mask_of[i] in mask_dir (or none); NULL when out of memory. */
static nr_dataset *dataset_make(const name_list *names, const char *img_dir,
                                const char *single, const char *mask_dir, char **mask_of)
{
    nr_dataset *ds = nr_dataset_new(mask_dir != NULL);
    for (int i = 0; ds && i < names->n; i++) {
        char *ip = single ? NULL : path_join(img_dir, names->v[i]);
        char *mp = mask_dir ? path_join(mask_dir, mask_of[i]) : NULL;
        if ((!single && !ip) || (mask_dir && !mp) || nr_dataset_add(ds, names->v[i], single ? single : ip, mp) != 0) {
            nr_dataset_free(ds);
            ds = NULL;
        }
        free(ip);
        free(mp);
    }
    return ds;
}

nr_dataset *nr_dataset_open_folder(const char *dir, int need_masks, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        ng_fail(err, errlen, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    name_list img = {0}, msk = {0};
    nr_dataset *ds = NULL;
    char **mask_of = NULL;
    char *img_dir = path_join(dir, "images");
    char *mask_dir = path_join(dir, "masks");
    const char *single = NULL;
    if (!img_dir || !mask_dir) {
        ng_fail(err, errlen, "%s: out of memory", dir);
        goto done;
    }
    if (ng_is_dir(img_dir)) {
        if (list_images(img_dir, &img, err, errlen) < 0)
            goto done;
        if (img.n == 0) {
            ng_fail(err, errlen, "%s: no PNG or JPEG files", img_dir);
            goto done;
        }
        if (need_masks) {
            if (!ng_is_dir(mask_dir)) {
                ng_fail(err, errlen,
                        "%s: no such folder (the labels must be there, one "
                        "PNG mask per image, same name but for the extension)", mask_dir);
                goto done;
            }
            if (!(mask_of = calloc((size_t)img.n, sizeof *mask_of))) {
                ng_fail(err, errlen, "%s: out of memory", dir);
                goto done;
            }
            if (list_images(mask_dir, &msk, err, errlen) < 0 ||
                match_masks(dir, &img, &msk, mask_of, err, errlen) < 0)
                goto done;
        }
    } else if (need_masks) {
        ng_fail(err, errlen,
                "%s: no images folder (expected %s/images/*.png|jpg and "
                "%s/masks/*.png, the VOC layout or a list file)", dir, dir, dir);
        goto done;
    } else if (S_ISDIR(st.st_mode)) {
        free(img_dir);
        if (!(img_dir = strdup(dir)) || list_images(dir, &img, err, errlen) < 0) {
            if (!img_dir)
                ng_fail(err, errlen, "%s: out of memory", dir);
            goto done;
        }
        if (img.n == 0) {
            ng_fail(err, errlen, "%s: no PNG or JPEG files (and no images folder)", dir);
            goto done;
        }
    } else if (S_ISREG(st.st_mode) && nr_image_name_ok(strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir)) {
        const char *base = strrchr(dir, '/');
        single = dir;
        if (names_push(&img, base ? base + 1 : dir) < 0) {
            ng_fail(err, errlen, "%s: out of memory", dir);
            goto done;
        }
    } else {
        ng_fail(err, errlen, "%s: not a folder, an image (.png, .jpg) or a list file (.txt)", dir);
        goto done;
    }
    ds = dataset_make(&img, img_dir, single, need_masks ? mask_dir : NULL, mask_of);
    if (!ds)
        ng_fail(err, errlen, "%s: out of memory", dir);
done:
    names_free(&img);
    names_free(&msk);
    free(mask_of);
    free(img_dir);
    free(mask_dir);
    return ds;
}

/* ---- VOC and list files ---------------------------------------------------- */


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
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        line[--n] = 0;
    return line;
}

/* A list file's text, a line at a time, cut in place. */
typedef struct {
    char *p, *end;    /* the text not yet read; *end is a NUL */
    const char *path; /* the list, as messages name it */
    int lineno;       /* the line last read (1 for the first) */
} lines;

/* The next line of ls that has text after trim(), trimmed; NULL at the end
 * of the text, or with *bad set and err naming the line when it holds a
 * NUL byte (which would end the path early: the list is not text).  A
 * UTF-8 byte order mark that starts the text is skipped. */
static char *next_entry(lines *ls, int *bad, char *err, size_t errlen)
{
    while (ls->p < ls->end) {
        char *line = ls->p, *nl = memchr(line, '\n', (size_t)(ls->end - line));
        char *stop = nl ? nl : ls->end;
        ls->p = nl ? nl + 1 : ls->end;
        ls->lineno++;
        if (memchr(line, 0, (size_t)(stop - line))) {
            *bad = ng_fail(err, errlen, "%s:%d: a NUL byte (a list file is text, one entry a line)", ls->path,
                           ls->lineno);
            return NULL;
        }
        *stop = 0;
        int bom = ls->lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3);
        char *t = trim(line + 3 * bom);
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
    int e = ng_file_errno(img);
    if (e)
        return ng_fail(err, errlen, "%s: %s (listed at %s:%d)", img, ng_strerror(e), list, lineno);
    if (need_masks && (e = ng_file_errno(msk)) != 0)
        return ng_fail(err, errlen, "%s: %s (the mask of %s, listed at %s:%d)", msk, ng_strerror(e), entry,
                       list, lineno);
    return 0;
}

/* A copy of text (len bytes) to cut into lines, NUL-terminated; NULL with
 * err when out of memory. */
static char *text_copy(const char *text, size_t len, const char *path, char *err, size_t errlen)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        ng_fail(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    return copy;
}

/* Frees the text's copy; ds, the samples read from it, unless bad or none
 * (then NULL, ds freed). */
static nr_dataset *finish(char *copy, int bad, nr_dataset *ds, const char *list, char *err, size_t errlen)
{
    free(copy);
    if (!bad && nr_dataset_count(ds) == 0)
        bad = ng_fail(err, errlen, "%s: no samples", list);
    if (bad) {
        nr_dataset_free(ds);
        return NULL;
    }
    return ds;
}

nr_dataset *nr_layout_parse_voc(const char *text, size_t len, const char *list, const char *root, int need_masks,
                                char *err, size_t errlen)
{
    char *copy = text_copy(text, len, list, err, errlen);
    if (!copy)
        return NULL;
    lines ls = {copy, copy + len, list, 0};
    nr_dataset *ds = nr_dataset_new(need_masks);
    int bad = ds ? 0 : ng_fail(err, errlen, "%s: out of memory", list);
    for (char *id; !bad && (id = next_entry(&ls, &bad, err, errlen));) {
        if (strpbrk(id, " \t/")) {
            bad = ng_fail(err, errlen, "%s:%d: '%s' is not an image id (one id a line, as 2007_000032)", list,
                          ls.lineno, id);
            break;
        }
        char img[4096], msk[4096], name[1024];
        if (snprintf(img, sizeof img, "%s/JPEGImages/%s.jpg", root, id) >= (int)sizeof img ||
            snprintf(msk, sizeof msk, "%s/SegmentationClass/%s.png", root, id) >= (int)sizeof msk ||
            snprintf(name, sizeof name, "%s.jpg", id) >= (int)sizeof name) {
            bad = ng_fail(err, errlen, "%s:%d: an image id of %zu bytes (too long for a file name)", list, ls.lineno,
                          strlen(id));
            break;
        }
        if ((bad = listed_files_exist(img, msk, need_masks, id, list, ls.lineno, err, errlen)) != 0)
            break;
        if (nr_dataset_add(ds, name, img, msk) != 0)
            bad = ng_fail(err, errlen, "%s: out of memory", list);
    }
    return finish(copy, bad, ds, list, err, errlen);
}

nr_dataset *nr_layout_open_voc(const char *root, const char *split, int need_masks, char *err, size_t errlen)
{
    char list[4096];
    if (snprintf(list, sizeof list, "%s/ImageSets/Segmentation/%s.txt", root, split) >= (int)sizeof list) {
        ng_fail(err, errlen, "%s: path too long", root);
        return NULL;
    }
    size_t len;
    char *text = ng_read_file(list, &len);
    if (!text) {
        ng_fail(err, errlen, "%s: %s (the list of the split '%s')", list, ng_strerror(errno), split);
        return NULL;
    }
    nr_dataset *ds = nr_layout_parse_voc(text, len, list, root, need_masks, err, errlen);
    free(text);
    return ds;
}

/* path resolved against dir unless absolute, into out (n bytes); -1 when
 * it does not fit. */
static int resolve(char *out, size_t n, const char *dir, const char *path)
{
    int w = path[0] == '/' || !dir[0] ? snprintf(out, n, "%s", path) : snprintf(out, n, "%s/%s", dir, path);
    return w >= 0 && (size_t)w < n ? 0 : -1;
}

nr_dataset *nr_layout_parse_list(const char *text, size_t len, const char *path, const char *dir, int need_masks,
                                 char *err, size_t errlen)
{
    char *copy = text_copy(text, len, path, err, errlen);
    if (!copy)
        return NULL;
    lines ls = {copy, copy + len, path, 0};
    nr_dataset *ds = nr_dataset_new(need_masks);
    int bad = ds ? 0 : ng_fail(err, errlen, "%s: out of memory", path);
    for (char *t; !bad && (t = next_entry(&ls, &bad, err, errlen));) {
        char *sp = t + strcspn(t, " \t");
        char *second = NULL;
        if (*sp) {
            *sp = 0;
            second = sp + 1;
            while (*second == ' ' || *second == '\t')
                second++;
            if (strpbrk(second, " \t")) {
                bad = ng_fail(err, errlen, "%s:%d: more than two paths (write 'IMAGE MASK'; paths with blanks "
                              "are not supported)", path, ls.lineno);
                break;
            }
        }
        if (need_masks && !second) {
            bad = ng_fail(err, errlen, "%s:%d: '%s' has no mask (write 'IMAGE MASK')", path, ls.lineno, t);
            break;
        }
        char img[4096], msk[4096];
        if (resolve(img, sizeof img, dir, t) != 0 || (second && resolve(msk, sizeof msk, dir, second) != 0)) {
            bad = ng_fail(err, errlen, "%s:%d: a path longer than %zu bytes", path, ls.lineno, sizeof img - 1);
            break;
        }
        if ((bad = listed_files_exist(img, msk, need_masks, t, path, ls.lineno, err, errlen)) != 0)
            break;
        const char *base = strrchr(t, '/');
        if (nr_dataset_add(ds, base ? base + 1 : t, img, second ? msk : NULL) != 0)
            bad = ng_fail(err, errlen, "%s: out of memory", path);
    }
    return finish(copy, bad, ds, path, err, errlen);
}

nr_dataset *nr_layout_open_list(const char *path, int need_masks, char *err, size_t errlen)
{
    size_t len;
    char *text = ng_read_file(path, &len);
    if (!text) {
        ng_fail(err, errlen, "%s: %s", path, ng_strerror(errno));
        return NULL;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        dir[0] = 0;
    nr_dataset *ds = nr_layout_parse_list(text, len, path, dir, need_masks, err, errlen);
    free(text);
    return ds;
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

static nr_dataset *open_layout(const char *dir, const char *split, int need_masks, char *err, size_t errlen)
{
    struct stat st;
    if (!dir || stat(dir, &st) != 0) {
        ng_fail(err, errlen, "%s: %s", dir ? dir : "(null)", strerror(errno));
        return NULL;
    }
    if (nr_layout_is_voc(dir))
        return nr_layout_open_voc(dir, split ? split : "train", need_masks, err, errlen);
    if (!S_ISDIR(st.st_mode) && nr_layout_is_list(dir)) /* a FIFO or device named so: refused by the reader */
        return nr_layout_open_list(dir, need_masks, err, errlen);
    if (split) {
        ng_fail(err, errlen, "%s: --split %s: not a VOC folder (JPEGImages, SegmentationClass and "
                "ImageSets/Segmentation/%s.txt); for another layout, give a list file", dir, split, split);
        return NULL;
    }
    return nr_dataset_open_folder(dir, need_masks, err, errlen);
}

nr_dataset *nr_dataset_open_split(const char *dir, const char *split, int need_masks, char *err, size_t errlen)
{
    nr_dataset *ds = open_layout(dir, split, need_masks, err, errlen);
    if (ds && need_masks && nr_dataset_check_sizes(ds, err, errlen) != 0) { /* now, not when a batch needs it */
        nr_dataset_free(ds);
        return NULL;
    }
    return ds;
}
