-- description: Every score (whole task, subject or category) is computed on at least one item and lies in its range: accuracies (micro and macro) and rates in [0, 1], perplexities finite and at least 1.
-- severity: error
-- blocking: false
select task, metric, value, n
from {{ ref('eval_scores', 'scores') }}
where n < 1
   or value is null
   or isnan(value)
   or ((metric like 'acc%' or metric like '%_rate') and (value < 0 or value > 1))
   or (metric = 'perplexity' and (value < 1 or isinf(value)))
