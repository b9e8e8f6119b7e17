-- description: Valid rewrites keep their length within [length_ratio_min, length_ratio_max] of the original (no summarising, no padding); harmful segments may shrink below the minimum.
-- severity: error
-- blocking: true
select segment_id, length_ratio, harm_max_before
from {{ ref('aligned_corpus') }}
where status = 'valid' and (
    length_ratio > {{ var('length_ratio_max', 'number') }}
    or (length_ratio < {{ var('length_ratio_min', 'number') }}
        and harm_max_before < {{ var('moderation_threshold', 'number') }})
)
