/* transfer.h — transfer learning for netrun train: weights from another
 * model's checkpoint where names and shapes match (--init), and parameters
 * kept fixed (--freeze).  Each returns 0, or -1 with a one-line message in
 * err; nothing is changed on failure. */
#ifndef NR_TRANSFER_H
#define NR_TRANSFER_H

#include <stddef.h>
#include <stdio.h>

#include "exec.h"

/* Load into m every parameter of the checkpoint at path whose name and
 * shape (F32) match one of m's; the others keep their initial values.
 * Prints to out (NULL: silent) how many were loaded and, one line each,
 * what was skipped and why: a parameter of m absent from the file, one of
 * another shape there (a head with another class count), and the file's
 * tensors that m has no use for (a deeper network's); the file's optimizer
 * state (NAME.SUFFIX of a tensor NAME) and raw weights (raw.NAME, ema.h)
 * are not listed.  -1 when nothing matches. */
int nr_transfer_init(nr_model *m, const char *path, FILE *out, char *err, size_t errlen);

/* Freeze (nr_model_freeze) every parameter of m whose name matches one of
 * the n glob patterns (fnmatch(3) without flags: '*' crosses dots; each
 * pattern may be a comma-separated list).  Prints the frozen count to out
 * (NULL: silent).  -1 for a pattern that matches no parameter, or when
 * every parameter would be frozen. */
int nr_transfer_freeze(nr_model *m, const char *const *patterns, int n, FILE *out, char *err, size_t errlen);

#endif
