"""The model half of the method: tokenizer, token shards, continued pre-training. No Dagster."""
