"""Training: the recipe (what is computed), the engine (how fast), checkpoints, and the train job."""
