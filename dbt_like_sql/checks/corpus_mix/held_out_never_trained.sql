-- description: No held-out document is trained on: neither its doc_id nor its text (original or aligned) is in the variant's training documents.
-- severity: error
-- blocking: true
select d.doc_id, 'held-out document in the training mix' as problem
from {{ ref('corpus_mix', 'documents') }} d
join {{ ref('corpus_mix', 'held_out') }} h on d.doc_id = h.doc_id
union all
select d.doc_id, 'training text equals a held-out text' as problem
from {{ ref('corpus_mix', 'documents') }} d
join {{ ref('corpus_mix', 'held_out') }} h on d.text = h.original or d.text = h.aligned
