"""Many models in one fit: K copies of one architecture with stacked parameters, run in one computation.

`Ensemble(models)` stacks the parameters and buffers of K modules of the same architecture along a new
leading dimension (``torch.func.stack_module_state``) and evaluates all K with ``torch.func.vmap`` over
``torch.func.functional_call``: for a conv O-INR the K convolutions become one batched (grouped)
convolution, so fitting K small signals costs about one pass over a K-times wider network rather than
K Python loops. `oinr.fit.loop.fit` recognises an ensemble by its ``members`` attribute and a loss
function that returns one loss per member; each member then has its own NaN guard and stop criterion
(see `fit`). Adam works element-wise, so K members trained together take exactly the steps they would
take alone (equal to separate fits up to float summation order in the batched convolution).

    ens = Ensemble.replicate(model, K)       # K copies of one initialisation (weight-space data sets)
    ens = Ensemble([m1, m2, m3])             # K given modules (e.g. K seeds)
    out = ens(grid)                          # grid (B, C_in, *s) shared, or (K, B, C_in, *s) one per member
    ens.member(k)                            # a plain module holding member k's weights
    ens.flat_weights()                       # (K, P) every member's parameters flattened, in one fixed order
    ens.set_flat_weights(w)                  # the inverse: (K, P) rows back into the members
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


def _key(name: str) -> str:
    return name.replace(".", "__")  # ParameterDict keys cannot hold dots


class _Method(nn.Module):
    """A module whose forward is another method of `base` (functional_call calls forward only)."""

    def __init__(self, base: nn.Module, method: str):
        super().__init__()
        self.base, self.method = base, method

    def forward(self, *args):
        return getattr(self.base, self.method)(*args)


def _prefixed(state: dict) -> dict:
    return {"base." + n: v for n, v in state.items()}


class Ensemble(nn.Module):
    def __init__(self, models: list[nn.Module]):
        super().__init__()
        if not models:
            raise ValueError("an ensemble needs at least one model")
        names = [n for n, _ in models[0].named_parameters()]
        for m in models[1:]:
            if [n for n, _ in m.named_parameters()] != names or any(
                a.shape != b.shape for a, b in zip(models[0].parameters(), m.parameters())
            ):
                raise ValueError("every member of an ensemble must have the same architecture")
        params, buffers = stack_module_state(models)  # name -> (K, *shape)
        self.members = len(models)
        self.names = names
        self.stacked = nn.ParameterDict({_key(n): nn.Parameter(p.detach().clone()) for n, p in params.items()})
        for n, b in buffers.items():
            self.register_buffer("buf__" + _key(n), b.clone())
        self._buffer_names = list(buffers)
        base = copy.deepcopy(models[0])
        self._base = [base.to("meta")]  # a list: not a submodule, so it holds no parameters of the ensemble
        self._templ = [models[0]]  # make_input and the architecture's attributes (a list: not a submodule)

    @classmethod
    def replicate(cls, model: nn.Module, k: int) -> Ensemble:
        """K members that all start from `model`'s weights (one shared initialisation)."""
        return cls([model] * k)

    @property
    def _template(self) -> nn.Module:
        return self._templ[0]

    def make_input(self, shape, *args, **kwargs) -> torch.Tensor:
        """The members' shared input grid, on the ensemble's device."""
        device = next(iter(self.stacked.values())).device
        return self._template.make_input(shape, *args, **kwargs).to(device)

    def _state(self) -> dict:
        state = {n: self.stacked[_key(n)] for n in self.names}
        state.update({n: getattr(self, "buf__" + _key(n)) for n in self._buffer_names})
        return state

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *s)`` (one input for all members) or ``(K, B, C_in, *s)`` -> ``(K, B, C_out, *s)``."""
        base = self._base[0]
        batched, shared = self._split_state()
        call = lambda state, x: functional_call(base, {**state, **shared}, (x,))
        per_member = grid.shape[0] == self.members and grid.ndim == self._grid_ndim() + 1
        return vmap(call, in_dims=(0, 0 if per_member else None))(batched, grid)

    def _split_state(self) -> tuple[dict, dict]:
        """(what differs between members, stacked; buffers equal in every member, unbatched): a method may then
        read such a buffer as a plain value (``int(buffer[0])``), which a batched tensor under vmap refuses."""
        state = self._state()
        shared = {n: state[n][0] for n in self._buffer_names if bool((state[n] == state[n][0]).all())}
        return {n: v for n, v in state.items() if n not in shared}, shared

    def call(self, method: str, *args):
        """Every member's ``method(*args)`` (the same arguments), stacked: each output gains a leading K."""
        batched, shared = self._split_state()
        wrapper = _Method(self._base[0], method)
        call = lambda state: functional_call(wrapper, {**_prefixed(state), **_prefixed(shared)}, args)
        return vmap(call)(batched)

    @property
    def forward_axes(self):
        """The members' `forward_axes` (see `call`), where the architecture has one."""
        if not hasattr(self._template, "forward_axes"):
            raise AttributeError("forward_axes")
        return lambda axes, derivatives=False: self.call("forward_axes", axes, derivatives)

    def _grid_ndim(self) -> int:
        dims = getattr(self._template, "dims", None) or getattr(self._template, "in_features", 2)
        return int(dims) + 2  # (B, C, *spatial)

    def member(self, k: int) -> nn.Module:
        """Member `k` as a plain module (a copy of the template with its weights)."""
        m = copy.deepcopy(self._template)
        m.load_state_dict(self.member_state(k))
        return m.to(next(iter(self.stacked.values())).device)

    def member_state(self, k: int) -> dict:
        """Member `k`'s state dict, with the template's names."""
        return {n: t[k].detach().clone() for n, t in self._state().items()}

    def flat_weights(self) -> torch.Tensor:
        """``(K, P)``: each member's parameters flattened and concatenated in named_parameters order."""
        return torch.cat([self.stacked[_key(n)].detach().flatten(1) for n in self.names], dim=1)

    @torch.no_grad()
    def set_flat_weights(self, flat: torch.Tensor) -> None:
        """Load ``(K, P)`` rows (the layout of `flat_weights`) into the members' parameters."""
        total = sum(self.stacked[_key(n)][0].numel() for n in self.names)
        if flat.shape != (self.members, total):
            raise ValueError(f"expected ({self.members}, {total}) weights, got {tuple(flat.shape)}")
        o = 0
        for n in self.names:
            p = self.stacked[_key(n)]
            k = p[0].numel()
            p.copy_(flat[:, o : o + k].reshape(p.shape))
            o += k
