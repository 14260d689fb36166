"""The active loop: the engine the CLI's ``simulate`` and the Label Studio backend drive.

``LoopConfig`` (schedule, strategy), ``ActiveLoop``/``run_loop`` (rounds, resumable state
directory, stopping rule), helpers to split the demo pool and measure teacher, student and the
gold ceiling.
"""

from llmaaa.loop.config import LoopConfig
from llmaaa.loop.engine import ActiveLoop, LoopResult, run_loop
from llmaaa.loop.evaluate import measure_teacher, sample_demo_pool, score_predictions, strip_labels, train_ceiling
from llmaaa.loop.state import LoopState, LoopStateError

__all__ = [
    "ActiveLoop",
    "LoopConfig",
    "LoopResult",
    "LoopState",
    "LoopStateError",
    "measure_teacher",
    "run_loop",
    "sample_demo_pool",
    "score_predictions",
    "strip_labels",
    "train_ceiling",
]
