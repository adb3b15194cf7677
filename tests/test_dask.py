"""Executors other than the standard library's pools: a Dask cluster's ``client.get_executor()``, and executors
whose ``map`` takes the ``len()`` of each iterable (as Dask's does) or makes a list of each (as other engines'
executors may). Every one gives the masks of a run without an executor."""

from __future__ import annotations

import os
from concurrent.futures import Executor, Future
from itertools import islice

import numpy as np
import pytest

from bootseg import BootstrapChain
from bootseg.datasets import synthetic_spheroids
from bootseg.executors import map_method, workers

UNET = ("unet", {"size": 32, "epochs": 1, "base_channels": 4})


class _InProcess(Executor):
    """Runs each task at once in this thread; subclasses check the iterables ``map`` is given."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class _Measuring(_InProcess):
    """Takes ``len()`` of every iterable, as ``distributed``'s ``Client.map`` does."""

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        lengths = [len(iterable) for iterable in iterables]  # TypeError for an endless or lazy iterable
        assert len(set(lengths)) == 1, lengths
        return super().map(fn, *iterables)


class _Listing(_InProcess):
    """Makes a list of every iterable first, as other engines' executors may (bounded here, so that an
    endless iterable fails the test instead of filling the memory)."""

    LIMIT = 10_000

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        lists = [list(islice(iterable, self.LIMIT)) for iterable in iterables]
        assert all(len(items) < self.LIMIT for items in lists), "an endless iterable"
        return super().map(fn, *lists)


@pytest.fixture(scope="module")
def images():
    return synthetic_spheroids(12, size=32, seed=11)[0]


@pytest.fixture(scope="module")
def trained(images):
    chain = BootstrapChain(["otsu", UNET], progress=False, seed=0)
    chain.run(images)
    return chain, chain.predict(images)


def _same(a, b):
    assert len(a) == len(b)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("kind", [_Measuring, _Listing])
def test_map_method_with_a_strict_executor(kind):
    assert map_method(kind(), "-", "join", ["ab", "cd", "ef"]) == ["a-b", "c-d", "e-f"]


@pytest.mark.parametrize("kind", [_Measuring, _Listing])
@pytest.mark.parametrize("stage", ["otsu", "auto", ("multiotsu", {"classes": "auto"})])
def test_first_stage_with_a_strict_executor(kind, stage, images):
    alone = BootstrapChain([stage], progress=False).run(images).masks
    _same(BootstrapChain([stage], progress=False).run(images, executor=kind()).masks, alone)


@pytest.mark.parametrize("kind", [_Measuring, _Listing])
def test_predict_with_a_strict_executor(kind, trained, images):
    chain, alone = trained
    _same(chain.predict(images, executor=kind()), alone)


def test_workers_sums_the_threads_the_scheduler_reports_and_falls_back_when_it_cannot():
    class Client:
        def __init__(self, reply):
            self.reply = reply

        def nthreads(self):
            if isinstance(self.reply, Exception):
                raise self.reply
            return self.reply

    class ClientExecutor(_InProcess):  # distributed's keeps its client as _client
        def __init__(self, reply):
            self._client = Client(reply)

    assert workers(ClientExecutor({"tcp://a:1": 5, "tcp://b:2": 2})) == 7
    assert workers(ClientExecutor(OSError("scheduler gone"))) == (os.cpu_count() or 1)
    assert workers(ClientExecutor({})) == (os.cpu_count() or 1)


# -- a Dask cluster in this process ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_workers_counts_the_dask_worker_threads(dask_client):
    assert workers(dask_client.get_executor()) == 2


@pytest.mark.parametrize("stage", ["otsu", "auto"])
def test_first_stage_on_a_dask_cluster(stage, dask_client, images):
    alone = BootstrapChain([stage], progress=False).run(images).masks
    _same(BootstrapChain([stage], progress=False).run(images, executor=dask_client.get_executor()).masks, alone)


def test_predict_on_a_dask_cluster(trained, dask_client, images):
    # Both workers of this in-process cluster share one network object in this process: the unet predicts in
    # eval mode and never switches it, so they can (worker processes of a real cluster each get their own copy).
    chain, alone = trained
    _same(chain.predict(images, executor=dask_client.get_executor()), alone)
