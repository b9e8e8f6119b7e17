-- description: The share of records quarantined as unreadable stays under quarantine_rate_max.
-- severity: warn
-- blocking: false
with counts as (
    select
        (select count(*) from {{ ref('raw_crawl', 'quarantine') }}) as quarantined,
        (select count(*) from {{ ref('raw_crawl') }}) as readable
)
select quarantined, readable, quarantined / (quarantined + readable) as quarantine_rate
from counts
where quarantined / greatest(quarantined + readable, 1) > {{ var('quarantine_rate_max', 'number') }}
