/* run_folder.h — the run folder of netrun train, claimed by one process:
 * an advisory lock held until the process ends (however it ends), and no
 * fresh run over an earlier one unless asked. */
#ifndef NR_RUN_FOLDER_H
#define NR_RUN_FOLDER_H

#include <stddef.h>
#include <stdio.h>

/* The lock file in a run folder; it holds the PID of the train holding it. */
#define NR_RUN_LOCK ".netrun.lock"

/* Claim run folder dir for this process: create it (mkdir -p), take the
 * lock (flock on dir/NR_RUN_LOCK, released by the kernel when the process
 * ends; never released before), remove the temporaries of writers killed
 * midway (ng_atomic_remove_stale, printed on report unless NULL).  A fresh
 * run (resume 0) wants the folder empty but for the lock: with overwrite,
 * the files an earlier run wrote there (log.csv, metrics.jsonl,
 * last.safetensors, best.safetensors, run.json, report.html) are removed
 * first and anything else stays (class_stats.bin, a cache still valid for
 * the same data, too); without, a folder holding anything is refused.
 * 0, or -1 with err: "DIR: in use by another netrun train (PID N)", "DIR:
 * holds an earlier run (NAME, ...); ...". */
int nr_run_folder_claim(const char *dir, int resume, int overwrite, FILE *report, char *err, size_t errlen);

/* What nr_run_folder_claim would refuse, found before anything is written:
 * dir locked by another process, or (a fresh run, without overwrite) not
 * empty.  Creates nothing; train checks it first and claims once its other
 * checks have passed.  0, or -1 with the claim's err. */
int nr_run_folder_check(const char *dir, int resume, int overwrite, char *err, size_t errlen);

#endif
