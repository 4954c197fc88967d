{{ config(materialized='feature_group', primary_key=['cc_num'], event_time='trans_ts', online=true) }}
select cc_num, trans_ts, amount, category, is_fraud
from {{ ref('stg_transactions') }}
