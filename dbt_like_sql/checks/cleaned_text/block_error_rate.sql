-- description: The share of the dump's records removed because a cleaning block raised on them alone (limits / block_error) stays at most block_error_rate_max: more means a block or its backend is broken, not the documents, and the dump must not go on half empty.
-- severity: error
-- blocking: true
with counts as (
    select
        (select count(*) from {{ ref('cleaned_text', 'decisions') }}
         where stage = 'limits' and reason = 'block_error') as block_errors,
        (select count(*) from {{ ref('raw_crawl') }}) as raw_records
)
select block_errors, raw_records, block_errors / greatest(raw_records, 1) as block_error_rate
from counts
where block_errors / greatest(raw_records, 1) > {{ var('block_error_rate_max', 'number') }}
