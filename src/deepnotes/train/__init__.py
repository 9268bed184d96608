"""Training: the run configuration (`config.py`), a plain PyTorch loop (`trainer.py`),
optimisers by name (`optimizers.py`), safe, atomic checkpoints (`checkpoint.py`),
several processes (`distributed.py`), run folders written (`run.py`) and read back
(`runs.py`), and training in memory for experiments (`fit.py`). The tasks that turn a
batch into losses and metrics live one layer down, in `deepnotes.tasks`."""
