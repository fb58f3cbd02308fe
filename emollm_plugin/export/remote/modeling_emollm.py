r"""EmoLLM as a transformers model: CLIP vision tower, MVP projector, Whisper encoder, audio
projector and Llama, in one ``PreTrainedModel`` (remote code of an exported folder; imports torch
and transformers only).

Media path (shapes for one sample; the batch keeps one medium of each kind per sample at most):

  image  pixel_values 3 x H x W  -> CLIP hidden state ``vision_feature_layer`` (N x C, CLS dropped
         for ``vision_feature_select="patch"``) -> projector -> L x D
  clip   T x 3 x H x W           -> T x N x C -> MVP's video path -> (E * L) x D
  audio  input_features n_mels x 3000 (WhisperFeatureExtractor, the 30 s window) and the clip's
         covered frame count F (``audio_feature_lengths``) -> WhisperEncoder -> first F / 2 rows
         (F/2 x d), minus the encoder's first F/2 rows for silence when the projector standardises
         -> pooled to min(F/2, N_a) rows -> ((p - shift) * scale when it standardises) -> audio
         projector MLP -> min(F/2, N_a) x D

Each placeholder id (``image_token_index``, ``video_token_index``, ``audio_token_index``) in
``input_ids`` is replaced by its medium's rows; text ids are embedded; the sequence is cut to
``tokenizer_model_max_length`` and padded on the left (the splice LLaVA's training and evaluation
use).

MVP (EmoLLM, arXiv 2406.16442, §3.2; the switches the checkpoint recorded):

.. math::
    Z_s = \mathrm{DPCKNN}_{M_s, K_s}(Z_{s-1}),\ Z_0 = X,\qquad Z = [Z_1 | Z_2 | Z_3]
    \in \mathbb{R}^{B \times L \times C}

.. math::
    h = \alpha\, P(Z) + \mathrm{GCN}(Z, A) \in \mathbb{R}^{B \times L \times D}

DPC-KNN (eq. 2): :math:`\rho_i = \exp(-\frac{1}{K}\sum_{k \in KNN(i)} d_{ik}^2)`, :math:`\delta_i`
the distance to the nearest denser token (the largest for the densest), centres the top-M of
:math:`\rho_i \delta_i` (ranked as :math:`\log\rho_i + \log\delta_i`), each token joins its
nearest centre, a cluster is the mean of its members. ``delta`` (squared | distance),
``knn_self`` (exclude | include z_i from its K neighbours) and ``distance_scale`` (none | sqrt_dim:
d^2 / C) pick the reading. Ties: the earlier token counts as denser / scores higher.

Graph (eq. 4): :math:`A_{ij} = [\hat d_{ij} \le \tau][i \ne j]`, :math:`\hat d` the min-max of
the step's pairwise distances over ``graph_norm`` pairs (all_pairs | off_diagonal); A is
block-diagonal over the steps. GCN layer: :math:`H' = \hat D^{-1/2}\hat A\hat D^{-1/2} H W (+ b)`,
:math:`\hat A` = A with diagonal 1 (``gcn_self_loop`` set) or 2 (add: A + I over eq. 5's unit
diagonal); the bias only with ``gcn_bias`` on; GELU between layers, and after the last one with
``gcn_last_activation`` on. A clip of T frames becomes E = ceil(T / frames_per_event) events (DPC-KNN
over the frame means, contiguous runs or nearest centre), each event's step-s tokens merged
again to M_s.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import CLIPVisionModel, GenerationMixin, LlamaForCausalLM, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from .configuration_emollm import EmoLLMConfig

IGNORE_INDEX = -100
SILENCE_FLOOR = -1.5  # (log10(1e-10) + 4) / 4: Whisper's log-mel of a zero frame


# ----- DPC-KNN ---------------------------------------------------------------------------------
def pairwise_sq_distances(z: Tensor) -> Tensor:
    """B x N x C -> B x N x N squared distances from the Gram matrix of the centred tokens
    (duplicates get exactly 0, the diagonal is 0)."""
    z = z - z.mean(dim=1, keepdim=True)
    d2 = torch.bmm(z, z.transpose(1, 2))
    sq = d2.diagonal(dim1=1, dim2=2).clone()
    d2.mul_(-2).add_(sq.unsqueeze(2)).add_(sq.unsqueeze(1)).clamp_min_(0)
    d2.diagonal(dim1=1, dim2=2).zero_()
    return d2


def pairwise_distances(z: Tensor) -> Tensor:
    return pairwise_sq_distances(z).sqrt_()


def _arange(n: int, like: Tensor) -> Tensor:
    return torch.arange(n, device=like.device).unsqueeze(0)


def density_peaks(sq_dist: Tensor, k: int, rule: dict, dim: int):
    """log(rho), delta and density rank (0 = densest), each B x N; masks sq_dist in place."""
    B, N, _ = sq_dist.shape
    inv_scale = 1.0 / dim if rule["distance_scale"] == "sqrt_dim" else 1.0
    diagonal = sq_dist.diagonal(dim1=1, dim2=2)
    if rule["knn_self"] == "exclude" and N > 1:
        diagonal.fill_(float("inf"))
        nearest = sq_dist.topk(min(k, N - 1), dim=-1, largest=False).values
        diagonal.zero_()
    elif rule["knn_self"] == "exclude":
        nearest = sq_dist.new_zeros(B, N, 1)
    else:
        nearest = sq_dist.topk(min(k, N), dim=-1, largest=False).values
    log_rho = nearest.mean(-1).mul_(-inv_scale)
    order = log_rho.argsort(dim=-1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, _arange(N, sq_dist).expand(B, N))
    densest_row = sq_dist.gather(1, order[:, :1, None].expand(B, 1, N))
    not_denser = rank.unsqueeze(1) >= rank.unsqueeze(2)
    nearest_denser = sq_dist.masked_fill_(not_denser, float("inf")).amin(-1)
    sq_delta = torch.where(rank == 0, densest_row.amax(-1).expand(B, N), nearest_denser)
    sq_delta = sq_delta * inv_scale
    delta = sq_delta if rule["delta"] == "squared" else sq_delta.sqrt()
    return log_rho, delta, rank


@torch.no_grad()
def dpc_knn_cluster(z: Tensor, num_clusters: int, k: int, rule: dict):
    """(assign B x N, centres B x M increasing) of B x N x C tokens."""
    B, N, C = z.shape
    M = num_clusters
    if not 1 <= M <= N:
        raise ValueError(f"DPC-KNN cannot make {M} clusters from {N} tokens")
    with torch.autocast(device_type=z.device.type, enabled=False):
        sq_dist = pairwise_sq_distances(z.float())
        log_rho, delta, rank = density_peaks(sq_dist, k, rule, C)
        log_score = log_rho + delta.log()
        top = log_score.argsort(dim=-1, descending=True, stable=True)[:, :M]
        centres = top.sort(dim=-1).values
        rows = sq_dist.gather(1, centres.unsqueeze(-1).expand(B, M, N))
        cols = sq_dist.gather(2, centres.unsqueeze(1).expand(B, N, M)).transpose(1, 2)
        centre_rank = rank.gather(1, centres)
        to_centres = torch.where(rank.unsqueeze(1) < centre_rank.unsqueeze(2), rows, cols)
        assign = to_centres.argmin(dim=1)
        assign.scatter_(1, centres, _arange(M, z).expand(B, M))
    return assign, centres


def merge_clusters(z: Tensor, assign: Tensor, num_clusters: int) -> Tensor:
    """Mean of each cluster's members: B x N x C -> B x M x C."""
    members = F.one_hot(assign, num_clusters).to(z.dtype)
    counts = members.sum(1).unsqueeze(-1)
    return torch.bmm(members.transpose(1, 2), z) / counts


def dpc_knn_merge(z: Tensor, num_clusters: int, k: int, rule: dict) -> Tensor:
    assign, _ = dpc_knn_cluster(z, num_clusters, k, rule)
    return merge_clusters(z, assign, num_clusters)


def multi_step_merge(x: Tensor, num_clusters: Sequence[int], knn: Sequence[int], rule: dict) -> List[Tensor]:
    """Chained merges: one float32 B x M_s x C tensor per step."""
    if x.shape[1] < num_clusters[0]:
        raise ValueError(f"MVP merges {x.shape[1]} tokens into {num_clusters[0]} clusters: too few tokens")
    steps = []
    with torch.autocast(device_type=x.device.type, enabled=False):
        z = x.float()
        for m, k in zip(num_clusters, knn):
            z = dpc_knn_merge(z, m, k, rule)
            steps.append(z)
    return steps


# ----- relation graph and GCN ------------------------------------------------------------------
@torch.no_grad()
def relation_adjacency(z: Tensor, tau: float, norm: str) -> Tensor:
    """0/1 adjacency B x M x M (zero diagonal) of B x M x C cluster tokens (eq. 4)."""
    with torch.autocast(device_type=z.device.type, enabled=False):
        B, M, _ = z.shape
        if M < 2:
            return z.new_zeros(B, M, M, dtype=torch.float32)
        d = pairwise_distances(z.float())
        off_diagonal = ~torch.eye(M, dtype=torch.bool, device=z.device)
        hi = d.amax(dim=(1, 2), keepdim=True)
        if norm == "all_pairs":
            lo = d.new_zeros(B, 1, 1)
        else:
            lo = d.masked_fill(~off_diagonal, float("inf")).amin(dim=(1, 2), keepdim=True)
        scaled = (d - lo) / (hi - lo).clamp_min(torch.finfo(d.dtype).tiny)
        return ((scaled <= tau) & off_diagonal).float()


def block_diagonal(adjacencies: List[Tensor]) -> Tensor:
    B = adjacencies[0].shape[0]
    L = sum(a.shape[-1] for a in adjacencies)
    out = adjacencies[0].new_zeros(B, L, L)
    start = 0
    for a in adjacencies:
        m = a.shape[-1]
        out[:, start:start + m, start:start + m] = a
        start += m
    return out


class DenseGCNLayer(nn.Module):
    """H' = D^-1/2 Â D^-1/2 H W (+ b), Â = A with its diagonal set to 1 (``self_loop="set"``) or to 2
    (``"add"``: A + I for eq. 5's unit diagonal), D_ii = max(1, sum_j Â_ij); B x L x F -> B x L x F'."""

    def __init__(self, in_dim: int, out_dim: int, self_loop: str = "set", bias: bool = True):
        super().__init__()
        self.lin = nn.Linear(in_dim, out_dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_dim)) if bias else None
        self.diagonal = 2.0 if self_loop == "add" else 1.0

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        B, N, _ = adj.shape
        adj = adj.clone()
        idx = torch.arange(N, dtype=torch.long, device=adj.device)
        adj[:, idx, idx] = self.diagonal
        out = self.lin(x)
        deg_inv_sqrt = adj.sum(dim=-1).clamp(min=1).pow(-0.5)
        adj = deg_inv_sqrt.unsqueeze(-1) * adj * deg_inv_sqrt.unsqueeze(-2)
        out = torch.matmul(adj, out)
        return out if self.bias is None else out + self.bias


class RelationGCN(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, num_layers: int, self_loop: str = "set", bias: bool = True,
                 last_activation: bool = False):
        super().__init__()
        widths = [in_dim] * num_layers + [out_dim]
        self.layers = nn.ModuleList(DenseGCNLayer(a, b, self_loop, bias) for a, b in zip(widths[:-1], widths[1:]))
        self.act = nn.GELU()
        self.last_activation = last_activation

    def forward(self, h: Tensor, adjacency: Tensor) -> Tensor:
        adjacency = adjacency.to(h.dtype)
        for i, layer in enumerate(self.layers):
            h = layer(h, adjacency)
            if i < len(self.layers) - 1 or self.last_activation:
                h = self.act(h)
        return h


# ----- video events ----------------------------------------------------------------------------
def num_events(num_frames: int, frames_per_event: int) -> int:
    return math.ceil(num_frames / frames_per_event)


def _contiguous_assignment(d: Tensor, centres: Tensor) -> Tensor:
    T = d.shape[0]
    cost = d[:, centres].cumsum(0)
    gain = cost[:, :-1] - cost[:, 1:]
    t = torch.arange(T, device=d.device).unsqueeze(1)
    inside = (t >= centres[:-1]) & (t < centres[1:])
    last_of_event = gain.masked_fill(~inside, float("inf")).argmin(0)
    return torch.searchsorted(last_of_event, t.flatten(), right=False)


@torch.no_grad()
def segment_events(frame_vectors: Tensor, count: int, k: int, contiguous: bool, rule: dict) -> List[Tensor]:
    """Frame indices of each event (ordered by first frame) from T x C frame vectors."""
    T = frame_vectors.shape[0]
    if count == 1:
        return [torch.arange(T, device=frame_vectors.device)]
    z = frame_vectors.float().unsqueeze(0)
    assign, centres = dpc_knn_cluster(z, count, k, rule)
    if contiguous:
        event_of_frame = _contiguous_assignment(pairwise_distances(z)[0], centres[0])
    else:
        event_of_frame = assign[0]
    events = [torch.nonzero(event_of_frame == e).flatten() for e in range(count)]
    return sorted(events, key=lambda frames: int(frames[0]))


def merge_events(step_tokens: Tensor, events: Sequence[Tensor], num_clusters: int, k: int, rule: dict) -> Tensor:
    """Each event's frames' tokens (T x M x C) merged again into num_clusters: E x M' x C."""
    T, M, C = step_tokens.shape
    sizes = [len(frames) for frames in events]
    pieces, positions = [], []
    for size in sorted(set(sizes)):
        group = [e for e, s in enumerate(sizes) if s == size]
        frames = torch.stack([events[e] for e in group])
        tokens = step_tokens[frames].reshape(len(group), size * M, C)
        pieces.append(dpc_knn_merge(tokens, num_clusters, k, rule))
        positions.extend(group)
    merged = torch.cat(pieces)
    order = torch.empty(len(events), dtype=torch.long)
    order[torch.tensor(positions)] = torch.arange(len(events))
    return merged[order.to(merged.device)]


# ----- projectors ------------------------------------------------------------------------------
def _projection(kind: str, in_dim: int, out_dim: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "mlp2x_gelu":
        return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))
    raise ValueError(f"unknown projection {kind!r}; use 'linear' or 'mlp2x_gelu'")


class MVPProjector(nn.Module):
    """B x N x C image tokens -> B x L x D; one clip T x N x C -> (E * L) x D (module doc)."""

    def __init__(self, in_dim: int, out_dim: int, settings: dict):
        super().__init__()
        self.settings = dict(settings)
        self.out_dim = out_dim
        self.content_proj = _projection(settings["content_proj"], in_dim, out_dim)
        self.gcn = RelationGCN(in_dim, out_dim, settings["gcn_layers"], settings.get("gcn_self_loop", "set"),
                               settings.get("gcn_bias", "on") == "on",
                               settings.get("gcn_last_activation", "off") == "on")
        self.rule = {key: settings[key] for key in ("delta", "knn_self", "distance_scale")}

    @property
    def num_tokens_image(self) -> int:
        return sum(self.settings["num_clusters"])

    def num_tokens_video(self, num_frames: int) -> int:
        return num_events(num_frames, self.settings["frames_per_event"]) * self.num_tokens_image

    def forward(self, x: Tensor) -> Tensor:
        s = self.settings
        return self.fuse(multi_step_merge(x, s["num_clusters"], s["knn"], self.rule), x.dtype)

    def forward_video(self, frames: Tensor) -> Tensor:
        s = self.settings
        count = num_events(frames.shape[0], s["frames_per_event"])
        steps = multi_step_merge(frames, s["num_clusters"], s["knn"], self.rule)
        events = segment_events(frames.detach().float().mean(1), count, s["event_knn"],
                                s["contiguous_events"], self.rule)
        with torch.autocast(device_type=frames.device.type, enabled=False):
            event_steps = [merge_events(tokens, events, m, k, self.rule)
                           for tokens, m, k in zip(steps, s["num_clusters"], s["knn"])]
        out = self.fuse(event_steps, frames.dtype)
        return out.reshape(count * self.num_tokens_image, self.out_dim)

    def fuse(self, steps: List[Tensor], dtype: torch.dtype) -> Tensor:
        s = self.settings
        adjacencies = [relation_adjacency(z, s["tau"], s["graph_norm"]) for z in steps]
        tokens = torch.cat(steps, dim=1).to(dtype)
        return s["alpha"] * self.content_proj(tokens) + self.gcn(tokens, block_diagonal(adjacencies))


class TokenProjector(nn.Module):
    """LLaVA's projectors (``linear``, ``mlp2x_gelu``): B x N x C -> B x N x D; a clip -> (T * N) x D."""

    def __init__(self, kind: str, in_dim: int, out_dim: int):
        super().__init__()
        self.proj = _projection(kind, in_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)

    def forward_video(self, frames: Tensor) -> Tensor:
        return self.proj(frames).flatten(0, 1)


class AudioProjector(nn.Module):
    """Per clip T' x d -> adaptive average pool to min(T', N) rows -> (input_norm "standardize":
    (p - shift) * scale, per feature) -> MLP -> min(T', N) x D."""

    def __init__(self, kind: str, in_dim: int, out_dim: int, num_tokens: int, input_norm: str = "none"):
        super().__init__()
        self.num_tokens = num_tokens
        self.input_norm = input_norm
        if input_norm == "standardize":
            self.input_shift = nn.Parameter(torch.zeros(in_dim))
            self.input_scale = nn.Parameter(torch.ones(in_dim))
        elif input_norm != "none":
            raise ValueError(f"unknown audio input norm {input_norm!r}; known: standardize, none")
        self.mlp = _projection(kind, in_dim, out_dim)

    def forward(self, features: List[Tensor]) -> List[Tensor]:
        dtype = next(self.parameters()).dtype
        pooled = []
        for clip in features:
            tokens = min(clip.shape[0], self.num_tokens)
            pooled.append(F.adaptive_avg_pool1d(clip.to(dtype).t()[None], tokens)[0].t())
        tokens = torch.cat(pooled)
        if self.input_norm == "standardize":
            tokens = (tokens - self.input_shift) * self.input_scale
        projected = self.mlp(tokens)
        return list(projected.split([p.shape[0] for p in pooled]))


# ----- the model -------------------------------------------------------------------------------
class EmoLLMPreTrainedModel(PreTrainedModel):
    config_class = EmoLLMConfig
    base_model_prefix = "emollm"
    _no_split_modules = ["LlamaDecoderLayer", "CLIPEncoderLayer", "WhisperEncoderLayer", "MVPProjector",
                         "AudioProjector"]
    _supports_sdpa = True

    def _init_weights(self, module):
        std = getattr(self.config.text_config, "initializer_range", 0.02)
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.data.zero_()


def _share_attention_choice(config: EmoLLMConfig) -> None:
    """The attention implementation from_pretrained chose for the whole model (e.g. sdpa) for the
    language model too, where its config chose none (transformers 5.x does this itself)."""
    chosen = getattr(config, "_attn_implementation_internal", None)
    if chosen and getattr(config.text_config, "_attn_implementation_internal", None) is None:
        config.text_config._attn_implementation_internal = chosen


class EmoLLMForConditionalGeneration(EmoLLMPreTrainedModel, GenerationMixin):
    """EmoLLM: answers a question about an image, a clip, a clip with sound, or sound alone."""

    def __init__(self, config: EmoLLMConfig):
        super().__init__(config)
        _share_attention_choice(config)
        self.vision_tower = CLIPVisionModel(config.vision_config)
        in_dim, out_dim = config.vision_config.hidden_size, config.text_config.hidden_size
        projector = dict(config.projector)
        if projector["type"] == "mvp":
            self.mm_projector = MVPProjector(in_dim, out_dim, projector)
        else:
            self.mm_projector = TokenProjector(projector["type"], in_dim, out_dim)
        if config.audio_config is not None:
            self.audio_tower = WhisperEncoder(config.audio_config)
            audio = config.audio_projector
            self.audio_projector = AudioProjector(audio["type"], config.audio_config.d_model, out_dim,
                                                  audio["num_tokens"], audio.get("input_norm", "none"))
        else:
            self.audio_tower = self.audio_projector = None
        self.language_model = LlamaForCausalLM(config.text_config)
        self.post_init()

    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    # ----- media --------------------------------------------------------------------------------
    def encode_visual(self, media: List[Tensor]) -> List[Tensor]:
        """Per item 3 x H x W (image) or T x 3 x H x W (clip) -> its L x D (or E*L x D) rows; one
        tower call for all frames of all items, one projector call for all images."""
        tower = self.vision_tower
        frames = torch.cat([m.unsqueeze(0) if m.ndim == 3 else m for m in media])
        hidden = tower(frames.to(device=tower.device, dtype=tower.dtype),
                       output_hidden_states=True).hidden_states[self.config.vision_feature_layer]
        if self.config.vision_feature_select == "patch":
            hidden = hidden[:, 1:]
        proj_dtype = next(self.mm_projector.parameters()).dtype
        per_item = torch.split(hidden.to(proj_dtype), [1 if m.ndim == 3 else m.shape[0] for m in media])
        out: List[Optional[Tensor]] = [None] * len(media)
        images = [k for k, m in enumerate(media) if m.ndim == 3]
        if images:
            projected = self.mm_projector(torch.cat([per_item[k] for k in images]))
            for row, k in enumerate(images):
                out[k] = projected[row]
        for k, m in enumerate(media):
            if m.ndim == 4:
                out[k] = self.mm_projector.forward_video(per_item[k])
        return out

    def encode_audio(self, input_features: Tensor, lengths: Tensor) -> List[Tensor]:
        """N x n_mels x 3000 log-mels and each clip's covered frame count -> per clip rows x D."""
        if self.audio_tower is None:
            raise ValueError("audio was given but this EmoLLM has no audio tower")
        tower = self.audio_tower
        hidden = tower(input_features.to(device=tower.device, dtype=tower.conv1.weight.dtype)).last_hidden_state
        clips = [hidden[i, : int(n) // 2] for i, n in enumerate(lengths.tolist())]
        if self.audio_projector.input_norm == "standardize":
            # Whisper's log-mel of silence is SILENCE_FLOOR in every bin of the 30 s window
            floor = torch.full((1, *input_features.shape[1:]), SILENCE_FLOOR, device=tower.device,
                               dtype=tower.conv1.weight.dtype)
            silence = tower(floor).last_hidden_state[0]
            clips = [clip - silence[: clip.shape[0]] for clip in clips]
        return self.audio_projector(clips)

    def _media_per_sample(self, input_ids: Tensor, pixel_values, pixel_values_videos, input_features,
                          audio_feature_lengths):
        """(visual rows, audio rows) per sample, in the order the samples name their placeholders."""
        cfg = self.config
        batch = input_ids.shape[0]
        has_image = (input_ids == cfg.image_token_index).any(1).tolist()
        has_video = (input_ids == cfg.video_token_index).any(1).tolist()
        has_audio = (input_ids == cfg.audio_token_index).any(1).tolist()
        images = list(pixel_values) if pixel_values is not None else []
        videos = list(pixel_values_videos) if pixel_values_videos is not None else []
        for kind, given, wanted in (("image", images, has_image), ("video", videos, has_video)):
            if len(given) != sum(wanted):
                raise ValueError(f"{sum(wanted)} sample(s) have a {kind} placeholder but {len(given)} "
                                 f"{kind}(s) were given")
        visual_items: List[Tensor] = []
        owners = []
        images_iter, videos_iter = iter(images), iter(videos)
        for b in range(batch):
            if has_image[b] and has_video[b]:
                raise ValueError(f"sample {b} has both an image and a video; EmoLLM takes one of them")
            if has_image[b] or has_video[b]:
                visual_items.append(next(images_iter) if has_image[b] else next(videos_iter))
                owners.append(b)
        visual: List[Optional[Tensor]] = [None] * batch
        if visual_items:
            for b, rows in zip(owners, self.encode_visual(visual_items)):
                visual[b] = rows
        audio: List[Optional[Tensor]] = [None] * batch
        count = 0 if input_features is None else input_features.shape[0]
        if count != sum(has_audio):
            raise ValueError(f"{sum(has_audio)} sample(s) have an audio placeholder but {count} audio "
                             "clip(s) were given")
        if count:
            if audio_feature_lengths is None:
                audio_feature_lengths = torch.full((count,), input_features.shape[-1])
            rows = iter(self.encode_audio(input_features, audio_feature_lengths))
            for b in range(batch):
                if has_audio[b]:
                    audio[b] = next(rows)
        return visual, audio

    def _splice(self, input_ids, attention_mask, labels, visual, audio):
        """Placeholders replaced by media rows, cut to tokenizer_model_max_length, left-padded."""
        cfg = self.config
        embed = self.get_input_embeddings()
        mask = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        given_labels = labels
        labels = torch.full_like(input_ids, IGNORE_INDEX) if labels is None else labels
        visual_ids = (cfg.image_token_index, cfg.video_token_index)
        embeds, new_labels = [], []
        for b in range(input_ids.shape[0]):
            ids, lab = input_ids[b][mask[b]], labels[b][mask[b]]
            is_visual = (ids == visual_ids[0]) | (ids == visual_ids[1])
            is_audio = ids == cfg.audio_token_index
            is_text = ~(is_visual | is_audio)
            text_embeds = embed(ids[is_text])
            pieces, piece_labels, start, text_pos = [], [], 0, 0
            for pos in torch.nonzero(~is_text).flatten().tolist() + [ids.shape[0]]:
                n_text = pos - start
                pieces.append(text_embeds[text_pos:text_pos + n_text])
                piece_labels.append(lab[start:pos])
                text_pos += n_text
                if pos < ids.shape[0]:
                    rows = (visual if bool(is_visual[pos]) else audio)[b]
                    rows = rows.to(device=text_embeds.device, dtype=text_embeds.dtype)
                    pieces.append(rows)
                    piece_labels.append(torch.full((rows.shape[0],), IGNORE_INDEX, device=lab.device,
                                                   dtype=lab.dtype))
                start = pos + 1
            embeds.append(torch.cat(pieces))
            new_labels.append(torch.cat(piece_labels))
        limit = cfg.tokenizer_model_max_length
        if limit is not None:
            embeds = [e[:limit] for e in embeds]
            new_labels = [x[:limit] for x in new_labels]
        width = max(e.shape[0] for e in embeds)
        out = embeds[0].new_zeros(len(embeds), width, embeds[0].shape[1])
        out_labels = torch.full((len(embeds), width), IGNORE_INDEX, dtype=labels.dtype, device=labels.device)
        out_mask = torch.zeros(len(embeds), width, dtype=torch.long, device=input_ids.device)
        for b, (e, lab) in enumerate(zip(embeds, new_labels)):
            n = e.shape[0]
            out[b, width - n:] = e
            out_labels[b, width - n:] = lab
            out_mask[b, width - n:] = 1
        return out, out_mask, (None if given_labels is None else out_labels)

    def embed_inputs(self, input_ids, attention_mask=None, pixel_values=None, pixel_values_videos=None,
                     input_features=None, audio_feature_lengths=None, labels=None):
        """(inputs_embeds B x S' x D, attention_mask B x S', labels or None) with media spliced in."""
        visual, audio = self._media_per_sample(input_ids, pixel_values, pixel_values_videos, input_features,
                                               audio_feature_lengths)
        return self._splice(input_ids, attention_mask, labels, visual, audio)

    # ----- forward / generate -------------------------------------------------------------------
    def forward(self, input_ids=None, attention_mask=None, pixel_values=None, pixel_values_videos=None,
                input_features=None, audio_feature_lengths=None, inputs_embeds=None, labels=None,
                **kwargs) -> CausalLMOutputWithPast:
        """The language model's output on the spliced sequence (``logits`` B x S' x V)."""
        if inputs_embeds is None:
            inputs_embeds, attention_mask, labels = self.embed_inputs(
                input_ids, attention_mask, pixel_values, pixel_values_videos, input_features,
                audio_feature_lengths, labels)
        return self.language_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels,
                                   **kwargs)

    @torch.no_grad()
    def generate(self, input_ids=None, attention_mask=None, pixel_values=None, pixel_values_videos=None,
                 input_features=None, audio_feature_lengths=None, **kwargs):
        """Greedy or sampled continuation of the prompt. Returns ``input_ids`` followed by the new
        tokens (B x (S + n)), as a text-only causal LM does; ``out[:, input_ids.shape[1]:]`` is the
        answer."""
        embeds, mask, _ = self.embed_inputs(input_ids, attention_mask, pixel_values, pixel_values_videos,
                                            input_features, audio_feature_lengths)
        if getattr(self, "generation_config", None) is not None:
            kwargs.setdefault("generation_config", self.generation_config)
        output = self.language_model.generate(inputs_embeds=embeds, attention_mask=mask, **kwargs)
        sequences = output if isinstance(output, Tensor) else output.sequences
        prompt = input_ids.to(sequences.device)
        full = torch.cat([prompt, sequences], dim=1)
        if isinstance(output, Tensor):
            return full
        output.sequences = full
        return output
