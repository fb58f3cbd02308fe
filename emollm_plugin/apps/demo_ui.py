"""``emollm demo-ui``: a Gradio page to ask a checkpoint about an uploaded image or clip.

    emollm demo-ui --model CKPT [--model-base BASE] [--host 127.0.0.1] [--port 7860]
                   [--exemplar-bank BANK] [--example FILE --example-task TASK]

Upload an image or a clip (its sound track is the audio when the model has an audio tower), pick a
task preset (EmoBench's wording, as ``emollm predict``) or type a question, tick "explain" for the
reasoning before the answer (an EmoPrompt worked example in the system prompt), and read the
answer, the reasoning, the label the scorer's parser finds and the MVP picture (``emollm mvp
show``'s drawing of the asked image, or of the clip's frames the model sees). ``--example`` prefills the page
with a file and its answer, computed at start-up (a page that opens showing an answer).
The same ``Engine`` as ``emollm serve`` answers (``runtime/``: loading, media and generate).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from html import escape
from pathlib import Path
from typing import Optional

from ..tasks.labels import TASKS
from ..runtime.arguments import add_model_arguments
from ..runtime.errors import InferInputError, Unanswerable
from .inputs import media_kind
from .prompts import PromptError, Question, split_explained

FREE = "free question"
DEFAULT_TASK = "emotion_open"


def mvp_show_for(engine):
    """``emollm mvp show``'s drawer on the engine's own loaded vision tower and MVP settings, or
    None (with the reason) when the checkpoint has no MVP projector."""
    from .mvp_show import MVPShow
    model = engine.answerer.model
    projector = getattr(model.config, "mm_projector_type", None)
    if projector != "mvp":
        return None, f"the checkpoint's projector is {projector!r}, not 'mvp': there is no clustering to show"
    return MVPShow.from_model(model, engine.answerer.media.image_processor), ""


def mvp_picture(show, media: Path, kind: str, num_frames: int):
    """MVP's clustering of the asked image, or of the clip's ``num_frames`` frames (the frames the
    model sees), drawn by ``apps/mvp_show.render_mvp``; a PIL image, or None without a drawer."""
    if show is None:
        return None
    from PIL import Image

    from ..media.video import sample_frames
    from .mvp_show import render_mvp
    if kind == "image":
        with Image.open(media) as opened:
            shown = opened.convert("RGB")
    else:
        shown = sample_frames(media, num_frames=num_frames)
    return render_mvp(shown, show)[0]


class DemoAnswerer:
    """One question at a time on the loaded engine (the page's queue has one worker)."""

    def __init__(self, engine, exemplar_bank: Optional[str] = None, seed: int = 0, mvp_show=None):
        from .predict import RandomExemplars
        self.engine = engine
        self.exemplars = RandomExemplars(exemplar_bank, seed) if exemplar_bank else None
        self.mvp_show = mvp_show  # None: the checkpoint has no MVP projector, no picture
        self.lock = threading.Lock()

    def __call__(self, image: Optional[str], video, task: str, question: str, explain: bool):
        """(answer, reasoning, parsed label, the answer and question as HTML, MVP picture) for the page."""
        import gradio as gr

        from ..tasks.answers import parse_answer
        from ..media.probe import has_sound

        path = image or video
        if not path:
            raise gr.Error("Upload an image or a clip first.")
        kind = "image" if image else "video"
        if media_kind(Path(path)) not in (kind, None):
            kind = media_kind(Path(path))
        if explain and self.exemplars is None:
            raise gr.Error("Explain needs an EmoPrompt exemplar bank: start the demo with --exemplar-bank BANK.")
        try:
            asked = Question(None if task == FREE else task, question.strip() or None, None, explain)
        except PromptError as err:
            raise gr.Error(str(err)) from None
        media = {kind: Path(path)}
        if kind == "video" and self.engine.audio_tower and has_sound(path):
            media["audio"] = Path(path)
        try:
            with self.lock:
                job = self.engine.prepare(asked.text(kind), media, task=asked.task,
                                          exemplars=self.exemplars if explain else None)
                reply = self.engine.run_batch([job])[0]
                picture = mvp_picture(self.mvp_show, Path(path), kind, self.engine.answerer.media.num_video_frames)
        except Unanswerable as err:
            raise gr.Error(str(err)) from None
        reasoning, answer = split_explained(reply.text) if explain else (None, reply.text)
        label = ""
        if asked.task is not None:
            parsed = parse_answer(reply.text, asked.task, asked.label_set)
            label = f"{parsed.label} ({parsed.status})" if parsed.label else parsed.status
        heard = " with its sound track" if "audio" in media else ""
        shown = (f'<div id="emollm-answer-shown"><b>Answer:</b> <span class="emollm-answer-text">{escape(answer)}'
                 f'</span></div><p>Asked about the {kind}{heard}: {escape(asked.text(kind))}</p>')
        return answer, reasoning or "", label, shown, picture


def build_demo(answerer: DemoAnswerer, example: Optional[Path] = None, example_task: str = DEFAULT_TASK,
               mvp_note: str = ""):
    import gradio as gr

    example_kind = media_kind(example) if example else None
    shown_first = ("", "", "", "", None)
    if example is not None:  # answered before the page is served: it opens with the answer on it
        media = (str(example), None) if example_kind == "image" else (None, str(example))
        shown_first = answerer(*media, example_task, "", False)
    with gr.Blocks(title="EmoLLM", analytics_enabled=False) as demo:
        gr.Markdown(f"# EmoLLM\nModel `{answerer.engine.model_id}`. Upload an image or a clip, pick a task or "
                    "type a question.")
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="filepath", label="Image", sources=["upload"],
                                 value=str(example) if example_kind == "image" else None)
                video = gr.Video(label="Clip (its sound track is used)", sources=["upload"],
                                 value=str(example) if example_kind == "video" else None)
                task = gr.Dropdown([*TASKS, FREE], value=example_task, label="Task")
                question = gr.Textbox(label="Question (optional with a task: replaces EmoBench's wording)")
                explain = gr.Checkbox(label="Explain (reasoning before the answer)", value=False,
                                      interactive=answerer.exemplars is not None)
                ask = gr.Button("Ask", variant="primary")
            with gr.Column():
                answer = gr.Textbox(shown_first[0], label="Answer", elem_id="emollm-answer")
                reasoning = gr.Textbox(shown_first[1], label="Reasoning", lines=4)
                label = gr.Textbox(shown_first[2], label="Label found by the scorer's parser")
                shown = gr.HTML(shown_first[3])
                picture = gr.Image(shown_first[4], type="pil", format="png", label="What MVP sees (emollm mvp show)",
                                   interactive=False, elem_id="emollm-mvp")
                if answerer.mvp_show is None:
                    gr.Markdown(f"No MVP picture: {mvp_note}")
        inputs, outputs = [image, video, task, question, explain], [answer, reasoning, label, shown, picture]
        ask.click(answerer, inputs, outputs, api_name="answer")
    return demo


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emollm demo-ui", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="(default: 7860)")
    p.add_argument("--exemplar-bank", type=Path, default=None,
                   help="EmoPrompt bank for 'explain' (default: the checkpoint config's emoprompt_bank; "
                        "without one, explain is off)")
    p.add_argument("--example", type=Path, default=None,
                   help="an image or clip the page opens with, answered at start-up")
    p.add_argument("--share", action="store_true",
                   help="also publish the page through a temporary public gradio.live link (anyone with the "
                        "link can use the model; default: this machine only)")
    p.add_argument("--example-task", choices=[*TASKS, FREE], default=DEFAULT_TASK, help="(default: %(default)s)")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from .engine import Engine
    from .inputs import InputError
    from .predict import exemplar_bank

    args = build_parser().parse_args(argv)
    try:
        if args.example is not None and (not args.example.is_file()
                                         or media_kind(args.example) not in ("image", "video")):
            raise InputError(f"--example {args.example}: not an image or video file")
        try:
            bank = exemplar_bank(args)
        except InputError:
            bank = None
        engine = Engine(args)
    except (ValueError, InferInputError) as err:
        print(f"emollm demo-ui: {err}", file=sys.stderr)
        return 2
    show, mvp_note = mvp_show_for(engine)
    demo = build_demo(DemoAnswerer(engine, bank, args.seed, show), args.example, args.example_task, mvp_note)
    demo.queue(default_concurrency_limit=1, max_size=16)
    reach = "and a public gradio.live link (printed below)" if args.share else "(--share adds a public link)"
    print(f"emollm demo-ui: {engine.model_id} on http://{args.host}:{args.port} {reach}", file=sys.stderr, flush=True)
    # quiet: Gradio's own start-up lines would repeat the address and suggest `share=True` in code
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, quiet=not args.share, show_error=True,
                allowed_paths=[str(args.example.resolve().parent)] if args.example else None)
    return 0
