"""VenueReverb: a venue's sound from procedurally generated stereo impulse responses."""

from __future__ import annotations

import math

import numpy as np

from liveify.dsp import one_pole_lowpass
from liveify.errors import ParameterError
from liveify.plugins.base import RangeParameter, Stage, parameter_specs
from liveify.plugins.convolution import StreamingConvolver

SPEED_OF_SOUND_M_S = 343.0


# --- impulse responses -----------------------------------------------------------------------


def rt60_by_frequency(
    frequencies_hz: np.ndarray, *, rt60_s: float, hf_damping: float, bass_ratio: float
) -> np.ndarray:
    """Reverberation time per frequency: `rt60_s` at 500 Hz-1 kHz, `bass_ratio` times that at
    125 Hz and below, and `(1 - hf_damping)` times it at 8 kHz (log-frequency interpolation,
    continuing above 8 kHz as air absorption does)."""
    f = np.maximum(np.asarray(frequencies_hz, dtype=np.float64), 1.0)
    low = np.clip(np.log2(500.0 / f) / 2.0, 0.0, 1.0)
    high = np.clip(np.log2(f / 1000.0) / 3.0, 0.0, None)
    factor = bass_ratio**low * np.maximum(1.0 - hf_damping * high, 0.08)
    return np.maximum(rt60_s * factor, 0.05)


def _room_dimensions_m(room_size_m: float) -> np.ndarray:
    """Shoebox dimensions (length, width, height) for a venue whose longest side is `room_size_m`."""
    return np.array([room_size_m, 0.7 * room_size_m, float(np.clip(0.3 * room_size_m, 2.5, 45.0))])


def _early_reflections(
    sample_rate: float,
    *,
    room_size_m: float,
    rt60_s: float,
    listener_offset_m: float,
    length: int,
) -> tuple[np.ndarray, float]:
    """Sparse image-source taps of a shoebox room, relative to the direct sound.

    Returns the taps (length samples, direct path excluded) and the first reflection's delay in s.
    """
    dims = _room_dimensions_m(room_size_m)
    volume = float(np.prod(dims))
    surface = 2.0 * (dims[0] * dims[1] + dims[0] * dims[2] + dims[1] * dims[2])
    # Sabine: the mean absorption that gives this RT60 in this room sets the wall reflectance.
    absorption = float(np.clip(0.161 * volume / (surface * rt60_s), 0.02, 0.95))
    reflectance = math.sqrt(1.0 - absorption)
    source = np.array([0.15 * dims[0], 0.5 * dims[1], min(2.0, 0.5 * dims[2])])
    listener = np.array(
        [0.65 * dims[0], 0.5 * dims[1] + listener_offset_m, min(1.7, 0.4 * dims[2])]
    )

    order = np.arange(-2, 3)
    mirrored = np.array([0, 1])
    # Image positions per axis: 2*q*L + (1 - 2p)*s, reached after |2q - p| wall reflections.
    position = 2 * order[:, None, None] * dims + (1 - 2 * mirrored[None, :, None]) * source
    bounces = np.abs(2 * order[:, None] - mirrored[None, :])  # (5, 2), same for every axis
    px, py, pz = (position[..., axis].ravel() for axis in range(3))
    bx = by = bz = bounces.ravel()
    distance = np.sqrt(
        (px[:, None, None] - listener[0]) ** 2
        + (py[None, :, None] - listener[1]) ** 2
        + (pz[None, None, :] - listener[2]) ** 2
    ).ravel()
    reflections = (bx[:, None, None] + by[None, :, None] + bz[None, None, :]).ravel()
    direct = float(np.linalg.norm(source - listener))
    keep = reflections > 0
    delay_s = (distance[keep] - direct) / SPEED_OF_SOUND_M_S
    gain = reflectance ** reflections[keep] * direct / distance[keep]
    taps_at = np.round(delay_s * sample_rate).astype(np.int64)
    inside = taps_at < length
    taps = np.bincount(taps_at[inside], weights=gain[inside], minlength=length)[:length]
    return taps, float(delay_s.min())


def venue_impulse_response(  # noqa: PLR0913  one keyword per stage parameter, as pedalboard's plugins take them
    sample_rate: float,
    *,
    rt60_s: float = 1.5,
    room_size_m: float = 30.0,
    predelay_ms: float = 20.0,
    hf_damping: float = 0.5,
    bass_ratio: float = 1.1,
    early_level_db: float = -6.0,
    channels: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """A procedural venue impulse response, float32 `(channels, N)`, without the direct sound.

    Early reflections come from an image-source model of a shoebox whose longest side is
    `room_size_m` (each channel hears them from a listener position a little to the side, which
    decorrelates them); the late tail is noise whose decay time follows `rt60_by_frequency`, built
    in the STFT domain so every frequency decays at its own rate, with a diffuse build-up after the
    first reflection. `predelay_ms` delays everything. N is what the longest decay needs to fall
    by 60 dB. Each channel has unit energy on average, so the wet signal is about as loud as the dry.

    Examples
    --------
    >>> ir = venue_impulse_response(44100, rt60_s=2.8, room_size_m=180, seed=1)
    >>> ir.shape[0], ir.dtype
    (2, dtype('float32'))
    """
    specs = parameter_specs(VenueReverb)
    for name, value in (
        ("rt60_s", rt60_s),
        ("room_size_m", room_size_m),
        ("predelay_ms", predelay_ms),
        ("hf_damping", hf_damping),
        ("bass_ratio", bass_ratio),
        ("early_level_db", early_level_db),
        ("seed", seed),
    ):
        specs[name].validate(value, owner="venue_impulse_response")
    if not 1 <= channels <= 16:
        raise ParameterError(f"venue_impulse_response channels = {channels} must be in [1, 16]")

    n_fft = 1 << round(math.log2(sample_rate * 0.023))  # ~23 ms frames at any sample rate
    hop = n_fft // 4
    frequencies = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    rt60 = rt60_by_frequency(
        frequencies, rt60_s=rt60_s, hf_damping=hf_damping, bass_ratio=bass_ratio
    )

    predelay = round(predelay_ms * 1e-3 * sample_rate)
    dims = _room_dimensions_m(room_size_m)
    mixing_time_s = min(math.sqrt(float(np.prod(dims))) * 1e-3, 0.15, rt60_s / 10.0)
    spacing_m = float(np.clip(0.08 * room_size_m, 0.3, 6.0))
    offsets = (np.arange(channels) - (channels - 1) / 2.0) * spacing_m
    er_window = round(min(0.3, 0.5 * rt60_s) * sample_rate)
    early = [
        _early_reflections(
            sample_rate,
            room_size_m=room_size_m,
            rt60_s=rt60_s,
            listener_offset_m=float(offset),
            length=er_window,
        )
        for offset in offsets
    ]
    onset_s = min(first for _, first in early)
    late_length = math.ceil((onset_s + float(rt60.max())) * sample_rate)
    length = predelay + late_length

    n_frames = late_length // hop + n_fft // hop + 1
    frame_times = (np.arange(n_frames) * hop + n_fft / 2 - n_fft) / sample_rate - onset_s
    # Amplitude falls 60 dB (10**-3) per RT60; the build-up makes the tail grow in over the
    # mixing time instead of starting at full level with the first reflection.
    decay = 10.0 ** (-3.0 * np.maximum(frame_times, 0.0)[:, None] / rt60[None, :])
    build_up = 1.0 - np.exp(-np.maximum(frame_times, 0.0) / max(mixing_time_s / 3.0, 1e-3))
    envelope = decay * build_up[:, None]
    envelope[:, 0] = 0.0  # no DC in a reverb tail

    window = np.hanning(n_fft + 1)[:-1]
    ir = np.zeros((channels, length), dtype=np.float64)
    for channel in range(channels):
        rng = np.random.default_rng([seed, 1_000 + channel])
        spectrum = rng.standard_normal(envelope.shape) + 1j * rng.standard_normal(envelope.shape)
        frames = np.fft.irfft(spectrum * envelope, n_fft) * window
        late = np.zeros((n_frames + 3) * hop)
        for phase in range(n_fft // hop):  # overlap-add: four interleaved hop-sized slices
            part = frames[:, phase * hop : (phase + 1) * hop]
            late[phase * hop : phase * hop + n_frames * hop] += part.reshape(-1)
        late = late[n_fft : n_fft + late_length]
        taps, _ = early[channel]
        # Wall reflections lose their highest frequencies: a gentle one-pole low-pass.
        cutoff_hz = min(2000.0 + 14000.0 * (1.0 - hf_damping), 0.45 * sample_rate)
        taps = one_pole_lowpass(taps, pole=math.exp(-2.0 * math.pi * cutoff_hz / sample_rate))
        late_energy = float(np.sum(late**2))
        early_energy = max(float(np.sum(taps**2)), 1e-12)
        taps *= math.sqrt(10.0 ** (early_level_db / 10.0) * late_energy / early_energy)
        ir[channel, predelay : predelay + late_length] = late
        ir[channel, predelay : predelay + min(len(taps), late_length)] += taps[:late_length]

    fade = min(int(0.01 * sample_rate), length // 4)
    if fade > 0:
        ir[:, length - fade :] *= np.cos(np.linspace(0.0, np.pi / 2, fade)) ** 2
    ir /= math.sqrt(float(np.mean(np.sum(ir**2, axis=1))))
    return ir.astype(np.float32)


# --- the stage -------------------------------------------------------------------------------


class VenueReverb(Stage):
    """Venue reverb: convolution with a procedural stereo impulse response of a room.

    The impulse response (see `venue_impulse_response`) has image-source early reflections, a
    frequency-dependent decay and decorrelated left/right tails. The mono mix of the input is
    convolved with the left and right responses (mono-in, stereo-out, like a hall: a sound panned
    left still reverberates on both sides); `width` narrows the reverb towards mono, `mix` blends
    it with the dry signal. A mono input comes out stereo (the dry sound in the middle, the room
    around it); stereo stays stereo.

    >>> reverb = VenueReverb(rt60_s=2.8, room_size_m=180, predelay_ms=40, mix=0.35)
    >>> live = reverb(audio, 44100)                    # audio: float32 (channels, samples)
    >>> arena = liveify.load_preset("arena").build_venue()  # the venue of a bundled preset

    Each call costs at least one FFT a few times the impulse response long, so the stage is
    fastest with chunks of ten seconds or more (a 3 s stadium response: ~2 ms per second of
    stereo audio at 44.1 kHz with 10 s chunks, ~5 ms with 1 s chunks); any chunking gives the
    same result with `reset=False`.
    """

    rt60_s = RangeParameter(
        1.5,
        0.1,
        12.0,
        doc="Decay time (-60 dB) at 500 Hz-1 kHz in seconds; longer = bigger, harder hall.",
    )
    room_size_m = RangeParameter(
        30.0, 3.0, 300.0, doc="Longest side of the venue; sets early-reflection timing and density."
    )
    predelay_ms = RangeParameter(
        20.0,
        0.0,
        250.0,
        doc="Delay of the whole reverb after the dry sound; more = larger, clearer.",
    )
    width = RangeParameter(
        1.0, 0.0, 1.0, doc="Stereo width of the reverb: 0 mono, 1 fully decorrelated."
    )
    mix = RangeParameter(0.3, 0.0, 1.0, doc="Wet share: output = (1 - mix) * dry + mix * wet.")
    hf_damping = RangeParameter(
        0.5,
        0.0,
        0.95,
        doc="How much shorter the decay is at 8 kHz: RT60(8 kHz) = (1 - hf_damping) * rt60_s.",
    )
    bass_ratio = RangeParameter(
        1.1, 0.5, 2.0, doc="Decay time at 125 Hz relative to rt60_s (warmth of the hall)."
    )
    early_level_db = RangeParameter(
        -6.0, -30.0, 6.0, doc="Energy of the early reflections relative to the late tail."
    )
    seed = RangeParameter(0, 0, 2**32 - 1, kind=int, doc="Random seed of the impulse response.")

    def __init__(self, *args, **parameters):  # the parameters above (see Stage.__init__)
        self._convolvers: dict[float, StreamingConvolver] = {}
        self._sample_rate: float | None = None
        super().__init__(*args, **parameters)

    def _parameters_changed(self, name: str) -> None:
        if name not in ("width", "mix"):  # these two act after the convolution
            self._convolvers = {}
            self._sample_rate = None

    def impulse_response(self, sample_rate: float) -> np.ndarray:
        """This reverb's impulse response at `sample_rate`, float32 `(2, N)`."""
        return self._convolver(float(sample_rate)).impulse_responses

    def _convolver(self, sample_rate: float) -> StreamingConvolver:
        if sample_rate not in self._convolvers:
            if len(self._convolvers) >= 2:
                self._convolvers.pop(next(iter(self._convolvers)))
            ir = venue_impulse_response(
                sample_rate,
                rt60_s=self.rt60_s,
                room_size_m=self.room_size_m,
                predelay_ms=self.predelay_ms,
                hf_damping=self.hf_damping,
                bass_ratio=self.bass_ratio,
                early_level_db=self.early_level_db,
                seed=self.seed,
            )
            self._convolvers[sample_rate] = StreamingConvolver(ir)
        return self._convolvers[sample_rate]

    def reset(self) -> None:
        for convolver in self._convolvers.values():
            convolver.reset()
        self._sample_rate = None

    def tail_samples(self, sample_rate: float) -> int:
        if self.mix == 0.0:
            return 0
        return self._convolver(float(sample_rate)).ir_length - 1

    def process_block(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        if self._sample_rate not in (None, sample_rate):
            raise ParameterError(
                f"VenueReverb got sample_rate {sample_rate:g} Hz while continuing a "
                f"{self._sample_rate:g} Hz signal; call it with reset=True to start a new signal"
            )
        self._sample_rate = sample_rate
        # The room hears the band as one source: the mono mix excites both decorrelated responses
        # (one FFT instead of one per channel), as in a hall where every seat hears every speaker.
        channels = audio.shape[0]
        mono_sum = audio[0] if channels == 1 else audio.sum(axis=0)
        if channels == 1:  # mono in, stereo out: the dry sound sits in the middle of the room
            audio = np.repeat(audio, 2, axis=0)
        if self.mix == 0.0:
            return audio.copy()
        wet = self._convolver(sample_rate).process(mono_sum)
        if audio.shape[0] != wet.shape[0]:  # more than two channels alternate the responses
            wet = wet[np.arange(audio.shape[0]) % wet.shape[0]]
        if audio.shape[0] == 2 and self.width < 1.0:
            # Mid/side narrowing; the gain keeps the wet level as decorrelated L/R lose power.
            mid = 0.5 * (wet[0] + wet[1])
            side = (0.5 * self.width) * (wet[0] - wet[1])
            gain = math.sqrt(2.0 / (1.0 + self.width**2))
            wet = np.stack([mid + side, mid - side]) * np.float32(gain)
        out = np.multiply(wet, np.float32(self.mix / channels))  # the sum's mean, and the mix
        out += np.float32(1.0 - self.mix) * audio
        return out
