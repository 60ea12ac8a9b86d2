"""edu_nn.train.fit / evaluate / History / metrics: the training loop.

Loaders are plain lists of (x, y) tensor pairs (fit accepts any re-iterable of batches).
Expected numbers come from by-hand formulas, a hand-written loop, or the scheduler itself.
"""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import edu_nn
from edu_nn import nn, optim
from edu_nn.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from edu_nn.train import (Callback, History, LRSchedulerCallback, NonFiniteLossError,
                          RecordMagnitudes, TrainingDivergedError, evaluate, fit)
from edu_nn.train.metrics import accuracy, mae, mse, resolve_metrics


def blobs(n=64, seed=0):
    """A linearly separable 2-class problem: x (n, 2) float32, y (n,) int64."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 2)) * 0.5 + np.where(y[:, None] == 1, 1.5, -1.5)
    return x.astype(np.float32), y.astype(np.int64)


def batches(x, y, size=16, backend=None):
    return [(edu_nn.tensor(x[i:i + size], backend=backend),
             edu_nn.tensor(y[i:i + size], backend=backend)) for i in range(0, len(x), size)]


def mlp(backend=None, seed=0):
    edu_nn.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    return model.to(backend=backend) if backend else model


KEYS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "time"]


def test_fit_learns_and_fills_history_on_every_backend(backend_name):
    x, y = blobs()
    train, val = batches(x, y, backend=backend_name), batches(*blobs(32, seed=1),
                                                              backend=backend_name)
    model = mlp(backend_name)
    epochs = 4
    recorder = RecordMagnitudes(every="epoch")
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.05),
                  train, val, epochs=epochs, callbacks=[recorder])
    assert isinstance(history, History)
    assert list(history.history) == KEYS
    for key in KEYS:
        assert len(history[key]) == epochs, key
        assert all(v is not None for v in history[key]), key
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert history["val_accuracy"][-1] == 1.0
    assert history["lr"] == [0.05] * epochs
    assert not model.training          # left in eval mode for predictions
    final = evaluate(model, val, nn.CrossEntropyLoss())
    assert final == {"loss": pytest.approx(history["val_loss"][-1], rel=1e-6),
                     "accuracy": history["val_accuracy"][-1]}
    assert recorder.steps == [1, 2, 3, 4] and len(recorder.grads["0.weight"]) == epochs
    assert all(g > 0 for g in recorder.grads["2.weight"])
    json.dumps(history.to_dict())      # JSON-able


def test_one_epoch_equals_a_hand_written_loop():
    x, y = blobs()
    train = batches(x, y)
    model_a, model_b = mlp(), mlp()
    loss_fn = nn.CrossEntropyLoss()
    history = fit(model_a, loss_fn, optim.SGD(model_a.parameters(), lr=0.1), train,
                  epochs=1, metrics=())
    opt = optim.SGD(model_b.parameters(), lr=0.1)
    model_b.train()
    total = 0.0
    for xb, yb in train:
        opt.zero_grad()
        loss = loss_fn(model_b(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item() * len(yb)
    assert history["train_loss"][0] == pytest.approx(total / len(x), rel=1e-12)
    for (ka, va), (kb, vb) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va.numpy(), vb.numpy())


def test_epoch_means_weight_batches_by_size():
    """A last batch of 1 sample must count 1/N, not 1/number_of_batches."""
    x, y = blobs(17)
    train = batches(x, y, size=8)                # sizes 8, 8, 1
    model = mlp()
    result = evaluate(model, train, nn.CrossEntropyLoss(), metrics=("accuracy",))
    model.eval()
    with edu_nn.no_grad():
        out = model(edu_nn.tensor(x))
        whole = nn.CrossEntropyLoss()(out, edu_nn.tensor(y)).item()
    assert result["loss"] == pytest.approx(whole, rel=1e-6)
    assert result["accuracy"] == accuracy(out.numpy(), y)


def test_train_and_eval_modes_and_no_graph_in_metrics():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 2)

        def forward(self, x):
            seen.append((self.training, edu_nn.is_grad_enabled()))
            return self.linear(x)

    def grad_free_metric(output, target):
        seen.append(("metric", edu_nn.is_grad_enabled()))
        return 0.0

    x, y = blobs(16)
    model = Spy()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
        batches(x, y), batches(x, y), epochs=1, metrics={"g": grad_free_metric})
    # training batches: train mode with grad; validation: eval mode without grad
    assert (True, True) in seen and (False, False) in seen
    assert (True, False) not in seen and (False, True) not in seen
    assert ("metric", False) in seen and ("metric", True) not in seen


def test_scheduler_lr_sequence_in_history():
    x, y = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, nn.CrossEntropyLoss(), opt, batches(x, y), epochs=6,
                  scheduler=StepLR(opt, step_size=2, gamma=0.5))
    # by hand: the lr used during epoch e (0-based) is 0.1 * 0.5 ** (e // 2)
    assert history["lr"] == pytest.approx([0.1 * 0.5 ** (e // 2) for e in range(6)], rel=1e-15)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 3)


@pytest.mark.parametrize("with_val", [True, False])
def test_reduce_lr_on_plateau_gets_val_loss_or_train_loss(with_val):
    x, y = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    # mode="max" on a falling loss: every epoch after the first is "worse", so with
    # patience=0 the lr drops every epoch; which loss it saw is checked by a replay.
    sched = ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
    val = batches(*blobs(32, seed=1)) if with_val else None
    history = fit(model, nn.CrossEntropyLoss(), opt, batches(x, y), val, epochs=5,
                  scheduler=sched)
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.0125])
    monitored = history["val_loss" if with_val else "train_loss"]
    replay_opt = optim.SGD([nn.Parameter(edu_nn.zeros(1))], lr=0.1)
    replay = ReduceLROnPlateau(replay_opt, mode="max", patience=0, factor=0.5)
    lrs = []
    for value in monitored:
        lrs.append(replay_opt.param_groups[0]["lr"])
        replay.step(value)
    assert history["lr"] == lrs
    assert sched.best == max(monitored)


def test_batch_interval_scheduler_callback():
    x, y = blobs()
    train = batches(x, y)                       # 4 batches per epoch
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    history = fit(model, nn.CrossEntropyLoss(), opt, train, epochs=2,
                  callbacks=[LRSchedulerCallback(sched, interval="batch")])
    assert history["lr"] == [1.0, 0.5 ** 4]


def test_nan_loss_names_epoch_and_batch():
    x, y = blobs()
    train = batches(x, y)
    calls = {"n": 0}
    inner = nn.CrossEntropyLoss()

    def loss_fn(output, target):          # finite until the 7th batch = epoch 2, batch 2
        calls["n"] += 1
        loss = inner(output, target)
        return loss * math.nan if calls["n"] == 7 else loss

    model = mlp()
    with pytest.raises(NonFiniteLossError) as info:
        fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.1), train, epochs=3)
    err = info.value
    assert (err.epoch, err.batch, err.phase) == (2, 2, "train")
    assert math.isnan(err.value) and err.lr == 0.1
    assert "epoch 2, batch 2" in str(err) and "learning rate" in str(err)


def _overlapping_classes():
    rng = np.random.default_rng(0)     # overlapping classes: the gradients never vanish
    x = rng.normal(size=(64, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    edu_nn.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)), batches(x, y)


def test_diverging_lr_raises_nonfinite_error():
    model, train = _overlapping_classes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # numpy's overflow warnings
        with pytest.raises(NonFiniteLossError, match=r"epoch \d+, batch \d+.*lr = 1e\+06"):
            fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e6),
                train, epochs=20, divergence=None)   # no early stop: it runs into inf/nan


def test_huge_lr_stops_when_the_loss_grows_a_thousandfold():
    """Karpathy's recipe: a loss that explodes is divergence even while it is finite. The
    same run as above stops at the first loss over 1000x the lowest so far, long before inf,
    and says to lower the learning rate."""
    model, train = _overlapping_classes()
    seen = []

    class Record(Callback):
        def on_batch_end(self, batch, logs, state):
            seen.append(logs["loss"])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(TrainingDivergedError) as info:
            fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e6), train,
                epochs=20, callbacks=[Record()])
    err = info.value
    assert not isinstance(err, NonFiniteLossError) and math.isfinite(err.value)
    # the stop is at the first batch whose loss is over 1000x the lowest before it
    assert err.best == min(seen) and err.value > 1000 * err.best and err.value > seen[0]
    assert all(v <= 1000 * min(seen[:i + 1]) for i, v in enumerate(seen))
    assert (err.epoch, err.lr) == (1, 1e6)
    assert "10x smaller (e.g. 100000)" in str(err) and "diverging" in str(err)


def _scripted_loss(values):
    """A loss_fn that returns the given values in turn (with a real graph behind them)."""
    inner, it = nn.CrossEntropyLoss(), iter(values)

    def loss_fn(output, target):
        return inner(output, target) * 0.0 + next(it)
    return loss_fn


def test_noisy_batches_of_a_trained_model_are_not_divergence():
    """Best 1e-5, then 0.05 (5000x): still below the first loss, so training goes on; a
    loss above the first one after that stops it."""
    x, y = blobs()
    model = mlp()
    history = fit(model, _scripted_loss([2.3, 1e-5, 0.05, 1e-4, 1.0, 1e-5]),
                  optim.SGD(model.parameters(), lr=0.1), batches(x, y)[:3], epochs=2)
    assert history.epochs == 2
    model = mlp()
    with pytest.raises(TrainingDivergedError) as info:
        fit(model, _scripted_loss([2.3, 1e-5, 0.05, 3.0, 1.0, 1.0]),
            optim.SGD(model.parameters(), lr=0.1), batches(x, y)[:3], epochs=2)
    assert (info.value.epoch, info.value.batch, info.value.value) == (2, 0, 3.0)


def test_divergence_warn_goes_on_and_warns_once():
    model, train = _overlapping_classes()
    model_loss = _scripted_loss([1.0, 5000.0, 6000.0, 1.0] * 10)
    with pytest.warns(RuntimeWarning, match="diverging") as record:
        history = fit(model, model_loss, optim.SGD(model.parameters(), lr=0.1), train,
                      epochs=3, divergence="warn")
    assert history.epochs == 3
    assert sum("diverging" in str(w.message) for w in record) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"divergence": "halt"}, "divergence must be 'stop', 'warn' or None"),
    ({"divergence_factor": 1}, "divergence_factor must be a number > 1"),
])
def test_bad_divergence_arguments(kwargs, message):
    x, y = blobs()
    model = mlp()
    with pytest.raises(ValueError, match=message):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            batches(x, y), **kwargs)


def test_nan_in_the_first_batch_blames_the_data_not_the_lr():
    x, y = blobs()
    x[0, 0] = np.nan
    model = mlp()
    with pytest.raises(NonFiniteLossError, match="first batch.*inputs and targets") as info:
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            batches(x, y), epochs=1)
    assert (info.value.epoch, info.value.batch) == (1, 0)


def test_grad_clip_bounds_the_update():
    x, y = blobs()
    train = batches(x, y)[:1]
    model = mlp()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1.0), train,
        epochs=1, grad_clip=1e-3)
    step = np.sqrt(sum(((model.state_dict()[k].numpy() - v) ** 2).sum()
                       for k, v in before.items()))
    assert step == pytest.approx(1e-3, rel=1e-3)   # lr 1 * gradient norm clipped to 1e-3


def test_callback_can_stop_training_and_hooks_run_in_order():
    events = []

    class Recorder(Callback):
        def on_train_begin(self, state): events.append("begin")
        def on_epoch_begin(self, epoch, state): events.append(f"e{epoch}")
        def on_batch_end(self, batch, logs, state): events.append(f"b{batch}")

        def on_epoch_end(self, epoch, logs, state):
            events.append(f"end{epoch}")
            if epoch == 2:
                state.stop("enough")

        def on_train_end(self, state): events.append("done")

    x, y = blobs(32)
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                  batches(x, y), epochs=10, callbacks=[Recorder()])
    assert events == ["begin", "e1", "b0", "b1", "end1", "e2", "b0", "b1", "end2", "done"]
    assert history.epochs == 2 and history.stop_reason == "enough"


def test_keyboard_interrupt_returns_history_so_far(capsys):
    class Interrupt(Callback):
        def on_epoch_begin(self, epoch, state):
            if epoch == 3:
                raise KeyboardInterrupt

    x, y = blobs(32)
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                  batches(x, y), epochs=10, callbacks=[Interrupt()])
    assert history.epochs == 2 and "interrupted" in history.stop_reason


def test_history_best_and_to_dict_roundtrip():
    h = History()
    for epoch, (loss, acc) in enumerate([(math.nan, 0.5), (0.4, 0.9), (0.6, 0.9), (0.5, 0.7)],
                                        start=1):
        h.append({"epoch": epoch, "val_loss": loss, "val_accuracy": acc})
    assert h.best("val_loss") == (2, 0.4)                 # nan is skipped
    assert h.best("val_accuracy") == (2, 0.9)             # ties: the earliest epoch
    assert h.best("val_loss", mode="max") == (3, 0.6)
    with pytest.raises(KeyError, match="recorded keys: epoch, val_loss"):
        h.best("train_loss")
    data = json.loads(json.dumps(h.to_dict()))
    assert data["history"]["val_loss"][0] is None       # nan -> null
    assert History.from_dict(data).history["val_accuracy"] == [0.5, 0.9, 0.9, 0.7]
    assert h.epochs == len(h) == 4
    h.append({"epoch": 5, "extra": 1.0})                  # a new key is padded
    assert h["extra"] == [None] * 4 + [1.0] and h["val_loss"][4] is None


def test_metrics_by_hand():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])
    assert accuracy(logits, np.array([0, 1, 1, 2])) == 0.5
    assert accuracy(np.array([[0.3], [-2.0]]), np.array([1, 1])) == 0.5   # one logit: > 0
    assert accuracy(logits, np.eye(3)[[0, 1, 2, 0]]) == 1.0                # one-hot targets
    assert accuracy(np.array([0.3, -2.0]), np.array([1.0, 1.0])) == 0.5   # BCE's float 0/1
    out, tgt = np.array([[1.0], [2.0], [4.0]]), np.array([1.0, 0.0, 1.0])
    assert mse(out, tgt) == pytest.approx((0 + 4 + 9) / 3)
    assert mae(out, tgt) == pytest.approx((0 + 2 + 3) / 3)


def test_regression_metrics_in_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    edu_nn.manual_seed(0)
    model = nn.Linear(3, 1)
    history = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), batches(x, y),
                  batches(x, y), epochs=3, metrics=("mse", "mae"))
    assert history["val_mse"] == pytest.approx(history["val_loss"], rel=1e-5)  # MSELoss == mse
    assert set(history.history) >= {"train_mse", "train_mae", "val_mse", "val_mae"}
    with pytest.raises(ValueError, match="not class labels.*metrics=\\('mse',\\)"):
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), batches(x, y))


def test_bad_input_errors_teach():
    x, y = blobs(32)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = nn.CrossEntropyLoss()
    with pytest.raises(TypeError, match="iterator.*list of batches"):
        fit(model, loss, opt, iter(batches(x, y)), epochs=2)
    with pytest.raises(TypeError, match=r"batch 0 is a Tensor.*pair \(inputs, targets\)"):
        fit(model, loss, opt, [edu_nn.tensor(x)], epochs=1)
    with pytest.raises(ValueError, match="no batches"):
        fit(model, loss, opt, [], epochs=1)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        fit(model, loss, opt, batches(x, y), epochs=0)
    with pytest.raises(TypeError, match="instance"):
        fit(model, loss, opt, batches(x, y), callbacks=[Callback])
    with pytest.raises(ValueError, match="unknown metric 'f1'.*accuracy"):
        fit(model, loss, opt, batches(x, y), metrics=("f1",))
    with pytest.raises(ValueError, match="reduction='mean'"):
        fit(model, nn.CrossEntropyLoss(reduction="none"), opt, batches(x, y))
    with pytest.raises(ValueError, match="needs a name"):
        resolve_metrics([lambda o, t: 0.0])


def test_progress_bar_only_when_asked(capsys):
    pytest.importorskip("tqdm")
    x, y = blobs(32)
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), batches(x, y),
        epochs=2)                                    # stderr is no terminal under pytest
    assert capsys.readouterr().err == ""
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), batches(x, y),
        epochs=2, progress=True, log_every=1)
    captured = capsys.readouterr()
    assert "epoch" in captured.err                   # tqdm's bars
    assert "epoch 2/2" in captured.out and "train_loss" in captured.out


@pytest.mark.parametrize("columns", [80, 200])
def test_progress_bars_fit_80_columns_with_a_wide_bar(columns, capsys, monkeypatch):
    """The bars never get wider than the terminal (nor 100 columns), and the numbers beside
    them leave the bar itself room (the issue saw a 5-character bar in 110 columns)."""
    pytest.importorskip("tqdm")
    import os
    import re
    import shutil
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a, **k: os.terminal_size(
        (columns, 24)))
    x, y = blobs()
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.05),
        batches(x, y), batches(*blobs(32, seed=1)), epochs=3, progress=True)
    err = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", capsys.readouterr().err)  # cursor moves
    lines = [line for line in re.split(r"[\r\n]", err) if line.strip()]
    assert lines and max(len(line) for line in lines) <= min(columns, 100)
    final = [line for line in lines if line.startswith("fit 100%")][-1]
    assert "loss=" in final and "val_acc=" in final
    bar = re.search(r"\|(.*?)\|", final).group(1)
    assert len(bar) >= 20, final
