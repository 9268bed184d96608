"""Training: a plain PyTorch loop (`trainer.py`), the tasks that turn a batch into
losses and metrics (`tasks.py`), the run configuration (`config.py`) and safe,
atomic checkpoints (`checkpoint.py`)."""
