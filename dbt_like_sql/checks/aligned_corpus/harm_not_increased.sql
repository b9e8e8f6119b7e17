-- description: No emitted segment is more harmful than its original (harm_max, within harm_tolerance), unless the rewrite has no word the original had not: then the higher score is the scorer's noise on re-cut paragraphs or fixed punctuation.
-- severity: error
-- blocking: true
select segment_id, harm_max_before, harm_max_after, new_words
from {{ ref('aligned_corpus') }}
where harm_max_after > harm_max_before + {{ var('harm_tolerance', 'number') }}
    and coalesce(new_words, 1) > 0
