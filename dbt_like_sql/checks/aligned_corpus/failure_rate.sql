-- description: The share of segments whose rewrite failed (kept as original and flagged) stays under failure_rate_max.
-- severity: error
-- blocking: false
select count(*) as segments, avg((status <> 'valid')::int) as failure_rate
from {{ ref('aligned_corpus') }}
having avg((status <> 'valid')::int) > {{ var('failure_rate_max', 'number') }}
