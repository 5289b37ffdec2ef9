"""WeightAverageHook (maiou/hooks/weight_average.py) in a real mmcv IterBasedRunner: the
saved final checkpoint holds the EMA of the weights after each optimizer step, with the
priority the embedded configs give it."""

from __future__ import annotations

import logging

import pytest
import torch
from mmcv.runner import HOOKS, Hook, IterBasedRunner, load_checkpoint
from torch import nn

from maiou.hooks import WeightAverageHook

ITERS = 12


class ToyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.norm = nn.BatchNorm1d(2)

    def train_step(self, data, optimizer):
        loss = self.norm(self.linear(data)).pow(2).sum() + self.linear.weight.sum()
        return dict(loss=loss, log_vars=dict(loss=loss.item()), num_samples=len(data))


@HOOKS.register_module(force=True)
class RecordWeights(Hook):
    """Records the float state after every iteration (the run without averaging)."""

    def __init__(self, into: list):
        self.into = into

    def after_train_iter(self, runner):
        state = runner.model.state_dict()
        self.into.append({k: v.clone() for k, v in state.items() if v.is_floating_point()})


def _train(work_dir, custom_hooks) -> IterBasedRunner:
    torch.manual_seed(0)
    model = ToyModel()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    runner = IterBasedRunner(
        model,
        optimizer=optimizer,
        work_dir=str(work_dir),
        logger=logging.getLogger("toy"),
        max_iters=ITERS,
    )
    runner.register_training_hooks(
        lr_config=dict(policy="fixed"),
        optimizer_config=dict(grad_clip=None),
        checkpoint_config=dict(interval=ITERS, by_epoch=False),
        custom_hooks_config=custom_hooks,
    )
    gen = torch.Generator().manual_seed(1)
    data = [torch.randn(4, 3, generator=gen) for _ in range(ITERS)]
    runner.run([data], [("train", ITERS)])
    return runner


def test_final_checkpoint_holds_the_ema_of_the_stepped_weights(tmp_path):
    recorded: list = []
    _train(tmp_path / "plain", [dict(type="RecordWeights", into=recorded, priority="LOWEST")])
    tau = 0.25 * ITERS
    torch.manual_seed(0)
    expected = {
        k: v.float().clone() for k, v in ToyModel().state_dict().items() if v.is_floating_point()
    }
    for state in recorded:
        for k in expected:
            expected[k] += (state[k] - expected[k]) / tau

    hook = dict(type="WeightAverageHook", time_constant=0.25, priority="ABOVE_NORMAL")
    runner = _train(tmp_path / "averaged", [hook])
    model = ToyModel()
    load_checkpoint(model, str(tmp_path / "averaged" / f"iter_{ITERS}.pth"), map_location="cpu")
    saved = model.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(saved[k], v, rtol=1e-5, atol=1e-6)
    # ... and differs from the last iterate, which the checkpoint would hold without it.
    assert not torch.allclose(saved["linear.weight"], recorded[-1]["linear.weight"])
    # The model in memory is the average too (what an evaluation right after would use).
    torch.testing.assert_close(runner.model.state_dict()["linear.weight"], saved["linear.weight"])


def test_save_to_keeps_the_last_iterate_and_writes_the_average(tmp_path):
    """One training, both recipes: the checkpoint is the last iterate of the run without
    averaging (bit for bit), the average goes to its own file."""
    plain: list = []
    _train(tmp_path / "plain", [dict(type="RecordWeights", into=plain, priority="LOWEST")])
    averaged = _train(
        tmp_path / "both",
        [
            dict(
                type="WeightAverageHook",
                time_constant=0.25,
                save_to="ema.pth",
                priority="ABOVE_NORMAL",
            )
        ],
    )
    last = torch.load(tmp_path / "both" / f"iter_{ITERS}.pth", weights_only=True)["state_dict"]
    for k, v in plain[-1].items():
        assert torch.equal(last[k], v), k
    ema = torch.load(tmp_path / "both" / "ema.pth", weights_only=True)["state_dict"]
    assert ema.keys() == last.keys()  # loadable as the model (integer buffers too)
    hook = next(h for h in averaged.hooks if isinstance(h, WeightAverageHook))
    for k, v in hook._shadow.items():
        assert torch.equal(ema[k], v), k


def test_time_constant_is_checked():
    with pytest.raises(ValueError, match="time_constant"):
        WeightAverageHook(time_constant=0)
