"""CPU seconds per thread of a command, by thread name: where a pipelined `fakeseg detect` spends its cores.

    .venv/bin/python bench/thread_cpu.py -- .venv/bin/fakeseg detect loop1.mp4 --out /tmp/o --overwrite \
        --weights fn3.synth

Python threads are nameless to the kernel, so the command runs with a sitecustomize (on PYTHONPATH, in a temp
folder) that gives each `threading.Thread` its Python name at the OS level (prctl PR_SET_NAME, 15 characters).
Threads a named thread starts (OpenCV's, FFmpeg's) inherit its name until they set their own; torch's OpenMP
workers inherit the main thread's ("fakeseg"), FFmpeg's decoder threads call themselves "av:<codec>:df<N>".
/proc/<pid>/task/*/stat is read every 0.2 s; a thread's last reading counts, so one that ends less than 0.2 s
after its last reading loses that much. Linux only.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_NAMER = '''
import ctypes, threading
_prctl = ctypes.CDLL(None).prctl
_run = threading.Thread._bootstrap_inner
def _named(self):
    try:
        _prctl(15, self.name[-15:].encode(), 0, 0, 0)  # PR_SET_NAME
    except Exception:
        pass
    return _run(self)
threading.Thread._bootstrap_inner = _named
'''


def _read_threads(pid: int, tick: int) -> dict[int, tuple[str, float]]:
    """{tid: (name, CPU seconds so far)} of every live thread of `pid`."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:  # ended between listdir and read
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / tick)  # utime + stime
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the command (after --)")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give a command after --")
    tick = os.sysconf("SC_CLK_TCK")
    last: dict[int, tuple[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(_NAMER)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")]))}
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        while proc.poll() is None:
            last.update(_read_threads(proc.pid, tick))
            time.sleep(0.2)
        wall = time.perf_counter() - start
    by_name: collections.Counter = collections.Counter()
    for name, cpu in last.values():
        by_name[name] += cpu
    total = sum(by_name.values())
    print(f"exit {proc.returncode}, wall {wall:.1f} s, CPU {total:.1f} s ({100 * total / wall:.0f} % of one core)")
    print("by name:")
    for name, cpu in by_name.most_common():
        print(f"  {cpu:7.1f} s  {100 * cpu / total:5.1f} %  {name}")
    print("threads above 1 % (in order of creation; the first is the main thread):")
    for tid, (name, cpu) in sorted(last.items()):
        if cpu >= 0.01 * total:
            print(f"  {cpu:7.1f} s  {100 * cpu / total:5.1f} %  {name} (tid {tid})")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
