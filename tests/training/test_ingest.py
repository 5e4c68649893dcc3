"""The driver's metric writer (rows of Ray jobs): batched commits to a real RunStore, flush,
committed-then-published, and a bad batch does not stop it."""

import threading

from workbench.training import metric_stream
from workbench.training.ingest import MetricWriter, metric_writer


def test_writer_commits_many_jobs_then_publishes_and_flush_waits(store):
    for r in ("a", "b"):
        store.create_run(r, algo="x", status="running")
        store.begin_attempt(r)
    writer = MetricWriter(store)
    seen_committed = []
    with metric_stream().subscribe(run_ids={"a", "b"}) as sub:
        def submit(run_id):
            for step in range(1, 51):
                writer.submit(run_id, [(step, "loss/td", float(step), 0.0),
                                       (step, "value/q", -float(step), 0.0)], step=step)

        threads = [threading.Thread(target=submit, args=(r,)) for r in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert writer.flush(timeout=30)
        rows = sub.drain()
        for r in ("a", "b"):  # every row committed once, in order, and the run's step recorded
            m = store.metrics(r)
            assert len(m) == 100 and m["step"].is_monotonic_increasing
            assert store.get_run(r)["step"] == 50
            seen_committed.append(len(rows[rows.run_id == r]))
    assert seen_committed == [100, 100]  # published after commit, each row once
    assert writer.rows_committed == 200 and writer.transactions <= 100
    # a bad batch is recorded, the writer goes on
    writer.submit("a", [(51, "loss/td", "not a number", 0.0)], step=51)
    writer.submit("b", [(51, "loss/td", 1.0, 0.0)], step=51)
    assert writer.flush(timeout=30)
    assert writer.errors and len(store.metrics("b")) == 101
    assert metric_writer(store) is metric_writer(store)  # one per store file in a process
