/* same_job.h — before the first step of a data-parallel run (dist.h), the
 * ranks check that they run the same job: the same graph, the same options
 * and the same data.  Without it a rank started with another class count
 * failed in MPI, another learning rate was found only by the weight check
 * after the last step, and other data trained silently. */
#ifndef NR_SAME_JOB_H
#define NR_SAME_JOB_H

#include <stddef.h>

#include "dataset.h"
#include "exec.h"
#include "train.h"

/* Collective: every rank digests its graph (the .netg image), the options
 * that shape the run (o's epochs, steps, seed, shuffle, augment, splits,
 * best metric, checkpoint interval, whether there is a validation set) and
 * its data (each sample's name and the sizes of its image and mask files,
 * of ds and vs) and compares them with rank 0's.  0 when all agree (and in
 * one process); else -1 on every rank, rank 0's err naming what differs and
 * on which ranks (the other ranks' err empty), nr_dist_failed_together() 1. */
int nr_dist_same_job(nr_model *m, const nr_train_opts *o, const nr_dataset *ds, const nr_dataset *vs, char *err,
                     size_t errlen);

#endif
