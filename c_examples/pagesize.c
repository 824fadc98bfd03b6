/* From the article "How others use mmap" (看看别人使用mmap), "额外": the page size, three ways; rmap_pagesize() must agree. */
#include <stdio.h>
#include <unistd.h>
#include "rmap.h"

int main(void)
{
    long by_sysconf = sysconf(_SC_PAGESIZE);
    printf("%d\n", getpagesize());
    printf("%ld\n", by_sysconf);
    printf("%zu\n", rmap_pagesize());
    printf("librmap %s (header %s)\n", rmap_version(), RMAP_VERSION_STRING);
    return (size_t)by_sysconf == rmap_pagesize() && getpagesize() == by_sysconf ? 0 : 1;
}
