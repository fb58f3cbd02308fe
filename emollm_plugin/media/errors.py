"""One error type for every way a record's media can fail to load.

The message always names the file, the cause and what to do about it, e.g.
``no audio track in clips/a.mp4: the record asks for audio from this file; remove its 'audio'
field or give a wav/flac/mp3 file with sound``. ``MediaError`` is a ``ValueError`` so callers that
already treat bad data as ``ValueError`` keep working.
"""
from __future__ import annotations

from pathlib import Path
from ..errors import EmoLLMError

MISSING = "missing"
CORRUPT = "corrupt"
NO_PERMISSION = "no_permission"
NO_VIDEO_STREAM = "no_video_stream"
NO_FRAMES = "no_frames"
NO_AUDIO_TRACK = "no_audio_track"
EMPTY_AUDIO = "empty_audio"
UNSUPPORTED = "unsupported"

# cause -> (what went wrong, with {path}; what to do)
_MESSAGES: dict[str, tuple[str, str]] = {
    MISSING: ("media file not found: {path}",
              "check the record's path (relative paths are resolved against the data root)"),
    CORRUPT: ("unreadable or corrupt media file {path}",
              "re-encode it as h264 mp4 (video) or wav/flac (audio) with any media tool, or drop the record"),
    NO_PERMISSION: ("cannot read {path} (permission denied)",
                    "the file is fine as far as anyone can tell: give the user running this read access "
                    "(chmod +r, and +x on its folders) or drop the record"),
    NO_VIDEO_STREAM: ("no video stream in {path}",
                      "the record names it as a video; give a video file, or move it to the "
                      "record's 'audio' field"),
    NO_FRAMES: ("zero decodable video frames in {path}",
                "the video stream is empty or no frame of it decodes; re-encode it or drop the "
                "record"),
    NO_AUDIO_TRACK: ("no audio track in {path}",
                     "the record asks for audio from this file; remove its 'audio' field or give a "
                     "wav/flac/mp3 file with sound"),
    EMPTY_AUDIO: ("zero-length audio in {path}",
                  "the audio track holds no samples; remove the record's 'audio' field or give a "
                  "file with sound"),
    UNSUPPORTED: ("unsupported media in {path}",
                  "the FFmpeg inside PyAV has no decoder for it; convert it to wav/flac/mp3 (audio) "
                  "or h264 mp4 (video)"),
}
CAUSES = tuple(_MESSAGES)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
# an image is decoded by PIL: its fix names no video tool
_IMAGE_FIXES = {CORRUPT: "it does not decode as an image: export it again as PNG or JPEG from its source, "
                         "or drop the record"}


class MediaError(EmoLLMError, ValueError):
    """A media file that cannot give what a record asks of it.

    Attributes: ``path`` (the file, as given), ``cause`` (one of ``CAUSES``), ``detail`` (the
    decoder's own words, or ``""``).
    """

    def __init__(self, path: str | Path, cause: str, detail: str = ""):
        if cause not in _MESSAGES:
            raise ValueError(f"unknown MediaError cause {cause!r}; known: {', '.join(CAUSES)}")
        self.path = str(path)
        self.cause = cause
        self.detail = detail
        what, fix = _MESSAGES[cause]
        if Path(self.path).suffix.lower() in IMAGE_SUFFIXES:
            fix = _IMAGE_FIXES.get(cause, fix)
        what = what.format(path=self.path)
        if detail:
            what = f"{what} ({detail})"
        super().__init__(f"{what}: {fix}")

    def __reduce__(self):
        # DataLoader workers pickle exceptions; the default would call __init__(message).
        return (type(self), (self.path, self.cause, self.detail))


def check_readable(path: str | Path) -> None:
    """MediaError (NO_PERMISSION) when the file exists but this user may not read it: a decoder
    would call that corrupt."""
    try:
        with open(path, "rb"):
            pass
    except PermissionError as err:
        raise MediaError(path, NO_PERMISSION) from err


def source_path(source) -> Path:
    """The path of a media source: a path, or a file opened in binary mode (its ``name``)."""
    return Path(source.name) if hasattr(source, "read") else Path(source)


def open_container(source):
    """``av.open`` for reading, with FFmpeg's failures turned into ``MediaError``. ``source``: a
    path, or a file opened in binary mode (read from its start; left open, so one opened file
    serves several reads).

    Used as ``with open_container(p) as container: ...``.
    """
    import av

    file = source_path(source)
    if hasattr(source, "read"):
        source.seek(0)
        target = source
    else:
        if not file.exists():
            raise MediaError(file, MISSING)
        if not file.is_file():
            raise MediaError(file, MISSING, "a directory, not a file")
        check_readable(file)
        target = str(file)
    try:
        return av.open(target, "r")
    except av.error.DecoderNotFoundError as err:
        raise MediaError(file, UNSUPPORTED, str(err)) from err
    except av.error.FFmpegError as err:
        raise MediaError(file, CORRUPT, _ffmpeg_words(err)) from err


def first_stream(container, path: str | Path, kind: str):
    """The container's first ``kind`` ("video" | "audio") stream that has a decoder, else MediaError
    (NO_VIDEO_STREAM / NO_AUDIO_TRACK, or UNSUPPORTED when FFmpeg has no decoder for it)."""
    streams = container.streams.video if kind == "video" else container.streams.audio
    if not streams:
        raise MediaError(path, NO_VIDEO_STREAM if kind == "video" else NO_AUDIO_TRACK)
    stream = streams[0]
    if stream.codec_context is None:
        raise MediaError(path, UNSUPPORTED, f"no decoder for its {container.format.name} {kind} stream")
    return stream


def _ffmpeg_words(err: Exception) -> str:
    """FFmpeg's reason without the errno and the repeated file name."""
    return getattr(err, "strerror", None) or str(err)
