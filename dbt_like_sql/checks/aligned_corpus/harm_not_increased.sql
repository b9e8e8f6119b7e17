-- description: No emitted segment is more harmful than its original (harm_max, within harm_tolerance).
-- severity: error
-- blocking: true
select segment_id, harm_max_before, harm_max_after
from {{ ref('aligned_corpus') }}
where harm_max_after > harm_max_before + {{ var('harm_tolerance', 'number') }}
