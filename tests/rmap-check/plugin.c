/* Loaded by correct.c with dlopen: its calls go through rmap-check too. */
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/mman.h>

void *plugin_map(size_t len)
{
    return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

int plugin_unmap(void *addr, size_t len)
{
    return munmap(addr, len);
}
