"""`emollm mvp show`: the drawn panels are the projector's own clustering, graphs and events."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from emollm_plugin.apps.mvp_show import ClipView, ImageView, MVPShow, main, render_mvp
from emollm_plugin.testing.synth import frame_image, write_video
from emollm_plugin.media.video import sample_frames
from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector
from emollm_plugin.projectors.mvp.dpc_knn import dpc_knn_cluster, merge_clusters
from emollm_plugin.projectors.mvp.graph import relation_adjacency

CONFIG = MVPConfig(num_clusters=(16, 8, 4), knn=(3, 3, 2), frames_per_event=4, tau=0.3)


@pytest.fixture(scope="module")
def show(tmp_path_factory):
    from emollm_plugin.testing.tiny import build_clip
    return MVPShow.from_vision_tower(build_clip(tmp_path_factory.mktemp("clip")), CONFIG)


def picture() -> Image.Image:
    return Image.fromarray(frame_image(3, 8, (64, 64), seed=1))


def test_image_panels_are_the_projectors_clustering_and_graphs(show, tmp_path):
    image = picture()
    drawn, view = render_mvp(image, show, tmp_path / "image.png")
    assert isinstance(view, ImageView) and len(view.steps) == 3
    assert Image.open(tmp_path / "image.png").size == drawn.size and drawn.width > drawn.height
    tokens, _ = show.patch_tokens([image])
    for step, m in zip(view.steps, CONFIG.num_clusters):
        assert step.num_clusters == m and step.patch_cluster.shape == (8, 8)
        assert sorted(np.unique(step.patch_cluster)) == list(range(m))     # every cluster drawn
    # the panels are the projector's trace: clusters chained from patches, the graphs' edges
    mvp = MVPProjector(tokens.shape[-1], 8, CONFIG)
    with torch.no_grad():
        _, trace = mvp(tokens, return_trace=True)
    of_patch = torch.arange(tokens.shape[1])
    for s, step in enumerate(view.steps):
        of_patch = trace.assignments[s][0][of_patch]
        assert step.patch_cluster.flatten().tolist() == of_patch.tolist()
        assert step.edges == trace.edges(s)
        assert 2 * len(step.edges) / step.num_clusters == pytest.approx(trace.edges_per_node[s])
    # ... and the merge loop run by hand (a plain reference) gives the same picture
    z, of_patch = tokens, torch.arange(tokens.shape[1])
    for step, m, k in zip(view.steps, CONFIG.num_clusters, CONFIG.knn):
        assign = dpc_knn_cluster(z, m, k, mvp.density_rule).assign
        of_patch = assign[0][of_patch]
        z = merge_clusters(z, assign, m)
        adjacency = relation_adjacency(z, CONFIG.tau, CONFIG.graph_norm)[0]
        assert step.patch_cluster.flatten().tolist() == of_patch.tolist()
        assert step.edges == [(int(i), int(j)) for i, j in torch.nonzero(torch.triu(adjacency, 1))]
    # patches of a cluster at step s stay together at step s + 1 (chained merges)
    for earlier, later in zip(view.steps, view.steps[1:]):
        for c in range(earlier.num_clusters):
            assert len(np.unique(later.patch_cluster[earlier.patch_cluster == c])) == 1


def test_clip_panels_are_the_projectors_events(show, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", num_frames=40, fps=10)
    frames = sample_frames(clip, 12)
    drawn, view = render_mvp(frames, show, tmp_path / "clip.png")
    assert isinstance(view, ClipView) and view.num_frames == 12
    tokens, _ = show.patch_tokens(frames)
    mvp = MVPProjector(tokens.shape[-1], 8, CONFIG)
    with torch.no_grad():
        _, trace = mvp.forward_video(tokens, return_trace=True)
    assert view.events == trace.events and len(view.events) == 3
    frame_clusters = trace.assignments[0]
    for shown, clusters, event_assign, frames_of_event in zip(view.event_frames, view.event_patch_cluster,
                                                             trace.event_assignments[0], trace.events):
        middle = frames_of_event.index(shown)
        expected = event_assign[middle * CONFIG.num_clusters[0] + frame_clusters[shown]]
        assert clusters.flatten().tolist() == expected.tolist()
    assert len(view.event_patch_cluster) == 3
    for frames_of_event, shown, clusters in zip(view.events, view.event_frames,
                                                view.event_patch_cluster):
        assert shown in frames_of_event and clusters.shape == (8, 8)
        assert clusters.min() >= 0 and clusters.max() < 16
    assert Image.open(tmp_path / "clip.png").size == drawn.size


def test_cli_from_vision_tower_and_from_checkpoint(show, tmp_path, capsys, monkeypatch):
    tower_dir = tmp_path / "tower"
    show.tower.save_pretrained(tower_dir)
    show.processor.save_pretrained(tower_dir)
    picture().save(tmp_path / "face.png")
    elsewhere = tmp_path / "pictures"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["show", "--vision-tower", str(tower_dir), str(tmp_path / "face.png"),
                 "--mvp_num_clusters", "16", "8", "4", "--mvp_knn", "3", "3", "2"]) == 0
    assert (elsewhere / "face_mvp.png").is_file() and not (tmp_path / "face_mvp.png").exists()
    assert "step 1: 16 clusters" in capsys.readouterr().out
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps(
        {"mm_projector_type": "mvp", "mm_vision_tower": str(tower_dir),
         "mm_vision_select_layer": -2, **CONFIG.to_dict()}))
    assert main(["show", "--model", str(ckpt), str(tmp_path / "face.png"),
                 "--out", str(tmp_path / "out.png"), "--mvp_variant", "paper"]) == 0
    assert "step 3: 4 clusters" in capsys.readouterr().out and (tmp_path / "out.png").is_file()
    (ckpt / "config.json").write_text(json.dumps({"mm_projector_type": "mlp2x_gelu",
                                                  "mm_vision_tower": str(tower_dir)}))
    with pytest.raises(ValueError, match="not 'mvp'"):
        main(["show", "--model", str(ckpt), str(tmp_path / "face.png"), "--out", str(tmp_path / "x.png")])


def test_the_default_picture_never_lands_in_the_inputs_folder(tmp_path, monkeypatch):
    from emollm_plugin.apps.mvp_show import default_out
    (tmp_path / "in").mkdir()
    assert default_out(tmp_path / "in" / "face.png", tmp_path) == tmp_path / "face_mvp.png"
    monkeypatch.chdir(tmp_path / "in")
    with pytest.raises(SystemExit, match="Pass --out PNG elsewhere"):
        default_out(Path("face.png"), Path.cwd())


@pytest.mark.slow
def test_from_a_loaded_model_uses_its_tower_layer_and_settings(tiny_models):
    import emollm_plugin
    from llava_helpers import build_llava, tiny_llava_config
    emollm_plugin.register()
    from emollm_plugin.model.emollm_llama import EmoLlavaLlamaForCausalLM
    from transformers import CLIPImageProcessor
    config = tiny_llava_config(tiny_models, "mvp", mvp_num_clusters=[16, 8, 4], mvp_knn=[3, 3, 2],
                               mvp_variant="paper", mvp_tau=0.4)
    model = build_llava(EmoLlavaLlamaForCausalLM, config)
    show = MVPShow.from_model(model, CLIPImageProcessor.from_pretrained(str(tiny_models.clip)))
    assert show.config == MVPConfig(num_clusters=(16, 8, 4), knn=(3, 3, 2), variant="paper", tau=0.4)
    assert show.select_layer == -2
    _, view = render_mvp(picture(), show)
    tokens, _ = show.patch_tokens([picture()])
    projector = model.get_model().mm_projector
    assert show.projector is projector
    with torch.no_grad():
        _, trace = projector(tokens, return_trace=True)
    for s, step in enumerate(view.steps):
        assert step.edges == trace.edges(s)
        assert 2 * len(step.edges) / step.num_clusters == pytest.approx(trace.edges_per_node[s])
