"""Training data: pairing, alignment, cache, augmentation and windowed datasets (the demo songs
are `liveify.demo`).

Submodules import their heavy dependencies (librosa, whisper) lazily; import what you need, e.g.
`from liveify.data.dataset import prepare_pairs`.
"""
