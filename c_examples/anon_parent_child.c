/* From the article "mmap basics" (mmap基础用例): parent and child talk through MAP_SHARED|MAP_ANONYMOUS.
 * Changes from the original: calls renamed to rmap_*; the result of the map
 * is checked; the sleep-based hand-offs became bounded polls and a waitpid,
 * so both messages arrive however the two processes are scheduled. */
#include <sys/mman.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "rmap.h"

#define BUF_SIZE 100

static const char FATHER[] = "hi, this is father";

static int wait_for(const char *p, const char *msg)
{
    for (int i = 0; i < 1000; i++) {
        if (strcmp(p, msg) == 0)
            return 0;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    return -1;
}

int main(void)
{
    char *p_map;

    /* 匿名映射,创建一块内存供父子进程通信 */
    p_map = (char *)rmap_map(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p_map == RMAP_FAILED) {
        perror("rmap_map");
        return 1;
    }
    setbuf(stdout, NULL);

    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        if (wait_for(p_map, FATHER) != 0)
            _exit(1);
        printf("child got a message: %s\n", p_map);
        sprintf(p_map, "%s", "hi, dad, this is son");
        rmap_unmap(p_map, BUF_SIZE); /* 实际上，进程终止时，会自动解除映射。 */
        exit(0);
    }

    sprintf(p_map, "%s", FATHER);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed\n");
        return 1;
    }
    printf("parent got a message: %s\n", p_map);

    return rmap_unmap(p_map, BUF_SIZE) == 0 ? 0 : 1;
}
