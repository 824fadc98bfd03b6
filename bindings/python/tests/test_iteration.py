"""iter(m) is rmap's own iterator (faster than the sequence iterator the
standard module gets); it must behave as that one does, case by case."""
import mmap
import operator

import pytest

import librmap as rmap


def both(size=64):
    made = []
    for module in (mmap, rmap):
        m = module.mmap(-1, size)
        m[:] = bytes(i % 256 for i in range(size))
        made.append(m)
    return made


def test_iterating_gives_the_same_bytes():
    standard, ours = both()
    assert list(ours) == list(standard)
    assert [type(b) for b in ours] == [bytes] * 64
    assert b"\x05" in ours and (b"\x05" in standard)
    assert b"\xff" not in ours and (b"\xff" not in standard)
    assert list(reversed(ours)) == list(reversed(standard))


def test_a_write_ahead_of_the_iterator_is_seen():
    for m in both():
        it = iter(m)
        assert next(it) == b"\x00"
        m[1] = 200
        assert next(it) == b"\xc8"


def test_length_hint_follows_the_standard_module():
    standard, ours = both()
    a, b = iter(standard), iter(ours)
    for _ in range(10):
        next(a), next(b)
    assert operator.length_hint(b) == operator.length_hint(a) == 54
    list(a), list(b)
    assert operator.length_hint(b) == operator.length_hint(a) == 0


def test_length_hint_of_a_closed_map_raises_as_the_standard_module_does():
    answers = []
    for m in both():
        it = iter(m)
        m.close()
        with pytest.raises(ValueError) as raised:
            operator.length_hint(it)
        answers.append(str(raised.value))
    assert answers[0] == answers[1], answers


def test_a_resize_that_shrinks_the_mapping_ends_iteration():
    for m in both(2 * mmap.PAGESIZE):
        it = iter(m)
        next(it)
        m.resize(1)
        assert list(it) == []


def test_iterating_a_closed_mapping_raises_what_the_standard_module_raises():
    for m in both():
        it = iter(m)
        next(it)
        m.close()
        with pytest.raises(ValueError, match="mmap closed or invalid"):
            next(it)


def test_an_exhausted_iterator_stays_exhausted_after_a_resize():
    for m in both(16):
        it = iter(m)
        assert len(list(it)) == 16
        m.resize(32)
        assert list(it) == []
