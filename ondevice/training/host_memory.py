"""Whether a span of this process's memory may be written: the trainer writes weights in place
through numpy, and a write into a read-only page kills the whole process."""

from __future__ import annotations


def writable(address: int, nbytes: int) -> bool:
    """True unless /proc/self/maps says [address, address + nbytes) is not all writable.

    Writing through numpy into a read-only page kills the whole process, so check first. A heap
    buffer may span several adjacent mappings (seen in CI on a tiny model), so every one counts.
    """
    try:
        with open("/proc/self/maps") as maps:
            spans = []
            for line in maps:
                span, perms = line.split()[:2]
                start, end = (int(x, 16) for x in span.split("-"))
                spans.append((start, end, "w" in perms))
    except OSError:  # not Linux: nothing to check against
        return True
    covered, wanted = address, address + nbytes
    for start, end, writable in sorted(spans):
        if end <= covered:
            continue
        if start > covered or not writable:  # a gap or a read-only page inside the range
            return False
        covered = end
        if covered >= wanted:
            return True
    return False
