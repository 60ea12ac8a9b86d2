"""Hyperparameter search: grid, random (log-uniform ranges) and coarse-to-fine (CS231n).

You write one function that trains with a configuration and returns numbers:

    def train_fn(config, seed):            # at module level, so worker processes can import it
        edu_nn.manual_seed(seed)
        model = make_mlp(config["hidden"])
        opt = optim.SGD(model.parameters(), lr=config["lr"], weight_decay=config["wd"])
        history = fit(model, loss_fn, opt, train_loader, val_loader, epochs=5)
        return {"val_accuracy": history.best("val_accuracy").value}

    grid_search(train_fn, {"lr": [1e-3, 1e-2, 1e-1], "hidden": [32, 64]},
                metric="val_accuracy")
    random_search(train_fn, {"lr": loguniform(1e-4, 1e-1), "wd": loguniform(1e-6, 1e-2),
                             "hidden": choice([32, 64, 128])}, n_trials=20, seed=0)
    result = coarse_to_fine(train_fn, space, rounds=3, trials_per_round=10,
                            metric="val_accuracy", out_dir="runs/tune")
    result.best_config

Why log-uniform: a learning rate matters by its order of magnitude, so 1e-4..1e-1 should be
sampled evenly in log10 (as many trials in 1e-4..1e-3 as in 1e-2..1e-1). Why random rather
than grid: with the same budget it tries more distinct values of the parameter that matters
(Bergstra & Bengio 2012).

Every trial is recorded with its config, seed, result, metric value, status and time; with
``out_dir`` the records are written to ``trials.csv`` and ``trials.json`` (rewritten after
every trial, so a long search that crashes keeps what it did). Configurations are drawn in
this process from ``seed`` before any trial runs, and every trial gets the same training
``seed`` (so differences come from the configs), which makes a search reproducible and
``n_jobs > 1`` (parallel processes) give the same records as ``n_jobs=1``. A trial that
raises (e.g. diverges with a too-large lr) is recorded as failed and the search goes on.

With ``n_jobs > 1`` the worker processes import ``train_fn`` by its module and name: define
it in a .py file (not in a notebook cell, not a lambda), and in a script run the search under
``if __name__ == "__main__":`` (new processes re-import the script).
With ``engine="ray"`` every trial is a Ray task (on a cluster: ``address=``) running the same
trial function with the same config and seed, so the records are those of the local run;
the driver (this process) keeps the records and writes the files. The workers import
``train_fn``'s module (a function defined in ``__main__`` is shipped by value): install it on
every machine, or ship it by calling ``ray.init(address, runtime_env={"py_modules": [...]})``
yourself first (docs/ray.md).
"""
from __future__ import annotations

import contextlib
import csv
import itertools
import json
import math
import os
import pickle
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .metrics import infer_mode

__all__ = ["loguniform", "uniform", "choice", "grid_search", "random_search", "coarse_to_fine",
           "SearchResult"]

TrainFn = Callable[[dict, int], Mapping[str, Any]]


# ------------------------------------------------------------------ search spaces
@dataclass(frozen=True)
class uniform:
    """A float drawn uniformly from [low, high]."""
    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"{type(self).__name__}(low, high) needs finite low < high, got "
                             f"low={self.low!r}, high={self.high!r}")

    def _to(self, v: float) -> float:     # the scale in which values are spread evenly
        return v

    def _from(self, u: float) -> float:
        return u

    def sample(self, rng: np.random.Generator) -> float:
        return float(self._from(rng.uniform(self._to(self.low), self._to(self.high))))

    def narrow(self, best: float, top: Sequence, shrink: float):
        """A range ``shrink`` times as wide (in this spec's scale), centred on ``best`` and
        shifted to stay inside this one."""
        lo, hi = self._to(self.low), self._to(self.high)
        width = (hi - lo) * shrink
        start = min(max(self._to(best) - width / 2, lo), hi - width)
        return type(self)(float(self._from(start)), float(self._from(start + width)))


@dataclass(frozen=True)
class loguniform(uniform):
    """A float whose log is uniform on [log low, log high] (0 < low < high): learning
    rates, weight decays, anything that matters by its order of magnitude."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.low <= 0:
            raise ValueError(f"loguniform(low, high) needs 0 < low, got low={self.low!r} (a log "
                             f"scale has no 0; use e.g. 1e-6, or uniform for a linear range)")

    def _to(self, v: float) -> float:
        return math.log(v)

    def _from(self, u: float) -> float:
        return math.exp(u)


@dataclass(frozen=True)
class choice:
    """One of ``options``, each equally likely."""
    options: tuple

    def __init__(self, options: Sequence) -> None:
        options = tuple(options)
        if not options:
            raise ValueError("choice(options) needs at least one option")
        object.__setattr__(self, "options", options)

    def sample(self, rng: np.random.Generator):
        return _plain(self.options[int(rng.integers(len(self.options)))])

    def narrow(self, best, top: Sequence, shrink: float):
        """The options that appear among the top trials (in their original order)."""
        kept = tuple(o for o in self.options if o in top or o == best)
        return choice(kept or (best,))


_SPECS = (uniform, choice)


def _spec_dict(space: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, spec in space.items():
        if isinstance(spec, loguniform):
            out[name] = {"loguniform": [spec.low, spec.high]}
        elif isinstance(spec, uniform):
            out[name] = {"uniform": [spec.low, spec.high]}
        elif isinstance(spec, choice):
            out[name] = {"choice": [_plain(o) for o in spec.options]}
        else:
            out[name] = _plain(spec)
    return out


def _sample(space: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    return {name: spec.sample(rng) if isinstance(spec, _SPECS) else spec
            for name, spec in space.items()}


# ------------------------------------------------------------------ records
def _plain(value: Any) -> Any:
    """NumPy scalars and arrays -> Python numbers and lists (JSON-able)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and hasattr(value, "numel") and value.numel() == 1:
        return value.item()   # a one-element edu_nn Tensor
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _seed_everything(seed: int) -> None:
    """Seed edu_nn's default generator, NumPy's and Python's global RNGs, so a train_fn that
    forgets to seed is still reproducible (and equal in a worker process)."""
    from ..creation import manual_seed
    manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _run_trial(train_fn: TrainFn, config: dict, seed: int, catch: bool) -> dict[str, Any]:
    """Run one trial (in this process or a worker); module-level so it pickles."""
    _seed_everything(seed)
    start = time.perf_counter()
    try:
        result = train_fn(dict(config), seed)
    except Exception as exc:  # noqa: BLE001 - a diverging trial is data, not a crash
        if not catch:
            raise
        return {"status": "failed", "result": {}, "error": f"{type(exc).__name__}: {exc}",
                "time": time.perf_counter() - start}
    if not isinstance(result, Mapping):
        raise TypeError(f"train_fn must return a dict of results (e.g. {{'val_loss': 0.3}}), "
                        f"got a {type(result).__name__}")
    return {"status": "ok", "result": _plain(dict(result)), "error": None,
            "time": time.perf_counter() - start}


@dataclass
class SearchResult:
    """``best_config``, ``best_result`` and ``best_trial`` (its whole record), ``trials``
    (every record, in trial order), ``metric``, ``mode``; for coarse-to-fine ``spaces``
    (the search space of every round)."""
    best_config: dict | None
    best_result: dict | None
    best_trial: dict | None
    trials: list[dict]
    metric: str
    mode: str
    spaces: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {"metric": self.metric, "mode": self.mode,
               "best_trial": None if self.best_trial is None else self.best_trial["trial"],
               "best_config": self.best_config, "best_result": self.best_result,
               "trials": self.trials}
        if self.spaces:
            out["spaces"] = self.spaces
        return _json_safe(out)


def _best(trials: list[dict], mode: str) -> dict | None:
    scored = [t for t in trials if t["status"] == "ok" and t["metric"] is not None
              and math.isfinite(t["metric"])]
    if not scored:
        return None
    sign = 1.0 if mode == "min" else -1.0
    return min(scored, key=lambda t: (sign * t["metric"], t["trial"]))


def _ranked(trials: list[dict], mode: str) -> list[dict]:
    scored = [t for t in trials if t["status"] == "ok" and t["metric"] is not None
              and math.isfinite(t["metric"])]
    sign = 1.0 if mode == "min" else -1.0
    return sorted(scored, key=lambda t: (sign * t["metric"], t["trial"]))


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(_json_safe(value))
    return "" if value is None else value


def write_trials(out_dir, result: SearchResult) -> None:
    """Write ``trials.json`` (everything) and ``trials.csv`` (one row per trial, columns
    trial, round, seed, status, time, metric (the value optimised), config.*, result.*,
    error)."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "trials.json"), "w") as f:
        json.dump(result.to_dict(), f, indent=1)
    config_keys = list(dict.fromkeys(k for t in result.trials for k in t["config"]))
    result_keys = list(dict.fromkeys(k for t in result.trials for k in t["result"]))
    header = (["trial", "round", "seed", "status", "time", "metric"]
              + [f"config.{k}" for k in config_keys] + [f"result.{k}" for k in result_keys]
              + ["error"])
    with open(os.path.join(out_dir, "trials.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for t in result.trials:
            writer.writerow([t["trial"], t["round"], t["seed"], t["status"],
                             f"{t['time']:.4f}", _csv_cell(t["metric"])]
                            + [_csv_cell(t["config"].get(k)) for k in config_keys]
                            + [_csv_cell(t["result"].get(k)) for k in result_keys]
                            + [_csv_cell(t["error"])])


# ------------------------------------------------------------------ running trials
def _check_parallel(train_fn, mp_context: str) -> None:
    """Worker processes import train_fn by its module and name: say so before they fail."""
    try:
        pickle.dumps(train_fn)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"n_jobs > 1 runs trials in other processes, which need train_fn by "
                        f"reference: define it at the top level of a module (not a lambda or "
                        f"a function inside a function), or use n_jobs=1 ({exc})") from None
    main = sys.modules.get("__main__")
    if (mp_context != "fork" and getattr(train_fn, "__module__", None) == "__main__"
            and not getattr(main, "__file__", None)):
        raise TypeError("n_jobs > 1: train_fn is defined in a notebook or an interactive "
                        "session, which new worker processes cannot import. Put it in a .py "
                        "file and import it, or use n_jobs=1 (or mp_context='fork' on Linux)")


class _Search:
    """Shared bookkeeping: run batches of trials, keep every record, write files."""

    def __init__(self, train_fn, metric, mode, seed, n_jobs, out_dir, on_error, mp_context,
                 engine="local", address=None):
        if not callable(train_fn):
            raise TypeError(f"train_fn must be a function train_fn(config, seed) -> dict, got "
                            f"{type(train_fn).__name__}")
        if on_error not in ("record", "raise"):
            raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}")
        if not isinstance(n_jobs, int) or n_jobs < 1:
            raise ValueError(f"n_jobs must be an int >= 1 (parallel processes), got {n_jobs!r}")
        mode = infer_mode(metric) if mode == "auto" else mode
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or 'auto', got {mode!r}")
        if engine not in ("local", "ray"):
            raise ValueError(f"engine must be 'local' (n_jobs processes here) or 'ray' (trials "
                             f"as Ray tasks), got {engine!r}")
        if address is not None and n_jobs > 1:  # would be ignored: say so instead
            raise ValueError(f"n_jobs={n_jobs} has no effect with address=: on a cluster, the "
                             f"CPUs its nodes were started with ('ray start --num-cpus N') "
                             f"decide how many trials run at a time; leave n_jobs out")
        if address is not None and engine != "ray":
            raise ValueError("address= is the Ray cluster of engine='ray'; the local engine "
                             "runs trials on this machine")
        if engine == "ray":
            from .._ray import import_ray
            import_ray()          # RayUnavailable, with the pip command, before any trial
        elif n_jobs > 1:
            _check_parallel(train_fn, mp_context)
        self.engine, self.address, self._ray = engine, address, None
        self.train_fn, self.metric, self.mode, self.seed = train_fn, metric, mode, int(seed)
        self.n_jobs, self.out_dir, self.catch = n_jobs, out_dir, on_error == "record"
        self.mp_context = mp_context
        self.trials: list[dict] = []
        self.spaces: list[dict] = []

    def _record(self, index: int, round_: int, config: dict, outcome: dict) -> dict:
        result = outcome["result"]
        if outcome["status"] == "ok" and self.metric not in result:
            raise KeyError(f"train_fn returned {sorted(result)} but the search optimises "
                           f"metric={self.metric!r}: return it, or pass metric= one of those")
        value = result.get(self.metric)
        return {"trial": index, "round": round_, "config": dict(config), "seed": self.seed,
                "status": outcome["status"],
                "metric": None if value is None else float(value),
                "result": result, "time": outcome["time"], "error": outcome["error"]}

    def run(self, configs: list[dict], round_: int = 0) -> list[dict]:
        first = len(self.trials)
        done: dict[int, dict] = {}

        def complete(i: int, outcome: dict) -> None:
            done[i] = self._record(first + i, round_, configs[i], outcome)
            self._save(extra=[done[k] for k in sorted(done)])

        if self.engine == "ray":
            self._run_on_ray(configs, complete)
        elif self.n_jobs == 1 or len(configs) == 1:
            for i, config in enumerate(configs):
                complete(i, _run_trial(self.train_fn, config, self.seed, self.catch))
        else:
            import multiprocessing
            context = multiprocessing.get_context(self.mp_context)
            with ProcessPoolExecutor(max_workers=min(self.n_jobs, len(configs)),
                                     mp_context=context) as pool:
                futures = {pool.submit(_run_trial, self.train_fn, config, self.seed,
                                       self.catch): i for i, config in enumerate(configs)}
                for future in as_completed(futures):
                    complete(futures[future], future.result())
        records = [done[i] for i in range(len(configs))]
        self.trials.extend(records)
        return records

    @contextlib.contextmanager
    def session(self):
        """Ray connected for the whole search (engine "ray"; one start-up, not one per
        coarse-to-fine round); nothing for the local engine."""
        if self.engine != "ray":
            yield
            return
        from .._ray import ray_session
        with ray_session(self.address, self.n_jobs if self.n_jobs > 1 else None) as ray:
            self._ray = ray
            try:
                yield
            finally:
                self._ray = None

    def _run_on_ray(self, configs: list[dict], complete) -> None:
        """Each trial one Ray task running the same ``_run_trial`` as a local worker (same
        config, same seed, so the same record). A trial whose exception reached Ray (only
        with on_error="raise", or train_fn returning a non-dict) raises it here as the local
        pool would; a trial whose worker died on every try is recorded as failed (or raises
        with on_error="raise")."""
        from .._ray import run_tasks

        def done(i: int, ok: bool, value) -> None:
            if ok:
                complete(i, value)
            elif value.raised is not None:
                raise value.raised
            elif self.catch:
                complete(i, {"status": "failed", "result": {}, "error": f"on Ray: {value}",
                             "time": 0.0})
            else:
                raise RuntimeError(f"trial {i} failed on Ray: {value}")

        run_tasks(self._ray, _run_trial,
                  [(self.train_fn, config, self.seed, self.catch) for config in configs],
                  on_done=done)

    def result(self) -> SearchResult:
        best = _best(self.trials, self.mode)
        return SearchResult(None if best is None else best["config"],
                            None if best is None else best["result"], best,
                            list(self.trials), self.metric, self.mode, list(self.spaces))

    def _save(self, extra: list[dict] = ()) -> None:
        if self.out_dir is None:
            return
        saved, self.trials = self.trials, self.trials + list(extra)
        try:
            write_trials(self.out_dir, self.result())
        finally:
            self.trials = saved

    def finish(self) -> SearchResult:
        self._save()
        result = self.result()
        if result.best_trial is None and self.trials:
            errors = [t["error"] for t in self.trials if t["error"]]
            raise RuntimeError(
                f"every one of the {len(self.trials)} trials failed or gave a non-finite "
                f"{self.metric}; the first error: {errors[0] if errors else 'none (nan?)'}. "
                f"If they all fail the same way, the bug is probably in train_fn")
        return result


_COMMON = ("metric: the key of train_fn's result to optimise; mode: 'min', 'max' or 'auto' "
           "(min for names with loss/error/mse/mae); n_jobs: parallel processes; out_dir: "
           "folder for trials.csv and trials.json; on_error: 'record' a failing trial and go "
           "on, or 'raise'; mp_context: 'spawn' (safe everywhere) or 'fork'; engine: 'local' "
           "(n_jobs processes here) or 'ray' (each trial a Ray task, same records; needs "
           "pip install \"edu_nn[ray]\"); address: the Ray cluster of engine='ray' ('auto': the "
           "one on this machine; None: a Ray already initialised here, else a local one with "
           "n_jobs CPUs).")


def grid_search(train_fn: TrainFn, grid: Mapping[str, Sequence], *, metric: str = "val_loss",
                mode: str = "auto", seed: int = 0, n_jobs: int = 1, out_dir=None,
                on_error: str = "record", mp_context: str = "spawn", engine: str = "local",
                address: str | None = None) -> SearchResult:
    """Try every combination of ``grid``'s values (itertools.product, in the order given).

    grid: ``{"lr": [1e-3, 1e-2], "hidden": [32, 64]}`` -> 4 trials; a value that is not a
    list or tuple is held fixed. Every trial is trained with ``seed``.
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid_search: grid must be a non-empty dict {name: [values]}")
    axes = {}
    for name, values in grid.items():
        values = list(values) if isinstance(values, (list, tuple, range)) else [values]
        if not values:
            raise ValueError(f"grid_search: grid[{name!r}] is empty; give at least one value")
        axes[name] = [_plain(v) for v in values]
    search = _Search(train_fn, metric, mode, seed, n_jobs, out_dir, on_error, mp_context,
                     engine, address)
    search.spaces.append({k: {"grid": v} for k, v in axes.items()})
    configs = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    with search.session():
        search.run(configs)
    return search.finish()


grid_search.__doc__ += "\n    " + _COMMON


def random_search(train_fn: TrainFn, space: Mapping[str, Any], n_trials: int = 10,
                  seed: int = 0, *, metric: str = "val_loss", mode: str = "auto",
                  n_jobs: int = 1, out_dir=None, on_error: str = "record",
                  mp_context: str = "spawn", engine: str = "local",
                  address: str | None = None) -> SearchResult:
    """Try ``n_trials`` configurations drawn from ``space`` with a generator seeded by ``seed``.

    space: ``{"lr": loguniform(1e-4, 1e-1), "dropout": uniform(0, 0.5),
    "hidden": choice([32, 64]), "epochs": 5}`` (plain values are held fixed).
    """
    _check_space(space, "random_search")
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"random_search: n_trials must be an int >= 1, got {n_trials!r}")
    search = _Search(train_fn, metric, mode, seed, n_jobs, out_dir, on_error, mp_context,
                     engine, address)
    search.spaces.append(_spec_dict(space))
    rng = np.random.default_rng(seed)
    with search.session():
        search.run([_sample(space, rng) for _ in range(n_trials)])
    return search.finish()


random_search.__doc__ += "\n    " + _COMMON


def coarse_to_fine(train_fn: TrainFn, space: Mapping[str, Any], rounds: int = 3,
                   trials_per_round: int = 10, seed: int = 0, *, top_k: int = 3,
                   shrink: float = 0.5, metric: str = "val_loss", mode: str = "auto",
                   n_jobs: int = 1, out_dir=None, on_error: str = "record",
                   mp_context: str = "spawn", engine: str = "local",
                   address: str | None = None) -> SearchResult:
    """Random search in rounds, each one in a smaller space around the best trial so far.

    After each round, every ``uniform``/``loguniform`` range becomes ``shrink`` times as wide
    (in log scale for loguniform) centred on the best trial's value (kept inside the old
    range); a ``choice`` keeps the options used by the ``top_k`` best trials. CS231n's
    advice: first a few epochs over wide ranges, then longer runs over the promising region.
    ``result.spaces`` lists the space of every round.
    """
    _check_space(space, "coarse_to_fine")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"coarse_to_fine: rounds must be an int >= 1, got {rounds!r}")
    if not isinstance(trials_per_round, int) or trials_per_round < 1:
        raise ValueError(f"coarse_to_fine: trials_per_round must be an int >= 1, got "
                         f"{trials_per_round!r}")
    if not 0 < shrink < 1:
        raise ValueError(f"coarse_to_fine: shrink is the factor by which ranges narrow each "
                         f"round and must be in (0, 1), got {shrink!r}")
    search = _Search(train_fn, metric, mode, seed, n_jobs, out_dir, on_error, mp_context,
                     engine, address)
    current = dict(space)
    with search.session():
        for round_ in range(rounds):
            search.spaces.append(_spec_dict(current))
            rng = np.random.default_rng([seed, round_])
            search.run([_sample(current, rng) for _ in range(trials_per_round)], round_)
            ranked = _ranked(search.trials, search.mode)
            if not ranked or round_ == rounds - 1:
                continue
            best, top = ranked[0]["config"], [t["config"] for t in ranked[:top_k]]
            current = {name: spec.narrow(best[name], [c[name] for c in top], shrink)
                       if isinstance(spec, _SPECS) else spec for name, spec in current.items()}
    return search.finish()


coarse_to_fine.__doc__ += "\n    " + _COMMON


def _check_space(space, who: str) -> None:
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"{who}: space must be a non-empty dict {{name: spec}} with specs "
                         f"loguniform(low, high), uniform(low, high), choice([...]) or fixed "
                         f"values")
    for name, spec in space.items():
        if isinstance(spec, (list, tuple)):
            raise TypeError(f"{who}: space[{name!r}] is a {type(spec).__name__}; write "
                            f"choice({list(spec)!r}) to pick among values (a list is ambiguous)")
