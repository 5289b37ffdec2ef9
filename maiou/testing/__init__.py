"""What the tests and the benchmarks both use, in one home that neither imports from the
other: reference implementations to check and time ours against (:mod:`.reference`: maIoU
from the definition and as the authors' code computes it), COCO-like inputs
(:mod:`.scenes`) and the count of the operations and host syncs a code path dispatches
(:mod:`.dispatch_count`). Importing it needs torch, unlike ``import maiou``."""
