"""Arguments whose conversion runs Python code (__index__, __buffer__) may
resize the mapping before the access: rmap checks the offset again against
what is mapped then, and raises what the standard module raises for the new
size, never writing through a stale offset (the standard module does)."""
import sys

import pytest

import librmap as rmap

PAGE = rmap.PAGESIZE


class Shrinking:
    """An index (or a buffer) that shrinks the mapping to one page first."""

    def __init__(self, m, value):
        self.m, self.value = m, value

    def __index__(self):
        self.m.resize(PAGE)
        return self.value

    def __buffer__(self, flags):
        self.m.resize(PAGE)
        return memoryview(self.value)


@pytest.fixture
def m():
    mapping = rmap.mmap(-1, 4 * PAGE)
    yield mapping
    mapping.close()


def test_item_assignment_whose_value_shrinks_the_map(m):
    with pytest.raises(IndexError, match="mmap index out of range"):
        m[3 * PAGE] = Shrinking(m, 7)
    assert len(m) == PAGE


def test_item_assignment_still_writes_inside_the_new_size(m):
    m[10] = Shrinking(m, 7)
    assert (len(m), m[10]) == (PAGE, 7)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ is Python 3.12's")
def test_slice_assignment_whose_buffer_shrinks_the_map(m):
    with pytest.raises(IndexError, match="mmap slice assignment is wrong size"):
        m[2 * PAGE : 2 * PAGE + 4] = Shrinking(m, b"abcd")
    assert len(m) == PAGE


@pytest.mark.parametrize("call", ["madvise", "protect", "lock", "unlock", "resident"])
def test_range_arguments_that_shrink_the_map_give_value_error(m, call):
    method = getattr(m, call)
    start = 2 * PAGE
    if call == "madvise":
        args = (rmap.MADV_NORMAL, start, Shrinking(m, PAGE))
    elif call == "protect":
        args = (rmap.PROT_READ, start, Shrinking(m, PAGE))
    else:
        args = (start, Shrinking(m, PAGE))
    with pytest.raises(ValueError, match=f"{call} start out of bounds"):
        method(*args)


def test_madvise_answers_as_the_standard_module_does():
    import mmap

    answers = []
    for module in (mmap, rmap):
        m = module.mmap(-1, 4 * PAGE)
        try:
            m.madvise(module.MADV_NORMAL, 2 * PAGE, Shrinking(m, PAGE))
            answers.append(None)
        except Exception as error:  # noqa: BLE001 - comparing whatever is raised
            answers.append((type(error).__name__, str(error)))
        m.close()
    assert answers[0] == answers[1] == ("ValueError", "madvise start out of bounds")
