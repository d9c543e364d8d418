"""What /proc says about a process: its children and its memory (Linux; soak and memory benchmarks)."""
import os
from typing import List, Tuple


def child_pids(pid: int) -> List[int]:
    """Processes whose parent is `pid`."""
    kids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            kids.append(int(entry))
    return kids


def memory_mb(pid: int) -> Tuple[float, float]:
    """(resident, peak resident) memory of `pid` in MiB (VmRSS, VmHWM); OSError when the process is gone."""
    values = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            key, _, rest = line.partition(':')
            if key in ('VmRSS', 'VmHWM'):
                values[key] = int(rest.split()[0]) / 1024.0
    return values['VmRSS'], values['VmHWM']
