"""Metric correctness against hand-computed confusion matrices and known ROC curves."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from fakeseg.metrics import (
    ConfusionMatrix,
    PixelAUC,
    accuracy_at,
    average_precision,
    balanced_accuracy_at,
    best_threshold,
    equal_error_rate,
    false_alarm_rate,
    roc_auc,
    roc_curve,
    video_auc,
    video_scores,
)


def test_confusion_matrix_matches_hand_count():
    target = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 0, 1]])
    # TP = 3, FP = 1, FN = 1, TN = 3
    cm = ConfusionMatrix()
    cm.update(target, pred)
    assert cm.counts == {"tp": 3, "fp": 1, "fn": 1, "tn": 3}
    assert cm.fg_iou == pytest.approx(3 / 5)  # TP / (TP + FP + FN), not the paper's typo (TN)
    assert cm.bg_iou == pytest.approx(3 / 5)
    assert cm.miou == pytest.approx(3 / 5)
    assert cm.flagged == pytest.approx(1 / 4)


def test_confusion_matrix_accumulates_pixels_not_batch_averages():
    big_t, big_p = np.ones(100, np.uint8), np.ones(100, np.uint8)  # perfect on a big fake region
    small_t, small_p = np.array([1, 0]), np.array([0, 0])  # misses a one-pixel fake region
    cm = ConfusionMatrix()
    cm.update(big_t, big_p)
    cm.update(small_t, small_p)
    assert cm.fg_iou == pytest.approx(100 / 101)  # the mean of per-batch Fg-IoUs would be 0.5


def test_confusion_matrix_does_not_mutate_inputs():
    target = torch.tensor([[1, 0], [0, 1]], dtype=torch.uint8)
    pred = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32) > 0.5
    t_copy, p_copy = target.clone(), pred.copy()
    ConfusionMatrix().update(target, pred)
    assert torch.equal(target, t_copy) and target.dtype == torch.uint8
    assert np.array_equal(pred, p_copy)


def test_fg_iou_undefined_on_pristine_and_miou_is_bg_iou():
    cm = ConfusionMatrix()
    cm.update(np.zeros(8, np.uint8), np.array([1, 1, 0, 0, 0, 0, 0, 0]))
    assert cm.fg_iou is None
    assert cm.bg_iou == pytest.approx(6 / 8)
    assert cm.miou == cm.bg_iou
    assert ConfusionMatrix().miou is None  # nothing seen: nothing to report


def test_from_counts_roundtrip():
    cm = ConfusionMatrix.from_counts(tp=3, fp=1, fn=1, tn=3)
    assert cm.counts == {"tp": 3, "fp": 1, "fn": 1, "tn": 3}


def _brute_auc(s, y):
    pos = [a for a, b in zip(s, y, strict=True) if b]
    neg = [a for a, b in zip(s, y, strict=True) if not b]
    return np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)])


def test_roc_auc_known_curve_and_ties():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == pytest.approx(0.5)
    assert roc_auc([0.9, 0.1], [1, 0]) == 1.0 and roc_auc([0.1, 0.9], [1, 0]) == 0.0
    assert roc_auc([0.2, 0.3], [1, 1]) is None  # one class: undefined, not 0 or 1
    rng = np.random.default_rng(0)
    s, y = rng.integers(0, 5, 60) / 4, rng.integers(0, 2, 60)  # many ties
    assert roc_auc(s, y) == pytest.approx(_brute_auc(s, y))
    fpr, tpr, thr = roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert thr[0] == np.inf


def test_average_precision_and_eer_known_values():
    s, y = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
    # ranked: 0.8 (fake) P=1 R=.5; 0.4 (genuine); 0.35 (fake) P=2/3 R=1 -> AP = .5 + .5 * 2/3
    assert average_precision(s, y) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert equal_error_rate(s, y) == pytest.approx(0.5)
    assert equal_error_rate([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == pytest.approx(0.0)
    assert equal_error_rate([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == pytest.approx(1.0)


def test_accuracy_at_tau2_is_inclusive():
    s, y = [0.5, 0.49, 0.7, 0.1], [1, 1, 0, 0]
    assert accuracy_at(s, y, 0.5) == pytest.approx(2 / 4)  # 0.5 >= tau2 is fake (Eq. 6)
    assert balanced_accuracy_at(s, y, 0.5) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        accuracy_at([0.1], [2])


def test_best_threshold_separates_when_possible():
    tau, bal = best_threshold([0.1, 0.2, 0.3, 0.6, 0.7], [0, 0, 0, 1, 1])
    assert 0.3 < tau < 0.6 and bal == 1.0


def test_pixel_auc_matches_exact_auc():
    rng = np.random.default_rng(1)
    target = rng.integers(0, 2, (4, 32, 32))
    prob = np.clip(rng.normal(0.4 + 0.2 * target, 0.2), 0, 1).astype(np.float32)
    acc = PixelAUC()
    for t, p in zip(target, prob, strict=True):  # accumulating per image changes nothing
        acc.update(t, p)
    assert acc.compute() == pytest.approx(roc_auc(prob.ravel(), target.ravel()), abs=1e-3)
    binary = PixelAUC()
    binary.update(target, (prob > 0.5).astype(np.float32))
    assert binary.compute() == pytest.approx(roc_auc((prob > 0.5).ravel(), target.ravel()), abs=1e-12)
    only_genuine = PixelAUC()
    only_genuine.update(np.zeros(4), np.ones(4))
    assert only_genuine.compute() is None


def test_video_auc_uses_mean_frame_score_and_given_ids_only():
    scores = [0.9, 0.1, 0.4, 0.4, 0.3, 0.99]
    labels = [1, 1, 0, 0, 0, 1]
    videos = ["fake_a", "fake_a", "real_b", "real_b", "real_c", ""]  # the last row has no video: left out
    vs, vy = video_scores(scores, labels, videos)
    assert sorted(zip(vs.tolist(), vy.tolist(), strict=True)) == [(0.3, 0), (0.4, 0), (0.5, 1)]
    assert video_auc(scores, labels, videos) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="both fake and genuine"):
        video_scores([0.1, 0.2], [0, 1], ["v", "v"])


def test_false_alarm_rate_is_the_share_of_genuine_scores_at_or_above():
    genuine = [0.3, 0.1, 0.2, 0.2]  # order does not matter; a score equal to the threshold is called fake (Eq. 6)
    assert [false_alarm_rate(t, genuine) for t in (0.0, 0.2, 0.25, 0.31)] == [1.0, 0.75, 0.25, 0.0]
    with pytest.raises(ValueError):
        false_alarm_rate(0.5, [])


def test_threshold_at_false_alarm_rate_is_the_lowest_tau2_within_the_rate():
    from fakeseg.metrics import false_alarm_rate, threshold_at_false_alarm_rate

    genuine = np.array([0.3, 0.1, 0.2, 0.2])
    tau2 = threshold_at_false_alarm_rate(genuine, 0.25)  # one of four may reach it: only 0.3, ties stay below
    assert 0.2 < tau2 <= 0.3 and false_alarm_rate(tau2, genuine) == 0.25
    assert false_alarm_rate(threshold_at_false_alarm_rate(genuine, 0.0), genuine) == 0.0  # above every score
    assert threshold_at_false_alarm_rate(genuine, 0.49) == tau2  # floor(0.49 * 4) = 1 face allowed
    with pytest.raises(ValueError):
        threshold_at_false_alarm_rate([], 0.05)
