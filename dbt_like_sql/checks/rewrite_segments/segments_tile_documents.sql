-- description: Each segment is the exact span of its document that its offsets name, segments follow each other without overlap, and every document of cleaned_text has segments.
-- severity: error
-- blocking: true
with docs as (select doc_id, text from {{ ref('cleaned_text') }}),
segments as (
    select *, lag("end") over (partition by doc_id order by "index") as previous_end
    from {{ ref('rewrite_segments') }}
)
select s.segment_id, 'text differs from the document span' as problem
from segments s join docs d using (doc_id)
where substr(d.text, s.start + 1, s."end" - s.start) <> s.text
union all
select segment_id, 'overlaps the previous segment' as problem
from segments where start < previous_end
union all
select segment_id, 'not a document of cleaned_text' as problem
from segments where doc_id not in (select doc_id from docs)
union all
select doc_id, 'document without segments' as problem
from docs where trim(text) <> '' and doc_id not in (select doc_id from segments)
