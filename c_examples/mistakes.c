/* mistakes: four ways plain mmap hurts, made once through the C library and
 * once through librmap (make demo puts the two side by side; run the
 * librmap side with RMAP_CHECK=1 to see checked mode's reports).
 *
 * Usage: mistakes MISTAKE plain|rmap [FILE]
 *   truncated     another process truncates FILE (8192 bytes) while it is
 *                 mapped; the program then reads its first byte
 *   double-unmap  the same page unmapped twice
 *   past-eof      a 2-page mapping of FILE (100 bytes); the program touches
 *                 its second page, which lies wholly past the end of the file
 *   leak          a mapping never unmapped before exit
 * The last line on stdout is "result: ...", what the call answered; a
 * signal that kills the program says the rest. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rmap.h"

static int use_rmap;

/* Macros, not functions: each call is made where it is written, so checked
 * mode's reports name that line. */
#define MAP(len, prot, flags, fd)                                                                                 \
    (use_rmap ? rmap_map(NULL, (len), (prot), (flags), (fd), 0) : mmap(NULL, (len), (prot), (flags), (fd), 0))
#define UNMAP(p, len) (use_rmap ? rmap_unmap((p), (len)) : munmap((p), (len)))

static const char *unmap_name(void) { return use_rmap ? "rmap_unmap" : "munmap"; }

static int open_file(const char *path)
{
    int fd = path ? open(path, O_RDWR) : -1;
    if (fd < 0) perror(path ? path : "this mistake needs a FILE");
    return fd;
}

/* Another process shrinks the file to 0 bytes. */
static void truncate_elsewhere(const char *path)
{
    pid_t child = fork();
    if (child == 0) _exit(truncate(path, 0) == 0 ? 0 : 1);
    int status;
    waitpid(child, &status, 0);
}

static int truncated(const char *path)
{
    int fd = open_file(path);
    if (fd < 0) return 1;
    char *p = MAP(8192, PROT_READ, MAP_SHARED, fd);
    if (p == MAP_FAILED) return perror("map"), 1;
    truncate_elsewhere(path);
    puts("mapped 8192 bytes; another process truncated the file to 0; reading byte 0");
    char byte = 0;
    if (!use_rmap) {
        byte = *(volatile char *)p; /* SIGBUS */
        printf("result: read '%c'\n", byte);
        return 0;
    }
    if (rmap_read(&byte, p, 1) != 0) {
        int error = errno;
        printf("result: rmap_read -> -1 %s (%s) at byte %zu; the program goes on\n", strerrorname_np(error),
               strerror(error), rmap_copied());
    } else {
        printf("result: rmap_read -> 0\n");
    }
    UNMAP(p, 8192);
    return 0;
}

static int double_unmap(void)
{
    size_t pg = rmap_pagesize();
    char *p = MAP(pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    if (p == MAP_FAILED) return perror("map"), 1;
    printf("%s(p) -> %d\n", unmap_name(), UNMAP(p, pg));
    errno = 0;
    int rc = UNMAP(p, pg);
    printf("result: %s(p) again -> %d%s%s\n", unmap_name(), rc, rc ? " " : "", rc ? strerrorname_np(errno) : "");
    return 0;
}

static int past_eof(const char *path)
{
    int fd = open_file(path);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return 1;
    size_t pg = rmap_pagesize();
    char *p = MAP(2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
    if (p == MAP_FAILED) return perror("map"), 1;
    printf("mapped 2 pages of a %lld-byte file; writing byte %zu (the second page)\n", (long long)st.st_size, pg);
    p[pg] = '9'; /* SIGBUS: no file behind that page */
    printf("result: wrote byte %zu\n", pg);
    UNMAP(p, 2 * pg);
    return 0;
}

static int leak(void)
{
    size_t pg = rmap_pagesize();
    char *p = MAP(2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    if (p == MAP_FAILED) return perror("map"), 1;
    p[0] = 1;
    printf("mapped %zu bytes; exiting without unmapping them\nresult: exit 0\n", 2 * pg);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[2], "plain") != 0 && strcmp(argv[2], "rmap") != 0)) {
        fprintf(stderr, "usage: %s truncated|double-unmap|past-eof|leak plain|rmap [FILE]\n", argv[0]);
        return 2;
    }
    setbuf(stdout, NULL);
    use_rmap = strcmp(argv[2], "rmap") == 0;
    const char *file = argc > 3 ? argv[3] : NULL;
    if (strcmp(argv[1], "truncated") == 0) return truncated(file);
    if (strcmp(argv[1], "double-unmap") == 0) return double_unmap();
    if (strcmp(argv[1], "past-eof") == 0) return past_eof(file);
    if (strcmp(argv[1], "leak") == 0) return leak();
    fprintf(stderr, "%s: unknown mistake %s\n", argv[0], argv[1]);
    return 2;
}
