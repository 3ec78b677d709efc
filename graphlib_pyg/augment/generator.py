"""The conditional neighbour-feature generator of local augmentation (LA-GNN).

Liu et al., "Local Augmentation for Graph Neural Networks", ICML 2022
(https://arxiv.org/abs/2109.03856) model the distribution of a node's neighbours' features
conditioned on the node's own features with a conditional VAE, and feed samples from it to a GNN
as extra input. :class:`NeighborGenerator` is that CVAE; checkpoints are a state dict plus a small
config (loaded with ``weights_only=True``), never a pickled module.
"""

from __future__ import annotations

import operator
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Reconstruction losses by feature type.
RECON_LOSSES = ("bce", "mse")


def feature_kind(x: Tensor) -> str:
    """``"bce"`` for features in [0, 1] (binary, bag-of-words, row-normalised), else ``"mse"``."""
    if x.numel() == 0:
        return "mse"
    return "bce" if bool((x.min() >= 0) & (x.max() <= 1)) else "mse"


def is_row_normalized(x: Tensor, atol: float = 1e-4) -> bool:
    """Whether every non-empty row of non-negative ``x`` sums to one (``D^-1 X`` features)."""
    if x.numel() == 0 or bool(x.min() < 0):
        return False
    s = x.sum(1)
    s = s[s > 0]
    return s.numel() > 0 and bool(torch.allclose(s, torch.ones_like(s), atol=atol))


class NeighborGenerator(nn.Module):
    r"""Conditional VAE for :math:`p(x_u \mid x_v)`, :math:`u` a neighbour of centre :math:`v`.

    Encoder :math:`q(z \mid x_u, x_v)`: an MLP on :math:`[x_u \,\|\, x_v]` giving the mean and
    log-variance of a Gaussian latent; decoder :math:`p(x_u \mid z, x_v)`: an MLP on
    :math:`[z \,\|\, x_v]`. The loss is the reconstruction term plus
    :math:`\mathrm{KL}(q \,\|\, \mathcal N(0, I))`, both summed over features and averaged over
    pairs. Binary, bag-of-words and row-normalised features (values in [0, 1]) use binary
    cross-entropy on a sigmoid output; real-valued features use squared error on a linear output.

    Args:
        in_channels: feature size F (the same for neighbour and centre).
        hidden_channels: width of the encoder and decoder hidden layer (default 256).
        latent_channels: latent size (default 10).
        recon: ``"bce"`` or ``"mse"`` (see :func:`feature_kind`).
        normalize: row-normalise generated features, for graphs whose features are
            row-normalised (the reference code does this for the citation graphs).
        binarize: model presence indicators ``x > 0`` of both inputs instead of the values:
            for row-normalised bag-of-words features this recovers the raw binary words the
            reference code trains on; generated rows are then probabilities of occurrence.

    Shapes:
        - **forward input:** x_nbr (B, F), x_center (B, F)
        - **forward output:** reconstruction (B, F), mean (B, latent), log-variance (B, latent)
        - **sample:** x_center (N, F) -> (N, F)
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 256,
        latent_channels: int = 10,
        recon: str = "bce",
        normalize: bool = False,
        binarize: bool = False,
    ) -> None:
        super().__init__()
        if recon not in RECON_LOSSES:
            raise ValueError(f"recon must be one of {RECON_LOSSES}, got {recon!r}")
        if min(in_channels, hidden_channels, latent_channels) < 1:
            raise ValueError(
                "in_channels, hidden_channels and latent_channels must be >= 1, got "
                f"{in_channels}, {hidden_channels}, {latent_channels}"
            )
        # Plain Python values (not NumPy or tensor scalars): the config is saved next to the
        # weights and must read back under weights_only loading.
        self.in_channels = in_channels = operator.index(in_channels)
        self.hidden_channels = hidden_channels = operator.index(hidden_channels)
        self.latent_channels = latent_channels = operator.index(latent_channels)
        self.recon, self.normalize, self.binarize = str(recon), bool(normalize), bool(binarize)
        if binarize and recon != "bce":
            raise ValueError("binarize=True models 0/1 indicators; it needs recon='bce'")
        self.enc = nn.Linear(2 * in_channels, hidden_channels)
        self.mean = nn.Linear(hidden_channels, latent_channels)
        self.log_var = nn.Linear(hidden_channels, latent_channels)
        self.dec = nn.Sequential(
            nn.Linear(latent_channels + in_channels, hidden_channels),
            nn.ReLU(),
            nn.Linear(hidden_channels, in_channels),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for mod in (self.enc, self.mean, self.log_var, self.dec[0], self.dec[2]):
            mod.reset_parameters()

    @property
    def config(self) -> dict:
        """Constructor arguments, saved next to the weights."""
        return {
            "in_channels": self.in_channels,
            "hidden_channels": self.hidden_channels,
            "latent_channels": self.latent_channels,
            "recon": self.recon,
            "normalize": self.normalize,
            "binarize": self.binarize,
        }

    def _check(self, x: Tensor, name: str) -> None:
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(
                f"{name} must have shape (B, {self.in_channels}), got {tuple(x.shape)}"
            )

    def _in(self, x: Tensor) -> Tensor:
        return (x > 0).to(x.dtype) if self.binarize else x

    def decode(self, z: Tensor, x_center: Tensor) -> Tensor:
        """Decoder logits (bce) or values (mse) for latents ``z`` (B, latent)."""
        return self.dec(torch.cat([z, x_center], dim=-1))  # (B, F)

    def forward(self, x_nbr: Tensor, x_center: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        self._check(x_nbr, "x_nbr")
        self._check(x_center, "x_center")
        x_nbr, x_center = self._in(x_nbr), self._in(x_center)
        h = F.relu(self.enc(torch.cat([x_nbr, x_center], dim=-1)))  # (B, hidden)
        mu, log_var = self.mean(h), self.log_var(h)  # (B, latent) each
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        return self.decode(z, x_center), mu, log_var

    def loss(self, x_nbr: Tensor, x_center: Tensor) -> Tensor:
        """Negative ELBO per pair: reconstruction + KL, summed over features, mean over pairs."""
        out, mu, log_var = self(x_nbr, x_center)
        x_nbr = self._in(x_nbr)
        if self.recon == "bce":
            rec = F.binary_cross_entropy_with_logits(out, x_nbr, reduction="sum")
        else:
            rec = F.mse_loss(out, x_nbr, reduction="sum")
        kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
        return (rec + kl) / x_nbr.size(0)

    def sample(self, x_center: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One generated neighbour feature vector per centre, ``z ~ N(0, I)``.

        Gradients do not flow into the generator (it is pre-trained, then frozen). Pass a seeded
        ``generator`` to draw the same features again. The decoder's first layer is split as
        ``W_z z + (W_c x_center + b)``; the second term does not depend on the draw and is cached
        per feature tensor, so repeated draws for the same graph cost one ``z`` product and the
        output layer.

        Shapes:
            - **input:** x_center (N, F)
            - **output:** (N, F)
        """
        self._check(x_center, "x_center")
        with torch.no_grad():
            z = torch.randn(
                x_center.size(0),
                self.latent_channels,
                generator=generator,
                device=x_center.device,
                dtype=x_center.dtype,
            )  # (N, latent)
            first, last = self.dec[0], self.dec[2]
            cond = self._condition(x_center)  # (N, hidden)
            h = torch.addmm(cond, z, first.weight[:, : self.latent_channels].t()).relu_()
            out = last(h)  # (N, F)
            if self.recon == "bce":
                out = out.sigmoid_()
            if self.normalize:  # in place: rows summing to zero stay zero
                s = out.sum(1, keepdim=True)
                out.div_(s.masked_fill_(s == 0, 1.0))
        return out

    def _condition(self, x_center: Tensor) -> Tensor:
        """``W_c x_center + b`` of the decoder's first layer, cached per feature tensor."""
        key = (x_center.data_ptr(), tuple(x_center.shape), x_center._version, self._weights_key())
        cached = getattr(self, "_cond_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        first = self.dec[0]
        w_c = first.weight[:, self.latent_channels :]  # (hidden, F)
        cond = torch.addmm(first.bias, self._in(x_center), w_c.t())  # (N, hidden)
        self._cond_cache = (key, cond)
        return cond

    def _weights_key(self) -> tuple:
        w = self.dec[0].weight
        return (w.data_ptr(), w._version, self.dec[0].bias._version)

    def save(self, path: str | os.PathLike, **extra) -> None:
        """Write the weights and config (plus JSON-like ``extra`` metadata) to ``path``.

        Everything written reads back under :meth:`load`'s ``weights_only`` loading: paths in
        ``extra`` are stored as strings and NumPy scalars as Python numbers; any other value
        that loading would refuse raises :class:`TypeError` here and nothing is written.
        """
        path = Path(path)
        blob = {
            "config": _plain(self.config, "config"),
            "state_dict": self.state_dict(),
            "extra": _plain(extra, "extra"),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(blob, tmp)
        tmp.replace(path)  # atomic: a crash never leaves a half-written checkpoint

    @classmethod
    def load(cls, path: str | os.PathLike) -> NeighborGenerator:
        """Rebuild a generator saved with :meth:`save` (``weights_only`` loading).

        Loading does not touch the global random stream: the freshly built module's random
        initialisation, overwritten by the saved weights, runs under a forked RNG state, so a
        run that loads a generator draws the same numbers as one that trained it.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no generator checkpoint at {path}")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or not {"config", "state_dict"} <= set(blob):
            raise ValueError(f"{path} is not a NeighborGenerator checkpoint")
        with torch.random.fork_rng(devices=[]):
            gen = cls(**blob["config"])
        gen.load_state_dict(blob["state_dict"])
        gen.extra = blob.get("extra", {})
        return gen.eval()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, hidden={self.hidden_channels}, "
            f"latent={self.latent_channels}, recon={self.recon!r})"
        )


def _plain(value, where: str):
    """``value`` as ``torch.load(weights_only=True)`` reads it back, or :class:`TypeError`.

    Paths become strings, NumPy scalars Python numbers, tensors are detached; dicts (string or
    integer keys), lists and tuples are converted item by item. ``where`` names the value in
    the error.
    """
    if value is None or type(value) in (bool, int, float, str, bytes):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if type(k) not in (str, int):
                raise TypeError(f"{where}: key {k!r} must be a str or int to be saved")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(
        f"{where} is a {type(value).__name__}, which weights_only loading refuses; save "
        "str, int, float, bool, None, paths, tensors, or lists, tuples and dicts of them"
    )
