/* dlopen_host LIBRMAP FILE: a program that does not link librmap, as a
 * plugin host (Python, a JVM) is: it loads librmap with
 * dlopen(RTLD_LOCAL), so its own calls of sigaction and signal bind to the
 * C library, never to librmap's. After a first guarded copy it sets SIGBUS
 * three ways through the C library (a handler of its own, SIG_DFL, SIG_IGN)
 * and blocks it; after each, rmap_read of FILE's mapping, which another
 * process truncated, must still give EIO. (fault_safe runs it.) */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void own_handler(int sig) { (void)sig; }

int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    setbuf(stdout, NULL);
    alarm(20); /* a copy that loops in the program's handler ends here */
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    int fd = open(argv[2], O_RDWR);
    if (!lib || fd < 0) return 3;
    int (*rmap_read)(void *, const void *, size_t);
    *(void **)&rmap_read = dlsym(lib, "rmap_read");
    char *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    char buf[16];
    if (!rmap_read || p == MAP_FAILED || rmap_read(buf, p, sizeof buf) != 0) return 4;
    pid_t child = fork();
    if (child == 0) _exit(ftruncate(fd, 0) == 0 ? 0 : 1);
    waitpid(child, NULL, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    const char *ways[] = {"sigaction(SIGBUS, own handler)", "sigaction(SIGBUS, SIG_DFL)", "signal(SIGBUS, SIG_IGN)",
                          "sigprocmask(SIG_BLOCK, SIGBUS)"};
    int good = 0;
    for (int i = 0; i < 4; i++) {
        if (i == 0) sa.sa_handler = own_handler, sigaction(SIGBUS, &sa, NULL);
        if (i == 1) sa.sa_handler = SIG_DFL, sigaction(SIGBUS, &sa, NULL);
        if (i == 2) signal(SIGBUS, SIG_IGN);
        if (i == 3) {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGBUS);
            sigprocmask(SIG_BLOCK, &set, NULL);
        }
        int rc = rmap_read(buf, p + 100, sizeof buf), err = errno;
        printf("after %s: rmap_read -> %d (%s)\n", ways[i], rc, rc ? strerrorname_np(err) : "-");
        good += rc == -1 && err == EIO;
    }
    return good == 4 ? 0 : 1;
}
