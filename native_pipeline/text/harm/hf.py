"""The `hf_classifier` harm backend: a local Hugging Face sequence-classification folder (an
Arabic BERT fine-tuned for offensive language, say), batched, on CPU or GPU.

`harm.labels` maps the model's labels (its config's id2label) to our categories, e.g.
{"OFF": "harm_harassment", "HS": "harm_hate"}; labels left out (NOT_OFF, normal) are not harm.
A category's score is the highest probability among its labels: softmax for a single-label
model, sigmoid for a multi-label one (config.problem_type).
"""

from __future__ import annotations

from pathlib import Path

from native_pipeline.settings import HarmSettings
from native_pipeline.text.harm import CATEGORIES, complete


class HFClassifierScorer:
    name = "hf_classifier"

    def __init__(self, settings: HarmSettings) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not settings.model or not Path(settings.model).is_dir():
            raise ValueError("the hf_classifier harm backend needs a local model folder as model")
        unknown = set(settings.labels.values()) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"harm.labels maps to unknown categories {sorted(unknown)}")
        self.tokenizer = AutoTokenizer.from_pretrained(settings.model)
        self.model = AutoModelForSequenceClassification.from_pretrained(settings.model)
        self.model.to(settings.device).eval()
        id2label = self.model.config.id2label
        missing = set(settings.labels) - set(id2label.values())
        if missing or not settings.labels:
            raise ValueError(
                f"harm.labels must map some of the model's labels {sorted(id2label.values())}"
                + (f"; not among them: {sorted(missing)}" if missing else "")
            )
        self.columns = {
            cat: [i for i, label in id2label.items() if settings.labels.get(label) == cat]
            for cat in CATEGORIES
        }
        self.categories = tuple(cat for cat, ids in self.columns.items() if ids)
        self.multi_label = self.model.config.problem_type == "multi_label_classification"
        self.batch_size = settings.batch_size
        self.device = settings.device
        self._torch = torch

    def score(self, texts: list[str]) -> list[dict[str, float]]:
        torch = self._torch
        out: list[dict[str, float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                texts[start : start + self.batch_size],
                padding=True,
                truncation=True,
                max_length=512,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                logits = self.model(**batch).logits.float()
            probs = logits.sigmoid() if self.multi_label else logits.softmax(-1)
            for row in probs.cpu().numpy():
                out.append(
                    complete(
                        {cat: float(row[ids].max()) for cat, ids in self.columns.items() if ids}
                    )
                )
        return out
