"""MVPProjector's trace: what the forward computed on the way (clusters, centres, graphs, events),
returned on request; the projector keeps no per-call state and its output does not change."""
from __future__ import annotations

import torch

from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector
from emollm_plugin.projectors.mvp.dpc_knn import dpc_knn_cluster, merge_clusters, multi_step_merge
from emollm_plugin.projectors.mvp.graph import block_diagonal, relation_adjacency

CONFIG = MVPConfig(num_clusters=(8, 4, 2), knn=(3, 3, 2), frames_per_event=4, tau=0.5)


def _projector() -> MVPProjector:
    torch.manual_seed(0)
    return MVPProjector(16, 12, CONFIG)


def test_the_forward_output_is_bitwise_the_plain_composition_with_or_without_a_trace():
    mvp = _projector()
    x = torch.randn(3, 30, 16)
    with torch.no_grad():
        plain = mvp(x)
        traced, _ = mvp(x, return_trace=True)
        steps = multi_step_merge(x, CONFIG.num_clusters, CONFIG.knn, mvp.density_rule)
        adjacency = block_diagonal([relation_adjacency(z, CONFIG.tau, CONFIG.graph_norm) for z in steps])
        tokens = torch.cat(steps, dim=1)
        reference = CONFIG.alpha * mvp.content_proj(tokens) + mvp.gcn(tokens, adjacency)
    assert torch.equal(plain, traced) and torch.equal(plain, reference)


def test_the_trace_is_the_merge_loop_run_by_hand():
    mvp = _projector()
    x = torch.randn(2, 30, 16)
    with torch.no_grad():
        _, trace = mvp(x, return_trace=True)
    z = x
    for s, (m, k) in enumerate(zip(CONFIG.num_clusters, CONFIG.knn)):
        clustering = dpc_knn_cluster(z, m, k, mvp.density_rule)
        assert torch.equal(trace.assignments[s], clustering.assign)
        assert torch.equal(trace.centres[s], clustering.centres)
        assert trace.assignments[s].shape == (2, z.shape[1]) and trace.centres[s].shape == (2, m)
        z = merge_clusters(z, clustering.assign, m)
        adjacency = relation_adjacency(z, CONFIG.tau, CONFIG.graph_norm)
        assert torch.equal(trace.adjacency[s], adjacency)
        assert trace.edges(s, 1) == [(int(i), int(j)) for i, j in torch.nonzero(torch.triu(adjacency[1], 1))]
        assert abs(trace.edges_per_node[s] - adjacency.sum(-1).mean().item()) < 1e-6
    assert trace.events is None and trace.event_assignments is None


def test_a_forward_leaves_no_state_on_the_module():
    mvp = _projector()
    before = dict(vars(mvp))
    with torch.no_grad():
        mvp(torch.randn(1, 30, 16), return_trace=True)
        mvp.forward_video(torch.randn(9, 30, 16), return_trace=True)
    assert vars(mvp).keys() == before.keys()
    assert all(vars(mvp)[key] is value for key, value in before.items())


def test_the_video_trace_holds_the_events_and_their_clusters():
    mvp = _projector()
    frames = torch.randn(10, 30, 16) + torch.linspace(0, 2, 10).view(10, 1, 1)
    with torch.no_grad():
        plain = mvp.forward_video(frames)
        traced, trace = mvp.forward_video(frames, return_trace=True)
    assert torch.equal(plain, traced)
    assert sorted(sum(trace.events, [])) == list(range(10)) and len(trace.events) == 3
    assert trace.assignments[0].shape == (10, 30)
    for s, m in enumerate(CONFIG.num_clusters):
        assert trace.adjacency[s].shape == (3, m, m)
        for frames_of_event, assign in zip(trace.events, trace.event_assignments[s]):
            assert assign.shape == (len(frames_of_event) * m,)
            assert assign.min() >= 0 and assign.max() < m
