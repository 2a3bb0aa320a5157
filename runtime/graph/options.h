/* options.h — netrun's settings from the model file (`option KEY = VALUE`,
 * the .netg options table) and from `netrun --set KEY=VALUE`: the table of
 * known options (options.def), validation shared by netc and netrun, and
 * typed reads of the value in effect (the graph's, else the default). */
#ifndef NR_OPTIONS_H
#define NR_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "netg.h"

typedef enum { NR_OPT_NUM, NR_OPT_INT, NR_OPT_CHOICE, NR_OPT_NUMS, NR_OPT_STR, NR_OPT_BOOL } nr_opt_kind;

typedef enum { NR_OPT_INFER, NR_OPT_TRAIN } nr_opt_scope;

typedef struct {
    const char *name;
    nr_opt_kind kind;
    nr_opt_scope scope; /* TRAIN: it changes the training batches (kept by checkpoints) */
    const char *def;     /* default, in canonical form */
    const char *range;   /* "lo..hi" (NUM, INT, NUMS), "a|b|c" (CHOICE), "" */
    const char *doc;
} nr_option_info;

#define NR_OPTION_MAX_NUMS 16

extern const nr_option_info nr_option_table[];
extern const int nr_option_count;

/* The row of key, or NULL. */
const nr_option_info *nr_option_find(const char *key);

/* Check value for key and write its canonical form into canon (numbers as
 * %.9g, lists as "a,b,c"; a list may be written "[a, b, c]" or "a,b,c").
 * Returns 0, or -1 with a message in err such as "option 'overlap' takes a
 * number in 0..0.95, not '2'" or "unknown option 'sise' (known: ...)". */
int nr_option_check(const char *key, const char *value, char *canon, size_t canonlen, char *err,
                    size_t errlen);

/* Set key to value in g's options table (checked, canonical), replacing the
 * model file's value.  0 or -1 with err. */
int nr_option_set(ng_graph *g, const char *key, const char *value, char *err, size_t errlen);
/* "KEY=VALUE" as given to --set. */
int nr_option_set_arg(ng_graph *g, const char *arg, char *err, size_t errlen);

/* Every option of a loaded graph is known and valid (a .netg from another
 * netc).  0 or -1 with err naming the option. */
int nr_options_check_graph(const ng_graph *g, char *err, size_t errlen);

/* The value in effect: g's, else the default (never NULL for a known key;
 * NULL for an unknown one). */
const char *nr_option(const ng_graph *g, const char *key);
/* As a number (NUM, INT, BOOL: 1/0); NAN for an unknown key. */
double nr_option_num(const ng_graph *g, const char *key);
/* Whether a CHOICE option is set to choice. */
int nr_option_is(const ng_graph *g, const char *key, const char *choice);
/* A NUMS option's numbers into out[0..max); returns how many it has (may
 * exceed max: only max are written), -1 for an unknown key. */
int nr_option_nums(const ng_graph *g, const char *key, double *out, int max);
/* Whether the value in effect came from g (model file or --set) rather than
 * the default. */
int nr_option_given(const ng_graph *g, const char *key);

/* The TRAIN-scope options in effect, "key=value;key=value..." in table
 * order, for a checkpoint's metadata.  0, or -1 when len is too small. */
int nr_options_train_record(const ng_graph *g, char *out, size_t len);
/* How many options of a record (nr_options_train_record's form) differ
 * from g's in effect; their recorded and current values as " --set
 * key=value" lists into was and now.  Keys this netrun does not know are
 * skipped. */
int nr_options_train_diff(const ng_graph *g, const char *record, char *was, size_t wlen, char *now,
                          size_t nlen);

/* One line per known option: "  key = value  (default|model)". */
void nr_options_print(FILE *f, const ng_graph *g);

#endif
