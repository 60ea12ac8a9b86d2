"""F.batch_norm, F.layer_norm, F.dropout, F.dropout2d, F.embedding and F.prelu.

Numbers are compared with torch.nn.functional (float64, random upstream gradient, every
element, through torchref.check_against_torch) and every hand-written backward with finite
differences, on every backend. Dropout's mask is random, so its tests read the mask back
from the output and check the gradient, statistics and reproducibility against it.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edu_nn
import edu_nn.nn.functional as F
from edu_nn.grading import GradcheckError, gradcheck
from edu_nn.ops import normalization
from opcheck import EXAMPLES, SEEDS, away_from
from torchref import assert_close, check_against_torch, upstream_like

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def run_examples(backend, n, strategy, check):
    """Run ``check(case)`` on ``n`` hypothesis examples, scaled down for slow backends."""
    @settings(max_examples=max(2, int(n * EXAMPLES.get(backend, 0.5))), deadline=None,
              database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(strategy)
    def run(case):
        check(case)
    run()


def t(a, backend, requires_grad=False, dtype="float64"):
    return edu_nn.tensor(np.asarray(a), dtype=dtype, backend=backend, requires_grad=requires_grad)


# ------------------------------------------------------------------ batch_norm
@st.composite
def bn_cases(draw):
    rank = draw(st.sampled_from([2, 3, 4]))
    shape = (draw(st.integers(2, 4)), draw(st.integers(1, 3))) + tuple(
        draw(st.integers(1, 3)) for _ in range(rank - 2))
    affine = draw(st.sampled_from(["none", "weight", "both"]))
    return shape, affine, draw(st.booleans()), draw(SEEDS)


def _bn_arrays(shape, seed):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return (rng.standard_normal(shape) * 2 + 0.5, rng.standard_normal(c), rng.standard_normal(c),
            rng.standard_normal(c), rng.uniform(0.5, 2.0, c))


def test_batch_norm_matches_torch(backend_name):
    def check(case):
        shape, affine, training, seed = case
        x, w, b, rm, rv = _bn_arrays(shape, seed)

        def call(fn):
            def f(x, rm, rv, w=None, b=None):
                # copies: training mode updates running stats in place in torch
                rm, rv = (rm.clone(), rv.clone()) if isinstance(rm, torch.Tensor) else (rm, rv)
                return fn(x, rm, rv, w, b, training=training, momentum=0.2, eps=1e-3)
            return f
        arrays = [x, rm, rv] + {"none": [], "weight": [w], "both": [w, b]}[affine]
        check_against_torch(call(F.batch_norm), call(TF.batch_norm), arrays, backend_name,
                            constant=(1, 2), name=f"batch_norm {shape} {affine} "
                                                  f"training={training}")
    run_examples(backend_name, 24, bn_cases(), check)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 4, 5)], ids=["NC", "NCL", "NCHW"])
def test_batch_norm_running_stats_follow_torch(backend_name, shape):
    rng = np.random.default_rng(len(shape))
    c = shape[1]
    rm, rv = t(np.zeros(c), backend_name), t(np.ones(c), backend_name)
    rm_id, rv_id = id(rm), id(rv)
    trm, trv = torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64)
    w = t(rng.standard_normal(c), backend_name, requires_grad=True)
    for step in range(3):
        x = rng.standard_normal(shape) * (step + 1) + step
        out = F.batch_norm(t(x, backend_name), rm, rv, w, None, training=True, momentum=0.3)
        TF.batch_norm(torch.from_numpy(x), trm, trv, torch.from_numpy(w.detach().numpy()),
                      None, training=True, momentum=0.3)
        assert out.requires_grad and rm.grad_fn is None and not rm.requires_grad
        assert_close(rm.numpy(), trm.numpy(), f"running_mean after {step + 1} updates")
        assert_close(rv.numpy(), trv.numpy(), f"running_var after {step + 1} updates "
                     f"(torch uses the unbiased batch variance)")
    assert (id(rm), id(rv)) == (rm_id, rv_id), "the buffers must keep their identity"
    # eval mode now normalises with those running statistics, as torch does
    x = rng.standard_normal(shape)
    got = F.batch_norm(t(x, backend_name), rm, rv, w.detach(), training=False)
    want = TF.batch_norm(torch.from_numpy(x), trm, trv, torch.from_numpy(w.detach().numpy()))
    assert_close(got.numpy(), want.numpy(), "eval batch_norm with the running stats")
    # eval mode leaves the running stats alone
    assert_close(rm.numpy(), trm.numpy(), "running_mean after an eval call")


def test_batch_norm_gradcheck(backend_name):
    rng = np.random.default_rng(1)
    x, w, b, rm, rv = _bn_arrays((3, 2, 3), 7)
    args = [t(x, backend_name, True), t(w, backend_name, True), t(b, backend_name, True)]
    running = t(rm, backend_name), t(rv, backend_name)
    gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), args,
              name="batch_norm training")
    gradcheck(lambda x, w, b: F.batch_norm(x, *running, w, b, training=False), args,
              name="batch_norm eval")
    gradcheck(lambda x: F.batch_norm(x, None, None, training=True),
              [t(rng.standard_normal((4, 3)), backend_name, True)], name="batch_norm no affine")


BatchNorm = normalization.BatchNorm  # the correct one (the tests below patch the module's)


class StatsAsConstantsBatchNorm(BatchNorm):
    """The classic bug: backward treats the batch mean and variance as constants."""

    @staticmethod
    def backward(ctx, grad):
        ctx.training = False
        return BatchNorm.backward(ctx, grad)


class DoubledWeightGradBatchNorm(BatchNorm):
    @staticmethod
    def backward(ctx, grad):
        gx, gw, gb = BatchNorm.backward(ctx, grad)
        return gx, ctx.xp.multiply(gw, 2.0), gb


@pytest.mark.parametrize("broken", [StatsAsConstantsBatchNorm, DoubledWeightGradBatchNorm])
def test_broken_batch_norm_backward_is_caught(backend_name, broken, monkeypatch):
    monkeypatch.setattr(normalization, "BatchNorm", broken)
    x, w, b, _, _ = _bn_arrays((4, 3, 2), 3)
    fn = lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)  # noqa: E731
    torch_fn = lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True)  # noqa: E731
    with pytest.raises(AssertionError, match="gradient of input"):
        check_against_torch(fn, torch_fn, [x, w, b], backend_name)
    with pytest.raises(GradcheckError):
        gradcheck(fn, [t(a, backend_name, True) for a in (x, w, b)], name="broken batch_norm")


# ------------------------------------------------------------------ layer_norm
@st.composite
def ln_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    k = draw(st.integers(1, len(shape)))
    normalized = shape[len(shape) - k:]
    if k == 1 and draw(st.booleans()):
        normalized = normalized[0]  # an int, as torch also accepts
    if np.prod(shape[len(shape) - k:]) == 1:  # one value per group: xhat = 0, keep it simple
        shape = shape[:-1] + (shape[-1] + 1,)
        normalized = shape[len(shape) - k:] if not isinstance(normalized, int) else shape[-1]
    return shape, normalized, draw(st.sampled_from(["none", "weight", "both"])), draw(SEEDS)


def test_layer_norm_matches_torch(backend_name):
    def check(case):
        shape, normalized, affine, seed = case
        rng = np.random.default_rng(seed)
        pshape = (normalized,) if isinstance(normalized, int) else normalized
        arrays = [rng.standard_normal(shape) * 3 + 1]
        arrays += [rng.standard_normal(pshape) for _ in range({"none": 0, "weight": 1,
                                                                "both": 2}[affine])]
        check_against_torch(
            lambda x, *wb: F.layer_norm(x, normalized, *wb, eps=1e-4),
            lambda x, *wb: TF.layer_norm(x, pshape, *wb, eps=1e-4),
            arrays, backend_name, name=f"layer_norm {shape} {normalized} {affine}")
    run_examples(backend_name, 20, ln_cases(), check)


def test_layer_norm_gradcheck(backend_name):
    rng = np.random.default_rng(2)
    args = [t(rng.standard_normal(s), backend_name, True) for s in ((2, 3, 4), (3, 4), (3, 4))]
    gradcheck(lambda x, w, b: F.layer_norm(x, (3, 4), w, b), args, name="layer_norm")
    gradcheck(lambda x: F.layer_norm(x, 4), args[:1], name="layer_norm no affine")


# ------------------------------------------------------------------ embedding
@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_embedding_matches_torch(backend_name, padding_idx):
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((6, 4))
    # duplicates (2 three times, 5 twice) must accumulate; index 2 and 5 are padding rows
    for idx in (np.array([2, 0, 2, 5, 1, 2, 5]), np.array([[0, 2, 2], [5, 3, 2]]), np.array(4)):
        check_against_torch(lambda i, w: F.embedding(i, w, padding_idx=padding_idx),
                            lambda i, w: TF.embedding(i, w, padding_idx=padding_idx),
                            [idx, weight], backend_name,
                            name=f"embedding {idx.shape} padding_idx={padding_idx}")


def test_embedding_gradcheck(backend_name):
    rng = np.random.default_rng(4)
    idx = edu_nn.tensor(np.array([[1, 3, 1], [0, 1, 4]]), backend=backend_name)
    w = t(rng.standard_normal((5, 3)), backend_name, True)
    gradcheck(lambda w: F.embedding(idx, w), [w], name="embedding")
    report = gradcheck(lambda w: F.embedding(idx, w, padding_idx=1), [w], raise_exception=False)
    assert not report.passed, "padding_idx's zero gradient is deliberate, not a derivative"
    w.grad = None
    F.embedding(idx, w, padding_idx=1).sum().backward()
    assert not w.grad.numpy()[1].any() and w.grad.numpy()[0].all()


# ------------------------------------------------------------------ prelu
@pytest.mark.parametrize("shape,channels", [((4, 3), 3), ((2, 3, 4), 3), ((2, 3, 2, 2), 3),
                                            ((2, 3, 2, 2), 1), ((5,), 1), ((), 1)])
def test_prelu_matches_torch(backend_name, shape, channels):
    rng = np.random.default_rng(5)
    x = away_from(rng.standard_normal(shape).reshape(shape))
    check_against_torch(F.prelu, TF.prelu, [x, rng.uniform(-0.5, 0.5, channels)], backend_name,
                        name=f"prelu {shape} weight ({channels},)")


def test_prelu_at_zero_uses_the_slope_like_torch(backend_name):
    x = np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]])
    check_against_torch(F.prelu, TF.prelu, [x, np.array([0.25, -0.5, 0.1])], backend_name,
                        name="prelu with zeros")


def test_prelu_gradcheck(backend_name):
    rng = np.random.default_rng(6)
    x = t(away_from(rng.standard_normal((2, 3, 2)), margin=0.1), backend_name, True)
    gradcheck(F.prelu, [x, t(rng.standard_normal(3), backend_name, True)], name="prelu (C,)")
    gradcheck(F.prelu, [x, t([0.3], backend_name, True)], name="prelu (1,)")


# ------------------------------------------------------------------ dropout
@pytest.mark.parametrize("p", [0.3, 0.75])
def test_dropout_gradient_is_mask_times_scale(backend_name, p):
    rng = np.random.default_rng(7)
    x_np = away_from(rng.standard_normal((6, 7)))
    x = t(x_np, backend_name, True)
    out = F.dropout(x, p, generator=edu_nn.Generator(11))
    mask = out.detach().numpy() != 0  # x has no zeros, so a zero output is a dropped unit
    assert 0 < mask.sum() < mask.size
    upstream = upstream_like(x_np.shape)
    out.backward(t(upstream, backend_name))
    xt = torch.tensor(x_np, requires_grad=True)
    want = xt * torch.from_numpy(mask) / (1 - p)
    want.backward(torch.from_numpy(upstream))
    assert_close(out.detach().numpy(), want.detach().numpy(), "dropout forward")
    assert_close(x.grad.numpy(), xt.grad.numpy(), "dropout gradient")


def test_dropout_gradcheck(backend_name):
    x = t(np.random.default_rng(8).standard_normal((3, 4)), backend_name, True)
    # a fresh Generator per call: the finite differences need the same mask every time
    gradcheck(lambda x: F.dropout(x, 0.4, generator=edu_nn.Generator(2)), [x], name="dropout")
    x4 = t(np.random.default_rng(8).standard_normal((2, 3, 2, 2)), backend_name, True)
    gradcheck(lambda x: F.dropout2d(x, 0.5, generator=edu_nn.Generator(2)), [x4],
              name="dropout2d")


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_dropout_keeps_about_1_minus_p(backend_name, p):
    n = 40_000
    out = F.dropout(edu_nn.ones(n, dtype="float64", backend=backend_name), p,
                    generator=edu_nn.Generator(3)).numpy()
    kept = out != 0
    # 5 standard deviations of a binomial fraction: fails by chance ~1 in 2 million runs
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-12)


def test_dropout_same_seed_same_mask(backend_name):
    x = edu_nn.ones(200, dtype="float64", backend=backend_name)
    edu_nn.manual_seed(123)
    first, second = F.dropout(x).numpy(), F.dropout(x).numpy()
    assert not np.array_equal(first, second), "successive calls must draw new masks"
    edu_nn.manual_seed(123)
    np.testing.assert_array_equal(F.dropout(x).numpy(), first)
    np.testing.assert_array_equal(F.dropout(x).numpy(), second)
    g1, g2 = edu_nn.Generator(9), edu_nn.Generator(9)
    np.testing.assert_array_equal(F.dropout2d(x.reshape(2, 4, 5, 5), generator=g1).numpy(),
                                  F.dropout2d(x.reshape(2, 4, 5, 5), generator=g2).numpy())


def test_dropout_eval_p0_and_p1(backend_name):
    x = t(np.random.default_rng(9).standard_normal((3, 4, 2, 2)), backend_name, True)
    for fn in (F.dropout, F.dropout2d):
        assert fn(x, 0.5, training=False) is x, "eval mode is the identity"
        assert fn(x, 0.0) is x
        out = fn(x, 1.0)
        assert not out.detach().numpy().any() and np.all(np.isfinite(out.detach().numpy()))
        x.grad = None
        out.sum().backward()
        assert not x.grad.numpy().any(), "p=1 drops everything: zero gradient, not nan"


@pytest.mark.parametrize("shape", [(8, 6, 3, 4), (10, 3, 3)], ids=["NCHW", "CHW"])
def test_dropout2d_zeroes_whole_channels(backend_name, shape):
    p = 0.5
    x_np = away_from(np.random.default_rng(10).standard_normal(shape))
    out = F.dropout2d(t(x_np, backend_name), p, generator=edu_nn.Generator(4)).numpy()
    maps = (out != 0).reshape(shape[:-2] + (-1,))
    assert np.array_equal(maps.all(-1), maps.any(-1)), "a channel is kept or dropped whole"
    assert 0 < maps.all(-1).sum() < maps.all(-1).size
    np.testing.assert_allclose(out, x_np * (out != 0) / (1 - p), rtol=1e-12)


# ------------------------------------------------------------------ float32 and exports
def test_float32_in_float32_out(backend_name):
    x = edu_nn.randn(4, 3, 2, backend=backend_name, dtype="float32")
    w = edu_nn.ones(3, backend=backend_name, dtype="float32")
    outs = [F.batch_norm(x, None, None, w, w, training=True), F.layer_norm(x, (3, 2)),
            F.prelu(x, w), F.dropout(x), F.dropout2d(x.reshape(4, 3, 2, 1)),
            F.embedding(edu_nn.tensor([0, 2], backend=backend_name), w.reshape(3, 1))]
    assert [o.dtype for o in outs] == ["float32"] * len(outs)


def test_exported_from_functional():
    for name in ("batch_norm", "layer_norm", "dropout", "dropout2d", "embedding", "prelu"):
        assert name in F.__all__ and callable(getattr(F, name))


# ------------------------------------------------------------------ errors teach
def test_errors_teach():
    x = edu_nn.randn(1, 3)
    with pytest.raises(ValueError, match=r"more than one value per channel in training.*"
                                         r"bigger batch.*model\.eval\(\)"):
        F.batch_norm(x, None, None, training=True)
    with pytest.raises(ValueError, match="more than one value per channel"):
        F.batch_norm(edu_nn.randn(1, 3, 1, 1), None, None, training=True)
    F.batch_norm(x, edu_nn.zeros(3), edu_nn.ones(3), training=False)  # fine in eval
    with pytest.raises(ValueError, match="running_mean and running_var are None"):
        F.batch_norm(edu_nn.randn(4, 3), None, None, training=False)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\).*3 channels"):
        F.batch_norm(edu_nn.randn(4, 3), edu_nn.zeros(4), edu_nn.ones(4))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.batch_norm(edu_nn.randn(4, 3), None, None, edu_nn.ones(2), training=True)
    with pytest.raises(TypeError, match="momentum=None.*module"):
        F.batch_norm(edu_nn.randn(4, 3), None, None, training=True, momentum=None)
    with pytest.raises(ValueError, match=r"\(\*, 3\).*got \(2, 4\)"):
        F.layer_norm(edu_nn.randn(2, 4), [3])
    with pytest.raises(ValueError, match=r"weight must have shape normalized_shape=\(4,\)"):
        F.layer_norm(edu_nn.randn(2, 4), 4, edu_nn.ones(3))
    for bad_p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"between 0 and 1, but got {bad_p}"):
            F.dropout(x, bad_p)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(C, H, W\)"):
        F.dropout2d(edu_nn.randn(4))
    w = edu_nn.randn(10, 2)
    with pytest.raises(IndexError, match=r"index 12 is out of range.*num_embeddings=10.*\[0, 9\]"):
        F.embedding(edu_nn.tensor([1, 12, 3]), w)
    with pytest.raises(IndexError, match="index -1 is out of range"):
        F.embedding(edu_nn.tensor([-1]), w)
    with pytest.raises(ValueError, match="padding_idx=10 must be within num_embeddings"):
        F.embedding(edu_nn.tensor([1]), w, padding_idx=10)
    with pytest.raises(TypeError, match=r"integer indices.*\.long\(\)"):
        F.embedding(edu_nn.tensor([1.0]), w)
    for kwargs in ({"max_norm": 1.0}, {"scale_grad_by_freq": True}, {"sparse": True}):
        with pytest.raises(NotImplementedError, match=next(iter(kwargs))):
            F.embedding(edu_nn.tensor([1]), w, **kwargs)
    with pytest.raises(ValueError, match="weight has 3 slopes but dim 1 of the input"):
        F.prelu(edu_nn.randn(2, 4), edu_nn.ones(3))
    with pytest.raises(ValueError, match="no channel dim"):
        F.prelu(edu_nn.randn(3), edu_nn.ones(3))


def test_dropout2d_on_2d_input_drops_whole_rows_with_torchs_warning():
    """torch (deprecated, still used by pytorch/examples' mnist_rnn) reads (A, B) as one
    sample of A channels: whole rows are zeroed, the rest scaled by 1/(1-p)."""
    with pytest.warns(UserWarning, match="2-D input to dropout2d"):
        out = F.dropout2d(edu_nn.ones(64, 5), 0.5, generator=edu_nn.Generator(0)).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert all(len(set(row)) == 1 for row in out.tolist()), "a row must be all 0 or all 2"
    assert 0 < (out[:, 0] == 0).sum() < 64
