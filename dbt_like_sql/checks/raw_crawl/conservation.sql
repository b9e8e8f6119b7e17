-- description: Nothing is lost in reading: every record an independent scan of each file found (by offset) is a row or a quarantine row, and every row is a record the scan found.
-- severity: error
-- blocking: true
with scanned as (
    select source_file, "offset", records from {{ ref('raw_crawl', 'scanned') }}
),
read as (
    select source_file, "offset", count(*) as n
    from (
        select source_file, "offset" from {{ ref('raw_crawl') }}
        union all
        select source_file, "offset" from {{ ref('raw_crawl', 'quarantine') }}
    )
    group by source_file, "offset"
)
select s.source_file, s."offset", s.records as found, coalesce(r.n, 0) as read,
    'record neither read nor quarantined' as problem
from scanned s left join read r using (source_file, "offset")
where coalesce(r.n, 0) < s.records
union all
select d.source_file, d."offset", 0, 1, 'a row the scan did not find'
from {{ ref('raw_crawl') }} d anti join scanned s using (source_file, "offset")
