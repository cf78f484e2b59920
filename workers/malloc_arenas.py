"""How many glibc malloc arenas this process may use (mallopt M_ARENA_MAX).

glibc gives each thread that finds the arenas in use a new one, up to 8 per core; a
worker's 200 threads thus spread the process's heap over 16 arenas, each keeping
memory freed in it for its own threads, and peak RSS grows with the number of arenas,
not with what is live. Setting the limit in the process (rather than MALLOC_ARENA_MAX
in its environment) makes it part of how the worker starts, whatever launches it; it
applies to the arenas made after it, so it is set before the pool's threads start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int) -> bool:
    """Allow this process at most `arenas` malloc arenas (0: leave glibc's default).
    False where that cannot be set: not glibc (musl, macOS), or `arenas` is 0."""
    if arenas <= 0:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        log.info("malloc arenas not limited: no glibc mallopt here")
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_ARENA_MAX, arenas) == 1
