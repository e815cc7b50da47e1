"""Training data: demo songs, pairing, alignment, cache, augmentation and windowed datasets.

Submodules import their heavy dependencies (librosa, whisper) lazily; import what you need, e.g.
`from liveify.data.dataset import prepare_pairs`.
"""
