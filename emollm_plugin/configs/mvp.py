"""Hyperparameters of the MVP projector, stored in the model config as ``mvp_<field>`` keys.

A saved LLaVA config then carries everything needed to rebuild the projector that was trained:
``MVPConfig.from_model_config(cfg)`` reads the keys back (a missing key takes the default), and
``cfg.write_to(hf_config)`` writes every field as a JSON-serialisable value (tuples as lists).
This module imports nothing heavy: it is read by argument parsing before torch is needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from .base import ModelConfigFields, fail

PREFIX = "mvp_"
CONTENT_PROJECTIONS = ("linear", "mlp2x_gelu")
# What each --mvp_variant sets; a switch given explicitly overrides its variant's value.
VARIANTS: dict[str, dict[str, str]] = {
    # EmoLLM eq. 2, 4, 5 and 6 as printed
    "paper": {"delta": "squared", "knn_self": "exclude", "distance_scale": "none",
              "graph_norm": "all_pairs", "gcn_self_loop": "add", "gcn_bias": "off",
              "gcn_last_activation": "on"},
    # Chat-UniVi's DPC-KNN; min-max over off-diagonal pairs; a Kipf & Welling GCN with bias
    # whose last layer stays linear
    "chatunivi": {"delta": "distance", "knn_self": "include", "distance_scale": "sqrt_dim",
                  "graph_norm": "off_diagonal", "gcn_self_loop": "set", "gcn_bias": "on",
                  "gcn_last_activation": "off"},
}
# the GCN of every checkpoint saved before the three gcn_* switches existed
LEGACY_GCN = {"gcn_self_loop": "set", "gcn_bias": "on", "gcn_last_activation": "off"}
CHOICES = {"delta": ("squared", "distance"), "knn_self": ("exclude", "include"),
           "distance_scale": ("none", "sqrt_dim"), "graph_norm": ("all_pairs", "off_diagonal"),
           "gcn_self_loop": ("add", "set"), "gcn_bias": ("on", "off"),
           "gcn_last_activation": ("on", "off")}


@dataclass(frozen=True)
class MVPConfig(ModelConfigFields):
    """Multi-perspective visual projection (EmoLLM, arXiv 2406.16442), one field per knob.

    Args:
        num_clusters: clusters M_s of the chained merge steps, strictly decreasing
            (default: ``(64, 32, 16)``; 112 tokens per image).
        knn: neighbours K_s of DPC-KNN's density, one per step (default: ``(5, 3, 3)``).
        tau: edge threshold on min-max normalised distances, in [0, 1] (default: ``0.1``).
        alpha: weight of the content perspective in h = alpha * R_content + R_relation
            (default: ``1.0``).
        gcn_layers: graph-convolution layers of the relation perspective (default: ``2``).
        content_proj: ``"linear"`` (the paper's W) or ``"mlp2x_gelu"`` (LLaVA v1.5's projector
            shape, e.g. to start from its pretrained weights) (default: ``"linear"``).
        frames_per_event: a clip of T frames is split into ceil(T / frames_per_event) events
            (default: ``16``).
        event_knn: neighbours K of DPC-KNN over frame vectors, capped at T (default: ``5``).
        contiguous_events: events are runs of consecutive frames (default: ``True``; ``False``
            lets DPC-KNN group any frames, as Chat-UniVi's code does).
        variant: ``"paper"`` (eqs. 2 and 4-6 as printed) or ``"chatunivi"`` (Chat-UniVi's
            DPC-KNN, off-diagonal graph normalisation, a GCN with bias and a linear last
            layer); sets the seven switches below
            (default: ``"chatunivi"``, see docs/mvp.md for the measured reason).
        delta: ``"squared"`` (eq. 2) or ``"distance"`` (Chat-UniVi) (default: from ``variant``).
        knn_self: ``"exclude"`` z_i from its own K neighbours (eq. 2) or ``"include"`` it
            (Chat-UniVi) (default: from ``variant``).
        distance_scale: ``"none"`` (eq. 2) or ``"sqrt_dim"``, distances divided by sqrt(C)
            (Chat-UniVi) (default: from ``variant``).
        graph_norm: min-max of eq. 4 over ``"all_pairs"`` (as printed) or ``"off_diagonal"``
            pairs (default: from ``variant``).
        gcn_self_loop: ``"add"``: the GCN's Â = A + I with A from eq. 5 over all pairs, whose
            diagonal is 1 (d̃_ii = 0 <= τ), so Â's diagonal is 2 (eq. 6 as printed); ``"set"``:
            Â's diagonal is 1, the conventional self-loop (default: from ``variant``).
        gcn_bias: ``"on"``: each GCN layer adds a bias; ``"off"``: none, as eq. 6
            (default: from ``variant``).
        gcn_last_activation: ``"on"``: σ after every GCN layer, the last included, as eq. 6;
            ``"off"``: the last layer stays linear (default: from ``variant``).

    An empty switch takes its value from ``variant``; the resolved values are stored, so a saved
    config rebuilds the same projector even if a variant's meaning changes later.

    Reading, writing and CLI flags (``from_model_config``, ``write_to``, ``cli_fields``) come
    from ``configs.base.ModelConfigFields``: keys and flags are ``mvp_<field>``.
    """

    PREFIX = PREFIX

    num_clusters: tuple[int, ...] = field(default=(64, 32, 16), metadata={
        "help": "clusters per chained merge step, strictly decreasing (default: 64 32 16)"})
    knn: tuple[int, ...] = field(default=(5, 3, 3), metadata={
        "help": "DPC-KNN neighbours per merge step, one per step (default: 5 3 3)"})
    tau: float = field(default=0.1, metadata={
        "help": "graph edge threshold on min-max normalised token distances, in [0, 1] "
                "(default: 0.1)"})
    alpha: float = field(default=1.0, metadata={
        "help": "weight of the content perspective: h = alpha * R_content + R_relation "
                "(default: 1.0)"})
    gcn_layers: int = field(default=2, metadata={
        "help": "graph-convolution layers of the relation perspective (default: 2)"})
    content_proj: str = field(default="linear", metadata={
        "help": "content projection: 'linear' (the paper's W) or 'mlp2x_gelu' "
                "(default: linear)"})
    frames_per_event: int = field(default=16, metadata={
        "help": "a clip of T frames becomes ceil(T / frames_per_event) events (default: 16)"})
    event_knn: int = field(default=5, metadata={
        "help": "DPC-KNN neighbours when clustering frames into events (default: 5)"})
    contiguous_events: bool = field(default=True, metadata={
        "help": "events are runs of consecutive frames; False groups any similar frames as "
                "Chat-UniVi does (default: True)"})
    variant: str = field(default="chatunivi", metadata={
        "help": "'paper' (EmoLLM eqs. 2 and 4-6 as printed) or 'chatunivi' (Chat-UniVi's "
                "DPC-KNN, off-diagonal graph min-max, GCN with bias and a linear last layer); "
                "sets --mvp_delta, --mvp_knn_self, --mvp_distance_scale, --mvp_graph_norm, "
                "--mvp_gcn_self_loop, --mvp_gcn_bias and --mvp_gcn_last_activation unless they "
                "are given (default: chatunivi)"})
    delta: str = field(default="", metadata={
        "help": "DPC-KNN delta over 'squared' (eq. 2) or unsquared 'distance' (Chat-UniVi) "
                "distances (default: from --mvp_variant)"})
    knn_self: str = field(default="", metadata={
        "help": "'exclude' z_i from its own K nearest neighbours (eq. 2) or 'include' it "
                "(Chat-UniVi) (default: from --mvp_variant)"})
    distance_scale: str = field(default="", metadata={
        "help": "DPC-KNN distances unscaled ('none', eq. 2) or divided by sqrt(C) "
                "('sqrt_dim', Chat-UniVi) (default: from --mvp_variant)"})
    graph_norm: str = field(default="", metadata={
        "help": "graph min-max over 'all_pairs' (eq. 4 as printed) or 'off_diagonal' pairs "
                "(default: from --mvp_variant)"})
    gcn_self_loop: str = field(default="", metadata={
        "help": "GCN self-loops: 'add' (A + I with eq. 5's A, diagonal 2, eq. 6 as printed) or "
                "'set' (diagonal 1) (default: from --mvp_variant)"})
    gcn_bias: str = field(default="", metadata={
        "help": "bias in each GCN layer: 'on' or 'off' (eq. 6) (default: from --mvp_variant)"})
    gcn_last_activation: str = field(default="", metadata={
        "help": "activation after the last GCN layer too: 'on' (eq. 6) or 'off' "
                "(default: from --mvp_variant)"})

    def __post_init__(self) -> None:
        self._coerce_fields()
        if self.variant not in VARIANTS:
            _fail("variant", self.variant, f"one of {list(VARIANTS)}")
        for name, value in VARIANTS[self.variant].items():
            if getattr(self, name) == "":
                object.__setattr__(self, name, value)
        self._validate()

    def _validate(self) -> None:
        m, k = self.num_clusters, self.knn
        if not m or any(v < 1 for v in m):
            _fail("num_clusters", m, "one or more positive integers, e.g. 64 32 16")
        if any(a <= b for a, b in zip(m, m[1:])):
            _fail("num_clusters", m, "strictly decreasing counts (each step merges the "
                  "previous step's clusters), e.g. 64 32 16")
        if len(k) != len(m):
            _fail("knn", k, f"one neighbour count per merge step ({len(m)} values, matching "
                  f"mvp_num_clusters={list(m)})")
        if any(v < 1 for v in k):
            _fail("knn", k, "positive integers, e.g. 5 3 3")
        for s in range(1, len(m)):
            if k[s] > m[s - 1]:
                _fail("knn", k, f"knn[{s}] <= {m[s - 1]}: step {s} clusters the {m[s - 1]} "
                      "tokens of the previous step")
        if not 0.0 <= self.tau <= 1.0:
            _fail("tau", self.tau, "a value in [0, 1] (distances are min-max normalised)")
        if not math.isfinite(self.alpha):
            _fail("alpha", self.alpha, "a finite number, e.g. 1.0")
        if self.gcn_layers < 1:
            _fail("gcn_layers", self.gcn_layers, "1 or more")
        if self.content_proj not in CONTENT_PROJECTIONS:
            _fail("content_proj", self.content_proj, f"one of {list(CONTENT_PROJECTIONS)}")
        if self.frames_per_event < 1:
            _fail("frames_per_event", self.frames_per_event, "1 or more, e.g. 16")
        if self.event_knn < 1:
            _fail("event_knn", self.event_knn, "1 or more, e.g. 5")
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                _fail(name, getattr(self, name), f"one of {list(allowed)}")

    @classmethod
    def from_model_config(cls, hf_config: Any) -> "MVPConfig":
        """As ``ModelConfigFields.from_model_config``; a config saved before the GCN switches
        existed (it has ``mvp_graph_norm`` but no ``mvp_gcn_self_loop``) was trained with a
        self-loop of 1, a bias and a linear last layer, whatever its variant."""
        config = super().from_model_config(hf_config)
        def has(key):
            return key in hf_config if isinstance(hf_config, dict) else hasattr(hf_config, key)
        if has(PREFIX + "graph_norm") and not has(PREFIX + "gcn_self_loop"):
            config = replace(config, **LEGACY_GCN)
        return config

    @property
    def num_tokens(self) -> int:
        """Tokens per image (or per video event): sum of ``num_clusters``."""
        return sum(self.num_clusters)


def _fail(name: str, value: Any, expected: str) -> None:
    fail(PREFIX + name, value, expected)
