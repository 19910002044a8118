"""The stream loop: frames -> ring buffer -> model every ``stride`` frames -> events.

A window is rejected as "no sign" when its top-1 probability is below the threshold, its top-1 is
a no-sign class (e.g. an idle class), or too few of its frames show a hand (``min_hands``).
Frames in which nothing at all was detected (nobody in view) are not buffered; ``pause`` of them
in a row end the open sign and empty the buffer, so the next sign is seen on its own from its
first frame: the model runs as soon as ``min_window`` frames are buffered and then every
``stride`` frames, on the last ``window`` frames at most.

Runs until the source ends or Ctrl-C; either way the open sign is closed and reported, the source
closed and the latency log completed, so an interrupted stream ends like a finished one.
"""

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from ..extract.predict import Model
from .buffer import LandmarkRing
from .events import EventSegmenter, WindowResult
from .latency import LatencyLog
from .window_model import hand_fraction, label_of, window_probabilities


@dataclass
class StreamOptions:
    window: int = 30                  # frames the model sees at most
    min_window: Optional[int] = None  # frames needed before the model runs (None: window // 2)
    stride: int = 5                   # the model runs every this many frames
    pause: Optional[int] = None       # empty frames in a row that end a sign (None: stride)
    threshold: float = 0.5            # top-1 probability below it: no sign
    top_k: int = 5
    enter: int = 2                    # agreeing windows that open a sign
    release: int = 2                  # disagreeing windows that close it
    no_sign: Sequence[str] = ()       # classes that mean "no sign"
    min_hands: float = 0.0            # fraction of window frames with a hand, below it: no sign
    precision: str = "fp32"


def check_options(options: StreamOptions, model: Model) -> None:
    if options.window < 1 or options.stride < 1:
        raise ValueError("--window and --stride must be at least 1 frame")
    if options.min_window is not None and not 1 <= options.min_window <= options.window:
        raise ValueError(f"--min_window must be between 1 and --window ({options.window})")
    if model.max_frames and not model.num_frames and options.window > model.max_frames:
        raise ValueError(f"--window {options.window} is longer than the model takes ({model.max_frames})")
    for name in options.no_sign:
        if label_of(model.class_names, name) is None:
            raise ValueError(f"--no_sign {name!r}: the model has no such class")


def run_stream(source, model: Model, options: StreamOptions, emit: Callable[[dict], None],
               latency: Optional[LatencyLog] = None,
               on_frame: Optional[Callable] = None) -> dict:
    """Stream ``source`` through ``model``; ``emit`` gets each event (a dict) as it closes.

    ``on_frame(frame, current_label, last_top)`` is called for every frame (for drawing);
    ``last_top`` is (class, probability, accepted) of the latest window, or None.
    Returns {"events": n, "interrupted": bool, "latency": summary}.
    """
    try:
        check_options(options, model)
    except ValueError:
        source.close()
        raise
    latency = latency or LatencyLog()
    rejected = {label_of(model.class_names, name) for name in options.no_sign}
    min_window = options.min_window or max(1, options.window // 2)
    pause = options.pause or options.stride
    ring = LandmarkRing(options.window)
    segmenter = EventSegmenter(model.class_names, source.fps, options.top_k, options.enter,
                               options.release)
    events, interrupted, last_top = 0, False, None
    empty_run, since_run = 0, options.stride

    def send(closed):
        nonlocal events
        for event in closed:
            emit(event)
            events += 1

    try:
        for frame in source:
            latency.frames += 1
            latency.add("capture", frame.capture_s)
            latency.add("landmarks", frame.landmarks_s)
            if not frame.landmarks.any():
                empty_run += 1
                if empty_run == pause:
                    send(segmenter.finish())
                    ring.clear()
                    since_run, last_top = options.stride, None
            else:
                empty_run = 0
                ring.push(frame.landmarks, frame.index)
                since_run += 1
                if len(ring) >= min_window and since_run >= options.stride:
                    since_run = 0
                    window = ring.window()
                    start = time.perf_counter()
                    probabilities = window_probabilities(model, window, options.precision)
                    latency.add("model", time.perf_counter() - start)
                    top = int(probabilities.argmax())
                    accepted = (probabilities[top] >= options.threshold and top not in rejected
                                and hand_fraction(window) >= options.min_hands)
                    name = model.class_names[top] if top < len(model.class_names) else str(top)
                    last_top = (name, float(probabilities[top]), bool(accepted))
                    result = WindowResult(int(ring.indices()[0]), frame.index, probabilities,
                                          top if accepted else None)
                    send(segmenter.update(result))
                    latency.add("end-to-end", time.perf_counter() - frame.captured_at)
            if on_frame is not None:
                on_frame(frame, segmenter.current_label, last_top)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        latency.dropped = getattr(source, "dropped", 0)
        source.close()
    send(segmenter.finish())
    return {"events": events, "interrupted": interrupted, "latency": latency.summary()}
