/* export.h — netrun export: the infer entry of a model with its trained
 * weights as an ONNX file (io/onnx.h), with the manifest that says how
 * netrun predict prepares an image and combines the tiles, so that a
 * reader reproduces netrun's probabilities and masks (README.md, "Export
 * and embedding"). */
#ifndef NR_EXPORT_H
#define NR_EXPORT_H

#include <stddef.h>

#include "exec.h"
#include "postprocess.h"

typedef struct {
    const char *graph;    /* the .netg path, for the manifest */
    const char *weights;  /* the checkpoint (safetensors) */
    const char *out;      /* MODEL.onnx */
    const char *version;  /* netrun's version */
    const nr_postprocess *post; /* the post-processing netrun applies to the mask (postprocess.h), or NULL */
    double temperature;   /* the fitted temperature (calibration.h), or 0: none */
} nr_export_opts;

/* Load o->weights into m (every parameter, by name and shape: a checkpoint
 * of another graph is an error naming the tensor) and write o->out
 * atomically.  0, or -1 with a message in err. */
int nr_export_onnx(nr_model *m, const nr_export_opts *o, char *err, size_t errlen);

#endif
