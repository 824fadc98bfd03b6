/* mapped_log: the seed articles' mmap log (Logdog, Android_MMap), done with
 * librmap so that it neither dies nor lies.
 *
 * The file: a header page, then records. A record is its payload's length
 * (4 bytes), the CRC32C of length and payload (4 bytes), the payload, and
 * padding to 8 bytes. The header holds a magic and `committed`: how many
 * bytes of records are complete. An append
 *   1. secures the space first (rmap_secure: the file's blocks allocated,
 *      the file grown), so a full disk is ENOSPC from the append, never a
 *      SIGBUS at a store;
 *   2. writes the record through the mapping;
 *   3. only then publishes the new `committed` (one aligned 8-byte store,
 *      with release order).
 * A reader trusts `committed` and checks each record's CRC. A writer killed
 * at any moment (kill -9: the page cache keeps what it stored) leaves a
 * file whose records up to `committed` are exactly the ones it completed.
 * (After a power loss only what rmap_sync wrote back is on disk: call it
 * where the program needs durability.)
 *
 * The mapping is made once with room to grow (1 GiB), so the log grows in
 * place: its address never moves, and secured space grows in 64 KiB steps.
 *
 * Usage:
 *   mapped_log append FILE N        append records 0..N-1 (record i: a
 *                                   payload of 1 + i*37%300 bytes derived from i)
 *   mapped_log recover FILE         check every committed record; print the count
 *   mapped_log fill DIR RUNS        RUNS times: append to DIR/log until the disk
 *                                   is full; each must end with ENOSPC and recover
 *                                   every record appended
 *   mapped_log crash FILE RUNS      RUNS times: a writer killed with SIGKILL at a
 *                                   random moment; recovery must return exactly the
 *                                   records it committed (or one more, committed
 *                                   after it last said so), never a torn one
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rmap.h>

enum { HEADER = 4096, GROW_STEP = 64 << 10 };
static const size_t CAPACITY = (size_t)1 << 30;
static const char MAGIC[8] = "RMAPLOG1";

struct header {
    char magic[8];
    _Atomic uint64_t committed; /* bytes of complete records after the header */
};

struct log {
    int fd;
    char *base;
    uint64_t committed; /* what this writer published */
    uint64_t secured;   /* bytes of the file secured */
};

/* CRC32C (Castagnoli), a byte at a time through a table made on first use. */
static uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
    static uint32_t table[256];
    if (table[1] == 0)
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t c = b;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
            table[b] = c;
        }
    const unsigned char *p = data;
    crc = ~crc;
    while (n--) crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
    return ~crc;
}

static size_t padded(size_t n) { return (n + 7) & ~(size_t)7; }

/* Opens (or creates) the log at path. Returns 0, or -1 with errno. */
static int log_open(struct log *log, const char *path)
{
    log->fd = open(path, O_RDWR | O_CREAT, 0644);
    if (log->fd < 0) return -1;
    struct stat st;
    if (fstat(log->fd, &st) != 0) return -1;
    log->base = rmap_map(NULL, CAPACITY, PROT_READ | PROT_WRITE, MAP_SHARED, log->fd, 0);
    if (log->base == RMAP_FAILED) return -1;
    struct header *h = (struct header *)log->base;
    if (st.st_size == 0) {
        if (rmap_secure(log->base, HEADER, log->fd) != 0) return -1;
        memcpy(h->magic, MAGIC, sizeof MAGIC);
    } else if (st.st_size < HEADER || memcmp(h->magic, MAGIC, sizeof MAGIC) != 0) {
        errno = EINVAL;
        return -1;
    }
    log->committed = atomic_load_explicit(&h->committed, memory_order_acquire);
    log->secured = (uint64_t)st.st_size < HEADER ? 0 : (uint64_t)st.st_size - HEADER;
    return 0;
}

/* Appends one record. Returns 0, or -1 with errno (ENOSPC: the disk is
 * full; the log is unchanged and stays usable). */
static int log_append(struct log *log, const void *payload, uint32_t len)
{
    uint64_t need = log->committed + 8 + padded(len);
    if (HEADER + need > CAPACITY) {
        errno = EFBIG;
        return -1;
    }
    if (need > log->secured) {
        /* Secure ahead in steps; near a full disk, just what this record needs. */
        uint64_t from = log->secured, step = need - from > GROW_STEP ? need - from : GROW_STEP;
        size_t page_start = (size_t)(HEADER + from) / 4096 * 4096;
        size_t lead = (size_t)(HEADER + from) - page_start;
        if (rmap_secure(log->base + page_start, lead + step, log->fd) != 0) {
            if (errno != ENOSPC && errno != EDQUOT) return -1;
            if (rmap_secure(log->base + page_start, lead + (need - from), log->fd) != 0) return -1;
            step = need - from;
        }
        log->secured = from + step;
    }
    char *at = log->base + HEADER + log->committed;
    uint32_t crc = crc32c(crc32c(0, &len, sizeof len), payload, len);
    memcpy(at, &len, 4);
    memcpy(at + 4, &crc, 4);
    memcpy(at + 8, payload, len);
    memset(at + 8 + len, 0, padded(len) - len);
    log->committed = need;
    atomic_store_explicit(&((struct header *)log->base)->committed, need, memory_order_release);
    return 0;
}

/* Calls each(i, payload, len) for every committed record, in order.
 * Returns the count, or -1 when a committed record is torn (a bug). */
static long log_recover(const struct log *log, int (*each)(long, const char *, uint32_t))
{
    uint64_t end = atomic_load_explicit(&((struct header *)log->base)->committed, memory_order_acquire);
    uint64_t at = 0;
    long count = 0;
    while (at < end) {
        const char *rec = log->base + HEADER + at;
        uint32_t len, crc;
        memcpy(&len, rec, 4);
        memcpy(&crc, rec + 4, 4);
        if (at + 8 + padded(len) > end || crc32c(crc32c(0, &len, sizeof len), rec + 8, len) != crc) return -1;
        if (each && !each(count, rec + 8, len)) return -1;
        at += 8 + padded(len);
        count++;
    }
    return count;
}

static void log_close(struct log *log)
{
    rmap_unmap(log->base, CAPACITY);
    close(log->fd);
}

/* ---- the records of the demonstrations: record i is known from i ---- */

static uint32_t record_of(long i, char *buf)
{
    uint32_t len = 1 + (uint32_t)(i * 37 % 300);
    for (uint32_t k = 0; k < len; k++) buf[k] = (char)('a' + (i + k) % 26);
    return len;
}

static int is_record(long i, const char *payload, uint32_t len)
{
    char want[300];
    return record_of(i, want) == len && memcmp(want, payload, len) == 0;
}

static int append_records(const char *path, long n)
{
    struct log log;
    if (log_open(&log, path) != 0) return perror("log_open"), 1;
    char buf[300];
    long have = log_recover(&log, NULL);
    for (long i = have; i < have + n; i++)
        if (log_append(&log, buf, record_of(i, buf)) != 0) return perror("log_append"), 1;
    printf("appended %ld records; the log holds %ld records in %llu bytes\n", n, have + n,
           (unsigned long long)log.committed);
    log_close(&log);
    return 0;
}

static int recover(const char *path)
{
    struct log log;
    if (log_open(&log, path) != 0) return perror("log_open"), 1;
    long count = log_recover(&log, is_record);
    log_close(&log);
    if (count < 0) return printf("a committed record is torn or wrong\n"), 1;
    printf("recovered %ld records, each whole and as written\n", count);
    return 0;
}

static int fill(const char *dir, int runs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/log", dir);
    int good = 0;
    long last = 0;
    for (int run = 0; run < runs; run++) {
        unlink(path);
        struct log log;
        if (log_open(&log, path) != 0) return perror("log_open"), 1;
        char buf[300];
        long n = 0;
        while (log_append(&log, buf, record_of(n, buf)) == 0) n++;
        int full = errno == ENOSPC;
        long back = log_recover(&log, is_record);
        good += full && back == n && n > 0;
        last = n;
        log_close(&log);
    }
    unlink(path);
    printf("%d of %d runs appended until the disk was full and got ENOSPC from the append, no signal; each "
           "recovered every record it appended (%ld in the last run)\n",
           good, runs, last);
    return good == runs ? 0 : 1;
}

/* The writer of a crash run: appends forever, telling the parent through
 * shared memory how many records it has committed. */
static _Noreturn void crash_writer(const char *path, _Atomic long *told)
{
    struct log log;
    if (log_open(&log, path) != 0) _exit(2);
    char buf[300];
    for (long i = 0;; i++) {
        if (log_append(&log, buf, record_of(i, buf)) != 0) _exit(3);
        atomic_store(told, i + 1);
    }
}

static int crash(const char *path, int runs)
{
    _Atomic long *told = rmap_map(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (told == RMAP_FAILED) return perror("rmap_map"), 1;
    srand((unsigned)time(NULL));
    int exact = 0, one_more = 0, bad = 0;
    long most = 0;
    for (int run = 0; run < runs; run++) {
        unlink(path);
        atomic_store(told, 0);
        pid_t pid = fork();
        if (pid < 0) return perror("fork"), 1;
        if (pid == 0) crash_writer(path, told);
        /* A random moment: from just after the start to 5 ms. */
        struct timespec pause = {0, (long)(rand() % 5000) * 1000};
        nanosleep(&pause, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        long said = atomic_load(told);
        struct log log;
        long back = -1;
        if (log_open(&log, path) == 0) {
            back = log_recover(&log, is_record);
            log_close(&log);
        } else if (said == 0) {
            back = 0; /* killed before the header was written */
        }
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) bad++;
        else if (back == said) exact++;
        else if (back == said + 1) one_more++;
        else {
            bad++;
            printf("run %d: the writer said %ld records were committed, recovery found %ld\n", run, said, back);
        }
        if (said > most) most = said;
    }
    unlink(path);
    printf("%d writers killed with SIGKILL at random moments (up to %ld records in): recovery returned exactly "
           "the records committed %d times, one more (committed, not yet told) %d times, anything else %d times\n",
           runs, most, exact, one_more, bad);
    return bad == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "append") == 0) return append_records(argv[2], atol(argv[3]));
    if (argc == 3 && strcmp(argv[1], "recover") == 0) return recover(argv[2]);
    if (argc == 4 && strcmp(argv[1], "fill") == 0) return fill(argv[2], atoi(argv[3]));
    if (argc == 4 && strcmp(argv[1], "crash") == 0) return crash(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: mapped_log append FILE N | recover FILE | fill DIR RUNS | crash FILE RUNS\n");
    return 2;
}
