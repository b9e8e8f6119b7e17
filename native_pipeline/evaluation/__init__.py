"""Evaluation of trained checkpoints: perplexity, multiple-choice log-likelihood, harmlessness.

No Dagster here: pure functions of a loaded model and tokenizer.
"""
