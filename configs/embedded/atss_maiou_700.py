"""Embedded counterpart of run atss-maiou-700: YOLACT, ATSS with maIoU, 160 x 160 (COCO:
700).

A CPU-sized toy on synthetic data (small ResNet, a few hundred iterations):
it checks the relative behaviour of the assigners, its numbers are not the paper's.
"""

_base_ = [
    "./_base_/models/yolact_atss_maiou.py",
    "./_base_/datasets/embedded_160.py",
    "./_base_/schedules/sgd_step.py",
]
