/* libpng.h — libpng's own header for png.c and tests/test_io.c.  Its name,
 * png.h, is also ours (runtime/io/png.h); it is named by its versioned folder
 * so that an -Iruntime ahead of libpng's include path cannot pick ours. */
#ifndef NR_LIBPNG_H
#define NR_LIBPNG_H

#if defined(__has_include)
#if __has_include(<libpng16/png.h>)
#include <libpng16/png.h>
#else
#include <png.h>
#endif
#else
#include <png.h>
#endif

#endif
