/* embed.c — segmenting an image from a C program through libnetrun
 * (netrun.h): open a compiled graph, load its weights (several: an
 * ensemble), run it on a PNG or JPEG file and write the mask as
 * `netrun predict` does.  Built with the project; against an installed
 * netrun:  cc embed.c $(pkg-config --cflags --libs netrun) -o embed
 *
 *     embed [--set KEY=VALUE]... GRAPH.netg IMAGE OUT.png CKPT [CKPT...] */
#include <netrun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int a = 1;
    netrun *nr = NULL;
    while (a + 1 < argc && !strcmp(argv[a], "--set"))
        a += 2;
    if (argc - a < 4) {
        fprintf(stderr, "usage: embed [--set KEY=VALUE]... GRAPH.netg IMAGE OUT.png CKPT [CKPT...]\n");
        return 2;
    }
    const char *graph = argv[a], *image = argv[a + 1], *out = argv[a + 2];
    if (netrun_open(&nr, graph) != 0)
        goto fail;
    for (int i = 1; i < a; i += 2) { /* options: before the weights */
        char key[256];
        const char *eq = strchr(argv[i + 1], '=');
        if (!eq || (size_t)(eq - argv[i + 1]) >= sizeof key) {
            fprintf(stderr, "embed: --set takes KEY=VALUE, not '%s'\n", argv[i + 1]);
            netrun_close(nr);
            return 2;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - argv[i + 1]), argv[i + 1]);
        if (netrun_set(nr, key, eq + 1) != 0)
            goto fail;
    }
    if (netrun_load_weights(nr, (const char *const *)argv + a + 3, argc - a - 3) != 0)
        goto fail;
    int h, w;
    uint8_t *mask;
    if (netrun_run_file(nr, image, &h, &w, NULL, &mask) != 0)
        goto fail;
    int rc = netrun_write_mask(nr, out, mask, h, w);
    netrun_free(mask);
    if (rc != 0)
        goto fail;
    printf("%s: %d x %d, %d classes\n", out, w, h, netrun_classes(nr));
    netrun_close(nr);
    return 0;
fail:
    fprintf(stderr, "embed: %s\n", netrun_errmsg(nr));
    netrun_close(nr);
    return 1;
}
