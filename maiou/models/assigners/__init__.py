from .atss_maiou_assigner import ATSSmaIoUAssigner
from .task_aligned_assigner import TaskAlignedmaIoUAssigner

__all__ = ["ATSSmaIoUAssigner", "TaskAlignedmaIoUAssigner"]
