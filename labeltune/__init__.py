"""labeltune: supervised fine-tuning of pretrained transformers on labelled task data.

    import labeltune
    metrics = labeltune.train(task="classification", train="reviews.csv", output="runs/sentiment")
    labeltune.load("runs/sentiment").predict(["a gripping, funny film"])
"""

from .errors import UserError
from .run import Predictor, load

__version__ = "0.1.0"


def train(**options) -> dict:
    """Fine-tune with the same option names as the CLI flags (`lr=3e-5`, `text_column="review"`)."""
    from .config import TrainConfig, split_options
    from .run import train as _train
    from .tasks import get_task

    task = get_task(options.get("task", "classification"))
    cfg, opts = split_options(options, [TrainConfig, task.Options], "labeltune.train()")
    return _train(cfg, opts)


__all__ = ["UserError", "Predictor", "load", "train"]
