/* A plugin for tests/c/checked.c: loaded with dlopen from a path of the
 * test's choosing (one that holds a newline, escape sequences, bytes that
 * are not UTF-8), it makes a mapping and never unmaps it, so that the leak
 * report names the plugin's path as the creation site. */
#define _DEFAULT_SOURCE
#include "rmap.h"

void *checked_plugin_leak(void);

void *checked_plugin_leak(void)
{
    return rmap_map(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
