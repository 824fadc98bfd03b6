/* rmap.hpp: librmap for C++17, header-only RAII over rmap.h.
 *
 *   #include <rmap.hpp>
 *
 *   rmap::mapping m = rmap::mapping::file(fd, length, PROT_READ);
 *   rmap::span<unsigned char> bytes = m.bytes();   // std::span in C++20
 *   rmap::read(buffer, m.data(), 100);             // throws rmap::copy_error (EIO) on a truncated file
 *
 * rmap::mapping owns one mapping and unmaps it in its destructor (an error
 * there is ignored: a destructor cannot report it, and memmap2 does the
 * same); it can be moved, not copied. Every failing call throws
 * std::system_error with std::generic_category() and the errno of the C
 * function, whose name is the what() prefix. The range members take an
 * offset and length from data(): a range reaching past its end throws
 * std::out_of_range before any call (the C call would act on whatever is
 * mapped next); within it they are passed as given, so the kernel's page
 * rules apply (an unaligned offset is EINVAL). The members without a range
 * act on every page of the mapping, also those before data() when a file's
 * offset was not page aligned.
 *
 * Written by hand (the C header is generated); compiles warning-free with
 * -std=c++17 -Wall -Wextra -Wpedantic -Wold-style-cast -Wshadow -Werror
 * under g++ and clang++ (make check builds c_examples/raii.cpp, its test,
 * with both).
 */
#ifndef RMAP_HPP
#define RMAP_HPP

#include <rmap.h>

#include <fcntl.h> /* F_SEAL_* (glibc declares them where g++ defines _GNU_SOURCE, as it does by default) */
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>
#if __cplusplus >= 202002L && __has_include(<span>)
#include <span>
#endif

namespace rmap {

#if __cplusplus >= 202002L && defined(__cpp_lib_span)
/* A view of contiguous bytes: std::span. */
template <typename T> using span = std::span<T>;
#else
/* A view of contiguous bytes (C++17): pointer and size, indexable and
 * iterable like the std::span of C++20. */
template <typename T> class span {
public:
    constexpr span() noexcept = default;
    constexpr span(T *data, std::size_t size) noexcept : data_(data), size_(size) {}
    constexpr T *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T &operator[](std::size_t index) const noexcept { return data_[index]; }
    constexpr T *begin() const noexcept { return data_; }
    constexpr T *end() const noexcept { return data_ + size_; }
    constexpr span subspan(std::size_t offset, std::size_t count) const noexcept { return {data_ + offset, count}; }

private:
    T *data_ = nullptr;
    std::size_t size_ = 0;
};
#endif

/* Throws std::system_error for errno, named after the C call. */
[[noreturn]] inline void throw_errno(const char *call)
{
    throw std::system_error(errno, std::generic_category(), call);
}

/* A failed rmap::read or rmap::write: the errno (EIO for a page the file no
 * longer covers, EFAULT for one that may not be touched) and how many
 * leading bytes were copied before the first page that faulted. */
class copy_error : public std::system_error {
public:
    copy_error(int error, std::size_t copied, const char *call)
        : std::system_error(error, std::generic_category(), call), copied_(copied)
    {
    }
    std::size_t copied() const noexcept { return copied_; }

private:
    std::size_t copied_;
};

/* rmap_read: memcpy out of a mapping, throwing copy_error where memcpy
 * would die of SIGBUS or SIGSEGV. */
inline void read(void *dst, const void *src, std::size_t n)
{
    if (rmap_read(dst, src, n) != 0) {
        const int error = errno;
        throw copy_error(error, rmap_copied(), "rmap_read");
    }
}

/* rmap_write: memcpy into a mapping, throwing copy_error likewise. */
inline void write(void *dst, const void *src, std::size_t n)
{
    if (rmap_write(dst, src, n) != 0) {
        const int error = errno;
        throw copy_error(error, rmap_copied(), "rmap_write");
    }
}

/* rmap_shm_create: shared memory for another process, its storage
 * allocated and sealed as asked; the new descriptor (close-on-exec unless
 * RMAP_SHM_INHERIT), which the caller closes. Throws std::system_error. */
inline int shm_create(const char *name, std::size_t size, unsigned int seals = 0, int flags = 0)
{
    const int fd = rmap_shm_create(name, size, seals, flags);
    if (fd < 0) throw_errno("rmap_shm_create");
    return fd;
}

/* One mapping, owned: rmap_map in the constructor, rmap_unmap in the
 * destructor. Move-only. */
class mapping {
public:
    /* Holds nothing. */
    mapping() noexcept = default;

    /* rmap_map(addr, length, prot, flags, fd, offset); throws on failure. */
    mapping(void *addr, std::size_t length, int prot, int flags, int fd, off_t offset)
        : data_(rmap_map(addr, length, prot, flags, fd, offset)), size_(length)
    {
        if (data_ == RMAP_FAILED) {
            data_ = nullptr;
            throw_errno("rmap_map");
        }
    }

    /* rmap_map_peer(fd, length, prot): memory a peer process sent, mapped
     * plainly when the memfd is sealed against shrinking and covers
     * `length`, tolerantly otherwise (its truncation is a loss: losses()). */
    static mapping peer(int fd, std::size_t length, int prot = PROT_READ | PROT_WRITE)
    {
        mapping m;
        void *p = rmap_map_peer(fd, length, prot);
        if (p == RMAP_FAILED) throw_errno("rmap_map_peer");
        m.data_ = p;
        m.size_ = length;
        return m;
    }

    /* Zero-filled anonymous memory. */
    static mapping anonymous(std::size_t length, int prot = PROT_READ | PROT_WRITE, int flags = MAP_PRIVATE)
    {
        return mapping(nullptr, length, prot, flags | MAP_ANONYMOUS, -1, 0);
    }

    /* `length` bytes of the file behind `fd` from `offset`; a `length` of 0
     * maps from `offset` to the end of the file (as Boost's mapped_region
     * does with size 0; EINVAL if nothing lies there). `offset` need not be
     * page aligned: the mapping starts at the page holding it, data()
     * points at the byte at `offset` and size() counts from there (as the
     * Rust API and memmap2 do). */
    static mapping file(int fd, std::size_t length, int prot, int flags = MAP_SHARED, off_t offset = 0)
    {
        if (offset < 0) throw std::system_error(EINVAL, std::generic_category(), "rmap::mapping::file: negative offset");
        if (length == 0) {
            struct stat st;
            if (fstat(fd, &st) != 0) throw_errno("fstat");
            if (st.st_size <= offset)
                throw std::system_error(EINVAL, std::generic_category(),
                                        "rmap::mapping::file: nothing to map from the offset to the end of the file");
            if (static_cast<unsigned long long>(st.st_size - offset) > SIZE_MAX)
                throw std::system_error(EFBIG, std::generic_category(), "rmap::mapping::file: the file is too large");
            length = static_cast<std::size_t>(st.st_size - offset);
        }
        const std::size_t lead = static_cast<std::size_t>(offset) % rmap_pagesize();
        if (length > SIZE_MAX - lead)
            throw std::system_error(ENOMEM, std::generic_category(), "rmap::mapping::file: length too large");
        mapping m(nullptr, lead + length, prot, flags, fd, offset - static_cast<off_t>(lead));
        m.lead_ = lead;
        m.size_ = length;
        return m;
    }

    ~mapping() { reset(); }

    mapping(mapping &&other) noexcept
        : data_(std::exchange(other.data_, nullptr)), lead_(std::exchange(other.lead_, 0)),
          size_(std::exchange(other.size_, 0))
    {
    }

    mapping &operator=(mapping &&other) noexcept
    {
        if (this != &other) {
            reset();
            data_ = std::exchange(other.data_, nullptr);
            lead_ = std::exchange(other.lead_, 0);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }

    mapping(const mapping &) = delete;
    mapping &operator=(const mapping &) = delete;

    /* The byte at the offset asked for, and how many follow it. */
    void *data() const noexcept { return data_ == nullptr ? nullptr : static_cast<unsigned char *>(data_) + lead_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return data_ == nullptr; }
    explicit operator bool() const noexcept { return data_ != nullptr; }

    /* The mapping as the kernel holds it: from the start of the page that
     * holds data() (data() itself unless a file's offset was unaligned),
     * mapped_size() bytes. What release() gives up. */
    void *mapped_data() const noexcept { return data_; }
    std::size_t mapped_size() const noexcept { return data_ == nullptr ? 0 : lead_ + size_; }

    /* The mapped bytes (writable only if the protection allows). */
    span<unsigned char> bytes() const noexcept { return {static_cast<unsigned char *>(data()), size_}; }

    /* rmap_secure of [offset, offset + length) through fd: the file's
     * blocks allocated and the file grown to cover the range, so writing
     * there cannot die of SIGBUS on a full disk; throws std::system_error
     * (ENOSPC, EDQUOT, EFBIG, ...) instead. A mapping made longer than its
     * file grows in place this way: data() never moves. */
    void secure(std::size_t offset, std::size_t length, int fd) const
    {
        unsigned char *start = static_cast<unsigned char *>(at(offset, length, "rmap::mapping::secure"));
        const std::size_t lead = reinterpret_cast<std::uintptr_t>(start) % rmap_pagesize();
        if (rmap_secure(start - lead, lead + length, fd) != 0) throw_errno("rmap_secure");
    }

    /* rmap_sync of the whole mapping or of [offset, offset + length) (the
     * whole-mapping members act on all of its pages). */
    void sync(int flags = MS_SYNC) const
    {
        if (rmap_sync(data_, mapped_size(), flags) != 0) throw_errno("rmap_sync");
    }
    void sync(std::size_t offset, std::size_t length, int flags = MS_SYNC) const
    {
        if (rmap_sync(at(offset, length, "rmap::mapping::sync"), length, flags) != 0) throw_errno("rmap_sync");
    }

    /* rmap_advise. */
    void advise(int advice) const
    {
        if (rmap_advise(data_, mapped_size(), advice) != 0) throw_errno("rmap_advise");
    }
    void advise(std::size_t offset, std::size_t length, int advice) const
    {
        if (rmap_advise(at(offset, length, "rmap::mapping::advise"), length, advice) != 0) throw_errno("rmap_advise");
    }

    /* rmap_protect. */
    void protect(int prot) const
    {
        if (rmap_protect(data_, mapped_size(), prot) != 0) throw_errno("rmap_protect");
    }
    void protect(std::size_t offset, std::size_t length, int prot) const
    {
        if (rmap_protect(at(offset, length, "rmap::mapping::protect"), length, prot) != 0) throw_errno("rmap_protect");
    }

    /* rmap_lock and rmap_unlock. */
    void lock() const
    {
        if (rmap_lock(data_, mapped_size()) != 0) throw_errno("rmap_lock");
    }
    void lock(std::size_t offset, std::size_t length) const
    {
        if (rmap_lock(at(offset, length, "rmap::mapping::lock"), length) != 0) throw_errno("rmap_lock");
    }
    void unlock() const
    {
        if (rmap_unlock(data_, mapped_size()) != 0) throw_errno("rmap_unlock");
    }
    void unlock(std::size_t offset, std::size_t length) const
    {
        if (rmap_unlock(at(offset, length, "rmap::mapping::unlock"), length) != 0) throw_errno("rmap_unlock");
    }

    /* rmap_remap to new_size bytes; the mapping may move (MREMAP_MAYMOVE),
     * to new_address with MREMAP_FIXED. With MREMAP_DONTUNMAP the old range
     * stays mapped and is the caller's to unmap. On failure the mapping is
     * unchanged. */
    void remap(std::size_t new_size, int flags = MREMAP_MAYMOVE, void *new_address = nullptr)
    {
        if (new_size > SIZE_MAX - lead_) throw std::system_error(ENOMEM, std::generic_category(), "rmap_remap");
        void *moved = rmap_remap(data_, mapped_size(), lead_ + new_size, flags, new_address);
        if (moved == RMAP_FAILED) throw_errno("rmap_remap");
        data_ = moved;
        size_ = new_size;
    }

    /* rmap_resident: whether each page is in memory. */
    std::vector<bool> resident() const
    {
        const std::size_t page = rmap_pagesize(), pages = (mapped_size() + page - 1) / page;
        std::vector<unsigned char> vec(pages);
        if (rmap_resident(data_, mapped_size(), vec.data()) != 0) throw_errno("rmap_resident");
        std::vector<bool> result(pages);
        for (std::size_t i = 0; i < pages; i++) result[i] = (vec[i] & 1) != 0;
        return result;
    }

    /* rmap_tolerate: a page the file no longer backs (truncated by another
     * process, an I/O error) reads as zeros instead of raising SIGBUS;
     * sync() then throws (EIO) and losses() says which pages were lost. */
    void tolerate() const
    {
        if (rmap_tolerate(data_, mapped_size()) != 0) throw_errno("rmap_tolerate");
    }
    void tolerate(std::size_t offset, std::size_t length) const
    {
        if (rmap_tolerate(at(offset, length, "rmap::mapping::tolerate"), length) != 0) throw_errno("rmap_tolerate");
    }

    /* rmap_losses: the file offsets of the pages lost so far. */
    std::vector<off_t> losses() const
    {
        for (;;) {
            const ssize_t count = rmap_losses(data_, mapped_size(), nullptr, 0);
            if (count < 0) throw_errno("rmap_losses");
            std::vector<off_t> offsets(static_cast<std::size_t>(count));
            const ssize_t again = rmap_losses(data_, mapped_size(), offsets.data(), offsets.size());
            if (again < 0) throw_errno("rmap_losses");
            if (again == count) return offsets; /* else another thread lost a page meanwhile */
        }
    }

    /* rmap_query: what librmap recorded for the mapping at its start. */
    rmap_info query() const
    {
        rmap_info info{};
        if (rmap_query(data_, &info) != 0) throw_errno("rmap_query");
        return info;
    }

    /* rmap::read and rmap::write at `offset` of the mapping. */
    void read(std::size_t offset, void *dst, std::size_t n) const
    {
        rmap::read(dst, at(offset, n, "rmap::mapping::read"), n);
    }
    void write(std::size_t offset, const void *src, std::size_t n) const
    {
        rmap::write(at(offset, n, "rmap::mapping::write"), src, n);
    }

    /* Gives the mapping up: the caller unmaps [mapped_data(), mapped_size())
     * as they were; returns mapped_data(). */
    void *release() noexcept
    {
        size_ = 0;
        lead_ = 0;
        return std::exchange(data_, nullptr);
    }

    /* Unmaps now (errors ignored, as in the destructor). */
    void reset() noexcept
    {
        if (data_ != nullptr) (void)rmap_unmap(data_, mapped_size());
        data_ = nullptr;
        lead_ = 0;
        size_ = 0;
    }

private:
    /* The address of [offset, offset + length), which must lie inside the mapping. */
    void *at(std::size_t offset, std::size_t length, const char *member) const
    {
        if (offset > size_ || length > size_ - offset)
            throw std::out_of_range(std::string(member) + ": range past the end of the mapping");
        return static_cast<unsigned char *>(data()) + offset;
    }

    void *data_ = nullptr;    /* where the mapping starts (a page boundary) */
    std::size_t lead_ = 0;    /* bytes before data(): a file offset's distance past its page */
    std::size_t size_ = 0;    /* bytes from data() */
};

/* Shared memory for another process, owned: rmap_shm_create (its storage
 * allocated, sealed as asked) and a shared mapping of all of it (read-only
 * if sealed against writing). Send fd() to the peer (SCM_RIGHTS), which
 * maps it with mapping::peer. Move-only; closes the descriptor and unmaps
 * when destroyed (a named object stays until shm_unlink). */
class shared_memory {
public:
    shared_memory(const char *name, std::size_t size, unsigned int seals = 0, int flags = 0)
        : fd_(shm_create(name, size, seals, flags))
    {
        const int prot = (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0 ? PROT_READ : PROT_READ | PROT_WRITE;
        try {
            memory_ = mapping(nullptr, size, prot, MAP_SHARED, fd_, 0);
        } catch (...) {
            close(fd_);
            throw;
        }
    }
    ~shared_memory()
    {
        if (fd_ >= 0) close(fd_);
    }
    shared_memory(shared_memory &&other) noexcept
        : fd_(std::exchange(other.fd_, -1)), memory_(std::move(other.memory_))
    {
    }
    shared_memory &operator=(shared_memory &&other) noexcept
    {
        if (this != &other) {
            if (fd_ >= 0) close(fd_);
            fd_ = std::exchange(other.fd_, -1);
            memory_ = std::move(other.memory_);
        }
        return *this;
    }
    shared_memory(const shared_memory &) = delete;
    shared_memory &operator=(const shared_memory &) = delete;

    int fd() const noexcept { return fd_; }
    const mapping &memory() const noexcept { return memory_; }

private:
    int fd_ = -1;
    mapping memory_;
};

} // namespace rmap

#endif
