-- description: A segment whose rewrite failed validation keeps its original text: nothing invalid is emitted as aligned.
-- severity: error
-- blocking: true
select segment_id, status, rejected
from {{ ref('aligned_corpus') }}
where (status <> 'valid' and aligned <> original) or aligned is null or trim(aligned) = ''
