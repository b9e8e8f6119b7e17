-- description: Every non-empty document of the variant's mix is in the shards exactly once per form it is mixed in (hybrid holds each document as original and as aligned), with tokens, and the shards hold nothing else.
-- severity: error
-- blocking: true
with mixed as (
    select doc_id, source from {{ ref('corpus_mix', 'documents') }} where text <> ''
),
sharded as (
    select doc_id, source, count(*) as copies, min(n_tokens) as n_tokens
    from {{ ref('token_shards', 'documents') }} group by doc_id, source
)
select doc_id, 'not in the shards' as problem
from mixed m
where not exists (select 1 from sharded s where s.doc_id = m.doc_id and s.source = m.source)
union all
select doc_id, 'tokenized more than once' as problem from sharded where copies > 1
union all
select doc_id, 'no tokens' as problem from sharded where n_tokens < 1
union all
select doc_id, 'not in the mix' as problem
from sharded s
where not exists (select 1 from mixed m where m.doc_id = s.doc_id and m.source = s.source)
