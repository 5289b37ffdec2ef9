from .atss_maiou_assigner import ATSSmaIoUAssigner

__all__ = ["ATSSmaIoUAssigner"]
