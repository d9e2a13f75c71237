"""Top functions of a py-spy raw (collapsed stack) profile, for the closing notes.

``python -m bench.profile_top bench/results/issue-es256.txt [N]`` prints the N (20)
functions with the most samples on top of the stack (self) and the N with the most
samples anywhere on it (inclusive), as percentages of all samples; idle samples (a
thread waiting in epoll, a condition or a queue) are counted apart so that the
percentages are of CPU, not of wall time.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

#: frames where a thread waits rather than works
IDLE = re.compile(
    r"^(epoll_wait|_run_once|select|poll|wait|_wait_for_tstate_lock|get|_worker|"
    r"_recv_into|recv_into|sleep|run_forever)\b"
)


def frame_name(frame: str) -> str:
    """``function (file:line)`` without the line: one entry per function."""
    return re.sub(r":\d+\)$", ")", frame.strip())


def top(path: Path, n: int = 20) -> str:
    """The report as text."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if f]
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if frames and frames[0].startswith("thread "):
            frames = frames[1:]
        if not frames:
            continue
        if IDLE.match(frames[-1]):
            idle += count
            continue
        total += count
        self_counts[frames[-1]] += count
        for name in set(frames):
            incl_counts[name] += count
    lines = [f"{path.name}: {total} busy samples ({idle} idle left out)", "self:"]
    lines += [
        f"  {100 * c / total:5.1f}%  {name}" for name, c in self_counts.most_common(n)
    ]
    lines.append("inclusive:")
    lines += [
        f"  {100 * c / total:5.1f}%  {name}" for name, c in incl_counts.most_common(n)
    ]
    return "\n".join(lines)


def main() -> None:
    print(top(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 20))


if __name__ == "__main__":
    main()
