"""Video files: their audio track and frames, decoded as OpenL3 0.4.2 does and embedded.

:mod:`~openl3.video.compute` holds :class:`~openl3.video.compute.VideoComputation`, which
embeds both halves through :mod:`openl3.audio` and :mod:`openl3.image`. The public callers
are :func:`openl3.process_video_file` and :class:`openl3.VideoEmbedder`.
"""

__all__: list[str] = []
