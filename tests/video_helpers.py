"""Reading back the videos that the render and stream tests write (OpenCV passed in: optional)."""


def read_video(cv2, path):
    """Every frame of the video at ``path``, BGR as OpenCV decodes them."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames
