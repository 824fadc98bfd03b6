/* differential: seeded random tuples, each run through libc and through
 * librmap in its own child; the traces (each step's return class and errno,
 * then the signal that ended the child, if any) must be equal.
 *
 * A tuple maps, then follows up (touch, partial unmap, sync), or calls unmap
 * or sync alone on a layout of holes and mappings. Every mismatch is printed
 * with the command that reproduces it.
 *
 * Usage: differential [SEED COUNT [--index I]]
 *   default: seed $RMAP_SEED or 1, count $RMAP_TUPLES or 20,000
 *   `make fuzz` runs 1,000,000 (SEED=n to choose the seed).
 * Under valgrind, which emulates mmap itself, 500 tuples run and nothing is
 * compared.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int compare = 1;

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint64_t below(uint64_t n) { return rnd() % n; }
static int chance(int one_in) { return below((uint64_t)one_in) == 0; }

enum op { OP_MAP, OP_MAP_TOUCH, OP_MAP_UNMAP, OP_MAP_SYNC, OP_UNMAP, OP_SYNC, N_OPS };
static const char *const OP_NAMES[] = {"map", "map+touch", "map+unmap+touch", "map+sync", "unmap", "sync"};

#define REGION_PAGES 16
typedef struct {
    enum op op;
    uintptr_t addr; /* absolute, or an offset into the region when in_region */
    int in_region;
    size_t len;
    int prot, flags, fd_index;
    off_t off;
    intptr_t f_off; /* follow-up range, relative to the mapping or the region */
    size_t f_len;
    int f_flags;
    size_t touch;
    int touch_write;
} tuple_t;

static const char *const FD_NAMES[] = {"rw", "ro", "wo", "small", "empty", "pipe", "dir", "/dev/zero",
                                       "memfd", "sealed", "closed", "O_PATH", "-1", "12345"};
#define N_FDS (sizeof FD_NAMES / sizeof *FD_NAMES)

static int fd_of(const fixture_t *fx, int i)
{
    const int fds[] = {fx->rw, fx->ro, fx->wo, fx->small, fx->empty, fx->pipe_r, fx->dir, fx->devzero,
                       fx->memfd, fx->sealed, fx->closed, fx->opath, -1, 12345};
    return fds[i];
}

static size_t random_len(void)
{
    switch (below(10)) {
    case 0: return 0;
    case 1: return 1 + below(PG);
    case 2: return PG * (1 + below(8)) + below(3) - 1;
    case 3: return PG * (1 + below(REGION_PAGES));
    case 4: return (size_t)1 << (40 + below(24));
    case 5: return SIZE_MAX - below(3 * PG);
    case 6: return (size_t)rnd();
    default: return PG * (1 + below(4));
    }
}

static off_t random_off(void)
{
    switch (below(8)) {
    case 0: return (off_t)(PG * below(4));
    case 1: return (off_t)(1 + below(PG - 1));
    case 2: return -(off_t)(PG * (1 + below(4)));
    case 3: return -1;
    case 4: return (off_t)((INT64_MAX - (int64_t)(PG * below(8))) & ~((int64_t)PG - 1));
    case 5: return (off_t)rnd();
    default: return 0;
    }
}

static int random_flags(void)
{
    static const int bits[] = {MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_LOCKED,
                               MAP_GROWSDOWN, MAP_32BIT, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK, MAP_SYNC,
                               MAP_HUGETLB, MAP_DENYWRITE, MAP_EXECUTABLE};
    int flags = chance(4) ? (int)below(16) : (int)(1 + below(3)); /* the MAP_TYPE bits */
    for (size_t i = 0; i < sizeof bits / sizeof *bits; i++)
        if (chance(i < 2 ? 3 : 8)) flags |= bits[i];
    if (chance(8)) flags |= (int)(1u << below(31));
    return flags;
}

static tuple_t random_tuple(void)
{
    tuple_t t = {0};
    t.op = (enum op)below(N_OPS);
    t.len = random_len();
    t.prot = (int)below(8);
    if (chance(16)) t.prot |= (int)(1u << below(31));
    t.flags = random_flags();
    t.fd_index = (int)below(N_FDS);
    t.off = random_off();
    if (t.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        /* Inside our region (where it cannot clobber anything else), or where the kernel must refuse. */
        if (chance(4)) {
            t.addr = (uintptr_t)0 - PG * (1 + below(64)) + (chance(2) ? below(PG) : 0);
        } else {
            t.in_region = 1;
            t.addr = PG * below(REGION_PAGES / 2) + (chance(4) ? 1 + below(PG - 1) : 0);
            if (t.len > REGION_PAGES / 2 * PG) t.len = PG * (1 + below(REGION_PAGES / 2));
        }
    } else if (chance(3)) {
        t.addr = (uintptr_t)rnd();
    }
    /* Populating or locking a huge range would exhaust the machine, not test librmap. */
    if (t.len > 64 * PG) t.flags &= ~(MAP_POPULATE | MAP_LOCKED);
    t.f_off = chance(2) ? 0 : (intptr_t)(PG * below(4)) + (chance(6) ? 1 : 0);
    switch (below(5)) {
    case 0: t.f_len = 0; break;
    case 1: t.f_len = 1 + below(PG); break;
    case 2: t.f_len = (size_t)rnd(); break;
    default: t.f_len = PG * (1 + below(6)); break;
    }
    t.f_flags = chance(8) ? (int)rnd() : (int)below(8);
    t.touch = below(8 * PG);
    t.touch_write = chance(2);
    return t;
}

/* Follow-up ops must not unmap memory the child needs to report. */
static size_t safe_unmap_len(const tuple_t *t)
{
    size_t room = (t->len <= 64 * PG ? (t->len + PG - 1) / PG * PG : 64 * PG) + PG;
    size_t start = t->f_off > 0 ? (size_t)t->f_off : 0;
    if (t->f_len == 0 || (t->f_off % (intptr_t)PG) != 0) return t->f_len;
    return start >= room ? 0 : (t->f_len < room - start ? t->f_len : room - start);
}

static void run_tuple(const tuple_t *t, const api_t *a, const fixture_t *fx, char *region, int out)
{
    alarm(10);
    uintptr_t base = t->in_region ? (uintptr_t)region : 0;
    if (t->op == OP_UNMAP || t->op == OP_SYNC) {
        /* Region layout: page 0 hole, 1-2 shared file, 3 hole, 4-5 anonymous, the rest reserved. */
        char *at = region + PG * REGION_PAGES / 4 + t->f_off;
        if (t->op == OP_SYNC) {
            record(out, of_rc(a->sync(at, t->f_len, t->f_flags)));
        } else {
            size_t len = t->f_len > PG * (REGION_PAGES / 2) && ((uintptr_t)at % PG) == 0 ? PG * (REGION_PAGES / 2) : t->f_len;
            record(out, of_rc(a->unmap(at, len)));
        }
        return;
    }
    char *p = a->map((void *)(base + t->addr), t->len, t->prot, t->flags, fd_of(fx, t->fd_index), t->off);
    record(out, of_map(p));
    if (p == MAP_FAILED) return;
    if (t->op == OP_MAP_SYNC) {
        record(out, of_rc(a->sync(p + t->f_off, t->f_len, t->f_flags)));
        return;
    }
    if (t->op == OP_MAP_UNMAP) record(out, of_rc(a->unmap(p + t->f_off, safe_unmap_len(t))));
    if (t->op == OP_MAP_TOUCH || t->op == OP_MAP_UNMAP) {
        if (t->len > 64 * PG) return;
        volatile char *q = p + t->touch;
        if (t->touch_write) *q = 1;
        else (void)*q;
        record(out, ok());
    }
}

typedef struct {
    const tuple_t *t;
    const api_t *api;
    const fixture_t *fx;
    char *region;
} side_t;

static void run_side(void *arg, int fd)
{
    const side_t *side = arg;
    run_tuple(side->t, side->api, side->fx, side->region, fd);
}

static void print_tuple(const tuple_t *t)
{
    printf("       %s: addr=%s%#lx len=%#zx prot=%#x flags=%#x fd=%s off=%lld; then range +%ld len=%#zx flags=%#x touch=+%#zx %s\n",
           OP_NAMES[t->op], t->in_region ? "region+" : "", (unsigned long)t->addr, t->len, t->prot, t->flags,
           FD_NAMES[t->fd_index], (long long)t->off, (long)t->f_off, t->f_len, t->f_flags, t->touch,
           t->touch_write ? "write" : "read");
}

/* Runs COUNT tuples from SEED (only tuple ONLY when >= 0); returns mismatches. */
static unsigned long random_differential(uint64_t seed, unsigned long count, long only)
{
    fixture_t fx = fixture();
    char *region = mmap(NULL, REGION_PAGES * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) die("region");
    char *layout = region + PG * REGION_PAGES / 4;
    munmap(layout, 6 * PG);
    if (mmap(layout + PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fx.rw, 0) == MAP_FAILED ||
        mmap(layout + 4 * PG, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
        die("layout");
    rng_state = seed;
    unsigned long mismatches = 0, per_op[N_OPS] = {0};
    for (unsigned long i = 0; i < count; i++) {
        tuple_t t = random_tuple();
        if (only >= 0 && (long)i != only) continue;
        per_op[t.op]++;
        side_t libc_side = {&t, &LIBC, &fx, region}, rmap_side = {&t, &RMAP, &fx, region};
        trace_t l = in_child_trace(run_side, &libc_side);
        trace_t r = in_child_trace(run_side, &rmap_side);
        if ((same_trace(&l, &r) || !compare) && only < 0) continue;
        if (!same_trace(&l, &r)) mismatches++;
        printf("     %s tuple %lu (reproduce: differential %llu %lu --index %lu)\n",
               same_trace(&l, &r) ? "same" : "MISMATCH", i, (unsigned long long)seed, count, i);
        print_tuple(&t);
        print_trace("libc", &l);
        print_trace("rmap", &r);
    }
    printf("     random: seed %llu, %lu tuples (", (unsigned long long)seed, count);
    for (int op = 0; op < N_OPS; op++) printf("%s%s %lu", op ? ", " : "", OP_NAMES[op], per_op[op]);
    printf("), %lu mismatches\n", mismatches);
    return mismatches;
}


int main(int argc, char **argv)
{
    harness_init();
    compare = !under_valgrind();
    const char *seed_env = getenv("RMAP_SEED"), *tuples_env = getenv("RMAP_TUPLES");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 1;
    /* RMAP_TUPLES lowers the count where every fork is slow (sanitizers). */
    unsigned long count = tuples_env ? strtoul(tuples_env, NULL, 0) : 20000;
    long index = -1;
    if (argc >= 3) {
        seed = strtoull(argv[1], NULL, 0);
        count = strtoul(argv[2], NULL, 0);
        if (argc >= 5 && strcmp(argv[3], "--index") == 0) index = atol(argv[4]);
    }
    if (!compare) {
        random_differential(seed, 500, -1);
        printf("ran  differential: 500 tuples (not compared under valgrind)\n");
        return finish("differential", 0, 0, 1);
    }
    unsigned long bad = random_differential(seed, count, index);
    printf("%s differential: %lu seeded tuples, each side in its own child\n", bad ? "FAIL" : "ok  ", count);
    return finish("differential", bad ? 0 : 1, bad ? 1 : 0, 0);
}
