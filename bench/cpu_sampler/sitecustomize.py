"""A CPU-time sampler loaded into the bot by ``bench/chat_load.py --profile ACTION``.

On this directory's ``PYTHONPATH`` Python imports it at start. With ``CPU_SAMPLES`` set,
``SIGUSR1`` starts sampling the main thread every 4 ms of the process's CPU time
(``ITIMER_PROF``: user and system time, not wall-clock), and ``SIGUSR2`` stops and writes
collapsed stacks (``frame;frame;... count``) to ``$CPU_SAMPLES`` and the user and system seconds
to ``$CPU_SAMPLES.times``.

Why not only py-spy: py-spy samples wall-clock time, so on a shared machine the moments the
bot waits for a core count as if it were working where it was preempted. On the 2-core machine
of the README, py-spy put 17-23% of the event loop's samples in ``socket.send`` while the bot's
system time was 3% of its CPU; this sampler puts samples only where CPU time is spent.
(Python runs the handler between bytecodes, so time in C is charged to the Python line that
called it; and the timer counts the whole process's CPU, so what another thread uses, such as
aiosqlite's, is charged to wherever the main thread is at that moment, often the event loop's
own ``run``.)
"""

from __future__ import annotations

import os

if os.environ.get("CPU_SAMPLES"):
    import collections
    import signal
    from types import FrameType

    _samples: collections.Counter[str] = collections.Counter()
    _roots = tuple(
        entry.rstrip("/") + "/"
        for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if entry
    )
    _started: list[os.times_result] = []

    def _where(frame: FrameType | None) -> str:
        parts = []
        while frame is not None:
            code = frame.f_code
            path = code.co_filename.rsplit("site-packages/", 1)[-1]
            for root in _roots:
                path = path.removeprefix(root)
            parts.append(f"{code.co_name} ({path}:{frame.f_lineno})")
            frame = frame.f_back
        return ";".join(reversed(parts))

    def _sample(signum: int, frame: FrameType | None) -> None:
        _samples[_where(frame)] += 1

    def _start(signum: int, frame: FrameType | None) -> None:
        _samples.clear()
        _started[:] = [os.times()]
        signal.setitimer(signal.ITIMER_PROF, 0.004, 0.004)

    def _stop(signum: int, frame: FrameType | None) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        path = os.environ["CPU_SAMPLES"]
        with open(path, "w") as out:
            out.writelines(f"{stack} {count}\n" for stack, count in _samples.items())
        now, then = os.times(), _started[0]
        with open(path + ".times", "w") as out:
            out.write(f"user {now.user - then.user:.3f} system {now.system - then.system:.3f}\n")

    signal.signal(signal.SIGPROF, _sample)
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
