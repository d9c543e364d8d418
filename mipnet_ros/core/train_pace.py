"""Training pace: how many torch threads to use, and a warning when the step is starved.

On a busy machine more threads than free cores make OpenMP threads wait on each other (2 threads
on 2 busy cores measured 14 s per step against 0.4 s with one), and a slow data loader leaves the
model idle; both look like "training is slow" without a hint. The decision is a pure function of
measured times (`pace_note`) so that it can be tested without a slow machine.
"""
import os
import time
from typing import Dict, Optional, Tuple

WINDOW = 20          # steps per measurement window


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> float:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def auto_threads(num_workers: int = 0, cpus: Optional[int] = None, load: Optional[float] = None
                 ) -> Tuple[int, str]:
    """(threads, why) for run.threads: 0: the CPUs this process may use that other work leaves free."""
    import torch
    cpus = cpu_count() if cpus is None else int(cpus)
    load = load_average() if load is None else float(load)
    free = int(cpus - load)
    threads = max(1, min(cpus, free, torch.get_num_threads()))
    return threads, (f'run.threads: 0 = automatic: {cpus} CPUs, load average {load:.1f}; '
                     f'{num_workers} data loader worker(s) run beside them')


def pace_note(steps: int, data_s: float, compute_s: float, cpu_s: float, threads: int, num_workers: int,
              load: float, cpus: int) -> Optional[Tuple[str, str]]:
    """(kind, warning) when `steps` steps were starved by the data loader or by too many threads.

    data_s: time spent waiting for batches; compute_s: forward + backward + update; cpu_s: CPU
    time of this process over both; load: the 1-minute load average (our threads included).
    """
    if steps <= 0:
        return None
    total = data_s + compute_s
    if data_s > compute_s:
        fix = f'raise data.num_workers (now {num_workers})' if num_workers < cpus else \
            'use fewer data.num_workers or simpler augmentation (every CPU already loads data)'
        return 'data', (f'the data loader starves training: {data_s / steps:.2f} s waiting for data per '
                        f'{compute_s / steps:.2f} s of compute per step; {fix}')
    if threads > 1 and load > cpus + 0.5:
        return 'threads', (f'{threads} torch threads on a busy machine (load average {load:.1f} on {cpus} CPUs): '
                           'threads wait on each other and steps can get many times slower; '
                           'set run.threads: 1 (--set run.threads=1)')
    if threads > 1 and total > 0 and cpu_s / total < 0.5 * threads:
        return 'threads', (f'{threads} torch threads got {cpu_s / total:.1f} CPUs on average: the machine is busy; '
                           'set run.threads: 1 (--set run.threads=1)')
    return None


class Pace:
    """Times every step (waiting for data, computing) and warns once per kind of starvation."""

    def __init__(self, threads: int, num_workers: int, window: int = WINDOW):
        self.threads, self.num_workers, self.window = int(threads), int(num_workers), int(window)
        self.warned: set = set()
        self._reset()
        self._last: Dict[str, float] = {}
        self._t0 = self._cpu0 = self._t_data = 0.0

    def _reset(self) -> None:
        self.steps, self.data_s, self.compute_s, self.cpu_s = 0, 0.0, 0.0, 0.0

    def start(self) -> None:
        self._t0, self._cpu0 = time.perf_counter(), time.process_time()

    def data_ready(self) -> None:
        self._t_data = time.perf_counter()

    def step_done(self) -> Optional[str]:
        """Accounts one step; every `window` steps returns a new warning, if any."""
        now = time.perf_counter()
        self.steps += 1
        self.data_s += self._t_data - self._t0
        self.compute_s += now - self._t_data
        self.cpu_s += time.process_time() - self._cpu0
        if self.steps < self.window:
            return None
        self._last = {'data_s': round(self.data_s / self.steps, 4), 'step_s': round(self.compute_s / self.steps, 4),
                      'cpus_used': round(self.cpu_s / max(self.data_s + self.compute_s, 1e-9), 2)}
        note = pace_note(self.steps, self.data_s, self.compute_s, self.cpu_s, self.threads, self.num_workers,
                         load_average(), cpu_count())
        self._reset()
        if note is None or note[0] in self.warned:
            return None
        self.warned.add(note[0])
        return note[1]

    def summary(self) -> Dict[str, float]:
        """Mean data wait, compute time and CPUs used per step over the last full window (for the log)."""
        return dict(self._last)
