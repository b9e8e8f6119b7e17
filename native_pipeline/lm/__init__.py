"""The ground floor shared by the alignment worker and pre-training: model construction,
tokenizer, checkpoints, device choice and the one training loop. Knows nothing of Dagster."""
