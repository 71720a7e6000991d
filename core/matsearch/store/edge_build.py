"""``python -m matsearch.store.edge_build DIR``: build the HNSW index of the Edge shard copy at DIR, in a process of
its own, and print what it cost as one JSON line.

Edge's ``optimize`` holds the GIL of the process that runs it for the whole build (measured: no other thread of the
process runs), so ``EdgeStore.maintain`` never runs it in the serving process: it copies the shard, runs this on the
copy at a lower priority, keeps serving (and writing) the live shard meanwhile, and swaps the built copy in when
this exits 0 (``EdgeStore._swap``).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

BUILD_NICE = 5  # below the serving process: queries keep the CPU they need while the build takes the rest


def build(path: str) -> dict[str, float | int]:
    import qdrant_edge as qe

    t0 = time.perf_counter()
    shard = qe.EdgeShard.load(path)
    changed = shard.optimize()
    shard.flush()
    info = shard.info()
    shard.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "changed": int(changed),
        "points": info.points_count,
        "segments": info.segments_count,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m matsearch.store.edge_build SHARD_DIR", file=sys.stderr)
        return 2
    try:
        os.nice(BUILD_NICE)
    except OSError:
        pass
    print(json.dumps(build(args[0])), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
