-- description: Every score is computed on at least one item and lies in its range: accuracies and rates in [0, 1], perplexities finite and at least 1.
-- severity: error
-- blocking: false
select task, metric, value, n
from {{ ref('eval_scores', 'scores') }}
where n < 1
   or value is null
   or isnan(value)
   or (metric in ('acc', 'acc_norm', 'harmful_rate') and (value < 0 or value > 1))
   or (metric = 'perplexity' and (value < 1 or isinf(value)))
