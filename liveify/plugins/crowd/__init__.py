"""Crowd: procedural concert-crowd ambience that follows the music, with MIDI cue input.

Everything is synthesised (no samples) on the absolute timeline of the stream, so chunked and whole
processing agree and a seed fixes the crowd. The parts, each in its own module:

- `cues`: MIDI cue files (which note asks for which reaction) and their beat grid;
- `acoustics`: the physics (hand resonances, voices, distance, air absorption, the venue);
- `sources`: claps, voices, whistles and the spectra of the diffuse beds, synthesised;
- `follower`: the music follower (whole-track analysis and the live envelope -> reactions);
- `events`: placing claps, clap-along, voices and whistles in time; `beds`: the noise beds;
- `stage`: the `Crowd` stage itself.

>>> from liveify.plugins.crowd import Crowd
>>> live = Crowd(size=20000, clap_along=True, seed=1)(audio, 44100)
"""

from liveify.plugins.crowd.cues import CUE_NOTES, Cue, read_cues
from liveify.plugins.crowd.stage import Crowd

__all__ = ["CUE_NOTES", "Crowd", "Cue", "read_cues"]
