"""Skeleton pictures: pose landmarks (a CSV row, a whole CSV, an extraction result, a video) ->
MP4/GIF of the joints and bones, over the source video or on a plain canvas, optionally beside
the normalised pose the model sees. Used by ``slr render`` and ``slr stream --annotate``."""
