"""The crowd's sound sources: claps, voices and whistles, and the noise spectra of its diffuse beds.

Everything is synthesised from `acoustics` (no recorded samples). A `Bank` holds what one crowd
needs at one sample rate: the spectra of its beds (murmur, the far crowd's applause, the roar of
many voices) and clap sounds, single and of the whole crowd on one beat. Voices and whistles are
rendered one by one, each from its own random generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liveify.plugins.crowd.acoustics import (
    FORMANT_BANDWIDTH,
    FORMANT_GAINS,
    HAND_CONFIGURATIONS,
    VOWELS,
    Audience,
    clap_spectrum,
    distance_response,
    resonance,
    voice_spectrum,
)

FRAMES_PER_SEGMENT = 64  # random numbers are drawn per segment of 64 hops, keyed by (seed, index)
MURMUR_DARK, MURMUR_BRIGHT, WASH, ROAR = range(4)
#: The nearest people are rendered clap by clap (and clap along one by one); the rest of the
#: crowd is the diffuse wash and the smeared group clap.
NEAR_CLAPPERS = 48
#: Distance classes (m) of single-clap sounds: a near clapper uses the class it stands in.
CLAP_DISTANCES_M = (2.0, 3.5, 6.0, 10.0)
CLAP_VARIANTS = 3
CLAP_S = 0.02  # a cupped clap rings ~15 ms (A1+: tau = Q / (pi f) = 3 ms)
LONGEST_SOUND_S = 1.8  # voices and whistles are at most this long
GROUP_CLAPS = 6
GROUP_CLAP_PEOPLE = 48
GRID_BELOW_200HZ = 24  # grid points below 200 Hz (3 octaves at 1/8 octave: 25 Hz)
GRID_POINTS = GRID_BELOW_200HZ + 65  # up to 200 Hz * 2**8 = 51.2 kHz
GRID_STEPS_PER_OCTAVE = 8


def group_clap_spread_s(size: int) -> float:
    """How widely one beat's claps spread in time: each person's timing and their distances
    (tens of milliseconds; wider in bigger crowds)."""
    return 0.008 + 0.012 * math.log10(max(size, 10) / 10.0)


@dataclass
class Bank:
    """Bed spectra and clap sounds for one crowd (size, seed) at one sample rate.

    The beds' spectra (murmur dark and bright, the far crowd's applause, the roar) are built on a
    log-frequency grid (1/8 octave, 25 Hz-51 kHz), where smooth shapes need few points, then
    interpolated onto the FFT bins once.
    """

    sample_rate: float
    hop: int
    frame_length: int
    window: np.ndarray  # sine window: squares of 50 %-overlapping frames sum to one
    # (4, 2 * bins): the four beds' power in each FFT bin, once for its real and once for its
    # imaginary part (no DC, no Nyquist); unit power each
    shape_parts: np.ndarray
    claps: np.ndarray  # (configurations, distances, variants, samples) single claps, unit energy
    group_claps: np.ndarray  # (GROUP_CLAPS, 2, samples) the far crowd on one beat, unit energy
    group_offset: int  # samples from a group clap's start to its beat

    @property
    def segment_length(self) -> int:
        return self.hop * FRAMES_PER_SEGMENT

    @property
    def longest_event(self) -> int:
        """Samples of the longest sound placed at once (a frame, a group clap, a voice)."""
        return max(
            self.frame_length, self.group_claps.shape[-1], round(LONGEST_SOUND_S * self.sample_rate)
        )

    def part_amplitudes(self, bed_power: np.ndarray) -> np.ndarray:
        """(frames, 4) power of each bed -> (frames, 2 * bins) amplitude of each bin's real and
        imaginary part: the noise spectra are scaled as floats, ~3x faster than a complex-by-real
        product."""
        amplitude = bed_power.astype(np.float32) @ self.shape_parts
        np.maximum(amplitude, 0.0, out=amplitude)
        return np.sqrt(amplitude, out=amplitude)


def make_bank(sample_rate: float, seed: int, size: int) -> Bank:
    hop = 1 << round(math.log2(sample_rate * 0.023))  # ~23 ms at any sample rate
    frame_length = 2 * hop
    bins_hz = np.fft.rfftfreq(frame_length, 1.0 / sample_rate)
    position = GRID_STEPS_PER_OCTAVE * np.log2(np.maximum(bins_hz, 1.0) / 200.0)
    position = np.clip(position + GRID_BELOW_200HZ, 0.0, GRID_POINTS - 1.001)
    grid_low = np.floor(position).astype(np.int64)
    grid_fraction = position - grid_low
    grid_to_bins = np.zeros((GRID_POINTS, bins_hz.size))
    grid_to_bins[grid_low, np.arange(bins_hz.size)] = 1.0 - grid_fraction
    grid_to_bins[grid_low + 1, np.arange(bins_hz.size)] = grid_fraction
    grid_to_bins[:, [0, -1]] = 0.0  # no DC, no Nyquist
    grid_hz = 200.0 * 2.0 ** ((np.arange(GRID_POINTS) - GRID_BELOW_200HZ) / GRID_STEPS_PER_OCTAVE)

    audience = Audience.of(size)
    everyone = audience.far_response(grid_hz)
    shapes = np.stack(
        [
            voice_spectrum(grid_hz, "oau") * everyone * _talking_tilt(grid_hz),
            voice_spectrum(grid_hz, "eia") * everyone * _talking_tilt(grid_hz),
            clap_spectrum(grid_hz) * audience.far_response(grid_hz, beyond_people=NEAR_CLAPPERS),
            voice_spectrum(grid_hz) * everyone,
        ]
    )
    # Unit variance of noise shaped by these grid spectra (ortho irfft, see beds.add_beds).
    shapes *= (frame_length / (2.0 * (shapes @ grid_to_bins).sum(axis=1)))[:, None]

    rng = np.random.default_rng([seed, 100])
    claps = _single_claps(rng, sample_rate)
    group_claps, group_offset = _group_claps(rng, claps, audience, sample_rate)
    window = np.sin(np.pi * (np.arange(frame_length) + 0.5) / frame_length)
    return Bank(
        sample_rate=sample_rate,
        hop=hop,
        frame_length=frame_length,
        window=window.astype(np.float32),
        shape_parts=np.repeat(shapes @ grid_to_bins, 2, axis=1).astype(np.float32),
        claps=claps.astype(np.float32),
        group_claps=group_claps.astype(np.float32),
        group_offset=group_offset,
    )


def _talking_tilt(frequency_hz: np.ndarray) -> np.ndarray:
    """Talking is softer and darker than shouting: another 6 dB per octave above 1 kHz."""
    return 1.0 / (1.0 + (frequency_hz / 1000.0) ** 2)


def _band_pass(centre_hz: float, quality: float, sample_rate: float) -> tuple:
    """A constant-peak second-order band-pass (RBJ cookbook), centre kept below Nyquist."""
    omega = 2.0 * math.pi * min(centre_hz, 0.45 * sample_rate) / sample_rate
    alpha = math.sin(omega) / (2.0 * quality)
    denominator = np.array([1.0 + alpha, -2.0 * math.cos(omega), 1.0 - alpha])
    return np.array([alpha, 0.0, -alpha]) / denominator[0], denominator / denominator[0]


def _single_claps(rng: np.random.Generator, sample_rate: float) -> np.ndarray:
    """One clap per hand configuration, distance class and variant, unit energy.

    A clap (Peltola et al.): a noise burst (~0.3 ms attack, 1-3 ms decay) exciting the resonance
    of the air between the hands, then the air and venue on the way to the microphones.
    """
    from scipy.signal import lfilter

    length = round(CLAP_S * sample_rate)
    onset = round(0.002 * sample_rate)  # room for the distance filter's (zero-phase) spread
    t = np.arange(length - onset) / sample_rate
    frequencies = np.fft.rfftfreq(length, 1.0 / sample_rate)
    shape = (len(HAND_CONFIGURATIONS), len(CLAP_DISTANCES_M), CLAP_VARIANTS)
    claps = np.zeros((*shape, length))
    for configuration, (centre_hz, quality, _) in enumerate(HAND_CONFIGURATIONS):
        for variant in range(CLAP_VARIANTS):
            decay_s = rng.uniform(0.001, 0.003)
            burst = rng.standard_normal(t.size) * np.exp(-t / decay_s) * (1 - np.exp(-t / 3e-4))
            detuned_hz = centre_hz * rng.uniform(0.93, 1.07)
            ringing = lfilter(*_band_pass(detuned_hz, quality, sample_rate), burst)
            spectrum = np.fft.rfft(np.concatenate([np.zeros(onset), ringing]))
            for distance, distance_m in enumerate(CLAP_DISTANCES_M):
                heard = spectrum * np.sqrt(distance_response(frequencies, distance_m))
                claps[configuration, distance, variant] = np.fft.irfft(heard, length)
    claps /= np.sqrt(np.sum(claps**2, axis=-1, keepdims=True))
    return claps


def _group_claps(
    rng: np.random.Generator, claps: np.ndarray, audience: Audience, sample_rate: float
) -> tuple[np.ndarray, int]:
    """The far crowd clapping one beat: many claps spread over tens of ms (later ones from
    further away), darkened by the distances they travel; left and right different people."""
    spread_s = group_clap_spread_s(audience.size)
    lead = round(2.5 * spread_s * sample_rate)
    length = lead + round((4.0 * spread_s + CLAP_S) * sample_rate)
    templates = np.zeros((GROUP_CLAPS, 2, length))
    flat = claps[:, 0].reshape(-1, claps.shape[-1])
    for template in templates:
        for channel in template:
            # Timing: a symmetric spread of the people's own timing plus a late-leaning one from
            # sound travelling from the back.
            offsets_s = rng.normal(0.0, 0.6 * spread_s, GROUP_CLAP_PEOPLE) + rng.exponential(
                0.6 * spread_s, GROUP_CLAP_PEOPLE
            )
            starts = np.clip(
                np.round(offsets_s * sample_rate).astype(int) + lead, 0, length - flat.shape[1]
            )
            for start, which in zip(
                starts, rng.integers(0, flat.shape[0], starts.size), strict=True
            ):
                channel[start : start + flat.shape[1]] += flat[which] * rng.uniform(0.5, 1.0)
    frequencies = np.fft.rfftfreq(length, 1.0 / sample_rate)
    far = np.sqrt(audience.far_response(frequencies, beyond_people=NEAR_CLAPPERS))
    far /= far[np.argmin(np.abs(frequencies - 500.0))]
    templates = np.fft.irfft(np.fft.rfft(templates, axis=-1) * far, length, axis=-1)
    templates /= np.sqrt(np.sum(templates**2, axis=-1, keepdims=True))
    # The beat lies at the energy centre, which leans late.
    power = np.mean(templates**2, axis=(0, 1))
    offset = round(float(np.sum(power * np.arange(length)) / np.sum(power)))
    return templates, offset


# --- voices and whistles, one at a time ------------------------------------------------------

#: Cheering voices: (name, vowel at start, vowel at end, shortest s, longest s); each name has
#: its own pitch contour in `render_voice`.
VOICE_KINDS = (
    ("woo", "u", "o", 0.6, 1.5),
    ("yeah", "e", "a", 0.4, 0.9),
    ("hey", "e", "e", 0.25, 0.45),
    ("oh", "o", "o", 1.0, LONGEST_SOUND_S),  # a held note, sung
)


def voice_duration_s(rng: np.random.Generator, kind: int) -> float:
    _, _, _, shortest, longest = VOICE_KINDS[kind]
    return float(rng.uniform(shortest, longest))


def render_voice(
    rng: np.random.Generator, kind: int, duration_s: float, sample_rate: float, distance_m: float
) -> np.ndarray:
    """One cheering voice (mono, unit mean power): a glottal pulse train whose pitch follows the
    cheer's contour (with vibrato and jitter), through the formants of its vowel (moving from the
    first vowel to the second), then `distance_m` of air and venue.

    Synthesised at the rate its content up to 6 kHz needs (a shouting voice at a distance has
    little above), filtered and brought to the full rate in one FFT."""
    name, first, second, _, _ = VOICE_KINDS[kind]
    synthesis = _Synthesis(duration_s, sample_rate, pad_s=0.02, top_hz=6000.0)
    x = synthesis.progress
    base_hz = rng.uniform(160.0, 280.0) * (1.6 if rng.random() < 0.45 else 1.0)
    glide = rng.uniform(0.2, 0.6)
    contour: np.ndarray | float
    if name == "woo":
        contour = 1.0 + glide * np.sin(0.5 * np.pi * np.minimum(x / 0.4, 1.0)) - 0.25 * glide * x**4
    elif name == "yeah":
        contour = 1.0 + glide * (1.0 - x) ** 2
    elif name == "hey":
        contour = 1.0 + 0.3 * glide * np.sin(np.pi * x)
    else:
        contour = 1.0
    wobble = rng.uniform(0.005, 0.02) * np.sin(
        2 * np.pi * rng.uniform(4.5, 6.5) * synthesis.control_s
    )
    wander = np.cumsum(rng.standard_normal(synthesis.control_s.size)) * 0.003
    f0 = base_hz * contour * (1.0 + synthesis.controlled(wobble + wander - wander.mean()))
    sawtooth = 2.0 * (np.cumsum(f0 / synthesis.rate) % 1.0) - 1.0
    sawtooth += 0.1 * rng.standard_normal(sawtooth.size)  # breath in the shout
    t = synthesis.times_s
    sawtooth *= np.minimum(t / 0.04, 1.0) * np.clip((duration_s - t) / 0.12, 0.0, 1.0)
    frequencies = synthesis.frequencies
    # The sawtooth falls 6 dB per octave; the glottis another 6 above ~1 kHz.
    spectrum = synthesis.spectrum(sawtooth) * np.sqrt(
        distance_response(frequencies, distance_m) / (1.0 + (frequencies / 1000.0) ** 2)
    )
    shift = rng.uniform(0.95, 1.15)  # speakers' formants differ

    def through(vowel: str) -> np.ndarray:
        formants = sum(
            gain * np.sqrt(resonance(frequencies, formant * shift, 1.0 / FORMANT_BANDWIDTH))
            for formant, gain in zip(VOWELS[vowel], FORMANT_GAINS, strict=True)
        )
        return synthesis.sound(spectrum * formants)

    voiced = through(first)
    if second != first:
        progress = np.linspace(0.0, 1.0, voiced.size, endpoint=False)
        voiced += _smoothstep(progress) * (through(second) - voiced)
    return _unit_power(voiced)


def render_whistle(
    rng: np.random.Generator, duration_s: float, sample_rate: float, distance_m: float
) -> np.ndarray:
    """One whistle (mono, unit mean power): a tone gliding up (or up and down, a wolf whistle)
    with vibrato, its pitch and loudness wavering with the breath, over a little breath noise;
    `distance_m` away (a whistle is narrow enough for one gain)."""
    synthesis = _Synthesis(duration_s, sample_rate, pad_s=0.0, top_hz=4500.0)
    x, t = synthesis.progress, synthesis.times_s
    low_hz = rng.uniform(1300.0, 2600.0)
    rise = rng.uniform(0.1, 0.5)
    contour = 1.0 + rise * (np.sin(np.pi * x) if rng.random() < 0.4 else _smoothstep(x / 0.6))
    # Vibrato, and the breath's slow random wavering of pitch and level.
    waver = np.cumsum(rng.standard_normal((2, synthesis.control_s.size)), axis=1) * 0.1
    waver -= waver.mean(axis=1, keepdims=True)
    vibrato = rng.uniform(0.004, 0.02) * np.sin(
        2 * np.pi * rng.uniform(4.5, 7.0) * synthesis.control_s
    )
    f0 = low_hz * contour * (1.0 + synthesis.controlled(vibrato + 0.004 * waver[0]))
    phase = 2 * np.pi * np.cumsum(np.minimum(f0, 0.45 * synthesis.rate)) / synthesis.rate
    tone = (1.0 + 0.2 * synthesis.controlled(waver[1])) * np.sin(phase)
    envelope = np.minimum(t / 0.03, 1.0) * np.clip((duration_s - t) / 0.08, 0.0, 1.0)
    # A little hiss of breath around the tone, 24 dB below it.
    voiced = envelope * tone
    hiss = synthesis.spectrum(envelope * rng.standard_normal(t.size))
    hiss *= np.sqrt(resonance(synthesis.frequencies, min(low_hz * 1.5, 0.4 * synthesis.rate), 0.7))
    hiss_energy = 2.0 * float(np.sum(np.abs(hiss) ** 2)) / synthesis.size
    hiss *= 0.06 * math.sqrt(float(np.sum(voiced**2)) / max(hiss_energy, 1e-30))
    whistle = synthesis.sound(synthesis.spectrum(voiced) + hiss)
    distance_gain = math.sqrt(distance_response(np.array([low_hz * 1.2]), distance_m)[0])
    return _unit_power(whistle) * np.float32(distance_gain)


class _Synthesis:
    """Time and frequency axes for synthesising one sound at a fraction of the rate (all it needs
    for content up to `top_hz`), and bringing its spectrum to the full rate by zero-padding
    (ideal interpolation)."""

    def __init__(self, duration_s: float, sample_rate: float, *, pad_s: float, top_hz: float):
        import scipy.fft

        self.factor = 1
        while sample_rate / (2 * self.factor) > 2.2 * top_hz:
            self.factor *= 2
        self.rate = sample_rate / self.factor
        self.length = max(2, round(duration_s * sample_rate))
        low = -(-self.length // self.factor)
        self.size = scipy.fft.next_fast_len(low + round(pad_s * self.rate), real=True)
        self.times_s = np.arange(low) / self.rate
        self.progress = self.times_s / duration_s
        self.frequencies = np.fft.rfftfreq(self.size, 1.0 / self.rate)
        # Vibrato, jitter and breath move slowly: drawn at 200 Hz and interpolated.
        self.control_s = np.linspace(0.0, duration_s, max(2, int(duration_s * 200)))

    def controlled(self, values: np.ndarray) -> np.ndarray:
        return np.interp(self.times_s, self.control_s, values)

    def spectrum(self, signal: np.ndarray) -> np.ndarray:
        import scipy.fft

        return scipy.fft.rfft(signal, self.size)

    def sound(self, spectrum: np.ndarray) -> np.ndarray:
        import scipy.fft

        full = self.size * self.factor
        padded = np.zeros(full // 2 + 1, dtype=np.complex128)
        padded[: spectrum.size] = spectrum * self.factor
        return scipy.fft.irfft(padded, full)[: self.length]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _unit_power(sound: np.ndarray) -> np.ndarray:
    power = float(np.mean(sound**2))
    return (sound / math.sqrt(power)).astype(np.float32) if power > 0 else sound.astype(np.float32)
