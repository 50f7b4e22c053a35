"""Arithmetic on half-open time intervals [start, end): unions, cuts and lengths.

Plain functions over lists of (start, end) pairs, so the OEE rules read as set algebra:
planned = shifts − breaks, run = planned − downtime.
"""


def union(intervals):
    """The same time as a sorted list of disjoint intervals (overlaps counted once)."""
    merged = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def intersect(left, right):
    """The time in both lists."""
    left, right = union(left), union(right)
    out, i, j = [], 0, 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            out.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(left, right):
    """The time in `left` but not in `right`."""
    out = []
    cuts = union(right)
    for start, end in union(left):
        for cut_start, cut_end in cuts:
            if cut_end <= start or cut_start >= end:
                continue
            if cut_start > start:
                out.append((start, cut_start))
            start = max(start, cut_end)
            if start >= end:
                break
        if start < end:
            out.append((start, end))
    return out


def seconds(intervals):
    return sum((end - start).total_seconds() for start, end in union(intervals))


def clip(intervals, start, end):
    return intersect(intervals, [(start, end)])
