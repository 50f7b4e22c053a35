"""Summarise py-spy raw (collapsed) stacks written by `python -m bench.ingest --profile` (or bench.plant).

    .venv/bin/python bench/profile_summary.py /tmp/floorline-bench-profile/batch5000-gil-*.txt

Prints, over all files given: the share of samples per thread state, the functions with the
most samples anywhere on the stack (inclusive) and at the top of the stack (self).
Idle samples (a thread waiting in select/poll/accept or a queue) are left out unless --idle.
"""

import argparse
import re
from collections import Counter
from pathlib import Path

# Frames are shown relative to the checkout they ran from (a worktree as well as /work/main).
ROOT = f"{Path(__file__).resolve().parent.parent}/"

IDLE = re.compile(r"\b(wait|select|poll|accept|_worker_thread|sleep|get \(queue)"
                  r"|epoll|murder_keepalived|handle_sigchld")
FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def short(frame):
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", ROOT, "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def load(paths):
    stacks = Counter()
    for path in paths:
        with open(path) as fh:
            for line in fh:
                stack, _, count = line.rstrip("\n").rpartition(" ")
                if stack and count.isdigit():
                    stacks[stack] += int(count)
    return stacks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--idle", action="store_true", help="keep idle samples")
    parser.add_argument("--grep", help="only stacks containing this text")
    args = parser.parse_args()
    stacks = load(args.files)
    total = sum(stacks.values())
    if not args.idle:
        stacks = Counter({s: c for s, c in stacks.items()
                          if not IDLE.search(s.rsplit(";", 1)[-1])})
    if args.grep:
        stacks = Counter({s: c for s, c in stacks.items() if args.grep in s})
    kept = sum(stacks.values()) or 1
    print(f"{total} samples, {kept} kept ({kept / max(total, 1):.0%})")
    inclusive, self_time = Counter(), Counter()
    for stack, count in stacks.items():
        frames = [short(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        self_time[frames[-1]] += count
    print("\n-- inclusive (share of kept samples) --")
    for frame, count in inclusive.most_common(args.top):
        print(f"{count / kept:6.1%}  {frame}")
    print("\n-- self --")
    for frame, count in self_time.most_common(args.top):
        print(f"{count / kept:6.1%}  {frame}")


if __name__ == "__main__":
    main()
