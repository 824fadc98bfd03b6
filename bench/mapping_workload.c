/* make bench: the workloads timed plain and under rmap-check (a plain C
 * program: no librmap in its build). Prints the mean ns per operation.
 *
 *   mapping_workload files DIR N   N passes over the files of DIR, each file
 *                                  read the way mmap-based readers (grep,
 *                                  compilers, git's pack windows) do: open,
 *                                  fstat, mmap, scan every byte, munmap, close
 *   mapping_workload pages N       N anonymous one-page mmap+munmap pairs:
 *                                  nothing but the calls rmap-check checks */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static uint64_t scan_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) exit((perror(path), 1));
    const uint64_t *words = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (words == MAP_FAILED) exit((perror("mmap"), 1));
    uint64_t sum = 0;
    for (size_t i = 0; i < (size_t)st.st_size / sizeof *words; i++) sum += words[i];
    munmap((void *)words, (size_t)st.st_size);
    close(fd);
    return sum;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "files") == 0) {
        char paths[256][512];
        int count = 0;
        DIR *dir = opendir(argv[2]);
        for (struct dirent *e; dir && (e = readdir(dir)) && count < 256;)
            if (e->d_name[0] != '.') snprintf(paths[count++], sizeof paths[0], "%s/%s", argv[2], e->d_name);
        if (!dir || count == 0) return fprintf(stderr, "no files in %s\n", argv[2]), 1;
        long passes = atol(argv[3]);
        uint64_t sum = 0;
        double start = now_ns();
        for (long p = 0; p < passes; p++)
            for (int i = 0; i < count; i++) sum += scan_file(paths[i]);
        printf("%.0f ns/op (checksum %llx)\n", (now_ns() - start) / ((double)passes * count), (unsigned long long)sum);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "pages") == 0) {
        long pairs = atol(argv[2]);
        double start = now_ns();
        for (long i = 0; i < pairs; i++) {
            char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) return perror("mmap"), 1;
            p[0] = 1;
            munmap(p, 4096);
        }
        printf("%.0f ns/op\n", (now_ns() - start) / pairs);
        return 0;
    }
    fprintf(stderr, "usage: %s files DIR N | pages N\n", argv[0]);
    return 2;
}
