/* replicas.h — the model's state the same on every rank of a data-parallel
 * job (dist.h): broadcast at the start of training, checked at its end.
 * Like checkpoint.h it reads the state in place (nr_model_state): a job of
 * the host, over the job's MPI collectives, not the backend's. */
#ifndef NR_REPLICAS_H
#define NR_REPLICAS_H

#include <stdint.h>

#include "exec.h"

/* Rank 0's parameters, optimizer state, constants and step, to every rank. */
void nr_dist_bcast_model(nr_model *m);
/* A checksum of the parameters and optimizer state into *sum; -1 when the
 * ranks' checksums differ (the weights are no longer the same), else 0. */
int nr_dist_check_model(nr_model *m, uint64_t *sum);

#endif
