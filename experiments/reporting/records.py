"""The JSON records the report steps read, each checked on load: a file that is not the
record it should be is one error naming it and the step that writes it."""

from __future__ import annotations

import json
from pathlib import Path

from maiou.utils.cli import UserError

__all__ = ["load_bootstrap", "load_curve_check", "load_record"]


def load_record(path: Path | None, fields: dict, what: str, script: str) -> dict | None:
    """The JSON record at ``path`` (None without one), whose ``fields`` (name -> type) must
    be present; else one error naming the file and the script that writes it."""
    if path is None:
        return None
    try:
        record = json.loads(Path(path).read_text())
        missing = [name for name, kind in fields.items() if not isinstance(record.get(name), kind)]
        if missing:
            raise ValueError(f"lacks {' / '.join(repr(name) for name in missing)}")
    except (OSError, ValueError, AttributeError) as exc:
        raise UserError(
            f"{path}: not a {what} ({exc}); re-run python -m experiments.scripts.{script}"
        ) from exc
    return record


def load_bootstrap(path: Path | None) -> dict | None:
    """The intervals and verdicts of experiments/scripts/bootstrap_runs.py."""
    return load_record(
        path, {"runs": dict, "contrasts": list}, "bootstrap record", "bootstrap_runs"
    )


def load_curve_check(path: Path | None) -> dict | None:
    """The training-curve check (plot_training_curves.py --check), or None without one."""
    return load_record(path, {"runs": dict}, "training-curve check", "plot_training_curves")
