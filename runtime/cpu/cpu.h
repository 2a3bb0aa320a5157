/* cpu.h — the CPU backend (backend.h): memory from the host's allocator,
 * the kernels of dispatch.h on this machine's cores (parallel.h), the
 * collectives of dist.h over the MPI job. */
#ifndef NR_CPU_H
#define NR_CPU_H

#include "backend.h"

/* The one CPU backend (static; never freed). */
const nr_backend *nr_backend_cpu(void);

#endif
