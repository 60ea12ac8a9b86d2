"""EarlyStopping, ModelCheckpoint and RecordMagnitudes, on scripted validation losses.

The validation loss is scripted (a loss function that returns the next planned value in
eval mode), so the epoch where training must stop is known by hand, while the model still
trains for real and its weights change every epoch.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import edu_nn
from edu_nn import nn, optim
from edu_nn.train import (Callback, EarlyStopping, ModelCheckpoint, RecordMagnitudes, fit,
                          layer_magnitudes)
from edu_nn.train.callbacks import snapshot


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return [(edu_nn.tensor(x[i:i + 8]), edu_nn.tensor(y[i:i + 8])) for i in range(0, n, 8)]


def model_and_opt():
    edu_nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    return model, optim.SGD(model.parameters(), lr=0.1)


class ScriptedValLoss:
    """The real cross-entropy in training; in eval mode, the next value of ``script`` (the
    val loader has one batch, so one value per epoch)."""

    def __init__(self, model, script):
        self.model, self.script, self.inner = model, list(script), nn.CrossEntropyLoss()

    def __call__(self, output, target):
        loss = self.inner(output, target)
        if self.model.training:
            return loss
        return loss * 0.0 + self.script.pop(0)


class Snapshots(Callback):
    """The weights at the end of every epoch (placed before the callback under test)."""

    def __init__(self):
        self.states = {}

    def on_epoch_end(self, epoch, logs, state):
        self.states[epoch] = snapshot(state.model)


def assert_weights_equal(model, state):
    current = model.state_dict()
    assert list(current) == list(state)
    for key, value in state.items():
        np.testing.assert_array_equal(current[key].numpy(), value)


def run(script, *callbacks, epochs=10):
    model, opt = model_and_opt()
    snaps = Snapshots()
    history = fit(model, ScriptedValLoss(model, script), opt, data(), data(8, seed=1),
                  epochs=epochs, callbacks=[snaps, *callbacks], metrics=())
    return model, history, snaps


SCRIPT = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 1.0, 0.5, 0.4, 0.3]


def test_early_stopping_stops_after_patience_and_restores_best():
    stopper = EarlyStopping(monitor="val_loss", patience=3)
    model, history, snaps = run(SCRIPT, stopper)
    # best 3.0 at epoch 3; epochs 4, 5, 6 do not improve -> stop at the end of epoch 6
    assert history["val_loss"] == pytest.approx(SCRIPT[:6], rel=1e-6)   # float32
    assert history.epochs == 6 and stopper.stopped_epoch == 6
    assert (stopper.best, stopper.best_epoch) == (3.0, 3)
    assert "did not improve for 3 epoch(s)" in history.stop_reason
    assert_weights_equal(model, snaps.states[3])
    # the test can fail: the last epoch's weights differ from the best epoch's
    assert not all(np.array_equal(snaps.states[3][k], snaps.states[6][k])
                   for k in snaps.states[3])


def test_early_stopping_without_restore_keeps_last_weights():
    model, history, snaps = run(SCRIPT, EarlyStopping(patience=3, restore_best_weights=False))
    assert history.epochs == 6
    assert_weights_equal(model, snaps.states[6])


def test_early_stopping_min_delta_patience_zero_and_max_mode():
    # min_delta=0.6: 4.0 (-1.0) improves, 3.5 (-0.5) does not -> stop at epoch 3 (patience 0)
    stopper = EarlyStopping(patience=0, min_delta=0.6)
    _, history, _ = run([5.0, 4.0, 3.5, 1.0], stopper)
    assert history.epochs == 3 and stopper.best_epoch == 2
    # mode="max" (e.g. an accuracy-like value): rising is better
    stopper = EarlyStopping(monitor="val_loss", mode="max", patience=1)
    _, history, _ = run([1.0, 2.0, 1.5, 3.0], stopper)
    assert history.epochs == 3 and stopper.best == 2.0
    # no early stop: the full run, best epoch = last -> nothing to restore
    stopper = EarlyStopping(patience=2)
    model, history, snaps = run([3.0, 2.0, 1.0], stopper, epochs=3)
    assert history.epochs == 3 and stopper.stopped_epoch is None
    assert history.stop_reason is None
    assert_weights_equal(model, snaps.states[3])


def test_early_stopping_mode_auto_and_errors():
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert EarlyStopping(monitor="train_loss").mode == "min"
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    model, opt = model_and_opt()
    with pytest.raises(KeyError, match="no val_loader.*train_loss"):
        fit(model, nn.CrossEntropyLoss(), opt, data(), epochs=2, callbacks=[EarlyStopping()])


def test_model_checkpoint_writes_the_best_epoch(tmp_path):
    path = tmp_path / "ckpt" / "best.npz"
    checkpoint = ModelCheckpoint(path, monitor="val_loss")
    model, history, snaps = run(SCRIPT[:6], checkpoint, epochs=6)
    assert checkpoint.best_epoch == 3 and checkpoint.saved == [str(path)] * 3
    assert os.path.getsize(path) > 0
    fresh, _ = model_and_opt()
    fresh.load_state_dict(edu_nn.load(str(path)))
    assert_weights_equal(fresh, snaps.states[3])


def test_model_checkpoint_every_epoch_with_formatted_paths(tmp_path):
    pattern = str(tmp_path / "epoch{epoch:02d}-{val_loss:.1f}.npz")
    checkpoint = ModelCheckpoint(pattern, save_best_only=False)
    _, _, snaps = run([2.0, 3.0, 1.0], checkpoint, epochs=3)
    names = sorted(os.listdir(tmp_path))
    assert names == ["epoch01-2.0.npz", "epoch02-3.0.npz", "epoch03-1.0.npz"]
    assert checkpoint.best_path.endswith("epoch03-1.0.npz")
    for epoch, name in enumerate(names, start=1):
        fresh, _ = model_and_opt()
        fresh.load_state_dict(edu_nn.load(str(tmp_path / name)))
        assert_weights_equal(fresh, snaps.states[epoch])


def test_model_checkpoint_bad_path_template(tmp_path):
    checkpoint = ModelCheckpoint(str(tmp_path / "{val_acc}.npz"), save_best_only=False)
    with pytest.raises(ValueError, match="cannot fill in the path"):
        run([1.0], checkpoint, epochs=1)


def test_record_magnitudes_matches_by_hand_values():
    recorder = RecordMagnitudes()
    last = {}

    class Last(Callback):   # by-hand magnitudes after the last step, for comparison
        def on_batch_end(self, batch, logs, state):
            for name, p in state.model.named_parameters():
                last[name] = (np.abs(p.detach().numpy()).mean(), np.abs(p.grad.numpy()).mean())

    model, opt = model_and_opt()
    fit(model, nn.CrossEntropyLoss(), opt, data(), epochs=2, callbacks=[recorder, Last()])
    assert recorder.steps == list(range(1, 9))               # 4 batches x 2 epochs
    assert list(recorder.weights) == ["0.weight", "2.weight"]  # weights only, input first
    for name in recorder.weights:
        assert len(recorder.weights[name]) == len(recorder.grads[name]) == 8
        assert recorder.weights[name][-1] == pytest.approx(last[name][0], rel=1e-6)
        assert recorder.grads[name][-1] == pytest.approx(last[name][1], rel=1e-6)
    with_bias = layer_magnitudes(model, include_bias=True)
    assert list(with_bias) == ["0.weight", "0.bias", "2.weight", "2.bias"]

    per_epoch = RecordMagnitudes(every="epoch")
    model, opt = model_and_opt()
    fit(model, nn.CrossEntropyLoss(), opt, data(), epochs=3, callbacks=[per_epoch])
    assert per_epoch.steps == [1, 2, 3] and per_epoch.to_dict()["step_name"] == "epoch"
