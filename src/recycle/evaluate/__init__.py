"""Metrics (accuracy, macro-F1, ECE) and evaluation reports of fitted models."""

from recycle.evaluate.metrics import accuracy, expected_calibration_error, macro_f1
from recycle.evaluate.report import evaluation_report

__all__ = ["accuracy", "evaluation_report", "expected_calibration_error", "macro_f1"]
