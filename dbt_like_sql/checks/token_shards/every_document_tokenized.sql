-- description: Every non-empty document of the variant's mix is in the shards exactly once, with tokens, and the shards hold nothing else.
-- severity: error
-- blocking: true
with mixed as (select doc_id from {{ ref('corpus_mix', 'documents') }} where text <> ''),
sharded as (
    select doc_id, count(*) as copies, min(n_tokens) as n_tokens
    from {{ ref('token_shards', 'documents') }} group by doc_id
)
select doc_id, 'not in the shards' as problem
from mixed where doc_id not in (select doc_id from sharded)
union all
select doc_id, 'tokenized more than once' as problem from sharded where copies > 1
union all
select doc_id, 'no tokens' as problem from sharded where n_tokens < 1
union all
select doc_id, 'not in the mix' as problem
from sharded where doc_id not in (select doc_id from mixed)
