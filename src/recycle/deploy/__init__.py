"""Deploying recycled models: one-file ONNX export (+ int8), distillation, deployment report.

Examples
--------
>>> from recycle.deploy import export_onnx, build_onnx
>>> callable(export_onnx) and callable(build_onnx)
True
"""

from __future__ import annotations

from recycle.deploy.distill import distill
from recycle.deploy.onnx_export import build_onnx, export_onnx
from recycle.deploy.quantize import quantize_int8

__all__ = ["build_onnx", "distill", "export_onnx", "quantize_int8"]
