/* shm_pool: a server that maps buffers a client process sends (as a Wayland
 * compositor maps its clients' shared-memory buffers), against a client
 * that truncates each buffer while the server works on it.
 *
 *   shm_pool plain N   the server maps with mmap: the first truncation that
 *                      lands while it reads kills it with SIGBUS
 *   shm_pool rmap N    the server maps with rmap_map_peer: every truncation
 *                      is a loss of that buffer, which the server sees and
 *                      counts (it would drop that client), and it goes on
 *   shm_pool sealed N  the client creates its buffers with rmap_shm_create,
 *                      sealed against shrinking: its truncations fail with
 *                      EPERM, and the server maps them plainly
 *
 * The descriptors travel over a Unix socket (SCM_RIGHTS); after each buffer
 * the client says whether its truncation succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rmap.h>

enum { PAGES = 4 };

static void send_fd(int sock, int fd)
{
    char byte = 'f';
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u); /* the padding goes to the kernel too */
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (sendmsg(sock, &msg, 0) != 1) _exit(3);
}

static int receive_fd(int sock)
{
    char byte;
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    if (recvmsg(sock, &msg, 0) != 1) return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* The client: per buffer a memfd of PAGES pages, sent, then truncated to 0
 * after a random pause; one byte says whether the truncation took. */
static void client(int sock, int buffers, int sealed)
{
    size_t size = PAGES * (size_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < buffers; i++) {
        int fd = sealed ? rmap_shm_create("pool", size, F_SEAL_SHRINK | F_SEAL_GROW, 0)
                        : memfd_create("pool", MFD_CLOEXEC);
        if (fd < 0 || (!sealed && ftruncate(fd, (off_t)size) != 0)) _exit(2);
        send_fd(sock, fd);
        for (volatile long spin = rand() % 20000; spin > 0; spin--) {
        }
        char said = ftruncate(fd, 0) == 0 ? 't' : errno == EPERM ? 'p' : 'e';
        if (write(sock, &said, 1) != 1) _exit(0); /* the server is gone */
        close(fd);
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "plain") != 0 && strcmp(argv[1], "rmap") != 0 && strcmp(argv[1], "sealed") != 0)) {
        fprintf(stderr, "usage: shm_pool plain|rmap|sealed N\n");
        return 2;
    }
    int plain = strcmp(argv[1], "plain") == 0, buffers = atoi(argv[2]);
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = PAGES * page;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return perror("socketpair"), 1;
    pid_t pid = fork();
    if (pid < 0) return perror("fork"), 1;
    if (pid == 0) {
        close(sv[0]);
        client(sv[1], buffers, strcmp(argv[1], "sealed") == 0);
    }
    close(sv[1]);
    int served = 0, truncated = 0, refused = 0, damaged = 0;
    for (int i = 0; i < buffers; i++) {
        int fd = receive_fd(sv[0]);
        if (fd < 0) break;
        char *p = plain ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                        : rmap_map_peer(fd, size, PROT_READ | PROT_WRITE);
        if (p == MAP_FAILED) return perror("map"), 1;
        if (plain) {
            printf("plain mmap: serving buffer %d of %d, %d served\n", i + 1, buffers, served);
            fflush(stdout);
        }
        char said = 0;
        do { /* the server's work: read and write every page, until the client says what it did */
            for (size_t k = 0; k < PAGES; k++) p[k * page + 1] = (char)(p[k * page] + 1);
        } while (recv(sv[0], &said, 1, MSG_DONTWAIT) != 1);
        for (size_t k = 0; k < PAGES; k++) p[k * page + 1] = (char)(p[k * page] + 1);
        truncated += said == 't';
        refused += said == 'p';
        if (!plain && rmap_losses(p, size, NULL, 0) > 0) damaged++;
        if (plain) munmap(p, size);
        else rmap_unmap(p, size);
        close(fd);
        served++;
    }
    waitpid(pid, NULL, 0);
    printf("%s: %d buffers served; the client truncated %d of them (%d truncations refused: EPERM); "
           "%d seen as damaged (rmap_losses) and dropped\n",
           argv[1], served, truncated, refused, damaged);
    return 0;
}
