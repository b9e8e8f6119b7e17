"""ArabicMMLU rows as question, choices and gold for the native_arabic_mmlu task.

Same reading as native_pipeline.evaluation.tasks: the passage (Context), when there is one, on
a line before the question; the options up to the first empty one; the key a letter.
"""


def process_arabic_mmlu(dataset):
    def fields(doc):
        context = (doc["Context"] or "").strip()
        options = [doc[f"Option {i}"] for i in range(1, 6)]
        options = options[: options.index(None)] if None in options else options
        return {
            "question": f"{context}\n{doc['Question']}" if context else doc["Question"],
            "choices": [str(option) for option in options],
            "gold": "ABCDE".index(doc["Answer Key"].strip()),
        }

    return dataset.map(fields)
