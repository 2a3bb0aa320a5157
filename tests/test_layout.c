/* test_layout.c — runtime/data/layout.c against layout.h's contract: the
 * VOC layout (split lists with comments and blank lines, the default split,
 * a missing image, mask or split named with the list line), list files
 * (comments, blank lines, tabs, CRLF, paths relative to the list's folder or
 * absolute, or relative to the working folder for a list named without one;
 * "IMAGE" lines without masks; every malformed or missing entry named with
 * its line, and so is a NUL byte or a path too long), which layout
 * nr_dataset_open picks, and nr_dataset_check_stems.
 * Opening a dataset with masks reads the image and mask headers (their
 * sizes must agree), so the files here are 1x1 PNGs (.jpg included:
 * images are told by content).
 * Prints "ok - name" / "FAIL - name: detail"; exits nonzero on failure. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "png.h"
#include "check.h"

static char err[2048];

/* path holds text (folders made as needed). */
static void put(const char *path, const char *text)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    mkdirs(dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* path: a 1x1 gray PNG (folders made as needed). */
static void put_image(const char *path)
{
    put(path, "");
    unsigned char px = 0;
    nr_png_write_gray8(path, 1, 1, &px, err, sizeof err);
}

/* A one-sample check: ds has n samples and sample i is (name, image, mask);
 * mask NULL: the dataset has no masks. */
static int sample_is(const nr_dataset *ds, int n, int i, const char *name, const char *image, const char *mask)
{
    const char *m = ds ? nr_dataset_mask_path(ds, i) : NULL;
    return ds && nr_dataset_count(ds) == n && !strcmp(nr_dataset_name(ds, i), name) &&
           !strcmp(nr_dataset_image_path(ds, i), image) && (mask ? m && !strcmp(m, mask) : !m);
}

/* Opening path (split, need_masks) fails with exactly want. */
static void fails_with(const char *name, const char *path, const char *split, int need_masks, const char *want)
{
    nr_dataset *ds = nr_dataset_open_split(path, split, need_masks, err, sizeof err);
    check(!ds && !strcmp(err, want), name, "got '%s', want '%s'", ds ? "a dataset" : err, want);
    nr_dataset_free(ds);
}

static void test_names(void)
{
    int ok = nr_layout_is_list("a.txt") && nr_layout_is_list("dir/A.TXT") && nr_layout_is_list("x.lst") &&
             nr_layout_is_list("y.list") && nr_layout_is_list("z.LIST");
    ok &= !nr_layout_is_list(".txt") && !nr_layout_is_list("list.png") && !nr_layout_is_list("txt") &&
          !nr_layout_is_list("a.txt.png");
    check(ok, "list file names: .txt, .lst, .list in any case", "wrong");
}

static void test_voc(void)
{
    char root[512], train[600], val[600], want[2048];
    snprintf(root, sizeof root, "%s", P("VOCdevkit/VOC2012"));
    snprintf(train, sizeof train, "%s/ImageSets/Segmentation/train.txt", root);
    snprintf(val, sizeof val, "%s/ImageSets/Segmentation/val.txt", root);
    check(!nr_layout_is_voc(root), "VOC: not before its folders exist", "is VOC");
    for (const char *id = "abc"; *id; id++) {
        char img[600], msk[600];
        snprintf(img, sizeof img, "%s/JPEGImages/2007_%c.jpg", root, *id);
        snprintf(msk, sizeof msk, "%s/SegmentationClass/2007_%c.png", root, *id);
        put_image(img);
        if (*id != 'c') /* c has no mask */
            put_image(msk);
    }
    check(!nr_layout_is_voc(root), "VOC: JPEGImages alone is not VOC", "is VOC");
    put(train, "# the training split\n\n2007_b\n  2007_a  \r\n");
    put(val, "2007_c\n");
    check(nr_layout_is_voc(root), "VOC: JPEGImages and ImageSets/Segmentation", "not VOC");

    /* the default split is train, in the list's order */
    nr_dataset *ds = nr_dataset_open(root, 1, err, sizeof err);
    char img[600], msk[600];
    snprintf(img, sizeof img, "%s/JPEGImages/2007_a.jpg", root);
    snprintf(msk, sizeof msk, "%s/SegmentationClass/2007_a.png", root);
    check(sample_is(ds, 2, 1, "2007_a.jpg", img, msk) && !strcmp(nr_dataset_name(ds, 0), "2007_b.jpg"),
          "VOC: the train split by default, comments and blank lines skipped, in list order", "%s",
          ds ? nr_dataset_name(ds, 0) : err);
    nr_dataset_free(ds);

    /* another split; without masks the missing mask does not matter */
    ds = nr_dataset_open_split(root, "val", 0, err, sizeof err);
    snprintf(img, sizeof img, "%s/JPEGImages/2007_c.jpg", root);
    check(sample_is(ds, 1, 0, "2007_c.jpg", img, NULL), "VOC: --split val without masks", "%s", ds ? "" : err);
    nr_dataset_free(ds);
    snprintf(want, sizeof want, "%s/SegmentationClass/2007_c.png: %s (the mask of 2007_c, listed at %s:1)", root,
             strerror(ENOENT), val);
    fails_with("VOC: a missing mask named with the list line", root, "val", 1, want);

    put(train, "# the training split\n\n2007_b\n  2007_a  \r\n2099_z\n");
    snprintf(want, sizeof want, "%s/JPEGImages/2099_z.jpg: %s (listed at %s:5)", root, strerror(ENOENT), train);
    fails_with("VOC: a missing image named with the list line", root, NULL, 1, want);
    snprintf(want, sizeof want, "%s/ImageSets/Segmentation/test.txt: %s (the list of the split 'test')", root,
             strerror(ENOENT));
    fails_with("VOC: a missing split", root, "test", 1, want);
    put(train, "2007_a\nJPEGImages/2007_b\n");
    snprintf(want, sizeof want, "%s:2: 'JPEGImages/2007_b' is not an image id (one id a line, as 2007_000032)",
             train);
    fails_with("VOC: a path for an id", root, "train", 1, want);
    put(train, "# nothing yet\n\n");
    snprintf(want, sizeof want, "%s: no samples", train);
    fails_with("VOC: an empty split", root, "train", 1, want);
}

static void test_list(void)
{
    char list[512], want[2048];
    snprintf(list, sizeof list, "%s", P("lst/list.txt"));
    put_image(P("lst/img/x1.jpg"));
    put_image(P("lst/lbl/x1.png"));
    put_image(P("lst/img/x2.png"));
    put_image(P("lst/lbl/x2.png"));
    put_image(P("abs/x3.png"));
    put_image(P("abs/x3_mask.png"));
    char text[1024];
    snprintf(text, sizeof text,
             "# images and their masks\n"
             "img/x1.jpg lbl/x1.png\r\n"
             "\n"
             "\timg/x2.png \t lbl/x2.png   # a comment\r\n"
             "%s %s\n",
             P("abs/x3.png"), P("abs/x3_mask.png"));
    put(list, text);
    nr_dataset *ds = nr_dataset_open(list, 1, err, sizeof err);
    int ok = sample_is(ds, 3, 0, "x1.jpg", P("lst/img/x1.jpg"), P("lst/lbl/x1.png")) &&
             sample_is(ds, 3, 1, "x2.png", P("lst/img/x2.png"), P("lst/lbl/x2.png"));
    check(ok, "list: paths relative to the list's folder; comments, blank lines, tabs, CRLF", "%s",
          ds ? nr_dataset_image_path(ds, 0) : err);
    check(sample_is(ds, 3, 2, "x3.png", P("abs/x3.png"), P("abs/x3_mask.png")), "list: absolute paths as they are",
          "%s", ds ? nr_dataset_image_path(ds, 2) : err);
    nr_dataset_free(ds);

    /* a list named without a folder: paths relative to the working folder */
    char cwd[1024];
    if (getcwd(cwd, sizeof cwd) && chdir(P("lst")) == 0) {
        ds = nr_dataset_open("list.txt", 1, err, sizeof err);
        check(sample_is(ds, 3, 0, "x1.jpg", "img/x1.jpg", "lbl/x1.png"), "list: named without a folder",
              "%s", ds ? nr_dataset_image_path(ds, 0) : err);
        nr_dataset_free(ds);
        check(chdir(cwd) == 0, "list: back to the working folder", "%s", strerror(errno));
    }

    /* images only, for predict: an "IMAGE" line, and an "IMAGE MASK" line read as its image */
    put(P("lst/images.lst"), "img/x2.png lbl/x2.png\nimg/x1.jpg\n");
    ds = nr_dataset_open(P("lst/images.lst"), 0, err, sizeof err);
    check(sample_is(ds, 2, 1, "x1.jpg", P("lst/img/x1.jpg"), NULL) && !nr_dataset_mask_path(ds, 0),
          "list: without masks, IMAGE lines and IMAGE MASK lines (.lst)",
          "%s", ds ? "" : err);
    nr_dataset_free(ds);
    snprintf(want, sizeof want, "%s:2: 'img/x1.jpg' has no mask (write 'IMAGE MASK')", P("lst/images.lst"));
    fails_with("list: an IMAGE line where masks are needed", P("lst/images.lst"), NULL, 1, want);

    /* malformed and missing entries, each named with its line */
    put(list, "img/x1.jpg lbl/x1.png\nimg/x2.png lbl/x2.png extra\n");
    snprintf(want, sizeof want, "%s:2: more than two paths (write 'IMAGE MASK'; paths with blanks are not supported)",
             list);
    fails_with("list: three paths on a line", list, NULL, 1, want);
    put(list, "# first\nimg/x1.jpg lbl/x1.png\n\nimg/none.jpg lbl/x2.png\n");
    snprintf(want, sizeof want, "%s: %s (listed at %s:4)", P("lst/img/none.jpg"), strerror(ENOENT), list);
    fails_with("list: a missing image named with its line", list, NULL, 1, want);
    put(list, "img/x1.jpg lbl/x1.png\nimg/x2.png lbl/none.png\n");
    snprintf(want, sizeof want, "%s: %s (the mask of img/x2.png, listed at %s:2)", P("lst/lbl/none.png"),
             strerror(ENOENT), list);
    fails_with("list: a missing mask named with its line", list, NULL, 1, want);
    ds = nr_dataset_open(list, 0, err, sizeof err);
    check(ds && nr_dataset_count(ds) == 2 && !nr_dataset_mask_path(ds, 1), "list: masks not needed, not checked",
          "%s", ds ? "" : err);
    nr_dataset_free(ds);
    put(list, "\n# only comments\n");
    snprintf(want, sizeof want, "%s: no samples", list);
    fails_with("list: no samples", list, NULL, 1, want);
    snprintf(want, sizeof want, "%s: %s", P("lst/none.txt"), strerror(ENOENT));
    fails_with("list: a missing list file", P("lst/none.txt"), NULL, 1, want);
}

/* A list's text as the readers take it (nr_layout_parse_list, which
 * nr_layout_open_list calls): a NUL byte in a line, or a path too long for
 * a file name, is an error naming the line (the NUL would end the path
 * early, the long path would be cut short); after test_list's files. */
static void test_list_text(void)
{
    char list[512], want[2048];
    snprintf(list, sizeof list, "%s", P("lst/nul.txt"));
    static const char nul[] = "img/x1.jpg lbl/x1.png\nimg/x2.png\0.jpg lbl/x2.png\n";
    FILE *f = fopen(list, "wb");
    if (f) {
        fwrite(nul, 1, sizeof nul - 1, f);
        fclose(f);
    }
    snprintf(want, sizeof want, "%s:2: a NUL byte (a list file is text, one entry a line)", list);
    fails_with("list text: a NUL byte named with its line", list, NULL, 1, want);

    char text[4400] = "img/x1.jpg lbl/x1.png\nimg/";
    size_t n = strlen(text);
    while (n < 4300)
        text[n++] = '.', text[n++] = '/';
    snprintf(text + n, sizeof text - n, "x2.png lbl/x2.png\n");
    put(list, text);
    snprintf(want, sizeof want, "%s:2: a path longer than 4095 bytes", list);
    fails_with("list text: a path too long named with its line", list, NULL, 1, want);
    nr_dataset *ds = nr_layout_parse_list(text, 22, "mem.txt", P("lst"), 1, err, sizeof err);
    check(sample_is(ds, 1, 0, "x1.jpg", P("lst/img/x1.jpg"), P("lst/lbl/x1.png")),
          "list text: the first line alone, against the folder given", "%s", ds ? "" : err);
    nr_dataset_free(ds);
}

static void test_open(void)
{
    /* the folder layout, in a folder whose name ends in .txt */
    put_image(P("set.txt/images/a.png"));
    put_image(P("set.txt/masks/a.png"));
    nr_dataset *ds = nr_dataset_open(P("set.txt"), 1, err, sizeof err);
    check(sample_is(ds, 1, 0, "a.png", P("set.txt/images/a.png"), P("set.txt/masks/a.png")),
          "open: a folder is the folder layout, whatever its name", "%s", ds ? "" : err);
    nr_dataset_free(ds);
    /* a list file in a VOC root's place: the list; the VOC root: VOC */
    put(P("pick/list.txt"), "../set.txt/images/a.png ../set.txt/masks/a.png\n");
    ds = nr_dataset_open(P("pick/list.txt"), 1, err, sizeof err);
    check(sample_is(ds, 1, 0, "a.png", P("pick/../set.txt/images/a.png"), P("pick/../set.txt/masks/a.png")),
          "open: a list file", "%s", ds ? "" : err);
    nr_dataset_free(ds);
    put_image(P("pick/voc/JPEGImages/i.jpg"));
    put_image(P("pick/voc/SegmentationClass/i.png"));
    put(P("pick/voc/ImageSets/Segmentation/train.txt"), "i\n");
    put_image(P("pick/voc/images/a.png")); /* a VOC root is VOC even with an images folder */
    ds = nr_dataset_open(P("pick/voc"), 1, err, sizeof err);
    check(sample_is(ds, 1, 0, "i.jpg", P("pick/voc/JPEGImages/i.jpg"), P("pick/voc/SegmentationClass/i.png")),
          "open: a VOC root", "%s", ds ? "" : err);
    nr_dataset_free(ds);
    char want[2048];
    snprintf(want, sizeof want,
             "%s: --split val: not a VOC folder (JPEGImages, SegmentationClass and ImageSets/Segmentation/val.txt); "
             "for another layout, give a list file",
             P("set.txt"));
    fails_with("open: --split on the folder layout", P("set.txt"), "val", 1, want);
    snprintf(want, sizeof want, "%s: %s", P("nowhere"), strerror(ENOENT));
    fails_with("open: a missing path", P("nowhere"), NULL, 0, want);
}

static void test_stems(void)
{
    put_image(P("st/a/x.jpg"));
    put_image(P("st/b/x.png"));
    put_image(P("st/b/x1.png"));
    put_image(P("st/b/x.1.png"));
    put(P("st/ok.txt"), "b/x.png\nb/x1.png\nb/x.1.png\n");
    nr_dataset *ds = nr_dataset_open(P("st/ok.txt"), 0, err, sizeof err);
    check(ds && nr_dataset_check_stems(ds, err, sizeof err) == 0,
          "stems: x, x1 and x.1 are distinct (a stem that starts another)", "%s", err);
    nr_dataset_free(ds);
    put(P("st/two.txt"), "b/x1.png\na/x.jpg\nb/x.1.png\nb/x.png\n");
    ds = nr_dataset_open(P("st/two.txt"), 0, err, sizeof err);
    int rc = ds ? nr_dataset_check_stems(ds, err, sizeof err) : 0;
    check(rc == -1 && strstr(err, P("st/a/x.jpg")) && strstr(err, P("st/b/x.png")) &&
              strstr(err, ": two images of the name x; their predicted masks (x.png) would overwrite each other"),
          "stems: a/x.jpg and b/x.png named, with the mask they would both write", "rc %d: %s", rc, err);
    nr_dataset_free(ds);
}

int main(void)
{
    if (tmpdir_make("test_layout") != 0)
        return 1;
    test_names();
    test_voc();
    test_list();
    test_list_text();
    test_open();
    test_stems();
    rm_rf(tmpdir);
    printf("%d passed, %d failed\n", n_checks - n_fail, n_fail);
    return n_fail ? 1 : 0;
}
