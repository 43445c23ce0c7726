"""Read collapsed stacks (``bench/chat_load.py --profile``): a call tree with inclusive shares.

Run: ``python bench/stacks.py artifacts/chat_load.stacks [--root show_balance] [--depth 8]
[--min 1.0]``. Shares are of all samples in the file; ``--root`` starts the tree at the first
frame whose text contains it (its share still counts against the whole file).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Node:
    count: int = 0
    below: dict[str, Node] = field(default_factory=dict)


def read(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            stacks.append((frames, int(count)))
    return stacks


def tree(stacks: list[tuple[list[str], int]], root: str, depth: int) -> Node:
    top = Node()
    for frames, count in stacks:
        start = next((i for i, frame in enumerate(frames) if root in frame), None)
        if start is None:
            continue
        level = top
        for frame in frames[start : start + depth]:
            level = level.below.setdefault(frame, Node())
            level.count += count
    return top


def show(level: Node, total: int, least: float, indent: int = 0) -> None:
    for frame, node in sorted(level.below.items(), key=lambda item: -item[1].count):
        if 100 * node.count / total < least:
            continue
        print(f"{100 * node.count / total:5.1f}% {'  ' * indent}{frame[:110]}")
        show(node, total, least, indent + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--root", default="", help="start at the first frame containing this")
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--min", type=float, default=1.0, help="hide shares below (percent)")
    args = parser.parse_args()
    stacks = read(args.path)
    total = sum(count for _, count in stacks) or 1
    print(f"{total} samples")
    show(tree(stacks, args.root, args.depth), total, args.min)


if __name__ == "__main__":
    main()
