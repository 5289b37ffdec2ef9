from .atss_maiou_assigner import ATSSmaIoUAssigner
from .simota_assigner import SimOTAmaIoUAssigner
from .task_aligned_assigner import TaskAlignedmaIoUAssigner

__all__ = ["ATSSmaIoUAssigner", "SimOTAmaIoUAssigner", "TaskAlignedmaIoUAssigner"]
