-- description: Every segment of the dump has exactly one row in aligned_corpus: none dropped, none duplicated, none invented.
-- severity: error
-- blocking: true
with segments as (select segment_id from {{ ref('rewrite_segments') }}),
aligned as (select segment_id, count(*) as n from {{ ref('aligned_corpus') }} group by segment_id)
select segment_id, 'missing' as problem from segments
where segment_id not in (select segment_id from aligned)
union all
select segment_id, 'duplicated' as problem from aligned where n > 1
union all
select segment_id, 'not a segment of this dump' as problem from aligned
where segment_id not in (select segment_id from segments)
