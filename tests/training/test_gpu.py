"""The GPU path: device="auto" picks the GPU, cancel and checkpoints behave as on the CPU.

These run only where torch sees CUDA (a GPU machine; never a CI dependency); on a CPU machine
they skip with that reason.  ``compile_graph=True`` without CUDA is refused on every machine
(``tests/training/test_train.py::test_bad_input_fails_before_any_work``).
"""

from __future__ import annotations

import time

import pytest

from workbench.training import resume, train
from workbench.training.checkpoints import latest_checkpoint

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device on this machine")

SMALL = {"batch_size": 32, "hidden_units": [32]}


def test_auto_device_picks_the_gpu_and_trains_there(pendulum_small, store):
    job = train(pendulum_small, "cql", n_steps=60, log_every=20, eval_every=0,
                checkpoint_every=0, device="auto", store=store, **SMALL)
    job.wait(progress=False, timeout=300)
    assert job.status == "completed", job.error
    assert job.device == "cuda:0"
    assert store.get_run(job.run_id)["device"] == "cuda:0"
    params = next(job.policy.impl.modules.policy.parameters())
    assert params.device.type == "cuda"


@pytest.mark.parametrize("compile_graph", [False, True])
def test_cancel_and_checkpoints_on_the_gpu(pendulum_small, store, compile_graph):
    """A long GPU job checkpoints by steps, cancels within moments, keeps its policy and
    resumes from its last checkpoint on the GPU."""
    job = train(pendulum_small, "cql", n_steps=1_000_000, log_every=20, eval_every=0,
                checkpoint_every=40, checkpoint_seconds=0, device="cuda",
                compile_graph=compile_graph, store=store, **SMALL)
    deadline = time.monotonic() + 300
    while latest_checkpoint(store.run_dir(job.run_id)) is None:
        assert time.monotonic() < deadline and job.status in ("queued", "running"), job.error
        time.sleep(0.2)
    assert job.cancel(wait=True, timeout=60)
    assert job.status == "cancelled"
    step, _ = latest_checkpoint(store.run_dir(job.run_id))
    assert step >= 40 and step % 40 == 0
    assert job.policy is not None
    again = resume(job.run_id, dataset=pendulum_small, n_steps=step + 40, store=store)
    again.wait(progress=False, timeout=300)
    assert again.status == "completed", again.error
    assert again.device.startswith("cuda")
    assert again.metrics()["step"].max() == step + 40
