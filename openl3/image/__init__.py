"""Images: OpenL3 0.4.2's preprocessing, quirks included, and the image embedding computation.

:mod:`~openl3.image.compute` holds :class:`~openl3.image.compute.ImageComputation` and the
frame sources of arrays and image files. The public callers are
:func:`openl3.get_image_embedding`, :func:`openl3.process_image_file` and
:class:`openl3.ImageEmbedder`.
"""

__all__: list[str] = []
