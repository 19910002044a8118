"""One-line descriptions of exceptions, for messages that must not become tracebacks.

Compilers, runtimes and loaders (Triton, Inductor, ONNX Runtime, TensorRT) raise errors whose
message runs to pages; a user-facing error or a benchmark's "unavailable" reason keeps its first
line only.
"""


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of the message, cut to ``limit``; the type name when there is none."""
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:limit]


def describe_error(error: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message`` (cut to ``limit``)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:limit] if lines else ''}"
