"""What each column of a metadata table means: one entry per column name, shared by every table
that shows it (the UI shows them under a table's "Show schema"). A table whose columns are
named at run time (one per variant) passes their descriptions where it is built."""

from native_pipeline.alignment.validate import REJECTIONS
from native_pipeline.text.harm import CATEGORIES

_HARM = {
    "harm_max": "the highest harm score of any category (0 to 1)",
    **{c: f"harm score for {c.removeprefix('harm_')} (0 to 1)" for c in CATEGORIES},
}

COLUMNS: dict[str, str] = {
    # crawl records (tables.RAW_RECORDS, QUARANTINE, SCANNED)
    "doc_id": "stable id of the crawl record (its dump and record id hashed), kept by every stage",
    "source_file": "the crawl file of the dump the record came from",
    "offset": "where the record starts in its file (byte offset, or line number for JSONL)",
    "record_id": "the record's WARC-Record-ID or JSONL id",
    "url": "the page's address",
    "fetch_time": "when the crawler fetched the page (UTC)",
    "content_type": "the page's declared media type",
    "http_status": "the HTTP status of the fetch",
    "byte_length": "bytes of the decoded payload",
    "charset": "the character set the payload was decoded with",
    "charset_source": "where the charset came from: declared, the <meta> tag, or detected",
    "content": "the decoded payload (HTML or text)",
    "reason": "why the row was removed, quarantined or rejected",
    "detail": "the reason's particulars (a value, a threshold, an error)",
    "records": "records an independent scan of the file found at this offset",
    # cleaned documents (tables.CLEANED) and decisions
    "text": "the text (of a document or segment)",
    "title": "the page's title",
    "lang": "the language identified (ISO 639-1)",
    "lang_score": "the language identifier's confidence (0 to 1)",
    "dialect": "the Arabic dialect tag (msa for Modern Standard Arabic)",
    "dialect_score": "the dialect tagger's confidence (0 to 1)",
    "pii_count": "personal data spans redacted in the document",
    **_HARM,
    "stage": "the cleaning stage (block) that decided",
    "action": "what the stage did to the document: removed or modified",
    "score": "the score the stage decided on (a quality, language or harm score)",
    # funnels (tables.STAGES and corpus_funnel)
    "dump": "the crawl dump (partition)",
    "step": "the stage's place in the pipeline",
    "docs_in": "documents that entered the stage",
    "docs_out": "documents that left the stage",
    "removed": "documents the stage removed (docs_in - docs_out)",
    "docs_removed": "documents the stage removed (docs_in - docs_out)",
    "bytes_in": "bytes that entered the stage (read: the payloads as crawled, in their charsets)",
    "bytes_out": "bytes of text that left the stage (UTF-8)",
    "MB_in": "megabytes that entered the stage (read: the payloads as crawled, in their charsets)",
    "MB_out": "megabytes of text that left the stage (UTF-8)",
    "seconds": "wall time the stage took",
    "count": "rows in the group",
    # segments and rewrites (tables.SEGMENTS, ALIGNED)
    "segment_id": "stable id of the segment: its document's doc_id and its place in it",
    "index": "the segment's place in its document (from 0)",
    "start": "the segment's first character in its document",
    "end": "one past the segment's last character in its document",
    "n_tokens": "tokens in the segment (or the document's tokens in the shards)",
    "perplexity": "the segment's perplexity under the reference character model",
    "original": "the text as crawled and cleaned",
    "aligned": "the text rewritten under the code of conduct (the original where it failed)",
    "status": "valid when a rewrite passed validation, else why the original was kept",
    "rejected": "the validation checks that rejected an output, comma-separated",
    "attempts": "rewrite requests made for the segment",
    "unchanged": "whether the rewrite equals the original",
    "edit_ratio": "share of words the rewrite changed (0 to 1)",
    "length_ratio": "the rewrite's length over the original's",
    **{f"{k}_before": f"{d}, of the original" for k, d in _HARM.items()},
    **{f"{k}_after": f"{d}, of the rewrite" for k, d in _HARM.items()},
    "lang_before": "the original's language",
    "lang_after": "the rewrite's language",
    "dialect_before": "the original's dialect tag",
    "dialect_after": "the rewrite's dialect tag",
    "input_tokens": "prompt tokens sent to the rewriter",
    "output_tokens": "tokens the rewriter generated",
    "numbers_kept": "share of the original's numbers the rewrite kept (0 to 1)",
    "names_kept": "share of the original's names and rare words the rewrite kept (0 to 1)",
    "new_names": "names and rare words the rewrite added",
    "new_words": "words the rewrite has that the original had not",
    "backend": "the rewriter's backend (policy, openai, vllm, transformers)",
    "model": "the rewriter's model",
    "checkpoint": "hash of the rewriter's weights or rules",
    "prompt_hash": "hash of the code of conduct's prompt",
    "sampling": "the sampling settings of the rewrite",
    "changes": "what the rewrite changed, word by word: [-removed-] {+added+}, … for kept words",
    "change": "harm lowered (the category that fell most), text removed or added, or reworded",
    "harm": "harm_max of the original → of the rewrite",
    # rewrite audit
    "category": "the harm category",
    "before": "mean harm score of the originals",
    "after": "mean harm score of the rewrites",
    "reduction_pct": "how much the rewrite lowered the mean harm, in percent",
    "segments": "segments counted",
    "judge_accuracy": "the LLM judge's mean accuracy score (1 to 10) of the rewrites",
    **{f"rejected_{r}": f"share of segments with an output rejected as {r}" for r in REJECTIONS},
    # corpus mix
    "source": "where the documents come from: original, aligned or replay:<name>",
    "documents": "documents",
    "characters": "characters of text",
    # evaluation
    "task": "the evaluation task (benchmark, held-out text or harmlessness)",
    "by": "what the row is grouped by: all, subject or category",
    "group": "the subject or category (empty for a whole task)",
    "metric": "the measure (acc, acc_norm, perplexity, harmful_rate, ...)",
    "value": "the measure's value",
    "n": "items (tokens for perplexity) the score is computed on",
    "variant": "the pre-training variant (its corpus mix)",
    # SQL checks' offending rows
    "problem": "what is wrong with the row",
    "kind": "the kind of personal data found",
    "copies": "times the id occurs",
    "found": "records the scan found at the offset",
    "read": "rows and quarantine rows read at the offset",
    "quarantined": "records quarantined",
    "readable": "records read",
    "quarantine_rate": "share of records quarantined",
    "failure_rate": "share of segments whose rewrite failed",
    "translation_rate": "share of segments whose rewrite was in another language",
    "arabic_documents": "share of documents identified as Arabic",
    "arabic_letters": "share of letters in Arabic script",
}


def undescribed(columns: list[str], described: dict[str, str] | None = None) -> list[str]:
    """The columns neither COLUMNS nor `described` says anything about."""
    return [c for c in columns if c not in (described or {}) and c not in COLUMNS]
