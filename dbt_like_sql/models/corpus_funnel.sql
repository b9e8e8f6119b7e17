-- description: Per dump and per stage (in pipeline order), documents and megabytes in and out, from the raw records to the kept documents (each stage's time: cleaned_text's funnel).
select
    dump,
    stage,
    docs_in,
    docs_out,
    docs_in - docs_out as removed,
    round(bytes_in / 1e6, 3) as MB_in,
    round(bytes_out / 1e6, 3) as MB_out
from (
    select dump, step, stage, docs_in, docs_out, bytes_in, bytes_out
    from {{ ref('raw_crawl', 'stages') }}
    union all
    select dump, step + 1, stage, docs_in, docs_out, bytes_in, bytes_out
    from {{ ref('cleaned_text', 'stages') }}
)
order by dump, step
