/* differential: seeded random tuples, each run through libc and through
 * librmap in its own child; the traces (each step's return class and errno,
 * then the signal that ended the child, if any) must be equal.
 *
 * A tuple maps, then makes up to three calls of the nine (touch, unmap,
 * sync, protect, advise, lock, unlock, remap, resident) on what it mapped;
 * or it makes one call (not map) on a layout of holes and mappings. Every
 * mismatch is printed with the command that reproduces it.
 *
 * Calls may reach past the memory the tuple owns only where the kernel
 * refuses them before changing anything (a misaligned start, a wrapping
 * range): anything else would damage the child's own memory, and the two
 * sides would differ in ways that test the child, not librmap.
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
#include <linux/mman.h>
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

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

/* The region: tuples map into it with MAP_FIXED, and lone calls use its
 * layout (from page LAYOUT on: hole, 2 pages of a shared file mapping, hole,
 * 2 anonymous pages; the rest reserved PROT_NONE). A hole of HOLE_PAGES
 * outside it is a free target for moves. */
#define REGION_PAGES 64
#define LAYOUT (REGION_PAGES / 4)
#define HOLE_PAGES 64

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
    case 3: return PG * (1 + below(REGION_PAGES / 4));
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



enum call { TOUCH, UNMAP, SYNC, PROTECT, ADVISE, LOCK, UNLOCK, REMAP, RESIDENT, N_CALLS };
static const char *const CALL_NAMES[] = {"touch", "unmap", "sync", "protect", "advise", "lock", "unlock", "remap", "resident"};

typedef struct {
    enum call call;
    intptr_t off; /* from the current mapping (or the layout) */
    size_t len;
    int arg;      /* flags, prot, advice or remap flags; write for a touch */
    size_t new_len;
    intptr_t target; /* remap's fifth argument: offset in the region, or in the hole when negative */
    int vec;         /* resident: 0 a buffer, 1 a hole, 2 near the top */
} step_t;

typedef struct {
    int lone;           /* one call on the layout, no map */
    uintptr_t addr;     /* absolute, or an offset into the region when in_region */
    int in_region;
    size_t len;
    int prot, flags, fd_index;
    off_t off;
    int steps;
    step_t step[3];
} tuple_t;

static const int SYNC_FLAGS[] = {0, MS_ASYNC, MS_SYNC, MS_INVALIDATE, MS_ASYNC | MS_SYNC, MS_SYNC | MS_INVALIDATE, 0x100, -1};
static const int PROTS[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC, PROT_READ | PROT_GROWSDOWN,
                            PROT_GROWSDOWN | PROT_GROWSUP, 0x40, PROT_READ | 0x8, PROT_READ | PROT_WRITE | PROT_EXEC};
static const int ADVICE[] = {MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED, MADV_FREE,
                             MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK, MADV_COLD, MADV_PAGEOUT,
                             MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_DONTDUMP, 9999, -1};
static const int REMAP_FLAGS[] = {0, MREMAP_MAYMOVE, MREMAP_MAYMOVE | MREMAP_FIXED, MREMAP_FIXED,
                                  MREMAP_MAYMOVE | MREMAP_DONTUNMAP, MREMAP_DONTUNMAP, 8, -1};
#define PICK(list) (list)[below(sizeof(list) / sizeof *(list))]

static size_t step_len(void)
{
    switch (below(9)) {
    case 0: return 0;
    case 1: return 1 + below(PG);
    case 2: return PG * (1 + below(8)) + below(3) - 1;
    case 3: return (size_t)1 << (40 + below(24));
    case 4: return SIZE_MAX - below(3 * PG);
    case 5: return (size_t)rnd();
    default: return PG * (1 + below(4));
    }
}

static step_t random_step(int lone)
{
    step_t st = {0};
    st.call = (enum call)(lone ? 1 + below(N_CALLS - 1) : below(N_CALLS));
    st.off = chance(2) ? 0 : (intptr_t)(PG * below(lone ? 6 : 4)) + (chance(6) ? 1 : 0);
    if (lone && chance(4)) st.off -= (intptr_t)PG;
    st.len = step_len();
    switch (st.call) {
    case TOUCH: st.off = (intptr_t)below(8 * PG); st.arg = chance(2); break;
    case SYNC: st.arg = PICK(SYNC_FLAGS); break;
    case PROTECT: st.arg = PICK(PROTS); break;
    case ADVISE: st.arg = PICK(ADVICE); break;
    case REMAP:
        st.arg = PICK(REMAP_FLAGS);
        st.new_len = chance(8) ? step_len() : PG * (1 + below(6)) - (chance(8) ? 1 : 0);
        st.target = chance(2) ? (intptr_t)(PG * below(REGION_PAGES / 2) + (chance(8) ? 1 : 0)) : -(intptr_t)(1 + below(8));
        break;
    case RESIDENT: st.vec = chance(6) ? 1 + (int)below(2) : 0; break;
    default: break;
    }
    return st;
}

static tuple_t random_tuple(void)
{
    tuple_t t = {0};
    t.lone = chance(4);
    if (t.lone) {
        t.steps = 1;
        t.step[0] = random_step(1);
        return t;
    }
    t.steps = (int)below(4);
    for (int i = 0; i < t.steps; i++) t.step[i] = random_step(0);
    if (chance(2)) {
        /* A mapping that works, so that the calls after it meet real memory:
         * anonymous or of the read-write file, in the region or anywhere. */
        t.len = PG * (1 + below(12)) - (chance(4) ? below(PG) : 0);
        t.prot = chance(6) ? PROT_READ | PROT_WRITE | PROT_EXEC : chance(3) ? PROT_READ : PROT_READ | PROT_WRITE;
        t.fd_index = chance(2) ? 0 /* rw */ : 12 /* -1 */;
        t.flags = (chance(2) ? MAP_SHARED : MAP_PRIVATE) | (t.fd_index ? MAP_ANONYMOUS : 0);
        if (chance(6)) t.flags |= MAP_LOCKED;
        if (chance(2)) {
            t.in_region = 1;
            t.flags |= MAP_FIXED;
            t.addr = PG * below(REGION_PAGES / 2);
        }
        return t;
    }
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
            if (t.len > REGION_PAGES / 2 * PG) t.len = PG * (1 + below(REGION_PAGES / 4));
        }
    } else if (chance(3)) {
        t.addr = (uintptr_t)rnd();
    }
    /* Populating or locking a huge range would exhaust the machine, not test librmap. */
    if (t.len > 64 * PG) t.flags &= ~(MAP_POPULATE | MAP_LOCKED);
    return t;
}

/* Whether [at, at + len), rounded out to pages, wraps past the top. */
static int wraps(uintptr_t at, size_t len) { return len > UINTPTR_MAX - at || at + len > UINTPTR_MAX - (PG - 1); }

/* The calls that refuse a misaligned start before anything else. */
static int refuses_misaligned(enum call c) { return c != LOCK && c != UNLOCK && c != TOUCH; }

/* [lo, hi): the memory a step may change. A step reaching outside it runs
 * only if the kernel refuses it first; otherwise it is cut at hi, or made
 * empty. */
static size_t safe_len(const step_t *st, uintptr_t at, uintptr_t lo, uintptr_t hi)
{
    if (st->len == 0 || wraps(at, st->len)) return st->len;
    if (refuses_misaligned(st->call) && at % PG) return st->len;
    if (at < lo || at >= hi) return 0;
    return st->len < hi - at ? st->len : hi - at;
}

typedef struct {
    const tuple_t *t;
    const api_t *a;
    const fixture_t *fx;
    char *region, *hole;
} side_t;

/* Makes one step on the mapping at *cur (safe within [lo, hi)); a move
 * updates *cur and the bounds. */
static void run_step(const side_t *s, const step_t *st, char **cur, uintptr_t *lo, uintptr_t *hi, int out)
{
    static unsigned char vec[1 << 16];
    const api_t *a = s->a;
    char *at = *cur + st->off;
    size_t len = safe_len(st, (uintptr_t)at, *lo, *hi);
    switch (st->call) {
    case TOUCH: {
        if ((uintptr_t)at >= *hi) return;
        volatile char *q = at;
        if (st->arg) *q = 1;
        else (void)*q;
        record(out, ok());
        return;
    }
    case UNMAP: record(out, of_rc(a->unmap(at, len))); return;
    case SYNC: record(out, of_rc(a->sync(at, len, st->arg))); return;
    case PROTECT: record(out, of_rc(a->protect(at, len, st->arg))); return;
    case ADVISE: record(out, of_rc(a->advise(at, len, st->arg))); return;
    /* ASan's runtime replaces mlock and munlock for both sides: nothing to compare. */
    case LOCK: record(out, under_asan() ? ok() : of_rc(a->lock(at, len))); return;
    case UNLOCK: record(out, under_asan() ? ok() : of_rc(a->unlock(at, len))); return;
    case RESIDENT: {
        unsigned char *v = st->vec == 0 ? vec : st->vec == 1 ? (unsigned char *)s->hole : (unsigned char *)(UINTPTR_MAX - 10);
        if (st->vec == 0 && len / PG >= sizeof vec && !wraps((uintptr_t)at, len) && len < ((size_t)1 << 63))
            len = (sizeof vec - 1) * PG;
        record(out, of_rc(a->resident(at, len, v)));
        return;
    }
    case REMAP: {
        char *target = st->target >= 0 ? s->region + st->target : s->hole + PG * (size_t)(-st->target - 1) * 4;
        uintptr_t t_lo = st->target >= 0 ? (uintptr_t)s->region : (uintptr_t)s->hole;
        uintptr_t t_hi = t_lo + (st->target >= 0 ? REGION_PAGES : HOLE_PAGES) * PG;
        size_t new_len = st->new_len;
        /* A fixed move replaces its target: only inside the region or the hole. */
        if ((st->arg & MREMAP_FIXED) && !((uintptr_t)target % PG) && new_len < ((size_t)1 << 47) &&
            (uintptr_t)target + new_len > t_hi)
            new_len = (uintptr_t)target < t_hi ? t_hi - (uintptr_t)target : 0;
        char *moved = a->remap(at, len, new_len, st->arg, target);
        record(out, of_map(moved));
        if (moved != MAP_FAILED && moved != at) {
            *cur = moved;
            int in_region = (uintptr_t)moved >= (uintptr_t)s->region && (uintptr_t)moved < (uintptr_t)s->region + REGION_PAGES * PG;
            int in_hole = (uintptr_t)moved >= (uintptr_t)s->hole && (uintptr_t)moved < (uintptr_t)s->hole + HOLE_PAGES * PG;
            *lo = in_region ? (uintptr_t)s->region : in_hole ? (uintptr_t)s->hole : (uintptr_t)moved;
            *hi = in_region ? (uintptr_t)s->region + REGION_PAGES * PG
                  : in_hole ? (uintptr_t)s->hole + HOLE_PAGES * PG
                            : (uintptr_t)moved + (new_len + PG - 1) / PG * PG;
        } else if (moved == at && *lo == (uintptr_t)*cur && (uintptr_t)at == *lo) {
            /* Resized in place outside the region: it owns what it has now. */
            *hi = (uintptr_t)at + (new_len + PG - 1) / PG * PG;
        }
        return;
    }
    default: return;
    }
}

static void run_tuple(void *arg, int out)
{
    const side_t *s = arg;
    const tuple_t *t = s->t;
    const api_t *a = s->a;
    alarm(10);
    if (t->lone) {
        char *layout = s->region + LAYOUT * PG;
        uintptr_t lo = (uintptr_t)s->region, hi = lo + REGION_PAGES * PG;
        run_step(s, &t->step[0], &layout, &lo, &hi, out);
        return;
    }
    uintptr_t base = t->in_region ? (uintptr_t)s->region : 0;
    char *p = a->map((void *)(base + t->addr), t->len, t->prot, t->flags, fd_of(s->fx, t->fd_index), t->off);
    record(out, of_map(p));
    if (p == MAP_FAILED) return;
    uintptr_t lo = t->in_region ? (uintptr_t)s->region : (uintptr_t)p;
    uintptr_t hi = t->in_region ? lo + REGION_PAGES * PG : (uintptr_t)p + (t->len <= 64 * PG ? (t->len + PG - 1) / PG * PG : 0);
    for (int i = 0; i < t->steps; i++) run_step(s, &t->step[i], &p, &lo, &hi, out);
}

static void print_tuple(const tuple_t *t)
{
    if (!t->lone)
        printf("       map: addr=%s%#lx len=%#zx prot=%#x flags=%#x fd=%s off=%lld\n", t->in_region ? "region+" : "",
               (unsigned long)t->addr, t->len, t->prot, t->flags, FD_NAMES[t->fd_index], (long long)t->off);
    for (int i = 0; i < t->steps; i++) {
        const step_t *st = &t->step[i];
        printf("       %s%s: +%ld len=%#zx arg=%#x new_len=%#zx target=%ld vec=%d\n", t->lone ? "on the layout: " : "then ",
               CALL_NAMES[st->call], (long)st->off, st->len, st->arg, st->new_len, (long)st->target, st->vec);
    }
}

/* Runs COUNT tuples from SEED (only tuple ONLY when >= 0); returns mismatches. */
static unsigned long random_differential(uint64_t seed, unsigned long count, long only)
{
    fixture_t fx = fixture();
    char *region = mmap(NULL, REGION_PAGES * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) die("region");
    char *layout = region + LAYOUT * PG;
    munmap(layout, 6 * PG);
    if (mmap(layout + PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fx.rw, 0) == MAP_FAILED ||
        mmap(layout + 4 * PG, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
        die("layout");
    char *free_hole = hole(HOLE_PAGES);
    rng_state = seed;
    unsigned long mismatches = 0, per_call[N_CALLS] = {0}, maps = 0, lone = 0, mapped = 0, calls_ok = 0;
    for (unsigned long i = 0; i < count; i++) {
        tuple_t t = random_tuple();
        if (only >= 0 && (long)i != only) continue;
        maps += !t.lone;
        lone += t.lone;
        for (int k = 0; k < t.steps; k++) per_call[t.step[k].call]++;
        side_t libc_side = {&t, &LIBC, &fx, region, free_hole}, rmap_side = {&t, &RMAP, &fx, region, free_hole};
        trace_t l = in_child_trace(run_tuple, &libc_side);
        trace_t r = in_child_trace(run_tuple, &rmap_side);
        mapped += !t.lone && l.steps > 0 && l.step[0].kind == OK;
        for (int k = t.lone ? 0 : 1; k < l.steps; k++) calls_ok += l.step[k].kind == OK;
        /* A line every 2,000 tuples: a long run never looks hung. */
        if (only < 0 && (i + 1) % 2000 == 0 && i + 1 < count)
            printf("     ... %lu of %lu tuples, %lu mismatches so far\n", i + 1, count, mismatches);
        if ((same_trace(&l, &r) || !compare) && only < 0) continue;
        if (!same_trace(&l, &r)) mismatches++;
        printf("     %s tuple %lu (reproduce: differential %llu %lu --index %lu)\n",
               same_trace(&l, &r) ? "same" : "MISMATCH", i, (unsigned long long)seed, count, i);
        print_tuple(&t);
        print_trace("libc", &l);
        print_trace("rmap", &r);
    }
    printf("     random: seed %llu, %lu tuples: %lu map (%lu mapped) + up to 3 calls, %lu lone calls; calls drawn:",
           (unsigned long long)seed, count, maps, mapped, lone);
    for (int c = 0; c < N_CALLS; c++) printf(" %s %lu", CALL_NAMES[c], per_call[c]);
    printf("; %lu calls after a map or alone succeeded; %lu mismatches\n", calls_ok, mismatches);
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
