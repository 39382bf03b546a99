"""The Client workload shared by the footprint bench and the original MemGPT's run of it.

Standard library only: the peer's own Python imports it from its virtual environment.
"""

MEMORY_EVERY = 10
MARKER = "Please remember"  # a user message with it gets a core-memory edit from the fake model


def workload_text(turn: int) -> str:
    if turn % MEMORY_EVERY == MEMORY_EVERY - 1:
        return f"{MARKER}: my favourite number is {turn}."
    return f"Message number {turn}: tell me something."


def peak_rss_mb() -> float:
    """This process's peak resident memory (``VmHWM``), in MB. Not ``ru_maxrss``: Linux carries a
    parent's high-water mark into a child across fork and exec, so a child of a big process would
    report its parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
