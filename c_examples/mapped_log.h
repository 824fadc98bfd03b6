/* mapped_log.h: the mapped log of c_examples/mapped_log.c (which says how
 * it works), as functions a program includes: log_open, log_append,
 * log_recover, log_close. bench/bench.c times log_append against write(2).
 */
#ifndef RMAP_MAPPED_LOG_H
#define RMAP_MAPPED_LOG_H

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rmap.h>

enum { HEADER = 4096, GROW_STEP = 1 << 20 };
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

/* CRC32C (Castagnoli): the CPU's instruction where it has one (SSE4.2 on
 * x86-64, 8 bytes a step), else a byte at a time through a table made on
 * first use. */
static inline uint32_t crc32c_table(uint32_t crc, const unsigned char *p, size_t n)
{
    static uint32_t table[256];
    if (table[1] == 0)
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t c = b;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
            table[b] = c;
        }
    while (n--) crc = (crc >> 8) ^ table[(crc ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static inline uint32_t crc32c_sse42(uint32_t crc, const unsigned char *p,
                                                                      size_t n)
{
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
    }
    crc = (uint32_t)c;
    while (n--) crc = __builtin_ia32_crc32qi(crc, *p++);
    return crc;
}
#endif

static inline uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
    static int has_sse42 = -1;
    if (has_sse42 < 0) has_sse42 = __builtin_cpu_supports("sse4.2");
    if (has_sse42) return ~crc32c_sse42(~crc, data, n);
#endif
    return ~crc32c_table(~crc, data, n);
}

static inline size_t padded(size_t n) { return (n + 7) & ~(size_t)7; }

/* Opens (or creates) the log at path. Returns 0, or -1 with errno; a
 * failure leaves nothing open or mapped (a program that retries must not
 * collect descriptors and 1 GiB mappings of a file that may shrink). */
static inline int log_open(struct log *log, const char *path)
{
    log->base = RMAP_FAILED;
    log->fd = open(path, O_RDWR | O_CREAT, 0644);
    if (log->fd < 0) return -1;
    struct stat st;
    if (fstat(log->fd, &st) != 0) goto fail;
    log->base = rmap_map(NULL, CAPACITY, PROT_READ | PROT_WRITE, MAP_SHARED, log->fd, 0);
    if (log->base == RMAP_FAILED) goto fail;
    struct header *h = (struct header *)log->base;
    if (st.st_size == 0) {
        if (rmap_secure(log->base, HEADER, log->fd) != 0) goto fail;
        memcpy(h->magic, MAGIC, sizeof MAGIC);
    } else if (st.st_size < HEADER || memcmp(h->magic, MAGIC, sizeof MAGIC) != 0) {
        errno = EINVAL;
        goto fail;
    }
    log->committed = atomic_load_explicit(&h->committed, memory_order_acquire);
    log->secured = (uint64_t)st.st_size < HEADER ? 0 : (uint64_t)st.st_size - HEADER;
    return 0;
fail:;
    int error = errno;
    if (log->base != RMAP_FAILED) rmap_unmap(log->base, CAPACITY);
    close(log->fd);
    errno = error;
    return -1;
}

/* Appends one record. Returns 0, or -1 with errno (ENOSPC: the disk is
 * full; the log is unchanged and stays usable). */
static inline int log_append(struct log *log, const void *payload, uint32_t len)
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
        /* The new pages put in the page cache by writing zeros into them:
         * they hold no records yet, and a store into a page that is not in
         * the cache would first have it read, which for secured blocks that
         * were never written (ext4's unwritten extents) means zeroing it on
         * the read path (64 MiB of 256 B records: 205 ns a record that way,
         * 133 ns this way). The page holding the old end is skipped: it has
         * records, and it is in the cache already. */
        size_t off = lead ? page_start + 4096 : page_start, end = (size_t)(HEADER + from + step);
        while (off < end) {
            static const char zeros[1 << 16];
            size_t n = end - off < sizeof zeros ? end - off : sizeof zeros;
            ssize_t done = pwrite(log->fd, zeros, n, (off_t)off);
            if (done < 0 && errno == EINTR) continue;
            if (done <= 0) {
                if (done == 0) errno = EIO;
                return -1;
            }
            off += (size_t)done;
        }
        /* Then made present and writable at once (one call, not a fault per
         * page); an older kernel's EINVAL only costs the faults. */
        rmap_advise(log->base + page_start, lead + step, MADV_POPULATE_WRITE);
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
static inline long log_recover(const struct log *log, int (*each)(long, const char *, uint32_t))
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

static inline void log_close(struct log *log)
{
    rmap_unmap(log->base, CAPACITY);
    close(log->fd);
}

#endif
