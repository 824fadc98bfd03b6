/* A program for tests/c/checked.c to install set-user-ID root and start as
 * an unprivileged user. Linked with librmap.a (a set-user-ID program's
 * loader ignores $ORIGIN). It leaks a mapping and unmaps another twice, then
 * fails with status 7. With the argument "set-check" it turns checked mode
 * on itself first (rmap_set_check), which a set-user-ID program still may;
 * its environment's RMAP_CHECK* variables must change nothing. */
#define _DEFAULT_SOURCE
#include <string.h>

#include "rmap.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "set-check") == 0) rmap_set_check(RMAP_CHECK_REPORT);
    rmap_map(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *p = rmap_map(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    rmap_unmap(p, 4096);
    rmap_unmap(p, 4096);
    return 7;
}
