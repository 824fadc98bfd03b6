/* shm: rmap_shm_create and rmap_map_peer. Shared memory that no peer can
 * crash: created with its storage allocated (a full /dev/shm is ENOSPC
 * from the call, never a later SIGBUS), sealed as asked (and never handed
 * out with fewer seals), and mapped from a peer so that the peer's
 * truncation is a recorded loss, not a death.
 *
 * Each test runs in its own child. Tests named <fn>_<errno>_<what> are tags
 * of ERRORS entries in include/rmap.h. The small-/dev/shm cases mount a
 * 64 KiB tmpfs over /dev/shm in a private mount namespace (root only;
 * elsewhere they say why they are skipped).
 *
 * Usage: shm [TEST]
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static off_t size_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0) die("fstat");
    return st.st_size;
}

/* A name no other test or run uses. */
static const char *unique_name(void)
{
    static char name[64];
    snprintf(name, sizeof name, "/rmap-test-%d-%ld", (int)getpid(), (long)random());
    return name;
}

/* /dev/shm replaced by a tmpfs of `size` (a private mount namespace). */
static void small_dev_shm(const char *size)
{
    if (geteuid() != 0) skip_test("mounting a small tmpfs over /dev/shm needs root");
    char options[64];
    snprintf(options, sizeof options, "size=%s", size);
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", "/dev/shm", "tmpfs", 0, options) != 0)
        skip_test("this machine refused a private mount over /dev/shm");
}

/* ---- rmap_shm_create: the ERRORS entries ---- */

static int shm_create_einval_flags(void)
{
    return rmap_shm_create("x", PG, 0, 4) == -1 ? errno : 0;
}

static int shm_create_einval_seals(void)
{
    return rmap_shm_create("x", PG, 0x100, 0) == -1 ? errno : 0;
}

static int shm_create_einval_no_name(void)
{
    return rmap_shm_create(NULL, PG, 0, RMAP_SHM_NAMED) == -1 ? errno : 0;
}

static int shm_create_einval_long_name(void)
{
    char name[300];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    int ok = check(memfd_create(name, 0) == -1 && errno == EINVAL, "memfd_create with it: EINVAL");
    int rc = rmap_shm_create(name, PG, 0, 0);
    return ok && rc == -1 ? errno : 0;
}

static int shm_create_eexist_named(void)
{
    const char *name = unique_name();
    int fd = rmap_shm_create(name, PG, 0, RMAP_SHM_NAMED);
    if (fd < 0) die("rmap_shm_create");
    int rc = rmap_shm_create(name, PG, 0, RMAP_SHM_NAMED);
    int e = errno;
    shm_unlink(name);
    int ok = check(size_of(fd) == (off_t)PG, "the first one untouched");
    return ok && rc == -1 ? e : 0;
}

static int shm_create_enospc_no_room(void)
{
    small_dev_shm("64k");
    const char *name = unique_name();
    /* The C library's way succeeds: ftruncate allocates nothing. */
    int plain = shm_open("/plain", O_RDWR | O_CREAT | O_EXCL, 0600);
    int ok = check(plain >= 0 && ftruncate(plain, 1 << 20) == 0, "shm_open + ftruncate of 1 MiB: succeeds");
    int rc = rmap_shm_create(name, 1 << 20, 0, RMAP_SHM_NAMED);
    int e = errno;
    int fd = shm_open(name, O_RDONLY, 0);
    ok &= check(fd < 0 && errno == ENOENT, "no name left behind");
    return ok && rc == -1 ? e : 0;
}

static int shm_create_efbig_file_size_limit(void)
{
    struct rlimit limit = {16 * PG, RLIM_INFINITY};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) die("setrlimit");
    int ok = check(rmap_shm_create("small", 16 * PG, 0, 0) >= 0, "up to the limit: made");
    int rc = rmap_shm_create("big", 32 * PG, 0, 0);
    return ok && rc == -1 ? errno : 0;
}

static int shm_create_eperm_named_seals(void)
{
    const char *name = unique_name();
    int rc = rmap_shm_create(name, PG, F_SEAL_SHRINK, RMAP_SHM_NAMED);
    int e = errno;
    int fd = shm_open(name, O_RDONLY, 0);
    int ok = check(fd < 0 && errno == ENOENT, "no name left behind");
    return ok && rc == -1 ? e : 0;
}

/* ---- rmap_map_peer: the ERRORS entries ---- */

static int map_peer_ebadf_not_open(void)
{
    return rmap_map_peer(-1, PG, PROT_READ) == RMAP_FAILED ? errno : 0;
}

static int map_peer_einval_length_zero(void)
{
    int fd = rmap_shm_create("peer", PG, 0, 0);
    return rmap_map_peer(fd, 0, PROT_READ) == RMAP_FAILED ? errno : 0;
}

static int map_peer_eacces_read_only(void)
{
    int fd = rmap_shm_create("peer", PG, 0, 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY);
    if (ro < 0) die("reopen read-only");
    int ok = check(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED && errno == EACCES,
                   "mmap of it writable: EACCES");
    return ok && rmap_map_peer(ro, PG, PROT_READ | PROT_WRITE) == RMAP_FAILED ? errno : 0;
}

static int map_peer_eperm_write_sealed(void)
{
    int fd = rmap_shm_create("peer", PG, F_SEAL_WRITE, 0);
    if (fd < 0) die("rmap_shm_create");
    int ok = check(rmap_map_peer(fd, PG, PROT_READ) != RMAP_FAILED, "read-only: mapped");
    return ok && rmap_map_peer(fd, PG, PROT_READ | PROT_WRITE) == RMAP_FAILED ? errno : 0;
}

/* ---- the seal matrix ---- */

/* Each operation on a fresh 4-page memfd with `seals`: 0, or the errno. */
static int operation(int fd, int which)
{
    switch (which) {
    case 0: return ftruncate(fd, 8 * (off_t)PG) == 0 ? 0 : errno;
    case 1: return ftruncate(fd, (off_t)PG) == 0 ? 0 : errno;
    case 2: return pwrite(fd, "w", 1, 0) == 1 ? 0 : errno;
    case 3: return fallocate(fd, 0, 0, 8 * (off_t)PG) == 0 ? 0 : errno;
    default: {
        void *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) return errno;
        munmap(p, 4 * PG);
        return 0;
    }
    }
}

static int seal_matrix_forbids_exactly_what_each_seal_forbids(void)
{
    const char *ops[] = {"ftruncate up", "ftruncate down", "write(2)", "fallocate past the end", "writable mmap",
                         "another seal"};
    const unsigned seal[] = {F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE, F_SEAL_FUTURE_WRITE};
    /* Which operations each seal forbids (fcntl(2)). */
    const int forbids[][6] = {
        {0, 0, 0, 0, 0, 1}, /* F_SEAL_SEAL: no more seals */
        {0, 1, 0, 0, 0, 0}, /* F_SEAL_SHRINK */
        {1, 0, 0, 1, 0, 0}, /* F_SEAL_GROW */
        {0, 0, 1, 0, 1, 0}, /* F_SEAL_WRITE */
        {0, 0, 1, 0, 1, 0}, /* F_SEAL_FUTURE_WRITE */
    };
    int cases = 0, right = 0;
    for (unsigned set = 0; set < 32; set++) /* every set of the five seals rmap_shm_create offers */
        for (int op = 0; op < 6; op++)
            for (int run = 0; run < 5; run++) {
                unsigned seals = 0;
                int want = 0;
                for (int k = 0; k < 5; k++)
                    if (set & (1u << k)) {
                        seals |= seal[k];
                        want |= forbids[k][op];
                    }
                int fd = rmap_shm_create("matrix", 4 * PG, seals, 0);
                if (fd < 0) die("rmap_shm_create");
                int got = op == 5 ? (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0 ? 0 : errno) : operation(fd, op);
                cases++;
                if (got == (want ? EPERM : 0)) right++;
                else if (run == 0)
                    printf("     seals %#x, %s: %s, expected %s\n", seals, ops[op], got ? strerror(got) : "allowed",
                           want ? "EPERM" : "allowed");
                close(fd);
            }
    printf("     all 32 sets of the 5 seals x 6 operations (ftruncate up and down, write(2), fallocate past the end, "
           "a writable shared mmap, another seal) x 5 runs: %d of %d as the seals say (every forbidden one EPERM)\n",
           right, cases);
    return check(right == cases, "every case") ? 0 : 1;
}

/* ---- a /dev/shm too small ---- */

static int creations_on_a_full_dev_shm_fail_never_signal(void)
{
    small_dev_shm("64k");
    int told = 0;
    for (int i = 0; i < 100; i++) {
        const char *name = unique_name();
        int fd = rmap_shm_create(name, 1 << 20, 0, RMAP_SHM_NAMED);
        if (fd == -1 && (errno == ENOSPC || errno == ENOMEM) && shm_open(name, O_RDONLY, 0) < 0) told++;
        if (fd >= 0) shm_unlink(name);
    }
    printf("     100 creations of 1 MiB on a 64 KiB /dev/shm: %d failed with ENOSPC or ENOMEM, no name left, "
           "no signal\n",
           told);
    return check(told == 100, "every creation told") ? 0 : 1;
}

/* What the C library's way does there: the touch past what fits dies. */
static int plain_shared_memory_on_a_full_dev_shm_dies(void)
{
    small_dev_shm("64k");
    int fd = shm_open("/plain", O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, 1 << 20) != 0) die("shm_open + ftruncate");
    char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) die("mmap");
    memset(p, 1, 1 << 20);
    return 0;
}

/* ---- a Wayland-style pool: buffers from a client that truncates them ---- */

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
    if (sendmsg(sock, &msg, 0) != 1) die("sendmsg");
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
    if (recvmsg(sock, &msg, 0) != 1) die("recvmsg");
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) die("no descriptor");
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

enum { POOL_PAGES = 4 };

/* The client: per buffer, a memfd of POOL_PAGES pages (sealed against
 * shrinking and growth when `sealed`), sent; then, after a random pause,
 * an attempt to truncate it to 0, and one byte saying whether it did. */
static _Noreturn void client(int sock, int buffers, int sealed)
{
    srandom((unsigned)getpid());
    for (int i = 0; i < buffers; i++) {
        int fd = sealed ? rmap_shm_create("pool", POOL_PAGES * PG, F_SEAL_SHRINK | F_SEAL_GROW, 0)
                        : memfd_create("pool", MFD_CLOEXEC);
        if (fd < 0 || (!sealed && ftruncate(fd, POOL_PAGES * (off_t)PG) != 0)) _exit(2);
        send_fd(sock, fd);
        for (volatile long spin = random() % 20000; spin > 0; spin--) {
        }
        char said = ftruncate(fd, 0) == 0 ? 't' : errno == EPERM ? 'p' : 'e';
        if (write(sock, &said, 1) != 1) _exit(3);
        close(fd);
    }
    _exit(0);
}

static int pool(int buffers, int sealed, int *losses_seen, int *truncated, int *refused)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(sv[0]);
        client(sv[1], buffers, sealed);
    }
    close(sv[1]);
    *losses_seen = *truncated = *refused = 0;
    for (int i = 0; i < buffers; i++) {
        int fd = receive_fd(sv[0]);
        char *p = rmap_map_peer(fd, POOL_PAGES * PG, PROT_READ | PROT_WRITE);
        if (p == RMAP_FAILED) die("rmap_map_peer");
        char said = 0;
        /* Read and write every page until the client says what it did. */
        for (;;) {
            for (size_t k = 0; k < POOL_PAGES; k++) p[k * PG + 1] = (char)(p[k * PG] + 1);
            if (recv(sv[0], &said, 1, MSG_DONTWAIT) == 1) break;
        }
        for (size_t k = 0; k < POOL_PAGES; k++) p[k * PG + 1] = (char)(p[k * PG] + 1); /* once more, after it */
        ssize_t lost = rmap_losses(p, POOL_PAGES * PG, NULL, 0);
        *truncated += said == 't';
        *refused += said == 'p';
        *losses_seen += (said == 't' && lost == POOL_PAGES) || (said == 'p' && lost == 0);
        rmap_unmap(p, POOL_PAGES * PG);
        close(fd);
    }
    int status;
    waitpid(pid, &status, 0);
    close(sv[0]);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int a_pool_survives_a_client_that_truncates_every_buffer(void)
{
    int buffers = under_valgrind() ? 300 : 10000, seen, truncated, refused;
    int ok = pool(buffers, 0, &seen, &truncated, &refused);
    printf("     %d buffers from a client that truncates each at a random moment while this server reads and "
           "writes it: %d truncated, each seen as the loss of its %d pages: %d; no death\n",
           buffers, truncated, POOL_PAGES, seen);
    return check(ok && truncated == buffers && seen == buffers, "every truncation a loss of that buffer") ? 0 : 1;
}

static int a_sealed_pool_refuses_the_truncation(void)
{
    int buffers = under_valgrind() ? 100 : 1000, seen, truncated, refused;
    int ok = pool(buffers, 1, &seen, &truncated, &refused);
    printf("     %d buffers sealed with F_SEAL_SHRINK | F_SEAL_GROW (rmap_shm_create): the client's truncation "
           "failed with EPERM %d times, no loss in %d\n",
           buffers, refused, seen);
    return check(ok && refused == buffers && seen == buffers, "every truncation refused, nothing lost") ? 0 : 1;
}

/* Close-on-exec unless RMAP_SHM_INHERIT; the storage allocated, for a
 * memfd and for a named object alike. */
static int created_close_on_exec_with_its_storage(void)
{
    const char *name = unique_name();
    int memfd = rmap_shm_create("cloexec", 8 * PG, 0, 0), inherit = rmap_shm_create(NULL, PG, 0, RMAP_SHM_INHERIT);
    int named = rmap_shm_create(name, 8 * PG, 0, RMAP_SHM_NAMED);
    shm_unlink(name);
    if (memfd < 0 || inherit < 0 || named < 0) die("rmap_shm_create");
    struct stat st;
    int ok = check((fcntl(memfd, F_GETFD) & FD_CLOEXEC) && (fcntl(named, F_GETFD) & FD_CLOEXEC),
                   "a memfd and a named object: close-on-exec");
    ok &= check(!(fcntl(inherit, F_GETFD) & FD_CLOEXEC), "RMAP_SHM_INHERIT: inherited across execve");
    ok &= check(fstat(memfd, &st) == 0 && st.st_size == 8 * (off_t)PG && st.st_blocks * 512 >= 8 * (off_t)PG,
                "a memfd of 8 pages: 8 pages long, its blocks allocated");
    ok &= check(fstat(named, &st) == 0 && st.st_size == 8 * (off_t)PG && st.st_blocks * 512 >= 8 * (off_t)PG,
                "a named object of 8 pages: the same");
    return ok ? 0 : 1;
}

/* rmap_map_peer maps plainly only what cannot shrink under it. */
static int map_peer_tolerates_exactly_what_may_shrink(void)
{
    struct rmap_info info;
    int sealed = rmap_shm_create("sealed", 2 * PG, F_SEAL_SHRINK, 0);
    int plain = rmap_shm_create("plain", 2 * PG, 0, 0);
    if (sealed < 0 || plain < 0) die("rmap_shm_create");
    char *a = rmap_map_peer(sealed, 2 * PG, PROT_READ);
    char *b = rmap_map_peer(plain, 2 * PG, PROT_READ);
    char *c = rmap_map_peer(sealed, 4 * PG, PROT_READ); /* longer than the memfd */
    if (a == RMAP_FAILED || b == RMAP_FAILED || c == RMAP_FAILED) die("rmap_map_peer");
    int ok = check(rmap_query(a, &info) == 0 && !(info.flags & RMAP_INFO_TOLERANT) && (info.flags & RMAP_INFO_SEALED),
                   "sealed and covering: plain, and rmap_query says RMAP_INFO_SEALED");
    ok &= check(rmap_query(b, &info) == 0 && (info.flags & RMAP_INFO_TOLERANT) && !(info.flags & RMAP_INFO_SEALED),
                "not sealed: tolerant");
    ok &= check(rmap_query(c, &info) == 0 && (info.flags & RMAP_INFO_TOLERANT) && c[2 * PG] == 0 && c[3 * PG] == 0 &&
                    rmap_losses(c, 4 * PG, NULL, 0) == 2,
                "sealed but shorter than asked: tolerant, the pages past its end read 0 and are counted lost");
    return ok ? 0 : 1;
}

/* Named objects and creators that die: the documented cleanup (the name is
 * chosen by whoever outlives the creator, which unlinks it once the creator
 * is gone, as after any shm_open) leaves nothing in /dev/shm, whatever the
 * moment of the creator's death: before, during or after rmap_shm_create.
 * 200 creators in make check, 1,000 in make check-long. */
static int creators_killed_leave_no_name_after_the_cleanup(void)
{
    int runs = long_run() ? 1000 : under_valgrind() ? 100 : 200, left = 0, made = 0;
    for (int i = 0; i < runs; i++) {
        char name[64];
        snprintf(name, sizeof name, "/rmap-kill-%d-%d", (int)getpid(), i);
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            for (;;) {
                int fd = rmap_shm_create(name, 64 * PG, 0, RMAP_SHM_NAMED);
                if (fd >= 0) close(fd);
            }
        }
        struct timespec pause = {0, (long)(random() % 2000) * 1000};
        nanosleep(&pause, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        int fd = shm_open(name, O_RDONLY, 0);
        if (fd >= 0) {
            made++;
            close(fd);
        }
        shm_unlink(name); /* the cleanup */
        fd = shm_open(name, O_RDONLY, 0);
        if (fd >= 0) {
            left++;
            close(fd);
        }
    }
    printf("     %d creators of a named object killed with SIGKILL at random moments (%d had made it): after "
           "shm_unlink by the survivor, %d names left\n",
           runs, made, left);
    return check(left == 0 && made > 0, "no name left") ? 0 : 1;
}

static const test_t TESTS[] = {
    E(shm_create_einval_flags, EINVAL),
    E(shm_create_einval_seals, EINVAL),
    E(shm_create_einval_no_name, EINVAL),
    E(shm_create_einval_long_name, EINVAL),
    E(shm_create_eexist_named, EEXIST),
    E(shm_create_enospc_no_room, ENOSPC),
    E(shm_create_efbig_file_size_limit, EFBIG),
    E(shm_create_eperm_named_seals, EPERM),
    E(map_peer_ebadf_not_open, EBADF),
    E(map_peer_einval_length_zero, EINVAL),
    E(map_peer_eacces_read_only, EACCES),
    E(map_peer_eperm_write_sealed, EPERM),
    K(seal_matrix_forbids_exactly_what_each_seal_forbids),
    K(creations_on_a_full_dev_shm_fail_never_signal),
    S(plain_shared_memory_on_a_full_dev_shm_dies, SIGBUS),
    K(created_close_on_exec_with_its_storage),
    K(map_peer_tolerates_exactly_what_may_shrink),
    K(a_pool_survives_a_client_that_truncates_every_buffer),
    K(a_sealed_pool_refuses_the_truncation),
    K(creators_killed_leave_no_name_after_the_cleanup),
};

int main(int argc, char **argv)
{
    harness_init();
    srandom((unsigned)getpid());
    return run_tests("shm", TESTS, sizeof TESTS / sizeof *TESTS, argc > 1 ? argv[1] : NULL);
}
