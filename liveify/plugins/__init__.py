"""Effect stages with pedalboard's call protocol: `stage(audio, sample_rate, reset=True)`."""
