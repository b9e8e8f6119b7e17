-- description: Arabic dominates the partition: the share of documents identified as Arabic and the share of letters in Arabic script both reach arabic_share_min.
-- severity: error
-- blocking: true
-- shows: shares
with shares as (
    select
        avg(case when lang = 'ar' then 1.0 else 0.0 end) as arabic_documents,
        sum(length(regexp_replace(text, '[^\p{Arabic}]', '', 'g')))
            / greatest(sum(length(regexp_replace(text, '[^\p{L}]', '', 'g'))), 1) as arabic_letters
    from {{ ref('cleaned_text') }}
)
select arabic_documents, arabic_letters
from shares
where arabic_documents < {{ var('arabic_share_min', 'number') }} or arabic_letters < {{ var('arabic_share_min', 'number') }}
