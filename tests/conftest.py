"""Shared fixtures. Ray is started once per session, only by tests that ask for it."""

import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# Ray starts its workers at nice 15: beside other work on a shared CI machine they then get a
# few percent of a core, and a Ray Train trial that takes 97 s took 900 s (and timed out once in
# a full run). Trials should compete for the CPU like the pytest process that waits on them.
os.environ.setdefault("RAY_worker_niceness", "0")


@pytest.fixture(scope="session")
def tiny_model() -> type:
    """The small Lightning model class the tests share (see helpers/lightning_model.py)."""
    pl = pytest.importorskip("lightning.pytorch")
    from helpers.lightning_model import tiny_class

    return tiny_class(pl)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance with 2 CPUs and 4 fake GPUs, shared by every Ray test."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=4, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


_SLOW_FILES = {"test_segmentation_example.py", "test_paper_quick.py"}


def pytest_collection_modifyitems(config, items):
    """Everything that starts Ray, trains end to end or runs a subprocess is `slow`, so that
    `pytest -m "not slow"` is a fast inner loop; CI runs everything."""
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()) or item.path.name in _SLOW_FILES:
            item.add_marker(pytest.mark.slow)
