/* export.c — netrun export (export.h): the checkpoint into the model, the
 * manifest from the graph's options, the ONNX file from io/onnx.c. */
#define _POSIX_C_SOURCE 200809L
#include "export.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "image.h"
#include "onnx.h"
#include "options.h"
#include "overlay.h"
#include "report_int.h"
#include "util.h"
#include "window.h"

static const float *state_value(void *ctx, int32_t t)
{
    return nr_model_state(ctx, t);
}

static void jnums(FILE *f, int n, const float *v)
{
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", f);
        rp_jnum(f, v[i]);
    }
    fputc(']', f);
}

/* The manifest: what netrun predict does around the network (window.h),
 * from the graph's options as netrun predict would read them. */
static char *manifest_json(nr_model *m, const nr_export_opts *o, const int64_t *counts)
{
    const ng_graph *g = nr_model_graph(m);
    const ng_tensor *im = &g->tensors[g->bind.image], *out = &g->tensors[g->bind.output];
    int C = im->dim[1], K = g->bind.classes;
    float mean[8], stdv[8];
    char err[256];
    if (C > 8 || nr_image_norm_options(g, C, mean, stdv, err, sizeof err) != 0)
        return NULL; /* checked when the model was loaded */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    const char *isz = nr_option(g, "infer_size");
    int resize = !strcmp(isz, "resize") || (!strcmp(isz, "auto") && nr_option_is(g, "size", "resize"));
    fprintf(f, "{\"format\": 1, \"producer\": \"netrun\", \"netrun_version\": ");
    nr_json_put_str(f, o->version);
    fprintf(f, ", \"netg_version\": %d, \"model_file\": ", NG_VERSION);
    nr_json_put_str(f, g->source);
    fputs(", \"graph\": ", f);
    nr_json_put_str(f, o->graph);
    fputs(", \"weights\": ", f);
    nr_json_put_str(f, o->weights);
    fputs(",\n \"input\": {\"name\": ", f);
    nr_json_put_str(f, im->name);
    fprintf(f, ", \"shape\": [\"N\", %d, %d, %d], \"layout\": \"NCHW\", \"scale\": ", C, im->dim[2], im->dim[3]);
    rp_jnum(f, 1.0 / 255.0);
    fprintf(f, ", \"scale_16bit\": ");
    rp_jnum(f, 1.0 / 65535.0);
    fprintf(f, ", \"channels\": \"%s\", \"mean\": ",
            C == 1 ? "gray: colour images as luma 0.299 R + 0.587 G + 0.114 B" : "RGB: gray images replicated");
    jnums(f, C, mean);
    fputs(", \"std\": ", f);
    jnums(f, C, stdv);
    fputs(", \"normalize\": \"(pixel * scale - mean[c]) / std[c]\"},\n \"output\": {\"name\": ", f);
    nr_json_put_str(f, g->bind.output_name ? g->bind.output_name : out->name);
    fprintf(f, ", \"shape\": [\"N\", %d, %d, %d], \"kind\": \"class probabilities, softmax over axis 1\"},\n", K,
            out->dim[2], out->dim[3]);
    fprintf(f, " \"infer_size\": \"%s\",\n \"window\": {\"tile\": [%d, %d], \"overlap\": ", resize ? "resize" : "window",
            im->dim[2], im->dim[3]);
    rp_jnum(f, nr_option_num(g, "overlap"));
    fputs(", \"window_sigma\": ", f);
    rp_jnum(f, nr_option_num(g, "window_sigma"));
    fputs(", \"positions\": \"along a side L > T: n = ceil((L - T) / max(1, T * (1 - overlap))) + 1 tiles at "
          "round(k * (L - T) / (n - 1)); L <= T: one tile at 0, padded with 0 after normalization\", "
          "\"weights\": \"each tile's output times exp(-(y - T/2)^2 / (2 (sigma T)^2)) exp(-(x - W/2)^2 / (2 "
          "(sigma W)^2)) (integer centres T/2, W/2; at least 1e-8), summed, divided by the summed weights\", "
          "\"resize\": \"infer_size resize: the normalized image resized bilinearly (half-pixel centres) to the "
          "tile, the output resized back\"},\n \"tta\": ",
          f);
    nr_json_put_str(f, nr_option(g, "tta"));
    fputs(", \"tta_rule\": \"flips: the tile, flipped horizontally, vertically and both, each output flipped back, "
          "the four averaged; all (square tiles): also their transposes\",\n \"prior_correction\": {\"tau\": ",
          f);
    rp_jnum(f, nr_option_num(g, "prior_correction"));
    fputs(", \"priors\": ", f);
    if (counts) {
        fputc('[', f);
        for (int k = 0; k < K; k++) {
            fputs(k ? ", " : "", f);
            rp_jnum(f, nr_window_prior(counts, K, k));
        }
        fputc(']', f);
    } else {
        fputs("null", f);
    }
    fputs(", \"rule\": \"p[k] / prior[k]^tau, renormalized over k (tau 0: off)\"},\n", f);
    fprintf(f, " \"classes\": {\"count\": %d, \"names\": null, \"ignore\": %d},\n \"palette\": [", K, g->bind.ignore);
    nr_palette pal;
    nr_palette_voc(&pal);
    for (int k = 0; k < K; k++)
        fprintf(f, "%s[%d, %d, %d]", k ? ", " : "", pal.rgb[k][0], pal.rgb[k][1], pal.rgb[k][2]);
    fputs("],\n \"mask\": \"argmax over k of the probabilities, as 8-bit palette PNG values\"", f);
    /* export --postprocess FILE, --temperature FILE: what eval --choose-postprocessing and
     * --fit-temperature wrote to the run folder (postprocess.h, calibration.h) */
    if (o->post) {
        nr_post_print_json(f, o->post); /* ,"postprocessing":{...} */
        fputs(",\n \"postprocessing_rule\": \"classes in ascending order, on the argmax mask: for a class in "
              "keep_largest only its largest 8-connected component stays (the first in row-major order of "
              "its first pixel among equals), otherwise its 8-connected components of fewer pixels than "
              "remove_smaller_than's become class 0\"", f);
    } else {
        fputs(",\n \"postprocessing\": null", f);
    }
    if (o->temperature > 0) {
        fputs(",\n \"temperature\": {\"value\": ", f);
        rp_jnum(f, o->temperature);
        fputs(", \"rule\": \"q[k] = p[k]^(1/T) / sum over j of p[j]^(1/T); the mask does not change\"}", f);
    } else {
        fputs(",\n \"temperature\": null", f);
    }
    fputs("}\n", f);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int nr_export_onnx(nr_model *m, const nr_export_opts *o, char *err, size_t errlen)
{
    const ng_graph *g = nr_model_graph(m);
    if (nr_ckpt_load(m, o->weights, 0, NULL, err, errlen) != 0)
        return -1;
    int K = g->bind.classes;
    int64_t *counts = calloc((size_t)K, sizeof *counts);
    char why[512];
    if (!counts)
        return ng_fail(err, errlen, "out of memory");
    int have = nr_ckpt_class_counts(o->weights, counts, K, why, sizeof why) == 0;
    if (!have && nr_option_num(g, "prior_correction") > 0) {
        free(counts);
        return ng_fail(err, errlen, "prior_correction %g needs the training set's class counts: %s",
                       nr_option_num(g, "prior_correction"), why);
    }
    char *manifest = manifest_json(m, o, have ? counts : NULL);
    free(counts);
    if (!manifest)
        return ng_fail(err, errlen, "out of memory");
    nr_onnx_opts x = {"infer", o->version, manifest, state_value, m};
    int rc = nr_onnx_write(g, &x, o->out, err, errlen);
    free(manifest);
    return rc;
}
