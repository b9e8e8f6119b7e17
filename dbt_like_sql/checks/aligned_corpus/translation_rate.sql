-- description: The share of segments for which the rewriter answered in another language (translated) stays under translation_rate_max.
-- severity: error
-- blocking: false
select count(*) as segments, avg(contains(rejected, 'translated')::int) as translation_rate
from {{ ref('aligned_corpus') }}
having avg(contains(rejected, 'translated')::int) > {{ var('translation_rate_max', 'number') }}
