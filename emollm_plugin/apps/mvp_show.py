"""`emollm mvp show`: a picture of what MVP does to an image or a clip.

For an image: one panel per merge step s, each patch coloured by the step-s cluster it ends up in
(patch -> step-1 cluster -> ... -> step-s cluster, following DPC-KNN's assignments), the cluster
centres (mean position of their patches) and the relation graph's edges between them (eq. 4 at
the config's tau and graph normalisation). For a clip: the events on a frame timeline, then one
panel per event showing its middle frame, each patch coloured by the event-level cluster of
merge step 1 (patch -> frame cluster -> event cluster).

The projector computes what is drawn: ``MVPProjector.forward(..., return_trace=True)`` on the
vision tower's patch tokens (layer ``mm_vision_select_layer``, no CLS token, as LLaVA feeds its
projector) returns the clusters, centres and graphs (``MVPTrace``). The clustering does not
depend on the projector's weights, so without a loaded model a fresh ``MVPProjector`` built from
an ``MVPConfig`` (a checkpoint's ``config.json``, or given directly) gives the same picture. The
same functions that draw the picture return the structure drawn (``ImageView`` / ``ClipView``),
so it can be checked.

    emollm mvp show (--model CKPT | --vision-tower CLIP_DIR) INPUT [--out PNG]   (default: ./INPUT_mvp.png)

``render_mvp(media, show)`` is the function for other apps (the web demo): ``media`` is a PIL
image or a list of PIL frames; it returns ``(PIL image of the picture, view)``. An app holding a
loaded model builds ``show`` with ``MVPShow.from_model(model, image_processor)``.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ..configs.mvp import VARIANTS, MVPConfig
from ..configs.recorded import VIDEO_FRAMES_HELP, checkpoint_value, num_video_frames
from ..constants import NUM_VIDEO_FRAMES, VIDEO_FRAMES_CONFIG_KEY
from ..projectors.mvp.module import MVPProjector, MVPTrace

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


@dataclass
class StepView:
    """One merge step of one image: cluster of every patch (grid), centres (x, y in patches),
    graph edges (i < j) between clusters."""
    num_clusters: int
    patch_cluster: np.ndarray            # (grid, grid) ints in [0, num_clusters)
    centres: np.ndarray                  # (num_clusters, 2)
    edges: list[tuple[int, int]]


@dataclass
class ImageView:
    steps: list[StepView]


@dataclass
class ClipView:
    """Events (frame indices, time order) and, per event, the step-1 event cluster of every patch
    of its middle frame."""
    num_frames: int
    events: list[list[int]]
    event_frames: list[int]              # the frame shown for each event
    event_patch_cluster: list[np.ndarray] = field(default_factory=list)  # (grid, grid) each


class MVPShow:
    """A vision tower, its image processor and the MVP projector whose clustering is drawn
    (default: a fresh one with ``config``; the weights do not change the clustering)."""

    def __init__(self, tower, processor, config: MVPConfig, select_layer: int = -2,
                 projector: Optional[MVPProjector] = None):
        self.tower, self.processor, self.config, self.select_layer = tower, processor, config, select_layer
        self.projector = projector

    def _projector_for(self, width: int) -> MVPProjector:
        if self.projector is None:
            self.projector = MVPProjector(width, 1, self.config)
        return self.projector

    @torch.no_grad()
    def trace(self, tokens: torch.Tensor, clip: bool = False) -> MVPTrace:
        """The projector's trace for B x N x C image tokens, or T x N x C tokens of one clip."""
        projector = self._projector_for(tokens.shape[-1])
        weight = next(projector.parameters())
        tokens = tokens.to(device=weight.device, dtype=weight.dtype)
        forward = projector.forward_video if clip else projector.forward
        _, trace = forward(tokens, return_trace=True)
        return trace

    @classmethod
    def from_vision_tower(cls, path: str | Path, config: Optional[MVPConfig] = None,
                          select_layer: int = -2) -> "MVPShow":
        """A local CLIP folder (weights + preprocessor config), e.g. LLaVA's ``--vision_tower``."""
        from transformers import CLIPImageProcessor, CLIPVisionModel
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"vision tower folder not found: {path} (give a local CLIP "
                                    "folder, e.g. models/clip-vit-large-patch14)")
        tower = CLIPVisionModel.from_pretrained(str(path)).eval()
        return cls(tower, CLIPImageProcessor.from_pretrained(str(path)), config or MVPConfig(),
                   select_layer)

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> "MVPShow":
        """A trained checkpoint folder: its ``config.json`` names the vision tower, the layer and
        every ``mvp_*`` setting (the trained projector's weights are not needed)."""
        config_file = Path(path) / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(f"{config_file} not found: --model takes a checkpoint folder")
        hf = json.loads(config_file.read_text())
        tower = hf.get("mm_vision_tower") or hf.get("vision_tower")
        if not tower:
            raise ValueError(f"{config_file} names no mm_vision_tower: not a LLaVA checkpoint")
        if hf.get("mm_projector_type") not in (None, "mvp"):
            raise ValueError(f"{config_file}: mm_projector_type is {hf['mm_projector_type']!r}, "
                             "not 'mvp'; there is no MVP clustering to show")
        return cls.from_vision_tower(tower, MVPConfig.from_model_config(hf),
                                     int(hf.get("mm_vision_select_layer", -2)))

    @classmethod
    def from_model(cls, model, image_processor) -> "MVPShow":
        """A loaded LLaVA/EmoLLM model (e.g. from ``load_pretrained_model``): its own CLIP tower,
        select layer and ``mvp_*`` settings (for apps that already hold the model)."""
        tower = model.get_vision_tower()
        clip = getattr(tower, "vision_tower", tower)                      # LLaVA's wrapper
        projector = model.get_model().mm_projector
        return cls(clip, image_processor, MVPConfig.from_model_config(model.config),
                   int(getattr(model.config, "mm_vision_select_layer", -2)),
                   projector if isinstance(projector, MVPProjector) else None)

    @torch.no_grad()
    def patch_tokens(self, images: Sequence) -> tuple[torch.Tensor, np.ndarray]:
        """(B x N x C patch tokens, B x H x W x 3 uint8 of the processed crops)."""
        pixels = self.processor(images=list(images), return_tensors="pt")["pixel_values"]
        out = self.tower(pixels.to(device=self.tower.device, dtype=self.tower.dtype),
                         output_hidden_states=True)
        tokens = out.hidden_states[self.select_layer][:, 1:].float().cpu()
        mean = torch.tensor(self.processor.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.processor.image_std).view(1, 3, 1, 1)
        shown = ((pixels * std + mean).clamp(0, 1) * 255).byte().permute(0, 2, 3, 1).numpy()
        return tokens, shown

    def image_view(self, tokens: torch.Tensor) -> ImageView:
        """tokens: 1 x N x C of one image."""
        grid = _grid(tokens.shape[1])
        trace = self.trace(tokens)
        of_patch = torch.arange(tokens.shape[1])
        positions = torch.stack([of_patch % grid, of_patch // grid], -1).float() + 0.5  # (N, 2)
        steps = []
        for s, assign in enumerate(trace.assignments):
            m = trace.centres[s].shape[1]
            of_patch = assign[0].cpu()[of_patch]                          # patch -> step-s cluster
            members = torch.nn.functional.one_hot(of_patch, m).float()   # (N, m)
            centres = (members.T @ positions) / members.sum(0).unsqueeze(1)
            steps.append(StepView(m, of_patch.reshape(grid, grid).numpy(), centres.numpy(), trace.edges(s)))
        return ImageView(steps)

    def clip_view(self, tokens: torch.Tensor) -> ClipView:
        """tokens: T x N x C of one clip (frames in time order)."""
        T, N, _ = tokens.shape
        trace = self.trace(tokens, clip=True)
        frame_assign = trace.assignments[0].cpu()                            # (T, N)
        m = trace.centres[0].shape[1]
        view = ClipView(T, trace.events, [])
        for frames, event_assign in zip(trace.events, trace.event_assignments[0]):
            middle = len(frames) // 2
            shown = int(frames[middle])
            of_patch = event_assign.cpu()[middle * m + frame_assign[shown]]  # (N,)
            view.event_frames.append(shown)
            view.event_patch_cluster.append(of_patch.reshape(_grid(N), _grid(N)).numpy())
        return view


def render_mvp(media, show: MVPShow, out: str | Path | None = None):
    """Draw MVP's clustering of ``media`` (a PIL image, or a list of PIL frames of one clip).

    Returns ``(picture, view)``: the picture as a PIL image (also written to ``out`` as PNG when
    given) and the ``ImageView`` / ``ClipView`` it shows.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    frames = list(media) if isinstance(media, (list, tuple)) else [media]
    if not frames:
        raise ValueError("render_mvp needs an image or at least one frame")
    tokens, shown = show.patch_tokens([f.convert("RGB") for f in frames])
    if isinstance(media, (list, tuple)):
        view = show.clip_view(tokens)
        figure = _draw_clip(plt, view, shown, show.config)
    else:
        view = show.image_view(tokens)
        figure = _draw_image(plt, view, shown[0], show.config)
    figure.canvas.draw()
    picture = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())[..., :3].copy())
    plt.close(figure)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        picture.save(out, format="PNG", optimize=True)
    return picture, view


def _grid(num_tokens: int) -> int:
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ValueError(f"{num_tokens} patch tokens do not form a square grid")
    return side


def _colours(count: int) -> np.ndarray:
    import matplotlib
    cmap = matplotlib.colormaps["tab20"] if count <= 20 else matplotlib.colormaps["hsv"]
    return np.array([cmap(i / max(count, 1) if count > 20 else i)[:3] for i in range(count)])


def _overlay(ax, image: np.ndarray, patch_cluster: np.ndarray, count: int) -> None:
    grid = patch_cluster.shape[0]
    colours = _colours(count)[patch_cluster]                               # (g, g, 3)
    ax.imshow(image, extent=(0, grid, grid, 0))
    ax.imshow(colours, extent=(0, grid, grid, 0), alpha=0.55, interpolation="nearest")
    ax.set_xlim(0, grid)
    ax.set_ylim(grid, 0)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_image(plt, view: ImageView, image: np.ndarray, config: MVPConfig):
    figure, axes = plt.subplots(1, len(view.steps), figsize=(3.2 * len(view.steps), 3.4), dpi=80)
    axes = np.atleast_1d(axes)
    for s, (ax, step) in enumerate(zip(axes, view.steps)):
        _overlay(ax, image, step.patch_cluster, step.num_clusters)
        for i, j in step.edges:
            ax.plot(*zip(step.centres[i], step.centres[j]), color="white", lw=0.8, alpha=0.9)
        ax.scatter(step.centres[:, 0], step.centres[:, 1], s=12, c="black", edgecolors="white",
                   linewidths=0.6, zorder=3)
        per_node = 2 * len(step.edges) / step.num_clusters
        ax.set_title(f"step {s + 1}: {step.num_clusters} clusters\n"
                     f"{per_node:.2f} edges/node (tau={config.tau}, {config.graph_norm})",
                     fontsize=8)
    figure.suptitle(f"MVP ({config.variant}) merge steps", fontsize=9)
    figure.tight_layout()
    return figure


def _draw_clip(plt, view: ClipView, frames: np.ndarray, config: MVPConfig):
    count = len(view.events)
    figure = plt.figure(figsize=(max(3.2 * count, 6.4), 4.2), dpi=80)
    timeline = figure.add_axes((0.05, 0.82, 0.9, 0.08))
    colours = _colours(max(count, 2))
    for e, members in enumerate(view.events):
        for t in members:
            timeline.axvspan(t, t + 1, color=colours[e], lw=0)
    timeline.set_xlim(0, view.num_frames)
    timeline.set_yticks([])
    timeline.set_xlabel("frame", fontsize=8)
    timeline.set_title(f"{count} event(s) over {view.num_frames} frames "
                       f"({'contiguous' if config.contiguous_events else 'grouped'})", fontsize=8)
    for e, (shown, patch_cluster) in enumerate(zip(view.event_frames, view.event_patch_cluster)):
        ax = figure.add_axes((0.05 + e * 0.9 / count, 0.04, 0.9 / count * 0.95, 0.56))
        _overlay(ax, frames[shown], patch_cluster, config.num_clusters[0])
        ax.set_title(f"event {e + 1}: frames {view.events[e][0]}-{view.events[e][-1]}\n"
                     f"frame {shown}, {config.num_clusters[0]} event clusters", fontsize=8)
        for spine in ax.spines.values():
            spine.set_color(colours[e])
            spine.set_linewidth(3)
    return figure


def _load_media(path: Path, num_frames: int):
    from PIL import Image

    from ..media.video import sample_frames
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        with Image.open(path) as opened:
            return opened.convert("RGB")
    return sample_frames(path, num_frames=num_frames)


def default_out(media: Path, cwd: Path) -> Path:
    """NAME_mvp.png in ``cwd``; refused when ``cwd`` is the input's own folder."""
    if media.resolve().parent == cwd.resolve():
        raise SystemExit(f"emollm mvp show: the current directory holds {media.name}; a picture written here "
                         "would be taken as input by the next `emollm predict` on it. Pass --out PNG elsewhere.")
    return cwd / f"{media.stem}_mvp.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emollm mvp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("show", help="draw MVP's clusters, graphs and events for an image or clip")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="trained checkpoint folder (its config.json is read)")
    source.add_argument("--vision-tower", help="local CLIP folder (MVP settings: defaults or flags)")
    p.add_argument("input", help="an image or a video clip")
    p.add_argument("--out", default=None, help="PNG to write (default: INPUT_mvp.png in the current directory; "
                                               "never in the input's folder, where predict would take it as input)")
    p.add_argument("--num-video-frames", type=int, default=None,
                   help=f"{VIDEO_FRAMES_HELP}; {NUM_VIDEO_FRAMES} with --vision-tower")
    p.add_argument("--select-layer", type=int, default=-2,
                   help="vision tower layer with --vision-tower (default: -2, as LLaVA v1.5)")
    flags = MVPConfig.cli_fields()                     # named mvp_<field>, as in training
    for flag in flags:
        if flag.type == list[int]:
            p.add_argument(f"--{flag.name}", type=int, nargs="+", default=None, help=flag.help)
        else:
            p.add_argument(f"--{flag.name}", default=None, help=flag.help)
    args = parser.parse_args(argv)
    overrides = {flag.name: getattr(args, flag.name) for flag in flags
                 if getattr(args, flag.name) is not None}
    if args.model:
        show = MVPShow.from_checkpoint(args.model)
        if overrides:
            base = show.config.to_dict()
            if overrides.get("mvp_variant") in VARIANTS:  # a new variant re-derives its switches
                for switch in VARIANTS[overrides["mvp_variant"]]:
                    base.pop("mvp_" + switch)
            show = MVPShow(show.tower, show.processor,
                           MVPConfig.from_model_config({**base, **overrides}), show.select_layer)
    else:
        show = MVPShow.from_vision_tower(args.vision_tower, MVPConfig.from_model_config(overrides),
                                         args.select_layer)
    path = Path(args.input)
    out = Path(args.out) if args.out else default_out(path, Path.cwd())
    recorded = checkpoint_value(args.model, VIDEO_FRAMES_CONFIG_KEY) if args.model else None
    _, view = render_mvp(_load_media(path, num_video_frames(args.num_video_frames, recorded)), show, out)
    if isinstance(view, ClipView):
        print(f"{out}: {len(view.events)} event(s): {view.events}")
    else:
        print(f"{out}: " + ", ".join(f"step {s + 1}: {v.num_clusters} clusters, {len(v.edges)} edges"
                                     for s, v in enumerate(view.steps)))
    return 0
