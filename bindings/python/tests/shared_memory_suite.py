"""Runs CPython's own SharedMemory tests (test._test_multiprocessing's
_TestSharedMemory, read from the running interpreter's test package, start
method fork) with librmap.SharedMemory in place of the standard class, or
with the standard class ("--standard"). test_shared_memory.py runs it.

Usage: shared_memory_suite.py [--standard]"""
import signal
import sys
import unittest
import multiprocessing
from multiprocessing import shared_memory

# Python leaves SIGINT ignored when it started ignored (a job started in the
# background by a shell), and one of the tests sends itself SIGINT and
# expects KeyboardInterrupt: the interpreter's usual handler, whatever ran it.
signal.signal(signal.SIGINT, signal.default_int_handler)

made = 0
if "--standard" not in sys.argv:
    import librmap

    original_init = librmap.SharedMemory.__init__

    def counted_init(self, *args, **kwargs):
        global made
        made += 1
        original_init(self, *args, **kwargs)

    # Counted in place: the class stays librmap's (pickles name it).
    librmap.SharedMemory.__init__ = counted_init
    shared_memory.SharedMemory = librmap.SharedMemory

from test import _test_multiprocessing as tm

suite_globals = {"__name__": "shm_suite"}
tm.install_tests_in_module_dict(suite_globals, "fork")
cls = suite_globals["WithProcessesTestSharedMemory"]
multiprocessing.set_start_method("fork", force=True)
suite = unittest.TestLoader().loadTestsFromTestCase(cls)
result = unittest.TextTestRunner(verbosity=1, stream=sys.stdout).run(suite)
print(f"shared memory suite: {result.testsRun} run, {len(result.skipped)} skipped, "
      f"{len(result.failures)} failures, {len(result.errors)} errors; librmap.SharedMemory made {made} times")
