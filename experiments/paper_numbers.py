"""The published numbers, in one place (BMVC 2021 maIoU paper / the authors' README).

Sources: /work/shared/spec/variants.md and the authors' README (seed/maiou-paper-readme.md).
All values in % as printed. The nine assigner x size runs are on COCO val2017 (minival);
maYOLACT is on COCO test-dev, which is NOT the split our coco presets evaluate (val2017).
Google-Drive ids of the released checkpoints are here too, so download rules and the
table read the same run names.
"""
from __future__ import annotations

RUNS = (
    "fixed_400", "fixed_550", "fixed_700",
    "atss_iou_400", "atss_iou_550", "atss_iou_700",
    "atss_maiou_400", "atss_maiou_550", "atss_maiou_700",
    "mayolact_550", "mayolact_700",
)
SIZES = (400, 550, 700)
ASSIGNERS = {  # run-name prefix -> column title in the paper's table
    "fixed": "Fixed IoU",
    "atss_iou": "ATSS w. IoU",
    "atss_maiou": "ATSS w. maIoU",
}
# Input size of the embedded counterpart of each COCO size (configs/embedded/_base_/datasets).
EMBEDDED_SIZE = {400: 96, 550: 128, 700: 160}

# COCO val2017, mask AP / mask oLRP (%), paper Table / README "Comparison of Different Assigners".
PAPER = {
    "fixed_400": {"split": "val2017", "segm_AP": 24.8, "segm_oLRP": 78.3},
    "atss_iou_400": {"split": "val2017", "segm_AP": 25.3, "segm_oLRP": 77.7},
    "atss_maiou_400": {"split": "val2017", "segm_AP": 26.1, "segm_oLRP": 77.1},
    "fixed_550": {"split": "val2017", "segm_AP": 28.5, "segm_oLRP": 75.2},
    "atss_iou_550": {"split": "val2017", "segm_AP": 29.3, "segm_oLRP": 74.5},
    "atss_maiou_550": {"split": "val2017", "segm_AP": 30.4, "segm_oLRP": 73.7},
    "fixed_700": {"split": "val2017", "segm_AP": 29.7, "segm_oLRP": 74.3},
    "atss_iou_700": {"split": "val2017", "segm_AP": 30.8, "segm_oLRP": 73.3},
    "atss_maiou_700": {"split": "val2017", "segm_AP": 31.8, "segm_oLRP": 72.5},
    # maYOLACT: COCO test-dev, fps on a Tesla V100.
    "mayolact_550": {"split": "test-dev", "segm_AP": 35.2, "segm_AP50": 56.2, "segm_AP75": 37.1,
                     "segm_APs": 14.7, "segm_APm": 38.0, "segm_APl": 51.4, "fps": 30.0},
    "mayolact_700": {"split": "test-dev", "segm_AP": 37.7, "segm_AP50": 59.4, "segm_AP75": 39.9,
                     "segm_APs": 18.1, "segm_APm": 40.8, "segm_APl": 52.5, "fps": 25.0},
}

# Released checkpoints (Google Drive file ids from the README's "model" links).
# maYOLACT-700 was never released ("Coming Soon").
CHECKPOINT_DRIVE_IDS = {
    "fixed_400": "1juGIBsbyxb-FPKpssSSYQniTDUt8XRac",
    "atss_iou_400": "1ZofI86srVyHwhEeOKGg8gIbGJiTZjW2f",
    "atss_maiou_400": "1ZM6izGY_zPDwuPSTienYpJCW9zFxZKIk",
    "fixed_550": "1nUyT2rhnYxVa4vNd3BccOwchWKYAnLJp",
    "atss_iou_550": "1j2eqLPWzmNOtD5M5E1igMDgVhllQGezk",
    "atss_maiou_550": "16Q_MjLsA-vMHpvU_CNxG94Qd4U2P1kjA",
    "fixed_700": "1X6iwNV39-1juMfzbwaJxBqLcrERleiQK",
    "atss_iou_700": "1jOoiPLguZ4x6dihDNuHurI4iTLawCtVw",
    "atss_maiou_700": "1uUMUOQoes-biTIMx3JeFcwMnhGMIBxYH",
    "mayolact_550": "13xdrvp3QvNIBJ1OHGUuxMemEogFHrriF",
}

# The authors' training logs (Google Drive file ids from the README's "log" links), for the
# training-curve check of coco-train. maYOLACT-700 has none ("Coming Soon").
LOG_DRIVE_IDS = {
    "fixed_400": "1WxebikClTJIaHYxTfw7BUSOS3wZFlOOh",
    "atss_iou_400": "1R-uHrZtvZ3loei0cP2FN8higOnP2ERgv",
    "atss_maiou_400": "1nkHcvveQSrVhPzMIsmDjhUZagfbg4NF7",
    "fixed_550": "1FGR-uxeABGcvX8GSy56vCiowQZWbl5F8",
    "atss_iou_550": "1MLzwxnKLrYT3rJ17QciOFTEVvMYR2vMY",
    "atss_maiou_550": "1x1Rqh9CP-XxfU3LKqVfXCe438KtEN8jM",
    "fixed_700": "17fFPT_40tAFjwbmdlgQrBRfdo4txpc8p",
    "atss_iou_700": "1QQQhD_47vkYZYEXKCliC9fzJHabaXEpY",
    "atss_maiou_700": "1YuglESo8gt8fEbDavaCKoPd-gSAVDLs6",
    "mayolact_550": "1fUA4zyP-glXheWcdIC3zasn8LSKad1v4",
}


def assigner_and_size(run: str) -> tuple[str, int]:
    """('atss_maiou', 550) for 'atss_maiou_550'; ('mayolact', 700) for 'mayolact_700'."""
    prefix, size = run.rsplit("_", 1)
    return prefix, int(size)
