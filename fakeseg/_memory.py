"""Keep freed memory for the next batch instead of handing it back to the kernel.

glibc's malloc serves a block above its mmap threshold (128 KB, raised on the fly to at most 32 MB) with a fresh
mmap and unmaps it when freed, and hands freed memory at the top of its heap back to the kernel. A batch of face
crops allocates tens of MB of activations, so every batch of FN3 paid ~10,000 page faults (the kernel zeroing
each new page): 10-15 % of the model loop's CPU was kernel time. Serving large blocks from the heap and keeping
freed ones removes the faults: FN3 alone (bench_detect's (b), three calls each, the same minute) 142 -> 162
crops/s. Memory stays bounded by the peak working set, which is flat over a video. `fakeseg train` and `fakeseg
eval` call it too (stop 28, AVX2 EPYC): training FN3 51-53 s against 65-69 s for 24 steps, eval of vgg5 on
eval.csv 28-30 s against 35 s, for ~200-250 MB more peak RSS (docs/benchmarks.md).
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
