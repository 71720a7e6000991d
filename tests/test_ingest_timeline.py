"""The ingest bench's ``--timeline`` breakdown: each worker's busy time, wait for its first figure, gaps and tail."""

from bench.ingest_bench import idle_breakdown


def test_idle_breakdown_splits_each_workers_idle_time() -> None:
    t0 = 100.0
    parent = [("parse", "a", 100.0, 100.2), ("parse", "b", 100.2, 100.5), ("store write", "", 102.9, 103.0)]
    spans = [
        {"pid": 1, "names": ["a"], "start": 100.25, "end": 101.0, "cpu": 0.7},
        {"pid": 2, "names": ["b"], "start": 100.5, "end": 102.5, "cpu": 1.9},
        {"pid": 1, "names": ["c"], "start": 101.5, "end": 102.0, "cpu": 0.5},
    ]
    tl = idle_breakdown(t0, 103.0, parent, spans)
    w1, w2 = tl["workers"]
    assert (w1["pid"], w1["figures"], w1["busy_s"], w1["before_first_s"], w1["between_s"], w1["tail_s"]) == (
        1,
        2,
        1.25,
        0.25,
        0.5,
        1.0,
    )
    assert (w2["figures"], w2["busy_s"], w2["before_first_s"], w2["between_s"], w2["tail_s"]) == (1, 2.0, 0.5, 0.0, 0.5)
    assert tl["parent_parse_s"] == 0.5 and tl["parent_write_s"] == 0.1 and tl["after_last_worker_s"] == 0.5
    assert [f["name"] for f in tl["figures"]] == ["a", "b", "c"]  # by start time
    assert tl["figures"][0]["parsed"] == 0.2 and tl["figures"][1]["start"] == 0.5
