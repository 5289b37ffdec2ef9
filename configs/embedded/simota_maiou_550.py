"""Embedded counterpart of run simota-maiou-550: YOLACT, SimOTA with maIoU, 128 x
128 (COCO: 550).

A CPU-sized toy on synthetic data (small ResNet, a few hundred iterations):
it checks the relative behaviour of the assigners, its numbers are not the paper's.
"""

_base_ = [
    "./_base_/models/yolact_simota_maiou.py",
    "./_base_/datasets/embedded_128.py",
    "./_base_/schedules/sgd_step.py",
]
