-- description: No PII pattern of native_pipeline.text.pii is left in the kept text (Arabic-Indic digits read as ASCII ones, as the redactor reads them).
-- severity: error
-- blocking: true
with kept as (
    select doc_id, translate(text, {{ var('arabic_digits', 'text') }}, {{ var('ascii_digits', 'text') }}) as text
    from {{ ref('cleaned_text') }}
)
select doc_id, 'email' as kind from kept where regexp_matches(text, {{ var('pii_email', 'text') }})
union all
select doc_id, 'phone' from kept where regexp_matches(text, {{ var('pii_phone', 'text') }})
union all
select doc_id, 'national_id_sa' from kept where regexp_matches(text, {{ var('pii_national_id_sa', 'text') }})
union all
select doc_id, 'national_id_eg' from kept where regexp_matches(text, {{ var('pii_national_id_eg', 'text') }})
union all
select doc_id, 'iban' from kept where regexp_matches(text, {{ var('pii_iban', 'text') }})
union all
select doc_id, 'ip' from kept where regexp_matches(text, {{ var('pii_ip', 'text') }})
