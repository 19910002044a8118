"""Continuous recognition: a stream of frames -> landmarks -> sliding-window model -> sign events.

``slr stream`` reads a camera, a video, a URL or a replayed landmark CSV (:mod:`.source`), keeps the
last frames in a ring buffer (:mod:`.buffer`), runs the model on a window every few frames
(:mod:`.window_model`), turns window predictions into one event per sign (:mod:`.events`, with the
threshold of :mod:`.calibration`) and reports per-stage latencies (:mod:`.latency`).
"""
