"""Tests of bootseg.metrics against scikit-learn and plain NumPy formulas."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import accuracy_score, f1_score, jaccard_score

from bootseg.metrics import (
    Summary,
    dice,
    iou,
    pixel_accuracy,
    pooled_dice,
    pooled_iou,
    pooled_soft_dice,
    summarize,
)

torch = pytest.importorskip("torch")


def _sk(metric, pred, target):
    """scikit-learn reference on flattened bool masks; both-empty counts 1.0 as in bootseg."""
    p, t = np.asarray(pred).ravel(), np.asarray(target).ravel()
    if metric is accuracy_score:
        return accuracy_score(t, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return metric(t, p, zero_division=1.0)


def _random_pairs(rng, n, shape=(17, 23), share=0.3):
    preds = [rng.random(shape) < share for _ in range(n)]
    targets = [rng.random(shape) < share for _ in range(n)]
    return preds, targets


masks = st.integers(1, 12).flatmap(
    lambda h: st.integers(1, 12).flatmap(lambda w: st.tuples(arrays(bool, (h, w)), arrays(bool, (h, w))))
)


# ------------------------------------------------------------------------------------------------ per image


@pytest.mark.parametrize(("ours", "theirs"), [(dice, f1_score), (iou, jaccard_score), (pixel_accuracy, accuracy_score)])
def test_agrees_with_sklearn_on_random_masks(ours, theirs):
    rng = np.random.default_rng(0)
    for share in (0.05, 0.3, 0.7):
        pred, target = _random_pairs(rng, 1, share=share)
        assert ours(pred[0], target[0]) == pytest.approx(_sk(theirs, pred[0], target[0]), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(masks)
def test_property_agreement_with_sklearn(pair):
    pred, target = pair
    assert dice(pred, target) == pytest.approx(_sk(f1_score, pred, target), abs=1e-12)
    assert iou(pred, target) == pytest.approx(_sk(jaccard_score, pred, target), abs=1e-12)
    assert pixel_accuracy(pred, target) == pytest.approx(accuracy_score(target.ravel(), pred.ravel()), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(masks)
def test_property_symmetry_bounds_and_relation(pair):
    pred, target = pair
    for metric in (dice, iou, pixel_accuracy):
        value = metric(pred, target)
        assert 0.0 <= value <= 1.0
        assert value == metric(target, pred)
    d, j = dice(pred, target), iou(pred, target)
    assert d == pytest.approx(2 * j / (1 + j), abs=1e-12)  # the Dice-Jaccard identity
    assert j <= d + 1e-12


@settings(max_examples=40, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 10), st.integers(1, 10))))
def test_property_identity_is_one(mask):
    assert dice(mask, mask) == iou(mask, mask) == pixel_accuracy(mask, mask) == 1.0


MASK_DTYPES = [np.bool_, np.uint8, np.uint16, np.int16, np.int32, np.int64, np.float32, np.float64]


def _values(dtype) -> st.SearchStrategy:
    """Any finite value of ``dtype``, with the binarisation edges (0, 0.5, just below 0.5) drawn often."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind == "f":
        width = 32 if dtype == np.float32 else 64
        edges = st.sampled_from([0.0, 0.5, float(np.nextafter(dtype.type(0.5), dtype.type(0))), 1.0, -1.0, 255.0])
        return st.floats(allow_nan=False, width=width) | edges
    info = np.iinfo(dtype)
    return st.integers(int(info.min), int(info.max)) | st.sampled_from([0, 1, -1 if info.min < 0 else 2, 255])


def _reference_binary(mask: np.ndarray) -> np.ndarray:
    """The module's documented rule written independently: integers above 0, floats at or above 0.5."""
    if mask.dtype.kind == "f":
        return mask >= 0.5
    return mask.astype(np.int64) > 0 if mask.dtype.kind in "ui" else mask.astype(bool)


@st.composite
def typed_pairs(draw) -> tuple[np.ndarray, np.ndarray]:
    """Two masks of one random shape, each of a random supported dtype (they may differ)."""
    shape = draw(st.tuples(st.integers(1, 9), st.integers(1, 9)))
    first, second = draw(st.sampled_from(MASK_DTYPES)), draw(st.sampled_from(MASK_DTYPES))
    return draw(arrays(first, shape, elements=_values(first))), draw(arrays(second, shape, elements=_values(second)))


@settings(max_examples=80, deadline=None)
@given(typed_pairs())
def test_property_every_dtype_agrees_with_sklearn_on_the_binarised_masks(pair):
    pred, target = pair
    p, t = _reference_binary(pred), _reference_binary(target)
    assert dice(pred, target) == pytest.approx(_sk(f1_score, p, t), abs=1e-12)
    assert iou(pred, target) == pytest.approx(_sk(jaccard_score, p, t), abs=1e-12)
    assert pixel_accuracy(pred, target) == pytest.approx(accuracy_score(t.ravel(), p.ravel()), abs=1e-12)
    for metric in (dice, iou, pixel_accuracy):
        value = metric(pred, target)
        assert isinstance(value, float) and 0.0 <= value <= 1.0
        assert value == metric(target, pred)  # symmetry across dtypes too
        assert metric(pred, pred) == metric(target, target) == 1.0  # identity, whatever the dtype


@settings(max_examples=60, deadline=None)
@given(masks)
def test_property_complements_and_the_jaccard_distance(pair):
    pred, target = pair
    # pixel accuracy counts agreement, so swapping foreground and background everywhere keeps it
    assert pixel_accuracy(~pred, ~target) == pixel_accuracy(pred, target)
    assert pixel_accuracy(pred, ~pred) == 0.0
    # 1 - IoU is a metric: the triangle inequality holds through any third mask (here the intersection)
    third = pred & target
    assert 1 - iou(pred, target) <= (1 - iou(pred, third)) + (1 - iou(third, target)) + 1e-12


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([np.float32, np.float64]).flatmap(
        lambda dtype: arrays(dtype, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=_values(dtype))
    ),
    st.data(),
)
def test_property_nan_is_refused_with_a_message(mask, data):
    bad = mask.copy()
    bad.flat[data.draw(st.integers(0, bad.size - 1))] = np.nan
    for metric in (dice, iou, pixel_accuracy):
        with pytest.raises(ValueError, match=rf"pred contains NaN values \(shape {re.escape(str(bad.shape))}\)"):
            metric(bad, mask)
        with pytest.raises(ValueError, match=r"target contains NaN values .*; masks must be finite"):
            metric(mask, bad)


datasets = st.integers(1, 5).flatmap(
    lambda n: st.lists(
        st.tuples(st.integers(1, 7), st.integers(1, 7)).flatmap(
            lambda shape: st.tuples(arrays(bool, shape), arrays(bool, shape))
        ),
        min_size=n,
        max_size=n,
    )
)


@settings(max_examples=50, deadline=None)
@given(datasets)
def test_property_dataset_metrics_agree_with_sklearn(pairs):
    preds, targets = [p for p, _ in pairs], [t for _, t in pairs]
    summary = summarize(preds, targets)
    flat_p = np.concatenate([p.ravel() for p in preds])
    flat_t = np.concatenate([t.ravel() for t in targets])
    assert summary.n == len(pairs)
    assert summary.dice_values == pytest.approx([_sk(f1_score, p, t) for p, t in pairs], abs=1e-12)
    assert summary.iou_values == pytest.approx([_sk(jaccard_score, p, t) for p, t in pairs], abs=1e-12)
    assert summary.accuracy_mean == pytest.approx(np.mean([accuracy_score(t.ravel(), p.ravel()) for p, t in pairs]))
    assert summary.dice_std == pytest.approx(np.std(summary.dice_values), abs=1e-12)
    assert summary.pooled_dice == pytest.approx(_sk(f1_score, flat_p, flat_t), abs=1e-12)
    assert summary.pooled_iou == pytest.approx(_sk(jaccard_score, flat_p, flat_t), abs=1e-12)
    assert summary.pooled_accuracy == pytest.approx(accuracy_score(flat_t, flat_p), abs=1e-12)
    assert pooled_dice(preds, targets) == summary.pooled_dice == pooled_dice(targets, preds)
    assert pooled_iou(preds, targets) == summary.pooled_iou == pooled_iou(targets, preds)
    for value in summary.as_dict().values():
        assert isinstance(value, int) or 0.0 <= value <= 1.0
    identity = summarize(preds, preds)
    assert identity.dice_mean == identity.iou_mean == identity.accuracy_mean == identity.pooled_dice == 1.0
    assert identity.dice_std == 0.0
    # hard masks as probabilities, without smoothing: the soft Dice is the pooled hard Dice
    assert pooled_soft_dice(preds, targets, smooth=0.0) == pytest.approx(summary.pooled_dice, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    datasets.flatmap(
        lambda pairs: st.tuples(
            st.just(pairs),
            st.tuples(*[arrays(np.float64, t.shape, elements=st.floats(0, 1)) for _, t in pairs]),
            st.floats(0, 10),
            st.integers(1, 6),
        )
    )
)
def test_property_pooled_soft_dice_formula_and_bounds(case):
    pairs, probs, smooth, batch_size = case
    targets = [t for _, t in pairs]
    p = np.concatenate([q.ravel() for q in probs])
    t = np.concatenate([m.ravel() for m in targets]).astype(np.float64)
    denominator = p.sum() + t.sum() + smooth
    expected = 1.0 if denominator == 0 else (2 * (p * t).sum() + smooth) / denominator
    value = pooled_soft_dice(list(probs), targets, smooth=smooth)
    assert value == pytest.approx(expected, abs=1e-12)
    assert 0.0 <= value <= 1.0 + 1e-12
    assert 0.0 <= pooled_soft_dice(list(probs), targets, smooth=smooth, batch_size=batch_size) <= 1.0 + 1e-12


def test_numpy_formulas():
    pred = np.array([[1, 1, 0], [0, 1, 0]], bool)
    target = np.array([[1, 0, 0], [0, 1, 1]], bool)
    inter, union = 2, 4
    assert dice(pred, target) == pytest.approx(2 * inter / (3 + 3))
    assert iou(pred, target) == pytest.approx(inter / union)
    assert pixel_accuracy(pred, target) == pytest.approx(4 / 6)


def test_both_empty_is_one_and_one_empty_is_zero():
    empty = np.zeros((4, 4), bool)
    full = np.ones((4, 4), bool)
    assert dice(empty, empty) == iou(empty, empty) == 1.0
    assert dice(empty, full) == iou(full, empty) == 0.0
    assert pixel_accuracy(empty, full) == 0.0


@pytest.mark.parametrize(
    "encode",
    [
        lambda m: m,
        lambda m: m.astype(np.uint8),
        lambda m: m.astype(np.uint8) * 255,
        lambda m: m.astype(np.int64) * 7,
        lambda m: m.astype(np.float32),
        lambda m: m.astype(np.float64) * 255.0,
        lambda m: np.where(m, 0.75, 0.25),
        lambda m: m.astype(np.uint16) * 65535,
        lambda m: m.tolist(),
    ],
    ids=["bool", "0-1", "0-255", "int-labels", "float01", "float0-255", "probs", "uint16", "list"],
)
def test_encodings_agree(encode):
    rng = np.random.default_rng(1)
    pred, target = _random_pairs(rng, 1)
    expected = dice(pred[0], target[0])
    assert dice(encode(pred[0]), encode(target[0])) == expected
    assert iou(encode(pred[0]), target[0]) == iou(pred[0], target[0])


def test_float_threshold_is_one_half_and_ints_above_zero():
    target = np.array([[1, 1, 0, 0]], bool)
    assert dice(np.array([[0.5, 0.49, 0.0, 1.0]]), target) == pytest.approx(dice([[1, 0, 0, 1]], target))
    assert dice(np.array([[1, -3, 0, 0]], np.int16), target) == pytest.approx(dice([[1, 0, 0, 0]], target))


@pytest.mark.parametrize("device", ["cpu"])
@pytest.mark.parametrize("dtype", ["bool", "uint8", "float32", "bfloat16", "int64"])
def test_torch_tensors_agree_with_numpy(device, dtype):
    rng = np.random.default_rng(2)
    pred, target = _random_pairs(rng, 1)
    tp = torch.from_numpy(pred[0]).to(device=device, dtype=getattr(torch, dtype))
    tt = torch.from_numpy(target[0]).to(device=device)
    for metric in (dice, iou, pixel_accuracy):
        assert metric(tp, tt) == metric(pred[0], target[0])
        assert metric(tp, target[0]) == metric(pred[0], target[0])  # mixed tensor and ndarray


def test_torch_tensor_with_grad():
    probs = torch.tensor([[0.9, 0.1], [0.7, 0.2]], requires_grad=True)
    assert dice(probs, torch.tensor([[1, 0], [1, 0]])) == 1.0


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"pred has shape \(3, 4\) but target has shape \(4, 3\)"):
        dice(np.zeros((3, 4)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(2, 2, 1\)"):
        iou(torch.zeros(2, 2), np.zeros((2, 2, 1)))


@pytest.mark.parametrize(
    ("pred", "error", "match"),
    [
        ("mask", TypeError, "pred must be an array or tensor, got str"),
        (None, TypeError, "got NoneType"),
        (np.array([["a", "b"]]), TypeError, "got dtype <U1"),
        (np.array([[np.nan, 1.0]]), ValueError, "pred contains NaN"),
        (torch.tensor([[float("nan"), 1.0]]), ValueError, "pred contains NaN"),
        (np.array([[1 + 1j, 0]]), TypeError, "complex128"),
    ],
)
def test_bad_inputs(pred, error, match):
    with pytest.raises(error, match=match):
        dice(pred, np.zeros((1, 2)))


def test_empty_arrays_refused():
    with pytest.raises(ValueError, match=r"empty \(shape \(0, 3\)\)"):
        pixel_accuracy(np.zeros((0, 3)), np.zeros((0, 3)))


# ------------------------------------------------------------------------------------------------- datasets


def test_summarize_matches_per_image_and_numpy_std():
    rng = np.random.default_rng(3)
    preds, targets = _random_pairs(rng, 6)
    summary = summarize(preds, targets)
    dices = [_sk(f1_score, p, t) for p, t in zip(preds, targets, strict=True)]
    ious = [_sk(jaccard_score, p, t) for p, t in zip(preds, targets, strict=True)]
    accs = [accuracy_score(t.ravel(), p.ravel()) for p, t in zip(preds, targets, strict=True)]
    assert isinstance(summary, Summary)
    assert summary.n == 6
    assert summary.dice_mean == pytest.approx(np.mean(dices))
    assert summary.dice_std == pytest.approx(np.std(dices, ddof=0))
    assert summary.iou_mean == pytest.approx(np.mean(ious))
    assert summary.iou_std == pytest.approx(np.std(ious, ddof=0))
    assert summary.accuracy_mean == pytest.approx(np.mean(accs))
    assert summary.accuracy_std == pytest.approx(np.std(accs, ddof=0))
    assert summary.dice_values == pytest.approx(dices)
    flat_p = np.concatenate([p.ravel() for p in preds])
    flat_t = np.concatenate([t.ravel() for t in targets])
    assert summary.pooled_dice == pytest.approx(f1_score(flat_t, flat_p))
    assert summary.pooled_iou == pytest.approx(jaccard_score(flat_t, flat_p))
    assert summary.pooled_accuracy == pytest.approx(accuracy_score(flat_t, flat_p))
    assert pooled_dice(preds, targets) == summary.pooled_dice
    assert pooled_iou(preds, targets) == summary.pooled_iou


def test_summarize_accepts_stacks_lists_and_tensors_and_mixed_sizes():
    rng = np.random.default_rng(4)
    preds, targets = _random_pairs(rng, 3)
    reference = summarize(preds, targets)
    assert summarize(np.stack(preds), np.stack(targets)) == reference
    assert summarize(torch.from_numpy(np.stack(preds)), tuple(targets)) == reference
    small_p, small_t = _random_pairs(rng, 1, shape=(5, 5))
    mixed = summarize(preds + small_p, targets + small_t)
    assert mixed.n == 4


def test_summary_as_dict_and_table():
    rng = np.random.default_rng(5)
    summary = summarize(*_random_pairs(rng, 4))
    values = summary.as_dict()
    assert set(values) == {
        "n", "dice_mean", "dice_std", "iou_mean", "iou_std", "accuracy_mean", "accuracy_std",
        "pooled_dice", "pooled_iou", "pooled_accuracy",
    }  # fmt: skip
    assert values["dice_mean"] == summary.dice_mean
    assert len(summary.as_dict(per_image=True)["iou_values"]) == 4
    table = summary.format_table(3)
    assert table.splitlines()[0].split() == ["metric", "(n=4)", "mean", "std", "pooled"]
    assert f"{summary.dice_mean:.3f}" in table.splitlines()[1]
    with pytest.raises(AttributeError):
        summary.n = 5  # frozen


def test_summary_hashable():
    rng = np.random.default_rng(6)
    assert isinstance(hash(summarize(*_random_pairs(rng, 2))), int)


@pytest.mark.parametrize(
    ("preds", "targets", "error", "match"),
    [
        ([np.zeros((2, 2))], [], ValueError, "preds has 1 masks but targets has 0"),
        ([], [], ValueError, "empty; need at least one image"),
        (np.zeros((2, 2)), np.zeros((2, 2)), ValueError, r"shape \(2, 2\); pass a list of masks"),
        ("abc", ["x"], TypeError, "preds must be a sequence of masks"),
        (5, [1], TypeError, "got int"),
        (
            [np.zeros((2, 2)), np.zeros((2, 3))],
            [np.zeros((2, 2))] * 2,
            ValueError,
            r"image 1: pred has shape",
        ),
    ],
)
def test_summarize_errors(preds, targets, error, match):
    with pytest.raises(error, match=match):
        summarize(preds, targets)


def test_pooled_soft_dice_formula():
    rng = np.random.default_rng(7)
    probs = [rng.random((9, 11)) for _ in range(5)]
    targets = [rng.random((9, 11)) < 0.4 for _ in range(5)]
    p, t = np.stack(probs), np.stack(targets).astype(float)
    for smooth in (0.0, 1.0, 1e-5):
        expected = (2 * (p * t).sum() + smooth) / (p.sum() + t.sum() + smooth)
        assert pooled_soft_dice(probs, targets, smooth=smooth) == pytest.approx(expected)
    # Per batch, weighted by batch size: batches of 2, 2 and 1 images.
    values = [
        (2 * (p[s] * t[s]).sum() + 1.0) / (p[s].sum() + t[s].sum() + 1.0)
        for s in (slice(0, 2), slice(2, 4), slice(4, 5))
    ]
    expected = (2 * values[0] + 2 * values[1] + values[2]) / 5
    assert pooled_soft_dice(probs, targets, batch_size=2) == pytest.approx(expected)
    assert pooled_soft_dice(probs, targets, batch_size=5) == pooled_soft_dice(probs, targets)


def test_pooled_soft_dice_hard_masks_equal_pooled_dice():
    rng = np.random.default_rng(8)
    preds, targets = _random_pairs(rng, 4)
    assert pooled_soft_dice(preds, targets, smooth=0.0) == pytest.approx(pooled_dice(preds, targets))


def test_pooled_soft_dice_torch_and_empty():
    probs = torch.rand(3, 4, 4, dtype=torch.bfloat16)
    targets = torch.zeros(3, 4, 4)
    p = probs.float().numpy()
    assert pooled_soft_dice(probs, targets) == pytest.approx(1.0 / (p.sum() + 1.0), rel=1e-6)
    zeros = [np.zeros((3, 3))]
    assert pooled_soft_dice(zeros, zeros) == 1.0
    assert pooled_soft_dice(zeros, zeros, smooth=0.0) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"smooth": -1.0}, ValueError, "smooth=-1.0"),
        ({"smooth": float("nan")}, ValueError, "smooth must be finite"),
        ({"smooth": "1"}, TypeError, "smooth must be a number, got str"),
        ({"batch_size": 0}, ValueError, "batch_size=0"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an int or None, got float"),
    ],
)
def test_pooled_soft_dice_option_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        pooled_soft_dice([np.zeros((2, 2))], [np.zeros((2, 2))], **kwargs)


def test_pooled_soft_dice_refuses_logits_and_shape_mismatch():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*from -2.0 to 3.0.*sigmoid"):
        pooled_soft_dice([np.array([[-2.0, 3.0]])], [np.array([[0, 1]])])
    with pytest.raises(ValueError, match=r"image 0: probs has shape \(1, 2\) but target has shape \(2, 1\)"):
        pooled_soft_dice([np.array([[0.2, 0.3]])], [np.array([[0], [1]])])


def test_metrics_package_imports_nothing_of_bootseg_outside_itself_nor_torch():
    code = (
        "import sys, bootseg.metrics; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "import ast, pathlib; folder = pathlib.Path(bootseg.metrics.__file__).parent; "
        "trees = [ast.parse(path.read_text()) for path in folder.glob('*.py')]; assert len(trees) > 1; "
        "bad = [n for tree in trees for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.level > 1 or "
        "(n.level == 0 and (n.module or '').startswith('bootseg')))]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
