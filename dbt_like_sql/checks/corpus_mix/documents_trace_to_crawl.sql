-- description: Every crawled document of the mix is a document of cleaned_text and each of its segment_ids a segment of aligned_corpus, so any training text traces back to its crawl record and its rewrite.
-- severity: error
-- blocking: true
with mixed as (
    select * from {{ ref('corpus_mix', 'documents') }} where source not like 'replay:%'
)
select doc_id, 'not a document of cleaned_text' as problem
from mixed where doc_id not in (select doc_id from {{ ref('cleaned_text') }})
union all
select doc_id, 'a segment not in aligned_corpus' as problem
from (select doc_id, unnest(segment_ids) as segment_id from mixed)
where segment_id not in (select segment_id from {{ ref('aligned_corpus') }})
union all
select doc_id, 'no segments' as problem
from mixed where len(segment_ids) = 0
