"""`python -m liveify.train ...`: the original specification's training command line, e.g.

    python -m liveify.train --studio_dir ./dataset/studio --live_dir ./dataset/live \
      --batch_size 4 --segment_duration 0.5 --context_length 64 --max_epochs 100 \
      --learning_rate 1e-6 --logger wandb

It is `liveify train` under another name: the same options, spellings and errors.
"""

from liveify.cli import run_train_command

if __name__ == "__main__":
    run_train_command(prog_name="python -m liveify.train")
