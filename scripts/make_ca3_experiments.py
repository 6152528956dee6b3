#!/usr/bin/env python3
"""Writes experiments/ca3/*.yaml: the three test protocols of Casanueva-Morato et al.
(Neural Networks 2024, test_CA3_content_addressable.py and generate_testbench.py) for
orthogonal and non-orthogonal contents. Run from the repository root."""
import os

OUT = "experiments/ca3"
HEAD = "# {title}\n# Casanueva-Morato et al., Neural Networks 178:106474 (2024): {what}\n# Written by scripts/make_ca3_experiments.py. Run: engram ca3 {path}\n"


def bits(b):
    return "[" + ", ".join(str(x) for x in b) + "]"


def write(name, title, what, n, m, ops):
    path = f"{OUT}/{name}.yaml"
    lines = [HEAD.format(title=title, what=what, path=path), "ca3:", f"  cues: {n}", f"  content_bits: {m}",
             f"  output: ca3_{name}.h5", "  operations:"]
    for op in ops:
        kind, arg, extra, at = op
        a = f", at: {at} ms" if at is not None else ""
        if kind == "learn":
            lines.append(f"    - {{learn: {arg}, content: {bits(extra)}{a}}}")
        elif kind == "recall_cue":
            lines.append(f"    - {{recall_cue: {arg}{a}}}")
        else:
            lines.append(f"    - {{recall_content: {bits(arg)}{a}}}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def functional(contents_a, content_b):
    """Experiment 1: 9 operations, one every 10 ms (90 ms)."""
    (c0, c4, c3), ops = contents_a, []
    plan = [("learn", 0, c0), ("learn", 4, c4), ("learn", 3, c3), ("recall_cue", 0, None), ("recall_content", [6], None),
            ("recall_content", [0, 4], None), ("learn", 3, content_b), ("recall_cue", 3, None), ("recall_content", [6], None)]
    for i, (k, a, e) in enumerate(plan):
        ops.append((k, a, e, 10 * i))
    return ops


def stress(contents, complement, m=10, spacing=14):
    """TB2 pyramidal: for each cue learn, recall all by cue, recall every bit by content;
    three rounds, the contents changed between rounds (60 operations, one every 14 ms)."""
    ops, t = [], 1
    for r in range(3):
        for c, b in enumerate(contents):
            ops.append(("learn", c, b, t)); t += spacing
        for c in range(len(contents)):
            ops.append(("recall_cue", c, None, t)); t += spacing
        for b in range(m):  # the reference recalls bit 0 first
            ops.append(("recall_content", [b], None, t)); t += spacing
        contents = complement(contents)
    return ops


def state_map(cells, queries):
    """Experiment 3: a 4 x 4 map, one cue per cell, 6 state flags (unknown, initial,
    goal, free, path, obstacle); write the map, then ask which cells have a state."""
    ops = [("learn", c, flags, None) for c, flags in enumerate(cells)]
    ops += [("recall_content", q, None, None) for q in queries]
    return ops


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    # Functional test: the reference's contents share bits; the orthogonal variant uses disjoint ones.
    write("functional", "Functional test, non-orthogonal contents (the reference's)",
          "experiment 1 (5 cues, 10 bits, 9 operations in 90 ms)", 5, 10,
          functional(([0, 1, 8, 9], [1, 5, 6], [4, 5, 6, 8]), [1, 3, 4, 8]))
    write("functional_orthogonal", "Functional test, orthogonal contents (disjoint bit sets)",
          "experiment 1's sequence of operations (5 cues, 10 bits, 90 ms)", 5, 10,
          functional(([0, 1], [2, 3, 4], [5, 6, 7]), [8, 9]))
    # Stress test: the reference's contents are i+1 in binary (bit 0 = least significant), then complemented.
    binary = [[b for b in range(10) if ((i + 1) >> b) & 1] for i in range(5)]
    write("stress", "Stress test (TB2 pyramidal), non-orthogonal contents (the reference's)",
          "experiment 2, tb/tb2_piramidal_cont (60 operations, 851 ms)", 5, 10,
          stress(binary, lambda cs: [[b for b in range(10) if b not in c] for c in cs]))
    pairs = [[2 * i, 2 * i + 1] for i in range(5)]
    write("stress_orthogonal", "Stress test (TB2 pyramidal), orthogonal contents",
          "experiment 2's sequence with disjoint contents, rotated between rounds (60 operations, 851 ms)", 5, 10,
          stress(pairs, lambda cs: cs[1:] + cs[:1]))
    # State map: 0 5 1 3 / 0 3 4 5 / 0 5 4 3 / 2 4 4 3 (the reference's), one flag per cell.
    grid = [0, 5, 1, 3, 0, 3, 4, 5, 0, 5, 4, 3, 2, 4, 4, 3]
    queries = [[1, 2, 4], [3], [5], [0]]  # the route (initial, goal, path), free, obstacles, unknown
    write("state_map", "State map (4 x 4 grid, 6 state flags), one flag per cell (the reference's map)",
          "experiment 3 (16 cues, 6 bits); written at 10 ms per cell, queried at 7 ms each", 16, 6,
          state_map([[s] for s in grid], queries))
    # Non-orthogonal flags: cells on the route are also free, the start and goal also on the route.
    multi = {0: [0], 1: [1, 4], 2: [2, 4], 3: [3], 4: [3, 4], 5: [5]}
    write("state_map_overlapping", "State map with overlapping flags (route cells also free, start and goal on the route)",
          "experiment 3's map and queries with non-orthogonal contents", 16, 6,
          state_map([multi[s] for s in grid], queries + [[4], [3, 5]]))
