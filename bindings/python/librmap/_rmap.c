/* librmap._rmap: the standard mmap module's API on librmap.
 *
 * The mmap class follows CPython's own (Modules/mmapmodule.c, Linux): the
 * same constructor, methods, exceptions and messages, so `import librmap as
 * mmap` works. What differs is where the bytes come from: every access that
 * is not a raw buffer (indexing, slicing, read, readline, find, rfind,
 * write, write_byte, slice assignment, move) copies through rmap_read or
 * rmap_write, so a page the file no longer covers raises OSError(EIO)
 * instead of killing the interpreter with SIGBUS. Raw buffers (memoryview,
 * numpy) read the memory directly, as with the standard module.
 *
 * Buffer exports are counted: close() and resize() refuse while any exist.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rmap.h"

enum access_mode { ACCESS_DEFAULT, ACCESS_READ, ACCESS_WRITE, ACCESS_COPY };

typedef struct {
    PyObject_HEAD
    char *data; /* NULL once closed */
    Py_ssize_t size;
    Py_ssize_t pos;
    long long offset;
    Py_ssize_t exports;
    int fd; /* a dup of the caller's, or -1 for anonymous memory (or trackfd=False) */
    int trackfd; /* 3.13's trackfd= (always 1 before) */
    enum access_mode access;
    PyObject *weakreflist;
} mmap_object;

static PyTypeObject mmap_type;
static PyTypeObject iterator_type;

/* The ints 0 to 255 (m[i], read_byte()) and the one-byte bytes objects
 * (iteration), made once: returning one is an incref, where
 * PyLong_FromLong is a call (~1.5 ns of read_byte()'s 21). */
static PyObject *byte_ints[256], *single_bytes[256];

static PyObject *int_of_byte(unsigned char byte)
{
    PyObject *result = byte_ints[byte];
    Py_INCREF(result);
    return result;
}

/* Guarded copies in and out of the mapping. Moves within it go through a
 * bounded buffer of this many bytes at a time. */
enum { CHUNK = 256 * 1024 };


/* ---- errors ---- */

static int closed_error(void)
{
    PyErr_SetString(PyExc_ValueError, "mmap closed or invalid");
    return -1;
}

#define CHECK_VALID(self, err)                                                                                    \
    do {                                                                                                          \
        if ((self)->data == NULL) {                                                                               \
            closed_error();                                                                                       \
            return err;                                                                                           \
        }                                                                                                         \
    } while (0)

/* OSError(errno) for a copy that faulted at byte `at` of the mapping.
 * (Cold and apart: the fast paths then save fewer registers.) */
__attribute__((cold, noinline)) static int fault_error(int err, Py_ssize_t at)
{
    const char *why = err == EIO ? "the mapped file no longer covers" : "cannot access";
    PyObject *message = PyUnicode_FromFormat("%s (%s byte %zd of the mapping)", strerror(err), why, at);
    if (message == NULL) return -1;
    PyObject *args = Py_BuildValue("(iN)", err, message);
    if (args != NULL) {
        PyErr_SetObject(PyExc_OSError, args);
        Py_DECREF(args);
    }
    return -1;
}

static int errno_error(void)
{
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

static int check_writable(const mmap_object *self)
{
    if (self->access != ACCESS_READ) return 0;
    PyErr_SetString(PyExc_TypeError, "mmap can't modify a readonly memory map.");
    return -1;
}

/* ---- guarded copies ---- */

/* Copies n bytes at `off` of the mapping into dst. */
__attribute__((cold, noinline)) static int copy_failed(Py_ssize_t off)
{
    return fault_error(errno, off + (Py_ssize_t)rmap_copied());
}

static int copy_out(mmap_object *self, void *dst, Py_ssize_t off, Py_ssize_t n)
{
    if (n == 0 || rmap_read(dst, self->data + off, (size_t)n) == 0) return 0;
    return copy_failed(off);
}

/* Copies n bytes from src to `off` of the mapping; src may lie in it. */
static int move_within(mmap_object *self, Py_ssize_t dst_off, const char *src, Py_ssize_t n);

static int copy_in(mmap_object *self, Py_ssize_t off, const void *src, Py_ssize_t n)
{
    const char *s = src, *d = self->data + off;
    if (s < d + n && d < s + n) return move_within(self, off, s, n);
    if (n == 0 || rmap_write(self->data + off, src, (size_t)n) == 0) return 0;
    return copy_failed(off);
}

/* A bytes object of n bytes at `off` of the mapping. */
static PyObject *bytes_at(mmap_object *self, Py_ssize_t off, Py_ssize_t n)
{
    PyObject *result = PyBytes_FromStringAndSize(NULL, n);
    if (result == NULL) return NULL;
    if (copy_out(self, PyBytes_AS_STRING(result), off, n) != 0) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* memmove through a bounce buffer, in chunks, in the direction that never
 * overwrites bytes still to be read. */
static int move_within(mmap_object *self, Py_ssize_t dst_off, const char *src, Py_ssize_t n)
{
    char *bounce = PyMem_Malloc(n < CHUNK ? (size_t)(n ? n : 1) : CHUNK);
    if (bounce == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    const int forward = self->data + dst_off <= src;
    int rc = 0;
    for (Py_ssize_t done = 0; done < n && rc == 0;) {
        Py_ssize_t step = n - done < CHUNK ? n - done : CHUNK;
        Py_ssize_t at = forward ? done : n - done - step;
        if (rmap_read(bounce, src + at, (size_t)step) != 0) {
            const char *base = self->data;
            rc = fault_error(errno, (src + at - base) + (Py_ssize_t)rmap_copied());
        } else if (rmap_write(self->data + dst_off + at, bounce, (size_t)step) != 0) {
            rc = fault_error(errno, dst_off + at + (Py_ssize_t)rmap_copied());
        }
        done += step;
    }
    PyMem_Free(bounce);
    return rc;
}

/* The offset of the first (or last, `reverse`) occurrence of needle in
 * [start, end) of the mapping, or -1; -2 with an exception set. rmap_find
 * searches the mapping in place, guarded: no copy. */
static Py_ssize_t search(mmap_object *self, const char *needle, Py_ssize_t m, Py_ssize_t start, Py_ssize_t end,
                         int reverse)
{
    if (end < start) return -1;
    size_t at;
    switch (rmap_find(self->data + start, (size_t)(end - start), needle, (size_t)m, reverse ? RMAP_FIND_LAST : 0, &at)) {
    case 1:
        return start + (Py_ssize_t)at;
    case 0:
        return -1;
    default:
        fault_error(errno, start + (Py_ssize_t)rmap_copied());
        return -2;
    }
}

/* ---- construction and lifetime ---- */

/* The standard module's constructor counts its arguments before anything
 * else: more than it takes (6; 7 from 3.13, with trackfd=) is a TypeError
 * whatever they are. rmap's own keyword (tolerant=) is not counted, so a
 * call the standard module would refuse for its count is refused the same
 * way. Returns 0, or -1 with the error set. */
static int count_as_the_standard_module(PyObject *args, PyObject *kwargs)
{
#if PY_VERSION_HEX >= 0x030D0000
    const Py_ssize_t most = 7;
#else
    const Py_ssize_t most = 6;
#endif
    Py_ssize_t given = PyTuple_GET_SIZE(args);
    if (kwargs != NULL) given += PyDict_GET_SIZE(kwargs) - (PyDict_GetItemString(kwargs, "tolerant") != NULL);
    if (given <= most) return 0;
    PyErr_Format(PyExc_TypeError, "function takes at most %zd arguments (%zd given)", most, given);
    return -1;
}

static PyObject *mmap_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (count_as_the_standard_module(args, kwargs) != 0) return NULL;
    int fd, flags = MAP_SHARED, prot = PROT_WRITE | PROT_READ, access = ACCESS_DEFAULT, tolerant = 0, trackfd = 1;
    Py_ssize_t map_size;
    long offset = 0; /* off_t: the standard module parses it with "l" */
#if PY_VERSION_HEX >= 0x030D0000
    /* 3.13's keyword-only trackfd=: False keeps no descriptor of its own. */
    static char *keywords[] = {"fileno", "length", "flags", "prot", "access", "offset", "trackfd", "tolerant", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "in|iiil$pp", keywords, &fd, &map_size, &flags, &prot, &access,
                                     &offset, &trackfd, &tolerant))
        return NULL;
#else
    static char *keywords[] = {"fileno", "length", "flags", "prot", "access", "offset", "tolerant", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "in|iiil$p", keywords, &fd, &map_size, &flags, &prot, &access,
                                     &offset, &tolerant))
        return NULL;
#endif
    if (map_size < 0) {
        PyErr_SetString(PyExc_OverflowError, "memory mapped length must be positive");
        return NULL;
    }
    if (offset < 0) {
        PyErr_SetString(PyExc_OverflowError, "memory mapped offset must be positive");
        return NULL;
    }
    if (access != ACCESS_DEFAULT && (flags != MAP_SHARED || prot != (PROT_WRITE | PROT_READ))) {
        PyErr_SetString(PyExc_ValueError, "mmap can't specify both access and flags, prot.");
        return NULL;
    }
    switch (access) {
    case ACCESS_READ:
        flags = MAP_SHARED;
        prot = PROT_READ;
        break;
    case ACCESS_WRITE:
        flags = MAP_SHARED;
        prot = PROT_READ | PROT_WRITE;
        break;
    case ACCESS_COPY:
        flags = MAP_PRIVATE;
        prot = PROT_READ | PROT_WRITE;
        break;
    case ACCESS_DEFAULT:
        /* Writable only if PROT_WRITE was asked for, readable or not. */
        if (!((prot & PROT_READ) && (prot & PROT_WRITE))) access = (prot & PROT_WRITE) ? ACCESS_WRITE : ACCESS_READ;
        break;
    default:
        PyErr_SetString(PyExc_ValueError, "mmap invalid access parameter.");
        return NULL;
    }
    if (PySys_Audit("mmap.__new__", "ini" "L", fd, map_size, access, (long long)offset) < 0) return NULL;

    struct stat st;
    if (fd != -1 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if (map_size == 0) {
            if (st.st_size == 0) {
                PyErr_SetString(PyExc_ValueError, "cannot mmap an empty file");
                return NULL;
            }
            if (offset >= st.st_size) {
                PyErr_SetString(PyExc_ValueError, "mmap offset is greater than file size");
                return NULL;
            }
            if (st.st_size - offset > PY_SSIZE_T_MAX) {
                PyErr_SetString(PyExc_ValueError, "mmap length is too large");
                return NULL;
            }
            map_size = (Py_ssize_t)(st.st_size - offset);
        } else if (offset > st.st_size || st.st_size - offset < map_size) {
            PyErr_SetString(PyExc_ValueError, "mmap length is greater than file size");
            return NULL;
        }
    }

    mmap_object *self = (mmap_object *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->data = NULL;
    self->size = map_size;
    self->pos = 0;
    self->offset = offset;
    self->exports = 0;
    self->weakreflist = NULL;
    self->access = (enum access_mode)access;
    self->fd = -1;
    self->trackfd = trackfd;
    if (fd == -1) {
        flags |= MAP_ANONYMOUS;
    } else if (trackfd) {
        self->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (self->fd == -1) {
            errno_error();
            Py_DECREF(self);
            return NULL;
        }
    }
    void *data;
    Py_BEGIN_ALLOW_THREADS
    data = rmap_map(NULL, (size_t)map_size, prot, flags, fd, (off_t)offset);
    Py_END_ALLOW_THREADS
    if (data == RMAP_FAILED) {
        errno_error();
        Py_DECREF(self);
        return NULL;
    }
    self->data = data;
    /* tolerant=True: a page the file no longer backs reads as zeros instead
     * of killing the interpreter, for buffer consumers too (re, numpy,
     * hashlib); flush() then raises OSError(EIO). */
    if (tolerant && rmap_tolerate(data, (size_t)map_size) != 0) {
        errno_error();
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* Forgets the mapping and the descriptor first, then releases them, so no
 * other thread can reach them once the GIL is dropped. */
static void release(mmap_object *self)
{
    char *data = self->data;
    Py_ssize_t size = self->size;
    int fd = self->fd;
    self->data = NULL;
    self->fd = -1;
    if (data == NULL && fd < 0) return;
    Py_BEGIN_ALLOW_THREADS
    if (fd >= 0) close(fd);
    if (data != NULL) rmap_unmap(data, (size_t)size);
    Py_END_ALLOW_THREADS
}

static void mmap_dealloc(mmap_object *self)
{
    release(self);
    if (self->weakreflist != NULL) PyObject_ClearWeakRefs((PyObject *)self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *mmap_close(mmap_object *self, PyObject *unused)
{
    (void)unused;
    if (self->exports > 0) {
        PyErr_SetString(PyExc_BufferError, "cannot close exported pointers exist");
        return NULL;
    }
    release(self);
    Py_RETURN_NONE;
}

static PyObject *mmap_closed(mmap_object *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->data == NULL);
}

static PyObject *mmap_enter(mmap_object *self, PyObject *unused)
{
    (void)unused;
    CHECK_VALID(self, NULL);
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *mmap_exit(mmap_object *self, PyObject *unused)
{
    (void)unused;
    return mmap_close(self, NULL);
}

static const char *const ACCESS_NAMES[] = {"ACCESS_DEFAULT", "ACCESS_READ", "ACCESS_WRITE", "ACCESS_COPY"};

static PyObject *mmap_repr(mmap_object *self)
{
    /* The standard module's text (its class is mmap.mmap), so code that
     * parses it keeps working; subclasses show their own name. */
    const char *name = Py_TYPE(self) == &mmap_type ? "mmap.mmap" : Py_TYPE(self)->tp_name;
    if (self->data == NULL) return PyUnicode_FromFormat("<%s closed=True>", name);
    return PyUnicode_FromFormat("<%s closed=False, access=%s, length=%zd, pos=%zd, offset=%lld>", name,
                                ACCESS_NAMES[self->access], self->size, self->pos, self->offset);
}

/* ---- file-like methods ---- */

static PyObject *mmap_read_byte(mmap_object *self, PyObject *unused)
{
    (void)unused;
    CHECK_VALID(self, NULL);
    if (self->pos >= self->size) {
        PyErr_SetString(PyExc_ValueError, "read byte out of range");
        return NULL;
    }
    unsigned char byte;
    if (copy_out(self, &byte, self->pos, 1) != 0) return NULL;
    self->pos++;
    return int_of_byte(byte);
}

static Py_ssize_t remaining(const mmap_object *self)
{
    return self->pos < self->size ? self->size - self->pos : 0;
}

static PyObject *mmap_readline(mmap_object *self, PyObject *unused)
{
    (void)unused;
    CHECK_VALID(self, NULL);
    /* A position past the end (after resize() shrank the mapping) stays where it is. */
    if (remaining(self) == 0) return PyBytes_FromStringAndSize(NULL, 0);
    Py_ssize_t start = self->pos;
    Py_ssize_t newline = search(self, "\n", 1, start, self->size, 0);
    if (newline == -2) return NULL;
    Py_ssize_t end = newline < 0 ? self->size : newline + 1;
    PyObject *line = bytes_at(self, start, end - start);
    if (line != NULL) self->pos = end;
    return line;
}

/* None or an int, for read(); negative means all. */
static int optional_size(PyObject *obj, void *result)
{
    if (obj == Py_None) return 1;
    if (!PyIndex_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "argument should be integer or None, not '%.200s'", Py_TYPE(obj)->tp_name);
        return 0;
    }
    Py_ssize_t value = PyNumber_AsSsize_t(obj, PyExc_OverflowError);
    if (value == -1 && PyErr_Occurred()) return 0;
    *(Py_ssize_t *)result = value;
    return 1;
}

static PyObject *mmap_read(mmap_object *self, PyObject *args)
{
    Py_ssize_t n = PY_SSIZE_T_MAX;
    CHECK_VALID(self, NULL);
    if (!PyArg_ParseTuple(args, "|O&:read", optional_size, &n)) return NULL;
    CHECK_VALID(self, NULL);
    Py_ssize_t left = remaining(self);
    if (n < 0 || n > left) n = left;
    PyObject *result = bytes_at(self, self->pos, n);
    if (result != NULL) self->pos += n;
    return result;
}

static PyObject *find(mmap_object *self, PyObject *args, int reverse)
{
    Py_ssize_t start = self->pos, end = self->size;
    Py_buffer needle;
    CHECK_VALID(self, NULL);
    if (!PyArg_ParseTuple(args, reverse ? "y*|nn:rfind" : "y*|nn:find", &needle, &start, &end)) return NULL;
    if (start < 0) start += self->size;
    if (start < 0)
        start = 0;
    else if (start > self->size)
        start = self->size;
    if (end < 0) end += self->size;
    if (end < 0)
        end = 0;
    else if (end > self->size)
        end = self->size;
    Py_ssize_t found = -2;
    if (self->data == NULL)
        closed_error();
    else
        found = search(self, needle.buf, needle.len, start, end, reverse);
    PyBuffer_Release(&needle);
    return found == -2 ? NULL : PyLong_FromSsize_t(found);
}

static PyObject *mmap_find(mmap_object *self, PyObject *args) { return find(self, args, 0); }
static PyObject *mmap_rfind(mmap_object *self, PyObject *args) { return find(self, args, 1); }

static PyObject *mmap_write(mmap_object *self, PyObject *args)
{
    Py_buffer data;
    CHECK_VALID(self, NULL);
    if (!PyArg_ParseTuple(args, "y*:write", &data)) return NULL;
    PyObject *result = NULL;
    if (self->data == NULL)
        closed_error();
    else if (check_writable(self) == 0) {
        if (self->pos > self->size || self->size - self->pos < data.len)
            PyErr_SetString(PyExc_ValueError, "data out of range");
        else if (copy_in(self, self->pos, data.buf, data.len) == 0) {
            self->pos += data.len;
            result = PyLong_FromSsize_t(data.len);
        }
    }
    PyBuffer_Release(&data);
    return result;
}

static PyObject *mmap_write_byte(mmap_object *self, PyObject *args)
{
    unsigned char value;
    CHECK_VALID(self, NULL);
    if (!PyArg_ParseTuple(args, "b:write_byte", &value)) return NULL;
    CHECK_VALID(self, NULL);
    if (check_writable(self) != 0) return NULL;
    if (self->pos >= self->size) {
        PyErr_SetString(PyExc_ValueError, "write byte out of range");
        return NULL;
    }
    if (copy_in(self, self->pos, &value, 1) != 0) return NULL;
    self->pos++;
    Py_RETURN_NONE;
}

static PyObject *mmap_seek(mmap_object *self, PyObject *args)
{
    Py_ssize_t dist, where;
    int how = 0;
    CHECK_VALID(self, NULL);
    if (!PyArg_ParseTuple(args, "n|i:seek", &dist, &how)) return NULL;
    switch (how) {
    case 0:
        where = dist;
        break;
    case 1:
        if (PY_SSIZE_T_MAX - self->pos < dist) goto out_of_range;
        where = self->pos + dist;
        break;
    case 2:
        if (PY_SSIZE_T_MAX - self->size < dist) goto out_of_range;
        where = self->size + dist;
        break;
    default:
        PyErr_SetString(PyExc_ValueError, "unknown seek type");
        return NULL;
    }
    if (where > self->size || where < 0) goto out_of_range;
    self->pos = where;
#if PY_VERSION_HEX >= 0x030D0000
    return PyLong_FromSsize_t(self->pos);
#else
    Py_RETURN_NONE;
#endif
out_of_range:
    PyErr_SetString(PyExc_ValueError, "seek out of range");
    return NULL;
}

#if PY_VERSION_HEX >= 0x030D0000
/* 3.13: an mmap is seekable. */
static PyObject *mmap_seekable(mmap_object *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_TRUE;
}
#endif

static PyObject *mmap_tell(mmap_object *self, PyObject *unused)
{
    (void)unused;
    CHECK_VALID(self, NULL);
    return PyLong_FromSsize_t(self->pos);
}

static PyObject *mmap_size(mmap_object *self, PyObject *unused)
{
    (void)unused;
    CHECK_VALID(self, NULL);
    if (!self->trackfd) {
        /* No descriptor kept: the standard module's fstat(-1). */
        errno = EBADF;
        return (errno_error(), NULL);
    }
    if (self->fd == -1) return PyLong_FromSsize_t(self->size);
    struct stat st;
    if (fstat(self->fd, &st) != 0) return (errno_error(), NULL);
    return PyLong_FromLongLong(st.st_size);
}

static PyObject *mmap_move(mmap_object *self, PyObject *args)
{
    Py_ssize_t dest, src, count;
    CHECK_VALID(self, NULL);
    if (!PyArg_ParseTuple(args, "nnn:move", &dest, &src, &count)) return NULL;
    CHECK_VALID(self, NULL);
    if (check_writable(self) != 0) return NULL;
    if (dest < 0 || src < 0 || count < 0 || self->size - dest < count || self->size - src < count) {
        PyErr_SetString(PyExc_ValueError, "source, destination, or count out of range");
        return NULL;
    }
    if (move_within(self, dest, self->data + src, count) != 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *mmap_flush(mmap_object *self, PyObject *args, PyObject *kwargs)
{
    /* The standard module's flush takes no keywords: librmap's one,
     * asynchronous=, is taken out first, and any other is refused as the
     * standard module refuses all, before anything else is looked at. */
    int asynchronous = 0;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) > 0) {
        PyObject *value = PyDict_GetItemString(kwargs, "asynchronous");
        if (value == NULL || PyDict_GET_SIZE(kwargs) > 1) {
#if PY_VERSION_HEX >= 0x030B0000
            PyErr_SetString(PyExc_TypeError, "mmap.flush() takes no keyword arguments");
#else
            PyErr_SetString(PyExc_TypeError, "flush() takes no keyword arguments");
#endif
            return NULL;
        }
        asynchronous = PyObject_IsTrue(value);
        if (asynchronous < 0) return NULL;
    }
    CHECK_VALID(self, NULL);
    Py_ssize_t offset = 0, size = self->size;
    if (!PyArg_ParseTuple(args, "|nn:flush", &offset, &size)) return NULL;
    CHECK_VALID(self, NULL);
    if (size < 0 || offset < 0 || self->size - offset < size) {
        PyErr_SetString(PyExc_ValueError, "flush values out of range");
        return NULL;
    }
    if (self->access == ACCESS_READ || self->access == ACCESS_COPY) Py_RETURN_NONE;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rmap_sync(self->data + offset, (size_t)size, asynchronous ? MS_ASYNC : MS_SYNC);
    Py_END_ALLOW_THREADS
    if (rc != 0) return (errno_error(), NULL);
    Py_RETURN_NONE;
}

static int checked_range(mmap_object *self, const char *call, Py_ssize_t start, Py_ssize_t length_value,
                         Py_ssize_t *length);

/* [start, start + length) for librmap's extras; length None
 * means to the end. Returns 0, or -1 with the standard module's errors
 * (named after `call`). */
static int range_of(mmap_object *self, const char *call, Py_ssize_t start, PyObject *length_obj,
                    Py_ssize_t *length)
{
    /* Converted first: its __index__ may resize or close the mapping, and
     * every check below is against what is mapped now. */
    Py_ssize_t length_value = -1;
    if (length_obj != Py_None) {
        length_value = PyNumber_AsSsize_t(length_obj, PyExc_OverflowError);
        if (length_value == -1 && PyErr_Occurred()) return -1;
    }
    CHECK_VALID(self, -1);
    if (length_obj == Py_None) length_value = self->size;
    return checked_range(self, call, start, length_value, length);
}

/* The standard module's checks of a range: start in the map, length not
 * negative and not overflowing; clipped to the map's end. */
static int checked_range(mmap_object *self, const char *call, Py_ssize_t start, Py_ssize_t length_value,
                         Py_ssize_t *length)
{
    if (start < 0 || start >= self->size) {
        PyErr_Format(PyExc_ValueError, "%s start out of bounds", call);
        return -1;
    }
    if (length_value < 0) {
        PyErr_Format(PyExc_ValueError, "%s length invalid", call);
        return -1;
    }
    if (PY_SSIZE_T_MAX - start < length_value) {
        PyErr_Format(PyExc_OverflowError, "%s length too large", call);
        return -1;
    }
    if (start + length_value > self->size) length_value = self->size - start;
    *length = length_value;
    return 0;
}

static PyObject *mmap_madvise(mmap_object *self, PyObject *args)
{
    /* As the standard module: the length is an integer ("n": None is a
     * TypeError), its default the size before the arguments' conversion. */
    int option;
    Py_ssize_t start = 0, length, length_value;
    CHECK_VALID(self, NULL);
    length_value = self->size;
    if (!PyArg_ParseTuple(args, "i|nn:madvise", &option, &start, &length_value)) return NULL;
    CHECK_VALID(self, NULL);
    if (checked_range(self, "madvise", start, length_value, &length) != 0) return NULL;
    if (rmap_advise(self->data + start, (size_t)length, option) != 0) return (errno_error(), NULL);
    Py_RETURN_NONE;
}

/* Growing a file mapping: the standard module's ftruncate makes the new
 * part a hole, and a later write into it on a full disk kills the
 * interpreter with SIGBUS. Here the mapping grows first, then rmap_secure
 * allocates the new blocks and grows the file, so a full disk, a quota or
 * RLIMIT_FSIZE raises OSError (ENOSPC, EDQUOT, EFBIG) from resize(), with
 * the mapping and the file as they were. Where nothing can be secured (a
 * MAP_PRIVATE mapping: ENODEV; a file system without fallocate:
 * EOPNOTSUPP; a descriptor not open for writing: EBADF) it does what the
 * standard module does. */
static PyObject *resize_secured(mmap_object *self, Py_ssize_t new_size)
{
    struct stat st;
    if (fstat(self->fd, &st) == -1) return (errno_error(), NULL);
    void *moved = rmap_remap(self->data, (size_t)self->size, (size_t)new_size, MREMAP_MAYMOVE);
    if (moved == RMAP_FAILED) return (errno_error(), NULL);
    size_t page = rmap_pagesize(), from = (size_t)self->size / page * page;
    off_t end = (off_t)(self->offset + new_size);
    int secured = rmap_secure((char *)moved + from, (size_t)new_size - from, self->fd);
    int error = errno;
    if (secured == -1 && (error == ENODEV || error == EOPNOTSUPP || error == EBADF)) {
        secured = ftruncate(self->fd, end);
        error = errno;
    } else if (secured == 0 && st.st_size > end) {
        secured = ftruncate(self->fd, end); /* as the standard module: the file ends where the mapping does */
        error = errno;
    }
    if (secured == -1) {
        /* Back as it was: shrinking in place does not fail. */
        void *back = rmap_remap(moved, (size_t)new_size, (size_t)self->size, 0);
        if (back != RMAP_FAILED) self->data = back;
        struct stat now;
        int restored = fstat(self->fd, &now) == 0 && (now.st_size == st.st_size || ftruncate(self->fd, st.st_size) == 0);
        (void)restored; /* if not, the file keeps the size it got: the error raised says why */
        errno = error;
        return (errno_error(), NULL);
    }
    self->data = moved;
    self->size = new_size;
    Py_RETURN_NONE;
}

static PyObject *mmap_resize(mmap_object *self, PyObject *args)
{
    Py_ssize_t new_size;
    CHECK_VALID(self, NULL);
    if (!PyArg_ParseTuple(args, "n:resize", &new_size)) return NULL;
    CHECK_VALID(self, NULL);
    if (self->exports > 0) {
        PyErr_SetString(PyExc_BufferError, "mmap can't resize with extant buffers exported.");
        return NULL;
    }
    if (!self->trackfd) {
        PyErr_SetString(PyExc_ValueError, "mmap can't resize with trackfd=False.");
        return NULL;
    }
    if (self->access != ACCESS_WRITE && self->access != ACCESS_DEFAULT) {
        PyErr_SetString(PyExc_TypeError, "mmap can't resize a readonly or copy-on-write memory map.");
        return NULL;
    }
    if (new_size < 0 || PY_SSIZE_T_MAX - new_size < self->offset) {
        PyErr_SetString(PyExc_ValueError, "new size out of range");
        return NULL;
    }
    if (self->fd != -1 && new_size > self->size) return resize_secured(self, new_size);
    if (self->fd != -1 && ftruncate(self->fd, (off_t)(self->offset + new_size)) == -1) return (errno_error(), NULL);
    void *moved = rmap_remap(self->data, (size_t)self->size, (size_t)new_size, MREMAP_MAYMOVE);
    if (moved == RMAP_FAILED) return (errno_error(), NULL);
    self->data = moved;
    self->size = new_size;
    Py_RETURN_NONE;
}

/* ---- librmap's extras ---- */

static PyObject *range_call(mmap_object *self, PyObject *args, PyObject *kwargs, const char *call,
                            int (*fn)(mmap_object *, Py_ssize_t, Py_ssize_t, int), int extra_required)
{
    static char *with_prot[] = {"prot", "start", "length", NULL};
    static char *plain[] = {"start", "length", NULL};
    int prot = 0;
    Py_ssize_t start = 0, length;
    PyObject *length_obj = Py_None;
    CHECK_VALID(self, NULL);
    int parsed = extra_required
                     ? PyArg_ParseTupleAndKeywords(args, kwargs, "i|nO", with_prot, &prot, &start, &length_obj)
                     : PyArg_ParseTupleAndKeywords(args, kwargs, "|nO", plain, &start, &length_obj);
    if (!parsed) return NULL;
    CHECK_VALID(self, NULL);
    if (range_of(self, call, start, length_obj, &length) != 0) return NULL;
    if (fn(self, start, length, prot) != 0) return NULL;
    Py_RETURN_NONE;
}

static int do_protect(mmap_object *self, Py_ssize_t start, Py_ssize_t length, int prot)
{
    return rmap_protect(self->data + start, (size_t)length, prot) == 0 ? 0 : errno_error();
}

static int do_lock(mmap_object *self, Py_ssize_t start, Py_ssize_t length, int unused)
{
    (void)unused;
    return rmap_lock(self->data + start, (size_t)length) == 0 ? 0 : errno_error();
}

static int do_unlock(mmap_object *self, Py_ssize_t start, Py_ssize_t length, int unused)
{
    (void)unused;
    return rmap_unlock(self->data + start, (size_t)length) == 0 ? 0 : errno_error();
}

static PyObject *mmap_protect(mmap_object *self, PyObject *args, PyObject *kwargs)
{
    return range_call(self, args, kwargs, "protect", do_protect, 1);
}

static PyObject *mmap_lock(mmap_object *self, PyObject *args, PyObject *kwargs)
{
    return range_call(self, args, kwargs, "lock", do_lock, 0);
}

static PyObject *mmap_unlock(mmap_object *self, PyObject *args, PyObject *kwargs)
{
    return range_call(self, args, kwargs, "unlock", do_unlock, 0);
}

static PyObject *mmap_resident(mmap_object *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"start", "length", NULL};
    Py_ssize_t start = 0, length;
    PyObject *length_obj = Py_None;
    CHECK_VALID(self, NULL);
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|nO:resident", keywords, &start, &length_obj)) return NULL;
    CHECK_VALID(self, NULL);
    if (range_of(self, "resident", start, length_obj, &length) != 0) return NULL;
    Py_ssize_t page = (Py_ssize_t)rmap_pagesize(), pages = (length + page - 1) / page;
    PyObject *vec = PyBytes_FromStringAndSize(NULL, pages);
    if (vec == NULL) return NULL;
    unsigned char *bytes = (unsigned char *)PyBytes_AS_STRING(vec);
    if (rmap_resident(self->data + start, (size_t)length, bytes) != 0) {
        Py_DECREF(vec);
        return (errno_error(), NULL);
    }
    for (Py_ssize_t i = 0; i < pages; i++) bytes[i] &= 1;
    return vec;
}

static PyObject *info_dict(const struct rmap_info *info)
{
    int flags = info->flags & ~(RMAP_INFO_TOLERANT | RMAP_INFO_DAMAGED | RMAP_INFO_SEALED);
    return Py_BuildValue("{s:K,s:n,s:i,s:i,s:K,s:K,s:L,s:O,s:O}", "start",
                         (unsigned long long)(uintptr_t)info->start, "length", (Py_ssize_t)info->length, "prot",
                         info->prot, "flags", flags, "dev", (unsigned long long)info->dev, "ino",
                         (unsigned long long)info->ino, "offset", (long long)info->offset, "tolerant",
                         info->flags & RMAP_INFO_TOLERANT ? Py_True : Py_False, "damaged",
                         info->flags & RMAP_INFO_DAMAGED ? Py_True : Py_False);
}

/* The file offsets of the pages lost so far (a tolerant mapping's pages the
 * file no longer backs, which read as zeros now). */
static PyObject *mmap_losses(mmap_object *self, PyObject *unused)
{
    (void)unused;
    CHECK_VALID(self, NULL);
    ssize_t count = rmap_losses(self->data, (size_t)self->size, NULL, 0);
    if (count < 0) return (errno_error(), NULL);
    off_t *offsets = PyMem_New(off_t, count > 0 ? count : 1);
    if (offsets == NULL) return PyErr_NoMemory();
    count = rmap_losses(self->data, (size_t)self->size, offsets, (size_t)count);
    PyObject *result = count < 0 ? (errno_error(), NULL) : PyList_New(0);
    for (ssize_t i = 0; result != NULL && i < count; i++) {
        PyObject *offset = PyLong_FromLongLong((long long)offsets[i] - self->offset);
        if (offset == NULL || PyList_Append(result, offset) != 0) Py_CLEAR(result);
        Py_XDECREF(offset);
    }
    PyMem_Free(offsets);
    return result;
}

static PyObject *mmap_query(mmap_object *self, PyObject *unused)
{
    (void)unused;
    CHECK_VALID(self, NULL);
    struct rmap_info info;
    if (rmap_query(self->data, &info) != 0) return (errno_error(), NULL);
    return info_dict(&info);
}

/* ---- indexing, slicing, the buffer protocol ---- */

static Py_ssize_t mmap_length(mmap_object *self)
{
    CHECK_VALID(self, -1);
    return self->size;
}

static int check_index(const mmap_object *self, Py_ssize_t i)
{
    if (i >= 0 && i < self->size) return 0;
    PyErr_SetString(PyExc_IndexError, "mmap index out of range");
    return -1;
}

static int byte_at(mmap_object *self, Py_ssize_t i, unsigned char *byte)
{
    CHECK_VALID(self, -1);
    if (check_index(self, i) != 0) return -1;
    return copy_out(self, byte, i, 1);
}

/* m[i] is an int (the mapping protocol: mmap_subscript); the sequence
   protocol, which iteration, `in` and reversed() use, gives 1-byte bytes, as
   the standard module's does. */

static PyObject *mmap_item(mmap_object *self, Py_ssize_t i)
{
    unsigned char byte;
    if (byte_at(self, i, &byte) != 0) return NULL;
    return PyBytes_FromStringAndSize((const char *)&byte, 1);
}

/* iter(m): reads each byte when it is reached, as the standard module's
 * sequence iterator does (a write ahead of it is seen; a resize() that
 * shrinks the mapping ends it; a closed mapping raises ValueError), without
 * that iterator's two calls per byte (iterating took 1.35x the standard
 * module's time with them, 0.89x without: BENCHMARKS.md). */
typedef struct {
    PyObject_HEAD
    mmap_object *map; /* NULL once exhausted */
    Py_ssize_t index;
} iterator_object;

static PyObject *mmap_iter(mmap_object *self)
{
    iterator_object *it = PyObject_New(iterator_object, &iterator_type);
    if (it == NULL) return NULL;
    Py_INCREF(self);
    it->map = self;
    it->index = 0;
    return (PyObject *)it;
}

static void iterator_dealloc(iterator_object *it)
{
    Py_XDECREF(it->map);
    PyObject_Free(it);
}

static PyObject *iterator_next(iterator_object *it)
{
    mmap_object *map = it->map;
    if (map == NULL) return NULL;
    CHECK_VALID(map, NULL);
    if (it->index >= map->size) {
        it->map = NULL;
        Py_DECREF(map);
        return NULL;
    }
    unsigned char byte;
    if (copy_out(map, &byte, it->index, 1) != 0) return NULL;
    it->index++;
    PyObject *result = single_bytes[byte];
    Py_INCREF(result);
    return result;
}

static PyObject *iterator_length_hint(iterator_object *it, PyObject *unused)
{
    (void)unused;
    /* As the standard module's (a sequence iterator asking len()): a map
     * closed under a live iterator is an error; an exhausted one, 0. */
    if (it->map != NULL && it->map->data == NULL) {
        PyErr_SetString(PyExc_ValueError, "mmap closed or invalid");
        return NULL;
    }
    Py_ssize_t left = 0;
    if (it->map != NULL && it->map->data != NULL && it->map->size > it->index) left = it->map->size - it->index;
    return PyLong_FromSsize_t(left);
}

static PyMethodDef iterator_methods[] = {
    {"__length_hint__", (PyCFunction)iterator_length_hint, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject iterator_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "librmap.mmap_iterator",
    .tp_basicsize = sizeof(iterator_object),
    .tp_dealloc = (destructor)iterator_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)iterator_next,
    .tp_methods = iterator_methods,
};

static int mmap_ass_item(mmap_object *self, Py_ssize_t i, PyObject *value)
{
    CHECK_VALID(self, -1);
    if (check_index(self, i) != 0) return -1;
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "mmap object doesn't support item deletion");
        return -1;
    }
    if (!PyBytes_Check(value) || PyBytes_GET_SIZE(value) != 1) {
        PyErr_SetString(PyExc_IndexError, "mmap assignment must be length-1 bytes()");
        return -1;
    }
    if (check_writable(self) != 0) return -1;
    return copy_in(self, i, PyBytes_AS_STRING(value), 1);
}

static PyObject *mmap_subscript(mmap_object *self, PyObject *item)
{
    CHECK_VALID(self, NULL);
    /* An int, the common case, without a call to ask (PyIndex_Check is one
     * for extensions, an inline function for the standard module). */
    if (PyLong_CheckExact(item) || PyIndex_Check(item)) {
        Py_ssize_t i = PyNumber_AsSsize_t(item, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) return NULL;
        if (i < 0) i += self->size;
        /* The hot path of m[i], written out: one guarded copy of one byte. */
        CHECK_VALID(self, NULL);
        if (check_index(self, i) != 0) return NULL;
        unsigned char byte;
        if (rmap_read(&byte, self->data + i, 1) != 0) return (fault_error(errno, i), NULL);
        return int_of_byte(byte);
    }
    if (!PySlice_Check(item)) {
        PyErr_SetString(PyExc_TypeError, "mmap indices must be integers");
        return NULL;
    }
    Py_ssize_t start, stop, step;
    if (PySlice_Unpack(item, &start, &stop, &step) < 0) return NULL;
    CHECK_VALID(self, NULL);
    Py_ssize_t length = PySlice_AdjustIndices(self->size, &start, &stop, step);
    if (step == 1) return bytes_at(self, start, length);
    PyObject *result = PyBytes_FromStringAndSize(NULL, length);
    if (result == NULL) return NULL;
    char *out = PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0, at = start; i < length; i++, at += step) {
        if (copy_out(self, out + i, at, 1) != 0) {
            Py_DECREF(result);
            return NULL;
        }
    }
    return result;
}

static int mmap_ass_subscript(mmap_object *self, PyObject *item, PyObject *value)
{
    CHECK_VALID(self, -1);
    if (check_writable(self) != 0) return -1;
    if (PyIndex_Check(item)) {
        Py_ssize_t i = PyNumber_AsSsize_t(item, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) return -1;
        if (i < 0) i += self->size;
        if (check_index(self, i) != 0) return -1;
        if (value == NULL) {
            PyErr_SetString(PyExc_TypeError, "mmap doesn't support item deletion");
            return -1;
        }
        if (!PyIndex_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "mmap item value must be an int");
            return -1;
        }
        Py_ssize_t v = PyNumber_AsSsize_t(value, PyExc_TypeError);
        if (v == -1 && PyErr_Occurred()) return -1;
        if (v < 0 || v > 255) {
            PyErr_SetString(PyExc_ValueError, "mmap item value must be in range(0, 256)");
            return -1;
        }
        /* The value's __index__ may have resized or closed the mapping:
         * the index is checked again against what is mapped now, never
         * written through a stale offset (the standard module does). */
        CHECK_VALID(self, -1);
        if (check_index(self, i) != 0) return -1;
        unsigned char byte = (unsigned char)v;
        return copy_in(self, i, &byte, 1);
    }
    if (!PySlice_Check(item)) {
        PyErr_SetString(PyExc_TypeError, "mmap indices must be integer");
        return -1;
    }
    Py_ssize_t first, last, step;
    if (PySlice_Unpack(item, &first, &last, &step) < 0) return -1;
    CHECK_VALID(self, -1);
    Py_ssize_t start = first, stop = last;
    Py_ssize_t length = PySlice_AdjustIndices(self->size, &start, &stop, step);
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "mmap object doesn't support slice deletion");
        return -1;
    }
    Py_buffer data;
    if (PyObject_GetBuffer(value, &data, PyBUF_SIMPLE) < 0) return -1;
    int rc = -1;
    /* The value's __buffer__ (3.12+) may have resized the mapping: the
     * slice is taken again against what is mapped now. */
    if (self->data != NULL) {
        start = first, stop = last;
        length = PySlice_AdjustIndices(self->size, &start, &stop, step);
    }
    if (self->data == NULL)
        closed_error();
    else if (data.len != length)
        PyErr_SetString(PyExc_IndexError, "mmap slice assignment is wrong size");
    else if (step == 1)
        rc = copy_in(self, start, data.buf, length);
    else {
        rc = 0;
        const char *in = data.buf;
        for (Py_ssize_t i = 0, at = start; i < length && rc == 0; i++, at += step) rc = copy_in(self, at, in + i, 1);
    }
    PyBuffer_Release(&data);
    return rc;
}

static int mmap_getbuffer(mmap_object *self, Py_buffer *view, int flags)
{
    CHECK_VALID(self, -1);
    if (PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->size, self->access == ACCESS_READ, flags) < 0)
        return -1;
    self->exports++;
    return 0;
}

static void mmap_releasebuffer(mmap_object *self, Py_buffer *view)
{
    (void)view;
    self->exports--;
}

/* ---- the type ---- */

#define METHOD(name, flags, doc) {#name, (PyCFunction)(void (*)(void))mmap_##name, flags, PyDoc_STR(doc)}

static PyMethodDef mmap_methods[] = {
    METHOD(close, METH_NOARGS, "close()\n--\n\nUnmaps the memory and closes the duplicated descriptor; refused "
                               "(BufferError) while buffers of it are exported. Idempotent."),
    METHOD(find, METH_VARARGS, "find(sub[, start[, end]])\n--\n\nLowest index of sub in [start, end), or -1."),
    METHOD(rfind, METH_VARARGS, "rfind(sub[, start[, end]])\n--\n\nHighest index of sub in [start, end), or -1."),
    METHOD(flush, METH_VARARGS | METH_KEYWORDS,
           "flush([offset[, size]], *, asynchronous=False)\n--\n\nWrites changes back to the file (msync MS_SYNC; "
           "MS_ASYNC with asynchronous=True)."),
    METHOD(madvise, METH_VARARGS, "madvise(option[, start[, length]])\n--\n\nAdvises the kernel on the range."),
    METHOD(move, METH_VARARGS, "move(dest, src, count)\n--\n\nCopies count bytes from src to dest, overlap allowed."),
    METHOD(read, METH_VARARGS, "read([n])\n--\n\nUp to n bytes from the position (all if n is None or negative)."),
    METHOD(read_byte, METH_NOARGS, "read_byte()\n--\n\nThe byte at the position, as an int."),
    METHOD(readline, METH_NOARGS, "readline()\n--\n\nThe bytes from the position through the next newline."),
    METHOD(resize, METH_VARARGS, "resize(newsize)\n--\n\nResizes the mapping (and the file) with rmap_remap."),
    METHOD(seek, METH_VARARGS, "seek(pos[, whence])\n--\n\nSets the position."),
    METHOD(size, METH_NOARGS, "size()\n--\n\nThe size of the file (of the mapping, for anonymous memory)."),
    METHOD(tell, METH_NOARGS, "tell()\n--\n\nThe position."),
#if PY_VERSION_HEX >= 0x030D0000
    METHOD(seekable, METH_NOARGS, "seekable()\n--\n\nTrue: the position can be set."),
#endif
    METHOD(write, METH_VARARGS, "write(bytes)\n--\n\nWrites at the position; returns the number of bytes."),
    METHOD(write_byte, METH_VARARGS, "write_byte(byte)\n--\n\nWrites one byte at the position."),
    METHOD(protect, METH_VARARGS | METH_KEYWORDS,
           "protect(prot, start=0, length=None)\n--\n\nChanges the protection of the range (rmap_protect); an "
           "access it forbids then raises OSError(EFAULT)."),
    METHOD(lock, METH_VARARGS | METH_KEYWORDS, "lock(start=0, length=None)\n--\n\nLocks the range in memory."),
    METHOD(unlock, METH_VARARGS | METH_KEYWORDS, "unlock(start=0, length=None)\n--\n\nUnlocks the range."),
    METHOD(resident, METH_VARARGS | METH_KEYWORDS,
           "resident(start=0, length=None)\n--\n\nOne byte per page of the range: 1 if it is in memory, else 0."),
    METHOD(query, METH_NOARGS, "query()\n--\n\nWhat librmap recorded for the mapping at the start, as a dict."),
    METHOD(losses, METH_NOARGS,
           "losses()\n--\n\nThe positions of the pages lost so far: pages of a tolerant mapping that the file no "
           "longer backs, which read as zeros now."),
    {"__enter__", (PyCFunction)(void (*)(void))mmap_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))mmap_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef mmap_getset[] = {
    {"closed", (getter)mmap_closed, NULL, PyDoc_STR("True once close() has run."), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods mmap_as_sequence = {
    .sq_length = (lenfunc)mmap_length,
    .sq_item = (ssizeargfunc)mmap_item,
    .sq_ass_item = (ssizeobjargproc)mmap_ass_item,
};

static PyMappingMethods mmap_as_mapping = {
    .mp_length = (lenfunc)mmap_length,
    .mp_subscript = (binaryfunc)mmap_subscript,
    .mp_ass_subscript = (objobjargproc)mmap_ass_subscript,
};

static PyBufferProcs mmap_as_buffer = {
    .bf_getbuffer = (getbufferproc)mmap_getbuffer,
    .bf_releasebuffer = (releasebufferproc)mmap_releasebuffer,
};

PyDoc_STRVAR(mmap_doc, "mmap(fileno, length[, flags[, prot[, access[, offset]]]])\n\n"
                       "The standard mmap.mmap on librmap: the same constructor, methods and errors; every access\n"
                       "but raw buffers raises OSError(EIO) if the file was truncated under the mapping.");

static PyTypeObject mmap_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "librmap.mmap",
    .tp_basicsize = sizeof(mmap_object),
    .tp_dealloc = (destructor)mmap_dealloc,
    .tp_repr = (reprfunc)mmap_repr,
    .tp_as_sequence = &mmap_as_sequence,
    .tp_as_mapping = &mmap_as_mapping,
    .tp_as_buffer = &mmap_as_buffer,
    .tp_iter = (getiterfunc)mmap_iter,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = mmap_doc,
    .tp_weaklistoffset = offsetof(mmap_object, weakreflist),
    .tp_methods = mmap_methods,
    .tp_getset = mmap_getset,
    .tp_alloc = PyType_GenericAlloc,
    .tp_new = mmap_new,
    .tp_free = PyObject_Del,
};

/* ---- module functions ---- */

static PyObject *module_version(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    return PyUnicode_FromString(rmap_version());
}

static PyObject *module_stats(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    struct rmap_stats st;
    if (rmap_stats(&st) != 0) return (errno_error(), NULL);
    return Py_BuildValue("{s:n,s:n,s:K,s:K,s:K,s:K}", "live_mappings", (Py_ssize_t)st.live_mappings, "live_bytes",
                         (Py_ssize_t)st.live_bytes, "maps", (unsigned long long)st.maps, "unmaps",
                         (unsigned long long)st.unmaps, "syncs", (unsigned long long)st.syncs, "failures",
                         (unsigned long long)st.failures);
}

static int append_info(const struct rmap_info *info, void *list)
{
    PyObject *item = info_dict(info);
    if (item == NULL) return 1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc != 0;
}

static PyObject *module_mappings(PyObject *module, PyObject *unused)
{
    (void)module, (void)unused;
    PyObject *list = PyList_New(0);
    if (list == NULL) return NULL;
    if (rmap_foreach(append_info, list) != 0) {
        if (!PyErr_Occurred()) errno_error();
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

static PyObject *module_set_check(PyObject *module, PyObject *arg)
{
    (void)module;
    int mode = PyLong_AsLong(arg);
    if (mode == -1 && PyErr_Occurred()) return NULL;
    if (rmap_set_check(mode) != 0) return (errno_error(), NULL);
    Py_RETURN_NONE;
}

static PyObject *module_shm_create(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *keywords[] = {"name", "size", "seals", "flags", NULL};
    const char *name = NULL;
    Py_ssize_t size;
    unsigned int seals = 0;
    int flags = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "zn|Ii:shm_create", keywords, &name, &size, &seals, &flags))
        return NULL;
    if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "size must not be negative");
        return NULL;
    }
    int fd;
    Py_BEGIN_ALLOW_THREADS
    fd = rmap_shm_create(name, (size_t)size, seals, flags);
    Py_END_ALLOW_THREADS
    if (fd < 0) {
        /* As os.open does: the name in the OSError (FileExistsError for EEXIST). */
        if (name != NULL) return PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
        return (errno_error(), NULL);
    }
    return PyLong_FromLong(fd);
}

static PyMethodDef module_methods[] = {
    {"shm_create", (PyCFunction)(void (*)(void))module_shm_create, METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("shm_create(name, size, seals=0, flags=0)\n--\n\nrmap_shm_create(3): a new descriptor for size bytes "
               "of shared memory (a memfd, or with SHM_NAMED the POSIX object name), its storage allocated "
               "(OSError ENOSPC/ENOMEM now, not SIGBUS later) and sealed with seals (F_SEAL_* bits).")},
    {"version", module_version, METH_NOARGS, PyDoc_STR("version()\n--\n\nThe loaded librmap's version.")},
    {"stats", module_stats, METH_NOARGS,
     PyDoc_STR("stats()\n--\n\nlibrmap's totals: live mappings and bytes, maps, unmaps, syncs, failures.")},
    {"mappings", module_mappings, METH_NOARGS,
     PyDoc_STR("mappings()\n--\n\nEvery mapping librmap holds in this process, in address order, as dicts.")},
    {"set_check", module_set_check, METH_O,
     PyDoc_STR("set_check(mode)\n--\n\nChecked mode: CHECK_OFF, CHECK_REPORT or CHECK_ABORT.")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "librmap._rmap",
    .m_doc = "The standard mmap module on librmap.",
    .m_size = -1,
    .m_methods = module_methods,
};

static int add_int(PyObject *module, const char *name, long value)
{
    return PyModule_AddIntConstant(module, name, value);
}

PyMODINIT_FUNC PyInit__rmap(void)
{
    if (PyType_Ready(&mmap_type) < 0 || PyType_Ready(&iterator_type) < 0) return NULL;
    for (int i = 0; i < 256; i++) {
        if (single_bytes[i] != NULL) continue;
        const char byte = (char)i;
        single_bytes[i] = PyBytes_FromStringAndSize(&byte, 1);
        byte_ints[i] = PyLong_FromLong(i);
        if (single_bytes[i] == NULL || byte_ints[i] == NULL) return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    const struct {
        const char *name;
        long value;
    } constants[] = {
        {"PROT_EXEC", PROT_EXEC},
        {"PROT_READ", PROT_READ},
        {"PROT_WRITE", PROT_WRITE},
        {"PROT_NONE", PROT_NONE},
        {"MAP_SHARED", MAP_SHARED},
        {"MAP_PRIVATE", MAP_PRIVATE},
        {"MAP_DENYWRITE", MAP_DENYWRITE},
        {"MAP_EXECUTABLE", MAP_EXECUTABLE},
        {"MAP_ANON", MAP_ANONYMOUS},
        {"MAP_ANONYMOUS", MAP_ANONYMOUS},
        {"MAP_POPULATE", MAP_POPULATE},
        {"MAP_STACK", MAP_STACK},
#ifdef MAP_32BIT /* x86-64 only, as in the standard module (which has it from 3.13) */
        {"MAP_32BIT", MAP_32BIT},
#endif
        {"MAP_NORESERVE", MAP_NORESERVE},
        {"MAP_LOCKED", MAP_LOCKED},
        {"PAGESIZE", (long)rmap_pagesize()},
        {"ALLOCATIONGRANULARITY", (long)rmap_pagesize()},
        {"ACCESS_DEFAULT", ACCESS_DEFAULT},
        {"ACCESS_READ", ACCESS_READ},
        {"ACCESS_WRITE", ACCESS_WRITE},
        {"ACCESS_COPY", ACCESS_COPY},
        {"MADV_NORMAL", MADV_NORMAL},
        {"MADV_RANDOM", MADV_RANDOM},
        {"MADV_SEQUENTIAL", MADV_SEQUENTIAL},
        {"MADV_WILLNEED", MADV_WILLNEED},
        {"MADV_DONTNEED", MADV_DONTNEED},
        {"MADV_REMOVE", MADV_REMOVE},
        {"MADV_DONTFORK", MADV_DONTFORK},
        {"MADV_DOFORK", MADV_DOFORK},
        {"MADV_HWPOISON", MADV_HWPOISON},
        {"MADV_MERGEABLE", MADV_MERGEABLE},
        {"MADV_UNMERGEABLE", MADV_UNMERGEABLE},
        {"MADV_HUGEPAGE", MADV_HUGEPAGE},
        {"MADV_NOHUGEPAGE", MADV_NOHUGEPAGE},
        {"MADV_DONTDUMP", MADV_DONTDUMP},
        {"MADV_DODUMP", MADV_DODUMP},
        {"MADV_FREE", MADV_FREE},
        {"CHECK_OFF", RMAP_CHECK_OFF},
        {"SHM_NAMED", RMAP_SHM_NAMED},
        {"SHM_INHERIT", RMAP_SHM_INHERIT},
        {"CHECK_REPORT", RMAP_CHECK_REPORT},
        {"CHECK_ABORT", RMAP_CHECK_ABORT},
    };
    for (size_t i = 0; i < sizeof constants / sizeof *constants; i++) {
        if (add_int(module, constants[i].name, constants[i].value) < 0) goto fail;
    }
    Py_INCREF(&mmap_type);
    if (PyModule_AddObject(module, "mmap", (PyObject *)&mmap_type) < 0) {
        Py_DECREF(&mmap_type);
        goto fail;
    }
    Py_INCREF(PyExc_OSError);
    if (PyModule_AddObject(module, "error", PyExc_OSError) < 0) {
        Py_DECREF(PyExc_OSError);
        goto fail;
    }
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
