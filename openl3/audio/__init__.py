"""Audio: decoding, resampling, OpenL3 0.4.2's windows, the embedding computation, streams, HEAR.

- :mod:`~openl3.audio.decode`: audio files decoded block by block (soundfile), downmixed;
- :mod:`~openl3.audio.signal`: resampling to 48 kHz with 0.4.2's filter, block by block;
- :mod:`~openl3.audio.windows`: 0.4.2's windows and timestamps;
- :mod:`~openl3.audio.compute`: :class:`~openl3.audio.compute.AudioComputation`, the checked
  model, frontend, windowing and batch size every audio path computes through;
- :mod:`~openl3.audio.stream`: :class:`AudioStream`, audio that arrives in chunks;
- :mod:`~openl3.audio.hear`: the HEAR 2021 API (also :mod:`openl3.audio.hear`).
"""

from .stream import AudioStream

__all__ = ["AudioStream"]
