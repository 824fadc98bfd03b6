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
 * place: its address never moves, and secured space grows in 1 MiB steps.
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

#include "mapped_log.h"

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
    /* Each recovery opened and closed the log, or failed to open it (a
     * writer killed between creating the file and writing its header):
     * either way nothing of it stays mapped, only the shared counter. */
    struct rmap_stats stats;
    if (rmap_stats(&stats) != 0) return perror("rmap_stats"), 1;
    printf("mappings left after the runs: %zu (the shared counter's page alone: %s)\n", stats.live_mappings,
           stats.live_mappings == 1 ? "yes" : "NO");
    return bad == 0 && stats.live_mappings == 1 ? 0 : 1;
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
