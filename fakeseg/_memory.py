"""Keep freed memory for the next batch instead of handing it back to the kernel.

glibc's malloc serves a block above its mmap threshold (128 KB, raised on the fly to at most 32 MB) with a fresh
mmap and returns it with munmap when freed. A batch of face crops allocates activations of tens of MB, so every
batch paid ~10,000 page faults (the kernel zeroing each new page): 10-20 % of the CPU went to the kernel, and
FN3 alone ran at 145-155 crops/s, or at 280-300 when the threshold happened to have risen high enough, in the
same process (docs/benchmarks.md, stop 27). Serving large blocks from the heap and keeping freed ones removes the
faults: 300-380 crops/s. Memory stays bounded by the peak working set, which is flat over a video.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


def reuse_freed_memory(limit: int = 1 << 30) -> bool:
    """glibc only (elsewhere a no-op): blocks under `limit` come from the heap, and up to `limit` of freed
    memory stays there for reuse. Process-wide, so the CLI calls it, not the library. True when applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # no libc to load, or one without mallopt (musl)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD, limit))
