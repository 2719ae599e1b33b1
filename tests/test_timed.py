"""The one timed fit: the budget is a hard stop, warm-up, probe and scoring stay off the clock, the probe leaves
the model as it was, every model gets its own Adam constants."""

import time

import pytest
import torch
from torch import nn

from oinr.errors import UserError
from oinr.fit.timed import probe, timed_fit
from oinr.models.hashgrid import ADAM_BETAS, ADAM_EPS, HashGrid

STEP_S = 0.02  # the sleep of one step of the slow model below


class Slow(nn.Module):
    """A linear map whose every forward sleeps STEP_S seconds and whose first forward sleeps `first` more
    (a one-off build on the first call, as a lazily built lookup)."""

    def __init__(self, first: float = 0.0):
        super().__init__()
        self.lin = nn.Linear(4, 1)
        self.first = first

    def forward(self, x):
        time.sleep(STEP_S + self.first)
        self.first = 0.0
        return self.lin(x)


def _loss(x, y):
    return lambda m, step: torch.mean((m(x) - y) ** 2)


def test_steps_honour_the_budget_and_first_call_is_off_the_clock():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    budget = 0.4
    out = timed_fit(Slow(first=0.5), 1e-2, seconds=budget, loss_fn=_loss(x, y), threshold=None)
    # a step starts only while the time left holds it: the fit ends within the budget (plus scheduling jitter)
    assert out["seconds"] <= budget + STEP_S, out["seconds"]
    assert out["steps"] * STEP_S <= out["seconds"]
    # the 0.5 s first call went into the warm-up, not the budget: the steps fill it
    assert out["steps"] >= 0.5 * budget / STEP_S, out["steps"]
    assert out["ended"] in ("budget", "plan") and len(out["trace"]) == out["steps"]
    assert all(t <= budget for t, _ in out["trace"])


def test_scoring_is_off_the_clock():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    budget, calls = 0.4, []

    def score(m):  # slow scoring: 0.2 s a call, twice, in a 0.4 s budget
        calls.append(torch.is_grad_enabled())
        time.sleep(0.2)
        return 1.0

    t0 = time.perf_counter()
    out = timed_fit(Slow(), 1e-2, seconds=budget, loss_fn=_loss(x, y), threshold=None, score=score,
                    score_at=(0.25, 0.5))  # fmt: skip
    wall = time.perf_counter() - t0
    assert calls == [False, False] and [s for _, s in out["scores"]] == [1.0, 1.0]
    assert [t >= f * budget for (t, _), f in zip(out["scores"], (0.25, 0.5))] == [True, True]
    assert out["seconds"] <= budget + STEP_S
    assert out["steps"] >= 0.5 * budget / STEP_S  # the 0.4 s of scoring did not eat the budget
    assert wall >= out["seconds"] + 0.4  # ... it was spent beside it


def test_threshold_stops_the_fit():
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = x @ torch.tensor([[0.5], [-0.25], [0.1], [0.3]])  # a linear target: the loss falls fast
    out = timed_fit(nn.Linear(4, 1), 0.05, seconds=30.0, loss_fn=_loss(x, y), threshold=20.0,
                    stop_at_threshold=True)  # fmt: skip
    assert out["ended"] == "threshold" and out["seconds"] < 30.0
    assert out["trace"][-1][1] >= 20.0 > max(v for _, v in out["trace"][:-1])
    assert out["time_to_threshold"] == out["trace"][-1][0]
    assert out["steps"] == len(out["trace"]) - 1  # the state that met it gets no further update


def test_probe_restores_weights_and_random_state():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randn(32, 4), torch.randn(32, 1)

    def loss(m, step):  # draws from the global generator, as a careless loss might
        return torch.mean((m(x + 0.01 * torch.randn_like(x)) - y) ** 2)

    torch.manual_seed(1)
    want = torch.rand(3)
    torch.manual_seed(1)
    assert probe(model, 0.1, loss) > 0
    assert torch.equal(torch.rand(3), want)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert all(p.grad is None for p in model.parameters())


def test_hash_grid_trains_with_its_paper_adam(monkeypatch):
    seen = []
    adam = torch.optim.Adam

    def spy(params, **kw):
        seen.append((kw["betas"], kw["eps"]))
        return adam(params, **kw)

    monkeypatch.setattr(torch.optim, "Adam", spy)
    torch.manual_seed(0)
    model = HashGrid(2, 1, levels=4, table_size=64, min_res=4, max_res=16)
    grid = model.make_input((16, 16))
    y = torch.rand(1, 1, 16, 16) * 2 - 1
    out = timed_fit(model, 1e-2, grid, y, seconds=0.3)
    assert out["steps"] > 0
    assert seen and set(seen) == {(ADAM_BETAS, ADAM_EPS)} and ADAM_BETAS == (0.9, 0.99) and ADAM_EPS == 1e-15


def test_bad_budget_refused():
    with pytest.raises(UserError, match="budget"):
        timed_fit(nn.Linear(1, 1), 1e-2, seconds=0.0, loss_fn=lambda m, s: m.weight.sum())
