"""Stored seed spreads: the record experiments/scripts/seed_noise.py writes, and the rule
that decides where the table may use one.

A stored spread is, per comparison (a contrast of experiments/reporting/comparisons.py), the
per-seed value on all val images for each of at least :data:`MIN_SEEDS` training seeds and
its sample sd, with the fingerprint of the recipe those runs were trained under
(experiments/recipe.py, from what the runs stored) and where and how it was measured.

**The rule, fixed before any run** (:func:`usable`): a comparison of the table pools the
stored spread with its own seeds (or, with one seed, borrows it) only when

1. the stored entry has at least :data:`MIN_SEEDS` seeds,
2. its fingerprint equals the one computed from this run's own ``metrics.json`` records,
3. and its seeds are disjoint from the seeds the comparison reports.

Otherwise the comparison reads its own seeds alone (one seed: undecided), and the table
says why. Pooling shows the interval of the run's own seeds beside the pooled one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from maiou.evaluation.metric import COMPARED
from maiou.utils.cli import UserError

__all__ = ["MIN_SEEDS", "SpreadError", "read", "usable"]

MIN_SEEDS = 5
"""Seeds a stored spread needs: its sd enters a t quantile with (seeds - 1) degrees of
freedom, and with fewer than five the sd itself is too uncertain to lend."""


class SpreadError(UserError):
    """A seed-spread file that cannot be read or breaks the rules."""


def read(path: Path | None) -> dict[str, dict]:
    """{contrast name: entry} of a seed-spread file ({} without one); an entry is
    ``{"name", "terms", "fingerprint", "seeds", "per_seed": {metric: [...]}, "sd": {metric:
    sd}, "command", "measured"}``. A malformed file is one error naming it."""
    if path is None or not Path(path).is_file():
        return {}
    try:
        record = json.loads(Path(path).read_text())
        out = {}
        for entry in record["contrasts"]:
            seeds = [int(s) for s in entry["seeds"]]
            for metric in COMPARED:
                if len(entry["per_seed"][metric]) != len(seeds):
                    raise ValueError(f"{entry['name']}: seeds and {metric} values differ in number")
                float(entry["sd"][metric])
            out[str(entry["name"])] = dict(entry, seeds=seeds)
        return out
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpreadError(
            f"{path}: not a seed-spread record ({exc}); re-run python -m "
            "experiments.scripts.seed_noise or move the file aside"
        ) from exc


def usable(
    stored: Mapping[str, dict],
    fingerprints: Mapping[str, str | None],
    seeds: Mapping[str, list[int]],
) -> tuple[dict, dict]:
    """Apply the rule (module doc) to every comparison.

    Args:
        stored: :func:`read`'s entries.
        fingerprints: {contrast name: the fingerprint of this run's records, None when
            they have no single recipe}.
        seeds: {contrast name: the training seeds it reports}.

    Returns ``({name: {metric: (sd, seeds)}}, {name: note})``: the spreads to pool or
    borrow, and for every comparison one line for the table saying which spread it reads
    and, where none, why.
    """
    pooled, notes = {}, {}
    for name, own in seeds.items():
        entry = stored.get(name)
        if entry is None:
            notes[name] = "no stored seed spread for this comparison"
        elif len(entry["seeds"]) < MIN_SEEDS:
            notes[name] = (
                f"the stored seed spread has {len(entry['seeds'])} seeds, fewer than "
                f"{MIN_SEEDS}: not used"
            )
        elif fingerprints.get(name) is None:
            notes[name] = "these runs record no single recipe: the stored spread is not used"
        elif entry["fingerprint"] != fingerprints[name]:
            notes[name] = (
                "the stored seed spread was measured under another recipe (configs, "
                "backbone, data, threads or library versions differ): not used"
            )
        elif set(entry["seeds"]) & set(own):
            shared = ", ".join(map(str, sorted(set(entry["seeds"]) & set(own))))
            notes[name] = (
                f"the stored seed spread shares seeds {shared} with this run: not used "
                "(it must come from other seeds)"
            )
        else:
            pooled[name] = {m: (float(entry["sd"][m]), len(entry["seeds"])) for m in COMPARED}
            notes[name] = (
                f"{'pooled with' if len(own) > 1 else 'seed spread from'} the stored spread "
                f"of seeds {_span(entry['seeds'])}, measured {entry.get('measured')}"
            )
    return pooled, notes


def _span(seeds) -> str:
    seeds = sorted(seeds)
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))
